#!/usr/bin/env bash
# test_inproc: inside `kubeling server` the scheduler and the controller manager reach the
# apiserver over the in-process transport (socketpairs, no TLS, no socket file): the server holds
# no TCP connection to its own port, the components work through it, and network clients gain
# nothing from it (plain HTTP on the TLS port gets no HTTP answer, TLS without credentials 401).
# See docs/apiserver.md#the-in-process-transport.
. "$(dirname "$0")/lib.sh"

start_server

# The controller manager holds its Lease once its informers run over the transport.
until_ok 60 kc 1.33 -n kube-system get lease kube-controller-manager || fail "no controller manager lease"

no_loopback_tls_from_the_server() {
    local conns
    # connections the server process made to its own port (kubectl's show as sport, not dport)
    conns=$(ss -Htnp state established "( dport = :$PORT )" | grep -c "pid=$SERVER_PID," || true)
    [[ $conns -eq 0 ]] || { ss -tnp state established "( dport = :$PORT )" >&2; fail "$conns TCP connections to the apiserver"; }
    local socks
    socks=$(ss -Hxp | grep -c "pid=$SERVER_PID," || true)
    # both ends of every in-process connection (the informers' watches and the request pools)
    [[ $socks -ge 20 ]] || fail "only $socks unix sockets in the server"
    echo "# $socks socketpair ends in the server, 0 loopback TCP connections"
}

no_socket_file_and_no_unix_listener() {
    local files
    files=$(find "$DATA" "$E2E_TMP" -type s 2>/dev/null | wc -l)
    [[ $files -eq 0 ]] || fail "socket files: $(find "$DATA" "$E2E_TMP" -type s)"
    local listeners
    listeners=$(ss -Hlxp | grep -c "pid=$SERVER_PID," || true)
    [[ $listeners -eq 0 ]] || fail "$listeners unix listeners in the server"
}

components_work_over_the_transport() {
    kc 1.33 create -f - >/dev/null <<JSON || fail "create node"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"fake1"},
 "status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
  "allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},
  "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"ok"}]}}
JSON
    kc 1.33 create deployment web --image=busybox --replicas=2 >/dev/null || fail "create deployment"
    local i n
    for i in $(seq 100); do
        n=$(kc 1.33 get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' 2>/dev/null | grep -c fake1 || true)
        [[ $n -eq 2 ]] && return 0
        sleep 0.2
    done
    kc 1.33 get pods -o wide >&2
    fail "the deployment's pods were not created and bound ($n of 2)"
}

plain_http_on_the_tls_port_is_refused() {
    local out
    out=$(curl -s -m 5 -o - -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/namespaces" 2>&1 || true)
    [[ $out != *'"kind"'* && $out != 200* && ${out: -3} != 200 ]] || fail "plain HTTP answered: $out"
}

tls_without_credentials_is_401() {
    local code
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --cacert "$DATA/server/tls/ca.crt" \
        "https://127.0.0.1:$PORT/api/v1/namespaces")
    [[ $code == 401 ]] || fail "anonymous TLS got $code"
    code=$(curl_admin -m 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/api/v1/namespaces")
    [[ $code == 200 ]] || fail "admin got $code"
}

t "the server's components hold no loopback TLS connections, only socketpairs" no_loopback_tls_from_the_server
t "no socket file and no unix listener" no_socket_file_and_no_unix_listener
t "scheduler and controllers work over the transport (deployment, pods bound)" components_work_over_the_transport
t "plain HTTP on the TLS port gets no HTTP answer" plain_http_on_the_tls_port_is_refused
t "TLS without credentials is 401, with the admin certificate 200" tls_without_credentials_is_401
