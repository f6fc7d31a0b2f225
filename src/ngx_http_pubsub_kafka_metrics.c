
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The Kafka backend's metrics.  Counters that its files count as things
 * happen (ngx_http_pubsub_kafka_metrics.h); per cluster, gauges and
 * counters that a timer copies from this worker's client once a second;
 * and the lag of the partitions being read, of which each worker
 * publishes its largest.  Reads the backend's state, never changes it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"
#include "ngx_http_pubsub_kafka_metrics.h"


#define NGX_HTTP_PUBSUB_KAFKA_LAG_SIZE     32       /* partitions shown */
#define NGX_HTTP_PUBSUB_KAFKA_REFRESH      1000     /* ms */

/* the series of a cluster, in the order of ngx_http_pubsub_kafka_cseries */
#define NGX_HTTP_PUBSUB_KAFKA_C_BROKERS    0
#define NGX_HTTP_PUBSUB_KAFKA_C_DOWN       1
#define NGX_HTTP_PUBSUB_KAFKA_C_PARTITIONS 2
#define NGX_HTTP_PUBSUB_KAFKA_C_READERS    3
#define NGX_HTTP_PUBSUB_KAFKA_C_MESSAGES   4
#define NGX_HTTP_PUBSUB_KAFKA_C_BYTES      5
#define NGX_HTTP_PUBSUB_KAFKA_C_MEMORY     6
#define NGX_HTTP_PUBSUB_KAFKA_C_WAITERS    7
#define NGX_HTTP_PUBSUB_KAFKA_C_LOOKUPS    8
#define NGX_HTTP_PUBSUB_KAFKA_C_GAUGES     9        /* the counters after */
#define NGX_HTTP_PUBSUB_KAFKA_C_READ       9
#define NGX_HTTP_PUBSUB_KAFKA_C_SEEKS      10
#define NGX_HTTP_PUBSUB_KAFKA_C_FETCHES    11
#define NGX_HTTP_PUBSUB_KAFKA_C_N          12


#define ngx_http_pubsub_kafka_series(name, type, help, labels)                \
    { ngx_string(name), ngx_string(help), NGX_HTTP_PUBSUB_METRIC_ ## type,    \
      ngx_string(labels) }


static ngx_int_t ngx_http_pubsub_kafka_metrics_clusters(ngx_conf_t *cf,
    void *data);
static void ngx_http_pubsub_kafka_metrics_refresh(ngx_event_t *ev);
static void ngx_http_pubsub_kafka_metrics_client(
    ngx_http_pubsub_kafka_client_t *kc, ngx_uint_t base, ngx_uint_t group);
static void ngx_http_pubsub_kafka_metrics_lag(
    ngx_http_pubsub_kafka_topic_t *t, ngx_http_pubsub_kafka_part_t *p,
    int64_t lag, ngx_uint_t group);


ngx_uint_t  ngx_http_pubsub_kafka_metrics;


static ngx_http_pubsub_metric_t  ngx_http_pubsub_kafka_series[] = {

    ngx_http_pubsub_kafka_series("pubsub_kafka_messages_delivered_total",
        COUNTER, "Kafka messages sent to clients: in fetch answers, or "
        "pushed to subscriptions.", "via=\"fetch\""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_messages_delivered_total",
        COUNTER, "", "via=\"push\""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_subscriptions",
        GAUGE, "Subscriptions open now.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_produced_records_total",
        COUNTER, "Records produced for clients, by the broker's answer.",
        "result=\"acknowledged\""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_produced_records_total",
        COUNTER, "", "result=\"failed\""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_commits_total",
        COUNTER, "Consumer group offset commits for clients, by result.",
        "result=\"ok\""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_commits_total",
        COUNTER, "", "result=\"failed\"")
};


static ngx_http_pubsub_metric_t  ngx_http_pubsub_kafka_cseries[] = {

    ngx_http_pubsub_kafka_series("pubsub_kafka_brokers_up", GAUGE,
        "Broker connections up, over the cluster client's librdkafka "
        "handles (librdkafka's statistics, every 5 s).", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_brokers_down", GAUGE,
        "Broker connections not up (down, connecting, authenticating), "
        "over the cluster client's librdkafka handles.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_partitions", GAUGE,
        "Partitions the cluster client knows of (read or being looked "
        "up).", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_readers", GAUGE,
        "Readers (cursors) reading a partition.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_window_messages", GAUGE,
        "Messages held in the readers' windows.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_window_bytes", GAUGE,
        "Bytes of the messages held in the readers' windows.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_window_memory_bytes", GAUGE,
        "Memory of the readers' windows as allocated: their blocks, "
        "entries and unused ends included, and blocks that answers being "
        "sent still hold.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_waiters", GAUGE,
        "Fetches and subscriptions waiting for messages to come.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_lookups", GAUGE,
        "Blocking calls (offset look-ups) queued or running in the thread "
        "pool.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_messages_read_total",
        COUNTER, "Messages the readers read from Kafka.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_seeks_total", COUNTER,
        "Readers moved to another offset.", ""),

    ngx_http_pubsub_kafka_series("pubsub_kafka_fetches_total", COUNTER,
        "Fetch commands that went to a partition.", "")
};


/* this worker's */
static ngx_event_t                     ngx_http_pubsub_kafka_metrics_ev;
static ngx_uint_t                      ngx_http_pubsub_kafka_metrics_base;
static ngx_uint_t                      ngx_http_pubsub_kafka_metrics_top;
static ngx_http_pubsub_metric_entry_t  ngx_http_pubsub_kafka_lags[
                                           NGX_HTTP_PUBSUB_KAFKA_LAG_SIZE];
static ngx_uint_t                      ngx_http_pubsub_kafka_nlags;


ngx_int_t
ngx_http_pubsub_kafka_metrics_init(ngx_conf_t *cf)
{
    if (ngx_http_pubsub_metrics_add(cf, ngx_http_pubsub_kafka_series,
                                    sizeof(ngx_http_pubsub_kafka_series)
                                    / sizeof(ngx_http_pubsub_metric_t),
                                    &ngx_http_pubsub_kafka_metrics)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the clusters are known once the locations are merged */

    return ngx_http_pubsub_metrics_add_late(cf,
                                        ngx_http_pubsub_kafka_metrics_clusters,
                                        NULL);
}


/*
 * Each cluster's series, labelled with its brokers (and "#N", its number
 * in the configuration, when another cluster has the same brokers), and
 * the lag list, whose groups are these labels.
 */

static ngx_int_t
ngx_http_pubsub_kafka_metrics_clusters(ngx_conf_t *cf, void *data)
{
    u_char                              *p;
    size_t                               len;
    ngx_str_t                           *labels;
    ngx_uint_t                           i, j, first, n, index;
    ngx_http_pubsub_metric_t             series[NGX_HTTP_PUBSUB_KAFKA_C_N];
    ngx_http_pubsub_metric_top_t         top;
    ngx_http_pubsub_kafka_cluster_t    **cluster;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    pkmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_pubsub_kafka_module);
    cluster = pkmcf->clusters.elts;
    n = pkmcf->clusters.nelts;

    if (n == 0) {
        return NGX_OK;
    }

    labels = ngx_palloc(cf->pool, n * sizeof(ngx_str_t));
    if (labels == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        len = sizeof("cluster=\"#\"") - 1 + NGX_INT_T_LEN
              + cluster[i]->brokers.len
              + ngx_http_pubsub_metrics_escape(NULL, cluster[i]->brokers.data,
                                               cluster[i]->brokers.len);

        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        labels[i].data = p;

        p = ngx_cpymem(p, "cluster=\"", sizeof("cluster=\"") - 1);
        p = (u_char *) ngx_http_pubsub_metrics_escape(p,
                                                      cluster[i]->brokers.data,
                                                      cluster[i]->brokers.len);

        for (j = 0; j < i; j++) {
            if (cluster[j]->brokers.len == cluster[i]->brokers.len
                && ngx_strncmp(cluster[j]->brokers.data,
                               cluster[i]->brokers.data,
                               cluster[i]->brokers.len)
                   == 0)
            {
                p = ngx_sprintf(p, "#%ui", i);
                break;
            }
        }

        *p++ = '"';
        labels[i].len = p - labels[i].data;

        ngx_memcpy(series, ngx_http_pubsub_kafka_cseries, sizeof(series));

        for (j = 0; j < NGX_HTTP_PUBSUB_KAFKA_C_N; j++) {
            series[j].labels = labels[i];
        }

        if (ngx_http_pubsub_metrics_add(cf, series, NGX_HTTP_PUBSUB_KAFKA_C_N,
                                        &first)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_str_set(&top.name, "pubsub_kafka_partition_lag");
    ngx_str_set(&top.help, "Messages a partition has past the read "
                "position of its most advanced reader: the high watermark "
                "librdkafka last saw minus the reader's next offset; the "
                "partitions with the largest lag only, at most 32.");
    ngx_str_set(&top.key, "topic");
    ngx_str_set(&top.id, "partition");
    top.groups = labels;
    top.ngroups = n;
    top.size = NGX_HTTP_PUBSUB_KAFKA_LAG_SIZE;

    return ngx_http_pubsub_metrics_add_top(cf, &top, &index);
}


/*
 * A worker's refresh, once a second while it runs; the series' indexes
 * are looked up in this worker's own configuration.
 */

void
ngx_http_pubsub_kafka_metrics_start(ngx_cycle_t *cycle)
{
    ngx_int_t     base, top;
    ngx_str_t     name;
    ngx_event_t  *ev;

    ev = &ngx_http_pubsub_kafka_metrics_ev;

    if (ev->handler) {
        return;
    }

    ngx_str_set(&name, "pubsub_kafka_brokers_up");
    base = ngx_http_pubsub_metrics_find(cycle, &name, 0);

    ngx_str_set(&name, "pubsub_kafka_partition_lag");
    top = ngx_http_pubsub_metrics_find(cycle, &name, 1);

    if (base < 0 || top < 0) {
        /* no "pubsub_metrics" location */
        return;
    }

    ngx_http_pubsub_kafka_metrics_base = base;
    ngx_http_pubsub_kafka_metrics_top = top;

    ev->handler = ngx_http_pubsub_kafka_metrics_refresh;
    ev->data = cycle;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_PUBSUB_KAFKA_REFRESH);
}


static void
ngx_http_pubsub_kafka_metrics_refresh(ngx_event_t *ev)
{
    ngx_uint_t                           i, base, k;
    ngx_cycle_t                         *cycle;
    ngx_http_pubsub_kafka_cluster_t    **cluster;
    ngx_http_pubsub_kafka_main_conf_t   *pkmcf;

    cycle = ev->data;

    if (ngx_http_pubsub_metrics_n == 0) {
        /* not counting (yet) */
        ngx_add_timer(ev, NGX_HTTP_PUBSUB_KAFKA_REFRESH);
        return;
    }

    pkmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_pubsub_kafka_module);
    cluster = pkmcf->clusters.elts;

    ngx_http_pubsub_kafka_nlags = 0;

    for (i = 0; i < pkmcf->clusters.nelts; i++) {
        base = ngx_http_pubsub_kafka_metrics_base
               + i * NGX_HTTP_PUBSUB_KAFKA_C_N;

        if (cluster[i]->client) {
            ngx_http_pubsub_kafka_metrics_client(cluster[i]->client, base, i);
            continue;
        }

        /* not started: nothing is read; the counters keep their values */

        for (k = 0; k < NGX_HTTP_PUBSUB_KAFKA_C_GAUGES; k++) {
            ngx_http_pubsub_metric_set(base + k, 0);
        }
    }

    ngx_http_pubsub_metrics_top_set(ngx_http_pubsub_kafka_metrics_top,
                                    ngx_http_pubsub_kafka_lags,
                                    ngx_http_pubsub_kafka_nlags);

    ngx_add_timer(ev, NGX_HTTP_PUBSUB_KAFKA_REFRESH);
}


static void
ngx_http_pubsub_kafka_metrics_client(ngx_http_pubsub_kafka_client_t *kc,
    ngx_uint_t base, ngx_uint_t group)
{
    int64_t                          low, high, hw, next;
    ngx_uint_t                       i, up, down, messages;
    ngx_http_pubsub_kafka_part_t    *p;
    ngx_http_pubsub_kafka_topic_t   *t;
    ngx_http_pubsub_kafka_reader_t  *r;

    up = 0;
    down = 0;

    for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
        up += kc->handles[i].brokers_up;
        down += kc->handles[i].brokers_down;
    }

    messages = 0;

    for (p = ngx_http_pubsub_kafka_part_next(kc, NULL);
         p;
         p = ngx_http_pubsub_kafka_part_next(kc, p))
    {
        t = p->topic;

        hw = -1;
        next = -1;

        for (i = 0; i < NGX_HTTP_PUBSUB_KAFKA_READERS; i++) {
            r = &p->readers[i];
            messages += r->nmessages;

            if (!r->running || r->stopping) {
                continue;
            }

            /* cached from fetch responses: no call to a broker */

            if (rd_kafka_get_watermark_offsets(kc->handles[r->index].rk,
                                               (char *) t->data, p->id,
                                               &low, &high)
                == RD_KAFKA_RESP_ERR_NO_ERROR)
            {
                hw = ngx_max(hw, high);
            }

            next = ngx_max(next, r->next);
        }

        if (hw >= 0 && next >= 0) {
            ngx_http_pubsub_kafka_metrics_lag(t, p,
                                              hw > next ? hw - next : 0,
                                              group);
        }
    }

    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_BROKERS, up);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_DOWN, down);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_PARTITIONS,
                               kc->npartitions);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_READERS,
                               kc->nreaders);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_MESSAGES,
                               messages);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_BYTES,
                               kc->window_bytes);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_MEMORY,
                               kc->window_memory);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_WAITERS,
                               kc->nwaiters);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_LOOKUPS,
                               kc->ntasks);

    /* the client's counts since the worker started: they only grow */

    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_READ,
                               kc->nmessages);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_SEEKS,
                               kc->nseeks);
    ngx_http_pubsub_metric_set(base + NGX_HTTP_PUBSUB_KAFKA_C_FETCHES,
                               kc->nfetches);
}


/* keeps the partitions of the largest lag, in no order */

static void
ngx_http_pubsub_kafka_metrics_lag(ngx_http_pubsub_kafka_topic_t *t,
    ngx_http_pubsub_kafka_part_t *p, int64_t lag, ngx_uint_t group)
{
    ngx_uint_t                       i, min;
    ngx_http_pubsub_metric_entry_t  *e;

    if (ngx_http_pubsub_kafka_nlags < NGX_HTTP_PUBSUB_KAFKA_LAG_SIZE) {
        e = &ngx_http_pubsub_kafka_lags[ngx_http_pubsub_kafka_nlags++];

    } else {
        min = 0;

        for (i = 1; i < NGX_HTTP_PUBSUB_KAFKA_LAG_SIZE; i++) {
            if (ngx_http_pubsub_kafka_lags[i].value
                < ngx_http_pubsub_kafka_lags[min].value)
            {
                min = i;
            }
        }

        e = &ngx_http_pubsub_kafka_lags[min];

        if (e->value >= lag) {
            return;
        }
    }

    e->group = group;
    e->id = p->id;
    e->value = lag;
    e->key_len = ngx_min(t->sn.str.len, NGX_HTTP_PUBSUB_METRIC_KEY_MAX);
    ngx_memcpy(e->key, t->sn.str.data, e->key_len);
}
