/* apiserver_services: service cluster IP and node port allocation (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_SERVICES_H
#define KUBELING_APISERVER_SERVICES_H

#include <cjson/cJSON.h>

#include "apiserver_internal.h"

#define APISERVER_SERVICES_MAX_PORTS 32

/* What one create or update took, reserved until its write completes. */
typedef struct apiserver_services_claim {
    uint32_t ip; /* host order; 0 = none */
    int ports[APISERVER_SERVICES_MAX_PORTS];
    size_t nports;
} apiserver_services_claim_t;

int apiserver_services_init(apiserver_t *a, const char *cidr, util_error_t *err);
void apiserver_services_free(apiserver_t *a);
/* Fills spec.clusterIP(s) and node ports of svc (old: the stored object on update, else NULL),
 * checking what the client asked for. Answers 422 and returns < 0 on conflicts. */
int apiserver_services_allocate(apiserver_conn_t *c, cJSON *svc, const cJSON *old,
                                apiserver_services_claim_t *claim);
/* Drops the reservation once the write is done (stored or failed). */
void apiserver_services_release(apiserver_t *a, const apiserver_services_claim_t *claim);
/* The `kubernetes` service (first IP of the range, port 443) and its endpoints (this server). */
int apiserver_services_bootstrap(apiserver_t *a, util_error_t *err);

#endif
