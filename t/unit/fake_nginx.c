
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The nginx runtime the WebSocket and protocol layers link against in the
 * connection fuzz target: exactly the functions and globals that
 * ngx_http_pubsub_ws_frame.c, _codec.c, _ws_handshake.c, _websocket.c,
 * _ws_output.c and _protocol.c reference (nm -u), written here from
 * nginx's documented behaviour, not from its code.
 *
 * What it models: pools that free every allocation when destroyed (each
 * one a malloc() of its own, so AddressSanitizer sees every overflow);
 * timers in a list that the loop fires when due; posted events; one client
 * connection whose socket reads what the fuzz input sends, in its chunks,
 * and writes as much as the input lets it (edge-triggered readiness, as
 * with epoll); the request's life as nginx 1.22 runs it: cleanups,
 * ngx_http_finalize_request() for NGX_DONE, NGX_ERROR and special
 * responses, termination through a posted request, the request count,
 * lingering close, closing idle connections when the worker quits; and
 * failures on demand (the n-th allocation, send_header(), TCP_NODELAY,
 * adding events).
 *
 * What it does not: nginx's filters (the response head is written as is),
 * TLS, HTTP/2, subrequests, keepalive, the access and log phases, time
 * in seconds (ngx_time()), more than one connection.
 *
 * This file: the globals, timers, events and the loop; fake_log.c the log
 * and its formats, fake_core.c memory, strings, base64 and SHA-1,
 * fake_socket.c the connection and its socket, fake_http.c the request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <stdio.h>
#include <stdlib.h>

#include "fake_nginx.h"


#define FAKE_HANDLER_CALLS_MAX     200000


fake_runtime_t               fake;
fake_socket_t                fake_sock;
ngx_log_t                    fake_log;


/* nginx's globals */

volatile ngx_msec_t          ngx_current_msec;
ngx_uint_t                   ngx_exiting;
sig_atomic_t                 ngx_terminate;
ngx_rbtree_t                 ngx_event_timer_rbtree;
ngx_queue_t                  ngx_posted_events;

ngx_module_t  ngx_http_core_module = {
    .ctx_index = FAKE_CORE_INDEX,
    .index = 0,
    .name = "ngx_http_core_module",
    .version = nginx_version,
    .signature = NGX_MODULE_SIGNATURE,
    .type = NGX_HTTP_MODULE
};


static void fake_expire_timers(void);


/* ---------------------------------------------------------------------- */
/* the harness */


void
fake_fatal(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    fprintf(stderr, "fake nginx: ");
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\n");
    va_end(args);

    abort();
}


void
fake_init(void)
{
    ngx_memzero(&fake, sizeof(fake_runtime_t));

    fake.verbose = getenv("FUZZ_VERBOSE") != NULL;

    fake_reset();
}


/* the worker as it is before a connection comes */

void
fake_reset(void)
{
    ngx_uint_t  verbose;

    if (ngx_event_timer_rbtree.root != NULL) {
        fake_fatal("timers left from the previous input");
    }

    verbose = fake.verbose;
    ngx_memzero(&fake, sizeof(fake_runtime_t));
    fake.verbose = verbose;

    ngx_memzero(&fake_log, sizeof(ngx_log_t));
    fake_log.log_level = NGX_LOG_DEBUG_ALL;

    ngx_current_msec = 1000000;
    ngx_exiting = 0;
    ngx_terminate = 0;
    ngx_event_timer_rbtree.root = NULL;
    ngx_queue_init(&ngx_posted_events);
}


/* ---------------------------------------------------------------------- */
/* timers: a list through the nodes; parent marks the nodes in it */


void
ngx_rbtree_insert(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    if (node->parent == (ngx_rbtree_node_t *) (void *) tree) {
        fake_fatal("a timer is added twice");
    }

    node->parent = (ngx_rbtree_node_t *) (void *) tree;
    node->left = NULL;
    node->right = tree->root;

    if (tree->root) {
        tree->root->left = node;
    }

    tree->root = node;
}


void
ngx_rbtree_delete(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    if (node->parent != (ngx_rbtree_node_t *) (void *) tree) {
        fake_fatal("a timer that is not set is deleted");
    }

    if (node->left) {
        node->left->right = node->right;

    } else {
        tree->root = node->right;
    }

    if (node->right) {
        node->right->left = node->left;
    }

    node->left = NULL;
    node->right = NULL;
    node->parent = NULL;
}


/* the earliest timer (of the non-cancelable ones only) */

static ngx_event_t *
fake_first_timer(ngx_uint_t noncancelable)
{
    ngx_event_t        *ev, *first;
    ngx_rbtree_node_t  *node;

    first = NULL;

    for (node = ngx_event_timer_rbtree.root; node; node = node->right) {
        ev = (ngx_event_t *) ((char *) node - offsetof(ngx_event_t, timer));

        if (noncancelable && ev->cancelable) {
            continue;
        }

        if (first == NULL
            || (ngx_msec_int_t) (node->key - first->timer.key) <= 0)
        {
            first = ev;
        }
    }

    return first;
}


static void
fake_expire_timers(void)
{
    ngx_event_t  *ev;

    for ( ;; ) {
        ev = fake_first_timer(0);

        if (ev == NULL
            || (ngx_msec_int_t) (ev->timer.key - ngx_current_msec) > 0)
        {
            return;
        }

        ngx_rbtree_delete(&ngx_event_timer_rbtree, &ev->timer);

        ev->timer_set = 0;
        ev->timedout = 1;

        fake_call(ev);
    }
}


ngx_uint_t
fake_timers_left(void)
{
    ngx_uint_t          n;
    ngx_rbtree_node_t  *node;

    n = 0;

    for (node = ngx_event_timer_rbtree.root; node; node = node->right) {
        n++;
    }

    return n;
}


ngx_uint_t
fake_posted_left(void)
{
    return !ngx_queue_empty(&ngx_posted_events);
}


/* ---------------------------------------------------------------------- */
/* events */


void
fake_call(ngx_event_t *ev)
{
    if (++fake.handler_calls > FAKE_HANDLER_CALLS_MAX) {
        fake_fatal("the event loop does not settle (%lu handler calls)",
                   (unsigned long) fake.handler_calls);
    }

    ev->handler(ev);
}


/* epoll, edge-triggered: an event once added stays */

ngx_int_t
ngx_handle_read_event(ngx_event_t *rev, ngx_uint_t flags)
{
    if (fake.fail_read_event) {
        return NGX_ERROR;
    }

    if (!rev->active && !rev->ready) {
        rev->active = 1;
    }

    return NGX_OK;
}


ngx_int_t
ngx_handle_write_event(ngx_event_t *wev, size_t lowat)
{
    if (fake.fail_write_event) {
        return NGX_ERROR;
    }

    if (!wev->active && !wev->ready) {
        wev->active = 1;
    }

    return NGX_OK;
}


ngx_int_t
ngx_tcp_nodelay(ngx_connection_t *c)
{
    if (fake.fail_nodelay) {
        ngx_connection_error(c, NGX_EINVAL, "setsockopt(TCP_NODELAY) failed");
        return NGX_ERROR;
    }

    c->tcp_nodelay = NGX_TCP_NODELAY_SET;

    return NGX_OK;
}


/* errors of the network are info, anything else an alert */

ngx_int_t
ngx_connection_error(ngx_connection_t *c, ngx_err_t err, char *text)
{
    ngx_uint_t  level;

    if (err == 0 || err == NGX_ECONNRESET || err == NGX_EPIPE
        || err == NGX_ENOTCONN || err == NGX_ETIMEDOUT
        || err == NGX_ECONNREFUSED || err == NGX_EINVAL)
    {
        level = NGX_LOG_INFO;

    } else {
        level = NGX_LOG_ALERT;
    }

    ngx_log_error(level, c->log, err, "%s", text);

    return NGX_ERROR;
}


void
fake_run(void)
{
    ngx_queue_t  *q;
    ngx_event_t  *ev;

    fake.handler_calls = 0;

    for ( ;; ) {
        fake_expire_timers();

        if (ngx_queue_empty(&ngx_posted_events)) {
            return;
        }

        while (!ngx_queue_empty(&ngx_posted_events)) {
            q = ngx_queue_head(&ngx_posted_events);
            ev = ngx_queue_data(q, ngx_event_t, queue);

            ngx_delete_posted_event(ev);

            fake_call(ev);
        }
    }
}


void
fake_advance(ngx_msec_t ms)
{
    ngx_current_msec += ms;

    fake_run();
}


/* ngx_close_idle_connections() */

void
fake_close_idle(void)
{
    ngx_connection_t  *c;

    c = fake_conn;

    if (c && c->fd != (ngx_socket_t) -1 && c->idle) {
        c->close = 1;
        fake_call(c->read);
    }
}


/*
 * The worker quits: idle connections close, then it waits for the timers
 * that cannot be cancelled; a connection still open after that is the
 * "open socket left" alert.
 */

void
fake_worker_exit(void)
{
    ngx_uint_t    i;
    ngx_event_t  *ev;

    ngx_exiting = 1;

    fake.handler_calls = 0;
    fake_close_idle();
    fake_run();

    for (i = 0; i < 1000; i++) {
        ev = fake_first_timer(1);

        if (ev == NULL) {
            break;
        }

        if ((ngx_msec_int_t) (ev->timer.key - ngx_current_msec) > 0) {
            ngx_current_msec = ev->timer.key;
        }

        fake_run();
    }

    if (fake_conn && fake_conn->fd != (ngx_socket_t) -1) {
        fake_fatal("open socket left in connection when the worker quits "
                   "(%lu timers, posted events: %lu)",
                   (unsigned long) fake_timers_left(),
                   (unsigned long) fake_posted_left());
    }
}
