
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The WebSocket opening handshake (RFC 6455 4.2): the checks of an upgrade
 * request, 426 for another version, and the 101 with its accept key.
 * Runs in the content phase, before the connection is taken over.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include "ngx_http_pubsub_websocket.h"


#define NGX_HTTP_PUBSUB_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static ngx_int_t ngx_http_pubsub_ws_check_upgrade(ngx_http_request_t *r);
static ngx_int_t ngx_http_pubsub_ws_check_key(ngx_http_request_t *r);
static ngx_table_elt_t *ngx_http_pubsub_ws_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t n);
static ngx_int_t ngx_http_pubsub_ws_has_token(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *token);


/*
 * Checks an upgrade request; returns NGX_OK or the HTTP status to answer
 * with, after logging which header is at fault.  For
 * NGX_HTTP_UPGRADE_REQUIRED the caller answers with
 * ngx_http_pubsub_ws_upgrade_required().
 */

ngx_int_t
ngx_http_pubsub_ws_handshake(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "pubsub: websocket in subrequest");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->http_version > NGX_HTTP_VERSION_11) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket over HTTP/2 is not supported");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->method != NGX_HTTP_GET) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket handshake method is not GET");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->http_version < NGX_HTTP_VERSION_11) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket handshake needs HTTP/1.1");
        return NGX_HTTP_BAD_REQUEST;
    }

    rc = ngx_http_pubsub_ws_check_upgrade(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_pubsub_ws_check_key(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: websocket handshake with a request body");
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/* "Upgrade: websocket" and "Connection: upgrade" */

static ngx_int_t
ngx_http_pubsub_ws_check_upgrade(ngx_http_request_t *r)
{
    ngx_str_t         token;
    ngx_table_elt_t  *h;

    static ngx_str_t  upgrade = ngx_string("upgrade");
    static ngx_str_t  connection = ngx_string("connection");

    h = r->headers_in.upgrade;

    if (h == NULL
        || h->value.len != sizeof("websocket") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "websocket",
                           sizeof("websocket") - 1)
           != 0)
    {
        if (h == NULL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "pubsub: bad \"upgrade\" request header: none");

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "pubsub: bad \"upgrade\" request header: \"%V\"",
                          &h->value);
        }

        return NGX_HTTP_BAD_REQUEST;
    }

    token = upgrade;

    if (ngx_http_pubsub_ws_has_token(r, &connection, &token) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"connection\" request header: "
                      "no \"upgrade\" token");
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


/*
 * "Sec-WebSocket-Version: 13" (else 426) and one "Sec-WebSocket-Key" of
 * 16 bytes in base64
 */

static ngx_int_t
ngx_http_pubsub_ws_check_key(ngx_http_request_t *r)
{
    u_char            decoded[32];
    ngx_str_t         name, dst;
    ngx_table_elt_t  *h;

    static ngx_str_t  key = ngx_string("sec-websocket-key");
    static ngx_str_t  version = ngx_string("sec-websocket-version");

    name = version;
    h = ngx_http_pubsub_ws_header(r, &name, 0);

    if (h == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-version\" request "
                      "header: none");
        return NGX_HTTP_UPGRADE_REQUIRED;
    }

    if (h->value.len != 2 || ngx_strncmp(h->value.data, "13", 2) != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-version\" request "
                      "header: \"%V\"", &h->value);
        return NGX_HTTP_UPGRADE_REQUIRED;
    }

    name = key;
    h = ngx_http_pubsub_ws_header(r, &name, 0);

    if (h == NULL
        || ngx_http_pubsub_ws_header(r, &name, 1) != NULL
        || h->value.len != 24)
    {
        goto bad_key;
    }

    dst.data = decoded;

    if (ngx_decode_base64(&dst, &h->value) != NGX_OK || dst.len != 16) {
        goto bad_key;
    }

    return NGX_OK;

bad_key:

    if (h == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-key\" request header: "
                      "none");

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "pubsub: bad \"sec-websocket-key\" request header: "
                      "\"%V\"", &h->value);
    }

    return NGX_HTTP_BAD_REQUEST;
}


/* the n-th request header with this lowercase name */

static ngx_table_elt_t *
ngx_http_pubsub_ws_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t n)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0
            && n-- == 0)
        {
            return &h[i];
        }
    }
}


/* a comma-separated token in any header of that name */

static ngx_int_t
ngx_http_pubsub_ws_has_token(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *token)
{
    u_char           *p, *last, *start;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    for (n = 0; /* void */; n++) {

        h = ngx_http_pubsub_ws_header(r, name, n);

        if (h == NULL) {
            return NGX_DECLINED;
        }

        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {

            while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                p++;
            }

            start = p;

            while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
                p++;
            }

            if ((size_t) (p - start) == token->len
                && ngx_strncasecmp(start, token->data, token->len) == 0)
            {
                return NGX_OK;
            }
        }
    }
}


/* 426, naming the version we speak (RFC 6455 4.4) */

ngx_int_t
ngx_http_pubsub_ws_upgrade_required(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Sec-WebSocket-Version");
    ngx_str_set(&h->value, "13");

    r->headers_out.status = NGX_HTTP_UPGRADE_REQUIRED;
    ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_send_special(r, NGX_HTTP_LAST);
}


/* the 101 answer to a request that passed ngx_http_pubsub_ws_handshake() */

ngx_int_t
ngx_http_pubsub_ws_accept(ngx_http_request_t *r)
{
    u_char            digest[20];
    ngx_str_t         src, name;
    ngx_sha1_t        sha1;
    ngx_table_elt_t  *h;

    static ngx_str_t  sec_key = ngx_string("sec-websocket-key");

    name = sec_key;
    h = ngx_http_pubsub_ws_header(r, &name, 0);

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, h->value.data, h->value.len);
    ngx_sha1_update(&sha1, NGX_HTTP_PUBSUB_WS_GUID,
                    sizeof(NGX_HTTP_PUBSUB_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Sec-WebSocket-Accept");

    h->value.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(20));
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    src.data = digest;
    src.len = sizeof(digest);
    ngx_encode_base64(&h->value, &src);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Upgrade");
    ngx_str_set(&h->value, "websocket");

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}
