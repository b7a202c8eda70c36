/* labels_object: metav1.LabelSelector objects ({matchLabels, matchExpressions}) as selectors,
 * with upstream's LabelSelectorAsSelector rules. */
#include "labels.h"

#include <errno.h>
#include <string.h>

/* Appends "key<op>value" pieces after checking every key and value, so the text we build can
 * only mean what the object says. */
static int put_key(util_buf_t *b, const char *key, util_error_t *err)
{
    if (!key || !labels_valid_key(key))
        return util_error_make(err, EINVAL, "invalid label key \"%s\"", key ? key : "");
    if (b->len)
        util_buf_puts(b, ",");
    util_buf_puts(b, key);
    return 0;
}

static int put_value(util_buf_t *b, const cJSON *v, util_error_t *err)
{
    if (!cJSON_IsString(v) || !labels_valid_value(v->valuestring))
        return util_error_make(err, EINVAL, "invalid label value \"%s\"",
                               cJSON_IsString(v) ? v->valuestring : "");
    util_buf_puts(b, v->valuestring);
    return 0;
}

static int put_expression(util_buf_t *b, const cJSON *e, util_error_t *err)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "key");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(e, "operator");
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(e, "values");
    const char *op = cJSON_IsString(o) ? o->valuestring : "";
    int n = cJSON_IsArray(vals) ? cJSON_GetArraySize(vals) : 0;
    bool set_op = !strcmp(op, "In") || !strcmp(op, "NotIn");
    bool exist_op = !strcmp(op, "Exists") || !strcmp(op, "DoesNotExist");
    if (!set_op && !exist_op)
        return util_error_make(err, EINVAL, "\"%s\" is not a valid label selector operator", op);
    if (set_op && n == 0)
        return util_error_make(err, EINVAL,
                               "values: Invalid value: []: for 'in', 'notin' operators, values "
                               "set can't be empty");
    if (exist_op && n > 0)
        return util_error_make(err, EINVAL,
                               "values: Invalid value: %d values: values set must be empty for "
                               "exists and does not exist",
                               n);
    if (!strcmp(op, "DoesNotExist")) {
        if (!cJSON_IsString(k) || !labels_valid_key(k->valuestring))
            return util_error_make(err, EINVAL, "invalid label key \"%s\"",
                                   cJSON_IsString(k) ? k->valuestring : "");
        if (b->len)
            util_buf_puts(b, ",");
        util_buf_puts(b, "!");
        util_buf_puts(b, k->valuestring);
        return 0;
    }
    int r = put_key(b, cJSON_IsString(k) ? k->valuestring : NULL, err);
    if (r < 0 || !set_op)
        return r;
    util_buf_puts(b, !strcmp(op, "In") ? " in (" : " notin (");
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, vals)
    {
        if (i++)
            util_buf_puts(b, ",");
        if ((r = put_value(b, v, err)) < 0)
            return r;
    }
    util_buf_puts(b, ")");
    return 0;
}

int labels_selector_from_json(const cJSON *sel, labels_selector_t **ret, util_error_t *err)
{
    *ret = NULL;
    if (!sel || cJSON_IsNull(sel))
        return 0;
    if (!cJSON_IsObject(sel))
        return util_error_make(err, EINVAL, "a label selector must be an object");
    util_buf_t b = {0};
    int r = 0;
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(sel, "matchExpressions");
    if (!cJSON_IsObject(ml))
        ml = NULL;
    if (!cJSON_IsArray(me))
        me = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, ml)
    {
        if ((r = put_key(&b, it->string, err)) < 0)
            break;
        util_buf_puts(&b, "=");
        if ((r = put_value(&b, it, err)) < 0)
            break;
    }
    if (r == 0) {
        cJSON_ArrayForEach(it, me)
        {
            if ((r = put_expression(&b, it, err)) < 0)
                break;
        }
    }
    if (r == 0)
        r = labels_selector_parse(b.data ? b.data : "", ret, err);
    util_buf_free(&b);
    return r;
}
