#!/usr/bin/env bash
# test_probes: probes, lifecycle hooks, graceful termination, OOMKilled and the kubelet's
# events, with real pods (root). Like test_pods.sh, the whole test runs in its own network and
# mount namespaces (a tmpfs on /run/kubeling), cgroups under kubeling-test-<pid>, removed by
# `kubeling killall` at the end. Images are built offline from busybox-static (httpd, nc).
. "$(dirname "$0")/lib_node.sh" probes
node_cleanup
node_images
start_server
wait_node

# pod NAME GRACE RESTARTPOLICY SHELL-SCRIPT [EXTRA-CONTAINER-JSON]
# Exec probes get timeoutSeconds 3: forking the ASan build on a busy machine can take a second.
pod() {
    local script=${4//\\/\\\\}
    script=${script//\"/\\\"}
    cat <<EOF | kc 1.33 apply -f - >/dev/null || fail "apply $1"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},"spec":{"nodeName":"$NODE",
 "restartPolicy":"$3","terminationGracePeriodSeconds":$2,
 "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent",
 "command":["sh","-c","$script"]${5:+,$5}}]}}
EOF
}

# events_of POD: "reason|count|message" lines of the pod's events.
events_of() {
    kc 1.33 get events --field-selector "involvedObject.name=$1" \
        -o jsonpath='{range .items[*]}{.reason}|{.count}|{.involvedObject.fieldPath}|{.message}{"\n"}{end}'
}

log_of() { # log_of POD [ATTEMPT]
    local uid
    uid=$(kc 1.33 get pod "$1" -o jsonpath='{.metadata.uid}' 2>/dev/null) || uid=${UIDS[$1]}
    cat "$DATA/agent/logs/pods/default_$1_$uid/c/${2:-0}.log" 2>/dev/null
}
declare -A UIDS

# ctr_root POD: the running container's root seen from the host (/proc/PID/root), where the
# test flips the files its probes look at.
ctr_root() {
    local id pid
    id=$(kc 1.33 get pod "$1" -o jsonpath='{.status.containerStatuses[0].containerID}')
    pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "/run/kubeling/runtime/containers/${id#kubeling://}/state.json")
    [[ -n $pid && -d /proc/$pid/root ]] || fail "no process for $1 ($id)"
    echo "/proc/$pid/root"
}

# ---- the pods, created together, checked one by one ------------------------------------------
pod live 2 Always 'touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600' \
    '"livenessProbe":{"exec":{"command":["cat","/tmp/healthy"]},"periodSeconds":1,"timeoutSeconds":3,"failureThreshold":2}'
pod ready 1 Always 'sleep 3600' \
    '"readinessProbe":{"exec":{"command":["cat","/tmp/ready"]},"periodSeconds":1,"timeoutSeconds":3}'
pod web 1 Always 'mkdir /www; sleep 3; exec httpd -f -p 8080 -h /www' \
    '"readinessProbe":{"httpGet":{"path":"/index.html","port":"http"},"periodSeconds":1},"ports":[{"name":"http","containerPort":8080}]'
pod tcp 1 Always 'sleep 3; httpd -f -p 9090 -h /' \
    '"readinessProbe":{"tcpSocket":{"port":9090},"periodSeconds":1}'
pod startup 1 Always 'sleep 3600' \
    '"startupProbe":{"exec":{"command":["cat","/tmp/started"]},"periodSeconds":1,"timeoutSeconds":3,"failureThreshold":300},
     "livenessProbe":{"exec":{"command":["cat","/tmp/started"]},"periodSeconds":1,"timeoutSeconds":3,"failureThreshold":1}'
pod post 1 Always 'sleep 1; cat /tmp/poststart; sleep 3600' \
    '"lifecycle":{"postStart":{"exec":{"command":["sh","-c","echo poststart-ran >/tmp/poststart"]}}}'
pod postfail 1 Always 'sleep 3600' \
    '"lifecycle":{"postStart":{"exec":{"command":["false"]}}}'
pod oom 1 Never 'exec dd if=/dev/zero of=/dev/null bs=64M count=1' \
    '"resources":{"limits":{"memory":"16Mi"}}'

liveness_failure_restarts_container() {
    wait_for live '{.status.containerStatuses[0].restartCount}' '^[1-9]' 40
    wait_for live '{.status.containerStatuses[0].lastState.terminated.exitCode}' '^137$'
    local ev
    ev=$(events_of live)
    grep -q '^Unhealthy|[0-9]*|spec.containers{c}|Liveness probe failed: cat: can.t open ./tmp/healthy.: No such file or directory' <<<"$ev" ||
        { echo "$ev" >&2; fail "no Unhealthy event"; }
    grep -q '^Killing|[0-9]*|spec.containers{c}|Container c failed liveness probe, will be restarted$' <<<"$ev" ||
        { echo "$ev" >&2; fail "no Killing event"; }
    # repeats are one event with a count, not a flood of objects
    local n
    n=$(grep -c '^Unhealthy|' <<<"$ev")
    ((n == 1)) || { echo "$ev" >&2; fail "$n Unhealthy event objects"; }
    grep -q '^Unhealthy|[2-9]' <<<"$ev" || { echo "$ev" >&2; fail "Unhealthy count not above 1"; }
    local d
    d=$(kc 1.27 describe pod live)
    grep -q 'Liveness:.*exec \[cat /tmp/healthy\] delay=0s timeout=3s period=1s #success=1 #failure=2' <<<"$d" ||
        { echo "$d" >&2; fail "describe (1.27) lacks the probe"; }
    grep -Eq 'Warning +Unhealthy .*Liveness probe failed' <<<"$d" || { echo "$d" >&2; fail "describe 1.27 events"; }
    d=$(kc 1.33 describe pod live)
    grep -Eq 'Normal +Killing .*Container c failed liveness probe, will be restarted' <<<"$d" ||
        { echo "$d" >&2; fail "describe (1.33) lacks Killing"; }
}

standard_events_are_written() {
    local ev
    ev=$(events_of live)
    for want in '^Pulled|[0-9]+|spec.containers{c}|Container image "busybox" already present on machine$' \
        '^Created|[0-9]+|spec.containers{c}|Created container: c$' \
        '^Started|[0-9]+|spec.containers{c}|Started container c$'; do
        grep -Eq "$want" <<<"$ev" || { echo "$ev" >&2; fail "no event /$want/"; }
    done
    local src
    src=$(kc 1.27 get events --field-selector involvedObject.name=live \
        -o jsonpath='{.items[0].source.component}/{.items[0].source.host}/{.items[0].reportingComponent}')
    [[ $src == "kubelet/$NODE/kubelet" ]] || fail "source $src"
    grep -q 'pod/live' <<<"$(kc 1.27 get events)" || { kc 1.27 get events >&2; fail "kubectl 1.27 get events"; }
}

# Right after the start: running, but neither ready nor (with a startup probe) started.
probes_gate_at_first() {
    local p
    for p in ready web startup; do
        wait_for $p '{.status.containerStatuses[0].state.running.startedAt}' '.' 10
    done
    [[ $(kc 1.33 get pod ready -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == False ]] ||
        fail "ready before its probe succeeded"
    [[ $(kc 1.27 get pod web -o jsonpath='{.status.containerStatuses[0].ready}') == false ]] ||
        fail "web ready before its probe succeeded"
    [[ $(kc 1.33 get pod startup -o jsonpath='{.status.containerStatuses[0].started}/{.status.containerStatuses[0].ready}') == false/false ]] ||
        fail "started before the startup probe succeeded"
}

readiness_exec_gates_ready() {
    local root
    root=$(ctr_root ready)
    sleep 2
    [[ $(kc 1.33 get pod ready -o jsonpath='{.status.containerStatuses[0].ready}') == false ]] ||
        fail "ready while its probe fails"
    touch "$root/tmp/ready"
    wait_for ready '{.status.containerStatuses[0].ready}' '^true$' 20
    wait_for ready '{.status.conditions[?(@.type=="Ready")].status}' '^True$'
    wait_for ready '{.status.conditions[?(@.type=="ContainersReady")].status}' '^True$'
    rm "$root/tmp/ready"
    wait_for ready '{.status.containerStatuses[0].ready}' '^false$' 20
    wait_for ready '{.status.conditions[?(@.type=="Ready")].reason}' '^ContainersNotReady$'
    [[ $(kc 1.33 get pod ready -o jsonpath='{.status.containerStatuses[0].restartCount}') == 0 ]] ||
        fail "a readiness failure restarted the container"
}

readiness_http_gates_ready() {
    local root
    root=$(ctr_root web)
    grep -q 'Readiness probe failed: HTTP probe failed with statuscode: 404' <<<"$(sleep 5; events_of web)" ||
        { events_of web >&2; fail "no 404 event before index.html exists"; }
    echo ok >"$root/www/index.html"
    wait_for web '{.status.containerStatuses[0].ready}' '^true$' 20
    rm "$root/www/index.html"
    wait_for web '{.status.containerStatuses[0].ready}' '^false$' 20
    local ev
    ev=$(events_of web)
    grep -q 'Readiness probe failed: Get "http://10\.42\.0\.[0-9]*:8080/index.html": dial tcp 10\.42\.0\.[0-9]*:8080: connect: connection refused' <<<"$ev" ||
        { echo "$ev" >&2; fail "no connection-refused event"; }
    grep -q 'Readiness probe failed: HTTP probe failed with statuscode: 404' <<<"$ev" ||
        { echo "$ev" >&2; fail "no 404 event"; }
}

readiness_tcp_gates_ready() {
    wait_for tcp '{.status.containerStatuses[0].ready}' '^true$' 20
    grep -q 'Readiness probe failed: dial tcp 10\.42\.0\.[0-9]*:9090: connect: connection refused' <<<"$(events_of tcp)" ||
        { events_of tcp >&2; fail "no tcp failure event"; }
}

startup_probe_gates_liveness() {
    sleep 3 # failureThreshold 1 liveness would have killed it by now, were it not gated
    touch "$(ctr_root startup)/tmp/started"
    wait_for startup '{.status.containerStatuses[0].started}' '^true$' 20
    wait_for startup '{.status.containerStatuses[0].ready}' '^true$'
    sleep 2
    [[ $(kc 1.33 get pod startup -o jsonpath='{.status.containerStatuses[0].restartCount}') == 0 ]] ||
        fail "liveness ran before the startup probe succeeded"
    grep -q '^Unhealthy|.*|Startup probe failed' <<<"$(events_of startup)" || fail "no Startup probe event"
}

poststart_hook_runs() {
    wait_for post '{.status.containerStatuses[0].ready}' '^true$'
    local i
    for i in $(seq 25); do log_of post | grep -q poststart-ran && break; sleep 0.2; done
    log_of post | grep -q 'stdout F poststart-ran$' || fail "the postStart hook's file is not there"
}

failed_poststart_kills_container() {
    wait_for postfail '{.status.containerStatuses[0].restartCount}' '^[1-9]' 30
    local ev
    ev=$(events_of postfail)
    grep -q '^FailedPostStartHook|[0-9]*|spec.containers{c}|PostStartHook failed$' <<<"$ev" ||
        { echo "$ev" >&2; fail "no FailedPostStartHook event"; }
    grep -q '^Killing|[0-9]*|spec.containers{c}|FailedPostStartHook$' <<<"$ev" ||
        { echo "$ev" >&2; fail "no Killing event"; }
}

oom_is_reported() {
    wait_for oom '{.status.containerStatuses[0].state.terminated.reason}' '^OOMKilled$' 30
    wait_for oom '{.status.containerStatuses[0].state.terminated.exitCode}' '^137$'
    wait_for oom '{.status.phase}' '^Failed$'
}

# delete_timed POD: seconds (with tenths) kubectl delete took.
delete_timed() {
    local s e
    s=$(date +%s%N)
    timeout 30 "$KUBECTL_DIR/kubectl.1.33" --kubeconfig "$DATA/server/admin.kubeconfig" \
        delete pod "$1" >/dev/null || fail "delete $1 failed or hung"
    e=$(date +%s%N)
    echo $(((e - s) / 100000000))
}

prestop_takes_from_grace() {
    pod stop 6 Always 'trap "echo got-TERM" TERM; echo started; while true; do sleep 0.2; done' \
        '"lifecycle":{"preStop":{"exec":{"command":["sh","-c","echo prestop-start >/proc/1/fd/1; sleep 3; echo prestop-end >/proc/1/fd/1"]}}}'
    wait_for stop '{.status.phase}' '^Running$'
    UIDS[stop]=$(kc 1.33 get pod stop -o jsonpath='{.metadata.uid}')
    local t
    t=$(delete_timed stop)
    echo "# preStop 3 s, grace 6 s: gone after $((t / 10)).$((t % 10)) s"
    ((t >= 55 && t <= 85)) || fail "gone after ${t} tenths of a second, want about 6 s"
    local log
    log=$(log_of stop)
    grep -q 'prestop-end' <<<"$log" || { echo "$log" >&2; fail "the preStop hook did not finish"; }
    grep -A100 'prestop-end' <<<"$log" | grep -q 'got-TERM' ||
        { echo "$log" >&2; fail "no SIGTERM after the preStop hook"; }
    grep -q '^Killing|1|spec.containers{c}|Stopping container c$' <<<"$(events_of stop)" ||
        { events_of stop >&2; fail "no Killing event"; }
}

prestop_leaves_minimum_grace() {
    pod stopmin 3 Always 'trap "echo got-TERM" TERM; echo started; while true; do sleep 0.2; done' \
        '"lifecycle":{"preStop":{"exec":{"command":["sh","-c","sleep 20"]}}}'
    wait_for stopmin '{.status.phase}' '^Running$'
    UIDS[stopmin]=$(kc 1.33 get pod stopmin -o jsonpath='{.metadata.uid}')
    local t
    t=$(delete_timed stopmin)
    echo "# preStop longer than the 3 s grace: gone after $((t / 10)).$((t % 10)) s"
    ((t >= 45 && t <= 90)) || fail "gone after ${t} tenths of a second, want about 3 + 2 s"
    log_of stopmin | grep -q 'got-TERM' || { log_of stopmin >&2; fail "no SIGTERM in the 2 s left"; }
}

t probes_gate_at_first probes_gate_at_first
t readiness_exec_gates_ready readiness_exec_gates_ready
t readiness_http_gates_ready readiness_http_gates_ready
t readiness_tcp_gates_ready readiness_tcp_gates_ready
t startup_probe_gates_liveness startup_probe_gates_liveness
t liveness_failure_restarts_container liveness_failure_restarts_container
t standard_events_are_written standard_events_are_written
t poststart_hook_runs poststart_hook_runs
t failed_poststart_kills_container failed_poststart_kills_container
t oom_is_reported oom_is_reported
kc 1.33 delete pod live ready web tcp startup post postfail oom --wait=false >/dev/null 2>&1
http_prestop_hook_reaches_container() {
    pod hookhttp 10 Always 'exec httpd -f -vv -p 8080 -h /' \
        '"lifecycle":{"preStop":{"httpGet":{"path":"/prestop","port":8080}}}'
    wait_for hookhttp '{.status.phase}' '^Running$'
    UIDS[hookhttp]=$(kc 1.33 get pod hookhttp -o jsonpath='{.metadata.uid}')
    timeout 30 "$KUBECTL_DIR/kubectl.1.27" --kubeconfig "$DATA/server/admin.kubeconfig" \
        delete pod hookhttp >/dev/null || fail "delete failed or hung"
    log_of hookhttp | grep -q 'url:/prestop' || { log_of hookhttp >&2; fail "no preStop request"; }
}

t http_prestop_hook_reaches_container http_prestop_hook_reaches_container
t prestop_takes_from_grace prestop_takes_from_grace
t prestop_leaves_minimum_grace prestop_leaves_minimum_grace
