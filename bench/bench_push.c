
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Scenarios of the extension's server push (CmdKafkaSubscribe,
 * CmdKafkaCredit, CmdKafkaUnsubscribe), and the scattered resume of many
 * clients, subscribed or in fetch loops:
 *
 *   push-catchup    one subscription of --partitions (or of all the
 *                   topic's, --all-partitions) from their first offset,
 *                   to the end they had when it began
 *   scatter         --clients subscribers of the first partition, each
 *                   from its own offset among the last --last messages,
 *                   spread evenly, to the end
 *   scatter-fetch   the same, each client in a fetch loop
 *
 * Every message is checked: offsets contiguous from the start, the
 * partition, the sequence number the fill gave it (offset - first offset
 * of the partition).
 */


#include <stdlib.h>
#include <string.h>

#include "bench.h"


#define BENCH_SUB_SEQ          ((int64_t) 1 << 40)
#define BENCH_UNSUB_SEQ        (BENCH_SUB_SEQ + 1)


/* push-catchup */

typedef struct {
    int32_t              part;
    int64_t              low;
    int64_t              high;
    int64_t              next;
    unsigned             started:1;
    unsigned             done:1;
} bench_ppart_t;


typedef struct {
    bench_conn_t        *conn;
    bench_ppart_t       *parts;
    int                  nparts;
    int                 *index;      /* partition id -> parts[] */
    int32_t              max_id;
    int                  listed;     /* list requests answered */
    int                  started;    /* the positions came */
    int                  finished;
    int                  ended;      /* the unsubscribe was answered */
    int                  window;
    int                  check_seq;

    int64_t              received;
    int64_t              bytes;
    int64_t              answers;
    int64_t              credits;
    int64_t              first;      /* the subscribe went */
    int64_t              positions;  /* its first answer came */
    int64_t              last;       /* the last message came */
} bench_push_t;


/* scatter, scatter-fetch */

typedef struct bench_scatter_s  bench_scatter_t;

typedef struct {
    bench_scatter_t     *sc;
    bench_conn_t        *conn;
    int64_t              start;
    int64_t              next;
    int64_t              seq;
    int64_t              sent;       /* its first request went */
    unsigned             started:1;  /* its first request went */
    unsigned             answered:1; /* its first answer came */
    unsigned             got:1;      /* its first message came */
    unsigned             done:1;
} bench_sclient_t;


struct bench_scatter_s {
    bench_sclient_t     *clients;
    int                  nclients;
    int                  push;
    int                  window;
    int32_t              part;
    int64_t              low;
    int64_t              high;

    int                  starting;
    int                  next_start;
    int                  done;

    int64_t              deliveries;
    int64_t              answers;
    int64_t              empty;
    int64_t              credits;
    int64_t              first;
    int64_t              last;
    bench_hist_t         start_hist; /* first request to first message */
    bench_hist_t         done_hist;  /* first request to its end */
};


static void bench_push_open(bench_conn_t *c);
static void bench_push_list(bench_push_t *ps);
static void bench_push_subscribe(bench_push_t *ps);
static void bench_push_resp(bench_conn_t *c, PubSubResp *resp, int64_t now);
static void bench_push_positions(bench_push_t *ps, KafkaSubscribeResp *sr);
static void bench_push_ended(bench_push_t *ps, KafkaSubscribeResp *sr);
static bench_ppart_t *bench_push_part(bench_push_t *ps, int32_t id);
static void bench_scatter_start_more(bench_scatter_t *sc);
static void bench_scatter_request(bench_sclient_t *cl);
static void bench_scatter_resp(bench_conn_t *c, PubSubResp *resp,
    int64_t now);
static void bench_scatter_answered(bench_sclient_t *cl);
static int bench_status_read(const char *what, char *buf, size_t size);


/*
 * push-catchup: the partitions' extent is listed first (untimed), then one
 * CmdKafkaSubscribe of them from the earliest, timed from the request to
 * the last message; then the unsubscribe must give every end back.
 */

int
bench_push_catchup(void)
{
    int            i;
    int64_t        deadline, wire, answers;
    double         secs;
    bench_json_t   j;
    bench_conf_t  *cf;
    bench_push_t   ps;

    cf = &bench_conf;

    bench_open_pool();

    memset(&ps, 0, sizeof(bench_push_t));
    ps.parts = bench_calloc(cf->nparts, sizeof(bench_ppart_t));
    ps.nparts = cf->nparts;
    ps.window = cf->window;
    ps.check_seq = cf->check_seq;

    for (i = 0; i < cf->nparts; i++) {
        ps.parts[i].part = cf->parts[i];

        if (cf->parts[i] > ps.max_id) {
            ps.max_id = cf->parts[i];
        }
    }

    if (ps.max_id < 65536) {
        ps.index = bench_calloc(ps.max_id + 1, sizeof(int));

        for (i = 0; i <= ps.max_id; i++) {
            ps.index[i] = -1;
        }

        for (i = 0; i < cf->nparts; i++) {
            ps.index[cf->parts[i]] = i;
        }
    }

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    ps.conn = bench_connect(&bench_pool, bench_push_open, bench_push_resp,
                            &ps);
    if (ps.conn == NULL) {
        bench_fatal("%s", bench_pool.err);
    }

    while (ps.listed < 2 * ps.nparts) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("push-catchup: offsets not listed in time");
        }
    }

    wire = bench_pool.wire_bytes;
    answers = bench_pool.answers;

    bench_watch_start();
    ps.first = bench_now();

    bench_push_subscribe(&ps);

    while (ps.finished < ps.nparts) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("push-catchup: %lld messages, %d of %d partitions "
                        "complete within the time limit",
                        (long long) ps.received, ps.finished, ps.nparts);
        }
    }

    bench_watch_stop();
    secs = bench_seconds(ps.first, ps.last);
    wire = bench_pool.wire_bytes - wire;
    answers = bench_pool.answers - answers;

    /* over: the unsubscribe answers with where each partition stands */

    {
        pubsub_req_t  r;

        pubsub_req_unsubscribe(&r, BENCH_UNSUB_SEQ, BENCH_SUB_SEQ);
        (void) bench_send_req(ps.conn, &r);
    }

    while (!ps.ended) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("push-catchup: the unsubscribe was not answered");
        }
    }

    bench_json_start(&j, "push_catchup");
    bench_json_common(&j);
    bench_json_str(&j, "topic", cf->topic);
    bench_json_int(&j, "partitions", ps.nparts);
    bench_json_int(&j, "all_partitions", cf->all_partitions);
    bench_json_int(&j, "window", ps.window);
    bench_json_int(&j, "messages", ps.received);
    bench_json_num(&j, "seconds", secs);
    bench_json_num(&j, "msgs_per_s", ps.received / secs);
    bench_json_num(&j, "mb_per_s", ps.bytes / secs / 1e6);
    bench_json_num(&j, "wire_mb_per_s", wire / secs / 1e6);
    bench_json_num(&j, "start_ms", (ps.positions - ps.first) / 1000.0);
    bench_json_int(&j, "answers", answers);
    bench_json_num(&j, "msgs_per_answer",
                   answers ? (double) ps.received / answers : 0);
    bench_json_int(&j, "credits", ps.credits);
    bench_watch_json(&j, secs);
    bench_json_end(&j);

    return 0;
}


static void
bench_push_open(bench_conn_t *c)
{
    bench_push_t  *ps = c->data;

    ps->conn = c;
    bench_push_list(ps);
}


/* earliest then end of each partition, one request at a time */

static void
bench_push_list(bench_push_t *ps)
{
    int            i;
    pubsub_req_t   r;

    i = ps->listed / 2;

    pubsub_req_list_offset(&r, ps->listed + 1, bench_conf.topic,
                           ps->parts[i].part, (ps->listed % 2) ? -1 : -2);

    (void) bench_send_req(ps->conn, &r);
}


static void
bench_push_subscribe(bench_push_t *ps)
{
    int                    i;
    pubsub_req_t           r;
    KafkaPartitionOffset  *po, **ppo;

    pubsub_req_subscribe(&r, BENCH_SUB_SEQ, bench_conf.topic);

    po = bench_calloc(ps->nparts, sizeof(KafkaPartitionOffset));
    ppo = bench_calloc(ps->nparts, sizeof(KafkaPartitionOffset *));

    if (bench_conf.all_partitions) {
        r.cmd.subscribe.all_partitions = 1;
        r.cmd.subscribe.start = -2;

    } else {
        for (i = 0; i < ps->nparts; i++) {
            kafka_partition_offset__init(&po[i]);
            po[i].partition = ps->parts[i].part;
            po[i].offset = -2;
            ppo[i] = &po[i];
        }

        r.cmd.subscribe.partitions = ppo;
        r.cmd.subscribe.n_partitions = ps->nparts;
    }

    r.cmd.subscribe.window = ps->window;

    (void) bench_send_req(ps->conn, &r);

    free(po);
    free(ppo);
}


static bench_ppart_t *
bench_push_part(bench_push_t *ps, int32_t id)
{
    int  i;

    if (ps->index) {
        if (id < 0 || id > ps->max_id || ps->index[id] < 0) {
            return NULL;
        }

        return &ps->parts[ps->index[id]];
    }

    for (i = 0; i < ps->nparts; i++) {
        if (ps->parts[i].part == id) {
            return &ps->parts[i];
        }
    }

    return NULL;
}


static void
bench_push_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    size_t           i;
    int32_t          part;
    int64_t          t, seq;
    pubsub_req_t     r;
    KafkaMessage    *m;
    bench_ppart_t   *pp;
    KafkaFetchResp  *fr;
    bench_push_t    *ps = c->data;

    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        bench_fatal("push-catchup: request %lld: %s",
                    (long long) resp->sequence, resp->error_resp->message);
    }

    /* the listing */

    if (resp->sequence >= 1 && resp->sequence <= 2 * ps->nparts) {
        if (resp->sequence != ps->listed + 1
            || resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP)
        {
            bench_fatal("push-catchup: unexpected answer to a look-up");
        }

        pp = &ps->parts[ps->listed / 2];

        if (ps->listed % 2) {
            pp->high = resp->kafka_list_offset_resp->offset;

        } else {
            pp->low = resp->kafka_list_offset_resp->offset;
        }

        if (++ps->listed < 2 * ps->nparts) {
            bench_push_list(ps);
        }

        return;
    }

    if (resp->sequence == BENCH_UNSUB_SEQ) {
        if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP) {
            bench_fatal("push-catchup: the unsubscribe answered with %d",
                        resp->resp_case);
        }

        bench_push_ended(ps, resp->kafka_subscribe_resp);
        return;
    }

    if (resp->sequence != BENCH_SUB_SEQ) {
        bench_fatal("push-catchup: answer with unexpected sequence %lld",
                    (long long) resp->sequence);
    }

    if (resp->resp_case == PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP) {
        if (ps->started) {
            /* a jump over messages that left Kafka, or the end */
            bench_fatal("push-catchup: the subscription moved or ended "
                        "(%zu positions%s)",
                        resp->kafka_subscribe_resp->n_positions,
                        resp->kafka_subscribe_resp->ended ? ", ended" : "");
        }

        ps->positions = now;
        bench_push_positions(ps, resp->kafka_subscribe_resp);
        return;
    }

    if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP) {
        bench_fatal("push-catchup: unexpected answer %d", resp->resp_case);
    }

    if (!ps->started) {
        bench_fatal("push-catchup: messages before the positions");
    }

    fr = resp->kafka_fetch_resp;
    pp = NULL;

    for (i = 0; i < fr->n_messages; i++) {
        m = fr->messages[i];

        if (pp == NULL || pp->part != m->partition) {
            pp = bench_push_part(ps, m->partition);

            if (pp == NULL) {
                bench_fatal("push-catchup: a message of partition %d",
                            (int) m->partition);
            }

            if (i > 0) {
                bench_fatal("push-catchup: one answer with messages of "
                            "two partitions");
            }
        }

        if (m->offset != pp->next) {
            bench_fatal("push-catchup: partition %d: offset %lld, expected "
                        "%lld", pp->part, (long long) m->offset,
                        (long long) pp->next);
        }

        if (bench_value_parse(m->value.data, m->value.len, &t, &part, &seq)
            != 0
            || part != pp->part
            || (ps->check_seq && seq != m->offset - pp->low))
        {
            bench_fatal("push-catchup: partition %d offset %lld: wrong "
                        "value", pp->part, (long long) m->offset);
        }

        pp->next++;
        ps->received++;
        ps->bytes += m->value.len;

        if (pp->next == pp->high) {
            pp->done = 1;
            ps->finished++;

        } else if (pp->next > pp->high) {
            bench_fatal("push-catchup: partition %d: offset %lld, past the "
                        "end %lld listed", pp->part, (long long) m->offset,
                        (long long) pp->high);
        }
    }

    ps->answers++;

    if (fr->n_messages) {
        ps->last = now;
    }

    if (ps->window && fr->n_messages) {
        pubsub_req_credit(&r, 0, BENCH_SUB_SEQ, (int32_t) fr->n_messages);
        (void) bench_send_req(c, &r);
        ps->credits++;
    }
}


/* the first answer: every partition, each from its first offset */

static void
bench_push_positions(bench_push_t *ps, KafkaSubscribeResp *sr)
{
    size_t          i;
    bench_ppart_t  *pp;

    if (sr->ended || sr->n_positions != (size_t) ps->nparts) {
        bench_fatal("push-catchup: %zu positions for %d partitions%s "
                    "(--partitions must list all the topic's with "
                    "--all-partitions)", sr->n_positions, ps->nparts,
                    sr->ended ? ", ended" : "");
    }

    for (i = 0; i < sr->n_positions; i++) {
        pp = bench_push_part(ps, sr->positions[i]->partition);

        if (pp == NULL || pp->started) {
            bench_fatal("push-catchup: position of partition %d",
                        (int) sr->positions[i]->partition);
        }

        if (sr->positions[i]->offset != pp->low) {
            bench_fatal("push-catchup: partition %d starts at %lld, its "
                        "first offset is %lld", pp->part,
                        (long long) sr->positions[i]->offset,
                        (long long) pp->low);
        }

        pp->started = 1;
        pp->next = pp->low;

        if (pp->next >= pp->high) {
            pp->done = 1;
            ps->finished++;
        }
    }

    ps->started = 1;
}


/* the unsubscribe's answer: ended, every partition at its end */

static void
bench_push_ended(bench_push_t *ps, KafkaSubscribeResp *sr)
{
    size_t          i;
    bench_ppart_t  *pp;

    if (!sr->ended || sr->n_positions != (size_t) ps->nparts) {
        bench_fatal("push-catchup: the unsubscribe answered %s with %zu "
                    "positions", sr->ended ? "ended" : "not ended",
                    sr->n_positions);
    }

    for (i = 0; i < sr->n_positions; i++) {
        pp = bench_push_part(ps, sr->positions[i]->partition);

        if (pp == NULL || sr->positions[i]->offset != pp->high) {
            bench_fatal("push-catchup: ended at %lld on partition %d, its "
                        "end is %lld", (long long) sr->positions[i]->offset,
                        (int) sr->positions[i]->partition,
                        pp ? (long long) pp->high : -1LL);
        }
    }

    ps->ended = 1;
}


/*
 * scatter: --clients clients of the first partition, client i from
 * end - L + i * L / clients (L: --last, at most what the partition holds),
 * each to the end the partition had at the start; --starts of them start
 * at once, the next when one has its first answer.  The connections are
 * open before the time starts.
 */

int
bench_scatter(int push)
{
    int               i;
    char             *status;
    int64_t           deadline, span, read0, read1, starts0, starts1;
    double            secs;
    bench_json_t      j;
    bench_conf_t     *cf;
    bench_scatter_t   sc;
    bench_producer_t  p;
    void            **data;

    cf = &bench_conf;

    if (cf->brokers == NULL || cf->clients < 1) {
        bench_fatal("scatter needs --brokers and --clients");
    }

    memset(&sc, 0, sizeof(bench_scatter_t));
    sc.push = push;
    sc.window = cf->window;
    sc.part = cf->parts[0];
    sc.nclients = cf->clients;
    sc.clients = bench_calloc(cf->clients, sizeof(bench_sclient_t));
    bench_hist_init(&sc.start_hist);
    bench_hist_init(&sc.done_hist);

    /* the partition's extent, with a librdkafka handle: untimed */

    if (bench_producer_init(&p, cf->brokers, cf->topic, cf->parts, 1,
                            cf->size, 0)
        != 0)
    {
        bench_fatal("producer: %s", p.errstr);
    }

    if (bench_offsets(p.rk, cf->topic, sc.part, &sc.low, &sc.high) != 0) {
        bench_fatal("scatter: watermarks of %s/%d unknown", cf->topic,
                    sc.part);
    }

    bench_producer_destroy(&p);

    span = sc.high - sc.low;

    if (cf->last && cf->last < span) {
        span = cf->last;
    }

    if (span < 1) {
        bench_fatal("scatter: no messages in %s/%d", cf->topic, sc.part);
    }

    for (i = 0; i < sc.nclients; i++) {
        sc.clients[i].sc = &sc;
        sc.clients[i].start = sc.high - span
                              + (int64_t) ((double) i * span / sc.nclients);
        sc.clients[i].next = sc.clients[i].start;
    }

    bench_open_pool();

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    data = bench_calloc(sc.nclients, sizeof(void *));

    for (i = 0; i < sc.nclients; i++) {
        data[i] = &sc.clients[i];
    }

    {
        bench_conn_t  **conns;

        conns = bench_calloc(sc.nclients, sizeof(bench_conn_t *));

        bench_connect_all(sc.nclients, NULL, bench_scatter_resp, data, conns,
                          deadline, 0);

        for (i = 0; i < sc.nclients; i++) {
            sc.clients[i].conn = conns[i];
        }

        free(conns);
    }

    free(data);

    status = NULL;
    read0 = -1;
    starts0 = -1;

    if (cf->status) {
        status = bench_calloc(1, 1 << 22);

        if (bench_status_read("before", status, 1 << 22) == 0) {
            read0 = bench_status_sum(status, "messages", 0);
            starts0 = bench_status_sum(status, "starts", 1);

        } else {
            free(status);
            status = NULL;
        }
    }

    bench_log("scatter: %d clients from %lld-%lld to %lld", sc.nclients,
              (long long) sc.clients[0].start,
              (long long) sc.clients[sc.nclients - 1].start,
              (long long) sc.high);

    bench_watch_start();
    sc.first = bench_now();

    bench_scatter_start_more(&sc);

    while (sc.done < sc.nclients) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("scatter: %d of %d clients at the end, %lld "
                        "deliveries, within the time limit", sc.done,
                        sc.nclients, (long long) sc.deliveries);
        }
    }

    bench_watch_stop();
    secs = bench_seconds(sc.first, sc.last);

    read1 = -1;
    starts1 = -1;

    if (status && bench_status_read("after", status, 1 << 22) == 0) {
        read1 = bench_status_sum(status, "messages", 0);
        starts1 = bench_status_sum(status, "starts", 1);

        /* a fresh worker has no Kafka client or partition to count yet */

        read0 = (read0 < 0 && read1 >= 0) ? 0 : read0;
        starts0 = (starts0 < 0 && starts1 >= 0) ? 0 : starts0;
    }

    bench_json_start(&j, push ? "scatter" : "scatter_fetch");
    bench_json_common(&j);
    bench_json_str(&j, "mode", push ? "push" : "fetch");
    bench_json_int(&j, "clients", sc.nclients);
    bench_json_int(&j, "last", span);
    bench_json_int(&j, "starts_at_once", cf->starts);

    if (push) {
        bench_json_int(&j, "window", sc.window);
        bench_json_int(&j, "credits", sc.credits);
    }

    bench_json_int(&j, "deliveries", sc.deliveries);
    bench_json_num(&j, "seconds", secs);
    bench_json_num(&j, "deliveries_per_s", sc.deliveries / secs);
    bench_json_int(&j, "answers", sc.answers);
    bench_json_int(&j, "empty_answers", sc.empty);
    bench_json_hist(&j, "first_msg", &sc.start_hist);
    bench_json_hist(&j, "done", &sc.done_hist);

    if (read0 >= 0 && read1 >= 0) {
        /* what the worker read from Kafka meanwhile, all its partitions */
        bench_json_int(&j, "kafka_messages", read1 - read0);
        bench_json_num(&j, "kafka_reads_per_message",
                       (double) (read1 - read0) / span);
    }

    if (starts0 >= 0 && starts1 >= 0) {
        bench_json_int(&j, "reader_starts", starts1 - starts0);
    }

    bench_watch_json(&j, secs);
    bench_json_end(&j);

    return 0;
}


static int
bench_status_read(const char *what, char *buf, size_t size)
{
    char  err[512];

    if (bench_status_get(bench_conf.status, bench_conf.remote, buf, size,
                         err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "pubsub-bench: status %s: %s\n", what, err);
        return -1;
    }

    return 0;
}


static void
bench_scatter_start_more(bench_scatter_t *sc)
{
    bench_sclient_t  *cl;

    while (sc->next_start < sc->nclients && sc->starting < bench_conf.starts)
    {
        cl = &sc->clients[sc->next_start++];
        cl->started = 1;
        cl->sent = bench_now();
        sc->starting++;

        if (cl->next >= sc->high) {
            /* nothing to read: not possible with an even spread */
            bench_fatal("scatter: client %u starts at the end",
                        cl->conn->index);
        }

        bench_scatter_request(cl);
    }
}


static void
bench_scatter_request(bench_sclient_t *cl)
{
    pubsub_req_t           r;
    KafkaPartitionOffset   po, *ppo[1];

    cl->seq++;

    if (cl->sc->push) {
        kafka_partition_offset__init(&po);
        po.partition = cl->sc->part;
        po.offset = cl->start;
        ppo[0] = &po;

        pubsub_req_subscribe(&r, cl->seq, bench_conf.topic);
        r.cmd.subscribe.partitions = ppo;
        r.cmd.subscribe.n_partitions = 1;
        r.cmd.subscribe.window = cl->sc->window;

    } else {
        pubsub_req_fetch(&r, cl->seq, bench_conf.topic, cl->sc->part,
                         cl->next);
    }

    (void) bench_send_req(cl->conn, &r);
}


static void
bench_scatter_answered(bench_sclient_t *cl)
{
    if (cl->answered) {
        return;
    }

    cl->answered = 1;
    cl->sc->starting--;

    bench_scatter_start_more(cl->sc);
}


static void
bench_scatter_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    size_t              i;
    int32_t             part;
    int64_t             t, seq;
    pubsub_req_t        r;
    KafkaMessage       *m;
    KafkaFetchResp     *fr;
    bench_scatter_t    *sc;
    KafkaSubscribeResp *sr;
    bench_sclient_t    *cl = c->data;

    sc = cl->sc;

    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        bench_fatal("scatter: client %u: request %lld: %s", c->index,
                    (long long) resp->sequence, resp->error_resp->message);
    }

    if (resp->sequence != cl->seq) {
        bench_fatal("scatter: client %u: answer with sequence %lld to "
                    "%lld", c->index, (long long) resp->sequence,
                    (long long) cl->seq);
    }

    if (resp->resp_case == PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP) {
        sr = resp->kafka_subscribe_resp;

        if (!sc->push || cl->answered || sr->ended || sr->n_positions != 1
            || sr->positions[0]->partition != sc->part
            || sr->positions[0]->offset != cl->start)
        {
            bench_fatal("scatter: client %u: unexpected subscription "
                        "answer (%s, %zu positions, the first %lld, asked "
                        "%lld)", c->index, sr->ended ? "ended" : "not ended",
                        sr->n_positions,
                        sr->n_positions
                        ? (long long) sr->positions[0]->offset : -1LL,
                        (long long) cl->start);
        }

        bench_scatter_answered(cl);
        return;
    }

    if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP) {
        bench_fatal("scatter: client %u: unexpected answer %d", c->index,
                    resp->resp_case);
    }

    if (sc->push && !cl->answered) {
        bench_fatal("scatter: client %u: messages before the positions",
                    c->index);
    }

    fr = resp->kafka_fetch_resp;
    sc->answers++;

    if (fr->n_messages == 0) {
        sc->empty++;
    }

    for (i = 0; i < fr->n_messages; i++) {
        m = fr->messages[i];

        if (m->offset != cl->next) {
            bench_fatal("scatter: client %u: offset %lld, expected %lld",
                        c->index, (long long) m->offset,
                        (long long) cl->next);
        }

        if (cl->done) {
            bench_fatal("scatter: client %u: offset %lld past the end %lld "
                        "it had", c->index, (long long) m->offset,
                        (long long) sc->high);
        }

        if (bench_value_parse(m->value.data, m->value.len, &t, &part, &seq)
            != 0
            || part != sc->part
            || (sc->push && m->partition != sc->part)
            || (bench_conf.check_seq && seq != m->offset - sc->low))
        {
            bench_fatal("scatter: client %u: offset %lld: wrong value",
                        c->index, (long long) m->offset);
        }

        cl->next++;
        sc->deliveries++;

        if (cl->next == sc->high) {
            cl->done = 1;
            sc->done++;
            sc->last = now;
            bench_hist_add(&sc->done_hist, now - sc->first);
        }
    }

    if (fr->n_messages && !cl->got) {
        cl->got = 1;
        bench_hist_add(&sc->start_hist, now - cl->sent);
    }

    if (!sc->push) {
        bench_scatter_answered(cl);

        if (!cl->done) {
            bench_scatter_request(cl);
        }

        return;
    }

    if (sc->window && fr->n_messages && !cl->done) {
        pubsub_req_credit(&r, 0, cl->seq, (int32_t) fr->n_messages);
        (void) bench_send_req(c, &r);
        sc->credits++;
    }
}
