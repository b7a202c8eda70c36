/* apiserver_discovery: API discovery documents built from the resource table (internal to
 * pkg/apiserver). Pure functions: JSON is appended to a util_buf_t, no I/O. */
#ifndef KUBELING_APISERVER_DISCOVERY_H
#define KUBELING_APISERVER_DISCOVERY_H

#include "util/util.h"

typedef enum {
    APISERVER_DISCOVERY_LEGACY,
    APISERVER_DISCOVERY_V2BETA1,
    APISERVER_DISCOVERY_V2
} apiserver_discovery_format_t;

/* Picks the format from an Accept header value (NULL = legacy), honouring the order/q of the
 * listed media types the way kube-apiserver does: the aggregated types are
 * application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList and ...;v=v2beta1;...
 * (parameters may appear in any order; whitespace around ';' and ',' allowed). */
apiserver_discovery_format_t apiserver_discovery_negotiate(const char *accept);

/* The Content-Type to answer with for a format ("application/json" for legacy, otherwise
 * exactly "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" or the
 * v2beta1 one). */
const char *apiserver_discovery_content_type(apiserver_discovery_format_t f);

/* GET /api: legacy APIVersions with one serverAddressByClientCIDRs entry for 0.0.0.0/0 pointing
 * at server_address (none when NULL); aggregated: APIGroupDiscoveryList of the core group. */
void apiserver_discovery_api(util_buf_t *out, apiserver_discovery_format_t f,
                             const char *server_address);

/* GET /apis: legacy APIGroupList of the non-core groups; aggregated: APIGroupDiscoveryList of
 * the non-core groups. */
void apiserver_discovery_apis(util_buf_t *out, apiserver_discovery_format_t f);

/* GET /api/v1 (group "") or /apis/<group>/<version>: APIResourceList, subresources listed as
 * "plural/sub" entries. Returns 0, or -ENOENT (nothing appended) when not served. */
int apiserver_discovery_resource_list(util_buf_t *out, const char *group, const char *version);

/* GET /apis/<group>: APIGroup. Returns 0, or -ENOENT (nothing appended) when the group is not
 * served under /apis (the core group never is). */
int apiserver_discovery_group(util_buf_t *out, const char *group);

#endif
