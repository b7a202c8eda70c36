/* apiserver_resources: the served resources and API groups. */
#include "apiserver_resources.h"

#include "apiserver_crd.h"

#include <string.h>

#define RW_VERBS                                                                                \
    {                                                                                           \
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL \
    }
#define NS_VERBS                                                            \
    {                                                                       \
        "create", "delete", "get", "list", "patch", "update", "watch", NULL \
    }
#define READ_VERBS          \
    {                       \
        "get", "list", NULL \
    }
#define STATUS         \
    {                  \
        "status", NULL \
    }
#define SCALABLE                \
    {                           \
        "scale", "status", NULL \
    }
#define POD_SUBS                                                                      \
    {                                                                                 \
        "attach", "binding", "eviction", "exec", "log", "portforward", "status", NULL \
    }
#define NONE \
    {        \
        NULL \
    }
#define SHORT(...)        \
    {                     \
        __VA_ARGS__, NULL \
    }
#define ALL         \
    {               \
        "all", NULL \
    }

const apiserver_resource_t apiserver_resources[] = {
    /* core/v1 */
    {"", "v1", "Namespace", "namespaces", "namespace", false, SHORT("ns"), NONE, NS_VERBS, STATUS,
     APISERVER_NAME_LABEL},
    {"", "v1", "ConfigMap", "configmaps", "configmap", true, SHORT("cm"), NONE, RW_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "Secret", "secrets", "secret", true, NONE, NONE, RW_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    {"",
     "v1",
     "ServiceAccount",
     "serviceaccounts",
     "serviceaccount",
     true,
     SHORT("sa"),
     NONE,
     RW_VERBS,
     {"token", NULL},
     APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "Event", "events", "event", true, SHORT("ev"), NONE, RW_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "Pod", "pods", "pod", true, SHORT("po"), ALL, RW_VERBS, POD_SUBS,
     APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "Service", "services", "service", true, SHORT("svc"), ALL, RW_VERBS, STATUS,
     APISERVER_NAME_DNS1035},
    {"", "v1", "Endpoints", "endpoints", "endpoints", true, SHORT("ep"), NONE, RW_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "Node", "nodes", "node", false, SHORT("no"), NONE, RW_VERBS, STATUS,
     APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false, SHORT("pv"),
     NONE, RW_VERBS, STATUS, APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true,
     SHORT("pvc"), NONE, RW_VERBS, STATUS, APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", true,
     SHORT("rc"), ALL, RW_VERBS, SCALABLE, APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "LimitRange", "limitranges", "limitrange", true, SHORT("limits"), NONE, RW_VERBS,
     NONE, APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true, SHORT("quota"), NONE,
     RW_VERBS, STATUS, APISERVER_NAME_SUBDOMAIN},
    {"", "v1", "PodTemplate", "podtemplates", "podtemplate", true, NONE, NONE, RW_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    /* apps/v1 */
    {"apps", "v1", "Deployment", "deployments", "deployment", true, SHORT("deploy"), ALL, RW_VERBS,
     SCALABLE, APISERVER_NAME_SUBDOMAIN},
    {"apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, SHORT("rs"), ALL, RW_VERBS,
     SCALABLE, APISERVER_NAME_SUBDOMAIN},
    {"apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, SHORT("sts"), ALL, RW_VERBS,
     SCALABLE, APISERVER_NAME_SUBDOMAIN},
    {"apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, SHORT("ds"), ALL, RW_VERBS, STATUS,
     APISERVER_NAME_SUBDOMAIN},
    {"apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", true, NONE,
     NONE, RW_VERBS, NONE, APISERVER_NAME_SUBDOMAIN},
    /* batch/v1 */
    {"batch", "v1", "Job", "jobs", "job", true, NONE, ALL, RW_VERBS, STATUS,
     APISERVER_NAME_SUBDOMAIN},
    {"batch", "v1", "CronJob", "cronjobs", "cronjob", true, SHORT("cj"), ALL, RW_VERBS, STATUS,
     APISERVER_NAME_SUBDOMAIN},
    /* autoscaling/v2 */
    {"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
     "horizontalpodautoscaler", true, SHORT("hpa"), ALL, RW_VERBS, STATUS,
     APISERVER_NAME_SUBDOMAIN},
    /* autoscaling/v1: stored as autoscaling/v2 (apiserver_convert.c) */
    {"autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
     "horizontalpodautoscaler", true, SHORT("hpa"), ALL, RW_VERBS, STATUS,
     APISERVER_NAME_SUBDOMAIN},
    /* events.k8s.io/v1: stored as core/v1 Events (apiserver_convert.c) */
    {"events.k8s.io", "v1", "Event", "events", "event", true, SHORT("ev"), NONE, RW_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    /* coordination.k8s.io/v1 */
    {"coordination.k8s.io", "v1", "Lease", "leases", "lease", true, NONE, NONE, RW_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    /* discovery.k8s.io/v1 */
    {"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true, NONE, NONE,
     RW_VERBS, NONE, APISERVER_NAME_SUBDOMAIN},
    /* policy/v1 */
    {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true,
     SHORT("pdb"), NONE, RW_VERBS, STATUS, APISERVER_NAME_SUBDOMAIN},
    /* networking.k8s.io/v1 */
    {"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", true,
     SHORT("netpol"), NONE, RW_VERBS, NONE, APISERVER_NAME_SUBDOMAIN},
    {"networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true, SHORT("ing"), NONE,
     RW_VERBS, STATUS, APISERVER_NAME_SUBDOMAIN},
    {"networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", false, NONE, NONE,
     RW_VERBS, NONE, APISERVER_NAME_SUBDOMAIN},
    /* storage.k8s.io/v1 */
    {"storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", false, SHORT("sc"),
     NONE, RW_VERBS, NONE, APISERVER_NAME_SUBDOMAIN},
    /* scheduling.k8s.io/v1 */
    {"scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", false,
     SHORT("pc"), NONE, RW_VERBS, NONE, APISERVER_NAME_SUBDOMAIN},
    /* rbac.authorization.k8s.io/v1: stored now, enforced by a later issue */
    {"rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, NONE, NONE, RW_VERBS, NONE,
     APISERVER_NAME_PATH_SEGMENT},
    {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, NONE,
     NONE, RW_VERBS, NONE, APISERVER_NAME_PATH_SEGMENT},
    {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, NONE,
     NONE, RW_VERBS, NONE, APISERVER_NAME_PATH_SEGMENT},
    {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
     "clusterrolebinding", false, NONE, NONE, RW_VERBS, NONE, APISERVER_NAME_PATH_SEGMENT},
    /* apiextensions.k8s.io/v1: the custom resources they define are served by apiserver_crd.c */
    {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
     "customresourcedefinition", false, SHORT("crd", "crds"), NONE, RW_VERBS, STATUS,
     APISERVER_NAME_SUBDOMAIN},
    /* metrics.k8s.io/v1beta1: not stored; the built-in metrics-server asks the kubelets
     * (apiserver_resource_metrics.c) */
    {"metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", "", false, NONE, NONE, READ_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
    {"metrics.k8s.io", "v1beta1", "PodMetrics", "pods", "", true, NONE, NONE, READ_VERBS, NONE,
     APISERVER_NAME_SUBDOMAIN},
};
const size_t apiserver_nresources = sizeof(apiserver_resources) / sizeof(apiserver_resources[0]);

const apiserver_group_t apiserver_groups[] = {
    {"", "v1"},
    {"apps", "v1"},
    {"batch", "v1"},
    {"autoscaling", "v2"},
    {"autoscaling", "v1"},
    {"events.k8s.io", "v1"},
    {"coordination.k8s.io", "v1"},
    {"discovery.k8s.io", "v1"},
    {"policy", "v1"},
    {"networking.k8s.io", "v1"},
    {"storage.k8s.io", "v1"},
    {"scheduling.k8s.io", "v1"},
    {"rbac.authorization.k8s.io", "v1"},
    {"apiextensions.k8s.io", "v1"},
    {"metrics.k8s.io", "v1beta1"},
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
    return apiserver_crd_find(group, version, plural);
}

size_t apiserver_resource_count(void)
{
    return apiserver_nresources + apiserver_crd_count();
}

const apiserver_resource_t *apiserver_resource_at(size_t i)
{
    return i < apiserver_nresources ? &apiserver_resources[i]
                                    : apiserver_crd_at(i - apiserver_nresources);
}

size_t apiserver_group_count(void)
{
    return apiserver_ngroups + apiserver_crd_group_count();
}

const apiserver_group_t *apiserver_group_at(size_t i)
{
    return i < apiserver_ngroups ? &apiserver_groups[i]
                                 : apiserver_crd_group_at(i - apiserver_ngroups);
}
