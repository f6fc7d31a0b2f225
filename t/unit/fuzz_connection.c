
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * libFuzzer target: one client connection through the real handshake,
 * WebSocket and protocol code (ngx_http_pubsub_ws_handshake.c,
 * _websocket.c, _ws_output.c, _protocol.c, _codec.c, _ws_frame.c) on the
 * fake nginx runtime (fake_nginx.c and the files it names), with the
 * Kafka backend replaced by fake_backend.c's; the client's requests and
 * the checks of what it gets are fake_client.c's.  The input is a script:
 *
 *   byte 0   bits 0-1: 0-2 a valid handshake (three variants), 3 the
 *                      request from the input (below)
 *            bit 2: pubsub_ping_interval 1s      bit 3: idle timeout 3s
 *                                                (set a level up)
 *            bit 4: pubsub_expires 5s            bit 5: the client reads
 *                   only what WINDOW ops let it (else all at once)
 *            bit 6: pubsub_max_inflight 2 (else 64)
 *            bit 7: bytes sent with the handshake (below)
 *   byte 1   bits 0-1: pubsub_max_message_size 4k, 16, 200, unset (1m)
 *            bits 2-3: pubsub_output_queue_size 2k, 1k, 8k, 1023 (which
 *                      the module's merge_loc_conf refuses)
 *            bits 4-7: 8 a TLS connection, 9 the worker is exiting already,
 *                      10 send_header() fails, 11 TCP_NODELAY fails,
 *                      12 the n-th allocation fails (n: the next byte),
 *                      13 tcp_nodelay off, 14 adding a read event fails,
 *                      15 adding a write event fails; else none
 *   [request: 2 bytes of length, then "GET /ws HTTP/1.1\r\nName: v\r\n..."]
 *   [with bit 7: 1 byte of length, then the bytes]
 *   then operations, one byte each (high 3 bits the op, low 5 its arg):
 *     0 DATA   arg bytes (31: a 2-byte length follows) arrive at once
 *     7 DATA   the same, but while they are read more keeps coming:
 *              each recv() gives 1 to 16 of them (a byte says)
 *     1 EVENTS arg 1: a read event with nothing new, 2: a write event,
 *              4: the client's FIN, 8: its RST
 *     2 WINDOW the client reads arg * arg * 4 bytes (0: all from now)
 *     3 TIME   arg * 10 ms (arg < 16), else (arg - 15) s pass
 *     4 BACKEND  fake_backend_event(arg)
 *     5 SOCKET 0: writes fail, 1: the client stops reading,
 *              2/3: adding read/write events fails from now
 *     6 QUIT   the worker begins to exit: idle connections close
 * At the end the worker exits; then the connection must be closed, no
 * timer or posted event left, every session closed, no alert logged (but
 * the one a backend asks for) and everything the server wrote well
 * formed: the head of the response, then server frames, a close frame
 * last.  LeakSanitizer sees every allocation freed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <stdio.h>
#include <stdlib.h>

#include "fake_nginx.h"
#include "fake_backend.h"
#include "fake_client.h"
#include "ngx_http_pubsub_websocket.h"
#include "ngx_http_pubsub_protocol.h"


typedef struct {
    const u_char              *p;
    const u_char              *end;
} fuzz_input_t;


static ngx_http_core_loc_conf_t    fuzz_clcf;
static ngx_http_pubsub_ws_conf_t   fuzz_wscf;
static void                       *fuzz_loc_conf[FAKE_NMODULES];
fuzz_state_t                       fuzz;


static size_t
fuzz_take(fuzz_input_t *in, size_t n, const u_char **data)
{
    n = ngx_min(n, (size_t) (in->end - in->p));
    *data = in->p;
    in->p += n;

    return n;
}


static ngx_uint_t
fuzz_byte(fuzz_input_t *in)
{
    return in->p < in->end ? *in->p++ : 0;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fake_init();
    fake_backend_init();
    fuzz_self_test();

    ngx_http_pubsub_ws_module.ctx_index = FAKE_WS_INDEX;

    fuzz_loc_conf[FAKE_CORE_INDEX] = &fuzz_clcf;
    fuzz_loc_conf[FAKE_WS_INDEX] = &fuzz_wscf;

    return 0;
}


/* ---------------------------------------------------------------------- */
/* the glue: ngx_http_pubsub_handler() without the access phases */


static ngx_int_t
fuzz_handler(ngx_http_request_t *r, ngx_msec_t expires)
{
    ngx_int_t                   rc;
    ngx_http_request_t          parent;
    ngx_http_pubsub_ws_t       *ws;
    ngx_http_pubsub_session_t  *s;

    if (r->uri.len == 4 && ngx_strncmp(r->uri.data, "/sub", 4) == 0) {
        parent = *r;
        r->main = &parent;
        rc = ngx_http_pubsub_ws_handshake(r);
        r->main = r;

        if (rc != NGX_HTTP_INTERNAL_SERVER_ERROR) {
            fake_fatal("a subrequest passed the handshake");
        }

        return rc;
    }

    rc = ngx_http_pubsub_ws_handshake(r);

    if (rc != NGX_OK) {
        if (rc == NGX_HTTP_UPGRADE_REQUIRED) {
            return ngx_http_pubsub_ws_upgrade_required(r);
        }

        return rc;
    }

    fuzz_expect_accept(r);

    ws = ngx_http_pubsub_ws_create(r);
    if (ws == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_pubsub_ws_get(r) != ws) {
        fake_fatal("ws_get() does not find the WebSocket");
    }

    s = ngx_http_pubsub_session_create(ws, &fake_registry);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (expires) {
        ngx_http_pubsub_ws_expire_at(ws, expires);
    }

    r->main->count++;

    ngx_http_pubsub_ws_start(ws);

    /* the request lives on until the posted requests run */

    if (ws->started) {
        fuzz.upgraded = 1;

    } else {
        fuzz.start_failed = 1;
    }

    return NGX_DONE;
}


/* ---------------------------------------------------------------------- */


/*
 * The location's WebSocket conf as nginx makes it: the module's own
 * create_loc_conf and merge_loc_conf, with the directives the input sets
 * (the rest from the defaults); NGX_DECLINED when nginx -t would refuse it.
 */

static ngx_int_t
fuzz_ws_conf(ngx_uint_t cfg0, ngx_uint_t cfg1)
{
    char                       *rv;
    ngx_conf_t                  cf;
    ngx_http_module_t          *ctx;
    ngx_http_pubsub_ws_conf_t  *parent, *child;

    static size_t  max_message[] = { 4096, 16, 200, NGX_CONF_UNSET_SIZE };
    static size_t  max_output[] = { 2048, 1024, 8192, 1023 };

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = fake_create_pool(&fake_log);
    cf.log = &fake_log;

    ctx = ngx_http_pubsub_ws_module.ctx;

    parent = ctx->create_loc_conf(&cf);
    child = ctx->create_loc_conf(&cf);

    if (parent == NULL || child == NULL) {
        fake_fatal("create_loc_conf() failed");
    }

    child->max_message = max_message[cfg1 & 3];
    child->max_output = max_output[(cfg1 >> 2) & 3];

    if (cfg0 & 0x04) {
        child->ping_interval = 1000;
    }

    if (cfg0 & 0x08) {
        parent->idle_timeout = 3000;    /* inherited */
    }

    rv = ctx->merge_loc_conf(&cf, parent, child);

    if (rv == NGX_CONF_OK) {
        fuzz_wscf = *child;
    }

    fake_destroy_pool(cf.pool);

    return rv == NGX_CONF_OK ? NGX_OK : NGX_DECLINED;
}


static void
fuzz_config(ngx_uint_t cfg0, ngx_uint_t cfg1, fuzz_input_t *in)
{
    ngx_uint_t  fault;

    ngx_memzero(&fuzz_clcf, sizeof(ngx_http_core_loc_conf_t));
    fuzz_clcf.send_timeout = 60000;
    fuzz_clcf.send_lowat = 0;
    fuzz_clcf.tcp_nodelay = 1;
    fuzz_clcf.lingering_timeout = 5000;
    fuzz_clcf.lingering_time = 30000;

    fake_registry.max_inflight = (cfg0 & 0x40) ? 2 : 64;

    if (cfg0 & 0x20) {
        fake_sock.unlimited = 0;
        fake_sock.window = 0;
    }

    fault = cfg1 >> 4;

    switch (fault) {

    case 8:
        /* TLS: only c->ssl->buffer is the WebSocket's business */
        fake_conn->ssl = calloc(1, sizeof(ngx_ssl_connection_t));

        if (fake_conn->ssl == NULL) {
            fake_fatal("out of memory");
        }

        fake_conn->ssl->buffer = 1;
        break;

    case 9:
        ngx_exiting = 1;
        break;

    case 10:
        fake.fail_send_header = 1;
        break;

    case 11:
        fake.fail_nodelay = 1;
        break;

    case 12:
        fake.fail_alloc_at = fuzz_byte(in) + 1;
        break;

    case 13:
        fuzz_clcf.tcp_nodelay = 0;
        break;

    case 14:
        fake.fail_read_event = 1;
        break;

    case 15:
        fake.fail_write_event = 1;
        break;

    default:
        break;
    }
}


static void
fuzz_data(fuzz_input_t *in, ngx_uint_t arg, ngx_uint_t pieces)
{
    size_t         len, step;
    const u_char  *data;

    len = arg;

    if (arg == 0x1f) {
        len = fuzz_byte(in) << 8;
        len |= fuzz_byte(in);
    }

    step = pieces ? (fuzz_byte(in) & 0x0f) + 1 : 0;

    len = fuzz_take(in, len, &data);

    fake_sock.recv_max = step;
    fake_client_send((u_char *) data, len);
    fake_run();
    fake_sock.recv_max = 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               len;
    ngx_int_t            rc;
    ngx_uint_t           cfg0, cfg1, op, arg;
    fuzz_input_t         in;
    const u_char        *bytes;
    ngx_buf_t           *b;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (size < 2) {
        return 0;
    }

    in.p = data;
    in.end = data + size;

    fake_reset();
    fake_backend_reset();
    ngx_memzero(&fuzz, sizeof(fuzz_state_t));

    cfg0 = fuzz_byte(&in);
    cfg1 = fuzz_byte(&in);

    if (fuzz_ws_conf(cfg0, cfg1) != NGX_OK) {
        return 0;
    }

    c = fake_connection_create();
    r = fake_request_create(c, fuzz_loc_conf);

    fuzz_config(cfg0, cfg1, &in);

    if ((cfg0 & 3) == 3) {
        len = fuzz_byte(&in) << 8;
        len |= fuzz_byte(&in);
        len = fuzz_take(&in, len, &bytes);
        rc = fuzz_parse_request(r, bytes, len);

    } else {
        rc = fuzz_fixed_request(r, cfg0 & 3);
    }

    /* what came with the request, behind it */

    b = r->header_in;

    if (cfg0 & 0x80) {
        len = fuzz_take(&in, fuzz_byte(&in), &bytes);
        b->start = fuzz_dup(r, bytes, len);
        b->pos = b->start;
        b->last = b->start + len;
        b->end = b->last;
    }

    fake.alloc_armed = 1;

    if (rc == NGX_OK) {
        rc = fuzz_handler(r, (cfg0 & 0x10) ? 5000 : 0);

    } else {
        fuzz.rejected = 1;
    }

    /* ngx_http_core_content_phase(), then ngx_http_process_request() */

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);

    fake_run();

    while (in.p < in.end && !fake_connection_closed()) {
        op = fuzz_byte(&in);
        arg = op & 0x1f;

        switch (op >> 5) {

        case 0:
            fuzz_data(&in, arg, 0);
            break;

        case 7:
            fuzz_data(&in, arg, 1);
            break;

        case 1:
            if (arg & 4) {
                fake_client_eof(0);
            }

            if (arg & 8) {
                fake_client_eof(1);
            }

            fake_spurious_events(arg & 1, arg & 2);
            break;

        case 2:
            fake_client_window(arg * arg * 4, arg == 0);
            break;

        case 3:
            fake_advance(arg < 16 ? arg * 10 : (arg - 15) * 1000);
            break;

        case 4:
            fake_backend_event(arg);
            break;

        case 5:
            switch (arg & 3) {
            case 0:
                fake_sock.send_error = 1;
                break;
            case 1:
                fake_sock.unlimited = 0;
                fake_sock.window = 0;
                break;
            case 2:
                fake.fail_read_event = 1;
                break;
            default:
                fake.fail_write_event = 1;
                break;
            }

            break;

        default: /* 6 */
            ngx_exiting = 1;
            fake_close_idle();
            break;
        }

        fake_run();
    }

    fake_worker_exit();

    if (fake_timers_left() || fake_posted_left()) {
        fake_fatal("%lu timers and %lu posted events left after the "
                   "connection closed",
                   (unsigned long) fake_timers_left(),
                   (unsigned long) fake_posted_left());
    }

    if (ngx_http_pubsub_ws_open() != 0) {
        fake_fatal("ngx_http_pubsub_ws_open() is %lu with no connection",
                   (unsigned long) ngx_http_pubsub_ws_open());
    }

    if (fake_backend_sessions() != 0) {
        fake_fatal("a backend session was never closed");
    }

    if (fake.alerts && !fake_backend_expect_alert()) {
        fake_fatal("alert logged: %s", fake.alert);
    }

    fuzz_check_output();

    fake_connection_release();

    return 0;
}
