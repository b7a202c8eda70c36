/* apiserver_defaults: upstream's field defaulting per resource (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_DEFAULTS_H
#define KUBELING_APISERVER_DEFAULTS_H

#include <cjson/cJSON.h>

#include "apiserver_resources.h"

/* Fills the fields upstream defaults (pods and pod templates, services, workloads) that the
 * object leaves unset; never overrides what is set. */
void apiserver_defaults_apply(const apiserver_resource_t *r, cJSON *obj);

#endif
