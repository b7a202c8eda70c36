#!/usr/bin/env bash
# test_stream: pods/exec, attach, portforward and log go through the apiserver's kubelet proxy
# to a fake kubelet (tests/e2e/helpers/fake_kubelet.c, pkg/stream on the server side), with
# real kubectl 1.27 (SPDY/3.1) and 1.33 (WebSocket v5.channel.k8s.io, SPDY tunnelled in
# WebSocket for port-forward) and python3-kubernetes (WebSocket v4.channel.k8s.io).
. "$(dirname "$0")/lib.sh"

HELPERS="$(dirname "$KUBELING_BIN")/tests/helpers"
[[ -x "$HELPERS/fake_kubelet" ]] || HELPERS="$PWD/build/asan/tests/helpers"

start_server
mkdir -p "$E2E_TMP/logs" "$E2E_TMP/www"
"$HELPERS/fake_kubelet" --ca-cert "$DATA/server/tls/ca.crt" --ca-key "$DATA/server/tls/ca.key" \
    --port-file "$E2E_TMP/fk.port" --logs "$E2E_TMP/logs" >"$E2E_TMP/fk.log" 2>&1 &
FK_PID=$!
E2E_CLEANUPS+=("kill $FK_PID 2>/dev/null; wait $FK_PID 2>/dev/null")
for _ in $(seq 100); do [[ -s "$E2E_TMP/fk.port" ]] && break; sleep 0.05; done
FK_PORT=$(cat "$E2E_TMP/fk.port") || fail "fake kubelet did not start"

# a local web server for port-forward (python's http.server on a free port)
echo "hello through port-forward" >"$E2E_TMP/www/index.html"
head -c $((24 << 20)) /dev/urandom >"$E2E_TMP/www/big.bin"
"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' \
    >"$E2E_TMP/web.port"
WEB_PORT=$(cat "$E2E_TMP/web.port")
(cd "$E2E_TMP/www" && exec "$PY" -m http.server "$WEB_PORT" --bind 127.0.0.1) >/dev/null 2>&1 &
WEB_PID=$!
E2E_CLEANUPS+=("kill $WEB_PID 2>/dev/null; wait $WEB_PID 2>/dev/null")

# node_at NAME PORT: a Node whose kubelet is 127.0.0.1:PORT (status set like a kubelet does)
node_at() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create node $1"
apiVersion: v1
kind: Node
metadata: {name: $1}
EOF
    kc 1.33 patch node "$1" --subresource=status --type=merge -p \
        "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$2}}}}" \
        >/dev/null || fail "patch node $1"
}

# pod_on NAME NODE: a running pod bound to NODE
pod_on() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create pod $1"
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  nodeName: $2
  containers: [{name: c, image: busybox}]
EOF
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' \
        >/dev/null || fail "patch pod $1"
}

# kt SECONDS VERSION ARGS...: kc under a timeout (timeout cannot run shell functions)
kt() {
    local secs=$1 v=$2
    shift 2
    timeout "$secs" "$KUBECTL_DIR/kubectl.$v" --kubeconfig "$DATA/server/admin.kubeconfig" "$@"
}

node_at fake-node "$FK_PORT"
pod_on p1 fake-node

exec_echo() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/echo-$v" kt 20 "$v" exec p1 -- echo hi
        expect_rc 0 "exec echo (kubectl $v)"
        [[ "$(cat "$E2E_TMP/echo-$v")" == hi ]] || fail "kubectl $v printed: $(cat "$E2E_TMP/echo-$v")"
    done
    expect_grep "$E2E_TMP/fk.log" 'POST /exec/default/p1/c\?command=echo&command=hi&error=1&output=1'
    expect_grep "$E2E_TMP/fk.log" 'GET /exec/default/p1/c\?command=echo&command=hi&error=1&output=1'
}

exec_exit_code_and_stderr() {
    local v
    for v in 1.27 1.33; do
        timeout 20 "$KUBECTL_DIR/kubectl.$v" --kubeconfig "$DATA/server/admin.kubeconfig" exec p1 \
            -- sh -c 'echo out; echo err >&2; exit 3' >"$E2E_TMP/x-out-$v" 2>"$E2E_TMP/x-err-$v"
        RC=$?
        expect_rc 3 "exit code through kubectl $v"
        expect_grep "$E2E_TMP/x-out-$v" '^out$'
        expect_grep "$E2E_TMP/x-err-$v" '^err$'
        expect_grep "$E2E_TMP/x-err-$v" 'command terminated with exit code 3'
    done
}

exec_stdin() {
    local v
    for v in 1.27 1.33; do
        printf 'first\nsecond\n' | kt 20 "$v" exec -i p1 -- sh -c 'cat; echo eof-seen' \
            >"$E2E_TMP/in-$v" 2>&1
        RC=$?
        expect_rc 0 "exec -i (kubectl $v)"
        [[ "$(cat "$E2E_TMP/in-$v")" == $'first\nsecond\neof-seen' ]] ||
            fail "kubectl $v: $(cat "$E2E_TMP/in-$v")"
    done
}

exec_large_output() {
    local v want got
    want=$(seq 1 2000000 | md5sum)
    for v in 1.27 1.33; do # ~15 MB: many frames, the proxy's backpressure towards kubectl
        got=$(kt 60 "$v" exec p1 -- seq 1 2000000 | md5sum)
        [[ "$got" == "$want" ]] || fail "exec output differs (kubectl $v)"
        # a reader that stalls: everything queued still arrives, then the exit code
        got=$( (kt 60 "$v" exec p1 -- sh -c 'seq 1 2000000; exit 4'; echo "rc=$?") |
            (sleep 3; md5sum))
        [[ "$got" == "$( (seq 1 2000000; echo rc=4) | md5sum)" ]] ||
            fail "stalled reader lost data or the exit code (kubectl $v)"
    done
}

exec_tty_with_resize() {
    local v
    for v in 1.27 1.33; do
        # kubectl sends the first size concurrently with stdin: give it a second to land
        (sleep 1; echo 'sleep 1; stty size; tty >/dev/null && echo is-a-tty; exit 5'; sleep 4) |
            timeout 20 script -qfec "stty cols 123 rows 45; $KUBECTL_DIR/kubectl.$v --kubeconfig $DATA/server/admin.kubeconfig exec -it p1 -- sh" \
                /dev/null >"$E2E_TMP/tty-$v" 2>&1
        RC=${PIPESTATUS[1]}
        tr -d '\r' <"$E2E_TMP/tty-$v" >"$E2E_TMP/tty-$v.txt"
        expect_rc 5 "exec -it exit code (kubectl $v)"
        expect_grep "$E2E_TMP/tty-$v.txt" '(^|# )45 123$' # the prompt may precede it
        expect_grep "$E2E_TMP/tty-$v.txt" '(^|# )is-a-tty$'
    done
}

cp_both_ways() {
    local v
    # 6 MB: many frames, more than a session buffers unparsed (the kubelet must interleave)
    { seq 1 200000; head -c $((5 << 20)) /dev/urandom | base64; } >"$E2E_TMP/big.txt"
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/cp-$v" kt 60 "$v" cp "$E2E_TMP/big.txt" "p1:$E2E_TMP/up-$v.txt"
        expect_rc 0 "cp to the pod (kubectl $v)"
        cmp -s "$E2E_TMP/big.txt" "$E2E_TMP/up-$v.txt" || fail "cp up corrupted (kubectl $v)"
        run_cmd "$E2E_TMP/cpd-$v" kt 60 "$v" cp "p1:$E2E_TMP/big.txt" "$E2E_TMP/down-$v.txt"
        expect_rc 0 "cp from the pod (kubectl $v)"
        cmp -s "$E2E_TMP/big.txt" "$E2E_TMP/down-$v.txt" || fail "cp down corrupted (kubectl $v)"
    done
}

attach_output_and_stdin() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/att-$v" kt 8 "$v" attach p1 -c c # ends by timeout
        expect_grep "$E2E_TMP/att-$v" '^tick [0-9]+$'
        (sleep 2; echo "line-$v"; sleep 4) | kt 8 "$v" attach -i p1 -c c \
            >"$E2E_TMP/atti-$v" 2>&1
        expect_grep "$E2E_TMP/atti-$v" "^echo: line-$v\$"
    done
}

port_forward_curl() {
    local v lp pf i
    for v in 1.27 1.33; do
        lp=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        kc "$v" port-forward pod/p1 "$lp:$WEB_PORT" >"$E2E_TMP/pf-$v" 2>&1 &
        pf=$!
        for i in $(seq 100); do grep -q Forwarding "$E2E_TMP/pf-$v" && break; sleep 0.1; done
        for i in 1 2 3; do # several connections over one session
            curl -sS --max-time 10 "http://127.0.0.1:$lp/index.html" >"$E2E_TMP/curl-$v-$i" 2>&1
            expect_grep "$E2E_TMP/curl-$v-$i" '^hello through port-forward$'
        done
        # 24 MiB through the tunnel (and the proxy's backpressure), byte for byte
        curl -sS --max-time 60 "http://127.0.0.1:$lp/big.bin" -o "$E2E_TMP/big-$v.bin" ||
            fail "big download (kubectl $v)"
        cmp -s "$E2E_TMP/www/big.bin" "$E2E_TMP/big-$v.bin" || fail "big download differs ($v)"
        kill "$pf"
        wait "$pf" 2>/dev/null
    done
    expect_grep "$E2E_TMP/fk.log" 'POST /portForward/default/p1' # 1.27: SPDY
    expect_grep "$E2E_TMP/fk.log" 'GET /portForward/default/p1'  # 1.33: WebSocket tunnel
}

logs_and_follow() {
    local v f
    for v in 1.27 1.33; do
        printf 'line1\nline2\nline3\n' >"$E2E_TMP/logs/default_p1_c.log"
        run_cmd "$E2E_TMP/logs-$v" kc "$v" logs p1
        expect_rc 0 "logs (kubectl $v)"
        [[ "$(cat "$E2E_TMP/logs-$v")" == $'line1\nline2\nline3' ]] || fail "logs: $(cat "$E2E_TMP/logs-$v")"
        run_cmd "$E2E_TMP/tail-$v" kc "$v" logs p1 --tail=1
        [[ "$(cat "$E2E_TMP/tail-$v")" == line3 ]] || fail "--tail=1: $(cat "$E2E_TMP/tail-$v")"
        kc "$v" logs -f p1 >"$E2E_TMP/follow-$v" 2>&1 &
        f=$!
        sleep 1
        echo "appended-$v" >>"$E2E_TMP/logs/default_p1_c.log"
        for _ in $(seq 50); do grep -q "appended-$v" "$E2E_TMP/follow-$v" && break; sleep 0.1; done
        kill "$f"
        wait "$f" 2>/dev/null
        expect_grep "$E2E_TMP/follow-$v" "^appended-$v\$"
    done
}

python_stream_exec() {
    "$PY" - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python stream"; }
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
out = stream(api.connect_get_namespaced_pod_exec, "p1", "default",
             command=["sh", "-c", "echo py-out"], stderr=True, stdin=False, stdout=True, tty=False)
assert out == "py-out\n", repr(out)
r = stream(api.connect_get_namespaced_pod_exec, "p1", "default", command=["sh", "-c", "exit 7"],
           stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
r.run_forever(timeout=10)
assert r.returncode == 7, r.returncode
print("python ok")
PYEOF
    expect_grep "$E2E_TMP/py" 'python ok'
}

errors_like_upstream() {
    kc 1.33 run unbound --image=busybox --restart=Never >/dev/null || fail "create unbound pod"
    run_cmd "$E2E_TMP/e1" kc 1.33 exec unbound -- true
    expect_grep "$E2E_TMP/e1" 'BadRequest.*pod unbound does not have a host assigned'
    run_cmd "$E2E_TMP/e2" kc 1.27 logs unbound
    expect_grep "$E2E_TMP/e2" 'pod unbound does not have a host assigned'
    run_cmd "$E2E_TMP/e3" kc 1.33 exec nope -- true
    expect_grep "$E2E_TMP/e3" 'pods "nope" not found'
    node_at dead-node 1
    pod_on p2 dead-node
    run_cmd "$E2E_TMP/e4" kc 1.27 exec p2 -- true
    expect_grep "$E2E_TMP/e4" 'error dialing backend: dial tcp 127.0.0.1:1: connect: connection refused'
    run_cmd "$E2E_TMP/e5" kc 1.33 exec p2 -- true
    expect_grep "$E2E_TMP/e5" 'error dialing backend: dial tcp 127.0.0.1:1: connect: connection refused'
    run_cmd "$E2E_TMP/e6" kc 1.33 logs p2
    expect_grep "$E2E_TMP/e6" 'Get "https://127.0.0.1:1/containerLogs/default/p2/c": dial tcp'
}

kubelet_certificate_is_verified() {
    # a kubelet whose serving certificate another CA signed is refused by the apiserver
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=rogue \
        -keyout "$E2E_TMP/rogue.key" -out "$E2E_TMP/rogue.crt" >/dev/null 2>&1 || fail "openssl"
    "$HELPERS/fake_kubelet" --ca-cert "$E2E_TMP/rogue.crt" --ca-key "$E2E_TMP/rogue.key" \
        --port-file "$E2E_TMP/rogue.port" >"$E2E_TMP/rogue.log" 2>&1 &
    local rogue=$!
    for _ in $(seq 100); do [[ -s "$E2E_TMP/rogue.port" ]] && break; sleep 0.05; done
    node_at rogue-node "$(cat "$E2E_TMP/rogue.port")"
    pod_on p3 rogue-node
    run_cmd "$E2E_TMP/r1" kt 20 1.33 exec p3 -- echo hi
    kill "$rogue"
    wait "$rogue" 2>/dev/null
    [[ $RC -ne 0 ]] || fail "exec through an unverified kubelet succeeded"
    expect_grep "$E2E_TMP/r1" 'InternalError.*error dialing backend: tls: '
    grep -q '^hi$' "$E2E_TMP/r1" && fail "the command ran"
    return 0
}

kubelet_refuses_other_clients() {
    # only the apiserver's kubelet-client certificate is served; the admin one is refused
    run_cmd "$E2E_TMP/k1" curl_admin -o /dev/null -w '%{http_code}' "https://127.0.0.1:$FK_PORT/healthz"
    expect_grep "$E2E_TMP/k1" '^403$'
    curl -sS --cacert "$DATA/server/tls/ca.crt" --cert "$DATA/server/tls/kubelet-client.crt" \
        --key "$DATA/server/tls/kubelet-client.key" "https://127.0.0.1:$FK_PORT/healthz" \
        >"$E2E_TMP/k2" 2>&1
    expect_grep "$E2E_TMP/k2" '^ok$'
}

server_survives() {
    run_cmd "$E2E_TMP/ok" kc 1.33 get pods
    expect_rc 0 "the server still answers"
    kill -0 "$SERVER_PID" || fail "the server died"
}

shutdown_with_open_tunnels() {
    # the server stops cleanly (no sanitizer report) while exec and logs -f tunnels are open
    kc 1.33 exec p1 -- sleep 30 >/dev/null 2>&1 &
    local e=$!
    kc 1.27 logs -f p1 >/dev/null 2>&1 &
    local l=$! i
    for i in $(seq 200); do # both tunnels reached the kubelet
        grep -q 'command=sleep&command=30' "$E2E_TMP/fk.log" &&
            grep -q 'containerLogs/default/p1/c?follow=true' "$E2E_TMP/fk.log" && break
        sleep 0.1
    done
    sleep 0.5
    kill -TERM "$SERVER_PID"
    for i in $(seq 200); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$e" "$l" 2>/dev/null
    wait "$e" "$l" 2>/dev/null
    kill -0 "$SERVER_PID" 2>/dev/null && fail "the server did not stop within 20 s"
    expect_grep "$E2E_TMP/server.log" 'shutting down'
    if grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$E2E_TMP/server.log"; then
        fail "sanitizer report"
    fi
}

# ONLY=<check> runs one check (debugging)
[[ -n "${ONLY:-}" ]] && { t "$ONLY" "$ONLY"; exit; }
t exec_echo exec_echo
t exec_exit_code_and_stderr exec_exit_code_and_stderr
t exec_stdin exec_stdin
t exec_large_output exec_large_output
t exec_tty_with_resize exec_tty_with_resize
t cp_both_ways cp_both_ways
t attach_output_and_stdin attach_output_and_stdin
t port_forward_curl port_forward_curl
t logs_and_follow logs_and_follow
t python_stream_exec python_stream_exec
t errors_like_upstream errors_like_upstream
t kubelet_certificate_is_verified kubelet_certificate_is_verified
t kubelet_refuses_other_clients kubelet_refuses_other_clients
t server_survives server_survives
t shutdown_with_open_tunnels shutdown_with_open_tunnels
