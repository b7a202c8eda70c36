#!/usr/bin/env bash
# test_preemption: the scheduler preempts like upstream's DefaultPreemption: a high-priority pod
# that fits nowhere gets status.nominatedNodeName, the lower-priority victim is marked
# DisruptionTarget (PreemptionByScheduler), deleted gracefully and gets a Preempted event; once
# the victim is gone the pod is bound there. preemptionPolicy Never and higher-priority pods are
# left alone. The node is a Node object made by the test; the test acts as the kubelet that
# finishes the victim's deletion.
. "$(dirname "$0")/lib.sh"

start_server ${E2E_SERVER_FLAGS:-}

wait_nonempty() {
    local i out
    for i in $(seq 100); do
        out=$("$@" 2>/dev/null) && [[ -n "$out" ]] && { echo "$out"; return 0; }
        sleep 0.1
    done
    return 1
}

# run_pod VERSION NAME CPU [PRIORITY_CLASS] [EXTRA_SPEC_JSON]
run_pod() {
    local pc=${4:+\"priorityClassName\":\"$4\",}
    kc "$1" run "$2" --image=busybox --restart=Never --overrides="{\"spec\":{$pc${5:+$5,}\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"$3\"}}}]}}" >/dev/null ||
        fail "run $2"
}

setup_classes() {
    fake_node only 1
    kc 1.33 create priorityclass low --value=10 >/dev/null || fail "pc low"
    kc 1.27 create priorityclass high --value=1000 >/dev/null || fail "pc high"
    kc 1.33 create priorityclass high-never --value=1000 --preemption-policy=Never >/dev/null ||
        fail "pc never"
    run_pod 1.33 victim 800m low
    node=$(wait_nonempty kc 1.33 get pod victim -o jsonpath='{.spec.nodeName}') || fail "victim not bound"
    [[ $node == only ]] || fail "victim on $node"
}

never_policy_waits() {
    run_pod 1.27 polite 800m high-never
    msg=$(wait_nonempty kc 1.33 get pod polite -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}') ||
        fail "no condition"
    [[ $msg == "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never." ]] ||
        fail "message: $msg"
    [[ -z $(kc 1.33 get pod victim -o jsonpath='{.metadata.deletionTimestamp}') ]] ||
        fail "the victim was deleted for a Never pod"
    kc 1.33 delete pod polite --wait=false >/dev/null
}

high_priority_preempts() {
    run_pod 1.33 important 800m high
    nom=$(wait_nonempty kc 1.33 get pod important -o jsonpath='{.status.nominatedNodeName}') ||
        fail "no nominatedNodeName"
    [[ $nom == only ]] || fail "nominated to $nom"
    del=$(wait_nonempty kc 1.33 get pod victim -o jsonpath='{.metadata.deletionTimestamp}') ||
        { tail -20 "$E2E_TMP/server.log"; kc 1.33 get pod -o wide; fail "victim not being deleted"; }
    run_cmd "$E2E_TMP/cond" kc 1.27 get pod victim -o jsonpath='{.status.conditions[?(@.type=="DisruptionTarget")]}'
    expect_grep "$E2E_TMP/cond" '"reason":"PreemptionByScheduler"'
    expect_grep "$E2E_TMP/cond" 'default-scheduler: preempting to accommodate a higher priority pod'
    uid=$(kc 1.33 get pod important -o jsonpath='{.metadata.uid}')
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=victim,reason=Preempted \
        -o jsonpath='{.items[*].message}'
    expect_grep "$E2E_TMP/ev" "^Preempted by pod $uid on node only$"
    # the attempt that preempted reports only the filter summary; later attempts wait for the
    # victim ("not eligible due to a terminating pod on the nominated node")
    run_cmd "$E2E_TMP/fs" kc 1.33 get events --field-selector involvedObject.name=important,reason=FailedScheduling \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
    expect_grep "$E2E_TMP/fs" '^0/1 nodes are available: 1 Insufficient cpu\.$'
    msg=$(kc 1.33 get pod important -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')
    [[ $msg == "0/1 nodes are available: 1 Insufficient cpu."* ]] || fail "message: $msg"
    # a lower-priority pod arriving now may not take the room the nominated pod waits for
    run_pod 1.33 sneaky 100m low
    sleep 1.5
    [[ -z $(kc 1.33 get pod sneaky -o jsonpath='{.spec.nodeName}') ]] ||
        fail "a lower-priority pod took the nominated pod's room"
    [[ -z $(kc 1.33 get pod important -o jsonpath='{.spec.nodeName}') ]] ||
        fail "bound before the victim was gone"
    # the kubelet's part: the victim's containers are gone, the object goes
    kc 1.33 delete pod victim --grace-period=0 --force >/dev/null 2>&1 || fail "finish victim"
    node=$(wait_nonempty kc 1.33 get pod important -o jsonpath='{.spec.nodeName}') ||
        fail "never bound after the victim went"
    [[ $node == only ]] || fail "bound to $node"
}

higher_priority_is_not_a_victim() {
    run_pod 1.27 upstart 800m low
    msg=$(wait_nonempty kc 1.33 get pod upstart -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}') ||
        fail "no condition"
    [[ $msg == "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod." ]] ||
        fail "message: $msg"
    [[ -z $(kc 1.33 get pod important -o jsonpath='{.metadata.deletionTimestamp}') ]] ||
        fail "a higher-priority pod was preempted"
}

t "a victim on the node (priority classes)" setup_classes
t "preemptionPolicy Never does not preempt" never_policy_waits
t "a high-priority pod preempts, is nominated, then bound" high_priority_preempts
t "higher-priority pods are not victims" higher_priority_is_not_a_victim
