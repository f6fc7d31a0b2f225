
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


#ifndef _NGX_HTTP_PUBSUB_KAFKA_H_INCLUDED_
#define _NGX_HTTP_PUBSUB_KAFKA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include <librdkafka/rdkafka.h>

#include "ngx_http_pubsub_protocol.h"


/*
 * The Kafka backend's types, shared by its files.  Per worker, one client
 * per distinct cluster configuration, shared by every connection and
 * location using it.  A client has two librdkafka consumer handles, so a
 * partition can be read at two positions at once by two "readers": the
 * tail reader follows the end of the partition, the other one sweeps the
 * history that clients ask for.  Each reader keeps a bounded window of the
 * messages it read, encoded once, from which fetches and subscriptions are
 * served.
 */


#define NGX_HTTP_PUBSUB_KAFKA_READERS    2
#define NGX_HTTP_PUBSUB_KAFKA_TOPIC_MAX  249

#define NGX_HTTP_PUBSUB_KAFKA_GROUP_MAX  255

/* a name as text for answers and logs: escaped, cut at 256 bytes */
#define NGX_HTTP_PUBSUB_KAFKA_NAME_TEXT  (4 * 256 + 4)


typedef struct ngx_http_pubsub_kafka_client_s  ngx_http_pubsub_kafka_client_t;
typedef struct ngx_http_pubsub_kafka_topic_s   ngx_http_pubsub_kafka_topic_t;
typedef struct ngx_http_pubsub_kafka_part_s    ngx_http_pubsub_kafka_part_t;
typedef struct ngx_http_pubsub_kafka_reader_s  ngx_http_pubsub_kafka_reader_t;
typedef struct ngx_http_pubsub_kafka_waiter_s  ngx_http_pubsub_kafka_waiter_t;
typedef struct ngx_http_pubsub_kafka_task_s    ngx_http_pubsub_kafka_task_t;
typedef struct ngx_http_pubsub_kafka_release_s ngx_http_pubsub_kafka_release_t;


/* everything that makes a Kafka client: its identity is "key" */

typedef struct {
    ngx_str_t                            key;
    ngx_str_t                            brokers;
    ngx_array_t                         *properties;   /* ngx_keyval_t */
    size_t                               buffer_size;
    ngx_msec_t                           read_timeout;
    ngx_thread_pool_t                   *thread_pool;
    ngx_uint_t                           max_partitions;
    ngx_uint_t                           max_lookups;
    ngx_msec_t                           flush_timeout;
    ngx_uint_t                           index;
    ngx_http_pubsub_kafka_client_t      *client;       /* per worker */

    unsigned                             produce:1;    /* a producer */
} ngx_http_pubsub_kafka_cluster_t;


typedef struct {
    ngx_array_t                          clusters; /* of cluster pointers */
} ngx_http_pubsub_kafka_main_conf_t;


/* the patterns of pubsub_kafka_read, _write or _groups */

typedef struct {
    ngx_array_t                          patterns; /* of the configuration */
    ngx_array_t                          values;   /* complex values */
    unsigned                             set:1;
} ngx_http_pubsub_kafka_acl_t;

#define NGX_HTTP_PUBSUB_KAFKA_READ       0
#define NGX_HTTP_PUBSUB_KAFKA_WRITE      1
#define NGX_HTTP_PUBSUB_KAFKA_GROUP      2


typedef struct {
    ngx_str_t                            pass;
    ngx_str_t                            upstream;
    ngx_http_pubsub_kafka_cluster_t     *cluster;
    ngx_array_t                         *properties;
    size_t                               fetch_max_bytes;
    ngx_msec_t                           fetch_max_wait;
    ngx_msec_t                           timeout;
    size_t                               buffer_size;
    ngx_msec_t                           read_timeout;
    ngx_uint_t                           max_partitions;
    ngx_uint_t                           max_lookups;
    ngx_uint_t                           max_subscriptions;
    ngx_flag_t                           produce;
    ngx_http_pubsub_kafka_acl_t          read;
    ngx_http_pubsub_kafka_acl_t          write;
    ngx_http_pubsub_kafka_acl_t          groups;
    size_t                               produce_max_size;
    ngx_uint_t                           produce_max_headers;
    ngx_msec_t                           commit_interval;
    ngx_msec_t                           flush_timeout;
    ngx_str_t                            thread_pool_name;
    ngx_thread_pool_t                   *thread_pool;

    /* TLS and SASL to the brokers, turned into librdkafka properties */
    ngx_flag_t                           ssl;
    ngx_flag_t                           ssl_verify;
    ngx_str_t                            ssl_trusted_certificate;
    ngx_str_t                            ssl_certificate;
    ngx_str_t                            ssl_certificate_key;
    ngx_str_t                            sasl_mechanism;
    ngx_str_t                            sasl_username;
    ngx_str_t                            sasl_password;
    ngx_str_t                            sasl_kerberos_service_name;
    ngx_str_t                            sasl_kerberos_principal;
    ngx_str_t                            sasl_kerberos_keytab;
} ngx_http_pubsub_kafka_loc_conf_t;


/* the backend's state of one connection */

typedef struct {
    ngx_queue_t                          subs;     /* subscriptions */
    ngx_uint_t                           nsubs;
    void                                *rights;   /* what it may use */
} ngx_http_pubsub_kafka_session_t;


/*
 * The messages of a window live in blocks, appended to the newest and
 * released from the oldest (a window is first in, first out): one malloc()
 * per block, not per message.  Encoded messages follow one another from
 * the block's start, so answers send runs of them as one piece, shared
 * by every client's frame (see ngx_http_pubsub_ws_shared_t: the window
 * holds one reference while the block is in it); their entries grow down
 * from its end.
 */

typedef struct ngx_http_pubsub_kafka_block_s  ngx_http_pubsub_kafka_block_t;

struct ngx_http_pubsub_kafka_block_s {
    ngx_http_pubsub_ws_shared_t          shared;
    ngx_http_pubsub_kafka_client_t      *client;
    size_t                               size;     /* as allocated */
    ngx_http_pubsub_kafka_block_t       *next;     /* newer */
    ngx_uint_t                           nmessages; /* in the window */
    u_char                              *last;     /* data from here up */
    u_char                              *low;      /* entries from here */
    u_char                              *end;
};


/* a message as a ready-made "repeated KafkaMessage messages = 1" entry */

typedef struct {
    ngx_queue_t                          queue;
    int64_t                              offset;
    u_char                              *data;
    ngx_http_pubsub_kafka_block_t       *block;
    uint32_t                             len;
    uint32_t                             key;      /* in data, for filters */
    uint32_t                             key_len;
    uint32_t                             headers;  /* in data */
    uint32_t                             headers_len;
} ngx_http_pubsub_kafka_msg_t;


/*
 * Something waiting for the messages of a partition from "offset" on: a
 * fetch, or a partition of a subscription.  ready() is called when a
 * reader's window holds that offset (w->reader; NULL when a waiter that
 * asked for a look-up's "verdict" only got it), fail() when the reader or
 * the partition failed, waiting() (if set) when it starts to wait on a
 * reader.  Each may end the waiter; none may be called with it queued.
 */

typedef void (*ngx_http_pubsub_kafka_ready_pt)(
    ngx_http_pubsub_kafka_waiter_t *w);
typedef void (*ngx_http_pubsub_kafka_fail_pt)(
    ngx_http_pubsub_kafka_waiter_t *w, const char *reason,
    rd_kafka_resp_err_t err);
typedef void (*ngx_http_pubsub_kafka_wait_pt)(
    ngx_http_pubsub_kafka_waiter_t *w);

struct ngx_http_pubsub_kafka_waiter_s {
    ngx_queue_t                          queue;
    ngx_http_pubsub_kafka_part_t        *partition;
    ngx_http_pubsub_kafka_reader_t      *reader;   /* waiting on it */
    int64_t                              offset;
    ngx_http_pubsub_kafka_ready_pt       ready;
    ngx_http_pubsub_kafka_fail_pt        fail;
    ngx_http_pubsub_kafka_wait_pt        waiting;
    ngx_msec_t                           timeout;  /* for look-ups */

    unsigned                             queued:1;
    unsigned                             pending:1; /* on a look-up */
    unsigned                             behind:1;  /* on a rewind */
    unsigned                             looked_up:1;
    unsigned                             verdict:1;
};


struct ngx_http_pubsub_kafka_reader_s {
    ngx_http_pubsub_kafka_part_t        *partition;
    ngx_uint_t                           index;    /* its handle */

    ngx_queue_t                          window;   /* of messages */
    ngx_http_pubsub_kafka_block_t       *oldest;
    ngx_http_pubsub_kafka_block_t       *newest;
    size_t                               bytes;
    ngx_uint_t                           nmessages;
    int64_t                              first;    /* window start */
    int64_t                              next;     /* offset to come */

    ngx_queue_t                          waiters;  /* for offsets ahead */
    ngx_uint_t                           nwaiters;
    ngx_queue_t                          behind;   /* for the next pass */
    ngx_uint_t                           nbehind;

    ngx_uint_t                           checked;  /* error generation */
    ngx_queue_t                          touch;    /* in client->touched */
    int64_t                              touch_from; /* waiters want >= */
    int64_t                              asked;    /* furthest offset asked */
    ngx_msec_t                           used;     /* last served */

    unsigned                             running:1;
    unsigned                             stopping:1;
    unsigned                             paused:1;
    unsigned                             stop_later:1;  /* pool refused */
    unsigned                             tail:1;
    unsigned                             touched:1;
};


struct ngx_http_pubsub_kafka_part_s {
    ngx_rbtree_node_t                    node;     /* key: the id */
    ngx_http_pubsub_kafka_topic_t       *topic;
    int32_t                              id;
    ngx_http_pubsub_kafka_reader_t       readers[NGX_HTTP_PUBSUB_KAFKA_READERS];

    ngx_queue_t                          pending;  /* waiters on a look-up */
    int64_t                              low;      /* from the last lookup */
    int64_t                              high;
    ngx_uint_t                           refs;     /* subscriptions */
    ngx_uint_t                           busy;     /* walked: not freed */
    ngx_uint_t                           starts;   /* of readers */
    ngx_uint_t                           seeks;
    ngx_uint_t                           resumes;  /* after a pause */
    ngx_uint_t                           lookups;

    unsigned                             lookup:1; /* in flight */
    unsigned                             valid:1;  /* it exists */
};


struct ngx_http_pubsub_kafka_topic_s {
    ngx_str_node_t                       sn;       /* the name */
    ngx_http_pubsub_kafka_client_t      *client;
    rd_kafka_topic_t                    *rkt[NGX_HTTP_PUBSUB_KAFKA_READERS];
    ngx_rbtree_t                         partitions;
    ngx_rbtree_node_t                    sentinel;
    ngx_uint_t                           npartitions;
    u_char                               data[1];
};


typedef struct {
    ngx_http_pubsub_kafka_client_t      *client;
    ngx_uint_t                           index;
    rd_kafka_t                          *rk;
    rd_kafka_queue_t                    *fetchq;
    rd_kafka_queue_t                    *mainq;
    ngx_connection_t                    *fetch_event;
    ngx_connection_t                    *main_event;
    ngx_fd_t                             fetch_fd;  /* write ends */
    ngx_fd_t                             main_fd;
    ngx_uint_t                           brokers_up; /* from statistics */
    ngx_uint_t                           brokers_down;

    /* the topic of the last message, so most need no look-up */
    ngx_http_pubsub_kafka_topic_t       *last_topic;
} ngx_http_pubsub_kafka_handle_t;


struct ngx_http_pubsub_kafka_client_s {
    ngx_http_pubsub_kafka_cluster_t     *cluster;
    ngx_log_t                           *log;
    ngx_http_pubsub_kafka_handle_t       handles[NGX_HTTP_PUBSUB_KAFKA_READERS];
    ngx_http_pubsub_kafka_handle_t       producer;  /* if a location may */
    ngx_queue_t                          tickets;   /* produced, no report */
    ngx_rbtree_t                         open_batches; /* commits by group */
    ngx_rbtree_node_t                    batch_sentinel;
    ngx_queue_t                          batches;   /* open or in flight */
    ngx_uint_t                           nadmin;    /* Admin requests */
    ngx_uint_t                           ncommits;
    ngx_uint_t                           nproduced;
    ngx_uint_t                           nacked;
    ngx_uint_t                           nfailed;
    ngx_rbtree_t                         topics;
    ngx_rbtree_node_t                    sentinel;
    ngx_queue_t                          tasks;    /* posted, not done */
    ngx_uint_t                           ntasks;
    ngx_uint_t                           nrefused;  /* since logged */
    ngx_msec_t                           refused_logged;
    ngx_http_pubsub_kafka_release_t     *release;  /* messages to free */
    ngx_uint_t                           releasing; /* in a pool thread */
    ngx_uint_t                           nreleased; /* freed there */
    ngx_queue_t                          touched;  /* readers with news */
    ngx_event_t                          idle;     /* stops unused reads */

    ngx_http_pubsub_pb_header_t         *headers;  /* encoding scratch */
    ngx_uint_t                           nheaders;

    ngx_uint_t                           errors;   /* error generation */
    ngx_uint_t                           ntopics;
    ngx_uint_t                           npartitions;
    ngx_uint_t                           nreaders;
    ngx_uint_t                           nwaiters;
    size_t                               window_bytes;
    size_t                               window_memory; /* their blocks */
    ngx_uint_t                           nfetches;
    ngx_uint_t                           nmessages;
    ngx_uint_t                           nseeks;
    ngx_uint_t                           nresumes;
};


/*
 * Work that blocks, for a pool thread: run() there (librdkafka calls only,
 * no nginx calls), then done() back in the event loop.  A kind of work is
 * a pair of functions and its own data, allocated with the task.
 */

typedef void (*ngx_http_pubsub_kafka_task_pt)(
    ngx_http_pubsub_kafka_task_t *t);

struct ngx_http_pubsub_kafka_task_s {
    ngx_thread_task_t                    task;
    ngx_queue_t                          queue;    /* in client->tasks */
    ngx_http_pubsub_kafka_client_t      *client;
    ngx_http_pubsub_kafka_task_pt        run;
    ngx_http_pubsub_kafka_task_pt        done;
    void                                *data;
    ngx_uint_t                           errors;   /* generation at start */

    unsigned                             skipped:1; /* worker exiting */
};


/*
 * A blocking look-up of many partitions of a topic at once (see
 * ngx_http_pubsub_kafka_offsets.c): in "list" the partitions asked for;
 * the results in lists of the same partitions, the committed ones in the
 * order Kafka gave them.
 */

typedef struct ngx_http_pubsub_kafka_offsets_s
    ngx_http_pubsub_kafka_offsets_t;

typedef void (*ngx_http_pubsub_kafka_offsets_pt)(
    ngx_http_pubsub_kafka_offsets_t *o);

struct ngx_http_pubsub_kafka_offsets_s {
    ngx_http_pubsub_kafka_task_t        *task;
    ngx_http_pubsub_kafka_client_t      *client;
    ngx_http_pubsub_kafka_offsets_pt     done;
    void                                *data;     /* NULL: owner gone */
    rd_kafka_t                          *rk;
    rd_kafka_topic_t                    *rkt;
    char                                *topic;
    char                                *group;    /* committed offsets */
    int64_t                              timestamp; /* > 0: times */
    int                                  timeout;
    rd_kafka_topic_partition_list_t     *list;
    rd_kafka_topic_partition_list_t     *low;
    rd_kafka_topic_partition_list_t     *high;
    rd_kafka_topic_partition_list_t     *times;
    rd_kafka_topic_partition_list_t     *committed;
    rd_kafka_resp_err_t                  err;

    unsigned                             all:1;    /* every partition */
    unsigned                             ends:1;   /* low and high */
};


/* ngx_http_pubsub_kafka_offsets.c */

ngx_http_pubsub_kafka_offsets_t *ngx_http_pubsub_kafka_offsets_alloc(
    ngx_http_pubsub_kafka_client_t *kc, ngx_str_t *topic, ngx_str_t *group,
    ngx_http_pubsub_kafka_offsets_pt done, void *data);
ngx_int_t ngx_http_pubsub_kafka_offsets_post(
    ngx_http_pubsub_kafka_offsets_t *o);
int64_t ngx_http_pubsub_kafka_offsets_get(
    rd_kafka_topic_partition_list_t *list, int32_t id,
    rd_kafka_resp_err_t *err);
void ngx_http_pubsub_kafka_offsets_free(ngx_http_pubsub_kafka_offsets_t *o);

/* ngx_http_pubsub_kafka_task.c */

ngx_http_pubsub_kafka_task_t *ngx_http_pubsub_kafka_task_alloc(
    ngx_http_pubsub_kafka_client_t *kc, size_t size,
    ngx_http_pubsub_kafka_task_pt run, ngx_http_pubsub_kafka_task_pt done);
ngx_int_t ngx_http_pubsub_kafka_task_post(ngx_http_pubsub_kafka_task_t *t);
void ngx_http_pubsub_kafka_tasks_free(ngx_http_pubsub_kafka_client_t *kc);
void ngx_http_pubsub_kafka_release(ngx_http_pubsub_kafka_client_t *kc,
    rd_kafka_message_t **msgs, ngx_uint_t n);
void ngx_http_pubsub_kafka_release_post(ngx_http_pubsub_kafka_client_t *kc);
rd_kafka_resp_err_t ngx_http_pubsub_kafka_offsets(rd_kafka_t *rk,
    const char *topic, int32_t id, int64_t timestamp, int64_t *offset,
    int timeout);

/* ngx_http_pubsub_kafka_client.c */

ngx_int_t ngx_http_pubsub_kafka_init_worker(ngx_cycle_t *cycle,
    ngx_http_pubsub_kafka_cluster_t *cluster);
void ngx_http_pubsub_kafka_exit_worker(ngx_http_pubsub_kafka_client_t *kc);
char *ngx_http_pubsub_kafka_check_properties(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_cluster_t *cluster);

/* ngx_http_pubsub_kafka_partition.c */

ngx_int_t ngx_http_pubsub_kafka_check_topic(u_char *name, size_t len);
ngx_http_pubsub_kafka_part_t *ngx_http_pubsub_kafka_part_next(
    ngx_http_pubsub_kafka_client_t *kc, ngx_http_pubsub_kafka_part_t *p);
const char *ngx_http_pubsub_kafka_check_ids(int32_t *ids, ngx_uint_t n,
    int32_t *bad);
const char *ngx_http_pubsub_kafka_check_list(KafkaPartitionOffset **list,
    ngx_uint_t n, int32_t *bad);
u_char *ngx_http_pubsub_kafka_name_text(u_char *buf, u_char *name,
    size_t len);
ngx_http_pubsub_kafka_part_t *ngx_http_pubsub_kafka_partition(
    ngx_http_pubsub_kafka_client_t *kc, u_char *name, size_t len,
    int32_t id, const char **reason);
ngx_http_pubsub_kafka_part_t *ngx_http_pubsub_kafka_find_message(
    ngx_http_pubsub_kafka_handle_t *h, rd_kafka_message_t *m);
void ngx_http_pubsub_kafka_partition_release(ngx_http_pubsub_kafka_part_t *p);
void ngx_http_pubsub_kafka_partition_unbusy(ngx_http_pubsub_kafka_part_t *p);
void ngx_http_pubsub_kafka_partitions_free(ngx_http_pubsub_kafka_client_t *kc);
ngx_int_t ngx_http_pubsub_kafka_lookup(ngx_http_pubsub_kafka_part_t *p,
    ngx_msec_t timeout);
void ngx_http_pubsub_kafka_idle_handler(ngx_event_t *ev);

/* ngx_http_pubsub_kafka_dispatch.c */

void ngx_http_pubsub_kafka_dispatch(ngx_http_pubsub_kafka_waiter_t *w);
void ngx_http_pubsub_kafka_unwait(ngx_http_pubsub_kafka_waiter_t *w);
void ngx_http_pubsub_kafka_retry(ngx_http_pubsub_kafka_part_t *p);
void ngx_http_pubsub_kafka_fail_waiters(ngx_queue_t *list,
    const char *reason, rd_kafka_resp_err_t err);
void ngx_http_pubsub_kafka_notify(ngx_http_pubsub_kafka_reader_t *r);

/* ngx_http_pubsub_kafka_reader.c */

ngx_int_t ngx_http_pubsub_kafka_reader_start(
    ngx_http_pubsub_kafka_reader_t *r, int64_t offset, ngx_uint_t tail);
ngx_int_t ngx_http_pubsub_kafka_reader_seek(
    ngx_http_pubsub_kafka_reader_t *r, int64_t offset);
ngx_int_t ngx_http_pubsub_kafka_reader_pause(ngx_http_pubsub_kafka_reader_t *r,
    ngx_uint_t pause);
ngx_queue_t *ngx_http_pubsub_kafka_window_find(
    ngx_http_pubsub_kafka_reader_t *r, int64_t offset);
void ngx_http_pubsub_kafka_deliver(ngx_http_pubsub_kafka_handle_t *h,
    rd_kafka_message_t *m);
void ngx_http_pubsub_kafka_reader_stop(ngx_http_pubsub_kafka_reader_t *r);
void ngx_http_pubsub_kafka_reader_idle(ngx_http_pubsub_kafka_reader_t *r);
void ngx_http_pubsub_kafka_free_window(ngx_http_pubsub_kafka_reader_t *r);
ngx_uint_t ngx_http_pubsub_kafka_reader_busy(
    ngx_http_pubsub_kafka_reader_t *r);

/* ngx_http_pubsub_kafka_fetch.c */

extern ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_fetch_commands[];

ngx_http_pubsub_kafka_client_t *ngx_http_pubsub_kafka_cmd_client(
    ngx_http_pubsub_cmd_t *cmd, ngx_uint_t ext, const char *what,
    char *topic, int32_t partition);

/* ngx_http_pubsub_kafka_subscribe.c */

extern ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_subscribe_commands[];

ngx_int_t ngx_http_pubsub_kafka_init_session(
    ngx_http_pubsub_session_t *session, void *data, void *conf);

/* ngx_http_pubsub_kafka_answer.c */

/* runs of a window's messages for one answer, at most this many */
#define NGX_HTTP_PUBSUB_KAFKA_PIECES  64

typedef struct {
    ngx_http_pubsub_ws_piece_t           pieces[NGX_HTTP_PUBSUB_KAFKA_PIECES];
    ngx_uint_t                           n;
    size_t                               len;
    size_t                               room;
    size_t                               max;
    ngx_uint_t                           messages;
    unsigned                             any:1;
} ngx_http_pubsub_kafka_answer_t;

void ngx_http_pubsub_kafka_answer_init(ngx_http_pubsub_kafka_answer_t *a,
    ngx_http_pubsub_cmd_t *cmd, size_t max);
ngx_int_t ngx_http_pubsub_kafka_answer_add(ngx_http_pubsub_kafka_answer_t *a,
    ngx_http_pubsub_kafka_msg_t *msg);
ngx_int_t ngx_http_pubsub_kafka_answer_send(ngx_http_pubsub_cmd_t *cmd,
    ngx_http_pubsub_kafka_answer_t *a);

/* ngx_http_pubsub_kafka_push.c */

void ngx_http_pubsub_kafka_drain(ngx_http_pubsub_session_t *session,
    void *data);

/* ngx_http_pubsub_kafka_produce.c */

extern ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_produce_commands[];

void ngx_http_pubsub_kafka_delivered(ngx_http_pubsub_kafka_client_t *kc,
    rd_kafka_event_t *ev);
void ngx_http_pubsub_kafka_producer_exit(ngx_http_pubsub_kafka_client_t *kc);

/* ngx_http_pubsub_kafka_group.c */

extern ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_group_commands[];

void ngx_http_pubsub_kafka_batches_free(ngx_http_pubsub_kafka_client_t *kc);
ngx_int_t ngx_http_pubsub_kafka_group_check(ngx_http_pubsub_cmd_t *cmd,
    const char *what, char *group, char *topic);
ngx_int_t ngx_http_pubsub_kafka_group_code(rd_kafka_resp_err_t err);
rd_kafka_resp_err_t ngx_http_pubsub_kafka_group_result(
    const rd_kafka_group_result_t **groups, size_t n,
    rd_kafka_topic_partition_list_t **parts);

/* ngx_http_pubsub_kafka_committed.c */

extern ngx_http_pubsub_command_t  ngx_http_pubsub_kafka_committed_commands[];

/* ngx_http_pubsub_kafka_acl.c */

char *ngx_http_pubsub_kafka_acl_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_pubsub_kafka_acl_merge(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_acl_t *conf, ngx_http_pubsub_kafka_acl_t *prev,
    char *deflt);
ngx_uint_t ngx_http_pubsub_kafka_acl_empty(ngx_http_pubsub_kafka_acl_t *acl);
ngx_int_t ngx_http_pubsub_kafka_acl_init(ngx_http_pubsub_session_t *session,
    ngx_http_pubsub_kafka_session_t *ss,
    ngx_http_pubsub_kafka_loc_conf_t *conf);
ngx_int_t ngx_http_pubsub_kafka_allowed(ngx_http_pubsub_cmd_t *cmd,
    ngx_uint_t list, u_char *name, size_t len);

/* ngx_http_pubsub_kafka_cluster.c */

char *ngx_http_pubsub_kafka_brokers(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf, ngx_str_t *brokers);
ngx_thread_pool_t *ngx_http_pubsub_kafka_thread_pool(ngx_conf_t *cf,
    ngx_str_t *name);
char *ngx_http_pubsub_kafka_cluster(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);

/* ngx_http_pubsub_kafka_security.c */

char *ngx_http_pubsub_kafka_security(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_loc_conf_t *conf);

/* ngx_http_pubsub_kafka_status.c */

ngx_int_t ngx_http_pubsub_kafka_status_handler(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_pubsub_kafka_module;


#endif /* _NGX_HTTP_PUBSUB_KAFKA_H_INCLUDED_ */
