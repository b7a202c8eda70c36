/* apiserver_rules: semantic validation per resource (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_RULES_H
#define KUBELING_APISERVER_RULES_H

#include <cjson/cJSON.h>

#include "apiserver_internal.h"
#include "apiserver_resources.h"

/* Checks obj (defaults applied) against upstream's rules for its resource, and on update (old
 * set) the fields that may not change; on problems answers 422 Invalid with every cause and
 * returns -EINVAL. */
int apiserver_rules_check(apiserver_conn_t *c, const apiserver_resource_t *r, const cJSON *obj,
                          const cJSON *old, const char *name);

#endif
