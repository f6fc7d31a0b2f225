
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/* libFuzzer target: PubSubReq decoding */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_codec.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PubSubReq  *req;

    req = ngx_http_pubsub_decode_req((u_char *) data, size);

    if (req) {
        ngx_http_pubsub_free_req(req);
    }

    return 0;
}
