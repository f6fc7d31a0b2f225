
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * pubsub-cli: one pubsub command from the command line, answers as JSON
 * lines on stdout.  See cli_usage() for the commands and exit codes.
 */


#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* produce: records in flight at most */
#define CLI_INFLIGHT    64

/* the bytes of the handshake's header lines from -H and -u */
#define CLI_HEADERS     8192

/* the longest record line of produce */
#define CLI_MAX_LINE    (64 * 1024 * 1024)

/* subscribe: ms to wait for the unsubscribe's answer when -t is 0 */
#define CLI_UNSUBSCRIBE_WAIT  5000


typedef enum {
    cli_ping = 0,
    cli_list_offset,
    cli_fetch,
    cli_tail,
    cli_subscribe,
    cli_produce,
    cli_commit,
    cli_committed
} cli_type_e;


/* subscribe: where each partition stands */

typedef struct {
    size_t              n;
    size_t              size;
    int32_t            *partition;
    int64_t            *next;
} cli_positions_t;


/* tail, subscribe --reconnect: what a new connection goes on from */

typedef struct {
    int64_t             printed;
    int                 started;    /* this connection got going */
    int                 resumed;    /* a connection before this one did */
    cli_positions_t     pos;        /* subscribe */
} cli_stream_t;


typedef struct {
    cli_type_e          type;
    const char         *state;
    const char         *topic;
    int32_t             partition;
    int64_t             value;      /* timestamp or offset */
    int                 from;       /* tail, subscribe: CLI_FROM_* */
    int64_t             count;      /* tail, subscribe: 0 is no limit */

    /* the extension's commands */
    const char         *group;
    int                 all;        /* subscribe --all */
    int                 has_key;
    const char         *key;        /* subscribe filter, produce key */
    int                 has_partition;  /* produce --partition */
    int                 has_value;      /* produce --value */
    const char         *record;         /* produce --value */
    int64_t             timestamp;      /* produce --timestamp */
    int32_t             window;
    size_t              n_offsets;  /* subscribe, commit */
    KafkaPartitionOffset  *offsets;
    KafkaPartitionOffset **offset_ptrs;
    unsigned char      *offset_given;   /* subscribe: @OFFSET given */
    size_t              n_headers;  /* subscribe filter, produce */
    KafkaHeader        *headers;
    KafkaHeader       **header_ptrs;
    size_t              n_partitions;   /* committed */
    int32_t            *partitions;

    int                 reconnect;  /* tail, subscribe --reconnect */
    cli_stream_t        stream;
} cli_cmd_t;


/* produce: a record sent and its answer */

typedef struct {
    int64_t             seq;        /* 0: free */
    int                 done;
    int32_t             partition;
    int64_t             offset;
    int64_t             timestamp;
    int32_t             code;       /* an error: its code and message */
    char               *message;
} cli_slot_t;


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
static int cli_parse_ext(cli_cmd_t *cmd, int argc, char **argv);
static int cli_known_option(const char *opt, int sub);
static int cli_parse_from(cli_cmd_t *cmd, const char *s);
static int cli_parse_header(cli_cmd_t *cmd, const char *s);
static int cli_run_subscribe(pubsub_conn_t *c, cli_cmd_t *cmd);
static int cli_resume_offsets(cli_cmd_t *cmd, KafkaPartitionOffset ***ppo,
    size_t *n);
static int cli_reconnect_wait(int *delay);
static int cli_unsubscribe(pubsub_conn_t *c, int64_t sub,
    cli_positions_t *pos);
static int cli_send_credit(pubsub_conn_t *c, int64_t sub, int32_t n);
static int cli_run_produce(pubsub_conn_t *c, cli_cmd_t *cmd);
static int cli_produce_answer(pubsub_conn_t *c, cli_slot_t *slots,
    int *failed);
static int cli_run_commit(pubsub_conn_t *c, cli_cmd_t *cmd);
static int cli_run_committed(pubsub_conn_t *c, cli_cmd_t *cmd);
static int64_t *cli_position(cli_positions_t *pos, int32_t partition);
static void cli_positions_set(cli_positions_t *pos,
    KafkaPartitionOffset **po, size_t n, int only_new);
static void cli_print_offsets(const char *name, cli_positions_t *pos);
static void cli_server_error(const ErrorResp *e);
static void cli_print_message(const KafkaMessage *m);
static void cli_print_pushed(const KafkaMessage *m);
static void cli_print_headers(KafkaHeader **h, size_t n);
static void cli_json_bytes(const char *name, const u_char *p, size_t len);
static void cli_json_string(const u_char *p, size_t len, int latin1);
static void cli_wakeup_drain(void);
static int cli_utf8(const u_char *p, size_t len);
static int cli_flush(void);
static void cli_signal(int signo);
static int cli_add_header(char *buf, size_t size, size_t *len,
    const char *line);
static int cli_add_user(char *buf, size_t size, size_t *len,
    const char *user);


static volatile sig_atomic_t  cli_stop;

/* a signal writes to it: waits end at once (pubsub_set_wakeup_fd()) */
static int  cli_wakeup[2] = { -1, -1 };


int
main(int argc, char **argv)
{
    int                ch, rc, timeout, delay, verify;
    size_t             hlen;
    const char        *err, *cafile, *cert, *key;
    cli_cmd_t          cmd;
    pubsub_url_t       url;
    pubsub_conn_t      conn;
    struct sigaction   sa;

    static char        headers[CLI_HEADERS];

    static const struct option  options[] = {
        { "help",             no_argument,       NULL, 'h' },
        { "cacert",           required_argument, NULL, 'C' },
        { "cert",             required_argument, NULL, 'E' },
        { "cert-key",         required_argument, NULL, 'K' },
        { "insecure",         no_argument,       NULL, 'k' },
        { "handshake-header", required_argument, NULL, 'H' },
        { "user",             required_argument, NULL, 'u' },
        { NULL, 0, NULL, 0 }
    };

    timeout = 10000;
    cafile = NULL;
    cert = NULL;
    key = NULL;
    verify = 1;
    hlen = 0;

    opterr = 0;

    while ((ch = getopt_long(argc, argv, "+ht:kE:H:u:", options, NULL))
           != -1)
    {
        switch (ch) {

        case 'H':
            rc = cli_add_header(headers, sizeof(headers), &hlen, optarg);
            if (rc != CLI_OK) {
                return rc;
            }

            break;

        case 'u':
            rc = cli_add_user(headers, sizeof(headers), &hlen, optarg);
            if (rc != CLI_OK) {
                return rc;
            }

            break;

        case 'h':
            cli_usage(stdout);
            return CLI_OK;

        case 'C':
            cafile = optarg;
            break;

        case 'E':
            cert = optarg;
            break;

        case 'K':
            key = optarg;
            break;

        case 'k':
            verify = 0;
            break;

        case 't':
            if (cli_seconds(optarg, &timeout) != 0) {
                return cli_usage_error("bad timeout \"%s\"", optarg);
            }

            break;

        default:
            if (optopt == 't') {
                return cli_usage_error("-t needs a number of seconds");
            }

            if (optopt == 'C') {
                return cli_usage_error("--cacert needs a file");
            }

            if (optopt == 'E') {
                return cli_usage_error("--cert needs a file");
            }

            if (optopt == 'K') {
                return cli_usage_error("--cert-key needs a file");
            }

            if (optopt == 'H') {
                return cli_usage_error("-H needs a header line");
            }

            if (optopt == 'u') {
                return cli_usage_error("-u needs USER:PASSWORD");
            }

            if (optopt == 0) {
                return cli_usage_error("unknown option \"%s\"",
                                       argv[optind - 1]);
            }

            return cli_usage_error("unknown option \"-%c\"", optopt);
        }
    }

    if (argc - optind < 2) {
        return cli_usage_error("a URL and a command are needed");
    }

    if (key && cert == NULL) {
        return cli_usage_error("--cert-key needs --cert");
    }

    rc = cli_parse(&cmd, argc - optind - 1, argv + optind + 1);
    if (rc != CLI_OK) {
        return rc;
    }

    err = pubsub_url_parse(&url, argv[optind]);
    if (err != NULL) {
        return cli_usage_error("bad URL \"%s\": %s", argv[optind], err);
    }

    pubsub_set_tls(cafile, cert, key, verify);
    pubsub_set_headers(hlen ? headers : NULL);

    if (url.tls) {
        /* OpenSSL writes with write(): a closed connection is an error */
        signal(SIGPIPE, SIG_IGN);
    }

    if (cmd.type == cli_tail || cmd.type == cli_subscribe) {
        if (pipe(cli_wakeup) == 0) {
            fcntl(cli_wakeup[0], F_SETFL, O_NONBLOCK);
            fcntl(cli_wakeup[1], F_SETFL, O_NONBLOCK);
            fcntl(cli_wakeup[0], F_SETFD, FD_CLOEXEC);
            fcntl(cli_wakeup[1], F_SETFD, FD_CLOEXEC);
            pubsub_set_wakeup_fd(cli_wakeup[0]);

        } else {
            cli_wakeup[0] = -1;
            cli_wakeup[1] = -1;
        }

        memset(&sa, 0, sizeof(struct sigaction));
        sa.sa_handler = cli_signal;
        sigemptyset(&sa.sa_mask);

        /* no SA_RESTART: a signal ends the wait for an answer */

        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }

    delay = 0;

again:

    rc = pubsub_connect(&conn, &url, timeout);

    if (rc == PUBSUB_INTR) {
        return CLI_OK;
    }

    if (rc != PUBSUB_OK) {
        fprintf(stderr, "pubsub-cli: %s\n", conn.err);

        if (cmd.reconnect && cli_reconnect_wait(&delay) == 0) {
            goto again;
        }

        return cmd.reconnect ? CLI_OK : CLI_FAILED;
    }

    cmd.stream.started = 0;

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

    case cli_tail:
        rc = cli_run_tail(&conn, &cmd);
        break;

    case cli_subscribe:
        rc = cli_run_subscribe(&conn, &cmd);
        break;

    case cli_produce:
        rc = cli_run_produce(&conn, &cmd);
        break;

    case cli_commit:
        rc = cli_run_commit(&conn, &cmd);
        break;

    default:
        rc = cli_run_committed(&conn, &cmd);
        break;
    }

    /* the close handshake waits a little: not interrupted by a signal */
    cli_wakeup_drain();

    pubsub_close(&conn, 1000);

    /* the connection failed or the server ended the subscription */

    if (rc == CLI_FAILED && cmd.reconnect && !cli_stop) {
        if (cmd.stream.started) {
            cmd.stream.resumed = 1;
            delay = 0;
        }

        if (cli_reconnect_wait(&delay) == 0) {
            goto again;
        }

        return CLI_OK;
    }

    return (rc == CLI_INTR) ? CLI_OK : rc;
}


/*
 * --reconnect: waits 100 ms, then twice as long each time up to 2 s; a
 * connection that got going starts it over.  -1 when a signal came.
 */

static int
cli_reconnect_wait(int *delay)
{
    struct timespec  ts;

    *delay = (*delay == 0) ? 100 : (*delay >= 1000) ? 2000 : *delay * 2;

    ts.tv_sec = *delay / 1000;
    ts.tv_nsec = (long) (*delay % 1000) * 1000000;

    cli_wakeup_drain();

    if (cli_stop || nanosleep(&ts, NULL) != 0 || cli_stop) {
        return -1;
    }

    fputs("pubsub-cli: reconnecting\n", stderr);

    return 0;
}


static void
cli_usage(FILE *out)
{
    fputs(
"usage: pubsub-cli [-t SECONDS] [-H 'NAME: VALUE' ...] [-u USER:PASSWORD]\n"
"                  [--cacert FILE] [-k] [-E CERT [--cert-key KEY]]\n"
"                  URL COMMAND [ARGUMENTS]\n"
"\n"
"  URL is ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH, a pubsub\n"
"  location of nginx.  wss:// verifies the server's certificate against\n"
"  the system's CA certificates, or those of --cacert FILE (PEM), and its\n"
"  name against HOST; -k (--insecure) verifies nothing.  -E gives a\n"
"  server that asks for one (ssl_verify_client) a client certificate.\n"
"\n"
"commands:\n"
"  ping [STATE]                           prints {\"pong\":\"STATE\"}\n"
"  list-offset TOPIC PARTITION TIMESTAMP  prints {\"offset\":N}; TIMESTAMP\n"
"                                         is -2 or earliest, -1 or latest,\n"
"                                         or a time in ms\n"
"  fetch TOPIC PARTITION OFFSET           prints the messages of one fetch\n"
"                                         (none at the end of a partition)\n"
"  tail TOPIC PARTITION [--from earliest|latest|OFFSET] [--count N]\n"
"       [--reconnect]\n"
"                                         prints messages from the start\n"
"                                         (default latest) on, until N are\n"
"                                         printed or SIGINT/SIGTERM\n"
"  subscribe TOPIC [--partition N[@OFFSET] ...] [--all]\n"
"            [--from earliest|latest|OFFSET|TIMESTAMP_MS] [--key K]\n"
"            [--header K=V ...] [--window N] [--group G] [--count N]\n"
"            [--reconnect]\n"
"                                         the server pushes messages: the\n"
"                                         partitions listed (each from its\n"
"                                         OFFSET, else from --from) and,\n"
"                                         with --all or when none is listed,\n"
"                                         every other one (from --from,\n"
"                                         a number being a time in ms);\n"
"                                         prints {\"positions\":{...}} when\n"
"                                         it starts, jumps and ends, and\n"
"                                         each message, until N are printed\n"
"                                         or SIGINT/SIGTERM (then it\n"
"                                         unsubscribes); --key/--header:\n"
"                                         only matching messages; --window:\n"
"                                         at most N unprinted, credit\n"
"                                         granted as it prints\n"
"  --reconnect (tail, subscribe): when the connection fails or the server\n"
"              ends the subscription, connect again (after 0.1 s, then up\n"
"              to 2 s) and go on after the last message printed of each\n"
"              partition\n"
"  produce TOPIC [--partition N] [--key K] [--header K=V ...]\n"
"          [--timestamp MS] [--value V]\n"
"                                         stores V, or each line of stdin\n"
"                                         (up to 64 in flight); prints where\n"
"                                         each went, in input order\n"
"  commit GROUP TOPIC PARTITION=OFFSET ...\n"
"                                         stores the group's next offsets;\n"
"                                         prints {}\n"
"  committed GROUP TOPIC [PARTITION ...]  prints {\"offsets\":{...}}, the\n"
"                                         group's offsets (-1: none; no\n"
"                                         PARTITION: all)\n"
"\n"
"options:\n"
"  -t SECONDS      how long connecting and each answer may take\n"
"                  (default 10; 0: no limit)\n"
"  --cacert FILE   wss://: the CA certificates (PEM) to verify the\n"
"                  server's certificate with, instead of the system's\n"
"  -k, --insecure  wss://: do not verify the server's certificate or name\n"
"  -E, --cert FILE wss://: the client's certificate chain (PEM), for\n"
"                  nginx's ssl_verify_client; its key too, unless\n"
"                  --cert-key\n"
"  --cert-key FILE wss://: the client certificate's key (PEM, not\n"
"                  encrypted)\n"
"  -H, --handshake-header 'NAME: VALUE'\n"
"                  one more header of the WebSocket handshake, e.g. a\n"
"                  token for auth_request (repeatable)\n"
"  -u, --user USER:PASSWORD\n"
"                  HTTP basic authentication (auth_basic)\n"
"  -h, --help      this help\n"
"\n"
"output: one JSON object a line, a message as\n"
"  {\"offset\":14,\"timestamp\":1700000000000,\"key\":\"\",\"value\":\"abc\"}\n"
"  (subscribe: with \"partition\" first and \"headers\":{...} last).\n"
"  A key, value, header value or state that is not valid UTF-8 is given\n"
"  base64-encoded as \"key_base64\", \"value_base64\", \"NAME_base64\" or\n"
"  \"pong_base64\" instead.  Errors of the server go to stderr, with their\n"
"  code when it is not 0.\n"
"\n"
"exit status:\n"
"  0  success (tail, subscribe: also when ended by SIGINT or SIGTERM)\n"
"  1  the server answered with an error, printed on stderr\n"
"  2  usage error\n"
"  3  connection, handshake or protocol error, timeout, or the server\n"
"     closed the WebSocket or ended the subscription\n",
    out);
}


/*
 * -H "Name: value": one more line of the handshake request.  The name is
 * an HTTP token; the value has no control characters (tab aside), so
 * nothing can end the line or the request early.
 */

static int
cli_add_header(char *buf, size_t size, size_t *len, const char *line)
{
    size_t       n;
    const char  *p;

    n = strspn(line, "!#$%&'*+-.^_`|~0123456789"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    if (n == 0 || line[n] != ':') {
        return cli_usage_error("bad header \"%s\": it must be "
                               "\"Name: value\"", line);
    }

    for (p = line + n + 1; *p; p++) {
        if (((u_char) *p < 0x20 && *p != '\t') || *p == 0x7f) {
            return cli_usage_error("bad header \"%.*s\": control character "
                                   "in the value", (int) n, line);
        }
    }

    n = strlen(line);

    if (*len + n + 2 >= size) {
        return cli_usage_error("too many header bytes (%d at most)",
                               (int) size - 1);
    }

    memcpy(buf + *len, line, n);
    memcpy(buf + *len + n, "\r\n", 3);
    *len += n + 2;

    return CLI_OK;
}


/* -u USER:PASSWORD: the "Authorization: Basic ..." line */

static int
cli_add_user(char *buf, size_t size, size_t *len, const char *user)
{
    int     rc;
    char   *line;
    size_t  n;

    n = strlen(user);

    if (strchr(user, ':') == NULL) {
        return cli_usage_error("-u needs USER:PASSWORD");
    }

    line = malloc(sizeof("Authorization: Basic ") + (n + 2) / 3 * 4);
    if (line == NULL) {
        return cli_usage_error("out of memory");
    }

    strcpy(line, "Authorization: Basic ");
    (void) pubsub_base64_encode(line + sizeof("Authorization: Basic ") - 1,
                                (const u_char *) user, n);

    rc = cli_add_header(buf, size, len, line);

    free(line);

    return rc;
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

    if (strcmp(name, "subscribe") == 0 || strcmp(name, "produce") == 0
        || strcmp(name, "commit") == 0 || strcmp(name, "committed") == 0)
    {
        return cli_parse_ext(cmd, argc, argv);
    }

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

        if (strcmp(name, "tail") == 0
            && strcmp(argv[i], "--reconnect") == 0)
        {
            cmd->reconnect = 1;
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
        cli_server_error((*resp)->error_resp);
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

        /* a new connection goes on from here */
        cmd->from = CLI_FROM_OFFSET;
        cmd->value = next;
    }

    printed = cmd->stream.printed;

    while (!cli_stop) {
        pubsub_req_fetch(&r, 0, cmd->topic, cmd->partition, next);

        rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP, &resp);
        if (rc != CLI_OK) {
            return rc;
        }

        cmd->stream.started = 1;
        f = resp->kafka_fetch_resp;

        for (i = 0; i < f->n_messages; i++) {
            m = f->messages[i];

            if (m->offset < next) {
                continue;
            }

            cli_print_message(m);
            next = m->offset + 1;
            cmd->value = next;
            cmd->stream.printed = ++printed;

            if (printed == cmd->count) {
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


/* a message of a fetch: headers only when it has some */

static void
cli_print_message(const KafkaMessage *m)
{
    printf("{\"offset\":%" PRId64 ",\"timestamp\":%" PRId64 ",",
           m->offset, m->timestamp);
    cli_json_bytes("key", m->key.data, m->key.len);
    putchar(',');
    cli_json_bytes("value", m->value.data, m->value.len);

    if (m->n_headers > 0) {
        cli_print_headers(m->headers, m->n_headers);
    }

    fputs("}\n", stdout);
}


/* a message of a subscription: with its partition and headers */

static void
cli_print_pushed(const KafkaMessage *m)
{
    printf("{\"partition\":%" PRId32 ",\"offset\":%" PRId64
           ",\"timestamp\":%" PRId64 ",", m->partition, m->offset,
           m->timestamp);
    cli_json_bytes("key", m->key.data, m->key.len);
    putchar(',');
    cli_json_bytes("value", m->value.data, m->value.len);
    cli_print_headers(m->headers, m->n_headers);
    fputs("}\n", stdout);
}


/*
 * ,"headers":{"k":"v",...} in the record's order, repeated keys repeated;
 * a value that is not UTF-8 as "k_base64":"..."; a key that is not UTF-8
 * byte by byte as \u00XX.
 */

static void
cli_print_headers(KafkaHeader **h, size_t n)
{
    char        *b64;
    size_t       i, len;
    const char  *key;

    fputs(",\"headers\":{", stdout);

    for (i = 0; i < n; i++) {
        if (i > 0) {
            putchar(',');
        }

        key = h[i]->key ? h[i]->key : "";
        len = strlen(key);

        putchar('"');
        cli_json_string((const u_char *) key, len,
                        !cli_utf8((const u_char *) key, len));

        if (cli_utf8(h[i]->value.data, h[i]->value.len)) {
            fputs("\":\"", stdout);
            cli_json_string(h[i]->value.data, h[i]->value.len, 0);
            putchar('"');
            continue;
        }

        b64 = malloc((h[i]->value.len + 2) / 3 * 4 + 1);
        if (b64 == NULL) {
            fputs("pubsub-cli: out of memory\n", stderr);
            exit(CLI_FAILED);
        }

        pubsub_base64_encode(b64, h[i]->value.data, h[i]->value.len);
        printf("_base64\":\"%s\"", b64);
        free(b64);
    }

    putchar('}');
}


/* "name":"JSON string", or "name_base64":"..." when p is not UTF-8 */

static void
cli_json_bytes(const char *name, const u_char *p, size_t len)
{
    char    *b64;

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
    cli_json_string(p, len, 0);
    putchar('"');
}


/*
 * The inside of a JSON string for the UTF-8 text p; latin1: p is not
 * UTF-8, each byte above 0x7f becomes \u00XX.
 */

static void
cli_json_string(const u_char *p, size_t len, int latin1)
{
    size_t  i;

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
            if (p[i] < 0x20 || p[i] == 0x7f || (latin1 && p[i] > 0x7f)) {
                printf("\\u%04x", p[i]);

            } else {
                putchar(p[i]);
            }
        }
    }
}


/*
 * The extension's commands: subscribe, produce, commit, committed.
 * argv[0] is the command's name.
 */

static int
cli_parse_ext(cli_cmd_t *cmd, int argc, char **argv)
{
    int          i, n, sub, prod, bare;
    char        *pos[2], *at, *eq, *opt;
    int64_t      v, o;
    const char  *name;
    KafkaPartitionOffset  *po;

    name = argv[0];
    sub = (strcmp(name, "subscribe") == 0);
    prod = (strcmp(name, "produce") == 0);

    cmd->type = sub ? cli_subscribe
                : prod ? cli_produce
                : (strcmp(name, "commit") == 0) ? cli_commit : cli_committed;

    /* at most one entry per argument */

    cmd->offsets = calloc(argc, sizeof(KafkaPartitionOffset));
    cmd->offset_ptrs = calloc(argc, sizeof(KafkaPartitionOffset *));
    cmd->offset_given = calloc(argc, 1);
    cmd->headers = calloc(argc, sizeof(KafkaHeader));
    cmd->header_ptrs = calloc(argc, sizeof(KafkaHeader *));
    cmd->partitions = calloc(argc, sizeof(int32_t));

    if (cmd->offsets == NULL || cmd->offset_ptrs == NULL
        || cmd->offset_given == NULL || cmd->headers == NULL
        || cmd->header_ptrs == NULL || cmd->partitions == NULL)
    {
        fputs("pubsub-cli: out of memory\n", stderr);
        return CLI_FAILED;
    }

    n = 0;
    bare = 0;

    for (i = 1; i < argc; i++) {
        opt = argv[i];

        if (strncmp(opt, "--", 2) != 0 || !(sub || prod)) {

            if (sub || prod) {
                if (n == 1) {
                    return cli_usage_error("%s takes one argument, TOPIC",
                                           name);
                }

                pos[n++] = opt;
                continue;
            }

            /* commit GROUP TOPIC P=O..., committed GROUP TOPIC [P...] */

            if (n < 2) {
                pos[n++] = opt;
                continue;
            }

            if (cmd->type == cli_committed) {
                if (cli_int64(opt, 0, INT32_MAX, &v) != 0) {
                    return cli_usage_error("bad partition \"%s\"", opt);
                }

                cmd->partitions[cmd->n_partitions++] = (int32_t) v;
                continue;
            }

            eq = strchr(opt, '=');
            if (eq == NULL) {
                return cli_usage_error("bad \"%s\": PARTITION=OFFSET", opt);
            }

            *eq = '\0';

            if (cli_int64(opt, 0, INT32_MAX, &v) != 0
                || cli_int64(eq + 1, 0, INT64_MAX, &o) != 0)
            {
                *eq = '=';
                return cli_usage_error("bad \"%s\": PARTITION=OFFSET", opt);
            }

            po = &cmd->offsets[cmd->n_offsets];
            kafka_partition_offset__init(po);
            po->partition = (int32_t) v;
            po->offset = o;
            cmd->offset_ptrs[cmd->n_offsets++] = po;
            continue;
        }

        if (sub && strcmp(opt, "--all") == 0) {
            cmd->all = 1;
            continue;
        }

        if (sub && strcmp(opt, "--reconnect") == 0) {
            cmd->reconnect = 1;
            continue;
        }

        if (!cli_known_option(opt, sub)) {
            return cli_usage_error("unknown option \"%s\" of %s", opt, name);
        }

        if (i + 1 == argc) {
            return cli_usage_error("%s needs a value", opt);
        }

        if (strcmp(opt, "--partition") == 0) {
            opt = argv[++i];

            if (prod) {
                if (cli_int64(opt, 0, INT32_MAX, &v) != 0) {
                    return cli_usage_error("bad partition \"%s\"", opt);
                }

                cmd->has_partition = 1;
                cmd->partition = (int32_t) v;
                continue;
            }

            po = &cmd->offsets[cmd->n_offsets];
            kafka_partition_offset__init(po);

            at = strchr(opt, '@');
            if (at != NULL) {
                *at = '\0';
            }

            if (cli_int64(opt, 0, INT32_MAX, &v) != 0) {
                if (at != NULL) {
                    *at = '@';
                }

                return cli_usage_error("bad partition \"%s\" (N or "
                                       "N@OFFSET)", opt);
            }

            po->partition = (int32_t) v;

            if (at != NULL) {
                *at = '@';
                at++;

                if (strcmp(at, "earliest") == 0) {
                    po->offset = -2;

                } else if (strcmp(at, "latest") == 0) {
                    po->offset = -1;

                } else if (cli_int64(at, -2, INT64_MAX, &po->offset) != 0) {
                    return cli_usage_error("bad offset in \"%s\" (earliest, "
                                           "latest or an offset)", opt);
                }

                cmd->offset_given[cmd->n_offsets] = 1;

            } else {
                bare = 1;
            }

            cmd->offset_ptrs[cmd->n_offsets++] = po;
            continue;
        }

        if (sub && strcmp(opt, "--from") == 0) {
            if (cli_parse_from(cmd, argv[++i]) != CLI_OK) {
                return CLI_USAGE;
            }

            continue;
        }

        if (strcmp(opt, "--key") == 0) {
            cmd->has_key = 1;
            cmd->key = argv[++i];
            continue;
        }

        if (strcmp(opt, "--header") == 0) {
            if (cli_parse_header(cmd, argv[++i]) != CLI_OK) {
                return CLI_USAGE;
            }

            continue;
        }

        if (sub && strcmp(opt, "--window") == 0) {
            if (cli_int64(argv[++i], 0, INT32_MAX, &v) != 0) {
                return cli_usage_error("--window needs a number, 0 or more");
            }

            cmd->window = (int32_t) v;
            continue;
        }

        if (sub && strcmp(opt, "--group") == 0) {
            cmd->group = argv[++i];
            continue;
        }

        if (sub && strcmp(opt, "--count") == 0) {
            if (cli_int64(argv[++i], 1, INT64_MAX, &cmd->count) != 0) {
                return cli_usage_error("--count needs a number above 0");
            }

            continue;
        }

        if (prod && strcmp(opt, "--timestamp") == 0) {
            if (cli_int64(argv[++i], 0, INT64_MAX, &cmd->timestamp) != 0) {
                return cli_usage_error("bad --timestamp \"%s\" (ms)",
                                       argv[i]);
            }

            continue;
        }

        if (prod && strcmp(opt, "--value") == 0) {
            cmd->has_value = 1;
            cmd->record = argv[++i];
            continue;
        }

        return cli_usage_error("unknown option \"%s\" of %s", opt, name);
    }

    if (sub || prod) {
        if (n != 1) {
            return cli_usage_error("%s needs TOPIC", name);
        }

        cmd->topic = pos[0];

        if (prod) {
            return CLI_OK;
        }

        /* subscribe: where each partition starts */

        if (cmd->n_offsets == 0) {
            cmd->all = 1;
        }

        if (cmd->all && cmd->from == CLI_FROM_OFFSET && cmd->value <= 0) {
            return cli_usage_error("with --all, a number --from is a time "
                                   "in ms, above 0 (or use earliest)");
        }

        if (bare && cmd->all && cmd->from == CLI_FROM_OFFSET) {
            return cli_usage_error("with --all and a time --from, each "
                                   "--partition needs its @OFFSET");
        }

        for (i = 0; i < (int) cmd->n_offsets; i++) {
            if (!cmd->offset_given[i]) {
                cmd->offsets[i].offset = (cmd->from == CLI_FROM_OFFSET)
                                         ? cmd->value : cmd->from;
            }
        }

        return CLI_OK;
    }

    if (n != 2) {
        return cli_usage_error("%s needs GROUP TOPIC", name);
    }

    cmd->group = pos[0];
    cmd->topic = pos[1];

    if (cmd->type == cli_commit && cmd->n_offsets == 0) {
        return cli_usage_error("commit needs PARTITION=OFFSET");
    }

    return CLI_OK;
}


/* an option with a value of subscribe (sub) or produce */

static int
cli_known_option(const char *opt, int sub)
{
    size_t              i;
    static const char  *both[] = { "--partition", "--key", "--header" };
    static const char  *subscribe[] = { "--from", "--window", "--group",
                                        "--count" };
    static const char  *produce[] = { "--timestamp", "--value" };

    for (i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
        if (strcmp(opt, both[i]) == 0) {
            return 1;
        }
    }

    for (i = 0; sub && i < sizeof(subscribe) / sizeof(subscribe[0]); i++) {
        if (strcmp(opt, subscribe[i]) == 0) {
            return 1;
        }
    }

    for (i = 0; !sub && i < sizeof(produce) / sizeof(produce[0]); i++) {
        if (strcmp(opt, produce[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
cli_parse_from(cli_cmd_t *cmd, const char *s)
{
    if (strcmp(s, "earliest") == 0) {
        cmd->from = CLI_FROM_EARLIEST;

    } else if (strcmp(s, "latest") == 0) {
        cmd->from = CLI_FROM_LATEST;

    } else if (cli_int64(s, 0, INT64_MAX, &cmd->value) == 0) {
        cmd->from = CLI_FROM_OFFSET;

    } else {
        return cli_usage_error("bad --from \"%s\" (earliest, latest, an "
                               "offset or a time in ms)", s);
    }

    return CLI_OK;
}


/* K=V: a header of the filter or of the records */

static int
cli_parse_header(cli_cmd_t *cmd, const char *s)
{
    char         *eq;
    KafkaHeader  *h;

    eq = strchr(s, '=');
    if (eq == NULL) {
        return cli_usage_error("bad --header \"%s\" (KEY=VALUE)", s);
    }

    h = &cmd->headers[cmd->n_headers];
    kafka_header__init(h);

    *eq = '\0';
    h->key = (char *) s;
    h->value.data = (uint8_t *) eq + 1;
    h->value.len = strlen(eq + 1);

    cmd->header_ptrs[cmd->n_headers++] = h;

    return CLI_OK;
}


/* the server's error on stderr, with its code when there is one */

static void
cli_server_error(const ErrorResp *e)
{
    if (e->code != 0) {
        fprintf(stderr, "pubsub-cli: error %d: %s\n", (int) e->code,
                e->message);

    } else {
        fprintf(stderr, "pubsub-cli: %s\n", e->message);
    }
}


/*
 * Subscribes and prints what the server pushes.  Messages before the
 * position of their partition are skipped (never printed twice).  With a
 * window, credit is granted after the messages are written out, in
 * batches of half the window, so a reader of stdout that stops stops the
 * server.
 */

static int
cli_run_subscribe(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int                    rc, only_new;
    size_t                 i;
    int32_t                consumed, threshold;
    int64_t                sub, printed, *next;
    PubSubResp            *resp;
    pubsub_req_t           r;
    KafkaMessage          *m;
    KafkaFetchResp        *f;
    cli_positions_t       *pos;
    KafkaPartitionOffset **ppo;

    pos = &cmd->stream.pos;
    only_new = cmd->reconnect;

    pubsub_req_subscribe(&r, 0, cmd->topic);

    r.cmd.subscribe.partitions = cmd->offset_ptrs;
    r.cmd.subscribe.n_partitions = cmd->n_offsets;

    /* again: each partition seen from the next offset after it */

    ppo = NULL;

    if (cmd->stream.resumed
        && cli_resume_offsets(cmd, &ppo, &r.cmd.subscribe.n_partitions)
           != CLI_OK)
    {
        return CLI_FAILED;
    }

    if (ppo) {
        r.cmd.subscribe.partitions = ppo;
    }

    r.cmd.subscribe.all_partitions = cmd->all;
    if (cmd->all) {
        r.cmd.subscribe.start = (cmd->from == CLI_FROM_OFFSET) ? cmd->value
                                                                : cmd->from;
    }
    r.cmd.subscribe.group = (char *) (cmd->group ? cmd->group : "");
    r.cmd.subscribe.window = cmd->window;

    if (cmd->has_key || cmd->n_headers > 0) {
        if (cmd->has_key) {
            r.filter.key.data = (uint8_t *) cmd->key;
            r.filter.key.len = strlen(cmd->key);
        }

        r.filter.headers = cmd->header_ptrs;
        r.filter.n_headers = cmd->n_headers;
        r.cmd.subscribe.filter = &r.filter;
    }

    /* the first answer: the start positions */

    rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP, &resp);

    if (ppo) {
        free(ppo[0]);
        free(ppo);
    }

    if (rc != CLI_OK) {
        return rc;
    }

    sub = r.req.sequence;
    cmd->stream.started = 1;

    cli_positions_set(pos, resp->kafka_subscribe_resp->positions,
                      resp->kafka_subscribe_resp->n_positions, 0);
    cli_print_offsets("positions", pos);

    if (cmd->stream.resumed) {
        fputs(",\"resumed\":true", stdout);
    }

    if (resp->kafka_subscribe_resp->ended) {
        pubsub_resp_free(resp);
        fputs(",\"ended\":true}\n", stdout);
        fputs("pubsub-cli: the server ended the subscription\n", stderr);
        return CLI_FAILED;
    }

    pubsub_resp_free(resp);
    fputs("}\n", stdout);

    if (cli_flush() != CLI_OK) {
        return CLI_FAILED;
    }

    printed = cmd->stream.printed;
    consumed = 0;
    threshold = (cmd->window + 1) / 2;

    while (!cli_stop) {

        /* pushes come when Kafka has messages: no time limit */

        rc = pubsub_recv_resp_timeout(c, &resp, -1);

        if (rc == PUBSUB_INTR) {
            break;
        }

        if (rc != PUBSUB_OK) {
            fprintf(stderr, "pubsub-cli: %s\n", c->err);
            return CLI_FAILED;
        }

        if (resp->sequence != sub) {
            /* a credit's error, or something unknown */

            if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP
                && resp->sequence > sub && resp->sequence <= c->sequence)
            {
                cli_server_error(resp->error_resp);
                pubsub_resp_free(resp);
                return CLI_SERVER;
            }

            fprintf(stderr, "pubsub-cli: answer with sequence %lld during "
                    "subscription %lld\n", (long long) resp->sequence,
                    (long long) sub);
            pubsub_resp_free(resp);
            return CLI_FAILED;
        }

        switch (resp->resp_case) {

        case PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP:
            f = resp->kafka_fetch_resp;

            for (i = 0; i < f->n_messages; i++) {
                m = f->messages[i];
                consumed++;

                next = cli_position(pos, m->partition);
                if (next == NULL) {
                    pubsub_resp_free(resp);
                    fputs("pubsub-cli: out of memory\n", stderr);
                    return CLI_FAILED;
                }

                if (m->offset < *next) {
                    continue;
                }

                cli_print_pushed(m);
                *next = m->offset + 1;
                cmd->stream.printed = ++printed;

                if (printed == cmd->count) {
                    cli_stop = 1;
                    break;
                }
            }

            break;

        case PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP:
            cli_positions_set(pos, resp->kafka_subscribe_resp->positions,
                              resp->kafka_subscribe_resp->n_positions,
                              only_new
                              && resp->kafka_subscribe_resp->ended);

            if (resp->kafka_subscribe_resp->ended) {
                cli_print_offsets("positions", pos);
                fputs(",\"ended\":true}\n", stdout);
                pubsub_resp_free(resp);
                (void) cli_flush();
                fputs("pubsub-cli: the server ended the subscription\n",
                      stderr);
                return CLI_FAILED;
            }

            /* a jump: the partitions listed */

            fputs("{\"positions\":{", stdout);

            for (i = 0; i < resp->kafka_subscribe_resp->n_positions; i++) {
                printf("%s\"%" PRId32 "\":%" PRId64, i ? "," : "",
                       resp->kafka_subscribe_resp->positions[i]->partition,
                       resp->kafka_subscribe_resp->positions[i]->offset);
            }

            fputs("},\"gap\":true}\n", stdout);
            break;

        case PUB_SUB_RESP__RESP_ERROR_RESP:
            cli_server_error(resp->error_resp);
            pubsub_resp_free(resp);
            return CLI_SERVER;

        default:
            fprintf(stderr, "pubsub-cli: unexpected answer (case %d) to "
                    "subscription %lld\n", (int) resp->resp_case,
                    (long long) sub);
            pubsub_resp_free(resp);
            return CLI_FAILED;
        }

        pubsub_resp_free(resp);

        if (cli_flush() != CLI_OK) {
            return CLI_FAILED;
        }

        if (cmd->window > 0 && consumed >= threshold && !cli_stop) {
            rc = cli_send_credit(c, sub, consumed);
            if (rc != CLI_OK) {
                return rc;
            }

            consumed = 0;
        }
    }

    return cli_unsubscribe(c, sub, pos);
}


/*
 * The partitions of a new subscription after a lost connection: each one
 * printed from (or started at) from its next offset, the others listed as
 * at first; --all and --group cover the rest as at first.
 */

static int
cli_resume_offsets(cli_cmd_t *cmd, KafkaPartitionOffset ***ppo, size_t *n)
{
    size_t                  i, j, k;
    cli_positions_t        *pos;
    KafkaPartitionOffset   *po, **pp;

    pos = &cmd->stream.pos;
    k = pos->n + cmd->n_offsets;

    po = calloc(k + 1, sizeof(KafkaPartitionOffset));
    pp = calloc(k + 1, sizeof(KafkaPartitionOffset *));

    if (po == NULL || pp == NULL) {
        free(po);
        free(pp);
        fputs("pubsub-cli: out of memory\n", stderr);
        return CLI_FAILED;
    }

    k = 0;

    for (i = 0; i < pos->n; i++) {
        kafka_partition_offset__init(&po[k]);
        po[k].partition = pos->partition[i];
        po[k].offset = pos->next[i];
        pp[k] = &po[k];
        k++;
    }

    for (i = 0; i < cmd->n_offsets; i++) {
        for (j = 0; j < pos->n; j++) {
            if (pos->partition[j] == cmd->offsets[i].partition) {
                break;
            }
        }

        if (j == pos->n) {
            po[k] = cmd->offsets[i];
            pp[k] = &po[k];
            k++;
        }
    }

    pp[0] = &po[0];
    *ppo = pp;
    *n = k;

    return CLI_OK;
}


static int
cli_send_credit(pubsub_conn_t *c, int64_t sub, int32_t n)
{
    int           rc;
    pubsub_req_t  r;

    pubsub_req_credit(&r, ++c->sequence, sub, n);

    rc = pubsub_send_req(c, &r);

    if (rc == PUBSUB_INTR) {
        return CLI_OK;
    }

    if (rc != PUBSUB_OK) {
        fprintf(stderr, "pubsub-cli: %s\n", c->err);
        return CLI_FAILED;
    }

    return CLI_OK;
}


/*
 * Sends the unsubscribe and waits, at most -t (or 5 s without one), for
 * its answer; what is pushed meanwhile is not printed.  Prints the final
 * positions: the next offset after what was printed (the server's for a
 * partition we know nothing of).  A second signal gives up the wait.
 */

static int
cli_unsubscribe(pubsub_conn_t *c, int64_t sub, cli_positions_t *pos)
{
    int                    rc, wait;
    int64_t                seq, left;
    PubSubResp            *resp;
    pubsub_req_t           r;
    struct timespec        ts;
    KafkaSubscribeResp    *s;

    cli_wakeup_drain();

    seq = ++c->sequence;
    pubsub_req_unsubscribe(&r, seq, sub);

    rc = pubsub_send_req(c, &r);

    if (rc == PUBSUB_INTR) {
        return CLI_INTR;
    }

    if (rc != PUBSUB_OK) {
        fprintf(stderr, "pubsub-cli: %s\n", c->err);
        return CLI_FAILED;
    }

    wait = (c->timeout > 0) ? c->timeout : CLI_UNSUBSCRIBE_WAIT;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    left = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + wait;

    for ( ;; ) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        rc = (int) (left - ((int64_t) ts.tv_sec * 1000
                            + ts.tv_nsec / 1000000));

        rc = pubsub_recv_resp_timeout(c, &resp, rc > 0 ? rc : 0);

        if (rc == PUBSUB_INTR) {
            fputs("pubsub-cli: interrupted while waiting for the answer "
                  "to the unsubscribe\n", stderr);
            return CLI_INTR;
        }

        if (rc != PUBSUB_OK) {
            if (strncmp(c->err, "no answer", 9) == 0) {
                fprintf(stderr, "pubsub-cli: no answer to the unsubscribe "
                        "within %g s\n", wait / 1000.0);

            } else {
                fprintf(stderr, "pubsub-cli: %s\n", c->err);
            }

            return CLI_FAILED;
        }

        if (resp->sequence != seq) {
            /* pushes and the end of the subscription: not printed */
            pubsub_resp_free(resp);
            continue;
        }

        if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
            cli_server_error(resp->error_resp);
            pubsub_resp_free(resp);
            return CLI_SERVER;
        }

        if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP) {
            fprintf(stderr, "pubsub-cli: unexpected answer (case %d) to "
                    "the unsubscribe\n", (int) resp->resp_case);
            pubsub_resp_free(resp);
            return CLI_FAILED;
        }

        s = resp->kafka_subscribe_resp;
        cli_positions_set(pos, s->positions, s->n_positions, 1);
        pubsub_resp_free(resp);

        cli_print_offsets("positions", pos);
        fputs(",\"ended\":true}\n", stdout);

        return cli_flush();
    }
}


/* the next offset of a partition; a partition not seen yet is added at 0 */

static int64_t *
cli_position(cli_positions_t *pos, int32_t partition)
{
    size_t    i, size;
    void     *p, *q;

    for (i = 0; i < pos->n; i++) {
        if (pos->partition[i] == partition) {
            return &pos->next[i];
        }
    }

    if (pos->n == pos->size) {
        size = pos->size ? pos->size * 2 : 16;

        p = realloc(pos->partition, size * sizeof(int32_t));
        if (p == NULL) {
            return NULL;
        }

        pos->partition = p;

        q = realloc(pos->next, size * sizeof(int64_t));
        if (q == NULL) {
            return NULL;
        }

        pos->next = q;
        pos->size = size;
    }

    /* sorted by partition */

    for (i = pos->n; i > 0 && pos->partition[i - 1] > partition; i--) {
        pos->partition[i] = pos->partition[i - 1];
        pos->next[i] = pos->next[i - 1];
    }

    pos->partition[i] = partition;
    pos->next[i] = 0;
    pos->n++;

    return &pos->next[i];
}


/* takes the server's positions; only_new: only for partitions not known */

static void
cli_positions_set(cli_positions_t *pos, KafkaPartitionOffset **po, size_t n,
    int only_new)
{
    size_t    i, known;
    int64_t  *next;

    for (i = 0; i < n; i++) {
        known = pos->n;

        next = cli_position(pos, po[i]->partition);
        if (next == NULL) {
            fputs("pubsub-cli: out of memory\n", stderr);
            exit(CLI_FAILED);
        }

        if (!only_new || pos->n > known) {
            *next = po[i]->offset;
        }
    }
}


/* {"NAME":{"0":30,"1":12} without the closing brace */

static void
cli_print_offsets(const char *name, cli_positions_t *pos)
{
    size_t  i;

    printf("{\"%s\":{", name);

    for (i = 0; i < pos->n; i++) {
        printf("%s\"%" PRId32 "\":%" PRId64, i ? "," : "",
               pos->partition[i], pos->next[i]);
    }

    putchar('}');
}


/*
 * Produces --value, or each line of stdin (without its "\n"), keeping up to
 * CLI_INFLIGHT in flight; prints each report in input order.  After an
 * error nothing more is sent; what is in flight is still reported.
 */

static int
cli_run_produce(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int             rc, eof, failed, inflight, n;
    char           *buf, *nl, *p;
    size_t          len, size, scanned;
    ssize_t         got;
    int64_t         seq, head;
    cli_slot_t      slots[CLI_INFLIGHT], *slot;
    pubsub_req_t    r;
    struct pollfd   pfd[2];

    memset(slots, 0, sizeof(slots));

    buf = NULL;
    len = 0;
    size = 0;
    scanned = 0;
    eof = 0;
    failed = 0;
    inflight = 0;
    head = c->sequence + 1;

    if (cmd->has_value) {
        len = strlen(cmd->record) + 1;
        buf = malloc(len);
        if (buf == NULL) {
            fputs("pubsub-cli: out of memory\n", stderr);
            return CLI_FAILED;
        }

        memcpy(buf, cmd->record, len - 1);
        buf[len - 1] = '\n';
        eof = 1;
    }

    rc = CLI_OK;

    for ( ;; ) {

        /* send the whole lines we have, as far as there is room */

        while (!failed && inflight < CLI_INFLIGHT) {
            nl = memchr(buf + scanned, '\n', len - scanned);

            if (nl == NULL) {
                if (!eof || len == 0) {
                    scanned = len;
                    break;
                }

                /* the last line without "\n" */
                nl = buf + len;
            }

            pubsub_req_produce(&r, 0, cmd->topic);

            if (cmd->has_partition) {
                r.cmd.produce.target_case =
                                         CMD_KAFKA_PRODUCE__TARGET_PARTITION;
                r.cmd.produce.partition = cmd->partition;
            }

            if (cmd->has_key) {
                r.cmd.produce.key.data = (uint8_t *) cmd->key;
                r.cmd.produce.key.len = strlen(cmd->key);
            }

            r.cmd.produce.value.data = (uint8_t *) buf;
            r.cmd.produce.value.len = nl - buf;
            r.cmd.produce.headers = cmd->header_ptrs;
            r.cmd.produce.n_headers = cmd->n_headers;
            r.cmd.produce.timestamp = cmd->timestamp;

            seq = ++c->sequence;
            r.req.sequence = seq;

            if (pubsub_send_req(c, &r) != PUBSUB_OK) {
                fprintf(stderr, "pubsub-cli: %s\n", c->err);
                rc = CLI_FAILED;
                goto done;
            }

            slot = &slots[seq % CLI_INFLIGHT];
            memset(slot, 0, sizeof(cli_slot_t));
            slot->seq = seq;
            inflight++;

            /* drop the line */

            n = (nl < buf + len) ? 1 : 0;
            len -= (nl - buf) + n;
            memmove(buf, nl + n, len);
            scanned = 0;
        }

        if (inflight == 0 && (eof || failed)) {
            break;
        }

        /* an answer, or more of stdin */

        if (inflight > 0 && pubsub_buffered(c)) {
            pfd[0].revents = POLLIN;
            pfd[1].revents = 0;

        } else {
            pfd[0].fd = c->fd;
            pfd[0].events = POLLIN;
            pfd[0].revents = 0;
            pfd[1].fd = STDIN_FILENO;
            pfd[1].events = POLLIN;
            pfd[1].revents = 0;

            n = (!eof && !failed && inflight < CLI_INFLIGHT) ? 2 : 1;

            rc = poll(pfd, n, inflight > 0 ? c->timeout : -1);

            if (rc == -1) {
                if (errno == EINTR) {
                    rc = CLI_OK;
                    continue;
                }

                fprintf(stderr, "pubsub-cli: poll(): %s\n", strerror(errno));
                rc = CLI_FAILED;
                goto done;
            }

            if (rc == 0) {
                fprintf(stderr, "pubsub-cli: no answer from the server "
                        "within %g s\n", c->timeout / 1000.0);
                rc = CLI_FAILED;
                goto done;
            }

            rc = CLI_OK;
        }

        if (pfd[0].revents) {
            rc = cli_produce_answer(c, slots, &failed);
            if (rc != CLI_OK) {
                goto done;
            }

            /* the reports at the head, in input order */

            while (head <= c->sequence) {
                slot = &slots[head % CLI_INFLIGHT];
                if (slot->seq != head || !slot->done) {
                    break;
                }

                if (slot->message != NULL) {
                    printf("{\"error\":%d,", (int) slot->code);
                    cli_json_bytes("message", (u_char *) slot->message,
                                   strlen(slot->message));
                    fputs("}\n", stdout);
                    free(slot->message);

                } else {
                    printf("{\"partition\":%" PRId32 ",\"offset\":%" PRId64
                           ",\"timestamp\":%" PRId64 "}\n", slot->partition,
                           slot->offset, slot->timestamp);
                }

                slot->seq = 0;
                inflight--;
                head++;
            }

            if (cli_flush() != CLI_OK) {
                rc = CLI_FAILED;
                goto done;
            }
        }

        if (pfd[1].revents) {
            if (size - len < 65536) {
                if (size >= CLI_MAX_LINE) {
                    fprintf(stderr, "pubsub-cli: a line of stdin is over "
                            "%d bytes\n", CLI_MAX_LINE);
                    rc = CLI_FAILED;
                    goto done;
                }

                size = size ? size * 2 : 65536 * 2;
                p = realloc(buf, size);
                if (p == NULL) {
                    fputs("pubsub-cli: out of memory\n", stderr);
                    rc = CLI_FAILED;
                    goto done;
                }

                buf = p;
            }

            got = read(STDIN_FILENO, buf + len, size - len);

            if (got == -1 && errno != EINTR && errno != EAGAIN) {
                fprintf(stderr, "pubsub-cli: cannot read stdin: %s\n",
                        strerror(errno));
                rc = CLI_FAILED;
                goto done;
            }

            if (got == 0) {
                eof = 1;
            }

            if (got > 0) {
                len += got;
            }
        }
    }

    rc = failed ? CLI_SERVER : CLI_OK;

done:

    free(buf);

    return rc;
}


/* one answer to a record in flight */

static int
cli_produce_answer(pubsub_conn_t *c, cli_slot_t *slots, int *failed)
{
    int                rc;
    PubSubResp        *resp;
    cli_slot_t        *slot;
    KafkaProduceResp  *p;

    rc = pubsub_recv_resp(c, &resp);

    if (rc != PUBSUB_OK) {
        fprintf(stderr, "pubsub-cli: %s\n", c->err);
        return CLI_FAILED;
    }

    slot = &slots[resp->sequence % CLI_INFLIGHT];

    if (resp->sequence <= 0 || slot->seq != resp->sequence || slot->done) {
        fprintf(stderr, "pubsub-cli: answer with sequence %lld, not a "
                "record in flight\n", (long long) resp->sequence);
        if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
            cli_server_error(resp->error_resp);
        }

        pubsub_resp_free(resp);
        return CLI_FAILED;
    }

    switch (resp->resp_case) {

    case PUB_SUB_RESP__RESP_KAFKA_PRODUCE_RESP:
        p = resp->kafka_produce_resp;
        slot->partition = p->partition;
        slot->offset = p->offset;
        slot->timestamp = p->timestamp;
        break;

    case PUB_SUB_RESP__RESP_ERROR_RESP:
        cli_server_error(resp->error_resp);
        slot->code = resp->error_resp->code;
        slot->message = strdup(resp->error_resp->message);
        if (slot->message == NULL) {
            fputs("pubsub-cli: out of memory\n", stderr);
            exit(CLI_FAILED);
        }

        *failed = 1;
        break;

    default:
        fprintf(stderr, "pubsub-cli: unexpected answer (case %d) to "
                "request %lld\n", (int) resp->resp_case,
                (long long) resp->sequence);
        pubsub_resp_free(resp);
        return CLI_FAILED;
    }

    slot->done = 1;
    pubsub_resp_free(resp);

    return CLI_OK;
}


static int
cli_run_commit(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int            rc;
    PubSubResp    *resp;
    pubsub_req_t   r;

    pubsub_req_commit(&r, 0, cmd->group, cmd->topic, cmd->offset_ptrs,
                      cmd->n_offsets);

    rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_COMMIT_RESP, &resp);
    if (rc != CLI_OK) {
        return rc;
    }

    pubsub_resp_free(resp);
    fputs("{}\n", stdout);

    return cli_flush();
}


static int
cli_run_committed(pubsub_conn_t *c, cli_cmd_t *cmd)
{
    int                  rc;
    PubSubResp          *resp;
    pubsub_req_t         r;
    cli_positions_t      pos;
    KafkaCommittedResp  *o;

    pubsub_req_committed(&r, 0, cmd->group, cmd->topic, cmd->partitions,
                         cmd->n_partitions);

    rc = cli_call(c, &r, PUB_SUB_RESP__RESP_KAFKA_COMMITTED_RESP, &resp);
    if (rc != CLI_OK) {
        return rc;
    }

    memset(&pos, 0, sizeof(cli_positions_t));

    o = resp->kafka_committed_resp;
    cli_positions_set(&pos, o->offsets, o->n_offsets, 0);

    pubsub_resp_free(resp);

    cli_print_offsets("offsets", &pos);
    fputs("}\n", stdout);

    return cli_flush();
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
    int  err;

    cli_stop = 1;

    if (cli_wakeup[1] != -1) {
        err = errno;
        (void) write(cli_wakeup[1], "", 1);
        errno = err;
    }
}


/* empties the wakeup pipe: waits wait again (until the next signal) */

static void
cli_wakeup_drain(void)
{
    char  buf[64];

    if (cli_wakeup[0] != -1) {
        while (read(cli_wakeup[0], buf, sizeof(buf)) > 0) {
            /* void */
        }
    }
}
