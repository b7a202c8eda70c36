/* images_internal: streams, the tar reader, in-root path resolution and layer unpacking,
 * shared by the files of pkg/images and its tests. */
#ifndef KUBELING_IMAGES_INTERNAL_H
#define KUBELING_IMAGES_INTERNAL_H

#include "images.h"

#include <sys/types.h>
#include <time.h>

#include <mbedtls/sha256.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#define IMAGES_DIGEST_LEN 71 /* "sha256:" + 64 hex */

/* ---- streams: a byte source (fd region or memory), hashed raw, decompressed when gzip ---- */

typedef struct images_stream {
    int fd; /* source fd read with pread from off for len bytes, or -1 for mem */
    uint64_t off, len, pos;
    const uint8_t *mem;
    mbedtls_sha256_context raw_sha; /* over the bytes as stored */
    mbedtls_sha256_context out_sha; /* over the bytes after decompression */
    bool gzip, zinit, zend;
    bool nohash; /* digests not wanted: skips may seek instead of reading */
    z_stream zs;
    uint8_t *inbuf;
    size_t in_len;    /* bytes of inbuf filled */
    uint64_t out_len; /* decompressed bytes handed out */
    uint64_t out_max; /* -EFBIG beyond this */
    images_progress_fn progress;
    void *progress_ud;
    const char *progress_name;
    uint64_t progress_total;
} images_stream_t;

/* Opens a region of fd (not owned), or a memory buffer when fd < 0. Sniffs the magic:
 * gzip is decompressed; zstd, xz and bzip2 are refused with a clear error. */
int images_stream_open(images_stream_t *s, int fd, uint64_t off, uint64_t len, const uint8_t *mem,
                       uint64_t out_max, util_error_t *err);
/* Reads up to n decompressed bytes; 0 at the end; < 0 on error. */
ssize_t images_stream_read(images_stream_t *s, void *buf, size_t n, util_error_t *err);
/* Skips n decompressed bytes (seeks when the source is a plain fd and nohash is set). */
int images_stream_skip(images_stream_t *s, uint64_t n, util_error_t *err);
/* Reads exactly n bytes; -EIO "truncated" on an early end. */
int images_stream_read_full(images_stream_t *s, void *buf, size_t n, util_error_t *err);
/* Reads to the end (so the digests cover everything), then writes "sha256:<hex>" of the
 * raw and decompressed bytes (either may be NULL). */
int images_stream_finish(images_stream_t *s, char *ret_raw, char *ret_out, util_error_t *err);
void images_stream_close(images_stream_t *s);
/* "sha256:<hex>" of a buffer. */
void images_sha256_digest(const void *data, size_t len, char ret[IMAGES_DIGEST_LEN + 1]);
/* True for "sha256:" + 64 lowercase hex. */
bool images_digest_valid(const char *digest);

/* ---- tar: ustar, pax (path, linkpath, size, uid, gid, mtime, SCHILY.xattr), GNU L/K ---- */

typedef struct images_tar_xattr {
    char *name;
    char *value;
    size_t len;
} images_tar_xattr_t;

typedef struct images_tar_entry {
    char *path;     /* as stored, not yet cleaned */
    char *linkname; /* hard link target or symlink value */
    char type;      /* '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6'
                       fifo */
    mode_t mode;    /* permission bits (07777) */
    uid_t uid;
    gid_t gid;
    uint64_t size;
    struct timespec mtime;
    unsigned devmajor, devminor;
    images_tar_xattr_t *xattrs;
    size_t nxattrs;
    uint64_t data_offset; /* of the entry's data in the (decompressed) stream */
} images_tar_entry_t;

typedef struct images_tar {
    images_stream_t *s;
    uint64_t remaining; /* data bytes of the current entry not yet read */
    uint64_t padding;   /* to the next 512 boundary after the data */
    uint64_t offset;    /* position in the decompressed stream */
    uint64_t entries, max_entries;
    bool done;
} images_tar_t;

void images_tar_init(images_tar_t *t, images_stream_t *s, uint64_t max_entries);
/* Reads the next entry's header into e (cleared first; free with images_tar_entry_clear).
 * Returns 1 with an entry, 0 at the end of the archive, < 0 on a malformed archive. */
int images_tar_next(images_tar_t *t, images_tar_entry_t *e, util_error_t *err);
/* Reads the current entry's data. */
ssize_t images_tar_read(images_tar_t *t, void *buf, size_t n, util_error_t *err);
void images_tar_entry_clear(images_tar_entry_t *e);

/* ---- resolution inside a root: nothing resolved may leave the directory of rootfd ---- */

/* Test hook: use the manual component walk even where openat2 exists. */
extern bool images__force_manual_walk;

/* Opens the directory at rel (relative, cleaned) beneath rootfd, resolving symlinks as if
 * rootfd were "/". Missing directories are created (mode 0755) when create is set. */
int images_open_dir_in_root(int rootfd, const char *rel, bool create, util_error_t *err);

/* ---- unpacking one layer into an empty directory ---- */

typedef struct images_unpack_stats {
    uint64_t entries;
    uint64_t bytes;
} images_unpack_stats_t;

/* Applies the tar in s to the directory dirfd (empty, owned by the caller), converting
 * whiteouts to overlayfs form. On error the directory holds a partial layer: the caller
 * removes it. */
int images_unpack_layer(images_stream_t *s, int dirfd, const images_limits_t *limits,
                        images_unpack_stats_t *ret_stats, util_error_t *err);
/* Cleans an entry name: strips leading "/" and "./", resolves ".", "..". -EPERM when the
 * name climbs out of the root; "" for the root itself. */
int images_clean_entry_path(const char *name, char *buf, size_t len, util_error_t *err);

/* rm -rf of path relative to dirfd, never following symlinks. */
int images_remove_tree(int dirfd, const char *path, util_error_t *err);

/* ---- configs ---- */
int images_config_parse(const char *json, size_t len, images_config_t *ret,
                        util_strv_t *ret_diff_ids, util_error_t *err);
void images_config_clear(images_config_t *c);

/* ---- the store (images_store.c), used by the importer ---- */

struct images_store {
    char *root; /* <data-dir>/agent/images-store */
    images_limits_t limits;
    int lockfd;
};

/* Takes the store's exclusive lock (blocking) for a mutation. */
int images__lock(images_store_t *s, util_error_t *err);
void images__unlock(images_store_t *s);
/* The index: {"version":1,"images":[...],"imported":[...]}; an empty one when absent. */
int images__index_load(images_store_t *s, cJSON **ret, util_error_t *err);
/* Replaces index.json atomically and durably (after syncfs of the store). */
int images__index_save(images_store_t *s, cJSON *index, util_error_t *err);
/* Adds an image record (names moved from any image holding them). */
void images__index_add(cJSON *index, cJSON *image);
/* Writes data as blobs/sha256/<hex of digest>, durable, unless present. */
int images__blob_put(images_store_t *s, const char *digest, const void *data, size_t len,
                     util_error_t *err);
/* A fresh private directory under tmp/ (caller removes it). */
int images__tmpdir(images_store_t *s, char *buf, size_t len, util_error_t *err);
/* Garbage collection with the lock already held. */
int images__gc_locked(images_store_t *s, util_error_t *err);
/* Removes leftovers of interrupted imports (lock held: no import is running). */
int images__sweep_tmp(images_store_t *s, util_error_t *err);
/* Imports path with the lock held; file_record (not owned) is added to "imported". */
int images__import_locked(images_store_t *s, const char *path, cJSON *file_record,
                          images_progress_fn progress, void *ud, util_strv_t *ret_names,
                          util_error_t *err);

/* ---- is the local copy current (images_current.c) ---- */

/* The ID of the image the index holds under name (a normalised reference) when it was pulled
 * from the manifest (or index) with this digest; NULL otherwise (another manifest, an import
 * without one, no such name). Points into index. */
const char *images__current_id(const cJSON *index, const char *name, const char *digest);
/* The same over the store's index: 1 (and *ret_id, optional, the image ID) when current, 0
 * when not, < 0 when the index cannot be read. */
int images__current_check(images_store_t *s, const char *name, const char *digest, char **ret_id,
                          util_error_t *err);

#endif
