/* apiserver_patch: JSON patch, JSON merge patch and strategic merge patch on cJSON (internal). */
#ifndef KUBELING_APISERVER_PATCH_H
#define KUBELING_APISERVER_PATCH_H

#include <cjson/cJSON.h>

#include "util/util.h"

/* Upstream's limit on the operations of one JSON patch (k8s.io/apiserver handlers/patch.go). */
#define APISERVER_JSON_PATCH_MAX_OPS 10000
/* The deepest JSON pointer (and strategic merge nesting) accepted. */
#define APISERVER_PATCH_MAX_DEPTH    64

/* RFC 6902 JSON patch: applies ops (a JSON array) to a copy of doc. Returns the new document,
 * or NULL with *err set (EINVAL, jsonpatch-style message such as
 * `doc is missing path: "/spec/x": missing value` or "test operation failed"). doc is not
 * modified. */
cJSON *apiserver_json_patch(const cJSON *doc, const cJSON *ops, util_error_t *err);

/* RFC 7386 JSON merge patch: returns a new document (NULL only when out of memory). */
cJSON *apiserver_merge_patch(const cJSON *doc, const cJSON *patch);

/* Strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch) for objects of `kind`
 * ("Pod", "Deployment", ...): lists tagged patchStrategy=merge upstream are merged by their
 * patchMergeKey; $patch (replace, delete), $setElementOrder/<list>,
 * $deleteFromPrimitiveList/<list> and $retainKeys are honoured. Kinds not known here patch
 * like a merge patch with directives. Returns a new document, or NULL with *err (EINVAL). */
cJSON *apiserver_strategic_patch(const cJSON *doc, const cJSON *patch, const char *kind,
                                 util_error_t *err);

/* The merge key of the list at path (dotted field names from the root, "spec.template.spec.
 * containers") in objects of kind: a key, "" for a merging list of primitives, or NULL when the
 * list is replaced whole. Server-side apply uses the same lists as associative. */
const char *apiserver_strategic_list_key(const char *kind, const char *path);

#endif
