#!/usr/bin/env bash
# test_scheduling: `kubeling server` runs the scheduler: pending pods are bound to a fitting node
# (Scheduled event), pods that fit nowhere get PodScheduled=False and a FailedScheduling event with
# upstream's summary (and are not retried because of their own status update), a node change
# lets them through, and --disable-scheduler leaves pods pending. The nodes are Node objects
# made by the test (no kubelet runs here).
. "$(dirname "$0")/lib.sh"

start_server

# wait_for JSONPATH_CMD... : retries a kubectl query until it prints something non-empty.
wait_nonempty() {
    local i out
    for i in $(seq 50); do
        out=$("$@" 2>/dev/null) && [[ -n "$out" ]] && { echo "$out"; return 0; }
        sleep 0.1
    done
    return 1
}

pending_pod_is_bound() {
    fake_node small 2
    fake_node big 16
    kc 1.27 run fits --image=busybox --restart=Never >/dev/null || fail "run"
    node=$(wait_nonempty kc 1.33 get pod fits -o jsonpath='{.spec.nodeName}') || fail "never bound"
    [[ $node == small || $node == big ]] || fail "bound to $node"
    # a pod needing 8 cores can only go to the big node
    kc 1.33 run large --image=busybox --restart=Never --overrides='{"spec":{"containers":[{"name":"large","image":"busybox","resources":{"requests":{"cpu":"8"}}}]}}' >/dev/null ||
        fail "run large"
    node=$(wait_nonempty kc 1.33 get pod large -o jsonpath='{.spec.nodeName}') || fail "large never bound"
    [[ $node == big ]] || fail "large bound to $node"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=large
    expect_grep "$E2E_TMP/ev" "Scheduled +pod/large +Successfully assigned default/large to big"
}

unschedulable_pod_reports_once() {
    kc 1.33 run nowhere --image=busybox --restart=Never --overrides='{"spec":{"nodeSelector":{"disk":"ssd"}}}' >/dev/null ||
        fail "run"
    msg=$(wait_nonempty kc 1.33 get pod nowhere -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}') ||
        fail "no PodScheduled condition"
    [[ $msg == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling." ]] ||
        fail "message: $msg"
    kc 1.33 get pod nowhere -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}' | grep -qx Unschedulable ||
        fail "reason"
    sleep 4 # its own status update must not make it retry (back-off would retry at 1, 3 s)
    n=$(kc 1.33 get events --field-selector involvedObject.name=nowhere,reason=FailedScheduling -o name | wc -l)
    [[ $n -eq 1 ]] || fail "$n FailedScheduling events, want 1"
    # too big for every node: upstream's Insufficient cpu summary
    kc 1.33 run huge --image=busybox --restart=Never --overrides='{"spec":{"containers":[{"name":"huge","image":"busybox","resources":{"requests":{"cpu":"100"}}}]}}' >/dev/null
    msg=$(wait_nonempty kc 1.33 get pod huge -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}') ||
        fail "huge: no condition"
    [[ $msg == "0/2 nodes are available: 2 Insufficient cpu."* ]] || fail "huge: $msg"
}

node_change_lets_it_through() {
    kc 1.33 label node small disk=ssd >/dev/null || fail "label"
    node=$(wait_nonempty kc 1.33 get pod nowhere -o jsonpath='{.spec.nodeName}') ||
        fail "not scheduled after the node got the label"
    [[ $node == small ]] || fail "bound to $node"
}

python_sees_binding() {
    "$PY" - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys, time
from kubernetes import client, config, watch
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
pod = client.V1Pod(metadata=client.V1ObjectMeta(name="pywatch"),
                   spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
created = v1.create_namespaced_pod("default", pod)
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_pod, "default", field_selector="metadata.name=pywatch",
                   resource_version=created.metadata.resource_version, timeout_seconds=10):
    if ev["object"].spec.node_name:
        print("bound to", ev["object"].spec.node_name)
        break
else:
    raise SystemExit("no binding seen")
PYEOF
    expect_grep "$E2E_TMP/py" '^bound to (small|big)$'
}

t "pending pods are bound to a fitting node (Scheduled event)" pending_pod_is_bound
t "an unschedulable pod gets upstream's summary, once" unschedulable_pod_reports_once
t "a node change lets the waiting pod through" node_change_lets_it_through
t "python client watches the binding" python_sees_binding

# --disable-scheduler: nothing binds pods
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
start_server --disable-scheduler
no_scheduler_no_binding() {
    kc 1.33 run idle --image=busybox --restart=Never >/dev/null || fail "run"
    sleep 1.5
    [[ -z $(kc 1.33 get pod idle -o jsonpath='{.spec.nodeName}') ]] || fail "bound without a scheduler"
}
t "--disable-scheduler leaves pods pending" no_scheduler_no_binding
