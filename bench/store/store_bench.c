/* store_bench: the datastore benchmark: kubeling's store beside raw SQLite and etcd 3.4.
 *
 *   store_bench write sqlite-raw|kubeling DIR OPS [WRITERS WATCHERS]
 *   store_bench write etcd HOST:PORT OPS [WRITERS WATCHERS]
 *   store_bench rss DIR KEYS
 *   store_bench churn DIR UPDATES KEYS
 *
 * Workload (write): 1 KiB values; WRITERS concurrent writers each create OPS/WRITERS/2 keys
 * and then update them with compare-and-swap on the known mod revision; WATCHERS watchers on
 * the whole prefix. Prints one "key=value" line of results. */
#include "../bench.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 1024

static void value_fill(char *v, const char *key)
{
    memset(v, 'v', VALUE_SIZE);
    size_t n = strlen(key);
    memcpy(v, key, n < VALUE_SIZE ? n : VALUE_SIZE);
}

static void report(const char *backend, size_t ops, double secs, uint64_t *lat, size_t nlat,
                   const char *extra)
{
    printf("backend=%s ops=%zu secs=%.2f writes_per_s=%.0f p50_ms=%.2f p99_ms=%.2f%s\n", backend,
           ops, secs, (double)ops / secs, pct_ms(lat, nlat, 0.50), pct_ms(lat, nlat, 0.99),
           extra ? extra : "");
}

/* ---- (a) raw SQLite: one transaction, one fsync per write ---------------------------------- */

static int bench_sqlite_raw(const char *dir, size_t ops)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/raw.db", dir);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, rev INTEGER, value BLOB)",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins, *upd;
    sqlite3_prepare_v2(db, "INSERT INTO kv VALUES (?1, ?2, ?3)", -1, &ins, NULL);
    sqlite3_prepare_v2(db, "UPDATE kv SET rev = ?2, value = ?3 WHERE key = ?1 AND rev = ?2 - 1", -1,
                       &upd, NULL);
    uint64_t *lat = calloc(ops, sizeof(*lat));
    char key[64], value[VALUE_SIZE];
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < ops; i++) {
        bool create = i < ops / 2;
        snprintf(key, sizeof(key), "/bench/raw/%zu", create ? i : i - ops / 2);
        value_fill(value, key);
        sqlite3_stmt *st = create ? ins : upd;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, create ? 1 : 2);
        sqlite3_bind_blob(st, 3, value, VALUE_SIZE, SQLITE_STATIC);
        uint64_t s = now_ns();
        if (sqlite3_step(st) != SQLITE_DONE)
            return 1;
        lat[i] = now_ns() - s;
        sqlite3_reset(st);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    report("sqlite-raw", ops, secs, lat, ops, " (one writer: a transaction per write)");
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_close(db);
    free(lat);
    return 0;
}

/* ---- (b) kubeling's store ------------------------------------------------------------------ */

typedef struct kb_state kb_state_t;

typedef struct kb_writer {
    kb_state_t *b;
    int id;
    size_t done, per_writer;
    int64_t *revs; /* mod revision of each of this writer's keys */
    uint64_t started;
} kb_writer_t;

struct kb_state {
    store_t *s;
    size_t ops, completed, nwatchers;
    uint64_t *lat;
    uint64_t *fanout_max; /* per revision: slowest watcher's commit-to-delivery time */
    uint32_t *fanout_seen;
    size_t delivered;
    int64_t base_rev;
    uint64_t t0, t1;
};

static void kb_submit(kb_writer_t *w);

static void kb_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    kb_writer_t *w = ud;
    kb_state_t *b = w->b;
    if (res->status != 0) {
        fprintf(stderr, "write failed: %s\n", res->message);
        exit(1);
    }
    b->lat[b->completed++] = now_ns() - w->started;
    size_t half = w->per_writer / 2;
    w->revs[w->done % half] = res->ops[0].rev;
    w->done++;
    if (b->completed == b->ops)
        b->t1 = now_ns();
    if (w->done < w->per_writer)
        kb_submit(w);
}

static void kb_submit(kb_writer_t *w)
{
    size_t half = w->per_writer / 2, k = w->done % half;
    bool create = w->done < half;
    char key[64], value[VALUE_SIZE];
    snprintf(key, sizeof(key), "/bench/%d/%zu", w->id, k);
    value_fill(value, key);
    store_op_t op = {.type = create ? STORE_OP_CREATE : STORE_OP_UPDATE,
                     .key = key,
                     .key_len = strlen(key),
                     .value = value,
                     .value_len = VALUE_SIZE,
                     .expected_rev = create ? 0 : w->revs[k]};
    w->started = now_ns();
    if (store_txn(w->b->s, &op, 1, kb_done, w, NULL) < 0)
        exit(1);
}

static void kb_watch_cb(store_watcher_t *wt, void *ud)
{
    kb_state_t *b = ud;
    const store_event_t *e;
    while (store_watch_next(wt, &e, NULL) == 1) {
        uint64_t d = now_ns() - e->commit_ns;
        size_t i = (size_t)(e->rev - b->base_rev - 1);
        if (i < b->ops) {
            if (d > b->fanout_max[i])
                b->fanout_max[i] = d;
            if (++b->fanout_seen[i] == b->nwatchers)
                b->delivered++;
        }
        store_event_unref(e);
    }
}

static int bench_kubeling(const char *dir, size_t ops, int writers, int watchers)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/kubeling.db", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    store_options_t o;
    store_options_default(&o);
    o.path = path;
    o.loop = &loop;
    kb_state_t b = {.ops = ops, .nwatchers = (size_t)watchers};
    cleanup_error util_error_t err = NULL;
    if (store_open(&o, &b.s, &err) < 0) {
        fprintf(stderr, "%s\n", err->msg);
        return 1;
    }
    b.base_rev = store_current_rev(b.s);
    b.lat = calloc(ops, sizeof(*b.lat));
    b.fanout_max = calloc(ops, sizeof(*b.fanout_max));
    b.fanout_seen = calloc(ops, sizeof(*b.fanout_seen));
    store_watcher_t **wts = calloc((size_t)watchers + 1, sizeof(*wts));
    for (int i = 0; i < watchers; i++) {
        store_watch_opts_t wo = {
            .start = "/bench/", .start_len = 7, .end = "/bench0", .end_len = 7};
        store_watch(b.s, &wo, kb_watch_cb, &b, &wts[i], NULL);
        kb_watch_cb(wts[i], &b);
    }
    kb_writer_t *ws = calloc((size_t)writers, sizeof(*ws));
    b.t0 = now_ns();
    for (int i = 0; i < writers; i++) {
        ws[i] = (kb_writer_t){.b = &b, .id = i, .per_writer = ops / (size_t)writers};
        ws[i].revs = calloc(ws[i].per_writer, sizeof(int64_t));
        kb_submit(&ws[i]);
    }
    b.ops = (ops / (size_t)writers) * (size_t)writers;
    while (b.completed < b.ops || (watchers > 0 && b.delivered < b.ops))
        uv_run(&loop, UV_RUN_ONCE);
    store_stats_t st;
    store_stats(b.s, &st, NULL);
    double secs = (double)(b.t1 - b.t0) / 1e9;
    char extra[256];
    snprintf(extra, sizeof(extra),
             " watchers=%d watch_all_p50_ms=%.3f watch_all_p99_ms=%.3f ops_per_fsync=%.1f",
             watchers, pct_ms(b.fanout_max, watchers ? b.ops : 0, 0.50),
             pct_ms(b.fanout_max, watchers ? b.ops : 0, 0.99),
             st.batches ? (double)st.batched_ops / (double)st.batches : 0);
    report("kubeling", b.ops, secs, b.lat, b.completed, extra);
    for (int i = 0; i < watchers; i++)
        store_watch_cancel(wts[i]);
    store_close(b.s);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < writers; i++)
        free(ws[i].revs);
    free(ws);
    free(wts);
    free(b.lat);
    free(b.fanout_max);
    free(b.fanout_seen);
    return 0;
}

/* ---- (c) etcd through its v3 JSON gateway -------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static struct sockaddr_in etcd_addr;

static int etcd_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&etcd_addr, sizeof(etcd_addr)) < 0) {
        perror("connect etcd");
        exit(1);
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            exit(1);
        p += w;
        n -= (size_t)w;
    }
}

/* One request on a kept-alive connection; returns the body (Content-Length or chunked). */
static char *etcd_post(int fd, const char *path, const char *body, char *buf, size_t cap)
{
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, strlen(body));
    send_all(fd, hdr, (size_t)hl);
    send_all(fd, body, strlen(body));
    size_t len = 0;
    char *end = NULL;
    while (!(end = strstr(buf, "\r\n\r\n"))) {
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            exit(1);
        len += (size_t)r;
        buf[len] = '\0';
    }
    char *cl = strcasestr(buf, "Content-Length:");
    size_t need = cl ? strtoul(cl + 15, NULL, 10) : 0;
    char *bodyp = end + 4;
    if (!cl) { /* chunked: read until the terminating chunk */
        while (!strstr(bodyp, "\r\n0\r\n\r\n")) {
            ssize_t r = read(fd, buf + len, cap - len - 1);
            if (r <= 0)
                exit(1);
            len += (size_t)r;
            buf[len] = '\0';
        }
        return bodyp;
    }
    while ((size_t)(buf + len - bodyp) < need) {
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            exit(1);
        len += (size_t)r;
        buf[len] = '\0';
    }
    return bodyp;
}

typedef struct etcd_writer {
    int id;
    size_t per_writer;
    uint64_t *lat;
} etcd_writer_t;

static void *etcd_writer_main(void *arg)
{
    etcd_writer_t *w = arg;
    int fd = etcd_connect();
    size_t half = w->per_writer / 2;
    int64_t *revs = calloc(half, sizeof(*revs));
    char key[64], value[VALUE_SIZE], k64[128], v64[VALUE_SIZE * 2], body[VALUE_SIZE * 2 + 512];
    char *buf = malloc(65536);
    for (size_t i = 0; i < w->per_writer; i++) {
        size_t k = i % half;
        bool create = i < half;
        snprintf(key, sizeof(key), "/bench/%d/%zu", w->id, k);
        value_fill(value, key);
        b64((unsigned char *)key, strlen(key), k64);
        b64((unsigned char *)value, VALUE_SIZE, v64);
        if (create)
            snprintf(body, sizeof(body),
                     "{\"compare\":[{\"key\":\"%s\",\"result\":\"EQUAL\",\"target\":\"CREATE\","
                     "\"create_revision\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"%s\","
                     "\"value\":\"%s\"}}]}",
                     k64, k64, v64);
        else
            snprintf(body, sizeof(body),
                     "{\"compare\":[{\"key\":\"%s\",\"result\":\"EQUAL\",\"target\":\"MOD\","
                     "\"mod_revision\":\"%" PRId64 "\"}],\"success\":[{\"request_put\":{\"key\":"
                     "\"%s\",\"value\":\"%s\"}}]}",
                     k64, revs[k], k64, v64);
        buf[0] = '\0';
        uint64_t s = now_ns();
        char *resp = etcd_post(fd, "/v3/kv/txn", body, buf, 65536);
        w->lat[i] = now_ns() - s;
        char *rv = strstr(resp, "\"revision\":\"");
        if (!strstr(resp, "\"succeeded\":true") || !rv) {
            fprintf(stderr, "etcd txn failed: %.300s\n", resp);
            exit(1);
        }
        revs[k] = strtoll(rv + 12, NULL, 10);
    }
    close(fd);
    free(buf);
    free(revs);
    return NULL;
}

static volatile int etcd_stop;

static void *etcd_watcher_main(void *arg)
{
    (void)arg;
    int fd = etcd_connect();
    char k64[32], e64[32], body[256], buf[65536];
    b64((const unsigned char *)"/bench/", 7, k64);
    b64((const unsigned char *)"/bench0", 7, e64);
    snprintf(body, sizeof(body), "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\"}}", k64,
             e64);
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nContent-Length: %zu\r\n\r\n",
                      strlen(body));
    send_all(fd, hdr, (size_t)hl);
    send_all(fd, body, strlen(body));
    while (!etcd_stop && read(fd, buf, sizeof(buf)) > 0)
        ; /* consume the stream like a real watcher */
    close(fd);
    return NULL;
}

static int bench_etcd(const char *hostport, size_t ops, int writers, int watchers)
{
    char host[64];
    int port = 2379;
    sscanf(hostport, "%63[^:]:%d", host, &port);
    etcd_addr.sin_family = AF_INET;
    etcd_addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &etcd_addr.sin_addr);
    pthread_t *wt = calloc((size_t)watchers + 1, sizeof(*wt));
    for (int i = 0; i < watchers; i++)
        pthread_create(&wt[i], NULL, etcd_watcher_main, NULL);
    usleep(200000); /* let the watches register */
    size_t per = ops / (size_t)writers;
    etcd_writer_t *ws = calloc((size_t)writers, sizeof(*ws));
    pthread_t *th = calloc((size_t)writers, sizeof(*th));
    uint64_t *lat = calloc(per * (size_t)writers, sizeof(*lat));
    uint64_t t0 = now_ns();
    for (int i = 0; i < writers; i++) {
        ws[i] = (etcd_writer_t){.id = i, .per_writer = per, .lat = lat + per * (size_t)i};
        pthread_create(&th[i], NULL, etcd_writer_main, &ws[i]);
    }
    for (int i = 0; i < writers; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    char extra[64];
    snprintf(extra, sizeof(extra), " watchers=%d", watchers);
    report("etcd-3.4", per * (size_t)writers, secs, lat, per * (size_t)writers, extra);
    etcd_stop = 1;
    for (int i = 0; i < watchers; i++)
        pthread_detach(wt[i]); /* blocked in read; the process exits */
    return 0;
}

/* ---- memory and churn ---------------------------------------------------------------------- */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int load_keys(store_t *s, uv_loop_t *loop, size_t keys, size_t per_txn)
{
    char key[64], value[VALUE_SIZE];
    store_op_t ops[64];
    char keybuf[64][64];
    for (size_t i = 0; i < keys;) {
        size_t n = 0;
        for (; n < per_txn && i < keys; n++, i++) {
            snprintf(keybuf[n], sizeof(keybuf[n]), "/registry/pods/default/pod-%07zu", i);
            value_fill(value, keybuf[n]);
            ops[n] = (store_op_t){.type = STORE_OP_PUT,
                                  .key = keybuf[n],
                                  .key_len = strlen(keybuf[n]),
                                  .value = value,
                                  .value_len = VALUE_SIZE};
        }
        store_txn_result_t res;
        if (store_txn_sync(s, ops, n, &res, NULL) != 0)
            return -1;
        store_txn_result_free(&res);
        uv_run(loop, UV_RUN_NOWAIT);
    }
    (void)key;
    return 0;
}

static int bench_rss(const char *dir, size_t keys)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/rss.db", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    store_options_t o;
    store_options_default(&o);
    o.path = path;
    o.loop = &loop;
    store_t *s;
    if (store_open(&o, &s, NULL) < 0)
        return 1;
    long before = rss_kib();
    if (load_keys(s, &loop, keys, 64) < 0)
        return 1;
    /* a full list, as an apiserver start-up would do */
    store_list_t l;
    store_range(s, "/registry/", 10, "/registry0", 10, 0, 500, &l, NULL);
    store_list_free(&l);
    long after = rss_kib();
    sqlite3_int64 cache_cur, cache_hi;
    sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cache_cur, &cache_hi, 0);
    store_stats_t st;
    store_stats(s, &st, NULL);
    /* The target: RSS beyond SQLite's page cache setting (both connections' caches full). */
    printf("keys=%zu rss_start_kib=%ld rss_kib=%ld sqlite_heap_kib=%lld"
           " rss_beyond_sqlite_heap_kib=%ld page_cache_setting_kib=%d(x2 connections)"
           " rss_beyond_page_cache_setting_kib=%ld db_mib=%.1f\n",
           keys, before, after, (long long)(cache_cur / 1024), after - (long)(cache_cur / 1024),
           o.cache_kib, after - 2L * o.cache_kib, (double)(st.db_bytes + st.wal_bytes) / 1048576.0);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    return 0;
}

static int bench_churn(const char *dir, size_t updates, size_t keys)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/churn.db", dir);
    uv_loop_t loop;
    uv_loop_init(&loop);
    store_options_t o;
    store_options_default(&o);
    o.path = path;
    o.loop = &loop;
    /* kine's retention (1000 revisions), compacted every second. */
    o.compact_interval_ms = 1000;
    o.retain_age_ms = 0;
    o.retain_revs_min = 1000;
    o.retain_revs_max = 1000;
    store_t *s;
    if (store_open(&o, &s, NULL) < 0)
        return 1;
    size_t done = 0, next_report = updates / 10;
    int64_t max_db = 0;
    uint64_t t0 = now_ns();
    while (done < updates) {
        if (load_keys(s, &loop, keys, 64) < 0)
            return 1;
        done += keys;
        store_stats_t st;
        store_stats(s, &st, NULL);
        if (st.db_bytes + st.wal_bytes > max_db)
            max_db = st.db_bytes + st.wal_bytes;
        if (done >= next_report) { /* the size over time: flat means bounded */
            printf("# after %zu updates: db_mib=%.2f wal_mib=%.2f compact_rev=%" PRId64 "\n", done,
                   (double)st.db_bytes / 1048576.0, (double)st.wal_bytes / 1048576.0,
                   st.compact_rev);
            next_report += updates / 10;
        }
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    store_stats_t st;
    store_stats(s, &st, NULL);
    double live = (double)keys * (VALUE_SIZE + 40);
    printf("updates=%zu keys=%zu secs=%.1f live_mib=%.2f db_mib=%.2f wal_mib=%.2f "
           "peak_db_plus_wal_mib=%.2f ratio_to_live=%.1f compact_rev=%" PRId64 " rev=%" PRId64 "\n",
           done, keys, secs, live / 1048576.0, (double)st.db_bytes / 1048576.0,
           (double)st.wal_bytes / 1048576.0, (double)max_db / 1048576.0,
           (double)(st.db_bytes + st.wal_bytes) / live, st.compact_rev, st.rev);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    return 0;
}

int main(int argc, char **argv)
{
    /* kubeling builds SQLite with memory statistics off; the RSS bench wants them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1);
    if (argc >= 5 && !strcmp(argv[1], "write")) {
        size_t ops = strtoul(argv[4], NULL, 10);
        int writers = argc > 5 ? atoi(argv[5]) : 16, watchers = argc > 6 ? atoi(argv[6]) : 100;
        if (!strcmp(argv[2], "sqlite-raw"))
            return bench_sqlite_raw(argv[3], ops);
        if (!strcmp(argv[2], "kubeling"))
            return bench_kubeling(argv[3], ops, writers, watchers);
        if (!strcmp(argv[2], "etcd"))
            return bench_etcd(argv[3], ops, writers, watchers);
    }
    if (argc == 4 && !strcmp(argv[1], "rss"))
        return bench_rss(argv[2], strtoul(argv[3], NULL, 10));
    if (argc == 5 && !strcmp(argv[1], "churn"))
        return bench_churn(argv[2], strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10));
    fprintf(stderr, "usage: see the comment at the top of bench/store/store_bench.c\n");
    return 2;
}
