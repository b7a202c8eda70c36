/* kubelet_dns_files: the I/O around kubelet_dns.c for a pod's sandbox job (thread pool): reads
 * the host's resolver file (and, for hostNetwork pods, the node's /etc/hosts) and builds the
 * pod's resolv.conf and hosts; the warnings become events once back on the loop. */
#include "kubelet_pods_internal.h"

#include <errno.h>

#define MAX_HOST_FILE (1024 * 1024)

static void on_event(void *ud, bool node, const char *reason, const char *message)
{
    work_t *w = ud;
    int before = w->nev;
    kubelet__work_event(w, "Warning", reason, "%s", message);
    if (w->nev > before)
        w->ev[before].node = node;
}

int kubelet__pod_etc_files(work_t *w, const char *hostname, char **ret_hosts, char **ret_resolv,
                           util_error_t *err)
{
    const kubelet_dns_conf_t *c = &w->ps->k->dns;
    *ret_hosts = *ret_resolv = NULL;
    kubelet_dns_t host = {0}, pod = {0};
    bool have_host = false;
    if (*c->resolv_conf) {
        char *text = NULL;
        int r = util_read_file(c->resolv_conf, MAX_HOST_FILE, &text, NULL, NULL);
        if (r < 0 && !(c->resolv_auto && r == -ENOENT))
            return util_error_make(err, -r, "open %s: %s", c->resolv_conf, strerror(-r));
        r = kubelet_dns_parse_resolv(text, c->resolv_auto, &host);
        free(text);
        if (r < 0) {
            kubelet_dns_free(&host);
            return util_error_make(err, EINVAL, "%s: nameserver list is empty ", c->resolv_conf);
        }
        have_host = true;
    }
    if (kubelet_dns_for_pod(c, have_host ? &host : NULL, w->obj, &pod, on_event, w) < 0)
        util_log_warn("kubelet: pod %s/%s: invalid DNSPolicy=%s: using ClusterFirst", w->ns,
                      w->name, jstr(jget(w->obj, "spec"), "dnsPolicy"));
    *ret_resolv = kubelet_dns_render(&pod);
    kubelet_dns_free(&host);
    kubelet_dns_free(&pod);
    char *node_hosts = NULL;
    if (cJSON_IsTrue(jget(jget(w->obj, "spec"), "hostNetwork"))) {
        int r = util_read_file("/etc/hosts", MAX_HOST_FILE, &node_hosts, NULL, NULL);
        if (r < 0) {
            free(*ret_resolv);
            *ret_resolv = NULL;
            return util_error_make(err, -r, "open /etc/hosts: %s", strerror(-r));
        }
    }
    *ret_hosts = kubelet_hosts_file(w->obj, w->ip, hostname, c->cluster_domain, node_hosts);
    free(node_hosts);
    return 0;
}
