#!/bin/bash
# Two builds of the module, alternated scenario by scenario on one mock
# cluster, so that the machine's drift (shared cores, a busy host) falls
# on both alike: "bash bench/compare.sh A.so B.so [ROUNDS]".
#
# Each round runs, for A then B, a fresh nginx (one worker) per scenario:
# catch-up with 32 fetches in flight and one partition after another
# (1,000,000 messages of 100 bytes over 32 partitions), the history of
# one partition (38,000 messages) read alone with the default windows and
# with 1m ones, and 100 fetch clients flat out with tcp_nodelay on and
# off; the bare consumer's ceiling once per round.  One line a result
# ("ROUND BUILD SCENARIO FIGURE CPU") to stdout and to
# bench/results/compare-DATE.txt, then the median of each.
# COMPARE_ONLY=REGEX runs only the scenarios whose names match it.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
a=$(readlink -f "$1")
b=$(readlink -f "$2")
rounds=${3:-3}
work=$build/compare
port=${BENCH_PORT:-18490}
out=$top/bench/results/compare-$(date -u +%Y%m%d-%H%M%S).txt

rm -rf "$work"
mkdir -p "$work/logs" "$work/tmp"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkfifo "$work/mock.in"
"$build/pubsub-kafka-mock" --topic bulk:32 --topic mix:1 --topic fan:1 \
    < "$work/mock.in" > "$work/mock.out" 2> "$work/mock.err" &
mock=$!
exec 3> "$work/mock.in"
master=

cleanup() {
    [ -n "$master" ] && kill -QUIT "$master" 2>/dev/null || true
    kill "$mock" 2>/dev/null || true
}
trap cleanup EXIT

brokers=
for _ in $(seq 100); do
    brokers=$(head -n 1 "$work/mock.out" 2>/dev/null || true)
    [ -n "$brokers" ] && break
    sleep 0.1
done
[ -n "$brokers" ] || { echo "compare: no mock cluster" >&2; exit 1; }

"$build/pubsub-bench" fill --brokers "$brokers" --topic bulk \
    --partitions 0-31 --count 1000000 > /dev/null
"$build/pubsub-bench" fill --brokers "$brokers" --topic mix \
    --partitions 0 --count 38000 > /dev/null

start_nginx() {
    cat > "$work/nginx.conf" <<CONF
load_module $1;
worker_processes      1;
worker_rlimit_nofile  20000;
pid                   logs/nginx.pid;
error_log             logs/error.log warn;
events { worker_connections 20000; }
thread_pool default threads=4;
http {
    access_log             off;
    client_body_temp_path  $work/tmp;
    server {
        listen  127.0.0.1:$port  backlog=4096;
        location /kafka {
            pubsub_kafka_pass      kafka://$brokers;
            pubsub_kafka_property  fetch.wait.max.ms  5;
            $2
        }
    }
}
CONF
    rm -f "$work/logs/nginx.pid"
    /usr/sbin/nginx -p "$work/" -c "$work/nginx.conf"
    for _ in $(seq 100); do
        [ -s "$work/logs/nginx.pid" ] && break
        sleep 0.05
    done
    master=$(cat "$work/logs/nginx.pid")
    worker=
    for _ in $(seq 100); do
        worker=$(pgrep -P "$master" | head -n 1 || true)
        [ -n "$worker" ] && break
        sleep 0.05
    done
}

stop_nginx() {
    kill -QUIT "$master"
    while kill -0 "$master" 2>/dev/null; do
        sleep 0.05
    done
    master=
}

url=ws://127.0.0.1:$port/kafka
big="pubsub_kafka_fetch_max_bytes 1m; pubsub_output_queue_size 64m;"
history="mixed --url $url --brokers $brokers --topic mix --partitions 0"
history="$history --clients 0 --duration 5"
fan="fanout --url $url --brokers $brokers --topic fan --partitions 0"
fan="$fan --clients 100 --rate 1000 --duration 3 --max-duration 5"
fan="$fan --lag 20000"

scenarios=(
    "catchup|$big|catchup --url $url --topic bulk --partitions 0-31 --inflight 32"
    "sequential|$big|catchup --url $url --topic bulk --partitions 0-31 --inflight 1"
    "history||$history"
    "history-1m-windows|pubsub_kafka_buffer_size 1m;|$history"
    "fanout-100-max||$fan"
    "fanout-100-max-nodelay-off|tcp_nodelay off;|$fan"
)

# the figure of a scenario's JSON lines: its rate, the last phase's
figure() {
    /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d.get("phase") == "rate":
        continue
    v = d.get("msgs_per_s") or d.get("catchup_msgs_per_s") \
        or d.get("deliveries_per_s")
    print(int(v), round(d.get("cpu_worker", 0), 2))'
}

for round in $(seq "$rounds"); do
    f=$("$build/pubsub-bench" ceiling --brokers "$brokers" --topic bulk \
            --partitions 0-31 --property fetch.wait.max.ms=5 --timeout 120 \
        | figure)
    echo "$round - ceiling $f" | tee -a "$out"

    for build_name in A B; do
        module=$a
        [ $build_name = B ] && module=$b

        for s in "${scenarios[@]}"; do
            IFS='|' read -r name conf args <<< "$s"
            [[ $name =~ ${COMPARE_ONLY:-.} ]] || continue
            start_nginx "$module" "$conf"
            # shellcheck disable=SC2086
            f=$("$build/pubsub-bench" $args --watch "worker=$worker" \
                    --timeout 300 | figure)
            stop_nginx
            echo "$round $build_name $name $f" | tee -a "$out"
        done
    done
done

echo "A: $a" >> "$out"
echo "B: $b" >> "$out"

/usr/bin/python3 - "$out" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5:
        runs.setdefault((f[2], f[1]), []).append(int(f[3]))
print("median of each (A, B, B/A):")
for name in sorted({k[0] for k in runs}):
    a = statistics.median(runs.get((name, "A"), runs.get((name, "-"), [0])))
    b = statistics.median(runs.get((name, "B"), [0]))
    print("  %-28s %12.0f %12.0f %s" % (name, a, b,
          "%.2f" % (b / a) if a and b else "-"))
PY
echo "results: $out"
