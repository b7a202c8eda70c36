/* kubelet_volumes: pod volumes (emptyDir, hostPath, configMap, secret, downwardAPI, projected,
 * persistentVolumeClaim of a hostPath PV), the container's mounts (subPath, subPathExpr),
 * config objects for env (configMapKeyRef, secretKeyRef, envFrom) and termination messages.
 * Internal to pkg/kubelet; the pure parts are unit-tested (tests/unit/test_kubelet_volumes.c).
 * See docs/kubelet.md#volumes. */
#ifndef KUBELING_KUBELET_VOLUMES_H
#define KUBELING_KUBELET_VOLUMES_H

#include "kubelet/kubelet.h"
#include "runtime/runtime.h"

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

/* ---- AtomicWriter (upstream pkg/volume/util/atomic_writer.go) ------------------------------- */

typedef struct kubelet_payload_file {
    char *path; /* relative, cleaned; may contain '/' */
    char *data;
    size_t len;
    mode_t mode;
} kubelet_payload_file_t;

typedef struct kubelet_payload {
    kubelet_payload_file_t *v;
    size_t n;
} kubelet_payload_t;

/* Adds a file (copies path and data); a later file with the same path replaces it. */
void kubelet_payload_add(kubelet_payload_t *p, const char *path, const void *data, size_t len,
                         mode_t mode);
void kubelet_payload_free(kubelet_payload_t *p);
/* upstream's validatePath: non-empty, relative, at most 4096 bytes, segments at most 255, no
 * ".." segment, not starting with "..". 0 or -EINVAL with a message. */
int kubelet_payload_validate_path(const char *path, util_error_t *err);

/* Writes the payload into dir (which must exist) the upstream way: files in a new
 * `..YYYY_MM_DD_HH_MM_SS.xxxxxx` directory, `..data` swapped to it by rename of a symlink,
 * user-visible symlinks `<top> -> ..data/<top>`, then stale ones and the old directory removed.
 * Nothing is written when the content and modes are unchanged (*ret_changed false). */
int kubelet_atomic_write(const char *dir, const kubelet_payload_t *p, bool *ret_changed,
                         util_error_t *err);

/* ---- subPath ------------------------------------------------------------------------------- */

/* Opens volume/subpath without leaving volume (symlinks followed only while they stay
 * beneath it; absolute symlinks and ".." escapes refused), creating missing directories of
 * the path (mode of the volume's root) when create is set. Returns an O_PATH fd. */
int kubelet_subpath_open(const char *volume, const char *subpath, bool create, util_error_t *err);
/* upstream's checks of a (possibly expanded) subPath: not absolute, no ".." element. */
int kubelet_subpath_check(const char *subpath, util_error_t *err);

/* ---- downward API formats ------------------------------------------------------------------ */

/* upstream's fieldpath.FormatMap: `key="value"` lines, keys sorted, values quoted like Go's %q,
 * no trailing newline. Caller frees. */
char *kubelet_format_map(const cJSON *map);
/* A resourceFieldRef (limits.cpu, requests.cpu, limits.memory, requests.memory,
 * limits.ephemeral-storage, requests.ephemeral-storage) of a container, divided by divisor and
 * rounded up like upstream; limits default to the node's allocatable. NULL when invalid. */
char *kubelet_resource_field(const cJSON *container, const char *resource, const char *divisor,
                             int64_t node_cpu_milli, int64_t node_memory, int64_t node_storage);

/* ---- env from config objects ------------------------------------------------------------- */

/* upstream's IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]*. */
bool kubelet_env_name_valid(const char *name);

/* ---- the pod's volumes (thread-pool side) ------------------------------------------------- */

typedef struct kvol_ctx {
    const char *agent_dir;
    const cJSON *pod;  /* the pod object */
    const cJSON *refs; /* kubelet__config_snapshot: {"configmaps":{..},"secrets":{..},...} */
    const char *pod_ip, *host_ip;
    int64_t node_cpu_milli, node_memory, node_storage;
    int attempt; /* of the container being started (its termination-log file) */
} kvol_ctx_t;

/* Sets up every volume of the pod (idempotent; configMap, secret, downwardAPI and projected
 * contents rewritten when changed). Errors say `MountVolume.SetUp failed for volume "v" : ...`. */
int kubelet__volumes_setup(const kvol_ctx_t *x, util_error_t *err);

typedef struct kvol_mounts {
    runtime_mount_t *v;
    size_t n;
    util_strv_t strs; /* owns the paths */
} kvol_mounts_t;

/* The container's volumeMounts as runtime mounts (subPath and subPathExpr bind-mounted under
 * pods/<uid>/volume-subpaths first, through an fd opened beneath the volume) plus its
 * terminationMessagePath file. env: the container's environment for subPathExpr. Errors are
 * upstream's CreateContainerConfigError messages. */
int kubelet__volumes_mounts(const kvol_ctx_t *x, const cJSON *container, const util_strv_t *env,
                            kvol_mounts_t *out, util_error_t *err);
void kubelet__volumes_mounts_free(kvol_mounts_t *m);

/* Unmounts everything the kubelet mounted for the pod (tmpfs volumes, subPath binds). -1 when
 * something stays mounted: the caller must then not remove the pod directory. */
int kubelet__volumes_teardown(const char *agent_dir, const char *uid);
/* Tears down and removes pods/<uid> directories of pods not in live (found at start) and
 * last changed before `before` (a pod arriving meanwhile is not touched). */
void kubelet__volumes_orphans(const char *agent_dir, const util_strv_t *live, time_t before);

/* The host file bind-mounted at the container's terminationMessagePath. */
void kubelet__termlog_path(const char *agent_dir, const char *uid, const char *cname, int attempt,
                           char *buf, size_t n);
/* The termination message of an exited container: the file (at most limit bytes), else with
 * FallbackToLogsOnError and a failure the log's last 80 lines (at most 2048 bytes). */
void kubelet__termination_message(const char *termlog, const char *log_path, bool fallback,
                                  int exit_code, size_t limit, char *buf, size_t n);

#endif
