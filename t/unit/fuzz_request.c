
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * libFuzzer target: PubSubReq checking and decoding.  The check must be
 * as strict as protobuf-c: what it passes, protobuf-c decodes (else the
 * worker would answer "internal error" and log at "error" level for a
 * client's bytes).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_codec.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                    rc;
    PubSubReq                   *req;
    ngx_http_pubsub_pb_check_t   chk;

    rc = ngx_http_pubsub_check_req((u_char *) data, size, &chk);

    req = ngx_http_pubsub_decode_req((u_char *) data, size);

    if (rc == NGX_OK && req == NULL) {
        __builtin_trap();
    }

    if (req) {
        if (rc == NGX_OK
            && ((int64_t) req->sequence != chk.sequence
                || (ngx_uint_t) req->req_case != chk.command))
        {
            __builtin_trap();
        }

        ngx_http_pubsub_free_req(req);
    }

    return 0;
}
