# lib.sh: helpers shared by third_party/build.sh and the recipes (sourced, not run).
# A recipe sets NAME, VERSION, SOURCES ("pool-path sha256" per line), optionally
# prepare_<name> (arch-independent source generation) and must define build_<name> SRC BLD PREFIX.

MIRROR="${KUBELING_DEBIAN_MIRROR:-https://deb.debian.org/debian}"
JOBS="$(nproc 2>/dev/null || echo 2)"

die() {
    echo "third_party: $*" >&2
    exit 1
}

# toolchain_for ARCH: sets CC, AR and CFLAGS_DEP for building dependencies.
toolchain_for() {
    case "$1" in
    host)
        CC=gcc AR=ar
        CFLAGS_DEP="-O2 -g -fPIC -fno-omit-frame-pointer"
        ;;
    x86_64 | aarch64 | armv7)
        case "$1" in
        x86_64) CC=x86_64-linux-musl-gcc AR=ar ;;
        aarch64) CC=aarch64-linux-musl-gcc AR=aarch64-linux-gnu-ar ;;
        armv7) CC=arm-linux-musleabihf-gcc AR=arm-linux-gnueabihf-ar ;;
        esac
        CFLAGS_DEP="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables"
        ;;
    *) die "unknown arch '$1' (host, x86_64, aarch64, armv7)" ;;
    esac
    command -v "$CC" >/dev/null || die "$CC not found: run 'make deps'"
    command -v "$AR" >/dev/null || die "$AR not found: run 'make deps'"
    export CC AR CFLAGS_DEP
}

# musl's headers carry no kernel UAPI; copy the matching arch's from Debian's linux-libc-dev.
install_kernel_headers() {
    local dst="$1" asm
    [[ "$ARCH" == host ]] && return 0
    case "$ARCH" in
    x86_64) asm=/usr/include/x86_64-linux-gnu/asm ;;
    aarch64) asm=/usr/aarch64-linux-gnu/include/asm ;;
    armv7) asm=/usr/arm-linux-gnueabihf/include/asm ;;
    esac
    [[ -d "$asm" && -d /usr/include/linux ]] || die "kernel headers for $ARCH missing: run 'make deps'"
    cp -a /usr/include/linux /usr/include/asm-generic "$dst/"
    cp -aL "$asm" "$dst/asm"
}

# fetch POOL-PATH SHA256: downloads into $CACHE/dl once, verifies, prints the local path.
fetch() {
    local path="$1" sum="$2" file
    file="$CACHE/dl/$(basename "$path")"
    mkdir -p "$CACHE/dl"
    if [[ ! -f "$file" ]] || ! echo "$sum  $file" | sha256sum -c --status; then
        curl -sSfL --retry 3 -o "$file.part" "$MIRROR/$path" || die "download failed: $MIRROR/$path"
        echo "$sum  $file.part" | sha256sum -c --status || {
            rm -f "$file.part"
            die "sha256 mismatch for $path"
        }
        mv "$file.part" "$file"
    fi
    printf '%s\n' "$file"
}

# apply_series DIR: applies debian/patches/series (quilt layout, -p1 unless a line says).
apply_series() {
    local dir="$1" p opt
    [[ -f "$dir/debian/patches/series" ]] || return 0
    while read -r p opt; do
        [[ -z "$p" || "$p" == \#* ]] && continue
        patch -d "$dir" -s -N ${opt:--p1} <"$dir/debian/patches/$p" >/dev/null ||
            die "patch $p does not apply in $dir"
    done <"$dir/debian/patches/series"
}

# prepare_source NAME: unpacks the recipe's sources (orig, then debian/, then patches), runs the
# recipe's arch-independent prepare step, caches the tree by recipe hash; prints its path.
prepare_source() {
    local name="$1" key dir tmp line path sum f
    key="$(cat "$HERE/lib.sh" "$HERE/$name.sh" | sha256sum | cut -c1-16)"
    dir="$CACHE/src/$name-$key"
    if [[ -f "$dir/.prepared" ]]; then
        printf '%s\n' "$dir"
        return 0
    fi
    rm -rf "$dir" && tmp="$dir.tmp" && rm -rf "$tmp" && mkdir -p "$tmp"
    while read -r path sum; do
        [[ -z "$path" ]] && continue
        f="$(fetch "$path" "$sum")"
        case "$f" in
        *.deb) dpkg-deb -x "$f" "$tmp" ;;
        *.debian.tar.*) tar -xf "$f" -C "$tmp" ;;
        *) tar -xf "$f" -C "$tmp" --strip-components=1 ;;
        esac
    done <<<"$SOURCES"
    apply_series "$tmp"
    if declare -F "prepare_$name" >/dev/null; then
        (cd "$tmp" && "prepare_$name") >"$tmp.log" 2>&1 || {
            tail -n 30 "$tmp.log" >&2
            die "prepare_$name failed"
        }
    fi
    rm -f "$tmp.log"
    touch "$tmp/.prepared"
    mv -T "$tmp" "$dir"
    printf '%s\n' "$dir"
}

# compile_archive LIB BLD PREFIX "CFLAGS..." SRC...: compiles the sources in parallel and puts
# them into PREFIX/lib/libLIB.a.
compile_archive() {
    local lib="$1" bld="$2" prefix="$3" flags="$4"
    shift 4
    mkdir -p "$bld/obj-$lib"
    printf '%s\n' "$@" | xargs -P "$JOBS" -I{} sh -c \
        'o="$0/$(echo "$1" | tr / _).o"; $CC $CFLAGS_DEP $2 -c "$1" -o "$o" || exit 255' \
        "$bld/obj-$lib" {} "$flags" || die "compiling lib$lib failed"
    rm -f "$prefix/lib/lib$lib.a"
    "$AR" rcs "$prefix/lib/lib$lib.a" "$bld/obj-$lib"/*.o
}
