/* apiserver_resources: the table of served resources (internal to pkg/apiserver). Discovery,
 * routing and storage are all driven by this table. */
#ifndef KUBELING_APISERVER_RESOURCES_H
#define KUBELING_APISERVER_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>

/* How object names are validated (upstream's per-resource rules). */
typedef enum {
    APISERVER_NAME_SUBDOMAIN = 0, /* RFC 1123 subdomain: most resources */
    APISERVER_NAME_LABEL,         /* RFC 1123 label: namespaces */
    APISERVER_NAME_DNS1035,       /* RFC 1035 label (starts with a letter): services */
    APISERVER_NAME_PATH_SEGMENT,  /* any name usable as a path segment: RBAC objects */
} apiserver_name_rule_t;

typedef struct apiserver_resource {
    const char *group;    /* "" for the core group */
    const char *version;  /* "v1" */
    const char *kind;     /* "ConfigMap" (the list kind is kind + "List") */
    const char *plural;   /* "configmaps": the URL segment */
    const char *singular; /* "configmap" */
    bool namespaced;
    const char *short_names[8];  /* NULL-terminated */
    const char *categories[4];   /* NULL-terminated, e.g. "all" */
    const char *verbs[10];       /* NULL-terminated, e.g. "get", "list", "watch", ... */
    const char *subresources[8]; /* NULL-terminated, e.g. "status" */
    apiserver_name_rule_t name_rule;
} apiserver_resource_t;

extern const apiserver_resource_t apiserver_resources[];
extern const size_t apiserver_nresources;

/* Groups in the order discovery lists them (the core group "" first), each with its one
 * served version. */
typedef struct apiserver_group {
    const char *name;
    const char *version;
} apiserver_group_t;

extern const apiserver_group_t apiserver_groups[];
extern const size_t apiserver_ngroups;

/* Finds a resource by group, version and plural (built-in, then custom resources of
 * established CRDs); NULL if not served. */
const apiserver_resource_t *apiserver_resource_find(const char *group, const char *version,
                                                    const char *plural);

/* Every served resource: the built-in table, then custom resources (0..count-1; indexes are
 * valid until the set of CRDs changes). */
size_t apiserver_resource_count(void);
const apiserver_resource_t *apiserver_resource_at(size_t i);
/* Every served group/version: built-in groups, then custom ones (same group adjacent, the
 * preferred version first). */
size_t apiserver_group_count(void);
const apiserver_group_t *apiserver_group_at(size_t i);

#endif
