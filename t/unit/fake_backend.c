
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * The backends of the connection fuzz target (see fake_backend.h): every
 * way a backend may answer through ngx_http_pubsub_send(), _send_error()
 * and _send_raw(), commands in flight with cancel and end hooks, per-
 * session data, a drain hook, ngx_http_pubsub_find_cmd(), _room() and
 * _wait_room().  They check what the protocol layer promises them: the
 * command they get is the one registered for the request's case, with
 * its sequence and zeroed data; close_session comes after every cancel;
 * raw records come back from the codec as they went in.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "fake_nginx.h"
#include "fake_backend.h"

static ngx_int_t fake_session_init(ngx_http_pubsub_session_t *s,
    void *data, void *conf);
static void fake_session_drain(ngx_http_pubsub_session_t *s, void *data);
static void fake_session_close(ngx_http_pubsub_session_t *s, void *data);
static fake_cmd_t *fake_nth(ngx_queue_t *queue, ngx_uint_t n);




ngx_http_pubsub_registry_t  fake_registry;

fake_session_t             *fake_live;
ngx_uint_t                  fake_alert_expected;
u_char                      fake_value[FAKE_VALUE_MAX + 64];
ngx_int_t                   fake_backend_conf = 42;
ngx_pool_t                 *fake_conf_pool;     /* lives as long as we do */

static u_char              *fake_live_heap;
static ngx_uint_t           fake_sessions;


/* the glue's row: CmdPing, a backend of no session data */

static ngx_http_pubsub_command_t  fake_core_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_PING, ngx_string("ping"),
      fake_handler, fake_cancel, NULL, sizeof(fake_cmd_t), 0 },

      ngx_http_pubsub_null_command
};


static ngx_http_pubsub_command_t  *fake_core_tables[] = {
    fake_core_commands,
    NULL
};


static ngx_http_pubsub_backend_t  fake_core_backend = {
    ngx_string("core"),
    fake_core_tables,
    0,
    NULL,
    NULL,
    NULL
};


/* Kafka's commands, in two tables */

static ngx_http_pubsub_command_t  fake_read_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_KAFKA_FETCH, ngx_string("fetch"),
      fake_handler, fake_cancel, fake_end, sizeof(fake_cmd_t),
      NGX_HTTP_PUBSUB_CMD_READ },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_LIST_OFFSET, ngx_string("list_offset"),
      fake_handler, fake_cancel, NULL, sizeof(fake_cmd_t),
      NGX_HTTP_PUBSUB_CMD_READ },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_SUBSCRIBE, ngx_string("subscribe"),
      fake_handler, fake_cancel, fake_end, sizeof(fake_cmd_t),
      NGX_HTTP_PUBSUB_CMD_READ|NGX_HTTP_PUBSUB_CMD_STREAM },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_UNSUBSCRIBE, ngx_string("unsubscribe"),
      fake_handler, NULL, NULL, 0, NGX_HTTP_PUBSUB_CMD_READ },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_CREDIT, ngx_string("credit"),
      fake_handler, NULL, NULL, 0, NGX_HTTP_PUBSUB_CMD_READ },

      ngx_http_pubsub_null_command
};


static ngx_http_pubsub_command_t  fake_write_commands[] = {

    { PUB_SUB_REQ__REQ_CMD_KAFKA_PRODUCE, ngx_string("produce"),
      fake_handler, fake_cancel, fake_end, sizeof(fake_cmd_t),
      NGX_HTTP_PUBSUB_CMD_WRITE },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_COMMIT, ngx_string("commit"),
      fake_handler, fake_cancel, NULL, sizeof(fake_cmd_t),
      NGX_HTTP_PUBSUB_CMD_GROUP },

    { PUB_SUB_REQ__REQ_CMD_KAFKA_COMMITTED, ngx_string("committed"),
      fake_handler, fake_cancel, fake_end, sizeof(fake_cmd_t),
      NGX_HTTP_PUBSUB_CMD_READ|NGX_HTTP_PUBSUB_CMD_GROUP },

      ngx_http_pubsub_null_command
};


static ngx_http_pubsub_command_t  *fake_kafka_tables[] = {
    fake_read_commands,
    fake_write_commands,
    NULL
};


static ngx_http_pubsub_backend_t  fake_kafka_backend = {
    ngx_string("fake"),
    fake_kafka_tables,
    sizeof(fake_session_t),
    fake_session_init,
    fake_session_drain,
    fake_session_close
};


/* rows the registry must refuse */

static ngx_http_pubsub_command_t  fake_bad_commands[] = {

    { NGX_HTTP_PUBSUB_COMMANDS_MAX + 1, ngx_string("too_far"),
      fake_handler, NULL, NULL, 0, 0 },

      ngx_http_pubsub_null_command
};


static ngx_http_pubsub_command_t  *fake_bad_tables[] = {
    fake_bad_commands,
    NULL
};


static ngx_http_pubsub_backend_t  fake_bad_backend = {
    ngx_string("bad"),
    fake_bad_tables,
    0,
    NULL,
    NULL,
    NULL
};


void
fake_backend_init(void)
{
    ngx_uint_t                  i;
    ngx_conf_t                  cf;
    ngx_http_pubsub_registry_t  bad;

    for (i = 0; i < sizeof(fake_value); i++) {
        fake_value[i] = (u_char) ('a' + i % 26);
    }

    fake_conf_pool = fake_create_pool(&fake_log);

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = fake_conf_pool;
    cf.log = &fake_log;

    /* the registry lives as long as the process, as configuration does */

    if (ngx_http_pubsub_add_backend(&cf, &fake_registry, &fake_core_backend,
                                    NULL)
        != NGX_OK
        || ngx_http_pubsub_add_backend(&cf, &fake_registry,
                                       &fake_kafka_backend,
                                       &fake_backend_conf)
           != NGX_OK)
    {
        fake_fatal("the fake backends cannot register");
    }

    fake_registry.max_inflight = 64;

    /* the same command twice, and a number above the table */

    if (ngx_http_pubsub_add_backend(&cf, &fake_registry, &fake_core_backend,
                                    NULL)
        != NGX_ERROR)
    {
        fake_fatal("a command registered twice is accepted");
    }

    ngx_memzero(&bad, sizeof(ngx_http_pubsub_registry_t));

    if (ngx_http_pubsub_add_backend(&cf, &bad, &fake_bad_backend, NULL)
        != NGX_ERROR)
    {
        fake_fatal("a command above NGX_HTTP_PUBSUB_COMMANDS_MAX is accepted");
    }
}


void
fake_backend_reset(void)
{
    fake_live = NULL;
    fake_live_heap = NULL;
    fake_sessions = 0;
    fake_alert_expected = 0;
}


ngx_uint_t
fake_backend_sessions(void)
{
    return fake_sessions;
}


ngx_uint_t
fake_backend_expect_alert(void)
{
    return fake_alert_expected;
}


/* ---------------------------------------------------------------------- */
/* sessions */


static ngx_int_t
fake_session_init(ngx_http_pubsub_session_t *s, void *data, void *conf)
{
    fake_session_t  *fs = data;

    if (conf != &fake_backend_conf) {
        fake_fatal("init_session got another backend's conf");
    }

    if (fs->session || fs->heap) {
        fake_fatal("session data not zeroed");
    }

    fs->heap = ngx_alloc(64, s->request->connection->log);
    if (fs->heap == NULL) {
        return NGX_ERROR;
    }

    fs->session = s;
    ngx_queue_init(&fs->deferred);
    ngx_queue_init(&fs->streams);

    fake_live = fs;
    fake_live_heap = fs->heap;
    fake_sessions++;

    return NGX_OK;
}


static void
fake_session_drain(ngx_http_pubsub_session_t *s, void *data)
{
    fake_cmd_t      *fc;
    ngx_queue_t     *q, *next;
    fake_session_t  *fs = data;

    if (fs != fake_live || fs->session != s) {
        fake_fatal("drain of a session that is not open");
    }

    for (q = ngx_queue_head(&fs->streams);
         q != ngx_queue_sentinel(&fs->streams);
         q = next)
    {
        next = ngx_queue_next(q);
        fc = ngx_queue_data(q, fake_cmd_t, queue);

        if (fc->waiting) {
            fc->waiting = 0;
            fake_stream_push(fc, 0);
        }
    }
}


static void
fake_session_close(ngx_http_pubsub_session_t *s, void *data)
{
    fake_session_t  *fs = data;

    if (fs != fake_live || fs->session != s) {
        fake_fatal("close of a session that is not open");
    }

    if (!ngx_queue_empty(&fs->deferred) || !ngx_queue_empty(&fs->streams)) {
        fake_fatal("close_session before the cancel of every command");
    }

    if (!ngx_queue_empty(&s->inflight) || s->ninflight) {
        fake_fatal("close_session with commands in flight");
    }

    ngx_free(fs->heap);
    fs->heap = NULL;

    fake_live = NULL;
    fake_live_heap = NULL;
    fake_sessions--;
}


/* ---------------------------------------------------------------------- */
/* what the backend does on its own, from the input */


static fake_cmd_t *
fake_nth(ngx_queue_t *queue, ngx_uint_t n)
{
    ngx_uint_t    i, count;
    ngx_queue_t  *q;

    count = 0;

    for (q = ngx_queue_head(queue); q != ngx_queue_sentinel(queue);
         q = ngx_queue_next(q))
    {
        count++;
    }

    if (count == 0) {
        return NULL;
    }

    n %= count;
    q = ngx_queue_head(queue);

    for (i = 0; i < n; i++) {
        q = ngx_queue_next(q);
    }

    return ngx_queue_data(q, fake_cmd_t, queue);
}


void
fake_backend_event(ngx_uint_t arg)
{
    fake_cmd_t            *fc;
    ngx_uint_t             k;
    ngx_queue_t           *q, *next;
    fake_session_t        *fs;
    ngx_http_pubsub_ws_t  *ws;

    static ngx_uint_t  codes[] = {
        NGX_HTTP_PUBSUB_WS_NORMAL, NGX_HTTP_PUBSUB_WS_GOING_AWAY,
        NGX_HTTP_PUBSUB_WS_POLICY, NGX_HTTP_PUBSUB_WS_INTERNAL
    };

    fs = fake_live;

    if (fs == NULL || fake_connection_closed()) {
        return;
    }

    ws = fs->session->ws;
    k = arg >> 3;

    switch (arg & 7) {

    case 0:
    case 1:
        fc = fake_nth(&fs->deferred, k);

        if (fc) {
            fake_finish(fc, arg & 1);
        }

        break;

    case 2:
    case 7:
        for (q = ngx_queue_head(&fs->streams);
             q != ngx_queue_sentinel(&fs->streams);
             q = next)
        {
            next = ngx_queue_next(q);
            fc = ngx_queue_data(q, fake_cmd_t, queue);

            if (!fc->waiting || (arg & 7) == 7) {
                fake_stream_push(fc, (arg & 7) == 7);
            }
        }

        break;

    case 3:
        fc = fake_nth(&fs->streams, k);

        if (fc) {
            fake_stream_end(fc);
        }

        break;

    case 4:
        ngx_http_pubsub_ws_close(ws, codes[k & 3], "backend closes");
        break;

    case 5:
        ngx_http_pubsub_ws_expire_at(ws, k * 100);
        break;

    default: /* 6 */
        while (!ngx_queue_empty(&fs->deferred)) {
            q = ngx_queue_head(&fs->deferred);
            fake_finish(ngx_queue_data(q, fake_cmd_t, queue), 0);
        }

        break;
    }
}
