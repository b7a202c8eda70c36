/* kubelet_volumes: a pod's volumes under <agent>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>
 * (upstream's layout), set up on the thread pool before a container starts and again when a
 * config object or the pod's labels change; the container's mounts; teardown with the pod.
 *   emptyDir            a directory (0777); medium Memory: a tmpfs (size = sizeLimit)
 *   hostPath            the host path itself, after upstream's type checks
 *   configMap           a directory written by the AtomicWriter
 *   secret, downwardAPI, projected   a tmpfs written by the AtomicWriter
 *   persistentVolumeClaim   the bound PV's hostPath (other PV kinds are refused)
 * configMap, secret, downwardAPI and projected volumes are always mounted read-only, as
 * upstream does since 1.11. */
#include "kubelet_pods_internal.h"
#include "kubelet_volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "mbedtls/base64.h"

#define DEFAULT_MODE 0644

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *plugin_of(const cJSON *vol)
{
    if (jget(vol, "emptyDir"))
        return "empty-dir";
    if (jget(vol, "configMap"))
        return "configmap";
    if (jget(vol, "secret"))
        return "secret";
    if (jget(vol, "downwardAPI"))
        return "downward-api";
    if (jget(vol, "projected"))
        return "projected";
    return NULL;
}

static void volume_dir(const kvol_ctx_t *x, const char *plugin, const char *name, char *buf,
                       size_t n)
{
    util_snprintf(buf, n, "%s/pods/%s/volumes/kubernetes.io~%s/%s", x->agent_dir,
                  jstr(jget(x->pod, "metadata"), "uid"), plugin, name);
}

static bool is_tmpfs(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* A mount point: another device than its parent, or a bind of the same one (mountinfo would
 * tell; the device test is enough for what we mount: tmpfs, and binds we unmount by loop). */
static bool is_mountpoint(const char *path)
{
    struct stat a, b;
    char parent[4200];
    util_snprintf(parent, sizeof(parent), "%s/..", path);
    return lstat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static mode_t mode_of(const cJSON *o, const char *key, mode_t def)
{
    const cJSON *m = jget(o, key);
    if (cJSON_IsNumber(m) && m->valuedouble >= 0 && m->valuedouble <= 0777)
        return (mode_t)m->valuedouble;
    return def;
}

static int mkdir_mode(const char *dir, mode_t mode, util_error_t *err)
{
    struct stat st;
    if (util_mkdir_p(dir, 0750, err) < 0)
        return -1;
    /* upstream's setupDir: only when the permission bits differ, so that the setgid bit an
     * fsGroup set stays (and with it the ownership, set once) */
    if (stat(dir, &st) == 0 && (st.st_mode & 0777) == mode)
        return 0;
    if (chmod(dir, mode) < 0)
        return util_error_make(err, errno, "chmod %s", dir);
    return 0;
}

static int ensure_tmpfs(const char *dir, int64_t size, util_error_t *err)
{
    if (util_mkdir_p(dir, 0750, err) < 0)
        return -1;
    if (is_tmpfs(dir))
        return 0;
    char opts[64] = "";
    if (size > 0)
        util_snprintf(opts, sizeof(opts), "size=%lld", (long long)size);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts[0] ? opts : NULL) < 0)
        return util_error_make(err, errno, "mount tmpfs on %s", dir);
    return 0;
}

/* ---- payloads (upstream's makePayload of each plugin) --------------------------------------- */

static int add_decoded(kubelet_payload_t *p, const char *path, const char *b64, mode_t mode)
{
    size_t in = strlen(b64), out = 0;
    unsigned char *buf = util_xmalloc(in + 1);
    int r = mbedtls_base64_decode(buf, in + 1, &out, (const unsigned char *)b64, in);
    if (r == 0)
        kubelet_payload_add(p, path, buf, out, mode);
    free(buf);
    return r == 0 ? 0 : -EINVAL;
}

/* configMap (data, binaryData) or secret (data, base64) items into p. */
static int object_payload(kubelet_payload_t *p, const cJSON *obj, bool secret, const cJSON *items,
                          mode_t def, bool optional, util_error_t *err)
{
    const cJSON *data = jget(obj, "data"), *bin = secret ? NULL : jget(obj, "binaryData"), *e;
    if (!cJSON_GetArraySize(items)) {
        cJSON_ArrayForEach(e, data)
        {
            if (!cJSON_IsString(e))
                continue;
            if (secret) {
                if (add_decoded(p, e->string, e->valuestring, def) < 0)
                    return util_error_make(err, 0, "secret key %s is not base64", e->string);
            } else {
                kubelet_payload_add(p, e->string, e->valuestring, strlen(e->valuestring), def);
            }
        }
        cJSON_ArrayForEach(e, bin)
        {
            if (cJSON_IsString(e) && add_decoded(p, e->string, e->valuestring, def) < 0)
                return util_error_make(err, 0, "binaryData key %s is not base64", e->string);
        }
        return 0;
    }
    cJSON_ArrayForEach(e, items)
    {
        const char *key = jstr(e, "key"), *path = jstr(e, "path");
        if (!key || !path)
            continue;
        mode_t mode = mode_of(e, "mode", def);
        const char *v = jstr(data, key), *b = jstr(bin, key);
        if (!v && !b) {
            if (optional)
                continue;
            return util_error_make(err, 0,
                                   secret ? "references non-existent secret key: %s"
                                          : "configmap references non-existent config key: %s",
                                   key);
        }
        int r = 0;
        if (v && !secret)
            kubelet_payload_add(p, path, v, strlen(v), mode);
        else
            r = add_decoded(p, path, v ? v : b, mode);
        if (r < 0)
            return util_error_make(err, 0, "key %s is not base64", key);
    }
    return 0;
}

static const cJSON *find_container(const cJSON *pod, const char *name)
{
    static const char *const kinds[] = {"containers", "initContainers"};
    for (size_t k = 0; k < 2; k++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, jget(jget(pod, "spec"), kinds[k]))
        {
            const char *n = jstr(c, "name");
            if (n && name && !strcmp(n, name))
                return c;
        }
    }
    return NULL;
}

static int downward_payload(const kvol_ctx_t *x, kubelet_payload_t *p, const cJSON *items,
                            mode_t def, util_error_t *err)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, items)
    {
        const char *path = jstr(e, "path");
        if (!path)
            continue;
        mode_t mode = mode_of(e, "mode", def);
        char *v = NULL;
        const cJSON *fr = jget(e, "fieldRef"), *rr = jget(e, "resourceFieldRef");
        if (fr) {
            /* upstream's volume plugin takes only metadata paths (its API rejects the
             * others); they all work here */
            kubelet_field_src_t src = {.pod = x->pod, .pod_ip = x->pod_ip, .host_ip = x->host_ip};
            if (kubelet_field_value(&src, jstr(fr, "apiVersion"), jstr(fr, "fieldPath"), &v, err) <
                0)
                return util_error_wrap(err, "unable to extract field %s",
                                       jstr(fr, "fieldPath") ? jstr(fr, "fieldPath") : "");
        } else if (rr) {
            const cJSON *c = find_container(x->pod, jstr(rr, "containerName"));
            const char *res = jstr(rr, "resource");
            v = c ? kubelet_resource_field(c, res, jstr(rr, "divisor"), x->node_cpu_milli,
                                           x->node_memory, x->node_storage)
                  : NULL;
            if (!v)
                return util_error_make(
                    err, 0, "unable to extract resource %s of %s", res ? res : "(none)",
                    jstr(rr, "containerName") ? jstr(rr, "containerName") : "(none)");
        } else {
            continue;
        }
        kubelet_payload_add(p, path, v, strlen(v), mode);
        free(v);
    }
    return 0;
}

static const cJSON *ref_obj(const kvol_ctx_t *x, const char *kind, const char *name)
{
    return name ? jget(jget(x->refs, kind), name) : NULL;
}

static int source_payload(const kvol_ctx_t *x, kubelet_payload_t *p, const cJSON *src, bool secret,
                          mode_t def, util_error_t *err)
{
    const char *name = jstr(src, secret ? "secretName" : "name");
    if (!name)
        name = jstr(src, "name");
    bool optional = cJSON_IsTrue(jget(src, "optional"));
    const cJSON *obj = ref_obj(x, secret ? "secrets" : "configmaps", name);
    if (!obj) {
        if (optional)
            return 0;
        return util_error_make(err, 0, "%s \"%s\" not found", secret ? "secret" : "configmap",
                               name ? name : "");
    }
    return object_payload(p, obj, secret, jget(src, "items"), def, optional, err);
}

char *kubelet__token_key(const cJSON *source)
{
    const cJSON *es = jget(source, "expirationSeconds");
    const char *aud = jstr(source, "audience");
    return util_strdup_printf("%s|%lld", aud ? aud : "",
                              cJSON_IsNumber(es) ? (long long)es->valuedouble : 0ll);
}

/* The token fetched on the loop (kubelet_config.c), or a failure until it arrives. */
static int token_payload(const kvol_ctx_t *x, kubelet_payload_t *p, const cJSON *src, mode_t def,
                         util_error_t *err)
{
    const char *path = jstr(src, "path");
    char *key = kubelet__token_key(src);
    const char *tok = jstr(jget(x->refs, "tokens"), key);
    free(key);
    if (!path)
        return 0;
    if (!tok)
        return util_error_make(err, 0,
                               "failed to fetch token: the TokenRequest has not been "
                               "answered yet");
    gid_t g; /* upstream: 0600 for a token when the pod has an fsGroup (0640 with it) */
    kubelet_payload_add(p, path, tok, strlen(tok),
                        kubelet_pod_fs_group(jget(x->pod, "spec"), &g) ? 0600 : def);
    return 0;
}

static int projected_payload(const kvol_ctx_t *x, kubelet_payload_t *p, const cJSON *proj,
                             util_error_t *err)
{
    mode_t def = mode_of(proj, "defaultMode", DEFAULT_MODE);
    const cJSON *src;
    cJSON_ArrayForEach(src, jget(proj, "sources"))
    {
        int r = 0;
        if (jget(src, "configMap"))
            r = source_payload(x, p, jget(src, "configMap"), false, def, err);
        else if (jget(src, "secret"))
            r = source_payload(x, p, jget(src, "secret"), true, def, err);
        else if (jget(src, "downwardAPI"))
            r = downward_payload(x, p, jget(jget(src, "downwardAPI"), "items"), def, err);
        else if (jget(src, "serviceAccountToken"))
            r = token_payload(x, p, jget(src, "serviceAccountToken"), def, err);
        else
            return util_error_make(err, 0,
                                   "projected sources other than configMap, secret, "
                                   "downwardAPI and serviceAccountToken are not supported by "
                                   "kubeling yet");
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- hostPath ------------------------------------------------------------------------------ */

static const char *file_type(const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        return "Directory";
    if (S_ISREG(st->st_mode))
        return "File";
    if (S_ISSOCK(st->st_mode))
        return "Socket";
    if (S_ISCHR(st->st_mode))
        return "CharDevice";
    if (S_ISBLK(st->st_mode))
        return "BlockDevice";
    return "";
}

static int host_path_check(const char *path, const char *type, util_error_t *err)
{
    static const struct {
        const char *type, *want, *what;
    } types[] = {
        {"DirectoryOrCreate", "Directory", "directory"},
        {"Directory", "Directory", "directory"},
        {"FileOrCreate", "File", "file"},
        {"File", "File", "file"},
        {"Socket", "Socket", "socket file"},
        {"CharDevice", "CharDevice", "character device"},
        {"BlockDevice", "BlockDevice", "block device"},
    };
    if (!type || !*type)
        return 0; /* HostPathUnset: no checks */
    size_t i;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(type, types[i].type))
            break;
    if (i == sizeof(types) / sizeof(types[0]))
        return util_error_make(err, 0, "%s is an invalid volume type", type);
    struct stat st;
    if (stat(path, &st) < 0) {
        if (!strcmp(type, "DirectoryOrCreate"))
            return util_mkdir_p(path, 0755, err);
        if (!strcmp(type, "FileOrCreate")) {
            int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
            if (fd < 0)
                return util_error_make(err, errno, "open %s", path);
            close(fd);
            return 0;
        }
        return util_error_make(err, 0, "hostPath %s doesn't exist", path);
    }
    if (strcmp(file_type(&st), types[i].want))
        return util_error_make(err, 0, "hostPath type check failed: %s is not a %s, it's a %s",
                               path, types[i].what, file_type(&st));
    return 0;
}

/* The PV behind a claim: bound, and a hostPath PV. */
static const cJSON *claim_host_path(const kvol_ctx_t *x, const char *claim, util_error_t *err)
{
    const char *ns = jstr(jget(x->pod, "metadata"), "namespace");
    const cJSON *pvc = ref_obj(x, "pvcs", claim);
    if (!pvc) {
        util_error_make(err, 0, "persistentvolumeclaim \"%s\" not found", claim);
        return NULL;
    }
    const char *vn = jstr(jget(pvc, "spec"), "volumeName");
    const cJSON *pv = vn && *vn ? ref_obj(x, "pvs", vn) : NULL;
    if (!vn || !*vn) {
        util_error_make(err, 0,
                        "PVC %s/%s has non-bound phase (\"%s\") or empty "
                        "pvc.Spec.VolumeName (\"\")",
                        ns ? ns : "", claim,
                        jstr(jget(pvc, "status"), "phase") ? jstr(jget(pvc, "status"), "phase")
                                                           : "Pending");
        return NULL;
    }
    if (!pv) {
        util_error_make(err, 0, "persistentvolume \"%s\" not found", vn);
        return NULL;
    }
    const cJSON *hp = jget(jget(pv, "spec"), "hostPath");
    if (!jstr(hp, "path")) {
        util_error_make(err, 0,
                        "persistentvolume %s is not a hostPath volume: kubeling mounts only "
                        "hostPath persistent volumes",
                        vn);
        return NULL;
    }
    return hp;
}

/* ---- setting up ---------------------------------------------------------------------------- */

static int setup_one(const kvol_ctx_t *x, const cJSON *vol, const char *name, util_error_t *err)
{
    const char *plugin = plugin_of(vol);
    char dir[4200];
    gid_t fs_group = 0; /* hostPath and PVs (hostPath ones) keep theirs, as upstream */
    bool has_group = kubelet_pod_fs_group(jget(x->pod, "spec"), &fs_group);
    if (jget(vol, "hostPath")) {
        const cJSON *hp = jget(vol, "hostPath");
        const char *path = jstr(hp, "path");
        if (!path || path[0] != '/')
            return util_error_make(err, 0, "hostPath needs an absolute path");
        return host_path_check(path, jstr(hp, "type"), err);
    }
    if (jget(vol, "persistentVolumeClaim")) {
        const char *claim = jstr(jget(vol, "persistentVolumeClaim"), "claimName");
        const cJSON *hp = claim_host_path(x, claim ? claim : "", err);
        return hp ? host_path_check(jstr(hp, "path"), jstr(hp, "type"), err) : -1;
    }
    if (!plugin)
        return util_error_make(err, 0, "this volume type is not supported by kubeling");
    volume_dir(x, plugin, name, dir, sizeof(dir));
    if (jget(vol, "emptyDir")) {
        const cJSON *ed = jget(vol, "emptyDir");
        const char *medium = jstr(ed, "medium");
        if (medium && !strcmp(medium, "Memory")) {
            int64_t size = 0;
            const char *sl = jstr(ed, "sizeLimit");
            if (sl && kubelet_parse_bytes(sl, &size) < 0)
                return util_error_make(err, 0, "invalid sizeLimit %s", sl);
            if (ensure_tmpfs(dir, size, err) < 0)
                return -1;
        } else if (medium && *medium) {
            return util_error_make(err, 0, "emptyDir medium %s is not supported", medium);
        } else if (mkdir_mode(dir, 0777, err) < 0) {
            return -1;
        }
        /* upstream sets an emptyDir's ownership once, at its first set-up: the root's group
         * and setgid bit tell us it was done */
        return has_group ? kubelet_volume_ownership(dir, fs_group, false, true, err) : 0;
    }
    kubelet_payload_t p = {0};
    int r;
    if (jget(vol, "configMap")) {
        const cJSON *src = jget(vol, "configMap");
        r = mkdir_mode(dir, 0777, err);
        if (r == 0)
            r = source_payload(x, &p, src, false, mode_of(src, "defaultMode", DEFAULT_MODE), err);
    } else {
        r = ensure_tmpfs(dir, 0, err);
        if (r == 0 && jget(vol, "secret")) {
            const cJSON *src = jget(vol, "secret");
            r = source_payload(x, &p, src, true, mode_of(src, "defaultMode", DEFAULT_MODE), err);
        } else if (r == 0 && jget(vol, "downwardAPI")) {
            const cJSON *src = jget(vol, "downwardAPI");
            r = downward_payload(x, &p, jget(src, "items"),
                                 mode_of(src, "defaultMode", DEFAULT_MODE), err);
        } else if (r == 0) {
            r = projected_payload(x, &p, jget(vol, "projected"), err);
        }
    }
    bool changed = false;
    for (size_t i = 0; has_group && i < p.n; i++)
        p.v[i].mode |= 0440; /* what SetVolumeOwnership makes of them: written so at once */
    if (r == 0)
        r = kubelet_atomic_write(dir, &p, &changed, err);
    if (r == 0 && has_group) /* upstream walks these on every set-up (no change policy) */
        r = kubelet_volume_ownership(dir, fs_group, true, false, err);
    if (r == 0 && changed)
        util_log_v(1, "kubelet: volume %s of pod %s written", name,
                   jstr(jget(x->pod, "metadata"), "uid"));
    kubelet_payload_free(&p);
    return r < 0 ? -1 : 0;
}

/* Volume and container names become path elements: the API allows DNS labels only, but the
 * kubelet does not rely on it. */
static bool safe_name(const char *name)
{
    return name && *name && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 253;
}

int kubelet__volumes_setup(const kvol_ctx_t *x, util_error_t *err)
{
    const cJSON *vol;
    cJSON_ArrayForEach(vol, jget(jget(x->pod, "spec"), "volumes"))
    {
        const char *name = jstr(vol, "name");
        if (!safe_name(name))
            return util_error_make(err, 0, "invalid volume name \"%s\"", name ? name : "");
        util_error_t e = NULL;
        if (setup_one(x, vol, name, &e) < 0) {
            char b[1024];
            util_error_text(e, b, sizeof(b));
            util_error_free(&e);
            return util_error_make(err, 0, "MountVolume.SetUp failed for volume \"%s\" : %s", name,
                                   b);
        }
    }
    return 0;
}

/* ---- the container's mounts ------------------------------------------------------------ */

static const cJSON *find_volume(const cJSON *pod, const char *name)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, jget(jget(pod, "spec"), "volumes"))
    {
        const char *n = jstr(v, "name");
        if (n && name && !strcmp(n, name))
            return v;
    }
    return NULL;
}

/* The host path of a volume, and whether it is always read-only. */
static int volume_source(const kvol_ctx_t *x, const cJSON *vol, char *buf, size_t n, bool *ro,
                         util_error_t *err)
{
    const char *plugin = plugin_of(vol);
    *ro = plugin && strcmp(plugin, "empty-dir");
    if (jget(vol, "hostPath")) {
        util_snprintf(buf, n, "%s", jstr(jget(vol, "hostPath"), "path"));
        return 0;
    }
    if (jget(vol, "persistentVolumeClaim")) {
        const char *claim = jstr(jget(vol, "persistentVolumeClaim"), "claimName");
        const cJSON *hp = claim_host_path(x, claim ? claim : "", err);
        if (!hp)
            return -1;
        util_snprintf(buf, n, "%s", jstr(hp, "path"));
        return 0;
    }
    if (!plugin)
        return util_error_make(err, 0, "volume %s: unsupported type", jstr(vol, "name"));
    volume_dir(x, plugin, jstr(vol, "name"), buf, n);
    return 0;
}

/* Unmounts every mount stacked on path; 0 once it is none (EINVAL) or missing. */
static int umount_all(const char *path)
{
    for (int i = 0; i < 16; i++)
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
            return errno == EINVAL || errno == ENOENT ? 0 : -errno;
    return -EBUSY;
}

/* upstream's PrepareSafeSubpath: the subpath opened beneath the volume, bind-mounted through
 * its fd at pods/<uid>/volume-subpaths/<volume>/<container>/<index>, which the runtime then
 * binds into the container. No link is followed out of the volume, even one swapped in by a
 * container after the check. */
static int bind_subpath(const kvol_ctx_t *x, const char *volume, const char *vname,
                        const char *cname, size_t index, const char *subpath, char *out, size_t n,
                        util_error_t *err)
{
    util_error_t e = NULL;
    int fd = kubelet_subpath_open(volume, subpath, true, &e);
    if (fd < 0) {
        char b[512];
        util_error_text(e, b, sizeof(b));
        util_error_free(&e);
        util_log_warn("kubelet: subPath %s of volume %s: %s", subpath, vname, b);
        return util_error_make(err, 0,
                               "failed to prepare subPath for volumeMount \"%s\" of container "
                               "\"%s\"",
                               vname, cname);
    }
    struct stat st;
    char dir[4200];
    util_snprintf(dir, sizeof(dir), "%s/pods/%s/volume-subpaths/%s/%s", x->agent_dir,
                  jstr(jget(x->pod, "metadata"), "uid"), vname, cname);
    util_snprintf(out, n, "%s/%zu", dir, index);
    int r = fstat(fd, &st) < 0 ? -errno : 0;
    if (r == 0 && util_mkdir_p(dir, 0750, err) < 0)
        r = -EIO;
    if (r == 0)
        r = umount_all(out);
    if (r == 0) {
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(out, 0750) < 0 && errno != EEXIST)
                r = -errno;
        } else {
            int t = open(out, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0640);
            if (t < 0)
                r = -errno;
            else
                close(t);
        }
    }
    if (r == 0) {
        char src[64];
        util_snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
        if (mount(src, out, NULL, MS_BIND | MS_REC, NULL) < 0)
            r = -errno;
    }
    close(fd);
    if (r < 0)
        util_log_warn("kubelet: binding subPath %s of volume %s: %s", subpath, vname, strerror(-r));
    if (r < 0)
        return util_error_make(err, 0,
                               "failed to prepare subPath for volumeMount \"%s\" of container "
                               "\"%s\"",
                               vname, cname);
    return 0;
}

static void push_mount(kvol_mounts_t *m, const char *src, const char *dst, bool ro)
{
    util_strv_push(&m->strs, src);
    util_strv_push(&m->strs, dst);
    m->v = util_xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
    m->v[m->n++] = (runtime_mount_t){.readonly = ro};
}

void kubelet__termlog_path(const char *agent_dir, const char *uid, const char *cname, int attempt,
                           char *buf, size_t n)
{
    util_snprintf(buf, n, "%s/pods/%s/containers/%s/%d", agent_dir, uid, cname, attempt);
}

int kubelet__volumes_mounts(const kvol_ctx_t *x, const cJSON *container, const util_strv_t *env,
                            kvol_mounts_t *out, util_error_t *err)
{
    const char *cname = jstr(container, "name");
    const cJSON *vm;
    size_t index = 0;
    if (!safe_name(cname))
        return util_error_make(err, 0, "invalid container name \"%s\"", cname ? cname : "");
    cJSON_ArrayForEach(vm, jget(container, "volumeMounts"))
    {
        const char *name = jstr(vm, "name"), *dst = jstr(vm, "mountPath");
        const char *prop = jstr(vm, "mountPropagation");
        const char *sub = jstr(vm, "subPath"), *expr = jstr(vm, "subPathExpr");
        const cJSON *vol = find_volume(x->pod, name);
        if (!safe_name(name) || !vol)
            return util_error_make(err, 0,
                                   "cannot find volume \"%s\" to mount into "
                                   "container \"%s\"",
                                   name ? name : "", cname);
        if (!dst || dst[0] != '/')
            return util_error_make(err, 0, "volumeMount %s: mountPath must be absolute", name);
        if (prop && *prop && strcmp(prop, "None"))
            return util_error_make(err, 0,
                                   "volumeMount %s: mountPropagation %s is not supported by "
                                   "kubeling (only None)",
                                   name, prop);
        char src[4200];
        bool ro = false;
        if (volume_source(x, vol, src, sizeof(src), &ro, err) < 0)
            return -1;
        ro = ro || cJSON_IsTrue(jget(vm, "readOnly"));
        char *expanded = NULL;
        if (expr && *expr) {
            expanded = kubelet_expand(expr, env);
            sub = expanded;
        }
        if (sub && *sub) {
            char bound[4300];
            int r = kubelet_subpath_check(sub, err);
            if (r == 0)
                r = bind_subpath(x, src, name, cname, index, sub, bound, sizeof(bound), err);
            free(expanded);
            if (r < 0)
                return -1;
            push_mount(out, bound, dst, ro);
        } else {
            free(expanded);
            push_mount(out, src, dst, ro);
        }
        index++;
    }
    /* terminationMessagePath: a host file the container writes, read when it exits */
    const char *tmp = jstr(container, "terminationMessagePath");
    if (!tmp || !*tmp)
        tmp = "/dev/termination-log";
    if (tmp[0] == '/') {
        char path[4300];
        kubelet__termlog_path(x->agent_dir, jstr(jget(x->pod, "metadata"), "uid"), cname,
                              x->attempt, path, sizeof(path));
        char *slash = strrchr(path, '/');
        *slash = 0;
        if (util_mkdir_p(path, 0750, err) < 0)
            return -1;
        *slash = '/';
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0)
            return util_error_make(err, errno, "create %s", path);
        if (fchmod(fd, 0666) < 0) {
            /* the umask's mode stays: root containers can still write */
        }
        close(fd);
        push_mount(out, path, tmp, false);
    }
    /* the strings are stable now: point the mounts at them */
    for (size_t i = 0; i < out->n; i++) {
        out->v[i].source = out->strs.v[2 * i];
        out->v[i].destination = out->strs.v[2 * i + 1];
    }
    return 0;
}

void kubelet__volumes_mounts_free(kvol_mounts_t *m)
{
    free(m->v);
    util_strv_clear(&m->strs);
    m->v = NULL;
    m->n = 0;
}

/* ---- teardown ------------------------------------------------------------------------------ */

/* Calls fn on each entry of dir (depth levels down), skipping "." and "..". */
static int walk(const char *dir, int depth, int (*fn)(const char *path))
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = util_strdup_printf("%s/%s", dir, e->d_name);
        if (depth > 1 ? walk(p, depth - 1, fn) < 0 : fn(p) < 0)
            rc = -1;
        free(p);
    }
    closedir(d);
    return rc;
}

static int unmount_one(const char *path)
{
    if (umount_all(path) < 0 || is_mountpoint(path)) {
        util_log_warn("kubelet: %s is still mounted", path);
        return -1;
    }
    return 0;
}

int kubelet__volumes_teardown(const char *agent_dir, const char *uid)
{
    char dir[4200];
    int rc = 0;
    util_snprintf(dir, sizeof(dir), "%s/pods/%s/volume-subpaths", agent_dir, uid);
    if (walk(dir, 3, unmount_one) < 0)
        rc = -1;
    util_snprintf(dir, sizeof(dir), "%s/pods/%s/volumes", agent_dir, uid);
    if (walk(dir, 2, unmount_one) < 0)
        rc = -1;
    return rc;
}

void kubelet__volumes_orphans(const char *agent_dir, const util_strv_t *live, time_t before)
{
    char dir[4200];
    util_snprintf(dir, sizeof(dir), "%s/pods", agent_dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        bool alive = false;
        for (size_t i = 0; i < live->n && !alive; i++)
            alive = !strcmp(live->v[i], e->d_name);
        char path[4200];
        util_snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (alive || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_mtime >= before)
            continue;
        util_log_info("kubelet: removing the volumes of pod %s, which is gone", e->d_name);
        if (kubelet__volumes_teardown(agent_dir, e->d_name) == 0)
            kubelet__rm_rf(path);
    }
    closedir(d);
}

/* ---- termination messages ------------------------------------------------------------------ */

#define MAX_TERM_MSG 4096
#define MAX_POD_MSG  (12 * 1024)

void kubelet__ctr_termination_message(kctr_t *c, int exit_code)
{
    kpod_t *p = c->pod;
    kpods_t *ps = p->ps;
    const cJSON *ctr = find_container(p->obj, c->name);
    const char *policy = jstr(ctr, "terminationMessagePolicy");
    if (!safe_name(c->name) || !p->obj)
        return;
    char termlog[4300], logp[4300];
    int attempt = c->attempt;
    char u[RUNTIME_ID_MAX + 1], nm[RUNTIME_ID_MAX + 1];
    if (c->id[0])
        kubelet__parse_cid(c->id, u, sizeof(u), nm, sizeof(nm), &attempt);
    kubelet__termlog_path(ps->agent_dir, p->uid, c->name, attempt, termlog, sizeof(termlog));
    util_snprintf(logp, sizeof(logp), "%s/logs/pods/%s_%s_%s/%s/%d.log", ps->agent_dir,
                  p->ns ? p->ns : "", p->name ? p->name : "", p->uid, c->name, attempt);
    /* upstream: 4096 bytes per container, 12 KiB for the pod, split evenly */
    size_t limit = p->n ? MAX_POD_MSG / p->n : MAX_TERM_MSG;
    if (limit > MAX_TERM_MSG)
        limit = MAX_TERM_MSG;
    char *buf = util_xmalloc(MAX_TERM_MSG + 1);
    kubelet__termination_message(termlog, logp, policy && !strcmp(policy, "FallbackToLogsOnError"),
                                 exit_code, limit, buf, MAX_TERM_MSG + 1);
    if (buf[0])
        kubelet__set_str(&c->term_msg, buf);
    free(buf);
}

/* ---- W_VOLUMES ----------------------------------------------------------------------------- */

void kubelet__volumes_work(work_t *w)
{
    kvol_ctx_t x = {.agent_dir = w->ps->agent_dir,
                    .pod = w->obj,
                    .refs = w->refs,
                    .pod_ip = w->ip,
                    .host_ip = w->host_ip,
                    .node_cpu_milli = w->node_cpu_milli,
                    .node_memory = w->node_memory,
                    .node_storage = w->node_storage};
    util_error_t err = NULL;
    if (kubelet__volumes_setup(&x, &err) < 0) { /* work_done: a FailedMount event */
        w->rc = -1;
        w->reason = "FailedMount";
        kubelet__errtext(&err, w->message, sizeof(w->message));
        util_log_warn("kubelet: pod %s/%s: %s", w->ns, w->name, w->message);
    }
}
