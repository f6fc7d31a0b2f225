
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * libFuzzer target: the WebSocket frame parser, fed in random splits.
 *
 *   byte 0   bits 0-3: chunk size - 1; bit 4: chunk sizes from the input
 *            (one byte before each chunk) instead; bits 5-7: the size
 *            limit (16, 125, 126, 4096, 65535, 65536, 2^32, 2^63)
 *   byte 1.. the client's bytes
 *
 * The stream is parsed twice, all at once and in chunks: both must see
 * the same frames (opcode, flags, unmasked payload) and end the same way
 * (the same error at the same byte, or wanting more).  On the way: every
 * chunk lies in the input, control frames stay within 125 bytes,
 * messages within the limit, errors carry 1002 or 1009.  Then the server
 * side: ngx_http_pubsub_ws_write_header() for lengths and opcodes from
 * the input agrees with _header_size() and encodes the length in its
 * shortest form, and _close_status_valid() with RFC 6455 7.4.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>

#include "ngx_http_pubsub_ws_frame.h"


/* a broken promise: where, then abort() for the fuzzer */

static void __attribute__((noreturn))
fuzz_fail(int line)
{
    fprintf(stderr, "%s:%d: check failed\n", __FILE__, line);
    abort();
}


typedef struct {
    uint64_t     hash;          /* of frames, flags and payload bytes */
    ngx_uint_t   frames;
    ngx_int_t    rc;            /* NGX_AGAIN or NGX_ERROR at the end */
    size_t       error_at;
    ngx_uint_t   status;
    const char  *error;
} fuzz_run_t;


static void
fuzz_hash(fuzz_run_t *run, const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        run->hash = (run->hash ^ p[i]) * 0x100000001b3ULL;
    }
}


static void
fuzz_check(ngx_http_pubsub_ws_parser_t *p, u_char *buf, size_t size,
    ngx_uint_t *control)
{
    if (p->data < buf || p->len > size || p->data + p->len > buf + size) {
        fuzz_fail(__LINE__);
    }

    if (p->opcode & 0x8) {
        *control += p->len;

        if (*control > NGX_HTTP_PUBSUB_WS_CONTROL_MAX || !p->fin) {
            fuzz_fail(__LINE__);
        }

        if (p->frame_done) {
            *control = 0;
        }

    } else if (p->message_len > p->max_message) {
        fuzz_fail(__LINE__);
    }

    if (p->message_done
        && (!p->frame_done || !p->fin || (p->opcode & 0x8)
            || (p->message_opcode != NGX_HTTP_PUBSUB_WS_TEXT
                && p->message_opcode != NGX_HTTP_PUBSUB_WS_BINARY)))
    {
        fuzz_fail(__LINE__);
    }
}


/* chunks: 0 all at once, else from the step rule */

static void
fuzz_parse(const uint8_t *data, size_t size, uint64_t max,
    ngx_uint_t step, ngx_uint_t steps_in_input, fuzz_run_t *run)
{
    u_char                       *buf, *pos, *last;
    size_t                        off, n, len;
    ngx_int_t                     rc;
    ngx_uint_t                    control;
    ngx_http_pubsub_ws_parser_t   p;
    u_char                        flags[4];

    ngx_memzero(run, sizeof(fuzz_run_t));
    run->hash = 0xcbf29ce484222325ULL;
    run->rc = NGX_AGAIN;

    /* the chunk sizes are read from a copy the parser never sees */

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return;
    }

    ngx_memcpy(buf, data, size);
    ngx_http_pubsub_ws_parser_init(&p, max);

    control = 0;
    off = 0;

    while (off < size) {

        if (step == 0) {
            n = size - off;

        } else if (steps_in_input) {
            n = (data[off] & 0x3f) + 1;
            off++;                      /* the size byte is not stream */

            if (off >= size) {
                break;
            }

        } else {
            n = step;
        }

        n = ngx_min(n, size - off);
        pos = buf + off;
        last = pos + n;

        for ( ;; ) {
            rc = ngx_http_pubsub_ws_parse(&p, &pos, last);

            if (rc == NGX_AGAIN) {
                if (pos != last) {
                    fuzz_fail(__LINE__);
                }

                break;
            }

            if (rc == NGX_ERROR) {
                if (p.status != NGX_HTTP_PUBSUB_WS_PROTOCOL
                    && p.status != NGX_HTTP_PUBSUB_WS_TOO_BIG)
                {
                    fuzz_fail(__LINE__);
                }

                run->rc = NGX_ERROR;
                run->error_at = pos - buf;
                run->status = p.status;
                run->error = p.error;
                goto done;
            }

            if (rc != NGX_HTTP_PUBSUB_WS_DATA) {
                fuzz_fail(__LINE__);
            }

            fuzz_check(&p, buf, size, &control);

            len = p.len;
            fuzz_hash(run, p.data, len);

            if (p.frame_done) {
                flags[0] = (u_char) p.opcode;
                flags[1] = (u_char) p.fin;
                flags[2] = (u_char) p.message_done;
                flags[3] = (u_char) p.message_opcode;
                fuzz_hash(run, flags, 4);
                run->frames++;
            }
        }

        off += n;
    }

done:

    free(buf);
}


static void
fuzz_writer(const uint8_t *data, size_t size)
{
    u_char      buf[NGX_HTTP_PUBSUB_WS_HEADER_MAX + 1], *end;
    size_t      hsize;
    uint64_t    len, got;
    ngx_uint_t  i, opcode, status, valid;

    for ( ; size >= 9; data += 9, size -= 9) {

        len = 0;

        for (i = 0; i < 8; i++) {
            len = (len << 8) | data[i];
        }

        /* small lengths as often as large ones */
        len >>= (data[8] >> 2) & 0x3f;
        len &= 0x7fffffffffffffffULL;

        opcode = data[8] & 0x0f;

        buf[NGX_HTTP_PUBSUB_WS_HEADER_MAX] = 0xee;

        hsize = ngx_http_pubsub_ws_header_size(len);
        end = ngx_http_pubsub_ws_write_header(buf, opcode, len);

        if ((size_t) (end - buf) != hsize
            || hsize > NGX_HTTP_PUBSUB_WS_HEADER_MAX
            || buf[NGX_HTTP_PUBSUB_WS_HEADER_MAX] != 0xee
            || buf[0] != (0x80 | opcode)
            || (buf[1] & 0x80))
        {
            fuzz_fail(__LINE__);
        }

        got = buf[1];

        if (got == 126) {
            got = (uint64_t) buf[2] << 8 | buf[3];

            if (hsize != 4 || got < 126) {
                fuzz_fail(__LINE__);
            }

        } else if (got == 127) {
            got = 0;

            for (i = 0; i < 8; i++) {
                got = (got << 8) | buf[2 + i];
            }

            if (hsize != 10 || got <= 0xffff) {
                fuzz_fail(__LINE__);
            }

        } else if (hsize != 2) {
            fuzz_fail(__LINE__);
        }

        if (got != len) {
            fuzz_fail(__LINE__);
        }

        status = (ngx_uint_t) data[0] << 8 | data[1];

        valid = (status >= 1000 && status <= 1003)
                || (status >= 1007 && status <= 1014)
                || (status >= 3000 && status <= 4999);

        if (ngx_http_pubsub_ws_close_status_valid(status) != valid) {
            fuzz_fail(__LINE__);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t    max;
    ngx_uint_t  step, steps_in_input;
    fuzz_run_t  whole, split;

    static const uint64_t  limits[] = {
        16, 125, 126, 4096, 65535, 65536, 1ULL << 32, 1ULL << 63
    };

    if (size < 1) {
        return 0;
    }

    step = (data[0] & 0x0f) + 1;
    steps_in_input = (data[0] >> 4) & 1;
    max = limits[data[0] >> 5];

    data++;
    size--;

    if (!steps_in_input) {
        fuzz_parse(data, size, max, 0, 0, &whole);
        fuzz_parse(data, size, max, step, 0, &split);

        if (whole.hash != split.hash || whole.frames != split.frames
            || whole.rc != split.rc || whole.error_at != split.error_at
            || whole.status != split.status || whole.error != split.error)
        {
            fuzz_fail(__LINE__);
        }

    } else {
        /* the chunk sizes take bytes of the stream: no twin to compare */
        fuzz_parse(data, size, max, 1, 1, &split);
    }

    fuzz_writer(data, size);

    return 0;
}
