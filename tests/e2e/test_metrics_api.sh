#!/usr/bin/env bash
# test_metrics_api: the built-in metrics-server: metrics.k8s.io/v1beta1 NodeMetrics and
# PodMetrics served from the kubelets' /stats/summary (here a fake kubelet serving a summary the
# test writes), so that `kubectl top node|pod` works with real kubectl 1.27 and 1.33 and the
# Python client reads the metrics API.
. "$(dirname "$0")/lib.sh"

HELPERS="$(dirname "$KUBELING_BIN")/tests/helpers"
[[ -x "$HELPERS/fake_kubelet" ]] || HELPERS="$PWD/build/asan/tests/helpers"

start_server
mkdir -p "$E2E_TMP/fk"
"$HELPERS/fake_kubelet" --ca-cert "$DATA/server/tls/ca.crt" --ca-key "$DATA/server/tls/ca.key" \
    --port-file "$E2E_TMP/fk.port" --logs "$E2E_TMP/fk" >"$E2E_TMP/fk.log" 2>&1 &
FK_PID=$!
E2E_CLEANUPS+=("kill $FK_PID 2>/dev/null; wait $FK_PID 2>/dev/null")
for _ in $(seq 100); do [[ -s "$E2E_TMP/fk.port" ]] && break; sleep 0.05; done
FK_PORT=$(cat "$E2E_TMP/fk.port") || fail "fake kubelet did not start"

# node_at NAME PORT: a Ready node with 2 cpus and 4Gi whose kubelet is 127.0.0.1:PORT
node_at() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create node $1"
apiVersion: v1
kind: Node
metadata: {name: $1, labels: {tier: $3}}
EOF
    kc 1.33 patch node "$1" --subresource=status --type=merge -p \
        "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$2}},\"capacity\":{\"cpu\":\"2\",\"memory\":\"4Gi\",\"pods\":\"110\"},\"allocatable\":{\"cpu\":\"2\",\"memory\":\"4Gi\",\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",\"message\":\"ok\"}]}}" \
        >/dev/null || fail "patch node $1"
}

pod_on() { # pod_on NAME NODE LABEL
    kc 1.33 create -f - >/dev/null <<EOF || fail "create pod $1"
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: $3}}
spec:
  nodeName: $2
  containers: [{name: main, image: busybox}, {name: side, image: busybox}]
EOF
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' \
        >/dev/null || fail "patch pod $1"
}

setup() {
    node_at edge1 "$FK_PORT" small
    # a node whose kubelet does not answer (nothing listens on port 1)
    node_at edge2 1 big
    pod_on web edge1 web
    pod_on db edge1 db
    local web db now
    web=$(kc 1.33 get pod web -o jsonpath='{.metadata.uid}')
    db=$(kc 1.33 get pod db -o jsonpath='{.metadata.uid}')
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    cat >"$E2E_TMP/fk/summary.json" <<EOF
{"node":{"nodeName":"edge1","cpu":{"time":"$now","usageNanoCores":500000000,"usageCoreNanoSeconds":9000000000},
  "memory":{"time":"$now","workingSetBytes":1073741824,"usageBytes":2000000000,"rssBytes":100}},
 "pods":[
  {"podRef":{"name":"web","namespace":"default","uid":"$web"},
   "containers":[{"name":"main","cpu":{"time":"$now","usageNanoCores":250000000},"memory":{"time":"$now","workingSetBytes":104857600}},
                 {"name":"side","cpu":{"time":"$now","usageNanoCores":1500000},"memory":{"time":"$now","workingSetBytes":1536000}}]},
  {"podRef":{"name":"db","namespace":"default","uid":"$db"},
   "containers":[{"name":"main","cpu":{"time":"$now","usageNanoCores":1234567},"memory":{"time":"$now","workingSetBytes":12345}}]},
  {"podRef":{"name":"ghost","namespace":"default","uid":"not-a-pod"},"containers":[]}]}
EOF
}

discovery_lists_metrics() {
    run_cmd "$E2E_TMP/ar" kc 1.33 api-resources --api-group=metrics.k8s.io
    expect_grep "$E2E_TMP/ar" '^nodes +metrics.k8s.io/v1beta1 +false +NodeMetrics'
    expect_grep "$E2E_TMP/ar" '^pods +metrics.k8s.io/v1beta1 +true +PodMetrics'
    run_cmd "$E2E_TMP/ar27" kc 1.27 api-resources --api-group=metrics.k8s.io
    expect_grep "$E2E_TMP/ar27" '^pods +metrics.k8s.io/v1beta1 +true +PodMetrics'
}

top_node() {
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/tn$v" kc "$v" top node
        # 500m of 2 cpus = 25%; 1Gi of 4Gi = 25%; edge2 has no metrics
        expect_grep "$E2E_TMP/tn$v" '^edge1 +500m +25% +1024Mi +25%'
        # a node without metrics: kubectl prints it with <unknown> values
        expect_grep "$E2E_TMP/tn$v" '^edge2 +<unknown> +<unknown> +<unknown> +<unknown>'
    done
    run_cmd "$E2E_TMP/tnl" kc 1.33 top node -l tier=small
    expect_grep "$E2E_TMP/tnl" '^edge1 '
    run_cmd "$E2E_TMP/raw" kc 1.33 get --raw /apis/metrics.k8s.io/v1beta1/nodes/edge1
    expect_grep "$E2E_TMP/raw" '"kind":"NodeMetrics"'
    expect_grep "$E2E_TMP/raw" '"usage":\{"cpu":"500m","memory":"1Gi"\}'
    expect_grep "$E2E_TMP/raw" '"labels":\{"tier":"small"\}'
    run_cmd "$E2E_TMP/nf" kc 1.33 get --raw /apis/metrics.k8s.io/v1beta1/nodes/edge2
    expect_rc 1
    expect_grep "$E2E_TMP/nf" 'nodemetrics.metrics.k8s.io "edge2" not found'
}

top_pod() {
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/tp$v" kc "$v" top pod
        expect_grep "$E2E_TMP/tp$v" '^web +252m +101Mi'
        expect_grep "$E2E_TMP/tp$v" '^db +2m +0Mi'
        run_cmd "$E2E_TMP/tc$v" kc "$v" top pod web --containers
        expect_grep "$E2E_TMP/tc$v" '^web +main +250m +100Mi'
        expect_grep "$E2E_TMP/tc$v" '^web +side +2m +1Mi'
    done
    run_cmd "$E2E_TMP/tl" kc 1.33 top pod -l app=db
    expect_grep "$E2E_TMP/tl" '^db '
    grep -q '^web ' "$E2E_TMP/tl" && fail "the selector let web through"
    run_cmd "$E2E_TMP/ta" kc 1.33 top pod -A
    expect_grep "$E2E_TMP/ta" '^default +web '
    run_cmd "$E2E_TMP/rawp" kc 1.33 get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db
    expect_grep "$E2E_TMP/rawp" '"containers":\[\{"name":"main","usage":\{"cpu":"1234567n","memory":"12345"\}\}\]'
    run_cmd "$E2E_TMP/gp" kc 1.33 get pods.metrics.k8s.io
    expect_grep "$E2E_TMP/gp" '^web '
    run_cmd "$E2E_TMP/gp27" kc 1.27 get podmetrics db -o name
    expect_grep "$E2E_TMP/gp27" '^podmetrics.metrics.k8s.io/db$'
    run_cmd "$E2E_TMP/nfp" kc 1.33 top pod nosuch
    expect_rc 1
    run_cmd "$E2E_TMP/ro" kc 1.33 delete --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db
    expect_rc 1
    expect_grep "$E2E_TMP/ro" 'MethodNotAllowed|not allow'
}

python_reads_metrics() {
    "$PY" - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
api = client.CustomObjectsApi()
pods = api.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods")
names = sorted(p["metadata"]["name"] for p in pods["items"])
assert names == ["db", "web"], names
node = api.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", "edge1")
assert node["usage"] == {"cpu": "500m", "memory": "1Gi"}, node
print("ok")
PYEOF
    expect_grep "$E2E_TMP/py" '^ok$'
}

t "two nodes (one kubelet answering) and two running pods" setup
t "discovery lists metrics.k8s.io (1.27 and 1.33)" discovery_lists_metrics
t "kubectl top node, labels, raw NodeMetrics, NotFound" top_node
t "kubectl top pod, --containers, -l, -A, raw PodMetrics, read-only" top_pod
t "python client reads the metrics API" python_reads_metrics
