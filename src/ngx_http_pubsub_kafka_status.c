
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * pubsub_kafka_status: this worker's Kafka clients as JSON, so sharing,
 * readers and sweeps can be observed.  Reads the backend's state, never
 * changes it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


/*
 * bytes of one client and of one partition in the JSON, names aside: more
 * than their text, and NGX_INT64_LEN for each number, a few more than they
 * have
 */
#define NGX_HTTP_PUBSUB_KAFKA_CLIENT_JSON     (340 + 21 * NGX_INT64_LEN)
#define NGX_HTTP_PUBSUB_KAFKA_PARTITION_JSON                                  \
    (160 + 12 * NGX_INT64_LEN                                                 \
     + NGX_HTTP_PUBSUB_KAFKA_READERS * (96 + 3 * NGX_INT64_LEN))


static size_t ngx_http_pubsub_kafka_status_size(
    ngx_http_pubsub_kafka_cluster_t *cluster);
static u_char *ngx_http_pubsub_kafka_status_client(u_char *p,
    ngx_http_pubsub_kafka_client_t *kc);
static u_char *ngx_http_pubsub_kafka_status_partitions(u_char *p,
    ngx_http_pubsub_kafka_client_t *kc);


ngx_int_t
ngx_http_pubsub_kafka_status_handler(ngx_http_request_t *r)
{
    u_char                              *p;
    size_t                               size;
    ngx_int_t                            rc;
    ngx_buf_t                           *b;
    ngx_uint_t                           i;
    ngx_chain_t                          out;
    ngx_http_pubsub_kafka_cluster_t    **cluster;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    pkmcf = ngx_http_get_module_main_conf(r, ngx_http_pubsub_kafka_module);

    size = sizeof("{\"pid\":,\"websockets\":,\"clients\":[]}" CRLF)
           + 2 * NGX_INT64_LEN;
    cluster = pkmcf->clusters.elts;

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        size += ngx_http_pubsub_kafka_status_size(cluster[i]) + 1;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(b->pos, "{\"pid\":%P,\"websockets\":%ui,\"clients\":[",
                    ngx_pid, ngx_http_pubsub_ws_open());

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        if (cluster[i]->client == NULL) {
            p = ngx_cpymem(p, "null", 4);
            continue;
        }

        p = ngx_http_pubsub_kafka_status_client(p, cluster[i]->client);
    }

    p = ngx_cpymem(p, "]}" CRLF, 4);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the buffer a client's JSON needs: every name escaped at its worst */

static size_t
ngx_http_pubsub_kafka_status_size(ngx_http_pubsub_kafka_cluster_t *cluster)
{
    size_t                           size;
    ngx_rbtree_node_t               *tn;
    ngx_http_pubsub_kafka_topic_t   *t;
    ngx_http_pubsub_kafka_client_t  *kc;

    size = NGX_HTTP_PUBSUB_KAFKA_CLIENT_JSON + 6 * cluster->brokers.len;

    kc = cluster->client;

    if (kc == NULL || kc->topics.root == kc->topics.sentinel) {
        return size;
    }

    for (tn = ngx_rbtree_min(kc->topics.root, kc->topics.sentinel);
         tn;
         tn = ngx_rbtree_next(&kc->topics, tn))
    {
        t = (ngx_http_pubsub_kafka_topic_t *) tn;
        size += t->npartitions
                * (NGX_HTTP_PUBSUB_KAFKA_PARTITION_JSON + t->sn.str.len);
    }

    return size;
}


static u_char *
ngx_http_pubsub_kafka_status_client(u_char *p,
    ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_uint_t  i, up;

    up = 0;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        up += kc->handles[i].brokers_up;
    }

    p = ngx_cpymem(p, "{\"brokers\":\"", sizeof("{\"brokers\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, kc->cluster->brokers.data,
                                   kc->cluster->brokers.len);

    p = ngx_sprintf(p, "\",\"handles\":%d,\"connections\":%ui,"
                    "\"topics\":%ui,\"partitions\":%ui,\"readers\":%ui,"
                    "\"cursors\":%ui,\"waiters\":%ui,\"lookups\":%ui,"
                    "\"window_bytes\":%uz,\"window_memory\":%uz,"
                    "\"fetches\":%ui,"
                    "\"messages\":%ui,\"seeks\":%ui,\"resumes\":%ui,"
                    "\"produced\":%ui,\"acked\":%ui,\"failed\":%ui,"
                    "\"commits\":%ui,\"admin_requests\":%ui,"
                    "\"freed_in_pool\":%ui,\"freeing\":%ui,"
                    "\"partition_list\":[",
                    NGX_HTTP_PUBSUB_KAFKA_READERS, up, kc->ntopics,
                    kc->npartitions, kc->nreaders, kc->nreaders,
                    kc->nwaiters, kc->ntasks, kc->window_bytes,
                    kc->window_memory,
                    kc->nfetches, kc->nmessages, kc->nseeks, kc->nresumes,
                    kc->nproduced, kc->nacked, kc->nfailed, kc->ncommits,
                    kc->nadmin, kc->nreleased, kc->releasing);

    p = ngx_http_pubsub_kafka_status_partitions(p, kc);

    return ngx_cpymem(p, "]}", 2);
}


static u_char *
ngx_http_pubsub_kafka_status_partitions(u_char *p,
    ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_uint_t                       i, n, first;
    ngx_http_pubsub_kafka_part_t    *part;
    ngx_http_pubsub_kafka_topic_t   *t;
    ngx_http_pubsub_kafka_reader_t  *r;

    first = 1;

    for (part = ngx_http_pubsub_kafka_part_next(kc, NULL);
         part;
         part = ngx_http_pubsub_kafka_part_next(kc, part))
    {
        t = part->topic;

        n = 0;

        for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
            r = &part->readers[i];
            n += r->running;
        }

        if (!first) {
            *p++ = ',';
        }

        first = 0;

        /* topic names are [a-zA-Z0-9._-]: nothing to escape */

        p = ngx_sprintf(p, "{\"topic\":\"%V\",\"partition\":%D,"
                        "\"readers\":%ui,\"starts\":%ui,"
                        "\"seeks\":%ui,\"resumes\":%ui,"
                        "\"lookups\":%ui,\"subscriptions\":%ui,"
                        "\"low\":%L,\"high\":%L,\"reading\":[",
                        &t->sn.str, part->id, n, part->starts,
                        part->seeks, part->resumes,
                        part->lookups, part->refs, part->low,
                        part->high);

        for (i = 0, n = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
            r = &part->readers[i];

            if (!r->running) {
                continue;
            }

            p = ngx_sprintf(p, "%s{\"first\":%L,\"next\":%L,"
                            "\"messages\":%ui,\"tail\":%s,"
                            "\"paused\":%s}",
                            n++ ? "," : "", r->first, r->next,
                            r->nmessages, r->tail ? "true" : "false",
                            r->paused ? "true" : "false");
        }

        p = ngx_cpymem(p, "]}", 2);
    }

    return p;
}
