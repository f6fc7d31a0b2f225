
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * libFuzzer target: the codec's writers, as backends use them for
 * KafkaFetchResp answers written without message trees.
 *
 *   8 bytes  the response's sequence
 *   1 byte   how many records (low 2 bits, + 1)
 *   per record:
 *     1 byte   which of offset, timestamp, partition follow (bits 0-2)
 *     8, 8, 4  those, big-endian
 *     1 byte   key length, the key
 *     2 bytes  value length, the value
 *     1 byte   headers (low 2 bits), each: 1 byte key length, the key,
 *              1 byte value length, the value
 *   the rest: bytes for ngx_http_pubsub_record_header() to walk
 *
 * The records are written behind ngx_http_pubsub_resp_write_header():
 * sizes must be what the writers write, each layout must point at the
 * record's key and headers, record_header() must give back every header,
 * and protobuf-c must decode the whole as a PubSubResp with those very
 * records.  The rest of the input is walked as a headers region: every
 * header found lies inside it.  And varint_size() agrees with
 * write_varint() for the numbers of the input.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>

#include "ngx_http_pubsub_codec.h"


/* a broken promise: where, then abort() for the fuzzer */

static void __attribute__((noreturn))
fuzz_fail(int line)
{
    fprintf(stderr, "%s:%d: check failed\n", __FILE__, line);
    abort();
}


#define FUZZ_RECORDS  4
#define FUZZ_HEADERS  3


typedef struct {
    const u_char                 *p;
    const u_char                 *end;
} fuzz_input_t;


static uint64_t
fuzz_int(fuzz_input_t *in, size_t n)
{
    uint64_t  v;

    for (v = 0; n; n--) {
        v = (v << 8) | (in->p < in->end ? *in->p++ : 0);
    }

    return v;
}


static u_char *
fuzz_bytes(fuzz_input_t *in, size_t *len)
{
    const u_char  *p;

    *len = ngx_min(*len, (size_t) (in->end - in->p));
    p = in->p;
    in->p += *len;

    return (u_char *) p;
}


static ngx_uint_t
fuzz_same(const u_char *a, size_t alen, const u_char *b, size_t blen)
{
    return alen == blen && (alen == 0 || ngx_memcmp(a, b, alen) == 0);
}


static void
fuzz_varints(fuzz_input_t *in)
{
    u_char    buf[16], *p;
    uint64_t  v;

    while (in->end - in->p >= 8) {
        v = fuzz_int(in, 8);
        v >>= in->p[-1] & 0x3f;

        buf[10] = 0xee;
        p = ngx_http_pubsub_write_varint(buf, v);

        if ((size_t) (p - buf) != ngx_http_pubsub_varint_size(v)
            || p - buf > 10 || buf[10] != 0xee || (p[-1] & 0x80))
        {
            fuzz_fail(__LINE__);
        }
    }
}


static void
fuzz_headers_region(const u_char *data, size_t size)
{
    u_char                       *region, *pos, *last, *before;
    ngx_int_t                     rc;
    ngx_uint_t                    n;
    ngx_http_pubsub_pb_header_t   h;

    region = malloc(size ? size : 1);
    if (region == NULL) {
        return;
    }

    ngx_memcpy(region, data, size);

    pos = region;
    last = region + size;

    for (n = 0; ; n++) {
        before = pos;
        rc = ngx_http_pubsub_record_header(&pos, last, &h);

        if (rc != NGX_OK) {
            if ((rc != NGX_DONE && rc != NGX_ERROR)
                || (rc == NGX_DONE && pos != last))
            {
                fuzz_fail(__LINE__);
            }

            break;
        }

        if (pos <= before || pos > last
            || (h.key && (h.key < before || h.key + h.key_len > pos))
            || (h.value && (h.value < before || h.value + h.value_len > pos))
            || (!h.key && h.key_len) || (!h.value && h.value_len))
        {
            fuzz_fail(__LINE__);
        }

        if (n > size) {
            fuzz_fail(__LINE__);
        }
    }

    free(region);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                       *buf, *p, *q, *hp;
    size_t                        total, hsize, len;
    int64_t                       sequence;
    ngx_int_t                     rc;
    ngx_uint_t                    i, j, n, which;
    fuzz_input_t                  in;
    PubSubResp                   *resp;
    KafkaMessage                 *m;
    ngx_http_pubsub_pb_header_t   got;
    ngx_http_pubsub_pb_layout_t   layout;
    ngx_http_pubsub_pb_record_t   rec[FUZZ_RECORDS];
    ngx_http_pubsub_pb_header_t   hdr[FUZZ_RECORDS][FUZZ_HEADERS];

    in.p = data;
    in.end = data + size;

    sequence = (int64_t) fuzz_int(&in, 8);
    n = (fuzz_int(&in, 1) & 3) + 1;

    ngx_memzero(rec, sizeof(rec));
    total = 0;

    for (i = 0; i < n; i++) {
        which = (ngx_uint_t) fuzz_int(&in, 1);

        if (which & 1) {
            rec[i].offset = (int64_t) fuzz_int(&in, 8);
        }

        if (which & 2) {
            rec[i].timestamp = (int64_t) fuzz_int(&in, 8);
        }

        if (which & 4) {
            rec[i].partition = (int32_t) (uint32_t) fuzz_int(&in, 4);
        }

        rec[i].key_len = (size_t) fuzz_int(&in, 1);
        rec[i].key = fuzz_bytes(&in, &rec[i].key_len);
        rec[i].value_len = (size_t) fuzz_int(&in, 2);
        rec[i].value = fuzz_bytes(&in, &rec[i].value_len);

        rec[i].nheaders = (ngx_uint_t) (fuzz_int(&in, 1) & 3);
        rec[i].nheaders = ngx_min(rec[i].nheaders, FUZZ_HEADERS);
        rec[i].headers = hdr[i];

        for (j = 0; j < rec[i].nheaders; j++) {
            hdr[i][j].key_len = (size_t) fuzz_int(&in, 1);
            hdr[i][j].key = fuzz_bytes(&in, &hdr[i][j].key_len);
            hdr[i][j].value_len = (size_t) fuzz_int(&in, 1);
            hdr[i][j].value = fuzz_bytes(&in, &hdr[i][j].value_len);
        }

        total += ngx_http_pubsub_record_size(&rec[i]);
    }

    hsize = ngx_http_pubsub_resp_header_size(sequence,
                                           PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                           total);

    buf = malloc(hsize + total);
    if (buf == NULL) {
        return 0;
    }

    p = ngx_http_pubsub_resp_write_header(buf, sequence,
                                          PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                          total);

    if ((size_t) (p - buf) != hsize) {
        fuzz_fail(__LINE__);
    }

    for (i = 0; i < n; i++) {
        q = ngx_http_pubsub_record_write(p, &rec[i], &layout);

        if ((size_t) (q - p) != ngx_http_pubsub_record_size(&rec[i])
            || q > buf + hsize + total)
        {
            fuzz_fail(__LINE__);
        }

        if (!fuzz_same(layout.key, layout.key_len, rec[i].key,
                       rec[i].key_len)
            || (rec[i].key_len && (layout.key < p || layout.key > q))
            || layout.headers < p
            || layout.headers + layout.headers_len > q)
        {
            fuzz_fail(__LINE__);
        }

        hp = layout.headers;

        for (j = 0; ; j++) {
            rc = ngx_http_pubsub_record_header(&hp,
                                      layout.headers + layout.headers_len,
                                      &got);

            if (rc != NGX_OK) {
                break;
            }

            if (j >= rec[i].nheaders
                || !fuzz_same(got.key, got.key_len, hdr[i][j].key,
                              hdr[i][j].key_len)
                || !fuzz_same(got.value, got.value_len, hdr[i][j].value,
                              hdr[i][j].value_len))
            {
                fuzz_fail(__LINE__);
            }
        }

        if (rc != NGX_DONE || j != rec[i].nheaders) {
            fuzz_fail(__LINE__);
        }

        p = q;
    }

    if (p != buf + hsize + total) {
        fuzz_fail(__LINE__);
    }

    resp = pub_sub_resp__unpack(NULL, hsize + total, buf);

    if (resp == NULL
        || resp->sequence != sequence
        || resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP
        || resp->kafka_fetch_resp->n_messages != n)
    {
        fuzz_fail(__LINE__);
    }

    for (i = 0; i < n; i++) {
        m = resp->kafka_fetch_resp->messages[i];

        if (m->offset != rec[i].offset
            || m->timestamp != rec[i].timestamp
            || m->partition != rec[i].partition
            || !fuzz_same(m->key.data, m->key.len, rec[i].key,
                          rec[i].key_len)
            || !fuzz_same(m->value.data, m->value.len, rec[i].value,
                          rec[i].value_len)
            || m->n_headers != rec[i].nheaders)
        {
            fuzz_fail(__LINE__);
        }

        for (j = 0; j < m->n_headers; j++) {
            len = hdr[i][j].key_len;

            /* KafkaHeader.key is a string: protobuf-c ends it with NUL */

            if (m->headers[j]->key[len] != '\0'
                || (len && ngx_memcmp(m->headers[j]->key, hdr[i][j].key,
                                      len) != 0)
                || !fuzz_same(m->headers[j]->value.data,
                              m->headers[j]->value.len, hdr[i][j].value,
                              hdr[i][j].value_len))
            {
                fuzz_fail(__LINE__);
            }
        }
    }

    pub_sub_resp__free_unpacked(resp, NULL);
    free(buf);

    fuzz_headers_region(in.p, in.end - in.p);
    fuzz_varints(&in);

    return 0;
}
