# Developer convenience: nginx itself only reads ./config.
#
#   make                 build build/ngx_http_pubsub_kafka_module.so and tools
#   make test            run the regression suite (t/)
#   make test-valgrind   the same with nginx under valgrind memcheck
#   make run             start the gateway with an embedded broker
#   make fuzz            run the libFuzzer targets (FUZZ_SECONDS=N each)

SHELL       := /bin/bash
NGINX_SRC   ?= /usr/share/nginx/src
NGINX       ?= /usr/sbin/nginx
BUILD       := $(CURDIR)/build
OBJS        := $(BUILD)/nginx
MODULE      := $(BUILD)/ngx_http_pubsub_kafka_module.so
MOCK        := $(BUILD)/pubsub-kafka-mock
UNIT        := $(BUILD)/unit-tests
CLI         := $(BUILD)/pubsub-cli
BENCH       := $(BUILD)/pubsub-bench
PURE_FUZZ   := frame request record
FUZZ_BINS   := $(PURE_FUZZ:%=$(BUILD)/fuzz-%) $(BUILD)/fuzz-connection
REPLAY_BINS := $(FUZZ_BINS:%=%-replay)
SOAK        := $(BUILD)/pubsub-soak
PROVE_ARGS  ?= -r t

CFLAGS_TOOLS = -O2 -g -W -Wall -Werror -Wno-unused-parameter

SRCS := $(wildcard src/*.c src/*.h)

.PHONY: all deps test test-valgrind run clean fuzz fuzz-build bench \
        bench-smoke soak

all: deps $(MODULE) $(MOCK) $(UNIT) $(CLI) $(BENCH) $(SOAK) $(REPLAY_BINS)

deps:
	@sh tools/deps.sh build

# configure runs only when the module's build script or protocol change
$(OBJS)/Makefile: config proto/pubsub.proto
	mkdir -p $(OBJS)
	cd $(NGINX_SRC) && . ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="-fPIC" --with-ld-opt="-fPIC" \
	    --add-dynamic-module=$(CURDIR) \
	    --builddir=$(OBJS) > $(OBJS)/configure.log 2>&1 \
	    || { tail -20 $(OBJS)/configure.log; exit 1; }

$(MODULE): $(OBJS)/Makefile $(SRCS)
	$(MAKE) -s -f $(OBJS)/Makefile -C $(NGINX_SRC) modules
	test $(OBJS)/ngx_http_pubsub_kafka_module.so -nt $(OBJS)/Makefile
	cp $(OBJS)/ngx_http_pubsub_kafka_module.so $@.tmp && mv -f $@.tmp $@

$(MOCK): tools/pubsub_kafka_mock.c
	$(CC) $(CFLAGS_TOOLS) -o $@ $< -lrdkafka

# command-line client; protobuf-c code from the configure step, as $(UNIT)
$(CLI): tools/pubsub_cli.c tools/pubsub_client.c tools/pubsub_client.h \
        $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) -I $(OBJS)/ngx_http_pubsub_kafka_proto -I tools \
	    -o $@ tools/pubsub_cli.c tools/pubsub_client.c \
	    $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c -lprotobuf-c \
	    -lssl -lcrypto

# the load generator: WebSocket clients on tools/pubsub_client.c and the
# generated protobuf-c code, a librdkafka producer and bare consumer
BENCH_SRCS := bench/pubsub_bench.c bench/bench_ws.c bench/bench_kafka.c \
              bench/bench_util.c bench/bench_push.c bench/bench_produce.c

$(BENCH): $(BENCH_SRCS) bench/bench.h tools/pubsub_client.c \
          tools/pubsub_client.h $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) -I $(OBJS)/ngx_http_pubsub_kafka_proto -I tools \
	    -I bench -o $@ $(BENCH_SRCS) tools/pubsub_client.c \
	    $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c \
	    -lrdkafka -lprotobuf-c -lssl -lcrypto -lm

# the fault-and-load harness (soak/): WebSocket clients on
# tools/pubsub_client.c, a librdkafka producer and the final read of Kafka
SOAK_SRCS := soak/soak.c soak/soak_conn.c soak/soak_kafka.c soak/soak_util.c

$(SOAK): $(SOAK_SRCS) soak/soak.h tools/pubsub_client.c \
         tools/pubsub_client.h $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) -I $(OBJS)/ngx_http_pubsub_kafka_proto -I tools \
	    -I soak -o $@ $(SOAK_SRCS) tools/pubsub_client.c \
	    $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c \
	    -lrdkafka -lprotobuf-c -lssl -lcrypto -lm

# unit tests of the frame parser and the request decoder: plain C over bytes
PURE_SRCS := src/ngx_http_pubsub_ws_frame.c src/ngx_http_pubsub_codec.c \
             $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c
PURE_INCS := -I $(NGINX_SRC)/src/core -I $(NGINX_SRC)/src/os/unix \
             -I $(NGINX_SRC)/src/event -I $(OBJS) \
             -I $(OBJS)/ngx_http_pubsub_kafka_proto -I src

$(UNIT): t/unit/unit_tests.c $(SRCS) $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) $(PURE_INCS) -o $@ t/unit/unit_tests.c \
	    $(PURE_SRCS) -lprotobuf-c

# Fuzz targets (t/unit/fuzz_*.c): the frame parser, the request decoder,
# the record encoder, and a connection through the handshake, WebSocket
# and protocol layers on a fake nginx runtime with a fake backend
# (t/unit/fake_nginx.c, fake_backend.c).  "make fuzz-build" builds them
# with clang's libFuzzer, ASan and UBSan; "make fuzz" runs each for
# FUZZ_SECONDS (or FUZZ_RUNS inputs) on its corpus, t/fuzz/corpus/<target>
# (tools/fuzz.sh).  make builds each without libFuzzer too, with the
# compiler of the rest (build/fuzz-<target>-replay, t/unit/fuzz_replay.c):
# t/031-fuzz-corpus.t replays the corpora through the real code with them.
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?=
FUZZ_TARGETS ?= frame request record connection
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -W -Wall -Wno-unused-parameter


# the connection target: the layers 2-3 and what stands in for nginx
HTTP_INCS := $(PURE_INCS) -I $(NGINX_SRC)/src/event/modules \
             -I $(NGINX_SRC)/src/http -I $(NGINX_SRC)/src/http/modules \
             -I $(NGINX_SRC)/src/http/v2 -I t/unit
FAKE_SRCS := t/unit/fake_nginx.c t/unit/fake_log.c t/unit/fake_core.c \
             t/unit/fake_socket.c t/unit/fake_http.c t/unit/fake_backend.c \
             t/unit/fake_commands.c t/unit/fake_answers.c t/unit/fake_client.c \
             t/unit/fake_metrics.c
FAKE_DEPS := $(FAKE_SRCS) t/unit/fake_nginx.h t/unit/fake_backend.h \
             t/unit/fake_client.h
CONN_SRCS := $(PURE_SRCS) src/ngx_http_pubsub_ws_handshake.c \
             src/ngx_http_pubsub_websocket.c src/ngx_http_pubsub_ws_conf.c \
             src/ngx_http_pubsub_ws_output.c \
             src/ngx_http_pubsub_ws_metrics.c src/ngx_http_pubsub_protocol.c \
             src/ngx_http_pubsub_protocol_metrics.c $(FAKE_SRCS)

$(PURE_FUZZ:%=$(BUILD)/fuzz-%): $(BUILD)/fuzz-%: t/unit/fuzz_%.c $(SRCS) \
                                $(OBJS)/Makefile
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PURE_INCS) -o $@ $< $(PURE_SRCS) -lprotobuf-c

$(BUILD)/fuzz-connection: t/unit/fuzz_connection.c $(FAKE_DEPS) $(SRCS) \
                          $(OBJS)/Makefile
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(HTTP_INCS) -o $@ $< $(CONN_SRCS) -lprotobuf-c

$(PURE_FUZZ:%=$(BUILD)/fuzz-%-replay): $(BUILD)/fuzz-%-replay: \
        t/unit/fuzz_%.c t/unit/fuzz_replay.c $(SRCS) $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) $(PURE_INCS) -o $@ $< t/unit/fuzz_replay.c \
	    $(PURE_SRCS) -lprotobuf-c

$(BUILD)/fuzz-connection-replay: t/unit/fuzz_connection.c \
        t/unit/fuzz_replay.c $(FAKE_DEPS) $(SRCS) $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) $(HTTP_INCS) -o $@ $< t/unit/fuzz_replay.c \
	    $(CONN_SRCS) -lprotobuf-c

fuzz-build:
	@sh tools/deps.sh fuzz
	$(MAKE) $(FUZZ_BINS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) \
	    bash tools/fuzz.sh $(FUZZ_TARGETS)

test: all
	@sh tools/deps.sh test
	prove $(PROVE_ARGS)

test-valgrind: all
	@sh tools/deps.sh valgrind
	TEST_NGINX_USE_VALGRIND=1 prove $(PROVE_ARGS)

run: all
	@bash tools/run.sh

# benchmarks (bench/README.md): "bench" writes bench/results/*.json,
# "bench-smoke" runs every scenario at tiny sizes (CI; never on timings)
bench: all
	@sh tools/deps.sh bench
	bash bench/run.sh

bench-smoke: all
	@sh tools/deps.sh bench
	bash bench/run.sh --smoke

# the fault-and-load scenarios of t/070-soak.t at full size (about 15
# minutes): reports in soak/results/, a summary of the newest at the end
soak: all
	@sh tools/deps.sh test
	SOAK_FULL=1 prove t/070-soak.t
	@perl soak/summary.pl soak/results

# Debian packages (debian/): libnginx-mod-http-pubsub-kafka and pubsub-cli,
# version from debian/changelog, into build/deb/.  dpkg-buildpackage writes
# the packages next to the tree it builds, so it builds a copy of this one
# (build/deb/src, removed afterwards); debian/rules runs this Makefile there
DEB_DIR := $(BUILD)/deb

.PHONY: deb
deb:
	@sh tools/deps.sh deb
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar -c --exclude=./build --exclude=./.git --exclude=./t/servroot . \
	    | tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc
	rm -rf $(DEB_DIR)/src
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf $(BUILD) t/servroot
