#!/usr/bin/env bash
# bench/podnet/run.sh: pod network setup + teardown time per pod, inside a private network and
# mount namespace (nothing touches the host's network): kubeling's podnet without and with a
# hostPort, then Debian's CNI bridge + host-local plugins (containernetworking-plugins) doing
# the same (bridge, veth, address, default route, masquerade) when they are installed.
# Env: PODS (default 100), ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/bench/bench/podnet/podnet_bench
[[ -x $BIN ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "bench/podnet needs root (network namespaces)" >&2; exit 1; }
PODS=${PODS:-100} ROUNDS=${ROUNDS:-3}
CNI=/usr/lib/cni

for r in $(seq "$ROUNDS"); do
    echo "-- round $r, $PODS pods"
    unshare --net --mount --propagation private -- bash -euc '
        ip link set lo up
        W=$(mktemp -d "$PWD/build/bench-podnet.XXXXXX") # not /tmp: other jobs sweep it
        trap "rm -rf $W" EXIT
        "$1" kubeling "$W/a" "$2" 0
        "$1" kubeling "$W/b" "$2" 1
        if [[ -x $3/bridge ]]; then "$1" cni "$W/c" "$2" "$3"
        else echo "CNI plugins not installed ($3/bridge): apt-get install containernetworking-plugins"; fi
    ' _ "$BIN" "$PODS" "$CNI"
done
