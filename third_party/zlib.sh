# zlib: deflate/inflate for gzip image layers and SPDY header compression.
NAME=zlib
VERSION="1:1.3.dfsg+really1.3.1-1"
SOURCES="
pool/main/z/zlib/zlib_1.3.dfsg+really1.3.1.orig.tar.gz 60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb
pool/main/z/zlib/zlib_1.3.dfsg+really1.3.1-1.debian.tar.xz 9ed525955ce9fb0c1b39be8ff98f73450dbfc6305a9a27e6149c8972d38a0a9e
"

build_zlib() {
    local src="$1" bld="$2" prefix="$3" f srcs=()
    for f in adler32 compress crc32 deflate gzclose gzlib gzread gzwrite infback inffast inflate \
        inftrees trees uncompr zutil; do
        srcs+=("$src/$f.c")
    done
    compile_archive z "$bld" "$prefix" "-DHAVE_UNISTD_H -DHAVE_STDARG_H -D_LARGEFILE64_SOURCE=1 -DHAVE_HIDDEN" "${srcs[@]}"
    cp "$src/zlib.h" "$src/zconf.h" "$prefix/include/"
}
