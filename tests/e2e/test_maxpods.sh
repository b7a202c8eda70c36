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
    expect_grep "$E2E_TMP/out" 'cluster-cidr `10.42.0.0/24` is not an IPv4 /8../22'
}
t bad_values_refused bad_values_refused

node_images
start_server --max-pods 1100 --cluster-cidr 10.42.0.0/16 --node-cidr-mask-size 22
wait_node

capacity_and_cidr() {
    local v
    v=$(kc 1.33 get node "$NODE" -o jsonpath='{.status.capacity.pods}/{.status.allocatable.pods}/{.spec.podCIDR}')
    [[ $v == 1100/1100/10.42.0.0/22 ]] || fail "node has $v"
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
    ip -o addr show kubeling0 | grep -q 'inet 10.42.0.1/22' || fail "bridge: $(ip -o addr show kubeling0)"
    local uid
    uid=$(kc 1.33 get pod p -o jsonpath='{.metadata.uid}')
    run_cmd "$E2E_TMP/out" nsenter --net="/run/kubeling/runtime/sandboxes/$uid/net" \
        ip -o -4 addr show eth0
    expect_grep "$E2E_TMP/out" 'inet 10\.42\.[0-3]\.[0-9]+/22'
}
t pod_address_in_range pod_address_in_range
