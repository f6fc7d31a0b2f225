#!/bin/bash
# The benchmark suite: "make bench" (bash bench/run.sh) and "make
# bench-smoke" (bash bench/run.sh --smoke).
#
# Starts the mock Kafka cluster (build/pubsub-kafka-mock) and nginx with
# one worker (so the figures are per worker, i.e. per core), runs the
# scenarios with build/pubsub-bench, prints one table and writes the
# results as JSON: bench/results/bench-DATE.json for a full run,
# build/bench/smoke.json for a smoke run.  A scenario whose data is wrong
# or incomplete fails the run; timings never do.
#
# Environment: BENCH_N (messages of the catch-up data), BENCH_PARTITIONS,
# BENCH_CLIENTS ("1 100 1000"), BENCH_RATE (msg/s), BENCH_DURATION (s),
# BENCH_IDLE, BENCH_IDLE_MAX, BENCH_SCATTER (clients of the scattered
# resume), BENCH_PRODUCE_INFLIGHT ("1000 10000"), BENCH_COMMIT_CLIENTS
# ("100 1000"), BENCH_OUT (the JSON file), BENCH_PERF=1 (record a perf
# profile of the worker in each nginx run).
#
# Scenarios of commands the module does not have yet (an nginx -t that
# refuses their directive, or "unknown command" from a probe) are skipped
# with a message, and listed as skipped in the table.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
bench=$build/pubsub-bench
mock=$build/pubsub-kafka-mock
module=${BENCH_MODULE:-$build/ngx_http_pubsub_kafka_module.so}
nginx=${NGINX:-/usr/sbin/nginx}
work=$build/bench
port=${BENCH_PORT:-18480}

smoke=0
if [ "${1:-}" = "--smoke" ]; then
    smoke=1
fi

# sizes: the smoke run only shows that every scenario still works

if [ $smoke = 1 ]; then
    n=${BENCH_N:-20000}
    parts=${BENCH_PARTITIONS:-4}
    clients=${BENCH_CLIENTS:-"1 10 50"}
    rate=${BENCH_RATE:-1000}
    dur=${BENCH_DURATION:-0.5}
    maxdur=0.5
    # the slowest client of the "max" phase at most this far behind (a
    # slow machine must deliver it within the timeout)
    lag_max=2000
    mix_clients=20
    mix_dur=$dur
    history=5000
    idle=${BENCH_IDLE:-200}
    idle_max=${BENCH_IDLE_MAX:-400}
    idle_time=10
    scatter=${BENCH_SCATTER:-50}
    scatter_last=2000
    scatter_history=2500
    prod_count=5000
    prod_inflight=${BENCH_PRODUCE_INFLIGHT:-"100 1000"}
    commit_clients=${BENCH_COMMIT_CLIENTS:-"10 50"}
    commit_groups=5
    commit_dur=1
    timeout=20
    repeat=1
    out=${BENCH_OUT:-$work/smoke.json}
else
    n=${BENCH_N:-1000000}
    parts=${BENCH_PARTITIONS:-32}
    clients=${BENCH_CLIENTS:-"1 100 1000"}
    rate=${BENCH_RATE:-1000}
    dur=${BENCH_DURATION:-10}
    maxdur=5
    lag_max=20000
    mix_clients=1000
    # history: more than the gateway's window (pubsub_kafka_buffer_size 4m,
    # about 36,500 messages) holds, so that each pass goes back to Kafka;
    # with the tail's 5 s at 1000 msg/s (one-message sets, about 170 bytes
    # each) less than the 5 MiB (about 47,000 messages in large sets) the
    # mock keeps a partition
    history=38000
    mix_dur=5
    idle=${BENCH_IDLE:-10000}
    idle_max=${BENCH_IDLE_MAX:-1000000}
    idle_time=120
    # scattered resume: the last 30,000 messages of a partition that holds
    # 32,000 (in large sets: 3.5 MB, within the mock's 5 MiB a partition
    # and the gateway's 4m window)
    scatter=${BENCH_SCATTER:-1000}
    scatter_last=30000
    scatter_history=32000
    prod_count=200000
    prod_inflight=${BENCH_PRODUCE_INFLIGHT:-"1000 10000"}
    commit_clients=${BENCH_COMMIT_CLIENTS:-"100 1000"}
    commit_groups=10
    commit_dur=5
    # a bound on each wait, not a timing: 1000 subscribers get 10,000,000
    # deliveries in the fan-out's first phase
    timeout=300
    repeat=${BENCH_REPEAT:-3}
    out=${BENCH_OUT:-$top/bench/results/bench-$(date -u +%Y%m%d-%H%M%S).json}
fi

# the broker's own fetch wait, low for the run, for the gateway and the
# bare consumer alike
fetch_wait=5

# commits: every 100 ms, client i for group i % groups and its own
# partition of the group; the topic holds more messages in each partition
# than the offsets committed (the gateway refuses an offset beyond the end)
commit_interval=100
commit_max=0
for c in $commit_clients; do
    [ "$c" -gt "$commit_max" ] && commit_max=$c
done
commit_parts=$(( (commit_max + commit_groups - 1) / commit_groups ))
commit_fill=$(( (commit_dur * 1000 / commit_interval + 20) * commit_parts ))

for f in "$bench" "$mock" "$module"; do
    if [ ! -f "$f" ]; then
        echo "bench: $f is missing (make)" >&2
        exit 1
    fi
done

mkdir -p "$work/logs" "$work/tmp" "$(dirname "$out")"
loadavg_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
rm -f "$work/logs/nginx.pid" "$work/results.jsonl" "$work/mock.out"
: > "$work/results.jsonl"

# as many descriptors as we may have
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576

mock_pid=
master=
worker=
perf_pid=

# a process that has not exited: a zombie has (nginx's master is reparented,
# and what reaps it may take its time)
alive() {
    local line fields

    read -r line < "/proc/$1/stat" 2>/dev/null || return 1
    line=${line##*) }
    read -r -a fields <<< "$line"
    [ "${fields[0]}" != Z ]
}

stop_nginx() {
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        perf_pid=
    fi

    if [ -n "$master" ]; then
        local t0=$EPOCHREALTIME ms

        kill -QUIT "$master" 2>/dev/null || true
        for _ in $(seq 200); do
            alive "$master" || break
            sleep 0.05
        done
        kill -KILL "$master" 2>/dev/null || true

        ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
        if [ "$ms" -gt 1000 ]; then
            echo "bench: nginx took $ms ms to quit" >&2
        fi

        master=
        worker=
    fi
}

cleanup() {
    trap - EXIT INT TERM
    stop_nginx
    exec 3>&- 2>/dev/null || true
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# the mock cluster: one broker, the topics of the scenarios; its stdin
# stays open on fd 3 until the end

rm -f "$work/mock.in"
mkfifo "$work/mock.in"
"$mock" --topic "bulk:$parts" --topic fan:1 --topic mix:1 --topic lat:1 \
    --topic scatter:1 --topic prod:4 --topic plat:1 \
    --topic "commit:$commit_parts" --topic probe:1 \
    < "$work/mock.in" > "$work/mock.out" 2> "$work/mock.err" &
mock_pid=$!
exec 3> "$work/mock.in"

brokers=
for _ in $(seq 100); do
    brokers=$(head -n 1 "$work/mock.out" 2>/dev/null || true)
    [ -n "$brokers" ] && break
    sleep 0.1
done
if [ -z "$brokers" ]; then
    echo "bench: the mock cluster did not start" >&2
    exit 1
fi

url="ws://127.0.0.1:$port/kafka"
status_url="http://127.0.0.1:$port/status"

# the first child process of $1 (no procps needed)
child_of() {
    local parent=$1 stat line pid fields

    for stat in /proc/[0-9]*/stat; do
        read -r line < "$stat" 2>/dev/null || continue
        # "PID (COMM) STATE PPID ...", COMM may hold spaces
        line=${line##*) }
        read -r -a fields <<< "$line"
        if [ "${fields[1]}" = "$parent" ]; then
            pid=${stat#/proc/}
            echo "${pid%/stat}"
            return
        fi
    done
}

# nginx, one worker; $1: worker_connections, $2: more directives for the
# gateway's location

start_nginx() {
    local conns=$1 extra=${2:-}

    stop_nginx

    # nginx closes connections still in their handshake once fewer than
    # 1/16 of worker_connections are free: the idle run asks for more than
    # the descriptors allow, so that they, not the slots, set the limit
    if [ "$conns" -gt $((nofile - 100)) ] && [ "${3:-}" != "over" ]; then
        conns=$((nofile - 100))
    fi

    cat > "$work/nginx.conf" <<CONF
load_module $module;

worker_processes      1;
worker_rlimit_nofile  $nofile;
pid                   logs/nginx.pid;
error_log             logs/error.log warn;

events {
    worker_connections  $conns;
}

thread_pool  default  threads=4;

http {
    access_log               off;
    client_body_temp_path    $work/tmp;
    proxy_temp_path          $work/tmp;
    fastcgi_temp_path        $work/tmp;
    uwsgi_temp_path          $work/tmp;
    scgi_temp_path           $work/tmp;

    server {
        listen  127.0.0.1:$port  backlog=4096;

        location /kafka {
            pubsub_kafka_pass      kafka://$brokers;
            pubsub_kafka_property  fetch.wait.max.ms  $fetch_wait;
            $extra
        }

        location = /status {
            pubsub_kafka_status;
        }
    }
}
CONF

    rm -f "$work/logs/nginx.pid"
    "$nginx" -p "$work/" -c "$work/nginx.conf" -t -q
    "$nginx" -p "$work/" -c "$work/nginx.conf"

    for _ in $(seq 100); do
        [ -s "$work/logs/nginx.pid" ] && break
        sleep 0.05
    done

    master=$(cat "$work/logs/nginx.pid")

    for _ in $(seq 100); do
        worker=$(child_of "$master")
        [ -n "$worker" ] && break
        sleep 0.05
    done

    [ -n "$worker" ] || { echo "bench: no nginx worker" >&2; exit 1; }

    if [ "${BENCH_PERF:-0}" = 1 ]; then
        perf record -g -e cpu-clock -F 999 -p "$worker" \
            -o "$work/perf-$worker.data" > /dev/null 2>&1 &
        perf_pid=$!
    fi
}

# one scenario; its JSON lines go to results.jsonl
run() {
    local t0=$EPOCHREALTIME

    echo "bench: $*" >&2
    "$bench" "$@" --timeout "$timeout" >> "$work/results.jsonl"
    echo "bench: ... $(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 )) ms" >&2
}

# a scenario left out: a message now, a line in the table
skip() {
    local what=$1 why=$2

    echo "bench: SKIPPED $what: $why" >&2
    printf '{"scenario":"skipped","what":"%s","reason":"%s"}\n' \
        "$what" "$why" >> "$work/results.jsonl"
}

# does this build know a directive: nginx -t of a small configuration
has_directive() {
    cat > "$work/probe.conf" <<CONF
load_module $module;
pid        logs/probe.pid;
error_log  logs/probe.log warn;
events { }
http {
    server {
        listen 127.0.0.1:$port;
        location /kafka { pubsub_kafka_pass kafka://$brokers; $1 }
    }
}
CONF
    "$nginx" -p "$work/" -c "$work/probe.conf" -t -q 2> /dev/null
}

# does the running gateway serve a command: 0 yes, 3 "unknown command"
probe() {
    local rc=0

    "$bench" probe --url "$url" --request "$1" --topic probe \
        --timeout "$timeout" > "$work/probe.out" || rc=$?
    return $rc
}

watch_mock="--watch mock=$mock_pid"
watch() {
    echo "--watch worker=$worker $watch_mock"
}

# the data: N messages of 100 bytes over the partitions of "bulk",
# the history of "mix", the last messages "scatter" resumes from, the
# messages of "commit" that commits may point to

last=$((parts - 1))
run fill --brokers "$brokers" --topic bulk --partitions "0-$last" --count "$n"
run fill --brokers "$brokers" --topic mix --partitions 0 --count "$history" \
    --label history
run fill --brokers "$brokers" --topic scatter --partitions 0 \
    --count "$scatter_history" --label scatter
run fill --brokers "$brokers" --topic commit \
    --partitions "0-$((commit_parts - 1))" --count "$commit_fill" \
    --label commit

# 1. the ceiling: the bare consumer, every partition into one queue, and
# 2. catch-up: the same messages through the gateway, each run on a fresh
# worker (the windows of a worker would hold the data after a first run).
# A client with several fetches in flight needs an output queue that holds
# their answers: pubsub_output_queue_size 4m (the default) closes the
# connection when 32 answers of up to 1m each are queued at once.
# Repeated, alternating, so that the medians and the ratios of each round
# resist what else the machine runs.

catchup_conf="pubsub_kafka_fetch_max_bytes 1m; pubsub_output_queue_size 64m;"

# "tuned": librdkafka 2.0.2 stops fetching a partition for 1 s (fixed)
# when the queue it forwards to holds more than queued.min.messages or
# queued.max.messages.kbytes (the module sets 1000000 and 65536, the bare
# consumer too); all partitions of a handle share one queue, so a catch-up
# of many partitions may stall.  The ceiling of a tuned round gets the
# same properties.
tuned_min=10000000
tuned_kb=1000000
tuned_desc="queued.min.messages $tuned_min,"
tuned_desc="$tuned_desc queued.max.messages.kbytes $tuned_kb"
tuned_conf="pubsub_kafka_property queued.min.messages $tuned_min;
            pubsub_kafka_property queued.max.messages.kbytes $tuned_kb;"

# push: a build without CmdKafkaSubscribe (round one, which ignores the
# command it cannot decode) runs the rest
push=1
if ! has_directive "pubsub_kafka_max_subscriptions 64;"; then
    push=0
    skip push "this build of the module has no server push"
else
    start_nginx 1024
    rc=0
    probe subscribe || rc=$?
    if [ $rc != 0 ]; then
        echo "bench: probe of subscribe failed" >&2
        exit 1
    fi
fi

for round in $(seq "$repeat"); do
    run ceiling --brokers "$brokers" --topic bulk --partitions "0-$last" \
        --property "fetch.wait.max.ms=$fetch_wait" \
        --label "default, round $round" $watch_mock

    start_nginx 1024 "$catchup_conf"
    run catchup --url "$url" --topic bulk --partitions "0-$last" \
        --inflight "$parts" --label interleaved $(watch)

    start_nginx 1024 "$catchup_conf"
    run catchup --url "$url" --topic bulk --partitions "0-$last" \
        --inflight 1 --label sequential $(watch)

    # push: one subscription of all partitions from the earliest, window
    # 0, the location's defaults (a subscription pushes only what fits in
    # the output queue and waits for room, so the 4m default never closes
    # it; 64m made no difference in alternated runs)
    if [ $push = 1 ]; then
        start_nginx 1024
        run push-catchup --url "$url" --topic bulk --partitions "0-$last" \
            --all-partitions --label "push, round $round" $(watch)
    fi

    run ceiling --brokers "$brokers" --topic bulk --partitions "0-$last" \
        --property "fetch.wait.max.ms=$fetch_wait" \
        --property "queued.min.messages=$tuned_min" \
        --property "queued.max.messages.kbytes=$tuned_kb" \
        --label "tuned, round $round" $watch_mock

    start_nginx 1024 "$catchup_conf $tuned_conf"
    run catchup --url "$url" --topic bulk --partitions "0-$last" \
        --inflight "$parts" --label "interleaved, tuned" $(watch)
done

# the broker's own tail latency, for the latency goal

run tail-bare --brokers "$brokers" --topic lat --partitions 0 \
    --rate "$rate" --duration "$dur" \
    --property "fetch.wait.max.ms=$fetch_wait" $watch_mock

# 3. fan-out: C clients tail one partition, the producer writes at a
# fixed rate, then as fast as the slowest client keeps up with

# 3b. the same with subscribers (push, window 0) instead of fetch loops,
# each C right after the fetch clients, on the same worker

start_nginx 20000
for c in $clients; do
    # the slowest client at most 4M deliveries behind (20000 messages at
    # most: the gateway's 4m window holds about 36000)
    lag=$((4000000 / c))
    [ "$lag" -gt "$lag_max" ] && lag=$lag_max
    run fanout --url "$url" --brokers "$brokers" --topic fan --partitions 0 \
        --clients "$c" --rate "$rate" --duration "$dur" \
        --max-duration "$maxdur" --lag "$lag" $(watch)
    [ $push = 1 ] || continue
    run push-fanout --url "$url" --brokers "$brokers" --topic fan \
        --partitions 0 --clients "$c" --rate "$rate" --duration "$dur" \
        --max-duration "$maxdur" --lag "$lag" $(watch)
done

# 3c. the fetch fan-out again with Nagle on the upgraded sockets (nginx's
# "tcp_nodelay off"), as the module was before it set TCP_NODELAY: the
# before and after of that change in one run (full runs only)

if [ $smoke = 0 ]; then
    start_nginx 20000 "tcp_nodelay off;"
    for c in $clients; do
        lag=$((4000000 / c))
        [ "$lag" -gt "$lag_max" ] && lag=$lag_max
        run fanout --url "$url" --brokers "$brokers" --topic fan \
            --partitions 0 --clients "$c" --rate "$rate" --duration "$dur" \
            --max-duration "$maxdur" --lag "$lag" --label "tcp_nodelay off" \
            $(watch)
    done
fi

# 6. scattered resume: clients of "scatter"/0 each from its own offset
# among the last messages, to the end; one reader alone, then many, each
# on a fresh worker (its window would hold the messages after a run); the
# bare consumer reads the same messages

run ceiling --brokers "$brokers" --topic scatter --partitions 0 \
    --last "$scatter_last" --property "fetch.wait.max.ms=$fetch_wait" \
    --label scatter $watch_mock

modes="scatter scatter-fetch"
[ $push = 1 ] || modes=scatter-fetch
for mode in $modes; do
    for c in 1 "$scatter"; do
        start_nginx 20000
        run "$mode" --url "$url" --brokers "$brokers" --topic scatter \
            --partitions 0 --clients "$c" --last "$scatter_last" \
            --status "$status_url" $(watch)
    done
done

# 5. catch-up under fan-out: one client reads the history of "mix" over
# and over, alone (first with windows of 1m, so that every pass is read
# from Kafka again: the two readers' 4m windows may hold it all), then
# while mix_clients tail the same partition

start_nginx 20000 "pubsub_kafka_buffer_size 1m;"
run mixed --url "$url" --brokers "$brokers" --topic mix --partitions 0 \
    --clients 0 --duration "$mix_dur" --label "alone, 1m windows" $(watch)

start_nginx 20000
run mixed --url "$url" --brokers "$brokers" --topic mix --partitions 0 \
    --clients 0 --duration "$mix_dur" --label alone $(watch)
run mixed --url "$url" --brokers "$brokers" --topic mix --partitions 0 \
    --clients "$mix_clients" --rate "$rate" --duration "$mix_dur" \
    --label "under fan-out" $(watch)

# 7. produce: one client, N records in flight (pubsub_max_inflight raised
# for it), against a bare librdkafka producer configured as the gateway's
# (acks=all, idempotence), the same N in flight, alternated; then the
# latency of records produced through the gateway to a subscriber

prod_conf="pubsub_kafka_produce on; pubsub_max_inflight 20000;"

if ! has_directive "$prod_conf"; then
    skip produce "this build of the module has no pubsub_kafka_produce"
else
    start_nginx 20000 "$prod_conf"

    rc=0
    probe produce || rc=$?

    if [ $rc = 3 ]; then
        skip produce "the gateway answers CmdKafkaProduce with unknown command"
    elif [ $rc != 0 ]; then
        echo "bench: probe of produce failed" >&2
        exit 1
    else
        for k in $prod_inflight; do
            run produce-bare --brokers "$brokers" --topic prod \
                --partitions 0-3 --count "$prod_count" --inflight "$k" \
                $watch_mock
            run produce --url "$url" --brokers "$brokers" --topic prod \
                --partitions 0-3 --count "$prod_count" --inflight "$k" \
                $(watch)
        done

        run produce-latency --url "$url" --brokers "$brokers" --topic plat \
            --partitions 0 --clients 1 --rate "$rate" --duration "$dur" \
            $(watch)
    fi
fi

# 8. commits: clients commit every 100 ms in a few groups; the worker's
# Admin requests from its status, for fewer and more clients.  A build
# with topic access control allows no group by default: every group here

commit_conf=
if has_directive "pubsub_kafka_groups *;"; then
    commit_conf="pubsub_kafka_groups *;"
fi

rc=0
if ! has_directive "pubsub_kafka_commit_interval 10ms;"; then
    rc=3
else
    start_nginx 20000 "$commit_conf"
    probe commit || rc=$?
fi

if [ $rc = 3 ]; then
    skip commits "the gateway answers CmdKafkaCommit with unknown command"
elif [ $rc != 0 ]; then
    echo "bench: probe of commit failed" >&2
    exit 1
else
    for c in $commit_clients; do
        run commits --url "$url" --topic commit \
            --partitions "0-$((commit_parts - 1))" --clients "$c" \
            --groups "$commit_groups" --interval "$commit_interval" \
            --duration "$commit_dur" --status "$status_url" $(watch)
    done
fi

# 4. idle connections: idle, then as many as the machine allows, from
# several source addresses (the kernel's ports are per address)

# the descriptors of one process bound the connections of the worker and
# of the load generator alike
if [ "$idle_max" -gt $((nofile - 200)) ]; then
    idle_max=$((nofile - 200))
fi

start_nginx "$((idle_max * 16 / 15 + 200))" "" over
run idle --url "$url" --clients "$idle" --max-clients "$idle_max" \
    --max-duration "$idle_time" --sources 127.0.0.2-127.0.0.65 \
    --worker-pid "$worker"

stop_nginx

grep -E '\[(alert|crit|emerg)\]' "$work/logs/error.log" >&2 || true

"${PYTHON:-python3}" "$top/bench/report.py" "$work/results.jsonl" "$out" \
    --smoke "$smoke" --nginx-conf "$work/nginx.conf" --nofile "$nofile" \
    --param "messages=$n" --param "partitions=$parts" \
    --param "clients=$clients" --param "rate=$rate" \
    --param "duration=$dur" --param "max_duration=$maxdur" \
    --param "history=$history" --param "mixed_clients=$mix_clients" \
    --param "mixed_duration=$mix_dur" \
    --param "loadavg_at_start=$loadavg_start" \
    --param "fetch.wait.max.ms=$fetch_wait" --param "repeat=$repeat" \
    --param "catchup_location=$catchup_conf" \
    --param "tuned=$tuned_desc" \
    --param "scatter_clients=$scatter" --param "scatter_last=$scatter_last" \
    --param "produce_records=$prod_count" \
    --param "produce_inflight=$prod_inflight" \
    --param "produce_location=$prod_conf" \
    --param "commit_location=$commit_conf" \
    --param "commit_clients=$commit_clients" \
    --param "commit_groups=$commit_groups" \
    --param "commit_interval_ms=$commit_interval" \
    --param "commit_duration=$commit_dur"
