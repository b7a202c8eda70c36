#!/usr/bin/env bash
# test_api_resources: discovery and the resource API (create, get, list with selectors and
# pagination, update with conflicts, patch, delete, watch) driven by real kubectl 1.27 and 1.33
# and by the Python client library.
. "$(dirname "$0")/lib.sh"

start_server

manifest() { # manifest NAME [NAMESPACE] [LABEL-VALUE]: a ConfigMap in YAML
    cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $1
  namespace: ${2:-default}
  labels: {app: ${3:-web}}
data:
  k: v
EOF
}

system_namespaces_exist() {
    run_cmd "$E2E_TMP/ns" kc 1.27 get namespaces -o name
    expect_rc 0 "get namespaces"
    local ns
    for ns in default kube-system kube-public kube-node-lease; do
        expect_grep "$E2E_TMP/ns" "^namespace/$ns\$"
    done
    run_cmd "$E2E_TMP/nsl" kc 1.33 get ns default -o jsonpath='{.metadata.labels.kubernetes\.io/metadata\.name} {.status.phase}'
    expect_grep "$E2E_TMP/nsl" '^default Active$'
}

discovery_lists_resources() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/ar-$v" kc "$v" api-resources
        expect_rc 0 "api-resources $v"
        expect_grep "$E2E_TMP/ar-$v" '^configmaps +cm +v1 +true +ConfigMap'
        expect_grep "$E2E_TMP/ar-$v" '^namespaces +ns +v1 +false +Namespace'
        expect_grep "$E2E_TMP/ar-$v" '^leases +coordination.k8s.io/v1 +true +Lease'
    done
    run_cmd "$E2E_TMP/agg" curl_admin -D "$E2E_TMP/agg.h" \
        -H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' \
        "https://127.0.0.1:$PORT/apis"
    expect_grep "$E2E_TMP/agg.h" 'Content-Type: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'
    expect_grep "$E2E_TMP/agg" '"kind":"APIGroupDiscoveryList"'
}

crud_with_kubectl() {
    local v name
    for v in 1.27 1.33; do
        name="crud-${v/./-}"
        manifest "$name" >"$E2E_TMP/$name.yaml"
        run_cmd "$E2E_TMP/c" kc "$v" create --validate=false -f "$E2E_TMP/$name.yaml"
        expect_rc 0 "create $v"
        expect_grep "$E2E_TMP/c" "configmap/$name created"
        run_cmd "$E2E_TMP/dup" kc "$v" create --validate=false -f "$E2E_TMP/$name.yaml"
        expect_rc 1 "duplicate create"
        expect_grep "$E2E_TMP/dup" "AlreadyExists.*configmaps \"$name\" already exists"
        run_cmd "$E2E_TMP/l" kc "$v" label configmap "$name" tier=front
        expect_rc 0 "label"
        run_cmd "$E2E_TMP/p" kc "$v" patch configmap "$name" --type=merge -p '{"data":{"k2":"v2"}}'
        expect_rc 0 "merge patch"
        run_cmd "$E2E_TMP/sp" kc "$v" patch configmap "$name" -p '{"data":{"k":null,"k3":"v3"}}'
        expect_rc 0 "strategic merge patch"
        run_cmd "$E2E_TMP/g" kc "$v" get configmap "$name" -o 'jsonpath={.data} {.metadata.labels.tier} {.metadata.uid}'
        expect_grep "$E2E_TMP/g" '^\{"k2":"v2","k3":"v3"\} front [0-9a-f-]{36}$'
        # replace with a stale resourceVersion: a conflict
        kc "$v" get configmap "$name" -o json >"$E2E_TMP/obj.json"
        kc "$v" label configmap "$name" bump=1 >/dev/null
        run_cmd "$E2E_TMP/r" kc "$v" replace --validate=false -f "$E2E_TMP/obj.json"
        expect_rc 1 "stale replace"
        expect_grep "$E2E_TMP/r" 'Conflict|the object has been modified'
        run_cmd "$E2E_TMP/d" kc "$v" delete configmap "$name"
        expect_rc 0 "delete"
        run_cmd "$E2E_TMP/nf" kc "$v" get configmap "$name"
        expect_rc 1 "get after delete"
        expect_grep "$E2E_TMP/nf" "NotFound.*configmaps \"$name\" not found"
    done
}

bad_requests_get_upstream_errors() {
    manifest ghost nope >"$E2E_TMP/ghost.yaml"
    run_cmd "$E2E_TMP/ns" kc 1.33 create --validate=false -f "$E2E_TMP/ghost.yaml"
    expect_rc 1 "create in a missing namespace"
    expect_grep "$E2E_TMP/ns" 'namespaces "nope" not found'
    manifest Bad_Name >"$E2E_TMP/bad.yaml"
    run_cmd "$E2E_TMP/bad" kc 1.33 create --validate=false -f "$E2E_TMP/bad.yaml"
    expect_rc 1 "invalid name"
    expect_grep "$E2E_TMP/bad" 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'
    run_cmd "$E2E_TMP/sel" kc 1.33 get configmaps -l 'a in (b'
    expect_rc 1 "bad label selector"
    run_cmd "$E2E_TMP/fs" kc 1.33 get configmaps --field-selector spec.x=1
    expect_rc 1 "unsupported field"
    expect_grep "$E2E_TMP/fs" 'field label not supported: spec.x'
    run_cmd "$E2E_TMP/json" curl_admin -X POST -H 'Content-Type: application/json' --data-binary '{"kind":' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps"
    expect_grep "$E2E_TMP/json" '"code":400'
}

invalid_objects_list_every_cause() {
    cat >"$E2E_TMP/inv.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers:
      - {name: c}
      - {name: c, image: x, ports: [{containerPort: 70000}]}
YAML
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/inv-$v" kc "$v" create -f "$E2E_TMP/inv.yaml"
        expect_rc 1 "invalid deployment ($v)"
        expect_grep "$E2E_TMP/inv-$v" 'The Deployment "bad" is invalid'
        expect_grep "$E2E_TMP/inv-$v" 'spec.template.metadata.labels: Invalid value: map\[string\]string\{"app":"b"\}: `selector` does not match template `labels`'
        expect_grep "$E2E_TMP/inv-$v" 'spec.template.spec.containers\[0\].image: Required value'
        expect_grep "$E2E_TMP/inv-$v" 'spec.template.spec.containers\[1\].name: Duplicate value: "c"'
        expect_grep "$E2E_TMP/inv-$v" 'containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive'
    done
    run_cmd "$E2E_TMP/causes" curl_admin -X POST -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"restartPolicy":"Sometimes"}}' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods"
    expect_grep "$E2E_TMP/causes" '"code":422'
    expect_grep "$E2E_TMP/causes" '\{"reason":"FieldValueRequired","message":"Required value","field":"spec.containers"\}'
    expect_grep "$E2E_TMP/causes" '"reason":"FieldValueNotSupported"'
    run_cmd "$E2E_TMP/none" kc 1.33 get deployment bad
    expect_rc 1 "nothing stored"
}

selectors_filter_lists() {
    local i
    for i in 1 2 3; do manifest "sel-web-$i" default web; done >"$E2E_TMP/web.yaml"
    for i in 1 2; do
        manifest "sel-db-$i" default db
        echo ---
    done >"$E2E_TMP/db.yaml"
    sed -i 's/^apiVersion/---\napiVersion/' "$E2E_TMP/web.yaml"
    kc 1.33 create --validate=false -f "$E2E_TMP/web.yaml" >/dev/null
    kc 1.33 create --validate=false -f "$E2E_TMP/db.yaml" >/dev/null
    run_cmd "$E2E_TMP/db" kc 1.27 get configmaps -l app=db -o name
    expect_lines "$E2E_TMP/db" 2
    run_cmd "$E2E_TMP/notdb" kc 1.33 get configmaps -l 'app notin (db),app' -o name
    expect_grep "$E2E_TMP/notdb" 'sel-web-3'
    grep -q sel-db "$E2E_TMP/notdb" && fail "notin selected a db object"
    run_cmd "$E2E_TMP/fs" kc 1.33 get configmaps --field-selector metadata.name=sel-db-2 -o name
    expect_lines "$E2E_TMP/fs" 1
    kc 1.33 delete configmaps -l app=db >/dev/null
    run_cmd "$E2E_TMP/left" kc 1.33 get configmaps -l app=db -o name
    expect_lines "$E2E_TMP/left" 0
}

pagination_with_continue() {
    local i
    for i in $(seq -w 1 25); do manifest "page-$i" default page; echo ---; done >"$E2E_TMP/page.yaml"
    kc 1.33 create --validate=false -f "$E2E_TMP/page.yaml" >/dev/null
    run_cmd "$E2E_TMP/chunked" kc 1.33 get configmaps -l app=page --chunk-size=10 -o name
    expect_lines "$E2E_TMP/chunked" 25
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?labelSelector=app%3Dpage&limit=10" >"$E2E_TMP/p1"
    "$PY" - "$E2E_TMP/p1" <<'PYEOF' || fail "first page"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["items"]) == 10, len(d["items"])
assert d["metadata"].get("continue"), d["metadata"]
open(sys.argv[1] + ".token", "w").write(d["metadata"]["continue"])
PYEOF
    curl_admin -G --data-urlencode "continue=$(cat "$E2E_TMP/p1.token")" --data-urlencode 'labelSelector=app=page' \
        --data-urlencode 'limit=100' "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps" >"$E2E_TMP/p2"
    "$PY" - "$E2E_TMP/p2" <<'PYEOF' || fail "second page"
import json, sys
d = json.load(open(sys.argv[1]))
names = [i["metadata"]["name"] for i in d["items"]]
assert names == ["page-%02d" % i for i in range(11, 26)], names
assert not d["metadata"].get("continue")
PYEOF
}

list_at_exact_revision() {
    local rv
    rv=$(curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?limit=1" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
    manifest after-exact default exact >"$E2E_TMP/ex.yaml"
    kc 1.33 create --validate=false -f "$E2E_TMP/ex.yaml" >/dev/null
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?resourceVersion=$rv&resourceVersionMatch=Exact" >"$E2E_TMP/exact"
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?resourceVersion=$rv&resourceVersionMatch=NotOlderThan" >"$E2E_TMP/newer"
    "$PY" - "$E2E_TMP/exact" "$E2E_TMP/newer" "$rv" <<'PYEOF' || fail "Exact list"
import json, sys
exact, newer, rv = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
names = lambda d: {i["metadata"]["name"] for i in d["items"]}
assert exact["metadata"]["resourceVersion"] == rv, exact["metadata"]
assert "after-exact" not in names(exact) and "after-exact" in names(newer)
PYEOF
    run_cmd "$E2E_TMP/bad" curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?resourceVersionMatch=Exact"
    expect_grep "$E2E_TMP/bad" '"code":400'
}

watch_streams_changes() {
    local v
    for v in 1.27 1.33; do
        manifest "watched" default watch >"$E2E_TMP/w.yaml"
        kc "$v" get configmaps -l app=watch -w --output-watch-events -o json >"$E2E_TMP/w-$v" 2>&1 &
        local wpid=$!
        sleep 1
        kc "$v" create --validate=false -f "$E2E_TMP/w.yaml" >/dev/null
        kc "$v" label configmap watched extra=1 >/dev/null
        kc "$v" label configmap watched app=other --overwrite >/dev/null # leaves the selector
        kc "$v" delete configmap watched >/dev/null
        sleep 1
        kill "$wpid" 2>/dev/null
        wait "$wpid" 2>/dev/null
        # ADDED on create, MODIFIED on the label, DELETED when it leaves the selector; the
        # real delete afterwards is not seen (the object no longer matches)
        [[ "$(grep -oE '"type": ?"(ADDED|MODIFIED|DELETED|ERROR)"' "$E2E_TMP/w-$v" | tr -d ' "' | tr '\n' ' ')" == 'type:ADDED type:MODIFIED type:DELETED ' ]] ||
            { cat "$E2E_TMP/w-$v"; fail "kubectl $v saw the wrong events"; }
    done
    # from a resourceVersion: exactly the changes after it, then the stream ends on timeout
    local rv
    rv=$(curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?limit=1" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
    [[ $rv -gt 0 ]] || fail "list resourceVersion '$rv'"
    manifest after-rv default rv >"$E2E_TMP/rv.yaml"
    kc 1.33 create --validate=false -f "$E2E_TMP/rv.yaml" >/dev/null
    run_cmd "$E2E_TMP/rvw" curl_admin --max-time 10 \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv&timeoutSeconds=1"
    expect_rc 0 "watch ends at timeoutSeconds"
    expect_grep "$E2E_TMP/rvw" '^\{"type":"ADDED","object":\{.*"name":"after-rv"'
    expect_lines "$E2E_TMP/rvw" 1
}

secrets_and_namespaces() {
    cat >"$E2E_TMP/s.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: scratch}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: scratch}
stringData: {password: hunter2}
EOF
    kc 1.33 create --validate=false -f "$E2E_TMP/s.yaml" >/dev/null
    run_cmd "$E2E_TMP/sec" kc 1.33 -n scratch get secret creds -o 'jsonpath={.type} {.data.password}'
    expect_grep "$E2E_TMP/sec" "^Opaque $(printf hunter2 | base64)\$"
    run_cmd "$E2E_TMP/dns" kc 1.33 delete namespace scratch
    expect_rc 0 "delete namespace"
    run_cmd "$E2E_TMP/gone" curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/scratch/secrets"
    expect_grep "$E2E_TMP/gone" '"items":\[\]'
}

metrics_count_requests() {
    run_cmd "$E2E_TMP/m" kc 1.33 get --raw /metrics
    expect_rc 0 "GET /metrics"
    expect_grep "$E2E_TMP/m" '^apiserver_request_total\{verb="POST",group="",version="v1",resource="configmaps",subresource="",scope="namespace",component="apiserver",code="201"\} [1-9][0-9]*$'
    expect_grep "$E2E_TMP/m" '^apiserver_request_total\{verb="WATCH",.*resource="configmaps".*code="200"\} [1-9]'
    expect_grep "$E2E_TMP/m" '^apiserver_request_total\{verb="GET",.*resource="configmaps".*code="404"\} [1-9]'
    expect_grep "$E2E_TMP/m" '^apiserver_request_duration_seconds_bucket\{verb="LIST",.*resource="configmaps".*le="\+Inf"\} [1-9]'
    expect_grep "$E2E_TMP/m" '^kubeling_store_txn_duration_seconds_count\{\} [1-9]'
    expect_grep "$E2E_TMP/m" '^process_resident_memory_bytes [1-9]'
    run_cmd "$E2E_TMP/anon" curl -sS --cacert "$DATA/server/tls/ca.crt" "https://127.0.0.1:$PORT/metrics"
    expect_grep "$E2E_TMP/anon" '"code":401'
}

python_client_works() {
    "$PY" - "$DATA/server/admin.kubeconfig" <<'PYEOF' || fail "python client"
import sys
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
names = [n.metadata.name for n in v1.list_namespace().items]
assert "kube-system" in names, names
cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="from-python", labels={"via": "py"}), data={"x": "1"})
created = v1.create_namespaced_config_map("default", cm)
assert created.metadata.uid and created.metadata.resource_version
got = v1.read_namespaced_config_map("from-python", "default")
assert got.data == {"x": "1"}
got.data["y"] = "2"
v1.replace_namespaced_config_map("from-python", "default", got)
try:
    v1.replace_namespaced_config_map("from-python", "default", got)  # stale resourceVersion
    raise SystemExit("stale replace succeeded")
except ApiException as e:
    assert e.status == 409, e.status
listed = v1.list_namespaced_config_map("default", label_selector="via=py")
assert [i.metadata.name for i in listed.items] == ["from-python"]
lease_api = client.CoordinationV1Api()
lease = client.V1Lease(metadata=client.V1ObjectMeta(name="holder"), spec=client.V1LeaseSpec(holder_identity="me", lease_duration_seconds=10))
lease_api.create_namespaced_lease("kube-node-lease", lease)
assert lease_api.read_namespaced_lease("holder", "kube-node-lease").spec.holder_identity == "me"
v1.delete_namespaced_config_map("from-python", "default")
try:
    v1.read_namespaced_config_map("from-python", "default")
    raise SystemExit("read after delete succeeded")
except ApiException as e:
    assert e.status == 404
PYEOF
}

workloads_lifecycle() {
    cat >"$E2E_TMP/wl.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: busybox, resources: {limits: {cpu: 100m, memory: 64Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: bound, finalizers: [example.com/hold]}
spec:
  nodeName: node-a
  containers:
  - {name: c, image: busybox}
YAML
    run_cmd "$E2E_TMP/wl" kc 1.33 apply --validate=false -f "$E2E_TMP/wl.yaml"
    expect_rc 0 "apply workloads"
    # (the controller manager fills in the status at once: only the generation is checked)
    run_cmd "$E2E_TMP/g1" kc 1.27 get deployment web -o 'jsonpath={.metadata.generation}'
    expect_grep "$E2E_TMP/g1" '^1$'
    kc 1.33 label deployment web touched=yes >/dev/null # metadata only: same generation
    kc 1.33 patch deployment web -p '{"spec":{"replicas":3}}' >/dev/null
    run_cmd "$E2E_TMP/g2" kc 1.33 get deployment web -o 'jsonpath={.metadata.generation} {.spec.replicas}'
    expect_grep "$E2E_TMP/g2" '^2 3$'
    run_cmd "$E2E_TMP/pod" kc 1.33 get pod bound
    expect_grep "$E2E_TMP/pod" '^bound +0/1 +Pending +0 +'
    run_cmd "$E2E_TMP/qos" kc 1.33 get pod bound -o 'jsonpath={.status.phase} {.status.qosClass}'
    expect_grep "$E2E_TMP/qos" '^Pending BestEffort$'
    # pod updates may change images, not the rest of the spec; selectors are immutable
    run_cmd "$E2E_TMP/img" kc 1.33 patch pod bound -p '{"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}'
    expect_rc 0 "changing a pod's image"
    run_cmd "$E2E_TMP/frozen" kc 1.33 patch pod bound -p '{"spec":{"dnsPolicy":"Default"}}'
    expect_rc 1 "changing a pod's dnsPolicy"
    expect_grep "$E2E_TMP/frozen" 'Forbidden: pod updates may not change fields other than'
    run_cmd "$E2E_TMP/sel" kc 1.33 patch deployment web -p '{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}}'
    expect_rc 1 "changing a deployment's selector"
    expect_grep "$E2E_TMP/sel" 'spec.selector: Invalid value: .*field is immutable'
    # a pod bound to a node is only marked on delete; a finalizer keeps it after that too
    run_cmd "$E2E_TMP/del" kc 1.33 delete pod bound --wait=false
    expect_rc 0 "graceful delete"
    run_cmd "$E2E_TMP/term" kc 1.33 get pod bound
    expect_grep "$E2E_TMP/term" ' Terminating '
    run_cmd "$E2E_TMP/grace" kc 1.33 get pod bound -o 'jsonpath={.metadata.deletionGracePeriodSeconds}'
    expect_grep "$E2E_TMP/grace" '^30$'
    kc 1.33 patch pod bound --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
    # upstream shouldDeleteDuringUpdate: without finalizers an object being deleted goes at its
    # next update, unless a graceful deletion runs (this pod's is its kubelet's to finish)
    run_cmd "$E2E_TMP/still" kc 1.33 get pod bound
    expect_rc 0 "a pod in graceful deletion stays after its last finalizer went"
    kc 1.33 delete pod bound --grace-period=0 --force >/dev/null 2>&1
    run_cmd "$E2E_TMP/gone" kc 1.33 get pod bound
    expect_rc 1 "the forced delete removes it"
    expect_grep "$E2E_TMP/gone" 'pods "bound" not found'
    # dry run: answered, not stored
    run_cmd "$E2E_TMP/dry" kc 1.27 create deployment dry --image=busybox --dry-run=server -o name
    expect_grep "$E2E_TMP/dry" 'deployment.apps/dry'
    run_cmd "$E2E_TMP/nodry" kc 1.33 get deployment dry
    expect_rc 1 "a dry-run object is not stored"
    # scale subresource (both kubectl versions), pods/binding, and logs of a pod whose node
    # does not exist (the kubelet proxy is tested by test_stream.sh)
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/scale-$v" kc "$v" scale deployment web --replicas=7
        expect_rc 0 "scale $v"
    done
    run_cmd "$E2E_TMP/scaled" kc 1.33 get --raw /apis/apps/v1/namespaces/default/deployments/web/scale
    expect_grep "$E2E_TMP/scaled" '"kind":"Scale".*"spec":\{"replicas":7\}.*"selector":"app=web"'
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: tobind}\nspec: {containers: [{name: c, image: busybox}]}\n' >"$E2E_TMP/tb.yaml"
    kc 1.33 create --validate=false -f "$E2E_TMP/tb.yaml" >/dev/null
    run_cmd "$E2E_TMP/bind" curl_admin -X POST -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"tobind"},"target":{"kind":"Node","name":"node-b"}}' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods/tobind/binding"
    expect_grep "$E2E_TMP/bind" '"status":"Success"'
    run_cmd "$E2E_TMP/bound" kc 1.33 get pod tobind -o 'jsonpath={.spec.nodeName}'
    expect_grep "$E2E_TMP/bound" '^node-b$'
    run_cmd "$E2E_TMP/rebind" curl_admin -X POST -H 'Content-Type: application/json' \
        -d '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"tobind"},"target":{"kind":"Node","name":"node-c"}}' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods/tobind/binding"
    expect_grep "$E2E_TMP/rebind" '"code":409'
    run_cmd "$E2E_TMP/logs" kc 1.33 logs tobind
    expect_rc 1 "logs of a pod on a missing node"
    expect_grep "$E2E_TMP/logs" 'NotFound.*nodes "node-b" not found'
    # services follow RFC 1035 names
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: 1svc}\nspec: {ports: [{port: 80}]}\n' >"$E2E_TMP/svc.yaml"
    run_cmd "$E2E_TMP/svc" kc 1.33 create --validate=false -f "$E2E_TMP/svc.yaml"
    expect_rc 1 "service name starting with a digit"
    expect_grep "$E2E_TMP/svc" 'a DNS-1035 label must consist of'
}

services_get_ips_and_node_ports() {
    run_cmd "$E2E_TMP/k8s" kc 1.33 get service kubernetes -o 'jsonpath={.spec.clusterIP} {.spec.ports[0].port}'
    expect_grep "$E2E_TMP/k8s" '^10\.43\.0\.1 443$'
    run_cmd "$E2E_TMP/ep" kc 1.33 get endpoints kubernetes -o 'jsonpath={.subsets[0].addresses[0].ip} {.subsets[0].ports[0].port}'
    expect_grep "$E2E_TMP/ep" "^127\\.0\\.0\\.1 $PORT\$"
    run_cmd "$E2E_TMP/ept" kc 1.27 get endpoints kubernetes
    expect_grep "$E2E_TMP/ept" "^kubernetes +127\\.0\\.0\\.1:$PORT +[0-9]+[smh]"
    run_cmd "$E2E_TMP/np" kc 1.27 create service nodeport np1 --tcp=80:8080
    expect_rc 0 "create a NodePort service"
    run_cmd "$E2E_TMP/npv" kc 1.33 get service np1 -o 'jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort} {.spec.ports[0].targetPort}'
    expect_grep "$E2E_TMP/npv" '^10\.43\.[0-9]+\.[0-9]+ 3[0-2][0-9]{3} 8080$'
    local ip np
    ip=$(cut -d' ' -f1 "$E2E_TMP/npv")
    np=$(cut -d' ' -f2 "$E2E_TMP/npv")
    # asking for a taken IP or node port: upstream's errors
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: clash}\nspec: {clusterIP: %s, ports: [{port: 80}]}\n' "$ip" >"$E2E_TMP/clash.yaml"
    run_cmd "$E2E_TMP/clash" kc 1.33 create -f "$E2E_TMP/clash.yaml"
    expect_rc 1 "taken cluster IP"
    expect_grep "$E2E_TMP/clash" "failed to allocate IP $ip: provided IP is already allocated"
    printf 'apiVersion: v1\nkind: Service\nmetadata: {name: clash2}\nspec: {type: NodePort, ports: [{port: 80, nodePort: %s}]}\n' "$np" >"$E2E_TMP/clash2.yaml"
    run_cmd "$E2E_TMP/clash2" kc 1.33 create -f "$E2E_TMP/clash2.yaml"
    expect_rc 1 "taken node port"
    expect_grep "$E2E_TMP/clash2" "spec.ports\\[0\\].nodePort: Invalid value: \"$np\": provided port is already allocated"
    # the cluster IP is immutable; a delete frees IP and port at once
    run_cmd "$E2E_TMP/imm" kc 1.33 patch service np1 -p '{"spec":{"clusterIP":"10.43.9.9"}}'
    expect_rc 1 "changing the cluster IP"
    expect_grep "$E2E_TMP/imm" 'may not change once set'
    kc 1.33 delete service np1 >/dev/null
    run_cmd "$E2E_TMP/reuse" kc 1.33 create -f "$E2E_TMP/clash.yaml"
    expect_rc 0 "the deleted service's IP is free again"
    run_cmd "$E2E_TMP/reuse2" kc 1.33 create -f "$E2E_TMP/clash2.yaml"
    expect_rc 0 "the deleted service's node port is free again"
}

tables_and_json_patch() {
    local v
    manifest table-demo >"$E2E_TMP/td.yaml"
    kc 1.33 create --validate=false -f "$E2E_TMP/td.yaml" >/dev/null
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/tns-$v" kc "$v" get namespaces
        expect_grep "$E2E_TMP/tns-$v" '^NAME +STATUS +AGE$'
        expect_grep "$E2E_TMP/tns-$v" '^kube-system +Active +[0-9]+[smh]'
        run_cmd "$E2E_TMP/jp-$v" kc "$v" patch configmap table-demo --type=json -p "[{\"op\":\"add\",\"path\":\"/data/v$v\",\"value\":\"x\"}]"
        expect_rc 0 "json patch $v"
        run_cmd "$E2E_TMP/tcm-$v" kc "$v" get configmap table-demo
        expect_grep "$E2E_TMP/tcm-$v" '^NAME +DATA +AGE$'
    done
    expect_grep "$E2E_TMP/tcm-1.33" '^table-demo +3 +'
    run_cmd "$E2E_TMP/bad-jp" kc 1.33 patch configmap table-demo --type=json -p '[{"op":"test","path":"/data/k","value":"nope"}]'
    expect_rc 1 "failed JSON patch test op"
}

openapi_documents_served() {
    run_cmd "$E2E_TMP/oa3" curl_admin "https://127.0.0.1:$PORT/openapi/v3"
    expect_grep "$E2E_TMP/oa3" '"api/v1":\{"serverRelativeURL":"/openapi/v3/api/v1\?hash=[0-9A-F]{128}"'
    expect_grep "$E2E_TMP/oa3" '"apis/coordination.k8s.io/v1"'
    run_cmd "$E2E_TMP/oa2" curl_admin -D "$E2E_TMP/oa2.h" \
        -H 'Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf' \
        "https://127.0.0.1:$PORT/openapi/v2"
    expect_grep "$E2E_TMP/oa2.h" 'Content-Type: application/com.github.proto-openapi.spec.v2.v1.0\+protobuf'
    run_cmd "$E2E_TMP/oa-anon" curl -sk "https://127.0.0.1:$PORT/openapi/v3"
    expect_grep "$E2E_TMP/oa-anon" '"code":401'
}

apply_and_create_validate() {
    local v name
    for v in 1.27 1.33; do
        name="val-${v/./-}"
        manifest "$name" >"$E2E_TMP/$name.yaml"
        run_cmd "$E2E_TMP/va" kc "$v" apply -f "$E2E_TMP/$name.yaml"
        expect_rc 0 "apply $v"
        expect_grep "$E2E_TMP/va" "configmap/$name created"
        run_cmd "$E2E_TMP/va2" kc "$v" apply -f "$E2E_TMP/$name.yaml"
        expect_rc 0 "apply again $v"
        expect_grep "$E2E_TMP/va2" "configmap/$name unchanged"
        manifest "$name-c" >"$E2E_TMP/$name-c.yaml"
        run_cmd "$E2E_TMP/vc" kc "$v" create -f "$E2E_TMP/$name-c.yaml"
        expect_rc 0 "create $v"
        { manifest "$name-bad"; echo "bogus: 1"; } | sed 's/^  labels:/  labelz: {x: y}\n  labels:/' >"$E2E_TMP/$name-bad.yaml"
        run_cmd "$E2E_TMP/vb" kc "$v" apply -f "$E2E_TMP/$name-bad.yaml"
        expect_rc 1 "apply unknown field $v"
        expect_grep "$E2E_TMP/vb" 'strict decoding error: unknown field "bogus"'
        expect_grep "$E2E_TMP/vb" 'unknown field "metadata.labelz"'
        run_cmd "$E2E_TMP/vcb" kc "$v" create -f "$E2E_TMP/$name-bad.yaml"
        expect_rc 1 "create unknown field $v"
        expect_grep "$E2E_TMP/vcb" 'unknown field "bogus"'
        run_cmd "$E2E_TMP/vw" kc "$v" create --validate=warn -f "$E2E_TMP/$name-bad.yaml"
        expect_rc 0 "create with warnings $v"
        expect_grep "$E2E_TMP/vw" 'Warning: unknown field "bogus"'
        # kubectl patch sends no fieldValidation: the server's default, Warn, applies.
        run_cmd "$E2E_TMP/vp" kc "$v" patch configmap "$name" -p '{"data":{"a":"b"},"nope":1}'
        expect_rc 0 "patch with an unknown field $v"
        expect_grep "$E2E_TMP/vp" 'Warning: unknown field "nope"'
    done
}

explain_reads_openapi() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/ex-$v" kc "$v" explain configmap.data
        expect_rc 0 "explain $v"
        expect_grep "$E2E_TMP/ex-$v" 'KIND: +ConfigMap'
        expect_grep "$E2E_TMP/ex-$v" 'Data contains the configuration data'
        # a kind's own description and those of its object fields, in upstream's words
        run_cmd "$E2E_TMP/exp-$v" kc "$v" explain pod
        expect_rc 0 "explain pod $v"
        expect_grep "$E2E_TMP/exp-$v" '^DESCRIPTION:'
        expect_grep "$E2E_TMP/exp-$v" 'Pod is a collection of containers that can run on a host'
        expect_grep "$E2E_TMP/exp-$v" '^  metadata.*<ObjectMeta>'
        expect_grep "$E2E_TMP/exp-$v" "Standard object's metadata"
        expect_grep "$E2E_TMP/exp-$v" 'Specification of the desired behavior of the pod'
        expect_grep "$E2E_TMP/exp-$v" 'Most recently observed status of the pod'
        run_cmd "$E2E_TMP/exd-$v" kc "$v" explain deployment.spec
        expect_grep "$E2E_TMP/exd-$v" 'Specification of the desired behavior of the Deployment'
        expect_grep "$E2E_TMP/exd-$v" 'DeploymentSpec is the specification of the desired behavior'
        expect_grep "$E2E_TMP/exd-$v" 'Template describes the pods that will be created'
        run_cmd "$E2E_TMP/exr-$v" kc "$v" explain deployment.spec.replicas
        expect_rc 0 "explain deployment.spec.replicas $v"
        expect_grep "$E2E_TMP/exr-$v" 'FIELD: +replicas <integer>'
        expect_grep "$E2E_TMP/exr-$v" 'Number of desired pods'
        # deeper types carry their own text too: Container, Probe, the pod template's PodSpec
        run_cmd "$E2E_TMP/exc-$v" kc "$v" explain pod.spec.containers
        expect_rc 0 "explain pod.spec.containers $v"
        expect_grep "$E2E_TMP/exc-$v" 'A single application container that you want to run within a pod'
        expect_grep "$E2E_TMP/exc-$v" '^  livenessProbe.*<Probe>'
        run_cmd "$E2E_TMP/exl-$v" kc "$v" explain pod.spec.containers.livenessProbe.httpGet
        expect_rc 0 "explain ...livenessProbe.httpGet $v"
        expect_grep "$E2E_TMP/exl-$v" 'HTTPGetAction describes an action based on HTTP Get requests'
        run_cmd "$E2E_TMP/ext-$v" kc "$v" explain deployment.spec.template.spec.securityContext
        expect_rc 0 "explain deployment...securityContext $v"
        expect_grep "$E2E_TMP/ext-$v" 'PodSecurityContext holds pod-level security attributes'
    done
    run_cmd "$E2E_TMP/ex-lease" kc 1.33 explain lease.spec.holderIdentity
    expect_rc 0 "explain lease"
    expect_grep "$E2E_TMP/ex-lease" 'GROUP: +coordination.k8s.io'
}

ssa_deployment() { # ssa_deployment NAME REPLICAS IMAGE [EXTRA-CONTAINER]: a Deployment in YAML
    cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $1
  labels: {app: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
      - {name: main, image: "$3"}
EOF
    [[ -z "${4:-}" ]] || echo "      - {name: $4, image: \"$3\"}"
}

server_side_apply() {
    local v name f
    for v in 1.27 1.33; do
        name="ssa-${v/./-}"
        f="$E2E_TMP/$name.yaml"
        ssa_deployment "$name" 2 busybox:1 side >"$f"
        run_cmd "$E2E_TMP/sa1" kc "$v" apply --server-side -f "$f"
        expect_rc 0 "ssa create $v"
        expect_grep "$E2E_TMP/sa1" "deployment.apps/$name serverside-applied"
        run_cmd "$E2E_TMP/sa2" kc "$v" apply --server-side -f "$f"
        expect_rc 0 "ssa again $v"
        expect_grep "$E2E_TMP/sa2" "deployment.apps/$name serverside-applied"
        # A change merges containers by name; dropping "side" removes what only kubectl owned.
        ssa_deployment "$name" 2 busybox:2 >"$f"
        run_cmd "$E2E_TMP/sa3" kc "$v" apply --server-side -f "$f"
        expect_rc 0 "ssa change $v"
        run_cmd "$E2E_TMP/sa4" kc "$v" get deployment "$name" \
            -o jsonpath='{.spec.template.spec.containers[*].name}={.spec.template.spec.containers[0].image}'
        expect_grep "$E2E_TMP/sa4" '^main=busybox:2$'
        run_cmd "$E2E_TMP/sa5" kc "$v" get deployment "$name" -o yaml --show-managed-fields
        expect_grep "$E2E_TMP/sa5" 'manager: kubectl$'
        expect_grep "$E2E_TMP/sa5" 'operation: Apply'
        expect_grep "$E2E_TMP/sa5" 'k:\{"name":"main"\}'
        # kubectl scale takes .spec.replicas; applying another count then conflicts.
        run_cmd "$E2E_TMP/sa6" kc "$v" scale deployment "$name" --replicas=5
        expect_rc 0 "scale $v"
        ssa_deployment "$name" 3 busybox:2 >"$f"
        run_cmd "$E2E_TMP/sa7" kc "$v" apply --server-side -f "$f"
        expect_rc 1 "ssa conflict $v"
        expect_grep "$E2E_TMP/sa7" 'Apply failed with 1 conflict: conflict with "kubectl[.0-9]*" with subresource "scale" using apps/v1: .spec.replicas'
        expect_grep "$E2E_TMP/sa7" 'force-conflicts'
        run_cmd "$E2E_TMP/sa8" kc "$v" apply --server-side --force-conflicts -f "$f"
        expect_rc 0 "ssa force $v"
        run_cmd "$E2E_TMP/sa9" kc "$v" get deployment "$name" -o jsonpath='{.spec.replicas}'
        expect_grep "$E2E_TMP/sa9" '^3$'
        run_cmd "$E2E_TMP/sa10" kc "$v" get deployment "$name" -o yaml --show-managed-fields
        expect_grep "$E2E_TMP/sa10" 'manager: kubectl$'
        run_cmd "$E2E_TMP/sa11" kc "$v" delete deployment "$name"
        expect_rc 0 "delete $v"
    done
    # kubectl create records an Update entry for its field manager.
    manifest ssa-created >"$E2E_TMP/ssa-created.yaml"
    run_cmd "$E2E_TMP/sc" kc 1.33 create -f "$E2E_TMP/ssa-created.yaml"
    expect_rc 0 "create"
    run_cmd "$E2E_TMP/sc2" kc 1.33 get cm ssa-created -o yaml --show-managed-fields
    expect_grep "$E2E_TMP/sc2" 'manager: kubectl-create'
    expect_grep "$E2E_TMP/sc2" 'operation: Update'
    # YAML that is not JSON is refused with a clear error.
    run_cmd "$E2E_TMP/sy" curl_admin -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
        --data-binary 'kind: ConfigMap' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps/ssa-created?fieldManager=x"
    expect_grep "$E2E_TMP/sy" 'JSON only'
}

# kubectl 1.33's generators send their objects as protobuf (runtime.Unknown); kubeling decodes
# them to JSON (apiserver_proto.c).
generators_send_protobuf() {
    run_cmd "$E2E_TMP/pb-cm" kc 1.33 -v=8 create configmap pb-cm --from-literal=a=b
    expect_rc 0 "create configmap"
    expect_grep "$E2E_TMP/pb-cm" 'Content-Type: application/vnd.kubernetes.protobuf'
    run_cmd "$E2E_TMP/pb-cmg" kc 1.33 get configmap pb-cm -o jsonpath='{.data.a}'
    expect_grep "$E2E_TMP/pb-cmg" '^b$'
    run_cmd "$E2E_TMP/pb-s" kc 1.33 create secret generic pb-s --from-literal=p=q
    expect_rc 0 "create secret generic"
    run_cmd "$E2E_TMP/pb-sg" kc 1.33 get secret pb-s -o jsonpath='{.data.p}'
    expect_grep "$E2E_TMP/pb-sg" "^$(printf q | base64)\$"
    run_cmd "$E2E_TMP/pb-ns" kc 1.33 create namespace pb-ns
    expect_rc 0 "create namespace"
    run_cmd "$E2E_TMP/pb-d" kc 1.33 create deployment pb-d --image=busybox --replicas=2
    expect_rc 0 "create deployment"
    run_cmd "$E2E_TMP/pb-dg" kc 1.33 get deployment pb-d \
        -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image}'
    expect_grep "$E2E_TMP/pb-dg" '^2 busybox$'
    run_cmd "$E2E_TMP/pb-c" kc 1.33 create service clusterip pb-c --tcp=80:8080
    expect_rc 0 "create service clusterip"
    run_cmd "$E2E_TMP/pb-cg" kc 1.33 get service pb-c -o jsonpath='{.spec.ports[0].port} {.spec.ports[0].targetPort}'
    expect_grep "$E2E_TMP/pb-cg" '^80 8080$'
    run_cmd "$E2E_TMP/pb-sa" kc 1.33 create serviceaccount pb-sa1
    expect_rc 0 "create serviceaccount"
    run_cmd "$E2E_TMP/pb-j" kc 1.33 create job pb-j --image=busybox
    expect_rc 0 "create job"
    run_cmd "$E2E_TMP/pb-jg" kc 1.33 get job pb-j -o jsonpath='{.spec.template.spec.containers[0].image}'
    expect_grep "$E2E_TMP/pb-jg" '^busybox$'
}

t system_namespaces_exist system_namespaces_exist
t workloads_lifecycle workloads_lifecycle
t services_get_ips_and_node_ports services_get_ips_and_node_ports
t tables_and_json_patch tables_and_json_patch
t discovery_lists_resources discovery_lists_resources
t crud_with_kubectl crud_with_kubectl
t bad_requests_get_upstream_errors bad_requests_get_upstream_errors
t invalid_objects_list_every_cause invalid_objects_list_every_cause
t selectors_filter_lists selectors_filter_lists
t pagination_with_continue pagination_with_continue
t list_at_exact_revision list_at_exact_revision
t watch_streams_changes watch_streams_changes
t secrets_and_namespaces secrets_and_namespaces
t python_client_works python_client_works
t metrics_count_requests metrics_count_requests
t openapi_documents_served openapi_documents_served
t apply_and_create_validate apply_and_create_validate
t explain_reads_openapi explain_reads_openapi
t server_side_apply server_side_apply
t generators_send_protobuf generators_send_protobuf

# The server shuts down cleanly (under ASan this also means no leaks after all the above).
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
STOP_RC=$?
stopped_cleanly() {
    [[ $STOP_RC -eq 0 ]] || { tail -n 40 "$E2E_TMP/server.log"; fail "server exited $STOP_RC"; }
}
t server_stops_cleanly stopped_cleanly
