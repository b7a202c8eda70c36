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

enum { CFG_CM, CFG_SECRET, CFG_PVC, CFG_PV, CFG_SA, CFG_N };

static const client_resource_t resources[CFG_N] = {
    {"", "v1", "configmaps", true},
    {"", "v1", "secrets", true},
    {"", "v1", "persistentvolumeclaims", true},
    {"", "v1", "persistentvolumes", false},
    {"", "v1", "serviceaccounts", true}, /* their imagePullSecrets (kubelet_pull.c) */
};
static const char *const keys[CFG_N] = {"configmaps", "secrets", "pvcs", "pvs", "serviceaccounts"};

typedef struct kubelet_config kcfg_t;

/* A service account token of a projected volume: one per pod and (audience, lifetime). */
typedef struct ktoken {
    struct ktoken *next;
    kcfg_t *cfg;
    char *uid, *ns, *pod, *sa, *audience, *key;
    int64_t seconds;
    char *token;         /* NULL until the first answer */
    uint64_t refresh_at; /* loop time: 80 % of its lifetime, as upstream's token manager */
    uint64_t retry_at;   /* after a failed request */
    client_req_t *req;
} ktoken_t;

typedef struct kcfg_inf {
    kcfg_t *cfg;
    int kind;
    client_informer_t *inf;
} kcfg_inf_t;

struct kubelet_config {
    kpods_t *ps;
    kcfg_inf_t infs[CFG_N];
    ktoken_t *tokens;
    uv_timer_t *timer; /* the next token refresh */
};

static void tokens_add(kcfg_t *cfg, const cJSON *pod, cJSON *out);

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
    cJSON_ArrayForEach(v, jget(spec, "imagePullSecrets"))
    {
        const char *n = jstr(v, "name");
        if (n && *n)
            fn(ud, CFG_SECRET, n);
    }
    const char *sa = jstr(spec, "serviceAccountName");
    fn(ud, CFG_SA, sa && *sa ? sa : "default");
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
    if (kind == CFG_SA) { /* the ServiceAccount's pull secrets come along */
        const cJSON *e;
        cJSON_ArrayForEach(e, jget(o, "imagePullSecrets"))
        {
            const char *n = jstr(e, "name");
            if (n && *n)
                snap_add(ud, CFG_SECRET, n);
        }
    }
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
    tokens_add(ps->cfg, pod, cJSON_AddObjectToObject(out, "tokens"));
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

/* Rewrites the pod's volumes, retries its containers waiting for a config object at once. */
static void wake(kpod_t *p)
{
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
        wake(p);
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

/* ---- service account tokens (projected serviceAccountToken sources) ------------------------- */

static const client_resource_t res_sa = {"", "v1", "serviceaccounts", true};

#define TOKEN_RETRY_MS 5000

static void token_free(ktoken_t *t)
{
    client_req_cancel(t->req);
    free(t->uid);
    free(t->ns);
    free(t->pod);
    free(t->sa);
    free(t->audience);
    free(t->key);
    free(t->token);
    free(t);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void token_request(ktoken_t *t);

static kpod_t *pod_by_uid(kpods_t *ps, const char *uid)
{
    for (kpod_t *p = ps->pods; p; p = p->next)
        if (!strcmp(p->uid, uid))
            return p;
    return NULL;
}

/* Refreshes what is due, drops tokens of pods that are gone, arms the timer for the next. */
static void on_token_timer(uv_timer_t *h)
{
    kcfg_t *cfg = h->data;
    uint64_t now = uv_now(cfg->ps->k->loop), next = 0;
    for (ktoken_t **pp = &cfg->tokens; *pp;) {
        ktoken_t *t = *pp;
        kpod_t *p = pod_by_uid(cfg->ps, t->uid);
        if (!p || p->gone || p->deleting) {
            *pp = t->next;
            token_free(t);
            continue;
        }
        if (!t->req && t->refresh_at <= now && t->retry_at <= now)
            token_request(t);
        uint64_t due = t->retry_at > t->refresh_at ? t->retry_at : t->refresh_at;
        if (!t->req && (!next || due < next))
            next = due;
        pp = &t->next;
    }
    if (next)
        uv_timer_start(cfg->timer, on_token_timer, next > now ? next - now : 0, 0);
}

static void arm_timer(kcfg_t *cfg, uint64_t at)
{
    uv_loop_t *loop = cfg->ps->k->loop;
    if (!cfg->timer) {
        cfg->timer = util_xcalloc(1, sizeof(*cfg->timer));
        uv_timer_init(loop, cfg->timer);
        cfg->timer->data = cfg;
    }
    uint64_t now = uv_now(loop), in = at > now ? at - now : 0;
    if (uv_is_active((uv_handle_t *)cfg->timer) && uv_timer_get_due_in(cfg->timer) <= in)
        return;
    uv_timer_start(cfg->timer, on_token_timer, in, 0);
}

static void on_token(void *ud, client_result_t *res)
{
    ktoken_t *t = ud;
    kcfg_t *cfg = t->cfg;
    t->req = NULL;
    uint64_t now = uv_now(cfg->ps->k->loop);
    const char *tok = jstr(jget(res->body, "status"), "token");
    if ((res->status != 200 && res->status != 201) || !tok) {
        util_log_warn("kubelet: token for pod %s/%s (service account %s): %s", t->ns, t->pod, t->sa,
                      res->st.message ? res->st.message : "no token in the answer");
        t->retry_at = now + TOKEN_RETRY_MS;
        arm_timer(cfg, t->retry_at);
        return;
    }
    const cJSON *es = jget(jget(res->body, "spec"), "expirationSeconds");
    int64_t secs =
        cJSON_IsNumber(es) && es->valuedouble > 0 ? (int64_t)es->valuedouble : t->seconds;
    kubelet__set_str(&t->token, tok);
    t->retry_at = 0;
    t->refresh_at = now + (uint64_t)secs * 800; /* 80 % of the lifetime, in ms */
    if (secs > 24 * 3600)
        t->refresh_at = now + 24ull * 3600 * 1000;
    arm_timer(cfg, t->refresh_at);
    kpod_t *p = pod_by_uid(cfg->ps, t->uid);
    if (p && !p->gone && !p->deleting)
        wake(p);
}

static void token_request(ktoken_t *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "authentication.k8s.io/v1");
    cJSON_AddStringToObject(o, "kind", "TokenRequest");
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON *aud = cJSON_AddArrayToObject(spec, "audiences");
    if (t->audience[0])
        cJSON_AddItemToArray(aud, cJSON_CreateString(t->audience));
    cJSON_AddNumberToObject(spec, "expirationSeconds", (double)t->seconds);
    cJSON *b = cJSON_AddObjectToObject(spec, "boundObjectRef");
    cJSON_AddStringToObject(b, "kind", "Pod");
    cJSON_AddStringToObject(b, "apiVersion", "v1");
    cJSON_AddStringToObject(b, "name", t->pod);
    cJSON_AddStringToObject(b, "uid", t->uid);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    util_buf_t path = {0};
    if (client_path(&path, &res_sa, t->ns, t->sa, "token") == 0)
        t->req = client_request(t->cfg->ps->k->client, "POST", path.data, "application/json", body,
                                strlen(body), on_token, t);
    cJSON_free(body);
    util_buf_free(&path);
}

/* The tokens the pod's projected volumes need, into out (key: "<audience>|<seconds>"); the
 * missing ones are requested (the job then fails the mount, and the answer wakes the pod). */
static void tokens_add(kcfg_t *cfg, const cJSON *pod, cJSON *out)
{
    const cJSON *meta = jget(pod, "metadata"), *v, *src;
    const char *uid = jstr(meta, "uid"), *ns = jstr(meta, "namespace"), *name = jstr(meta, "name");
    const char *sa = jstr(jget(pod, "spec"), "serviceAccountName");
    if (!uid || !name)
        return;
    uint64_t now = uv_now(cfg->ps->k->loop);
    cJSON_ArrayForEach(v, jget(jget(pod, "spec"), "volumes"))
    {
        cJSON_ArrayForEach(src, jget(jget(v, "projected"), "sources"))
        {
            const cJSON *st = jget(src, "serviceAccountToken");
            if (!st)
                continue;
            char *key = kubelet__token_key(st);
            ktoken_t *t = cfg->tokens;
            while (t && (strcmp(t->uid, uid) || strcmp(t->key, key)))
                t = t->next;
            if (!t) {
                const cJSON *es = jget(st, "expirationSeconds");
                t = util_xcalloc(1, sizeof(*t));
                t->cfg = cfg;
                t->uid = util_xstrdup(uid);
                t->ns = util_xstrdup(ns ? ns : "default");
                t->pod = util_xstrdup(name);
                t->sa = util_xstrdup(sa && *sa ? sa : "default");
                t->audience = util_xstrdup(jstr(st, "audience") ? jstr(st, "audience") : "");
                t->key = util_xstrdup(key);
                t->seconds =
                    cJSON_IsNumber(es) && es->valuedouble >= 600 ? (int64_t)es->valuedouble : 3600;
                t->next = cfg->tokens;
                cfg->tokens = t;
            }
            if (t->token && !cJSON_GetObjectItemCaseSensitive(out, key))
                cJSON_AddStringToObject(out, key, t->token);
            if (!t->req && (!t->token || t->refresh_at <= now) && t->retry_at <= now)
                token_request(t);
            free(key);
        }
    }
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
    while (cfg->tokens) {
        ktoken_t *t = cfg->tokens;
        cfg->tokens = t->next;
        token_free(t);
    }
    if (cfg->timer)
        uv_close((uv_handle_t *)cfg->timer, on_timer_closed);
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
