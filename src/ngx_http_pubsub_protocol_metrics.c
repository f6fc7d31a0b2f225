
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The protocol's metrics: commands by name and result.  A location that
 * registers a backend's table registers the series of its rows; the
 * same row in another location counts in the same series.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_protocol_metrics.h"


/* in the order of the series of a command; "other" for any other code */

static ngx_str_t  ngx_http_pubsub_results[] = {
    ngx_string("ok"),
    ngx_string("canceled"),
    ngx_string("error"),        /* APISIX's code 0 */
    ngx_string("400"),
    ngx_string("403"),
    ngx_string("404"),
    ngx_string("429"),
    ngx_string("500"),
    ngx_string("503"),
    ngx_string("504"),
    ngx_string("other")
};

#define NGX_HTTP_PUBSUB_RESULTS                                               \
    (sizeof(ngx_http_pubsub_results) / sizeof(ngx_str_t))


ngx_int_t
ngx_http_pubsub_command_metrics(ngx_conf_t *cf, ngx_str_t *name,
    ngx_uint_t *first)
{
    u_char                    *p;
    size_t                     len;
    ngx_uint_t                 i;
    ngx_http_pubsub_metric_t   series[NGX_HTTP_PUBSUB_RESULTS];

    static ngx_str_t  unknown = ngx_string("unknown");

    if (name == NULL) {
        name = &unknown;
    }

    len = name->len
          + ngx_http_pubsub_metrics_escape(NULL, name->data, name->len);

    for (i = 0; i < NGX_HTTP_PUBSUB_RESULTS; i++) {
        ngx_str_set(&series[i].name, "pubsub_commands_total");
        ngx_str_set(&series[i].help, "Commands answered, by the row of the "
                    "command table that served them and by result: ok, "
                    "canceled (the connection ended first), error "
                    "(APISIX's code 0) or the ErrorResp code.");
        series[i].type = NGX_HTTP_PUBSUB_METRIC_COUNTER;

        p = ngx_pnalloc(cf->pool, sizeof("command=\"\",result=\"\"") - 1
                                  + len + ngx_http_pubsub_results[i].len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        series[i].labels.data = p;

        p = ngx_cpymem(p, "command=\"", sizeof("command=\"") - 1);
        p = (u_char *) ngx_http_pubsub_metrics_escape(p, name->data,
                                                      name->len);
        p = ngx_sprintf(p, "\",result=\"%V\"", &ngx_http_pubsub_results[i]);

        series[i].labels.len = p - series[i].labels.data;
    }

    return ngx_http_pubsub_metrics_add(cf, series, NGX_HTTP_PUBSUB_RESULTS,
                                       first);
}


void
ngx_http_pubsub_command_metric(ngx_uint_t first, ngx_int_t result)
{
    ngx_uint_t  i;

    switch (result) {

    case NGX_HTTP_PUBSUB_RESULT_OK:
        i = 0;
        break;

    case NGX_HTTP_PUBSUB_RESULT_CANCELED:
        i = 1;
        break;

    case 0:
        i = 2;
        break;

    case 400:
        i = 3;
        break;

    case 403:
        i = 4;
        break;

    case 404:
        i = 5;
        break;

    case 429:
        i = 6;
        break;

    case 500:
        i = 7;
        break;

    case 503:
        i = 8;
        break;

    case 504:
        i = 9;
        break;

    default:
        i = 10;
    }

    ngx_http_pubsub_metric_add(first + i, 1);
}
