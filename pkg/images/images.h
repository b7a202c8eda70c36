/* images: the content-addressed image store, image references, and air-gapped import of
 * docker-archive and OCI image layout tarballs (docs/images.md). */
#ifndef KUBELING_IMAGES_H
#define KUBELING_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* ------------------------------------------------------------------------------------------ */
/* References, normalised like upstream's docker/distribution reference.ParseNormalizedNamed:
 * "busybox" -> docker.io/library/busybox:latest; "name@sha256:<hex>" keeps its digest. */

typedef struct images_ref {
    char *domain; /* "docker.io", "localhost:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* "latest", or NULL when only a digest was given */
    char *digest; /* "sha256:<64 hex>", or NULL */
} images_ref_t;

int images_ref_parse(const char *text, images_ref_t *ret, util_error_t *err);
void images_ref_free(images_ref_t *ref);
/* "domain/path:tag", "domain/path@digest" or "domain/path:tag@digest" (caller frees). */
char *images_ref_string(const images_ref_t *ref);
/* "domain/path" (caller frees). */
char *images_ref_repository(const images_ref_t *ref);

/* ------------------------------------------------------------------------------------------ */
/* Images. */

/* What the kubelet needs from the image config (OCI image-spec config.config). */
typedef struct images_config {
    util_strv_t entrypoint;
    util_strv_t cmd;
    util_strv_t env; /* "KEY=value" */
    char *working_dir;
    char *user;
    util_strv_t exposed_ports; /* "80/tcp" */
    char *os, *architecture, *variant;
} images_config_t;

typedef struct images_image {
    char *id;              /* "sha256:<hex>" of the config blob: the image ID */
    char *manifest_digest; /* "sha256:<hex>" of the manifest, or NULL (docker-archive) */
    util_strv_t names;     /* normalised references ("docker.io/library/busybox:latest") */
    util_strv_t layers;    /* diffIDs "sha256:<hex>", lowest first */
    uint64_t size;         /* bytes of the layer blobs and config as imported */
    images_config_t config;
} images_image_t;

void images_image_free(images_image_t *img);
void images_image_list_free(images_image_t **imgs, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* The store: <data-dir>/agent/images-store. Safe against kill -9 at any point: an image is
 * visible only after its layers and blobs are complete. Mutations take an flock, so the CLI
 * and a running kubelet may share a store. */

typedef struct images_store images_store_t;

typedef struct images_limits {
    uint64_t max_layer_bytes;   /* uncompressed bytes per layer */
    uint64_t max_entries;       /* tar entries per layer */
    uint64_t max_archive_bytes; /* an imported tarball after decompression */
    bool allow_devices;         /* create device nodes (char/block) from layers */
} images_limits_t;

/* Defaults: 8 GiB per layer, 1 Mi entries, 32 GiB archives, device nodes when running as
 * root. */
void images_limits_default(images_limits_t *limits);

int images_store_open(const char *data_dir, const images_limits_t *limits,
                      images_store_t **ret_store, util_error_t *err);
images_store_t *images_store_close(images_store_t *store);
/* The store's root directory. */
const char *images_store_root(const images_store_t *store);

/* Progress of an import: bytes of the file consumed so far out of total. */
typedef void (*images_progress_fn)(void *userdata, const char *file, uint64_t done, uint64_t total);

/* Imports every image of a docker-archive or OCI layout tarball (gzip or plain). The names
 * the imported images carry are appended to ret_names when it is not NULL. */
int images_import_file(images_store_t *store, const char *path, images_progress_fn progress,
                       void *userdata, util_strv_t *ret_names, util_error_t *err);

/* Imports every *.tar / *.tar.gz / *.tgz in dir whose sha256 is not already recorded (the
 * kubelet calls this at start with <data-dir>/agent/images). A file that fails is reported
 * in ret_failed as "file: message" and does not stop the others. Returns the number of files
 * imported. A missing dir is no error. */
int images_import_dir(images_store_t *store, const char *dir, util_strv_t *ret_failed,
                      util_error_t *err);

/* Pulls from a registry (distribution API v2 over HTTPS; bearer-token or basic auth; an
 * index picks this machine's platform). Blobs are verified like imports. ret_id (optional)
 * gets the image ID. Errors carry the registry's message: -ENOENT when the registry does not
 * have the image, -EACCES when it refuses the credentials. */
typedef struct images_pull_opts {
    const char *username, *password; /* credentials (an imagePullSecret), or NULL */
    const char *ca_file;             /* PEM bundle trusted for the registry; NULL: the system's */
    bool plain_http;                 /* http:// (an insecure registry) */
} images_pull_opts_t;

int images_pull(images_store_t *store, const char *ref, const images_pull_opts_t *opts,
                images_progress_fn progress, void *userdata, char **ret_id, util_error_t *err);

int images_list(images_store_t *store, images_image_t ***ret_images, size_t *ret_n,
                util_error_t *err);
/* Finds an image by reference ("busybox", "docker.io/library/busybox:latest",
 * "name@sha256:..."), by full ID or by an unambiguous ID prefix of at least 4 hex digits.
 * -ENOENT when absent. */
int images_get(images_store_t *store, const char *ref, images_image_t **ret_image,
               util_error_t *err);
/* Removes a reference; the image goes when its last name goes (or when ref is its ID), and
 * layers and blobs no image uses any more are deleted. */
int images_remove(images_store_t *store, const char *ref, util_error_t *err);
/* Deletes unreferenced layers and blobs and leftovers of interrupted imports. */
int images_gc(images_store_t *store, util_error_t *err);
/* The unpacked directory of a layer (an overlayfs lowerdir) by its diffID. */
int images_layer_path(const images_store_t *store, const char *diff_id, char *buf, size_t len,
                      util_error_t *err);

/* This machine's platform in OCI terms ("amd64", "arm64", "arm" + variant "v7"). */
const char *images_platform_arch(void);
const char *images_platform_variant(void);

#endif
