
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_PROTOCOL_METRICS_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_PROTOCOL_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_metrics.h"


/*
 * pubsub_commands_total{command,result}: each command row has one series
 * per result; an ErrorResp code is a result, and so are these two.
 */

#define NGX_HTTP_PUBSUB_RESULT_OK        -1
#define NGX_HTTP_PUBSUB_RESULT_CANCELED  -2


/* name NULL: the series of requests no row takes ("unknown") */
ngx_int_t ngx_http_pubsub_command_metrics(ngx_conf_t *cf, ngx_str_t *name,
    ngx_uint_t *first);
void ngx_http_pubsub_command_metric(ngx_uint_t first, ngx_int_t result);


#endif /* _NGX_HTTP_PUBSUB_PROTOCOL_METRICS_H_INCLUDED_ */
