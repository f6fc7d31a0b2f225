
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The metrics module's registry: the series and top lists modules
 * register, the order of the exposition, and the zone.
 *
 * A worker claims a free slot, or the one of a dead worker, when it
 * starts: a dead worker's counters stay (sums never go down), its gauges
 * and lists are reset.  A clean exit resets the gauges and lists and
 * frees the slot with its counters (ngx_http_pubsub_metrics_export.c).
 * The same series give the same zone name and size, so nginx keeps the
 * zone across reloads and counters go on; other series give another
 * zone, the old one going away with the old cycle.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_metrics_zone.h"


#define NGX_HTTP_PUBSUB_METRICS_SLOTS    4      /* per worker process */


static ngx_int_t ngx_http_pubsub_metrics_taken(ngx_conf_t *cf,
    ngx_http_pubsub_metrics_main_conf_t *pmcf, ngx_str_t *name,
    ngx_uint_t type, ngx_str_t *labels);
static ngx_int_t ngx_http_pubsub_metrics_check_name(ngx_conf_t *cf,
    ngx_str_t *name, ngx_uint_t type);
static ngx_int_t ngx_http_pubsub_metrics_postconf(ngx_conf_t *cf);
static void ngx_http_pubsub_metrics_layout(
    ngx_http_pubsub_metrics_main_conf_t *pmcf);
static ngx_int_t ngx_http_pubsub_metrics_zone(ngx_conf_t *cf,
    ngx_http_pubsub_metrics_main_conf_t *pmcf);
static ngx_int_t ngx_http_pubsub_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static char *ngx_http_pubsub_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_pubsub_metrics_create_main_conf(ngx_conf_t *cf);


static ngx_command_t  ngx_http_pubsub_metrics_commands[] = {

    { ngx_string("pubsub_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_pubsub_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_pubsub_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_pubsub_metrics_postconf,      /* postconfiguration */

    ngx_http_pubsub_metrics_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_pubsub_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_pubsub_metrics_module_ctx,   /* module context */
    ngx_http_pubsub_metrics_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_pubsub_metrics_init_process,  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_pubsub_metrics_exit_process,  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_int_t
ngx_http_pubsub_metrics_add(ngx_conf_t *cf, ngx_http_pubsub_metric_t *series,
    ngx_uint_t n, ngx_uint_t *first)
{
    ngx_uint_t                            i, k;
    ngx_http_pubsub_metric_t             *s, *m;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_pubsub_metrics_module);
    s = pmcf->series.elts;

    /* the same series again: the same indexes */

    for (i = 0; i + n <= pmcf->series.nelts; i++) {

        for (k = 0; k < n; k++) {
            if (!ngx_http_pubsub_metrics_same(&s[i + k].name, &series[k].name)
                || !ngx_http_pubsub_metrics_same(&s[i + k].labels,
                                                 &series[k].labels))
            {
                break;
            }
        }

        if (k == n) {
            *first = i;
            return NGX_OK;
        }
    }

    for (k = 0; k < n; k++) {
        if (ngx_http_pubsub_metrics_taken(cf, pmcf, &series[k].name,
                                          series[k].type, &series[k].labels)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    *first = pmcf->series.nelts;

    m = ngx_array_push_n(&pmcf->series, n);
    if (m == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(m, series, n * sizeof(ngx_http_pubsub_metric_t));

    return NGX_OK;
}


/* handler(cf, data) runs once every location is merged, before sizing */

ngx_int_t
ngx_http_pubsub_metrics_add_late(ngx_conf_t *cf,
    ngx_http_pubsub_metrics_late_pt handler, void *data)
{
    ngx_http_pubsub_metrics_late_t       *late;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_pubsub_metrics_module);

    late = ngx_array_push(&pmcf->late);
    if (late == NULL) {
        return NGX_ERROR;
    }

    late->handler = handler;
    late->data = data;

    return NGX_OK;
}


ngx_int_t
ngx_http_pubsub_metrics_add_top(ngx_conf_t *cf,
    ngx_http_pubsub_metric_top_t *top, ngx_uint_t *index)
{
    ngx_uint_t                            i;
    ngx_http_pubsub_metrics_top_conf_t   *tc;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_pubsub_metrics_module);

    if (top->size == 0
        || ngx_http_pubsub_metrics_taken(cf, pmcf, &top->name,
                                         NGX_HTTP_PUBSUB_METRIC_GAUGE, NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    tc = ngx_array_push(&pmcf->tops);
    if (tc == NULL) {
        return NGX_ERROR;
    }

    tc->top = *top;
    tc->offset = 0;
    tc->groups_len = 0;

    for (i = 0; i < top->ngroups; i++) {
        tc->groups_len = ngx_max(tc->groups_len, top->groups[i].len);
    }

    *index = pmcf->tops.nelts - 1;

    return NGX_OK;
}


/*
 * May a series of this name, type and labels be added?  Not after the
 * zone is sized, not with a bad name, not twice, not with the type or the
 * name of another family (labels NULL: a top list, a family of its own).
 */

static ngx_int_t
ngx_http_pubsub_metrics_taken(ngx_conf_t *cf,
    ngx_http_pubsub_metrics_main_conf_t *pmcf, ngx_str_t *name,
    ngx_uint_t type, ngx_str_t *labels)
{
    ngx_uint_t                            i;
    ngx_http_pubsub_metric_t             *s;
    ngx_http_pubsub_metrics_top_conf_t   *tc;

    if (pmcf->closed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "pubsub metric \"%V\" registered after the "
                           "metrics zone was sized", name);
        return NGX_ERROR;
    }

    if (ngx_http_pubsub_metrics_check_name(cf, name, type) != NGX_OK) {
        return NGX_ERROR;
    }

    s = pmcf->series.elts;

    for (i = 0; i < pmcf->series.nelts; i++) {
        if (!ngx_http_pubsub_metrics_same(&s[i].name, name)) {
            continue;
        }

        if (labels == NULL || s[i].type != type
            || ngx_http_pubsub_metrics_same(&s[i].labels, labels))
        {
            goto taken;
        }
    }

    tc = pmcf->tops.elts;

    for (i = 0; i < pmcf->tops.nelts; i++) {
        if (ngx_http_pubsub_metrics_same(&tc[i].top.name, name)) {
            goto taken;
        }
    }

    return NGX_OK;

taken:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "pubsub metric \"%V\" registered twice, or with "
                       "another type", name);
    return NGX_ERROR;
}


ngx_int_t
ngx_http_pubsub_metrics_find(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_uint_t top)
{
    ngx_uint_t                            i;
    ngx_http_pubsub_metric_t             *s;
    ngx_http_pubsub_metrics_top_conf_t   *tc;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_pubsub_metrics_module);

    if (pmcf == NULL || pmcf->zone == NULL) {
        return NGX_DECLINED;
    }

    s = pmcf->series.elts;
    tc = pmcf->tops.elts;

    for (i = 0; !top && i < pmcf->series.nelts; i++) {
        if (ngx_http_pubsub_metrics_same(&s[i].name, name)) {
            return i;
        }
    }

    for (i = 0; top && i < pmcf->tops.nelts; i++) {
        if (ngx_http_pubsub_metrics_same(&tc[i].top.name, name)) {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_uint_t
ngx_http_pubsub_metrics_same(ngx_str_t *one, ngx_str_t *two)
{
    return one->len == two->len
           && ngx_strncmp(one->data, two->data, two->len) == 0;
}


/* [a-zA-Z_:][a-zA-Z0-9_:]*, and counters end in "_total" */

static ngx_int_t
ngx_http_pubsub_metrics_check_name(ngx_conf_t *cf, ngx_str_t *name,
    ngx_uint_t type)
{
    u_char      c;
    ngx_uint_t  i, total;

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
            || c == ':' || (i && c >= '0' && c <= '9'))
        {
            continue;
        }

        break;
    }

    total = (name->len > 6
             && ngx_strncmp(name->data + name->len - 6, "_total", 6) == 0);

    if (name->len == 0 || i < name->len
        || total != (type == NGX_HTTP_PUBSUB_METRIC_COUNTER))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid pubsub metric name \"%V\": "
                           "[a-zA-Z_:][a-zA-Z0-9_:]*, ending in \"_total\" "
                           "for counters only", name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the exposition format's escapes of a label value: \\, \" and \n */

uintptr_t
ngx_http_pubsub_metrics_escape(u_char *dst, u_char *src, size_t size)
{
    u_char      c;
    ngx_uint_t  n;

    if (dst == NULL) {
        n = 0;

        while (size--) {
            c = *src++;
            n += (c == '\\' || c == '"' || c == '\n');
        }

        return (uintptr_t) n;
    }

    while (size--) {
        c = *src++;

        switch (c) {

        case '\\':
        case '"':
            *dst++ = '\\';
            *dst++ = c;
            break;

        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            break;

        default:
            *dst++ = c;
        }
    }

    return (uintptr_t) dst;
}


/*
 * After every module's preconfiguration and every merge: the late series,
 * the order of the exposition, and the zone, when a location exports.
 */

static ngx_int_t
ngx_http_pubsub_metrics_postconf(ngx_conf_t *cf)
{
    ngx_uint_t                            i;
    ngx_http_pubsub_metrics_late_t       *late;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_pubsub_metrics_module);

    late = pmcf->late.elts;

    for (i = 0; i < pmcf->late.nelts; i++) {
        if (late[i].handler(cf, late[i].data) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    pmcf->closed = 1;

    pmcf->order = ngx_palloc(cf->pool,
                             (pmcf->series.nelts + 1) * sizeof(ngx_uint_t));
    if (pmcf->order == NULL) {
        return NGX_ERROR;
    }

    ngx_http_pubsub_metrics_layout(pmcf);

    if (!pmcf->enabled) {
        return NGX_OK;
    }

    return ngx_http_pubsub_metrics_zone(cf, pmcf);
}


/* the series grouped by family, and the size of the exposition at most */

static void
ngx_http_pubsub_metrics_layout(ngx_http_pubsub_metrics_main_conf_t *pmcf)
{
    size_t                                size;
    ngx_uint_t                            i, j, n, *placed;
    ngx_http_pubsub_metric_t             *s;
    ngx_http_pubsub_metrics_top_conf_t   *tc;

    s = pmcf->series.elts;
    n = 0;
    size = 0;

    for (i = 0; i < pmcf->series.nelts; i++) {

        for (j = 0; j < n; j++) {
            placed = &pmcf->order[j];

            if (ngx_http_pubsub_metrics_same(&s[*placed].name, &s[i].name)) {
                break;
            }
        }

        if (j < n) {
            continue;
        }

        /* a new family: its help, its type and all its series */

        size += sizeof("# HELP  \n# TYPE  counter\n") - 1
                + 2 * s[i].name.len + s[i].help.len;

        for (j = i; j < pmcf->series.nelts; j++) {
            if (ngx_http_pubsub_metrics_same(&s[j].name, &s[i].name)) {
                pmcf->order[n++] = j;
                size += s[j].name.len + sizeof("{} \n") - 1
                        + s[j].labels.len + NGX_ATOMIC_T_LEN;
            }
        }
    }

    tc = pmcf->tops.elts;

    for (i = 0; i < pmcf->tops.nelts; i++) {
        size += sizeof("# HELP  \n# TYPE  gauge\n") - 1
                + 2 * tc[i].top.name.len + tc[i].top.help.len
                + tc[i].top.size
                  * (tc[i].top.name.len + sizeof("{,=\"\",=\"\"} \n") - 1
                     + tc[i].groups_len + tc[i].top.key.len
                     + 2 * NGX_HTTP_PUBSUB_METRIC_KEY_MAX
                     + tc[i].top.id.len + 2 * NGX_INT64_LEN);
    }

    pmcf->text_size = size;
}


/*
 * The zone: its name says which series it holds, so a reload with the
 * same ones finds the same zone (nginx reuses a zone of the same name and
 * size) and one with others gets a new zone, the old one going with the
 * old cycle.
 */

static ngx_int_t
ngx_http_pubsub_metrics_zone(ngx_conf_t *cf,
    ngx_http_pubsub_metrics_main_conf_t *pmcf)
{
    size_t                                slot, size;
    uint32_t                              crc;
    ngx_str_t                             name;
    ngx_int_t                             workers;
    ngx_uint_t                            i, j;
    ngx_core_conf_t                      *ccf;
    ngx_http_pubsub_metric_t             *s;
    ngx_http_pubsub_metrics_top_conf_t   *tc;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    /* worker_processes after the http block is not known yet: 1 */

    workers = ccf->worker_processes;

    if (workers == NGX_CONF_UNSET || workers < 1) {
        workers = 1;
    }

    pmcf->nslots = NGX_HTTP_PUBSUB_METRICS_SLOTS * workers;

    s = pmcf->series.elts;
    tc = pmcf->tops.elts;

    slot = sizeof(ngx_http_pubsub_metrics_slot_t)
           + pmcf->series.nelts * sizeof(ngx_atomic_t);

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) &pmcf->nslots, sizeof(ngx_uint_t));

    for (i = 0; i < pmcf->series.nelts; i++) {
        ngx_crc32_update(&crc, (u_char *) &s[i].type, sizeof(ngx_uint_t));
        ngx_crc32_update(&crc, s[i].name.data, s[i].name.len);
        ngx_crc32_update(&crc, (u_char *) "{", 1);
        ngx_crc32_update(&crc, s[i].labels.data, s[i].labels.len);
        ngx_crc32_update(&crc, (u_char *) "}", 1);
    }

    for (i = 0; i < pmcf->tops.nelts; i++) {
        slot = ngx_align(slot, sizeof(ngx_atomic_t));
        tc[i].offset = slot;
        slot += offsetof(ngx_http_pubsub_metrics_list_t, entries)
                + tc[i].top.size * sizeof(ngx_http_pubsub_metric_entry_t);

        ngx_crc32_update(&crc, (u_char *) &tc[i].top.size,
                         sizeof(ngx_uint_t));
        ngx_crc32_update(&crc, tc[i].top.name.data, tc[i].top.name.len);

        for (j = 0; j < tc[i].top.ngroups; j++) {
            ngx_crc32_update(&crc, (u_char *) "{", 1);
            ngx_crc32_update(&crc, tc[i].top.groups[j].data,
                             tc[i].top.groups[j].len);
        }
    }

    ngx_crc32_final(crc);

    pmcf->slot_size = ngx_align(slot, NGX_HTTP_PUBSUB_METRICS_ALIGN);

    name.data = ngx_pnalloc(cf->pool, sizeof("pubsub_metrics_12345678") - 1);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_sprintf(name.data, "pubsub_metrics_%08xD", crc)
               - name.data;

    /* the header, the slots, and the slab allocator's own pages */

    size = ngx_align(sizeof(ngx_http_pubsub_metrics_sh_t),
                     NGX_HTTP_PUBSUB_METRICS_ALIGN)
           + NGX_HTTP_PUBSUB_METRICS_ALIGN
           + (pmcf->nslots + 1) * pmcf->slot_size;

    size = ngx_align(size, ngx_pagesize);
    size += 8 * ngx_pagesize + size / ngx_pagesize * 64;

    pmcf->zone = ngx_shared_memory_add(cf, &name, size,
                                       &ngx_http_pubsub_metrics_module);
    if (pmcf->zone == NULL) {
        return NGX_ERROR;
    }

    if (pmcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"%V\" is already used",
                           &name);
        return NGX_ERROR;
    }

    pmcf->zone->init = ngx_http_pubsub_metrics_init_zone;
    pmcf->zone->data = pmcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_pubsub_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_pubsub_metrics_main_conf_t *opmcf = data;

    size_t                                size;
    ngx_slab_pool_t                      *shpool;
    ngx_http_pubsub_metrics_sh_t         *sh;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    pmcf = shm_zone->data;

    if (ngx_process == NGX_PROCESS_SINGLE) {
        /*
         * without a master, init_process does not run again: this
         * process stops counting at a reload
         */
        ngx_http_pubsub_metrics_n = 0;
        ngx_http_pubsub_metrics_values = NULL;
    }

    if (opmcf) {
        /* a reload with the same series: the counters go on */
        pmcf->sh = opmcf->sh;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    size = ngx_align(sizeof(ngx_http_pubsub_metrics_sh_t),
                     NGX_HTTP_PUBSUB_METRICS_ALIGN)
           + NGX_HTTP_PUBSUB_METRICS_ALIGN
           + (pmcf->nslots + 1) * pmcf->slot_size;

    sh = ngx_slab_calloc(shpool, size);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;

    sh->nslots = pmcf->nslots;
    sh->nseries = pmcf->series.nelts;
    sh->slot_size = pmcf->slot_size;
    sh->slots = ngx_align_ptr((u_char *) sh
                              + sizeof(ngx_http_pubsub_metrics_sh_t),
                              NGX_HTTP_PUBSUB_METRICS_ALIGN);

    pmcf->sh = sh;

    return NGX_OK;
}


static char *
ngx_http_pubsub_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t             *clcf;
    ngx_http_pubsub_metrics_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_pubsub_metrics_module);
    pmcf->enabled = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_pubsub_metrics_handler;

    return NGX_CONF_OK;
}


static void *
ngx_http_pubsub_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_pubsub_metrics_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_pubsub_metrics_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->order = NULL;
     *     conf->zone = NULL;
     *     conf->sh = NULL;
     *     conf->enabled = 0;
     *     conf->closed = 0;
     */

    if (ngx_array_init(&conf->series, cf->pool, 64,
                       sizeof(ngx_http_pubsub_metric_t))
        != NGX_OK
        || ngx_array_init(&conf->tops, cf->pool, 1,
                          sizeof(ngx_http_pubsub_metrics_top_conf_t))
           != NGX_OK
        || ngx_array_init(&conf->late, cf->pool, 2,
                          sizeof(ngx_http_pubsub_metrics_late_t))
           != NGX_OK)
    {
        return NULL;
    }

    return conf;
}
