# Developer convenience: nginx itself only reads ./config.
#
#   make                 build build/ngx_http_pubsub_kafka_module.so and tools
#   make test            run the regression suite (t/)
#   make test-valgrind   the same with nginx under valgrind memcheck
#   make run             start the gateway with an embedded broker

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
SOAK        := $(BUILD)/pubsub-soak
PROVE_ARGS  ?= -r t

CFLAGS_TOOLS = -O2 -g -W -Wall -Werror -Wno-unused-parameter

SRCS := $(wildcard src/*.c src/*.h)

.PHONY: all deps test test-valgrind run clean fuzz bench bench-smoke soak

all: deps $(MODULE) $(MOCK) $(UNIT) $(CLI) $(BENCH) $(SOAK)

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
	    $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c -lprotobuf-c

# the load generator: WebSocket clients on tools/pubsub_client.c and the
# generated protobuf-c code, a librdkafka producer and bare consumer
BENCH_SRCS := bench/pubsub_bench.c bench/bench_ws.c bench/bench_kafka.c \
              bench/bench_util.c

$(BENCH): $(BENCH_SRCS) bench/bench.h tools/pubsub_client.c \
          tools/pubsub_client.h $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) -I $(OBJS)/ngx_http_pubsub_kafka_proto -I tools \
	    -I bench -o $@ $(BENCH_SRCS) tools/pubsub_client.c \
	    $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c \
	    -lrdkafka -lprotobuf-c -lm

# the fault-and-load harness (soak/): WebSocket clients on
# tools/pubsub_client.c, a librdkafka producer and the final read of Kafka
SOAK_SRCS := soak/soak.c soak/soak_conn.c soak/soak_kafka.c soak/soak_util.c

$(SOAK): $(SOAK_SRCS) soak/soak.h tools/pubsub_client.c \
         tools/pubsub_client.h $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) -I $(OBJS)/ngx_http_pubsub_kafka_proto -I tools \
	    -I soak -o $@ $(SOAK_SRCS) tools/pubsub_client.c \
	    $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c \
	    -lrdkafka -lprotobuf-c -lm

# unit tests of the frame parser and the request decoder: plain C over bytes
PURE_SRCS := src/ngx_http_pubsub_ws_frame.c src/ngx_http_pubsub_codec.c \
             $(OBJS)/ngx_http_pubsub_kafka_proto/pubsub.pb-c.c
PURE_INCS := -I $(NGINX_SRC)/src/core -I $(NGINX_SRC)/src/os/unix \
             -I $(NGINX_SRC)/src/event -I $(OBJS) \
             -I $(OBJS)/ngx_http_pubsub_kafka_proto -I src

$(UNIT): t/unit/unit_tests.c $(SRCS) $(OBJS)/Makefile
	$(CC) $(CFLAGS_TOOLS) $(PURE_INCS) -o $@ t/unit/unit_tests.c \
	    $(PURE_SRCS) -lprotobuf-c

# libFuzzer targets over the same pure functions (clang; not part of CI)
fuzz: $(OBJS)/Makefile
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(PURE_INCS) \
	    -o $(BUILD)/fuzz-frame t/unit/fuzz_frame.c $(PURE_SRCS) -lprotobuf-c
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(PURE_INCS) \
	    -o $(BUILD)/fuzz-request t/unit/fuzz_request.c $(PURE_SRCS) \
	    -lprotobuf-c
	@echo "run: build/fuzz-frame -max_total_time=60" \
	      "build/fuzz-request -max_total_time=60"

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

# the fault-and-load scenarios of t/070-soak.t at full size (about 17
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
