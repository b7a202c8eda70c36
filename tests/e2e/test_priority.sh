#!/usr/bin/env bash
# test_priority: PriorityClasses (scheduling.k8s.io/v1) and upstream's Priority admission: the
# system classes exist from the start, a pod gets spec.priority and preemptionPolicy from its
# class or the global default, with upstream's refusals; the scheduler orders pods by it. Also:
# kubectl 1.33's generators that send protobuf (roles, bindings, ingresses, priority classes).
. "$(dirname "$0")/lib.sh"

start_server

system_classes_and_generators() {
    run_cmd "$E2E_TMP/pc" kc 1.27 get priorityclasses -o name
    expect_grep "$E2E_TMP/pc" 'priorityclass.scheduling.k8s.io/system-cluster-critical'
    expect_grep "$E2E_TMP/pc" 'priorityclass.scheduling.k8s.io/system-node-critical'
    kc 1.33 get pc system-node-critical -o jsonpath='{.value}' | grep -qx 2000001000 || fail "value"
    run_cmd "$E2E_TMP/tbl" kc 1.27 get pc system-node-critical # upstream's printPriorityClass
    expect_grep "$E2E_TMP/tbl" '^NAME +VALUE +GLOBAL-DEFAULT +AGE +PREEMPTIONPOLICY$'
    expect_grep "$E2E_TMP/tbl" '^system-node-critical +2000001000 +false +[0-9]+s +PreemptLowerPriority$'
    local v
    for v in 1.27 1.33; do # 1.33 sends these as protobuf
        kc "$v" create priorityclass "high-${v/./}" --value=1000 >/dev/null || fail "kubectl $v create priorityclass"
        kc "$v" create role "r-${v/./}" --verb=get --resource=pods >/dev/null || fail "kubectl $v create role"
        kc "$v" create clusterrole "cr-${v/./}" --verb=get --resource=pods >/dev/null || fail "kubectl $v create clusterrole"
        kc "$v" create rolebinding "rb-${v/./}" --role="r-${v/./}" --user=bob >/dev/null || fail "kubectl $v create rolebinding"
        kc "$v" create ingress "ing-${v/./}" --rule="foo.com/bar=svc1:8080" >/dev/null || fail "kubectl $v create ingress"
    done
}

pods_take_their_class() {
    kc 1.33 run a --image=busybox --restart=Never --overrides='{"spec":{"priorityClassName":"high-133"}}' >/dev/null ||
        fail "run a"
    kc 1.33 run plain --image=busybox --restart=Never >/dev/null || fail "run plain"
    kc 1.33 get pod a -o jsonpath='{.spec.priority} {.spec.preemptionPolicy}' | grep -qx '1000 PreemptLowerPriority' ||
        fail "pod a: $(kc 1.33 get pod a -o jsonpath='{.spec.priority} {.spec.preemptionPolicy}')"
    kc 1.33 get pod plain -o jsonpath='{.spec.priority}' | grep -qx 0 || fail "plain priority"
    kc 1.33 create priorityclass dflt --value=7 --global-default >/dev/null || fail "global default"
    kc 1.33 run later --image=busybox --restart=Never >/dev/null || fail "run later"
    kc 1.33 get pod later -o jsonpath='{.spec.priority} {.spec.priorityClassName}' | grep -qx '7 dflt' ||
        fail "global default not applied"
}

refusals_match_upstream() {
    run_cmd "$E2E_TMP/o" kc 1.33 run c --image=busybox --overrides='{"spec":{"priorityClassName":"nope"}}'
    expect_grep "$E2E_TMP/o" 'pods "c" is forbidden: no PriorityClass with name nope was found'
    run_cmd "$E2E_TMP/o" kc 1.33 run e --image=busybox --overrides='{"spec":{"priorityClassName":"high-133","priority":5}}'
    expect_grep "$E2E_TMP/o" 'the integer value of priority \(5\) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name'
    run_cmd "$E2E_TMP/o" kc 1.33 create priorityclass dflt2 --value=5 --global-default
    expect_grep "$E2E_TMP/o" 'PriorityClass dflt is already marked as default. Only one default can exist'
    run_cmd "$E2E_TMP/o" kc 1.33 create priorityclass system-mine --value=5
    expect_grep "$E2E_TMP/o" "priority class names with 'system-' prefix are reserved"
    run_cmd "$E2E_TMP/o" kc 1.27 create priorityclass huge --value=2000000000
    expect_grep "$E2E_TMP/o" 'maximum allowed value of a user defined priority is 1000000000'
}

t "system classes exist; kubectl 1.27/1.33 generators (protobuf) work" system_classes_and_generators
t "pods take priority from their class or the global default" pods_take_their_class
t "refusals match upstream's Priority admission" refusals_match_upstream
