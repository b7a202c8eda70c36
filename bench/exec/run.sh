#!/usr/bin/env bash
# bench/exec/run.sh: exec round trip through the apiserver's proxy and the kubelet API:
# `kubectl exec POD -- true`, N (20) times each with kubectl 1.27 (SPDY) and 1.33 (WebSocket
# v5), median and min/max of the wall time. Root; runs in its own network and mount namespaces
# like tests/e2e/test_pods.sh. Uses the release build if present.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_node exec "$@"
N=${N:-20}
"$BIN" server --data-dir "$WORK/data" --https-listen-port 0 --bind-address 127.0.0.1 \
    --kubelet-port 0 >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
    grep -q 'running the pods of node' "$WORK/server.log" && break
    sleep 0.05
done
KC=/usr/lib/google-cloud-sdk/bin/kubectl
CFG=$WORK/data/server/admin.kubeconfig
NODE=$(sed -n 's/.*kubelet: node \([^ ]*\) registered.*/\1/p' "$WORK/server.log" | head -1)
cat <<JSON | "$KC.1.33" --kubeconfig "$CFG" apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"},"spec":{"nodeName":"$NODE",
 "terminationGracePeriodSeconds":1,"containers":[{"name":"c","image":"busybox",
 "imagePullPolicy":"IfNotPresent","command":["sleep","3600"]}]}}
JSON
"$KC.1.33" --kubeconfig "$CFG" wait --for=condition=Ready pod/b --timeout=60s >/dev/null
for v in 1.27 1.33; do
    "$KC.$v" --kubeconfig "$CFG" exec b -- true # warm-up
    for _ in $(seq "$N"); do
        s=$(date +%s%N)
        "$KC.$v" --kubeconfig "$CFG" exec b -- true
        echo $((($(date +%s%N) - s) / 1000000))
    done | sort -n | awk -v v="$v" '{a[NR]=$1} END {
        printf "kubectl %s exec -- true x%d: median %d ms, min %d ms, max %d ms\n", v, NR,
            (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2), a[1], a[NR]}'
done
# the kubelet API alone: a TLS connection and GET /healthz with the apiserver's client cert
KPORT=$("$KC.1.33" --kubeconfig "$CFG" get node "$NODE" \
    -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')
TLS=$WORK/data/server/tls
for _ in $(seq "$N"); do
    curl -s -o /dev/null -w '%{time_total}\n' --cacert "$TLS/ca.crt" \
        --cert "$TLS/kubelet-client.crt" --key "$TLS/kubelet-client.key" \
        "https://127.0.0.1:$KPORT/healthz"
done | sort -n | awk '{a[NR]=$1*1000} END {printf "kubelet API TLS connect + GET /healthz (curl): median %.1f ms\n", a[int((NR+1)/2)]}'
# the kubectl process alone (config, discovery cache) against a pod that does not exist
for _ in $(seq "$N"); do
    s=$(date +%s%N)
    "$KC.1.33" --kubeconfig "$CFG" exec nope -- true 2>/dev/null || true
    echo $((($(date +%s%N) - s) / 1000000))
done | sort -n | awk '{a[NR]=$1} END {printf "kubectl 1.33 exec to a missing pod (client floor): median %d ms\n", a[int((NR+1)/2)]}'
