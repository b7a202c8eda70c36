/* apiserver_managed: managedFields as FieldsV1 sets, the field ownership behind server-side
 * apply (sigs.k8s.io/structured-merge-diff) and the Update entries of other writes.
 *
 * A FieldsV1 set is a JSON tree whose keys name path elements: "f:<field>" for a member of a
 * map, `k:{"name":"c"}` for an item of a list merged by key, "v:<json>" for an item of a set of
 * primitives. A node is a member of the set when it is an empty object (a leaf) or when it has
 * a "." child (list items: the item itself and some of its fields). Which lists merge by key
 * comes from the strategic merge patch tables (apiserver_patch_strategic.c); every other list
 * is atomic, as is a workload's spec.selector. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_apply.h"
#include "apiserver_object.h"
#include "apiserver_patch.h"

#define MAX_DEPTH APISERVER_PATCH_MAX_DEPTH

/* ---- the FieldsV1 set of a value (upstream's ToFieldSet) ------------------------------------- */

typedef struct fwalk {
    const char *kind;
    bool strip_status; /* the top-level status is not tracked */
    char path[1024];   /* dotted field names from the root: the merge-key tables' paths */
    size_t len;
    int depth;
} fwalk_t;

static size_t fwalk_push(fwalk_t *w, const char *name)
{
    /* What snprintf("%s%s") did, without its format parsing (every member of every create):
     * a path too long for the buffer is cut at its end. */
    size_t old = w->len, room = sizeof(w->path) - 1 - old, n = 0;
    if (old && room) {
        w->path[old] = '.';
        n = 1;
    }
    size_t len = strlen(name);
    if (len > room - n)
        len = room - n;
    memcpy(w->path + old + n, name, len);
    w->len = old + n + len;
    w->path[w->len] = '\0';
    return old;
}

static void fwalk_pop(fwalk_t *w, size_t old)
{
    w->len = old;
    w->path[old] = '\0';
}

static char *prefixed(const char *prefix, const char *s)
{
    size_t lp = strlen(prefix), ls = strlen(s);
    char *out = util_xmalloc(lp + ls + 1);
    memcpy(out, prefix, lp);
    memcpy(out + lp, s, ls + 1);
    return out;
}

static cJSON *node_child(cJSON *node, const char *key)
{
    cJSON *ch = cJSON_GetObjectItemCaseSensitive(node, key);
    return ch ? ch : cJSON_AddObjectToObject(node, key);
}

/* The key of a list item: `k:{"<mk>":<value>}`, `v:<json>` for primitives (mk ""), or NULL.
 * The merge key's value is printed alone and framed, as cJSON prints a one-member object. */
static char *item_key(const cJSON *item, const char *mk)
{
    const cJSON *v = item;
    if (!mk[0]) {
        if (cJSON_IsObject(item) || cJSON_IsArray(item))
            return NULL;
    } else {
        v = cJSON_GetObjectItemCaseSensitive(item, mk);
        if (!cJSON_IsObject(item) || !v)
            return NULL;
    }
    char *json = cJSON_PrintUnformatted(v);
    if (!json)
        return NULL;
    util_buf_t b = {0};
    if (mk[0])
        util_buf_printf(&b, "k:{\"%s\":%s}", mk, json);
    else
        util_buf_printf(&b, "v:%s", json);
    cJSON_free(json);
    return util_buf_steal(&b);
}

static void fields_of_value(fwalk_t *w, const cJSON *v, cJSON *node);

/* Adds the items of a granular list; false when the list is atomic (a leaf). */
static bool fields_of_list(fwalk_t *w, const cJSON *list, cJSON *node)
{
    const char *mk = apiserver_strategic_list_key(w->kind, w->path);
    if (!mk)
        return false;
    const cJSON *it;
    cJSON_ArrayForEach(it, list)
    {
        char *key = item_key(it, mk);
        if (!key)
            continue;
        cJSON *ch = node_child(node, key);
        free(key);
        if (mk[0]) {
            node_child(ch, ".");
            fields_of_value(w, it, ch);
        }
    }
    return true;
}

/* stripMeta (k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager): never tracked. */
static bool stripped(const fwalk_t *w, const char *name)
{
    static const char *const meta_strip[] = {"name",
                                             "namespace",
                                             "creationTimestamp",
                                             "selfLink",
                                             "uid",
                                             "generation",
                                             "managedFields",
                                             "resourceVersion",
                                             "deletionTimestamp",
                                             "deletionGracePeriodSeconds"};
    if (w->depth == 1)
        return !strcmp(name, "apiVersion") || !strcmp(name, "kind") ||
               (w->strip_status && !strcmp(name, "status"));
    if (w->depth == 2 && !strcmp(w->path, "metadata")) {
        for (size_t i = 0; i < UTIL_ARRAY_SIZE(meta_strip); i++)
            if (!strcmp(name, meta_strip[i]))
                return true;
    }
    return false;
}

static void fields_of_value(fwalk_t *w, const cJSON *v, cJSON *node)
{
    if (!cJSON_IsObject(v) || w->depth >= MAX_DEPTH)
        return;
    w->depth++;
    const cJSON *m;
    cJSON_ArrayForEach(m, v)
    {
        if (!m->string || stripped(w, m->string))
            continue;
        size_t old = fwalk_push(w, m->string);
        char *key = prefixed("f:", m->string);
        cJSON *ch = node_child(node, key);
        bool granular = false;
        if (cJSON_IsObject(m) && strcmp(w->path, "spec.selector")) {
            fields_of_value(w, m, ch);
            granular = true;
        } else if (cJSON_IsArray(m)) {
            granular = fields_of_list(w, m, ch);
        }
        /* Empty maps and lists set nothing (upstream inserts only their members). */
        if (granular && !ch->child)
            cJSON_DeleteItemFromObjectCaseSensitive(node, key);
        free(key);
        fwalk_pop(w, old);
    }
    w->depth--;
}

/* The set of the fields obj sets, walked in place (no copy of the object). */
cJSON *apiserver_fields_of(const cJSON *obj, const char *kind, bool strip_status)
{
    fwalk_t w = {.kind = kind, .strip_status = strip_status};
    cJSON *set = cJSON_CreateObject();
    fields_of_value(&w, obj, set);
    return set;
}

/* ---- paths: values and set members named by a sequence of keys ------------------------------- */

typedef struct keypath {
    const char *k[MAX_DEPTH + 1];
    size_t n;
} keypath_t;

/* The value under one FieldsV1 key in v, or NULL. */
static cJSON *value_child(const cJSON *v, const char *key)
{
    if (!v || strlen(key) < 2 || key[1] != ':')
        return NULL;
    if (key[0] == 'f')
        return cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, key + 2) : NULL;
    if (!cJSON_IsArray(v) || (key[0] != 'k' && key[0] != 'v'))
        return NULL;
    cJSON *want = cJSON_Parse(key + 2), *it, *found = NULL;
    if (!want || (key[0] == 'k' && !cJSON_IsObject(want))) {
        cJSON_Delete(want);
        return NULL;
    }
    cJSON_ArrayForEach(it, v)
    {
        bool match = true;
        if (key[0] == 'v') {
            match = cJSON_Compare(it, want, true);
        } else {
            const cJSON *kv;
            cJSON_ArrayForEach(kv, want)
            {
                const cJSON *iv = cJSON_GetObjectItemCaseSensitive(it, kv->string);
                match = match && iv && cJSON_Compare(iv, kv, true);
            }
        }
        if (match) {
            found = it;
            break;
        }
    }
    cJSON_Delete(want);
    return found;
}

static cJSON *value_at(const cJSON *v, const keypath_t *p, size_t n)
{
    cJSON *cur = (cJSON *)v;
    for (size_t i = 0; cur && i < n; i++)
        cur = value_child(cur, p->k[i]);
    return cur;
}

static bool set_has(const cJSON *set, const keypath_t *p)
{
    for (size_t i = 0; set && i < p->n; i++)
        set = cJSON_GetObjectItemCaseSensitive(set, p->k[i]);
    return cJSON_IsObject(set) && (!set->child || cJSON_GetObjectItemCaseSensitive(set, "."));
}

/* upstream's fieldpath.Path String(): .spec.containers[name="c"].image */
static void path_string(const keypath_t *p, util_buf_t *b)
{
    for (size_t i = 0; i < p->n; i++) {
        const char *k = p->k[i];
        if (k[0] == 'f') {
            util_buf_printf(b, ".%s", k + 2);
        } else if (k[0] == 'v') {
            util_buf_printf(b, "[=%s]", k + 2);
        } else {
            cJSON *keys = cJSON_Parse(k + 2), *kv;
            util_buf_puts(b, "[");
            cJSON_ArrayForEach(kv, keys)
            {
                char *json = cJSON_PrintUnformatted(kv);
                util_buf_printf(b, "%s%s=%s", kv == keys->child ? "" : ",", kv->string, json);
                cJSON_free(json);
            }
            util_buf_puts(b, "]");
            cJSON_Delete(keys);
        }
    }
    if (!p->n)
        util_buf_puts(b, "<root>");
}

typedef void (*member_fn)(const keypath_t *p, bool leaf, void *ud);

/* Calls fn for every member of the set: leaves, and nodes marked with ".". */
static void set_walk(const cJSON *node, keypath_t *p, member_fn fn, void *ud)
{
    const cJSON *ch;
    cJSON_ArrayForEach(ch, node)
    {
        if (!strcmp(ch->string, ".")) {
            fn(p, false, ud);
            continue;
        }
        if (p->n >= MAX_DEPTH || !cJSON_IsObject(ch))
            continue;
        p->k[p->n++] = ch->string;
        if (!ch->child)
            fn(p, true, ud);
        else
            set_walk(ch, p, fn, ud);
        p->n--;
    }
}

/* ---- set algebra ------------------------------------------------------------------------------
 */

/* dst -= the members of src; nodes left without members go. */
static void set_subtract(cJSON *dst, const cJSON *src)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, src)
    {
        cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, s->string);
        if (!d)
            continue;
        bool had = d->child != NULL;
        if (!strcmp(s->string, ".") || (!s->child && !d->child)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(dst, d));
            continue;
        }
        if (!s->child)
            cJSON_DeleteItemFromObjectCaseSensitive(d, ".");
        else
            set_subtract(d, s);
        if (had && !d->child)
            cJSON_Delete(cJSON_DetachItemViaPointer(dst, d));
    }
}

/* dst += the members of src. */
static void set_union(cJSON *dst, const cJSON *src)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, src)
    {
        cJSON *d = cJSON_GetObjectItemCaseSensitive(dst, s->string);
        if (!d) {
            cJSON_AddItemToObject(dst, s->string, cJSON_Duplicate(s, true));
            continue;
        }
        if (!strcmp(s->string, "."))
            continue;
        bool d_member = !d->child || cJSON_GetObjectItemCaseSensitive(d, ".");
        bool s_member = !s->child || cJSON_GetObjectItemCaseSensitive(s, ".");
        if (s->child && !d->child) /* d: a leaf that gains members below */
            cJSON_AddObjectToObject(d, ".");
        else if (s_member && !d_member)
            cJSON_AddObjectToObject(d, ".");
        set_union(d, s);
    }
}

/* Keeps the members whose value was added or changed from oldv to newv. */
static void set_keep_changed(cJSON *set, const cJSON *oldv, const cJSON *newv)
{
    cJSON *ch = set->child;
    while (ch) {
        cJSON *next = ch->next;
        bool drop;
        if (!strcmp(ch->string, ".")) {
            drop = oldv != NULL;
        } else {
            const cJSON *o = value_child(oldv, ch->string);
            const cJSON *n = value_child(newv, ch->string);
            if (!ch->child) {
                drop = o && n && cJSON_Compare(o, n, true);
            } else {
                set_keep_changed(ch, o, n);
                drop = !ch->child;
            }
        }
        if (drop)
            cJSON_Delete(cJSON_DetachItemViaPointer(set, ch));
        ch = next;
    }
}

/* Removes the members whose field is no longer in v. */
static void set_prune_absent(cJSON *set, const cJSON *v)
{
    cJSON *ch = set->child;
    while (ch) {
        cJSON *next = ch->next;
        if (strcmp(ch->string, ".")) {
            const cJSON *n = value_child(v, ch->string);
            bool drop = !n;
            if (n && ch->child) {
                set_prune_absent(ch, n);
                drop = !ch->child;
            }
            if (drop)
                cJSON_Delete(cJSON_DetachItemViaPointer(set, ch));
        }
        ch = next;
    }
}

static cJSON *set_of_path(const keypath_t *p)
{
    cJSON *root = cJSON_CreateObject(), *node = root;
    for (size_t i = 0; i < p->n; i++)
        node = cJSON_AddObjectToObject(node, p->k[i]);
    return root;
}

/* ---- managedFields entries ------------------------------------------------------------------ */

static const char *entry_str(const cJSON *e, const char *name)
{
    const char *s = apiserver_obj_string(e, name);
    return s ? s : "";
}

static cJSON *entry_find(cJSON *managed, const apiserver_manager_t *m, const char *op)
{
    cJSON *e;
    cJSON_ArrayForEach(e, managed)
    {
        if (strcmp(entry_str(e, "manager"), m->name) || strcmp(entry_str(e, "operation"), op) ||
            strcmp(entry_str(e, "subresource"), m->subresource))
            continue;
        if (!strcmp(op, "Apply") || !strcmp(entry_str(e, "apiVersion"), m->api_version))
            return e;
    }
    return NULL;
}

static cJSON *entry_fields(cJSON *e)
{
    cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "fieldsV1");
    if (!cJSON_IsObject(f)) {
        cJSON_DeleteItemFromObjectCaseSensitive(e, "fieldsV1");
        f = cJSON_AddObjectToObject(e, "fieldsV1");
    }
    return f;
}

/* Sets (or adds) the manager's entry with the given fields (taken). */
static void entry_put(cJSON *managed, const apiserver_manager_t *m, const char *op, cJSON *fields)
{
    cJSON *e = entry_find(managed, m, op);
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "manager", m->name);
    cJSON_AddStringToObject(n, "operation", op);
    cJSON_AddStringToObject(n, "apiVersion", m->api_version);
    cJSON_AddStringToObject(n, "time", m->now);
    cJSON_AddStringToObject(n, "fieldsType", "FieldsV1");
    cJSON_AddItemToObject(n, "fieldsV1", fields);
    if (m->subresource[0])
        cJSON_AddStringToObject(n, "subresource", m->subresource);
    if (e)
        cJSON_ReplaceItemViaPointer(managed, e, n);
    else
        cJSON_AddItemToArray(managed, n);
}

/* Drops entries without fields; an empty list leaves metadata. */
static void entries_store(cJSON *obj, cJSON *managed)
{
    cJSON *e = managed->child;
    while (e) {
        cJSON *next = e->next;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "fieldsV1");
        if (!cJSON_IsObject(f) || !f->child)
            cJSON_Delete(cJSON_DetachItemViaPointer(managed, e));
        e = next;
    }
    cJSON *meta = apiserver_obj_metadata(obj);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
    if (managed->child)
        cJSON_AddItemToObject(meta, "managedFields", managed);
    else
        cJSON_Delete(managed);
}

/* A copy of managedFields without entries that are not objects (a client may send anything). */
static cJSON *entries_copy(const cJSON *mf)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *e, *list = cJSON_IsArray(mf) ? mf : NULL;
    cJSON_ArrayForEach(e, list)
    {
        if (cJSON_IsObject(e))
            cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
    }
    return out;
}

static cJSON *entries_of(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    return entries_copy(cJSON_GetObjectItemCaseSensitive(meta, "managedFields"));
}

/* upstream's printManager: `"kubectl" with subresource "scale" using apps/v1`. */
static void describe_manager(const cJSON *e, util_buf_t *b)
{
    util_buf_puts(b, "conflict with ");
    util_buf_json_string(b, entry_str(e, "manager"), strlen(entry_str(e, "manager")));
    if (entry_str(e, "subresource")[0]) {
        util_buf_puts(b, " with subresource ");
        util_buf_json_string(b, entry_str(e, "subresource"), strlen(entry_str(e, "subresource")));
    }
    if (!strcmp(entry_str(e, "operation"), "Update"))
        util_buf_printf(b, " using %s", entry_str(e, "apiVersion"));
}

/* ---- apply ------------------------------------------------------------------------------------
 */

typedef struct apply_ctx {
    const cJSON *live;
    cJSON *merged, *managed, *mine, *causes;
    bool force;
} apply_ctx_t;

static bool values_equal(const cJSON *a, const cJSON *b)
{
    return (!a && !b) || (a && b && cJSON_Compare(a, b, true));
}

/* A field the apply sets: a conflict when another manager owns it and its value changes. */
static void check_conflict(const keypath_t *p, bool leaf, void *ud)
{
    apply_ctx_t *x = ud;
    if (!leaf || values_equal(value_at(x->live, p, p->n), value_at(x->merged, p, p->n)))
        return;
    cJSON *e;
    cJSON_ArrayForEach(e, x->managed)
    {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "fieldsV1");
        if (e == x->mine || !set_has(f, p))
            continue;
        if (x->force) {
            cJSON *one = set_of_path(p);
            set_subtract(f, one);
            cJSON_Delete(one);
            continue;
        }
        util_buf_t msg = {0}, field = {0};
        describe_manager(e, &msg);
        path_string(p, &field);
        cJSON *cause = cJSON_CreateObject();
        cJSON_AddStringToObject(cause, "reason", "FieldManagerConflict");
        cJSON_AddStringToObject(cause, "message", msg.data);
        cJSON_AddStringToObject(cause, "field", field.data);
        if (!x->causes)
            x->causes = cJSON_CreateArray();
        cJSON_AddItemToArray(x->causes, cause);
        util_buf_free(&msg);
        util_buf_free(&field);
    }
}

/* A field the manager applied before and no longer does: it goes unless someone else owns it. */
static void remove_unowned(const keypath_t *p, bool leaf, void *ud)
{
    (void)leaf;
    apply_ctx_t *x = ud;
    const cJSON *e;
    cJSON_ArrayForEach(e, x->managed)
    {
        if (e != x->mine && set_has(cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"), p))
            return;
    }
    /* Maps left empty go too (Go's omitempty would not show them either). */
    for (size_t n = p->n; n > 0; n--) {
        cJSON *parent = value_at(x->merged, p, n - 1);
        cJSON *v = value_child(parent, p->k[n - 1]);
        if (!v || (n < p->n && (!cJSON_IsObject(v) || v->child)))
            return;
        cJSON_Delete(cJSON_DetachItemViaPointer(parent, v));
    }
}

int apiserver_apply_merge(const cJSON *live, const cJSON *applied, const apiserver_manager_t *m,
                          cJSON **ret_obj, cJSON **ret_causes, util_error_t *err)
{
    cJSON *merged = live ? apiserver_strategic_patch(live, applied, m->kind, err)
                         : cJSON_Duplicate(applied, true);
    if (!merged)
        return -EINVAL;
    cJSON *aset = apiserver_fields_of(applied, m->kind, m->strip_status);
    apply_ctx_t x = {
        .live = live, .merged = merged, .managed = entries_of(live), .force = m->force};
    x.mine = entry_find(x.managed, m, "Apply");
    keypath_t p = {.n = 0};
    set_walk(aset, &p, check_conflict, &x);
    if (x.causes) {
        cJSON_Delete(aset);
        cJSON_Delete(x.managed);
        cJSON_Delete(merged);
        *ret_causes = x.causes;
        return -EBUSY;
    }
    if (x.mine) {
        cJSON *gone = cJSON_Duplicate(entry_fields(x.mine), true);
        set_subtract(gone, aset);
        set_walk(gone, &p, remove_unowned, &x);
        cJSON_Delete(gone);
    }
    entry_put(x.managed, m, "Apply", aset);
    entries_store(merged, x.managed);
    *ret_obj = merged;
    return 0;
}

char *apiserver_apply_conflict_message(const cJSON *causes)
{
    util_buf_t b = {0};
    int n = cJSON_GetArraySize(causes);
    const cJSON *c, *prev = NULL;
    if (n == 1) {
        c = causes->child;
        util_buf_printf(&b, "Apply failed with 1 conflict: %s: %s", entry_str(c, "message"),
                        entry_str(c, "field"));
        return util_buf_steal(&b);
    }
    /* Grouped by manager (causes come grouped in field order, not sorted as upstream does). */
    util_buf_printf(&b, "Apply failed with %d conflicts: ", n);
    cJSON_ArrayForEach(c, causes)
    {
        if (!prev || strcmp(entry_str(prev, "message"), entry_str(c, "message")))
            util_buf_printf(&b, "%s%s:", prev ? "\n" : "", entry_str(c, "message"));
        util_buf_printf(&b, "\n- %s", entry_str(c, "field"));
        prev = c;
    }
    return util_buf_steal(&b);
}

/* ---- update --------------------------------------------------------------------------------- */

void apiserver_managed_update(cJSON *obj, const cJSON *cur, const apiserver_manager_t *m)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(meta, "managedFields");
    /* A body without managedFields keeps the stored ones; an empty list resets them. */
    cJSON *managed = cJSON_IsArray(given) ? entries_copy(given) : entries_of(cur);
    cJSON *changed = apiserver_fields_of(obj, m->kind, m->strip_status);
    set_keep_changed(changed, cur, obj);
    cJSON *e;
    cJSON_ArrayForEach(e, managed)
    {
        cJSON *f = entry_fields(e);
        set_prune_absent(f, obj);
        set_subtract(f, changed);
    }
    if (changed->child) {
        cJSON *mine = entry_find(managed, m, "Update");
        if (mine)
            set_union(changed, entry_fields(mine));
        entry_put(managed, m, "Update", changed);
    } else {
        cJSON_Delete(changed);
    }
    entries_store(obj, managed);
}
