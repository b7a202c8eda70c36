/* apiserver_crd_table: Table columns of custom resources: Name, then the version's
 * additionalPrinterColumns (or Age when it declares none), as apiextensions-apiserver's
 * tableconvertor does. JSON paths: the simple subset (".a.b", "[0]"). */
#include "apiserver_crd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_table_printers.h"

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const apiserver_resource_t *apiserver_crd_find_group_plural(const char *group, const char *plural)
{
    for (size_t i = 0; i < apiserver_crd_count(); i++) {
        const apiserver_resource_t *r = apiserver_crd_at(i);
        if (!strcmp(r->group, group) && !strcmp(r->plural, plural))
            return r;
    }
    return NULL;
}

static void add_column(cJSON *cols, const char *name, const char *type, const char *format,
                       const char *desc, double priority)
{
    cJSON *col = cJSON_CreateObject();
    cJSON_AddStringToObject(col, "name", name);
    cJSON_AddStringToObject(col, "type", type);
    cJSON_AddStringToObject(col, "format", format ? format : "");
    cJSON_AddStringToObject(col, "description", desc ? desc : "");
    cJSON_AddNumberToObject(col, "priority", priority);
    cJSON_AddItemToArray(cols, col);
}

cJSON *apiserver_crd_table_columns(const apiserver_resource_t *r)
{
    const apiserver_crd_res_t *e = apiserver_crd_of(r);
    cJSON *cols = cJSON_CreateArray();
    add_column(cols, "Name", "string", "name", DESC_NAME, 0);
    if (!e || cJSON_GetArraySize(e->columns) == 0) {
        add_column(cols, "Age", "date", "", DESC_AGE, 0);
        return cols;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, e->columns)
    {
        const cJSON *prio = cJSON_GetObjectItemCaseSensitive(c, "priority");
        add_column(cols, jstr(c, "name") ? jstr(c, "name") : "",
                   jstr(c, "type") ? jstr(c, "type") : "string", jstr(c, "format"),
                   jstr(c, "description"), cJSON_IsNumber(prio) ? prio->valuedouble : 0);
    }
    return cols;
}

/* One cell: the value at the column's path, typed as the column says; null when absent. */
static void add_cell(cJSON *cells, const cJSON *col, const cJSON *obj, int64_t now)
{
    const char *type = jstr(col, "type") ? jstr(col, "type") : "string";
    const cJSON *v = apiserver_crd_json_path(obj, jstr(col, "jsonPath"));
    if (!v || cJSON_IsNull(v)) {
        cJSON_AddItemToArray(cells, cJSON_CreateNull());
    } else if (!strcmp(type, "date") && cJSON_IsString(v)) {
        apiserver_table__add_since(cells, v->valuestring, now);
    } else if (!strcmp(type, "integer") && cJSON_IsNumber(v)) {
        cJSON_AddItemToArray(cells, cJSON_CreateNumber(floor(v->valuedouble)));
    } else if ((!strcmp(type, "number") && cJSON_IsNumber(v)) ||
               (!strcmp(type, "boolean") && cJSON_IsBool(v))) {
        cJSON_AddItemToArray(cells, cJSON_Duplicate(v, false));
    } else if (cJSON_IsString(v)) {
        cJSON_AddItemToArray(cells, cJSON_CreateString(v->valuestring));
    } else {
        char *text = cJSON_PrintUnformatted(v);
        cJSON_AddItemToArray(cells, cJSON_CreateString(text ? text : ""));
        cJSON_free(text);
    }
}

void apiserver_crd_table_cells(const apiserver_resource_t *r, cJSON *cells, const cJSON *obj,
                               int64_t now)
{
    const apiserver_crd_res_t *e = apiserver_crd_of(r);
    apiserver_table__add_name(cells, obj);
    if (!e || cJSON_GetArraySize(e->columns) == 0) {
        apiserver_table__add_age(cells, obj, now);
        return;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, e->columns) add_cell(cells, c, obj, now);
}
