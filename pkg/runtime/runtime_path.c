/* runtime_path: opening and creating mount targets inside a container root without ever
 * leaving it (symlinks resolve as if the root were "/", like runc's securejoin). */
#include "runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do {
        fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd < 0 ? -errno : (int)fd;
}

/* Creates name in the directory parentfd (already resolved inside the root). */
static int create_entry(int parentfd, const char *name, bool dir)
{
    int r = dir ? mkdirat(parentfd, name, 0755) : mknodat(parentfd, name, S_IFREG | 0644, 0);
    return r < 0 && errno != EEXIST ? -errno : 0;
}

/* Splits the first component off *rest (which advances); returns its length. */
static size_t next_component(const char **rest, char *name, size_t len)
{
    const char *p = *rest;
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "/");
    if (n < len) {
        memcpy(name, p, n);
        name[n] = 0;
    }
    *rest = p + n;
    return n;
}

static void path_up(char *cur)
{
    char *slash = strrchr(cur, '/');
    if (slash && slash != cur)
        *slash = 0;
    else
        strcpy(cur, "/");
}

/* A symlink's target replaces the component: the rest of the walk continues from it
 * (from the root when it is absolute). */
static int splice_link(char *rest_buf, size_t len, const char *target, const char *rest, char *cur)
{
    char tmp[4096];
    if (util_snprintf(tmp, sizeof(tmp), "%s/%s", target, rest) < 0)
        return -ENAMETOOLONG;
    if (target[0] == '/')
        strcpy(cur, "/");
    return util_strlcpy(rest_buf, tmp, len);
}

/* Like runc's securejoin + MkdirAll: walks the path one component at a time inside the root,
 * expanding symlinks as if the root were "/" (".." stops at the root), creating what is
 * missing. Every directory is opened with RESOLVE_IN_ROOT, so a concurrent rename cannot
 * lead the walk outside either. */
int runtime__mkpath_in_root(int rootfd, const char *path, runtime__mkpath_kind_t kind, int *ret_fd,
                            util_error_t *err)
{
    char rest_buf[4096], cur[4096] = "/", name[256];
    if (!path || path[0] != '/' || util_strlcpy(rest_buf, path, sizeof(rest_buf)) < 0)
        return util_error_make(err, EINVAL, "mount destination `%s` is not an absolute path",
                               path ? path : "");
    const char *rest = rest_buf;
    int links = 0;
    for (;;) {
        size_t n = next_component(&rest, name, sizeof(name));
        if (n == 0)
            break;
        if (n >= sizeof(name))
            return util_error_make(err, ENAMETOOLONG, "path component too long in `%s`", path);
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            path_up(cur);
            continue;
        }
        int parent = open_in_root(rootfd, cur, O_PATH | O_DIRECTORY);
        if (parent < 0)
            return util_error_make(err, -parent, "resolve `%s` in the container root", cur);
        char target[4096];
        ssize_t tl = readlinkat(parent, name, target, sizeof(target) - 1);
        int r = 0;
        if (tl >= 0) {
            target[tl] = 0;
            close(parent);
            if (++links > 40)
                return util_error_make(err, ELOOP, "too many links in `%s`", path);
            char tail[4096];
            util_strlcpy(tail, rest, sizeof(tail));
            if (splice_link(rest_buf, sizeof(rest_buf), target, tail, cur) < 0)
                return util_error_make(err, ENAMETOOLONG, "path too long in `%s`", path);
            rest = rest_buf;
            continue;
        }
        bool last = rest[strspn(rest, "/")] == 0;
        r = create_entry(parent, name, !last || kind == RUNTIME_MKPATH_DIR);
        close(parent);
        if (r < 0)
            return util_error_make(err, -r, "create `%s/%s` in the container root", cur, name);
        size_t cl = strlen(cur);
        if (util_snprintf(cur + cl, sizeof(cur) - cl, "%s%s", cl > 1 ? "/" : "", name) < 0)
            return util_error_make(err, ENAMETOOLONG, "path too long in `%s`", path);
    }
    int fd = open_in_root(rootfd, cur, O_PATH);
    if (fd < 0)
        return util_error_make(err, -fd, "resolve `%s` in the container root", cur);
    *ret_fd = fd;
    return 0;
}
