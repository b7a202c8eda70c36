/* test_apiserver_list_cache: gzip responses (Accept-Encoding, members assembled around a
 * pre-compressed part), the list cache (kept until a newer write touches its prefix) and the
 * objects kept for gets (until a newer write touches their key). */
#include "unit.h"
#include "apiserver/apiserver_get_cache.h"
#include "apiserver/apiserver_gzip.h"
#include "apiserver/apiserver_internal.h"
#include "apiserver/apiserver_list_cache.h"
#include "store/store.h"

#include <errno.h>
#include <zlib.h>

/* ---- gzip --------------------------------------------------------------------------------- */

static void test_gzip_accepted(void **state)
{
    (void)state;
    assert_true(apiserver_gzip_accepted("gzip"));
    assert_true(apiserver_gzip_accepted("deflate, gzip"));
    assert_true(apiserver_gzip_accepted("gzip;q=0.5, deflate"));
    assert_true(apiserver_gzip_accepted(" GZIP "));
    assert_false(apiserver_gzip_accepted(""));
    assert_false(apiserver_gzip_accepted("identity"));
    assert_false(apiserver_gzip_accepted("gzip;q=0"));
    assert_false(apiserver_gzip_accepted("gzip; q=0.000, br"));
    assert_false(apiserver_gzip_accepted("x-gzip"));
    assert_false(apiserver_gzip_accepted("gzipped"));
}

/* Inflates one gzip member (checking its CRC-32 and length, as zlib does) into out. */
static int gunzip(const util_buf_t *in, util_buf_t *out)
{
    z_stream z = {0};
    if (inflateInit2(&z, 16 + 15) != Z_OK)
        return -1;
    z.next_in = (Bytef *)in->data;
    z.avail_in = (uInt)in->len;
    int rc;
    do {
        util_buf_reserve(out, 65536);
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        rc = inflate(&z, Z_NO_FLUSH);
        out->len = (size_t)((char *)z.next_out - out->data);
        out->data[out->len] = '\0';
    } while (rc == Z_OK);
    inflateEnd(&z);
    return rc == Z_STREAM_END && z.avail_in == 0 ? 0 : -1;
}

static char *sample_items(size_t n, size_t *ret_len)
{
    util_buf_t b = {0};
    for (size_t i = 0; i < n; i++)
        util_buf_printf(&b, "%s{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p-%zu\"}}", i ? "," : "",
                        i);
    *ret_len = b.len;
    return util_buf_steal(&b);
}

static void test_gzip_member_around_a_part(void **state)
{
    (void)state;
    size_t len;
    char *items = sample_items(5000, &len); /* > 64 KiB: several stored blocks for the head */
    apiserver_gzip_part_t part;
    assert_int_equal(apiserver_gzip_part_make(items, len, &part), 0);
    assert_true(part.deflated.len < len / 4);
    util_buf_t head = {0};
    util_buf_puts(&head, "{\"kind\":\"PodList\",\"items\":[");
    for (int i = 0; i < 70000; i++) /* a head longer than one stored block */
        util_buf_puts(&head, " ");
    util_buf_t z = {0}, plain = {0};
    assert_int_equal(apiserver_gzip_member(&z, head.data, head.len, &part, "]}", 2), 0);
    assert_int_equal(gunzip(&z, &plain), 0);
    assert_int_equal(plain.len, head.len + len + 2);
    assert_memory_equal(plain.data, head.data, head.len);
    assert_memory_equal(plain.data + head.len, items, len);
    assert_string_equal(plain.data + head.len + len, "]}");
    /* the same part again, other head: the part is reusable */
    util_buf_reset(&z);
    util_buf_reset(&plain);
    assert_int_equal(apiserver_gzip_member(&z, "[", 1, &part, NULL, 0), 0);
    assert_int_equal(gunzip(&z, &plain), 0);
    assert_int_equal(plain.len, len + 1);
    /* an empty part and a whole body */
    apiserver_gzip_part_t empty;
    assert_int_equal(apiserver_gzip_part_make("", 0, &empty), 0);
    util_buf_reset(&z);
    util_buf_reset(&plain);
    assert_int_equal(apiserver_gzip_member(&z, "{}", 2, &empty, "", 0), 0);
    assert_int_equal(gunzip(&z, &plain), 0);
    assert_string_equal(plain.data, "{}");
    util_buf_reset(&z);
    util_buf_reset(&plain);
    assert_int_equal(apiserver_gzip_compress(&z, items, len), 0);
    assert_int_equal(gunzip(&z, &plain), 0);
    assert_int_equal(plain.len, len);
    assert_memory_equal(plain.data, items, len);
    apiserver_gzip_part_free(&empty);
    apiserver_gzip_part_free(&part);
    util_buf_free(&z);
    util_buf_free(&plain);
    util_buf_free(&head);
    free(items);
}

/* ---- list cache ----------------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    char path[600];
    uv_loop_t loop;
    store_t *s;
    apiserver_t a;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->dir = unit_tmpdir();
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    store_options_t o;
    store_options_default(&o);
    o.path = f->path;
    o.loop = &f->loop;
    o.compact_interval_ms = 0;
    assert_int_equal(store_open(&o, &f->s, NULL), 0);
    f->a.opts.store = f->s;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    apiserver_list_cache_free(&f->a);
    store_close(f->s);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    unit_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A write, then the loop passes that publish its events. */
static int64_t put(fixture_t *f, const char *key, store_op_type_t type)
{
    store_op_t op = {.type = type,
                     .key = key,
                     .key_len = strlen(key),
                     .value = "{}",
                     .value_len = type == STORE_OP_DELETE ? 0 : 2};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    int64_t rev = res.rev;
    store_txn_result_free(&res);
    for (int i = 0; i < 3; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    return rev;
}

static void cache_put(fixture_t *f, const char *prefix, const char *text, int64_t rev)
{
    util_buf_t items = {0};
    util_buf_puts(&items, text);
    apiserver_list_cache_put(&f->a, prefix, &items, 1, rev);
    assert_null(items.data); /* taken */
}

static void test_list_cache_dropped_by_a_write_under_its_prefix(void **state)
{
    fixture_t *f = *state;
    const char *prefix = "/registry/core/pods/ns1/";
    int64_t rev = 0;
    assert_null(apiserver_list_cache_get(&f->a, prefix, 0, &rev)); /* starts the watch */
    int64_t r1 = put(f, "/registry/core/pods/ns1/a", STORE_OP_CREATE);
    cache_put(f, prefix, "{\"a\":1}", r1);
    apiserver_list_entry_t *e = apiserver_list_cache_get(&f->a, prefix, 0, &rev);
    assert_non_null(e);
    assert_string_equal(e->items.data, "{\"a\":1}");
    assert_int_equal(rev, r1);
    /* writes elsewhere keep it, and the answer stands for the newer revision */
    int64_t r2 = put(f, "/registry/core/pods/ns10/x", STORE_OP_CREATE);
    int64_t r3 = put(f, "/registry/core/configmaps/ns1/x", STORE_OP_CREATE);
    assert_true(r3 > r2 && r2 > r1);
    e = apiserver_list_cache_get(&f->a, prefix, 0, &rev);
    assert_non_null(e);
    assert_int_equal(rev, r3);
    /* a resourceVersion newer than what the server has seen is not answered from it */
    assert_null(apiserver_list_cache_get(&f->a, prefix, r3 + 1, &rev));
    assert_non_null(apiserver_list_cache_get(&f->a, prefix, r3, &rev));
    /* an update under the prefix drops it */
    put(f, "/registry/core/pods/ns1/a", STORE_OP_PUT);
    assert_null(apiserver_list_cache_get(&f->a, prefix, 0, &rev));
    /* so does a delete */
    int64_t r5 = put(f, "/registry/core/pods/ns1/b", STORE_OP_CREATE);
    cache_put(f, prefix, "{}", r5);
    assert_non_null(apiserver_list_cache_get(&f->a, prefix, 0, &rev));
    put(f, "/registry/core/pods/ns1/b", STORE_OP_DELETE);
    assert_null(apiserver_list_cache_get(&f->a, prefix, 0, &rev));
}

static void test_list_cache_keeps_writes_it_already_holds(void **state)
{
    fixture_t *f = *state;
    const char *all = "/registry/core/pods/";
    int64_t rev = 0;
    assert_null(apiserver_list_cache_get(&f->a, all, 0, &rev));
    /* a write whose event is not delivered yet when the list is read at its revision */
    store_op_t op = {.type = STORE_OP_CREATE,
                     .key = "/registry/core/pods/n/a",
                     .key_len = strlen("/registry/core/pods/n/a"),
                     .value = "{}",
                     .value_len = 2};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    int64_t r1 = res.rev;
    store_txn_result_free(&res);
    cache_put(f, all, "{\"a\":1}", r1); /* read at r1: holds the write */
    for (int i = 0; i < 3; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT); /* its event arrives: not newer than the entry */
    assert_non_null(apiserver_list_cache_get(&f->a, all, 0, &rev));
    assert_int_equal(rev, r1);
    /* an older read does not replace a newer entry; a newer one does */
    cache_put(f, all, "{\"old\":1}", r1 - 1);
    apiserver_list_entry_t *e = apiserver_list_cache_get(&f->a, all, 0, &rev);
    assert_string_equal(e->items.data, "{\"a\":1}");
    /* the compressed items are made once */
    const apiserver_gzip_part_t *gz = apiserver_list_cache_gzip(&f->a, e);
    assert_non_null(gz);
    assert_ptr_equal(apiserver_list_cache_gzip(&f->a, e), gz);
    assert_int_equal(gz->len, e->items.len);
}

static void test_list_cache_evicts_the_least_recently_used(void **state)
{
    fixture_t *f = *state;
    int64_t rev = 0;
    assert_null(apiserver_list_cache_get(&f->a, "/registry/x/", 0, &rev));
    int64_t r = put(f, "/registry/core/nodes/n", STORE_OP_CREATE);
    char prefix[64];
    for (int i = 0; i < 40; i++) {
        snprintf(prefix, sizeof(prefix), "/registry/core/pods/ns%d/", i);
        cache_put(f, prefix, "{}", r);
        assert_non_null(apiserver_list_cache_get(&f->a, "/registry/core/pods/ns0/", 0, &rev));
    }
    /* ns0 was used all along: kept; ns1 was the oldest unused one: gone */
    assert_non_null(apiserver_list_cache_get(&f->a, "/registry/core/pods/ns0/", 0, &rev));
    assert_null(apiserver_list_cache_get(&f->a, "/registry/core/pods/ns1/", 0, &rev));
    assert_non_null(apiserver_list_cache_get(&f->a, "/registry/core/pods/ns39/", 0, &rev));
}

static void test_list_cache_known_empty(void **state)
{
    fixture_t *f = *state;
    const char *prefix = "/registry/core/resourcequotas/ns1/";
    assert_false(apiserver_list_cache_known_empty(&f->a, prefix)); /* starts the watch */
    int64_t r1 = put(f, "/registry/core/resourcequotas/ns10/q", STORE_OP_CREATE);
    apiserver_list_cache_put_empty(&f->a, prefix, r1);
    assert_true(apiserver_list_cache_known_empty(&f->a, prefix));
    /* a list of the prefix answers the empty entry too */
    int64_t rev = 0;
    apiserver_list_entry_t *e = apiserver_list_cache_get(&f->a, prefix, 0, &rev);
    assert_non_null(e);
    assert_int_equal(e->count, 0);
    assert_int_equal(e->items.len, 0);
    /* a write under it: no longer known */
    put(f, "/registry/core/resourcequotas/ns1/q", STORE_OP_CREATE);
    assert_false(apiserver_list_cache_known_empty(&f->a, prefix));
    /* a non-empty entry is not empty */
    int64_t r3 = put(f, "/registry/core/limitranges/ns1/l", STORE_OP_CREATE);
    cache_put(f, "/registry/core/limitranges/ns1/", "{}", r3);
    assert_false(apiserver_list_cache_known_empty(&f->a, "/registry/core/limitranges/ns1/"));
}

/* ---- objects kept for gets ------------------------------------------------------------------ */

static store_kv_t *read_key(fixture_t *f, const char *key)
{
    store_kv_t *kv = NULL;
    assert_int_equal(store_get(f->s, key, strlen(key), 0, &kv, NULL, NULL), 0);
    return kv;
}

static void test_get_cache_dropped_by_a_newer_write_to_its_key(void **state)
{
    fixture_t *f = *state;
    const char *key = "/registry/core/pods/ns1/a";
    assert_null(apiserver_list_cache_object(&f->a, key, strlen(key))); /* starts the watch */
    int64_t r1 = put(f, key, STORE_OP_CREATE);
    apiserver_list_cache_keep_object(&f->a, read_key(f, key));
    const store_kv_t *kv = apiserver_list_cache_object(&f->a, key, strlen(key));
    assert_non_null(kv);
    assert_int_equal(kv->mod_rev, r1);
    assert_string_equal(kv->value, "{}");
    /* writes to other keys, even ones it is a prefix of, keep it */
    put(f, "/registry/core/pods/ns1/ab", STORE_OP_CREATE);
    put(f, "/registry/core/pods/ns1/", STORE_OP_CREATE);
    assert_non_null(apiserver_list_cache_object(&f->a, key, strlen(key)));
    /* an update drops it; the next read is kept again */
    int64_t r2 = put(f, key, STORE_OP_PUT);
    assert_null(apiserver_list_cache_object(&f->a, key, strlen(key)));
    apiserver_list_cache_keep_object(&f->a, read_key(f, key));
    kv = apiserver_list_cache_object(&f->a, key, strlen(key));
    assert_non_null(kv);
    assert_int_equal(kv->mod_rev, r2);
    /* a delete drops it */
    put(f, key, STORE_OP_DELETE);
    assert_null(apiserver_list_cache_object(&f->a, key, strlen(key)));
    /* keys the watch does not cover are not kept */
    const char *other = "/other/x";
    put(f, other, STORE_OP_CREATE);
    apiserver_list_cache_keep_object(&f->a, read_key(f, other));
    assert_null(apiserver_list_cache_object(&f->a, other, strlen(other)));
}

static void test_get_cache_keeps_a_read_newer_than_an_undelivered_event(void **state)
{
    fixture_t *f = *state;
    const char *key = "/registry/core/pods/n/a";
    assert_null(apiserver_list_cache_object(&f->a, key, strlen(key)));
    put(f, key, STORE_OP_CREATE);
    /* an update whose event is not delivered yet when the key is read */
    store_op_t op = {.type = STORE_OP_PUT,
                     .key = key,
                     .key_len = strlen(key),
                     .value = "{\"b\":2}",
                     .value_len = 7};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    int64_t r2 = res.rev;
    store_txn_result_free(&res);
    apiserver_list_cache_keep_object(&f->a, read_key(f, key)); /* read at r2 */
    for (int i = 0; i < 3; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT); /* its event arrives: not newer than the entry */
    const store_kv_t *kv = apiserver_list_cache_object(&f->a, key, strlen(key));
    assert_non_null(kv);
    assert_int_equal(kv->mod_rev, r2);
    assert_string_equal(kv->value, "{\"b\":2}");
}

static store_kv_t *kv_of(const char *key, size_t value_len, int64_t rev)
{
    size_t kl = strlen(key);
    store_kv_t *kv = calloc(1, sizeof(*kv) + kl + value_len + 2);
    char *k = (char *)(kv + 1), *v = k + kl + 1;
    memcpy(k, key, kl + 1);
    memset(v, 'x', value_len);
    v[value_len] = '\0';
    *kv = (store_kv_t){k, kl, v, value_len, rev, rev, 0};
    return kv;
}

static void test_get_cache_bounds(void **state)
{
    (void)state;
    apiserver_get_cache_t *gc = apiserver_get_cache_new();
    char key[64];
    for (int i = 0; i < GET_CACHE_ENTRIES + 100; i++) {
        snprintf(key, sizeof(key), "/registry/k%d", i);
        apiserver_get_cache_put(gc, kv_of(key, 10, i + 1));
        assert_non_null(apiserver_get_cache_find(gc, "/registry/k0", 12)); /* used all along */
    }
    assert_int_equal(apiserver_get_cache_count(gc), GET_CACHE_ENTRIES);
    assert_non_null(apiserver_get_cache_find(gc, "/registry/k0", 12));
    assert_null(apiserver_get_cache_find(gc, "/registry/k1", 12)); /* the oldest unused */
    snprintf(key, sizeof(key), "/registry/k%d", GET_CACHE_ENTRIES + 99);
    assert_non_null(apiserver_get_cache_find(gc, key, strlen(key)));
    /* an older read does not replace a newer entry; a newer one does */
    apiserver_get_cache_put(gc, kv_of("/registry/k0", 3, 0));
    assert_int_equal(apiserver_get_cache_find(gc, "/registry/k0", 12)->value_len, 10);
    apiserver_get_cache_put(gc, kv_of("/registry/k0", 3, 1000000));
    assert_int_equal(apiserver_get_cache_find(gc, "/registry/k0", 12)->value_len, 3);
    /* a write at the entry's own revision keeps it, a newer one drops it */
    apiserver_get_cache_written(gc, "/registry/k0", 12, 1000000);
    assert_non_null(apiserver_get_cache_find(gc, "/registry/k0", 12));
    apiserver_get_cache_written(gc, "/registry/k0", 12, 1000001);
    assert_null(apiserver_get_cache_find(gc, "/registry/k0", 12));
    /* bytes: large objects are not kept, and the total stays under the bound */
    apiserver_get_cache_put(gc, kv_of("/registry/big", GET_CACHE_BYTES / 4, 1));
    assert_null(apiserver_get_cache_find(gc, "/registry/big", 13));
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "/registry/m%d", i);
        apiserver_get_cache_put(gc, kv_of(key, GET_CACHE_BYTES / 10, 1));
    }
    assert_true(apiserver_get_cache_count(gc) < 10);
    assert_non_null(apiserver_get_cache_find(gc, "/registry/m19", 13));
    assert_null(apiserver_get_cache_find(gc, "/registry/m0", 12));
    apiserver_get_cache_clear(gc);
    assert_int_equal(apiserver_get_cache_count(gc), 0);
    assert_null(apiserver_get_cache_find(gc, "/registry/m19", 13));
    apiserver_get_cache_free(gc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip_accepted),
        cmocka_unit_test(test_gzip_member_around_a_part),
        cmocka_unit_test_setup_teardown(test_list_cache_dropped_by_a_write_under_its_prefix, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_cache_keeps_writes_it_already_holds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_cache_evicts_the_least_recently_used, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_cache_known_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_cache_dropped_by_a_newer_write_to_its_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_get_cache_keeps_a_read_newer_than_an_undelivered_event,
                                        setup, teardown),
        cmocka_unit_test(test_get_cache_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
