# bench/lib.sh: shared by the bench/*/run.sh scripts, sourced from the repository root.

# bench_bin: BIN = the kubeling binary to measure (absolute path): the release build
# (build/static-x86_64) if present, else the bench or dev build; exits when there is none.
# KUBELING_BENCH_BIN=FILE (or KUBELING_BIN=FILE) measures that binary instead (e.g. a build of
# another commit, to compare two builds).
bench_bin() {
    BIN=
    local pick=${KUBELING_BENCH_BIN:-${KUBELING_BIN:-}}
    [[ -n $pick ]] && { BIN=$(readlink -f "$pick"); return 0; }
    local b
    for b in build/static-x86_64/kubeling build/bench/kubeling build/dev/kubeling; do
        [[ -x $b ]] && { BIN=$(readlink -f "$b"); return 0; }
    done
    echo "no kubeling binary: make static (or make)" >&2
    exit 1
}

# bench_node NAME "$@": the preamble of the benches that run real pods on the server's own
# kubelet (root): re-executes the script in its own network and mount namespaces (like
# tests/e2e/lib_node.sh), brings lo up, mounts a tmpfs on /run/kubeling, picks BIN
# (bench_bin), makes WORK (/tmp/klbench-NAME.*) with the test images in its data dir, and
# cleans up at exit (the server PID, the containers in the bench's cgroup root, kubeling0,
# WORK; KEEP_LOG=FILE keeps WORK/server.log).
bench_node() {
    local name=$1
    shift
    if [[ -z ${KUBELING_BENCH_UNSHARED:-} ]]; then
        export KUBELING_BENCH_UNSHARED=1
        exec unshare --net --mount --propagation private bash "$0" "$@"
    fi
    ip link set lo up
    mkdir -p /run/kubeling && mount -t tmpfs tmpfs /run/kubeling
    bench_bin
    WORK=$(mktemp -d "/tmp/klbench-$name.XXXXXX")
    export KUBELING_TEST_CGROUP_ROOT=kubeling-bench-$$
    PID=
    trap bench_node_cleanup EXIT
    mkdir -p "$WORK/data/agent/images"
    bash rootfs/images/build.sh "$WORK/data/agent/images" >/dev/null 2>&1
}

# bench_cpu PID: the CPU time the process has used so far (utime and stime from /proc/PID/stat,
# independent of the load other processes put on the machine), and the load average.
bench_cpu() {
    local f
    read -ra f <"/proc/$1/stat" || return 0
    local tck
    tck=$(getconf CLK_TCK)
    # fields 14 and 15 (1-based) after the command name, which has no spaces for kubeling
    echo "server CPU: $(echo "scale=2; ${f[13]} / $tck" | bc) s user + $(echo "scale=2; ${f[14]} / $tck" | bc) s system = $(echo "scale=2; (${f[13]} + ${f[14]}) / $tck" | bc) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

bench_node_cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    "$BIN" killall --cgroup-root "$KUBELING_TEST_CGROUP_ROOT" >/dev/null 2>&1 || true
    ip link del kubeling0 2>/dev/null || true
    [[ -n ${KEEP_LOG:-} && -f $WORK/server.log ]] && cp "$WORK/server.log" "$KEEP_LOG"
    rm -rf "$WORK"
}

# bench_api_server DATA: the apiserver benches' server (--disable-agent --disable-scheduler plus
# SERVER_ARGS) on DATA, its log in WORK/server.log; returns once /readyz answers. Sets PID and
# KUBECONFIG.
bench_api_server() {
    local data=$1 url= tries=0
    # shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
    "$BIN" server --data-dir "$data" --https-listen-port 0 --bind-address 127.0.0.1 \
        --write-kubeconfig "" --disable-agent --disable-scheduler $SERVER_ARGS \
        >"$WORK/server.log" 2>&1 &
    PID=$!
    KUBECONFIG=$data/server/admin.kubeconfig
    until [[ -n $url ]] && curl -sf --cacert "$data/server/tls/ca.crt" "$url/readyz" >/dev/null 2>&1; do
        sleep 0.02
        [[ -f $KUBECONFIG ]] && url=$(awk '/server: /{print $2; exit}' "$KUBECONFIG")
        tries=$((tries + 1))
        [[ $tries -lt 1000 ]] || { cat "$WORK/server.log" >&2; echo "server not ready" >&2; exit 1; }
    done
}

# bench_stop_server: SIGTERM to the server in PID (if any), wait for it, clear PID.
bench_stop_server() {
    [[ -n ${PID:-} ]] || return 0
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=
}

# bench_ticks FILE: utime + stime (fields 14 and 15, after the command name) of a /proc stat
# file, e.g. the server's /proc/$PID/stat or one thread's /proc/$PID/task/TID/stat.
bench_ticks() {
    sed 's/^.*) //' "$1" | awk '{print $12 + $13}'
}
