/* kubelet_fsgroup: the pod's securityContext.fsGroup and supplementalGroups: the container
 * process's supplementary groups, and upstream's SetVolumeOwnership
 * (pkg/volume/volume_linux.go) on the volumes whose plugins manage ownership. */
#include "kubelet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#define RW_MASK   0660
#define RO_MASK   0440
#define EXEC_MASK 0110
#define MAX_DEPTH 128 /* a deeper tree is left as it is (and reported) */

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static bool gid_of(const cJSON *n, gid_t *ret)
{
    if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 4294967294.0 ||
        n->valuedouble != (double)(int64_t)n->valuedouble)
        return false;
    *ret = (gid_t)n->valuedouble;
    return true;
}

bool kubelet_pod_fs_group(const cJSON *spec, gid_t *ret)
{
    return gid_of(jget(jget(spec, "securityContext"), "fsGroup"), ret);
}

static size_t add_group(gid_t *v, size_t n, size_t max, gid_t g)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == g)
            return n;
    if (n < max)
        v[n++] = g;
    return n;
}

/* upstream's determineEffectiveSecurityContext: fsGroup first, then supplementalGroups */
size_t kubelet_pod_groups(const cJSON *spec, gid_t *ret, size_t max)
{
    size_t n = 0;
    gid_t g;
    if (kubelet_pod_fs_group(spec, &g))
        n = add_group(ret, n, max, g);
    const cJSON *e;
    cJSON_ArrayForEach(e, jget(jget(spec, "securityContext"), "supplementalGroups"))
    {
        if (gid_of(e, &g))
            n = add_group(ret, n, max, g);
    }
    return n;
}

/* upstream's requiresPermissionChange: the root has the group, the mask and setgid. */
static bool root_matches(int fd, gid_t gid, bool readonly)
{
    struct stat st;
    mode_t want = (readonly ? RO_MASK : RW_MASK) | EXEC_MASK;
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_gid == gid &&
           (st.st_mode & want) == want && (st.st_mode & S_ISGID);
}

/* changeFilePermission on one file, by an fd (O_PATH, or the directory itself): Lchown to the
 * group, then mode | mask (| setgid and exec for directories); symlinks keep their mode. */
static int change_one(int fd, gid_t gid, bool readonly)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0)
        return -errno;
    if (S_ISLNK(st.st_mode))
        return 0;
    mode_t mask = readonly ? RO_MASK : RW_MASK;
    if (S_ISDIR(st.st_mode))
        mask |= S_ISGID | EXEC_MASK;
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd); /* the file itself, even for O_PATH */
    return chmod(p, (st.st_mode & 07777) | mask) < 0 ? -errno : 0;
}

/* Walks a directory by fds without following links (a container may swap a directory for a
 * link meanwhile: the opens refuse it, or change the link itself). Takes dfd. */
static int walk(int dfd, gid_t gid, bool readonly, int depth)
{
    int r = change_one(dfd, gid, readonly);
    DIR *d = r == 0 && depth < MAX_DEPTH ? fdopendir(dfd) : NULL;
    if (!d) {
        close(dfd);
        return r < 0 ? r : depth < MAX_DEPTH ? -errno : -ELOOP;
    }
    struct dirent *e;
    while (r == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                r = walk(sub, gid, readonly, depth + 1);
        } else {
            int f = openat(dirfd(d), e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (f >= 0) {
                r = change_one(f, gid, readonly);
                close(f);
            }
        }
    }
    closedir(d);
    return r;
}

int kubelet_volume_ownership(const char *dir, gid_t gid, bool readonly, bool on_root_mismatch,
                             util_error_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return util_error_make(err, errno, "open %s", dir);
    if (on_root_mismatch && root_matches(fd, gid, readonly)) {
        close(fd);
        return 0;
    }
    int r = walk(fd, gid, readonly, 0);
    return r < 0 ? util_error_make(err, -r, "set the group of %s to %u", dir, (unsigned)gid) : 0;
}
