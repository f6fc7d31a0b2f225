
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


static char *ngx_http_pubsub_kafka_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pubsub_kafka_property(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_pubsub_kafka_status_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_pubsub_kafka_status_handler(ngx_http_request_t *r);
static char *ngx_http_pubsub_kafka_brokers(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_str_t *brokers);
static char *ngx_http_pubsub_kafka_security(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);
static ngx_int_t ngx_http_pubsub_kafka_add(ngx_conf_t *cf, ngx_array_t *a,
    char *key, ngx_str_t *value);
static ngx_int_t ngx_http_pubsub_kafka_read_pem(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *pem);
static ngx_uint_t ngx_http_pubsub_kafka_has(ngx_array_t *properties,
    char *key, char *value);
static ngx_int_t ngx_http_pubsub_kafka_check_key(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);
static char *ngx_http_pubsub_kafka_cluster(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);
static void *ngx_http_pubsub_kafka_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_pubsub_kafka_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_pubsub_kafka_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_pubsub_kafka_init_process(ngx_cycle_t *cycle);
static void ngx_http_pubsub_kafka_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_pubsub_kafka_commands[] = {

    { ngx_string("pubsub_kafka_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_pubsub_kafka_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pubsub_kafka_property"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_pubsub_kafka_property,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("pubsub_kafka_fetch_max_bytes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, fetch_max_bytes),
      NULL },

    { ngx_string("pubsub_kafka_fetch_max_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, fetch_max_wait),
      NULL },

    { ngx_string("pubsub_kafka_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, timeout),
      NULL },

    { ngx_string("pubsub_kafka_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, buffer_size),
      NULL },

    { ngx_string("pubsub_kafka_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, read_timeout),
      NULL },

    { ngx_string("pubsub_kafka_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, thread_pool_name),
      NULL },

    { ngx_string("pubsub_kafka_ssl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, ssl),
      NULL },

    { ngx_string("pubsub_kafka_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, ssl_verify),
      NULL },

    { ngx_string("pubsub_kafka_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("pubsub_kafka_ssl_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, ssl_certificate),
      NULL },

    { ngx_string("pubsub_kafka_ssl_certificate_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, ssl_certificate_key),
      NULL },

    { ngx_string("pubsub_kafka_sasl_mechanism"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_mechanism),
      NULL },

    { ngx_string("pubsub_kafka_sasl_username"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_username),
      NULL },

    { ngx_string("pubsub_kafka_sasl_password"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_password),
      NULL },

    { ngx_string("pubsub_kafka_sasl_kerberos_service_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_kerberos_service_name),
      NULL },

    { ngx_string("pubsub_kafka_sasl_kerberos_principal"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_kerberos_principal),
      NULL },

    { ngx_string("pubsub_kafka_sasl_kerberos_keytab"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_kerberos_keytab),
      NULL },

    { ngx_string("pubsub_kafka_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pubsub_kafka_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pubsub_kafka_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_pubsub_kafka_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pubsub_kafka_create_loc_conf, /* create location configuration */
    ngx_http_pubsub_kafka_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_pubsub_kafka_module = {
    NGX_MODULE_V1,
    &ngx_http_pubsub_kafka_module_ctx,     /* module context */
    ngx_http_pubsub_kafka_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_pubsub_kafka_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_pubsub_kafka_exit_process,    /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static char *
ngx_http_pubsub_kafka_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_pubsub_kafka_loc_conf_t *pklcf = conf;

    char       *rv;
    ngx_str_t  *value, url;

    if (pklcf->pass.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    url = value[1];

    if (url.len <= sizeof("kafka://") - 1
        || ngx_strncasecmp(url.data, (u_char *) "kafka://",
                           sizeof("kafka://") - 1)
           != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL \"%V\": it must be "
                           "kafka://HOST:PORT[,HOST:PORT...] or "
                           "kafka://UPSTREAM", &url);
        return NGX_CONF_ERROR;
    }

    url.data += sizeof("kafka://") - 1;
    url.len -= sizeof("kafka://") - 1;

    if (ngx_strlchr(url.data, url.data + url.len, ':') == NULL
        && ngx_strlchr(url.data, url.data + url.len, ',') == NULL)
    {
        /* no port: an upstream{} block, looked up when merging */
        pklcf->upstream = url;
        pklcf->pass = value[1];

    } else {
        rv = ngx_http_pubsub_kafka_brokers(cf, pklcf, &url);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    rv = ngx_http_pubsub_endpoint(cf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ngx_http_pubsub_add_command(cf,
                                    PUB_SUB_REQ__REQ_CMD_KAFKA_LIST_OFFSET,
                                    ngx_http_pubsub_kafka_list_offset,
                                    ngx_http_pubsub_kafka_list_offset_size())
        != NGX_OK
        || ngx_http_pubsub_add_command(cf, PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH,
                                       ngx_http_pubsub_kafka_fetch,
                                       ngx_http_pubsub_kafka_fetch_size())
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* HOST:PORT[,HOST:PORT...]: host names reach librdkafka as written */

static char *
ngx_http_pubsub_kafka_brokers(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_str_t *brokers)
{
    u_char     *p, *last, *start, *colon;
    ngx_int_t   port;

    p = brokers->data;
    last = p + brokers->len;

    while (p < last) {
        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        for (colon = p; colon > start && colon[-1] != ':'; colon--) {
            /* void */
        }

        port = (colon > start + 1) ? ngx_atoi(colon, p - colon) : NGX_ERROR;

        if (port < 1 || port > 65535) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid Kafka broker \"%*s\" in "
                               "\"pubsub_kafka_pass\": it must be HOST:PORT",
                               p - start, start);
            return NGX_CONF_ERROR;
        }

        p++;
    }

    conf->cluster = NULL;
    conf->pass = *brokers;

    return NGX_CONF_OK;
}


static char *
ngx_http_pubsub_kafka_property(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_pubsub_kafka_loc_conf_t *pklcf = conf;

    char             errstr[512];
    ngx_str_t       *value;
    ngx_keyval_t    *kv;
    rd_kafka_conf_t *rkc;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "bootstrap.servers") == 0
        || ngx_strcmp(value[1].data, "metadata.broker.list") == 0)
    {
        return "cannot set the brokers: they come from "
               "\"pubsub_kafka_pass\"";
    }

    /* librdkafka judges name and value now, so "nginx -t" catches them */

    rkc = rd_kafka_conf_new();

    if (rd_kafka_conf_set(rkc, (char *) value[1].data, (char *) value[2].data,
                          errstr, sizeof(errstr))
        != RD_KAFKA_CONF_OK)
    {
        rd_kafka_conf_destroy(rkc);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Kafka property \"%V\": %s",
                           &value[1], errstr);
        return NGX_CONF_ERROR;
    }

    rd_kafka_conf_destroy(rkc);

    if (pklcf->properties == NULL) {
        pklcf->properties = ngx_array_create(cf->pool, 4,
                                             sizeof(ngx_keyval_t));
        if (pklcf->properties == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    kv = ngx_array_push(pklcf->properties);
    if (kv == NULL) {
        return NGX_CONF_ERROR;
    }

    kv->key = value[1];
    kv->value = value[2];

    return NGX_CONF_OK;
}


static char *
ngx_http_pubsub_kafka_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pubsub_kafka_status_handler;

    return NGX_CONF_OK;
}


/* this worker's Kafka clients as JSON, so sharing can be observed */

static ngx_int_t
ngx_http_pubsub_kafka_status_handler(ngx_http_request_t *r)
{
    u_char                              *p, *last;
    size_t                               size;
    ngx_int_t                            rc;
    ngx_buf_t                           *b;
    ngx_uint_t                           i;
    ngx_chain_t                          out;
    ngx_http_pubsub_kafka_cluster_t    **cluster;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    pkmcf = ngx_http_get_module_main_conf(r, ngx_http_pubsub_kafka_module);

    size = 256;
    cluster = pkmcf->clusters.elts;

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        size += cluster[i]->brokers.len + 256;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->pos;
    last = b->end;

    p = ngx_slprintf(p, last, "{\"pid\":%P,\"websockets\":%ui,"
                     "\"clients\":[", ngx_pid, ngx_http_pubsub_sessions);

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_pubsub_kafka_status(cluster[i]->client, p, last - 4);
    }

    p = ngx_slprintf(p, last, "]}" CRLF);
    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void *
ngx_http_pubsub_kafka_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_pubsub_kafka_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pubsub_kafka_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&conf->clusters, cf->pool, 4,
                       sizeof(ngx_http_pubsub_kafka_cluster_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return conf;
}


static void *
ngx_http_pubsub_kafka_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_pubsub_kafka_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pubsub_kafka_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->pass = { 0, NULL };
     *     conf->upstream = { 0, NULL };
     *     conf->cluster = NULL;
     *     conf->properties = NULL;
     *     conf->thread_pool_name = { 0, NULL };
     *     conf->thread_pool = NULL;
     *     conf->ssl_trusted_certificate = { 0, NULL };
     *     conf->ssl_certificate = { 0, NULL };
     *     conf->ssl_certificate_key = { 0, NULL };
     *     conf->sasl_* = { 0, NULL };
     */

    conf->fetch_max_bytes = NGX_CONF_UNSET_SIZE;
    conf->fetch_max_wait = NGX_CONF_UNSET_MSEC;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->buffer_size = NGX_CONF_UNSET_SIZE;
    conf->read_timeout = NGX_CONF_UNSET_MSEC;
    conf->ssl = NGX_CONF_UNSET;
    conf->ssl_verify = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_pubsub_kafka_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_pubsub_kafka_loc_conf_t *prev = parent;
    ngx_http_pubsub_kafka_loc_conf_t *conf = child;

    if (conf->properties == NULL) {
        conf->properties = prev->properties;
    }

    ngx_conf_merge_size_value(conf->fetch_max_bytes, prev->fetch_max_bytes,
                              1024 * 1024);
    ngx_conf_merge_msec_value(conf->fetch_max_wait, prev->fetch_max_wait,
                              100);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 5000);
    ngx_conf_merge_size_value(conf->buffer_size, prev->buffer_size,
                              4 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->read_timeout, prev->read_timeout, 60000);
    ngx_conf_merge_str_value(conf->thread_pool_name, prev->thread_pool_name,
                             "default");

    ngx_conf_merge_value(conf->ssl, prev->ssl, 0);
    ngx_conf_merge_value(conf->ssl_verify, prev->ssl_verify, 1);
    ngx_conf_merge_str_value(conf->ssl_trusted_certificate,
                             prev->ssl_trusted_certificate, "");
    ngx_conf_merge_str_value(conf->ssl_certificate, prev->ssl_certificate,
                             "");
    ngx_conf_merge_str_value(conf->ssl_certificate_key,
                             prev->ssl_certificate_key, "");
    ngx_conf_merge_str_value(conf->sasl_mechanism, prev->sasl_mechanism, "");
    ngx_conf_merge_str_value(conf->sasl_username, prev->sasl_username, "");
    ngx_conf_merge_str_value(conf->sasl_password, prev->sasl_password, "");
    ngx_conf_merge_str_value(conf->sasl_kerberos_service_name,
                             prev->sasl_kerberos_service_name, "");
    ngx_conf_merge_str_value(conf->sasl_kerberos_principal,
                             prev->sasl_kerberos_principal, "");
    ngx_conf_merge_str_value(conf->sasl_kerberos_keytab,
                             prev->sasl_kerberos_keytab, "");

    if (conf->timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_timeout\" must not be 0");
        return NGX_CONF_ERROR;
    }

    if (conf->read_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_read_timeout\" must not be 0");
        return NGX_CONF_ERROR;
    }

    if (conf->pass.len == 0) {
        return NGX_CONF_OK;
    }

    conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);
    if (conf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_pubsub_kafka_security(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_pubsub_kafka_cluster(cf, conf);
}


/*
 * TLS and SASL directives become librdkafka properties, added after the
 * location's own pubsub_kafka_property ones so the directives win.  They
 * are part of the cluster's key: different credentials, different client.
 * Certificates and keys are read now, as nginx reads its own, so workers
 * need no access to the files and a reload picks up new ones.
 */

static char *
ngx_http_pubsub_kafka_security(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf)
{
    ngx_str_t     v, pem;
    ngx_uint_t    i, sasl;
    ngx_array_t  *a;
    ngx_keyval_t *kv;

    static char  *mechanisms[] = {
        "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER",
        NULL
    };

    sasl = conf->sasl_mechanism.len ? 1 : 0;

    if (!conf->ssl && !sasl
        && conf->ssl_trusted_certificate.len == 0
        && conf->ssl_certificate.len == 0)
    {
        return NGX_CONF_OK;
    }

    a = ngx_array_create(cf->pool, 8, sizeof(ngx_keyval_t));
    if (a == NULL) {
        return NGX_CONF_ERROR;
    }

    if (conf->properties) {
        kv = conf->properties->elts;

        for (i = 0; i < conf->properties->nelts; i++) {
            if (ngx_http_pubsub_kafka_add(cf, a, (char *) kv[i].key.data,
                                          &kv[i].value)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }
        }
    }

    if (sasl) {
        for (i = 0; mechanisms[i]; i++) {
            if (ngx_strcmp(conf->sasl_mechanism.data, mechanisms[i]) == 0) {
                break;
            }
        }

        if (mechanisms[i] == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown \"pubsub_kafka_sasl_mechanism\" "
                               "\"%V\": it must be PLAIN, SCRAM-SHA-256, "
                               "SCRAM-SHA-512, GSSAPI or OAUTHBEARER",
                               &conf->sasl_mechanism);
            return NGX_CONF_ERROR;
        }

        if (i < 3
            && (conf->sasl_username.len == 0 || conf->sasl_password.len == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"pubsub_kafka_sasl_mechanism %V\" needs "
                               "\"pubsub_kafka_sasl_username\" and "
                               "\"pubsub_kafka_sasl_password\"",
                               &conf->sasl_mechanism);
            return NGX_CONF_ERROR;
        }
    }

    if (sasl && i == 3 && conf->sasl_kerberos_keytab.len == 0
        && !ngx_http_pubsub_kafka_has(conf->properties,
                                      "sasl.kerberos.kinit.cmd", NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_sasl_mechanism GSSAPI\" needs "
                           "\"pubsub_kafka_sasl_kerberos_keytab\" (or a "
                           "\"sasl.kerberos.kinit.cmd\" property)");
        return NGX_CONF_ERROR;
    }

    if (sasl && i == 4
        && !ngx_http_pubsub_kafka_has(conf->properties,
                                      "sasl.oauthbearer.method", "oidc")
        && !ngx_http_pubsub_kafka_has(conf->properties,
                                      "enable.sasl.oauthbearer.unsecure.jwt",
                                      "true"))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_sasl_mechanism OAUTHBEARER\" "
                           "needs a token source: \"pubsub_kafka_property "
                           "sasl.oauthbearer.method oidc\" and its "
                           "sasl.oauthbearer.* properties");
        return NGX_CONF_ERROR;
    }

    if ((conf->ssl_certificate.len == 0)
        != (conf->ssl_certificate_key.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_ssl_certificate\" and "
                           "\"pubsub_kafka_ssl_certificate_key\" go "
                           "together");
        return NGX_CONF_ERROR;
    }

    if (!conf->ssl
        && (conf->ssl_trusted_certificate.len || conf->ssl_certificate.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "certificates for Kafka need "
                           "\"pubsub_kafka_ssl on\"");
        return NGX_CONF_ERROR;
    }

    if (conf->ssl && sasl) {
        ngx_str_set(&v, "sasl_ssl");

    } else if (conf->ssl) {
        ngx_str_set(&v, "ssl");

    } else {
        ngx_str_set(&v, "sasl_plaintext");
    }

    if (ngx_http_pubsub_kafka_add(cf, a, "security.protocol", &v) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->ssl) {
        if (conf->ssl_verify) {
            ngx_str_set(&v, "true");

        } else {
            ngx_str_set(&v, "false");
        }

        if (ngx_http_pubsub_kafka_add(cf, a,
                                      "enable.ssl.certificate.verification",
                                      &v)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (conf->ssl_verify) {
            ngx_str_set(&v, "https");

        } else {
            ngx_str_set(&v, "none");
        }

        if (ngx_http_pubsub_kafka_add(cf, a,
                                      "ssl.endpoint.identification.algorithm",
                                      &v)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->ssl_trusted_certificate.len) {
        if (ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_trusted_certificate,
                                           &pem)
            != NGX_OK
            || ngx_http_pubsub_kafka_add(cf, a, "ssl.ca.pem", &pem) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->ssl_certificate.len) {
        if (ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_certificate, &pem)
            != NGX_OK
            || ngx_http_pubsub_kafka_add(cf, a, "ssl.certificate.pem", &pem)
               != NGX_OK
            || ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_certificate_key,
                                              &pem)
               != NGX_OK
            || ngx_http_pubsub_kafka_add(cf, a, "ssl.key.pem", &pem) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_pubsub_kafka_check_key(cf, conf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (sasl) {
        if (ngx_http_pubsub_kafka_add(cf, a, "sasl.mechanisms",
                                      &conf->sasl_mechanism)
            != NGX_OK
            || (conf->sasl_username.len
                && ngx_http_pubsub_kafka_add(cf, a, "sasl.username",
                                             &conf->sasl_username)
                   != NGX_OK)
            || (conf->sasl_password.len
                && ngx_http_pubsub_kafka_add(cf, a, "sasl.password",
                                             &conf->sasl_password)
                   != NGX_OK)
            || (conf->sasl_kerberos_service_name.len
                && ngx_http_pubsub_kafka_add(cf, a,
                                            "sasl.kerberos.service.name",
                                            &conf->sasl_kerberos_service_name)
                   != NGX_OK)
            || (conf->sasl_kerberos_principal.len
                && ngx_http_pubsub_kafka_add(cf, a, "sasl.kerberos.principal",
                                             &conf->sasl_kerberos_principal)
                   != NGX_OK)
            || (conf->sasl_kerberos_keytab.len
                && ngx_http_pubsub_kafka_add(cf, a, "sasl.kerberos.keytab",
                                             &conf->sasl_kerberos_keytab)
                   != NGX_OK))
        {
            return NGX_CONF_ERROR;
        }
    }

    conf->properties = a;

    return NGX_CONF_OK;
}


/* a NUL-terminated property, checked by librdkafka at once */

static ngx_int_t
ngx_http_pubsub_kafka_add(ngx_conf_t *cf, ngx_array_t *a, char *key,
    ngx_str_t *value)
{
    char              errstr[512];
    ngx_keyval_t     *kv;
    rd_kafka_conf_t  *rkc;

    kv = ngx_array_push(a);
    if (kv == NULL) {
        return NGX_ERROR;
    }

    kv->key.len = ngx_strlen(key);
    kv->key.data = (u_char *) key;

    kv->value.len = value->len;
    kv->value.data = ngx_pnalloc(cf->pool, value->len + 1);
    if (kv->value.data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(kv->value.data, value->data, value->len + 1);

    rkc = rd_kafka_conf_new();

    if (rd_kafka_conf_set(rkc, key, (char *) kv->value.data, errstr,
                          sizeof(errstr))
        != RD_KAFKA_CONF_OK)
    {
        rd_kafka_conf_destroy(rkc);

        /* never the value: it may be a secret */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "Kafka property \"%s\" rejected by librdkafka",
                           key);
        return NGX_ERROR;
    }

    rd_kafka_conf_destroy(rkc);

    return NGX_OK;
}


static ngx_int_t
ngx_http_pubsub_kafka_read_pem(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *pem)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        file;
    ngx_file_info_t  fi;

    file = *name;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%V\"", &file);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    pem->len = (size_t) ngx_file_size(&fi);
    pem->data = ngx_pnalloc(cf->pool, pem->len + 1);

    if (pem->data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, pem->data, pem->len);

    (void) ngx_close_file(fd);

    pem->data[(n > 0 && (size_t) n <= pem->len) ? (size_t) n : 0] = '\0';

    if (n != (ssize_t) pem->len || ngx_strstr(pem->data, "-----BEGIN") == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a PEM file", &file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* is the property set (to that value, if one is given)? */

static ngx_uint_t
ngx_http_pubsub_kafka_has(ngx_array_t *properties, char *key, char *value)
{
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    if (properties == NULL) {
        return 0;
    }

    kv = properties->elts;

    for (i = 0; i < properties->nelts; i++) {
        if (ngx_strcmp(kv[i].key.data, key) == 0
            && (value == NULL
                || ngx_strcasecmp(kv[i].value.data, (u_char *) value) == 0))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * librdkafka checks the client key against its certificate only when a
 * worker creates the client; check it now, so "nginx -t" says so.
 */

static ngx_int_t
ngx_http_pubsub_kafka_check_key(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf)
{
#if (NGX_SSL)

    BIO        *bio;
    X509       *x509;
    EVP_PKEY   *pkey;
    ngx_int_t   rc;
    ngx_str_t   cert, key;

    if (ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_certificate, &cert)
        != NGX_OK
        || ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_certificate_key,
                                          &key)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    x509 = NULL;
    pkey = NULL;

    bio = BIO_new_mem_buf(cert.data, (int) cert.len);
    if (bio) {
        x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }

    bio = BIO_new_mem_buf(key.data, (int) key.len);
    if (bio) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *) "");
        BIO_free(bio);
    }

    if (x509 == NULL || pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot load \"%V\" with \"%V\" (an encrypted "
                           "key is not supported)",
                           x509 ? &conf->ssl_certificate_key
                                : &conf->ssl_certificate,
                           x509 ? &conf->ssl_certificate
                                : &conf->ssl_certificate_key);
        rc = NGX_ERROR;

    } else if (X509_check_private_key(x509, pkey) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not the key of \"%V\"",
                           &conf->ssl_certificate_key,
                           &conf->ssl_certificate);
        rc = NGX_ERROR;

    } else {
        rc = NGX_OK;
    }

    X509_free(x509);
    EVP_PKEY_free(pkey);
    ERR_clear_error();

    return rc;

#else

    return NGX_OK;

#endif
}


/*
 * Finds or adds the cluster this location talks to: locations whose
 * brokers and client settings are the same share one Kafka client.
 */

static char *
ngx_http_pubsub_kafka_cluster(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf)
{
    u_char                              *p;
    size_t                               len;
    ngx_str_t                            brokers, key;
    ngx_uint_t                           i, j, n;
    ngx_keyval_t                        *kv;
    ngx_http_upstream_server_t          *us;
    ngx_http_upstream_srv_conf_t       **uscf;
    ngx_http_pubsub_kafka_cluster_t     *cluster, **pc;
    ngx_http_upstream_main_conf_t       *umcf;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    brokers = conf->pass;

    if (conf->upstream.len) {
        umcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_upstream_module);
        uscf = umcf->upstreams.elts;

        for (i = 0; i < umcf->upstreams.nelts; i++) {
            if (uscf[i]->host.len == conf->upstream.len
                && ngx_strncasecmp(uscf[i]->host.data, conf->upstream.data,
                                   conf->upstream.len)
                   == 0
                && uscf[i]->servers
                && uscf[i]->servers->nelts)
            {
                break;
            }
        }

        if (i == umcf->upstreams.nelts) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no upstream \"%V\" with servers for "
                               "\"pubsub_kafka_pass %V\"",
                               &conf->upstream, &conf->pass);
            return NGX_CONF_ERROR;
        }

        us = uscf[i]->servers->elts;
        n = uscf[i]->servers->nelts;
        len = 0;

        for (j = 0; j < n; j++) {
            if (ngx_strlchr(us[j].name.data, us[j].name.data + us[j].name.len,
                            ':')
                == NULL)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "Kafka broker \"%V\" in upstream \"%V\" "
                                   "has no port", &us[j].name,
                                   &conf->upstream);
                return NGX_CONF_ERROR;
            }

            len += us[j].name.len + 1;
        }

        brokers.data = ngx_pnalloc(cf->pool, len);
        if (brokers.data == NULL) {
            return NGX_CONF_ERROR;
        }

        p = brokers.data;

        for (j = 0; j < n; j++) {
            if (j) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, us[j].name.data, us[j].name.len);
        }

        brokers.len = p - brokers.data;
    }

    /* the key: brokers, buffer size and every property, in order */

    len = brokers.len + NGX_SIZE_T_LEN + NGX_INT_T_LEN + 3;

    if (conf->properties) {
        kv = conf->properties->elts;

        for (i = 0; i < conf->properties->nelts; i++) {
            len += kv[i].key.len + kv[i].value.len + 2;
        }
    }

    key.data = ngx_pnalloc(cf->pool, len);
    if (key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(key.data, "%V|%uz|%M", &brokers, conf->buffer_size,
                    conf->read_timeout);

    if (conf->properties) {
        kv = conf->properties->elts;

        for (i = 0; i < conf->properties->nelts; i++) {
            p = ngx_sprintf(p, "|%V=%V", &kv[i].key, &kv[i].value);
        }
    }

    key.len = p - key.data;

    pkmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_pubsub_kafka_module);
    pc = pkmcf->clusters.elts;

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        if (pc[i]->key.len == key.len
            && ngx_strncmp(pc[i]->key.data, key.data, key.len) == 0)
        {
            conf->cluster = pc[i];
            return NGX_CONF_OK;
        }
    }

    cluster = ngx_pcalloc(cf->pool, sizeof(ngx_http_pubsub_kafka_cluster_t));
    if (cluster == NULL) {
        return NGX_CONF_ERROR;
    }

    cluster->key = key;
    cluster->brokers = brokers;
    cluster->properties = conf->properties;
    cluster->buffer_size = conf->buffer_size;
    cluster->read_timeout = conf->read_timeout;
    cluster->thread_pool = conf->thread_pool;
    cluster->index = pkmcf->clusters.nelts;

    if (ngx_http_pubsub_kafka_check_properties(cf, cluster) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    pc = ngx_array_push(&pkmcf->clusters);
    if (pc == NULL) {
        return NGX_CONF_ERROR;
    }

    *pc = cluster;
    conf->cluster = cluster;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_pubsub_kafka_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                           i;
    ngx_http_pubsub_kafka_cluster_t    **cluster;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pkmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_pubsub_kafka_module);
    if (pkmcf == NULL) {
        return NGX_OK;
    }

    /* librdkafka's threads do not survive fork(): clients start here */

    cluster = pkmcf->clusters.elts;

    /*
     * a client that cannot start (librdkafka refused its settings) does
     * not take the worker down: its locations answer with an error, the
     * rest of nginx serves on
     */

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        if (ngx_http_pubsub_kafka_init_worker(cycle, cluster[i]) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "pubsub: kafka client for \"%V\" not started, "
                          "its locations answer with errors",
                          &cluster[i]->brokers);
        }
    }

    return NGX_OK;
}


static void
ngx_http_pubsub_kafka_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                           i;
    ngx_http_pubsub_kafka_cluster_t    **cluster;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    pkmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_pubsub_kafka_module);
    if (pkmcf == NULL) {
        return;
    }

    cluster = pkmcf->clusters.elts;

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        if (cluster[i]->client) {
            ngx_http_pubsub_kafka_exit_worker(cluster[i]->client);
            cluster[i]->client = NULL;
        }
    }
}
