
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_module.h"


static ngx_int_t ngx_http_pubsub_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pubsub_ping(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static char *ngx_http_pubsub(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_pubsub_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pubsub_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_conf_num_bounds_t  ngx_http_pubsub_inflight_bounds = {
    ngx_conf_check_num_bounds, 1, 65536
};


static ngx_command_t  ngx_http_pubsub_commands[] = {

    { ngx_string("pubsub"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pubsub,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pubsub_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_loc_conf_t, ws.max_message),
      NULL },

    { ngx_string("pubsub_output_queue_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_loc_conf_t, ws.max_output),
      NULL },

    { ngx_string("pubsub_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_loc_conf_t, ws.ping_interval),
      NULL },

    { ngx_string("pubsub_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_loc_conf_t, ws.idle_timeout),
      NULL },

    { ngx_string("pubsub_max_inflight"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_loc_conf_t, max_inflight),
      &ngx_http_pubsub_inflight_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pubsub_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pubsub_create_loc_conf,       /* create location configuration */
    ngx_http_pubsub_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_pubsub_module = {
    NGX_MODULE_V1,
    &ngx_http_pubsub_module_ctx,           /* module context */
    ngx_http_pubsub_commands,              /* module directives */
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


/*
 * Content handler of every pubsub location: nginx's access checks have
 * run by now; take the connection over as a WebSocket.
 */

static ngx_int_t
ngx_http_pubsub_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_pubsub_ws_t        *ws;
    ngx_http_pubsub_loc_conf_t  *plcf;

    rc = ngx_http_pubsub_ws_handshake(r);

    if (rc != NGX_OK) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_HTTP_UPGRADE_REQUIRED) {
            return ngx_http_pubsub_ws_upgrade_required(r);
        }

        return rc;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pubsub_module);

    ws = ngx_http_pubsub_ws_create(r, &plcf->ws);
    if (ws == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_pubsub_session_create(ws, plcf->commands,
                                       plcf->max_inflight)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    ngx_http_pubsub_ws_start(ws);

    return NGX_DONE;
}


/* CmdPing, served on every pubsub location */

static ngx_int_t
ngx_http_pubsub_ping(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req)
{
    PongResp    pong = PONG_RESP__INIT;
    PubSubResp  resp = PUB_SUB_RESP__INIT;

    pong.state = req->cmd_ping->state;

    resp.resp_case = PUB_SUB_RESP__RESP_PONG_RESP;
    resp.pong_resp = &pong;

    (void) ngx_http_pubsub_send(cmd, &resp);

    return NGX_OK;
}


/*
 * Makes the location being configured a pubsub endpoint; backends call it
 * from their own "pass" directives, then register their commands.
 */

char *
ngx_http_pubsub_endpoint(ngx_conf_t *cf)
{
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_pubsub_loc_conf_t  *plcf;

    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_pubsub_module);

    if (plcf->commands) {
        return "is duplicate: the location is a pubsub endpoint already";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pubsub_handler;

    if (ngx_http_pubsub_add_command(cf, PUB_SUB_REQ__REQ_CMD_PING,
                                    ngx_http_pubsub_ping, 0)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_pubsub(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_pubsub_endpoint(cf);
}


static void *
ngx_http_pubsub_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pubsub_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pubsub_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->commands = NULL;
     */

    conf->ws.max_message = NGX_CONF_UNSET_SIZE;
    conf->ws.max_output = NGX_CONF_UNSET_SIZE;
    conf->ws.ping_interval = NGX_CONF_UNSET_MSEC;
    conf->ws.idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->max_inflight = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_pubsub_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_pubsub_loc_conf_t *prev = parent;
    ngx_http_pubsub_loc_conf_t *conf = child;

    /* commands are not inherited: each endpoint names its backend */

    ngx_conf_merge_size_value(conf->ws.max_message, prev->ws.max_message,
                              1024 * 1024);
    ngx_conf_merge_size_value(conf->ws.max_output, prev->ws.max_output,
                              4 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->ws.ping_interval,
                              prev->ws.ping_interval, 0);
    ngx_conf_merge_msec_value(conf->ws.idle_timeout,
                              prev->ws.idle_timeout, 0);
    ngx_conf_merge_uint_value(conf->max_inflight, prev->max_inflight, 64);

    if (conf->ws.max_message < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_max_message_size\" must be at least "
                           "16 bytes");
        return NGX_CONF_ERROR;
    }

    if (conf->ws.max_output < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_output_queue_size\" must be at least "
                           "1k");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
