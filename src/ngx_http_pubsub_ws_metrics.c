
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The WebSocket layer's metrics: requests to pubsub locations by outcome
 * (the glue's log phase reports the ones that did not upgrade), open
 * connections, messages, frames and bytes each way, close frames by code
 * and by whom, and the output queue's pauses and overflows.  Registered
 * in the layer module's preconfiguration, counted where the layer does
 * the thing.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_ws_metrics.h"


#define ngx_http_pubsub_ws_counter(name, help, labels)                        \
    { ngx_string(name), ngx_string(help), NGX_HTTP_PUBSUB_METRIC_COUNTER,     \
      ngx_string(labels) }

#define ngx_http_pubsub_ws_close(labels)                                      \
    ngx_http_pubsub_ws_counter("pubsub_close_frames_total",                   \
        "WebSocket close frames by direction and close code: received "       \
        "from clients, sent by the server, its answers to the clients' "      \
        "included (1005: a close frame without a code).", labels)

#define ngx_http_pubsub_ws_closes(dir)                                        \
    ngx_http_pubsub_ws_close("code=\"1000\",direction=\"" dir "\""),          \
    ngx_http_pubsub_ws_close("code=\"1001\",direction=\"" dir "\""),          \
    ngx_http_pubsub_ws_close("code=\"1002\",direction=\"" dir "\""),          \
    ngx_http_pubsub_ws_close("code=\"1005\",direction=\"" dir "\""),          \
    ngx_http_pubsub_ws_close("code=\"1008\",direction=\"" dir "\""),          \
    ngx_http_pubsub_ws_close("code=\"1009\",direction=\"" dir "\""),          \
    ngx_http_pubsub_ws_close("code=\"1011\",direction=\"" dir "\""),          \
    ngx_http_pubsub_ws_close("direction=\"" dir "\",code=\"other\"")

#define ngx_http_pubsub_ws_outcome(status)                                    \
    ngx_http_pubsub_ws_counter("pubsub_connections_total",                    \
        "Requests to pubsub locations by outcome: 101 for an upgrade, "       \
        "else the HTTP status answered.", "outcome=\"" status "\"")


ngx_uint_t  ngx_http_pubsub_ws_metrics;


/* in the order of NGX_HTTP_PUBSUB_WS_M_* */

static ngx_http_pubsub_metric_t  ngx_http_pubsub_ws_series[] = {

    { ngx_string("pubsub_websocket_connections"),
      ngx_string("Upgraded WebSocket connections open now."),
      NGX_HTTP_PUBSUB_METRIC_GAUGE, ngx_null_string },

    ngx_http_pubsub_ws_counter("pubsub_websocket_messages_received_total",
        "WebSocket data messages received, text ones included.", ""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_messages_sent_total",
        "WebSocket messages queued to clients, pings and pongs included, "
        "close frames not.", ""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_frames_received_total",
        "WebSocket frames received, control frames included.", ""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_frames_sent_total",
        "WebSocket frames queued to clients, control frames included.", ""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_received_bytes_total",
        "Bytes read from upgraded connections.", ""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_sent_bytes_total",
        "Bytes written to upgraded connections.", ""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_output_pauses_total",
        "Pauses for clients that do not read: reading stopped (the output "
        "queue over half full), or a writer waiting for room.",
        "what=\"reading\""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_output_pauses_total", "",
        "what=\"writing\""),

    ngx_http_pubsub_ws_counter("pubsub_websocket_output_overflows_total",
        "Connections closed because the client did not read and the output "
        "queue was full.", ""),

    ngx_http_pubsub_ws_closes("received"),
    ngx_http_pubsub_ws_closes("sent"),

    ngx_http_pubsub_ws_outcome("101"),
    ngx_http_pubsub_ws_outcome("400"),
    ngx_http_pubsub_ws_outcome("401"),
    ngx_http_pubsub_ws_outcome("403"),
    ngx_http_pubsub_ws_outcome("426"),
    ngx_http_pubsub_ws_outcome("429"),
    ngx_http_pubsub_ws_outcome("500"),
    ngx_http_pubsub_ws_outcome("503"),
    ngx_http_pubsub_ws_outcome("other")
};


/* the codes with a series of their own, in its order, "other" after */

static ngx_uint_t  ngx_http_pubsub_ws_close_codes[] = {
    1000, 1001, 1002, 1005, 1008, 1009, 1011, 0
};

static ngx_uint_t  ngx_http_pubsub_ws_outcome_codes[] = {
    101, 400, 401, 403, 426, 429, 500, 503, 0
};


ngx_int_t
ngx_http_pubsub_ws_metrics_init(ngx_conf_t *cf)
{
    return ngx_http_pubsub_metrics_add(cf, ngx_http_pubsub_ws_series,
                                       sizeof(ngx_http_pubsub_ws_series)
                                       / sizeof(ngx_http_pubsub_metric_t),
                                       &ngx_http_pubsub_ws_metrics);
}


void
ngx_http_pubsub_ws_metric_close(ngx_uint_t code, ngx_uint_t received)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_pubsub_ws_close_codes[i]; i++) {
        if (ngx_http_pubsub_ws_close_codes[i] == code) {
            break;
        }
    }

    /* received: the first 8 series, sent: the next 8 */

    ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_CLOSES
                              + (received ? 0 : 8) + i, 1);
}


/* a request to a pubsub location answered "status", 101 if it upgraded */

void
ngx_http_pubsub_ws_metric_outcome(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_pubsub_ws_outcome_codes[i]; i++) {
        if (ngx_http_pubsub_ws_outcome_codes[i] == status) {
            break;
        }
    }

    ngx_http_pubsub_ws_metric(NGX_HTTP_PUBSUB_WS_M_OUTCOMES + i, 1);
}
