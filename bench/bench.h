
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * pubsub-bench: a load generator for gateways speaking Apache APISIX's
 * pubsub protocol over WebSocket to Kafka (proto/pubsub.proto).
 *
 * One process, one thread for our side: an epoll loop drives many
 * WebSocket clients (framing and encoding from tools/pubsub_client.c), a
 * librdkafka producer that stamps each message with its send time, and a
 * bare librdkafka consumer that gives the ceiling the gateway is compared
 * with.  librdkafka runs its own threads, as it does inside the gateway.
 */


#ifndef BENCH_H
#define BENCH_H


#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <librdkafka/rdkafka.h>

#include "pubsub_client.h"


#define BENCH_MAX_PARTITIONS   1024

/*
 * A message value starts with "T<16 hex> P<8 hex> S<12 hex> ": the send
 * time (us, CLOCK_MONOTONIC), the partition and the producer's sequence
 * number within the partition; dots fill it up to the value size.
 */
#define BENCH_VALUE_HEADER     42
#define BENCH_VALUE_MIN        48

/* latency histogram: 10 us buckets up to 100 s */
#define BENCH_HIST_STEP        10
#define BENCH_HIST_BUCKETS     10000000


/* event sources of the epoll loop */

typedef void (*bench_event_handler_pt)(void *data, uint32_t events);

typedef struct {
    bench_event_handler_pt   handler;
    void                    *data;
} bench_event_t;


typedef struct {
    uint32_t                *bucket;
    uint64_t                 count;
    int64_t                  max;
    double                   sum;
} bench_hist_t;


/* a flat JSON object, one line */

typedef struct {
    char                     buf[16384];
    size_t                   len;
} bench_json_t;


/* CPU time of the processes watched during a measurement */

#define BENCH_MAX_WATCH        8

typedef struct {
    const char              *name;
    pid_t                    pid;
    double                   start;
    double                   used;
} bench_watch_t;


typedef struct {
    const char              *name;
    const char              *value;
} bench_prop_t;


/* producer */

typedef struct {
    int64_t                  sent;       /* produce() calls accepted */
    int64_t                  delivered;
    int64_t                  first;      /* offset of the first delivered */
    int64_t                  last;       /* of the last delivered */
    int64_t                  next_seq;   /* sequence of the next message */
} bench_pstate_t;


typedef struct {
    rd_kafka_t              *rk;
    rd_kafka_topic_t        *rkt;
    size_t                   size;
    u_char                  *value;
    int64_t                  sent;
    int64_t                  delivered;
    int64_t                  failed;
    rd_kafka_resp_err_t      err;
    int                      nparts;
    int32_t                 *parts;
    bench_pstate_t          *state;      /* per partition index */
    bench_hist_t            *dr_hist;    /* produce call to report, or NULL */
    char                     errstr[512];
} bench_producer_t;


/* bare consumer */

typedef void (*bench_message_handler_pt)(void *ctx, rd_kafka_message_t *m,
    int64_t now);

typedef struct {
    rd_kafka_t              *rk;
    rd_kafka_topic_t        *rkt;
    rd_kafka_queue_t        *queue;
    rd_kafka_queue_t        *mainq;
    int                      pipe[2];
    bench_event_t            event;
    bench_message_handler_pt handler;
    void                    *ctx;
    int64_t                  errors;
    char                     errstr[512];
} bench_consumer_t;


/* WebSocket clients */

typedef struct bench_conn_s  bench_conn_t;
typedef struct bench_pool_s  bench_pool_t;

typedef void (*bench_conn_pt)(bench_conn_t *c);
typedef void (*bench_resp_pt)(bench_conn_t *c, PubSubResp *resp,
    int64_t now);

#define BENCH_CONN_CONNECTING  1
#define BENCH_CONN_HANDSHAKE   2
#define BENCH_CONN_OPEN        3
#define BENCH_CONN_CLOSED      4

struct bench_conn_s {
    bench_event_t            event;      /* first: epoll's data.ptr */
    bench_pool_t            *pool;
    int                      fd;
    int                      state;
    uint32_t                 index;
    uint64_t                 mask;       /* xorshift state for masks */

    char                     key[PUBSUB_WS_KEY_LEN + 1];
    pubsub_ws_reader_t       reader;     /* set up with the handshake */
    unsigned                 reader_ready:1;
    unsigned                 corked:1;

    u_char                  *out;        /* bytes the socket did not take */
    size_t                   out_pos;
    size_t                   out_len;
    size_t                   out_size;

    bench_conn_pt            on_open;
    bench_resp_pt            on_resp;
    void                    *data;
};


struct bench_pool_s {
    int                      ep;
    pubsub_url_t             url;
    struct sockaddr_in       addr;
    struct sockaddr_in      *sources;    /* local addresses to bind */
    int                      nsources;
    uint32_t                 next_source;
    u_char                   scratch[4096];
    uint64_t                 seed;

    uint32_t                 nconns;
    uint32_t                 connecting; /* connect or handshake pending */
    uint32_t                 open;
    uint32_t                 failed;
    int                      last_errno;
    char                     err[512];

    uint64_t                 wire_bytes; /* received, frames included */
    uint64_t                 answers;
    uint64_t                 requests;
};


/* bench_util.c */

int64_t bench_now(void);
void bench_fatal(const char *fmt, ...);
void bench_set_verbose(int v);
void bench_log(const char *fmt, ...);
void *bench_calloc(size_t n, size_t size);

size_t bench_value(u_char *buf, size_t size, int64_t t, int32_t part,
    int64_t seq);
int bench_value_parse(const u_char *p, size_t len, int64_t *t,
    int32_t *part, int64_t *seq);

void bench_hist_init(bench_hist_t *h);
void bench_hist_free(bench_hist_t *h);
void bench_hist_add(bench_hist_t *h, int64_t us);
double bench_hist_ms(bench_hist_t *h, double pct);

double bench_proc_cpu(pid_t pid);
long bench_proc_rss_kb(pid_t pid);
int bench_watch_add(const char *spec);
void bench_watch_start(void);
void bench_watch_stop(void);
void bench_watch_json(bench_json_t *j, double seconds);

void bench_json_start(bench_json_t *j, const char *scenario);
void bench_json_str(bench_json_t *j, const char *key, const char *v);
void bench_json_int(bench_json_t *j, const char *key, int64_t v);
void bench_json_num(bench_json_t *j, const char *key, double v);
void bench_json_hist(bench_json_t *j, const char *prefix, bench_hist_t *h);
void bench_json_end(bench_json_t *j);

int bench_parse_partitions(const char *s, int32_t *parts, int max);
int bench_status_get(const char *url, int remote, char *buf, size_t size,
    char *err, size_t errlen);
int64_t bench_status_sum(const char *body, const char *key, int all);
int bench_add_prop(const char *spec);
int bench_nprops(void);
bench_prop_t *bench_props(void);


/* bench_kafka.c */

int bench_producer_init(bench_producer_t *p, const char *brokers,
    const char *topic, const int32_t *parts, int nparts, size_t size,
    int linger_ms);
int bench_producer_init_bare(bench_producer_t *p, const char *brokers,
    const char *topic, const int32_t *parts, int nparts, size_t size);
int bench_produce(bench_producer_t *p, int index);
void bench_producer_poll(bench_producer_t *p);
int bench_producer_flush(bench_producer_t *p, int timeout_ms);
void bench_producer_destroy(bench_producer_t *p);

int bench_consumer_init(bench_consumer_t *c, int ep, const char *brokers,
    const char *topic, bench_message_handler_pt handler, void *ctx);
int bench_consumer_start(bench_consumer_t *c, int32_t part, int64_t offset);
void bench_consumer_destroy(bench_consumer_t *c, const int32_t *parts,
    int nparts);
int bench_offsets(rd_kafka_t *rk, const char *topic, int32_t part,
    int64_t *low, int64_t *high);


/* bench_ws.c */

int bench_pool_init(bench_pool_t *pool, int ep, const char *url,
    const char *sources, int remote);
bench_conn_t *bench_connect(bench_pool_t *pool, bench_conn_pt on_open,
    bench_resp_pt on_resp, void *data);
int bench_send_req(bench_conn_t *c, pubsub_req_t *r);
int bench_send_frame(bench_conn_t *c, int opcode, const u_char *payload,
    size_t len);
int bench_poll(int ep, int timeout_ms);
void bench_conn_close(bench_conn_t *c);
void bench_conn_cork(bench_conn_t *c);
void bench_conn_uncork(bench_conn_t *c);


/* the scenarios: their options, shared state and helpers */

#define BENCH_PHASES           2


typedef struct {
    const char          *scenario;
    const char          *url;
    const char          *brokers;
    const char          *topic;
    const char          *sources;
    const char          *label;
    const char          *status;     /* http://HOST:PORT/PATH of the status */
    const char          *request;    /* probe: the command to try */
    int32_t              parts[BENCH_MAX_PARTITIONS];
    int                  nparts;
    int64_t              count;
    int64_t              last;       /* ceiling: the last N of a partition */
    size_t               size;
    int                  clients;
    int                  max_clients;
    double               rate;
    double               duration;
    double               max_duration;
    int64_t              lag;
    int                  inflight;
    int                  starts;     /* first requests in flight at once */
    int                  window;     /* of a subscription, 0: none */
    int                  groups;
    double               interval;   /* ms between a client's commits */
    pid_t                worker;
    double               timeout;
    double               hold;
    int                  remote;
    int                  check_seq;
    int                  all_partitions;
} bench_conf_t;


/* clients tailing one partition, in fetch loops or subscribed */

typedef struct bench_fan_s  bench_fan_t;

typedef struct {
    bench_fan_t         *fan;
    bench_conn_t        *conn;
    int64_t              next;       /* -1 until the start is known */
    int64_t              last_seq;   /* of the last message, -1: none */
    int64_t              seq;        /* of the request in flight, or the
                                        subscription */
    int64_t              received;
    unsigned             warm:1;
    unsigned             started:1;  /* its first request went */
} bench_tail_t;


struct bench_fan_s {
    const char          *topic;
    int32_t              part;
    bench_tail_t        *tails;
    int                  ntails;
    int                  nwarm;
    int                  push;       /* CmdKafkaSubscribe, not fetches */
    int                  window;
    int64_t              credits;    /* CmdKafkaCredit sent */

    int                  starting;   /* first requests unanswered */
    bench_tail_t       **waiting;    /* open, their first request not sent */
    int                  nwaiting;
    int                  next_waiting;

    int                  phase;      /* messages from phase_seq[phase] on */
    int64_t              phase_seq[BENCH_PHASES];
    bench_hist_t         hist[BENCH_PHASES];
    int64_t              delivered[BENCH_PHASES];
    int64_t              answers[BENCH_PHASES];  /* with messages */
    int64_t              last[BENCH_PHASES];
};


extern bench_conf_t                 bench_conf;
extern int                          bench_ep;
extern bench_pool_t                 bench_pool;
extern volatile sig_atomic_t        bench_stop;


/* pubsub_bench.c */

double bench_seconds(int64_t from, int64_t to);
void bench_json_common(bench_json_t *j);
void bench_check_pool(void);
void bench_open_pool(void);
void bench_connect_all(int n, bench_conn_pt on_open, bench_resp_pt on_resp,
    void **data, bench_conn_t **conns, int64_t deadline, int tolerate);
void bench_fan_init(bench_fan_t *fan, int n);
void bench_fan_connect(bench_fan_t *fan, int64_t deadline);
int64_t bench_fan_min_seq(bench_fan_t *fan);
void bench_fan_wait(bench_fan_t *fan, bench_producer_t *p,
    int64_t deadline);
void bench_fan_json(bench_fan_t *fan, int phase, const char *name,
    int64_t start, int64_t produced, int64_t produce_end, double rate);


/* bench_push.c */

int bench_push_catchup(void);
int bench_scatter(int push);


/* bench_produce.c */

int bench_produce_gw(void);
int bench_produce_bare(void);
int bench_produce_latency(void);
int bench_commits(void);
int bench_probe(void);


#endif /* BENCH_H */
