#!/usr/bin/env bash
# bench/deploy/run.sh: a Deployment of REPLICAS (1000) pods on one real node, the server's own
# kubelet (--max-pods 1100, a /22 pod range per node: --node-cidr-mask-size 22, so 1,022 pod
# addresses), from `kubectl apply` to every pod Running seen by a watch; server RSS during and
# after. Image: kltest (/kltest pause, already imported). Root; its own network and mount
# namespaces like tests/e2e/test_pods.sh. Uses the release build if present.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_node deploy "$@"
REPLICAS=${REPLICAS:-1000}
KC=/usr/lib/google-cloud-sdk/bin/kubectl.1.33
ulimit -n 65536 2>/dev/null || true
# CPU accounting (less load-dependent than wall clock; docs/benchmarks.md says how much): the
# server runs in its own cpuacct cgroup (v1; v2: a cgroup with cpu.stat), its shims stay there
# (setsid keeps the cgroup), the containers are under the kubelet's cgroup root; deploy.py
# reads both (CPU_CGROUPS).
CPU_CGROUPS=
if [[ -d /sys/fs/cgroup/cpuacct ]]; then
    SRVCG=/sys/fs/cgroup/cpuacct/klbench-server-$$
    CPU_CGROUPS=$SRVCG:/sys/fs/cgroup/cpuacct/$KUBELING_TEST_CGROUP_ROOT
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    SRVCG=/sys/fs/cgroup/klbench-server-$$
    CPU_CGROUPS=$SRVCG:/sys/fs/cgroup/$KUBELING_TEST_CGROUP_ROOT
fi
PERFPID=
deploy_cleanup() {
    if [[ -n $PERFPID ]]; then # the server is perf's child: stop it, then let perf write its file
        kill "$PID" 2>/dev/null || true
        wait "$PERFPID" 2>/dev/null || true
        PID=
    fi
    bench_node_cleanup
    [[ -n $CPU_CGROUPS ]] && rmdir "$SRVCG" 2>/dev/null || true
}
trap deploy_cleanup EXIT
[[ -n $CPU_CGROUPS ]] && mkdir -p "$SRVCG"
export CPU_CGROUPS
# PERF="perf record -g -o FILE" (or "perf stat -o FILE") runs the server under it.
${CPU_CGROUPS:+bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$SRVCG"} ${PERF:-} \
    "$BIN" ${V:+-v "$V"} server --data-dir "$WORK/data" --https-listen-port 0 --bind-address 127.0.0.1 \
    --write-kubeconfig "" --kubelet-port 0 --max-pods $((REPLICAS + 100)) --cluster-cidr 10.42.0.0/16 \
    --node-cidr-mask-size 22 >"$WORK/server.log" 2>&1 &
PID=$!
if [[ -n ${PERF:-} ]]; then # PID: the server itself (its RSS), perf ends when it does
    PERFPID=$PID
    for _ in $(seq 100); do
        SPID=$(pgrep -P "$PERFPID" | head -1) && [[ -n $SPID ]] && break
        sleep 0.05
    done
    PID=$SPID
fi
for _ in $(seq 400); do
    grep -q 'running the pods of node' "$WORK/server.log" && break
    sleep 0.05
done
NODE=$(sed -n 's/.*kubelet: node \([^ ]*\) registered.*/\1/p' "$WORK/server.log" | head -1)
KCFG=$WORK/data/server/admin.kubeconfig
"$KC" --kubeconfig "$KCFG" wait --for=condition=Ready "node/$NODE" --timeout=60s >/dev/null
for _ in $(seq 100); do
    "$KC" --kubeconfig "$KCFG" get serviceaccount default >/dev/null 2>&1 && break
    sleep 0.1
done
echo "node $NODE: pods $("$KC" --kubeconfig "$KCFG" get node "$NODE" -o jsonpath='{.status.allocatable.pods}'), podCIDR $("$KC" --kubeconfig "$KCFG" get node "$NODE" -o jsonpath='{.spec.podCIDR}'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/deploy/deploy.py "$KCFG" "$KC" "$REPLICAS" kubeling.test/kltest:latest "$PID"
bench_cpu "$PID" # the whole run: start, node registration, apply, all Running, delete
