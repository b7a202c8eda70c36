#!/usr/bin/env bash
# test_node: `kubeling server` registers its own node (Ready, wide columns, describe), renews
# its Lease, re-registers a deleted Node, keeps one Node across restarts; --disable-agent gives
# none; `kubeling agent --kubeconfig` registers another node and reconnects when the apiserver
# goes away and comes back.
. "$(dirname "$0")/lib.sh"

# The heartbeat is every 10 s by default; the test shortens it (documented test-only knob).
export KUBELING_TEST_LEASE_INTERVAL_MS=500
NODE=$(hostname | tr 'A-Z' 'a-z')

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_at VAR DIR PORT LOG [FLAGS...]: a server on a fixed port (restarts keep the port the
# agent uses); sets VAR to its pid once it logged that it is ready.
start_at() {
    local var=$1 dir=$2 port=$3 log=$4 i n
    shift 4
    n=$(grep -c 'ready; admin kubeconfig' "$log" 2>/dev/null)
    "$KUBELING_BIN" server --data-dir "$dir" --https-listen-port "$port" \
        --bind-address 127.0.0.1 --write-kubeconfig "$dir.kubeling.yaml" "$@" >>"$log" 2>&1 &
    local pid=$!
    E2E_CLEANUPS+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
    printf -v "$var" '%s' "$pid"
    for i in $(seq 200); do
        [[ $(grep -c 'ready; admin kubeconfig' "$log" 2>/dev/null) -gt ${n:-0} ]] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "server exited"; }
        sleep 0.05
    done
    fail "server did not start"
}

# wait_for SECONDS CMD...: retries CMD until it succeeds.
wait_for() {
    local secs=$1 i
    shift
    for i in $(seq $((secs * 10))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@"
}

kd() { # kd DATA-DIR VERSION ARGS...: kubectl against another server's admin kubeconfig
    local d=$1 v=$2
    shift 2
    "$KUBECTL_DIR/kubectl.$v" --kubeconfig "$d/server/admin.kubeconfig" "$@"
}

node_ready() { # node_ready DATA-DIR NAME
    [[ $(kd "$1" 1.33 get node "$2" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

renew_time() { # renew_time DATA-DIR NAME
    kd "$1" 1.33 get lease -n kube-node-lease "$2" -o jsonpath='{.spec.renewTime}'
}

MAIN_PORT=$(free_port)
start_at SERVER_PID "$DATA" "$MAIN_PORT" "$E2E_TMP/server.log"

node_ready_with_wide_columns() {
    wait_for 5 node_ready "$DATA" "$NODE" || fail "node $NODE not Ready"
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/w-$v" kc "$v" get nodes -o wide
        expect_rc 0 "kubectl $v get nodes -o wide"
        expect_grep "$E2E_TMP/w-$v" '^NAME +STATUS +ROLES +AGE +VERSION +INTERNAL-IP +EXTERNAL-IP +OS-IMAGE +KERNEL-VERSION +CONTAINER-RUNTIME$'
        expect_grep "$E2E_TMP/w-$v" "^$NODE +Ready +control-plane,master +[0-9]+s +v1\.31\.0\+kubeling +[0-9.]+ +<none> +.+ +$(uname -r | sed 's/[.+]/\\&/g') +kubeling://[0-9]"
        expect_lines "$E2E_TMP/w-$v" 2
    done
    grep -q "$(. /etc/os-release && echo "$PRETTY_NAME" | sed 's/[()]/./g')" "$E2E_TMP/w-1.33" ||
        fail "OS-IMAGE is not PRETTY_NAME"
}

node_object_fields() {
    run_cmd "$E2E_TMP/n.json" kc 1.33 get node "$NODE" -o json
    expect_rc 0 "get node -o json"
    "$PY" - "$E2E_TMP/n.json" "$(nproc)" <<'PYEOF' || fail "node fields"
import json, sys
n = json.load(open(sys.argv[1]))
md, spec, st = n["metadata"], n["spec"], n["status"]
l = md["labels"]
assert l["kubernetes.io/hostname"] == md["name"] and l["kubernetes.io/os"] == "linux", l
assert l["kubernetes.io/arch"] == l["beta.kubernetes.io/arch"] == "amd64", l
assert l["node-role.kubernetes.io/control-plane"] == "true", l
assert spec["podCIDR"] == "10.42.0.0/24" and spec["podCIDRs"] == ["10.42.0.0/24"], spec
cap = st["capacity"]
assert cap["cpu"] == sys.argv[2] and cap["pods"] == "110", cap
assert cap["memory"].endswith("Ki") and cap["ephemeral-storage"][-2:] in ("Ki", "Mi", "Gi"), cap
assert st["allocatable"] == cap, st["allocatable"]
assert [c["type"] for c in st["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
ready = st["conditions"][3]
assert ready["reason"] == "KubeletReady" and ready["message"] == "kubelet is posting ready status", ready
assert {a["type"] for a in st["addresses"]} == {"InternalIP", "Hostname"}, st["addresses"]
assert st["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
ni = st["nodeInfo"]
assert ni["operatingSystem"] == "linux" and ni["architecture"] == "amd64", ni
assert ni["containerRuntimeVersion"].startswith("kubeling://"), ni
assert ni["kubeletVersion"] == "v1.31.0+kubeling" and ni["bootID"] and ni["machineID"], ni
PYEOF
}

kubelet_uses_a_node_credential() {
    local kcfg="$DATA/agent/kubelet.kubeconfig"
    [[ $(stat -c %a "$kcfg") == 600 ]] || fail "kubelet.kubeconfig mode $(stat -c %a "$kcfg")"
    [[ $(stat -c %a "$DATA/server/tls/node-$NODE.key") == 600 ]] || fail "node key mode"
    run_cmd "$E2E_TMP/subj" openssl x509 -in "$DATA/server/tls/node-$NODE.crt" -noout -subject
    expect_grep "$E2E_TMP/subj" "O ?= ?system:nodes, CN ?= ?system:node:$NODE"
    # the Node's writers are the kubelet (by its User-Agent), not an admin tool; its status
    # writes have an entry of their own (subresource status) once a heartbeat changed a field;
    # the controller manager's node IPAM wrote spec.podCIDR
    local managers
    managers=$(kc 1.33 get node "$NODE" -o jsonpath='{.metadata.managedFields[*].manager}')
    [[ $(tr ' ' '\n' <<<"$managers" | sort -u | xargs) == "kubelet kubeling-controller-manager" ]] ||
        fail "managers: $managers"
}

python_client_reads_node_and_lease() { # typed models: quantities, MicroTime, daemonEndpoints
    "$PY" - "$DATA/server/admin.kubeconfig" "$NODE" <<'PYEOF' || fail "python client"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
n = client.CoreV1Api().read_node(sys.argv[2])
assert n.status.daemon_endpoints.kubelet_endpoint.port == 10250
assert [c.type for c in n.status.conditions][-1] == "Ready"
assert n.status.node_info.container_runtime_version.startswith("kubeling://")
assert any(x.metadata.name == sys.argv[2] for x in client.CoreV1Api().list_node().items)
l = client.CoordinationV1Api().read_namespaced_lease(sys.argv[2], "kube-node-lease")
assert l.spec.renew_time is not None and l.spec.lease_duration_seconds == 40, l.spec
PYEOF
}

describe_node_works() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/d-$v" kc "$v" describe node "$NODE"
        expect_rc 0 "kubectl $v describe node"
        expect_grep "$E2E_TMP/d-$v" '^  Ready +True .* KubeletReady +kubelet is posting ready status'
        expect_grep "$E2E_TMP/d-$v" "^  HolderIdentity: +$NODE"
        expect_grep "$E2E_TMP/d-$v" '^PodCIDR: +10\.42\.0\.0/24'
        expect_grep "$E2E_TMP/d-$v" '^Non-terminated Pods: +\(0 in total\)'
    done
}

lease_renews() {
    run_cmd "$E2E_TMP/l" kc 1.27 get lease -n kube-node-lease "$NODE" -o json
    expect_rc 0 "get lease"
    "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]))["spec"]; assert s["leaseDurationSeconds"]==40 and s["holderIdentity"]==sys.argv[2], s' \
        "$E2E_TMP/l" "$NODE" || fail "lease spec"
    local t1 t2
    t1=$(renew_time "$DATA" "$NODE")
    [[ $t1 =~ ^[0-9-]+T[0-9:]+\.[0-9]{6}Z$ ]] || fail "renewTime $t1 is not a MicroTime"
    sleep 1.2
    t2=$(renew_time "$DATA" "$NODE")
    [[ "$t2" > "$t1" ]] || fail "renewTime did not advance: $t1 -> $t2"
}

deleted_node_is_registered_again() {
    local uid1 uid2
    uid1=$(kc 1.33 get node "$NODE" -o jsonpath='{.metadata.uid}')
    run_cmd "$E2E_TMP/del" kc 1.33 delete node "$NODE"
    expect_rc 0 "delete node"
    wait_for 5 node_ready "$DATA" "$NODE" || fail "node not registered again"
    uid2=$(kc 1.33 get node "$NODE" -o jsonpath='{.metadata.uid}')
    [[ -n $uid2 && $uid1 != "$uid2" ]] || fail "same uid $uid1 $uid2"
    grep -q "node $NODE was deleted; registering it again" "$E2E_TMP/server.log" || fail "no log line"
    # the lease follows the new Node as its owner
    wait_for 3 bash -c "[[ \$('$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get lease -n kube-node-lease '$NODE' -o jsonpath='{.metadata.ownerReferences[0].uid}') == '$uid2' ]]" ||
        fail "lease owner is not the new node"
}

restart_keeps_one_node() {
    wait_for 5 node_ready "$DATA" "$NODE" || fail "not Ready after restart"
    run_cmd "$E2E_TMP/r" kc 1.27 get nodes --no-headers
    expect_lines "$E2E_TMP/r" 2 # this node and e2e-second (stopped, its Node stays)
    expect_grep "$E2E_TMP/r" "^$NODE +Ready"
    [[ $(kc 1.33 get node "$NODE" -o jsonpath='{.spec.podCIDR}') == 10.42.0.0/24 ]] || fail "pod CIDR changed"
    [[ $(kc 1.33 get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}') == "$READY_SINCE" ]] ||
        fail "Ready lastTransitionTime changed although Ready stayed True"
}

disable_agent_gives_no_node() {
    sleep 0.5
    run_cmd "$E2E_TMP/none" kd "$AGENT_DATA" 1.33 get nodes
    expect_rc 0 "get nodes"
    expect_grep "$E2E_TMP/none" '^No resources found'
}

agent_without_kubeconfig_explains() {
    run_cmd "$E2E_TMP/a0" "$KUBELING_BIN" agent --data-dir "$E2E_TMP/a0d" --server "https://127.0.0.1:$AGENT_PORT" --token t
    expect_rc 1 "agent --server --token"
    expect_grep "$E2E_TMP/a0" 'not built yet .*--kubeconfig'
    run_cmd "$E2E_TMP/a1" "$KUBELING_BIN" agent --data-dir "$E2E_TMP/a0d" --kubeconfig "$E2E_TMP/missing"
    expect_rc 1 "missing kubeconfig"
    expect_grep "$E2E_TMP/a1" 'missing'
    run_cmd "$E2E_TMP/a2" "$KUBELING_BIN" agent --data-dir "$E2E_TMP/a0d" \
        --kubeconfig "$AGENT_DATA/server/admin.kubeconfig" --node-name Bad_Name
    expect_rc 1 "bad node name"
    expect_grep "$E2E_TMP/a2" 'not a lower-case DNS subdomain'
    run_cmd "$E2E_TMP/a3" "$KUBELING_BIN" agent --data-dir "$E2E_TMP/a0d" \
        --kubeconfig "$AGENT_DATA/server/admin.kubeconfig" --node-ip 10.0.0.300 --node-label 'bad key=x'
    expect_rc 1 "bad node IP"
    expect_grep "$E2E_TMP/a3" 'node-ip `10.0.0.300` is not an IP address'
    run_cmd "$E2E_TMP/a4" "$KUBELING_BIN" agent --data-dir "$E2E_TMP/a0d" \
        --kubeconfig "$AGENT_DATA/server/admin.kubeconfig" --node-label 'bad key=x'
    expect_rc 1 "bad node label"
    expect_grep "$E2E_TMP/a4" 'node-label `bad key=x`: invalid key or value'
    run_cmd "$E2E_TMP/a5" "$KUBELING_BIN" agent --data-dir "$E2E_TMP/a0d" \
        --kubeconfig "$AGENT_DATA/server/admin.kubeconfig" --cluster-cidr 10.42.0.0/26
    expect_rc 1 "bad cluster CIDR"
    expect_grep "$E2E_TMP/a5" 'cluster-cidr `10.42.0.0/26`'
}

agent_registers_a_node() {
    wait_for 5 node_ready "$AGENT_DATA" e2e-agent || { cat "$E2E_TMP/agent.log"; fail "agent node not Ready"; }
    run_cmd "$E2E_TMP/an" kd "$AGENT_DATA" 1.27 get nodes -L zone --no-headers
    expect_lines "$E2E_TMP/an" 1
    expect_grep "$E2E_TMP/an" '^e2e-agent +Ready +<none> .* lab$'
    [[ $(kd "$AGENT_DATA" 1.33 get node e2e-agent -o jsonpath='{.spec.podCIDR}') == 10.42.0.0/24 ]] || fail "agent pod CIDR"
}

second_node_gets_next_cidr() {
    # an agent joining the main server (which has its own node) takes the next /24
    wait_for 5 node_ready "$DATA" e2e-second || { cat "$E2E_TMP/agent2.log"; fail "second node not Ready"; }
    run_cmd "$E2E_TMP/two" kc 1.33 get nodes --no-headers
    expect_lines "$E2E_TMP/two" 2
    [[ $(kc 1.33 get node e2e-second -o jsonpath='{.spec.podCIDR}') == 10.42.1.0/24 ]] || fail "second pod CIDR"
}

agent_survives_apiserver_outage() {
    [[ $AGENT_ALIVE == yes ]] || { tail "$E2E_TMP/agent.log"; fail "agent died while the apiserver was away"; }
    grep -q 'connection refused' "$E2E_TMP/agent.log" || fail "the agent did not notice the outage"
}

agent_reconnects_after_apiserver_restart() {
    wait_for 10 bash -c "[[ \$('$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$AGENT_DATA/server/admin.kubeconfig' get lease -n kube-node-lease e2e-agent -o jsonpath='{.spec.renewTime}') > '$BACK' ]]" ||
        { tail "$E2E_TMP/agent.log"; fail "lease not renewed after the apiserver came back"; }
    # the node watch is re-established too: a deletion is noticed again
    kd "$AGENT_DATA" 1.33 delete node e2e-agent >/dev/null
    wait_for 10 node_ready "$AGENT_DATA" e2e-agent || fail "agent did not re-register after reconnecting"
}

stopped_cleanly() { # stopped_cleanly NAME RC LOG
    [[ $2 -eq 0 ]] || { tail -n 30 "$3"; fail "$1 exited $2"; }
}

t node_ready_with_wide_columns node_ready_with_wide_columns
t node_object_fields node_object_fields
t kubelet_uses_a_node_credential kubelet_uses_a_node_credential
t describe_node_works describe_node_works
t python_client_reads_node_and_lease python_client_reads_node_and_lease
t lease_renews lease_renews
t deleted_node_is_registered_again deleted_node_is_registered_again

AGENT_DATA="$E2E_TMP/agent-srv"
AGENT_PORT=$(free_port)
start_at AGENT_SRV_PID "$AGENT_DATA" "$AGENT_PORT" "$E2E_TMP/agent-srv.log" --disable-agent
t disable_agent_gives_no_node disable_agent_gives_no_node
t agent_without_kubeconfig_explains agent_without_kubeconfig_explains

"$KUBELING_BIN" agent --data-dir "$E2E_TMP/agent" --kubeconfig "$AGENT_DATA/server/admin.kubeconfig" \
    --node-name e2e-agent --node-label zone=lab -v 2 >>"$E2E_TMP/agent.log" 2>&1 &
AGENT_PID=$!
E2E_CLEANUPS+=("kill $AGENT_PID 2>/dev/null; wait $AGENT_PID 2>/dev/null")
t agent_registers_a_node agent_registers_a_node

"$KUBELING_BIN" agent --data-dir "$E2E_TMP/agent2" --kubeconfig "$DATA/server/admin.kubeconfig" \
    --node-name e2e-second >>"$E2E_TMP/agent2.log" 2>&1 &
AGENT2_PID=$!
E2E_CLEANUPS+=("kill $AGENT2_PID 2>/dev/null; wait $AGENT2_PID 2>/dev/null")
t second_node_gets_next_cidr second_node_gets_next_cidr
kill -TERM "$AGENT2_PID"
wait "$AGENT2_PID"
AGENT2_RC=$?
second_agent_stops_cleanly() { stopped_cleanly agent "$AGENT2_RC" "$E2E_TMP/agent2.log"; }
t second_agent_stops_cleanly second_agent_stops_cleanly

# The apiserver goes away for a while and comes back on the same port.
kill -TERM "$AGENT_SRV_PID"
wait "$AGENT_SRV_PID" 2>/dev/null
# the agent's reconnect attempts (back-off from 200 ms) meet a closed port; on a loaded
# machine the first one may take a while
wait_for 15 grep -q 'connection refused' "$E2E_TMP/agent.log" >/dev/null 2>&1
AGENT_ALIVE=no
kill -0 "$AGENT_PID" 2>/dev/null && AGENT_ALIVE=yes
BACK=$(date -u +%Y-%m-%dT%H:%M:%S)
start_at AGENT_SRV_PID "$AGENT_DATA" "$AGENT_PORT" "$E2E_TMP/agent-srv.log" --disable-agent
t agent_survives_apiserver_outage agent_survives_apiserver_outage
t agent_reconnects_after_apiserver_restart agent_reconnects_after_apiserver_restart

# The server restarts: still one Node for this machine, Ready since before.
READY_SINCE=$(kc 1.33 get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_at SERVER_PID "$DATA" "$MAIN_PORT" "$E2E_TMP/server.log"
t restart_keeps_one_node restart_keeps_one_node

# Everything stops cleanly (under ASan: no leaks either).
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
AGENT_RC=$?
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
SERVER_RC=$?
kill -TERM "$AGENT_SRV_PID"
wait "$AGENT_SRV_PID"
AGENT_SRV_RC=$?
agent_stops_cleanly() { stopped_cleanly agent "$AGENT_RC" "$E2E_TMP/agent.log"; }
servers_stop_cleanly() {
    stopped_cleanly server "$SERVER_RC" "$E2E_TMP/server.log"
    stopped_cleanly server "$AGENT_SRV_RC" "$E2E_TMP/agent-srv.log"
}
t agent_stops_cleanly agent_stops_cleanly
t servers_stop_cleanly servers_stop_cleanly
