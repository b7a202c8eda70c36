/* apiserver_gzip: Content-Encoding gzip for large responses, as upstream's APIResponseCompression
 * (on by default since 1.16): bodies over 128 KiB, gzip level 1, when the client accepts gzip. */
#ifndef KUBELING_APISERVER_GZIP_H
#define KUBELING_APISERVER_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* upstream's defaultGzipThresholdBytes (k8s.io/apiserver responsewriters): only bodies larger
 * than this are compressed, at defaultGzipContentEncodingLevel 1. */
#define APISERVER_GZIP_MIN_BYTES (128u * 1024u)

/* True when an Accept-Encoding header value accepts gzip (a "gzip" token not given q=0). */
bool apiserver_gzip_accepted(const char *accept_encoding);

/* A compressed piece that can sit in the middle of a gzip member: raw deflate blocks ending
 * byte-aligned and not final (a sync flush), with the CRC-32 and length of its input. Made once
 * and spliced into many bodies (a cached list's items). */
typedef struct apiserver_gzip_part {
    util_buf_t deflated;
    uint32_t crc;
    size_t len;
} apiserver_gzip_part_t;

int apiserver_gzip_part_make(const char *data, size_t len, apiserver_gzip_part_t *ret);
void apiserver_gzip_part_free(apiserver_gzip_part_t *p);

/* Appends one gzip member holding head, then mid's input (may be NULL), then tail. */
int apiserver_gzip_member(util_buf_t *out, const char *head, size_t head_len,
                          const apiserver_gzip_part_t *mid, const char *tail, size_t tail_len);

/* Appends data compressed as one gzip member (level 1). */
int apiserver_gzip_compress(util_buf_t *out, const char *data, size_t len);

#endif
