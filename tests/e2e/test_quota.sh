#!/usr/bin/env bash
# test_quota: ResourceQuota and LimitRange as upstream's admission plugins and quota controller:
# hard limits on object counts and compute resources with upstream's 403 messages, scopes,
# LimitRange defaults on created pods and min/max refusals, status.used following creates and
# deletes, concurrent creates never past the limit. Real kubectl 1.27/1.33 and the Python client.
. "$(dirname "$0")/lib.sh"

start_server

wait_used() { # wait_used NS QUOTA JSONPATH WANT
    local i got
    for i in $(seq 50); do
        got=$(kc 1.33 get quota "$2" -n "$1" -o jsonpath="$3")
        [[ $got == "$4" ]] && return 0
        sleep 0.1
    done
    fail "quota $2 $3: $got, want $4"
}

counts_and_messages() {
    kc 1.33 create namespace q1 >/dev/null
    # the root-CA publisher puts kube-root-ca.crt in every namespace; it counts, as upstream
    local i
    for i in $(seq 100); do
        kc 1.33 get configmap kube-root-ca.crt -n q1 >/dev/null 2>&1 && break
        sleep 0.1
    done
    kc 1.33 create quota counts -n q1 --hard=pods=2,configmaps=2,services=1,services.nodeports=1,secrets=5,count/deployments.apps=1 >/dev/null ||
        fail "create quota"
    wait_used q1 counts '{.status.hard.pods}/{.status.used.pods}' '2/0'
    kc 1.33 run a -n q1 --image=busybox --restart=Never >/dev/null || fail "pod a"
    kc 1.27 run b -n q1 --image=busybox --restart=Never >/dev/null || fail "pod b"
    run_cmd "$E2E_TMP/o" kc 1.33 run c -n q1 --image=busybox --restart=Never
    expect_grep "$E2E_TMP/o" 'pods "c" is forbidden: exceeded quota: counts, requested: pods=1, used: pods=2, limited: pods=2'
    kc 1.33 create deployment d1 -n q1 --image=busybox --replicas=0 >/dev/null || fail "deployment d1"
    run_cmd "$E2E_TMP/o" kc 1.27 create deployment d2 -n q1 --image=busybox
    expect_grep "$E2E_TMP/o" 'deployments.apps "d2" is forbidden: exceeded quota: counts, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1'
    kc 1.33 create service nodeport np -n q1 --tcp=80:80 >/dev/null || fail "nodeport service"
    run_cmd "$E2E_TMP/o" kc 1.33 create service clusterip c2 -n q1 --tcp=80:80
    expect_grep "$E2E_TMP/o" 'services "c2" is forbidden: exceeded quota: counts, requested: services=1, used: services=1, limited: services=1'
    run_cmd "$E2E_TMP/d" kc 1.27 describe quota counts -n q1
    expect_grep "$E2E_TMP/d" '^Resource +Used +Hard$'
    expect_grep "$E2E_TMP/d" '^pods +2 +2$'
    expect_grep "$E2E_TMP/d" '^services.nodeports +1 +1$'
    expect_grep "$E2E_TMP/d" '^count/deployments.apps +1 +1$'
    run_cmd "$E2E_TMP/g" kc 1.33 get quota counts -n q1
    expect_grep "$E2E_TMP/g" '^NAME +AGE +REQUEST +LIMIT$'
    expect_grep "$E2E_TMP/g" '^counts +[0-9]+s +configmaps: 1/2, count/deployments.apps: 1/1, pods: 2/2, secrets: 0/5, services: 1/1, services.nodeports: 1/1 *$'
}

used_follows_deletes() {
    kc 1.33 delete pod a -n q1 >/dev/null || fail "delete a"
    wait_used q1 counts '{.status.used.pods}' '1'
    kc 1.33 run c -n q1 --image=busybox --restart=Never >/dev/null || fail "pod c after a delete"
    wait_used q1 counts '{.status.used.pods}' '2'
    kc 1.33 delete pods --all -n q1 >/dev/null || fail "deletecollection"
    wait_used q1 counts '{.status.used.pods}' '0'
    kc 1.33 delete deployment d1 -n q1 >/dev/null
    wait_used q1 counts '{.status.used.count/deployments\.apps}' '0'
}

concurrent_creates_stay_under_the_limit() {
    local i
    for i in $(seq 1 12); do
        kc 1.33 create configmap "cm$i" -n q1 >/dev/null 2>&1 &
    done
    wait
    # kube-root-ca.crt holds one of the two
    [[ $(kc 1.33 get configmaps -n q1 --no-headers | grep -c '^cm') -eq 1 ]] ||
        fail "$(kc 1.33 get configmaps -n q1 --no-headers | grep -c '^cm') configmaps admitted, limit 2 with kube-root-ca.crt"
    wait_used q1 counts '{.status.used.configmaps}' '2'
    # the Python client: 20 creates in threads
    $PY - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'EOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys, concurrent.futures
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
def make(i):
    try:
        v1.create_namespaced_secret("q1", client.V1Secret(metadata=client.V1ObjectMeta(name="s%d" % i)))
        return 201
    except ApiException as e:
        assert e.status == 403 and "exceeded quota: counts" in e.body, e.body
        return 403
with concurrent.futures.ThreadPoolExecutor(10) as ex:
    codes = list(ex.map(make, range(20)))
assert codes.count(201) == 5, codes
print("ok")
EOF
    grep -qx ok "$E2E_TMP/py" || { cat "$E2E_TMP/py"; fail "python output"; }
    wait_used q1 counts '{.status.used.secrets}' '5'
}

compute_resources_and_limitrange() {
    kc 1.33 create namespace q2 >/dev/null
    kc 1.33 create quota compute -n q2 --hard=requests.cpu=1,requests.memory=1Gi,limits.cpu=2,limits.memory=2Gi >/dev/null
    run_cmd "$E2E_TMP/o" kc 1.33 run nolimits -n q2 --image=busybox --restart=Never
    expect_grep "$E2E_TMP/o" 'pods "nolimits" is forbidden: failed quota: compute: must specify limits.cpu for: nolimits; limits.memory for: nolimits; requests.cpu for: nolimits; requests.memory for: nolimits'
    cat >"$E2E_TMP/lr.yaml" <<'EOF'
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: q2}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 250m, memory: 128Mi}
    max: {cpu: "1", memory: 1Gi}
    min: {cpu: 50m}
  - type: PersistentVolumeClaim
    max: {storage: 2Gi}
EOF
    kc 1.27 create -f "$E2E_TMP/lr.yaml" >/dev/null || fail "limitrange"
    run_cmd "$E2E_TMP/d" kc 1.27 describe limits defaults -n q2
    expect_grep "$E2E_TMP/d" '^Container +cpu +50m +1 +250m +500m +- *$'
    expect_grep "$E2E_TMP/d" '^Container +memory +- +1Gi +128Mi +256Mi +- *$'
    expect_grep "$E2E_TMP/d" '^PersistentVolumeClaim +storage +- +2Gi +- +- +- *$'
    kc 1.33 run web -n q2 --image=busybox --restart=Never >/dev/null || fail "pod with defaults"
    local res
    res=$(kc 1.27 get pod web -n q2 -o jsonpath='{.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.requests.memory} {.spec.containers[0].resources.limits.cpu} {.spec.containers[0].resources.limits.memory}')
    [[ $res == '250m 128Mi 500m 256Mi' ]] || fail "defaults: $res"
    kc 1.27 get pod web -n q2 -o jsonpath='{.metadata.annotations.kubernetes\.io/limit-ranger}' |
        grep -qx 'LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web' ||
        fail "limit-ranger annotation"
    wait_used q2 compute '{.status.used.requests\.cpu} {.status.used.requests\.memory} {.status.used.limits\.cpu} {.status.used.limits\.memory}' '250m 128Mi 500m 256Mi'
    run_cmd "$E2E_TMP/o" kc 1.33 run big -n q2 --image=busybox --restart=Never --overrides='{"spec":{"containers":[{"name":"big","image":"busybox","resources":{"limits":{"cpu":"2"}}}]}}'
    expect_grep "$E2E_TMP/o" 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    run_cmd "$E2E_TMP/o" kc 1.33 run tiny -n q2 --image=busybox --restart=Never --overrides='{"spec":{"containers":[{"name":"tiny","image":"busybox","resources":{"requests":{"cpu":"10m"}}}]}}'
    expect_grep "$E2E_TMP/o" 'pods "tiny" is forbidden: minimum cpu usage per Container is 50m, but request is 10m'
    printf 'apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: claim, namespace: q2}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 5Gi}}\n' >"$E2E_TMP/pvc.yaml"
    run_cmd "$E2E_TMP/o" kc 1.33 create -f "$E2E_TMP/pvc.yaml"
    expect_grep "$E2E_TMP/o" 'persistentvolumeclaims "claim" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi'
    # quota on compute: three more 250m pods fit requests.cpu=1, the fifth does not
    kc 1.33 run w2 -n q2 --image=busybox --restart=Never >/dev/null || fail "w2"
    kc 1.33 run w3 -n q2 --image=busybox --restart=Never >/dev/null || fail "w3"
    kc 1.33 run w4 -n q2 --image=busybox --restart=Never >/dev/null || fail "w4"
    run_cmd "$E2E_TMP/o" kc 1.33 run w5 -n q2 --image=busybox --restart=Never
    expect_grep "$E2E_TMP/o" 'pods "w5" is forbidden: exceeded quota: compute, requested: limits.cpu=500m,requests.cpu=250m, used: limits.cpu=2,requests.cpu=1, limited: limits.cpu=2,requests.cpu=1'
    run_cmd "$E2E_TMP/d" kc 1.33 describe quota compute -n q2
    expect_grep "$E2E_TMP/d" '^limits.memory +1Gi +2Gi$'
    expect_grep "$E2E_TMP/d" '^requests.cpu +1 +1$'
}

scopes_select_pods() {
    kc 1.33 create namespace q3 >/dev/null
    kc 1.33 create quota be -n q3 --hard=pods=1 --scopes=BestEffort >/dev/null || fail "scoped quota"
    kc 1.33 create quota term -n q3 --hard=pods=1 --scopes=Terminating >/dev/null || fail "terminating quota"
    kc 1.33 run be1 -n q3 --image=busybox --restart=Never >/dev/null || fail "be1"
    run_cmd "$E2E_TMP/o" kc 1.33 run be2 -n q3 --image=busybox --restart=Never
    expect_grep "$E2E_TMP/o" 'exceeded quota: be, requested: pods=1, used: pods=1, limited: pods=1'
    kc 1.33 run burst -n q3 --image=busybox --restart=Never --overrides='{"spec":{"containers":[{"name":"burst","image":"busybox","resources":{"requests":{"cpu":"10m"}}}]}}' >/dev/null ||
        fail "a NotBestEffort pod is outside the BestEffort quota"
    kc 1.33 run dl -n q3 --image=busybox --restart=Never --overrides='{"spec":{"activeDeadlineSeconds":60,"containers":[{"name":"dl","image":"busybox","resources":{"requests":{"cpu":"10m"}}}]}}' >/dev/null ||
        fail "first Terminating pod"
    run_cmd "$E2E_TMP/o" kc 1.33 run dl2 -n q3 --image=busybox --restart=Never --overrides='{"spec":{"activeDeadlineSeconds":60,"containers":[{"name":"dl2","image":"busybox","resources":{"requests":{"cpu":"10m"}}}]}}'
    expect_grep "$E2E_TMP/o" 'exceeded quota: term, requested: pods=1, used: pods=1, limited: pods=1'
    kc 1.33 create configmap free -n q3 >/dev/null || fail "scoped quotas do not count configmaps"
    wait_used q3 be '{.status.used.pods}' '1'
    wait_used q3 term '{.status.used.pods}' '1'
}

updates_are_charged_for_growth() {
    kc 1.33 create namespace q4 >/dev/null
    kc 1.33 create quota np -n q4 --hard=services.nodeports=1,services=5 >/dev/null
    kc 1.33 create service nodeport a -n q4 --tcp=80:80 >/dev/null || fail "nodeport a"
    kc 1.33 create service clusterip b -n q4 --tcp=80:80 >/dev/null || fail "clusterip b"
    run_cmd "$E2E_TMP/o" kc 1.33 patch service b -n q4 --type=merge -p '{"spec":{"type":"NodePort"}}'
    expect_grep "$E2E_TMP/o" 'services "b" is forbidden: exceeded quota: np, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1'
    kc 1.33 label service b -n q4 x=y >/dev/null || fail "an update that adds nothing is not charged"
    kc 1.33 delete service a -n q4 >/dev/null
    wait_used q4 np '{.status.used.services\.nodeports}' '0'
    kc 1.33 patch service b -n q4 --type=merge -p '{"spec":{"type":"NodePort"}}' >/dev/null || fail "room again"
    wait_used q4 np '{.status.used.services\.nodeports}/{.status.used.services}' '1/1'
}

limitrange_pod_and_ratio() {
    kc 1.33 create namespace q5 >/dev/null
    cat >"$E2E_TMP/lr5.yaml" <<'EOF'
apiVersion: v1
kind: LimitRange
metadata: {name: ratio, namespace: q5}
spec:
  limits:
  - type: Container
    maxLimitRequestRatio: {cpu: "2"}
  - type: Pod
    max: {cpu: "1"}
EOF
    kc 1.33 create -f "$E2E_TMP/lr5.yaml" >/dev/null || fail "limitrange"
    cat >"$E2E_TMP/p5.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: two, namespace: q5}
spec:
  containers:
  - {name: a, image: busybox, resources: {requests: {cpu: 100m}, limits: {cpu: 500m}}}
  - {name: b, image: busybox, resources: {requests: {cpu: 400m}, limits: {cpu: 700m}}}
EOF
    run_cmd "$E2E_TMP/o" kc 1.27 create -f "$E2E_TMP/p5.yaml"
    expect_grep "$E2E_TMP/o" 'pods "two" is forbidden: \[cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000, maximum cpu usage per Pod is 1, but limit is 1200m\]'
    sed -i 's/limits: {cpu: 500m}/limits: {cpu: 200m}/; s/limits: {cpu: 700m}/limits: {cpu: 600m}/' "$E2E_TMP/p5.yaml"
    kc 1.27 create -f "$E2E_TMP/p5.yaml" >/dev/null || fail "a pod within the ranges"
}

t "object counts refused with upstream's exceeded-quota messages; describe/get quota" counts_and_messages
t "status.used follows deletes (single and deletecollection)" used_follows_deletes
t "concurrent creates (kubectl, Python threads) never pass the limit" concurrent_creates_stay_under_the_limit
t "compute quotas, must-specify, LimitRange defaults and min/max refusals" compute_resources_and_limitrange
t "BestEffort and Terminating scopes select pods" scopes_select_pods
t "LimitRange Pod totals and maxLimitRequestRatio, several refusals in one message" limitrange_pod_and_ratio
t "updates are charged for what they add (a service becoming NodePort)" updates_are_charged_for_growth
