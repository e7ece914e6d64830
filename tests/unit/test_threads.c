/*
 * test_threads.c - core/threads.c: every share runs exactly once (also
 * beyond the thread cap, where shares run on the caller), the caller sees
 * the workers' writes after the join, and the thread count rule; teams run
 * every share once per run over many runs and fail cleanly without memory.
 */
#include "testutil.h"

#include "core/threads.h"

#include <stdatomic.h>
#include <string.h>

typedef struct count_ctx {
    atomic_uint calls[300];
    uint64_t sums[300];
} count_ctx;

static void count_share(void *ctx, uint32_t t)
{
    count_ctx *c = ctx;
    uint64_t s = 0;
    for (uint64_t i = 0; i <= t; i++)
        s += i;
    c->sums[t] = s;
    atomic_fetch_add(&c->calls[t], 1u);
}

static void test_parallel_for(void **state)
{
    static count_ctx c;
    const uint32_t sizes[] = {0, 1, 2, 7, 300};
    (void)state;
    for (size_t q = 0; q < sizeof sizes / sizeof sizes[0]; q++) {
        uint32_t n = sizes[q];
        memset(&c, 0, sizeof c);
        trove__parallel_for(n, count_share, &c);
        for (uint32_t t = 0; t < 300; t++) {
            assert_int_equal(atomic_load(&c.calls[t]), t < n ? 1u : 0u);
            assert_int_equal(c.sums[t], t < n ? (uint64_t)t * (t + 1) / 2 : 0);
        }
    }
}

/* Each run adds t + 1 + run to slot t, reading the previous run's value:
 * a share that ran twice, not at all, or before the caller's write of the
 * run number would leave a wrong sum. */
typedef struct team_ctx {
    uint64_t slot[8];
    uint64_t run;
} team_ctx;

static void team_share(void *ctx, uint32_t t)
{
    team_ctx *c = ctx;
    c->slot[t] += t + 1 + c->run;
}

static void test_team(void **state)
{
    const uint32_t sizes[] = {1, 2, 3, 8};
    (void)state;
    for (size_t q = 0; q < sizeof sizes / sizeof sizes[0]; q++) {
        uint32_t n = sizes[q];
        trove__team *tm = NULL;
        team_ctx c;
        memset(&c, 0, sizeof c);
        assert_int_equal(trove__team_new(n, &tm), TROVE_OK);
        assert_non_null(tm);
        for (uint64_t run = 0; run < 200; run++) {
            c.run = run;
            trove__team_run(tm, team_share, &c);
        }
        for (uint32_t t = 0; t < 8; t++)
            assert_int_equal(c.slot[t], t < n ? 200u * (t + 1) + 199u * 200u / 2 : 0u);
        trove__team_free(tm);
    }
    trove__team_free(NULL);

    /* Out of memory: a clean TROVE_ENOMEM, nothing leaked, *out untouched. */
    for (long k = 0; k < 2; k++) {
        trove__team *tm = NULL;
        testutil_fail_alloc_after(k);
        assert_int_equal(trove__team_new(2, &tm), TROVE_ENOMEM);
        testutil_fail_alloc_after(-1);
        assert_null(tm);
    }
}

static void test_threads_count(void **state)
{
    (void)state;
    assert_int_equal(trove__threads_count(3), 3);
    assert_int_equal(trove__threads_count(100000), TROVE__THREADS_MAX);
    assert_true(trove__threads_count(0) >= 1);
    assert_true(trove__threads_count(0) <= TROVE__THREADS_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_for),
        cmocka_unit_test(test_team),
        cmocka_unit_test(test_threads_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
