
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


#define NGX_HTTP_PUBSUB_KAFKA_BATCH      256
#define NGX_HTTP_PUBSUB_KAFKA_BATCHES    8     /* per turn of the loop */

#define NGX_HTTP_PUBSUB_KAFKA_LIST       0
#define NGX_HTTP_PUBSUB_KAFKA_LOOKUP     1
#define NGX_HTTP_PUBSUB_KAFKA_STOP       2


typedef struct {
    ngx_thread_task_t                    task;
    ngx_queue_t                          queue;     /* in client->tasks */
    ngx_http_pubsub_kafka_client_t      *client;
    ngx_uint_t                           kind;

    ngx_http_pubsub_cmd_t               *cmd;       /* LIST: NULL if gone */
    ngx_http_pubsub_kafka_partition_t   *partition; /* LOOKUP, STOP */
    ngx_http_pubsub_kafka_cursor_t      *cursor;    /* STOP */

    rd_kafka_t                          *rk;
    rd_kafka_topic_t                    *rkt;
    char                                 topic[NGX_HTTP_PUBSUB_KAFKA_TOPIC_MAX
                                               + 1];
    int32_t                              id;
    int64_t                              timestamp;
    int                                  timeout;
    ngx_uint_t                           errors;    /* generation at start */

    rd_kafka_resp_err_t                  err;
    int64_t                              low;
    int64_t                              high;
    int64_t                              offset;
} ngx_http_pubsub_kafka_task_t;


typedef struct {
    ngx_http_pubsub_kafka_task_t        *task;
} ngx_http_pubsub_kafka_list_t;


typedef struct {
    ngx_queue_t                          queue;     /* pending or waiters */
    ngx_http_pubsub_cmd_t               *cmd;
    ngx_http_pubsub_kafka_loc_conf_t    *conf;
    ngx_http_pubsub_kafka_partition_t   *partition;
    ngx_http_pubsub_kafka_cursor_t      *cursor;    /* waiting on it */
    int64_t                              offset;
    ngx_event_t                          timer;

    unsigned                             queued:1;
    unsigned                             looked_up:1;
    unsigned                             expired:1;
} ngx_http_pubsub_kafka_fetch_t;


typedef struct {
    ngx_queue_t                         *first;
    ngx_uint_t                           n;
} ngx_http_pubsub_kafka_range_t;


static ngx_int_t ngx_http_pubsub_kafka_handle_init(
    ngx_http_pubsub_kafka_client_t *kc, ngx_uint_t index);
static ngx_int_t ngx_http_pubsub_kafka_event_init(
    ngx_http_pubsub_kafka_handle_t *h, rd_kafka_queue_t *q,
    ngx_connection_t **pc, ngx_fd_t *fd, ngx_event_handler_pt handler);
static void ngx_http_pubsub_kafka_read_pipe(ngx_connection_t *c);
static void ngx_http_pubsub_kafka_main_handler(ngx_event_t *rev);
static void ngx_http_pubsub_kafka_fetch_handler(ngx_event_t *rev);
static void ngx_http_pubsub_kafka_deliver(ngx_http_pubsub_kafka_client_t *kc,
    ngx_uint_t index, rd_kafka_message_t *m);
static ngx_int_t ngx_http_pubsub_kafka_append(
    ngx_http_pubsub_kafka_cursor_t *cur, rd_kafka_message_t *m);
static void ngx_http_pubsub_kafka_notify(ngx_http_pubsub_kafka_cursor_t *cur);
static void ngx_http_pubsub_kafka_cursor_fail(
    ngx_http_pubsub_kafka_cursor_t *cur, rd_kafka_resp_err_t err);
static void ngx_http_pubsub_kafka_free_window(
    ngx_http_pubsub_kafka_cursor_t *cur);
static void ngx_http_pubsub_kafka_stop(ngx_http_pubsub_kafka_cursor_t *cur);
static void ngx_http_pubsub_kafka_idle_handler(ngx_event_t *ev);

static ngx_http_pubsub_kafka_client_t *ngx_http_pubsub_kafka_cmd_client(
    ngx_http_pubsub_cmd_t *cmd, const char *what, char *topic,
    int32_t partition, ngx_http_pubsub_kafka_loc_conf_t **conf);
static void ngx_http_pubsub_kafka_list_cancel(ngx_http_pubsub_cmd_t *cmd);
static void ngx_http_pubsub_kafka_fetch_cancel(ngx_http_pubsub_cmd_t *cmd);
static void ngx_http_pubsub_kafka_dispatch(ngx_http_pubsub_kafka_fetch_t *f);
static void ngx_http_pubsub_kafka_hold(ngx_http_pubsub_kafka_fetch_t *f);
static void ngx_http_pubsub_kafka_wait(ngx_http_pubsub_kafka_fetch_t *f,
    ngx_http_pubsub_kafka_cursor_t *cur);
static void ngx_http_pubsub_kafka_unqueue(ngx_http_pubsub_kafka_fetch_t *f);
static void ngx_http_pubsub_kafka_answer(ngx_http_pubsub_kafka_fetch_t *f);
static void ngx_http_pubsub_kafka_fetch_error(
    ngx_http_pubsub_kafka_fetch_t *f, const char *reason);
static void ngx_http_pubsub_kafka_fail_all(ngx_queue_t *list,
    const char *reason);
static void ngx_http_pubsub_kafka_fetch_finish(
    ngx_http_pubsub_kafka_fetch_t *f);
static u_char *ngx_http_pubsub_kafka_write_range(u_char *p, void *data);
static void ngx_http_pubsub_kafka_fetch_timeout(ngx_event_t *ev);
static void ngx_http_pubsub_kafka_retry(ngx_http_pubsub_kafka_partition_t *p);
static ngx_int_t ngx_http_pubsub_kafka_start(
    ngx_http_pubsub_kafka_cursor_t *cur, int64_t offset);
static ngx_int_t ngx_http_pubsub_kafka_seek(
    ngx_http_pubsub_kafka_cursor_t *cur, int64_t offset);

static ngx_http_pubsub_kafka_partition_t *ngx_http_pubsub_kafka_partition(
    ngx_http_pubsub_kafka_client_t *kc, char *topic, int32_t id);
static void ngx_http_pubsub_kafka_partition_free(
    ngx_http_pubsub_kafka_partition_t *p);
static ngx_http_pubsub_kafka_partition_t *ngx_http_pubsub_kafka_find(
    ngx_http_pubsub_kafka_topic_t *t, int32_t id);

static ngx_http_pubsub_kafka_task_t *ngx_http_pubsub_kafka_task(
    ngx_http_pubsub_kafka_client_t *kc, ngx_uint_t kind);
static ngx_int_t ngx_http_pubsub_kafka_post(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_lookup(ngx_http_pubsub_kafka_partition_t *p,
    ngx_msec_t timeout);
static void ngx_http_pubsub_kafka_task_handler(void *data, ngx_log_t *log);
static rd_kafka_resp_err_t ngx_http_pubsub_kafka_offsets(rd_kafka_t *rk,
    const char *topic, int32_t id, int64_t timestamp, int64_t *offset,
    int timeout);
static void ngx_http_pubsub_kafka_task_done(ngx_event_t *ev);
static void ngx_http_pubsub_kafka_listed(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_looked_up(ngx_http_pubsub_kafka_task_t *t);
static void ngx_http_pubsub_kafka_stopped(ngx_http_pubsub_kafka_task_t *t);


/* defaults for a gateway; pubsub_kafka_property overrides any of them */

static ngx_keyval_t  ngx_http_pubsub_kafka_defaults[] = {
    { ngx_string("client.id"), ngx_string("nginx-pubsub-kafka") },
    { ngx_string("fetch.wait.max.ms"), ngx_string("100") },
    { ngx_string("queued.min.messages"), ngx_string("1000000") },
    { ngx_string("queued.max.messages.kbytes"), ngx_string("65536") },
    { ngx_string("auto.offset.reset"), ngx_string("error") },
    { ngx_string("enable.partition.eof"), ngx_string("false") },
    { ngx_null_string, ngx_null_string }
};


/* applies defaults, properties and brokers to a librdkafka configuration */

static ngx_int_t
ngx_http_pubsub_kafka_configure(ngx_http_pubsub_kafka_cluster_t *cluster,
    rd_kafka_conf_t *rkc, char *errstr, size_t size, ngx_str_t **bad)
{
    u_char        *brokers;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    for (kv = ngx_http_pubsub_kafka_defaults; kv->key.len; kv++) {
        if (rd_kafka_conf_set(rkc, (char *) kv->key.data,
                              (char *) kv->value.data, errstr, size)
            != RD_KAFKA_CONF_OK)
        {
            *bad = &kv->key;
            return NGX_ERROR;
        }
    }

    if (cluster->properties) {
        kv = cluster->properties->elts;

        for (i = 0; i < cluster->properties->nelts; i++) {
            if (rd_kafka_conf_set(rkc, (char *) kv[i].key.data,
                                  (char *) kv[i].value.data, errstr, size)
                != RD_KAFKA_CONF_OK)
            {
                *bad = &kv[i].key;
                return NGX_ERROR;
            }
        }
    }

    brokers = ngx_alloc(cluster->brokers.len + 1, ngx_cycle->log);
    if (brokers == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(brokers, cluster->brokers.data,
                       cluster->brokers.len + 1);

    if (rd_kafka_conf_set(rkc, "bootstrap.servers", (char *) brokers,
                          errstr, size)
        != RD_KAFKA_CONF_OK)
    {
        ngx_free(brokers);
        *bad = &cluster->brokers;
        return NGX_ERROR;
    }

    ngx_free(brokers);

    rd_kafka_conf_set_events(rkc, RD_KAFKA_EVENT_LOG|RD_KAFKA_EVENT_ERROR);

    return NGX_OK;
}


/* configuration time: the combination must be acceptable to librdkafka */

char *
ngx_http_pubsub_kafka_check_properties(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_cluster_t *cluster)
{
    char              errstr[512];
    ngx_str_t        *bad;
    rd_kafka_conf_t  *rkc;

    rkc = rd_kafka_conf_new();

    if (ngx_http_pubsub_kafka_configure(cluster, rkc, errstr, sizeof(errstr),
                                        &bad)
        != NGX_OK)
    {
        rd_kafka_conf_destroy(rkc);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Kafka property \"%V\": %s", bad, errstr);
        return NGX_CONF_ERROR;
    }

    rd_kafka_conf_destroy(rkc);

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_pubsub_kafka_init_worker(ngx_cycle_t *cycle,
    ngx_http_pubsub_kafka_cluster_t *cluster)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = ngx_pcalloc(cycle->pool, sizeof(ngx_http_pubsub_kafka_client_t));
    if (kc == NULL) {
        return NGX_ERROR;
    }

    kc->cluster = cluster;
    kc->log = cycle->log;

    ngx_queue_init(&kc->topics);
    ngx_queue_init(&kc->tasks);
    ngx_queue_init(&kc->touched);

    cluster->client = kc;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        kc->handles[i].fetch_fd = NGX_INVALID_FILE;
        kc->handles[i].main_fd = NGX_INVALID_FILE;
    }

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        if (ngx_http_pubsub_kafka_handle_init(kc, i) != NGX_OK) {
            ngx_http_pubsub_kafka_exit_worker(kc);
            cluster->client = NULL;
            return NGX_ERROR;
        }
    }

    kc->idle.handler = ngx_http_pubsub_kafka_idle_handler;
    kc->idle.data = kc;
    kc->idle.log = cycle->log;
    kc->idle.cancelable = 1;

    ngx_add_timer(&kc->idle, ngx_max(kc->cluster->read_timeout / 4, 100));

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "pubsub: kafka client for \"%V\" started, librdkafka %s",
                  &cluster->brokers, rd_kafka_version_str());

    return NGX_OK;
}


static ngx_int_t
ngx_http_pubsub_kafka_handle_init(ngx_http_pubsub_kafka_client_t *kc,
    ngx_uint_t index)
{
    char                             errstr[512];
    ngx_str_t                       *bad;
    rd_kafka_conf_t                 *rkc;
    ngx_http_pubsub_kafka_handle_t  *h;

    h = &kc->handles[index];
    h->client = kc;
    h->index = index;

    rkc = rd_kafka_conf_new();

    if (ngx_http_pubsub_kafka_configure(kc->cluster, rkc, errstr,
                                        sizeof(errstr), &bad)
        != NGX_OK
        || rd_kafka_conf_set(rkc, "log.queue", "true", errstr,
                             sizeof(errstr))
           != RD_KAFKA_CONF_OK)
    {
        rd_kafka_conf_destroy(rkc);
        ngx_log_error(NGX_LOG_EMERG, kc->log, 0,
                      "pubsub: kafka configuration failed: %s", errstr);
        return NGX_ERROR;
    }

    h->rk = rd_kafka_new(RD_KAFKA_CONSUMER, rkc, errstr, sizeof(errstr));

#if (NGX_SSL)
    /*
     * librdkafka's PEM loading leaves an OpenSSL error queued on this
     * thread, which nginx's next TLS handshake would trip over
     */
    ERR_clear_error();
#endif

    if (h->rk == NULL) {
        rd_kafka_conf_destroy(rkc);
        ngx_log_error(NGX_LOG_EMERG, kc->log, 0,
                      "pubsub: rd_kafka_new() failed: %s", errstr);
        return NGX_ERROR;
    }

    /* logs and errors are served on our thread, from the main queue */

    h->mainq = rd_kafka_queue_get_main(h->rk);
    (void) rd_kafka_set_log_queue(h->rk, NULL);

    h->fetchq = rd_kafka_queue_new(h->rk);

    if (ngx_http_pubsub_kafka_event_init(h, h->mainq, &h->main_event,
                                         &h->main_fd,
                                         ngx_http_pubsub_kafka_main_handler)
        != NGX_OK
        || ngx_http_pubsub_kafka_event_init(h, h->fetchq, &h->fetch_event,
                                          &h->fetch_fd,
                                          ngx_http_pubsub_kafka_fetch_handler)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* what was queued before the io-events were enabled never signals */

    ngx_http_pubsub_kafka_main_handler(h->main_event->read);

    return NGX_OK;
}


/*
 * librdkafka writes to a pipe when a queue becomes non-empty; the read end
 * sits in nginx's event loop as a connection of its own.
 */

static ngx_int_t
ngx_http_pubsub_kafka_event_init(ngx_http_pubsub_kafka_handle_t *h,
    rd_kafka_queue_t *q, ngx_connection_t **pc, ngx_fd_t *fd,
    ngx_event_handler_pt handler)
{
    int                fds[2];
    ngx_log_t         *log;
    ngx_connection_t  *c;

    log = h->client->log;

    if (pipe2(fds, O_NONBLOCK|O_CLOEXEC) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno, "pipe2() failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fds[0], log);
    if (c == NULL) {
        (void) close(fds[0]);
        (void) close(fds[1]);
        return NGX_ERROR;
    }

    c->data = h;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = handler;

    *pc = c;
    *fd = fds[1];

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    rd_kafka_queue_io_event_enable(q, fds[1], "1", 1);

    return NGX_OK;
}


void
ngx_http_pubsub_kafka_exit_worker(ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_uint_t                          i;
    ngx_queue_t                        *q, *pq;
    ngx_http_pubsub_kafka_task_t       *t;
    ngx_http_pubsub_kafka_topic_t      *topic;
    ngx_http_pubsub_kafka_handle_t     *h;
    ngx_http_pubsub_kafka_partition_t  *p;

    if (kc->idle.timer_set) {
        ngx_del_timer(&kc->idle);
    }

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        h = &kc->handles[i];

        if (h->fetchq) {
            rd_kafka_queue_io_event_enable(h->fetchq, -1, NULL, 0);
        }

        if (h->mainq) {
            rd_kafka_queue_io_event_enable(h->mainq, -1, NULL, 0);
        }
    }

    /* the thread pool has exited by now: no task runs any more */

    while (!ngx_queue_empty(&kc->tasks)) {
        q = ngx_queue_head(&kc->tasks);
        ngx_queue_remove(q);
        t = ngx_queue_data(q, ngx_http_pubsub_kafka_task_t, queue);
        ngx_free(t);
    }

    while (!ngx_queue_empty(&kc->topics)) {
        q = ngx_queue_head(&kc->topics);
        topic = ngx_queue_data(q, ngx_http_pubsub_kafka_topic_t, queue);

        while (!ngx_queue_empty(&topic->partitions)) {
            pq = ngx_queue_head(&topic->partitions);
            p = ngx_queue_data(pq, ngx_http_pubsub_kafka_partition_t, queue);

            for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
                if (p->cursors[i].running && topic->rkt[i]) {
                    (void) rd_kafka_consume_stop(topic->rkt[i], p->id);
                }

                ngx_http_pubsub_kafka_free_window(&p->cursors[i]);
            }

            ngx_queue_remove(pq);
            ngx_free(p);
        }

        for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
            if (topic->rkt[i]) {
                rd_kafka_topic_destroy(topic->rkt[i]);
            }
        }

        ngx_queue_remove(q);
        ngx_free(topic);
    }

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        h = &kc->handles[i];

        if (h->fetchq) {
            rd_kafka_queue_destroy(h->fetchq);
        }

        if (h->mainq) {
            rd_kafka_queue_destroy(h->mainq);
        }

        if (h->rk) {
            rd_kafka_destroy(h->rk);
        }

        if (h->fetch_event) {
            ngx_close_connection(h->fetch_event);
        }

        if (h->main_event) {
            ngx_close_connection(h->main_event);
        }

        if (h->fetch_fd != NGX_INVALID_FILE) {
            (void) close(h->fetch_fd);
        }

        if (h->main_fd != NGX_INVALID_FILE) {
            (void) close(h->main_fd);
        }

        ngx_memzero(h, sizeof(ngx_http_pubsub_kafka_handle_t));
    }
}


static void
ngx_http_pubsub_kafka_read_pipe(ngx_connection_t *c)
{
    u_char  buf[64];

    while (read(c->fd, buf, sizeof(buf)) > 0) {
        /* void */
    }
}


/* librdkafka's logs and errors, on nginx's thread */

static void
ngx_http_pubsub_kafka_main_handler(ngx_event_t *rev)
{
    int                              level;
    ngx_uint_t                       nlevel;
    const char                      *fac, *str;
    rd_kafka_event_t                *ev;
    ngx_connection_t                *c;
    rd_kafka_resp_err_t              err;
    ngx_http_pubsub_kafka_client_t  *kc;
    ngx_http_pubsub_kafka_handle_t  *h;

    c = rev->data;
    h = c->data;
    kc = h->client;

    ngx_http_pubsub_kafka_read_pipe(c);

    for ( ;; ) {
        ev = rd_kafka_queue_poll(h->mainq, 0);

        if (ev == NULL) {
            break;
        }

        switch (rd_kafka_event_type(ev)) {

        case RD_KAFKA_EVENT_LOG:
            if (rd_kafka_event_log(ev, &fac, &str, &level) == 0) {
                nlevel = (level <= 3) ? NGX_LOG_ERR : (ngx_uint_t) level + 1;

                ngx_log_error(nlevel, kc->log, 0,
                              "pubsub: kafka %V #%ui: %s: %s",
                              &kc->cluster->brokers, h->index, fac, str);
            }

            break;

        case RD_KAFKA_EVENT_ERROR:
            err = rd_kafka_event_error(ev);

            /* a new generation: tailing cursors check their partition */
            kc->errors++;

            ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                          "pubsub: kafka %V #%ui error: %s: %s",
                          &kc->cluster->brokers, h->index,
                          rd_kafka_err2name(err),
                          rd_kafka_event_error_string(ev));
            break;

        default:
            break;
        }

        rd_kafka_event_destroy(ev);
    }
}


/*
 * Messages: drained to empty, over as many turns of the event loop as it
 * takes, or the pipe never fires again.
 */

static void
ngx_http_pubsub_kafka_fetch_handler(ngx_event_t *rev)
{
    ssize_t                           n, i;
    ngx_uint_t                        batches;
    ngx_queue_t                      *q;
    ngx_connection_t                 *c;
    rd_kafka_message_t               *msgs[NGX_HTTP_PUBSUB_KAFKA_BATCH];
    ngx_http_pubsub_kafka_client_t   *kc;
    ngx_http_pubsub_kafka_cursor_t   *cur;
    ngx_http_pubsub_kafka_handle_t   *h;

    c = rev->data;
    h = c->data;
    kc = h->client;

    ngx_http_pubsub_kafka_read_pipe(c);

    for (batches = 0; /* void */; batches++) {

        if (batches == NGX_HTTP_PUBSUB_KAFKA_BATCHES) {
            /*
             * the queue is not empty, so librdkafka will not write to
             * the pipe again: go on after the event loop's next turn,
             * so a burst does not hold up everything else
             */
            ngx_post_event(rev, &ngx_posted_next_events);
            break;
        }

        n = rd_kafka_consume_batch_queue(h->fetchq, 0, msgs,
                                         NGX_HTTP_PUBSUB_KAFKA_BATCH);

        if (n < 0) {
            ngx_log_error(NGX_LOG_ALERT, kc->log, 0,
                          "pubsub: rd_kafka_consume_batch_queue() "
                          "failed: %s",
                          rd_kafka_err2str(rd_kafka_last_error()));
            break;
        }

        for (i = 0; i < n; i++) {
            ngx_http_pubsub_kafka_deliver(kc, h->index, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }

        if (n < NGX_HTTP_PUBSUB_KAFKA_BATCH) {
            break;
        }
    }

    /* every client waiting on a cursor that moved gets its answer once */

    while (!ngx_queue_empty(&kc->touched)) {
        q = ngx_queue_head(&kc->touched);
        ngx_queue_remove(q);

        cur = ngx_queue_data(q, ngx_http_pubsub_kafka_cursor_t, touch);
        cur->touched = 0;

        ngx_http_pubsub_kafka_notify(cur);
    }
}


static void
ngx_http_pubsub_kafka_deliver(ngx_http_pubsub_kafka_client_t *kc,
    ngx_uint_t index, rd_kafka_message_t *m)
{
    ngx_http_pubsub_kafka_topic_t      *t;
    ngx_http_pubsub_kafka_cursor_t     *cur;
    ngx_http_pubsub_kafka_partition_t  *p;

    if (m->rkt == NULL) {
        if (m->err) {
            ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                          "pubsub: kafka consumer error: %s",
                          rd_kafka_err2str(m->err));
        }

        return;
    }

    t = rd_kafka_topic_opaque(m->rkt);
    p = ngx_http_pubsub_kafka_find(t, m->partition);

    if (p == NULL) {
        return;
    }

    cur = &p->cursors[index];

    if (!cur->running || cur->failed) {
        return;
    }

    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            return;
        }

        ngx_log_error(NGX_LOG_INFO, kc->log, 0,
                      "pubsub: kafka topic \"%V\" partition %D "
                      "at %L: %s", &t->name, p->id, m->offset,
                      rd_kafka_message_errstr(m));

        ngx_http_pubsub_kafka_cursor_fail(cur, m->err);
        return;
    }

    if (m->offset < cur->next) {
        /* already had it */
        return;
    }

    if (ngx_http_pubsub_kafka_append(cur, m) != NGX_OK) {
        return;
    }

    if (cur->next > p->high) {
        p->high = cur->next;
    }

    if (!cur->touched && cur->nwaiters) {
        cur->touched = 1;
        ngx_queue_insert_tail(&kc->touched, &cur->touch);
    }
}


/*
 * Encodes the message once, as the bytes of one "messages" entry of a
 * KafkaFetchResp, and adds it to the cursor's window.
 */

static ngx_int_t
ngx_http_pubsub_kafka_append(ngx_http_pubsub_kafka_cursor_t *cur,
    rd_kafka_message_t *m)
{
    u_char                          *p;
    size_t                           len, size;
    int64_t                          ts;
    ngx_queue_t                     *q;
    ngx_http_pubsub_kafka_msg_t     *msg;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = cur->partition->topic->client;

    ts = rd_kafka_message_timestamp(m, NULL);

    len = 0;

    if (m->offset) {
        len += 1 + ngx_http_pubsub_varint_size((uint64_t) m->offset);
    }

    if (ts) {
        len += 1 + ngx_http_pubsub_varint_size((uint64_t) ts);
    }

    if (m->key_len) {
        len += 1 + ngx_http_pubsub_varint_size(m->key_len) + m->key_len;
    }

    if (m->len) {
        len += 1 + ngx_http_pubsub_varint_size(m->len) + m->len;
    }

    size = 1 + ngx_http_pubsub_varint_size(len) + len;

    msg = ngx_alloc(offsetof(ngx_http_pubsub_kafka_msg_t, data) + size,
                    kc->log);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    msg->offset = m->offset;
    msg->len = size;

    p = msg->data;
    *p++ = ngx_http_pubsub_pb_tag(1, NGX_HTTP_PUBSUB_PB_LEN);
    p = ngx_http_pubsub_write_varint(p, len);

    if (m->offset) {
        *p++ = ngx_http_pubsub_pb_tag(1, NGX_HTTP_PUBSUB_PB_VARINT);
        p = ngx_http_pubsub_write_varint(p, (uint64_t) m->offset);
    }

    if (ts) {
        *p++ = ngx_http_pubsub_pb_tag(2, NGX_HTTP_PUBSUB_PB_VARINT);
        p = ngx_http_pubsub_write_varint(p, (uint64_t) ts);
    }

    if (m->key_len) {
        *p++ = ngx_http_pubsub_pb_tag(3, NGX_HTTP_PUBSUB_PB_LEN);
        p = ngx_http_pubsub_write_varint(p, m->key_len);
        p = ngx_cpymem(p, m->key, m->key_len);
    }

    if (m->len) {
        *p++ = ngx_http_pubsub_pb_tag(4, NGX_HTTP_PUBSUB_PB_LEN);
        p = ngx_http_pubsub_write_varint(p, m->len);
        p = ngx_cpymem(p, m->payload, m->len);
    }

    ngx_queue_insert_tail(&cur->window, &msg->queue);
    cur->bytes += size;
    cur->nmessages++;
    cur->next = m->offset + 1;

    kc->nmessages++;

    /* the window keeps the newest messages within its size */

    while (cur->bytes > kc->cluster->buffer_size && cur->nmessages > 1) {
        q = ngx_queue_head(&cur->window);
        msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

        ngx_queue_remove(q);
        cur->bytes -= msg->len;
        cur->nmessages--;
        cur->first = msg->offset + 1;

        ngx_free(msg);
    }

    return NGX_OK;
}


static void
ngx_http_pubsub_kafka_notify(ngx_http_pubsub_kafka_cursor_t *cur)
{
    ngx_queue_t                     waiters, *q;
    ngx_http_pubsub_kafka_fetch_t  *f;

    /* answering may queue new waiters: walk a detached list */

    ngx_queue_init(&waiters);

    if (!ngx_queue_empty(&cur->waiters)) {
        ngx_queue_add(&waiters, &cur->waiters);
        ngx_queue_init(&cur->waiters);
    }

    while (!ngx_queue_empty(&waiters)) {
        q = ngx_queue_head(&waiters);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&cur->waiters, q);

        f = ngx_queue_data(q, ngx_http_pubsub_kafka_fetch_t, queue);

        if (f->offset >= cur->next) {
            continue;
        }

        ngx_http_pubsub_kafka_unqueue(f);

        if (f->offset < cur->first) {
            /* the window moved past it: find another way */
            ngx_http_pubsub_kafka_dispatch(f);
            continue;
        }

        ngx_http_pubsub_kafka_answer(f);
    }

    ngx_http_pubsub_kafka_retry(cur->partition);
}


/* the broker refused the cursor's position: tell its waiters, restart */

static void
ngx_http_pubsub_kafka_cursor_fail(ngx_http_pubsub_kafka_cursor_t *cur,
    rd_kafka_resp_err_t err)
{
    const char  *reason;

    reason = (err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET
              || err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
             ? "OFFSET_OUT_OF_RANGE" : rd_kafka_err2name(err);

    cur->failed = 1;

    ngx_http_pubsub_kafka_fail_all(&cur->waiters, reason);

    ngx_http_pubsub_kafka_stop(cur);
}


/* the cursor stops reading; fetches needing it wait until it has stopped */

static void
ngx_http_pubsub_kafka_stop(ngx_http_pubsub_kafka_cursor_t *cur)
{
    ngx_http_pubsub_kafka_task_t       *t;
    ngx_http_pubsub_kafka_partition_t  *p;

    p = cur->partition;

    cur->failed = 1;
    ngx_http_pubsub_kafka_free_window(cur);

    /* consume_stop() waits for librdkafka's main thread: not here */

    t = ngx_http_pubsub_kafka_task(p->topic->client,
                                   NGX_HTTP_PUBSUB_KAFKA_STOP);
    if (t == NULL) {
        return;
    }

    t->partition = p;
    t->cursor = cur;
    t->rkt = p->topic->rkt[cur->index];
    t->id = p->id;

    (void) ngx_http_pubsub_kafka_post(t);
}


/*
 * Shared reads nobody fetched from for pubsub_kafka_read_timeout stop,
 * and partitions with
 * no reads left are forgotten: the broker's load and the worker's memory
 * follow what clients read now, not what they ever read.
 */

static void
ngx_http_pubsub_kafka_idle_handler(ngx_event_t *ev)
{
    ngx_uint_t                          i;
    ngx_queue_t                        *q, *next, *pq, *pnext;
    ngx_http_pubsub_kafka_topic_t      *t;
    ngx_http_pubsub_kafka_client_t     *kc;
    ngx_http_pubsub_kafka_cursor_t     *cur;
    ngx_http_pubsub_kafka_partition_t  *p;

    kc = ev->data;

    for (q = ngx_queue_head(&kc->topics);
         q != ngx_queue_sentinel(&kc->topics);
         q = next)
    {
        next = ngx_queue_next(q);
        t = ngx_queue_data(q, ngx_http_pubsub_kafka_topic_t, queue);

        for (pq = ngx_queue_head(&t->partitions);
             pq != ngx_queue_sentinel(&t->partitions);
             pq = pnext)
        {
            pnext = ngx_queue_next(pq);
            p = ngx_queue_data(pq, ngx_http_pubsub_kafka_partition_t, queue);

            for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
                cur = &p->cursors[i];

                if (cur->running && !cur->failed && cur->nwaiters == 0
                    && ngx_current_msec - cur->used
                       >= kc->cluster->read_timeout)
                {
                    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, kc->log, 0,
                                   "pubsub: kafka cursor #%ui of \"%V\" "
                                   "partition %D idle, stopping",
                                   cur->index, &t->name, p->id);

                    ngx_http_pubsub_kafka_stop(cur);
                }
            }

            if (!p->lookup && ngx_queue_empty(&p->pending)
                && !p->cursors[0].running && !p->cursors[1].running)
            {
                /* may free the topic too: "next" is taken already */
                ngx_http_pubsub_kafka_partition_free(p);
            }
        }
    }

    ngx_add_timer(ev, ngx_max(kc->cluster->read_timeout / 4, 100));
}


static void
ngx_http_pubsub_kafka_free_window(ngx_http_pubsub_kafka_cursor_t *cur)
{
    ngx_queue_t                  *q;
    ngx_http_pubsub_kafka_msg_t  *msg;

    if (cur->window.next == NULL) {
        return;
    }

    while (!ngx_queue_empty(&cur->window)) {
        q = ngx_queue_head(&cur->window);
        ngx_queue_remove(q);
        msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);
        ngx_free(msg);
    }

    cur->bytes = 0;
    cur->nmessages = 0;
    cur->first = cur->next;
}


/* commands */


size_t
ngx_http_pubsub_kafka_list_offset_size(void)
{
    return sizeof(ngx_http_pubsub_kafka_list_t);
}


size_t
ngx_http_pubsub_kafka_fetch_size(void)
{
    return sizeof(ngx_http_pubsub_kafka_fetch_t);
}


/*
 * The location's Kafka client for a command on topic and partition, or
 * NULL when the command was answered with an error: a bad topic name or
 * partition, or a client that could not start in this worker.
 */

static ngx_http_pubsub_kafka_client_t *
ngx_http_pubsub_kafka_cmd_client(ngx_http_pubsub_cmd_t *cmd,
    const char *what, char *topic, int32_t partition,
    ngx_http_pubsub_kafka_loc_conf_t **conf)
{
    size_t                             len;
    const char                        *reason;
    ngx_http_pubsub_kafka_loc_conf_t  *pklcf;

    pklcf = ngx_http_get_module_loc_conf(ngx_http_pubsub_cmd_request(cmd),
                                         ngx_http_pubsub_kafka_module);
    *conf = pklcf;

    len = ngx_strlen(topic);

    if (len == 0 || len > NGX_HTTP_PUBSUB_KAFKA_TOPIC_MAX) {
        reason = "invalid topic name";

    } else if (partition < 0) {
        reason = "invalid partition";

    } else if (pklcf->cluster == NULL || pklcf->cluster->client == NULL) {
        reason = "kafka client not started";

    } else {
        return pklcf->cluster->client;
    }

    (void) ngx_http_pubsub_send_error(cmd, "failed to %s, topic: %s, "
                                      "partition: %D, err: %s", what, topic,
                                      partition, reason);
    return NULL;
}


/*
 * CmdKafkaListOffset: librdkafka's look-up blocks, so it runs in the
 * thread pool, bounded by pubsub_kafka_timeout.
 */

ngx_int_t
ngx_http_pubsub_kafka_list_offset(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    CmdKafkaListOffset                *lo;
    ngx_http_pubsub_kafka_task_t      *t;
    ngx_http_pubsub_kafka_list_t      *l;
    ngx_http_pubsub_kafka_client_t    *kc;
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    lo = req->cmd_kafka_list_offset;
    l = cmd->data;

    kc = ngx_http_pubsub_kafka_cmd_client(cmd, "list offset", lo->topic,
                                          lo->partition, &conf);
    if (kc == NULL) {
        return NGX_OK;
    }

    t = ngx_http_pubsub_kafka_task(kc, NGX_HTTP_PUBSUB_KAFKA_LIST);
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->cmd = cmd;
    t->rk = kc->handles[0].rk;
    (void) ngx_cpystrn((u_char *) t->topic, (u_char *) lo->topic,
                       sizeof(t->topic));
    t->id = lo->partition;
    t->timestamp = lo->timestamp;
    t->timeout = (int) conf->timeout;

    if (ngx_http_pubsub_kafka_post(t) != NGX_OK) {
        return NGX_ERROR;
    }

    l->task = t;
    cmd->cancel = ngx_http_pubsub_kafka_list_cancel;

    return NGX_AGAIN;
}


static void
ngx_http_pubsub_kafka_list_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_list_t  *l;

    l = cmd->data;

    /* the task finishes on its own and finds nobody to answer */
    l->task->cmd = NULL;
}


static void
ngx_http_pubsub_kafka_listed(ngx_http_pubsub_kafka_task_t *t)
{
    KafkaListOffsetResp  lo = KAFKA_LIST_OFFSET_RESP__INIT;
    PubSubResp           resp = PUB_SUB_RESP__INIT;

    if (t->cmd == NULL) {
        return;
    }

    if (t->err) {
        ngx_log_error(NGX_LOG_INFO, t->cmd->log, 0,
                      "pubsub: kafka list offset of \"%s\" partition %D "
                      "failed: %s", t->topic, t->id, rd_kafka_err2str(t->err));

        (void) ngx_http_pubsub_send_error(t->cmd, "failed to list offset, "
                                          "topic: %s, partition: %D, err: %s",
                                          t->topic, t->id,
                                          rd_kafka_err2name(t->err));
    } else {
        lo.offset = t->offset;
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP;
        resp.kafka_list_offset_resp = &lo;

        (void) ngx_http_pubsub_send(t->cmd, &resp);
    }

    ngx_http_pubsub_cmd_done(t->cmd);
}


/* CmdKafkaFetch */

ngx_int_t
ngx_http_pubsub_kafka_fetch(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    CmdKafkaFetch                      *kf;
    ngx_http_pubsub_kafka_fetch_t      *f;
    ngx_http_pubsub_kafka_client_t     *kc;
    ngx_http_pubsub_kafka_loc_conf_t   *conf;
    ngx_http_pubsub_kafka_partition_t  *p;

    kf = req->cmd_kafka_fetch;
    f = cmd->data;

    kc = ngx_http_pubsub_kafka_cmd_client(cmd, "fetch message", kf->topic,
                                          kf->partition, &conf);
    if (kc == NULL) {
        return NGX_OK;
    }

    if (kf->offset < 0) {
        (void) ngx_http_pubsub_send_error(cmd, "failed to fetch message, "
                                          "topic: %s, partition: %D, "
                                          "err: OFFSET_OUT_OF_RANGE",
                                          kf->topic, kf->partition);
        return NGX_OK;
    }

    p = ngx_http_pubsub_kafka_partition(kc, kf->topic, kf->partition);
    if (p == NULL) {
        return NGX_ERROR;
    }

    f->cmd = cmd;
    f->conf = conf;
    f->partition = p;
    f->offset = kf->offset;

    f->timer.handler = ngx_http_pubsub_kafka_fetch_timeout;
    f->timer.data = f;
    f->timer.log = cmd->log;
    f->timer.cancelable = 1;

    cmd->cancel = ngx_http_pubsub_kafka_fetch_cancel;

    kc->nfetches++;

    ngx_http_pubsub_kafka_dispatch(f);

    return NGX_AGAIN;
}


static void
ngx_http_pubsub_kafka_fetch_cancel(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_kafka_fetch_t      *f;
    ngx_http_pubsub_kafka_partition_t  *p;

    f = cmd->data;
    p = f->partition;

    ngx_http_pubsub_kafka_unqueue(f);

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    ngx_http_pubsub_kafka_retry(p);

    if (!p->valid && !p->lookup && ngx_queue_empty(&p->pending)) {
        ngx_http_pubsub_kafka_partition_free(p);
    }
}


/*
 * Where a fetch goes: a cursor whose window holds the offset answers it
 * now; one whose next message is that offset, or that is on its way
 * there, answers when it arrives; otherwise a look-up of the partition
 * decides between an error and starting or moving a cursor.
 */

static void
ngx_http_pubsub_kafka_dispatch(ngx_http_pubsub_kafka_fetch_t *f)
{
    int64_t                             o;
    ngx_uint_t                          i;
    ngx_http_pubsub_kafka_cursor_t     *cur;
    ngx_http_pubsub_kafka_partition_t  *p;

    p = f->partition;
    o = f->offset;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        cur = &p->cursors[i];

        if (cur->running && !cur->failed
            && o >= cur->first && o <= cur->next)
        {
            if (o < cur->next) {
                f->cursor = cur;
                cur->used = ngx_current_msec;
                ngx_http_pubsub_kafka_answer(f);

            } else {
                ngx_http_pubsub_kafka_wait(f, cur);
            }

            return;
        }
    }

    if (p->lookup || !f->looked_up) {
        ngx_http_pubsub_kafka_hold(f);

        if (!p->lookup) {
            ngx_http_pubsub_kafka_lookup(p, f->conf->timeout);
        }

        return;
    }

    if (o < p->low || o > p->high) {
        ngx_http_pubsub_kafka_fetch_error(f, "OFFSET_OUT_OF_RANGE");
        return;
    }

    /* a cursor behind the offset will get there */

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        cur = &p->cursors[i];

        if (cur->running && !cur->failed && cur->next < o) {
            ngx_http_pubsub_kafka_wait(f, cur);
            return;
        }
    }

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        cur = &p->cursors[i];

        if (!cur->running) {
            if (ngx_http_pubsub_kafka_start(cur, o) != NGX_OK) {
                ngx_http_pubsub_kafka_fetch_error(f, "failed to start "
                                                  "reading");
                return;
            }

            ngx_http_pubsub_kafka_wait(f, cur);
            return;
        }
    }

    /* the last cursor moves for clients catching up, once it is free */

    cur = &p->cursors[NGX_HTTP_PUBSUB_KAFKA_CURSORS - 1];

    if (cur->failed || cur->nwaiters) {
        ngx_http_pubsub_kafka_hold(f);
        return;
    }

    if (ngx_http_pubsub_kafka_seek(cur, o) != NGX_OK) {
        ngx_http_pubsub_kafka_fetch_error(f, "failed to seek");
        return;
    }

    ngx_http_pubsub_kafka_wait(f, cur);
}


static void
ngx_http_pubsub_kafka_hold(ngx_http_pubsub_kafka_fetch_t *f)
{
    f->cursor = NULL;
    f->queued = 1;
    ngx_queue_insert_tail(&f->partition->pending, &f->queue);
}


/*
 * A fetch at the end of the partition waits pubsub_kafka_fetch_max_wait
 * for news; one for messages that exist but are still on their way (a
 * cursor just started or catching up) waits up to pubsub_kafka_timeout.
 */

static void
ngx_http_pubsub_kafka_wait(ngx_http_pubsub_kafka_fetch_t *f,
    ngx_http_pubsub_kafka_cursor_t *cur)
{
    ngx_msec_t  timeout;

    f->cursor = cur;
    cur->used = ngx_current_msec;

    timeout = (f->offset < cur->partition->high) ? f->conf->timeout
                                                 : f->conf->fetch_max_wait;

    if (timeout == 0) {
        ngx_http_pubsub_kafka_answer(f);
        return;
    }

    f->queued = 1;
    ngx_queue_insert_tail(&cur->waiters, &f->queue);
    cur->nwaiters++;
    cur->partition->topic->client->nwaiters++;

    if (!f->timer.timer_set) {
        ngx_add_timer(&f->timer, timeout);
    }
}


static void
ngx_http_pubsub_kafka_unqueue(ngx_http_pubsub_kafka_fetch_t *f)
{
    if (!f->queued) {
        return;
    }

    ngx_queue_remove(&f->queue);
    f->queued = 0;

    if (f->cursor) {
        f->cursor->nwaiters--;
        f->partition->topic->client->nwaiters--;
    }
}


/*
 * Answers from the window of f->cursor: messages from f->offset on, within
 * pubsub_kafka_fetch_max_bytes but at least one; none if it holds none.
 */

static void
ngx_http_pubsub_kafka_answer(ngx_http_pubsub_kafka_fetch_t *f)
{
    size_t                           len, max, room;
    ngx_queue_t                     *q, *start;
    ngx_http_pubsub_kafka_msg_t     *msg;
    ngx_http_pubsub_kafka_range_t    range;
    ngx_http_pubsub_kafka_cursor_t  *cur;

    cur = f->cursor;
    start = NULL;

    if (cur && cur->nmessages) {

        /* walk in from the nearer end of the window */

        if (f->offset - cur->first < cur->next - f->offset) {
            for (q = ngx_queue_head(&cur->window);
                 q != ngx_queue_sentinel(&cur->window);
                 q = ngx_queue_next(q))
            {
                msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

                if (msg->offset >= f->offset) {
                    start = q;
                    break;
                }
            }

        } else {
            for (q = ngx_queue_last(&cur->window);
                 q != ngx_queue_sentinel(&cur->window);
                 q = ngx_queue_prev(q))
            {
                msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

                if (msg->offset < f->offset) {
                    break;
                }

                start = q;
            }
        }
    }

    len = 0;
    range.first = start;
    range.n = 0;

    /*
     * Answers to fetches in flight together must not overflow the
     * client's output queue: the room left in it (a frame head allowed
     * for) bounds this one too, and when not even one message fits the
     * answer has none: the client fetches again once it has read.
     */

    room = ngx_http_pubsub_send_room(f->cmd);

    if (room != NGX_MAX_SIZE_T_VALUE) {
        room = (room > 64) ? room - 64 : 0;
    }

    max = ngx_min(room, f->conf->fetch_max_bytes);

    if (start) {
        for (q = start;
             q != ngx_queue_sentinel(&cur->window);
             q = ngx_queue_next(q))
        {
            msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);

            if ((range.n || msg->len > room) && len + msg->len > max) {
                break;
            }

            len += msg->len;
            range.n++;
        }
    }

    (void) ngx_http_pubsub_send_raw(f->cmd,
                                    PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                    len, ngx_http_pubsub_kafka_write_range,
                                    &range);

    ngx_http_pubsub_kafka_fetch_finish(f);
}


static u_char *
ngx_http_pubsub_kafka_write_range(u_char *p, void *data)
{
    ngx_http_pubsub_kafka_range_t *range = data;

    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_http_pubsub_kafka_msg_t  *msg;

    q = range->first;

    for (i = 0; i < range->n; i++) {
        msg = ngx_queue_data(q, ngx_http_pubsub_kafka_msg_t, queue);
        p = ngx_cpymem(p, msg->data, msg->len);
        q = ngx_queue_next(q);
    }

    return p;
}


static void
ngx_http_pubsub_kafka_fetch_error(ngx_http_pubsub_kafka_fetch_t *f,
    const char *reason)
{
    ngx_http_pubsub_kafka_partition_t  *p;

    p = f->partition;

    (void) ngx_http_pubsub_send_error(f->cmd, "failed to fetch message, "
                                      "topic: %V, partition: %D, err: %s",
                                      &p->topic->name, p->id, reason);

    ngx_http_pubsub_kafka_fetch_finish(f);
}


/* every fetch of a waiters or pending list gets the same error */

static void
ngx_http_pubsub_kafka_fail_all(ngx_queue_t *list, const char *reason)
{
    ngx_queue_t                    *q;
    ngx_http_pubsub_kafka_fetch_t  *f;

    while (!ngx_queue_empty(list)) {
        q = ngx_queue_head(list);
        f = ngx_queue_data(q, ngx_http_pubsub_kafka_fetch_t, queue);
        ngx_http_pubsub_kafka_unqueue(f);
        ngx_http_pubsub_kafka_fetch_error(f, reason);
    }
}


static void
ngx_http_pubsub_kafka_fetch_finish(ngx_http_pubsub_kafka_fetch_t *f)
{
    ngx_http_pubsub_kafka_unqueue(f);

    if (f->timer.timer_set) {
        ngx_del_timer(&f->timer);
    }

    ngx_http_pubsub_cmd_done(f->cmd);
}


/*
 * Nothing came within pubsub_kafka_fetch_max_wait.  After librdkafka
 * reported an error, the partition is looked up first, so a client at the
 * tail of a partition whose leader is gone gets an error, not silence.
 */

static void
ngx_http_pubsub_kafka_fetch_timeout(ngx_event_t *ev)
{
    ngx_http_pubsub_kafka_fetch_t      *f;
    ngx_http_pubsub_kafka_cursor_t     *cur;
    ngx_http_pubsub_kafka_partition_t  *p;

    f = ev->data;
    cur = f->cursor;
    p = f->partition;

    if (cur == NULL || cur->checked == p->topic->client->errors) {
        ngx_http_pubsub_kafka_answer(f);
        ngx_http_pubsub_kafka_retry(p);
        return;
    }

    f->expired = 1;

    if (!p->lookup) {
        ngx_http_pubsub_kafka_lookup(p, f->conf->timeout);
    }
}


/* fetches held back get another chance */

static void
ngx_http_pubsub_kafka_retry(ngx_http_pubsub_kafka_partition_t *p)
{
    ngx_queue_t                     pending, *q;
    ngx_http_pubsub_kafka_fetch_t  *f;

    if (p->lookup || ngx_queue_empty(&p->pending)) {
        return;
    }

    ngx_queue_init(&pending);
    ngx_queue_add(&pending, &p->pending);
    ngx_queue_init(&p->pending);

    while (!ngx_queue_empty(&pending)) {
        q = ngx_queue_head(&pending);
        ngx_queue_remove(q);

        f = ngx_queue_data(q, ngx_http_pubsub_kafka_fetch_t, queue);
        f->queued = 0;

        ngx_http_pubsub_kafka_dispatch(f);
    }
}


static ngx_int_t
ngx_http_pubsub_kafka_start(ngx_http_pubsub_kafka_cursor_t *cur,
    int64_t offset)
{
    ngx_http_pubsub_kafka_topic_t      *t;
    ngx_http_pubsub_kafka_client_t     *kc;
    ngx_http_pubsub_kafka_handle_t     *h;
    rd_kafka_topic_conf_t              *tconf;
    ngx_http_pubsub_kafka_partition_t  *p;

    p = cur->partition;
    t = p->topic;
    kc = t->client;
    h = &kc->handles[cur->index];

    if (t->rkt[cur->index] == NULL) {
        tconf = rd_kafka_topic_conf_new();
        rd_kafka_topic_conf_set_opaque(tconf, t);

        t->rkt[cur->index] = rd_kafka_topic_new(h->rk, (char *) t->name.data,
                                                tconf);

        if (t->rkt[cur->index] == NULL) {
            rd_kafka_topic_conf_destroy(tconf);
            ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                          "pubsub: rd_kafka_topic_new(\"%V\") failed: %s",
                          &t->name, rd_kafka_err2str(rd_kafka_last_error()));
            return NGX_ERROR;
        }
    }

    /* asynchronous: librdkafka's threads start fetching */

    if (rd_kafka_consume_start_queue(t->rkt[cur->index], p->id, offset,
                                     h->fetchq)
        == -1)
    {
        ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                      "pubsub: rd_kafka_consume_start_queue(\"%V\", %D) "
                      "failed: %s", &t->name, p->id,
                      rd_kafka_err2str(rd_kafka_last_error()));
        return NGX_ERROR;
    }

    ngx_queue_init(&cur->window);
    ngx_queue_init(&cur->waiters);

    cur->running = 1;
    cur->first = offset;
    cur->next = offset;
    cur->checked = kc->errors;
    cur->used = ngx_current_msec;

    kc->ncursors++;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, kc->log, 0,
                   "pubsub: kafka cursor #%ui of \"%V\" partition %D "
                   "started at %L", cur->index, &t->name, p->id, offset);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pubsub_kafka_seek(ngx_http_pubsub_kafka_cursor_t *cur,
    int64_t offset)
{
    rd_kafka_resp_err_t                 err;
    ngx_http_pubsub_kafka_topic_t      *t;
    ngx_http_pubsub_kafka_partition_t  *p;

    p = cur->partition;
    t = p->topic;

    /*
     * timeout 0: asynchronous; messages already queued from the old
     * position are dropped by librdkafka's version barrier
     */

    err = rd_kafka_seek(t->rkt[cur->index], p->id, offset, 0);

    if (err) {
        ngx_log_error(NGX_LOG_ERR, t->client->log, 0,
                      "pubsub: rd_kafka_seek(\"%V\", %D, %L) failed: %s",
                      &t->name, p->id, offset, rd_kafka_err2str(err));
        return NGX_ERROR;
    }

    cur->next = offset;
    ngx_http_pubsub_kafka_free_window(cur);

    return NGX_OK;
}


/* topics and partitions asked for in this worker */

static ngx_http_pubsub_kafka_partition_t *
ngx_http_pubsub_kafka_partition(ngx_http_pubsub_kafka_client_t *kc,
    char *topic, int32_t id)
{
    size_t                              len;
    ngx_uint_t                          i;
    ngx_queue_t                        *q;
    ngx_http_pubsub_kafka_topic_t      *t;
    ngx_http_pubsub_kafka_partition_t  *p;

    len = ngx_strlen(topic);
    t = NULL;

    for (q = ngx_queue_head(&kc->topics);
         q != ngx_queue_sentinel(&kc->topics);
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_http_pubsub_kafka_topic_t, queue);

        if (t->name.len == len && ngx_strncmp(t->name.data, topic, len) == 0)
        {
            break;
        }

        t = NULL;
    }

    if (t == NULL) {
        t = ngx_calloc(sizeof(ngx_http_pubsub_kafka_topic_t) + len, kc->log);
        if (t == NULL) {
            return NULL;
        }

        t->client = kc;
        t->name.data = t->data;
        t->name.len = len;
        ngx_memcpy(t->data, topic, len + 1);
        ngx_queue_init(&t->partitions);

        ngx_queue_insert_tail(&kc->topics, &t->queue);
    }

    p = ngx_http_pubsub_kafka_find(t, id);

    if (p) {
        return p;
    }

    p = ngx_calloc(sizeof(ngx_http_pubsub_kafka_partition_t), kc->log);
    if (p == NULL) {
        return NULL;
    }

    p->topic = t;
    p->id = id;
    ngx_queue_init(&p->pending);

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        p->cursors[i].partition = p;
        p->cursors[i].index = i;
        ngx_queue_init(&p->cursors[i].window);
        ngx_queue_init(&p->cursors[i].waiters);
    }

    ngx_queue_insert_tail(&t->partitions, &p->queue);
    kc->npartitions++;

    return p;
}


static ngx_http_pubsub_kafka_partition_t *
ngx_http_pubsub_kafka_find(ngx_http_pubsub_kafka_topic_t *t, int32_t id)
{
    ngx_queue_t                        *q;
    ngx_http_pubsub_kafka_partition_t  *p;

    for (q = ngx_queue_head(&t->partitions);
         q != ngx_queue_sentinel(&t->partitions);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_pubsub_kafka_partition_t, queue);

        if (p->id == id) {
            return p;
        }
    }

    return NULL;
}


/* a partition that does not exist or is no longer read leaves nothing */

static void
ngx_http_pubsub_kafka_partition_free(ngx_http_pubsub_kafka_partition_t *p)
{
    ngx_uint_t                      i;
    ngx_http_pubsub_kafka_topic_t  *t;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        if (p->cursors[i].running) {
            return;
        }
    }

    t = p->topic;

    ngx_queue_remove(&p->queue);
    t->client->npartitions--;
    ngx_free(p);

    if (!ngx_queue_empty(&t->partitions)) {
        return;
    }

    /*
     * A topic that was read stays: messages still queued in librdkafka
     * point to it through their topic handle's opaque.  Only names that
     * never got that far, such as unknown topics, are forgotten.
     */

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        if (t->rkt[i]) {
            return;
        }
    }

    ngx_queue_remove(&t->queue);
    ngx_free(t);
}


/* thread pool tasks */

static ngx_http_pubsub_kafka_task_t *
ngx_http_pubsub_kafka_task(ngx_http_pubsub_kafka_client_t *kc,
    ngx_uint_t kind)
{
    ngx_http_pubsub_kafka_task_t  *t;

    t = ngx_calloc(sizeof(ngx_http_pubsub_kafka_task_t), kc->log);
    if (t == NULL) {
        return NULL;
    }

    t->client = kc;
    t->kind = kind;
    t->errors = kc->errors;

    t->task.ctx = t;
    t->task.handler = ngx_http_pubsub_kafka_task_handler;
    t->task.event.handler = ngx_http_pubsub_kafka_task_done;
    t->task.event.data = t;
    t->task.event.log = kc->log;

    return t;
}


static ngx_int_t
ngx_http_pubsub_kafka_post(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = t->client;

    if (ngx_thread_task_post(kc->cluster->thread_pool, &t->task) != NGX_OK) {
        ngx_free(t);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&kc->tasks, &t->queue);

    return NGX_OK;
}


/* the partition's first and end offsets: does it exist, what is valid */

static void
ngx_http_pubsub_kafka_lookup(ngx_http_pubsub_kafka_partition_t *p,
    ngx_msec_t timeout)
{
    ngx_http_pubsub_kafka_task_t    *t;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = p->topic->client;

    t = ngx_http_pubsub_kafka_task(kc, NGX_HTTP_PUBSUB_KAFKA_LOOKUP);

    if (t) {
        t->partition = p;
        t->rk = kc->handles[0].rk;
        (void) ngx_cpystrn((u_char *) t->topic, p->topic->name.data,
                           sizeof(t->topic));
        t->id = p->id;
        t->timeout = (int) timeout;

        if (ngx_http_pubsub_kafka_post(t) == NGX_OK) {
            p->lookup = 1;
            return;
        }
    }

    ngx_http_pubsub_kafka_fail_all(&p->pending, "internal error");
}


/* runs in a pool thread: librdkafka calls only, no nginx calls */

static void
ngx_http_pubsub_kafka_task_handler(void *data, ngx_log_t *log)
{
    ngx_http_pubsub_kafka_task_t *t = data;

    switch (t->kind) {

    case NGX_HTTP_PUBSUB_KAFKA_LIST:
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                       "pubsub: kafka offsets_for_times(\"%s\", %D, %L)",
                       t->topic, t->id, t->timestamp);

        t->err = ngx_http_pubsub_kafka_offsets(t->rk, t->topic, t->id,
                                               t->timestamp, &t->offset,
                                               t->timeout);
        break;

    case NGX_HTTP_PUBSUB_KAFKA_LOOKUP:
        t->err = ngx_http_pubsub_kafka_offsets(t->rk, t->topic, t->id,
                                               RD_KAFKA_OFFSET_BEGINNING,
                                               &t->low, t->timeout);
        if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            t->err = ngx_http_pubsub_kafka_offsets(t->rk, t->topic, t->id,
                                                   RD_KAFKA_OFFSET_END,
                                                   &t->high, t->timeout);
        }

        break;

    default: /* NGX_HTTP_PUBSUB_KAFKA_STOP */
        (void) rd_kafka_consume_stop(t->rkt, t->id);
        break;
    }
}


/*
 * rd_kafka_offsets_for_times() honours its timeout even while a leader
 * is down, unlike rd_kafka_query_watermark_offsets() in 2.0.2; logical
 * offsets -1 and -2 give the end and the beginning.
 */

static rd_kafka_resp_err_t
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


static void
ngx_http_pubsub_kafka_task_done(ngx_event_t *ev)
{
    ngx_http_pubsub_kafka_task_t *t = ev->data;

    ngx_queue_remove(&t->queue);

    switch (t->kind) {

    case NGX_HTTP_PUBSUB_KAFKA_LIST:
        ngx_http_pubsub_kafka_listed(t);
        break;

    case NGX_HTTP_PUBSUB_KAFKA_LOOKUP:
        ngx_http_pubsub_kafka_looked_up(t);
        break;

    default: /* NGX_HTTP_PUBSUB_KAFKA_STOP */
        ngx_http_pubsub_kafka_stopped(t);
        break;
    }

    ngx_free(t);
}


static void
ngx_http_pubsub_kafka_looked_up(ngx_http_pubsub_kafka_task_t *t)
{
    const char                         *reason;
    ngx_uint_t                          i;
    ngx_queue_t                        *q, *next;
    ngx_http_pubsub_kafka_fetch_t      *f;
    ngx_http_pubsub_kafka_cursor_t     *cur;
    ngx_http_pubsub_kafka_partition_t  *p;

    p = t->partition;
    p->lookup = 0;

    reason = t->err ? rd_kafka_err2name(t->err) : NULL;

    if (t->err) {
        ngx_log_error(NGX_LOG_INFO, t->client->log, 0,
                      "pubsub: kafka look-up of \"%V\" partition %D "
                      "failed: %s", &p->topic->name, p->id,
                      rd_kafka_err2str(t->err));

    } else {
        p->valid = 1;
        p->low = t->low;
        p->high = ngx_max(t->high, p->high);
    }

    /* waiters whose time ran out while the partition was checked */

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_CURSORS; i++) {
        cur = &p->cursors[i];

        if (!cur->running) {
            continue;
        }

        if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            cur->checked = t->errors;
        }

        for (q = ngx_queue_head(&cur->waiters);
             q != ngx_queue_sentinel(&cur->waiters);
             q = next)
        {
            next = ngx_queue_next(q);
            f = ngx_queue_data(q, ngx_http_pubsub_kafka_fetch_t, queue);

            if (!f->expired) {
                continue;
            }

            ngx_http_pubsub_kafka_unqueue(f);

            if (reason) {
                ngx_http_pubsub_kafka_fetch_error(f, reason);

            } else {
                ngx_http_pubsub_kafka_answer(f);
            }
        }
    }

    /* the fetches that waited for this look-up */

    if (reason) {
        ngx_http_pubsub_kafka_fail_all(&p->pending, reason);

    } else {
        for (q = ngx_queue_head(&p->pending);
             q != ngx_queue_sentinel(&p->pending);
             q = ngx_queue_next(q))
        {
            f = ngx_queue_data(q, ngx_http_pubsub_kafka_fetch_t, queue);
            f->looked_up = 1;
        }

        ngx_http_pubsub_kafka_retry(p);
    }

    if (!p->valid && !p->lookup && ngx_queue_empty(&p->pending)) {
        ngx_http_pubsub_kafka_partition_free(p);
    }
}


static void
ngx_http_pubsub_kafka_stopped(ngx_http_pubsub_kafka_task_t *t)
{
    ngx_http_pubsub_kafka_cursor_t     *cur;
    ngx_http_pubsub_kafka_partition_t  *p;

    cur = t->cursor;
    p = t->partition;

    cur->running = 0;
    cur->failed = 0;
    t->client->ncursors--;

    ngx_http_pubsub_kafka_retry(p);

    if (!p->lookup && ngx_queue_empty(&p->pending)
        && !p->cursors[0].running && !p->cursors[1].running)
    {
        ngx_http_pubsub_kafka_partition_free(p);
    }
}


u_char *
ngx_http_pubsub_kafka_status(ngx_http_pubsub_kafka_client_t *kc, u_char *p,
    u_char *last)
{
    if (kc == NULL) {
        return ngx_slprintf(p, last, "null");
    }

    return ngx_slprintf(p, last,
                        "{\"brokers\":\"%V\",\"handles\":%d,"
                        "\"partitions\":%ui,\"cursors\":%ui,"
                        "\"waiters\":%ui,\"fetches\":%ui,"
                        "\"messages\":%ui}",
                        &kc->cluster->brokers,
                        NGX_HTTP_PUBSUB_KAFKA_CURSORS, kc->npartitions,
                        kc->ncursors, kc->nwaiters, kc->nfetches,
                        kc->nmessages);
}
