/* kubelet_lease: the node's heartbeat, a Lease in kube-node-lease named after the node
 * (component-helpers' lease controller: holderIdentity, leaseDurationSeconds 40, renewTime,
 * owned by the Node). */
#include "kubelet_internal.h"

#include <stdlib.h>
#include <string.h>

static void on_lease_written(void *ud, client_result_t *res);

/* Sets what a renewal changes: holder, duration, renewTime and the owner (the Node's uid
 * changes when the Node is registered again). */
static void renew(kubelet_t *k, cJSON *lease)
{
    char now[40];
    kubelet__now(now, sizeof(now), true);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(lease, "metadata");
    if (k->node_uid) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "apiVersion", "v1");
        cJSON_AddStringToObject(ref, "kind", "Node");
        cJSON_AddStringToObject(ref, "name", k->name);
        cJSON_AddStringToObject(ref, "uid", k->node_uid);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), ref);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(lease, "spec");
    cJSON *spec = cJSON_AddObjectToObject(lease, "spec");
    cJSON_AddStringToObject(spec, "holderIdentity", k->name);
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", KUBELET_LEASE_SECONDS);
    cJSON_AddStringToObject(spec, "renewTime", now);
}

static void create_lease(kubelet_t *k)
{
    cJSON *lease = cJSON_CreateObject();
    cJSON_AddStringToObject(lease, "apiVersion", "coordination.k8s.io/v1");
    cJSON_AddStringToObject(lease, "kind", "Lease");
    cJSON *meta = cJSON_AddObjectToObject(lease, "metadata");
    cJSON_AddStringToObject(meta, "name", k->name);
    cJSON_AddStringToObject(meta, "namespace", KUBELET_LEASE_NS);
    renew(k, lease);
    k->lease_req =
        client_create(k->client, &CLIENT_RES_LEASES, KUBELET_LEASE_NS, lease, on_lease_written, k);
    cJSON_Delete(lease);
    if (!k->lease_req)
        kubelet__lease_done(k, false);
}

static void on_lease_written(void *ud, client_result_t *res)
{
    kubelet_t *k = ud;
    k->lease_req = NULL;
    if ((res->status == 200 || res->status == 201) && cJSON_IsObject(res->body)) {
        cJSON_Delete(k->lease);
        k->lease = res->body;
        res->body = NULL;
        kubelet__lease_done(k, true);
        return;
    }
    /* a conflict or a missing lease: read it again on the next try */
    if (k->lease_backoff.cur_ms == 0) /* the first failure of a streak */
        util_log_warn("kubelet: renewing lease %s/%s: %s (retrying)", KUBELET_LEASE_NS, k->name,
                      res->st.message ? res->st.message : "failed");
    else
        util_log_v(1, "kubelet: renewing lease %s/%s: %s", KUBELET_LEASE_NS, k->name,
                   res->st.message ? res->st.message : "failed");
    cJSON_Delete(k->lease);
    k->lease = NULL;
    kubelet__lease_done(k, false);
}

static void on_lease_read(void *ud, client_result_t *res)
{
    kubelet_t *k = ud;
    k->lease_req = NULL;
    if (res->status == 200 && cJSON_IsObject(res->body)) {
        k->lease = res->body;
        res->body = NULL;
        kubelet__lease_sync(k);
    } else if (res->status == 404) {
        create_lease(k);
    } else {
        kubelet__lease_done(k, false);
    }
}

void kubelet__lease_sync(kubelet_t *k)
{
    if (k->lease_req || k->stopping)
        return;
    if (!k->lease) {
        k->lease_req =
            client_get(k->client, &CLIENT_RES_LEASES, KUBELET_LEASE_NS, k->name, on_lease_read, k);
    } else {
        renew(k, k->lease);
        k->lease_req =
            client_update(k->client, &CLIENT_RES_LEASES, NULL, k->lease, on_lease_written, k);
    }
    if (!k->lease_req)
        kubelet__lease_done(k, false);
}
