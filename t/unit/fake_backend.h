
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _FAKE_BACKEND_H_INCLUDED_
#define _FAKE_BACKEND_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_pubsub_protocol.h"


/*
 * Two backends in place of Kafka's, registered through the protocol
 * layer's own ngx_http_pubsub_add_backend(): "core" serves CmdPing (no
 * session data, as the glue's), "fake" every other command of
 * proto/pubsub.proto but CmdEmpty, which stays unknown.  How a command is
 * answered is chosen by its sequence: at once, with an error, with an
 * internal error, in raw bytes, later (kept until a backend event of the
 * input or a timer answers it), twice, or with a writer that breaks the
 * send_raw() contract; CmdKafkaSubscribe streams until its budget,
 * window, room or an unsubscribe stops it.
 */


extern ngx_http_pubsub_registry_t  fake_registry;


void fake_backend_init(void);
void fake_backend_reset(void);
void fake_backend_event(ngx_uint_t arg);
ngx_uint_t fake_backend_sessions(void);
ngx_uint_t fake_backend_expect_alert(void);


/* between the files of the fake backend */

#define FAKE_KEY_MAX         32
#define FAKE_PARTITIONS_MAX  8
#define FAKE_VALUE_MAX       4096


typedef struct {
    ngx_http_pubsub_session_t   *session;
    ngx_queue_t                  deferred;     /* answered by input events */
    ngx_queue_t                  streams;      /* subscriptions */
    u_char                      *heap;         /* freed by close_session */
} fake_session_t;


typedef struct {
    ngx_http_pubsub_cmd_t       *cmd;
    ngx_queue_t                  queue;
    ngx_event_t                  timer;
    ngx_uint_t                   type;
    ngx_uint_t                   mode;
    uint64_t                     arg;
    ngx_int_t                    budget;       /* messages still to push */
    ngx_int_t                    credit;       /* -1: no window */
    int64_t                      offset;
    int64_t                      timestamp;
    int32_t                      partition;
    size_t                       value_len;
    u_char                       key[FAKE_KEY_MAX];
    size_t                       key_len;
    int32_t                      partitions[FAKE_PARTITIONS_MAX];
    ngx_uint_t                   npartitions;
    unsigned                     queued:1;
    unsigned                     stream:1;
    unsigned                     waiting:1;    /* for room */
} fake_cmd_t;


extern fake_session_t      *fake_live;
extern ngx_uint_t           fake_alert_expected;
extern u_char               fake_value[];
extern ngx_int_t            fake_backend_conf;

ngx_int_t fake_handler(ngx_http_pubsub_cmd_t *cmd, PubSubReq *req);
void fake_cancel(ngx_http_pubsub_cmd_t *cmd);
void fake_end(ngx_http_pubsub_cmd_t *cmd);
void fake_finish(fake_cmd_t *fc, ngx_uint_t error);
void fake_stream_push(fake_cmd_t *fc, ngx_uint_t ignore_room);
void fake_stream_end(fake_cmd_t *fc);
ngx_int_t fake_answer(fake_cmd_t *fc, ngx_uint_t ended);
ngx_int_t fake_answer_raw(fake_cmd_t *fc, ngx_uint_t n, ngx_uint_t bad);
size_t fake_raw_len(fake_cmd_t *fc, ngx_uint_t n);


#endif /* _FAKE_BACKEND_H_INCLUDED_ */
