/* fuzz_tar: libFuzzer target for hostile image input: the whole input is unpacked as a layer
 * (plain or gzip) into a fresh directory beside an "outside" sentinel directory that must stay
 * empty; it is also parsed as an image reference, an image config, a URL and a
 * WWW-Authenticate challenge. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/images.h"
#include "images/images_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[256];

static void cleanup(void)
{
    images_remove_tree(AT_FDCWD, base, NULL);
}

static void setup_once(void)
{
    if (base[0])
        return;
    snprintf(base, sizeof(base), "/tmp/kubeling-fuzz-tar-XXXXXX");
    if (!mkdtemp(base))
        abort();
    char p[512];
    snprintf(p, sizeof(p), "%s/outside", base);
    mkdir(p, 0755);
    atexit(cleanup);
}

static void assert_outside_empty(void)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/outside", base);
    DIR *d = opendir(p);
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            abort(); /* a layer wrote outside its root */
    closedir(d);
    d = opendir(base);
    int n = 0;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    if (n != 2)
        abort();
}

static void fuzz_unpack(const uint8_t *data, size_t size)
{
    char root[512];
    snprintf(root, sizeof(root), "%s/root", base);
    mkdir(root, 0755);
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        abort();
    images_limits_t lim;
    images_limits_default(&lim);
    lim.max_layer_bytes = 1 << 20;
    lim.max_entries = 256;
    lim.allow_devices = false;
    images_stream_t s;
    util_error_t err = NULL;
    images__force_manual_walk = size > 0 && (data[0] & 1);
    if (images_stream_open(&s, -1, 0, size, data, 4 << 20, &err) == 0)
        images_unpack_layer(&s, fd, &lim, NULL, &err);
    images_stream_close(&s);
    util_error_free(&err);
    close(fd);
    assert_outside_empty();
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (images_remove_tree(bfd, "root", &err) < 0)
        abort();
    close(bfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    setup_once();
    fuzz_unpack(data, size);
    char *text = strndup((const char *)data, size > 600 ? 600 : size);
    images_ref_t ref;
    util_error_t err = NULL;
    if (images_ref_parse(text, &ref, &err) == 0) {
        char *s = images_ref_string(&ref);
        images_ref_t again;
        if (images_ref_parse(s, &again, &err) < 0)
            abort(); /* a normalised reference parses again */
        char *s2 = images_ref_string(&again);
        if (strcmp(s, s2))
            abort(); /* and normalises to itself */
        free(s2);
        images_ref_free(&again);
        free(s);
        images_ref_free(&ref);
    }
    util_error_free(&err);
    images_url_t url;
    images_url_parse(text, &url, &err);
    util_error_free(&err);
    free(images_http_challenge_param(text, "realm"));
    free(text);
    images_config_t cfg;
    util_strv_t ids = {0};
    if (images_config_parse((const char *)data, size, &cfg, &ids, &err) == 0) {
        images_config_clear(&cfg);
        util_strv_clear(&ids);
    }
    util_error_free(&err);
    return 0;
}
