
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"


#define BENCH_MAX_PROPS        32


static int            bench_verbose;
static bench_watch_t  bench_watches[BENCH_MAX_WATCH];
static int            bench_nwatches;
static double         bench_busy_start;
static double         bench_busy_used;
static bench_prop_t   bench_properties[BENCH_MAX_PROPS];
static int            bench_nproperties;


int64_t
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


void
bench_fatal(const char *fmt, ...)
{
    va_list  args;

    fflush(stdout);
    fputs("pubsub-bench: ", stderr);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fputc('\n', stderr);

    exit(1);
}


void
bench_set_verbose(int v)
{
    bench_verbose = v;
}


/* progress, on stderr */

void
bench_log(const char *fmt, ...)
{
    va_list  args;

    if (!bench_verbose) {
        return;
    }

    fputs("pubsub-bench: ", stderr);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fputc('\n', stderr);
}


void *
bench_calloc(size_t n, size_t size)
{
    void  *p;

    p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        bench_fatal("out of memory");
    }

    return p;
}


/* message values */

static const char  bench_hex[] = "0123456789abcdef";


static u_char *
bench_put_hex(u_char *p, uint64_t v, int digits)
{
    int  i;

    for (i = digits - 1; i >= 0; i--) {
        p[i] = bench_hex[v & 0xf];
        v >>= 4;
    }

    return p + digits;
}


static int
bench_get_hex(const u_char *p, int digits, uint64_t *v)
{
    int       i, d;
    uint64_t  x;

    x = 0;

    for (i = 0; i < digits; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            d = p[i] - '0';

        } else if (p[i] >= 'a' && p[i] <= 'f') {
            d = p[i] - 'a' + 10;

        } else {
            return -1;
        }

        x = x << 4 | d;
    }

    *v = x;

    return 0;
}


/* writes a value of size bytes (at least BENCH_VALUE_MIN) to buf */

size_t
bench_value(u_char *buf, size_t size, int64_t t, int32_t part, int64_t seq)
{
    u_char  *p;

    p = buf;

    *p++ = 'T';
    p = bench_put_hex(p, (uint64_t) t, 16);
    *p++ = ' ';
    *p++ = 'P';
    p = bench_put_hex(p, (uint32_t) part, 8);
    *p++ = ' ';
    *p++ = 'S';
    p = bench_put_hex(p, (uint64_t) seq, 12);
    *p++ = ' ';

    memset(p, '.', size - (p - buf));

    return size;
}


int
bench_value_parse(const u_char *p, size_t len, int64_t *t, int32_t *part,
    int64_t *seq)
{
    uint64_t  v;

    if (len < BENCH_VALUE_HEADER || p[0] != 'T' || p[17] != ' '
        || p[18] != 'P' || p[27] != ' ' || p[28] != 'S' || p[41] != ' ')
    {
        return -1;
    }

    if (bench_get_hex(p + 1, 16, &v) != 0) {
        return -1;
    }

    *t = (int64_t) v;

    if (bench_get_hex(p + 19, 8, &v) != 0) {
        return -1;
    }

    *part = (int32_t) v;

    if (bench_get_hex(p + 29, 12, &v) != 0) {
        return -1;
    }

    *seq = (int64_t) v;

    return 0;
}


/* latency histogram */

void
bench_hist_init(bench_hist_t *h)
{
    memset(h, 0, sizeof(bench_hist_t));
    h->bucket = bench_calloc(BENCH_HIST_BUCKETS, sizeof(uint32_t));
}


void
bench_hist_free(bench_hist_t *h)
{
    free(h->bucket);
    memset(h, 0, sizeof(bench_hist_t));
}


void
bench_hist_add(bench_hist_t *h, int64_t us)
{
    int64_t  i;

    if (us < 0) {
        us = 0;
    }

    i = us / BENCH_HIST_STEP;

    if (i >= BENCH_HIST_BUCKETS) {
        i = BENCH_HIST_BUCKETS - 1;
    }

    h->bucket[i]++;
    h->count++;
    h->sum += (double) us;

    if (us > h->max) {
        h->max = us;
    }
}


/* the pct percentile in ms: the upper edge of its bucket */

double
bench_hist_ms(bench_hist_t *h, double pct)
{
    int64_t   i;
    uint64_t  want, seen;

    if (h->count == 0) {
        return 0;
    }

    want = (uint64_t) ceil(h->count * pct / 100.0);
    if (want == 0) {
        want = 1;
    }

    seen = 0;

    for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->bucket[i];

        if (seen >= want) {
            return (double) ((i + 1) * BENCH_HIST_STEP) / 1000.0;
        }
    }

    return (double) h->max / 1000.0;
}


/* /proc */

double
bench_proc_cpu(pid_t pid)
{
    int            i;
    char           path[64], buf[2048], *p;
    FILE          *f;
    unsigned long  utime, stime;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    p = fgets(buf, sizeof(buf), f);
    fclose(f);

    if (p == NULL) {
        return -1;
    }

    /* the command name may hold spaces: count fields after its ")" */

    p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }

    for (i = 0; i < 12 && p; i++) {
        p = strchr(p + 1, ' ');
    }

    if (p == NULL || sscanf(p, " %lu %lu", &utime, &stime) != 2) {
        return -1;
    }

    return (double) (utime + stime) / sysconf(_SC_CLK_TCK);
}


long
bench_proc_rss_kb(pid_t pid)
{
    char   path[64], line[256];
    long   kb;
    FILE  *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    kb = -1;

    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }

    fclose(f);

    return kb;
}


/* CPU seconds the whole machine spent busy since boot */

static double
bench_machine_busy(void)
{
    FILE               *f;
    unsigned long long  v[8];

    f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return -1;
    }

    memset(v, 0, sizeof(v));

    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7])
        < 4)
    {
        fclose(f);
        return -1;
    }

    fclose(f);

    /* all but idle and iowait */

    return (double) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
           / sysconf(_SC_CLK_TCK);
}


/* "name=PID" */

int
bench_watch_add(const char *spec)
{
    char           *eq, *name;
    long            pid;
    bench_watch_t  *w;

    if (bench_nwatches == BENCH_MAX_WATCH) {
        return -1;
    }

    eq = strchr(spec, '=');
    if (eq == NULL || eq == spec) {
        return -1;
    }

    pid = strtol(eq + 1, NULL, 10);
    if (pid <= 0) {
        return -1;
    }

    name = bench_calloc(eq - spec + 1, 1);
    memcpy(name, spec, eq - spec);

    w = &bench_watches[bench_nwatches++];
    w->name = name;
    w->pid = (pid_t) pid;

    return 0;
}


void
bench_watch_start(void)
{
    int  i;

    if (bench_nwatches == 0 || strcmp(bench_watches[0].name, "self") != 0)
    {
        /* our own process comes first */

        if (bench_nwatches == BENCH_MAX_WATCH) {
            bench_nwatches--;
        }

        memmove(&bench_watches[1], &bench_watches[0],
                bench_nwatches * sizeof(bench_watch_t));
        bench_watches[0].name = "self";
        bench_watches[0].pid = getpid();
        bench_nwatches++;
    }

    for (i = 0; i < bench_nwatches; i++) {
        bench_watches[i].start = bench_proc_cpu(bench_watches[i].pid);
    }

    bench_busy_start = bench_machine_busy();
}


void
bench_watch_stop(void)
{
    int     i;
    double  now;

    for (i = 0; i < bench_nwatches; i++) {
        now = bench_proc_cpu(bench_watches[i].pid);
        bench_watches[i].used = (now >= 0 && bench_watches[i].start >= 0)
                                ? now - bench_watches[i].start : -1;
    }

    now = bench_machine_busy();
    bench_busy_used = (now >= 0 && bench_busy_start >= 0)
                      ? now - bench_busy_start : -1;
}


/*
 * "cpu_NAME": CPU seconds per second of the measurement; "cpu_machine":
 * of all CPUs, busy; "cpu_others": what processes not watched took
 */

void
bench_watch_json(bench_json_t *j, double seconds)
{
    int     i;
    char    key[64];
    double  watched;

    if (seconds <= 0) {
        return;
    }

    watched = 0;

    for (i = 0; i < bench_nwatches; i++) {
        if (bench_watches[i].used < 0) {
            continue;
        }

        snprintf(key, sizeof(key), "cpu_%s", bench_watches[i].name);
        bench_json_num(j, key, bench_watches[i].used / seconds);
        watched += bench_watches[i].used;
    }

    if (bench_busy_used >= 0) {
        bench_json_num(j, "cpu_machine", bench_busy_used / seconds);
        bench_json_num(j, "cpu_others",
                       (bench_busy_used - watched) / seconds);
    }
}


/* JSON lines on stdout */

static void
bench_json_append(bench_json_t *j, const char *fmt, ...)
{
    int      n;
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(j->buf + j->len, sizeof(j->buf) - j->len, fmt, args);
    va_end(args);

    if (n < 0 || (size_t) n >= sizeof(j->buf) - j->len) {
        bench_fatal("JSON line too long");
    }

    j->len += n;
}


void
bench_json_start(bench_json_t *j, const char *scenario)
{
    j->len = 0;
    bench_json_append(j, "{\"scenario\":\"%s\"", scenario);
}


void
bench_json_str(bench_json_t *j, const char *key, const char *v)
{
    const char  *p;

    bench_json_append(j, ",\"%s\":\"", key);

    for (p = v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            bench_json_append(j, "\\%c", *p);

        } else if ((u_char) *p < 0x20) {
            bench_json_append(j, "\\u%04x", (u_char) *p);

        } else {
            bench_json_append(j, "%c", *p);
        }
    }

    bench_json_append(j, "\"");
}


void
bench_json_int(bench_json_t *j, const char *key, int64_t v)
{
    bench_json_append(j, ",\"%s\":%" PRId64, key, v);
}


void
bench_json_num(bench_json_t *j, const char *key, double v)
{
    if (isnan(v) || isinf(v)) {
        bench_json_append(j, ",\"%s\":null", key);
        return;
    }

    bench_json_append(j, ",\"%s\":%.6g", key, v);
}


void
bench_json_hist(bench_json_t *j, const char *prefix, bench_hist_t *h)
{
    char  key[64];

    snprintf(key, sizeof(key), "%s_samples", prefix);
    bench_json_int(j, key, (int64_t) h->count);

    if (h->count == 0) {
        return;
    }

    snprintf(key, sizeof(key), "%s_p50_ms", prefix);
    bench_json_num(j, key, bench_hist_ms(h, 50));
    snprintf(key, sizeof(key), "%s_p99_ms", prefix);
    bench_json_num(j, key, bench_hist_ms(h, 99));
    snprintf(key, sizeof(key), "%s_p999_ms", prefix);
    bench_json_num(j, key, bench_hist_ms(h, 99.9));
    snprintf(key, sizeof(key), "%s_max_ms", prefix);
    bench_json_num(j, key, (double) h->max / 1000.0);
    snprintf(key, sizeof(key), "%s_mean_ms", prefix);
    bench_json_num(j, key, h->sum / h->count / 1000.0);
}


void
bench_json_end(bench_json_t *j)
{
    bench_json_append(j, "}");

    fwrite(j->buf, 1, j->len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}


/* "0-31", "3", "0,2,5-7" */

int
bench_parse_partitions(const char *s, int32_t *parts, int max)
{
    int    n;
    long   a, b;
    char  *end;

    n = 0;

    while (*s) {
        errno = 0;
        a = strtol(s, &end, 10);

        if (end == s || errno || a < 0 || a > INT32_MAX) {
            return -1;
        }

        b = a;
        s = end;

        if (*s == '-') {
            s++;
            b = strtol(s, &end, 10);

            if (end == s || errno || b < a || b > INT32_MAX) {
                return -1;
            }

            s = end;
        }

        for ( /* void */ ; a <= b; a++) {
            if (n == max) {
                return -1;
            }

            parts[n++] = (int32_t) a;
        }

        if (*s == ',') {
            s++;

        } else if (*s != '\0') {
            return -1;
        }
    }

    return n;
}


/* "name=value": a librdkafka property of the producer and the consumer */

int
bench_add_prop(const char *spec)
{
    char  *eq, *name;

    eq = strchr(spec, '=');

    if (eq == NULL || eq == spec || bench_nproperties == BENCH_MAX_PROPS) {
        return -1;
    }

    name = bench_calloc(eq - spec + 1, 1);
    memcpy(name, spec, eq - spec);

    bench_properties[bench_nproperties].name = name;
    bench_properties[bench_nproperties].value = eq + 1;
    bench_nproperties++;

    return 0;
}


int
bench_nprops(void)
{
    return bench_nproperties;
}


bench_prop_t *
bench_props(void)
{
    return bench_properties;
}


/*
 * The gateway's status (pubsub_kafka_status): a blocking HTTP/1.0 GET of
 * "http://HOST:PORT/PATH", the body into buf.  0, or -1 with err set.
 */

int
bench_status_get(const char *url, int remote, char *buf, size_t size,
    char *err, size_t errlen)
{
    int               fd, rc;
    char              host[256], port[16], req[1024], *body;
    size_t            len, n;
    ssize_t           got;
    const char       *p, *colon, *slash;
    struct timeval    tv;
    struct addrinfo   hints, *res;

    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "%s: not http://HOST:PORT/PATH", url);
        return -1;
    }

    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL) {
        slash = p + strlen(p);
    }

    colon = memchr(p, ':', slash - p);

    if (colon == NULL || colon == p || (size_t) (colon - p) >= sizeof(host)
        || (size_t) (slash - colon - 1) >= sizeof(port) || slash == colon + 1)
    {
        snprintf(err, errlen, "%s: not http://HOST:PORT/PATH", url);
        return -1;
    }

    memcpy(host, p, colon - p);
    host[colon - p] = '\0';
    memcpy(port, colon + 1, slash - colon - 1);
    port[slash - colon - 1] = '\0';

    memset(&hints, 0, sizeof(struct addrinfo));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }

    if (!remote
        && (ntohl(((struct sockaddr_in *) res->ai_addr)->sin_addr.s_addr)
            >> 24) != 127)
    {
        freeaddrinfo(res);
        snprintf(err, errlen, "%s is not a loopback address (--remote "
                 "allows it)", host);
        return -1;
    }

    fd = socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0);
    if (fd == -1) {
        freeaddrinfo(res);
        snprintf(err, errlen, "socket(): %s", strerror(errno));
        return -1;
    }

    tv.tv_sec = 5;
    tv.tv_usec = 0;
    (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);

    if (rc == -1) {
        snprintf(err, errlen, "connect(%s): %s", url, strerror(errno));
        close(fd);
        return -1;
    }

    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n",
                 *slash ? slash : "/", host, port);

    if (n >= sizeof(req) || send(fd, req, n, MSG_NOSIGNAL) != (ssize_t) n) {
        snprintf(err, errlen, "%s: cannot send the request", url);
        close(fd);
        return -1;
    }

    len = 0;

    while (len + 1 < size) {
        got = recv(fd, buf + len, size - 1 - len, 0);

        if (got == -1 && errno == EINTR) {
            continue;
        }

        if (got <= 0) {
            break;
        }

        len += got;
    }

    close(fd);
    buf[len] = '\0';

    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0)
    {
        snprintf(err, errlen, "%s: no 200 answer", url);
        return -1;
    }

    body = strstr(buf, "\r\n\r\n");
    if (body == NULL) {
        snprintf(err, errlen, "%s: incomplete answer", url);
        return -1;
    }

    body += 4;
    memmove(buf, body, len - (body - buf) + 1);

    return 0;
}


/*
 * The sum over the status' Kafka clients ("clients":[{"brokers":...},...])
 * of their counter "key": its first occurrence in each client's object
 * (a client's own counters come before its partition list), or with "all"
 * every occurrence (a counter of the partitions).  -1 when none has it.
 */

int64_t
bench_status_sum(const char *body, const char *key, int all)
{
    char        pat[128];
    int64_t     sum;
    const char *p, *next, *k;
    int         found;

    snprintf(pat, sizeof(pat), "\"%s\":", key);

    sum = 0;
    found = 0;

    p = strstr(body, "{\"brokers\":");

    while (p) {
        next = strstr(p + 1, "{\"brokers\":");
        k = strstr(p, pat);

        while (k && (next == NULL || k < next)) {
            sum += strtoll(k + strlen(pat), NULL, 10);
            found = 1;
            k = all ? strstr(k + 1, pat) : NULL;
        }

        p = next;
    }

    return found ? sum : -1;
}
