# mimalloc: the release build's malloc. Linked only into the static musl build (FLAVOR=static),
# where it replaces musl's mallocng; dev, bench, asan and fuzz keep glibc's malloc (ASan needs
# its own). Built for every ARCH like the other recipes (the host archive is not linked).
# Bookworm's source: trixie's 3.0.1+ds-2.1 source is not on our mirror (only its binaries).
NAME=mimalloc
VERSION="2.0.9+ds-2"
SOURCES="
pool/main/m/mimalloc/mimalloc_2.0.9+ds.orig.tar.xz cbc9d207ff105ad1f0cb739c378076143a6452b8d0624309cea0abfb040e972b
pool/main/m/mimalloc/mimalloc_2.0.9+ds-2.debian.tar.xz a805cc9ca126d974276508567530fb5a5a3febda86d9700e73d081c10f130318
"

# One translation unit (src/static.c includes the others), as upstream's CMakeLists.txt builds
# it with MI_OVERRIDE=ON: MI_MALLOC_OVERRIDE defines malloc, calloc, realloc, free,
# posix_memalign, memalign, valloc, pvalloc, reallocarray, malloc_usable_size and aligned_alloc
# (the last only where glibc's __USE_ISOC11 is set, so we set it: musl's headers do not).
# -O2 over the dependencies' -Os: the allocator is the hot path it replaces. -DNDEBUG: no
# assertions, MI_DEBUG 0 (release), MI_SECURE 0 (upstream's default).
build_mimalloc() {
    local src="$1" bld="$2" prefix="$3"
    compile_archive mimalloc "$bld" "$prefix" "-O2 -std=gnu11 -I$src/include -DMI_MALLOC_OVERRIDE \
        -DMI_STATIC_LIB -DNDEBUG -D__USE_ISOC11=1 -fvisibility=hidden -ftls-model=initial-exec \
        -fno-builtin-malloc" "$src/src/static.c"
    cp "$src/include/mimalloc.h" "$prefix/include/"
}
