/* kubelet_podcidr: the node's pod CIDR. It comes from the Node (written by the controller
 * manager's node IPAM controller, or picked at registration when the server runs none) and is
 * kept in <data-dir>/agent/pod-cidr, so that a kubelet starting while the apiserver does not
 * answer brings its pod network up at once from what the last run used (upstream's kubelet runs
 * its static pods before any API exists). The pod machinery starts at kubelet start; pods that
 * need the pod network wait while no CIDR is known (first start, node IPAM), hostNetwork pods
 * never wait. The subnet the pod network was set up with is kept until the kubelet restarts:
 * when the API later shows another one, the next start uses that one (docs/kubelet.md). */
#include "kubelet_internal.h"

#include <stdlib.h>
#include <string.h>

#include "podnet/podnet.h"

#define SAVED_NAME      "pod-cidr"
#define SAVED_MAX_BYTES 64

/* ---- pure logic ----------------------------------------------------------------------------- */

bool kubelet_pod_cidr_usable(const char *cluster_cidr, const char *cidr)
{
    podnet_cidr_t cl, pc;
    if (!cluster_cidr || !cidr || podnet_cidr_parse(cluster_cidr, &cl, NULL) < 0 ||
        podnet_cidr_parse(cidr, &pc, NULL) < 0)
        return false;
    return pc.prefix >= cl.prefix && pc.prefix >= 16 && pc.prefix <= 30 &&
           podnet_cidr_contains(&cl, pc.addr);
}

bool kubelet_pod_cidr_taken(const cJSON *items, const char *self, const char *cidr)
{
    const cJSON *node;
    cJSON_ArrayForEach(node, items)
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(node, "metadata"), "name"));
        const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(node, "spec"), "podCIDR"));
        if (c && cidr && !strcmp(c, cidr) && !(name && self && !strcmp(name, self)))
            return true;
    }
    return false;
}

/* ---- the saved CIDR ------------------------------------------------------------------------- */

static void saved_path(const kubelet_t *k, char *out, size_t n)
{
    util_snprintf(out, n, "%s/%s", k->storage_dir, SAVED_NAME);
}

/* Reads the CIDR of an earlier run; a missing, unreadable or foreign one (another
 * --cluster-cidr) is not used: pods on the pod network then wait for the Node's. */
void kubelet__pod_cidr_load(kubelet_t *k)
{
    char path[4200], *data = NULL;
    size_t len = 0;
    util_error_t err = NULL;
    saved_path(k, path, sizeof(path));
    if (util_read_file(path, SAVED_MAX_BYTES, &data, &len, &err) < 0) {
        util_error_free(&err);
        return;
    }
    data[strcspn(data, " \t\r\n")] = 0;
    if (kubelet_pod_cidr_usable(k->cluster_cidr, data)) {
        k->pod_cidr = util_xstrdup(data);
        k->saved_pod_cidr = util_xstrdup(data);
        util_log_info("kubelet: node %s: pod CIDR %s (from %s, until the Node says otherwise)",
                      k->name, data, path);
    } else {
        util_log_warn("kubelet: %s: `%.40s` is not a pod CIDR inside %s; ignored", path, data,
                      k->cluster_cidr);
    }
    free(data);
}

static void save(kubelet_t *k, const char *cidr)
{
    char path[4200];
    util_error_t err = NULL;
    if (k->saved_pod_cidr && !strcmp(k->saved_pod_cidr, cidr))
        return;
    saved_path(k, path, sizeof(path));
    char *text = util_strdup_printf("%s\n", cidr);
    if (util_write_file_atomic(path, text, strlen(text), 0644, &err) < 0) {
        char b[512];
        util_error_text(err, b, sizeof(b));
        util_error_free(&err);
        util_log_warn("kubelet: saving the pod CIDR: %s", b);
    } else {
        free(k->saved_pod_cidr);
        k->saved_pod_cidr = util_xstrdup(cidr);
    }
    free(text);
}

/* The pod CIDR the API has for our Node (its spec, or our own pick at registration): taken
 * when none is in use yet; else, when it differs, the pod network keeps the subnet it was set
 * up with (pods hold addresses of it) and the next start uses the API's. */
void kubelet__pod_cidr_take(kubelet_t *k, const char *cidr)
{
    if (!cidr || !*cidr)
        return;
    if (!kubelet_pod_cidr_usable(k->cluster_cidr, cidr)) {
        util_log_warn("kubelet: node %s: pod CIDR %s is not inside %s; ignored", k->name, cidr,
                      k->cluster_cidr);
        return;
    }
    k->pod_cidr_known = true;
    if (!k->pod_cidr) {
        k->pod_cidr = util_xstrdup(cidr);
        util_log_info("kubelet: node %s: pod CIDR %s", k->name, cidr);
        save(k, cidr);
        kubelet__pods_network_ready(k);
    } else if (strcmp(cidr, k->pod_cidr) &&
               !(k->saved_pod_cidr && !strcmp(k->saved_pod_cidr, cidr))) {
        /* spec.podCIDR is immutable once set; a Node deleted and created again, or a saved one
         * the node IPAM controller gave to another node meanwhile, may carry another */
        util_log_warn("kubelet: node %s: pod CIDR is now %s; pods keep using %s until the kubelet "
                      "restarts",
                      k->name, cidr, k->pod_cidr);
        save(k, cidr);
    } else {
        save(k, cidr);
    }
}

static const char *node_pod_cidr(const cJSON *node)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(node, "spec");
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "podCIDR"));
    if (c && *c)
        return c;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, "podCIDRs");
    c = cJSON_IsArray(list) ? cJSON_GetStringValue(cJSON_GetArrayItem(list, 0)) : NULL;
    return c && *c ? c : NULL;
}

void kubelet__pod_cidr_seen(kubelet_t *k, const cJSON *node)
{
    kubelet__pod_cidr_take(k, node_pod_cidr(node));
    if (k->reg != KUBELET_REG_DONE || k->pod_cidr || k->announced_wait)
        return;
    k->announced_wait = true;
    util_log_info("kubelet: node %s: waiting for the controller manager to assign its pod "
                  "CIDR; pods on the pod network start then (hostNetwork pods run now)",
                  k->name);
}
