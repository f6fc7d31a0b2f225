
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The fake nginx runtime (see fake_nginx.c): memory (pools that free all
 * they hold), strings, base64, SHA-1.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <ngx_sha1.h>

#include <stdlib.h>

#include "fake_nginx.h"


typedef struct fake_chunk_s  fake_chunk_t;

struct fake_chunk_s {
    fake_chunk_t            *next;
    size_t                   size;
};


typedef struct {
    ngx_pool_t               pool;
    fake_chunk_t            *chunks;
} fake_pool_t;


/* ---------------------------------------------------------------------- */
/* memory */


static ngx_uint_t
fake_alloc_fails(void)
{
    if (!fake.alloc_armed || fake.fail_alloc_at == 0) {
        return 0;
    }

    return ++fake.allocs == fake.fail_alloc_at;
}


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    if (fake_alloc_fails()) {
        return NULL;
    }

    return malloc(size);
}


void *
ngx_calloc(size_t size, ngx_log_t *log)
{
    if (fake_alloc_fails()) {
        return NULL;
    }

    return calloc(1, size);
}


ngx_pool_t *
fake_create_pool(ngx_log_t *log)
{
    fake_pool_t  *p;

    p = calloc(1, sizeof(fake_pool_t));
    if (p == NULL) {
        fake_fatal("out of memory");
    }

    p->pool.log = log;

    return &p->pool;
}


void
fake_destroy_pool(ngx_pool_t *pool)
{
    fake_pool_t   *p;
    fake_chunk_t  *ch, *next;

    p = (fake_pool_t *) pool;

    for (ch = p->chunks; ch; ch = next) {
        next = ch->next;
        free(ch);
    }

    free(p);
}


void *
fake_palloc_nofail(ngx_pool_t *pool, size_t size)
{
    fake_pool_t   *p;
    fake_chunk_t  *ch;

    p = (fake_pool_t *) pool;

    ch = malloc(sizeof(fake_chunk_t) + size);
    if (ch == NULL) {
        fake_fatal("out of memory");
    }

    ch->next = p->chunks;
    ch->size = size;
    p->chunks = ch;

    return ch + 1;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    if (fake_alloc_fails()) {
        return NULL;
    }

    return fake_palloc_nofail(pool, size);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);

    if (p) {
        ngx_memzero(p, size);
    }

    return p;
}


ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a;

    a = ngx_palloc(p, sizeof(ngx_array_t));
    if (a == NULL) {
        return NULL;
    }

    if (ngx_array_init(a, p, n, size) != NGX_OK) {
        return NULL;
    }

    return a;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *elts;

    if (a->nelts == a->nalloc) {
        elts = ngx_palloc(a->pool, 2 * a->nalloc * a->size);
        if (elts == NULL) {
            return NULL;
        }

        ngx_memcpy(elts, a->elts, a->nelts * a->size);

        a->elts = elts;
        a->nalloc *= 2;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


void *
ngx_list_push(ngx_list_t *l)
{
    ngx_list_part_t  *part;

    part = l->last;

    if (part->nelts == l->nalloc) {

        part = ngx_palloc(l->pool, sizeof(ngx_list_part_t));
        if (part == NULL) {
            return NULL;
        }

        part->elts = ngx_palloc(l->pool, l->nalloc * l->size);
        if (part->elts == NULL) {
            return NULL;
        }

        part->nelts = 0;
        part->next = NULL;

        l->last->next = part;
        l->last = part;
    }

    return (u_char *) part->elts + l->size * part->nelts++;
}


/* ---------------------------------------------------------------------- */
/* strings */


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    ngx_uint_t  a, b;

    for ( /* void */ ; n; n--) {
        a = *s1++;
        b = *s2++;

        if (a >= 'A' && a <= 'Z') {
            a |= 0x20;
        }

        if (b >= 'A' && b <= 'Z') {
            b |= 0x20;
        }

        if (a != b) {
            return (ngx_int_t) a - (ngx_int_t) b;
        }

        if (a == 0) {
            return 0;
        }
    }

    return 0;
}


static const char  fake_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


void
ngx_encode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    u_char    *d, *s;
    size_t     len;
    uint32_t   v;

    s = src->data;
    d = dst->data;

    for (len = src->len; len >= 3; len -= 3, s += 3) {
        v = (uint32_t) s[0] << 16 | (uint32_t) s[1] << 8 | s[2];
        *d++ = fake_b64[v >> 18];
        *d++ = fake_b64[(v >> 12) & 0x3f];
        *d++ = fake_b64[(v >> 6) & 0x3f];
        *d++ = fake_b64[v & 0x3f];
    }

    if (len) {
        v = (uint32_t) s[0] << 16 | (len == 2 ? (uint32_t) s[1] << 8 : 0);
        *d++ = fake_b64[v >> 18];
        *d++ = fake_b64[(v >> 12) & 0x3f];
        *d++ = (len == 2) ? fake_b64[(v >> 6) & 0x3f] : '=';
        *d++ = '=';
    }

    dst->len = d - dst->data;
}


static ngx_int_t
fake_b64_value(u_char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


/*
 * As nginx documents it: the alphabet up to the first '=' or the end, a
 * character outside it before that is an error, as is a lone last
 * character; what follows the '=' is not looked at.
 */

ngx_int_t
ngx_decode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    u_char     *d;
    size_t      len, i;
    uint32_t    acc;
    ngx_uint_t  bits;

    for (len = 0; len < src->len && src->data[len] != '='; len++) {
        if (fake_b64_value(src->data[len]) < 0) {
            return NGX_ERROR;
        }
    }

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    d = dst->data;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        acc = (acc << 6) | (uint32_t) fake_b64_value(src->data[i]);
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (u_char) (acc >> bits);
        }
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


/* SHA-1 as FIPS 180-4 describes it */

#define fake_rol(x, n)  (((x) << (n)) | ((x) >> (32 - (n))))


static void
fake_sha1_block(ngx_sha1_t *ctx, const u_char *p)
{
    uint32_t    w[80], a, b, c, d, e, f, k, t;
    ngx_uint_t  i;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    }

    for (i = 16; i < 80; i++) {
        t = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
        w[i] = fake_rol(t, 1);
    }

    a = ctx->a;
    b = ctx->b;
    c = ctx->c;
    d = ctx->d;
    e = ctx->e;

    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;

        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;

        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;

        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }

        t = fake_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = fake_rol(b, 30);
        b = a;
        a = t;
    }

    ctx->a += a;
    ctx->b += b;
    ctx->c += c;
    ctx->d += d;
    ctx->e += e;
}


void
ngx_sha1_init(ngx_sha1_t *ctx)
{
    ctx->a = 0x67452301;
    ctx->b = 0xefcdab89;
    ctx->c = 0x98badcfe;
    ctx->d = 0x10325476;
    ctx->e = 0xc3d2e1f0;
    ctx->f = 0;
    ctx->bytes = 0;
}


void
ngx_sha1_update(ngx_sha1_t *ctx, const void *data, size_t size)
{
    size_t         used, n;
    const u_char  *p;

    p = data;
    used = (size_t) (ctx->bytes & 63);
    ctx->bytes += size;

    while (size) {
        n = ngx_min(size, 64 - used);
        ngx_memcpy(ctx->buffer + used, p, n);
        used += n;
        p += n;
        size -= n;

        if (used == 64) {
            fake_sha1_block(ctx, ctx->buffer);
            used = 0;
        }
    }
}


void
ngx_sha1_final(u_char result[20], ngx_sha1_t *ctx)
{
    size_t      used;
    uint64_t    bits;
    uint32_t    h[5];
    ngx_uint_t  i;

    bits = ctx->bytes << 3;
    used = (size_t) (ctx->bytes & 63);

    ctx->buffer[used++] = 0x80;

    if (used > 56) {
        ngx_memzero(ctx->buffer + used, 64 - used);
        fake_sha1_block(ctx, ctx->buffer);
        used = 0;
    }

    ngx_memzero(ctx->buffer + used, 56 - used);

    for (i = 0; i < 8; i++) {
        ctx->buffer[56 + i] = (u_char) (bits >> (56 - 8 * i));
    }

    fake_sha1_block(ctx, ctx->buffer);

    h[0] = ctx->a;
    h[1] = ctx->b;
    h[2] = ctx->c;
    h[3] = ctx->d;
    h[4] = ctx->e;

    for (i = 0; i < 20; i++) {
        result[i] = (u_char) (h[i / 4] >> (24 - 8 * (i % 4)));
    }

    ngx_memzero(ctx, sizeof(ngx_sha1_t));
}
