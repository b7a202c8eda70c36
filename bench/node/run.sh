#!/usr/bin/env bash
# bench/node/run.sh: the node agent's figures (issue 5): time from `kubeling server` to its
# node Ready as seen by a watch (empty data dir, then a restart), idle RSS with and without the
# in-process kubelet, and idle wake-ups over IDLE_SECONDS (30) from the scheduler statistics
# of every thread (/proc/PID/task/*/schedstat, second field: times scheduled in).
# Uses the release build if present, else build/bench or build/dev. Env: ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_bin
ROUNDS=${ROUNDS:-5} IDLE_SECONDS=${IDLE_SECONDS:-30}
WORK=$(mktemp -d /tmp/klbench-node.XXXXXX)
PID=
stop() {
    [[ -n $PID ]] || return 0
    kill -TERM "$PID" 2>/dev/null || true
    while kill -0 "$PID" 2>/dev/null; do sleep 0.01; done
    PID=
}
trap 'stop; rm -rf "$WORK"' EXIT

# Sum over threads of how many times each was scheduled in (wake-ups, plus preemptions).
switches() {
    local pid=$1 n=0 f a b c
    for f in /proc/"$pid"/task/*/schedstat; do
        read -r a b c <"$f" || continue
        n=$((n + c))
    done
    echo "$n"
}

idle_wakeups() { # idle_wakeups PID: scheduled-in count over IDLE_SECONDS after 5 s settling
    sleep 5
    local before after
    before=$(switches "$1")
    sleep "$IDLE_SECONDS"
    after=$(switches "$1")
    echo $((after - before))
}

first=() again=()
for i in $(seq "$ROUNDS"); do
    rm -rf "$WORK/data" "$WORK/data.log" "$WORK/data.kubeling.yaml"
    mkdir -p "$WORK/data"
    port=$((36443 + i))
    read -r ms PID < <(bench/node/ready.py "$BIN" "$WORK/data" "$port")
    first+=("$ms")
    stop
    read -r ms PID < <(bench/node/ready.py "$BIN" "$WORK/data" "$port")
    again+=("$ms")
    [[ $i -lt $ROUNDS ]] && stop
done
echo "binary=$BIN node_ready_ms_empty=${first[*]} node_ready_ms_restart=${again[*]}"
sleep 5
rss_on=$(ps -o rss= -p "$PID" | tr -d ' ')
wake_on=$(idle_wakeups "$PID")
stop
rm -rf "$WORK/data2"
"$BIN" server --data-dir "$WORK/data2" --https-listen-port 36499 --bind-address 127.0.0.1 \
    --disable-agent --write-kubeconfig "$WORK/off.kubeling.yaml" >"$WORK/off.log" 2>&1 &
PID=$!
sleep 5
rss_off=$(ps -o rss= -p "$PID" | tr -d ' ')
wake_off=$(idle_wakeups "$PID")
stop
echo "idle_rss_kib_with_kubelet=$rss_on idle_rss_kib_disable_agent=$rss_off"
echo "idle_wakeups_${IDLE_SECONDS}s_with_kubelet=$wake_on idle_wakeups_${IDLE_SECONDS}s_disable_agent=$wake_off"
