
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The fake nginx runtime (see fake_nginx.c): the log, and the formats
 * nginx's logs use.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <stdio.h>

#include "fake_nginx.h"


static const char  *fake_levels[] = {
    "", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};


/* ---------------------------------------------------------------------- */
/* the log */


void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p, *last;
    size_t    n;
    va_list   args;
    u_char    line[NGX_MAX_ERROR_STR];

    last = line + sizeof(line);

    p = ngx_slprintf(line, last, "[%s] ",
                     fake_levels[level < 9 ? level : NGX_LOG_DEBUG]);

    va_start(args, fmt);
    p = ngx_vslprintf(p, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, last, " (%d)", err);
    }

    if (level != NGX_LOG_DEBUG && log->action) {
        p = ngx_slprintf(p, last, " while %s", log->action);
    }

    if (level <= NGX_LOG_CRIT) {
        fake.alerts++;
        n = ngx_min((size_t) (p - line), sizeof(fake.alert) - 1);
        ngx_memcpy(fake.alert, line, n);
        fake.alert[n] = '\0';
    }

    if (fake.verbose) {
        fprintf(stderr, "%.*s\n", (int) (p - line), line);
    }
}


void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    line[NGX_MAX_ERROR_STR];

    va_start(args, fmt);
    p = ngx_vslprintf(line, line + sizeof(line), fmt, args);
    va_end(args);

    if (fake.verbose) {
        fprintf(stderr, "[conf] %.*s\n", (int) (p - line), line);
    }
}


/* the directives are never parsed here */

char *
ngx_conf_set_size_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return NGX_CONF_ERROR;
}


char *
ngx_conf_set_msec_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return NGX_CONF_ERROR;
}


/* ---------------------------------------------------------------------- */
/* formatting: the subset of nginx's % formats that logs use */


static u_char *
fake_number(u_char *buf, u_char *last, uint64_t v, u_char zero,
    ngx_uint_t hex, ngx_uint_t width)
{
    u_char   *p;
    size_t    len;
    u_char    tmp[24];

    static const char  lower[] = "0123456789abcdef";
    static const char  upper[] = "0123456789ABCDEF";

    p = tmp + sizeof(tmp);

    do {
        if (hex == 0) {
            *--p = (u_char) ('0' + v % 10);
            v /= 10;

        } else {
            *--p = (u_char) (hex == 1 ? lower : upper)[v & 0xf];
            v >>= 4;
        }

    } while (v);

    len = (tmp + sizeof(tmp)) - p;

    while (width > len && buf < last) {
        *buf++ = zero;
        width--;
    }

    len = ngx_min(len, (size_t) (last - buf));

    return ngx_cpymem(buf, p, len);
}


static u_char *
fake_bytes(u_char *buf, u_char *last, u_char *s, size_t len, ngx_uint_t hex)
{
    size_t  i;

    static const char  lower[] = "0123456789abcdef";
    static const char  upper[] = "0123456789ABCDEF";

    if (hex == 0) {
        len = ngx_min(len, (size_t) (last - buf));
        return ngx_cpymem(buf, s, len);
    }

    for (i = 0; i < len && last - buf >= 2; i++) {
        *buf++ = (u_char) (hex == 1 ? lower : upper)[s[i] >> 4];
        *buf++ = (u_char) (hex == 1 ? lower : upper)[s[i] & 0xf];
    }

    return buf;
}


u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char                *s, zero;
    double                 f;
    size_t                 slen;
    int64_t                i64;
    uint64_t               u64, frac, scale;
    ngx_str_t             *v;
    ngx_uint_t             width, sign, hex, frac_width, n;
    ngx_msec_t             ms;
    ngx_variable_value_t  *vv;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = (u_char) *fmt++;
            continue;
        }

        fmt++;

        zero = (u_char) (*fmt == '0' ? '0' : ' ');
        width = 0;
        sign = 1;
        hex = 0;
        frac_width = 0;
        slen = (size_t) -1;
        i64 = 0;
        u64 = 0;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            switch (*fmt) {

            case 'u':
                sign = 0;
                fmt++;
                continue;

            case 'm':
                /* the widest the type prints: not worth a width here */
                fmt++;
                continue;

            case 'X':
                hex = 2;
                sign = 0;
                fmt++;
                continue;

            case 'x':
                hex = 1;
                sign = 0;
                fmt++;
                continue;

            case '.':
                fmt++;

                while (*fmt >= '0' && *fmt <= '9') {
                    frac_width = frac_width * 10 + (*fmt++ - '0');
                }

                continue;

            case '*':
                slen = va_arg(args, size_t);
                fmt++;
                continue;

            default:
                break;
            }

            break;
        }

        switch (*fmt) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            buf = fake_bytes(buf, last, v->data, v->len, hex);
            fmt++;
            continue;

        case 'v':
            vv = va_arg(args, ngx_variable_value_t *);
            buf = fake_bytes(buf, last, vv->data, vv->len, hex);
            fmt++;
            continue;

        case 's':
            s = va_arg(args, u_char *);

            if (slen == (size_t) -1) {
                slen = ngx_strlen(s);
            }

            buf = fake_bytes(buf, last, s, slen, hex);
            fmt++;
            continue;

        case 'O':
            i64 = (int64_t) va_arg(args, off_t);
            sign = 1;
            break;

        case 'P':
            i64 = (int64_t) va_arg(args, ngx_pid_t);
            sign = 1;
            break;

        case 'T':
            i64 = (int64_t) va_arg(args, time_t);
            sign = 1;
            break;

        case 'M':
            ms = (ngx_msec_t) va_arg(args, ngx_msec_t);

            if ((ngx_msec_int_t) ms == -1) {
                sign = 1;
                i64 = -1;

            } else {
                sign = 0;
                u64 = (uint64_t) ms;
            }

            break;

        case 'z':
            if (sign) {
                i64 = (int64_t) va_arg(args, ssize_t);
            } else {
                u64 = (uint64_t) va_arg(args, size_t);
            }

            break;

        case 'i':
            if (sign) {
                i64 = (int64_t) va_arg(args, ngx_int_t);
            } else {
                u64 = (uint64_t) va_arg(args, ngx_uint_t);
            }

            break;

        case 'd':
            if (sign) {
                i64 = (int64_t) va_arg(args, int);
            } else {
                u64 = (uint64_t) va_arg(args, u_int);
            }

            break;

        case 'l':
            if (sign) {
                i64 = (int64_t) va_arg(args, long);
            } else {
                u64 = (uint64_t) va_arg(args, u_long);
            }

            break;

        case 'D':
            if (sign) {
                i64 = (int64_t) va_arg(args, int32_t);
            } else {
                u64 = (uint64_t) va_arg(args, uint32_t);
            }

            break;

        case 'L':
            if (sign) {
                i64 = va_arg(args, int64_t);
            } else {
                u64 = va_arg(args, uint64_t);
            }

            break;

        case 'A':
            if (sign) {
                i64 = (int64_t) va_arg(args, ngx_atomic_int_t);
            } else {
                u64 = (uint64_t) va_arg(args, ngx_atomic_uint_t);
            }

            break;

        case 'r':
            i64 = (int64_t) va_arg(args, rlim_t);
            sign = 1;
            break;

        case 'f':
            f = va_arg(args, double);

            if (f < 0) {
                *buf++ = '-';
                f = -f;
            }

            if (!(f < 9.2e18)) {
                f = 9.2e18;
            }

            u64 = (uint64_t) f;
            frac = 0;

            if (frac_width) {
                frac_width = ngx_min(frac_width, 15);

                for (scale = 1, n = 0; n < frac_width; n++) {
                    scale *= 10;
                }

                frac = (uint64_t) ((f - (double) u64) * (double) scale + 0.5);

                if (frac >= scale) {
                    u64++;
                    frac = 0;
                }
            }

            buf = fake_number(buf, last, u64, zero, 0, width);

            if (frac_width && buf < last) {
                *buf++ = '.';
                buf = fake_number(buf, last, frac, '0', 0, frac_width);
            }

            fmt++;
            continue;

        case 'p':
            u64 = (uint64_t) (uintptr_t) va_arg(args, void *);
            buf = fake_number(buf, last, u64, '0', 2, 2 * sizeof(void *));
            fmt++;
            continue;

        case 'c':
            *buf++ = (u_char) (va_arg(args, int) & 0xff);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = LF;
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        case '\0':
            continue;

        default:
            *buf++ = (u_char) *fmt++;
            continue;
        }

        if (sign) {
            if (i64 < 0) {
                *buf++ = '-';
                u64 = 0 - (uint64_t) i64;

            } else {
                u64 = (uint64_t) i64;
            }
        }

        if (buf < last) {
            buf = fake_number(buf, last, u64, zero, hex, width);
        }

        fmt++;
    }

    return buf;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}
