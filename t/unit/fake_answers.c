
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/* The fake backend (see fake_backend.c): answers, as messages and as raw
 * records through the codec. */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "fake_nginx.h"
#include "fake_backend.h"


typedef struct {
    fake_cmd_t                  *fc;
    ngx_uint_t                   n;
    ngx_uint_t                   bad;
} fake_raw_t;


/* bytes answers share, as a backend's window holds them */
typedef struct {
    ngx_http_pubsub_ws_shared_t  shared;
    u_char                       data[1];
} fake_shared_t;


static u_char *fake_raw_write(u_char *p, void *data);
static ngx_int_t fake_answer_shared(fake_cmd_t *fc, fake_raw_t *raw);
static void fake_shared_release(ngx_http_pubsub_ws_shared_t *sh);


/* ---------------------------------------------------------------------- */
/* answers */


ngx_int_t
fake_answer(fake_cmd_t *fc, ngx_uint_t ended)
{
    ngx_uint_t             i;
    PubSubResp             resp = PUB_SUB_RESP__INIT;
    PongResp               pong = PONG_RESP__INIT;
    KafkaFetchResp         fetch = KAFKA_FETCH_RESP__INIT;
    KafkaMessage           msg = KAFKA_MESSAGE__INIT, *msgs[1];
    KafkaHeader            hdr = KAFKA_HEADER__INIT, *hdrs[1];
    KafkaListOffsetResp    list = KAFKA_LIST_OFFSET_RESP__INIT;
    KafkaSubscribeResp     sub = KAFKA_SUBSCRIBE_RESP__INIT;
    KafkaProduceResp       prod = KAFKA_PRODUCE_RESP__INIT;
    KafkaCommitResp        commit = KAFKA_COMMIT_RESP__INIT;
    KafkaCommittedResp     committed = KAFKA_COMMITTED_RESP__INIT;
    KafkaPartitionOffset   po[FAKE_PARTITIONS_MAX], *pos[FAKE_PARTITIONS_MAX];

    for (i = 0; i < fc->npartitions; i++) {
        kafka_partition_offset__init(&po[i]);
        po[i].partition = fc->partitions[i];
        po[i].offset = fc->offset + (int64_t) i;
        pos[i] = &po[i];
    }

    switch (fc->type) {

    case PUB_SUB_REQ__REQ_CMD_PING:
        pong.state.data = fc->key;
        pong.state.len = fc->key_len;
        resp.resp_case = PUB_SUB_RESP__RESP_PONG_RESP;
        resp.pong_resp = &pong;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH:
        msg.offset = fc->offset;
        msg.timestamp = -1;
        msg.key.data = fc->key;
        msg.key.len = fc->key_len;
        msg.value.data = fake_value;
        msg.value.len = fc->value_len;
        msg.partition = fc->partition;
        hdr.key = "h";
        hdr.value.data = fc->key;
        hdr.value.len = fc->key_len;
        hdrs[0] = &hdr;
        msg.n_headers = fc->arg & 1;
        msg.headers = hdrs;
        msgs[0] = &msg;
        fetch.n_messages = (fc->arg & 2) ? 0 : 1;
        fetch.messages = msgs;
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP;
        resp.kafka_fetch_resp = &fetch;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_LIST_OFFSET:
        list.offset = fc->offset;
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_LIST_OFFSET_RESP;
        resp.kafka_list_offset_resp = &list;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE:
        sub.n_positions = fc->npartitions;
        sub.positions = pos;
        sub.ended = ended;
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_SUBSCRIBE_RESP;
        resp.kafka_subscribe_resp = &sub;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_PRODUCE:
        prod.partition = fc->partition;
        prod.offset = (int64_t) fc->arg;
        prod.timestamp = fc->timestamp;
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_PRODUCE_RESP;
        resp.kafka_produce_resp = &prod;
        break;

    case PUB_SUB_REQ__REQ_CMD_KAFKA_COMMIT:
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_COMMIT_RESP;
        resp.kafka_commit_resp = &commit;
        break;

    default: /* PUB_SUB_REQ__REQ_CMD_KAFKA_COMMITTED */
        committed.n_offsets = fc->npartitions;
        committed.offsets = pos;
        resp.resp_case = PUB_SUB_RESP__RESP_KAFKA_COMMITTED_RESP;
        resp.kafka_committed_resp = &committed;
        break;
    }

    return ngx_http_pubsub_send(fc->cmd, &resp);
}


static void
fake_record(fake_cmd_t *fc, ngx_uint_t i, ngx_http_pubsub_pb_record_t *rec,
    ngx_http_pubsub_pb_header_t *h)
{
    ngx_memzero(rec, sizeof(ngx_http_pubsub_pb_record_t));

    rec->offset = fc->offset + (int64_t) i;
    rec->timestamp = (fc->arg & 2) ? -1 : 1700000000000LL + (int64_t) i;
    rec->key = fc->key;
    rec->key_len = fc->key_len;
    rec->value = fake_value;
    rec->value_len = fc->value_len;
    rec->partition = fc->partition;

    h[0].key = (u_char *) "h";
    h[0].key_len = 1;
    h[0].value = fc->key;
    h[0].value_len = fc->key_len;

    h[1].key = NULL;
    h[1].key_len = 0;
    h[1].value = fake_value;
    h[1].value_len = i;

    rec->headers = h;
    rec->nheaders = ngx_min((fc->arg & 3), 2);
}


size_t
fake_raw_len(fake_cmd_t *fc, ngx_uint_t n)
{
    size_t                        len;
    ngx_uint_t                    i;
    ngx_http_pubsub_pb_record_t   rec;
    ngx_http_pubsub_pb_header_t   h[2];

    len = 0;

    for (i = 0; i < n; i++) {
        fake_record(fc, i, &rec, h);
        len += ngx_http_pubsub_record_size(&rec);
    }

    return len;
}


/* records through the codec, checked on the way: the layout, the headers */

static u_char *
fake_raw_write(u_char *p, void *data)
{
    fake_raw_t *raw = data;

    u_char                       *start, *hp, *hlast;
    ngx_int_t                     rc;
    ngx_uint_t                    i, j;
    ngx_http_pubsub_pb_header_t   h[2], got;
    ngx_http_pubsub_pb_layout_t   layout;
    ngx_http_pubsub_pb_record_t   rec;

    for (i = 0; i < raw->n; i++) {
        fake_record(raw->fc, i, &rec, h);

        start = p;
        p = ngx_http_pubsub_record_write(p, &rec, &layout);

        if ((size_t) (p - start) != ngx_http_pubsub_record_size(&rec)) {
            fake_fatal("record_write() and record_size() disagree");
        }

        if (layout.key_len != rec.key_len
            || (rec.key_len && ngx_memcmp(layout.key, rec.key, rec.key_len)))
        {
            fake_fatal("the record's layout misplaces its key");
        }

        hp = layout.headers;
        hlast = layout.headers + layout.headers_len;

        for (j = 0; ; j++) {
            rc = ngx_http_pubsub_record_header(&hp, hlast, &got);

            if (rc != NGX_OK) {
                break;
            }

            if (j >= rec.nheaders
                || got.key_len != h[j].key_len
                || got.value_len != h[j].value_len
                || (got.key_len && ngx_memcmp(got.key, h[j].key, got.key_len))
                || (got.value_len
                    && ngx_memcmp(got.value, h[j].value, got.value_len)))
            {
                fake_fatal("record_header() gives another header back");
            }
        }

        if (rc != NGX_DONE || j != rec.nheaders) {
            fake_fatal("record_header() stops at %lu of %lu headers",
                       (unsigned long) j, (unsigned long) rec.nheaders);
        }
    }

    return raw->bad ? p - 1 : p;
}


ngx_int_t
fake_answer_raw(fake_cmd_t *fc, ngx_uint_t n, ngx_uint_t bad)
{
    fake_raw_t  raw;

    raw.fc = fc;
    raw.n = n;
    raw.bad = bad;

    if (!bad && (fc->arg & 0x80)) {
        return fake_answer_shared(fc, &raw);
    }

    return ngx_http_pubsub_send_raw(fc->cmd,
                                    PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                    fake_raw_len(fc, n), fake_raw_write,
                                    &raw);
}


/*
 * The same records written once into counted bytes and sent as up to
 * three pieces of them (ngx_http_pubsub_send_pieces()); the owner's
 * reference goes at once, so the frame alone keeps them alive, through
 * short writes and closes.
 */

static ngx_int_t
fake_answer_shared(fake_cmd_t *fc, fake_raw_t *raw)
{
    size_t                       len, cut[4];
    ngx_int_t                    rc;
    ngx_uint_t                   i, n;
    fake_shared_t               *sh;
    ngx_http_pubsub_ws_piece_t   pieces[3];

    len = fake_raw_len(fc, raw->n);

    sh = ngx_alloc(offsetof(fake_shared_t, data) + len, &fake_log);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->shared.refs = 1;
    sh->shared.release = fake_shared_release;

    if (fake_raw_write(sh->data, raw) != sh->data + len) {
        fake_fatal("the records are not the length they announced");
    }

    cut[0] = 0;
    cut[1] = len / 3;
    cut[2] = 2 * len / 3;
    cut[3] = len;

    n = 0;

    for (i = 0; i < 3; i++) {
        if (cut[i + 1] > cut[i]) {
            pieces[n].data = sh->data + cut[i];
            pieces[n].len = cut[i + 1] - cut[i];
            pieces[n].shared = &sh->shared;
            n++;
        }
    }

    rc = ngx_http_pubsub_send_pieces(fc->cmd,
                                     PUB_SUB_RESP__RESP_KAFKA_FETCH_RESP,
                                     pieces, n, len);

    ngx_http_pubsub_ws_unshare(&sh->shared);

    return rc;
}


static void
fake_shared_release(ngx_http_pubsub_ws_shared_t *sh)
{
    ngx_free(sh);
}
