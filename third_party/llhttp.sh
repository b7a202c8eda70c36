# llhttp: the HTTP/1.1 parser. Debian ships its generated C sources in node-llhttp (all-arch .deb,
# built from the node-undici source package); bookworm's 8.1.0 is the newest with the C files.
NAME=llhttp
VERSION="8.1.0~5.15.0+dfsg1+~cs20.10.9.3-1+deb12u4"
SOURCES="
pool/main/n/node-undici/node-llhttp_8.1.0~5.15.0+dfsg1+~cs20.10.9.3-1+deb12u4_all.deb fa9fe58b10e813e67f31713b48ac2b489a1ed3bf808f0bc89d137a18c6d0b67c
"

build_llhttp() {
    local src="$1" bld="$2" prefix="$3" c="$1/usr/share/llhttp"
    compile_archive llhttp "$bld" "$prefix" "-I$src/usr/share/include/llhttp" \
        "$c/llhttp.c" "$c/api.c" "$c/http.c"
    cp "$src/usr/share/include/llhttp/llhttp.h" "$prefix/include/"
}
