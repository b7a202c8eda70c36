/* kubelet_register: creates the Node, or adopts the one a previous run registered (labels, pod
 * CIDR, then status), retrying with back-off while the API server is away. */
#include "kubelet_internal.h"

#include <stdlib.h>
#include <string.h>

static void on_reg_timer(uv_timer_t *t)
{
    kubelet__register(t->data);
}

static void reg_retry(kubelet_t *k, const char *what, const client_result_t *res)
{
    k->reg = KUBELET_REG_NONE;
    /* the first failure of a streak is a warning, the retries are verbose */
    if (res && k->reg_backoff.cur_ms == 0)
        util_log_warn("kubelet: %s node %s: %s (retrying)", what, k->name,
                      res->st.message ? res->st.message : "failed");
    else if (res)
        util_log_v(1, "kubelet: %s node %s: %s", what, k->name,
                   res->st.message ? res->st.message : "failed");
    if (!k->stopping)
        uv_timer_start(&k->reg_timer, on_reg_timer, client_backoff_next(&k->reg_backoff), 0);
}

static const char *spec_str(const cJSON *node, const char *key)
{
    return cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "spec"), key));
}

static void on_written(void *ud, client_result_t *res)
{
    kubelet_t *k = ud;
    k->reg_req = NULL;
    if (res->status == 200 || res->status == 201) {
        kubelet__registered(k, res->body);
        return;
    }
    /* 409: someone (an earlier try of ours) created it meanwhile; 404: deleted meanwhile */
    reg_retry(k, res->status == 409 ? "creating (exists)" : "registering", res);
}

static void create_node(kubelet_t *k, const char *claim)
{
    char now[40];
    kubelet__now(now, sizeof(now), false);
    kubelet_node_params_t p = {
        .name = k->name,
        .pod_cidr = claim,
        .control_plane = k->control_plane,
        .labels = (const char *const *)k->labels.v,
        .nlabels = k->labels.n,
        .kube_version = k->kube_version,
        .kubelet_port = k->api_port,
        .runtime_version = k->runtime_version,
    };
    kubelet_pressure_t pressure = kubelet_host_pressure(&k->host);
    cJSON *node =
        kubelet_node_object(&k->host, &p, kubelet_node_conditions(&pressure, now, now, NULL));
    k->reg_req = client_create(k->client, &CLIENT_RES_NODES, NULL, node, on_written, k);
    cJSON_Delete(node);
    if (!k->reg_req)
        reg_retry(k, "creating", NULL);
}

/* The Node exists (a restart): our labels and annotations, the pod CIDR and provider ID when
 * they are not set yet (both are immutable once set); the status follows. */
static void adopt_node(kubelet_t *k, const cJSON *existing, const char *claim)
{
    kubelet_node_params_t p = {
        .name = k->name,
        .control_plane = k->control_plane,
        .labels = (const char *const *)k->labels.v,
        .nlabels = k->labels.n,
    };
    cJSON *patch = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
    cJSON_AddItemToObject(meta, "labels", kubelet_node_labels(&p));
    cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "annotations"),
                            "volumes.kubernetes.io/controller-managed-attach-detach", "true");
    cJSON *spec = cJSON_AddObjectToObject(patch, "spec");
    if (!spec_str(existing, "podCIDR") && claim) {
        cJSON_AddStringToObject(spec, "podCIDR", claim);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "podCIDRs"), cJSON_CreateString(claim));
    }
    if (!spec_str(existing, "providerID")) {
        char *provider = util_strdup_printf("kubeling://%s", k->name);
        cJSON_AddStringToObject(spec, "providerID", provider);
        free(provider);
    }
    k->reg_req = client_patch(k->client, &CLIENT_RES_NODES, NULL, k->name, NULL, CLIENT_PATCH_MERGE,
                              patch, on_written, k);
    cJSON_Delete(patch);
    if (!k->reg_req)
        reg_retry(k, "adopting", NULL);
}

static const cJSON *find_self(const cJSON *items, const char *name)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, items)
    {
        const char *nn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(n, "metadata"), "name"));
        if (nn && !strcmp(nn, name))
            return n;
    }
    return NULL;
}

/* The pod CIDR to write on a Node that has none: when the server runs no node IPAM
 * (self_pod_cidr), the one in use (saved by an earlier run) if no other Node has it, else the
 * lowest free one (a pick not atomic across nodes joining at the same instant); with node IPAM,
 * only the one the API gave in this run (a Node deleted under us is created again with it) and
 * the controller manager writes it otherwise (kubelet_podcidr.c). */
static bool claim_of(kubelet_t *k, const cJSON *items, char *out, size_t n)
{
    if (!k->self_pod_cidr) {
        return k->pod_cidr_known && k->saved_pod_cidr &&
               util_snprintf(out, n, "%s", k->saved_pod_cidr) >= 0;
    }
    if (k->pod_cidr && !kubelet_pod_cidr_taken(items, k->name, k->pod_cidr)) {
        kubelet__pod_cidr_take(k, k->pod_cidr);
        return util_snprintf(out, n, "%s", k->pod_cidr) >= 0;
    }
    if (kubelet_pick_pod_cidr_mask(k->cluster_cidr, k->node_cidr_mask, items, k->name, out, n) ==
        0) {
        kubelet__pod_cidr_take(k, out);
        return true;
    }
    util_log_warn("kubelet: no free /%d left in cluster CIDR %s", k->node_cidr_mask,
                  k->cluster_cidr);
    return false;
}

/* The nodes are listed: adopt ours or create it, with the pod CIDR it has, else our claim. */
static void on_listed(void *ud, client_result_t *res)
{
    kubelet_t *k = ud;
    k->reg_req = NULL;
    if (res->status != 200) {
        reg_retry(k, "listing nodes for", res);
        return;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(res->body, "items");
    const cJSON *self = find_self(items, k->name);
    const char *have = spec_str(self, "podCIDR");
    char cidr[48];
    bool claim = false;
    if (have)
        kubelet__pod_cidr_take(k, have);
    else
        claim = claim_of(k, items, cidr, sizeof(cidr));
    k->reg = KUBELET_REG_WRITING;
    if (self)
        adopt_node(k, self, claim ? cidr : NULL);
    else
        create_node(k, claim ? cidr : NULL);
}

void kubelet__register(kubelet_t *k)
{
    if (k->stopping || k->reg == KUBELET_REG_LISTING || k->reg == KUBELET_REG_WRITING)
        return;
    uv_timer_stop(&k->reg_timer);
    k->reg = KUBELET_REG_LISTING;
    k->reg_req = client_list(k->client, &CLIENT_RES_NODES, NULL, NULL, on_listed, k);
    if (!k->reg_req)
        reg_retry(k, "listing nodes for", NULL);
}
