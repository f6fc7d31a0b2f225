
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The client of the connection fuzz target: the upgrade requests it
 * sends, parsed as nginx's HTTP/1 parser leaves them for the content
 * phase, and the checks of what it gets back (the response head, the
 * accept key, server frames, a close frame last).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include <ctype.h>
#include <stdio.h>

#include "fake_nginx.h"
#include "fake_client.h"
#include "ngx_http_pubsub_websocket.h"
#include "ngx_http_pubsub_protocol.h"


void
fuzz_self_test(void)
{
    u_char      digest[20], b64[32];
    ngx_str_t   src, dst;
    ngx_sha1_t  sha1;

    static u_char  abc[] = {
        0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
        0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
    };

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, "abc", 3);
    ngx_sha1_final(digest, &sha1);

    if (ngx_memcmp(digest, abc, 20) != 0) {
        fake_fatal("SHA-1 of \"abc\" is wrong");
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, FUZZ_KEY, sizeof(FUZZ_KEY) - 1);
    ngx_sha1_update(&sha1, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    ngx_sha1_final(digest, &sha1);

    src.data = digest;
    src.len = 20;
    dst.data = b64;
    ngx_encode_base64(&dst, &src);

    if (dst.len != sizeof(FUZZ_ACCEPT) - 1
        || ngx_memcmp(b64, FUZZ_ACCEPT, dst.len) != 0)
    {
        fake_fatal("the accept key of RFC 6455's example is wrong");
    }

    src.data = (u_char *) FUZZ_KEY;
    src.len = sizeof(FUZZ_KEY) - 1;
    dst.data = b64;

    if (ngx_decode_base64(&dst, &src) != NGX_OK || dst.len != 16
        || ngx_memcmp(b64, "the sample nonce", 16) != 0)
    {
        fake_fatal("base64 decoding is wrong");
    }
}


/* ---------------------------------------------------------------------- */
/* the request as nginx's HTTP/1 parser would have left it */


u_char *
fuzz_dup(ngx_http_request_t *r, const u_char *s, size_t len)
{
    u_char  *p;

    /* the request is nginx's: its allocations never fail here */

    fake.alloc_armed = 0;
    p = ngx_pnalloc(r->pool, len + 1);
    fake.alloc_armed = 1;

    ngx_memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


static off_t
fuzz_atoof(u_char *p, size_t len)
{
    off_t  v;

    if (len == 0 || len > 18) {
        return NGX_ERROR;
    }

    for (v = 0; len; len--, p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        v = v * 10 + (*p - '0');
    }

    return v;
}


static u_char *
fuzz_find(u_char *p, u_char *last, const char *s)
{
    size_t  n;

    n = ngx_strlen(s);

    for ( /* void */ ; (size_t) (last - p) >= n; p++) {
        if (ngx_strncasecmp(p, (u_char *) s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/* NGX_OK, or the status nginx answers before any handler runs */

static ngx_int_t
fuzz_header(ngx_http_request_t *r, const u_char *name, size_t nlen,
    const u_char *value, size_t vlen)
{
    size_t            i;
    ngx_table_elt_t  *h;

    for (i = 0; i < nlen; i++) {
        if (!(isalnum(name[i]) || name[i] == '-')) {
            /* ignore_invalid_headers, underscores_in_headers off */
            return NGX_OK;
        }
    }

    if (nlen == 0) {
        return NGX_OK;
    }

    for (i = 0; i < vlen; i++) {
        if (value[i] == '\0' || value[i] == CR) {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    fake.alloc_armed = 0;
    h = ngx_list_push(&r->headers_in.headers);
    fake.alloc_armed = 1;

    h->hash = 1;
    h->key.len = nlen;
    h->key.data = fuzz_dup(r, name, nlen);
    h->value.len = vlen;
    h->value.data = fuzz_dup(r, value, vlen);
    h->lowcase_key = fuzz_dup(r, name, nlen);

    for (i = 0; i < nlen; i++) {
        h->lowcase_key[i] = ngx_tolower(h->lowcase_key[i]);
    }

#define fuzz_is(s)                                                            \
    (nlen == sizeof(s) - 1 && ngx_strncmp(h->lowcase_key, s, nlen) == 0)

    if (fuzz_is("upgrade")) {
        if (r->headers_in.upgrade == NULL) {
            r->headers_in.upgrade = h;
        }

    } else if (fuzz_is("content-length")) {
        if (r->headers_in.content_length) {
            return NGX_HTTP_BAD_REQUEST;
        }

        r->headers_in.content_length = h;
        r->headers_in.content_length_n = fuzz_atoof(h->value.data, vlen);

        if (r->headers_in.content_length_n == NGX_ERROR) {
            return NGX_HTTP_BAD_REQUEST;
        }

    } else if (fuzz_is("transfer-encoding")) {
        if (r->headers_in.transfer_encoding) {
            return NGX_HTTP_BAD_REQUEST;
        }

        r->headers_in.transfer_encoding = h;

        if (vlen != 7 || ngx_strncasecmp(h->value.data,
                                         (u_char *) "chunked", 7) != 0)
        {
            return NGX_HTTP_NOT_IMPLEMENTED;
        }

        r->headers_in.chunked = 1;

    } else if (fuzz_is("host")) {
        if (r->headers_in.host) {
            return NGX_HTTP_BAD_REQUEST;
        }

        r->headers_in.host = h;
    }

#undef fuzz_is

    return NGX_OK;
}


static ngx_int_t
fuzz_request_line(ngx_http_request_t *r, const u_char *p, size_t len)
{
    const u_char  *sp1, *sp2, *last;

    last = p + len;

    sp1 = ngx_strlchr((u_char *) p, (u_char *) last, ' ');
    if (sp1 == NULL) {
        return NGX_HTTP_BAD_REQUEST;
    }

    sp2 = ngx_strlchr((u_char *) sp1 + 1, (u_char *) last, ' ');
    if (sp2 == NULL || sp2 == sp1 + 1) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (sp1 - p == 3 && ngx_strncmp(p, "GET", 3) == 0) {
        r->method = NGX_HTTP_GET;

    } else if (sp1 - p == 4 && ngx_strncmp(p, "POST", 4) == 0) {
        r->method = NGX_HTTP_POST;

    } else if (sp1 - p == 4 && ngx_strncmp(p, "HEAD", 4) == 0) {
        r->method = NGX_HTTP_HEAD;

    } else {
        r->method = NGX_HTTP_UNKNOWN;
    }

    len = last - (sp2 + 1);

    if (len == 8 && ngx_strncmp(sp2 + 1, "HTTP/1.1", 8) == 0) {
        r->http_version = NGX_HTTP_VERSION_11;

    } else if (len == 8 && ngx_strncmp(sp2 + 1, "HTTP/1.0", 8) == 0) {
        r->http_version = NGX_HTTP_VERSION_10;

    } else if (len == 8 && ngx_strncmp(sp2 + 1, "HTTP/2.0", 8) == 0) {
        /* what the handler sees of an HTTP/2 stream */
        r->http_version = NGX_HTTP_VERSION_20;

    } else {
        r->http_version = NGX_HTTP_VERSION_9;
    }

    r->uri.data = fuzz_dup(r, sp1 + 1, sp2 - (sp1 + 1));
    r->uri.len = sp2 - (sp1 + 1);

    return NGX_OK;
}


ngx_int_t
fuzz_parse_request(ngx_http_request_t *r, const u_char *p, size_t len)
{
    ngx_int_t      rc;
    const u_char  *line, *eol, *colon, *last, *name_end, *v, *vend;

    last = p + len;
    line = p;
    rc = NGX_HTTP_BAD_REQUEST;

    while (line < last) {
        eol = ngx_strlchr((u_char *) line, (u_char *) last, LF);
        if (eol == NULL) {
            eol = last;
        }

        vend = eol;

        if (vend > line && vend[-1] == CR) {
            vend--;
        }

        if (line == p) {
            rc = fuzz_request_line(r, line, vend - line);

            if (rc != NGX_OK) {
                return rc;
            }

        } else if (vend > line) {
            colon = ngx_strlchr((u_char *) line, (u_char *) vend, ':');

            if (colon) {
                name_end = colon;
                v = colon + 1;

                while (v < vend && (*v == ' ' || *v == '\t')) {
                    v++;
                }

                while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) {
                    vend--;
                }

                rc = fuzz_header(r, line, name_end - line, v, vend - v);

                if (rc != NGX_OK) {
                    return rc;
                }
            }
        }

        line = eol + 1;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (r->headers_in.content_length && r->headers_in.transfer_encoding) {
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


ngx_int_t
fuzz_fixed_request(ngx_http_request_t *r, ngx_uint_t variant)
{
    static const char  *requests[] = {
        "GET /ws HTTP/1.1\r\n"
        "Host: localhost\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: " FUZZ_KEY "\r\n"
        "Sec-WebSocket-Version: 13\r\n",

        "GET /ws HTTP/1.1\r\n"
        "Host: localhost\r\n"
        "Upgrade: WebSocket\r\n"
        "Connection: keep-alive\r\n"
        "Connection: keep-alive, Upgrade\r\n"
        "Sec-WebSocket-Protocol: pubsub\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: " FUZZ_KEY "\r\n",

        "GET /ws?token=1 HTTP/1.1\r\n"
        "Host: localhost\r\n"
        "Content-Length: 0\r\n"
        "Upgrade: websocket\r\n"
        "Connection: UPGRADE,keep-alive\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: " FUZZ_KEY "\r\n"
        "Origin: http://localhost\r\n"
    };

    return fuzz_parse_request(r, (u_char *) requests[variant],
                              ngx_strlen(requests[variant]));
}


/* the Sec-WebSocket-Accept the client must get */

void
fuzz_expect_accept(ngx_http_request_t *r)
{
    u_char           digest[20];
    ngx_str_t        src, dst;
    ngx_uint_t       i;
    ngx_sha1_t       sha1;
    ngx_list_part_t *part;
    ngx_table_elt_t *h;

    fuzz.accept_len = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len == 17
                && ngx_strncmp(h[i].lowcase_key, "sec-websocket-key", 17)
                   == 0)
            {
                ngx_sha1_init(&sha1);
                ngx_sha1_update(&sha1, h[i].value.data, h[i].value.len);
                ngx_sha1_update(&sha1,
                                "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
                ngx_sha1_final(digest, &sha1);

                src.data = digest;
                src.len = 20;
                dst.data = fuzz.accept;
                ngx_encode_base64(&dst, &src);
                fuzz.accept_len = dst.len;

                return;
            }
        }
    }
}


/* ---------------------------------------------------------------------- */
/* what the client got */


static void
fuzz_check_frames(u_char *p, u_char *last)
{
    u_char      b0, b1, *payload;
    uint64_t    len;
    ngx_uint_t  i, opcode, status, closed;
    PubSubResp *resp;

    closed = 0;

    while (p < last) {

        if (closed) {
            fake_fatal("the server wrote after its close frame");
        }

        if (last - p < 2) {
            return;
        }

        b0 = p[0];
        b1 = p[1];
        p += 2;

        opcode = b0 & 0x0f;

        if (!(b0 & 0x80) || (b0 & 0x70) || (b1 & 0x80)) {
            fake_fatal("a server frame with FIN clear, RSV bits or a mask: "
                       "%02x %02x", b0, b1);
        }

        len = b1 & 0x7f;

        if (len == 126) {
            if (last - p < 2) {
                return;
            }

            len = (uint64_t) p[0] << 8 | p[1];
            p += 2;

            if (len < 126) {
                fake_fatal("a frame length not in its shortest form");
            }

        } else if (len == 127) {
            if (last - p < 8) {
                return;
            }

            len = 0;

            for (i = 0; i < 8; i++) {
                len = len << 8 | p[i];
            }

            p += 8;

            if (len <= 0xffff || (len >> 63)) {
                fake_fatal("a frame length not in its shortest form");
            }
        }

        switch (opcode) {

        case NGX_HTTP_PUBSUB_WS_BINARY:
            break;

        case NGX_HTTP_PUBSUB_WS_CLOSE:
        case NGX_HTTP_PUBSUB_WS_PING:
        case NGX_HTTP_PUBSUB_WS_PONG:
            if (len > NGX_HTTP_PUBSUB_WS_CONTROL_MAX) {
                fake_fatal("a control frame of %lu bytes",
                           (unsigned long) len);
            }

            break;

        default:
            fake_fatal("a server frame of opcode %lu",
                       (unsigned long) opcode);
        }

        if ((uint64_t) (last - p) < len) {
            /* cut by a close without a close frame */
            return;
        }

        payload = p;
        p += len;

        if (opcode == NGX_HTTP_PUBSUB_WS_BINARY) {
            resp = pub_sub_resp__unpack(NULL, (size_t) len, payload);

            if (resp == NULL) {
                fake_fatal("a binary frame that is not a PubSubResp");
            }

            if (resp->resp_case == PUB_SUB_RESP__RESP__NOT_SET) {
                fake_fatal("a PubSubResp with no response in it");
            }

            pub_sub_resp__free_unpacked(resp, NULL);
            continue;
        }

        if (opcode != NGX_HTTP_PUBSUB_WS_CLOSE) {
            continue;
        }

        closed = 1;

        if (len == 1) {
            fake_fatal("a close frame of one byte");
        }

        if (len >= 2) {
            status = (ngx_uint_t) payload[0] << 8 | payload[1];

            if (!ngx_http_pubsub_ws_close_status_valid(status)) {
                fake_fatal("a close frame with status %lu",
                           (unsigned long) status);
            }
        }
    }
}


void
fuzz_check_output(void)
{
    u_char  *p, *last, *head_end, *h;
    size_t   n;

    if (fake_sock.out_len == 0) {
        return;
    }

    p = fake_sock.out;
    last = p + fake_sock.out_len;

    if (fake.verbose) {
        fprintf(stderr, "server wrote %lu bytes:\n",
                (unsigned long) fake_sock.out_len);

        for (h = p; h < last; h++) {
            fprintf(stderr, (*h >= 0x20 && *h < 0x7f) ? "%c" : "\\x%02x",
                    *h);
        }

        fprintf(stderr, "\n");
    }

    if (fake_sock.out_len < 12) {
        if (ngx_strncmp(p, "HTTP/1.1 ", ngx_min(fake_sock.out_len, 9)) != 0)
        {
            fake_fatal("the response does not begin with a status line");
        }

        return;
    }

    if (ngx_strncmp(p, "HTTP/1.1 ", 9) != 0) {
        fake_fatal("the response does not begin with a status line");
    }

    head_end = NULL;

    for (h = p; h + 4 <= last; h++) {
        if (ngx_strncmp(h, CRLF CRLF, 4) == 0) {
            head_end = h + 4;
            break;
        }
    }

    if (ngx_strncmp(p + 9, "101", 3) != 0) {
        if (fuzz.upgraded) {
            fake_fatal("an upgraded connection answered %.3s", p + 9);
        }

        if (head_end && head_end != last) {
            fake_fatal("bytes after a %.3s response", p + 9);
        }

        return;
    }

    if (!fuzz.upgraded && !fuzz.start_failed) {
        fake_fatal("101 without a WebSocket");
    }

    if (head_end == NULL) {
        /* the head was cut: nothing may follow it */
        return;
    }

    n = head_end - p;

    if (fuzz.accept_len == 0
        || fuzz_find(p, head_end, "Upgrade: websocket" CRLF) == NULL)
    {
        fake_fatal("101 without Upgrade: websocket");
    }

    h = fuzz_find(p, head_end, "Sec-WebSocket-Accept: ");

    if (h == NULL
        || (size_t) (head_end - h) < 22 + fuzz.accept_len + 2
        || ngx_strncmp(h + 22, fuzz.accept, fuzz.accept_len) != 0
        || ngx_strncmp(h + 22 + fuzz.accept_len, CRLF, 2) != 0)
    {
        fake_fatal("101 with a wrong Sec-WebSocket-Accept");
    }

    fuzz_check_frames(p + n, last);
}
