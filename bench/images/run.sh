#!/usr/bin/env bash
# bench/images/run.sh: import time of the busybox test images (rootfs/images/build.sh)
# into a fresh store, re-import into a store that has the layers, and `images list`, beside
# GNU tar extracting the same two layer tarballs (the floor: no verification, no durability).
# Uses the release build (build/static-x86_64/kubeling) if present, else build/bench or
# build/dev. Env: ROUNDS (11). Prints medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bench_bin
ROUNDS=${ROUNDS:-11}
WORK=$(mktemp -d /tmp/klbench-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
bash rootfs/images/build.sh "$WORK/img" >/dev/null
mkdir -p "$WORK/layers"
tar -xf "$WORK/img/busybox-docker.tar" -C "$WORK/layers" --wildcards '*/layer.tar'

now() { date +%s%N; }
# median_ms CMD...: runs the setup function `prepare` then CMD, ROUNDS times; prints the median.
median_ms() {
    local i t0 t1 times=()
    for ((i = 0; i < ROUNDS; i++)); do
        prepare
        t0=$(now)
        "$@" >/dev/null
        t1=$(now)
        times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$((ROUNDS / 2 + 1))p" | awk '{printf "%.1f ms", $1 / 1000}'
}

fresh() { rm -rf "$WORK/d"; }
keep() { :; }
tar_layers() {
    rm -rf "$WORK/x" && mkdir -p "$WORK/x"
    local l
    for l in "$WORK"/layers/*/layer.tar; do tar -xf "$l" -C "$WORK/x"; done
}
size=$(stat -c %s "$WORK/img/busybox-docker.tar")
echo "binary: $BIN; image: busybox-static, 2 layers, docker-archive $size bytes"
prepare() { fresh; }
echo "import docker-archive, empty store:        $(median_ms "$BIN" --data-dir "$WORK/d" images import "$WORK/img/busybox-docker.tar")"
echo "import OCI layout .tar.gz, empty store:    $(median_ms "$BIN" --data-dir "$WORK/d" images import "$WORK/img/busybox-oci.tar.gz")"
"$BIN" --data-dir "$WORK/d" images import "$WORK/img/busybox-docker.tar" >/dev/null
prepare() { keep; }
echo "re-import docker-archive (layers present): $(median_ms "$BIN" --data-dir "$WORK/d" images import "$WORK/img/busybox-docker.tar")"
echo "images list (1 image, 3 names):            $(median_ms "$BIN" --data-dir "$WORK/d" images list)"
prepare() { :; }
echo "peer: GNU tar -x of the two layers:        $(median_ms tar_layers)"
