#!/usr/bin/env bash
# test_runtime: pkg/runtime for real (root): busybox containers in pod sandboxes, logs, signals,
# OOM kills, limits, capabilities, read-only roots, volumes, exec, survival of the "kubelet"
# (each runtime_driver invocation is one, and exits), and killall. Runs in its own mount
# namespace; cgroups live under kubeling-test-<pid> and are removed at the end.
if [[ $(id -u) -ne 0 ]]; then
    echo "ok runtime_needs_root # SKIP not root"
    exit 0
fi
if [[ -z "${KUBELING_RT_UNSHARED:-}" ]]; then
    export KUBELING_RT_UNSHARED=1
    exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
K=$KUBELING_BIN
DRIVER="$(dirname "$K")/tests/helpers/runtime_driver"
[[ -x "$DRIVER" ]] || { echo "not ok runtime_driver_missing ($DRIVER: run make asan)"; exit 1; }
CG=kubeling-test-$$
S=$E2E_TMP/state
ROOTFS=$E2E_TMP/rootfs
E2E_CLEANUPS+=("'$DRIVER' '$S' $CG '$K' cleanup >/dev/null 2>&1")

rt() { "$DRIVER" "$S" "$CG" "$K" "$@"; }

# A busybox root from the host's static busybox (Debian's busybox-static).
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp"
cp /bin/busybox "$ROOTFS/bin/busybox"
chroot "$ROOTFS" /bin/busybox --install -s /bin
echo "root:x:0:0:root:/root:/bin/sh" >"$ROOTFS/etc/passwd"

rt sandbox-create pod1 --hostname web-0 || { echo "not ok sandbox_create"; exit 1; }

state_field() { # state_field FILE KEY
    sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$1"
}

prints_and_exits_with_cri_log() {
    rt run c-print pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/print.log" \
        -- sh -c 'echo hello; hostname; echo oops >&2; exit 3'
    run_cmd "$E2E_TMP/w" rt wait c-print
    expect_rc 0 "wait"
    expect_grep "$E2E_TMP/w" 'status=exited exit_code=3 signal=0 oom_killed=0'
    expect_grep "$E2E_TMP/print.log" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]+)?Z stdout F hello$'
    expect_grep "$E2E_TMP/print.log" ' stdout F web-0$'
    expect_grep "$E2E_TMP/print.log" ' stderr F oops$'
    expect_lines "$E2E_TMP/print.log" 3
    ! grep -q Sanitizer "$S/containers/c-print/shim.log" || fail "shim: $(cat "$S/containers/c-print/shim.log")"
    rt delete c-print
    [[ ! -e "$S/containers/c-print" ]] || fail "state left after delete"
}

sigterm_is_delivered() {
    rt run c-term pod1 --rootfs "$ROOTFS" -- sh -c 'trap "exit 42" TERM; while true; do sleep 0.1; done'
    run_cmd "$E2E_TMP/s" rt state c-term
    expect_grep "$E2E_TMP/s" 'status=running'
    rt kill c-term 15
    run_cmd "$E2E_TMP/w" rt wait c-term
    expect_grep "$E2E_TMP/w" 'status=exited exit_code=42 signal=0'
    rt delete c-term
    rt run c-kill pod1 --rootfs "$ROOTFS" -- sleep 1000
    rt kill c-kill 9
    run_cmd "$E2E_TMP/w" rt wait c-kill
    expect_grep "$E2E_TMP/w" 'status=exited exit_code=137 signal=9 oom_killed=0'
    rt delete c-kill
}

memory_limit_is_oom_killed_and_reported() {
    rt run c-oom pod1 --rootfs "$ROOTFS" --memory-limit 16777216 \
        -- dd if=/dev/zero of=/dev/null bs=64M count=1
    run_cmd "$E2E_TMP/w" rt wait c-oom
    expect_grep "$E2E_TMP/w" 'exit_code=137 signal=9 oom_killed=1'
    rt delete c-oom
    rt run c-fits pod1 --rootfs "$ROOTFS" --memory-limit 67108864 \
        -- dd if=/dev/zero of=/dev/null bs=1M count=1
    run_cmd "$E2E_TMP/w" rt wait c-fits
    expect_grep "$E2E_TMP/w" 'exit_code=0 signal=0 oom_killed=0'
    rt delete c-fits
}

limits_reach_the_cgroup_and_stats_read_back() {
    rt run c-lim pod1 --rootfs "$ROOTFS" --cpu-request 250 --cpu-limit 500 \
        --memory-limit 33554432 --pids-limit 64 -- sleep 1000
    local st cg
    st=$(rt state c-lim)
    cg=$(sed -n 's/.*"cgroup":"\([^"]*\)".*/\1/p' "$S/containers/c-lim/state.json")
    [[ -n "$cg" ]] || fail "no cgroup in state: $st"
    if [[ -d /sys/fs/cgroup/cpu/$cg ]]; then # v1 / hybrid
        [[ $(cat "/sys/fs/cgroup/cpu/$cg/cpu.shares") == 256 ]] || fail "cpu.shares"
        [[ $(cat "/sys/fs/cgroup/cpu/$cg/cpu.cfs_quota_us") == 50000 ]] || fail "cfs quota"
        [[ $(cat "/sys/fs/cgroup/memory/$cg/memory.limit_in_bytes") == 33554432 ]] || fail "memory"
        [[ $(cat "/sys/fs/cgroup/pids/$cg/pids.max") == 64 ]] || fail "pids"
    else # v2
        [[ $(cat "/sys/fs/cgroup/$cg/cpu.weight") == 10 ]] || fail "cpu.weight"
        [[ $(cat "/sys/fs/cgroup/$cg/cpu.max") == "50000 100000" ]] || fail "cpu.max"
        [[ $(cat "/sys/fs/cgroup/$cg/memory.max") == 33554432 ]] || fail "memory.max"
    fi
    run_cmd "$E2E_TMP/st" rt stats c-lim
    expect_grep "$E2E_TMP/st" 'cpu_ns=[1-9][0-9]* memory=[1-9][0-9]* working_set=[0-9]+ pids=1'
    rt delete c-lim
    [[ ! -d /sys/fs/cgroup/memory/$cg && ! -d /sys/fs/cgroup/$cg ]] || fail "cgroup left: $cg"
}

containers_of_a_pod_talk_over_lo() {
    # busybox nc exits at EOF of its stdin, possibly before the data arrives: a fifo held open
    # by the shell gives it a stdin that never ends
    rt run c-srv pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/srv.log" \
        -- sh -c 'mkfifo /tmp/in; nc -l -p 8080 </tmp/in & exec 3>/tmp/in; wait'
    rt run c-cli pod1 --rootfs "$ROOTFS" \
        -- sh -c 'for i in $(seq 100); do echo ping | nc 127.0.0.1 8080 && exit 0; sleep 0.05; done; exit 1'
    run_cmd "$E2E_TMP/w" rt wait c-cli
    expect_grep "$E2E_TMP/w" 'exit_code=0'
    run_cmd "$E2E_TMP/w2" rt wait c-srv
    expect_grep "$E2E_TMP/srv.log" ' stdout F ping$'
    rt delete c-cli
    rt delete c-srv
}

readonly_root_refuses_writes_and_overlay_keeps_lower_clean() {
    rt run c-ro pod1 --rootfs "$ROOTFS" --readonly-rootfs --log "$E2E_TMP/ro.log" \
        -- sh -c 'touch /tmp/x && echo wrote'
    run_cmd "$E2E_TMP/w" rt wait c-ro
    expect_grep "$E2E_TMP/w" 'exit_code=1'
    expect_grep "$E2E_TMP/ro.log" 'Read-only file system'
    rt delete c-ro
    mkdir -p "$E2E_TMP/upper" "$E2E_TMP/work" "$E2E_TMP/layer2/etc"
    echo from-layer2 >"$E2E_TMP/layer2/etc/motd"
    rt run c-ov pod1 --lower "$E2E_TMP/layer2" --lower "$ROOTFS" --upper "$E2E_TMP/upper" \
        --work "$E2E_TMP/work" --log "$E2E_TMP/ov.log" -- sh -c 'cat /etc/motd; echo new >/tmp/created'
    run_cmd "$E2E_TMP/w" rt wait c-ov
    expect_grep "$E2E_TMP/w" 'exit_code=0'
    expect_grep "$E2E_TMP/ov.log" ' stdout F from-layer2$'
    [[ -f "$E2E_TMP/upper/tmp/created" ]] || fail "write did not land in the upper dir"
    [[ ! -e "$ROOTFS/tmp/created" ]] || fail "write reached the lower layer"
    rt delete c-ov
}

capabilities_user_and_masked_paths() {
    rt run c-caps pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/caps.log" \
        -- sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; wc -c </proc/timer_list; grep " /proc/sys " /proc/mounts'
    rt wait c-caps >/dev/null
    expect_grep "$E2E_TMP/caps.log" 'CapEff:.00000000a80425fb$'
    expect_grep "$E2E_TMP/caps.log" 'NoNewPrivs:.0$'
    expect_grep "$E2E_TMP/caps.log" ' stdout F 0$' # /proc/timer_list masked by /dev/null
    expect_grep "$E2E_TMP/caps.log" 'proc /proc/sys proc ro,'
    rt delete c-caps
    rt run c-nocaps pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/nocaps.log" --cap-drop ALL \
        --cap-add NET_BIND_SERVICE --no-new-privs -- grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status
    rt wait c-nocaps >/dev/null
    expect_grep "$E2E_TMP/nocaps.log" 'CapEff:.0000000000000400$'
    expect_grep "$E2E_TMP/nocaps.log" 'CapBnd:.0000000000000400$'
    expect_grep "$E2E_TMP/nocaps.log" 'NoNewPrivs:.1$'
    rt delete c-nocaps
    rt run c-user pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/user.log" --uid 1000 --gid 1000 \
        --group 2000 -- sh -c 'id; grep ^CapEff /proc/self/status'
    rt wait c-user >/dev/null
    expect_grep "$E2E_TMP/user.log" 'uid=1000 gid=1000 groups=2000'
    expect_grep "$E2E_TMP/user.log" 'CapEff:.0000000000000000$'
    rt delete c-user
}

volumes_bind_read_write_and_read_only() {
    mkdir -p "$E2E_TMP/vol"
    echo "10.0.0.1 web-0" >"$E2E_TMP/hosts"
    rt run c-vol pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/vol.log" --mount "$E2E_TMP/vol:/data" \
        --mount "$E2E_TMP/hosts:/etc/hosts:ro" \
        -- sh -c 'echo out >/data/out; cat /etc/hosts; echo x >>/etc/hosts || echo refused'
    run_cmd "$E2E_TMP/w" rt wait c-vol
    expect_grep "$E2E_TMP/w" 'exit_code=0'
    [[ $(cat "$E2E_TMP/vol/out") == out ]] || fail "volume write not on the host"
    expect_grep "$E2E_TMP/vol.log" ' stdout F 10.0.0.1 web-0$'
    expect_grep "$E2E_TMP/vol.log" ' stdout F refused$'
    [[ $(wc -l <"$E2E_TMP/hosts") == 1 ]] || fail "read-only volume was written"
    rt delete c-vol
}

bad_command_fails_start_with_the_exec_error() {
    run_cmd "$E2E_TMP/o" rt run c-bad pod1 --rootfs "$ROOTFS" -- /no/such/binary
    expect_rc 1 "start of a missing binary"
    expect_grep "$E2E_TMP/o" 'exec /no/such/binary: No such file or directory'
    run_cmd "$E2E_TMP/w" rt wait c-bad
    expect_grep "$E2E_TMP/w" 'status=exited exit_code=126'
    rt delete c-bad
}

containers_survive_the_driver_and_are_adopted() {
    rt run c-long pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/long.log" \
        -- sh -c 'while true; do echo tick; sleep 0.1; done'
    # the driver that created it has exited; a new one finds it in the state dir
    run_cmd "$E2E_TMP/l" rt list
    expect_grep "$E2E_TMP/l" '^c-long$'
    run_cmd "$E2E_TMP/s" rt state c-long
    expect_grep "$E2E_TMP/s" 'status=running'
    local shim
    shim=$(sed -n 's/.*"shimPid":\([0-9]*\).*/\1/' "$S/containers/c-long/state.json")
    [[ $(ps -o sid= -p "$shim" | tr -d ' ') == "$shim" ]] || fail "shim is not a session leader"
    [[ $(ps -o ppid= -p "$shim" | tr -d ' ') != "$$" ]] || fail "shim is our child"
    run_cmd "$E2E_TMP/e" rt exec c-long -- sh -c 'hostname; cat /proc/1/cmdline | tr "\0" " "'
    expect_rc 0 "exec"
    expect_grep "$E2E_TMP/e" '^web-0$'
    expect_grep "$E2E_TMP/e" 'sh -c while true'
    run_cmd "$E2E_TMP/e" rt exec c-long -- sh -c 'exit 7'
    expect_rc 7 "exec exit code"
    run_cmd "$E2E_TMP/tty" rt exec-tty c-long 'tty; echo typed-$((6*7)); exit 5\n' -- sh
    expect_rc 5 "exec with a terminal"
    expect_grep "$E2E_TMP/tty" '^/dev/pts/0'
    expect_grep "$E2E_TMP/tty" '^typed-42'
    # a watcher blocks on the shim socket until the exit (no polling), from another process
    rt watch c-long >"$E2E_TMP/w" 2>&1 &
    local waiter=$!
    sleep 0.3
    kill -0 $waiter 2>/dev/null || fail "wait returned while running"
    rt kill c-long 9
    wait $waiter
    expect_grep "$E2E_TMP/w" 'status=exited exit_code=137'
    expect_grep "$E2E_TMP/long.log" ' stdout F tick$'
    # after the shim is gone the state file still answers
    run_cmd "$E2E_TMP/s" rt state c-long
    expect_grep "$E2E_TMP/s" 'status=exited exit_code=137'
    rt delete c-long
}

host_network_sandbox_shares_the_host_namespace() {
    rt sandbox-create pod-host --host-network --host-ipc --host-pid
    run_cmd "$E2E_TMP/n" rt netns pod-host
    expect_rc 1 "no netns for hostNetwork"
    rt run c-host pod-host --rootfs "$ROOTFS" --log "$E2E_TMP/host.log" \
        -- sh -c 'readlink /proc/self/ns/net; readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc'
    rt wait c-host >/dev/null
    local ns mine
    for ns in net pid ipc; do
        mine=$(readlink /proc/self/ns/$ns)
        expect_grep "$E2E_TMP/host.log" " stdout F ${mine//[/\\[}$"
    done
    rt delete c-host
    rt sandbox-remove pod-host
}

sandbox_teardown_removes_mounts_and_cgroups() {
    rt sandbox-create pod2 --hostname other --qos guaranteed --cpu-request 1000 --cpu-limit 1000 \
        --memory-limit 67108864
    local pcg=$CG/kubepods/podpod2
    if [[ -d /sys/fs/cgroup/memory/$pcg ]]; then
        [[ $(cat "/sys/fs/cgroup/memory/$pcg/memory.limit_in_bytes") == 67108864 ]] || fail "pod memory"
        [[ $(cat "/sys/fs/cgroup/cpu/$pcg/cpu.cfs_quota_us") == 100000 ]] || fail "pod quota"
        [[ $(cat "/sys/fs/cgroup/cpu/$pcg/cpu.shares") == 1024 ]] || fail "pod shares"
    else
        [[ $(cat "/sys/fs/cgroup/$pcg/memory.max") == 67108864 ]] || fail "pod memory.max"
    fi
    run_cmd "$E2E_TMP/n" rt netns pod2
    expect_grep "$E2E_TMP/n" "/sandboxes/pod2/net$"
    grep -q "$S/sandboxes/pod2/net" /proc/self/mountinfo || fail "netns not held by a mount"
    rt run c-busy pod2 --rootfs "$ROOTFS" -- sleep 1000
    [[ -e $S/sandboxes/pod2/containers/c-busy ]] || fail "no marker of the container in its sandbox"
    run_cmd "$E2E_TMP/o" rt sandbox-remove pod2
    expect_rc 1 "remove a sandbox with containers"
    rm -r "$S/sandboxes/pod2/containers" # a sandbox from before the markers: every state is read
    run_cmd "$E2E_TMP/o" rt sandbox-remove pod2
    expect_rc 1 "remove a sandbox without markers that has containers"
    rt delete c-busy
    rt sandbox-remove pod2
    ! grep -q "$S/sandboxes/pod2" /proc/self/mountinfo || fail "mounts left"
    [[ ! -e "$S/sandboxes/pod2" ]] || fail "dir left"
    ! ls -d /sys/fs/cgroup/*/$pcg 2>/dev/null || fail "pod cgroup left"
    rt sandbox-create pod3
    rt run c-m pod3 --rootfs "$ROOTFS" -- sleep 1000
    rt delete c-m
    [[ ! -e $S/sandboxes/pod3/containers/c-m ]] || fail "marker left after the delete"
    rt sandbox-remove pod3
    [[ ! -e "$S/sandboxes/pod3" ]] || fail "dir of pod3 left"
}

log_rotates_by_size() {
    rt run c-rot pod1 --rootfs "$ROOTFS" --log "$E2E_TMP/rot.log" --log-max-size 2000 \
        --log-max-files 3 -- sh -c 'for i in $(seq 200); do echo line-$i; done'
    rt wait c-rot >/dev/null
    rt delete c-rot
    [[ -f "$E2E_TMP/rot.log.1" && -f "$E2E_TMP/rot.log.2" ]] || fail "no rotated files"
    [[ ! -e "$E2E_TMP/rot.log.3" ]] || fail "more files than max"
    [[ $(stat -c %s "$E2E_TMP/rot.log.1") -lt 2100 ]] || fail "rotated file too large"
    expect_grep "$E2E_TMP/rot.log" ' stdout F line-200$'
    ! grep -q ' line-1$' "$E2E_TMP/rot.log" "$E2E_TMP/rot.log.1" "$E2E_TMP/rot.log.2" ||
        fail "oldest lines kept"
}

killall_removes_everything() {
    rt run c-k1 pod1 --rootfs "$ROOTFS" -- sleep 1000
    rt run c-k2 pod1 --rootfs "$ROOTFS" -- sleep 1000
    local shim
    shim=$(sed -n 's/.*"shimPid":\([0-9]*\).*/\1/' "$S/containers/c-k1/state.json")
    run_cmd "$E2E_TMP/k" "$K" killall --runtime-dir "$S" --cgroup-root "$CG"
    expect_rc 0 "killall"
    ! kill -0 "$shim" 2>/dev/null || fail "shim $shim survived"
    [[ ! -e "$S" ]] || fail "state dir left: $(find "$S")"
    ! grep -q "$S" /proc/self/mountinfo || fail "mounts left"
    ! ls -d /sys/fs/cgroup/*/$CG 2>/dev/null || fail "cgroups left"
}

t prints_and_exits_with_cri_log prints_and_exits_with_cri_log
t sigterm_is_delivered sigterm_is_delivered
t memory_limit_is_oom_killed_and_reported memory_limit_is_oom_killed_and_reported
t limits_reach_the_cgroup_and_stats_read_back limits_reach_the_cgroup_and_stats_read_back
t containers_of_a_pod_talk_over_lo containers_of_a_pod_talk_over_lo
t readonly_root_refuses_writes_and_overlay_keeps_lower_clean readonly_root_refuses_writes_and_overlay_keeps_lower_clean
t capabilities_user_and_masked_paths capabilities_user_and_masked_paths
t volumes_bind_read_write_and_read_only volumes_bind_read_write_and_read_only
t bad_command_fails_start_with_the_exec_error bad_command_fails_start_with_the_exec_error
t containers_survive_the_driver_and_are_adopted containers_survive_the_driver_and_are_adopted
t host_network_sandbox_shares_the_host_namespace host_network_sandbox_shares_the_host_namespace
t sandbox_teardown_removes_mounts_and_cgroups sandbox_teardown_removes_mounts_and_cgroups
t log_rotates_by_size log_rotates_by_size
t killall_removes_everything killall_removes_everything
