/* kubelet_logs: reading a container's CRI log files the way upstream's kubelet serves them
 * (pkg/kubelet/kuberuntime/logs): tailLines, sinceTime/sinceSeconds, limitBytes, timestamps,
 * across the shim's rotated files, and following the current file across rotations. */
#include "kubelet/kubelet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_READ_CHUNK (64 * 1024)
#define LOG_LINE_MAX   (1024 * 1024) /* a longer "line" is not a record the shim wrote */
#define LOG_FILES_MAX  100

struct kubelet_log_reader {
    kubelet_log_opts_t o;
    char *path;
    int fds[LOG_FILES_MAX + 1]; /* oldest first; the last is PATH */
    size_t nfds, cur;
    util_buf_t pending; /* bytes of an incomplete line */
    int64_t written;
    bool limited;
    bool watch_made;
    int watch; /* inotify on the log's directory once made; -1 when unavailable */
};

/* ---- records ------------------------------------------------------------------------------ */

static int digits(const char *s, size_t n, int *ret)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

int kubelet_parse_rfc3339(const char *s, size_t len, int64_t *ret_ns)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec) || mo < 1 ||
        mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    size_t i = 19;
    int64_t frac = 0, scale = 1000000000;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 9) {
                frac = frac * 10 + (s[i] - '0');
                scale /= 10;
            }
            i++;
        }
        if (i == start)
            return -EINVAL;
    }
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om))
            return -EINVAL;
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -EINVAL;
    }
    if (i != len)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    int64_t t = (int64_t)timegm(&tm) - offset;
    *ret_ns = t * 1000000000 + frac * scale;
    return 0;
}

int kubelet_cri_parse(const char *line, size_t len, kubelet_cri_record_t *ret)
{
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1)
        return -EINVAL;
    kubelet_cri_record_t r = {0};
    if (kubelet_parse_rfc3339(line, (size_t)(sp1 - line), &r.ts_ns) < 0)
        return -EINVAL;
    const char *p = sp1 + 1, *end = line + len;
    if (end - p >= 7 && !memcmp(p, "stdout ", 7))
        r.is_stderr = false;
    else if (end - p >= 7 && !memcmp(p, "stderr ", 7))
        r.is_stderr = true;
    else
        return -EINVAL;
    p += 7;
    if (end - p < 1 || (*p != 'F' && *p != 'P'))
        return -EINVAL;
    r.partial = *p == 'P';
    p++;
    if (p < end) { /* "F content"; an empty line may be written as "F" alone */
        if (*p != ' ')
            return -EINVAL;
        p++;
    }
    r.content = p;
    r.len = (size_t)(end - p);
    *ret = r;
    return 0;
}

/* Upstream's timeFormatOut: RFC3339NanoFixed, nine digits always. */
static void put_timestamp(util_buf_t *b, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    if (frac < 0) {
        frac += 1000000000;
        t--;
    }
    struct tm tm;
    gmtime_r(&t, &tm);
    util_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Appends what a record shows, cut at limit_bytes. */
static void emit(kubelet_log_reader_t *r, const kubelet_cri_record_t *rec, util_buf_t *out)
{
    size_t start = out->len;
    if (r->o.timestamps)
        put_timestamp(out, rec->ts_ns);
    util_buf_append(out, rec->content, rec->len);
    if (!rec->partial)
        util_buf_append(out, "\n", 1);
    size_t added = out->len - start;
    if (r->o.limit_bytes >= 0 && r->written + (int64_t)added >= r->o.limit_bytes) {
        out->len = start + (size_t)(r->o.limit_bytes - r->written);
        out->data[out->len] = '\0';
        r->limited = true;
    }
    r->written += (int64_t)(out->len - start);
}

static void process_line(kubelet_log_reader_t *r, const char *line, size_t len, util_buf_t *out)
{
    kubelet_cri_record_t rec;
    if (r->limited || kubelet_cri_parse(line, len, &rec) < 0)
        return; /* not a record: skipped, as upstream logs and skips it */
    if ((r->o.since_ns && rec.ts_ns < r->o.since_ns) || (r->o.stream == 1 && rec.is_stderr) ||
        (r->o.stream == 2 && !rec.is_stderr))
        return;
    emit(r, &rec, out);
}

/* Complete lines of pending go out; an over-long fragment is dropped. */
static void process_pending(kubelet_log_reader_t *r, util_buf_t *out)
{
    size_t off = 0;
    char *nl;
    while (!r->limited && (nl = memchr(r->pending.data + off, '\n', r->pending.len - off))) {
        process_line(r, r->pending.data + off, (size_t)(nl - r->pending.data) - off, out);
        off = (size_t)(nl - r->pending.data) + 1;
    }
    if (r->pending.len - off > LOG_LINE_MAX)
        off = r->pending.len;
    memmove(r->pending.data, r->pending.data + off, r->pending.len - off);
    r->pending.len -= off;
    r->pending.data[r->pending.len] = '\0';
}

/* ---- tail --------------------------------------------------------------------------------- */

/* Where the last *need records of fd start: sets *ret_off and returns true when they all
 * lie in this file; else subtracts the records it has from *need. */
static bool tail_in_file(int fd, int64_t *need, off_t *ret_off)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size == 0)
        return false;
    char buf[LOG_READ_CHUNK];
    off_t end = st.st_size - 1; /* a newline at the very end closes the last record */
    int64_t seen = 0;
    while (end > 0) {
        off_t from = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - from), from);
        if (n <= 0)
            break;
        for (ssize_t i = n - 1; i >= 0; i--)
            if (buf[i] == '\n' && ++seen == *need) {
                *ret_off = from + i + 1;
                return true;
            }
        end = from;
    }
    *need -= seen + 1;
    return false;
}

static void tail_start(kubelet_log_reader_t *r, int64_t lines)
{
    struct stat st;
    if (lines == 0) { /* nothing old: the end of the current file */
        r->cur = r->nfds - 1;
        lseek(r->fds[r->cur], fstat(r->fds[r->cur], &st) == 0 ? st.st_size : 0, SEEK_SET);
        return;
    }
    int64_t need = lines;
    for (size_t i = r->nfds; i-- > 0;) {
        off_t off;
        if (tail_in_file(r->fds[i], &need, &off)) {
            r->cur = i;
            lseek(r->fds[i], off, SEEK_SET);
            return;
        }
        if (need <= 0) {
            r->cur = i;
            return;
        }
    }
    r->cur = 0;
}

/* ---- the reader ---------------------------------------------------------------------------- */

int kubelet_log_reader_open(const char *path, int max_files, const kubelet_log_opts_t *o,
                            kubelet_log_reader_t **ret, util_error_t *err)
{
    if (max_files < 1)
        max_files = 1;
    if (max_files > LOG_FILES_MAX)
        max_files = LOG_FILES_MAX;
    kubelet_log_reader_t *r = util_xcalloc(1, sizeof(*r));
    r->o = *o;
    r->path = util_xstrdup(path);
    char name[4200];
    for (int i = max_files - 1; i >= 1; i--) { /* rotated files, oldest first */
        util_snprintf(name, sizeof(name), "%s.%d", path, i);
        int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0)
            r->fds[r->nfds++] = fd;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        kubelet_log_reader_free(r);
        return util_error_make(err, e, "open %s", path);
    }
    r->fds[r->nfds++] = fd;
    util_buf_append(&r->pending, "", 0);
    if (o->tail_lines >= 0)
        tail_start(r, o->tail_lines);
    *ret = r;
    return 0;
}

kubelet_log_reader_t *kubelet_log_reader_free(kubelet_log_reader_t *r)
{
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->nfds; i++)
        close(r->fds[i]);
    if (r->watch_made && r->watch >= 0)
        close(r->watch);
    util_buf_free(&r->pending);
    free(r->path);
    free(r);
    return NULL;
}

int kubelet_log_reader_watch_fd(kubelet_log_reader_t *r)
{
    if (r->watch_made)
        return r->watch;
    r->watch_made = true;
    r->watch = -1;
    char dir[PATH_MAX];
    const char *slash = strrchr(r->path, '/');
    if (!slash || util_snprintf(dir, sizeof(dir), "%.*s", (int)(slash - r->path), r->path) < 0)
        return -1;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -1;
    if (inotify_add_watch(fd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) < 0) {
        close(fd);
        return -1;
    }
    return r->watch = fd;
}

void kubelet_log_reader_watch_drain(kubelet_log_reader_t *r)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (r->watch_made && r->watch >= 0)
        while (read(r->watch, buf, sizeof(buf)) > 0)
            ;
}

/* PATH is a new file (the shim rotated it): true when fd should be replaced. */
static bool rotated(kubelet_log_reader_t *r, int fd)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(r->path, &b) == 0 &&
           (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
}

static int read_into(kubelet_log_reader_t *r, int fd, size_t max, util_buf_t *out)
{
    util_buf_reserve(&r->pending, max);
    ssize_t n;
    do {
        n = read(fd, r->pending.data + r->pending.len, max);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    r->pending.len += (size_t)n;
    r->pending.data[r->pending.len] = '\0';
    if (n > 0)
        process_pending(r, out);
    return n > 0;
}

int kubelet_log_reader_next(kubelet_log_reader_t *r, util_buf_t *out, size_t max)
{
    if (max == 0 || max > LOG_READ_CHUNK)
        max = LOG_READ_CHUNK;
    for (;;) {
        if (r->limited)
            return 2;
        int fd = r->fds[r->cur];
        int got = read_into(r, fd, max, out);
        if (got != 0)
            return r->limited ? 2 : got;
        if (r->cur + 1 < r->nfds) { /* an older file is done: a cut record is not continued */
            r->pending.len = 0;
            r->cur++;
            continue;
        }
        if (!rotated(r, fd))
            return 0;
        /* the shim may have written once more before it renamed the file: read that first */
        if ((got = read_into(r, fd, max, out)) != 0)
            return r->limited ? 2 : got;
        int nfd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (nfd < 0)
            return 0; /* between rename and create: next time */
        if (r->nfds == UTIL_ARRAY_SIZE(r->fds)) {
            close(r->fds[0]);
            memmove(r->fds, r->fds + 1, (r->nfds - 1) * sizeof(int));
            r->nfds--;
        }
        r->fds[r->nfds++] = nfd;
        r->cur = r->nfds - 1;
        r->pending.len = 0;
    }
}
