# lib.sh: helpers for e2e tests, sourced by every tests/e2e/test_*.sh. Output is TAP-like:
# "ok <name>" or "not ok <name>" per check, with the reason on the following "#" lines.
set -uo pipefail

KUBELING_BIN="${KUBELING_BIN:-$PWD/build/asan/kubeling}"
E2E_TMP=$(mktemp -d /tmp/kubeling-e2e.XXXXXX)
trap 'e2e_cleanup' EXIT
E2E_CLEANUPS=()

e2e_cleanup() {
    local c
    for c in "${E2E_CLEANUPS[@]}"; do eval "$c" || true; done
    if [[ -f "$E2E_TMP/server.log" ]]; then # kept for post-mortems (sanitizer reports)
        local logs
        logs="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/e2e-logs"
        mkdir -p "$logs" && cp "$E2E_TMP/server.log" "$logs/$(basename "$0" .sh).server.log"
    fi
    rm -rf "$E2E_TMP"
}

# t NAME FUNC: runs FUNC in a subshell; any failing `expect` marks the check failed.
t() {
    local name=$1 fn=$2 out
    if out=$( (set -e; "$fn") 2>&1); then
        echo "ok $name"
        grep '^# ' <<<"$out" || true
    else
        echo "not ok $name"
        sed 's/^/#   /' <<<"$out" | tail -n 30
    fi
}

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# run_cmd OUTFILE CMD...: runs CMD, stdout+stderr to OUTFILE, sets RC.
run_cmd() {
    local out=$1
    shift
    "$@" >"$out" 2>&1
    RC=$?
    return 0
}

expect_rc() {
    [[ "$RC" -eq "$1" ]] || fail "exit code $RC, want $1 ($2)"
}

expect_grep() { # expect_grep FILE REGEX
    grep -qE -- "$2" "$1" || { cat "$1" >&2; fail "output lacks /$2/"; }
}

expect_lines() { # expect_lines FILE N
    local n
    n=$(wc -l <"$1")
    [[ "$n" -eq "$2" ]] || { cat "$1" >&2; fail "output has $n lines, want $2"; }
}

# ---- a kubeling server for API tests ------------------------------------------------------------
KUBECTL_DIR=$(dirname "$(readlink -f "$(command -v kubectl)")")
DATA="$E2E_TMP/data"
PY=/usr/bin/python3 # Debian's python3, with python3-kubernetes
SERVER_PID=

# start_server [FLAGS...]: starts `kubeling server` on a free loopback port; sets SERVER_PID and
# PORT. API tests run without the server's own kubelet (--disable-agent): a kubelet runs the
# pods it is given for real, which belongs in tests that isolate the host (test_pods.sh sets
# E2E_KUBELET=1 to keep it).
start_server() {
    local agent=(--disable-agent) extra=()
    [[ -n ${E2E_KUBELET:-} ]] && agent=()
    # E2E_SERVER_ARGS: extra flags for every server (e.g. --apiserver-tls-threads 0)
    read -r -a extra <<<"${E2E_SERVER_ARGS:-}"
    "$KUBELING_BIN" server --data-dir "$DATA" --https-listen-port 0 --bind-address 127.0.0.1 \
        --write-kubeconfig "$E2E_TMP/kubeling.yaml" --write-kubeconfig-mode 0640 \
        "${agent[@]}" --tls-san e2e.example.test "${extra[@]}" "$@" >>"$E2E_TMP/server.log" 2>&1 &
    SERVER_PID=$!
    E2E_CLEANUPS+=("kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null")
    local i n
    n=$(grep -c 'ready; admin kubeconfig' "$E2E_TMP/server.log" 2>/dev/null)
    for i in $(seq 200); do
        if [[ $(grep -c 'ready; admin kubeconfig' "$E2E_TMP/server.log") -gt $n ]]; then
            PORT=$(sed -n 's|.*server: https://127.0.0.1:\([0-9]*\).*|\1|p' "$DATA/server/admin.kubeconfig")
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$E2E_TMP/server.log"; fail "server exited"; }
        sleep 0.05
    done
    cat "$E2E_TMP/server.log"
    fail "server did not become ready"
}

# fake_node NAME [CPU [LABELS-JSON [TAINTS-JSON [MEMORY]]]]: a Ready Node object with no kubelet
# behind it (capacity = allocatable; defaults 64 CPUs, 64Gi, no labels, no taints).
fake_node() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create node $1"
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","labels":${3:-{\}}},
 "spec":{"taints":${4:-[]}},
 "status":{"capacity":{"cpu":"${2:-64}","memory":"${5:-64Gi}","pods":"110"},
  "allocatable":{"cpu":"${2:-64}","memory":"${5:-64Gi}","pods":"110"},
  "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status"}]}}
EOF
}

# until_ok SECONDS CMD...: runs CMD (output dropped) every 0.1 s until it succeeds; 1 when it
# never did within SECONDS.
until_ok() {
    local n=$(($1 * 10)) i
    shift
    for ((i = 0; i < n; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

kc() { # kc VERSION ARGS...: the real kubectl of that minor version with the admin kubeconfig
    local v=$1
    shift
    "$KUBECTL_DIR/kubectl.$v" --kubeconfig "$DATA/server/admin.kubeconfig" "$@"
}

# curl_admin ARGS...: curl with the admin client certificate, verifying the server.
curl_admin() {
    local kcfg="$DATA/server/admin.kubeconfig"
    [[ -f "$E2E_TMP/admin.crt" ]] || {
        sed -n 's/.*client-certificate-data: //p' "$kcfg" | base64 -d >"$E2E_TMP/admin.crt"
        sed -n 's/.*client-key-data: //p' "$kcfg" | base64 -d >"$E2E_TMP/admin.key"
    }
    curl -sS --cacert "$DATA/server/tls/ca.crt" --cert "$E2E_TMP/admin.crt" \
        --key "$E2E_TMP/admin.key" "$@"
}
