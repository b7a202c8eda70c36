/* apiserver_namespace: namespace lifecycle (internal to pkg/apiserver): Terminating namespaces,
 * their content deleted asynchronously, then the namespace itself. */
#ifndef KUBELING_APISERVER_NAMESPACE_H
#define KUBELING_APISERVER_NAMESPACE_H

#include "apiserver_internal.h"
#include "apiserver_resources.h"

/* 0 active, 1 terminating, -ENOENT absent. */
int apiserver_namespace_state(apiserver_t *a, const char *ns);
/* 403 Forbidden (NamespaceTerminating) for a create of name in the terminating namespace. */
void apiserver_namespace_forbid(apiserver_conn_t *c, const apiserver_resource_t *r,
                                const char *name, const char *ns);
/* Queues the content deletion of a namespace now marked for deletion. */
void apiserver_namespace_finalize(apiserver_t *a, const char *name);
/* At start (after the store is open): resumes namespaces that were terminating. */
int apiserver_namespace_init(apiserver_t *a, util_error_t *err);
void apiserver_namespace_stop(apiserver_t *a);

#endif
