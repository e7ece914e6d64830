/*
 * test_threads.c - core/threads.c: every share runs exactly once (also
 * beyond the thread cap, where shares run on the caller), the caller sees
 * the workers' writes after the join, and the thread count rule.
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
        cmocka_unit_test(test_threads_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
