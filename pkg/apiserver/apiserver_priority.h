/* apiserver_priority: PriorityClasses and the Priority admission plugin (internal). */
#ifndef KUBELING_APISERVER_PRIORITY_H
#define KUBELING_APISERVER_PRIORITY_H

#include <cjson/cJSON.h>

#include "apiserver_internal.h"

struct apiserver_target;

/* Creates system-node-critical and system-cluster-critical when missing. */
int apiserver_priority_bootstrap(apiserver_t *a, util_error_t *err);
/* On create: a pod's priority from its class (or the global default), a class's own rules.
 * Answers and returns -1 when refused. */
int apiserver_priority_admit(apiserver_conn_t *c, const struct apiserver_target *t, cJSON *obj,
                             const char *name);

#endif
