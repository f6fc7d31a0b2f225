
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_CODEC_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_CODEC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "pubsub.pb-c.h"


/*
 * PubSubReq decoding and the protobuf wire primitives used to write
 * responses without building message trees: plain functions over bytes,
 * linked alone by the unit tests and fuzzers.
 */


#define NGX_HTTP_PUBSUB_PB_VARINT        0
#define NGX_HTTP_PUBSUB_PB_LEN           2

#define ngx_http_pubsub_pb_tag(field, type)  (((field) << 3) | (type))


PubSubReq *ngx_http_pubsub_decode_req(u_char *data, size_t len);
void ngx_http_pubsub_free_req(PubSubReq *req);

size_t ngx_http_pubsub_varint_size(uint64_t v);
u_char *ngx_http_pubsub_write_varint(u_char *p, uint64_t v);

size_t ngx_http_pubsub_resp_header_size(int64_t sequence, ngx_uint_t field,
    size_t len);
u_char *ngx_http_pubsub_resp_write_header(u_char *p, int64_t sequence,
    ngx_uint_t field, size_t len);


#endif /* _NGX_HTTP_PUBSUB_CODEC_H_INCLUDED_ */
