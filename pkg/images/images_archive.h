/* images_archive: the members of an imported tarball, read in place. */
#ifndef KUBELING_IMAGES_ARCHIVE_H
#define KUBELING_IMAGES_ARCHIVE_H

#include "images_internal.h"

typedef struct images_member {
    char *name; /* cleaned */
    char *link;
    char type;
    uint64_t offset, size;
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

#endif
