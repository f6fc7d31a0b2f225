#!/bin/bash
# CI check of the Debian packages (debian/, "make deb"), as root on a
# Debian 12 machine without systemd, in about a minute:
#
#   1. builds them (make deb) and lints them (lintian, no errors allowed);
#   2. installs them with apt next to Debian's stock nginx (which apt
#      installs too when it is missing) and checks the files and the
#      /etc/nginx/modules-enabled/ link;
#   3. nginx -t of the stock /etc/nginx/nginx.conf with the module enabled,
#      then with one site using it (the package's example site, pointed at
#      a test broker and a free port);
#   4. starts the stock nginx (in the foreground, as our child) and the
#      test broker (build/pubsub-kafka-mock), and through the site:
#      /usr/bin/pubsub-cli ping, a message produced, fetched;
#   5. stops nginx, removes the site, purges the packages, and checks that
#      nothing of them is left and the stock configuration still passes
#      nginx -t.
#
# Whatever happens, everything it started is stopped and its site removed
# on exit (the packages are purged too on failure); what a run killed
# outright leaves (its nginx, the site, the packages) the next run clears
# first.  Logs: build/deb-check/.  Exits non-zero with a message on any
# failure.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

work=$top/build/deb-check
mod_pkg=libnginx-mod-http-pubsub-kafka
cli_pkg=pubsub-cli
pkgs="$mod_pkg $cli_pkg"
module=/usr/lib/nginx/modules/ngx_http_pubsub_kafka_module.so
snippet=/usr/share/nginx/modules-available/mod-http-pubsub-kafka.conf
enabled=/etc/nginx/modules-enabled/50-mod-http-pubsub-kafka.conf
example=/usr/share/doc/$mod_pkg/examples/pubsub-kafka.conf
site=/etc/nginx/sites-enabled/pubsub-kafka-deb-check
error_log=/var/log/nginx/error.log
mock=$top/build/pubsub-kafka-mock

start=$(date +%s)
nginx_pid=
mock_pid=
installed=
log_from=0

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o DPkg::Lock::Timeout=120)

say() { echo "deb-check: $*"; }

fail() {
    echo "deb-check: FAILED: $1" >&2
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
        echo "---- last lines of $2" >&2
        tail -n "${3:-20}" "$2" >&2
        echo "----" >&2
    fi
    exit 1
}

# alive PID: the process exists and is not a zombie
alive() {
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$state" != Z ]
}

# stop_nginx PID: quit gracefully, then harder; reaps it when it is ours
stop_nginx() {
    local pid=$1 sig i
    for sig in QUIT TERM KILL; do
        kill -"$sig" "$pid" 2>/dev/null || true
        for i in $(seq 100); do
            alive "$pid" || break 2
            sleep 0.1
        done
    done
    wait "$pid" 2>/dev/null || true
    rm -f "$work/nginx.pid"
}

is_installed() {
    local s
    s=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
    [ "$s" != not-installed ]
}

purge() {
    apt-get purge "${apt_opts[@]}" $pkgs > "$work/apt-purge.log" 2>&1
}

# what nginx wrote to its error log since it started, into error.log.part
new_errors() {
    : > "$work/error.log.part"
    [ -f "$error_log" ] || return 0
    tail -c +"$((log_from + 1))" "$error_log" > "$work/error.log.part"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ -n "$nginx_pid" ]; then
        stop_nginx "$nginx_pid"
    fi
    if [ -n "$mock_pid" ]; then
        exec 3>&-
        kill "$mock_pid" 2>/dev/null
        wait "$mock_pid" 2>/dev/null
        rm -f "$work/mock.pid"
    fi
    rm -f "$site"
    if [ "$rc" != 0 ]; then
        if [ -n "$nginx_pid" ]; then
            new_errors
            if [ -s "$work/error.log.part" ]; then
                echo "---- $error_log during the check" >&2
                tail -n 20 "$work/error.log.part" >&2
                echo "----" >&2
            fi
        fi
        if [ -n "$installed" ]; then
            echo "deb-check: purging the packages after the failure" >&2
            purge || echo "deb-check: purge failed, see $work/apt-purge.log" >&2
        fi
    fi
    exit "$rc"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || fail "must run as root (it installs and purges packages)"

mkdir -p "$work"

# ---- leftovers of a run killed outright

if [ -f "$work/nginx.pid" ]; then
    old=$(cat "$work/nginx.pid")
    if alive "$old" && grep -qa 'nginx: master' "/proc/$old/cmdline" 2>/dev/null
    then
        say "stopping the nginx an earlier run left (pid $old)"
        stop_nginx "$old"
    fi
    rm -f "$work/nginx.pid"
fi

if [ -f "$work/mock.pid" ]; then
    old=$(cat "$work/mock.pid")
    if alive "$old" && grep -qa 'pubsub-kafka-mock' "/proc/$old/cmdline" 2>/dev/null
    then
        say "stopping the test broker an earlier run left (pid $old)"
        kill "$old" 2>/dev/null || true
    fi
    rm -f "$work/mock.pid"
fi

if [ -s /run/nginx.pid ] && alive "$(cat /run/nginx.pid)"; then
    fail "a stock nginx is already running (pid $(cat /run/nginx.pid), /run/nginx.pid); stop it first (nginx -s quit)"
fi

rm -f "$site"

for p in $pkgs; do
    if is_installed "$p"; then
        say "purging $p, installed before this check"
        purge || fail "could not purge $pkgs" "$work/apt-purge.log"
        break
    fi
done

# ---- 1. build and lint

say "building the packages (make deb; log: build/deb-check/make-deb.log)"
make deb > "$work/make-deb.log" 2>&1 || fail "make deb failed" "$work/make-deb.log" 40
grep '^installing Debian packages' "$work/make-deb.log" | sed 's/^/deb-check: /' || true

make "$mock" > "$work/make-mock.log" 2>&1 \
    || fail "could not build $mock" "$work/make-mock.log"

debs=()
for p in $pkgs; do
    f=$(ls "$top"/build/deb/"${p}"_*.deb 2>/dev/null || true)
    [ -n "$f" ] && [ "$(echo "$f" | wc -l)" = 1 ] \
        || fail "expected one build/deb/${p}_VERSION_ARCH.deb, found: ${f:-none}"
    debs+=("$f")
done
say "built: $(cd build/deb && ls ./*.deb | tr '\n' ' ')"

say "lintian ${debs[*]##*/}"
# lintian warns when it runs as root; nobody can read the packages
lint=(lintian --fail-on error)
if id nobody > /dev/null 2>&1 && command -v runuser > /dev/null; then
    lint=(runuser -u nobody -- "${lint[@]}")
fi
if ! "${lint[@]}" "${debs[@]}" > "$work/lintian.log" 2>&1; then
    cat "$work/lintian.log" >&2
    fail "lintian found errors"
fi
if [ -s "$work/lintian.log" ]; then
    sed 's/^/    /' "$work/lintian.log"
else
    say "lintian: no errors, no warnings (overrides: debian/*.lintian-overrides)"
fi

# ---- 2. install

say "apt-get install ${debs[*]##*/}"
apt-get install "${apt_opts[@]}" "${debs[@]}" > "$work/apt-install.log" 2>&1 \
    || fail "apt-get install failed" "$work/apt-install.log"
installed=1

for p in $pkgs; do
    is_installed "$p" || fail "$p is not installed after apt-get install"
done
for f in "$module" "$snippet" /usr/bin/pubsub-cli \
         /usr/share/man/man1/pubsub-cli.1.gz \
         "/usr/share/doc/$mod_pkg/README.md.gz" "$example"
do
    [ -f "$f" ] || fail "$f is not installed"
done
files=$(dpkg -L "$mod_pkg")
grep -qx "$module" <<< "$files" || fail "dpkg -L $mod_pkg does not list $module"
grep -qx 'load_module modules/ngx_http_pubsub_kafka_module.so;' "$snippet" \
    || fail "$snippet does not load the module: $(cat "$snippet")"
[ -L "$enabled" ] && [ "$(readlink -f "$enabled")" = "$snippet" ] \
    || fail "$enabled is not a link to $snippet"

# ---- 3. nginx -t: the stock configuration, then with the site

nginx -t > "$work/nginx-t.log" 2>&1 \
    || fail "nginx -t of the stock configuration with the module enabled" "$work/nginx-t.log"
nginx -T > "$work/nginx-T.log" 2>&1 || fail "nginx -T failed" "$work/nginx-T.log"
grep -qx 'load_module modules/ngx_http_pubsub_kafka_module.so;' "$work/nginx-T.log" \
    || fail "nginx -T does not show the module's load_module"
say "nginx -t: stock configuration with the module enabled passes"

# the test broker: its stdin is our fd 3 (EOF stops it), first line of its
# stdout the bootstrap address
rm -f "$work/mock.in" "$work/mock.out"
mkfifo "$work/mock.in"
"$mock" --topic demo:1 < "$work/mock.in" > "$work/mock.out" 2> "$work/mock.err" &
mock_pid=$!
echo "$mock_pid" > "$work/mock.pid"
exec 3> "$work/mock.in"

brokers=
for _ in $(seq 100); do
    brokers=$(head -n 1 "$work/mock.out" 2>/dev/null || true)
    [ -n "$brokers" ] && break
    alive "$mock_pid" || break
    sleep 0.1
done
[ -n "$brokers" ] || fail "the test broker did not start" "$work/mock.err"

# a free port for the site (the stock default site has port 80)
port=
for p in $(seq 18480 18499); do
    if ! (exec 4<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then
        port=$p
        break
    fi
done
[ -n "$port" ] || fail "no free port in 18480-18499"

zcat -f "$example" \
    | sed -e "s#listen  *127.0.0.1:8080;#listen 127.0.0.1:$port;#" \
          -e "s#kafka://127.0.0.1:9092#kafka://$brokers#" > "$site"
grep -q "listen 127.0.0.1:$port;" "$site" && grep -q "kafka://$brokers;" "$site" \
    || fail "could not adapt $example (listen 127.0.0.1:8080, kafka://127.0.0.1:9092)"

nginx -t > "$work/nginx-t.log" 2>&1 \
    || fail "nginx -t with the site $site" "$work/nginx-t.log"
say "nginx -t: with the site $site (127.0.0.1:$port, broker $brokers) passes"

# ---- 4. serve

[ -f "$error_log" ] && log_from=$(stat -c %s "$error_log")

# not holding the broker's stdin (fd 3), which would keep it up after us
/usr/sbin/nginx -g 'daemon off;' > "$work/nginx.out" 2>&1 3>&- &
nginx_pid=$!
echo "$nginx_pid" > "$work/nginx.pid"

up=
for _ in $(seq 100); do
    alive "$nginx_pid" || break
    if (exec 4<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
[ -n "$up" ] || fail "the stock nginx did not start listening on 127.0.0.1:$port" "$work/nginx.out"
say "stock nginx started (pid $nginx_pid)"

url=ws://127.0.0.1:$port/kafka

out=$(/usr/bin/pubsub-cli -t 10 "$url" ping hi 2> "$work/cli.err") \
    || fail "pubsub-cli $url ping hi: exit $?, $(cat "$work/cli.err")"
[ "$out" = '{"pong":"hi"}' ] || fail "pubsub-cli ping printed: $out"
say "pubsub-cli $url ping hi: $out"

echo "produce demo 0 hello key=deb-check" >&3
answer=
for _ in $(seq 100); do
    answer=$(sed -n 2p "$work/mock.out")
    [ -n "$answer" ] && break
    sleep 0.1
done
[ "$answer" = "ok 0" ] || fail "the test broker answered \"$answer\" to produce" "$work/mock.err"

out=$(/usr/bin/pubsub-cli -t 10 "$url" fetch demo 0 0 2> "$work/cli.err") \
    || fail "pubsub-cli $url fetch demo 0 0: exit $?, $(cat "$work/cli.err")"
grep -Eqx '\{"offset":0,"timestamp":[0-9]+,"key":"deb-check","value":"hello"\}' <<< "$out" \
    || fail "pubsub-cli fetch printed: $out"
say "pubsub-cli $url fetch demo 0 0: $out"

stop_nginx "$nginx_pid"
nginx_pid=
new_errors
if grep -E '\[(alert|crit|emerg)\]' "$work/error.log.part" > "$work/error.log.bad"; then
    fail "$error_log has alerts from the check" "$work/error.log.bad"
fi
say "stock nginx stopped"

exec 3>&-
wait "$mock_pid" 2> /dev/null || true
rm -f "$work/mock.pid"
mock_pid=

# ---- 5. remove the site, purge, nothing left

rm -f "$site"
nginx -t > "$work/nginx-t.log" 2>&1 \
    || fail "nginx -t after removing the site" "$work/nginx-t.log"

say "apt-get purge $pkgs"
purge || fail "apt-get purge failed" "$work/apt-purge.log"
installed=

for p in $pkgs; do
    ! is_installed "$p" || fail "$p is still installed after the purge"
    ! dpkg -L "$p" > /dev/null 2>&1 || fail "dpkg -L $p still lists files after the purge"
done
for f in "$module" "$snippet" /usr/bin/pubsub-cli \
         /usr/share/man/man1/pubsub-cli.1.gz "/usr/share/doc/$mod_pkg" \
         "/usr/share/doc/$cli_pkg" "$site"
do
    [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is left after the purge"
done
left=$(ls -d /etc/nginx/modules-enabled/*pubsub* 2> /dev/null || true)
[ -z "$left" ] || fail "left in /etc/nginx/modules-enabled/ after the purge: $left"

nginx -t > "$work/nginx-t.log" 2>&1 \
    || fail "nginx -t of the stock configuration after the purge" "$work/nginx-t.log"
say "purged: no files, no modules-enabled link, stock nginx -t passes"

say "ok ($(( $(date +%s) - start )) s)"
