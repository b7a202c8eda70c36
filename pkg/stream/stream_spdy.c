/* stream_spdy: SPDY/3.1 frame decoding and encoding, header blocks compressed with zlib and
 * the SPDY/3 dictionary (draft-mbelshe-httpbis-spdy-00 section 2.6.10.1). */
#include "stream/stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SPDY_VERSION 3
#define HEADER_LEN   8

struct stream_spdy {
    util_buf_t in;
    size_t in_off;
    z_stream inflate, deflate;
    bool inflate_ok, deflate_ok;
    util_buf_t block; /* the last decompressed header block */
    stream_header_t headers[STREAM_SPDY_MAX_HEADERS];
    size_t nheaders;
};

/* ---- the dictionary ----------------------------------------------------------------------- */

/* The dictionary is a list of length-prefixed header words followed by raw text; built once
 * from these two parts. */
static const char *const dict_words[] = {"options",
                                         "head",
                                         "post",
                                         "put",
                                         "delete",
                                         "trace",
                                         "accept",
                                         "accept-charset",
                                         "accept-encoding",
                                         "accept-language",
                                         "accept-ranges",
                                         "age",
                                         "allow",
                                         "authorization",
                                         "cache-control",
                                         "connection",
                                         "content-base",
                                         "content-encoding",
                                         "content-language",
                                         "content-length",
                                         "content-location",
                                         "content-md5",
                                         "content-range",
                                         "content-type",
                                         "date",
                                         "etag",
                                         "expect",
                                         "expires",
                                         "from",
                                         "host",
                                         "if-match",
                                         "if-modified-since",
                                         "if-none-match",
                                         "if-range",
                                         "if-unmodified-since",
                                         "last-modified",
                                         "location",
                                         "max-forwards",
                                         "pragma",
                                         "proxy-authenticate",
                                         "proxy-authorization",
                                         "range",
                                         "referer",
                                         "retry-after",
                                         "server",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade",
                                         "user-agent",
                                         "vary",
                                         "via",
                                         "warning",
                                         "www-authenticate",
                                         "method",
                                         "get",
                                         "status",
                                         "200 OK",
                                         "version",
                                         "HTTP/1.1",
                                         "url",
                                         "public",
                                         "set-cookie",
                                         "keep-alive",
                                         "origin"};

static const char dict_tail[] =
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information"
    "204 No Content"
    "301 Moved Permanently"
    "400 Bad Request"
    "401 Unauthorized"
    "403 Forbidden"
    "404 Not Found"
    "500 Internal Server Error"
    "501 Not Implemented"
    "503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec"
    " 00:00:00"
    " Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,"
    "text/plain,text/javascript,public"
    "privatemax-age=gzip,deflate,sdch"
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static unsigned char dict[1536];
static size_t dict_len;

static pthread_once_t dict_once = PTHREAD_ONCE_INIT; /* the kubelet's and apiserver's threads */

static void dict_build(void)
{
    size_t n = 0;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(dict_words); i++) {
        size_t l = strlen(dict_words[i]);
        dict[n++] = 0;
        dict[n++] = 0;
        dict[n++] = 0;
        dict[n++] = (unsigned char)l;
        memcpy(dict + n, dict_words[i], l);
        n += l;
    }
    memcpy(dict + n, dict_tail, sizeof(dict_tail) - 1);
    dict_len = n + sizeof(dict_tail) - 1;
}

const unsigned char *stream_spdy_dictionary(size_t *ret_len)
{
    pthread_once(&dict_once, dict_build);
    *ret_len = dict_len;
    return dict;
}

static void headers_clear(stream_spdy_t *s);

/* ---- lifecycle ---------------------------------------------------------------------------- */

stream_spdy_t *stream_spdy_new(void)
{
    dict_build();
    stream_spdy_t *s = util_xcalloc(1, sizeof(*s));
    if (inflateInit(&s->inflate) == Z_OK)
        s->inflate_ok = true;
    if (deflateInit(&s->deflate, Z_DEFAULT_COMPRESSION) == Z_OK &&
        deflateSetDictionary(&s->deflate, dict, (uInt)dict_len) == Z_OK)
        s->deflate_ok = true;
    return s;
}

stream_spdy_t *stream_spdy_free(stream_spdy_t *s)
{
    if (!s)
        return NULL;
    if (s->inflate_ok)
        inflateEnd(&s->inflate);
    if (s->deflate_ok)
        deflateEnd(&s->deflate);
    headers_clear(s);
    util_buf_free(&s->in);
    util_buf_free(&s->block);
    free(s);
    return NULL;
}

int stream_spdy_feed(stream_spdy_t *s, const void *data, size_t len)
{
    if (s->in.len - s->in_off + len > STREAM_SPDY_MAX_FRAME + HEADER_LEN + (64u << 10))
        return -EMSGSIZE;
    if (s->in_off == s->in.len) {
        s->in.len = 0;
        s->in_off = 0;
    } else if (s->in_off > (1u << 16)) {
        memmove(s->in.data, s->in.data + s->in_off, s->in.len - s->in_off);
        s->in.len -= s->in_off;
        s->in_off = 0;
    }
    util_buf_append(&s->in, data, len);
    return 0;
}

/* ---- decoding ----------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Inflates one header block (continuing the connection's zlib stream). */
static int inflate_block(stream_spdy_t *s, const uint8_t *p, size_t len, util_error_t *err)
{
    if (!s->inflate_ok)
        return util_error_make(err, ENOMEM, "zlib unavailable");
    util_buf_reset(&s->block);
    s->inflate.next_in = (Bytef *)p;
    s->inflate.avail_in = (uInt)len;
    for (;;) {
        util_buf_reserve(&s->block, 4096);
        size_t room = s->block.cap - s->block.len - 1;
        s->inflate.next_out = (Bytef *)s->block.data + s->block.len;
        s->inflate.avail_out = (uInt)room;
        int rc = inflate(&s->inflate, Z_SYNC_FLUSH);
        if (rc == Z_NEED_DICT) {
            rc = inflateSetDictionary(&s->inflate, dict, (uInt)dict_len);
            if (rc == Z_OK)
                rc = inflate(&s->inflate, Z_SYNC_FLUSH);
        }
        s->block.len += room - s->inflate.avail_out;
        s->block.data[s->block.len] = '\0';
        if (s->block.len > STREAM_SPDY_MAX_HEADER_SIZE)
            return util_error_make(err, EMSGSIZE, "header block too large");
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            s->inflate_ok = false; /* the zlib stream is unusable from here on */
            inflateEnd(&s->inflate);
            return util_error_make(err, EPROTO, "header block: zlib error %d", rc);
        }
        if (s->inflate.avail_out != 0)
            break;
    }
    if (s->inflate.avail_in != 0)
        return util_error_make(err, EPROTO, "header block: trailing bytes");
    return 0;
}

static char *dup_lower(const uint8_t *p, size_t n, bool lower)
{
    char *v = util_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = lower && p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] + 32) : (char)p[i];
    v[n] = '\0';
    return v;
}

static void headers_clear(stream_spdy_t *s)
{
    for (size_t i = 0; i < s->nheaders; i++) {
        free(s->headers[i].name);
        free(s->headers[i].value);
    }
    s->nheaders = 0;
}

/* Parses the decompressed name/value block: count, then (len, name, len, value) pairs. */
static int parse_block(stream_spdy_t *s, util_error_t *err)
{
    const uint8_t *p = (const uint8_t *)s->block.data;
    size_t len = s->block.len, off = 4;
    if (len < 4)
        return util_error_make(err, EPROTO, "header block truncated");
    uint32_t n = be32(p);
    if (n > STREAM_SPDY_MAX_HEADERS)
        return util_error_make(err, EMSGSIZE, "too many headers (%u)", n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t l[2];
        size_t at[2];
        for (int k = 0; k < 2; k++) {
            if (len - off < 4)
                return util_error_make(err, EPROTO, "header block truncated");
            l[k] = be32(p + off);
            off += 4;
            if (l[k] > len - off)
                return util_error_make(err, EPROTO, "header block truncated");
            at[k] = off;
            off += l[k];
        }
        if (l[0] == 0)
            return util_error_make(err, EPROTO, "empty header name");
        s->headers[s->nheaders].name = dup_lower(p + at[0], l[0], true);
        s->headers[s->nheaders].value = dup_lower(p + at[1], l[1], false);
        s->nheaders++;
    }
    return 0;
}

static int decode_control(stream_spdy_t *s, stream_spdy_frame_t *f, const uint8_t *p, size_t len,
                          util_error_t *err)
{
    size_t min = 0, skip = 0;
    switch (f->type) {
    case STREAM_SPDY_SYN_STREAM:
        min = skip = 10;
        break;
    case STREAM_SPDY_SYN_REPLY:
    case STREAM_SPDY_HEADERS:
        min = skip = 4;
        break;
    case STREAM_SPDY_RST_STREAM:
    case STREAM_SPDY_GOAWAY:
    case STREAM_SPDY_WINDOW_UPDATE:
        min = 8;
        break;
    case STREAM_SPDY_PING:
    case STREAM_SPDY_SETTINGS:
        min = 4;
        break;
    default:
        return 0;
    }
    if (len < min)
        return util_error_make(err, EPROTO, "control frame %d too short", f->type);
    if (f->type == STREAM_SPDY_PING) {
        f->value = be32(p);
        return 1;
    }
    if (f->type == STREAM_SPDY_SETTINGS) {
        if ((uint64_t)be32(p) * 8 + 4 != len)
            return util_error_make(err, EPROTO, "SETTINGS length mismatch");
        f->data = p + 4;
        f->len = len - 4;
        return 1;
    }
    f->stream_id = be32(p) & 0x7fffffffu;
    if (min == 8) {
        f->value = be32(p + 4) & (f->type == STREAM_SPDY_WINDOW_UPDATE ? 0x7fffffffu : ~0u);
        return 1;
    }
    int r = inflate_block(s, p + skip, len - skip, err);
    if (r == 0)
        r = parse_block(s, err);
    if (r < 0) {
        headers_clear(s); /* nothing half-parsed stays behind */
        return r;
    }
    f->headers = s->headers;
    f->nheaders = s->nheaders;
    return 1;
}

int stream_spdy_next(stream_spdy_t *s, stream_spdy_frame_t *f, util_error_t *err)
{
    headers_clear(s);
    for (;;) {
        size_t avail = s->in.len - s->in_off;
        if (avail < HEADER_LEN)
            return 0;
        const uint8_t *p = (const uint8_t *)s->in.data + s->in_off;
        size_t len = (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7];
        if (len > STREAM_SPDY_MAX_FRAME)
            return util_error_make(err, EMSGSIZE, "frame of %zu bytes exceeds the limit", len);
        if (avail < HEADER_LEN + len)
            return 0;
        s->in_off += HEADER_LEN + len;
        *f = (stream_spdy_frame_t){.flags = p[4]};
        if (!(p[0] & 0x80)) {
            f->type = STREAM_SPDY_DATA;
            f->stream_id = be32(p) & 0x7fffffffu;
            f->data = p + HEADER_LEN;
            f->len = len;
            return 1;
        }
        unsigned version = ((unsigned)(p[0] & 0x7f) << 8) | p[1];
        if (version != SPDY_VERSION)
            return util_error_make(err, EPROTO, "unsupported SPDY version %u", version);
        f->type = (stream_spdy_type_t)((unsigned)p[2] << 8 | p[3]);
        int r = decode_control(s, f, p + HEADER_LEN, len, err);
        if (r != 0)
            return r;
        /* unknown control frame types are ignored (spec 2.2.1) */
    }
}

/* ---- encoding ----------------------------------------------------------------------------- */

static void put32(util_buf_t *out, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    util_buf_append(out, b, 4);
}

static void put_control_head(util_buf_t *out, stream_spdy_type_t type, uint8_t flags, size_t len)
{
    put32(out, 0x80000000u | (uint32_t)SPDY_VERSION << 16 | (uint32_t)type);
    put32(out, (uint32_t)flags << 24 | (uint32_t)(len & 0xffffff));
}

void stream_spdy_put_data(util_buf_t *out, uint32_t id, const void *data, size_t len, bool fin)
{
    const uint8_t *p = data;
    do { /* split payloads larger than a frame carries */
        size_t n = len > 0xffffff ? 0xffffff : len;
        bool last = n == len;
        put32(out, id & 0x7fffffffu);
        put32(out, (uint32_t)(last && fin ? STREAM_SPDY_FLAG_FIN : 0) << 24 | (uint32_t)n);
        if (n)
            util_buf_append(out, p, n);
        p += n;
        len -= n;
    } while (len > 0);
}

static void block_append(util_buf_t *b, const char *s)
{
    size_t l = strlen(s);
    put32(b, (uint32_t)l);
    util_buf_append(b, s, l);
}

int stream_spdy_put_headers(stream_spdy_t *s, util_buf_t *out, stream_spdy_type_t type, uint32_t id,
                            uint8_t flags, const stream_header_t *h, size_t n, util_error_t *err)
{
    if (!s->deflate_ok)
        return util_error_make(err, ENOMEM, "zlib unavailable");
    util_buf_t raw = {0}, z = {0};
    put32(&raw, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        block_append(&raw, h[i].name);
        block_append(&raw, h[i].value);
    }
    s->deflate.next_in = (Bytef *)raw.data;
    s->deflate.avail_in = (uInt)raw.len;
    do {
        util_buf_reserve(&z, raw.len + 64);
        size_t room = z.cap - z.len - 1;
        s->deflate.next_out = (Bytef *)z.data + z.len;
        s->deflate.avail_out = (uInt)room;
        deflate(&s->deflate, Z_SYNC_FLUSH);
        z.len += room - s->deflate.avail_out;
    } while (s->deflate.avail_out == 0);
    size_t fixed = type == STREAM_SPDY_SYN_STREAM ? 10 : 4;
    put_control_head(out, type, flags, fixed + z.len);
    put32(out, id & 0x7fffffffu);
    if (type == STREAM_SPDY_SYN_STREAM) {
        put32(out, 0);                   /* associated stream */
        util_buf_append(out, "\0\0", 2); /* priority, slot */
    }
    util_buf_append(out, z.data, z.len);
    util_buf_free(&raw);
    util_buf_free(&z);
    return 0;
}

void stream_spdy_put_rst(util_buf_t *out, uint32_t id, uint32_t status)
{
    put_control_head(out, STREAM_SPDY_RST_STREAM, 0, 8);
    put32(out, id & 0x7fffffffu);
    put32(out, status);
}

void stream_spdy_put_ping(util_buf_t *out, uint32_t ping_id)
{
    put_control_head(out, STREAM_SPDY_PING, 0, 4);
    put32(out, ping_id);
}

void stream_spdy_put_goaway(util_buf_t *out, uint32_t last_good, uint32_t status)
{
    put_control_head(out, STREAM_SPDY_GOAWAY, 0, 8);
    put32(out, last_good & 0x7fffffffu);
    put32(out, status);
}

void stream_spdy_put_window_update(util_buf_t *out, uint32_t id, uint32_t delta)
{
    put_control_head(out, STREAM_SPDY_WINDOW_UPDATE, 0, 8);
    put32(out, id & 0x7fffffffu);
    put32(out, delta & 0x7fffffffu);
}

void stream_spdy_put_settings(util_buf_t *out, const uint32_t *ids, const uint32_t *values,
                              size_t n)
{
    put_control_head(out, STREAM_SPDY_SETTINGS, 0, 4 + 8 * n);
    put32(out, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put32(out, ids[i] & 0xffffff);
        put32(out, values[i]);
    }
}
