#!/usr/bin/env bash
# test_controllers: `kubeling server` runs the controller manager: ReplicaSets keep their pods
# (create with ownerReferences, replace, adopt orphans, scale down the least valuable first),
# Deployments roll out through ReplicaSets. No kubelet runs here: the test makes Node objects so
# the scheduler binds pods, and marks pods Ready itself through the status subresource.
. "$(dirname "$0")/lib.sh"

start_server

fake_node() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create node $1"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1"},
 "status":{"capacity":{"cpu":"64","memory":"64Gi","pods":"110"},
  "allocatable":{"cpu":"64","memory":"64Gi","pods":"110"},
  "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status"}]}}
EOF
}

# until SECONDS CMD...: retries CMD until it succeeds.
until_ok() {
    local n=$(($1 * 10)) i
    shift
    for ((i = 0; i < n; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# pods SELECTOR: names of the active (not terminating) pods.
pods() {
    kc 1.33 get pods -l "$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}'
}
count_is() { # count_is SELECTOR N
    [[ $(pods "$1" | grep -c .) -eq $2 ]]
}
bound_count_is() { # bound_count_is SELECTOR N: N active pods with a node
    [[ $(kc 1.33 get pods -l "$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{if .spec.nodeName}}x{{"\n"}}{{end}}{{end}}{{end}}' | grep -c .) -eq $2 ]]
}

# ready POD...: phase Running and condition Ready True, as a kubelet would report.
ready() {
    local p ts
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    for p in "$@"; do
        kc 1.33 patch pod "$p" --subresource=status --type=merge -p \
            "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$ts\"}]}}" >/dev/null ||
            fail "ready $p"
    done
}
# ready_all SELECTOR: every active pod of SELECTOR that is bound gets Ready.
ready_all() {
    local p
    for p in $(pods "$1"); do
        [[ -n $(kc 1.33 get pod "$p" -o jsonpath='{.spec.nodeName}') ]] && ready "$p"
    done
    return 0
}

rs_keeps_pods() {
    fake_node n1
    fake_node n2
    kc 1.27 create -f - >/dev/null <<EOF || fail "create rs"
{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"front"},
 "spec":{"replicas":3,"selector":{"matchLabels":{"app":"front"}},
  "template":{"metadata":{"labels":{"app":"front"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    until_ok 20 count_is app=front 3 || fail "not 3 pods: $(pods app=front | tr '\n' ' ')"
    local p
    p=$(pods app=front | head -1)
    [[ $p == front-* ]] || fail "pod name $p"
    run_cmd "$E2E_TMP/own" kc 1.33 get pod "$p" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}/{.metadata.ownerReferences[0].blockOwnerDeletion}'
    expect_grep "$E2E_TMP/own" '^ReplicaSet/front/true/true$'
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=front
    expect_grep "$E2E_TMP/ev" "SuccessfulCreate +replicaset/front +Created pod: front-"
    until_ok 20 bound_count_is app=front 3 || fail "not bound"
    ready_all app=front
    until_ok 20 eval '[[ $(kc 1.33 get rs front -o jsonpath="{.status.readyReplicas}/{.status.availableReplicas}/{.status.fullyLabeledReplicas}/{.status.replicas}") == 3/3/3/3 ]]' ||
        fail "status: $(kc 1.33 get rs front -o jsonpath='{.status}')"
    # a deleted pod is replaced
    kc 1.33 delete pod "$p" --wait=false >/dev/null || fail "delete"
    until_ok 20 eval "! pods app=front | grep -qx $p && count_is app=front 3" || fail "not replaced: $(pods app=front | tr '\n' ' ')"
}

rs_adopts_and_releases() {
    kc 1.33 scale rs front --replicas=4 >/dev/null || fail "scale"
    until_ok 20 count_is app=front 4 || fail "not 4"
    # an orphan with matching labels is adopted instead of a new pod being made
    kc 1.33 scale rs front --replicas=5 >/dev/null
    until_ok 20 count_is app=front 5 || fail "not 5"
    # a bound, ready pod of the right labels is adopted (and, worth more than the unready
    # ones, kept while one of those goes)
    kc 1.33 run orphan --image=busybox --labels=app=lonely >/dev/null || fail "run orphan"
    until_ok 20 bound_count_is app=lonely 1 || fail "orphan not bound"
    ready orphan
    kc 1.33 label pod orphan app=front --overwrite >/dev/null || fail "label orphan"
    until_ok 20 eval '[[ $(kc 1.33 get pod orphan -o jsonpath="{.metadata.ownerReferences[0].name}") == front ]]' ||
        fail "orphan not adopted"
    # now 6 for 5 replicas: one goes, and the unscheduled/unready go first
    until_ok 20 count_is app=front 5 || fail "not back to 5: $(pods app=front | tr '\n' ' ')"
    # a pod relabeled out of the selector is released and replaced
    local p
    p=$(pods app=front | head -1)
    kc 1.33 label pod "$p" app=other --overwrite >/dev/null || fail "relabel"
    until_ok 20 eval "[[ -z \$(kc 1.33 get pod $p -o jsonpath='{.metadata.ownerReferences}') ]]" ||
        fail "not released: $(kc 1.33 get pod "$p" -o jsonpath='{.metadata.ownerReferences}')"
    until_ok 20 count_is app=front 5 || fail "not replaced after release"
}

rs_scale_down_ranking() {
    # ready pods are worth more: scaling to 2 keeps two Ready ones
    until_ok 20 bound_count_is app=front 5 || fail "not bound"
    local keep
    keep=$(pods app=front | head -2)
    ready $keep
    kc 1.33 scale rs front --replicas=2 >/dev/null || fail "scale"
    until_ok 20 count_is app=front 2 || fail "not 2"
    local p
    for p in $(pods app=front); do
        [[ $(kc 1.33 get pod "$p" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] ||
            fail "kept $p, which is not ready"
    done
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=front,reason=SuccessfulDelete
    expect_grep "$E2E_TMP/ev" "Deleted pod: front-"
}

t "a ReplicaSet creates its pods with ownerReferences and replaces deleted ones" rs_keeps_pods
t "a ReplicaSet adopts matching orphans and releases pods that stop matching" rs_adopts_and_releases
t "scaling down removes the least valuable pods first" rs_scale_down_ranking
