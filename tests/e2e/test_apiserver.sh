#!/usr/bin/env bash
# test_apiserver: `kubeling server` serves HTTPS with its own PKI; real kubectl (oldest and
# newest) authenticates with the admin kubeconfig; anonymous clients reach only the public
# paths; limits answer with Status objects; bad input does not hurt the server; a restart
# reuses the certificates.
. "$(dirname "$0")/lib.sh"
# raw REQUEST-BYTES-PYTHON-EXPR: sends bytes over TLS without a client certificate and prints
# everything the server answers until it closes the connection.
raw() {
    "$PY" - "$PORT" "$DATA/server/tls/ca.crt" "$1" <<'PYEOF'
import socket, ssl, sys
port, ca, expr = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
try:
    s.sendall(eval(expr))
except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
    pass
data = b""
try:  # every request sent here ends the connection (error, or Connection: close): read to EOF
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except (socket.timeout, ConnectionResetError, ssl.SSLError):
    pass
print(data.decode(errors="replace"))
PYEOF
}

start_server

files_have_safe_modes() {
    local f
    [[ $(stat -c %a "$DATA/server") == 700 ]] || fail "server dir mode $(stat -c %a "$DATA/server")"
    [[ $(stat -c %a "$DATA/server/tls") == 700 ]] || fail "tls dir mode"
    for f in ca.key serving.key admin.key; do
        [[ $(stat -c %a "$DATA/server/tls/$f") == 600 ]] || fail "$f mode $(stat -c %a "$DATA/server/tls/$f")"
    done
    [[ $(stat -c %a "$DATA/server/admin.kubeconfig") == 600 ]] || fail "kubeconfig mode"
}

# k3s's convention: a copy of the admin kubeconfig (--write-kubeconfig, --write-kubeconfig-mode;
# lib.sh asks for $E2E_TMP/kubeling.yaml with mode 0640).
write_kubeconfig_copy() {
    [[ $(stat -c %a "$E2E_TMP/kubeling.yaml") == 640 ]] || fail "copy mode $(stat -c %a "$E2E_TMP/kubeling.yaml")"
    run_cmd "$E2E_TMP/wk" "$KUBECTL_DIR/kubectl.1.27" --kubeconfig "$E2E_TMP/kubeling.yaml" get ns default
    expect_rc 0 "kubectl with the written kubeconfig"
    run_cmd "$E2E_TMP/wm" "$KUBELING_BIN" server --data-dir "$E2E_TMP/other" --write-kubeconfig-mode 999
    expect_rc 2 "a mode that is not octal"
    expect_grep "$E2E_TMP/wm" 'not an octal mode'
}

kubectl_version() { # for the oldest and newest kubectl we support
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/v-$v" kc "$v" version -o json
        expect_rc 0 "kubectl $v version"
        expect_grep "$E2E_TMP/v-$v" '"gitVersion": "v1.31.0\+kubeling"'
        expect_grep "$E2E_TMP/v-$v" '"platform": "linux/amd64"'
    done
}

kubectl_raw_health() {
    run_cmd "$E2E_TMP/h" kc 1.33 get --raw /healthz
    expect_rc 0 "get --raw /healthz"
    expect_grep "$E2E_TMP/h" '^ok$'
    run_cmd "$E2E_TMP/r" kc 1.27 get --raw '/readyz?verbose'
    expect_rc 0 "get --raw /readyz?verbose"
    expect_grep "$E2E_TMP/r" '^\[\+\]store ok$'
    expect_grep "$E2E_TMP/r" '^readyz check passed$'
}

certificate_verifies_with_sans() {
    run_cmd "$E2E_TMP/c" curl -sS --cacert "$DATA/server/tls/ca.crt" \
        --resolve "e2e.example.test:$PORT:127.0.0.1" "https://e2e.example.test:$PORT/livez"
    expect_rc 0 "curl with the cluster CA via the extra SAN"
    expect_grep "$E2E_TMP/c" '^ok$'
    run_cmd "$E2E_TMP/c2" curl -sS --cacert "$DATA/server/tls/ca.crt" \
        --resolve "kubernetes.default.svc:$PORT:127.0.0.1" "https://kubernetes.default.svc:$PORT/version"
    expect_rc 0 "curl via kubernetes.default.svc"
    expect_grep "$E2E_TMP/c2" '"major":"1"'
}

tls_versions_and_aead_suites_only() {
    local ca="$DATA/server/tls/ca.crt" u="https://127.0.0.1:$PORT/livez"
    run_cmd "$E2E_TMP/t13" curl -sS --cacert "$ca" --tlsv1.3 -w ' %{ssl_verify_result}' "$u"
    expect_rc 0 "TLS 1.3"
    run_cmd "$E2E_TMP/t12" curl -sS --cacert "$ca" --tlsv1.2 --tls-max 1.2 "$u"
    expect_rc 0 "TLS 1.2"
    run_cmd "$E2E_TMP/t11" curl -sS --cacert "$ca" --tlsv1.1 --tls-max 1.1 "$u"
    [[ $RC -ne 0 ]] || fail "TLS 1.1 was accepted"
    run_cmd "$E2E_TMP/gcm" curl -sS --cacert "$ca" --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256 "$u"
    expect_rc 0 "ECDHE-ECDSA-AES128-GCM-SHA256 (the control for the refusal below)"
    run_cmd "$E2E_TMP/cbc" curl -sS --cacert "$ca" --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-SHA256 "$u"
    [[ $RC -ne 0 ]] || fail "a CBC suite was accepted"
}

anonymous_is_refused_except_public_paths() {
    run_cmd "$E2E_TMP/a" curl -sS --cacert "$DATA/server/tls/ca.crt" -w '\n%{http_code}' "https://127.0.0.1:$PORT/api"
    expect_grep "$E2E_TMP/a" '"reason":"Unauthorized"'
    expect_grep "$E2E_TMP/a" '"code":401'
    expect_grep "$E2E_TMP/a" '^401$'
    run_cmd "$E2E_TMP/b" curl -sS --cacert "$DATA/server/tls/ca.crt" -w '\n%{http_code}' "https://127.0.0.1:$PORT/version"
    expect_grep "$E2E_TMP/b" '^200$'
}

unknown_path_is_a_not_found_status() {
    run_cmd "$E2E_TMP/n" kc 1.33 get --raw /no/such/path
    expect_rc 1 "unknown path"
    expect_grep "$E2E_TMP/n" 'NotFound|could not find the requested resource'
}

limits_answer_with_status() {
    raw 'b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n"' >"$E2E_TMP/413"
    expect_grep "$E2E_TMP/413" '^HTTP/1.1 413 '
    expect_grep "$E2E_TMP/413" '"reason":"RequestEntityTooLarge"'
    raw 'b"GET /version HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1100 * 1024) + b"\r\n\r\n"' >"$E2E_TMP/431"
    expect_grep "$E2E_TMP/431" '^HTTP/1.1 431 '
    raw 'b"GARBAGE\x00\x01\x02 / HTTP/9.9\r\n\r\n"' >"$E2E_TMP/400"
    expect_grep "$E2E_TMP/400" '^HTTP/1.1 400 '
    raw 'b"GET /version HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"' >"$E2E_TMP/pipe"
    expect_grep "$E2E_TMP/pipe" '"major":"1"'
    expect_grep "$E2E_TMP/pipe" 'Connection: close'
}

bad_input_does_not_hurt_the_server() {
    "$PY" - "$PORT" <<'PYEOF'
import os, socket, sys
port = int(sys.argv[1])
for i in range(50):  # random bytes instead of a TLS handshake, and half-open connections
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(os.urandom(1 + i * 97))
    if i % 2:
        s.close()
    else:
        s.shutdown(socket.SHUT_WR)
        try:
            s.recv(100)
        except ConnectionResetError:
            pass
        s.close()
PYEOF
    run_cmd "$E2E_TMP/after" kc 1.33 get --raw /healthz
    expect_rc 0 "healthz after garbage"
    kill -0 "$SERVER_PID" || fail "server died"
}

stopped_with_zero() {
    [[ $STOP_RC -eq 0 ]] || { cat "$E2E_TMP/server.log"; fail "server exited $STOP_RC after SIGTERM"; }
}

certificates_survive_restart() {
    [[ "$(cert_sums)" == "$CERTS_BEFORE" ]] || fail "certificates changed across a restart"
    run_cmd "$E2E_TMP/v2" kc 1.33 version -o json
    expect_rc 0 "kubectl after restart"
}

cert_sums() {
    sha256sum "$DATA/server/tls/ca.crt" "$DATA/server/tls/serving.crt" | awk '{print $1}'
}

t files_have_safe_modes files_have_safe_modes
t write_kubeconfig_copy write_kubeconfig_copy
t kubectl_version kubectl_version
t kubectl_raw_health kubectl_raw_health
t certificate_verifies_with_sans certificate_verifies_with_sans
t tls_versions_and_aead_suites_only tls_versions_and_aead_suites_only
t anonymous_is_refused_except_public_paths anonymous_is_refused_except_public_paths
t unknown_path_is_a_not_found_status unknown_path_is_a_not_found_status
t limits_answer_with_status limits_answer_with_status
t bad_input_does_not_hurt_the_server bad_input_does_not_hurt_the_server
# Restart at the top level: the server is this shell's child.
CERTS_BEFORE=$(cert_sums)
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
STOP_RC=$?
t server_stops_cleanly_on_sigterm stopped_with_zero
start_server
t certificates_survive_restart certificates_survive_restart
