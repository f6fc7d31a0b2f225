
/*
 * Copyright (C) ngx_http_pubsub_kafka_module authors
 */


/*
 * A small client of the pubsub WebSocket protocol (proto/pubsub.proto).
 *
 * Two layers:
 *
 *   - I/O-free: ws:// and wss:// URL parsing, the handshake request and
 *     the check of its response, client frame building (masked), a frame
 *     reader that takes bytes from any source and returns whole messages
 *     and control frames, and PubSubReq building.  Usable on non-blocking
 *     sockets.
 *
 *   - Blocking I/O (pubsub_conn_t): connect with a timeout (TLS for
 *     wss://, OpenSSL, the server's certificate verified), handshake,
 *     send a request, wait for its answer (answering pings, handling the
 *     close handshake), close.
 *
 * Functions return PUBSUB_OK, PUBSUB_ERROR (with an error text),
 * PUBSUB_AGAIN (more input needed) or PUBSUB_INTR (a signal interrupted a
 * wait).
 */


#ifndef PUBSUB_CLIENT_H
#define PUBSUB_CLIENT_H


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pubsub.pb-c.h"


#define PUBSUB_OK               0
#define PUBSUB_ERROR           -1
#define PUBSUB_AGAIN           -2
#define PUBSUB_INTR            -3

#define PUBSUB_WS_CONT          0x0
#define PUBSUB_WS_TEXT          0x1
#define PUBSUB_WS_BINARY        0x2
#define PUBSUB_WS_CLOSE         0x8
#define PUBSUB_WS_PING          0x9
#define PUBSUB_WS_PONG          0xa

/* the largest server message accepted, fragments reassembled */
#define PUBSUB_MAX_MESSAGE      (64 * 1024 * 1024)

/* the largest handshake response accepted */
#define PUBSUB_MAX_HANDSHAKE    16384

/* the characters of a Sec-WebSocket-Key and a Sec-WebSocket-Accept */
#define PUBSUB_WS_KEY_LEN       24
#define PUBSUB_WS_ACCEPT_LEN    28

/* frame header of a client frame: 2 + 8 (length) + 4 (mask) at most */
#define PUBSUB_WS_MAX_HEADER    14


typedef struct {
    unsigned            tls:1;          /* wss:// */
    char                host[256];      /* without IPv6 brackets */
    char                port[8];
    char                authority[272]; /* the Host header: host[:port] */
    char                path[2048];     /* path and query, at least "/" */
} pubsub_url_t;


/* the header of a server frame */

typedef struct {
    unsigned            fin:1;
    unsigned            opcode:4;
    size_t              header;         /* bytes of the header */
    uint64_t            length;         /* bytes of the payload */
} pubsub_ws_frame_t;


/* what pubsub_ws_reader_next() found */

typedef struct {
    int                 opcode;         /* TEXT, BINARY, CLOSE, PING, PONG */
    u_char             *data;           /* the message; a close's reason */
    size_t              len;
    int                 close_code;     /* CLOSE: 1005 when there is none */
} pubsub_ws_event_t;


/*
 * Received bytes are buf[pos..last); a fragmented message is gathered in
 * msg.  An event's data stays valid until the next call of
 * pubsub_ws_reader_room() or pubsub_ws_reader_next().
 */

typedef struct {
    u_char             *buf;
    size_t              pos;
    size_t              last;
    size_t              size;
    size_t              need;           /* bytes of the frame at pos */

    u_char             *msg;
    size_t              msg_len;
    size_t              msg_size;
    int                 msg_opcode;     /* 0: no fragmented message */

    size_t              max_message;
    const char         *err;
} pubsub_ws_reader_t;


/*
 * A request and the storage of its command.  The arrays a command points
 * to (partitions, offsets, headers) are the caller's, as are the strings.
 */

typedef struct {
    PubSubReq           req;
    union {
        CmdPing             ping;
        CmdKafkaFetch       fetch;
        CmdKafkaListOffset  list_offset;
        CmdKafkaSubscribe   subscribe;
        CmdKafkaUnsubscribe unsubscribe;
        CmdKafkaCredit      credit;
        CmdKafkaProduce     produce;
        CmdKafkaCommit      commit;
        CmdKafkaCommitted   committed;
    } cmd;
    KafkaFilter         filter;         /* of a subscribe */
} pubsub_req_t;


/* I/O-free: URL, handshake */

const char *pubsub_url_parse(pubsub_url_t *url, const char *s);
size_t pubsub_base64_encode(char *dst, const u_char *src, size_t len);
void pubsub_ws_key(char key[PUBSUB_WS_KEY_LEN + 1], const u_char nonce[16]);
void pubsub_ws_accept(char accept[PUBSUB_WS_ACCEPT_LEN + 1],
    const char *key);
int pubsub_ws_handshake_request(char *buf, size_t size,
    const pubsub_url_t *url, const char *key, const char *headers);
int pubsub_ws_handshake_response(const char *buf, size_t len,
    const char *key, size_t *used, char *err, size_t errlen);

/* I/O-free: frames */

size_t pubsub_ws_frame_size(size_t len);
size_t pubsub_ws_frame(u_char *out, int opcode, const u_char *payload,
    size_t len, const u_char mask[4]);
int pubsub_ws_frame_parse(pubsub_ws_frame_t *f, const u_char *p, size_t n,
    const char **err);

int pubsub_ws_reader_init(pubsub_ws_reader_t *r, size_t max_message);
void pubsub_ws_reader_free(pubsub_ws_reader_t *r);
u_char *pubsub_ws_reader_room(pubsub_ws_reader_t *r, size_t *room);
void pubsub_ws_reader_filled(pubsub_ws_reader_t *r, size_t n);
int pubsub_ws_reader_next(pubsub_ws_reader_t *r, pubsub_ws_event_t *ev);

/* I/O-free: requests and responses */

void pubsub_req_ping(pubsub_req_t *r, int64_t seq, const u_char *state,
    size_t len);
void pubsub_req_list_offset(pubsub_req_t *r, int64_t seq, const char *topic,
    int32_t partition, int64_t timestamp);
void pubsub_req_fetch(pubsub_req_t *r, int64_t seq, const char *topic,
    int32_t partition, int64_t offset);
void pubsub_req_subscribe(pubsub_req_t *r, int64_t seq, const char *topic);
void pubsub_req_unsubscribe(pubsub_req_t *r, int64_t seq,
    int64_t subscription);
void pubsub_req_credit(pubsub_req_t *r, int64_t seq, int64_t subscription,
    int32_t messages);
void pubsub_req_produce(pubsub_req_t *r, int64_t seq, const char *topic);
void pubsub_req_commit(pubsub_req_t *r, int64_t seq, const char *group,
    const char *topic, KafkaPartitionOffset **offsets, size_t n);
void pubsub_req_committed(pubsub_req_t *r, int64_t seq, const char *group,
    const char *topic, int32_t *partitions, size_t n);
size_t pubsub_req_frame_size(const pubsub_req_t *r);
size_t pubsub_req_frame(u_char *out, const pubsub_req_t *r,
    const u_char mask[4]);
PubSubResp *pubsub_resp_decode(const u_char *data, size_t len);
void pubsub_resp_free(PubSubResp *resp);


/* blocking I/O */

typedef struct {
    int                 fd;
    struct ssl_st      *ssl;            /* OpenSSL's SSL of wss://, or NULL */
    int                 timeout;        /* ms a wait may take, -1: forever */
    int                 wait;           /* ms of the current wait, for errors */
    int64_t             sequence;       /* of the last request sent */
    unsigned            close_sent:1;
    unsigned            close_received:1;
    pubsub_ws_reader_t  reader;
    char                err[512];
} pubsub_conn_t;


void pubsub_random(void *buf, size_t len);
int pubsub_connect(pubsub_conn_t *c, const pubsub_url_t *url, int timeout);
int pubsub_send_frame(pubsub_conn_t *c, int opcode, const u_char *payload,
    size_t len);
int pubsub_send_req(pubsub_conn_t *c, const pubsub_req_t *r);
int pubsub_recv_resp(pubsub_conn_t *c, PubSubResp **resp);
int pubsub_recv_resp_timeout(pubsub_conn_t *c, PubSubResp **resp,
    int timeout);
int pubsub_buffered(pubsub_conn_t *c);
void pubsub_set_wakeup_fd(int fd);
void pubsub_set_tls(const char *cafile, const char *cert, const char *key,
    int verify);
void pubsub_set_headers(const char *headers);
int pubsub_call(pubsub_conn_t *c, pubsub_req_t *r, PubSubResp **resp);
void pubsub_close(pubsub_conn_t *c, int code);


#endif /* PUBSUB_CLIENT_H */
