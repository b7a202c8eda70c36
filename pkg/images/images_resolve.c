/* images_resolve: paths inside a layer or container root, resolved without ever leaving it
 * (openat2 RESOLVE_IN_ROOT, or a component walk with O_NOFOLLOW on kernels before 5.6). */
#include "images_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH   256 /* directory levels inside a layer */
#define MAX_SYMLINK 40  /* like the kernel's limit on nested links */

bool images__force_manual_walk;
static _Atomic bool no_openat2; /* layers unpack on several worker threads */

int images_clean_entry_path(const char *name, char *buf, size_t len, util_error_t *err)
{
    char tmp[PATH_MAX];
    while (*name == '/')
        name++; /* absolute names are taken relative to the root, like containerd */
    if (util_path_clean(tmp, sizeof(tmp), *name ? name : ".") < 0)
        return util_error_make(err, ENAMETOOLONG, "name too long: `%.64s...`", name);
    if (!util_path_is_beneath(tmp))
        return util_error_make(err, EPERM, "`%.200s` climbs out of the layer root", name);
    int depth = 0;
    for (const char *p = tmp; *p; p++)
        depth += *p == '/';
    if (depth >= MAX_DEPTH)
        return util_error_make(err, ENAMETOOLONG, "`%.64s...` is nested deeper than %d", name,
                               MAX_DEPTH);
    return util_strlcpy(buf, strcmp(tmp, ".") ? tmp : "", len) < 0
               ? util_error_make(err, ENAMETOOLONG, "name too long")
               : 0;
}

/* The walk keeps a stack of directory fds: ".." pops (never below the root), a symlink's
 * target is spliced in front of the rest of the path, absolute targets restart at the root. */
typedef struct walk {
    int fds[MAX_DEPTH + 1];
    int depth;
} walk_t;

static void walk_pop_to(walk_t *w, int depth)
{
    while (w->depth > depth)
        close(w->fds[w->depth--]);
}

static int walk_step(walk_t *w, const char *comp, char **rest, int *hops)
{
    if (!strcmp(comp, ".."))
        return walk_pop_to(w, w->depth > 0 ? w->depth - 1 : 0), 0;
    int fd = openat(w->fds[w->depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
        close(fd);
        if (n < 0)
            return -errno;
        if (++*hops > MAX_SYMLINK)
            return -ELOOP;
        target[n] = '\0';
        if (target[0] == '/')
            walk_pop_to(w, 0);
        char *joined = util_strdup_printf("%s/%s", target, *rest);
        free(*rest);
        *rest = joined;
        return 0;
    }
    if (w->depth >= MAX_DEPTH) {
        close(fd);
        return -ENAMETOOLONG;
    }
    w->fds[++w->depth] = fd;
    return 0;
}

static int manual_walk(int rootfd, const char *rel, int flags)
{
    walk_t w = {.depth = 0};
    w.fds[0] = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (w.fds[0] < 0)
        return -errno;
    char *rest = util_xstrdup(rel);
    int hops = 0, r = 0;
    while (r == 0 && *rest) {
        char *slash = strchr(rest, '/');
        size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
        char comp[NAME_MAX + 1];
        if (len > NAME_MAX) {
            r = -ENAMETOOLONG;
            break;
        }
        memcpy(comp, rest, len);
        comp[len] = '\0';
        char *next = util_xstrdup(slash ? slash + 1 : "");
        free(rest);
        rest = next;
        if (len > 0 && strcmp(comp, "."))
            r = walk_step(&w, comp, &rest, &hops);
    }
    free(rest);
    if (r == 0) {
        r = openat(w.fds[w.depth], ".", flags | O_CLOEXEC);
        if (r < 0)
            r = -errno;
    }
    walk_pop_to(&w, 0);
    close(w.fds[0]);
    return r;
}

/* Opens rel beneath rootfd (directories only: the walk ends with "."); returns fd or -errno. */
static int open_in_root(int rootfd, const char *rel, int flags)
{
    if (!images__force_manual_walk && !no_openat2) {
        cleanup_error util_error_t err = NULL;
        int fd = util_openat_beneath(rootfd, *rel ? rel : ".", flags, 0, &err);
        if (fd >= 0 || (fd != -ENOSYS && fd != -EPERM)) /* EPERM: old runtimes' seccomp */
            return fd;
        no_openat2 = true;
    }
    return manual_walk(rootfd, rel, flags);
}

int images_open_dir_in_root(int rootfd, const char *rel, bool create, util_error_t *err)
{
    const int flags = O_RDONLY | O_DIRECTORY;
    int fd = open_in_root(rootfd, rel, flags);
    if (fd >= 0 || fd != -ENOENT || !create)
        return fd >= 0 ? fd : util_error_make(err, -fd, "open directory `%.200s` in root", rel);
    /* Create the missing components one by one, each inside its resolved parent. */
    char prefix[PATH_MAX];
    if (util_strlcpy(prefix, rel, sizeof(prefix)) < 0)
        return util_error_make(err, ENAMETOOLONG, "name too long");
    cleanup_close int parent = open_in_root(rootfd, "", flags);
    for (char *p = prefix;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        int child = open_in_root(rootfd, prefix, flags);
        if (child == -ENOENT) {
            if (mkdirat(parent, p, 0755) < 0 && errno != EEXIST)
                return util_error_make(err, errno, "mkdir `%.200s` in root", prefix);
            child = open_in_root(rootfd, prefix, flags);
        }
        if (child < 0)
            return util_error_make(err, -child, "open directory `%.200s` in root", prefix);
        close(parent);
        parent = child;
        if (!slash)
            break;
        *slash = '/';
        p = slash + 1;
    }
    int ret = parent;
    parent = -1;
    return ret;
}

static int remove_children(int dfd, int depth, util_error_t *err)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return util_error_make(err, errno, "fdopendir");
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            r = util_error_make(err, errno, "stat `%s`", de->d_name);
        } else if (S_ISDIR(st.st_mode)) {
            if (depth > MAX_DEPTH + 8) {
                r = util_error_make(err, ELOOP, "tree too deep to remove");
                break;
            }
            int child =
                openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0)
                r = util_error_make(err, errno, "open `%s`", de->d_name);
            else
                r = remove_children(child, depth + 1, err);
            if (r == 0 && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0)
                r = util_error_make(err, errno, "rmdir `%s`", de->d_name);
        } else if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
            r = util_error_make(err, errno, "unlink `%s`", de->d_name);
        }
    }
    closedir(d);
    return r;
}

int images_remove_tree(int dirfd, const char *path, util_error_t *err)
{
    struct stat st;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : util_error_make(err, errno, "stat `%s`", path);
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, path, 0) < 0 ? util_error_make(err, errno, "unlink `%s`", path) : 0;
    /* Directories without write or search permission (a layer's 0555 dirs) are still ours. */
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return util_error_make(err, errno, "open `%s`", path);
    int r = remove_children(fd, 0, err);
    if (r == 0 && unlinkat(dirfd, path, AT_REMOVEDIR) < 0)
        r = util_error_make(err, errno, "rmdir `%s`", path);
    return r;
}
