/*
 * test_metrics.c - metric definitions against published fixtures and hand
 * computations: Microsoft Recommenders' python_evaluation unit-test fixture
 * (precision 0.26667, recall 0.37778, NDCG 0.38172, MAP 0.23613 at k=10),
 * LightFM's ranks and AUC with ties, and the beyond-accuracy figures.
 */
#include "testutil.h"
#include "trove/eval.h"

#include <math.h>
#include <string.h>

/* The Recommenders fixture (tests/unit/recommenders/evaluation/conftest.py):
 * rating_true and rating_pred for users 1..3 over items 1..14. */
static const uint32_t true_user[] = {1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1};
static const uint32_t true_item[] = {3, 1, 4, 5, 6, 7, 2, 5, 6, 8, 9, 10, 11, 12, 13, 14, 1, 2};
static const uint32_t pred_user[] = {1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1};
static const uint32_t pred_item[] = {12, 10, 3, 5, 11, 13, 4, 10, 7, 13, 1, 3, 5, 2, 11, 14, 3, 10};
static const float pred_score[] = {12, 14, 13, 12, 11, 10, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 14, 13};
#define N_FIX 18u
#define FIX_USERS 4u   /* user ids 1..3 used as indices */
#define FIX_ITEMS 15u  /* item ids 1..14 used as indices */

static uint32_t ranked_list(uint32_t u, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t q = 0; q < N_FIX; q++)
        if (pred_user[q] == u)
            out[n++] = q;
    /* sort positions by score descending */
    for (uint32_t a = 1; a < n; a++) {
        uint32_t v = out[a], b = a;
        while (b > 0 && pred_score[out[b - 1]] < pred_score[v]) {
            out[b] = out[b - 1];
            b--;
        }
        out[b] = v;
    }
    for (uint32_t a = 0; a < n; a++)
        out[a] = pred_item[out[a]];
    return n;
}

static uint32_t relevant_of(uint32_t u, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t q = 0; q < N_FIX; q++)
        if (true_user[q] == u)
            out[n++] = true_item[q];
    for (uint32_t a = 1; a < n; a++) {
        uint32_t v = out[a], b = a;
        while (b > 0 && out[b - 1] > v) {
            out[b] = out[b - 1];
            b--;
        }
        out[b] = v;
    }
    return n;
}

static void test_recommenders_fixture_lists(void **state)
{
    double p = 0, r = 0, nd = 0, map = 0, map_rel = 0;
    (void)state;
    for (uint32_t u = 1; u <= 3; u++) {
        uint32_t ranked[16], rel[16];
        uint32_t n = ranked_list(u, ranked), m = relevant_of(u, rel);
        p += trove_eval_precision_at_k(ranked, n, rel, m, 10);
        r += trove_eval_recall_at_k(ranked, n, rel, m, 10);
        nd += trove_eval_ndcg_at_k(ranked, n, rel, m, 10);
        map += trove_eval_map_at_k(ranked, n, rel, m, 10, TROVE_MAP_MIN_K);
        map_rel += trove_eval_map_at_k(ranked, n, rel, m, 10, TROVE_MAP_BY_RELEVANT);
    }
    assert_true(fabs(p / 3 - 0.26667) < 1e-5);
    assert_true(fabs(r / 3 - 0.37778) < 1e-5);
    assert_true(fabs(nd / 3 - 0.38172) < 1e-5);
    assert_true(fabs(map / 3 - 0.23613) < 1e-5);
    /* every user has at most 10 relevant items: both denominators agree */
    assert_true(fabs(map_rel / 3 - 0.23613) < 1e-5);
}

/* The same fixture through the engine: unscored items get -INFINITY, so the
 * lists are exactly the predicted items. */
static int fixture_score(void *ctx, uint32_t user, float *scores, trove_error *err)
{
    (void)ctx;
    (void)err;
    for (uint32_t i = 0; i < FIX_ITEMS; i++)
        scores[i] = -INFINITY;
    for (uint32_t q = 0; q < N_FIX; q++)
        if (pred_user[q] == user)
            scores[pred_item[q]] = pred_score[q];
    return TROVE_OK;
}

static void test_recommenders_fixture_engine(void **state)
{
    uint32_t rows[N_FIX];
    trove_csr test;
    trove_error err;
    trove_eval_result *res = NULL;
    trove_scorer sc = {NULL, FIX_USERS, FIX_ITEMS, fixture_score};
    trove_eval_params p = trove_eval_default_params();
    (void)state;
    memcpy(rows, true_user, sizeof rows);
    assert_int_equal(trove_csr_from_coo(FIX_USERS, FIX_ITEMS, rows, true_item, NULL,
                                        N_FIX, TROVE_DUP_MAX, &test, &err), TROVE_OK);
    p.bootstrap = 200;
    assert_int_equal(trove_eval_run(&sc, NULL, &test, &p, &res, &err), TROVE_OK);
    assert_int_equal(res->n_users, 3);
    assert_true(fabs(res->overall.mean[TROVE_METRIC_PRECISION] - 0.26667) < 1e-5);
    assert_true(fabs(res->overall.mean[TROVE_METRIC_RECALL] - 0.37778) < 1e-5);
    assert_true(fabs(res->overall.mean[TROVE_METRIC_NDCG] - 0.38172) < 1e-5);
    assert_true(fabs(res->overall.mean[TROVE_METRIC_MAP] - 0.23613) < 1e-5);
    /* hits for every user: hit rate 1; first hits at ranks 1, 3, 2 */
    assert_true(fabs(res->overall.mean[TROVE_METRIC_HIT_RATE] - 1.0) < 1e-12);
    assert_true(fabs(res->overall.mean[TROVE_METRIC_MRR] - (1.0 + 1.0 / 3 + 0.5) / 3) < 1e-12);
    trove_eval_result_free(res);
    trove_csr_destroy(&test);
}

static void test_list_edge_cases(void **state)
{
    uint32_t ranked[] = {5, 1, 2};
    uint32_t rel[] = {1, 7};
    (void)state;
    /* short list: precision still divides by k */
    assert_true(fabs(trove_eval_precision_at_k(ranked, 3, rel, 2, 10) - 0.1) < 1e-12);
    assert_true(fabs(trove_eval_recall_at_k(ranked, 3, rel, 2, 10) - 0.5) < 1e-12);
    /* NDCG: one hit at position 2 of 2 relevant: (1/log2 3) / (1 + 1/log2 3) */
    double g = 1.0 / log2(3.0);
    assert_true(fabs(trove_eval_ndcg_at_k(ranked, 3, rel, 2, 10) - g / (1.0 + g)) < 1e-12);
    /* MAP: precision 1/2 at the hit, over min(k, |T|) = 2 or |T| = 2 */
    assert_true(fabs(trove_eval_map_at_k(ranked, 3, rel, 2, 10, TROVE_MAP_MIN_K) - 0.25) < 1e-12);
    /* k = 1 caps the MAP denominator at 1 under MIN_K but not BY_RELEVANT */
    uint32_t first[] = {1};
    assert_true(fabs(trove_eval_map_at_k(first, 1, rel, 2, 1, TROVE_MAP_MIN_K) - 1.0) < 1e-12);
    assert_true(fabs(trove_eval_map_at_k(first, 1, rel, 2, 1, TROVE_MAP_BY_RELEVANT) - 0.5) < 1e-12);
    assert_true(fabs(trove_eval_reciprocal_rank(ranked, 3, rel, 2) - 0.5) < 1e-12);
    assert_true(trove_eval_hit_rate_at_k(ranked, 3, rel, 2, 1) == 0.0);
    assert_true(trove_eval_hit_rate_at_k(ranked, 3, rel, 2, 2) == 1.0);
    /* k = 0 and no relevant items give 0 */
    assert_true(trove_eval_precision_at_k(ranked, 3, rel, 2, 0) == 0.0);
    assert_true(trove_eval_recall_at_k(ranked, 3, rel, 0, 5) == 0.0);
    assert_string_equal(trove_metric_name(TROVE_METRIC_AUC), "auc");
    assert_string_equal(trove_metric_name(99), "?");
}

static void test_lightfm_auc(void **state)
{
    (void)state;
    /* ranks {2, 2} with 2 negatives: (1 - 2/2 + 1 - 1/2) / 2 = 0.25 */
    uint32_t r1[] = {2, 2};
    assert_true(fabs(trove_eval_lightfm_auc(r1, 2, 2) - 0.25) < 1e-12);
    /* perfect: ranks {1, 0} (each other positive above) -> 1 */
    uint32_t r2[] = {1, 0};
    assert_true(fabs(trove_eval_lightfm_auc(r2, 2, 5) - 1.0) < 1e-12);
    /* one positive below all 4 negatives -> 0 */
    uint32_t r3[] = {4};
    assert_true(fabs(trove_eval_lightfm_auc(r3, 1, 4) - 0.0) < 1e-12);
    /* one class only -> 0.5 */
    uint32_t r4[] = {0};
    assert_true(trove_eval_lightfm_auc(r4, 1, 0) == 0.5);
    assert_true(trove_eval_lightfm_auc(r4, 0, 3) == 0.5);
}

/* One user, 5 items, ties: scores {0.5, 0.9, 0.5, 0.1, 0.5}, item 1 in
 * train, items 0 and 2 in test. LightFM ranks: item 0 -> {2, 4} = 2, item 2
 * -> {0, 4} = 2; n_neg = 5 - 2 - 1 = 2; AUC = 0.25. Top-2 list (ties by
 * index) = {0, 2}: precision 1; LightFM precision@2 = 0 (ties count
 * against), @3 = 2/3. */
static int tie_score(void *ctx, uint32_t user, float *s, trove_error *err)
{
    static const float v[5] = {0.5f, 0.9f, 0.5f, 0.1f, 0.5f};
    (void)ctx;
    (void)user;
    (void)err;
    memcpy(s, v, sizeof v);
    return TROVE_OK;
}

static void test_lightfm_ranks_with_ties(void **state)
{
    uint64_t tr_ptr[] = {0, 1}, te_ptr[] = {0, 2};
    uint32_t tr_idx[] = {1}, te_idx[] = {0, 2};
    trove_csr train = {1, 5, 1, tr_ptr, tr_idx, NULL};
    trove_csr test = {1, 5, 2, te_ptr, te_idx, NULL};
    trove_scorer sc = {NULL, 1, 5, tie_score};
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *res = NULL;
    trove_error err;
    (void)state;
    p.k = 2;
    p.bootstrap = 0;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &res, &err), TROVE_OK);
    const double *m = res->per_user;
    assert_true(fabs(m[TROVE_METRIC_AUC] - 0.25) < 1e-12);
    assert_true(m[TROVE_METRIC_PRECISION] == 1.0);
    assert_true(m[TROVE_METRIC_PRECISION_LFM] == 0.0);
    assert_true(m[TROVE_METRIC_RECALL_LFM] == 0.0);
    assert_true(m[TROVE_METRIC_MRR] == 1.0);
    trove_eval_result_free(res);
    p.k = 3;
    assert_int_equal(trove_eval_run(&sc, &train, &test, &p, &res, &err), TROVE_OK);
    assert_true(fabs(res->per_user[TROVE_METRIC_PRECISION_LFM] - 2.0 / 3.0) < 1e-12);
    assert_true(res->per_user[TROVE_METRIC_RECALL_LFM] == 1.0);
    trove_eval_result_free(res);
}

static void test_gini(void **state)
{
    uint64_t equal[] = {3, 3, 3, 3}, one[] = {0, 4, 0, 0}, none[] = {0, 0};
    (void)state;
    assert_true(fabs(trove_eval_gini(equal, 4)) < 1e-12);
    assert_true(fabs(trove_eval_gini(one, 4) - 0.75) < 1e-12);
    assert_true(trove_eval_gini(none, 2) == 0.0);
    assert_true(trove_eval_gini(NULL, 0) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recommenders_fixture_lists),
        cmocka_unit_test(test_recommenders_fixture_engine),
        cmocka_unit_test(test_list_edge_cases),
        cmocka_unit_test(test_lightfm_auc),
        cmocka_unit_test(test_lightfm_ranks_with_ties),
        cmocka_unit_test(test_gini),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
