#!/usr/bin/env bash
# test_static: the release builds are static for every arch, run (ARM under qemu-user) and
# report their linked libraries; a rebuild in another directory is bit-for-bit identical.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAX_BYTES=$((10 * 1024 * 1024)) # the product's size budget

check_arch() { # check_arch ARCH FILE-PATTERN RUNNER...
    local arch=$1 pattern=$2
    shift 2
    local bin="$ROOT/build/static-$arch/kubeling"
    [[ -x "$bin" ]] || fail "$bin missing (make static-all builds it)"
    file -L "$bin" >"$E2E_TMP/file-$arch"
    expect_grep "$E2E_TMP/file-$arch" "statically linked"
    expect_grep "$E2E_TMP/file-$arch" "$pattern"
    local size
    size=$(stat -c %s "$bin")
    [[ $size -lt $MAX_BYTES ]] || fail "$arch binary is $size bytes, budget $MAX_BYTES"
    run_cmd "$E2E_TMP/v-$arch" "$@" "$bin" version
    expect_rc 0 "version on $arch"
    expect_grep "$E2E_TMP/v-$arch" "target arch: $arch \\(musl\\)"
    local lib
    for lib in sqlite mbedtls libuv cjson llhttp zlib; do
        expect_grep "$E2E_TMP/v-$arch" "^    $lib +[0-9]+\.[0-9]+\.[0-9]+"
    done
    echo "# $arch: $size bytes"
}

static_x86_64() { check_arch x86_64 'x86-64'; }
static_aarch64() { check_arch aarch64 'ARM aarch64' qemu-aarch64-static; }
static_armv7() { check_arch armv7 'ARM, EABI5' qemu-arm-static; }

static_build_is_reproducible() {
    local other="$E2E_TMP/repro"
    make -C "$ROOT" --no-print-directory -s FLAVOR=static ARCH=x86_64 OUT="$other" kubeling >"$E2E_TMP/repro.log" 2>&1 ||
        { cat "$E2E_TMP/repro.log"; fail "second static build failed"; }
    cmp "$ROOT/build/static-x86_64/kubeling" "$other/kubeling" ||
        fail "two builds of the same tree differ"
}

t static_x86_64 static_x86_64
t static_aarch64 static_aarch64
t static_armv7 static_armv7
t static_build_is_reproducible static_build_is_reproducible
