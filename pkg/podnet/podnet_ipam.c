/* podnet_ipam: host-local address allocation persisted in the data dir (the CNI host-local
 * plugin's disk layout and round robin, written durably and reconciled against live pods). */
#include "podnet_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define OWNER_MAX 8192 /* an owner file is "uid\nnetns\n" */
#define LAST_FILE "last_reserved_ip"
#define INDEX_DIR "by-uid"

static void index_rebuild(podnet_ipam_t *ip);

int podnet_ipam_init(podnet_ipam_t *ip, const char *dir, const podnet_cidr_t *range,
                     util_error_t *err)
{
    if (range->prefix < 16 || range->prefix > 30)
        return util_error_make(err, EINVAL, "a node's pod range must be /16 to /30, not /%d",
                               range->prefix);
    if (util_strlcpy(ip->dir, dir, sizeof(ip->dir)) < 0)
        return util_error_make(err, ENAMETOOLONG, "IPAM directory path too long");
    ip->range = *range;
    ip->gateway = range->addr + 1;
    ip->indexed = false;
    int r = util_mkdir_p(dir, 0700, err);
    if (r == 0)
        index_rebuild(ip);
    return r;
}

/* A uid or netns path we store must be one line of printable bytes. */
static bool valid_field(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int lock_dir(const podnet_ipam_t *ip, util_error_t *err)
{
    char path[PATH_MAX];
    if (util_path_join(path, sizeof(path), ip->dir, "lock") < 0)
        return util_error_make(err, ENAMETOOLONG, "IPAM lock path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return util_error_make(err, errno, "open `%s`", path);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return util_error_make(err, e, "lock `%s`", path);
        }
    }
    return fd;
}

static int sync_dir(const podnet_ipam_t *ip, util_error_t *err)
{
    cleanup_close int fd = open(ip->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return util_error_make(err, errno, "sync `%s`", ip->dir);
    return 0;
}

/* The address an entry name stands for, or false when it is not an address file. */
static bool entry_addr(const char *name, uint32_t *ret)
{
    struct in_addr in;
    if (inet_pton(AF_INET, name, &in) != 1)
        return false;
    *ret = ntohl(in.s_addr);
    return true;
}

/* Reads the owner uid (first line) of an address file; false when unreadable or malformed. */
static bool read_owner(int dfd, const char *name, char *uid, size_t len)
{
    cleanup_close int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    char buf[OWNER_MAX];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (!nl)
        return false;
    *nl = '\0';
    return valid_field(buf, len) && util_strlcpy(uid, buf, len) == 0;
}

/* Calls fn for every address file; fn returns 1 to stop. Other entries are left alone, but
 * temp files of an allocation that crashed are removed. */
typedef int (*entry_fn)(int dfd, const char *name, uint32_t addr, const char *owner, void *ud);

static int for_each_entry(const podnet_ipam_t *ip, entry_fn fn, void *ud, util_error_t *err)
{
    DIR *d = opendir(ip->dir);
    if (!d)
        return util_error_make(err, errno, "open `%s`", ip->dir);
    cleanup_dir DIR *dir = d;
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(dir)) != NULL) {
        uint32_t addr;
        if (strstr(de->d_name, ".alloc.")) {
            (void)unlinkat(dirfd(dir), de->d_name, 0);
            continue;
        }
        if (!entry_addr(de->d_name, &addr))
            continue;
        char owner[PODNET_UID_MAX];
        if (!read_owner(dirfd(dir), de->d_name, owner, sizeof(owner)))
            owner[0] = '\0';
        r = fn(dirfd(dir), de->d_name, addr, owner, ud);
    }
    return r < 0 ? util_error_make(err, -r, "scan `%s`", ip->dir) : 0;
}

typedef struct find_ctx {
    const char *uid;
    uint32_t addr;
    bool found;
} find_ctx_t;

static int find_fn(int dfd, const char *name, uint32_t addr, const char *owner, void *ud)
{
    (void)dfd, (void)name;
    find_ctx_t *f = ud;
    if (strcmp(owner, f->uid) != 0)
        return 0;
    f->addr = addr;
    f->found = true;
    return 1;
}

/* ---- the by-uid index ------------------------------------------------------------------- */

/* Only uids that are plain file names are indexed (podnet's own check allows no others). */
static bool index_name_ok(const char *uid)
{
    size_t n = strlen(uid);
    if (n == 0 || n >= PODNET_UID_MAX || uid[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = uid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static int index_path(const podnet_ipam_t *ip, const char *uid, char *buf, size_t n)
{
    return util_snprintf(buf, n, "%s/" INDEX_DIR "/%s", ip->dir, uid);
}

/* Records that uid owns addr (lock held). */
static void index_set(podnet_ipam_t *ip, const char *uid, uint32_t addr)
{
    char path[PATH_MAX], target[16];
    if (!ip->indexed)
        return;
    if (!index_name_ok(uid) || index_path(ip, uid, path, sizeof(path)) < 0) {
        ip->indexed = false;
        return;
    }
    podnet_ip_format(addr, target, sizeof(target));
    if (unlink(path) < 0 && errno != ENOENT)
        ip->indexed = false;
    else if (symlink(target, path) < 0)
        ip->indexed = false;
}

/* The address the index names for uid, confirmed by its file's owner: 0, -ENOENT (the index
 * is complete, so uid owns none), or 1: not known from the index, scan. Lock held. */
static int index_get(const podnet_ipam_t *ip, const char *uid, uint32_t *ret)
{
    char path[PATH_MAX], target[32], addr_path[PATH_MAX], owner[PODNET_UID_MAX];
    if (!ip->indexed || !index_name_ok(uid) || index_path(ip, uid, path, sizeof(path)) < 0)
        return 1;
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return errno == ENOENT ? -ENOENT : 1;
    target[n] = '\0';
    uint32_t addr;
    if (!entry_addr(target, &addr) ||
        util_path_join(addr_path, sizeof(addr_path), ip->dir, target) < 0)
        return 1;
    if (!read_owner(AT_FDCWD, addr_path, owner, sizeof(owner)) || strcmp(owner, uid) != 0) {
        unlink(path); /* stale: the address went to another pod or away */
        return -ENOENT;
    }
    *ret = addr;
    return 0;
}

typedef struct rebuild_ctx {
    int dfd; /* the index directory */
    bool ok;
} rebuild_ctx_t;

static int rebuild_fn(int dfd, const char *name, uint32_t addr, const char *owner, void *ud)
{
    (void)dfd, (void)addr;
    rebuild_ctx_t *c = ud;
    if (!owner[0]) /* unreadable: reconcile frees it; it names nobody */
        return 0;
    if (!index_name_ok(owner) || symlinkat(name, c->dfd, owner) < 0)
        c->ok = false; /* EEXIST: a uid with two addresses */
    return 0;
}

/* Makes the index again from the address files (takes the lock). */
static void index_rebuild(podnet_ipam_t *ip)
{
    char path[PATH_MAX];
    util_error_t e = NULL;
    ip->indexed = false;
    if (util_path_join(path, sizeof(path), ip->dir, INDEX_DIR) < 0 ||
        util_mkdir_p(path, 0700, &e) < 0) {
        util_error_free(&e);
        return;
    }
    cleanup_close int lock = lock_dir(ip, &e);
    if (lock < 0) {
        util_error_free(&e);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    cleanup_dir DIR *dir = d;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL)
        if (de->d_name[0] != '.')
            (void)unlinkat(dirfd(dir), de->d_name, 0);
    rebuild_ctx_t c = {.dfd = dirfd(dir), .ok = true};
    if (for_each_entry(ip, rebuild_fn, &c, &e) < 0) {
        util_error_free(&e);
        return;
    }
    ip->indexed = c.ok;
}

static int lookup_locked(podnet_ipam_t *ip, const char *uid, uint32_t *ret, util_error_t *err)
{
    int r = index_get(ip, uid, ret);
    if (r <= 0)
        return r;
    find_ctx_t f = {.uid = uid};
    r = for_each_entry(ip, find_fn, &f, err);
    if (r < 0)
        return r;
    if (!f.found)
        return -ENOENT;
    *ret = f.addr;
    return 0;
}

int podnet_ipam_lookup(podnet_ipam_t *ip, const char *uid, uint32_t *ret, util_error_t *err)
{
    if (!valid_field(uid, PODNET_UID_MAX))
        return util_error_make(err, EINVAL, "invalid pod uid");
    cleanup_close int lock = lock_dir(ip, err);
    if (lock < 0)
        return lock;
    return lookup_locked(ip, uid, ret, err);
}

/* Creates the address file whole or not at all: a temp file is written and fsynced, then
 * linked to its name (link fails with EEXIST when the address is taken, so two allocators can
 * never both win it). Returns 0, -EEXIST, or another negative errno with err set. */
static int claim(podnet_ipam_t *ip, uint32_t addr, const char *content, util_error_t *err)
{
    char name[16], tmp[PATH_MAX], path[PATH_MAX];
    podnet_ip_format(addr, name, sizeof(name));
    if (util_snprintf(tmp, sizeof(tmp), "%s/%s.alloc.%ld", ip->dir, name, (long)getpid()) < 0 ||
        util_path_join(path, sizeof(path), ip->dir, name) < 0)
        return util_error_make(err, ENAMETOOLONG, "IPAM path too long");
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return util_error_make(err, errno, "create `%s`", tmp);
    size_t len = strlen(content);
    int r = write(fd, content, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -(errno ? errno : EIO);
    if (r == 0 && link(tmp, path) < 0)
        r = -errno;
    unlink(tmp);
    if (r == -EEXIST)
        return r;
    if (r < 0)
        return util_error_make(err, -r, "write `%s`", path);
    return sync_dir(ip, err);
}

static uint32_t read_last(const podnet_ipam_t *ip)
{
    char path[PATH_MAX];
    cleanup_free char *data = NULL;
    cleanup_error util_error_t e = NULL;
    uint32_t addr;
    if (util_path_join(path, sizeof(path), ip->dir, LAST_FILE) < 0 ||
        util_read_file(path, 64, &data, NULL, &e) < 0)
        return ip->gateway;
    data[strcspn(data, "\n")] = '\0';
    if (!entry_addr(data, &addr) || !podnet_cidr_contains(&ip->range, addr))
        return ip->gateway;
    return addr;
}

/* The round-robin hint is written without fsync: after a crash it may be stale or empty, which
 * only moves where the next search starts (read_last falls back to the range start). */
static void write_last(const podnet_ipam_t *ip, uint32_t addr)
{
    char path[PATH_MAX], tmp[PATH_MAX], text[20];
    podnet_ip_format(addr, text, sizeof(text));
    strcat(text, "\n");
    if (util_path_join(path, sizeof(path), ip->dir, LAST_FILE) < 0 ||
        util_snprintf(tmp, sizeof(tmp), "%s.alloc.%ld", path, (long)getpid()) < 0)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    if (!ok || rename(tmp, path) < 0)
        unlink(tmp);
}

static bool allocatable(const podnet_ipam_t *ip, uint32_t addr)
{
    uint32_t bcast = ip->range.addr | ~(0xffffffffu << (32 - ip->range.prefix));
    return addr != ip->range.addr && addr != bcast && addr != ip->gateway;
}

static int allocate_locked(podnet_ipam_t *ip, const char *uid, const char *content, uint32_t *ret,
                           util_error_t *err)
{
    uint32_t size = 1u << (32 - ip->range.prefix);
    uint32_t last = read_last(ip);
    for (uint32_t i = 1; i <= size; i++) {
        uint32_t cand = ip->range.addr + ((last - ip->range.addr + i) & (size - 1));
        if (!allocatable(ip, cand))
            continue;
        int r = claim(ip, cand, content, err);
        if (r == -EEXIST)
            continue;
        if (r < 0)
            return r;
        write_last(ip, cand);
        index_set(ip, uid, cand);
        *ret = cand;
        return 0;
    }
    char cidr[24];
    podnet_cidr_format(&ip->range, cidr, sizeof(cidr));
    return util_error_make(err, ENOSPC, "no free address in %s: every pod address is allocated",
                           cidr);
}

int podnet_ipam_allocate(podnet_ipam_t *ip, const char *uid, const char *netns, uint32_t *ret,
                         util_error_t *err)
{
    if (!valid_field(uid, PODNET_UID_MAX) || !valid_field(netns, PATH_MAX))
        return util_error_make(err, EINVAL, "invalid pod uid or netns path");
    cleanup_close int lock = lock_dir(ip, err);
    if (lock < 0)
        return lock;
    int r = lookup_locked(ip, uid, ret, err);
    if (r != -ENOENT)
        return r;
    cleanup_free char *content = util_strdup_printf("%s\n%s\n", uid, netns);
    return allocate_locked(ip, uid, content, ret, err);
}

/* ---- release and reconcile ---------------------------------------------------------------- */

typedef struct release_ctx {
    const char *uid;         /* release this owner's files, or */
    const char *const *live; /* every file whose owner is not live */
    size_t nlive;
    size_t freed;
    int error;
} release_ctx_t;

static bool is_live(const release_ctx_t *c, const char *owner)
{
    for (size_t i = 0; i < c->nlive; i++)
        if (c->live[i] && strcmp(c->live[i], owner) == 0)
            return true;
    return false;
}

static int release_fn(int dfd, const char *name, uint32_t addr, const char *owner, void *ud)
{
    (void)addr;
    release_ctx_t *c = ud;
    bool drop = c->uid ? strcmp(owner, c->uid) == 0 : (owner[0] == '\0' || !is_live(c, owner));
    if (!drop)
        return 0;
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
        c->error = errno;
        return 0;
    }
    c->freed++;
    return 0;
}

static int release_run(podnet_ipam_t *ip, release_ctx_t *c, util_error_t *err)
{
    cleanup_close int lock = lock_dir(ip, err);
    if (lock < 0)
        return lock;
    int r = for_each_entry(ip, release_fn, c, err);
    if (r < 0)
        return r;
    if (c->error)
        return util_error_make(err, c->error, "release address in `%s`", ip->dir);
    /* No fsync: a release lost in a crash brings back a file whose owner is gone, and the
     * reconcile at start frees it. Only allocations must be durable. */
    return 0;
}

int podnet_ipam_release(podnet_ipam_t *ip, const char *uid, util_error_t *err)
{
    if (!valid_field(uid, PODNET_UID_MAX))
        return util_error_make(err, EINVAL, "invalid pod uid");
    {
        cleanup_close int lock = lock_dir(ip, err);
        if (lock < 0)
            return lock;
        uint32_t addr;
        char name[16], path[PATH_MAX];
        int r = index_get(ip, uid, &addr);
        if (r == -ENOENT)
            return 0;
        if (r == 0) { /* the index is complete and names its one address */
            podnet_ip_format(addr, name, sizeof(name));
            if (util_path_join(path, sizeof(path), ip->dir, name) == 0 && unlink(path) < 0 &&
                errno != ENOENT)
                return util_error_make(err, errno, "release address in `%s`", ip->dir);
            if (index_path(ip, uid, path, sizeof(path)) == 0)
                (void)unlink(path);
            return 0;
        }
    }
    release_ctx_t c = {.uid = uid};
    return release_run(ip, &c, err);
}

int podnet_ipam_reconcile(podnet_ipam_t *ip, const char *const *live, size_t n, size_t *ret_freed,
                          util_error_t *err)
{
    release_ctx_t c = {.live = live, .nlive = n};
    int r = release_run(ip, &c, err);
    if (r == 0 && ret_freed)
        *ret_freed = c.freed;
    if (r == 0 && c.freed)
        index_rebuild(ip); /* the freed addresses' owners leave the index */
    return r;
}
