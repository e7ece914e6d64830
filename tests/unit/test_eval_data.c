/*
 * test_eval_data.c - on the shared reference splits, the engine's LightFM-
 * definition precision@10, recall@10 and AUC agree to 1e-6 with a direct
 * transcription of lightfm.evaluation's definitions (the rank of a test
 * item is the number of other non-train items scored at least as high;
 * AUC from the sorted ranks), for a tie-heavy scorer (popularity) and a
 * tie-free ones (itemknn, the hybrid WARP model). Skipped when TROVE_DATA is
 * absent.
 */
#include "testutil.h"
#include "trove/eval.h"
#include "trove/recommender.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The straightforward computation, one user at a time. */
static void reference(const trove_recommender *r, const trove_csr *train,
                      const trove_csr *test, uint32_t k, double out[3])
{
    uint32_t ni = trove_recommender_n_items(r);
    float *s = malloc(ni * sizeof *s);
    uint32_t *ranks = malloc(ni * sizeof *ranks);
    unsigned char *is_train = calloc(ni, 1);
    double p = 0, rec = 0, auc = 0;
    uint32_t users = 0;
    trove_error err;
    assert_non_null(s);
    assert_non_null(ranks);
    assert_non_null(is_train);
    for (uint32_t u = 0; u < test->n_rows; u++) {
        uint32_t m = (uint32_t)(test->indptr[u + 1] - test->indptr[u]), hits = 0;
        if (m == 0)
            continue;
        assert_int_equal(trove_recommender_score_user(r, u, s, &err), TROVE_OK);
        if (u < train->n_rows)
            for (uint64_t q = train->indptr[u]; q < train->indptr[u + 1]; q++)
                is_train[train->indices[q]] = 1;
        for (uint32_t a = 0; a < m; a++) {
            uint32_t t = test->indices[test->indptr[u] + a], rank = 0;
            for (uint32_t j = 0; j < ni; j++)
                if (j != t && !is_train[j] && s[j] >= s[t])
                    rank++;
            ranks[a] = rank;
            hits += rank < k;
        }
        uint32_t n_train = u < train->n_rows
                           ? (uint32_t)(train->indptr[u + 1] - train->indptr[u]) : 0;
        double n_neg = (double)ni - m - n_train, a_u = 0;
        if (u < train->n_rows)
            for (uint64_t q = train->indptr[u]; q < train->indptr[u + 1]; q++)
                is_train[train->indices[q]] = 0;
        qsort(ranks, m, sizeof *ranks, cmp_u32);
        for (uint32_t a = 0; a < m; a++) {
            double rr = ranks[a] > a ? (double)(ranks[a] - a) : 0.0;
            a_u += 1.0 - rr / n_neg;
        }
        p += (double)hits / k;
        rec += (double)hits / m;
        auc += a_u / m;
        users++;
    }
    out[0] = p / users;
    out[1] = rec / users;
    out[2] = auc / users;
    free(s);
    free(ranks);
    free(is_train);
}

static void check_split(const char *stem, const char *uidx, const char *iidx,
                        const char *const *families, size_t n_fam)
{
    const char *data = testutil_data_dir();
    char path[1024];
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *train = NULL;
    trove_csr test;
    trove_error err;
    trove_pairs_options po;
    if (data == NULL)
        skip();
    snprintf(path, sizeof path, "%s/splits/%s", data, uidx);
    assert_int_equal(trove_idmap_load(path, &users, &err), TROVE_OK);
    snprintf(path, sizeof path, "%s/splits/%s", data, iidx);
    assert_int_equal(trove_idmap_load(path, &items, &err), TROVE_OK);
    memset(&po, 0, sizeof po);
    po.users = users;
    po.items = items;
    snprintf(path, sizeof path, "%s/splits/%s_train.tsv.gz", data, stem);
    assert_int_equal(trove_dataset_load_pairs(path, &po, &train, &err), TROVE_OK);
    snprintf(path, sizeof path, "%s/splits/%s_test.tsv.gz", data, stem);
    assert_int_equal(trove_eval_load_pairs(path, users, items, &test, NULL, &err), TROVE_OK);
    for (size_t f = 0; f < n_fam; f++) {
        trove_recommender *r = NULL;
        trove_eval_result *res = NULL;
        trove_eval_params p = trove_eval_default_params();
        double ref[3];
        assert_int_equal(trove_recommender_fit(families[f], NULL, train, &r, &err), TROVE_OK);
        trove_scorer sc = trove_scorer_from_recommender(r);
        p.bootstrap = 0;
        p.threads = 2;
        assert_int_equal(trove_eval_run(&sc, trove_dataset_interactions(train), &test, &p,
                                        &res, &err), TROVE_OK);
        reference(r, trove_dataset_interactions(train), &test, 10, ref);
        printf("%s %s: P@10 %.6f/%.6f R@10 %.6f/%.6f AUC %.6f/%.6f\n", stem, families[f],
               res->overall.mean[TROVE_METRIC_PRECISION_LFM], ref[0],
               res->overall.mean[TROVE_METRIC_RECALL_LFM], ref[1],
               res->overall.mean[TROVE_METRIC_AUC], ref[2]);
        assert_true(fabs(res->overall.mean[TROVE_METRIC_PRECISION_LFM] - ref[0]) < 1e-6);
        assert_true(fabs(res->overall.mean[TROVE_METRIC_RECALL_LFM] - ref[1]) < 1e-6);
        assert_true(fabs(res->overall.mean[TROVE_METRIC_AUC] - ref[2]) < 1e-6);
        trove_eval_result_free(res);
        trove_recommender_free(r);
    }
    trove_csr_destroy(&test);
    trove_dataset_free(train);
    trove_idmap_free(users);
    trove_idmap_free(items);
}

static void test_ml100k_u20(void **state)
{
    static const char *const fams[] = {"popularity", "itemknn", "random", "warp"};
    (void)state;
    check_split("ml100k_udata_min4_u20_seed42", "ml100k_udata_user_index.tsv",
                "ml100k_udata_item_index.tsv", fams, 4);
}

static void test_online_retail(void **state)
{
    static const char *const fams[] = {"popularity", "itemknn"};
    (void)state;
    check_split("onlineretail_purchase_u20_seed42", "onlineretail_user_index.tsv",
                "onlineretail_item_index.tsv", fams, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml100k_u20),
        cmocka_unit_test(test_online_retail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
