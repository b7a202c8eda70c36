/* apiserver_quota: ResourceQuota and LimitRange admission, and the quota status kept up to date
 * (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_QUOTA_H
#define KUBELING_APISERVER_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "apiserver_internal.h"
#include "apiserver_resources.h"
#include "store/store.h"

/* ---- usage arithmetic (apiserver_quota_usage.c; pure, unit-tested) ------------------------- */

#define APISERVER_QUOTA_MAX_NAMES 48

/* Resource name -> amount in thousandths (milli-units: "100m" cpu = 100, "1Ki" = 1024000). */
typedef struct apiserver_quota_list {
    struct {
        char name[128];
        int64_t milli;
    } e[APISERVER_QUOTA_MAX_NAMES];
    size_t n;
} apiserver_quota_list_t;

/* Adds milli to name (a new entry when absent; ignored when full). */
void apiserver_quota_list_add(apiserver_quota_list_t *l, const char *name, int64_t milli);
/* The amount of name, or 0 (*found false) when absent. */
int64_t apiserver_quota_list_get(const apiserver_quota_list_t *l, const char *name, bool *found);
/* A ResourceList object ({"cpu":"100m",...}) as a list; entries that do not parse are skipped. */
void apiserver_quota_list_parse(const cJSON *resources, apiserver_quota_list_t *out);
/* Formats milli as a quantity the way upstream prints it: "100m", "2", "1Gi" (binary suffixes
 * when the value is an exact multiple and binary is preferred, else decimal ones). */
void apiserver_quota_format(int64_t milli, bool binary, char *out, size_t n);

/* What an object of resource r counts against quotas (upstream's evaluators): count/<r>, the
 * legacy object counts (pods, services, ...), a pod's requests/limits (nothing for a pod in a
 * terminal phase), services' node ports and load balancers, claims' requests.storage. */
void apiserver_quota_usage(const apiserver_resource_t *r, const cJSON *obj,
                           apiserver_quota_list_t *out);
/* True when the quota's scopes (spec.scopes, spec.scopeSelector) select the object (a quota
 * with scopes selects pods only). */
bool apiserver_quota_matches(const cJSON *quota, const apiserver_resource_t *r, const cJSON *obj);
/* The pod constraint of quotas on cpu/memory: the "must specify ..." text of the containers
 * that lack a request or limit a hard name needs (upstream's wording), or NULL (free()). */
char *apiserver_quota_pod_constraints(const cJSON *pod, const apiserver_quota_list_t *hard);
/* The resource a hard name counts ("pods" for requests.cpu, ...): group/plural, false when the
 * name counts nothing kubeling serves. */
bool apiserver_quota_resource_of(const char *hard_name, char *group, size_t gn, char *plural,
                                 size_t pn);

/* ---- admission and status (apiserver_quota.c) ---------------------------------------------- */

/* Checks obj (being created through t) against the namespace's quotas: answers 403 with
 * upstream's message and returns < 0 when it does not fit; otherwise charges its usage (held
 * until the write is done) and returns 0. A new ResourceQuota gets its status computed. */
int apiserver_quota_admit(apiserver_conn_t *c, const struct apiserver_target *t, cJSON *obj);
/* The same for an update (cur: the stored object): what obj adds over cur is checked and
 * charged (a service becoming NodePort, a claim growing). */
int apiserver_quota_admit_update(apiserver_conn_t *c, const struct apiserver_target *t,
                                 const cJSON *obj, const cJSON *cur);
/* The charge of the request being written (NULL when none), taken by the write. */
struct apiserver_quota_charge *apiserver_quota_take_charge(apiserver_conn_t *c);
/* The write is done: committed (written) charges go into the quotas' status.used, others are
 * released. Takes ch (NULL is fine). */
void apiserver_quota_charge_done(apiserver_t *a, struct apiserver_quota_charge *ch, bool written);

/* The status controller: a store watch recomputes status.used of the quotas of a namespace
 * whose tracked objects changed (creates, updates, deletes from any path). */
int apiserver_quota_start(apiserver_t *a, util_error_t *err);
void apiserver_quota_stop(apiserver_t *a);
void apiserver_quota_free(apiserver_t *a);

/* ---- LimitRange (apiserver_limitrange.c) --------------------------------------------------- */

/* LimitRanger for a pod or claim being created: the Container defaults applied, then
 * min/max/maxLimitRequestRatio for Container, Pod and PersistentVolumeClaim items; answers
 * 403 with upstream's messages and returns < 0 when violated. */
int apiserver_limitrange_admit(apiserver_conn_t *c, const struct apiserver_target *t, cJSON *obj);
/* upstream's LimitRangeItem defaults (default <- max, defaultRequest <- default or min). */
void apiserver_limitrange_defaults(cJSON *limitrange);

#endif
