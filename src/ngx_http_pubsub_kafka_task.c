
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Thread-pool work of the Kafka backend: a task is a run() for a pool
 * thread and a done() for the event loop.  Owns the per-worker bound on
 * queued tasks; must not touch nginx from run().
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


static void ngx_http_pubsub_kafka_task_handler(void *data, ngx_log_t *log);
static void ngx_http_pubsub_kafka_task_event(ngx_event_t *ev);


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
        ngx_log_error(NGX_LOG_WARN, kc->log, 0,
                      "pubsub: kafka %V: %ui blocking look-ups in flight, "
                      "the limit of \"pubsub_kafka_max_lookups\"",
                      &kc->cluster->brokers, kc->ntasks);
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
 * and a look-up of a dead broker takes pubsub_kafka_timeout.
 */

static void
ngx_http_pubsub_kafka_task_handler(void *data, ngx_log_t *log)
{
    ngx_http_pubsub_kafka_task_t *t = data;

    if (ngx_quit || ngx_terminate || ngx_exiting) {
        t->skipped = 1;
        return;
    }

    t->run(t);
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


/* worker exit: the pool has stopped, tasks left never finished */

void
ngx_http_pubsub_kafka_tasks_free(ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_queue_t                   *q;
    ngx_http_pubsub_kafka_task_t  *t;

    while (!ngx_queue_empty(&kc->tasks)) {
        q = ngx_queue_head(&kc->tasks);
        ngx_queue_remove(q);
        t = ngx_queue_data(q, ngx_http_pubsub_kafka_task_t, queue);
        ngx_free(t);
    }

    kc->ntasks = 0;
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
