
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Scenarios of the extension's writes (CmdKafkaProduce, CmdKafkaCommit,
 * CmdKafkaCommitted):
 *
 *   produce          one client produces --count records of --size bytes
 *                    through the gateway, round the --partitions (explicit
 *                    partitions), --inflight unanswered at most
 *   produce-bare     the same records with a bare librdkafka producer
 *                    configured as the gateway's (acks=all, idempotence,
 *                    --property), --inflight undelivered at most: the
 *                    ceiling
 *   produce-latency  one client produces --rate records/s for --duration s
 *                    to the first partition through the gateway while
 *                    --clients subscribers of it receive them
 *   commits          --clients clients each commit every --interval ms,
 *                    client i for group i % --groups and its own partition
 *                    of the group, for --duration s; then every client
 *                    reads its offset back (CmdKafkaCommitted)
 *   probe            one --request (produce, commit, subscribe): exit 0
 *                    when the gateway serves it, 3 when it answers
 *                    "unknown command"
 */


#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"


#define BENCH_PROBE_SEQ        7


/* produce through the gateway */

typedef struct {
    bench_conn_t        *conn;
    int64_t              count;
    int                  inflight;
    int32_t             *parts;
    int                  nparts;
    size_t               size;
    u_char              *value;

    int64_t              sent;       /* requests; record i has sequence i+1 */
    int64_t              answered;
    int64_t             *sent_at;    /* per record */
    int64_t             *offsets;    /* per record, as answered */
    int64_t             *next_seq;   /* per partition index */
    int64_t              first;
    int64_t              last;
    int                  open;
    bench_hist_t         ack_hist;   /* request to answer */
} bench_gwprod_t;


/* commits */

typedef struct {
    bench_conn_t        *conn;
    int                  group;
    int32_t              part;
    int64_t              offset;     /* of the commit in flight, or 0 */
    int64_t              acked;      /* the last commit answered */
    int64_t              sent_at;
    int64_t              seq;
    unsigned             verifying:1;
    unsigned             verified:1;
} bench_committer_t;


typedef struct {
    bench_committer_t   *clients;
    int                  nclients;
    char               **groups;
    int64_t              sent;
    int64_t              answered;
    int64_t              skipped;
    int64_t              verified;
    int                  next_verify;
    int                  measuring;
    bench_hist_t         hist;
} bench_commits_t;


static bench_commits_t  *bench_commit_data;


static void bench_gwprod_init(bench_gwprod_t *gp, int64_t count);
static void bench_gwprod_connect(bench_gwprod_t *gp, int64_t deadline);
static void bench_gwprod_open(bench_conn_t *c);
static void bench_gwprod_warm(bench_gwprod_t *gp, int64_t deadline);
static void bench_gwprod_send(bench_gwprod_t *gp, int64_t n);
static void bench_gwprod_resp(bench_conn_t *c, PubSubResp *resp,
    int64_t now);
static void bench_gwprod_check(bench_gwprod_t *gp, const int64_t *high0);
static void bench_highs(const int32_t *parts, int nparts, int64_t *high);
static int bench_cmp_int64(const void *a, const void *b);
static void bench_commit_send(bench_commits_t *cs, bench_committer_t *cl,
    int64_t now);
static void bench_commit_resp(bench_conn_t *c, PubSubResp *resp,
    int64_t now);
static void bench_commit_verify_more(bench_commits_t *cs);
static void bench_probe_resp(bench_conn_t *c, PubSubResp *resp,
    int64_t now);


static void
bench_gwprod_init(bench_gwprod_t *gp, int64_t count)
{
    bench_conf_t  *cf;

    cf = &bench_conf;

    if (cf->size < BENCH_VALUE_MIN || cf->size > 900) {
        bench_fatal("--size must be %d to 900 bytes for produce",
                    BENCH_VALUE_MIN);
    }

    memset(gp, 0, sizeof(bench_gwprod_t));
    gp->count = count;
    gp->inflight = cf->inflight;
    gp->parts = cf->parts;
    gp->nparts = cf->nparts;
    gp->size = cf->size;
    gp->value = bench_calloc(1, cf->size);
    gp->sent_at = bench_calloc(count, sizeof(int64_t));
    gp->offsets = bench_calloc(count, sizeof(int64_t));
    gp->next_seq = bench_calloc(cf->nparts, sizeof(int64_t));
    bench_hist_init(&gp->ack_hist);
}


static void
bench_gwprod_connect(bench_gwprod_t *gp, int64_t deadline)
{
    gp->conn = bench_connect(&bench_pool, bench_gwprod_open, bench_gwprod_resp,
                             gp);
    if (gp->conn == NULL) {
        bench_fatal("%s", bench_pool.err);
    }

    while (!gp->open) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("produce: no connection in time");
        }
    }
}


static void
bench_gwprod_open(bench_conn_t *c)
{
    bench_gwprod_t  *gp = c->data;

    gp->open = 1;
}


/*
 * One record to each partition first, untimed: the gateway's producer
 * learns the topic (a producer's first record to a topic not in its
 * metadata may wait a second) and gets its producer id.
 */

static void
bench_gwprod_warm(bench_gwprod_t *gp, int64_t deadline)
{
    bench_gwprod_send(gp, gp->nparts);

    while (gp->answered < gp->nparts) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("produce: the first records not answered in time");
        }
    }

    bench_hist_free(&gp->ack_hist);
    bench_hist_init(&gp->ack_hist);
}


/* n more records, or as many as the count and the in-flight bound allow */

static void
bench_gwprod_send(bench_gwprod_t *gp, int64_t n)
{
    int            index;
    int64_t        now;
    pubsub_req_t   r;

    bench_conn_cork(gp->conn);

    while (n-- > 0 && gp->sent < gp->count
           && gp->sent - gp->answered < gp->inflight)
    {
        index = (int) (gp->sent % gp->nparts);
        now = bench_now();

        bench_value(gp->value, gp->size, now, gp->parts[index],
                    gp->next_seq[index]++);

        pubsub_req_produce(&r, gp->sent + 1, bench_conf.topic);
        r.cmd.produce.target_case = CMD_KAFKA_PRODUCE__TARGET_PARTITION;
        r.cmd.produce.partition = gp->parts[index];
        r.cmd.produce.value.data = gp->value;
        r.cmd.produce.value.len = gp->size;

        gp->sent_at[gp->sent] = now;
        gp->sent++;

        if (bench_send_req(gp->conn, &r) != 0) {
            break;
        }
    }

    bench_conn_uncork(gp->conn);
}


static void
bench_gwprod_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    int              index;
    int64_t          i;
    KafkaProduceResp *pr;
    bench_gwprod_t   *gp = c->data;

    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        bench_fatal("produce: record %lld: %s", (long long) resp->sequence,
                    resp->error_resp->message);
    }

    i = resp->sequence - 1;

    if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_PRODUCE_RESP
        || i < 0 || i >= gp->sent || gp->sent_at[i] == 0)
    {
        bench_fatal("produce: unexpected answer %d, sequence %lld",
                    resp->resp_case, (long long) resp->sequence);
    }

    pr = resp->kafka_produce_resp;
    index = (int) (i % gp->nparts);

    if (pr->partition != gp->parts[index] || pr->offset < 0) {
        bench_fatal("produce: record %lld to partition %d stored in "
                    "partition %d at %lld", (long long) i,
                    (int) gp->parts[index], (int) pr->partition,
                    (long long) pr->offset);
    }

    bench_hist_add(&gp->ack_hist, now - gp->sent_at[i]);
    gp->sent_at[i] = 0;
    gp->offsets[i] = pr->offset;
    gp->answered++;
    gp->last = now;
}


/* each partition got its records at consecutive offsets, nothing else */

static void
bench_gwprod_check(bench_gwprod_t *gp, const int64_t *high0)
{
    int       k;
    int64_t   i, n, *v, *high1;

    v = bench_calloc(gp->count / gp->nparts + 1, sizeof(int64_t));
    high1 = NULL;

    if (high0) {
        high1 = bench_calloc(gp->nparts, sizeof(int64_t));
        bench_highs(gp->parts, gp->nparts, high1);
    }

    for (k = 0; k < gp->nparts; k++) {
        n = 0;

        for (i = k; i < gp->count; i += gp->nparts) {
            v[n++] = gp->offsets[i];
        }

        qsort(v, n, sizeof(int64_t), bench_cmp_int64);

        for (i = 1; i < n; i++) {
            if (v[i] != v[i - 1] + 1) {
                bench_fatal("produce: partition %d: offsets %lld then "
                            "%lld", (int) gp->parts[k], (long long) v[i - 1],
                            (long long) v[i]);
            }
        }

        /* the records of each partition in the order they were sent */

        for (i = k + gp->nparts; i < gp->count; i += gp->nparts) {
            if (gp->offsets[i] != gp->offsets[i - gp->nparts] + 1) {
                bench_fatal("produce: partition %d: records stored out of "
                            "order", (int) gp->parts[k]);
            }
        }

        if (high1 && high1[k] - high0[k] != n) {
            bench_fatal("produce: partition %d grew by %lld for %lld "
                        "records", (int) gp->parts[k],
                        (long long) (high1[k] - high0[k]), (long long) n);
        }
    }

    free(v);
    free(high1);
}


static int
bench_cmp_int64(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


/* the end offsets of the partitions, with a librdkafka handle */

static void
bench_highs(const int32_t *parts, int nparts, int64_t *high)
{
    int               i;
    int64_t           low;
    bench_producer_t  p;

    if (bench_producer_init(&p, bench_conf.brokers, bench_conf.topic, parts,
                            nparts, BENCH_VALUE_MIN, 0)
        != 0)
    {
        bench_fatal("producer: %s", p.errstr);
    }

    for (i = 0; i < nparts; i++) {
        if (bench_offsets(p.rk, bench_conf.topic, parts[i], &low, &high[i])
            != 0)
        {
            bench_fatal("watermarks of %s/%d unknown", bench_conf.topic,
                        (int) parts[i]);
        }
    }

    bench_producer_destroy(&p);
}


/*
 * produce: records/s from the first request to the last answer; with
 * --brokers the partitions' end offsets before and after must differ by
 * exactly the records.
 */

int
bench_produce_gw(void)
{
    int64_t          deadline, *high0;
    double           secs;
    bench_json_t     j;
    bench_conf_t    *cf;
    bench_gwprod_t   gp;

    cf = &bench_conf;

    if (cf->count < 1) {
        bench_fatal("produce needs --count");
    }

    bench_open_pool();
    bench_gwprod_init(&gp, cf->count + cf->nparts);

    high0 = NULL;

    if (cf->brokers) {
        high0 = bench_calloc(cf->nparts, sizeof(int64_t));
        bench_highs(cf->parts, cf->nparts, high0);
    }

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    bench_gwprod_connect(&gp, deadline);
    bench_gwprod_warm(&gp, deadline);

    bench_watch_start();
    gp.first = bench_now();

    while (gp.answered < gp.count) {
        bench_gwprod_send(&gp, gp.count);
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("produce: %lld of %lld records answered within the "
                        "time limit", (long long) gp.answered,
                        (long long) gp.count);
        }
    }

    bench_watch_stop();
    secs = bench_seconds(gp.first, gp.last);

    bench_gwprod_check(&gp, high0);

    bench_json_start(&j, "produce");
    bench_json_common(&j);
    bench_json_str(&j, "mode", "gateway");
    bench_json_str(&j, "topic", cf->topic);
    bench_json_int(&j, "partitions", cf->nparts);
    bench_json_int(&j, "inflight", gp.inflight);
    bench_json_int(&j, "size", (int64_t) gp.size);
    bench_json_int(&j, "records", cf->count);
    bench_json_num(&j, "seconds", secs);
    bench_json_num(&j, "records_per_s", cf->count / secs);
    bench_json_num(&j, "mb_per_s", cf->count * gp.size / secs / 1e6);
    bench_json_int(&j, "checked_watermarks", high0 != NULL);
    bench_json_hist(&j, "ack", &gp.ack_hist);
    bench_watch_json(&j, secs);
    bench_json_end(&j);

    return 0;
}


/*
 * produce-bare: the same records from a bare producer, --inflight of them
 * produced and not yet reported at most; its delivery reports check the
 * offsets (bench_kafka.c)
 */

int
bench_produce_bare(void)
{
    int64_t            deadline, start, n, total, *high0, *high1;
    double             secs;
    bench_hist_t       hist;
    bench_json_t       j;
    bench_conf_t      *cf;
    bench_producer_t   p;
    int                k;

    cf = &bench_conf;

    if (cf->brokers == NULL || cf->count < 1) {
        bench_fatal("produce-bare needs --brokers and --count");
    }

    high0 = bench_calloc(cf->nparts, sizeof(int64_t));
    high1 = bench_calloc(cf->nparts, sizeof(int64_t));
    bench_highs(cf->parts, cf->nparts, high0);

    if (bench_producer_init_bare(&p, cf->brokers, cf->topic, cf->parts,
                                 cf->nparts, cf->size)
        != 0)
    {
        bench_fatal("producer: %s", p.errstr);
    }

    bench_hist_init(&hist);
    p.dr_hist = &hist;

    /* the topic's metadata and the producer id, untimed */

    {
        const struct rd_kafka_metadata  *md;

        if (rd_kafka_metadata(p.rk, 0, p.rkt, &md, 10000)
            != RD_KAFKA_RESP_ERR_NO_ERROR)
        {
            bench_fatal("produce-bare: no metadata of %s", cf->topic);
        }

        rd_kafka_metadata_destroy(md);
    }

    /* one record to each partition first, as for the gateway */

    for (k = 0; k < cf->nparts; k++) {
        if (bench_produce(&p, k) != 0) {
            bench_fatal("%s", p.errstr);
        }
    }

    if (bench_producer_flush(&p, 10000) != 0) {
        bench_fatal("produce-bare: %s", p.errstr);
    }

    bench_hist_free(&hist);
    bench_hist_init(&hist);

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    bench_watch_start();
    start = bench_now();
    n = cf->nparts;
    total = cf->count + cf->nparts;

    while (p.delivered + p.failed < total) {
        while (n < total && p.sent - p.delivered - p.failed < cf->inflight) {
            if (bench_produce(&p, (int) (n % cf->nparts)) != 0) {
                bench_fatal("%s", p.errstr);
            }

            n++;
        }

        rd_kafka_poll(p.rk, p.sent - p.delivered - p.failed < cf->inflight
                            ? 0 : 1);

        if (p.failed || p.err) {
            bench_fatal("produce-bare: %s", p.errstr[0] ? p.errstr
                        : rd_kafka_err2str(p.err));
        }

        if (bench_now() > deadline || bench_stop) {
            bench_fatal("produce-bare: %lld of %lld records delivered "
                        "within the time limit", (long long) p.delivered,
                        (long long) cf->count);
        }
    }

    secs = bench_seconds(start, bench_now());
    bench_watch_stop();

    if (bench_producer_flush(&p, 10000) != 0) {
        bench_fatal("produce-bare: %s", p.errstr);
    }

    bench_highs(cf->parts, cf->nparts, high1);

    for (k = 0; k < cf->nparts; k++) {
        if (high1[k] - high0[k] != p.state[k].delivered) {
            bench_fatal("produce-bare: partition %d grew by %lld for %lld "
                        "records", (int) cf->parts[k],
                        (long long) (high1[k] - high0[k]),
                        (long long) p.state[k].delivered);
        }
    }

    bench_json_start(&j, "produce");
    bench_json_common(&j);
    bench_json_str(&j, "mode", "bare");
    bench_json_str(&j, "topic", cf->topic);
    bench_json_int(&j, "partitions", cf->nparts);
    bench_json_int(&j, "inflight", cf->inflight);
    bench_json_int(&j, "size", (int64_t) cf->size);
    bench_json_int(&j, "records", cf->count);
    bench_json_num(&j, "seconds", secs);
    bench_json_num(&j, "records_per_s", cf->count / secs);
    bench_json_num(&j, "mb_per_s", cf->count * cf->size / secs / 1e6);
    bench_json_int(&j, "checked_watermarks", 1);
    bench_json_hist(&j, "ack", &hist);
    bench_watch_json(&j, secs);
    bench_json_end(&j);

    bench_producer_destroy(&p);

    return 0;
}


/*
 * produce-latency: the records go through the gateway at a fixed rate to
 * the first partition; --clients subscribers of it (from its end) get
 * them: produce request to receipt, and request to answer
 */

int
bench_produce_latency(void)
{
    int64_t          deadline, start, now, due, n, end;
    bench_fan_t      fan;
    bench_json_t     j;
    bench_conf_t    *cf;
    bench_gwprod_t   gp;

    cf = &bench_conf;

    n = (int64_t) (cf->rate * cf->duration);

    if (n < 1 || cf->clients < 1) {
        bench_fatal("produce-latency needs --rate, --duration, --clients");
    }

    cf->nparts = 1;
    cf->inflight = 65536;

    bench_open_pool();
    bench_gwprod_init(&gp, n + 1);

    bench_fan_init(&fan, cf->clients);
    fan.push = 1;
    fan.window = cf->window;

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    /* the warm-up record goes before the subscribers start at the end */

    bench_gwprod_connect(&gp, deadline);
    bench_gwprod_warm(&gp, deadline);
    bench_fan_connect(&fan, deadline);

    fan.phase_seq[0] = 0;
    n++;

    bench_watch_start();
    start = bench_now();
    gp.first = start;
    end = start;

    while (gp.sent < n) {
        now = bench_now();
        due = (int64_t) (cf->rate * (now - start) / 1e6);

        if (due + 1 > gp.sent) {
            bench_gwprod_send(&gp, due + 1 - gp.sent);
        }

        end = now;
        bench_poll(bench_ep, 1);
        bench_check_pool();
    }

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    /* the subscribers have every record but the warm-up one (sequence 0) */

    while (gp.answered < n || bench_fan_min_seq(&fan) < n - 1) {
        bench_poll(bench_ep, 1);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("produce-latency: %lld of %lld answered, %lld "
                        "received by the slowest subscriber within the time "
                        "limit", (long long) gp.answered, (long long) n,
                        (long long) (bench_fan_min_seq(&fan) + 1));
        }
    }

    bench_watch_stop();

    bench_gwprod_check(&gp, NULL);

    bench_json_start(&j, "produce_latency");
    bench_json_common(&j);
    bench_json_int(&j, "clients", fan.ntails);
    bench_json_num(&j, "rate", cf->rate);
    bench_json_int(&j, "records", n - 1);
    bench_json_num(&j, "produce_seconds", bench_seconds(start, end));
    bench_json_int(&j, "deliveries", fan.delivered[0]);
    bench_json_hist(&j, "lat", &fan.hist[0]);
    bench_json_hist(&j, "ack", &gp.ack_hist);
    bench_watch_json(&j, bench_seconds(start, bench_now()));
    bench_json_end(&j);

    return 0;
}


/*
 * commits: client i commits, every --interval ms (a commit waits for the
 * answer to the previous one: one missed is "skipped"), offset 1, 2, ...
 * of its own partition for group i % groups; the clients are spread
 * evenly over the interval.  The worker's Admin requests meanwhile come
 * from its status (admin_requests, summed over its Kafka clients).
 */

int
bench_commits(void)
{
    int                 i, k, per_group;
    char               *status, name[128];
    void              **data;
    int64_t             deadline, start, now, round, due, end, admin0,
                        admin1, step;
    double              secs;
    bench_conn_t      **conns;
    bench_json_t        j;
    bench_conf_t       *cf;
    bench_commits_t     cs;

    cf = &bench_conf;

    per_group = (cf->clients + cf->groups - 1) / cf->groups;

    if (cf->clients < 1 || cf->nparts < per_group) {
        bench_fatal("commits: %d clients in %d groups need %d partitions, "
                    "one for each client of a group", cf->clients,
                    cf->groups, per_group);
    }

    memset(&cs, 0, sizeof(bench_commits_t));
    cs.nclients = cf->clients;
    cs.clients = bench_calloc(cf->clients, sizeof(bench_committer_t));
    cs.groups = bench_calloc(cf->groups, sizeof(char *));
    bench_hist_init(&cs.hist);

    /* groups of this run only */

    for (k = 0; k < cf->groups; k++) {
        snprintf(name, sizeof(name), "pubsub-bench-%d-%lld-%d",
                 (int) getpid(), (long long) (bench_now() / 1000000), k);
        cs.groups[k] = strdup(name);
    }

    data = bench_calloc(cf->clients, sizeof(void *));
    conns = bench_calloc(cf->clients, sizeof(bench_conn_t *));

    bench_commit_data = &cs;

    for (i = 0; i < cf->clients; i++) {
        cs.clients[i].group = i % cf->groups;
        cs.clients[i].part = cf->parts[i / cf->groups];
        data[i] = &cs.clients[i];
    }

    bench_open_pool();

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    bench_connect_all(cf->clients, NULL, bench_commit_resp, data, conns,
                      deadline, 0);

    for (i = 0; i < cf->clients; i++) {
        cs.clients[i].conn = conns[i];
    }

    free(data);
    free(conns);

    status = NULL;
    admin0 = -1;
    admin1 = -1;

    if (cf->status) {
        char  err[512];

        status = bench_calloc(1, 1 << 22);

        if (bench_status_get(cf->status, cf->remote, status, 1 << 22, err,
                             sizeof(err))
            == 0)
        {
            admin0 = bench_status_sum(status, "admin_requests", 0);

        } else {
            fprintf(stderr, "pubsub-bench: status: %s\n", err);
        }
    }

    step = (int64_t) (cf->interval * 1000);

    cs.measuring = 1;

    bench_watch_start();
    start = bench_now();
    end = start + (int64_t) (cf->duration * 1e6);
    round = 0;
    i = 0;

    while ((now = bench_now()) < end) {

        /* every client whose time came, in order */

        for ( ;; ) {
            due = start + round * step + (int64_t) i * step / cs.nclients;

            if (due > now || due >= end) {
                break;
            }

            bench_commit_send(&cs, &cs.clients[i], now);

            if (++i == cs.nclients) {
                i = 0;
                round++;
            }
        }

        bench_poll(bench_ep, 1);
        bench_check_pool();
    }

    /* the commits in flight are answered */

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    while (cs.answered < cs.sent) {
        bench_poll(bench_ep, 1);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("commits: %lld of %lld answered within the time "
                        "limit", (long long) cs.answered,
                        (long long) cs.sent);
        }
    }

    now = bench_now();
    bench_watch_stop();
    secs = bench_seconds(start, now);
    cs.measuring = 0;

    if (status && admin0 >= 0) {
        char  err[512];

        if (bench_status_get(cf->status, cf->remote, status, 1 << 22, err,
                             sizeof(err))
            == 0)
        {
            admin1 = bench_status_sum(status, "admin_requests", 0);
        }
    }

    /* every client reads its offset back, --starts at a time (look-ups) */

    for (i = 0; i < cs.nclients; i++) {
        cs.clients[i].verifying = 1;
    }

    bench_commit_verify_more(&cs);

    while (cs.verified < cs.nclients) {
        bench_poll(bench_ep, 1);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("commits: %lld of %d offsets read back within the "
                        "time limit", (long long) cs.verified, cs.nclients);
        }
    }

    bench_json_start(&j, "commits");
    bench_json_common(&j);
    bench_json_int(&j, "clients", cs.nclients);
    bench_json_int(&j, "groups", cf->groups);
    bench_json_num(&j, "interval_ms", cf->interval);
    bench_json_num(&j, "seconds", secs);
    bench_json_int(&j, "commits", cs.answered);
    bench_json_num(&j, "commits_per_s", cs.answered / secs);
    bench_json_num(&j, "commits_per_s_asked",
                   cs.nclients * 1000.0 / cf->interval);
    bench_json_int(&j, "skipped", cs.skipped);
    bench_json_hist(&j, "lat", &cs.hist);
    bench_json_int(&j, "verified", cs.verified);
    bench_json_num(&j, "groups_per_interval_per_s",
                   cf->groups * 1000.0 / cf->interval);

    if (admin0 >= 0 && admin1 >= 0) {
        bench_json_int(&j, "admin_requests", admin1 - admin0);
        bench_json_num(&j, "admin_requests_per_s", (admin1 - admin0) / secs);
        bench_json_num(&j, "commits_per_admin_request",
                       admin1 > admin0
                       ? (double) cs.answered / (admin1 - admin0) : 0);

    } else {
        /* the gateway's status has no admin_requests (yet) */
        bench_json_str(&j, "admin_requests", "unknown");
    }

    bench_watch_json(&j, secs);
    bench_json_end(&j);

    return 0;
}


static void
bench_commit_send(bench_commits_t *cs, bench_committer_t *cl, int64_t now)
{
    pubsub_req_t           r;
    KafkaPartitionOffset   po, *ppo[1];

    if (cl->offset) {
        /* the previous one is not answered yet */
        cs->skipped++;
        return;
    }

    cl->offset = cl->acked + 1;
    cl->sent_at = now;
    cl->seq++;

    kafka_partition_offset__init(&po);
    po.partition = cl->part;
    po.offset = cl->offset;
    ppo[0] = &po;

    pubsub_req_commit(&r, cl->seq, cs->groups[cl->group], bench_conf.topic,
                      ppo, 1);

    cs->sent++;

    (void) bench_send_req(cl->conn, &r);
}


static void
bench_commit_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    KafkaCommittedResp  *cr;
    bench_commits_t     *cs;
    bench_committer_t   *cl = c->data;

    cs = bench_commit_data;

    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        bench_fatal("commits: client %u: request %lld: %s", c->index,
                    (long long) resp->sequence, resp->error_resp->message);
    }

    if (resp->sequence != cl->seq) {
        bench_fatal("commits: client %u: answer with sequence %lld to %lld",
                    c->index, (long long) resp->sequence,
                    (long long) cl->seq);
    }

    if (cl->verifying) {
        if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_COMMITTED_RESP) {
            bench_fatal("commits: client %u: committed answered with %d",
                        c->index, resp->resp_case);
        }

        cr = resp->kafka_committed_resp;

        if (cr->n_offsets != 1 || cr->offsets[0]->partition != cl->part
            || cr->offsets[0]->offset != cl->acked)
        {
            bench_fatal("commits: client %u: group %s partition %d holds "
                        "%lld, the last commit answered was %lld", c->index,
                        cs->groups[cl->group], (int) cl->part,
                        cr->n_offsets ? (long long) cr->offsets[0]->offset
                                      : -1LL,
                        (long long) cl->acked);
        }

        if (!cl->verified) {
            cl->verified = 1;
            cs->verified++;
        }

        bench_commit_verify_more(cs);
        return;
    }

    if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_COMMIT_RESP
        || cl->offset == 0)
    {
        bench_fatal("commits: client %u: unexpected answer %d", c->index,
                    resp->resp_case);
    }

    bench_hist_add(&cs->hist, now - cl->sent_at);
    cl->acked = cl->offset;
    cl->offset = 0;
    cs->answered++;
}


static void
bench_commit_verify_more(bench_commits_t *cs)
{
    pubsub_req_t        r;
    bench_committer_t  *cl;

    while (cs->next_verify < cs->nclients
           && cs->next_verify - cs->verified < bench_conf.starts)
    {
        cl = &cs->clients[cs->next_verify++];
        cl->seq++;

        pubsub_req_committed(&r, cl->seq, cs->groups[cl->group],
                             bench_conf.topic, &cl->part, 1);
        (void) bench_send_req(cl->conn, &r);
    }
}


/*
 * probe: one request; "unknown command" (a build without the command)
 * exits 3, the expected answer 0, anything else fails
 */

static int  bench_probe_result = -1;
static char bench_probe_answer[512];


int
bench_probe(void)
{
    int64_t                deadline;
    bench_json_t           j;
    bench_conn_t          *c;
    bench_conf_t          *cf;
    pubsub_req_t           r;
    KafkaPartitionOffset   po, *ppo[1];

    cf = &bench_conf;

    if (cf->request == NULL
        || (strcmp(cf->request, "produce") != 0
            && strcmp(cf->request, "commit") != 0
            && strcmp(cf->request, "subscribe") != 0))
    {
        bench_fatal("probe needs --request produce, commit or subscribe");
    }

    bench_open_pool();

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    c = NULL;
    bench_connect_all(1, NULL, bench_probe_resp, NULL, &c, deadline, 0);

    kafka_partition_offset__init(&po);
    po.partition = cf->parts[0];
    ppo[0] = &po;

    if (strcmp(cf->request, "produce") == 0) {
        pubsub_req_produce(&r, BENCH_PROBE_SEQ, cf->topic);
        r.cmd.produce.target_case = CMD_KAFKA_PRODUCE__TARGET_PARTITION;
        r.cmd.produce.partition = cf->parts[0];
        r.cmd.produce.value.data = (u_char *) "pubsub-bench probe";
        r.cmd.produce.value.len = sizeof("pubsub-bench probe") - 1;

    } else if (strcmp(cf->request, "commit") == 0) {
        po.offset = 0;
        pubsub_req_commit(&r, BENCH_PROBE_SEQ, "pubsub-bench-probe",
                          cf->topic, ppo, 1);

    } else {
        po.offset = -1;
        pubsub_req_subscribe(&r, BENCH_PROBE_SEQ, cf->topic);
        r.cmd.subscribe.partitions = ppo;
        r.cmd.subscribe.n_partitions = 1;
    }

    (void) bench_send_req(c, &r);

    while (bench_probe_result < 0) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("probe: %s not answered in time", cf->request);
        }
    }

    bench_json_start(&j, "probe");
    bench_json_str(&j, "request", cf->request);
    bench_json_int(&j, "supported", bench_probe_result == 0);
    bench_json_str(&j, "answer", bench_probe_answer);
    bench_json_end(&j);

    return bench_probe_result;
}


static void
bench_probe_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    PubSubResp__RespCase  want;
    const char  *req;

    req = bench_conf.request;

    if (resp->sequence != BENCH_PROBE_SEQ) {
        bench_fatal("probe: answer with sequence %lld",
                    (long long) resp->sequence);
    }

    if (bench_probe_result >= 0) {
        /* a subscription's messages */
        return;
    }

    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        snprintf(bench_probe_answer, sizeof(bench_probe_answer), "%d %s",
                 (int) resp->error_resp->code, resp->error_resp->message);

        if (strstr(resp->error_resp->message, "unknown command") == NULL) {
            bench_fatal("probe: %s: %s", req, bench_probe_answer);
        }

        bench_probe_result = 3;
        return;
    }

    want = (strcmp(req, "produce") == 0)
           ? PUB_SUB_RESP__RESP_KAFKA_PRODUCE_RESP
           : (strcmp(req, "commit") == 0)
             ? PUB_SUB_RESP__RESP_KAFKA_COMMIT_RESP
             : PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP;

    if (resp->resp_case != want) {
        bench_fatal("probe: %s answered with %d", req, resp->resp_case);
    }

    snprintf(bench_probe_answer, sizeof(bench_probe_answer), "ok");
    bench_probe_result = 0;
}
