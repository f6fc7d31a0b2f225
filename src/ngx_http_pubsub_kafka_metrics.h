
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_KAFKA_METRICS_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_KAFKA_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_metrics.h"


/*
 * The Kafka backend's counters, for its files to count with
 *
 *     ngx_http_pubsub_kafka_metric(NGX_HTTP_PUBSUB_KAFKA_M_..., n);
 *
 * on the event loop, at any time (a no-op without a metrics zone).
 * Counters take n >= 0; the gauge goes +1 and -1.
 */

/* pubsub_kafka_messages_delivered_total{via="fetch"}: messages answered */
#define NGX_HTTP_PUBSUB_KAFKA_M_FETCH_MESSAGES    0
/* {via="push"}: messages pushed to subscriptions */
#define NGX_HTTP_PUBSUB_KAFKA_M_PUSH_MESSAGES     1
/* pubsub_kafka_subscriptions, a gauge: +1 subscribed, -1 ended */
#define NGX_HTTP_PUBSUB_KAFKA_M_SUBSCRIPTIONS     2
/* pubsub_kafka_produced_records_total{result="acknowledged"|"failed"} */
#define NGX_HTTP_PUBSUB_KAFKA_M_PRODUCE_ACKED     3
#define NGX_HTTP_PUBSUB_KAFKA_M_PRODUCE_FAILED    4
/* pubsub_kafka_commits_total{result="ok"|"failed"}: offset commits */
#define NGX_HTTP_PUBSUB_KAFKA_M_COMMITS           5
#define NGX_HTTP_PUBSUB_KAFKA_M_COMMITS_FAILED    6

#define ngx_http_pubsub_kafka_metric(m, n)                                    \
    ngx_http_pubsub_metric_add(ngx_http_pubsub_kafka_metrics + (m),          \
                               (ngx_atomic_int_t) (n))


/* the Kafka module's preconfiguration */
ngx_int_t ngx_http_pubsub_kafka_metrics_init(ngx_conf_t *cf);
/* from ngx_http_pubsub_kafka_init_worker(): the refresh, once a second */
void ngx_http_pubsub_kafka_metrics_start(ngx_cycle_t *cycle);


extern ngx_uint_t  ngx_http_pubsub_kafka_metrics;


#endif /* _NGX_HTTP_PUBSUB_KAFKA_METRICS_H_INCLUDED_ */
