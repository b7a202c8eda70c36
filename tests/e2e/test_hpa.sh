#!/usr/bin/env bash
# test_hpa: the HorizontalPodAutoscaler controller scales a Deployment up and back down from the
# built-in metrics API. No kubelet runs here: a fake kubelet API serves /stats/summary written by
# tests/e2e/hpa_fake_kubelet.py, which also reports the Deployment's pods Running and Ready; the
# test sets the cpu every pod uses. kubectl 1.27 (`autoscale` creates autoscaling/v1) and 1.33.
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
echo 250000000 >"$E2E_TMP/load" # 250m per pod
"$PY" "$(dirname "$0")/hpa_fake_kubelet.py" "$DATA/server/admin.kubeconfig" \
    "$E2E_TMP/fk/summary.json" "$E2E_TMP/load" 2>"$E2E_TMP/fake.log" &
FAKE_PID=$!
E2E_CLEANUPS+=("kill $FAKE_PID 2>/dev/null; wait $FAKE_PID 2>/dev/null")

wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
    local secs=$1 i
    shift
    for i in $(seq $((secs * 4))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    return 1
}

replicas_are() { [[ $(kc 1.33 get deploy web -o jsonpath='{.spec.replicas}') == "$1" ]]; }

setup() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "node"
apiVersion: v1
kind: Node
metadata: {name: edge1}
EOF
    kc 1.33 patch node edge1 --subresource=status --type=merge -p \
        "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$FK_PORT}},\"capacity\":{\"cpu\":\"16\",\"memory\":\"32Gi\",\"pods\":\"110\"},\"allocatable\":{\"cpu\":\"16\",\"memory\":\"32Gi\",\"pods\":\"110\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",\"message\":\"ok\"}]}}" \
        >/dev/null || fail "node status"
    kc 1.33 create deployment web --image=busybox >/dev/null || fail "deployment"
    kc 1.33 set resources deployment web --requests=cpu=100m >/dev/null || fail "requests"
    wait_for 30 bash -c "[[ \$(\"$KUBECTL_DIR/kubectl.1.33\" --kubeconfig '$DATA/server/admin.kubeconfig' get pods -l app=web --field-selector=status.phase=Running -o name | wc -l) == 1 ]]" ||
        fail "the first pod is not running"
}

scales_up() {
    # 250m of a 100m request = 250% against 50%: 5 pods, the maximum
    kc 1.27 autoscale deployment web --cpu-percent=50 --min=1 --max=5 >/dev/null || fail "autoscale"
    wait_for 60 replicas_are 5 || { kc 1.33 describe hpa web; fail "not scaled to 5"; }
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=web,reason=SuccessfulRescale \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
    expect_grep "$E2E_TMP/ev" '^New size: 5; reason: cpu resource utilization \(percentage of request\) above target$'
    # the status once the next sync has seen the five pods
    wait_for 40 bash -c "\"$KUBECTL_DIR/kubectl.1.33\" --kubeconfig '$DATA/server/admin.kubeconfig' get hpa web | grep -Eq 'cpu: 250%/50% +1 +5 +5'" ||
        { kc 1.33 get hpa web; fail "get hpa"; }
    run_cmd "$E2E_TMP/hpa27" kc 1.27 get hpa web
    expect_grep "$E2E_TMP/hpa27" 'web +Deployment/web +cpu: 250%/50% +1 +5 +5'
    run_cmd "$E2E_TMP/cond" kc 1.33 get hpa web -o jsonpath='{range .status.conditions[*]}{.type}={.status}/{.reason}{"\n"}{end}'
    expect_grep "$E2E_TMP/cond" '^ScalingActive=True/ValidMetricFound$'
    expect_grep "$E2E_TMP/cond" '^ScalingLimited=True/TooManyReplicas$'
    expect_grep "$E2E_TMP/cond" '^AbleToScale=True/'
}

scales_down() {
    echo 10000000 >"$E2E_TMP/load" # 10m per pod: 10%
    sleep 1
    # no scale-down stabilization: down at the next sync (the spec change syncs at once)
    kc 1.33 patch hpa web --type=merge -p '{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":0}}}}' \
        >/dev/null || fail "patch behavior"
    wait_for 40 replicas_are 1 || { kc 1.33 describe hpa web; fail "not scaled down to 1"; }
    run_cmd "$E2E_TMP/ev2" kc 1.33 get events --field-selector involvedObject.name=web,reason=SuccessfulRescale \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
    expect_grep "$E2E_TMP/ev2" '^New size: 1; reason: All metrics below target$'
}

unsupported_target() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "hpa"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: nothing}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: missing}
  minReplicas: 1
  maxReplicas: 3
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
EOF
    wait_for 30 bash -c "\"$KUBECTL_DIR/kubectl.1.33\" --kubeconfig '$DATA/server/admin.kubeconfig' get hpa nothing -o jsonpath='{.status.conditions[?(@.type==\"AbleToScale\")].reason}' | grep -qx FailedGetScale" ||
        { kc 1.33 get hpa nothing -o yaml; fail "no FailedGetScale"; }
}

t "a node, a deployment with a cpu request" setup
t "autoscale (1.27, autoscaling/v1) scales up to max, status and conditions" scales_up
t "less load scales back down (stabilization window 0)" scales_down
t "a missing target reports FailedGetScale" unsupported_target
