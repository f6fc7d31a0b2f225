
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * pubsub-bench SCENARIO [options]; each scenario prints one JSON object
 * a line on stdout (bench/run.sh gathers them), progress with -v on
 * stderr, and exits 1 when the data it got is wrong or incomplete.
 *
 *   fill       produce --count messages of --size bytes spread evenly
 *              over --partitions (explicit partitions), check that the
 *              broker kept all of them
 *   ceiling    the bare librdkafka consumer reads the partitions from
 *              their first offset to their end
 *   catchup    one WebSocket client fetches the same messages, each
 *              partition in a fetch loop (last offset + 1), --inflight
 *              partitions at a time
 *   tail-bare  the bare consumer tails the first partition while the
 *              producer writes --rate msg/s for --duration s: latency
 *   fanout     --clients WebSocket clients tail the first partition while
 *              the producer writes --rate msg/s for --duration s, then
 *              as fast as the slowest client allows (--lag) for
 *              --max-duration s
 *   mixed      --clients clients tail the first partition at --rate while
 *              one more client reads the history it had at the start
 *              (its first offset to that end), over and over
 *   idle       --clients idle WebSockets, then up to --max-clients: the
 *              resident memory of --worker-pid per connection
 *
 * The extension's scenarios (bench_push.c, bench_produce.c):
 *
 *   push-catchup    catchup with one subscription of the partitions
 *   push-fanout     fanout with subscribers instead of fetch loops
 *   scatter         --clients subscribers of one partition, each from its
 *                   own offset among the last --last messages, to the end
 *   scatter-fetch   the same in fetch loops
 *   produce         one client produces --count records through the
 *                   gateway, --inflight at a time
 *   produce-bare    the same with a bare librdkafka producer: the ceiling
 *   produce-latency produce at --rate through the gateway while a
 *                   subscriber of the partition receives them
 *   commits         --clients clients commit every --interval ms, in
 *                   --groups groups, for --duration s
 *   probe           does the gateway serve --request (exit 3 if not)
 */


#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"


#define BENCH_CONNECTING_MAX   256     /* handshakes in progress at once */
#define BENCH_SLOT_BITS        12


/* the bare consumer's reading of a partition */

typedef struct {
    int32_t              part;
    int64_t              low;
    int64_t              high;
    int64_t              next;
} bench_range_t;


typedef struct {
    bench_range_t       *ranges;
    int                  nranges;
    int64_t              want;
    int64_t              received;
    int64_t              bytes;
    int64_t              last;       /* time of the last message */
    int64_t              last_seq;
    int64_t              phase_first_seq;
    bench_hist_t         hist;
    int                  tail;
} bench_bare_t;


/* a WebSocket client reading partitions in fetch loops */

typedef struct {
    int32_t              part;
    int64_t              low;
    int64_t              high;       /* the end: where a pass stops */
    int64_t              next;
    int64_t              seq;        /* of the request in flight, 0: none */
    int64_t              sent;       /* when it was sent */
    unsigned             listing:2;  /* 1: earliest asked, 2: latest */
    unsigned             done:1;
} bench_cpart_t;


typedef struct {
    bench_conn_t        *conn;
    bench_cpart_t       *parts;
    int                  nparts;
    int                  inflight;   /* partitions read at once */
    int                  started;    /* partitions begun */
    int                  finished;
    int                  listed;
    int64_t              counter;
    int                  loop;       /* passes until stopped */
    int                  stop;
    int                  check_seq;

    int64_t              received;
    int64_t              bytes;
    int64_t              answers;
    int64_t              empty;
    int64_t              passes;
    int64_t              first;      /* time the timed reading began */
    int64_t              last;       /* time of the last message */
} bench_catchup_t;


bench_conf_t                  bench_conf;
int                           bench_ep;
bench_pool_t                  bench_pool;

volatile sig_atomic_t         bench_stop;


static void bench_usage(void);
static void bench_signal(int signo);

static int bench_fill(void);
static int bench_ceiling(void);
static void bench_bare_message(void *ctx, rd_kafka_message_t *m,
    int64_t now);
static int bench_tail_bare(void);
static int bench_catchup(void);
static void bench_catchup_init(bench_catchup_t *cu, int check_seq);
static void bench_catchup_open(bench_conn_t *c);
static void bench_catchup_list(bench_catchup_t *cu, bench_cpart_t *cp);
static void bench_catchup_fetch(bench_catchup_t *cu, bench_cpart_t *cp);
static void bench_catchup_next(bench_catchup_t *cu);
static void bench_catchup_resp(bench_conn_t *c, PubSubResp *resp,
    int64_t now);
static int bench_fanout(void);
static int bench_mixed(void);
static void bench_tail_open(bench_conn_t *c);
static void bench_tail_start(bench_tail_t *t);
static void bench_tail_started(bench_tail_t *t);
static void bench_tail_send(bench_tail_t *t, int fetch);
static void bench_tail_subscribe(bench_tail_t *t);
static void bench_tail_resp(bench_conn_t *c, PubSubResp *resp,
    int64_t now);
static int bench_idle(void);
static void bench_idle_resp(bench_conn_t *c, PubSubResp *resp,
    int64_t now);


static struct option  bench_options[] = {
    { "url",          required_argument, NULL, 'u' },
    { "brokers",      required_argument, NULL, 'b' },
    { "topic",        required_argument, NULL, 't' },
    { "partitions",   required_argument, NULL, 'p' },
    { "count",        required_argument, NULL, 'n' },
    { "size",         required_argument, NULL, 's' },
    { "clients",      required_argument, NULL, 'c' },
    { "max-clients",  required_argument, NULL, 'C' },
    { "rate",         required_argument, NULL, 'r' },
    { "duration",     required_argument, NULL, 'd' },
    { "max-duration", required_argument, NULL, 'D' },
    { "lag",          required_argument, NULL, 'l' },
    { "inflight",     required_argument, NULL, 'i' },
    { "sources",      required_argument, NULL, 'S' },
    { "worker-pid",   required_argument, NULL, 'w' },
    { "watch",        required_argument, NULL, 'W' },
    { "property",     required_argument, NULL, 'X' },
    { "timeout",      required_argument, NULL, 'T' },
    { "label",        required_argument, NULL, 'L' },
    { "hold",         required_argument, NULL, 'H' },
    { "status",       required_argument, NULL, 'U' },
    { "request",      required_argument, NULL, 'Q' },
    { "last",         required_argument, NULL, 'E' },
    { "starts",       required_argument, NULL, 'k' },
    { "window",       required_argument, NULL, 'P' },
    { "groups",       required_argument, NULL, 'g' },
    { "interval",     required_argument, NULL, 'I' },
    { "all-partitions", no_argument,     NULL, 'A' },
    { "remote",       no_argument,       NULL, 'R' },
    { "no-seq-check", no_argument,       NULL, 'N' },
    { "verbose",      no_argument,       NULL, 'v' },
    { "help",         no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static void
bench_usage(void)
{
    fprintf(stderr,
        "usage: pubsub-bench SCENARIO [options]\n"
        "scenarios: fill ceiling catchup tail-bare fanout mixed idle\n"
        "           push-catchup push-fanout scatter scatter-fetch\n"
        "           produce produce-bare produce-latency commits probe\n"
        "  --url ws://HOST:PORT/PATH    the gateway\n"
        "  --brokers HOST:PORT[,...]    Kafka bootstrap list\n"
        "  --topic NAME --partitions 0-31\n"
        "  --count N --size BYTES       messages to fill (size 100)\n"
        "  --clients C --max-clients M  WebSocket clients\n"
        "  --rate R --duration S        fixed producer rate and time\n"
        "  --max-duration S --lag L     the as-fast-as-it-can phase\n"
        "  --inflight K                 catch-up: partitions at once\n"
        "  --sources 127.0.0.2-127.0.0.9  local addresses to bind\n"
        "  --worker-pid PID             the process whose memory counts\n"
        "  --watch NAME=PID             report its CPU use (repeat)\n"
        "  --property NAME=VALUE        librdkafka property of the bare\n"
        "                               consumer (repeat)\n"
        "  --hold S                     idle: keep the connections S s\n"
        "  --last N                     ceiling, scatter: the last N messages\n"
        "  --starts K                   first requests in flight at once\n"
        "  --window W                   subscriptions' window (0: none)\n"
        "  --all-partitions             push-catchup: all_partitions\n"
        "  --groups G --interval MS     commits: groups, time between two\n"
        "  --status http://HOST:PORT/PATH  the gateway's pubsub_kafka_status\n"
        "  --request produce|commit     probe: the command to try\n"
        "  --timeout S --label TEXT --remote --no-seq-check -v\n");
    exit(2);
}


static void
bench_signal(int signo)
{
    bench_stop = 1;
}


double
bench_seconds(int64_t from, int64_t to)
{
    return (double) (to - from) / 1e6;
}


void
bench_json_common(bench_json_t *j)
{
    if (bench_conf.label) {
        bench_json_str(j, "label", bench_conf.label);
    }
}


/* any client lost is an error of the run */

void
bench_check_pool(void)
{
    if (bench_pool.failed) {
        bench_fatal("%u connection(s) failed, the last: %s",
                    bench_pool.failed, bench_pool.err);
    }

    if (bench_stop) {
        bench_fatal("interrupted");
    }
}


void
bench_open_pool(void)
{
    if (bench_conf.url == NULL) {
        bench_fatal("--url is required");
    }

    if (bench_pool_init(&bench_pool, bench_ep, bench_conf.url,
                        bench_conf.sources, bench_conf.remote)
        != 0)
    {
        bench_fatal("%s", bench_pool.err);
    }
}


/*
 * Opens n connections, BENCH_CONNECTING_MAX at a time.  tolerate: stop at
 * the first failure instead of failing the run (returns with fewer).
 */

void
bench_connect_all(int n, bench_conn_pt on_open, bench_resp_pt on_resp,
    void **data, bench_conn_t **conns, int64_t deadline, int tolerate)
{
    int            i;
    bench_conn_t  *c;

    i = 0;

    while (!bench_stop) {
        while (i < n && bench_pool.connecting < BENCH_CONNECTING_MAX
               && !(tolerate && bench_pool.failed))
        {
            c = bench_connect(&bench_pool, on_open, on_resp,
                              data ? data[i] : NULL);
            if (c == NULL) {
                if (tolerate) {
                    bench_pool.failed++;
                    break;
                }

                bench_fatal("connection %d: %s", i, bench_pool.err);
            }

            if (conns) {
                conns[i] = c;
            }

            i++;
        }

        if (!tolerate) {
            bench_check_pool();
        }

        if ((i == n || (tolerate && bench_pool.failed))
            && bench_pool.connecting == 0)
        {
            return;
        }

        if (bench_now() > deadline) {
            if (tolerate) {
                return;
            }

            bench_fatal("%u of %d connections open after the time limit",
                        bench_pool.open, n);
        }

        bench_poll(bench_ep, 10);
    }
}


int
main(int argc, char **argv)
{
    int                ch, rc;
    struct sigaction   sa;
    bench_conf_t      *cf;

    cf = &bench_conf;

    if (argc < 2 || argv[1][0] == '-') {
        bench_usage();
    }

    cf->scenario = argv[1];
    cf->topic = "bench";
    cf->size = 100;
    cf->clients = 1;
    cf->rate = 1000;
    cf->duration = 5;
    cf->max_duration = 5;
    cf->lag = 20000;
    cf->inflight = 32;
    cf->timeout = 120;
    cf->check_seq = 1;
    cf->starts = 128;
    cf->groups = 10;
    cf->interval = 100;
    cf->parts[0] = 0;
    cf->nparts = 1;

    optind = 2;

    while ((ch = getopt_long(argc, argv, "hv", bench_options, NULL)) != -1) {
        switch (ch) {
        case 'u': cf->url = optarg; break;
        case 'b': cf->brokers = optarg; break;
        case 't': cf->topic = optarg; break;
        case 'p':
            cf->nparts = bench_parse_partitions(optarg, cf->parts,
                                                BENCH_MAX_PARTITIONS);
            if (cf->nparts <= 0) {
                bench_fatal("bad --partitions \"%s\"", optarg);
            }
            break;
        case 'n': cf->count = strtoll(optarg, NULL, 10); break;
        case 's': cf->size = strtoul(optarg, NULL, 10); break;
        case 'c': cf->clients = atoi(optarg); break;
        case 'C': cf->max_clients = atoi(optarg); break;
        case 'r': cf->rate = strtod(optarg, NULL); break;
        case 'd': cf->duration = strtod(optarg, NULL); break;
        case 'D': cf->max_duration = strtod(optarg, NULL); break;
        case 'l': cf->lag = strtoll(optarg, NULL, 10); break;
        case 'i': cf->inflight = atoi(optarg); break;
        case 'S': cf->sources = optarg; break;
        case 'w': cf->worker = (pid_t) atoi(optarg); break;
        case 'W':
            if (bench_watch_add(optarg) != 0) {
                bench_fatal("bad --watch \"%s\"", optarg);
            }
            break;
        case 'X':
            if (bench_add_prop(optarg) != 0) {
                bench_fatal("bad --property \"%s\"", optarg);
            }
            break;
        case 'T': cf->timeout = strtod(optarg, NULL); break;
        case 'L': cf->label = optarg; break;
        case 'H': cf->hold = strtod(optarg, NULL); break;
        case 'U': cf->status = optarg; break;
        case 'Q': cf->request = optarg; break;
        case 'E': cf->last = strtoll(optarg, NULL, 10); break;
        case 'k': cf->starts = atoi(optarg); break;
        case 'P': cf->window = atoi(optarg); break;
        case 'g': cf->groups = atoi(optarg); break;
        case 'I': cf->interval = strtod(optarg, NULL); break;
        case 'A': cf->all_partitions = 1; break;
        case 'R': cf->remote = 1; break;
        case 'N': cf->check_seq = 0; break;
        case 'v': bench_set_verbose(1); break;
        default: bench_usage();
        }
    }

    if (optind != argc || cf->clients < 0 || cf->inflight < 1
        || cf->rate < 0 || cf->duration < 0 || cf->lag < 1 || cf->starts < 1
        || cf->window < 0 || cf->groups < 1 || cf->interval <= 0
        || cf->last < 0)
    {
        bench_usage();
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = bench_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    bench_ep = epoll_create1(EPOLL_CLOEXEC);
    if (bench_ep == -1) {
        bench_fatal("epoll_create1(): %s", strerror(errno));
    }

    if (strcmp(cf->scenario, "fill") == 0) {
        rc = bench_fill();

    } else if (strcmp(cf->scenario, "ceiling") == 0) {
        rc = bench_ceiling();

    } else if (strcmp(cf->scenario, "catchup") == 0) {
        rc = bench_catchup();

    } else if (strcmp(cf->scenario, "tail-bare") == 0) {
        rc = bench_tail_bare();

    } else if (strcmp(cf->scenario, "fanout") == 0) {
        rc = bench_fanout();

    } else if (strcmp(cf->scenario, "mixed") == 0) {
        rc = bench_mixed();

    } else if (strcmp(cf->scenario, "idle") == 0) {
        rc = bench_idle();

    } else if (strcmp(cf->scenario, "push-fanout") == 0) {
        rc = bench_fanout();

    } else if (strcmp(cf->scenario, "push-catchup") == 0) {
        rc = bench_push_catchup();

    } else if (strcmp(cf->scenario, "scatter") == 0) {
        rc = bench_scatter(1);

    } else if (strcmp(cf->scenario, "scatter-fetch") == 0) {
        rc = bench_scatter(0);

    } else if (strcmp(cf->scenario, "produce") == 0) {
        rc = bench_produce_gw();

    } else if (strcmp(cf->scenario, "produce-bare") == 0) {
        rc = bench_produce_bare();

    } else if (strcmp(cf->scenario, "produce-latency") == 0) {
        rc = bench_produce_latency();

    } else if (strcmp(cf->scenario, "commits") == 0) {
        rc = bench_commits();

    } else if (strcmp(cf->scenario, "probe") == 0) {
        rc = bench_probe();

    } else {
        bench_usage();
        rc = 2;
    }

    /* connections and librdkafka handles go with the process */

    fflush(stdout);
    _exit(rc);
}


/* fill: the data of the catch-up scenarios */

static int
bench_fill(void)
{
    int                i;
    int64_t            start, end, n, low, high;
    bench_json_t       j;
    bench_conf_t      *cf;
    bench_producer_t   p;

    cf = &bench_conf;

    if (cf->brokers == NULL || cf->count < cf->nparts) {
        bench_fatal("fill needs --brokers and --count >= partitions");
    }

    if (bench_producer_init(&p, cf->brokers, cf->topic, cf->parts,
                            cf->nparts, cf->size, 20)
        != 0)
    {
        bench_fatal("producer: %s", p.errstr);
    }

    start = bench_now();

    /* round the partitions, so that each gets its batches */

    for (n = 0; n < cf->count && !bench_stop; n++) {
        if (bench_produce(&p, (int) (n % cf->nparts)) != 0) {
            bench_fatal("%s", p.errstr);
        }

        if ((n & 1023) == 0) {
            bench_producer_poll(&p);
        }
    }

    if (bench_producer_flush(&p, 60000) != 0) {
        bench_fatal("fill: %s", p.errstr);
    }

    end = bench_now();

    /* the broker must still have every message of ours */

    for (i = 0; i < cf->nparts; i++) {
        if (bench_offsets(p.rk, cf->topic, cf->parts[i], &low, &high) != 0) {
            bench_fatal("fill: watermarks of partition %d unknown",
                        cf->parts[i]);
        }

        if (low != p.state[i].first
            || high != p.state[i].first + p.state[i].delivered)
        {
            bench_fatal("fill: partition %d holds offsets %lld-%lld, ours "
                        "are %lld-%lld: the broker dropped some (spread "
                        "the messages over more partitions)", cf->parts[i],
                        (long long) low, (long long) high,
                        (long long) p.state[i].first,
                        (long long) (p.state[i].first
                                     + p.state[i].delivered));
        }
    }

    bench_json_start(&j, "fill");
    bench_json_common(&j);
    bench_json_str(&j, "topic", cf->topic);
    bench_json_int(&j, "partitions", cf->nparts);
    bench_json_int(&j, "messages", p.delivered);
    bench_json_int(&j, "size", (int64_t) cf->size);
    bench_json_num(&j, "seconds", bench_seconds(start, end));
    bench_json_num(&j, "msgs_per_s", p.delivered / bench_seconds(start, end));
    bench_json_end(&j);

    bench_producer_destroy(&p);

    return 0;
}


/* ceiling: the bare consumer reads every partition from its first offset */

static int
bench_ceiling(void)
{
    int                i;
    int64_t            start, deadline;
    double             secs;
    bench_bare_t       bare;
    bench_json_t       j;
    bench_conf_t      *cf;
    bench_consumer_t   c;

    cf = &bench_conf;

    if (cf->brokers == NULL) {
        bench_fatal("ceiling needs --brokers");
    }

    memset(&bare, 0, sizeof(bench_bare_t));
    bare.ranges = bench_calloc(cf->nparts, sizeof(bench_range_t));
    bare.nranges = cf->nparts;

    if (bench_consumer_init(&c, bench_ep, cf->brokers, cf->topic,
                            bench_bare_message, &bare)
        != 0)
    {
        bench_fatal("consumer: %s", c.errstr);
    }

    /* untimed: the partitions' extent */

    for (i = 0; i < cf->nparts; i++) {
        bare.ranges[i].part = cf->parts[i];

        if (bench_offsets(c.rk, cf->topic, cf->parts[i], &bare.ranges[i].low,
                          &bare.ranges[i].high)
            != 0)
        {
            bench_fatal("ceiling: watermarks of partition %d unknown",
                        cf->parts[i]);
        }

        bare.ranges[i].next = bare.ranges[i].low;

        if (cf->last && bare.ranges[i].high - cf->last > bare.ranges[i].low)
        {
            bare.ranges[i].next = bare.ranges[i].high - cf->last;
        }

        bare.want += bare.ranges[i].high - bare.ranges[i].next;
    }

    if (bare.want == 0) {
        bench_fatal("ceiling: no messages in the partitions");
    }

    bench_log("ceiling: %lld messages in %d partitions",
              (long long) bare.want, cf->nparts);

    bench_watch_start();
    start = bench_now();
    deadline = start + (int64_t) (cf->timeout * 1e6);

    for (i = 0; i < cf->nparts; i++) {
        if (bench_consumer_start(&c, cf->parts[i], bare.ranges[i].next)
            != 0)
        {
            bench_fatal("%s", c.errstr);
        }
    }

    while (bare.received < bare.want) {
        bench_poll(bench_ep, 100);

        if (bench_now() > deadline || bench_stop) {
            bench_fatal("ceiling: %lld of %lld messages within the time "
                        "limit", (long long) bare.received,
                        (long long) bare.want);
        }
    }

    bench_watch_stop();
    secs = bench_seconds(start, bare.last);

    bench_json_start(&j, "ceiling");
    bench_json_common(&j);
    bench_json_str(&j, "topic", cf->topic);
    bench_json_int(&j, "partitions", cf->nparts);
    bench_json_int(&j, "messages", bare.received);

    if (cf->last) {
        bench_json_int(&j, "last", cf->last);
    }

    bench_json_num(&j, "seconds", secs);
    bench_json_num(&j, "msgs_per_s", bare.received / secs);
    bench_json_num(&j, "mb_per_s", bare.bytes / secs / 1e6);
    bench_watch_json(&j, secs);
    bench_json_end(&j);

    return 0;
}


static void
bench_bare_message(void *ctx, rd_kafka_message_t *m, int64_t now)
{
    int             i;
    int32_t         part;
    int64_t         t, seq;
    bench_bare_t   *bare = ctx;
    bench_range_t  *r;

    if (m->err) {
        bench_fatal("consumer: partition %d: %s", (int) m->partition,
                    rd_kafka_message_errstr(m));
    }

    r = NULL;

    for (i = 0; i < bare->nranges; i++) {
        if (bare->ranges[i].part == m->partition) {
            r = &bare->ranges[i];
            break;
        }
    }

    if (r == NULL || m->offset != r->next) {
        bench_fatal("consumer: partition %d: offset %lld, expected %lld",
                    (int) m->partition, (long long) m->offset,
                    (long long) (r ? r->next : -1));
    }

    if (bench_value_parse(m->payload, m->len, &t, &part, &seq) != 0
        || part != m->partition
        || (!bare->tail && bench_conf.check_seq && seq != m->offset - r->low)
        || (bare->tail && bare->last_seq >= 0 && seq != bare->last_seq + 1))
    {
        bench_fatal("consumer: partition %d offset %lld: wrong value",
                    (int) m->partition, (long long) m->offset);
    }

    r->next++;
    bare->received++;
    bare->bytes += m->len;
    bare->last = now;
    bare->last_seq = seq;

    if (bare->tail) {
        bench_hist_add(&bare->hist, now - t);
    }
}


/*
 * tail-bare: the broker's own latency, producer to a consumer at the end
 * of the partition with the same fetch wait the gateway uses
 */

static int
bench_tail_bare(void)
{
    int64_t            start, now, due, n, deadline, low, high;
    double             secs;
    bench_bare_t       bare;
    bench_json_t       j;
    bench_conf_t      *cf;
    bench_producer_t   p;
    bench_consumer_t   c;

    cf = &bench_conf;

    if (cf->brokers == NULL) {
        bench_fatal("tail-bare needs --brokers");
    }

    memset(&bare, 0, sizeof(bench_bare_t));
    bare.ranges = bench_calloc(1, sizeof(bench_range_t));
    bare.nranges = 1;
    bare.tail = 1;
    bare.last_seq = -1;
    bench_hist_init(&bare.hist);

    if (bench_consumer_init(&c, bench_ep, cf->brokers, cf->topic,
                            bench_bare_message, &bare)
        != 0)
    {
        bench_fatal("consumer: %s", c.errstr);
    }

    if (bench_producer_init(&p, cf->brokers, cf->topic, cf->parts, 1,
                            cf->size, 0)
        != 0)
    {
        bench_fatal("producer: %s", p.errstr);
    }

    if (bench_offsets(c.rk, cf->topic, cf->parts[0], &low, &high) != 0) {
        bench_fatal("tail-bare: watermarks unknown");
    }

    bare.ranges[0].part = cf->parts[0];
    bare.ranges[0].low = high;
    bare.ranges[0].next = high;

    if (bench_consumer_start(&c, cf->parts[0], high) != 0) {
        bench_fatal("%s", c.errstr);
    }

    /* the consumer is at the end once a few fetches went by */

    start = bench_now();

    while (bench_now() - start < 500000) {
        bench_poll(bench_ep, 10);
    }

    n = (int64_t) (cf->rate * cf->duration);
    bare.want = n;

    bench_watch_start();
    start = bench_now();
    deadline = start + (int64_t) ((cf->duration + cf->timeout) * 1e6);

    while (bare.received < n) {
        now = bench_now();
        due = (int64_t) (cf->rate * (now - start) / 1e6);

        while (p.sent < n && p.sent < due) {
            if (bench_produce(&p, 0) != 0) {
                bench_fatal("%s", p.errstr);
            }
        }

        bench_producer_poll(&p);
        bench_poll(bench_ep, 1);

        if (bench_now() > deadline || bench_stop) {
            bench_fatal("tail-bare: %lld of %lld messages within the time "
                        "limit", (long long) bare.received, (long long) n);
        }
    }

    bench_watch_stop();

    if (bench_producer_flush(&p, 10000) != 0) {
        bench_fatal("tail-bare: %s", p.errstr);
    }

    secs = bench_seconds(start, bare.last);

    bench_json_start(&j, "tail_bare");
    bench_json_common(&j);
    bench_json_int(&j, "messages", bare.received);
    bench_json_num(&j, "rate", cf->rate);
    bench_json_num(&j, "seconds", secs);
    bench_json_hist(&j, "lat", &bare.hist);
    bench_watch_json(&j, secs);
    bench_json_end(&j);

    return 0;
}


/* catchup: one client, the same messages as the ceiling */

static int
bench_catchup(void)
{
    int64_t           deadline, wire, answers;
    double            secs;
    bench_json_t      j;
    bench_conf_t     *cf;
    bench_catchup_t   cu;

    cf = &bench_conf;

    bench_open_pool();
    bench_catchup_init(&cu, cf->check_seq);

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    cu.conn = bench_connect(&bench_pool, bench_catchup_open,
                            bench_catchup_resp, &cu);
    if (cu.conn == NULL) {
        bench_fatal("%s", bench_pool.err);
    }

    /* list the partitions' extent first, untimed */

    while (cu.listed < cu.nparts) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("catchup: offsets not listed in time");
        }
    }

    wire = bench_pool.wire_bytes;
    answers = bench_pool.answers;

    bench_watch_start();
    cu.first = bench_now();

    bench_catchup_next(&cu);

    while (cu.finished < cu.nparts) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("catchup: %lld messages, %d of %d partitions "
                        "complete within the time limit",
                        (long long) cu.received, cu.finished, cu.nparts);
        }
    }

    bench_watch_stop();
    secs = bench_seconds(cu.first, cu.last);

    bench_json_start(&j, "catchup");
    bench_json_common(&j);
    bench_json_str(&j, "topic", cf->topic);
    bench_json_int(&j, "partitions", cu.nparts);
    bench_json_int(&j, "inflight", cu.inflight);
    bench_json_int(&j, "messages", cu.received);
    bench_json_num(&j, "seconds", secs);
    bench_json_num(&j, "msgs_per_s", cu.received / secs);
    bench_json_num(&j, "mb_per_s", cu.bytes / secs / 1e6);
    bench_json_num(&j, "wire_mb_per_s",
                   (bench_pool.wire_bytes - wire) / secs / 1e6);
    bench_json_int(&j, "answers", (int64_t) (bench_pool.answers - answers));
    bench_json_int(&j, "empty_answers", cu.empty);
    bench_json_num(&j, "msgs_per_answer",
                   (double) cu.received
                   / (double) (bench_pool.answers - answers));
    bench_watch_json(&j, secs);
    bench_json_end(&j);

    return 0;
}


static void
bench_catchup_init(bench_catchup_t *cu, int check_seq)
{
    int            i;
    bench_conf_t  *cf;

    cf = &bench_conf;

    memset(cu, 0, sizeof(bench_catchup_t));

    if (cf->nparts > (1 << BENCH_SLOT_BITS)) {
        bench_fatal("too many partitions for one client");
    }

    cu->parts = bench_calloc(cf->nparts, sizeof(bench_cpart_t));
    cu->nparts = cf->nparts;
    cu->inflight = cf->inflight < cf->nparts ? cf->inflight : cf->nparts;
    cu->check_seq = check_seq;

    for (i = 0; i < cf->nparts; i++) {
        cu->parts[i].part = cf->parts[i];
    }
}


/* sequences carry the partition's slot in their low bits */

static int64_t
bench_catchup_seq(bench_catchup_t *cu, bench_cpart_t *cp)
{
    cu->counter++;

    return cu->counter << BENCH_SLOT_BITS | (int64_t) (cp - cu->parts);
}


static void
bench_catchup_open(bench_conn_t *c)
{
    bench_catchup_t  *cu = c->data;

    cu->listed = 0;
    bench_catchup_list(cu, &cu->parts[0]);
}


/* earliest, then latest; one at a time */

static void
bench_catchup_list(bench_catchup_t *cu, bench_cpart_t *cp)
{
    pubsub_req_t  r;

    cp->listing = (cp->listing == 1) ? 2 : 1;
    cp->seq = bench_catchup_seq(cu, cp);

    pubsub_req_list_offset(&r, cp->seq, bench_conf.topic, cp->part,
                           cp->listing == 1 ? -2 : -1);

    (void) bench_send_req(cu->conn, &r);
}


static void
bench_catchup_fetch(bench_catchup_t *cu, bench_cpart_t *cp)
{
    pubsub_req_t  r;

    cp->seq = bench_catchup_seq(cu, cp);
    cp->sent = bench_now();

    pubsub_req_fetch(&r, cp->seq, bench_conf.topic, cp->part, cp->next);

    (void) bench_send_req(cu->conn, &r);
}


/* begins partitions while fewer than cu->inflight are being read */

static void
bench_catchup_next(bench_catchup_t *cu)
{
    bench_cpart_t  *cp;

    while (cu->started < cu->nparts
           && cu->started - cu->finished < cu->inflight)
    {
        cp = &cu->parts[cu->started++];

        if (cp->next >= cp->high) {
            cp->done = 1;
            cu->finished++;
            continue;
        }

        bench_catchup_fetch(cu, cp);
    }
}


static void
bench_catchup_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    size_t            i;
    int32_t           part;
    int64_t           t, seq;
    KafkaMessage     *m;
    bench_cpart_t    *cp;
    KafkaFetchResp   *fr;
    bench_catchup_t  *cu = c->data;

    seq = resp->sequence & ((1 << BENCH_SLOT_BITS) - 1);

    if (seq >= cu->nparts || cu->parts[seq].seq != resp->sequence) {
        bench_fatal("catchup: answer with unexpected sequence %lld",
                    (long long) resp->sequence);
    }

    cp = &cu->parts[seq];
    cp->seq = 0;

    if (cu->stop) {
        /* the measurement is over */
        return;
    }

    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        bench_fatal("catchup: partition %d: %s", cp->part,
                    resp->error_resp->message);
    }

    if (cp->listing) {
        if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP) {
            bench_fatal("catchup: list offset answered with %d",
                        resp->resp_case);
        }

        if (cp->listing == 1) {
            cp->low = resp->kafka_list_offset_resp->offset;

            if (cu->loop && cu->passes > 0) {
                /*
                 * a pass reads the history the partition had when the
                 * first began: what the tail adds meanwhile comes in
                 * one-message sets, one per Fetch from the mock
                 */

                cp->listing = 0;
                cp->next = cp->low;
                cu->passes++;
                bench_catchup_fetch(cu, cp);
                return;
            }

            bench_catchup_list(cu, cp);
            return;
        }

        cp->high = resp->kafka_list_offset_resp->offset;
        cp->next = cp->low;
        cp->listing = 0;

        if (cu->loop) {
            /* a new pass of the history */
            cu->passes++;
            bench_catchup_fetch(cu, cp);
            return;
        }

        cu->listed++;

        if (cu->listed < cu->nparts) {
            bench_catchup_list(cu, &cu->parts[cu->listed]);
        }

        return;
    }

    if (resp->resp_case != PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP) {
        bench_fatal("catchup: fetch answered with %d", resp->resp_case);
    }

    fr = resp->kafka_fetch_resp;
    cu->answers++;

    bench_log("catchup: partition %d offset %lld: %zu messages after "
              "%.1f ms", cp->part, (long long) cp->next, fr->n_messages,
              (now - cp->sent) / 1000.0);

    if (fr->n_messages == 0) {
        cu->empty++;
    }

    for (i = 0; i < fr->n_messages; i++) {
        m = fr->messages[i];

        if (m->offset != cp->next) {
            bench_fatal("catchup: partition %d: offset %lld, expected %lld",
                        cp->part, (long long) m->offset,
                        (long long) cp->next);
        }

        if (bench_value_parse(m->value.data, m->value.len, &t, &part, &seq)
            != 0
            || part != cp->part
            || (cu->check_seq && seq != m->offset - cp->low))
        {
            bench_fatal("catchup: partition %d offset %lld: wrong value",
                        cp->part, (long long) m->offset);
        }

        cp->next++;
        cu->received++;
        cu->bytes += m->value.len;
    }

    if (fr->n_messages) {
        cu->last = now;
    }

    if (cp->next < cp->high) {
        bench_catchup_fetch(cu, cp);
        return;
    }

    if (cu->loop) {
        if (!cu->stop) {
            bench_catchup_list(cu, cp);
        }

        return;
    }

    cp->done = 1;
    cu->finished++;
    bench_catchup_next(cu);
}


/* clients tailing a partition */

void
bench_fan_init(bench_fan_t *fan, int n)
{
    int  i;

    memset(fan, 0, sizeof(bench_fan_t));

    fan->topic = bench_conf.topic;
    fan->part = bench_conf.parts[0];
    fan->ntails = n;
    fan->tails = bench_calloc(n ? n : 1, sizeof(bench_tail_t));

    for (i = 0; i < n; i++) {
        fan->tails[i].fan = fan;
        fan->tails[i].next = -1;
        fan->tails[i].last_seq = -1;
    }

    for (i = 0; i < BENCH_PHASES; i++) {
        bench_hist_init(&fan->hist[i]);
        fan->phase_seq[i] = INT64_MAX;
    }
}


/* all clients open, at the end of the partition, each with one answer */

void
bench_fan_connect(bench_fan_t *fan, int64_t deadline)
{
    int     i;
    void  **data;

    if (fan->ntails == 0) {
        return;
    }

    data = bench_calloc(fan->ntails, sizeof(void *));

    for (i = 0; i < fan->ntails; i++) {
        data[i] = &fan->tails[i];
    }

    bench_connect_all(fan->ntails, bench_tail_open, bench_tail_resp, data,
                      NULL, deadline, 0);

    free(data);

    while (fan->nwarm < fan->ntails) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("%d of %d clients had an answer in time",
                        fan->nwarm, fan->ntails);
        }
    }
}


/*
 * A client's first request (a look-up of the end, or a subscription) waits
 * while --starts of them are unanswered: a gateway bounds the look-ups it
 * runs at once (pubsub_kafka_max_lookups), and clients that all connect at
 * once would run into the bound.
 */

static void
bench_tail_open(bench_conn_t *c)
{
    bench_tail_t  *t = c->data;
    bench_fan_t   *fan = t->fan;

    t->conn = c;

    if (fan->starting >= bench_conf.starts) {
        if (fan->waiting == NULL) {
            fan->waiting = bench_calloc(fan->ntails, sizeof(bench_tail_t *));
        }

        fan->waiting[fan->nwaiting++] = t;
        return;
    }

    bench_tail_start(t);
}


static void
bench_tail_start(bench_tail_t *t)
{
    t->started = 1;
    t->fan->starting++;

    if (t->fan->push) {
        bench_tail_subscribe(t);

    } else {
        bench_tail_send(t, 0);
    }
}


/* its first answer: the next client waiting may start */

static void
bench_tail_started(bench_tail_t *t)
{
    bench_fan_t  *fan = t->fan;

    fan->starting--;

    while (fan->next_waiting < fan->nwaiting
           && fan->starting < bench_conf.starts)
    {
        bench_tail_start(fan->waiting[fan->next_waiting++]);
    }
}


static void
bench_tail_send(bench_tail_t *t, int fetch)
{
    pubsub_req_t  r;

    t->seq++;

    if (fetch) {
        pubsub_req_fetch(&r, t->seq, t->fan->topic, t->fan->part, t->next);

    } else {
        pubsub_req_list_offset(&r, t->seq, t->fan->topic, t->fan->part, -1);
    }

    (void) bench_send_req(t->conn, &r);
}


/* a subscription of the partition from its end, with the fan's window */

static void
bench_tail_subscribe(bench_tail_t *t)
{
    pubsub_req_t           r;
    KafkaPartitionOffset   po, *ppo[1];

    kafka_partition_offset__init(&po);
    po.partition = t->fan->part;
    po.offset = -1;
    ppo[0] = &po;

    t->seq = 1;

    pubsub_req_subscribe(&r, t->seq, t->fan->topic);
    r.cmd.subscribe.partitions = ppo;
    r.cmd.subscribe.n_partitions = 1;
    r.cmd.subscribe.window = t->fan->window;

    (void) bench_send_req(t->conn, &r);
}


static void
bench_tail_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    int                  phase;
    size_t               i;
    int32_t              part;
    int64_t              ts, seq;
    bench_fan_t         *fan;
    pubsub_req_t         r;
    KafkaMessage        *m;
    KafkaSubscribeResp  *sr;
    bench_tail_t        *t = c->data;

    fan = t->fan;

    if (resp->resp_case == PUB_SUB_RESP__RESP_ERROR_RESP) {
        bench_fatal("client %u: request %lld: %s", c->index,
                    (long long) resp->sequence, resp->error_resp->message);
    }

    if (resp->sequence != t->seq) {
        bench_fatal("client %u: answer with sequence %lld to %lld",
                    c->index, (long long) resp->sequence,
                    (long long) t->seq);
    }

    switch (resp->resp_case) {

    case PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP:
        if (fan->push || t->next != -1) {
            bench_fatal("client %u: unexpected offset answer", c->index);
        }

        t->next = resp->kafka_list_offset_resp->offset;
        bench_tail_started(t);
        bench_tail_send(t, 1);
        return;

    case PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP:
        sr = resp->kafka_subscribe_resp;

        /* its start; any later position is a jump: messages were lost */

        if (!fan->push || t->next != -1 || sr->ended
            || sr->n_positions != 1
            || sr->positions[0]->partition != fan->part
            || sr->positions[0]->offset < 0)
        {
            bench_fatal("client %u: unexpected subscription answer "
                        "(%s, %zu positions, the first %lld)", c->index,
                        sr->ended ? "ended" : "not ended", sr->n_positions,
                        sr->n_positions
                        ? (long long) sr->positions[0]->offset : -1LL);
        }

        t->next = sr->positions[0]->offset;
        t->warm = 1;
        fan->nwarm++;
        bench_tail_started(t);
        return;

    case PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP:
        if (t->next == -1) {
            bench_fatal("client %u: messages before the start", c->index);
        }

        break;

    default:
        bench_fatal("client %u: unexpected answer %d", c->index,
                    resp->resp_case);
        return;
    }

    for (i = 0; i < resp->kafka_fetch_resp->n_messages; i++) {
        m = resp->kafka_fetch_resp->messages[i];

        if (m->offset != t->next) {
            bench_fatal("client %u: offset %lld, expected %lld", c->index,
                        (long long) m->offset, (long long) t->next);
        }

        if (bench_value_parse(m->value.data, m->value.len, &ts, &part, &seq)
            != 0
            || part != fan->part
            || (fan->push && m->partition != fan->part)
            || (t->last_seq >= 0 && seq != t->last_seq + 1))
        {
            bench_fatal("client %u: offset %lld: wrong value", c->index,
                        (long long) m->offset);
        }

        t->next++;
        t->last_seq = seq;
        t->received++;

        for (phase = BENCH_PHASES - 1; phase >= 0; phase--) {
            if (seq >= fan->phase_seq[phase]) {
                bench_hist_add(&fan->hist[phase], now - ts);
                fan->delivered[phase]++;
                fan->last[phase] = now;

                if (i == 0) {
                    fan->answers[phase]++;
                }

                break;
            }
        }
    }

    if (fan->push) {
        /* what was taken is granted back; credit gets no answer */

        if (fan->window && resp->kafka_fetch_resp->n_messages) {
            pubsub_req_credit(&r, 0, t->seq,
                              (int32_t) resp->kafka_fetch_resp->n_messages);
            (void) bench_send_req(c, &r);
            fan->credits++;
        }

        return;
    }

    if (!t->warm) {
        t->warm = 1;
        fan->nwarm++;
    }

    bench_tail_send(t, 1);
}


/* the sequence of the last message every client has, -1: none */

int64_t
bench_fan_min_seq(bench_fan_t *fan)
{
    int      i;
    int64_t  min;

    min = INT64_MAX;

    for (i = 0; i < fan->ntails; i++) {
        if (fan->tails[i].last_seq < min) {
            min = fan->tails[i].last_seq;
        }
    }

    return min;
}


/* every message produced is delivered, then every client has all */

void
bench_fan_wait(bench_fan_t *fan, bench_producer_t *p, int64_t deadline)
{
    int64_t  last;

    last = p->state[0].next_seq - 1;

    while (p->delivered + p->failed < p->sent
           || (fan->ntails && bench_fan_min_seq(fan) < last))
    {
        bench_producer_poll(p);
        bench_poll(bench_ep, 1);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("%lld of %lld messages delivered to the slowest "
                        "client within the time limit",
                        (long long) (bench_fan_min_seq(fan) + 1),
                        (long long) (last + 1));
        }
    }

    if (p->failed || p->err) {
        bench_fatal("producer: %s", p->errstr[0] ? p->errstr
                    : rd_kafka_err2str(p->err));
    }
}


void
bench_fan_json(bench_fan_t *fan, int phase, const char *name, int64_t start,
    int64_t produced, int64_t produce_end, double rate)
{
    double         secs;
    bench_json_t   j;

    secs = bench_seconds(start, fan->last[phase]);

    bench_json_start(&j, fan->push ? "push_fanout" : "fanout");
    bench_json_common(&j);
    bench_json_str(&j, "phase", name);
    bench_json_int(&j, "clients", fan->ntails);

    if (fan->push) {
        bench_json_int(&j, "window", fan->window);
        bench_json_int(&j, "credits", fan->credits);
    }

    bench_json_num(&j, "rate", rate);
    bench_json_int(&j, "messages", produced);
    bench_json_num(&j, "produce_seconds", bench_seconds(start, produce_end));
    bench_json_num(&j, "produced_per_s",
                   produced / bench_seconds(start, produce_end));
    bench_json_num(&j, "seconds", secs);
    bench_json_int(&j, "deliveries", fan->delivered[phase]);
    bench_json_num(&j, "deliveries_per_s", fan->delivered[phase] / secs);
    bench_json_int(&j, "answers", fan->answers[phase]);
    bench_json_num(&j, "msgs_per_answer", fan->answers[phase]
                   ? (double) fan->delivered[phase] / fan->answers[phase]
                   : 0);
    bench_json_hist(&j, "lat", &fan->hist[phase]);
    bench_watch_json(&j, secs);
    bench_json_end(&j);
}


static int
bench_fanout(void)
{
    int64_t            start, now, due, n, deadline, end, min, k;
    bench_fan_t        fan;
    bench_conf_t      *cf;
    bench_producer_t   p;

    cf = &bench_conf;

    if (cf->brokers == NULL || cf->clients < 1) {
        bench_fatal("fanout needs --brokers and --clients");
    }

    bench_open_pool();
    bench_fan_init(&fan, cf->clients);

    fan.push = (strcmp(cf->scenario, "push-fanout") == 0);
    fan.window = cf->window;

    if (bench_producer_init(&p, cf->brokers, cf->topic, cf->parts, 1,
                            cf->size, 0)
        != 0)
    {
        bench_fatal("producer: %s", p.errstr);
    }

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    bench_fan_connect(&fan, deadline);

    bench_log("fanout: %d clients at the end of %s/%d", cf->clients,
              cf->topic, cf->parts[0]);

    /* phase 0: a fixed rate */

    n = (int64_t) (cf->rate * cf->duration);

    if (n > 0) {
        fan.phase_seq[0] = 0;

        bench_watch_start();
        start = bench_now();
        end = start;

        while (p.sent < n) {
            now = bench_now();
            due = (int64_t) (cf->rate * (now - start) / 1e6);

            while (p.sent < n && p.sent < due) {
                if (bench_produce(&p, 0) != 0) {
                    bench_fatal("%s", p.errstr);
                }
            }

            end = now;
            bench_producer_poll(&p);
            bench_poll(bench_ep, 1);
            bench_check_pool();
        }

        bench_fan_wait(&fan, &p, bench_now()
                                 + (int64_t) (cf->timeout * 1e6));
        bench_watch_stop();

        bench_fan_json(&fan, 0, "rate", start, n, end, cf->rate);
    }

    /* phase 1: as fast as it can, the slowest client at most --lag behind */

    if (cf->max_duration > 0) {
        fan.phase_seq[1] = p.state[0].next_seq;
        k = p.sent;

        bench_watch_start();
        start = bench_now();
        end = start;

        while ((now = bench_now()) - start < cf->max_duration * 1e6) {
            min = bench_fan_min_seq(&fan);
            n = 0;

            while (p.state[0].next_seq - 1 - min < cf->lag && n < 1000) {
                if (bench_produce(&p, 0) != 0) {
                    bench_fatal("%s", p.errstr);
                }

                n++;
            }

            end = now;
            bench_producer_poll(&p);
            bench_poll(bench_ep, n ? 0 : 1);
            bench_check_pool();
        }

        bench_fan_wait(&fan, &p, bench_now()
                                 + (int64_t) (cf->timeout * 1e6));
        bench_watch_stop();

        bench_fan_json(&fan, 1, "max", start, p.sent - k, end, 0);
    }

    if (bench_producer_flush(&p, 10000) != 0) {
        bench_fatal("fanout: %s", p.errstr);
    }

    return 0;
}


/*
 * mixed: the tail at a fixed rate while one more client reads the
 * partition's history, from its first offset to the end it had when the
 * pass began, pass after pass; --clients 0 measures the reader alone
 */

static int
bench_mixed(void)
{
    void              *cu_data;
    int64_t            start, now, due, n, deadline, end, received, bytes,
                       answers;
    double             secs;
    bench_fan_t        fan;
    bench_json_t       j;
    bench_conf_t      *cf;
    bench_catchup_t    cu;
    bench_producer_t   p;

    cf = &bench_conf;

    if (cf->brokers == NULL) {
        bench_fatal("mixed needs --brokers");
    }

    cf->nparts = 1;

    bench_open_pool();
    bench_fan_init(&fan, cf->clients);
    bench_catchup_init(&cu, 0);
    cu.loop = 1;
    cu.inflight = 1;

    if (bench_producer_init(&p, cf->brokers, cf->topic, cf->parts, 1,
                            cf->size, 0)
        != 0)
    {
        bench_fatal("producer: %s", p.errstr);
    }

    deadline = bench_now() + (int64_t) (cf->timeout * 1e6);

    bench_fan_connect(&fan, deadline);

    cu_data = &cu;
    bench_connect_all(1, NULL, bench_catchup_resp, &cu_data, &cu.conn,
                      deadline, 0);

    n = (int64_t) (cf->rate * cf->duration);
    fan.phase_seq[0] = 0;

    bench_watch_start();
    start = bench_now();
    end = start;
    cu.first = start;

    /* the first pass */
    bench_catchup_list(&cu, &cu.parts[0]);

    while ((now = bench_now()) - start < cf->duration * 1e6) {
        due = (int64_t) (cf->rate * (now - start) / 1e6);

        while (fan.ntails && p.sent < n && p.sent < due) {
            if (bench_produce(&p, 0) != 0) {
                bench_fatal("%s", p.errstr);
            }
        }

        end = now;
        bench_producer_poll(&p);
        bench_poll(bench_ep, 1);
        bench_check_pool();
    }

    /* the reader's figure is for the time given; the tail must finish */

    cu.stop = 1;
    secs = bench_seconds(start, end);
    received = cu.received;
    bytes = cu.bytes;
    answers = cu.answers;

    bench_fan_wait(&fan, &p, bench_now() + (int64_t) (cf->timeout * 1e6));
    bench_watch_stop();

    bench_json_start(&j, "mixed");
    bench_json_common(&j);
    bench_json_int(&j, "clients", fan.ntails);
    bench_json_num(&j, "rate", fan.ntails ? cf->rate : 0);
    bench_json_num(&j, "seconds", secs);
    bench_json_int(&j, "catchup_messages", received);
    bench_json_int(&j, "catchup_passes", cu.passes);
    bench_json_num(&j, "catchup_msgs_per_s", received / secs);
    bench_json_num(&j, "catchup_mb_per_s", bytes / secs / 1e6);
    bench_json_int(&j, "catchup_empty_answers", cu.empty);
    bench_json_int(&j, "catchup_answers", answers);

    if (fan.ntails) {
        bench_json_int(&j, "tail_messages", p.sent);
        bench_json_int(&j, "deliveries", fan.delivered[0]);
        bench_json_num(&j, "deliveries_per_s",
                       fan.delivered[0]
                       / bench_seconds(start, fan.last[0]));
        bench_json_hist(&j, "lat", &fan.hist[0]);
    }

    bench_watch_json(&j, bench_seconds(start, bench_now()));
    bench_json_end(&j);

    return 0;
}


/*
 * idle: connections that only made the handshake.  The worker's resident
 * memory before and after, divided by the connections; then as many more
 * as the machine allows, up to --max-clients.
 */

static int             bench_idle_pongs;


static void
bench_idle_resp(bench_conn_t *c, PubSubResp *resp, int64_t now)
{
    if (resp->resp_case != PUB_SUB_RESP__RESP_PONG_RESP
        || resp->sequence != (int64_t) c->index + 1)
    {
        bench_fatal("idle: client %u: unexpected answer", c->index);
    }

    bench_idle_pongs++;
}


static void
bench_idle_json(const char *phase, long rss0, int64_t start,
    const char *stopped)
{
    long           rss;
    bench_json_t   j;

    rss = bench_proc_rss_kb(bench_conf.worker);

    bench_json_start(&j, "idle");
    bench_json_common(&j);
    bench_json_str(&j, "phase", phase);
    bench_json_int(&j, "connections", bench_pool.open);
    bench_json_num(&j, "connect_seconds", bench_seconds(start, bench_now()));
    bench_json_int(&j, "rss_before_kb", rss0);
    bench_json_int(&j, "rss_kb", rss);
    bench_json_num(&j, "bytes_per_connection",
                   bench_pool.open
                   ? (double) (rss - rss0) * 1024 / bench_pool.open : 0);
    bench_json_int(&j, "self_rss_kb", bench_proc_rss_kb(getpid()));

    if (stopped) {
        bench_json_str(&j, "stopped_by", stopped);
    }

    bench_json_end(&j);
}


/* keeps the connections open a while, for a look at the worker */

static void
bench_idle_hold(void)
{
    int64_t  end;

    end = bench_now() + (int64_t) (bench_conf.hold * 1e6);

    while (bench_now() < end && !bench_stop) {
        bench_poll(bench_ep, 100);
    }
}


static int
bench_idle(void)
{
    int             i, n, probes;
    long            rss0;
    char            stopped[600];
    int64_t         start, settle, deadline;
    bench_conf_t   *cf;
    bench_conn_t  **conns;
    pubsub_req_t    r;
    struct rlimit   rl;

    cf = &bench_conf;

    if (cf->worker <= 0 || bench_proc_rss_kb(cf->worker) < 0) {
        bench_fatal("idle needs --worker-pid of a running process");
    }

    n = cf->max_clients > cf->clients ? cf->max_clients : cf->clients;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t) n + 64)
    {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);

        if (rl.rlim_cur < (rlim_t) n + 64 && cf->max_clients == 0) {
            bench_fatal("idle: %d clients need \"ulimit -n\" of %d",
                        n, n + 64);
        }
    }

    bench_open_pool();

    conns = bench_calloc(n, sizeof(bench_conn_t *));

    /* the worker settles from earlier runs */
    usleep(200000);
    rss0 = bench_proc_rss_kb(cf->worker);

    start = bench_now();
    deadline = start + (int64_t) (cf->timeout * 1e6);

    bench_connect_all(cf->clients, NULL, bench_idle_resp, NULL, conns,
                      deadline, 0);

    /* a ping on a few of them: they are alive and speak the protocol */

    probes = cf->clients < 16 ? cf->clients : 16;

    for (i = 0; i < probes; i++) {
        pubsub_req_ping(&r, (int64_t) conns[i]->index + 1,
                        (u_char *) "idle", 4);
        (void) bench_send_req(conns[i], &r);
    }

    settle = bench_now() + 1000000;

    while (bench_idle_pongs < probes || bench_now() < settle) {
        bench_poll(bench_ep, 10);
        bench_check_pool();

        if (bench_now() > deadline) {
            bench_fatal("idle: %d of %d pongs", bench_idle_pongs, probes);
        }
    }

    bench_idle_json("clients", rss0, start, NULL);

    if (cf->max_clients <= cf->clients) {
        bench_idle_hold();
        return 0;
    }

    /* then as many as it takes */

    deadline = bench_now() + (int64_t) (cf->max_duration * 1e6);

    bench_connect_all(cf->max_clients - cf->clients, NULL, bench_idle_resp,
                      NULL, conns + cf->clients, deadline, 1);

    if (bench_pool.failed) {
        snprintf(stopped, sizeof(stopped), "%s", bench_pool.err);

    } else if (bench_pool.open < (uint32_t) cf->max_clients) {
        snprintf(stopped, sizeof(stopped), "time limit of %g s",
                 cf->max_duration);

    } else {
        snprintf(stopped, sizeof(stopped), "--max-clients %d",
                 cf->max_clients);
    }

    bench_log("idle: %u open, stopped by %s", bench_pool.open, stopped);

    /* a failed connection may have been accepted: let the worker see it */

    settle = bench_now() + 2000000;

    while (bench_now() < settle) {
        bench_poll(bench_ep, 10);
    }

    bench_idle_json("max", rss0, start, stopped);
    bench_idle_hold();

    return 0;
}
