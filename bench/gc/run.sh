#!/usr/bin/env bash
# bench/gc/run.sh: garbage collection throughput: a ReplicaSet with N (1000) pods is deleted with
# kubectl (propagationPolicy Background) and the time until the garbage collector has deleted
# every pod is measured (no scheduler and no kubelet: the pods are unbound and go at once, so
# this is the collector's GET owner / GET item / DELETE path plus the apiserver). Also the
# server's RSS with the pods, and after. ROUNDS (3). Uses the release build if present.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_bin
N=${N:-1000} ROUNDS=${ROUNDS:-3}
KC=/usr/lib/google-cloud-sdk/bin/kubectl.1.33
WORK=$(mktemp -d /tmp/klbench-gc.XXXXXX)
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
"$BIN" server --data-dir "$WORK/data" --https-listen-port 0 --bind-address 127.0.0.1 \
    --disable-agent --disable-scheduler --write-kubeconfig "" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
    grep -q 'ready; admin kubeconfig' "$WORK/server.log" && break
    sleep 0.05
done
kc() { "$KC" --kubeconfig "$WORK/data/server/admin.kubeconfig" "$@"; }
until kc get serviceaccount default >/dev/null 2>&1; do sleep 0.1; done # controllers run
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
npods() { kc get pods -o name 2>/dev/null | grep -c . || true; }
for r in $(seq "$ROUNDS"); do
    kc create -f - >/dev/null <<EOF
{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"gc-bench"},
 "spec":{"replicas":$N,"selector":{"matchLabels":{"app":"gc-bench"}},
  "template":{"metadata":{"labels":{"app":"gc-bench"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    while [[ $(npods) -lt $N ]]; do sleep 0.2; done
    with=$(rss)
    t0=$(date +%s.%N)
    kc delete rs gc-bench >/dev/null
    while [[ $(npods) -gt 0 ]]; do sleep 0.25; done
    t1=$(date +%s.%N)
    sleep 1
    echo "round $r: $N pods collected in $(echo "$t1 - $t0" | bc) s; server RSS with pods ${with} KiB, after $(rss) KiB"
done
