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
# BENCH_IDLE, BENCH_IDLE_MAX, BENCH_OUT (the JSON file), BENCH_PERF=1
# (record a perf profile of the worker in each nginx run).

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
bench=$build/pubsub-bench
mock=$build/pubsub-kafka-mock
module=$build/ngx_http_pubsub_kafka_module.so
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
    mix_clients=20
    mix_dur=$dur
    history=5000
    idle=${BENCH_IDLE:-200}
    idle_max=${BENCH_IDLE_MAX:-400}
    idle_time=10
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
    timeout=120
    repeat=${BENCH_REPEAT:-3}
    out=${BENCH_OUT:-$top/bench/results/bench-$(date -u +%Y%m%d-%H%M%S).json}
fi

# the broker's own fetch wait, low for the run, for the gateway and the
# bare consumer alike
fetch_wait=5

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

watch_mock="--watch mock=$mock_pid"
watch() {
    echo "--watch worker=$worker $watch_mock"
}

# the data: N messages of 100 bytes over the partitions of "bulk",
# the history of "mix"

last=$((parts - 1))
run fill --brokers "$brokers" --topic bulk --partitions "0-$last" --count "$n"
run fill --brokers "$brokers" --topic mix --partitions 0 --count "$history" \
    --label history

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

start_nginx 20000
for c in $clients; do
    # the slowest client at most 4M deliveries behind (20000 messages at
    # most: the gateway's 4m window holds about 36000)
    lag=$((4000000 / c))
    [ "$lag" -gt 20000 ] && lag=20000
    run fanout --url "$url" --brokers "$brokers" --topic fan --partitions 0 \
        --clients "$c" --rate "$rate" --duration "$dur" \
        --max-duration "$maxdur" --lag "$lag" $(watch)
done

# 5. catch-up under fan-out: one client reads the history of "mix" over
# and over, alone, then while mix_clients tail the same partition

start_nginx 20000
run mixed --url "$url" --brokers "$brokers" --topic mix --partitions 0 \
    --clients 0 --duration "$mix_dur" --label alone $(watch)
run mixed --url "$url" --brokers "$brokers" --topic mix --partitions 0 \
    --clients "$mix_clients" --rate "$rate" --duration "$mix_dur" \
    --label "under fan-out" $(watch)

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
    --param "tuned=$tuned_desc"
