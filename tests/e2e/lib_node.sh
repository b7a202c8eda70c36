# lib_node.sh: the preamble of e2e tests that run real pods with the server's kubelet (root).
# Sourced first, with the name used when skipping: `. "$(dirname "$0")/lib_node.sh" pods`. It
# re-executes the test in its own network and mount namespaces (a tmpfs on /run/kubeling, so
# the host keeps no bridge, nftables table, mount or runtime state), sources lib.sh, puts the
# test's cgroups under kubeling-test-<pid>, and provides:
#   node_cleanup   registers `kubeling killall` of those cgroups and the bridge's removal
#                  (a test with cleanups that must run before it registers those first)
#   node_images    builds the test images offline into the agent's import directory
#   wait_node      after start_server: waits for the kubelet's Node, sets NODE
#   wait_for       NAME JSONPATH REGEX [SECONDS]: waits for a pod field
if [[ $(id -u) -ne 0 ]]; then
    echo "ok ${1:-node}_need_root # SKIP not root"
    exit 0
fi
if [[ -z "${KUBELING_NODE_UNSHARED:-}" ]]; then
    export KUBELING_NODE_UNSHARED=1
    exec unshare --net --mount --propagation private bash "$0"
fi
ip link set lo up
mkdir -p /run/kubeling && mount -t tmpfs tmpfs /run/kubeling
. "$(dirname "$0")/lib.sh"
CG=kubeling-test-$$
export E2E_KUBELET=1 # the server runs its kubelet here (lib.sh turns it off elsewhere)
export KUBELING_TEST_CGROUP_ROOT=$CG

node_cleanup() {
    E2E_CLEANUPS+=("'$KUBELING_BIN' killall --cgroup-root $CG >/dev/null 2>&1; ip link del kubeling0 2>/dev/null")
}

node_images() {
    mkdir -p "$DATA/agent/images"
    bash "$(dirname "$0")/../../rootfs/images/build.sh" "$DATA/agent/images" >/dev/null 2>&1 ||
        { echo "not ok build_images"; exit 1; }
}

wait_node() { # the kubelet registers the Node a moment after the apiserver is ready
    NODE=
    for _ in $(seq 100); do
        NODE=$(kc 1.33 get nodes -o jsonpath='{.items[*].metadata.name}' 2>/dev/null)
        [[ -n $NODE ]] && break
        sleep 0.1
    done
    [[ -n $NODE ]] || { echo "not ok node_registered"; exit 1; }
}

# wait_for NAME JSONPATH REGEX [SECONDS]: until the pod's field matches (30 s by default)
wait_for() {
    local i v
    for i in $(seq $((${4:-30} * 5))); do
        v=$(kc 1.33 get pod "$1" -o jsonpath="$2" 2>/dev/null)
        [[ $v =~ $3 ]] && return 0
        sleep 0.2
    done
    kc 1.33 get pod "$1" -o json >&2
    fail "pod $1: $2 is '$v', want /$3/"
}

# start_api / stop_api: the server without its own kubelet (the test's agent is the node), on a
# fixed port API_PORT so that the agent finds it again after a restart. Top level only (a
# check's subshell would lose SERVER_PID).
API_PORT=${API_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
start_api() {
    local n i
    n=$(grep -c 'ready; admin kubeconfig' "$E2E_TMP/server.log" 2>/dev/null)
    "$KUBELING_BIN" server --data-dir "$DATA" --https-listen-port "$API_PORT" --bind-address 127.0.0.1 \
        --write-kubeconfig "$E2E_TMP/kubeling.yaml" --disable-agent >>"$E2E_TMP/server.log" 2>&1 &
    SERVER_PID=$!
    E2E_CLEANUPS+=("kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null")
    for i in $(seq 400); do
        [[ $(grep -c 'ready; admin kubeconfig' "$E2E_TMP/server.log") -gt ${n:-0} ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$E2E_TMP/server.log"; fail "server exited"; }
        sleep 0.05
    done
    fail "server did not become ready"
}
stop_api() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
}
