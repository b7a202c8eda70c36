/* runtime_cleanup: `kubeling killall`: every container, shim, mount, cgroup and state file the
 * runtime made goes away, whatever state a crash left them in. */
#include "runtime_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

/* The recorded shim pid is ours only if that process still is a `kubeling shim` of this id
 * (pids are reused). */
static bool is_our_shim(pid_t pid, const char *id)
{
    char path[64];
    cleanup_free char *cmd = NULL;
    size_t len = 0;
    util_error_t e = NULL;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    int r = util_read_file(path, 8192, &cmd, &len, &e);
    util_error_free(&e);
    if (r < 0)
        return false;
    bool shim = false, ours = false;
    for (size_t off = 0; off < len; off += strlen(cmd + off) + 1) {
        shim |= !strcmp(cmd + off, "shim");
        ours |= !strcmp(cmd + off, id);
    }
    return shim && ours;
}

static void kill_containers(runtime_t *rt)
{
    util_strv_t ids = {0};
    util_error_t e = NULL;
    runtime_container_list(rt, &ids, &e);
    util_error_free(&e);
    for (size_t i = 0; i < ids.n; i++) {
        cleanup_free char *dir = runtime__container_dir(rt, ids.v[i]);
        runtime_container_state_t st;
        if (runtime__state_read(dir, &st, &e) == 0 && st.shim_pid > 0 &&
            is_our_shim(st.shim_pid, ids.v[i]))
            kill(st.shim_pid, SIGKILL);
        util_error_free(&e);
        runtime_container_delete(rt, ids.v[i], &e); /* kills the cgroup's processes too */
        util_error_free(&e);
    }
    util_strv_clear(&ids);
}

/* Anything still mounted under the state dir (mountinfo order is parent first, so unmount
 * from the end). */
static void unmount_leftovers(const char *state_dir)
{
    cleanup_free char *mi = NULL;
    util_error_t e = NULL;
    if (util_read_file("/proc/self/mountinfo", 4 << 20, &mi, NULL, &e) < 0) {
        util_error_free(&e);
        return;
    }
    util_strv_t targets = {0};
    size_t plen = strlen(state_dir);
    char *save = NULL;
    for (char *line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f = line;
        for (int i = 0; i < 4 && f; i++) {
            f = strchr(f, ' ');
            f = f ? f + 1 : NULL;
        }
        char *end = f ? strchr(f, ' ') : NULL;
        if (!end)
            continue;
        *end = 0;
        if (!strncmp(f, state_dir, plen) && f[plen] == '/')
            util_strv_push(&targets, f);
    }
    for (size_t i = targets.n; i > 0; i--)
        umount2(targets.v[i - 1], MNT_DETACH);
    util_strv_clear(&targets);
}

int runtime_cleanup_all(const runtime_config_t *cfg, util_error_t *err)
{
    runtime_t *rt = NULL;
    int r = runtime_open(cfg, &rt, err);
    if (r < 0)
        return r;
    kill_containers(rt);
    util_strv_t ids = {0};
    util_error_t e = NULL;
    runtime_sandbox_list(rt, &ids, &e);
    util_error_free(&e);
    for (size_t i = 0; i < ids.n; i++) {
        if (runtime_sandbox_remove(rt, ids.v[i], &e) < 0 && r == 0)
            r = util_error_make(err, util_error_code(e) ? -util_error_code(e) : EIO, "%s", e->msg);
        util_error_free(&e);
    }
    util_strv_clear(&ids);
    unmount_leftovers(rt->state_dir);
    if (runtime__cgroup_destroy(&rt->cg, rt->cgroup_root, &e) < 0 && r == 0)
        r = util_error_make(err, EBUSY, "%s", e->msg);
    util_error_free(&e);
    char p[1200];
    snprintf(p, sizeof(p), "%s/containers", rt->state_dir);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/sandboxes", rt->state_dir);
    rmdir(p);
    rmdir(rt->state_dir);
    runtime_close(rt);
    return r;
}
