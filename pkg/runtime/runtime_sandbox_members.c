/* runtime_sandbox_members: which containers a sandbox holds, as empty files
 * <state>/sandboxes/<pod>/containers/<id> written before a container is created and removed
 * with it. runtime_sandbox_remove asks whether the sandbox is still in use: without these it
 * read every container's state.json (O(pods) per pod teardown); with them it reads the state
 * of the few containers listed (a marker whose container is gone is stale and ignored, so a
 * crash between the steps never keeps a sandbox busy). Sandboxes made before the directory
 * existed are answered by the full scan. */
#include "runtime_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int members_dir(const runtime_t *rt, const char *sandbox, char *buf, size_t len)
{
    cleanup_free char *dir = runtime__sandbox_dir(rt, sandbox);
    return util_snprintf(buf, len, "%s/containers", dir);
}

int runtime__sandbox_members_init(const runtime_t *rt, const char *sandbox)
{
    char d[1300];
    if (members_dir(rt, sandbox, d, sizeof(d)) < 0)
        return -ENAMETOOLONG;
    return mkdir(d, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

void runtime__sandbox_member_add(const runtime_t *rt, const char *sandbox, const char *id)
{
    char d[1300], p[1600];
    if (members_dir(rt, sandbox, d, sizeof(d)) < 0 ||
        util_snprintf(p, sizeof(p), "%s/%s", d, id) < 0)
        return;
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        close(fd); /* ENOENT: a sandbox from before the markers, scanned in full */
}

void runtime__sandbox_member_remove(const runtime_t *rt, const char *sandbox, const char *id)
{
    char d[1300], p[1600];
    if (members_dir(rt, sandbox, d, sizeof(d)) == 0 &&
        util_snprintf(p, sizeof(p), "%s/%s", d, id) == 0)
        unlink(p);
}

static bool container_in(const runtime_t *rt, const char *id, const char *sandbox)
{
    cleanup_free char *dir = runtime__container_dir(rt, id);
    runtime_container_state_t st;
    util_error_t e = NULL;
    bool in = false;
    if (runtime__state_read(dir, &st, &e) == 0) /* gone or unreadable: not in use, as before */
        in = !strcmp(st.sandbox_id, sandbox);
    util_error_free(&e);
    return in;
}

int runtime__sandbox_members_in_use(const runtime_t *rt, const char *sandbox)
{
    char d[1300];
    if (members_dir(rt, sandbox, d, sizeof(d)) < 0)
        return -ENAMETOOLONG;
    cleanup_dir DIR *dir = opendir(d);
    if (!dir)
        return -errno;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.' || !runtime__id_valid(e->d_name))
            continue;
        if (container_in(rt, e->d_name, sandbox))
            return 1;
    }
    return 0;
}

void runtime__sandbox_members_clear(const runtime_t *rt, const char *sandbox)
{
    char d[1300], p[1600];
    if (members_dir(rt, sandbox, d, sizeof(d)) < 0)
        return;
    cleanup_dir DIR *dir = opendir(d);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (e->d_name[0] != '.' && util_snprintf(p, sizeof(p), "%s/%s", d, e->d_name) == 0)
            unlink(p);
    }
    rmdir(d);
}
