/* fuzz_stream: libFuzzer target for pkg/stream: the first byte picks what the rest is fed to
 * (the SPDY codec, the WebSocket parser, or an exec/attach or port-forward session over SPDY,
 * WebSocket v5/v4/base64, or SPDY tunnelled in WebSocket), fed in chunks whose sizes come
 * from the second byte so that frame reassembly is exercised. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stream/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static stream_session_t *open_session(unsigned mode)
{
    static const char *const ws_protos[] = {"v5.channel.k8s.io", "v4.channel.k8s.io",
                                            "v4.base64.channel.k8s.io"};
    stream_request_t req = {.method = "GET",
                            .connection = "Upgrade",
                            .ws_key = "dGhlIHNhbXBsZSBub25jZQ==",
                            .ws_version = "13"};
    stream_exec_opts_t o = {.in = true, .out = true, .err = !(mode & 1), .tty = mode & 1};
    util_buf_t resp = {0};
    util_error_t err = NULL;
    int status;
    stream_session_t *s = NULL;
    if (mode < 2) {
        req.method = "POST";
        req.upgrade = "SPDY/3.1";
        req.stream_protocol = "v4.channel.k8s.io";
        s = stream_exec_accept(&req, &o, &resp, &status, &err);
    } else if (mode < 5) {
        req.upgrade = "websocket";
        req.ws_protocol = ws_protos[mode - 2];
        s = stream_exec_accept(&req, &o, &resp, &status, &err);
    } else if (mode == 5) {
        req.method = "POST";
        req.upgrade = "SPDY/3.1";
        req.stream_protocol = "portforward.k8s.io";
        s = stream_portforward_accept(&req, &resp, &status, &err);
    } else {
        req.upgrade = "websocket";
        req.ws_protocol = "SPDY/3.1+portforward.k8s.io";
        s = stream_portforward_accept(&req, &resp, &status, &err);
    }
    util_buf_free(&resp);
    util_error_free(&err);
    return s;
}

/* Drains events and answers some of them the way a kubelet would. */
static void drain(stream_session_t *s, util_buf_t *out)
{
    stream_event_t ev;
    util_error_t err = NULL;
    int guard = 0;
    while (stream_session_next(s, &ev, out, &err) > 0 && guard++ < 4096) {
        if (ev.type == STREAM_EV_DATA) {
            stream_exec_write(s, STREAM_CH_STDOUT, ev.data, ev.len, out);
            stream_portforward_write(s, ev.pair, ev.data, ev.len, out);
        } else if (ev.type == STREAM_EV_EOF) {
            stream_portforward_close(s, ev.pair, out);
        } else if (ev.type == STREAM_EV_READY && ev.pair) {
            stream_portforward_error(s, ev.pair, "refused", out);
        }
        util_buf_reset(out);
    }
    util_error_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1 << 20)
        return 0;
    unsigned mode = data[0] % 9, chunk = data[1] ? data[1] : 1;
    data += 2;
    size -= 2;
    util_buf_t out = {0};
    util_error_t err = NULL;
    if (mode == 7) {
        stream_spdy_t *s = stream_spdy_new();
        stream_spdy_frame_t f;
        for (size_t off = 0; off < size; off += chunk) {
            size_t n = size - off < chunk ? size - off : chunk;
            if (stream_spdy_feed(s, data + off, n) < 0)
                break;
            int r;
            while ((r = stream_spdy_next(s, &f, &err)) > 0)
                if (f.type == STREAM_SPDY_SYN_STREAM)
                    stream_spdy_put_headers(s, &out, STREAM_SPDY_SYN_REPLY, f.stream_id, 0,
                                            f.headers, f.nheaders, &err);
            if (r < 0)
                break;
        }
        stream_spdy_free(s);
    } else if (mode == 8) {
        stream_ws_t ws;
        stream_ws_init(&ws, true);
        stream_ws_message_t m;
        for (size_t off = 0; off < size; off += chunk) {
            size_t n = size - off < chunk ? size - off : chunk;
            if (stream_ws_feed(&ws, data + off, n) < 0)
                break;
            int r;
            while ((r = stream_ws_next(&ws, &m, &err)) > 0)
                stream_ws_put_frame(&out, m.opcode, true, m.data, m.len, NULL);
            if (r < 0)
                break;
        }
        stream_ws_free(&ws);
    } else {
        stream_session_t *s = open_session(mode);
        for (size_t off = 0; s && off < size; off += chunk) {
            size_t n = size - off < chunk ? size - off : chunk;
            if (stream_session_feed(s, data + off, n) < 0)
                break;
            drain(s, &out);
        }
        if (s)
            stream_exec_finish(s, 1, NULL, &out);
        stream_session_free(s);
    }
    util_error_free(&err);
    util_buf_free(&out);
    return 0;
}
