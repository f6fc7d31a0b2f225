
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The fake nginx runtime (see fake_nginx.c): the request's life as nginx
 * 1.22 runs it in the content phase and after: cleanups, finalization,
 * termination, the count, lingering close, the request handler.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <stdlib.h>

#include "fake_nginx.h"


#define FAKE_LINGERING_TIME        30000
#define FAKE_LINGERING_BUFFER      4096


static ngx_msec_t            fake_lingering_until;


static void fake_block_reading(ngx_http_request_t *r);
static void fake_run_phases(ngx_http_request_t *r);
static void fake_terminate_request(ngx_http_request_t *r, ngx_int_t rc);
static void fake_terminate_handler(ngx_http_request_t *r);
static void fake_finalize_connection(ngx_http_request_t *r);
static void fake_set_lingering_close(ngx_connection_t *c);
static void fake_lingering_close_handler(ngx_event_t *rev);
static void fake_empty_handler(ngx_event_t *wev);
static void fake_close_request(ngx_http_request_t *r, ngx_int_t rc);
static void fake_free_request(ngx_http_request_t *r, ngx_int_t rc);
static void fake_close_connection(ngx_connection_t *c);
static void fake_post_request(ngx_http_request_t *r);
static ngx_int_t fake_write_head(ngx_connection_t *c);


/* ---------------------------------------------------------------------- */
/* the request */


ngx_http_request_t *
fake_request_create(ngx_connection_t *c, void **loc_conf)
{
    ngx_pool_t          *pool;
    ngx_http_request_t  *r;

    pool = fake_create_pool(c->log);

    r = fake_palloc_nofail(pool, sizeof(ngx_http_request_t));
    ngx_memzero(r, sizeof(ngx_http_request_t));

    r->pool = pool;
    r->connection = c;
    r->main = r;
    r->count = 1;
    r->loc_conf = loc_conf;

    r->ctx = fake_palloc_nofail(pool, FAKE_NMODULES * sizeof(void *));
    ngx_memzero(r->ctx, FAKE_NMODULES * sizeof(void *));

    if (ngx_list_init(&r->headers_in.headers, pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        fake_fatal("out of memory");
    }

    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    r->method = NGX_HTTP_GET;
    r->http_version = NGX_HTTP_VERSION_11;

    r->read_event_handler = fake_block_reading;
    r->write_event_handler = fake_run_phases;

    fake_lingering_until = 0;

    /* the client's bytes behind the request: none unless the caller says */
    r->header_in = fake_palloc_nofail(pool, sizeof(ngx_buf_t));
    ngx_memzero(r->header_in, sizeof(ngx_buf_t));

    c->data = r;

    return r;
}


static void
fake_block_reading(ngx_http_request_t *r)
{
    /* epoll, edge-triggered: nothing to delete */
}


static void
fake_run_phases(ngx_http_request_t *r)
{
    fake_fatal("the content phase ran again");
}


static void
fake_request_empty_handler(ngx_http_request_t *r)
{
}


static void
fake_empty_handler(ngx_event_t *wev)
{
}


ngx_http_cleanup_t *
ngx_http_cleanup_add(ngx_http_request_t *r, size_t size)
{
    ngx_http_cleanup_t  *cln;

    r = r->main;

    cln = ngx_palloc(r->pool, sizeof(ngx_http_cleanup_t));
    if (cln == NULL) {
        return NULL;
    }

    if (size) {
        cln->data = ngx_palloc(r->pool, size);
        if (cln->data == NULL) {
            return NULL;
        }

    } else {
        cln->data = NULL;
    }

    cln->handler = NULL;
    cln->next = r->cleanup;

    r->cleanup = cln;

    return cln;
}


/* the response head, as the header filter would put it, then written */

ngx_int_t
ngx_http_send_header(ngx_http_request_t *r)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    u_char            line[64];

    if (r->header_sent) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "header already sent");
        return NGX_ERROR;
    }

    if (fake.fail_send_header) {
        return NGX_ERROR;
    }

    r->header_sent = 1;

    len = sizeof("HTTP/1.1 \r\n\r\n") + r->headers_out.status_line.len + 64;

    part = &r->headers_out.headers.part;

    for ( ;; ) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            len += h[i].key.len + 2 + h[i].value.len + 2;
        }

        if (part->next == NULL) {
            break;
        }

        part = part->next;
    }

    free(fake_sock.head);

    fake_sock.head = malloc(len);
    if (fake_sock.head == NULL) {
        fake_fatal("out of memory");
    }

    p = ngx_cpymem(fake_sock.head, "HTTP/1.1 ", 9);

    if (r->headers_out.status_line.len) {
        p = ngx_cpymem(p, r->headers_out.status_line.data,
                       r->headers_out.status_line.len);

    } else {
        p = ngx_slprintf(p, p + 32, "%03ui", r->headers_out.status);
    }

    *p++ = CR; *p++ = LF;

    part = &r->headers_out.headers.part;

    for ( ;; ) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0) {
                continue;
            }

            p = ngx_cpymem(p, h[i].key.data, h[i].key.len);
            *p++ = ':'; *p++ = ' ';
            p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
            *p++ = CR; *p++ = LF;
        }

        if (part->next == NULL) {
            break;
        }

        part = part->next;
    }

    if (r->headers_out.content_length_n >= 0) {
        p = ngx_cpymem(p, line,
                       ngx_slprintf(line, line + sizeof(line),
                                    "Content-Length: %O" CRLF,
                                    r->headers_out.content_length_n)
                       - line);
    }

    *p++ = CR; *p++ = LF;

    fake_sock.head_len = p - fake_sock.head;
    fake_sock.head_pos = 0;

    return fake_write_head(r->connection);
}


/* the write filter: what it holds of the head goes out as the socket lets */

static ngx_int_t
fake_write_head(ngx_connection_t *c)
{
    size_t  n;

    if (fake_sock.head == NULL) {
        c->buffered &= ~NGX_HTTP_WRITE_BUFFERED;
        return NGX_OK;
    }

    if (fake_sock.send_error) {
        c->error = 1;
        return NGX_ERROR;
    }

    if (c->write->ready) {
        n = fake_sock.head_len - fake_sock.head_pos;

        if (!fake_sock.unlimited) {
            n = ngx_min(n, fake_sock.window);
            fake_sock.window -= n;
        }

        fake_append_out(fake_sock.head + fake_sock.head_pos, n);
        fake_sock.head_pos += n;
        c->sent += n;
    }

    if (fake_sock.head_pos < fake_sock.head_len) {
        c->write->ready = 0;
        c->buffered |= NGX_HTTP_WRITE_BUFFERED;
        return NGX_AGAIN;
    }

    free(fake_sock.head);
    fake_sock.head = NULL;

    c->buffered &= ~NGX_HTTP_WRITE_BUFFERED;

    return NGX_OK;
}


ngx_int_t
ngx_http_output_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        if (!ngx_buf_special(cl->buf)) {
            fake_fatal("a response body through the output filter");
        }
    }

    return fake_write_head(r->connection);
}


ngx_int_t
ngx_http_send_special(ngx_http_request_t *r, ngx_uint_t flags)
{
    return ngx_http_output_filter(r, NULL);
}


/*
 * ngx_http_finalize_request() for the codes the pubsub layers and the
 * content phase use: NGX_DONE (the request holds one reference less),
 * NGX_ERROR (terminate: cleanups now, the close from a posted request),
 * special responses, and NGX_OK.
 */

void
ngx_http_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    if (c->fd == (ngx_socket_t) -1 || r->pool == NULL) {
        fake_fatal("a closed request is finalized");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "http finalize request: %i, c:%ui", rc, r->main->count);

    if (rc == NGX_DONE) {
        fake_finalize_connection(r);
        return;
    }

    if (rc == NGX_ERROR || rc == NGX_HTTP_REQUEST_TIME_OUT
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST || c->error)
    {
        fake_terminate_request(r, rc);
        return;
    }

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }

        c->read->handler = fake_http_request_handler;
        c->write->handler = fake_http_request_handler;

        /* the special response: its head only, as nginx's error pages */

        if (!r->header_sent) {
            r->headers_out.status = rc;
            r->headers_out.content_length_n = 0;
            r->header_only = 1;
            r->keepalive = 0;

            if (ngx_http_send_header(r) == NGX_ERROR) {
                fake_terminate_request(r, rc);
                return;
            }
        }

        ngx_http_finalize_request(r, NGX_OK);
        return;
    }

    if (r != c->data) {
        fake_fatal("http finalize non-active request");
    }

    r->done = 1;
    r->read_event_handler = fake_block_reading;
    r->write_event_handler = fake_request_empty_handler;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        c->write->delayed = 0;
        ngx_del_timer(c->write);
    }

    fake_finalize_connection(r);
}


static void
fake_finalize_connection(ngx_http_request_t *r)
{
    if (r->main->count != 1) {
        fake_close_request(r, 0);
        return;
    }

    r = r->main;

    if (r->connection->read->eof) {
        fake_close_request(r, 0);
        return;
    }

    /* no keepalive after an upgrade; lingering_close on, the default */

    if (r->lingering_close || r->header_in->pos < r->header_in->last
        || r->connection->read->ready)
    {
        fake_set_lingering_close(r->connection);
        return;
    }

    fake_close_request(r, 0);
}


static void
fake_set_lingering_close(ngx_connection_t *c)
{
    ngx_event_t               *rev, *wev;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = c->data;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (fake_lingering_until == 0) {
        fake_lingering_until = ngx_current_msec + FAKE_LINGERING_TIME;
    }

    rev = c->read;
    rev->handler = fake_lingering_close_handler;

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        fake_close_request(r, 0);
        return;
    }

    wev = c->write;
    wev->handler = fake_empty_handler;

    /* shutdown(SHUT_WR): the rest of the head, if any, is lost */
    fake_sock.shut_write = 1;

    c->close = 0;
    c->reusable = 1;

    ngx_add_timer(rev, clcf->lingering_timeout);

    if (rev->ready) {
        fake_lingering_close_handler(rev);
    }
}


static void
fake_lingering_close_handler(ngx_event_t *rev)
{
    ssize_t                    n;
    ngx_msec_t                 timer;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;
    u_char                     buffer[FAKE_LINGERING_BUFFER];

    c = rev->data;
    r = c->data;

    if (rev->timedout || c->close) {
        fake_close_request(r, 0);
        return;
    }

    timer = fake_lingering_until - ngx_current_msec;

    if ((ngx_msec_int_t) timer <= 0) {
        fake_close_request(r, 0);
        return;
    }

    do {
        n = c->recv(c, buffer, FAKE_LINGERING_BUFFER);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            fake_close_request(r, 0);
            return;
        }

    } while (rev->ready);

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        fake_close_request(r, 0);
        return;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (timer > clcf->lingering_timeout) {
        timer = clcf->lingering_timeout;
    }

    ngx_add_timer(rev, timer);
}


static void
fake_terminate_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_cleanup_t  *cln;
    ngx_http_request_t  *mr;

    mr = r->main;

    cln = mr->cleanup;
    mr->cleanup = NULL;

    while (cln) {
        if (cln->handler) {
            cln->handler(cln->data);
        }

        cln = cln->next;
    }

    if (rc > 0 && (mr->headers_out.status == 0 || mr->connection->sent == 0))
    {
        mr->headers_out.status = rc;
    }

    if (mr->write_event_handler) {

        if (mr->blocked) {
            fake_fatal("a blocked request is terminated");
        }

        mr->posted_requests = NULL;
        mr->write_event_handler = fake_terminate_handler;
        fake_post_request(mr);
        return;
    }

    fake_close_request(mr, rc);
}


static void
fake_terminate_handler(ngx_http_request_t *r)
{
    r->count = 1;

    fake_close_request(r, 0);
}


static void
fake_post_request(ngx_http_request_t *r)
{
    ngx_http_posted_request_t  *pr, **p;

    pr = fake_palloc_nofail(r->pool, sizeof(ngx_http_posted_request_t));

    pr->request = r;
    pr->next = NULL;

    for (p = &r->main->posted_requests; *p; p = &(*p)->next) {
        /* void */
    }

    *p = pr;
}


void
ngx_http_run_posted_requests(ngx_connection_t *c)
{
    ngx_http_request_t         *r;
    ngx_http_posted_request_t  *pr;

    for ( ;; ) {

        if (c->destroyed) {
            return;
        }

        r = c->data;
        pr = r->main->posted_requests;

        if (pr == NULL) {
            return;
        }

        r->main->posted_requests = pr->next;

        r = pr->request;

        r->write_event_handler(r);
    }
}


/* nginx's request handler: the connection's events to the request's */

void
fake_http_request_handler(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = ev->data;

    if (c->fd == (ngx_socket_t) -1) {
        fake_fatal("an event of a closed connection");
    }

    r = c->data;

    if (c->close) {
        r->main->count++;
        fake_terminate_request(r, 0);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (ev->delayed && ev->timedout) {
        ev->delayed = 0;
        ev->timedout = 0;
    }

    if (ev->write) {
        r->write_event_handler(r);

    } else {
        r->read_event_handler(r);
    }

    ngx_http_run_posted_requests(c);
}


static void
fake_close_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    r = r->main;
    c = r->connection;

    if (r->count == 0) {
        fake_fatal("http request count is zero");
    }

    r->count--;

    if (r->count || r->blocked) {
        return;
    }

    fake_free_request(r, rc);
    fake_close_connection(c);
}


static void
fake_free_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_pool_t          *pool;
    ngx_http_cleanup_t  *cln;

    if (r->pool == NULL) {
        fake_fatal("http request already closed");
    }

    cln = r->cleanup;
    r->cleanup = NULL;

    while (cln) {
        if (cln->handler) {
            cln->handler(cln->data);
        }

        cln = cln->next;
    }

    r->connection->destroyed = 1;

    pool = r->pool;
    r->pool = NULL;

    fake_destroy_pool(pool);
}


static void
fake_close_connection(ngx_connection_t *c)
{
    ngx_pool_t  *pool;

    if (c->fd == (ngx_socket_t) -1) {
        fake_fatal("connection already closed");
    }

    c->destroyed = 1;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;
    c->read->active = 0;
    c->write->active = 0;
    c->reusable = 0;
    c->fd = (ngx_socket_t) -1;

    pool = c->pool;
    c->pool = NULL;

    fake_destroy_pool(pool);
}
