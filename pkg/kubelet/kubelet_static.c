/* kubelet_static: static pods. The manifests of a directory (<data-dir>/agent/pod-manifests,
 * --pod-manifest-path) become pods of the pod machinery (kubelet_pods.c) with is_static set;
 * the directory is watched with inotify (uv_fs_event), never polled. Each static pod gets a
 * mirror pod in the API (upstream's pod/mirror_client.go): created when missing, deleted and
 * created again when its hash is not the static pod's or it is being deleted, deleted when the
 * static pod goes. The static pod's status is posted to its mirror. See docs/kubelet.md. */
#include "kubelet_pods_internal.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#define RESCAN_DELAY_MS  100  /* coalesces the burst of events one write makes */
#define RETRY_MS         2000 /* mirror requests that failed for lack of the API */
#define RECREATE_HOLD_MS 1000

/* What the kubelet knows of the mirror pod of one full name (namespace/name). */
typedef struct kmirror {
    struct kmirror *next;
    kstatic_t *st;
    char *ns, *name;
    client_req_t *req;
    bool dirty, retry, conflict_logged;
    char *deleted_uid;   /* deleted by us: ignore it while the cache still holds it */
    char *created_uid;   /* created by us: wait for the cache to show it */
    char *seen_uid;      /* the mirror the status was last posted to */
    uint64_t hold_until; /* loop time: no new mirror before, after a deletion */
} kmirror_t;

struct kstatic {
    kpods_t *ps;
    char *dir;
    uv_fs_event_t *watch;
    uv_timer_t *rescan, *retry;
    kmirror_t *mirrors;
};

static void mirror_sync(kstatic_t *st, const char *ns, const char *name);
static void on_retry(uv_timer_t *t);

static void on_handle_closed(uv_handle_t *h)
{
    free(h);
}

static bool same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* ---- the directory -------------------------------------------------------------------------- */

typedef struct manifest {
    char *path;
    cJSON *pod;
} manifest_t;

static void seen_now(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char s[32];
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    util_snprintf(out, n, "%s.%09ldZ", s, ts.tv_nsec);
}

static kpod_t *static_pod_by_uid(kpods_t *ps, const char *uid)
{
    kpod_t *p = kubelet__pod_find(ps, uid);
    return p && p->is_static ? p : NULL;
}

/* The static pod of a full name that runs (or will): not being removed. */
static kpod_t *live_static(kpods_t *ps, const char *ns, const char *name)
{
    for (kpod_t *p = ps->pods; p; p = p->next)
        if (p->is_static && !p->deleting && same(p->ns, ns) && same(p->name, name))
            return p;
    return NULL;
}

/* Reads one manifest; a bad one is logged (with the file) and skipped. */
static cJSON *read_manifest(kstatic_t *st, const char *path)
{
    kpods_t *ps = st->ps;
    struct stat sb;
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        util_log_warn("kubelet: static pod manifest %s: not a regular file, skipped", path);
        return NULL;
    }
    char *data = NULL;
    size_t len = 0;
    util_error_t err = NULL;
    cJSON *pod = NULL;
    char seen[48];
    seen_now(seen, sizeof(seen));
    int r = util_read_file(path, KUBELET_STATIC_MAX_BYTES, &data, &len, &err);
    if (r == 0)
        r = kubelet_static_pod_parse(data, len, path, ps->k->name, seen, &pod, &err);
    free(data);
    if (r < 0) {
        char b[512];
        kubelet__errtext(&err, b, sizeof(b));
        util_log_error("kubelet: can't process static pod manifest %s: %s", path, b);
        return NULL;
    }
    /* the same pod as before keeps the time it was first seen */
    kpod_t *old = static_pod_by_uid(ps, kubelet_static_hash(pod));
    const char *first =
        old ? jstr(jget(jget(old->obj, "metadata"), "annotations"), KUBELET_ANN_CONFIG_SEEN) : NULL;
    if (first) {
        cJSON *ann = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "annotations");
        cJSON_ReplaceItemInObjectCaseSensitive(ann, KUBELET_ANN_CONFIG_SEEN,
                                               cJSON_CreateString(first));
    }
    return pod;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The manifests of the directory in name order (as upstream's sorted glob); a full name a
 * file before already took is refused. */
static size_t read_dir(kstatic_t *st, manifest_t *out, size_t max)
{
    DIR *d = opendir(st->dir);
    if (!d) {
        util_log_error("kubelet: static pod directory %s: %s", st->dir, strerror(errno));
        return 0;
    }
    util_strv_t names = {0};
    struct dirent *e;
    while ((e = readdir(d)))
        if (kubelet_static_file_wanted(e->d_name))
            util_strv_push(&names, e->d_name);
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(*names.v), cmp_names);
    size_t n = 0;
    for (size_t i = 0; i < names.n; i++) {
        if (n >= max) {
            util_log_error("kubelet: more than %zu static pod manifests in %s: %s and later "
                           "skipped",
                           max, st->dir, names.v[i]);
            break;
        }
        char *path = util_strdup_printf("%s/%s", st->dir, names.v[i]);
        cJSON *pod = read_manifest(st, path);
        const cJSON *meta = jget(pod, "metadata");
        for (size_t j = 0; pod && j < n; j++) {
            const cJSON *m2 = jget(out[j].pod, "metadata");
            if (same(jstr(meta, "namespace"), jstr(m2, "namespace")) &&
                same(jstr(meta, "name"), jstr(m2, "name"))) {
                util_log_error("kubelet: static pod manifest %s: pod %s/%s is already defined by "
                               "%s, skipped",
                               path, jstr(meta, "namespace"), jstr(meta, "name"), out[j].path);
                cJSON_Delete(pod);
                pod = NULL;
            }
        }
        if (pod)
            out[n++] = (manifest_t){path, pod};
        else
            free(path);
    }
    util_strv_clear(&names);
    return n;
}

/* Makes the static pods those of the directory: a pod whose file is gone or changed (a new
 * hash is a new pod, as upstream) is killed and removed; a new one is added. */
static void rescan(kstatic_t *st)
{
    kpods_t *ps = st->ps;
    manifest_t *m = util_xcalloc(KUBELET_STATIC_MAX_FILES, sizeof(*m));
    size_t n = read_dir(st, m, KUBELET_STATIC_MAX_FILES);
    for (kpod_t *p = ps->pods, *next; p; p = next) {
        next = p->next;
        if (!p->is_static || p->deleting)
            continue;
        bool keep = false;
        for (size_t i = 0; i < n && !keep; i++)
            keep = same(p->uid, kubelet_static_hash(m[i].pod)) && same(p->file, m[i].path);
        if (keep)
            continue;
        util_log_info("kubelet: static pod %s/%s (%s) removed or changed: killing it", p->ns,
                      p->name, p->file);
        p->deleting = true;
        mirror_sync(st, p->ns, p->name);
        kubelet__pod_sync(p);
    }
    for (size_t i = 0; i < n; i++) {
        const char *uid = kubelet_static_hash(m[i].pod);
        if (!kubelet__pod_find(ps, uid)) {
            kpod_t *p = kubelet__pod_new(ps, uid, m[i].pod);
            p->is_static = true;
            p->file = util_xstrdup(m[i].path);
            util_log_info("kubelet: static pod %s/%s from %s (uid %s)", p->ns, p->name, p->file,
                          p->uid);
            mirror_sync(st, p->ns, p->name);
            kubelet__pod_sync(p);
        }
        cJSON_Delete(m[i].pod);
        free(m[i].path);
    }
    free(m);
}

static void on_rescan(uv_timer_t *t)
{
    rescan(t->data);
}

static void rescan_soon(kstatic_t *st)
{
    if (!uv_is_active((uv_handle_t *)st->rescan))
        uv_timer_start(st->rescan, on_rescan, RESCAN_DELAY_MS, 0);
}

static void on_dir_event(uv_fs_event_t *h, const char *file, int events, int status)
{
    kstatic_t *st = h->data;
    (void)events;
    if (status < 0) {
        util_log_error("kubelet: watching %s: %s", st->dir, uv_strerror(status));
        return;
    }
    if (file && !kubelet_static_file_wanted(file))
        return;
    rescan_soon(st);
}

/* ---- mirror pods ---------------------------------------------------------------------------- */

static kmirror_t *mirror_find(kstatic_t *st, const char *ns, const char *name, bool create)
{
    for (kmirror_t *m = st->mirrors; m; m = m->next)
        if (same(m->ns, ns) && same(m->name, name))
            return m;
    if (!create)
        return NULL;
    kmirror_t *m = util_xcalloc(1, sizeof(*m));
    m->st = st;
    m->ns = util_xstrdup(ns);
    m->name = util_xstrdup(name);
    m->next = st->mirrors;
    st->mirrors = m;
    return m;
}

static void mirror_free(kmirror_t *m)
{
    for (kmirror_t **pp = &m->st->mirrors; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    client_req_cancel(m->req);
    free(m->ns);
    free(m->name);
    free(m->deleted_uid);
    free(m->created_uid);
    free(m->seen_uid);
    free(m);
}

static void retry_later(kmirror_t *m)
{
    m->retry = true;
    if (!uv_is_active((uv_handle_t *)m->st->retry))
        uv_timer_start(m->st->retry, on_retry, RETRY_MS, 0);
}

static void mirror_done(kmirror_t *m, client_result_t *res, const char *what)
{
    m->req = NULL;
    if (res->status == 0 || res->status >= 500 || res->status == 429) {
        util_log_warn("kubelet: %s mirror pod %s/%s: %s (retrying)", what, m->ns, m->name,
                      res->st.message);
        retry_later(m);
        m->dirty = false;
        return;
    }
    if (res->status >= 300 && res->status != 404 && res->status != 409)
        util_log_error("kubelet: %s mirror pod %s/%s: %s", what, m->ns, m->name, res->st.message);
    m->dirty = false;
    mirror_sync(m->st, m->ns, m->name);
}

static void on_mirror_created(void *ud, client_result_t *res)
{
    kmirror_t *m = ud;
    if (res->status == 201 || res->status == 200) {
        kubelet__set_str(&m->created_uid, jstr(jget(res->body, "metadata"), "uid"));
        util_log_info("kubelet: mirror pod %s/%s created", m->ns, m->name);
    }
    mirror_done(m, res, "creating");
}

static void on_mirror_deleted(void *ud, client_result_t *res)
{
    kmirror_t *m = ud;
    if (res->status == 200 || res->status == 202) {
        util_log_info("kubelet: mirror pod %s/%s deleted", m->ns, m->name);
        /* `kubectl delete` gets the pod, then lists and watches for its deletion: a mirror
         * of the same name created in between would make it wait for good. */
        m->hold_until = uv_now(m->st->ps->k->loop) + RECREATE_HOLD_MS;
    } else if (res->status == 404 || res->status == 409) /* gone, or another one by now */
        kubelet__set_str(&m->deleted_uid, NULL);
    mirror_done(m, res, "deleting");
}

/* upstream's DeleteMirrorPod: at once (grace period 0), only the one we looked at (uid). */
static void mirror_delete(kmirror_t *m, const char *uid)
{
    kpods_t *ps = m->st->ps;
    util_buf_t path = {0};
    client_path(&path, &CLIENT_RES_PODS, m->ns, m->name, NULL);
    char *body = util_strdup_printf("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                                    "\"gracePeriodSeconds\":0,\"preconditions\":{\"uid\":\"%s\"}}",
                                    uid);
    kubelet__set_str(&m->deleted_uid, uid);
    m->req = client_request(ps->k->client, "DELETE", path.data, "application/json", body,
                            strlen(body), on_mirror_deleted, m);
    free(body);
    util_buf_free(&path);
}

static void mirror_create(kmirror_t *m, kpod_t *p)
{
    kpods_t *ps = m->st->ps;
    cJSON *mirror = kubelet_static_mirror(p->obj, ps->k->name, ps->k->node_uid);
    m->req = client_create(ps->k->client, &CLIENT_RES_PODS, m->ns, mirror, on_mirror_created, m);
    cJSON_Delete(mirror);
}

/* A pod adopted before the API answered (kubelet_pods_offline.c) gets back from the status its
 * mirror had what the runtime does not keep: the pod IP, and the start time (RFC 3339 strings
 * of one format compare in time order). */
static void adopted_offline(kpod_t *p, const cJSON *status)
{
    const char *ip = jstr(status, "podIP"), *start = jstr(status, "startTime");
    if (!p->ip[0] && ip)
        util_snprintf(p->ip, sizeof(p->ip), "%s", ip);
    if (start && p->start_time[0] && strlen(start) == strlen(p->start_time) &&
        strcmp(start, p->start_time) < 0)
        util_snprintf(p->start_time, sizeof(p->start_time), "%s", start);
}

/* A mirror that matches: posts the static pod's status to it when it is a new one. */
static void mirror_matches(kmirror_t *m, kpod_t *p, const cJSON *cur)
{
    const char *uid = jstr(jget(cur, "metadata"), "uid");
    if (!p->adopted && !jget(p->obj, "status") && jget(cur, "status"))
        /* before the first sync: what the last run posted (pod IP, start time) */
        cJSON_AddItemToObject(p->obj, "status", cJSON_Duplicate(jget(cur, "status"), true));
    else if (p->sandbox)
        adopted_offline(p, jget(cur, "status"));
    if (same(m->seen_uid, uid))
        return;
    kubelet__set_str(&m->seen_uid, uid);
    free(p->posted);
    p->posted = NULL;
    kubelet__pod_post_status(p);
}

/* Brings the mirror of one full name to what the static pod wants. */
static void mirror_sync(kstatic_t *st, const char *ns, const char *name)
{
    kpods_t *ps = st->ps;
    kmirror_t *m = mirror_find(st, ns, name, true);
    if (m->req) {
        m->dirty = true;
        return;
    }
    if (ps->stopping || !ps->informer || !client_informer_synced(ps->informer) || !ps->k->client ||
        !ps->k->node_uid)
        return; /* on_synced, or the registration (the mirror's owner is the Node), calls again */
    kpod_t *p = live_static(ps, ns, name);
    const cJSON *cur = client_informer_get(ps->informer, ns, name);
    const char *cur_uid = jstr(jget(cur, "metadata"), "uid");
    if (cur && !kubelet_mirror_hash(cur)) {
        if (p && !m->conflict_logged)
            util_log_error("kubelet: pod %s/%s exists in the API and is not a mirror pod: the "
                           "static pod runs without one",
                           ns, name);
        m->conflict_logged = true;
        cur = NULL;
        if (p)
            return;
    }
    m->conflict_logged = false;
    if (cur && same(cur_uid, m->deleted_uid))
        return; /* our delete is on its way to the cache */
    if (!cur && m->created_uid)
        return; /* our create is on its way to the cache */
    if (cur && same(cur_uid, m->created_uid))
        kubelet__set_str(&m->created_uid, NULL);
    if (cur && (!p || !same(kubelet_mirror_hash(cur), kubelet_static_hash(p->obj)) ||
                jget(jget(cur, "metadata"), "deletionTimestamp"))) {
        util_log_info("kubelet: deleting mirror pod %s/%s (%s)", ns, name,
                      !p ? "its static pod is gone" : "outdated or being deleted");
        mirror_delete(m, cur_uid);
    } else if (!cur && p && uv_now(ps->k->loop) < m->hold_until) {
        retry_later(m);
    } else if (!cur && p) {
        mirror_create(m, p);
    } else if (cur && p) {
        mirror_matches(m, p, cur);
    } else if (!m->retry) {
        mirror_free(m);
    }
}

static void on_retry(uv_timer_t *t)
{
    kstatic_t *st = t->data;
    for (kmirror_t *m = st->mirrors, *next; m; m = next) {
        next = m->next;
        if (!m->retry)
            continue;
        m->retry = false;
        mirror_sync(st, m->ns, m->name);
    }
}

/* ---- the pod machinery's hooks ----------------------------------------------------------------
 */

void kubelet__static_mirror_event(kpods_t *ps, const cJSON *obj)
{
    const cJSON *meta = jget(obj, "metadata");
    if (ps->st && jstr(meta, "namespace") && jstr(meta, "name"))
        mirror_sync(ps->st, jstr(meta, "namespace"), jstr(meta, "name"));
}

void kubelet__static_synced(kpods_t *ps)
{
    if (!ps->st)
        return;
    for (kpod_t *p = ps->pods; p; p = p->next)
        if (p->is_static)
            mirror_sync(ps->st, p->ns, p->name);
    for (kmirror_t *m = ps->st->mirrors, *next; m; m = next) {
        next = m->next;
        mirror_sync(ps->st, m->ns, m->name);
    }
}

bool kubelet__static_mirror_ready(kpod_t *p)
{
    kpods_t *ps = p->ps;
    if (!ps->informer)
        return false;
    const cJSON *cur = client_informer_get(ps->informer, p->ns, p->name);
    return cur && same(kubelet_mirror_hash(cur), p->uid) &&
           !jget(jget(cur, "metadata"), "deletionTimestamp");
}

/* A new static pod waits while one of the same full name is still being killed (upstream's
 * pod workers do not start a static pod before its predecessor has terminated). */
bool kubelet__static_may_run(kpod_t *p)
{
    if (p->deleting)
        return true;
    for (kpod_t *q = p->ps->pods; q; q = q->next)
        if (q != p && q->is_static && q->deleting && same(q->ns, p->ns) && same(q->name, p->name))
            return false;
    return true;
}

void kubelet__static_pod_freed(kpod_t *p)
{
    kpods_t *ps = p->ps;
    if (!ps->st || ps->stopping)
        return;
    util_log_info("kubelet: static pod %s/%s (uid %s) stopped", p->ns, p->name, p->uid);
    for (kpod_t *q = ps->pods; q; q = q->next)
        if (q != p && q->is_static && same(q->ns, p->ns) && same(q->name, p->name))
            kubelet__pod_sync(q); /* a successor waiting for this one */
    mirror_sync(ps->st, p->ns, p->name);
    rescan_soon(ps->st);
}

int kubelet__static_start(kpods_t *ps, const char *dir)
{
    kstatic_t *st = util_xcalloc(1, sizeof(*st));
    st->ps = ps;
    st->dir = util_xstrdup(dir);
    ps->st = st;
    util_error_t err = NULL;
    if (util_mkdir_p(dir, 0755, &err) < 0) {
        char b[512];
        kubelet__errtext(&err, b, sizeof(b));
        util_log_error("kubelet: static pod directory %s: %s", dir, b);
    }
    uv_loop_t *loop = ps->k->loop;
    st->rescan = util_xcalloc(1, sizeof(*st->rescan));
    st->retry = util_xcalloc(1, sizeof(*st->retry));
    uv_timer_init(loop, st->rescan);
    uv_timer_init(loop, st->retry);
    st->rescan->data = st->retry->data = st;
    st->watch = util_xcalloc(1, sizeof(*st->watch));
    uv_fs_event_init(loop, st->watch);
    st->watch->data = st;
    int r = uv_fs_event_start(st->watch, on_dir_event, dir, 0);
    if (r < 0)
        util_log_error("kubelet: watching static pod directory %s: %s", dir, uv_strerror(r));
    else
        util_log_info("kubelet: watching %s for static pods", dir);
    rescan(st);
    return 0;
}

void kubelet__static_stop(kpods_t *ps)
{
    kstatic_t *st = ps->st;
    if (!st)
        return;
    ps->st = NULL;
    while (st->mirrors)
        mirror_free(st->mirrors);
    uv_close((uv_handle_t *)st->watch, on_handle_closed);
    uv_close((uv_handle_t *)st->rescan, on_handle_closed);
    uv_close((uv_handle_t *)st->retry, on_handle_closed);
    free(st->dir);
    free(st);
}
