/* stream_ws: RFC 6455 WebSocket framing (masking, fragmentation, control frames) and the
 * handshake's Sec-WebSocket-Accept. */
#include "stream/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void stream_ws_init(stream_ws_t *ws, bool server)
{
    memset(ws, 0, sizeof(*ws));
    ws->server = server;
}

void stream_ws_free(stream_ws_t *ws)
{
    util_buf_free(&ws->in);
    util_buf_free(&ws->msg);
    util_buf_free(&ws->ctl);
}

int stream_ws_feed(stream_ws_t *ws, const void *data, size_t len)
{
    if (ws->in.len - ws->in_off + len > STREAM_WS_MAX_MESSAGE + 64)
        return -EMSGSIZE;
    if (ws->in_off == ws->in.len) {
        ws->in.len = 0;
        ws->in_off = 0;
    } else if (ws->in_off > (1u << 16)) {
        memmove(ws->in.data, ws->in.data + ws->in_off, ws->in.len - ws->in_off);
        ws->in.len -= ws->in_off;
        ws->in_off = 0;
    }
    util_buf_append(&ws->in, data, len);
    return 0;
}

/* The frame header at p (avail bytes): 0 if incomplete, else its length; payload length and
 * mask through the out parameters. */
static size_t frame_header(const uint8_t *p, size_t avail, uint64_t *ret_len,
                           const uint8_t **ret_mask)
{
    if (avail < 2)
        return 0;
    size_t h = 2;
    uint64_t len = p[1] & 0x7f;
    if (len == 126) {
        if (avail < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (len == 127) {
        if (avail < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        h = 10;
    }
    *ret_mask = NULL;
    if (p[1] & 0x80) {
        if (avail < h + 4)
            return 0;
        *ret_mask = p + h;
        h += 4;
    }
    *ret_len = len;
    return h;
}

static int check_frame(stream_ws_t *ws, uint8_t b0, uint64_t len, bool masked, util_error_t *err)
{
    int op = b0 & 0x0f;
    bool fin = b0 & 0x80;
    if (b0 & 0x70)
        return util_error_make(err, EPROTO, "websocket: reserved bits set");
    if (masked != ws->server)
        return util_error_make(err, EPROTO, "websocket: frame %s masked", masked ? "is" : "not");
    if (op >= STREAM_WS_CLOSE) {
        if (op > STREAM_WS_PONG)
            return util_error_make(err, EPROTO, "websocket: unknown opcode %d", op);
        if (!fin || len > 125)
            return util_error_make(err, EPROTO, "websocket: bad control frame");
        return 0;
    }
    if (op > STREAM_WS_BINARY)
        return util_error_make(err, EPROTO, "websocket: unknown opcode %d", op);
    if (op == STREAM_WS_CONT && !ws->msg_opcode)
        return util_error_make(err, EPROTO, "websocket: continuation without a message");
    if (op != STREAM_WS_CONT && ws->msg_opcode)
        return util_error_make(err, EPROTO, "websocket: new message inside a fragmented one");
    if (len > STREAM_WS_MAX_MESSAGE || ws->msg.len + len > STREAM_WS_MAX_MESSAGE)
        return util_error_make(err, EMSGSIZE, "websocket: message too large");
    return 0;
}

static void unmask_into(util_buf_t *b, const uint8_t *p, size_t len, const uint8_t *mask)
{
    util_buf_reserve(b, len);
    uint8_t *d = (uint8_t *)b->data + b->len;
    for (size_t i = 0; i < len; i++)
        d[i] = mask ? p[i] ^ mask[i & 3] : p[i];
    b->len += len;
    b->data[b->len] = '\0';
}

static int control_message(stream_ws_t *ws, int op, stream_ws_message_t *m, util_error_t *err)
{
    *m = (stream_ws_message_t){.opcode = (stream_ws_opcode_t)op,
                               .data = (const uint8_t *)ws->ctl.data,
                               .len = ws->ctl.len};
    if (op == STREAM_WS_CLOSE) {
        if (ws->ctl.len == 1)
            return util_error_make(err, EPROTO, "websocket: truncated close code");
        m->close_code = ws->ctl.len >= 2
                            ? (uint16_t)((uint8_t)ws->ctl.data[0] << 8 | (uint8_t)ws->ctl.data[1])
                            : 1005;
        ws->close_seen = true;
    }
    return 1;
}

int stream_ws_next(stream_ws_t *ws, stream_ws_message_t *m, util_error_t *err)
{
    for (;;) {
        if (ws->close_seen)
            return 0; /* nothing follows a close frame */
        const uint8_t *p = (const uint8_t *)ws->in.data + ws->in_off;
        size_t avail = ws->in.len - ws->in_off;
        uint64_t len;
        const uint8_t *mask;
        size_t h = frame_header(p, avail, &len, &mask);
        if (h == 0)
            return 0;
        int r = check_frame(ws, p[0], len, mask != NULL, err);
        if (r < 0)
            return r;
        if (avail - h < len)
            return 0;
        int op = p[0] & 0x0f;
        bool fin = p[0] & 0x80;
        ws->in_off += h + (size_t)len;
        if (op >= STREAM_WS_CLOSE) {
            util_buf_reset(&ws->ctl);
            unmask_into(&ws->ctl, p + h, (size_t)len, mask);
            return control_message(ws, op, m, err);
        }
        if (op != STREAM_WS_CONT) {
            util_buf_reset(&ws->msg);
            ws->msg_opcode = op;
        }
        unmask_into(&ws->msg, p + h, (size_t)len, mask);
        if (!fin)
            continue;
        *m = (stream_ws_message_t){.opcode = (stream_ws_opcode_t)ws->msg_opcode,
                                   .data = (const uint8_t *)ws->msg.data,
                                   .len = ws->msg.len};
        ws->msg_opcode = 0;
        return 1;
    }
}

void stream_ws_put_frame(util_buf_t *out, stream_ws_opcode_t op, bool fin, const void *data,
                         size_t len, const uint8_t *mask)
{
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        h[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xffff) {
        h[n++] = mbit | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(h + n, mask, 4);
        n += 4;
    }
    util_buf_append(out, h, n);
    unmask_into(out, data, len, mask); /* masking and unmasking are the same XOR */
}

void stream_ws_put_close(util_buf_t *out, uint16_t code, const char *reason)
{
    uint8_t b[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof(b) - 2)
        rl = sizeof(b) - 2;
    b[0] = (uint8_t)(code >> 8);
    b[1] = (uint8_t)code;
    if (rl)
        memcpy(b + 2, reason, rl);
    stream_ws_put_frame(out, STREAM_WS_CLOSE, true, b, rl + 2, NULL);
}

int stream_ws_accept_key(const char *key, char ret[29], util_error_t *err)
{
    unsigned char nonce[32], digest[20];
    size_t n = 0;
    size_t kl = key ? strlen(key) : 0;
    if (kl != 24 ||
        mbedtls_base64_decode(nonce, sizeof(nonce), &n, (const unsigned char *)key, kl) != 0 ||
        n != 16)
        return util_error_make(err, EINVAL, "invalid Sec-WebSocket-Key");
    char buf[24 + sizeof(WS_GUID)];
    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
    if (mbedtls_sha1((const unsigned char *)buf, 24 + sizeof(WS_GUID) - 1, digest) != 0)
        return util_error_make(err, EIO, "sha1 failed");
    size_t olen = 0;
    if (mbedtls_base64_encode((unsigned char *)ret, 29, &olen, digest, sizeof(digest)) != 0)
        return util_error_make(err, EIO, "base64 failed");
    return 0;
}
