/* client: an asynchronous Kubernetes API client on libuv (HTTPS with mbedTLS, llhttp, cJSON).
 *
 * Every call is non-blocking and answers through a callback on the loop. Requests share a small
 * pool of keep-alive TLS connections; each watch has a connection of its own. Inside
 * `kubeling server` the scheduler, controller manager and kubelet use the in-process transport
 * instead (client_config_t.connect: plain HTTP/1.1 over a socketpair, no TLS). See
 * docs/client.md. */
#ifndef KUBELING_CLIENT_H
#define KUBELING_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "util/util.h"

/* ---- configuration (kubeconfig) --------------------------------------------------------- */

#define CLIENT_KUBECONFIG_MAX (1u << 20) /* bytes; larger files are refused */

typedef struct client_config {
    char *server;   /* https://host[:port] as given */
    char *host;     /* host name or IP literal (no brackets) */
    int port;       /* 443 unless given */
    char *ca_pem;   /* cluster CA (PEM, NUL-terminated), or NULL: system trust is not used */
    char *cert_pem; /* client certificate and key (PEM), or NULL */
    char *key_pem;
    char *token;   /* bearer token, or NULL */
    bool insecure; /* insecure-skip-tls-verify: the server is not verified (refused unless set) */
    /* A transport of the caller's instead of TCP and TLS (in `kubeling server`:
     * apiserver_inproc_connect, the in-process transport): returns in *ret_fd a connected stream
     * socket carrying plain HTTP/1.1 to an apiserver that has already authenticated it, or a
     * negative errno. Then no CA is needed and certificates and token are not sent; host and
     * port only name the server in Host. NULL: https to host:port. Not from kubeconfigs. */
    int (*connect)(void *ud, int *ret_fd);
    void *connect_ud;
} client_config_t;

/* Parses kubeconfig text (the YAML subset kubeconfigs use, or JSON): the current context's
 * cluster and user. Relative file references (certificate-authority, client-certificate,
 * client-key, tokenFile) are resolved against base_dir (NULL: refused). Untrusted input:
 * bounded size, depth and line count; errors name the line. */
int client_config_parse(const char *text, size_t len, const char *base_dir, client_config_t *ret,
                        util_error_t *err);
/* Reads and parses a kubeconfig file. */
int client_config_load(const char *path, client_config_t *ret, util_error_t *err);
void client_config_free(client_config_t *c);
/* Splits an https URL into host and port (IPv6 in brackets); other schemes and paths are
 * refused. host_len bounds the host buffer. */
int client_parse_url(const char *url, char *host, size_t host_len, int *ret_port,
                     util_error_t *err);

/* Parses the generic YAML subset (block mappings and sequences, plain and quoted scalars,
 * empty flow collections, comments; JSON when the text starts with '{') into a cJSON tree of
 * objects, arrays and strings. Exposed for tests. */
int client_yaml_parse(const char *text, size_t len, cJSON **ret, util_error_t *err);
#define CLIENT_YAML_TYPED     1u /* plain scalars: null, true/false, numbers (YAML's core schema) */
#define CLIENT_YAML_FIRST_DOC 2u /* only the first document of a `---` separated stream */
int client_yaml_parse_opts(const char *text, size_t len, unsigned flags, cJSON **ret,
                           util_error_t *err);

/* ---- paths ---------------------------------------------------------------------------- */

typedef struct client_resource {
    const char *group; /* "" for core */
    const char *version;
    const char *plural;
    bool namespaced;
} client_resource_t;

extern const client_resource_t CLIENT_RES_NODES;
extern const client_resource_t CLIENT_RES_LEASES;
extern const client_resource_t CLIENT_RES_PODS;
extern const client_resource_t CLIENT_RES_NAMESPACES;

/* /api/v1/namespaces/NS/pods/NAME/SUB or /apis/G/V/...; ns, name and sub may be NULL.
 * Segments are percent-escaped. Returns -EINVAL for a namespaced resource without ns when a
 * name is given, or for empty segments. */
int client_path(util_buf_t *b, const client_resource_t *r, const char *ns, const char *name,
                const char *sub);
/* Appends "?k=v" or "&k=v" with the value percent-escaped (NULL or "" values are skipped). */
void client_query_add(util_buf_t *b, const char *key, const char *value);

/* ---- results -------------------------------------------------------------------------- */

/* A decoded Kubernetes Status (or a synthetic one for non-Status error bodies). */
typedef struct client_status {
    int code;      /* HTTP code from the Status, else the response's */
    char *reason;  /* "NotFound", "AlreadyExists", "Conflict", "Expired", ... */
    char *message; /* bounded */
} client_status_t;

/* Decodes an error body: a Status object's code/reason/message, otherwise upstream's reason
 * for the HTTP code and the body text (truncated) as message. */
void client_status_decode(const char *body, size_t len, int http_status, client_status_t *ret);
void client_status_free(client_status_t *s);
/* Upstream's StatusReason for an HTTP code without a Status body. */
const char *client_reason_for_code(int http_status);

typedef struct client_result {
    int status;         /* HTTP status, 0 when no answer came (see error) */
    int error;          /* negative errno of a transport failure, else 0 */
    cJSON *body;        /* the JSON answer (success or Status); owned by the result */
    client_status_t st; /* filled when status is not 2xx or error is set */
} client_result_t;

/* Called once per request unless it was cancelled. The callback may take res->body (set it to
 * NULL); everything else is released after it returns. */
typedef void (*client_cb)(void *ud, client_result_t *res);

/* ---- the client ----------------------------------------------------------------------- */

typedef struct client client_t;
typedef struct client_req client_req_t;

typedef struct client_opts {
    uv_loop_t *loop;
    const client_config_t *config; /* copied */
    const char *user_agent;        /* "kubeling-kubelet/0.1.0"; also the fieldManager default */
    unsigned max_conns;            /* keep-alive connections for requests (default 4) */
    uint64_t request_timeout_ms;   /* a request's answer (default 30 s) */
    size_t max_response_bytes;     /* per response or watch line (default 64 MiB) */
} client_opts_t;

void client_opts_default(client_opts_t *o);
int client_new(const client_opts_t *o, client_t **ret, util_error_t *err);
/* Cancels every request and watch (their callbacks are not called) and closes connections;
 * memory is released once the loop has run the close callbacks. */
void client_close(client_t *c);

/* A raw request: method, path with query, optional body. Returns a handle valid until the
 * callback runs or client_req_cancel is called. */
client_req_t *client_request(client_t *c, const char *method, const char *path,
                             const char *content_type, const char *body, size_t len, client_cb cb,
                             void *ud);
/* The callback will not be called; the connection carrying the request is closed. */
void client_req_cancel(client_req_t *r);

client_req_t *client_get(client_t *c, const client_resource_t *r, const char *ns, const char *name,
                         client_cb cb, void *ud);
/* query: "labelSelector=...&limit=..." (already escaped) or NULL. */
client_req_t *client_list(client_t *c, const client_resource_t *r, const char *ns,
                          const char *query, client_cb cb, void *ud);
client_req_t *client_create(client_t *c, const client_resource_t *r, const char *ns,
                            const cJSON *obj, client_cb cb, void *ud);
/* PUT of obj (its metadata.name and, when namespaced, metadata.namespace name the target);
 * sub: NULL or "status". */
client_req_t *client_update(client_t *c, const client_resource_t *r, const char *sub,
                            const cJSON *obj, client_cb cb, void *ud);

typedef enum {
    CLIENT_PATCH_MERGE,     /* application/merge-patch+json */
    CLIENT_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
    CLIENT_PATCH_JSON,      /* application/json-patch+json */
    CLIENT_PATCH_APPLY,     /* application/apply-patch+yaml (JSON body), force=true */
} client_patch_t;

client_req_t *client_patch(client_t *c, const client_resource_t *r, const char *ns,
                           const char *name, const char *sub, client_patch_t type,
                           const cJSON *patch, client_cb cb, void *ud);
client_req_t *client_delete(client_t *c, const client_resource_t *r, const char *ns,
                            const char *name, client_cb cb, void *ud);

/* ---- watch streams -------------------------------------------------------------------- */

/* One event line: type "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR"; the callback
 * may take the object (set *obj to NULL). */
typedef void (*client_event_cb)(void *ud, const char *type, cJSON **obj);
/* The stream ended: res->status 200 for a normal end (server timeout or close), the error
 * answer otherwise (410 Expired, ...), or res->error for transport failures. */
typedef void (*client_watch_end_cb)(void *ud, client_result_t *res);

client_req_t *client_watch(client_t *c, const char *path, client_event_cb on_event,
                           client_watch_end_cb on_end, void *ud);

/* Splits a chunk of a watch stream into lines: calls on_line for each complete line (without
 * the newline, skipping empty ones); keeps the rest in *pending. Returns -EMSGSIZE when a line
 * exceeds max (the stream must then be dropped). Exposed for tests. */
int client_split_lines(util_buf_t *pending, const char *data, size_t len, size_t max,
                       void (*on_line)(void *ud, const char *line, size_t len), void *ud);

/* ---- back-off ------------------------------------------------------------------------- */

typedef struct client_backoff {
    uint64_t min_ms, max_ms, cur_ms;
} client_backoff_t;

void client_backoff_init(client_backoff_t *b, uint64_t min_ms, uint64_t max_ms);
/* The next delay (doubling up to max, with up to 20% jitter). */
uint64_t client_backoff_next(client_backoff_t *b);
void client_backoff_reset(client_backoff_t *b);

/* ---- informers ------------------------------------------------------------------------ */

/* List then watch with a local cache keyed by namespace/name: re-lists on 410 Gone, resumes
 * watches from the last resourceVersion (bookmarks included), reconnects with back-off. */
typedef struct client_informer client_informer_t;

typedef struct client_informer_handlers {
    void (*on_add)(void *ud, const cJSON *obj);
    void (*on_update)(void *ud, const cJSON *old, const cJSON *obj);
    void (*on_delete)(void *ud, const cJSON *obj);
    void (*on_synced)(void *ud); /* after each complete (re)list */
    /* Instead of the three above, one callback for all changes: old is the previous object of
     * an update (else NULL), deleted is true for a deletion. */
    void (*on_event)(void *ud, const cJSON *old, const cJSON *obj, bool deleted);
} client_informer_handlers_t;

typedef struct client_informer_opts {
    const client_resource_t *resource;
    const char *ns;             /* NULL: all namespaces */
    const char *label_selector; /* NULL: none */
    const char *field_selector;
    uint64_t backoff_min_ms, backoff_max_ms; /* default 200 ms .. 10 s */
    /* Applied (with the handlers' ud) to every object before it is cached and handed to the
     * handlers, like client-go's SetTransform: drop what the handlers never read, to keep the
     * cache small. It must keep metadata.name, namespace and resourceVersion. NULL: none. */
    void (*transform)(void *ud, cJSON *obj);
} client_informer_opts_t;

/* Removes metadata.managedFields (client-go's TransformStripManagedFields): no controller reads
 * it, and an update without it keeps the stored one. Fits client_informer_opts_t.transform. */
void client_strip_managed_fields(void *ud, cJSON *obj);

int client_informer_start(client_t *c, const client_informer_opts_t *o,
                          const client_informer_handlers_t *h, void *ud, client_informer_t **ret,
                          util_error_t *err);
/* The cached object or NULL (ns NULL or "" for cluster-scoped). Valid until the next event. */
const cJSON *client_informer_get(const client_informer_t *inf, const char *ns, const char *name);
size_t client_informer_count(const client_informer_t *inf);
/* Calls fn for every cached object (in no particular order); fn must not change the cache. */
void client_informer_foreach(const client_informer_t *inf, void (*fn)(void *ud, const cJSON *obj),
                             void *ud);
bool client_informer_synced(const client_informer_t *inf);
/* Stops the informer; callbacks stop at once. */
void client_informer_stop(client_informer_t *inf);

/* ---- events (client_event.c) ---------------------------------------------------------- */

/* The object an event is about (core/v1 ObjectReference). field_path: e.g.
 * "spec.containers{web}" for a container of a pod, or NULL. */
typedef struct client_event_ref {
    const char *kind, *api_version, *ns, *name, *uid, *resource_version, *field_path;
} client_event_ref_t;

typedef struct client_event_spec {
    client_event_ref_t obj;
    const char *type;                /* "Normal" or "Warning" */
    const char *reason, *message;    /* message is cut at 1 KiB, as upstream */
    const char *component, *host;    /* source.component (e.g. "kubelet"), source.host */
    const char *reporting_component; /* NULL: component */
    const char *reporting_instance;  /* NULL: host */
    const char *action;              /* NULL: left out */
    const char *name;                /* NULL: <object name>.<hex nanoseconds>, as upstream */
    const char *namespace_;          /* NULL: obj.ns, else "default" */
    const char *first_timestamp, *last_timestamp; /* RFC 3339; NULL: now */
    int count;                                    /* 0: 1 */
} client_event_spec_t;

/* A core/v1 Event (apiVersion, kind, metadata, involvedObject, reason, message, source,
 * reportingComponent/Instance, first/lastTimestamp, count, type, eventTime null). */
cJSON *client_event_build(const client_event_spec_t *e);

/* A recorder writes events like upstream's EventRecorder with its correlator: an event equal
 * to one written before (same object, field path, type, reason and message) bumps that
 * event's count and lastTimestamp with a merge patch instead of creating a new one, and a
 * token bucket per involved object (burst 25, one more every 5 minutes) drops the rest, so a
 * crash loop or a failing probe never writes in a tight loop. Patches of one event are never
 * in flight twice: repeats meanwhile are folded into the next patch. */
typedef struct client_recorder client_recorder_t;

client_recorder_t *client_recorder_new(client_t *c, const char *component, const char *host);
void client_recorder_eventf(client_recorder_t *r, const client_event_ref_t *obj, const char *type,
                            const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Cancels what is in flight; NULL is fine. */
void client_recorder_free(client_recorder_t *r);
/* Events written (created or patched) and dropped by the spam filter, for tests. */
void client_recorder_counts(const client_recorder_t *r, uint64_t *ret_written,
                            uint64_t *ret_dropped);

#endif
