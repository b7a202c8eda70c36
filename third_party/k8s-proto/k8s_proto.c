/* k8s_proto: lookups over the generated tables. */
#include "k8s_proto.h"

#include <string.h>

const k8s_proto_message_t *k8s_proto_find_kind(const char *api_version, const char *kind)
{
    for (unsigned i = 0; i < k8s_proto_kind_count; i++) {
        const k8s_proto_kind_t *k = &k8s_proto_kinds[i];
        if (!strcmp(k->kind, kind) && !strcmp(k->api_version, api_version))
            return &k8s_proto_messages[k->message];
    }
    return NULL;
}

const k8s_proto_field_t *k8s_proto_find_field(const k8s_proto_message_t *msg, uint32_t number)
{
    unsigned lo = 0, hi = msg->count;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const k8s_proto_field_t *f = &k8s_proto_fields[msg->first + mid];
        if (f->number == number)
            return f;
        if (f->number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
