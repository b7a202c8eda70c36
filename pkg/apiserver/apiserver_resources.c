/* apiserver_resources: the served resources and API groups. */
#include "apiserver_resources.h"

#include <string.h>

#define RW_VERBS                                                                                \
    {                                                                                           \
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL \
    }

const apiserver_resource_t apiserver_resources[] = {
    {"",
     "v1",
     "Namespace",
     "namespaces",
     "namespace",
     false,
     {"ns", NULL},
     {NULL},
     {"create", "delete", "get", "list", "patch", "update", "watch", NULL},
     {"status", NULL}},
    {"",
     "v1",
     "ConfigMap",
     "configmaps",
     "configmap",
     true,
     {"cm", NULL},
     {NULL},
     RW_VERBS,
     {NULL}},
    {"", "v1", "Secret", "secrets", "secret", true, {NULL}, {NULL}, RW_VERBS, {NULL}},
    {"",
     "v1",
     "ServiceAccount",
     "serviceaccounts",
     "serviceaccount",
     true,
     {"sa", NULL},
     {NULL},
     RW_VERBS,
     {NULL}},
    {"", "v1", "Event", "events", "event", true, {"ev", NULL}, {NULL}, RW_VERBS, {NULL}},
    {"coordination.k8s.io",
     "v1",
     "Lease",
     "leases",
     "lease",
     true,
     {NULL},
     {NULL},
     RW_VERBS,
     {NULL}},
};
const size_t apiserver_nresources = sizeof(apiserver_resources) / sizeof(apiserver_resources[0]);

const apiserver_group_t apiserver_groups[] = {
    {"", "v1"},
    {"coordination.k8s.io", "v1"},
};
const size_t apiserver_ngroups = sizeof(apiserver_groups) / sizeof(apiserver_groups[0]);

const apiserver_resource_t *apiserver_resource_find(const char *group, const char *version,
                                                    const char *plural)
{
    for (size_t i = 0; i < apiserver_nresources; i++) {
        const apiserver_resource_t *r = &apiserver_resources[i];
        if (!strcmp(r->group, group) && !strcmp(r->version, version) && !strcmp(r->plural, plural))
            return r;
    }
    return NULL;
}
