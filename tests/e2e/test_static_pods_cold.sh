#!/usr/bin/env bash
# test_static_pods_cold: a `kubeling agent` that *starts* while its apiserver is down runs its
# static pods at once, as upstream's kubelet does on a control-plane node: with the state of an
# earlier run, a pod-network static pod comes up on the saved pod CIDR and a hostNetwork one
# runs; when the apiserver comes up their mirrors appear Running. A first-ever start (no state,
# no API) runs a hostNetwork static pod, while a pod-network one waits for the node's pod CIDR
# and runs once the node IPAM controller assigns it. Root, namespaces as test_pods.sh; the
# server runs without its own kubelet.
. "$(dirname "$0")/lib_node.sh" static_pods_cold
node_cleanup
unset E2E_KUBELET # the server without its kubelet: the agent is the node
start_agent() { # start_agent DIR NODE MANIFESTS
    mkdir -p "$1/agent/agent/images" "$3" # the agent's kubelet keeps its state in <data-dir>/agent
    [[ -f $1/agent/agent/images/busybox-docker.tar ]] ||
        cp "$E2E_TMP/images/"* "$1/agent/agent/images/"
    "$KUBELING_BIN" agent --data-dir "$1" --kubeconfig "$DATA/server/admin.kubeconfig" \
        --node-name "$2" --kubelet-port 0 --pod-manifest-path "$3" >>"$E2E_TMP/$2.log" 2>&1 &
    AGENT_PID=$!
    AGENT_T0=$SECONDS
    E2E_CLEANUPS+=("kill $AGENT_PID 2>/dev/null; wait $AGENT_PID 2>/dev/null")
}

stop_agent() {
    kill -TERM "$AGENT_PID"
    wait "$AGENT_PID"
    AGENT_RC=$?
}

manifest() { # manifest DIR NAME HOSTNET MESSAGE: prints MESSAGE and its eth0 address, then sleeps
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  hostNetwork: %s\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: ["sh", "-c", "echo %s; busybox ip -4 addr show dev eth0; exec sleep 3600"]\n' \
        "$2" "$3" "$4" >"$1/.$2.tmp"
    mv "$1/.$2.tmp" "$1/$2.yaml"
}

uid_of() { # uid_of NODE MANIFESTS NAME: the static pod's uid, from the agent's log
    sed -n "s|.*static pod default/$3-$1 from $2/$3.yaml (uid \([0-9a-f]*\)).*|\1|p" "$E2E_TMP/$1.log" | tail -n 1
}

running() { # running UID: the static pod's container has a live process
    local f="/run/kubeling/runtime/containers/${1}_c_0/state.json" pid
    [[ -n $1 && -f $f ]] || return 1
    pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$f")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

log_of() { # log_of AGENTDIR NODE NAME UID: the container's log file on disk
    cat "$1/agent/agent/logs/pods/default_$3-$2_$4/c/0.log" 2>/dev/null
}

log_has() { # log_has AGENTDIR NODE NAME UID TEXT
    log_of "$1" "$2" "$3" "$4" | grep -qF -- "$5"
}

gone() { # gone UID...: none of these static pods has a live container
    local u
    for u in "$@"; do running "$u" && return 1; done
    return 0
}

runs_within() { # runs_within NODE MANIFESTS NAME SECONDS
    local i
    for i in $(seq $(($4 * 5))); do
        running "$(uid_of "$1" "$2" "$3")" && { echo "# $3 running $((SECONDS - AGENT_T0)) s after the agent started"; return 0; }
        sleep 0.2
    done
    tail -n 30 "$E2E_TMP/$1.log"
    fail "static pod $3 did not run within $4 s"
}

in_cidr() { # in_cidr IP CIDR (a /24 or wider, IPv4)
    "$PY" -c 'import ipaddress,sys; sys.exit(0 if ipaddress.ip_address(sys.argv[1]) in ipaddress.ip_network(sys.argv[2]) else 1)' "$1" "$2"
}

bash "$(dirname "$0")/../../rootfs/images/build.sh" "$E2E_TMP/images" >/dev/null 2>&1 ||
    { echo "not ok build_images"; exit 1; }

A="$E2E_TMP/a"
MAN_A="$E2E_TMP/manifests-a"
NODE=e2e-cold

# ---- a first run, with the API: the agent gets its state (pod CIDR, pod network) -------------
start_api
start_agent "$A" "$NODE" "$MAN_A"

first_run_saves_the_pod_cidr() {
    manifest "$MAN_A" warm false warm-started
    wait_for "warm-$NODE" '{.status.phase}' '^Running$' 60
    local cidr
    cidr=$(kc 1.33 get node "$NODE" -o jsonpath='{.spec.podCIDR}')
    [[ $cidr == */* ]] || fail "the node has no pod CIDR"
    until_ok 10 test -f "$A/agent/pod-cidr" || fail "no $A/agent/pod-cidr"
    [[ $(cat "$A/agent/pod-cidr") == "$cidr" ]] || fail "saved $(cat "$A/agent/pod-cidr"), the Node has $cidr"
}
t first_run_saves_the_pod_cidr first_run_saves_the_pod_cidr
CIDR=$(cat "$A/agent/pod-cidr")
WARM_START=$(kc 1.33 get pod "warm-$NODE" -o jsonpath='{.status.startTime}')
WARM_IP=$(kc 1.33 get pod "warm-$NODE" -o jsonpath='{.status.podIP}')
stop_agent
stop_api

# ---- the agent alone: the API is down from the start -------------------------------------------
: >"$E2E_TMP/$NODE.log"
manifest "$MAN_A" cold false cold-started
manifest "$MAN_A" coldhost true coldhost-started
start_agent "$A" "$NODE" "$MAN_A"

cold_start_runs_static_pods_without_the_api() {
    runs_within "$NODE" "$MAN_A" cold 20
    runs_within "$NODE" "$MAN_A" coldhost 20
    running "$(uid_of "$NODE" "$MAN_A" warm)" || fail "the static pod of the earlier run is not running"
    grep -qF "starting the static pods of node $NODE before the API answers" "$E2E_TMP/$NODE.log" ||
        fail "no early start logged"
    grep -qF "pod CIDR $CIDR (from $A/agent/pod-cidr" "$E2E_TMP/$NODE.log" || fail "the saved pod CIDR was not used"
}

cold_pod_network_pod_has_an_address_of_the_saved_cidr() {
    local uid ip
    uid=$(uid_of "$NODE" "$MAN_A" cold)
    until_ok 10 log_has "$A" "$NODE" cold "$uid" 'inet ' ||
        { log_of "$A" "$NODE" cold "$uid"; fail "no address in the container's log"; }
    log_has "$A" "$NODE" cold "$uid" cold-started || fail "the container's output is not in its log"
    ip=$(log_of "$A" "$NODE" cold "$uid" | sed -n 's|.*inet \([0-9.]*\)/.*|\1|p' | head -n 1)
    in_cidr "$ip" "$CIDR" || fail "pod address $ip is not in the saved pod CIDR $CIDR"
    uid=$(uid_of "$NODE" "$MAN_A" coldhost)
    until_ok 10 log_has "$A" "$NODE" coldhost "$uid" coldhost-started || fail "no output of the hostNetwork pod"
}

mirrors_appear_when_the_api_comes_up() {
    local n uid
    for n in cold coldhost warm; do
        wait_for "$n-$NODE" '{.status.phase}' '^Running$' 60
        uid=$(uid_of "$NODE" "$MAN_A" "$n")
        [[ $(kc 1.33 get pod "$n-$NODE" -o jsonpath='{.status.containerStatuses[0].containerID}') == "kubeling://${uid}_c_0" ]] ||
            fail "the mirror of $n does not show the container started offline"
        [[ $(kc 1.33 get pod "$n-$NODE" -o jsonpath='{.status.containerStatuses[0].restartCount}') == 0 ]] || fail "$n restarted"
    done
    in_cidr "$(kc 1.33 get pod "cold-$NODE" -o jsonpath='{.status.podIP}')" "$CIDR" || fail "cold's podIP is not in $CIDR"
    # the pod adopted without the API keeps the address and start time its mirror had
    until_ok 10 test "$(kc 1.33 get pod "warm-$NODE" -o jsonpath='{.status.podIP}')" == "$WARM_IP" ||
        fail "warm's podIP is $(kc 1.33 get pod "warm-$NODE" -o jsonpath='{.status.podIP}'), was $WARM_IP"
    [[ $(kc 1.33 get pod "warm-$NODE" -o jsonpath='{.status.startTime}') == "$WARM_START" ]] ||
        fail "warm's startTime is $(kc 1.33 get pod "warm-$NODE" -o jsonpath='{.status.startTime}'), was $WARM_START"
    [[ $(kc 1.33 get node "$NODE" -o jsonpath='{.spec.podCIDR}') == "$CIDR" ]] || fail "the node's pod CIDR changed"
}

agent_stops_cleanly() { # under ASan: no leaks either
    [[ $AGENT_RC -eq 0 ]] || { tail -n 40 "$E2E_TMP/$NODE.log"; fail "agent exited $AGENT_RC"; }
}

t cold_start_runs_static_pods_without_the_api cold_start_runs_static_pods_without_the_api
t cold_pod_network_pod_has_an_address_of_the_saved_cidr cold_pod_network_pod_has_an_address_of_the_saved_cidr
start_api
t mirrors_appear_when_the_api_comes_up mirrors_appear_when_the_api_comes_up
# A node of an earlier version (no saved CIDR, its pod network in use): the Node's is taken and
# saved again, the running pod-network pod is adopted.
stop_agent
rm -f "$A/agent/pod-cidr"
start_agent "$A" "$NODE" "$MAN_A"

missing_saved_cidr_is_taken_from_the_node() {
    until_ok 30 test -f "$A/agent/pod-cidr" || { tail -n 30 "$E2E_TMP/$NODE.log"; fail "the pod CIDR was not saved again"; }
    [[ $(cat "$A/agent/pod-cidr") == "$CIDR" ]] || fail "saved $(cat "$A/agent/pod-cidr"), want $CIDR"
    running "$(uid_of "$NODE" "$MAN_A" cold)" || fail "the pod-network static pod stopped"
    wait_for "cold-$NODE" '{.status.phase}' '^Running$' 30
    [[ $(kc 1.33 get pod "cold-$NODE" -o jsonpath='{.status.containerStatuses[0].restartCount}') == 0 ]] || fail "cold restarted"
}
t missing_saved_cidr_is_taken_from_the_node missing_saved_cidr_is_taken_from_the_node

UIDS_A=("$(uid_of "$NODE" "$MAN_A" warm)" "$(uid_of "$NODE" "$MAN_A" cold)" "$(uid_of "$NODE" "$MAN_A" coldhost)")
rm -f "$MAN_A"/*.yaml
until_ok 30 gone "${UIDS_A[@]}" || echo "# the static pods of $NODE were still running"
stop_agent
t agent_stops_cleanly agent_stops_cleanly
stop_api

# ---- a first-ever start: no state, no API ----------------------------------------------------
B="$E2E_TMP/b"
MAN_B="$E2E_TMP/manifests-b"
NEW=e2e-fresh
mkdir -p "$MAN_B"
manifest "$MAN_B" fresh true fresh-started
manifest "$MAN_B" freshnet false freshnet-started
start_agent "$B" "$NEW" "$MAN_B"

first_start_runs_a_host_network_static_pod() {
    runs_within "$NEW" "$MAN_B" fresh 20
    until_ok 10 log_has "$B" "$NEW" fresh "$(uid_of "$NEW" "$MAN_B" fresh)" fresh-started ||
        fail "no output of the hostNetwork pod"
    until_ok 10 grep -q "pod default/freshnet-$NEW waits for the node's pod CIDR" "$E2E_TMP/$NEW.log" ||
        { tail -n 30 "$E2E_TMP/$NEW.log"; fail "the pod-network static pod does not wait for a pod CIDR"; }
    ! running "$(uid_of "$NEW" "$MAN_B" freshnet)" || fail "a pod-network pod runs without a pod CIDR"
    [[ ! -e $B/agent/pod-cidr ]] || fail "a pod CIDR was saved without the API"
}

pod_network_pod_runs_once_the_cidr_is_assigned() {
    local cidr
    wait_for "freshnet-$NEW" '{.status.phase}' '^Running$' 60
    wait_for "fresh-$NEW" '{.status.phase}' '^Running$' 60
    cidr=$(kc 1.33 get node "$NEW" -o jsonpath='{.spec.podCIDR}')
    in_cidr "$(kc 1.33 get pod "freshnet-$NEW" -o jsonpath='{.status.podIP}')" "$cidr" || fail "freshnet's podIP is not in $cidr"
    [[ $(cat "$B/agent/pod-cidr") == "$cidr" ]] || fail "the assigned pod CIDR was not saved"
}

t first_start_runs_a_host_network_static_pod first_start_runs_a_host_network_static_pod
start_api
t pod_network_pod_runs_once_the_cidr_is_assigned pod_network_pod_runs_once_the_cidr_is_assigned
rm -f "$MAN_B"/*.yaml
stop_agent
t fresh_agent_stops_cleanly agent_stops_cleanly
stop_api
