/* k8s_schema: the Kubernetes API type schemas (every model type's fields: JSON name, value
 * type, nested type, list/map, required, description), generated at sysroot build time from
 * Debian's python3-kubernetes by third_party/k8s-schema/gen-k8s-schema.py into
 * libk8sschema.a. Used for OpenAPI documents, fieldValidation=Strict and pruning.
 *
 * Types are the python client's model classes, named as it names them ("V1Pod",
 * "V1ObjectMeta", "CoreV1Event"). The top-level kinds (those with a REST resource, and their
 * Lists) are also found by group, version and kind. Field descriptions live in a separate
 * object of the archive: a binary that never calls k8s_schema_field_description() does not
 * link them. */
#ifndef KUBELING_K8S_SCHEMA_H
#define KUBELING_K8S_SCHEMA_H

/* The value type of a field (of its elements when list, of its values when map). */
typedef enum k8s_type {
    K8S_T_STRING, /* also Quantity, base64 bytes, enums */
    K8S_T_INT,
    K8S_T_BOOL,
    K8S_T_NUMBER,
    K8S_T_TIME,   /* RFC 3339 string (Time, MicroTime) */
    K8S_T_OBJECT, /* the model type k8s_schema_type(ref) */
    K8S_T_ANY,    /* IntOrString, RawExtension, JSON, free-form objects: anything */
} k8s_type_t;

typedef struct k8s_field {
    const char *json; /* the JSON member name */
    k8s_type_t type;
    unsigned char list;     /* a JSON array of `type` */
    unsigned char map;      /* a JSON object of string to `type` (to arrays of it when list) */
    unsigned char required; /* the API requires the member */
    int ref;                /* the model type for K8S_T_OBJECT, else -1 */
} k8s_field_t;

/* A model type: its fields sorted by JSON name (strcmp order). */
typedef struct k8s_kind {
    const char *name; /* the python client's class name, e.g. "V1Pod" */
    const k8s_field_t *fields;
    unsigned nfields;
} k8s_kind_t;

/* A top-level kind: group/version/kind and, when it is a REST resource (not a List), the
 * resource name and whether it is namespaced. */
typedef struct k8s_gvk {
    const char *group; /* "" for the core group */
    const char *version;
    const char *kind;
    const char *resource; /* plural resource name, or NULL for a List kind */
    unsigned char namespaced;
    int type; /* k8s_schema_type(type) is its model type */
} k8s_gvk_t;

/* The Kubernetes release the schemas come from, e.g. "release-1.35". */
extern const char k8s_schema_api_version[];

/* The model type of a top-level kind (group NULL or "" for core), or NULL. */
const k8s_kind_t *k8s_schema_find(const char *group, const char *version, const char *kind);

/* The top-level kind entry for group/version/kind, or NULL. */
const k8s_gvk_t *k8s_schema_gvk(const char *group, const char *version, const char *kind);

/* Every top-level kind, sorted by group, version, kind: index 0 .. k8s_schema_ngvks() - 1. */
unsigned k8s_schema_ngvks(void);
const k8s_gvk_t *k8s_schema_gvk_at(unsigned i);

/* Model type by index (a field's ref), or NULL when out of range. */
const k8s_kind_t *k8s_schema_type(int ref);
unsigned k8s_schema_ntypes(void);
/* The index of a model type (its ref). */
int k8s_schema_type_index(const k8s_kind_t *t);
/* Model type by python class name ("V1PodSpec"), or NULL. */
const k8s_kind_t *k8s_schema_type_by_name(const char *name);

/* A field of a model type by JSON name, or NULL. */
const k8s_field_t *k8s_schema_field(const k8s_kind_t *t, const char *json);

/* The field's description (kubectl explain), or NULL when it has none. */
const char *k8s_schema_field_description(const k8s_field_t *f);

/* Internal: the generated tables. */
extern const k8s_kind_t k8s_schema_types_[];
extern const unsigned k8s_schema_ntypes_;
extern const k8s_gvk_t k8s_schema_gvks_[];
extern const unsigned k8s_schema_ngvks_;
extern const k8s_field_t *const k8s_schema_fields_;

#endif
