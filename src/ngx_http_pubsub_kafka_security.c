
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * TLS and SASL to Kafka: the pubsub_kafka_ssl* and pubsub_kafka_sasl*
 * directives turned into librdkafka properties at configuration time,
 * with the checks "nginx -t" can make.  Never logs a secret.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_kafka.h"


static ngx_int_t ngx_http_pubsub_kafka_add(ngx_conf_t *cf, ngx_array_t *a,
    char *key, ngx_str_t *value);
static ngx_int_t ngx_http_pubsub_kafka_read_pem(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *pem);
static ngx_uint_t ngx_http_pubsub_kafka_has(ngx_array_t *properties,
    char *key, char *value);
static ngx_int_t ngx_http_pubsub_kafka_check_key(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);
static ngx_int_t ngx_http_pubsub_kafka_check_sasl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);
static ngx_int_t ngx_http_pubsub_kafka_check_ssl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);
static ngx_int_t ngx_http_pubsub_kafka_add_ssl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_array_t *a);
static ngx_int_t ngx_http_pubsub_kafka_add_sasl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_array_t *a);


/*
 * TLS and SASL directives become librdkafka properties, added after the
 * location's own pubsub_kafka_property ones so the directives win.  They
 * are part of the cluster's key: different credentials, different client.
 * Certificates and keys are read now, as nginx reads its own, so workers
 * need no access to the files and a reload picks up new ones.
 */

char *
ngx_http_pubsub_kafka_security(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf)
{
    ngx_str_t     v;
    ngx_uint_t    i, sasl;
    ngx_array_t  *a;
    ngx_keyval_t *kv;

    sasl = conf->sasl_mechanism.len ? 1 : 0;

    if (!conf->ssl && !sasl
        && conf->ssl_trusted_certificate.len == 0
        && conf->ssl_certificate.len == 0)
    {
        return NGX_CONF_OK;
    }

    if ((sasl && ngx_http_pubsub_kafka_check_sasl(cf, conf) != NGX_OK)
        || ngx_http_pubsub_kafka_check_ssl(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
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

    if (conf->ssl && sasl) {
        ngx_str_set(&v, "sasl_ssl");

    } else if (conf->ssl) {
        ngx_str_set(&v, "ssl");

    } else {
        ngx_str_set(&v, "sasl_plaintext");
    }

    if (ngx_http_pubsub_kafka_add(cf, a, "security.protocol", &v) != NGX_OK
        || (conf->ssl && ngx_http_pubsub_kafka_add_ssl(cf, conf, a) != NGX_OK)
        || (sasl && ngx_http_pubsub_kafka_add_sasl(cf, conf, a) != NGX_OK))
    {
        return NGX_CONF_ERROR;
    }

    conf->properties = a;

    return NGX_CONF_OK;
}


/* a known mechanism, with what it cannot work without */

static ngx_int_t
ngx_http_pubsub_kafka_check_sasl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf)
{
    ngx_uint_t  i;

    static char  *mechanisms[] = {
        "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER",
        NULL
    };

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
        return NGX_ERROR;
    }

    if (i < 3
        && (conf->sasl_username.len == 0 || conf->sasl_password.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_sasl_mechanism %V\" needs "
                           "\"pubsub_kafka_sasl_username\" and "
                           "\"pubsub_kafka_sasl_password\"",
                           &conf->sasl_mechanism);
        return NGX_ERROR;
    }

    if (i == 3 && conf->sasl_kerberos_keytab.len == 0
        && !ngx_http_pubsub_kafka_has(conf->properties,
                                      "sasl.kerberos.kinit.cmd", NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_sasl_mechanism GSSAPI\" needs "
                           "\"pubsub_kafka_sasl_kerberos_keytab\" (or a "
                           "\"sasl.kerberos.kinit.cmd\" property)");
        return NGX_ERROR;
    }

    if (i == 4
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
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a certificate goes with its key, and certificates with TLS */

static ngx_int_t
ngx_http_pubsub_kafka_check_ssl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf)
{
    if ((conf->ssl_certificate.len == 0)
        != (conf->ssl_certificate_key.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"pubsub_kafka_ssl_certificate\" and "
                           "\"pubsub_kafka_ssl_certificate_key\" go "
                           "together");
        return NGX_ERROR;
    }

    if (!conf->ssl
        && (conf->ssl_trusted_certificate.len || conf->ssl_certificate.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "certificates for Kafka need "
                           "\"pubsub_kafka_ssl on\"");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* verification, the trusted CAs, and the client's certificate and key */

static ngx_int_t
ngx_http_pubsub_kafka_add_ssl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_array_t *a)
{
    ngx_str_t  verify, identify, pem;

    if (conf->ssl_verify) {
        ngx_str_set(&verify, "true");
        ngx_str_set(&identify, "https");

    } else {
        ngx_str_set(&verify, "false");
        ngx_str_set(&identify, "none");
    }

    if (ngx_http_pubsub_kafka_add(cf, a,
                                  "enable.ssl.certificate.verification",
                                  &verify)
        != NGX_OK
        || ngx_http_pubsub_kafka_add(cf, a,
                                     "ssl.endpoint.identification.algorithm",
                                     &identify)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (conf->ssl_trusted_certificate.len) {
        if (ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_trusted_certificate,
                                           &pem)
            != NGX_OK
            || ngx_http_pubsub_kafka_add(cf, a, "ssl.ca.pem", &pem) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (conf->ssl_certificate.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_certificate, &pem)
        != NGX_OK
        || ngx_http_pubsub_kafka_add(cf, a, "ssl.certificate.pem", &pem)
           != NGX_OK
        || ngx_http_pubsub_kafka_read_pem(cf, &conf->ssl_certificate_key,
                                          &pem)
           != NGX_OK
        || ngx_http_pubsub_kafka_add(cf, a, "ssl.key.pem", &pem) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_pubsub_kafka_check_key(cf, conf);
}


/* the mechanism and whichever credentials are set */

static ngx_int_t
ngx_http_pubsub_kafka_add_sasl(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_array_t *a)
{
    ngx_str_t   *v;
    ngx_uint_t   i;

    static struct {
        char       *key;
        size_t      offset;
    } props[] = {
        { "sasl.mechanisms",
          offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_mechanism) },
        { "sasl.username",
          offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_username) },
        { "sasl.password",
          offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_password) },
        { "sasl.kerberos.service.name",
          offsetof(ngx_http_pubsub_kafka_loc_conf_t,
                   sasl_kerberos_service_name) },
        { "sasl.kerberos.principal",
          offsetof(ngx_http_pubsub_kafka_loc_conf_t,
                   sasl_kerberos_principal) },
        { "sasl.kerberos.keytab",
          offsetof(ngx_http_pubsub_kafka_loc_conf_t, sasl_kerberos_keytab) }
    };

    for (i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        v = (ngx_str_t *) ((u_char *) conf + props[i].offset);

        if (v->len
            && ngx_http_pubsub_kafka_add(cf, a, props[i].key, v) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
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

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &file);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    if (ngx_file_size(&fi) > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is larger than 1m", &file);
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
