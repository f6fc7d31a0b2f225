/*
 * pubsub-kafka-mock: a stand-alone Kafka cluster for the tests of the
 * pubsub Kafka gateway module.
 *
 * It hosts librdkafka's built-in mock cluster (rdkafka_mock.h), prints the
 * cluster's bootstrap list as the first line on stdout, then executes one
 * control command per stdin line (produce test data, stop brokers, inject
 * errors, ...) and answers each with exactly one line starting with "ok" or
 * "error".  It exits with status 0 on stdin EOF, SIGTERM or SIGINT.
 *
 *   pubsub-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...
 *                     [--advertise IP]
 *
 *   ping                                       ok
 *   create TOPIC PARTITIONS                    ok
 *   produce TOPIC PART VALUE [key=K] [ts=MS] [h=NAME=VALUE]...   ok OFFSET
 *   produce_n TOPIC PART COUNT PREFIX [size=BYTES]   ok FIRST LAST
 *   produce_batch TOPIC PART COUNT PREFIX [size=BYTES]   ok FIRST LAST
 *   down ID | up ID                            ok
 *   leader TOPIC PART ID                       ok
 *   topicerr TOPIC ERR                         ok
 *   err APIKEY ERR COUNT                       ok
 *   rtt ID MS                                  ok
 *   wm TOPIC PART                              ok LOW HIGH
 *
 * VALUE and K are percent-decoded ("%20" is a space).  ERR is a number or
 * an error name without the RD_KAFKA_RESP_ERR_ prefix.  PUBSUB_MOCK_DEBUG=1
 * in the environment makes librdkafka log verbosely (to stderr); any other
 * value except "0" is used as librdkafka's "debug" context list.
 *
 * --advertise IP (a loopback address other than 127.0.0.1, e.g. 127.0.0.2)
 * makes the brokers advertise IP:PORT in the bootstrap list, Metadata and
 * FindCoordinator while they still listen on 127.0.0.1:PORT, so that a TLS
 * or SASL front listening on IP:PORT carries every client connection (the
 * mock itself speaks PLAINTEXT only).  librdkafka 2.0.2 has no API for it
 * (rd_kafka_mock_broker_set_host_port() came in 2.10): the mock takes its
 * advertised address from getsockname() after bind(), so this program
 * defines both (see mock_advertise below); the test producers inside it
 * reach the brokers at 127.0.0.1 through a connect callback.
 */


#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>


#define MOCK_TIMEOUT   5000         /* ms, for blocking librdkafka calls */
#define MOCK_WARM_UP   1000         /* ms */
#define MOCK_MAX_ARGS  10
#define MOCK_MAX_SIZE  (4 * 1024 * 1024)


typedef struct {
    int                   pending;
    rd_kafka_resp_err_t   err;
    int64_t               first;
    int64_t               last;
} mock_delivery_t;


typedef struct {
    const char           *name;
    int                   min_args;     /* including the command name */
    int                   max_args;
    void                (*handler)(int argc, char **argv);
} mock_command_t;


static volatile sig_atomic_t     mock_stop;
static mock_delivery_t           mock_dr;
static rd_kafka_t               *mock_rk;       /* hosts the mock cluster */
static rd_kafka_mock_cluster_t  *mock_mc;
static rd_kafka_t               *mock_single;   /* one message per batch */
static rd_kafka_t               *mock_bulk;     /* normal batching */
static int                       mock_brokers = 1;
static in_addr_t                 mock_advertise;  /* network order, 0: off */


/*
 * The "advertise" shim.  These definitions in the executable interpose the
 * libc functions for librdkafka (the executable's symbols come first, and
 * are exported because librdkafka.so references them); the real calls are
 * made as system calls.  In librdkafka 2.0.2 only the mock's listener code
 * calls bind() and getsockname() (rd_kafka_mock_broker_new_listener():
 * bind, then getsockname, whose answer becomes the advertised listener).
 *
 * bind() to the advertised IP (a broker coming back up re-binds its
 * advertised address) binds 127.0.0.1 instead; getsockname() of a socket
 * bound to 127.0.0.1 that is not connected (a listener) reports the
 * advertised IP.  Without --advertise both are the plain system calls.
 */

int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct sockaddr_in  sin;

    if (mock_advertise != 0 && addr != NULL && addr->sa_family == AF_INET
        && len >= (socklen_t) sizeof(sin))
    {
        memcpy(&sin, addr, sizeof(sin));

        if (sin.sin_addr.s_addr == mock_advertise) {
            sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return (int) syscall(SYS_bind, fd, &sin, sizeof(sin));
        }
    }

    return (int) syscall(SYS_bind, fd, addr, len);
}


int
getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    int                  rc, saved;
    socklen_t            plen;
    struct sockaddr_in  *sin, peer;

    rc = (int) syscall(SYS_getsockname, fd, addr, len);

    if (rc != 0 || mock_advertise == 0 || addr->sa_family != AF_INET
        || *len < (socklen_t) sizeof(struct sockaddr_in))
    {
        return rc;
    }

    sin = (struct sockaddr_in *) addr;

    if (sin->sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
        return rc;
    }

    saved = errno;
    plen = sizeof(peer);

    if (syscall(SYS_getpeername, fd, &peer, &plen) == -1
        && errno == ENOTCONN)
    {
        sin->sin_addr.s_addr = mock_advertise;
    }

    errno = saved;

    return rc;
}


/*
 * A Kafka broker disables Nagle's algorithm on the connections it accepts
 * (its SocketServer sets TCP_NODELAY); librdkafka's mock does not.  Without
 * it, a small response written while the previous one is unacknowledged
 * waits for the client's delayed ACK, 40 ms on Linux, whenever the client
 * has nothing to send meanwhile: the first Fetch after a burst of
 * ListOffsets, say.  The mock's listener is the only caller of accept().
 */

int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int  s, on, saved;

    s = (int) syscall(SYS_accept4, fd, addr, len, 0);

    if (s != -1) {
        saved = errno;
        on = 1;
        (void) setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(int));
        errno = saved;
    }

    return s;
}


/* the test producers: the advertised IP is the front, go to the mock */

static int
mock_connect_cb(int fd, const struct sockaddr *addr, int addrlen,
    const char *id, void *opaque)
{
    struct sockaddr_in  sin;

    if (addr->sa_family == AF_INET && addrlen >= (int) sizeof(sin)) {
        memcpy(&sin, addr, sizeof(sin));

        if (sin.sin_addr.s_addr == mock_advertise) {
            sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }

        addr = (struct sockaddr *) &sin;
        addrlen = sizeof(sin);
    }

    if (connect(fd, addr, addrlen) == -1 && errno != EINPROGRESS) {
        return errno;
    }

    return 0;
}


static void
mock_reply(const char *status, const char *fmt, ...)
{
    va_list  args;

    fputs(status, stdout);

    if (fmt != NULL) {
        fputc(' ', stdout);
        va_start(args, fmt);
        vfprintf(stdout, fmt, args);
        va_end(args);
    }

    fputc('\n', stdout);
    fflush(stdout);
}


static int
mock_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }

    *out = v;
    return 0;
}


static int
mock_err(const char *s, rd_kafka_resp_err_t *err)
{
    size_t                           i, n;
    int64_t                          v;
    const struct rd_kafka_err_desc  *descs;

    if (mock_int(s, -1000, 10000, &v) == 0) {
        *err = (rd_kafka_resp_err_t) v;
        return 0;
    }

    if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0) {
        s += 18;
    }

    rd_kafka_get_err_descs(&descs, &n);

    for (i = 0; i < n; i++) {
        if (descs[i].name != NULL && strcasecmp(descs[i].name, s) == 0) {
            *err = descs[i].code;
            return 0;
        }
    }

    return -1;
}


static int
mock_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* decodes "%XX" in place; a '%' without two hex digits stays as it is */

static size_t
mock_unescape(char *s)
{
    char  *d, *p;
    int    hi, lo;

    for (p = s, d = s; *p; p++) {
        if (*p == '%' && (hi = mock_hex(p[1])) >= 0
            && (lo = mock_hex(p[2])) >= 0)
        {
            *d++ = (char) (hi * 16 + lo);
            p += 2;

        } else {
            *d++ = *p;
        }
    }

    return d - s;
}


static void
mock_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    mock_delivery_t  *dr = msg->_private;

    dr->pending--;

    if (msg->err) {
        if (dr->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            dr->err = msg->err;
        }
        return;
    }

    if (dr->first < 0 || msg->offset < dr->first) {
        dr->first = msg->offset;
    }

    if (msg->offset > dr->last) {
        dr->last = msg->offset;
    }
}


static rd_kafka_t *
mock_handle(const char *bootstrap, const char *batch, const char *linger)
{
    char              errstr[512];
    const char       *debug;
    rd_kafka_t       *rk;
    rd_kafka_conf_t  *conf;

    conf = rd_kafka_conf_new();
    debug = getenv("PUBSUB_MOCK_DEBUG");

    if (debug != NULL && strcmp(debug, "0") != 0 && *debug != '\0') {
        if (strcmp(debug, "1") == 0) {
            debug = "broker,topic,msg,metadata,mock";
        }

        rd_kafka_conf_set(conf, "log_level", "7", NULL, 0);
        rd_kafka_conf_set(conf, "debug", debug, NULL, 0);

    } else {
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        rd_kafka_conf_set(conf, "log.connection.close", "false", NULL, 0);
    }

    if (bootstrap != NULL
        && (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap,
                              errstr, sizeof(errstr))
            || rd_kafka_conf_set(conf, "batch.num.messages", batch,
                                 errstr, sizeof(errstr))
            || rd_kafka_conf_set(conf, "linger.ms", linger,
                                 errstr, sizeof(errstr))
            || rd_kafka_conf_set(conf, "message.max.bytes", "8388608",
                                 errstr, sizeof(errstr))
            || rd_kafka_conf_set(conf, "message.timeout.ms", "5000",
                                 errstr, sizeof(errstr))))
    {
        fprintf(stderr, "pubsub-kafka-mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    rd_kafka_conf_set_dr_msg_cb(conf, mock_dr_cb);

    if (bootstrap != NULL && mock_advertise != 0) {
        rd_kafka_conf_set_connect_cb(conf, mock_connect_cb);
    }

    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "pubsub-kafka-mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }

    return rk;
}


/*
 * A metadata request naming the topic puts it into the producer's cache
 * (and auto-creates it), so the first message does not wait for the 1 s
 * topic scan.
 */

static void
mock_warm_up(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t                 *rkt;
    const struct rd_kafka_metadata   *md;

    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt == NULL) {
        return;
    }

    if (rd_kafka_metadata(rk, 0, rkt, &md, MOCK_WARM_UP)
        == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
        rd_kafka_metadata_destroy(md);
    }

    rd_kafka_topic_destroy(rkt);
}


static rd_kafka_resp_err_t mock_produce_headers(rd_kafka_t *rk,
    const char *topic, int32_t part, const char *val, size_t len,
    const char *key, size_t klen, int64_t ts, rd_kafka_headers_t *hdrs);


static rd_kafka_resp_err_t
mock_produce(rd_kafka_t *rk, const char *topic, int32_t part,
    const char *val, size_t len, const char *key, size_t klen, int64_t ts)
{
    return mock_produce_headers(rk, topic, part, val, len, key, klen, ts,
                                NULL);
}


/* "hdrs" (may be NULL) is taken over when the message is queued */

static rd_kafka_resp_err_t
mock_produce_headers(rd_kafka_t *rk, const char *topic, int32_t part,
    const char *val, size_t len, const char *key, size_t klen, int64_t ts,
    rd_kafka_headers_t *hdrs)
{
    rd_kafka_resp_err_t  err;

    for ( ;; ) {
        if (hdrs) {
            err = rd_kafka_producev(rk,
                      RD_KAFKA_V_TOPIC(topic),
                      RD_KAFKA_V_PARTITION(part),
                      RD_KAFKA_V_VALUE((void *) val, len),
                      RD_KAFKA_V_KEY(key, klen),
                      RD_KAFKA_V_TIMESTAMP(ts),
                      RD_KAFKA_V_HEADERS(hdrs),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_OPAQUE(&mock_dr),
                      RD_KAFKA_V_END);

        } else {
            err = rd_kafka_producev(rk,
                      RD_KAFKA_V_TOPIC(topic),
                      RD_KAFKA_V_PARTITION(part),
                      RD_KAFKA_V_VALUE((void *) val, len),
                      RD_KAFKA_V_KEY(key, klen),
                      RD_KAFKA_V_TIMESTAMP(ts),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_OPAQUE(&mock_dr),
                      RD_KAFKA_V_END);
        }

        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || mock_stop) {
            break;
        }

        rd_kafka_poll(rk, 10);
    }

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        mock_dr.pending++;
    }

    return err;
}


/* serves delivery reports until all are in; the verdict is in mock_dr */

static void
mock_wait(rd_kafka_t *rk)
{
    while (mock_dr.pending > 0 && !mock_stop) {
        rd_kafka_poll(rk, 100);
    }

    if (mock_dr.pending > 0 && mock_dr.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        mock_dr.err = RD_KAFKA_RESP_ERR__DESTROY;
    }
}


static void
mock_reset(void)
{
    mock_dr.pending = 0;
    mock_dr.err = RD_KAFKA_RESP_ERR_NO_ERROR;
    mock_dr.first = -1;
    mock_dr.last = -1;
}


static void
mock_cmd_ping(int argc, char **argv)
{
    mock_reply("ok", NULL);
}


static void
mock_cmd_create(int argc, char **argv)
{
    int64_t              n;
    rd_kafka_resp_err_t  err;

    if (mock_int(argv[2], 1, 100000, &n) != 0) {
        mock_reply("error", "bad partition count");
        return;
    }

    err = rd_kafka_mock_topic_create(mock_mc, argv[1], (int) n,
                                     mock_brokers < 3 ? mock_brokers : 3);
    if (err) {
        mock_reply("error", "%s", rd_kafka_err2str(err));
        return;
    }

    mock_reply("ok", NULL);
}


static void
mock_cmd_produce(int argc, char **argv)
{
    int                  i;
    char                *key, *name, *value;
    size_t               len, klen, vlen;
    int64_t              part, ts;
    rd_kafka_headers_t  *hdrs;
    rd_kafka_resp_err_t  err;

    key = NULL;
    klen = 0;
    ts = 0;
    hdrs = NULL;

    if (mock_int(argv[2], 0, INT32_MAX, &part) != 0) {
        mock_reply("error", "bad partition");
        return;
    }

    for (i = 4; i < argc; i++) {
        if (strncmp(argv[i], "key=", 4) == 0) {
            key = argv[i] + 4;
            klen = mock_unescape(key);

        } else if (strncmp(argv[i], "h=", 2) == 0
                   && (value = strchr(argv[i] + 2, '=')) != NULL)
        {
            /* h=NAME=VALUE: a header, both percent-decoded */
            name = argv[i] + 2;
            *value++ = '\0';
            (void) mock_unescape(name);
            vlen = mock_unescape(value);

            if (hdrs == NULL) {
                hdrs = rd_kafka_headers_new(4);
            }

            (void) rd_kafka_header_add(hdrs, name, -1, value, (ssize_t) vlen);

        } else if (strncmp(argv[i], "ts=", 3) != 0
                   || mock_int(argv[i] + 3, 0, INT64_MAX, &ts) != 0)
        {
            if (hdrs) {
                rd_kafka_headers_destroy(hdrs);
            }

            mock_reply("error", "bad option \"%s\"", argv[i]);
            return;
        }
    }

    len = mock_unescape(argv[3]);

    mock_reset();
    mock_warm_up(mock_single, argv[1]);

    err = mock_produce_headers(mock_single, argv[1], (int32_t) part, argv[3],
                               len, key, klen, ts, hdrs);
    if (err) {
        if (hdrs) {
            rd_kafka_headers_destroy(hdrs);
        }

        mock_reply("error", "%s", rd_kafka_err2str(err));
        return;
    }

    mock_wait(mock_single);

    if (mock_dr.err) {
        mock_reply("error", "%s", rd_kafka_err2str(mock_dr.err));
        return;
    }

    mock_reply("ok", "%" PRId64, mock_dr.first);
}


/* produce_n (one message per batch) and produce_batch */

static void
mock_cmd_produce_n(int argc, char **argv)
{
    int                  n;
    char                *val;
    size_t               len;
    int64_t              part, count, size, i;
    rd_kafka_t          *rk;
    rd_kafka_resp_err_t  err;

    rk = (strcmp(argv[0], "produce_n") == 0) ? mock_single : mock_bulk;
    size = 0;

    if (mock_int(argv[2], 0, INT32_MAX, &part) != 0
        || mock_int(argv[3], 1, 10000000, &count) != 0)
    {
        mock_reply("error", "bad partition or count");
        return;
    }

    if (argc == 6
        && (strncmp(argv[5], "size=", 5) != 0
            || mock_int(argv[5] + 5, 0, MOCK_MAX_SIZE, &size) != 0))
    {
        mock_reply("error", "bad option \"%s\"", argv[5]);
        return;
    }

    len = strlen(argv[4]) + 32;
    val = malloc(len > (size_t) size ? len : (size_t) size);
    if (val == NULL) {
        mock_reply("error", "out of memory");
        return;
    }

    mock_reset();
    mock_warm_up(rk, argv[1]);

    err = RD_KAFKA_RESP_ERR_NO_ERROR;

    for (i = 1; i <= count && !mock_stop; i++) {
        n = snprintf(val, len, "%s%" PRId64, argv[4], i);

        if (n < size) {
            memset(val + n, '.', size - n);
            n = size;
        }

        err = mock_produce(rk, argv[1], (int32_t) part, val, n, NULL, 0, 0);
        if (err) {
            break;
        }

        if (rk == mock_single) {
            /* the next message goes only after this one is delivered */
            mock_wait(rk);

            if (mock_dr.err) {
                break;
            }

        } else {
            rd_kafka_poll(rk, 0);
        }
    }

    free(val);
    mock_wait(rk);

    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = mock_dr.err;
    }

    if (err) {
        mock_reply("error", "%s", rd_kafka_err2str(err));
        return;
    }

    mock_reply("ok", "%" PRId64 " %" PRId64, mock_dr.first, mock_dr.last);
}


static void
mock_cmd_updown(int argc, char **argv)
{
    int64_t              id;
    rd_kafka_resp_err_t  err;

    if (mock_int(argv[1], -1, INT32_MAX, &id) != 0) {
        mock_reply("error", "bad broker id");
        return;
    }

    if (strcmp(argv[0], "down") == 0) {
        err = rd_kafka_mock_broker_set_down(mock_mc, (int32_t) id);

    } else {
        err = rd_kafka_mock_broker_set_up(mock_mc, (int32_t) id);
    }

    if (err) {
        mock_reply("error", "%s", rd_kafka_err2str(err));
        return;
    }

    mock_reply("ok", NULL);
}


static void
mock_cmd_leader(int argc, char **argv)
{
    int64_t              part, id;
    rd_kafka_resp_err_t  err;

    if (mock_int(argv[2], 0, INT32_MAX, &part) != 0
        || mock_int(argv[3], -1, INT32_MAX, &id) != 0)
    {
        mock_reply("error", "bad partition or broker id");
        return;
    }

    err = rd_kafka_mock_partition_set_leader(mock_mc, argv[1],
                                             (int32_t) part, (int32_t) id);
    if (err) {
        mock_reply("error", "%s", rd_kafka_err2str(err));
        return;
    }

    mock_reply("ok", NULL);
}


static void
mock_cmd_topicerr(int argc, char **argv)
{
    rd_kafka_resp_err_t  err;

    if (mock_err(argv[2], &err) != 0) {
        mock_reply("error", "unknown error \"%s\"", argv[2]);
        return;
    }

    rd_kafka_mock_topic_set_error(mock_mc, argv[1], err);
    mock_reply("ok", NULL);
}


static void
mock_cmd_err(int argc, char **argv)
{
    int64_t               key, count, i;
    rd_kafka_resp_err_t   err, *errs;

    if (mock_int(argv[1], 0, INT16_MAX, &key) != 0
        || mock_int(argv[3], 1, 100000, &count) != 0)
    {
        mock_reply("error", "bad api key or count");
        return;
    }

    if (mock_err(argv[2], &err) != 0) {
        mock_reply("error", "unknown error \"%s\"", argv[2]);
        return;
    }

    errs = malloc(count * sizeof(rd_kafka_resp_err_t));
    if (errs == NULL) {
        mock_reply("error", "out of memory");
        return;
    }

    for (i = 0; i < count; i++) {
        errs[i] = err;
    }

    rd_kafka_mock_push_request_errors_array(mock_mc, (int16_t) key,
                                            (size_t) count, errs);
    free(errs);

    mock_reply("ok", NULL);
}


static void
mock_cmd_rtt(int argc, char **argv)
{
    int64_t              id, ms;
    rd_kafka_resp_err_t  err;

    if (mock_int(argv[1], -1, INT32_MAX, &id) != 0
        || mock_int(argv[2], 0, 3600000, &ms) != 0)
    {
        mock_reply("error", "bad broker id or rtt");
        return;
    }

    err = rd_kafka_mock_broker_set_rtt(mock_mc, (int32_t) id, (int) ms);
    if (err) {
        mock_reply("error", "%s", rd_kafka_err2str(err));
        return;
    }

    mock_reply("ok", NULL);
}


/*
 * rd_kafka_query_watermark_offsets() of 2.0.2 ignores its timeout while the
 * partition leader is down (librdkafka issue #2588), so the watermarks are
 * asked for as the BEGINNING and END logical offsets, which honours it.
 */

static rd_kafka_resp_err_t
mock_offset(const char *topic, int32_t part, int64_t *offset)
{
    rd_kafka_resp_err_t                err;
    rd_kafka_topic_partition_t        *tp;
    rd_kafka_topic_partition_list_t   *list;

    list = rd_kafka_topic_partition_list_new(1);
    tp = rd_kafka_topic_partition_list_add(list, topic, part);
    tp->offset = *offset;

    err = rd_kafka_offsets_for_times(mock_single, list, MOCK_TIMEOUT);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = tp->err;
    }

    *offset = tp->offset;
    rd_kafka_topic_partition_list_destroy(list);

    return err;
}


static void
mock_cmd_wm(int argc, char **argv)
{
    int64_t              part, low, high;
    rd_kafka_resp_err_t  err;

    if (mock_int(argv[2], 0, INT32_MAX, &part) != 0) {
        mock_reply("error", "bad partition");
        return;
    }

    low = RD_KAFKA_OFFSET_BEGINNING;
    high = RD_KAFKA_OFFSET_END;

    err = mock_offset(argv[1], (int32_t) part, &low);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = mock_offset(argv[1], (int32_t) part, &high);
    }

    if (err) {
        mock_reply("error", "%s", rd_kafka_err2str(err));
        return;
    }

    mock_reply("ok", "%" PRId64 " %" PRId64, low, high);
}


static mock_command_t  mock_commands[] = {
    { "ping",          1, 1, mock_cmd_ping },
    { "create",        3, 3, mock_cmd_create },
    { "produce",       4, 8, mock_cmd_produce },
    { "produce_n",     5, 6, mock_cmd_produce_n },
    { "produce_batch", 5, 6, mock_cmd_produce_n },
    { "down",          2, 2, mock_cmd_updown },
    { "up",            2, 2, mock_cmd_updown },
    { "leader",        4, 4, mock_cmd_leader },
    { "topicerr",      3, 3, mock_cmd_topicerr },
    { "err",           4, 4, mock_cmd_err },
    { "rtt",           3, 3, mock_cmd_rtt },
    { "wm",            3, 3, mock_cmd_wm },
    { NULL, 0, 0, NULL }
};


static void
mock_execute(char *line)
{
    int              argc;
    char            *argv[MOCK_MAX_ARGS + 1], *p;
    mock_command_t  *cmd;

    argc = 0;

    for (p = strtok(line, " \t\r"); p; p = strtok(NULL, " \t\r")) {
        if (argc == MOCK_MAX_ARGS) {
            mock_reply("error", "too many arguments");
            return;
        }

        argv[argc++] = p;
    }

    if (argc == 0) {
        mock_reply("error", "empty command");
        return;
    }

    for (cmd = mock_commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, argv[0]) != 0) {
            continue;
        }

        if (argc < cmd->min_args || argc > cmd->max_args) {
            mock_reply("error", "wrong number of arguments for \"%s\"",
                       argv[0]);
            return;
        }

        cmd->handler(argc, argv);
        return;
    }

    mock_reply("error", "unknown command \"%s\"", argv[0]);
}


/* reads stdin by itself, so that a signal is noticed within 200 ms */

static void
mock_loop(void)
{
    int             eof;
    char           *buf, *nl, *p;
    size_t          len, size;
    ssize_t         n;
    struct pollfd   pfd;

    buf = NULL;
    len = 0;
    size = 0;
    eof = 0;

    while (!mock_stop) {
        nl = (len > 0) ? memchr(buf, '\n', len) : NULL;

        if (nl != NULL || (eof && len > 0)) {
            if (nl == NULL) {
                nl = buf + len;
                len++;
            }

            *nl = '\0';
            mock_execute(buf);

            len -= nl + 1 - buf;
            memmove(buf, nl + 1, len);
            continue;
        }

        if (eof) {
            break;
        }

        if (size - len < 65536) {
            p = realloc(buf, size * 2 + 65536);
            if (p == NULL) {
                break;
            }

            buf = p;
            size = size * 2 + 65536;
        }

        pfd.fd = STDIN_FILENO;
        pfd.events = POLLIN;

        if (poll(&pfd, 1, 200) <= 0) {
            continue;
        }

        n = read(STDIN_FILENO, buf + len, size - len - 1);

        if (n > 0) {
            len += n;

        } else if (n == 0 || errno != EINTR) {
            eof = 1;
        }
    }

    free(buf);
}


static void
mock_signal(int signo)
{
    mock_stop = 1;
}


static void
mock_usage(void)
{
    fprintf(stderr,
            "usage: pubsub-kafka-mock [--brokers N]"
            " [--topic NAME:PARTITIONS]... [--advertise IP]\n");
    exit(2);
}


int
main(int argc, char **argv)
{
    int                 i, rc;
    char               *colon;
    int64_t             n;
    const char         *bootstrap;
    struct in_addr      ip;
    struct sigaction    sa;
    rd_kafka_resp_err_t err;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            if (mock_int(argv[++i], 1, 100, &n) != 0) {
                mock_usage();
            }

            mock_brokers = (int) n;

        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            colon = strrchr(argv[++i], ':');
            if (colon == NULL || colon == argv[i]
                || mock_int(colon + 1, 1, 100000, &n) != 0)
            {
                mock_usage();
            }

        } else if (strcmp(argv[i], "--advertise") == 0 && i + 1 < argc) {
            if (inet_pton(AF_INET, argv[++i], &ip) != 1
                || ip.s_addr == htonl(INADDR_LOOPBACK)
                || (ntohl(ip.s_addr) >> 24) != 127)
            {
                fprintf(stderr, "pubsub-kafka-mock: --advertise wants a "
                        "loopback address other than 127.0.0.1\n");
                mock_usage();
            }

            mock_advertise = ip.s_addr;

        } else {
            mock_usage();
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = mock_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = 1;

    mock_rk = mock_handle(NULL, NULL, NULL);
    if (mock_rk == NULL) {
        return 1;
    }

    mock_mc = rd_kafka_mock_cluster_new(mock_rk, mock_brokers);
    if (mock_mc == NULL) {
        fprintf(stderr, "pubsub-kafka-mock: cannot create the cluster\n");
        goto done;
    }

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--topic") != 0) {
            i++;
            continue;
        }

        i++;
        colon = strrchr(argv[i], ':');
        *colon = '\0';

        err = rd_kafka_mock_topic_create(mock_mc, argv[i], atoi(colon + 1),
                                         mock_brokers < 3 ? mock_brokers : 3);
        *colon = ':';

        if (err) {
            fprintf(stderr, "pubsub-kafka-mock: topic \"%s\": %s\n",
                    argv[i], rd_kafka_err2str(err));
            goto done;
        }
    }

    bootstrap = rd_kafka_mock_cluster_bootstraps(mock_mc);

    mock_single = mock_handle(bootstrap, "1", "0");
    mock_bulk = mock_handle(bootstrap, "10000", "5");

    if (mock_single == NULL || mock_bulk == NULL) {
        goto done;
    }

    printf("%s\n", bootstrap);
    fflush(stdout);

    mock_loop();
    rc = 0;

done:

    if (mock_single != NULL) {
        rd_kafka_purge(mock_single, RD_KAFKA_PURGE_F_QUEUE
                                    | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(mock_single, 0);
        rd_kafka_destroy(mock_single);
    }

    if (mock_bulk != NULL) {
        rd_kafka_purge(mock_bulk, RD_KAFKA_PURGE_F_QUEUE
                                  | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(mock_bulk, 0);
        rd_kafka_destroy(mock_bulk);
    }

    if (mock_mc != NULL) {
        /*
         * rd_kafka_mock_cluster_destroy() of 2.0.2 takes a second about
         * every other time (its thread notices the termination only at its
         * 1 s poll timeout), which every test block using the mock would
         * wait for: the process ends here anyway, and its listening
         * sockets close with it.
         */
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }

    rd_kafka_destroy(mock_rk);

    return rc;
}
