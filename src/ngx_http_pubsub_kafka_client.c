
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The Kafka client of a worker: its librdkafka handles, created after
 * fork, whose queues wake nginx through pipes in the event loop and are
 * drained there; librdkafka's logs and errors; worker start and exit.
 * Knows nothing of commands; messages go to the partitions' readers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"


#define NGX_HTTP_PUBSUB_KAFKA_BATCH      256
#define NGX_HTTP_PUBSUB_KAFKA_BATCHES    8     /* per turn of the loop */


static ngx_int_t ngx_http_pubsub_kafka_configure(
    ngx_http_pubsub_kafka_cluster_t *cluster, rd_kafka_type_t type,
    rd_kafka_conf_t *rkc, char *errstr, size_t size, ngx_str_t **bad);
static ngx_int_t ngx_http_pubsub_kafka_handle_init(
    ngx_http_pubsub_kafka_client_t *kc, ngx_http_pubsub_kafka_handle_t *h,
    ngx_uint_t index, rd_kafka_type_t type);
static void ngx_http_pubsub_kafka_handle_free(
    ngx_http_pubsub_kafka_handle_t *h);
static ngx_int_t ngx_http_pubsub_kafka_event_init(
    ngx_http_pubsub_kafka_handle_t *h, rd_kafka_queue_t *q,
    ngx_connection_t **pc, ngx_fd_t *fd, ngx_event_handler_pt handler);
static void ngx_http_pubsub_kafka_read_pipe(ngx_connection_t *c);
static void ngx_http_pubsub_kafka_main_handler(ngx_event_t *rev);
static void ngx_http_pubsub_kafka_log(ngx_http_pubsub_kafka_handle_t *h,
    rd_kafka_event_t *ev);
static void ngx_http_pubsub_kafka_stats(ngx_http_pubsub_kafka_handle_t *h,
    const char *json);
static void ngx_http_pubsub_kafka_fetch_handler(ngx_event_t *rev);


/*
 * Defaults for a gateway, of the consumers and of the producer;
 * pubsub_kafka_property overrides any of them.
 */

static ngx_keyval_t  ngx_http_pubsub_kafka_defaults[] = {
    { ngx_string("client.id"), ngx_string("nginx-pubsub-kafka") },
    { ngx_string("fetch.wait.max.ms"), ngx_string("100") },
    { ngx_string("queued.min.messages"), ngx_string("1000000") },
    { ngx_string("queued.max.messages.kbytes"), ngx_string("65536") },
    { ngx_string("auto.offset.reset"), ngx_string("error") },
    { ngx_string("enable.partition.eof"), ngx_string("false") },
    { ngx_string("statistics.interval.ms"), ngx_string("5000") },
    { ngx_null_string, ngx_null_string }
};


static ngx_keyval_t  ngx_http_pubsub_kafka_producer_defaults[] = {
    { ngx_string("client.id"), ngx_string("nginx-pubsub-kafka") },
    { ngx_string("acks"), ngx_string("all") },
    { ngx_string("enable.idempotence"), ngx_string("true") },
    { ngx_string("message.timeout.ms"), ngx_string("30000") },
    { ngx_string("queue.buffering.max.kbytes"), ngx_string("65536") },
    { ngx_string("statistics.interval.ms"), ngx_string("5000") },
    { ngx_null_string, ngx_null_string }
};


/* applies defaults, properties and brokers to a librdkafka configuration */

static ngx_int_t
ngx_http_pubsub_kafka_configure(ngx_http_pubsub_kafka_cluster_t *cluster,
    rd_kafka_type_t type, rd_kafka_conf_t *rkc, char *errstr, size_t size,
    ngx_str_t **bad)
{
    u_char        *brokers;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    kv = (type == RD_KAFKA_PRODUCER) ? ngx_http_pubsub_kafka_producer_defaults
                                     : ngx_http_pubsub_kafka_defaults;

    for ( /* void */ ; kv->key.len; kv++) {
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

    rd_kafka_conf_set_events(rkc, RD_KAFKA_EVENT_LOG|RD_KAFKA_EVENT_ERROR
                                  |RD_KAFKA_EVENT_STATS
                                  |(type == RD_KAFKA_PRODUCER
                                    ? RD_KAFKA_EVENT_DR : 0));

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

    if (ngx_http_pubsub_kafka_configure(cluster, RD_KAFKA_CONSUMER, rkc,
                                        errstr, sizeof(errstr), &bad)
        != NGX_OK)
    {
        rd_kafka_conf_destroy(rkc);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Kafka property \"%V\": %s", bad, errstr);
        return NGX_CONF_ERROR;
    }

    rd_kafka_conf_destroy(rkc);

    if (!cluster->produce) {
        return NGX_CONF_OK;
    }

    rkc = rd_kafka_conf_new();

    if (ngx_http_pubsub_kafka_configure(cluster, RD_KAFKA_PRODUCER, rkc,
                                        errstr, sizeof(errstr), &bad)
        != NGX_OK)
    {
        rd_kafka_conf_destroy(rkc);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Kafka property \"%V\" for the "
                           "producer: %s", bad, errstr);
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

    ngx_http_pubsub_kafka_metrics_start(cycle);

    kc = ngx_pcalloc(cycle->pool, sizeof(ngx_http_pubsub_kafka_client_t));
    if (kc == NULL) {
        return NGX_ERROR;
    }

    kc->cluster = cluster;
    kc->log = cycle->log;

    /* the first refusal of a look-up is logged at once */
    kc->refused_logged = ngx_current_msec - 1000;

    ngx_rbtree_init(&kc->topics, &kc->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&kc->tasks);
    ngx_queue_init(&kc->touched);
    ngx_queue_init(&kc->tickets);
    ngx_queue_init(&kc->batches);
    ngx_rbtree_init(&kc->open_batches, &kc->batch_sentinel,
                    ngx_str_rbtree_insert_value);

    cluster->client = kc;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        kc->handles[i].fetch_fd = NGX_INVALID_FILE;
        kc->handles[i].main_fd = NGX_INVALID_FILE;
    }

    kc->producer.fetch_fd = NGX_INVALID_FILE;
    kc->producer.main_fd = NGX_INVALID_FILE;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        if (ngx_http_pubsub_kafka_handle_init(kc, &kc->handles[i], i,
                                              RD_KAFKA_CONSUMER)
            != NGX_OK)
        {
            ngx_http_pubsub_kafka_exit_worker(kc);
            cluster->client = NULL;
            return NGX_ERROR;
        }
    }

    if (cluster->produce
        && ngx_http_pubsub_kafka_handle_init(kc, &kc->producer,
                                             NGX_HTTP_PUBSUB_KAFKA_READERS,
                                             RD_KAFKA_PRODUCER)
           != NGX_OK)
    {
        ngx_http_pubsub_kafka_exit_worker(kc);
        cluster->client = NULL;
        return NGX_ERROR;
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


/*
 * One librdkafka handle: a consumer's message and main queues, or the
 * producer's main queue (its delivery reports), wake nginx through pipes.
 */

static ngx_int_t
ngx_http_pubsub_kafka_handle_init(ngx_http_pubsub_kafka_client_t *kc,
    ngx_http_pubsub_kafka_handle_t *h, ngx_uint_t index,
    rd_kafka_type_t type)
{
    char              errstr[512];
    ngx_str_t        *bad;
    rd_kafka_conf_t  *rkc;

    h->client = kc;
    h->index = index;

    rkc = rd_kafka_conf_new();

    if (ngx_http_pubsub_kafka_configure(kc->cluster, type, rkc, errstr,
                                        sizeof(errstr), &bad)
        != NGX_OK
        || rd_kafka_conf_set(rkc, "log.queue", "true", errstr,
                             sizeof(errstr))
           != RD_KAFKA_CONF_OK)
    {
        rd_kafka_conf_destroy(rkc);
        ngx_log_error(NGX_LOG_ALERT, kc->log, 0,
                      "pubsub: kafka client for \"%V\" not started, its "
                      "locations answer with errors: configuration: %s",
                      &kc->cluster->brokers, errstr);
        return NGX_ERROR;
    }

    h->rk = rd_kafka_new(type, rkc, errstr, sizeof(errstr));

#if (NGX_SSL)
    /*
     * librdkafka's PEM loading leaves an OpenSSL error queued on this
     * thread, which nginx's next TLS handshake would trip over
     */
    ERR_clear_error();
#endif

    if (h->rk == NULL) {
        rd_kafka_conf_destroy(rkc);
        ngx_log_error(NGX_LOG_ALERT, kc->log, 0,
                      "pubsub: kafka client for \"%V\" not started, its "
                      "locations answer with errors: rd_kafka_new() "
                      "failed: %s", &kc->cluster->brokers, errstr);
        return NGX_ERROR;
    }

    /* logs and errors are served on our thread, from the main queue */

    h->mainq = rd_kafka_queue_get_main(h->rk);
    (void) rd_kafka_set_log_queue(h->rk, NULL);

    if (type == RD_KAFKA_CONSUMER) {
        h->fetchq = rd_kafka_queue_new(h->rk);
    }

    if (ngx_http_pubsub_kafka_event_init(h, h->mainq, &h->main_event,
                                         &h->main_fd,
                                         ngx_http_pubsub_kafka_main_handler)
        != NGX_OK
        || (h->fetchq
            && ngx_http_pubsub_kafka_event_init(h, h->fetchq,
                                        &h->fetch_event, &h->fetch_fd,
                                        ngx_http_pubsub_kafka_fetch_handler)
               != NGX_OK))
    {
        ngx_log_error(NGX_LOG_ALERT, kc->log, 0,
                      "pubsub: kafka client for \"%V\" not started, its "
                      "locations answer with errors",
                      &kc->cluster->brokers);
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


/*
 * Worker exit.  The thread pool has stopped by now (it exits first, and
 * skipped the work still queued).  librdkafka's handles are destroyed
 * here, on the event loop: rd_kafka_destroy() waits for librdkafka's own
 * threads, which takes milliseconds, as its brokers' connections only
 * close (a dead broker is not waited for).
 */

void
ngx_http_pubsub_kafka_exit_worker(ngx_http_pubsub_kafka_client_t *kc)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_kafka_handle_t  *h;

    if (kc->idle.timer_set) {
        ngx_del_timer(&kc->idle);
    }

    /*
     * records handed to the producer are still delivered: a bounded
     * wait, the worker has no connection left by now
     */

    ngx_http_pubsub_kafka_producer_exit(kc);

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        h = &kc->handles[i];

        if (h->fetchq) {
            rd_kafka_queue_io_event_enable(h->fetchq, -1, NULL, 0);
        }

        if (h->mainq) {
            rd_kafka_queue_io_event_enable(h->mainq, -1, NULL, 0);
        }
    }

    ngx_http_pubsub_kafka_tasks_free(kc);
    ngx_http_pubsub_kafka_batches_free(kc);
    ngx_http_pubsub_kafka_partitions_free(kc);

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        ngx_http_pubsub_kafka_handle_free(&kc->handles[i]);
    }

    ngx_http_pubsub_kafka_handle_free(&kc->producer);

    if (kc->headers) {
        ngx_free(kc->headers);
        kc->headers = NULL;
    }
}


static void
ngx_http_pubsub_kafka_handle_free(ngx_http_pubsub_kafka_handle_t *h)
{
    if (h->mainq) {
        rd_kafka_queue_io_event_enable(h->mainq, -1, NULL, 0);
    }

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
    h->fetch_fd = NGX_INVALID_FILE;
    h->main_fd = NGX_INVALID_FILE;
}


static void
ngx_http_pubsub_kafka_read_pipe(ngx_connection_t *c)
{
    u_char  buf[64];

    while (read(c->fd, buf, sizeof(buf)) > 0) {
        /* void */
    }
}


/* librdkafka's logs, errors and statistics, on nginx's thread */

static void
ngx_http_pubsub_kafka_main_handler(ngx_event_t *rev)
{
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
            ngx_http_pubsub_kafka_log(h, ev);
            break;

        case RD_KAFKA_EVENT_ERROR:
            err = rd_kafka_event_error(ev);

            /* a new generation: tailing readers check their partition */
            kc->errors++;

            ngx_log_error(NGX_LOG_ERR, kc->log, 0,
                          "pubsub: kafka %V #%ui error: %s: %s",
                          &kc->cluster->brokers, h->index,
                          rd_kafka_err2name(err),
                          rd_kafka_event_error_string(ev));
            break;

        case RD_KAFKA_EVENT_STATS:
            ngx_http_pubsub_kafka_stats(h, rd_kafka_event_stats(ev));
            break;

        case RD_KAFKA_EVENT_DR:
            ngx_http_pubsub_kafka_delivered(kc, ev);
            break;

        default:
            break;
        }

        rd_kafka_event_destroy(ev);
    }
}


/*
 * librdkafka's syslog levels: errors and worse at "error", warnings and
 * notices at nginx's "warn" and "notice", informational at "info", and
 * its debug output (the "debug" property) through nginx's debug log.
 */

static void
ngx_http_pubsub_kafka_log(ngx_http_pubsub_kafka_handle_t *h,
    rd_kafka_event_t *ev)
{
    int                              level;
    ngx_uint_t                       nlevel;
    const char                      *fac, *str;
    ngx_http_pubsub_kafka_client_t  *kc;

    kc = h->client;

    if (rd_kafka_event_log(ev, &fac, &str, &level) != 0) {
        return;
    }

    if (level >= 7) {
        ngx_log_debug4(NGX_LOG_DEBUG_EVENT, kc->log, 0,
                       "pubsub: kafka %V #%ui: %s: %s",
                       &kc->cluster->brokers, h->index, fac, str);
        return;
    }

    nlevel = (level <= 3) ? NGX_LOG_ERR : (ngx_uint_t) level + 1;

    ngx_log_error(nlevel, kc->log, 0, "pubsub: kafka %V #%ui: %s: %s",
                  &kc->cluster->brokers, h->index, fac, str);
}


/*
 * librdkafka's statistics, for what no API tells: how many of the
 * handle's broker connections are up, and how many not.  Each broker
 * object of the JSON carries "source" and "state"; the internal broker
 * and the logical ones (a group coordinator's) do not count.
 */

static void
ngx_http_pubsub_kafka_stats(ngx_http_pubsub_kafka_handle_t *h,
    const char *json)
{
    u_char      *p, *last, *state;
    ngx_uint_t   up, down;

    static u_char  source[] = "\"source\":\"";
    static u_char  state_key[] = "\"state\":\"";

    if (json == NULL) {
        return;
    }

    p = (u_char *) ngx_strstr(json, "\"brokers\":");
    if (p == NULL) {
        return;
    }

    last = p + ngx_strlen(p);
    up = 0;
    down = 0;

    for ( ;; ) {
        p = ngx_strlcasestrn(p, last, source, sizeof(source) - 2);
        if (p == NULL) {
            break;
        }

        p += sizeof(source) - 1;

        state = ngx_strlcasestrn(p, last, state_key, sizeof(state_key) - 2);
        if (state == NULL) {
            break;
        }

        if (ngx_strncmp(p, "internal", 8) != 0
            && ngx_strncmp(p, "logical", 7) != 0)
        {
            if (ngx_strncmp(state + sizeof(state_key) - 1, "UP\"", 3) == 0) {
                up++;

            } else {
                down++;
            }
        }

        p = state + sizeof(state_key) - 1;
    }

    h->brokers_up = up;
    h->brokers_down = down;
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
    ngx_http_pubsub_kafka_reader_t   *r;
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
            ngx_http_pubsub_kafka_deliver(h, msgs[i]);
        }

        ngx_http_pubsub_kafka_release(kc, msgs, n);

        if (n < NGX_HTTP_PUBSUB_KAFKA_BATCH) {
            break;
        }
    }

    ngx_http_pubsub_kafka_release_post(kc);

    /* every waiter of a reader that moved is served once */

    while (!ngx_queue_empty(&kc->touched)) {
        q = ngx_queue_head(&kc->touched);
        ngx_queue_remove(q);

        r = ngx_queue_data(q, ngx_http_pubsub_kafka_reader_t, touch);
        r->touched = 0;

        ngx_http_pubsub_kafka_notify(r);
    }
}
