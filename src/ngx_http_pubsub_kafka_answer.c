
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Answers that carry a window's messages (fetches and pushes): runs of
 * messages that lie one after another in a block go out as pieces that
 * every client's frame shares with the window, so one encoding of a
 * message serves all of them.  Small answers are copied.  Chooses
 * nothing of what goes: the callers do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


/*
 * Below this many bytes an answer is copied: a copy costs less than the
 * references, and a frame kept in a slow client's queue then holds no
 * block of the window.
 */
#define NGX_HTTP_PUBSUB_KAFKA_COPY_BELOW  1024

/* the most a frame head takes: WebSocket header, sequence, field */
#define NGX_HTTP_PUBSUB_KAFKA_HEAD        64


static u_char *ngx_http_pubsub_kafka_write_pieces(u_char *p, void *data);


/*
 * An answer of up to max bytes within the room left for cmd's answers in
 * its output queue (a frame head allowed for).  Its first message may go
 * over max when it fits that room, and over the room too when nothing
 * waits for the client, as a message bigger than the queue must still go.
 */

void
ngx_http_pubsub_kafka_answer_init(ngx_http_pubsub_kafka_answer_t *a,
    ngx_http_pubsub_cmd_t *cmd, size_t max)
{
    size_t  room;

    room = ngx_http_pubsub_room(cmd);
    room = (room > NGX_HTTP_PUBSUB_KAFKA_HEAD)
           ? room - NGX_HTTP_PUBSUB_KAFKA_HEAD : 0;

    a->room = room;
    a->max = ngx_min(room, max);
    a->any = ngx_http_pubsub_idle(cmd);
    a->n = 0;
    a->len = 0;
    a->messages = 0;
}


/*
 * Adds a message: NGX_OK, or NGX_DECLINED when it does not fit (it goes
 * in the next answer): the answer would go over its bytes, or the message
 * starts a run and the answer has as many runs as it may hold.
 */

ngx_int_t
ngx_http_pubsub_kafka_answer_add(ngx_http_pubsub_kafka_answer_t *a,
    ngx_http_pubsub_kafka_msg_t *msg)
{
    ngx_http_pubsub_ws_piece_t  *pc;

    if (a->messages
        ? a->len + msg->len > a->max
        : msg->len > a->room && !a->any)
    {
        return NGX_DECLINED;
    }

    pc = a->n ? &a->pieces[a->n - 1] : NULL;

    if (pc == NULL
        || pc->shared != &msg->block->shared
        || pc->data + pc->len != msg->data)
    {
        if (a->n == NGX_HTTP_PUBSUB_KAFKA_PIECES) {
            return NGX_DECLINED;
        }

        pc = &a->pieces[a->n++];

        pc->data = msg->data;
        pc->len = 0;
        pc->shared = &msg->block->shared;
    }

    pc->len += msg->len;
    a->len += msg->len;
    a->messages++;

    return NGX_OK;
}


/* a KafkaFetchResp of the messages added (none: an empty one) */

ngx_int_t
ngx_http_pubsub_kafka_answer_send(ngx_http_pubsub_cmd_t *cmd,
    ngx_http_pubsub_kafka_answer_t *a)
{
    if (a->len < NGX_HTTP_PUBSUB_KAFKA_COPY_BELOW) {
        return ngx_http_pubsub_send_raw(cmd,
                                        PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                        a->len,
                                        ngx_http_pubsub_kafka_write_pieces,
                                        a);
    }

    return ngx_http_pubsub_send_pieces(cmd,
                                       PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                       a->pieces, a->n, a->len);
}


static u_char *
ngx_http_pubsub_kafka_write_pieces(u_char *p, void *data)
{
    ngx_http_pubsub_kafka_answer_t *a = data;

    ngx_uint_t  i;

    for (i = 0; i < a->n; i++) {
        p = ngx_cpymem(p, a->pieces[i].data, a->pieces[i].len);
    }

    return p;
}
