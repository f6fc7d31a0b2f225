
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Where waiters go: to the window that holds their offset, to the reader
 * that will read it, behind the sweeping reader for its next pass, or to
 * a look-up.  The tail reader is never moved for history; the sweeping
 * one serves the offsets waited for in one pass and goes back once to the
 * lowest it passed over.  Does not talk to librdkafka: readers do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


static void ngx_http_pubsub_kafka_dispatch_waiter(
    ngx_http_pubsub_kafka_waiter_t *w);
static ngx_http_pubsub_kafka_reader_t *ngx_http_pubsub_kafka_role(
    ngx_http_pubsub_kafka_part_t *p, ngx_uint_t tail);
static void ngx_http_pubsub_kafka_wait(ngx_http_pubsub_kafka_reader_t *r,
    ngx_http_pubsub_kafka_waiter_t *w);
static void ngx_http_pubsub_kafka_wait_behind(
    ngx_http_pubsub_kafka_reader_t *r, ngx_http_pubsub_kafka_waiter_t *w);
static void ngx_http_pubsub_kafka_hold(ngx_http_pubsub_kafka_waiter_t *w);
static void ngx_http_pubsub_kafka_rewind(ngx_http_pubsub_kafka_reader_t *r);
static void ngx_http_pubsub_kafka_roles(ngx_http_pubsub_kafka_reader_t *r);
static void ngx_http_pubsub_kafka_redispatch(ngx_queue_t *list);
static ngx_int_t ngx_http_pubsub_kafka_to_window(
    ngx_http_pubsub_kafka_waiter_t *w);
static void ngx_http_pubsub_kafka_to_lookup(ngx_http_pubsub_kafka_waiter_t *w);
static void ngx_http_pubsub_kafka_to_reader(ngx_http_pubsub_kafka_waiter_t *w);


/*
 * Where a waiter goes: a window that holds its offset serves it now; a
 * reader whose next message is that offset, or that is on its way there,
 * serves it when it arrives; a waiter behind the sweeping reader waits for
 * its next pass; otherwise a look-up of the partition decides between an
 * error and starting a reader.  Calls w->ready() or w->fail(), or queues w.
 */

void
ngx_http_pubsub_kafka_dispatch(ngx_http_pubsub_kafka_waiter_t *w)
{
    ngx_http_pubsub_kafka_part_t  *p;

    p = w->partition;

    p->busy++;
    ngx_http_pubsub_kafka_dispatch_waiter(w);
    ngx_http_pubsub_kafka_partition_unbusy(p);
}


static void
ngx_http_pubsub_kafka_dispatch_waiter(ngx_http_pubsub_kafka_waiter_t *w)
{
    ngx_http_pubsub_kafka_part_t  *p;

    p = w->partition;

    /* a waiter wanting a look-up's verdict only goes to the look-up */

    if (!w->verdict && ngx_http_pubsub_kafka_to_window(w) == NGX_OK) {
        return;
    }

    if (p->lookup || !w->looked_up || w->verdict) {
        ngx_http_pubsub_kafka_to_lookup(w);
        return;
    }

    if (w->offset < p->low || w->offset > p->high) {
        w->fail(w, "OFFSET_OUT_OF_RANGE",
                RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE);
        return;
    }

    ngx_http_pubsub_kafka_to_reader(w);
}


/*
 * A window that has the offset now, the tail reader's before others, or
 * a reader whose next message it is: NGX_DECLINED if there is none
 */

static ngx_int_t
ngx_http_pubsub_kafka_to_window(ngx_http_pubsub_kafka_waiter_t *w)
{
    int64_t                          o;
    ngx_uint_t                       i, score, best;
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_reader_t  *r, *found;

    p = w->partition;
    o = w->offset;

    found = NULL;
    best = 0;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        r = &p->readers[i];

        if (!r->running || r->stopping || o < r->first || o > r->next) {
            continue;
        }

        score = 1 + (o < r->next ? 2 : 0) + (r->tail ? 1 : 0);

        if (score > best) {
            found = r;
            best = score;
        }
    }

    if (found == NULL) {
        return NGX_DECLINED;
    }

    if (o == found->next) {
        ngx_http_pubsub_kafka_wait(found, w);
        return NGX_OK;
    }

    if (found->asked < o) {
        found->asked = o;
    }

    /*
     * a paused sweeping reader reads on once its clients are half way
     * through its window, so that they find more there
     */

    if (found->paused && !found->tail
        && o - found->first >= (found->next - found->first) / 2)
    {
        (void) ngx_http_pubsub_kafka_reader_pause(found, 0);
    }

    w->reader = found;
    found->used = ngx_current_msec;
    w->ready(w);

    return NGX_OK;
}


/* the waiter waits for the partition's look-up, started if need be */

static void
ngx_http_pubsub_kafka_to_lookup(ngx_http_pubsub_kafka_waiter_t *w)
{
    ngx_int_t                      rc;
    ngx_http_pubsub_kafka_part_t  *p;

    p = w->partition;

    ngx_http_pubsub_kafka_hold(w);

    if (p->lookup) {
        return;
    }

    rc = ngx_http_pubsub_kafka_lookup(p, w->timeout);

    if (rc != NGX_OK) {
        ngx_http_pubsub_kafka_fail_waiters(&p->pending,
                                           (rc == NGX_BUSY)
                                           ? "too many look-ups in flight"
                                           : "internal error",
                                           (rc == NGX_BUSY)
                                           ? RD_KAFKA_RESP_ERR__QUEUE_FULL
                                           : RD_KAFKA_RESP_ERR__FAIL);
    }
}


/*
 * An offset within the partition that no window holds: the tail reader
 * if it will get there, else the sweep (rewound if it is behind and
 * nobody waits ahead of it), else a reader started there
 */

static void
ngx_http_pubsub_kafka_to_reader(ngx_http_pubsub_kafka_waiter_t *w)
{
    int64_t                          o;
    ngx_uint_t                       i;
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_reader_t  *r, *tail, *sweep;

    p = w->partition;
    o = w->offset;

    tail = ngx_http_pubsub_kafka_role(p, 1);
    sweep = ngx_http_pubsub_kafka_role(p, 0);

    if (tail && !tail->stopping && tail->next < o) {
        /* the tail reader will get there */
        ngx_http_pubsub_kafka_wait(tail, w);
        return;
    }

    if (sweep && sweep->stopping) {
        /* history is read again once it has stopped */
        ngx_http_pubsub_kafka_hold(w);
        return;
    }

    if (sweep) {
        if (o >= sweep->next) {
            ngx_http_pubsub_kafka_wait(sweep, w);
            return;
        }

        ngx_http_pubsub_kafka_wait_behind(sweep, w);

        if (sweep->nwaiters == 0) {
            ngx_http_pubsub_kafka_rewind(sweep);
        }

        return;
    }

    if (tail && tail->stopping) {
        ngx_http_pubsub_kafka_hold(w);
        return;
    }

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        r = &p->readers[i];

        if (ngx_http_pubsub_kafka_reader_busy(r)) {
            continue;
        }

        if (ngx_http_pubsub_kafka_reader_start(r, o,
                                               tail == NULL && o >= p->high)
            != NGX_OK)
        {
            w->fail(w, "failed to start reading", RD_KAFKA_RESP_ERR__FAIL);
            return;
        }

        ngx_http_pubsub_kafka_wait(r, w);
        return;
    }

    /* both busy: cannot happen with a tail and a sweeper, but be safe */

    ngx_http_pubsub_kafka_hold(w);
}


/* the tail reader (tail 1) or the sweeping one, running or stopping */

static ngx_http_pubsub_kafka_reader_t *
ngx_http_pubsub_kafka_role(ngx_http_pubsub_kafka_part_t *p, ngx_uint_t tail)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_kafka_reader_t  *r;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        r = &p->readers[i];

        if (ngx_http_pubsub_kafka_reader_busy(r) && r->tail == tail) {
            return r;
        }
    }

    return NULL;
}


static void
ngx_http_pubsub_kafka_wait(ngx_http_pubsub_kafka_reader_t *r,
    ngx_http_pubsub_kafka_waiter_t *w)
{
    w->reader = r;
    w->queued = 1;

    ngx_queue_insert_tail(&r->waiters, &w->queue);
    r->nwaiters++;
    r->partition->topic->client->nwaiters++;
    r->used = ngx_current_msec;

    if (r->asked < w->offset) {
        r->asked = w->offset;
    }

    if (r->paused) {
        (void) ngx_http_pubsub_kafka_reader_pause(r, 0);
    }

    /* last: it may end the waiter */

    if (w->waiting) {
        w->waiting(w);
    }
}


static void
ngx_http_pubsub_kafka_wait_behind(ngx_http_pubsub_kafka_reader_t *r,
    ngx_http_pubsub_kafka_waiter_t *w)
{
    w->reader = r;
    w->queued = 1;
    w->behind = 1;

    ngx_queue_insert_tail(&r->behind, &w->queue);
    r->nbehind++;
}


static void
ngx_http_pubsub_kafka_hold(ngx_http_pubsub_kafka_waiter_t *w)
{
    w->reader = NULL;
    w->queued = 1;
    w->pending = 1;

    ngx_queue_insert_tail(&w->partition->pending, &w->queue);
}


/* the waiter leaves whatever list it is on */

void
ngx_http_pubsub_kafka_unwait(ngx_http_pubsub_kafka_waiter_t *w)
{
    ngx_http_pubsub_kafka_reader_t  *r;

    if (!w->queued) {
        return;
    }

    ngx_queue_remove(&w->queue);
    w->queued = 0;

    r = w->reader;

    if (w->pending) {
        w->pending = 0;

    } else if (w->behind) {
        w->behind = 0;
        r->nbehind--;

    } else {
        r->nwaiters--;
        r->partition->topic->client->nwaiters--;
    }
}


/* waiters held for a look-up or a stopping reader get another chance */

void
ngx_http_pubsub_kafka_retry(ngx_http_pubsub_kafka_part_t *p)
{
    ngx_queue_t                      pending, *q;
    ngx_http_pubsub_kafka_waiter_t  *w;

    if (p->lookup || ngx_queue_empty(&p->pending)) {
        return;
    }

    p->busy++;

    ngx_queue_init(&pending);
    ngx_queue_add(&pending, &p->pending);
    ngx_queue_init(&p->pending);

    for (q = ngx_queue_head(&pending);
         q != ngx_queue_sentinel(&pending);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);
        w->looked_up = p->valid;
    }

    while (!ngx_queue_empty(&pending)) {
        q = ngx_queue_head(&pending);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);
        w->queued = 0;
        w->pending = 0;

        if (w->verdict) {
            /* it waited for the look-up only */
            w->verdict = 0;
            w->reader = NULL;
            w->ready(w);
            continue;
        }

        ngx_http_pubsub_kafka_dispatch(w);
    }

    ngx_http_pubsub_kafka_partition_unbusy(p);
}


/*
 * Every waiter of a list fails with the same reason.  The list is taken
 * first: a waiter that goes somewhere else from its fail() may land on it
 * again, and waits there.
 */

void
ngx_http_pubsub_kafka_fail_waiters(ngx_queue_t *list, const char *reason,
    rd_kafka_resp_err_t err)
{
    ngx_queue_t                      failed, *q;
    ngx_http_pubsub_kafka_waiter_t  *w;

    ngx_queue_init(&failed);

    while (!ngx_queue_empty(list)) {
        q = ngx_queue_head(list);
        w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);

        /* its counts go, it stays queued (on "failed") for cancels */
        ngx_http_pubsub_kafka_unwait(w);

        w->queued = 1;
        w->pending = 1;
        w->reader = NULL;
        ngx_queue_insert_tail(&failed, &w->queue);
    }

    while (!ngx_queue_empty(&failed)) {
        q = ngx_queue_head(&failed);
        w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);

        ngx_queue_remove(q);
        w->queued = 0;
        w->pending = 0;

        w->fail(w, reason, err);
    }
}


/*
 * The sweeping reader goes back, once, to the lowest offset waited for
 * behind it, and serves every waiter as it passes its offset.
 */

static void
ngx_http_pubsub_kafka_rewind(ngx_http_pubsub_kafka_reader_t *r)
{
    int64_t                           min;
    ngx_queue_t                      *q;
    ngx_http_pubsub_kafka_waiter_t   *w;

    if (r->nbehind == 0) {
        return;
    }

    min = -1;

    for (q = ngx_queue_head(&r->behind);
         q != ngx_queue_sentinel(&r->behind);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);

        if (min == -1 || w->offset < min) {
            min = w->offset;
        }
    }

    if (ngx_http_pubsub_kafka_reader_seek(r, min) != NGX_OK) {
        ngx_http_pubsub_kafka_fail_waiters(&r->behind, "failed to seek",
                                           RD_KAFKA_RESP_ERR__FAIL);
        return;
    }

    while (!ngx_queue_empty(&r->behind)) {
        q = ngx_queue_head(&r->behind);
        w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);

        ngx_http_pubsub_kafka_unwait(w);
        ngx_http_pubsub_kafka_wait(r, w);
    }
}


/* the reader read on: its waiters it passed are served */

void
ngx_http_pubsub_kafka_notify(ngx_http_pubsub_kafka_reader_t *r)
{
    ngx_queue_t                      waiters, *q;
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_waiter_t  *w;

    p = r->partition;
    p->busy++;

    /* serving may queue new waiters: walk a detached list */

    ngx_queue_init(&waiters);

    if (!ngx_queue_empty(&r->waiters)) {
        ngx_queue_add(&waiters, &r->waiters);
        ngx_queue_init(&r->waiters);
    }

    while (!ngx_queue_empty(&waiters)) {
        q = ngx_queue_head(&waiters);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&r->waiters, q);

        w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);

        if (w->offset >= r->next) {
            continue;
        }

        ngx_http_pubsub_kafka_unwait(w);

        if (w->offset < r->first) {
            /* the window moved past it: find another way */
            ngx_http_pubsub_kafka_dispatch(w);
            continue;
        }

        r->used = ngx_current_msec;
        w->reader = r;
        w->ready(w);
    }

    if (r->running && !r->stopping) {
        ngx_http_pubsub_kafka_roles(r);
    }

    ngx_http_pubsub_kafka_partition_unbusy(p);
}


/*
 * The sweeping reader reached the tail reader's window: its waiters go to
 * the tail, and it goes back for those behind it or pauses.  With no tail
 * reader, a sweeping reader at the partition's end becomes the tail, and
 * those behind it go to the other reader.
 */

static void
ngx_http_pubsub_kafka_roles(ngx_http_pubsub_kafka_reader_t *r)
{
    int64_t                           low, high;
    ngx_queue_t                       list;
    ngx_http_pubsub_kafka_part_t     *p;
    ngx_http_pubsub_kafka_reader_t   *tail;
    ngx_http_pubsub_kafka_client_t   *kc;

    if (r->tail) {
        return;
    }

    p = r->partition;
    kc = p->topic->client;
    tail = ngx_http_pubsub_kafka_role(p, 1);

    if (tail && !tail->stopping && r->next >= tail->first) {

        ngx_queue_init(&list);

        if (!ngx_queue_empty(&r->waiters)) {
            ngx_queue_add(&list, &r->waiters);
            ngx_queue_init(&r->waiters);
            kc->nwaiters -= r->nwaiters;
            r->nwaiters = 0;
        }

        ngx_http_pubsub_kafka_redispatch(&list);

        if (r->nwaiters == 0) {
            if (r->nbehind) {
                ngx_http_pubsub_kafka_rewind(r);

            } else if (!r->paused) {
                (void) ngx_http_pubsub_kafka_reader_pause(r, 1);
            }
        }

        return;
    }

    if (tail == NULL) {
        if (rd_kafka_get_watermark_offsets(kc->handles[r->index].rk,
                                           (char *) p->topic->data, p->id,
                                           &low, &high)
            != RD_KAFKA_RESP_ERR_NO_ERROR
            || high < 0 || r->next < high)
        {
            goto behind;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, kc->log, 0,
                       "pubsub: kafka reader #%ui of \"%V\" partition %D "
                       "reached the end, tail now", r->index,
                       &p->topic->sn.str, p->id);

        r->tail = 1;

        ngx_queue_init(&list);

        if (!ngx_queue_empty(&r->behind)) {
            ngx_queue_add(&list, &r->behind);
            ngx_queue_init(&r->behind);
            r->nbehind = 0;
        }

        ngx_http_pubsub_kafka_redispatch(&list);
        return;
    }

behind:

    if (r->nwaiters == 0 && r->nbehind) {
        ngx_http_pubsub_kafka_rewind(r);
    }
}


/*
 * Waiters taken off a reader's list go elsewhere, the lowest offset first,
 * so that a reader they start starts there.
 */

static void
ngx_http_pubsub_kafka_redispatch(ngx_queue_t *list)
{
    ngx_queue_t                      *q, *min;
    ngx_http_pubsub_kafka_waiter_t   *w, *m;

    while (!ngx_queue_empty(list)) {
        min = ngx_queue_head(list);
        m = ngx_queue_data(min, ngx_http_pubsub_kafka_waiter_t, queue);

        for (q = ngx_queue_next(min);
             q != ngx_queue_sentinel(list);
             q = ngx_queue_next(q))
        {
            w = ngx_queue_data(q, ngx_http_pubsub_kafka_waiter_t, queue);

            if (w->offset < m->offset) {
                m = w;
                min = q;
            }
        }

        ngx_queue_remove(min);
        m->queued = 0;
        m->behind = 0;
        m->reader = NULL;

        ngx_http_pubsub_kafka_dispatch(m);
    }
}
