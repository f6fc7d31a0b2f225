
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_WEBSOCKET_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_WEBSOCKET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_ws_frame.h"


/*
 * An RFC 6455 server on an upgraded nginx request: handshake, frames,
 * ping/pong, close, limits and a bounded output queue.  It hands complete
 * binary messages to its owner and knows nothing of what they mean.  It is
 * an nginx module of its own (ngx_http_pubsub_ws_module) for its
 * directives and its per-request context.
 */


#define NGX_HTTP_UPGRADE_REQUIRED        426


typedef struct ngx_http_pubsub_ws_s  ngx_http_pubsub_ws_t;


/*
 * Bytes that frames of many connections share instead of each holding a
 * copy: counted, released by their owner's release() when the last
 * reference goes (the owner holds one of its own while it keeps them).
 */

typedef struct ngx_http_pubsub_ws_shared_s  ngx_http_pubsub_ws_shared_t;

typedef void (*ngx_http_pubsub_ws_release_pt)(
    ngx_http_pubsub_ws_shared_t *sh);

struct ngx_http_pubsub_ws_shared_s {
    ngx_uint_t                       refs;
    ngx_http_pubsub_ws_release_pt    release;
};


/* a piece of a frame's payload: data within shared bytes */

typedef struct {
    u_char                          *data;
    size_t                           len;
    ngx_http_pubsub_ws_shared_t     *shared;
} ngx_http_pubsub_ws_piece_t;

typedef void (*ngx_http_pubsub_ws_message_pt)(ngx_http_pubsub_ws_t *ws,
    u_char *data, size_t len);
typedef void (*ngx_http_pubsub_ws_event_pt)(ngx_http_pubsub_ws_t *ws);
typedef void (*ngx_http_pubsub_ws_closing_pt)(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t status);


typedef struct {
    size_t                           max_message;
    size_t                           max_output;
    ngx_msec_t                       ping_interval;
    ngx_msec_t                       idle_timeout;
} ngx_http_pubsub_ws_conf_t;


/* what one connection did, for log variables and metrics */

typedef struct {
    ngx_uint_t                       messages_in;
    ngx_uint_t                       messages_out;
    off_t                            bytes_in;      /* message payloads */
    off_t                            bytes_out;
    ngx_uint_t                       close_code;    /* 0: none */
    unsigned                         close_by_client:1;
} ngx_http_pubsub_ws_stats_t;


struct ngx_http_pubsub_ws_s {
    ngx_http_request_t              *request;
    ngx_connection_t                *connection;
    ngx_http_pubsub_ws_conf_t       *conf;

    /*
     * The owner's: message for each binary message; drain when the output
     * queue has room again after a writer found none; closing right before
     * the server queues its close frame, the last moment to send; close
     * once, when the connection goes away.
     */
    ngx_http_pubsub_ws_message_pt    message_handler;
    ngx_http_pubsub_ws_event_pt      drain_handler;
    ngx_http_pubsub_ws_closing_pt    closing_handler;
    ngx_http_pubsub_ws_event_pt      close_handler;
    void                            *data;

    ngx_http_pubsub_ws_parser_t      parser;

    u_char                          *message;       /* being reassembled */
    size_t                           message_len;
    size_t                           message_size;

    u_char                           control[NGX_HTTP_PUBSUB_WS_CONTROL_MAX];
    size_t                           control_len;

    ngx_chain_t                     *out;           /* output queue */
    ngx_chain_t                    **last_out;
    size_t                           out_bytes;

    ngx_event_t                      ping;
    ngx_event_t                      idle;
    ngx_event_t                      expire;
    ngx_msec_t                       expire_left;   /* after the timer */

    ngx_event_handler_pt             request_handler;   /* nginx's */

    ngx_msec_t                       last_read;
    ngx_msec_t                       send_timeout;
    size_t                           send_lowat;

    ngx_http_pubsub_ws_stats_t       stats;

    unsigned                         started:1;
    unsigned                         closing:1;     /* close frame queued */
    unsigned                         failed:1;      /* close, no frame */
    unsigned                         finalized:1;
    unsigned                         read_blocked:1;
    unsigned                         want_drain:1;
    unsigned                         last_words:1;  /* in closing_handler */
    unsigned                         in_read:1;
};


ngx_int_t ngx_http_pubsub_ws_handshake(ngx_http_request_t *r);
ngx_int_t ngx_http_pubsub_ws_upgrade_required(ngx_http_request_t *r);
ngx_int_t ngx_http_pubsub_ws_accept(ngx_http_request_t *r);
ngx_http_pubsub_ws_t *ngx_http_pubsub_ws_create(ngx_http_request_t *r);
void ngx_http_pubsub_ws_start(ngx_http_pubsub_ws_t *ws);
ngx_http_pubsub_ws_t *ngx_http_pubsub_ws_get(ngx_http_request_t *r);
ngx_uint_t ngx_http_pubsub_ws_open(void);

ngx_chain_t *ngx_http_pubsub_ws_alloc_frame(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t opcode, size_t len);
ngx_chain_t *ngx_http_pubsub_ws_alloc_shared(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t opcode, size_t prefix, ngx_http_pubsub_ws_piece_t *pieces,
    ngx_uint_t n, size_t len);
ngx_int_t ngx_http_pubsub_ws_send(ngx_http_pubsub_ws_t *ws, ngx_chain_t *cl);
void ngx_http_pubsub_ws_free_chain(ngx_chain_t *cl);
size_t ngx_http_pubsub_ws_room(ngx_http_pubsub_ws_t *ws);
ngx_uint_t ngx_http_pubsub_ws_idle(ngx_http_pubsub_ws_t *ws);
ngx_uint_t ngx_http_pubsub_ws_backed_up(ngx_http_pubsub_ws_t *ws);
void ngx_http_pubsub_ws_want_drain(ngx_http_pubsub_ws_t *ws);
void ngx_http_pubsub_ws_close(ngx_http_pubsub_ws_t *ws, ngx_uint_t status,
    const char *reason);
void ngx_http_pubsub_ws_expire_at(ngx_http_pubsub_ws_t *ws,
    ngx_msec_t after);


/* for the layer's own files */

void ngx_http_pubsub_ws_queue(ngx_http_pubsub_ws_t *ws, ngx_chain_t *cl);
void ngx_http_pubsub_ws_send_control(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t opcode, u_char *data, size_t len);
void ngx_http_pubsub_ws_close_frame(ngx_http_pubsub_ws_t *ws,
    ngx_uint_t status, const char *reason);
ngx_int_t ngx_http_pubsub_ws_flush(ngx_http_pubsub_ws_t *ws);
void ngx_http_pubsub_ws_fail(ngx_http_pubsub_ws_t *ws);


extern ngx_module_t  ngx_http_pubsub_ws_module;


static ngx_inline void
ngx_http_pubsub_ws_unshare(ngx_http_pubsub_ws_shared_t *sh)
{
    if (--sh->refs == 0) {
        sh->release(sh);
    }
}


#endif /* _NGX_HTTP_PUBSUB_WEBSOCKET_H_INCLUDED_ */
