/* fuzz_api: libFuzzer target for what the apiserver parses from a request after HTTP framing:
 * the path and query, Accept negotiation, label and field selectors, JSON bodies, and the
 * three patch algorithms applied to a JSON document. The input is split on NUL bytes into
 * path, query, accept, label selector, field selector, document, and patch. The whole input is
 * also decoded as a protobuf request body (it needs the "k8s\0" prefix, so it cannot be a
 * NUL-separated part). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "apiserver/apiserver_discovery.h"
#include "apiserver/apiserver_patch.h"
#include "apiserver/apiserver_proto.h"
#include "apiserver/apiserver_registry.h"
#include "apiserver/apiserver_table.h"
#include "labels/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PATH, QUERY, ACCEPT, LABELS, FIELDS, DOC, PATCH, NPARTS };

static const char *field_get(const cJSON *obj, const char *field, void *ud)
{
    (void)ud;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *part[NPARTS];
    size_t len[NPARTS];
    char *p = buf;
    for (int i = 0; i < NPARTS; i++) { /* parts end at NUL bytes; missing parts are empty */
        part[i] = p;
        len[i] = strlen(p);
        p += len[i] < (size_t)(buf + size - p) ? len[i] + 1 : len[i];
    }

    apiserver_target_t t;
    (void)apiserver_registry_parse(part[PATH], &t);
    char value[256];
    (void)apiserver_query_get(part[QUERY], "labelSelector", value, sizeof(value));
    (void)apiserver_query_get(part[QUERY], "continue", value, sizeof(value));
    (void)apiserver_discovery_negotiate(part[ACCEPT]);
    const char *version;
    (void)apiserver_table_wanted(part[ACCEPT], &version);

    char perr[256];
    cJSON_Delete(apiserver_proto_decode(data, size, perr, sizeof(perr)));
    cJSON *doc = cJSON_ParseWithLength(part[DOC], len[DOC]);
    cJSON *patch = cJSON_ParseWithLength(part[PATCH], len[PATCH]);

    labels_selector_t *ls = NULL;
    labels_fields_t *fs = NULL;
    util_error_t err = NULL;
    if (labels_selector_parse(part[LABELS], &ls, &err) == 0 && doc)
        (void)labels_selector_matches_object(ls, doc);
    util_error_free(&err);
    if (labels_fields_parse(part[FIELDS], &fs, &err) == 0 && doc)
        (void)labels_fields_matches(fs, doc, field_get, NULL);
    util_error_free(&err);
    labels_selector_free(ls);
    labels_fields_free(fs);

    if (doc && patch) {
        cJSON_Delete(apiserver_merge_patch(doc, patch));
        cJSON_Delete(apiserver_strategic_patch(doc, patch, "Pod", &err));
        util_error_free(&err);
        cJSON_Delete(apiserver_strategic_patch(doc, patch, "Deployment", &err));
        util_error_free(&err);
        cJSON_Delete(apiserver_json_patch(doc, patch, &err));
        util_error_free(&err);
    }
    cJSON_Delete(doc);
    cJSON_Delete(patch);
    free(buf);
    return 0;
}
