#!/usr/bin/env bash
# test_maxpods: --max-pods sets the node's pods capacity and allocatable, --node-cidr-mask-size
# the size of the pod range the kubelet picks (a /22: 1,022 pod addresses), and pods get their
# addresses from it; bad values are refused at start (root: real pods).
. "$(dirname "$0")/lib_node.sh" maxpods
node_cleanup

bad_values_refused() {
    local v
    for v in "--max-pods 0" "--max-pods -1" "--max-pods 100001" "--max-pods x" \
        "--node-cidr-mask-size 15" "--node-cidr-mask-size 31"; do
        # shellcheck disable=SC2086
        run_cmd "$E2E_TMP/out" timeout 10 "$KUBELING_BIN" server --data-dir "$E2E_TMP/bad" \
            --write-kubeconfig "" $v
        expect_rc 2
        expect_grep "$E2E_TMP/out" "${v%% *}"
    done
    # a node range wider than the cluster range
    run_cmd "$E2E_TMP/out" timeout 20 "$KUBELING_BIN" server --data-dir "$E2E_TMP/bad" --https-listen-port 0 \
        --bind-address 127.0.0.1 --write-kubeconfig "" --cluster-cidr 10.42.0.0/24 \
        --node-cidr-mask-size 22
    expect_rc 1
    # the kubelet's check (it picks its own range) or the node IPAM controller's (it assigns it)
    expect_grep "$E2E_TMP/out" 'cluster-cidr `10.42.0.0/24` is not an IPv4 /8../22|node CIDR mask size 22 must be between the cluster CIDR.s prefix length 24 and 30'
}
t bad_values_refused bad_values_refused

node_images
start_server --max-pods 1100 --cluster-cidr 10.42.0.0/16 --node-cidr-mask-size 22
wait_node

node_pods_and_cidr() {
    kc 1.33 get node "$NODE" -o jsonpath='{.status.capacity.pods}/{.status.allocatable.pods}/{.spec.podCIDR}'
}

capacity_and_cidr() {
    # the node IPAM controller assigns the range just after the Node registers
    until_ok 20 eval '[[ $(node_pods_and_cidr) == 1100/1100/10.42.0.0/22 ]]' ||
        fail "node has $(node_pods_and_cidr)"
}
t capacity_and_cidr capacity_and_cidr

pod_address_in_range() {
    cat <<EOT | kc 1.33 apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"nodeName":"$NODE",
 "terminationGracePeriodSeconds":1,"containers":[{"name":"c","image":"busybox",
 "imagePullPolicy":"IfNotPresent","command":["sleep","3600"]}]}}
EOT
    wait_for p '{.status.phase}' '^Running$'
    wait_for p '{.status.podIP}' '^10\.42\.[0-3]\.[0-9]+$'
    # the pod's eth0 and the bridge are /22
    local addrs
    addrs=$(ip -o addr show kubeling0)
    [[ $addrs == *"inet 10.42.0.1/22 "* ]] || fail "bridge: $addrs"
    local uid
    uid=$(kc 1.33 get pod p -o jsonpath='{.metadata.uid}')
    run_cmd "$E2E_TMP/out" nsenter --net="/run/kubeling/runtime/sandboxes/$uid/net" \
        ip -o -4 addr show eth0
    expect_grep "$E2E_TMP/out" 'inet 10\.42\.[0-3]\.[0-9]+/22'
}
t pod_address_in_range pod_address_in_range

# The kubelet admits pods against --max-pods like upstream's admission handler: after a restart
# with --max-pods 2 the running pod is kept (adopted), a second pod bound to the node runs, a
# third is rejected (phase Failed, reason OutOfpods, upstream's message, a Warning event) and
# never runs; deleting a pod frees its place.
bound_pod() {
    cat <<EOT | kc 1.33 apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},"spec":{"nodeName":"$NODE",
 "terminationGracePeriodSeconds":1,"containers":[{"name":"c","image":"busybox",
 "imagePullPolicy":"IfNotPresent","command":["sleep","3600"]}]}}
EOT
}

kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server --max-pods 2 --cluster-cidr 10.42.0.0/16 --node-cidr-mask-size 22

kubelet_rejects_pods_over_max_pods() {
    until_ok 20 eval '[[ $(kc 1.33 get node "$NODE" -o jsonpath="{.status.capacity.pods}") == 2 ]]' ||
        fail "capacity not 2"
    wait_for p '{.status.phase}' '^Running$'
    bound_pod p2
    wait_for p2 '{.status.phase}' '^Running$'
    bound_pod p3
    wait_for p3 '{.status.phase}/{.status.reason}' '^Failed/OutOfpods$'
    [[ $(kc 1.33 get pod p3 -o jsonpath='{.status.message}') == \
        "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2" ]] ||
        fail "message: $(kc 1.33 get pod p3 -o jsonpath='{.status.message}')"
    until_ok 20 eval '[[ -n $(kc 1.33 get events --field-selector involvedObject.name=p3,reason=OutOfpods -o name) ]]' ||
        fail "no OutOfpods event"
    local uid
    uid=$(kc 1.33 get pod p3 -o jsonpath='{.metadata.uid}')
    [[ ! -e /run/kubeling/runtime/sandboxes/$uid ]] || fail "the rejected pod got a sandbox"
    kc 1.33 get pods | grep -q '^p3 .*OutOfpods' || fail "kubectl get pods: $(kc 1.33 get pods)"
    kc 1.33 delete pod p2 --wait=true >/dev/null
    bound_pod p4
    wait_for p4 '{.status.phase}' '^Running$'
}
t kubelet_rejects_pods_over_max_pods kubelet_rejects_pods_over_max_pods
