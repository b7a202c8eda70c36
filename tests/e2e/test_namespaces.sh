#!/usr/bin/env bash
# test_namespaces: namespace deletion as upstream: the namespace turns Terminating, refuses new
# content (403 NamespaceTerminating), its content goes by the rules of single deletes
# (finalizers and pods bound to a node hold their objects, marked), and the namespace goes once
# it is empty; a restart resumes it. deletecollection follows the same rules, with dry run.
. "$(dirname "$0")/lib.sh"

start_server

bound_pod() { # bound_pod NS NAME: a pod bound to a node (its kubelet would finish deleting it)
    kc 1.33 create -f - >/dev/null <<EOF || fail "create bound pod $2"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$2","namespace":"$1"},"spec":{"nodeName":"n1","terminationGracePeriodSeconds":5,"containers":[{"name":"c","image":"busybox"}]}}
EOF
}

delete_waits_until_empty() {
    local i v
    for v in 1.27 1.33; do
        kc "$v" create namespace "plain-${v/./}" >/dev/null || fail "create ns"
        for i in 1 2 3; do kc 1.33 -n "plain-${v/./}" create configmap "c$i" >/dev/null; done
        kc 1.33 -n "plain-${v/./}" create secret generic s1 >/dev/null
        run_cmd "$E2E_TMP/del" timeout 20 "$KUBECTL_DIR/kubectl.$v" --kubeconfig "$DATA/server/admin.kubeconfig" \
            delete namespace "plain-${v/./}"
        expect_rc 0 "kubectl $v delete namespace (waits)"
        run_cmd "$E2E_TMP/get" kc "$v" get namespace "plain-${v/./}"
        expect_grep "$E2E_TMP/get" 'NotFound|not found'
        run_cmd "$E2E_TMP/cm" curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/plain-${v/./}/configmaps"
        expect_grep "$E2E_TMP/cm" '"items":\[\]'
    done
}

terminating_refuses_new_content() {
    kc 1.33 create namespace held >/dev/null || fail "create ns"
    kc 1.33 -n held create configmap keep >/dev/null
    kc 1.33 -n held patch configmap keep -p '{"metadata":{"finalizers":["example.com/hold"]}}' >/dev/null
    kc 1.33 -n held create configmap gone >/dev/null
    bound_pod held runner
    run_cmd "$E2E_TMP/del" kc 1.33 delete namespace held --wait=false
    expect_rc 0 "delete namespace"
    sleep 0.5
    run_cmd "$E2E_TMP/ns" kc 1.27 get namespace held
    expect_grep "$E2E_TMP/ns" '^held +Terminating'
    run_cmd "$E2E_TMP/new" kc 1.33 -n held create configmap new
    [[ $RC -ne 0 ]] || fail "created content in a terminating namespace"
    expect_grep "$E2E_TMP/new" 'configmaps "new" is forbidden: unable to create new content in namespace held because it is being terminated'
    curl_admin -o "$E2E_TMP/body" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/held/configmaps" >"$E2E_TMP/code"
    [[ $(cat "$E2E_TMP/code") == 403 ]] || fail "code $(cat "$E2E_TMP/code"), want 403"
    expect_grep "$E2E_TMP/body" '"reason":"NamespaceTerminating"'
    # content without a hold is gone; held content is marked, not deleted
    run_cmd "$E2E_TMP/cms" kc 1.33 -n held get configmaps -o name
    sed -i '/kube-root-ca.crt/d' "$E2E_TMP/cms" # the root-CA publisher's, in every namespace
    expect_lines "$E2E_TMP/cms" 1
    expect_grep "$E2E_TMP/cms" 'configmap/keep'
    kc 1.33 -n held get configmap keep -o jsonpath='{.metadata.deletionTimestamp}' | grep -qE '^[0-9T:-]+Z$' ||
        fail "held configmap not marked"
    kc 1.33 -n held get pod runner -o jsonpath='{.metadata.deletionGracePeriodSeconds}' | grep -qx 5 ||
        fail "bound pod not marked with its grace period"
}

restart_resumes_and_finishes() {
    run_cmd "$E2E_TMP/ns" kc 1.33 get namespace held
    expect_grep "$E2E_TMP/ns" 'Terminating'
    # release what holds the namespace: its finalizer's owner, and the kubelet (a forced delete)
    kc 1.33 -n held patch configmap keep --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null ||
        fail "remove finalizer"
    kc 1.33 -n held delete pod runner --grace-period=0 --force >/dev/null 2>&1 || fail "force delete"
    run_cmd "$E2E_TMP/w" kc 1.33 wait --for=delete namespace/held --timeout=20s
    expect_rc 0 "the namespace goes once empty (after a restart)"
}

deletecollection_follows_the_rules() {
    kc 1.33 create namespace coll >/dev/null
    local i
    for i in 1 2 3 4; do kc 1.33 -n coll create configmap "c$i" >/dev/null; done
    kc 1.33 -n coll patch configmap c4 -p '{"metadata":{"finalizers":["example.com/hold"]}}' >/dev/null
    bound_pod coll p1
    run_cmd "$E2E_TMP/dry" kc 1.33 -n coll delete configmaps --all --dry-run=server
    expect_rc 0 "dry run"
    run_cmd "$E2E_TMP/after" kc 1.33 -n coll get configmaps -o name
    sed -i '/kube-root-ca.crt/d' "$E2E_TMP/after" # the root-CA publisher's, in every namespace
    expect_lines "$E2E_TMP/after" 4
    # the collection DELETE itself, as kubectl's clients and controllers send it
    run_cmd "$E2E_TMP/dc" curl_admin -X DELETE "https://127.0.0.1:$PORT/api/v1/namespaces/coll/configmaps"
    expect_grep "$E2E_TMP/dc" '"kind":"ConfigMapList"'
    [[ $(grep -o '"name":"c[0-9]"' "$E2E_TMP/dc" | wc -l) -eq 4 ]] || fail "not every configmap listed as deleted"
    run_cmd "$E2E_TMP/left" kc 1.33 -n coll get configmaps -o name
    sed -i '/kube-root-ca.crt/d' "$E2E_TMP/left" # the root-CA publisher's, in every namespace
    expect_lines "$E2E_TMP/left" 1
    expect_grep "$E2E_TMP/left" 'configmap/c4'
    run_cmd "$E2E_TMP/dp" curl_admin -X DELETE "https://127.0.0.1:$PORT/api/v1/namespaces/coll/pods"
    kc 1.33 -n coll get pod p1 -o jsonpath='{.metadata.deletionTimestamp}' | grep -qE 'Z$' ||
        fail "a bound pod was removed by deletecollection instead of marked"
}

python_delete_collection() {
    kc 1.33 create namespace pyns >/dev/null
    kc 1.33 -n pyns create configmap a --from-literal=k=v >/dev/null
    kc 1.33 -n pyns label configmap a team=x >/dev/null
    kc 1.33 -n pyns create configmap b >/dev/null
    "$PY" - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
v1.delete_collection_namespaced_config_map("pyns", label_selector="team=x")
names = sorted(c.metadata.name for c in v1.list_namespaced_config_map("pyns").items
               if c.metadata.name != "kube-root-ca.crt")  # the root-CA publisher's
assert names == ["b"], names
v1.delete_namespace("pyns")
print("python ok")
PYEOF
    expect_grep "$E2E_TMP/py" 'python ok'
    run_cmd "$E2E_TMP/w" kc 1.33 wait --for=delete namespace/pyns --timeout=20s
    expect_rc 0 "namespace deleted by the python client goes"
}

t "kubectl delete namespace waits until its content is gone (1.27, 1.33)" delete_waits_until_empty
t "a terminating namespace refuses new content; held objects are marked" terminating_refuses_new_content
# Restart at the top level: the server is this shell's child.
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
start_server
t "a restart resumes the deletion; the namespace goes once empty" restart_resumes_and_finishes
t "deletecollection marks held objects and bound pods, honours dry run" deletecollection_follows_the_rules
t "python client: delete_collection and delete_namespace" python_delete_collection
