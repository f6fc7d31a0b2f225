
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

#include "ngx_http_pubsub_module.h"


/*
 * The Kafka backend.  Per worker, one client per distinct cluster
 * configuration, shared by every connection and location using it.  A
 * client has two librdkafka handles ("cursors" 0 and 1), so each partition
 * can be read at two positions at once: where the first reader started
 * (usually the tail) and wherever clients catching up need it.  Each cursor
 * keeps a bounded window of the messages it read, encoded once, from which
 * every client's fetch is answered.
 */


#define NGX_HTTP_PUBSUB_KAFKA_CURSORS    2
#define NGX_HTTP_PUBSUB_KAFKA_TOPIC_MAX  249



typedef struct ngx_http_pubsub_kafka_client_s     ngx_http_pubsub_kafka_client_t;
typedef struct ngx_http_pubsub_kafka_partition_s  ngx_http_pubsub_kafka_partition_t;


/* everything that makes a Kafka client: its identity is "key" */

typedef struct {
    ngx_str_t                            key;
    ngx_str_t                            brokers;
    ngx_array_t                         *properties;   /* ngx_keyval_t */
    size_t                               buffer_size;
    ngx_msec_t                           read_timeout;
    ngx_thread_pool_t                   *thread_pool;
    ngx_uint_t                           index;
    ngx_http_pubsub_kafka_client_t      *client;       /* per worker */
} ngx_http_pubsub_kafka_cluster_t;


typedef struct {
    ngx_array_t                          clusters; /* of cluster pointers */
} ngx_http_pubsub_kafka_main_conf_t;


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


/* a message as a ready-made "repeated KafkaMessage messages = 1" entry */

typedef struct {
    ngx_queue_t                          queue;
    int64_t                              offset;
    size_t                               len;
    u_char                               data[1];
} ngx_http_pubsub_kafka_msg_t;


typedef struct {
    ngx_http_pubsub_kafka_partition_t   *partition;
    ngx_uint_t                           index;

    ngx_queue_t                          window;   /* of messages */
    size_t                               bytes;
    ngx_uint_t                           nmessages;
    int64_t                              first;    /* window start */
    int64_t                              next;     /* offset to come */

    ngx_queue_t                          waiters;  /* fetches */
    ngx_uint_t                           nwaiters;

    ngx_uint_t                           checked;  /* error generation */
    ngx_queue_t                          touch;    /* in client->touched */
    ngx_msec_t                           used;     /* last fetch */

    unsigned                             running:1;
    unsigned                             failed:1;  /* stopping */
    unsigned                             touched:1;
} ngx_http_pubsub_kafka_cursor_t;


typedef struct {
    ngx_queue_t                          queue;
    ngx_str_t                            name;
    ngx_http_pubsub_kafka_client_t      *client;
    rd_kafka_topic_t                    *rkt[NGX_HTTP_PUBSUB_KAFKA_CURSORS];
    ngx_queue_t                          partitions;
    u_char                               data[1];
} ngx_http_pubsub_kafka_topic_t;


struct ngx_http_pubsub_kafka_partition_s {
    ngx_queue_t                          queue;
    ngx_http_pubsub_kafka_topic_t       *topic;
    int32_t                              id;
    ngx_http_pubsub_kafka_cursor_t       cursors[NGX_HTTP_PUBSUB_KAFKA_CURSORS];

    ngx_queue_t                          pending;  /* fetches on hold */
    int64_t                              low;      /* from the last lookup */
    int64_t                              high;

    unsigned                             lookup:1;  /* in flight */
    unsigned                             valid:1;   /* it exists */
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
} ngx_http_pubsub_kafka_handle_t;


struct ngx_http_pubsub_kafka_client_s {
    ngx_http_pubsub_kafka_cluster_t     *cluster;
    ngx_log_t                           *log;
    ngx_http_pubsub_kafka_handle_t       handles[NGX_HTTP_PUBSUB_KAFKA_CURSORS];
    ngx_queue_t                          topics;
    ngx_queue_t                          tasks;    /* thread tasks */
    ngx_queue_t                          touched;  /* cursors with news */
    ngx_event_t                          idle;     /* stops unused reads */

    ngx_uint_t                           errors;   /* error generation */
    ngx_uint_t                           npartitions;
    ngx_uint_t                           ncursors;
    ngx_uint_t                           nwaiters;
    ngx_uint_t                           nfetches;
    ngx_uint_t                           nmessages;
};


ngx_int_t ngx_http_pubsub_kafka_init_worker(ngx_cycle_t *cycle,
    ngx_http_pubsub_kafka_cluster_t *cluster);
void ngx_http_pubsub_kafka_exit_worker(ngx_http_pubsub_kafka_client_t *kc);
char *ngx_http_pubsub_kafka_check_properties(ngx_conf_t *cf,
    ngx_http_pubsub_kafka_cluster_t *cluster);

ngx_int_t ngx_http_pubsub_kafka_list_offset(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
ngx_int_t ngx_http_pubsub_kafka_fetch(ngx_http_pubsub_cmd_t *cmd,
    PubSubReq *req);
size_t ngx_http_pubsub_kafka_list_offset_size(void);
size_t ngx_http_pubsub_kafka_fetch_size(void);

u_char *ngx_http_pubsub_kafka_status(ngx_http_pubsub_kafka_client_t *kc,
    u_char *p, u_char *last);


extern ngx_module_t  ngx_http_pubsub_kafka_module;


#endif /* _NGX_HTTP_PUBSUB_KAFKA_H_INCLUDED_ */
