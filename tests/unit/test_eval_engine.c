/*
 * test_eval_engine.c - the evaluation engine: independence from the thread
 * count, bootstrap intervals, paired comparison, beyond-accuracy figures,
 * slices, bad input (empty test set, k beyond the catalog, shapes, unknown
 * ids in test files), scorer errors and out-of-memory at every allocation.
 */
#include "testutil.h"
#include "trove/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NU 300u
#define NI 120u

/* Deterministic pseudo-random scores with a user-dependent preference for
 * low item indices (so models differ measurably from noise). */
typedef struct synth {
    uint64_t seed;
    float    signal;      /* 0 = pure noise */
} synth;

static float hash01(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return (float)(x >> 40) * 0x1.0p-24f;
}

static int synth_score(void *ctx, uint32_t user, float *s, trove_error *err)
{
    const synth *sy = ctx;
    (void)err;
    for (uint32_t i = 0; i < NI; i++)
        s[i] = hash01(sy->seed * 1000003u + user * 7919u + i) +
               sy->signal * (float)(NI - i) / (float)NI;
    return TROVE_OK;
}

/* train: user u has items (u + 3j) % NI, j < 1 + u % 7; test: items
 * (u + 1 + 5j) % 40, j < 1 + u % 4 (low indices: the signal finds them). */
static void make_split(trove_csr *train, trove_csr *test)
{
    uint32_t rows[NU * 8], cols[NU * 8];
    uint64_t n = 0;
    trove_error err;
    for (uint32_t u = 0; u < NU; u++)
        for (uint32_t j = 0; j < 1 + u % 7; j++) {
            rows[n] = u;
            cols[n++] = (u + 3 * j) % NI;
        }
    assert_int_equal(trove_csr_from_coo(NU, NI, rows, cols, NULL, n, TROVE_DUP_MAX,
                                        train, &err), TROVE_OK);
    n = 0;
    for (uint32_t u = 0; u < NU; u++)
        for (uint32_t j = 0; j < 1 + u % 4; j++) {
            rows[n] = u;
            cols[n++] = (u + 1 + 5 * j) % 40;
        }
    assert_int_equal(trove_csr_from_coo(NU, NI, rows, cols, NULL, n, TROVE_DUP_MAX,
                                        test, &err), TROVE_OK);
}

static void test_threads_do_not_change_results(void **state)
{
    trove_csr train, test;
    synth sy = {7, 0.5f};
    trove_scorer sc = {&sy, NU, NI, synth_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r1 = NULL, *r3 = NULL;
    trove_error err;
    (void)state;
    make_split(&train, &test);
    p.bootstrap = 100;
    p.threads = 1;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r1, &err), TROVE_OK);
    p.threads = 3;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r3, &err), TROVE_OK);
    assert_int_equal(r1->n_users, r3->n_users);
    assert_memory_equal(r1->per_user, r3->per_user,
                        (size_t)r1->n_users * TROVE_METRIC_COUNT * sizeof(double));
    assert_memory_equal(r1->exposure, r3->exposure, NI * sizeof(uint64_t));
    assert_memory_equal(&r1->overall, &r3->overall, sizeof r1->overall);
    assert_int_equal(r1->n_slices, r3->n_slices);
    trove_eval_result_free(r1);
    trove_eval_result_free(r3);
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

static void test_bootstrap_interval(void **state)
{
    trove_csr train, test;
    synth sy = {3, 0.3f};
    trove_scorer sc = {&sy, NU, NI, synth_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r = NULL;
    trove_eval_summary a, b, c;
    trove_error err;
    (void)state;
    make_split(&train, &test);
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r, &err), TROVE_OK);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
        assert_true(r->overall.lo[m] <= r->overall.mean[m]);
        assert_true(r->overall.mean[m] <= r->overall.hi[m]);
    }
    assert_true(r->overall.hi[TROVE_METRIC_RECALL] > r->overall.lo[TROVE_METRIC_RECALL]);
    assert_int_equal(trove_eval_summarize(r, NULL, 0, 500, 0.95, 11, &a, &err), TROVE_OK);
    assert_int_equal(trove_eval_summarize(r, NULL, 0, 500, 0.95, 11, &b, &err), TROVE_OK);
    assert_int_equal(trove_eval_summarize(r, NULL, 0, 500, 0.95, 12, &c, &err), TROVE_OK);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(memcmp(a.lo, c.lo, sizeof a.lo) != 0);
    /* a wider level gives a wider interval */
    assert_int_equal(trove_eval_summarize(r, NULL, 0, 500, 0.99, 11, &c, &err), TROVE_OK);
    assert_true(c.hi[TROVE_METRIC_NDCG] - c.lo[TROVE_METRIC_NDCG] >=
                a.hi[TROVE_METRIC_NDCG] - a.lo[TROVE_METRIC_NDCG]);
    /* a subset and bad arguments */
    uint32_t idx[] = {0, 1, 2};
    assert_int_equal(trove_eval_summarize(r, idx, 3, 0, 0.95, 1, &a, &err), TROVE_OK);
    assert_int_equal(a.n_users, 3);
    uint32_t bad[] = {100000};
    assert_int_equal(trove_eval_summarize(r, bad, 1, 0, 0.95, 1, &a, &err), TROVE_EINVAL);
    assert_int_equal(trove_eval_summarize(r, NULL, 0, 10, 1.5, 1, &a, &err), TROVE_EINVAL);
    trove_eval_result_free(r);
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

static void test_paired_comparison(void **state)
{
    trove_csr train, test;
    synth good = {5, 2.0f}, noise = {5, 0.0f};
    trove_scorer sg = {&good, NU, NI, synth_score}, sn = {&noise, NU, NI, synth_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *rg = NULL, *rg2 = NULL, *rn = NULL;
    trove_eval_comparison c;
    trove_error err;
    (void)state;
    make_split(&train, &test);
    p.bootstrap = 0;
    assert_int_equal(trove_eval_run(&sg, &train, &test, &p, &rg, &err), TROVE_OK);
    assert_int_equal(trove_eval_run(&sg, &train, &test, &p, &rg2, &err), TROVE_OK);
    assert_int_equal(trove_eval_run(&sn, &train, &test, &p, &rn, &err), TROVE_OK);
    /* identical models: no difference, p = 1 */
    assert_int_equal(trove_eval_compare(rg, rg2, 500, 0.95, 1, &c, &err), TROVE_OK);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
        assert_true(c.diff[m] == 0.0);
        assert_true(c.p_value[m] == 1.0);
    }
    /* signal against noise: large positive difference, tiny p */
    assert_int_equal(trove_eval_compare(rg, rn, 500, 0.95, 1, &c, &err), TROVE_OK);
    assert_true(c.diff[TROVE_METRIC_RECALL] > 0.1);
    assert_true(c.lo[TROVE_METRIC_RECALL] > 0.0);
    assert_true(c.p_value[TROVE_METRIC_RECALL] < 0.01);
    assert_true(c.p_value[TROVE_METRIC_AUC] < 0.01);
    /* and the other way round the difference is negative */
    assert_int_equal(trove_eval_compare(rn, rg, 500, 0.95, 1, &c, &err), TROVE_OK);
    assert_true(c.hi[TROVE_METRIC_NDCG] < 0.0);
    /* different k: refused */
    trove_eval_result_free(rg2);
    p.k = 5;
    assert_int_equal(trove_eval_run(&sg, &train, &test, &p, &rg2, &err), TROVE_OK);
    assert_int_equal(trove_eval_compare(rg, rg2, 100, 0.95, 1, &c, &err), TROVE_EINVAL);
    trove_eval_result_free(rg);
    trove_eval_result_free(rg2);
    trove_eval_result_free(rn);
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

/* Item scores fixed for every user: 4 items, score = index. */
static int fixed_score(void *ctx, uint32_t user, float *s, trove_error *err)
{
    (void)ctx;
    (void)user;
    (void)err;
    for (uint32_t i = 0; i < 4; i++)
        s[i] = (float)i;
    return TROVE_OK;
}

static void test_beyond_accuracy(void **state)
{
    /* 3 users; user 2 has item 3 in train. k = 1: users 0, 1 get item 3,
     * user 2 gets item 2. Item train counts: item 3 -> 1 user. */
    uint64_t tr_ptr[] = {0, 0, 0, 1}, te_ptr[] = {0, 1, 2, 3};
    uint32_t tr_idx[] = {3}, te_idx[] = {3, 0, 2};
    trove_csr train = {3, 4, 1, tr_ptr, tr_idx, NULL};
    trove_csr test = {3, 4, 3, te_ptr, te_idx, NULL};
    trove_scorer sc = {NULL, 3, 4, fixed_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r = NULL;
    trove_error err;
    (void)state;
    p.k = 1;
    p.bootstrap = 0;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->n_recommended, 3);
    assert_int_equal(r->exposure[3], 2);
    assert_int_equal(r->exposure[2], 1);
    assert_true(fabs(r->coverage - 0.5) < 1e-12);
    assert_true(fabs(r->top5_share - 1.0) < 1e-12);
    /* exposure {0,0,1,2}: (2*3-5)*1 + (2*4-5)*2 = 7, / (4*3) */
    assert_true(fabs(r->gini - 7.0 / 12.0) < 1e-12);
    /* one train user: p(3) = 1/1, p(2) = max(1, 0)/1 -> novelty 0 */
    assert_true(fabs(r->novelty) < 1e-12);
    assert_true(fabs(r->mean_popularity - 2.0 / 3.0) < 1e-12);
    /* hits: user 0 (item 3) and user 2 (item 2): precision@1 mean 2/3 */
    assert_true(fabs(r->overall.mean[TROVE_METRIC_PRECISION] - 2.0 / 3.0) < 1e-12);
    /* slices: cold items = items 0 and 2 (users 1, 2); new users = 0, 1 */
    int seen_cold = 0, seen_new = 0;
    for (uint32_t s = 0; s < r->n_slices; s++) {
        if (r->slices[s].kind == TROVE_SLICE_COLD_ITEMS) {
            seen_cold = 1;
            assert_int_equal(r->slices[s].s.n_users, 2);
            assert_true(fabs(r->slices[s].s.mean[TROVE_METRIC_PRECISION] - 0.5) < 1e-12);
        }
        if (r->slices[s].kind == TROVE_SLICE_NEW_USERS) {
            seen_new = 1;
            assert_int_equal(r->slices[s].s.n_users, 2);
        }
    }
    assert_true(seen_cold && seen_new);
    trove_eval_result_free(r);
}

static void test_market_slices(void **state)
{
    trove_csr train, test;
    synth sy = {1, 0.5f};
    trove_scorer sc = {&sy, NU, NI, synth_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r = NULL;
    uint32_t market[NU];
    const char *names[] = {"DE", "FR"};
    trove_error err;
    (void)state;
    make_split(&train, &test);
    for (uint32_t u = 0; u < NU; u++)
        market[u] = u % 3 == 2 ? UINT32_MAX : u % 3;
    p.bootstrap = 50;
    p.user_market = market;
    p.n_markets = 2;
    p.market_names = names;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r, &err), TROVE_OK);
    uint32_t total = 0, n_market = 0;
    double weighted = 0;
    for (uint32_t s = 0; s < r->n_slices; s++)
        if (r->slices[s].kind == TROVE_SLICE_MARKET) {
            n_market++;
            total += r->slices[s].s.n_users;
            weighted += r->slices[s].s.mean[TROVE_METRIC_NDCG] * r->slices[s].s.n_users;
        }
    assert_int_equal(n_market, 3);
    assert_string_equal(r->slices[0].name, "market=DE");
    assert_int_equal(total, r->n_users);
    assert_true(fabs(weighted / total - r->overall.mean[TROVE_METRIC_NDCG]) < 1e-9);
    trove_eval_result_free(r);
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

static void test_bad_input(void **state)
{
    uint64_t tr_ptr[] = {0, 1, 1}, te_ptr[] = {0, 1, 1}, empty_ptr[] = {0, 0, 0};
    uint32_t tr_idx[] = {2}, te_idx[] = {2};
    trove_csr train = {2, 4, 1, tr_ptr, tr_idx, NULL};
    trove_csr test = {2, 4, 1, te_ptr, te_idx, NULL};
    trove_csr empty = {2, 4, 0, empty_ptr, NULL, NULL};
    trove_scorer sc = {NULL, 2, 4, fixed_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r = NULL;
    trove_error err;
    (void)state;
    p.k = 2;
    /* every test pair is also a train pair: nothing to evaluate */
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r, &err), TROVE_EEMPTY);
    assert_non_null(strstr(err.msg, "test set is empty"));
    assert_null(r);
    assert_int_equal(trove_eval_run(&sc, &train, &empty, &p, &r, &err), TROVE_EEMPTY);
    /* k larger than the catalog */
    p.k = 5;
    assert_int_equal(trove_eval_run(&sc, NULL, &test, &p, &r, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "larger than the catalog"));
    p.k = 0;
    assert_int_equal(trove_eval_run(&sc, NULL, &test, &p, &r, &err), TROVE_EINVAL);
    /* shape mismatch */
    p.k = 2;
    trove_scorer wide = {NULL, 2, 5, fixed_score};
    assert_int_equal(trove_eval_run(&wide, NULL, &test, &p, &r, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "item columns"));
    /* out-of-range column */
    uint32_t bad_idx[] = {9};
    trove_csr bad = {2, 4, 1, te_ptr, bad_idx, NULL};
    assert_int_equal(trove_eval_run(&sc, NULL, &bad, &p, &r, &err), TROVE_EINVAL);
    /* k = catalog size is fine */
    p.k = 4;
    assert_int_equal(trove_eval_run(&sc, NULL, &test, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->n_test_pairs, 1);
    trove_eval_result_free(r);
    /* test pairs also in train are dropped and counted */
    uint64_t te2_ptr[] = {0, 2, 2};
    uint32_t te2_idx[] = {1, 2};
    trove_csr test2 = {2, 4, 2, te2_ptr, te2_idx, NULL};
    p.k = 2;
    assert_int_equal(trove_eval_run(&sc, &train, &test2, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->n_test_in_train, 1);
    assert_int_equal(r->n_relevant, 1);
    trove_eval_result_free(r);
}

static int failing_score(void *ctx, uint32_t user, float *s, trove_error *err)
{
    (void)ctx;
    if (user == 7)
        return trove_error_set(err, TROVE_EIO, "feature store unavailable");
    for (uint32_t i = 0; i < NI; i++)
        s[i] = (float)i;
    return TROVE_OK;
}

static void test_scorer_error(void **state)
{
    trove_csr train, test;
    trove_scorer sc = {NULL, NU, NI, failing_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r = NULL;
    trove_error err;
    (void)state;
    make_split(&train, &test);
    for (int t = 1; t <= 2; t++) {
        p.threads = t;
        assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r, &err), TROVE_EIO);
        assert_non_null(strstr(err.msg, "user 7"));
        assert_non_null(strstr(err.msg, "feature store unavailable"));
        assert_null(r);
    }
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

static void test_out_of_memory(void **state)
{
    trove_csr train, test;
    synth sy = {2, 0.5f};
    trove_scorer sc = {&sy, NU, NI, synth_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_comparison c;
    trove_error err;
    int ok = 0;
    (void)state;
    make_split(&train, &test);
    p.bootstrap = 20;
    p.threads = 2;
    for (long k = 0; k < 500 && !ok; k++) {
        trove_eval_result *r = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove_eval_run(&sc, &train, &test, &p, &r, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            ok = 1;
            trove_eval_result_free(r);
        } else {
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(r);
        }
    }
    assert_true(ok);
    /* comparison under allocation failure */
    trove_eval_result *a = NULL;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &a, &err), TROVE_OK);
    testutil_fail_alloc_after(0);
    assert_int_equal(trove_eval_compare(a, a, 10, 0.95, 1, &c, &err), TROVE_ENOMEM);
    testutil_fail_alloc_after(-1);
    trove_eval_result_free(a);
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

static void test_load_pairs_unknown_ids(void **state)
{
    trove_idmap *users = trove_idmap_new(), *items = trove_idmap_new();
    trove_eval_load_stats st;
    trove_csr m;
    trove_error err;
    uint32_t ix;
    const char *path = testutil_tmp_path("test_pairs.tsv");
    (void)state;
    assert_int_equal(trove_idmap_intern(users, "u1", 2, &ix, NULL), TROVE_OK);
    assert_int_equal(trove_idmap_intern(users, "u2", 2, &ix, NULL), TROVE_OK);
    assert_int_equal(trove_idmap_intern(items, "a", 1, &ix, NULL), TROVE_OK);
    assert_int_equal(trove_idmap_intern(items, "b", 1, &ix, NULL), TROVE_OK);
    assert_int_equal(testutil_write_file(path,
                     "u2\tb\nu1\ta\t5\nu1\ta\nzz\ta\nu1\tzz\n\nu2\ta\n"), 0);
    assert_int_equal(trove_eval_load_pairs(path, users, items, &m, &st, &err), TROVE_OK);
    assert_int_equal(st.lines, 6);
    assert_int_equal(st.pairs, 3);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.unknown_user, 1);
    assert_int_equal(st.unknown_item, 1);
    assert_int_equal(m.n_rows, 2);
    assert_int_equal(m.n_cols, 2);
    assert_int_equal(m.indptr[1], 1);
    assert_int_equal(m.indices[1], 0);
    assert_int_equal(m.indices[2], 1);
    trove_csr_destroy(&m);
    /* malformed line names file and line */
    assert_int_equal(testutil_write_file(path, "u1\ta\nno-tab-here\n"), 0);
    assert_int_equal(trove_eval_load_pairs(path, users, items, &m, &st, &err),
                     TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, ":2:"));
    assert_int_equal(trove_eval_load_pairs("/nonexistent/x.tsv", users, items, &m,
                                           &st, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.tsv"));
    trove_idmap_free(users);
    trove_idmap_free(items);
}

/* Scores in 7 levels (many ties) over 600 items; one user with 250
 * relevant items (the sorted-scores path) and one with 5 (the counting
 * path): LightFM ranks must match the definition computed directly. */
static int level_score(void *ctx, uint32_t user, float *s, trove_error *err)
{
    (void)ctx;
    (void)err;
    for (uint32_t i = 0; i < 600; i++)
        s[i] = (float)((i * 7919u + user * 31u) % 7u);
    return TROVE_OK;
}

static void test_rank_paths_agree(void **state)
{
    uint32_t rows[300], cols[300], trows[40], tcols[40];
    uint64_t n = 0, nt = 0;
    trove_csr train, test;
    trove_scorer sc = {NULL, 2, 600, level_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r = NULL;
    trove_error err;
    (void)state;
    for (uint32_t i = 0; i < 250; i++) {
        rows[n] = 0;
        cols[n++] = i * 2;
    }
    for (uint32_t i = 0; i < 5; i++) {
        rows[n] = 1;
        cols[n++] = 100 + i * 13;
    }
    for (uint32_t i = 0; i < 20; i++) {
        trows[nt] = i % 2;
        tcols[nt++] = 501 + i * 3;
    }
    assert_int_equal(trove_csr_from_coo(2, 600, rows, cols, NULL, n, TROVE_DUP_MAX, &test, &err),
                     TROVE_OK);
    assert_int_equal(trove_csr_from_coo(2, 600, trows, tcols, NULL, nt, TROVE_DUP_MAX, &train,
                                        &err), TROVE_OK);
    p.k = 10;
    p.bootstrap = 0;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r, &err), TROVE_OK);
    for (uint32_t u = 0; u < 2; u++) {
        float s[600];
        uint32_t ranks[250], m = 0, hits = 0;
        level_score(NULL, u, s, NULL);
        for (uint64_t q = test.indptr[u]; q < test.indptr[u + 1]; q++) {
            uint32_t t = test.indices[q], rank = 0;
            for (uint32_t j = 0; j < 600; j++)
                if (j != t && !trove_csr_contains(&train, u, j) && s[j] >= s[t])
                    rank++;
            hits += rank < 10;
            ranks[m++] = rank;
        }
        uint32_t n_train = (uint32_t)(train.indptr[u + 1] - train.indptr[u]);
        double auc = trove_eval_lightfm_auc(ranks, m, 600 - m - n_train);
        const double *pu = r->per_user + (size_t)u * TROVE_METRIC_COUNT;
        assert_true(fabs(pu[TROVE_METRIC_AUC] - auc) < 1e-12);
        assert_true(fabs(pu[TROVE_METRIC_PRECISION_LFM] - hits / 10.0) < 1e-12);
        assert_true(fabs(pu[TROVE_METRIC_RECALL_LFM] - (double)hits / m) < 1e-12);
    }
    trove_eval_result_free(r);
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

static void test_report_files(void **state)
{
    trove_csr train, test;
    synth sy = {4, 0.5f};
    trove_scorer sc = {&sy, NU, NI, synth_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r = NULL;
    trove_eval_comparison c;
    trove_eval_report_info info;
    trove_eval_report_model m[2];
    trove_error err;
    const char *html = testutil_tmp_path("engine.html");
    (void)state;
    make_split(&train, &test);
    p.bootstrap = 50;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &r, &err), TROVE_OK);
    assert_int_equal(trove_eval_compare(r, r, 50, 0.95, 1, &c, &err), TROVE_OK);
    memset(&info, 0, sizeof info);
    info.title = "synthetic <split> & co";
    info.baseline = "base";
    info.bootstrap = 50;
    info.ci_level = 0.95;
    m[0] = (trove_eval_report_model){"base", r, NULL, 0.1, 0.2};
    m[1] = (trove_eval_report_model){"model", r, &c, 0.3, 0.4};
    assert_int_equal(trove_eval_report_html(html, &info, m, 2, &err), TROVE_OK);
    FILE *f = fopen(html, "r");
    char buf[4096];
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    /* text is escaped */
    assert_non_null(strstr(buf, "synthetic &lt;split&gt; &amp; co"));
    assert_int_equal(trove_eval_report_html("/nonexistent/dir/r.html", &info, m, 2, &err),
                     TROVE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/r.html"));
    assert_int_equal(trove_eval_report_html(html, &info, m, 0, &err), TROVE_EINVAL);
    /* JSON into a memory stream parses back with both models */
    char *mem = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&mem, &len);
    assert_non_null(ms);
    assert_int_equal(trove_eval_report_json(ms, &info, m, 2, &err), TROVE_OK);
    fclose(ms);
    assert_non_null(strstr(mem, "\"name\":\"model\""));
    assert_non_null(strstr(mem, "\"vs_baseline\":null"));
    assert_non_null(strstr(mem, "\"p\":1"));
    free(mem);
    testutil_fail_alloc_after(0);
    assert_int_equal(trove_eval_report_html(html, &info, m, 2, &err), TROVE_ENOMEM);
    testutil_fail_alloc_after(-1);
    trove_eval_result_free(r);
    trove_csr_destroy(&train);
    trove_csr_destroy(&test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_bootstrap_interval),
        cmocka_unit_test(test_paired_comparison),
        cmocka_unit_test(test_beyond_accuracy),
        cmocka_unit_test(test_market_slices),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_scorer_error),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_load_pairs_unknown_ids),
        cmocka_unit_test(test_rank_paths_agree),
        cmocka_unit_test(test_report_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
