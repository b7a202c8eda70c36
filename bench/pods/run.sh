#!/usr/bin/env bash
# bench/pods/run.sh: pod create -> Running seen by a watch, for N (10) pods created at once on
# the server's own kubelet (kltest image: /kltest pause). Root; runs in its own network and
# mount namespaces like tests/e2e/test_pods.sh. ROUNDS (3). Uses the release build if present.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${KUBELING_BENCH_UNSHARED:-}" ]]; then
    export KUBELING_BENCH_UNSHARED=1
    exec unshare --net --mount --propagation private bash "$0" "$@"
fi
ip link set lo up
mkdir -p /run/kubeling && mount -t tmpfs tmpfs /run/kubeling
. bench/lib.sh
bench_bin
N=${N:-10} ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d /tmp/klbench-pods.XXXXXX)
export KUBELING_TEST_CGROUP_ROOT=kubeling-bench-$$
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    "$BIN" killall --cgroup-root "$KUBELING_TEST_CGROUP_ROOT" >/dev/null 2>&1 || true
    ip link del kubeling0 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/data/agent/images"
bash rootfs/images/build.sh "$WORK/data/agent/images" >/dev/null 2>&1
"$BIN" server --data-dir "$WORK/data" --https-listen-port 0 --bind-address 127.0.0.1 \
    >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
    grep -q 'running the pods of node' "$WORK/server.log" && break
    sleep 0.05
done
NODE=$(sed -n 's/.*kubelet: node \([^ ]*\) registered.*/\1/p' "$WORK/server.log" | head -1)
for r in $(seq "$ROUNDS"); do
    echo "round $r:"
    /usr/bin/python3 bench/pods/running.py "$WORK/data/server/admin.kubeconfig" "$NODE" "$N" \
        kubeling.test/kltest:latest
    # wait until the kubelet has deleted them
    for _ in $(seq 300); do
        /usr/lib/google-cloud-sdk/bin/kubectl.1.33 --kubeconfig "$WORK/data/server/admin.kubeconfig" \
            get pods -o name 2>/dev/null | grep -q . || break
        sleep 0.1
    done
done
