
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Protocol buffers: a PubSubReq walked against the schema, then decoded by
 * protobuf-c; KafkaMessage records and answer headers written by hand from
 * bytes already in memory, where protobuf-c would copy them.  No nginx
 * state, no I/O.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_codec.h"


/* what read_varint() returned, as a fault */
#define ngx_http_pubsub_pb_fault(rc)                                          \
    ((rc) == NGX_ERROR ? NGX_HTTP_PUBSUB_PB_LONG_VARINT                       \
                       : NGX_HTTP_PUBSUB_PB_CUT)


/* deeper than any message of the protocol */
#define NGX_HTTP_PUBSUB_PB_DEPTH  8


static ngx_int_t ngx_http_pubsub_check_message(
    ngx_http_pubsub_pb_check_t *chk, const ProtobufCMessageDescriptor *desc,
    u_char *p, u_char *last, const char *path, ngx_uint_t depth);
static ngx_int_t ngx_http_pubsub_read_key(ngx_http_pubsub_pb_check_t *chk,
    u_char **pp, u_char *last, const char *path, uint64_t *key);
static ngx_int_t ngx_http_pubsub_read_value(ngx_http_pubsub_pb_check_t *chk,
    u_char **pp, u_char *last, const char *path, ngx_uint_t type,
    uint64_t *size, uint64_t *value);
static ngx_int_t ngx_http_pubsub_check_len(ngx_http_pubsub_pb_check_t *chk,
    const ProtobufCFieldDescriptor *field, ngx_uint_t want, u_char *start,
    u_char *end, const char *path, ngx_uint_t depth);
static ngx_int_t ngx_http_pubsub_check_fault(ngx_http_pubsub_pb_check_t *chk,
    const char *path, ngx_uint_t fault);
static u_char *ngx_http_pubsub_path_add(u_char *p, u_char *last,
    const char *name);
static ngx_uint_t ngx_http_pubsub_wire_type(
    const ProtobufCFieldDescriptor *field);
static ngx_int_t ngx_http_pubsub_check_utf8(u_char *p, u_char *last);
static ngx_int_t ngx_http_pubsub_read_varint(u_char **pos, u_char *last,
    uint64_t *v);
static size_t ngx_http_pubsub_bytes_size(ngx_uint_t len);
static u_char *ngx_http_pubsub_write_bytes(u_char *p, ngx_uint_t field,
    u_char *data, size_t len);
static size_t ngx_http_pubsub_header_size(ngx_http_pubsub_pb_header_t *h);
static size_t ngx_http_pubsub_record_body(ngx_http_pubsub_pb_record_t *rec);


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


/*
 * protobuf-c says only that bytes are not a PubSubReq, and checks nothing
 * in strings: a NUL byte would cut a name short, and bytes that are not
 * UTF-8 would reach Kafka and the logs.  Before decoding, this walks the
 * wire format against the descriptors protobuf-c generated, as strictly as
 * protobuf-c reads it: it keeps the sequence and the command while it can,
 * and returns NGX_DECLINED at the first fault, at any depth, which it
 * describes in chk for the error answer.
 */

ngx_int_t
ngx_http_pubsub_check_req(u_char *data, size_t len,
    ngx_http_pubsub_pb_check_t *chk)
{
    ngx_int_t  rc;

    ngx_memzero(chk, sizeof(ngx_http_pubsub_pb_check_t));

    rc = ngx_http_pubsub_check_message(chk, &pub_sub_req__descriptor,
                                       data, data + len,
                                       pub_sub_req__descriptor.short_name, 0);

    if (rc == NGX_OK) {
        chk->field = 0;
        chk->name = NULL;
    }

    return rc;
}


static ngx_int_t
ngx_http_pubsub_check_message(ngx_http_pubsub_pb_check_t *chk,
    const ProtobufCMessageDescriptor *desc, u_char *p, u_char *last,
    const char *path, ngx_uint_t depth)
{
    u_char                          *start;
    uint64_t                         key, size, value;
    ngx_uint_t                       type, want, num;
    const ProtobufCFieldDescriptor  *field;

    while (p < last) {

        chk->field = 0;
        chk->name = NULL;

        if (ngx_http_pubsub_read_key(chk, &p, last, path, &key) != NGX_OK) {
            return NGX_DECLINED;
        }

        num = (ngx_uint_t) (key >> 3);
        type = (ngx_uint_t) (key & 7);

        field = protobuf_c_message_descriptor_get_field(desc, (unsigned) num);

        chk->field = num;
        chk->name = field ? field->name : NULL;
        chk->wire = type;

        if (ngx_http_pubsub_read_value(chk, &p, last, path, type, &size,
                                       &value)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }

        start = p;
        p += size;

        if (field == NULL) {
            continue;
        }

        if (depth == 0 && (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
            chk->command = num;
        }

        want = ngx_http_pubsub_wire_type(field);

        if (type != want
            && !(type == NGX_HTTP_PUBSUB_PB_LEN
                 && field->label == PROTOBUF_C_LABEL_REPEATED))
        {
            chk->want = want;
            return ngx_http_pubsub_check_fault(chk, path,
                                               NGX_HTTP_PUBSUB_PB_WIRE_TYPE);
        }

        if (type != NGX_HTTP_PUBSUB_PB_LEN) {
            if (depth == 0 && num == 1) {
                chk->sequence = (int64_t) value;
            }

            continue;
        }

        if (ngx_http_pubsub_check_len(chk, field, want, start, p, path, depth)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* a field's key: at most 5 bytes, as protobuf-c reads it, and not 0 */

static ngx_int_t
ngx_http_pubsub_read_key(ngx_http_pubsub_pb_check_t *chk, u_char **pp,
    u_char *last, const char *path, uint64_t *key)
{
    u_char     *start;
    ngx_int_t   rc;

    start = *pp;

    rc = ngx_http_pubsub_read_varint(pp, last, key);
    if (rc != NGX_OK) {
        return ngx_http_pubsub_check_fault(chk, path,
                                           ngx_http_pubsub_pb_fault(rc));
    }

    if (*pp - start > 5) {
        return ngx_http_pubsub_check_fault(chk, path,
                                           NGX_HTTP_PUBSUB_PB_LONG_KEY);
    }

    if ((*key >> 3) == 0) {
        return ngx_http_pubsub_check_fault(chk, path,
                                           NGX_HTTP_PUBSUB_PB_FIELD_ZERO);
    }

    return NGX_OK;
}


/*
 * A field's value of wire type "type": a varint is read into *value, the
 * others leave in *size how many bytes follow, all within the message
 */

static ngx_int_t
ngx_http_pubsub_read_value(ngx_http_pubsub_pb_check_t *chk, u_char **pp,
    u_char *last, const char *path, ngx_uint_t type, uint64_t *size,
    uint64_t *value)
{
    u_char     *start;
    ngx_int_t   rc;

    *size = 0;
    *value = 0;

    switch (type) {

    case NGX_HTTP_PUBSUB_PB_VARINT:
        rc = ngx_http_pubsub_read_varint(pp, last, value);
        break;

    case NGX_HTTP_PUBSUB_PB_I64:
        rc = NGX_OK;
        *size = 8;
        break;

    case NGX_HTTP_PUBSUB_PB_I32:
        rc = NGX_OK;
        *size = 4;
        break;

    case NGX_HTTP_PUBSUB_PB_LEN:
        start = *pp;

        rc = ngx_http_pubsub_read_varint(pp, last, size);

        if (rc == NGX_OK && *pp - start > 5) {
            return ngx_http_pubsub_check_fault(chk, path,
                                              NGX_HTTP_PUBSUB_PB_LONG_LENGTH);
        }

        break;

    default:
        chk->want = NGX_HTTP_PUBSUB_PB_NONE;
        return ngx_http_pubsub_check_fault(chk, path,
                                           NGX_HTTP_PUBSUB_PB_WIRE_TYPE);
    }

    if (rc != NGX_OK || *size > (uint64_t) (last - *pp)) {
        return ngx_http_pubsub_check_fault(chk, path,
                                           ngx_http_pubsub_pb_fault(rc));
    }

    return NGX_OK;
}


/*
 * The bytes of a length-delimited field: a string, a message (checked in
 * turn, to NGX_HTTP_PUBSUB_PB_DEPTH), bytes, or packed scalars
 */

static ngx_int_t
ngx_http_pubsub_check_len(ngx_http_pubsub_pb_check_t *chk,
    const ProtobufCFieldDescriptor *field, ngx_uint_t want, u_char *start,
    u_char *end, const char *path, ngx_uint_t depth)
{
    u_char                            *q;
    uint64_t                           v;
    ngx_int_t                          rc;
    const char                        *s;
    const ProtobufCMessageDescriptor  *sub;
    u_char                             where[NGX_HTTP_PUBSUB_PB_PATH];

    switch (field->type) {

    case PROTOBUF_C_TYPE_STRING:
        if (ngx_strlchr(start, end, '\0') != NULL) {
            return ngx_http_pubsub_check_fault(chk, path,
                                               NGX_HTTP_PUBSUB_PB_NUL);
        }

        if (ngx_http_pubsub_check_utf8(start, end) != NGX_OK) {
            return ngx_http_pubsub_check_fault(chk, path,
                                               NGX_HTTP_PUBSUB_PB_NOT_UTF8);
        }

        return NGX_OK;

    case PROTOBUF_C_TYPE_MESSAGE:
        sub = field->descriptor;

        if (depth == NGX_HTTP_PUBSUB_PB_DEPTH) {
            return ngx_http_pubsub_check_fault(chk, path,
                                               NGX_HTTP_PUBSUB_PB_TOO_DEEP);
        }

        /* below PubSubReq, paths start at the command's name */

        if (depth == 0) {
            s = sub->short_name;

        } else {
            q = ngx_http_pubsub_path_add(where, where + sizeof(where) - 1,
                                         path);
            *q++ = '.';
            q = ngx_http_pubsub_path_add(q, where + sizeof(where) - 1,
                                         field->name);
            *q = '\0';
            s = (char *) where;
        }

        return ngx_http_pubsub_check_message(chk, sub, start, end, s,
                                             depth + 1);

    case PROTOBUF_C_TYPE_BYTES:
        return NGX_OK;

    default:
        /* packed scalars */

        if (want == NGX_HTTP_PUBSUB_PB_VARINT) {
            while (start < end) {
                rc = ngx_http_pubsub_read_varint(&start, end, &v);
                if (rc != NGX_OK) {
                    return ngx_http_pubsub_check_fault(chk, path,
                                                 ngx_http_pubsub_pb_fault(rc));
                }
            }

        } else if ((end - start) % (want == NGX_HTTP_PUBSUB_PB_I64 ? 8 : 4)) {
            return ngx_http_pubsub_check_fault(chk, path,
                                               NGX_HTTP_PUBSUB_PB_CUT);
        }

        return NGX_OK;
    }
}


static ngx_int_t
ngx_http_pubsub_check_fault(ngx_http_pubsub_pb_check_t *chk,
    const char *path, ngx_uint_t fault)
{
    u_char  *p;

    p = ngx_http_pubsub_path_add(chk->path,
                                 chk->path + sizeof(chk->path) - 1, path);
    *p = '\0';

    chk->fault = fault;

    return NGX_DECLINED;
}


/* copies a NUL-terminated name, cut at last */

static u_char *
ngx_http_pubsub_path_add(u_char *p, u_char *last, const char *name)
{
    while (*name && p < last) {
        *p++ = (u_char) *name++;
    }

    return p;
}


/* the wire type a field is sent with (repeated scalars may be packed) */

static ngx_uint_t
ngx_http_pubsub_wire_type(const ProtobufCFieldDescriptor *field)
{
    switch (field->type) {

    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_ENUM:
        return NGX_HTTP_PUBSUB_PB_VARINT;

    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return NGX_HTTP_PUBSUB_PB_I32;

    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return NGX_HTTP_PUBSUB_PB_I64;

    default:
        return NGX_HTTP_PUBSUB_PB_LEN;
    }
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


/* UTF-8 without NUL, overlong forms, surrogates or code points > U+10FFFF */

static ngx_int_t
ngx_http_pubsub_check_utf8(u_char *p, u_char *last)
{
    u_char      c;
    uint32_t    u, min;
    ngx_uint_t  n;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            if (c == '\0') {
                return NGX_ERROR;
            }

            continue;
        }

        if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            u = c & 0x07;
            min = 0x10000;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            u = c & 0x0f;
            min = 0x800;

        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            u = c & 0x1f;
            min = 0x80;

        } else {
            return NGX_ERROR;
        }

        if ((size_t) (last - p) < n) {
            return NGX_ERROR;
        }

        while (n--) {
            c = *p++;

            if ((c & 0xc0) != 0x80) {
                return NGX_ERROR;
            }

            u = (u << 6) | (c & 0x3f);
        }

        if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* NGX_AGAIN: the bytes end inside it; NGX_ERROR: over 10 bytes */

static ngx_int_t
ngx_http_pubsub_read_varint(u_char **pos, u_char *last, uint64_t *v)
{
    u_char      *p;
    uint64_t     value;
    ngx_uint_t   shift;

    p = *pos;
    value = 0;

    for (shift = 0; shift < 64; shift += 7) {
        if (p == last) {
            return NGX_AGAIN;
        }

        value |= (uint64_t) (*p & 0x7f) << shift;

        if ((*p++ & 0x80) == 0) {
            *pos = p;
            *v = value;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


/*
 * A KafkaMessage as one "repeated KafkaMessage messages = 1" entry of a
 * KafkaFetchResp: its size, then its bytes.  Fields with their default
 * value are left out, as proto3 does; a timestamp of -1 (the record has
 * none) is an int64 like any other, as APISIX sends it.
 */

size_t
ngx_http_pubsub_record_size(ngx_http_pubsub_pb_record_t *rec)
{
    size_t  len;

    len = ngx_http_pubsub_record_body(rec);

    return 1 + ngx_http_pubsub_varint_size(len) + len;
}


/* the size of a KafkaMessage's fields */

static size_t
ngx_http_pubsub_record_body(ngx_http_pubsub_pb_record_t *rec)
{
    size_t      len;
    ngx_uint_t  i;

    len = 0;

    if (rec->offset) {
        len += 1 + ngx_http_pubsub_varint_size((uint64_t) rec->offset);
    }

    if (rec->timestamp) {
        len += 1 + ngx_http_pubsub_varint_size((uint64_t) rec->timestamp);
    }

    len += ngx_http_pubsub_bytes_size(rec->key_len);
    len += ngx_http_pubsub_bytes_size(rec->value_len);

    for (i = 0; i < rec->nheaders; i++) {
        len += 1 + ngx_http_pubsub_varint_size(
                       ngx_http_pubsub_header_size(&rec->headers[i]))
               + ngx_http_pubsub_header_size(&rec->headers[i]);
    }

    if (rec->partition) {
        len += 1 + ngx_http_pubsub_varint_size(
                       (uint64_t) (int64_t) rec->partition);
    }

    return len;
}


u_char *
ngx_http_pubsub_record_write(u_char *p, ngx_http_pubsub_pb_record_t *rec,
    ngx_http_pubsub_pb_layout_t *layout)
{
    size_t                        len;
    ngx_uint_t                    i;
    ngx_http_pubsub_pb_header_t  *h;

    len = ngx_http_pubsub_record_body(rec);

    *p++ = ngx_http_pubsub_pb_tag(1, NGX_HTTP_PUBSUB_PB_LEN);
    p = ngx_http_pubsub_write_varint(p, len);

    if (rec->offset) {
        *p++ = ngx_http_pubsub_pb_tag(1, NGX_HTTP_PUBSUB_PB_VARINT);
        p = ngx_http_pubsub_write_varint(p, (uint64_t) rec->offset);
    }

    if (rec->timestamp) {
        *p++ = ngx_http_pubsub_pb_tag(2, NGX_HTTP_PUBSUB_PB_VARINT);
        p = ngx_http_pubsub_write_varint(p, (uint64_t) rec->timestamp);
    }

    p = ngx_http_pubsub_write_bytes(p, 3, rec->key, rec->key_len);

    layout->key = p - rec->key_len;
    layout->key_len = rec->key_len;

    p = ngx_http_pubsub_write_bytes(p, 4, rec->value, rec->value_len);

    layout->headers = p;

    for (i = 0; i < rec->nheaders; i++) {
        h = &rec->headers[i];

        *p++ = ngx_http_pubsub_pb_tag(5, NGX_HTTP_PUBSUB_PB_LEN);
        p = ngx_http_pubsub_write_varint(p, ngx_http_pubsub_header_size(h));
        p = ngx_http_pubsub_write_bytes(p, 1, h->key, h->key_len);
        p = ngx_http_pubsub_write_bytes(p, 2, h->value, h->value_len);
    }

    layout->headers_len = p - layout->headers;

    if (rec->partition) {
        *p++ = ngx_http_pubsub_pb_tag(6, NGX_HTTP_PUBSUB_PB_VARINT);
        p = ngx_http_pubsub_write_varint(p,
                                         (uint64_t) (int64_t) rec->partition);
    }

    return p;
}


/*
 * The next header of the headers region that ngx_http_pubsub_record_write()
 * reported: NGX_OK, or NGX_DONE at its end.
 */

ngx_int_t
ngx_http_pubsub_record_header(u_char **pos, u_char *last,
    ngx_http_pubsub_pb_header_t *h)
{
    u_char    *p, *end;
    uint64_t   key, size;

    p = *pos;

    if (p >= last) {
        return NGX_DONE;
    }

    ngx_memzero(h, sizeof(ngx_http_pubsub_pb_header_t));

    if (ngx_http_pubsub_read_varint(&p, last, &key) != NGX_OK
        || ngx_http_pubsub_read_varint(&p, last, &size) != NGX_OK
        || size > (uint64_t) (last - p))
    {
        return NGX_ERROR;
    }

    end = p + size;

    while (p < end) {
        if (ngx_http_pubsub_read_varint(&p, end, &key) != NGX_OK
            || ngx_http_pubsub_read_varint(&p, end, &size) != NGX_OK
            || size > (uint64_t) (end - p))
        {
            return NGX_ERROR;
        }

        if (key == ngx_http_pubsub_pb_tag(1, NGX_HTTP_PUBSUB_PB_LEN)) {
            h->key = p;
            h->key_len = size;

        } else {
            h->value = p;
            h->value_len = size;
        }

        p += size;
    }

    *pos = end;

    return NGX_OK;
}


static size_t
ngx_http_pubsub_bytes_size(ngx_uint_t len)
{
    return len ? 1 + ngx_http_pubsub_varint_size(len) + len : 0;
}


static u_char *
ngx_http_pubsub_write_bytes(u_char *p, ngx_uint_t field, u_char *data,
    size_t len)
{
    if (len == 0) {
        return p;
    }

    *p++ = ngx_http_pubsub_pb_tag(field, NGX_HTTP_PUBSUB_PB_LEN);
    p = ngx_http_pubsub_write_varint(p, len);

    return ngx_cpymem(p, data, len);
}


static size_t
ngx_http_pubsub_header_size(ngx_http_pubsub_pb_header_t *h)
{
    return ngx_http_pubsub_bytes_size(h->key_len)
           + ngx_http_pubsub_bytes_size(h->value_len);
}
