
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * libFuzzer target: PubSubReq decoding, every command.
 *
 * The bytes are checked with ngx_http_pubsub_check_req() and decoded
 * with ngx_http_pubsub_decode_req(), as the protocol layer does.  The
 * check must be as strict as protobuf-c: what it passes protobuf-c
 * decodes, with the sequence and command the check read (else the worker
 * would answer "internal error" and log at "error" for a client's bytes).
 * Every field of whatever command came is walked through the descriptors
 * (each string read, each sub-message entered); when the check passes,
 * every string decoded must be UTF-8 without NUL by a validator of our
 * own.  Then the request goes back to bytes with protobuf-c: the packed
 * size is what pack() writes, those bytes decode again to the same
 * command and sequence and pack to the very same bytes, and on them
 * check_req() says what our validator says of the strings.
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


/* RFC 3629, NUL refused as check_req() does */

static ngx_uint_t
fuzz_utf8(const u_char *s, size_t len)
{
    size_t    i, n, k;
    uint32_t  c;

    for (i = 0; i < len; i += n) {
        c = s[i];

        if (c == 0) {
            return 0;
        }

        if (c < 0x80) {
            n = 1;
            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 2;
            c &= 0x1f;

        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            c &= 0x0f;

        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            c &= 0x07;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            c = (c << 6) | (s[i + k] & 0x3f);
        }

        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800)
            || (n == 4 && c < 0x10000) || c > 0x10ffff
            || (c >= 0xd800 && c <= 0xdfff))
        {
            return 0;
        }
    }

    return 1;
}


/* walks every field set; returns whether all strings are valid */

static ngx_uint_t
fuzz_walk(const ProtobufCMessage *m, ngx_uint_t depth, size_t *bytes)
{
    char                            **strs, *s;
    size_t                            n, i, k;
    ngx_uint_t                        valid;
    const ProtobufCMessage          **subs, *sub;
    const ProtobufCFieldDescriptor   *f;
    const ProtobufCMessageDescriptor *d;

    if (depth > 8) {
        fuzz_fail(__LINE__);
    }

    d = m->descriptor;
    valid = 1;

    if (d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) {
        fuzz_fail(__LINE__);
    }

    for (i = 0; i < d->n_fields; i++) {
        f = &d->fields[i];

        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            && *(const uint32_t *) ((const char *) m + f->quantifier_offset)
               != f->id)
        {
            continue;
        }

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *) ((const char *) m + f->quantifier_offset);

            if (f->type == PROTOBUF_C_TYPE_STRING) {
                strs = *(char ***) ((const char *) m + f->offset);

                for (k = 0; k < n; k++) {
                    *bytes += ngx_strlen(strs[k]);
                    valid &= fuzz_utf8((u_char *) strs[k],
                                       ngx_strlen(strs[k]));
                }

            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                subs = *(const ProtobufCMessage ***)
                           ((const char *) m + f->offset);

                for (k = 0; k < n; k++) {
                    valid &= fuzz_walk(subs[k], depth + 1, bytes);
                }

            } else if (n) {
                /* scalars: read the last one */
                *bytes += *((const u_char **) ((const char *) m + f->offset))
                              [0] & 1;
            }

            continue;
        }

        if (f->type == PROTOBUF_C_TYPE_STRING) {
            s = *(char **) ((const char *) m + f->offset);

            if (s == NULL) {
                fuzz_fail(__LINE__);
            }

            *bytes += ngx_strlen(s);
            valid &= fuzz_utf8((u_char *) s, ngx_strlen(s));

        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            sub = *(const ProtobufCMessage **) ((const char *) m + f->offset);

            if (sub) {
                valid &= fuzz_walk(sub, depth + 1, bytes);
            }

        } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
            *bytes += ((const ProtobufCBinaryData *)
                           ((const char *) m + f->offset))->len;
        }
    }

    return valid;
}


/* whether the message or one inside holds unknown fields */

static ngx_uint_t
fuzz_unknown(const ProtobufCMessage *m)
{
    size_t                            n, i, k;
    const ProtobufCMessage          **subs, *sub;
    const ProtobufCFieldDescriptor   *f;
    const ProtobufCMessageDescriptor *d;

    if (m->n_unknown_fields) {
        return 1;
    }

    d = m->descriptor;

    for (i = 0; i < d->n_fields; i++) {
        f = &d->fields[i];

        if (f->type != PROTOBUF_C_TYPE_MESSAGE
            || ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                && *(const uint32_t *) ((const char *) m
                                        + f->quantifier_offset)
                   != f->id))
        {
            continue;
        }

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *) ((const char *) m + f->quantifier_offset);
            subs = *(const ProtobufCMessage ***)
                       ((const char *) m + f->offset);

            for (k = 0; k < n; k++) {
                if (fuzz_unknown(subs[k])) {
                    return 1;
                }
            }

            continue;
        }

        sub = *(const ProtobufCMessage **) ((const char *) m + f->offset);

        if (sub && fuzz_unknown(sub)) {
            return 1;
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                      *in, *buf, *buf2;
    size_t                       len, len2, bytes;
    ngx_int_t                    rc, rc2;
    ngx_uint_t                   valid;
    PubSubReq                   *req, *req2;
    ngx_http_pubsub_pb_check_t   chk;

    /* a copy of exactly size bytes: reads past it are caught */

    in = malloc(size ? size : 1);
    if (in == NULL) {
        return 0;
    }

    ngx_memcpy(in, data, size);

    rc = ngx_http_pubsub_check_req(in, size, &chk);
    req = ngx_http_pubsub_decode_req(in, size);

    if (req == NULL) {
        if (rc == NGX_OK) {
            /* passed, and protobuf-c refuses it */
            fuzz_fail(__LINE__);
        }

        free(in);
        return 0;
    }

    if (rc == NGX_OK
        && ((int64_t) req->sequence != chk.sequence
            || (ngx_uint_t) req->req_case != chk.command))
    {
        fuzz_fail(__LINE__);
    }

    if (!protobuf_c_message_check(&req->base)) {
        fuzz_fail(__LINE__);
    }

    bytes = 0;
    valid = fuzz_walk(&req->base, 0, &bytes);

    if (rc == NGX_OK && !valid) {
        /* a string the protocol would pass on that is not UTF-8 */
        fuzz_fail(__LINE__);
    }

    len = pub_sub_req__get_packed_size(req);

    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        fuzz_fail(__LINE__);
    }

    if (pub_sub_req__pack(req, buf) != len) {
        fuzz_fail(__LINE__);
    }

    req2 = ngx_http_pubsub_decode_req(buf, len);

    if (req2 == NULL && fuzz_unknown(&req->base)) {
        /*
         * protobuf-c keeps unknown fields it should have refused (a tag
         * of field 0 in an overlong varint) and packs them in a form it
         * refuses then: its business, not the protocol's
         */
        goto done;
    }

    if (req2 == NULL || req2->req_case != req->req_case
        || req2->sequence != req->sequence)
    {
        fuzz_fail(__LINE__);
    }

    len2 = pub_sub_req__get_packed_size(req2);
    buf2 = malloc(len2 ? len2 : 1);

    if (buf2 == NULL || len2 != len || pub_sub_req__pack(req2, buf2) != len
        || ngx_memcmp(buf, buf2, len) != 0)
    {
        fuzz_fail(__LINE__);
    }

    /*
     * Re-encoded, a string is what protobuf-c kept of it: up to its first
     * NUL.  Only unknown fields may still hold anything, and those
     * check_req() skips, as the decoder does.
     */

    rc2 = ngx_http_pubsub_check_req(buf, len, &chk);
    bytes = 0;

    if ((rc2 == NGX_OK) != fuzz_walk(&req2->base, 0, &bytes)) {
        fuzz_fail(__LINE__);
    }

    ngx_http_pubsub_free_req(req2);
    free(buf2);

done:

    ngx_http_pubsub_free_req(req);
    free(buf);
    free(in);

    return 0;
}
