
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_METRICS_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Counters and gauges for Prometheus in a shared memory zone: one slot
 * per worker, written by its worker without a lock, summed by the
 * exporter ("pubsub_metrics" in a location).  An nginx module of its own
 * (ngx_http_pubsub_metrics_module) that depends on no other file of the
 * project: every layer registers its series at configuration time and
 * counts on its hot path.
 *
 * Series are registered from any module's preconfiguration, while the
 * configuration is parsed, or from a handler given to
 * ngx_http_pubsub_metrics_add_late(), which runs once every location is
 * merged; the zone is sized after that.
 */


#define NGX_HTTP_PUBSUB_METRIC_COUNTER   0
#define NGX_HTTP_PUBSUB_METRIC_GAUGE     1

/* the key label of an entry of a top list: a Kafka topic name fits */
#define NGX_HTTP_PUBSUB_METRIC_KEY_MAX   256


/*
 * One series.  "labels" is written as in the exposition format, values
 * escaped (ngx_http_pubsub_metrics_escape()): 'outcome="101"', or empty.
 * Counters' names end in "_total".  Series of one name form a family,
 * printed together with the help and type of its first series.
 */

typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        help;
    ngx_uint_t                       type;
    ngx_str_t                        labels;
} ngx_http_pubsub_metric_t;


/*
 * A gauge family whose label set changes as the worker runs (Kafka lag
 * per partition): each worker publishes its "size" largest series, the
 * exporter prints the "size" largest of all workers'.  The labels of an
 * entry: its group's (one of "groups", written as labels are, fixed at
 * configuration time), then key="..." (escaped by the exporter) and
 * id="...".
 */

typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        help;
    ngx_str_t                        key;       /* a label name: "topic" */
    ngx_str_t                        id;        /* "partition" */
    ngx_str_t                       *groups;
    ngx_uint_t                       ngroups;
    ngx_uint_t                       size;
} ngx_http_pubsub_metric_top_t;


typedef struct {
    ngx_uint_t                       group;
    int64_t                          id;
    int64_t                          value;
    size_t                           key_len;
    u_char                           key[NGX_HTTP_PUBSUB_METRIC_KEY_MAX];
} ngx_http_pubsub_metric_entry_t;


typedef ngx_int_t (*ngx_http_pubsub_metrics_late_pt)(ngx_conf_t *cf,
    void *data);


/*
 * Configuration time: registers n series (a family's series one after
 * another), *first = the index of the first.  The same n series again
 * (another location serving the same command) give the same indexes.
 */
ngx_int_t ngx_http_pubsub_metrics_add(ngx_conf_t *cf,
    ngx_http_pubsub_metric_t *series, ngx_uint_t n, ngx_uint_t *first);
ngx_int_t ngx_http_pubsub_metrics_add_late(ngx_conf_t *cf,
    ngx_http_pubsub_metrics_late_pt handler, void *data);
ngx_int_t ngx_http_pubsub_metrics_add_top(ngx_conf_t *cf,
    ngx_http_pubsub_metric_top_t *top, ngx_uint_t *index);

/*
 * Worker start: the index of the first series of a name (top: of the top
 * list) in this cycle's configuration; NGX_DECLINED when nothing is
 * exported, NGX_ERROR when there is no such series.
 */
ngx_int_t ngx_http_pubsub_metrics_find(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_uint_t top);

/* run time: this worker's entries of top list "index" (n <= its size) */
void ngx_http_pubsub_metrics_top_set(ngx_uint_t index,
    ngx_http_pubsub_metric_entry_t *entries, ngx_uint_t n);

/* a label value escaped; dst NULL: the number of bytes escaping adds */
uintptr_t ngx_http_pubsub_metrics_escape(u_char *dst, u_char *src,
    size_t size);


/* this worker's slot: 0 series (every call a no-op) until it has one */
extern ngx_atomic_t         *ngx_http_pubsub_metrics_values;
extern ngx_atomic_int_t     *ngx_http_pubsub_metrics_own;
extern ngx_uint_t            ngx_http_pubsub_metrics_n;


/*
 * Hot path: an atomic add to this worker's slot (a lock-prefixed add, no
 * lock), and to what this worker itself added, which its exit takes back
 * from the gauges; a no-op before the worker has its slot (master,
 * nginx -t, no "pubsub_metrics" location in the configuration).
 */

static ngx_inline void
ngx_http_pubsub_metric_add(ngx_uint_t index, ngx_atomic_int_t delta)
{
    if (index < ngx_http_pubsub_metrics_n) {
        (void) ngx_atomic_fetch_add(&ngx_http_pubsub_metrics_values[index],
                                    delta);
        ngx_http_pubsub_metrics_own[index] += delta;
    }
}


/* a gauge this worker knows the whole value of: its part becomes value */

static ngx_inline void
ngx_http_pubsub_metric_set(ngx_uint_t index, ngx_atomic_int_t value)
{
    if (index < ngx_http_pubsub_metrics_n) {
        ngx_http_pubsub_metric_add(index,
                                   value - ngx_http_pubsub_metrics_own[index]);
    }
}


extern ngx_module_t  ngx_http_pubsub_metrics_module;


#endif /* _NGX_HTTP_PUBSUB_METRICS_H_INCLUDED_ */
