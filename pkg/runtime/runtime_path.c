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

int runtime__mkpath_in_root(int rootfd, const char *path, runtime__mkpath_kind_t kind, int *ret_fd,
                            util_error_t *err)
{
    char clean[4096], prefix[4096] = "";
    if (util_path_clean(clean, sizeof(clean), path) < 0 || clean[0] != '/')
        return util_error_make(err, EINVAL, "mount destination `%s` is not an absolute path", path);
    int fd = open_in_root(rootfd, clean, O_PATH);
    if (fd >= 0) {
        *ret_fd = fd;
        return 0;
    }
    if (fd != -ENOENT)
        return util_error_make(err, -fd, "resolve `%s` in the container root", clean);
    /* Walk component by component, creating what is missing; each parent is re-resolved in
     * the root, and the new entry is made by name in that parent (no traversal). */
    const char *p = clean + 1;
    int parent = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
    if (parent < 0)
        return util_error_make(err, -parent, "open the container root");
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char name[256];
        if (n >= sizeof(name)) {
            close(parent);
            return util_error_make(err, ENAMETOOLONG, "path component too long in `%s`", clean);
        }
        memcpy(name, p, n);
        name[n] = 0;
        size_t plen = strlen(prefix);
        snprintf(prefix + plen, sizeof(prefix) - plen, "/%s", name);
        bool last = !slash;
        int r = create_entry(parent, name, !last || kind == RUNTIME_MKPATH_DIR);
        close(parent);
        if (r < 0)
            return util_error_make(err, -r, "create `%s` in the container root", prefix);
        parent = open_in_root(rootfd, prefix, O_PATH | (last ? 0 : O_DIRECTORY));
        if (parent < 0)
            return util_error_make(err, -parent, "resolve `%s` in the container root", prefix);
        p = last ? p + n : slash + 1;
    }
    *ret_fd = parent;
    return 0;
}
