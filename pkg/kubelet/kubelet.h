/* kubelet: the node agent. This first slice registers the Node (capacity, addresses, nodeInfo,
 * labels, pod CIDR, conditions) and keeps it alive: a Lease in kube-node-lease renewed every
 * 10 s and the node status posted on change and at least every minute. Pods come with the
 * runtime (issue 5). See docs/kubelet.md. */
#ifndef KUBELING_KUBELET_H
#define KUBELING_KUBELET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "client/client.h"
#include "images/images.h"
#include "util/util.h"

#define KUBELET_PORT          10250
#define KUBELET_MAX_PODS      110
#define KUBELET_LEASE_NS      "kube-node-lease"
#define KUBELET_LEASE_SECONDS 40
#define KUBELET_DEFAULT_CIDR  "10.42.0.0/16"
#define KUBELET_RUNTIME_DIR   "/run/kubeling/runtime"
#define KUBELET_LOG_MAX_SIZE  (10 * 1024 * 1024) /* upstream's containerLogMaxSize */
#define KUBELET_LOG_MAX_FILES 5                  /* upstream's containerLogMaxFiles */

/* registries.yaml when --private-registry is not given (k3s: /etc/rancher/k3s/registries.yaml) */
#define KUBELET_REGISTRIES     "/etc/kubeling/registries.yaml"
/* --max-pods (upstream's default maxPods is KUBELET_MAX_PODS) and --node-cidr-mask-size
 * (kube-controller-manager's default 24) */
#define KUBELET_MAX_PODS_LIMIT 100000
#define KUBELET_NODE_CIDR_MASK 24

typedef struct kubelet kubelet_t;

typedef struct kubelet_opts {
    uv_loop_t *loop;
    const client_config_t *api; /* how to reach the API server */
    const char *node_name;      /* NULL: the host name, lower-cased */
    const char *data_dir;       /* <data-dir>; the kubelet's state lives in <data-dir>/agent */
    const char *node_ip;        /* NULL: the address of the default-route interface */
    const char *cluster_cidr;   /* pod CIDR of the cluster (default 10.42.0.0/16), a /24 per node */
    int node_cidr_mask_size;    /* the node's range when the kubelet picks it: 0 = /24; 16..30 */
    int max_pods;               /* capacity and allocatable `pods`; 0 = KUBELET_MAX_PODS */
    bool control_plane;         /* the node of a server: control-plane and master role labels */
    bool self_pod_cidr; /* pick the pod CIDR itself (a server without node IPAM); else wait for
                           the controller manager to write spec.podCIDR */
    const char *const *labels; /* extra "key=value" node labels (--node-label) */
    size_t nlabels;
    const char *kube_version;    /* kubeletVersion, e.g. v1.31.0+kubeling */
    const char *runtime_version; /* kubeling's version: containerRuntimeVersion kubeling://<v> */
    uint64_t lease_interval_ms;  /* default 10 s */
    uint64_t status_interval_ms; /* nodeStatusReportFrequency, default 60 s */
    const char *runtime_dir;     /* NULL: KUBELET_RUNTIME_DIR */
    const char *cgroup_root;     /* NULL: "kubeling" (tests: $KUBELING_TEST_CGROUP_ROOT) */
    /* The kubelet API (HTTPS, kubelet_server.c): served when serving_cert is set. */
    int port;                               /* 0: KUBELET_PORT; KUBELET_PORT_ANY: any free port */
    const char *bind_address;               /* NULL: 0.0.0.0 */
    const char *serving_cert, *serving_key; /* PEM files, certificate chain and key */
    const char *client_ca;                  /* PEM file: CA of the clients (the apiserver) */
    int64_t log_max_size;                   /* container log rotation; 0: 10 MiB */
    int log_max_files;                      /* 0: 5 */
    const char *private_registry;  /* registries.yaml (NULL: KUBELET_REGISTRIES); may be absent */
    const char *pod_manifest_path; /* static pods; NULL: <data-dir>/agent/pod-manifests */
    /* pod DNS (kubelet_dns.c): --cluster-dns (comma list; NULL: KUBELET_CLUSTER_DNS, "": none),
     * --cluster-domain (NULL: KUBELET_CLUSTER_DOMAIN), --resolv-conf (NULL: picked as k3s
     * does; "": upstream's no host resolver) */
    const char *cluster_dns, *cluster_domain, *resolv_conf;
} kubelet_opts_t;

#define KUBELET_PORT_ANY (-1)

/* Validates the options, reads the host's facts and starts registering on the loop. Errors are
 * reported here only for bad options or an unusable kubeconfig; the API server being away is
 * retried with back-off. */
int kubelet_start(const kubelet_opts_t *o, kubelet_t **ret, util_error_t *err);
/* Stops timers and requests; memory is released once the loop has run the close callbacks. */
void kubelet_stop(kubelet_t *k);
/* The node name for a --node-name value: the value itself, or the host name lower-cased. */
void kubelet_resolve_node_name(const char *flag, char *out, size_t n);
/* The node's name (valid while k is). */
const char *kubelet_node_name(const kubelet_t *k);

/* ---- host facts and node builders (kubelet_host.c, kubelet_node.c; exposed for tests) ---- */

typedef struct kubelet_host {
    char *hostname; /* lower-cased */
    long cpus;
    uint64_t memory_bytes; /* MemTotal */
    uint64_t memory_available;
    uint64_t storage_bytes; /* statvfs of the data dir */
    uint64_t storage_available;
    char *internal_ip;
    char *kernel_version;
    char *os_image;
    const char *architecture; /* Go's name: amd64, arm64, arm */
    char *machine_id, *system_uuid, *boot_id;
} kubelet_host_t;

/* Reads /proc, /etc/os-release, /etc/machine-id, uname, statvfs(storage_dir), the routing
 * table and interfaces. node_ip overrides the address found. Never fails: missing facts stay
 * empty. */
void kubelet_host_read(kubelet_host_t *h, const char *storage_dir, const char *node_ip);
/* Refreshes the figures that change (available memory and storage). */
void kubelet_host_refresh(kubelet_host_t *h, const char *storage_dir);
void kubelet_host_free(kubelet_host_t *h);

/* MemTotal and MemAvailable of /proc/meminfo text, in bytes; -EINVAL without MemTotal. */
int kubelet_parse_meminfo(const char *text, uint64_t *ret_total, uint64_t *ret_available);
/* PRETTY_NAME of os-release text (quotes and escapes removed), or "Linux". Caller frees. */
char *kubelet_parse_os_release(const char *text);
/* Go's GOARCH for a uname machine: x86_64 amd64, aarch64/arm64 arm64, armv*l arm, ...;
 * NULL: the architecture this binary was built for (what upstream reports, runtime.GOARCH). */
const char *kubelet_go_arch(const char *machine);
/* The interface of the default route (lowest metric) in /proc/net/route text. */
int kubelet_default_route_iface(const char *text, char *ifname, size_t n);
/* A byte count as a canonical binary quantity: 8028084Ki, 2Gi, 1000. */
void kubelet_quantity_binary(uint64_t bytes, char *out, size_t n);
/* The /24 for this node: the lowest one of cluster_cidr no other node in items (a NodeList's
 * items) has, or -ENOSPC. */
int kubelet_pick_pod_cidr(const char *cluster_cidr, const cJSON *items, const char *self, char *out,
                          size_t n);
/* The same with a /mask per node (16..30, not shorter than the cluster range's prefix). */
int kubelet_pick_pod_cidr_mask(const char *cluster_cidr, int mask, const cJSON *items,
                               const char *self, char *out, size_t n);

/* A pod CIDR the pod network can use: IPv4 /16../30 inside cluster_cidr. */
bool kubelet_pod_cidr_usable(const char *cluster_cidr, const char *cidr);
/* True when a Node of items (a NodeList's) other than self has spec.podCIDR cidr. */
bool kubelet_pod_cidr_taken(const cJSON *items, const char *self, const char *cidr);

/* Node conditions in upstream's order (MemoryPressure, DiskPressure, PIDPressure, Ready) with
 * upstream's reasons and messages. A condition whose status is unchanged from previous (a
 * conditions array, or NULL) keeps its lastTransitionTime. now: RFC 3339; heartbeat NULL
 * leaves lastHeartbeatTime out (for change detection). */
typedef struct kubelet_pressure {
    bool memory, disk, pid;
} kubelet_pressure_t;

cJSON *kubelet_node_conditions(const kubelet_pressure_t *p, const char *now, const char *heartbeat,
                               const cJSON *previous);
/* Upstream's default eviction thresholds: memory.available < 100Mi, nodefs.available < 10%. */
kubelet_pressure_t kubelet_host_pressure(const kubelet_host_t *h);

typedef struct kubelet_node_params {
    const char *name;
    const char *pod_cidr; /* NULL: not yet known */
    bool control_plane;
    const char *const *labels;
    size_t nlabels;
    const char *kube_version, *runtime_version;
    int kubelet_port; /* daemonEndpoints.kubeletEndpoint.Port; 0: KUBELET_PORT */
    int max_pods;     /* capacity and allocatable `pods`; 0: KUBELET_MAX_PODS */
} kubelet_node_params_t;

/* status of the Node (capacity, allocatable, addresses, daemonEndpoints, nodeInfo; conditions
 * are added by the caller). */
cJSON *kubelet_node_status(const kubelet_host_t *h, const kubelet_node_params_t *p);
/* metadata.labels of the node. */
cJSON *kubelet_node_labels(const kubelet_node_params_t *p);
/* The whole Node object to create. */
cJSON *kubelet_node_object(const kubelet_host_t *h, const kubelet_node_params_t *p,
                           cJSON *conditions);

/* ---- pods: pure parts (kubelet_podspec.c; exposed for tests) ------------------------------- */

/* Kubernetes quantities through pkg/quantity (upstream rounding): cpu in millicores ("100m",
 * "0.5", "2"), bytes ("64Mi", "1G", "1e3"). -EINVAL for garbage, negative or saturated values. */
int kubelet_parse_cpu_milli(const char *q, int64_t *ret);
int kubelet_parse_bytes(const char *q, int64_t *ret);
/* Upstream's QoS class of a pod spec: "Guaranteed", "Burstable" or "BestEffort". */
const char *kubelet_qos_class(const cJSON *spec);
/* The process of a container: command (else the image's Entrypoint) then args (else the
 * image's Cmd, only when command is not set), like upstream; $(VAR) references in command and
 * args are expanded from env ("K=V" entries, may be NULL). -EINVAL when nothing is left. */
int kubelet_container_argv(const cJSON *container, const images_config_t *img,
                           const util_strv_t *env, util_strv_t *ret);
/* imagePullPolicy as upstream's defaulting gives it (SetDefaults_Container, for static pods,
 * which no apiserver defaults): the policy when set, else "Always" when the image's tag is
 * "latest" (also when it has none and no digest), else "IfNotPresent" (digests, unparsable). */
const char *kubelet_image_pull_policy(const char *image, const char *policy);
/* Upstream's shouldPullImage: Never never pulls, Always always asks the registry (which
 * fetches nothing when the local image is current), IfNotPresent only when absent. */
bool kubelet_image_should_pull(const char *policy, bool present);
/* Upstream's expansion: $(VAR) becomes VAR's value from env (the last "VAR=" entry) or stays
 * as written when VAR is not defined; $$ is a literal $. Caller frees. */
char *kubelet_expand(const char *in, const util_strv_t *env);

/* The source of a downward API fieldRef: the pod (metadata, spec) and what only the kubelet
 * knows; name, ns, uid, node_name, service_account override the pod's when set. */
typedef struct kubelet_field_src {
    const cJSON *pod; /* may be NULL */
    const char *name, *ns, *uid, *node_name, *service_account;
    const char *pod_ip, *host_ip; /* status.podIP(s), status.hostIP(s) */
} kubelet_field_src_t;

/* A fieldRef's value, like upstream's kubelet (podFieldSelectorRuntimeValue over
 * fieldpath.ExtractFieldPathAsString): metadata.name, namespace, uid, labels, annotations
 * (upstream's key="value" lines), metadata.labels['k'] and metadata.annotations['k'] (empty
 * when absent), spec.nodeName (spec.host too), spec.serviceAccountName, status.hostIP(s),
 * status.podIP(s). api_version NULL or "v1". Upstream's errors otherwise ("unsupported
 * fieldPath: x", "field label not supported: x", "invalid key subscript in ...": -EINVAL or
 * -ENOTSUP). *ret is the caller's to free. */
int kubelet_field_value(const kubelet_field_src_t *src, const char *api_version,
                        const char *field_path, char **ret, util_error_t *err);

/* The pod's securityContext.fsGroup (kubelet_fsgroup.c); false when unset or invalid. */
bool kubelet_pod_fs_group(const cJSON *spec, gid_t *ret);
/* The container process's supplementary groups: fsGroup, then supplementalGroups (deduplicated,
 * at most max). Returns how many. */
size_t kubelet_pod_groups(const cJSON *spec, gid_t *ret, size_t max);
/* upstream's SetVolumeOwnership: every file and directory below dir (links not followed) gets
 * group gid and mode | 0660 (readonly: 0440), directories also setgid and | 0110; symlinks only
 * their group. on_root_mismatch (fsGroupChangePolicy OnRootMismatch): nothing is done when dir
 * already has the group, the bits and setgid. */
int kubelet_volume_ownership(const char *dir, gid_t gid, bool readonly, bool on_root_mismatch,
                             util_error_t *err);

typedef struct kubelet_env_ctx {
    const char *pod_name, *pod_namespace, *pod_uid, *node_name, *pod_ip, *host_ip;
    const char *service_account;
    const cJSON *pod;        /* for fieldRefs on its labels and annotations (may be NULL) */
    const cJSON *configmaps; /* {name: ConfigMap} of the pod's namespace (may be NULL) */
    const cJSON *secrets;    /* {name: Secret} */
    int64_t node_cpu_milli, node_memory, node_storage; /* resourceFieldRef limit defaults */
} kubelet_env_ctx_t;

/* The environment: the image's, then envFrom (configMapRef/secretRef with prefix; keys that are
 * not valid names skipped, like upstream), then the container's env (later names win, in
 * order): value ($(VAR) of variables defined before it expanded), fieldRef, resourceFieldRef,
 * configMapKeyRef and secretKeyRef (optional honoured). A missing object or key fails with
 * upstream's message (`configmap "x" not found`, `couldn't find key k in ConfigMap ns/x`);
 * -ENOENT then, -ENOTSUP for an unsupported fieldPath. */
int kubelet_container_env(const cJSON *container, const images_config_t *img,
                          const kubelet_env_ctx_t *ctx, util_strv_t *ret, util_error_t *err);
/* The crash-loop back-off before restart number restarts+1: none for the first restart, then
 * 10 s doubling up to 5 min (upstream's MaxContainerBackOff). */
uint64_t kubelet_crash_backoff_ms(int restarts);

typedef enum {
    KUBELET_CS_WAITING,
    KUBELET_CS_RUNNING,
    KUBELET_CS_TERMINATED,
} kubelet_cstate_t;

typedef struct kubelet_term {
    int exit_code, signal;
    const char *reason, *message; /* Completed, Error, OOMKilled, ... */
    int64_t started_ns, finished_ns;
    const char *container_id; /* kubeling://<id> */
} kubelet_term_t;

typedef struct kubelet_ctr_status {
    const char *name, *image, *image_id, *container_id; /* container_id NULL: none yet */
    bool init;
    kubelet_cstate_t state;
    const char *reason, *message; /* waiting: ContainerCreating, ErrImagePull, ... */
    int64_t started_ns;           /* running */
    kubelet_term_t term;          /* terminated */
    bool has_last;
    kubelet_term_t last;
    int restart_count;
    bool not_ready;   /* running, but its readiness probe has not (yet) succeeded */
    bool not_started; /* running, but its startup probe has not (yet) succeeded */
} kubelet_ctr_status_t;

typedef struct kubelet_pod_view {
    const kubelet_ctr_status_t *ctrs; /* init containers first, in order */
    size_t n;
    const char *restart_policy; /* Always (default), OnFailure, Never */
    const char *pod_ip, *host_ip, *start_time, *qos_class;
    const char *now;              /* RFC 3339 */
    const cJSON *prev_conditions; /* lastTransitionTime is kept for unchanged conditions */
} kubelet_pod_view_t;

/* The pod's phase by upstream's getPhase rules. */
const char *kubelet_pod_phase(const kubelet_pod_view_t *v);
/* The whole status to patch: phase, conditions (PodScheduled, Initialized, ContainersReady,
 * Ready), hostIP(s), podIP(s), startTime, qosClass, initContainerStatuses, containerStatuses. */
cJSON *kubelet_pod_status(const kubelet_pod_view_t *v);
/* RFC 3339 UTC of nanoseconds since the epoch. */
void kubelet_time_ns(int64_t ns, char *out, size_t n);

/* ---- probes, lifecycle hooks, termination: pure parts (kubelet_probe_spec.c) --------------- */

#define KUBELET_MIN_GRACE_SECONDS 2 /* upstream's minimumGracePeriodInSeconds */

typedef enum {
    KUBELET_HANDLER_NONE,
    KUBELET_HANDLER_EXEC,
    KUBELET_HANDLER_HTTP,
    KUBELET_HANDLER_TCP,
    KUBELET_HANDLER_SLEEP,       /* lifecycle hooks only */
    KUBELET_HANDLER_UNSUPPORTED, /* grpc probes, https: reported, never run */
} kubelet_handler_kind_t;

/* A probe's or lifecycle hook's action (exec, httpGet, tcpSocket, sleep). */
typedef struct kubelet_handler {
    kubelet_handler_kind_t kind;
    util_strv_t command; /* exec */
    char host[256];      /* httpGet/tcpSocket host; "" means the pod IP */
    int port;            /* resolved: numbers, or names of the container's ports */
    char path[1024];     /* httpGet: "/" when unset */
    util_strv_t headers; /* httpGet: "Name: value" */
    int sleep_seconds;   /* sleep */
    char what[128];      /* unsupported: what it was (for the message) */
} kubelet_handler_t;

typedef enum { KUBELET_LIVENESS, KUBELET_READINESS, KUBELET_STARTUP } kubelet_probe_type_t;

typedef struct kubelet_probe_spec {
    kubelet_handler_t handler;
    int initial_delay, period, timeout, success_threshold, failure_threshold;
    int64_t termination_grace; /* probe-level terminationGracePeriodSeconds, -1 when unset */
} kubelet_probe_spec_t;

typedef enum {
    KUBELET_PROBE_UNKNOWN,
    KUBELET_PROBE_SUCCESS,
    KUBELET_PROBE_FAILURE,
} kubelet_probe_result_t;

/* A probe worker's memory, as upstream's worker.go: the last raw result, how many times in a
 * row it came, and the result the kubelet acts on. */
typedef struct kubelet_probe_state {
    kubelet_probe_result_t last, result;
    int run;
} kubelet_probe_state_t;

/* Parses a lifecycle handler or probe action; named ports resolve through the container's
 * ports. -EINVAL with a message for malformed input. */
int kubelet_handler_parse(const cJSON *h, const cJSON *container, kubelet_handler_t *ret,
                          util_error_t *err);
void kubelet_handler_free(kubelet_handler_t *h);
/* Parses a probe with upstream's defaults (timeoutSeconds 1, periodSeconds 10,
 * successThreshold 1, failureThreshold 3; liveness and startup need successThreshold 1). */
int kubelet_probe_parse(const cJSON *probe, const cJSON *container, kubelet_probe_spec_t *ret,
                        util_error_t *err);
/* The state a new container's probe starts in: readiness Failure, liveness Success, startup
 * Unknown. */
kubelet_probe_state_t kubelet_probe_initial(kubelet_probe_type_t t);
/* Records one raw result; returns true when the acted-on result was set (the threshold of its
 * kind reached, as upstream's doProbe). Unknown results (prober errors) are thrown away. */
bool kubelet_probe_observe(kubelet_probe_state_t *s, const kubelet_probe_spec_t *spec,
                           kubelet_probe_result_t r);
/* "Liveness", "Readiness", "Startup". */
const char *kubelet_probe_type_name(kubelet_probe_type_t t);

/* upstream's setTerminationGracePeriod: metadata.deletionGracePeriodSeconds, else
 * spec.terminationGracePeriodSeconds, else 2; a liveness/startup kill (probe non-NULL) uses the
 * probe's terminationGracePeriodSeconds when set. */
int64_t kubelet_kill_grace(const cJSON *pod, const kubelet_probe_spec_t *probe);
/* The seconds left for SIGTERM after a preStop hook that took prestop_ms (its time is taken
 * from the grace period, truncated to whole seconds as upstream), never less than 2. */
int64_t kubelet_grace_after_prestop(int64_t grace, uint64_t prestop_ms);
/* ---- static pods: pure parts (kubelet_static_spec.c; exposed for tests) -------------------- */

#define KUBELET_STATIC_MAX_BYTES  (256u * 1024) /* a manifest larger than this is refused */
#define KUBELET_STATIC_MAX_FILES  256           /* manifests read from the directory */
#define KUBELET_ANN_CONFIG_HASH   "kubernetes.io/config.hash"
#define KUBELET_ANN_CONFIG_SOURCE "kubernetes.io/config.source"
#define KUBELET_ANN_CONFIG_SEEN   "kubernetes.io/config.seen"
#define KUBELET_ANN_CONFIG_MIRROR "kubernetes.io/config.mirror"

/* A file name the manifest directory's scan reads: *.yaml, *.yml, *.json, not hidden. */
bool kubelet_static_file_wanted(const char *name);
/* A manifest (YAML, the first document only, or JSON) to the pod to run, as upstream's
 * applyDefaults: name <name>-<node>, namespace default, uid a hash of node, path and content,
 * annotations config.hash (the uid), config.source "file", config.seen (seen), spec.nodeName,
 * a toleration of every NoExecute taint. -EINVAL/-EFBIG with a message. */
int kubelet_static_pod_parse(const char *text, size_t len, const char *path, const char *node,
                             const char *seen, cJSON **ret, util_error_t *err);
/* kubernetes.io/config.hash of a static pod, config.mirror of a mirror pod (NULL: none). */
const char *kubelet_static_hash(const cJSON *pod);
const char *kubelet_mirror_hash(const cJSON *pod);
/* The mirror pod to create for a static pod: config.mirror, the Node as controlling owner. */
cJSON *kubelet_static_mirror(const cJSON *pod, const char *node, const char *node_uid);

/* ---- container logs as the kubelet API serves them (kubelet_logs.c; exposed for tests) ---- */

/* One record of a CRI log file: `<RFC3339Nano> <stdout|stderr> <F|P> <content>`. */
typedef struct kubelet_cri_record {
    int64_t ts_ns;
    bool is_stderr, partial;
    const char *content;
    size_t len;
} kubelet_cri_record_t;

/* Parses one line (without its newline); -EINVAL when it is not a CRI record. */
int kubelet_cri_parse(const char *line, size_t len, kubelet_cri_record_t *ret);
/* RFC 3339 (with or without fraction, Z or +hh:mm) to nanoseconds since the epoch. */
int kubelet_parse_rfc3339(const char *s, size_t len, int64_t *ret_ns);

typedef struct kubelet_log_opts {
    bool timestamps;     /* each record prefixed with its time, RFC3339Nano with 9 digits */
    int64_t tail_lines;  /* < 0: all */
    int64_t since_ns;    /* records older are skipped; 0: none */
    int64_t limit_bytes; /* < 0: none; output stops after that many bytes */
    int stream;          /* 0: both; 1: stdout only; 2: stderr only (upstream's `stream`) */
} kubelet_log_opts_t;

/* A reader over a container's log: its rotated files (PATH.N .. PATH.1, oldest first) then
 * PATH, from the start that tail_lines asks for; it follows PATH across rotations. */
typedef struct kubelet_log_reader kubelet_log_reader_t;

int kubelet_log_reader_open(const char *path, int max_files, const kubelet_log_opts_t *o,
                            kubelet_log_reader_t **ret, util_error_t *err);
/* Appends up to about max bytes of output: 1 when something was read, 0 at the end of what
 * is written now (follow: try again later), 2 when limit_bytes is reached, < 0 on errors. */
int kubelet_log_reader_next(kubelet_log_reader_t *r, util_buf_t *out, size_t max);
kubelet_log_reader_t *kubelet_log_reader_free(kubelet_log_reader_t *r);
/* An fd that turns readable when the shim writes, rotates or closes a file in the log's
 * directory (inotify), so that a follower waits for output instead of polling; -1 when no
 * watch can be made (the caller then falls back to a timeout). Owned by the reader. */
int kubelet_log_reader_watch_fd(kubelet_log_reader_t *r);
/* Consumes the watch's pending events (call when the fd was readable, before reading on). */
void kubelet_log_reader_watch_drain(kubelet_log_reader_t *r);

/* ---- pod DNS: resolv.conf and hosts (kubelet_dns.c; exposed for tests) ---- */

#define KUBELET_CLUSTER_DNS          "10.43.0.10" /* k3s: the 10th address of 10.43.0.0/16 */
#define KUBELET_CLUSTER_DOMAIN       "cluster.local"
#define KUBELET_DNS_MAX_NAMESERVERS  3    /* upstream validation.MaxDNSNameservers */
#define KUBELET_DNS_MAX_SEARCHES     32   /* MaxDNSSearchPaths (expanded DNS config, GA) */
#define KUBELET_DNS_MAX_SEARCH_CHARS 2048 /* MaxDNSSearchListChars, spaces included */

typedef struct kubelet_dns {
    util_strv_t servers, searches, options; /* options as "name" or "name:value" */
} kubelet_dns_t;

typedef struct kubelet_dns_conf {
    util_strv_t cluster_dns; /* empty: none configured (ClusterFirst falls back to Default) */
    char *cluster_domain;    /* "": no cluster search domains */
    char *resolv_conf;       /* the host file for Default; "": none (127.0.0.1, search .) */
    bool resolv_auto; /* no usable file was found: loopback nameservers are dropped from it and
                         a missing file is an empty one */
} kubelet_dns_conf_t;

/* Builds the configuration from the flags (NULL: defaults, see kubelet_opts_t); -EINVAL for an
 * address that is not an IP. Picks the host file when resolv_conf is NULL: /etc/resolv.conf,
 * else /run/systemd/resolve/resolv.conf, the first whose nameservers are all global unicast. */
int kubelet_dns_conf_init(kubelet_dns_conf_t *c, const char *cluster_dns, const char *domain,
                          const char *resolv_conf, util_error_t *err);
void kubelet_dns_conf_free(kubelet_dns_conf_t *c);
void kubelet_dns_free(kubelet_dns_t *d);
bool kubelet_dns_valid_ip(const char *s);
/* The index-th address of an IPv4 CIDR (k3s's cluster DNS: index 10 of the service CIDR). */
int kubelet_dns_service_ip(const char *cidr, unsigned index, char *out, size_t n);
/* Parses resolv.conf text as upstream: nameservers accumulate, the last search and options
 * lines win, trailing dots of search domains dropped; drop_unreachable leaves out nameservers
 * that are not global unicast. -EINVAL (with what parsed) for a nameserver line without one. */
int kubelet_dns_parse_resolv(const char *text, bool drop_unreachable, kubelet_dns_t *out);
/* True if text names a nameserver and all are global unicast (k3s's isValidResolvConf). */
bool kubelet_dns_resolv_usable(const char *text);
/* An event about the pod (node false) or the node, to post as a Warning. */
typedef void (*kubelet_dns_event_fn)(void *ud, bool node, const char *reason, const char *message);
/* The pod's resolver configuration (upstream GetPodDNS): host is the parsed host file (NULL:
 * none). -EINVAL for an unknown dnsPolicy (ClusterFirst is used, as upstream). */
int kubelet_dns_for_pod(const kubelet_dns_conf_t *c, const kubelet_dns_t *host, const cJSON *pod,
                        kubelet_dns_t *out, kubelet_dns_event_fn ev, void *ud);
/* upstream CheckLimitsForResolvConf: the message of a Warning event CheckLimitsForResolvConf on
 * the Node when the host file's search line (text) leaves no room for the cluster's paths within
 * the limits, else NULL. Caller frees. */
char *kubelet_dns_check_host_limits(const kubelet_dns_conf_t *c, const char *text);
/* resolv.conf text as containerd writes it: search, nameserver lines, options. Caller frees. */
char *kubelet_dns_render(const kubelet_dns_t *d);
/* /etc/hosts as upstream: the managed file with "<ip>\t<hostname>" (the FQDN first with
 * spec.subdomain) or, with hostNetwork, node_hosts; then spec.hostAliases. Caller frees. */
char *kubelet_hosts_file(const cJSON *pod, const char *ip, const char *hostname,
                         const char *cluster_domain, const char *node_hosts);

#endif
