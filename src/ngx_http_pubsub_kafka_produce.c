
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * CmdKafkaProduce: one record handed to the worker's producer, answered
 * when its delivery report comes, with the record's place in Kafka.  A
 * report's opaque is a ticket, never the command, so a connection may go
 * while its records are in flight.  Never waits: a full queue is 429.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"


/* a record in flight: its command, NULL once the connection went */

typedef struct {
    ngx_queue_t                          queue;    /* in client->tickets */
    ngx_http_pubsub_cmd_t               *cmd;
} ngx_http_pubsub_kafka_ticket_t;


static ngx_int_t ngx_http_pubsub_kafka_produce(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static ngx_int_t ngx_http_pubsub_kafka_produce_check(
    ngx_http_pubsub_cmd_t *cmd, CmdKafkaProduce *kp);
static ngx_int_t ngx_http_pubsub_kafka_produce_code(rd_kafka_resp_err_t err);
static void ngx_http_pubsub_kafka_produce_cancel(ngx_http_pubsub_cmd_t *cmd);
static void ngx_http_pubsub_kafka_report(ngx_http_pubsub_kafka_client_t *kc,
    const rd_kafka_message_t *m);


ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_produce_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_KAFKA_PRODUCE, ngx_string("produce"),
      ngx_http_pubsub_kafka_produce, ngx_http_pubsub_kafka_produce_cancel,
      NULL, sizeof(ngx_http_pubsub_kafka_ticket_t *),
      NGX_HTTP_PUBSUB_CMD_WRITE },

      ngx_http_pubsub_null_command
};


static ngx_int_t
ngx_http_pubsub_kafka_produce(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    int32_t                            partition;
    ngx_uint_t                         i;
    CmdKafkaProduce                   *kp;
    KafkaHeader                       *kh;
    rd_kafka_headers_t                *hdrs;
    rd_kafka_resp_err_t                err;
    ngx_http_pubsub_kafka_client_t    *kc;
    ngx_http_pubsub_kafka_ticket_t    *tk, **tp;

    kp = req->cmd_kafka_produce;
    tp = cmd->data;

    partition = (kp->target_case == CMD_KAFKA_PRODUCE__TARGET_PARTITION)
                ? kp->partition : RD_KAFKA_PARTITION_UA;

    kc = ngx_http_pubsub_kafka_cmd_client(cmd, 1, "produce", kp->topic,
                                          ngx_max(partition, 0));
    if (kc == NULL) {
        return NGX_OK;
    }

    if (ngx_http_pubsub_kafka_produce_check(cmd, kp) != NGX_OK) {
        return NGX_OK;
    }

    if (kc->producer.rk == NULL) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_UNAVAILABLE,
                                          "failed to produce, topic: %s, "
                                          "err: no producer", kp->topic);
        return NGX_OK;
    }

    tk = ngx_alloc(sizeof(ngx_http_pubsub_kafka_ticket_t), cmd->log);
    if (tk == NULL) {
        return NGX_ERROR;
    }

    hdrs = NULL;

    if (kp->n_headers) {
        hdrs = rd_kafka_headers_new(kp->n_headers);

        for (i = 0; i < kp->n_headers; i++) {
            kh = kp->headers[i];
            (void) rd_kafka_header_add(hdrs, kh->key, -1,
                                       kh->value.len ? kh->value.data : NULL,
                                       (ssize_t) kh->value.len);
        }
    }

    /*
     * never blocks: a full queue is an error at once; no headers (NULL)
     * are the same as none given
     */

    err = rd_kafka_producev(kc->producer.rk,
                            RD_KAFKA_V_TOPIC(kp->topic),
                            RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_KEY(kp->key.data, kp->key.len),
                            RD_KAFKA_V_VALUE(kp->value.data, kp->value.len),
                            RD_KAFKA_V_HEADERS(hdrs),
                            RD_KAFKA_V_TIMESTAMP(kp->timestamp),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE(tk),
                            RD_KAFKA_V_END);

    if (err) {
        if (hdrs) {
            rd_kafka_headers_destroy(hdrs);
        }

        ngx_free(tk);

        kc->nfailed++;
        ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_PRODUCE_FAILED, 1);

        (void) ngx_http_pubsub_send_error(cmd,
                                        ngx_http_pubsub_kafka_produce_code(err),
                                        "failed to produce, topic: %s, "
                                        "partition: %D, err: %s", kp->topic,
                                         partition, rd_kafka_err2name(err));
        return NGX_OK;
    }

    tk->cmd = cmd;
    ngx_queue_insert_tail(&kc->tickets, &tk->queue);
    *tp = tk;

    kc->nproduced++;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_pubsub_kafka_produce_check(ngx_http_pubsub_cmd_t *cmd,
    CmdKafkaProduce *kp)
{
    size_t                             size;
    ngx_uint_t                         i;
    const char                        *reason;
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    conf = cmd->conf;

    size = kp->key.len + kp->value.len;

    for (i = 0; i < kp->n_headers; i++) {
        size += ngx_strlen(kp->headers[i]->key)
                + kp->headers[i]->value.len;
    }

    reason = NULL;

    if (kp->target_case == CMD_KAFKA_PRODUCE__TARGET_PARTITION
        && kp->partition < 0)
    {
        reason = "negative partition";

    } else if (size > conf->produce_max_size) {
        reason = "record over \"pubsub_kafka_produce_max_size\"";

    } else if (kp->n_headers > conf->produce_max_headers) {
        reason = "more headers than \"pubsub_kafka_produce_max_headers\"";

    } else if (kp->timestamp < 0) {
        reason = "negative timestamp";
    }

    for (i = 0; reason == NULL && i < kp->n_headers; i++) {
        if (kp->headers[i]->key[0] == '\0') {
            reason = "a header with no name";
        }
    }

    if (reason == NULL) {
        return NGX_OK;
    }

    if (kp->target_case == CMD_KAFKA_PRODUCE__TARGET_PARTITION) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to produce, topic: %s, "
                                          "partition: %D, err: %s",
                                          kp->topic, kp->partition, reason);
    } else {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to produce, topic: %s, "
                                          "err: %s", kp->topic, reason);
    }

    return NGX_DECLINED;
}


/*
 * An error of librdkafka as a code: whether the record is unknown, refused,
 * or Kafka cannot be reached now.
 */

static ngx_int_t
ngx_http_pubsub_kafka_produce_code(rd_kafka_resp_err_t err)
{
    switch (err) {

    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return NGX_HTTP_PUBSUB_TOO_MANY;

    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return NGX_HTTP_PUBSUB_TIMEOUT;

    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return NGX_HTTP_PUBSUB_NOT_FOUND;

    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        return NGX_HTTP_PUBSUB_BAD_REQUEST;

    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return NGX_HTTP_PUBSUB_FORBIDDEN;

    default:
        return NGX_HTTP_PUBSUB_UNAVAILABLE;
    }
}


/* the connection went: the report, when it comes, finds nobody */

static void
ngx_http_pubsub_kafka_produce_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_ticket_t  **tp;

    tp = cmd->data;

    (*tp)->cmd = NULL;
}


/* delivery reports, on nginx's thread from the producer's main queue */

void
ngx_http_pubsub_kafka_delivered(ngx_http_pubsub_kafka_client_t *kc,
    rd_kafka_event_t *ev)
{
    const rd_kafka_message_t  *m;

    while ((m = rd_kafka_event_message_next(ev)) != NULL) {
        ngx_http_pubsub_kafka_report(kc, m);
    }
}


/*
 * Stored only when librdkafka says so: an error, or a record whose
 * outcome is not known (timed out in flight), is never reported stored.
 */

static void
ngx_http_pubsub_kafka_report(ngx_http_pubsub_kafka_client_t *kc,
    const rd_kafka_message_t *m)
{
    const char                      *topic;
    ngx_uint_t                       maybe;
    ngx_http_pubsub_cmd_t           *cmd;
    rd_kafka_resp_err_t              err;
    KafkaProduceResp                 pr = KAFKA_PRODUCE_RESP__INIT;
    PubSubResp                       resp = PUB_SUB_RESP__INIT;
    ngx_http_pubsub_kafka_ticket_t  *tk;

    tk = m->_private;

    if (tk == NULL) {
        return;
    }

    ngx_queue_remove(&tk->queue);
    cmd = tk->cmd;
    ngx_free(tk);

    err = m->err;

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR
        && rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_PERSISTED)
    {
        err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
    }

    if (err) {
        kc->nfailed++;
        ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_PRODUCE_FAILED, 1);

    } else {
        kc->nacked++;
        ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_PRODUCE_ACKED, 1);
    }

    if (cmd == NULL) {
        return;
    }

    topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";

    if (err) {
        ngx_log_error(NGX_LOG_INFO, cmd->log, 0,
                      "pubsub: kafka produce to \"%s\" partition %D "
                      "failed: %s", topic, m->partition,
                      rd_kafka_err2str(err));

        maybe = (rd_kafka_message_status(m)
                 == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED);

        (void) ngx_http_pubsub_send_error(cmd,
                                        ngx_http_pubsub_kafka_produce_code(err),
                                        "failed to produce, topic: %s, "
                                        "partition: %D, err: %s%s", topic,
                                        m->partition, rd_kafka_err2name(err),
                                        maybe ? " (it may be stored)" : "");
    } else {
        pr.partition = m->partition;
        pr.offset = m->offset;
        pr.timestamp = rd_kafka_message_timestamp(m, NULL);

        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_PRODUCE_RESP;
        resp.kafka_produce_resp = &pr;

        (void) ngx_http_pubsub_send(cmd, &resp);
    }

    ngx_http_pubsub_cmd_done(cmd);
}


/*
 * Worker exit: what the producer holds is still delivered, within
 * pubsub_kafka_produce_flush_timeout; the rest is dropped, and nobody was
 * told it was stored.  The worker has no connection left by now.
 */

void
ngx_http_pubsub_kafka_producer_exit(ngx_http_pubsub_kafka_client_t *kc)
{
    int                              left;
    ngx_msec_t                       start, spent;
    ngx_uint_t                       level;
    ngx_queue_t                     *q;
    rd_kafka_event_t                *ev;
    ngx_http_pubsub_kafka_ticket_t  *tk;

    left = kc->producer.rk ? rd_kafka_outq_len(kc->producer.rk) : 0;

    if (left) {
        /*
         * with the event API librdkafka counts the reports not taken as
         * in flight: they are taken here, as the event loop would
         */

        start = ngx_current_msec;

        for ( ;; ) {
            ngx_time_update();
            spent = ngx_current_msec - start;

            if (rd_kafka_outq_len(kc->producer.rk) == 0
                || spent >= kc->cluster->flush_timeout)
            {
                break;
            }

            ev = rd_kafka_queue_poll(kc->producer.mainq, 100);

            if (ev == NULL) {
                continue;
            }

            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DR) {
                ngx_http_pubsub_kafka_delivered(kc, ev);
            }

            rd_kafka_event_destroy(ev);
        }

        level = rd_kafka_outq_len(kc->producer.rk) ? NGX_LOG_WARN
                                                   : NGX_LOG_INFO;

        ngx_log_error(level, kc->log, 0,
                      "pubsub: kafka %V: %d records in flight at exit, "
                      "%d not delivered within %M ms",
                      &kc->cluster->brokers, left,
                      rd_kafka_outq_len(kc->producer.rk),
                      kc->cluster->flush_timeout);

        (void) rd_kafka_purge(kc->producer.rk,
                              RD_KAFKA_PURGE_F_QUEUE|RD_KAFKA_PURGE_F_INFLIGHT);
    }

    while (!ngx_queue_empty(&kc->tickets)) {
        q = ngx_queue_head(&kc->tickets);
        ngx_queue_remove(q);
        tk = ngx_queue_data(q, ngx_http_pubsub_kafka_ticket_t, queue);
        ngx_free(tk);
    }
}
