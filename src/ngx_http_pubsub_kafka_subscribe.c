
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Server push, the commands: CmdKafkaSubscribe (checked, its starts looked
 * up, its partitions made waiters of the shared readers), CmdKafkaCredit,
 * CmdKafkaUnsubscribe, and the end.  Never a Kafka consumer of its own;
 * the delivery itself is in _push.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"
#include "ngx_http_pubsub_kafka_subscribe.h"


/* credit granted ahead of what was pushed, at most */
#define NGX_HTTP_PUBSUB_KAFKA_CREDIT_MAX ((int64_t) 1 << 48)

/* at most this many headers in a filter */
#define NGX_HTTP_PUBSUB_KAFKA_FILTER_MAX 64


static ngx_int_t ngx_http_pubsub_kafka_subscribe(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static ngx_int_t ngx_http_pubsub_kafka_sub_copy(ngx_http_pubsub_kafka_sub_t *s,
    CmdKafkaSubscribe *ks);
static ngx_int_t ngx_http_pubsub_kafka_sub_check(ngx_http_pubsub_cmd_t *cmd,
    CmdKafkaSubscribe *ks);
static void ngx_http_pubsub_kafka_resolved(ngx_http_pubsub_kafka_offsets_t *o);
static ngx_int_t ngx_http_pubsub_kafka_sub_parts(
    ngx_http_pubsub_kafka_sub_t *s, ngx_http_pubsub_kafka_offsets_t *o);
static int64_t ngx_http_pubsub_kafka_sub_start(ngx_http_pubsub_kafka_sub_t *s,
    ngx_http_pubsub_kafka_spart_t *sp, ngx_http_pubsub_kafka_offsets_t *o,
    rd_kafka_resp_err_t *err);
static void ngx_http_pubsub_kafka_sub_end(ngx_http_pubsub_cmd_t *cmd);
static void ngx_http_pubsub_kafka_sub_cancel(ngx_http_pubsub_cmd_t *cmd);
static void ngx_http_pubsub_kafka_sub_free(ngx_http_pubsub_kafka_sub_t *s);
static ngx_int_t ngx_http_pubsub_kafka_unsubscribe(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static ngx_int_t ngx_http_pubsub_kafka_credit(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static ngx_http_pubsub_kafka_sub_t *ngx_http_pubsub_kafka_sub_find(
    ngx_http_pubsub_cmd_t *cmd, int64_t subscription);


ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_subscribe_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE, ngx_string("subscribe"),
      ngx_http_pubsub_kafka_subscribe, ngx_http_pubsub_kafka_sub_cancel,
      ngx_http_pubsub_kafka_sub_end, sizeof(ngx_http_pubsub_kafka_sub_t),
      NGX_HTTP_PUBSUB_CMD_READ|NGX_HTTP_PUBSUB_CMD_STREAM },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_UNSUBSCRIBE, ngx_string("unsubscribe"),
      ngx_http_pubsub_kafka_unsubscribe, NULL, NULL, 0, 0 },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_CREDIT, ngx_string("credit"),
      ngx_http_pubsub_kafka_credit, NULL, NULL, 0, 0 },

      ngx_http_pubsub_null_command
};


/*
 * CmdKafkaSubscribe: the start of every partition is looked up in one
 * blocking task (ends, a time, the group's commits), then answered with
 * the positions, then messages are pushed as the readers get them.
 */

static ngx_int_t
ngx_http_pubsub_kafka_subscribe(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    ngx_int_t                           rc;
    ngx_uint_t                          i;
    CmdKafkaSubscribe                  *ks;
    ngx_http_pubsub_kafka_sub_t        *s;
    ngx_http_pubsub_kafka_client_t     *kc;
    ngx_http_pubsub_kafka_session_t    *ss;
    ngx_http_pubsub_kafka_offsets_t    *o;
    ngx_http_pubsub_kafka_loc_conf_t   *conf;

    ks = req->cmd_kafka_subscribe;
    s = cmd->data;
    conf = cmd->conf;
    ss = ngx_http_pubsub_backend_data(cmd);

    kc = ngx_http_pubsub_kafka_cmd_client(cmd, 1, "subscribe", ks->topic, 0);
    if (kc == NULL) {
        return NGX_OK;
    }

    if (ngx_http_pubsub_kafka_sub_check(cmd, ks) != NGX_OK) {
        return NGX_OK;
    }

    if (ks->group[0]
        && ngx_http_pubsub_kafka_allowed(cmd, NGX_HTTP_PUBSUB_KAFKA_GROUP,
                                         (u_char *) ks->group,
                                         ngx_strlen(ks->group))
           != NGX_OK)
    {
        return NGX_OK;
    }

    if (ss->nsubs >= conf->max_subscriptions) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_TOO_MANY,
                                          "too many subscriptions: %ui, "
                                          "the limit of this location",
                                          ss->nsubs);
        return NGX_OK;
    }

    s->cmd = cmd;
    s->conf = conf;
    s->client = kc;

    if (ngx_http_pubsub_kafka_sub_copy(s, ks) != NGX_OK) {
        ngx_http_pubsub_kafka_sub_free(s);
        return NGX_ERROR;
    }

    s->session = ss;
    ngx_queue_insert_tail(&ss->subs, &s->queue);
    ss->nsubs++;
    ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_SUBSCRIPTIONS, 1);

    o = ngx_http_pubsub_kafka_offsets_alloc(kc, &s->topic, &s->group,
                                            ngx_http_pubsub_kafka_resolved, s);
    if (o == NULL) {
        ngx_http_pubsub_kafka_sub_free(s);
        return NGX_ERROR;
    }

    o->all = s->all;
    o->ends = 1;
    o->timestamp = (s->all && s->start > 0) ? s->start : 0;
    o->timeout = (int) conf->timeout;

    for (i = 0; i < ks->n_partitions; i++) {
        (void) rd_kafka_topic_partition_list_add(o->list, o->topic,
                                                 ks->partitions[i]->partition);
    }

    rc = ngx_http_pubsub_kafka_offsets_post(o);

    if (rc != NGX_OK) {
        ngx_http_pubsub_kafka_sub_error(s,
                                        (rc == NGX_BUSY)
                                        ? NGX_HTTP_PUBSUB_TOO_MANY
                                        : NGX_HTTP_PUBSUB_INTERNAL,
                                        (rc == NGX_BUSY)
                                        ? "too many look-ups in flight"
                                        : "internal error", NULL);

        /* answered and done already */
        return NGX_AGAIN;
    }

    s->lookup = o;

    return NGX_AGAIN;
}


/* what the request asks must make sense before anything is looked up */

static ngx_int_t
ngx_http_pubsub_kafka_sub_check(ngx_http_pubsub_cmd_t *cmd,
    CmdKafkaSubscribe *ks)
{
    int32_t                             bad;
    ngx_uint_t                          i, named;
    const char                         *reason;
    ngx_http_pubsub_kafka_loc_conf_t   *conf;

    conf = cmd->conf;
    reason = NULL;
    named = 0;
    bad = 0;

    if (ks->n_partitions == 0 && !ks->all_partitions) {
        reason = "no partitions: list them, or set all_partitions";

    } else if (ks->n_partitions > conf->max_partitions) {
        reason = "more partitions than \"pubsub_kafka_max_partitions\"";

    } else if (ks->window < 0) {
        reason = "negative window";

    } else if (ks->all_partitions && ks->start < -2) {
        reason = "start must be -2, -1, 0 or a time in ms";

    } else if (ks->filter
               && ks->filter->n_headers > NGX_HTTP_PUBSUB_KAFKA_FILTER_MAX)
    {
        reason = "more than 64 headers in the filter";

    } else if (ks->group[0]
               && ngx_strlen(ks->group) > NGX_HTTP_PUBSUB_KAFKA_GROUP_MAX)
    {
        reason = "group name over 255 bytes";
    }

    for (i = 0; reason == NULL && i < ks->n_partitions; i++) {
        if (ks->partitions[i]->offset < -2) {
            reason = "offset must be -2, -1 or >= 0";
            bad = ks->partitions[i]->partition;
            named = 1;
        }
    }

    if (reason == NULL) {
        reason = ngx_http_pubsub_kafka_check_list(ks->partitions,
                                                  ks->n_partitions, &bad);
        named = 1;
    }

    if (reason == NULL) {
        return NGX_OK;
    }

    if (named) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to subscribe, topic: %s, "
                                          "partition: %D, err: %s",
                                          ks->topic, bad, reason);
    } else {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to subscribe, topic: %s, "
                                          "err: %s", ks->topic, reason);
    }

    return NGX_DECLINED;
}


/* the request is freed when the handler returns: keep what is needed */

static ngx_int_t
ngx_http_pubsub_kafka_sub_copy(ngx_http_pubsub_kafka_sub_t *s,
    CmdKafkaSubscribe *ks)
{
    u_char                          *p;
    size_t                           size;
    ngx_uint_t                       i;
    KafkaHeader                     *kh;
    ngx_http_pubsub_kafka_spart_t   *sp;

    s->topic.len = ngx_strlen(ks->topic);
    s->group.len = ngx_strlen(ks->group);
    s->all = ks->all_partitions;
    s->start = ks->start;
    s->window = ks->window;

    size = s->topic.len + s->group.len;

    if (ks->filter) {
        size += ks->filter->key.len;

        for (i = 0; i < ks->filter->n_headers; i++) {
            kh = ks->filter->headers[i];
            size += ngx_strlen(kh->key) + kh->value.len;
        }
    }

    p = ngx_alloc(size + 1, s->cmd->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->topic.data = p;
    p = ngx_cpymem(p, ks->topic, s->topic.len);
    s->group.data = p;
    p = ngx_cpymem(p, ks->group, s->group.len);

    if (ks->filter && ks->filter->n_headers) {
        s->headers = ngx_alloc(ks->filter->n_headers
                               * sizeof(ngx_http_pubsub_pb_header_t),
                               s->cmd->log);
        if (s->headers == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < ks->filter->n_headers; i++) {
            kh = ks->filter->headers[i];

            s->headers[i].key = p;
            s->headers[i].key_len = ngx_strlen(kh->key);
            p = ngx_cpymem(p, kh->key, s->headers[i].key_len);

            s->headers[i].value = p;
            s->headers[i].value_len = kh->value.len;
            p = ngx_cpymem(p, kh->value.data, kh->value.len);
        }

        s->nheaders = ks->filter->n_headers;
    }

    if (ks->filter && ks->filter->key.len) {
        s->key.data = p;
        s->key.len = ks->filter->key.len;
        p = ngx_cpymem(p, ks->filter->key.data, s->key.len);
    }

    /* the partitions listed; with all_partitions more come after look-up */

    s->nparts = ks->n_partitions;

    if (s->nparts == 0) {
        return NGX_OK;
    }

    s->parts = ngx_calloc(s->nparts * sizeof(ngx_http_pubsub_kafka_spart_t),
                          s->cmd->log);
    if (s->parts == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->nparts; i++) {
        sp = &s->parts[i];
        sp->sub = s;
        sp->id = ks->partitions[i]->partition;
        sp->asked = ks->partitions[i]->offset;
    }

    return NGX_OK;
}


/*
 * The look-up is back: every partition's start, the first answer, then
 * each partition waits for its messages.
 */

static void
ngx_http_pubsub_kafka_resolved(ngx_http_pubsub_kafka_offsets_t *o)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_kafka_sub_t     *s;
    ngx_http_pubsub_kafka_spart_t   *sp;

    s = o->data;
    s->lookup = NULL;

    if (o->err) {
        ngx_http_pubsub_kafka_sub_error(s,
                     (o->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                      || o->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
                     ? NGX_HTTP_PUBSUB_NOT_FOUND
                     : (o->err == RD_KAFKA_RESP_ERR__TIMED_OUT)
                       ? NGX_HTTP_PUBSUB_TIMEOUT
                       : NGX_HTTP_PUBSUB_UNAVAILABLE,
                     rd_kafka_err2name(o->err), NULL);
        return;
    }

    if (ngx_http_pubsub_kafka_sub_parts(s, o) != NGX_OK) {
        return;
    }

    s->started = 1;

    (void) ngx_http_pubsub_kafka_sub_positions(s->cmd, s, NULL, 0);

    for (i = 0; i < s->nparts; i++) {
        sp = &s->parts[i];
        sp->started = 1;
        ngx_http_pubsub_kafka_dispatch(&sp->waiter);
    }
}


/*
 * The partitions of the subscription with their starts and shared
 * partition objects; NGX_DECLINED when it was answered with an error.
 */

static ngx_int_t
ngx_http_pubsub_kafka_sub_parts(ngx_http_pubsub_kafka_sub_t *s,
    ngx_http_pubsub_kafka_offsets_t *o)
{
    int                               i;
    int64_t                           start, low, high;
    ngx_uint_t                        j, n;
    const char                       *reason;
    rd_kafka_resp_err_t               err;
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_spart_t    *parts, *sp;

    n = (ngx_uint_t) o->list->cnt;

    if (n > s->conf->max_partitions) {
        ngx_http_pubsub_kafka_sub_error(s, NGX_HTTP_PUBSUB_TOO_MANY,
                                        "the topic has more partitions than "
                                        "\"pubsub_kafka_max_partitions\"",
                                        NULL);
        return NGX_DECLINED;
    }

    if (n > s->nparts) {
        parts = ngx_calloc(n * sizeof(ngx_http_pubsub_kafka_spart_t),
                           s->cmd->log);
        if (parts == NULL) {
            ngx_http_pubsub_kafka_sub_error(s, NGX_HTTP_PUBSUB_INTERNAL,
                                            "internal error", NULL);
            return NGX_DECLINED;
        }

        if (s->nparts) {
            ngx_memcpy(parts, s->parts,
                       s->nparts * sizeof(ngx_http_pubsub_kafka_spart_t));
            ngx_free(s->parts);
        }

        /* the partitions the topic has beyond those listed, from "start" */

        for (i = (int) s->nparts, j = s->nparts; i < o->list->cnt; i++, j++) {
            parts[j].id = o->list->elems[i].partition;
            parts[j].asked = -3;
        }

        s->parts = parts;
        s->nparts = n;
    }

    for (j = 0; j < s->nparts; j++) {
        sp = &s->parts[j];
        sp->sub = s;

        start = ngx_http_pubsub_kafka_sub_start(s, sp, o, &err);

        if (err) {
            reason = rd_kafka_err2name(err);

            ngx_http_pubsub_kafka_sub_error(s,
                            (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
                             || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                            ? NGX_HTTP_PUBSUB_NOT_FOUND
                            : NGX_HTTP_PUBSUB_UNAVAILABLE,
                            reason, sp);
            return NGX_DECLINED;
        }

        low = ngx_http_pubsub_kafka_offsets_get(o->low, sp->id, &err);
        high = ngx_http_pubsub_kafka_offsets_get(o->high, sp->id, &err);

        p = ngx_http_pubsub_kafka_partition(s->client, s->topic.data,
                                            s->topic.len, sp->id, &reason);
        if (p == NULL) {
            ngx_http_pubsub_kafka_sub_error(s, NGX_HTTP_PUBSUB_TOO_MANY,
                                            reason, sp);
            return NGX_DECLINED;
        }

        p->refs++;
        p->valid = 1;
        p->low = low;
        p->high = ngx_max(p->high, high);

        sp->waiter.partition = p;
        sp->waiter.offset = start;
        sp->waiter.ready = ngx_http_pubsub_kafka_sub_ready;
        sp->waiter.fail = ngx_http_pubsub_kafka_sub_fail;
        sp->waiter.timeout = s->conf->timeout;
        sp->waiter.looked_up = 1;

        sp->retry.handler = ngx_http_pubsub_kafka_sub_retry;
        sp->retry.data = sp;
        sp->retry.log = s->cmd->log;
        sp->retry.cancelable = 1;
    }

    return NGX_OK;
}


/*
 * Where a partition starts: its own offset if listed (kept between the
 * first and the end), else the group's commit, else "start"; -1 is the
 * end, -2 the first, a time the first message at or after it.
 */

static int64_t
ngx_http_pubsub_kafka_sub_start(ngx_http_pubsub_kafka_sub_t *s,
    ngx_http_pubsub_kafka_spart_t *sp, ngx_http_pubsub_kafka_offsets_t *o,
    rd_kafka_resp_err_t *err)
{
    int64_t              low, high, offset;
    rd_kafka_resp_err_t  e;

    low = ngx_http_pubsub_kafka_offsets_get(o->low, sp->id, err);
    if (*err) {
        return -1;
    }

    high = ngx_http_pubsub_kafka_offsets_get(o->high, sp->id, err);
    if (*err) {
        return -1;
    }

    offset = sp->asked;

    if (offset == -3 && o->committed) {
        offset = ngx_http_pubsub_kafka_offsets_get(o->committed, sp->id, &e);

        if (e || offset < 0) {
            offset = -3;
        }
    }

    if (offset == -3) {
        offset = (s->start == -2) ? -2 : -1;

        if (s->start > 0) {
            offset = ngx_http_pubsub_kafka_offsets_get(o->times, sp->id, &e);

            if (e || offset < 0) {
                offset = -1;
            }
        }
    }

    if (offset == -1) {
        return high;
    }

    if (offset == -2 || offset < low) {
        return low;
    }

    return ngx_min(offset, high);
}


/* the subscription failed for good: its error, and it is over */

void
ngx_http_pubsub_kafka_sub_error(ngx_http_pubsub_kafka_sub_t *s,
    ngx_int_t code, const char *reason, ngx_http_pubsub_kafka_spart_t *sp)
{
    ngx_http_pubsub_cmd_t  *cmd;

    cmd = s->cmd;

    if (sp) {
        (void) ngx_http_pubsub_send_error(cmd, code, "subscription failed, "
                                          "topic: %V, partition: %D, err: %s",
                                          &s->topic, sp->id, reason);
    } else {
        (void) ngx_http_pubsub_send_error(cmd, code, "subscription failed, "
                                          "topic: %V, err: %s", &s->topic,
                                          reason);
    }

    ngx_http_pubsub_kafka_sub_free(s);
    ngx_http_pubsub_cmd_done(cmd);
}


/* the server closes the connection: the positions, so the client resumes */

static void
ngx_http_pubsub_kafka_sub_end(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_sub_t  *s;

    s = cmd->data;

    (void) ngx_http_pubsub_kafka_sub_positions(cmd, s, NULL, 1);

    ngx_http_pubsub_kafka_sub_free(s);
    ngx_http_pubsub_cmd_done(cmd);
}


static void
ngx_http_pubsub_kafka_sub_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_sub_free(cmd->data);
}


/* leaves the readers and partitions; the command itself stays */

static void
ngx_http_pubsub_kafka_sub_free(ngx_http_pubsub_kafka_sub_t *s)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_spart_t   *sp;

    if (s->lookup) {
        /* it finishes on its own and finds nobody */
        s->lookup->data = NULL;
        s->lookup = NULL;
    }

    for (i = 0; i < s->nparts; i++) {
        sp = &s->parts[i];
        p = sp->waiter.partition;

        if (sp->retry.timer_set) {
            ngx_del_timer(&sp->retry);
        }

        if (p == NULL) {
            continue;
        }

        ngx_http_pubsub_kafka_unwait(&sp->waiter);

        p->refs--;
        ngx_http_pubsub_kafka_partition_release(p);
        sp->waiter.partition = NULL;
    }

    if (s->parts) {
        ngx_free(s->parts);
        s->parts = NULL;
        s->nparts = 0;
    }

    if (s->headers) {
        ngx_free(s->headers);
        s->headers = NULL;
    }

    if (s->topic.data) {
        ngx_free(s->topic.data);
        s->topic.data = NULL;
    }

    if (s->session) {
        ngx_queue_remove(&s->queue);
        s->session->nsubs--;
        s->session = NULL;
        ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_SUBSCRIPTIONS, -1);
    }
}


/*
 * CmdKafkaUnsubscribe: answered, with its own sequence, by the positions
 * of the subscription, which is over then.
 */

static ngx_int_t
ngx_http_pubsub_kafka_unsubscribe(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    ngx_http_pubsub_kafka_sub_t  *s;

    s = ngx_http_pubsub_kafka_sub_find(cmd,
                                    req->cmd_kafka_unsubscribe->subscription);
    if (s == NULL) {
        return NGX_OK;
    }

    (void) ngx_http_pubsub_kafka_sub_positions(cmd, s, NULL, 1);

    ngx_http_pubsub_kafka_sub_free(s);
    ngx_http_pubsub_cmd_done(s->cmd);

    return NGX_OK;
}


/* CmdKafkaCredit: answered only when it fails */

static ngx_int_t
ngx_http_pubsub_kafka_credit(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    CmdKafkaCredit               *kc;
    ngx_http_pubsub_kafka_sub_t  *s;

    kc = req->cmd_kafka_credit;

    s = ngx_http_pubsub_kafka_sub_find(cmd, kc->subscription);
    if (s == NULL) {
        return NGX_OK;
    }

    if (kc->messages <= 0) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "credit must be above 0, not %D",
                                          kc->messages);
        return NGX_OK;
    }

    /* credit adds to what may be pushed, up to a bound of its own */

    s->unacked -= kc->messages;

    if (s->unacked < -NGX_HTTP_PUBSUB_KAFKA_CREDIT_MAX) {
        s->unacked = -NGX_HTTP_PUBSUB_KAFKA_CREDIT_MAX;
    }

    ngx_http_pubsub_kafka_sub_resume(s);

    return NGX_OK;
}


static ngx_http_pubsub_kafka_sub_t *
ngx_http_pubsub_kafka_sub_find(ngx_http_pubsub_cmd_t *cmd,
    int64_t subscription)
{
    ngx_http_pubsub_cmd_t  *sub;

    sub = ngx_http_pubsub_find_cmd(cmd, subscription,
                                   PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE);

    if (sub == NULL || ((ngx_http_pubsub_kafka_sub_t *) sub->data)->cmd
                       == NULL)
    {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_NOT_FOUND,
                                          "no subscription %L on this "
                                          "connection", subscription);
        return NULL;
    }

    return sub->data;
}


/* the backend's state of a connection: its subscriptions */

ngx_int_t
ngx_http_pubsub_kafka_init_session(ngx_http_pubsub_session_t *session,
    void *data, void *conf)
{
    ngx_http_pubsub_kafka_session_t  *ss;

    ss = data;

    ngx_queue_init(&ss->subs);

    return ngx_http_pubsub_kafka_acl_init(session, ss, conf);
}
