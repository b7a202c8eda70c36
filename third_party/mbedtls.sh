# mbedTLS 3.6 (LTS): TLS 1.2/1.3 for the apiserver, kubelet and join, X.509 for the cluster CA.
# trixie's 3.6 rather than bookworm's 2.28, which has no TLS 1.3 and reaches end of life.
NAME=mbedtls
VERSION="3.6.6-0.1~deb13u1"
SOURCES="
pool/main/m/mbedtls/mbedtls_3.6.6.orig.tar.bz2 8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a
pool/main/m/mbedtls/mbedtls_3.6.6-0.1~deb13u1.debian.tar.xz 210466c522eeebc85cf2f76bd5aef935b4ebac465559cc0a84f9e73a8ed6601c
"

# The release tarball ships the generated sources, so library/Makefile builds without Python.
# Upstream's default configuration plus MBEDTLS_THREADING_C with pthreads; anything changed
# goes into the installed mbedtls_config.h (not -D flags), or our code would see different
# struct layouts. Threading is on because the server runs TLS on more than one thread (the
# apiserver's loop and the components' own loops): each TLS context stays on one thread, but
# TLS 1.3 keeps its traffic keys in PSA's global key store, which is only safe to share
# between threads with MBEDTLS_THREADING_C.
build_mbedtls() {
    local src="$1" bld="$2" prefix="$3"
    cp -a "$src/." "$bld/tree"
    local cfg="$bld/tree/include/mbedtls/mbedtls_config.h" opt
    for opt in MBEDTLS_THREADING_C MBEDTLS_THREADING_PTHREAD; do
        sed -i "s|^//#define $opt\$|#define $opt|" "$cfg"
        grep -q "^#define $opt\$" "$cfg" || die "mbedtls: cannot enable $opt"
    done
    make -s -C "$bld/tree/library" -j "$JOBS" CC="$CC" AR="$AR" \
        CFLAGS="$CFLAGS_DEP" static >"$bld/make.log" 2>&1 || {
        tail -n 30 "$bld/make.log" >&2
        die "mbedtls make failed"
    }
    cp "$bld/tree/library/"lib{mbedtls,mbedx509,mbedcrypto}.a "$prefix/lib/"
    cp -a "$bld/tree/include/mbedtls" "$bld/tree/include/psa" "$prefix/include/"
}
