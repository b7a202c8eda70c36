/* apiserver_pki: the cluster's certificates (internal to pkg/apiserver).
 *
 * Layout under <data-dir>/server/ (directories 0700, keys 0600, certificates 0644):
 *   tls/ca.crt, tls/ca.key                  cluster CA, ECDSA P-256, 10 years,
 *                                           CN "kubeling-ca@<unix time>"
 *   tls/serving.crt, tls/serving.key        apiserver serving certificate, 1 year, by the CA
 *   tls/admin.crt, tls/admin.key            client certificate CN "system:admin",
 *                                           O "system:masters", 1 year
 *   tls/kubelet-client.crt, .key            the apiserver's client certificate towards
 *                                           kubelets: CN "kube-apiserver-kubelet-client",
 *                                           O "system:masters", 1 year
 *   tls/service.key                         ECDSA P-256 key signing service account tokens
 *   admin.kubeconfig                        0600, cluster "kubeling", user "admin",
 *                                           embedded base64 PEMs
 */
#ifndef KUBELING_APISERVER_PKI_H
#define KUBELING_APISERVER_PKI_H

#include <stddef.h>

#include "util/util.h"

typedef struct apiserver_pki_opts {
    const char *data_dir;        /* <data-dir>; files go to <data-dir>/server/ */
    const char *const *tls_sans; /* extra SANs (DNS names or IP literals), n_tls_sans of them */
    size_t n_tls_sans;
    const char
        *kubeconfig_server; /* URL written into admin.kubeconfig, e.g. https://127.0.0.1:6443 */
    const char *write_kubeconfig;   /* also write the admin kubeconfig here (NULL: don't) */
    unsigned write_kubeconfig_mode; /* its mode (0: 0600) */
} apiserver_pki_opts_t;

/* PEM text of what the apiserver needs to serve TLS and authenticate clients. */
typedef struct apiserver_pki {
    char *ca_cert_pem;
    char *serving_cert_pem; /* leaf first, then the CA */
    char *serving_key_pem;
    char *kubelet_client_cert_pem; /* presented to kubelets (exec, logs, port-forward) */
    char *kubelet_client_key_pem;
    char *service_key_pem; /* signs service account tokens (tls/service.key, no certificate) */
} apiserver_pki_t;

/* Creates what is missing, reuses what exists, renews leaf certificates that expire within 90
 * days or whose SANs no longer cover what is asked, and (re)writes admin.kubeconfig. A CA that
 * exists but cannot be read or parsed is an error (never silently replaced). */
int apiserver_pki_ensure(const apiserver_pki_opts_t *o, apiserver_pki_t *ret, util_error_t *err);
void apiserver_pki_free(apiserver_pki_t *p);

/* A kubelet's credential: reuses or issues tls/node-<name>.{crt,key} (CN system:node:<name>, O
 * system:nodes, signed by the cluster CA, renewed like the other leaves) and writes a
 * kubeconfig (0600) for it at path. The name must be a lower-case DNS subdomain. */
int apiserver_pki_node_kubeconfig(const char *data_dir, const char *node_name, const char *server,
                                  const char *path, util_error_t *err);

/* The kubelet's serving certificate from the cluster CA: reuses or issues
 * tls/kubelet-serving-<name>.{crt,key} (SANs: the node name, localhost, node_ip and every local
 * address) and returns their common base path (add .crt or .key). */
int apiserver_pki_kubelet_serving(const char *data_dir, const char *node_name, const char *node_ip,
                                  char *ret_base, size_t base_len, util_error_t *err);

#endif
