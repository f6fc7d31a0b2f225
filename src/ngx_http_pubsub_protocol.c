
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The protocol: each WebSocket message a PubSubReq, checked and decoded,
 * dispatched by the command table of the location to its handler; answers
 * encoded with the request's sequence.  Knows nothing of Kafka: backends
 * bring their commands as rows of a table.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_protocol.h"
#include "ngx_http_pubsub_protocol_metrics.h"


#define NGX_HTTP_PUBSUB_ERROR_MAX  1024


static ngx_int_t ngx_http_pubsub_add_table(ngx_conf_t *cf,
    ngx_http_pubsub_registry_t *reg, ngx_http_pubsub_command_t *table,
    void *conf);
static void ngx_http_pubsub_message(ngx_http_pubsub_ws_t *ws, u_char *data,
    size_t len);
static void ngx_http_pubsub_dispatch(ngx_http_pubsub_session_t *s,
    PubSubReq *req, ngx_int_t code);
static u_char *ngx_http_pubsub_fault_text(ngx_http_pubsub_pb_check_t *chk,
    u_char *p, u_char *last);
static void ngx_http_pubsub_refuse(ngx_http_pubsub_session_t *s,
    ngx_uint_t type, int64_t sequence, ngx_int_t code, const char *text);
static ngx_uint_t ngx_http_pubsub_route_metric(ngx_http_pubsub_session_t *s,
    ngx_uint_t type);
static ngx_http_pubsub_route_t *ngx_http_pubsub_route(
    ngx_http_pubsub_session_t *s, PubSubReq *req);
static void ngx_http_pubsub_drain(ngx_http_pubsub_ws_t *ws);
static void ngx_http_pubsub_closing(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t status);
static void ngx_http_pubsub_close(ngx_http_pubsub_ws_t *ws);
static ngx_int_t ngx_http_pubsub_send_resp(ngx_http_pubsub_session_t *s,
    PubSubResp *resp);
static ngx_int_t ngx_http_pubsub_send_error_resp(
    ngx_http_pubsub_session_t *s, int64_t sequence, ngx_int_t code,
    const char *message);


/*
 * A backend registers its command tables in the registry of the location
 * being configured, with its own configuration for the commands' use.
 */

ngx_int_t
ngx_http_pubsub_add_backend(ngx_conf_t *cf, ngx_http_pubsub_registry_t *reg,
    ngx_http_pubsub_backend_t *backend, void *conf)
{
    ngx_http_pubsub_command_t       **table;
    ngx_http_pubsub_backend_conf_t   *bc;

    if (reg->routes == NULL) {
        reg->routes = ngx_pcalloc(cf->pool, (NGX_HTTP_PUBSUB_COMMANDS_MAX + 1)
                                            * sizeof(ngx_http_pubsub_route_t));
        if (reg->routes == NULL) {
            return NGX_ERROR;
        }

        reg->backends = ngx_array_create(cf->pool, 2,
                                     sizeof(ngx_http_pubsub_backend_conf_t));
        if (reg->backends == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_pubsub_command_metrics(cf, NULL, &reg->routes[0].metric)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (table = backend->tables; *table; table++) {
        if (ngx_http_pubsub_add_table(cf, reg, *table, conf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    bc = ngx_array_push(reg->backends);
    if (bc == NULL) {
        return NGX_ERROR;
    }

    bc->backend = backend;
    bc->conf = conf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_pubsub_add_table(ngx_conf_t *cf, ngx_http_pubsub_registry_t *reg,
    ngx_http_pubsub_command_t *table, void *conf)
{
    ngx_http_pubsub_route_t    *route;
    ngx_http_pubsub_command_t  *c;

    for (c = table; c->type; c++) {

        if (c->type > NGX_HTTP_PUBSUB_COMMANDS_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pubsub command \"%V\" has the number %ui, "
                               "above %d", &c->name, c->type,
                               NGX_HTTP_PUBSUB_COMMANDS_MAX);
            return NGX_ERROR;
        }

        route = &reg->routes[c->type];

        if (route->command) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pubsub command \"%V\" is served twice in "
                               "this location", &c->name);
            return NGX_ERROR;
        }

        route->command = c;
        route->conf = conf;
        route->backend = reg->backends->nelts;

        if (ngx_http_pubsub_command_metrics(cf, &c->name, &route->metric)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_http_pubsub_session_t *
ngx_http_pubsub_session_create(ngx_http_pubsub_ws_t *ws,
    ngx_http_pubsub_registry_t *reg)
{
    ngx_uint_t                       i, n;
    ngx_http_pubsub_session_t       *s;
    ngx_http_pubsub_backend_conf_t  *bc;

    s = ngx_pcalloc(ws->request->pool, sizeof(ngx_http_pubsub_session_t));
    if (s == NULL) {
        return NULL;
    }

    s->ws = ws;
    s->request = ws->request;
    s->registry = reg;
    ngx_queue_init(&s->inflight);

    n = reg->backends->nelts;
    bc = reg->backends->elts;

    s->data = ngx_pcalloc(ws->request->pool, n * sizeof(void *));
    if (s->data == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (bc[i].backend->session_size == 0) {
            continue;
        }

        s->data[i] = ngx_pcalloc(ws->request->pool,
                                 bc[i].backend->session_size);
        if (s->data[i] == NULL) {
            return NULL;
        }

        if (bc[i].backend->init_session
            && bc[i].backend->init_session(s, s->data[i], bc[i].conf)
               != NGX_OK)
        {
            return NULL;
        }
    }

    ws->data = s;
    ws->message_handler = ngx_http_pubsub_message;
    ws->drain_handler = ngx_http_pubsub_drain;
    ws->closing_handler = ngx_http_pubsub_closing;
    ws->close_handler = ngx_http_pubsub_close;

    return s;
}


/* one binary WebSocket message: a PubSubReq */

static void
ngx_http_pubsub_message(ngx_http_pubsub_ws_t *ws, u_char *data, size_t len)
{
    ngx_int_t                    rc, code;
    ngx_log_t                   *log;
    PubSubReq                   *req;
    ngx_http_pubsub_session_t   *s;
    ngx_http_pubsub_pb_check_t   chk;
    u_char                       text[NGX_HTTP_PUBSUB_ERROR_MAX];

    s = ws->data;
    log = ws->connection->log;

    /* protocol errors: APISIX's code 0, or the extension's codes */

    rc = ngx_http_pubsub_check_req(data, len, &chk);

    code = (chk.command >= NGX_HTTP_PUBSUB_EXTENSION);

    if (rc != NGX_OK) {
        *ngx_http_pubsub_fault_text(&chk, text, text + sizeof(text) - 1) =
                                                                        '\0';
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pubsub: client sent a bad request of %uz bytes, "
                      "sequence %L: %s", len, chk.sequence, text);
        ngx_http_pubsub_refuse(s, chk.command, chk.sequence,
                               code ? NGX_HTTP_PUBSUB_BAD_REQUEST : 0,
                               (char *) text);
        return;
    }

    req = ngx_http_pubsub_decode_req(data, len);

    if (req == NULL) {
        /* well-formed, so protobuf-c could not allocate */
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "pubsub: protobuf-c failed to decode a request of "
                      "%uz bytes, sequence %L", len, chk.sequence);
        ngx_http_pubsub_refuse(s, chk.command, chk.sequence,
                               code ? NGX_HTTP_PUBSUB_INTERNAL : 0,
                               "internal error");
        return;
    }

    s->commands++;

    if (req->req_case == PUB_SUB_REQ__REQ__NOT_SET) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pubsub: client sent a request with no command, "
                      "sequence %L, ignored", req->sequence);

    } else {
        ngx_http_pubsub_dispatch(s, req, code);
    }

    ngx_http_pubsub_free_req(req);
}


/*
 * Runs the handler of a decoded request's command, or refuses it (code:
 * the extension's error codes, or APISIX's 0)
 */

static void
ngx_http_pubsub_dispatch(ngx_http_pubsub_session_t *s, PubSubReq *req,
    ngx_int_t code)
{
    ngx_int_t                   rc;
    ngx_log_t                  *log;
    ngx_http_pubsub_cmd_t      *cmd;
    ngx_http_pubsub_route_t    *route;
    ngx_http_pubsub_command_t  *command;

    log = s->ws->connection->log;

    route = ngx_http_pubsub_route(s, req);

    if (route == NULL) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pubsub: no handler for command %d, sequence %L",
                      req->req_case, req->sequence);
        ngx_http_pubsub_refuse(s, req->req_case, req->sequence,
                               code ? NGX_HTTP_PUBSUB_NOT_FOUND : 0,
                               "unknown command");
        return;
    }

    command = route->command;

    if (!(command->flags & NGX_HTTP_PUBSUB_CMD_STREAM)
        && s->ninflight >= s->registry->max_inflight)
    {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pubsub: client has %ui commands in flight, "
                      "sequence %L refused", s->ninflight, req->sequence);
        ngx_http_pubsub_refuse(s, req->req_case, req->sequence,
                               code ? NGX_HTTP_PUBSUB_TOO_MANY : 0,
                               "too many commands in flight");
        return;
    }

    cmd = ngx_calloc(sizeof(ngx_http_pubsub_cmd_t) + command->data_size,
                     log);
    if (cmd == NULL) {
        ngx_http_pubsub_refuse(s, req->req_case, req->sequence,
                               code ? NGX_HTTP_PUBSUB_INTERNAL : 0,
                               "internal error");
        return;
    }

    cmd->session = s;
    cmd->log = log;
    cmd->sequence = req->sequence;
    cmd->command = command;
    cmd->conf = route->conf;
    cmd->backend = route->backend;
    cmd->data = command->data_size ? (void *) (cmd + 1) : NULL;

    ngx_queue_insert_tail(&s->inflight, &cmd->queue);

    if (!(command->flags & NGX_HTTP_PUBSUB_CMD_STREAM)) {
        s->ninflight++;
    }

    rc = command->handler(cmd, req);

    if (rc == NGX_ERROR) {
        (void) ngx_http_pubsub_send_error(cmd,
                                          code ? NGX_HTTP_PUBSUB_INTERNAL : 0,
                                          "internal error");
    }

    if (rc != NGX_AGAIN) {
        ngx_http_pubsub_cmd_done(cmd);
    }
}


/* "malformed request: CmdKafkaFetch.offset has wire type ..." */

static u_char *
ngx_http_pubsub_fault_text(ngx_http_pubsub_pb_check_t *chk, u_char *p,
    u_char *last)
{
    const char  *what;

    static const char  *wire[] = { "varint", "64-bit", "length-delimited",
                                   "start group", "end group", "32-bit" };

    p = ngx_slprintf(p, last, "%s request: %s",
                     (chk->fault == NGX_HTTP_PUBSUB_PB_NUL
                      || chk->fault == NGX_HTTP_PUBSUB_PB_NOT_UTF8)
                     ? "invalid string in" : "malformed", chk->path);

    if (chk->name) {
        p = ngx_slprintf(p, last, ".%s", chk->name);

    } else if (chk->field) {
        p = ngx_slprintf(p, last, " field %ui", chk->field);
    }

    switch (chk->fault) {

    case NGX_HTTP_PUBSUB_PB_WIRE_TYPE:
        if (chk->want < sizeof(wire) / sizeof(wire[0])
            && chk->wire < sizeof(wire) / sizeof(wire[0]))
        {
            return ngx_slprintf(p, last, " has wire type %s, not %s",
                                wire[chk->wire], wire[chk->want]);
        }

        return ngx_slprintf(p, last, " has wire type %ui, which proto3 does "
                            "not use", chk->wire);

    case NGX_HTTP_PUBSUB_PB_CUT:
        what = "is cut short";
        break;

    case NGX_HTTP_PUBSUB_PB_LONG_VARINT:
        what = "has a varint over 10 bytes";
        break;

    case NGX_HTTP_PUBSUB_PB_LONG_KEY:
        what = "has a field key over 5 bytes";
        break;

    case NGX_HTTP_PUBSUB_PB_LONG_LENGTH:
        what = "has a length over 5 bytes";
        break;

    case NGX_HTTP_PUBSUB_PB_FIELD_ZERO:
        what = "has a field numbered 0";
        break;

    case NGX_HTTP_PUBSUB_PB_TOO_DEEP:
        what = "is nested too deeply";
        break;

    case NGX_HTTP_PUBSUB_PB_NUL:
        what = "holds a NUL byte";
        break;

    default: /* NGX_HTTP_PUBSUB_PB_NOT_UTF8 */
        what = "is not UTF-8";
    }

    return ngx_slprintf(p, last, " %s", what);
}


/* an error answer to a request no command took */

static void
ngx_http_pubsub_refuse(ngx_http_pubsub_session_t *s, ngx_uint_t type,
    int64_t sequence, ngx_int_t code, const char *text)
{
    s->errors++;

    ngx_http_pubsub_command_metric(ngx_http_pubsub_route_metric(s, type),
                                   code);

    (void) ngx_http_pubsub_send_error_resp(s, sequence, code, text);
}


/* the metric of the row that serves command "type", or of routes[0] */

static ngx_uint_t
ngx_http_pubsub_route_metric(ngx_http_pubsub_session_t *s, ngx_uint_t type)
{
    if (type > NGX_HTTP_PUBSUB_COMMANDS_MAX
        || s->registry->routes[type].command == NULL)
    {
        type = 0;
    }

    return s->registry->routes[type].metric;
}


static ngx_http_pubsub_route_t *
ngx_http_pubsub_route(ngx_http_pubsub_session_t *s, PubSubReq *req)
{
    ngx_uint_t                type;
    ngx_http_pubsub_route_t  *route;

    type = (ngx_uint_t) req->req_case;

    if (type > NGX_HTTP_PUBSUB_COMMANDS_MAX) {
        return NULL;
    }

    route = &s->registry->routes[type];

    return route->command ? route : NULL;
}


/* the output queue has room again: backends' paused streams go on */

static void
ngx_http_pubsub_drain(ngx_http_pubsub_ws_t *ws)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_session_t       *s;
    ngx_http_pubsub_backend_conf_t  *bc;

    s = ws->data;
    bc = s->registry->backends->elts;

    for (i = 0; i < s->registry->backends->nelts; i++) {
        if (bc[i].backend->drain) {
            bc[i].backend->drain(s, s->data[i]);
        }
    }
}


/* the server closes the connection: commands that can say goodbye do */

static void
ngx_http_pubsub_closing(ngx_http_pubsub_ws_t *ws, ngx_uint_t status)
{
    ngx_queue_t                 ending, *q;
    ngx_http_pubsub_cmd_t      *cmd;
    ngx_http_pubsub_session_t  *s;

    s = ws->data;

    ngx_queue_init(&ending);

    while (!ngx_queue_empty(&s->inflight)) {
        q = ngx_queue_head(&s->inflight);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&ending, q);
    }

    while (!ngx_queue_empty(&ending)) {
        q = ngx_queue_head(&ending);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&s->inflight, q);

        cmd = ngx_queue_data(q, ngx_http_pubsub_cmd_t, queue);

        if (cmd->command->end) {
            cmd->command->end(cmd);
        }
    }
}


/* the connection is going away: cancel what is in flight */

static void
ngx_http_pubsub_close(ngx_http_pubsub_ws_t *ws)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_http_pubsub_cmd_t           *cmd;
    ngx_http_pubsub_session_t       *s;
    ngx_http_pubsub_backend_conf_t  *bc;

    s = ws->data;

    while (!ngx_queue_empty(&s->inflight)) {
        q = ngx_queue_head(&s->inflight);
        cmd = ngx_queue_data(q, ngx_http_pubsub_cmd_t, queue);

        if (cmd->command->cancel) {
            cmd->command->cancel(cmd);
        }

        ngx_http_pubsub_cmd_done(cmd);
    }

    bc = s->registry->backends->elts;

    for (i = 0; i < s->registry->backends->nelts; i++) {
        if (bc[i].backend->close_session) {
            bc[i].backend->close_session(s, s->data[i]);
        }
    }
}


void
ngx_http_pubsub_cmd_done(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_int_t                   result;
    ngx_http_pubsub_session_t  *s;

    s = cmd->session;

    /* the connection is going away: not answered */

    result = cmd->errored ? cmd->error
             : s->ws->finalized ? NGX_HTTP_PUBSUB_RESULT_CANCELED
             : NGX_HTTP_PUBSUB_RESULT_OK;

    ngx_http_pubsub_command_metric(
        s->registry->routes[cmd->command->type].metric, result);

    ngx_queue_remove(&cmd->queue);

    if (!(cmd->command->flags & NGX_HTTP_PUBSUB_CMD_STREAM)) {
        cmd->session->ninflight--;
    }

    ngx_free(cmd);
}


/*
 * How many bytes an answer to cmd may take now without the output queue
 * going over pubsub_output_queue_size: all of it when nothing waits.
 */

size_t
ngx_http_pubsub_room(ngx_http_pubsub_cmd_t *cmd)
{
    return ngx_http_pubsub_ws_room(cmd->session->ws);
}


/* nothing waits for the client: one answer goes whatever its size */

ngx_uint_t
ngx_http_pubsub_idle(ngx_http_pubsub_cmd_t *cmd)
{
    return ngx_http_pubsub_ws_idle(cmd->session->ws);
}


/* the client has not read what it was sent yet */

ngx_uint_t
ngx_http_pubsub_backed_up(ngx_http_pubsub_cmd_t *cmd)
{
    return ngx_http_pubsub_ws_backed_up(cmd->session->ws);
}


/* the backend's drain handler runs when the output queue has room again */

void
ngx_http_pubsub_wait_room(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_ws_want_drain(cmd->session->ws);
}


/* the backend's state of cmd's connection */

void *
ngx_http_pubsub_backend_data(ngx_http_pubsub_cmd_t *cmd)
{
    return cmd->session->data[cmd->backend];
}


/* the command of this type in flight on cmd's connection with sequence */

ngx_http_pubsub_cmd_t *
ngx_http_pubsub_find_cmd(ngx_http_pubsub_cmd_t *cmd, int64_t sequence,
    ngx_uint_t type)
{
    ngx_queue_t            *q, *inflight;
    ngx_http_pubsub_cmd_t  *c;

    inflight = &cmd->session->inflight;

    for (q = ngx_queue_head(inflight);
         q != ngx_queue_sentinel(inflight);
         q = ngx_queue_next(q))
    {
        c = ngx_queue_data(q, ngx_http_pubsub_cmd_t, queue);

        if (c->sequence == sequence && c->command->type == type
            && c != cmd)
        {
            return c;
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_pubsub_send(ngx_http_pubsub_cmd_t *cmd, PubSubResp *resp)
{
    resp->sequence = cmd->sequence;

    return ngx_http_pubsub_send_resp(cmd->session, resp);
}


ngx_int_t
ngx_http_pubsub_send_error(ngx_http_pubsub_cmd_t *cmd, ngx_int_t code,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    message[NGX_HTTP_PUBSUB_ERROR_MAX];

    va_start(args, fmt);
    p = ngx_vslprintf(message, message + sizeof(message) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    cmd->error = code;
    cmd->errored = 1;
    cmd->session->errors++;

    return ngx_http_pubsub_send_error_resp(cmd->session, cmd->sequence, code,
                                           (const char *) message);
}


static ngx_int_t
ngx_http_pubsub_send_error_resp(ngx_http_pubsub_session_t *s,
    int64_t sequence, ngx_int_t code, const char *message)
{
    ErrorResp   error = ERROR_RESP__INIT;
    PubSubResp  resp = PUB_SUB_RESP__INIT;

    error.code = (int32_t) code;
    error.message = (char *) message;

    resp.sequence = sequence;
    resp.resp_case = PUB_SUB_RESP__RESP_ERROR_RESP;
    resp.error_resp = &error;

    return ngx_http_pubsub_send_resp(s, &resp);
}


static ngx_int_t
ngx_http_pubsub_send_resp(ngx_http_pubsub_session_t *s, PubSubResp *resp)
{
    size_t        len;
    ngx_chain_t  *cl;

    len = pub_sub_resp__get_packed_size(resp);

    cl = ngx_http_pubsub_ws_alloc_frame(s->ws, NGX_HTTP_PUBSUB_WS_BINARY,
                                        len);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf->last += pub_sub_resp__pack(resp, cl->buf->last);

    return ngx_http_pubsub_ws_send(s->ws, cl);
}


/*
 * A response whose oneof member "field" is len bytes that write() puts
 * down itself, so a backend can send bytes it encoded once for many
 * clients without building a message tree.
 */

ngx_int_t
ngx_http_pubsub_send_raw(ngx_http_pubsub_cmd_t *cmd, ngx_uint_t field,
    size_t len, ngx_http_pubsub_write_pt write, void *data)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = ngx_http_pubsub_resp_header_size(cmd->sequence, field, len) + len;

    cl = ngx_http_pubsub_ws_alloc_frame(cmd->session->ws,
                                        NGX_HTTP_PUBSUB_WS_BINARY, size);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;

    b->last = ngx_http_pubsub_resp_write_header(b->last, cmd->sequence,
                                                field, len);
    b->last = write(b->last, data);

    if (b->last != b->end) {
        ngx_log_error(NGX_LOG_ALERT, cmd->log, 0,
                      "pubsub: response writer wrote %z bytes, not %uz",
                      (ssize_t) (b->last - (b->end - len)), len);
        ngx_free(cl);
        return NGX_ERROR;
    }

    return ngx_http_pubsub_ws_send(cmd->session->ws, cl);
}


/*
 * The same, its member the pieces one after another (len bytes in all):
 * bytes shared with other answers (one encoding of a message for every
 * client it goes to), referenced by the frame until the socket took them,
 * never copied.
 */

ngx_int_t
ngx_http_pubsub_send_pieces(ngx_http_pubsub_cmd_t *cmd, ngx_uint_t field,
    ngx_http_pubsub_ws_piece_t *pieces, ngx_uint_t n, size_t len)
{
    size_t        prefix;
    ngx_chain_t  *cl;

    prefix = ngx_http_pubsub_resp_header_size(cmd->sequence, field, len);

    cl = ngx_http_pubsub_ws_alloc_shared(cmd->session->ws,
                                         NGX_HTTP_PUBSUB_WS_BINARY, prefix,
                                         pieces, n, len);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf->last = ngx_http_pubsub_resp_write_header(cl->buf->last,
                                                      cmd->sequence, field,
                                                      len);

    return ngx_http_pubsub_ws_send(cmd->session->ws, cl);
}
