/* runtime_log: container logs in the CRI file format, rotated by size (written by the shim).
 *
 * Each line is `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n`, the format the
 * kubelet reads (k8s.io/cri-api/pkg/apis/runtime/v1 "Container log format"); P marks a
 * partial line continued by the next record. Rotation keeps PATH, PATH.1 .. PATH.(n-1). */
#include "runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Go's time.RFC3339Nano in UTC: trailing zeros of the fraction are dropped. */
size_t runtime__log_prefix(char *buf, size_t len, const struct timespec *ts, int stream,
                           bool partial)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    gmtime_r(&t, &tm);
    char frac[24] = "";
    if (ts->tv_nsec > 0) {
        snprintf(frac, sizeof(frac), ".%09ld", ts->tv_nsec);
        size_t n = strlen(frac);
        while (n > 1 && frac[n - 1] == '0')
            frac[--n] = 0;
    }
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ %s %c ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac,
                     stream ? "stderr" : "stdout", partial ? 'P' : 'F');
    return n < 0 ? 0 : ((size_t)n >= len ? len - 1 : (size_t)n);
}

static int open_current(runtime__log_t *log)
{
    int fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return -errno;
    struct stat st;
    log->size = fstat(fd, &st) == 0 ? st.st_size : 0;
    log->fd = fd;
    return 0;
}

int runtime__log_open(runtime__log_t *log, const char *path, int64_t max_size, int max_files,
                      util_error_t *err)
{
    memset(log->len, 0, sizeof(log->len));
    log->path = util_xstrdup(path);
    log->max_size = max_size;
    log->max_files = max_files < 1 ? 1 : (max_files > 100 ? 100 : max_files);
    int r = open_current(log);
    if (r < 0) {
        free(log->path);
        log->path = NULL;
        log->fd = -1;
        return util_error_make(err, -r, "open log %s", path);
    }
    return 0;
}

/* PATH.(n-2) -> PATH.(n-1), ..., PATH -> PATH.1; with one file the current one is truncated. */
static void rotate(runtime__log_t *log)
{
    char from[4200], to[4200];
    close(log->fd);
    log->fd = -1;
    if (log->max_files <= 1) {
        if (truncate(log->path, 0) < 0) {
            /* the open below recreates or appends; a failure only delays rotation */
        }
    } else {
        for (int i = log->max_files - 1; i >= 1; i--) {
            if (i == 1)
                snprintf(from, sizeof(from), "%s", log->path);
            else
                snprintf(from, sizeof(from), "%s.%d", log->path, i - 1);
            snprintf(to, sizeof(to), "%s.%d", log->path, i);
            if (rename(from, to) < 0 && errno != ENOENT) {
                /* keep going: the oldest file is simply overwritten next time */
            }
        }
    }
    if (open_current(log) < 0)
        log->fd = -1;
}

static void write_record(runtime__log_t *log, int stream, const char *data, size_t len,
                         bool partial, const struct timespec *ts)
{
    if (log->fd < 0)
        return;
    char prefix[96];
    size_t plen = runtime__log_prefix(prefix, sizeof(prefix), ts, stream, partial);
    struct iovec iov[3] = {{prefix, plen}, {(void *)data, len}, {(void *)"\n", 1}};
    ssize_t w;
    do {
        w = writev(log->fd, iov, 3);
    } while (w < 0 && errno == EINTR);
    if (w > 0)
        log->size += w;
    if (log->max_size > 0 && log->size >= log->max_size)
        rotate(log);
}

void runtime__log_feed(runtime__log_t *log, int stream, const char *data, size_t len,
                       const struct timespec *ts)
{
    char *buf = log->buf[stream];
    size_t *blen = &log->len[stream];
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        size_t room = RUNTIME_LOG_LINE_MAX - *blen;
        if (take >= room) { /* the line is too long: emit what fits as a partial record */
            memcpy(buf + *blen, data, room);
            write_record(log, stream, buf, RUNTIME_LOG_LINE_MAX, true, ts);
            *blen = 0;
            data += room;
            len -= room;
            continue;
        }
        memcpy(buf + *blen, data, take);
        *blen += take;
        if (!nl)
            return;
        write_record(log, stream, buf, *blen, false, ts);
        *blen = 0;
        data += take + 1;
        len -= take + 1;
    }
}

void runtime__log_flush_partial(runtime__log_t *log, int stream, const struct timespec *ts)
{
    if (log->len[stream] > 0)
        write_record(log, stream, log->buf[stream], log->len[stream], true, ts);
    log->len[stream] = 0;
}

void runtime__log_flush(runtime__log_t *log, int stream, const struct timespec *ts)
{
    if (log->len[stream] > 0)
        write_record(log, stream, log->buf[stream], log->len[stream], false, ts);
    log->len[stream] = 0;
}

void runtime__log_close(runtime__log_t *log)
{
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    free(log->path);
    log->path = NULL;
}
