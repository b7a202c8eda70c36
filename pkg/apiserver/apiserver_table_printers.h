/* apiserver_table_printers: per-resource Table columns and cells (internal to the Table
 * module), after kubernetes/pkg/printers/internalversion/printers.go with Wide set, as the
 * apiserver's table convertor always generates. */
#ifndef KUBELING_APISERVER_TABLE_PRINTERS_H
#define KUBELING_APISERVER_TABLE_PRINTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util/util.h"

typedef struct apiserver_table_column {
    const char *name;
    const char *type;   /* "string", "integer", "boolean", "date" */
    const char *format; /* "name" for the Name column, else "" */
    const char *description;
    int priority; /* 0: shown by default; 1: only with -o wide */
} apiserver_table_column_t;

/* Appends the row's cells to cells; may add "conditions" to row (pods). now: Unix seconds. */
typedef void (*apiserver_table_cells_fn)(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now);

typedef struct apiserver_table_printer {
    const char *group;
    const char *plural;
    const apiserver_table_column_t *columns;
    size_t ncolumns;
    apiserver_table_cells_fn cells;
} apiserver_table_printer_t;

/* The printer for group/plural, or the generic Name/Age one; never NULL. */
const apiserver_table_printer_t *apiserver_table__printer(const char *group, const char *plural);

/* The workload kinds' printers (apiserver_table_workloads.c). */
extern const apiserver_table_printer_t apiserver_table__workload_printers[];
extern const size_t apiserver_table__nworkload_printers;
/* Events, nodes, PriorityClasses, CRDs (apiserver_table_cluster.c). */
extern const apiserver_table_printer_t apiserver_table__cluster_printers[];
extern const size_t apiserver_table__ncluster_printers;
/* HorizontalPodAutoscalers, ResourceQuotas, LimitRanges (apiserver_table_policy.c). */
extern const apiserver_table_printer_t apiserver_table__policy_printers[];
extern const size_t apiserver_table__npolicy_printers;

/* Cell helpers shared by the printer files. */
bool apiserver_table__condition_true(const cJSON *conditions, const char *type);
const char *apiserver_table__str_at(const cJSON *obj, const char *path);
int64_t apiserver_table__int_at(const cJSON *obj, const char *path, int64_t def);
bool apiserver_table__true_at(const cJSON *obj, const char *path);
int64_t apiserver_table__count_at(const cJSON *obj, const char *path);
void apiserver_table__add_str(cJSON *cells, const char *s);
void apiserver_table__add_str_or(cJSON *cells, const char *s, const char *dflt);
void apiserver_table__add_int(cJSON *cells, int64_t v);
void apiserver_table__since(char *buf, size_t n, const char *ts, int64_t now);
void apiserver_table__add_since(cJSON *cells, const char *ts, int64_t now);
void apiserver_table__add_age(cJSON *cells, const cJSON *obj, int64_t now);
void apiserver_table__add_name(cJSON *cells, const cJSON *obj);
void apiserver_table__add_buf(cJSON *cells, util_buf_t *b);
void apiserver_table__add_ratio(cJSON *cells, int64_t a, int64_t b);
void apiserver_table__sep(util_buf_t *b, const char *s);
void apiserver_table__add_containers(cJSON *cells, const cJSON *pod_spec);
int apiserver_table__cmp_str(const void *a, const void *b);
void apiserver_table__add_sorted(cJSON *cells, char **v, size_t n, const char *dflt);
void apiserver_table__add_labels(cJSON *cells, const cJSON *map);
char *apiserver_table__join_values(const cJSON *values);
char *apiserver_table__requirement(const cJSON *expr);
void apiserver_table__add_selector(cJSON *cells, const cJSON *sel);

/* Column definitions shared by the printer files. */
/* ------------------------------------------------------------------------------------------ */
/* Cell helpers. */

#define DESC_NAME                                                                               \
    "Name must be unique within a namespace. It is required when creating resources, although " \
    "some resources may allow a client to request the generation of an appropriate name "       \
    "automatically. Name is primarily intended for creation idempotence and configuration "     \
    "definition. Cannot be updated. More info: "                                                \
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
#define DESC_AGE                                                                               \
    "CreationTimestamp is a timestamp representing the server time when this object was "      \
    "created. It is not guaranteed to be set in happens-before order across separate "         \
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in " \
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "                  \
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"                        \
    "api-conventions.md#metadata"
#define DESC_CONTAINERS "Names of each container in the template."
#define DESC_IMAGES     "Images referenced by each container in the template."

#define COL_NAME                               \
    {                                          \
        "Name", "string", "name", DESC_NAME, 0 \
    }
#define COL_AGE                          \
    {                                    \
        "Age", "string", "", DESC_AGE, 0 \
    }
#define COL_CONTAINERS                                 \
    {                                                  \
        "Containers", "string", "", DESC_CONTAINERS, 1 \
    }
#define COL_IMAGES                             \
    {                                          \
        "Images", "string", "", DESC_IMAGES, 1 \
    }
#define COL_SELECTOR(desc)                \
    {                                     \
        "Selector", "string", "", desc, 1 \
    }

/* Helpers shared with apiserver_table.c. */

/* Follows a '.'-separated path of object keys; NULL if any step is missing. */
const cJSON *apiserver_table__get(const cJSON *obj, const char *path);
/* Parses an RFC 3339 timestamp (optional fraction, Z or +hh:mm) to Unix seconds. */
bool apiserver_table__parse_time(const char *s, int64_t *ret);

#endif
