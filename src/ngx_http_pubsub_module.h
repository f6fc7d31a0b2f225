
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_MODULE_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_websocket.h"
#include "ngx_http_pubsub_protocol.h"


typedef struct {
    ngx_array_t                     *commands;  /* ngx_http_pubsub_command_t */
    ngx_http_pubsub_ws_conf_t        ws;
    ngx_uint_t                       max_inflight;
} ngx_http_pubsub_loc_conf_t;


char *ngx_http_pubsub_endpoint(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_pubsub_module;


#endif /* _NGX_HTTP_PUBSUB_MODULE_H_INCLUDED_ */
