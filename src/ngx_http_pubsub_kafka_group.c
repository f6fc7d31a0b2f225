
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Group offsets kept by Kafka, with no consumer and no group membership:
 * CmdKafkaCommit stores where a client got to (_kafka_committed.c reads it
 * back).  Commits of one group within pubsub_kafka_commit_interval
 * go to Kafka as one Admin request.  Also the checks and error codes every
 * group command shares.  It never joins a group or makes a consumer: the
 * Admin API only, in the thread pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"


typedef struct ngx_http_pubsub_kafka_batch_s  ngx_http_pubsub_kafka_batch_t;


/* a commit: its command (NULL once the connection went) and its offsets */

typedef struct {
    ngx_queue_t                          queue;    /* in its batch */
    ngx_http_pubsub_cmd_t               *cmd;
    ngx_http_pubsub_kafka_batch_t       *batch;
    int                                  first;    /* in the batch's list */
    int                                  n;
} ngx_http_pubsub_kafka_commit_t;


/* the commits of one group gathered for one Admin request */

struct ngx_http_pubsub_kafka_batch_s {
    ngx_str_node_t                       sn;       /* the group */
    ngx_queue_t                          queue;    /* in client->batches */
    ngx_http_pubsub_kafka_client_t      *client;
    ngx_queue_t                          commits;
    ngx_event_t                          timer;
    rd_kafka_topic_partition_list_t     *list;     /* what is committed */
    rd_kafka_topic_partition_list_t     *result;
    rd_kafka_topic_partition_list_t     *high;
    rd_kafka_t                          *rk;
    int                                  timeout;
    rd_kafka_resp_err_t                  err;
    unsigned                             open:1;
    u_char                               data[1];
};


static ngx_int_t ngx_http_pubsub_kafka_commit(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static ngx_http_pubsub_kafka_batch_t *ngx_http_pubsub_kafka_batch(
    ngx_http_pubsub_kafka_client_t *kc, ngx_http_pubsub_cmd_t *cmd,
    ngx_str_t *group);
static void ngx_http_pubsub_kafka_batch_send(ngx_event_t *ev);
static void ngx_http_pubsub_kafka_batch_run(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_batch_alter(
    ngx_http_pubsub_kafka_batch_t *b, rd_kafka_topic_partition_list_t *alter);
static void ngx_http_pubsub_kafka_batch_done(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_batch_finish(
    ngx_http_pubsub_kafka_batch_t *b);
static void ngx_http_pubsub_kafka_batch_answer(
    ngx_http_pubsub_kafka_batch_t *b, ngx_http_pubsub_kafka_commit_t *c);
static void ngx_http_pubsub_kafka_batch_free(ngx_http_pubsub_kafka_batch_t *b);
static void ngx_http_pubsub_kafka_commit_cancel(ngx_http_pubsub_cmd_t *cmd);


ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_group_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_KAFKA_COMMIT, ngx_string("commit"),
      ngx_http_pubsub_kafka_commit, ngx_http_pubsub_kafka_commit_cancel,
      NULL, sizeof(ngx_http_pubsub_kafka_commit_t),
      NGX_HTTP_PUBSUB_CMD_READ|NGX_HTTP_PUBSUB_CMD_GROUP },

      ngx_http_pubsub_null_command
};


/*
 * CmdKafkaCommit: the offsets join the group's open batch, which goes to
 * Kafka when its interval is over; the answer comes with the batch's.
 */

static ngx_int_t
ngx_http_pubsub_kafka_commit(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    int32_t                            bad;
    ngx_str_t                          group;
    ngx_uint_t                         i, named;
    const char                        *reason;
    CmdKafkaCommit                    *kc;
    ngx_http_pubsub_kafka_batch_t     *b;
    ngx_http_pubsub_kafka_commit_t    *c;
    ngx_http_pubsub_kafka_client_t    *client;
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    kc = req->cmd_kafka_commit;
    c = cmd->data;

    if (ngx_http_pubsub_kafka_group_check(cmd, "commit", kc->group,
                                          kc->topic)
        != NGX_OK)
    {
        return NGX_OK;
    }

    client = ngx_http_pubsub_kafka_cmd_client(cmd, 1, "commit", kc->topic, 0);
    if (client == NULL) {
        return NGX_OK;
    }

    conf = cmd->conf;
    named = 0;
    bad = 0;

    if (kc->n_offsets == 0) {
        reason = "no offsets";

    } else if (kc->n_offsets > conf->max_partitions) {
        reason = "more partitions than \"pubsub_kafka_max_partitions\"";

    } else {
        reason = ngx_http_pubsub_kafka_check_list(kc->offsets, kc->n_offsets,
                                                  &bad);
        named = 1;
    }

    for (i = 0; reason == NULL && i < kc->n_offsets; i++) {
        if (kc->offsets[i]->offset < 0) {
            reason = "negative offset";
            bad = kc->offsets[i]->partition;
        }
    }

    if (reason && named) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to commit, group: %s, "
                                          "topic: %s, partition: %D, "
                                          "err: %s", kc->group, kc->topic,
                                          bad, reason);
        return NGX_OK;
    }

    if (reason) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to commit, group: %s, "
                                          "topic: %s, err: %s", kc->group,
                                          kc->topic, reason);
        return NGX_OK;
    }

    group.data = (u_char *) kc->group;
    group.len = ngx_strlen(kc->group);

    b = ngx_http_pubsub_kafka_batch(client, cmd, &group);
    if (b == NULL) {
        return NGX_ERROR;
    }

    c->cmd = cmd;
    c->batch = b;
    c->first = b->list->cnt;
    c->n = (int) kc->n_offsets;

    for (i = 0; i < kc->n_offsets; i++) {
        rd_kafka_topic_partition_list_add(b->list, kc->topic,
                                          kc->offsets[i]->partition)
            ->offset = kc->offsets[i]->offset;
    }

    ngx_queue_insert_tail(&b->commits, &c->queue);

    return NGX_AGAIN;
}


/* what a group command needs: a group and a topic it may name */

ngx_int_t
ngx_http_pubsub_kafka_group_check(ngx_http_pubsub_cmd_t *cmd,
    const char *what, char *group, char *topic)
{
    size_t       len;
    const char  *reason;

    len = ngx_strlen(group);

    if (len == 0) {
        reason = "empty group";

    } else if (len > NGX_HTTP_PUBSUB_KAFKA_GROUP_MAX) {
        reason = "group name over 255 bytes";

    } else {
        return ngx_http_pubsub_kafka_allowed(cmd, NGX_HTTP_PUBSUB_KAFKA_GROUP,
                                             (u_char *) group, len);
    }

    (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                      "failed to %s, topic: %s, err: %s",
                                      what, topic, reason);
    return NGX_DECLINED;
}


/* the group's batch still open, or a new one, sent after the interval */

static ngx_http_pubsub_kafka_batch_t *
ngx_http_pubsub_kafka_batch(ngx_http_pubsub_kafka_client_t *kc,
    ngx_http_pubsub_cmd_t *cmd, ngx_str_t *group)
{
    uint32_t                            hash;
    ngx_str_node_t                     *sn;
    ngx_http_pubsub_kafka_batch_t      *b;
    ngx_http_pubsub_kafka_loc_conf_t   *conf;

    conf = cmd->conf;
    hash = ngx_crc32_short(group->data, group->len);

    sn = ngx_str_rbtree_lookup(&kc->open_batches, group, hash);

    if (sn) {
        return (ngx_http_pubsub_kafka_batch_t *) sn;
    }

    b = ngx_calloc(sizeof(ngx_http_pubsub_kafka_batch_t) + group->len,
                   kc->log);
    if (b == NULL) {
        return NULL;
    }

    b->client = kc;
    b->rk = kc->handles[0].rk;
    b->timeout = (int) conf->timeout;
    ngx_memcpy(b->data, group->data, group->len);
    b->data[group->len] = '\0';

    b->sn.str.data = b->data;
    b->sn.str.len = group->len;
    b->sn.node.key = hash;

    b->list = rd_kafka_topic_partition_list_new(4);
    ngx_queue_init(&b->commits);

    b->timer.handler = ngx_http_pubsub_kafka_batch_send;
    b->timer.data = b;
    b->timer.log = kc->log;
    b->timer.cancelable = 1;

    ngx_rbtree_insert(&kc->open_batches, &b->sn.node);
    ngx_queue_insert_tail(&kc->batches, &b->queue);
    b->open = 1;

    ngx_add_timer(&b->timer, conf->commit_interval);

    return b;
}


/* the interval is over: the batch closes and goes to Kafka */

static void
ngx_http_pubsub_kafka_batch_send(ngx_event_t *ev)
{
    ngx_int_t                         rc;
    ngx_http_pubsub_kafka_task_t     *t;
    ngx_http_pubsub_kafka_batch_t    *b, **bp;
    ngx_http_pubsub_kafka_client_t   *kc;

    b = ev->data;
    kc = b->client;

    ngx_rbtree_delete(&kc->open_batches, &b->sn.node);
    b->open = 0;

    t = ngx_http_pubsub_kafka_task_alloc(kc, sizeof(b),
                                         ngx_http_pubsub_kafka_batch_run,
                                         ngx_http_pubsub_kafka_batch_done);

    rc = NGX_ERROR;

    if (t) {
        bp = t->data;
        *bp = b;

        rc = ngx_http_pubsub_kafka_task_post(t);
    }

    if (rc == NGX_OK) {
        kc->nadmin++;
        return;
    }

    b->err = (rc == NGX_BUSY) ? RD_KAFKA_RESP_ERR__QUEUE_FULL
                              : RD_KAFKA_RESP_ERR__FAIL;

    ngx_http_pubsub_kafka_batch_finish(b);
}


/*
 * In a pool thread: the partitions' ends first (an offset beyond the end
 * is refused), then one AlterConsumerGroupOffsets for the rest.
 */

static void
ngx_http_pubsub_kafka_batch_run(ngx_http_pubsub_kafka_task_t *t)
{
    int                               i;
    int64_t                           end;
    rd_kafka_resp_err_t               err;
    ngx_http_pubsub_kafka_batch_t    *b;
    rd_kafka_topic_partition_list_t  *alter;

    b = *(ngx_http_pubsub_kafka_batch_t **) t->data;

    b->high = rd_kafka_topic_partition_list_copy(b->list);

    for (i = 0; i < b->high->cnt; i++) {
        b->high->elems[i].offset = RD_KAFKA_OFFSET_END;
    }

    err = rd_kafka_offsets_for_times(b->rk, b->high, b->timeout);

    if (err && err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
        && err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    {
        b->err = err;
        return;
    }

    /* what may be committed: known partitions, not beyond their ends */

    alter = rd_kafka_topic_partition_list_new(b->list->cnt);

    for (i = 0; i < b->list->cnt; i++) {
        if (b->high->elems[i].err) {
            continue;
        }

        end = b->high->elems[i].offset;

        if (b->list->elems[i].offset > end) {
            continue;
        }

        (void) rd_kafka_topic_partition_list_del(alter,
                                                 b->list->elems[i].topic,
                                                 b->list->elems[i].partition);

        rd_kafka_topic_partition_list_add(alter, b->list->elems[i].topic,
                                          b->list->elems[i].partition)
            ->offset = b->list->elems[i].offset;
    }

    if (alter->cnt) {
        ngx_http_pubsub_kafka_batch_alter(b, alter);
    }

    rd_kafka_topic_partition_list_destroy(alter);
}


/* In a pool thread: AlterConsumerGroupOffsets, and its result in b */

static void
ngx_http_pubsub_kafka_batch_alter(ngx_http_pubsub_kafka_batch_t *b,
    rd_kafka_topic_partition_list_t *alter)
{
    char                                      errstr[256];
    size_t                                    n;
    rd_kafka_event_t                         *ev;
    rd_kafka_queue_t                         *q;
    rd_kafka_AdminOptions_t                  *options;
    const rd_kafka_group_result_t           **groups;
    rd_kafka_AlterConsumerGroupOffsets_t     *req;
    const rd_kafka_AlterConsumerGroupOffsets_result_t  *res;

    n = 0;
    q = rd_kafka_queue_new(b->rk);

    options = rd_kafka_AdminOptions_new(b->rk,
                                RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    (void) rd_kafka_AdminOptions_set_request_timeout(options, b->timeout,
                                                     errstr, sizeof(errstr));

    req = rd_kafka_AlterConsumerGroupOffsets_new((char *) b->data, alter);
    rd_kafka_AlterConsumerGroupOffsets(b->rk, &req, 1, options, q);

    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(options);

    ev = rd_kafka_queue_poll(q, b->timeout + 1000);

    if (ev == NULL) {
        b->err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        rd_kafka_queue_destroy(q);
        return;
    }

    b->err = rd_kafka_event_error(ev);

    if (b->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        res = rd_kafka_event_AlterConsumerGroupOffsets_result(ev);
        groups = res ? rd_kafka_AlterConsumerGroupOffsets_result_groups(res,
                                                                        &n)
                     : NULL;

        b->err = ngx_http_pubsub_kafka_group_result(groups, n, &b->result);
    }

    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
}


/*
 * In a pool thread: the one group of an Admin result, its error or a copy
 * of its partitions (each with its own error) in *parts
 */

rd_kafka_resp_err_t
ngx_http_pubsub_kafka_group_result(const rd_kafka_group_result_t **groups,
    size_t n, rd_kafka_topic_partition_list_t **parts)
{
    const rd_kafka_error_t                 *error;
    const rd_kafka_topic_partition_list_t  *list;

    if (groups == NULL || n != 1) {
        return RD_KAFKA_RESP_ERR__FAIL;
    }

    error = rd_kafka_group_result_error(groups[0]);

    if (error) {
        return rd_kafka_error_code(error);
    }

    list = rd_kafka_group_result_partitions(groups[0]);
    *parts = list ? rd_kafka_topic_partition_list_copy(list) : NULL;

    return RD_KAFKA_RESP_ERR_NO_ERROR;
}


static void
ngx_http_pubsub_kafka_batch_done(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_batch_t    *b;

    b = *(ngx_http_pubsub_kafka_batch_t **) t->data;

    if (t->skipped) {
        b->err = RD_KAFKA_RESP_ERR__DESTROY;
    }

    ngx_http_pubsub_kafka_batch_finish(b);
}


/* every commit of the batch answered, and the batch freed */

static void
ngx_http_pubsub_kafka_batch_finish(ngx_http_pubsub_kafka_batch_t *b)
{
    ngx_queue_t                     *q;
    ngx_http_pubsub_kafka_commit_t  *c;

    while (!ngx_queue_empty(&b->commits)) {
        q = ngx_queue_head(&b->commits);
        ngx_queue_remove(q);
        c = ngx_queue_data(q, ngx_http_pubsub_kafka_commit_t, queue);
        ngx_http_pubsub_kafka_batch_answer(b, c);
    }

    ngx_http_pubsub_kafka_batch_free(b);
}


/*
 * One commit's verdict, counted whether or not its connection is still
 * there, and its answer: stored when every one of its partitions is, else
 * the first failure, naming the group, topic and partition.
 */

static void
ngx_http_pubsub_kafka_batch_answer(ngx_http_pubsub_kafka_batch_t *b,
    ngx_http_pubsub_kafka_commit_t *c)
{
    int                           i;
    int64_t                       end;
    PubSubResp                    resp = PUB_SUB_RESP__INIT;
    KafkaCommitResp               cr = KAFKA_COMMIT_RESP__INIT;
    rd_kafka_resp_err_t           err;
    ngx_http_pubsub_cmd_t        *cmd;
    rd_kafka_topic_partition_t   *tp, *r;

    cmd = c->cmd;
    err = RD_KAFKA_RESP_ERR_NO_ERROR;
    tp = NULL;
    end = -1;

    for (i = c->first; i < c->first + c->n; i++) {
        tp = &b->list->elems[i];

        err = b->err;
        end = -1;

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && b->high) {
            err = b->high->elems[i].err;
            end = b->high->elems[i].offset;
        }

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && tp->offset > end) {
            err = RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE;
            break;
        }

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            r = b->result ? rd_kafka_topic_partition_list_find(b->result,
                                                               tp->topic,
                                                               tp->partition)
                          : NULL;
            err = r ? r->err : RD_KAFKA_RESP_ERR__FAIL;
        }

        if (err) {
            ngx_log_error(NGX_LOG_INFO, b->client->log, 0,
                          "pubsub: kafka commit of group \"%s\" topic "
                          "\"%s\" partition %D failed: %s", b->data,
                          tp->topic, tp->partition, rd_kafka_err2str(err));
            break;
        }
    }

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        b->client->ncommits++;
        ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_COMMITS, 1);

    } else {
        ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_COMMITS_FAILED,
                                     1);
    }

    if (cmd == NULL) {
        return;
    }

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_COMMIT_RESP;
        resp.kafka_commit_resp = &cr;

        (void) ngx_http_pubsub_send(cmd, &resp);

    } else if (err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE && tp->offset > end)
    {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to commit, group: %s, "
                                          "topic: %s, partition: %D, err: "
                                          "offset %L is beyond the end %L",
                                          b->data, tp->topic, tp->partition,
                                          tp->offset, end);

    } else {
        (void) ngx_http_pubsub_send_error(cmd,
                                          ngx_http_pubsub_kafka_group_code(err),
                                          "failed to commit, group: %s, "
                                          "topic: %s, partition: %D, err: %s",
                                          b->data, tp->topic, tp->partition,
                                          rd_kafka_err2name(err));
    }

    ngx_http_pubsub_cmd_done(cmd);
}


static void
ngx_http_pubsub_kafka_batch_free(ngx_http_pubsub_kafka_batch_t *b)
{
    if (b->open) {
        ngx_rbtree_delete(&b->client->open_batches, &b->sn.node);
    }

    ngx_queue_remove(&b->queue);

    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }

    if (b->list) {
        rd_kafka_topic_partition_list_destroy(b->list);
    }

    if (b->high) {
        rd_kafka_topic_partition_list_destroy(b->high);
    }

    if (b->result) {
        rd_kafka_topic_partition_list_destroy(b->result);
    }

    ngx_free(b);
}


/*
 * Worker exit: batches open or in flight are dropped with their commits
 * (their connections are gone, nobody was told they were stored).
 */

void
ngx_http_pubsub_kafka_batches_free(ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_queue_t                    *q;
    ngx_http_pubsub_kafka_batch_t  *b;

    while (!ngx_queue_empty(&kc->batches)) {
        q = ngx_queue_head(&kc->batches);
        b = ngx_queue_data(q, ngx_http_pubsub_kafka_batch_t, queue);
        ngx_http_pubsub_kafka_batch_free(b);
    }
}


ngx_int_t
ngx_http_pubsub_kafka_group_code(rd_kafka_resp_err_t err)
{
    switch (err) {

    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return NGX_HTTP_PUBSUB_TIMEOUT;

    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return NGX_HTTP_PUBSUB_NOT_FOUND;

    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return NGX_HTTP_PUBSUB_TOO_MANY;

    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return NGX_HTTP_PUBSUB_FORBIDDEN;

    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE:
    case RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC:
        /*
         * Kafka refuses it for this group, which real consumers use (a
         * rebalance among them too): retrying will not help
         */
        return NGX_HTTP_PUBSUB_BAD_REQUEST;

    default:
        return NGX_HTTP_PUBSUB_UNAVAILABLE;
    }
}


static void
ngx_http_pubsub_kafka_commit_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_commit_t  *c;

    c = cmd->data;

    /* its offsets still go with the batch; its answer goes nowhere */
    ngx_queue_remove(&c->queue);
}
