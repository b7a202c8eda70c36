#!/usr/bin/env bash
# bench/controllers/run.sh: scheduler throughput through the API (issue 6's benchmark): NODES
# (100) simulated nodes (Ready Node objects, 16 cpu, 64Gi, 110 pods; no kubelet) and PODS (5000)
# pending pods (100m, 128Mi). The pods are created while the server runs with
# --disable-scheduler; the server is then restarted with its scheduler and the time from the
# restarted server's readiness to the last binding seen by a watch is measured (informer lists,
# every filter and score, the binding POSTs and their commits), plus the binding rate over the
# middle 90% of the pods. ROUNDS (3). Uses the release build if present.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_bin
NODES=${NODES:-100} PODS=${PODS:-5000} ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
WORK=$(mktemp -d /tmp/klbench-ctrl.XXXXXX)
PID=
stop() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
cleanup() { stop; rm -rf "$WORK"; }
trap cleanup EXIT
start() { # start [FLAGS...]
    : >"$WORK/server.log"
    "$BIN" server --data-dir "$WORK/data" --https-listen-port 0 --bind-address 127.0.0.1 \
        --disable-agent --write-kubeconfig "" "$@" >>"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 400); do
        grep -q 'ready; admin kubeconfig' "$WORK/server.log" && return 0
        sleep 0.025
    done
    echo "server did not start" >&2
    exit 1
}
for r in $(seq "$ROUNDS"); do
    rm -rf "$WORK/data"
    start --disable-scheduler
    "$PY" bench/controllers/sched_api.py fill "$WORK/data/server/admin.kubeconfig" "$NODES" "$PODS"
    stop
    t0=$(date +%s.%N)
    start
    ready=$(date +%s.%N)
    "$PY" bench/controllers/sched_api.py wait "$WORK/data/server/admin.kubeconfig" "$PODS" "$ready" \
        "$(echo "$ready - $t0" | bc)" "$r"
    bench_cpu "$PID" # the server with the scheduler: start, informer lists, 5000 bindings
    stop
done
