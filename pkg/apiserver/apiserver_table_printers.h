/* apiserver_table_printers: per-resource Table columns and cells (internal to the Table
 * module), after kubernetes/pkg/printers/internalversion/printers.go with Wide set, as the
 * apiserver's table convertor always generates. */
#ifndef KUBELING_APISERVER_TABLE_PRINTERS_H
#define KUBELING_APISERVER_TABLE_PRINTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

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

/* Helpers shared with apiserver_table.c. */

/* Follows a '.'-separated path of object keys; NULL if any step is missing. */
const cJSON *apiserver_table__get(const cJSON *obj, const char *path);
/* Parses an RFC 3339 timestamp (optional fraction, Z or +hh:mm) to Unix seconds. */
bool apiserver_table__parse_time(const char *s, int64_t *ret);

#endif
