#!/usr/bin/env bash
# bench/api/idle.sh [BIN]: the idle step of bench/api/run.sh on its own: a fresh server
# (--disable-agent --disable-scheduler, the controller manager running unless SERVER_ARGS says
# --disable-controller-manager) holding IDLE_OBJECTS pods (api_bench's ~1.2 KiB pod) and no
# clients: VmRSS after SETTLE seconds, then CPU ticks over 10 s, and the load average.
# BIN defaults to bench_bin's choice (the release build first). Env: IDLE_OBJECTS (1000),
# SETTLE (10), SERVER_ARGS.
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=build/bench/bench/api/api_bench
[[ -x $BENCH ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
. bench/lib.sh
if [[ -n ${1:-} ]]; then BIN=$(readlink -f "$1"); else bench_bin; fi
SERVER_ARGS=${SERVER_ARGS:-}
IDLE_OBJECTS=${IDLE_OBJECTS:-1000} SETTLE=${SETTLE:-10}

WORK=$(mktemp -d /tmp/klbench-idle.XXXXXX)
PID=
trap '[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

data=$WORK/data
bench_api_server "$data"

"$BENCH" create "$KUBECONFIG" 4 "$IDLE_OBJECTS" >/dev/null
sleep "$SETTLE"
rss=$(awk '/^VmRSS:/{print $2}' "/proc/$PID/status")
t0=$(bench_ticks "/proc/$PID/stat")
sleep 10
t1=$(bench_ticks "/proc/$PID/stat")
echo "idle objects=$IDLE_OBJECTS rss_kib=$rss rss_mib=$(awk -v r="$rss" 'BEGIN{printf "%.1f", r/1024}')" \
    "cpu_ticks_10s=$((t1 - t0)) clk_tck=$(getconf CLK_TCK) loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" \
    "server=$BIN args=\"$SERVER_ARGS\""
