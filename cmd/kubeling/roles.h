/* roles.h: the role table entry type and the global options every role sees. */
#ifndef KUBELING_ROLES_H
#define KUBELING_ROLES_H

#include "kubelet/kubelet.h"
#include "util/util.h"

/* Global flags, parsed once by main before the role runs. */
typedef struct kubeling_globals {
    char *data_dir;   /* --data-dir; defaulted by main */
    long verbosity;   /* -v / --v */
    char *log_format; /* --log-format text|json */
    char *config;     /* --config FILE */
    bool help;        /* -h / --help */
} kubeling_globals_t;

typedef struct kubeling_role {
    const char *name;
    const char *summary;   /* one line for `kubeling help` */
    const char *args_help; /* positional arguments, or NULL when the role takes none */
    const util_flag_t *flags;
    int (*run)(const kubeling_globals_t *g, const util_strv_t *args);
    bool hidden;                   /* internal roles (shims) are not listed */
    const util_flag_t *node_flags; /* the kubelet's flags (role_node_flags) for node roles */
} kubeling_role_t;

/* The kubelet's flags, shared by the roles that run one (server, agent): role_node.c. */
typedef struct role_node_opts {
    char *node_name, *node_ip, *private_registry, *cluster_cidr, *log_max_size;
    char *pod_manifest_path, *cluster_dns, *cluster_domain, *resolv_conf;
    long node_cidr_mask_size, max_pods, kubelet_port, log_max_files;
    util_strv_t node_labels;
} role_node_opts_t;
extern role_node_opts_t role_node;
extern const util_flag_t role_node_flags[];
/* Sets o's fields that these flags give (a bad --container-log-max-size is an error). */
int role_node_kubelet_opts(kubelet_opts_t *o, util_error_t *err);

/* Exit codes: 0 success, 1 runtime failure, 2 usage error (bad role, flag, config). */
enum { KUBELING_EXIT_OK = 0, KUBELING_EXIT_FAILURE = 1, KUBELING_EXIT_USAGE = 2 };

extern const kubeling_role_t role_server;
extern const kubeling_role_t role_agent;
extern const kubeling_role_t role_version;
extern const kubeling_role_t role_images;
extern const kubeling_role_t role_killall;
extern const kubeling_role_t role_shim;

#endif
