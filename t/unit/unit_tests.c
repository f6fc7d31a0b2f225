
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * Unit tests of the pure parts: the WebSocket frame parser and writer, and
 * the PubSubReq decoder and response header writer.  Prints TAP; run by
 * t/030-unit.t.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdio.h>
#include <stdlib.h>

#include "ngx_http_pubsub_ws_frame.h"
#include "ngx_http_pubsub_codec.h"


#define MAX_EVENTS  64


typedef struct {
    ngx_int_t    rc;
    ngx_uint_t   opcode;
    ngx_uint_t   message_opcode;
    size_t       len;
    u_char       data[256];
    unsigned     frame_done:1;
    unsigned     message_done:1;
    ngx_uint_t   status;
    const char  *error;
} event_t;


static ngx_uint_t  tests;
static ngx_uint_t  failed;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %lu - %s\n", cond ? "" : "not ", (unsigned long) tests,
           name);
}


/*
 * Feeds "in" to a fresh parser in chunks of "step" bytes (0: all at once)
 * and records what it emits; data chunks of one frame are joined.
 */

static ngx_uint_t
parse(u_char *in, size_t len, size_t step, uint64_t max, event_t *ev)
{
    u_char                       buf[4096], *pos, *last;
    size_t                       off, n;
    ngx_int_t                    rc;
    ngx_uint_t                   nev;
    ngx_http_pubsub_ws_parser_t  p;

    ngx_memcpy(buf, in, len);
    ngx_http_pubsub_ws_parser_init(&p, max);

    nev = 0;
    ev[0].len = 0;

    for (off = 0; off < len; off += n) {
        n = step ? ngx_min(step, len - off) : len - off;
        pos = buf + off;
        last = pos + n;

        for ( ;; ) {
            rc = ngx_http_pubsub_ws_parse(&p, &pos, last);

            if (rc == NGX_AGAIN) {
                break;
            }

            if (rc == NGX_ERROR) {
                ev[nev].rc = NGX_ERROR;
                ev[nev].status = p.status;
                ev[nev].error = p.error;
                return nev + 1;
            }

            ngx_memcpy(ev[nev].data + ev[nev].len, p.data,
                       ngx_min(p.len, sizeof(ev[nev].data) - ev[nev].len));
            ev[nev].len += p.len;

            if (!p.frame_done) {
                continue;
            }

            ev[nev].rc = rc;
            ev[nev].opcode = p.opcode;
            ev[nev].message_opcode = p.message_opcode;
            ev[nev].frame_done = 1;
            ev[nev].message_done = p.message_done;

            if (++nev == MAX_EVENTS) {
                return nev;
            }

            ev[nev].len = 0;
        }
    }

    return nev;
}


/* a masked client frame */

static size_t
frame(u_char *out, ngx_uint_t b0, u_char *payload, uint64_t len,
    ngx_uint_t force)
{
    u_char    *p, mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint64_t   i;

    p = out;
    *p++ = (u_char) b0;

    if (len < 126 && force == 0) {
        *p++ = (u_char) (0x80 | len);

    } else if (len <= 0xffff && force != 64) {
        *p++ = 0x80 | 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 0x80 | 127;

        for (i = 0; i < 8; i++) {
            *p++ = (u_char) (len >> ((7 - i) * 8));
        }
    }

    ngx_memcpy(p, mask, 4);
    p += 4;

    for (i = 0; i < len; i++) {
        *p++ = payload[i] ^ mask[i & 3];
    }

    return p - out;
}


static void
test_frames(void)
{
    u_char      in[8192], *p, big[300];
    size_t      n, step;
    ngx_uint_t  nev;
    event_t     ev[MAX_EVENTS];

    /* RFC 6455 5.7: a masked text "Hello" */
    static u_char  hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                               0x7f, 0x9f, 0x4d, 0x51, 0x58 };

    for (step = 0; step <= 1; step++) {
        nev = parse(hello, sizeof(hello), step, 1024, ev);
        ok(nev == 1 && ev[0].rc == NGX_HTTP_PUBSUB_WS_DATA
           && ev[0].len == 5 && ngx_memcmp(ev[0].data, "Hello", 5) == 0
           && ev[0].message_done
           && ev[0].message_opcode == NGX_HTTP_PUBSUB_WS_TEXT,
           step ? "RFC 6455 masked Hello, byte by byte"
                : "RFC 6455 masked Hello");
    }

    hello[1] &= 0x7f;
    nev = parse(hello, 7, 0, 1024, ev);
    ok(nev == 1 && ev[0].rc == NGX_ERROR && ev[0].status == 1002
       && ngx_strcmp(ev[0].error, "unmasked frame") == 0, "unmasked frame");

    n = frame(in, 0x82 | 0x40, (u_char *) "x", 1, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].rc == NGX_ERROR && ev[0].status == 1002
       && ngx_strcmp(ev[0].error, "reserved bits set") == 0, "rsv bits");

    n = frame(in, 0x83, (u_char *) "x", 1, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].status == 1002
       && ngx_strcmp(ev[0].error, "unknown opcode") == 0, "opcode 3");

    ngx_memset(big, 'a', sizeof(big));

    n = frame(in, 0x89, big, 126, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].status == 1002
       && ngx_strcmp(ev[0].error, "control frame over 125 bytes") == 0,
       "ping of 126 bytes");

    n = frame(in, 0x09, big, 3, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].status == 1002
       && ngx_strcmp(ev[0].error, "fragmented control frame") == 0,
       "fragmented ping");

    n = frame(in, 0x80, big, 3, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].status == 1002
       && ngx_strstr(ev[0].error, "no message started") != NULL,
       "continuation without a message");

    n = frame(in, 0x02, big, 3, 0);
    n += frame(in + n, 0x82, big, 3, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 2 && ev[1].rc == NGX_ERROR && ev[1].status == 1002
       && ngx_strstr(ev[1].error, "unfinished fragmented") != NULL,
       "new message inside a fragmented one");

    p = in;
    *p++ = 0x82;
    *p++ = 0x80 | 127;
    *p++ = 0x80;
    ngx_memzero(p, 7 + 4);
    nev = parse(in, 2 + 8 + 4, 0, 1024, ev);
    ok(nev == 1 && ev[0].status == 1002
       && ngx_strstr(ev[0].error, "most significant bit") != NULL,
       "64-bit length with the top bit set");

    n = frame(in, 0x82, big, 101, 0);
    nev = parse(in, n, 0, 100, ev);
    ok(nev == 1 && ev[0].status == 1009, "message over the limit: 1009");

    n = frame(in, 0x82, big, 100, 0);
    nev = parse(in, n, 0, 100, ev);
    ok(nev == 1 && ev[0].rc == NGX_HTTP_PUBSUB_WS_DATA && ev[0].len == 100,
       "message at the limit is accepted");

    n = frame(in, 0x02, big, 60, 0);
    n += frame(in + n, 0x80, big, 60, 0);
    nev = parse(in, n, 0, 100, ev);
    ok(nev == 2 && ev[1].rc == NGX_ERROR && ev[1].status == 1009,
       "fragments over the limit together: 1009");

    /* fragmented binary with a ping in between, byte by byte too */

    for (step = 0; step <= 1; step++) {
        n = frame(in, 0x02, (u_char *) "abc", 3, 0);
        n += frame(in + n, 0x89, (u_char *) "pp", 2, 0);
        n += frame(in + n, 0x80, (u_char *) "def", 3, 0);
        nev = parse(in, n, step, 1024, ev);
        ok(nev == 3
           && !ev[0].message_done && ev[0].len == 3
           && ev[1].opcode == NGX_HTTP_PUBSUB_WS_PING && ev[1].len == 2
           && ev[2].message_done && ev[2].len == 3
           && ngx_memcmp(ev[2].data, "def", 3) == 0
           && ev[2].message_opcode == NGX_HTTP_PUBSUB_WS_BINARY,
           step ? "fragments with an interleaved ping, byte by byte"
                : "fragments with an interleaved ping");
    }

    n = frame(in, 0x82, NULL, 0, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].len == 0 && ev[0].message_done,
       "empty binary frame");

    n = frame(in, 0x82, big, 200, 16);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].len == 200 && ev[0].message_done,
       "16-bit length");

    n = frame(in, 0x82, big, 5, 64);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 1 && ev[0].len == 5 && ngx_memcmp(ev[0].data, big, 5) == 0,
       "64-bit length");

    n = frame(in, 0x88, (u_char *) "\x03\xe8", 2, 0);
    n += frame(in + n, 0x8a, NULL, 0, 0);
    nev = parse(in, n, 0, 1024, ev);
    ok(nev == 2 && ev[0].opcode == NGX_HTTP_PUBSUB_WS_CLOSE
       && ev[0].len == 2 && ev[1].opcode == NGX_HTTP_PUBSUB_WS_PONG,
       "close and pong frames");
}


static void
test_writer(void)
{
    u_char  buf[16], *p;

    p = ngx_http_pubsub_ws_write_header(buf, NGX_HTTP_PUBSUB_WS_BINARY, 125);
    ok(p - buf == 2 && buf[0] == 0x82 && buf[1] == 125
       && ngx_http_pubsub_ws_header_size(125) == 2, "header, 125 bytes");

    p = ngx_http_pubsub_ws_write_header(buf, NGX_HTTP_PUBSUB_WS_BINARY, 126);
    ok(p - buf == 4 && buf[1] == 126 && buf[2] == 0 && buf[3] == 126
       && ngx_http_pubsub_ws_header_size(126) == 4, "header, 126 bytes");

    p = ngx_http_pubsub_ws_write_header(buf, NGX_HTTP_PUBSUB_WS_BINARY,
                                        65535);
    ok(p - buf == 4 && buf[2] == 0xff && buf[3] == 0xff,
       "header, 65535 bytes");

    p = ngx_http_pubsub_ws_write_header(buf, NGX_HTTP_PUBSUB_WS_CLOSE,
                                        65536);
    ok(p - buf == 10 && buf[0] == 0x88 && buf[1] == 127 && buf[7] == 1
       && buf[8] == 0 && buf[9] == 0
       && ngx_http_pubsub_ws_header_size(65536) == 10,
       "header, 65536 bytes, 64-bit length");

    ok(ngx_http_pubsub_ws_close_status_valid(1000)
       && ngx_http_pubsub_ws_close_status_valid(4999)
       && !ngx_http_pubsub_ws_close_status_valid(1005)
       && !ngx_http_pubsub_ws_close_status_valid(999)
       && !ngx_http_pubsub_ws_close_status_valid(2000),
       "close status codes");
}


static void
test_codec(void)
{
    u_char       buf[256], *p;
    size_t       n;
    PubSubReq   *req;
    PubSubResp   resp = PUB_SUB_RESP__INIT;
    PongResp     pong = PONG_RESP__INIT;

    /* sequence -1, cmd_ping { state "ab" } */
    static u_char  ping[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0x01, 0x82, 0x02, 0x04,
                              0x0a, 0x02, 'a', 'b' };

    req = ngx_http_pubsub_decode_req(ping, sizeof(ping));
    ok(req != NULL && req->sequence == -1
       && req->req_case == PUB_SUB_REQ__REQ_CMD_PING
       && req->cmd_ping->state.len == 2, "decode ping, sequence -1");

    if (req) {
        ngx_http_pubsub_free_req(req);
    }

    req = ngx_http_pubsub_decode_req(ping, sizeof(ping) - 1);
    ok(req == NULL, "truncated request is undecodable");

    req = ngx_http_pubsub_decode_req((u_char *) "\xff\xff", 2);
    ok(req == NULL, "garbage is undecodable");

    /* an unknown field 5 (varint) is skipped */
    req = ngx_http_pubsub_decode_req((u_char *) "\x08\x07\x28\x01", 4);
    ok(req != NULL && req->sequence == 7
       && req->req_case == PUB_SUB_REQ__REQ__NOT_SET,
       "unknown field skipped, no command");

    if (req) {
        ngx_http_pubsub_free_req(req);
    }

    ok(ngx_http_pubsub_varint_size(0) == 1
       && ngx_http_pubsub_varint_size(127) == 1
       && ngx_http_pubsub_varint_size(128) == 2
       && ngx_http_pubsub_varint_size((uint64_t) -1) == 10,
       "varint sizes");

    /* a raw response equals what protobuf-c packs */

    pong.state.data = (uint8_t *) "xyz";
    pong.state.len = 3;
    resp.sequence = -5;
    resp.resp_case = PUB_SUB_RESP__RESP_PONG_RESP;
    resp.pong_resp = &pong;

    n = pub_sub_resp__pack(&resp, buf);

    p = buf + 128;
    p = ngx_http_pubsub_resp_write_header(p, -5, 32, 5);
    *p++ = 0x0a;
    *p++ = 3;
    p = ngx_cpymem(p, "xyz", 3);

    ok((size_t) (p - (buf + 128)) == n
       && ngx_memcmp(buf, buf + 128, n) == 0
       && ngx_http_pubsub_resp_header_size(-5, 32, 5) + 5 == n,
       "raw response header matches protobuf-c");

    n = ngx_http_pubsub_resp_header_size(0, 33, 0);
    p = ngx_http_pubsub_resp_write_header(buf, 0, 33, 0);
    ok(n == 3 && p - buf == 3 && buf[0] == 0x8a && buf[1] == 0x02
       && buf[2] == 0, "empty fetch response, sequence 0 omitted");
}


/*
 * A record written by hand is what protobuf-c packs, for bodies whose
 * length varint changes size (126-128, 16382-16384 bytes) among others.
 */

static void
test_records(void)
{
    u_char                       *mine, *theirs;
    size_t                        len, n, body;
    ngx_uint_t                    bad;
    KafkaMessage                  km = KAFKA_MESSAGE__INIT;
    KafkaMessage                 *kms[1];
    KafkaFetchResp                fr = KAFKA_FETCH_RESP__INIT;
    ngx_http_pubsub_pb_record_t   rec;
    ngx_http_pubsub_pb_layout_t   layout;

    static u_char  value[20000];

    bad = 0;

    for (body = 8; body < 20000; body++) {
        if (body > 300 && (body < 16300 || body > 16500)) {
            continue;
        }

        ngx_memzero(&rec, sizeof(rec));
        rec.offset = 5;
        rec.value = value;
        rec.value_len = body - 4;   /* offset 2 bytes, value's head 2-3 */

        len = ngx_http_pubsub_record_size(&rec);
        mine = malloc(len);
        (void) ngx_http_pubsub_record_write(mine, &rec, &layout);

        km.offset = 5;
        km.value.data = value;
        km.value.len = rec.value_len;
        kms[0] = &km;
        fr.n_messages = 1;
        fr.messages = kms;

        n = kafka_fetch_resp__get_packed_size(&fr);
        theirs = malloc(n);
        (void) kafka_fetch_resp__pack(&fr, theirs);

        if (n != len || ngx_memcmp(mine, theirs, n) != 0) {
            bad++;
        }

        free(mine);
        free(theirs);
    }

    ok(bad == 0, "records of every body size as protobuf-c packs them");

    /* no timestamp: -1, a 10-byte varint, as protobuf and APISIX send it */

    ngx_memzero(&rec, sizeof(rec));
    rec.offset = 7;
    rec.timestamp = -1;

    len = ngx_http_pubsub_record_size(&rec);
    mine = malloc(len);
    (void) ngx_http_pubsub_record_write(mine, &rec, &layout);

    km.offset = 7;
    km.timestamp = -1;
    km.value.len = 0;
    km.value.data = NULL;

    n = kafka_fetch_resp__get_packed_size(&fr);
    theirs = malloc(n);
    (void) kafka_fetch_resp__pack(&fr, theirs);

    ok(n == len && ngx_memcmp(mine, theirs, n) == 0 && len == 2 + 2 + 11
       && mine[4] == 0x10 && mine[14] == 0x01,
       "timestamp -1 as protobuf-c packs it, in 10 bytes");

    free(mine);
    free(theirs);
}


/* what the check finds in bytes that are not a valid PubSubReq */

static void
test_check(void)
{
    ngx_uint_t                   i;
    ngx_int_t                    rc;
    ngx_http_pubsub_pb_check_t   chk;

    static struct {
        const char  *name;
        const char  *bytes;
        size_t       len;
        ngx_int_t    rc;
        ngx_uint_t   fault;
        const char  *path;
        const char  *field;
        int64_t      sequence;
        ngx_uint_t   command;
    } cases[] = {

        { "ping, sequence 3", "\x08\x03\x82\x02\x00", 5,
          NGX_OK, NGX_HTTP_PUBSUB_PB_OK, "", NULL, 3, 32 },

        { "garbage", "\xff\xff", 2,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_CUT, "PubSubReq", NULL, 0, 0 },

        /* sequence 9, cmd_kafka_fetch { offset: length-delimited } */
        { "a varint sent as bytes", "\x08\x09\x8a\x02\x03\x1a\x01x", 8,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_WIRE_TYPE, "CmdKafkaFetch",
          "offset", 9, 33 },

        /* cmd_kafka_subscribe { filter { headers { key "a\0" } } } */
        { "a NUL in a nested string",
          "\x08\x01\xaa\x06\x08\x32\x06\x12\x04\x0a\x02" "a\0", 13,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_NUL,
          "CmdKafkaSubscribe.filter.headers", "key", 1, 101 },

        { "a group", "\x08\x02\x0b", 3,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_WIRE_TYPE, "PubSubReq",
          "sequence", 2, 0 },

        { "field 0", "\x00\x01", 2,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_FIELD_ZERO, "PubSubReq", NULL,
          0, 0 },

        { "a key of 6 bytes", "\x88\x80\x80\x80\x80\x00\x01", 7,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_LONG_KEY, "PubSubReq", NULL,
          0, 0 },

        { "a varint of 11 bytes",
          "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_LONG_VARINT, "PubSubReq",
          "sequence", 0, 0 },

        /* cmd_kafka_committed { partitions: packed, cut inside a varint } */
        { "packed partitions cut short",
          "\xd2\x06\x04\x1a\x02\x01\x80", 7,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_CUT, "CmdKafkaCommitted",
          "partitions", 0, 106 },

        /* an unknown field 7 of PubSubReq, bytes running past the end */
        { "an unknown field cut short", "\x3a\x05xx", 4,
          NGX_DECLINED, NGX_HTTP_PUBSUB_PB_CUT, "PubSubReq", NULL, 0, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = ngx_http_pubsub_check_req((u_char *) cases[i].bytes,
                                       cases[i].len, &chk);

        ok(rc == cases[i].rc && chk.fault == cases[i].fault
           && ngx_strcmp(chk.path, cases[i].path) == 0
           && ((chk.name == NULL && cases[i].field == NULL)
               || (chk.name && cases[i].field
                   && ngx_strcmp(chk.name, cases[i].field) == 0))
           && chk.sequence == cases[i].sequence
           && chk.command == cases[i].command,
           cases[i].name);
    }
}


int
main(void)
{
    test_frames();
    test_writer();
    test_codec();
    test_records();
    test_check();

    printf("1..%lu\n", (unsigned long) tests);

    return failed ? 1 : 0;
}
