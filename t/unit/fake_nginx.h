
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * A small nginx runtime of our own for the connection-level fuzz target:
 * the nginx functions and globals that the WebSocket and protocol layers
 * call (t/unit/fake_nginx.c, written from nginx's documented behaviour),
 * one client connection on a scripted socket, a request whose pools free
 * everything they hold, posted events and timers that a loop runs.
 */


#ifndef _FAKE_NGINX_H_INCLUDED_
#define _FAKE_NGINX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>


/* ctx_index of the modules whose loc confs and contexts requests have */
#define FAKE_CORE_INDEX     0
#define FAKE_WS_INDEX       1
#define FAKE_NMODULES       4


/* the socket of the one client connection, as the client sees it */

typedef struct {
    /* client to server: bytes arrived and not read yet */
    u_char                  *in;
    size_t                   in_len;
    size_t                   in_pos;
    size_t                   in_size;
    unsigned                 in_eof:1;      /* FIN once the bytes are read */
    unsigned                 in_error:1;    /* RST once the bytes are read */
    size_t                   recv_max;      /* bytes a recv() gives, 0: all */

    /* server to client: everything written */
    u_char                  *out;
    size_t                   out_len;
    size_t                   out_size;
    size_t                   window;        /* send() takes this much more */
    unsigned                 unlimited:1;   /* send() takes everything */
    unsigned                 send_error:1;  /* send() fails */
    unsigned                 shut_write:1;  /* lingering close: our FIN */

    /* the response head nginx's write filter holds back */
    u_char                  *head;
    size_t                   head_len;
    size_t                   head_pos;
} fake_socket_t;


typedef struct {
    /* failure injection */
    ngx_uint_t               fail_alloc_at; /* 0: never; n: the n-th fails */
    ngx_uint_t               allocs;        /* counted while armed */
    unsigned                 alloc_armed:1;
    unsigned                 fail_send_header:1;
    unsigned                 fail_nodelay:1;
    unsigned                 fail_read_event:1;
    unsigned                 fail_write_event:1;

    /* what the log saw */
    ngx_uint_t               alerts;        /* alert, crit or emerg */
    char                     alert[256];
    unsigned                 verbose:1;     /* FUZZ_VERBOSE: log to stderr */

    ngx_uint_t               handler_calls; /* of one fake_run(): livelock */
} fake_runtime_t;


extern fake_runtime_t        fake;
extern fake_socket_t         fake_sock;
extern ngx_log_t             fake_log;


void fake_init(void);
void fake_reset(void);
void fake_fatal(const char *fmt, ...) ngx_cdecl;

ngx_pool_t *fake_create_pool(ngx_log_t *log);
void fake_destroy_pool(ngx_pool_t *pool);

/* the connection and its request, as nginx has them in the content phase */
ngx_connection_t *fake_connection_create(void);
void fake_connection_release(void);
ngx_http_request_t *fake_request_create(ngx_connection_t *c, void **loc_conf);
ngx_uint_t fake_connection_closed(void);

/* the client and the network */
void fake_client_send(u_char *data, size_t len);
void fake_client_eof(ngx_uint_t reset);
void fake_client_window(size_t n, ngx_uint_t unlimited);
void fake_spurious_events(ngx_uint_t read, ngx_uint_t write);

/* the event loop */
void fake_run(void);
void fake_advance(ngx_msec_t ms);
void fake_close_idle(void);
void fake_worker_exit(void);
ngx_uint_t fake_timers_left(void);
ngx_uint_t fake_posted_left(void);


/* between the files of the runtime */

extern ngx_connection_t     *fake_conn;

void fake_call(ngx_event_t *ev);
void *fake_palloc_nofail(ngx_pool_t *pool, size_t size);
void fake_append_out(u_char *data, size_t len);
void fake_http_request_handler(ngx_event_t *ev);


#endif /* _FAKE_NGINX_H_INCLUDED_ */
