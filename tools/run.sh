#!/bin/bash
# "make run": nginx with conf/nginx.conf on 127.0.0.1:8080, talking to the
# Kafka cluster in $KAFKA_BROKERS, or by default to an embedded test broker
# (librdkafka's mock cluster) with a "demo" topic of 3 partitions that gets
# a small JSON message a second (with $KAFKA_BROKERS, only if DEMO_PRODUCER
# is set, through kcat).  Ctrl-C stops everything it started.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
run=$top/build/run
module=$top/build/ngx_http_pubsub_kafka_module.so

mkdir -p "$run/logs" "$run/tmp"
rm -f "$run/logs/nginx.pid"

pids=()

stop() {
    trap - INT TERM EXIT
    echo
    echo "stopping"
    [ -f "$run/logs/nginx.pid" ] && kill -QUIT "$(cat "$run/logs/nginx.pid")" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    pkill -P $$ 2>/dev/null || true
    wait 2>/dev/null || true
    exit 0
}

trap stop INT TERM EXIT

brokers=${KAFKA_BROKERS:-}

if [ -z "$brokers" ]; then
    # the demo producer feeds the broker's command line: one JSON tick a
    # second, round the partitions
    rm -f "$run/mock.out"
    (
        n=0
        while sleep 1; do
            n=$((n + 1))
            printf 'produce demo %d {"tick":%d,"ms":%d} key=tick\n' \
                   $((n % 3)) "$n" "$(date +%s%3N)"
        done
    ) | "$top/build/pubsub-kafka-mock" --topic demo:3 > "$run/mock.out" &
    pids+=("$!")

    for _ in $(seq 100); do
        brokers=$(head -n 1 "$run/mock.out" 2>/dev/null || true)
        [ -n "$brokers" ] && break
        sleep 0.1
    done

    [ -n "$brokers" ] || { echo "the embedded broker did not start" >&2; exit 1; }

    what="embedded test broker $brokers (topic \"demo\", 3 partitions, a message a second)"
else
    what="Kafka cluster $brokers"

    if [ -n "${DEMO_PRODUCER:-}" ]; then
        # asked for: the same ticks into the real cluster's topic "demo"
        command -v kcat >/dev/null || { echo "DEMO_PRODUCER needs kcat" >&2; exit 1; }
        # one kcat a message: fed from a pipe, kcat holds lines back
        (
            n=0
            while sleep 1; do
                n=$((n + 1))
                printf 'tick:{"tick":%d,"ms":%d}\n' "$n" "$(date +%s%3N)" \
                | kcat -P -b "$brokers" -t demo -K: -X partitioner=random -q
            done
        ) &
        pids+=("$!")
        what="$what, a message a second to topic \"demo\""
    fi
fi

sed -e "s#^load_module .*#load_module $module;#" \
    -e "s#kafka://127.0.0.1:9092#kafka://$brokers#" \
    -e "s#^worker_processes .*#worker_processes 2;#" \
    -e "s#root   html;#root   $top/html;#" \
    "$top/conf/nginx.conf" > "$run/nginx.conf"

cat >> "$run/nginx.conf" <<CONF
pid        logs/nginx.pid;
error_log  logs/error.log info;
daemon     off;
CONF

sed -i -e "s#^http {#http {\n    client_body_temp_path $run/tmp;\n    proxy_temp_path $run/tmp;\n    fastcgi_temp_path $run/tmp;\n    uwsgi_temp_path $run/tmp;\n    scgi_temp_path $run/tmp;#" "$run/nginx.conf"

/usr/sbin/nginx -p "$run/" -c "$run/nginx.conf" -t -q
/usr/sbin/nginx -p "$run/" -c "$run/nginx.conf" &
pids+=("$!")

echo "nginx pubsub kafka gateway"
echo "  gateway:  ws://127.0.0.1:8080/kafka  (APISIX pubsub protocol)"
echo "  page:     http://127.0.0.1:8080/"
echo "  status:   http://127.0.0.1:8080/status"
echo "  kafka:    $what"
echo "  logs:     $run/logs/error.log"
echo "Ctrl-C stops it."

wait "${pids[-1]}"
