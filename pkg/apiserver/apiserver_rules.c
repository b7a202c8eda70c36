/* apiserver_rules: upstream's semantic validation of the fields users get wrong most (required
 * fields, names, ports, selectors vs template labels, enums), answered as 422 Invalid with
 * every problem in details.causes, in upstream's words. */
#include "apiserver_rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_convert.h"
#include "apiserver_batch.h"
#include "apiserver_crd.h"
#include "apiserver_rules_dns.h"
#include "apiserver_object.h"
#include "labels/labels.h"

typedef struct verrs {
    util_buf_t msgs;   /* "field: problem" joined with ", " */
    util_buf_t causes; /* JSON objects joined with "," */
    int n;
} verrs_t;

static void add(verrs_t *v, const char *reason, const char *field, const char *problem)
{
    if (v->n >= 64)
        return; /* enough to fix first */
    util_buf_printf(&v->msgs, "%s%s: %s", v->n ? ", " : "", field, problem);
    util_buf_printf(&v->causes, "%s{\"reason\":\"%s\",\"message\":", v->n ? "," : "", reason);
    util_buf_json_string(&v->causes, problem, strlen(problem));
    util_buf_puts(&v->causes, ",\"field\":");
    util_buf_json_string(&v->causes, field, strlen(field));
    util_buf_puts(&v->causes, "}");
    v->n++;
}

static void required(verrs_t *v, const char *field)
{
    add(v, "FieldValueRequired", field, "Required value");
}

static void invalid_str(verrs_t *v, const char *field, const char *value, const char *detail)
{
    char *problem = util_strdup_printf("Invalid value: \"%s\": %s", value, detail);
    add(v, "FieldValueInvalid", field, problem);
    free(problem);
}

static void invalid_num(verrs_t *v, const char *field, double value, const char *detail)
{
    char *problem = util_strdup_printf("Invalid value: %.0f: %s", value, detail);
    add(v, "FieldValueInvalid", field, problem);
    free(problem);
}

static void unsupported(verrs_t *v, const char *field, const char *value, const char *supported)
{
    char *problem =
        util_strdup_printf("Unsupported value: \"%s\": supported values: %s", value, supported);
    add(v, "FieldValueNotSupported", field, problem);
    free(problem);
}

static const cJSON *get(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static void labels_map(verrs_t *v, const cJSON *map, const char *field)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, map)
    {
        char *kp = labels_key_problems(e->string);
        if (kp) {
            char *f = util_strdup_printf("%s", field);
            invalid_str(v, f, e->string, kp);
            free(f);
            free(kp);
        }
        if (cJSON_IsString(e)) {
            char *vp = labels_value_problems(e->valuestring);
            if (vp) {
                char *f = util_strdup_printf("%s", field);
                invalid_str(v, f, e->valuestring, vp);
                free(f);
                free(vp);
            }
        }
    }
}

static void port_range(verrs_t *v, const cJSON *p, const char *name, const char *field_fmt,
                       int index, bool required_field)
{
    const cJSON *port = get(p, name);
    char field[96];
    snprintf(field, sizeof(field), field_fmt, index);
    if (!port) {
        if (required_field)
            required(v, field);
        return;
    }
    if (!cJSON_IsNumber(port) || port->valuedouble < 1 || port->valuedouble > 65535)
        invalid_num(v, field, cJSON_IsNumber(port) ? port->valuedouble : 0,
                    "must be between 1 and 65535, inclusive");
}

static void containers(verrs_t *v, const cJSON *list, const char *prefix, bool need_one)
{
    char field[160];
    if (need_one && cJSON_GetArraySize(list) == 0) {
        snprintf(field, sizeof(field), "%s", prefix);
        required(v, field);
        return;
    }
    int i = 0;
    const cJSON *ct;
    cJSON_ArrayForEach(ct, list)
    {
        const char *name = apiserver_obj_string(ct, "name");
        snprintf(field, sizeof(field), "%s[%d].name", prefix, i);
        if (!name || !name[0]) {
            required(v, field);
        } else {
            const char *why = apiserver_obj_name_problem(name, APISERVER_NAME_LABEL);
            if (why)
                invalid_str(v, field, name, why);
            const cJSON *other; /* duplicates among the earlier ones */
            int j = 0;
            cJSON_ArrayForEach(other, list)
            {
                if (j++ >= i)
                    break;
                const char *on = apiserver_obj_string(other, "name");
                if (on && !strcmp(on, name)) {
                    char *problem = util_strdup_printf("Duplicate value: \"%s\"", name);
                    add(v, "FieldValueDuplicate", field, problem);
                    free(problem);
                    break;
                }
            }
        }
        const char *image = apiserver_obj_string(ct, "image");
        snprintf(field, sizeof(field), "%s[%d].image", prefix, i);
        if (!image || !image[0])
            required(v, field);
        int k = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, get(ct, "ports"))
        {
            char fmt[192];
            snprintf(fmt, sizeof(fmt), "%s[%d].ports[%%d].containerPort", prefix, i);
            port_range(v, p, "containerPort", fmt, k++, true);
        }
        i++;
    }
}

static void add_cb(void *ud, const char *reason, const char *field, const char *problem);

static void pod_spec(verrs_t *v, const cJSON *spec, const char *prefix, bool job)
{
    char field[160];
    if (!cJSON_IsObject(spec)) {
        snprintf(field, sizeof(field), "%s", prefix);
        required(v, field);
        return;
    }
    snprintf(field, sizeof(field), "%s.containers", prefix);
    containers(v, get(spec, "containers"), field, true);
    snprintf(field, sizeof(field), "%s.initContainers", prefix);
    containers(v, get(spec, "initContainers"), field, false);
    const char *rp = apiserver_obj_string(spec, "restartPolicy");
    snprintf(field, sizeof(field), "%s.restartPolicy", prefix);
    if (job) {
        if (!rp || (strcmp(rp, "OnFailure") && strcmp(rp, "Never")))
            add(v, "FieldValueRequired", field,
                "Required value: valid values: \"OnFailure\", \"Never\"");
    } else if (rp && strcmp(rp, "Always") && strcmp(rp, "OnFailure") && strcmp(rp, "Never")) {
        unsupported(v, field, rp, "\"Always\", \"OnFailure\", \"Never\"");
    }
    apiserver_dns_validate(spec, prefix, add_cb, v);
}

/* spec.selector must exist and select the template's labels (apps/v1 and batch/v1 kinds). */
static void selector_matches_template(verrs_t *v, const cJSON *spec, bool required_selector)
{
    const cJSON *sel = get(spec, "selector");
    const cJSON *tmeta = get(get(spec, "template"), "metadata");
    const cJSON *tlabels = get(tmeta, "labels");
    if (!sel) {
        if (required_selector)
            required(v, "spec.selector");
        return;
    }
    const cJSON *ml = get(sel, "matchLabels");
    const cJSON *me = get(sel, "matchExpressions");
    if (cJSON_GetArraySize(ml) == 0 && cJSON_GetArraySize(me) == 0) {
        invalid_str(v, "spec.selector", "{}", "empty selector is invalid for deployment");
        return;
    }
    const cJSON *e;
    bool ok = true;
    cJSON_ArrayForEach(e, ml)
    {
        const char *have = apiserver_obj_string(tlabels, e->string);
        if (!cJSON_IsString(e) || !have || strcmp(have, e->valuestring))
            ok = false;
    }
    if (!ok) {
        util_buf_t m = {0};
        util_buf_puts(&m, "map[string]string{");
        int i = 0;
        cJSON_ArrayForEach(e, tlabels)
        {
            if (cJSON_IsString(e))
                util_buf_printf(&m, "%s\"%s\":\"%s\"", i++ ? ", " : "", e->string, e->valuestring);
        }
        util_buf_puts(&m, "}");
        char *problem = util_strdup_printf(
            "Invalid value: %s: `selector` does not match template `labels`", m.data);
        add(v, "FieldValueInvalid", "spec.template.metadata.labels", problem);
        free(problem);
        util_buf_free(&m);
    }
}

static void non_negative(verrs_t *v, const cJSON *spec, const char *name)
{
    const cJSON *n = get(spec, name);
    char field[64];
    snprintf(field, sizeof(field), "spec.%s", name);
    if (n && (!cJSON_IsNumber(n) || n->valuedouble < 0))
        invalid_num(v, field, cJSON_IsNumber(n) ? n->valuedouble : 0,
                    "must be greater than or equal to 0");
}

static void config_keys(verrs_t *v, const cJSON *map, const char *what)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, map)
    {
        const char *k = e->string;
        bool ok = k && k[0] && strlen(k) <= 253;
        for (const char *p = k; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '_' || *p == '.';
        if (!ok) {
            char field[300];
            snprintf(field, sizeof(field), "%s[%s]", what, k ? k : "");
            invalid_str(v, field, k ? k : "",
                        "a valid config key must consist of alphanumeric characters, '-', '_' or "
                        "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                        "validation is '[-._a-zA-Z0-9]+')");
        }
    }
}

static void service(verrs_t *v, const cJSON *spec)
{
    const char *type = apiserver_obj_string(spec, "type");
    static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"};
    bool known = false;
    for (size_t i = 0; type && i < 4; i++)
        known |= !strcmp(type, types[i]);
    if (type && !known)
        unsupported(v, "spec.type", type,
                    "\"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"");
    bool headless = !strcmp(
        apiserver_obj_string(spec, "clusterIP") ? apiserver_obj_string(spec, "clusterIP") : "",
        "None");
    bool external = type && !strcmp(type, "ExternalName");
    const cJSON *ports = get(spec, "ports");
    if (!external && !headless && cJSON_GetArraySize(ports) == 0)
        required(v, "spec.ports");
    if (external && !apiserver_obj_string(spec, "externalName"))
        required(v, "spec.externalName");
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, ports)
    {
        port_range(v, p, "port", "spec.ports[%d].port", i, true);
        if (cJSON_GetArraySize(ports) > 1 && !apiserver_obj_string(p, "name")) {
            char field[64];
            snprintf(field, sizeof(field), "spec.ports[%d].name", i);
            required(v, field);
        }
        i++;
    }
}

/* A copy of a pod spec without the fields a pod update may change. */
static cJSON *pod_spec_frozen(const cJSON *spec)
{
    cJSON *copy = cJSON_Duplicate(spec, true);
    if (!copy)
        return NULL;
    static const char *const free_fields[] = {"activeDeadlineSeconds", "tolerations",
                                              "terminationGracePeriodSeconds"};
    for (size_t i = 0; i < 3; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, free_fields[i]);
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t i = 0; i < 2; i++) {
        cJSON *ct;
        cJSON_ArrayForEach(ct, cJSON_GetObjectItemCaseSensitive(copy, lists[i]))
        {
            cJSON_DeleteItemFromObjectCaseSensitive(ct, "image");
        }
    }
    return copy;
}

/* Fields that may not change after creation (upstream's ValidateXUpdate). */
static void immutable(verrs_t *v, const apiserver_resource_t *r, const cJSON *obj, const cJSON *old)
{
    const char *p = r->plural;
    const cJSON *spec = get(obj, "spec"), *ospec = get(old, "spec");
    if (!strcmp(p, "pods") && ospec) {
        cJSON *a = pod_spec_frozen(spec), *b = pod_spec_frozen(ospec);
        if (!cJSON_Compare(a, b, true))
            add(v, "FieldValueForbidden", "spec",
                "Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                "was previously negative)");
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    bool apps = !strcmp(p, "deployments") || !strcmp(p, "replicasets") ||
                !strcmp(p, "statefulsets") || !strcmp(p, "daemonsets") || !strcmp(p, "jobs");
    if (apps && ospec && !cJSON_Compare(get(spec, "selector"), get(ospec, "selector"), true))
        add(v, "FieldValueInvalid", "spec.selector",
            "Invalid value: the selector: field is immutable");
    if (!strcmp(p, "jobs") && ospec &&
        !cJSON_Compare(get(spec, "template"), get(ospec, "template"), true))
        add(v, "FieldValueInvalid", "spec.template",
            "Invalid value: the template: field is immutable");
    if ((!strcmp(p, "secrets") || !strcmp(p, "configmaps")) &&
        cJSON_IsTrue(get(old, "immutable"))) {
        if (!cJSON_Compare(get(obj, "data"), get(old, "data"), true))
            add(v, "FieldValueForbidden", "data",
                "Forbidden: field is immutable when `immutable` is set");
    }
}

static void add_cb(void *ud, const char *reason, const char *field, const char *problem)
{
    add(ud, reason, field, problem);
}

int apiserver_rules_check(apiserver_conn_t *c, const apiserver_resource_t *r, const cJSON *obj,
                          const cJSON *old, const char *name)
{
    verrs_t v = {0};
    bool custom = apiserver_crd_of(r) != NULL;
    if (custom)
        apiserver_crd_validate_object(r, obj, add_cb, &v);
    else if (!strcmp(r->plural, "customresourcedefinitions"))
        apiserver_crd_validate(obj, add_cb, &v);
    if (old && !custom)
        immutable(&v, r, obj, old);
    apiserver_conv_validate(r, obj, old, add_cb, &v); /* events.k8s.io/v1's own rules */
    const cJSON *meta = get(obj, "metadata");
    labels_map(&v, get(meta, "labels"), "metadata.labels");
    const cJSON *spec = get(obj, "spec");
    const char *p = custom ? "" : r->plural; /* the built-ins' rules are not a CR's */
    if (!strcmp(p, "pods")) {
        pod_spec(&v, spec, "spec", false);
    } else if (!strcmp(p, "deployments") || !strcmp(p, "replicasets") ||
               !strcmp(p, "statefulsets") || !strcmp(p, "daemonsets")) {
        if (!cJSON_IsObject(spec)) {
            required(&v, "spec");
        } else {
            selector_matches_template(&v, spec, true);
            non_negative(&v, spec, "replicas");
            pod_spec(&v, get(get(spec, "template"), "spec"), "spec.template.spec", false);
        }
    } else if (!strcmp(p, "replicationcontrollers")) {
        non_negative(&v, spec, "replicas");
        pod_spec(&v, get(get(spec, "template"), "spec"), "spec.template.spec", false);
    } else if (!strcmp(p, "jobs")) {
        selector_matches_template(&v, spec, false);
        non_negative(&v, spec, "parallelism");
        non_negative(&v, spec, "completions");
        non_negative(&v, spec, "backoffLimit");
        apiserver_batch_job_validate(spec, "spec", add_cb, &v);
        pod_spec(&v, get(get(spec, "template"), "spec"), "spec.template.spec", true);
    } else if (!strcmp(p, "cronjobs")) {
        if (!apiserver_obj_string(spec, "schedule"))
            required(&v, "spec.schedule");
        apiserver_batch_cronjob_validate(obj, add_cb, &v);
        const cJSON *js = get(get(spec, "jobTemplate"), "spec");
        pod_spec(&v, get(get(js, "template"), "spec"), "spec.jobTemplate.spec.template.spec", true);
    } else if (!strcmp(p, "services")) {
        service(&v, spec);
    } else if (!strcmp(p, "configmaps")) {
        config_keys(&v, get(obj, "data"), "data");
        config_keys(&v, get(obj, "binaryData"), "binaryData");
    } else if (!strcmp(p, "secrets")) {
        config_keys(&v, get(obj, "data"), "data");
    }
    int rc = 0;
    if (v.n) {
        util_buf_t msg = {0}, details = {0};
        /* custom resources are named by group kind, as upstream's CR handler does */
        if (apiserver_crd_of(r))
            util_buf_printf(&msg, "%s.%s ", r->kind, r->group);
        else
            util_buf_printf(&msg, "%s ", r->kind);
        util_buf_printf(&msg, "\"%s\" is invalid: %s%s%s", name, v.n > 1 ? "[" : "", v.msgs.data,
                        v.n > 1 ? "]" : "");
        util_buf_puts(&details, "{\"name\":");
        util_buf_json_string(&details, name, strlen(name));
        if (r->group[0])
            util_buf_printf(&details, ",\"group\":\"%s\"", r->group);
        util_buf_printf(&details, ",\"kind\":\"%s\",\"causes\":[%s]}", r->kind, v.causes.data);
        apiserver__respond_status_ex(c, 422, "Invalid", msg.data, details.data, NULL);
        util_buf_free(&msg);
        util_buf_free(&details);
        rc = -EINVAL;
    }
    util_buf_free(&v.msgs);
    util_buf_free(&v.causes);
    return rc;
}
