
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * CmdKafkaCommitted: a group's offsets read back from Kafka (the offsets
 * look-up of ngx_http_pubsub_kafka_offsets.c, in the thread pool).  Like
 * commit, it never joins the group or makes a consumer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


static ngx_int_t ngx_http_pubsub_kafka_committed(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static void ngx_http_pubsub_kafka_committed_done(
    ngx_http_pubsub_kafka_offsets_t *o);
static void ngx_http_pubsub_kafka_committed_cancel(
    ngx_http_pubsub_cmd_t *cmd);


ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_committed_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_KAFKA_COMMITTED, ngx_string("committed"),
      ngx_http_pubsub_kafka_committed, ngx_http_pubsub_kafka_committed_cancel,
      NULL, sizeof(ngx_http_pubsub_kafka_offsets_t *),
      NGX_HTTP_PUBSUB_CMD_READ|NGX_HTTP_PUBSUB_CMD_GROUP },

      ngx_http_pubsub_null_command
};


/*
 * CmdKafkaCommitted: the group's offsets of the partitions asked for, or
 * of every partition of the topic; -1 where the group has none.
 */

static ngx_int_t
ngx_http_pubsub_kafka_committed(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    int32_t                            bad;
    ngx_int_t                          rc;
    ngx_str_t                          topic, group;
    ngx_uint_t                         i;
    const char                        *reason;
    CmdKafkaCommitted                 *kc;
    ngx_http_pubsub_kafka_client_t    *client;
    ngx_http_pubsub_kafka_offsets_t   *o, **op;
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    kc = req->cmd_kafka_committed;
    op = cmd->data;
    conf = cmd->conf;

    if (ngx_http_pubsub_kafka_group_check(cmd, "read committed offsets",
                                          kc->group, kc->topic)
        != NGX_OK)
    {
        return NGX_OK;
    }

    client = ngx_http_pubsub_kafka_cmd_client(cmd, 1,
                                              "read committed offsets",
                                              kc->topic, 0);
    if (client == NULL) {
        return NGX_OK;
    }

    if (kc->n_partitions > conf->max_partitions) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to read committed "
                                          "offsets, group: %s, topic: %s, "
                                          "err: more partitions than "
                                          "\"pubsub_kafka_max_partitions\"",
                                          kc->group, kc->topic);
        return NGX_OK;
    }

    reason = ngx_http_pubsub_kafka_check_ids(kc->partitions, kc->n_partitions,
                                             &bad);
    if (reason) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_BAD_REQUEST,
                                          "failed to read committed "
                                          "offsets, group: %s, topic: %s, "
                                          "partition: %D, err: %s",
                                          kc->group, kc->topic, bad, reason);
        return NGX_OK;
    }

    topic.data = (u_char *) kc->topic;
    topic.len = ngx_strlen(kc->topic);
    group.data = (u_char *) kc->group;
    group.len = ngx_strlen(kc->group);

    o = ngx_http_pubsub_kafka_offsets_alloc(client, &topic, &group,
                                         ngx_http_pubsub_kafka_committed_done,
                                         cmd);
    if (o == NULL) {
        return NGX_ERROR;
    }

    o->all = (kc->n_partitions == 0);
    o->timeout = (int) conf->timeout;

    for (i = 0; i < kc->n_partitions; i++) {
        (void) rd_kafka_topic_partition_list_add(o->list, o->topic,
                                                 kc->partitions[i]);
    }

    rc = ngx_http_pubsub_kafka_offsets_post(o);

    if (rc != NGX_OK) {
        (void) ngx_http_pubsub_send_error(cmd,
                                          (rc == NGX_BUSY)
                                          ? NGX_HTTP_PUBSUB_TOO_MANY
                                          : NGX_HTTP_PUBSUB_INTERNAL,
                                          "failed to read committed "
                                          "offsets, topic: %s, err: %s",
                                          kc->topic,
                                          (rc == NGX_BUSY)
                                          ? "too many look-ups in flight"
                                          : "internal error");
        return NGX_OK;
    }

    *op = o;

    return NGX_AGAIN;
}


static void
ngx_http_pubsub_kafka_committed_done(ngx_http_pubsub_kafka_offsets_t *o)
{
    int                               i, n;
    int64_t                           offset;
    PubSubResp                        resp = PUB_SUB_RESP__INIT;
    KafkaCommittedResp                cr = KAFKA_COMMITTED_RESP__INIT;
    KafkaPartitionOffset             *po, **ppo;
    rd_kafka_resp_err_t               err;
    ngx_http_pubsub_cmd_t            *cmd;

    cmd = o->data;

    if (o->err) {
        (void) ngx_http_pubsub_send_error(cmd,
                                          ngx_http_pubsub_kafka_group_code(
                                                                      o->err),
                                          "failed to read committed "
                                          "offsets, group: %s, topic: %s, "
                                          "err: %s", o->group, o->topic,
                                          rd_kafka_err2name(o->err));
        goto done;
    }

    n = o->list->cnt;

    po = ngx_alloc(n * (sizeof(KafkaPartitionOffset)
                        + sizeof(KafkaPartitionOffset *)) + 1, cmd->log);
    if (po == NULL) {
        (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_INTERNAL,
                                          "internal error");
        goto done;
    }

    ppo = (KafkaPartitionOffset **) (po + n);

    for (i = 0; i < n; i++) {
        offset = ngx_http_pubsub_kafka_offsets_get(o->committed,
                                                   o->list->elems[i].partition,
                                                   &err);

        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
            || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        {
            ngx_free(po);
            (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_NOT_FOUND,
                                              "failed to read committed "
                                              "offsets, group: %s, topic: "
                                              "%s, partition: %D, err: %s",
                                              o->group, o->topic,
                                              o->list->elems[i].partition,
                                              rd_kafka_err2name(err));
            goto done;
        }

        kafka_partition_offset__init(&po[i]);
        po[i].partition = o->list->elems[i].partition;
        po[i].offset = (err || offset < 0) ? -1 : offset;
        ppo[i] = &po[i];
    }

    cr.n_offsets = n;
    cr.offsets = ppo;

    resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_COMMITTED_RESP;
    resp.kafka_committed_resp = &cr;

    (void) ngx_http_pubsub_send(cmd, &resp);

    ngx_free(po);

done:

    ngx_http_pubsub_cmd_done(cmd);
}


static void
ngx_http_pubsub_kafka_committed_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_offsets_t  **op;

    op = cmd->data;

    (*op)->data = NULL;
}
