
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * RFC 6455 frames: a parser that resumes at any byte boundary (bytes in,
 * frame events out) and the frame header writer.  Pure: no connection, no
 * allocation, no I/O.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_ws_frame.h"




enum {
    sw_header = 0,
    sw_payload
};


static ngx_int_t ngx_http_pubsub_ws_parse_start(
    ngx_http_pubsub_ws_parser_t *p);
static ngx_int_t ngx_http_pubsub_ws_parse_header(
    ngx_http_pubsub_ws_parser_t *p);
static ngx_int_t ngx_http_pubsub_ws_error(ngx_http_pubsub_ws_parser_t *p,
    ngx_uint_t status, const char *reason);


void
ngx_http_pubsub_ws_parser_init(ngx_http_pubsub_ws_parser_t *p,
    uint64_t max_message)
{
    ngx_memzero(p, sizeof(ngx_http_pubsub_ws_parser_t));

    p->max_message = max_message;
    p->state = sw_header;
    p->hlen = 2;
}


/*
 * Consumes bytes from *pos up to last.  Returns NGX_HTTP_PUBSUB_WS_DATA with
 * the next chunk of a frame's payload (possibly empty, e.g. for a frame with
 * no payload) unmasked in place, NGX_AGAIN when all input is consumed, or
 * NGX_ERROR with p->status and p->error set; the parser is unusable then.
 */

ngx_int_t
ngx_http_pubsub_ws_parse(ngx_http_pubsub_ws_parser_t *p, u_char **pos,
    u_char *last)
{
    u_char      *d;
    size_t       n, i;
    ngx_int_t    rc;

    for ( ;; ) {

        switch (p->state) {

        case sw_header:

            while (p->hpos < p->hlen) {
                if (*pos == last) {
                    return NGX_AGAIN;
                }

                p->header[p->hpos++] = *(*pos)++;
            }

            if (p->hpos == 2) {
                rc = ngx_http_pubsub_ws_parse_start(p);

                if (rc != NGX_OK) {
                    return rc;
                }

                if (p->hlen > 2) {
                    continue;
                }
            }

            rc = ngx_http_pubsub_ws_parse_header(p);

            if (rc != NGX_OK) {
                return rc;
            }

            p->state = sw_payload;

            if (p->left == 0) {
                break;
            }

            /* fall through */

        case sw_payload:

            if (*pos == last && p->left) {
                return NGX_AGAIN;
            }

            break;
        }

        /* sw_payload: hand out the next chunk */

        n = last - *pos;

        if ((uint64_t) n > p->left) {
            n = (size_t) p->left;
        }

        d = *pos;

        for (i = 0; i < n; i++) {
            d[i] ^= p->mask[p->mask_pos++ & 3];
        }

        p->data = d;
        p->len = n;
        p->left -= n;
        *pos += n;

        p->frame_done = (p->left == 0);
        p->message_done = 0;

        if (p->frame_done) {
            p->state = sw_header;
            p->hpos = 0;
            p->hlen = 2;

            if (!(p->opcode & 0x8) && p->fin) {
                p->message_done = 1;
            }
        }

        return NGX_HTTP_PUBSUB_WS_DATA;
    }
}


/* the first two header bytes are here: check them, size the header */

static ngx_int_t
ngx_http_pubsub_ws_parse_start(ngx_http_pubsub_ws_parser_t *p)
{
    u_char      b0, b1;
    ngx_uint_t  opcode, len;

    b0 = p->header[0];
    b1 = p->header[1];

    opcode = b0 & 0x0f;
    len = b1 & 0x7f;

    if (b0 & 0x70) {
        return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                        "reserved bits set");
    }

    switch (opcode) {

    case NGX_HTTP_PUBSUB_WS_CONT:
        if (!p->in_message) {
            return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                            "continuation frame with no "
                                            "message started");
        }
        break;

    case NGX_HTTP_PUBSUB_WS_TEXT:
    case NGX_HTTP_PUBSUB_WS_BINARY:
        if (p->in_message) {
            return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                            "new data frame inside an "
                                            "unfinished fragmented message");
        }
        break;

    case NGX_HTTP_PUBSUB_WS_CLOSE:
    case NGX_HTTP_PUBSUB_WS_PING:
    case NGX_HTTP_PUBSUB_WS_PONG:
        if (!(b0 & 0x80)) {
            return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                            "fragmented control frame");
        }

        if (len > NGX_HTTP_PUBSUB_WS_CONTROL_MAX) {
            return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                            "control frame over 125 bytes");
        }
        break;

    default:
        return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                        "unknown opcode");
    }

    if (!(b1 & 0x80)) {
        return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                        "unmasked frame");
    }

    p->hlen = 2 + 4;

    if (len == 126) {
        p->hlen += 2;

    } else if (len == 127) {
        p->hlen += 8;
    }

    return NGX_OK;
}


/* the whole header is here: decode the length and the mask */

static ngx_int_t
ngx_http_pubsub_ws_parse_header(ngx_http_pubsub_ws_parser_t *p)
{
    u_char      *h;
    uint64_t     len;
    ngx_uint_t   i, opcode;

    h = p->header;

    opcode = h[0] & 0x0f;
    len = h[1] & 0x7f;
    h += 2;

    if (len == 126) {
        len = ((uint64_t) h[0] << 8) | h[1];
        h += 2;

    } else if (len == 127) {
        if (h[0] & 0x80) {
            return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_PROTOCOL,
                                            "frame length has its most "
                                            "significant bit set");
        }

        len = 0;

        for (i = 0; i < 8; i++) {
            len = (len << 8) | h[i];
        }

        h += 8;
    }

    if (!(opcode & 0x8)) {

        if (opcode != NGX_HTTP_PUBSUB_WS_CONT) {
            p->message_opcode = opcode;
            p->message_len = 0;
        }

        if (len > p->max_message - p->message_len) {
            return ngx_http_pubsub_ws_error(p, NGX_HTTP_PUBSUB_WS_TOO_BIG,
                                            "message over the size limit");
        }

        p->message_len += len;
        p->in_message = (p->header[0] & 0x80) ? 0 : 1;
    }

    ngx_memcpy(p->mask, h, 4);

    p->opcode = opcode;
    p->fin = (p->header[0] & 0x80) ? 1 : 0;
    p->left = len;
    p->mask_pos = 0;

    return NGX_OK;
}


size_t
ngx_http_pubsub_ws_header_size(uint64_t len)
{
    if (len < 126) {
        return 2;
    }

    if (len <= 0xffff) {
        return 4;
    }

    return 10;
}


/* a server frame header: final, unmasked */

u_char *
ngx_http_pubsub_ws_write_header(u_char *p, ngx_uint_t opcode, uint64_t len)
{
    ngx_int_t  i;

    *p++ = (u_char) (0x80 | opcode);

    if (len < 126) {
        *p++ = (u_char) len;
        return p;
    }

    if (len <= 0xffff) {
        *p++ = 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;
        return p;
    }

    *p++ = 127;

    for (i = 7; i >= 0; i--) {
        *p++ = (u_char) (len >> (i * 8));
    }

    return p;
}


/* the frame breaks RFC 6455: the close status and the reason for the log */

static ngx_int_t
ngx_http_pubsub_ws_error(ngx_http_pubsub_ws_parser_t *p, ngx_uint_t status,
    const char *reason)
{
    p->status = status;
    p->error = reason;

    return NGX_ERROR;
}


/* RFC 6455 7.4: codes a peer may send in a close frame */

ngx_uint_t
ngx_http_pubsub_ws_close_status_valid(ngx_uint_t status)
{
    if (status >= 3000 && status <= 4999) {
        return 1;
    }

    if (status < 1000 || status > 1014) {
        return 0;
    }

    return !(status == 1004 || status == 1005 || status == 1006);
}
