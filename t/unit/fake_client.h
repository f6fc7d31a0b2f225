
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _FAKE_CLIENT_H_INCLUDED_
#define _FAKE_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define FUZZ_KEY      "dGhlIHNhbXBsZSBub25jZQ=="
#define FUZZ_ACCEPT   "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="    /* RFC 6455 1.3 */


/* what happened to the connection of an input, for the checks */

typedef struct {
    ngx_uint_t                 rejected;     /* nginx's own 4xx/5xx */
    ngx_uint_t                 upgraded;     /* ws_start() ran to its end */
    ngx_uint_t                 start_failed;
    u_char                     accept[32];
    size_t                     accept_len;
} fuzz_state_t;


extern fuzz_state_t  fuzz;


void fuzz_self_test(void);
u_char *fuzz_dup(ngx_http_request_t *r, const u_char *s, size_t len);
ngx_int_t fuzz_parse_request(ngx_http_request_t *r, const u_char *p,
    size_t len);
ngx_int_t fuzz_fixed_request(ngx_http_request_t *r, ngx_uint_t variant);
void fuzz_expect_accept(ngx_http_request_t *r);
void fuzz_check_output(void);


#endif /* _FAKE_CLIENT_H_INCLUDED_ */
