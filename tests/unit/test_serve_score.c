/*
 * test_serve_score.c - the serving-time candidates (src/serve/score.c)
 * against the model's own float32 scores: every item of the float32 top k
 * is a candidate, candidate scores match, no item left out can score above
 * the bound, for several k, dimensions that are and are not multiples of
 * 16 (and odd), and item counts that do not fill the last block; the
 * candidate set stays close to k (the bound is tight); building under
 * failing allocations ends in TROVE_ENOMEM without a leak.
 */
#include "testutil.h"
#include "serve/serve_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A trained model of n_items items, n_users users, dimension dim, on
 * random interactions (scores spread like a real model's). */
static trove_model *train(uint32_t n_users, uint32_t n_items, uint32_t dim)
{
    trove_error err;
    trove_model *m = NULL;
    trove_csr c;
    trove_rng rng;
    uint32_t per = 8;
    memset(&c, 0, sizeof c);
    c.n_rows = n_users;
    c.n_cols = n_items;
    c.nnz = (uint64_t)n_users * per;
    c.indptr = calloc((size_t)n_users + 1, sizeof *c.indptr);
    c.indices = malloc((size_t)c.nnz * sizeof *c.indices);
    assert_non_null(c.indptr);
    assert_non_null(c.indices);
    trove_rng_seed(&rng, 11);
    for (uint32_t u = 0; u < n_users; u++) {
        /* per distinct ascending columns: one from each stripe */
        uint32_t stripe = n_items / per;
        for (uint32_t k = 0; k < per; k++)
            c.indices[u * per + k] = k * stripe + trove_rng_below(&rng, stripe);
        c.indptr[u + 1] = (uint64_t)(u + 1) * per;
    }
    trove_model_params p = trove_model_default_params();
    p.loss = TROVE_LOSS_WARP;
    p.no_components = dim;
    p.seed = 5;
    assert_int_equal(trove_model_new(&p, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &c, NULL, NULL, 3, &err), TROVE_OK);
    free(c.indptr);
    free(c.indices);
    return m;
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static void check_model(uint32_t n_items, uint32_t dim)
{
    trove_error err;
    trove_model *m = train(40, n_items, dim);
    serve_qmat *qm = NULL;
    assert_int_equal(trove__serve_qmat_build(m, &qm), TROVE_OK);
    uint32_t dim16 = trove__serve_qmat_dim16(qm);
    assert_int_equal(dim16 % 16, 0);
    assert_true(dim16 >= dim && dim16 < dim + 16);
    float *full = malloc(n_items * sizeof *full);
    float *sorted = malloc(n_items * sizeof *sorted);
    float *work = malloc(SERVE_QSCAN_WORK(n_items) * sizeof *work);
    float *exact = malloc(SERVE_CANDIDATES_MAX * sizeof *exact);
    uint32_t *cand = malloc(SERVE_CANDIDATES_MAX * sizeof *cand);
    uint8_t *in = malloc(n_items);
    float q[4096];
    assert_true(full && sorted && work && exact && cand && in);
    const size_t ks[] = { 1, 10, 112 };
    for (uint32_t u = 0; u < 40; u += 3) {
        float bu;
        memset(q, 0, sizeof q);
        assert_int_equal(trove_model_user_repr(m, u, q, &bu, &err), TROVE_OK);
        assert_int_equal(trove_model_score_user(m, u, full, &err), TROVE_OK);
        memcpy(sorted, full, n_items * sizeof *full);
        qsort(sorted, n_items, sizeof *sorted, cmp_desc);
        for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
            size_t k = ks[t];
            float upper = NAN;
            size_t n = trove__serve_qmat_candidates(qm, q, bu, k, work, cand,
                                                    exact,
                                                    SERVE_CANDIDATES_MAX, &upper);
            assert_true(n >= k);
            assert_true(n < n_items || k == 112);
            /* the bound is tight: few items beyond the k asked for */
            assert_true(n <= k + k / 4 + 8);
            memset(in, 0, n_items);
            for (size_t c = 0; c < n; c++) {
                assert_true(cand[c] < n_items);
                if (c > 0)
                    assert_true(cand[c] > cand[c - 1]);   /* index order */
                in[cand[c]] = 1;
                float tol = 1e-4f * (fabsf(full[cand[c]]) + 1.0f);
                assert_true(fabsf(exact[c] - full[cand[c]]) <= tol);
            }
            /* the float32 top k is in; nothing left out beats the bound */
            float kth = sorted[k - 1];
            for (uint32_t j = 0; j < n_items; j++) {
                if (full[j] > kth + 1e-4f * (fabsf(kth) + 1.0f))
                    assert_true(in[j]);
                if (!in[j])
                    assert_true(full[j] <= upper);
            }
        }
    }
    /* more qualifying items than the cap: 0, score everything */
    float upper;
    size_t k = n_items < 64 ? n_items : 64;
    assert_int_equal(trove__serve_qmat_candidates(qm, q, 0.0f, k, work, cand, exact,
                                                  k / 2, &upper), 0);
    free(full);
    free(sorted);
    free(work);
    free(exact);
    free(cand);
    free(in);
    trove__serve_qmat_free(qm);
    trove_model_free(m);
}

static void test_candidates_d64(void **state)
{
    (void)state;
    check_model(3001, 64);
}

static void test_candidates_d20(void **state)
{
    (void)state;
    check_model(517, 20);
}

static void test_candidates_d21(void **state)
{
    (void)state;
    check_model(250, 21);   /* an odd dimension: the last pair half empty */
}

static void test_build_out_of_memory(void **state)
{
    trove_model *m = train(10, 64, 8);
    int done = 0;
    (void)state;
    trove__serve_qmat_free(NULL);
    for (long k = 0; k < 20 && !done; k++) {
        serve_qmat *qm = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove__serve_qmat_build(m, &qm);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            done = 1;
            trove__serve_qmat_free(qm);
        } else {
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(qm);
        }
    }
    assert_true(done);
    trove_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates_d64),
        cmocka_unit_test(test_candidates_d20),
        cmocka_unit_test(test_candidates_d21),
        cmocka_unit_test(test_build_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
