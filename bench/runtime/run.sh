#!/usr/bin/env bash
# bench/runtime/run.sh: container create+start+wait+delete of a busybox `/bin/true` with
# kubeling's runtime, side by side with `runc run` of the same rootfs as a bundle (interleaved
# in one run), plus a whole pod (sandbox + container) and an idle shim's RSS. Root only; runs
# in its own mount namespace; the shim is the static musl build. Env: N (default 200).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/bench/bench/runtime/runtime_bench
[[ -x $BIN ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "bench/runtime needs root" >&2; exit 1; }
[[ -x build/static-x86_64/kubeling ]] || make --no-print-directory static ARCH=x86_64 >/dev/null
SHIM=$PWD/build/static-x86_64/kubeling
N=${N:-200}
WORK=$(mktemp -d /tmp/kubeling-bench.XXXXXX)
CG=kubeling-bench-$$
trap '"$SHIM" killall --runtime-dir "$WORK/state" --cgroup-root $CG >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/bundle/rootfs/bin"
cp /bin/busybox "$WORK/bundle/rootfs/bin/busybox"
chroot "$WORK/bundle/rootfs" /bin/busybox --install -s /bin
(cd "$WORK/bundle" && runc spec)
/usr/bin/python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(sys.argv[1], "w"))
PY
# Both state dirs (ours and runc's --root) on a tmpfs, as /run is on a normal host.
echo "# $(runc --version | head -1); N=$N; state dirs on tmpfs"
mkdir -p "$WORK/state"
unshare -m --propagation private bash -c 'mount -t tmpfs -o mode=0700 bench "$1" && shift && exec "$@"' \
    _ "$WORK/state" "$BIN" "$WORK/state" "$CG" "$SHIM" "$WORK/bundle/rootfs" "$WORK/bundle" "$N"
