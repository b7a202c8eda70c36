/* apiserver_table: meta.k8s.io/v1 (and v1beta1) Table negotiation and framing for kubectl get. */
#include "apiserver_table.h"
#include "apiserver_accept.h"
#include "apiserver_crd.h"
#include "apiserver_table_printers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CLAUSES 32

static int64_t clock_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t (*apiserver_table_clock)(void) = clock_realtime;

/* ------------------------------------------------------------------------------------------ */
/* Negotiation. Resource endpoints serve JSON, YAML and protobuf; a clause with g/v/as is only
 * acceptable when it names a conversion the endpoint performs (Table in meta.k8s.io v1 or
 * v1beta1 here), and sv= is never allowed. The first acceptable clause decides. */

static bool clause_matches_json(const apiserver_accept_clause_t *c)
{
    bool app = apiserver_span_eq(c->type, "application");
    return (app && (apiserver_span_eq(c->subtype, "json") || apiserver_span_eq(c->subtype, "*"))) ||
           (apiserver_span_eq(c->type, "*") && apiserver_span_eq(c->subtype, "*"));
}

bool apiserver_table_wanted(const char *accept, const char **version)
{
    if (!accept || !*accept)
        return false;
    apiserver_accept_clause_t clauses[MAX_CLAUSES];
    size_t n = apiserver_accept_parse(accept, clauses, MAX_CLAUSES);
    for (size_t i = 0; i < n; i++) {
        const apiserver_accept_clause_t *c = &clauses[i];
        if (!clause_matches_json(c) || c->sv.n ||
            (c->stream.n && !apiserver_span_eq(c->stream, "watch")))
            continue;
        if (!c->has_convert)
            return false;
        if (!apiserver_span_eq(c->as, "Table") || !apiserver_span_eq(c->g, "meta.k8s.io"))
            continue;
        if (apiserver_span_eq(c->v, "v1") || apiserver_span_eq(c->v, "v1beta1")) {
            if (version)
                *version = apiserver_span_eq(c->v, "v1") ? "v1" : "v1beta1";
            return true;
        }
    }
    return false;
}

bool apiserver_table_include_object_valid(const char *include_object)
{
    return !include_object || !*include_object || !strcmp(include_object, "None") ||
           !strcmp(include_object, "Metadata") || !strcmp(include_object, "Object");
}

/* ------------------------------------------------------------------------------------------ */
/* Time. */

/* k8s.io/apimachinery/pkg/util/duration.HumanDuration, on whole seconds. */
void apiserver_table_human_duration(char *buf, size_t n, int64_t seconds)
{
    if (seconds < -1) {
        snprintf(buf, n, "<invalid>");
        return;
    }
    if (seconds < 0)
        seconds = 0;
    if (seconds < 120) {
        snprintf(buf, n, "%llds", (long long)seconds);
        return;
    }
    long long minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;
    if (minutes < 10) {
        if (seconds % 60 == 0)
            snprintf(buf, n, "%lldm", minutes);
        else
            snprintf(buf, n, "%lldm%llds", minutes, (long long)(seconds % 60));
    } else if (minutes < 3 * 60) {
        snprintf(buf, n, "%lldm", minutes);
    } else if (hours < 8) {
        if (minutes % 60 == 0)
            snprintf(buf, n, "%lldh", hours);
        else
            snprintf(buf, n, "%lldh%lldm", hours, minutes % 60);
    } else if (hours < 48) {
        snprintf(buf, n, "%lldh", hours);
    } else if (hours < 24 * 8) {
        if (hours % 24 == 0)
            snprintf(buf, n, "%lldd", days);
        else
            snprintf(buf, n, "%lldd%lldh", days, hours % 24);
    } else if (hours < 24 * 365 * 2) {
        snprintf(buf, n, "%lldd", days);
    } else if (hours < 24 * 365 * 8) {
        if (days % 365 == 0)
            snprintf(buf, n, "%lldy", days / 365);
        else
            snprintf(buf, n, "%lldy%lldd", days / 365, days % 365);
    } else {
        snprintf(buf, n, "%lldy", days / 365);
    }
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return true;
}

bool apiserver_table__parse_time(const char *s, int64_t *ret)
{
    int Y, M, D, h, m, sec, oh = 0, om = 0;
    if (!s || strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &sec) || M < 1 || M > 12 || D < 1 || D > 31)
        return false;
    const char *p = s + 19;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    int sign = 0;
    if ((*p == 'Z' || *p == 'z') && !p[1]) {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) && p[3] == ':' &&
               digits(p + 4, 2, &om)) {
        sign = *p == '+' ? 1 : -1;
    } else {
        return false;
    }
    int64_t t = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec;
    *ret = t - sign * (oh * 3600 + om * 60);
    return true;
}

const cJSON *apiserver_table__get(const cJSON *obj, const char *path)
{
    char key[128];
    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof(key))
            return NULL;
        memcpy(key, path, len);
        key[len] = '\0';
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
        path += len + (dot ? 1 : 0);
    }
    return obj;
}

/* ------------------------------------------------------------------------------------------ */
/* Framing: the Table, its column definitions and rows (metav1.Table, TableColumnDefinition,
 * TableRow; every column field is serialized, even when empty). */

static cJSON *columns_json(const apiserver_table_printer_t *p)
{
    cJSON *cols = cJSON_CreateArray();
    for (size_t i = 0; i < p->ncolumns; i++) {
        const apiserver_table_column_t *c = &p->columns[i];
        cJSON *col = cJSON_CreateObject();
        cJSON_AddStringToObject(col, "name", c->name);
        cJSON_AddStringToObject(col, "type", c->type);
        cJSON_AddStringToObject(col, "format", c->format);
        cJSON_AddStringToObject(col, "description", c->description);
        cJSON_AddNumberToObject(col, "priority", c->priority);
        cJSON_AddItemToArray(cols, col);
    }
    return cols;
}

/* The row's "object": null, a PartialObjectMetadata referencing obj's metadata, or obj itself
 * (by reference: the caller keeps ownership). */
static cJSON *row_object(cJSON *obj, const char *table_version, const char *include_object)
{
    if (include_object && !strcmp(include_object, "None"))
        return cJSON_CreateNull();
    if (include_object && !strcmp(include_object, "Object"))
        return cJSON_CreateObjectReference(obj->child);
    cJSON *partial = cJSON_CreateObject();
    cJSON_AddStringToObject(partial, "kind", "PartialObjectMetadata");
    char api_version[32];
    snprintf(api_version, sizeof(api_version), "meta.k8s.io/%s", table_version);
    cJSON_AddStringToObject(partial, "apiVersion", api_version);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (cJSON_IsObject(meta))
        cJSON_AddItemReferenceToObject(partial, "metadata", meta);
    else
        cJSON_AddItemToObject(partial, "metadata", cJSON_CreateObject());
    return partial;
}

/* A Table's printer: a built-in one, or a custom resource's columns (cr set). */
typedef struct printer {
    const apiserver_table_printer_t *p;
    const apiserver_resource_t *cr;
} printer_t;

static printer_t printer_for(const char *group, const char *plural)
{
    printer_t pr = {NULL, apiserver_crd_find_group_plural(group, plural)};
    if (!pr.cr)
        pr.p = apiserver_table__printer(group, plural);
    return pr;
}

static cJSON *printer_columns(const printer_t *pr)
{
    return pr->cr ? apiserver_crd_table_columns(pr->cr) : columns_json(pr->p);
}

static cJSON *row_json(const printer_t *pr, cJSON *obj, const char *table_version,
                       const char *include_object, int64_t now)
{
    cJSON *row = cJSON_CreateObject();
    cJSON *cells = cJSON_AddArrayToObject(row, "cells");
    if (pr->cr)
        apiserver_crd_table_cells(pr->cr, cells, obj, now);
    else
        pr->p->cells(cells, row, obj, now);
    cJSON_AddItemToObject(row, "object", row_object(obj, table_version, include_object));
    return row;
}

static cJSON *table_new(const char *table_version, const char *rv, const char *continue_token)
{
    cJSON *t = cJSON_CreateObject();
    char api_version[32];
    snprintf(api_version, sizeof(api_version), "meta.k8s.io/%s", table_version);
    cJSON_AddStringToObject(t, "kind", "Table");
    cJSON_AddStringToObject(t, "apiVersion", api_version);
    cJSON *meta = cJSON_AddObjectToObject(t, "metadata");
    if (rv && *rv)
        cJSON_AddStringToObject(meta, "resourceVersion", rv);
    if (continue_token && *continue_token)
        cJSON_AddStringToObject(meta, "continue", continue_token);
    return t;
}

static void table_emit(util_buf_t *out, cJSON *t)
{
    char *s = cJSON_PrintUnformatted(t);
    if (!s)
        abort(); /* out of memory */
    util_buf_puts(out, s);
    cJSON_free(s);
    cJSON_Delete(t);
}

void apiserver_table_render(util_buf_t *out, const char *table_version, const char *group,
                            const char *plural, cJSON *const *objects, size_t n,
                            const char *include_object, const char *list_rv,
                            const char *continue_token)
{
    printer_t p = printer_for(group, plural);
    int64_t now = apiserver_table_clock();
    cJSON *t = table_new(table_version, list_rv, continue_token);
    cJSON_AddItemToObject(t, "columnDefinitions", printer_columns(&p));
    cJSON *rows = cJSON_AddArrayToObject(t, "rows");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(rows, row_json(&p, objects[i], table_version, include_object, now));
    table_emit(out, t);
}

void apiserver_table_render_event(util_buf_t *out, const char *table_version, const char *group,
                                  const char *plural, cJSON *object, const char *include_object,
                                  bool with_headers)
{
    printer_t p = printer_for(group, plural);
    const cJSON *rv = apiserver_table__get(object, "metadata.resourceVersion");
    cJSON *t = table_new(table_version, cJSON_GetStringValue(rv), NULL);
    cJSON_AddItemToObject(t, "columnDefinitions",
                          with_headers ? printer_columns(&p) : cJSON_CreateNull());
    cJSON *rows = cJSON_AddArrayToObject(t, "rows");
    cJSON_AddItemToArray(
        rows, row_json(&p, object, table_version, include_object, apiserver_table_clock()));
    table_emit(out, t);
}
