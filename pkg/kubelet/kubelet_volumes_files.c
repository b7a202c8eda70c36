/* kubelet_volumes_files: the file-level pieces of volumes: upstream's AtomicWriter (the
 * `..data` symlink swap that lets configMap, secret, downwardAPI and projected volumes change
 * in place under running containers), subPath opening beneath a volume, the downward API
 * value formats, and termination messages (the file, or the log's tail). Pure except for
 * the files they are given; unit-tested. */
#include "kubelet_volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATH_LEN    4096
#define MAX_SEGMENT_LEN 255
#define DATA_LINK       "..data"
#define DATA_TMP_LINK   "..data_tmp"

/* ---- payloads ------------------------------------------------------------------------------ */

void kubelet_payload_add(kubelet_payload_t *p, const char *path, const void *data, size_t len,
                         mode_t mode)
{
    kubelet_payload_file_t *f = NULL;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].path, path)) {
            f = &p->v[i];
            free(f->data);
            break;
        }
    if (!f) {
        p->v = util_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
        f = &p->v[p->n++];
        f->path = util_xstrdup(path);
    }
    f->data = util_xmalloc(len + 1);
    if (len)
        memcpy(f->data, data, len);
    f->data[len] = 0;
    f->len = len;
    f->mode = mode & 07777;
}

void kubelet_payload_free(kubelet_payload_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].path);
        free(p->v[i].data);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

int kubelet_payload_validate_path(const char *path, util_error_t *err)
{
    size_t n = strlen(path);
    if (n == 0)
        return util_error_make(err, 0, "invalid path: must not be empty: %s", path);
    if (n > MAX_PATH_LEN)
        return util_error_make(err, 0,
                               "invalid path: must be less than or equal to %d "
                               "characters",
                               MAX_PATH_LEN);
    if (path[0] == '/')
        return util_error_make(err, 0, "invalid path: must be relative path: %s", path);
    if (!strncmp(path, "..", 2))
        return util_error_make(err, 0, "invalid path: must not start with '..': %s", path);
    for (const char *s = path; *s;) {
        size_t l = strcspn(s, "/");
        if (l > MAX_SEGMENT_LEN)
            return util_error_make(err, 0,
                                   "invalid path: must not contain a segment longer than %d: %s",
                                   MAX_SEGMENT_LEN, path);
        if (l == 2 && !strncmp(s, "..", 2))
            return util_error_make(err, 0, "invalid path: must not contain '..': %s", path);
        s += l;
        while (*s == '/')
            s++;
    }
    return 0;
}

/* ---- AtomicWriter -------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static size_t top_len(const char *path)
{
    return strcspn(path, "/");
}

static bool payload_has_top(const kubelet_payload_t *p, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < p->n; i++)
        if (top_len(p->v[i].path) == nl && !strncmp(p->v[i].path, name, nl))
            return true;
    return false;
}

/* Reads a file of the current data directory beneath dfd: true when it equals f. */
static bool same_file(int dfd, const char *ts, const kubelet_payload_file_t *f)
{
    char rel[MAX_PATH_LEN + 300];
    util_snprintf(rel, sizeof(rel), "%s/%s", ts, f->path);
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    long fd = syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
    if (fd < 0)
        return false;
    struct stat st;
    bool same = fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == f->len &&
                (st.st_mode & 07777) == f->mode;
    if (same && f->len) {
        char *buf = util_xmalloc(f->len);
        size_t got = 0;
        while (got < f->len) {
            ssize_t r = read((int)fd, buf + got, f->len - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        same = got == f->len && !memcmp(buf, f->data, f->len);
        free(buf);
    }
    close((int)fd);
    return same;
}

/* The user-visible top-level names of the data directory ts (entries not starting with ".."). */
static void list_tops(const char *dir, const char *ts, util_strv_t *out)
{
    char path[MAX_PATH_LEN + 300];
    util_snprintf(path, sizeof(path), "%s/%s", dir, ts);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "..", 2) && strcmp(e->d_name, "."))
            util_strv_push(out, e->d_name);
    closedir(d);
}

static bool unchanged(int dfd, const char *dir, const char *ts, const kubelet_payload_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (!same_file(dfd, ts, &p->v[i]))
            return false;
    util_strv_t tops = {0};
    list_tops(dir, ts, &tops);
    bool same = true;
    for (size_t i = 0; i < tops.n && same; i++)
        same = payload_has_top(p, tops.v[i]);
    /* a file the payload no longer has below a kept top-level directory */
    size_t files = p->n;
    util_strv_clear(&tops);
    if (!same)
        return false;
    char path[MAX_PATH_LEN + 300];
    util_snprintf(path, sizeof(path), "%s/%s", dir, ts);
    size_t count = 0;
    /* count regular files below ts without following links */
    util_strv_t stack = {0};
    util_strv_push(&stack, path);
    while (stack.n) {
        char *d = stack.v[--stack.n];
        stack.v[stack.n] = NULL;
        int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        DIR *dh = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dh && fd >= 0)
            close(fd);
        struct dirent *e;
        while (dh && (e = readdir(dh))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (e->d_type == DT_DIR) {
                char *sub = util_strdup_printf("%s/%s", d, e->d_name);
                util_strv_push(&stack, sub);
                free(sub);
            } else {
                count++;
            }
        }
        if (dh)
            closedir(dh);
        free(d);
    }
    util_strv_clear(&stack);
    return count == files;
}

/* mkdir -p of the parents of rel beneath dfd (mode 0755, as upstream). */
static int make_parents(int dfd, const char *rel)
{
    char buf[MAX_PATH_LEN + 300];
    util_snprintf(buf, sizeof(buf), "%s", rel);
    for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        if (mkdirat(dfd, buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    return 0;
}

static int write_one(int dfd, const char *rel, const kubelet_payload_file_t *f)
{
    int r = make_parents(dfd, rel);
    if (r < 0)
        return r;
    int fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < f->len) {
        ssize_t w = write(fd, f->data + off, f->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            r = w < 0 ? -errno : -EIO;
            close(fd);
            return r;
        }
        off += (size_t)w;
    }
    r = fchmod(fd, f->mode) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int kubelet_atomic_write(const char *dir, const kubelet_payload_t *p, bool *ret_changed,
                         util_error_t *err)
{
    if (ret_changed)
        *ret_changed = false;
    for (size_t i = 0; i < p->n; i++)
        if (kubelet_payload_validate_path(p->v[i].path, err) < 0)
            return -EINVAL;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return util_error_make(err, errno, "open %s", dir);
    char old[256] = "";
    ssize_t ol = readlinkat(dfd, DATA_LINK, old, sizeof(old) - 1);
    if (ol > 0)
        old[ol] = 0;
    else
        old[0] = 0;
    if (old[0] && (strchr(old, '/') || strncmp(old, "..", 2)))
        old[0] = 0; /* not ours: never follow it */
    if (old[0] && unchanged(dfd, dir, old, p)) {
        close(dfd);
        return 0;
    }
    /* 1. the new data directory */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char stamp[64], tmpl[MAX_PATH_LEN + 100];
    strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S.", &tm);
    util_snprintf(tmpl, sizeof(tmpl), "%s/%sXXXXXXXXX", dir, stamp);
    if (!mkdtemp(tmpl)) {
        int e = errno;
        close(dfd);
        return util_error_make(err, e, "create a data directory in %s", dir);
    }
    const char *ts = strrchr(tmpl, '/') + 1;
    int r = chmod(tmpl, 0755) < 0 ? -errno : 0;
    for (size_t i = 0; r == 0 && i < p->n; i++) {
        char rel[MAX_PATH_LEN + 300];
        util_snprintf(rel, sizeof(rel), "%s/%s", ts, p->v[i].path);
        r = write_one(dfd, rel, &p->v[i]);
        if (r < 0)
            util_error_make(err, -r, "write %s in %s", p->v[i].path, dir);
    }
    /* 2. ..data_tmp -> ts, renamed over ..data */
    if (r == 0) {
        unlinkat(dfd, DATA_TMP_LINK, 0);
        if (symlinkat(ts, dfd, DATA_TMP_LINK) < 0 ||
            renameat(dfd, DATA_TMP_LINK, dfd, DATA_LINK) < 0)
            r = util_error_make(err, errno, "swap %s/%s", dir, DATA_LINK);
    }
    if (r < 0) {
        nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        close(dfd);
        return r;
    }
    /* 3. user-visible links; 4. stale ones; 5. the old directory */
    for (size_t i = 0; i < p->n; i++) {
        char top[MAX_SEGMENT_LEN + 1], target[MAX_SEGMENT_LEN + 16];
        util_snprintf(top, sizeof(top), "%.*s", (int)top_len(p->v[i].path), p->v[i].path);
        util_snprintf(target, sizeof(target), "%s/%s", DATA_LINK, top);
        struct stat st;
        if (fstatat(dfd, top, &st, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        if (symlinkat(target, dfd, top) < 0 && errno != EEXIST) {
            r = util_error_make(err, errno, "link %s/%s", dir, top);
            break;
        }
    }
    if (old[0]) {
        util_strv_t tops = {0};
        list_tops(dir, old, &tops);
        for (size_t i = 0; i < tops.n; i++) {
            struct stat st;
            if (!payload_has_top(p, tops.v[i]) &&
                fstatat(dfd, tops.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                unlinkat(dfd, tops.v[i], 0);
        }
        util_strv_clear(&tops);
        char oldp[MAX_PATH_LEN + 300];
        util_snprintf(oldp, sizeof(oldp), "%s/%s", dir, old);
        nftw(oldp, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
    close(dfd);
    if (r == 0 && ret_changed)
        *ret_changed = true;
    return r;
}

/* ---- subPath ------------------------------------------------------------------------------- */

int kubelet_subpath_check(const char *subpath, util_error_t *err)
{
    if (subpath[0] == '/')
        return util_error_make(err, 0, "error SubPath `%s` must not be an absolute path", subpath);
    for (const char *s = subpath; *s;) {
        size_t l = strcspn(s, "/");
        if (l == 2 && !strncmp(s, "..", 2))
            return util_error_make(
                err, 0, "unable to provision SubPath `%s`: must not contain '..'", subpath);
        s += l;
        while (*s == '/')
            s++;
    }
    return 0;
}

static int open_beneath(int dfd, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd;
    do {
        fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd < 0 ? -errno : (int)fd;
}

int kubelet_subpath_open(const char *volume, const char *subpath, bool create, util_error_t *err)
{
    if (kubelet_subpath_check(subpath, err) < 0)
        return -EINVAL;
    int vfd = open(volume, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (vfd < 0)
        return util_error_make(err, errno, "open volume %s", volume);
    const char *rel = *subpath ? subpath : ".";
    int fd = open_beneath(vfd, rel, O_PATH);
    if (fd == -ENOENT && create) {
        struct stat vst;
        mode_t mode = fstat(vfd, &vst) == 0 ? vst.st_mode & 07777 : 0755;
        char buf[MAX_PATH_LEN + 1];
        util_snprintf(buf, sizeof(buf), "%s", rel);
        size_t len = strlen(buf);
        /* each prefix resolved from the volume's root again, so links inside it still work */
        for (size_t i = 0; i <= len; i++) {
            if (buf[i] != '/' && buf[i] != 0)
                continue;
            char save = buf[i];
            buf[i] = 0;
            int pfd = open_beneath(vfd, buf, O_PATH | O_DIRECTORY);
            if (pfd == -ENOENT) {
                char *slash = strrchr(buf, '/');
                int parent = vfd;
                const char *name = buf;
                if (slash) {
                    *slash = 0;
                    parent = open_beneath(vfd, buf, O_PATH | O_DIRECTORY);
                    name = slash + 1;
                }
                if (parent >= 0 && mkdirat(parent, name, mode) == 0) {
                    int d = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    if (d >= 0) {
                        if (fchmod(d, mode) < 0) {
                            /* the mode stays as the umask left it */
                        }
                        close(d);
                    }
                }
                if (slash) {
                    if (parent >= 0)
                        close(parent);
                    *slash = '/';
                }
                pfd = open_beneath(vfd, buf, O_PATH | O_DIRECTORY);
            }
            buf[i] = save;
            if (pfd < 0) {
                fd = pfd;
                break;
            }
            close(pfd);
        }
        fd = open_beneath(vfd, rel, O_PATH);
    }
    close(vfd);
    if (fd < 0)
        return util_error_make(err, -fd, "subPath %s of %s", subpath, volume);
    return fd;
}

/* ---- downward API -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go's strconv.Quote for the common cases: escapes, \xNN for other control bytes and for
 * bytes that are not valid UTF-8; printable UTF-8 stays. */
static void go_quote(util_buf_t *b, const char *s)
{
    util_buf_puts(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        const char *esc = NULL;
        switch (c) {
        case '\a':
            esc = "\\a";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\v':
            esc = "\\v";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '"':
            esc = "\\\"";
            break;
        default:
            break;
        }
        if (esc) {
            util_buf_puts(b, esc);
            p++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            util_buf_printf(b, "\\x%02x", c);
            p++;
            continue;
        }
        if (c < 0x80) {
            util_buf_append(b, p, 1);
            p++;
            continue;
        }
        size_t n = c >= 0xf0 && c < 0xf8 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        bool ok = n > 0;
        for (size_t i = 1; ok && i < n; i++)
            ok = (p[i] & 0xc0) == 0x80;
        if (!ok) {
            util_buf_printf(b, "\\x%02x", c);
            p++;
            continue;
        }
        util_buf_append(b, p, n);
        p += n;
    }
    util_buf_puts(b, "\"");
}

char *kubelet_format_map(const cJSON *map)
{
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, map) n++;
    const char **keys = util_xcalloc(n ? n : 1, sizeof(*keys));
    n = 0;
    cJSON_ArrayForEach(e, map)
    {
        if (e->string && cJSON_IsString(e))
            keys[n++] = e->string;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    util_buf_t b = {0};
    util_buf_puts(&b, "");
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_puts(&b, "\n");
        util_buf_printf(&b, "%s=", keys[i]);
        go_quote(&b, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(map, keys[i])));
    }
    free(keys);
    return util_buf_steal(&b);
}

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

char *kubelet_resource_field(const cJSON *container, const char *resource, const char *divisor,
                             int64_t node_cpu_milli, int64_t node_memory, int64_t node_storage)
{
    const char *dot = resource ? strchr(resource, '.') : NULL;
    if (!dot)
        return NULL;
    bool limits = !strncmp(resource, "limits.", 7);
    if (!limits && strncmp(resource, "requests.", 9))
        return NULL;
    const char *name = dot + 1;
    bool cpu = !strcmp(name, "cpu");
    int64_t node = cpu                                  ? node_cpu_milli
                   : !strcmp(name, "memory")            ? node_memory
                   : !strcmp(name, "ephemeral-storage") ? node_storage
                                                        : -1;
    if (node < 0)
        return NULL;
    const char *q = cJSON_GetStringValue(
        jget(jget(jget(container, "resources"), limits ? "limits" : "requests"), name));
    int64_t v = 0, d = 1;
    if (q && *q) {
        if ((cpu ? kubelet_parse_cpu_milli(q, &v) : kubelet_parse_bytes(q, &v)) < 0)
            return NULL;
    } else if (limits) {
        v = node;
    }
    if (divisor && *divisor && strcmp(divisor, "0")) {
        if ((cpu ? kubelet_parse_cpu_milli(divisor, &d) : kubelet_parse_bytes(divisor, &d)) < 0 ||
            d <= 0)
            return NULL;
    } else {
        d = cpu ? 1000 : 1;
    }
    return util_strdup_printf("%lld", (long long)ceil((double)v / (double)d));
}

bool kubelet_env_name_valid(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_';
        if (!alpha && !(p != name && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* ---- termination messages ------------------------------------------------------------------ */

#define LOG_TAIL_LINE 80
#define LOG_TAIL_MAX  2048
#define LOG_SCAN      (1024 * 1024)

/* The content of the last lines of a CRI log (partial lines joined), at most max bytes from
 * the start of those lines, like upstream's ReadLogs with tail and limitBytes. */
static void log_tail(const char *path, char *buf, size_t n)
{
    buf[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return;
    }
    off_t start = st.st_size > LOG_SCAN ? st.st_size - LOG_SCAN : 0;
    size_t len = (size_t)(st.st_size - start);
    char *data = util_xmalloc(len + 1);
    ssize_t got = pread(fd, data, len, start);
    close(fd);
    len = got > 0 ? (size_t)got : 0;
    data[len] = 0;
    /* content of each log line, '\n' after full ones */
    util_buf_t out = {0};
    util_buf_puts(&out, "");
    /* a counted line has at least "t s F" and its newline */
    size_t *starts = util_xcalloc(len / 6 + 2, sizeof(*starts)), nl = 0;
    char *p = data;
    if (start > 0) { /* skip the cut line */
        char *e = strchr(p, '\n');
        p = e ? e + 1 : data + len;
    }
    bool line_open = false;
    while (*p) {
        char *e = strchr(p, '\n');
        if (e)
            *e = 0;
        char *s1 = strchr(p, ' '), *s2 = s1 ? strchr(s1 + 1, ' ') : NULL;
        if (s2 && (s2[1] == 'F' || s2[1] == 'P') && (s2[2] == ' ' || s2[2] == 0)) {
            if (!line_open)
                starts[nl++] = out.len;
            const char *content = s2[2] ? s2 + 3 : "";
            util_buf_puts(&out, content);
            line_open = s2[1] == 'P';
            if (!line_open)
                util_buf_puts(&out, "\n");
        }
        if (!e)
            break;
        p = e + 1;
    }
    size_t from = nl > LOG_TAIL_LINE ? starts[nl - LOG_TAIL_LINE] : 0;
    size_t take = out.len - from;
    if (take > LOG_TAIL_MAX)
        take = LOG_TAIL_MAX;
    if (take >= n)
        take = n - 1;
    memcpy(buf, out.data + from, take);
    buf[take] = 0;
    util_buf_free(&out);
    free(starts);
    free(data);
}

void kubelet__termination_message(const char *termlog, const char *log_path, bool fallback,
                                  int exit_code, size_t limit, char *buf, size_t n)
{
    buf[0] = 0;
    if (limit >= n)
        limit = n - 1;
    int fd = open(termlog, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, buf, limit);
        buf[got > 0 ? got : 0] = 0;
        close(fd);
    }
    if (!buf[0] && fallback && exit_code != 0)
        log_tail(log_path, buf, n);
}
