
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Readers: read positions in a partition, one per librdkafka handle, each
 * with its window of messages encoded once.  Starts, moves, pauses and
 * stops them, and takes in what librdkafka delivers.  Which waiter a
 * reader serves is decided in ngx_http_pubsub_kafka_dispatch.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


/* the sizes of the blocks that hold a window's messages */
#define NGX_HTTP_PUBSUB_KAFKA_BLOCK_MIN  4096
#define NGX_HTTP_PUBSUB_KAFKA_BLOCK_MAX  65536


typedef struct {
    ngx_http_pubsub_kafka_reader_t      *reader;
    rd_kafka_topic_t                    *rkt;
    int32_t                              id;
} ngx_http_pubsub_kafka_stop_t;


static ngx_int_t ngx_http_pubsub_kafka_append(
    ngx_http_pubsub_kafka_reader_t *r, rd_kafka_message_t *m);
static ngx_uint_t ngx_http_pubsub_kafka_window_trim(
    ngx_http_pubsub_kafka_reader_t *r);
static ngx_http_pubsub_kafka_msg_t *ngx_http_pubsub_kafka_window_alloc(
    ngx_http_pubsub_kafka_reader_t *r, size_t size);
static void ngx_http_pubsub_kafka_window_release(
    ngx_http_pubsub_kafka_reader_t *r);
static void ngx_http_pubsub_kafka_block_free(ngx_http_pubsub_ws_shared_t *sh);
static void ngx_http_pubsub_kafka_reader_fail(
    ngx_http_pubsub_kafka_reader_t *r, rd_kafka_resp_err_t err);
static void ngx_http_pubsub_kafka_stop_run(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_stop_done(ngx_http_pubsub_kafka_task_t *t);


ngx_int_t
ngx_http_pubsub_kafka_reader_start(ngx_http_pubsub_kafka_reader_t *r,
    int64_t offset, ngx_uint_t tail)
{
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_topic_t    *t;
    ngx_http_pubsub_kafka_client_t   *kc;
    ngx_http_pubsub_kafka_handle_t   *h;

    p = r->partition;
    t = p->topic;
    kc = t->client;
    h = &kc->handles[r->index];

    if (t->rkt[r->index] == NULL) {
        t->rkt[r->index] = rd_kafka_topic_new(h->rk, (char *) t->data, NULL);

        if (t->rkt[r->index] == NULL) {
            ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                          "pubsub: rd_kafka_topic_new(\"%V\") failed: %s",
                          &t->sn.str,
                          rd_kafka_err2str(rd_kafka_last_error()));
            return NGX_ERROR;
        }
    }

    /* asynchronous: librdkafka's threads start fetching */

    if (rd_kafka_consume_start_queue(t->rkt[r->index], p->id, offset,
                                     h->fetchq)
        == -1)
    {
        ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                      "pubsub: rd_kafka_consume_start_queue(\"%V\", %D) "
                      "failed: %s", &t->sn.str, p->id,
                      rd_kafka_err2str(rd_kafka_last_error()));
        return NGX_ERROR;
    }

    r->first = offset;
    r->next = offset;
    r->asked = offset;

    /* a partition paused before it was stopped stays paused in librdkafka */

    if (r->paused) {
        (void) ngx_http_pubsub_kafka_reader_pause(r, 0);
    }

    r->running = 1;
    r->tail = tail;

    p->starts++;
    r->checked = kc->errors;
    r->used = ngx_current_msec;

    kc->nreaders++;

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, kc->log, 0,
                   "pubsub: kafka reader #%ui of \"%V\" partition %D "
                   "started at %L%s", r->index, &t->sn.str, p->id, offset,
                   tail ? " (tail)" : "");

    return NGX_OK;
}


ngx_int_t
ngx_http_pubsub_kafka_reader_seek(ngx_http_pubsub_kafka_reader_t *r,
    int64_t offset)
{
    int64_t                          next;
    rd_kafka_resp_err_t              err;
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_topic_t   *t;

    p = r->partition;
    t = p->topic;

    /*
     * timeout 0: asynchronous; messages already queued from the old
     * position are dropped by librdkafka's version barrier.  A paused
     * reader is resumed there instead: a seek of a paused partition
     * leaves librdkafka idle for about a second after the resume.
     */

    if (r->paused) {
        next = r->next;
        r->next = offset;

        if (ngx_http_pubsub_kafka_reader_pause(r, 0) != NGX_OK) {
            r->next = next;
            return NGX_ERROR;
        }

    } else {
        err = rd_kafka_seek(t->rkt[r->index], p->id, offset, 0);

        if (err) {
            ngx_log_error(NGX_LOG_ERR, t->client->log, 0,
                          "pubsub: rd_kafka_seek(\"%V\", %D, %L) failed: %s",
                          &t->sn.str, p->id, offset, rd_kafka_err2str(err));
            return NGX_ERROR;
        }
    }

    ngx_http_pubsub_kafka_free_window(r);

    r->first = offset;
    r->next = offset;
    r->asked = offset;

    p->seeks++;
    t->client->nseeks++;

    return NGX_OK;
}


/*
 * A sweeping reader with a full window and nobody waiting for more stops
 * fetching until somebody does: it reads at most one window ahead of its
 * clients.  librdkafka drops what it fetched ahead when paused, so the
 * reader resumes from its own next offset: resumed first, then moved
 * there (the other order stalls librdkafka's fetcher for a second).
 */

ngx_int_t
ngx_http_pubsub_kafka_reader_pause(ngx_http_pubsub_kafka_reader_t *r,
    ngx_uint_t pause)
{
    rd_kafka_resp_err_t               err;
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_topic_t    *t;
    ngx_http_pubsub_kafka_client_t   *kc;
    rd_kafka_topic_partition_list_t  *list;

    p = r->partition;
    t = p->topic;
    kc = t->client;

    list = rd_kafka_topic_partition_list_new(1);
    (void) rd_kafka_topic_partition_list_add(list, (char *) t->data, p->id);

    if (pause) {
        err = rd_kafka_pause_partitions(kc->handles[r->index].rk, list);

    } else {
        p->resumes++;
        kc->nresumes++;

        err = rd_kafka_resume_partitions(kc->handles[r->index].rk, list);

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            err = rd_kafka_seek(t->rkt[r->index], p->id, r->next, 0);
        }
    }

    /* the list holds references to librdkafka's partitions */
    rd_kafka_topic_partition_list_destroy(list);

    if (err) {
        ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                      "pubsub: kafka %s of \"%V\" partition %D failed: %s",
                      pause ? "pause" : "resume", &t->sn.str, p->id,
                      rd_kafka_err2str(err));
        return NGX_ERROR;
    }

    r->paused = pause;

    return NGX_OK;
}


/* a message from librdkafka, for the reader of that handle */

void
ngx_http_pubsub_kafka_deliver(ngx_http_pubsub_kafka_handle_t *h,
    rd_kafka_message_t *m)
{
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_reader_t   *r;
    ngx_http_pubsub_kafka_client_t   *kc;

    kc = h->client;

    if (m->rkt == NULL) {
        if (m->err) {
            ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                          "pubsub: kafka consumer error: %s",
                          rd_kafka_err2str(m->err));
        }

        return;
    }

    p = ngx_http_pubsub_kafka_find_message(h, m);

    if (p == NULL) {
        return;
    }

    r = &p->readers[h->index];

    if (!r->running || r->stopping || r->paused) {
        return;
    }

    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            return;
        }

        ngx_log_error(NGX_LOG_INFO, kc->log, 0,
                      "pubsub: kafka topic \"%V\" partition %D "
                      "at %L: %s", &p->topic->sn.str, p->id, m->offset,
                      rd_kafka_message_errstr(m));

        ngx_http_pubsub_kafka_reader_fail(r, m->err);
        return;
    }

    if (m->offset < r->next) {
        /* already had it */
        return;
    }

    if (r->nwaiters && !r->touched) {
        /* every waiter wants this offset or a later one */
        r->touched = 1;
        r->touch_from = r->next;
        ngx_queue_insert_tail(&kc->touched, &r->touch);
    }

    if (ngx_http_pubsub_kafka_append(r, m) != NGX_OK) {
        return;
    }

    if (r->next > p->high) {
        p->high = r->next;
    }

    if (!r->tail && !r->touched && r->next >= p->high) {
        /*
         * at the end as far as the worker knows, waited for or not: after
         * the batch, roles() makes it the tail reader if Kafka agrees
         */
        r->touched = 1;
        r->touch_from = r->next;
        ngx_queue_insert_tail(&kc->touched, &r->touch);
    }

    /*
     * the window is full and holds nothing any client asked for yet: a
     * sweeping reader is a window ahead of them, and waits for them
     */

    if (ngx_http_pubsub_kafka_window_trim(r)
        && r->running && !r->stopping && !r->paused && !r->tail
        && r->nwaiters == 0 && r->first >= r->asked)
    {
        (void) ngx_http_pubsub_kafka_reader_pause(r, 1);
    }
}


/*
 * Encodes the message once, as the bytes of one "messages" entry of a
 * KafkaFetchResp, and adds it to the reader's window, which keeps the
 * newest messages within pubsub_kafka_buffer_size.
 */

static ngx_int_t
ngx_http_pubsub_kafka_append(ngx_http_pubsub_kafka_reader_t *r,
    rd_kafka_message_t *m)
{
    size_t                            size, nlen, vlen;
    ngx_uint_t                        n, i;
    const char                       *name;
    const void                       *value;
    rd_kafka_headers_t               *hdrs;
    ngx_http_pubsub_kafka_msg_t      *msg;
    ngx_http_pubsub_pb_record_t       rec;
    ngx_http_pubsub_pb_layout_t       layout;
    ngx_http_pubsub_pb_header_t      *h;
    ngx_http_pubsub_kafka_client_t   *kc;

    kc = r->partition->topic->client;

    rec.offset = m->offset;
    rec.timestamp = rd_kafka_message_timestamp(m, NULL);
    rec.key = m->key;
    rec.key_len = m->key_len;
    rec.value = m->payload;
    rec.value_len = m->len;
    rec.partition = m->partition;
    rec.headers = NULL;
    rec.nheaders = 0;

    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = rd_kafka_header_cnt(hdrs);

        if (n > kc->nheaders) {
            h = ngx_alloc(n * sizeof(ngx_http_pubsub_pb_header_t), kc->log);
            if (h == NULL) {
                return NGX_ERROR;
            }

            if (kc->headers) {
                ngx_free(kc->headers);
            }

            kc->headers = h;
            kc->nheaders = n;
        }

        for (i = 0; i < n; i++) {
            if (rd_kafka_header_get_all(hdrs, i, &name, &value, &vlen)
                != RD_KAFKA_RESP_ERR_NO_ERROR)
            {
                break;
            }

            nlen = ngx_strlen(name);

            kc->headers[i].key = (u_char *) name;
            kc->headers[i].key_len = nlen;
            kc->headers[i].value = (u_char *) value;
            kc->headers[i].value_len = value ? vlen : 0;
        }

        rec.headers = kc->headers;
        rec.nheaders = i;
    }

    size = ngx_http_pubsub_record_size(&rec);

    msg = ngx_http_pubsub_kafka_window_alloc(r, size);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    msg->offset = m->offset;
    msg->len = (uint32_t) size;

    (void) ngx_http_pubsub_record_write(msg->data, &rec, &layout);

    msg->key = (uint32_t) (layout.key - msg->data);
    msg->key_len = (uint32_t) layout.key_len;
    msg->headers = (uint32_t) (layout.headers - msg->data);
    msg->headers_len = (uint32_t) layout.headers_len;

    if (r->nmessages == 0) {
        r->first = m->offset;
    }

    ngx_queue_insert_tail(&r->window, &msg->queue);
    r->bytes += size;
    r->nmessages++;
    r->next = m->offset + 1;

    kc->window_bytes += size;
    kc->nmessages++;

    return NGX_OK;
}


/*
 * The window keeps the newest messages within pubsub_kafka_buffer_size.
 * Waiters not served yet whose messages would go are served first: a
 * batch larger than the window must not take their messages away before
 * they had them.  The others are served at the end of the batch, with all
 * of it.  Returns 1 when the window was full.
 */

static ngx_uint_t
ngx_http_pubsub_kafka_window_trim(ngx_http_pubsub_kafka_reader_t *r)
{
    size_t                           bytes;
    ngx_uint_t                       n;
    ngx_queue_t                     *q;
    ngx_http_pubsub_kafka_msg_t     *msg;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = r->partition->topic->client;

    if (r->bytes <= kc->cluster->buffer_size) {
        return 0;
    }

    if (r->touched) {

        /* the first message kept */

        bytes = r->bytes;
        n = r->nmessages;

        for (q = ngx_queue_head(&r->window);
             bytes > kc->cluster->buffer_size && n > 1;
             q = ngx_queue_next(q))
        {
            msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);
            bytes -= msg->len;
            n--;
        }

        msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

        /* waiters are served now only when they would lose messages */

        if (msg->offset > r->touch_from) {
            ngx_queue_remove(&r->touch);
            r->touched = 0;

            ngx_http_pubsub_kafka_notify(r);
        }
    }

    while (r->bytes > kc->cluster->buffer_size && r->nmessages > 1) {
        q = ngx_queue_head(&r->window);
        msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

        ngx_queue_remove(q);
        r->bytes -= msg->len;
        r->nmessages--;
        r->first = msg->offset + 1;

        kc->window_bytes -= msg->len;

        ngx_http_pubsub_kafka_window_release(r);
    }

    return 1;
}


/*
 * Room for a message of size bytes at the end of the window, and its
 * entry.  A new block is an eighth of the window so far, within 4k and
 * 64k (a message larger than that has a block of its own): a window of a
 * few messages holds a page, a full one wastes at most the end of its
 * newest block.
 */

static ngx_http_pubsub_kafka_msg_t *
ngx_http_pubsub_kafka_window_alloc(ngx_http_pubsub_kafka_reader_t *r,
    size_t size)
{
    size_t                           len, entry;
    ngx_http_pubsub_kafka_msg_t     *msg;
    ngx_http_pubsub_kafka_block_t   *b;
    ngx_http_pubsub_kafka_client_t  *kc;

    entry = ngx_align(sizeof(ngx_http_pubsub_kafka_msg_t), NGX_ALIGNMENT);
    b = r->newest;

    if (b == NULL || (size_t) (b->low - b->last) < size + entry) {

        len = r->bytes / 8;
        len = ngx_max(len, NGX_HTTP_PUBSUB_KAFKA_BLOCK_MIN);
        len = ngx_min(len, NGX_HTTP_PUBSUB_KAFKA_BLOCK_MAX);
        len = ngx_max(len, ngx_align(sizeof(ngx_http_pubsub_kafka_block_t),
                                     NGX_ALIGNMENT)
                           + entry + ngx_align(size, NGX_ALIGNMENT));

        kc = r->partition->topic->client;

        b = ngx_alloc(len, kc->log);
        if (b == NULL) {
            return NULL;
        }

        b->shared.refs = 1;
        b->shared.release = ngx_http_pubsub_kafka_block_free;
        b->client = kc;
        b->size = len;
        kc->window_memory += len;
        b->next = NULL;
        b->nmessages = 0;
        b->last = (u_char *) b + sizeof(ngx_http_pubsub_kafka_block_t);
        b->end = (u_char *) b + (len & ~(NGX_ALIGNMENT - 1));
        b->low = b->end;

        if (r->newest) {
            r->newest->next = b;

        } else {
            r->oldest = b;
        }

        r->newest = b;
    }

    b->low -= entry;
    msg = (ngx_http_pubsub_kafka_msg_t *) b->low;

    msg->data = b->last;
    msg->block = b;

    b->last += size;
    b->nmessages++;

    return msg;
}


/*
 * The window's oldest message went: its block goes with its last one, or
 * when the last answer that shares it was sent
 */

static void
ngx_http_pubsub_kafka_window_release(ngx_http_pubsub_kafka_reader_t *r)
{
    ngx_http_pubsub_kafka_block_t  *b;

    b = r->oldest;

    if (--b->nmessages) {
        return;
    }

    if (b == r->newest) {

        if (b->shared.refs == 1) {
            /* nobody else holds it: filled again from its start */
            b->last = (u_char *) b + sizeof(ngx_http_pubsub_kafka_block_t);
            b->low = b->end;
            return;
        }

        r->newest = NULL;
    }

    r->oldest = b->next;

    ngx_http_pubsub_ws_unshare(&b->shared);
}


static void
ngx_http_pubsub_kafka_block_free(ngx_http_pubsub_ws_shared_t *sh)
{
    ngx_http_pubsub_kafka_block_t  *b;

    b = (ngx_http_pubsub_kafka_block_t *) sh;

    b->client->window_memory -= b->size;

    ngx_free(b);
}


/* the first message in the window at or after offset, or NULL */

ngx_queue_t *
ngx_http_pubsub_kafka_window_find(ngx_http_pubsub_kafka_reader_t *r,
    int64_t offset)
{
    ngx_queue_t                  *q, *start;
    ngx_http_pubsub_kafka_msg_t  *msg;

    start = NULL;

    if (r == NULL || r->nmessages == 0) {
        return NULL;
    }

    /* walk in from the nearer end of the window */

    if (offset - r->first < r->next - offset) {
        for (q = ngx_queue_head(&r->window);
             q != ngx_queue_sentinel(&r->window);
             q = ngx_queue_next(q))
        {
            msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

            if (msg->offset >= offset) {
                return q;
            }
        }

        return NULL;
    }

    for (q = ngx_queue_last(&r->window);
         q != ngx_queue_sentinel(&r->window);
         q = ngx_queue_prev(q))
    {
        msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

        if (msg->offset < offset) {
            break;
        }

        start = q;
    }

    return start;
}


/* the broker refused the reader's position: tell its waiters, stop */

static void
ngx_http_pubsub_kafka_reader_fail(ngx_http_pubsub_kafka_reader_t *r,
    rd_kafka_resp_err_t err)
{
    const char  *reason;

    if (err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET
        || err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
    {
        reason = "OFFSET_OUT_OF_RANGE";
        err = RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE;

    } else {
        reason = rd_kafka_err2name(err);
    }

    r->partition->busy++;
    r->stopping = 1;

    ngx_http_pubsub_kafka_fail_waiters(&r->waiters, reason, err);
    ngx_http_pubsub_kafka_fail_waiters(&r->behind, reason, err);

    r->stopping = 0;

    ngx_http_pubsub_kafka_reader_stop(r);
    ngx_http_pubsub_kafka_partition_unbusy(r->partition);
}


/*
 * The reader stops reading; waiters needing it wait until it has stopped.
 * consume_stop() waits for librdkafka's threads, so it runs in the pool;
 * if the pool cannot take it, the partition is paused meanwhile and the
 * idle timer tries again.
 */

void
ngx_http_pubsub_kafka_reader_stop(ngx_http_pubsub_kafka_reader_t *r)
{
    ngx_http_pubsub_kafka_task_t     *t;
    ngx_http_pubsub_kafka_stop_t     *st;
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_client_t   *kc;

    p = r->partition;
    kc = p->topic->client;

    if (!r->stopping) {
        r->stopping = 1;
        ngx_http_pubsub_kafka_free_window(r);
    }

    t = ngx_http_pubsub_kafka_task_alloc(kc,
                                         sizeof(ngx_http_pubsub_kafka_stop_t),
                                         ngx_http_pubsub_kafka_stop_run,
                                         ngx_http_pubsub_kafka_stop_done);
    if (t) {
        st = t->data;
        st->reader = r;
        st->rkt = p->topic->rkt[r->index];
        st->id = p->id;

        if (ngx_http_pubsub_kafka_task_post(t) == NGX_OK) {
            r->stop_later = 0;
            return;
        }
    }

    if (!r->paused) {
        (void) ngx_http_pubsub_kafka_reader_pause(r, 1);
    }

    r->stop_later = 1;
}


static void
ngx_http_pubsub_kafka_stop_run(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_stop_t *st = t->data;

    (void) rd_kafka_consume_stop(st->rkt, st->id);
}


static void
ngx_http_pubsub_kafka_stop_done(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_stop_t     *st;
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_reader_t   *r;

    st = t->data;
    r = st->reader;
    p = r->partition;

    r->running = 0;
    r->stopping = 0;
    r->tail = 0;

    t->client->nreaders--;

    p->busy++;
    ngx_http_pubsub_kafka_retry(p);
    ngx_http_pubsub_kafka_partition_unbusy(p);
}


/* the idle timer: stop what nobody used, retry stops the pool refused */

void
ngx_http_pubsub_kafka_reader_idle(ngx_http_pubsub_kafka_reader_t *r)
{
    ngx_http_pubsub_kafka_client_t  *kc;

    if (!r->running) {
        return;
    }

    kc = r->partition->topic->client;

    if (r->stopping) {
        if (r->stop_later) {
            /* its stop task was refused */
            ngx_http_pubsub_kafka_reader_stop(r);
        }

        return;
    }

    if (r->nwaiters || r->nbehind
        || ngx_current_msec - r->used < kc->cluster->read_timeout)
    {
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, kc->log, 0,
                   "pubsub: kafka reader #%ui of \"%V\" partition %D "
                   "idle, stopping", r->index, &r->partition->topic->sn.str,
                   r->partition->id);

    ngx_http_pubsub_kafka_reader_stop(r);
}


ngx_uint_t
ngx_http_pubsub_kafka_reader_busy(ngx_http_pubsub_kafka_reader_t *r)
{
    return r->running || r->stopping;
}


void
ngx_http_pubsub_kafka_free_window(ngx_http_pubsub_kafka_reader_t *r)
{
    ngx_http_pubsub_kafka_block_t   *b;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = r->partition->topic->client;

    ngx_queue_init(&r->window);

    while (r->oldest) {
        b = r->oldest;
        r->oldest = b->next;
        ngx_http_pubsub_ws_unshare(&b->shared);
    }

    r->newest = NULL;

    kc->window_bytes -= r->bytes;

    r->bytes = 0;
    r->nmessages = 0;
    r->first = r->next;
}
