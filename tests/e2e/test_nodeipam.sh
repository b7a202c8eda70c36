#!/usr/bin/env bash
# test_nodeipam: the node IPAM controller (--allocate-node-cidrs, on by default). No kubelet
# runs: the test creates Node objects, six at once, and checks that each gets its own /24 of
# --cluster-cidr (spec.podCIDR and spec.podCIDRs), that a deleted Node's subnet is handed out
# again, that a restart keeps every assignment and never hands one out twice, and that a full
# range records CIDRNotAvailable until a subnet is released (with another --node-cidr-mask-size).
. "$(dirname "$0")/lib.sh"

start_server

cidr() { kc 1.33 get node "$1" -o jsonpath='{.spec.podCIDR}|{.spec.podCIDRs}'; }
has_cidr() { [[ $(kc 1.33 get node "$1" -o jsonpath='{.spec.podCIDR}') == */* ]]; }
wait_cidr() { until_ok 20 has_cidr "$1" || fail "node $1 got no pod CIDR: $(cidr "$1")"; }
node() {
    echo "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$1\"}}" |
        kc 1.33 create -f - >/dev/null || fail "create node $1"
}
# all_cidrs: "name=cidr" of every node, sorted by name
all_cidrs() {
    kc 1.33 get nodes -o go-template='{{range .items}}{{.metadata.name}}={{.spec.podCIDR}}{{"\n"}}{{end}}' | sort | xargs
}

concurrent_nodes_get_distinct_cidrs() {
    local i pids=()
    for i in 1 2 3 4 5 6; do
        node "n$i" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || fail "create"; done
    for i in 1 2 3 4 5 6; do wait_cidr "n$i"; done
    local got
    got=$(kc 1.33 get nodes -o go-template='{{range .items}}{{.spec.podCIDR}}{{"\n"}}{{end}}' | sort -t. -k3,3n | xargs)
    [[ $got == "10.42.0.0/24 10.42.1.0/24 10.42.2.0/24 10.42.3.0/24 10.42.4.0/24 10.42.5.0/24" ]] ||
        fail "pod CIDRs: $got"
    # podCIDRs carries the same single subnet
    for i in 1 2 3 4 5 6; do
        [[ $(cidr "n$i") =~ ^(10\.42\.[0-5]\.0/24)\|\[\"(10\.42\.[0-5]\.0/24)\"\]$ && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] ||
            fail "n$i: $(cidr "n$i")"
    done
    grep -q 'node-ipam: node n1: pod CIDR 10.42.' "$E2E_TMP/server.log" || fail "no log line"
}

deleted_nodes_cidr_is_reused() {
    local freed
    freed=$(kc 1.33 get node n3 -o jsonpath='{.spec.podCIDR}')
    kc 1.33 delete node n3 >/dev/null || fail "delete"
    until_ok 10 grep -q "node-ipam: node n3 deleted: pod CIDR $freed released" "$E2E_TMP/server.log" ||
        fail "not released"
    node n7
    wait_cidr n7
    [[ $(kc 1.33 get node n7 -o jsonpath='{.spec.podCIDR}') == "$freed" ]] ||
        fail "n7 got $(cidr n7), want the freed $freed"
}

restart_keeps_assignments() {
    [[ $(all_cidrs) == "$BEFORE" ]] || fail "after restart: $(all_cidrs), before: $BEFORE"
    # the allocation map was rebuilt from the Nodes: a new node gets the next free one
    node n8
    wait_cidr n8
    [[ $(kc 1.33 get node n8 -o jsonpath='{.spec.podCIDR}') == 10.42.6.0/24 ]] || fail "n8: $(cidr n8)"
    [[ $(all_cidrs) == "$BEFORE n8=10.42.6.0/24" ]] || fail "after: $(all_cidrs)"
}

bad_mask_is_refused() {
    run_cmd "$E2E_TMP/bad" "$KUBELING_BIN" server --data-dir "$E2E_TMP/bad-data" --https-listen-port 0 \
        --bind-address 127.0.0.1 --write-kubeconfig "" --disable-agent --cluster-cidr 10.42.0.0/24 --node-cidr-mask-size 22
    expect_rc 1 "mask shorter than the cluster CIDR's"
    expect_grep "$E2E_TMP/bad" 'node CIDR mask size 22 must be between'
}

full_range_waits_for_a_release() {
    # /23 subnets of 10.42.0.0/22: both taken by the /24s n1..n7 already carry
    node n9
    until_ok 20 bash -c "'$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get events --field-selector involvedObject.name=n9 -o jsonpath='{.items[*].reason}' | grep -q CIDRNotAvailable" ||
        fail "no CIDRNotAvailable event"
    local msg
    msg=$(kc 1.33 get events --field-selector involvedObject.name=n9 -o jsonpath='{.items[0].type}|{.items[0].message}|{.items[0].source.component}|{.items[0].involvedObject.kind}')
    [[ $msg == "Normal|Node n9 status is now: CIDRNotAvailable|cidrAllocator|Node" ]] || fail "event: $msg"
    has_cidr n9 && fail "n9 got $(cidr n9) from a full range"
    # free 10.42.2.0/23: the nodes holding 10.42.2.0/24 and 10.42.3.0/24 go
    local n
    for n in $(kc 1.33 get nodes -o go-template='{{range .items}}{{.metadata.name}} {{.spec.podCIDR}}{{"\n"}}{{end}}' | awk '$2 ~ /^10\.42\.[23]\.0\/24$/ {print $1}'); do
        kc 1.33 delete node "$n" >/dev/null || fail "delete $n"
    done
    wait_cidr n9
    [[ $(cidr n9) == '10.42.2.0/23|["10.42.2.0/23"]' ]] || fail "n9: $(cidr n9)"
}

t concurrent_nodes_get_distinct_cidrs concurrent_nodes_get_distinct_cidrs
t deleted_nodes_cidr_is_reused deleted_nodes_cidr_is_reused

BEFORE=$(all_cidrs)
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server
t restart_keeps_assignments restart_keeps_assignments
t bad_mask_is_refused bad_mask_is_refused

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server --cluster-cidr 10.42.0.0/22 --node-cidr-mask-size 23
t full_range_waits_for_a_release full_range_waits_for_a_release

# A kubelet against a server that allocates no CIDRs (--allocate-node-cidrs=false): by default
# it registers without one and waits, starting its pods once spec.podCIDR appears; with
# --self-assign-pod-cidr it picks the lowest free /24 itself.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
rm -rf "$DATA"
start_server --allocate-node-cidrs=false
agent() { # agent NAME [FLAGS...]: at the top level (checks run in subshells: the cleanup stays)
    local name=$1
    shift
    "$KUBELING_BIN" agent --data-dir "$E2E_TMP/$name" --kubeconfig "$DATA/server/admin.kubeconfig" \
        --node-name "$name" --kubelet-port 0 "$@" >>"$E2E_TMP/$name.log" 2>&1 &
    local pid=$!
    E2E_CLEANUPS+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
}
node other
kc 1.33 patch node other --type=merge -p '{"spec":{"podCIDR":"10.42.0.0/24","podCIDRs":["10.42.0.0/24"]}}' >/dev/null
agent waiter

kubelet_waits_for_its_pod_cidr() {
    until_ok 20 grep -q 'waiting for the controller manager to assign its pod CIDR' "$E2E_TMP/waiter.log" ||
        { cat "$E2E_TMP/waiter.log"; fail "the kubelet did not wait"; }
    has_cidr waiter && fail "waiter has $(cidr waiter) although nobody assigned one"
    grep -q "node waiter: pod CIDR" "$E2E_TMP/waiter.log" && fail "a pod CIDR taken although none was assigned"
    # what the node IPAM controller would write
    kc 1.33 patch node waiter --type=merge -p '{"spec":{"podCIDR":"10.42.5.0/24","podCIDRs":["10.42.5.0/24"]}}' >/dev/null
    until_ok 20 grep -q 'node waiter: pod CIDR 10.42.5.0/24' "$E2E_TMP/waiter.log" ||
        { cat "$E2E_TMP/waiter.log"; fail "the kubelet did not take the assigned CIDR"; }
}

self_assigning_kubelet_picks_its_own() {
    until_ok 20 has_cidr picker || { cat "$E2E_TMP/picker.log"; fail "no pod CIDR picked"; }
    [[ $(cidr picker) == '10.42.1.0/24|["10.42.1.0/24"]' ]] || fail "picker: $(cidr picker)"
}

t kubelet_waits_for_its_pod_cidr kubelet_waits_for_its_pod_cidr
agent picker --self-assign-pod-cidr
t self_assigning_kubelet_picks_its_own self_assigning_kubelet_picks_its_own
