/* apiserver_table: server-side meta.k8s.io Table output for kubectl get (internal to
 * pkg/apiserver). Pure functions: JSON is appended to a util_buf_t, no I/O. */
#ifndef KUBELING_APISERVER_TABLE_H
#define KUBELING_APISERVER_TABLE_H

#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* The wall clock Age columns are computed against, in Unix seconds; tests replace it. */
extern int64_t (*apiserver_table_clock)(void);

/* True if the Accept header asks for a Table: the first acceptable clause, in goautoneg's
 * q/specificity order, is application/json (or a wildcard) with as=Table;g=meta.k8s.io and
 * v=v1 or v=v1beta1. *version is then set to "v1" or "v1beta1". Plain JSON, NULL or clauses
 * naming other conversions (e.g. PartialObjectMetadataList) give false. */
bool apiserver_table_wanted(const char *accept, const char **version);

/* True if include_object is a value the includeObject query parameter accepts: NULL or ""
 * (meaning Metadata), "None", "Metadata" or "Object"; upstream answers 400 otherwise. */
bool apiserver_table_include_object_valid(const char *include_object);

/* Appends a Table (apiVersion meta.k8s.io/<table_version>) for objects, all of the resource
 * group/plural (which selects the columns, as kubernetes/pkg/printers/internalversion does;
 * unknown resources get Name and Age). Each row's object is per include_object: "None" (null),
 * "Metadata" (default: PartialObjectMetadata) or "Object" (the object as is). list_rv and
 * continue_token go to the Table's metadata (either may be NULL). */
void apiserver_table_render(util_buf_t *out, const char *table_version, const char *group,
                            const char *plural, cJSON *const *objects, size_t n,
                            const char *include_object, const char *list_rv,
                            const char *continue_token);

/* The Table for one watch event object: one row, metadata.resourceVersion the object's.
 * Upstream sends column definitions only with the first event of a stream (later events have
 * "columnDefinitions":null): pass with_headers accordingly. */
void apiserver_table_render_event(util_buf_t *out, const char *table_version, const char *group,
                                  const char *plural, cJSON *object, const char *include_object,
                                  bool with_headers);

/* duration.HumanDuration of a whole number of seconds ("0s", "59s", "3m12s", "61m", "2d4h",
 * "400d", "3y12d"; "<invalid>" below -1s). */
void apiserver_table_human_duration(char *buf, size_t n, int64_t seconds);

#endif
