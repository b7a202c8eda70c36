/* images_stream: byte sources for archives and layers, hashed as read, gunzipped by magic. */
#include "images_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_INBUF (64 * 1024)

static const char hexdigits[] = "0123456789abcdef";

static void digest_hex(const unsigned char sum[32], char *ret)
{
    memcpy(ret, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        ret[7 + 2 * i] = hexdigits[sum[i] >> 4];
        ret[8 + 2 * i] = hexdigits[sum[i] & 15];
    }
    ret[IMAGES_DIGEST_LEN] = '\0';
}

void images_sha256_digest(const void *data, size_t len, char ret[IMAGES_DIGEST_LEN + 1])
{
    unsigned char sum[32];
    mbedtls_sha256(data, len, sum, 0);
    digest_hex(sum, ret);
}

bool images_digest_valid(const char *digest)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != IMAGES_DIGEST_LEN)
        return false;
    for (const char *p = digest + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Raw read from the source into buf; hashes what it returns. */
static ssize_t raw_read(images_stream_t *s, uint8_t *buf, size_t n, util_error_t *err)
{
    uint64_t left = s->len - s->pos;
    if (n > left)
        n = (size_t)left;
    if (n == 0)
        return 0;
    ssize_t r;
    if (s->fd < 0) {
        memcpy(buf, s->mem + s->pos, n);
        r = (ssize_t)n;
    } else {
        do
            r = pread(s->fd, buf, n, (off_t)(s->off + s->pos));
        while (r < 0 && errno == EINTR);
        if (r < 0)
            return util_error_make(err, errno, "read");
        if (r == 0)
            return util_error_make(err, EIO, "file shrank while being read");
    }
    if (!s->nohash)
        mbedtls_sha256_update(&s->raw_sha, buf, (size_t)r);
    s->pos += (uint64_t)r;
    if (s->progress)
        s->progress(s->progress_ud, s->progress_name, s->off + s->pos, s->progress_total);
    return r;
}

/* Compressions we can name in an error rather than failing later as "not a tar". */
static int sniff(images_stream_t *s, util_error_t *err)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *name;
    } refused[] = {
        {"\x28\xb5\x2f\xfd", 4, "zstd"},
        {"\xfd\x37\x7a\x58\x5a\x00", 6, "xz"},
        {"BZh", 3, "bzip2"},
    };
    ssize_t r = raw_read(s, s->inbuf, STREAM_INBUF, err);
    if (r < 0)
        return (int)r;
    s->in_len = (size_t)r;
    if (s->in_len >= 2 && s->inbuf[0] == 0x1f && s->inbuf[1] == 0x8b) {
        s->gzip = true;
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK)
            return util_error_make(err, ENOMEM, "gzip: cannot initialise zlib");
        s->zinit = true;
        s->zs.next_in = s->inbuf;
        s->zs.avail_in = (uInt)s->in_len;
        return 0;
    }
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(refused); i++)
        if (s->in_len >= refused[i].len && !memcmp(s->inbuf, refused[i].magic, refused[i].len))
            return util_error_make(err, ENOTSUP, "%s compression is not supported (use gzip)",
                                   refused[i].name);
    return 0;
}

int images_stream_open(images_stream_t *s, int fd, uint64_t off, uint64_t len, const uint8_t *mem,
                       uint64_t out_max, util_error_t *err)
{
    *s = (images_stream_t){.fd = fd, .off = off, .len = len, .mem = mem, .out_max = out_max};
    mbedtls_sha256_init(&s->raw_sha);
    mbedtls_sha256_init(&s->out_sha);
    mbedtls_sha256_starts(&s->raw_sha, 0);
    mbedtls_sha256_starts(&s->out_sha, 0);
    s->inbuf = util_xmalloc(STREAM_INBUF);
    return sniff(s, err);
}

static ssize_t gunzip_read(images_stream_t *s, uint8_t *buf, size_t n, util_error_t *err)
{
    s->zs.next_out = buf;
    s->zs.avail_out = (uInt)(n > (1u << 30) ? (1u << 30) : n);
    while (s->zs.avail_out > 0 && !s->zend) {
        if (s->zs.avail_in == 0) {
            ssize_t r = raw_read(s, s->inbuf, STREAM_INBUF, err);
            if (r < 0)
                return r;
            if (r == 0)
                return util_error_make(err, EIO, "gzip: truncated stream");
            s->zs.next_in = s->inbuf;
            s->zs.avail_in = (uInt)r;
        }
        int z = inflate(&s->zs, Z_NO_FLUSH);
        if (z == Z_STREAM_END) {
            /* Concatenated members (pigz, some exporters) continue the same stream. */
            if (s->zs.avail_in == 0 && s->pos == s->len)
                s->zend = true;
            else if (inflateReset(&s->zs) != Z_OK)
                return util_error_make(err, EIO, "gzip: cannot reset for the next member");
        } else if (z != Z_OK && z != Z_BUF_ERROR) {
            return util_error_make(err, EIO, "gzip: %s", s->zs.msg ? s->zs.msg : "bad data");
        }
        if (z == Z_BUF_ERROR && s->zs.avail_in > 0)
            return util_error_make(err, EIO, "gzip: stalled");
        if ((size_t)(s->zs.next_out - buf) > 0 && s->zs.avail_in == 0)
            break; /* hand out what we have before reading more */
    }
    return (ssize_t)(s->zs.next_out - buf);
}

ssize_t images_stream_read(images_stream_t *s, void *buf, size_t n, util_error_t *err)
{
    ssize_t r;
    if (s->gzip) {
        r = gunzip_read(s, buf, n, err);
    } else if (s->in_len > 0) { /* bytes read while sniffing */
        r = (ssize_t)(n < s->in_len ? n : s->in_len);
        memcpy(buf, s->inbuf, (size_t)r);
        memmove(s->inbuf, s->inbuf + r, s->in_len - (size_t)r);
        s->in_len -= (size_t)r;
    } else {
        r = raw_read(s, buf, n, err);
    }
    if (r <= 0)
        return r;
    s->out_len += (uint64_t)r;
    if (s->out_len > s->out_max)
        return util_error_make(err, EFBIG, "larger than the limit of %llu bytes",
                               (unsigned long long)s->out_max);
    if (!s->nohash)
        mbedtls_sha256_update(&s->out_sha, buf, (size_t)r);
    return r;
}

int images_stream_skip(images_stream_t *s, uint64_t n, util_error_t *err)
{
    if (s->nohash && !s->gzip && s->fd >= 0) {
        size_t k = n < s->in_len ? (size_t)n : s->in_len; /* bytes read while sniffing */
        memmove(s->inbuf, s->inbuf + k, s->in_len - k);
        s->in_len -= k;
        if (n - k > s->len - s->pos)
            return util_error_make(err, EIO, "truncated archive");
        s->pos += n - k;
        s->out_len += n;
        return 0;
    }
    uint8_t buf[8192];
    while (n > 0) {
        size_t k = n > sizeof(buf) ? sizeof(buf) : (size_t)n;
        int r = images_stream_read_full(s, buf, k, err);
        if (r < 0)
            return r;
        n -= k;
    }
    return 0;
}

int images_stream_read_full(images_stream_t *s, void *buf, size_t n, util_error_t *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = images_stream_read(s, (uint8_t *)buf + got, n - got, err);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return util_error_make(err, EIO, "truncated archive");
        got += (size_t)r;
    }
    return 0;
}

int images_stream_finish(images_stream_t *s, char *ret_raw, char *ret_out, util_error_t *err)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t r = images_stream_read(s, buf, sizeof(buf), err);
        if (r < 0)
            return (int)r;
        if (r == 0)
            break;
    }
    unsigned char sum[32];
    if (ret_raw) {
        mbedtls_sha256_finish(&s->raw_sha, sum);
        digest_hex(sum, ret_raw);
    }
    if (ret_out) {
        mbedtls_sha256_finish(&s->out_sha, sum);
        digest_hex(sum, ret_out);
    }
    return 0;
}

void images_stream_close(images_stream_t *s)
{
    if (s->zinit)
        inflateEnd(&s->zs);
    s->zinit = false;
    mbedtls_sha256_free(&s->raw_sha);
    mbedtls_sha256_free(&s->out_sha);
    free(s->inbuf);
    s->inbuf = NULL;
}
