/* images_unpack: applies one layer tar to a directory in overlayfs form: whiteouts become 0/0
 * character devices, opaque directories get trusted.overlay.opaque=y; ownership, modes, times
 * and xattrs are kept; every path is resolved inside the layer root. */
#include "images_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define OPAQUE_MARKER ".wh..wh..opq"
#define OPAQUE_XATTR  "trusted.overlay.opaque"

typedef struct dir_time {
    char *rel;
    struct timespec mtime;
} dir_time_t;

typedef struct unpack {
    int rootfd;
    const images_limits_t *limits;
    images_tar_t tar;
    bool privileged; /* may chown and set trusted.* xattrs */
    dir_time_t *dirs;
    size_t ndirs;
    images_unpack_stats_t stats;
} unpack_t;

/* Splits a cleaned, non-empty rel into its parent ("" for the root) and base name. */
static void split_path(char *rel, const char **parent, const char **base)
{
    char *slash = strrchr(rel, '/');
    if (slash) {
        *slash = '\0';
        *parent = rel, *base = slash + 1;
    } else {
        *parent = "", *base = rel;
    }
}

/* Xattrs a layer may carry: not trusted.overlay.* (only our whiteout conversion sets those, a
 * layer must not forge redirects or metacopy), nothing outside the usual namespaces. */
static bool xattr_allowed(const char *name)
{
    if (util_str_has_prefix(name, "trusted.overlay."))
        return false;
    return util_str_has_prefix(name, "user.") || util_str_has_prefix(name, "trusted.") ||
           util_str_has_prefix(name, "security.") || !strcmp(name, "system.posix_acl_access") ||
           !strcmp(name, "system.posix_acl_default");
}

static int apply_xattrs(unpack_t *u, int fd, const images_tar_entry_t *e, util_error_t *err)
{
    for (size_t i = 0; i < e->nxattrs; i++) {
        const images_tar_xattr_t *x = &e->xattrs[i];
        if (!xattr_allowed(x->name) || (!u->privileged && !util_str_has_prefix(x->name, "user.")))
            continue;
        if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0 && errno != ENOTSUP)
            return util_error_make(err, errno, "set xattr %s on `%.200s`", x->name, e->path);
    }
    return 0;
}

/* Owner, then mode (chown clears set-id bits), xattrs; times for non-directories. */
static int apply_meta_fd(unpack_t *u, int fd, const images_tar_entry_t *e, bool times,
                         util_error_t *err)
{
    if (u->privileged && fchown(fd, e->uid, e->gid) < 0)
        return util_error_make(err, errno, "chown `%.200s`", e->path);
    if (fchmod(fd, e->mode) < 0)
        return util_error_make(err, errno, "chmod `%.200s`", e->path);
    int r = apply_xattrs(u, fd, e, err);
    if (r < 0)
        return r;
    struct timespec ts[2] = {e->mtime, e->mtime};
    if (times && futimens(fd, ts) < 0)
        return util_error_make(err, errno, "set times of `%.200s`", e->path);
    return 0;
}

static int write_file(unpack_t *u, int parent, const char *base, const images_tar_entry_t *e,
                      util_error_t *err)
{
    cleanup_close int fd =
        openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return util_error_make(err, errno, "create `%.200s`", e->path);
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = images_tar_read(&u->tar, buf, sizeof(buf), err);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return util_error_make(err, errno, "write `%.200s`", e->path);
            off += w;
        }
    }
    return apply_meta_fd(u, fd, e, true, err);
}

static int make_dir(unpack_t *u, int parent, const char *base, const char *rel,
                    const images_tar_entry_t *e, util_error_t *err)
{
    if (*base && mkdirat(parent, base, 0700) < 0 && errno != EEXIST)
        return util_error_make(err, errno, "mkdir `%.200s`", e->path);
    cleanup_close int fd =
        *base ? openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
              : openat(u->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return util_error_make(err, errno, "open `%.200s`", e->path);
    int r = apply_meta_fd(u, fd, e, false, err);
    if (r < 0)
        return r;
    /* Directory times are set last: creating children would change them again. */
    u->dirs = util_xrealloc(u->dirs, (u->ndirs + 1) * sizeof(*u->dirs));
    u->dirs[u->ndirs++] = (dir_time_t){util_xstrdup(rel), e->mtime};
    return 0;
}

static int make_link(unpack_t *u, int parent, const char *base, const images_tar_entry_t *e,
                     util_error_t *err)
{
    char target[PATH_MAX];
    int r = images_clean_entry_path(e->linkname, target, sizeof(target), err);
    if (r < 0)
        return util_error_wrap(err, "hard link `%.200s`", e->path);
    if (!*target)
        return util_error_make(err, EPERM, "hard link `%.200s` to the root", e->path);
    const char *tparent, *tbase;
    split_path(target, &tparent, &tbase);
    cleanup_close int tfd = images_open_dir_in_root(u->rootfd, tparent, false, err);
    if (tfd < 0)
        return util_error_wrap(err, "hard link `%.200s`", e->path);
    /* flags 0: a symlink target is linked itself, never followed out of the root. */
    if (linkat(tfd, tbase, parent, base, 0) < 0)
        return util_error_make(err, errno, "hard link `%.200s` -> `%.200s`", e->path, e->linkname);
    return 0;
}

static int make_node(unpack_t *u, int parent, const char *base, const images_tar_entry_t *e,
                     util_error_t *err)
{
    int r;
    if (e->type == '2') {
        r = symlinkat(e->linkname, parent, base);
    } else {
        mode_t kind = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
        r = mknodat(parent, base, kind | 0600, makedev(e->devmajor, e->devminor));
    }
    if (r < 0)
        return util_error_make(err, errno, "create `%.200s`", e->path);
    if (u->privileged && fchownat(parent, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return util_error_make(err, errno, "chown `%.200s`", e->path);
    /* Device nodes and fifos cannot be opened safely (a fifo blocks): chmod by name; the
     * name was just created by us and is not a symlink. */
    if (e->type != '2' && fchmodat(parent, base, e->mode, 0) < 0)
        return util_error_make(err, errno, "chmod `%.200s`", e->path);
    struct timespec ts[2] = {e->mtime, e->mtime};
    if (utimensat(parent, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return util_error_make(err, errno, "set times of `%.200s`", e->path);
    return 0;
}

/* ".wh.<name>" hides name of lower layers; ".wh..wh..opq" hides the whole directory. */
static int whiteout(int parent, const char *base, const images_tar_entry_t *e, util_error_t *err)
{
    if (!strcmp(base, OPAQUE_MARKER)) {
        if (fsetxattr(parent, OPAQUE_XATTR, "y", 1, 0) < 0)
            return util_error_make(err, errno, "mark `%.200s` opaque (needs root)", e->path);
        return 0;
    }
    if (util_str_has_prefix(base, ".wh..wh."))
        return 0; /* other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) means nothing here */
    const char *name = base + 4;
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return util_error_make(err, EPERM, "whiteout `%.200s` names no entry", e->path);
    int r = images_remove_tree(parent, name, err);
    if (r < 0)
        return r;
    if (mknodat(parent, name, S_IFCHR | 0, makedev(0, 0)) < 0)
        return util_error_make(err, errno, "whiteout `%.200s` (needs root)", e->path);
    return 0;
}

/* An existing entry of the same name is replaced, except a directory by a directory. */
static int clear_existing(int parent, const char *base, char type, util_error_t *err)
{
    struct stat st;
    if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : util_error_make(err, errno, "stat `%.200s`", base);
    if (type == '5' && S_ISDIR(st.st_mode))
        return 0;
    return images_remove_tree(parent, base, err);
}

static int apply_entry(unpack_t *u, images_tar_entry_t *e, util_error_t *err)
{
    char rel[PATH_MAX], split[PATH_MAX];
    int r = images_clean_entry_path(e->path, rel, sizeof(rel), err);
    if (r < 0)
        return r;
    if (!*rel) {
        if (e->type != '5')
            return util_error_make(err, EPERM, "`%.200s` would replace the layer root", e->path);
        return make_dir(u, u->rootfd, "", "", e, err);
    }
    memcpy(split, rel, strlen(rel) + 1);
    const char *parent_rel, *base;
    split_path(split, &parent_rel, &base);
    if ((e->type == '3' || e->type == '4') && !u->limits->allow_devices)
        return 0;
    cleanup_close int parent = images_open_dir_in_root(u->rootfd, parent_rel, true, err);
    if (parent < 0)
        return r = parent;
    if (util_str_has_prefix(base, ".wh."))
        return whiteout(parent, base, e, err);
    r = clear_existing(parent, base, e->type, err);
    if (r < 0)
        return r;
    switch (e->type) {
    case '0':
        return write_file(u, parent, base, e, err);
    case '5':
        return make_dir(u, parent, base, rel, e, err);
    case '1':
        return make_link(u, parent, base, e, err);
    default:
        return make_node(u, parent, base, e, err);
    }
}

static int apply_dir_times(unpack_t *u, util_error_t *err)
{
    for (size_t i = u->ndirs; i-- > 0;) {
        cleanup_close int fd = images_open_dir_in_root(u->rootfd, u->dirs[i].rel, false, err);
        if (fd == -ENOTDIR || fd == -ENOENT) { /* replaced or whited out by a later entry */
            util_error_free(err);
            continue;
        }
        if (fd < 0)
            return fd;
        struct timespec ts[2] = {u->dirs[i].mtime, u->dirs[i].mtime};
        if (futimens(fd, ts) < 0)
            return util_error_make(err, errno, "set times of `%s`", u->dirs[i].rel);
    }
    return 0;
}

int images_unpack_layer(images_stream_t *s, int dirfd, const images_limits_t *limits,
                        images_unpack_stats_t *ret_stats, util_error_t *err)
{
    unpack_t u = {.rootfd = dirfd, .limits = limits, .privileged = geteuid() == 0};
    images_tar_init(&u.tar, s, limits->max_entries);
    images_tar_entry_t e = {0};
    int r;
    while ((r = images_tar_next(&u.tar, &e, err)) > 0) {
        u.stats.entries++;
        u.stats.bytes += e.size;
        if (u.stats.bytes > limits->max_layer_bytes) {
            r = util_error_make(err, EFBIG, "layer larger than %llu bytes",
                                (unsigned long long)limits->max_layer_bytes);
            break;
        }
        r = apply_entry(&u, &e, err);
        if (r < 0)
            break;
    }
    images_tar_entry_clear(&e);
    if (r == 0)
        r = apply_dir_times(&u, err);
    for (size_t i = 0; i < u.ndirs; i++)
        free(u.dirs[i].rel);
    free(u.dirs);
    if (r == 0 && ret_stats)
        *ret_stats = u.stats;
    return r;
}
