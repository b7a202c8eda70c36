/* labels: Kubernetes label selectors, field selectors and label key/value validation. */
#ifndef KUBELING_LABELS_H
#define KUBELING_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "util/util.h"

/* Semantics follow k8s.io/apimachinery: pkg/labels/selector.go (Parse) for label selectors,
 * pkg/fields/selector.go (ParseSelector) for field selectors and
 * pkg/api/validate/content/kube.go for label keys and values. Error messages are upstream's
 * (e.g. "unable to parse requirement: <nil>: Invalid value: ...").
 *
 * Everything parsed here comes from URLs: inputs are bounded and parsing never crashes. Both
 * parsers return -EINVAL with a message in *err for a bad selector. */

#define LABELS_MAX_SELECTOR_LEN   65536 /* bytes of selector text */
#define LABELS_MAX_REQUIREMENTS   1024  /* comma-separated requirements in one selector */
#define LABELS_KEY_NAME_MAX_LEN   63
#define LABELS_KEY_PREFIX_MAX_LEN 253
#define LABELS_VALUE_MAX_LEN      63

/* ------------------------------------------------------------------------------------------ */
/* Label keys and values. */

/* A key is [DNS-1123 subdomain '/'] name; name is 1..63 of [-A-Za-z0-9_.] with alphanumeric
 * ends. A value is empty or like a name. */
bool labels_valid_key(const char *key);
bool labels_valid_value(const char *value);
/* Upstream's explanation of why key/value is invalid ("; "-joined, as IsLabelKey and
 * IsLabelValue), malloc'd; NULL when it is valid. For the registry's metadata validation. */
char *labels_key_problems(const char *key);
char *labels_value_problems(const char *value);

/* ------------------------------------------------------------------------------------------ */
/* Label selectors: "a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1,m<2". */

typedef struct labels_selector labels_selector_t;

typedef enum {
    LABELS_OP_IN,
    LABELS_OP_NOT_IN,
    LABELS_OP_EQUALS,         /* "=" */
    LABELS_OP_DOUBLE_EQUALS,  /* "==" */
    LABELS_OP_NOT_EQUALS,     /* "!=" */
    LABELS_OP_EXISTS,         /* "key" */
    LABELS_OP_DOES_NOT_EXIST, /* "!key" */
    LABELS_OP_GREATER_THAN,
    LABELS_OP_LESS_THAN,
} labels_op_t;

/* Parses text (NULL or "" selects everything). Requirements are sorted by key and each one's
 * values are sorted and deduplicated, as upstream does. */
int labels_selector_parse(const char *text, labels_selector_t **ret, util_error_t *err);
/* True when every requirement holds for labels (a JSON object of strings, or NULL for no
 * labels). `!=` and `notin` hold when the key is absent; `>`/`<` need an integer value.
 * A non-string value counts as present but equal to nothing. */
bool labels_selector_matches(const labels_selector_t *s, const cJSON *labels);
/* Same, for an object's metadata.labels. */
bool labels_selector_matches_object(const labels_selector_t *s, const cJSON *obj);
/* True when the selector has no requirements (selects everything); NULL is empty. */
bool labels_selector_empty(const labels_selector_t *s);
/* Upstream's String(): canonical text ("a in (x,y),b!=c,!d"), malloc'd. */
char *labels_selector_string(const labels_selector_t *s);
/* Introspection: requirement i's key, operator, and values (sorted). */
size_t labels_selector_count(const labels_selector_t *s);
const char *labels_selector_key(const labels_selector_t *s, size_t i);
labels_op_t labels_selector_op(const labels_selector_t *s, size_t i);
size_t labels_selector_nvalues(const labels_selector_t *s, size_t i);
const char *labels_selector_value(const labels_selector_t *s, size_t i, size_t j);
/* NULL-safe; returns NULL. */
labels_selector_t *labels_selector_free(labels_selector_t *s);
/* A metav1.LabelSelector object ({matchLabels, matchExpressions} with In, NotIn, Exists,
 * DoesNotExist) as a selector, with upstream's errors. JSON null or absent gives *ret NULL
 * (callers decide what "no selector" means); {} selects everything. */
int labels_selector_from_json(const cJSON *sel, labels_selector_t **ret, util_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Field selectors: "metadata.name=x,spec.nodeName!=n1"; values escape '\,', '\=', '\\'. */

typedef struct labels_fields labels_fields_t;

/* Returns the string value of field for obj, or NULL when obj has no such field or the field
 * is not supported (NULL compares like "", as upstream's Fields.Get does). */
typedef const char *(*labels_field_getter)(const cJSON *obj, const char *field, void *ud);

/* Parses text (NULL or "" selects everything). Terms are sorted by their text; terms with
 * both an empty field and an empty value are dropped. Field names are not checked here. */
int labels_fields_parse(const char *text, labels_fields_t **ret, util_error_t *err);
bool labels_fields_matches(const labels_fields_t *f, const cJSON *obj, labels_field_getter get,
                           void *ud);
bool labels_fields_empty(const labels_fields_t *f);
size_t labels_fields_count(const labels_fields_t *f);
const char *labels_fields_field(const labels_fields_t *f, size_t i);
const char *labels_fields_value(const labels_fields_t *f, size_t i); /* unescaped */
bool labels_fields_negated(const labels_fields_t *f, size_t i);      /* "!=" */
/* The value an "="/"==" term requires for field, or NULL (upstream RequiresExactMatch). */
const char *labels_fields_exact(const labels_fields_t *f, const char *field);
/* Fails with upstream's "field label not supported: <name>" for the first field that is not
 * in supported (a NULL-terminated list). */
int labels_fields_check_supported(const labels_fields_t *f, const char *const *supported,
                                  util_error_t *err);
/* Upstream's String(): "a=b,c!=d" with values escaped, malloc'd. */
char *labels_fields_string(const labels_fields_t *f);
labels_fields_t *labels_fields_free(labels_fields_t *f);

#endif
