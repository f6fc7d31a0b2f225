
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_METRICS_ZONE_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_METRICS_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_metrics.h"


/*
 * The metrics module's own types, for its two files: the registry
 * (ngx_http_pubsub_metrics.c) and the slots and exporter
 * (ngx_http_pubsub_metrics_export.c).
 *
 * The zone holds a header, then "nslots" slots of one worker each, then
 * one slot that workers share when no other is free.  A slot is its
 * owner's pid, one ngx_atomic_t per series, and the worker's entries of
 * each top list.  Slots are NGX_HTTP_PUBSUB_METRICS_ALIGN bytes apart, so
 * two workers never write the same cache line.
 */


#define NGX_HTTP_PUBSUB_METRICS_ALIGN    128


typedef struct {
    ngx_http_pubsub_metrics_late_pt      handler;
    void                                *data;
} ngx_http_pubsub_metrics_late_t;


typedef struct {
    ngx_http_pubsub_metric_top_t         top;
    size_t                               offset;    /* in a slot */
    size_t                               groups_len;    /* the longest */
} ngx_http_pubsub_metrics_top_conf_t;


/* in the zone: a top list, "lock" odd while its worker writes it */

typedef struct {
    ngx_atomic_t                         lock;
    ngx_atomic_t                         n;
    ngx_http_pubsub_metric_entry_t       entries[1];
} ngx_http_pubsub_metrics_list_t;


typedef struct {
    ngx_atomic_t                         pid;       /* 0: free */
} ngx_http_pubsub_metrics_slot_t;


typedef struct {
    ngx_uint_t                           nslots;    /* and a shared one */
    ngx_uint_t                           nseries;
    size_t                               slot_size;
    u_char                              *slots;
} ngx_http_pubsub_metrics_sh_t;


typedef struct {
    ngx_array_t                          series;    /* metric_t */
    ngx_array_t                          tops;      /* top_conf_t */
    ngx_array_t                          late;      /* late_t */
    ngx_uint_t                          *order;     /* series by family */
    ngx_shm_zone_t                      *zone;
    ngx_http_pubsub_metrics_sh_t        *sh;
    ngx_uint_t                           nslots;
    size_t                               slot_size;
    size_t                               text_size; /* at most */
    ngx_flag_t                           enabled;   /* a location exports */
    ngx_flag_t                           closed;    /* the zone is sized */
} ngx_http_pubsub_metrics_main_conf_t;


#define ngx_http_pubsub_metrics_values_of(slot)                               \
    ((ngx_atomic_t *) ((u_char *) (slot)                                      \
                       + sizeof(ngx_http_pubsub_metrics_slot_t)))


ngx_uint_t ngx_http_pubsub_metrics_same(ngx_str_t *one, ngx_str_t *two);

/* ngx_http_pubsub_metrics_export.c */

ngx_int_t ngx_http_pubsub_metrics_init_process(ngx_cycle_t *cycle);
void ngx_http_pubsub_metrics_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_pubsub_metrics_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_PUBSUB_METRICS_ZONE_H_INCLUDED_ */
