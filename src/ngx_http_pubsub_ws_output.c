
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The WebSocket's output: frames built on the heap, a bounded queue
 * written with c->send_chain() in one write per turn of the event loop,
 * close frames, and the room left for writers.  Never blocks and never
 * finalizes the request: failures are left to the event loop.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_websocket.h"
#include "ngx_http_pubsub_ws_metrics.h"


/*
 * A frame whose payload is pieces of shared bytes: seg[0] holds the frame
 * header and the caller's prefix (after seg[n - 1]), each further link
 * points into shared bytes it holds a reference to.  Every link is tagged
 * ngx_http_pubsub_ws_shared_tag; the last one's buf->shadow is the frame,
 * which goes with that link, once the socket has taken all of it.
 */

typedef struct {
    ngx_chain_t                      cl;
    ngx_buf_t                        buf;
    ngx_http_pubsub_ws_shared_t     *shared;
} ngx_http_pubsub_ws_seg_t;


typedef struct {
    ngx_uint_t                       n;
    ngx_http_pubsub_ws_seg_t         seg[1];
} ngx_http_pubsub_ws_shared_frame_t;


static void ngx_http_pubsub_ws_free_link(ngx_chain_t *cl);


static u_char  ngx_http_pubsub_ws_shared_tag;


/*
 * A frame of len payload bytes, header written: the caller appends the
 * payload at cl->buf->last.  Frames live on the heap until written.
 */

ngx_chain_t *
ngx_http_pubsub_ws_alloc_frame(ngx_http_pubsub_ws_t *ws, ngx_uint_t opcode,
    size_t len)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = sizeof(ngx_chain_t) + sizeof(ngx_buf_t)
           + ngx_http_pubsub_ws_header_size(len) + len;

    cl = ngx_alloc(size, ws->connection->log);
    if (cl == NULL) {
        return NULL;
    }

    b = (ngx_buf_t *) (cl + 1);
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = (u_char *) (b + 1);
    b->end = (u_char *) cl + size;
    b->pos = b->start;
    b->last = ngx_http_pubsub_ws_write_header(b->pos, opcode, len);
    b->temporary = 1;

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


/*
 * A frame of prefix bytes (the caller writes them at cl->buf->last) and
 * then the pieces, len bytes in all, which it references instead of
 * copying.
 */

ngx_chain_t *
ngx_http_pubsub_ws_alloc_shared(ngx_http_pubsub_ws_t *ws, ngx_uint_t opcode,
    size_t prefix, ngx_http_pubsub_ws_piece_t *pieces, ngx_uint_t n,
    size_t len)
{
    size_t                              size;
    u_char                             *p;
    ngx_buf_t                          *b;
    ngx_uint_t                          i;
    ngx_http_pubsub_ws_seg_t           *seg;
    ngx_http_pubsub_ws_shared_frame_t  *f;

    len += prefix;

    size = offsetof(ngx_http_pubsub_ws_shared_frame_t, seg)
           + (n + 1) * sizeof(ngx_http_pubsub_ws_seg_t)
           + ngx_http_pubsub_ws_header_size(len) + prefix;

    f = ngx_alloc(size, ws->connection->log);
    if (f == NULL) {
        return NULL;
    }

    f->n = n + 1;
    p = (u_char *) &f->seg[n + 1];

    /* the head: the frame header and the prefix */

    seg = &f->seg[0];
    b = &seg->buf;

    ngx_memzero(b, sizeof(ngx_buf_t));

    b->start = p;
    b->end = (u_char *) f + size;
    b->pos = p;
    b->last = ngx_http_pubsub_ws_write_header(p, opcode, len);
    b->temporary = 1;
    b->tag = (ngx_buf_tag_t) &ngx_http_pubsub_ws_shared_tag;

    seg->shared = NULL;
    seg->cl.buf = b;

    for (i = 0; i < n; i++) {
        seg->cl.next = &f->seg[i + 1].cl;

        seg = &f->seg[i + 1];
        b = &seg->buf;

        ngx_memzero(b, sizeof(ngx_buf_t));

        b->start = pieces[i].data;
        b->pos = b->start;
        b->last = b->start + pieces[i].len;
        b->end = b->last;
        b->memory = 1;
        b->tag = (ngx_buf_tag_t) &ngx_http_pubsub_ws_shared_tag;

        seg->shared = pieces[i].shared;
        seg->shared->refs++;
        seg->cl.buf = b;
    }

    seg->cl.next = NULL;

    /* the last link frees the frame */

    seg->buf.shadow = (ngx_buf_t *) f;

    return &f->seg[0].cl;
}


/* frees a frame not queued, or what a queue holds */

void
ngx_http_pubsub_ws_free_chain(ngx_chain_t *cl)
{
    ngx_chain_t  *ln;

    while (cl) {
        ln = cl->next;
        ngx_http_pubsub_ws_free_link(cl);
        cl = ln;
    }
}


static void
ngx_http_pubsub_ws_free_link(ngx_chain_t *cl)
{
    ngx_uint_t                          i;
    ngx_http_pubsub_ws_shared_frame_t  *f;

    if (cl->buf->tag != (ngx_buf_tag_t) &ngx_http_pubsub_ws_shared_tag) {
        ngx_free(cl);
        return;
    }

    /* a shared frame goes with its last link */

    f = (ngx_http_pubsub_ws_shared_frame_t *) cl->buf->shadow;

    if (f == NULL) {
        return;
    }

    for (i = 1; i < f->n; i++) {
        ngx_http_pubsub_ws_unshare(f->seg[i].shared);
    }

    ngx_free(f);
}


/*
 * Queues a frame from ngx_http_pubsub_ws_alloc_frame() or _alloc_shared();
 * never blocks, never
 * finalizes: failures close the connection later from the event loop, so
 * callers may send while walking their own lists.  Last words (frames sent
 * from the closing handler) go out whatever the queue holds.
 */

ngx_int_t
ngx_http_pubsub_ws_send(ngx_http_pubsub_ws_t *ws, ngx_chain_t *cl)
{
    size_t        size;
    ngx_chain_t  *ln;

    if (ws->closing || ws->failed || ws->finalized) {
        ngx_http_pubsub_ws_free_chain(cl);
        return NGX_DECLINED;
    }

    size = 0;

    for (ln = cl; ln; ln = ln->next) {
        size += ln->buf->last - ln->buf->pos;
    }

    if (ws->out && ws->out_bytes + size > ws->conf->max_output
        && !ws->last_words)
    {
        /* what the socket takes now does not count against the limit */

        if (ngx_http_pubsub_ws_flush(ws) == NGX_ERROR) {
            ngx_http_pubsub_ws_free_chain(cl);
            ngx_http_pubsub_ws_fail(ws);
            return NGX_ERROR;
        }

        if (ws->out && ws->out_bytes + size > ws->conf->max_output) {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "pubsub: client does not read, output queue "
                          "over %uz bytes, closing connection",
                          ws->conf->max_output);

            ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_OVERFLOWS, 1);
            ngx_http_pubsub_ws_free_chain(cl);
            ngx_http_pubsub_ws_fail(ws);
            return NGX_ERROR;
        }
    }

    ws->stats.messages_out++;
    ws->stats.bytes_out += size;
    ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_MESSAGES_OUT, 1);

    ngx_http_pubsub_ws_queue(ws, cl);

    return NGX_OK;
}


/*
 * How many bytes may be queued now without the output queue going over
 * pubsub_output_queue_size: all of it when nothing waits
 */

size_t
ngx_http_pubsub_ws_room(ngx_http_pubsub_ws_t *ws)
{
    return (ws->out_bytes < ws->conf->max_output)
           ? ws->conf->max_output - ws->out_bytes : 0;
}


/* 1 when nothing waits: a frame of any size may then be queued */

ngx_uint_t
ngx_http_pubsub_ws_idle(ngx_http_pubsub_ws_t *ws)
{
    return ws->out == NULL;
}


/*
 * 1 when the client has not read what was sent: the socket took less than
 * was queued, and nginx waits for it to be writable
 */

ngx_uint_t
ngx_http_pubsub_ws_backed_up(ngx_http_pubsub_ws_t *ws)
{
    return ws->out != NULL && !ws->connection->write->ready;
}


/* the drain handler is called once the queue is down to half its size */

void
ngx_http_pubsub_ws_want_drain(ngx_http_pubsub_ws_t *ws)
{
    if (!ws->want_drain) {
        ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_PAUSE_WRITING, 1);
    }

    ws->want_drain = 1;
}


void
ngx_http_pubsub_ws_queue(ngx_http_pubsub_ws_t *ws, ngx_chain_t *cl)
{
    ngx_event_t  *wev;

    *ws->last_out = cl;

    for ( ;; ) {
        ws->out_bytes += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            break;
        }

        cl = cl->next;
    }

    ws->last_out = &cl->next;
    ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_FRAMES_OUT, 1);

    /* frames queued in one pass of the event loop go out in one write */

    wev = ws->connection->write;

    if (!wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


void
ngx_http_pubsub_ws_send_control(ngx_http_pubsub_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    ngx_chain_t  *cl;

    cl = ngx_http_pubsub_ws_alloc_frame(ws, opcode, len);
    if (cl == NULL) {
        ngx_http_pubsub_ws_fail(ws);
        return;
    }

    if (len) {
        cl->buf->last = ngx_cpymem(cl->buf->last, data, len);
    }

    (void) ngx_http_pubsub_ws_send(ws, cl);
}


/*
 * The server closes the connection for a reason it can announce: the
 * owner sends its last words (whatever the output queue holds), then the
 * close frame goes out.
 */

void
ngx_http_pubsub_ws_close(ngx_http_pubsub_ws_t *ws, ngx_uint_t status,
    const char *reason)
{
    if (ws->closing || ws->failed || ws->finalized) {
        return;
    }

    if (ws->closing_handler) {
        ws->last_words = 1;
        ws->closing_handler(ws, status);
        ws->last_words = 0;
    }

    ngx_http_pubsub_ws_close_frame(ws, status, reason);
}


/*
 * Queues a close frame (status 0: none) whatever the output queue holds;
 * the connection closes once it is written.
 */

void
ngx_http_pubsub_ws_close_frame(ngx_http_pubsub_ws_t *ws, ngx_uint_t status,
    const char *reason)
{
    size_t        len;
    ngx_chain_t  *cl;

    if (ws->closing || ws->failed || ws->finalized) {
        return;
    }

    if (ws->stats.close_code == 0) {
        ws->stats.close_code = status ? status : NGX_HTTP_PUBSUB_WS_NO_STATUS;
    }

    ngx_http_pubsub_ws_metric_close(status ? status
                                    : NGX_HTTP_PUBSUB_WS_NO_STATUS, 0);

    len = 0;

    if (status) {
        len = 2 + (reason ? ngx_min(ngx_strlen(reason), 123) : 0);
    }

    cl = ngx_http_pubsub_ws_alloc_frame(ws, NGX_HTTP_PUBSUB_WS_CLOSE, len);
    if (cl == NULL) {
        ngx_http_pubsub_ws_fail(ws);
        return;
    }

    if (status) {
        *cl->buf->last++ = (u_char) (status >> 8);
        *cl->buf->last++ = (u_char) status;

        if (len > 2) {
            cl->buf->last = ngx_cpymem(cl->buf->last, reason, len - 2);
        }
    }

    ngx_http_pubsub_ws_queue(ws, cl);

    ws->closing = 1;
}


ngx_int_t
ngx_http_pubsub_ws_flush(ngx_http_pubsub_ws_t *ws)
{
    off_t                sent;
    ngx_chain_t         *cl, *ln;
    ngx_event_t         *wev;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ws->request;
    c = ws->connection;
    wev = c->write;

    /* the 101 response itself may still sit in nginx's write filter */

    if (c->buffered & NGX_HTTP_WRITE_BUFFERED) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (c->buffered & NGX_HTTP_WRITE_BUFFERED) {
            goto again;
        }
    }

    if (ws->out == NULL) {
        return NGX_OK;
    }

    sent = c->sent;

    cl = c->send_chain(c, ws->out, 0);

    if (cl == NGX_CHAIN_ERROR) {
        c->error = 1;
        return NGX_ERROR;
    }

    ws->out_bytes -= (size_t) (c->sent - sent);
    ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_BYTES_OUT, c->sent - sent);

    while (ws->out != cl) {
        ln = ws->out;
        ws->out = ln->next;
        ngx_http_pubsub_ws_free_link(ln);
    }

    if (ws->out) {
        goto again;
    }

    ws->last_out = &ws->out;

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ws->read_blocked) {
        ws->read_blocked = 0;
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_OK;

again:

    if (!wev->timer_set) {
        ngx_add_timer(wev, ws->send_timeout);
    }

    if (ngx_handle_write_event(wev, ws->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* close without a close frame, from the event loop */

void
ngx_http_pubsub_ws_fail(ngx_http_pubsub_ws_t *ws)
{
    ngx_event_t  *wev;

    ws->failed = 1;

    wev = ws->connection->write;

    if (!ws->in_read && !wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}
