
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_WS_FRAME_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_WS_FRAME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * RFC 6455 frame parsing and frame header writing as plain functions over
 * bytes: no allocation, no I/O, no nginx runtime calls, so unit tests and
 * fuzzers link this file alone.
 */


#define NGX_HTTP_PUBSUB_WS_CONT          0x0
#define NGX_HTTP_PUBSUB_WS_TEXT          0x1
#define NGX_HTTP_PUBSUB_WS_BINARY        0x2
#define NGX_HTTP_PUBSUB_WS_CLOSE         0x8
#define NGX_HTTP_PUBSUB_WS_PING          0x9
#define NGX_HTTP_PUBSUB_WS_PONG          0xa

#define NGX_HTTP_PUBSUB_WS_CONTROL_MAX   125
#define NGX_HTTP_PUBSUB_WS_HEADER_MAX    10

#define NGX_HTTP_PUBSUB_WS_NORMAL        1000
#define NGX_HTTP_PUBSUB_WS_GOING_AWAY    1001
#define NGX_HTTP_PUBSUB_WS_PROTOCOL      1002
#define NGX_HTTP_PUBSUB_WS_NO_STATUS     1005   /* never on the wire */
#define NGX_HTTP_PUBSUB_WS_POLICY        1008
#define NGX_HTTP_PUBSUB_WS_TOO_BIG       1009
#define NGX_HTTP_PUBSUB_WS_INTERNAL      1011

/* ngx_http_pubsub_ws_parse() returns NGX_AGAIN, NGX_ERROR or this */
#define NGX_HTTP_PUBSUB_WS_DATA          1


typedef struct {
    /* settings */
    uint64_t                 max_message;

    /* results of the last NGX_HTTP_PUBSUB_WS_DATA */
    u_char                  *data;          /* unmasked payload chunk */
    size_t                   len;
    ngx_uint_t               opcode;        /* of the current frame */
    ngx_uint_t               message_opcode;    /* text or binary */

    /* results of NGX_ERROR */
    ngx_uint_t               status;        /* close code to send */
    const char              *error;         /* for the log */

    /* state */
    ngx_uint_t               state;
    uint64_t                 left;          /* payload bytes still to come */
    uint64_t                 message_len;   /* data bytes of the message */
    ngx_uint_t               hlen;          /* header bytes still needed */
    u_char                   header[14];
    ngx_uint_t               hpos;
    u_char                   mask[4];
    ngx_uint_t               mask_pos;

    unsigned                 fin:1;
    unsigned                 in_message:1;  /* a fragmented message is open */
    unsigned                 frame_done:1;  /* last chunk of the frame */
    unsigned                 message_done:1;    /* and of the message */
} ngx_http_pubsub_ws_parser_t;


void ngx_http_pubsub_ws_parser_init(ngx_http_pubsub_ws_parser_t *p,
    uint64_t max_message);
ngx_int_t ngx_http_pubsub_ws_parse(ngx_http_pubsub_ws_parser_t *p,
    u_char **pos, u_char *last);
size_t ngx_http_pubsub_ws_header_size(uint64_t len);
u_char *ngx_http_pubsub_ws_write_header(u_char *p, ngx_uint_t opcode,
    uint64_t len);
ngx_uint_t ngx_http_pubsub_ws_close_status_valid(ngx_uint_t status);


#endif /* _NGX_HTTP_PUBSUB_WS_FRAME_H_INCLUDED_ */
