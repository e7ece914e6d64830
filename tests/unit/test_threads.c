/*
 * test_threads.c - core/threads.c: every share runs exactly once (also
 * beyond the thread cap, where shares run on the caller), the caller sees
 * the workers' writes after the join, and the thread count rule; teams run
 * every share once per run over many runs and fail cleanly without memory;
 * grids hand out every cell of weight > 0 exactly once per pass, never two
 * cells of one row or one column at once, a thread's own rows first and
 * the column it released next.
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

/* Threads taking grid cells until the pass ends; each marks the row and
 * column it holds (a mark already set means two holders) and counts its
 * cells. */
typedef struct grid_ctx {
    trove__grid *g;
    uint32_t n_rows, n_cols;
    const uint32_t *home;
    atomic_uint row_in[8], col_in[8];
    atomic_uint taken[64];
    atomic_uint clashes;
    atomic_uint stolen_early; /* another's row taken while own cells were pending */
    atomic_uint own_left[4];  /* pending cells of each thread's rows */
} grid_ctx;

static void grid_share(void *ctx, uint32_t t)
{
    grid_ctx *c = ctx;
    uint32_t cell = TROVE__GRID_NONE;
    while (trove__grid_next(c->g, t, cell, &cell)) {
        uint32_t r = cell / c->n_cols, col = cell % c->n_cols;
        if (atomic_exchange(&c->row_in[r], 1u) || atomic_exchange(&c->col_in[col], 1u))
            atomic_fetch_add(&c->clashes, 1u);
        atomic_fetch_add(&c->taken[cell], 1u);
        if (c->home != NULL) {
            if (c->home[r] != t && atomic_load(&c->own_left[t]) > 0)
                atomic_fetch_add(&c->stolen_early, 1u);
            atomic_fetch_sub(&c->own_left[c->home[r]], 1u);
        }
        for (volatile int spin = 0; spin < 2000 * (int)(cell % 5 + 1); spin++)
            ;
        atomic_store(&c->col_in[col], 0u);
        atomic_store(&c->row_in[r], 0u);
    }
}

static void test_grid(void **state)
{
    /* 4 x 5 cells, two of weight 0; rows 0-1 belong to thread 0, 2-3 to
     * thread 1 (or no homes). */
    uint64_t w[20];
    static const uint32_t home[4] = {0, 0, 1, 1};
    (void)state;
    for (uint32_t i = 0; i < 20; i++)
        w[i] = i == 3 || i == 17 ? 0 : 1 + i % 7;
    for (int h = 0; h < 2; h++)
        for (uint32_t n = 1; n <= 3; n++) {
            static grid_ctx c;
            trove__team *tm = NULL;
            memset(&c, 0, sizeof c);
            c.n_rows = 4;
            c.n_cols = 5;
            c.home = h && n == 2 ? home : NULL;
            assert_int_equal(trove__grid_new(4, 5, w, c.home, &c.g), TROVE_OK);
            assert_int_equal(trove__team_new(n, &tm), TROVE_OK);
            for (uint32_t pass = 0; pass < 50; pass++) {
                if (pass > 0)
                    trove__grid_reset(c.g);
                if (c.home != NULL) {
                    atomic_store(&c.own_left[0], 9u); /* 10 cells, cell 3 empty */
                    atomic_store(&c.own_left[1], 9u); /* cell 17 empty */
                }
                trove__team_run(tm, grid_share, &c);
                for (uint32_t i = 0; i < 20; i++)
                    assert_int_equal(atomic_load(&c.taken[i]), w[i] > 0 ? pass + 1 : 0u);
            }
            assert_int_equal(atomic_load(&c.clashes), 0u);
            assert_int_equal(atomic_load(&c.stolen_early), 0u);
            trove__team_free(tm);
            trove__grid_free(c.g);
        }
    trove__grid_free(NULL);

    /* One thread: after a cell it takes the next pending cell of the same
     * column while there is one (column rows stay in its cache), and
     * every cell once. */
    {
        trove__grid *g = NULL;
        uint32_t cell = TROVE__GRID_NONE, prev = TROVE__GRID_NONE, n = 0;
        uint8_t seen[20] = {0};
        assert_int_equal(trove__grid_new(4, 5, w, NULL, &g), TROVE_OK);
        while (trove__grid_next(g, 0, cell, &cell)) {
            assert_int_equal(seen[cell], 0);
            seen[cell] = 1;
            n++;
            if (prev != TROVE__GRID_NONE) {
                int col_left = 0;
                for (uint32_t r = 0; r < 4; r++)
                    col_left |= w[r * 5 + prev % 5] > 0 && !seen[r * 5 + prev % 5] &&
                                r * 5 + prev % 5 != cell;
                if (cell % 5 != prev % 5)
                    assert_false(col_left);
            }
            prev = cell;
        }
        assert_int_equal(n, 18);
        trove__grid_free(g);
    }

    /* Out of memory: a clean TROVE_ENOMEM, nothing leaked, *out untouched. */
    for (long k = 0; k < 5; k++) {
        trove__grid *g = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove__grid_new(4, 5, w, home, &g);
        testutil_fail_alloc_after(-1);
        if (k < 4) {
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(g);
        } else {
            assert_int_equal(rc, TROVE_OK);
            trove__grid_free(g);
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
        cmocka_unit_test(test_team),
        cmocka_unit_test(test_grid),
        cmocka_unit_test(test_threads_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
