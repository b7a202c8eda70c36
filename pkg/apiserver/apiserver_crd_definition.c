/* apiserver_crd_definition: a CustomResourceDefinition's defaults, validation and status, as
 * apiextensions-apiserver's validation and its naming and establishing controllers set them
 * (done at write time here: the status is final when the write is answered). */
#include "apiserver_crd.h"

#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"

static cJSON *jget(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = jget(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_str(cJSON *o, const char *name, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, name);
    cJSON_AddStringToObject(o, name, v);
}

static bool dns_label(const char *s, bool allow_dots)
{
    size_t n = strlen(s);
    if (!n || n > (allow_dots ? 253u : 63u))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum)
            continue;
        if (c == '-' && i > 0 && i + 1 < n && s[i - 1] != '.' && s[i + 1] != '.')
            continue;
        if (c == '.' && allow_dots && i > 0 && i + 1 < n)
            continue;
        return false;
    }
    return true;
}

static const char LABEL_MSG[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/* A kind, lower-cased, must be an RFC 1035 label (upstream's check of names.kind and
 * names.listKind). */
static bool kind_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
        bool alpha = c >= 'a' && c <= 'z', digit = c >= '0' && c <= '9';
        if (i == 0 ? !alpha : i + 1 == n ? !(alpha || digit) : !(alpha || digit || c == '-'))
            return false;
    }
    return true;
}

static const char KIND_MSG[] =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

static void invalid(apiserver_crd_err_fn fn, void *ud, const char *field, const char *value,
                    const char *detail)
{
    char *p = util_strdup_printf("Invalid value: \"%s\": %s", value, detail);
    fn(ud, "FieldValueInvalid", field, p);
    free(p);
}

/* Upstream's defaults: singular and listKind from the kind, conversion None. */
static void set_defaults(cJSON *spec)
{
    cJSON *names = jget(spec, "names");
    const char *kind = jstr(names, "kind");
    if (cJSON_IsObject(names) && kind && kind[0]) {
        if (!jstr(names, "singular") || !jstr(names, "singular")[0]) {
            char lower[256];
            util_strlcpy(lower, kind, sizeof(lower));
            for (char *p = lower; *p; p++)
                *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
            set_str(names, "singular", lower);
        }
        if (!jstr(names, "listKind") || !jstr(names, "listKind")[0]) {
            char *lk = util_strdup_printf("%sList", kind);
            set_str(names, "listKind", lk);
            free(lk);
        }
    }
    if (cJSON_IsObject(spec) && !jget(spec, "conversion"))
        cJSON_AddStringToObject(cJSON_AddObjectToObject(spec, "conversion"), "strategy", "None");
}

static void check_names(const cJSON *crd, const cJSON *spec, apiserver_crd_err_fn fn, void *ud)
{
    const char *group = jstr(spec, "group");
    const cJSON *names = jget(spec, "names");
    const char *plural = jstr(names, "plural"), *kind = jstr(names, "kind");
    if (!group || !group[0])
        fn(ud, "FieldValueRequired", "spec.group", "Required value");
    else if (!strchr(group, '.') || !dns_label(group, true))
        invalid(fn, ud, "spec.group", group, "should be a domain with at least one dot");
    else {
        for (size_t i = 0; i < apiserver_ngroups; i++)
            if (!strcmp(apiserver_groups[i].name, group))
                invalid(fn, ud, "spec.group", group, "is served by this server's built-in API");
    }
    if (!plural || !plural[0])
        fn(ud, "FieldValueRequired", "spec.names.plural", "Required value");
    else if (!dns_label(plural, false))
        invalid(fn, ud, "spec.names.plural", plural, LABEL_MSG);
    const char *singular = jstr(names, "singular");
    if (singular && singular[0] && !dns_label(singular, false))
        invalid(fn, ud, "spec.names.singular", singular, LABEL_MSG);
    if (!kind || !kind[0])
        fn(ud, "FieldValueRequired", "spec.names.kind", "Required value");
    else if (!kind_ok(kind))
        invalid(fn, ud, "spec.names.kind", kind, KIND_MSG);
    const char *list_kind = jstr(names, "listKind");
    if (list_kind && list_kind[0] && !kind_ok(list_kind))
        invalid(fn, ud, "spec.names.listKind", list_kind, KIND_MSG);
    const cJSON *sn;
    int i = 0;
    cJSON_ArrayForEach(sn, jget(names, "shortNames"))
    {
        char f[64];
        snprintf(f, sizeof(f), "spec.names.shortNames[%d]", i++);
        if (!cJSON_IsString(sn) || !dns_label(sn->valuestring, false))
            invalid(fn, ud, f, cJSON_IsString(sn) ? sn->valuestring : "", LABEL_MSG);
    }
    const char *name = jstr(jget(crd, "metadata"), "name");
    if (group && plural && name) {
        char *want = util_strdup_printf("%s.%s", plural, group);
        if (strcmp(want, name))
            invalid(fn, ud, "metadata.name", name, "must be spec.names.plural+\".\"+spec.group");
        free(want);
    }
    const char *scope = jstr(spec, "scope");
    if (!scope || (strcmp(scope, "Namespaced") && strcmp(scope, "Cluster"))) {
        if (!scope)
            fn(ud, "FieldValueRequired", "spec.scope", "Required value");
        else {
            char *p = util_strdup_printf(
                "Unsupported value: \"%s\": supported values: \"Cluster\", \"Namespaced\"", scope);
            fn(ud, "FieldValueNotSupported", "spec.scope", p);
            free(p);
        }
    }
    if (cJSON_IsTrue(jget(spec, "preserveUnknownFields")))
        invalid(fn, ud, "spec.preserveUnknownFields", "true",
                "must be false in order to use defaults in the schema");
}

static void check_columns(const cJSON *cols, const char *prefix, apiserver_crd_err_fn fn, void *ud)
{
    int i = 0;
    const cJSON *c;
    if (cJSON_GetArraySize(cols) > APISERVER_CRD_MAX_COLUMNS)
        fn(ud, "FieldValueTooMany", prefix, "Too many: must have at most 32 items");
    cJSON_ArrayForEach(c, cols)
    {
        char f[192];
        snprintf(f, sizeof(f), "%.150s[%d]", prefix, i++);
        const char *name = jstr(c, "name"), *jp = jstr(c, "jsonPath"), *type = jstr(c, "type");
        char ff[256];
        if (!name || !name[0]) {
            snprintf(ff, sizeof(ff), "%s.name", f);
            fn(ud, "FieldValueRequired", ff, "Required value");
        }
        if (!jp || jp[0] != '.') {
            snprintf(ff, sizeof(ff), "%s.jsonPath", f);
            fn(ud, "FieldValueInvalid", ff,
               "Invalid value: must be a simple json path starting with .");
        }
        static const char *const types[] = {"integer", "number", "string", "boolean", "date"};
        bool ok = false;
        for (size_t k = 0; type && k < 5; k++)
            ok |= !strcmp(type, types[k]);
        if (!ok) {
            snprintf(ff, sizeof(ff), "%s.type", f);
            fn(ud, "FieldValueNotSupported", ff,
               "Unsupported value: supported values: \"integer\", \"number\", \"string\", "
               "\"boolean\", \"date\"");
        }
    }
}

static void check_versions(const cJSON *spec, apiserver_crd_err_fn fn, void *ud)
{
    const cJSON *vers = jget(spec, "versions");
    if (cJSON_GetArraySize(vers) == 0) {
        fn(ud, "FieldValueRequired", "spec.versions",
           "Required value: must have exactly one version marked as storage version");
        return;
    }
    int storage = 0, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vers)
    {
        char f[96], ff[256];
        snprintf(f, sizeof(f), "spec.versions[%d]", i++);
        const char *name = jstr(v, "name");
        snprintf(ff, sizeof(ff), "%s.name", f);
        if (!name || !name[0])
            fn(ud, "FieldValueRequired", ff, "Required value");
        else if (!dns_label(name, false))
            invalid(fn, ud, ff, name, LABEL_MSG);
        storage += cJSON_IsTrue(jget(v, "storage"));
        const cJSON *schema = jget(jget(v, "schema"), "openAPIV3Schema");
        snprintf(ff, sizeof(ff), "%s.schema.openAPIV3Schema", f);
        if (!schema)
            fn(ud, "FieldValueRequired", ff, "Required value: schemas are required");
        else
            apiserver_crd_schema_check(schema, ff, fn, ud);
        snprintf(ff, sizeof(ff), "%s.additionalPrinterColumns", f);
        check_columns(jget(v, "additionalPrinterColumns"), ff, fn, ud);
        const cJSON *scale = jget(jget(v, "subresources"), "scale");
        if (scale) {
            const char *sp = jstr(scale, "specReplicasPath"),
                       *st = jstr(scale, "statusReplicasPath");
            snprintf(ff, sizeof(ff), "%s.subresources.scale.specReplicasPath", f);
            if (!sp || strncmp(sp, ".spec.", 6))
                fn(ud, "FieldValueInvalid", ff, "Invalid value: should be a json path under .spec");
            snprintf(ff, sizeof(ff), "%s.subresources.scale.statusReplicasPath", f);
            if (!st || strncmp(st, ".status.", 8))
                fn(ud, "FieldValueInvalid", ff,
                   "Invalid value: should be a json path under .status");
        }
    }
    if (storage != 1) {
        char *p = util_strdup_printf("Invalid value: %s: must have exactly one version marked as "
                                     "storage version",
                                     "[...]");
        fn(ud, "FieldValueInvalid", "spec.versions", p);
        free(p);
    }
}

/* ---- status ---------------------------------------------------------------------------------- */

static void condition(cJSON *conds, const cJSON *old_conds, const char *type, bool ok,
                      const char *reason, const char *message)
{
    const char *status = ok ? "True" : "False";
    char now[21];
    apiserver_obj_now(now);
    const char *since = now;
    const cJSON *oc;
    cJSON_ArrayForEach(oc, old_conds)
    {
        const char *ot = jstr(oc, "type"), *os = jstr(oc, "status");
        if (ot && os && !strcmp(ot, type) && !strcmp(os, status) && jstr(oc, "lastTransitionTime"))
            since = jstr(oc, "lastTransitionTime");
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "lastTransitionTime", since);
    cJSON_AddStringToObject(c, "reason", reason);
    cJSON_AddStringToObject(c, "message", message);
    cJSON_AddItemToArray(conds, c);
}

/* The names conflict with a served resource of another CRD: upstream's naming controller
 * refuses them (NamesAccepted False) and the CRD is not established. */
static const char *name_conflict(const char *crd_name, const char *group, const char *plural,
                                 const char *kind)
{
    for (size_t i = 0; i < apiserver_crd_count(); i++) {
        const apiserver_resource_t *r = apiserver_crd_at(i);
        const apiserver_crd_res_t *e = apiserver_crd_of(r);
        if (strcmp(r->group, group) || (e->crd_name && !strcmp(e->crd_name, crd_name)))
            continue;
        if (!strcmp(r->plural, plural))
            return "plural";
        if (!strcmp(r->kind, kind))
            return "kind";
    }
    return NULL;
}

static void set_status(cJSON *crd)
{
    const cJSON *spec = jget(crd, "spec"), *names = jget(spec, "names");
    cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(crd, "status");
    cJSON *status = cJSON_AddObjectToObject(crd, "status");
    const char *name = jstr(jget(crd, "metadata"), "name");
    const char *what = name_conflict(name ? name : "", jstr(spec, "group"), jstr(names, "plural"),
                                     jstr(names, "kind"));
    cJSON *conds = cJSON_AddArrayToObject(status, "conditions");
    const cJSON *oconds = jget(old, "conditions");
    if (what) {
        char msg[320];
        snprintf(msg, sizeof(msg), "\"%s\" is already in use",
                 !strcmp(what, "plural") ? jstr(names, "plural") : jstr(names, "kind"));
        condition(conds, oconds, "NamesAccepted", false,
                  !strcmp(what, "plural") ? "PluralConflict" : "KindConflict", msg);
        condition(conds, oconds, "Established", false, "NotAccepted", "not all names are accepted");
        cJSON *an = jget(old, "acceptedNames");
        cJSON_AddItemToObject(status, "acceptedNames",
                              an ? cJSON_Duplicate(an, true) : cJSON_CreateObject());
    } else {
        condition(conds, oconds, "NamesAccepted", true, "NoConflicts", "no conflicts found");
        condition(conds, oconds, "Established", true, "InitialNamesAccepted",
                  "the initial names have been accepted");
        cJSON *an = cJSON_Duplicate(names, true);
        cJSON_AddItemToObject(status, "acceptedNames", an);
    }
    if (jget(jget(crd, "metadata"), "deletionTimestamp"))
        condition(conds, oconds, "Terminating", true, "InstanceDeletionInProgress",
                  "CustomResource deletion is in progress");
    cJSON *stored = cJSON_AddArrayToObject(status, "storedVersions");
    const cJSON *sv;
    cJSON_ArrayForEach(sv, jget(old, "storedVersions")) if (cJSON_IsString(sv))
        cJSON_AddItemToArray(stored, cJSON_CreateString(sv->valuestring));
    const cJSON *v;
    cJSON_ArrayForEach(v, jget(spec, "versions"))
    {
        const char *vn = jstr(v, "name");
        if (!vn || !cJSON_IsTrue(jget(v, "storage")))
            continue;
        bool have = false;
        cJSON_ArrayForEach(sv, stored) have |= !strcmp(sv->valuestring, vn);
        if (!have)
            cJSON_AddItemToArray(stored, cJSON_CreateString(vn));
    }
    cJSON_Delete(old);
}

void apiserver_crd_prepare(cJSON *crd)
{
    cJSON *spec = jget(crd, "spec");
    if (!cJSON_IsObject(spec))
        return;
    set_defaults(spec);
    if (jstr(spec, "group") && jstr(jget(spec, "names"), "plural") &&
        jstr(jget(spec, "names"), "kind"))
        set_status(crd);
}

void apiserver_crd_validate(const cJSON *crd, apiserver_crd_err_fn fn, void *ud)
{
    const cJSON *spec = jget(crd, "spec");
    if (!cJSON_IsObject(spec)) {
        fn(ud, "FieldValueRequired", "spec", "Required value");
        return;
    }
    check_names(crd, spec, fn, ud);
    check_versions(spec, fn, ud);
}

void apiserver_crd_validate_object(const apiserver_resource_t *r, const cJSON *obj,
                                   apiserver_crd_err_fn fn, void *ud)
{
    const apiserver_crd_res_t *e = apiserver_crd_of(r);
    if (e && e->schema)
        apiserver_crd_schema_validate(e->schema, obj, fn, ud);
}
