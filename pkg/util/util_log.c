/* util_log: klog-style text lines or JSON lines on stderr (or any fd). */
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* One struct for the logger's globals (BusyBox habit). Written once at start-up. */
static struct {
    int verbosity;
    util_log_format_t format;
    int fd;
} logger = {0, UTIL_LOG_TEXT, 2};

void util_log_setup(int verbosity, util_log_format_t format, int fd)
{
    logger.verbosity = verbosity;
    logger.format = format;
    logger.fd = fd;
}

int util_log_verbosity(void)
{
    return logger.verbosity;
}

static const char *base_name(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

static const char *severity_name(char severity)
{
    switch (severity) {
    case 'W':
        return "warning";
    case 'E':
        return "error";
    default:
        return "info";
    }
}

/* Text: "I1124 12:00:00.000000   12345 file.c:123] msg" exactly like klog's header.
 * JSON: {"ts":<unix seconds>,"caller":"file.c:123","level":"info","msg":"...","v":0}, the
 * shape of Kubernetes' component-base JSON logs plus a level field. */
size_t util_log_format_line(char *buf, size_t len, util_log_format_t format, char severity, int v,
                            const struct timespec *ts, long tid, const char *file, int line,
                            const char *msg)
{
    if (format == UTIL_LOG_JSON) {
        util_buf_t b = {0};
        util_buf_printf(&b, "{\"ts\":%lld.%06ld,\"caller\":", (long long)ts->tv_sec,
                        ts->tv_nsec / 1000);
        char caller[256];
        snprintf(caller, sizeof(caller), "%s:%d", base_name(file), line);
        util_buf_json_string(&b, caller, strlen(caller));
        util_buf_printf(&b, ",\"level\":\"%s\",\"msg\":", severity_name(severity));
        util_buf_json_string(&b, msg, strlen(msg));
        util_buf_printf(&b, ",\"v\":%d}\n", v);
        size_t n = b.len < len ? b.len : len - 1;
        memcpy(buf, b.data, n);
        buf[n] = '\0';
        util_buf_free(&b);
        return n;
    }
    struct tm tm;
    localtime_r(&ts->tv_sec, &tm);
    int n = snprintf(buf, len, "%c%02d%02d %02d:%02d:%02d.%06ld %7ld %s:%d] %s\n", severity,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts->tv_nsec / 1000, tid, base_name(file), line, msg);
    if (n < 0)
        return 0;
    if ((size_t)n >= len) { /* truncated: keep the line terminated */
        buf[len - 2] = '\n';
        return len - 1;
    }
    return (size_t)n;
}

void util_log_vwrite(char severity, int v, const char *file, int line, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char msg[4096], out[8192];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t n = util_log_format_line(out, sizeof(out), logger.format, severity, v, &ts,
                                    (long)syscall(SYS_gettid), file, line, msg);
    /* One write per line so concurrent threads never interleave within a line. */
    ssize_t w = write(logger.fd, out, n);
    (void)w;
    errno = saved_errno;
}

void util_log_write(char severity, int v, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    util_log_vwrite(severity, v, file, line, fmt, ap);
    va_end(ap);
}
