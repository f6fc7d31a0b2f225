
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Kafka without the gateway: a producer writing directly (idempotent,
 * acks=all, its delivery reports polled from the loop), and the final read
 * of every partition, [low, high), with a legacy consumer.
 */


#include <stdlib.h>
#include <string.h>

#include "soak.h"


static int soak_conf(rd_kafka_conf_t *conf, const char *name,
    const char *value, char *err, size_t errlen);
static void soak_log_cb(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf);
static void soak_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
    void *opaque);


static int
soak_conf(rd_kafka_conf_t *conf, const char *name, const char *value,
    char *err, size_t errlen)
{
    if (rd_kafka_conf_set(conf, name, value, err, errlen)
        != RD_KAFKA_CONF_OK)
    {
        return -1;
    }

    return 0;
}


int
soak_producer_init(soak_producer_t *p, const char *brokers,
    const char *topic, soak_ack_pt on_ack)
{
    rd_kafka_conf_t  *conf;

    memset(p, 0, sizeof(soak_producer_t));
    p->on_ack = on_ack;

    conf = rd_kafka_conf_new();

    if (soak_conf(conf, "bootstrap.servers", brokers, p->errstr,
                  sizeof(p->errstr)) != 0
        || soak_conf(conf, "client.id", "pubsub-soak", p->errstr,
                     sizeof(p->errstr)) != 0
        || soak_conf(conf, "enable.idempotence", "true", p->errstr,
                     sizeof(p->errstr)) != 0
        || soak_conf(conf, "acks", "all", p->errstr, sizeof(p->errstr)) != 0
        || soak_conf(conf, "linger.ms", "1", p->errstr, sizeof(p->errstr))
           != 0
        || soak_conf(conf, "message.timeout.ms", "30000", p->errstr,
                     sizeof(p->errstr)) != 0)
    {
        rd_kafka_conf_destroy(conf);
        return -1;
    }

    rd_kafka_conf_set_log_cb(conf, soak_log_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, soak_dr_cb);
    rd_kafka_conf_set_opaque(conf, p);

    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, p->errstr,
                         sizeof(p->errstr));
    if (p->rk == NULL) {
        return -1;
    }

    p->rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    if (p->rkt == NULL) {
        snprintf(p->errstr, sizeof(p->errstr), "rd_kafka_topic_new: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }

    return 0;
}


/* brokers going down is what the run is about: only a count */

int64_t  soak_kafka_logs;


static void
soak_log_cb(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
    soak_kafka_logs++;
}


/* the value is copied; ctx comes back in on_ack */

int
soak_producer_send(soak_producer_t *p, int32_t partition,
    const u_char *value, size_t len, void *ctx)
{
    if (rd_kafka_produce(p->rkt, partition, RD_KAFKA_MSG_F_COPY,
                         (void *) value, len, NULL, 0, ctx)
        == -1)
    {
        snprintf(p->errstr, sizeof(p->errstr), "rd_kafka_produce: %s",
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }

    p->sent++;

    return 0;
}


void
soak_producer_poll(soak_producer_t *p)
{
    if (p->rk) {
        (void) rd_kafka_poll(p->rk, 0);
    }
}


static void
soak_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    soak_producer_t  *p = opaque;

    if (m->err) {
        p->failed++;

    } else {
        p->acked++;
    }

    p->on_ack(m->_private, m->partition, m->err ? -1 : m->offset, m->err);
}


/* waits up to ms for what is in flight */

void
soak_producer_free(soak_producer_t *p, int ms)
{
    if (p->rk == NULL) {
        return;
    }

    (void) rd_kafka_flush(p->rk, ms);

    if (p->rkt) {
        rd_kafka_topic_destroy(p->rkt);
    }

    rd_kafka_destroy(p->rk);
    p->rk = NULL;
}


/*
 * Every partition of the topic as Kafka has it now: its watermarks and
 * each value's hash.  Blocking: the run is over.
 */

int
soak_kafka_read(const char *brokers, const char *topic, int nparts,
    soak_log_t *logs, int timeout_ms, char *err, size_t errlen)
{
    int                  i, left, rc;
    char                 done[SOAK_MAX_PARTS];
    double               deadline;
    int64_t              lo, hi;
    rd_kafka_t          *rk;
    rd_kafka_conf_t     *conf;
    rd_kafka_queue_t    *q;
    rd_kafka_topic_t    *rkt;
    rd_kafka_message_t  *m;
    rd_kafka_resp_err_t  e;

    conf = rd_kafka_conf_new();

    if (soak_conf(conf, "bootstrap.servers", brokers, err, errlen) != 0
        || soak_conf(conf, "client.id", "pubsub-soak-check", err, errlen)
           != 0
        || soak_conf(conf, "enable.partition.eof", "true", err, errlen) != 0
        || soak_conf(conf, "fetch.wait.max.ms", "10", err, errlen) != 0)
    {
        rd_kafka_conf_destroy(conf);
        return -1;
    }

    rd_kafka_conf_set_log_cb(conf, soak_log_cb);

    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (rk == NULL) {
        return -1;
    }

    rkt = rd_kafka_topic_new(rk, topic, NULL);
    q = rd_kafka_queue_new(rk);
    rc = -1;
    left = 0;
    memset(done, 0, sizeof(done));
    deadline = soak_now() + timeout_ms / 1000.0;

    for (i = 0; i < nparts; i++) {
        for ( ;; ) {
            e = rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi,
                                                 5000);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                break;
            }

            if (soak_now() > deadline) {
                snprintf(err, errlen, "watermarks of partition %d: %s", i,
                         rd_kafka_err2str(e));
                goto done;
            }
        }

        logs[i].low = lo;
        logs[i].high = hi;
        logs[i].vhash = calloc(hi + 1, sizeof(uint64_t));

        if (logs[i].vhash == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }

        if (hi > lo) {
            if (rd_kafka_consume_start_queue(rkt, i, lo, q) == -1) {
                snprintf(err, errlen, "consume_start(%d): %s", i,
                         rd_kafka_err2str(rd_kafka_last_error()));
                goto done;
            }

            left++;
        }
    }

    while (left > 0) {
        if (soak_now() > deadline) {
            snprintf(err, errlen, "reading the topic back timed out");
            goto done;
        }

        m = rd_kafka_consume_queue(q, 100);
        if (m == NULL) {
            continue;
        }

        i = m->partition;

        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->offset >= logs[i].high && !done[i]) {
                done[i] = 1;
                left--;
            }

        } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (m->offset >= logs[i].low && m->offset < logs[i].high) {
                logs[i].vhash[m->offset] = soak_fnv(m->payload, m->len);
            }

        }

        rd_kafka_message_destroy(m);
    }

    rc = 0;

done:

    for (i = 0; i < nparts; i++) {
        if (logs[i].vhash) {
            (void) rd_kafka_consume_stop(rkt, i);
        }
    }

    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);

    return rc;
}
