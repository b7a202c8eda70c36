#!/usr/bin/env bash
# build.sh ARCH OUT-LINK: builds every third_party recipe as a static library into a private
# sysroot for ARCH (host | x86_64 | aarch64 | armv7) and points OUT-LINK at it.
#
# Sources are Debian source packages (orig tarball + debian tarball with its patch series) or,
# for llhttp, the all-arch .deb that ships its C sources; each file is pinned by sha256.
# k8s-schema is generated: its recipe runs k8s-schema/gen-k8s-schema.py over the models of the
# python3-kubernetes .deb and compiles the tables into libk8sschema.a.
# Sysroots are cached in $KUBELING_CACHE (default ~/.cache/kubeling) under a key made from the
# recipes and the compiler, so a clean clone reuses them and a changed recipe rebuilds.
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "$0")" && pwd)"
ARCH="${1:?usage: build.sh ARCH OUT-LINK}"
OUT_LINK="${2:?usage: build.sh ARCH OUT-LINK}"
CACHE="${KUBELING_CACHE:-$HOME/.cache/kubeling}"
RECIPES=(zlib cjson llhttp libuv mbedtls sqlite3 mimalloc k8s-schema k8s-proto)

# shellcheck source=lib.sh
source "$HERE/lib.sh"
toolchain_for "$ARCH"

key_material() {
    cat "$HERE/build.sh" "$HERE/lib.sh"
    local r
    for r in "${RECIPES[@]}"; do
        cat "$HERE/$r.sh"
        # a recipe's own files (generator, sources) live in a directory named after it
        if [[ -d "$HERE/$r" ]]; then
            find "$HERE/$r" -type f -print0 | LC_ALL=C sort -z | xargs -0 cat
        fi
    done
    printf '%s\n' "$ARCH" "$CFLAGS_DEP"
    "$CC" --version | head -n 1
}
KEY="$(key_material | sha256sum | cut -c1-16)"
PREFIX="$CACHE/sysroot-$ARCH-$KEY"

link_out() {
    mkdir -p "$(dirname "$OUT_LINK")"
    ln -sfn "$PREFIX" "$OUT_LINK.tmp" && mv -T "$OUT_LINK.tmp" "$OUT_LINK"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-$ARCH"
flock 9
if [[ -f "$PREFIX/.complete" ]]; then
    link_out
    exit 0
fi

echo "  DEPS    building sysroot for $ARCH in $PREFIX (cached afterwards)"
rm -rf "$PREFIX" "$PREFIX.tmp"
STAGE="$PREFIX.tmp"
mkdir -p "$STAGE/include" "$STAGE/lib"
WORK="$(mktemp -d "$CACHE/work-$ARCH.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

install_kernel_headers "$STAGE/include"
: >"$STAGE/versions.txt"
for r in "${RECIPES[@]}"; do
    (
        # shellcheck disable=SC1090
        source "$HERE/$r.sh"
        src="$(prepare_source "$r")"
        bld="$WORK/$r"
        mkdir -p "$bld"
        "build_$r" "$src" "$bld" "$STAGE"
        printf '%s %s\n' "$NAME" "$VERSION" >>"$STAGE/versions.txt"
    )
    echo "  DEPS    $ARCH: $r done"
done
touch "$STAGE/.complete"
mv -T "$STAGE" "$PREFIX"
link_out
