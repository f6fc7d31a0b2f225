
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Topics and partitions a worker knows: created when asked for (within
 * pubsub_kafka_max_partitions), looked up in the thread pool, freed by one
 * rule when nothing uses them.  Does not read messages: its readers do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


typedef struct {
    ngx_http_pubsub_kafka_part_t        *partition;
    rd_kafka_t                          *rk;
    char                                 topic[NGX_HTTP_PUBSUB_KAFKA_TOPIC_MAX
                                               + 1];
    int32_t                              id;
    int                                  timeout;
    rd_kafka_resp_err_t                  err;
    int64_t                              low;
    int64_t                              high;
} ngx_http_pubsub_kafka_lookup_t;


static ngx_http_pubsub_kafka_topic_t *ngx_http_pubsub_kafka_topic(
    ngx_http_pubsub_kafka_client_t *kc, u_char *name, size_t len,
    ngx_uint_t create);
static ngx_http_pubsub_kafka_part_t *ngx_http_pubsub_kafka_find(
    ngx_http_pubsub_kafka_topic_t *t, int32_t id);
static void ngx_http_pubsub_kafka_topic_free(
    ngx_http_pubsub_kafka_topic_t *t);
static int ngx_libc_cdecl ngx_http_pubsub_kafka_cmp_ids(const void *one,
    const void *two);
static int ngx_libc_cdecl ngx_http_pubsub_kafka_cmp_list(const void *one,
    const void *two);
static void ngx_http_pubsub_kafka_lookup_run(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_lookup_done(
    ngx_http_pubsub_kafka_task_t *t);


/* Kafka's rule for topic names: [a-zA-Z0-9._-]{1,249}, not "." or ".." */

ngx_int_t
ngx_http_pubsub_kafka_check_topic(u_char *name, size_t len)
{
    u_char  *p, *last;

    if (len == 0 || len > NGX_HTTP_PUBSUB_KAFKA_TOPIC_MAX) {
        return NGX_DECLINED;
    }

    if ((len == 1 && name[0] == '.')
        || (len == 2 && name[0] == '.' && name[1] == '.'))
    {
        return NGX_DECLINED;
    }

    last = name + len;

    for (p = name; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'
            || *p == '-')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Partitions a client listed, n of them (bounded by the caller by
 * pubsub_kafka_max_partitions): none negative, none twice.  The lists are
 * sorted in place, by partition, so that a hostile one costs n log n, not
 * n^2.  Return NULL, or why not and, in "bad", which partition.
 */

const char *
ngx_http_pubsub_kafka_check_ids(int32_t *ids, ngx_uint_t n, int32_t *bad)
{
    ngx_uint_t  i;

    ngx_qsort(ids, (size_t) n, sizeof(int32_t),
              ngx_http_pubsub_kafka_cmp_ids);

    for (i = 0; i < n; i++) {
        *bad = ids[i];

        if (ids[i] < 0) {
            return "negative partition";
        }

        if (i && ids[i] == ids[i - 1]) {
            return "a partition listed twice";
        }
    }

    return NULL;
}


const char *
ngx_http_pubsub_kafka_check_list(KafkaPartitionOffset **list, ngx_uint_t n,
    int32_t *bad)
{
    ngx_uint_t  i;

    ngx_qsort(list, (size_t) n, sizeof(KafkaPartitionOffset *),
              ngx_http_pubsub_kafka_cmp_list);

    for (i = 0; i < n; i++) {
        *bad = list[i]->partition;

        if (list[i]->partition < 0) {
            return "negative partition";
        }

        if (i && list[i]->partition == list[i - 1]->partition) {
            return "a partition listed twice";
        }
    }

    return NULL;
}


static int ngx_libc_cdecl
ngx_http_pubsub_kafka_cmp_ids(const void *one, const void *two)
{
    int32_t  a, b;

    a = *(const int32_t *) one;
    b = *(const int32_t *) two;

    return (a > b) - (a < b);
}


static int ngx_libc_cdecl
ngx_http_pubsub_kafka_cmp_list(const void *one, const void *two)
{
    return ngx_http_pubsub_kafka_cmp_ids(
               &(*(KafkaPartitionOffset * const *) one)->partition,
               &(*(KafkaPartitionOffset * const *) two)->partition);
}


/*
 * The client's partitions one after the other, by topic and number: the
 * first for NULL, else the one after p.  Nothing may be freed meanwhile.
 */

ngx_http_pubsub_kafka_part_t *
ngx_http_pubsub_kafka_part_next(ngx_http_pubsub_kafka_client_t *kc,
    ngx_http_pubsub_kafka_part_t *p)
{
    ngx_rbtree_node_t              *tn, *pn;
    ngx_http_pubsub_kafka_topic_t  *t;

    if (p) {
        t = p->topic;

        pn = ngx_rbtree_next(&t->partitions, &p->node);
        if (pn) {
            return (ngx_http_pubsub_kafka_part_t *) pn;
        }

        tn = ngx_rbtree_next(&kc->topics, &t->sn.node);

    } else {
        tn = (kc->topics.root == kc->topics.sentinel)
             ? NULL : ngx_rbtree_min(kc->topics.root, kc->topics.sentinel);
    }

    for ( /* void */ ; tn; tn = ngx_rbtree_next(&kc->topics, tn)) {
        t = (ngx_http_pubsub_kafka_topic_t *) tn;

        if (t->partitions.root != t->partitions.sentinel) {
            return (ngx_http_pubsub_kafka_part_t *)
                       ngx_rbtree_min(t->partitions.root,
                                      t->partitions.sentinel);
        }
    }

    return NULL;
}


/*
 * A NUL-terminated text of a name for answers and logs: printable ASCII
 * as is, '"' and '\\' and other bytes as \xNN, the first 256 bytes only.
 */

u_char *
ngx_http_pubsub_kafka_name_text(u_char *buf, u_char *name, size_t len)
{
    u_char      *p;
    size_t       i, n;

    static u_char  hex[] = "0123456789abcdef";

    p = buf;
    n = ngx_min(len, 256);

    for (i = 0; i < n; i++) {
        if (name[i] >= 0x20 && name[i] < 0x7f
            && name[i] != '"' && name[i] != '\\')
        {
            *p++ = name[i];
            continue;
        }

        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[name[i] >> 4];
        *p++ = hex[name[i] & 0xf];
    }

    if (n < len) {
        p = ngx_cpymem(p, "...", 3);
    }

    *p = '\0';

    return buf;
}


static ngx_http_pubsub_kafka_topic_t *
ngx_http_pubsub_kafka_topic(ngx_http_pubsub_kafka_client_t *kc, u_char *name,
    size_t len, ngx_uint_t create)
{
    uint32_t                        hash;
    ngx_str_t                       key;
    ngx_str_node_t                 *sn;
    ngx_http_pubsub_kafka_topic_t  *t;

    key.data = name;
    key.len = len;
    hash = ngx_crc32_short(name, len);

    sn = ngx_str_rbtree_lookup(&kc->topics, &key, hash);

    if (sn) {
        return (ngx_http_pubsub_kafka_topic_t *) sn;
    }

    if (!create) {
        return NULL;
    }

    t = ngx_calloc(sizeof(ngx_http_pubsub_kafka_topic_t) + len, kc->log);
    if (t == NULL) {
        return NULL;
    }

    t->client = kc;
    ngx_memcpy(t->data, name, len);
    t->data[len] = '\0';

    t->sn.str.data = t->data;
    t->sn.str.len = len;
    t->sn.node.key = hash;

    ngx_rbtree_init(&t->partitions, &t->sentinel, ngx_rbtree_insert_value);

    ngx_rbtree_insert(&kc->topics, &t->sn.node);
    kc->ntopics++;

    return t;
}


/*
 * The partition of a command, created if it is new to the worker; NULL
 * with the reason when the worker knows pubsub_kafka_max_partitions
 * partitions already, or memory ran out.
 */

ngx_http_pubsub_kafka_part_t *
ngx_http_pubsub_kafka_partition(ngx_http_pubsub_kafka_client_t *kc,
    u_char *name, size_t len, int32_t id, const char **reason)
{
    ngx_uint_t                      i;
    ngx_http_pubsub_kafka_part_t   *p;
    ngx_http_pubsub_kafka_topic_t  *t;

    t = ngx_http_pubsub_kafka_topic(kc, name, len, 0);

    if (t) {
        p = ngx_http_pubsub_kafka_find(t, id);

        if (p) {
            return p;
        }
    }

    if (kc->npartitions >= kc->cluster->max_partitions) {
        ngx_log_error(NGX_LOG_WARN, kc->log, 0,
                      "pubsub: kafka %V: %ui partitions in use, the limit "
                      "of \"pubsub_kafka_max_partitions\"",
                      &kc->cluster->brokers, kc->npartitions);
        *reason = "too many partitions in use";
        return NULL;
    }

    *reason = "internal error";

    if (t == NULL) {
        t = ngx_http_pubsub_kafka_topic(kc, name, len, 1);
        if (t == NULL) {
            return NULL;
        }
    }

    p = ngx_calloc(sizeof(ngx_http_pubsub_kafka_part_t), kc->log);
    if (p == NULL) {
        if (t->npartitions == 0) {
            ngx_http_pubsub_kafka_topic_free(t);
        }

        return NULL;
    }

    p->topic = t;
    p->id = id;
    p->node.key = (ngx_rbtree_key_t) id;
    ngx_queue_init(&p->pending);

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        p->readers[i].partition = p;
        p->readers[i].index = i;
        ngx_queue_init(&p->readers[i].window);
        ngx_queue_init(&p->readers[i].waiters);
        ngx_queue_init(&p->readers[i].behind);
    }

    ngx_rbtree_insert(&t->partitions, &p->node);
    t->npartitions++;
    kc->npartitions++;

    return p;
}


static ngx_http_pubsub_kafka_part_t *
ngx_http_pubsub_kafka_find(ngx_http_pubsub_kafka_topic_t *t, int32_t id)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) id;
    node = t->partitions.root;
    sentinel = t->partitions.sentinel;

    while (node != sentinel) {
        if (key == node->key) {
            return (ngx_http_pubsub_kafka_part_t *) node;
        }

        node = (key < node->key) ? node->left : node->right;
    }

    return NULL;
}


/* the partition a message of this handle belongs to, if it is still read */

ngx_http_pubsub_kafka_part_t *
ngx_http_pubsub_kafka_find_message(ngx_http_pubsub_kafka_handle_t *h,
    rd_kafka_message_t *m)
{
    const char                     *name;
    ngx_http_pubsub_kafka_topic_t  *t;

    t = h->last_topic;

    if (t == NULL || t->rkt[h->index] != m->rkt) {
        name = rd_kafka_topic_name(m->rkt);

        t = ngx_http_pubsub_kafka_topic(h->client, (u_char *) name,
                                        ngx_strlen(name), 0);
        if (t == NULL) {
            return NULL;
        }

        h->last_topic = t;
    }

    return ngx_http_pubsub_kafka_find(t, m->partition);
}


/*
 * The one rule for freeing a partition: no reader runs or stops, no
 * look-up is in flight, nothing waits for one, no subscription holds it,
 * and no function walks its lists (p->busy: the walk releases it when it
 * is over).  A topic goes with its last partition.
 */

void
ngx_http_pubsub_kafka_partition_release(ngx_http_pubsub_kafka_part_t *p)
{
    ngx_uint_t                      i;
    ngx_http_pubsub_kafka_topic_t  *t;

    if (p->busy) {
        return;
    }

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        if (ngx_http_pubsub_kafka_reader_busy(&p->readers[i])) {
            return;
        }
    }

    if (p->lookup || !ngx_queue_empty(&p->pending) || p->refs) {
        return;
    }

    t = p->topic;

    ngx_rbtree_delete(&t->partitions, &p->node);
    t->npartitions--;
    t->client->npartitions--;

    ngx_free(p);

    if (t->npartitions == 0) {
        ngx_http_pubsub_kafka_topic_free(t);
    }
}


void
ngx_http_pubsub_kafka_partition_unbusy(ngx_http_pubsub_kafka_part_t *p)
{
    if (--p->busy == 0) {
        ngx_http_pubsub_kafka_partition_release(p);
    }
}


/*
 * A topic nobody reads: messages still queued in librdkafka for it hold
 * their own reference to the topic handle, and find no topic here.
 */

static void
ngx_http_pubsub_kafka_topic_free(ngx_http_pubsub_kafka_topic_t *t)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = t->client;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        if (t->rkt[i]) {
            rd_kafka_topic_destroy(t->rkt[i]);
        }

        if (kc->handles[i].last_topic == t) {
            kc->handles[i].last_topic = NULL;
        }
    }

    ngx_rbtree_delete(&kc->topics, &t->sn.node);
    kc->ntopics--;

    ngx_free(t);
}


/* worker exit: everything goes, readers are stopped by rd_kafka_destroy() */

void
ngx_http_pubsub_kafka_partitions_free(ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_uint_t                      i;
    ngx_rbtree_node_t              *node;
    ngx_http_pubsub_kafka_part_t   *p;
    ngx_http_pubsub_kafka_topic_t  *t;

    while (kc->topics.root != kc->topics.sentinel) {
        node = ngx_rbtree_min(kc->topics.root, kc->topics.sentinel);
        t = (ngx_http_pubsub_kafka_topic_t *) node;

        while (t->partitions.root != t->partitions.sentinel) {
            node = ngx_rbtree_min(t->partitions.root, t->partitions.sentinel);
            p = (ngx_http_pubsub_kafka_part_t *) node;

            for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
                ngx_http_pubsub_kafka_free_window(&p->readers[i]);
            }

            ngx_rbtree_delete(&t->partitions, &p->node);
            t->npartitions--;
            kc->npartitions--;
            ngx_free(p);
        }

        ngx_http_pubsub_kafka_topic_free(t);
    }
}


/*
 * The partition's first and end offsets: does it exist, what is valid.
 * NGX_BUSY or NGX_ERROR when the look-up could not be queued; the caller
 * answers the waiters it holds.
 */

ngx_int_t
ngx_http_pubsub_kafka_lookup(ngx_http_pubsub_kafka_part_t *p,
    ngx_msec_t timeout)
{
    ngx_int_t                         rc;
    ngx_http_pubsub_kafka_task_t     *t;
    ngx_http_pubsub_kafka_lookup_t   *lk;
    ngx_http_pubsub_kafka_client_t   *kc;

    kc = p->topic->client;

    t = ngx_http_pubsub_kafka_task_alloc(kc,
                                       sizeof(ngx_http_pubsub_kafka_lookup_t),
                                       ngx_http_pubsub_kafka_lookup_run,
                                       ngx_http_pubsub_kafka_lookup_done);
    if (t == NULL) {
        return NGX_ERROR;
    }

    lk = t->data;
    lk->partition = p;
    lk->rk = kc->handles[0].rk;
    (void) ngx_cpystrn((u_char *) lk->topic, p->topic->sn.str.data,
                       sizeof(lk->topic));
    lk->id = p->id;
    lk->timeout = (int) timeout;

    rc = ngx_http_pubsub_kafka_task_post(t);

    if (rc == NGX_OK) {
        p->lookup = 1;
        p->lookups++;
    }

    return rc;
}


static void
ngx_http_pubsub_kafka_lookup_run(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_lookup_t *lk = t->data;

    lk->err = ngx_http_pubsub_kafka_offsets(lk->rk, lk->topic, lk->id,
                                            RD_KAFKA_OFFSET_BEGINNING,
                                            &lk->low, lk->timeout);
    if (lk->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        lk->err = ngx_http_pubsub_kafka_offsets(lk->rk, lk->topic, lk->id,
                                                RD_KAFKA_OFFSET_END,
                                                &lk->high, lk->timeout);
    }
}


static void
ngx_http_pubsub_kafka_lookup_done(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_uint_t                         i;
    ngx_http_pubsub_kafka_part_t      *p;
    ngx_http_pubsub_kafka_lookup_t    *lk;
    ngx_http_pubsub_kafka_reader_t    *r;

    lk = t->data;
    p = lk->partition;
    p->lookup = 0;
    p->busy++;

    if (t->skipped) {
        lk->err = RD_KAFKA_RESP_ERR__DESTROY;
    }

    if (lk->err) {
        ngx_log_error(NGX_LOG_INFO, t->client->log, 0,
                      "pubsub: kafka look-up of \"%V\" partition %D "
                      "failed: %s", &p->topic->sn.str, p->id,
                      rd_kafka_err2str(lk->err));

        ngx_http_pubsub_kafka_fail_waiters(&p->pending,
                                           rd_kafka_err2name(lk->err),
                                           lk->err);

    } else {
        p->valid = 1;
        p->low = lk->low;
        p->high = ngx_max(lk->high, p->high);

        /* the partition is well: readers need not check it again */

        for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
            r = &p->readers[i];

            if (r->running) {
                r->checked = t->errors;
            }
        }

        ngx_http_pubsub_kafka_retry(p);
    }

    ngx_http_pubsub_kafka_partition_unbusy(p);
}


/*
 * Readers nobody used for pubsub_kafka_read_timeout stop, and partitions
 * with nothing left are forgotten: the broker's load and the worker's
 * memory follow what clients read now, not what they ever read.
 */

void
ngx_http_pubsub_kafka_idle_handler(ngx_event_t *ev)
{
    ngx_uint_t                       i;
    ngx_rbtree_node_t               *tn, *tnext, *pn, *pnext;
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_topic_t   *t;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = ev->data;

    if (kc->topics.root != kc->topics.sentinel) {

        tn = ngx_rbtree_min(kc->topics.root, kc->topics.sentinel);

        for ( /* void */ ; tn; tn = tnext) {
            tnext = ngx_rbtree_next(&kc->topics, tn);
            t = (ngx_http_pubsub_kafka_topic_t *) tn;

            if (t->partitions.root == t->partitions.sentinel) {
                continue;
            }

            pn = ngx_rbtree_min(t->partitions.root, t->partitions.sentinel);

            for ( /* void */ ; pn; pn = pnext) {
                pnext = ngx_rbtree_next(&t->partitions, pn);

                p = (ngx_http_pubsub_kafka_part_t *) pn;
                p->busy++;

                for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
                    ngx_http_pubsub_kafka_reader_idle(&p->readers[i]);
                }

                /* may free the topic too: "tnext" is taken already */
                ngx_http_pubsub_kafka_partition_unbusy(p);
            }
        }
    }

    ngx_add_timer(ev, ngx_max(kc->cluster->read_timeout / 4, 100));
}
