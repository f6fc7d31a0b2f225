
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
#define NGX_HTTP_PUBSUB_PB_LEN           2

#define ngx_http_pubsub_pb_tag(field, type)  (((field) << 3) | (type))


typedef struct {
    u_char                  *key;
    size_t                   key_len;
    u_char                  *value;
    size_t                   value_len;
} ngx_http_pubsub_pb_header_t;


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
ngx_int_t ngx_http_pubsub_check_strings(u_char *data, size_t len);

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
