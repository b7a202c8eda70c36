#!/usr/bin/env bash
# test_pod_dns: each pod's /etc/resolv.conf per dnsPolicy and its /etc/hosts, read with
# `kubectl exec ... cat` (1.27 and 1.33) from real pods of the server's kubelet (root,
# namespaces as test_pods.sh), compared with the text upstream's kubelet and containerd write.
# First server: --service-cidr 10.96.0.0/16 (cluster DNS 10.96.0.10, its 10th address),
# --cluster-domain k8s.test, --resolv-conf a test file: ClusterFirst, ClusterFirst with
# hostNetwork (Default), ClusterFirstWithHostNet, Default, None + dnsConfig, dnsConfig merged
# into ClusterFirst, a 4th nameserver dropped (DNSConfigForming event), hostAliases and a
# subdomain in /etc/hosts, the apiserver's validation of dnsPolicy/dnsConfig/hostAliases.
# Second server: --cluster-dns= (none: MissingClusterDNS events, Default used) and no
# --resolv-conf with a loopback-only /etc/resolv.conf (bind-mounted in this test's mount
# namespace): the kubelet takes /run/systemd/resolve/resolv.conf as k3s does, or without one
# the host file minus its loopback nameservers.
. "$(dirname "$0")/lib_node.sh" pod_dns
node_cleanup
node_images
cat >"$E2E_TMP/resolv.conf" <<'EOF'
# the test's host resolver file
nameserver 192.0.2.53
nameserver 192.0.2.54
search corp.example. lab.example
options timeout:2
EOF
start_server --service-cidr 10.96.0.0/16 --cluster-domain k8s.test --resolv-conf "$E2E_TMP/resolv.conf"
wait_node

HOST_RESOLV='search corp.example lab.example
nameserver 192.0.2.53
nameserver 192.0.2.54
options timeout:2'
CLUSTER_RESOLV='search default.svc.k8s.test svc.k8s.test k8s.test corp.example lab.example
nameserver 10.96.0.10
options ndots:5'

pod() { # pod NAME SPEC-YAML (indented by 2): a busybox pod sleeping, extra spec fields
    cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  terminationGracePeriodSeconds: 1
$2
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
EOF
}

# expect_file POD PATH WANT: the file in the pod as both kubectl versions read it
expect_file() {
    local v got
    for v in 1.27 1.33; do
        got=$(kc $v exec "$1" -- cat "$2") || fail "kubectl $v exec $1 cat $2"
        [[ $got == "$3" ]] || fail "kubectl $v: $1 $2 is
$got
want
$3"
    done
}

pods_run() {
    {
        pod cf '  dnsPolicy: ClusterFirst'
        pod dflt '  dnsPolicy: Default'
        pod unset ''
        pod cfhost '  hostNetwork: true
  dnsPolicy: ClusterFirst'
        pod cfwhn '  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet'
        pod none '  dnsPolicy: None
  dnsConfig:
    nameservers: ["203.0.113.1", "2001:db8::53"]
    searches: [ns1.svc.cluster-domain.example, my.dns.search.suffix]
    options:
    - name: ndots
      value: "2"
    - name: edns0'
        pod merged '  dnsConfig:
    nameservers: ["10.96.0.10", "198.51.100.7"]
    searches: [k8s.test, extra.example]
    options:
    - name: ndots
      value: "1"
    - name: attempts
      value: "3"'
        pod limited '  dnsPolicy: Default
  dnsConfig:
    nameservers: ["198.51.100.1", "198.51.100.2"]
    options:
    - name: timeout
      value: "5"'
        pod aliased '  hostname: db-0
  subdomain: db
  hostAliases:
  - ip: "127.0.0.1"
    hostnames: [foo.local, bar.local]
  - ip: "10.1.2.3"
    hostnames: [foo.remote]'
        pod hostaliased '  hostNetwork: true
  hostAliases:
  - ip: "10.1.2.3"
    hostnames: [foo.remote]'
    } >"$E2E_TMP/pods.yaml"
    kc 1.33 create -f "$E2E_TMP/pods.yaml" >/dev/null || fail "create pods"
    local p
    for p in cf dflt unset cfhost cfwhn none merged limited aliased hostaliased; do
        wait_for $p '{.status.phase}' '^Running$' 90
    done
}

cluster_first() {
    expect_file cf /etc/resolv.conf "$CLUSTER_RESOLV"
    expect_file unset /etc/resolv.conf "$CLUSTER_RESOLV" # the API defaults it to ClusterFirst
    [[ $(kc 1.33 get pod unset -o jsonpath='{.spec.dnsPolicy}') == ClusterFirst ]] || fail "default dnsPolicy"
}

cluster_first_host_network_is_default() {
    expect_file cfhost /etc/resolv.conf "$HOST_RESOLV"
}

cluster_first_with_host_net() {
    expect_file cfwhn /etc/resolv.conf "$CLUSTER_RESOLV"
}

default_policy() {
    expect_file dflt /etc/resolv.conf "$HOST_RESOLV"
}

none_policy() {
    expect_file none /etc/resolv.conf 'search ns1.svc.cluster-domain.example my.dns.search.suffix
nameserver 203.0.113.1
nameserver 2001:db8::53
options ndots:2 edns0'
}

dns_config_merged() {
    expect_file merged /etc/resolv.conf 'search default.svc.k8s.test svc.k8s.test k8s.test corp.example lab.example extra.example
nameserver 10.96.0.10
nameserver 198.51.100.7
options ndots:1 attempts:3'
}

nameserver_limit() {
    expect_file limited /etc/resolv.conf 'search corp.example lab.example
nameserver 192.0.2.53
nameserver 192.0.2.54
nameserver 198.51.100.1
options timeout:5'
    local msg='Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 192.0.2.53 192.0.2.54 198.51.100.1'
    until_ok 20 bash -c "'$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get events --field-selector involvedObject.name=limited,reason=DNSConfigForming -o jsonpath='{.items[*].message}' | grep -qF '$msg'" ||
        { kc 1.33 get events; fail "no DNSConfigForming event"; }
    local v
    for v in 1.27 1.33; do
        kc $v describe pod limited >"$E2E_TMP/describe" || fail "describe $v"
        grep -q "Warning  DNSConfigForming" "$E2E_TMP/describe" || { cat "$E2E_TMP/describe"; fail "kubectl $v describe: no DNSConfigForming"; }
    done
}

hosts_files() {
    local ip
    ip=$(kc 1.33 get pod aliased -o jsonpath='{.status.podIP}')
    [[ -n $ip ]] || fail "no pod IP"
    expect_file aliased /etc/hosts "# Kubernetes-managed hosts file.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
fe00::0	ip6-mcastprefix
fe00::1	ip6-allnodes
fe00::2	ip6-allrouters
$ip	db-0.db.default.svc.k8s.test	db-0

# Entries added by HostAliases.
127.0.0.1	foo.local	bar.local
10.1.2.3	foo.remote"
    expect_file aliased /etc/hostname db-0
    # hostNetwork: the node's /etc/hosts, then the aliases
    expect_file hostaliased /etc/hosts "$(cat /etc/hosts)

# Entries added by HostAliases.
10.1.2.3	foo.remote"
}

# expect_invalid VERSION WANT YAML: kubectl create fails with upstream's message
expect_invalid() {
    local out
    if out=$(printf '%s\n' "$3" | kc "$1" create -f - 2>&1); then
        fail "created: $out"
    fi
    [[ $out == *"$2"* ]] || fail "kubectl $1: $out
want: $2"
}

api_validation() {
    local v
    for v in 1.27 1.33; do
        expect_invalid $v 'The Pod "bad" is invalid: spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None' \
            "$(pod bad '  dnsPolicy: None
  dnsConfig:
    searches: [a.example]')"
        expect_invalid $v 'The Pod "bad" is invalid: spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None' \
            "$(pod bad '  dnsPolicy: None')"
        expect_invalid $v 'spec.dnsPolicy: Unsupported value: "Sometimes": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"' \
            "$(pod bad '  dnsPolicy: Sometimes')"
        expect_invalid $v 'spec.dnsConfig.nameservers: Invalid value: ["1.1.1.1","1.1.1.2","1.1.1.3","1.1.1.4"]: must not have more than 3 nameservers' \
            "$(pod bad '  dnsConfig:
    nameservers: [1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4]')"
        expect_invalid $v 'spec.dnsConfig.nameservers[0]: Invalid value: "dns.example": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)' \
            "$(pod bad '  dnsConfig:
    nameservers: [dns.example]')"
        expect_invalid $v 'spec.dnsConfig.searches[0]: Invalid value: "Bad_Domain": a lowercase RFC 1123 subdomain' \
            "$(pod bad '  dnsConfig:
    searches: [Bad_Domain]')"
        expect_invalid $v 'spec.dnsConfig.options[0]: Required value: must not be empty' \
            "$(pod bad '  dnsConfig:
    options: [{value: "1"}]')"
        expect_invalid $v 'spec.template.spec.hostAliases[0].ip: Invalid value: "nope": must be a valid IP address' \
            "$(printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  selector:\n    matchLabels: {app: bad}\n  template:\n    metadata:\n      labels: {app: bad}\n    spec:\n      hostAliases:\n      - ip: nope\n        hostnames: [x]\n      containers:\n      - name: c\n        image: busybox\n')"
    done
    # a trailing dot and 32 search paths are fine
    local s i
    s=$(for i in $(seq 32); do printf 'd%d.example.,' "$i"; done)
    printf '%s\n' "$(pod okdns "  dnsPolicy: None
  dnsConfig:
    nameservers: [192.0.2.1]
    searches: [${s%,}]")" | kc 1.33 create --dry-run=server -f - >/dev/null || fail "32 search paths refused"
}

t pods_run pods_run
t cluster_first cluster_first
t cluster_first_host_network_is_default cluster_first_host_network_is_default
t cluster_first_with_host_net cluster_first_with_host_net
t default_policy default_policy
t none_policy none_policy
t dns_config_merged dns_config_merged
t nameserver_limit nameserver_limit
t hosts_files hosts_files
t api_validation api_validation

# second server: no cluster DNS, no --resolv-conf, a loopback-only /etc/resolv.conf
kc 1.33 delete pods --all --wait=false >/dev/null 2>&1
for _ in $(seq 150); do
    [[ -z $(kc 1.33 get pods -o name 2>/dev/null) ]] && break
    sleep 0.2
done
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
printf 'nameserver 127.0.0.53\nsearch home.example\noptions edns0 trust-ad\n' >"$E2E_TMP/stub.conf"
mount --bind "$E2E_TMP/stub.conf" /etc/resolv.conf || { echo "not ok bind_resolv_conf"; exit 1; }
SYSTEMD_RESOLV=
if [[ -d /run/systemd ]]; then # its resolved's upstream file, in this mount namespace only
    mount -t tmpfs tmpfs /run/systemd
    mkdir -p /run/systemd/resolve
    printf 'nameserver 192.0.2.99\nsearch sd.example\n' >/run/systemd/resolve/resolv.conf
    SYSTEMD_RESOLV=1
fi
start_server --cluster-dns=
wait_node

missing_cluster_dns() {
    { pod cf2 '  dnsPolicy: ClusterFirst'; pod stub '  dnsPolicy: Default'; } >"$E2E_TMP/pods2.yaml"
    kc 1.33 create -f "$E2E_TMP/pods2.yaml" >/dev/null || fail "create pods"
    wait_for cf2 '{.status.phase}' '^Running$' 90
    wait_for stub '{.status.phase}' '^Running$' 90
    local want='search sd.example
nameserver 192.0.2.99'
    if [[ -z $SYSTEMD_RESOLV ]]; then
        want='search home.example
options edns0 trust-ad'
    fi
    expect_file cf2 /etc/resolv.conf "$want"
    expect_file stub /etc/resolv.conf "$want"
    local uid msg='kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.'
    uid=$(kc 1.33 get pod cf2 -o jsonpath='{.metadata.uid}')
    until_ok 20 bash -c "'$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get events --field-selector involvedObject.name=cf2,reason=MissingClusterDNS -o jsonpath='{.items[*].message}' | grep -qF 'pod: \"cf2_default($uid)\". $msg'" ||
        { kc 1.33 get events -o yaml; fail "no MissingClusterDNS event on the pod"; }
    kc 1.33 get events --field-selector "involvedObject.kind=Node,reason=MissingClusterDNS" \
        -o jsonpath='{.items[*].message}' | grep -qF "$msg" || fail "no MissingClusterDNS event on the node"
    [[ $(kc 1.33 get events --field-selector involvedObject.name=stub,reason=MissingClusterDNS -o name) == "" ]] ||
        fail "MissingClusterDNS for a Default pod"
}

t missing_cluster_dns_and_host_file missing_cluster_dns
kc 1.33 delete pods --all --wait=false >/dev/null 2>&1
for _ in $(seq 150); do
    [[ -z $(kc 1.33 get pods -o name 2>/dev/null) ]] && break
    sleep 0.2
done
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
