/* apiserver_openapi_desc: lookups in the generated description table. */
#include "apiserver_openapi_desc.h"

#include <stdlib.h>
#include <string.h>

static int compare(const void *key, const void *elem)
{
    const apiserver_openapi_desc_t *k = key, *e = elem;
    int c = strcmp(k->type, e->type);
    return c ? c : strcmp(k->field, e->field);
}

const char *apiserver_openapi__description(const char *type, const char *field)
{
    if (!type)
        return NULL;
    apiserver_openapi_desc_t key = {.type = type, .field = field ? field : ""};
    const apiserver_openapi_desc_t *d =
        bsearch(&key, apiserver_openapi__descs, apiserver_openapi__ndescs,
                sizeof(apiserver_openapi__descs[0]), compare);
    return d ? d->text : NULL;
}
