
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Non-blocking WebSocket clients on one epoll loop, on the I/O-free half
 * of tools/pubsub_client.c: handshake request and check, masked frames,
 * the frame reader, PubSubReq/PubSubResp coding.
 */


#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"


#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT  24
#endif

#define BENCH_EPOLL_EVENTS       512


/*
 * Decoded answers live in an arena emptied after each one: protobuf-c's
 * unpacking makes an allocation per message and per field otherwise.
 */

typedef struct {
    u_char                  *start;
    size_t                   used;
    size_t                   size;
    size_t                   overflow;  /* what went to malloc() */
} bench_arena_t;


static void *bench_arena_alloc(void *data, size_t size);
static void bench_arena_free(void *data, void *p);
static int bench_parse_sources(bench_pool_t *pool, const char *spec);
static uint64_t bench_xorshift(uint64_t *x);
static void bench_conn_event(void *data, uint32_t events);
static void bench_conn_fail(bench_conn_t *c, const char *fmt, int err);
static void bench_conn_connected(bench_conn_t *c);
static void bench_conn_handshake(bench_conn_t *c);
static void bench_conn_read(bench_conn_t *c);
static int bench_conn_messages(bench_conn_t *c);
static int bench_conn_write(bench_conn_t *c, const u_char *p, size_t len);
static void bench_conn_flush(bench_conn_t *c);


static bench_arena_t        bench_arena;
static ProtobufCAllocator   bench_allocator = {
    bench_arena_alloc, bench_arena_free, &bench_arena
};


/*
 * url: "ws://HOST:PORT/PATH"; sources: "" (the kernel chooses), or local
 * addresses to spread connections over, "127.0.0.2-127.0.0.9,127.0.0.20"
 * (a range varies the last byte).
 */

int
bench_pool_init(bench_pool_t *pool, int ep, const char *url,
    const char *sources, int remote)
{
    int               rc;
    const char       *err;
    struct addrinfo   hints, *res;

    memset(pool, 0, sizeof(bench_pool_t));
    pool->ep = ep;

    err = pubsub_url_parse(&pool->url, url);
    if (err != NULL) {
        snprintf(pool->err, sizeof(pool->err), "%s: %s", url, err);
        return -1;
    }

    memset(&hints, 0, sizeof(struct addrinfo));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(pool->url.host, pool->url.port, &hints, &res);
    if (rc != 0) {
        snprintf(pool->err, sizeof(pool->err), "cannot resolve \"%s\": %s",
                 pool->url.host, gai_strerror(rc));
        return -1;
    }

    memcpy(&pool->addr, res->ai_addr, sizeof(struct sockaddr_in));
    freeaddrinfo(res);

    if (!remote && (ntohl(pool->addr.sin_addr.s_addr) >> 24) != 127) {
        snprintf(pool->err, sizeof(pool->err), "%s is not a loopback "
                 "address (--remote allows it)", pool->url.host);
        return -1;
    }

    if (sources != NULL && *sources != '\0'
        && bench_parse_sources(pool, sources) != 0)
    {
        snprintf(pool->err, sizeof(pool->err), "bad source addresses "
                 "\"%s\"", sources);
        return -1;
    }

    pubsub_random(&pool->seed, sizeof(pool->seed));
    pool->seed |= 1;

    return 0;
}


static int
bench_parse_sources(bench_pool_t *pool, const char *spec)
{
    int              n, i, last;
    char             buf[64], *end;
    size_t           len;
    const char      *p, *comma, *dash;
    struct in_addr   a, b;

    n = 0;

    for (p = spec; *p; p = *comma ? comma + 1 : comma) {
        comma = strchr(p, ',');
        if (comma == NULL) {
            comma = p + strlen(p);
        }

        dash = memchr(p, '-', comma - p);
        len = (dash ? dash : comma) - p;

        if (len == 0 || len >= sizeof(buf)) {
            return -1;
        }

        memcpy(buf, p, len);
        buf[len] = '\0';

        if (inet_pton(AF_INET, buf, &a) != 1) {
            return -1;
        }

        last = ntohl(a.s_addr) & 0xff;

        if (dash) {
            len = comma - (dash + 1);

            if (len == 0 || len >= sizeof(buf)) {
                return -1;
            }

            memcpy(buf, dash + 1, len);
            buf[len] = '\0';

            if (inet_pton(AF_INET, buf, &b) == 1) {
                /* "127.0.0.2-127.0.0.9": the same first three bytes */

                if ((ntohl(b.s_addr) & 0xffffff00)
                    != (ntohl(a.s_addr) & 0xffffff00))
                {
                    return -1;
                }

                last = ntohl(b.s_addr) & 0xff;

            } else {
                /* "127.0.0.2-9" */
                last = (int) strtol(buf, &end, 10);

                if (*end != '\0') {
                    return -1;
                }
            }

            if (last < (int) (ntohl(a.s_addr) & 0xff) || last > 255) {
                return -1;
            }
        }

        for (i = ntohl(a.s_addr) & 0xff; i <= last; i++) {
            pool->sources = realloc(pool->sources,
                                    (n + 1) * sizeof(struct sockaddr_in));
            if (pool->sources == NULL) {
                return -1;
            }

            memset(&pool->sources[n], 0, sizeof(struct sockaddr_in));
            pool->sources[n].sin_family = AF_INET;
            pool->sources[n].sin_addr.s_addr =
                               htonl((ntohl(a.s_addr) & 0xffffff00) | i);
            n++;
        }
    }

    pool->nsources = n;

    return n ? 0 : -1;
}


static void *
bench_arena_alloc(void *data, size_t size)
{
    u_char         *p;
    size_t          n;
    bench_arena_t  *a = data;

    size = (size + 15) & ~(size_t) 15;

    if (a->size - a->used < size) {
        if (a->used) {
            /* an answer outgrew it: the next one gets a larger arena */
            a->overflow += size;
            return malloc(size);
        }

        n = a->size ? a->size : 65536;

        while (n < size) {
            n *= 2;
        }

        free(a->start);
        a->start = malloc(n);
        a->size = a->start ? n : 0;

        if (a->start == NULL) {
            return NULL;
        }
    }

    p = a->start + a->used;
    a->used += size;

    return p;
}


static void
bench_arena_free(void *data, void *p)
{
    bench_arena_t  *a = data;

    if ((u_char *) p < a->start || (u_char *) p >= a->start + a->size) {
        free(p);
    }
}


/* the decoded answer is gone: the arena grows to what it needed */

static void
bench_arena_reset(bench_arena_t *a)
{
    size_t  want;

    want = a->used + a->overflow;
    a->overflow = 0;

    if (want > a->size) {
        free(a->start);
        a->start = malloc(want * 2);
        a->size = a->start ? want * 2 : 0;
    }

    a->used = 0;
}


/* masks and keys need no strength here, only speed */

static uint64_t
bench_xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;

    return *x;
}


/* starts a connection; NULL when the socket cannot even be set up */

bench_conn_t *
bench_connect(bench_pool_t *pool, bench_conn_pt on_open,
    bench_resp_pt on_resp, void *data)
{
    int                  fd, one;
    bench_conn_t        *c;
    struct epoll_event   ee;
    struct sockaddr_in  *src;

    fd = socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0);
    if (fd == -1) {
        pool->last_errno = errno;
        snprintf(pool->err, sizeof(pool->err), "socket(): %s",
                 strerror(errno));
        return NULL;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));

    if (pool->nsources) {
        src = &pool->sources[pool->next_source++ % pool->nsources];

        /* the port is chosen at connect(), per destination */
        (void) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                          sizeof(int));

        if (bind(fd, (struct sockaddr *) src, sizeof(struct sockaddr_in))
            == -1)
        {
            pool->last_errno = errno;
            snprintf(pool->err, sizeof(pool->err), "bind(%s): %s",
                     inet_ntoa(src->sin_addr), strerror(errno));
            close(fd);
            return NULL;
        }
    }

    if (connect(fd, (struct sockaddr *) &pool->addr,
                sizeof(struct sockaddr_in))
        == -1 && errno != EINPROGRESS)
    {
        pool->last_errno = errno;
        snprintf(pool->err, sizeof(pool->err), "connect(): %s",
                 strerror(errno));
        close(fd);
        return NULL;
    }

    c = calloc(1, sizeof(bench_conn_t));
    if (c == NULL) {
        pool->last_errno = ENOMEM;
        snprintf(pool->err, sizeof(pool->err), "out of memory");
        close(fd);
        return NULL;
    }

    c->event.handler = bench_conn_event;
    c->event.data = c;
    c->pool = pool;
    c->fd = fd;
    c->state = BENCH_CONN_CONNECTING;
    c->index = pool->nconns;
    c->mask = pool->seed ^ ((uint64_t) (c->index + 1) * 0x9e3779b97f4a7c15);
    c->mask |= 1;
    c->on_open = on_open;
    c->on_resp = on_resp;
    c->data = data;

    ee.events = EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET;
    ee.data.ptr = &c->event;

    if (epoll_ctl(pool->ep, EPOLL_CTL_ADD, fd, &ee) == -1) {
        pool->last_errno = errno;
        snprintf(pool->err, sizeof(pool->err), "epoll_ctl(): %s",
                 strerror(errno));
        close(fd);
        free(c);
        return NULL;
    }

    pool->nconns++;
    pool->connecting++;

    return c;
}


int
bench_poll(int ep, int timeout_ms)
{
    int                  n, i;
    bench_event_t       *ev;
    struct epoll_event   events[BENCH_EPOLL_EVENTS];

    n = epoll_wait(ep, events, BENCH_EPOLL_EVENTS, timeout_ms);

    if (n == -1) {
        if (errno == EINTR) {
            return 0;
        }

        bench_fatal("epoll_wait(): %s", strerror(errno));
    }

    for (i = 0; i < n; i++) {
        ev = events[i].data.ptr;
        ev->handler(ev->data, events[i].events);
    }

    return n;
}


static void
bench_conn_event(void *data, uint32_t events)
{
    bench_conn_t  *c = data;

    switch (c->state) {

    case BENCH_CONN_CONNECTING:
        bench_conn_connected(c);
        break;

    case BENCH_CONN_HANDSHAKE:
        if (events & (EPOLLOUT|EPOLLERR)) {
            bench_conn_flush(c);
        }

        if (c->state == BENCH_CONN_HANDSHAKE
            && (events & (EPOLLIN|EPOLLRDHUP|EPOLLHUP|EPOLLERR)))
        {
            bench_conn_handshake(c);
        }

        break;

    case BENCH_CONN_OPEN:
        if (events & (EPOLLOUT|EPOLLERR)) {
            bench_conn_flush(c);
        }

        if (c->state == BENCH_CONN_OPEN
            && (events & (EPOLLIN|EPOLLRDHUP|EPOLLHUP|EPOLLERR)))
        {
            bench_conn_read(c);
        }

        break;

    default:
        break;
    }
}


/* fmt has one %s, for strerror(err) when err is not 0 */

static void
bench_conn_fail(bench_conn_t *c, const char *fmt, int err)
{
    bench_pool_t  *pool;

    pool = c->pool;

    if (c->state == BENCH_CONN_CLOSED) {
        return;
    }

    pool->failed++;
    pool->last_errno = err;
    snprintf(pool->err, sizeof(pool->err), fmt, err ? strerror(err) : "");

    bench_conn_close(c);
}


void
bench_conn_close(bench_conn_t *c)
{
    if (c->state == BENCH_CONN_CLOSED) {
        return;
    }

    if (c->state == BENCH_CONN_OPEN) {
        c->pool->open--;

    } else {
        c->pool->connecting--;
    }

    c->state = BENCH_CONN_CLOSED;

    close(c->fd);
    c->fd = -1;

    if (c->reader_ready) {
        pubsub_ws_reader_free(&c->reader);
        c->reader_ready = 0;
    }

    free(c->out);
    c->out = NULL;
    c->out_pos = 0;
    c->out_len = 0;
    c->out_size = 0;
}


static void
bench_conn_connected(bench_conn_t *c)
{
    int         err, n;
    u_char      nonce[16];
    uint64_t    r;
    socklen_t   len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }

    if (err) {
        bench_conn_fail(c, "connect(): %s", err);
        return;
    }

    r = bench_xorshift(&c->mask);
    memcpy(nonce, &r, 8);
    r = bench_xorshift(&c->mask);
    memcpy(nonce + 8, &r, 8);

    pubsub_ws_key(c->key, nonce);

    n = pubsub_ws_handshake_request((char *) c->pool->scratch,
                                    sizeof(c->pool->scratch),
                                    &c->pool->url, c->key, NULL);
    if (n < 0) {
        bench_conn_fail(c, "URL too long%s", 0);
        return;
    }

    c->state = BENCH_CONN_HANDSHAKE;

    if (bench_conn_write(c, c->pool->scratch, n) != 0) {
        return;
    }

    /* the answer may be there already: edge-triggered */
    bench_conn_handshake(c);
}


/*
 * The response is read into the pool's scratch buffer; only a partial
 * response, or frames right behind it, make the connection set up its
 * frame reader, so idle connections keep no buffer.
 */

static void
bench_conn_handshake(bench_conn_t *c)
{
    int             rc;
    char            err[256];
    u_char         *buf, *room;
    size_t          have, used, size;
    ssize_t         n;
    bench_pool_t   *pool;

    pool = c->pool;

    for ( ;; ) {
        if (c->reader_ready) {
            room = pubsub_ws_reader_room(&c->reader, &size);
            if (room == NULL) {
                bench_conn_fail(c, "out of memory%s", 0);
                return;
            }

        } else {
            room = pool->scratch;
            size = sizeof(pool->scratch);
        }

        n = recv(c->fd, room, size, 0);

        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }

            if (errno == EINTR) {
                continue;
            }

            bench_conn_fail(c, "handshake: %s", errno);
            return;
        }

        if (n == 0) {
            bench_conn_fail(c, "connection closed during the "
                            "handshake%s", 0);
            return;
        }

        pool->wire_bytes += n;

        if (c->reader_ready) {
            pubsub_ws_reader_filled(&c->reader, n);
            buf = c->reader.buf;
            have = c->reader.last;

        } else {
            buf = pool->scratch;
            have = n;
        }

        rc = pubsub_ws_handshake_response((char *) buf, have, c->key, &used,
                                          err, sizeof(err));

        if (rc == PUBSUB_ERROR) {
            bench_conn_fail(c, "bad handshake%s", 0);
            snprintf(pool->err, sizeof(pool->err), "%s", err);
            return;
        }

        if (rc == PUBSUB_AGAIN) {
            if (!c->reader_ready) {
                if (pubsub_ws_reader_init(&c->reader, PUBSUB_MAX_MESSAGE)
                    != PUBSUB_OK)
                {
                    bench_conn_fail(c, "out of memory%s", 0);
                    return;
                }

                c->reader_ready = 1;
                room = pubsub_ws_reader_room(&c->reader, &size);
                memcpy(room, buf, have);
                pubsub_ws_reader_filled(&c->reader, have);
            }

            continue;
        }

        /* 101 */

        if (c->reader_ready) {
            c->reader.pos = used;

        } else if (have > used) {
            if (pubsub_ws_reader_init(&c->reader, PUBSUB_MAX_MESSAGE)
                != PUBSUB_OK)
            {
                bench_conn_fail(c, "out of memory%s", 0);
                return;
            }

            c->reader_ready = 1;
            room = pubsub_ws_reader_room(&c->reader, &size);
            memcpy(room, buf + used, have - used);
            pubsub_ws_reader_filled(&c->reader, have - used);
        }

        c->state = BENCH_CONN_OPEN;
        pool->connecting--;
        pool->open++;

        if (c->on_open) {
            c->on_open(c);
        }

        if (c->state == BENCH_CONN_OPEN && c->reader_ready) {
            (void) bench_conn_messages(c);
        }

        if (c->state == BENCH_CONN_OPEN) {
            bench_conn_read(c);
        }

        return;
    }
}


static void
bench_conn_read(bench_conn_t *c)
{
    u_char   *room;
    size_t    size;
    ssize_t   n;

    for ( ;; ) {
        if (!c->reader_ready) {
            if (pubsub_ws_reader_init(&c->reader, PUBSUB_MAX_MESSAGE)
                != PUBSUB_OK)
            {
                bench_conn_fail(c, "out of memory%s", 0);
                return;
            }

            c->reader_ready = 1;
        }

        room = pubsub_ws_reader_room(&c->reader, &size);
        if (room == NULL) {
            bench_conn_fail(c, "out of memory%s", 0);
            return;
        }

        n = recv(c->fd, room, size, 0);

        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }

            if (errno == EINTR) {
                continue;
            }

            bench_conn_fail(c, "recv(): %s", errno);
            return;
        }

        if (n == 0) {
            bench_conn_fail(c, "connection closed by the server%s", 0);
            return;
        }

        c->pool->wire_bytes += n;
        pubsub_ws_reader_filled(&c->reader, n);

        if (bench_conn_messages(c) != 0) {
            return;
        }
    }
}


/* the whole messages the reader has: 0, or -1 when the connection went */

static int
bench_conn_messages(bench_conn_t *c)
{
    int                 rc;
    u_char              code[2];
    int64_t             now;
    PubSubResp         *resp;
    bench_pool_t       *pool;
    pubsub_ws_event_t   ev;

    pool = c->pool;
    now = 0;

    for ( ;; ) {
        rc = pubsub_ws_reader_next(&c->reader, &ev);

        if (rc == PUBSUB_AGAIN) {
            return 0;
        }

        if (rc == PUBSUB_ERROR) {
            bench_conn_fail(c, "bad frame from the server%s", 0);
            snprintf(pool->err, sizeof(pool->err), "bad frame from the "
                     "server: %s", c->reader.err);
            return -1;
        }

        switch (ev.opcode) {

        case PUBSUB_WS_BINARY:
            resp = pub_sub_resp__unpack(&bench_allocator, ev.len, ev.data);

            if (resp == NULL) {
                bench_conn_fail(c, "a server message is not a "
                                "PubSubResp%s", 0);
                return -1;
            }

            pool->answers++;

            if (now == 0) {
                now = bench_now();
            }

            if (c->on_resp) {
                c->on_resp(c, resp, now);
            }

            if (bench_arena.overflow) {
                pub_sub_resp__free_unpacked(resp, &bench_allocator);
            }

            bench_arena_reset(&bench_arena);

            if (c->state != BENCH_CONN_OPEN) {
                return -1;
            }

            break;

        case PUBSUB_WS_PING:
            if (bench_send_frame(c, PUBSUB_WS_PONG, ev.data, ev.len) != 0) {
                return -1;
            }

            break;

        case PUBSUB_WS_CLOSE:
            code[0] = (u_char) (ev.close_code >> 8);
            code[1] = (u_char) ev.close_code;
            (void) bench_send_frame(c, PUBSUB_WS_CLOSE, code, 2);

            bench_conn_fail(c, "the server closed the WebSocket%s", 0);
            snprintf(pool->err, sizeof(pool->err), "the server closed the "
                     "WebSocket with status %d", ev.close_code);
            return -1;

        default:
            /* pongs, text */
            break;
        }
    }
}


int
bench_send_frame(bench_conn_t *c, int opcode, const u_char *payload,
    size_t len)
{
    u_char    frame[PUBSUB_WS_MAX_HEADER + 125], mask[4];
    size_t    n;
    uint64_t  r;

    if (len > 125) {
        return -1;
    }

    r = bench_xorshift(&c->mask);
    memcpy(mask, &r, 4);

    n = pubsub_ws_frame(frame, opcode, payload, len, mask);

    return bench_conn_write(c, frame, n);
}


/* a request as one masked binary frame */

int
bench_send_req(bench_conn_t *c, pubsub_req_t *r)
{
    u_char    frame[1024], mask[4];
    size_t    n;
    uint64_t  x;

    if (c->state != BENCH_CONN_OPEN) {
        return -1;
    }

    if (pubsub_req_frame_size(r) > sizeof(frame)) {
        bench_conn_fail(c, "request too long%s", 0);
        return -1;
    }

    x = bench_xorshift(&c->mask);
    memcpy(mask, &x, 4);

    n = pubsub_req_frame(frame, r, mask);

    c->pool->requests++;

    return bench_conn_write(c, frame, n);
}


/* writes now what the socket takes, keeps the rest for EPOLLOUT */

static int
bench_conn_write(bench_conn_t *c, const u_char *p, size_t len)
{
    u_char   *out;
    size_t    size;
    ssize_t   n;

    if (c->out_len == c->out_pos && !c->corked) {
        c->out_len = 0;
        c->out_pos = 0;

        while (len > 0) {
            n = send(c->fd, p, len, MSG_NOSIGNAL);

            if (n == -1) {
                if (errno == EINTR) {
                    continue;
                }

                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    break;
                }

                bench_conn_fail(c, "send(): %s", errno);
                return -1;
            }

            p += n;
            len -= n;
        }

        if (len == 0) {
            return 0;
        }
    }

    if (c->out_size - c->out_len < len) {
        size = c->out_len + len + 4096;
        out = realloc(c->out, size);

        if (out == NULL) {
            bench_conn_fail(c, "out of memory%s", 0);
            return -1;
        }

        c->out = out;
        c->out_size = size;
    }

    memcpy(c->out + c->out_len, p, len);
    c->out_len += len;

    return 0;
}


/*
 * Corked, requests gather in the output buffer and go in one send() when
 * uncorked: a client with many requests to send at once.
 */

void
bench_conn_cork(bench_conn_t *c)
{
    c->corked = 1;
}


void
bench_conn_uncork(bench_conn_t *c)
{
    c->corked = 0;

    if (c->state == BENCH_CONN_OPEN) {
        bench_conn_flush(c);
    }
}


static void
bench_conn_flush(bench_conn_t *c)
{
    ssize_t  n;

    while (c->out_pos < c->out_len) {
        n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos,
                 MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }

            bench_conn_fail(c, "send(): %s", errno);
            return;
        }

        c->out_pos += n;
    }

    c->out_pos = 0;
    c->out_len = 0;
}
