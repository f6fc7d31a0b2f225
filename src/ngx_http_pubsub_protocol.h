
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
 * dispatched by its command to the row a backend registered for the
 * location; handlers answer with PubSubResp carrying the request's
 * sequence, at once, later or many times.  Knows nothing of Kafka.
 */


/* oneof members from here on are our extension's, before it APISIX's */
#define NGX_HTTP_PUBSUB_EXTENSION        101

/* the largest command number a registry indexes */
#define NGX_HTTP_PUBSUB_COMMANDS_MAX     200

/* what a command needs (access control reads these) and how it lives */
#define NGX_HTTP_PUBSUB_CMD_READ         0x0001
#define NGX_HTTP_PUBSUB_CMD_WRITE        0x0002
#define NGX_HTTP_PUBSUB_CMD_GROUP        0x0004
#define NGX_HTTP_PUBSUB_CMD_STREAM       0x0010  /* not pubsub_max_inflight */

/* ErrorResp.code of the extension's commands */
#define NGX_HTTP_PUBSUB_BAD_REQUEST      400
#define NGX_HTTP_PUBSUB_FORBIDDEN        403
#define NGX_HTTP_PUBSUB_NOT_FOUND        404
#define NGX_HTTP_PUBSUB_TOO_MANY         429
#define NGX_HTTP_PUBSUB_INTERNAL         500
#define NGX_HTTP_PUBSUB_UNAVAILABLE      503
#define NGX_HTTP_PUBSUB_TIMEOUT          504


typedef struct ngx_http_pubsub_session_s  ngx_http_pubsub_session_t;
typedef struct ngx_http_pubsub_cmd_s      ngx_http_pubsub_cmd_t;

/*
 * NGX_OK: answered and done; NGX_AGAIN: in flight, the backend answers
 * later and calls ngx_http_pubsub_cmd_done(); NGX_ERROR: internal error,
 * the client gets an ErrorResp.  "req" is freed when the handler returns.
 */
typedef ngx_int_t (*ngx_http_pubsub_cmd_handler_pt)(
    ngx_http_pubsub_cmd_t *cmd, PubSubReq *req);

/*
 * cancel: the connection went away, drop every reference to cmd (it is
 * freed after); end: the server is about to close the connection, send
 * the last answers and call ngx_http_pubsub_cmd_done().
 */
typedef void (*ngx_http_pubsub_cmd_event_pt)(ngx_http_pubsub_cmd_t *cmd);

/* a backend's state of one connection: created zeroed, "conf" its own */
typedef ngx_int_t (*ngx_http_pubsub_session_init_pt)(
    ngx_http_pubsub_session_t *s, void *data, void *conf);
typedef void (*ngx_http_pubsub_session_event_pt)(
    ngx_http_pubsub_session_t *s, void *data);

/* writes exactly the len bytes announced to ngx_http_pubsub_send_raw() */
typedef u_char *(*ngx_http_pubsub_write_pt)(u_char *p, void *data);


/* a command, described once: a row of its backend's table */

typedef struct {
    ngx_uint_t                       type;      /* PubSubReq__ReqCase */
    ngx_str_t                        name;      /* for logs and metrics */
    ngx_http_pubsub_cmd_handler_pt   handler;
    ngx_http_pubsub_cmd_event_pt     cancel;
    ngx_http_pubsub_cmd_event_pt     end;
    size_t                           data_size; /* of cmd->data */
    ngx_uint_t                       flags;
} ngx_http_pubsub_command_t;

#define ngx_http_pubsub_null_command  { 0, ngx_null_string, NULL, NULL,       \
                                        NULL, 0, 0 }


typedef struct {
    ngx_str_t                        name;
    ngx_http_pubsub_command_t      **tables;    /* of rows, NULL-ended */
    size_t                           session_size;
    ngx_http_pubsub_session_init_pt  init_session;
    ngx_http_pubsub_session_event_pt drain;     /* output room is back */
    ngx_http_pubsub_session_event_pt close_session; /* after the cancels */
} ngx_http_pubsub_backend_t;


typedef struct {
    ngx_http_pubsub_backend_t       *backend;
    void                            *conf;
} ngx_http_pubsub_backend_conf_t;


typedef struct {
    ngx_http_pubsub_command_t       *command;
    void                            *conf;
    ngx_uint_t                       backend;   /* index in backends */
    ngx_uint_t                       metric;    /* its first series */
} ngx_http_pubsub_route_t;


/*
 * The commands one location serves; the glue keeps it in its loc conf.
 * routes[0] serves nothing: its metric counts requests no row takes.
 */

typedef struct {
    ngx_http_pubsub_route_t         *routes;    /* indexed by type */
    ngx_array_t                     *backends;  /* backend_conf_t */
    ngx_uint_t                       max_inflight;
} ngx_http_pubsub_registry_t;


struct ngx_http_pubsub_cmd_s {
    ngx_queue_t                      queue;
    ngx_http_pubsub_session_t       *session;
    ngx_log_t                       *log;
    int64_t                          sequence;
    ngx_http_pubsub_command_t       *command;
    void                            *conf;      /* its backend's */
    void                            *data;      /* data_size bytes, zeroed */
    ngx_uint_t                       backend;
    ngx_int_t                        error;     /* code of an ErrorResp */

    unsigned                         errored:1;
};


struct ngx_http_pubsub_session_s {
    ngx_http_pubsub_ws_t            *ws;
    ngx_http_request_t              *request;
    ngx_http_pubsub_registry_t      *registry;
    ngx_queue_t                      inflight;
    ngx_uint_t                       ninflight; /* not counting streams */
    void                           **data;      /* per backend */

    ngx_uint_t                       commands;  /* for log variables */
    ngx_uint_t                       errors;
};


ngx_int_t ngx_http_pubsub_add_backend(ngx_conf_t *cf,
    ngx_http_pubsub_registry_t *reg, ngx_http_pubsub_backend_t *backend,
    void *conf);
ngx_http_pubsub_session_t *ngx_http_pubsub_session_create(
    ngx_http_pubsub_ws_t *ws, ngx_http_pubsub_registry_t *reg);

ngx_int_t ngx_http_pubsub_send(ngx_http_pubsub_cmd_t *cmd, PubSubResp *resp);
ngx_int_t ngx_http_pubsub_send_error(ngx_http_pubsub_cmd_t *cmd,
    ngx_int_t code, const char *fmt, ...);
ngx_int_t ngx_http_pubsub_send_raw(ngx_http_pubsub_cmd_t *cmd,
    ngx_uint_t field, size_t len, ngx_http_pubsub_write_pt write,
    void *data);
ngx_int_t ngx_http_pubsub_send_pieces(ngx_http_pubsub_cmd_t *cmd,
    ngx_uint_t field, ngx_http_pubsub_ws_piece_t *pieces, ngx_uint_t n,
    size_t len);
void ngx_http_pubsub_cmd_done(ngx_http_pubsub_cmd_t *cmd);

size_t ngx_http_pubsub_room(ngx_http_pubsub_cmd_t *cmd);
ngx_uint_t ngx_http_pubsub_idle(ngx_http_pubsub_cmd_t *cmd);
ngx_uint_t ngx_http_pubsub_backed_up(ngx_http_pubsub_cmd_t *cmd);
void ngx_http_pubsub_wait_room(ngx_http_pubsub_cmd_t *cmd);
void *ngx_http_pubsub_backend_data(ngx_http_pubsub_cmd_t *cmd);
ngx_http_pubsub_cmd_t *ngx_http_pubsub_find_cmd(ngx_http_pubsub_cmd_t *cmd,
    int64_t sequence, ngx_uint_t type);


#endif /* _NGX_HTTP_PUBSUB_PROTOCOL_H_INCLUDED_ */
