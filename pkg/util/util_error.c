/* util_error: the {errno, message} error type passed as the last argument. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Used when even allocating the error fails; never freed. */
static char oom_message[] = "out of memory while recording an error";
static util_error_s oom_error = {ENOMEM, oom_message};

static void error_set(util_error_t *err, int errnum, char *msg)
{
    util_error_free(err);
    util_error_t e = calloc(1, sizeof(*e));
    if (!e) {
        free(msg);
        *err = &oom_error;
        return;
    }
    e->status = errnum;
    e->msg = msg ? msg : oom_message;
    *err = e;
}

int util_error_make(util_error_t *err, int errnum, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (err)
        error_set(err, errnum, msg);
    else
        free(msg);
    return errnum > 0 ? -errnum : -EINVAL;
}

int util_error_wrap(util_error_t *err, const char *fmt, ...)
{
    if (!err || !*err)
        return -EINVAL;
    int code = util_error_code(*err);
    char *prefix = NULL, *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&prefix, fmt, ap) < 0)
        prefix = NULL;
    va_end(ap);
    if (prefix && asprintf(&msg, "%s: %s", prefix, (*err)->msg) < 0)
        msg = NULL;
    free(prefix);
    if (msg) {
        int status = (*err)->status;
        error_set(err, status, msg);
    }
    return code;
}

const char *util_error_text(util_error_t err, char *buf, size_t len)
{
    if (!err)
        return "no error";
    if (err->status > 0)
        snprintf(buf, len, "%s: %s", err->msg, strerror(err->status));
    else
        snprintf(buf, len, "%s", err->msg);
    return buf;
}

int util_error_code(util_error_t err)
{
    if (!err)
        return 0;
    return err->status > 0 ? -err->status : -EINVAL;
}

void util_error_free(util_error_t *err)
{
    if (!err || !*err)
        return;
    if (*err != &oom_error) {
        if ((*err)->msg != oom_message)
            free((*err)->msg);
        free(*err);
    }
    *err = NULL;
}

void util_error_freep(util_error_t *err)
{
    util_error_free(err);
}
