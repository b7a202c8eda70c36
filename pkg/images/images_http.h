/* images_http: the blocking HTTP/1.1 client registry pulls use (internal to pkg/images). */
#ifndef KUBELING_IMAGES_HTTP_H
#define KUBELING_IMAGES_HTTP_H

#include "images_internal.h"

typedef struct images_url {
    bool tls;
    char host[256];
    char port[8];
    char path[4096]; /* with the query */
} images_url_t;

int images_url_parse(const char *url, images_url_t *ret, util_error_t *err);

typedef struct images_http_req {
    const char *url;
    const char *const *headers; /* "Name: value", NULL-terminated, or NULL */
    const char *ca_file;        /* NULL: the system bundle */
    const char *cert_file;      /* client certificate (PEM), with key_file; or NULL */
    const char *key_file;
    bool insecure; /* TLS without verifying the server (insecure_skip_verify) */
    int body_fd;   /* >= 0: a 2xx body is written here; else kept in memory */
    uint64_t max_body;
} images_http_req_t;

typedef struct images_http_resp {
    int status;
    util_buf_t body; /* in memory (error bodies always, up to 64 KiB) */
    uint64_t body_len;
    char *www_authenticate, *location, *content_type;
} images_http_resp_t;

int images_http_get(const images_http_req_t *req, images_http_resp_t *resp, util_error_t *err);
void images_http_resp_free(images_http_resp_t *resp);

/* The value of key="value" in a WWW-Authenticate challenge (caller frees), or NULL. */
char *images_http_challenge_param(const char *challenge, const char *key);

#endif
