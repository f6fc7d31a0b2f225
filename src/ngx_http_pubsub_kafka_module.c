
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_module.h"
#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"


/*
 * The Kafka backend as an nginx module: its directives and their merge,
 * the clusters that locations share, the command tables it registers in a
 * location, and worker start and exit.  The rest of the backend is in the
 * ngx_http_pubsub_kafka_*.c files; only this one knows the glue.
 */


static char *ngx_http_pubsub_kafka_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_pubsub_kafka_property(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_pubsub_kafka_status_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_pubsub_kafka_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_pubsub_kafka_create_loc_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_pubsub_kafka_merge_rights(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf,
    ngx_http_pubsub_kafka_loc_conf_t *prev);
static char *ngx_http_pubsub_kafka_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_pubsub_kafka_init_process(ngx_cycle_t *cycle);
static void ngx_http_pubsub_kafka_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_pubsub_kafka_limit_bounds = {
    ngx_conf_check_num_bounds, 1, 1000000
};

static ngx_conf_num_bounds_t  ngx_http_pubsub_kafka_headers_bounds = {
    ngx_conf_check_num_bounds, 0, 65535
};


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

    { ngx_string("pubsub_kafka_max_partitions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, max_partitions),
      &ngx_http_pubsub_kafka_limit_bounds },

    { ngx_string("pubsub_kafka_max_subscriptions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, max_subscriptions),
      &ngx_http_pubsub_kafka_limit_bounds },

    { ngx_string("pubsub_kafka_produce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, produce),
      NULL },

    { ngx_string("pubsub_kafka_read"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_pubsub_kafka_acl_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, read),
      NULL },

    { ngx_string("pubsub_kafka_write"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_pubsub_kafka_acl_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, write),
      NULL },

    { ngx_string("pubsub_kafka_groups"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_pubsub_kafka_acl_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, groups),
      NULL },

    { ngx_string("pubsub_kafka_produce_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, produce_max_size),
      NULL },

    { ngx_string("pubsub_kafka_produce_max_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, produce_max_headers),
      &ngx_http_pubsub_kafka_headers_bounds },

    { ngx_string("pubsub_kafka_produce_flush_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, flush_timeout),
      NULL },

    { ngx_string("pubsub_kafka_commit_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, commit_interval),
      NULL },

    { ngx_string("pubsub_kafka_max_lookups"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_pubsub_kafka_loc_conf_t, max_lookups),
      &ngx_http_pubsub_kafka_limit_bounds },

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
    ngx_http_pubsub_kafka_metrics_init,    /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_pubsub_kafka_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_pubsub_kafka_create_loc_conf, /* create location configuration */
    ngx_http_pubsub_kafka_merge_loc_conf   /* merge location configuration */
};


/* the commands a pubsub_kafka_pass location serves, besides CmdPing */

static ngx_http_pubsub_command_t  *ngx_http_pubsub_kafka_tables[] = {
    ngx_http_pubsub_kafka_fetch_commands,
    ngx_http_pubsub_kafka_subscribe_commands,
    ngx_http_pubsub_kafka_produce_commands,
    ngx_http_pubsub_kafka_group_commands,
    ngx_http_pubsub_kafka_committed_commands,
    NULL
};


static ngx_http_pubsub_backend_t  ngx_http_pubsub_kafka_backend = {
    ngx_string("kafka"),
    ngx_http_pubsub_kafka_tables,
    sizeof(ngx_http_pubsub_kafka_session_t),
    ngx_http_pubsub_kafka_init_session,
    ngx_http_pubsub_kafka_drain,
    NULL
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

    char                        *rv;
    ngx_str_t                   *value, url;
    ngx_http_pubsub_registry_t  *reg;

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

    reg = ngx_http_pubsub_endpoint(cf);
    if (reg == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_pubsub_add_backend(cf, reg, &ngx_http_pubsub_kafka_backend,
                                    pklcf)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

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
    conf->max_partitions = NGX_CONF_UNSET_UINT;
    conf->max_lookups = NGX_CONF_UNSET_UINT;
    conf->max_subscriptions = NGX_CONF_UNSET_UINT;
    conf->produce = NGX_CONF_UNSET;
    conf->produce_max_size = NGX_CONF_UNSET_SIZE;
    conf->produce_max_headers = NGX_CONF_UNSET_UINT;
    conf->flush_timeout = NGX_CONF_UNSET_MSEC;
    conf->commit_interval = NGX_CONF_UNSET_MSEC;
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
                             "pubsub_kafka");
    ngx_conf_merge_uint_value(conf->max_partitions, prev->max_partitions,
                              4096);
    ngx_conf_merge_uint_value(conf->max_lookups, prev->max_lookups, 256);
    ngx_conf_merge_uint_value(conf->max_subscriptions,
                              prev->max_subscriptions, 64);

    if (ngx_http_pubsub_kafka_merge_rights(cf, conf, prev) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    conf->produce = !ngx_http_pubsub_kafka_acl_empty(&conf->write);
    ngx_conf_merge_size_value(conf->produce_max_size, prev->produce_max_size,
                              1024 * 1024);
    ngx_conf_merge_uint_value(conf->produce_max_headers,
                              prev->produce_max_headers, 64);
    ngx_conf_merge_msec_value(conf->flush_timeout, prev->flush_timeout,
                              5000);
    ngx_conf_merge_msec_value(conf->commit_interval, prev->commit_interval,
                              10);

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

    conf->thread_pool = ngx_http_pubsub_kafka_thread_pool(cf,
                                                      &conf->thread_pool_name);
    if (conf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_pubsub_kafka_security(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_pubsub_kafka_cluster(cf, conf);
}


/*
 * pubsub_kafka_produce on|off is pubsub_kafka_write * or nothing, of old,
 * at its own level: a child's list or flag replaces its parent's
 */

static ngx_int_t
ngx_http_pubsub_kafka_merge_rights(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf,
    ngx_http_pubsub_kafka_loc_conf_t *prev)
{
    ngx_http_pubsub_kafka_acl_t  none;

    if (conf->produce == NGX_CONF_UNSET && !conf->write.set
        && !prev->write.set)
    {
        /* the http{} level, never merged itself, has only its flag */
        conf->produce = prev->produce;
    }

    if (conf->produce != NGX_CONF_UNSET) {

        if (conf->write.set) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"pubsub_kafka_produce\" and "
                               "\"pubsub_kafka_write\" go not together: "
                               "\"pubsub_kafka_produce on\" is "
                               "\"pubsub_kafka_write *\"");
            return NGX_ERROR;
        }

        ngx_memzero(&none, sizeof(ngx_http_pubsub_kafka_acl_t));

        if (ngx_http_pubsub_kafka_acl_merge(cf, &conf->write, &none,
                                            conf->produce ? "*" : NULL)
            != NGX_CONF_OK)
        {
            return NGX_ERROR;
        }

        conf->write.set = 1;
    }

    if (ngx_http_pubsub_kafka_acl_merge(cf, &conf->read, &prev->read, "*")
        != NGX_CONF_OK
        || ngx_http_pubsub_kafka_acl_merge(cf, &conf->write, &prev->write,
                                           NULL)
           != NGX_CONF_OK
        || ngx_http_pubsub_kafka_acl_merge(cf, &conf->groups, &prev->groups,
                                           NULL)
           != NGX_CONF_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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
     * not take the worker down: it logs why, its locations answer with an
     * error, the rest of nginx serves on
     */

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        (void) ngx_http_pubsub_kafka_init_worker(cycle, cluster[i]);
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
