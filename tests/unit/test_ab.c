/*
 * test_ab.c - experiment bucketing against GrowthBook's published test
 * vectors (packages/sdk-js/test/cases.json: "hash", "getBucketRange" and
 * experiment buckets), UTF-16 hashing of non-ASCII ids, arm assignment, and
 * the A/B statistics against hand-computed values: delta-method variance,
 * lift intervals, SRM, Holm, guardrails, accumulation.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* cases.json "hash": [seed, value, version, expected] (version 99: null). */
typedef struct hash_vector {
    const char *seed, *value;
    int version;
    double expected;
} hash_vector;

static const hash_vector hash_vectors[] = {
    {"", "a", 1, 0.22},
    {"", "b", 1, 0.077},
    {"b", "a", 1, 0.946},
    {"ef", "d", 1, 0.652},
    {"asdf", "8952klfjas09ujk", 1, 0.549},
    {"", "123", 1, 0.011},
    {"", "___)((*\":&", 1, 0.563},
    {"seed", "a", 2, 0.0505},
    {"seed", "b", 2, 0.2696},
    {"foo", "ab", 2, 0.2575},
    {"foo", "def", 2, 0.2019},
    {"89123klj", "8952klfjas09ujkasdf", 2, 0.124},
    {"90850943850283058242805", "123", 2, 0.7516},
    {"()**(%$##$%#$#", "___)((*\":&", 2, 0.0128},
    /* experiment buckets from the "feature" cases: the seed is the rule's
     * seed, or the feature key when none is given */
    {"feature", "123", 1, 0.863},
    {"feature", "456", 1, 0.178},
    {"feature", "fds", 1, 0.514},
    {"feature", "123", 2, 0.5231},
    {"feature-exp", "d123", 2, 0.6468},
    {"feature-exp", "i123", 2, 0.9943},
};

static void test_hash_vectors(void **state)
{
    double h = -1;
    (void)state;
    for (size_t i = 0; i < sizeof hash_vectors / sizeof hash_vectors[0]; i++) {
        const hash_vector *v = &hash_vectors[i];
        assert_int_equal(trove_experiment_hash(v->seed, v->value, v->version, &h),
                         TROVE_OK);
        if (h != v->expected)
            fail_msg("hash('%s', '%s', %d) = %.17g, want %.17g", v->seed,
                     v->value, v->version, h, v->expected);
    }
    h = -1;
    assert_int_equal(trove_experiment_hash("abc", "def", 99, &h), TROVE_EINVAL);
    assert_true(h == -1);
    assert_int_equal(trove_experiment_hash(NULL, "def", 2, &h), TROVE_EINVAL);
}

/* cases.json "getBucketRange": [n, coverage, weights] -> ranges. */
typedef struct range_vector {
    size_t n;
    double coverage;
    double weights[4];   /* weights[0] < 0: null */
    double expected[4][2];
} range_vector;

static void test_bucket_ranges(void **state)
{
    static const range_vector v[] = {
        {2, 1, {-1}, {{0, 0.5}, {0.5, 1}}},
        {2, 0.5, {-1}, {{0, 0.25}, {0.5, 0.75}}},
        {2, 0, {-1}, {{0, 0}, {0.5, 0.5}}},
        {4, 1, {-1}, {{0, 0.25}, {0.25, 0.5}, {0.5, 0.75}, {0.75, 1}}},
        {2, 1, {0.4, 0.6}, {{0, 0.4}, {0.4, 1}}},
        {3, 1, {0.2, 0.3, 0.5}, {{0, 0.2}, {0.2, 0.5}, {0.5, 1}}},
        {3, 0.2, {0.2, 0.3, 0.5}, {{0, 0.04}, {0.2, 0.26}, {0.5, 0.6}}},
        {2, -0.2, {-1}, {{0, 0}, {0.5, 0.5}}},
        {2, 1.5, {-1}, {{0, 0.5}, {0.5, 1}}},
        {2, 1, {0.4, 0.1}, {{0, 0.5}, {0.5, 1}}},
        {2, 1, {0.7, 0.6}, {{0, 0.5}, {0.5, 1}}},
        {2, 1, {0.4, 0.5999}, {{0, 0.4}, {0.4, 0.9999}}},
    };
    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double r[4][2];
        trove_experiment_bucket_ranges(v[i].n, v[i].coverage,
                                       v[i].weights[0] < 0 ? NULL : v[i].weights, r);
        for (size_t k = 0; k < v[i].n; k++)
            if (fabs(r[k][0] - v[i].expected[k][0]) > 1e-12 ||
                fabs(r[k][1] - v[i].expected[k][1]) > 1e-12)
                fail_msg("case %zu range %zu: [%g, %g), want [%g, %g)", i, k,
                         r[k][0], r[k][1], v[i].expected[k][0],
                         v[i].expected[k][1]);
    }
}

static void test_choose(void **state)
{
    /* the "creates experiments properly" ranges and a gap from coverage */
    const double ranges[2][2] = {{0, 0.1}, {0.1, 1.0}};
    const double gaps[2][2] = {{0, 0.25}, {0.5, 0.75}};
    const double thirds[3] = {0.3334, 0.3333, 0.3333};
    double r3[3][2];
    (void)state;
    assert_int_equal(trove_experiment_choose(0.5231, ranges, 2), 1);
    assert_int_equal(trove_experiment_choose(0.05, ranges, 2), 0);
    assert_int_equal(trove_experiment_choose(0.1, ranges, 2), 1);
    assert_int_equal(trove_experiment_choose(0.3, gaps, 2), -1);
    assert_int_equal(trove_experiment_choose(0.8, gaps, 2), -1);
    assert_int_equal(trove_experiment_choose(0.6, gaps, 2), 1);
    /* weights 0.3334/0.3333/0.3333: bucket 0.9943 is variation 2 when no
     * sticky bucket applies ("resets sticky bucketing when the
     * bucketVersion changes"); 0.6468 lies in the middle range */
    trove_experiment_bucket_ranges(3, 1, thirds, r3);
    assert_int_equal(trove_experiment_choose(0.6468, (const double (*)[2])r3, 3), 1);
    assert_int_equal(trove_experiment_choose(0.9943, (const double (*)[2])r3, 3), 2);
}

static uint32_t fnv_units(const uint32_t *u, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ u[i]) * 16777619u;
    return h;
}

/* JavaScript hashes UTF-16 code units: "é" is one unit 0xE9, U+1F600 is the
 * surrogate pair D83D DE00; a stray byte counts as itself. */
static void test_utf16(void **state)
{
    const uint32_t e_acute[] = {0xe9}, grin[] = {0xd83d, 0xde00};
    const uint32_t mixed[] = {'a', 0x20ac, 'b'}, stray[] = {0xff, 'x'};
    const uint32_t known[] = {'a'};
    (void)state;
    assert_int_equal(trove_fnv1a32("a", 1), fnv_units(known, 1));
    assert_int_equal(trove_fnv1a32("a", 1), 0xe40c292cu);  /* FNV-1a test suite */
    assert_int_equal(trove_fnv1a32("\xc3\xa9", 2), fnv_units(e_acute, 1));
    assert_int_equal(trove_fnv1a32("\xf0\x9f\x98\x80", 4), fnv_units(grin, 2));
    assert_int_equal(trove_fnv1a32("a\xe2\x82\xac" "b", 5), fnv_units(mixed, 3));
    assert_int_equal(trove_fnv1a32("\xffx", 2), fnv_units(stray, 2));
    assert_int_equal(trove_fnv1a32("", 0), 2166136261u);
}

static void test_arms(void **state)
{
    char id[32];
    size_t n_test = 0, n = 20000;
    double b;
    (void)state;
    /* bucket < 1 - share is control */
    for (size_t i = 0; i < 200; i++) {
        int arm;
        snprintf(id, sizeof id, "user-%zu", i);
        arm = trove_experiment_arm("salt-1", id, 0.9, &b);
        assert_true(arm == TROVE_ARM_CONTROL || arm == TROVE_ARM_TEST);
        assert_int_equal(arm, b < 0.1 ? TROVE_ARM_CONTROL : TROVE_ARM_TEST);
        /* the same call gives the same arm */
        assert_int_equal(trove_experiment_arm("salt-1", id, 0.9, NULL), arm);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%zu", i);
        n_test += trove_experiment_arm("de-offers-2024", id, 0.9, NULL) == TROVE_ARM_TEST;
    }
    /* 18000 expected, sd = sqrt(20000 * 0.09) = 42 */
    assert_true(n_test > 18000 - 200 && n_test < 18000 + 200);
    assert_int_equal(trove_experiment_arm("s", "u", 1.0, NULL), TROVE_ARM_TEST);
    assert_int_equal(trove_experiment_arm("s", "u", 0.0, NULL), TROVE_ARM_CONTROL);
    assert_int_equal(trove_experiment_arm("s", "u", 1.5, NULL), TROVE_EINVAL);
    assert_int_equal(trove_experiment_arm(NULL, "u", 0.5, NULL), TROVE_EINVAL);
    assert_string_equal(trove_arm_name(TROVE_ARM_TEST), "test");
    assert_string_equal(trove_arm_name(7), "unknown");
}

/* Per-user (n, r) pairs into arm counts. */
static void fill_arm(trove_ab_arm_counts *a, const int (*ur)[2], size_t n)
{
    memset(a, 0, sizeof *a);
    for (size_t i = 0; i < n; i++) {
        a->users++;
        a->exposures += (uint64_t)ur[i][0];
        a->redemptions += (uint64_t)ur[i][1];
        a->redeeming_users += ur[i][1] > 0;
        a->sum_n2 += ur[i][0] * ur[i][0];
        a->sum_r2 += ur[i][1] * ur[i][1];
        a->sum_nr += ur[i][0] * ur[i][1];
    }
}

/* Control: users (n, r) = (2,1), (2,0), (4,2): R = 3/8; mean n = 8/3,
 * mean r = 1, s_n^2 = 4/3, s_r^2 = 1, s_rn = 1, so
 * Var(R) = (1 - 2 * 3/8 * 1 + 9/64 * 4/3) / (3 * 64/9) = 0.4375 / (64/3)
 *        = 0.0205078125.
 * Test: (2,2), (2,1), (4,2): R = 5/8, the same variance by symmetry of the
 * numbers. abs lift 0.25, se sqrt(2 * 0.0205078125) = 0.2025231;
 * relative: log(5/3) +- 1.96 * sqrt(0.0205078125 / (25/64) + 0.0205078125 /
 * (9/64)) -> [-0.303743, 2.989590]. */
static void test_delta_method(void **state)
{
    static const int ctl[3][2] = {{2, 1}, {2, 0}, {4, 2}};
    static const int tst[3][2] = {{2, 2}, {2, 1}, {4, 2}};
    trove_ab_cycle_counts c;
    trove_ab_result r;
    (void)state;
    memset(&c, 0, sizeof c);
    fill_arm(&c.arm[TROVE_ARM_CONTROL], ctl, 3);
    fill_arm(&c.arm[TROVE_ARM_TEST], tst, 3);
    c.test_share = 0.5;
    assert_float_equal(trove_ab_ratio_variance(&c.arm[0]), 0.0205078125, 1e-15);
    assert_float_equal(trove_ab_ratio_variance(&c.arm[1]), 0.0205078125, 1e-15);
    trove_ab_analyze(&c, &r);
    assert_true(r.has_lift && r.has_rel);
    assert_float_equal(r.rate[0], 0.375, 1e-15);
    assert_float_equal(r.rate[1], 0.625, 1e-15);
    assert_float_equal(r.abs_lift, 0.25, 1e-15);
    assert_float_equal(r.abs_ci[0], -0.146938073813, 1e-9);
    assert_float_equal(r.abs_ci[1], 0.646938073813, 1e-9);
    assert_float_equal(r.z, 1.234426799697, 1e-9);
    assert_float_equal(r.p_value, 0.217043907757, 1e-9);
    assert_true(fabs(r.rel_lift - 2.0 / 3.0) < 1e-12);
    assert_float_equal(r.rel_ci[0], -0.303743463049, 1e-9);
    assert_float_equal(r.rel_ci[1], 2.989589512428, 1e-9);
    assert_float_equal(r.srm_chi2, 0, 1e-15);
    assert_int_equal(r.srm_warn, 0);

    /* a single user per arm: no variance, no interval */
    fill_arm(&c.arm[0], ctl, 1);
    trove_ab_analyze(&c, &r);
    assert_false(r.has_lift);
    assert_true(isnan(r.p_value) && isnan(r.abs_ci[0]));
    assert_float_equal(r.abs_lift, 0.625 - 0.5, 1e-15);
    /* no redemption in control: relative lift undefined */
    static const int zero[2][2] = {{3, 0}, {1, 0}};
    fill_arm(&c.arm[0], zero, 2);
    trove_ab_analyze(&c, &r);
    assert_true(r.has_lift);
    assert_false(r.has_rel);
    assert_true(isnan(r.rel_lift));
    /* no exposures at all */
    memset(&c.arm[0], 0, sizeof c.arm[0]);
    trove_ab_analyze(&c, &r);
    assert_true(isnan(r.rate[0]) && isnan(r.abs_lift));
}

/* chi2 = sum (o - e)^2 / e: 450/550 at 50% -> 2 * 50^2 / 500 = 10,
 * p = erfc(sqrt(5)) = 0.0015654022580; 4500/5500 -> 100, p < 1e-20. */
static void test_srm(void **state)
{
    double chi2;
    (void)state;
    assert_float_equal(trove_ab_srm_p(450, 550, 0.5, &chi2), 0.0015654022580025, 1e-12);
    assert_float_equal(chi2, 10, 1e-12);
    assert_true(trove_ab_srm_p(4500, 5500, 0.5, &chi2) < 1e-20);
    assert_float_equal(chi2, 100, 1e-9);
    /* 10% control: expected 100 / 900 of 1000; 130 / 870 ->
     * 900/100 + 900/900 = 10 */
    assert_float_equal(trove_ab_srm_p(130, 870, 0.9, &chi2), 0.0015654022580025, 1e-12);
    assert_float_equal(chi2, 10, 1e-12);
    assert_float_equal(trove_ab_srm_p(100, 900, 0.9, &chi2), 1, 1e-15);
    assert_float_equal(trove_ab_srm_p(0, 10, 1.0, NULL), 1, 0);
    assert_float_equal(trove_ab_srm_p(1, 10, 1.0, NULL), 0, 0);
    assert_float_equal(trove_ab_srm_p(0, 0, 0.5, NULL), 1, 0);
    assert_float_equal(trove_ab_p_two_sided(1.959963984540054), 0.05, 1e-12);
    assert_float_equal(trove_ab_p_two_sided(0), 1, 0);
}

/* p = (0.01, 0.04, 0.03, 0.005): sorted 0.005*4 = 0.02, 0.01*3 = 0.03,
 * 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06. */
static void test_holm(void **state)
{
    double p[4] = {0.01, 0.04, 0.03, 0.005}, adj[4];
    double q[3] = {0.01, NAN, 0.04};
    double one[1] = {0.7};
    (void)state;
    trove_ab_holm(p, 4, adj);
    assert_float_equal(adj[0], 0.03, 1e-15);
    assert_float_equal(adj[1], 0.06, 1e-15);
    assert_float_equal(adj[2], 0.06, 1e-15);
    assert_float_equal(adj[3], 0.02, 1e-15);
    trove_ab_holm(q, 3, q);                  /* in place, NAN skipped */
    assert_float_equal(q[0], 0.02, 1e-15);
    assert_true(isnan(q[1]));
    assert_float_equal(q[2], 0.04, 1e-15);
    trove_ab_holm(one, 1, one);
    assert_float_equal(one[0], 0.7, 0);
    p[0] = 0.6;
    p[1] = 0.7;
    trove_ab_holm(p, 2, adj);                /* capped at 1 */
    assert_float_equal(adj[0], 1, 0);
    assert_float_equal(adj[1], 1, 0);
}

static void test_guardrails_and_accumulate(void **state)
{
    static const int ctl[3][2] = {{2, 1}, {2, 0}, {4, 2}};
    static const int tst[3][2] = {{2, 2}, {2, 1}, {4, 2}};
    trove_ab_cycle_counts c, acc;
    trove_ab_result r, ra;
    (void)state;
    memset(&c, 0, sizeof c);
    memset(&acc, 0, sizeof acc);
    fill_arm(&c.arm[0], ctl, 3);
    fill_arm(&c.arm[1], tst, 3);
    snprintf(c.market, sizeof c.market, "DE");
    c.test_share = 0.5;
    c.distinct_items = 6;
    c.eligible_items = 12;
    c.top5_exposures = 12;
    c.new_items = 4;
    c.new_items_shown = 1;
    c.start_ts = 100;
    c.end_ts = 200;
    trove_ab_analyze(&c, &r);
    assert_float_equal(r.coverage, 0.5, 1e-15);
    assert_float_equal(r.top5_share, 12.0 / 16.0, 1e-15);
    assert_float_equal(r.new_shown, 0.25, 1e-15);
    c.new_items = 0;
    c.eligible_items = 0;
    trove_ab_analyze(&c, &r);
    assert_true(isnan(r.new_shown) && isnan(r.coverage));

    /* two identical cycles: same rates, variance halved (twice the units) */
    trove_ab_accumulate(&acc, &c);
    c.start_ts = 200;
    c.end_ts = 300;
    trove_ab_accumulate(&acc, &c);
    assert_string_equal(acc.market, "DE");
    assert_string_equal(acc.key, "cumulative");
    assert_int_equal(acc.start_ts, 100);
    assert_int_equal(acc.end_ts, 300);
    assert_int_equal(acc.arm[1].users, 6);
    assert_float_equal(acc.test_share, 0.5, 1e-15);
    trove_ab_analyze(&acc, &ra);
    assert_float_equal(ra.rate[1], 0.625, 1e-15);
    assert_true(ra.p_value < r.p_value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_bucket_ranges),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_arms),
        cmocka_unit_test(test_delta_method),
        cmocka_unit_test(test_srm),
        cmocka_unit_test(test_holm),
        cmocka_unit_test(test_guardrails_and_accumulate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
