#!/usr/bin/env bash
# test_eviction: pods/eviction honours PodDisruptionBudgets as upstream does (429 when the
# budget allows no disruption or is not processed yet, one disruption taken per eviction,
# several budgets refused, unhealthy pods and pending pods exempt), deletes through the normal
# delete path (a pod bound to a node is only marked), and supports dry run. The disruption
# controller that computes budget status is a later issue: the tests set status themselves.
. "$(dirname "$0")/lib.sh"

start_server

# running_pod NAME LABEL READY: a Running pod with the label app=LABEL and Ready=READY.
running_pod() {
    kc 1.33 run "$1" --image=busybox --restart=Never --labels="app=$2" >/dev/null || fail "create pod $1"
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p \
        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"$3\"}]}}" \
        >/dev/null || fail "set status of $1"
}

# pdb NAME LABEL ALLOWED [OBSERVED_GENERATION]: a budget over app=LABEL with the given status.
pdb() {
    kc 1.33 create poddisruptionbudget "$1" --selector="app=$2" --min-available=1 >/dev/null ||
        fail "create pdb $1"
    kc 1.33 patch pdb "$1" --subresource=status --type=merge -p \
        "{\"status\":{\"observedGeneration\":${4:-1},\"disruptionsAllowed\":$3,\"desiredHealthy\":1,\"currentHealthy\":$((1 + $3)),\"expectedPods\":2}}" \
        >/dev/null || fail "set status of pdb $1"
}

# evict VERSION POD [DELETE_OPTIONS_JSON]: POST pods/POD/eviction with kubectl's raw client.
evict() {
    local v=$1 pod=$2 opts=${3:-}
    printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"%s"}%s}' "$pod" \
        "${opts:+,\"deleteOptions\":$opts}" >"$E2E_TMP/ev.json"
    kc "$v" create --raw "/api/v1/namespaces/default/pods/$pod/eviction" -f "$E2E_TMP/ev.json"
}

no_budget_evicts() {
    running_pod free none True
    run_cmd "$E2E_TMP/o" evict 1.27 free
    expect_rc 0 "evict without a budget"
    expect_grep "$E2E_TMP/o" '"status":"Success"'
    run_cmd "$E2E_TMP/g" kc 1.33 get pod free
    [[ $RC -ne 0 ]] || fail "the evicted pod is still there"
}

exhausted_budget_refuses() {
    running_pod web-1 web True
    pdb web-pdb web 0
    run_cmd "$E2E_TMP/o" evict 1.33 web-1
    [[ $RC -ne 0 ]] || fail "evicted despite a budget that allows no disruption"
    expect_grep "$E2E_TMP/o" "Cannot evict pod as it would violate the pod's disruption budget"
    curl_admin -o "$E2E_TMP/body" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$E2E_TMP/ev.json" \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods/web-1/eviction" >"$E2E_TMP/code"
    [[ $(cat "$E2E_TMP/code") == 429 ]] || fail "code $(cat "$E2E_TMP/code"), want 429"
    expect_grep "$E2E_TMP/body" '"reason":"DisruptionBudget","message":"The disruption budget web-pdb needs 1 healthy pods and has 1 currently"'
    kc 1.33 get pod web-1 >/dev/null || fail "pod gone after a refused eviction"
}

budget_is_consumed() {
    running_pod api-1 api True
    running_pod api-2 api True
    pdb api-pdb api 1
    run_cmd "$E2E_TMP/o" evict 1.33 api-1
    expect_rc 0 "first eviction within the budget"
    kc 1.33 get pdb api-pdb -o jsonpath='{.status.disruptionsAllowed} {.status.disruptedPods}' >"$E2E_TMP/p"
    expect_grep "$E2E_TMP/p" '^0 \{"api-1":"[0-9T:-]+Z"\}'
    run_cmd "$E2E_TMP/o2" evict 1.27 api-2
    [[ $RC -ne 0 ]] || fail "second eviction went through an exhausted budget"
    expect_grep "$E2E_TMP/o2" "Cannot evict pod"
}

unprocessed_budget_refuses() {
    running_pod db-1 db True
    pdb db-pdb db 1 0 # observedGeneration 0 < generation 1
    curl_admin -o "$E2E_TMP/body" -D "$E2E_TMP/hdr" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"db-1"}}' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods/db-1/eviction" >"$E2E_TMP/code"
    [[ $(cat "$E2E_TMP/code") == 429 ]] || fail "code $(cat "$E2E_TMP/code"), want 429"
    expect_grep "$E2E_TMP/body" 'The disruption budget db-pdb is still being processed by the server.'
    expect_grep "$E2E_TMP/hdr" '^Retry-After: 10'
}

unhealthy_and_pending_pods_exempt() {
    running_pod sick-1 sick False
    pdb sick-pdb sick 0
    kc 1.33 patch pdb sick-pdb --type=merge -p '{"spec":{"unhealthyPodEvictionPolicy":"AlwaysAllow"}}' >/dev/null
    kc 1.33 patch pdb sick-pdb --subresource=status --type=merge -p '{"status":{"observedGeneration":2}}' >/dev/null
    run_cmd "$E2E_TMP/o" evict 1.33 sick-1
    expect_rc 0 "an unready pod under AlwaysAllow is evicted"
    kc 1.33 run pend-1 --image=busybox --restart=Never --labels=app=web >/dev/null # Pending, under web-pdb
    run_cmd "$E2E_TMP/o" evict 1.33 pend-1
    expect_rc 0 "a pending pod is evicted without consulting the budget"
}

two_budgets_refused() {
    running_pod both-1 both True
    pdb both-a both 1
    pdb both-b both 1
    run_cmd "$E2E_TMP/o" evict 1.33 both-1
    [[ $RC -ne 0 ]] || fail "evicted a pod under two budgets"
    expect_grep "$E2E_TMP/o" 'more than one PodDisruptionBudget'
}

dry_run_and_graceful() {
    running_pod keep-1 keep True
    pdb keep-pdb keep 1
    run_cmd "$E2E_TMP/o" evict 1.33 keep-1 '{"dryRun":["All"]}'
    expect_rc 0 "dry-run eviction"
    kc 1.33 get pod keep-1 >/dev/null || fail "dry run deleted the pod"
    kc 1.33 get pdb keep-pdb -o jsonpath='{.status.disruptionsAllowed}' >"$E2E_TMP/p"
    expect_grep "$E2E_TMP/p" '^1$'
    # a pod bound to a node is only marked (its kubelet finishes the deletion)
    kc 1.33 create -f - >/dev/null <<'EOF' || fail "create bound pod"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bound-1"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox"}]}}
EOF
    run_cmd "$E2E_TMP/o" evict 1.33 bound-1 '{"gracePeriodSeconds":7}'
    expect_rc 0 "evict a bound pod"
    kc 1.33 get pod bound-1 -o jsonpath='{.metadata.deletionGracePeriodSeconds}' >"$E2E_TMP/g" ||
        fail "a bound pod was removed at once"
    expect_grep "$E2E_TMP/g" '^7$'
}

bad_evictions() {
    run_cmd "$E2E_TMP/o" kc 1.33 create --raw /api/v1/namespaces/default/pods/ghost/eviction \
        -f <(echo '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"ghost"}}')
    expect_grep "$E2E_TMP/o" 'pods "ghost" not found'
    running_pod named-1 named True
    run_cmd "$E2E_TMP/o" kc 1.33 create --raw /api/v1/namespaces/default/pods/named-1/eviction \
        -f <(echo '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"other"}}')
    expect_grep "$E2E_TMP/o" 'name in URL does not match name in Eviction object'
}

python_eviction() {
    running_pod py-1 py True
    "$PY" - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
ev = client.V1Eviction(metadata=client.V1ObjectMeta(name="py-1", namespace="default"))
v1.create_namespaced_pod_eviction("py-1", "default", ev)
names = [p.metadata.name for p in v1.list_namespaced_pod("default").items]
assert "py-1" not in names, names
print("python ok")
PYEOF
    expect_grep "$E2E_TMP/py" 'python ok'
}

t "eviction without a budget deletes the pod (201 Status)" no_budget_evicts
t "an exhausted budget refuses with 429 and upstream's cause" exhausted_budget_refuses
t "each eviction takes one disruption and records the pod" budget_is_consumed
t "a budget not yet processed refuses with Retry-After" unprocessed_budget_refuses
t "unready (AlwaysAllow) and pending pods are exempt" unhealthy_and_pending_pods_exempt
t "a pod under two budgets cannot be evicted" two_budgets_refused
t "dry run changes nothing; a bound pod is deleted gracefully" dry_run_and_graceful
t "eviction errors: missing pod, mismatched name" bad_evictions
t "python client eviction" python_eviction
