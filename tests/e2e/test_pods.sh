#!/usr/bin/env bash
# test_pods: the server's kubelet runs pods for real (root). The whole test runs in its own
# network and mount namespaces (loopback up, a tmpfs on /run/kubeling), so the bridge, veths,
# nftables and runtime state never touch the host; cgroups live under kubeling-test-<pid> and
# are removed at the end by `kubeling killall`.
. "$(dirname "$0")/lib_node.sh" pods
node_cleanup
node_images
start_server
wait_node

pod() { # pod NAME RESTARTPOLICY IMAGE COMMAND-JSON [EXTRA-SPEC-JSON]
    cat <<EOF | kc 1.33 apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},"spec":{"nodeName":"$NODE",
 "restartPolicy":"$2","terminationGracePeriodSeconds":5${5:-},
 "containers":[{"name":"c","image":"$3","imagePullPolicy":"IfNotPresent","command":$4}]}}
EOF
}

succeeded_pod_exits_zero_and_logs() {
    pod done Never busybox '["sh","-c","echo hello-from-pod"]'
    wait_for done '{.status.phase}' '^Succeeded$'
    wait_for done '{.status.containerStatuses[0].state.terminated.exitCode}' '^0$'
    wait_for done '{.status.containerStatuses[0].state.terminated.reason}' '^Completed$'
    local uid
    uid=$(kc 1.27 get pod done -o jsonpath='{.metadata.uid}')
    grep -q ' stdout F hello-from-pod$' "$DATA/agent/logs/pods/default_done_$uid/c/0.log" ||
        fail "log file lacks the line"
}

running_pod_gets_ip_and_ready() {
    pod run Always busybox '["sleep","3600"]'
    wait_for run '{.status.phase}' '^Running$'
    wait_for run '{.status.podIP}' '^10\.42\.0\.[0-9]+$'
    wait_for run '{.status.conditions[?(@.type=="Ready")].status}' '^True$'
    grep -q '^kubeling://' <<<"$(kc 1.27 get pod run -o jsonpath='{.status.containerStatuses[0].containerID}')" ||
        fail "no containerID"
    grep -qx BestEffort <<<"$(kc 1.27 get pod run -o jsonpath='{.status.qosClass}')" || fail "qosClass"
}

server_restart_keeps_container() {
    local after
    after=$(kc 1.33 get pod run -o jsonpath='{.status.containerStatuses[0].containerID}')
    [[ -n $BEFORE && $BEFORE == "$after" ]] || fail "containerID $BEFORE became $after"
    wait_for run '{.status.containerStatuses[0].restartCount}' '^0$'
    wait_for run '{.status.phase}' '^Running$'
}

orphan_running() {
    wait_for orphan '{.status.phase}' '^Running$'
}

delete_returns_within_grace() {
    local id start end uid
    uid=$(kc 1.33 get pod run -o jsonpath='{.metadata.uid}')
    id=$(kc 1.33 get pod run -o jsonpath='{.status.containerStatuses[0].containerID}')
    id=${id#kubeling://}
    start=$(date +%s)
    timeout 20 "$KUBECTL_DIR/kubectl.1.33" --kubeconfig "$DATA/server/admin.kubeconfig" \
        delete pod run >/dev/null || fail "kubectl delete failed or hung"
    end=$(date +%s)
    ((end - start <= 10)) || fail "delete took $((end - start)) s (grace 5 s)"
    [[ ! -e /run/kubeling/runtime/containers/$id ]] || fail "container $id is still there"
    ! grep -q "kubeling:$uid" <<<"$(ip link show)" || { ip link show >&2; fail "its veth is left"; }
    [[ ! -e /run/kubeling/runtime/sandboxes/$uid ]] || fail "its sandbox is left"
    ! kc 1.33 get pod run >/dev/null 2>&1 || fail "the pod object is still there"
}

missing_image_shows_pull_error() {
    pod noimg Always kubeling.test/missing:v1 '["true"]'
    wait_for noimg '{.status.containerStatuses[0].state.waiting.reason}' '^(ErrImagePull|ImagePullBackOff)$'
    local msg
    msg=$(kc 1.33 get pod noimg -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
    grep -q 'kubeling.test/missing' <<<"$msg" || fail "message '$msg' does not name the image"
    # a pod that never started, and a finished one, are deleted as well (kubectl 1.27)
    timeout 20 "$KUBECTL_DIR/kubectl.1.27" --kubeconfig "$DATA/server/admin.kubeconfig" \
        delete pod noimg done >/dev/null || fail "delete of noimg and done failed or hung"
    ! kc 1.33 get pod noimg >/dev/null 2>&1 || fail "noimg is still there"
}

crashing_pod_restarts() {
    pod crash Always busybox '["sh","-c","echo crash; exit 3"]'
    wait_for crash '{.status.containerStatuses[0].restartCount}' '^[1-9]' 40
    wait_for crash '{.status.containerStatuses[0].lastState.terminated.exitCode}' '^3$'
    kc 1.27 get pod crash >/dev/null || fail "kubectl 1.27 get"
}

init_containers_then_env_from_fields() {
    cat <<EOF | kc 1.27 apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"init"},"spec":{"nodeName":"$NODE",
 "restartPolicy":"Never","initContainers":[{"name":"i1","image":"busybox",
 "imagePullPolicy":"IfNotPresent","command":["sh","-c","echo first-init"]}],
 "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent","workingDir":"/tmp",
 "command":["sh","-c","echo name=\$MY_NAME ns=\$MY_NS ip=\$MY_IP plain=\$PLAIN pwd=\$(pwd) host=\$(cat /etc/hostname) exp=\$(PLAIN)"],
 "env":[{"name":"PLAIN","value":"v1"},
 {"name":"MY_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
 {"name":"MY_NS","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}},
 {"name":"MY_IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}]}]}}
EOF
    wait_for init '{.status.phase}' '^Succeeded$'
    wait_for init '{.status.initContainerStatuses[0].state.terminated.reason}' '^Completed$'
    local uid ip
    uid=$(kc 1.33 get pod init -o jsonpath='{.metadata.uid}')
    ip=$(kc 1.33 get pod init -o jsonpath='{.status.podIP}')
    grep -q 'first-init' "$DATA/agent/logs/pods/default_init_$uid/i1/0.log" || fail "init log"
    grep -q "name=init ns=default ip=$ip plain=v1 pwd=/tmp host=init exp=v1\$" \
        "$DATA/agent/logs/pods/default_init_$uid/c/0.log" ||
        { cat "$DATA/agent/logs/pods/default_init_$uid/c/0.log" >&2; fail "env/workingDir/hostname"; }
    # a finished pod gives its address back
    sleep 1
    ! grep -q "kubeling:$uid" <<<"$(ip link show)" || fail "the finished pod's veth is left"
}

t succeeded_pod_exits_zero_and_logs succeeded_pod_exits_zero_and_logs
t running_pod_gets_ip_and_ready running_pod_gets_ip_and_ready
BEFORE=$(kc 1.33 get pod run -o jsonpath='{.status.containerStatuses[0].containerID}')
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server
sleep 3
t server_restart_keeps_container server_restart_keeps_container
t delete_returns_within_grace delete_returns_within_grace
t init_containers_then_env_from_fields init_containers_then_env_from_fields
limits_reach_cgroups_and_host_ports_reach_podnet() {
    cat <<EOF | kc 1.33 apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"lim"},"spec":{"nodeName":"$NODE",
 "terminationGracePeriodSeconds":1,
 "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent",
 "command":["sleep","3600"],"ports":[{"containerPort":8080,"hostPort":18080}],
 "resources":{"limits":{"cpu":"500m","memory":"64Mi"}}}]}}
EOF
    wait_for lim '{.status.phase}' '^Running$'
    wait_for lim '{.status.qosClass}' '^Guaranteed$'
    local uid id cg mem
    uid=$(kc 1.33 get pod lim -o jsonpath='{.metadata.uid}')
    id=$(kc 1.33 get pod lim -o jsonpath='{.status.containerStatuses[0].containerID}')
    id=${id#kubeling://}
    cg=$(sed -n 's/.*"cgroup":"\([^"]*\)".*/\1/p' "/run/kubeling/runtime/containers/$id/state.json")
    [[ $cg == "$CG/kubepods/pod$uid/"* ]] || fail "cgroup $cg not under $CG/kubepods/pod$uid"
    if [[ -f /sys/fs/cgroup/memory/$cg/memory.limit_in_bytes ]]; then
        mem=$(cat "/sys/fs/cgroup/memory/$cg/memory.limit_in_bytes")
        grep -q '^50000 100000$' <(echo "$(cat "/sys/fs/cgroup/cpu/$cg/cpu.cfs_quota_us" 2>/dev/null || cat "/sys/fs/cgroup/cpu,cpuacct/$cg/cpu.cfs_quota_us") 100000") ||
            fail "cpu quota"
    else
        mem=$(cat "/sys/fs/cgroup/$cg/memory.max")
        grep -q '^50000 100000$' "/sys/fs/cgroup/$cg/cpu.max" || fail "cpu.max"
    fi
    [[ $mem == 67108864 ]] || fail "memory limit $mem"
    local rules # (grep -q would end nft early: SIGPIPE under pipefail)
    rules=$(nft list table ip kubeling)
    grep -q 'dport 18080 dnat to' <<<"$rules" || { echo "$rules" >&2; fail "no hostPort rule"; }
    kc 1.33 delete pod lim >/dev/null
    rules=$(nft list table ip kubeling)
    ! grep -q 'dport 18080' <<<"$rules" || fail "hostPort rule left"
}

t limits_reach_cgroups_and_host_ports_reach_podnet limits_reach_cgroups_and_host_ports_reach_podnet
t missing_image_shows_pull_error missing_image_shows_pull_error
t crashing_pod_restarts crashing_pod_restarts

# A pod deleted from the API while the kubelet was away is cleaned up when it comes back.
pod orphan Always busybox '["sleep","3600"]'
t orphan_running orphan_running
ORPHAN_UID=$(kc 1.33 get pod orphan -o jsonpath='{.metadata.uid}')
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server --disable-agent
kc 1.33 delete pod orphan --grace-period=0 --force >/dev/null 2>&1
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server
orphan_removed_at_start() {
    local i
    for i in $(seq 100); do
        grep -q "^$ORPHAN_UID" <<<"$(ls /run/kubeling/runtime/containers)" ||
            [[ -e /run/kubeling/runtime/sandboxes/$ORPHAN_UID ]] || break
        sleep 0.2
    done
    ! grep -q "^$ORPHAN_UID" <<<"$(ls /run/kubeling/runtime/containers)" || fail "its container is left"
    [[ ! -e /run/kubeling/runtime/sandboxes/$ORPHAN_UID ]] || fail "its sandbox is left"
    ! grep -q "kubeling:$ORPHAN_UID" <<<"$(ip link show)" || fail "its veth is left"
}
t orphan_removed_at_start orphan_removed_at_start

scheduled_pod_runs() { # no nodeName: the server's scheduler binds it to this node
    cat <<EOT | kc 1.33 apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"sched"},"spec":{
 "terminationGracePeriodSeconds":1,"containers":[{"name":"c","image":"busybox",
 "imagePullPolicy":"IfNotPresent","command":["sleep","3600"]}]}}
EOT
    wait_for sched '{.spec.nodeName}' "^$NODE\$"
    wait_for sched '{.status.phase}' '^Running$'
}
t scheduled_pod_runs scheduled_pod_runs
