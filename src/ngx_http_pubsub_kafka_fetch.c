
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * APISIX's two Kafka commands, CmdKafkaListOffset and CmdKafkaFetch, with
 * APISIX's error strings and code 0.  A fetch is a waiter of the readers;
 * it is answered from a window, by its deadline whatever happens.  It
 * never reads Kafka or moves a reader itself: the dispatch does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"


typedef struct {
    ngx_http_pubsub_cmd_t               *cmd;      /* NULL: gone */
    rd_kafka_t                          *rk;
    char                                 topic[NGX_HTTP_PUBSUB_KAFKA_TOPIC_MAX
                                               + 1];
    int32_t                              id;
    int64_t                              timestamp;
    int                                  timeout;
    rd_kafka_resp_err_t                  err;
    int64_t                              offset;
} ngx_http_pubsub_kafka_list_t;


typedef struct {
    ngx_http_pubsub_kafka_waiter_t       waiter;   /* first */
    ngx_http_pubsub_cmd_t               *cmd;
    ngx_http_pubsub_kafka_loc_conf_t    *conf;
    ngx_event_t                          timer;

    unsigned                             at_end:1; /* fetch_max_wait */
} ngx_http_pubsub_kafka_fetch_t;


static ngx_int_t ngx_http_pubsub_kafka_list_offset(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static void ngx_http_pubsub_kafka_list_cancel(ngx_http_pubsub_cmd_t *cmd);
static void ngx_http_pubsub_kafka_list_run(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_listed(ngx_http_pubsub_kafka_task_t *t);
static ngx_int_t ngx_http_pubsub_kafka_fetch(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static void ngx_http_pubsub_kafka_fetch_cancel(ngx_http_pubsub_cmd_t *cmd);
static void ngx_http_pubsub_kafka_fetch_ready(
    ngx_http_pubsub_kafka_waiter_t *w);
static void ngx_http_pubsub_kafka_fetch_fail(
    ngx_http_pubsub_kafka_waiter_t *w, const char *reason,
    rd_kafka_resp_err_t err);
static void ngx_http_pubsub_kafka_fetch_waiting(
    ngx_http_pubsub_kafka_waiter_t *w);
static void ngx_http_pubsub_kafka_fetch_timeout(ngx_event_t *ev);
static void ngx_http_pubsub_kafka_fetch_finish(
    ngx_http_pubsub_kafka_fetch_t *f);


ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_fetch_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_KAFKA_LIST_OFFSET, ngx_string("list_offset"),
      ngx_http_pubsub_kafka_list_offset, ngx_http_pubsub_kafka_list_cancel,
      NULL, sizeof(ngx_http_pubsub_kafka_task_t *),
      NGX_HTTP_PUBSUB_CMD_READ },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH, ngx_string("fetch"),
      ngx_http_pubsub_kafka_fetch, ngx_http_pubsub_kafka_fetch_cancel,
      NULL, sizeof(ngx_http_pubsub_kafka_fetch_t),
      NGX_HTTP_PUBSUB_CMD_READ },

      ngx_http_pubsub_null_command
};


/*
 * The location's Kafka client for a command on topic and partition, or
 * NULL when the command was answered with an error: a bad topic name or
 * partition, or a client that could not start in this worker.  "ext":
 * the error codes of the extension's commands, not APISIX's 0.
 */

ngx_http_pubsub_kafka_client_t *
ngx_http_pubsub_kafka_cmd_client(ngx_http_pubsub_cmd_t *cmd, ngx_uint_t ext,
    const char *what, char *topic, int32_t partition)
{
    u_char                             name[NGX_HTTP_PUBSUB_KAFKA_NAME_TEXT];
    size_t                             len;
    ngx_int_t                          code;
    const char                        *reason;
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    conf = cmd->conf;
    len = ngx_strlen(topic);
    code = ext ? NGX_HTTP_PUBSUB_BAD_REQUEST : 0;

    if (ngx_http_pubsub_kafka_check_topic((u_char *) topic, len) != NGX_OK) {
        reason = "invalid topic name";

    } else if (ngx_http_pubsub_kafka_allowed(cmd,
                               (cmd->command->flags & NGX_HTTP_PUBSUB_CMD_WRITE)
                               ? NGX_HTTP_PUBSUB_KAFKA_WRITE
                               : NGX_HTTP_PUBSUB_KAFKA_READ,
                                (u_char *) topic, len)
               != NGX_OK)
    {
        /* answered: 403, before Kafka is asked anything */
        return NULL;

    } else if (partition < 0) {
        reason = "invalid partition";

    } else if (conf->cluster == NULL || conf->cluster->client == NULL) {
        reason = "kafka client not started";
        code = ext ? NGX_HTTP_PUBSUB_UNAVAILABLE : 0;

    } else {
        return conf->cluster->client;
    }

    /* a name that is not a topic's is sent back escaped and cut short */

    (void) ngx_http_pubsub_kafka_name_text(name, (u_char *) topic, len);

    (void) ngx_http_pubsub_send_error(cmd, code, "failed to %s, topic: %s, "
                                      "partition: %D, err: %s", what, name,
                                      partition, reason);
    return NULL;
}


/*
 * CmdKafkaListOffset: librdkafka's look-up blocks, so it runs in the
 * thread pool, bounded by pubsub_kafka_timeout.
 */

static ngx_int_t
ngx_http_pubsub_kafka_list_offset(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    ngx_int_t                          rc;
    CmdKafkaListOffset                *lo;
    ngx_http_pubsub_kafka_task_t      *t, **tp;
    ngx_http_pubsub_kafka_list_t      *l;
    ngx_http_pubsub_kafka_client_t    *kc;
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    lo = req->cmd_kafka_list_offset;
    conf = cmd->conf;
    tp = cmd->data;

    kc = ngx_http_pubsub_kafka_cmd_client(cmd, 0, "list offset", lo->topic,
                                          lo->partition);
    if (kc == NULL) {
        return NGX_OK;
    }

    /* -1 the end, -2 the start, else a time in ms */

    if (lo->timestamp < -2) {
        (void) ngx_http_pubsub_send_error(cmd, 0, "failed to list offset, "
                                          "topic: %s, partition: %D, err: "
                                          "timestamp must be -2, -1 or a "
                                          "time in ms", lo->topic,
                                          lo->partition);
        return NGX_OK;
    }

    t = ngx_http_pubsub_kafka_task_alloc(kc,
                                         sizeof(ngx_http_pubsub_kafka_list_t),
                                         ngx_http_pubsub_kafka_list_run,
                                         ngx_http_pubsub_kafka_listed);
    if (t == NULL) {
        return NGX_ERROR;
    }

    l = t->data;
    l->cmd = cmd;
    l->rk = kc->handles[0].rk;
    (void) ngx_cpystrn((u_char *) l->topic, (u_char *) lo->topic,
                       sizeof(l->topic));
    l->id = lo->partition;
    l->timestamp = lo->timestamp;
    l->timeout = (int) conf->timeout;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cmd->log, 0,
                   "pubsub: kafka offsets_for_times(\"%s\", %D, %L)",
                   l->topic, l->id, l->timestamp);

    rc = ngx_http_pubsub_kafka_task_post(t);

    if (rc != NGX_OK) {
        (void) ngx_http_pubsub_send_error(cmd, 0, "failed to list offset, "
                                          "topic: %s, partition: %D, err: %s",
                                          lo->topic, lo->partition,
                                          (rc == NGX_BUSY)
                                          ? "too many look-ups in flight"
                                          : "internal error");
        return NGX_OK;
    }

    *tp = t;

    return NGX_AGAIN;
}


static void
ngx_http_pubsub_kafka_list_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_list_t   *l;
    ngx_http_pubsub_kafka_task_t  **tp;

    tp = cmd->data;
    l = (*tp)->data;

    /* the task finishes on its own and finds nobody to answer */
    l->cmd = NULL;
}


static void
ngx_http_pubsub_kafka_list_run(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_list_t *l = t->data;

    l->err = ngx_http_pubsub_kafka_offsets(l->rk, l->topic, l->id,
                                           l->timestamp, &l->offset,
                                           l->timeout);
}


static void
ngx_http_pubsub_kafka_listed(ngx_http_pubsub_kafka_task_t *t)
{
    KafkaListOffsetResp            lo = KAFKA_LIST_OFFSET_RESP__INIT;
    PubSubResp                     resp = PUB_SUB_RESP__INIT;
    ngx_http_pubsub_kafka_list_t  *l;

    l = t->data;

    if (l->cmd == NULL) {
        return;
    }

    if (t->skipped) {
        l->err = RD_KAFKA_RESP_ERR__DESTROY;
    }

    if (l->err) {
        ngx_log_error(NGX_LOG_INFO, l->cmd->log, 0,
                      "pubsub: kafka list offset of \"%s\" partition %D "
                      "failed: %s", l->topic, l->id,
                      rd_kafka_err2str(l->err));

        (void) ngx_http_pubsub_send_error(l->cmd, 0, "failed to list offset, "
                                          "topic: %s, partition: %D, err: %s",
                                          l->topic, l->id,
                                          rd_kafka_err2name(l->err));
    } else {
        lo.offset = l->offset;
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP;
        resp.kafka_list_offset_resp = &lo;

        (void) ngx_http_pubsub_send(l->cmd, &resp);
    }

    ngx_http_pubsub_cmd_done(l->cmd);
}


/* CmdKafkaFetch */

static ngx_int_t
ngx_http_pubsub_kafka_fetch(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    const char                        *reason;
    CmdKafkaFetch                     *kf;
    ngx_http_pubsub_kafka_part_t      *p;
    ngx_http_pubsub_kafka_fetch_t     *f;
    ngx_http_pubsub_kafka_client_t    *kc;
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    kf = req->cmd_kafka_fetch;
    f = cmd->data;
    conf = cmd->conf;

    kc = ngx_http_pubsub_kafka_cmd_client(cmd, 0, "fetch message", kf->topic,
                                          kf->partition);
    if (kc == NULL) {
        return NGX_OK;
    }

    if (kf->offset < 0) {
        (void) ngx_http_pubsub_send_error(cmd, 0, "failed to fetch message, "
                                          "topic: %s, partition: %D, "
                                          "err: OFFSET_OUT_OF_RANGE",
                                          kf->topic, kf->partition);
        return NGX_OK;
    }

    p = ngx_http_pubsub_kafka_partition(kc, (u_char *) kf->topic,
                                        ngx_strlen(kf->topic), kf->partition,
                                        &reason);
    if (p == NULL) {
        (void) ngx_http_pubsub_send_error(cmd, 0, "failed to fetch message, "
                                          "topic: %s, partition: %D, "
                                          "err: %s", kf->topic,
                                          kf->partition, reason);
        return NGX_OK;
    }

    f->cmd = cmd;
    f->conf = conf;

    f->waiter.partition = p;
    f->waiter.offset = kf->offset;
    f->waiter.ready = ngx_http_pubsub_kafka_fetch_ready;
    f->waiter.fail = ngx_http_pubsub_kafka_fetch_fail;
    f->waiter.waiting = ngx_http_pubsub_kafka_fetch_waiting;
    f->waiter.timeout = conf->timeout;

    /* the deadline, whatever happens; shorter once it waits at the end */

    f->timer.handler = ngx_http_pubsub_kafka_fetch_timeout;
    f->timer.data = f;
    f->timer.log = cmd->log;
    f->timer.cancelable = 1;

    ngx_add_timer(&f->timer, conf->timeout);

    kc->nfetches++;

    ngx_http_pubsub_kafka_dispatch(&f->waiter);

    return NGX_AGAIN;
}


static void
ngx_http_pubsub_kafka_fetch_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_part_t   *p;
    ngx_http_pubsub_kafka_fetch_t  *f;

    f = cmd->data;
    p = f->waiter.partition;

    ngx_http_pubsub_kafka_unwait(&f->waiter);

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    ngx_http_pubsub_kafka_partition_release(p);
}


/*
 * A fetch waiting at the end of the partition waits
 * pubsub_kafka_fetch_max_wait for news; one for messages that exist but
 * are still on their way (a reader just started or catching up) waits up
 * to pubsub_kafka_timeout.
 */

static void
ngx_http_pubsub_kafka_fetch_waiting(ngx_http_pubsub_kafka_waiter_t *w)
{
    ngx_http_pubsub_kafka_fetch_t  *f;

    f = (ngx_http_pubsub_kafka_fetch_t *) w;

    if (f->at_end || w->offset < w->partition->high) {
        return;
    }

    f->at_end = 1;

    if (f->conf->fetch_max_wait == 0) {
        ngx_http_pubsub_kafka_unwait(w);
        ngx_http_pubsub_kafka_fetch_ready(w);
        return;
    }

    ngx_add_timer(&f->timer, f->conf->fetch_max_wait);
}


/*
 * Answers from the window of w->reader: messages from the offset on,
 * within pubsub_kafka_fetch_max_bytes but at least one; none if it holds
 * none (no reader: the fetch timed out, or only wanted a look-up).
 */

static void
ngx_http_pubsub_kafka_fetch_ready(ngx_http_pubsub_kafka_waiter_t *w)
{
    ngx_queue_t                     *q, *start;
    ngx_http_pubsub_kafka_msg_t     *msg;
    ngx_http_pubsub_kafka_fetch_t   *f;
    ngx_http_pubsub_kafka_answer_t   answer;
    ngx_http_pubsub_kafka_reader_t  *r;

    f = (ngx_http_pubsub_kafka_fetch_t *) w;
    r = w->reader;

    start = ngx_http_pubsub_kafka_window_find(r, w->offset);

    /*
     * Answers to fetches in flight together must not overflow the
     * client's output queue: the room left in it bounds this one too, and
     * when not even one message fits the answer has none: the client
     * fetches again once it has read.
     */

    ngx_http_pubsub_kafka_answer_init(&answer, f->cmd,
                                      f->conf->fetch_max_bytes);

    if (start) {
        for (q = start;
             q != ngx_queue_sentinel(&r->window);
             q = ngx_queue_next(q))
        {
            msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

            if (ngx_http_pubsub_kafka_answer_add(&answer, msg) != NGX_OK) {
                break;
            }
        }
    }

    (void) ngx_http_pubsub_kafka_answer_send(f->cmd, &answer);
    ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_FETCH_MESSAGES,
                                 answer.messages);

    ngx_http_pubsub_kafka_fetch_finish(f);
}


static void
ngx_http_pubsub_kafka_fetch_fail(ngx_http_pubsub_kafka_waiter_t *w,
    const char *reason, rd_kafka_resp_err_t err)
{
    ngx_http_pubsub_kafka_part_t   *p;
    ngx_http_pubsub_kafka_fetch_t  *f;

    f = (ngx_http_pubsub_kafka_fetch_t *) w;
    p = w->partition;

    (void) ngx_http_pubsub_send_error(f->cmd, 0, "failed to fetch message, "
                                      "topic: %V, partition: %D, err: %s",
                                      &p->topic->sn.str, p->id, reason);

    ngx_http_pubsub_kafka_fetch_finish(f);
}


/*
 * The deadline.  At the end of the partition: when librdkafka reported an
 * error since the partition was last checked, it is looked up first, so
 * a client whose partition leader is gone gets an error, not silence.
 */

static void
ngx_http_pubsub_kafka_fetch_timeout(ngx_event_t *ev)
{
    ngx_uint_t                        pending, behind;
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_fetch_t    *f;
    ngx_http_pubsub_kafka_waiter_t   *w;
    ngx_http_pubsub_kafka_reader_t   *r;

    f = ev->data;
    w = &f->waiter;
    p = w->partition;
    r = w->reader;

    pending = w->pending;
    behind = w->behind;

    ngx_http_pubsub_kafka_unwait(w);

    if (pending) {
        /* a look-up, or a reader stopping, took all the time there was */
        ngx_http_pubsub_kafka_fetch_fail(w, "_TIMED_OUT",
                                         RD_KAFKA_RESP_ERR__TIMED_OUT);
        return;
    }

    if (behind || r == NULL || r->checked == p->topic->client->errors) {
        w->reader = NULL;
        ngx_http_pubsub_kafka_fetch_ready(w);
        return;
    }

    /* answered after the look-up, or at its own new deadline */

    w->verdict = 1;
    w->looked_up = 0;

    ngx_add_timer(&f->timer, f->conf->timeout);

    ngx_http_pubsub_kafka_dispatch(w);
}


static void
ngx_http_pubsub_kafka_fetch_finish(ngx_http_pubsub_kafka_fetch_t *f)
{
    ngx_http_pubsub_kafka_part_t  *p;

    p = f->waiter.partition;

    ngx_http_pubsub_kafka_unwait(&f->waiter);

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    ngx_http_pubsub_cmd_done(f->cmd);

    ngx_http_pubsub_kafka_partition_release(p);
}
