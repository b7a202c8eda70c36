/* apiserver_tolerations: the DefaultTolerationSeconds admission plugin (internal). */
#ifndef KUBELING_APISERVER_TOLERATIONS_H
#define KUBELING_APISERVER_TOLERATIONS_H

#include <cjson/cJSON.h>

#include "apiserver_internal.h"

struct apiserver_target;

#define APISERVER_DEFAULT_TOLERATION_SECONDS 300

/* On create of a pod: NoExecute tolerations of node.kubernetes.io/not-ready and /unreachable
 * for 300 s, each unless a toleration of that taint (or of every key) with effect NoExecute
 * (or every effect) is already there. */
void apiserver_tolerations_admit(const struct apiserver_target *t, cJSON *obj);

#endif
