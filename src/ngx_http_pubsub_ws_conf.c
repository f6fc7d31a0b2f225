
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The WebSocket layer as an nginx module: its directives, their location
 * configuration and the module's definition.  Connections themselves live
 * in ngx_http_pubsub_websocket.c; nothing here runs after configuration.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_websocket.h"
#include "ngx_http_pubsub_ws_metrics.h"


static void *ngx_http_pubsub_ws_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pubsub_ws_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_command_t  ngx_http_pubsub_ws_commands[] = {

    { ngx_string("pubsub_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, max_message),
      NULL },

    { ngx_string("pubsub_output_queue_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, max_output),
      NULL },

    { ngx_string("pubsub_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, ping_interval),
      NULL },

    { ngx_string("pubsub_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_ws_conf_t, idle_timeout),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pubsub_ws_module_ctx = {
    ngx_http_pubsub_ws_metrics_init,       /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pubsub_ws_create_loc_conf,    /* create location configuration */
    ngx_http_pubsub_ws_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_pubsub_ws_module = {
    NGX_MODULE_V1,
    &ngx_http_pubsub_ws_module_ctx,        /* module context */
    ngx_http_pubsub_ws_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_pubsub_ws_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pubsub_ws_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_http_pubsub_ws_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->max_message = NGX_CONF_UNSET_SIZE;
    conf->max_output = NGX_CONF_UNSET_SIZE;
    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_pubsub_ws_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_pubsub_ws_conf_t *prev = parent;
    ngx_http_pubsub_ws_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->max_message, prev->max_message,
                              1024 * 1024);
    ngx_conf_merge_size_value(conf->max_output, prev->max_output,
                              4 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval, 0);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 0);

    if (conf->max_message < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_max_message_size\" must be at least "
                           "16 bytes");
        return NGX_CONF_ERROR;
    }

    if (conf->max_output < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_output_queue_size\" must be at least "
                           "1k");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
