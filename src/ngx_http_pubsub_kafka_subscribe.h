
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_KAFKA_SUBSCRIBE_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_KAFKA_SUBSCRIBE_H_INCLUDED_


/*
 * A subscription, shared by the two files of server push only: _subscribe
 * (the commands, the look-up of the starts, the end) and _push (from the
 * readers' windows to the socket).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


typedef struct ngx_http_pubsub_kafka_sub_s  ngx_http_pubsub_kafka_sub_t;


/* one partition of a subscription */

typedef struct {
    ngx_http_pubsub_kafka_waiter_t       waiter;   /* first */
    ngx_http_pubsub_kafka_sub_t         *sub;
    int32_t                              id;
    int64_t                              asked;    /* its offset, or -3 */
    ngx_event_t                          retry;

    unsigned                             started:1;
    unsigned                             paused:1; /* no room, no credit */
    unsigned                             jumping:1; /* bounds looked up */
} ngx_http_pubsub_kafka_spart_t;


struct ngx_http_pubsub_kafka_sub_s {
    ngx_queue_t                          queue;    /* in the session's */
    ngx_http_pubsub_cmd_t               *cmd;
    ngx_http_pubsub_kafka_loc_conf_t    *conf;
    ngx_http_pubsub_kafka_client_t      *client;
    ngx_http_pubsub_kafka_session_t     *session;
    ngx_http_pubsub_kafka_offsets_t     *lookup;   /* in flight */
    ngx_str_t                            topic;
    ngx_str_t                            group;

    int64_t                              start;
    int64_t                              window;   /* 0: none */
    int64_t                              unacked;  /* pushed, no credit */

    ngx_str_t                            key;      /* the filter */
    ngx_http_pubsub_pb_header_t         *headers;
    ngx_uint_t                           nheaders;

    ngx_http_pubsub_kafka_spart_t       *parts;
    ngx_uint_t                           nparts;

    unsigned                             all:1;
    unsigned                             started:1;
    unsigned                             pushing:1;
};


/* ngx_http_pubsub_kafka_subscribe.c */

void ngx_http_pubsub_kafka_sub_error(ngx_http_pubsub_kafka_sub_t *s,
    ngx_int_t code, const char *reason, ngx_http_pubsub_kafka_spart_t *sp);

/* ngx_http_pubsub_kafka_push.c */

void ngx_http_pubsub_kafka_sub_ready(ngx_http_pubsub_kafka_waiter_t *w);
void ngx_http_pubsub_kafka_sub_fail(ngx_http_pubsub_kafka_waiter_t *w,
    const char *reason, rd_kafka_resp_err_t err);
void ngx_http_pubsub_kafka_sub_retry(ngx_event_t *ev);
void ngx_http_pubsub_kafka_sub_resume(ngx_http_pubsub_kafka_sub_t *s);
ngx_int_t ngx_http_pubsub_kafka_sub_positions(ngx_http_pubsub_cmd_t *to,
    ngx_http_pubsub_kafka_sub_t *s, ngx_http_pubsub_kafka_spart_t *only,
    ngx_uint_t ended);


#endif /* _NGX_HTTP_PUBSUB_KAFKA_SUBSCRIBE_H_INCLUDED_ */
