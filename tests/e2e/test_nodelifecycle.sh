#!/usr/bin/env bash
# test_nodelifecycle: the node lifecycle controller. No kubelet runs: the test makes Node objects
# and their Leases in kube-node-lease, renews the Lease of one node and lets the other's lapse
# (a 3 s --node-monitor-grace-period), and marks pods Ready through pods/status.
. "$(dirname "$0")/lib.sh"

start_server --node-monitor-grace-period 3s

is() { # is WANT CMD...: CMD prints WANT
    local got
    got=$("${@:2}")
    [[ $got == "$1" ]]
}
wait_is() { # wait_is SECONDS WANT CMD...
    until_ok "$1" is "${@:2}" || fail "want '$2', got '$("${@:3}")'"
}
now() { date -u +%Y-%m-%dT%H:%M:%S.000000Z; }

# node NAME: a Ready node with a heartbeat, and its Lease.
node() {
    local ts
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    kc 1.33 create -f - >/dev/null <<EOF || fail "create node $1"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","labels":{"kubernetes.io/hostname":"$1"}},
 "status":{"capacity":{"cpu":"8","memory":"8Gi","pods":"110"},
  "allocatable":{"cpu":"8","memory":"8Gi","pods":"110"},
  "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status","lastHeartbeatTime":"$ts","lastTransitionTime":"$ts"},
   {"type":"MemoryPressure","status":"False","reason":"KubeletHasSufficientMemory","lastHeartbeatTime":"$ts","lastTransitionTime":"$ts"}]}}
EOF
    kc 1.33 create -f - >/dev/null <<EOF || fail "create lease $1"
{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"$1","namespace":"kube-node-lease"},
 "spec":{"holderIdentity":"$1","leaseDurationSeconds":40,"renewTime":"$(now)"}}
EOF
}
renew() { # renew NODE: as the kubelet's lease controller does
    kc 1.33 -n kube-node-lease patch lease "$1" --type=merge -p "{\"spec\":{\"renewTime\":\"$(now)\"}}" >/dev/null
}
# keep_renewing NODE: renews every second in the background until the test (or the server)
# ends; checks run in subshells, so the loops are listed in a file the cleanup reads.
keep_renewing() {
    (while kill -0 "$SERVER_PID" 2>/dev/null; do
        renew "$1" || true
        sleep 1
    done) >/dev/null 2>&1 &
    echo $! >>"$E2E_TMP/renewers"
}
E2E_CLEANUPS+=('[[ -f $E2E_TMP/renewers ]] && kill $(cat "$E2E_TMP/renewers") 2>/dev/null')
cond() { # cond NODE TYPE: status/reason
    kc 1.33 get node "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}/{.status.conditions[?(@.type==\"$2\")].reason}"
}
taints() { # taints NODE: key:effect sorted
    kc 1.33 get node "$1" -o go-template='{{range .spec.taints}}{{.key}}:{{.effect}}{{"\n"}}{{end}}' | sort | xargs
}
pods_of() { # pods_of SELECTOR: name/node of the active pods
    kc 1.33 get pods -l "$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}/{{.spec.nodeName}}{{"\n"}}{{end}}{{end}}'
}
ready() { # ready POD
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p \
        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}]}}" >/dev/null
}

default_tolerations() {
    kc 1.33 run plain --image=busybox --restart=Never >/dev/null || fail "run"
    is "node.kubernetes.io/not-ready:NoExecute:300 node.kubernetes.io/unreachable:NoExecute:300" \
        eval "kc 1.33 get pod plain -o go-template='{{range .spec.tolerations}}{{.key}}:{{.effect}}:{{.tolerationSeconds}} {{end}}' | xargs" ||
        fail "tolerations: $(kc 1.33 get pod plain -o jsonpath='{.spec.tolerations}')"
    # a pod tolerating unreachable itself gets only the not-ready default
    kc 1.33 create -f - >/dev/null <<EOF || fail "create tol"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"tol"},"spec":{"tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":7}],
 "containers":[{"name":"c","image":"busybox"}]}}
EOF
    is "node.kubernetes.io/unreachable:7 node.kubernetes.io/not-ready:300" \
        eval "kc 1.33 get pod tol -o go-template='{{range .spec.tolerations}}{{.key}}:{{.tolerationSeconds}} {{end}}' | xargs" ||
        fail "tolerations: $(kc 1.33 get pod tol -o jsonpath='{.spec.tolerations}')"
    kc 1.33 delete pod plain tol --grace-period=0 --force >/dev/null 2>&1
    return 0
}

lapsed_lease_evicts() {
    node n1
    kc 1.33 create -f - >/dev/null <<EOF || fail "create rs"
{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"app"},"spec":{"replicas":1,
 "selector":{"matchLabels":{"app":"app"}},"template":{"metadata":{"labels":{"app":"app"}},
 "spec":{"tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":2}],
  "containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    until_ok 10 bash -c "[[ \$('$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get pods -l app=app -o jsonpath='{.items[0].spec.nodeName}') == n1 ]]" ||
        fail "the pod did not land on n1"
    local first
    first=$(pods_of app=app)
    ready "${first%/*}"
    node n2
    keep_renewing n2
    # n1's lease lapses: Unknown after the 3 s grace period, tainted unreachable
    wait_is 10 "Unknown/NodeStatusUnknown" cond n1 Ready
    is "Unknown/NodeStatusUnknown" cond n1 MemoryPressure || fail "MemoryPressure $(cond n1 MemoryPressure)"
    is "Kubelet stopped posting node status." kc 1.33 get node n1 -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}' ||
        fail "message"
    wait_is 5 "node.kubernetes.io/unreachable:NoExecute node.kubernetes.io/unreachable:NoSchedule" taints n1
    kc 1.33 get events -n default --field-selector involvedObject.kind=Node,involvedObject.name=n1 \
        -o go-template='{{range .items}}{{.reason}}: {{.message}}{{"\n"}}{{end}}' >"$E2E_TMP/ev"
    expect_grep "$E2E_TMP/ev" "^NodeNotReady: Node n1 status is now: NodeNotReady$"
    run_cmd "$E2E_TMP/nodes" kc 1.27 get nodes
    expect_grep "$E2E_TMP/nodes" "^n1 +NotReady "
    expect_grep "$E2E_TMP/nodes" "^n2 +Ready "
    # the pod is marked not ready, evicted after its 2 s toleration and replaced on n2
    wait_is 5 "False" kc 1.33 get pod "${first%/*}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
    until_ok 15 bash -c "'$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get pod ${first%/*} -o jsonpath='{.metadata.deletionTimestamp}' | grep -q ." ||
        fail "the pod was not evicted"
    kc 1.33 get events --field-selector reason=TaintManagerEviction -o name | grep -q . ||
        fail "no TaintManagerEviction event"
    wait_is 15 "n2" eval "pods_of app=app | sed 's|.*/||'"
    # n1 comes back: renewed lease and a Ready status; its taints go
    renew n1
    local ts
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    kc 1.33 patch node n1 --subresource=status --type=strategic -p \
        "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",\"lastHeartbeatTime\":\"$ts\",\"lastTransitionTime\":\"$ts\"},{\"type\":\"MemoryPressure\",\"status\":\"False\",\"reason\":\"KubeletHasSufficientMemory\",\"lastHeartbeatTime\":\"$ts\",\"lastTransitionTime\":\"$ts\"}]}}" >/dev/null ||
        fail "n1 ready"
    wait_is 5 "" taints n1
    keep_renewing n1
    sleep 4 # longer than the grace period: renewals keep it Ready
    is "True/KubeletReady" cond n1 Ready || fail "n1 $(cond n1 Ready)"
}

cordon_uncordon_drain() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/out" kc $v cordon n2
        expect_rc 0 "cordon ($v)"
        expect_grep "$E2E_TMP/out" "node/n2 cordoned"
        wait_is 5 "node.kubernetes.io/unschedulable:NoSchedule" taints n2
        run_cmd "$E2E_TMP/out" kc $v get nodes
        expect_grep "$E2E_TMP/out" "^n2 +Ready,SchedulingDisabled "
        run_cmd "$E2E_TMP/out" kc $v uncordon n2
        expect_rc 0 "uncordon ($v)"
        expect_grep "$E2E_TMP/out" "node/n2 uncordoned"
        wait_is 5 "" taints n2
    done
    # drain n2: its pod is evicted (pods/eviction) and the ReplicaSet replaces it on n1
    local p
    p=$(pods_of app=app)
    [[ $p == */n2 ]] || fail "want the pod on n2, have $p"
    run_cmd "$E2E_TMP/out" kc 1.33 drain n2 --grace-period=0 --timeout=30s
    expect_rc 0 "drain"
    expect_grep "$E2E_TMP/out" "evicting pod default/${p%/*}"
    expect_grep "$E2E_TMP/out" "node/n2 drained"
    wait_is 15 "n1" eval "pods_of app=app | sed 's|.*/||'"
    is "true" kc 1.33 get node n2 -o jsonpath='{.spec.unschedulable}' || fail "n2 not cordoned"
    kc 1.27 uncordon n2 >/dev/null || fail "uncordon"
}

user_noexecute_taint_evicts() {
    # a NoExecute taint the pod does not tolerate evicts it at once; the replacement avoids it
    local p
    p=$(pods_of app=app)
    [[ $p == */n1 ]] || fail "want the pod on n1, have $p"
    run_cmd "$E2E_TMP/out" kc 1.33 taint node n1 e2e=x:NoExecute
    expect_rc 0 "taint"
    until_ok 10 bash -c "'$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get pod ${p%/*} -o jsonpath='{.metadata.deletionTimestamp}' | grep -q ." ||
        fail "the pod was not evicted: $(kc 1.33 get pod "${p%/*}" -o yaml)"
    is "True/DeletionByTaintManager" kc 1.33 get pod "${p%/*}" -o jsonpath='{.status.conditions[?(@.type=="DisruptionTarget")].status}/{.status.conditions[?(@.type=="DisruptionTarget")].reason}' ||
        fail "no DisruptionTarget condition"
    kc 1.33 get events --field-selector "reason=TaintManagerEviction,involvedObject.name=${p%/*}" -o name | grep -q . ||
        fail "no TaintManagerEviction event"
    until_ok 30 is "n2" eval "pods_of app=app | sed 's|.*/||'" ||
        fail "not on n2: $(pods_of app=app) $(kc 1.33 get events --field-selector reason=FailedScheduling -o jsonpath='{.items[*].message}') $(taints n2) $(cond n2 Ready)"
    kc 1.33 taint node n1 e2e- >/dev/null || fail "untaint"
}

t "pods get the default not-ready/unreachable tolerations (300 s)" default_tolerations
t "a node whose lease lapses goes Unknown, tainted; its pod is evicted and replaced elsewhere; the taints go when it returns" lapsed_lease_evicts
t "kubectl cordon, uncordon and drain (1.27 and 1.33)" cordon_uncordon_drain
t "a NoExecute taint evicts pods that do not tolerate it at once" user_noexecute_taint_evicts
