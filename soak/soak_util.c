
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The checks of pubsub-soak: streams (exactly once, in order, the same
 * bytes as Kafka), error answers (the documented codes), latency
 * histograms, a process's RSS, a plain HTTP GET.
 */


#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include "soak.h"


double
soak_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


int64_t
soak_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


uint64_t
soak_fnv(const u_char *p, size_t len)
{
    size_t    i;
    uint64_t  h;

    h = 14695981039346656037ULL;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }

    return h;
}


/* a message's share of a stream's sum: its value at its offset */

uint64_t
soak_hash(int64_t offset, uint64_t vhash)
{
    uint64_t  h;

    h = vhash ^ ((uint64_t) offset * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;

    return h;
}


void
soak_stream_init(soak_stream_t *s)
{
    memset(s, 0, sizeof(soak_stream_t));
    s->start = -1;
    s->next = -1;
    s->last = -1;
}


void
soak_stream_msg(soak_stream_t *s, int64_t offset, uint64_t vhash,
    double now)
{
    if (s->next < 0) {
        s->start = offset;
        s->next = offset;
    }

    if (s->last_at > 0 && now - s->last_at > s->stall) {
        s->stall = now - s->last_at;
    }

    s->last_at = now;

    if (offset < s->last) {
        s->disorder++;
    }

    s->last = offset;

    if (offset < s->next) {
        s->dup++;
        return;
    }

    if (offset > s->next) {
        s->lost += offset - s->next;
        s->next = offset;
    }

    s->count++;
    s->next = offset + 1;
    s->sum += soak_hash(offset, vhash);
}


/* the server says the partition goes on at "to" (a gap, or its start) */

void
soak_stream_jump(soak_stream_t *s, int64_t to)
{
    if (s->next < 0) {
        s->start = to;
        s->next = to;
        return;
    }

    if (to > s->next) {
        s->lost += to - s->next;
        s->next = to;
    }
}


/*
 * Whether the stream is exactly Kafka's [start, high): every message once,
 * in order, the same bytes.  A stream that never saw a message of an empty
 * range passes.
 */

int
soak_stream_check(soak_stream_t *s, int64_t start, soak_log_t *log)
{
    int64_t   o, next;
    uint64_t  sum;

    next = (s->next < 0) ? start : s->next;

    if (s->lost || s->dup || s->disorder || next != log->high
        || (s->start >= 0 && s->start != start))
    {
        return 0;
    }

    sum = 0;

    for (o = start; o < log->high; o++) {
        if (o < log->low) {
            return 0;
        }

        sum += soak_hash(o, log->vhash[o]);
    }

    return sum == s->sum;
}


void
soak_error_add(soak_errors_t *e, int code, const char *message,
    int documented)
{
    int            i;
    char           key[sizeof(e->err[0].message)];
    size_t         len;
    const char    *p, *r;
    soak_error_t  *err;

    e->total++;

    if (!documented) {
        e->undocumented++;
    }

    /* one entry per code and message, up to the reason's details */

    p = strstr(message, ", partition: ");
    r = strstr(message, ", err: ");
    len = p ? (size_t) (p - message) : strlen(message);

    if (len > sizeof(key) - 1) {
        len = sizeof(key) - 1;
    }

    memcpy(key, message, len);
    key[len] = '\0';

    if (p && r && r > p) {
        snprintf(key + len, sizeof(key) - len, "%s", r);
    }

    for (i = 0; i < e->n; i++) {
        err = &e->err[i];

        if (err->code == code && strcmp(err->message, key) == 0) {
            err->count++;
            return;
        }
    }

    if (e->n == SOAK_MAX_ERRORS) {
        return;
    }

    err = &e->err[e->n++];
    err->code = code;
    memcpy(err->message, key, sizeof(key));
    err->count = 1;
    err->documented = documented ? 1 : 0;
}


/* an error answer to a command of req_case */

void
soak_error_seen(soak_errors_t *e, int req_case, ErrorResp *er)
{
    soak_error_add(e, er->code, er->message,
                   soak_error_documented(req_case, er->code, er->message));
}


/*
 * README, "Protocol": APISIX's commands fail with code 0 and their
 * message (403 when access control refuses them); the extension's with
 * 400, 403, 404, 429, 503 or 504.
 */

int
soak_error_documented(int req_case, int code, const char *message)
{
    const char  *prefix;

    if (code == 403 && message[0] != '\0') {
        /* access control refuses any command so */
        return 1;
    }

    switch (req_case) {

    case PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH:
        prefix = "failed to fetch message, topic: ";
        return code == 0 && strncmp(message, prefix, strlen(prefix)) == 0
               && strstr(message, ", err: ") != NULL;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_LIST_OFFSET:
        prefix = "failed to list offset, topic: ";
        return code == 0 && strncmp(message, prefix, strlen(prefix)) == 0;

    default:
        return (code == 400 || code == 403 || code == 404 || code == 429
                || code == 503 || code == 504)
               && message[0] != '\0';
    }
}


/*
 * Latency, us: 10 us steps below 1 ms, then steps of 1% (SOAK_HIST_BUCKETS
 * of them reach beyond 10 minutes); a percentile is its bucket's top.
 */

static int
soak_hist_bucket(int64_t us)
{
    int  b;

    if (us < 1000) {
        return (us < 0) ? 0 : (int) (us / 10);
    }

    b = 100 + (int) (log((double) us / 1000) / log(1.01));

    return (b < SOAK_HIST_BUCKETS) ? b : SOAK_HIST_BUCKETS - 1;
}


static double
soak_hist_top(int b)
{
    if (b < 100) {
        return (b + 1) * 10;
    }

    return 1000 * pow(1.01, b - 99);
}


void
soak_hist_add(soak_hist_t *h, int64_t us)
{
    h->bucket[soak_hist_bucket(us)]++;
    h->count++;

    if (us > h->max) {
        h->max = us;
    }
}


/* ms */

double
soak_hist_pct(soak_hist_t *h, double pct)
{
    int       b;
    uint64_t  want, seen;

    if (h->count == 0) {
        return 0;
    }

    want = (uint64_t) (h->count * pct / 100.0);
    if (want >= h->count) {
        want = h->count - 1;
    }

    seen = 0;

    for (b = 0; b < SOAK_HIST_BUCKETS - 1; b++) {
        seen += h->bucket[b];

        if (seen > want) {
            break;
        }
    }

    return soak_hist_top(b) / 1000.0;
}


/* the resident size of a process in KiB (statm), -1 when it is gone */

long
soak_rss_kb(int pid)
{
    int    n;
    long   pages, resident;
    char   path[64];
    FILE  *f;

    snprintf(path, sizeof(path), "/proc/%d/statm", pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    n = fscanf(f, "%ld %ld", &pages, &resident);
    fclose(f);

    return (n == 2) ? resident * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}


/* a blocking GET (the status page); the body in buf, or -1 */

int
soak_http_get(const struct sockaddr_in *addr, const char *host,
    const char *path, char *buf, size_t size)
{
    int      fd, n;
    char    *body;
    size_t   len;
    ssize_t  got;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        return -1;
    }

    if (connect(fd, (struct sockaddr *) addr, sizeof(*addr)) == -1) {
        close(fd);
        return -1;
    }

    n = snprintf(buf, size, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
                 path, host);

    if (write(fd, buf, n) != n) {
        close(fd);
        return -1;
    }

    len = 0;

    while (len + 1 < size) {
        got = read(fd, buf + len, size - 1 - len);
        if (got <= 0) {
            if (got == -1 && errno == EINTR) {
                continue;
            }
            break;
        }
        len += got;
    }

    close(fd);
    buf[len] = '\0';

    body = strstr(buf, "\r\n\r\n");
    if (body == NULL || strncmp(buf, "HTTP/1.1 200", 12) != 0) {
        return -1;
    }

    memmove(buf, body + 4, strlen(body + 4) + 1);

    return 0;
}


static void
soak_json_string(FILE *f, const char *s)
{
    fputc('"', f);

    for ( /* void */ ; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fprintf(f, "\\%c", *s);

        } else if ((u_char) *s < 0x20) {
            fprintf(f, "\\u%04x", *s);

        } else {
            fputc(*s, f);
        }
    }

    fputc('"', f);
}


void
soak_json_errors(FILE *f, const char *name, soak_errors_t *e)
{
    int  i;

    fprintf(f, "\"%s\":{\"total\":%lld,\"undocumented\":%lld,\"seen\":[",
            name, (long long) e->total, (long long) e->undocumented);

    for (i = 0; i < e->n; i++) {
        fprintf(f, "%s{\"code\":%d,\"message\":", i ? "," : "",
                e->err[i].code);
        soak_json_string(f, e->err[i].message);
        fprintf(f, ",\"count\":%lld,\"documented\":%s}",
                (long long) e->err[i].count,
                e->err[i].documented ? "true" : "false");
    }

    fprintf(f, "]}");
}
