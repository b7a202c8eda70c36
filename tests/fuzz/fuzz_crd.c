/* fuzz_crd: libFuzzer target for CustomResourceDefinitions and custom resources, both
 * untrusted: the input is split on a NUL byte into a CRD and an object. The CRD is validated,
 * given its status and registered (as if established); the object is then pruned, defaulted,
 * validated and printed as Table cells against every served version, and the versions'
 * OpenAPI definitions are built. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "apiserver/apiserver_crd.h"
#include "apiserver/apiserver_openapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(void *ud, const char *reason, const char *field, const char *problem)
{
    (void)ud;
    (void)reason;
    (void)field;
    (void)problem;
}

/* Marks the CRD established so that it is served, whatever its content. */
static void force_established(cJSON *crd)
{
    cJSON_DeleteItemFromObjectCaseSensitive(crd, "status");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", "Established");
    cJSON_AddStringToObject(c, "status", "True");
    cJSON *conds = cJSON_AddArrayToObject(cJSON_AddObjectToObject(crd, "status"), "conditions");
    cJSON_AddItemToArray(conds, c);
}

static void exercise(const apiserver_resource_t *r, const char *obj_text, size_t len)
{
    cJSON *obj = cJSON_ParseWithLength(obj_text, len);
    if (!obj)
        return;
    const apiserver_crd_res_t *e = apiserver_crd_of(r);
    util_strv_t unknown = {0};
    apiserver_crd_schema_unknown(e->schema, obj, &unknown);
    util_strv_clear(&unknown);
    apiserver_crd_normalize(r, obj);
    apiserver_crd_validate_object(r, obj, ignore, NULL);
    cJSON *cols = apiserver_crd_table_columns(r), *cells = cJSON_CreateArray();
    apiserver_crd_table_cells(r, cells, obj, 0);
    cJSON_Delete(cells);
    cJSON_Delete(cols);
    for (int list = 0; list < 2; list++)
        cJSON_Delete(apiserver_openapi__crd_schema(r, list, "#/definitions/", list));
    if (e->spec_replicas_path)
        (void)apiserver_crd_json_path_set_int(obj, e->spec_replicas_path, 1);
    cJSON_Delete(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 18)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    size_t crd_len = strlen(buf);
    const char *obj_text = crd_len < size ? buf + crd_len + 1 : "";
    cJSON *crd = cJSON_ParseWithLength(buf, crd_len);
    if (crd) {
        apiserver_crd_validate(crd, ignore, NULL);
        apiserver_crd_prepare(crd);
        force_established(crd);
        char *text = cJSON_PrintUnformatted(crd);
        if (text)
            apiserver_crd_sync("fuzz", text, strlen(text));
        cJSON_free(text);
        for (size_t i = 0; i < apiserver_crd_count(); i++)
            exercise(apiserver_crd_at(i), obj_text, strlen(obj_text));
        apiserver_crd_reset();
        cJSON_Delete(crd);
    }
    free(buf);
    return 0;
}
