
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pubsub_client.h"


/* internal: a wait reached its deadline */
#define PUBSUB_TIMEDOUT        -4

#define PUBSUB_WS_GUID         "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static void pubsub_sha1(const u_char *data, size_t len, u_char digest[20]);
static void pubsub_sha1_block(uint32_t h[5], const u_char *p);
static const char *pubsub_crlf(const char *p, const char *last);
static int pubsub_has_token(const char *v, size_t len, const char *token);
static void pubsub_printable(char *dst, size_t size, const char *src,
    size_t len);
static int pubsub_reader_append(pubsub_ws_reader_t *r, const u_char *data,
    size_t len);
static int64_t pubsub_deadline(int timeout);
static int pubsub_wait(int fd, short events, int64_t deadline);
static int pubsub_write(pubsub_conn_t *c, const u_char *p, size_t len,
    int64_t deadline);
static int pubsub_read(pubsub_conn_t *c, u_char *buf, size_t size,
    size_t *n, int64_t deadline);
static int pubsub_recv_event(pubsub_conn_t *c, pubsub_ws_event_t *ev,
    int64_t deadline);
static int pubsub_handshake(pubsub_conn_t *c, const pubsub_url_t *url,
    int64_t deadline);
static SSL_CTX *pubsub_tls_ctx_create(pubsub_conn_t *c);
static int pubsub_tls_client_cert(pubsub_conn_t *c, SSL_CTX *ctx);
static int pubsub_tls_key_kind(const char *path);
static int pubsub_tls_no_password(char *buf, int size, int rwflag,
    void *data);
static const char *pubsub_tls_reason(void);
static int pubsub_tls_connect(pubsub_conn_t *c, const pubsub_url_t *url,
    int64_t deadline);
static int pubsub_tls_wait(pubsub_conn_t *c, int n, int64_t deadline,
    const char *what);
static void pubsub_tls_free(pubsub_conn_t *c);
static int pubsub_tls_write(pubsub_conn_t *c, const u_char *p, size_t len,
    int64_t deadline);
static int pubsub_tls_read(pubsub_conn_t *c, u_char *buf, size_t size,
    size_t *n, int64_t deadline);


/* URL */

/*
 * Parses "ws[s]://HOST[:PORT][/PATH][?QUERY][#FRAGMENT]"; HOST may be an
 * IPv6 address in brackets.  Returns NULL, or the reason it is not usable.
 */

const char *
pubsub_url_parse(pubsub_url_t *url, const char *s)
{
    size_t       n, hlen;
    const char  *start, *host, *end, *port, *path;

    memset(url, 0, sizeof(pubsub_url_t));

    if (strncasecmp(s, "wss://", 6) == 0) {
        url->tls = 1;
        start = s + 6;

    } else if (strncasecmp(s, "ws://", 5) == 0) {
        start = s + 5;

    } else {
        return "the URL must start with ws:// or wss://";
    }

    host = start;
    path = host + strcspn(host, "/?#");

    if (memchr(host, '@', path - host) != NULL) {
        return "user information in the URL is not supported";
    }

    if (*host == '[') {
        end = memchr(host, ']', path - host);
        if (end == NULL) {
            return "no \"]\" after the IPv6 address";
        }

        host++;
        hlen = end - host;
        port = end + 1;

        if (port < path && *port != ':') {
            return "bad character after the IPv6 address";
        }

    } else {
        end = memchr(host, ':', path - host);
        port = (end != NULL) ? end : path;
        hlen = port - host;
    }

    if (hlen == 0) {
        return "no host in the URL";
    }

    if (hlen >= sizeof(url->host)) {
        return "host name too long";
    }

    memcpy(url->host, host, hlen);

    if (port < path) {
        port++;
        n = path - port;

        if (n == 0 || n > 5 || strspn(port, "0123456789") < n
            || atoi(port) < 1 || atoi(port) > 65535)
        {
            return "bad port in the URL";
        }

        memcpy(url->port, port, n);

    } else {
        strcpy(url->port, url->tls ? "443" : "80");
    }

    n = path - start;
    if (n >= sizeof(url->authority)) {
        return "host name too long";
    }

    memcpy(url->authority, start, n);

    n = strcspn(path, "#");
    if (n + 2 > sizeof(url->path)) {
        return "path too long";
    }

    for (end = path; end < path + n; end++) {
        if ((u_char) *end <= 0x20 || *end == 0x7f) {
            return "space or control character in the URL path";
        }
    }

    if (*path != '/') {
        url->path[0] = '/';
        memcpy(url->path + 1, path, n);

    } else {
        memcpy(url->path, path, n);
    }

    return NULL;
}


/* handshake */

size_t
pubsub_base64_encode(char *dst, const u_char *src, size_t len)
{
    char         *d;
    size_t        i;
    uint32_t      v;
    static char   tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "abcdefghijklmnopqrstuvwxyz0123456789+/";

    d = dst;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8 | src[i + 2];
        *d++ = tab[v >> 18];
        *d++ = tab[(v >> 12) & 0x3f];
        *d++ = tab[(v >> 6) & 0x3f];
        *d++ = tab[v & 0x3f];
    }

    if (i < len) {
        v = (uint32_t) src[i] << 16;
        if (i + 1 < len) {
            v |= (uint32_t) src[i + 1] << 8;
        }

        *d++ = tab[v >> 18];
        *d++ = tab[(v >> 12) & 0x3f];
        *d++ = (i + 1 < len) ? tab[(v >> 6) & 0x3f] : '=';
        *d++ = '=';
    }

    *d = '\0';

    return d - dst;
}


void
pubsub_ws_key(char key[PUBSUB_WS_KEY_LEN + 1], const u_char nonce[16])
{
    pubsub_base64_encode(key, nonce, 16);
}


/* the Sec-WebSocket-Accept a server must answer to key */

void
pubsub_ws_accept(char accept[PUBSUB_WS_ACCEPT_LEN + 1], const char *key)
{
    u_char  buf[PUBSUB_WS_KEY_LEN + sizeof(PUBSUB_WS_GUID)];
    u_char  digest[20];
    size_t  n;

    n = strlen(key);
    if (n > PUBSUB_WS_KEY_LEN) {
        n = PUBSUB_WS_KEY_LEN;
    }

    memcpy(buf, key, n);
    memcpy(buf + n, PUBSUB_WS_GUID, sizeof(PUBSUB_WS_GUID) - 1);

    pubsub_sha1(buf, n + sizeof(PUBSUB_WS_GUID) - 1, digest);
    pubsub_base64_encode(accept, digest, 20);
}


/*
 * The request, with the header lines in headers (NULL: none) before its
 * end; returns its length, or -1 when size is too small
 */

int
pubsub_ws_handshake_request(char *buf, size_t size, const pubsub_url_t *url,
    const char *key, const char *headers)
{
    int  n;

    n = snprintf(buf, size,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "%s"
                 "\r\n",
                 url->path, url->authority, key, headers ? headers : "");

    if (n < 0 || (size_t) n >= size) {
        return -1;
    }

    return n;
}


/*
 * Checks the response to the handshake request made with key: PUBSUB_AGAIN
 * until its header is complete; PUBSUB_OK with *used, the bytes of the
 * header (frames may follow); or PUBSUB_ERROR with a reason in err.
 */

int
pubsub_ws_handshake_response(const char *buf, size_t len, const char *key,
    size_t *used, char *err, size_t errlen)
{
    int          upgrade, connection, accepted;
    char         accept[PUBSUB_WS_ACCEPT_LEN + 1], line[200];
    size_t       i, nlen, vlen;
    const char  *end, *p, *eol, *colon, *v;

    end = NULL;

    for (i = 0; i + 4 <= len; i++) {
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            end = buf + i;
            break;
        }
    }

    if (end == NULL) {
        if (len >= PUBSUB_MAX_HANDSHAKE) {
            snprintf(err, errlen, "handshake response over %d bytes",
                     PUBSUB_MAX_HANDSHAKE);
            return PUBSUB_ERROR;
        }

        return PUBSUB_AGAIN;
    }

    *used = end + 4 - buf;

    eol = pubsub_crlf(buf, end + 2);

    pubsub_printable(line, sizeof(line), buf, eol - buf);

    if (eol - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' '
        || !isdigit((u_char) buf[9]) || !isdigit((u_char) buf[10])
        || !isdigit((u_char) buf[11]) || (eol - buf > 12 && buf[12] != ' '))
    {
        snprintf(err, errlen, "bad handshake response \"%s\"", line);
        return PUBSUB_ERROR;
    }

    if (memcmp(buf + 9, "101", 3) != 0) {
        snprintf(err, errlen,
                 "server refused the WebSocket handshake: \"%s\"", line);
        return PUBSUB_ERROR;
    }

    pubsub_ws_accept(accept, key);

    upgrade = 0;
    connection = 0;
    accepted = 0;

    /* each header line ends with "\r\n", the last one at end */

    for (p = eol + 2; p < end + 2; p = eol + 2) {
        eol = pubsub_crlf(p, end + 2);

        colon = memchr(p, ':', eol - p);
        if (colon == NULL) {
            continue;
        }

        nlen = colon - p;

        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++) {
            /* void */
        }

        for (vlen = eol - v;
             vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t');
             vlen--)
        {
            /* void */
        }

        if (nlen == 7 && strncasecmp(p, "Upgrade", 7) == 0) {
            upgrade = (vlen == 9 && strncasecmp(v, "websocket", 9) == 0);

        } else if (nlen == 10 && strncasecmp(p, "Connection", 10) == 0) {
            connection = pubsub_has_token(v, vlen, "upgrade");

        } else if (nlen == 20
                   && strncasecmp(p, "Sec-WebSocket-Accept", 20) == 0)
        {
            accepted = (vlen == PUBSUB_WS_ACCEPT_LEN
                        && memcmp(v, accept, vlen) == 0);
        }
    }

    if (!upgrade || !connection) {
        snprintf(err, errlen, "handshake response without "
                 "\"Upgrade: websocket\" and \"Connection: Upgrade\"");
        return PUBSUB_ERROR;
    }

    if (!accepted) {
        snprintf(err, errlen, "handshake response without the right "
                 "Sec-WebSocket-Accept");
        return PUBSUB_ERROR;
    }

    return PUBSUB_OK;
}


/* the first "\r\n" in p..last, which has one */

static const char *
pubsub_crlf(const char *p, const char *last)
{
    while (p + 1 < last && (p[0] != '\r' || p[1] != '\n')) {
        p++;
    }

    return p;
}


/* a comma-separated list of tokens contains token (case-insensitive) */

static int
pubsub_has_token(const char *v, size_t len, const char *token)
{
    size_t       n, tlen;
    const char  *end, *comma;

    tlen = strlen(token);
    end = v + len;

    while (v < end) {
        comma = memchr(v, ',', end - v);
        if (comma == NULL) {
            comma = end;
        }

        while (v < comma && (*v == ' ' || *v == '\t')) {
            v++;
        }

        for (n = comma - v; n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t');
             n--)
        {
            /* void */
        }

        if (n == tlen && strncasecmp(v, token, n) == 0) {
            return 1;
        }

        v = comma + 1;
    }

    return 0;
}


/* src as a C string for messages, bytes outside ASCII 32-126 as '?' */

static void
pubsub_printable(char *dst, size_t size, const char *src, size_t len)
{
    size_t  i;

    if (len >= size) {
        len = size - 1;
    }

    for (i = 0; i < len; i++) {
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    }

    dst[len] = '\0';
}


/*
 * SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept: saves a dependency
 * on a crypto library.
 */

#define pubsub_rol(x, n)  (((x) << (n)) | ((x) >> (32 - (n))))


static void
pubsub_sha1(const u_char *data, size_t len, u_char digest[20])
{
    int       i;
    u_char    tail[128];
    size_t    n, rest;
    uint64_t  bits;
    uint32_t  h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
                       0xc3d2e1f0 };

    for (n = 0; n + 64 <= len; n += 64) {
        pubsub_sha1_block(h, data + n);
    }

    /* the rest, 0x80, zeros and the bit length fill one or two blocks */

    rest = len - n;
    memset(tail, 0, sizeof(tail));
    memcpy(tail, data + n, rest);
    tail[rest] = 0x80;

    n = (rest < 56) ? 64 : 128;
    bits = (uint64_t) len * 8;

    for (i = 0; i < 8; i++) {
        tail[n - 1 - i] = (u_char) (bits >> (i * 8));
    }

    pubsub_sha1_block(h, tail);

    if (n == 128) {
        pubsub_sha1_block(h, tail + 64);
    }

    for (i = 0; i < 20; i++) {
        digest[i] = (u_char) (h[i / 4] >> (24 - (i % 4) * 8));
    }
}


static void
pubsub_sha1_block(uint32_t h[5], const u_char *p)
{
    int       i;
    uint32_t  w[80], a, b, c, d, e, f, k, t;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[i * 4] << 24 | (uint32_t) p[i * 4 + 1] << 16
               | (uint32_t) p[i * 4 + 2] << 8 | p[i * 4 + 3];
    }

    for (i = 16; i < 80; i++) {
        t = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
        w[i] = pubsub_rol(t, 1);
    }

    a = h[0];
    b = h[1];
    c = h[2];
    d = h[3];
    e = h[4];

    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;

        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;

        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;

        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }

        t = pubsub_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = pubsub_rol(b, 30);
        b = a;
        a = t;
    }

    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}


/* frames */

/* the bytes of a client frame with a payload of len bytes */

size_t
pubsub_ws_frame_size(size_t len)
{
    return len + 4 + (len < 126 ? 2 : (len < 65536 ? 4 : 10));
}


/*
 * Writes a final, masked frame to out (pubsub_ws_frame_size(len) bytes).
 * payload may already be in place, at the end of that space.
 */

size_t
pubsub_ws_frame(u_char *out, int opcode, const u_char *payload, size_t len,
    const u_char mask[4])
{
    int      i;
    u_char  *p, *d;
    size_t   n, hlen;

    hlen = pubsub_ws_frame_size(len) - len;
    d = out + hlen;

    if (len > 0 && payload != d) {
        memmove(d, payload, len);
    }

    p = out;
    *p++ = (u_char) (0x80 | opcode);

    if (len < 126) {
        *p++ = (u_char) (0x80 | len);

    } else if (len < 65536) {
        *p++ = 0x80 | 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 0x80 | 127;

        for (i = 7; i >= 0; i--) {
            *p++ = (u_char) ((uint64_t) len >> (i * 8));
        }
    }

    memcpy(p, mask, 4);

    for (n = 0; n < len; n++) {
        d[n] ^= mask[n & 3];
    }

    return hlen + len;
}


/*
 * Parses the header of a server frame at p (n bytes): PUBSUB_OK,
 * PUBSUB_AGAIN when the header is incomplete, or PUBSUB_ERROR with *err
 * when it breaks RFC 6455 (a server never masks; no extensions).
 */

int
pubsub_ws_frame_parse(pubsub_ws_frame_t *f, const u_char *p, size_t n,
    const char **err)
{
    size_t    i, hlen;
    uint64_t  len;

    if (n < 2) {
        return PUBSUB_AGAIN;
    }

    if (p[0] & 0x70) {
        *err = "server frame with reserved bits set";
        return PUBSUB_ERROR;
    }

    f->fin = p[0] >> 7;
    f->opcode = p[0] & 0x0f;

    switch (f->opcode) {
    case PUBSUB_WS_CONT:
    case PUBSUB_WS_TEXT:
    case PUBSUB_WS_BINARY:
    case PUBSUB_WS_CLOSE:
    case PUBSUB_WS_PING:
    case PUBSUB_WS_PONG:
        break;

    default:
        *err = "server frame with an unknown opcode";
        return PUBSUB_ERROR;
    }

    if (p[1] & 0x80) {
        *err = "masked server frame";
        return PUBSUB_ERROR;
    }

    len = p[1] & 0x7f;
    hlen = (len == 126) ? 4 : (len == 127) ? 10 : 2;

    if (n < hlen) {
        return PUBSUB_AGAIN;
    }

    if (hlen > 2) {
        len = 0;

        for (i = 2; i < hlen; i++) {
            len = len << 8 | p[i];
        }

        if (len >> 63) {
            *err = "server frame with a length over 2^63";
            return PUBSUB_ERROR;
        }
    }

    if (f->opcode & 0x8) {
        if (!f->fin) {
            *err = "fragmented control frame";
            return PUBSUB_ERROR;
        }

        if (len > 125) {
            *err = "control frame over 125 bytes";
            return PUBSUB_ERROR;
        }
    }

    f->header = hlen;
    f->length = len;

    return PUBSUB_OK;
}


/* the frame reader */

int
pubsub_ws_reader_init(pubsub_ws_reader_t *r, size_t max_message)
{
    memset(r, 0, sizeof(pubsub_ws_reader_t));

    r->max_message = max_message;
    r->size = 16384;
    r->buf = malloc(r->size);

    if (r->buf == NULL) {
        r->err = "out of memory";
        return PUBSUB_ERROR;
    }

    return PUBSUB_OK;
}


void
pubsub_ws_reader_free(pubsub_ws_reader_t *r)
{
    free(r->buf);
    free(r->msg);
    memset(r, 0, sizeof(pubsub_ws_reader_t));
}


/*
 * Space to receive into, at least 4 KiB and enough for the frame that is
 * incomplete; tell the reader with pubsub_ws_reader_filled() how much was
 * put there.  NULL when out of memory.
 */

u_char *
pubsub_ws_reader_room(pubsub_ws_reader_t *r, size_t *room)
{
    u_char  *p;
    size_t   have, want;

    have = r->last - r->pos;
    want = (r->need > have) ? r->need - have : 0;

    if (want < 4096) {
        want = 4096;
    }

    if (r->size - r->last < want && r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, have);
        r->pos = 0;
        r->last = have;
    }

    if (r->size - r->last < want) {
        p = realloc(r->buf, r->last + want);
        if (p == NULL) {
            r->err = "out of memory";
            return NULL;
        }

        r->buf = p;
        r->size = r->last + want;
    }

    *room = r->size - r->last;

    return r->buf + r->last;
}


void
pubsub_ws_reader_filled(pubsub_ws_reader_t *r, size_t n)
{
    r->last += n;
}


/*
 * The next message or control frame: PUBSUB_OK with *ev, PUBSUB_AGAIN when
 * more bytes are needed, PUBSUB_ERROR with r->err (the reader is unusable
 * then).  Fragments are reassembled; control frames between them are
 * returned as they come.
 */

int
pubsub_ws_reader_next(pubsub_ws_reader_t *r, pubsub_ws_event_t *ev)
{
    int                 rc;
    u_char             *data;
    size_t              len, max;
    pubsub_ws_frame_t   f;

    for ( ;; ) {
        rc = pubsub_ws_frame_parse(&f, r->buf + r->pos, r->last - r->pos,
                                   &r->err);
        if (rc != PUBSUB_OK) {
            return rc;
        }

        if (f.opcode == PUBSUB_WS_CONT && r->msg_opcode == 0) {
            r->err = "continuation frame without a message";
            return PUBSUB_ERROR;
        }

        if ((f.opcode == PUBSUB_WS_TEXT || f.opcode == PUBSUB_WS_BINARY)
            && r->msg_opcode != 0)
        {
            r->err = "new message inside a fragmented one";
            return PUBSUB_ERROR;
        }

        max = r->max_message;
        if (f.opcode == PUBSUB_WS_CONT) {
            max -= r->msg_len;
        }

        if (f.length > max) {
            r->err = "server message too big";
            return PUBSUB_ERROR;
        }

        r->need = f.header + (size_t) f.length;

        if (r->last - r->pos < r->need) {
            return PUBSUB_AGAIN;
        }

        data = r->buf + r->pos + f.header;
        len = (size_t) f.length;

        r->pos += r->need;
        r->need = 0;

        ev->opcode = f.opcode;
        ev->data = data;
        ev->len = len;
        ev->close_code = 0;

        if (f.opcode == PUBSUB_WS_CLOSE) {
            if (len == 1) {
                r->err = "close frame with a 1-byte payload";
                return PUBSUB_ERROR;
            }

            ev->close_code = 1005;

            if (len >= 2) {
                ev->close_code = data[0] << 8 | data[1];
                ev->data = data + 2;
                ev->len = len - 2;
            }

            return PUBSUB_OK;
        }

        if (f.opcode & 0x8) {
            return PUBSUB_OK;
        }

        if (f.opcode != PUBSUB_WS_CONT) {
            if (f.fin) {
                return PUBSUB_OK;
            }

            r->msg_opcode = f.opcode;
            r->msg_len = 0;
        }

        if (pubsub_reader_append(r, data, len) != PUBSUB_OK) {
            return PUBSUB_ERROR;
        }

        if (f.fin) {
            ev->opcode = r->msg_opcode;
            ev->data = r->msg;
            ev->len = r->msg_len;
            r->msg_opcode = 0;

            return PUBSUB_OK;
        }
    }
}


static int
pubsub_reader_append(pubsub_ws_reader_t *r, const u_char *data, size_t len)
{
    u_char  *p;
    size_t   size;

    if (r->msg_size - r->msg_len < len) {
        size = r->msg_size ? r->msg_size : 4096;

        while (size - r->msg_len < len) {
            size *= 2;
        }

        p = realloc(r->msg, size);
        if (p == NULL) {
            r->err = "out of memory";
            return PUBSUB_ERROR;
        }

        r->msg = p;
        r->msg_size = size;
    }

    if (len > 0) {
        memcpy(r->msg + r->msg_len, data, len);
        r->msg_len += len;
    }

    return PUBSUB_OK;
}


/* requests and responses; a pubsub_req_t must not be copied once built */

void
pubsub_req_ping(pubsub_req_t *r, int64_t seq, const u_char *state,
    size_t len)
{
    pub_sub_req__init(&r->req);
    cmd_ping__init(&r->cmd.ping);

    r->cmd.ping.state.data = (uint8_t *) state;
    r->cmd.ping.state.len = len;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_PING;
    r->req.cmd_ping = &r->cmd.ping;
}


void
pubsub_req_list_offset(pubsub_req_t *r, int64_t seq, const char *topic,
    int32_t partition, int64_t timestamp)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_list_offset__init(&r->cmd.list_offset);

    r->cmd.list_offset.topic = (char *) topic;
    r->cmd.list_offset.partition = partition;
    r->cmd.list_offset.timestamp = timestamp;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_LIST_OFFSET;
    r->req.cmd_kafka_list_offset = &r->cmd.list_offset;
}


void
pubsub_req_fetch(pubsub_req_t *r, int64_t seq, const char *topic,
    int32_t partition, int64_t offset)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_fetch__init(&r->cmd.fetch);

    r->cmd.fetch.topic = (char *) topic;
    r->cmd.fetch.partition = partition;
    r->cmd.fetch.offset = offset;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH;
    r->req.cmd_kafka_fetch = &r->cmd.fetch;
}


/*
 * The extension's commands.  subscribe: the caller sets the fields it
 * needs in r->cmd.subscribe (partitions, all_partitions, start, group,
 * window) and, for a filter, in r->filter and then r->cmd.subscribe.filter
 * = &r->filter.  produce: likewise key, value, headers, timestamp, and
 * target_case = CMD_KAFKA_PRODUCE__TARGET_PARTITION with partition.
 */

void
pubsub_req_subscribe(pubsub_req_t *r, int64_t seq, const char *topic)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_subscribe__init(&r->cmd.subscribe);
    kafka_filter__init(&r->filter);

    r->cmd.subscribe.topic = (char *) topic;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE;
    r->req.cmd_kafka_subscribe = &r->cmd.subscribe;
}


void
pubsub_req_unsubscribe(pubsub_req_t *r, int64_t seq, int64_t subscription)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_unsubscribe__init(&r->cmd.unsubscribe);

    r->cmd.unsubscribe.subscription = subscription;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_UNSUBSCRIBE;
    r->req.cmd_kafka_unsubscribe = &r->cmd.unsubscribe;
}


void
pubsub_req_credit(pubsub_req_t *r, int64_t seq, int64_t subscription,
    int32_t messages)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_credit__init(&r->cmd.credit);

    r->cmd.credit.subscription = subscription;
    r->cmd.credit.messages = messages;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_CREDIT;
    r->req.cmd_kafka_credit = &r->cmd.credit;
}


void
pubsub_req_produce(pubsub_req_t *r, int64_t seq, const char *topic)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_produce__init(&r->cmd.produce);

    r->cmd.produce.topic = (char *) topic;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_PRODUCE;
    r->req.cmd_kafka_produce = &r->cmd.produce;
}


void
pubsub_req_commit(pubsub_req_t *r, int64_t seq, const char *group,
    const char *topic, KafkaPartitionOffset **offsets, size_t n)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_commit__init(&r->cmd.commit);

    r->cmd.commit.group = (char *) group;
    r->cmd.commit.topic = (char *) topic;
    r->cmd.commit.offsets = offsets;
    r->cmd.commit.n_offsets = n;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_COMMIT;
    r->req.cmd_kafka_commit = &r->cmd.commit;
}


void
pubsub_req_committed(pubsub_req_t *r, int64_t seq, const char *group,
    const char *topic, int32_t *partitions, size_t n)
{
    pub_sub_req__init(&r->req);
    cmd_kafka_committed__init(&r->cmd.committed);

    r->cmd.committed.group = (char *) group;
    r->cmd.committed.topic = (char *) topic;
    r->cmd.committed.partitions = partitions;
    r->cmd.committed.n_partitions = n;

    r->req.sequence = seq;
    r->req.req_case = PUB_SUB_REQ__REQ_CMD_KAFKA_COMMITTED;
    r->req.cmd_kafka_committed = &r->cmd.committed;
}


size_t
pubsub_req_frame_size(const pubsub_req_t *r)
{
    return pubsub_ws_frame_size(pub_sub_req__get_packed_size(&r->req));
}


/* the request as a binary frame in out, pubsub_req_frame_size() bytes */

size_t
pubsub_req_frame(u_char *out, const pubsub_req_t *r, const u_char mask[4])
{
    size_t   len;
    u_char  *payload;

    len = pub_sub_req__get_packed_size(&r->req);
    payload = out + pubsub_ws_frame_size(len) - len;

    pub_sub_req__pack(&r->req, payload);

    return pubsub_ws_frame(out, PUBSUB_WS_BINARY, payload, len, mask);
}


/* NULL when data is not a PubSubResp */

PubSubResp *
pubsub_resp_decode(const u_char *data, size_t len)
{
    return pub_sub_resp__unpack(NULL, len, data);
}


void
pubsub_resp_free(PubSubResp *resp)
{
    if (resp != NULL) {
        pub_sub_resp__free_unpacked(resp, NULL);
    }
}


/* blocking I/O */

/* readable: every wait returns PUBSUB_INTR (see pubsub_set_wakeup_fd()) */
static int  pubsub_wakeup_fd = -1;


/*
 * Makes every wait also watch fd, e.g. the read end of a pipe a signal
 * handler writes to: once it is readable, waits return PUBSUB_INTR at
 * once, which closes the race of a signal that comes just before a wait.
 * -1: none (the default).
 */

void
pubsub_set_wakeup_fd(int fd)
{
    pubsub_wakeup_fd = fd;
}


/* more lines of the handshake request ("Name: value\r\n"...), or NULL */
static const char  *pubsub_headers;


/*
 * Later handshakes send these header lines too, each "Name: value\r\n"
 * (checked by the caller), e.g. an Authorization for a location behind
 * auth_basic or auth_request.  NULL: none.
 */

void
pubsub_set_headers(const char *headers)
{
    pubsub_headers = headers;
}


/*
 * wss://: the CA certificates (NULL: the system's), whether to verify, and
 * the client's own certificate and key (NULL: none)
 */
static const char  *pubsub_tls_cafile;
static const char  *pubsub_tls_cert;
static const char  *pubsub_tls_key;
static int          pubsub_tls_verify = 1;
static SSL_CTX     *pubsub_tls_ctx;


/*
 * How later wss:// connections check the server: verify 1 (the default)
 * verifies its certificate against the CA certificates in cafile (PEM),
 * or the system's when cafile is NULL, and its name against the URL's
 * host; verify 0 checks nothing (as curl's --insecure).  cert, when not
 * NULL, is the client's certificate chain (PEM) for a server that asks
 * for one (nginx's ssl_verify_client), its key in key, or in cert when
 * key is NULL; an encrypted key is refused, never asked for.  OpenSSL
 * sends with write(), not send(MSG_NOSIGNAL): a caller of wss:// ignores
 * SIGPIPE.
 */

void
pubsub_set_tls(const char *cafile, const char *cert, const char *key,
    int verify)
{
    pubsub_tls_cafile = cafile;
    pubsub_tls_cert = cert;
    pubsub_tls_key = key;
    pubsub_tls_verify = verify;

    if (pubsub_tls_ctx) {
        SSL_CTX_free(pubsub_tls_ctx);
        pubsub_tls_ctx = NULL;
    }
}


void
pubsub_random(void *buf, size_t len)
{
    u_char           *p;
    size_t            i;
    struct timespec   ts;
    static uint64_t   x;

    if (getrandom(buf, len, 0) == (ssize_t) len) {
        return;
    }

    /* no kernel randomness: xorshift, good enough for masking keys */

    if (x == 0) {
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t) ts.tv_nsec << 20 ^ (uint64_t) ts.tv_sec
            ^ (uint64_t) getpid() << 40;
        x |= 1;
    }

    p = buf;

    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (u_char) (x >> 32);
    }
}


/*
 * Connects to url and makes the WebSocket handshake, all within timeout
 * ms (-1: no limit), which also bounds each later wait.  On failure the
 * connection is closed and c->err says why.
 */

int
pubsub_connect(pubsub_conn_t *c, const pubsub_url_t *url, int timeout)
{
    int               fd, rc, err, one;
    int64_t           deadline;
    socklen_t         len;
    struct addrinfo   hints, *res, *ai;

    memset(c, 0, sizeof(pubsub_conn_t));
    c->fd = -1;
    c->timeout = timeout;
    c->wait = timeout;

    if (pubsub_ws_reader_init(&c->reader, PUBSUB_MAX_MESSAGE) != PUBSUB_OK) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return PUBSUB_ERROR;
    }

    deadline = pubsub_deadline(timeout);

    memset(&hints, 0, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(url->host, url->port, &hints, &res);
    if (rc != 0) {
        snprintf(c->err, sizeof(c->err), "cannot resolve \"%s\": %s",
                 url->host, gai_strerror(rc));
        rc = PUBSUB_ERROR;
        goto failed;
    }

    fd = -1;
    err = 0;
    rc = PUBSUB_ERROR;

    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd == -1) {
            err = errno;
            continue;
        }

        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }

        err = errno;

        if (err == EINPROGRESS) {
            rc = pubsub_wait(fd, POLLOUT, deadline);

            if (rc == PUBSUB_OK) {
                len = sizeof(int);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
                    err = errno;
                }

                if (err == 0) {
                    break;
                }

            } else {
                close(fd);
                fd = -1;
                break;
            }
        }

        close(fd);
        fd = -1;
    }

    freeaddrinfo(res);

    if (fd == -1) {
        if (rc == PUBSUB_INTR) {
            snprintf(c->err, sizeof(c->err), "interrupted");
            goto failed;
        }

        if (rc == PUBSUB_TIMEDOUT) {
            snprintf(c->err, sizeof(c->err),
                     "cannot connect to %s: timed out after %g s",
                     url->authority, timeout / 1000.0);
            goto failed;
        }

        snprintf(c->err, sizeof(c->err), "cannot connect to %s: %s",
                 url->authority, strerror(err));
        goto failed;
    }

    c->fd = fd;

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));

    rc = url->tls ? pubsub_tls_connect(c, url, deadline) : PUBSUB_OK;

    if (rc == PUBSUB_OK) {
        rc = pubsub_handshake(c, url, deadline);
    }

    if (rc != PUBSUB_OK) {
        pubsub_tls_free(c);
        close(c->fd);
        c->fd = -1;
        pubsub_ws_reader_free(&c->reader);
        return rc;
    }

    return PUBSUB_OK;

failed:

    pubsub_ws_reader_free(&c->reader);

    return (rc == PUBSUB_INTR) ? PUBSUB_INTR : PUBSUB_ERROR;
}


/* the SSL_CTX of every wss:// connection, as pubsub_set_tls() said */

static SSL_CTX *
pubsub_tls_ctx_create(pubsub_conn_t *c)
{
    int       n;
    SSL_CTX  *ctx;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(c->err, sizeof(c->err), "SSL_CTX_new() failed");
        return NULL;
    }

    (void) SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* the WebSocket's close frame, not TLS, says a stream is whole */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif

    if (pubsub_tls_cert && pubsub_tls_client_cert(c, ctx) != PUBSUB_OK) {
        SSL_CTX_free(ctx);
        return NULL;
    }

    if (!pubsub_tls_verify) {
        return ctx;
    }

    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    if (pubsub_tls_cafile && access(pubsub_tls_cafile, R_OK) == -1) {
        snprintf(c->err, sizeof(c->err),
                 "cannot read the CA certificates \"%s\": %s",
                 pubsub_tls_cafile, strerror(errno));
        SSL_CTX_free(ctx);
        return NULL;
    }

    n = pubsub_tls_cafile
        ? SSL_CTX_load_verify_locations(ctx, pubsub_tls_cafile, NULL)
        : SSL_CTX_set_default_verify_paths(ctx);

    if (n != 1) {
        snprintf(c->err, sizeof(c->err),
                 "cannot load the CA certificates%s%s%s: %s",
                 pubsub_tls_cafile ? " \"" : "",
                 pubsub_tls_cafile ? pubsub_tls_cafile : "",
                 pubsub_tls_cafile ? "\"" : "", pubsub_tls_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }

    return ctx;
}


/*
 * The client's certificate and key, checked to belong together here
 * rather than found out by the server in the handshake
 */

static int
pubsub_tls_client_cert(pubsub_conn_t *c, SSL_CTX *ctx)
{
    const char  *key;

    key = pubsub_tls_key ? pubsub_tls_key : pubsub_tls_cert;

    if (access(pubsub_tls_cert, R_OK) == -1) {
        snprintf(c->err, sizeof(c->err),
                 "cannot read the client certificate \"%s\": %s",
                 pubsub_tls_cert, strerror(errno));
        return PUBSUB_ERROR;
    }

    if (access(key, R_OK) == -1) {
        snprintf(c->err, sizeof(c->err),
                 "cannot read the client key \"%s\": %s",
                 key, strerror(errno));
        return PUBSUB_ERROR;
    }

    if (SSL_CTX_use_certificate_chain_file(ctx, pubsub_tls_cert) != 1) {
        snprintf(c->err, sizeof(c->err),
                 "cannot load the client certificate \"%s\": %s",
                 pubsub_tls_cert, pubsub_tls_reason());
        return PUBSUB_ERROR;
    }

    switch (pubsub_tls_key_kind(key)) {

    case 0:
        snprintf(c->err, sizeof(c->err), "no private key in \"%s\"%s",
                 key, pubsub_tls_key ? "" : ": give it with --cert-key");
        return PUBSUB_ERROR;

    case 2:
        snprintf(c->err, sizeof(c->err),
                 "the client key \"%s\" is encrypted: pubsub-cli takes a "
                 "key without a passphrase", key);
        return PUBSUB_ERROR;

    default:
        break;
    }

    /* never a passphrase prompt: stdin may be produce's records */
    SSL_CTX_set_default_passwd_cb(ctx, pubsub_tls_no_password);

    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {

        if (ERR_GET_REASON(ERR_peek_last_error())
            == X509_R_KEY_VALUES_MISMATCH)
        {
            ERR_clear_error();
            snprintf(c->err, sizeof(c->err),
                     "the client key \"%s\" does not belong to the "
                     "certificate \"%s\"", key, pubsub_tls_cert);
            return PUBSUB_ERROR;
        }

        snprintf(c->err, sizeof(c->err),
                 "cannot load the client key \"%s\": %s", key,
                 pubsub_tls_reason());
        return PUBSUB_ERROR;
    }

    return PUBSUB_OK;
}


/*
 * What a PEM file holds of a private key: 0 none, 1 a key, 2 an encrypted
 * one (PKCS#8's ENCRYPTED PRIVATE KEY, or the traditional Proc-Type
 * header); so that the errors say which, and OpenSSL never prompts
 */

static int
pubsub_tls_key_kind(const char *path)
{
    int    kind;
    FILE  *f;
    char   line[256];

    f = fopen(path, "r");
    if (f == NULL) {
        return 1;    /* OpenSSL says why */
    }

    kind = 0;

    while (fgets(line, sizeof(line), f)) {

        if (strncmp(line, "-----BEGIN ", 11) == 0
            && strstr(line, "PRIVATE KEY-----"))
        {
            kind = strstr(line, "ENCRYPTED") ? 2 : 1;

            if (kind == 1 && fgets(line, sizeof(line), f)
                && strncmp(line, "Proc-Type: 4,ENCRYPTED", 22) == 0)
            {
                kind = 2;
            }

            break;
        }
    }

    fclose(f);

    return kind;
}


static int
pubsub_tls_no_password(char *buf, int size, int rwflag, void *data)
{
    return -1;
}


/* the first reason OpenSSL queued, its queue emptied */

static const char *
pubsub_tls_reason(void)
{
    const char     *reason;
    unsigned long   e;

    e = ERR_get_error();
    reason = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();

    return reason ? reason : "unknown error";
}


/*
 * The TLS handshake of wss:// on the connected socket: SNI with the URL's
 * host name, and unless told otherwise the certificate verified and
 * matched against the host (a name, or an address literal)
 */

static int
pubsub_tls_connect(pubsub_conn_t *c, const pubsub_url_t *url,
    int64_t deadline)
{
    int                 n, rc;
    long                verify;
    SSL                *ssl;
    char                what[300];
    u_char              addr[16];
    X509_VERIFY_PARAM  *param;

    if (pubsub_tls_ctx == NULL) {
        pubsub_tls_ctx = pubsub_tls_ctx_create(c);
        if (pubsub_tls_ctx == NULL) {
            return PUBSUB_ERROR;
        }
    }

    ssl = SSL_new(pubsub_tls_ctx);
    if (ssl == NULL || SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        snprintf(c->err, sizeof(c->err), "SSL_new() failed");
        return PUBSUB_ERROR;
    }

    c->ssl = ssl;

    n = (inet_pton(AF_INET, url->host, addr) == 1
         || inet_pton(AF_INET6, url->host, addr) == 1);

    if (!n) {
        (void) SSL_set_tlsext_host_name(ssl, url->host);
    }

    if (pubsub_tls_verify) {
        param = SSL_get0_param(ssl);

        rc = n ? X509_VERIFY_PARAM_set1_ip_asc(param, url->host)
               : X509_VERIFY_PARAM_set1_host(param, url->host, 0);

        if (rc != 1) {
            snprintf(c->err, sizeof(c->err), "cannot verify the host \"%s\"",
                     url->host);
            return PUBSUB_ERROR;
        }
    }

    for ( ;; ) {
        ERR_clear_error();

        n = SSL_connect(ssl);
        if (n == 1) {
            return PUBSUB_OK;
        }

        verify = SSL_get_verify_result(ssl);

        if (pubsub_tls_verify && verify != X509_V_OK
            && SSL_get_error(ssl, n) == SSL_ERROR_SSL)
        {
            snprintf(c->err, sizeof(c->err),
                     "TLS handshake with %s failed: the certificate is not "
                     "trusted: %s", url->authority,
                     X509_verify_cert_error_string(verify));
            return PUBSUB_ERROR;
        }

        snprintf(what, sizeof(what), "TLS handshake with %s failed",
                 url->authority);

        rc = pubsub_tls_wait(c, n, deadline, what);
        if (rc != PUBSUB_OK) {
            return rc;
        }
    }
}


/*
 * After an SSL call returned n: PUBSUB_OK once the socket is ready for
 * the call again, else an error in c->err (PUBSUB_ERROR, PUBSUB_TIMEDOUT,
 * PUBSUB_INTR)
 */

static int
pubsub_tls_wait(pubsub_conn_t *c, int n, int64_t deadline, const char *what)
{
    int            err, rc;
    unsigned long  e;

    err = SSL_get_error(c->ssl, n);

    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        rc = pubsub_wait(c->fd, (err == SSL_ERROR_WANT_READ) ? POLLIN
                                                             : POLLOUT,
                         deadline);

        if (rc == PUBSUB_TIMEDOUT) {
            snprintf(c->err, sizeof(c->err), "%s: timed out after %g s",
                     what, c->timeout / 1000.0);

        } else if (rc == PUBSUB_INTR) {
            snprintf(c->err, sizeof(c->err), "interrupted");

        } else if (rc != PUBSUB_OK) {
            snprintf(c->err, sizeof(c->err), "%s: %s", what,
                     strerror(errno));
        }

        return rc;
    }

    e = ERR_get_error();

    if (e != 0) {
        snprintf(c->err, sizeof(c->err), "%s: %s", what,
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                            : "unknown TLS error");

    } else if (err == SSL_ERROR_SYSCALL && errno != 0) {
        snprintf(c->err, sizeof(c->err), "%s: %s", what, strerror(errno));

    } else {
        snprintf(c->err, sizeof(c->err), "%s: the connection was closed",
                 what);
    }

    return PUBSUB_ERROR;
}


static void
pubsub_tls_free(pubsub_conn_t *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
}


static int
pubsub_tls_write(pubsub_conn_t *c, const u_char *p, size_t len,
    int64_t deadline)
{
    int  n, rc;

    while (len > 0) {
        ERR_clear_error();

        n = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int) len);

        if (n > 0) {
            p += n;
            len -= n;
            continue;
        }

        rc = pubsub_tls_wait(c, n, deadline, "cannot send to the server");
        if (rc != PUBSUB_OK) {
            return (rc == PUBSUB_TIMEDOUT) ? PUBSUB_ERROR : rc;
        }
    }

    return PUBSUB_OK;
}


/* as pubsub_read(); the server's close_notify, or a bare EOF, is n 0 */

static int
pubsub_tls_read(pubsub_conn_t *c, u_char *buf, size_t size, size_t *n,
    int64_t deadline)
{
    int  got, err, rc;

    for ( ;; ) {
        ERR_clear_error();

        got = SSL_read(c->ssl, buf, size > INT_MAX ? INT_MAX : (int) size);

        if (got > 0) {
            *n = got;
            return PUBSUB_OK;
        }

        err = SSL_get_error(c->ssl, got);

        if (err == SSL_ERROR_ZERO_RETURN
            || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                && got == 0))
        {
            *n = 0;
            return PUBSUB_OK;
        }

        rc = pubsub_tls_wait(c, got, deadline, "cannot read from the server");
        if (rc != PUBSUB_OK) {
            return rc;
        }
    }
}


static int
pubsub_handshake(pubsub_conn_t *c, const pubsub_url_t *url,
    int64_t deadline)
{
    int      n, rc;
    char     key[PUBSUB_WS_KEY_LEN + 1], buf[PUBSUB_MAX_HANDSHAKE];
    u_char   nonce[16], *room;
    size_t   have, got, used, size;

    pubsub_random(nonce, sizeof(nonce));
    pubsub_ws_key(key, nonce);

    n = pubsub_ws_handshake_request(buf, sizeof(buf), url, key,
                                    pubsub_headers);
    if (n < 0) {
        snprintf(c->err, sizeof(c->err), "URL too long");
        return PUBSUB_ERROR;
    }

    rc = pubsub_write(c, (u_char *) buf, n, deadline);
    if (rc != PUBSUB_OK) {
        return rc;
    }

    have = 0;

    for ( ;; ) {
        rc = pubsub_ws_handshake_response(buf, have, key, &used, c->err,
                                          sizeof(c->err));
        if (rc != PUBSUB_AGAIN) {
            break;
        }

        rc = pubsub_read(c, (u_char *) buf + have, sizeof(buf) - have,
                         &got, deadline);

        if (rc == PUBSUB_TIMEDOUT) {
            snprintf(c->err, sizeof(c->err),
                     "no handshake response from %s within %g s",
                     url->authority, c->timeout / 1000.0);
            return PUBSUB_ERROR;
        }

        if (rc != PUBSUB_OK) {
            return rc;
        }

        if (got == 0) {
            snprintf(c->err, sizeof(c->err),
                     "connection closed by %s during the handshake",
                     url->authority);
            return PUBSUB_ERROR;
        }

        have += got;
    }

    if (rc != PUBSUB_OK) {
        return PUBSUB_ERROR;
    }

    /* frames right after the response */

    have -= used;

    if (have > 0) {
        room = pubsub_ws_reader_room(&c->reader, &size);
        if (room == NULL || size < have) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            return PUBSUB_ERROR;
        }

        memcpy(room, buf + used, have);
        pubsub_ws_reader_filled(&c->reader, have);
    }

    return PUBSUB_OK;
}


static int64_t
pubsub_deadline(int timeout)
{
    struct timespec  ts;

    if (timeout < 0) {
        return -1;
    }

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout;
}


/* PUBSUB_OK when fd is ready, PUBSUB_TIMEDOUT, PUBSUB_INTR or PUBSUB_ERROR */

static int
pubsub_wait(int fd, short events, int64_t deadline)
{
    int              n, ms;
    int64_t          left;
    struct pollfd    pfd[2];
    struct timespec  ts;

    ms = -1;

    if (deadline >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        left = deadline - ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        ms = (left > 0) ? (int) left : 0;
    }

    pfd[0].fd = fd;
    pfd[0].events = events;
    pfd[0].revents = 0;
    pfd[1].fd = pubsub_wakeup_fd;
    pfd[1].events = POLLIN;
    pfd[1].revents = 0;

    n = poll(pfd, (pubsub_wakeup_fd != -1) ? 2 : 1, ms);

    if (n == -1) {
        return (errno == EINTR) ? PUBSUB_INTR : PUBSUB_ERROR;
    }

    if (pfd[1].revents & POLLIN) {
        return PUBSUB_INTR;
    }

    return (n == 0) ? PUBSUB_TIMEDOUT : PUBSUB_OK;
}


static int
pubsub_write(pubsub_conn_t *c, const u_char *p, size_t len, int64_t deadline)
{
    int      rc;
    ssize_t  n;

    if (c->ssl) {
        return pubsub_tls_write(c, p, len, deadline);
    }

    while (len > 0) {
        n = send(c->fd, p, len, MSG_NOSIGNAL);

        if (n >= 0) {
            p += n;
            len -= n;
            continue;
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(c->err, sizeof(c->err), "cannot send to the server: %s",
                     strerror(errno));
            return PUBSUB_ERROR;
        }

        rc = pubsub_wait(c->fd, POLLOUT, deadline);

        if (rc == PUBSUB_TIMEDOUT) {
            snprintf(c->err, sizeof(c->err),
                     "cannot send to the server within %g s",
                     c->timeout / 1000.0);
            return PUBSUB_ERROR;
        }

        if (rc != PUBSUB_OK) {
            snprintf(c->err, sizeof(c->err), "%s",
                     rc == PUBSUB_INTR ? "interrupted" : strerror(errno));
            return rc;
        }
    }

    return PUBSUB_OK;
}


/* PUBSUB_OK with *n (0: the server closed), PUBSUB_TIMEDOUT, ... */

static int
pubsub_read(pubsub_conn_t *c, u_char *buf, size_t size, size_t *n,
    int64_t deadline)
{
    int      rc;
    ssize_t  got;

    if (c->ssl) {
        return pubsub_tls_read(c, buf, size, n, deadline);
    }

    for ( ;; ) {
        got = recv(c->fd, buf, size, 0);

        if (got >= 0) {
            *n = got;
            return PUBSUB_OK;
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            snprintf(c->err, sizeof(c->err),
                     "cannot read from the server: %s", strerror(errno));
            return PUBSUB_ERROR;
        }

        rc = pubsub_wait(c->fd, POLLIN, deadline);

        if (rc == PUBSUB_INTR) {
            snprintf(c->err, sizeof(c->err), "interrupted");
        }

        if (rc != PUBSUB_OK) {
            return rc;
        }
    }
}


int
pubsub_send_frame(pubsub_conn_t *c, int opcode, const u_char *payload,
    size_t len)
{
    int      rc;
    u_char   mask[4], *frame;
    size_t   n;

    frame = malloc(pubsub_ws_frame_size(len));
    if (frame == NULL) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return PUBSUB_ERROR;
    }

    pubsub_random(mask, sizeof(mask));
    n = pubsub_ws_frame(frame, opcode, payload, len, mask);

    if (opcode == PUBSUB_WS_CLOSE) {
        c->close_sent = 1;
    }

    rc = pubsub_write(c, frame, n, pubsub_deadline(c->timeout));

    free(frame);

    return rc;
}


int
pubsub_send_req(pubsub_conn_t *c, const pubsub_req_t *r)
{
    int      rc;
    u_char   mask[4], *frame;
    size_t   n;

    frame = malloc(pubsub_req_frame_size(r));
    if (frame == NULL) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return PUBSUB_ERROR;
    }

    pubsub_random(mask, sizeof(mask));
    n = pubsub_req_frame(frame, r, mask);

    rc = pubsub_write(c, frame, n, pubsub_deadline(c->timeout));

    free(frame);

    return rc;
}


/*
 * The next message or close frame from the server; pings are answered,
 * pongs skipped.  A close is answered unless we sent one.
 */

static int
pubsub_recv_event(pubsub_conn_t *c, pubsub_ws_event_t *ev, int64_t deadline)
{
    int      rc;
    u_char  *room, code[2];
    size_t   size, n;

    for ( ;; ) {
        rc = pubsub_ws_reader_next(&c->reader, ev);

        if (rc == PUBSUB_ERROR) {
            snprintf(c->err, sizeof(c->err), "bad frame from the server: %s",
                     c->reader.err);
            return PUBSUB_ERROR;
        }

        if (rc == PUBSUB_OK) {
            switch (ev->opcode) {

            case PUBSUB_WS_PING:
                if (c->close_sent) {
                    continue;
                }

                rc = pubsub_send_frame(c, PUBSUB_WS_PONG, ev->data, ev->len);
                if (rc != PUBSUB_OK) {
                    return rc;
                }

                continue;

            case PUBSUB_WS_PONG:
                continue;

            case PUBSUB_WS_CLOSE:
                c->close_received = 1;

                if (!c->close_sent) {
                    code[0] = (u_char) (ev->close_code >> 8);
                    code[1] = (u_char) ev->close_code;

                    (void) pubsub_send_frame(c, PUBSUB_WS_CLOSE, code,
                                             ev->close_code == 1005 ? 0 : 2);
                }

                return PUBSUB_OK;

            default:
                return PUBSUB_OK;
            }
        }

        room = pubsub_ws_reader_room(&c->reader, &size);
        if (room == NULL) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            return PUBSUB_ERROR;
        }

        rc = pubsub_read(c, room, size, &n, deadline);

        if (rc == PUBSUB_TIMEDOUT) {
            snprintf(c->err, sizeof(c->err),
                     "no answer from the server within %g s",
                     c->wait / 1000.0);
            return PUBSUB_ERROR;
        }

        if (rc != PUBSUB_OK) {
            return rc;
        }

        if (n == 0) {
            snprintf(c->err, sizeof(c->err),
                     "connection closed by the server");
            return PUBSUB_ERROR;
        }

        pubsub_ws_reader_filled(&c->reader, n);
    }
}


/*
 * The next PubSubResp (free it with pubsub_resp_free()).  Text messages
 * are skipped; a close from the server is an error.
 */

int
pubsub_recv_resp(pubsub_conn_t *c, PubSubResp **resp)
{
    return pubsub_recv_resp_timeout(c, resp, c->timeout);
}


/* the same, waiting at most timeout ms (-1: no limit) */

int
pubsub_recv_resp_timeout(pubsub_conn_t *c, PubSubResp **resp, int timeout)
{
    int                 rc;
    char                reason[128];
    int64_t             deadline;
    pubsub_ws_event_t   ev;

    deadline = pubsub_deadline(timeout);
    c->wait = timeout;

    for ( ;; ) {
        if (c->close_received) {
            snprintf(c->err, sizeof(c->err), "the server closed the "
                     "WebSocket");
            return PUBSUB_ERROR;
        }

        rc = pubsub_recv_event(c, &ev, deadline);
        if (rc != PUBSUB_OK) {
            return rc;
        }

        if (ev.opcode == PUBSUB_WS_CLOSE) {
            pubsub_printable(reason, sizeof(reason), (char *) ev.data,
                             ev.len);
            snprintf(c->err, sizeof(c->err),
                     "the server closed the WebSocket with status %d%s%s",
                     ev.close_code, ev.len ? ": " : "", reason);
            return PUBSUB_ERROR;
        }

        if (ev.opcode != PUBSUB_WS_BINARY) {
            continue;
        }

        *resp = pubsub_resp_decode(ev.data, ev.len);

        if (*resp == NULL) {
            snprintf(c->err, sizeof(c->err),
                     "a server message is not a PubSubResp");
            return PUBSUB_ERROR;
        }

        return PUBSUB_OK;
    }
}


/*
 * 1 when a whole frame waits in the reader, so that pubsub_recv_resp()
 * returns something without reading (a poll() of the socket would not
 * say so), or when TLS holds bytes it decrypted (the rest of their frame
 * is on its way); 0 otherwise.
 */

int
pubsub_buffered(pubsub_conn_t *c)
{
    const char         *err;
    pubsub_ws_frame_t   f;
    pubsub_ws_reader_t *r;

    r = &c->reader;

    if (c->ssl && SSL_pending(c->ssl) > 0) {
        return 1;
    }

    if (pubsub_ws_frame_parse(&f, r->buf + r->pos, r->last - r->pos, &err)
        != PUBSUB_OK)
    {
        /* incomplete; or bad, which the next read reports */
        return pubsub_ws_frame_parse(&f, r->buf + r->pos, r->last - r->pos,
                                     &err) == PUBSUB_ERROR;
    }

    return r->last - r->pos >= f.header + f.length;
}


/*
 * Sends r with the next sequence number and waits for the answer, which
 * must carry that sequence.
 */

int
pubsub_call(pubsub_conn_t *c, pubsub_req_t *r, PubSubResp **resp)
{
    int          rc;
    const char  *msg;

    r->req.sequence = ++c->sequence;

    rc = pubsub_send_req(c, r);
    if (rc != PUBSUB_OK) {
        return rc;
    }

    rc = pubsub_recv_resp(c, resp);
    if (rc != PUBSUB_OK) {
        return rc;
    }

    if ((*resp)->sequence != r->req.sequence) {
        msg = ((*resp)->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP)
              ? (*resp)->error_resp->message : "";

        snprintf(c->err, sizeof(c->err),
                 "answer with sequence %lld to request %lld%s%s",
                 (long long) (*resp)->sequence, (long long) r->req.sequence,
                 *msg ? ": " : "", msg);

        pubsub_resp_free(*resp);
        *resp = NULL;

        return PUBSUB_ERROR;
    }

    return PUBSUB_OK;
}


/*
 * Sends a close with code (none when 0) unless a close was exchanged,
 * waits a little for the server's close, and closes the socket.  c->err
 * may change.
 */

void
pubsub_close(pubsub_conn_t *c, int code)
{
    int                 timeout;
    u_char              payload[2];
    int64_t             deadline;
    pubsub_ws_event_t   ev;

    if (c->fd != -1) {
        if (!c->close_sent && !c->close_received) {
            payload[0] = (u_char) (code >> 8);
            payload[1] = (u_char) code;

            (void) pubsub_send_frame(c, PUBSUB_WS_CLOSE, payload,
                                     code ? 2 : 0);
        }

        timeout = (c->timeout >= 0 && c->timeout < 2000) ? c->timeout : 2000;
        deadline = pubsub_deadline(timeout);

        while (!c->close_received) {
            if (pubsub_recv_event(c, &ev, deadline) != PUBSUB_OK) {
                break;
            }
        }

        if (c->ssl) {
            /* our close_notify, if it fits in the socket; no wait */
            (void) SSL_shutdown(c->ssl);
            pubsub_tls_free(c);
        }

        close(c->fd);
        c->fd = -1;
    }

    pubsub_ws_reader_free(&c->reader);
}
