
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include "ngx_http_pubsub_websocket.h"


#define NGX_HTTP_PUBSUB_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* input is parsed as it arrives, so one buffer serves every connection */
#define NGX_HTTP_PUBSUB_WS_READ_SIZE     16384

/* reads of one connection in a row before others get their turn */
#define NGX_HTTP_PUBSUB_WS_READS         4


static ngx_table_elt_t *ngx_http_pubsub_ws_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t n);
static ngx_int_t ngx_http_pubsub_ws_has_token(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *token);
static ngx_int_t ngx_http_pubsub_ws_accept(ngx_http_request_t *r,
    ngx_str_t *key);
static void ngx_http_pubsub_ws_read_event(ngx_event_t *rev);
static void ngx_http_pubsub_ws_shutdown(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_read_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pubsub_ws_process(ngx_http_pubsub_ws_t *ws,
    u_char *pos, u_char *last);
static ngx_int_t ngx_http_pubsub_ws_data(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_control(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_write_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pubsub_ws_flush(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_queue(ngx_http_pubsub_ws_t *ws,
    ngx_chain_t *cl);
static void ngx_http_pubsub_ws_send_control(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_http_pubsub_ws_close_frame(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t status, const char *reason);
static void ngx_http_pubsub_ws_fail(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_ws_ping_handler(ngx_event_t *ev);
static void ngx_http_pubsub_ws_idle_handler(ngx_event_t *ev);
static void ngx_http_pubsub_ws_expire_handler(ngx_event_t *ev);
static void ngx_http_pubsub_ws_finalize(ngx_http_pubsub_ws_t *ws,
    ngx_int_t graceful);
static void ngx_http_pubsub_ws_cleanup(void *data);
static void *ngx_http_pubsub_ws_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pubsub_ws_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static u_char  ngx_http_pubsub_ws_buffer[NGX_HTTP_PUBSUB_WS_READ_SIZE];

/* upgraded connections of this worker */
static ngx_uint_t  ngx_http_pubsub_ws_nopen;


static ngx_command_t  ngx_http_pubsub_ws_commands[] = {

    { ngx_string("pubsub_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, max_message),
      NULL },

    { ngx_string("pubsub_output_queue_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, max_output),
      NULL },

    { ngx_string("pubsub_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, ping_interval),
      NULL },

    { ngx_string("pubsub_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, idle_timeout),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pubsub_ws_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pubsub_ws_create_loc_conf,    /* create location configuration */
    ngx_http_pubsub_ws_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_pubsub_ws_module = {
    NGX_MODULE_V1,
    &ngx_http_pubsub_ws_module_ctx,        /* module context */
    ngx_http_pubsub_ws_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * Checks an upgrade request; returns NGX_OK or the HTTP status to answer
 * with, after logging which header is at fault.  For
 * NGX_HTTP_UPGRADE_REQUIRED the caller answers with
 * ngx_http_pubsub_ws_upgrade_required().
 */

ngx_int_t
ngx_http_pubsub_ws_handshake(ngx_http_request_t *r)
{
    u_char            decoded[32];
    ngx_str_t         name, token, dst;
    ngx_table_elt_t  *h;

    static ngx_str_t  upgrade = ngx_string("upgrade");
    static ngx_str_t  connection = ngx_string("connection");
    static ngx_str_t  key = ngx_string("sec-websocket-key");
    static ngx_str_t  version = ngx_string("sec-websocket-version");

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pubsub: websocket in subrequest");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->http_version > NGX_HTTP_VERSION_11) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket over HTTP/2 is not supported");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->method != NGX_HTTP_GET) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket handshake method is not GET");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->http_version < NGX_HTTP_VERSION_11) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket handshake needs HTTP/1.1");
        return NGX_HTTP_BAD_REQUEST;
    }

    h = r->headers_in.upgrade;

    if (h == NULL
        || h->value.len != sizeof("websocket") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "websocket",
                           sizeof("websocket") - 1)
           != 0)
    {
        if (h == NULL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "pubsub: bad \"upgrade\" request header: none");

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "pubsub: bad \"upgrade\" request header: \"%V\"",
                          &h->value);
        }

        return NGX_HTTP_BAD_REQUEST;
    }

    token = upgrade;

    if (ngx_http_pubsub_ws_has_token(r, &connection, &token) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"connection\" request header: "
                      "no \"upgrade\" token");
        return NGX_HTTP_BAD_REQUEST;
    }

    name = version;
    h = ngx_http_pubsub_ws_header(r, &name, 0);

    if (h == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-version\" request "
                      "header: none");
        return NGX_HTTP_UPGRADE_REQUIRED;
    }

    if (h->value.len != 2 || ngx_strncmp(h->value.data, "13", 2) != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-version\" request "
                      "header: \"%V\"", &h->value);
        return NGX_HTTP_UPGRADE_REQUIRED;
    }

    name = key;
    h = ngx_http_pubsub_ws_header(r, &name, 0);

    if (h == NULL
        || ngx_http_pubsub_ws_header(r, &name, 1) != NULL
        || h->value.len != 24)
    {
        goto bad_key;
    }

    dst.data = decoded;

    if (ngx_decode_base64(&dst, &h->value) != NGX_OK || dst.len != 16) {
        goto bad_key;
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket handshake with a request body");
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;

bad_key:

    if (h == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-key\" request header: "
                      "none");

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-key\" request header: "
                      "\"%V\"", &h->value);
    }

    return NGX_HTTP_BAD_REQUEST;
}


/* the n-th request header with this lowercase name */

static ngx_table_elt_t *
ngx_http_pubsub_ws_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t n)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0
            && n-- == 0)
        {
            return &h[i];
        }
    }
}


/* a comma-separated token in any header of that name */

static ngx_int_t
ngx_http_pubsub_ws_has_token(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *token)
{
    u_char           *p, *last, *start;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    for (n = 0; /* void */; n++) {

        h = ngx_http_pubsub_ws_header(r, name, n);

        if (h == NULL) {
            return NGX_DECLINED;
        }

        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {

            while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                p++;
            }

            start = p;

            while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
                p++;
            }

            if ((size_t) (p - start) == token->len
                && ngx_strncasecmp(start, token->data, token->len) == 0)
            {
                return NGX_OK;
            }
        }
    }
}


/* 426, naming the version we speak (RFC 6455 4.4) */

ngx_int_t
ngx_http_pubsub_ws_upgrade_required(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Sec-WebSocket-Version");
    ngx_str_set(&h->value, "13");

    r->headers_out.status = NGX_HTTP_UPGRADE_REQUIRED;
    ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_send_special(r, NGX_HTTP_LAST);
}


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
    ngx_str_t                  key, name;
    ngx_connection_t          *c;
    ngx_table_elt_t           *h;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_str_t  sec_key = ngx_string("sec-websocket-key");

    r = ws->request;
    c = ws->connection;

    name = sec_key;
    h = ngx_http_pubsub_ws_header(r, &name, 0);
    key = h->value;

    rc = ngx_http_pubsub_ws_accept(r, &key);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ws->finalized = 1;
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    c->log->action = "serving pubsub websocket";

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* small frames pushed to the client must not wait for Nagle */

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        ws->finalized = 1;
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


static ngx_int_t
ngx_http_pubsub_ws_accept(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char            digest[20];
    ngx_str_t         src;
    ngx_sha1_t        sha1;
    ngx_table_elt_t  *h;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_HTTP_PUBSUB_WS_GUID,
                    sizeof(NGX_HTTP_PUBSUB_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Sec-WebSocket-Accept");

    h->value.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(20));
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    src.data = digest;
    src.len = sizeof(digest);
    ngx_encode_base64(&h->value, &src);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Upgrade");
    ngx_str_set(&h->value, "websocket");

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
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

        ws->stats.close_code = NGX_HTTP_PUBSUB_WS_NO_STATUS;
        ws->stats.close_by_client = 1;

        ngx_http_pubsub_ws_close_frame(ws, 0, NULL);
        return;
    }

    status = (ws->control[0] << 8) | ws->control[1];

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


/*
 * A frame of len payload bytes, header written: the caller appends the
 * payload at cl->buf->last.  Frames live on the heap until written.
 */

ngx_chain_t *
ngx_http_pubsub_ws_alloc_frame(ngx_http_pubsub_ws_t *ws, ngx_uint_t opcode,
    size_t len)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = sizeof(ngx_chain_t) + sizeof(ngx_buf_t)
           + ngx_http_pubsub_ws_header_size(len) + len;

    cl = ngx_alloc(size, ws->connection->log);
    if (cl == NULL) {
        return NULL;
    }

    b = (ngx_buf_t *) (cl + 1);
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = (u_char *) (b + 1);
    b->end = (u_char *) cl + size;
    b->pos = b->start;
    b->last = ngx_http_pubsub_ws_write_header(b->pos, opcode, len);
    b->temporary = 1;

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


/*
 * Queues a frame from ngx_http_pubsub_ws_alloc_frame(); never blocks, never
 * finalizes: failures close the connection later from the event loop, so
 * callers may send while walking their own lists.  Last words (frames sent
 * from the closing handler) go out whatever the queue holds.
 */

ngx_int_t
ngx_http_pubsub_ws_send(ngx_http_pubsub_ws_t *ws, ngx_chain_t *cl)
{
    size_t  size;

    if (ws->closing || ws->failed || ws->finalized) {
        ngx_free(cl);
        return NGX_DECLINED;
    }

    size = cl->buf->last - cl->buf->pos;

    if (ws->out && ws->out_bytes + size > ws->conf->max_output
        && !ws->last_words)
    {
        /* what the socket takes now does not count against the limit */

        if (ngx_http_pubsub_ws_flush(ws) == NGX_ERROR) {
            ngx_free(cl);
            ngx_http_pubsub_ws_fail(ws);
            return NGX_ERROR;
        }

        if (ws->out && ws->out_bytes + size > ws->conf->max_output) {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "pubsub: client does not read, output queue "
                          "over %uz bytes, closing connection",
                          ws->conf->max_output);

            ngx_free(cl);
            ngx_http_pubsub_ws_fail(ws);
            return NGX_ERROR;
        }
    }

    ws->stats.messages_out++;
    ws->stats.bytes_out += size;

    ngx_http_pubsub_ws_queue(ws, cl);

    return NGX_OK;
}


/*
 * How many bytes a message may take now without the output queue going
 * over pubsub_output_queue_size; any number when nothing waits, as one
 * message is always sent.
 */

size_t
ngx_http_pubsub_ws_room(ngx_http_pubsub_ws_t *ws)
{
    if (ws->out == NULL) {
        return NGX_MAX_SIZE_T_VALUE;
    }

    return (ws->out_bytes < ws->conf->max_output)
           ? ws->conf->max_output - ws->out_bytes : 0;
}


/* the drain handler is called once the queue is down to half its size */

void
ngx_http_pubsub_ws_want_drain(ngx_http_pubsub_ws_t *ws)
{
    ws->want_drain = 1;
}


static void
ngx_http_pubsub_ws_queue(ngx_http_pubsub_ws_t *ws, ngx_chain_t *cl)
{
    ngx_event_t  *wev;

    *ws->last_out = cl;
    ws->last_out = &cl->next;
    ws->out_bytes += cl->buf->last - cl->buf->pos;

    /* frames queued in one pass of the event loop go out in one write */

    wev = ws->connection->write;

    if (!wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


static void
ngx_http_pubsub_ws_send_control(ngx_http_pubsub_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    ngx_chain_t  *cl;

    cl = ngx_http_pubsub_ws_alloc_frame(ws, opcode, len);
    if (cl == NULL) {
        ngx_http_pubsub_ws_fail(ws);
        return;
    }

    if (len) {
        cl->buf->last = ngx_cpymem(cl->buf->last, data, len);
    }

    (void) ngx_http_pubsub_ws_send(ws, cl);
}


/*
 * The server closes the connection for a reason it can announce: the
 * owner sends its last words (whatever the output queue holds), then the
 * close frame goes out.
 */

void
ngx_http_pubsub_ws_close(ngx_http_pubsub_ws_t *ws, ngx_uint_t status,
    const char *reason)
{
    if (ws->closing || ws->failed || ws->finalized) {
        return;
    }

    if (ws->closing_handler) {
        ws->last_words = 1;
        ws->closing_handler(ws, status);
        ws->last_words = 0;
    }

    ngx_http_pubsub_ws_close_frame(ws, status, reason);
}


/*
 * Queues a close frame (status 0: none) whatever the output queue holds;
 * the connection closes once it is written.
 */

static void
ngx_http_pubsub_ws_close_frame(ngx_http_pubsub_ws_t *ws, ngx_uint_t status,
    const char *reason)
{
    size_t        len;
    ngx_chain_t  *cl;

    if (ws->closing || ws->failed || ws->finalized) {
        return;
    }

    if (ws->stats.close_code == 0) {
        ws->stats.close_code = status ? status : NGX_HTTP_PUBSUB_WS_NO_STATUS;
    }

    len = 0;

    if (status) {
        len = 2 + (reason ? ngx_min(ngx_strlen(reason), 123) : 0);
    }

    cl = ngx_http_pubsub_ws_alloc_frame(ws, NGX_HTTP_PUBSUB_WS_CLOSE, len);
    if (cl == NULL) {
        ngx_http_pubsub_ws_fail(ws);
        return;
    }

    if (status) {
        *cl->buf->last++ = (u_char) (status >> 8);
        *cl->buf->last++ = (u_char) status;

        if (len > 2) {
            cl->buf->last = ngx_cpymem(cl->buf->last, reason, len - 2);
        }
    }

    ngx_http_pubsub_ws_queue(ws, cl);

    ws->closing = 1;
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


static ngx_int_t
ngx_http_pubsub_ws_flush(ngx_http_pubsub_ws_t *ws)
{
    off_t                sent;
    ngx_chain_t         *cl, *ln;
    ngx_event_t         *wev;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ws->request;
    c = ws->connection;
    wev = c->write;

    /* the 101 response itself may still sit in nginx's write filter */

    if (c->buffered & NGX_HTTP_WRITE_BUFFERED) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (c->buffered & NGX_HTTP_WRITE_BUFFERED) {
            goto again;
        }
    }

    if (ws->out == NULL) {
        return NGX_OK;
    }

    sent = c->sent;

    cl = c->send_chain(c, ws->out, 0);

    if (cl == NGX_CHAIN_ERROR) {
        c->error = 1;
        return NGX_ERROR;
    }

    ws->out_bytes -= (size_t) (c->sent - sent);

    while (ws->out != cl) {
        ln = ws->out;
        ws->out = ln->next;
        ngx_free(ln);
    }

    if (ws->out) {
        goto again;
    }

    ws->last_out = &ws->out;

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ws->read_blocked) {
        ws->read_blocked = 0;
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_OK;

again:

    if (!wev->timer_set) {
        ngx_add_timer(wev, ws->send_timeout);
    }

    if (ngx_handle_write_event(wev, ws->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* close without a close frame, from the event loop */

static void
ngx_http_pubsub_ws_fail(ngx_http_pubsub_ws_t *ws)
{
    ngx_event_t  *wev;

    ws->failed = 1;

    wev = ws->connection->write;

    if (!ws->in_read && !wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
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

    ngx_add_timer(&ws->expire, after);
}


static void
ngx_http_pubsub_ws_expire_handler(ngx_event_t *ev)
{
    ngx_http_pubsub_ws_t  *ws;

    ws = ev->data;

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

    ngx_chain_t  *cl, *ln;

    if (ws->finalized) {
        return;
    }

    ws->finalized = 1;

    if (ws->started) {
        ngx_http_pubsub_ws_nopen--;
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

    for (cl = ws->out; cl; cl = ln) {
        ln = cl->next;
        ngx_free(cl);
    }

    ws->out = NULL;
    ws->last_out = &ws->out;
    ws->out_bytes = 0;

    if (ws->message) {
        ngx_free(ws->message);
        ws->message = NULL;
    }
}


static void *
ngx_http_pubsub_ws_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pubsub_ws_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_http_pubsub_ws_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->max_message = NGX_CONF_UNSET_SIZE;
    conf->max_output = NGX_CONF_UNSET_SIZE;
    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_pubsub_ws_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_pubsub_ws_conf_t *prev = parent;
    ngx_http_pubsub_ws_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->max_message, prev->max_message,
                              1024 * 1024);
    ngx_conf_merge_size_value(conf->max_output, prev->max_output,
                              4 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval, 0);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 0);

    if (conf->max_message < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_max_message_size\" must be at least "
                           "16 bytes");
        return NGX_CONF_ERROR;
    }

    if (conf->max_output < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_output_queue_size\" must be at least "
                           "1k");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
