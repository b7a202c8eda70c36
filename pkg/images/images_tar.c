/* images_tar: a streaming tar reader (ustar, pax extended headers, GNU long names), written for
 * hostile input: every field is bounded and checked, every error says what was wrong. */
#include "images_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK         512
#define MAX_NAME      4096      /* longest path or link name accepted */
#define MAX_PAX       (1 << 20) /* longest pax or GNU long-name payload */
#define MAX_XATTRS    128
#define MAX_XATTR_LEN 65536

void images_tar_init(images_tar_t *t, images_stream_t *s, uint64_t max_entries)
{
    *t = (images_tar_t){.s = s, .max_entries = max_entries};
}

void images_tar_entry_clear(images_tar_entry_t *e)
{
    free(e->path);
    free(e->linkname);
    for (size_t i = 0; i < e->nxattrs; i++) {
        free(e->xattrs[i].name);
        free(e->xattrs[i].value);
    }
    free(e->xattrs);
    *e = (images_tar_entry_t){0};
}

/* Numeric fields: octal text (NUL or space terminated), or GNU base-256 when the high bit of
 * the first byte is set (sizes over 8 GiB, negative times). */
static int parse_numeric(const char *f, size_t len, bool allow_negative, int64_t *ret)
{
    const unsigned char *u = (const unsigned char *)f;
    if (u[0] & 0x80) {
        bool neg = u[0] & 0x40;
        if (neg && !allow_negative)
            return -EINVAL;
        uint64_t v = neg ? 0 : (uint64_t)(u[0] & 0x3f);
        for (size_t i = 1; i < len && !neg; i++) {
            if (v >> 55)
                return -ERANGE;
            v = (v << 8) | u[i];
        }
        if (neg) /* only times may be negative; before 1970 is clamped to the epoch */
            *ret = 0;
        else if (v > INT64_MAX)
            return -ERANGE;
        else
            *ret = (int64_t)v;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ')
        i++;
    uint64_t v = 0;
    bool any = false;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -ERANGE;
        v = v * 8 + (uint64_t)(f[i] - '0');
        any = true;
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -EINVAL;
    if (!any) {
        *ret = 0;
        return 0;
    }
    *ret = (int64_t)v;
    return 0;
}

static bool block_is_zero(const unsigned char *b)
{
    for (int i = 0; i < BLOCK; i++)
        if (b[i])
            return false;
    return true;
}

/* The header checksum: the unsigned sum of the block with the checksum field as spaces. Some
 * old tars summed signed chars; both are accepted, like GNU tar. */
static bool checksum_ok(const unsigned char *b)
{
    int64_t want;
    if (parse_numeric((const char *)b + 148, 8, false, &want) < 0)
        return false;
    int64_t us = 0, ss = 0;
    for (int i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
        us += c;
        ss += (signed char)c;
    }
    return want == us || want == ss;
}

static char *field_string(const char *f, size_t len)
{
    return strndup(f, strnlen(f, len));
}

/* Reads size bytes of an extension entry's payload (pax or GNU long name) into memory. */
static int read_payload(images_tar_t *t, uint64_t size, char **ret, util_error_t *err)
{
    if (size > MAX_PAX)
        return util_error_make(err, EFBIG, "tar: extended header of %llu bytes is too large",
                               (unsigned long long)size);
    uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
    char *buf = util_xmalloc((size_t)padded + 1);
    int r = images_stream_read_full(t->s, buf, (size_t)padded, err);
    if (r < 0) {
        free(buf);
        return r;
    }
    t->offset += padded;
    buf[size] = '\0';
    *ret = buf;
    return 0;
}

typedef struct pax_state {
    char *path, *linkpath;
    bool has_size, has_uid, has_gid, has_mtime;
    uint64_t size;
    int64_t uid, gid;
    struct timespec mtime;
    images_tar_xattr_t *xattrs;
    size_t nxattrs;
} pax_state_t;

static void pax_clear(pax_state_t *p)
{
    free(p->path);
    free(p->linkpath);
    for (size_t i = 0; i < p->nxattrs; i++) {
        free(p->xattrs[i].name);
        free(p->xattrs[i].value);
    }
    free(p->xattrs);
    *p = (pax_state_t){0};
}

static int pax_decimal(const char *v, size_t len, int64_t *ret)
{
    if (len == 0 || len > 18) /* 18 digits cannot overflow int64 (long is 32-bit on armv7) */
        return -EINVAL;
    int64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -EINVAL;
        n = n * 10 + (v[i] - '0');
    }
    *ret = n;
    return 0;
}

/* mtime is "seconds[.fraction]", possibly negative. */
static int pax_time(const char *v, size_t len, struct timespec *ret)
{
    bool neg = len > 0 && v[0] == '-';
    size_t i = neg ? 1 : 0;
    int64_t sec = 0;
    long nsec = 0;
    if (i == len)
        return -EINVAL;
    for (; i < len && v[i] != '.'; i++) {
        if (v[i] < '0' || v[i] > '9' || sec > INT64_MAX / 10 - 10)
            return -EINVAL;
        sec = sec * 10 + (v[i] - '0');
    }
    if (i < len) {
        long scale = 100000000;
        for (i++; i < len; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -EINVAL;
            nsec += (v[i] - '0') * scale;
            scale /= 10;
        }
    }
    ret->tv_sec = (time_t)(neg ? -sec : sec);
    ret->tv_nsec = nsec;
    return 0;
}

static int pax_record(pax_state_t *p, const char *key, size_t klen, const char *v, size_t vlen,
                      util_error_t *err)
{
#define KEY(s) (klen == sizeof(s) - 1 && !memcmp(key, s, klen))
    int r = 0;
    int64_t n = 0;
    if (KEY("path")) {
        free(p->path);
        p->path = strndup(v, vlen);
    } else if (KEY("linkpath")) {
        free(p->linkpath);
        p->linkpath = strndup(v, vlen);
    } else if (KEY("size")) {
        r = pax_decimal(v, vlen, &n);
        if (r == 0)
            p->size = (uint64_t)n, p->has_size = true;
    } else if (KEY("uid")) {
        r = pax_decimal(v, vlen, &p->uid), p->has_uid = true;
    } else if (KEY("gid")) {
        r = pax_decimal(v, vlen, &p->gid), p->has_gid = true;
    } else if (KEY("mtime")) {
        r = pax_time(v, vlen, &p->mtime), p->has_mtime = true;
    } else if (klen > 13 && !memcmp(key, "SCHILY.xattr.", 13)) {
        if (p->nxattrs >= MAX_XATTRS || vlen > MAX_XATTR_LEN)
            return util_error_make(err, EFBIG, "tar: too many or too large xattrs");
        p->xattrs = util_xrealloc(p->xattrs, (p->nxattrs + 1) * sizeof(*p->xattrs));
        images_tar_xattr_t *x = &p->xattrs[p->nxattrs++];
        x->name = strndup(key + 13, klen - 13);
        x->value = util_xmalloc(vlen + 1);
        memcpy(x->value, v, vlen);
        x->value[vlen] = '\0';
        x->len = vlen;
    } else if (klen > 11 && !memcmp(key, "GNU.sparse.", 11)) {
        return util_error_make(err, ENOTSUP, "tar: sparse files are not supported");
    }
#undef KEY
    if (r < 0)
        return util_error_make(err, EINVAL, "tar: bad pax value for %.*s", (int)klen, key);
    return 0;
}

/* Records are "<len> <key>=<value>\n" where len counts the whole record. */
static int pax_parse(pax_state_t *p, const char *buf, size_t size, util_error_t *err)
{
    size_t pos = 0;
    while (pos < size) {
        size_t len = 0, i = pos;
        while (i < size && buf[i] >= '0' && buf[i] <= '9' && len < MAX_PAX)
            len = len * 10 + (size_t)(buf[i++] - '0');
        if (i >= size || buf[i] != ' ' || len <= i - pos + 1 || len > size - pos ||
            buf[pos + len - 1] != '\n')
            return util_error_make(err, EINVAL, "tar: malformed pax record");
        const char *key = buf + i + 1, *end = buf + pos + len - 1;
        const char *eq = memchr(key, '=', (size_t)(end - key));
        if (!eq || eq == key)
            return util_error_make(err, EINVAL, "tar: malformed pax record");
        int r = pax_record(p, key, (size_t)(eq - key), eq + 1, (size_t)(end - eq - 1), err);
        if (r < 0)
            return r;
        pos += len;
    }
    return 0;
}

/* Fills e from a ustar/GNU header block, then overrides with pax and GNU long names. */
static int header_fill(const unsigned char *b, images_tar_entry_t *e, util_error_t *err)
{
    const char *h = (const char *)b;
    int64_t mode, uid, gid, size, mtime, maj, min;
    if (parse_numeric(h + 100, 8, false, &mode) < 0 || parse_numeric(h + 108, 8, false, &uid) < 0 ||
        parse_numeric(h + 116, 8, false, &gid) < 0 ||
        parse_numeric(h + 124, 12, false, &size) < 0 ||
        parse_numeric(h + 136, 12, true, &mtime) < 0 ||
        parse_numeric(h + 329, 8, false, &maj) < 0 || parse_numeric(h + 337, 8, false, &min) < 0)
        return util_error_make(err, EINVAL, "tar: malformed numeric field in header");
    e->type = h[156] ? h[156] : '0';
    e->mode = (mode_t)(mode & 07777);
    e->uid = (uid_t)uid, e->gid = (gid_t)gid;
    e->size = (uint64_t)size;
    e->mtime.tv_sec = (time_t)mtime;
    e->devmajor = (unsigned)maj, e->devminor = (unsigned)min;
    e->linkname = field_string(h + 157, 100);
    bool posix = !memcmp(h + 257, "ustar\0", 6); /* GNU's "ustar  " uses the prefix field */
    char *name = field_string(h, 100);
    if (posix && h[345]) {
        e->path = util_strdup_printf("%.*s/%s", (int)strnlen(h + 345, 155), h + 345, name);
        free(name);
    } else {
        e->path = name;
    }
    if (uid > INT32_MAX || gid > INT32_MAX)
        return util_error_make(err, ERANGE, "tar: uid or gid out of range");
    return 0;
}

static int apply_pax(images_tar_entry_t *e, pax_state_t *p, util_error_t *err)
{
    if (p->path) {
        free(e->path);
        e->path = p->path, p->path = NULL;
    }
    if (p->linkpath) {
        free(e->linkname);
        e->linkname = p->linkpath, p->linkpath = NULL;
    }
    if (p->has_size)
        e->size = p->size;
    if ((p->has_uid && p->uid > INT32_MAX) || (p->has_gid && p->gid > INT32_MAX))
        return util_error_make(err, ERANGE, "tar: uid or gid out of range");
    if (p->has_uid)
        e->uid = (uid_t)p->uid;
    if (p->has_gid)
        e->gid = (gid_t)p->gid;
    if (p->has_mtime)
        e->mtime = p->mtime;
    e->xattrs = p->xattrs, e->nxattrs = p->nxattrs;
    p->xattrs = NULL, p->nxattrs = 0;
    return 0;
}

static int skip_bytes(images_tar_t *t, uint64_t n, util_error_t *err)
{
    int r = images_stream_skip(t->s, n, err);
    if (r == 0)
        t->offset += n;
    return r;
}

/* One extension header (x, g, L, K): its payload feeds pax or the long names. */
static int read_extension(images_tar_t *t, char type, uint64_t size, pax_state_t *pax,
                          char **longname, char **longlink, util_error_t *err)
{
    cleanup_free char *payload = NULL;
    int r = read_payload(t, size, &payload, err);
    if (r < 0)
        return r;
    if (type == 'x')
        return pax_parse(pax, payload, (size_t)size, err);
    if (type == 'g')
        return 0; /* global headers carry nothing layers need (containerd ignores them too) */
    char **dst = type == 'L' ? longname : longlink;
    if (strnlen(payload, (size_t)size) > MAX_NAME)
        return util_error_make(err, ENAMETOOLONG, "tar: name longer than %d bytes", MAX_NAME);
    free(*dst);
    *dst = strndup(payload, (size_t)size);
    return 0;
}

static int check_entry(images_tar_entry_t *e, util_error_t *err)
{
    static const char known[] = "0123456";
    if (e->type == '7')
        e->type = '0'; /* contiguous files are regular files */
    if (!strchr(known, e->type))
        return util_error_make(err, ENOTSUP, "tar: unsupported entry type '%c' for `%.200s`",
                               e->type, e->path);
    if (!*e->path)
        return util_error_make(err, EINVAL, "tar: entry with an empty name");
    if (strlen(e->path) > MAX_NAME || strlen(e->linkname) > MAX_NAME)
        return util_error_make(err, ENAMETOOLONG, "tar: name longer than %d bytes", MAX_NAME);
    if (e->type != '0')
        e->size = 0; /* header-only types carry no data, whatever the size field says */
    if (e->size > INT64_MAX)
        return util_error_make(err, ERANGE, "tar: entry size out of range");
    return 0;
}

static int finish_current(images_tar_t *t, util_error_t *err)
{
    int r = skip_bytes(t, t->remaining + t->padding, err);
    t->remaining = t->padding = 0;
    return r;
}

int images_tar_next(images_tar_t *t, images_tar_entry_t *e, util_error_t *err)
{
    images_tar_entry_clear(e);
    if (t->done)
        return 0;
    int r = finish_current(t, err);
    if (r < 0)
        return r;
    pax_state_t pax = {0};
    cleanup_free char *longname = NULL;
    cleanup_free char *longlink = NULL;
    unsigned char b[BLOCK];
    for (int ext = 0;; ext++) {
        if (ext > 16) {
            r = util_error_make(err, EINVAL, "tar: too many extension headers in a row");
            break;
        }
        r = images_stream_read_full(t->s, b, BLOCK, err);
        if (r < 0)
            break;
        t->offset += BLOCK;
        if (block_is_zero(b)) {
            if (ext > 0) {
                r = util_error_make(err, EINVAL, "tar: extension header without an entry");
                break;
            }
            t->done = true; /* the second zero block and padding are drained by the caller */
            pax_clear(&pax);
            return 0;
        }
        if (!checksum_ok(b)) {
            r = util_error_make(err, EINVAL, "tar: bad header checksum at offset %llu",
                                (unsigned long long)(t->offset - BLOCK));
            break;
        }
        if (++t->entries > t->max_entries) {
            r = util_error_make(err, EFBIG, "tar: more than %llu entries",
                                (unsigned long long)t->max_entries);
            break;
        }
        char type = (char)b[156];
        if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
            int64_t size;
            if (parse_numeric((const char *)b + 124, 12, false, &size) < 0) {
                r = util_error_make(err, EINVAL, "tar: malformed size field");
                break;
            }
            r = read_extension(t, type, (uint64_t)size, &pax, &longname, &longlink, err);
            if (r < 0)
                break;
            continue;
        }
        r = header_fill(b, e, err);
        if (r < 0)
            break;
        if (longname) {
            free(e->path);
            e->path = longname, longname = NULL;
        }
        if (longlink) {
            free(e->linkname);
            e->linkname = longlink, longlink = NULL;
        }
        r = apply_pax(e, &pax, err);
        if (r == 0)
            r = check_entry(e, err);
        break;
    }
    pax_clear(&pax);
    if (r < 0) {
        images_tar_entry_clear(e);
        return r;
    }
    e->data_offset = t->offset;
    t->remaining = e->size;
    t->padding = (BLOCK - e->size % BLOCK) % BLOCK;
    return 1;
}

ssize_t images_tar_read(images_tar_t *t, void *buf, size_t n, util_error_t *err)
{
    if (n > t->remaining)
        n = (size_t)t->remaining;
    if (n == 0)
        return 0;
    ssize_t r = images_stream_read(t->s, buf, n, err);
    if (r == 0)
        return util_error_make(err, EIO, "truncated archive");
    if (r > 0) {
        t->remaining -= (uint64_t)r;
        t->offset += (uint64_t)r;
    }
    return r;
}
