/* stream_session: the Kubernetes streaming protocols on top of SPDY and WebSocket: protocol
 * negotiation (the 101 answer), exec/attach streams (stdin, stdout, stderr, error, resize) and
 * port-forward stream pairs (data + error per requestID). */
#include "stream/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>

#define MAX_PAIRS       128
#define MAX_RESIZE_JSON 4096

typedef struct pf_pair {
    char request_id[32];
    uint16_t port;
    uint32_t data_id, error_id;
    bool ready_sent;
} pf_pair_t;

struct stream_session {
    bool portforward;
    stream_transport_t transport;
    char protocol[40];
    bool base64; /* *.base64.channel.k8s.io: text messages, '0'+channel, base64 payload */
    bool v5;     /* v5.channel.k8s.io: the close channel */
    stream_exec_opts_t opts;
    stream_spdy_t *spdy;
    stream_ws_t ws;
    uint32_t sid[5]; /* exec over SPDY: stream id per channel (0: not open) */
    bool ready_sent, closed;
    util_buf_t resize;      /* resize JSON not yet parsed */
    uint32_t pending_eof;   /* an EOF event to deliver after the DATA that carried FIN */
    bool pending_eof_stdin; /* exec: stdin FIN came with data */
    pf_pair_t pairs[MAX_PAIRS];
    util_buf_t frame; /* SPDY output waiting to be wrapped in a WebSocket message */
    util_buf_t decoded;
};

/* ---- negotiation -------------------------------------------------------------------------- */

/* True when the comma-separated list contains token (case-insensitive, trimmed). */
static bool list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == tl && !strncasecmp(p, token, tl))
            return true;
        p = e;
    }
    return false;
}

/* The first protocol of the client's list that the server supports. */
static const char *pick(const char *client, const char *const *supported)
{
    for (const char *p = client; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        for (size_t i = 0; supported[i]; i++)
            if (strlen(supported[i]) == (size_t)(e - p) &&
                !strncmp(p, supported[i], (size_t)(e - p)))
                return supported[i];
        while (*e && *e != ',')
            e++;
        p = e;
    }
    return NULL;
}

static stream_session_t *session_new(stream_transport_t t, const char *proto, bool pf)
{
    stream_session_t *s = util_xcalloc(1, sizeof(*s));
    s->transport = t;
    s->portforward = pf;
    util_strlcpy(s->protocol, proto, sizeof(s->protocol));
    if (t != STREAM_TRANSPORT_WS)
        s->spdy = stream_spdy_new();
    if (t != STREAM_TRANSPORT_SPDY)
        stream_ws_init(&s->ws, true);
    s->base64 = strstr(proto, "base64") != NULL;
    s->v5 = !strcmp(proto, "v5.channel.k8s.io");
    return s;
}

static int ws_handshake(const stream_request_t *req, const char *proto, util_buf_t *resp,
                        int *ret_status, util_error_t *err)
{
    char accept[29];
    *ret_status = 400;
    if (!req->method || strcmp(req->method, "GET"))
        return util_error_make(err, EINVAL, "websocket upgrade requires GET");
    if (!req->ws_version || strcmp(req->ws_version, "13"))
        return util_error_make(err, EINVAL, "unsupported websocket version");
    int r = stream_ws_accept_key(req->ws_key, accept, err);
    if (r < 0)
        return r;
    util_buf_printf(resp,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                    "Sec-WebSocket-Protocol: %s\r\n\r\n",
                    accept, proto);
    return 0;
}

static void spdy_answer(util_buf_t *resp, const char *proto)
{
    util_buf_printf(resp,
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\n\r\n",
                    proto);
}

static bool is_upgrade(const stream_request_t *req, const char *what)
{
    return req->upgrade && list_has(req->upgrade, what) && req->connection &&
           list_has(req->connection, "upgrade");
}

stream_session_t *stream_exec_accept(const stream_request_t *req, const stream_exec_opts_t *o,
                                     util_buf_t *resp, int *ret_status, util_error_t *err)
{
    static const char *const spdy_protos[] = {"v4.channel.k8s.io", NULL};
    static const char *const ws_protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io",
                                            "v4.base64.channel.k8s.io", NULL};
    stream_session_t *s = NULL;
    if (!o->in && !o->out && !o->err) {
        *ret_status = 400;
        util_error_make(err, EINVAL, "you must specify at least 1 of stdin, stdout, stderr");
        return NULL;
    }
    if (is_upgrade(req, "websocket")) {
        const char *p = pick(req->ws_protocol, ws_protos);
        if (!p) {
            *ret_status = 400;
            util_error_make(err, EPROTO, "unable to negotiate a websocket subprotocol");
            return NULL;
        }
        if (ws_handshake(req, p, resp, ret_status, err) < 0)
            return NULL;
        s = session_new(STREAM_TRANSPORT_WS, p, false);
    } else if (is_upgrade(req, "SPDY/3.1")) {
        /* v5 over SPDY adds nothing SPDY lacks (FIN closes stdin), so v4 is answered; it is
         * in every offer kubectl makes. */
        const char *p = pick(req->stream_protocol, spdy_protos);
        if (!p) {
            *ret_status = 403;
            util_error_make(err, EPROTO,
                            "unable to upgrade: unable to negotiate protocol: client supports "
                            "%.200s, server supports [v4.channel.k8s.io]",
                            req->stream_protocol ? req->stream_protocol : "[]");
            return NULL;
        }
        spdy_answer(resp, p);
        s = session_new(STREAM_TRANSPORT_SPDY, p, false);
    } else {
        *ret_status = 400;
        util_error_make(err, EPROTO, "Upgrade request required");
        return NULL;
    }
    s->opts = *o;
    if (o->tty)
        s->opts.err = false; /* a terminal merges stderr into stdout */
    return s;
}

stream_session_t *stream_portforward_accept(const stream_request_t *req, util_buf_t *resp,
                                            int *ret_status, util_error_t *err)
{
    static const char *const ws_protos[] = {"SPDY/3.1+portforward.k8s.io", NULL};
    static const char *const spdy_protos[] = {"portforward.k8s.io", NULL};
    if (is_upgrade(req, "websocket")) {
        const char *p = pick(req->ws_protocol, ws_protos);
        if (!p) {
            *ret_status = 400;
            util_error_make(err, EPROTO, "unable to negotiate a websocket subprotocol");
            return NULL;
        }
        if (ws_handshake(req, p, resp, ret_status, err) < 0)
            return NULL;
        return session_new(STREAM_TRANSPORT_WS_SPDY, "portforward.k8s.io", true);
    }
    if (is_upgrade(req, "SPDY/3.1")) {
        const char *p = pick(req->stream_protocol, spdy_protos);
        if (!p) {
            *ret_status = 403;
            util_error_make(err, EPROTO,
                            "unable to upgrade: unable to negotiate protocol: client supports "
                            "%.200s, server supports [portforward.k8s.io]",
                            req->stream_protocol ? req->stream_protocol : "[]");
            return NULL;
        }
        spdy_answer(resp, p);
        return session_new(STREAM_TRANSPORT_SPDY, p, true);
    }
    *ret_status = 400;
    util_error_make(err, EPROTO, "Upgrade request required");
    return NULL;
}

stream_session_t *stream_session_free(stream_session_t *s)
{
    if (!s)
        return NULL;
    stream_spdy_free(s->spdy);
    if (s->transport != STREAM_TRANSPORT_SPDY)
        stream_ws_free(&s->ws);
    util_buf_free(&s->resize);
    util_buf_free(&s->frame);
    util_buf_free(&s->decoded);
    free(s);
    return NULL;
}

stream_transport_t stream_session_transport(const stream_session_t *s)
{
    return s->transport;
}

const char *stream_session_protocol(const stream_session_t *s)
{
    return s->protocol;
}

int stream_session_feed(stream_session_t *s, const void *data, size_t len)
{
    if (s->transport == STREAM_TRANSPORT_SPDY)
        return stream_spdy_feed(s->spdy, data, len);
    return stream_ws_feed(&s->ws, data, len);
}

/* ---- output helpers ----------------------------------------------------------------------- */

/* SPDY frames written to s->frame go out as they are, or inside one WebSocket message. */
static void flush_frames(stream_session_t *s, util_buf_t *out)
{
    if (s->frame.len == 0)
        return;
    if (s->transport == STREAM_TRANSPORT_WS_SPDY)
        stream_ws_put_frame(out, STREAM_WS_BINARY, true, s->frame.data, s->frame.len, NULL);
    else
        util_buf_append(out, s->frame.data, s->frame.len);
    util_buf_reset(&s->frame);
}

static void ws_channel_message(stream_session_t *s, int channel, const void *data, size_t len,
                               util_buf_t *out)
{
    util_buf_t m = {0};
    if (s->base64) {
        util_buf_reserve(&m, 4 * (len / 3 + 1) + 2);
        m.data[0] = (char)('0' + channel);
        size_t olen = 0;
        mbedtls_base64_encode((unsigned char *)m.data + 1, m.cap - 1, &olen, data, len);
        m.len = 1 + olen;
        stream_ws_put_frame(out, STREAM_WS_TEXT, true, m.data, m.len, NULL);
    } else {
        uint8_t ch = (uint8_t)channel;
        util_buf_append(&m, &ch, 1);
        util_buf_append(&m, data, len);
        stream_ws_put_frame(out, STREAM_WS_BINARY, true, m.data, m.len, NULL);
    }
    util_buf_free(&m);
}

/* ---- exec --------------------------------------------------------------------------------- */

static int channel_of_type(const char *t)
{
    static const char *const names[] = {"stdin", "stdout", "stderr", "error", "resize"};
    for (int i = 0; i < 5; i++)
        if (t && !strcmp(t, names[i]))
            return i;
    return -1;
}

static const char *header_value(const stream_spdy_frame_t *f, const char *name)
{
    for (size_t i = 0; i < f->nheaders; i++)
        if (!strcmp(f->headers[i].name, name))
            return f->headers[i].value;
    return NULL;
}

static bool exec_all_open(const stream_session_t *s)
{
    return s->sid[STREAM_CH_ERROR] && (!s->opts.in || s->sid[STREAM_CH_STDIN]) &&
           (!s->opts.out || s->sid[STREAM_CH_STDOUT]) &&
           (!s->opts.err || s->sid[STREAM_CH_STDERR]) && (!s->opts.tty || s->sid[STREAM_CH_RESIZE]);
}

/* A complete JSON object at the front of the resize buffer becomes a RESIZE event. */
static int resize_event(stream_session_t *s, stream_event_t *ev)
{
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < s->resize.len; i++) {
        char ch = s->resize.data[i];
        if (in_str) {
            esc = !esc && ch == '\\';
            if (ch == '"' && !esc)
                in_str = false;
            continue;
        }
        if (ch == '"')
            in_str = true;
        else if (ch == '{')
            depth++;
        else if (ch == '}' && --depth <= 0) {
            cJSON *j = cJSON_ParseWithLength(s->resize.data, i + 1);
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "Width");
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "Height");
            bool ok = cJSON_IsNumber(w) && cJSON_IsNumber(h) && w->valuedouble >= 0 &&
                      h->valuedouble >= 0 && w->valuedouble <= 65535 && h->valuedouble <= 65535;
            if (ok)
                *ev = (stream_event_t){.type = STREAM_EV_RESIZE,
                                       .width = (uint16_t)w->valuedouble,
                                       .height = (uint16_t)h->valuedouble};
            cJSON_Delete(j);
            memmove(s->resize.data, s->resize.data + i + 1, s->resize.len - i - 1);
            s->resize.len -= i + 1;
            s->resize.data[s->resize.len] = '\0';
            if (ok)
                return 1;
            i = (size_t)-1; /* malformed object dropped; look at the rest */
            depth = 0;
        }
    }
    if (s->resize.len > MAX_RESIZE_JSON)
        util_buf_reset(&s->resize);
    return 0;
}

static void resize_append(stream_session_t *s, const uint8_t *data, size_t len)
{
    if (s->resize.len + len <= MAX_RESIZE_JSON)
        util_buf_append(&s->resize, data, len);
}

/* One SPDY frame of an exec session; 1 when it produced an event. */
static int exec_spdy_frame(stream_session_t *s, const stream_spdy_frame_t *f, stream_event_t *ev,
                           util_buf_t *out, util_error_t *err)
{
    if (f->type == STREAM_SPDY_SYN_STREAM) {
        int ch = channel_of_type(header_value(f, "streamtype"));
        bool reject = ch < 0 || s->sid[ch] || f->stream_id == 0;
        if (!reject)
            s->sid[ch] = f->stream_id;
        int r = stream_spdy_put_headers(s->spdy, &s->frame, STREAM_SPDY_SYN_REPLY, f->stream_id, 0,
                                        NULL, 0, err);
        if (r < 0)
            return r;
        if (reject)
            stream_spdy_put_rst(&s->frame, f->stream_id, 3 /* REFUSED_STREAM */);
        flush_frames(s, out);
        return 0;
    }
    if (f->type == STREAM_SPDY_DATA || f->type == STREAM_SPDY_RST_STREAM) {
        bool fin = f->type == STREAM_SPDY_RST_STREAM || (f->flags & STREAM_SPDY_FLAG_FIN);
        if (f->stream_id && f->stream_id == s->sid[STREAM_CH_STDIN]) {
            if (f->type == STREAM_SPDY_DATA && f->len) {
                *ev = (stream_event_t){.type = STREAM_EV_DATA, .data = f->data, .len = f->len};
                s->pending_eof_stdin = fin;
                return 1;
            }
            if (fin) {
                *ev = (stream_event_t){.type = STREAM_EV_EOF};
                return 1;
            }
        } else if (f->stream_id && f->stream_id == s->sid[STREAM_CH_RESIZE] &&
                   f->type == STREAM_SPDY_DATA) {
            resize_append(s, f->data, f->len);
            return resize_event(s, ev);
        }
    }
    return 0;
}

void stream_exec_write(stream_session_t *s, int channel, const void *data, size_t len,
                       util_buf_t *out)
{
    if (s->portforward || (channel != STREAM_CH_STDOUT && channel != STREAM_CH_STDERR) || !len)
        return;
    if (s->transport == STREAM_TRANSPORT_WS) {
        ws_channel_message(s, channel, data, len, out);
        return;
    }
    if (!s->sid[channel])
        return;
    stream_spdy_put_data(&s->frame, s->sid[channel], data, len, false);
    flush_frames(s, out);
}

void stream_exec_status_json(util_buf_t *b, int exit_code, const char *error_message)
{
    if (error_message) {
        util_buf_puts(b, "{\"metadata\":{},\"status\":\"Failure\",\"message\":");
        util_buf_json_string(b, error_message, strlen(error_message));
        util_buf_puts(b, ",\"reason\":\"InternalError\",\"details\":{\"causes\":[{\"message\":");
        util_buf_json_string(b, error_message, strlen(error_message));
        util_buf_puts(b, "}]},\"code\":500}");
    } else if (exit_code == 0) {
        util_buf_puts(b, "{\"metadata\":{},\"status\":\"Success\"}");
    } else {
        util_buf_printf(b,
                        "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated "
                        "with non-zero exit code: exit status %d\",\"reason\":\"NonZeroExitCode\","
                        "\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"%d\"}]}}",
                        exit_code, exit_code);
    }
}

void stream_exec_finish(stream_session_t *s, int exit_code, const char *error_message,
                        util_buf_t *out)
{
    if (s->portforward)
        return;
    util_buf_t st = {0};
    stream_exec_status_json(&st, exit_code, error_message);
    if (s->transport == STREAM_TRANSPORT_WS) {
        ws_channel_message(s, STREAM_CH_ERROR, st.data, st.len, out);
        stream_ws_put_close(out, 1000, "");
    } else {
        for (int ch = STREAM_CH_STDOUT; ch <= STREAM_CH_STDERR; ch++)
            if (s->sid[ch])
                stream_spdy_put_data(&s->frame, s->sid[ch], NULL, 0, true);
        if (s->sid[STREAM_CH_ERROR])
            stream_spdy_put_data(&s->frame, s->sid[STREAM_CH_ERROR], st.data, st.len, true);
        flush_frames(s, out);
    }
    util_buf_free(&st);
}

/* ---- port-forward ------------------------------------------------------------------------- */

static pf_pair_t *pair_by_stream(stream_session_t *s, uint32_t id)
{
    for (size_t i = 0; i < MAX_PAIRS; i++)
        if (id && (s->pairs[i].data_id == id || s->pairs[i].error_id == id))
            return &s->pairs[i];
    return NULL;
}

static pf_pair_t *pair_by_request(stream_session_t *s, const char *rid, bool create)
{
    pf_pair_t *free_slot = NULL;
    for (size_t i = 0; i < MAX_PAIRS; i++) {
        pf_pair_t *p = &s->pairs[i];
        if ((p->data_id || p->error_id) && !strcmp(p->request_id, rid))
            return p;
        if (!p->data_id && !p->error_id && !free_slot)
            free_slot = p;
    }
    if (!create || !free_slot)
        return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    util_strlcpy(free_slot->request_id, rid, sizeof(free_slot->request_id));
    return free_slot;
}

/* A new stream of a pair: validated, replied to, and READY once both halves exist. */
static int pf_syn(stream_session_t *s, const stream_spdy_frame_t *f, stream_event_t *ev,
                  util_buf_t *out, util_error_t *err)
{
    const char *type = header_value(f, "streamtype");
    const char *port = header_value(f, "port");
    const char *rid = header_value(f, "requestid");
    long pnum = 0;
    bool is_data = type && !strcmp(type, "data"), is_error = type && !strcmp(type, "error");
    pf_pair_t *p = NULL;
    if ((is_data || is_error) && port && util_parse_long(port, 1, 65535, &pnum) == 0 &&
        f->stream_id && !pair_by_stream(s, f->stream_id))
        p = pair_by_request(s, rid ? rid : "", true);
    if (p && ((is_data && p->data_id) || (is_error && p->error_id) || (p->port && p->port != pnum)))
        p = NULL;
    int r = stream_spdy_put_headers(s->spdy, &s->frame, STREAM_SPDY_SYN_REPLY, f->stream_id, 0,
                                    NULL, 0, err);
    if (r < 0)
        return r;
    if (!p) {
        stream_spdy_put_rst(&s->frame, f->stream_id, 3 /* REFUSED_STREAM */);
        flush_frames(s, out);
        return 0;
    }
    p->port = (uint16_t)pnum;
    if (is_data)
        p->data_id = f->stream_id;
    else
        p->error_id = f->stream_id;
    flush_frames(s, out);
    if (p->data_id && p->error_id && !p->ready_sent) {
        p->ready_sent = true;
        *ev = (stream_event_t){.type = STREAM_EV_READY, .pair = p->data_id, .port = p->port};
        return 1;
    }
    return 0;
}

static int pf_spdy_frame(stream_session_t *s, const stream_spdy_frame_t *f, stream_event_t *ev,
                         util_buf_t *out, util_error_t *err)
{
    if (f->type == STREAM_SPDY_SYN_STREAM)
        return pf_syn(s, f, ev, out, err);
    pf_pair_t *p = pair_by_stream(s, f->stream_id);
    if (!p || !p->ready_sent)
        return 0;
    if (f->type == STREAM_SPDY_RST_STREAM) {
        *ev = (stream_event_t){.type = STREAM_EV_RESET, .pair = p->data_id};
        memset(p, 0, sizeof(*p));
        return 1;
    }
    if (f->type != STREAM_SPDY_DATA || f->stream_id != p->data_id)
        return 0;
    bool fin = f->flags & STREAM_SPDY_FLAG_FIN;
    if (f->len) {
        *ev = (stream_event_t){
            .type = STREAM_EV_DATA, .pair = p->data_id, .data = f->data, .len = f->len};
        if (fin)
            s->pending_eof = p->data_id;
        return 1;
    }
    if (fin) {
        *ev = (stream_event_t){.type = STREAM_EV_EOF, .pair = p->data_id};
        return 1;
    }
    return 0;
}

void stream_portforward_write(stream_session_t *s, uint32_t pair, const void *data, size_t len,
                              util_buf_t *out)
{
    pf_pair_t *p = pair_by_stream(s, pair);
    if (!s->portforward || !p || !len)
        return;
    stream_spdy_put_data(&s->frame, p->data_id, data, len, false);
    flush_frames(s, out);
}

void stream_portforward_close(stream_session_t *s, uint32_t pair, util_buf_t *out)
{
    pf_pair_t *p = pair_by_stream(s, pair);
    if (!s->portforward || !p)
        return;
    stream_spdy_put_data(&s->frame, p->data_id, NULL, 0, true);
    stream_spdy_put_data(&s->frame, p->error_id, NULL, 0, true);
    flush_frames(s, out);
}

void stream_portforward_error(stream_session_t *s, uint32_t pair, const char *msg, util_buf_t *out)
{
    pf_pair_t *p = pair_by_stream(s, pair);
    if (!s->portforward || !p)
        return;
    /* and the data stream ends too, as upstream's handler closes both: kubectl reports the
     * error only once the data stream is done */
    stream_spdy_put_data(&s->frame, p->error_id, msg, strlen(msg), true);
    stream_spdy_put_data(&s->frame, p->data_id, NULL, 0, true);
    flush_frames(s, out);
}

/* ---- event loop ----------------------------------------------------------------------------- */

/* Connection-level SPDY frames; 1 when the session ended. */
static int spdy_common(stream_session_t *s, const stream_spdy_frame_t *f, util_buf_t *out)
{
    if (f->type == STREAM_SPDY_PING) {
        stream_spdy_put_ping(&s->frame, f->value);
        flush_frames(s, out);
    }
    return f->type == STREAM_SPDY_GOAWAY;
}

/* Decodes one WebSocket channel message of an exec session. */
static int exec_ws_message(stream_session_t *s, const stream_ws_message_t *m, stream_event_t *ev,
                           util_error_t *err)
{
    const uint8_t *d = m->data;
    size_t len = m->len;
    if (len == 0)
        return 0;
    int ch;
    if (s->base64) {
        if (m->opcode != STREAM_WS_TEXT || d[0] < '0' || d[0] > '9')
            return util_error_make(err, EPROTO, "base64 channel message expected");
        ch = d[0] - '0';
        util_buf_reset(&s->decoded);
        util_buf_reserve(&s->decoded, len);
        size_t olen = 0;
        if (mbedtls_base64_decode((unsigned char *)s->decoded.data, s->decoded.cap, &olen, d + 1,
                                  len - 1) != 0)
            return util_error_make(err, EPROTO, "invalid base64 in channel message");
        d = (const uint8_t *)s->decoded.data;
        len = olen;
    } else {
        ch = d[0];
        d++;
        len--;
    }
    if (ch == STREAM_CH_STDIN && s->opts.in && len) {
        *ev = (stream_event_t){.type = STREAM_EV_DATA, .data = d, .len = len};
        return 1;
    }
    if (ch == STREAM_CH_RESIZE && s->opts.tty) {
        resize_append(s, d, len);
        return resize_event(s, ev);
    }
    if (ch == STREAM_CH_CLOSE && s->v5 && len >= 1 && d[0] == STREAM_CH_STDIN) {
        *ev = (stream_event_t){.type = STREAM_EV_EOF};
        return 1;
    }
    return 0;
}

static int next_ws(stream_session_t *s, stream_event_t *ev, util_buf_t *out, util_error_t *err)
{
    stream_ws_message_t m;
    for (;;) {
        if (s->transport == STREAM_TRANSPORT_WS_SPDY) {
            stream_spdy_frame_t f;
            int r = stream_spdy_next(s->spdy, &f, err);
            if (r < 0)
                return r;
            if (r > 0) {
                if (spdy_common(s, &f, out)) {
                    s->closed = true;
                    *ev = (stream_event_t){.type = STREAM_EV_CLOSED};
                    return 1;
                }
                r = pf_spdy_frame(s, &f, ev, out, err);
                if (r != 0)
                    return r;
                continue;
            }
        }
        int r = stream_ws_next(&s->ws, &m, err);
        if (r <= 0)
            return r;
        if (m.opcode == STREAM_WS_PING) {
            stream_ws_put_frame(out, STREAM_WS_PONG, true, m.data, m.len, NULL);
        } else if (m.opcode == STREAM_WS_CLOSE) {
            stream_ws_put_close(out, 1000, "");
            s->closed = true;
            *ev = (stream_event_t){.type = STREAM_EV_CLOSED};
            return 1;
        } else if (s->transport == STREAM_TRANSPORT_WS_SPDY) {
            if (m.opcode != STREAM_WS_BINARY)
                return util_error_make(err, EPROTO, "binary messages expected in the tunnel");
            r = stream_spdy_feed(s->spdy, m.data, m.len);
            if (r < 0)
                return util_error_make(err, -r, "tunnelled SPDY frame too large");
        } else if (m.opcode != STREAM_WS_PONG) {
            r = exec_ws_message(s, &m, ev, err);
            if (r != 0)
                return r;
        }
    }
}

int stream_session_next(stream_session_t *s, stream_event_t *ev, util_buf_t *out, util_error_t *err)
{
    if (s->closed)
        return 0;
    if (s->pending_eof || s->pending_eof_stdin) {
        *ev = (stream_event_t){.type = STREAM_EV_EOF, .pair = s->pending_eof};
        s->pending_eof = 0;
        s->pending_eof_stdin = false;
        return 1;
    }
    if (!s->portforward && !s->ready_sent &&
        (s->transport == STREAM_TRANSPORT_WS || exec_all_open(s))) {
        s->ready_sent = true;
        *ev = (stream_event_t){.type = STREAM_EV_READY};
        return 1;
    }
    if (!s->portforward && s->opts.tty && resize_event(s, ev))
        return 1;
    if (s->transport != STREAM_TRANSPORT_SPDY)
        return next_ws(s, ev, out, err);
    stream_spdy_frame_t f;
    for (;;) {
        int r = stream_spdy_next(s->spdy, &f, err);
        if (r <= 0)
            return r;
        if (spdy_common(s, &f, out)) {
            s->closed = true;
            *ev = (stream_event_t){.type = STREAM_EV_CLOSED};
            return 1;
        }
        r = s->portforward ? pf_spdy_frame(s, &f, ev, out, err)
                           : exec_spdy_frame(s, &f, ev, out, err);
        if (r != 0)
            return r;
        if (!s->ready_sent && exec_all_open(s) && !s->portforward) {
            s->ready_sent = true;
            *ev = (stream_event_t){.type = STREAM_EV_READY};
            return 1;
        }
    }
}
