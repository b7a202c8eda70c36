#!/usr/bin/env bash
# test_endpoints: the Endpoints and EndpointSlice controllers join Services and pods. No kubelet
# runs: the test makes pods bound to a node name and writes their IP and readiness through
# pods/status, as a kubelet would.
. "$(dirname "$0")/lib.sh"

start_server

# mkpod NAME LABELS-JSON [SPEC-EXTRA-JSON]: a pod bound to node n1 with a container port "http"
# 8080 and "metrics" 9090.
mkpod() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create pod $1"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","labels":$2},
 "spec":{"nodeName":"n1"${3:+,$3},"containers":[{"name":"c","image":"busybox",
  "ports":[{"name":"http","containerPort":8080},{"name":"metrics","containerPort":9090}]}]}}
EOF
}
# status POD IP READY: phase Running with podIP and the Ready condition.
status() {
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p \
        "{\"status\":{\"phase\":\"Running\",\"podIP\":\"$2\",\"podIPs\":[{\"ip\":\"$2\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":\"$3\"}]}}" >/dev/null ||
        fail "status $1"
}
ep() { # ep SVC JSONPATH
    kc 1.33 get endpoints "$1" -o jsonpath="$2"
}
slice() { # slice SVC GO-TEMPLATE: over the service's slices
    kc 1.33 get endpointslices -l "kubernetes.io/service-name=$1" -o go-template="$2"
}
is() { # is WANT CMD...: CMD prints WANT
    local got
    got=$("${@:2}")
    [[ $got == "$1" ]]
}
wait_is() { # wait_is WANT CMD...
    until_ok 10 is "$@" || fail "want '$1', got '$("${@:2}")'"
}

kubernetes_endpoints() {
    run_cmd "$E2E_TMP/ep" kc 1.33 get endpoints kubernetes
    expect_rc 0 "get endpoints kubernetes"
    expect_grep "$E2E_TMP/ep" "^kubernetes +127\.0\.0\.1:$PORT "
    run_cmd "$E2E_TMP/es" kc 1.27 get endpointslices kubernetes
    expect_rc 0 "get endpointslices kubernetes"
    expect_grep "$E2E_TMP/es" "^NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE"
    expect_grep "$E2E_TMP/es" "^kubernetes +IPv4 +$PORT +127\.0\.0\.1 "
    # the selectorless kubernetes service is left alone: no controller-made slice
    [[ -z $(kc 1.33 get endpointslices -l endpointslice.kubernetes.io/managed-by -o name | grep kubernetes) ]] ||
        fail "a managed slice for kubernetes"
}

ready_and_not_ready() {
    mkpod web-1 '{"app":"web"}'
    mkpod web-2 '{"app":"web"}'
    mkpod other '{"app":"other"}'
    status web-1 10.42.0.11 True
    status web-2 10.42.0.12 False
    status other 10.42.0.13 True
    kc 1.33 create service clusterip web --tcp=80:http >/dev/null || fail "create service"
    kc 1.33 patch svc web --type=merge -p '{"spec":{"selector":{"app":"web"}}}' >/dev/null
    wait_is "10.42.0.11" ep web '{.subsets[0].addresses[*].ip}'
    wait_is "10.42.0.12" ep web '{.subsets[0].notReadyAddresses[*].ip}'
    is "8080" ep web '{.subsets[0].ports[*].port}' || fail "port $(ep web '{.subsets[0].ports}')"
    is "Pod/web-1/n1" ep web '{.subsets[0].addresses[0].targetRef.kind}/{.subsets[0].addresses[0].targetRef.name}/{.subsets[0].addresses[0].nodeName}' ||
        fail "targetRef/nodeName"
    [[ -n $(ep web '{.metadata.annotations.endpoints\.kubernetes\.io/last-change-trigger-time}') ]] ||
        fail "no last-change-trigger-time"
    local t='{{range .items}}{{range .endpoints}}{{index .addresses 0}}:{{.conditions.ready}}/{{.conditions.serving}}/{{.conditions.terminating}} {{end}}{{end}}'
    wait_is "10.42.0.11:true/true/false 10.42.0.12:false/false/false " slice web "$t"
    is "endpointslice-controller.k8s.io IPv4 8080 Service/web" slice web \
        '{{range .items}}{{index .metadata.labels "endpointslice.kubernetes.io/managed-by"}} {{.addressType}} {{range .ports}}{{.port}}{{end}} {{range .metadata.ownerReferences}}{{.kind}}/{{.name}}{{end}}{{end}}' ||
        fail "slice labels/owner: $(slice web '{{range .items}}{{.metadata}}{{end}}')"
    # kubectl's columns
    run_cmd "$E2E_TMP/out" kc 1.33 get endpoints web
    expect_grep "$E2E_TMP/out" "^web +10\.42\.0\.11:8080 "
    # readiness flips move the address
    status web-2 10.42.0.12 True
    wait_is "10.42.0.11 10.42.0.12" ep web '{.subsets[0].addresses[*].ip}'
    wait_is "10.42.0.11:true/true/false 10.42.0.12:true/true/false " slice web "$t"
}

named_ports_per_pod() {
    # the same port name resolves to different numbers on different pods: two subsets
    kc 1.33 create -f - >/dev/null <<EOF || fail "create pod np-2"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"np-2","labels":{"app":"np"}},
 "spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox","ports":[{"name":"http","containerPort":8081}]}]}}
EOF
    mkpod np-1 '{"app":"np"}'
    status np-1 10.42.1.1 True
    status np-2 10.42.1.2 True
    kc 1.33 create -f - >/dev/null <<EOF || fail "create service np"
{"apiVersion":"v1","kind":"Service","metadata":{"name":"np"},"spec":{"selector":{"app":"np"},
 "ports":[{"name":"web","port":80,"targetPort":"http"},{"name":"mon","port":90,"targetPort":"metrics"}]}}
EOF
    local want='10.42.1.1=mon:9090,web:8080, 10.42.1.2=web:8081, '
    wait_is "$want" ep np '{range .subsets[*]}{.addresses[*].ip}={range .ports[*]}{.name}:{.port},{end} {end}'
    wait_is "2" eval "kc 1.33 get endpointslices -l kubernetes.io/service-name=np -o name | wc -l"
    is "10.42.1.1=mon:9090,web:8080, 10.42.1.2=web:8081," eval "slice np '{{range .items}}{{range .endpoints}}{{index .addresses 0}}{{end}}={{range .ports}}{{.name}}:{{.port}},{{end}}{{\"\\n\"}}{{end}}' | sort | xargs" ||
        fail "slices: $(slice np '{{range .items}}{{.ports}} {{.endpoints}}{{"\n"}}{{end}}')"
}

headless_and_hostnames() {
    mkpod hl-1 '{"app":"hl"}' '"hostname":"db-0","subdomain":"hl"'
    status hl-1 10.42.2.1 True
    kc 1.33 create -f - >/dev/null <<EOF || fail "create service hl"
{"apiVersion":"v1","kind":"Service","metadata":{"name":"hl"},"spec":{"clusterIP":"None","selector":{"app":"hl"}}}
EOF
    wait_is "10.42.2.1/db-0" ep hl '{.subsets[0].addresses[0].ip}/{.subsets[0].addresses[0].hostname}'
    is "" ep hl '{.subsets[0].ports}' || fail "ports on a port-less headless service"
    is "true" eval "kc 1.33 get endpoints hl -o json | grep -q '\"service.kubernetes.io/headless\": \"\"' && echo true" ||
        fail "headless label missing"
    wait_is "10.42.2.1/db-0" slice hl '{{range .items}}{{range .endpoints}}{{index .addresses 0}}/{{.hostname}}{{end}}{{end}}'
}

publish_not_ready() {
    mkpod pn-1 '{"app":"pn"}'
    status pn-1 10.42.3.1 False
    kc 1.33 create -f - >/dev/null <<EOF || fail "create service pn"
{"apiVersion":"v1","kind":"Service","metadata":{"name":"pn"},"spec":{"publishNotReadyAddresses":true,
 "selector":{"app":"pn"},"ports":[{"port":80,"targetPort":8080}]}}
EOF
    wait_is "10.42.3.1" ep pn '{.subsets[0].addresses[*].ip}'
    wait_is "true/true" slice pn '{{range .items}}{{range .endpoints}}{{.conditions.ready}}/{{.conditions.serving}}{{end}}{{end}}'
}

pod_gone_and_terminating() {
    # a pod with a finalizer stays terminating: out of Endpoints, a terminating slice endpoint
    mkpod gone-1 '{"app":"gone"}' '"terminationGracePeriodSeconds":0'
    kc 1.33 patch pod gone-1 --type=merge -p '{"metadata":{"finalizers":["e2e.example.test/hold"]}}' >/dev/null
    mkpod gone-2 '{"app":"gone"}'
    status gone-1 10.42.4.1 True
    status gone-2 10.42.4.2 True
    kc 1.33 create service clusterip gone --tcp=80:8080 >/dev/null
    kc 1.33 patch svc gone --type=merge -p '{"spec":{"selector":{"app":"gone"}}}' >/dev/null
    wait_is "10.42.4.1 10.42.4.2" ep gone '{.subsets[0].addresses[*].ip}'
    kc 1.33 delete pod gone-1 --wait=false >/dev/null || fail "delete gone-1"
    wait_is "10.42.4.2" ep gone '{.subsets[0].addresses[*].ip}'
    local t='{{range .items}}{{range .endpoints}}{{index .addresses 0}}:{{.conditions.ready}}/{{.conditions.serving}}/{{.conditions.terminating}} {{end}}{{end}}'
    wait_is "10.42.4.1:false/true/true 10.42.4.2:true/true/false " slice gone "$t"
    kc 1.33 patch pod gone-1 --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
    wait_is "10.42.4.2:true/true/false " slice gone "$t"
    kc 1.33 delete pod gone-2 --grace-period=0 --force >/dev/null 2>&1
    wait_is "" ep gone '{.subsets}'
    # no endpoints left: one placeholder slice
    wait_is "1:0" eval "kc 1.33 get endpointslices -l kubernetes.io/service-name=gone -o go-template='{{len .items}}:{{range .items}}{{len .endpoints}}{{end}}'"
    run_cmd "$E2E_TMP/out" kc 1.33 get endpointslices -l kubernetes.io/service-name=gone
    expect_grep "$E2E_TMP/out" "^gone-[a-z0-9]+ +IPv4 +<unset> +<unset> "
}

service_deleted() {
    kc 1.33 delete svc web >/dev/null || fail "delete svc"
    until_ok 10 bash -c "! '$KUBECTL_DIR/kubectl.1.33' --kubeconfig '$DATA/server/admin.kubeconfig' get endpoints web" ||
        fail "endpoints web remain"
    wait_is "0" eval "kc 1.33 get endpointslices -l kubernetes.io/service-name=web -o name | wc -l"
}

selectorless_left_alone() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create service manual"
{"apiVersion":"v1","kind":"Service","metadata":{"name":"manual"},"spec":{"ports":[{"port":80}]}}
EOF
    kc 1.33 create -f - >/dev/null <<EOF || fail "create endpoints manual"
{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"manual"},"subsets":[{"addresses":[{"ip":"192.0.2.7"}],"ports":[{"port":80}]}]}
EOF
    # mirrored into a slice by the endpointslice mirroring controller, owned by the Endpoints
    local t='{{range .items}}{{index .metadata.labels "endpointslice.kubernetes.io/managed-by"}} {{range .metadata.ownerReferences}}{{.kind}}{{end}} {{range .endpoints}}{{index .addresses 0}}:{{.conditions.ready}} {{end}}{{range .ports}}{{.port}}{{end}}{{end}}'
    wait_is "endpointslicemirroring-controller.k8s.io Endpoints 192.0.2.7:true 80" slice manual "$t"
    is "192.0.2.7" ep manual '{.subsets[0].addresses[*].ip}' || fail "manual endpoints changed"
    kc 1.33 patch endpoints manual --type=merge -p '{"subsets":[{"addresses":[{"ip":"192.0.2.8"}],"notReadyAddresses":[{"ip":"192.0.2.9"}],"ports":[{"port":81}]}]}' >/dev/null
    wait_is "endpointslicemirroring-controller.k8s.io Endpoints 192.0.2.8:true 192.0.2.9:false 81" slice manual "$t"
    # skip-mirror: the slice goes
    kc 1.33 label endpoints manual endpointslice.kubernetes.io/skip-mirror=true >/dev/null
    wait_is "" slice manual "$t"
}

many_pods_split_slices() {
    # 120 ready pods: Endpoints has all of them, slices hold at most 100 each
    local i f="$E2E_TMP/many.json"
    {
        echo '{"apiVersion":"v1","kind":"List","items":['
        for i in $(seq 1 120); do
            [[ $i -gt 1 ]] && echo ,
            echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"many-$i\",\"labels\":{\"app\":\"many\"}},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
        done
        echo ']}'
    } >"$f"
    kc 1.33 create -f "$f" >/dev/null || fail "create pods"
    for i in $(seq 1 120); do
        echo "{\"status\":{\"phase\":\"Running\",\"podIP\":\"10.42.5.$i\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}" >"$E2E_TMP/st"
        curl_admin -o /dev/null -X PATCH -H 'Content-Type: application/merge-patch+json' \
            --data-binary @"$E2E_TMP/st" "https://127.0.0.1:$PORT/api/v1/namespaces/default/pods/many-$i/status" ||
            fail "status many-$i"
    done
    kc 1.33 create service clusterip many --tcp=80:8080 >/dev/null
    kc 1.33 patch svc many --type=merge -p '{"spec":{"selector":{"app":"many"}}}' >/dev/null
    wait_is "120" eval "kc 1.33 get endpoints many -o go-template='{{range .subsets}}{{len .addresses}}{{end}}'"
    wait_is "100 20" eval "kc 1.33 get endpointslices -l kubernetes.io/service-name=many -o go-template='{{range .items}}{{len .endpoints}}{{\"\\n\"}}{{end}}' | sort -rn | xargs"
}

python_client_reads_them() {
    "$PY" - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python client"; }
import sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
ep = client.CoreV1Api().read_namespaced_endpoints("web", "default")
print("ep", ",".join(a.ip for a in ep.subsets[0].addresses), ep.subsets[0].ports[0].port)
sl = client.DiscoveryV1Api().list_namespaced_endpoint_slice(
    "default", label_selector="kubernetes.io/service-name=web")
for s in sl.items:
    for e in s.endpoints:
        print("slice", e.addresses[0], e.conditions.ready, e.conditions.serving,
              e.conditions.terminating, e.target_ref.name, e.node_name)
PYEOF
    expect_grep "$E2E_TMP/py" "^ep 10\.42\.0\.11,10\.42\.0\.12 8080$"
    expect_grep "$E2E_TMP/py" "^slice 10\.42\.0\.11 True True False web-1 n1$"
}

t "the kubernetes service's endpoints and slice point at the apiserver" kubernetes_endpoints
t "ready pods are addresses, not-ready ones notReadyAddresses; slices ready/serving" ready_and_not_ready
t "python3-kubernetes reads the Endpoints and EndpointSlices" python_client_reads_them
t "named targetPorts resolve per pod into separate subsets and slices" named_ports_per_pod
t "a headless service gets endpoints without ports, with pod hostnames" headless_and_hostnames
t "publishNotReadyAddresses publishes not-ready pods as ready" publish_not_ready
t "terminating pods leave Endpoints, stay terminating in slices; deleted pods go" pod_gone_and_terminating
t "deleting the service deletes its endpoints and slices" service_deleted
t "a service without selector keeps its manual endpoints, mirrored into a slice" selectorless_left_alone
t "120 pods: one Endpoints, slices of at most 100" many_pods_split_slices
