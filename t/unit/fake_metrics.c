
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The fake nginx runtime (see fake_nginx.c): the metrics module without
 * its zone.  The layers register their series and count as they do in
 * nginx; with no slot, as in a worker before it has one, counting is a
 * no-op.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_metrics.h"


ngx_atomic_t      *ngx_http_pubsub_metrics_values;
ngx_atomic_int_t  *ngx_http_pubsub_metrics_own;
ngx_uint_t         ngx_http_pubsub_metrics_n;


static ngx_uint_t  fake_metrics_next;


ngx_int_t
ngx_http_pubsub_metrics_add(ngx_conf_t *cf, ngx_http_pubsub_metric_t *series,
    ngx_uint_t n, ngx_uint_t *first)
{
    *first = fake_metrics_next;
    fake_metrics_next += n;

    return NGX_OK;
}


/* Prometheus's escapes in label values: \\, \" and \n */

uintptr_t
ngx_http_pubsub_metrics_escape(u_char *dst, u_char *src, size_t size)
{
    uintptr_t  n;

    if (dst == NULL) {
        for (n = 0; size; size--, src++) {
            n += (*src == '\\' || *src == '"' || *src == '\n');
        }

        return n;
    }

    for ( /* void */ ; size; size--, src++) {
        if (*src == '\\' || *src == '"' || *src == '\n') {
            *dst++ = '\\';
            *dst++ = (*src == '\n') ? 'n' : *src;
            continue;
        }

        *dst++ = *src;
    }

    return (uintptr_t) dst;
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}
