/* apiserver_crd_schema: structural schemas of custom resources (apiextensions-apiserver's
 * pkg/apiserver/schema): the schema's own check, pruning of undeclared fields, defaults, and
 * validation of the basic OpenAPI types with kube-openapi's messages. */
#include "apiserver_crd.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = member(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool flag(const cJSON *s, const char *name)
{
    return cJSON_IsTrue(member(s, name));
}

/* The schema of an object's member: properties[name], else additionalProperties (a schema),
 * else NULL (undeclared). */
static const cJSON *member_schema(const cJSON *s, const char *name)
{
    const cJSON *p = member(member(s, "properties"), name);
    if (p)
        return p;
    const cJSON *ap = member(s, "additionalProperties");
    return cJSON_IsObject(ap) ? ap : NULL;
}

static bool preserves(const cJSON *s)
{
    if (flag(s, "x-kubernetes-preserve-unknown-fields"))
        return true;
    return cJSON_IsTrue(member(s, "additionalProperties"));
}

static void path_push(util_buf_t *p, const char *name, size_t *base)
{
    *base = p->len;
    util_buf_printf(p, "%s%s", p->len ? "." : "", name);
}

static void path_index(util_buf_t *p, int i, size_t *base)
{
    *base = p->len;
    util_buf_printf(p, "[%d]", i);
}

static void path_pop(util_buf_t *p, size_t base)
{
    p->len = base;
    if (p->data)
        p->data[base] = '\0';
}

static const char *path_str(const util_buf_t *p)
{
    return p->data && p->len ? p->data : "<root>";
}

/* ---- the schema's own check ----------------------------------------------------------------- */

typedef struct check_ctx {
    apiserver_crd_err_fn fn;
    void *ud;
    size_t nodes;
    bool too_big;
} check_ctx_t;

static bool known_type(const char *t)
{
    static const char *const types[] = {"object", "array",   "string", "integer",
                                        "number", "boolean", NULL};
    for (size_t i = 0; types[i]; i++)
        if (!strcmp(types[i], t))
            return true;
    return false;
}

/* Translates the common Perl classes of RE2 patterns (\d, \w, \s) into POSIX classes; NULL for
 * what POSIX regex cannot take faithfully (back-references, lookarounds, lazy quantifiers). */
static char *posix_pattern(const char *re)
{
    util_buf_t b = {0};
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            const char *cls = *p == 'd'   ? "[0-9]"
                              : *p == 'w' ? "[A-Za-z0-9_]"
                              : *p == 's' ? "[[:space:]]"
                              : *p == 'D' ? "[^0-9]"
                              : *p == 'W' ? "[^A-Za-z0-9_]"
                              : *p == 'S' ? "[^[:space:]]"
                                          : NULL;
            if (cls) {
                util_buf_puts(&b, cls);
            } else if (*p >= '0' && *p <= '9') {
                util_buf_free(&b);
                return NULL;
            } else {
                char esc[3] = {'\\', *p, 0};
                util_buf_puts(&b, esc);
            }
        } else if (*p == '(' && p[1] == '?') {
            util_buf_free(&b);
            return NULL;
        } else if ((*p == '*' || *p == '+' || *p == '?' || *p == '}') && p[1] == '?') {
            util_buf_free(&b);
            return NULL;
        } else {
            util_buf_append(&b, p, 1);
        }
    }
    util_buf_puts(&b, "");
    return util_buf_steal(&b);
}

/* The regex library expands counted repetitions by copying the repeated part, so a short
 * pattern can ask for gigabytes ("(a{1000}){1000}", or stacked "a+++..." inside a "{4}"). As RE2,
 * which upstream validates patterns with, refuse nested repetition operators ("a++", "a{2}*")
 * and repeat counts over 1000, and bound the expanded size. */
#define PATTERN_MAX_REPEAT   1000
#define PATTERN_MAX_EXPANDED 20000.0

static bool pattern_size_ok(const char *re)
{
    size_t n = strlen(re), depth = 0;
    double *sum = util_xcalloc(n + 2, sizeof(*sum)); /* per open group: its size so far */
    double last = 0;                                 /* size of the atom a repetition applies to */
    bool after_rep = false, ok = true;
    for (const char *p = re; *p && ok; p++) {
        double times = 0; /* a repetition: the atom's size is multiplied by this */
        if (*p == '*' || *p == '+' || *p == '?') {
            times = 2;
        } else if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
            char *end;
            unsigned long lo = strtoul(p + 1, &end, 10), hi = lo;
            if (*end == ',' && end[1] >= '0' && end[1] <= '9')
                hi = strtoul(end + 1, &end, 10);
            else if (*end == ',') /* "{n,}": n copies and a star */
                hi = lo + 1, end++;
            if (*end != '}' || lo > PATTERN_MAX_REPEAT || hi > PATTERN_MAX_REPEAT) {
                ok = false;
                break;
            }
            times = hi > 1 ? (double)hi : 1;
            p = end;
        }
        if (times > 0) {
            if (after_rep) {
                ok = false;
                break;
            }
            sum[depth] += last * (times - 1);
            last *= times;
            after_rep = true;
        } else {
            after_rep = false;
            if (*p == '(') {
                sum[++depth] = 0;
                continue;
            }
            if (*p == ')' && depth > 0) {
                last = sum[depth--];
            } else if (*p == '|') {
                continue;
            } else {
                if (*p == '\\' && p[1])
                    p++;
                else if (*p == '[') { /* a bracket expression is one atom: "[]a]", "[[:space:]]" */
                    const char *q = p + 1 + (p[1] == '^');
                    q += *q == ']';
                    while (*q && *q != ']') {
                        const char *cls = q[0] == '[' && q[1] == ':' ? strstr(q + 2, ":]") : NULL;
                        q = cls ? cls + 2 : q + 1;
                    }
                    p = *q ? q : p;
                }
                last = 1;
            }
            sum[depth] += last;
        }
        ok = sum[depth] <= PATTERN_MAX_EXPANDED;
    }
    free(sum);
    return ok;
}

static bool compile_pattern(const char *re, regex_t *out)
{
    if (strlen(re) > 4096)
        return false;
    char *posix = posix_pattern(re);
    if (!posix)
        return false;
    if (!pattern_size_ok(posix)) {
        free(posix);
        return false;
    }
    int rc = regcomp(out, posix, REG_EXTENDED | REG_NOSUB);
    free(posix);
    return rc == 0;
}

static void check_node(check_ctx_t *c, const cJSON *s, util_buf_t *path, int depth);

static void check_children(check_ctx_t *c, const cJSON *s, util_buf_t *path, int depth)
{
    size_t base;
    const cJSON *m;
    cJSON_ArrayForEach(m, member(s, "properties"))
    {
        base = path->len; /* upstream's form: ...properties[spec].type */
        util_buf_printf(path, "%sproperties[%s]", path->len ? "." : "", m->string ? m->string : "");
        check_node(c, m, path, depth + 1);
        path_pop(path, base);
    }
    const cJSON *items = member(s, "items");
    if (items) {
        path_push(path, "items", &base);
        check_node(c, items, path, depth + 1);
        path_pop(path, base);
    }
    const cJSON *ap = member(s, "additionalProperties");
    if (cJSON_IsObject(ap)) {
        path_push(path, "additionalProperties", &base);
        check_node(c, ap, path, depth + 1);
        path_pop(path, base);
    }
}

static void check_node(check_ctx_t *c, const cJSON *s, util_buf_t *path, int depth)
{
    if (c->too_big)
        return;
    if (++c->nodes > APISERVER_CRD_MAX_NODES || depth > APISERVER_CRD_MAX_DEPTH) {
        c->too_big = true;
        c->fn(c->ud, "FieldValueTooLong", path_str(path),
              "Too long: the schema is too deep or too large");
        return;
    }
    if (!cJSON_IsObject(s)) {
        c->fn(c->ud, "FieldValueInvalid", path_str(path), "Invalid value: must be an object");
        return;
    }
    const cJSON *t = member(s, "type");
    if (t && (!cJSON_IsString(t) || !known_type(t->valuestring))) {
        size_t base;
        path_push(path, "type", &base);
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "Unsupported value: \"%.64s\": supported values: \"array\", \"boolean\", "
                 "\"integer\", \"number\", \"object\", \"string\"",
                 cJSON_IsString(t) ? t->valuestring : "");
        c->fn(c->ud, "FieldValueNotSupported", path_str(path), msg);
        path_pop(path, base);
    } else if (!t && !flag(s, "x-kubernetes-int-or-string") &&
               !flag(s, "x-kubernetes-preserve-unknown-fields") && depth > 0) {
        size_t base;
        path_push(path, "type", &base);
        c->fn(c->ud, "FieldValueRequired", path_str(path),
              "Required value: must not be empty for specified object fields");
        path_pop(path, base);
    }
    if (t && cJSON_IsString(t) && !strcmp(t->valuestring, "array") && !member(s, "items")) {
        size_t base;
        path_push(path, "items", &base);
        c->fn(c->ud, "FieldValueRequired", path_str(path), "Required value: must be specified");
        path_pop(path, base);
    }
    const cJSON *p = member(s, "pattern");
    if (p) {
        regex_t re;
        if (!cJSON_IsString(p) || !compile_pattern(p->valuestring, &re)) {
            size_t base;
            path_push(path, "pattern", &base);
            c->fn(c->ud, "FieldValueInvalid", path_str(path),
                  "Invalid value: the pattern is not a regular expression this server supports "
                  "(POSIX extended syntax plus \\d, \\w, \\s)");
            path_pop(path, base);
        } else {
            regfree(&re);
        }
    }
    check_children(c, s, path, depth);
}

void apiserver_crd_schema_check(const cJSON *schema, const char *prefix, apiserver_crd_err_fn fn,
                                void *ud)
{
    check_ctx_t c = {.fn = fn, .ud = ud};
    util_buf_t path = {0};
    util_buf_puts(&path, prefix);
    check_node(&c, schema, &path, 0);
    util_buf_free(&path);
}

/* ---- pruning ------------------------------------------------------------------------------- */

static void prune_value(const cJSON *s, cJSON *v, util_buf_t *path, util_strv_t *unknown,
                        bool mutate, bool root);

static void prune_object(const cJSON *s, cJSON *o, util_buf_t *path, util_strv_t *unknown,
                         bool mutate, bool root)
{
    bool embedded = flag(s, "x-kubernetes-embedded-resource");
    for (cJSON *m = o->child, *next; m; m = next) {
        next = m->next;
        if (!m->string)
            continue;
        bool meta =
            (root || embedded) && (!strcmp(m->string, "apiVersion") || !strcmp(m->string, "kind") ||
                                   !strcmp(m->string, "metadata"));
        if (meta)
            continue;
        const cJSON *ms = member_schema(s, m->string);
        size_t base;
        path_push(path, m->string, &base);
        if (!ms && !preserves(s)) {
            if (unknown) {
                char *msg = util_strdup_printf("unknown field \"%s\"", path->data);
                util_strv_push(unknown, msg);
                free(msg);
            }
            if (mutate)
                cJSON_Delete(cJSON_DetachItemViaPointer(o, m));
        } else if (ms && cJSON_IsNull(m) && !flag(ms, "nullable") && member(ms, "type")) {
            /* upstream (1.20+): nulls of non-nullable fields are pruned before defaulting */
            if (mutate)
                cJSON_Delete(cJSON_DetachItemViaPointer(o, m));
        } else if (ms) {
            prune_value(ms, m, path, unknown, mutate, false);
        }
        path_pop(path, base);
    }
}

static void prune_value(const cJSON *s, cJSON *v, util_buf_t *path, util_strv_t *unknown,
                        bool mutate, bool root)
{
    if (cJSON_IsObject(v)) {
        /* an object under a schema without properties keeps what it has only when told */
        if (member(s, "properties") || member(s, "additionalProperties") || !preserves(s))
            prune_object(s, v, path, unknown, mutate, root);
    } else if (cJSON_IsArray(v)) {
        const cJSON *items = member(s, "items");
        if (!cJSON_IsObject(items))
            return;
        int i = 0;
        cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            size_t base;
            path_index(path, i++, &base);
            prune_value(items, e, path, unknown, mutate, false);
            path_pop(path, base);
        }
    }
}

void apiserver_crd_schema_prune(const cJSON *schema, cJSON *obj, util_strv_t *unknown)
{
    util_buf_t path = {0};
    if (schema && cJSON_IsObject(obj))
        prune_value(schema, obj, &path, unknown, true, true);
    util_buf_free(&path);
}

void apiserver_crd_schema_unknown(const cJSON *schema, const cJSON *obj, util_strv_t *unknown)
{
    util_buf_t path = {0};
    if (schema && cJSON_IsObject(obj))
        prune_value(schema, (cJSON *)obj, &path, unknown, false, true);
    util_buf_free(&path);
}

/* ---- defaults ------------------------------------------------------------------------------ */

static void default_value(const cJSON *s, cJSON *v, int depth)
{
    if (depth > APISERVER_CRD_MAX_DEPTH)
        return;
    if (cJSON_IsObject(v)) {
        const cJSON *p;
        cJSON_ArrayForEach(p, member(s, "properties"))
        {
            const cJSON *d = member(p, "default");
            cJSON *cur = cJSON_GetObjectItemCaseSensitive(v, p->string);
            if (d && (!cur || (cJSON_IsNull(cur) && !flag(p, "nullable")))) {
                if (cur)
                    cJSON_DeleteItemFromObjectCaseSensitive(v, p->string);
                cJSON_AddItemToObject(v, p->string, cJSON_Duplicate(d, true));
            }
        }
        for (cJSON *m = v->child; m; m = m->next)
            if (m->string && member_schema(s, m->string))
                default_value(member_schema(s, m->string), m, depth + 1);
    } else if (cJSON_IsArray(v)) {
        const cJSON *items = member(s, "items");
        cJSON *e;
        cJSON_ArrayForEach(e, v) default_value(items, e, depth + 1);
    }
}

void apiserver_crd_schema_default(const cJSON *schema, cJSON *obj)
{
    if (schema)
        default_value(schema, obj, 0);
}

/* ---- validation ---------------------------------------------------------------------------- */

typedef struct val_ctx {
    apiserver_crd_err_fn fn;
    void *ud;
    int n;
} val_ctx_t;

static void report(val_ctx_t *c, const char *reason, const util_buf_t *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(val_ctx_t *c, const char *reason, const util_buf_t *path, const char *fmt, ...)
{
    if (c->n++ >= 64)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->fn(c->ud, reason, path_str(path), msg);
}

static const char *json_type(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsNumber(v))
        return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.2e18 ? "integer"
                                                                                        : "number";
    if (cJSON_IsArray(v))
        return "array";
    if (cJSON_IsObject(v))
        return "object";
    return "null";
}

/* How upstream prints a value in "Invalid value: <v>": strings quoted, numbers plain. */
static void value_text(const cJSON *v, char *out, size_t n)
{
    if (cJSON_IsString(v))
        snprintf(out, n, "\"%.200s\"", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(out, n, "%.17g", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(out, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else
        snprintf(out, n, "\"%s\"", json_type(v));
}

static bool type_ok(const char *want, const cJSON *v)
{
    const char *have = json_type(v);
    return !strcmp(want, have) || (!strcmp(want, "number") && !strcmp(have, "integer"));
}

static void validate_node(val_ctx_t *c, const cJSON *s, const cJSON *v, util_buf_t *path, bool root,
                          int depth);

static void validate_enum(val_ctx_t *c, const cJSON *s, const cJSON *v, const util_buf_t *path)
{
    const cJSON *en = member(s, "enum");
    if (!cJSON_IsArray(en))
        return;
    const cJSON *e;
    cJSON_ArrayForEach(e, en) if (cJSON_Compare(e, v, true)) return;
    util_buf_t sup = {0};
    cJSON_ArrayForEach(e, en)
    {
        char t[256];
        value_text(e, t, sizeof(t));
        util_buf_printf(&sup, "%s%s", sup.len ? ", " : "", t);
    }
    char t[256];
    value_text(v, t, sizeof(t));
    report(c, "FieldValueNotSupported", path, "Unsupported value: %s: supported values: %s", t,
           sup.data ? sup.data : "");
    util_buf_free(&sup);
}

static void validate_number(val_ctx_t *c, const cJSON *s, const cJSON *v, const util_buf_t *path)
{
    const cJSON *min = member(s, "minimum"), *max = member(s, "maximum");
    double x = v->valuedouble;
    char t[64];
    value_text(v, t, sizeof(t));
    if (cJSON_IsNumber(min)) {
        bool excl = flag(s, "exclusiveMinimum");
        if (excl ? x <= min->valuedouble : x < min->valuedouble)
            report(c, "FieldValueInvalid", path,
                   "Invalid value: %s: %s in body should be greater than %s%.17g", t,
                   path_str(path), excl ? "" : "or equal to ", min->valuedouble);
    }
    if (cJSON_IsNumber(max)) {
        bool excl = flag(s, "exclusiveMaximum");
        if (excl ? x >= max->valuedouble : x > max->valuedouble)
            report(c, "FieldValueInvalid", path,
                   "Invalid value: %s: %s in body should be less than %s%.17g", t, path_str(path),
                   excl ? "" : "or equal to ", max->valuedouble);
    }
    const cJSON *mul = member(s, "multipleOf");
    if (cJSON_IsNumber(mul) && mul->valuedouble > 0 && fmod(x, mul->valuedouble) != 0)
        report(c, "FieldValueInvalid", path,
               "Invalid value: %s: %s in body should be a multiple of %.17g", t, path_str(path),
               mul->valuedouble);
}

/* Length in characters (UTF-8 code points), as upstream counts. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void validate_string(val_ctx_t *c, const cJSON *s, const cJSON *v, const util_buf_t *path)
{
    const cJSON *minl = member(s, "minLength"), *maxl = member(s, "maxLength");
    size_t len = utf8_len(v->valuestring);
    char t[256];
    value_text(v, t, sizeof(t));
    if (cJSON_IsNumber(minl) && (double)len < minl->valuedouble)
        report(c, "FieldValueInvalid", path,
               "Invalid value: %s: %s in body should be at least %.0f chars long", t,
               path_str(path), minl->valuedouble);
    if (cJSON_IsNumber(maxl) && (double)len > maxl->valuedouble)
        report(c, "FieldValueTooLong", path, "Too long: may not be more than %.0f bytes",
               maxl->valuedouble);
    const char *pat = str_of(s, "pattern");
    regex_t re;
    if (pat && compile_pattern(pat, &re)) {
        if (regexec(&re, v->valuestring, 0, NULL, 0) != 0)
            report(c, "FieldValueInvalid", path,
                   "Invalid value: %s: %s in body should match '%.200s'", t, path_str(path), pat);
        regfree(&re);
    }
}

static void validate_array(val_ctx_t *c, const cJSON *s, const cJSON *v, util_buf_t *path,
                           int depth)
{
    const cJSON *mini = member(s, "minItems"), *maxi = member(s, "maxItems");
    int n = cJSON_GetArraySize(v);
    if (cJSON_IsNumber(mini) && n < mini->valuedouble)
        report(c, "FieldValueInvalid", path,
               "Invalid value: %d: %s in body should have at least %.0f items", n, path_str(path),
               mini->valuedouble);
    if (cJSON_IsNumber(maxi) && n > maxi->valuedouble)
        report(c, "FieldValueTooMany", path, "Too many: %d: must have at most %.0f items", n,
               maxi->valuedouble);
    const cJSON *items = member(s, "items");
    if (!cJSON_IsObject(items))
        return;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        size_t base;
        path_index(path, i++, &base);
        validate_node(c, items, e, path, false, depth + 1);
        path_pop(path, base);
    }
}

static void validate_object(val_ctx_t *c, const cJSON *s, const cJSON *v, util_buf_t *path,
                            bool root, int depth)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, member(s, "required"))
    {
        if (!cJSON_IsString(r) || cJSON_GetObjectItemCaseSensitive(v, r->valuestring))
            continue;
        size_t base;
        path_push(path, r->valuestring, &base);
        report(c, "FieldValueRequired", path, "Required value");
        path_pop(path, base);
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, v)
    {
        if (!m->string ||
            (root && (!strcmp(m->string, "metadata") || !strcmp(m->string, "apiVersion") ||
                      !strcmp(m->string, "kind"))))
            continue;
        const cJSON *ms = member_schema(s, m->string);
        if (!ms)
            continue;
        size_t base;
        path_push(path, m->string, &base);
        validate_node(c, ms, m, path, false, depth + 1);
        path_pop(path, base);
    }
}

static void validate_node(val_ctx_t *c, const cJSON *s, const cJSON *v, util_buf_t *path, bool root,
                          int depth)
{
    if (depth > APISERVER_CRD_MAX_DEPTH || !cJSON_IsObject(s))
        return;
    if (cJSON_IsNull(v)) {
        const char *t = str_of(s, "type");
        if (t && !flag(s, "nullable"))
            report(c, "FieldValueTypeInvalid", path,
                   "Invalid value: \"null\": %s in body must be of type %s: \"null\"",
                   path_str(path), t);
        return;
    }
    if (flag(s, "x-kubernetes-int-or-string")) {
        if (!cJSON_IsString(v) && strcmp(json_type(v), "integer"))
            report(c, "FieldValueTypeInvalid", path,
                   "Invalid value: \"%s\": %s in body must be of type integer,string: \"%s\"",
                   json_type(v), path_str(path), json_type(v));
        validate_enum(c, s, v, path);
        return;
    }
    const char *t = str_of(s, "type");
    if (t && !type_ok(t, v)) {
        report(c, "FieldValueTypeInvalid", path,
               "Invalid value: \"%s\": %s in body must be of type %s: \"%s\"", json_type(v),
               path_str(path), t, json_type(v));
        return;
    }
    validate_enum(c, s, v, path);
    if (cJSON_IsNumber(v))
        validate_number(c, s, v, path);
    else if (cJSON_IsString(v))
        validate_string(c, s, v, path);
    else if (cJSON_IsArray(v))
        validate_array(c, s, v, path, depth);
    else if (cJSON_IsObject(v))
        validate_object(c, s, v, path, root, depth);
}

void apiserver_crd_schema_validate(const cJSON *schema, const cJSON *obj, apiserver_crd_err_fn fn,
                                   void *ud)
{
    val_ctx_t c = {.fn = fn, .ud = ud};
    util_buf_t path = {0};
    if (schema)
        validate_node(&c, schema, obj, &path, true, 0);
    util_buf_free(&path);
}
