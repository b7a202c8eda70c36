#!/usr/bin/env bash
# test_conversion: resources served at two versions over one storage version, as upstream:
# events.k8s.io/v1 Events are core/v1 Events (note<->message, regarding<->involvedObject, ...),
# autoscaling/v1 HorizontalPodAutoscalers are autoscaling/v2 ones (targetCPUUtilizationPercentage
# <-> a cpu Utilization metric, the rest in the autoscaling.alpha.kubernetes.io annotations).
# Real kubectl 1.27 and 1.33 and the Python client (EventsV1Api, AutoscalingV1Api).
. "$(dirname "$0")/lib.sh"

start_server
kc 1.33 create namespace conv >/dev/null || fail "namespace"

cat >"$E2E_TMP/ev.yaml" <<'EOF'
apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: ev1, namespace: conv}
eventTime: "2026-11-28T12:00:00.000000Z"
reportingController: example.com/ctl
reportingInstance: ctl-1
action: Testing
reason: Tested
note: hello from v1
type: Normal
regarding: {kind: Pod, name: p1, namespace: conv}
EOF
cat >"$E2E_TMP/core-ev.yaml" <<'EOF'
apiVersion: v1
kind: Event
metadata: {name: coreev, namespace: conv}
involvedObject: {kind: Pod, name: p2, namespace: conv}
reason: Started
message: core event here
source: {component: kubelet, host: node1}
firstTimestamp: "2026-11-28T12:30:00Z"
lastTimestamp: "2026-11-28T12:30:00Z"
count: 3
type: Normal
EOF

discovery_lists_both_versions() {
    run_cmd "$E2E_TMP/av" kc 1.27 api-versions
    expect_grep "$E2E_TMP/av" '^autoscaling/v1$'
    expect_grep "$E2E_TMP/av" '^autoscaling/v2$'
    expect_grep "$E2E_TMP/av" '^events.k8s.io/v1$'
    curl_admin "https://127.0.0.1:$PORT/apis/autoscaling" >"$E2E_TMP/g"
    expect_grep "$E2E_TMP/g" '"preferredVersion":\{"groupVersion":"autoscaling/v2","version":"v2"\}'
    run_cmd "$E2E_TMP/ar" kc 1.33 api-resources --api-group=events.k8s.io
    expect_grep "$E2E_TMP/ar" '^events +ev +events.k8s.io/v1 +true +Event$'
    run_cmd "$E2E_TMP/ex" kc 1.33 explain events.note --api-version=events.k8s.io/v1
    expect_grep "$E2E_TMP/ex" 'FIELD: *note <string>'
    run_cmd "$E2E_TMP/ex" kc 1.27 explain hpa.spec.targetCPUUtilizationPercentage --api-version=autoscaling/v1
    expect_grep "$E2E_TMP/ex" 'targetCPUUtilizationPercentage <integer>'
}

events_v1_and_core_are_one_object() {
    kc 1.33 create -f "$E2E_TMP/ev.yaml" >/dev/null || fail "create v1 event"
    local core
    core=$(kc 1.27 get events.v1. ev1 -n conv -o jsonpath='{.apiVersion}|{.message}|{.involvedObject.name}|{.reportingComponent}|{.reportingInstance}|{.action}')
    [[ $core == 'v1|hello from v1|p1|example.com/ctl|ctl-1|Testing' ]] || fail "core view: $core"
    kc 1.27 create -f "$E2E_TMP/core-ev.yaml" >/dev/null || fail "create core event"
    local v1
    v1=$(kc 1.33 get events.v1.events.k8s.io coreev -n conv -o jsonpath='{.apiVersion}|{.note}|{.regarding.name}|{.deprecatedSource.component}|{.deprecatedSource.host}|{.deprecatedCount}|{.deprecatedFirstTimestamp}')
    [[ $v1 == 'events.k8s.io/v1|core event here|p2|kubelet|node1|3|2026-11-28T12:30:00Z' ]] || fail "v1 view: $v1"
    # selectors use the core field names for both versions (upstream's GetAttrs), list and watch
    kc 1.33 get events.v1.events.k8s.io -n conv --field-selector involvedObject.name=p2 -o name | grep -qx 'event.events.k8s.io/coreev' ||
        fail "field selector on events.k8s.io/v1"
    # the stored object is the core one (upstream's storage version)
    run_cmd "$E2E_TMP/tbl" kc 1.33 get events.v1.events.k8s.io -n conv
    expect_grep "$E2E_TMP/tbl" '^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE$'
    expect_grep "$E2E_TMP/tbl" 'Normal +Started +pod/p2 +core event here'
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/evs" kc "$v" events -n conv
        expect_grep "$E2E_TMP/evs" 'Normal +Tested +Pod/p1 +hello from v1'
        expect_grep "$E2E_TMP/evs" 'Started +Pod/p2 +core event here'
    done
}

events_v1_writes_convert() {
    kc 1.33 patch events.v1.events.k8s.io ev1 -n conv --type=merge -p '{"series":{"count":2,"lastObservedTime":"2026-11-28T12:01:00.000000Z"}}' >/dev/null ||
        fail "merge patch"
    kc 1.27 get ev ev1 -n conv -o jsonpath='{.series.count}' | grep -qx 2 || fail "series not stored"
    run_cmd "$E2E_TMP/o" kc 1.33 patch events.v1.events.k8s.io ev1 -n conv --type=json -p '[{"op":"replace","path":"/note","value":"changed"}]'
    expect_grep "$E2E_TMP/o" 'message: Invalid value: field is immutable'
    kc 1.33 label events.v1.events.k8s.io ev1 -n conv team=a >/dev/null || fail "label (strategic)"
    kc 1.27 get ev -n conv -l team=a -o name | grep -qx 'event/ev1' || fail "label not stored"
    # upstream's strict rules for events written through events.k8s.io/v1
    printf 'apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: bad, namespace: conv}\nnote: x\ntype: Bogus\ndeprecatedCount: 3\n' >"$E2E_TMP/bad.yaml"
    run_cmd "$E2E_TMP/o" kc 1.33 create -f "$E2E_TMP/bad.yaml"
    expect_grep "$E2E_TMP/o" 'eventTime: Required value'
    expect_grep "$E2E_TMP/o" 'type: Invalid value: "": has invalid value: Bogus'
    expect_grep "$E2E_TMP/o" 'count: Invalid value: "": needs to be unset'
    sed 's/name: ev1/name: ev-apply/' "$E2E_TMP/ev.yaml" >"$E2E_TMP/ev-apply.yaml"
    kc 1.33 apply --server-side -f "$E2E_TMP/ev-apply.yaml" >/dev/null || fail "server-side apply"
    kc 1.27 get ev ev-apply -n conv -o jsonpath='{.message}' | grep -qx 'hello from v1' || fail "applied event"
}

watch_v1_sees_core_events() {
    curl_admin -N --max-time 4 "https://127.0.0.1:$PORT/apis/events.k8s.io/v1/namespaces/conv/events?watch=1&resourceVersion=$(kc 1.33 get ev -n conv -o jsonpath='{.metadata.resourceVersion}')" >"$E2E_TMP/w" &
    local pid=$!
    sleep 1
    sed 's/name: coreev/name: watched/; s/core event here/seen through v1/' "$E2E_TMP/core-ev.yaml" | kc 1.27 create -f - >/dev/null || fail "create"
    wait $pid
    expect_grep "$E2E_TMP/w" '"type":"ADDED","object":\{"apiVersion":"events.k8s.io/v1","kind":"Event"'
    expect_grep "$E2E_TMP/w" '"note":"seen through v1"'
    expect_grep "$E2E_TMP/w" '"regarding":\{"kind":"Pod","name":"p2"'
}

python_events_v1() {
    $PY - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'EOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
ev, core = client.EventsV1Api(), client.CoreV1Api()
body = client.EventsV1Event(
    metadata=client.V1ObjectMeta(name="py", namespace="conv"),
    event_time="2026-11-28T12:00:00.000000Z", reporting_controller="py.example/ctl",
    reporting_instance="py-1", action="Acting", reason="Because", note="from python",
    type="Warning", regarding=client.V1ObjectReference(kind="Pod", name="n1", namespace="conv"))
ev.create_namespaced_event("conv", body)
c = core.read_namespaced_event("py", "conv")
assert c.message == "from python" and c.involved_object.name == "n1", c
assert c.reporting_component == "py.example/ctl", c
# (the client's EventsV1Event refuses events without eventTime, as core events written by old
# clients are, also against upstream: list the raw objects)
raw = client.ApiClient().call_api("/apis/events.k8s.io/v1/namespaces/conv/events", "GET",
                                  response_type="object", _return_http_data_only=True)
assert all(i["apiVersion"] == "events.k8s.io/v1" for i in raw["items"]), raw
names = sorted(i["metadata"]["name"] for i in raw["items"])
assert ev.list_namespaced_event("conv", label_selector="team=a").items[0].note == "hello from v1"
assert "py" in names and "coreev" in names, names
ev.delete_namespaced_event("py", "conv")
print("ok")
EOF
    grep -qx ok "$E2E_TMP/py" || { cat "$E2E_TMP/py"; fail "python output"; }
}

hpa_v1_and_v2_are_one_object() {
    kc 1.27 create deployment web --image=busybox >/dev/null || fail "deployment"
    kc 1.27 autoscale deployment web --min=2 --max=5 --cpu-percent=50 -v=6 >"$E2E_TMP/as" 2>&1 || fail "autoscale 1.27"
    expect_grep "$E2E_TMP/as" 'POST https://[^ ]*/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers'
    local v2
    v2=$(kc 1.33 get hpa.v2.autoscaling web -o jsonpath='{.apiVersion}|{.spec.metrics[0].resource.name}|{.spec.metrics[0].resource.target.type}|{.spec.metrics[0].resource.target.averageUtilization}|{.spec.minReplicas}')
    [[ $v2 == 'autoscaling/v2|cpu|Utilization|50|2' ]] || fail "v2 view: $v2"
    kc 1.33 create deployment web2 --image=busybox >/dev/null || fail "deployment"
    kc 1.33 autoscale deployment web2 --max=3 --cpu-percent=70 -v=6 >"$E2E_TMP/as" 2>&1 || fail "autoscale 1.33"
    expect_grep "$E2E_TMP/as" 'POST.*/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers'
    local v1
    v1=$(kc 1.27 get horizontalpodautoscalers.v1.autoscaling web2 -o jsonpath='{.apiVersion}|{.spec.targetCPUUtilizationPercentage}|{.spec.maxReplicas}|{.spec.scaleTargetRef.name}')
    [[ $v1 == 'autoscaling/v1|70|3|web2' ]] || fail "v1 view: $v1"
    kc 1.27 get hpa -v=6 >"$E2E_TMP/tbl" 2>&1
    expect_grep "$E2E_TMP/tbl" 'GET https://[^ ]*/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers'
    expect_grep "$E2E_TMP/tbl" '^NAME +REFERENCE +TARGETS +MINPODS +MAXPODS +REPLICAS +AGE$'
    expect_grep "$E2E_TMP/tbl" '^web +Deployment/web +cpu: <unknown>/50% +2 +5 +[0-9]+ +'
    run_cmd "$E2E_TMP/tbl" kc 1.33 get horizontalpodautoscalers.v1.autoscaling
    expect_grep "$E2E_TMP/tbl" '^web2 +Deployment/web2 +cpu: <unknown>/70% +1 +3 +[0-9]+ +'
}

hpa_v2_fields_round_trip_through_v1() {
    cat >"$E2E_TMP/multi.yaml" <<'EOF'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: multi}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}
  - type: Pods
    pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: "10"}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 60}
EOF
    kc 1.33 create -f "$E2E_TMP/multi.yaml" >/dev/null || fail "create v2"
    kc 1.27 get horizontalpodautoscalers.v1.autoscaling multi -o json >"$E2E_TMP/m1.json" || fail "get v1"
    expect_grep "$E2E_TMP/m1.json" '"targetCPUUtilizationPercentage": 60'
    expect_grep "$E2E_TMP/m1.json" '"autoscaling.alpha.kubernetes.io/metrics": "\[\{\\"type\\":\\"Resource\\",\\"resource\\":\{\\"name\\":\\"memory\\",\\"targetAverageValue\\":\\"100Mi\\"\}\},\{\\"type\\":\\"Pods\\",\\"pods\\":\{\\"metricName\\":\\"qps\\",\\"targetAverageValue\\":\\"10\\"\}\}\]"'
    expect_grep "$E2E_TMP/m1.json" '"autoscaling.alpha.kubernetes.io/behavior"'
    # a v1 client replaces the object: the v2 fields survive through the annotations
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d["spec"]["maxReplicas"]=9; json.dump(d,open(sys.argv[1],"w"))' "$E2E_TMP/m1.json"
    kc 1.27 replace -f "$E2E_TMP/m1.json" >/dev/null || fail "replace v1"
    local got
    got=$(kc 1.33 get hpa.v2.autoscaling multi -o jsonpath='{.spec.maxReplicas}|{.spec.metrics[*].type}|{.spec.metrics[0].resource.target.averageValue}|{.spec.metrics[1].pods.metric.name}|{.spec.metrics[2].resource.target.averageUtilization}|{.spec.behavior.scaleDown.stabilizationWindowSeconds}|{.metadata.annotations}')
    [[ $got == '9|Resource Pods Resource|100Mi|qps|60|60|' ]] || fail "after v1 replace: $got"
    kc 1.33 patch horizontalpodautoscalers.v1.autoscaling multi --type=merge -p '{"spec":{"targetCPUUtilizationPercentage":75}}' >/dev/null || fail "v1 merge patch"
    kc 1.33 patch horizontalpodautoscalers.v1.autoscaling multi --type=strategic -p '{"spec":{"minReplicas":2}}' >/dev/null || fail "v1 strategic patch"
    kc 1.33 patch horizontalpodautoscalers.v1.autoscaling multi --type=json -p '[{"op":"replace","path":"/spec/maxReplicas","value":8}]' >/dev/null || fail "v1 json patch"
    got=$(kc 1.33 get hpa.v2.autoscaling multi -o jsonpath='{.spec.minReplicas}|{.spec.maxReplicas}|{.spec.metrics[2].resource.target.averageUtilization}|{.spec.metrics[1].pods.metric.name}')
    [[ $got == '2|8|75|qps' ]] || fail "after v1 patches: $got"
    # status written through v2 reads through v1 (cpu figure + annotations) and survives a v1
    # replace that drops the status annotations (the main resource keeps the stored status)
    kc 1.33 patch hpa.v2.autoscaling multi --subresource=status --type=merge -p '{"status":{"currentReplicas":2,"desiredReplicas":3,"currentMetrics":[{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":41,"averageValue":"120m"}}}],"conditions":[{"type":"AbleToScale","status":"True","reason":"ReadyForNewScale","lastTransitionTime":"2026-11-28T12:00:00Z"}]}}' >/dev/null ||
        fail "status through v2"
    kc 1.27 get horizontalpodautoscalers.v1.autoscaling multi -o json >"$E2E_TMP/m2.json"
    expect_grep "$E2E_TMP/m2.json" '"currentCPUUtilizationPercentage": 41'
    expect_grep "$E2E_TMP/m2.json" '"autoscaling.alpha.kubernetes.io/conditions": "\[\{\\"type\\":\\"AbleToScale\\"'
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); a=d["metadata"]["annotations"]; [a.pop(k) for k in list(a) if "current-metrics" in k or "conditions" in k]; json.dump(d,open(sys.argv[1],"w"))' "$E2E_TMP/m2.json"
    kc 1.27 replace -f "$E2E_TMP/m2.json" >/dev/null || fail "replace v1 without status annotations"
    got=$(kc 1.33 get hpa.v2.autoscaling multi -o jsonpath='{.status.currentMetrics[0].resource.current.averageValue}|{.status.conditions[0].reason}|{.status.desiredReplicas}')
    [[ $got == '120m|ReadyForNewScale|3' ]] || fail "status after v1 replace: $got"
    # upstream's formatHPAMetrics pairs status and spec metrics by index, and so does this
    run_cmd "$E2E_TMP/tbl" kc 1.27 get hpa multi
    expect_grep "$E2E_TMP/tbl" '^multi +Deployment/web +memory: 120m/100Mi, <unknown>/10 \+ 1 more\.\.\. +2 +8 +2 +'
}

python_hpa_v1_and_deletecollection() {
    $PY - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'EOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.AutoscalingV1Api()
body = client.V1HorizontalPodAutoscaler(
    metadata=client.V1ObjectMeta(name="py"),
    spec=client.V1HorizontalPodAutoscalerSpec(
        scale_target_ref=client.V1CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="web"),
        max_replicas=6, target_cpu_utilization_percentage=33))
v1.create_namespaced_horizontal_pod_autoscaler("default", body)
got = v1.read_namespaced_horizontal_pod_autoscaler("py", "default")
assert got.spec.target_cpu_utilization_percentage == 33 and got.spec.max_replicas == 6, got
api = client.ApiClient()
raw = api.call_api("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/py", "GET",
                   response_type="object", _return_http_data_only=True)
m = raw["spec"]["metrics"][0]
assert m == {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 33}}}, m
names = [h.metadata.name for h in v1.list_namespaced_horizontal_pod_autoscaler("default").items]
assert sorted(names) == ["multi", "py", "web", "web2"], names
v1.delete_collection_namespaced_horizontal_pod_autoscaler("default")
print("ok")
EOF
    grep -qx ok "$E2E_TMP/py" || { cat "$E2E_TMP/py"; fail "python output"; }
    local i
    for i in $(seq 50); do
        [[ -z $(kc 1.33 get hpa -o name) ]] && return 0
        sleep 0.1
    done
    fail "deletecollection through v1 left $(kc 1.33 get hpa -o name)"
}

t "discovery and OpenAPI list both versions (preferred: autoscaling/v2)" discovery_lists_both_versions
t "an events.k8s.io/v1 event is the core/v1 event and back (kubectl 1.27/1.33, kubectl events)" events_v1_and_core_are_one_object
t "events.k8s.io/v1 patches, apply and upstream's create rules" events_v1_writes_convert
t "a watch through events.k8s.io/v1 sees a core event, converted" watch_v1_sees_core_events
t "Python EventsV1Api writes what CoreV1Api reads" python_events_v1
t "an HPA written as autoscaling/v1 reads as v2 and back (kubectl autoscale 1.27: v1, 1.33: v2)" hpa_v1_and_v2_are_one_object
t "v2-only HPA fields survive v1 replace and merge/strategic/json patches" hpa_v2_fields_round_trip_through_v1
t "Python AutoscalingV1Api create/read/list and deletecollection through v1" python_hpa_v1_and_deletecollection
