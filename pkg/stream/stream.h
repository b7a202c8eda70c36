/* stream: the kubelet streaming protocols (exec, attach, port-forward) as event-driven state
 * machines over byte buffers, with no sockets inside: SPDY/3.1 framing with zlib header blocks,
 * RFC 6455 WebSocket framing, and the Kubernetes channel protocols on top of both.
 *
 * Every function that consumes input is safe on hostile bytes: sizes are bounded, errors are
 * reported (never a crash), and nothing is half-applied. Output is appended to util_buf_t
 * buffers that the caller writes to its transport. See docs/stream.md. */
#ifndef KUBELING_STREAM_H
#define KUBELING_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* ---- SPDY/3.1 framing ----------------------------------------------------------------------- */

#define STREAM_SPDY_MAX_FRAME       (1u << 20)  /* payload bytes accepted per frame */
#define STREAM_SPDY_MAX_HEADER_SIZE (64u << 10) /* decompressed header block */
#define STREAM_SPDY_MAX_HEADERS     64
#define STREAM_SPDY_FLAG_FIN        0x01

typedef enum {
    STREAM_SPDY_DATA = 0,
    STREAM_SPDY_SYN_STREAM = 1,
    STREAM_SPDY_SYN_REPLY = 2,
    STREAM_SPDY_RST_STREAM = 3,
    STREAM_SPDY_SETTINGS = 4,
    STREAM_SPDY_PING = 6,
    STREAM_SPDY_GOAWAY = 7,
    STREAM_SPDY_HEADERS = 8,
    STREAM_SPDY_WINDOW_UPDATE = 9,
} stream_spdy_type_t;

typedef struct stream_header {
    char *name; /* lower case, as SPDY requires */
    char *value;
} stream_header_t;

/* One decoded frame; pointers stay valid until the next stream_spdy_next call. */
typedef struct stream_spdy_frame {
    stream_spdy_type_t type;
    uint8_t flags;
    uint32_t stream_id; /* DATA, SYN_*, RST, HEADERS, WINDOW_UPDATE; GOAWAY: last good id */
    uint32_t value;     /* RST/GOAWAY status, PING id, WINDOW_UPDATE delta */
    const uint8_t *data;
    size_t len; /* DATA payload */
    const stream_header_t *headers;
    size_t nheaders; /* SYN_STREAM, SYN_REPLY, HEADERS */
} stream_spdy_frame_t;

/* A SPDY connection's codec: input reassembly plus the two stateful zlib contexts (header
 * blocks of one direction form one zlib stream primed with the SPDY/3 dictionary). */
typedef struct stream_spdy stream_spdy_t;

stream_spdy_t *stream_spdy_new(void);
stream_spdy_t *stream_spdy_free(stream_spdy_t *s);
/* Buffers input; -EMSGSIZE once more than a frame's worth is pending unread. */
int stream_spdy_feed(stream_spdy_t *s, const void *data, size_t len);
/* Decodes the next complete frame: 1 with *f filled, 0 when more input is needed, < 0 on a
 * protocol error (the connection must be dropped; *err says why). Unknown control frame types
 * are skipped. */
int stream_spdy_next(stream_spdy_t *s, stream_spdy_frame_t *f, util_error_t *err);
/* Encoders (append to out). */
void stream_spdy_put_data(util_buf_t *out, uint32_t id, const void *data, size_t len, bool fin);
/* SYN_STREAM (assoc 0, priority 0), SYN_REPLY or HEADERS with a compressed header block. */
int stream_spdy_put_headers(stream_spdy_t *s, util_buf_t *out, stream_spdy_type_t type, uint32_t id,
                            uint8_t flags, const stream_header_t *h, size_t n, util_error_t *err);
void stream_spdy_put_rst(util_buf_t *out, uint32_t id, uint32_t status);
void stream_spdy_put_ping(util_buf_t *out, uint32_t ping_id);
void stream_spdy_put_goaway(util_buf_t *out, uint32_t last_good, uint32_t status);
void stream_spdy_put_window_update(util_buf_t *out, uint32_t id, uint32_t delta);
/* SETTINGS with n (id, value) pairs, flags 0. */
void stream_spdy_put_settings(util_buf_t *out, const uint32_t *ids, const uint32_t *values,
                              size_t n);
/* The SPDY/3 header dictionary (for tests). */
const unsigned char *stream_spdy_dictionary(size_t *ret_len);

/* ---- WebSocket (RFC 6455) ------------------------------------------------------------------- */

#define STREAM_WS_MAX_MESSAGE (8u << 20)

typedef enum {
    STREAM_WS_CONT = 0,
    STREAM_WS_TEXT = 1,
    STREAM_WS_BINARY = 2,
    STREAM_WS_CLOSE = 8,
    STREAM_WS_PING = 9,
    STREAM_WS_PONG = 10,
} stream_ws_opcode_t;

typedef struct stream_ws_message {
    stream_ws_opcode_t opcode; /* TEXT/BINARY (reassembled), CLOSE, PING or PONG */
    const uint8_t *data;
    size_t len;
    uint16_t close_code; /* CLOSE: 1005 when the frame carried none */
} stream_ws_message_t;

typedef struct stream_ws {
    bool server;   /* frames from the peer must (server) or must not (client) be masked */
    util_buf_t in; /* unparsed input */
    size_t in_off;
    util_buf_t msg; /* fragments of the message being reassembled */
    int msg_opcode; /* 0: none in progress */
    util_buf_t ctl; /* the last control frame's payload */
    bool close_seen;
} stream_ws_t;

void stream_ws_init(stream_ws_t *ws, bool server);
void stream_ws_free(stream_ws_t *ws);
int stream_ws_feed(stream_ws_t *ws, const void *data, size_t len);
/* 1 with *m filled (valid until the next call), 0 for more input, < 0 on a protocol error. */
int stream_ws_next(stream_ws_t *ws, stream_ws_message_t *m, util_error_t *err);
/* Appends one frame; mask (4 bytes) for a client, NULL for a server. */
void stream_ws_put_frame(util_buf_t *out, stream_ws_opcode_t op, bool fin, const void *data,
                         size_t len, const uint8_t *mask);
void stream_ws_put_close(util_buf_t *out, uint16_t code, const char *reason);
/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (base64 of a 16-byte nonce). */
int stream_ws_accept_key(const char *key, char ret[29], util_error_t *err);

/* ---- Kubernetes streaming sessions ---------------------------------------------------------- */

/* The handshake-relevant parts of an HTTP request (NULL when absent). Repeated headers are
 * joined with ", " (Go sends X-Stream-Protocol-Version once per offered protocol). */
typedef struct stream_request {
    const char *method;
    const char *upgrade;
    const char *connection;
    const char *ws_key;
    const char *ws_version;
    const char *ws_protocol;     /* Sec-WebSocket-Protocol */
    const char *stream_protocol; /* X-Stream-Protocol-Version */
} stream_request_t;

typedef enum {
    STREAM_TRANSPORT_SPDY = 1, /* Upgrade: SPDY/3.1 */
    STREAM_TRANSPORT_WS,       /* WebSocket with a channel protocol */
    STREAM_TRANSPORT_WS_SPDY,  /* SPDY frames tunnelled in WebSocket binary messages */
} stream_transport_t;

/* Channel numbers of the remotecommand protocols. */
enum {
    STREAM_CH_STDIN = 0,
    STREAM_CH_STDOUT = 1,
    STREAM_CH_STDERR = 2,
    STREAM_CH_ERROR = 3,
    STREAM_CH_RESIZE = 4,
    STREAM_CH_CLOSE = 255,
};

typedef struct stream_exec_opts {
    bool in, out, err, tty;
} stream_exec_opts_t;

typedef enum {
    STREAM_EV_READY = 1, /* exec: every expected stream is open; port-forward: a pair opened */
    STREAM_EV_DATA,      /* exec: stdin bytes; port-forward: bytes for a pair */
    STREAM_EV_EOF,       /* exec: stdin closed; port-forward: the client half-closed a pair */
    STREAM_EV_RESIZE,    /* exec: terminal size */
    STREAM_EV_RESET,     /* port-forward: a pair was reset by the client */
    STREAM_EV_CLOSED,    /* the client ended the session */
} stream_event_type_t;

typedef struct stream_event {
    stream_event_type_t type;
    const uint8_t *data;
    size_t len;
    uint16_t width, height; /* RESIZE */
    uint32_t pair;          /* port-forward: the pair's handle (its data stream id) */
    uint16_t port;          /* port-forward READY */
} stream_event_t;

typedef struct stream_session stream_session_t;

/* Negotiates exec/attach: on success writes the 101 response into resp and returns the
 * session; on failure returns NULL with *ret_status (400 or 403...) and *err for the answer. */
stream_session_t *stream_exec_accept(const stream_request_t *req, const stream_exec_opts_t *o,
                                     util_buf_t *resp, int *ret_status, util_error_t *err);
/* The same for port-forward (SPDY, or SPDY tunnelled in WebSocket). */
stream_session_t *stream_portforward_accept(const stream_request_t *req, util_buf_t *resp,
                                            int *ret_status, util_error_t *err);
stream_session_t *stream_session_free(stream_session_t *s);
stream_transport_t stream_session_transport(const stream_session_t *s);
/* The negotiated protocol ("v4.channel.k8s.io", "portforward.k8s.io", ...). */
const char *stream_session_protocol(const stream_session_t *s);

/* Buffers input. Feed and drain (stream_session_next until 0) alternately: a session holds
 * about one maximal frame of unparsed input and answers -EMSGSIZE beyond that. */
int stream_session_feed(stream_session_t *s, const void *data, size_t len);
/* Next event: 1 (filled), 0 (more input), < 0 protocol error. Protocol replies (SYN_REPLY,
 * pong) are appended to out, which the caller must send. */
int stream_session_next(stream_session_t *s, stream_event_t *ev, util_buf_t *out,
                        util_error_t *err);
/* exec: output on STREAM_CH_STDOUT or STREAM_CH_STDERR. */
void stream_exec_write(stream_session_t *s, int channel, const void *data, size_t len,
                       util_buf_t *out);
/* exec: ends the session: closes the output streams, then the Status (exit_code 0 is
 * Success; error_message, when set, is a Failure with reason InternalError). */
void stream_exec_finish(stream_session_t *s, int exit_code, const char *error_message,
                        util_buf_t *out);
/* The v4 error channel's Status JSON (exposed for tests). */
void stream_exec_status_json(util_buf_t *b, int exit_code, const char *error_message);
/* port-forward: data for a pair, its end (FIN), or an error message on its error stream
 * (which ends the pair too). */
void stream_portforward_write(stream_session_t *s, uint32_t pair, const void *data, size_t len,
                              util_buf_t *out);
void stream_portforward_close(stream_session_t *s, uint32_t pair, util_buf_t *out);
void stream_portforward_error(stream_session_t *s, uint32_t pair, const char *msg, util_buf_t *out);

#endif
