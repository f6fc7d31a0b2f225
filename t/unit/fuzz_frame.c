
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/* libFuzzer target: the WebSocket frame parser, fed in random splits */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_pubsub_ws_frame.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                       *buf, *pos, *last;
    size_t                        step, off, n;
    ngx_int_t                     rc;
    ngx_http_pubsub_ws_parser_t   p;

    if (size < 1) {
        return 0;
    }

    step = (data[0] % 16) + 1;

    buf = malloc(size);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    ngx_http_pubsub_ws_parser_init(&p, 4096);

    for (off = 1; off < size; off += n) {
        n = ngx_min(step, size - off);
        pos = buf + off;
        last = pos + n;

        do {
            rc = ngx_http_pubsub_ws_parse(&p, &pos, last);

            if (rc == NGX_ERROR) {
                goto done;
            }

            if (rc == NGX_HTTP_PUBSUB_WS_DATA
                && (p.data < buf || p.data + p.len > buf + size))
            {
                __builtin_trap();
            }

        } while (rc != NGX_AGAIN);
    }

done:

    free(buf);

    return 0;
}
