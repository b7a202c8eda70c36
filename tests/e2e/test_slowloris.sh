#!/usr/bin/env bash
# test_slowloris: clients that hold connections open without finishing a TLS handshake, or that
# dribble request headers one byte at a time, do not keep the server from answering others, and
# are cut off by the handshake and header-read timeouts (10 s each by default).
. "$(dirname "$0")/lib.sh"

start_server

slow_clients_are_cut_off_and_others_served() {
    "$PY" - "$PORT" "$DATA/server/tls/ca.crt" "$KUBECTL_DIR/kubectl.1.33" \
        "$DATA/server/admin.kubeconfig" >"$E2E_TMP/slow" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/slow"; fail "slowloris"; }
import socket, ssl, subprocess, sys, time
port, ca, kubectl, kcfg = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]  # no handshake
dribblers = []
for _ in range(40):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n")
    dribblers.append(s)
start = time.monotonic()
served = []
# while the slow clients hold their connections, a real client is answered at once
while time.monotonic() - start < 13:
    for s in dribblers:
        try:
            s.sendall(b"X")  # one header byte per round, never the end of the headers
        except OSError:
            pass
    t0 = time.monotonic()
    r = subprocess.run([kubectl, "--kubeconfig", kcfg, "get", "--raw", "/readyz"],
                       capture_output=True, timeout=10)
    served.append(time.monotonic() - t0)
    assert r.returncode == 0 and r.stdout.strip() == b"ok", r
    time.sleep(1)
assert max(served) < 3, served
# by now (past both 10 s timeouts) the server has closed every slow connection
def closed(s):
    s.settimeout(3)
    try:
        return s.recv(65536) == b""  # EOF (the server may first send 408 / an alert)
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
def closed_fully(s):
    for _ in range(4):
        try:
            if closed(s):
                return True
        except OSError:
            return True
    return False
open_silent = sum(not closed_fully(s) for s in silent)
open_dribblers = sum(not closed_fully(s) for s in dribblers)
assert open_silent == 0, "%d silent connections still open" % open_silent
assert open_dribblers == 0, "%d dribbling connections still open" % open_dribblers
print("slowloris ok: %d requests served while held, slowest %.2f s" % (len(served), max(served)))
PYEOF
    expect_grep "$E2E_TMP/slow" 'slowloris ok'
    grep '^slowloris ok' "$E2E_TMP/slow" | sed 's/^/# /'
}

t "slow handshakes and dribbled headers are cut off; others are served meanwhile" slow_clients_are_cut_off_and_others_served
