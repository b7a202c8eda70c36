/* apiserver_proto: protobuf request bodies to JSON (see apiserver_proto.h). kubectl 1.33's
 * generators (create configmap, secret, deployment, ...) send their objects as protobuf; the
 * registry stores JSON, so the body is turned into the JSON the Go type marshals to: field
 * names, omitempty, pointers and ",inline" come from the Go struct tags recorded in the tables,
 * and the apimachinery types with custom JSON (Time, Quantity, IntOrString, ...) are special. */
#include "apiserver_proto.h"

#include <k8s_proto.h>
#include <mbedtls/base64.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} pb_reader_t;

/* The decoded value of one wire field: a varint/fixed number or a length-delimited slice. */
typedef struct {
    int wire;
    uint64_t num;
    pb_reader_t sub;
} pb_value_t;

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

/* ===== wire level ===== */

static bool read_varint(pb_reader_t *r, uint64_t *ret)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return false;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return true;
        }
    }
    return false;
}

static bool read_fixed(pb_reader_t *r, unsigned n, uint64_t *ret)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *ret = v;
    return true;
}

/* Reads the next field's number and value; groups (wire types 3, 4) are refused. */
static bool read_field(pb_reader_t *r, uint32_t *ret_number, pb_value_t *ret)
{
    uint64_t key, n;
    if (!read_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return false;
    ret->wire = (int)(key & 7);
    switch (ret->wire) {
    case WIRE_VARINT:
        if (!read_varint(r, &ret->num))
            return false;
        break;
    case WIRE_FIXED64:
        if (!read_fixed(r, 8, &ret->num))
            return false;
        break;
    case WIRE_FIXED32:
        if (!read_fixed(r, 4, &ret->num))
            return false;
        break;
    case WIRE_LEN:
        if (!read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return false;
        ret->sub.p = r->p;
        ret->sub.end = r->p + n;
        r->p += n;
        break;
    default:
        return false;
    }
    *ret_number = (uint32_t)(key >> 3);
    return true;
}

/* The fields 1..4 of a small message (the special types), last occurrence wins. */
typedef struct {
    bool has[5];
    pb_value_t v[5];
} pb_small_t;

static bool read_small(pb_reader_t r, pb_small_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    while (r.p < r.end) {
        uint32_t no;
        pb_value_t v;
        if (!read_field(&r, &no, &v))
            return false;
        if (no <= 4) {
            ret->has[no] = true;
            ret->v[no] = v;
        }
    }
    return true;
}

static cJSON *string_of(pb_reader_t s)
{
    size_t n = (size_t)(s.end - s.p);
    if (n == 0)
        return cJSON_CreateString("");
    if (memchr(s.p, 0, n))
        return NULL; /* JSON text cannot carry NUL through the C string APIs */
    char *buf = malloc(n + 1);
    if (!buf)
        return NULL;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    cJSON *item = cJSON_CreateString(buf);
    free(buf);
    return item;
}

static cJSON *base64_of(pb_reader_t s)
{
    size_t n = (size_t)(s.end - s.p), olen = 0;
    if (n == 0)
        return cJSON_CreateString("");
    size_t cap = 4 * ((n + 2) / 3) + 1;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return NULL;
    cJSON *item = NULL;
    if (mbedtls_base64_encode(buf, cap, &olen, s.p, n) == 0)
        item = cJSON_CreateString((char *)buf);
    free(buf);
    return item;
}

/* ===== the special apimachinery types ===== */

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm; no time_t range issues
 * on 32-bit targets). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* metav1.Time / MicroTime: {seconds, nanos}; an empty message is the zero time (JSON null,
 * omitted here). RFC 3339 in UTC, MicroTime with six fractional digits. */
static int decode_time(pb_reader_t r, bool micro, cJSON **ret)
{
    pb_small_t s;
    if (!read_small(r, &s))
        return -1;
    if (r.p == r.end) {
        *ret = NULL;
        return 0;
    }
    int64_t secs = s.has[1] ? (int64_t)s.v[1].num : 0;
    int64_t nanos = s.has[2] ? (int32_t)s.v[2].num : 0;
    /* years 0001..9999, like Go's RFC 3339 marshalling */
    if (secs < -62135596800LL || secs > 253402300799LL || nanos < 0 || nanos > 999999999)
        return -1;
    int64_t days = (secs >= 0 ? secs : secs - 86399) / 86400, sod = secs - days * 86400;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d", (int)y, mo, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    if (micro)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%06d", (int)(nanos / 1000));
    snprintf(buf + n, sizeof(buf) - (size_t)n, "Z");
    *ret = cJSON_CreateString(buf);
    return *ret ? 0 : -1;
}

/* Go's time.Duration.String for the nanosecond count D. */
static void format_duration(int64_t d, char *buf, size_t len)
{
    const char *sign = d < 0 ? "-" : "";
    uint64_t u = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    if (u == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    static const struct {
        uint64_t div;
        const char *unit;
        int digits;
    } small[] = {{1, "ns", 0}, {1000, "\xc2\xb5s", 3}, {1000000, "ms", 6}, {1000000000, "s", 9}};
    int i = u < 1000 ? 0 : u < 1000000 ? 1 : u < 1000000000 ? 2 : 3;
    uint64_t whole = u / small[i].div, frac = u % small[i].div;
    char fbuf[16] = "";
    if (frac) {
        snprintf(fbuf, sizeof(fbuf), ".%0*llu", small[i].digits, (unsigned long long)frac);
        for (size_t n = strlen(fbuf); n > 0 && fbuf[n - 1] == '0'; n--)
            fbuf[n - 1] = '\0';
    }
    if (i < 3) {
        snprintf(buf, len, "%s%llu%s%s", sign, (unsigned long long)whole, fbuf, small[i].unit);
        return;
    }
    unsigned long long h = whole / 3600, m = whole / 60 % 60, s = whole % 60;
    if (h)
        snprintf(buf, len, "%s%lluh%llum%llu%ss", sign, h, m, s, fbuf);
    else if (m)
        snprintf(buf, len, "%s%llum%llu%ss", sign, m, s, fbuf);
    else
        snprintf(buf, len, "%s%llu%ss", sign, s, fbuf);
}

static int decode_special(int special, pb_reader_t r, cJSON **ret)
{
    pb_small_t s;
    char buf[64];
    if (special == K8S_PB_SPECIAL_TIME || special == K8S_PB_SPECIAL_MICROTIME)
        return decode_time(r, special == K8S_PB_SPECIAL_MICROTIME, ret);
    if (!read_small(r, &s))
        return -1;
    switch (special) {
    case K8S_PB_SPECIAL_DURATION:
        format_duration(s.has[1] ? (int64_t)s.v[1].num : 0, buf, sizeof(buf));
        *ret = cJSON_CreateString(buf);
        break;
    case K8S_PB_SPECIAL_QUANTITY:
        if (s.has[1] && s.v[1].wire != WIRE_LEN)
            return -1;
        *ret = s.has[1] ? string_of(s.v[1].sub) : cJSON_CreateString("0");
        break;
    case K8S_PB_SPECIAL_INTORSTRING:
        if (s.has[1] && s.v[1].num == 1) {
            if (s.has[3] && s.v[3].wire != WIRE_LEN)
                return -1;
            *ret = s.has[3] ? string_of(s.v[3].sub) : cJSON_CreateString("");
        } else {
            *ret = cJSON_CreateNumber(s.has[2] ? (int32_t)s.v[2].num : 0);
        }
        break;
    case K8S_PB_SPECIAL_RAWJSON:
        if (!s.has[1] || s.v[1].wire != WIRE_LEN || s.v[1].sub.p == s.v[1].sub.end) {
            *ret = NULL; /* an empty RawExtension / FieldsV1 marshals as null */
            return 0;
        }
        *ret = cJSON_ParseWithLength((const char *)s.v[1].sub.p,
                                     (size_t)(s.v[1].sub.end - s.v[1].sub.p));
        break;
    default:
        return -1;
    }
    return *ret ? 0 : -1;
}

/* ===== messages by the tables ===== */

static int decode_message(const k8s_proto_message_t *msg, pb_reader_t r, int depth, cJSON *into);

static bool wire_fits(int type, int wire)
{
    switch (type) {
    case K8S_PB_STRING:
    case K8S_PB_BYTES:
    case K8S_PB_MESSAGE:
        return wire == WIRE_LEN;
    case K8S_PB_DOUBLE:
        return wire == WIRE_FIXED64;
    case K8S_PB_FLOAT:
        return wire == WIRE_FIXED32;
    default:
        return wire == WIRE_VARINT;
    }
}

/* A message-typed value: special types by their own rules, slice wrappers as arrays. */
static int decode_submessage(const k8s_proto_message_t *m, pb_reader_t sub, int depth, cJSON **ret)
{
    if (depth >= APISERVER_PROTO_MAX_DEPTH)
        return -1;
    if (m->special != K8S_PB_SPECIAL_NONE && m->special != K8S_PB_SPECIAL_ARRAY)
        return decode_special(m->special, sub, ret);
    cJSON *obj = cJSON_CreateObject();
    if (!obj || decode_message(m, sub, depth + 1, obj) < 0) {
        cJSON_Delete(obj);
        return -1;
    }
    if (m->special == K8S_PB_SPECIAL_ARRAY) {
        cJSON *arr = obj->child ? cJSON_DetachItemViaPointer(obj, obj->child) : NULL;
        cJSON_Delete(obj);
        *ret = arr ? arr : cJSON_CreateArray();
        return *ret ? 0 : -1;
    }
    *ret = obj;
    return 0;
}

/* One value of field F's element type; *RET NULL means "omit" (e.g. the zero Time). */
static int decode_value(const k8s_proto_field_t *f, const pb_value_t *v, int depth, cJSON **ret)
{
    double d;
    float fl;
    *ret = NULL;
    if (!wire_fits(f->type, v->wire))
        return -1;
    switch (f->type) {
    case K8S_PB_STRING:
        *ret = string_of(v->sub);
        break;
    case K8S_PB_BYTES:
        *ret = base64_of(v->sub);
        break;
    case K8S_PB_BOOL:
        *ret = cJSON_CreateBool(v->num != 0);
        break;
    case K8S_PB_INT32:
        *ret = cJSON_CreateNumber((int32_t)v->num);
        break;
    case K8S_PB_INT64:
        *ret = cJSON_CreateNumber((double)(int64_t)v->num);
        break;
    case K8S_PB_UINT32:
        *ret = cJSON_CreateNumber((uint32_t)v->num);
        break;
    case K8S_PB_UINT64:
        *ret = cJSON_CreateNumber((double)v->num);
        break;
    case K8S_PB_DOUBLE:
        memcpy(&d, &v->num, sizeof(d));
        *ret = cJSON_CreateNumber(d);
        break;
    case K8S_PB_FLOAT: {
        uint32_t bits = (uint32_t)v->num;
        memcpy(&fl, &bits, sizeof(fl));
        *ret = cJSON_CreateNumber(fl);
        break;
    }
    case K8S_PB_MESSAGE:
        return decode_submessage(&k8s_proto_messages[f->message], v->sub, depth, ret);
    default:
        return -1;
    }
    return *ret ? 0 : -1;
}

static bool is_zero(const cJSON *item)
{
    if (cJSON_IsString(item))
        return item->valuestring[0] == '\0';
    if (cJSON_IsNumber(item))
        return item->valuedouble == 0;
    return cJSON_IsFalse(item);
}

/* The container (array or object) named KEY in INTO, created if missing. */
static cJSON *container(cJSON *into, const char *key, bool array)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(into, key);
    if (c && (array ? cJSON_IsArray(c) : cJSON_IsObject(c)))
        return c;
    cJSON_DeleteItemFromObjectCaseSensitive(into, key);
    c = array ? cJSON_CreateArray() : cJSON_CreateObject();
    if (c && !cJSON_AddItemToObject(into, key, c)) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* map<string, T> entry {key = 1, value = 2}; a missing value is T's zero value. Duplicate keys
 * are kept as they come, like cJSON's own parser does for JSON input. */
static int decode_map_entry(const k8s_proto_field_t *f, const pb_value_t *v, int depth, cJSON *into)
{
    pb_small_t s;
    if (v->wire != WIRE_LEN || !read_small(v->sub, &s))
        return -1;
    pb_value_t val = {.wire = wire_fits(f->type, WIRE_LEN) ? WIRE_LEN : WIRE_VARINT};
    if (f->type == K8S_PB_DOUBLE || f->type == K8S_PB_FLOAT)
        val.wire = f->type == K8S_PB_DOUBLE ? WIRE_FIXED64 : WIRE_FIXED32;
    if (s.has[2])
        val = s.v[2];
    if (s.has[1] && s.v[1].wire != WIRE_LEN)
        return -1;
    cJSON *map = container(into, f->json, false), *item = NULL;
    cJSON *key = s.has[1] ? string_of(s.v[1].sub) : cJSON_CreateString("");
    int rc = -1;
    if (map && key && decode_value(f, &val, depth, &item) == 0) {
        if (!item)
            item = cJSON_CreateNull();
        rc = item && cJSON_AddItemToObject(map, key->valuestring, item) ? 0 : -1;
        if (rc < 0)
            cJSON_Delete(item);
    }
    cJSON_Delete(key);
    return rc;
}

/* A repeated field: one element, or (numbers only) a packed run of them. */
static int decode_repeated(const k8s_proto_field_t *f, const pb_value_t *v, int depth, cJSON *into)
{
    cJSON *arr = container(into, f->json, true), *item;
    if (!arr)
        return -1;
    if (v->wire == WIRE_LEN && !wire_fits(f->type, WIRE_LEN)) {
        pb_reader_t r = v->sub;
        while (r.p < r.end) {
            pb_value_t e = {.wire = WIRE_VARINT};
            bool ok = f->type == K8S_PB_DOUBLE  ? (e.wire = WIRE_FIXED64, read_fixed(&r, 8, &e.num))
                      : f->type == K8S_PB_FLOAT ? (e.wire = WIRE_FIXED32, read_fixed(&r, 4, &e.num))
                                                : read_varint(&r, &e.num);
            if (!ok || decode_value(f, &e, depth, &item) < 0 || !cJSON_AddItemToArray(arr, item))
                return -1;
        }
        return 0;
    }
    if (decode_value(f, v, depth, &item) < 0)
        return -1;
    if (!item)
        item = cJSON_CreateNull();
    return item && cJSON_AddItemToArray(arr, item) ? 0 : -1;
}

static int decode_field(const k8s_proto_field_t *f, const pb_value_t *v, int depth, cJSON *into)
{
    if (!strcmp(f->json, "-"))
        return 0;
    if (f->flags & K8S_PB_F_MAP)
        return decode_map_entry(f, v, depth, into);
    if (f->flags & K8S_PB_F_REPEATED)
        return decode_repeated(f, v, depth, into);
    if ((f->flags & K8S_PB_F_INLINE) && f->type == K8S_PB_MESSAGE) {
        if (v->wire != WIRE_LEN || depth >= APISERVER_PROTO_MAX_DEPTH)
            return -1;
        return decode_message(&k8s_proto_messages[f->message], v->sub, depth + 1, into);
    }
    cJSON *item;
    if (decode_value(f, v, depth, &item) < 0)
        return -1;
    if (!item)
        return 0;
    /* Go's omitempty drops zero scalars; a pointer on the wire was set, zero or not */
    if ((f->flags & K8S_PB_F_OMITEMPTY) && !(f->flags & K8S_PB_F_POINTER) &&
        f->type != K8S_PB_MESSAGE && is_zero(item)) {
        cJSON_Delete(item);
        return 0;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(into, f->json);
    if (!cJSON_AddItemToObject(into, f->json, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

static int decode_message(const k8s_proto_message_t *msg, pb_reader_t r, int depth, cJSON *into)
{
    while (r.p < r.end) {
        uint32_t no;
        pb_value_t v;
        if (!read_field(&r, &no, &v))
            return -1;
        const k8s_proto_field_t *f = k8s_proto_find_field(msg, no);
        if (f && decode_field(f, &v, depth, into) < 0)
            return -1;
    }
    return 0;
}

/* ===== runtime.Unknown envelope ===== */

static bool copy_string(const pb_small_t *s, int no, char *buf, size_t len)
{
    if (!s->has[no] || s->v[no].wire != WIRE_LEN)
        return false;
    size_t n = (size_t)(s->v[no].sub.end - s->v[no].sub.p);
    if (n == 0 || n >= len || memchr(s->v[no].sub.p, 0, n))
        return false;
    memcpy(buf, s->v[no].sub.p, n);
    buf[n] = '\0';
    return true;
}

cJSON *apiserver_proto_decode(const void *data, size_t len, char *err, size_t errlen)
{
    const uint8_t *p = data;
    pb_small_t unknown, type_meta;
    char api_version[128], kind[128];
    if (len > APISERVER_PROTO_MAX_BODY) {
        snprintf(err, errlen, "protobuf body larger than %u bytes", APISERVER_PROTO_MAX_BODY);
        return NULL;
    }
    if (len < 4 || memcmp(p, "k8s\0", 4) != 0) {
        snprintf(err, errlen, "protobuf body without the k8s\\x00 prefix");
        return NULL;
    }
    pb_reader_t r = {p + 4, p + len};
    if (!read_small(r, &unknown) || !unknown.has[1] || unknown.v[1].wire != WIRE_LEN ||
        !read_small(unknown.v[1].sub, &type_meta) ||
        !copy_string(&type_meta, 1, api_version, sizeof(api_version)) ||
        !copy_string(&type_meta, 2, kind, sizeof(kind))) {
        snprintf(err, errlen, "malformed protobuf envelope (runtime.Unknown with typeMeta)");
        return NULL;
    }
    if (unknown.has[3] &&
        (unknown.v[3].wire != WIRE_LEN || unknown.v[3].sub.p != unknown.v[3].sub.end)) {
        snprintf(err, errlen, "protobuf content encodings are not supported");
        return NULL;
    }
    const k8s_proto_message_t *msg = k8s_proto_find_kind(api_version, kind);
    if (!msg) {
        snprintf(err, errlen, "no protobuf schema for %s, Kind=%s", api_version, kind);
        return NULL;
    }
    pb_reader_t raw = {p + len, p + len};
    if (unknown.has[2]) {
        if (unknown.v[2].wire != WIRE_LEN) {
            snprintf(err, errlen, "malformed protobuf envelope (raw)");
            return NULL;
        }
        raw = unknown.v[2].sub;
    }
    cJSON *obj = cJSON_CreateObject();
    if (!obj || !cJSON_AddStringToObject(obj, "apiVersion", api_version) ||
        !cJSON_AddStringToObject(obj, "kind", kind) || decode_message(msg, raw, 1, obj) < 0) {
        cJSON_Delete(obj);
        snprintf(err, errlen, "malformed protobuf body for %s, Kind=%s", api_version, kind);
        return NULL;
    }
    return obj;
}
