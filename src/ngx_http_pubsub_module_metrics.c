
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The glue's part of the metrics and the log variables.  The WebSocket
 * layer counts its upgrades; the log phase counts what other requests to
 * a pubsub location got, those refused before the content phase
 * (allow/deny, auth_basic, auth_request, limit_req) included.  The log
 * variables give a WebSocket's totals, for an access_log line per
 * connection.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_module.h"
#include "ngx_http_pubsub_ws_metrics.h"


#define NGX_HTTP_PUBSUB_VAR_MESSAGES_SENT      0
#define NGX_HTTP_PUBSUB_VAR_MESSAGES_RECEIVED  1
#define NGX_HTTP_PUBSUB_VAR_BYTES_SENT         2
#define NGX_HTTP_PUBSUB_VAR_BYTES_RECEIVED     3
#define NGX_HTTP_PUBSUB_VAR_CLOSE_CODE         4
#define NGX_HTTP_PUBSUB_VAR_COMMANDS           5
#define NGX_HTTP_PUBSUB_VAR_ERRORS             6


static ngx_int_t ngx_http_pubsub_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_pubsub_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_pubsub_vars[] = {

    { ngx_string("pubsub_messages_sent"), NULL, ngx_http_pubsub_variable,
      NGX_HTTP_PUBSUB_VAR_MESSAGES_SENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pubsub_messages_received"), NULL, ngx_http_pubsub_variable,
      NGX_HTTP_PUBSUB_VAR_MESSAGES_RECEIVED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pubsub_bytes_sent"), NULL, ngx_http_pubsub_variable,
      NGX_HTTP_PUBSUB_VAR_BYTES_SENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pubsub_bytes_received"), NULL, ngx_http_pubsub_variable,
      NGX_HTTP_PUBSUB_VAR_BYTES_RECEIVED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pubsub_close_code"), NULL, ngx_http_pubsub_variable,
      NGX_HTTP_PUBSUB_VAR_CLOSE_CODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pubsub_commands"), NULL, ngx_http_pubsub_variable,
      NGX_HTTP_PUBSUB_VAR_COMMANDS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("pubsub_errors"), NULL, ngx_http_pubsub_variable,
      NGX_HTTP_PUBSUB_VAR_ERRORS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_pubsub_module_preconf(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_pubsub_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_pubsub_module_postconf(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_pubsub_log_handler;

    return NGX_OK;
}


/* every request that ends in a pubsub location and did not upgrade */

static ngx_int_t
ngx_http_pubsub_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                   status;
    ngx_http_pubsub_ws_t        *ws;
    ngx_http_pubsub_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_pubsub_module);

    if (plcf == NULL || !plcf->endpoint) {
        return NGX_OK;
    }

    ws = ngx_http_pubsub_ws_get(r);

    if (ws && ws->started) {
        return NGX_OK;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    ngx_http_pubsub_ws_metric_outcome(status);

    return NGX_OK;
}


/*
 * A WebSocket's totals; not found (logged as "-") for other requests.
 * $pubsub_close_code: the first close frame's code and who sent it,
 * "1000 client", "1001 server"; "1006" when none was (RFC 6455 7.1.5).
 */

static ngx_int_t
ngx_http_pubsub_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                     *p;
    ngx_http_pubsub_ws_t       *ws;
    ngx_http_pubsub_session_t  *s;

    ws = ngx_http_pubsub_ws_get(r);
    s = ws ? ws->data : NULL;

    if (ws == NULL || !ws->started
        || (data >= NGX_HTTP_PUBSUB_VAR_COMMANDS && s == NULL))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN + sizeof(" server") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    switch (data) {

    case NGX_HTTP_PUBSUB_VAR_MESSAGES_SENT:
        p = ngx_sprintf(p, "%ui", ws->stats.messages_out);
        break;

    case NGX_HTTP_PUBSUB_VAR_MESSAGES_RECEIVED:
        p = ngx_sprintf(p, "%ui", ws->stats.messages_in);
        break;

    case NGX_HTTP_PUBSUB_VAR_BYTES_SENT:
        p = ngx_sprintf(p, "%O", ws->stats.bytes_out);
        break;

    case NGX_HTTP_PUBSUB_VAR_BYTES_RECEIVED:
        p = ngx_sprintf(p, "%O", ws->stats.bytes_in);
        break;

    case NGX_HTTP_PUBSUB_VAR_CLOSE_CODE:
        if (ws->stats.close_code == 0) {
            p = ngx_cpymem(p, "1006", 4);

        } else {
            p = ngx_sprintf(p, "%ui %s", ws->stats.close_code,
                            ws->stats.close_by_client ? "client" : "server");
        }

        break;

    case NGX_HTTP_PUBSUB_VAR_COMMANDS:
        p = ngx_sprintf(p, "%ui", s->commands);
        break;

    default: /* NGX_HTTP_PUBSUB_VAR_ERRORS */
        p = ngx_sprintf(p, "%ui", s->errors);
        break;
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
