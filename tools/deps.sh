#!/bin/sh
# Installs the Debian packages a group of make targets needs, and only those
# that are missing, saying what it installs.
# Usage: deps.sh build|test|run|valgrind|bench|deb|fuzz

set -e

build="nginx nginx-dev librdkafka-dev libprotobuf-c-dev protobuf-c-compiler
       libssl-dev libsasl2-dev pkg-config gcc make"
test="$build kcat curl libtest-base-perl libtext-diff-perl
      libprotocol-websocket-perl python3-protobuf protobuf-compiler
      python3-websockets chromium openssl libio-socket-ssl-perl
      python3-prometheus-client"
# "make deb": the build plus debian/control's Build-Depends (dpkg-buildpackage
# also wants build-essential) and lintian for tools/deb-check.sh
deb="$build build-essential debhelper dpkg-dev lintian"
# "make fuzz": libFuzzer and the sanitizers' runtimes come with clang's
fuzz="$build clang libclang-rt-14-dev"

case "$1" in
build|run) want="$build" ;;
test)      want="$test" ;;
valgrind)  want="$test valgrind" ;;
bench)     want="$build python3" ;;
deb)       want="$deb" ;;
fuzz)      want="$fuzz" ;;
*)         echo "usage: $0 build|test|run|valgrind|bench|deb|fuzz" >&2
           exit 2 ;;
esac

missing=

# Node.js runs the browser client's tests; any recent one will do
case "$1" in
test|valgrind) command -v node >/dev/null 2>&1 || missing=" nodejs" ;;
esac

for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'
    then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

echo "installing Debian packages:$missing"

if [ "$(id -u)" != 0 ]; then
    echo "run as root, or install them yourself: apt-get install$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
