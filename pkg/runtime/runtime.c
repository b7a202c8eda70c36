/* runtime: opening the state directory, cgroup detection, directory helpers. */
#include "runtime_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int runtime_open(const runtime_config_t *cfg, runtime_t **ret, util_error_t *err)
{
    if (!cfg->state_dir || cfg->state_dir[0] != '/')
        return util_error_make(err, EINVAL, "runtime state dir must be an absolute path");
    if (strlen(cfg->state_dir) > 1024)
        return util_error_make(err, ENAMETOOLONG, "runtime state dir too long");
    const char *root = cfg->cgroup_root ? cfg->cgroup_root : "kubeling";
    if (!runtime__id_valid(root))
        return util_error_make(err, EINVAL, "invalid cgroup root \"%s\"", root);
    runtime_t *rt = util_xcalloc(1, sizeof(*rt));
    int r = runtime__cgroups_detect(&rt->cg, err);
    char sub[1200];
    for (int i = 0; r == 0 && i < 2; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", cfg->state_dir, i ? "containers" : "sandboxes");
        r = util_mkdir_p(sub, 0700, err);
    }
    if (r < 0) {
        free(rt);
        return r;
    }
    rt->state_dir = util_xstrdup(cfg->state_dir);
    rt->cgroup_root = util_xstrdup(root);
    rt->shim_exe = util_xstrdup(cfg->shim_exe ? cfg->shim_exe : "/proc/self/exe");
    *ret = rt;
    return 0;
}

runtime_t *runtime_close(runtime_t *rt)
{
    if (!rt)
        return NULL;
    free(rt->state_dir);
    free(rt->cgroup_root);
    free(rt->shim_exe);
    free(rt);
    return NULL;
}

runtime_cgroup_mode_t runtime_cgroup_mode(const runtime_t *rt)
{
    return rt->cg.mode;
}

char *runtime__container_dir(const runtime_t *rt, const char *id)
{
    return util_strdup_printf("%s/containers/%s", rt->state_dir, id);
}

char *runtime__sandbox_dir(const runtime_t *rt, const char *id)
{
    return util_strdup_printf("%s/sandboxes/%s", rt->state_dir, id);
}
