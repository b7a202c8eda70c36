/* kubelet_config: the API objects pods use besides themselves: configmaps and secrets (volumes,
 * env, envFrom), persistentvolumeclaims and persistentvolumes (volumes). Informers keep them
 * cached on the loop; a pod's job gets a snapshot of the ones it names (the thread pool never
 * touches the caches). When one changes, the pods that name it are woken: their configMap,
 * secret and projected volumes are rewritten in place, and containers waiting for it (a
 * missing object: CreateContainerConfigError or a failed mount) are retried at once.
 * Upstream's kubelet uses per-object watches (the watch-based managers); one informer per
 * resource is the simpler equivalent for a node that runs up to 110 pods. */
#include "kubelet_pods_internal.h"

#include <stdlib.h>

enum { CFG_CM, CFG_SECRET, CFG_PVC, CFG_PV, CFG_N };

static const client_resource_t resources[CFG_N] = {
    {"", "v1", "configmaps", true},
    {"", "v1", "secrets", true},
    {"", "v1", "persistentvolumeclaims", true},
    {"", "v1", "persistentvolumes", false},
};
static const char *const keys[CFG_N] = {"configmaps", "secrets", "pvcs", "pvs"};

typedef struct kubelet_config kcfg_t;

typedef struct kcfg_inf {
    kcfg_t *cfg;
    int kind;
    client_informer_t *inf;
} kcfg_inf_t;

struct kubelet_config {
    kpods_t *ps;
    kcfg_inf_t infs[CFG_N];
};

/* ---- what a pod refers to ------------------------------------------------------------------ */

typedef void (*ref_fn)(void *ud, int kind, const char *name);

static void refs_of_container(const cJSON *c, ref_fn fn, void *ud)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, jget(c, "env"))
    {
        const cJSON *from = jget(e, "valueFrom");
        const char *n = jstr(jget(from, "configMapKeyRef"), "name");
        if (n)
            fn(ud, CFG_CM, n);
        n = jstr(jget(from, "secretKeyRef"), "name");
        if (n)
            fn(ud, CFG_SECRET, n);
    }
    cJSON_ArrayForEach(e, jget(c, "envFrom"))
    {
        const char *n = jstr(jget(e, "configMapRef"), "name");
        if (n)
            fn(ud, CFG_CM, n);
        n = jstr(jget(e, "secretRef"), "name");
        if (n)
            fn(ud, CFG_SECRET, n);
    }
}

static void refs_of_pod(const cJSON *pod, ref_fn fn, void *ud)
{
    const cJSON *spec = jget(pod, "spec"), *v, *c;
    cJSON_ArrayForEach(v, jget(spec, "volumes"))
    {
        const char *n = jstr(jget(v, "configMap"), "name");
        if (n)
            fn(ud, CFG_CM, n);
        n = jstr(jget(v, "secret"), "secretName");
        if (n)
            fn(ud, CFG_SECRET, n);
        n = jstr(jget(v, "persistentVolumeClaim"), "claimName");
        if (n)
            fn(ud, CFG_PVC, n);
        const cJSON *src;
        cJSON_ArrayForEach(src, jget(jget(v, "projected"), "sources"))
        {
            n = jstr(jget(src, "configMap"), "name");
            if (n)
                fn(ud, CFG_CM, n);
            n = jstr(jget(src, "secret"), "name");
            if (n)
                fn(ud, CFG_SECRET, n);
        }
    }
    cJSON_ArrayForEach(c, jget(spec, "initContainers")) refs_of_container(c, fn, ud);
    cJSON_ArrayForEach(c, jget(spec, "containers")) refs_of_container(c, fn, ud);
}

/* ---- snapshots ----------------------------------------------------------------------------- */

typedef struct snap {
    kcfg_t *cfg;
    const char *ns;
    cJSON *out;
} snap_t;

static void snap_add(void *ud, int kind, const char *name)
{
    snap_t *s = ud;
    cJSON *m = cJSON_GetObjectItemCaseSensitive(s->out, keys[kind]);
    if (cJSON_GetObjectItemCaseSensitive(m, name))
        return;
    const cJSON *o = client_informer_get(s->cfg->infs[kind].inf, s->ns, name);
    if (!o)
        return;
    cJSON_AddItemToObject(m, name, cJSON_Duplicate(o, true));
    if (kind == CFG_PVC) {
        const char *pv = jstr(jget(o, "spec"), "volumeName");
        cJSON *pvs = cJSON_GetObjectItemCaseSensitive(s->out, keys[CFG_PV]);
        const cJSON *po =
            pv && *pv ? client_informer_get(s->cfg->infs[CFG_PV].inf, NULL, pv) : NULL;
        if (po && !cJSON_GetObjectItemCaseSensitive(pvs, pv))
            cJSON_AddItemToObject(pvs, pv, cJSON_Duplicate(po, true));
    }
}

cJSON *kubelet__config_snapshot(kpods_t *ps, const cJSON *pod)
{
    cJSON *out = cJSON_CreateObject();
    for (int k = 0; k < CFG_N; k++)
        cJSON_AddObjectToObject(out, keys[k]);
    if (!ps->cfg || !pod)
        return out;
    const char *ns = jstr(jget(pod, "metadata"), "namespace");
    snap_t s = {.cfg = ps->cfg, .ns = ns ? ns : "default", .out = out};
    refs_of_pod(pod, snap_add, &s);
    return out;
}

/* ---- change notification ------------------------------------------------------------------- */

typedef struct match {
    int kind;
    const char *name;
    bool found;
} match_t;

static void match_ref(void *ud, int kind, const char *name)
{
    match_t *m = ud;
    if (kind == m->kind && !strcmp(name, m->name))
        m->found = true;
}

/* A PV names no pod directly: the claims bound to it do. */
static bool pod_uses(kcfg_t *cfg, const kpod_t *p, int kind, const char *ns, const char *name)
{
    const char *pns = p->ns ? p->ns : "default";
    if (kind == CFG_PV) {
        const cJSON *v;
        cJSON_ArrayForEach(v, jget(jget(p->obj, "spec"), "volumes"))
        {
            const char *claim = jstr(jget(v, "persistentVolumeClaim"), "claimName");
            const cJSON *pvc =
                claim ? client_informer_get(cfg->infs[CFG_PVC].inf, pns, claim) : NULL;
            const char *vn = jstr(jget(pvc, "spec"), "volumeName");
            if (vn && !strcmp(vn, name))
                return true;
        }
        return false;
    }
    if (strcmp(pns, ns ? ns : ""))
        return false;
    match_t m = {.kind = kind, .name = name};
    refs_of_pod(p->obj, match_ref, &m);
    return m.found;
}

static void changed(kcfg_inf_t *ci, const cJSON *obj)
{
    kpods_t *ps = ci->cfg->ps;
    const cJSON *meta = jget(obj, "metadata");
    const char *name = jstr(meta, "name"), *ns = jstr(meta, "namespace");
    if (!name || !ps->started)
        return;
    for (kpod_t *p = ps->pods, *next; p; p = next) {
        next = p->next;
        if (!p->obj || p->gone || p->deleting || !pod_uses(ci->cfg, p, ci->kind, ns, name))
            continue;
        p->vol_dirty = true;
        for (size_t i = 0; i < p->n; i++) {
            kctr_t *c = &p->ctrs[i];
            if (c->state == KUBELET_CS_WAITING && !c->id[0] && c->reason &&
                (!strcmp(c->reason, "CreateContainerConfigError") ||
                 !strcmp(c->reason, "ContainerCreating")))
                c->retry_at = 0;
        }
        kubelet__pod_sync(p);
    }
}

static void on_add(void *ud, const cJSON *obj)
{
    changed(ud, obj);
}

static void on_update(void *ud, const cJSON *old, const cJSON *obj)
{
    (void)old;
    changed(ud, obj);
}

/* ---- start and stop ------------------------------------------------------------------------ */

void kubelet__config_start(kpods_t *ps)
{
    kcfg_t *cfg = util_xcalloc(1, sizeof(*cfg));
    cfg->ps = ps;
    ps->cfg = cfg;
    client_informer_handlers_t h = {.on_add = on_add, .on_update = on_update, .on_delete = on_add};
    for (int k = 0; k < CFG_N; k++) {
        cfg->infs[k] = (kcfg_inf_t){.cfg = cfg, .kind = k};
        client_informer_opts_t o = {.resource = &resources[k]};
        util_error_t err = NULL;
        if (client_informer_start(ps->k->client, &o, &h, &cfg->infs[k], &cfg->infs[k].inf, &err) <
            0) {
            char b[512];
            kubelet__errtext(&err, b, sizeof(b));
            util_log_error("kubelet: %s informer: %s", resources[k].plural, b);
        }
    }
}

void kubelet__config_stop(kpods_t *ps)
{
    kcfg_t *cfg = ps->cfg;
    if (!cfg)
        return;
    for (int k = 0; k < CFG_N; k++)
        client_informer_stop(cfg->infs[k].inf);
    free(cfg);
    ps->cfg = NULL;
}

bool kubelet__pod_meta_changed(const cJSON *old, const cJSON *obj)
{
    static const char *const fields[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *a = jget(jget(old, "metadata"), fields[i]),
                    *b = jget(jget(obj, "metadata"), fields[i]);
        if ((a || b) && (!a || !b || !cJSON_Compare(a, b, true)))
            return true;
    }
    return false;
}
