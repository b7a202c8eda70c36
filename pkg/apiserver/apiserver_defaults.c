/* apiserver_defaults: upstream's defaulting (SetDefaults_*) of the fields kubectl, controllers
 * and users rely on, applied to every object written, in one place per resource. */
#include "apiserver_quota.h"
#include "apiserver_defaults.h"

#include <string.h>

#include "apiserver_object.h"

static cJSON *object(cJSON *parent, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, name);
    if (cJSON_IsObject(v))
        return v;
    if (v && !cJSON_IsNull(v))
        return NULL; /* wrong type: validation's business, not ours */
    cJSON_DeleteItemFromObjectCaseSensitive(parent, name);
    return cJSON_AddObjectToObject(parent, name);
}

static void str(cJSON *obj, const char *name, const char *value)
{
    if (obj && !cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_AddStringToObject(obj, name, value);
}

static void num(cJSON *obj, const char *name, double value)
{
    if (obj && !cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_AddNumberToObject(obj, name, value);
}

static void boolean(cJSON *obj, const char *name, bool value)
{
    if (obj && !cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_AddBoolToObject(obj, name, value);
}

/* imagePullPolicy: Always for ":latest" or no tag, IfNotPresent otherwise (a digest without a
 * tag too; "name:latest@sha256:..." is Always, as upstream's parsers.ParseImageName gives). */
static const char *pull_policy(const char *image)
{
    if (!image)
        return "IfNotPresent";
    const char *at = strchr(image, '@');
    size_t len = at ? (size_t)(at - image) : strlen(image);
    const char *slash = memrchr(image, '/', len);
    const char *from = slash ? slash : image;
    const char *colon = memrchr(from, ':', len - (size_t)(from - image));
    if (!colon)
        return at ? "IfNotPresent" : "Always";
    return len - (size_t)(colon - image) == 7 && !strncmp(colon, ":latest", 7) ? "Always"
                                                                               : "IfNotPresent";
}

/* SetDefaults_HTTPGetAction, of probes and lifecycle handlers. */
static void http_get(cJSON *handler)
{
    cJSON *g = cJSON_GetObjectItemCaseSensitive(handler, "httpGet");
    if (!cJSON_IsObject(g))
        return;
    str(g, "path", "/");
    str(g, "scheme", "HTTP");
}

/* SetDefaults_Probe: timeoutSeconds 1, periodSeconds 10, successThreshold 1,
 * failureThreshold 3. */
static void probes_and_hooks(cJSON *c)
{
    static const char *const probes[] = {"livenessProbe", "readinessProbe", "startupProbe"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(c, probes[i]);
        if (!cJSON_IsObject(p))
            continue;
        num(p, "timeoutSeconds", 1);
        num(p, "periodSeconds", 10);
        num(p, "successThreshold", 1);
        num(p, "failureThreshold", 3);
        http_get(p);
    }
    cJSON *lc = cJSON_GetObjectItemCaseSensitive(c, "lifecycle");
    http_get(cJSON_GetObjectItemCaseSensitive(lc, "postStart"));
    http_get(cJSON_GetObjectItemCaseSensitive(lc, "preStop"));
}

static void container(cJSON *c)
{
    if (!cJSON_IsObject(c))
        return;
    probes_and_hooks(c);
    str(c, "imagePullPolicy", pull_policy(apiserver_obj_string(c, "image")));
    str(c, "terminationMessagePath", "/dev/termination-log");
    str(c, "terminationMessagePolicy", "File");
    object(c, "resources");
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports"))
    {
        if (cJSON_IsObject(p))
            str(p, "protocol", "TCP");
    }
}

/* PodSpec (pods and every pod template); restart_policy NULL for Jobs, which must say. */
static void pod_spec(cJSON *spec, const char *restart_policy)
{
    if (!spec)
        return;
    if (restart_policy)
        str(spec, "restartPolicy", restart_policy);
    str(spec, "dnsPolicy", "ClusterFirst");
    num(spec, "terminationGracePeriodSeconds", 30);
    str(spec, "schedulerName", "default-scheduler");
    object(spec, "securityContext");
    boolean(spec, "enableServiceLinks", true);
    /* priority and preemptionPolicy of pods come from the Priority admission
     * (apiserver_priority.c); templates carry none, as upstream's */
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t i = 0; i < 2; i++) {
        cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, lists[i]))
        {
            container(c);
        }
    }
}

static cJSON *template_spec(cJSON *spec)
{
    cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
    if (!cJSON_IsObject(tmpl))
        return NULL;
    object(tmpl, "metadata");
    return object(tmpl, "spec");
}

static void rolling_update(cJSON *strategy, const char *max_unavailable_s, double max_unavailable,
                           const char *max_surge_s, double max_surge)
{
    if (!strategy)
        return;
    str(strategy, "type", "RollingUpdate");
    const char *type = apiserver_obj_string(strategy, "type");
    if (!type || strcmp(type, "RollingUpdate"))
        return;
    cJSON *ru = object(strategy, "rollingUpdate");
    if (max_unavailable_s)
        str(ru, "maxUnavailable", max_unavailable_s);
    else
        num(ru, "maxUnavailable", max_unavailable);
    if (max_surge_s)
        str(ru, "maxSurge", max_surge_s);
    else
        num(ru, "maxSurge", max_surge);
}

static void service(cJSON *obj)
{
    cJSON *spec = object(obj, "spec");
    if (!spec)
        return;
    str(spec, "type", "ClusterIP");
    str(spec, "sessionAffinity", "None");
    const char *type = apiserver_obj_string(spec, "type");
    if (type && strcmp(type, "ExternalName")) {
        str(spec, "internalTrafficPolicy", "Cluster");
        if (!cJSON_GetObjectItemCaseSensitive(spec, "ipFamilies")) {
            cJSON *f = cJSON_AddArrayToObject(spec, "ipFamilies");
            cJSON_AddItemToArray(f, cJSON_CreateString("IPv4"));
        }
        str(spec, "ipFamilyPolicy", "SingleStack");
    }
    if (type && (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer")))
        str(spec, "externalTrafficPolicy", "Cluster");
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports"))
    {
        if (!cJSON_IsObject(p))
            continue;
        str(p, "protocol", "TCP");
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(p, "port");
        if (cJSON_IsNumber(port))
            num(p, "targetPort", port->valuedouble);
    }
}

/* Both versions default minReplicas to 1; v2 makes v1's implicit cpu target explicit. */
static void hpa(const apiserver_resource_t *r, cJSON *spec)
{
    num(spec, "minReplicas", 1);
    if (strcmp(r->version, "v2") ||
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spec, "metrics")))
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "metrics");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "Resource");
    cJSON *res = cJSON_AddObjectToObject(m, "resource");
    cJSON_AddStringToObject(res, "name", "cpu");
    cJSON *target = cJSON_AddObjectToObject(res, "target");
    cJSON_AddStringToObject(target, "type", "Utilization");
    cJSON_AddNumberToObject(target, "averageUtilization", 80);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "metrics"), m);
}

void apiserver_defaults_apply(const apiserver_resource_t *r, cJSON *obj)
{
    const char *plural = r->plural;
    if (!strcmp(plural, "pods")) {
        pod_spec(object(obj, "spec"), "Always");
    } else if (!strcmp(plural, "services")) {
        service(obj);
    } else if (!strcmp(plural, "podtemplates")) {
        pod_spec(template_spec(obj), "Always");
    } else if (!strcmp(plural, "replicationcontrollers") || !strcmp(plural, "replicasets")) {
        cJSON *spec = object(obj, "spec");
        num(spec, "replicas", 1);
        pod_spec(template_spec(spec), "Always");
    } else if (!strcmp(plural, "deployments")) {
        cJSON *spec = object(obj, "spec");
        num(spec, "replicas", 1);
        rolling_update(object(spec, "strategy"), "25%", 0, "25%", 0);
        num(spec, "revisionHistoryLimit", 10);
        num(spec, "progressDeadlineSeconds", 600);
        pod_spec(template_spec(spec), "Always");
    } else if (!strcmp(plural, "statefulsets")) {
        cJSON *spec = object(obj, "spec");
        num(spec, "replicas", 1);
        str(spec, "podManagementPolicy", "OrderedReady");
        cJSON *us = object(spec, "updateStrategy");
        /* upstream creates rollingUpdate only when it defaults the type; a partition is
         * defaulted wherever rollingUpdate is present */
        if (us && !cJSON_GetObjectItemCaseSensitive(us, "type")) {
            str(us, "type", "RollingUpdate");
            object(us, "rollingUpdate");
        }
        const char *ut = apiserver_obj_string(us, "type");
        cJSON *ru = cJSON_GetObjectItemCaseSensitive(us, "rollingUpdate");
        if (ut && !strcmp(ut, "RollingUpdate") && cJSON_IsObject(ru))
            num(ru, "partition", 0);
        cJSON *ct; /* SetDefaults_PersistentVolumeClaim(Spec) on each claim template */
        cJSON_ArrayForEach(ct, cJSON_GetObjectItemCaseSensitive(spec, "volumeClaimTemplates"))
        {
            if (!cJSON_IsObject(ct))
                continue;
            str(object(ct, "spec"), "volumeMode", "Filesystem");
            str(object(ct, "status"), "phase", "Pending");
        }
        num(spec, "revisionHistoryLimit", 10);
        cJSON *ret = object(spec, "persistentVolumeClaimRetentionPolicy");
        str(ret, "whenDeleted", "Retain");
        str(ret, "whenScaled", "Retain");
        pod_spec(template_spec(spec), "Always");
    } else if (!strcmp(plural, "daemonsets")) {
        cJSON *spec = object(obj, "spec");
        rolling_update(object(spec, "updateStrategy"), NULL, 1, NULL, 0);
        num(spec, "revisionHistoryLimit", 10);
        pod_spec(template_spec(spec), "Always");
    } else if (!strcmp(plural, "jobs")) {
        cJSON *spec = object(obj, "spec");
        bool has_c = cJSON_GetObjectItemCaseSensitive(spec, "completions") != NULL;
        bool has_p = cJSON_GetObjectItemCaseSensitive(spec, "parallelism") != NULL;
        if (!has_c && !has_p)
            num(spec, "completions", 1);
        num(spec, "parallelism", 1);
        num(spec, "backoffLimit", 6);
        str(spec, "completionMode", "NonIndexed");
        boolean(spec, "suspend", false);
        pod_spec(template_spec(spec), NULL);
    } else if (!strcmp(plural, "limitranges")) {
        apiserver_limitrange_defaults(obj);
    } else if (!strcmp(plural, "horizontalpodautoscalers")) {
        hpa(r, object(obj, "spec"));
    } else if (!strcmp(plural, "cronjobs")) {
        cJSON *spec = object(obj, "spec");
        str(spec, "concurrencyPolicy", "Allow");
        boolean(spec, "suspend", false);
        num(spec, "successfulJobsHistoryLimit", 3);
        num(spec, "failedJobsHistoryLimit", 1);
        cJSON *jt = cJSON_GetObjectItemCaseSensitive(spec, "jobTemplate");
        cJSON *jspec = cJSON_IsObject(jt) ? object(jt, "spec") : NULL;
        if (jspec) {
            num(jspec, "backoffLimit", 6);
            str(jspec, "completionMode", "NonIndexed");
            pod_spec(template_spec(jspec), NULL);
        }
    }
}
