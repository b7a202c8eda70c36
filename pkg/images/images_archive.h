/* images_archive: the members of an imported tarball, read in place. */
#ifndef KUBELING_IMAGES_ARCHIVE_H
#define KUBELING_IMAGES_ARCHIVE_H

#include "images_internal.h"

typedef struct images_member {
    char *name; /* cleaned */
    char *link;
    char type;
    uint64_t offset, size;
    int fd; /* >= 0: the member lives in this fd (pulled blobs), else in the archive */
} images_member_t;

typedef struct images_archive {
    int fd; /* the plain tar (the file itself, or its gunzipped copy in the work dir) */
    uint64_t file_size;
    images_member_t *members;
    size_t n, cap;
} images_archive_t;

/* Opens path; a gzip file is decompressed into workdir/archive.tar first. */
int images_archive_open(images_archive_t *a, const char *path, const char *workdir,
                        const images_limits_t *limits, images_progress_fn progress, void *ud,
                        util_error_t *err);
void images_archive_close(images_archive_t *a);
/* A regular-file member by name (links inside the archive followed), or NULL. */
const images_member_t *images_archive_find(const images_archive_t *a, const char *name);
/* Reads a small member whole (NUL-terminated). */
int images_archive_read(const images_archive_t *a, const char *name, size_t max, char **ret,
                        size_t *ret_len, util_error_t *err);

/* One import (of a tarball or a pull) in progress: what images_import.c and images_pull.c
 * share. */
typedef struct images_import {
    images_store_t *s;
    images_archive_t a;
    char work[4096];
    bool gunzipped;
    images_progress_fn progress;
    void *ud;
    const char *path;
    cJSON *records; /* image records to add to the index */
    util_strv_t *names;
} images_import_t;

/* Verifies a config, unpacks the missing layers, stores the config, queues the record. */
int images__import_image(images_import_t *im, const char *config, size_t config_len,
                         const char *config_digest, const images_member_t *const *layers,
                         const char *const *layer_digests, size_t nlayers,
                         const char *manifest_digest, cJSON *names, util_error_t *err);
/* Adds the queued records to the index (lock held). */
int images__import_commit(images_import_t *im, cJSON *file_record, util_error_t *err);
/* True when a descriptor's platform (if any) is this machine's. */
bool images__platform_matches(const cJSON *desc);

#endif
