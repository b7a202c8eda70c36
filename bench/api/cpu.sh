#!/usr/bin/env bash
# bench/api/cpu.sh: the apiserver's CPU per request, per phase, for comparing builds under load
# (CPU time depends much less on the machine's load than latency does). For each binary given
# (default: the one bench_bin picks), ROUNDS times, alternating the binaries: a fresh server
# (--disable-agent --disable-scheduler plus SERVER_ARGS, as bench/api/run.sh), then
#   create CLIENTS x CREATE_N, get CLIENTS x GET_N, list-gzip CLIENTS x LIST_N,
#   watch WATCHERS x WATCH_N (counted from the moment all streams are open),
# printing per phase the server's CPU per operation (utime+stime of the whole process) and the
# part on the main thread (the libuv loop: the apiserver, and today the controllers too), in
# microseconds, with the client's figures and the load average.
# Usage: bench/api/cpu.sh [BIN...]   Env: ROUNDS (3), CLIENTS (24), CREATE_N (5000),
# GET_N (20000), LIST_N (1000), WATCHERS (300), WATCH_N (200), SERVER_ARGS, PHASES (the phases
# to report, default "create get list-gzip watch"; create always runs: the others need pods).
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=build/bench/bench/api/api_bench
[[ -x $BENCH ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
. bench/lib.sh
SERVER_ARGS=${SERVER_ARGS:-}
ROUNDS=${ROUNDS:-3} CLIENTS=${CLIENTS:-24} CREATE_N=${CREATE_N:-5000} GET_N=${GET_N:-20000}
LIST_N=${LIST_N:-1000} WATCHERS=${WATCHERS:-300} WATCH_N=${WATCH_N:-200}
PHASES=" ${PHASES:-create get list-gzip watch} "
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BINS=("$@")
if [[ ${#BINS[@]} -eq 0 ]]; then
    bench_bin
    BINS=("$BIN")
fi

WORK=$(mktemp -d /tmp/klbench-cpu.XXXXXX)
PID=
trap 'bench_stop_server; rm -rf "$WORK"' EXIT
TCK=$(getconf CLK_TCK)

snap() { echo "$(bench_ticks "/proc/$PID/stat") $(bench_ticks "/proc/$PID/task/$PID/stat")"; }

# report NAME OPS BEFORE AFTER CLIENT_LINE
report() {
    local name=$1 ops=$2 line=$5 a b
    read -ra b <<<"$3"
    read -ra a <<<"$4"
    awk -v n="$name" -v ops="$ops" -v t="$((a[0] - b[0]))" -v l="$((a[1] - b[1]))" \
        -v tck="$TCK" -v bin="$(basename "$BIN")" \
        -v load="$(cut -d' ' -f1 /proc/loadavg)" -v line="$line" \
        'BEGIN { printf "%-9s %-22s server_us_per_op=%7.1f loop_us_per_op=%7.1f load=%s | %s\n",
                 n, bin, t * 1e6 / tck / ops, l * 1e6 / tck / ops, load, line }'
}

phase() { # NAME OPS ARGS...
    local name=$1 ops=$2 before after line
    shift 2
    before=$(snap)
    line=$("$BENCH" "$@" | tail -1)
    after=$(snap)
    report "$name" "$ops" "$before" "$after" "$line"
}

for ((round = 1; round <= ROUNDS; round++)); do
    for BIN in "${BINS[@]}"; do
        rm -rf "$WORK/data"
        bench_api_server "$WORK/data"
        phase create "$CREATE_N" create "$KUBECONFIG" "$CLIENTS" "$CREATE_N"
        [[ $PHASES != *" get "* ]] || phase get "$GET_N" get "$KUBECONFIG" "$CLIENTS" "$GET_N"
        [[ $PHASES != *" list-gzip "* ]] ||
            phase list-gzip "$LIST_N" list-gzip "$KUBECONFIG" "$CLIENTS" "$LIST_N"
        if [[ $PHASES != *" watch "* ]]; then
            bench_stop_server
            continue
        fi
        # watch: counted from "streams open" (the TLS handshakes of the streams excluded)
        before=
        while IFS= read -r l; do
            [[ $l == *"streams open"* ]] && before=$(snap)
            last=$l
        done < <("$BENCH" watch "$KUBECONFIG" "$WATCHERS" "$WATCH_N" "$PID" 2>&1)
        after=$(snap)
        report watch $((WATCHERS * WATCH_N)) "${before:-$after}" "$after" "$last"
        bench_stop_server
    done
done
