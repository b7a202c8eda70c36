#!/usr/bin/env bash
# bench/api/run.sh: the API server benchmark (the apiserver alone: --disable-agent
# --disable-scheduler). Builds nothing: uses the release build
# (build/static-x86_64/kubeling) if present, else build/bench or build/dev, and
# build/bench/bench/api/api_bench. Prints start-up figures, create/get/list with 24 clients
# (and with 1 client, for unloaded latency; list also as list-gzip, with Accept-Encoding: gzip
# as kubectl and client-go send it), watch delivery with 1000 watchers, and idle RSS
# and CPU with 1000 pods stored.
# Env: CREATE_N (10000), GET_N (20000), LIST_N (1000), CLIENTS (24), WATCHERS (1000),
# WATCH_N (200), IDLE_OBJECTS (1000).
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=build/bench/bench/api/api_bench
[[ -x $BENCH ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
. bench/lib.sh
bench_bin
SERVER_ARGS=${SERVER_ARGS:-}
CREATE_N=${CREATE_N:-10000} GET_N=${GET_N:-20000} LIST_N=${LIST_N:-1000} CLIENTS=${CLIENTS:-24}
WATCHERS=${WATCHERS:-1000} WATCH_N=${WATCH_N:-200} IDLE_OBJECTS=${IDLE_OBJECTS:-1000}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # 1000 watch streams need more than 1024 fds

WORK=$(mktemp -d /tmp/klbench-api.XXXXXX)
PID=
trap 'bench_stop_server; rm -rf "$WORK"' EXIT


rss_kib() {
    awk '/^VmRSS:/{print $2}' "/proc/$PID/status"
}

echo "# server: $BIN ($(stat -c %s "$BIN") bytes); client: $BENCH"
bench/api/startup.sh "$BIN"

bench_api_server "$WORK/data"
"$BENCH" create "$KUBECONFIG" "$CLIENTS" "$CREATE_N"
"$BENCH" get "$KUBECONFIG" "$CLIENTS" "$GET_N"
"$BENCH" list "$KUBECONFIG" "$CLIENTS" "$LIST_N"
"$BENCH" list-gzip "$KUBECONFIG" "$CLIENTS" "$LIST_N"
"$BENCH" create "$KUBECONFIG" 1 $((CREATE_N / 10))
"$BENCH" get "$KUBECONFIG" 1 $((GET_N / 10))
"$BENCH" list "$KUBECONFIG" 1 $((LIST_N / 5))
"$BENCH" list-gzip "$KUBECONFIG" 1 $((LIST_N / 5))
echo "# server rss_kib=$(rss_kib) after the runs above"
"$BENCH" watch "$KUBECONFIG" "$WATCHERS" "$WATCH_N" "$PID"
bench_stop_server

# Idle: a fresh server holding IDLE_OBJECTS pods and no clients.
bench_api_server "$WORK/idle"
"$BENCH" create "$KUBECONFIG" 4 "$IDLE_OBJECTS" >/dev/null
sleep 5
rss=$(rss_kib) t0=$(bench_ticks "/proc/$PID/stat")
sleep 10
t1=$(bench_ticks "/proc/$PID/stat")
echo "idle objects=$IDLE_OBJECTS rss_kib=$rss cpu_ticks_10s=$((t1 - t0)) clk_tck=$(getconf CLK_TCK)"
