/* test_stream: SPDY/3.1 and WebSocket framing, the zlib header dictionary, and the exec and
 * port-forward sessions driven the way kubectl drives them; hostile and truncated input. */
#include "unit.h"
#include "stream/stream.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static const uint8_t MASK[4] = {0x12, 0x34, 0x56, 0x78};

/* Decodes exactly one frame from codec (fails the test otherwise). */
static void next_frame(stream_spdy_t *s, stream_spdy_frame_t *f)
{
    util_error_t err = NULL;
    int r = stream_spdy_next(s, f, &err);
    if (r != 1)
        fail_msg("stream_spdy_next: %d %s", r, err ? err->msg : "");
}

static const char *frame_header(const stream_spdy_frame_t *f, const char *name)
{
    for (size_t i = 0; i < f->nheaders; i++)
        if (!strcmp(f->headers[i].name, name))
            return f->headers[i].value;
    return NULL;
}

/* A kubectl-like client's SYN_STREAM with a streamtype (and optional port-forward headers). */
static void client_syn(stream_spdy_t *client, util_buf_t *out, uint32_t id, const char *type,
                       const char *port, const char *rid)
{
    stream_header_t h[3] = {
        {"streamtype", (char *)type}, {"port", (char *)port}, {"requestid", (char *)rid}};
    util_error_t err = NULL;
    assert_int_equal(
        stream_spdy_put_headers(client, out, STREAM_SPDY_SYN_STREAM, id, 0, h, port ? 3 : 1, &err),
        0);
}

static int spdy_error(const void *data, size_t len)
{
    stream_spdy_t *s = stream_spdy_new();
    util_error_t err = NULL;
    stream_spdy_frame_t f;
    int r = stream_spdy_feed(s, data, len);
    while (r >= 0 && (r = stream_spdy_next(s, &f, &err)) > 0)
        ;
    util_error_free(&err);
    stream_spdy_free(s);
    return r;
}

static int ws_error(const void *data, size_t len)
{
    stream_ws_t ws;
    stream_ws_init(&ws, true);
    util_error_t err = NULL;
    stream_ws_message_t m;
    int r = stream_ws_feed(&ws, data, len);
    while (r >= 0 && (r = stream_ws_next(&ws, &m, &err)) > 0)
        ;
    util_error_free(&err);
    stream_ws_free(&ws);
    return r;
}

/* ---- SPDY --------------------------------------------------------------------------------------
 */

static void spdy_dictionary_is_the_spdy3_one(void **state)
{
    (void)state;
    size_t n;
    const unsigned char *d = stream_spdy_dictionary(&n);
    assert_int_equal(n, 1423);
    /* the dictionary id every SPDY/3 header block's zlib header names */
    assert_int_equal(adler32(adler32(0, NULL, 0), d, (uInt)n), 0xe3c6a7c2u);
    assert_memory_equal(d, "\0\0\0\x07options", 11);
}

static void spdy_frames_round_trip(void **state)
{
    (void)state;
    stream_spdy_t *a = stream_spdy_new(), *b = stream_spdy_new();
    util_buf_t out = {0};
    util_error_t err = NULL;
    /* two header blocks: the second reuses the first's zlib state */
    client_syn(a, &out, 1, "error", NULL, NULL);
    stream_header_t h[2] = {{"streamtype", "stdout"}, {"X-Mixed", "v1\0v2"}};
    assert_int_equal(stream_spdy_put_headers(a, &out, STREAM_SPDY_SYN_REPLY, 3,
                                             STREAM_SPDY_FLAG_FIN, h, 2, &err),
                     0);
    stream_spdy_put_data(&out, 3, "hello", 5, true);
    stream_spdy_put_rst(&out, 5, 3);
    stream_spdy_put_ping(&out, 7);
    stream_spdy_put_goaway(&out, 9, 0);
    stream_spdy_put_window_update(&out, 11, 65536);
    uint32_t ids[1] = {7}, vals[1] = {65536};
    stream_spdy_put_settings(&out, ids, vals, 1);
    assert_int_equal(stream_spdy_feed(b, out.data, out.len), 0);
    stream_spdy_frame_t f;
    next_frame(b, &f);
    assert_int_equal(f.type, STREAM_SPDY_SYN_STREAM);
    assert_int_equal(f.stream_id, 1);
    assert_string_equal(frame_header(&f, "streamtype"), "error");
    next_frame(b, &f);
    assert_int_equal(f.type, STREAM_SPDY_SYN_REPLY);
    assert_int_equal(f.flags, STREAM_SPDY_FLAG_FIN);
    assert_string_equal(frame_header(&f, "x-mixed"), "v1"); /* names are lower-cased */
    next_frame(b, &f);
    assert_int_equal(f.type, STREAM_SPDY_DATA);
    assert_int_equal(f.stream_id, 3);
    assert_int_equal(f.len, 5);
    assert_memory_equal(f.data, "hello", 5);
    assert_int_equal(f.flags, STREAM_SPDY_FLAG_FIN);
    next_frame(b, &f);
    assert_true(f.type == STREAM_SPDY_RST_STREAM && f.stream_id == 5 && f.value == 3);
    next_frame(b, &f);
    assert_true(f.type == STREAM_SPDY_PING && f.value == 7);
    next_frame(b, &f);
    assert_true(f.type == STREAM_SPDY_GOAWAY && f.stream_id == 9);
    next_frame(b, &f);
    assert_true(f.type == STREAM_SPDY_WINDOW_UPDATE && f.stream_id == 11 && f.value == 65536);
    next_frame(b, &f);
    assert_true(f.type == STREAM_SPDY_SETTINGS && f.len == 8);
    assert_int_equal(stream_spdy_next(b, &f, &err), 0);
    util_buf_free(&out);
    stream_spdy_free(a);
    stream_spdy_free(b);
}

static void spdy_decodes_byte_by_byte(void **state)
{
    (void)state;
    stream_spdy_t *a = stream_spdy_new(), *b = stream_spdy_new();
    util_buf_t out = {0};
    client_syn(a, &out, 1, "stdin", NULL, NULL);
    stream_spdy_put_data(&out, 1, "abc", 3, false);
    util_error_t err = NULL;
    stream_spdy_frame_t f;
    int frames = 0;
    for (size_t i = 0; i < out.len; i++) {
        assert_int_equal(stream_spdy_feed(b, out.data + i, 1), 0);
        int r;
        while ((r = stream_spdy_next(b, &f, &err)) > 0)
            frames++;
        assert_int_equal(r, 0);
    }
    assert_int_equal(frames, 2);
    assert_true(f.type == STREAM_SPDY_DATA && f.len == 3);
    util_buf_free(&out);
    stream_spdy_free(a);
    stream_spdy_free(b);
}

static void spdy_hostile_input_is_rejected(void **state)
{
    (void)state;
    /* a DATA frame announcing 16 MiB */
    assert_true(spdy_error("\0\0\0\x01\0\xff\xff\xff", 8) < 0);
    /* SPDY/2 */
    assert_true(spdy_error("\x80\x02\0\x01\0\0\0\x0a\0\0\0\x01\0\0\0\0\0\0", 18) < 0);
    /* SYN_STREAM whose header block is not zlib */
    assert_true(spdy_error("\x80\x03\0\x01\0\0\0\x0e\0\0\0\x01\0\0\0\0\0\0garb", 22) < 0);
    /* RST_STREAM too short */
    assert_true(spdy_error("\x80\x03\0\x03\0\0\0\x04\0\0\0\x01", 12) < 0);
    /* SETTINGS whose count disagrees with its length */
    assert_true(spdy_error("\x80\x03\0\x04\0\0\0\x04\0\0\0\x09", 12) < 0);
    /* unknown control frames are skipped, not errors */
    assert_int_equal(spdy_error("\x80\x03\0\x63\0\0\0\x02zz", 10), 0);
    /* a header block claiming more pairs than it holds, and one with too many pairs */
    stream_spdy_t *a = stream_spdy_new();
    util_buf_t out = {0};
    util_error_t err = NULL;
    stream_header_t many[STREAM_SPDY_MAX_HEADERS + 1];
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(many); i++)
        many[i] = (stream_header_t){"n", "v"};
    assert_int_equal(stream_spdy_put_headers(a, &out, STREAM_SPDY_HEADERS, 1, 0, many,
                                             UTIL_ARRAY_SIZE(many), &err),
                     0);
    assert_true(spdy_error(out.data, out.len) < 0);
    util_buf_free(&out);
    stream_spdy_free(a);
    /* a truncated frame is just incomplete */
    assert_int_equal(spdy_error("\x80\x03\0\x06\0\0\0\x04\0\0", 10), 0);
}

/* ---- WebSocket
 * ----------------------------------------------------------------------------------- */

static void ws_accept_key_matches_rfc6455(void **state)
{
    (void)state;
    char acc[29];
    util_error_t err = NULL;
    assert_int_equal(stream_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc, &err), 0);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_true(stream_ws_accept_key("short", acc, &err) < 0);
    assert_true(stream_ws_accept_key("!!!!!!!!!!!!!!!!!!!!!!!!", acc, &err) < 0);
    assert_true(stream_ws_accept_key(NULL, acc, &err) < 0);
    util_error_free(&err);
}

static void ws_masked_fragments_reassemble_around_pings(void **state)
{
    (void)state;
    util_buf_t in = {0};
    stream_ws_put_frame(&in, STREAM_WS_BINARY, false, "hel", 3, MASK);
    stream_ws_put_frame(&in, STREAM_WS_PING, true, "p", 1, MASK);
    stream_ws_put_frame(&in, STREAM_WS_CONT, true, "lo", 2, MASK);
    char big[70000];
    memset(big, 'x', sizeof(big));
    stream_ws_put_frame(&in, STREAM_WS_TEXT, true, big, 300, MASK);           /* 16-bit length */
    stream_ws_put_frame(&in, STREAM_WS_BINARY, true, big, sizeof(big), MASK); /* 64-bit */
    stream_ws_put_frame(&in, STREAM_WS_CLOSE, true,
                        "\x03\xe8"
                        "bye",
                        5, MASK);
    /* the client's masking is not the payload */
    assert_true(memmem(in.data, in.len, "hel", 3) == NULL);
    stream_ws_t ws;
    stream_ws_init(&ws, true);
    util_error_t err = NULL;
    stream_ws_message_t m;
    assert_int_equal(stream_ws_feed(&ws, in.data, in.len), 0);
    assert_int_equal(stream_ws_next(&ws, &m, &err), 1);
    assert_true(m.opcode == STREAM_WS_PING && m.len == 1 && m.data[0] == 'p');
    assert_int_equal(stream_ws_next(&ws, &m, &err), 1);
    assert_true(m.opcode == STREAM_WS_BINARY && m.len == 5);
    assert_memory_equal(m.data, "hello", 5);
    assert_int_equal(stream_ws_next(&ws, &m, &err), 1);
    assert_true(m.opcode == STREAM_WS_TEXT && m.len == 300);
    assert_int_equal(stream_ws_next(&ws, &m, &err), 1);
    assert_true(m.opcode == STREAM_WS_BINARY && m.len == sizeof(big));
    assert_int_equal(stream_ws_next(&ws, &m, &err), 1);
    assert_true(m.opcode == STREAM_WS_CLOSE && m.close_code == 1000 && m.len == 5);
    assert_int_equal(stream_ws_next(&ws, &m, &err), 0);
    stream_ws_free(&ws);
    util_buf_free(&in);
}

static void ws_server_frames_are_unmasked(void **state)
{
    (void)state;
    util_buf_t out = {0};
    stream_ws_put_frame(&out, STREAM_WS_BINARY, true, "\x01hi", 3, NULL);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "\x82\x03\x01hi", 5);
    /* and a client parser reads them */
    stream_ws_t ws;
    stream_ws_init(&ws, false);
    util_error_t err = NULL;
    stream_ws_message_t m;
    stream_ws_feed(&ws, out.data, out.len);
    assert_int_equal(stream_ws_next(&ws, &m, &err), 1);
    assert_int_equal(m.len, 3);
    stream_ws_free(&ws);
    util_buf_free(&out);
}

static void ws_hostile_input_is_rejected(void **state)
{
    (void)state;
    assert_true(ws_error("\x82\x01x", 3) < 0);                           /* unmasked */
    assert_true(ws_error("\xc2\x81\0\0\0\0x", 7) < 0);                   /* RSV1 set */
    assert_true(ws_error("\x83\x81\0\0\0\0x", 7) < 0);                   /* opcode 3 */
    assert_true(ws_error("\x80\x81\0\0\0\0x", 7) < 0);                   /* stray continuation */
    assert_true(ws_error("\x09\x81\0\0\0\0x", 7) < 0);                   /* fragmented ping */
    assert_true(ws_error("\x89\xfe\0\x7e\0\0\0\0", 8) < 0);              /* ping > 125 bytes */
    assert_true(ws_error("\x88\x81\0\0\0\0x", 7) < 0);                   /* 1-byte close */
    assert_true(ws_error("\x02\x81\0\0\0\0x\x82\x81\0\0\0\0y", 14) < 0); /* message inside one */
    assert_true(ws_error("\x82\xff\0\0\0\0\x7f\0\0\0\0\0\0\0", 14) < 0); /* 2^63 length */
    assert_int_equal(ws_error("\x82\xfe\x01", 3), 0);                    /* truncated: wait */
}

/* ---- sessions ------------------------------------------------------------------------------ */

static stream_request_t spdy_req(const char *protocols)
{
    return (stream_request_t){.method = "POST",
                              .upgrade = "SPDY/3.1",
                              .connection = "Upgrade",
                              .stream_protocol = protocols};
}

static stream_request_t ws_req(const char *protocol)
{
    return (stream_request_t){.method = "GET",
                              .upgrade = "websocket",
                              .connection = "Upgrade",
                              .ws_key = "dGhlIHNhbXBsZSBub25jZQ==",
                              .ws_version = "13",
                              .ws_protocol = protocol};
}

static int next_event(stream_session_t *s, stream_event_t *ev, util_buf_t *out)
{
    util_error_t err = NULL;
    int r = stream_session_next(s, ev, out, &err);
    if (r < 0)
        fail_msg("session: %s", err->msg);
    return r;
}

static void exec_over_spdy_like_kubectl_127(void **state)
{
    (void)state;
    stream_exec_opts_t o = {.in = true, .out = true, .err = true};
    util_buf_t resp = {0}, in = {0}, out = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t req = spdy_req("v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io");
    stream_session_t *s = stream_exec_accept(&req, &o, &resp, &status, &err);
    assert_non_null(s);
    assert_non_null(strstr(resp.data, "101 Switching Protocols"));
    assert_non_null(strstr(resp.data, "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"));
    stream_spdy_t *client = stream_spdy_new(), *reader = stream_spdy_new();
    client_syn(client, &in, 1, "error", NULL, NULL);
    client_syn(client, &in, 3, "stdin", NULL, NULL);
    client_syn(client, &in, 5, "stdout", NULL, NULL);
    client_syn(client, &in, 7, "stderr", NULL, NULL);
    stream_spdy_put_data(&in, 3, "input", 5, true);
    stream_spdy_put_ping(&in, 1);
    assert_int_equal(stream_session_feed(s, in.data, in.len), 0);
    stream_event_t ev;
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_int_equal(ev.type, STREAM_EV_READY);
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_true(ev.type == STREAM_EV_DATA && ev.len == 5);
    assert_memory_equal(ev.data, "input", 5);
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_int_equal(ev.type, STREAM_EV_EOF);
    assert_int_equal(next_event(s, &ev, &out), 0);
    stream_exec_write(s, STREAM_CH_STDOUT, "out", 3, &out);
    stream_exec_finish(s, 3, NULL, &out);
    /* four SYN_REPLYs, a pong, stdout data, FINs, then the Status on the error stream */
    stream_spdy_feed(reader, out.data, out.len);
    stream_spdy_frame_t f;
    for (int i = 0; i < 4; i++) {
        next_frame(reader, &f);
        assert_int_equal(f.type, STREAM_SPDY_SYN_REPLY);
    }
    next_frame(reader, &f);
    assert_true(f.type == STREAM_SPDY_PING && f.value == 1);
    next_frame(reader, &f);
    assert_true(f.type == STREAM_SPDY_DATA && f.stream_id == 5 && f.len == 3);
    next_frame(reader, &f);
    assert_true(f.stream_id == 5 && (f.flags & STREAM_SPDY_FLAG_FIN) && f.len == 0);
    next_frame(reader, &f);
    assert_true(f.stream_id == 7 && (f.flags & STREAM_SPDY_FLAG_FIN));
    next_frame(reader, &f);
    assert_true(f.stream_id == 1 && (f.flags & STREAM_SPDY_FLAG_FIN));
    assert_non_null(memmem(f.data, f.len, "\"reason\":\"NonZeroExitCode\"", 26));
    assert_non_null(memmem(f.data, f.len, "{\"reason\":\"ExitCode\",\"message\":\"3\"}", 35));
    stream_session_free(s);
    stream_spdy_free(client);
    stream_spdy_free(reader);
    util_buf_free(&resp);
    util_buf_free(&in);
    util_buf_free(&out);
}

static void exec_over_websocket_v5_with_resize_and_close(void **state)
{
    (void)state;
    stream_exec_opts_t o = {.in = true, .out = true, .tty = true};
    util_buf_t resp = {0}, in = {0}, out = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t req = ws_req("v5.channel.k8s.io, v4.channel.k8s.io");
    stream_session_t *s = stream_exec_accept(&req, &o, &resp, &status, &err);
    assert_non_null(s);
    assert_non_null(strstr(resp.data, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(resp.data, "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n"));
    stream_ws_put_frame(&in, STREAM_WS_BINARY, true, "\0ls\n", 4, MASK);
    stream_ws_put_frame(&in, STREAM_WS_BINARY, true, "\x04{\"Width\":80,", 13, MASK);
    stream_ws_put_frame(&in, STREAM_WS_BINARY, true, "\x04\"Height\":24}\n", 14, MASK);
    stream_ws_put_frame(&in, STREAM_WS_BINARY, true, "\xff\0", 2, MASK);
    stream_session_feed(s, in.data, in.len);
    stream_event_t ev;
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_int_equal(ev.type, STREAM_EV_READY);
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_true(ev.type == STREAM_EV_DATA && ev.len == 3);
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_true(ev.type == STREAM_EV_RESIZE && ev.width == 80 && ev.height == 24);
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_int_equal(ev.type, STREAM_EV_EOF);
    stream_exec_write(s, STREAM_CH_STDOUT, "x", 1, &out);
    stream_exec_finish(s, 0, NULL, &out);
    stream_ws_t client;
    stream_ws_init(&client, false);
    stream_ws_message_t m;
    stream_ws_feed(&client, out.data, out.len);
    assert_int_equal(stream_ws_next(&client, &m, &err), 1);
    assert_true(m.len == 2 && m.data[0] == 1 && m.data[1] == 'x');
    assert_int_equal(stream_ws_next(&client, &m, &err), 1);
    assert_int_equal(m.data[0], 3);
    assert_memory_equal(m.data + 1, "{\"metadata\":{},\"status\":\"Success\"}", m.len - 1);
    assert_int_equal(stream_ws_next(&client, &m, &err), 1);
    assert_true(m.opcode == STREAM_WS_CLOSE && m.close_code == 1000);
    stream_ws_free(&client);
    stream_session_free(s);
    util_buf_free(&resp);
    util_buf_free(&in);
    util_buf_free(&out);
}

static void exec_base64_channel_protocol(void **state)
{
    (void)state;
    stream_exec_opts_t o = {.in = true, .out = true};
    util_buf_t resp = {0}, in = {0}, out = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t req = ws_req("v4.base64.channel.k8s.io");
    stream_session_t *s = stream_exec_accept(&req, &o, &resp, &status, &err);
    assert_non_null(s);
    stream_ws_put_frame(&in, STREAM_WS_TEXT, true, "0aGk=", 5, MASK); /* "hi" on stdin */
    stream_session_feed(s, in.data, in.len);
    stream_event_t ev;
    assert_int_equal(next_event(s, &ev, &out), 1); /* READY */
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_true(ev.type == STREAM_EV_DATA && ev.len == 2 && !memcmp(ev.data, "hi", 2));
    stream_exec_write(s, STREAM_CH_STDOUT, "hi", 2, &out);
    assert_memory_equal(out.data,
                        "\x81\x05"
                        "1aGk=",
                        7);
    stream_session_free(s);
    util_buf_free(&resp);
    util_buf_free(&in);
    util_buf_free(&out);
}

static void negotiation_failures_answer_like_upstream(void **state)
{
    (void)state;
    stream_exec_opts_t o = {.out = true};
    util_buf_t resp = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t plain = {.method = "POST"};
    assert_null(stream_exec_accept(&plain, &o, &resp, &status, &err));
    assert_int_equal(status, 400);
    stream_request_t old = spdy_req("v1.channel.k8s.io");
    assert_null(stream_exec_accept(&old, &o, &resp, &status, &err));
    assert_int_equal(status, 403);
    assert_non_null(strstr(err->msg, "unable to negotiate protocol"));
    stream_request_t ws = ws_req("nope.k8s.io");
    assert_null(stream_exec_accept(&ws, &o, &resp, &status, &err));
    assert_int_equal(status, 400);
    stream_request_t badkey = ws_req("v4.channel.k8s.io");
    badkey.ws_key = "x";
    assert_null(stream_exec_accept(&badkey, &o, &resp, &status, &err));
    stream_exec_opts_t none = {0};
    stream_request_t good = spdy_req("v4.channel.k8s.io");
    assert_null(stream_exec_accept(&good, &none, &resp, &status, &err));
    assert_non_null(strstr(err->msg, "at least 1 of stdin, stdout, stderr"));
    assert_null(stream_portforward_accept(&old, &resp, &status, &err));
    assert_int_equal(resp.len, 0);
    util_error_free(&err);
}

static void portforward_tunnelled_in_websocket(void **state)
{
    (void)state;
    util_buf_t resp = {0}, spdy = {0}, in = {0}, out = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t req = ws_req("SPDY/3.1+portforward.k8s.io");
    stream_session_t *s = stream_portforward_accept(&req, &resp, &status, &err);
    assert_non_null(s);
    assert_int_equal(stream_session_transport(s), STREAM_TRANSPORT_WS_SPDY);
    stream_spdy_t *client = stream_spdy_new(), *reader = stream_spdy_new();
    client_syn(client, &spdy, 1, "error", "8080", "0");
    client_syn(client, &spdy, 3, "data", "8080", "0");
    stream_spdy_put_data(&spdy, 3, "GET /", 5, true);
    /* SPDY frames split at arbitrary points across WebSocket messages */
    for (size_t off = 0; off < spdy.len; off += 7) {
        size_t n = spdy.len - off < 7 ? spdy.len - off : 7;
        stream_ws_put_frame(&in, STREAM_WS_BINARY, true, spdy.data + off, n, MASK);
    }
    stream_session_feed(s, in.data, in.len);
    stream_event_t ev;
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_true(ev.type == STREAM_EV_READY && ev.port == 8080 && ev.pair == 3);
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_true(ev.type == STREAM_EV_DATA && ev.len == 5 && ev.pair == 3);
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_true(ev.type == STREAM_EV_EOF && ev.pair == 3);
    stream_portforward_write(s, 3, "200", 3, &out);
    stream_portforward_close(s, 3, &out);
    /* unwrap the server's messages and read the SPDY frames */
    stream_ws_t cws;
    stream_ws_init(&cws, false);
    stream_ws_message_t m;
    stream_ws_feed(&cws, out.data, out.len);
    while (stream_ws_next(&cws, &m, &err) == 1) {
        assert_int_equal(m.opcode, STREAM_WS_BINARY);
        stream_spdy_feed(reader, m.data, m.len);
    }
    stream_spdy_frame_t f;
    next_frame(reader, &f);
    assert_true(f.type == STREAM_SPDY_SYN_REPLY && f.stream_id == 1);
    next_frame(reader, &f);
    assert_true(f.type == STREAM_SPDY_SYN_REPLY && f.stream_id == 3);
    next_frame(reader, &f);
    assert_true(f.type == STREAM_SPDY_DATA && f.stream_id == 3 && f.len == 3);
    next_frame(reader, &f);
    assert_true(f.stream_id == 3 && (f.flags & STREAM_SPDY_FLAG_FIN));
    next_frame(reader, &f);
    assert_true(f.stream_id == 1 && (f.flags & STREAM_SPDY_FLAG_FIN));
    stream_ws_free(&cws);
    stream_session_free(s);
    stream_spdy_free(client);
    stream_spdy_free(reader);
    util_buf_free(&resp);
    util_buf_free(&spdy);
    util_buf_free(&in);
    util_buf_free(&out);
}

static void portforward_bad_streams_are_refused(void **state)
{
    (void)state;
    util_buf_t resp = {0}, in = {0}, out = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t req = spdy_req("portforward.k8s.io");
    stream_session_t *s = stream_portforward_accept(&req, &resp, &status, &err);
    assert_non_null(s);
    assert_non_null(strstr(resp.data, "X-Stream-Protocol-Version: portforward.k8s.io\r\n"));
    stream_spdy_t *client = stream_spdy_new(), *reader = stream_spdy_new();
    client_syn(client, &in, 1, "data", "0", "1");   /* port 0 */
    client_syn(client, &in, 3, "bogus", "80", "2"); /* unknown type */
    client_syn(client, &in, 5, "data", "80", "3");
    client_syn(client, &in, 7, "data", "80", "3"); /* a second data stream for one pair */
    stream_session_feed(s, in.data, in.len);
    stream_event_t ev;
    assert_int_equal(next_event(s, &ev, &out), 0); /* no pair completed */
    stream_spdy_feed(reader, out.data, out.len);
    stream_spdy_frame_t f;
    int rst = 0;
    while (stream_spdy_next(reader, &f, &err) == 1)
        rst += f.type == STREAM_SPDY_RST_STREAM;
    assert_int_equal(rst, 3);
    stream_session_free(s);
    stream_spdy_free(client);
    stream_spdy_free(reader);
    util_buf_free(&resp);
    util_buf_free(&in);
    util_buf_free(&out);
}

/* An error on a pair goes out on its error stream and ends both streams: kubectl reports the
 * error once the data stream is done. */
static void portforward_error_ends_the_pair(void **state)
{
    (void)state;
    util_buf_t resp = {0}, in = {0}, out = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t req = spdy_req("portforward.k8s.io");
    stream_session_t *s = stream_portforward_accept(&req, &resp, &status, &err);
    assert_non_null(s);
    stream_spdy_t *client = stream_spdy_new(), *reader = stream_spdy_new();
    client_syn(client, &in, 1, "error", "9", "0");
    client_syn(client, &in, 3, "data", "9", "0");
    stream_session_feed(s, in.data, in.len);
    stream_event_t ev;
    assert_int_equal(next_event(s, &ev, &out), 1);
    assert_int_equal(ev.type, STREAM_EV_READY);
    assert_int_equal(ev.port, 9);
    stream_portforward_error(s, ev.pair, "connect: connection refused", &out);
    stream_spdy_feed(reader, out.data, out.len);
    stream_spdy_frame_t f;
    bool error_sent = false, data_fin = false;
    while (stream_spdy_next(reader, &f, &err) == 1) {
        if (f.type == STREAM_SPDY_DATA && f.stream_id == 1 && (f.flags & STREAM_SPDY_FLAG_FIN))
            error_sent = f.len == 27 && !memcmp(f.data, "connect: connection refused", 27);
        if (f.type == STREAM_SPDY_DATA && f.stream_id == 3)
            data_fin = f.len == 0 && (f.flags & STREAM_SPDY_FLAG_FIN);
    }
    assert_true(error_sent);
    assert_true(data_fin);
    stream_session_free(s);
    stream_spdy_free(client);
    stream_spdy_free(reader);
    util_buf_free(&resp);
    util_buf_free(&in);
    util_buf_free(&out);
}

static void status_json_is_upstreams(void **state)
{
    (void)state;
    util_buf_t b = {0};
    stream_exec_status_json(&b, 0, NULL);
    assert_string_equal(b.data, "{\"metadata\":{},\"status\":\"Success\"}");
    util_buf_reset(&b);
    stream_exec_status_json(&b, 42, NULL);
    assert_string_equal(b.data,
                        "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated "
                        "with non-zero exit code: exit status 42\",\"reason\":\"NonZeroExitCode\","
                        "\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"42\"}]}}");
    util_buf_reset(&b);
    stream_exec_status_json(&b, 0, "exec \"x\": not found");
    assert_non_null(strstr(b.data, "\"reason\":\"InternalError\""));
    assert_non_null(strstr(b.data, "exec \\\"x\\\": not found"));
    util_buf_free(&b);
}

/* A session buffers about one frame: callers must drain between feeds. */
static void session_input_is_bounded(void **state)
{
    (void)state;
    stream_exec_opts_t o = {.in = true, .out = true};
    util_buf_t resp = {0}, in = {0}, out = {0};
    int status = 0;
    util_error_t err = NULL;
    stream_request_t req = spdy_req("v4.channel.k8s.io");
    stream_session_t *s = stream_exec_accept(&req, &o, &resp, &status, &err);
    assert_non_null(s);
    stream_spdy_t *client = stream_spdy_new();
    client_syn(client, &in, 1, "error", NULL, NULL);
    client_syn(client, &in, 3, "stdin", NULL, NULL);
    client_syn(client, &in, 5, "stdout", NULL, NULL);
    static char chunk[32768];
    size_t sent = 0, got = 0;
    for (int i = 0; i < 64; i++) /* 2 MiB of stdin */
        stream_spdy_put_data(&in, 3, chunk, sizeof(chunk), false);
    /* all at once overflows */
    assert_int_equal(stream_session_feed(s, in.data, in.len), -EMSGSIZE);
    stream_session_free(s);
    s = stream_exec_accept(&req, &o, &resp, &status, &err);
    /* interleaved, everything arrives */
    stream_event_t ev;
    for (size_t off = 0; off < in.len; off += 16384) {
        size_t n = in.len - off < 16384 ? in.len - off : 16384;
        assert_int_equal(stream_session_feed(s, in.data + off, n), 0);
        sent += n;
        while (next_event(s, &ev, &out) > 0)
            if (ev.type == STREAM_EV_DATA)
                got += ev.len;
    }
    assert_int_equal(sent, in.len);
    assert_int_equal(got, 64 * sizeof(chunk));
    stream_session_free(s);
    stream_spdy_free(client);
    util_buf_free(&resp);
    util_buf_free(&in);
    util_buf_free(&out);
}

/* Random bytes into every parser and session: errors are fine, crashes and leaks are not. */
static void random_input_never_crashes(void **state)
{
    (void)state;
    unsigned seed = 12345;
    uint8_t buf[512];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(seed % sizeof(buf));
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (uint8_t)(seed >> 16);
        }
        if (n > 0 && round % 2)
            buf[0] = 0x80, buf[1] = 0x03; /* look like SPDY control frames */
        spdy_error(buf, n);
        ws_error(buf, n);
        stream_exec_opts_t o = {.in = true, .out = true, .tty = round % 3 == 0};
        util_buf_t resp = {0}, out = {0};
        int status;
        util_error_t err = NULL;
        stream_request_t req =
            round % 2 ? spdy_req("v4.channel.k8s.io") : ws_req("v5.channel.k8s.io");
        stream_session_t *s = round % 4 == 3 ? stream_portforward_accept(&req, &resp, &status, &err)
                                             : stream_exec_accept(&req, &o, &resp, &status, &err);
        if (s) {
            stream_event_t ev;
            stream_session_feed(s, buf, n);
            int guard = 0;
            while (stream_session_next(s, &ev, &out, &err) > 0 && guard++ < 1000)
                ;
            stream_session_free(s);
        }
        util_error_free(&err);
        util_buf_free(&resp);
        util_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spdy_dictionary_is_the_spdy3_one),
        cmocka_unit_test(spdy_frames_round_trip),
        cmocka_unit_test(spdy_decodes_byte_by_byte),
        cmocka_unit_test(spdy_hostile_input_is_rejected),
        cmocka_unit_test(ws_accept_key_matches_rfc6455),
        cmocka_unit_test(ws_masked_fragments_reassemble_around_pings),
        cmocka_unit_test(ws_server_frames_are_unmasked),
        cmocka_unit_test(ws_hostile_input_is_rejected),
        cmocka_unit_test(exec_over_spdy_like_kubectl_127),
        cmocka_unit_test(exec_over_websocket_v5_with_resize_and_close),
        cmocka_unit_test(exec_base64_channel_protocol),
        cmocka_unit_test(negotiation_failures_answer_like_upstream),
        cmocka_unit_test(portforward_tunnelled_in_websocket),
        cmocka_unit_test(portforward_bad_streams_are_refused),
        cmocka_unit_test(portforward_error_ends_the_pair),
        cmocka_unit_test(status_json_is_upstreams),
        cmocka_unit_test(session_input_is_bounded),
        cmocka_unit_test(random_input_never_crashes),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
