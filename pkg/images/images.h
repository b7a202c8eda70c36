/* images: the content-addressed image store, image references, and air-gapped import of
 * docker-archive and OCI image layout tarballs (docs/images.md). */
#ifndef KUBELING_IMAGES_H
#define KUBELING_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

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
typedef struct images_registries images_registries_t;

typedef struct images_pull_opts {
    const char *username, *password; /* credentials (an imagePullSecret), or NULL */
    const char *ca_file;             /* PEM bundle trusted for the registry; NULL: the system's */
    bool plain_http;                 /* http:// (an insecure registry) */
    /* registries.yaml: mirrors tried before the registry, per-host credentials and TLS (NULL:
     * none). A host's credentials there win over username/password for that host. */
    const images_registries_t *registries;
    /* Set (when not NULL) to whether the image under this name already came from the manifest
     * the registry names now: then only the manifest was fetched and nothing changed. */
    bool *ret_up_to_date;
} images_pull_opts_t;

int images_pull(images_store_t *store, const char *ref, const images_pull_opts_t *opts,
                images_progress_fn progress, void *userdata, char **ret_id, util_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Registry credentials from image pull secrets (images_auth.c), matched like upstream's
 * credentialprovider keyring: an entry "host[:port][/path]" (a scheme and a trailing /v1/ or
 * /v2/ are dropped) matches an image repository with the same port, the same number of host
 * labels each matching as a glob ("*.example.com"), and a path prefix; entries are tried most
 * specific first; "index.docker.io" entries serve Docker Hub images. */

typedef struct images_cred {
    char *username, *password;
} images_cred_t;

typedef struct images_keyring {
    struct images_keyring_entry *v;
    size_t n;
} images_keyring_t;

/* Adds the entries of a secret's payload: `.dockerconfigjson` ({"auths":{...}}, dockercfg
 * false) or `.dockercfg` (the map itself, dockercfg true). Each entry has "auth"
 * (base64 "user:password", which wins) or "username"/"password". The whole payload is refused
 * when it is not valid. */
int images_keyring_add(images_keyring_t *kr, const char *json, size_t len, bool dockercfg,
                       util_error_t *err);
/* The credentials for a repository ("docker.io/library/busybox", "host:5000/a/b"), most
 * specific first; *ret_n 0 when none match. The array is the caller's to free; its entries
 * point into kr. */
void images_keyring_lookup(const images_keyring_t *kr, const char *repository,
                           const images_cred_t ***ret, size_t *ret_n);
void images_keyring_clear(images_keyring_t *kr);
/* upstream's URLsMatchStr: does the schemeless glob "*.a.com:5000/p" match the target? */
bool images_url_glob_match(const char *glob, const char *target);

/* ------------------------------------------------------------------------------------------ */
/* registries.yaml (images_registries.c), k3s's format:
 *   mirrors:  {"docker.io": {endpoint: ["https://mirror:5000"], rewrite: {"^a/(.*)": "b/$1"}}}
 *   configs:  {"mirror:5000": {auth: {username, password, auth}, tls: {ca_file, cert_file,
 *              key_file, insecure_skip_verify}}}
 * A registry's mirrors (or those of "*") are tried in order, then the registry itself. */

/* Parses the document (already decoded from YAML into cJSON objects, arrays and strings). */
int images_registries_parse(const cJSON *doc, images_registries_t **ret, util_error_t *err);
void images_registries_free(images_registries_t *r);
/* Reads and parses a registries.yaml (at most 1 MiB). A missing file gives *ret NULL and 0
 * when missing_ok. */
int images_registries_load(const char *path, bool missing_ok, images_registries_t **ret,
                           util_error_t *err);

/* One place to pull from. */
typedef struct images_endpoint {
    char *base;     /* "https://host:port/v2" (or the endpoint's own path) */
    char *host;     /* "host:port" as configs keys it */
    char *path;     /* the repository path there (after rewrites) */
    bool is_mirror; /* false for the registry itself */
    const char *username, *password, *ca_file, *cert_file, *key_file; /* point into the config */
    bool insecure_skip_verify;
} images_endpoint_t;

/* The endpoints for a parsed reference, in the order they are tried (the last is the registry
 * itself at its API host, https unless plain_http). */
int images_registries_endpoints(const images_registries_t *r, const images_ref_t *ref,
                                bool plain_http, images_endpoint_t **ret, size_t *ret_n,
                                util_error_t *err);
void images_endpoints_free(images_endpoint_t *v, size_t n);

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
