#!/usr/bin/env bash
# bench/api/startup.sh BIN: time from `kubeling server` (empty data dir: CA and certificates
# generated) to /readyz answering 200, then the same on a restart; ROUNDS times each.
set -euo pipefail
BIN=${1:?usage: startup.sh KUBELING-BINARY}
ROUNDS=${ROUNDS:-5}
WORK=$(mktemp -d /tmp/klbench-startup.XXXXXX)
PID=
trap '[[ -n $PID ]] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT

now_ms() { date +%s%3N; }

# one_start DATA PORT: sets MS to the milliseconds until /readyz is 200 (anonymous, verified).
one_start() {
    local data=$1 port=$2 t0 t1
    t0=$(now_ms)
    "$BIN" server --data-dir "$data" --https-listen-port "$port" --bind-address 127.0.0.1 \
        --write-kubeconfig "" --disable-agent --disable-scheduler \
        >"$WORK/log" 2>&1 &
    PID=$!
    local tries=0
    until [[ -f "$data/server/tls/ca.crt" ]] &&
        curl -sf --cacert "$data/server/tls/ca.crt" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
        sleep 0.005
        tries=$((tries + 1))
        [[ $tries -lt 2000 ]] || { cat "$WORK/log" >&2; echo "server not ready" >&2; exit 1; }
    done
    t1=$(now_ms)
    MS=$((t1 - t0))
}

stop() {
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
}

first=() again=()
for i in $(seq "$ROUNDS"); do
    rm -rf "$WORK/data"
    port=$((26443 + i))
    one_start "$WORK/data" "$port"
    first+=("$MS")
    stop
    one_start "$WORK/data" "$port"
    again+=("$MS")
    rss=$(ps -o rss= -p "$PID" | tr -d ' ')
    stop
done
echo "startup_empty_ms=${first[*]} startup_restart_ms=${again[*]} idle_rss_kib_after_start=$rss"
