#!/usr/bin/env bash
# test_gc: the garbage collector (propagationPolicy Background, Foreground, Orphan; dangling
# owners, also across a restart; custom resources as owners), pod GC, the default ServiceAccount
# and kube-root-ca.crt in every namespace. API only (--disable-agent): the test makes Node objects
# itself and plays the kubelet where a pod must finish terminating.
. "$(dirname "$0")/lib.sh"

THRESHOLD=3
start_server --terminated-pod-gc-threshold "$THRESHOLD"

rs_json() { # rs_json NAME REPLICAS
    cat <<EOF
{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"$1"},
 "spec":{"replicas":$2,"selector":{"matchLabels":{"app":"$1"}},
  "template":{"metadata":{"labels":{"app":"$1"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
}

count() { # count KIND SELECTOR: how many exist (terminating included)
    kc 1.33 get "$1" -l "$2" -o name 2>/dev/null | grep -c .
}
count_is() { # count_is KIND SELECTOR N
    [[ $(count "$1" "$2") -eq $3 ]]
}
gone() { # gone KIND NAME [NS]
    ! kc 1.33 get "$1" "$2" -n "${3:-default}" >/dev/null 2>&1
}
# pod_deleted NAME: gone, or terminating (bound to a test Node, only a kubelet would finish it)
pod_deleted() {
    gone pod "$1" || [[ -n $(kc 1.33 get pod "$1" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null) ]]
}
uid_of() { kc 1.33 get "$1" "$2" -o jsonpath='{.metadata.uid}'; }

# A configmap owned by the given owner reference fields.
owned_cm() { # owned_cm NAME APIVERSION KIND OWNERNAME OWNERUID
    kc 1.33 create -f - >/dev/null <<EOF || fail "create cm $1"
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"$1",
  "ownerReferences":[{"apiVersion":"$2","kind":"$3","name":"$4","uid":"$5"}]},"data":{"k":"v"}}
EOF
}

service_account_and_root_ca() {
    local v pem
    for v in 1.27 1.33; do
        kc $v create namespace "sa-${v/./-}" >/dev/null || fail "create ns"
        until_ok 10 kc $v get serviceaccount default -n "sa-${v/./-}" || fail "no default SA ($v)"
        until_ok 10 kc $v get configmap kube-root-ca.crt -n "sa-${v/./-}" || fail "no root CA ($v)"
    done
    pem=$(kc 1.33 get configmap kube-root-ca.crt -n sa-1-33 -o jsonpath='{.data.ca\.crt}')
    [[ $pem == "$(cat "$DATA/server/tls/ca.crt")" ]] || fail "ca.crt is not the cluster CA"
    kc 1.33 get configmap kube-root-ca.crt -n sa-1-33 -o yaml | grep -q 'kubernetes.io/description' ||
        fail "no description annotation"
    kc 1.33 delete serviceaccount default -n sa-1-33 >/dev/null || fail "delete sa"
    kc 1.33 delete configmap kube-root-ca.crt -n sa-1-33 >/dev/null || fail "delete cm"
    until_ok 10 kc 1.33 get serviceaccount default -n sa-1-33 || fail "SA not recreated"
    until_ok 10 kc 1.33 get configmap kube-root-ca.crt -n sa-1-33 || fail "CA not recreated"
    kc 1.33 patch configmap kube-root-ca.crt -n sa-1-33 --type=merge \
        -p '{"data":{"ca.crt":"tampered","extra":"x"}}' >/dev/null || fail "patch cm"
    # shellcheck disable=SC2317
    restored() {
        [[ $(kc 1.33 get configmap kube-root-ca.crt -n sa-1-33 -o jsonpath='{.data.ca\.crt}') == "$pem" &&
            -z $(kc 1.33 get configmap kube-root-ca.crt -n sa-1-33 -o jsonpath='{.data.extra}') ]]
    }
    until_ok 10 restored || fail "ca.crt not restored"
}

deployment_background() {
    local v
    for v in 1.27 1.33; do
        kc $v create deployment "bg-${v/./-}" --image=busybox --replicas=2 >/dev/null || fail "create"
        until_ok 10 count_is pods "app=bg-${v/./-}" 2 || fail "no pods ($v)"
        kc $v delete deployment "bg-${v/./-}" >/dev/null || fail "delete ($v)"
        until_ok 15 count_is rs "app=bg-${v/./-}" 0 || fail "ReplicaSet left ($v)"
        until_ok 15 count_is pods "app=bg-${v/./-}" 0 || fail "pods left ($v)"
    done
}

foreground_waits_for_pods() {
    local fin p
    fake_node gc-node-1
    rs_json fg 2 | kc 1.33 create -f - >/dev/null || fail "create rs"
    bound() { [[ $(kc 1.33 get pods -l app=fg -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -c gc-node-1) -eq 2 ]]; }
    until_ok 15 bound || fail "pods not bound"
    kc 1.27 delete rs fg --cascade=foreground --wait=false >/dev/null || fail "delete"
    fin=$(kc 1.33 get rs fg -o jsonpath='{.metadata.finalizers}|{.metadata.deletionTimestamp}')
    [[ $fin == *foregroundDeletion*'|'?* ]] || fail "rs finalizers/deletionTimestamp: $fin"
    # the GC deletes the pods; bound to a node they only terminate (no kubelet here)
    terminating() { [[ $(kc 1.33 get pods -l app=fg -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{"\n"}{end}' | grep -c .) -eq 2 ]]; }
    until_ok 15 terminating || fail "pods not deleted by the GC"
    sleep 1
    kc 1.33 get rs fg >/dev/null 2>&1 || fail "rs went before its pods"
    for p in $(kc 1.33 get pods -l app=fg -o name); do # the kubelet's last word
        kc 1.33 delete "$p" --grace-period=0 --force >/dev/null 2>&1
    done
    until_ok 15 gone rs fg || fail "rs stayed after its pods were gone"
}

orphan_keeps_pods() {
    local v n refs
    for v in 1.27 1.33; do
        n="or-${v/./-}"
        rs_json "$n" 2 | kc $v create -f - >/dev/null || fail "create rs"
        until_ok 10 count_is pods "app=$n" 2 || fail "no pods"
        kc $v delete rs "$n" --cascade=orphan >/dev/null || fail "delete ($v)"
        until_ok 15 gone rs "$n" || fail "rs not deleted ($v)"
        sleep 1
        [[ $(count pods "app=$n") -eq 2 ]] || fail "pods deleted ($v)"
        refs=$(kc 1.33 get pods -l "app=$n" -o jsonpath='{.items[*].metadata.ownerReferences}')
        [[ -z $refs ]] || fail "ownerReferences left: $refs"
    done
}

# an RC deleted through the API without a policy orphans (upstream's default for v1 RCs)
rc_default_orphans() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create rc"
{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"rcd"},
 "spec":{"replicas":1,"selector":{"app":"rcd"},
  "template":{"metadata":{"labels":{"app":"rcd"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    until_ok 10 count_is pods app=rcd 1 || fail "no pod"
    curl_admin -X DELETE "https://127.0.0.1:$PORT/api/v1/namespaces/default/replicationcontrollers/rcd" \
        -o "$E2E_TMP/rcd.json" || fail "curl"
    grep -q '"orphan"' "$E2E_TMP/rcd.json" || { cat "$E2E_TMP/rcd.json"; fail "no orphan finalizer"; }
    until_ok 15 gone rc rcd || fail "rc stays"
    [[ $(count pods app=rcd) -eq 1 ]] || fail "pod deleted"
}

delete_options_validated() {
    curl_admin -X DELETE -H 'Content-Type: application/json' -d '{"propagationPolicy":"Sideways"}' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps/kube-root-ca.crt" >"$E2E_TMP/v1.json"
    expect_grep "$E2E_TMP/v1.json" 'propagationPolicy: Unsupported value: \\"Sideways\\": supported values: \\"Foreground\\", \\"Background\\", \\"Orphan\\", \\"nil\\"'
    expect_grep "$E2E_TMP/v1.json" '"code":422'
    curl_admin -X DELETE -H 'Content-Type: application/json' \
        -d '{"propagationPolicy":"Orphan","orphanDependents":true}' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps/kube-root-ca.crt" >"$E2E_TMP/v2.json"
    expect_grep "$E2E_TMP/v2.json" 'orphanDependents and deletionPropagation cannot be both set'
    kc 1.33 get configmap kube-root-ca.crt >/dev/null || fail "deleted by an invalid request"
}

dangling_owner_collected() {
    local uid
    owned_cm dangle-missing apps/v1 ReplicaSet no-such-rs 1f0e3a4c-0000-4000-8000-000000000001
    kc 1.33 create -f - >/dev/null <<EOF || fail "create pod"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dangle-pod",
  "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"no-such-rs","uid":"1f0e3a4c-0000-4000-8000-000000000003"}]},
 "spec":{"containers":[{"name":"c","image":"busybox"}]}}
EOF
    rs_json real 0 | kc 1.33 create -f - >/dev/null || fail "create rs"
    uid=$(uid_of rs real)
    owned_cm dangle-uid apps/v1 ReplicaSet real 1f0e3a4c-0000-4000-8000-000000000002
    owned_cm kept apps/v1 ReplicaSet real "$uid"
    until_ok 15 gone configmap dangle-missing || fail "dependent of a missing owner kept"
    until_ok 15 pod_deleted dangle-pod || fail "pod of a missing owner kept"
    until_ok 15 gone configmap dangle-uid || fail "dependent of an owner with another uid kept"
    # an owner in another namespace: an event says so, and the dependent is collected
    kc 1.33 create namespace elsewhere >/dev/null || fail "create ns"
    kc 1.33 create -n elsewhere -f - >/dev/null <<EOF || fail "create cm elsewhere"
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cross",
  "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"real","uid":"$uid"}]}}
EOF
    until_ok 15 gone configmap cross elsewhere || fail "dependent naming another namespace's owner kept"
    # shellcheck disable=SC2317
    invalid_ns_event() {
        kc 1.33 get events -n elsewhere -o jsonpath='{.items[*].reason}' | grep -q OwnerRefInvalidNamespace
    }
    until_ok 10 invalid_ns_event || fail "no OwnerRefInvalidNamespace event"
    kc 1.33 get events -n elsewhere -o jsonpath='{.items[*].message}' |
        grep -q "ownerRef \[apps/v1/ReplicaSet, namespace: elsewhere, name: real, uid: $uid\] does not exist in namespace \"elsewhere\"" ||
        fail "event message: $(kc 1.33 get events -n elsewhere -o jsonpath='{.items[*].message}')"
    sleep 1
    kc 1.33 get configmap kept >/dev/null || fail "dependent of a live owner deleted"
    kc 1.33 get rs real >/dev/null || fail "owner deleted"
}

custom_resource_owner() {
    local uid
    kc 1.33 create -f - >/dev/null <<EOF || fail "create crd"
{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"widgets.gc.example.com"},
 "spec":{"group":"gc.example.com","scope":"Namespaced",
  "names":{"plural":"widgets","singular":"widget","kind":"Widget"},
  "versions":[{"name":"v1","served":true,"storage":true,
    "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}
EOF
    until_ok 10 kc 1.33 get widgets || fail "crd not served"
    kc 1.33 create -f - >/dev/null <<EOF || fail "create widget"
{"apiVersion":"gc.example.com/v1","kind":"Widget","metadata":{"name":"w1"}}
EOF
    uid=$(uid_of widget w1)
    owned_cm widget-cm gc.example.com/v1 Widget w1 "$uid"
    sleep 1
    kc 1.33 get configmap widget-cm >/dev/null || fail "owned configmap deleted while its owner lives"
    kc 1.33 delete widget w1 >/dev/null || fail "delete widget"
    until_ok 15 gone configmap widget-cm || fail "configmap of a deleted widget kept"
}

pod_gc_deleted_node() {
    local i
    fake_node gc-node-2
    for i in 1 2; do
        kc 1.33 create -f - >/dev/null <<EOF || fail "create pod"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"on-node2-$i","labels":{"app":"node2"}},
 "spec":{"nodeName":"gc-node-2","containers":[{"name":"c","image":"busybox"}]}}
EOF
    done
    sleep 1
    [[ $(count pods app=node2) -eq 2 ]] || fail "pods gone early"
    kc 1.33 delete node gc-node-2 >/dev/null || fail "delete node"
    sleep 5 # upstream's 40 s quarantine: the node's pods stay a while
    [[ $(count pods app=node2) -eq 2 ]] || fail "pods deleted before the quarantine ran out"
    until_ok 60 count_is pods app=node2 0 || fail "pods of a deleted node kept"
}

pod_gc_terminated_threshold() {
    local i ts
    for i in 1 2 3 4 5; do
        kc 1.33 create -f - >/dev/null <<EOF || fail "create pod"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"done-$i","labels":{"app":"done"}},
 "spec":{"containers":[{"name":"c","image":"busybox"}]}}
EOF
        sleep 1.1 # distinct creationTimestamps: the oldest go first
    done
    for i in 5 4 3 2 1; do
        kc 1.33 patch pod "done-$i" --subresource=status --type=merge \
            -p '{"status":{"phase":"Succeeded"}}' >/dev/null || fail "patch"
    done
    until_ok 15 count_is pods app=done "$THRESHOLD" || fail "not trimmed to $THRESHOLD"
    gone pod done-1 && gone pod done-2 || fail "not the oldest removed"
    sleep 2
    [[ $(count pods app=done) -eq $THRESHOLD ]] || fail "more than the excess removed"
}

# dependents of an owner deleted while no collector ran are collected after a restart (the
# restarts happen at the top level: the server is this shell's child)
offline_orphans_made() {
    local uid
    rs_json offline 0 | kc 1.33 create -f - >/dev/null || fail "create rs"
    uid=$(uid_of rs offline)
    owned_cm offline-cm apps/v1 ReplicaSet offline "$uid"
    kc 1.33 create -f - >/dev/null <<EOF || fail "create pod"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"offline-pod",
  "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"offline","uid":"$uid"}]},
 "spec":{"containers":[{"name":"c","image":"busybox"}]}}
EOF
    kc 1.33 delete rs offline >/dev/null || fail "delete rs"
    sleep 1
    kc 1.33 get configmap offline-cm >/dev/null || fail "collected without a collector?"
    kc 1.33 get pod offline-pod >/dev/null || fail "collected without a collector?"
}

collected_after_restart() {
    until_ok 30 gone configmap offline-cm || fail "configmap not collected after the restart"
    until_ok 10 pod_deleted offline-pod || fail "pod not collected after the restart"
    kc 1.33 get configmap kept >/dev/null || fail "a live owner's dependent was collected"
}

t "a new namespace gets the default ServiceAccount and kube-root-ca.crt, restored when deleted or changed" service_account_and_root_ca
t "kubectl delete deployment removes its ReplicaSets and pods (background)" deployment_background
t "--cascade=foreground: the ReplicaSet stays (foregroundDeletion) until its pods are gone" foreground_waits_for_pods
t "--cascade=orphan: pods stay without their ownerReference" orphan_keeps_pods
t "a v1 ReplicationController deleted without a policy orphans its pods" rc_default_orphans
t "invalid propagationPolicy / orphanDependents are 422 Invalid" delete_options_validated
t "dependents of a missing owner or of an owner with another uid are collected" dangling_owner_collected
t "a custom resource owns a configmap" custom_resource_owner
t "pod GC: pods bound to a deleted node are deleted" pod_gc_deleted_node
t "pod GC: terminated pods over --terminated-pod-gc-threshold go, oldest first" pod_gc_terminated_threshold
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
start_server --disable-controller-manager
t "without a controller manager, dependents of a deleted owner stay" offline_orphans_made
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
start_server --terminated-pod-gc-threshold "$THRESHOLD"
t "after a restart the collector collects them (graph rebuilt from lists)" collected_after_restart
