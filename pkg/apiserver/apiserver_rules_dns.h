/* apiserver_rules_dns: upstream's validation of a pod spec's dnsPolicy, dnsConfig and
 * hostAliases (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_RULES_DNS_H
#define KUBELING_APISERVER_RULES_DNS_H

#include <cjson/cJSON.h>

#include "apiserver_crd.h" /* apiserver_crd_err_fn */

/* Checks spec (a pod spec at prefix, e.g. "spec" or "spec.template.spec"). */
void apiserver_dns_validate(const cJSON *spec, const char *prefix, apiserver_crd_err_fn fn,
                            void *ud);

#endif
