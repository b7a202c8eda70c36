/* apiserver_metrics: Prometheus metrics of the apiserver (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_METRICS_H
#define KUBELING_APISERVER_METRICS_H

#include "apiserver_resources.h"
#include "store/store.h"
#include "util/util.h"

typedef struct apiserver_metrics apiserver_metrics_t;

apiserver_metrics_t *apiserver_metrics_new(void);
void apiserver_metrics_free(apiserver_metrics_t *m);
/* One answered request: verb in upstream's spelling (GET, LIST, WATCH, POST, PUT, PATCH,
 * DELETE, ...; a static string), resource NULL for non-resource paths. */
void apiserver_metrics_request(apiserver_metrics_t *m, const char *verb,
                               const apiserver_resource_t *res, const char *sub, int code,
                               double secs);
void apiserver_metrics_store_txn(apiserver_metrics_t *m, double secs);
void apiserver_metrics_render(apiserver_metrics_t *m, store_t *store, unsigned inflight,
                              unsigned conns, util_buf_t *b);

#endif
