
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_PROTOCOL_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_PROTOCOL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_websocket.h"
#include "ngx_http_pubsub_codec.h"


/*
 * The pubsub protocol on a WebSocket: each binary message is a PubSubReq,
 * dispatched by its command to the handler a backend registered for the
 * location; handlers answer with PubSubResp carrying the request's
 * sequence, at once, later or many times.  Knows nothing of Kafka.
 */


typedef struct ngx_http_pubsub_session_s  ngx_http_pubsub_session_t;
typedef struct ngx_http_pubsub_cmd_s      ngx_http_pubsub_cmd_t;

/*
 * NGX_OK: answered and done; NGX_AGAIN: in flight, the backend answers
 * later and calls ngx_http_pubsub_cmd_done(); NGX_ERROR: internal error,
 * the client gets an ErrorResp.  "req" is freed when the handler returns.
 */
typedef ngx_int_t (*ngx_http_pubsub_cmd_handler_pt)(
    ngx_http_pubsub_cmd_t *cmd, PubSubReq *req);

/* the connection went away: drop every reference to cmd, it is freed */
typedef void (*ngx_http_pubsub_cmd_cancel_pt)(ngx_http_pubsub_cmd_t *cmd);

/* writes exactly the len bytes announced to ngx_http_pubsub_send_raw() */
typedef u_char *(*ngx_http_pubsub_write_pt)(u_char *p, void *data);


typedef struct {
    ngx_uint_t                       type;      /* PubSubReq__ReqCase */
    ngx_http_pubsub_cmd_handler_pt   handler;
    size_t                           data_size; /* of cmd->data */
} ngx_http_pubsub_command_t;


struct ngx_http_pubsub_cmd_s {
    ngx_queue_t                      queue;
    ngx_http_pubsub_session_t       *session;
    ngx_log_t                       *log;
    int64_t                          sequence;
    ngx_uint_t                       type;
    ngx_http_pubsub_cmd_cancel_pt    cancel;
    void                            *data;      /* data_size bytes, zeroed */
};


struct ngx_http_pubsub_session_s {
    ngx_http_pubsub_ws_t            *ws;
    ngx_http_request_t              *request;
    ngx_queue_t                      inflight;
    ngx_uint_t                       ninflight;
    ngx_array_t                     *commands;
    ngx_uint_t                       max_inflight;
};


ngx_int_t ngx_http_pubsub_add_command(ngx_conf_t *cf, ngx_uint_t type,
    ngx_http_pubsub_cmd_handler_pt handler, size_t data_size);

ngx_http_pubsub_session_t *ngx_http_pubsub_session_create(
    ngx_http_pubsub_ws_t *ws, ngx_array_t *commands, ngx_uint_t max_inflight);

ngx_int_t ngx_http_pubsub_send(ngx_http_pubsub_cmd_t *cmd, PubSubResp *resp);
ngx_int_t ngx_http_pubsub_send_error(ngx_http_pubsub_cmd_t *cmd,
    const char *fmt, ...);
ngx_int_t ngx_http_pubsub_send_raw(ngx_http_pubsub_cmd_t *cmd,
    ngx_uint_t field, size_t len, ngx_http_pubsub_write_pt write,
    void *data);
void ngx_http_pubsub_cmd_done(ngx_http_pubsub_cmd_t *cmd);

ngx_http_request_t *ngx_http_pubsub_cmd_request(ngx_http_pubsub_cmd_t *cmd);
size_t ngx_http_pubsub_send_room(ngx_http_pubsub_cmd_t *cmd);


extern ngx_uint_t  ngx_http_pubsub_sessions;


#endif /* _NGX_HTTP_PUBSUB_PROTOCOL_H_INCLUDED_ */
