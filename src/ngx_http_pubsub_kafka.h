
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_KAFKA_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_KAFKA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <librdkafka/rdkafka.h>

#include "ngx_http_pubsub_module.h"


extern ngx_module_t  ngx_http_pubsub_kafka_module;


#endif /* _NGX_HTTP_PUBSUB_KAFKA_H_INCLUDED_ */
