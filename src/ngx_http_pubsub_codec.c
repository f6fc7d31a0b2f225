
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_codec.h"


/*
 * Returns NULL for bytes that are not a PubSubReq.  The caller has bounded
 * len already (pubsub_max_message_size): unpacking allocates in proportion
 * to the input.
 */

PubSubReq *
ngx_http_pubsub_decode_req(u_char *data, size_t len)
{
    return pub_sub_req__unpack(NULL, len, data);
}


void
ngx_http_pubsub_free_req(PubSubReq *req)
{
    pub_sub_req__free_unpacked(req, NULL);
}


size_t
ngx_http_pubsub_varint_size(uint64_t v)
{
    size_t  n;

    n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }

    return n;
}


u_char *
ngx_http_pubsub_write_varint(u_char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (u_char) (v | 0x80);
        v >>= 7;
    }

    *p++ = (u_char) v;

    return p;
}


/*
 * The head of a PubSubResp whose oneof member "field" is a message of len
 * bytes: the sequence (omitted when 0, as proto3 does), the member's tag and
 * its length.  The member's bytes follow.
 */

size_t
ngx_http_pubsub_resp_header_size(int64_t sequence, ngx_uint_t field,
    size_t len)
{
    size_t  n;

    n = 0;

    if (sequence != 0) {
        n += 1 + ngx_http_pubsub_varint_size((uint64_t) sequence);
    }

    n += ngx_http_pubsub_varint_size(
             ngx_http_pubsub_pb_tag(field, NGX_HTTP_PUBSUB_PB_LEN));

    return n + ngx_http_pubsub_varint_size(len);
}


u_char *
ngx_http_pubsub_resp_write_header(u_char *p, int64_t sequence,
    ngx_uint_t field, size_t len)
{
    if (sequence != 0) {
        *p++ = ngx_http_pubsub_pb_tag(1, NGX_HTTP_PUBSUB_PB_VARINT);
        p = ngx_http_pubsub_write_varint(p, (uint64_t) sequence);
    }

    p = ngx_http_pubsub_write_varint(p,
            ngx_http_pubsub_pb_tag(field, NGX_HTTP_PUBSUB_PB_LEN));

    return ngx_http_pubsub_write_varint(p, len);
}
