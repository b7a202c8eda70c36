# libuv: the event loop, timers, thread pool and process handling.
NAME=libuv
VERSION="1.50.0-2"
SOURCES="
pool/main/libu/libuv1/libuv1_1.50.0.orig.tar.gz ec9de6ecf2a780fd2afb3b007947d2cd57c3bb17f3b9e721a66774980d35cd4d
pool/main/libu/libuv1/libuv1_1.50.0-2.debian.tar.xz 171ce8415710798742ed0921928618932ecc3b8b3fa9e75ac62fe10df4d461ea
"

# The Linux source list and defines from upstream's CMakeLists.txt.
build_libuv() {
    local src="$1" bld="$2" prefix="$3" f srcs=()
    for f in fs-poll idna inet random strscpy strtok thread-common threadpool timer uv-common \
        uv-data-getter-setters version unix/async unix/core unix/dl unix/fs unix/getaddrinfo \
        unix/getnameinfo unix/loop-watcher unix/loop unix/pipe unix/poll unix/process \
        unix/random-devurandom unix/signal unix/stream unix/tcp unix/thread unix/tty unix/udp \
        unix/linux unix/procfs-exepath unix/random-getrandom unix/random-sysctl-linux \
        unix/proctitle; do
        srcs+=("$src/src/$f.c")
    done
    compile_archive uv "$bld" "$prefix" "-std=gnu89 -I$src/include -I$src/src \
        -D_FILE_OFFSET_BITS=64 -D_LARGEFILE_SOURCE -D_GNU_SOURCE -D_POSIX_C_SOURCE=200112 \
        -fvisibility=hidden -fno-strict-aliasing" "${srcs[@]}"
    cp -a "$src/include/uv.h" "$src/include/uv" "$prefix/include/"
}
