/* images_archive: an imported tarball as a table of members read in place (pread), after
 * gunzipping it into the store's tmp/ when compressed. Used by images_import.c. */
#include "images_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MEMBERS 100000

void images_archive_close(images_archive_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->members[i].name);
        free(a->members[i].link);
    }
    free(a->members);
    if (a->fd >= 0)
        close(a->fd);
    *a = (images_archive_t){.fd = -1};
}

static int gunzip_to(int in, uint64_t size, const char *path, const images_limits_t *limits,
                     images_progress_fn progress, void *ud, const char *name, util_error_t *err)
{
    images_stream_t s;
    int r = images_stream_open(&s, in, 0, size, NULL, limits->max_archive_bytes, err);
    s.progress = progress, s.progress_ud = ud, s.progress_name = name, s.progress_total = size;
    cleanup_close int out = r < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (r == 0 && out < 0)
        r = util_error_make(err, errno, "create `%s`", path);
    uint8_t buf[65536];
    while (r == 0) {
        ssize_t n = images_stream_read(&s, buf, sizeof(buf), err);
        if (n <= 0) {
            r = (int)n;
            break;
        }
        for (ssize_t off = 0; off < n && r == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR)
                r = util_error_make(err, errno, "write `%s`", path);
            off += w > 0 ? w : 0;
        }
    }
    images_stream_close(&s);
    return r;
}

static int add_member(images_archive_t *a, const images_tar_entry_t *e, util_error_t *err)
{
    char name[PATH_MAX];
    int r = images_clean_entry_path(e->path, name, sizeof(name), err);
    if (r < 0)
        return r;
    if (a->n >= MAX_MEMBERS)
        return util_error_make(err, EFBIG, "more than %d files in the archive", MAX_MEMBERS);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->members = util_xrealloc(a->members, a->cap * sizeof(*a->members));
    }
    a->members[a->n++] = (images_member_t){
        .name = util_xstrdup(name),
        .link = util_xstrdup(e->linkname),
        .type = e->type,
        .offset = e->data_offset,
        .size = e->size,
        .fd = -1,
    };
    return 0;
}

static int scan(images_archive_t *a, uint64_t size, util_error_t *err)
{
    images_stream_t s;
    int r = images_stream_open(&s, a->fd, 0, size, NULL, UINT64_MAX, err);
    if (r == 0 && s.gzip)
        r = util_error_make(err, EINVAL, "nested compression");
    s.nohash = true; /* members are verified when read, not while scanning */
    images_tar_t t;
    images_tar_init(&t, &s, MAX_MEMBERS);
    images_tar_entry_t e = {0};
    while (r == 0 && (r = images_tar_next(&t, &e, err)) > 0)
        r = add_member(a, &e, err);
    images_tar_entry_clear(&e);
    images_stream_close(&s);
    if (r == 0 && a->n == 0)
        r = util_error_make(err, EINVAL, "empty archive");
    return r;
}

int images_archive_open(images_archive_t *a, const char *path, const char *workdir,
                        const images_limits_t *limits, images_progress_fn progress, void *ud,
                        util_error_t *err)
{
    *a = (images_archive_t){.fd = -1};
    a->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (a->fd < 0 || fstat(a->fd, &st) < 0)
        return util_error_make(err, errno, "open `%s`", path);
    if (!S_ISREG(st.st_mode))
        return util_error_make(err, EINVAL, "`%s` is not a regular file", path);
    a->file_size = (uint64_t)st.st_size;
    unsigned char magic[2] = {0};
    if (pread(a->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        char plain[PATH_MAX];
        int r = util_snprintf(plain, sizeof(plain), "%s/archive.tar", workdir);
        if (r == 0)
            r = gunzip_to(a->fd, a->file_size, plain, limits, progress, ud, path, err);
        if (r < 0)
            return util_error_wrap(err, "`%s`", path);
        close(a->fd);
        a->fd = open(plain, O_RDONLY | O_CLOEXEC);
        if (a->fd < 0 || fstat(a->fd, &st) < 0)
            return util_error_make(err, errno, "open `%s`", plain);
    }
    int r = scan(a, (uint64_t)st.st_size, err);
    return r < 0 ? util_error_wrap(err, "`%s`", path) : 0;
}

/* Looks a member up by name, following symlinks and hard links inside the archive (docker 25
 * writes `<id>/layer.tar` as symlinks into blobs/). */
const images_member_t *images_archive_find(const images_archive_t *a, const char *name)
{
    char cur[PATH_MAX], next[PATH_MAX * 2];
    if (images_clean_entry_path(name, cur, sizeof(cur), NULL) < 0)
        return NULL;
    for (int hops = 0; hops < 8; hops++) {
        const images_member_t *m = NULL;
        for (size_t i = a->n; i-- > 0;) /* the last of duplicate names wins, like tar -x */
            if (!strcmp(a->members[i].name, cur)) {
                m = &a->members[i];
                break;
            }
        if (!m || m->type == '0')
            return m;
        if (m->type == '1') {
            snprintf(next, sizeof(next), "%s", m->link);
        } else if (m->type == '2') {
            const char *slash = strrchr(cur, '/');
            if (m->link[0] == '/' || !slash)
                snprintf(next, sizeof(next), "%s", m->link);
            else
                snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - cur), cur, m->link);
        } else {
            return NULL;
        }
        if (images_clean_entry_path(next, cur, sizeof(cur), NULL) < 0)
            return NULL;
    }
    return NULL;
}

int images_archive_read(const images_archive_t *a, const char *name, size_t max, char **ret,
                        size_t *ret_len, util_error_t *err)
{
    const images_member_t *m = images_archive_find(a, name);
    if (!m)
        return util_error_make(err, ENOENT, "archive has no `%s`", name);
    if (m->size > max)
        return util_error_make(err, EFBIG, "`%s` is larger than %zu bytes", name, max);
    char *buf = util_xmalloc((size_t)m->size + 1);
    size_t got = 0;
    while (got < m->size) {
        ssize_t r = pread(a->fd, buf + got, (size_t)m->size - got, (off_t)(m->offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return util_error_make(err, r < 0 ? errno : EIO, "read `%s`", name);
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    *ret = buf;
    *ret_len = got;
    return 0;
}
