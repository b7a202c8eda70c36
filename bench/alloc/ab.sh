#!/usr/bin/env bash
# bench/alloc/ab.sh BIN-A BIN-B [ROUNDS]: compares two server builds (e.g. the release build
# with musl's malloc and with mimalloc) on the same machine, alternating A and B ROUNDS times
# (default 3) so that a change in the machine's load hits both. Per round and binary: a fresh
# apiserver (bench_api_server: --disable-agent --disable-scheduler), CREATE_N creates and GET_N
# gets with CLIENTS clients (api_bench), the server's CPU (utime+stime of every thread, from
# /proc/PID/stat) per request in microseconds, api_bench's latency line, VmRSS afterwards, and
# the load average. Env: CREATE_N (5000), GET_N (20000), CLIENTS (24).
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=build/bench/bench/api/api_bench
[[ -x $BENCH ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
. bench/lib.sh
A=$(readlink -f "${1:?usage: ab.sh BIN-A BIN-B [ROUNDS]}")
B=$(readlink -f "${2:?usage: ab.sh BIN-A BIN-B [ROUNDS]}")
ROUNDS=${3:-3}
CREATE_N=${CREATE_N:-5000} GET_N=${GET_N:-20000} CLIENTS=${CLIENTS:-24}
SERVER_ARGS=${SERVER_ARGS:-}

WORK=$(mktemp -d /tmp/klbench-alloc.XXXXXX)
PID=
trap 'bench_stop_server; rm -rf "$WORK"' EXIT
us_per() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f", t * 1e6 / hz / n}'; }

one() {
    local name=$1 t0 t1 t2 lc lg
    # shellcheck disable=SC2034 # bench_api_server runs BIN
    BIN=$2
    rm -rf "$WORK/data"
    bench_api_server "$WORK/data"
    t0=$(bench_ticks "/proc/$PID/stat")
    lc=$("$BENCH" create "$KUBECONFIG" "$CLIENTS" "$CREATE_N")
    t1=$(bench_ticks "/proc/$PID/stat")
    lg=$("$BENCH" get "$KUBECONFIG" "$CLIENTS" "$GET_N")
    t2=$(bench_ticks "/proc/$PID/stat")
    echo "$name create_cpu_us=$(us_per $((t1 - t0)) "$CREATE_N") get_cpu_us=$(us_per $((t2 - t1)) "$GET_N")" \
        "rss_kib=$(awk '/^VmRSS:/{print $2}' "/proc/$PID/status") loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
    echo "  $name $lc"
    echo "  $name $lg"
    bench_stop_server
}

echo "# A=$A ($(stat -c %s "$A") bytes) B=$B ($(stat -c %s "$B") bytes)"
for ((r = 1; r <= ROUNDS; r++)); do
    one A "$A"
    one B "$B"
done
