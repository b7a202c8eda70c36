/* k8s_schema: lookups over the tables that gen-k8s-schema.py generates (see k8s_schema.h). */
#include "k8s_schema.h"

#include <stddef.h>
#include <string.h>

static int gvk_cmp(const k8s_gvk_t *e, const char *group, const char *version, const char *kind)
{
    int c = strcmp(e->group, group);
    if (c == 0)
        c = strcmp(e->version, version);
    if (c == 0)
        c = strcmp(e->kind, kind);
    return c;
}

const k8s_gvk_t *k8s_schema_gvk(const char *group, const char *version, const char *kind)
{
    size_t lo = 0, hi = k8s_schema_ngvks_;
    if (version == NULL || kind == NULL)
        return NULL;
    if (group == NULL)
        group = "";
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = gvk_cmp(&k8s_schema_gvks_[mid], group, version, kind);
        if (c == 0)
            return &k8s_schema_gvks_[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const k8s_kind_t *k8s_schema_find(const char *group, const char *version, const char *kind)
{
    const k8s_gvk_t *e = k8s_schema_gvk(group, version, kind);
    return e ? &k8s_schema_types_[e->type] : NULL;
}

unsigned k8s_schema_ngvks(void)
{
    return k8s_schema_ngvks_;
}

const k8s_gvk_t *k8s_schema_gvk_at(unsigned i)
{
    return i < k8s_schema_ngvks_ ? &k8s_schema_gvks_[i] : NULL;
}

const k8s_kind_t *k8s_schema_type(int ref)
{
    if (ref < 0 || (unsigned)ref >= k8s_schema_ntypes_)
        return NULL;
    return &k8s_schema_types_[ref];
}

unsigned k8s_schema_ntypes(void)
{
    return k8s_schema_ntypes_;
}

int k8s_schema_type_index(const k8s_kind_t *t)
{
    return (int)(t - k8s_schema_types_);
}

const k8s_kind_t *k8s_schema_type_by_name(const char *name)
{
    size_t lo = 0, hi = k8s_schema_ntypes_;
    if (name == NULL)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(k8s_schema_types_[mid].name, name);
        if (c == 0)
            return &k8s_schema_types_[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const k8s_field_t *k8s_schema_field(const k8s_kind_t *t, const char *json)
{
    size_t lo = 0, hi;
    if (t == NULL || json == NULL)
        return NULL;
    hi = t->nfields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->fields[mid].json, json);
        if (c == 0)
            return &t->fields[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
