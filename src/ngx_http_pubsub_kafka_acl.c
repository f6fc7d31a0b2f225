
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Which topics a connection may read and write and which groups it may
 * use: pubsub_kafka_read, pubsub_kafka_write and pubsub_kafka_groups,
 * patterns whose variables are evaluated once, at the upgrade; every
 * command naming a topic or a group is checked, before Kafka is asked
 * anything, and each (connection, name) is decided once.  It asks Kafka
 * nothing, so a refusal tells nothing of what exists.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


#define NGX_HTTP_PUBSUB_KAFKA_LITERAL    0
#define NGX_HTTP_PUBSUB_KAFKA_PREFIX     1
#define NGX_HTTP_PUBSUB_KAFKA_REGEX      2

/* names decided per connection and kept; beyond, the oldest goes */
#define NGX_HTTP_PUBSUB_KAFKA_DECIDED    8


typedef struct {
    ngx_str_t                            text;
    ngx_uint_t                           kind;
#if (NGX_PCRE)
    ngx_regex_t                         *regex;
#endif
} ngx_http_pubsub_kafka_pattern_t;


typedef struct {
    u_char                               name[NGX_HTTP_PUBSUB_KAFKA_GROUP_MAX
                                              + 1];
    size_t                               len;
    ngx_uint_t                           list;
    ngx_uint_t                           allowed;
} ngx_http_pubsub_kafka_decided_t;


/*
 * a connection's patterns, and what it decided, kept from its first
 * command on: an idle connection has no room for it
 */

typedef struct {
    ngx_array_t                          patterns[3];   /* read, write,
                                                            groups */
    ngx_uint_t                           next;
    ngx_http_pubsub_kafka_decided_t     *decided;
} ngx_http_pubsub_kafka_rights_t;


static ngx_int_t ngx_http_pubsub_kafka_acl_pattern(ngx_conf_t *cf,
    ngx_array_t *a, ngx_str_t *text, ngx_uint_t dynamic);
static ngx_int_t ngx_http_pubsub_kafka_acl_value(ngx_http_request_t *r,
    ngx_array_t *a, ngx_str_t *value);
static ngx_uint_t ngx_http_pubsub_kafka_acl_match(ngx_array_t *patterns,
    ngx_str_t *name, ngx_uint_t topic);


/*
 * pubsub_kafka_read, pubsub_kafka_write, pubsub_kafka_groups PATTERN ...:
 * a literal name, a prefix ending in "*", or "~REGEX"; an argument with
 * variables is evaluated at the upgrade into literals and prefixes.
 */

char *
ngx_http_pubsub_kafka_acl_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_pubsub_kafka_acl_t       *acl;
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    acl = (ngx_http_pubsub_kafka_acl_t *) (p + cmd->offset);

    if (acl->set) {
        return "is duplicate";
    }

    acl->set = 1;

    if (ngx_array_init(&acl->patterns, cf->pool, 4,
                       sizeof(ngx_http_pubsub_kafka_pattern_t))
        != NGX_OK
        || ngx_array_init(&acl->values, cf->pool, 1,
                          sizeof(ngx_http_complex_value_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            return "has an empty pattern";
        }

        if (value[i].data[0] != '~'
            && ngx_http_script_variables_count(&value[i]))
        {
            cv = ngx_array_push(&acl->values);
            if (cv == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &value[i];
            ccv.complex_value = cv;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_http_pubsub_kafka_acl_pattern(cf, &acl->patterns, &value[i],
                                              0)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* a pattern of the configuration, or of a variable's value (no regex) */

static ngx_int_t
ngx_http_pubsub_kafka_acl_pattern(ngx_conf_t *cf, ngx_array_t *a,
    ngx_str_t *text, ngx_uint_t dynamic)
{
#if (NGX_PCRE)
    u_char                            errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t               rc;
#endif
    ngx_http_pubsub_kafka_pattern_t  *pt;

    pt = ngx_array_push(a);
    if (pt == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(pt, sizeof(ngx_http_pubsub_kafka_pattern_t));

    pt->text = *text;
    pt->kind = NGX_HTTP_PUBSUB_KAFKA_LITERAL;

    if (!dynamic && text->data[0] == '~') {
#if (NGX_PCRE)
        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

        rc.pattern.data = text->data + 1;
        rc.pattern.len = text->len - 1;
        rc.pool = cf->pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (ngx_regex_compile(&rc) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
            return NGX_ERROR;
        }

        pt->regex = rc.regex;
        pt->kind = NGX_HTTP_PUBSUB_KAFKA_REGEX;

        return NGX_OK;
#else
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "using regex \"%V\" requires PCRE library", text);
        return NGX_ERROR;
#endif
    }

    if (text->data[text->len - 1] == '*') {
        pt->kind = NGX_HTTP_PUBSUB_KAFKA_PREFIX;
        pt->text.len--;
    }

    return NGX_OK;
}


/*
 * The upgrade: the connection's own patterns, from the configuration's
 * and its variables' values.  A value holds patterns apart by spaces or
 * commas; it never makes a regex; empty, it allows nothing.
 */

ngx_int_t
ngx_http_pubsub_kafka_acl_init(ngx_http_pubsub_session_t *session,
    ngx_http_pubsub_kafka_session_t *ss, ngx_http_pubsub_kafka_loc_conf_t *conf)
{
    ngx_str_t                        value;
    ngx_uint_t                       i, j;
    ngx_http_pubsub_kafka_acl_t     *acl[3];
    ngx_http_complex_value_t        *cv;
    ngx_http_pubsub_kafka_rights_t  *rights;

    rights = ngx_pcalloc(session->request->pool,
                         sizeof(ngx_http_pubsub_kafka_rights_t));
    if (rights == NULL) {
        return NGX_ERROR;
    }

    acl[0] = &conf->read;
    acl[1] = &conf->write;
    acl[2] = &conf->groups;

    for (i = 0; i < 3; i++) {
        rights->patterns[i] = acl[i]->patterns;

        if (acl[i]->values.nelts == 0) {
            continue;
        }

        /* the configuration's patterns, then the values' */

        if (ngx_array_init(&rights->patterns[i], session->request->pool,
                           acl[i]->patterns.nelts + 4,
                           sizeof(ngx_http_pubsub_kafka_pattern_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (acl[i]->patterns.nelts) {
            ngx_memcpy(ngx_array_push_n(&rights->patterns[i],
                                        acl[i]->patterns.nelts),
                       acl[i]->patterns.elts,
                       acl[i]->patterns.nelts
                       * sizeof(ngx_http_pubsub_kafka_pattern_t));
        }

        cv = acl[i]->values.elts;

        for (j = 0; j < acl[i]->values.nelts; j++) {
            if (ngx_http_complex_value(session->request, &cv[j], &value)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (ngx_http_pubsub_kafka_acl_value(session->request,
                                                &rights->patterns[i], &value)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    ss->rights = rights;

    return NGX_OK;
}


static ngx_int_t
ngx_http_pubsub_kafka_acl_value(ngx_http_request_t *r, ngx_array_t *a,
    ngx_str_t *value)
{
    u_char                           *p, *last, *start;
    ngx_str_t                         text;
    ngx_http_pubsub_kafka_pattern_t  *pt;

    p = value->data;
    last = p + value->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == ',' || *p == '\t')) {
            p++;
        }

        start = p;

        while (p < last && *p != ' ' && *p != ',' && *p != '\t') {
            p++;
        }

        if (p == start) {
            break;
        }

        text.data = start;
        text.len = p - start;

        pt = ngx_array_push(a);
        if (pt == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(pt, sizeof(ngx_http_pubsub_kafka_pattern_t));

        pt->text = text;
        pt->kind = NGX_HTTP_PUBSUB_KAFKA_LITERAL;

        /* "~..." from a value is a name like any other: it matches none */

        if (text.data[text.len - 1] == '*') {
            pt->kind = NGX_HTTP_PUBSUB_KAFKA_PREFIX;
            pt->text.len--;
        }
    }

    return NGX_OK;
}


/*
 * May cmd's connection use this name (a topic for list 0 read or 1
 * write, a group for 2)?  NGX_OK, or NGX_DECLINED after the 403 answer.
 * Kafka is not asked: the answer is the same whether the topic exists.
 */

ngx_int_t
ngx_http_pubsub_kafka_allowed(ngx_http_pubsub_cmd_t *cmd, ngx_uint_t list,
    u_char *name, size_t len)
{
    ngx_str_t                         s;
    ngx_uint_t                        i, allowed;
    ngx_http_pubsub_kafka_rights_t   *rights;
    ngx_http_pubsub_kafka_decided_t  *d;
    ngx_http_pubsub_kafka_session_t  *ss;

    static const char  *what[] = { "topic", "topic", "group" };

    ss = ngx_http_pubsub_backend_data(cmd);
    rights = ss->rights;
    d = rights->decided;

    if (d == NULL) {
        /* without room the decisions are not kept: no harm */
        d = ngx_pcalloc(cmd->session->request->pool,
                        NGX_HTTP_PUBSUB_KAFKA_DECIDED
                        * sizeof(ngx_http_pubsub_kafka_decided_t));
        rights->decided = d;
    }

    for (i = 0; d && i < NGX_HTTP_PUBSUB_KAFKA_DECIDED; i++) {
        if (d[i].len == len && d[i].list == list
            && ngx_memcmp(d[i].name, name, len) == 0)
        {
            allowed = d[i].allowed;
            goto decided;
        }
    }

    s.data = name;
    s.len = len;

    allowed = ngx_http_pubsub_kafka_acl_match(&rights->patterns[list], &s,
                                              list < 2);

    if (d && len <= NGX_HTTP_PUBSUB_KAFKA_GROUP_MAX) {
        i = rights->next++ % NGX_HTTP_PUBSUB_KAFKA_DECIDED;

        ngx_memcpy(d[i].name, name, len);
        d[i].len = len;
        d[i].list = list;
        d[i].allowed = allowed;
    }

decided:

    if (allowed) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, cmd->log, 0,
                  "pubsub: %s \"%*s\" not allowed for %s, %V sequence %L",
                  what[list], len, name,
                  (list == 1) ? "writing" : (list == 0) ? "reading" : "use",
                  &cmd->command->name, cmd->sequence);

    (void) ngx_http_pubsub_send_error(cmd, NGX_HTTP_PUBSUB_FORBIDDEN,
                                      "%s \"%*s\" not allowed", what[list],
                                      len, name);
    return NGX_DECLINED;
}


/*
 * Kafka's internal topics ("__consumer_offsets") match only a pattern
 * that names them literally.
 */

static ngx_uint_t
ngx_http_pubsub_kafka_acl_match(ngx_array_t *patterns, ngx_str_t *name,
    ngx_uint_t topic)
{
    ngx_uint_t                        i, internal;
    ngx_http_pubsub_kafka_pattern_t  *pt;

    internal = topic && name->len >= 2 && name->data[0] == '_'
               && name->data[1] == '_';

    pt = patterns->elts;

    for (i = 0; i < patterns->nelts; i++) {

        switch (pt[i].kind) {

        case NGX_HTTP_PUBSUB_KAFKA_LITERAL:
            if (pt[i].text.len == name->len
                && ngx_memcmp(pt[i].text.data, name->data, name->len) == 0)
            {
                return 1;
            }

            break;

        case NGX_HTTP_PUBSUB_KAFKA_PREFIX:
            if (!internal && name->len >= pt[i].text.len
                && ngx_memcmp(pt[i].text.data, name->data, pt[i].text.len)
                   == 0)
            {
                return 1;
            }

            break;

#if (NGX_PCRE)
        default: /* NGX_HTTP_PUBSUB_KAFKA_REGEX */
            if (!internal
                && ngx_regex_exec(pt[i].regex, name, NULL, 0) >= 0)
            {
                return 1;
            }

            break;
#endif
        }
    }

    return 0;
}


/* the merge: unset lists inherit; the defaults as the README says */

char *
ngx_http_pubsub_kafka_acl_merge(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_acl_t *conf, ngx_http_pubsub_kafka_acl_t *prev,
    char *deflt)
{
    ngx_str_t  text;

    if (conf->set) {
        return NGX_CONF_OK;
    }

    if (prev->set) {
        *conf = *prev;
        return NGX_CONF_OK;
    }

    if (ngx_array_init(&conf->patterns, cf->pool, 1,
                       sizeof(ngx_http_pubsub_kafka_pattern_t))
        != NGX_OK
        || ngx_array_init(&conf->values, cf->pool, 1,
                          sizeof(ngx_http_complex_value_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (deflt) {
        text.data = (u_char *) deflt;
        text.len = ngx_strlen(deflt);

        if (ngx_http_pubsub_kafka_acl_pattern(cf, &conf->patterns, &text, 1)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* a list that can never allow anything */

ngx_uint_t
ngx_http_pubsub_kafka_acl_empty(ngx_http_pubsub_kafka_acl_t *acl)
{
    return acl->patterns.nelts == 0 && acl->values.nelts == 0;
}
