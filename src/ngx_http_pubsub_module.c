
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The nginx glue: the "pubsub" module's directives, the content handler
 * that takes the request over as a WebSocket after nginx's access phases,
 * pubsub_expires, and CmdPing.  It wires the layers; it frames nothing,
 * decodes nothing and asks no backend anything itself.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_module.h"


static ngx_int_t ngx_http_pubsub_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pubsub_expiry(ngx_http_request_t *r,
    ngx_http_pubsub_loc_conf_t *plcf, ngx_msec_t *after);
static ngx_int_t ngx_http_pubsub_ping(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
static char *ngx_http_pubsub(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pubsub_expires(ngx_conf_t *cf, ngx_command_t *cmd,
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

    { ngx_string("pubsub_max_inflight"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_loc_conf_t, registry.max_inflight),
      &ngx_http_pubsub_inflight_bounds },

    { ngx_string("pubsub_expires"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pubsub_expires,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pubsub_module_ctx = {
    ngx_http_pubsub_module_preconf,        /* preconfiguration */
    ngx_http_pubsub_module_postconf,       /* postconfiguration */

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


/* CmdPing, served on every pubsub location */

static ngx_http_pubsub_command_t  ngx_http_pubsub_core_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_PING, ngx_string("ping"),
      ngx_http_pubsub_ping, NULL, NULL, 0, 0 },

      ngx_http_pubsub_null_command
};


static ngx_http_pubsub_command_t  *ngx_http_pubsub_core_tables[] = {
    ngx_http_pubsub_core_commands,
    NULL
};


static ngx_http_pubsub_backend_t  ngx_http_pubsub_core_backend = {
    ngx_string("core"),
    ngx_http_pubsub_core_tables,
    0,
    NULL,
    NULL,
    NULL
};


/*
 * Content handler of every pubsub location: nginx's access checks have
 * run by now; take the connection over as a WebSocket.
 */

static ngx_int_t
ngx_http_pubsub_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_msec_t                   after;
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

    rc = ngx_http_pubsub_expiry(r, plcf, &after);

    if (rc != NGX_OK) {
        return rc;
    }

    ws = ngx_http_pubsub_ws_create(r);
    if (ws == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_pubsub_session_create(ws, &plcf->registry) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (after != NGX_TIMER_INFINITE) {
        ngx_http_pubsub_ws_expire_at(ws, after);
    }

    r->main->count++;

    ngx_http_pubsub_ws_start(ws);

    return NGX_DONE;
}


/*
 * pubsub_expires: how long the connection may live, from a fixed time or
 * from a variable holding a Unix time (a token's "exp"); a credential that
 * has expired already, or a value that is not a time, gets 403.
 */

static ngx_int_t
ngx_http_pubsub_expiry(ngx_http_request_t *r,
    ngx_http_pubsub_loc_conf_t *plcf, ngx_msec_t *after)
{
    time_t     now;
    ngx_str_t  value;
    ngx_int_t  exp;

    *after = NGX_TIMER_INFINITE;

    if (plcf->expires_time) {
        *after = plcf->expires_time;
        return NGX_OK;
    }

    if (plcf->expires == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, plcf->expires, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    exp = ngx_atoi(value.data, value.len);
    now = ngx_time();

    if (exp == NGX_ERROR) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: \"pubsub_expires\" value \"%V\" is not a "
                      "Unix time, refused", &value);
        return NGX_HTTP_FORBIDDEN;
    }

    if (exp <= now) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: credential expired %T s ago "
                      "(pubsub_expires), refused", now - exp);
        return NGX_HTTP_FORBIDDEN;
    }

    /* as far as ngx_msec_t reaches: 49 days where it has 32 bits */

    if ((ngx_msec_t) (exp - now) >= NGX_TIMER_INFINITE / 1000) {
        exp = now + NGX_TIMER_INFINITE / 1000 - 1;
    }

    *after = (ngx_msec_t) (exp - now) * 1000;

    return NGX_OK;
}


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
 * from their own "pass" directives, then register their commands in the
 * registry returned.  NULL: an error, logged.
 */

ngx_http_pubsub_registry_t *
ngx_http_pubsub_endpoint(ngx_conf_t *cf)
{
    ngx_str_t                   *value;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_pubsub_loc_conf_t  *plcf;

    plcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_pubsub_module);

    if (plcf->endpoint) {
        value = cf->args->elts;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is duplicate: the location is a pubsub "
                           "endpoint already", &value[0]);
        return NULL;
    }

    plcf->endpoint = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pubsub_handler;

    if (ngx_http_pubsub_add_backend(cf, &plcf->registry,
                                    &ngx_http_pubsub_core_backend, NULL)
        != NGX_OK)
    {
        return NULL;
    }

    return &plcf->registry;
}


static char *
ngx_http_pubsub(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_pubsub_endpoint(cf) ? NGX_CONF_OK : NGX_CONF_ERROR;
}


static char *
ngx_http_pubsub_expires(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pubsub_loc_conf_t *plcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (plcf->expires != NGX_CONF_UNSET_PTR
        || plcf->expires_time != NGX_CONF_UNSET_MSEC)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        plcf->expires_time = ngx_parse_time(&value[1], 0);

        if (plcf->expires_time == (ngx_msec_t) NGX_ERROR
            || plcf->expires_time == 0)
        {
            return "must be a variable or a time above 0";
        }

        plcf->expires = NULL;

        return NGX_CONF_OK;
    }

    plcf->expires = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (plcf->expires == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = plcf->expires;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    plcf->expires_time = 0;

    return NGX_CONF_OK;
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
     *     conf->registry.routes = NULL;
     *     conf->registry.backends = NULL;
     *     conf->endpoint = 0;
     */

    conf->registry.max_inflight = NGX_CONF_UNSET_UINT;
    conf->expires = NGX_CONF_UNSET_PTR;
    conf->expires_time = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_pubsub_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_pubsub_loc_conf_t *prev = parent;
    ngx_http_pubsub_loc_conf_t *conf = child;

    /* commands are not inherited: each endpoint names its backend */

    ngx_conf_merge_uint_value(conf->registry.max_inflight,
                              prev->registry.max_inflight, 64);

    if (conf->expires == NGX_CONF_UNSET_PTR
        && conf->expires_time == NGX_CONF_UNSET_MSEC)
    {
        conf->expires = prev->expires;
        conf->expires_time = prev->expires_time;
    }

    if (conf->expires == NGX_CONF_UNSET_PTR) {
        conf->expires = NULL;
    }

    if (conf->expires_time == NGX_CONF_UNSET_MSEC) {
        conf->expires_time = 0;
    }

    return NGX_CONF_OK;
}
