/* role_images: `kubeling images import|list|rm`, thin over pkg/images (docs/images.md). */
#include "roles.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "images/images.h"

static struct {
    char *creds;
    char *ca_file;
    char *registries;
    bool plain_http;
} opt;

static const util_flag_t images_flags[] = {
    {"creds", 0, UTIL_FLAG_STRING, &opt.creds, "USER:PASSWORD", "pull: registry credentials", 0, 0,
     NULL},
    {"ca-file", 0, UTIL_FLAG_STRING, &opt.ca_file, "FILE",
     "pull: CA bundle trusted for the registry (default: the system's)", 0, 0, NULL},
    {"private-registry", 0, UTIL_FLAG_STRING, &opt.registries, "FILE",
     "pull: registries.yaml with mirrors, credentials and TLS per registry", 0, 0, NULL},
    {"plain-http", 0, UTIL_FLAG_BOOL, &opt.plain_http, NULL,
     "pull: talk plain HTTP to the registry (insecure)", 0, 0, NULL},
    {0},
};

#define PROGRESS_MIN_BYTES (32ULL << 20) /* smaller imports print no progress */

typedef struct progress {
    time_t last;
    int last_pct;
    bool printed;
    uint64_t total;
} progress_t;

/* One line per 10% (or every second on a terminal, overwritten in place). */
static void on_progress(void *ud, const char *file, uint64_t done, uint64_t total)
{
    progress_t *p = ud;
    if (total < PROGRESS_MIN_BYTES || total == 0)
        return;
    p->total = total;
    int pct = (int)(done * 100 / total);
    time_t now = time(NULL);
    bool tty = isatty(STDERR_FILENO);
    if (tty ? now == p->last && pct != 100 : pct / 10 == p->last_pct / 10)
        return;
    p->last = now, p->last_pct = pct, p->printed = true;
    fprintf(stderr, "%simporting %s: %d%% (%llu of %llu MiB)%s", tty ? "\r" : "", file, pct,
            (unsigned long long)(done >> 20), (unsigned long long)(total >> 20), tty ? "" : "\n");
}

static int fail(const char *what, util_error_t err)
{
    char buf[1024];
    fprintf(stderr, "kubeling images %s: %s\n", what, util_error_text(err, buf, sizeof(buf)));
    return KUBELING_EXIT_FAILURE;
}

static int cmd_import(images_store_t *s, const util_strv_t *args)
{
    if (args->n < 2) {
        fprintf(stderr, "kubeling images import: FILE... required\n");
        return KUBELING_EXIT_USAGE;
    }
    for (size_t i = 1; i < args->n; i++) {
        cleanup_error util_error_t err = NULL;
        progress_t p = {.last_pct = -10};
        util_strv_t names = {0};
        int r = images_import_file(s, args->v[i], on_progress, &p, &names, &err);
        if (r == 0 && p.printed)
            on_progress(&p, args->v[i], p.total, p.total); /* trailing metadata is not counted */
        if (p.printed && isatty(STDERR_FILENO))
            fputc('\n', stderr);
        for (size_t k = 0; r == 0 && k < names.n; k++)
            printf("imported %s\n", names.v[k]);
        if (r == 0 && names.n == 0)
            printf("imported %s (no image names)\n", args->v[i]);
        util_strv_clear(&names);
        if (r < 0)
            return fail("import", err);
    }
    return KUBELING_EXIT_OK;
}

/* Sizes like crictl (go-units HumanSize: decimal units, 3 significant digits). */
static void human_size(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u + 1 < UTIL_ARRAY_SIZE(units))
        v /= 1000, u++;
    snprintf(buf, len, "%.4g%s", v, units[u]);
}

static void print_row(const images_image_t *img, const char *name)
{
    char repo[512] = "<none>", tag[160] = "<none>", size[32];
    if (name) {
        const char *at = strchr(name, '@');
        const char *colon = strrchr(name, ':');
        size_t rl = at ? (size_t)(at - name) : strlen(name);
        if (colon && !strchr(colon, '/') && (!at || colon < at)) {
            snprintf(tag, sizeof(tag), "%.*s", (int)((at ? at : name + strlen(name)) - colon - 1),
                     colon + 1);
            rl = (size_t)(colon - name);
        }
        snprintf(repo, sizeof(repo), "%.*s", (int)rl, name);
    }
    human_size(img->size, size, sizeof(size));
    printf("%-50s %-20s %-15.13s %s\n", repo, tag, img->id + 7, size);
}

static int cmd_list(images_store_t *s)
{
    cleanup_error util_error_t err = NULL;
    images_image_t **imgs = NULL;
    size_t n = 0;
    if (images_list(s, &imgs, &n, &err) < 0)
        return fail("list", err);
    printf("%-50s %-20s %-15s %s\n", "IMAGE", "TAG", "IMAGE ID", "SIZE");
    for (size_t i = 0; i < n; i++) {
        if (imgs[i]->names.n == 0)
            print_row(imgs[i], NULL);
        for (size_t k = 0; k < imgs[i]->names.n; k++)
            print_row(imgs[i], imgs[i]->names.v[k]);
    }
    images_image_list_free(imgs, n);
    return KUBELING_EXIT_OK;
}

static int cmd_rm(images_store_t *s, const util_strv_t *args)
{
    if (args->n < 2) {
        fprintf(stderr, "kubeling images rm: REF... required\n");
        return KUBELING_EXIT_USAGE;
    }
    for (size_t i = 1; i < args->n; i++) {
        cleanup_error util_error_t err = NULL;
        if (images_remove(s, args->v[i], &err) < 0)
            return fail("rm", err);
        printf("Deleted: %s\n", args->v[i]);
    }
    return KUBELING_EXIT_OK;
}

static int cmd_pull(images_store_t *s, const util_strv_t *args)
{
    if (args->n < 2) {
        fprintf(stderr, "kubeling images pull: REF... required\n");
        return KUBELING_EXIT_USAGE;
    }
    cleanup_free char *user = opt.creds ? util_xstrdup(opt.creds) : NULL;
    char *pass = user ? strchr(user, ':') : NULL;
    if (pass)
        *pass++ = '\0';
    images_registries_t *rg = NULL;
    cleanup_error util_error_t lerr = NULL;
    if (opt.registries && images_registries_load(opt.registries, false, &rg, &lerr) < 0)
        return fail("pull", lerr);
    bool current = false;
    images_pull_opts_t po = {.username = user,
                             .password = pass,
                             .ca_file = opt.ca_file,
                             .plain_http = opt.plain_http,
                             .registries = rg,
                             .ret_up_to_date = &current};
    int rc = KUBELING_EXIT_OK;
    for (size_t i = 1; i < args->n; i++) {
        cleanup_error util_error_t err = NULL;
        cleanup_free char *id = NULL;
        if (images_pull(s, args->v[i], &po, NULL, NULL, &id, &err) < 0) {
            rc = fail("pull", err);
            break;
        }
        /* "up to date": the registry names the manifest the local image came from */
        printf("pulled %s (%.19s%s)\n", args->v[i], id, current ? ", up to date" : "");
    }
    images_registries_free(rg);
    return rc;
}

static int run_images(const kubeling_globals_t *g, const util_strv_t *args)
{
    const char *sub = args->n > 0 ? args->v[0] : "";
    if (strcmp(sub, "import") && strcmp(sub, "list") && strcmp(sub, "ls") && strcmp(sub, "rm") &&
        strcmp(sub, "pull")) {
        fprintf(stderr, "kubeling images: sub-command import, pull, list or rm required\n");
        return KUBELING_EXIT_USAGE;
    }
    cleanup_error util_error_t err = NULL;
    images_store_t *s = NULL;
    if (images_store_open(g->data_dir, NULL, &s, &err) < 0)
        return fail(sub, err);
    int rc = !strcmp(sub, "import") ? cmd_import(s, args)
             : !strcmp(sub, "rm")   ? cmd_rm(s, args)
             : !strcmp(sub, "pull") ? cmd_pull(s, args)
                                    : cmd_list(s);
    images_store_close(s);
    return rc;
}

const kubeling_role_t role_images = {
    "images",
    "manage the node's image store: import FILE..., pull REF..., list, rm REF...",
    "import FILE... | pull REF... | list | rm REF...",
    images_flags,
    run_images,
    false,
    NULL,
};
