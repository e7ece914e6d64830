/*
 * test_ials.c - iALS: CG against exact Cholesky solves, monotone loss,
 * recovery of a planted low-rank preference (beats popularity on held-out
 * items), determinism across runs and thread counts, recommend-all against
 * brute force, parameter and input errors, save/load round trip, truncated
 * and corrupt files, and out-of-memory at every allocation of fit, load and
 * recommend.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A CSR owned by the test (plain malloc), built from a dense 0/1 mask. */
static void csr_from_mask(const unsigned char *mask, uint32_t rows, uint32_t cols,
                          const float *weights, trove_csr *out)
{
    uint64_t nnz = 0;
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        nnz += mask[i] != 0;
    out->n_rows = rows;
    out->n_cols = cols;
    out->nnz = nnz;
    out->indptr = malloc(((size_t)rows + 1) * sizeof *out->indptr);
    out->indices = malloc((nnz ? nnz : 1) * sizeof *out->indices);
    out->data = weights ? malloc((nnz ? nnz : 1) * sizeof *out->data) : NULL;
    assert_non_null(out->indptr);
    assert_non_null(out->indices);
    uint64_t j = 0;
    out->indptr[0] = 0;
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++) {
            if (!mask[(size_t)r * cols + c])
                continue;
            out->indices[j] = c;
            if (weights)
                out->data[j] = weights[(size_t)r * cols + c];
            j++;
        }
        out->indptr[r + 1] = j;
    }
}

static void csr_release(trove_csr *m)
{
    free(m->indptr);
    free(m->indices);
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* Random mask of the given density. */
static unsigned char *random_mask(uint32_t rows, uint32_t cols, double density,
                                  uint64_t seed)
{
    trove_rng rng;
    unsigned char *mask = calloc((size_t)rows * cols, 1);
    assert_non_null(mask);
    trove_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        mask[i] = trove_rng_uniform(&rng) < density;
    return mask;
}

static trove_ials *fit_ok(const trove_csr *m, const trove_ials_params *p)
{
    trove_ials *model = NULL;
    trove_error err;
    trove_error_clear(&err);
    int rc = trove_ials_fit(m, p, &model, &err);
    if (rc != TROVE_OK)
        fail_msg("fit failed: %s", err.msg);
    assert_non_null(model);
    return model;
}

static void test_cg_matches_cholesky(void **state)
{
    (void)state;
    trove_csr m;
    unsigned char *mask = random_mask(40, 30, 0.25, 7);
    float w[40 * 30];
    for (int i = 0; i < 40 * 30; i++)
        w[i] = 1.0f + (float)(i % 3);
    csr_from_mask(mask, 40, 30, w, &m);
    trove_ials_params p = trove_ials_default_params();
    p.factors = 8;
    p.iterations = 3;
    p.alpha = 2.0f;
    p.regularization = 0.5f;
    p.init_scale = 0.3f;
    p.solver = TROVE_IALS_SOLVER_CHOLESKY;
    trove_ials *exact = fit_ok(&m, &p);
    /* CG reaches the exact solution of an f x f SPD system in at most f
     * steps in exact arithmetic; a few more absorb rounding. */
    p.solver = TROVE_IALS_SOLVER_CG;
    p.cg_steps = 24;
    trove_ials *cg = fit_ok(&m, &p);
    double max_diff = 0.0, max_abs = 0.0;
    for (uint32_t u = 0; u < 40; u++)
        for (uint32_t k = 0; k < 8; k++) {
            double a = trove_ials_user_factors(exact, u)[k];
            double b = trove_ials_user_factors(cg, u)[k];
            max_diff = fmax(max_diff, fabs(a - b));
            max_abs = fmax(max_abs, fabs(a));
        }
    for (uint32_t i = 0; i < 30; i++)
        for (uint32_t k = 0; k < 8; k++) {
            double a = trove_ials_item_factors(exact, i)[k];
            double b = trove_ials_item_factors(cg, i)[k];
            max_diff = fmax(max_diff, fabs(a - b));
        }
    assert_true(max_abs > 1e-3);
    if (max_diff > 1e-3 * fmax(1.0, max_abs))
        fail_msg("CG differs from Cholesky by %g (scale %g)", max_diff, max_abs);
    trove_ials_free(exact);
    trove_ials_free(cg);
    csr_release(&m);
    free(mask);
}

typedef struct loss_trace {
    const trove_csr *m;
    double loss[64];
    uint32_t n;
} loss_trace;

static int record_loss(void *ud, uint32_t it, const trove_ials *model)
{
    loss_trace *t = ud;
    trove_error err;
    assert_int_equal(it, t->n + 1);
    assert_int_equal(trove_ials_loss(model, t->m, &t->loss[t->n], &err), TROVE_OK);
    t->n++;
    return 0;
}

static void check_monotone(int solver, int reg_scaling)
{
    trove_csr m;
    unsigned char *mask = random_mask(60, 50, 0.15, 11);
    csr_from_mask(mask, 60, 50, NULL, &m);
    loss_trace t = {.m = &m};
    trove_ials_params p = trove_ials_default_params();
    p.factors = 6;
    p.iterations = 12;
    p.solver = solver;
    p.reg_scaling = reg_scaling;
    p.regularization = reg_scaling ? 0.01f : 0.1f;
    p.callback = record_loss;
    p.callback_ud = &t;
    trove_ials *model = fit_ok(&m, &p);
    assert_int_equal(t.n, 12);
    for (uint32_t i = 1; i < t.n; i++)
        if (t.loss[i] > t.loss[i - 1] * (1.0 + 1e-5))
            fail_msg("loss rose at iteration %u: %g -> %g", i + 1, t.loss[i - 1],
                     t.loss[i]);
    assert_true(t.loss[t.n - 1] < 0.9 * t.loss[0]);
    trove_ials_free(model);
    csr_release(&m);
    free(mask);
}

static void test_loss_decreases(void **state)
{
    (void)state;
    check_monotone(TROVE_IALS_SOLVER_CG, TROVE_IALS_REG_NONE);
    check_monotone(TROVE_IALS_SOLVER_CHOLESKY, TROVE_IALS_REG_NONE);
    check_monotone(TROVE_IALS_SOLVER_CG, TROVE_IALS_REG_FREQUENCY);
}

static int stop_after_two(void *ud, uint32_t it, const trove_ials *model)
{
    (void)model;
    (*(int *)ud)++;
    return it >= 2;
}

static void test_callback_stops(void **state)
{
    (void)state;
    trove_csr m;
    unsigned char *mask = random_mask(20, 20, 0.3, 3);
    csr_from_mask(mask, 20, 20, NULL, &m);
    trove_ials_params p = trove_ials_default_params();
    p.factors = 4;
    p.iterations = 50;
    p.callback = stop_after_two;
    int calls = 0;
    p.callback_ud = &calls;
    trove_ials *model = fit_ok(&m, &p);
    assert_int_equal(calls, 2);
    trove_ials_free(model);
    csr_release(&m);
    free(mask);
}

/* Planted structure: 4 user groups x 4 item groups; a user likes items of
 * its own group with probability 0.4 and others with 0.03; one group of
 * items is globally popular-ish so popularity has something to go on. */
static void test_planted_low_rank(void **state)
{
    (void)state;
    enum { U = 240, I = 160, G = 4 };
    trove_rng rng;
    unsigned char *train = calloc((size_t)U * I, 1), *test = calloc((size_t)U * I, 1);
    assert_non_null(train);
    assert_non_null(test);
    trove_rng_seed(&rng, 99);
    for (uint32_t u = 0; u < U; u++)
        for (uint32_t i = 0; i < I; i++) {
            double pr = (u % G) == (i % G) ? 0.4 : (i % G == 0 ? 0.06 : 0.03);
            if (trove_rng_uniform(&rng) < pr) {
                if (trove_rng_uniform(&rng) < 0.2)
                    test[(size_t)u * I + i] = 1;
                else
                    train[(size_t)u * I + i] = 1;
            }
        }
    trove_csr m;
    csr_from_mask(train, U, I, NULL, &m);
    trove_ials_params p = trove_ials_default_params();
    p.factors = 8;
    p.iterations = 10;
    p.regularization = 1.0f;
    p.alpha = 5.0f;
    trove_ials *model = fit_ok(&m, &p);
    uint32_t k = 5;
    uint32_t *items = malloc((size_t)U * k * sizeof *items);
    assert_non_null(items);
    assert_int_equal(trove_ials_recommend_all(model, &m, k, 1, items, NULL, NULL),
                     TROVE_OK);
    /* Popularity: items by train count, excluding the user's train items. */
    uint32_t count[I] = {0};
    for (size_t x = 0; x < (size_t)U * I; x++)
        count[x % I] += train[x];
    double hits_model = 0, hits_pop = 0;
    for (uint32_t u = 0; u < U; u++) {
        for (uint32_t j = 0; j < k; j++)
            hits_model += test[(size_t)u * I + items[(size_t)u * k + j]];
        unsigned char used[I] = {0};
        for (uint32_t j = 0; j < k; j++) {
            int best = -1;
            for (uint32_t i = 0; i < I; i++)
                if (!used[i] && !train[(size_t)u * I + i] &&
                    (best < 0 || count[i] > count[best]))
                    best = (int)i;
            used[best] = 1;
            hits_pop += test[(size_t)u * I + (uint32_t)best];
        }
    }
    double p_model = hits_model / (U * k), p_pop = hits_pop / (U * k);
    if (!(p_model > 1.5 * p_pop))
        fail_msg("iALS P@5 %.3f does not beat popularity %.3f", p_model, p_pop);
    free(items);
    trove_ials_free(model);
    csr_release(&m);
    free(train);
    free(test);
}

static void test_deterministic(void **state)
{
    (void)state;
    trove_csr m;
    unsigned char *mask = random_mask(300, 120, 0.1, 5);
    csr_from_mask(mask, 300, 120, NULL, &m);
    trove_ials_params p = trove_ials_default_params();
    p.factors = 20;
    p.iterations = 4;
    p.threads = 1;
    trove_ials *a = fit_ok(&m, &p);
    trove_ials *b = fit_ok(&m, &p);
    p.threads = 2;
    trove_ials *c = fit_ok(&m, &p);
    p.seed = 43;
    p.threads = 1;
    trove_ials *d = fit_ok(&m, &p);
    int differs = 0;
    for (uint32_t u = 0; u < 300; u++) {
        assert_memory_equal(trove_ials_user_factors(a, u), trove_ials_user_factors(b, u),
                            20 * sizeof(float));
        assert_memory_equal(trove_ials_user_factors(a, u), trove_ials_user_factors(c, u),
                            20 * sizeof(float));
        differs |= memcmp(trove_ials_user_factors(a, u), trove_ials_user_factors(d, u),
                          20 * sizeof(float)) != 0;
    }
    for (uint32_t i = 0; i < 120; i++)
        assert_memory_equal(trove_ials_item_factors(a, i), trove_ials_item_factors(c, i),
                            20 * sizeof(float));
    assert_true(differs);
    trove_ials_free(a);
    trove_ials_free(b);
    trove_ials_free(c);
    trove_ials_free(d);
    csr_release(&m);
    free(mask);
}

static void test_recommend_matches_brute_force(void **state)
{
    (void)state;
    enum { U = 70, I = 45, K = 7 };
    trove_csr m;
    unsigned char *mask = random_mask(U, I, 0.2, 8);
    /* user 3 has every item but two: top-7 must be padded */
    for (uint32_t i = 0; i < I; i++)
        mask[3 * I + i] = i >= 2;
    csr_from_mask(mask, U, I, NULL, &m);
    trove_ials_params p = trove_ials_default_params();
    p.factors = 5;
    p.iterations = 3;
    trove_ials *model = fit_ok(&m, &p);
    uint32_t items[U * K];
    float scores[U * K];
    assert_int_equal(trove_ials_recommend_all(model, &m, K, 2, items, scores, NULL),
                     TROVE_OK);
    float row[I];
    for (uint32_t u = 0; u < U; u++) {
        assert_int_equal(trove_ials_score_user(model, u, row, NULL), TROVE_OK);
        const float *x = trove_ials_user_factors(model, u);
        for (uint32_t i = 0; i < I; i++) {
            const float *y = trove_ials_item_factors(model, i);
            double s = 0;
            for (uint32_t f = 0; f < 5; f++)
                s += (double)x[f] * y[f];
            assert_true(fabs(s - row[i]) < 1e-5);
        }
        uint32_t placed = 0;
        for (uint32_t j = 0; j < K; j++) {
            uint32_t it = items[u * K + j];
            if (it == UINT32_MAX) {
                assert_true(isinf(scores[u * K + j]) && scores[u * K + j] < 0);
                continue;
            }
            placed++;
            assert_false(mask[u * I + it]);
            assert_true(fabsf(scores[u * K + j] - row[it]) < 1e-4f);
            if (j > 0 && items[u * K + j - 1] != UINT32_MAX)
                assert_true(scores[u * K + j - 1] >= scores[u * K + j]);
            /* nothing outside the list beats it */
            for (uint32_t i = 0; i < I; i++) {
                int listed = 0;
                for (uint32_t q = 0; q < K; q++)
                    listed |= items[u * K + q] == i;
                if (!listed && !mask[u * I + i])
                    assert_true(row[i] <= scores[u * K + j] + 1e-4f);
            }
        }
        if (u == 3)
            assert_int_equal(placed, 2);
    }
    /* Without exclusions the training items come back. */
    assert_int_equal(trove_ials_recommend_all(model, NULL, K, 1, items, NULL, NULL),
                     TROVE_OK);
    assert_int_not_equal(items[3 * K + 6], UINT32_MAX);
    trove_error err;
    assert_int_equal(trove_ials_recommend_all(model, &m, 0, 1, items, NULL, &err),
                     TROVE_EINVAL);
    assert_int_equal(trove_ials_score_user(model, U, row, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "out of range"));
    trove_ials_free(model);
    csr_release(&m);
    free(mask);
}

static void test_bad_input(void **state)
{
    (void)state;
    trove_csr m;
    trove_error err;
    trove_ials *model = NULL;
    unsigned char *mask = random_mask(10, 10, 0.3, 1);
    csr_from_mask(mask, 10, 10, NULL, &m);
    trove_ials_params p = trove_ials_default_params();
    p.regularization = 0.0f;
    assert_int_equal(trove_ials_fit(&m, &p, &model, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "regularization must be > 0"));
    assert_null(model);
    p = trove_ials_default_params();
    p.factors = 0;
    assert_int_equal(trove_ials_fit(&m, &p, &model, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "factors"));
    p = trove_ials_default_params();
    p.alpha = NAN;
    assert_int_equal(trove_ials_fit(&m, &p, &model, &err), TROVE_EINVAL);
    p = trove_ials_default_params();
    p.solver = 7;
    assert_int_equal(trove_ials_fit(&m, &p, &model, &err), TROVE_EINVAL);
    p = trove_ials_default_params();
    /* unsorted columns in a row */
    uint32_t r = 0;
    while (m.indptr[r + 1] - m.indptr[r] < 2)
        r++;
    uint32_t save = m.indices[m.indptr[r]];
    m.indices[m.indptr[r]] = m.indices[m.indptr[r] + 1];
    assert_int_equal(trove_ials_fit(&m, &p, &model, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "ascending"));
    m.indices[m.indptr[r]] = save;
    /* column out of range */
    save = m.indices[0];
    m.indices[0] = 99;
    assert_int_equal(trove_ials_fit(&m, &p, &model, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "out of range"));
    m.indices[0] = save;
    /* negative weight */
    m.data = malloc(m.nnz * sizeof *m.data);
    for (uint64_t j = 0; j < m.nnz; j++)
        m.data[j] = 1.0f;
    m.data[1] = -1.0f;
    assert_int_equal(trove_ials_fit(&m, &p, &model, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "weight"));
    m.data[1] = 1.0f;
    /* empty matrix */
    trove_csr empty = m;
    empty.n_rows = 0;
    assert_int_equal(trove_ials_fit(&empty, &p, &model, &err), TROVE_EEMPTY);
    assert_null(model);
    /* a huge alpha with a tiny regularisation still gives finite factors or
     * a clean error, never a crash */
    p.alpha = 1e30f;
    p.regularization = 1e-30f;
    p.solver = TROVE_IALS_SOLVER_CHOLESKY;
    int rc = trove_ials_fit(&m, &p, &model, &err);
    assert_true(rc == TROVE_OK || rc == TROVE_EDIVERGED);
    trove_ials_free(model);
    trove_ials_free(NULL);
    csr_release(&m);
    free(mask);
}

static trove_ials *small_model(trove_csr *m)
{
    unsigned char *mask = random_mask(25, 18, 0.3, 21);
    csr_from_mask(mask, 25, 18, NULL, m);
    free(mask);
    trove_ials_params p = trove_ials_default_params();
    p.factors = 5;
    p.iterations = 3;
    p.reg_scaling = TROVE_IALS_REG_FREQUENCY;
    p.regularization = 0.01f;
    return fit_ok(m, &p);
}

static void test_save_load(void **state)
{
    (void)state;
    trove_csr m;
    trove_error err;
    trove_ials *a = small_model(&m), *b = NULL;
    const char *path = testutil_tmp_path("model.ials");
    assert_int_equal(trove_ials_save(a, path, &err), TROVE_OK);
    assert_int_equal(trove_ials_load(path, &b, &err), TROVE_OK);
    assert_int_equal(trove_ials_n_users(b), 25);
    assert_int_equal(trove_ials_n_items(b), 18);
    assert_int_equal(trove_ials_factors(b), 5);
    trove_ials_params pa = trove_ials_params_of(a), pb = trove_ials_params_of(b);
    assert_int_equal(pb.reg_scaling, TROVE_IALS_REG_FREQUENCY);
    assert_true(pa.regularization == pb.regularization);
    for (uint32_t u = 0; u < 25; u++)
        assert_memory_equal(trove_ials_user_factors(a, u), trove_ials_user_factors(b, u),
                            5 * sizeof(float));
    for (uint32_t i = 0; i < 18; i++)
        assert_memory_equal(trove_ials_item_factors(a, i), trove_ials_item_factors(b, i),
                            5 * sizeof(float));
    /* the in-memory form decodes to the same model; damage is caught */
    {
        unsigned char *bytes = NULL;
        size_t len = 0;
        trove_ials *c = NULL;
        assert_int_equal(trove_ials_save_buffer(a, &bytes, &len, &err), TROVE_OK);
        assert_int_equal(trove_ials_load_buffer(bytes, len, "mem", &c, &err), TROVE_OK);
        assert_memory_equal(trove_ials_item_factors(a, 17), trove_ials_item_factors(c, 17),
                            5 * sizeof(float));
        trove_ials_free(c);
        c = NULL;
        bytes[len / 2] ^= 1;
        assert_int_equal(trove_ials_load_buffer(bytes, len, "mem", &c, &err), TROVE_ECORRUPT);
        assert_non_null(strstr(err.msg, "mem"));
        assert_null(c);
        trove_free(bytes);
    }
    double la, lb;
    assert_int_equal(trove_ials_loss(a, &m, &la, NULL), TROVE_OK);
    assert_int_equal(trove_ials_loss(b, &m, &lb, NULL), TROVE_OK);
    assert_true(la == lb);
    /* overwrite in place: still atomic, still loadable */
    assert_int_equal(trove_ials_save(b, path, &err), TROVE_OK);
    trove_ials_free(b);
    b = NULL;
    assert_int_equal(trove_ials_load(path, &b, &err), TROVE_OK);
    trove_ials_free(b);
    assert_int_equal(trove_ials_load(testutil_tmp_path("missing.ials"), &b, &err),
                     TROVE_ENOTFOUND);
    assert_int_equal(trove_ials_save(a, "/nonexistent-dir/x.ials", &err), TROVE_EIO);
    trove_ials_free(a);
    csr_release(&m);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0)
        assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void test_corrupt_files(void **state)
{
    (void)state;
    trove_csr m;
    trove_error err;
    trove_ials *a = small_model(&m), *b = NULL;
    const char *path = testutil_tmp_path("good.ials");
    const char *bad = testutil_tmp_path("bad.ials");
    assert_int_equal(trove_ials_save(a, path, &err), TROVE_OK);
    size_t len;
    unsigned char *buf = slurp(path, &len);
    /* every truncation is refused */
    for (size_t cut = 0; cut < len; cut += (cut < 80 ? 1 : 37)) {
        spit(bad, buf, cut);
        int rc = trove_ials_load(bad, &b, &err);
        assert_true(rc == TROVE_ECORRUPT || rc == TROVE_EFORMAT);
        assert_null(b);
    }
    /* a flipped bit anywhere is caught (checksum or header checks) */
    for (size_t pos = 8; pos < len; pos += 53) {
        buf[pos] ^= 0x10;
        spit(bad, buf, len);
        int rc = trove_ials_load(bad, &b, &err);
        assert_true(rc == TROVE_ECORRUPT || rc == TROVE_EVERSION);
        assert_null(b);
        buf[pos] ^= 0x10;
    }
    buf[0] = 'X';
    spit(bad, buf, len);
    assert_int_equal(trove_ials_load(bad, &b, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "not an iALS model"));
    buf[0] = 'T';
    buf[8] = 9; /* version */
    spit(bad, buf, len);
    assert_int_equal(trove_ials_load(bad, &b, &err), TROVE_EVERSION);
    free(buf);
    trove_ials_free(a);
    csr_release(&m);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    trove_csr m;
    trove_ials *a = small_model(&m);
    const char *path = testutil_tmp_path("oom.ials");
    assert_int_equal(trove_ials_save(a, path, NULL), TROVE_OK);
    trove_ials_params p = trove_ials_params_of(a);
    uint32_t items[25 * 3];
    int fit_ok_seen = 0, load_ok_seen = 0, rec_ok_seen = 0, save_ok_seen = 0;
    for (long k = 0; k < 200 && !(fit_ok_seen && load_ok_seen && rec_ok_seen && save_ok_seen); k++) {
        trove_ials *b = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove_ials_fit(&m, &p, &b, NULL);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        assert_true((rc == TROVE_OK) == (b != NULL));
        fit_ok_seen |= rc == TROVE_OK;
        trove_ials_free(b);
        b = NULL;
        testutil_fail_alloc_after(k);
        rc = trove_ials_load(path, &b, NULL);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        load_ok_seen |= rc == TROVE_OK;
        trove_ials_free(b);
        testutil_fail_alloc_after(k);
        rc = trove_ials_recommend_all(a, &m, 3, 2, items, NULL, NULL);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        rec_ok_seen |= rc == TROVE_OK;
        testutil_fail_alloc_after(k);
        rc = trove_ials_save(a, path, NULL);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        save_ok_seen |= rc == TROVE_OK;
    }
    assert_true(fit_ok_seen && load_ok_seen && rec_ok_seen && save_ok_seen);
    trove_ials_free(a);
    csr_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cg_matches_cholesky),
        cmocka_unit_test(test_loss_decreases),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_planted_low_rank),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_recommend_matches_brute_force),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
