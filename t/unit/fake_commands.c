
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/* The fake backend (see fake_backend.c): the commands, in flight, and
 * subscriptions' streams. */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "fake_nginx.h"
#include "fake_backend.h"


static ngx_int_t fake_unsubscribe(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static ngx_int_t fake_credit(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req);
static ngx_int_t fake_subscribe(fake_cmd_t *fc, fake_session_t *fs);
static void fake_timer_handler(ngx_event_t *ev);
static void fake_later(fake_cmd_t *fc, fake_session_t *fs);
static void fake_unqueue(fake_cmd_t *fc);


/* ---------------------------------------------------------------------- */
/* commands */


static void
fake_copy_key(fake_cmd_t *fc, u_char *data, size_t len)
{
    fc->key_len = ngx_min(len, FAKE_KEY_MAX);

    if (fc->key_len) {
        ngx_memcpy(fc->key, data, fc->key_len);
    }
}


ngx_int_t
fake_handler(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    size_t           i;
    fake_cmd_t      *fc;
    fake_session_t  *fs;

    if (cmd->command->type != (ngx_uint_t) req->req_case
        || cmd->sequence != req->sequence)
    {
        fake_fatal("a command dispatched to the row of another");
    }

    fs = ngx_http_pubsub_backend_data(cmd);

    if (cmd->command->type == PUB_SUB_REQ__REQ_CMD_PING) {
        if (fs != NULL || cmd->conf != NULL) {
            fake_fatal("the core backend got session data or a conf");
        }

    } else if (fs == NULL || fs != fake_live
               || cmd->conf != &fake_backend_conf)
    {
        fake_fatal("the fake backend got another session or conf");
    }

    if (ngx_http_pubsub_find_cmd(cmd, cmd->sequence, cmd->command->type)
        == cmd)
    {
        fake_fatal("find_cmd found the command asking");
    }

    switch (req->req_case) {

    case PUB_SUB_REQ__REQ_CMD_KAFKA_UNSUBSCRIBE:
        return fake_unsubscribe(cmd, req);

    case PUB_SUB_REQ__REQ_CMD_KAFKA_CREDIT:
        return fake_credit(cmd, req);

    default:
        break;
    }

    fc = cmd->data;

    if (fc == NULL || fc->cmd != NULL || fc->type != 0) {
        fake_fatal("command data missing or not zeroed");
    }

    fc->cmd = cmd;
    fc->type = req->req_case;
    fc->mode = (uint64_t) req->sequence & 7;
    fc->arg = (uint64_t) req->sequence >> 3;
    fc->value_len = (size_t) (fc->arg & 0x3f) * 37;
    fc->credit = -1;

    fc->timer.handler = fake_timer_handler;
    fc->timer.data = fc;
    fc->timer.log = cmd->log;
    fc->timer.cancelable = 1;

    switch (req->req_case) {

    case PUB_SUB_REQ__REQ_CMD_PING:
        fake_copy_key(fc, req->cmd_ping->state.data,
                      req->cmd_ping->state.len);
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH:
        fake_copy_key(fc, (u_char *) req->cmd_kafka_fetch->topic,
                      ngx_strlen(req->cmd_kafka_fetch->topic));
        fc->partition = req->cmd_kafka_fetch->partition;
        fc->offset = req->cmd_kafka_fetch->offset;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_LIST_OFFSET:
        fake_copy_key(fc, (u_char *) req->cmd_kafka_list_offset->topic,
                      ngx_strlen(req->cmd_kafka_list_offset->topic));
        fc->partition = req->cmd_kafka_list_offset->partition;
        fc->offset = req->cmd_kafka_list_offset->timestamp;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE:
        fake_copy_key(fc, (u_char *) req->cmd_kafka_subscribe->topic,
                      ngx_strlen(req->cmd_kafka_subscribe->topic));

        for (i = 0; i < req->cmd_kafka_subscribe->n_partitions
                    && fc->npartitions < FAKE_PARTITIONS_MAX; i++)
        {
            fc->partitions[fc->npartitions++] =
                req->cmd_kafka_subscribe->partitions[i]->partition;
        }

        if (req->cmd_kafka_subscribe->window > 0) {
            fc->credit = req->cmd_kafka_subscribe->window;
        }

        if (req->cmd_kafka_subscribe->filter
            && req->cmd_kafka_subscribe->filter->key.len)
        {
            fake_copy_key(fc, req->cmd_kafka_subscribe->filter->key.data,
                          req->cmd_kafka_subscribe->filter->key.len);
        }

        fc->offset = req->cmd_kafka_subscribe->start;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_PRODUCE:
        fake_copy_key(fc, req->cmd_kafka_produce->key.data,
                      req->cmd_kafka_produce->key.len);

        if (req->cmd_kafka_produce->target_case
            == CMD_KAFKA_PRODUCE__TARGET_PARTITION)
        {
            fc->partition = req->cmd_kafka_produce->partition;
        }

        fc->timestamp = req->cmd_kafka_produce->timestamp;

        if (req->cmd_kafka_produce->value.len) {
            fc->value_len = ngx_min(req->cmd_kafka_produce->value.len,
                                    FAKE_VALUE_MAX);
        }

        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_COMMIT:
        fake_copy_key(fc, (u_char *) req->cmd_kafka_commit->group,
                      ngx_strlen(req->cmd_kafka_commit->group));

        for (i = 0; i < req->cmd_kafka_commit->n_offsets
                    && fc->npartitions < FAKE_PARTITIONS_MAX; i++)
        {
            fc->partitions[fc->npartitions++] =
                req->cmd_kafka_commit->offsets[i]->partition;
        }

        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_COMMITTED:
        fake_copy_key(fc, (u_char *) req->cmd_kafka_committed->group,
                      ngx_strlen(req->cmd_kafka_committed->group));

        for (i = 0; i < req->cmd_kafka_committed->n_partitions
                    && fc->npartitions < FAKE_PARTITIONS_MAX; i++)
        {
            fc->partitions[fc->npartitions++] =
                req->cmd_kafka_committed->partitions[i];
        }

        break;

    default:
        fake_fatal("a command of case %d was dispatched",
                   (int) req->req_case);
    }

    if (fc->type == PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE) {
        return fake_subscribe(fc, fs);
    }

    switch (fc->mode) {

    case 0:
        (void) fake_answer(fc, 0);
        return NGX_OK;

    case 1:
        (void) ngx_http_pubsub_send_error(cmd,
                                (fc->arg & 1) ? NGX_HTTP_PUBSUB_NOT_FOUND : 0,
                                "fake %V error for sequence %L, %uz bytes, "
                                "partition %D: %*s", &cmd->command->name,
                                cmd->sequence, fc->value_len, fc->partition,
                                fc->key_len, fc->key);

        if (!cmd->errored) {
            fake_fatal("send_error() did not mark the command");
        }

        return NGX_OK;

    case 2:
        return NGX_ERROR;

    case 3:
        (void) fake_answer_raw(fc, 1 + (fc->arg & 1), 0);
        return NGX_OK;

    case 4:
        fake_later(fc, fs);
        return NGX_AGAIN;

    case 5:
        ngx_add_timer(&fc->timer, 10 * (1 + (fc->arg & 0xf)));
        return NGX_AGAIN;

    case 6:
        (void) fake_answer(fc, 0);
        fake_later(fc, fs);
        return NGX_AGAIN;

    default: /* 7 */
        fake_alert_expected = 1;

        if (fake_answer_raw(fc, 1, 1) != NGX_ERROR) {
            fake_fatal("send_raw() took a writer that wrote short");
        }

        return (fc->arg & 1) ? NGX_ERROR : NGX_OK;
    }
}


/* kept for an event of the input to answer, or for a timer */

static void
fake_later(fake_cmd_t *fc, fake_session_t *fs)
{
    if (fs == NULL || (fc->arg & 1)) {
        ngx_add_timer(&fc->timer, 10 * (1 + ((fc->arg >> 1) & 0xf)));
        return;
    }

    ngx_queue_insert_tail(&fs->deferred, &fc->queue);
    fc->queued = 1;
}


static void
fake_unqueue(fake_cmd_t *fc)
{
    if (fc->timer.timer_set) {
        ngx_del_timer(&fc->timer);
    }

    if (fc->queued) {
        ngx_queue_remove(&fc->queue);
        fc->queued = 0;
    }
}


/* the last answer of a command in flight, then it is done */

void
fake_finish(fake_cmd_t *fc, ngx_uint_t error)
{
    ngx_http_pubsub_cmd_t  *cmd;

    cmd = fc->cmd;

    fake_unqueue(fc);

    if (error) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_UNAVAILABLE,
                                          "%V failed later, sequence %L",
                                          &cmd->command->name,
                                          cmd->sequence);

    } else if (fc->mode == 6 && (fc->arg & 2)) {
        (void) fake_answer_raw(fc, 1, 0);

    } else {
        (void) fake_answer(fc, 0);
    }

    ngx_http_pubsub_cmd_done(cmd);
}


static void
fake_timer_handler(ngx_event_t *ev)
{
    fake_cmd_t  *fc = ev->data;

    if (fc->stream) {
        fake_stream_push(fc, 0);
        return;
    }

    fake_finish(fc, (fc->arg >> 5) & 1);
}


static ngx_int_t
fake_subscribe(fake_cmd_t *fc, fake_session_t *fs)
{
    ngx_http_pubsub_cmd_t  *cmd;

    cmd = fc->cmd;

    switch (fc->mode) {

    case 1:
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_NOT_FOUND,
                                          "unknown topic \"%*s\"",
                                          fc->key_len, fc->key);
        return NGX_OK;

    case 2:
        return NGX_ERROR;

    case 7:
        fake_alert_expected = 1;
        (void) fake_answer_raw(fc, 1, 1);
        return NGX_OK;

    default:
        break;
    }

    fc->stream = 1;
    fc->budget = (ngx_int_t) (fc->arg & 0x1f);

    if (fake_answer(fc, fc->budget == 0) != NGX_OK || fc->budget == 0) {
        return NGX_OK;
    }

    ngx_queue_insert_tail(&fs->streams, &fc->queue);
    fc->queued = 1;

    if (fc->mode == 5) {
        /* pushed from the read handler itself */
        fake_stream_push(fc, 0);

    } else {
        ngx_add_timer(&fc->timer, 10 * (1 + ((fc->arg >> 5) & 3)));
    }

    return NGX_AGAIN;
}


static ngx_int_t
fake_unsubscribe(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    int64_t                  sub;
    ngx_http_pubsub_cmd_t   *target;
    KafkaSubscribeResp       s = KAFKA_SUBSCRIBE_RESP__INIT;
    PubSubResp               resp = PUB_SUB_RESP__INIT;

    if (cmd->data != NULL) {
        fake_fatal("a command of no data_size has data");
    }

    sub = req->cmd_kafka_unsubscribe->subscription;

    target = ngx_http_pubsub_find_cmd(cmd, sub,
                                      PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE);

    if (target == NULL) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_NOT_FOUND,
                                          "no subscription %L", sub);
        return NGX_OK;
    }

    if (target->sequence != sub || target->session != cmd->session) {
        fake_fatal("find_cmd found another command");
    }

    fake_stream_end(target->data);

    s.ended = 1;
    resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP;
    resp.kafka_subscribe_resp = &s;

    (void) ngx_http_pubsub_send(cmd, &resp);

    return NGX_OK;
}


static ngx_int_t
fake_credit(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    int32_t                 n;
    fake_cmd_t             *fc;
    ngx_http_pubsub_cmd_t  *target;

    target = ngx_http_pubsub_find_cmd(cmd,
                                      req->cmd_kafka_credit->subscription,
                                      PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE);

    if (target == NULL) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_NOT_FOUND,
                                          "no subscription %L",
                                          req->cmd_kafka_credit->subscription);
        return NGX_OK;
    }

    n = req->cmd_kafka_credit->messages;

    if (n <= 0) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "a credit of %d messages", n);
        return NGX_OK;
    }

    fc = target->data;

    if (fc->credit >= 0) {
        fc->credit += n;
    }

    /* answered by the messages it lets through */

    if (!fc->waiting && !fc->timer.timer_set) {
        fake_stream_push(fc, 0);
    }

    return NGX_OK;
}


void
fake_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    fake_cmd_t  *fc = cmd->data;

    if (fc == NULL || fc->cmd != cmd) {
        fake_fatal("cancel of a command that is not the backend's");
    }

    fake_unqueue(fc);
}


/* the server closes: the last answer now */

void
fake_end(ngx_http_pubsub_cmd_t *cmd)
{
    fake_cmd_t  *fc = cmd->data;

    if (fc == NULL || fc->cmd != cmd) {
        fake_fatal("end of a command that is not the backend's");
    }

    if (fc->stream) {
        fake_stream_end(fc);
        return;
    }

    fake_finish(fc, 1);
}


/* ---------------------------------------------------------------------- */
/* streams */


void
fake_stream_push(fake_cmd_t *fc, ngx_uint_t ignore_room)
{
    size_t      len, size;
    ngx_uint_t  n;

    for (n = 0; n < 4; n++) {

        if (fc->budget == 0) {
            fake_stream_end(fc);
            return;
        }

        if (fc->credit == 0) {
            /* the window is full: CmdKafkaCredit pushes again */
            return;
        }

        len = fake_raw_len(fc, 1);
        len += ngx_http_pubsub_resp_header_size(fc->cmd->sequence,
                                          PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                          len);
        size = ngx_http_pubsub_ws_header_size(len) + len;

        if (!ignore_room && !ngx_http_pubsub_idle(fc->cmd)
            && ngx_http_pubsub_room(fc->cmd) < size)
        {
            ngx_http_pubsub_wait_room(fc->cmd);
            fc->waiting = 1;
            return;
        }

        if (fake_answer_raw(fc, 1, 0) != NGX_OK) {
            /* the connection is going: its end or cancel comes */
            return;
        }

        fc->budget--;
        fc->offset++;

        if (fc->credit > 0) {
            fc->credit--;
        }
    }

    if (!fc->timer.timer_set) {
        ngx_add_timer(&fc->timer, 20);
    }
}


void
fake_stream_end(fake_cmd_t *fc)
{
    ngx_http_pubsub_cmd_t  *cmd;

    if (!fc->stream) {
        fake_fatal("the end of a stream that is not one");
    }

    cmd = fc->cmd;

    fake_unqueue(fc);

    (void) fake_answer(fc, 1);

    ngx_http_pubsub_cmd_done(cmd);
}
