
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The fake nginx runtime (see fake_nginx.c): the client connection and
 * its socket, scripted by the fuzz input.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <stdlib.h>

#include "fake_nginx.h"


ngx_connection_t            *fake_conn;


/* ---------------------------------------------------------------------- */
/* the connection and its socket */


static ssize_t
fake_recv(ngx_connection_t *c, u_char *buf, size_t size)
{
    size_t        n;
    ngx_event_t  *rev;

    rev = c->read;

    if (fake_sock.in_pos < fake_sock.in_len) {
        n = ngx_min(size, fake_sock.in_len - fake_sock.in_pos);

        if (fake_sock.recv_max) {
            /* more is arriving while the reads go on */
            n = ngx_min(n, fake_sock.recv_max);
        }
        ngx_memcpy(buf, fake_sock.in + fake_sock.in_pos, n);
        fake_sock.in_pos += n;

        if (fake_sock.in_pos == fake_sock.in_len) {
            fake_sock.in_pos = 0;
            fake_sock.in_len = 0;
        }

        if (n < size && !fake_sock.recv_max) {
            rev->ready = 0;
        }

        return n;
    }

    rev->ready = 0;

    if (fake_sock.in_error) {
        rev->error = 1;
        ngx_connection_error(c, NGX_ECONNRESET, "recv() failed");
        return NGX_ERROR;
    }

    if (fake_sock.in_eof) {
        rev->eof = 1;
        return 0;
    }

    return NGX_AGAIN;
}


/* writes what the socket takes; returns the first buffer not all written */

static ngx_chain_t *
fake_send_chain(ngx_connection_t *c, ngx_chain_t *in, off_t limit)
{
    size_t        size, n;
    off_t         sent;
    ngx_buf_t    *b;
    ngx_event_t  *wev;

    wev = c->write;

    if (fake_sock.send_error) {
        wev->error = 1;
        ngx_connection_error(c, NGX_EPIPE, "writev() failed");
        return NGX_CHAIN_ERROR;
    }

    if (!wev->ready) {
        return in;
    }

    sent = 0;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (ngx_buf_special(b)) {
            continue;
        }

        if (!ngx_buf_in_memory(b) || b->in_file) {
            fake_fatal("send_chain() got a buffer not in memory");
        }

        size = b->last - b->pos;

        if (size == 0) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "zero size buf in send_chain()");
            continue;
        }

        if (limit && sent >= limit) {
            return in;
        }

        n = size;

        if (limit) {
            n = ngx_min(n, (size_t) (limit - sent));
        }

        if (!fake_sock.unlimited) {
            n = ngx_min(n, fake_sock.window);
            fake_sock.window -= n;
        }

        fake_append_out(b->pos, n);

        b->pos += n;
        c->sent += n;
        sent += n;

        if (b->pos < b->last) {
            if (!limit || sent < limit) {
                wev->ready = 0;
            }

            return in;
        }
    }

    return NULL;
}


void
fake_append_out(u_char *data, size_t len)
{
    u_char  *p;
    size_t   size;

    if (len == 0) {
        return;
    }

    if (fake_sock.shut_write) {
        fake_fatal("a write after shutdown(SHUT_WR)");
    }

    if (fake_sock.out_len + len > fake_sock.out_size) {
        size = ngx_max(2 * fake_sock.out_size, fake_sock.out_len + len);
        size = ngx_max(size, 4096);

        p = realloc(fake_sock.out, size);
        if (p == NULL) {
            fake_fatal("out of memory");
        }

        fake_sock.out = p;
        fake_sock.out_size = size;
    }

    ngx_memcpy(fake_sock.out + fake_sock.out_len, data, len);
    fake_sock.out_len += len;
}


ngx_connection_t *
fake_connection_create(void)
{
    ngx_connection_t  *c;

    ngx_memzero(&fake_sock, sizeof(fake_socket_t));
    fake_sock.unlimited = 1;

    c = calloc(1, sizeof(ngx_connection_t));
    if (c == NULL) {
        fake_fatal("out of memory");
    }

    c->read = calloc(1, sizeof(ngx_event_t));
    c->write = calloc(1, sizeof(ngx_event_t));

    if (c->read == NULL || c->write == NULL) {
        fake_fatal("out of memory");
    }

    c->fd = 7;
    c->log = &fake_log;
    c->log_error = NGX_ERROR_INFO;
    c->pool = fake_create_pool(c->log);
    c->recv = fake_recv;
    c->send_chain = fake_send_chain;
    c->number = 1;
    c->requests = 1;
    c->start_time = ngx_current_msec;
    ngx_str_set(&c->addr_text, "127.0.0.1");

    c->read->data = c;
    c->read->log = c->log;
    c->read->handler = fake_http_request_handler;
    c->read->active = 1;            /* nginx read the request with it */

    c->write->data = c;
    c->write->log = c->log;
    c->write->handler = fake_http_request_handler;
    c->write->write = 1;
    c->write->ready = 1;

    fake_conn = c;

    return c;
}


ngx_uint_t
fake_connection_closed(void)
{
    return fake_conn == NULL || fake_conn->fd == (ngx_socket_t) -1;
}


void
fake_connection_release(void)
{
    ngx_connection_t  *c;

    c = fake_conn;

    if (c == NULL) {
        return;
    }

    if (c->fd != (ngx_socket_t) -1) {
        fake_fatal("the connection is released open");
    }

    free(c->ssl);
    free(c->read);
    free(c->write);
    free(c);

    free(fake_sock.in);
    free(fake_sock.out);
    free(fake_sock.head);
    ngx_memzero(&fake_sock, sizeof(fake_socket_t));

    fake_conn = NULL;
}


/* bytes from the client arrive: epoll reports the read event */

void
fake_client_send(u_char *data, size_t len)
{
    u_char            *p;
    size_t             size;
    ngx_connection_t  *c;

    c = fake_conn;

    if (fake_connection_closed() || len == 0) {
        return;
    }

    if (fake_sock.in_eof || fake_sock.in_error) {
        return;
    }

    if (fake_sock.in_len + len > fake_sock.in_size) {
        size = ngx_max(2 * fake_sock.in_size, fake_sock.in_len + len);

        p = realloc(fake_sock.in, size);
        if (p == NULL) {
            fake_fatal("out of memory");
        }

        fake_sock.in = p;
        fake_sock.in_size = size;
    }

    ngx_memcpy(fake_sock.in + fake_sock.in_len, data, len);
    fake_sock.in_len += len;

    fake.handler_calls = 0;

    if (c->read->active) {
        c->read->ready = 1;
        fake_call(c->read);
    }
}


void
fake_client_eof(ngx_uint_t reset)
{
    ngx_connection_t  *c;

    c = fake_conn;

    if (fake_connection_closed()) {
        return;
    }

    if (reset) {
        fake_sock.in_error = 1;

    } else {
        fake_sock.in_eof = 1;
    }

    fake.handler_calls = 0;

    if (c->read->active) {
        c->read->ready = 1;
        fake_call(c->read);
    }
}


/* the client reads: the socket takes n bytes more */

void
fake_client_window(size_t n, ngx_uint_t unlimited)
{
    ngx_connection_t  *c;

    c = fake_conn;

    if (unlimited) {
        fake_sock.unlimited = 1;

    } else {
        fake_sock.window += n;
    }

    if (fake_connection_closed()) {
        return;
    }

    fake.handler_calls = 0;

    if (c->write->active) {
        c->write->ready = 1;
        fake_call(c->write);

    } else {
        c->write->ready = 1;
    }
}


/* what epoll may report with nothing new: handlers must not mind */

void
fake_spurious_events(ngx_uint_t read, ngx_uint_t write)
{
    ngx_connection_t  *c;

    c = fake_conn;

    fake.handler_calls = 0;

    if (read && !fake_connection_closed() && c->read->active) {
        c->read->ready = 1;
        fake_call(c->read);
    }

    if (write && !fake_connection_closed() && c->write->active
        && (fake_sock.unlimited || fake_sock.window))
    {
        c->write->ready = 1;
        fake_call(c->write);
    }
}
