
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The epoll loop and non-blocking WebSocket client connections of
 * pubsub-soak, on the I/O-free layer of tools/pubsub_client.c.  A
 * connection is bound to the next of the loop's source addresses, so a
 * storm spreads over several loopback addresses.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "soak.h"


#define SOAK_EVENTS  512


static void soak_conn_handler(void *data, uint32_t events);
static int soak_conn_handshake(soak_conn_t *c);
static int soak_conn_read(soak_conn_t *c);
static int soak_conn_flush(soak_conn_t *c);
static int soak_conn_queue(soak_conn_t *c, int opcode, const u_char *p,
    size_t len, pubsub_req_t *r);
static void soak_conn_update(soak_conn_t *c);
static void soak_conn_fail(soak_conn_t *c, const char *why);


static int                  soak_ep = -1;
static pubsub_url_t         soak_url;
static struct sockaddr_in   soak_addr;
static struct sockaddr_in   soak_sources[SOAK_MAX_SOURCES];
static int                  soak_nsources;
static uint32_t             soak_next_source;
static uint64_t             soak_seed = 0x2545f4914f6cdd1dULL;

int64_t                     soak_conn_failed;
char                        soak_conn_err[256];


/* url: ws://IP:PORT/PATH; sources: "127.0.0.2,127.0.0.3" or NULL */

int
soak_loop_init(const char *url, const char *sources)
{
    char        *list, *ip, *save;
    const char  *err;

    err = pubsub_url_parse(&soak_url, url);
    if (err) {
        fprintf(stderr, "pubsub-soak: %s: %s\n", url, err);
        return -1;
    }

    memset(&soak_addr, 0, sizeof(soak_addr));
    soak_addr.sin_family = AF_INET;
    soak_addr.sin_port = htons(atoi(soak_url.port));

    if (inet_pton(AF_INET, soak_url.host, &soak_addr.sin_addr) != 1) {
        fprintf(stderr, "pubsub-soak: %s: the host must be an IPv4 address\n",
                url);
        return -1;
    }

    if (sources) {
        list = strdup(sources);
        if (list == NULL) {
            return -1;
        }

        for (ip = strtok_r(list, ",", &save);
             ip && soak_nsources < SOAK_MAX_SOURCES;
             ip = strtok_r(NULL, ",", &save))
        {
            memset(&soak_sources[soak_nsources], 0,
                   sizeof(struct sockaddr_in));
            soak_sources[soak_nsources].sin_family = AF_INET;

            if (inet_pton(AF_INET, ip,
                          &soak_sources[soak_nsources].sin_addr) != 1)
            {
                fprintf(stderr, "pubsub-soak: bad source address %s\n", ip);
                free(list);
                return -1;
            }

            soak_nsources++;
        }

        free(list);
    }

    soak_seed ^= (uint64_t) getpid() << 17;

    soak_ep = epoll_create1(EPOLL_CLOEXEC);
    if (soak_ep == -1) {
        perror("pubsub-soak: epoll_create1");
        return -1;
    }

    return 0;
}


const pubsub_url_t *
soak_loop_url(void)
{
    return &soak_url;
}


const struct sockaddr_in *
soak_loop_addr(void)
{
    return &soak_addr;
}


void
soak_loop_add(soak_event_t *ev, int fd, uint32_t events)
{
    struct epoll_event  ee;

    ee.events = events;
    ee.data.ptr = ev;

    if (epoll_ctl(soak_ep, EPOLL_CTL_ADD, fd, &ee) == -1) {
        perror("pubsub-soak: epoll_ctl");
        exit(1);
    }
}


/* one pass: events within ms */

int
soak_loop_run(int ms)
{
    int                 i, n;
    soak_event_t       *ev;
    struct epoll_event  events[SOAK_EVENTS];

    n = epoll_wait(soak_ep, events, SOAK_EVENTS, ms);

    if (n == -1) {
        return (errno == EINTR) ? 0 : -1;
    }

    for (i = 0; i < n; i++) {
        ev = events[i].data.ptr;
        ev->handler(ev->data, events[i].events);
    }

    return n;
}


static uint64_t
soak_rand(void)
{
    soak_seed ^= soak_seed << 13;
    soak_seed ^= soak_seed >> 7;
    soak_seed ^= soak_seed << 17;

    return soak_seed;
}


/* a non-blocking connect and the handshake; on_open when it is done */

int
soak_conn_open(soak_conn_t *c)
{
    int                  fd, one;
    u_char               nonce[16];
    uint64_t             r;
    struct sockaddr_in  *src;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(soak_conn_err, sizeof(soak_conn_err), "socket: %s",
                 strerror(errno));
        soak_conn_failed++;
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (soak_nsources) {
        src = &soak_sources[soak_next_source++ % soak_nsources];

        if (bind(fd, (struct sockaddr *) src, sizeof(*src)) == -1) {
            snprintf(soak_conn_err, sizeof(soak_conn_err), "bind: %s",
                     strerror(errno));
            soak_conn_failed++;
            close(fd);
            return -1;
        }
    }

    if (connect(fd, (struct sockaddr *) &soak_addr, sizeof(soak_addr)) == -1
        && errno != EINPROGRESS)
    {
        snprintf(soak_conn_err, sizeof(soak_conn_err), "connect: %s",
                 strerror(errno));
        soak_conn_failed++;
        close(fd);
        return -1;
    }

    r = soak_rand();
    memcpy(nonce, &r, 8);
    r = soak_rand();
    memcpy(nonce + 8, &r, 8);
    pubsub_ws_key(c->key, nonce);

    c->fd = fd;
    c->state = SOAK_CONN_CONNECTING;
    c->paused = 0;
    c->closing = 0;
    c->out_pos = 0;
    c->out_len = 0;
    c->event.handler = soak_conn_handler;
    c->event.data = c;
    c->events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;

    if (pubsub_ws_reader_init(&c->reader, PUBSUB_MAX_MESSAGE) != PUBSUB_OK) {
        close(fd);
        c->fd = -1;
        c->state = SOAK_CONN_IDLE;
        return -1;
    }

    soak_loop_add(&c->event, fd, c->events);

    return 0;
}


static void
soak_conn_handler(void *data, uint32_t events)
{
    int           err;
    char          req[4096];
    socklen_t     len;
    soak_conn_t  *c;

    c = data;

    if (c->state == SOAK_CONN_CONNECTING) {
        err = 0;
        len = sizeof(err);
        (void) getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);

        if (err) {
            soak_conn_failed++;
            snprintf(soak_conn_err, sizeof(soak_conn_err), "connect: %s",
                     strerror(err));
            soak_conn_fail(c, soak_conn_err);
            return;
        }

        if (!(events & EPOLLOUT)) {
            return;
        }

        if (pubsub_ws_handshake_request(req, sizeof(req), &soak_url, c->key,
                                        NULL)
            < 0
            || soak_conn_queue(c, -1, (u_char *) req, strlen(req), NULL)
               != 0)
        {
            soak_conn_fail(c, "handshake request");
            return;
        }

        c->state = SOAK_CONN_HANDSHAKE;
    }

    if ((events & EPOLLOUT) && c->out_len > c->out_pos) {
        if (soak_conn_flush(c) != 0) {
            return;
        }
    }

    if (c->paused && !(events & (EPOLLERR | EPOLLHUP))) {
        return;
    }

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        (void) soak_conn_read(c);
    }
}


/* reads what there is; 0 while the connection lives */

static int
soak_conn_read(soak_conn_t *c)
{
    int                rc;
    u_char            *p;
    size_t             room;
    ssize_t            n;
    PubSubResp        *resp;
    pubsub_ws_event_t  ev;

    for ( ;; ) {
        p = pubsub_ws_reader_room(&c->reader, &room);
        if (p == NULL) {
            soak_conn_fail(c, "out of memory");
            return -1;
        }

        n = read(c->fd, p, room);

        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR) {
                return 0;
            }

            snprintf(soak_conn_err, sizeof(soak_conn_err), "read: %s",
                     strerror(errno));
            soak_conn_fail(c, soak_conn_err);
            return -1;
        }

        if (n == 0) {
            soak_conn_fail(c, c->closing ? "closed" : "eof");
            return -1;
        }

        pubsub_ws_reader_filled(&c->reader, n);

        if (c->state == SOAK_CONN_HANDSHAKE) {
            rc = soak_conn_handshake(c);
            if (rc != 0) {
                return (rc > 0) ? 0 : -1;
            }
        }

        for ( ;; ) {
            rc = pubsub_ws_reader_next(&c->reader, &ev);

            if (rc == PUBSUB_AGAIN) {
                break;
            }

            if (rc != PUBSUB_OK) {
                soak_conn_fail(c, c->reader.err);
                return -1;
            }

            switch (ev.opcode) {

            case PUBSUB_WS_BINARY:
                resp = pubsub_resp_decode(ev.data, ev.len);
                if (resp == NULL) {
                    soak_conn_fail(c, "not a PubSubResp");
                    return -1;
                }

                c->on_resp(c, resp);
                pubsub_resp_free(resp);

                if (c->state != SOAK_CONN_OPEN) {
                    return -1;
                }

                break;

            case PUBSUB_WS_PING:
                (void) soak_conn_queue(c, PUBSUB_WS_PONG, ev.data, ev.len,
                                       NULL);
                break;

            case PUBSUB_WS_CLOSE:
                snprintf(soak_conn_err, sizeof(soak_conn_err),
                         "server close %d", ev.close_code);
                soak_conn_fail(c, soak_conn_err);
                return -1;

            default:
                break;
            }

            if (c->paused) {
                return 0;
            }
        }
    }
}


/* 0: open, 1: more bytes needed, -1: failed */

static int
soak_conn_handshake(soak_conn_t *c)
{
    int     rc;
    char    err[256];
    size_t  used;

    rc = pubsub_ws_handshake_response((char *) c->reader.buf + c->reader.pos,
                                      c->reader.last - c->reader.pos, c->key,
                                      &used, err, sizeof(err));
    if (rc == PUBSUB_AGAIN) {
        return 1;
    }

    if (rc != PUBSUB_OK) {
        soak_conn_failed++;
        snprintf(soak_conn_err, sizeof(soak_conn_err), "%s", err);
        soak_conn_fail(c, soak_conn_err);
        return -1;
    }

    c->reader.pos += used;
    c->state = SOAK_CONN_OPEN;

    if (c->on_open) {
        c->on_open(c);
    }

    return (c->state == SOAK_CONN_OPEN) ? 0 : -1;
}


/* a request (r) or a control frame (opcode, p, len), or raw bytes (-1) */

static int
soak_conn_queue(soak_conn_t *c, int opcode, const u_char *p, size_t len,
    pubsub_req_t *r)
{
    u_char    mask[4], *n;
    size_t    need;
    uint64_t  m;

    if (c->fd == -1) {
        return -1;
    }

    if (r) {
        need = pubsub_req_frame_size(r);

    } else if (opcode >= 0) {
        need = pubsub_ws_frame_size(len);

    } else {
        need = len;
    }

    if (c->out_pos == c->out_len) {
        c->out_pos = 0;
        c->out_len = 0;
    }

    if (c->out_size - c->out_len < need) {
        if (c->out_pos) {
            memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
            c->out_len -= c->out_pos;
            c->out_pos = 0;
        }

        if (c->out_size - c->out_len < need) {
            n = realloc(c->out, c->out_len + need + 1024);
            if (n == NULL) {
                return -1;
            }

            c->out = n;
            c->out_size = c->out_len + need + 1024;
        }
    }

    m = soak_rand();
    memcpy(mask, &m, 4);

    if (r) {
        c->out_len += pubsub_req_frame(c->out + c->out_len, r, mask);

    } else if (opcode >= 0) {
        c->out_len += pubsub_ws_frame(c->out + c->out_len, opcode, p, len,
                                      mask);

    } else {
        memcpy(c->out + c->out_len, p, len);
        c->out_len += len;
    }

    if (c->state == SOAK_CONN_CONNECTING) {
        return 0;
    }

    return soak_conn_flush(c);
}


static int
soak_conn_flush(soak_conn_t *c)
{
    ssize_t  n;

    while (c->out_pos < c->out_len) {
        n = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);

        if (n == -1) {
            if (errno == EAGAIN) {
                break;
            }

            if (errno == EINTR) {
                continue;
            }

            snprintf(soak_conn_err, sizeof(soak_conn_err), "write: %s",
                     strerror(errno));
            soak_conn_fail(c, soak_conn_err);
            return -1;
        }

        c->out_pos += n;
    }

    soak_conn_update(c);

    return 0;
}


/* epoll follows what the connection waits for */

static void
soak_conn_update(soak_conn_t *c)
{
    uint32_t            want;
    struct epoll_event  ee;

    want = EPOLLRDHUP;

    if (!c->paused) {
        want |= EPOLLIN;
    }

    if (c->out_pos < c->out_len || c->state == SOAK_CONN_CONNECTING) {
        want |= EPOLLOUT;
    }

    if (want == c->events) {
        return;
    }

    c->events = want;
    ee.events = want;
    ee.data.ptr = &c->event;

    (void) epoll_ctl(soak_ep, EPOLL_CTL_MOD, c->fd, &ee);
}


int
soak_conn_send(soak_conn_t *c, pubsub_req_t *r)
{
    if (c->state != SOAK_CONN_OPEN) {
        return -1;
    }

    return soak_conn_queue(c, -1, NULL, 0, r);
}


/* stop reading the socket (the kernel's buffers fill), or go on */

void
soak_conn_pause(soak_conn_t *c, int paused)
{
    if (c->state != SOAK_CONN_OPEN) {
        return;
    }

    c->paused = paused ? 1 : 0;
    soak_conn_update(c);

    if (!paused) {
        (void) soak_conn_read(c);
    }
}


/*
 * code > 0: a close frame, then the socket goes once it is written (as
 * far as the kernel takes it); 0: the socket goes at once.  No on_close.
 */

void
soak_conn_close(soak_conn_t *c, int code)
{
    u_char          payload[2];
    soak_close_pt   on_close;

    if (c->fd == -1) {
        return;
    }

    if (code > 0 && c->state == SOAK_CONN_OPEN) {
        payload[0] = (u_char) (code >> 8);
        payload[1] = (u_char) code;
        c->closing = 1;

        on_close = c->on_close;
        c->on_close = NULL;
        (void) soak_conn_queue(c, PUBSUB_WS_CLOSE, payload, 2, NULL);
        c->on_close = on_close;
    }

    if (c->fd == -1) {
        return;
    }

    close(c->fd);
    c->fd = -1;
    c->state = SOAK_CONN_IDLE;
    pubsub_ws_reader_free(&c->reader);
}


void
soak_conn_free(soak_conn_t *c)
{
    soak_conn_close(c, 0);
    free(c->out);
    c->out = NULL;
    c->out_size = 0;
}


static void
soak_conn_fail(soak_conn_t *c, const char *why)
{
    char  reason[256];

    snprintf(reason, sizeof(reason), "%s", why);

    soak_conn_close(c, 0);

    if (c->on_close) {
        c->on_close(c, reason);
    }
}
