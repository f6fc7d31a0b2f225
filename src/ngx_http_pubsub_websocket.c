
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * A WebSocket connection (RFC 6455) after the 101: reading and message
 * reassembly, ping/pong, the close handshake, idle and expiry timers.
 * Messages go to its owner as bytes; it knows nothing of protobuf or Kafka.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_websocket.h"
#include "ngx_http_pubsub_ws_metrics.h"


/* input is parsed as it arrives, so one buffer serves every connection */
#define NGX_HTTP_PUBSUB_WS_READ_SIZE     16384

/* reads of one connection in a row before others get their turn */
#define NGX_HTTP_PUBSUB_WS_READS         4

/*
 * a timer of nginx is at most this long (epoll_wait() takes an int):
 * an expiry further off takes several
 */
#define NGX_HTTP_PUBSUB_WS_TIMER_MAX     86400000


static void ngx_http_pubsub_ws_read_event(ngx_event_t *rev);
static void ngx_http_pubsub_ws_shutdown(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_read_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pubsub_ws_process(ngx_http_pubsub_ws_t *ws,
    u_char *pos, u_char *last);
static ngx_int_t ngx_http_pubsub_ws_data(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_control(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_write_handler(ngx_http_request_t *r);
static void ngx_http_pubsub_ws_ping_handler(ngx_event_t *ev);
static void ngx_http_pubsub_ws_idle_handler(ngx_event_t *ev);
static void ngx_http_pubsub_ws_expire_handler(ngx_event_t *ev);
static void ngx_http_pubsub_ws_finalize(ngx_http_pubsub_ws_t *ws,
    ngx_int_t graceful);
static void ngx_http_pubsub_ws_cleanup(void *data);


static u_char  ngx_http_pubsub_ws_buffer[NGX_HTTP_PUBSUB_WS_READ_SIZE];

/* upgraded connections of this worker */
static ngx_uint_t  ngx_http_pubsub_ws_nopen;


ngx_http_pubsub_ws_t *
ngx_http_pubsub_ws_create(ngx_http_request_t *r)
{
    ngx_connection_t           *c;
    ngx_http_cleanup_t         *cln;
    ngx_http_pubsub_ws_t       *ws;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_pubsub_ws_conf_t  *conf;

    c = r->connection;

    ws = ngx_pcalloc(r->pool, sizeof(ngx_http_pubsub_ws_t));
    if (ws == NULL) {
        return NULL;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_pubsub_ws_cleanup;
    cln->data = ws;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    conf = ngx_http_get_module_loc_conf(r, ngx_http_pubsub_ws_module);

    ws->request = r;
    ws->connection = c;
    ws->conf = conf;
    ws->last_out = &ws->out;
    ws->send_timeout = clcf->send_timeout;
    ws->send_lowat = clcf->send_lowat;

    ngx_http_pubsub_ws_parser_init(&ws->parser, conf->max_message);

    ws->ping.handler = ngx_http_pubsub_ws_ping_handler;
    ws->ping.data = ws;
    ws->ping.log = c->log;
    ws->ping.cancelable = 1;

    ws->idle.handler = ngx_http_pubsub_ws_idle_handler;
    ws->idle.data = ws;
    ws->idle.log = c->log;
    ws->idle.cancelable = 1;

    ws->expire.handler = ngx_http_pubsub_ws_expire_handler;
    ws->expire.data = ws;
    ws->expire.log = c->log;
    ws->expire.cancelable = 1;

    ngx_http_set_ctx(r, ws, ngx_http_pubsub_ws_module);

    return ws;
}


/* how many WebSockets this worker serves */

ngx_uint_t
ngx_http_pubsub_ws_open(void)
{
    return ngx_http_pubsub_ws_nopen;
}


/* the WebSocket of an upgraded request, NULL for any other request */

ngx_http_pubsub_ws_t *
ngx_http_pubsub_ws_get(ngx_http_request_t *r)
{
    return ngx_http_get_module_ctx(r->main, ngx_http_pubsub_ws_module);
}


/*
 * Answers 101 and takes the connection over.  The caller holds the request
 * (r->main->count++) and returns NGX_DONE; reading starts from the event
 * loop, so nothing here can finalize the request under the caller.
 *
 * nginx's request handler stays in charge of the connection's events, as
 * with ngx_http_upstream_upgrade(): it calls our read and write handlers
 * and runs posted requests.  Only a close that nginx asks for (quit and
 * reload close idle connections) is taken first, so the client hears 1001
 * and the owner gets its last words in.
 */

void
ngx_http_pubsub_ws_start(ngx_http_pubsub_ws_t *ws)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = ws->request;
    c = ws->connection;

    rc = ngx_http_pubsub_ws_accept(r);

    /*
     * the request's cleanup, ngx_http_pubsub_ws_cleanup(), deletes the
     * timers set already (pubsub_expires) and closes the session
     */

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    c->log->action = "serving pubsub websocket";

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* small frames pushed to the client must not wait for Nagle */

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

#if (NGX_HTTP_SSL)

    /*
     * frames go out as they are queued: nginx's TLS buffer would keep
     * small ones back, as send_chain() is never given a flush buffer
     */

    if (c->ssl) {
        c->ssl->buffer = 0;
    }

#endif

    /* ngx_close_idle_connections() closes us with 1001 on quit and reload */
    c->idle = 1;

    ws->started = 1;
    ngx_http_pubsub_ws_nopen++;
    ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_CONNECTIONS, 1);
    ngx_http_pubsub_ws_metric_outcome(101);

    ws->request_handler = c->read->handler;
    c->read->handler = ngx_http_pubsub_ws_read_event;

    r->read_event_handler = ngx_http_pubsub_ws_read_handler;
    r->write_event_handler = ngx_http_pubsub_ws_write_handler;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (ws->conf->ping_interval) {
        ngx_add_timer(&ws->ping, ws->conf->ping_interval);
    }

    if (ws->conf->idle_timeout) {
        ws->last_read = ngx_current_msec;
        ngx_add_timer(&ws->idle, ws->conf->idle_timeout);
    }

    ngx_post_event(c->read, &ngx_posted_events);
}


/* the connection's read event: nginx's handler, unless nginx closes us */

static void
ngx_http_pubsub_ws_read_event(ngx_event_t *rev)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_pubsub_ws_t  *ws;

    c = rev->data;
    r = c->data;
    ws = ngx_http_get_module_ctx(r, ngx_http_pubsub_ws_module);

    if (!c->close || ws->finalized) {
        ws->request_handler(rev);
        return;
    }

    /* ngx_close_idle_connections() */

    ngx_http_pubsub_ws_shutdown(ws);

    ngx_http_run_posted_requests(c);
}


/* the worker is exiting: 1001, what can be written now, and the end */

static void
ngx_http_pubsub_ws_shutdown(ngx_http_pubsub_ws_t *ws)
{
    ngx_http_pubsub_ws_close(ws, NGX_HTTP_PUBSUB_WS_GOING_AWAY,
                             "server shutting down");
    (void) ngx_http_pubsub_ws_flush(ws);
    ngx_http_pubsub_ws_finalize(ws, 0);
}


static void
ngx_http_pubsub_ws_read_handler(ngx_http_request_t *r)
{
    ssize_t                n;
    ngx_uint_t             reads;
    ngx_buf_t             *b;
    ngx_event_t           *rev;
    ngx_connection_t      *c;
    ngx_http_pubsub_ws_t  *ws;

    c = r->connection;
    rev = c->read;
    ws = ngx_http_get_module_ctx(r, ngx_http_pubsub_ws_module);

    if (ws->finalized) {
        return;
    }

    if (ngx_exiting) {
        /* upgraded after the worker began exiting and closed idle ones */
        ngx_http_pubsub_ws_shutdown(ws);
        return;
    }

    ws->in_read = 1;

    /* bytes the client sent right behind the handshake come first */

    b = r->header_in;

    if (b->pos < b->last) {
        n = b->last - b->pos;
        b->pos = b->last;

        if (ngx_http_pubsub_ws_process(ws, b->last - n, b->last) != NGX_OK) {
            goto done;
        }
    }

    for (reads = 0; !ws->closing && !ws->finalized; reads++) {

        if (reads == NGX_HTTP_PUBSUB_WS_READS) {
            /* a fast client waits its turn behind the others */
            ngx_post_event(rev, &ngx_posted_events);
            break;
        }

        if (ws->out_bytes > ws->conf->max_output / 2) {
            /* the client does not read: stop reading until it does */
            ws->read_blocked = 1;
            ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_PAUSE_READING, 1);
            break;
        }

        n = c->recv(c, ngx_http_pubsub_ws_buffer,
                    NGX_HTTP_PUBSUB_WS_READ_SIZE);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_pubsub_ws_fail(ws);
            }

            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "pubsub: client closed connection without "
                          "a close frame");
            ngx_http_pubsub_ws_fail(ws);
            break;
        }

        ws->last_read = ngx_current_msec;

        if (ngx_http_pubsub_ws_process(ws, ngx_http_pubsub_ws_buffer,
                                       ngx_http_pubsub_ws_buffer + n)
            != NGX_OK)
        {
            break;
        }
    }

done:

    ws->in_read = 0;

    if (ws->failed) {
        ngx_http_pubsub_ws_finalize(ws, 0);
    }
}


static ngx_int_t
ngx_http_pubsub_ws_process(ngx_http_pubsub_ws_t *ws, u_char *pos,
    u_char *last)
{
    ngx_int_t                     rc;
    ngx_http_pubsub_ws_parser_t  *p;

    p = &ws->parser;

    ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_BYTES_IN, last - pos);

    for ( ;; ) {

        if (ws->closing || ws->failed) {
            /* after a close frame nothing the client sends matters */
            return NGX_DONE;
        }

        rc = ngx_http_pubsub_ws_parse(p, &pos, last);

        if (rc == NGX_AGAIN) {
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "pubsub: client sent invalid websocket frame: %s",
                          p->error);

            ngx_http_pubsub_ws_close_frame(ws, p->status, p->error);
            return NGX_DONE;
        }

        if (p->frame_done) {
            ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_FRAMES_IN, 1);
        }

        if (p->opcode & 0x8) {
            if (p->len) {
                ngx_memcpy(ws->control + ws->control_len, p->data, p->len);
                ws->control_len += p->len;
            }

            if (p->frame_done) {
                ngx_http_pubsub_ws_control(ws);
                ws->control_len = 0;
            }

            continue;
        }

        if (ngx_http_pubsub_ws_data(ws) != NGX_OK) {
            ngx_http_pubsub_ws_fail(ws);
            return NGX_ERROR;
        }
    }
}


/* a chunk of a data message: reassemble, hand complete ones over */

static ngx_int_t
ngx_http_pubsub_ws_data(ngx_http_pubsub_ws_t *ws)
{
    u_char                       *m;
    size_t                        need, size;
    ngx_http_pubsub_ws_parser_t  *p;

    p = &ws->parser;

    if (p->message_done) {
        ws->stats.messages_in++;
        ws->stats.bytes_in += p->message_len;
        ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_MESSAGES_IN, 1);
    }

    if (p->message_opcode == NGX_HTTP_PUBSUB_WS_TEXT) {

        /* the protocol is binary: text is skipped, as APISIX does */

        if (p->message_done) {
            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "pubsub: ignored a text message of %uL bytes, "
                          "only binary messages carry commands",
                          p->message_len);
        }

        return NGX_OK;
    }

    if (p->message_done && ws->message_len == 0) {
        /* the whole message is in the read buffer: no copy */
        ws->message_handler(ws, p->data, p->len);
        return NGX_OK;
    }

    need = ws->message_len + p->len + (size_t) p->left;

    if (need > ws->message_size) {
        size = ngx_max(need, 2 * ws->message_size);
        size = ngx_min(size, ws->conf->max_message);
        size = ngx_max(size, need);

        m = ngx_alloc(size, ws->connection->log);
        if (m == NULL) {
            return NGX_ERROR;
        }

        if (ws->message) {
            ngx_memcpy(m, ws->message, ws->message_len);
            ngx_free(ws->message);
        }

        ws->message = m;
        ws->message_size = size;
    }

    if (p->len) {
        ngx_memcpy(ws->message + ws->message_len, p->data, p->len);
        ws->message_len += p->len;
    }

    if (!p->message_done) {
        return NGX_OK;
    }

    ws->message_handler(ws, ws->message, ws->message_len);

    /* idle connections keep no message buffer */

    ngx_free(ws->message);
    ws->message = NULL;
    ws->message_len = 0;
    ws->message_size = 0;

    return NGX_OK;
}


static void
ngx_http_pubsub_ws_control(ngx_http_pubsub_ws_t *ws)
{
    ngx_uint_t  status;

    switch (ws->parser.opcode) {

    case NGX_HTTP_PUBSUB_WS_PING:
        ngx_http_pubsub_ws_send_control(ws, NGX_HTTP_PUBSUB_WS_PONG,
                                        ws->control, ws->control_len);
        return;

    case NGX_HTTP_PUBSUB_WS_PONG:
        return;

    default: /* NGX_HTTP_PUBSUB_WS_CLOSE */
        break;
    }

    if (ws->control_len == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "pubsub: client sent close frame");

        ngx_http_pubsub_ws_metric_close(NGX_HTTP_PUBSUB_WS_NO_STATUS, 1);

        ws->stats.close_code = NGX_HTTP_PUBSUB_WS_NO_STATUS;
        ws->stats.close_by_client = 1;

        ngx_http_pubsub_ws_close_frame(ws, 0, NULL);
        return;
    }

    status = (ws->control_len > 1) ? (ws->control[0] << 8) | ws->control[1]
                                   : 0;

    /* a code not counted apart, or none of 2 bytes, counts as "other" */
    ngx_http_pubsub_ws_metric_close(status, 1);

    if (ws->control_len == 1
        || !ngx_http_pubsub_ws_close_status_valid(status))
    {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "pubsub: client sent invalid close frame");

        ngx_http_pubsub_ws_close_frame(ws, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                       "invalid close frame");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "pubsub: client sent close frame %ui", status);

    ws->stats.close_code = status;
    ws->stats.close_by_client = 1;

    ngx_http_pubsub_ws_close_frame(ws, status, NULL);
}


static void
ngx_http_pubsub_ws_write_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_event_t           *wev;
    ngx_connection_t      *c;
    ngx_http_pubsub_ws_t  *ws;

    c = r->connection;
    wev = c->write;
    ws = ngx_http_get_module_ctx(r, ngx_http_pubsub_ws_module);

    if (ws->finalized) {
        return;
    }

    if (wev->timedout) {
        c->timedout = 1;
        ngx_connection_error(c, NGX_ETIMEDOUT,
                             "pubsub: client timed out reading");
        ngx_http_pubsub_ws_finalize(ws, 0);
        return;
    }

    if (ws->failed) {
        ngx_http_pubsub_ws_finalize(ws, 0);
        return;
    }

    rc = ngx_http_pubsub_ws_flush(ws);

    if (rc == NGX_ERROR) {
        ngx_http_pubsub_ws_finalize(ws, 0);
        return;
    }

    if (rc == NGX_OK && ws->closing) {
        ngx_http_pubsub_ws_finalize(ws, 1);
        return;
    }

    if (ws->want_drain && !ws->closing
        && ws->out_bytes <= ws->conf->max_output / 2)
    {
        /* writers that found no room may go on */
        ws->want_drain = 0;

        if (ws->drain_handler) {
            ws->drain_handler(ws);
        }
    }
}


static void
ngx_http_pubsub_ws_ping_handler(ngx_event_t *ev)
{
    ngx_http_pubsub_ws_t  *ws;

    ws = ev->data;

    if (ws->closing || ws->failed) {
        return;
    }

    ngx_http_pubsub_ws_send_control(ws, NGX_HTTP_PUBSUB_WS_PING, NULL, 0);

    ngx_add_timer(&ws->ping, ws->conf->ping_interval);
}


static void
ngx_http_pubsub_ws_idle_handler(ngx_event_t *ev)
{
    ngx_msec_t             idle;
    ngx_http_pubsub_ws_t  *ws;

    ws = ev->data;

    /* reads only note the time; the timer catches up here */

    idle = ngx_current_msec - ws->last_read;

    if (idle < ws->conf->idle_timeout) {
        ngx_add_timer(&ws->idle, ws->conf->idle_timeout - idle);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "pubsub: client sent nothing for %M ms, closing",
                  ws->conf->idle_timeout);

    ngx_http_pubsub_ws_close(ws, NGX_HTTP_PUBSUB_WS_NORMAL, "idle timeout");
}


/*
 * The connection may live "after" ms more (0: it is over already); then it
 * closes with 1008, its owner's last words first.
 */

void
ngx_http_pubsub_ws_expire_at(ngx_http_pubsub_ws_t *ws, ngx_msec_t after)
{
    if (ws->expire.timer_set) {
        ngx_del_timer(&ws->expire);
    }

    ws->expire_left = 0;

    if (after > NGX_HTTP_PUBSUB_WS_TIMER_MAX) {
        ws->expire_left = after - NGX_HTTP_PUBSUB_WS_TIMER_MAX;
        after = NGX_HTTP_PUBSUB_WS_TIMER_MAX;
    }

    ngx_add_timer(&ws->expire, after);
}


static void
ngx_http_pubsub_ws_expire_handler(ngx_event_t *ev)
{
    ngx_http_pubsub_ws_t  *ws;

    ws = ev->data;

    if (ws->expire_left) {
        ngx_http_pubsub_ws_expire_at(ws, ws->expire_left);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "pubsub: connection expired (pubsub_expires), closing");

    ngx_http_pubsub_ws_close(ws, NGX_HTTP_PUBSUB_WS_POLICY, "expired");
}


/*
 * Ends the request from one of our handlers; nginx's request handler runs
 * posted requests after us (nginx terminates through one).
 */

static void
ngx_http_pubsub_ws_finalize(ngx_http_pubsub_ws_t *ws, ngx_int_t graceful)
{
    ngx_http_request_t  *r;

    r = ws->request;

    ngx_http_pubsub_ws_cleanup(ws);

    if (graceful && !ngx_exiting && !ngx_terminate) {
        /* our FIN goes out first; nginx reads until the client's */
        r->lingering_close = 1;
        ngx_http_finalize_request(r, NGX_DONE);

    } else {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/* frees what the connection owns; runs once on every path */

static void
ngx_http_pubsub_ws_cleanup(void *data)
{
    ngx_http_pubsub_ws_t *ws = data;

    if (ws->finalized) {
        return;
    }

    ws->finalized = 1;

    if (ws->started) {
        ngx_http_pubsub_ws_nopen--;
        ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_CONNECTIONS, -1);
    }

    if (ws->ping.timer_set) {
        ngx_del_timer(&ws->ping);
    }

    if (ws->idle.timer_set) {
        ngx_del_timer(&ws->idle);
    }

    if (ws->expire.timer_set) {
        ngx_del_timer(&ws->expire);
    }

    if (ws->close_handler) {
        ws->close_handler(ws);
    }

    ngx_http_pubsub_ws_free_chain(ws->out);

    ws->out = NULL;
    ws->last_out = &ws->out;
    ws->out_bytes = 0;

    if (ws->message) {
        ngx_free(ws->message);
        ws->message = NULL;
    }
}
