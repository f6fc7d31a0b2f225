
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Thread-pool work of the Kafka backend: a task is a run() for a pool
 * thread and a done() for the event loop; and the freeing of consumed
 * messages there.  Owns the per-worker bounds on queued tasks and on
 * messages waiting to be freed; must not touch nginx from a pool thread.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


static void ngx_http_pubsub_kafka_task_handler(void *data, ngx_log_t *log);
static void ngx_http_pubsub_kafka_task_event(ngx_event_t *ev);
static void ngx_http_pubsub_kafka_release_handler(void *data, ngx_log_t *log);
static void ngx_http_pubsub_kafka_release_event(ngx_event_t *ev);
static void ngx_http_pubsub_kafka_release_now(
    ngx_http_pubsub_kafka_release_t *rel);


/* the longest a worker's exit waits for a task a pool thread runs */
#define NGX_HTTP_PUBSUB_KAFKA_EXIT_WAIT  60000

/* messages freed by one task: as many as one wake-up of a queue takes */
#define NGX_HTTP_PUBSUB_KAFKA_RELEASE      2048

/* fewer are freed on the event loop */
#define NGX_HTTP_PUBSUB_KAFKA_RELEASE_MIN  256

/* messages of a client that may wait for a pool thread to free them */
#define NGX_HTTP_PUBSUB_KAFKA_RELEASING    (16 * NGX_HTTP_PUBSUB_KAFKA_RELEASE)


struct ngx_http_pubsub_kafka_release_s {
    ngx_thread_task_t                    task;
    ngx_http_pubsub_kafka_client_t      *client;
    ngx_uint_t                           n;
    rd_kafka_message_t                  *msgs[NGX_HTTP_PUBSUB_KAFKA_RELEASE];
};


/* tasks pool threads run now, of every client: for worker exit */
static ngx_atomic_t  ngx_http_pubsub_kafka_running;

/* tasks a pool may still hold at worker exit: never freed */
static ngx_queue_t   ngx_http_pubsub_kafka_left;


ngx_http_pubsub_kafka_task_t *
ngx_http_pubsub_kafka_task_alloc(ngx_http_pubsub_kafka_client_t *kc,
    size_t size, ngx_http_pubsub_kafka_task_pt run,
    ngx_http_pubsub_kafka_task_pt done)
{
    ngx_http_pubsub_kafka_task_t  *t;

    t = ngx_calloc(sizeof(ngx_http_pubsub_kafka_task_t) + size, kc->log);
    if (t == NULL) {
        return NULL;
    }

    t->client = kc;
    t->run = run;
    t->done = done;
    t->data = (void *) (t + 1);
    t->errors = kc->errors;

    t->task.ctx = t;
    t->task.handler = ngx_http_pubsub_kafka_task_handler;
    t->task.event.handler = ngx_http_pubsub_kafka_task_event;
    t->task.event.data = t;
    t->task.event.log = kc->log;

    return t;
}


/*
 * NGX_OK: done() will run; NGX_BUSY: pubsub_kafka_max_lookups tasks wait
 * already; NGX_ERROR: the pool refused it.  On failure the task is freed
 * and the caller answers for what it was for.
 */

ngx_int_t
ngx_http_pubsub_kafka_task_post(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = t->client;

    if (kc->ntasks >= kc->cluster->max_lookups) {
        kc->nrefused++;

        /*
         * clients refused try again: one line a second says so, not one
         * a refusal
         */

        if (ngx_current_msec - kc->refused_logged >= 1000) {
            ngx_log_error(NGX_LOG_WARN, kc->log, 0,
                          "pubsub: kafka %V: %ui blocking look-ups in "
                          "flight, the limit of \"pubsub_kafka_max_lookups\""
                          ", %ui refused", &kc->cluster->brokers,
                          kc->ntasks, kc->nrefused);

            kc->refused_logged = ngx_current_msec;
            kc->nrefused = 0;
        }

        ngx_free(t);
        return NGX_BUSY;
    }

    if (ngx_thread_task_post(kc->cluster->thread_pool, &t->task) != NGX_OK) {
        ngx_free(t);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&kc->tasks, &t->queue);
    kc->ntasks++;

    return NGX_OK;
}


/*
 * Runs in a pool thread.  Once the worker is on its way out, queued work
 * is skipped: nginx waits for every queued task before the worker exits,
 * and a look-up of a dead broker takes pubsub_kafka_timeout.  The count
 * of tasks running is what the exit waits for.
 */

static void
ngx_http_pubsub_kafka_task_handler(void *data, ngx_log_t *log)
{
    ngx_http_pubsub_kafka_task_t *t = data;

    (void) ngx_atomic_fetch_add(&ngx_http_pubsub_kafka_running, 1);

    if (ngx_quit || ngx_terminate || ngx_exiting) {
        t->skipped = 1;

    } else {
        t->run(t);
    }

    (void) ngx_atomic_fetch_add(&ngx_http_pubsub_kafka_running, -1);
}


static void
ngx_http_pubsub_kafka_task_event(ngx_event_t *ev)
{
    ngx_http_pubsub_kafka_task_t *t = ev->data;

    ngx_queue_remove(&t->queue);
    t->client->ntasks--;

    t->done(t);

    ngx_free(t);
}


/*
 * Worker exit.  nginx's thread pools stop first, running what is queued
 * (our tasks skip their work by then) and the tasks running; unless a
 * pool's queue was full: then its threads go on, and a task running may
 * use the librdkafka handles this exit destroys next.  So it is waited
 * for; its librdkafka calls are bounded by their own timeouts.  No task
 * that went to a pool is freed: a thread may touch it still.
 */

void
ngx_http_pubsub_kafka_tasks_free(ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_msec_t  waited;

    /* the tasks of every client: they all go with this exit */

    for (waited = 0;
         ngx_http_pubsub_kafka_running
         && waited < NGX_HTTP_PUBSUB_KAFKA_EXIT_WAIT;
         waited += 10)
    {
        ngx_msleep(10);
    }

    if (ngx_http_pubsub_kafka_running) {
        ngx_log_error(NGX_LOG_ALERT, kc->log, 0,
                      "pubsub: kafka %V: a blocking call in the thread "
                      "pool still runs after %M ms, exiting",
                      &kc->cluster->brokers, waited);

    } else if (waited) {
        ngx_log_error(NGX_LOG_NOTICE, kc->log, 0,
                      "pubsub: kafka %V: exit waited %M ms for a blocking "
                      "call in the thread pool", &kc->cluster->brokers,
                      waited);
    }

    if (ngx_http_pubsub_kafka_left.next == NULL) {
        ngx_queue_init(&ngx_http_pubsub_kafka_left);
    }

    if (!ngx_queue_empty(&kc->tasks)) {
        ngx_queue_add(&ngx_http_pubsub_kafka_left, &kc->tasks);
        ngx_queue_init(&kc->tasks);
    }

    kc->ntasks = 0;

    /* a task kept for the next drain: empty after every drain */

    if (kc->release) {
        ngx_http_pubsub_kafka_release_now(kc->release);
        ngx_free(kc->release);
        kc->release = NULL;
    }
}


/*
 * Consumed messages are freed in a pool thread, not on the event loop.
 * librdkafka's broker thread allocated them from its own malloc arena,
 * and glibc frees a chunk under the lock of the arena it came from: a
 * worker catching up freed each of a million messages while that thread
 * allocated the next ones, and slept on that lock about ten thousand
 * times.  A drain of fewer than NGX_HTTP_PUBSUB_KAFKA_RELEASE_MIN
 * messages (a tail at its pace) frees them at once: a task would cost
 * more.  So does a pool that is not keeping up (it holds
 * NGX_HTTP_PUBSUB_KAFKA_RELEASING messages already) or refuses the task:
 * the messages and the fetch responses they hold stay bounded.  The
 * messages must have been read to the end already.
 */

void
ngx_http_pubsub_kafka_release(ngx_http_pubsub_kafka_client_t *kc,
    rd_kafka_message_t **msgs, ngx_uint_t n)
{
    ngx_uint_t                        i, k;
    ngx_http_pubsub_kafka_release_t  *rel;

    while (n) {
        rel = kc->release;

        if (rel == NULL) {
            rel = ngx_alloc(sizeof(ngx_http_pubsub_kafka_release_t), kc->log);
            if (rel == NULL) {
                break;
            }

            /* the pointers are written as they come, not zeroed first */

            ngx_memzero(rel, offsetof(ngx_http_pubsub_kafka_release_t, msgs));

            rel->client = kc;
            rel->task.ctx = rel;
            rel->task.handler = ngx_http_pubsub_kafka_release_handler;
            rel->task.event.handler = ngx_http_pubsub_kafka_release_event;
            rel->task.event.data = rel;
            rel->task.event.log = kc->log;

            kc->release = rel;
        }

        k = ngx_min(n, NGX_HTTP_PUBSUB_KAFKA_RELEASE - rel->n);

        ngx_memcpy(&rel->msgs[rel->n], msgs, k * sizeof(rd_kafka_message_t *));
        rel->n += k;
        msgs += k;
        n -= k;

        if (rel->n == NGX_HTTP_PUBSUB_KAFKA_RELEASE) {
            ngx_http_pubsub_kafka_release_post(kc);
        }
    }

    for (i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
    }
}


/* at the end of a drain, and when a task is full */

void
ngx_http_pubsub_kafka_release_post(ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_http_pubsub_kafka_release_t  *rel;

    rel = kc->release;

    if (rel == NULL || rel->n == 0) {
        return;
    }

    if (rel->n >= NGX_HTTP_PUBSUB_KAFKA_RELEASE_MIN
        && kc->releasing + rel->n <= NGX_HTTP_PUBSUB_KAFKA_RELEASING
        && ngx_thread_task_post(kc->cluster->thread_pool, &rel->task)
           == NGX_OK)
    {
        kc->releasing += rel->n;
        kc->release = NULL;
        return;
    }

    /* freed here; the task is kept for the next drain */

    ngx_http_pubsub_kafka_release_now(rel);
    rel->n = 0;
}


/*
 * Runs in a pool thread, also while the worker exits: nginx's pools run
 * what is queued before the librdkafka handles are destroyed.
 */

static void
ngx_http_pubsub_kafka_release_handler(void *data, ngx_log_t *log)
{
    ngx_http_pubsub_kafka_release_t *rel = data;

    (void) ngx_atomic_fetch_add(&ngx_http_pubsub_kafka_running, 1);

    ngx_http_pubsub_kafka_release_now(rel);

    (void) ngx_atomic_fetch_add(&ngx_http_pubsub_kafka_running, -1);
}


static void
ngx_http_pubsub_kafka_release_event(ngx_event_t *ev)
{
    ngx_http_pubsub_kafka_release_t *rel = ev->data;

    rel->client->releasing -= rel->n;
    rel->client->nreleased += rel->n;

    ngx_free(rel);
}


static void
ngx_http_pubsub_kafka_release_now(ngx_http_pubsub_kafka_release_t *rel)
{
    ngx_uint_t  i;

    for (i = 0; i < rel->n; i++) {
        rd_kafka_message_destroy(rel->msgs[i]);
    }
}


/*
 * rd_kafka_offsets_for_times() honours its timeout even while a leader
 * is down, unlike rd_kafka_query_watermark_offsets() in 2.0.2; logical
 * offsets -1 and -2 give the end and the beginning.  For run() only.
 */

rd_kafka_resp_err_t
ngx_http_pubsub_kafka_offsets(rd_kafka_t *rk, const char *topic, int32_t id,
    int64_t timestamp, int64_t *offset, int timeout)
{
    rd_kafka_resp_err_t               err;
    rd_kafka_topic_partition_t       *tp;
    rd_kafka_topic_partition_list_t  *list;

    list = rd_kafka_topic_partition_list_new(1);
    tp = rd_kafka_topic_partition_list_add(list, topic, id);
    tp->offset = timestamp;

    err = rd_kafka_offsets_for_times(rk, list, timeout);

    if (tp->err && tp->err != RD_KAFKA_RESP_ERR__IN_PROGRESS) {
        err = tp->err;
    }

    *offset = tp->offset;

    rd_kafka_topic_partition_list_destroy(list);

    return err;
}
