#!/usr/bin/env bash
# test_static_pods: static pods from <data-dir>/agent/pod-manifests and their mirror pods, with
# the server's kubelet and real pods (root, namespaces as test_pods.sh), kubectl 1.27 and 1.33:
# a manifest dropped in runs and is mirrored (annotations, owner, status, logs), an edit
# restarts it with the new spec, a deleted mirror comes back while the pod keeps running, bad
# and hidden files change nothing, a server restart keeps the container, removing the file
# removes the pod and its mirror. (test_static.sh is about the static release binaries.)
. "$(dirname "$0")/lib_node.sh" static_pods
node_cleanup
node_images
start_server
wait_node
MAN="$DATA/agent/pod-manifests"
POD="web-$NODE"

manifest() { # manifest MESSAGE: the pod written the way an editor would (temp file, rename)
    cat >"$MAN/.web.yaml.tmp" <<EOF
# a static pod
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo $1; exec sleep 3600"]
    env:
    - name: PORT
      value: "8080"
EOF
    mv "$MAN/.web.yaml.tmp" "$MAN/web.yaml"
}

jp() { kc 1.33 get pod "$POD" -o jsonpath="$1"; }

wait_gone() { # wait_gone POD
    for _ in $(seq 150); do
        kc 1.33 get pod "$1" >/dev/null 2>&1 || return 0
        sleep 0.2
    done
    kc 1.33 get pod "$1" -o yaml >&2
    fail "pod $1 still there"
}

static_pod_runs_with_mirror() {
    [[ -d $MAN ]] || fail "$MAN was not created"
    manifest hello-v1
    wait_for "$POD" '{.status.phase}' '^Running$' 60
    local ann hash
    hash=$(jp '{.metadata.annotations.kubernetes\.io/config\.hash}')
    [[ $hash =~ ^[0-9a-f]{32}$ ]] || fail "config.hash '$hash'"
    [[ $(jp '{.metadata.annotations.kubernetes\.io/config\.mirror}') == "$hash" ]] || fail "config.mirror"
    [[ $(jp '{.metadata.annotations.kubernetes\.io/config\.source}') == file ]] || fail "config.source"
    ann=$(jp '{.metadata.annotations.kubernetes\.io/config\.seen}')
    [[ $ann =~ ^20[0-9-]+T[0-9:.]+Z$ ]] || fail "config.seen '$ann'"
    [[ $(jp '{.metadata.namespace}/{.spec.nodeName}') == "default/$NODE" ]] || fail "namespace/nodeName"
    [[ $(jp '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}') == "Node/$NODE/true" ]] ||
        fail "owner: $(jp '{.metadata.ownerReferences}')"
    [[ $(jp '{.metadata.ownerReferences[0].uid}') == $(kc 1.33 get node "$NODE" -o jsonpath='{.metadata.uid}') ]] ||
        fail "owner uid is not the Node's"
    [[ $(jp '{.spec.tolerations[?(@.effect=="NoExecute")].operator}') == Exists ]] || fail "toleration"
    [[ $(jp '{.metadata.uid}') != "$hash" ]] || fail "the mirror has the static pod's uid"
    # the mirror's status is the static pod's
    [[ $(jp '{.status.containerStatuses[0].containerID}') == kubeling://${hash}_c_0 ]] ||
        fail "containerID $(jp '{.status.containerStatuses[0].containerID}')"
    [[ $(jp '{.status.containerStatuses[0].ready}') == true ]] || fail "not ready"
    [[ -n $(jp '{.status.podIP}') ]] || fail "no pod IP"
    local v
    for v in 1.27 1.33; do
        kc $v get pods -o wide >"$E2E_TMP/wide" || fail "get pods $v"
        grep -Eq "^$POD +1/1 +Running +0 .* $NODE " "$E2E_TMP/wide" || { cat "$E2E_TMP/wide"; fail "kubectl $v get pods -o wide"; }
    done
}

logs_of_mirror_pod() {
    local v
    for v in 1.27 1.33; do
        [[ $(kc $v logs "$POD") == hello-v1 ]] || fail "kubectl $v logs: $(kc $v logs "$POD" 2>&1)"
    done
}

edit_restarts_with_new_spec() {
    local old_hash old_uid
    old_hash=$(jp '{.metadata.annotations.kubernetes\.io/config\.mirror}')
    old_uid=$(jp '{.metadata.uid}')
    manifest hello-v2
    wait_for "$POD" '{.metadata.annotations.kubernetes\.io/config\.mirror}' "^[0-9a-f]{32}$" 30
    for _ in $(seq 150); do
        [[ $(jp '{.metadata.annotations.kubernetes\.io/config\.mirror}') != "$old_hash" &&
            $(jp '{.status.phase}') == Running ]] && break
        sleep 0.2
    done
    [[ $(jp '{.metadata.annotations.kubernetes\.io/config\.mirror}') != "$old_hash" ]] || fail "mirror not replaced"
    [[ $(jp '{.metadata.uid}') != "$old_uid" ]] || fail "same mirror object"
    wait_for "$POD" '{.status.phase}' '^Running$'
    for _ in $(seq 50); do
        [[ $(kc 1.33 logs "$POD" 2>/dev/null) == hello-v2 ]] && break
        sleep 0.2
    done
    [[ $(kc 1.33 logs "$POD") == hello-v2 ]] || fail "logs after the edit: $(kc 1.33 logs "$POD" 2>&1)"
    # the old pod's container is gone
    ! ls /run/kubeling/runtime/containers 2>/dev/null | grep -q "^${old_hash}_" || fail "old container left"
}

deleted_mirror_is_recreated() {
    local uid cid
    uid=$(jp '{.metadata.uid}')
    cid=$(jp '{.status.containerStatuses[0].containerID}')
    timeout 30 "$KUBECTL_DIR/kubectl.1.27" --kubeconfig "$DATA/server/admin.kubeconfig" \
        delete pod "$POD" -v=6 >"$E2E_TMP/delete.log" 2>&1 || { cat "$E2E_TMP/delete.log"; fail "kubectl delete failed or hung"; }
    for _ in $(seq 150); do
        local now
        now=$(jp '{.metadata.uid}' 2>/dev/null)
        [[ -n $now && $now != "$uid" ]] && break
        sleep 0.2
    done
    [[ $(jp '{.metadata.uid}') != "$uid" ]] || fail "mirror not recreated"
    wait_for "$POD" '{.status.containerStatuses[0].containerID}' "^$cid\$"
    wait_for "$POD" '{.status.phase}' '^Running$'
    [[ $(jp '{.status.containerStatuses[0].restartCount}') == 0 ]] || fail "the static pod restarted"
}

bad_and_hidden_manifests_change_nothing() {
    local cid
    cid=$(jp '{.status.containerStatuses[0].containerID}')
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers: []\n' >"$MAN/bad.yaml"
    printf 'not: [valid' >"$MAN/garbage.json"
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: hidden\nspec:\n  containers:\n  - name: c\n    image: busybox\n' >"$MAN/.hidden.yaml"
    head -c 300000 /dev/zero | tr '\0' '#' >"$MAN/huge.yaml"
    for _ in $(seq 50); do
        grep -q "huge.yaml: .*larger than" "$E2E_TMP/server.log" && break
        sleep 0.2
    done
    expect_grep "$E2E_TMP/server.log" "can't process static pod manifest .*/bad.yaml: invalid pod: spec.containers: Required value"
    expect_grep "$E2E_TMP/server.log" "can't process static pod manifest .*/garbage.json"
    expect_grep "$E2E_TMP/server.log" "can't process static pod manifest .*/huge.yaml: .*larger than"
    kill -0 "$SERVER_PID" || fail "server died"
    ! kc 1.33 get pod "bad-$NODE" "hidden-$NODE" >/dev/null 2>&1 || fail "a bad or hidden manifest made a pod"
    [[ $(jp '{.status.containerStatuses[0].containerID}') == "$cid" ]] || fail "the good pod was touched"
    rm -f "$MAN/bad.yaml" "$MAN/garbage.json" "$MAN/.hidden.yaml" "$MAN/huge.yaml"
}

server_restart_keeps_static_pod() {
    [[ $(jp '{.status.containerStatuses[0].containerID}') == "$BEFORE" ]] ||
        fail "containerID $BEFORE became $(jp '{.status.containerStatuses[0].containerID}')"
    [[ $(jp '{.metadata.uid}') == "$MIRROR_BEFORE" ]] || fail "the mirror was replaced"
    [[ $(jp '{.status.podIP}') == "$IP_BEFORE" ]] || fail "pod IP $IP_BEFORE became $(jp '{.status.podIP}')"
    wait_for "$POD" '{.status.phase}' '^Running$'
    [[ $(jp '{.status.containerStatuses[0].restartCount}') == 0 ]] || fail "restarted"
}

removed_file_removes_pod_and_mirror() {
    local hash
    hash=$(jp '{.metadata.annotations.kubernetes\.io/config\.hash}')
    rm "$MAN/web.yaml"
    wait_gone "$POD"
    for _ in $(seq 50); do
        ls /run/kubeling/runtime/containers 2>/dev/null | grep -q "^${hash}_" || return 0
        sleep 0.2
    done
    fail "the static pod's container is left"
}

exec_in_mirror_pod() {
    local v
    for v in 1.27 1.33; do
        [[ $(kc $v exec "$POD" -- sh -c 'echo $PORT') == 8080 ]] || fail "kubectl $v exec"
    done
}

json_manifest_in_namespace() {
    cat >"$MAN/side.json" <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"side","namespace":"kube-system"},
 "spec":{"hostNetwork":true,"containers":[{"name":"s","image":"busybox",
 "imagePullPolicy":"IfNotPresent","command":["sleep","3600"]}]}}
EOF
    for _ in $(seq 150); do
        [[ $(kc 1.33 -n kube-system get pod "side-$NODE" -o jsonpath='{.status.phase}' 2>/dev/null) == Running ]] && return 0
        sleep 0.2
    done
    kc 1.33 -n kube-system get pod "side-$NODE" -o yaml >&2
    fail "side-$NODE not Running in kube-system"
}

file_removed_while_away_removes_mirror() {
    for _ in $(seq 150); do
        kc 1.33 -n kube-system get pod "side-$NODE" >/dev/null 2>&1 || break
        sleep 0.2
    done
    ! kc 1.33 -n kube-system get pod "side-$NODE" >/dev/null 2>&1 || fail "mirror of a removed file left"
    for _ in $(seq 50); do
        ls /run/kubeling/runtime/containers 2>/dev/null | grep -q "^${SIDE_HASH}_" || return 0
        sleep 0.2
    done
    fail "the removed static pod's container is left"
}

t static_pod_runs_with_mirror static_pod_runs_with_mirror
t logs_of_mirror_pod logs_of_mirror_pod
t exec_in_mirror_pod exec_in_mirror_pod
t json_manifest_in_namespace json_manifest_in_namespace
t edit_restarts_with_new_spec edit_restarts_with_new_spec
t deleted_mirror_is_recreated deleted_mirror_is_recreated
t bad_and_hidden_manifests_change_nothing bad_and_hidden_manifests_change_nothing
BEFORE=$(jp '{.status.containerStatuses[0].containerID}')
MIRROR_BEFORE=$(jp '{.metadata.uid}')
IP_BEFORE=$(jp '{.status.podIP}')
SIDE_HASH=$(kc 1.33 -n kube-system get pod "side-$NODE" -o jsonpath='{.metadata.annotations.kubernetes\.io/config\.hash}')
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
rm -f "$MAN/side.json"
start_server
sleep 3
t server_restart_keeps_static_pod server_restart_keeps_static_pod
t file_removed_while_away_removes_mirror file_removed_while_away_removes_mirror
t removed_file_removes_pod_and_mirror removed_file_removes_pod_and_mirror
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
