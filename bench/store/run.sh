#!/usr/bin/env bash
# bench/store/run.sh: the datastore benchmark, three ways in one run on the same disk:
# raw SQLite (one synchronous=FULL transaction per write), kubeling's store, and a real etcd
# 3.4 started here on loopback with its data dir under /tmp. Then the store's RSS with
# 100,000 keys and its database size under 1,000,000 updates over 1,000 keys.
# Env: OPS (writes per run, default 40000), WRITERS (16), WATCHERS (100), ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/bench/bench/store/store_bench
[[ -x $BIN ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
OPS=${OPS:-40000} WRITERS=${WRITERS:-16} WATCHERS=${WATCHERS:-100} ROUNDS=${ROUNDS:-3}
RSS_KEYS=${RSS_KEYS:-100000} CHURN_UPDATES=${CHURN_UPDATES:-1000000} CHURN_KEYS=${CHURN_KEYS:-1000}

WORK=$(mktemp -d /tmp/kubeling-bench.XXXXXX)
ETCD_PID=
cleanup() {
    [[ -n $ETCD_PID ]] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

start_etcd() {
    rm -rf "$WORK/etcd"
    etcd --name bench --data-dir "$WORK/etcd" \
        --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
        --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
        --initial-cluster bench=http://127.0.0.1:23800 --quota-backend-bytes 8589934592 \
        >"$WORK/etcd.log" 2>&1 &
    ETCD_PID=$!
    local i
    for i in $(seq 100); do
        ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:23790 endpoint health >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/etcd.log" >&2
    return 1
}

stop_etcd() {
    kill "$ETCD_PID" && wait "$ETCD_PID" 2>/dev/null || true
    ETCD_PID=
}

# GRPC_WATCHERS etcdctl processes watch the prefix over gRPC (the way the apiserver watches);
# they are real clients and take CPU on the same cores as etcd, which the notes in
# docs/benchmarks.md discuss.
start_grpc_watchers() {
    local i
    for i in $(seq "$1"); do
        ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:23790 watch --prefix /bench/ >/dev/null 2>&1 &
        WATCH_PIDS+=("$!")
    done
    sleep 2
}
stop_grpc_watchers() {
    [[ ${#WATCH_PIDS[@]} -gt 0 ]] && kill "${WATCH_PIDS[@]}" 2>/dev/null
    wait "${WATCH_PIDS[@]}" 2>/dev/null || true
    WATCH_PIDS=()
}
WATCH_PIDS=()
trap 'stop_grpc_watchers; cleanup' EXIT

echo "# etcd: $(etcd --version | head -1); disk: $(df -h /tmp | awk 'NR==2{print $1}')"
for round in $(seq "$ROUNDS"); do
    echo "# round $round: $WRITERS writers; watchers 0 or $WATCHERS"
    rm -rf "$WORK/raw" "$WORK/kl" && mkdir -p "$WORK/raw" "$WORK/kl"
    "$BIN" write sqlite-raw "$WORK/raw" "$((OPS / 4))"
    "$BIN" write kubeling "$WORK/kl" "$OPS" "$WRITERS" 0
    rm -rf "$WORK/kl" && mkdir -p "$WORK/kl"
    "$BIN" write kubeling "$WORK/kl" "$OPS" "$WRITERS" "$WATCHERS"
    start_etcd
    "$BIN" write etcd 127.0.0.1:23790 "$((OPS / 4))" "$WRITERS" 0
    echo "# etcd server rss_kib=$(ps -o rss= -p "$ETCD_PID" | tr -d ' ')"
    stop_etcd
    start_etcd
    start_grpc_watchers "$WATCHERS"
    "$BIN" write etcd 127.0.0.1:23790 "$((OPS / 20))" "$WRITERS" 0 | sed "s/watchers=0/grpc_watchers=$WATCHERS/"
    echo "# etcd server rss_kib=$(ps -o rss= -p "$ETCD_PID" | tr -d ' ')"
    stop_grpc_watchers
    stop_etcd
done
rm -rf "$WORK/raw" "$WORK/kl" "$WORK/etcd"
mkdir -p "$WORK/rss" "$WORK/churn"
"$BIN" rss "$WORK/rss" "$RSS_KEYS"
"$BIN" churn "$WORK/churn" "$CHURN_UPDATES" "$CHURN_KEYS"
