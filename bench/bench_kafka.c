
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#define _GNU_SOURCE             /* pipe2() */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench.h"


#define BENCH_CONSUME_BATCH    256      /* as the gateway's drain loop */
#define BENCH_OPAQUE_SEQ_BITS  40


static int bench_conf_set(rd_kafka_conf_t *conf, const char *name,
    const char *value, char *errstr, size_t size);
static void bench_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque);
static void bench_error_cb(rd_kafka_t *rk, int err, const char *reason,
    void *opaque);
static int bench_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
    int props, const char *topic, rd_kafka_t **rk, rd_kafka_topic_t **rkt,
    char *errstr, size_t size);
static void bench_consumer_event(void *data, uint32_t events);


static int
bench_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
    char *errstr, size_t size)
{
    char  err[256];

    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err))
        != RD_KAFKA_CONF_OK)
    {
        snprintf(errstr, size, "property \"%.200s\": %s", name, err);
        return -1;
    }

    return 0;
}


/*
 * The handle of "type" from "conf" (destroyed if it fails) and its topic;
 * with "props", the --property settings first, over the defaults set.
 */

static int
bench_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, int props,
    const char *topic, rd_kafka_t **rk, rd_kafka_topic_t **rkt,
    char *errstr, size_t size)
{
    int            i;
    bench_prop_t  *prop;

    prop = bench_props();

    for (i = 0; props && i < bench_nprops(); i++) {
        if (bench_conf_set(conf, prop[i].name, prop[i].value, errstr, size)) {
            rd_kafka_conf_destroy(conf);
            return -1;
        }
    }

    *rk = rd_kafka_new(type, conf, errstr, size);
    if (*rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }

    *rkt = rd_kafka_topic_new(*rk, topic, NULL);
    if (*rkt == NULL) {
        snprintf(errstr, size, "rd_kafka_topic_new(): %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }

    return 0;
}


/* producer */

int
bench_producer_init(bench_producer_t *p, const char *brokers,
    const char *topic, const int32_t *parts, int nparts, size_t size,
    int linger_ms)
{
    char              linger[32];
    rd_kafka_conf_t  *conf;

    memset(p, 0, sizeof(bench_producer_t));

    if (size < BENCH_VALUE_MIN) {
        snprintf(p->errstr, sizeof(p->errstr),
                 "message size below %d bytes", BENCH_VALUE_MIN);
        return -1;
    }

    p->size = size;
    p->value = bench_calloc(1, size);
    p->nparts = nparts;
    p->parts = bench_calloc(nparts, sizeof(int32_t));
    memcpy(p->parts, parts, nparts * sizeof(int32_t));
    p->state = bench_calloc(nparts, sizeof(bench_pstate_t));

    snprintf(linger, sizeof(linger), "%d", linger_ms);

    conf = rd_kafka_conf_new();

    if (bench_conf_set(conf, "bootstrap.servers", brokers, p->errstr,
                       sizeof(p->errstr))
        || bench_conf_set(conf, "client.id", "pubsub-bench-producer",
                          p->errstr, sizeof(p->errstr))
        || bench_conf_set(conf, "linger.ms", linger, p->errstr,
                          sizeof(p->errstr))
        || bench_conf_set(conf, "batch.num.messages", "10000", p->errstr,
                          sizeof(p->errstr))
        || bench_conf_set(conf, "queue.buffering.max.messages", "2000000",
                          p->errstr, sizeof(p->errstr))
        || bench_conf_set(conf, "queue.buffering.max.kbytes", "1048576",
                          p->errstr, sizeof(p->errstr))
        || bench_conf_set(conf, "message.timeout.ms", "30000", p->errstr,
                          sizeof(p->errstr))
        || bench_conf_set(conf, "log_level", "3", p->errstr,
                          sizeof(p->errstr)))
    {
        rd_kafka_conf_destroy(conf);
        return -1;
    }

    rd_kafka_conf_set_dr_msg_cb(conf, bench_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);

    if (bench_kafka_new(RD_KAFKA_PRODUCER, conf, 0, topic, &p->rk, &p->rkt,
                        p->errstr, sizeof(p->errstr))
        != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * A producer configured as the gateway's own: librdkafka's defaults with
 * acks=all, idempotence, message.timeout.ms 30000 and
 * queue.buffering.max.kbytes 65536, then the properties given with
 * --property
 * (the ceiling of produce through the gateway).  Delivery latencies go to
 * p->dr_hist when it is set.
 */

int
bench_producer_init_bare(bench_producer_t *p, const char *brokers,
    const char *topic, const int32_t *parts, int nparts, size_t size)
{
    rd_kafka_conf_t  *conf;

    memset(p, 0, sizeof(bench_producer_t));

    if (size < BENCH_VALUE_MIN) {
        snprintf(p->errstr, sizeof(p->errstr),
                 "message size below %d bytes", BENCH_VALUE_MIN);
        return -1;
    }

    p->size = size;
    p->value = bench_calloc(1, size);
    p->nparts = nparts;
    p->parts = bench_calloc(nparts, sizeof(int32_t));
    memcpy(p->parts, parts, nparts * sizeof(int32_t));
    p->state = bench_calloc(nparts, sizeof(bench_pstate_t));

    conf = rd_kafka_conf_new();

    if (bench_conf_set(conf, "bootstrap.servers", brokers, p->errstr,
                       sizeof(p->errstr))
        || bench_conf_set(conf, "client.id", "pubsub-bench-producer",
                          p->errstr, sizeof(p->errstr))
        || bench_conf_set(conf, "acks", "all", p->errstr, sizeof(p->errstr))
        || bench_conf_set(conf, "enable.idempotence", "true", p->errstr,
                          sizeof(p->errstr))
        || bench_conf_set(conf, "message.timeout.ms", "30000", p->errstr,
                          sizeof(p->errstr))
        || bench_conf_set(conf, "queue.buffering.max.kbytes", "65536",
                          p->errstr, sizeof(p->errstr))
        || bench_conf_set(conf, "log_level", "3", p->errstr,
                          sizeof(p->errstr)))
    {
        rd_kafka_conf_destroy(conf);
        return -1;
    }

    rd_kafka_conf_set_dr_msg_cb(conf, bench_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);

    if (bench_kafka_new(RD_KAFKA_PRODUCER, conf, 1, topic, &p->rk, &p->rkt,
                        p->errstr, sizeof(p->errstr))
        != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * Delivery reports: a single producer writes each partition, so the
 * offsets of its messages must follow each other in sequence order.
 */

static void
bench_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    int               index;
    int32_t           part;
    int64_t           seq, t, ignored;
    uintptr_t         v;
    bench_pstate_t   *s;
    bench_producer_t *p = opaque;

    v = (uintptr_t) m->_private;
    index = (int) (v >> BENCH_OPAQUE_SEQ_BITS);
    seq = (int64_t) (v & (((uintptr_t) 1 << BENCH_OPAQUE_SEQ_BITS) - 1));

    if (m->err) {
        if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->err = m->err;
        }

        p->failed++;
        return;
    }

    if (p->dr_hist
        && bench_value_parse(m->payload, m->len, &t, &part, &ignored) == 0)
    {
        bench_hist_add(p->dr_hist, bench_now() - t);
    }

    s = &p->state[index];

    if (s->delivered == 0) {
        s->first = m->offset - seq;

    } else if (m->offset != s->last + 1 || m->offset - s->first != seq) {
        if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->err = RD_KAFKA_RESP_ERR__BAD_MSG;
        }

        snprintf(p->errstr, sizeof(p->errstr),
                 "partition %d: message %lld got offset %lld after %lld",
                 (int) m->partition, (long long) seq, (long long) m->offset,
                 (long long) s->last);
        p->failed++;
    }

    s->last = m->offset;
    s->delivered++;
    p->delivered++;
}


/* one message to the partition of index, stamped with the time now */

int
bench_produce(bench_producer_t *p, int index)
{
    int              tries;
    int64_t          seq;
    bench_pstate_t  *s;

    s = &p->state[index];
    seq = s->next_seq;

    bench_value(p->value, p->size, bench_now(), p->parts[index], seq);

    for (tries = 0; tries < 10000; tries++) {
        if (rd_kafka_produce(p->rkt, p->parts[index], RD_KAFKA_MSG_F_COPY,
                             p->value, p->size, NULL, 0,
                             (void *) ((uintptr_t) index
                                       << BENCH_OPAQUE_SEQ_BITS
                                       | (uintptr_t) seq))
            == 0)
        {
            s->next_seq++;
            s->sent++;
            p->sent++;
            return 0;
        }

        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            break;
        }

        rd_kafka_poll(p->rk, 1);
    }

    snprintf(p->errstr, sizeof(p->errstr), "rd_kafka_produce(): %s",
             rd_kafka_err2str(rd_kafka_last_error()));

    return -1;
}


void
bench_producer_poll(bench_producer_t *p)
{
    rd_kafka_poll(p->rk, 0);
}


/* waits for every delivery report; -1 on a failed or misplaced message */

int
bench_producer_flush(bench_producer_t *p, int timeout_ms)
{
    rd_kafka_resp_err_t  err;

    err = rd_kafka_flush(p->rk, timeout_ms);

    if (err) {
        snprintf(p->errstr, sizeof(p->errstr), "flush: %s",
                 rd_kafka_err2str(err));
        return -1;
    }

    if (p->err) {
        if (p->errstr[0] == '\0') {
            snprintf(p->errstr, sizeof(p->errstr), "delivery: %s",
                     rd_kafka_err2str(p->err));
        }

        return -1;
    }

    if (p->delivered != p->sent) {
        snprintf(p->errstr, sizeof(p->errstr),
                 "%lld messages sent, %lld delivered",
                 (long long) p->sent, (long long) p->delivered);
        return -1;
    }

    return 0;
}


void
bench_producer_destroy(bench_producer_t *p)
{
    if (p->rkt) {
        rd_kafka_topic_destroy(p->rkt);
    }

    if (p->rk) {
        rd_kafka_destroy(p->rk);
    }

    free(p->value);
    free(p->parts);
    free(p->state);
    memset(p, 0, sizeof(bench_producer_t));
}


/*
 * The bare consumer: a legacy consumer (no group) reading into one queue
 * that wakes the epoll loop through a pipe, drained 256 messages a call,
 * configured as the gateway configures its own: the module's defaults,
 * then the properties given with --property.
 */

int
bench_consumer_init(bench_consumer_t *c, int ep, const char *brokers,
    const char *topic, bench_message_handler_pt handler, void *ctx)
{
    rd_kafka_conf_t     *conf;
    struct epoll_event   ee;

    memset(c, 0, sizeof(bench_consumer_t));
    c->pipe[0] = -1;
    c->pipe[1] = -1;
    c->handler = handler;
    c->ctx = ctx;

    conf = rd_kafka_conf_new();

    if (bench_conf_set(conf, "bootstrap.servers", brokers, c->errstr,
                       sizeof(c->errstr))
        || bench_conf_set(conf, "client.id", "pubsub-bench-consumer",
                          c->errstr, sizeof(c->errstr))
        || bench_conf_set(conf, "fetch.wait.max.ms", "100", c->errstr,
                          sizeof(c->errstr))
        || bench_conf_set(conf, "queued.min.messages", "1000000",
                          c->errstr, sizeof(c->errstr))
        || bench_conf_set(conf, "queued.max.messages.kbytes", "65536",
                          c->errstr, sizeof(c->errstr))
        || bench_conf_set(conf, "auto.offset.reset", "error", c->errstr,
                          sizeof(c->errstr))
        || bench_conf_set(conf, "enable.partition.eof", "false", c->errstr,
                          sizeof(c->errstr))
        || bench_conf_set(conf, "log_level", "3", c->errstr,
                          sizeof(c->errstr)))
    {
        rd_kafka_conf_destroy(conf);
        return -1;
    }

    rd_kafka_conf_set_error_cb(conf, bench_error_cb);
    rd_kafka_conf_set_opaque(conf, c);

    if (bench_kafka_new(RD_KAFKA_CONSUMER, conf, 1, topic, &c->rk, &c->rkt,
                        c->errstr, sizeof(c->errstr))
        != 0)
    {
        return -1;
    }

    c->queue = rd_kafka_queue_new(c->rk);

    if (pipe2(c->pipe, O_NONBLOCK|O_CLOEXEC) == -1) {
        snprintf(c->errstr, sizeof(c->errstr), "pipe2(): %s",
                 strerror(errno));
        return -1;
    }

    c->event.handler = bench_consumer_event;
    c->event.data = c;

    ee.events = EPOLLIN|EPOLLET;
    ee.data.ptr = &c->event;

    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->pipe[0], &ee) == -1) {
        snprintf(c->errstr, sizeof(c->errstr), "epoll_ctl(): %s",
                 strerror(errno));
        return -1;
    }

    rd_kafka_queue_io_event_enable(c->queue, c->pipe[1], "1", 1);

    return 0;
}


static void
bench_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    bench_consumer_t  *c = opaque;

    c->errors++;

    fprintf(stderr, "pubsub-bench: consumer error: %s: %s\n",
            rd_kafka_err2name(err), reason);
}


int
bench_consumer_start(bench_consumer_t *c, int32_t part, int64_t offset)
{
    if (rd_kafka_consume_start_queue(c->rkt, part, offset, c->queue) == -1) {
        snprintf(c->errstr, sizeof(c->errstr),
                 "rd_kafka_consume_start_queue(%d): %s", (int) part,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }

    return 0;
}


/* the pipe, then the queue to empty: the pipe fires only on 0 -> 1 */

static void
bench_consumer_event(void *data, uint32_t events)
{
    u_char               buf[64];
    int64_t              now;
    ssize_t              n, i;
    bench_consumer_t    *c = data;
    rd_kafka_message_t  *msgs[BENCH_CONSUME_BATCH];

    while (read(c->pipe[0], buf, sizeof(buf)) > 0) {
        /* void */
    }

    for ( ;; ) {
        n = rd_kafka_consume_batch_queue(c->queue, 0, msgs,
                                         BENCH_CONSUME_BATCH);
        if (n <= 0) {
            break;
        }

        now = bench_now();

        for (i = 0; i < n; i++) {
            c->handler(c->ctx, msgs[i], now);
            rd_kafka_message_destroy(msgs[i]);
        }

        if (n < BENCH_CONSUME_BATCH) {
            break;
        }
    }
}


void
bench_consumer_destroy(bench_consumer_t *c, const int32_t *parts,
    int nparts)
{
    int  i;

    if (c->queue) {
        rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
    }

    if (c->rkt) {
        for (i = 0; i < nparts; i++) {
            (void) rd_kafka_consume_stop(c->rkt, parts[i]);
        }

        rd_kafka_topic_destroy(c->rkt);
    }

    if (c->queue) {
        rd_kafka_queue_destroy(c->queue);
    }

    if (c->rk) {
        rd_kafka_destroy(c->rk);
    }

    if (c->pipe[0] != -1) {
        close(c->pipe[0]);
        close(c->pipe[1]);
    }

    memset(c, 0, sizeof(bench_consumer_t));
    c->pipe[0] = -1;
    c->pipe[1] = -1;
}


/* the watermarks, as offsets_for_times() of BEGINNING and END */

int
bench_offsets(rd_kafka_t *rk, const char *topic, int32_t part,
    int64_t *low, int64_t *high)
{
    int                               i;
    int64_t                           want[2] = { RD_KAFKA_OFFSET_BEGINNING,
                                                  RD_KAFKA_OFFSET_END };
    int64_t                           got[2];
    rd_kafka_resp_err_t               err;
    rd_kafka_topic_partition_t       *tp;
    rd_kafka_topic_partition_list_t  *list;

    for (i = 0; i < 2; i++) {
        list = rd_kafka_topic_partition_list_new(1);
        tp = rd_kafka_topic_partition_list_add(list, topic, part);
        tp->offset = want[i];

        err = rd_kafka_offsets_for_times(rk, list, 10000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            err = tp->err;
        }

        got[i] = tp->offset;
        rd_kafka_topic_partition_list_destroy(list);

        if (err) {
            return -1;
        }
    }

    *low = got[0];
    *high = got[1];

    return 0;
}
