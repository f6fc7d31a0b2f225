
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_module.h"


#define NGX_HTTP_PUBSUB_ERROR_MAX  1024


/* WebSocket sessions open in this worker */
ngx_uint_t  ngx_http_pubsub_sessions;


static void ngx_http_pubsub_message(ngx_http_pubsub_ws_t *ws, u_char *data,
    size_t len);
static void ngx_http_pubsub_close(ngx_http_pubsub_ws_t *ws);
static ngx_int_t ngx_http_pubsub_send_resp(ngx_http_pubsub_session_t *s,
    PubSubResp *resp);
static ngx_int_t ngx_http_pubsub_send_error_resp(
    ngx_http_pubsub_session_t *s, int64_t sequence, const char *message);


/*
 * A backend registers the commands it serves in the location being
 * configured; the location must be a pubsub endpoint already.
 */

ngx_int_t
ngx_http_pubsub_add_command(ngx_conf_t *cf, ngx_uint_t type,
    ngx_http_pubsub_cmd_handler_pt handler, size_t data_size)
{
    ngx_uint_t                   i;
    ngx_http_pubsub_command_t   *cmd;
    ngx_http_pubsub_loc_conf_t  *plcf;

    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_pubsub_module);

    if (plcf->commands == NULL) {
        plcf->commands = ngx_array_create(cf->pool, 4,
                                          sizeof(ngx_http_pubsub_command_t));
        if (plcf->commands == NULL) {
            return NGX_ERROR;
        }
    }

    cmd = plcf->commands->elts;

    for (i = 0; i < plcf->commands->nelts; i++) {
        if (cmd[i].type == type) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "pubsub command %ui is served twice in "
                               "this location", type);
            return NGX_ERROR;
        }
    }

    cmd = ngx_array_push(plcf->commands);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->type = type;
    cmd->handler = handler;
    cmd->data_size = data_size;

    return NGX_OK;
}


ngx_http_pubsub_session_t *
ngx_http_pubsub_session_create(ngx_http_pubsub_ws_t *ws,
    ngx_array_t *commands, ngx_uint_t max_inflight)
{
    ngx_http_pubsub_session_t  *s;

    s = ngx_pcalloc(ws->request->pool, sizeof(ngx_http_pubsub_session_t));
    if (s == NULL) {
        return NULL;
    }

    s->ws = ws;
    s->request = ws->request;
    s->commands = commands;
    s->max_inflight = max_inflight;
    ngx_queue_init(&s->inflight);

    ws->data = s;
    ws->message_handler = ngx_http_pubsub_message;
    ws->close_handler = ngx_http_pubsub_close;

    ngx_http_pubsub_sessions++;

    return s;
}


/* one binary WebSocket message: a PubSubReq */

static void
ngx_http_pubsub_message(ngx_http_pubsub_ws_t *ws, u_char *data, size_t len)
{
    ngx_int_t                   rc;
    ngx_log_t                  *log;
    ngx_uint_t                  i;
    PubSubReq                  *req;
    ngx_http_pubsub_cmd_t      *cmd;
    ngx_http_pubsub_command_t  *command;
    ngx_http_pubsub_session_t  *s;

    s = ws->data;
    log = ws->connection->log;

    req = ngx_http_pubsub_decode_req(data, len);

    if (req == NULL) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pubsub: client sent undecodable data of %uz bytes",
                      len);
        (void) ngx_http_pubsub_send_error_resp(s, 0, "wrong command");
        return;
    }

    if (req->req_case == PUB_SUB_REQ__REQ__NOT_SET) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "pubsub: client sent a request with no command, "
                      "sequence %L, ignored", req->sequence);
        goto done;
    }

    command = NULL;

    if (s->commands) {
        command = s->commands->elts;

        for (i = 0; i < s->commands->nelts; i++) {
            if (command[i].type == (ngx_uint_t) req->req_case) {
                break;
            }
        }

        command = (i < s->commands->nelts) ? &command[i] : NULL;
    }

    if (command == NULL) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pubsub: no handler for command %d, sequence %L",
                      req->req_case, req->sequence);
        (void) ngx_http_pubsub_send_error_resp(s, req->sequence,
                                               "unknown command");
        goto done;
    }

    if (s->ninflight >= s->max_inflight) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "pubsub: client has %ui commands in flight, "
                      "sequence %L refused", s->ninflight, req->sequence);
        (void) ngx_http_pubsub_send_error_resp(s, req->sequence,
                                               "too many commands in "
                                               "flight");
        goto done;
    }

    cmd = ngx_calloc(sizeof(ngx_http_pubsub_cmd_t) + command->data_size,
                     log);
    if (cmd == NULL) {
        (void) ngx_http_pubsub_send_error_resp(s, req->sequence,
                                               "internal error");
        goto done;
    }

    cmd->session = s;
    cmd->log = log;
    cmd->sequence = req->sequence;
    cmd->type = command->type;
    cmd->data = command->data_size ? (void *) (cmd + 1) : NULL;

    ngx_queue_insert_tail(&s->inflight, &cmd->queue);
    s->ninflight++;

    rc = command->handler(cmd, req);

    if (rc == NGX_ERROR) {
        (void) ngx_http_pubsub_send_error(cmd, "internal error");
    }

    if (rc != NGX_AGAIN) {
        ngx_http_pubsub_cmd_done(cmd);
    }

done:

    ngx_http_pubsub_free_req(req);
}


/* the connection is going away: cancel what is in flight */

static void
ngx_http_pubsub_close(ngx_http_pubsub_ws_t *ws)
{
    ngx_queue_t                *q;
    ngx_http_pubsub_cmd_t      *cmd;
    ngx_http_pubsub_session_t  *s;

    s = ws->data;

    while (!ngx_queue_empty(&s->inflight)) {
        q = ngx_queue_head(&s->inflight);
        cmd = ngx_queue_data(q, ngx_http_pubsub_cmd_t, queue);

        if (cmd->cancel) {
            cmd->cancel(cmd);
        }

        ngx_http_pubsub_cmd_done(cmd);
    }

    ngx_http_pubsub_sessions--;
}


void
ngx_http_pubsub_cmd_done(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_queue_remove(&cmd->queue);
    cmd->session->ninflight--;

    ngx_free(cmd);
}


ngx_http_request_t *
ngx_http_pubsub_cmd_request(ngx_http_pubsub_cmd_t *cmd)
{
    return cmd->session->request;
}


/*
 * How many bytes an answer may take now without the output queue going
 * over pubsub_output_queue_size; any number when nothing waits, as one
 * answer is always sent.
 */

size_t
ngx_http_pubsub_send_room(ngx_http_pubsub_cmd_t *cmd)
{
    ngx_http_pubsub_ws_t  *ws;

    ws = cmd->session->ws;

    if (ws->out == NULL) {
        return NGX_MAX_SIZE_T_VALUE;
    }

    return (ws->out_bytes < ws->conf->max_output)
           ? ws->conf->max_output - ws->out_bytes : 0;
}


ngx_int_t
ngx_http_pubsub_send(ngx_http_pubsub_cmd_t *cmd, PubSubResp *resp)
{
    resp->sequence = cmd->sequence;

    return ngx_http_pubsub_send_resp(cmd->session, resp);
}


ngx_int_t
ngx_http_pubsub_send_error(ngx_http_pubsub_cmd_t *cmd, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    message[NGX_HTTP_PUBSUB_ERROR_MAX];

    va_start(args, fmt);
    p = ngx_vslprintf(message, message + sizeof(message) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    return ngx_http_pubsub_send_error_resp(cmd->session, cmd->sequence,
                                           (const char *) message);
}


static ngx_int_t
ngx_http_pubsub_send_error_resp(ngx_http_pubsub_session_t *s,
    int64_t sequence, const char *message)
{
    ErrorResp   error = ERROR_RESP__INIT;
    PubSubResp  resp = PUB_SUB_RESP__INIT;

    error.code = 0;
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
