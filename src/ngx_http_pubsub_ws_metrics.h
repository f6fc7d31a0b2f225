
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_WS_METRICS_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_WS_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_metrics.h"


/* the WebSocket layer's series, from ngx_http_pubsub_ws_metrics on */

#define NGX_HTTP_PUBSUB_WS_M_CONNECTIONS     0      /* gauge */
#define NGX_HTTP_PUBSUB_WS_M_MESSAGES_IN     1
#define NGX_HTTP_PUBSUB_WS_M_MESSAGES_OUT    2
#define NGX_HTTP_PUBSUB_WS_M_FRAMES_IN       3
#define NGX_HTTP_PUBSUB_WS_M_FRAMES_OUT      4
#define NGX_HTTP_PUBSUB_WS_M_BYTES_IN        5
#define NGX_HTTP_PUBSUB_WS_M_BYTES_OUT       6
#define NGX_HTTP_PUBSUB_WS_M_PAUSE_READING   7
#define NGX_HTTP_PUBSUB_WS_M_PAUSE_WRITING   8
#define NGX_HTTP_PUBSUB_WS_M_OVERFLOWS       9
#define NGX_HTTP_PUBSUB_WS_M_CLOSES          10     /* 2 x 8: by, code */
#define NGX_HTTP_PUBSUB_WS_M_OUTCOMES        26     /* 9 statuses */

#define ngx_http_pubsub_ws_metric(m, n)                                       \
    ngx_http_pubsub_metric_add(ngx_http_pubsub_ws_metrics + (m),             \
                               (ngx_atomic_int_t) (n))


ngx_int_t ngx_http_pubsub_ws_metrics_init(ngx_conf_t *cf);
void ngx_http_pubsub_ws_metric_close(ngx_uint_t code, ngx_uint_t received);
void ngx_http_pubsub_ws_metric_outcome(ngx_uint_t status);


extern ngx_uint_t  ngx_http_pubsub_ws_metrics;


#endif /* _NGX_HTTP_PUBSUB_WS_METRICS_H_INCLUDED_ */
