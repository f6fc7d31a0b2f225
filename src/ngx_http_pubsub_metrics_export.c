
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The metrics zone at run time: a worker's slot, its top lists, and the
 * exporter that sums the slots ("pubsub_metrics").
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_metrics_zone.h"


#define NGX_HTTP_PUBSUB_METRICS_TRIES    100    /* to read a list */


static void ngx_http_pubsub_metrics_reset(
    ngx_http_pubsub_metrics_main_conf_t *pmcf, u_char *slot);
static ngx_uint_t ngx_http_pubsub_metrics_alive(ngx_pid_t pid);
static ngx_uint_t ngx_http_pubsub_metrics_sum(
    ngx_http_pubsub_metrics_main_conf_t *pmcf, ngx_atomic_uint_t *sums,
    u_char **live);
static u_char *ngx_http_pubsub_metrics_series(
    ngx_http_pubsub_metrics_main_conf_t *pmcf, u_char *p,
    ngx_atomic_uint_t *sums);
static u_char *ngx_http_pubsub_metrics_tops(ngx_http_request_t *r,
    ngx_http_pubsub_metrics_main_conf_t *pmcf, u_char *p, u_char **live,
    ngx_uint_t nlive);
static ngx_uint_t ngx_http_pubsub_metrics_read_list(
    ngx_http_pubsub_metrics_list_t *list, ngx_uint_t size,
    ngx_http_pubsub_metric_entry_t *dst);
static int ngx_libc_cdecl ngx_http_pubsub_metrics_cmp_key(const void *one,
    const void *two);
static int ngx_libc_cdecl ngx_http_pubsub_metrics_cmp_value(const void *one,
    const void *two);


ngx_atomic_t      *ngx_http_pubsub_metrics_values;
ngx_atomic_int_t  *ngx_http_pubsub_metrics_own;
ngx_uint_t         ngx_http_pubsub_metrics_n;

/* this worker's slot */
static ngx_http_pubsub_metrics_main_conf_t  *ngx_http_pubsub_metrics_conf;
static u_char                               *ngx_http_pubsub_metrics_slot;
static ngx_uint_t                            ngx_http_pubsub_metrics_shared;


/*
 * A worker takes a slot: the one of a dead worker first (whose gauges
 * are stale), then a free one; with none left, the shared slot, where
 * atomic adds keep the counters right.
 */

ngx_int_t
ngx_http_pubsub_metrics_init_process(ngx_cycle_t *cycle)
{
    u_char                               *slot;
    ngx_pid_t                             pid;
    ngx_uint_t                            i, pass;
    ngx_http_pubsub_metrics_sh_t         *sh;
    ngx_http_pubsub_metrics_slot_t       *s;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_pubsub_metrics_module);
    if (pmcf == NULL || pmcf->sh == NULL || pmcf->series.nelts == 0) {
        return NGX_OK;
    }

    sh = pmcf->sh;

    ngx_http_pubsub_metrics_own = ngx_pcalloc(cycle->pool, sh->nseries
                                                * sizeof(ngx_atomic_int_t));
    if (ngx_http_pubsub_metrics_own == NULL) {
        return NGX_ERROR;
    }

    slot = NULL;

    for (pass = 0; pass < 2 && slot == NULL; pass++) {

        for (i = 0; i < sh->nslots; i++) {
            s = (ngx_http_pubsub_metrics_slot_t *)
                    (sh->slots + i * sh->slot_size);
            pid = (ngx_pid_t) s->pid;

            if (pass == 0) {
                /* our pid in a slot: a dead worker's, reused */
                if (pid == 0
                    || (pid != ngx_pid && ngx_http_pubsub_metrics_alive(pid)))
                {
                    continue;
                }

            } else if (pid != 0) {
                continue;
            }

            if (ngx_atomic_cmp_set(&s->pid, (ngx_atomic_uint_t) pid,
                                   (ngx_atomic_uint_t) ngx_pid))
            {
                slot = (u_char *) s;

                if (pass == 0) {
                    ngx_http_pubsub_metrics_reset(pmcf, slot);
                }

                break;
            }
        }
    }

    ngx_http_pubsub_metrics_shared = (slot == NULL);

    if (slot == NULL) {
        slot = sh->slots + sh->nslots * sh->slot_size;

        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "pubsub: all %ui metrics slots are taken, this "
                      "worker shares one", sh->nslots);
    }

    ngx_http_pubsub_metrics_conf = pmcf;
    ngx_http_pubsub_metrics_slot = slot;
    ngx_http_pubsub_metrics_values = ngx_http_pubsub_metrics_values_of(slot);
    ngx_http_pubsub_metrics_n = sh->nseries;

    return NGX_OK;
}


/*
 * A clean exit: the gauges go back to what they were without this worker
 * (connections it still held, its Kafka state) and its slot is free for
 * another one, with the counters.
 */

void
ngx_http_pubsub_metrics_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                       i;
    ngx_http_pubsub_metric_t        *s;
    ngx_http_pubsub_metrics_slot_t  *slot;

    if (ngx_http_pubsub_metrics_n == 0) {
        return;
    }

    if (!ngx_http_pubsub_metrics_shared) {
        ngx_http_pubsub_metrics_reset(ngx_http_pubsub_metrics_conf,
                                      ngx_http_pubsub_metrics_slot);

        ngx_memory_barrier();

        slot = (ngx_http_pubsub_metrics_slot_t *) ngx_http_pubsub_metrics_slot;
        slot->pid = 0;

    } else {
        s = ngx_http_pubsub_metrics_conf->series.elts;

        for (i = 0; i < ngx_http_pubsub_metrics_n; i++) {
            if (s[i].type == NGX_HTTP_PUBSUB_METRIC_GAUGE) {
                (void) ngx_atomic_fetch_add(
                                      &ngx_http_pubsub_metrics_values[i],
                                      -ngx_http_pubsub_metrics_own[i]);
            }
        }
    }

    ngx_http_pubsub_metrics_n = 0;
    ngx_http_pubsub_metrics_values = NULL;
}


/* a slot's gauges to 0 and its lists emptied; its counters stay */

static void
ngx_http_pubsub_metrics_reset(ngx_http_pubsub_metrics_main_conf_t *pmcf,
    u_char *slot)
{
    ngx_uint_t                            i;
    ngx_atomic_t                         *values;
    ngx_http_pubsub_metric_t             *s;
    ngx_http_pubsub_metrics_list_t       *list;
    ngx_http_pubsub_metrics_top_conf_t   *tc;

    s = pmcf->series.elts;
    values = ngx_http_pubsub_metrics_values_of(slot);

    for (i = 0; i < pmcf->series.nelts; i++) {
        if (s[i].type == NGX_HTTP_PUBSUB_METRIC_GAUGE) {
            values[i] = 0;
        }
    }

    tc = pmcf->tops.elts;

    for (i = 0; i < pmcf->tops.nelts; i++) {
        list = (ngx_http_pubsub_metrics_list_t *) (slot + tc[i].offset);

        (void) ngx_atomic_fetch_add(&list->lock, 1);
        list->n = 0;
        (void) ngx_atomic_fetch_add(&list->lock, 1);
    }
}


static ngx_uint_t
ngx_http_pubsub_metrics_alive(ngx_pid_t pid)
{
    if (pid == ngx_pid) {
        return 1;
    }

    /* EPERM: somebody else's process, alive */

    return !(kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH);
}


/*
 * This worker's entries of a top list.  The list is written between two
 * increments of its lock, so a reader that saw the same even value before
 * and after copying it got one version.
 */

void
ngx_http_pubsub_metrics_top_set(ngx_uint_t index,
    ngx_http_pubsub_metric_entry_t *entries, ngx_uint_t n)
{
    ngx_http_pubsub_metrics_list_t       *list;
    ngx_http_pubsub_metrics_top_conf_t   *tc;

    if (ngx_http_pubsub_metrics_n == 0 || ngx_http_pubsub_metrics_shared
        || index >= ngx_http_pubsub_metrics_conf->tops.nelts)
    {
        return;
    }

    tc = ngx_http_pubsub_metrics_conf->tops.elts;
    tc = &tc[index];

    list = (ngx_http_pubsub_metrics_list_t *)
               (ngx_http_pubsub_metrics_slot + tc->offset);

    n = ngx_min(n, tc->top.size);

    (void) ngx_atomic_fetch_add(&list->lock, 1);

    ngx_memcpy(list->entries, entries,
               n * sizeof(ngx_http_pubsub_metric_entry_t));
    list->n = n;

    (void) ngx_atomic_fetch_add(&list->lock, 1);
}


/*
 * The exporter: every series summed over the slots, a dead worker's
 * gauges and lists left out; the Prometheus text format 0.0.4.
 */

ngx_int_t
ngx_http_pubsub_metrics_handler(ngx_http_request_t *r)
{
    u_char                               *p, **live;
    ngx_int_t                             rc;
    ngx_buf_t                            *b;
    ngx_uint_t                            nlive;
    ngx_chain_t                           out;
    ngx_atomic_uint_t                    *sums;
    ngx_http_pubsub_metrics_sh_t         *sh;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_pubsub_metrics_module);
    sh = pmcf->sh;

    if (sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sums = ngx_pcalloc(r->pool, (sh->nseries + 1) * sizeof(ngx_atomic_uint_t));
    live = ngx_palloc(r->pool, (sh->nslots + 1) * sizeof(u_char *));

    if (sums == NULL || live == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nlive = ngx_http_pubsub_metrics_sum(pmcf, sums, live);

    b = ngx_create_temp_buf(r->pool, pmcf->text_size + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_pubsub_metrics_series(pmcf, b->pos, sums);

    p = ngx_http_pubsub_metrics_tops(r, pmcf, p, live, nlive);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Every series summed over the workers' slots and the slot of those gone:
 * counters of every slot, gauges of live workers only.  The slots of live
 * workers go to "live"; returns how many.
 */

static ngx_uint_t
ngx_http_pubsub_metrics_sum(ngx_http_pubsub_metrics_main_conf_t *pmcf,
    ngx_atomic_uint_t *sums, u_char **live)
{
    u_char                        *slot;
    ngx_pid_t                      pid;
    ngx_uint_t                     i, j, nlive, gauges;
    ngx_atomic_t                  *values;
    ngx_http_pubsub_metric_t      *s;
    ngx_http_pubsub_metrics_sh_t  *sh;

    sh = pmcf->sh;
    s = pmcf->series.elts;
    nlive = 0;

    for (i = 0; i <= sh->nslots; i++) {
        slot = sh->slots + i * sh->slot_size;
        values = ngx_http_pubsub_metrics_values_of(slot);

        gauges = 1;

        if (i < sh->nslots) {
            pid = (ngx_pid_t) ((ngx_http_pubsub_metrics_slot_t *) slot)->pid;

            if (pid) {
                gauges = ngx_http_pubsub_metrics_alive(pid);

                if (gauges) {
                    live[nlive++] = slot;
                }
            }
        }

        for (j = 0; j < sh->nseries; j++) {
            if (gauges || s[j].type == NGX_HTTP_PUBSUB_METRIC_COUNTER) {
                sums[j] += values[j];
            }
        }
    }

    return nlive;
}


/* the series in exposition order, HELP and TYPE once per name */

static u_char *
ngx_http_pubsub_metrics_series(ngx_http_pubsub_metrics_main_conf_t *pmcf,
    u_char *p, ngx_atomic_uint_t *sums)
{
    ngx_uint_t                 j, k;
    ngx_http_pubsub_metric_t  *s, *prev;

    s = pmcf->series.elts;
    prev = NULL;

    for (k = 0; k < pmcf->sh->nseries; k++) {
        j = pmcf->order[k];

        if (prev == NULL || prev->name.len != s[j].name.len
            || ngx_strncmp(prev->name.data, s[j].name.data, s[j].name.len)
               != 0)
        {
            p = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %s\n",
                            &s[j].name, &s[j].help, &s[j].name,
                            s[j].type == NGX_HTTP_PUBSUB_METRIC_COUNTER
                            ? "counter" : "gauge");
            prev = &s[j];
        }

        p = ngx_cpymem(p, s[j].name.data, s[j].name.len);

        if (s[j].labels.len) {
            *p++ = '{';
            p = ngx_cpymem(p, s[j].labels.data, s[j].labels.len);
            *p++ = '}';
        }

        if (s[j].type == NGX_HTTP_PUBSUB_METRIC_COUNTER) {
            p = ngx_sprintf(p, " %uA\n", sums[j]);

        } else {
            p = ngx_sprintf(p, " %A\n", (ngx_atomic_int_t) sums[j]);
        }
    }

    return p;
}


/*
 * The top lists: the live workers' entries, one per series (the largest
 * value when workers share one), the "size" largest, largest first.
 */

static u_char *
ngx_http_pubsub_metrics_tops(ngx_http_request_t *r,
    ngx_http_pubsub_metrics_main_conf_t *pmcf, u_char *p, u_char **live,
    ngx_uint_t nlive)
{
    ngx_uint_t                            i, j, n, m, size;
    ngx_http_pubsub_metric_top_t         *top;
    ngx_http_pubsub_metric_entry_t       *e, *all;
    ngx_http_pubsub_metrics_list_t       *list;
    ngx_http_pubsub_metrics_top_conf_t   *tc;

    tc = pmcf->tops.elts;

    for (i = 0; i < pmcf->tops.nelts; i++) {
        top = &tc[i].top;
        size = top->size;

        p = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V gauge\n",
                        &top->name, &top->help, &top->name);

        if (nlive == 0) {
            continue;
        }

        all = ngx_palloc(r->pool, nlive * size
                                  * sizeof(ngx_http_pubsub_metric_entry_t));
        if (all == NULL) {
            return NULL;
        }

        n = 0;

        for (j = 0; j < nlive; j++) {
            list = (ngx_http_pubsub_metrics_list_t *)
                       (live[j] + tc[i].offset);
            n += ngx_http_pubsub_metrics_read_list(list, size, &all[n]);
        }

        if (n == 0) {
            continue;
        }

        /* one entry per series, then the largest first */

        ngx_qsort(all, n, sizeof(ngx_http_pubsub_metric_entry_t),
                  ngx_http_pubsub_metrics_cmp_key);

        m = 0;

        for (j = 1; j < n; j++) {
            if (ngx_http_pubsub_metrics_cmp_key(&all[m], &all[j]) == 0) {
                all[m].value = ngx_max(all[m].value, all[j].value);
                continue;
            }

            all[++m] = all[j];
        }

        n = m + 1;

        ngx_qsort(all, n, sizeof(ngx_http_pubsub_metric_entry_t),
                  ngx_http_pubsub_metrics_cmp_value);

        n = ngx_min(n, size);

        for (j = 0; j < n; j++) {
            e = &all[j];

            p = ngx_cpymem(p, top->name.data, top->name.len);
            *p++ = '{';

            if (e->group < top->ngroups && top->groups[e->group].len) {
                p = ngx_cpymem(p, top->groups[e->group].data,
                               top->groups[e->group].len);
                *p++ = ',';
            }

            p = ngx_sprintf(p, "%V=\"", &top->key);
            p = (u_char *) ngx_http_pubsub_metrics_escape(p, e->key,
                                                          e->key_len);
            p = ngx_sprintf(p, "\",%V=\"%L\"} %L\n", &top->id, e->id,
                            e->value);
        }
    }

    return p;
}


static ngx_uint_t
ngx_http_pubsub_metrics_read_list(ngx_http_pubsub_metrics_list_t *list,
    ngx_uint_t size, ngx_http_pubsub_metric_entry_t *dst)
{
    ngx_uint_t         n, tries;
    ngx_atomic_uint_t  lock;

    for (tries = 0; tries < NGX_HTTP_PUBSUB_METRICS_TRIES; tries++) {
        lock = list->lock;

        if (lock & 1) {
            ngx_cpu_pause();
            continue;
        }

        ngx_memory_barrier();

        n = ngx_min(list->n, size);
        ngx_memcpy(dst, list->entries,
                   n * sizeof(ngx_http_pubsub_metric_entry_t));

        ngx_memory_barrier();

        if (list->lock == lock) {
            for (size = 0; size < n; size++) {
                dst[size].key_len = ngx_min(dst[size].key_len,
                                            NGX_HTTP_PUBSUB_METRIC_KEY_MAX);
            }

            return n;
        }
    }

    /* its worker writes it all the time: left out of this scrape */

    return 0;
}


static int ngx_libc_cdecl
ngx_http_pubsub_metrics_cmp_key(const void *one, const void *two)
{
    ngx_int_t                        rc;
    const ngx_http_pubsub_metric_entry_t  *a = one, *b = two;

    if (a->group != b->group) {
        return (a->group < b->group) ? -1 : 1;
    }

    if (a->id != b->id) {
        return (a->id < b->id) ? -1 : 1;
    }

    rc = ngx_memn2cmp((u_char *) a->key, (u_char *) b->key, a->key_len,
                      b->key_len);

    return (rc < 0) ? -1 : (rc > 0);
}


static int ngx_libc_cdecl
ngx_http_pubsub_metrics_cmp_value(const void *one, const void *two)
{
    const ngx_http_pubsub_metric_entry_t  *a = one, *b = two;

    if (a->value != b->value) {
        return (a->value > b->value) ? -1 : 1;
    }

    return ngx_http_pubsub_metrics_cmp_key(one, two);
}
