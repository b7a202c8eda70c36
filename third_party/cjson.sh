# cJSON: the JSON tree for API objects.
NAME=cjson
VERSION="1.7.18-3.1+deb13u1"
SOURCES="
pool/main/c/cjson/cjson_1.7.18.orig.tar.gz 3aa806844a03442c00769b83e99970be70fbef03735ff898f4811dd03b9f5ee5
pool/main/c/cjson/cjson_1.7.18-3.1+deb13u1.debian.tar.xz f6daf5b8b2ccd6ca1f96e4b6fcd7a0e3907f820f75b197367b2ced345d01881d
"

build_cjson() {
    local src="$1" bld="$2" prefix="$3"
    compile_archive cjson "$bld" "$prefix" "-std=c89" "$src/cJSON.c"
    mkdir -p "$prefix/include/cjson"
    cp "$src/cJSON.h" "$prefix/include/cjson/"
}
