/* apiserver_validate: unknown and duplicate fields of request bodies, and what the
 * fieldValidation directive makes of them (k8s.io/apiserver's strict decoding). */
#include "apiserver_validate.h"

#include "apiserver_crd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"
#include "apiserver_registry.h"

int apiserver_field_validation_parse(const char *query, apiserver_field_validation_t *ret)
{
    char v[32] = "";
    if (!apiserver_query_get(query, "fieldValidation", v, sizeof(v)) || !v[0]) {
        *ret = APISERVER_FV_WARN;
        return 0;
    }
    if (!strcmp(v, "Ignore"))
        *ret = APISERVER_FV_IGNORE;
    else if (!strcmp(v, "Warn"))
        *ret = APISERVER_FV_WARN;
    else if (!strcmp(v, "Strict"))
        *ret = APISERVER_FV_STRICT;
    else
        return -EINVAL;
    return 0;
}

static void problem(util_strv_t *problems, const char *what, const util_buf_t *path,
                    const char *name)
{
    util_buf_t m = {0};
    util_buf_printf(&m, "%s field \"%s%s%s\"", what, path->len ? path->data : "",
                    path->len ? "." : "", name);
    util_strv_push(problems, m.data);
    util_buf_free(&m);
}

static void walk_object(const k8s_kind_t *t, const cJSON *obj, util_buf_t *path,
                        util_strv_t *problems);

/* One value of field f: an element of a list, a value of a map, or the field itself. */
static void walk_value(const k8s_field_t *f, const cJSON *v, util_buf_t *path,
                       util_strv_t *problems)
{
    if (f->type == K8S_T_OBJECT && cJSON_IsObject(v))
        walk_object(k8s_schema_type(f->ref), v, path, problems);
}

static void walk_list(const k8s_field_t *f, const cJSON *v, util_buf_t *path, util_strv_t *problems)
{
    if (!cJSON_IsArray(v))
        return;
    size_t base = path->len, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        util_buf_printf(path, "[%zu]", i++);
        walk_value(f, e, path, problems);
        path->len = base;
        path->data[base] = '\0';
    }
}

static void walk_member(const k8s_field_t *f, const cJSON *v, util_buf_t *path,
                        util_strv_t *problems)
{
    if (!f->map) {
        if (f->list)
            walk_list(f, v, path, problems);
        else
            walk_value(f, v, path, problems);
        return;
    }
    if (!cJSON_IsObject(v) || (f->type != K8S_T_OBJECT))
        return;
    size_t base = path->len;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        util_buf_append(path, ".", 1);
        util_buf_puts(path, e->string);
        if (f->list)
            walk_list(f, e, path, problems);
        else
            walk_value(f, e, path, problems);
        path->len = base;
        path->data[base] = '\0';
    }
}

static bool seen_before(const cJSON *obj, const cJSON *m)
{
    for (const cJSON *p = obj->child; p && p != m; p = p->next)
        if (p->string && !strcmp(p->string, m->string))
            return true;
    return false;
}

static void walk_object(const k8s_kind_t *t, const cJSON *obj, util_buf_t *path,
                        util_strv_t *problems)
{
    if (!t)
        return;
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        if (!m->string)
            continue;
        if (seen_before(obj, m)) {
            problem(problems, "duplicate", path, m->string);
            continue;
        }
        const k8s_field_t *f = k8s_schema_field(t, m->string);
        if (!f) {
            problem(problems, "unknown", path, m->string);
            continue;
        }
        size_t base = path->len;
        if (base)
            util_buf_append(path, ".", 1);
        util_buf_puts(path, m->string);
        walk_member(f, m, path, problems);
        path->len = base;
        if (path->data)
            path->data[base] = '\0';
    }
}

void apiserver_validate_fields(const k8s_kind_t *t, const cJSON *obj, util_strv_t *problems)
{
    util_buf_t path = {0};
    if (cJSON_IsObject(obj))
        walk_object(t, obj, &path, problems);
    util_buf_free(&path);
}

/* A Warning header line: 299, no agent, the text quoted with \ escapes (RFC 7234 5.5). */
static void add_warning(apiserver_conn_t *c, const char *text)
{
    util_buf_t *h = &c->req.resp_headers;
    util_buf_puts(h, "Warning: 299 - \"");
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            util_buf_append(h, "\\", 1);
        util_buf_append(h, p, 1);
    }
    util_buf_puts(h, "\"\r\n");
}

int apiserver__validate_request(apiserver_conn_t *c, const apiserver_resource_t *r,
                                const cJSON *obj, bool decoding)
{
    apiserver_field_validation_t fv;
    if (apiserver_field_validation_parse(c->req.query, &fv) < 0) {
        char v[64] = "", msg[256];
        apiserver_query_get(c->req.query, "fieldValidation", v, sizeof(v));
        snprintf(msg, sizeof(msg),
                 "fieldValidation: Unsupported value: \"%s\": supported values: \"\", "
                 "\"Ignore\", \"Strict\", \"Warn\"",
                 v);
        apiserver_status_bad_request(c, msg);
        return -1;
    }
    const k8s_kind_t *t = k8s_schema_find(r->group, r->version, r->kind);
    const apiserver_crd_res_t *crd = apiserver_crd_of(r);
    if (fv == APISERVER_FV_IGNORE || (!t && !(crd && crd->schema)))
        return 0;
    util_strv_t problems = {0};
    if (crd) /* the fields pruning would drop */
        apiserver_crd_schema_unknown(crd->schema, obj, &problems);
    else
        apiserver_validate_fields(t, obj, &problems);
    int rc = 0;
    if (problems.n && fv == APISERVER_FV_WARN) {
        for (size_t i = 0; i < problems.n; i++)
            add_warning(c, problems.v[i]);
    } else if (problems.n) {
        util_buf_t m = {0};
        if (decoding)
            util_buf_printf(&m, "%s in version \"%s\" cannot be handled as a %s: ", r->kind,
                            r->version, r->kind);
        util_buf_puts(&m, "strict decoding error: ");
        for (size_t i = 0; i < problems.n; i++)
            util_buf_printf(&m, "%s%s", i ? ", " : "", problems.v[i]);
        apiserver_status_bad_request(c, m.data);
        util_buf_free(&m);
        rc = -1;
    }
    util_strv_clear(&problems);
    return rc;
}
