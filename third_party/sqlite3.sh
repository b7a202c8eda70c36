# SQLite: the embedded datastore. The orig tarball is SQLite's canonical tree; the amalgamation
# (sqlite3.c) is generated once from it, after Debian's patches (which include CVE fixes).
NAME=sqlite3
VERSION="3.46.1-7+deb13u2"
SOURCES="
pool/main/s/sqlite3/sqlite3_3.46.1.orig.tar.xz d0cdd2ece271b29e7ce18095745d892517ee26d0f270065b3a25c2e9eb11639c
pool/main/s/sqlite3/sqlite3_3.46.1-7+deb13u2.debian.tar.xz 59d33bc436258603702bb051d645743ab03612b82f79e7c7d638c65127c21261
"

prepare_sqlite3() {
    mkdir -p amalg
    cd amalg
    CC=gcc ../configure --disable-tcl --disable-readline
    make -j "$JOBS" sqlite3.c
}

# Options from SQLite's "recommended compile-time options", minus those that change behaviour
# the store relies on. Threadsafe (1): the store's writer thread and readers share the library.
build_sqlite3() {
    local src="$1" bld="$2" prefix="$3"
    compile_archive sqlite3 "$bld" "$prefix" "-DSQLITE_THREADSAFE=1 -DSQLITE_DQS=0 \
        -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_SHARED_CACHE \
        -DSQLITE_OMIT_DEPRECATED -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_USE_ALLOCA \
        -DSQLITE_ENABLE_API_ARMOR -DHAVE_USLEEP=1 -DHAVE_FDATASYNC=1" "$src/amalg/sqlite3.c"
    cp "$src/amalg/sqlite3.h" "$src/amalg/sqlite3ext.h" "$prefix/include/"
}
