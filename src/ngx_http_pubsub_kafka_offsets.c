
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Offsets of many partitions of a topic in one blocking task: which
 * partitions the topic has, their first and end offsets, the offsets of a
 * time, and a consumer group's committed offsets.  For subscriptions and
 * group commands; answers nobody itself: its owner's done() does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


static void ngx_http_pubsub_kafka_offsets_run(ngx_http_pubsub_kafka_task_t *t);
static rd_kafka_resp_err_t ngx_http_pubsub_kafka_offsets_list(rd_kafka_t *rk,
    rd_kafka_topic_partition_list_t *asked, int64_t offset, int timeout,
    rd_kafka_topic_partition_list_t **result);
static rd_kafka_resp_err_t ngx_http_pubsub_kafka_offsets_group(
    ngx_http_pubsub_kafka_offsets_t *o);
static void ngx_http_pubsub_kafka_offsets_done(
    ngx_http_pubsub_kafka_task_t *t);


/*
 * A look-up for "topic" of the partitions in "list" (created by the
 * caller, taken over by the look-up), every partition of the topic with
 * "all"; the caller sets what it wants (ends, timestamp, group) in the
 * structure returned, then posts it.
 */

ngx_http_pubsub_kafka_offsets_t *
ngx_http_pubsub_kafka_offsets_alloc(ngx_http_pubsub_kafka_client_t *kc,
    ngx_str_t *topic, ngx_str_t *group, ngx_http_pubsub_kafka_offsets_pt done,
    void *data)
{
    ngx_http_pubsub_kafka_task_t     *t;
    ngx_http_pubsub_kafka_offsets_t  *o;

    t = ngx_http_pubsub_kafka_task_alloc(kc,
                                 sizeof(ngx_http_pubsub_kafka_offsets_t)
                                 + topic->len + 1 + group->len + 1,
                                 ngx_http_pubsub_kafka_offsets_run,
                                 ngx_http_pubsub_kafka_offsets_done);
    if (t == NULL) {
        return NULL;
    }

    o = t->data;
    o->task = t;
    o->client = kc;
    o->done = done;
    o->data = data;
    o->rk = kc->handles[0].rk;

    o->topic = (char *) (o + 1);
    ngx_memcpy(o->topic, topic->data, topic->len);
    o->topic[topic->len] = '\0';

    if (group->len) {
        o->group = o->topic + topic->len + 1;
        ngx_memcpy(o->group, group->data, group->len);
        o->group[group->len] = '\0';
    }

    o->list = rd_kafka_topic_partition_list_new(4);

    return o;
}


/* NGX_OK, NGX_BUSY, NGX_ERROR as ngx_http_pubsub_kafka_task_post() */

ngx_int_t
ngx_http_pubsub_kafka_offsets_post(ngx_http_pubsub_kafka_offsets_t *o)
{
    ngx_int_t                         rc;
    rd_kafka_topic_t                 *rkt;
    rd_kafka_topic_partition_list_t  *list;

    if (o->all) {
        /* a handle of the topic, for its metadata; it only takes locks */
        o->rkt = rd_kafka_topic_new(o->rk, o->topic, NULL);
    }

    rkt = o->rkt;
    list = o->list;

    if (o->all && rkt == NULL) {
        rc = NGX_ERROR;
        ngx_free(o->task);

    } else {
        rc = ngx_http_pubsub_kafka_task_post(o->task);
    }

    if (rc != NGX_OK) {
        /* the task and "o" are gone: only librdkafka's objects are left */

        rd_kafka_topic_partition_list_destroy(list);

        if (rkt) {
            rd_kafka_topic_destroy(rkt);
        }
    }

    return rc;
}


/* librdkafka calls only: this runs in a pool thread */

static void
ngx_http_pubsub_kafka_offsets_run(ngx_http_pubsub_kafka_task_t *t)
{
    int                               i, j;
    rd_kafka_resp_err_t               err;
    const rd_kafka_metadata_t        *md;
    const rd_kafka_metadata_topic_t  *mt;
    ngx_http_pubsub_kafka_offsets_t  *o;

    o = t->data;

    if (o->all) {
        err = rd_kafka_metadata(o->rk, 0, o->rkt, &md, o->timeout);

        if (err) {
            o->err = err;
            return;
        }

        mt = (md->topic_cnt == 1) ? &md->topics[0] : NULL;

        if (mt == NULL || mt->err || mt->partition_cnt == 0) {
            o->err = mt ? (mt->err ? mt->err
                                   : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                        : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
            rd_kafka_metadata_destroy(md);
            return;
        }

        for (i = 0; i < mt->partition_cnt; i++) {
            for (j = 0; j < o->list->cnt; j++) {
                if (o->list->elems[j].partition == mt->partitions[i].id) {
                    break;
                }
            }

            if (j == o->list->cnt) {
                (void) rd_kafka_topic_partition_list_add(o->list, o->topic,
                                                    mt->partitions[i].id);
            }
        }

        rd_kafka_metadata_destroy(md);
    }

    if (o->list->cnt == 0) {
        return;
    }

    if (o->ends) {
        o->err = ngx_http_pubsub_kafka_offsets_list(o->rk, o->list,
                                                    RD_KAFKA_OFFSET_BEGINNING,
                                                    o->timeout, &o->low);
        if (o->err) {
            return;
        }

        o->err = ngx_http_pubsub_kafka_offsets_list(o->rk, o->list,
                                                    RD_KAFKA_OFFSET_END,
                                                    o->timeout, &o->high);
        if (o->err) {
            return;
        }
    }

    if (o->timestamp > 0) {
        o->err = ngx_http_pubsub_kafka_offsets_list(o->rk, o->list,
                                                    o->timestamp, o->timeout,
                                                    &o->times);
        if (o->err) {
            return;
        }
    }

    if (o->group) {
        o->err = ngx_http_pubsub_kafka_offsets_group(o);
    }
}


static rd_kafka_resp_err_t
ngx_http_pubsub_kafka_offsets_list(rd_kafka_t *rk,
    rd_kafka_topic_partition_list_t *asked, int64_t offset, int timeout,
    rd_kafka_topic_partition_list_t **result)
{
    int                               i;
    rd_kafka_resp_err_t               err;
    rd_kafka_topic_partition_list_t  *list;

    list = rd_kafka_topic_partition_list_copy(asked);

    for (i = 0; i < list->cnt; i++) {
        list->elems[i].offset = offset;
    }

    *result = list;

    err = rd_kafka_offsets_for_times(rk, list, timeout);

    /* an unknown partition is an error of that partition only */

    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
        || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    {
        err = RD_KAFKA_RESP_ERR_NO_ERROR;
    }

    return err;
}


/* the group's committed offsets: Admin API, waited for on our own queue */

static rd_kafka_resp_err_t
ngx_http_pubsub_kafka_offsets_group(ngx_http_pubsub_kafka_offsets_t *o)
{
    char                                          errstr[256];
    size_t                                        n;
    rd_kafka_event_t                             *ev;
    rd_kafka_queue_t                             *q;
    rd_kafka_resp_err_t                           err;
    rd_kafka_AdminOptions_t                      *options;
    const rd_kafka_group_result_t               **groups;
    rd_kafka_ListConsumerGroupOffsets_t          *req;
    const rd_kafka_ListConsumerGroupOffsets_result_t  *res;

    n = 0;
    q = rd_kafka_queue_new(o->rk);

    options = rd_kafka_AdminOptions_new(o->rk,
                                RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    (void) rd_kafka_AdminOptions_set_request_timeout(options, o->timeout,
                                                     errstr, sizeof(errstr));

    req = rd_kafka_ListConsumerGroupOffsets_new(o->group, o->list);

    rd_kafka_ListConsumerGroupOffsets(o->rk, &req, 1, options, q);

    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(options);

    ev = rd_kafka_queue_poll(q, o->timeout + 1000);

    if (ev == NULL) {
        rd_kafka_queue_destroy(q);
        return RD_KAFKA_RESP_ERR__TIMED_OUT;
    }

    err = rd_kafka_event_error(ev);

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        res = rd_kafka_event_ListConsumerGroupOffsets_result(ev);
        groups = res ? rd_kafka_ListConsumerGroupOffsets_result_groups(res,
                                                                       &n)
                     : NULL;

        err = ngx_http_pubsub_kafka_group_result(groups, n, &o->committed);
    }

    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);

    return err;
}


static void
ngx_http_pubsub_kafka_offsets_done(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_offsets_t  *o;

    o = t->data;
    o->task = NULL;             /* freed after this */

    if (t->skipped) {
        o->err = RD_KAFKA_RESP_ERR__DESTROY;
    }

    if (o->data) {
        o->done(o);
    }

    ngx_http_pubsub_kafka_offsets_free(o);
}


/*
 * The i-th partition's result in one of the lists: its offset, or -1
 * with *err set when the look-up of that partition failed.
 */

int64_t
ngx_http_pubsub_kafka_offsets_get(rd_kafka_topic_partition_list_t *list,
    int32_t id, rd_kafka_resp_err_t *err)
{
    rd_kafka_topic_partition_t  *tp;

    *err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (list == NULL) {
        *err = RD_KAFKA_RESP_ERR__NOENT;
        return -1;
    }

    tp = NULL;

    if (list->cnt) {
        tp = rd_kafka_topic_partition_list_find(list, list->elems[0].topic,
                                                id);
    }

    if (tp == NULL) {
        *err = RD_KAFKA_RESP_ERR__NOENT;
        return -1;
    }

    if (tp->err && tp->err != RD_KAFKA_RESP_ERR__IN_PROGRESS) {
        *err = tp->err;
        return -1;
    }

    return tp->offset;
}


/* the librdkafka objects of a look-up: from done(), or a failed post */

void
ngx_http_pubsub_kafka_offsets_free(ngx_http_pubsub_kafka_offsets_t *o)
{
    rd_kafka_topic_partition_list_t  **lists[] = {
        &o->list, &o->low, &o->high, &o->times, &o->committed, NULL
    };

    rd_kafka_topic_partition_list_t ***l;

    for (l = lists; *l; l++) {
        if (**l) {
            rd_kafka_topic_partition_list_destroy(**l);
            **l = NULL;
        }
    }

    if (o->rkt) {
        rd_kafka_topic_destroy(o->rkt);
        o->rkt = NULL;
    }
}
