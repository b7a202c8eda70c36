#!/usr/bin/env bash
# test_static_pods_agent: static pods of a `kubeling agent` (--pod-manifest-path) while its
# apiserver goes away: a static pod keeps running, one dropped in during the outage starts from
# its file at once, and its mirror pod is created when the apiserver is back. Root, namespaces
# as test_pods.sh; the server runs without its own kubelet.
. "$(dirname "$0")/lib_node.sh" static_pods_agent
node_cleanup
unset E2E_KUBELET # the server without its kubelet: the agent is the node
AGENT_DIR="$E2E_TMP/agent"
MAN="$E2E_TMP/manifests"
NODE=e2e-static
mkdir -p "$AGENT_DIR/agent/agent/images" # the agent's kubelet keeps its state in <data-dir>/agent
bash "$(dirname "$0")/../../rootfs/images/build.sh" "$AGENT_DIR/agent/agent/images" >/dev/null 2>&1 ||
    { echo "not ok build_images"; exit 1; }
start_api
"$KUBELING_BIN" agent --data-dir "$AGENT_DIR" --kubeconfig "$DATA/server/admin.kubeconfig" \
    --node-name "$NODE" --kubelet-port 0 --pod-manifest-path "$MAN" >>"$E2E_TMP/agent.log" 2>&1 &
AGENT_PID=$!
E2E_CLEANUPS+=("kill $AGENT_PID 2>/dev/null; wait $AGENT_PID 2>/dev/null")

manifest() { # manifest NAME
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: ["sleep", "3600"]\n' "$1" >"$MAN/.$1.tmp"
    mv "$MAN/.$1.tmp" "$MAN/$1.yaml"
}

uid_of() { # the static pod's uid, from the agent's log
    sed -n "s|.*static pod default/$1-$NODE from $MAN/$1.yaml (uid \([0-9a-f]*\)).*|\1|p" "$E2E_TMP/agent.log" | tail -n 1
}

running() { # running UID: the static pod's container has a live process
    local f="/run/kubeling/runtime/containers/${1}_c_0/state.json" pid
    [[ -n $1 && -f $f ]] || return 1
    pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$f")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

agent_flag_directory_and_mirror() {
    for _ in $(seq 150); do [[ -d $MAN ]] && break; sleep 0.2; done
    [[ -d $MAN ]] || fail "--pod-manifest-path $MAN was not created"
    manifest before
    wait_for "before-$NODE" '{.status.phase}' '^Running$' 60
    [[ $(kc 1.33 get pod "before-$NODE" -o jsonpath='{.spec.nodeName}') == "$NODE" ]] || fail "nodeName"
}

static_pod_starts_without_the_api() {
    manifest during
    for _ in $(seq 150); do
        running "$(uid_of during)" && break
        sleep 0.2
    done
    running "$(uid_of during)" || { tail -n 20 "$E2E_TMP/agent.log"; fail "the pod dropped in during the outage did not start"; }
    running "$(uid_of before)" || fail "the running static pod stopped with the API"
    kill -0 "$AGENT_PID" || fail "agent died"
}

mirror_created_when_the_api_is_back() {
    wait_for "during-$NODE" '{.status.phase}' '^Running$' 60
    [[ $(kc 1.33 get pod "during-$NODE" -o jsonpath='{.status.containerStatuses[0].containerID}') == "kubeling://$(uid_of during)_c_0" ]] ||
        fail "the mirror does not show the container started offline"
    [[ $(kc 1.33 get pod "during-$NODE" -o jsonpath='{.status.containerStatuses[0].restartCount}') == 0 ]] || fail "restarted"
    wait_for "before-$NODE" '{.status.phase}' '^Running$'
}

removed_files_remove_mirrors() {
    rm -f "$MAN/before.yaml" "$MAN/during.yaml"
    for _ in $(seq 150); do
        kc 1.33 get pod "before-$NODE" >/dev/null 2>&1 || kc 1.33 get pod "during-$NODE" >/dev/null 2>&1 || break
        sleep 0.2
    done
    ! kc 1.33 get pod "before-$NODE" "during-$NODE" >/dev/null 2>&1 || fail "mirrors left"
}

agent_stops_cleanly() { # under ASan: no leaks either
    [[ $AGENT_RC -eq 0 ]] || { tail -n 40 "$E2E_TMP/agent.log"; fail "agent exited $AGENT_RC"; }
}

t agent_flag_directory_and_mirror agent_flag_directory_and_mirror
kill -TERM "$SERVER_PID" # the apiserver goes away (servers start and stop here, not in a check's subshell)
wait "$SERVER_PID" 2>/dev/null
t static_pod_starts_without_the_api static_pod_starts_without_the_api
start_api
t mirror_created_when_the_api_is_back mirror_created_when_the_api_is_back
t removed_files_remove_mirrors removed_files_remove_mirrors
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
AGENT_RC=$?
t agent_stops_cleanly agent_stops_cleanly
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
