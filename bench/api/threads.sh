#!/usr/bin/env bash
# bench/api/threads.sh: the bench/api phases (create, get, list, list-gzip with 24 clients;
# watch with 1,000 watchers) against one server, with the server's CPU per phase: in total,
# per operation, and per thread (utime+stime of /proc/PID/task/*/stat: "loop" is the process's
# main thread, the apiserver's loop; "apiserver-tls" the TLS front threads; "other" the rest).
# Compare the TLS placements back to back:
#   SERVER_ARGS="--apiserver-tls-threads 0" bench/api/threads.sh   # TLS on the loop
#   SERVER_ARGS="--apiserver-tls-threads 1" bench/api/threads.sh
#   SERVER_ARGS="--apiserver-tls-threads 2" bench/api/threads.sh
# Env as bench/api/run.sh (CREATE_N, GET_N, LIST_N, CLIENTS, WATCHERS, WATCH_N).
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH=build/bench/bench/api/api_bench
[[ -x $BENCH ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
. bench/lib.sh
bench_bin
SERVER_ARGS=${SERVER_ARGS:-}
CREATE_N=${CREATE_N:-10000} GET_N=${GET_N:-20000} LIST_N=${LIST_N:-1000} CLIENTS=${CLIENTS:-24}
WATCHERS=${WATCHERS:-1000} WATCH_N=${WATCH_N:-200}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d /tmp/klbench-threads.XXXXXX)
PID=
trap 'bench_stop_server; rm -rf "$WORK"' EXIT

# "tid name ticks" per thread of the server
snapshot() {
    for f in /proc/"$PID"/task/*/stat; do
        sed -E 's/^([0-9]+) \((.*)\) (.*)$/\1 \2 \3/' "$f" 2>/dev/null |
            awk '{n = NF; print $1, $2, $(14) + $(15)}'
    done
}

phase() { # name ops args...
    local name=$1 ops=$2
    shift 2
    snapshot >"$WORK/before"
    echo "# loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    "$BENCH" "$@"
    snapshot >"$WORK/after"
    awk -v name="$name" -v ops="$ops" -v hz="$(getconf CLK_TCK)" -v pid="$PID" '
        NR == FNR { before[$1] = $3; next }
        { d = $3 - before[$1]; total += d
          key = ($1 == pid) ? "loop" : ($2 == "apiserver-tls") ? $2 : "other"; by[key] += d }
        END { printf "%s server_cpu_s=%.2f cpu_us_per_op=%.0f threads:", name, total / hz,
                  total / hz * 1e6 / ops
              for (k in by) if (by[k] > 0) printf " %s=%.2fs", k, by[k] / hz
              printf "\n" }' "$WORK/before" "$WORK/after"
}

echo "# server: $BIN $SERVER_ARGS"
bench_api_server "$WORK/data"
phase create "$CREATE_N" create "$KUBECONFIG" "$CLIENTS" "$CREATE_N"
phase get "$GET_N" get "$KUBECONFIG" "$CLIENTS" "$GET_N"
phase list "$LIST_N" list "$KUBECONFIG" "$CLIENTS" "$LIST_N"
phase list-gzip "$LIST_N" list-gzip "$KUBECONFIG" "$CLIENTS" "$LIST_N"
phase watch $((WATCHERS * WATCH_N)) watch "$KUBECONFIG" "$WATCHERS" "$WATCH_N" "$PID"
