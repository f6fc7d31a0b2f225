
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * pubsub-soak SCENARIO --url ws://IP:PORT/PATH --brokers LIST --topic T
 *     [options]
 *
 * Scenarios (issue 17; the driver, t/070-soak.t, injects the faults):
 *
 *   brokers  push subscribers of every partition and APISIX fetch loops
 *            while a producer writes through the gateway and directly
 *   readers  subscribers of one partition, some of which stop reading
 *            (the socket and their credit) for a while, then resume
 *   storm    connect / subscribe / close cycles from several source
 *            addresses while subscribers stream
 *
 * At the end every partition is read back from Kafka: each subscriber's
 * and fetch loop's stream must be exactly [low, high) of every partition,
 * once, in order, the same bytes; each acknowledged produce must be in
 * Kafka where its answer said.  The report is one JSON object (--out, or
 * stdout), "ok" true when every check holds; the exit status is 0 then, 1
 * when a check failed, 2 on a usage error.
 */


#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soak.h"


#define SOAK_SUB          1
#define SOAK_FETCH        2
#define SOAK_PRODUCE      3
#define SOAK_STORM        4

#define SOAK_INFLIGHT     60          /* produces per gateway connection */
#define SOAK_RETRY        0.2         /* s before a client tries again */


typedef struct {
    uint64_t                 vhash;
    int64_t                  offset;
    int32_t                  partition;
    uint32_t                 id;
    u_char                   via;        /* 'g' gateway, 'd' direct */
    u_char                   state;      /* 0 in flight, 1 acked, 2 failed */
} soak_record_t;


typedef struct {
    soak_conn_t              conn;       /* first */
    int                      kind;
    uint32_t                 index;
    int64_t                  seq;        /* the last request's */
    int64_t                  sub;        /* the subscription's sequence */
    int64_t                  owed;       /* consumed, credit not granted */
    int64_t                  fetch[SOAK_MAX_PARTS];   /* in flight */
    double                   fetch_at[SOAK_MAX_PARTS]; /* to try again */
    uint32_t                 pending[SOAK_INFLIGHT];  /* records */
    int64_t                  pending_seq[SOAK_INFLIGHT];
    int                      npending;
    double                   retry_at;   /* reconnect or resubscribe */
    soak_stream_t           *st;         /* per partition */
    unsigned                 started:1;
    unsigned                 stopped:1;  /* reads nothing, grants nothing */
    unsigned                 slow:1;     /* one of those that stop */
    unsigned                 active:1;
} soak_client_t;


static struct {
    const char              *scenario;
    const char              *url;
    const char              *brokers;
    const char              *topic;
    const char              *out;
    const char              *sources;
    const char              *status;
    int                      parts;
    int                      subs;
    int                      fetchers;
    int                      gateways;
    double                   rate;
    double                   gateway_share;
    double                   duration;
    int                      window;
    int                      value_size;
    int                      stopped;
    double                   baseline;
    double                   stop_for;
    int                      control;    /* the stopped ones read on */
    int                      cycles;
    int                      concurrency;
    int                      pid;
    double                   drain;
    double                   warmup;
} cf;


static struct {
    soak_client_t           *clients;
    int                      nclients;
    soak_record_t           *records;
    uint32_t                 nrecords;
    uint32_t                 records_size;
    soak_producer_t          direct;
    int64_t                  sent[2];    /* gateway, direct */
    int64_t                  acked[2];
    int64_t                  failed[2];
    int64_t                  lost_in_flight;
    int64_t                  reconnects;
    int64_t                  resubscribes;
    int64_t                  ended;
    soak_errors_t            sub_errors;
    soak_errors_t            fetch_errors;
    soak_errors_t            produce_errors;
    soak_errors_t            storm_errors;
    soak_hist_t              lat_base;
    soak_hist_t              lat_stop;
    int                      phase;      /* 1 baseline, 2 stop, 0 other */
    double                   start;
    int                      producing;
    uint32_t                 next_part;

    soak_client_t           *storm;      /* cf.concurrency of them */
    int64_t                  cycles_started;
    int64_t                  cycles_done;
    int64_t                  cycles_failed;
    long                     websockets; /* the status page's, at start */
    long                     window[2];  /* its window_memory, around */
    double                   storm_seconds;
} soak;


static volatile sig_atomic_t  soak_stop;


static void soak_usage(void);
static int soak_options(int argc, char **argv);
static soak_client_t *soak_client(int kind, uint32_t index);
static void soak_connect(soak_client_t *cl);
static void soak_on_open(soak_conn_t *c);
static void soak_on_close(soak_conn_t *c, const char *why);
static void soak_on_resp(soak_conn_t *c, PubSubResp *resp);
static void soak_subscribe(soak_client_t *cl);
static void soak_fetch(soak_client_t *cl, int p);
static void soak_credit(soak_client_t *cl);
static void soak_messages(soak_client_t *cl, KafkaFetchResp *fr,
    int partition);
static void soak_produce(double now);
static void soak_direct_ack(void *ctx, int32_t partition, int64_t offset,
    rd_kafka_resp_err_t err);
static uint32_t soak_record(int32_t partition, u_char via, u_char *value);
static void soak_tick(double now);
static void soak_storm_tick(double now);
static void soak_storm_resp(soak_client_t *cl, PubSubResp *resp);
static int soak_caught_up(soak_log_t *logs);
static int soak_run_until(double until, int (*done)(void));
static int soak_subscribed(void);
static int soak_settled(void);
static void soak_set_stopped(int stopped);
static int soak_report(soak_log_t *logs, const char *err, long *rss);
static int soak_check_records(soak_log_t *logs, FILE *f);
static int soak_check_streams(FILE *f, int kind, const char *name,
    soak_log_t *logs);
static int soak_cmp_u64(const void *a, const void *b);
static void soak_json_twice(FILE *f, int comma, soak_record_t *rec,
    soak_log_t *logs, uint64_t vhash);
static long soak_status(const char *name);


static void
soak_signal(int signo)
{
    soak_stop = 1;
}


int
main(int argc, char **argv)
{
    int         i, n, rc;
    long        rss[8];
    char        err[512];
    double      now, t;
    soak_log_t  logs[SOAK_MAX_PARTS];

    if (soak_options(argc, argv) != 0) {
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, soak_signal);
    signal(SIGTERM, soak_signal);

    if (soak_loop_init(cf.url, cf.sources) != 0) {
        return 2;
    }

    if (soak_producer_init(&soak.direct, cf.brokers, cf.topic,
                           soak_direct_ack)
        != 0)
    {
        fprintf(stderr, "pubsub-soak: producer: %s\n", soak.direct.errstr);
        return 2;
    }

    for (i = 0; i < 8; i++) {
        rss[i] = -1;
    }

    err[0] = '\0';
    rss[0] = soak_rss_kb(cf.pid);

    n = cf.subs + cf.fetchers + cf.gateways;
    soak.clients = calloc(n, sizeof(soak_client_t));
    soak.storm = calloc(cf.concurrency ? cf.concurrency : 1,
                        sizeof(soak_client_t));

    if (soak.clients == NULL || soak.storm == NULL) {
        return 2;
    }

    for (i = 0; i < n; i++) {
        soak_client(i < cf.subs ? SOAK_SUB
                    : i < cf.subs + cf.fetchers ? SOAK_FETCH : SOAK_PRODUCE,
                    i);
    }

    for (i = 0; i < cf.concurrency; i++) {
        soak.storm[i].kind = SOAK_STORM;
        soak.storm[i].index = i;
        soak.storm[i].conn.fd = -1;
        soak.storm[i].conn.data = &soak.storm[i];
    }

    /* everyone connected and subscribed before the first message */

    for (i = 0; i < soak.nclients; i++) {
        soak_connect(&soak.clients[i]);

        if (i % 200 == 199) {
            (void) soak_loop_run(0);
        }
    }

    if (soak_run_until(soak_now() + 60, soak_subscribed) != 0) {
        snprintf(err, sizeof(err), "clients did not start within 60 s: %s",
                 soak_conn_err);
        goto report;
    }

    rss[1] = soak_rss_kb(cf.pid);
    soak.websockets = soak_status("websockets");

    /* the run */

    soak.start = soak_now();
    soak.producing = 1;

    while (!soak_stop) {
        now = soak_now();
        t = now - soak.start;

        /* a storm that fell behind its pace goes on, up to 3 times */

        if (t >= cf.warmup + cf.duration
            && (soak.cycles_started >= cf.cycles
                || t >= cf.warmup + 3 * cf.duration))
        {
            break;
        }

        if (cf.stopped) {
            if (soak.phase == 0 && t >= cf.baseline / 4) {
                soak.phase = 1;

            } else if (soak.phase == 1 && t >= cf.baseline) {
                rss[2] = soak_rss_kb(cf.pid);
                soak.window[0] = soak_status("window_memory");
                soak_set_stopped(!cf.control);
                soak.phase = 2;

            } else if (soak.phase == 2) {
                if (t >= cf.baseline + cf.stop_for) {
                    rss[3] = soak_rss_kb(cf.pid);
                    soak.window[1] = soak_status("window_memory");
                    soak_set_stopped(0);
                    soak.phase = 3;

                } else if (t >= cf.baseline + cf.stop_for * 0.8
                           && rss[3] < 0)
                {
                    rss[4] = soak_rss_kb(cf.pid);
                }
            }
        }

        if (cf.cycles && rss[2] < 0 && t >= cf.warmup) {
            rss[2] = soak_rss_kb(cf.pid);
            soak.window[0] = soak_status("window_memory");
        }

        soak_produce(now);
        soak_tick(now);

        if (cf.cycles) {
            soak_storm_tick(now);
        }

        if (soak_loop_run(1) < 0) {
            snprintf(err, sizeof(err), "epoll_wait: %s", strerror(errno));
            goto report;
        }
    }

    soak.producing = 0;
    soak.phase = 0;
    soak.storm_seconds = soak_now() - soak.start - cf.warmup;

    /* the storm's last cycles, then the worker settles */

    if (cf.cycles) {
        (void) soak_run_until(soak_now() + 30, soak_settled);
        (void) soak_run_until(soak_now() + 3, NULL);
        rss[3] = soak_rss_kb(cf.pid);
        soak.window[1] = soak_status("window_memory");
    }

    /* what is in flight is answered */

    soak_producer_free(&soak.direct, 35000);
    (void) soak_run_until(soak_now() + 35, soak_settled);

    memset(logs, 0, sizeof(logs));

    if (soak_kafka_read(cf.brokers, cf.topic, cf.parts, logs, 60000, err,
                        sizeof(err))
        != 0)
    {
        goto report;
    }

    for (now = soak_now() + cf.drain; soak_now() < now && !soak_stop; ) {
        soak_tick(soak_now());

        if (soak_caught_up(logs)) {
            break;
        }

        (void) soak_loop_run(5);
    }

    rss[5] = soak_rss_kb(cf.pid);

report:

    rc = soak_report(logs, err, rss);

    for (i = 0; i < soak.nclients; i++) {
        soak_conn_close(&soak.clients[i].conn, 1000);
    }

    return rc;
}


static void
soak_usage(void)
{
    fprintf(stderr,
        "usage: pubsub-soak brokers|readers|storm --url ws://IP:PORT/PATH\n"
        "           --brokers LIST --topic T [--partitions N]\n"
        "           [--subscribers N] [--fetchers N] [--gateways N]\n"
        "           [--rate MSG_S] [--gateway-share F] [--duration S]\n"
        "           [--window N] [--value-size B] [--drain S]\n"
        "           [--stopped N --baseline S --stop-for S [--control]]\n"
        "           [--cycles N --concurrency N --sources IP,IP...]\n"
        "           [--warmup S]\n"
        "           [--pid WORKER] [--status PATH] [--out FILE]\n");
}


static int
soak_options(int argc, char **argv)
{
    int  c, i;

    static struct option  opts[] = {
        { "url", required_argument, NULL, 'u' },
        { "brokers", required_argument, NULL, 'b' },
        { "topic", required_argument, NULL, 't' },
        { "partitions", required_argument, NULL, 'p' },
        { "subscribers", required_argument, NULL, 's' },
        { "fetchers", required_argument, NULL, 'f' },
        { "gateways", required_argument, NULL, 'g' },
        { "rate", required_argument, NULL, 'r' },
        { "gateway-share", required_argument, NULL, 'G' },
        { "duration", required_argument, NULL, 'd' },
        { "window", required_argument, NULL, 'w' },
        { "value-size", required_argument, NULL, 'v' },
        { "stopped", required_argument, NULL, 'S' },
        { "baseline", required_argument, NULL, 'B' },
        { "stop-for", required_argument, NULL, 'F' },
        { "control", no_argument, NULL, 'k' },
        { "cycles", required_argument, NULL, 'c' },
        { "concurrency", required_argument, NULL, 'C' },
        { "sources", required_argument, NULL, 'a' },
        { "pid", required_argument, NULL, 'P' },
        { "status", required_argument, NULL, 'x' },
        { "drain", required_argument, NULL, 'D' },
        { "warmup", required_argument, NULL, 'W' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 }
    };

    cf.parts = 1;
    cf.rate = 100;
    cf.duration = 5;
    cf.window = 64;
    cf.value_size = 48;
    cf.drain = 60;
    cf.gateway_share = 0;
    cf.gateways = -1;

    if (argc < 2) {
        soak_usage();
        return -1;
    }

    cf.scenario = argv[1];
    optind = 2;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': cf.url = optarg; break;
        case 'b': cf.brokers = optarg; break;
        case 't': cf.topic = optarg; break;
        case 'p': cf.parts = atoi(optarg); break;
        case 's': cf.subs = atoi(optarg); break;
        case 'f': cf.fetchers = atoi(optarg); break;
        case 'g': cf.gateways = atoi(optarg); break;
        case 'r': cf.rate = atof(optarg); break;
        case 'G': cf.gateway_share = atof(optarg); break;
        case 'd': cf.duration = atof(optarg); break;
        case 'w': cf.window = atoi(optarg); break;
        case 'v': cf.value_size = atoi(optarg); break;
        case 'S': cf.stopped = atoi(optarg); break;
        case 'B': cf.baseline = atof(optarg); break;
        case 'F': cf.stop_for = atof(optarg); break;
        case 'k': cf.control = 1; break;
        case 'c': cf.cycles = atoi(optarg); break;
        case 'C': cf.concurrency = atoi(optarg); break;
        case 'a': cf.sources = optarg; break;
        case 'P': cf.pid = atoi(optarg); break;
        case 'x': cf.status = optarg; break;
        case 'D': cf.drain = atof(optarg); break;
        case 'W': cf.warmup = atof(optarg); break;
        case 'o': cf.out = optarg; break;
        default:
            soak_usage();
            return -1;
        }
    }

    i = strcmp(cf.scenario, "brokers") == 0
        || strcmp(cf.scenario, "readers") == 0
        || strcmp(cf.scenario, "storm") == 0;

    if (!i || cf.url == NULL || cf.brokers == NULL || cf.topic == NULL
        || cf.parts < 1 || cf.parts > SOAK_MAX_PARTS || cf.rate <= 0
        || cf.value_size < 32 || cf.window < 0 || cf.stopped > cf.subs
        || (cf.stopped && cf.stop_for + cf.baseline > cf.duration))
    {
        soak_usage();
        return -1;
    }

    if (cf.gateways < 0) {
        cf.gateways = (cf.gateway_share > 0) ? 2 : 0;
    }

    if (cf.cycles && cf.concurrency < 1) {
        cf.concurrency = 50;
    }

    return 0;
}


static soak_client_t *
soak_client(int kind, uint32_t index)
{
    int             p;
    soak_client_t  *cl;

    cl = &soak.clients[soak.nclients++];
    cl->kind = kind;
    cl->index = index;
    cl->conn.fd = -1;
    cl->conn.data = cl;
    cl->st = calloc(cf.parts, sizeof(soak_stream_t));

    if (cl->st == NULL) {
        fprintf(stderr, "pubsub-soak: out of memory\n");
        exit(2);
    }

    for (p = 0; p < cf.parts; p++) {
        soak_stream_init(&cl->st[p]);
    }

    /* the last ones of the subscribers are those that stop */

    cl->slow = (kind == SOAK_SUB && (int) index >= cf.subs - cf.stopped);

    return cl;
}


static void
soak_connect(soak_client_t *cl)
{
    cl->conn.on_open = soak_on_open;
    cl->conn.on_resp = soak_on_resp;
    cl->conn.on_close = soak_on_close;
    cl->started = 0;
    cl->active = 1;
    cl->retry_at = 0;

    if (soak_conn_open(&cl->conn) != 0) {
        cl->retry_at = soak_now() + SOAK_RETRY;
    }
}


static void
soak_on_open(soak_conn_t *c)
{
    int             p;
    soak_client_t  *cl;

    cl = c->data;

    switch (cl->kind) {

    case SOAK_SUB:
    case SOAK_STORM:
        soak_subscribe(cl);
        break;

    case SOAK_FETCH:
        for (p = 0; p < cf.parts; p++) {
            soak_fetch(cl, p);
        }
        break;

    default:
        cl->started = 1;
        break;
    }
}


/* the connection went: what was in flight is unknown, connect again */

static void
soak_on_close(soak_conn_t *c, const char *why)
{
    int             i;
    soak_client_t  *cl;

    cl = c->data;

    if (cl->kind == SOAK_STORM) {
        soak.cycles_failed++;
        soak_error_add(&soak.storm_errors, -1, why, 1);
        cl->active = 0;
        return;
    }

    soak.reconnects++;

    for (i = 0; i < cl->npending; i++) {
        soak.records[cl->pending[i]].state = 3;
        soak.lost_in_flight++;
    }

    cl->npending = 0;
    cl->sub = 0;
    cl->owed = 0;
    memset(cl->fetch, 0, sizeof(cl->fetch));
    cl->retry_at = soak_now() + SOAK_RETRY;
}


static void
soak_subscribe(soak_client_t *cl)
{
    int                    p;
    pubsub_req_t           r;
    KafkaPartitionOffset   po[SOAK_MAX_PARTS], *ppo[SOAK_MAX_PARTS];

    pubsub_req_subscribe(&r, ++cl->seq, cf.topic);

    if (cl->kind == SOAK_STORM) {
        r.cmd.subscribe.all_partitions = 1;
        r.cmd.subscribe.start = -1;
        r.cmd.subscribe.window = 16;

    } else {
        for (p = 0; p < cf.parts; p++) {
            kafka_partition_offset__init(&po[p]);
            po[p].partition = p;
            po[p].offset = (cl->st[p].next < 0) ? 0 : cl->st[p].next;
            ppo[p] = &po[p];
        }

        r.cmd.subscribe.partitions = ppo;
        r.cmd.subscribe.n_partitions = cf.parts;
        r.cmd.subscribe.window = cf.window;
    }

    cl->sub = cl->seq;
    cl->owed = 0;
    cl->retry_at = 0;

    (void) soak_conn_send(&cl->conn, &r);
}


static void
soak_fetch(soak_client_t *cl, int p)
{
    pubsub_req_t  r;

    pubsub_req_fetch(&r, ++cl->seq, cf.topic, p,
                     (cl->st[p].next < 0) ? 0 : cl->st[p].next);

    cl->fetch[p] = cl->seq;
    cl->fetch_at[p] = 0;

    (void) soak_conn_send(&cl->conn, &r);
}


static void
soak_credit(soak_client_t *cl)
{
    pubsub_req_t  r;

    if (cf.window == 0 || cl->stopped || cl->owed < (cf.window + 1) / 2
        || cl->sub == 0)
    {
        return;
    }

    pubsub_req_credit(&r, ++cl->seq, cl->sub, (int32_t) cl->owed);
    cl->owed = 0;

    (void) soak_conn_send(&cl->conn, &r);
}


static void
soak_on_resp(soak_conn_t *c, PubSubResp *resp)
{
    int                    i, p;
    double                 now;
    soak_client_t         *cl;
    soak_record_t         *rec;
    KafkaSubscribeResp    *sr;
    KafkaProduceResp      *pr;

    cl = c->data;
    now = soak_now();

    if (cl->kind == SOAK_STORM) {
        soak_storm_resp(cl, resp);
        return;
    }

    switch (resp->resp_case) {

    case PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP:
        if (resp->sequence != cl->sub) {
            break;
        }

        sr = resp->kafka_subscribe_resp;

        for (i = 0; i < (int) sr->n_positions; i++) {
            p = sr->positions[i]->partition;

            if (p >= 0 && p < cf.parts && !sr->ended) {
                soak_stream_jump(&cl->st[p], sr->positions[i]->offset);
            }
        }

        if (sr->ended) {
            soak.ended++;
            cl->sub = 0;
            cl->retry_at = now + SOAK_RETRY;
        }

        cl->started = 1;
        break;

    case PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP:
        if (cl->kind == SOAK_SUB) {
            if (resp->sequence == cl->sub) {
                soak_messages(cl, resp->kafka_fetch_resp, -1);
                soak_credit(cl);
            }
            break;
        }

        for (p = 0; p < cf.parts; p++) {
            if (cl->fetch[p] == resp->sequence) {
                soak_messages(cl, resp->kafka_fetch_resp, p);
                cl->started = 1;
                soak_fetch(cl, p);
                break;
            }
        }

        break;

    case PUB_SUB_RESP__RESP_KAFKA_PRODUCE_RESP:
        pr = resp->kafka_produce_resp;

        for (i = 0; i < cl->npending; i++) {
            if (cl->pending_seq[i] != resp->sequence) {
                continue;
            }

            rec = &soak.records[cl->pending[i]];
            rec->state = 1;
            rec->offset = pr->offset;

            if (pr->partition != rec->partition) {
                rec->state = 4;
            }

            soak.acked[0]++;
            cl->pending[i] = cl->pending[--cl->npending];
            cl->pending_seq[i] = cl->pending_seq[cl->npending];
            break;
        }

        break;

    case PUB_SUB_RESP__RESP_ERROR_RESP:

        if (cl->kind == SOAK_SUB) {
            soak_error_seen(&soak.sub_errors,
                            PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE,
                            resp->error_resp);

            if (resp->sequence == cl->sub) {
                cl->sub = 0;
                cl->retry_at = now + SOAK_RETRY
                               * ((resp->error_resp->code == 429) ? 5 : 1)
                               * (1 + (cl->index % 16) / 16.0);
            }

            break;
        }

        if (cl->kind == SOAK_FETCH) {
            soak_error_seen(&soak.fetch_errors,
                            PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH,
                            resp->error_resp);

            for (p = 0; p < cf.parts; p++) {
                if (cl->fetch[p] == resp->sequence) {
                    cl->fetch[p] = 0;
                    cl->fetch_at[p] = now + SOAK_RETRY / 2;
                }
            }

            break;
        }

        soak_error_seen(&soak.produce_errors,
                            PUB_SUB_REQ__REQ_CMD_KAFKA_PRODUCE,
                            resp->error_resp);

        for (i = 0; i < cl->npending; i++) {
            if (cl->pending_seq[i] == resp->sequence) {
                soak.records[cl->pending[i]].state = 2;
                soak.failed[0]++;
                cl->pending[i] = cl->pending[--cl->npending];
                cl->pending_seq[i] = cl->pending_seq[cl->npending];
                break;
            }
        }

        break;

    default:
        break;
    }
}


/* a push (partition -1: each message's own) or a fetch answer */

static void
soak_messages(soak_client_t *cl, KafkaFetchResp *fr, int partition)
{
    int            p;
    size_t         i;
    double         now;
    int64_t        sent, now_us;
    KafkaMessage  *m;

    now = soak_now();
    now_us = (int64_t) (now * 1e6);

    for (i = 0; i < fr->n_messages; i++) {
        m = fr->messages[i];
        p = (partition >= 0) ? partition : m->partition;

        if (p < 0 || p >= cf.parts) {
            continue;
        }

        soak_stream_msg(&cl->st[p], m->offset,
                        soak_fnv(m->value.data, m->value.len), now);

        cl->owed++;

        if (soak.phase == 0 || m->value.len < 26) {
            continue;
        }

        /* "g00000001 <send time, us, 16 hex> " */

        sent = (int64_t) strtoull((char *) m->value.data + 10, NULL, 16);

        if (soak.phase == 1) {
            soak_hist_add(&soak.lat_base, now_us - sent);

        } else if (soak.phase == 2 && !cl->slow) {
            soak_hist_add(&soak.lat_stop, now_us - sent);
        }
    }
}


/*
 * The producers: cf.rate messages a second, round robin over partitions,
 * cf.gateway_share of them through the gateway.  Each way keeps its own
 * pace: while the gateway's producers have all they may in flight, the
 * direct one goes on.
 */

static void
soak_produce(double now)
{
    int             i;
    u_char          value[4096];
    uint32_t        id;
    int32_t         part;
    int64_t         due[2];
    pubsub_req_t    r;
    soak_client_t  *cl;

    due[0] = (int64_t) ((now - soak.start) * cf.rate * cf.gateway_share);
    due[1] = (int64_t) ((now - soak.start) * cf.rate
                        * (1 - cf.gateway_share)) + 1;

    soak_producer_poll(&soak.direct);

    while (cf.gateways > 0 && soak.sent[0] < due[0]) {
        cl = NULL;

        for (i = 0; i < cf.gateways; i++) {
            cl = &soak.clients[cf.subs + cf.fetchers
                               + (soak.sent[0] + i) % cf.gateways];

            if (cl->conn.state == SOAK_CONN_OPEN
                && cl->npending < SOAK_INFLIGHT)
            {
                break;
            }

            cl = NULL;
        }

        if (cl == NULL) {
            break;
        }

        part = soak.next_part++ % cf.parts;
        id = soak_record(part, 'g', value);

        pubsub_req_produce(&r, ++cl->seq, cf.topic);
        r.cmd.produce.target_case = CMD_KAFKA_PRODUCE__TARGET_PARTITION;
        r.cmd.produce.partition = part;
        r.cmd.produce.value.data = value;
        r.cmd.produce.value.len = cf.value_size;

        cl->pending[cl->npending] = id;
        cl->pending_seq[cl->npending] = cl->seq;
        cl->npending++;
        soak.sent[0]++;

        if (soak_conn_send(&cl->conn, &r) != 0) {
            break;
        }
    }

    while (soak.sent[1] < due[1]) {
        part = soak.next_part++ % cf.parts;
        id = soak_record(part, 'd', value);
        soak.sent[1]++;

        if (soak_producer_send(&soak.direct, part, value, cf.value_size,
                               (void *) (uintptr_t) id)
            != 0)
        {
            soak.records[id].state = 2;
            soak.failed[1]++;
            break;
        }
    }
}


static uint32_t
soak_record(int32_t partition, u_char via, u_char *value)
{
    int             n;
    uint32_t        id;
    soak_record_t  *rec;

    if (soak.nrecords == soak.records_size) {
        soak.records_size = soak.records_size ? soak.records_size * 2
                                              : 65536;
        soak.records = realloc(soak.records,
                               soak.records_size * sizeof(soak_record_t));
        if (soak.records == NULL) {
            fprintf(stderr, "pubsub-soak: out of memory\n");
            exit(2);
        }
    }

    id = soak.nrecords++;

    n = snprintf((char *) value, cf.value_size + 1, "%c%08x %016llx ", via,
                 id, (unsigned long long) soak_now_us());
    memset(value + n, '.', cf.value_size - n);

    rec = &soak.records[id];
    rec->vhash = soak_fnv(value, cf.value_size);
    rec->offset = -1;
    rec->partition = partition;
    rec->id = id;
    rec->via = via;
    rec->state = 0;

    return id;
}


static void
soak_direct_ack(void *ctx, int32_t partition, int64_t offset,
    rd_kafka_resp_err_t err)
{
    soak_record_t  *rec;

    rec = &soak.records[(uintptr_t) ctx];

    if (err) {
        rec->state = 2;
        soak.failed[1]++;
        return;
    }

    rec->state = 1;
    rec->offset = offset;
    soak.acked[1]++;
}


/* clients that wait to connect, subscribe or fetch again */

static void
soak_tick(double now)
{
    int             i, p;
    soak_client_t  *cl;

    for (i = 0; i < soak.nclients; i++) {
        cl = &soak.clients[i];

        if (cl->conn.state == SOAK_CONN_IDLE) {
            if (cl->retry_at && now >= cl->retry_at) {
                soak_connect(cl);
            }
            continue;
        }

        if (cl->conn.state != SOAK_CONN_OPEN) {
            continue;
        }

        if (cl->kind == SOAK_SUB && cl->sub == 0 && cl->retry_at
            && now >= cl->retry_at)
        {
            soak.resubscribes++;
            soak_subscribe(cl);
        }

        if (cl->kind == SOAK_FETCH) {
            for (p = 0; p < cf.parts; p++) {
                if (cl->fetch[p] == 0 && cl->fetch_at[p]
                    && now >= cl->fetch_at[p])
                {
                    soak_fetch(cl, p);
                }
            }
        }
    }
}


static void
soak_set_stopped(int stopped)
{
    int             i;
    soak_client_t  *cl;

    for (i = 0; i < soak.nclients; i++) {
        cl = &soak.clients[i];

        if (!cl->slow) {
            continue;
        }

        cl->stopped = stopped ? 1 : 0;
        soak_conn_pause(&cl->conn, stopped);

        if (!stopped) {
            soak_credit(cl);
        }
    }
}


/* connect / subscribe / close, cf.cycles of them over cf.duration */

static void
soak_storm_tick(double now)
{
    int             i;
    int64_t         due;
    soak_client_t  *cl;

    if (!soak.producing) {
        return;
    }

    if (now - soak.start < cf.warmup) {
        return;
    }

    due = (int64_t) ((now - soak.start - cf.warmup) / cf.duration
                     * cf.cycles) + 1;
    if (due > cf.cycles) {
        due = cf.cycles;
    }

    for (i = 0; i < cf.concurrency && soak.cycles_started < due; i++) {
        cl = &soak.storm[i];

        if (cl->active) {
            continue;
        }

        cl->conn.on_open = soak_on_open;
        cl->conn.on_resp = soak_on_resp;
        cl->conn.on_close = soak_on_close;
        cl->active = 1;
        soak.cycles_started++;

        if (soak_conn_open(&cl->conn) != 0) {
            soak.cycles_failed++;
            soak_error_add(&soak.storm_errors, -1, soak_conn_err, 1);
            cl->active = 0;
        }
    }
}


/* the subscription started: close, every other one with a close frame */

static void
soak_storm_resp(soak_client_t *cl, PubSubResp *resp)
{
    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        soak_error_seen(&soak.storm_errors,
                            PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE,
                            resp->error_resp);
        soak.cycles_failed++;

    } else if (resp->resp_case == PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP) {
        soak.cycles_done++;

    } else {
        return;
    }

    soak_conn_close(&cl->conn, (soak.cycles_done & 1) ? 1000 : 0);
    cl->active = 0;
}


static int
soak_run_until(double until, int (*done)(void))
{
    while (!soak_stop && soak_now() < until) {
        soak_tick(soak_now());

        if (done && done()) {
            return 0;
        }

        if (soak.producing) {
            soak_produce(soak_now());
        }

        soak_producer_poll(&soak.direct);

        if (soak_loop_run(5) < 0) {
            return -1;
        }
    }

    return done ? -1 : 0;
}


static int
soak_subscribed(void)
{
    int  i;

    for (i = 0; i < soak.nclients; i++) {
        if (!soak.clients[i].started) {
            return 0;
        }
    }

    return 1;
}


/* no produce in flight, no storm cycle going on */

static int
soak_settled(void)
{
    int  i;

    for (i = 0; i < soak.nclients; i++) {
        if (soak.clients[i].npending) {
            return 0;
        }
    }

    for (i = 0; i < cf.concurrency; i++) {
        if (soak.storm[i].active) {
            return 0;
        }
    }

    return soak.direct.rk == NULL
           || rd_kafka_outq_len(soak.direct.rk) == 0;
}


static int
soak_caught_up(soak_log_t *logs)
{
    int             i, p;
    soak_client_t  *cl;

    for (i = 0; i < soak.nclients; i++) {
        cl = &soak.clients[i];

        if (cl->kind != SOAK_SUB && cl->kind != SOAK_FETCH) {
            continue;
        }

        for (p = 0; p < cf.parts; p++) {
            if (logs[p].high > 0 && cl->st[p].next < logs[p].high) {
                return 0;
            }
        }
    }

    return 1;
}


/* a number of the status page ("websockets", "window_memory"), -1 */

static long
soak_status(const char *name)
{
    char         buf[65536], key[64], *p;
    const char  *host;

    if (cf.status == NULL) {
        return -1;
    }

    host = soak_loop_url()->authority;

    if (soak_http_get(soak_loop_addr(), host, cf.status, buf, sizeof(buf))
        != 0)
    {
        return -1;
    }

    snprintf(key, sizeof(key), "\"%s\":", name);
    p = strstr(buf, key);

    return p ? atol(p + strlen(key)) : -1;
}


static int
soak_report(soak_log_t *logs, const char *err, long *rss)
{
    int     ok, p, i;
    long    ws;
    FILE   *f;
    double  base, stop, wkb;

    f = cf.out ? fopen(cf.out, "w") : stdout;
    if (f == NULL) {
        perror(cf.out);
        f = stdout;
    }

    ok = (err[0] == '\0');

    fprintf(f, "{\"scenario\":\"%s\",\"topic\":\"%s\",\"partitions\":%d,"
            "\"subscribers\":%d,\"fetchers\":%d,\"rate\":%g,"
            "\"duration\":%g,\"window\":%d,\"value_size\":%d,",
            cf.scenario, cf.topic, cf.parts, cf.subs, cf.fetchers, cf.rate,
            cf.duration, cf.window, cf.value_size);

    fprintf(f, "\"error\":\"%s\",", err);

    if (ok) {
        fprintf(f, "\"high\":[");

        for (p = 0; p < cf.parts; p++) {
            fprintf(f, "%s%lld", p ? "," : "", (long long) logs[p].high);
        }

        fprintf(f, "],");

        ok &= soak_check_records(logs, f);
        ok &= soak_check_streams(f, SOAK_SUB, "push", logs);
        ok &= soak_check_streams(f, SOAK_FETCH, "fetch", logs);
    }

    fprintf(f, "\"reconnects\":%lld,\"resubscribes\":%lld,"
            "\"ended_by_server\":%lld,",
            (long long) soak.reconnects, (long long) soak.resubscribes,
            (long long) soak.ended);

    soak_json_errors(f, "subscribe_errors", &soak.sub_errors);
    fputc(',', f);
    soak_json_errors(f, "fetch_errors", &soak.fetch_errors);
    fputc(',', f);
    soak_json_errors(f, "produce_errors", &soak.produce_errors);
    fputc(',', f);

    ok &= soak.sub_errors.undocumented == 0
          && soak.fetch_errors.undocumented == 0
          && soak.produce_errors.undocumented == 0;

    if (cf.stopped) {
        base = soak_hist_pct(&soak.lat_base, 99);
        stop = soak_hist_pct(&soak.lat_stop, 99);

        fprintf(f, "\"latency_ms\":{\"baseline\":{\"count\":%llu,"
                "\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
                "\"stopped\":{\"count\":%llu,\"p50\":%.1f,\"p99\":%.1f,"
                "\"max\":%.1f},\"p99_ratio\":%.2f},",
                (unsigned long long) soak.lat_base.count,
                soak_hist_pct(&soak.lat_base, 50), base,
                soak.lat_base.max / 1000.0,
                (unsigned long long) soak.lat_stop.count,
                soak_hist_pct(&soak.lat_stop, 50), stop,
                soak.lat_stop.max / 1000.0, base > 0 ? stop / base : 0);

        fprintf(f, "\"stopped\":%d,\"baseline_s\":%g,\"stop_for_s\":%g,"
                "\"control\":%s,", cf.stopped, cf.baseline, cf.stop_for,
                cf.control ? "true" : "false");
    }

    if (cf.cycles) {
        ws = -1;

        for (i = 0; i < 100; i++) {
            ws = soak_status("websockets");
            if (ws == -1 || ws == soak.websockets) {
                break;
            }
            usleep(100000);
        }

        fprintf(f, "\"cycles\":{\"planned\":%d,\"started\":%lld,"
                "\"subscribed\":%lld,\"failed\":%lld,\"seconds\":%.1f},"
                "\"websockets_before\":%ld,\"websockets_after\":%ld,",
                cf.cycles, (long long) soak.cycles_started,
                (long long) soak.cycles_done, (long long) soak.cycles_failed,
                soak.storm_seconds, soak.websockets, ws);
        soak_json_errors(f, "storm_errors", &soak.storm_errors);
        fputc(',', f);

        ok &= (ws == soak.websockets);
    }

    /* worker memory, KiB */

    fprintf(f, "\"rss_kb\":{\"before\":%ld,\"subscribed\":%ld,"
            "\"before_fault\":%ld,\"after_fault\":%ld,\"late_fault\":%ld,"
            "\"end\":%ld}", rss[0], rss[1], rss[2], rss[3], rss[4], rss[5]);

    /* the shared windows grow with what is produced, by design: apart */

    wkb = (soak.window[0] >= 0 && soak.window[1] >= 0)
          ? (soak.window[1] - soak.window[0]) / 1024.0 : 0;

    fprintf(f, ",\"window_kb\":[%.1f,%.1f]", soak.window[0] / 1024.0,
            soak.window[1] / 1024.0);

    if (cf.stopped && rss[2] > 0 && rss[3] > 0) {
        fprintf(f, ",\"kb_per_connection\":%.2f,"
                "\"kb_per_stopped_subscriber\":%.2f",
                (double) (rss[1] - rss[0]) / cf.subs,
                ((rss[3] > rss[4] ? rss[3] : rss[4]) - rss[2] - wkb)
                / cf.stopped);
    }

    if (cf.cycles && rss[2] > 0 && rss[3] > 0) {
        fprintf(f, ",\"rss_change_pct\":%.2f,"
                "\"rss_change_pct_without_window\":%.2f",
                100.0 * (rss[3] - rss[2]) / rss[2],
                100.0 * (rss[3] - rss[2] - wkb) / rss[2]);
    }

    fprintf(f, ",\"ok\":%s}\n", ok ? "true" : "false");

    if (f != stdout) {
        fclose(f);
    }

    return ok ? 0 : 1;
}


/* every acknowledged produce is in Kafka where it was said to be */

static int
soak_check_records(soak_log_t *logs, FILE *f)
{
    int             v;
    int64_t         i, k, missing[2], wrong[2], dups[2], n;
    uint64_t       *all;
    soak_log_t     *log;
    soak_record_t  *rec, *recs, key;

    memset(missing, 0, sizeof(missing));
    memset(wrong, 0, sizeof(wrong));

    for (i = 0; i < (int64_t) soak.nrecords; i++) {
        rec = &soak.records[i];
        v = (rec->via == 'd');

        if (rec->state == 4) {
            wrong[v]++;
            continue;
        }

        if (rec->state != 1) {
            continue;
        }

        log = &logs[rec->partition];

        if (rec->offset < log->low || rec->offset >= log->high) {
            missing[v]++;

        } else if (log->vhash[rec->offset] != rec->vhash) {
            wrong[v]++;
        }
    }

    /*
     * A message stored twice (a producer's retry that was not caught): by
     * which producer, and where.  Values sorted by hash, then the records.
     */

    dups[0] = 0;
    dups[1] = 0;
    n = 0;

    for (v = 0; v < cf.parts; v++) {
        n += logs[v].high - logs[v].low;
    }

    all = malloc((n + 1) * sizeof(uint64_t));
    recs = malloc((soak.nrecords + 1) * sizeof(soak_record_t));

    if (all == NULL || recs == NULL) {
        fprintf(stderr, "pubsub-soak: out of memory\n");
        exit(2);
    }

    n = 0;

    for (v = 0; v < cf.parts; v++) {
        memcpy(&all[n], &logs[v].vhash[logs[v].low],
               (logs[v].high - logs[v].low) * sizeof(uint64_t));
        n += logs[v].high - logs[v].low;
    }

    qsort(all, n, sizeof(uint64_t), soak_cmp_u64);

    memcpy(recs, soak.records, soak.nrecords * sizeof(soak_record_t));
    qsort(recs, soak.nrecords, sizeof(soak_record_t), soak_cmp_u64);

    fprintf(f, "\"stored_twice_list\":[");

    for (i = 1, k = 0; i < n; i++) {
        if (all[i] != all[i - 1]) {
            continue;
        }

        key.vhash = all[i];
        rec = bsearch(&key, recs, soak.nrecords, sizeof(soak_record_t),
                      soak_cmp_u64);

        dups[rec == NULL || rec->via == 'd']++;

        if (k++ < 20) {
            soak_json_twice(f, k > 1, rec, logs, all[i]);
        }
    }

    fprintf(f, "],");

    free(all);
    free(recs);

    fprintf(f, "\"produced\":{\"gateway\":{\"sent\":%lld,\"acked\":%lld,"
            "\"failed\":%lld,\"acked_missing\":%lld,\"acked_wrong\":%lld},"
            "\"direct\":{\"sent\":%lld,\"acked\":%lld,\"failed\":%lld,"
            "\"acked_missing\":%lld,\"acked_wrong\":%lld},"
            "\"unanswered\":%lld,\"in_kafka\":%lld,"
            "\"stored_twice\":%lld,\"gateway_stored_twice\":%lld,"
            "\"direct_stored_twice\":%lld},",
            (long long) soak.sent[0], (long long) soak.acked[0],
            (long long) soak.failed[0], (long long) missing[0],
            (long long) wrong[0], (long long) soak.sent[1],
            (long long) soak.acked[1], (long long) soak.failed[1],
            (long long) missing[1], (long long) wrong[1],
            (long long) soak.lost_in_flight, (long long) n,
            (long long) (dups[0] + dups[1]), (long long) dups[0],
            (long long) dups[1]);

    /*
     * The gateway's claims: what it acknowledged is in Kafka, once.  The
     * direct producer is this harness's librdkafka, reported only.
     */

    return missing[0] + missing[1] + wrong[0] + wrong[1] == 0
           && dups[0] == 0;
}


static int
soak_cmp_u64(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


/*
 * Each client's stream of each partition is exactly Kafka's [low, high);
 * the longest wait between two messages of a partition, over the clients
 * that never stopped.
 */

static int
soak_check_streams(FILE *f, int kind, const char *name, soak_log_t *logs)
{
    int             i, p, n, complete, slow_complete, ok;
    int64_t         lost, dup, disorder, count;
    double          stall[SOAK_MAX_PARTS];
    soak_stream_t  *st;
    soak_client_t  *cl;

    n = 0;
    complete = 0;
    slow_complete = 0;
    lost = 0;
    dup = 0;
    disorder = 0;
    count = 0;

    for (p = 0; p < cf.parts; p++) {
        stall[p] = 0;
    }

    for (i = 0; i < soak.nclients; i++) {
        cl = &soak.clients[i];

        if (cl->kind != kind) {
            continue;
        }

        n++;
        ok = 1;

        for (p = 0; p < cf.parts; p++) {
            st = &cl->st[p];

            ok &= soak_stream_check(st, logs[p].low, &logs[p]);
            lost += st->lost;
            dup += st->dup;
            disorder += st->disorder;
            count += st->count;

            if (!cl->slow && st->stall > stall[p]) {
                stall[p] = st->stall;
            }
        }

        complete += ok;
        slow_complete += ok && cl->slow;
    }

    fprintf(f, "\"%s\":{\"clients\":%d,\"complete\":%d,\"lost\":%lld,"
            "\"duplicated\":%lld,\"out_of_order\":%lld,\"messages\":%lld,"
            "\"stopped\":%d,\"stopped_complete\":%d,\"stall_ms\":[",
            name, n, complete, (long long) lost, (long long) dup,
            (long long) disorder, (long long) count,
            kind == SOAK_SUB ? cf.stopped : 0, slow_complete);

    for (p = 0; p < cf.parts; p++) {
        fprintf(f, "%s%.0f", p ? "," : "", stall[p] * 1000);
    }

    fprintf(f, "]},");

    return complete == n;
}


/* {"via":"g","id":N,"partition":P,"offsets":[A,B]} of a value stored twice */

static void
soak_json_twice(FILE *f, int comma, soak_record_t *rec, soak_log_t *logs,
    uint64_t vhash)
{
    int      p, first;
    int64_t  o;

    fprintf(f, "%s{\"via\":\"%c\",\"id\":%lld,\"offsets\":[",
            comma ? "," : "", rec ? rec->via : '?',
            rec ? (long long) rec->id : -1LL);

    first = 1;

    for (p = 0; p < cf.parts; p++) {
        for (o = logs[p].low; o < logs[p].high; o++) {
            if (logs[p].vhash[o] == vhash) {
                fprintf(f, "%s[%d,%lld]", first ? "" : ",", p,
                        (long long) o);
                first = 0;
            }
        }
    }

    fprintf(f, "]}");
}
