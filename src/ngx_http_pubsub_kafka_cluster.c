
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Configuration time: the brokers a location names (a list, or an
 * upstream{} block), its thread pool, and the cluster it shares with
 * every location of the same settings.  Creates no client: workers do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


#define NGX_HTTP_PUBSUB_KAFKA_POOL_THREADS  "threads=16"


static char *ngx_http_pubsub_kafka_upstream(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_str_t *brokers);
static ngx_int_t ngx_http_pubsub_kafka_cluster_key(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_str_t *brokers,
    ngx_str_t *key);


/* HOST:PORT[,HOST:PORT...]: host names reach librdkafka as written */

char *
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


/*
 * The pool for blocking librdkafka calls.  Ours, "pubsub_kafka", exists
 * without a declaration, as core's "default" does, with 16 threads: its
 * tasks wait for a broker's answers, not for a CPU.  A thread_pool
 * directive of that name before the http block sets it up instead.  Any
 * other name must be declared.
 */

ngx_thread_pool_t *
ngx_http_pubsub_kafka_thread_pool(ngx_conf_t *cf, ngx_str_t *name)
{
    char           *rv;
    ngx_uint_t      i;
    ngx_str_t      *value;
    ngx_conf_t      pcf;
    ngx_array_t     args;
    ngx_module_t   *m;
    ngx_command_t  *cmd;

    if (name->len != sizeof("pubsub_kafka") - 1
        || ngx_strncmp(name->data, "pubsub_kafka", name->len) != 0
        || ngx_thread_pool_get(cf->cycle, name) != NULL)
    {
        return ngx_thread_pool_add(cf, name);
    }

    /* "thread_pool pubsub_kafka threads=16;", said for the operator */

    m = NULL;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (ngx_strcmp(cf->cycle->modules[i]->name, "ngx_thread_pool_module")
            == 0)
        {
            m = cf->cycle->modules[i];
            break;
        }
    }

    if (m == NULL || m->commands == NULL) {
        return ngx_thread_pool_add(cf, name);
    }

    for (cmd = m->commands; cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, "thread_pool") == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        return ngx_thread_pool_add(cf, name);
    }

    if (ngx_array_init(&args, cf->temp_pool, 3, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    value = ngx_array_push_n(&args, 3);
    if (value == NULL) {
        return NULL;
    }

    ngx_str_set(&value[0], "thread_pool");
    value[1] = *name;
    ngx_str_set(&value[2], NGX_HTTP_PUBSUB_KAFKA_POOL_THREADS);

    pcf = *cf;
    pcf.args = &args;

    rv = cmd->set(&pcf, cmd, cf->cycle->conf_ctx[m->index]);

    if (rv != NGX_CONF_OK) {
        return NULL;
    }

    return ngx_thread_pool_get(cf->cycle, name);
}


/*
 * The bootstrap list of an upstream{} block's servers.  Balancing and
 * health parameters mean nothing to Kafka (librdkafka picks brokers from
 * the cluster's metadata): they are refused rather than ignored.
 */

static char *
ngx_http_pubsub_kafka_upstream(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_str_t *brokers)
{
    u_char                         *p;
    size_t                          len;
    ngx_uint_t                      i, j, n;
    const char                     *param;
    ngx_http_upstream_server_t     *us;
    ngx_http_upstream_srv_conf_t  **uscf;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
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

        param = (us[j].weight != 1) ? "weight"
                : (us[j].max_conns != 0) ? "max_conns"
                : (us[j].max_fails != 1) ? "max_fails"
                : (us[j].fail_timeout != 10) ? "fail_timeout"
                : (us[j].slow_start != 0) ? "slow_start"
                : us[j].down ? "down"
                : us[j].backup ? "backup" : NULL;

        if (param) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "Kafka broker \"%V\" in upstream \"%V\": "
                               "\"%s\" means nothing to Kafka, whose "
                               "client picks brokers itself", &us[j].name,
                               &conf->upstream, param);
            return NGX_CONF_ERROR;
        }

        len += us[j].name.len + 1;
    }

    brokers->data = ngx_pnalloc(cf->pool, len);
    if (brokers->data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = brokers->data;

    for (j = 0; j < n; j++) {
        if (j) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, us[j].name.data, us[j].name.len);
    }

    brokers->len = p - brokers->data;

    return NGX_CONF_OK;
}


/*
 * The key of a cluster: the brokers, the client's settings and every
 * property, in order
 */

static ngx_int_t
ngx_http_pubsub_kafka_cluster_key(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_str_t *brokers,
    ngx_str_t *key)
{
    u_char        *p;
    size_t         len;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    len = brokers->len + NGX_SIZE_T_LEN + 3 * NGX_INT_T_LEN + 5
          + conf->thread_pool_name.len;

    if (conf->properties) {
        kv = conf->properties->elts;

        for (i = 0; i < conf->properties->nelts; i++) {
            len += kv[i].key.len + kv[i].value.len + 2;
        }
    }

    key->data = ngx_pnalloc(cf->pool, len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(key->data, "%V|%uz|%M|%ui|%ui|%V", brokers,
                    conf->buffer_size, conf->read_timeout,
                    conf->max_partitions, conf->max_lookups,
                    &conf->thread_pool_name);

    if (conf->properties) {
        kv = conf->properties->elts;

        for (i = 0; i < conf->properties->nelts; i++) {
            p = ngx_sprintf(p, "|%V=%V", &kv[i].key, &kv[i].value);
        }
    }

    key->len = p - key->data;

    return NGX_OK;
}


/*
 * Finds or adds the cluster this location talks to: locations whose
 * brokers and client settings are the same share one Kafka client.
 */

char *
ngx_http_pubsub_kafka_cluster(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf)
{
    ngx_str_t                            brokers, key;
    ngx_uint_t                           i;
    ngx_http_pubsub_kafka_cluster_t     *cluster, **pc;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    brokers = conf->pass;

    if (conf->upstream.len
        && ngx_http_pubsub_kafka_upstream(cf, conf, &brokers) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_pubsub_kafka_cluster_key(cf, conf, &brokers, &key)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    pkmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_pubsub_kafka_module);
    pc = pkmcf->clusters.elts;

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        if (pc[i]->key.len == key.len
            && ngx_strncmp(pc[i]->key.data, key.data, key.len) == 0)
        {
            conf->cluster = pc[i];

            /* one location that produces gives the client a producer */

            pc[i]->flush_timeout = ngx_max(pc[i]->flush_timeout,
                                           conf->flush_timeout);

            if (conf->produce && !pc[i]->produce) {
                pc[i]->produce = 1;
                return ngx_http_pubsub_kafka_check_properties(cf, pc[i]);
            }

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
    cluster->max_partitions = conf->max_partitions;
    cluster->max_lookups = conf->max_lookups;
    cluster->flush_timeout = conf->flush_timeout;
    cluster->produce = conf->produce ? 1 : 0;
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
