/* apiserver_patch: RFC 6902 JSON patch and RFC 7386 JSON merge patch on cJSON documents. */
#include "apiserver_patch.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A bound on what copy operations may duplicate in one patch, counted in JSON values, so that
 * "copy the document into itself" ten thousand times cannot exhaust memory (upstream bounds
 * the accumulated copy size the same way). */
#define JSON_PATCH_MAX_COPIED 1000000

/* Replaces old (a member of parent) by value, which takes over old's key in an object. */
static bool replace_member(cJSON *parent, cJSON *old, cJSON *value)
{
    if (cJSON_IsObject(parent))
        return cJSON_ReplaceItemInObjectCaseSensitive(parent, old->string, value);
    return cJSON_ReplaceItemViaPointer(parent, old, value);
}

/* ---- JSON pointers (RFC 6901) ---------------------------------------------------------------- */

typedef struct jptr {
    char *buf;
    char *seg[APISERVER_PATCH_MAX_DEPTH];
    int n;
} jptr_t;

static void jptr_free(jptr_t *p)
{
    free(p->buf);
    p->buf = NULL;
}

/* Splits s ("/a/b~1c") into decoded segments; "" is the whole document. */
static int jptr_parse(const char *s, jptr_t *p, util_error_t *err)
{
    memset(p, 0, sizeof(*p));
    if (!*s)
        return 0;
    if (*s != '/')
        return util_error_make(err, EINVAL, "invalid JSON pointer: \"%s\"", s);
    p->buf = strdup(s);
    if (!p->buf)
        return util_error_make(err, ENOMEM, "out of memory");
    char *r = p->buf, *w = p->buf;
    while (*r) {
        if (*r == '/') {
            if (p->n == APISERVER_PATCH_MAX_DEPTH) {
                jptr_free(p);
                return util_error_make(err, EINVAL, "JSON pointer \"%s\" is too deep", s);
            }
            *w++ = '\0';
            p->seg[p->n++] = w;
            r++;
        } else if (*r == '~') {
            if (r[1] != '0' && r[1] != '1') {
                jptr_free(p);
                return util_error_make(err, EINVAL, "invalid JSON pointer: \"%s\"", s);
            }
            *w++ = r[1] == '0' ? '~' : '/';
            r += 2;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return 0;
}

/* An array index: digits without leading zeros, or a negative index counted from the end
 * (upstream enables SupportNegativeIndices). Returns false for anything else. */
static bool parse_index(const char *s, int len, bool for_add, int *ret)
{
    bool neg = *s == '-';
    const char *d = neg ? s + 1 : s;
    if (!*d || (d[0] == '0' && d[1]) || strlen(d) > 9)
        return false;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    long v = strtol(d, NULL, 10);
    if (neg) {
        if (v == 0 || v > len)
            return false;
        v = len - v;
    }
    if (v > len || (!for_add && v == len))
        return false;
    *ret = (int)v;
    return true;
}

/* The value at segments [0, n) of p below root, or NULL. */
static cJSON *jptr_walk(cJSON *root, const jptr_t *p, int n)
{
    cJSON *cur = root;
    for (int i = 0; i < n && cur; i++) {
        int idx;
        if (cJSON_IsObject(cur))
            cur = cJSON_GetObjectItemCaseSensitive(cur, p->seg[i]);
        else if (cJSON_IsArray(cur) && parse_index(p->seg[i], cJSON_GetArraySize(cur), false, &idx))
            cur = cJSON_GetArrayItem(cur, idx);
        else
            cur = NULL;
    }
    return cur;
}

/* ---- operations ------------------------------------------------------------------------------ */

typedef struct jpatch {
    cJSON *doc;
    long copied;
} jpatch_t;

static int missing(util_error_t *err, const char *op, const char *path)
{
    return util_error_make(
        err, EINVAL, "%s operation does not apply: doc is missing path: \"%s\": missing value", op,
        path);
}

/* Inserts value (owned; freed on failure) at p. */
static int op_add(jpatch_t *j, const jptr_t *p, const char *path, cJSON *value, util_error_t *err)
{
    if (p->n == 0) {
        cJSON_Delete(j->doc);
        j->doc = value;
        return 0;
    }
    cJSON *parent = jptr_walk(j->doc, p, p->n - 1);
    const char *last = p->seg[p->n - 1];
    int idx;
    if (cJSON_IsObject(parent)) {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(parent, last);
        if (old ? replace_member(parent, old, value) : cJSON_AddItemToObject(parent, last, value))
            return 0;
    } else if (cJSON_IsArray(parent) && !strcmp(last, "-")) {
        if (cJSON_AddItemToArray(parent, value))
            return 0;
    } else if (cJSON_IsArray(parent) && parse_index(last, cJSON_GetArraySize(parent), true, &idx)) {
        if (idx == cJSON_GetArraySize(parent) ? cJSON_AddItemToArray(parent, value)
                                              : cJSON_InsertItemInArray(parent, idx, value))
            return 0;
    }
    cJSON_Delete(value);
    return missing(err, "add", path);
}

/* Detaches and returns the value at p, or NULL. */
static cJSON *detach(jpatch_t *j, const jptr_t *p)
{
    cJSON *item = jptr_walk(j->doc, p, p->n);
    if (!item || p->n == 0)
        return NULL;
    return cJSON_DetachItemViaPointer(jptr_walk(j->doc, p, p->n - 1), item);
}

static int op_remove(jpatch_t *j, const jptr_t *p, const char *path, util_error_t *err)
{
    if (p->n == 0)
        return util_error_make(err, EINVAL,
                               "remove operation does not apply: cannot remove the "
                               "whole document");
    cJSON *item = detach(j, p);
    if (!item)
        return missing(err, "remove", path);
    cJSON_Delete(item);
    return 0;
}

static int op_replace(jpatch_t *j, const jptr_t *p, const char *path, cJSON *value,
                      util_error_t *err)
{
    cJSON *item = jptr_walk(j->doc, p, p->n);
    if (!item) {
        cJSON_Delete(value);
        return missing(err, "replace", path);
    }
    if (p->n == 0) {
        cJSON_Delete(j->doc);
        j->doc = value;
        return 0;
    }
    if (!replace_member(jptr_walk(j->doc, p, p->n - 1), item, value)) {
        cJSON_Delete(value);
        return util_error_make(err, ENOMEM, "out of memory");
    }
    return 0;
}

static long count_values(const cJSON *v, long limit)
{
    long n = 1;
    for (const cJSON *c = v->child; c && n <= limit; c = c->next)
        n += count_values(c, limit - n);
    return n;
}

static int op_move_copy(jpatch_t *j, bool move, const jptr_t *from, const char *from_s,
                        const jptr_t *p, const char *path, util_error_t *err)
{
    const char *op = move ? "move" : "copy";
    cJSON *src = jptr_walk(j->doc, from, from->n);
    if (!src)
        return util_error_make(err, EINVAL,
                               "%s operation does not apply: doc is missing from path: \"%s\": "
                               "missing value",
                               op, from_s);
    if (move) {
        size_t fl = strlen(from_s);
        if (!strcmp(from_s, path))
            return 0;
        if (!strncmp(path, from_s, fl) && path[fl] == '/')
            return util_error_make(err, EINVAL,
                                   "move operation does not apply: \"%s\" is a child of \"%s\"",
                                   path, from_s);
        if (from->n == 0)
            return util_error_make(err, EINVAL,
                                   "move operation does not apply: cannot move the "
                                   "whole document");
        return op_add(j, p, path, detach(j, from), err);
    }
    j->copied += count_values(src, JSON_PATCH_MAX_COPIED);
    if (j->copied > JSON_PATCH_MAX_COPIED)
        return util_error_make(err, EINVAL, "copy operations exceed the accumulated copy limit");
    cJSON *dup = cJSON_Duplicate(src, true);
    if (!dup)
        return util_error_make(err, ENOMEM, "out of memory");
    return op_add(j, p, path, dup, err);
}

static int op_test(jpatch_t *j, const jptr_t *p, const char *path, const cJSON *value,
                   util_error_t *err)
{
    cJSON *item = jptr_walk(j->doc, p, p->n);
    if (!item && cJSON_IsNull(value))
        return 0;
    if (!item || !cJSON_Compare(item, value, true))
        return util_error_make(err, EINVAL, "test operation failed: testing value \"%s\" failed",
                               path);
    return 0;
}

/* The string member name of op, or NULL. */
static const char *op_string(const cJSON *op, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(op, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int apply_op(jpatch_t *j, const cJSON *op, util_error_t *err)
{
    const char *kind = op_string(op, "op"), *path = op_string(op, "path");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
    if (!kind)
        return util_error_make(err, EINVAL, "operation missing op field");
    if (!path)
        return util_error_make(err, EINVAL, "%s operation missing path field", kind);
    bool is_add = !strcmp(kind, "add"), is_replace = !strcmp(kind, "replace");
    bool is_test = !strcmp(kind, "test"), is_move = !strcmp(kind, "move");
    bool is_copy = !strcmp(kind, "copy"), is_remove = !strcmp(kind, "remove");
    if (!(is_add || is_replace || is_test || is_move || is_copy || is_remove))
        return util_error_make(err, EINVAL, "Unexpected kind: %s", kind);
    if ((is_add || is_replace || is_test) && !value)
        return util_error_make(err, EINVAL, "%s operation missing value field", kind);
    const char *from_s = op_string(op, "from");
    if ((is_move || is_copy) && !from_s)
        return util_error_make(err, EINVAL, "%s operation missing from field", kind);

    jptr_t p, from = {0};
    int r = jptr_parse(path, &p, err);
    if (r < 0)
        return r;
    if (from_s && (is_move || is_copy))
        r = jptr_parse(from_s, &from, err);
    if (r < 0) {
        jptr_free(&p);
        return r;
    }
    if (is_test) {
        r = op_test(j, &p, path, value, err);
    } else if (is_remove) {
        r = op_remove(j, &p, path, err);
    } else if (is_move || is_copy) {
        r = op_move_copy(j, is_move, &from, from_s, &p, path, err);
    } else {
        cJSON *dup = cJSON_Duplicate(value, true);
        if (!dup)
            r = util_error_make(err, ENOMEM, "out of memory");
        else
            r = is_add ? op_add(j, &p, path, dup, err) : op_replace(j, &p, path, dup, err);
    }
    jptr_free(&p);
    jptr_free(&from);
    return r;
}

cJSON *apiserver_json_patch(const cJSON *doc, const cJSON *ops, util_error_t *err)
{
    if (!cJSON_IsArray(ops)) {
        util_error_make(err, EINVAL, "json patch must be an array of operations");
        return NULL;
    }
    int n = cJSON_GetArraySize(ops);
    if (n > APISERVER_JSON_PATCH_MAX_OPS) {
        util_error_make(err, E2BIG, "The allowed maximum operations in a JSON patch is %d, got %d",
                        APISERVER_JSON_PATCH_MAX_OPS, n);
        return NULL;
    }
    jpatch_t j = {.doc = cJSON_Duplicate(doc, true)};
    if (!j.doc) {
        util_error_make(err, ENOMEM, "out of memory");
        return NULL;
    }
    for (const cJSON *op = ops->child; op; op = op->next) {
        if (!cJSON_IsObject(op)) {
            util_error_make(err, EINVAL, "json patch operation must be an object");
            cJSON_Delete(j.doc);
            return NULL;
        }
        if (apply_op(&j, op, err) < 0) {
            cJSON_Delete(j.doc);
            return NULL;
        }
    }
    return j.doc;
}

/* ---- JSON merge patch (RFC 7386) ------------------------------------------------------------- */

/* Sets target[key] = value (owned), keeping the position of an existing member. */
static bool set_member(cJSON *target, const char *key, cJSON *value)
{
    if (!value)
        return false;
    cJSON *old = cJSON_GetObjectItemCaseSensitive(target, key);
    if (old ? replace_member(target, old, value) : cJSON_AddItemToObject(target, key, value))
        return true;
    cJSON_Delete(value);
    return false;
}

static bool merge_object(cJSON *target, const cJSON *patch)
{
    for (const cJSON *p = patch->child; p; p = p->next) {
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(target, p->string);
        if (cJSON_IsNull(p)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(target, cur));
        } else if (cJSON_IsObject(p) && cJSON_IsObject(cur)) {
            if (!merge_object(cur, p))
                return false;
        } else if (cJSON_IsObject(p)) {
            cJSON *obj = cJSON_CreateObject();
            if (!obj || !merge_object(obj, p)) {
                cJSON_Delete(obj);
                return false;
            }
            if (!set_member(target, p->string, obj))
                return false;
        } else if (!set_member(target, p->string, cJSON_Duplicate(p, true))) {
            return false;
        }
    }
    return true;
}

cJSON *apiserver_merge_patch(const cJSON *doc, const cJSON *patch)
{
    if (!cJSON_IsObject(patch))
        return cJSON_Duplicate(patch, true);
    cJSON *target = cJSON_IsObject(doc) ? cJSON_Duplicate(doc, true) : cJSON_CreateObject();
    if (target && !merge_object(target, patch)) {
        cJSON_Delete(target);
        return NULL;
    }
    return target;
}
