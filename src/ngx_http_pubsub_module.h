
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


/*
 * The nginx glue: the "pubsub" directive and the limits of the protocol,
 * the content handler that takes the upgraded request over after nginx's
 * access phases, and CmdPing.  A backend's "pass" directive calls
 * ngx_http_pubsub_endpoint() and registers its commands in the registry
 * it returns.
 */


typedef struct {
    ngx_http_pubsub_registry_t       registry;
    ngx_http_complex_value_t        *expires;
    ngx_msec_t                       expires_time;  /* a fixed lifetime */
    ngx_flag_t                       endpoint;
} ngx_http_pubsub_loc_conf_t;


ngx_http_pubsub_registry_t *ngx_http_pubsub_endpoint(ngx_conf_t *cf);

/* ngx_http_pubsub_module_metrics.c */
ngx_int_t ngx_http_pubsub_module_preconf(ngx_conf_t *cf);
ngx_int_t ngx_http_pubsub_module_postconf(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_pubsub_module;


#endif /* _NGX_HTTP_PUBSUB_MODULE_H_INCLUDED_ */
