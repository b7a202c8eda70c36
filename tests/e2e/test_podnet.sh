#!/usr/bin/env bash
# test_podnet: the pod network (pkg/podnet) for real, entirely inside throwaway network
# namespaces: a "node" netns holding the bridge, pod netns made with `ip netns add` (standing in
# for pkg/runtime's), and an "outside" host routed through the node. Driven by podnet_ctl.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CTL="${KUBELING_HELPERS:-$ROOT/build/asan/tests/helpers}/podnet_ctl"
export ASAN_OPTIONS=detect_leaks=0 # the crash checks SIGKILL the helper

[[ $(id -u) -eq 0 ]] || { echo "not ok podnet needs root (network namespaces)"; exit 1; }
[[ -x "$CTL" ]] || { echo "not ok $CTL missing (make asan)"; exit 1; }
command -v nft >/dev/null && command -v busybox >/dev/null ||
    { echo "not ok nft and busybox are needed (tests/deps.txt)"; exit 1; }

P="kt$$$RANDOM" # netns names are ours alone; no device is ever made in the host's netns
NODE=$P-node P1=$P-p1 P2=$P-p2 P3=$P-p3 OUT=$P-out
PDATA="$E2E_TMP/podnet-data"

netns_cleanup() {
    local n
    for n in "$NODE" "$P1" "$P2" "$P3" "$OUT"; do
        ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$n" 2>/dev/null
    done
}
E2E_CLEANUPS+=("netns_cleanup")

in_ns() { # in_ns NETNS CMD...
    local n=$1
    shift
    ip netns exec "$n" "$@"
}
ctl() { in_ns "$NODE" "$CTL" --data-dir "$PDATA" "$@"; }

# The node, three empty pod namespaces, and an outside host on 192.168.77.0/24 that has no
# route to the pod range (so replies reach a pod only if its traffic was masqueraded).
for n in "$NODE" "$P1" "$P2" "$P3" "$OUT"; do ip netns add "$n" || exit 1; done
in_ns "$NODE" ip link set lo up
in_ns "$NODE" ip link add up0 type veth peer name up1 netns "$OUT"
in_ns "$NODE" ip addr add 192.168.77.1/24 dev up0
in_ns "$NODE" ip link set up0 up
in_ns "$OUT" ip link set lo up
in_ns "$OUT" ip addr add 192.168.77.2/24 dev up1
in_ns "$OUT" ip link set up1 up

# serve NETNS PORT TEXT: a TCP server answering TEXT to every connection.
serve() {
    in_ns "$1" busybox nc -ll -p "$2" -e busybox echo "$3" >/dev/null 2>&1 &
    local i
    for i in $(seq 100); do
        [[ -n $(in_ns "$1" ss -ltnH "sport = :$2") ]] && return 0
        sleep 0.02
    done
    fail "no listener on $1:$2"
}

# fetch NETNS ADDR PORT: what a TCP client there reads.
fetch() { in_ns "$1" timeout 5 busybox nc -w 2 "$2" "$3" </dev/null 2>&1; }

pod_ip() { in_ns "$1" ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1; }

bridge_made_with_gateway_and_forwarding() {
    run_cmd "$E2E_TMP/open.out" ctl open
    expect_rc 0 "podnet_ctl open"
    expect_grep "$E2E_TMP/open.out" '^10\.42\.0\.0/24$'
    in_ns "$NODE" ip -4 -o addr show dev kubeling0 >"$E2E_TMP/br.out"
    expect_grep "$E2E_TMP/br.out" 'inet 10\.42\.0\.1/24 '
    in_ns "$NODE" ip -d link show kubeling0 >"$E2E_TMP/brl.out"
    expect_grep "$E2E_TMP/brl.out" '[<,]UP[,>]'
    expect_grep "$E2E_TMP/brl.out" 'bridge '
    [[ $(in_ns "$NODE" cat /proc/sys/net/ipv4/ip_forward) == 1 ]] || fail "ip_forward off"
    [[ $(in_ns "$NODE" cat /proc/sys/net/ipv4/conf/kubeling0/forwarding) == 1 ]] ||
        fail "forwarding off on the bridge"
    in_ns "$NODE" nft list table ip kubeling >"$E2E_TMP/nft.out"
    expect_grep "$E2E_TMP/nft.out" 'ip saddr 10\.42\.0\.0/24 ip daddr != 10\.42\.0\.0/16 masquerade'
}

two_pods_get_addresses_and_talk_across_the_bridge() {
    run_cmd "$E2E_TMP/s1.out" ctl setup uid-p1 "/run/netns/$P1"
    expect_rc 0 "setup p1"
    run_cmd "$E2E_TMP/s2.out" ctl setup uid-p2 "/run/netns/$P2"
    expect_rc 0 "setup p2"
    expect_grep "$E2E_TMP/s1.out" '^10\.42\.0\.2 10\.42\.0\.1/24 veth[0-9a-f]{8}$'
    expect_grep "$E2E_TMP/s2.out" '^10\.42\.0\.3 10\.42\.0\.1/24 veth[0-9a-f]{8}$'
    local veth1
    veth1=$(awk '{print $3}' "$E2E_TMP/s1.out")
    in_ns "$NODE" ip -d link show "$veth1" >"$E2E_TMP/v1.out"
    expect_grep "$E2E_TMP/v1.out" 'master kubeling0'
    expect_grep "$E2E_TMP/v1.out" 'alias kubeling:uid-p1'
    in_ns "$P1" ip -o link show eth0 >"$E2E_TMP/e1.out"
    expect_grep "$E2E_TMP/e1.out" 'mtu 1500 .*state UP'
    in_ns "$P1" ip -o link show lo >"$E2E_TMP/lo.out"
    expect_grep "$E2E_TMP/lo.out" 'LOOPBACK,UP'
    in_ns "$P1" ip route show default >"$E2E_TMP/rt.out"
    expect_grep "$E2E_TMP/rt.out" 'default via 10\.42\.0\.1 dev eth0'
    in_ns "$P1" busybox ping -c 1 -W 2 10.42.0.3 >/dev/null || fail "p1 cannot ping p2"
    serve "$P2" 7000 hello-from-p2
    [[ $(fetch "$P1" 10.42.0.3 7000) == hello-from-p2 ]] || fail "p1 cannot reach p2 over TCP"
    # a repeated setup (a kubelet restart) keeps the address and does not disturb the pod
    run_cmd "$E2E_TMP/s1b.out" ctl setup uid-p1 "/run/netns/$P1"
    expect_rc 0 "setup p1 again"
    cmp -s "$E2E_TMP/s1.out" "$E2E_TMP/s1b.out" || fail "second setup changed the result"
    [[ $(fetch "$P1" 10.42.0.3 7000) == hello-from-p2 ]] || fail "p1 lost p2 after re-setup"
}

pod_reaches_outside_through_masquerade() {
    in_ns "$P1" busybox ping -c 1 -W 2 192.168.77.2 >/dev/null ||
        fail "p1 cannot reach the outside host (which has no route back to pods)"
    # the outside host sees the node's address as the source
    # stdin held open by a sleep inside the netns, so the cleanup's kill reaches it
    in_ns "$OUT" sh -c 'sleep 5 | busybox nc -l -p 9000' >/dev/null 2>&1 &
    local i
    for i in $(seq 100); do
        [[ -n $(in_ns "$OUT" ss -ltnH "sport = :9000") ]] && break
        sleep 0.02
    done
    in_ns "$P1" sh -c 'sleep 3 | busybox nc 192.168.77.2 9000' >/dev/null 2>&1 &
    for i in $(seq 100); do
        in_ns "$OUT" ss -tnH state established "sport = :9000" >"$E2E_TMP/ss.out"
        [[ -s "$E2E_TMP/ss.out" ]] && break
        sleep 0.02
    done
    expect_grep "$E2E_TMP/ss.out" '192\.168\.77\.1\]?:[0-9]+ *$'
    grep -q '10\.42\.' "$E2E_TMP/ss.out" && fail "a pod address leaked outside"
    echo "# outside sees: $(awk '{print $NF}' "$E2E_TMP/ss.out")"
    true
}

hostport_reaches_the_pod_from_everywhere() {
    run_cmd "$E2E_TMP/s3.out" ctl setup uid-p3 "/run/netns/$P3" tcp:8080:80 udp:5353:53
    expect_rc 0 "setup p3 with hostPorts"
    local ip3
    ip3=$(cut -d' ' -f1 "$E2E_TMP/s3.out")
    serve "$P3" 80 hostport-ok
    [[ $(fetch "$OUT" 192.168.77.1 8080) == hostport-ok ]] || fail "outside -> node:8080"
    [[ $(fetch "$NODE" 192.168.77.1 8080) == hostport-ok ]] || fail "node itself -> node:8080"
    [[ $(fetch "$NODE" 127.0.0.1 8080) == hostport-ok ]] || fail "node 127.0.0.1:8080"
    [[ $(fetch "$P1" 192.168.77.1 8080) == hostport-ok ]] || fail "another pod -> node:8080"
    [[ $(fetch "$P3" 192.168.77.1 8080) == hostport-ok ]] || fail "hairpin: p3 -> node:8080"
    in_ns "$NODE" nft list table ip kubeling >"$E2E_TMP/nft3.out"
    expect_grep "$E2E_TMP/nft3.out" "tcp dport 8080 dnat to $ip3:80"
    # a second pod asking for the same hostPort is refused before anything is made for it
    run_cmd "$E2E_TMP/dup.out" ctl setup uid-dup "/run/netns/$P1" tcp:8080:8080
    expect_rc 1 "duplicate hostPort"
    expect_grep "$E2E_TMP/dup.out" 'hostPort 8080/tcp is already mapped to pod uid-p3'
    grep -lx uid-dup "$PDATA"/agent/podnet/ipam/10.* >/dev/null 2>&1 && fail "address allocated"
    [[ $(fetch "$P1" 10.42.0.3 7000) == hello-from-p2 ]] || fail "p1 broken by the refusal"
    expect_grep "$E2E_TMP/nft3.out" "udp dport 5353 dnat to $ip3:53"
}

teardown_leaves_nothing() {
    local u
    for u in uid-p1 uid-p2 uid-p3; do
        run_cmd "$E2E_TMP/td.out" ctl teardown "$u"
        expect_rc 0 "teardown $u"
    done
    run_cmd "$E2E_TMP/td.out" ctl teardown uid-p1
    expect_rc 0 "teardown of a pod already gone"
    run_cmd "$E2E_TMP/td.out" ctl teardown never-existed
    expect_rc 0 "teardown of an unknown pod"
    in_ns "$NODE" ip -o link show type veth >"$E2E_TMP/links.out"
    grep -v 'up0' "$E2E_TMP/links.out" >"$E2E_TMP/ours.out"
    [[ -s "$E2E_TMP/ours.out" ]] && { cat "$E2E_TMP/ours.out"; fail "veths left"; }
    for n in "$P1" "$P2" "$P3"; do
        in_ns "$n" ip link show eth0 >/dev/null 2>&1 && fail "eth0 left in $n"
    done
    ls "$PDATA/agent/podnet/ipam" >"$E2E_TMP/ipam.out"
    grep -qE '^[0-9.]+$' "$E2E_TMP/ipam.out" && { cat "$E2E_TMP/ipam.out"; fail "addresses left"; }
    in_ns "$NODE" nft list table ip kubeling >"$E2E_TMP/nft4.out"
    grep -q 'dnat' "$E2E_TMP/nft4.out" && { cat "$E2E_TMP/nft4.out"; fail "hostPort rules left"; }
    [[ -z $(ls "$PDATA/agent/podnet/hostports") ]] || fail "hostPort state left"
    true
}

crash_half_way_then_converge_or_reconcile() {
    # killed right after the address was allocated: reconcile (pod gone) frees it
    run_cmd "$E2E_TMP/c1.out" ctl --crash-at allocated setup uid-c1 "/run/netns/$P1"
    [[ $RC -eq 137 ]] || { cat "$E2E_TMP/c1.out"; fail "helper was not killed ($RC)"; }
    grep -lx uid-c1 "$PDATA"/agent/podnet/ipam/10.* >/dev/null 2>&1 ||
        { head -n1 "$PDATA"/agent/podnet/ipam/*; fail "no allocation recorded before the crash"; }
    # killed with the veth made but the pod side unconfigured: setup again converges
    run_cmd "$E2E_TMP/c2.out" ctl --crash-at linked setup uid-c2 "/run/netns/$P2" tcp:8081:80
    [[ $RC -eq 137 ]] || fail "helper was not killed at linked ($RC)"
    in_ns "$P2" ip link show eth0 >/dev/null || fail "no eth0 after the crash at linked"
    run_cmd "$E2E_TMP/c2b.out" ctl setup uid-c2 "/run/netns/$P2" tcp:8081:80
    expect_rc 0 "setup after crash"
    in_ns "$P2" busybox ping -c 1 -W 2 10.42.0.1 >/dev/null || fail "converged pod cannot ping"
    # another crash at linked for a pod that then goes away
    run_cmd "$E2E_TMP/c3.out" ctl --crash-at linked setup uid-c3 "/run/netns/$P3"
    [[ $RC -eq 137 ]] || fail "helper was not killed ($RC)"
    run_cmd "$E2E_TMP/rec.out" ctl reconcile uid-c2
    expect_rc 0 "reconcile"
    expect_grep "$E2E_TMP/rec.out" '^freed [1-9]'
    local files
    files=$(grep -lE '^uid-c[13]$' "$PDATA"/agent/podnet/ipam/* 2>/dev/null)
    [[ -z $files ]] || fail "leaked allocations: $files"
    in_ns "$P3" ip link show eth0 >/dev/null 2>&1 && fail "leaked veth of uid-c3"
    in_ns "$P2" busybox ping -c 1 -W 2 10.42.0.1 >/dev/null || fail "reconcile hurt a live pod"
    in_ns "$NODE" nft list table ip kubeling >"$E2E_TMP/nft5.out"
    grep -q 'dport 8081' "$E2E_TMP/nft5.out" || fail "live hostPort lost"
    run_cmd "$E2E_TMP/td.out" ctl teardown uid-c2
    expect_rc 0 "teardown uid-c2"
    [[ $(in_ns "$NODE" ip -o link show master kubeling0 | wc -l) -eq 0 ]] || fail "links left"
}

restart_reuses_the_bridge() {
    local before after
    before=$(in_ns "$NODE" cat /sys/class/net/kubeling0/ifindex)
    run_cmd "$E2E_TMP/r.out" ctl setup uid-r "/run/netns/$P1"
    expect_rc 0 "setup"
    run_cmd "$E2E_TMP/r2.out" ctl open
    expect_rc 0 "open again"
    after=$(in_ns "$NODE" cat /sys/class/net/kubeling0/ifindex)
    [[ $before == "$after" ]] || fail "bridge recreated ($before -> $after)"
    [[ $(in_ns "$NODE" ip -4 -o addr show dev kubeling0 | wc -l) -eq 1 ]] || fail "addresses doubled"
    in_ns "$P1" busybox ping -c 1 -W 2 10.42.0.1 >/dev/null || fail "pod lost the gateway"
    run_cmd "$E2E_TMP/r3.out" ctl teardown uid-r
    expect_rc 0 "teardown"
}

tampered_table_is_repaired() {
    # a stray rule is flushed; a base chain on another hook forces a whole-table replace
    in_ns "$NODE" nft add rule ip kubeling hostports tcp dport 9999 drop
    run_cmd "$E2E_TMP/t1.out" ctl open
    expect_rc 0 "open over a stray rule"
    in_ns "$NODE" nft list table ip kubeling >"$E2E_TMP/t1.nft"
    grep -q 9999 "$E2E_TMP/t1.nft" && fail "stray rule kept"
    in_ns "$NODE" nft delete table ip kubeling
    in_ns "$NODE" nft add table ip kubeling
    in_ns "$NODE" nft 'add chain ip kubeling output { type filter hook output priority 0; }'
    run_cmd "$E2E_TMP/t2.out" ctl open
    expect_rc 0 "open over a foreign chain"
    in_ns "$NODE" nft list table ip kubeling >"$E2E_TMP/t2.nft"
    expect_grep "$E2E_TMP/t2.nft" 'type nat hook output priority -100'
    expect_grep "$E2E_TMP/t2.nft" 'ip saddr 10\.42\.0\.0/24 ip daddr != 10\.42\.0\.0/16 masquerade'
}

wrong_netns_is_refused() {
    # the node's own netns (a hostNetwork pod passed by mistake) is never touched
    run_cmd "$E2E_TMP/w1.out" ctl setup uid-w "/proc/self/ns/net"
    expect_rc 1 "the node's netns"
    expect_grep "$E2E_TMP/w1.out" "is the node's own network namespace"
    run_cmd "$E2E_TMP/w2.out" ctl setup uid-w "$E2E_TMP/open.out"
    expect_rc 1 "not a netns"
    expect_grep "$E2E_TMP/w2.out" 'is not a network namespace'
    ls "$PDATA/agent/podnet/ipam" >"$E2E_TMP/w.ipam" # refused before anything was made
    grep -qE '^[0-9.]+$' "$E2E_TMP/w.ipam" && fail "address allocated"
    true
}

not_a_bridge_is_a_clear_error() {
    in_ns "$NODE" ip link add kt-dummy type veth peer name kt-dummy1
    run_cmd "$E2E_TMP/nb.out" in_ns "$NODE" "$CTL" --data-dir "$PDATA" --bridge kt-dummy open
    expect_rc 1 "open on a dummy link"
    expect_grep "$E2E_TMP/nb.out" 'link kt-dummy exists and is not a bridge'
    in_ns "$NODE" ip link del kt-dummy
}

t bridge_made_with_gateway_and_forwarding bridge_made_with_gateway_and_forwarding
t two_pods_get_addresses_and_talk_across_the_bridge two_pods_get_addresses_and_talk_across_the_bridge
t pod_reaches_outside_through_masquerade pod_reaches_outside_through_masquerade
t hostport_reaches_the_pod_from_everywhere hostport_reaches_the_pod_from_everywhere
t teardown_leaves_nothing teardown_leaves_nothing
t crash_half_way_then_converge_or_reconcile crash_half_way_then_converge_or_reconcile
t restart_reuses_the_bridge restart_reuses_the_bridge
t tampered_table_is_repaired tampered_table_is_repaired
t wrong_netns_is_refused wrong_netns_is_refused
t not_a_bridge_is_a_clear_error not_a_bridge_is_a_clear_error
