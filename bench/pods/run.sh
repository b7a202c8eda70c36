#!/usr/bin/env bash
# bench/pods/run.sh: pod create -> Running seen by a watch on the server's own kubelet (kltest
# image: /kltest pause), clusterloader2's node-throughput shape by default: N (100) pods created
# at RATE (5) pods/s, bound by the scheduler and then (BIND=both, the default) pre-bound with
# spec.nodeName; BIND=scheduler or BIND=node for one of them. RATE=0: all N created at once
# (the earlier mode, e.g. N=10 RATE=0). V=2: the kubelet logs per-pod job timings; KEEP_LOG=FILE
# keeps the server's log; BASE_BIN=PATH measures another kubeling binary. Prints p50/p99 per pod, the server's RSS before and
# with the N pods running, and the shims' RSS. ROUNDS (1) per binding. Root; runs in its own
# network and mount namespaces like tests/e2e/test_pods.sh. Uses the release build if present.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_node pods "$@"
BIN=${BASE_BIN:-$BIN} # BASE_BIN=/path/to/kubeling: measure another build (an A/B run)
N=${N:-100} RATE=${RATE:-5} BIND=${BIND:-both} ROUNDS=${ROUNDS:-1}
KC=/usr/lib/google-cloud-sdk/bin/kubectl.1.33
# --max-pods and a wider pod range only when N needs them (so a build without the flags runs)
big=()
((N > 110)) && big+=(--max-pods "$N")
((N > 250)) && big+=(--node-cidr-mask-size 22)
"$BIN" ${V:+-v "$V"} server --data-dir "$WORK/data" --https-listen-port 0 --bind-address 127.0.0.1 \
    --write-kubeconfig "" --kubelet-port 0 "${big[@]}" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 400); do
    grep -q 'running the pods of node' "$WORK/server.log" && break
    sleep 0.05
done
NODE=$(sed -n 's/.*kubelet: node \([^ ]*\) registered.*/\1/p' "$WORK/server.log" | head -1)
KCFG=$WORK/data/server/admin.kubeconfig
"$KC" --kubeconfig "$KCFG" wait --for=condition=Ready "node/$NODE" --timeout=60s >/dev/null
# the default service account (the scheduler-bound pods do not need it, admission might)
for _ in $(seq 100); do
    "$KC" --kubeconfig "$KCFG" get serviceaccount default >/dev/null 2>&1 && break
    sleep 0.1
done
case $BIND in both) binds="scheduler node" ;; *) binds=$BIND ;; esac
for b in $binds; do
    for r in $(seq "$ROUNDS"); do
        echo "round $r, $N pods, bound by $b, load average $(cut -d' ' -f1-3 /proc/loadavg):"
        /usr/bin/python3 bench/pods/running.py "$KCFG" "$NODE" "$N" kubeling.test/kltest:latest \
            "$RATE" "$b" "$PID" "$BIN"
    done
done
