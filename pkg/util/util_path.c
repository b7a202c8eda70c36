/* util_path: path arithmetic, directory creation and safe, durable file I/O. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef __has_include
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif

#ifndef RESOLVE_IN_ROOT
struct open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT       0x10
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

void util_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void util_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
    *f = NULL;
}

void util_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
    *d = NULL;
}

int util_path_join(char *dst, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    const char *sep = (la > 0 && a[la - 1] == '/') || la == 0 || !*b ? "" : "/";
    return util_snprintf(dst, n, "%.*s%s%s", (int)la, a, sep, b);
}

/* Lexical cleaning in the manner of Go's path.Clean, done in place on a copy. Components are
 * pushed onto dst; ".." pops one unless it would climb above an absolute root (dropped) or
 * above the start of a relative path (kept). */
int util_path_clean(char *dst, size_t n, const char *path)
{
    if (n == 0)
        return -ENAMETOOLONG;
    bool rooted = path[0] == '/';
    size_t out = 0, keep = 0; /* keep: length of leading "../" run that cannot be popped */
    if (rooted) {
        if (n < 2)
            return -ENAMETOOLONG;
        dst[out++] = '/';
        keep = 1;
    }
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (out > keep) {
                while (out > keep && dst[out - 1] != '/')
                    out--;
                if (out > keep)
                    out--; /* the separator before the popped component */
                if (out == 0 && rooted)
                    out = 1;
            } else if (!rooted) {
                if (out + (out ? 3 : 2) >= n)
                    return -ENAMETOOLONG;
                if (out)
                    dst[out++] = '/';
                dst[out++] = '.';
                dst[out++] = '.';
                keep = out;
            }
        } else {
            bool need_sep = out > 0 && dst[out - 1] != '/';
            if (out + len + (need_sep ? 1 : 0) >= n)
                return -ENAMETOOLONG;
            if (need_sep)
                dst[out++] = '/';
            memcpy(dst + out, p, len);
            out += len;
        }
        p = end;
    }
    if (out == 0) {
        dst[out++] = '.';
    }
    dst[out] = '\0';
    return 0;
}

bool util_path_is_beneath(const char *rel)
{
    if (rel[0] == '/')
        return false;
    return !(rel[0] == '.' && rel[1] == '.' && (rel[2] == '\0' || rel[2] == '/'));
}

int util_mkdir_p(const char *path, mode_t mode, util_error_t *err)
{
    char buf[PATH_MAX];
    if (util_strlcpy(buf, path, sizeof(buf)) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %.64s...", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return util_error_make(err, errno, "mkdir `%s`", buf);
        *p = saved;
        if (!saved)
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return util_error_make(err, errno, "stat `%s`", path);
    if (!S_ISDIR(st.st_mode))
        return util_error_make(err, ENOTDIR, "`%s` is not a directory", path);
    return 0;
}

int util_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len,
                   util_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return util_error_make(err, errno, "open `%s`", path);
    util_buf_t b = {0};
    for (;;) {
        util_buf_reserve(&b, 4096);
        ssize_t r = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            util_buf_free(&b);
            return util_error_make(err, e, "read `%s`", path);
        }
        if (r == 0)
            break;
        b.len += (size_t)r;
        if (b.len > max) {
            util_buf_free(&b);
            return util_error_make(err, EFBIG, "`%s` is larger than %zu bytes", path, max);
        }
    }
    b.data[b.len] = '\0';
    if (ret_len)
        *ret_len = b.len;
    *ret_data = util_buf_steal(&b);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Durable replace: data reaches disk before the rename makes it visible, and the directory
 * entry is synced so the rename itself survives a power loss. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           util_error_t *err)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    if (util_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) < 0 ||
        util_strlcpy(dir, path, sizeof(dir)) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %.64s...", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return util_error_make(err, errno, "create `%s`", tmp);
    int r = fchmod(fd, mode) < 0 ? -errno : 0; /* umask must not widen or narrow secrets */
    if (r == 0)
        r = write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return util_error_make(err, -r, "write `%s`", path);
    }
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return util_error_make(err, errno, "sync directory `%s`", dir);
    return 0;
}

int util_openat_beneath(int dirfd, const char *path, int flags, mode_t mode, util_error_t *err)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    for (;;) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return util_error_make(err, errno, "open `%s` beneath its root", path);
    }
}
