/* test_labels: label selectors, field selectors and label validation against upstream tables. */
#include "unit.h"
#include "labels/labels.h"

#include <errno.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static labels_selector_t *parse_ok(const char *text)
{
    labels_selector_t *s = NULL;
    util_error_t err = NULL;
    int r = labels_selector_parse(text, &s, &err);
    if (r < 0)
        fail_msg("parse(%s): %s", text, err->msg);
    return s;
}

/* Parses text expecting failure; returns the message (caller frees). */
static char *parse_error(const char *text)
{
    labels_selector_t *s = NULL;
    util_error_t err = NULL;
    int r = labels_selector_parse(text, &s, &err);
    if (r >= 0)
        fail_msg("parse(%s) succeeded", text);
    assert_int_equal(r, -EINVAL);
    assert_null(s);
    char *msg = strdup(err->msg);
    util_error_free(&err);
    return msg;
}

static void expect_canonical(const char *text, const char *canonical)
{
    labels_selector_t *s = parse_ok(text);
    char *out = labels_selector_string(s);
    if (strcmp(out, canonical) != 0)
        fail_msg("parse(%s).String() = '%s', want '%s'", text, out, canonical);
    free(out);
    labels_selector_free(s);
}

static void expect_parse_error(const char *text, const char *msg)
{
    char *got = parse_error(text);
    if (strcmp(got, msg) != 0)
        fail_msg("parse(%s) error\n got: %s\nwant: %s", text, got, msg);
    free(got);
}

/* labels_json: a JSON object of labels, or "null" for absent labels. */
static bool selector_matches(const char *text, const char *labels_json)
{
    labels_selector_t *s = parse_ok(text);
    cJSON *labels = cJSON_Parse(labels_json);
    assert_true(labels != NULL);
    bool m = labels_selector_matches(s, cJSON_IsNull(labels) ? NULL : labels);
    cJSON_Delete(labels);
    labels_selector_free(s);
    return m;
}

static void expect_selects(const char *text, const char *labels_json)
{
    if (!selector_matches(text, labels_json))
        fail_msg("'%s' should match %s", text, labels_json);
}

static void expect_rejects(const char *text, const char *labels_json)
{
    if (selector_matches(text, labels_json))
        fail_msg("'%s' should not match %s", text, labels_json);
}

/* ---- label selectors: parsing ---------------------------------------------------------------- */

static void selector_good_strings_restring_without_spaces(void **state)
{
    (void)state;
    /* upstream TestSelectorParse: String() is the input minus spaces */
    static const char *good[][2] = {
        {"x=a,y=b,z=c", "x=a,y=b,z=c"},
        {"", ""},
        {"x!=a,y=b", "x!=a,y=b"},
        {"x=", "x="},
        {"x= ", "x="},
        {"x=,z= ", "x=,z="},
        {"x= ,z= ", "x=,z="},
        {"!x", "!x"},
        {"x>1", "x>1"},
        {"x>1,z<5", "x>1,z<5"},
        {"x==a", "x==a"},
        {"notin=in", "notin=in"},
        {"in", "in"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(good); i++)
        expect_canonical(good[i][0], good[i][1]);
    assert_true(labels_selector_empty(NULL));
    labels_selector_t *s = parse_ok(NULL);
    assert_true(labels_selector_empty(s));
    labels_selector_free(s);
}

static void selector_bad_strings_fail(void **state)
{
    (void)state;
    static const char *bad[] = {
        "x=a||y=b",
        "x==a==b",
        "!x=a",
        "x<a",
        "x,,y",
        ",x,y",
        "x nott in (y)",
        "a in (xyz),",
        "a in (xyz)b notin ()",
        "a in (xyz abc)",
        "a notin(",
        "a (",
        "(",
        "x=a,",
        "!",
        "x in",
        "x in (a",
        "x in a",
        "x=(",
        "x!",
        "=a",
        "x/y/z",
        "/x",
        "x/",
        "x in (a,=)",
        "x<-1",
        "x>1.5",
        "x>99999999999999999999",
        "x=a b",
        "x=-a",
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad); i++)
        free(parse_error(bad[i]));
}

static void selector_parse_sorts_requirements_and_values(void **state)
{
    (void)state;
    /* upstream TestDeterministicParse and TestSetSelectorParser's expected selectors */
    static const char *cases[][2] = {
        {"x=a,a=x", "a=x,x=a"},
        {"a=x,x=a", "a=x,x=a"},
        {"\rx", "x"},
        {"this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"},
        {"this-is-another-dns.domain.com/key-with-dash in (so,what)",
         "this-is-another-dns.domain.com/key-with-dash in (so,what)"},
        {"0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
         "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"},
        {"foo  in\t (abc)", "foo in (abc)"},
        {"x notin\n (abc)", "x notin (abc)"},
        {"x  notin\t\t\t(abc,def)", "x notin (abc,def)"},
        {"x in (def,abc)", "x in (abc,def)"},
        {"x in (abc,)", "x in (,abc)"},
        {"x in (abc,abc)", "x in (abc)"},
        {"x in ()", "x in ()"},
        {"x in (a,,)", "x in (,a)"},
        {"x in (a,,,)", "x in (,a)"},
        {"x in (a,,,,,,)", "x in (,a)"},
        {"x in (a,,a,,a,,a,,)", "x in (,a)"},
        {"x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"},
        {"x,y in (a)", "x,y in (a)"},
        {"x notin ( )", "x notin ()"},
        {"x notin (, a)", "x notin (,a)"},
        {"a ", "a"},
        {"a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"},
        {"x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"},
        {"z,!y,x>7,w<0", "w<0,x>7,!y,z"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(cases); i++)
        expect_canonical(cases[i][0], cases[i][1]);
    free(parse_error("w<-0")); /* an integer, but "-0" is not a label value */
    expect_canonical("z,!y,x>7,w<0", "w<0,x>7,!y,z");
    /* stable among equal keys: upstream TestToString's "x=abc,y==jkl,z!=a,z" */
    expect_canonical("z!=a,y==jkl,x=abc,z", "x=abc,y==jkl,z!=a,z");
}

static void selector_introspection_exposes_requirements(void **state)
{
    (void)state;
    labels_selector_t *s = parse_ok("tier in (web,db),!canary,app=x");
    assert_int_equal(labels_selector_count(s), 3);
    assert_string_equal(labels_selector_key(s, 0), "app");
    assert_int_equal(labels_selector_op(s, 0), LABELS_OP_EQUALS);
    assert_string_equal(labels_selector_key(s, 1), "canary");
    assert_int_equal(labels_selector_op(s, 1), LABELS_OP_DOES_NOT_EXIST);
    assert_int_equal(labels_selector_nvalues(s, 1), 0);
    assert_int_equal(labels_selector_op(s, 2), LABELS_OP_IN);
    assert_int_equal(labels_selector_nvalues(s, 2), 2);
    assert_string_equal(labels_selector_value(s, 2, 0), "db");
    assert_string_equal(labels_selector_value(s, 2, 1), "web");
    assert_null(labels_selector_value(s, 2, 2));
    assert_null(labels_selector_key(s, 3));
    labels_selector_free(s);
}

/* ---- label selectors: upstream error messages ------------------------------------------------ */

#define KEY_REGEX_MSG                                                                           \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "      \
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define VALUE_REGEX_MSG                                                                         \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or " \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "          \
    "'my_value',  or '12345', regex used for validation is "                                    \
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

static void selector_errors_match_upstream_messages(void **state)
{
    (void)state;
    /* '|' is no special character: "a||y" lexes as the value, and fails validation first */
    expect_parse_error("x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: "
                                   "\"a||y\": " VALUE_REGEX_MSG);
    expect_parse_error("x=a,y=b c", "found 'c', expected: ',' or 'end of string'");
    expect_parse_error("x==a==b", "found '==', expected: ',' or 'end of string'");
    expect_parse_error("!x=a", "found '=', expected: ',' or 'end of string'");
    expect_parse_error("x,,y", "found ',', expected: identifier after ','");
    expect_parse_error(",x", "found ',', expected: !, identifier, or 'end of string'");
    expect_parse_error("x=a,", "found '', expected: identifier after ','");
    expect_parse_error("a in (xyz abc)",
                       "unable to parse requirement: found 'abc', expected: ',' or ')'");
    expect_parse_error("a notin(",
                       "unable to parse requirement: found '', expected: ',', ')' or identifier");
    expect_parse_error("x in a", "unable to parse requirement: found 'a' expected: '('");
    expect_parse_error("x in (a,=)", "unable to parse requirement: found '=', expected: ',', or "
                                     "identifier");
    expect_parse_error("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, "
                              "!=, gt, lt");
    expect_parse_error("x=(", "unable to parse requirement: found '(', expected: identifier");
    expect_parse_error("!!x", "unable to parse requirement: found '!', expected: identifier");
    expect_parse_error("x<a", "unable to parse requirement: values[0]: Invalid value: \"a\": for "
                              "'Gt', 'Lt' operators, the value must be an integer");
    expect_parse_error(
        "x=a@b",
        "unable to parse requirement: values[0][x]: Invalid value: \"a@b\": " VALUE_REGEX_MSG);
    expect_parse_error("x>-a",
                       "unable to parse requirement: [values[0]: Invalid value: \"-a\": for "
                       "'Gt', 'Lt' operators, the value must be an integer, values[0][x]: "
                       "Invalid value: \"-a\": " VALUE_REGEX_MSG "]");
    expect_parse_error("x/y/z", "unable to parse requirement: <nil>: Invalid value: \"x/y/z\": a "
                                "valid label key " KEY_REGEX_MSG
                                " with an optional DNS subdomain prefix and '/' (e.g. "
                                "'example.com/MyName')");
    expect_parse_error("/x",
                       "unable to parse requirement: <nil>: Invalid value: \"/x\": prefix part "
                       "must be non-empty");
    expect_parse_error("x/", "unable to parse requirement: <nil>: Invalid value: \"x/\": name part "
                             "must be non-empty; name part " KEY_REGEX_MSG);
    expect_parse_error(
        "Ex.com/a",
        "unable to parse requirement: <nil>: Invalid value: \"Ex.com/a\": prefix part a "
        "lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
        "characters, '-' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    expect_parse_error("a\"b",
                       "unable to parse requirement: <nil>: Invalid value: \"a\\\"b\": name "
                       "part " KEY_REGEX_MSG);
    char key[80];
    memset(key, 'a', 64);
    key[64] = '\0';
    char want[400];
    snprintf(want, sizeof(want),
             "unable to parse requirement: <nil>: Invalid value: \"%s\": name part must be no "
             "more than 63 bytes",
             key);
    expect_parse_error(key, want);
    key[63] = '\0';
    expect_canonical(key, key); /* 63 is fine */
}

/* ---- label selectors: matching --------------------------------------------------------------- */

static void selector_matches_upstream_table(void **state)
{
    (void)state;
    /* upstream TestSelectorMatches */
    expect_selects("", "{\"x\":\"y\"}");
    expect_selects("x=y", "{\"x\":\"y\"}");
    expect_selects("x=y,z=w", "{\"x\":\"y\",\"z\":\"w\"}");
    expect_selects("x!=y,z!=w", "{\"x\":\"z\",\"z\":\"a\"}");
    expect_selects("notin=in", "{\"notin\":\"in\"}");
    expect_selects("x", "{\"x\":\"z\"}");
    expect_selects("!x", "{\"y\":\"z\"}");
    expect_selects("x>1", "{\"x\":\"2\"}");
    expect_selects("x<1", "{\"x\":\"0\"}");
    expect_rejects("x=z", "{}");
    expect_rejects("x=y", "{\"x\":\"z\"}");
    expect_rejects("x=y,z=w", "{\"x\":\"w\",\"z\":\"w\"}");
    expect_rejects("x!=y,z!=w", "{\"x\":\"z\",\"z\":\"w\"}");
    expect_rejects("x", "{\"y\":\"z\"}");
    expect_rejects("!x", "{\"x\":\"z\"}");
    expect_rejects("x>1", "{\"x\":\"0\"}");
    expect_rejects("x<1", "{\"x\":\"2\"}");
    const char *set = "{\"foo\":\"bar\",\"baz\":\"blah\"}";
    expect_selects("foo=bar", set);
    expect_selects("baz=blah", set);
    expect_selects("foo=bar,baz=blah", set);
    expect_selects("foo==bar", set);
    expect_rejects("foo=blah", set);
    expect_rejects("baz=bar", set);
    expect_rejects("foo=bar,foobar=bar,baz=blah", set);
}

static void selector_set_operators_and_missing_keys(void **state)
{
    (void)state;
    /* upstream TestRequirementSelectorMatching */
    expect_selects("x in (foo),y notin (alpha)", "{\"x\":\"foo\",\"y\":\"baz\"}");
    expect_rejects("x in (foo),y in (alpha)", "{\"x\":\"foo\",\"y\":\"baz\"}");
    expect_selects("x notin (),y", "{\"y\":\"\"}");
    expect_selects("!x,y", "{\"y\":\"\"}");
    expect_rejects("x notin (),!y", "{\"y\":\"\"}");
    expect_rejects("x in ()", "{\"y\":\"baz\"}");
    expect_selects("x in ()", "{\"x\":\"\"}");
    expect_selects("x=", "{\"x\":\"\"}");
    expect_rejects("x=", "{}");
    expect_selects("z>1", "{\"z\":\"2\"}");
    expect_rejects("z>1", "{\"z\":\"v2\"}");
    /* != and notin hold without the key, even without any labels */
    expect_selects("x!=a", "{}");
    expect_selects("x!=a", "null");
    expect_selects("x notin (a,b)", "null");
    expect_selects("!x", "null");
    expect_rejects("x", "null");
    expect_rejects("x in (a)", "null");
    expect_rejects("x>0", "null");
    expect_selects("x in (a,b,c)", "{\"x\":\"b\"}");
    expect_rejects("x notin (a,b,c)", "{\"x\":\"b\"}");
    expect_selects("x notin (a,b,c)", "{\"x\":\"d\"}");
    /* prefixed keys are looked up verbatim; keys are case-sensitive */
    expect_selects("app.kubernetes.io/name=web", "{\"app.kubernetes.io/name\":\"web\"}");
    expect_rejects("App=web", "{\"app\":\"web\"}");
    /* a non-string value is present but equals nothing */
    expect_selects("x", "{\"x\":1}");
    expect_rejects("x=1", "{\"x\":1}");
    expect_selects("x!=1", "{\"x\":1}");
    expect_rejects("x>0", "{\"x\":1}");
}

static void selector_gt_lt_compare_as_integers(void **state)
{
    (void)state;
    expect_selects("x>9", "{\"x\":\"10\"}");
    expect_rejects("x>10", "{\"x\":\"10\"}");
    expect_selects("x<10", "{\"x\":\"-5\"}");
    expect_selects("x>0", "{\"x\":\"+1\"}");
    expect_selects("x<0", "{\"x\":\"-9223372036854775808\"}");
    expect_selects("x>9223372036854775806", "{\"x\":\"9223372036854775807\"}");
    expect_rejects("x>0", "{\"x\":\"9223372036854775808\"}"); /* out of range */
    expect_rejects("x>0", "{\"x\":\"1e3\"}");
    expect_rejects("x<100", "{\"x\":\"\"}");
    expect_selects("x>007", "{\"x\":\"8\"}");
    expect_selects("x>1,x<3", "{\"x\":\"2\"}");
    expect_rejects("x>1,x<3", "{\"x\":\"3\"}");
}

static void selector_matches_object_metadata_labels(void **state)
{
    (void)state;
    labels_selector_t *s = parse_ok("app=web,!canary");
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"web\"}}}");
    cJSON *bare = cJSON_Parse("{\"metadata\":{\"name\":\"p\"}}");
    assert_true(labels_selector_matches_object(s, pod));
    assert_false(labels_selector_matches_object(s, bare));
    labels_selector_free(s);
    s = parse_ok("canary notin (yes)");
    assert_true(labels_selector_matches_object(s, bare));
    assert_true(labels_selector_matches_object(s, NULL));
    labels_selector_free(s);
    cJSON_Delete(pod);
    cJSON_Delete(bare);
}

/* ---- label keys and values ------------------------------------------------------------------- */

static void label_keys_and_values_validate_like_upstream(void **state)
{
    (void)state;
    static const char *good_keys[] = {
        "a",
        "A",
        "1",
        "a-b",
        "a_b",
        "a.b",
        "MyName",
        "my.name",
        "123-abc",
        "example.com/MyName",
        "kubernetes.io/hostname",
        "a.b-c.d/x_y.z",
    };
    static const char *bad_keys[] = {
        "",          "-a",        "a-",        "_a",  ".a",
        "a b",       "a/b/c",     "/a",        "a/",  "Example.com/a",
        "-ex.com/a", "ex..com/a", "ex.com-/a", "a@b", "é",
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(good_keys); i++) {
        assert_true(labels_valid_key(good_keys[i]));
        assert_null(labels_key_problems(good_keys[i]));
    }
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad_keys); i++) {
        if (labels_valid_key(bad_keys[i]))
            fail_msg("key '%s' should be invalid", bad_keys[i]);
        char *why = labels_key_problems(bad_keys[i]);
        assert_non_null(why);
        free(why);
    }
    char buf[300];
    memset(buf, 'a', 63);
    buf[63] = '\0';
    assert_true(labels_valid_key(buf));
    assert_true(labels_valid_value(buf));
    strcat(buf, "a");
    assert_false(labels_valid_key(buf));
    assert_false(labels_valid_value(buf));
    char *why = labels_value_problems(buf);
    assert_string_equal(why, "must be no more than 63 bytes");
    free(why);
    /* prefix up to 253 bytes */
    memset(buf, 'a', 253);
    strcpy(buf + 253, "/x");
    assert_true(labels_valid_key(buf));
    memset(buf, 'a', 254);
    strcpy(buf + 254, "/x");
    assert_false(labels_valid_key(buf));
    why = labels_key_problems(buf);
    assert_string_equal(why, "prefix part must be no more than 253 bytes");
    free(why);

    assert_true(labels_valid_value(""));
    assert_true(labels_valid_value("my_value"));
    assert_true(labels_valid_value("1.2.3"));
    assert_false(labels_valid_value("-1"));
    assert_false(labels_valid_value("a b"));
    assert_false(labels_valid_value("a/b"));
    assert_false(labels_valid_value(NULL));
    why = labels_value_problems("a b");
    assert_string_equal(why, VALUE_REGEX_MSG);
    free(why);
}

/* ---- field selectors ------------------------------------------------------------------------- */

typedef struct field_pair {
    const char *name, *value;
} field_pair_t;

/* A getter over a NULL-terminated table of pairs (the object is ignored). */
static const char *table_get(const cJSON *obj, const char *field, void *ud)
{
    (void)obj;
    for (const field_pair_t *p = ud; p->name; p++)
        if (strcmp(p->name, field) == 0)
            return p->value;
    return NULL;
}

static labels_fields_t *fields_ok(const char *text)
{
    labels_fields_t *f = NULL;
    util_error_t err = NULL;
    if (labels_fields_parse(text, &f, &err) < 0)
        fail_msg("fields(%s): %s", text, err->msg);
    return f;
}

static void fields_expect_error(const char *text, const char *msg)
{
    labels_fields_t *f = NULL;
    util_error_t err = NULL;
    int r = labels_fields_parse(text, &f, &err);
    if (r >= 0)
        fail_msg("fields(%s) succeeded", text);
    assert_int_equal(r, -EINVAL);
    assert_null(f);
    if (msg && strcmp(err->msg, msg) != 0)
        fail_msg("fields(%s)\n got: %s\nwant: %s", text, err->msg, msg);
    util_error_free(&err);
}

static void fields_expect_string(const char *text, const char *canonical)
{
    labels_fields_t *f = fields_ok(text);
    char *out = labels_fields_string(f);
    if (strcmp(out, canonical) != 0)
        fail_msg("fields(%s).String() = '%s', want '%s'", text, out, canonical);
    free(out);
    labels_fields_free(f);
}

static bool fields_match(const char *text, const field_pair_t *set)
{
    labels_fields_t *f = fields_ok(text);
    bool m = labels_fields_matches(f, NULL, table_get, (void *)set);
    labels_fields_free(f);
    return m;
}

static void fields_parse_good_bad_and_restring(void **state)
{
    (void)state;
    /* upstream fields TestSelectorParse: good strings restring unchanged */
    static const char *good[] = {"x=a,y=b,z=c", "", "x!=a,y=b", "x=a||y\\=b", "x=a\\=\\=b"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(good); i++)
        fields_expect_string(good[i], good[i]);
    static const char *bad[] = {"x=a||y=b", "x==a==b", "x=a,b", "x in (a)", "x in (a,b,c)",
                                "x",        "k=\\",    "k=\\a", "k=\\\\\\"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad); i++)
        fields_expect_error(bad[i], NULL);
    fields_expect_string("x=a,a=x", "a=x,x=a"); /* deterministic: terms sorted */
    fields_expect_string("b==1", "b=1");
    fields_expect_string("a=a,", "a=a"); /* empty terms are skipped */
    fields_expect_string(",a=a,,", "a=a");
    fields_expect_string("k=\\,,k2=v2", "k2=v2,k=\\,");
    fields_expect_string("k=\\\\,k2=v2", "k2=v2,k=\\\\");
    fields_expect_string("함=수,목=록", "목=록,함=수");
    fields_expect_string("a = b", "a = b"); /* no trimming, as upstream */
    fields_expect_string("=", "");          /* ""="" selects everything */
    fields_expect_string("=x", "=x");
    fields_expect_string("a=", "a=");
    fields_expect_string("a=!b", "a=!b");
    labels_fields_t *f = fields_ok("=,!=");
    assert_true(labels_fields_empty(f));
    labels_fields_free(f);
    assert_true(labels_fields_empty(NULL));
}

static void fields_errors_match_upstream_messages(void **state)
{
    (void)state;
    fields_expect_error("x", "invalid selector: 'x'; can't understand 'x'");
    fields_expect_error("b=1,x", "invalid selector: 'b=1,x'; can't understand 'x'");
    fields_expect_error("x=a||y=b", "invalid field selector: unescaped character in value: 61");
    fields_expect_error("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'");
    fields_expect_error("k=a\\,b,c", "invalid selector: 'k=a\\,b,c'; can't understand 'c'");
    fields_expect_error("k=\\", "invalid field selector: invalid escape sequence: \\");
    fields_expect_error("k=\\a", "invalid field selector: invalid escape sequence: \\a");
    fields_expect_error("k=\\é", "invalid field selector: invalid escape sequence: \\é");
}

static void fields_match_with_getter_and_escapes(void **state)
{
    (void)state;
    const field_pair_t set[] = {
        {"foo", "bar"}, {"baz", "blah"}, {"complex", "=value\\,\\"},
        {"x", "z"},     {"z", "w"},      {NULL, NULL},
    };
    /* upstream fields TestSelectorMatches */
    assert_true(fields_match("", set));
    assert_true(fields_match("foo=bar", set));
    assert_true(fields_match("baz=blah", set));
    assert_true(fields_match("foo=bar,baz=blah", set));
    assert_true(fields_match("foo=bar,baz=blah,complex=\\=value\\\\\\,\\\\", set));
    assert_false(fields_match("foo=blah", set));
    assert_false(fields_match("baz=bar", set));
    assert_false(fields_match("foo=bar,foobar=bar,baz=blah", set));
    assert_true(fields_match("x!=y,z!=a", set));
    assert_false(fields_match("x!=y,z!=w", set));
    /* a field the getter does not know reads as "" */
    assert_true(fields_match("missing=", set));
    assert_true(fields_match("missing!=x", set));
    assert_false(fields_match("missing=x", set));
    /* "==" and "=" are the same */
    assert_true(fields_match("foo==bar", set));
}

static const char *pod_get(const cJSON *obj, const char *field, void *ud)
{
    (void)ud;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    const cJSON *v = NULL;
    if (strcmp(field, "metadata.name") == 0)
        v = cJSON_GetObjectItemCaseSensitive(meta, "name");
    else if (strcmp(field, "metadata.namespace") == 0)
        v = cJSON_GetObjectItemCaseSensitive(meta, "namespace");
    else if (strcmp(field, "spec.nodeName") == 0)
        v = cJSON_GetObjectItemCaseSensitive(spec, "nodeName");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void fields_on_objects_and_supported_check(void **state)
{
    (void)state;
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\"},"
                             "\"spec\":{\"nodeName\":\"n1\"}}");
    labels_fields_t *f = fields_ok("spec.nodeName=n1,metadata.name!=web-2");
    assert_true(labels_fields_matches(f, pod, pod_get, NULL));
    assert_int_equal(labels_fields_count(f), 2);
    assert_string_equal(labels_fields_field(f, 0), "metadata.name");
    assert_true(labels_fields_negated(f, 0));
    assert_string_equal(labels_fields_value(f, 0), "web-2");
    assert_string_equal(labels_fields_field(f, 1), "spec.nodeName");
    assert_false(labels_fields_negated(f, 1));
    assert_null(labels_fields_field(f, 2));
    assert_string_equal(labels_fields_exact(f, "spec.nodeName"), "n1");
    assert_null(labels_fields_exact(f, "metadata.name")); /* != is not an exact match */
    static const char *const pod_fields[] = {"metadata.name", "metadata.namespace", "spec.nodeName",
                                             "status.phase", NULL};
    util_error_t err = NULL;
    assert_int_equal(labels_fields_check_supported(f, pod_fields, &err), 0);
    labels_fields_free(f);

    f = fields_ok("spec.nodeName=,status.bogus=x");
    assert_int_equal(labels_fields_check_supported(f, pod_fields, &err), -EINVAL);
    assert_string_equal(err->msg, "field label not supported: status.bogus");
    util_error_free(&err);
    assert_false(labels_fields_matches(f, pod, pod_get, NULL));
    labels_fields_free(f);

    f = fields_ok("spec.nodeName=");
    cJSON *unscheduled = cJSON_Parse("{\"metadata\":{\"name\":\"p\"},\"spec\":{}}");
    assert_true(labels_fields_matches(f, unscheduled, pod_get, NULL));
    assert_false(labels_fields_matches(f, pod, pod_get, NULL));
    labels_fields_free(f);
    cJSON_Delete(unscheduled);
    cJSON_Delete(pod);
}

/* ---- bounds and robustness ------------------------------------------------------------------- */

/* metav1.LabelSelector objects, as PodDisruptionBudgets, ReplicaSets and Deployments carry. */
static void selector_objects(void **state)
{
    (void)state;
    cJSON *sel = cJSON_Parse("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                             "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"b\",\"a\"]},"
                             "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"dev\"]},"
                             "{\"key\":\"team\",\"operator\":\"Exists\"},"
                             "{\"key\":\"legacy\",\"operator\":\"DoesNotExist\"}]}");
    labels_selector_t *s = NULL;
    util_error_t err = NULL;
    assert_int_equal(labels_selector_from_json(sel, &s, &err), 0);
    char *text = labels_selector_string(s);
    assert_string_equal(text, "app=web,env notin (dev),!legacy,team,tier in (a,b)");
    free(text);
    cJSON *l = cJSON_Parse("{\"app\":\"web\",\"tier\":\"a\",\"team\":\"x\"}");
    assert_true(labels_selector_matches(s, l));
    cJSON_AddStringToObject(l, "legacy", "1");
    assert_false(labels_selector_matches(s, l));
    cJSON_Delete(l);
    labels_selector_free(s);
    cJSON_Delete(sel);

    /* {} selects everything; null selects nothing (the caller's decision: *ret stays NULL) */
    sel = cJSON_Parse("{}");
    assert_int_equal(labels_selector_from_json(sel, &s, &err), 0);
    assert_non_null(s);
    assert_true(labels_selector_empty(s));
    labels_selector_free(s);
    cJSON_Delete(sel);
    sel = cJSON_CreateNull();
    assert_int_equal(labels_selector_from_json(sel, &s, &err), 0);
    assert_null(s);
    cJSON_Delete(sel);

    /* upstream's refusals; nothing in a value or key can smuggle extra requirements in */
    const char *bad[] = {
        "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[]}]}",
        "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
        "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}",
        "{\"matchLabels\":{\"a\":\"x,b=y\"}}",
        "{\"matchLabels\":{\"a,b\":\"x\"}}",
        "{\"matchLabels\":{\"a\":7}}",
        "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\",\"values\":[\"x)\"]}]}",
        "{\"matchExpressions\":[{\"operator\":\"DoesNotExist\"}]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sel = cJSON_Parse(bad[i]);
        assert_non_null(sel);
        assert_true(labels_selector_from_json(sel, &s, &err) < 0);
        assert_null(s);
        util_error_free(&err);
        cJSON_Delete(sel);
    }
}

static void selectors_are_bounded(void **state)
{
    (void)state;
    size_t n = LABELS_MAX_SELECTOR_LEN + 1;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    labels_selector_t *s = NULL;
    labels_fields_t *f = NULL;
    util_error_t err = NULL;
    assert_int_equal(labels_selector_parse(big, &s, &err), -EINVAL);
    assert_string_equal(err->msg, "label selector is longer than 65536 bytes");
    assert_int_equal(labels_fields_parse(big, &f, &err), -EINVAL);
    assert_string_equal(err->msg, "field selector is longer than 65536 bytes");
    /* too many requirements */
    util_buf_t b = {0};
    for (int i = 0; i <= LABELS_MAX_REQUIREMENTS; i++)
        util_buf_printf(&b, "%sk%d", i ? "," : "", i);
    assert_int_equal(labels_selector_parse(b.data, &s, &err), -EINVAL);
    assert_string_equal(err->msg, "label selector has more than 1024 requirements");
    util_buf_reset(&b);
    for (int i = 0; i <= LABELS_MAX_REQUIREMENTS; i++)
        util_buf_printf(&b, "%sk%d=v", i ? "," : "", i);
    assert_int_equal(labels_fields_parse(b.data, &f, &err), -EINVAL);
    assert_string_equal(err->msg, "field selector has more than 1024 requirements");
    util_error_free(&err);
    /* a value set as large as the text allows parses quickly (and dedups) */
    util_buf_reset(&b);
    util_buf_puts(&b, "x in (");
    while (b.len < LABELS_MAX_SELECTOR_LEN - 16)
        util_buf_puts(&b, "a,b,");
    util_buf_puts(&b, "c)");
    s = parse_ok(b.data);
    assert_int_equal(labels_selector_nvalues(s, 0), 3);
    labels_selector_free(s);
    util_buf_free(&b);
    free(big);
}

static void parse_never_crashes_on_random_input(void **state)
{
    (void)state;
    /* a biased alphabet so that random strings hit the grammar, not just identifiers */
    static const char alphabet[] = "ab=!(),<> \t\\/.-_09in notin\x80\xc3\xa9";
    uint32_t seed = 12345;
    char text[64];
    size_t ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % (sizeof(text) - 1);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            text[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        text[len] = '\0';
        labels_selector_t *s = NULL;
        labels_fields_t *f = NULL;
        util_error_t err = NULL;
        if (labels_selector_parse(text, &s, &err) == 0) {
            ok++;
            /* a parsed selector reparses from its own String() to the same String() */
            char *out = labels_selector_string(s);
            labels_selector_t *again = parse_ok(out);
            char *out2 = labels_selector_string(again);
            assert_string_equal(out, out2);
            labels_selector_matches(s, NULL);
            free(out);
            free(out2);
            labels_selector_free(again);
        } else {
            assert_non_null(err);
        }
        if (labels_fields_parse(text, &f, &err) == 0) {
            /* terms sort by their original text, so only the count is stable on reparse */
            char *out = labels_fields_string(f);
            labels_fields_t *again = fields_ok(out);
            assert_int_equal(labels_fields_count(again), labels_fields_count(f));
            free(out);
            labels_fields_free(again);
        }
        util_error_free(&err);
        labels_selector_free(s);
        labels_fields_free(f);
    }
    assert_true(ok > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(selector_good_strings_restring_without_spaces),
        cmocka_unit_test(selector_bad_strings_fail),
        cmocka_unit_test(selector_parse_sorts_requirements_and_values),
        cmocka_unit_test(selector_introspection_exposes_requirements),
        cmocka_unit_test(selector_errors_match_upstream_messages),
        cmocka_unit_test(selector_matches_upstream_table),
        cmocka_unit_test(selector_set_operators_and_missing_keys),
        cmocka_unit_test(selector_gt_lt_compare_as_integers),
        cmocka_unit_test(selector_matches_object_metadata_labels),
        cmocka_unit_test(label_keys_and_values_validate_like_upstream),
        cmocka_unit_test(fields_parse_good_bad_and_restring),
        cmocka_unit_test(fields_errors_match_upstream_messages),
        cmocka_unit_test(fields_match_with_getter_and_escapes),
        cmocka_unit_test(fields_on_objects_and_supported_check),
        cmocka_unit_test(selector_objects),
        cmocka_unit_test(selectors_are_bounded),
        cmocka_unit_test(parse_never_crashes_on_random_input),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
