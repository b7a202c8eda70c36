/* test_controller_ipam: the node IPAM allocator's arithmetic (controller_cidrset.c): the lowest
 * free subnet first, existing podCIDRs occupied (whatever their size), release and reuse, a full
 * range, configurable masks, and bad ranges or masks refused. */
#include "unit.h"
#include "controller/controller.h"

#include <errno.h>
#include <string.h>

static controller_cidr_set_t *set_new(const char *cidr, int mask)
{
    controller_cidr_set_t *s = NULL;
    util_error_t err = NULL;
    assert_int_equal(controller_cidr_set_new(cidr, mask, &s, &err), 0);
    assert_non_null(s);
    return s;
}

static void next_is(controller_cidr_set_t *s, const char *want)
{
    char got[CONTROLLER_CIDR_LEN];
    assert_int_equal(controller_cidr_set_allocate(s, got, sizeof(got)), 0);
    assert_string_equal(got, want);
}

static void first_node_gets_first_subnet(void **state)
{
    (void)state;
    controller_cidr_set_t *s = set_new("10.42.0.0/16", 24);
    assert_int_equal(controller_cidr_set_free_count(s), 256);
    next_is(s, "10.42.0.0/24");
    next_is(s, "10.42.1.0/24");
    next_is(s, "10.42.2.0/24");
    assert_int_equal(controller_cidr_set_free_count(s), 253);
    controller_cidr_set_free(s);
}

static void occupied_subnets_are_skipped(void **state)
{
    (void)state;
    controller_cidr_set_t *s = set_new("10.42.0.0/16", 24);
    /* rebuilt from the Nodes at start: what they carry is never handed out again */
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.0.0/24"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.2.0/24"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.2.0/24"), 0); /* idempotent */
    assert_int_equal(controller_cidr_set_free_count(s), 254);
    next_is(s, "10.42.1.0/24");
    next_is(s, "10.42.3.0/24");
    /* a larger CIDR covers several subnets, a smaller one the subnet it lies in */
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.4.0/23"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.6.128/25"), 0);
    next_is(s, "10.42.7.0/24");
    /* outside the range or malformed: refused, nothing marked */
    assert_int_equal(controller_cidr_set_occupy(s, "10.43.0.0/24"), -ERANGE);
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.300.0/24"), -EINVAL);
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.8.0"), -EINVAL);
    assert_int_equal(controller_cidr_set_occupy(s, "10.42.8.0/33"), -EINVAL);
    assert_int_equal(controller_cidr_set_occupy(s, NULL), -EINVAL);
    next_is(s, "10.42.8.0/24");
    controller_cidr_set_free(s);
}

static void released_subnet_is_reused(void **state)
{
    (void)state;
    controller_cidr_set_t *s = set_new("10.42.0.0/16", 24);
    next_is(s, "10.42.0.0/24");
    next_is(s, "10.42.1.0/24");
    next_is(s, "10.42.2.0/24");
    assert_int_equal(controller_cidr_set_release(s, "10.42.1.0/24"), 0);
    assert_int_equal(controller_cidr_set_release(s, "10.42.1.0/24"), 0); /* twice: no change */
    assert_int_equal(controller_cidr_set_free_count(s), 254);
    next_is(s, "10.42.1.0/24");
    next_is(s, "10.42.3.0/24");
    controller_cidr_set_free(s);
}

static void full_range_says_enospc(void **state)
{
    (void)state;
    controller_cidr_set_t *s = set_new("192.168.8.0/22", 24);
    next_is(s, "192.168.8.0/24");
    next_is(s, "192.168.9.0/24");
    next_is(s, "192.168.10.0/24");
    next_is(s, "192.168.11.0/24");
    char got[CONTROLLER_CIDR_LEN];
    assert_int_equal(controller_cidr_set_allocate(s, got, sizeof(got)), -ENOSPC);
    assert_int_equal(controller_cidr_set_allocate(s, got, 4), -ENOBUFS);
    assert_int_equal(controller_cidr_set_free_count(s), 0);
    assert_int_equal(controller_cidr_set_release(s, "192.168.10.0/24"), 0);
    next_is(s, "192.168.10.0/24");
    controller_cidr_set_free(s);
}

static void mask_is_configurable(void **state)
{
    (void)state;
    /* /26 per node out of a /24: four subnets; a host address in the range is masked */
    controller_cidr_set_t *s = set_new("10.0.0.7/24", 26);
    next_is(s, "10.0.0.0/26");
    next_is(s, "10.0.0.64/26");
    controller_cidr_set_free(s);
    /* the whole range as one subnet */
    s = set_new("10.42.0.0/16", 16);
    next_is(s, "10.42.0.0/16");
    char got[CONTROLLER_CIDR_LEN];
    assert_int_equal(controller_cidr_set_allocate(s, got, sizeof(got)), -ENOSPC);
    controller_cidr_set_free(s);
    /* 2^16 subnets: the last one is reachable */
    s = set_new("10.0.0.0/8", 24);
    assert_int_equal(controller_cidr_set_occupy(s, "10.0.0.0/9"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.128.0.0/10"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.192.0.0/11"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.224.0.0/12"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.240.0.0/13"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.248.0.0/14"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.252.0.0/15"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.254.0.0/16"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.0.0/17"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.128.0/18"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.192.0/19"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.224.0/20"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.240.0/21"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.248.0/22"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.252.0/23"), 0);
    assert_int_equal(controller_cidr_set_occupy(s, "10.255.254.0/24"), 0);
    assert_int_equal(controller_cidr_set_free_count(s), 1);
    next_is(s, "10.255.255.0/24");
    /* covering more than the range marks only the range */
    assert_int_equal(controller_cidr_set_release(s, "0.0.0.0/0"), 0);
    assert_int_equal(controller_cidr_set_free_count(s), 65536);
    controller_cidr_set_free(s);
}

static void bad_ranges_and_masks_refused(void **state)
{
    (void)state;
    static const struct {
        const char *cidr;
        int mask;
        const char *msg;
    } cases[] = {
        {"10.42.0.0", 24, "is not an IPv4 CIDR"},
        {"10.42.0.0/", 24, "is not an IPv4 CIDR"},
        {"fd00::/64", 80, "is not an IPv4 CIDR"},
        {"10.42.0.0/16x", 24, "is not an IPv4 CIDR"},
        {"10.42.0.0/16", 8, "between the cluster CIDR's prefix length 16 and 30"},
        {"10.42.0.0/16", 31, "between"},
        {"10.0.0.0/8", 25, "more than 2^16 subnets"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        controller_cidr_set_t *s = NULL;
        util_error_t err = NULL;
        assert_int_equal(controller_cidr_set_new(cases[i].cidr, cases[i].mask, &s, &err), -EINVAL);
        assert_null(s);
        char buf[256];
        const char *text = util_error_text(err, buf, sizeof(buf));
        if (!strstr(text, cases[i].msg))
            fail_msg("%s /%d: %s", cases[i].cidr, cases[i].mask, text);
        util_error_free(&err);
    }
    controller_cidr_set_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_node_gets_first_subnet),
        cmocka_unit_test(occupied_subnets_are_skipped),
        cmocka_unit_test(released_subnet_is_reused),
        cmocka_unit_test(full_range_says_enospc),
        cmocka_unit_test(mask_is_configurable),
        cmocka_unit_test(bad_ranges_and_masks_refused),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
