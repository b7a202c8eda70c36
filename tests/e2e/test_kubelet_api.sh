#!/usr/bin/env bash
# test_kubelet_api: the real kubelet API (:10250-style HTTPS in the server's kubelet) behind the
# apiserver's pods/log|exec|attach|portforward proxy, with real pods, real kubectl 1.27 and 1.33
# and python3-kubernetes. Root; runs in its own network and mount namespaces like test_pods.sh.
. "$(dirname "$0")/lib_node.sh" kubelet_api
node_cleanup
node_images
# a free port for the kubelet API, and small log files so that rotation happens
start_server --kubelet-port 0 --container-log-max-size 4Ki --container-log-max-files 5
wait_node

kt() { # kt SECONDS VERSION ARGS...: kubectl with a time limit
    local s=$1 v=$2
    shift 2
    timeout "$s" "$KUBECTL_DIR/kubectl.$v" --kubeconfig "$DATA/server/admin.kubeconfig" "$@"
}

pod() { # pod NAME RESTARTPOLICY SHELL-SCRIPT
    local script
    script=$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$3")
    cat <<EOF | kc 1.33 apply -f - >/dev/null
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},"spec":{"nodeName":"$NODE",
 "restartPolicy":"$2","terminationGracePeriodSeconds":1,
 "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent",
 "command":["sh","-c",$script]}]}}
EOF
}

# busybox's other applets, a web page, then ticks on stdout and stderr forever
LINKS='for a in tar httpd nc seq md5sum head stty tty wc; do ln -sf /bin/busybox /bin/$a; done'
pod web Always "$LINKS; mkdir -p /www; echo hello-from-pod >/www/index.html;
 httpd -f -p 8080 -h /www & i=0; while true; do echo tick \$i; echo err-tick \$i >&2; i=\$((i+1)); sleep 0.5; done"
# numbered lines, enough to rotate 4 KiB files a few times, then quiet
pod lines Always "$LINKS; for i in \$(seq 1 150); do printf 'line-%04d padding-padding-padding\n' \$i; done; exec sleep 3600"
# restarts every 2 s with a different first line
pod crash Always 'echo run-$RANDOM-$RANDOM; sleep 2; exit 1'
wait_for web '{.status.phase}' '^Running$'
wait_for lines '{.status.phase}' '^Running$'
KPORT=$(kc 1.33 get node "$NODE" -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')
TLS=$DATA/server/tls

node_advertises_port() {
    [[ $KPORT =~ ^[0-9]+$ && $KPORT -ne 10250 ]] || fail "kubeletEndpoint.Port is '$KPORT'"
    grep -q "kubelet API on 0.0.0.0:$KPORT" "$E2E_TMP/server.log" || fail "not the port served"
}

logs_basic_and_tail() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/l-$v" kt 20 "$v" logs lines
        expect_rc 0 "logs (kubectl $v)"
        # 4 KiB x 5 files hold the newest ~100 records: the output ends with line 150
        [[ $(tail -n 1 "$E2E_TMP/l-$v") == "line-0150 padding-padding-padding" ]] ||
            fail "last line: $(tail -n 1 "$E2E_TMP/l-$v")"
        ls "$DATA"/agent/logs/pods/default_lines_*/c/0.log.1 >/dev/null || fail "no rotated file"
        run_cmd "$E2E_TMP/t-$v" kt 20 "$v" logs lines --tail=60 # spans rotated files
        expect_lines "$E2E_TMP/t-$v" 60
        [[ $(head -n 1 "$E2E_TMP/t-$v") == "line-0091 padding-padding-padding" ]] ||
            fail "--tail=60 starts with $(head -n 1 "$E2E_TMP/t-$v")"
        run_cmd "$E2E_TMP/lb-$v" kt 20 "$v" logs lines --limit-bytes=25
        [[ $(cat "$E2E_TMP/lb-$v") == "line-"* && $(wc -c <"$E2E_TMP/lb-$v") -eq 25 ]] ||
            fail "--limit-bytes=25 gave $(wc -c <"$E2E_TMP/lb-$v") bytes"
        run_cmd "$E2E_TMP/ts-$v" kt 20 "$v" logs lines --tail=2 --timestamps
        expect_lines "$E2E_TMP/ts-$v" 2
        expect_grep "$E2E_TMP/ts-$v" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z line-0150 '
        run_cmd "$E2E_TMP/ss-$v" kt 20 "$v" logs web --since=2s
        expect_grep "$E2E_TMP/ss-$v" '^tick [0-9]+$'
        [[ $(grep -c '^tick' "$E2E_TMP/ss-$v") -le 6 ]] || fail "--since=2s gave too much"
    done
}

logs_follow() {
    local v f n
    for v in 1.27 1.33; do
        kt 20 "$v" logs -f web --tail=1 >"$E2E_TMP/f-$v" 2>&1 &
        f=$!
        for _ in $(seq 50); do
            n=$(grep -c '^tick' "$E2E_TMP/f-$v")
            [[ $n -ge 4 ]] && break
            sleep 0.2
        done
        kill "$f"
        wait "$f" 2>/dev/null || true
        [[ $n -ge 4 ]] || { cat "$E2E_TMP/f-$v" >&2; fail "follow got $n ticks (kubectl $v)"; }
    done
}

logs_previous() {
    wait_for crash '{.status.containerStatuses[0].restartCount}' '^[1-9]'
    wait_for crash '{.status.containerStatuses[0].state.running.startedAt}' '.'
    local v cur prev
    for v in 1.27 1.33; do
        cur=$(kt 20 "$v" logs crash)
        prev=$(kt 20 "$v" logs crash --previous)
        [[ $prev =~ ^run-[0-9]+-[0-9]+$ && $cur =~ ^run- && $prev != "$cur" ]] ||
            fail "previous '$prev', current '$cur' (kubectl $v)"
    done
    # -f ends by itself when the container exits (it runs for 2 s)
    run_cmd "$E2E_TMP/fc" kt 15 1.33 logs -f crash
    expect_rc 0 "logs -f of an exiting container"
    run_cmd "$E2E_TMP/np" kt 20 1.33 logs lines --previous
    expect_grep "$E2E_TMP/np" 'previous terminated container "c" in pod "lines" not found'
}

exec_plain_and_stdin() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/e-$v" kt 20 "$v" exec web -- sh -c 'cat /www/index.html; echo oops >&2; exit 3'
        expect_rc 3 "exec exit code (kubectl $v)"
        expect_grep "$E2E_TMP/e-$v" '^hello-from-pod$'
        expect_grep "$E2E_TMP/e-$v" '^oops$'
        run_cmd "$E2E_TMP/ei-$v" sh -c "seq 1 50000 | timeout 20 $KUBECTL_DIR/kubectl.$v --kubeconfig $DATA/server/admin.kubeconfig exec -i web -- md5sum"
        expect_rc 0 "exec -i (kubectl $v)"
        expect_grep "$E2E_TMP/ei-$v" "^$(seq 1 50000 | md5sum | cut -d' ' -f1)"
        run_cmd "$E2E_TMP/sig-$v" kt 20 "$v" exec web -- cat /proc/self/status
        expect_grep "$E2E_TMP/sig-$v" '^SigIgn:[[:space:]]+0+$' # SIGPIPE is not ignored in there
        expect_grep "$E2E_TMP/sig-$v" '^SigBlk:[[:space:]]+0+$'
        run_cmd "$E2E_TMP/en-$v" kt 20 "$v" exec web -- /no/such/binary
        [[ $RC -ne 0 ]] || fail "a missing binary succeeded (kubectl $v)"
    done
}

exec_tty() {
    local v
    for v in 1.27 1.33; do
        (sleep 1; echo 'sleep 1; stty size; tty >/dev/null && echo is-a-tty; exit 5'; sleep 4) |
            timeout 20 script -qfec "stty cols 123 rows 45; $KUBECTL_DIR/kubectl.$v --kubeconfig $DATA/server/admin.kubeconfig exec -it web -- sh" \
                /dev/null >"$E2E_TMP/tty-$v" 2>&1
        RC=${PIPESTATUS[1]}
        tr -d '\r' <"$E2E_TMP/tty-$v" >"$E2E_TMP/tty-$v.txt"
        expect_rc 5 "exec -it exit code (kubectl $v)"
        expect_grep "$E2E_TMP/tty-$v.txt" '(^|# )45 123$'
        expect_grep "$E2E_TMP/tty-$v.txt" '(^|# )is-a-tty$'
    done
}

cp_both_ways() {
    local v
    { seq 1 100000; head -c $((2 << 20)) /dev/urandom | base64; } >"$E2E_TMP/big.txt"
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/cp-$v" kt 60 "$v" cp "$E2E_TMP/big.txt" "web:/tmp/up-$v.txt"
        expect_rc 0 "cp to the pod (kubectl $v)"
        run_cmd "$E2E_TMP/cpd-$v" kt 60 "$v" cp "web:/tmp/up-$v.txt" "$E2E_TMP/down-$v.txt"
        expect_rc 0 "cp from the pod (kubectl $v)"
        cmp -s "$E2E_TMP/big.txt" "$E2E_TMP/down-$v.txt" || fail "cp round trip differs ($v)"
    done
}

attach_output() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/att-$v" kt 4 "$v" attach web -c c # ends by timeout
        expect_grep "$E2E_TMP/att-$v" '^tick [0-9]+$'
        expect_grep "$E2E_TMP/att-$v" '^err-tick [0-9]+$'
    done
}

port_forward_httpd() {
    local v lp pf i
    for v in 1.27 1.33; do
        lp=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        kc "$v" port-forward pod/web "$lp:8080" >"$E2E_TMP/pf-$v" 2>&1 &
        pf=$!
        for i in $(seq 100); do grep -q Forwarding "$E2E_TMP/pf-$v" && break; sleep 0.1; done
        for i in 1 2 3; do
            curl -sS --max-time 10 "http://127.0.0.1:$lp/index.html" >"$E2E_TMP/curl-$v-$i" 2>&1
            expect_grep "$E2E_TMP/curl-$v-$i" '^hello-from-pod$'
        done
        kill "$pf"
        wait "$pf" 2>/dev/null || true
    done
    # nothing listens on 9 in the pod (the host's 9 does not matter: the pod's namespace)
    lp=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    kc 1.33 port-forward pod/web "$lp:9" >"$E2E_TMP/pf-closed" 2>&1 &
    pf=$!
    for i in $(seq 100); do grep -q Forwarding "$E2E_TMP/pf-closed" && break; sleep 0.1; done
    curl -sS --max-time 5 "http://127.0.0.1:$lp/" >/dev/null 2>&1 && fail "a closed port answered"
    for i in $(seq 50); do grep -q 'connection refused' "$E2E_TMP/pf-closed" && break; sleep 0.1; done
    kill "$pf" 2>/dev/null # kubectl 1.33 exits by itself: "lost connection to pod"
    wait "$pf" 2>/dev/null || true
    expect_grep "$E2E_TMP/pf-closed" 'error forwarding port 9 to pod.*connect: connection refused'
}

python_stream_exec() {
    "$PY" - "$DATA/server/admin.kubeconfig" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python stream"; }
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(sys.argv[1])
api = client.CoreV1Api()
out = stream(api.connect_get_namespaced_pod_exec, "web", "default",
             command=["sh", "-c", "echo py-out; hostname"], stderr=True, stdin=False,
             stdout=True, tty=False)
assert out == "py-out\nweb\n", repr(out)
r = stream(api.connect_get_namespaced_pod_exec, "web", "default", command=["sh", "-c", "exit 7"],
           stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
r.run_forever(timeout=10)
assert r.returncode == 7, r.returncode
print("python ok")
PYEOF
    expect_grep "$E2E_TMP/py" 'python ok'
}

other_clients_refused() {
    local url=https://127.0.0.1:$KPORT
    curl_admin -o /dev/null -w '%{http_code}\n' "$url/healthz" >"$E2E_TMP/adm" 2>&1 # warms admin.crt
    curl -sS --cacert "$TLS/ca.crt" --cert "$E2E_TMP/admin.crt" --key "$E2E_TMP/admin.key" \
        -w '\n%{http_code}\n' "$url/containerLogs/default/web/c" >"$E2E_TMP/r1" 2>&1
    expect_grep "$E2E_TMP/r1" '^403$'
    expect_grep "$E2E_TMP/r1" 'Forbidden \(user=system:admin, verb=get, resource=nodes, subresource=log\)'
    curl -sS --cacert "$TLS/ca.crt" -w '\n%{http_code}\n' "$url/exec/default/web/c?command=true" \
        >"$E2E_TMP/r2" 2>&1
    expect_grep "$E2E_TMP/r2" '^401$'
    curl -sS --cacert "$TLS/ca.crt" --cert "$TLS/kubelet-client.crt" --key "$TLS/kubelet-client.key" \
        "$url/healthz" >"$E2E_TMP/r3" 2>&1
    expect_grep "$E2E_TMP/r3" '^ok$'
}

stats_summary() {
    # the node's usageNanoCores is the host's busy time over the kubelet's 100 ms between two
    # samples (jiffies): a host idle for those 100 ms rightly reads 0, so keep a core busy
    timeout 3 sh -c 'while :; do :; done' &
    local busy=$!
    curl -sS --cacert "$TLS/ca.crt" --cert "$TLS/kubelet-client.crt" --key "$TLS/kubelet-client.key" \
        "https://127.0.0.1:$KPORT/stats/summary" >"$E2E_TMP/sum.json" 2>&1
    kill "$busy" 2>/dev/null || true
    wait "$busy" 2>/dev/null || true
    "$PY" - "$E2E_TMP/sum.json" "$NODE" <<'PYEOF' || { head -c 3000 "$E2E_TMP/sum.json"; fail "summary"; }
import json, sys
s = json.load(open(sys.argv[1]))
n = s["node"]
assert n["nodeName"] == sys.argv[2], n["nodeName"]
assert n["cpu"]["usageCoreNanoSeconds"] > 0 and n["cpu"]["usageNanoCores"] > 0, n["cpu"]
assert 0 < n["memory"]["workingSetBytes"] <= n["memory"]["usageBytes"], n["memory"]
assert n["fs"]["capacityBytes"] >= n["fs"]["usedBytes"] > 0, n["fs"]
pods = {p["podRef"]["name"]: p for p in s["pods"]}
w = pods["web"]
assert w["podRef"]["namespace"] == "default" and w["podRef"]["uid"], w["podRef"]
c = w["containers"][0]
assert c["name"] == "c"
assert c["cpu"]["usageCoreNanoSeconds"] > 0, c["cpu"]
assert 0 < c["memory"]["workingSetBytes"] < 1 << 30, c["memory"]
assert c["memory"]["usageBytes"] >= c["memory"]["workingSetBytes"], c["memory"]
assert c["logs"]["usedBytes"] > 0, c["logs"]
assert w["memory"]["workingSetBytes"] >= c["memory"]["workingSetBytes"]
assert w["process_stats"]["process_count"] >= 2, w
assert w["network"]["name"] == "eth0", w.get("network")
print("summary ok")
PYEOF
}

t node_advertises_port node_advertises_port
t logs_basic_and_tail logs_basic_and_tail
t logs_follow logs_follow
t logs_previous logs_previous
t exec_plain_and_stdin exec_plain_and_stdin
t exec_tty exec_tty
t cp_both_ways cp_both_ways
t attach_output attach_output
t port_forward_httpd port_forward_httpd
t python_stream_exec python_stream_exec
t other_clients_refused other_clients_refused
t stats_summary stats_summary
# sessions still open when the server stops: an exec whose command closed its output and runs
# on, an exec -i waiting for stdin, a logs -f
kt 60 1.33 exec web -- sh -c 'exec >&- 2>&-; sleep 300' >/dev/null 2>&1 &
(sleep 60 | kt 60 1.27 exec -i web -- cat >/dev/null 2>&1) &
kt 60 1.33 logs -f web >/dev/null 2>&1 &
sleep 2
kill "$SERVER_PID"
STOP_START=$(date +%s)
wait "$SERVER_PID" 2>/dev/null
STOP_SECS=$(($(date +%s) - STOP_START))
server_stops_cleanly() {
    [[ $STOP_SECS -le 10 ]] || fail "the server took $STOP_SECS s to stop with sessions open"
    ! grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$E2E_TMP/server.log" ||
        fail "sanitizer report in the server log"
}
t server_stops_cleanly server_stops_cleanly
