
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Server push, the delivery: from a partition's shared window to the
 * subscriber's socket, filtered, within its credit and the room of its
 * output queue; paused when either is spent, resumed by credit or by the
 * socket draining.  Copies no message: frames share the window's bytes
 * (see ngx_http_pubsub_kafka_answer.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"
#include "ngx_http_pubsub_kafka_subscribe.h"


/* a transient failure (a broker down) is tried again after this, in ms */
#define NGX_HTTP_PUBSUB_KAFKA_RETRY      1000


static ngx_uint_t ngx_http_pubsub_kafka_sub_pass(
    ngx_http_pubsub_kafka_sub_t *s, ngx_http_pubsub_kafka_msg_t *msg);


/*
 * A reader's window holds the partition's next offset: push what it has,
 * as answers of up to pubsub_kafka_fetch_max_bytes, within the room of the
 * output queue and the window of the subscription, while the client reads
 * what it is sent; then wait on, or pause.
 */

void
ngx_http_pubsub_kafka_sub_ready(ngx_http_pubsub_kafka_waiter_t *w)
{
    int64_t                           credit;
    ngx_queue_t                      *q, *start, *sentinel;
    ngx_http_pubsub_kafka_msg_t      *msg;
    ngx_http_pubsub_kafka_sub_t      *s;
    ngx_http_pubsub_kafka_answer_t    answer;
    ngx_http_pubsub_kafka_spart_t    *sp;
    ngx_http_pubsub_kafka_reader_t   *r;

    sp = (ngx_http_pubsub_kafka_spart_t *) w;
    s = sp->sub;
    r = w->reader;

    sp->jumping = 0;

    sentinel = &r->window;
    start = ngx_http_pubsub_kafka_window_find(r, w->offset);

    while (start) {

        credit = s->window ? s->window - s->unacked : NGX_MAX_INT_T_VALUE;

        if (credit <= 0) {
            sp->paused = 1;
            return;
        }

        /*
         * a client that has not read what it was sent gets the messages
         * that come meanwhile in one answer once it has, not in one frame
         * each queued here
         */

        if (ngx_http_pubsub_backed_up(s->cmd)) {
            sp->paused = 1;
            ngx_http_pubsub_wait_room(s->cmd);
            return;
        }

        ngx_http_pubsub_kafka_answer_init(&answer, s->cmd,
                                          s->conf->fetch_max_bytes);

        for (q = start; q != sentinel; q = ngx_queue_next(q)) {
            msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

            if (!ngx_http_pubsub_kafka_sub_pass(s, msg)) {
                /* filtered out: skipped, and costs no credit */
                continue;
            }

            if ((int64_t) answer.messages >= credit
                || ngx_http_pubsub_kafka_answer_add(&answer, msg) != NGX_OK)
            {
                break;
            }
        }

        if (answer.messages == 0 && q != sentinel) {
            /* not even one message fits: the client must read first */
            sp->paused = 1;
            ngx_http_pubsub_wait_room(s->cmd);
            return;
        }

        if (answer.messages) {
            if (ngx_http_pubsub_kafka_answer_send(s->cmd, &answer) != NGX_OK) {
                /* the connection is closing: it cancels us */
                sp->paused = 1;
                return;
            }

            s->unacked += answer.messages;
            ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_PUSH_MESSAGES,
                                         answer.messages);
        }

        /* the last entry walked */

        q = (q == sentinel) ? ngx_queue_last(sentinel) : ngx_queue_prev(q);
        msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);
        w->offset = msg->offset + 1;

        start = (q == ngx_queue_last(sentinel)) ? NULL : ngx_queue_next(q);
    }

    /* everything the window had: wait for more on the reader */

    if (w->offset < r->next) {
        w->offset = r->next;
    }

    ngx_http_pubsub_kafka_dispatch(w);
}


/* the filter: the key, if set, and every header listed, equal */

static ngx_uint_t
ngx_http_pubsub_kafka_sub_pass(ngx_http_pubsub_kafka_sub_t *s,
    ngx_http_pubsub_kafka_msg_t *msg)
{
    u_char                       *p, *last;
    ngx_uint_t                    i, found;
    ngx_http_pubsub_pb_header_t   h;

    if (s->key.len
        && (msg->key_len != s->key.len
            || ngx_memcmp(msg->data + msg->key, s->key.data, s->key.len)
               != 0))
    {
        return 0;
    }

    for (i = 0; i < s->nheaders; i++) {
        p = msg->data + msg->headers;
        last = p + msg->headers_len;
        found = 0;

        while (ngx_http_pubsub_record_header(&p, last, &h) == NGX_OK) {
            if (h.key_len == s->headers[i].key_len
                && h.value_len == s->headers[i].value_len
                && ngx_memcmp(h.key, s->headers[i].key, h.key_len) == 0
                && ngx_memcmp(h.value, s->headers[i].value, h.value_len) == 0)
            {
                found = 1;
                break;
            }
        }

        if (!found) {
            return 0;
        }
    }

    return 1;
}


/*
 * A partition failed.  Its next offset left Kafka (retention): it goes on
 * from the first, and says so.  Kafka unavailable: it tries again.  The
 * partition is gone: the subscription ends with an error.
 */

void
ngx_http_pubsub_kafka_sub_fail(ngx_http_pubsub_kafka_waiter_t *w,
    const char *reason, rd_kafka_resp_err_t err)
{
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_spart_t   *sp;

    sp = (ngx_http_pubsub_kafka_spart_t *) w;
    p = w->partition;

    if (err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {

        if (!sp->jumping) {
            /* the partition's bounds now, not those it had */
            sp->jumping = 1;
            w->looked_up = 0;
            ngx_http_pubsub_kafka_dispatch(w);
            return;
        }

        sp->jumping = 0;

        ngx_log_error(NGX_LOG_INFO, sp->sub->cmd->log, 0,
                      "pubsub: kafka subscription to \"%V\" partition %D "
                      "moves from %L, out of [%L, %L]", &p->topic->sn.str,
                      p->id, w->offset, p->low, p->high);

        w->offset = (w->offset < p->low) ? p->low : p->high;

        if (ngx_http_pubsub_kafka_sub_positions(sp->sub->cmd, sp->sub, sp, 0)
            != NGX_OK)
        {
            sp->paused = 1;
            return;
        }

        ngx_http_pubsub_kafka_dispatch(w);
        return;
    }

    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
        || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
        || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
    {
        ngx_http_pubsub_kafka_sub_error(sp->sub, NGX_HTTP_PUBSUB_NOT_FOUND,
                                        reason, sp);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, sp->sub->cmd->log, 0,
                  "pubsub: kafka subscription to \"%V\" partition %D at %L: "
                  "%s, trying again", &p->topic->sn.str, p->id, w->offset,
                  reason);

    w->looked_up = 0;

    ngx_add_timer(&sp->retry, NGX_HTTP_PUBSUB_KAFKA_RETRY);
}


void
ngx_http_pubsub_kafka_sub_retry(ngx_event_t *ev)
{
    ngx_http_pubsub_kafka_spart_t  *sp;

    sp = ev->data;

    ngx_http_pubsub_kafka_dispatch(&sp->waiter);
}


/* room in the output queue again, or credit: paused partitions go on */

void
ngx_http_pubsub_kafka_sub_resume(ngx_http_pubsub_kafka_sub_t *s)
{
    ngx_uint_t                      i;
    ngx_http_pubsub_kafka_spart_t  *sp;

    if (!s->started) {
        return;
    }

    for (i = 0; i < s->nparts; i++) {
        sp = &s->parts[i];

        if (!sp->paused) {
            continue;
        }

        sp->paused = 0;
        ngx_http_pubsub_kafka_dispatch(&sp->waiter);
    }
}


void
ngx_http_pubsub_kafka_drain(ngx_http_pubsub_session_t *session, void *data)
{
    ngx_queue_t                      *q, *next;
    ngx_http_pubsub_kafka_sub_t      *s;
    ngx_http_pubsub_kafka_session_t  *ss;

    ss = data;

    for (q = ngx_queue_head(&ss->subs);
         q != ngx_queue_sentinel(&ss->subs);
         q = next)
    {
        next = ngx_queue_next(q);
        s = ngx_queue_data(q, ngx_http_pubsub_kafka_sub_t, queue);

        ngx_http_pubsub_kafka_sub_resume(s);
    }
}


/*
 * kafka_subscribe_resp to "to": every partition's next offset, or only
 * those of "only" (a jump), "ended" when it is over.
 */

ngx_int_t
ngx_http_pubsub_kafka_sub_positions(ngx_http_pubsub_cmd_t *to,
    ngx_http_pubsub_kafka_sub_t *s, ngx_http_pubsub_kafka_spart_t *only,
    ngx_uint_t ended)
{
    ngx_int_t                        rc;
    ngx_uint_t                       i, n;
    PubSubResp                       resp = PUB_SUB_RESP__INIT;
    KafkaSubscribeResp               sr = KAFKA_SUBSCRIBE_RESP__INIT;
    KafkaPartitionOffset            *po, **ppo;
    ngx_http_pubsub_kafka_spart_t   *sp;

    n = only ? 1 : s->nparts;

    po = ngx_alloc(n * (sizeof(KafkaPartitionOffset)
                        + sizeof(KafkaPartitionOffset *)) + 1, to->log);
    if (po == NULL) {
        return NGX_ERROR;
    }

    ppo = (KafkaPartitionOffset **) (po + n);

    for (i = 0; i < n; i++) {
        sp = only ? only : &s->parts[i];

        kafka_partition_offset__init(&po[i]);
        po[i].partition = sp->id;
        po[i].offset = sp->waiter.offset;
        ppo[i] = &po[i];
    }

    sr.n_positions = s->started ? n : 0;
    sr.positions = ppo;
    sr.ended = ended;

    resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP;
    resp.kafka_subscribe_resp = &sr;

    rc = ngx_http_pubsub_send(to, &resp);

    ngx_free(po);

    return rc;
}
