/* apiserver_gzip: gzip members assembled from stored blocks and pre-compressed parts, so a
 * cached list body is compressed once and sent to many clients with a fresh header (RFC 1951
 * section 3.2.4: stored blocks; RFC 1952: the member's header and CRC-32/ISIZE trailer). */
#include "apiserver_gzip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

bool apiserver_gzip_accepted(const char *v)
{
    /* "gzip", "gzip, deflate", "deflate;q=1, gzip;q=0.5"; "gzip;q=0" refuses it */
    if (!v)
        return false;
    while (*v) {
        v += strspn(v, " \t,");
        size_t n = strcspn(v, ",;");
        size_t tn = n;
        while (tn && (v[tn - 1] == ' ' || v[tn - 1] == '\t'))
            tn--;
        bool gzip = tn == 4 && !strncasecmp(v, "gzip", 4);
        v += n;
        bool zero = false;
        while (*v == ';') { /* parameters: only q matters */
            v++;
            v += strspn(v, " \t");
            size_t pn = strcspn(v, ",;");
            if (pn >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=')
                zero = strtod(v + 2, NULL) <= 0.0;
            v += pn;
        }
        if (gzip && !zero)
            return true;
    }
    return false;
}

int apiserver_gzip_part_make(const char *data, size_t len, apiserver_gzip_part_t *ret)
{
    *ret = (apiserver_gzip_part_t){0};
    z_stream z = {0};
    /* level 1 as upstream (defaultGzipContentEncodingLevel); raw deflate: no zlib wrapper */
    if (deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    util_buf_t out = {0};
    util_buf_reserve(&out, deflateBound(&z, (uLong)len) + 16);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    int rc;
    do {
        if (out.cap - out.len < 64)
            util_buf_reserve(&out, out.cap);
        z.next_out = (Bytef *)out.data + out.len;
        z.avail_out = (uInt)(out.cap - out.len - 1);
        rc = deflate(&z, Z_SYNC_FLUSH);
        out.len = (size_t)((char *)z.next_out - out.data);
    } while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
    deflateEnd(&z);
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
        util_buf_free(&out);
        return -EIO;
    }
    out.data[out.len] = '\0';
    ret->deflated = out;
    ret->crc = (uint32_t)crc32(0, (const Bytef *)data, (uInt)len);
    ret->len = len;
    return 0;
}

void apiserver_gzip_part_free(apiserver_gzip_part_t *p)
{
    if (p)
        util_buf_free(&p->deflated);
}

/* Stored blocks (at most 65535 bytes each) starting at a byte boundary; the last one is final
 * when final is set (an empty final block when len is 0). */
static void stored_blocks(util_buf_t *out, const char *data, size_t len, bool final)
{
    do {
        size_t n = len > 65535 ? 65535 : len;
        unsigned char h[5] = {final && n == len ? 1 : 0, (unsigned char)(n & 0xff),
                              (unsigned char)(n >> 8), (unsigned char)(~n & 0xff),
                              (unsigned char)((~n >> 8) & 0xff)};
        util_buf_append(out, h, sizeof(h));
        if (n)
            util_buf_append(out, data, n);
        data += n;
        len -= n;
    } while (len > 0);
}

static void le32(util_buf_t *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    util_buf_append(out, b, sizeof(b));
}

int apiserver_gzip_member(util_buf_t *out, const char *head, size_t head_len,
                          const apiserver_gzip_part_t *mid, const char *tail, size_t tail_len)
{
    /* magic, deflate, no flags, no mtime, no extra flags, OS unknown (as Go's gzip.Writer) */
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    util_buf_reserve(out,
                     sizeof(header) + head_len + tail_len + 32 + (mid ? mid->deflated.len : 0));
    util_buf_append(out, header, sizeof(header));
    uLong crc = crc32(0, Z_NULL, 0);
    size_t total = 0;
    if (head_len) {
        stored_blocks(out, head, head_len, false);
        crc = crc32(crc, (const Bytef *)head, (uInt)head_len);
        total += head_len;
    }
    if (mid && mid->len) {
        util_buf_append(out, mid->deflated.data, mid->deflated.len);
        crc = crc32_combine(crc, mid->crc, (z_off_t)mid->len);
        total += mid->len;
    }
    stored_blocks(out, tail, tail_len, true);
    if (tail_len)
        crc = crc32(crc, (const Bytef *)tail, (uInt)tail_len);
    total += tail_len;
    le32(out, (uint32_t)crc);
    le32(out, (uint32_t)total); /* ISIZE: the input length modulo 2^32 */
    return 0;
}

int apiserver_gzip_compress(util_buf_t *out, const char *data, size_t len)
{
    apiserver_gzip_part_t p;
    int r = apiserver_gzip_part_make(data, len, &p);
    if (r == 0)
        r = apiserver_gzip_member(out, NULL, 0, &p, NULL, 0);
    apiserver_gzip_part_free(&p);
    return r;
}
