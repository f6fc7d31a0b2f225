
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * pubsub-soak: the fault-and-load harness of the gateway (issue 17).
 *
 * One process, one epoll loop: WebSocket clients of the pubsub protocol
 * (push subscribers with credit, APISIX fetch loops, producers through the
 * gateway, connect/subscribe/close cycles), a librdkafka producer writing
 * directly to Kafka, and at the end a librdkafka read of every partition
 * that every client's stream and every acknowledged produce is checked
 * against.  Faults are the driver's (t/070-soak.t): it scripts the mock.
 */


#ifndef SOAK_H
#define SOAK_H


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <librdkafka/rdkafka.h>

#include "pubsub_client.h"


#define SOAK_MAX_PARTS       64
#define SOAK_MAX_SOURCES     32
#define SOAK_MAX_ERRORS      32

/* latency histogram buckets (soak_util.c) */
#define SOAK_HIST_BUCKETS    1500


typedef void (*soak_handler_pt)(void *data, uint32_t events);

typedef struct {
    soak_handler_pt          handler;
    void                    *data;
} soak_event_t;


/* what one client saw of one partition */

typedef struct {
    int64_t                  start;      /* first offset, -1: none yet */
    int64_t                  next;       /* the next offset expected */
    int64_t                  count;
    int64_t                  lost;       /* offsets jumped over */
    int64_t                  dup;        /* offsets at or before one seen */
    int64_t                  disorder;   /* offsets before the last one */
    int64_t                  last;       /* the last offset received */
    uint64_t                 sum;        /* of soak_hash(), [start, next) */
    double                   last_at;    /* s, when the last one came */
    double                   stall;      /* s, the longest between two */
} soak_stream_t;


/* error answers a kind of client saw, by code and message */

typedef struct {
    int                      code;
    char                     message[160];
    int64_t                  count;
    unsigned                 documented:1;
} soak_error_t;


typedef struct {
    soak_error_t             err[SOAK_MAX_ERRORS];
    int                      n;
    int64_t                  total;
    int64_t                  undocumented;
} soak_errors_t;


typedef struct {
    uint64_t                 bucket[SOAK_HIST_BUCKETS];
    uint64_t                 count;
    int64_t                  max;        /* us */
} soak_hist_t;


/* WebSocket client connections */

typedef struct soak_conn_s  soak_conn_t;

typedef void (*soak_conn_pt)(soak_conn_t *c);
typedef void (*soak_resp_pt)(soak_conn_t *c, PubSubResp *resp);
typedef void (*soak_close_pt)(soak_conn_t *c, const char *why);

#define SOAK_CONN_IDLE        0
#define SOAK_CONN_CONNECTING  1
#define SOAK_CONN_HANDSHAKE   2
#define SOAK_CONN_OPEN        3

struct soak_conn_s {
    soak_event_t             event;      /* first: epoll's data.ptr */
    int                      fd;
    int                      state;
    uint32_t                 events;     /* registered with epoll */
    unsigned                 paused:1;   /* the socket is not read */
    unsigned                 closing:1;  /* close frame sent */

    char                     key[PUBSUB_WS_KEY_LEN + 1];
    pubsub_ws_reader_t       reader;

    u_char                  *out;        /* bytes the socket did not take */
    size_t                   out_pos;
    size_t                   out_len;
    size_t                   out_size;

    soak_conn_pt             on_open;
    soak_resp_pt             on_resp;
    soak_close_pt            on_close;
    void                    *data;
};


/* librdkafka: the direct producer and the final read */

typedef void (*soak_ack_pt)(void *ctx, int32_t partition, int64_t offset,
    rd_kafka_resp_err_t err);

typedef struct {
    rd_kafka_t              *rk;
    rd_kafka_topic_t        *rkt;
    int64_t                  sent;
    int64_t                  acked;
    int64_t                  failed;
    soak_ack_pt              on_ack;
    char                     errstr[512];
} soak_producer_t;


/* Kafka's content of one partition, [0, high) */

typedef struct {
    int64_t                  low;
    int64_t                  high;
    uint64_t                *vhash;      /* of each value, by offset */
} soak_log_t;


/* soak_util.c */

double soak_now(void);
int64_t soak_now_us(void);
uint64_t soak_fnv(const u_char *p, size_t len);
uint64_t soak_hash(int64_t offset, uint64_t vhash);
void soak_stream_init(soak_stream_t *s);
void soak_stream_msg(soak_stream_t *s, int64_t offset, uint64_t vhash,
    double now);
void soak_stream_jump(soak_stream_t *s, int64_t to);
int soak_stream_check(soak_stream_t *s, int64_t start, soak_log_t *log);
void soak_error_add(soak_errors_t *e, int code, const char *message,
    int documented);
int soak_error_documented(int req_case, int code, const char *message);
void soak_error_seen(soak_errors_t *e, int req_case, ErrorResp *er);
void soak_hist_add(soak_hist_t *h, int64_t us);
double soak_hist_pct(soak_hist_t *h, double pct);
long soak_rss_kb(int pid);
int soak_http_get(const struct sockaddr_in *addr, const char *host,
    const char *path, char *buf, size_t size);
void soak_json_errors(FILE *f, const char *name, soak_errors_t *e);

/* soak_conn.c */

int soak_loop_init(const char *url, const char *sources);
int soak_loop_run(int ms);
void soak_loop_add(soak_event_t *ev, int fd, uint32_t events);
const pubsub_url_t *soak_loop_url(void);
const struct sockaddr_in *soak_loop_addr(void);
int soak_conn_open(soak_conn_t *c);
int soak_conn_send(soak_conn_t *c, pubsub_req_t *r);
void soak_conn_pause(soak_conn_t *c, int paused);
void soak_conn_close(soak_conn_t *c, int code);
void soak_conn_free(soak_conn_t *c);
extern int64_t soak_conn_failed;
extern char soak_conn_err[256];

/* soak_kafka.c */

int soak_producer_init(soak_producer_t *p, const char *brokers,
    const char *topic, soak_ack_pt on_ack);
int soak_producer_send(soak_producer_t *p, int32_t partition,
    const u_char *value, size_t len, void *ctx);
void soak_producer_poll(soak_producer_t *p);
void soak_producer_free(soak_producer_t *p, int ms);
int soak_kafka_read(const char *brokers, const char *topic, int nparts,
    soak_log_t *logs, int timeout_ms, char *err, size_t errlen);


#endif /* SOAK_H */
