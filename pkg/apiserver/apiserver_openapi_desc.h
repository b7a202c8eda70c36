/* apiserver_openapi_desc: upstream's descriptions that k8s_schema lacks (a kind's own text,
 * which `kubectl explain` prints first, and fields whose type is another object), for the
 * served kinds, their Lists and the types one level below (apiserver_openapi_desc_gen.c). */
#ifndef KUBELING_APISERVER_OPENAPI_DESC_H
#define KUBELING_APISERVER_OPENAPI_DESC_H

typedef struct apiserver_openapi_desc {
    const char *type;  /* k8s_schema's class name, e.g. "V1Pod" */
    const char *field; /* a JSON field name, or "" for the type itself */
    const char *text;
} apiserver_openapi_desc_t;

/* Sorted by type, then field (strcmp order). */
extern const apiserver_openapi_desc_t apiserver_openapi__descs[];
extern const unsigned apiserver_openapi__ndescs;

/* The description of type's field (field "" or NULL: of the type), or NULL. */
const char *apiserver_openapi__description(const char *type, const char *field);

#endif
