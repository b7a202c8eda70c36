#!/usr/bin/env bash
# test_hpa_node: the HorizontalPodAutoscaler end to end on the server's real kubelet: a
# Deployment whose busybox pods burn CPU in a shell loop while a file exists in a hostPath
# directory (the load switch, as upstream's e2e drives its resource consumer from outside),
# `kubectl autoscale --cpu-percent=50 --min=1 --max=3`. The kubelet's /stats/summary measures the
# pods' cgroups, the metrics API serves it, the HPA scales up; the switch goes off and, with a
# 5 s scale-down stabilization window, the HPA scales back to 1. Root (lib_node.sh).
. "$(dirname "$0")/lib_node.sh" hpa_node
node_cleanup
node_images
CTL="$E2E_TMP/load"
mkdir -p "$CTL"
start_server
wait_node

hpa() { kc 1.33 get hpa burner -o jsonpath="$1"; }
replicas_above_one() { [[ $(hpa '{.status.currentReplicas}') -gt 1 ]]; }
replicas_are() {
    [[ $(kc 1.33 get deploy burner -o jsonpath='{.spec.replicas}') == "$1" &&
        $(hpa '{.status.currentReplicas}') == "$1" ]]
}
# cpu_of POD: the pod's cpu usage in millicores from the metrics API (0 when none yet)
burner_cpu() {
    kc 1.33 get --raw /apis/metrics.k8s.io/v1beta1/namespaces/default/pods | "$PY" -c '
import json, sys
best = 0
for p in json.load(sys.stdin)["items"]:
    if p["metadata"]["name"].startswith("burner-"):
        for c in p["containers"]:
            v = c["usage"]["cpu"]
            m = int(v[:-1]) / 1e6 if v.endswith("n") else int(v[:-1]) if v.endswith("m") else float(v) * 1000
            best = max(best, m)
print(int(best))'
}
burning() { [[ $(burner_cpu) -ge 60 ]]; }

# The loop checks the switch every 20000 iterations; off, it sleeps a second at a time. The
# limit keeps each pod at 300m on this shared machine (still 300% of the 100m request).
deploy() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "deployment"
apiVersion: apps/v1
kind: Deployment
metadata: {name: burner}
spec:
  replicas: 1
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'while :; do if [ -f /ctl/on ]; then i=0; while [ \$i -lt 20000 ]; do i=\$((i+1)); done; else sleep 1; fi; done']
        resources: {requests: {cpu: 100m}, limits: {cpu: 300m}}
        volumeMounts: [{name: ctl, mountPath: /ctl}]
      volumes: [{name: ctl, hostPath: {path: "$CTL", type: Directory}}]
EOF
    until_ok 60 bash -c "[[ \$('$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get pods -l app=burner --field-selector=status.phase=Running -o name | wc -l) == 1 ]]" ||
        { kc 1.33 get pods -o wide; fail "the burner is not running"; }
    # the node's pod CIDR came from the node IPAM controller, the pod's IP from it
    [[ $(kc 1.33 get node "$NODE" -o jsonpath='{.spec.podCIDR}') == 10.42.0.0/24 ]] || fail "node pod CIDR"
    [[ $(kc 1.33 get pods -l app=burner -o jsonpath='{.items[0].status.podIP}') == 10.42.0.* ]] ||
        fail "pod IP $(kc 1.33 get pods -l app=burner -o jsonpath='{.items[0].status.podIP}')"
}

load_is_measured() {
    : >"$CTL/on"
    until_ok 30 burning || fail "the metrics API shows $(burner_cpu)m for a burning pod"
}

scales_up() {
    kc 1.33 autoscale deployment burner --cpu-percent=50 --min=1 --max=3 >/dev/null || fail "autoscale"
    kc 1.33 patch hpa burner --type=merge \
        -p '{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":5}}}}' >/dev/null ||
        fail "behavior"
    until_ok 60 replicas_above_one || { kc 1.33 describe hpa burner; fail "not scaled up"; }
    run_cmd "$E2E_TMP/hpa" kc 1.33 get hpa burner
    expect_grep "$E2E_TMP/hpa" '^burner +Deployment/burner +cpu: [0-9]+%/50% +1 +3 +[23] '
    local util
    util=$(hpa '{.status.currentMetrics[0].resource.current.averageUtilization}')
    [[ $util -gt 50 ]] || fail "utilization $util% after scaling up"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=burner,reason=SuccessfulRescale \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
    expect_grep "$E2E_TMP/ev" '^New size: [23]; reason: cpu resource utilization \(percentage of request\) above target$'
}

scales_down() {
    rm -f "$CTL/on"
    until_ok 75 replicas_are 1 || { kc 1.33 describe hpa burner; fail "not scaled back to 1"; }
    run_cmd "$E2E_TMP/ev2" kc 1.33 get events --field-selector involvedObject.name=burner,reason=SuccessfulRescale \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}'
    expect_grep "$E2E_TMP/ev2" '^New size: 1; reason: All metrics below target$'
}

t "a cpu-burning deployment runs on the node's assigned pod CIDR" deploy
t "its cpu usage reaches the metrics API" load_is_measured
t "autoscale --cpu-percent=50 scales it up" scales_up
t "without load it scales back to 1 after the stabilization window" scales_down
