
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * pubsub-cli: one pubsub command from the command line, answers as JSON
 * lines on stdout.  See cli_usage() for the commands and exit codes.
 */


#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pubsub_client.h"


#define CLI_OK          0
#define CLI_SERVER      1       /* the server answered with an error */
#define CLI_USAGE       2
#define CLI_FAILED      3       /* connection, handshake, protocol, timeout */
#define CLI_INTR       -1       /* tail: interrupted by SIGINT or SIGTERM */

#define CLI_FROM_OFFSET 0
#define CLI_FROM_EARLIEST -2
#define CLI_FROM_LATEST -1


typedef enum {
    cli_ping = 0,
    cli_list_offset,
    cli_fetch,
    cli_tail
} cli_type_e;


typedef struct {
    cli_type_e          type;
    const char         *state;
    const char         *topic;
    int32_t             partition;
    int64_t             value;      /* timestamp or offset */
    int                 from;       /* tail: CLI_FROM_* */
    int64_t             count;      /* tail: 0 is no limit */
} cli_cmd_t;


static void cli_usage(FILE *out);
static int cli_usage_error(const char *fmt, ...);
static int cli_parse(cli_cmd_t *cmd, int argc, char **argv);
static int cli_int64(const char *s, int64_t min, int64_t max, int64_t *v);
static int cli_seconds(const char *s, int *ms);
static int cli_call(pubsub_conn_t *c, pubsub_req_t *r,
    PubSubResp__RespCase want, PubSubResp **resp);
static int cli_run_ping(pubsub_conn_t *c, cli_cmd_t *cmd);
static int cli_run_list_offset(pubsub_conn_t *c, cli_cmd_t *cmd);
static int cli_run_fetch(pubsub_conn_t *c, cli_cmd_t *cmd);
static int cli_run_tail(pubsub_conn_t *c, cli_cmd_t *cmd);
static void cli_print_message(const KafkaMessage *m);
static void cli_json_bytes(const char *name, const u_char *p, size_t len);
static int cli_utf8(const u_char *p, size_t len);
static int cli_flush(void);
static void cli_signal(int signo);


static volatile sig_atomic_t  cli_stop;


int
main(int argc, char **argv)
{
    int                ch, rc, timeout;
    const char        *err;
    cli_cmd_t          cmd;
    pubsub_url_t       url;
    pubsub_conn_t      conn;
    struct sigaction   sa;

    timeout = 10000;

    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        cli_usage(stdout);
        return CLI_OK;
    }

    opterr = 0;

    while ((ch = getopt(argc, argv, "+ht:")) != -1) {
        switch (ch) {

        case 'h':
            cli_usage(stdout);
            return CLI_OK;

        case 't':
            if (cli_seconds(optarg, &timeout) != 0) {
                return cli_usage_error("bad timeout \"%s\"", optarg);
            }

            break;

        default:
            if (optopt == 't') {
                return cli_usage_error("-t needs a number of seconds");
            }

            return cli_usage_error("unknown option \"-%c\"", optopt);
        }
    }

    if (argc - optind < 2) {
        return cli_usage_error("a URL and a command are needed");
    }

    rc = cli_parse(&cmd, argc - optind - 1, argv + optind + 1);
    if (rc != CLI_OK) {
        return rc;
    }

    err = pubsub_url_parse(&url, argv[optind]);
    if (err != NULL) {
        return cli_usage_error("bad URL \"%s\": %s", argv[optind], err);
    }

    if (cmd.type == cli_tail) {
        memset(&sa, 0, sizeof(struct sigaction));
        sa.sa_handler = cli_signal;
        sigemptyset(&sa.sa_mask);

        /* no SA_RESTART: a signal ends the wait for an answer */

        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }

    rc = pubsub_connect(&conn, &url, timeout);

    if (rc == PUBSUB_INTR) {
        return CLI_OK;
    }

    if (rc != PUBSUB_OK) {
        fprintf(stderr, "pubsub-cli: %s\n", conn.err);
        return CLI_FAILED;
    }

    switch (cmd.type) {

    case cli_ping:
        rc = cli_run_ping(&conn, &cmd);
        break;

    case cli_list_offset:
        rc = cli_run_list_offset(&conn, &cmd);
        break;

    case cli_fetch:
        rc = cli_run_fetch(&conn, &cmd);
        break;

    default:
        rc = cli_run_tail(&conn, &cmd);
        break;
    }

    pubsub_close(&conn, 1000);

    return (rc == CLI_INTR) ? CLI_OK : rc;
}


static void
cli_usage(FILE *out)
{
    fputs(
"usage: pubsub-cli [-t SECONDS] URL COMMAND [ARGUMENTS]\n"
"\n"
"  URL is ws://HOST[:PORT]/PATH, a pubsub location of nginx (wss:// is\n"
"  not supported yet).\n"
"\n"
"commands:\n"
"  ping [STATE]                           prints {\"pong\":\"STATE\"}\n"
"  list-offset TOPIC PARTITION TIMESTAMP  prints {\"offset\":N}; TIMESTAMP\n"
"                                         is -2 or earliest, -1 or latest,\n"
"                                         or a time in ms\n"
"  fetch TOPIC PARTITION OFFSET           prints the messages of one fetch\n"
"                                         (none at the end of a partition)\n"
"  tail TOPIC PARTITION [--from earliest|latest|OFFSET] [--count N]\n"
"                                         prints messages from the start\n"
"                                         (default latest) on, until N are\n"
"                                         printed or SIGINT/SIGTERM\n"
"\n"
"options:\n"
"  -t SECONDS  how long connecting and each answer may take (default 10;\n"
"              0: no limit)\n"
"  -h          this help\n"
"\n"
"output: one JSON object a line, a message as\n"
"  {\"offset\":14,\"timestamp\":1700000000000,\"key\":\"\",\"value\":\"abc\"}\n"
"  A key, value or state that is not valid UTF-8 is given base64-encoded\n"
"  as \"key_base64\", \"value_base64\" or \"pong_base64\" instead.\n"
"\n"
"exit status:\n"
"  0  success (tail: also when ended by SIGINT or SIGTERM)\n"
"  1  the server answered with an error, printed on stderr\n"
"  2  usage error\n"
"  3  connection, handshake or protocol error, or timeout\n",
    out);
}


static int
cli_usage_error(const char *fmt, ...)
{
    va_list  args;

    fputs("pubsub-cli: ", stderr);

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fputs("\ntry \"pubsub-cli -h\"\n", stderr);

    return CLI_USAGE;
}


/* the command and its arguments: argv[0] is the command's name */

static int
cli_parse(cli_cmd_t *cmd, int argc, char **argv)
{
    int          i, n;
    char        *pos[3];
    int64_t      v;
    const char  *name;

    memset(cmd, 0, sizeof(cli_cmd_t));
    cmd->state = "";
    cmd->from = CLI_FROM_LATEST;

    name = argv[0];
    n = 0;

    for (i = 1; i < argc; i++) {

        if (strcmp(name, "tail") == 0 && strcmp(argv[i], "--from") == 0) {
            if (++i == argc) {
                return cli_usage_error("--from needs a value");
            }

            if (strcmp(argv[i], "earliest") == 0) {
                cmd->from = CLI_FROM_EARLIEST;

            } else if (strcmp(argv[i], "latest") == 0) {
                cmd->from = CLI_FROM_LATEST;

            } else if (cli_int64(argv[i], INT64_MIN, INT64_MAX, &cmd->value)
                       == 0)
            {
                cmd->from = CLI_FROM_OFFSET;

            } else {
                return cli_usage_error("bad --from \"%s\" (earliest, latest "
                                       "or an offset)", argv[i]);
            }

            continue;
        }

        if (strcmp(name, "tail") == 0 && strcmp(argv[i], "--count") == 0) {
            if (++i == argc
                || cli_int64(argv[i], 1, INT64_MAX, &cmd->count) != 0)
            {
                return cli_usage_error("--count needs a number above 0");
            }

            continue;
        }

        if (strncmp(argv[i], "--", 2) == 0) {
            return cli_usage_error("unknown option \"%s\" of %s", argv[i],
                                   name);
        }

        if (n == 3) {
            return cli_usage_error("too many arguments for %s", name);
        }

        pos[n++] = argv[i];
    }

    if (strcmp(name, "ping") == 0) {
        cmd->type = cli_ping;

        if (n > 1) {
            return cli_usage_error("ping takes one argument, STATE");
        }

        if (n == 1) {
            cmd->state = pos[0];
        }

        return CLI_OK;
    }

    if (strcmp(name, "list-offset") == 0) {
        cmd->type = cli_list_offset;

        if (n != 3) {
            return cli_usage_error("list-offset needs TOPIC PARTITION "
                                   "TIMESTAMP");
        }

    } else if (strcmp(name, "fetch") == 0) {
        cmd->type = cli_fetch;

        if (n != 3) {
            return cli_usage_error("fetch needs TOPIC PARTITION OFFSET");
        }

    } else if (strcmp(name, "tail") == 0) {
        cmd->type = cli_tail;

        if (n != 2) {
            return cli_usage_error("tail needs TOPIC PARTITION");
        }

    } else {
        return cli_usage_error("unknown command \"%s\"", name);
    }

    cmd->topic = pos[0];

    if (cli_int64(pos[1], INT32_MIN, INT32_MAX, &v) != 0) {
        return cli_usage_error("bad partition \"%s\"", pos[1]);
    }

    cmd->partition = (int32_t) v;

    if (cmd->type == cli_list_offset) {
        if (strcmp(pos[2], "earliest") == 0) {
            cmd->value = -2;

        } else if (strcmp(pos[2], "latest") == 0) {
            cmd->value = -1;

        } else if (cli_int64(pos[2], INT64_MIN, INT64_MAX, &cmd->value)
                   != 0)
        {
            return cli_usage_error("bad timestamp \"%s\"", pos[2]);
        }

    } else if (cmd->type == cli_fetch) {
        if (cli_int64(pos[2], INT64_MIN, INT64_MAX, &cmd->value) != 0) {
            return cli_usage_error("bad offset \"%s\"", pos[2]);
        }
    }

    return CLI_OK;
}


/* a decimal integer in min..max, nothing else */

static int
cli_int64(const char *s, int64_t min, int64_t max, int64_t *v)
{
    char       *end;
    long long   n;

    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] != '\0'))) {
        return -1;
    }

    errno = 0;
    n = strtoll(s, &end, 10);

    if (errno != 0 || *end != '\0' || n < min || n > max) {
        return -1;
    }

    *v = n;

    return 0;
}


/* seconds, possibly fractional, as ms; 0 becomes -1 (no limit) */

static int
cli_seconds(const char *s, int *ms)
{
    char    *end;
    double   t;

    if (!((*s >= '0' && *s <= '9') || *s == '.')) {
        return -1;
    }

    t = strtod(s, &end);

    if (*end != '\0' || !(t >= 0 && t <= 2000000)) {
        return -1;
    }

    if (t == 0) {
        *ms = -1;
        return 0;
    }

    *ms = (int) (t * 1000 + 0.5);

    if (*ms == 0) {
        *ms = 1;
    }

    return 0;
}


/*
 * One request and its answer, which must be want (or an error answer).
 * Prints the errors.
 */

static int
cli_call(pubsub_conn_t *c, pubsub_req_t *r, PubSubResp__RespCase want,
    PubSubResp **resp)
{
    int  rc;

    rc = pubsub_call(c, r, resp);

    if (rc == PUBSUB_INTR) {
        return CLI_INTR;
    }

    if (rc != PUBSUB_OK) {
        fprintf(stderr, "pubsub-cli: %s\n", c->err);
        return CLI_FAILED;
    }

    if ((*resp)->resp_case == want) {
        return CLI_OK;
    }

    if ((*resp)->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        fprintf(stderr, "pubsub-cli: %s\n", (*resp)->error_resp->message);
        rc = CLI_SERVER;

    } else {
        fprintf(stderr, "pubsub-cli: unexpected answer (case %d) to "
                "request %lld\n", (int) (*resp)->resp_case,
                (long long) (*resp)->sequence);
        rc = CLI_FAILED;
    }

    pubsub_resp_free(*resp);
    *resp = NULL;

    return rc;
}


static int
cli_run_ping(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int            rc;
    PongResp      *pong;
    PubSubResp    *resp;
    pubsub_req_t   r;

    pubsub_req_ping(&r, 0, (const u_char *) cmd->state, strlen(cmd->state));

    rc = cli_call(c, &r, PUB_SUB_RESP__RESP_PONG_RESP, &resp);
    if (rc != CLI_OK) {
        return rc;
    }

    pong = resp->pong_resp;

    putchar('{');
    cli_json_bytes("pong", pong->state.data, pong->state.len);
    fputs("}\n", stdout);

    pubsub_resp_free(resp);

    return cli_flush();
}


static int
cli_run_list_offset(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int            rc;
    PubSubResp    *resp;
    pubsub_req_t   r;

    pubsub_req_list_offset(&r, 0, cmd->topic, cmd->partition, cmd->value);

    rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP, &resp);
    if (rc != CLI_OK) {
        return rc;
    }

    printf("{\"offset\":%" PRId64 "}\n", resp->kafka_list_offset_resp->offset);

    pubsub_resp_free(resp);

    return cli_flush();
}


static int
cli_run_fetch(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int              rc;
    size_t           i;
    PubSubResp      *resp;
    pubsub_req_t     r;
    KafkaFetchResp  *f;

    pubsub_req_fetch(&r, 0, cmd->topic, cmd->partition, cmd->value);

    rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP, &resp);
    if (rc != CLI_OK) {
        return rc;
    }

    f = resp->kafka_fetch_resp;

    for (i = 0; i < f->n_messages; i++) {
        cli_print_message(f->messages[i]);
    }

    pubsub_resp_free(resp);

    return cli_flush();
}


/*
 * Fetches from the start offset on, each time from the offset after the
 * last message printed.  Messages before it (APISIX answers with a whole
 * record batch) are skipped.
 */

static int
cli_run_tail(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int              rc;
    size_t           i;
    int64_t          next, printed;
    PubSubResp      *resp;
    pubsub_req_t     r;
    KafkaMessage    *m;
    KafkaFetchResp  *f;

    next = cmd->value;

    if (cmd->from != CLI_FROM_OFFSET) {
        pubsub_req_list_offset(&r, 0, cmd->topic, cmd->partition, cmd->from);

        rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP,
                      &resp);
        if (rc != CLI_OK) {
            return rc;
        }

        next = resp->kafka_list_offset_resp->offset;
        pubsub_resp_free(resp);
    }

    printed = 0;

    while (!cli_stop) {
        pubsub_req_fetch(&r, 0, cmd->topic, cmd->partition, next);

        rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP, &resp);
        if (rc != CLI_OK) {
            return rc;
        }

        f = resp->kafka_fetch_resp;

        for (i = 0; i < f->n_messages; i++) {
            m = f->messages[i];

            if (m->offset < next) {
                continue;
            }

            cli_print_message(m);
            next = m->offset + 1;

            if (++printed == cmd->count) {
                break;
            }
        }

        pubsub_resp_free(resp);

        if (cli_flush() != CLI_OK) {
            return CLI_FAILED;
        }

        if (cmd->count != 0 && printed == cmd->count) {
            break;
        }
    }

    return CLI_OK;
}


static void
cli_print_message(const KafkaMessage *m)
{
    printf("{\"offset\":%" PRId64 ",\"timestamp\":%" PRId64 ",",
           m->offset, m->timestamp);
    cli_json_bytes("key", m->key.data, m->key.len);
    putchar(',');
    cli_json_bytes("value", m->value.data, m->value.len);
    fputs("}\n", stdout);
}


/* "name":"JSON string", or "name_base64":"..." when p is not UTF-8 */

static void
cli_json_bytes(const char *name, const u_char *p, size_t len)
{
    char    *b64;
    size_t   i;

    if (!cli_utf8(p, len)) {
        b64 = malloc((len + 2) / 3 * 4 + 1);
        if (b64 == NULL) {
            fputs("pubsub-cli: out of memory\n", stderr);
            exit(CLI_FAILED);
        }

        pubsub_base64_encode(b64, p, len);
        printf("\"%s_base64\":\"%s\"", name, b64);
        free(b64);

        return;
    }

    printf("\"%s\":\"", name);

    for (i = 0; i < len; i++) {
        switch (p[i]) {

        case '"':
            fputs("\\\"", stdout);
            break;

        case '\\':
            fputs("\\\\", stdout);
            break;

        case '\b':
            fputs("\\b", stdout);
            break;

        case '\f':
            fputs("\\f", stdout);
            break;

        case '\n':
            fputs("\\n", stdout);
            break;

        case '\r':
            fputs("\\r", stdout);
            break;

        case '\t':
            fputs("\\t", stdout);
            break;

        default:
            if (p[i] < 0x20 || p[i] == 0x7f) {
                printf("\\u%04x", p[i]);

            } else {
                putchar(p[i]);
            }
        }
    }

    putchar('"');
}


/* valid UTF-8: no overlong forms, surrogates or code points past U+10FFFF */

static int
cli_utf8(const u_char *p, size_t len)
{
    size_t    i, k, n;
    uint32_t  c, min;

    for (i = 0; i < len; i += n) {
        c = p[i];

        if (c < 0x80) {
            n = 1;
            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 2;
            c &= 0x1f;
            min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            c &= 0x0f;
            min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            c &= 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (len - i < n) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            c = c << 6 | (p[i + k] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


static int
cli_flush(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "pubsub-cli: cannot write the output: %s\n",
                strerror(errno));
        return CLI_FAILED;
    }

    return CLI_OK;
}


static void
cli_signal(int signo)
{
    cli_stop = 1;
}
