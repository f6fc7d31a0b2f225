
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_CODEC_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_CODEC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "pubsub.pb-c.h"


/*
 * PubSubReq decoding and the protobuf wire encoding of responses written
 * without building message trees (the KafkaMessage entries that backends
 * encode once for many clients): plain functions over bytes, linked alone
 * by the unit tests and fuzzers.  Field numbers of proto/pubsub.proto live
 * here and in the generated code only.
 */


#define NGX_HTTP_PUBSUB_PB_VARINT        0
#define NGX_HTTP_PUBSUB_PB_I64           1
#define NGX_HTTP_PUBSUB_PB_LEN           2
#define NGX_HTTP_PUBSUB_PB_I32           5

#define NGX_HTTP_PUBSUB_PB_NONE          8   /* no wire type fits */

/* "CmdKafkaSubscribe.filter.headers" and the like */
#define NGX_HTTP_PUBSUB_PB_PATH          128


/* faults of a request, found by ngx_http_pubsub_check_req() */

#define NGX_HTTP_PUBSUB_PB_OK            0
#define NGX_HTTP_PUBSUB_PB_CUT           1   /* ends inside a field */
#define NGX_HTTP_PUBSUB_PB_LONG_VARINT   2   /* a varint over 10 bytes */
#define NGX_HTTP_PUBSUB_PB_LONG_KEY      3   /* a field key over 5 bytes */
#define NGX_HTTP_PUBSUB_PB_LONG_LENGTH   4   /* a length over 5 bytes */
#define NGX_HTTP_PUBSUB_PB_FIELD_ZERO    5   /* field number 0 */
#define NGX_HTTP_PUBSUB_PB_WIRE_TYPE     6   /* wire type wire, not want */
#define NGX_HTTP_PUBSUB_PB_TOO_DEEP      7   /* nested too deeply */
#define NGX_HTTP_PUBSUB_PB_NUL           8   /* a string with a NUL byte */
#define NGX_HTTP_PUBSUB_PB_NOT_UTF8      9   /* a string not UTF-8 */

#define ngx_http_pubsub_pb_tag(field, type)  (((field) << 3) | (type))


typedef struct {
    u_char                  *key;
    size_t                   key_len;
    u_char                  *value;
    size_t                   value_len;
} ngx_http_pubsub_pb_header_t;


/* what ngx_http_pubsub_check_req() read of a request, and its fault */

typedef struct {
    int64_t                  sequence;
    ngx_uint_t               command;       /* the oneof member's number */

    ngx_uint_t               fault;
    ngx_uint_t               field;         /* its number, 0: the message */
    const char              *name;          /* its name, NULL: unknown */
    ngx_uint_t               wire;
    ngx_uint_t               want;
    u_char                   path[NGX_HTTP_PUBSUB_PB_PATH];  /* message */
} ngx_http_pubsub_pb_check_t;


/* a KafkaMessage to encode */

typedef struct {
    int64_t                       offset;
    int64_t                       timestamp;
    u_char                       *key;
    size_t                        key_len;
    u_char                       *value;
    size_t                        value_len;
    ngx_http_pubsub_pb_header_t  *headers;
    ngx_uint_t                    nheaders;
    int32_t                       partition;
} ngx_http_pubsub_pb_record_t;


/* where the key and the headers are in an encoded record, for filters */

typedef struct {
    u_char                  *key;
    size_t                   key_len;
    u_char                  *headers;       /* KafkaHeader entries */
    size_t                   headers_len;
} ngx_http_pubsub_pb_layout_t;


PubSubReq *ngx_http_pubsub_decode_req(u_char *data, size_t len);
void ngx_http_pubsub_free_req(PubSubReq *req);
ngx_int_t ngx_http_pubsub_check_req(u_char *data, size_t len,
    ngx_http_pubsub_pb_check_t *chk);

size_t ngx_http_pubsub_varint_size(uint64_t v);
u_char *ngx_http_pubsub_write_varint(u_char *p, uint64_t v);

size_t ngx_http_pubsub_resp_header_size(int64_t sequence, ngx_uint_t field,
    size_t len);
u_char *ngx_http_pubsub_resp_write_header(u_char *p, int64_t sequence,
    ngx_uint_t field, size_t len);

size_t ngx_http_pubsub_record_size(ngx_http_pubsub_pb_record_t *rec);
u_char *ngx_http_pubsub_record_write(u_char *p,
    ngx_http_pubsub_pb_record_t *rec, ngx_http_pubsub_pb_layout_t *layout);
ngx_int_t ngx_http_pubsub_record_header(u_char **pos, u_char *last,
    ngx_http_pubsub_pb_header_t *h);


#endif /* _NGX_HTTP_PUBSUB_CODEC_H_INCLUDED_ */
