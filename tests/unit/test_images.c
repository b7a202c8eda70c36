/* test_images: tar parsing, hostile layers (every escape attempt), whiteouts, references, and
 * the store's import, removal and crash leftovers. Layers are built in memory here. */
#include "unit.h"
#include "images/images.h"
#include "images/images_http.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- a tiny tar writer ---------------------------------------------------------------------- */

typedef struct tarw {
    util_buf_t b;
} tarw_t;

static void octal(char *f, size_t len, uint64_t v)
{
    snprintf(f, len, "%0*llo", (int)len - 1, (unsigned long long)v);
}

static void header(tarw_t *t, const char *name, char type, uint64_t size, const char *link,
                   unsigned mode)
{
    char h[512] = {0};
    memcpy(h, name, strnlen(name, 100));
    octal(h + 100, 8, mode);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, size);
    octal(h + 136, 12, 1700000000);
    h[156] = type;
    if (link)
        memcpy(h + 157, link, strnlen(link, 100));
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    util_buf_append(&t->b, h, 512);
}

static void data(tarw_t *t, const void *d, size_t len)
{
    util_buf_append(&t->b, d, len);
    static const char zeros[512];
    if (len % 512)
        util_buf_append(&t->b, zeros, 512 - len % 512);
}

static void add_file(tarw_t *t, const char *name, const char *content)
{
    header(t, name, '0', strlen(content), NULL, 0644);
    data(t, content, strlen(content));
}

static void add(tarw_t *t, const char *name, char type, const char *link)
{
    header(t, name, type, 0, link, type == '5' ? 0755 : 0644);
}

static void add_pax(tarw_t *t, const char *key, const char *value)
{
    char rec[8192];
    size_t base = strlen(key) + strlen(value) + 3, len = base + 1;
    while (snprintf(NULL, 0, "%zu", len) + base != len)
        len++;
    snprintf(rec, sizeof(rec), "%zu %s=%s\n", len, key, value);
    header(t, "PaxHeader", 'x', strlen(rec), NULL, 0644);
    data(t, rec, strlen(rec));
}

static void finish(tarw_t *t)
{
    static const char zeros[1024];
    util_buf_append(&t->b, zeros, sizeof(zeros));
}

/* ---- fixtures -------------------------------------------------------------------------------- */

typedef struct fixture {
    char *dir; /* contains root/ (the layer) and outside/ (must stay untouched) */
    char root[512], outside[512];
    int rootfd;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->dir = unit_tmpdir();
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
    assert_int_equal(mkdir(f->root, 0755), 0);
    assert_int_equal(mkdir(f->outside, 0755), 0);
    f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->rootfd >= 0);
    images__force_manual_walk = false;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close(f->rootfd);
    unit_rm_rf(f->dir);
    free(f->dir);
    free(f);
    images__force_manual_walk = false;
    return 0;
}

/* Unpacks t into the fixture's root; returns the result, message in *msg (caller frees). */
static int unpack_with(fixture_t *f, tarw_t *t, const images_limits_t *lim, char **msg)
{
    images_limits_t def;
    images_limits_default(&def);
    if (!lim)
        lim = &def;
    images_stream_t s;
    util_error_t err = NULL;
    int r = images_stream_open(&s, -1, 0, t->b.len, (const uint8_t *)t->b.data, UINT64_MAX, &err);
    if (r == 0)
        r = images_unpack_layer(&s, f->rootfd, lim, NULL, &err);
    images_stream_close(&s);
    util_buf_free(&t->b);
    if (msg)
        *msg = err ? strdup(err->msg) : NULL;
    util_error_free(&err);
    return r;
}

static int unpack(fixture_t *f, tarw_t *t, char **msg)
{
    return unpack_with(f, t, NULL, msg);
}

static bool exists_in(const char *dir, const char *rel)
{
    char p[1024];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return lstat(p, &st) == 0;
}

static char *read_in(const char *dir, const char *rel)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    char *d = NULL;
    util_error_t err = NULL;
    if (util_read_file(p, 1 << 20, &d, NULL, &err) < 0) {
        util_error_free(&err);
        return NULL;
    }
    return d;
}

static void assert_outside_empty(fixture_t *f)
{
    DIR *d = opendir(f->outside);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    assert_int_equal(n, 0);
    /* and nothing beside root/ and outside/ in the fixture dir */
    d = opendir(f->dir);
    n = 0;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    assert_int_equal(n, 2);
}

/* ---- tar and unpacking ------------------------------------------------------------------------
 */

static void test_unpack_files_dirs_links(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add(&t, "./", '5', NULL);
    add(&t, "./bin/", '5', NULL);
    add_file(&t, "./bin/tool", "#!/bin/sh\n");
    add(&t, "./bin/sh", '2', "tool");
    add(&t, "./bin/hard", '1', "./bin/tool");
    add_file(&t, "implicit/parent/file", "x"); /* parents missing from the archive */
    add(&t, "fifo", '6', NULL);
    finish(&t);
    char *msg = NULL;
    assert_int_equal(unpack(f, &t, &msg), 0);
    free(msg);
    char *c = read_in(f->root, "bin/hard");
    assert_string_equal(c, "#!/bin/sh\n");
    free(c);
    char target[64] = {0};
    char p[1024];
    snprintf(p, sizeof(p), "%s/bin/sh", f->root);
    assert_int_equal(readlink(p, target, sizeof(target) - 1), 4);
    assert_string_equal(target, "tool");
    struct stat st, st2;
    snprintf(p, sizeof(p), "%s/bin/tool", f->root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_mtim.tv_sec, 1700000000);
    snprintf(p, sizeof(p), "%s/bin/hard", f->root);
    assert_int_equal(stat(p, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    snprintf(p, sizeof(p), "%s/bin", f->root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mtim.tv_sec, 1700000000); /* set after its children */
    assert_true(exists_in(f->root, "implicit/parent/file"));
    snprintf(p, sizeof(p), "%s/fifo", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
}

static void test_dotdot_is_rejected(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add_file(&t, "../outside/x", "pwned");
    finish(&t);
    char *msg = NULL;
    assert_int_equal(unpack(f, &t, &msg), -EPERM);
    assert_non_null(strstr(msg, "climbs out"));
    free(msg);
    assert_outside_empty(f);
    tarw_t t2 = {0};
    add_file(&t2, "a/../../x", "pwned");
    finish(&t2);
    assert_int_equal(unpack(f, &t2, NULL), -EPERM);
    assert_outside_empty(f);
}

static void test_absolute_path_stays_in_root(void **state)
{
    fixture_t *f = *state;
    char name[600];
    snprintf(name, sizeof(name), "%s/abs", f->outside); /* an absolute host path */
    tarw_t t = {0};
    add_file(&t, name, "inside");
    finish(&t);
    assert_int_equal(unpack(f, &t, NULL), 0);
    assert_outside_empty(f);
    char rel[700];
    snprintf(rel, sizeof(rel), "%s/abs", f->outside + 1);
    assert_true(exists_in(f->root, rel));
}

/* A symlink pointing out, then a write through it: must land inside the root or fail. */
static void symlink_write_through(fixture_t *f, const char *target)
{
    tarw_t t = {0};
    add(&t, "evil", '2', target);
    add_file(&t, "evil/pwned", "pwned");
    finish(&t);
    char *msg = NULL;
    int r = unpack(f, &t, &msg);
    free(msg);
    assert_outside_empty(f);
    if (r == 0)
        assert_true(exists_in(f->root, "pwned")); /* ../.. is clamped at the root */
}

static void test_symlink_out_then_write(void **state)
{
    fixture_t *f = *state;
    symlink_write_through(f, "../outside");
    symlink_write_through(f, "../../../../..");
    symlink_write_through(f, f->outside);
    symlink_write_through(f, "/");
}

static void test_symlink_out_manual_walk(void **state)
{
    images__force_manual_walk = true;
    test_symlink_out_then_write(state);
    fixture_t *f = *state;
    /* a chain of links, and a link loop */
    tarw_t t = {0};
    add(&t, "a", '2', "b/..");
    add(&t, "b", '2', "../../outside");
    add(&t, "loop", '2', "loop");
    add_file(&t, "a/x", "x");
    finish(&t);
    unpack(f, &t, NULL);
    assert_outside_empty(f);
    tarw_t t2 = {0};
    add_file(&t2, "loop/x", "x");
    finish(&t2);
    assert_int_not_equal(unpack(f, &t2, NULL), 0);
    assert_outside_empty(f);
}

static void test_hardlink_out_is_rejected(void **state)
{
    fixture_t *f = *state;
    char secret[600];
    snprintf(secret, sizeof(secret), "%s/secret", f->outside);
    int fd = open(secret, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    close(fd);
    tarw_t t = {0};
    add(&t, "h1", '1', "../outside/secret");
    finish(&t);
    assert_int_equal(unpack(f, &t, NULL), -EPERM);
    tarw_t t2 = {0};
    add(&t2, "h2", '1', secret); /* absolute: resolved inside the root, where it is absent */
    finish(&t2);
    assert_int_not_equal(unpack(f, &t2, NULL), 0);
    tarw_t t3 = {0};
    add(&t3, "lnk", '2', f->outside);
    add(&t3, "h3", '1', "lnk/secret"); /* through a symlink pointing out */
    finish(&t3);
    assert_int_not_equal(unpack(f, &t3, NULL), 0);
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_nlink, 1); /* no new link to the outside file */
    assert_false(exists_in(f->root, "h1") || exists_in(f->root, "h2") || exists_in(f->root, "h3"));
}

static void test_long_names(void **state)
{
    fixture_t *f = *state;
    char longname[400];
    memset(longname, 'a', 150);
    strcpy(longname + 150, "/");
    memset(longname + 151, 'b', 200);
    longname[351] = '\0';
    tarw_t t = {0};
    /* GNU ././@LongLink */
    header(&t, "././@LongLink", 'L', strlen(longname) + 1, NULL, 0644);
    data(&t, longname, strlen(longname) + 1);
    add_file(&t, "truncated-name", "gnu");
    /* pax path */
    char paxname[400];
    snprintf(paxname, sizeof(paxname), "pax/%s", longname + 151);
    add_pax(&t, "path", paxname);
    add_file(&t, "ignored", "pax");
    finish(&t);
    assert_int_equal(unpack(f, &t, NULL), 0);
    char *c = read_in(f->root, longname);
    assert_string_equal(c, "gnu");
    free(c);
    c = read_in(f->root, paxname);
    assert_string_equal(c, "pax");
    free(c);
}

static void test_truncated_archives(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add_file(&t, "file", "0123456789");
    t.b.len -= 600; /* cut into the data block */
    char *msg = NULL;
    assert_int_equal(unpack(f, &t, &msg), -EIO);
    assert_non_null(strstr(msg, "truncated"));
    free(msg);
    tarw_t t2 = {0};
    add_file(&t2, "file", "x");
    add_file(&t2, "file2", "y");
    t2.b.len = 1024 + 100; /* cut inside the second header */
    assert_int_equal(unpack(f, &t2, NULL), -EIO);
}

static void test_huge_sizes_and_limits(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    header(&t, "big", '0', 0, NULL, 0644);
    /* base-256 size of 2^40 in the 12-byte size field */
    char *h = t.b.data;
    memset(h + 124, 0, 12);
    h[124] = (char)0x80;
    h[130] = 0x01;
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    finish(&t);
    images_limits_t lim;
    images_limits_default(&lim);
    lim.max_layer_bytes = 1 << 20;
    char *msg = NULL;
    assert_int_equal(unpack_with(f, &t, &lim, &msg), -EFBIG);
    free(msg);
    assert_false(exists_in(f->root, "big"));
    tarw_t t2 = {0};
    for (int i = 0; i < 20; i++) {
        char n[32];
        snprintf(n, sizeof(n), "f%d", i);
        add_file(&t2, n, "x");
    }
    finish(&t2);
    lim.max_entries = 10;
    assert_int_equal(unpack_with(f, &t2, &lim, &msg), -EFBIG);
    assert_non_null(strstr(msg, "entries"));
    free(msg);
}

static void test_malformed_headers(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add_file(&t, "file", "x");
    t.b.data[0] ^= 1; /* checksum no longer matches */
    finish(&t);
    char *msg = NULL;
    assert_int_equal(unpack(f, &t, &msg), -EINVAL);
    assert_non_null(strstr(msg, "checksum"));
    free(msg);
    tarw_t t2 = {0};
    header(&t2, "PaxHeader", 'x', 12, NULL, 0644);
    data(&t2, "99 path=abc\n", 12); /* record length beyond the payload */
    add_file(&t2, "file", "x");
    finish(&t2);
    assert_int_equal(unpack(f, &t2, NULL), -EINVAL);
    tarw_t t3 = {0};
    header(&t3, "sparse", 'S', 0, NULL, 0644);
    finish(&t3);
    assert_int_equal(unpack(f, &t3, NULL), -ENOTSUP);
}

static void test_whiteouts_and_opaque(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add(&t, "dir/", '5', NULL);
    add_file(&t, "dir/.wh.gone", "");
    add_file(&t, "dir/.wh..wh..opq", "");
    add_file(&t, ".wh..wh.plnk", "");
    add_file(&t, "dir/new", "n");
    finish(&t);
    char *msg = NULL;
    int r = unpack(f, &t, &msg);
    if (r < 0)
        fail_msg("%s", msg);
    struct stat st;
    char p[1024];
    snprintf(p, sizeof(p), "%s/dir/gone", f->root);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    assert_false(exists_in(f->root, "dir/.wh.gone"));
    assert_false(exists_in(f->root, "dir/.wh..wh..opq"));
    assert_false(exists_in(f->root, ".wh..wh.plnk"));
    snprintf(p, sizeof(p), "%s/dir", f->root);
    char v[4] = {0};
    assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_string_equal(v, "y");
    tarw_t t2 = {0};
    add_file(&t2, "x/.wh...", "");
    finish(&t2);
    assert_int_equal(unpack(f, &t2, NULL), -EPERM);
}

static void test_devices_and_forged_xattrs(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add(&t, "null", '3', NULL);
    add_pax(&t, "SCHILY.xattr.trusted.overlay.redirect", "/etc");
    add_pax(&t, "SCHILY.xattr.user.note", "hi");
    add_file(&t, "file", "x");
    finish(&t);
    images_limits_t lim;
    images_limits_default(&lim);
    lim.allow_devices = false;
    assert_int_equal(unpack_with(f, &t, &lim, NULL), 0);
    assert_false(exists_in(f->root, "null"));
    char p[1024], v[16];
    snprintf(p, sizeof(p), "%s/file", f->root);
    assert_true(getxattr(p, "trusted.overlay.redirect", v, sizeof(v)) < 0);
}

static void test_replace_existing_entries(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add(&t, "d/", '5', NULL);
    add_file(&t, "d/f", "1");
    add_file(&t, "d", "now a file"); /* replaces the directory */
    add(&t, "s", '2', "/etc/passwd");
    add_file(&t, "s", "replaced link"); /* replaces the symlink, never writes through */
    finish(&t);
    assert_int_equal(unpack(f, &t, NULL), 0);
    char *c = read_in(f->root, "d");
    assert_string_equal(c, "now a file");
    free(c);
    c = read_in(f->root, "s");
    assert_string_equal(c, "replaced link");
    free(c);
}

/* gzip of data (a member of its own), appended to out. */
static void gzip_append(util_buf_t *out, const void *data, size_t len)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    util_buf_reserve(out, cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len += cap - z.avail_out;
    deflateEnd(&z);
}

/* Gzip layers (also as concatenated members, as pigz writes them); the diffID is the digest
 * of the uncompressed bytes; corrupt and truncated gzip fail cleanly; zstd is named. */
static void test_gzip_layers(void **state)
{
    fixture_t *f = *state;
    tarw_t t = {0};
    add_file(&t, "a", "first");
    add_file(&t, "b", "second");
    finish(&t);
    char want[IMAGES_DIGEST_LEN + 1], got[IMAGES_DIGEST_LEN + 1];
    images_sha256_digest(t.b.data, t.b.len, want);
    util_buf_t gz = {0};
    gzip_append(&gz, t.b.data, 1024); /* two members split inside the archive */
    gzip_append(&gz, t.b.data + 1024, t.b.len - 1024);
    images_limits_t lim;
    images_limits_default(&lim);
    images_stream_t s;
    util_error_t err = NULL;
    assert_int_equal(images_stream_open(&s, -1, 0, gz.len, (uint8_t *)gz.data, UINT64_MAX, &err),
                     0);
    assert_true(s.gzip);
    assert_int_equal(images_unpack_layer(&s, f->rootfd, &lim, NULL, &err), 0);
    assert_int_equal(images_stream_finish(&s, NULL, got, &err), 0);
    images_stream_close(&s);
    assert_string_equal(got, want);
    char *c = read_in(f->root, "b");
    assert_string_equal(c, "second");
    free(c);
    /* truncated, then corrupted */
    for (int mode = 0; mode < 2; mode++) {
        size_t len = mode == 0 ? gz.len / 2 : gz.len;
        if (mode == 1)
            gz.data[20] ^= 0x55;
        assert_int_equal(images_stream_open(&s, -1, 0, len, (uint8_t *)gz.data, UINT64_MAX, &err),
                         0);
        int r = images_unpack_layer(&s, f->rootfd, &lim, NULL, &err);
        if (r == 0)
            r = images_stream_finish(&s, NULL, got, &err);
        images_stream_close(&s);
        assert_int_equal(r, -EIO);
        assert_non_null(strstr(err->msg, "gzip"));
        util_error_free(&err);
    }
    util_buf_free(&gz);
    util_buf_free(&t.b);
    static const uint8_t zstd[] = {0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0};
    assert_int_equal(images_stream_open(&s, -1, 0, sizeof(zstd), zstd, UINT64_MAX, &err), -ENOTSUP);
    images_stream_close(&s);
    assert_non_null(strstr(err->msg, "zstd"));
    util_error_free(&err);
}

/* ---- references -------------------------------------------------------------------------------
 */

static void expect_ref(const char *in, const char *want)
{
    images_ref_t r;
    util_error_t err = NULL;
    if (images_ref_parse(in, &r, &err) < 0)
        fail_msg("parse(%s): %s", in, err->msg);
    char *s = images_ref_string(&r);
    if (strcmp(s, want))
        fail_msg("parse(%s) = %s, want %s", in, s, want);
    free(s);
    images_ref_free(&r);
}

static void expect_ref_error(const char *in, const char *msg)
{
    images_ref_t r;
    util_error_t err = NULL;
    if (images_ref_parse(in, &r, &err) == 0)
        fail_msg("parse(%s) succeeded", in);
    if (!strstr(err->msg, msg))
        fail_msg("parse(%s): %s, want %s", in, err->msg, msg);
    util_error_free(&err);
}

static void test_reference_normalisation(void **state)
{
    (void)state;
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char in[256], want[256];
    expect_ref("busybox", "docker.io/library/busybox:latest");
    expect_ref("busybox:1.36", "docker.io/library/busybox:1.36");
    expect_ref("library/busybox", "docker.io/library/busybox:latest");
    expect_ref("user/app:v1", "docker.io/user/app:v1");
    expect_ref("docker.io/busybox", "docker.io/library/busybox:latest");
    expect_ref("index.docker.io/busybox", "docker.io/library/busybox:latest");
    expect_ref("localhost/app", "localhost/app:latest");
    expect_ref("localhost:5000/a/b/c:tag", "localhost:5000/a/b/c:tag");
    expect_ref("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9");
    expect_ref("a.b/c__d/e-f.g_h:T_a.g-1", "a.b/c__d/e-f.g_h:T_a.g-1");
    snprintf(in, sizeof(in), "busybox@%s", d);
    snprintf(want, sizeof(want), "docker.io/library/busybox@%s", d);
    expect_ref(in, want);
    snprintf(in, sizeof(in), "quay.io/x/y:1@%s", d);
    snprintf(want, sizeof(want), "quay.io/x/y:1@%s", d);
    expect_ref(in, want);
    expect_ref_error("Busybox", "must be lowercase");
    expect_ref_error("", "invalid reference format");
    expect_ref_error("busybox:", "invalid reference format");
    expect_ref_error("busybox@sha256:abc", "bad digest");
    expect_ref_error("a//b", "invalid reference format");
    expect_ref_error("a/b-", "invalid reference format");
    expect_ref_error("-a.com/b", "invalid reference format");
    expect_ref_error("busybox:-tag", "bad tag");
    expect_ref_error(d + 7, "64-byte hexadecimal");
}

/* ---- the store ------------------------------------------------------------------------------- */

/* Writes a docker-archive with one layer (files given) to path; returns the config digest. */
static void write_docker_archive(const char *path, const char *tag, const char *content,
                                 bool corrupt_diffid, char id[IMAGES_DIGEST_LEN + 1])
{
    tarw_t layer = {0};
    add_file(&layer, "hello", content);
    finish(&layer);
    char diff[IMAGES_DIGEST_LEN + 1];
    images_sha256_digest(layer.b.data, layer.b.len, diff);
    if (corrupt_diffid)
        diff[10] = diff[10] == 'a' ? 'b' : 'a';
    char config[512];
    snprintf(config, sizeof(config),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/hello\"],"
             "\"Env\":[\"A=1\"],\"WorkingDir\":\"/w\",\"User\":\"1000\",\"ExposedPorts\":{"
             "\"80/tcp\":{}}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
             diff);
    images_sha256_digest(config, strlen(config), id);
    char manifest[512];
    snprintf(manifest, sizeof(manifest),
             "[{\"Config\":\"%s.json\",\"RepoTags\":[\"%s\"],\"Layers\":[\"l/layer.tar\"]}]",
             id + 7, tag);
    tarw_t out = {0};
    char cname[100];
    snprintf(cname, sizeof(cname), "%s.json", id + 7);
    add_file(&out, cname, config);
    header(&out, "l/layer.tar", '0', layer.b.len, NULL, 0644);
    data(&out, layer.b.data, layer.b.len);
    add_file(&out, "manifest.json", manifest);
    finish(&out);
    util_error_t err = NULL;
    assert_int_equal(util_write_file_atomic(path, out.b.data, out.b.len, 0644, &err), 0);
    util_buf_free(&layer.b);
    util_buf_free(&out.b);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static void test_store_import_get_remove(void **state)
{
    fixture_t *f = *state;
    char tarpath[600], id[IMAGES_DIGEST_LEN + 1], id2[IMAGES_DIGEST_LEN + 1];
    snprintf(tarpath, sizeof(tarpath), "%s/a.tar", f->outside);
    write_docker_archive(tarpath, "app:v1", "one", false, id);
    images_store_t *s = NULL;
    util_error_t err = NULL;
    assert_int_equal(images_store_open(f->dir, NULL, &s, &err), 0);
    util_strv_t names = {0};
    assert_int_equal(images_import_file(s, tarpath, NULL, NULL, &names, &err), 0);
    assert_int_equal(names.n, 1);
    assert_string_equal(names.v[0], "docker.io/library/app:v1");
    util_strv_clear(&names);
    images_image_t *img = NULL;
    assert_int_equal(images_get(s, "app:v1", &img, &err), 0);
    assert_string_equal(img->id, id);
    assert_string_equal(img->config.cmd.v[0], "/hello");
    assert_string_equal(img->config.env.v[0], "A=1");
    assert_string_equal(img->config.working_dir, "/w");
    assert_string_equal(img->config.user, "1000");
    assert_string_equal(img->config.exposed_ports.v[0], "80/tcp");
    char lp[1024];
    assert_int_equal(images_layer_path(s, img->layers.v[0], lp, sizeof(lp), &err), 0);
    char *c = read_in(lp, "hello");
    assert_string_equal(c, "one");
    free(c);
    images_image_free(img);
    /* by ID prefix, and a missing name */
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%.12s", id + 7);
    assert_int_equal(images_get(s, prefix, &img, &err), 0);
    images_image_free(img);
    assert_int_equal(images_get(s, "nothere", &img, &err), -ENOENT);
    util_error_free(&err);
    /* re-import is idempotent; a second image shares nothing and is collected on rm */
    assert_int_equal(images_import_file(s, tarpath, NULL, NULL, NULL, &err), 0);
    write_docker_archive(tarpath, "other:v2", "two", false, id2);
    assert_int_equal(images_import_file(s, tarpath, NULL, NULL, NULL, &err), 0);
    images_image_t **list = NULL;
    size_t n = 0;
    assert_int_equal(images_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    images_image_list_free(list, n);
    char layers[700];
    snprintf(layers, sizeof(layers), "%s/agent/images-store/layers", f->dir);
    assert_int_equal(count_entries(layers), 2);
    assert_int_equal(images_remove(s, "other:v2", &err), 0);
    assert_int_equal(count_entries(layers), 1);
    assert_int_equal(images_remove(s, "docker.io/library/app:v1", &err), 0);
    assert_int_equal(count_entries(layers), 0);
    assert_int_equal(images_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    images_image_list_free(list, n);
    images_store_close(s);
}

/* A layer whose content does not match the config's diffID: nothing becomes visible, the
 * partial layer and the work dir are gone. */
static void test_store_rejects_bad_diffid(void **state)
{
    fixture_t *f = *state;
    char tarpath[600], id[IMAGES_DIGEST_LEN + 1];
    snprintf(tarpath, sizeof(tarpath), "%s/bad.tar", f->outside);
    write_docker_archive(tarpath, "bad:1", "x", true, id);
    images_store_t *s = NULL;
    util_error_t err = NULL;
    assert_int_equal(images_store_open(f->dir, NULL, &s, &err), 0);
    assert_int_equal(images_import_file(s, tarpath, NULL, NULL, NULL, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "diffID mismatch"));
    util_error_free(&err);
    char p[700];
    snprintf(p, sizeof(p), "%s/agent/images-store/layers", f->dir);
    assert_int_equal(count_entries(p), 0);
    snprintf(p, sizeof(p), "%s/agent/images-store/tmp", f->dir);
    assert_int_equal(count_entries(p), 0);
    images_image_t *img = NULL;
    assert_int_equal(images_get(s, "bad:1", &img, &err), -ENOENT);
    util_error_free(&err);
    images_store_close(s);
}

/* What a kill -9 mid-import leaves (a work dir, a complete layer the index does not name, a
 * stray blob) is invisible and collected; the index only ever names complete images. */
static void test_store_crash_leftovers(void **state)
{
    fixture_t *f = *state;
    images_store_t *s = NULL;
    util_error_t err = NULL;
    assert_int_equal(images_store_open(f->dir, NULL, &s, &err), 0);
    char p[800];
    const char *root = images_store_root(s);
    snprintf(p, sizeof(p), "%s/tmp/work-crashed/layer-x", root);
    assert_int_equal(util_mkdir_p(p, 0700, &err), 0);
    snprintf(p, sizeof(p), "%s/layers/%064d", root, 1);
    assert_int_equal(util_mkdir_p(p, 0700, &err), 0);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%064d", root, 2);
    assert_int_equal(util_write_file_atomic(p, "{}", 2, 0600, &err), 0);
    images_image_t **list = NULL;
    size_t n = 0;
    assert_int_equal(images_list(s, &list, &n, &err), 0);
    assert_int_equal(n, 0);
    images_image_list_free(list, n);
    assert_int_equal(images_gc(s, &err), 0);
    snprintf(p, sizeof(p), "%s/tmp", root);
    assert_int_equal(count_entries(p), 0);
    snprintf(p, sizeof(p), "%s/layers", root);
    assert_int_equal(count_entries(p), 0);
    snprintf(p, sizeof(p), "%s/blobs/sha256", root);
    assert_int_equal(count_entries(p), 0);
    images_store_close(s);
}

static void test_import_dir_skips_imported(void **state)
{
    fixture_t *f = *state;
    char dir[600], tarpath[700], id[IMAGES_DIGEST_LEN + 1];
    snprintf(dir, sizeof(dir), "%s/agent/images", f->dir);
    util_error_t err = NULL;
    assert_int_equal(util_mkdir_p(dir, 0755, &err), 0);
    snprintf(tarpath, sizeof(tarpath), "%s/one.tar", dir);
    write_docker_archive(tarpath, "one:1", "1", false, id);
    snprintf(tarpath, sizeof(tarpath), "%s/broken.tar", dir);
    assert_int_equal(util_write_file_atomic(tarpath, "junk", 4, 0644, &err), 0);
    snprintf(tarpath, sizeof(tarpath), "%s/notes.txt", dir);
    assert_int_equal(util_write_file_atomic(tarpath, "x", 1, 0644, &err), 0);
    images_store_t *s = NULL;
    assert_int_equal(images_store_open(f->dir, NULL, &s, &err), 0);
    util_strv_t failed = {0};
    assert_int_equal(images_import_dir(s, dir, &failed, &err), 1);
    assert_int_equal(failed.n, 1);
    assert_non_null(strstr(failed.v[0], "broken.tar"));
    util_strv_clear(&failed);
    assert_int_equal(images_import_dir(s, dir, &failed, &err), 0); /* already imported */
    util_strv_clear(&failed);
    /* the same content under another name is recognised by its sha256 */
    char a[700], b[700];
    snprintf(a, sizeof(a), "%s/one.tar", dir);
    snprintf(b, sizeof(b), "%s/copy.tar", dir);
    assert_int_equal(link(a, b), 0);
    assert_int_equal(images_import_dir(s, dir, &failed, &err), 0);
    util_strv_clear(&failed);
    snprintf(b, sizeof(b), "%s/missing", f->dir);
    assert_int_equal(images_import_dir(s, b, &failed, &err), 0);
    images_store_close(s);
}

/* ---- registry client pieces ------------------------------------------------------------------ */

static void test_url_and_challenge_parsing(void **state)
{
    (void)state;
    images_url_t u;
    util_error_t err = NULL;
    assert_int_equal(images_url_parse("https://reg.example:5000/v2/a/b?x=1", &u, &err), 0);
    assert_true(u.tls);
    assert_string_equal(u.host, "reg.example");
    assert_string_equal(u.port, "5000");
    assert_string_equal(u.path, "/v2/a/b?x=1");
    assert_int_equal(images_url_parse("http://127.0.0.1/token?scope=s", &u, &err), 0);
    assert_false(u.tls);
    assert_string_equal(u.port, "80");
    assert_string_equal(u.path, "/token?scope=s");
    assert_int_equal(images_url_parse("https://h", &u, &err), 0);
    assert_string_equal(u.path, "/");
    assert_string_equal(u.port, "443");
    assert_int_equal(images_url_parse("ftp://h/x", &u, &err), -EINVAL);
    util_error_free(&err);
    assert_int_equal(images_url_parse("https:///x", &u, &err), -EINVAL);
    util_error_free(&err);
    const char *ch = "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                     "scope=\"repository:library/busybox:pull\"";
    char *v = images_http_challenge_param(ch, "realm");
    assert_string_equal(v, "https://auth.docker.io/token");
    free(v);
    v = images_http_challenge_param(ch, "service");
    assert_string_equal(v, "registry.docker.io");
    free(v);
    v = images_http_challenge_param(ch, "scope");
    assert_string_equal(v, "repository:library/busybox:pull");
    free(v);
    assert_null(images_http_challenge_param(ch, "error"));
    assert_null(images_http_challenge_param("Bearer realm=\"unterminated", "realm"));
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unpack_files_dirs_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_path_stays_in_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_out_then_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_out_manual_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hardlink_out_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_archives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_sizes_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts_and_opaque, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices_and_forged_xattrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_existing_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_layers, setup, teardown),
        cmocka_unit_test(test_reference_normalisation),
        cmocka_unit_test_setup_teardown(test_store_import_get_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rejects_bad_diffid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_crash_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_dir_skips_imported, setup, teardown),
        cmocka_unit_test(test_url_and_challenge_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
