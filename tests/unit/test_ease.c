/*
 * test_ease.c - EASE: zero diagonal and agreement with a direct double
 * precision computation of B = I - P diag(1/diag P) on a small case, scoring
 * by index and by history, recommend-all against brute force, singular and
 * ill-conditioned systems (lambda 0), the catalog-size limit, save/load,
 * truncated and corrupt files, and out-of-memory at every allocation.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void csr_from_mask(const unsigned char *mask, uint32_t rows, uint32_t cols,
                          trove_csr *out)
{
    uint64_t nnz = 0;
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        nnz += mask[i] != 0;
    out->n_rows = rows;
    out->n_cols = cols;
    out->nnz = nnz;
    out->indptr = malloc(((size_t)rows + 1) * sizeof *out->indptr);
    out->indices = malloc((nnz ? nnz : 1) * sizeof *out->indices);
    out->data = malloc((nnz ? nnz : 1) * sizeof *out->data);
    assert_non_null(out->indptr);
    uint64_t j = 0;
    out->indptr[0] = 0;
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++)
            if (mask[(size_t)r * cols + c]) {
                out->indices[j] = c;
                out->data[j] = (float)mask[(size_t)r * cols + c];
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

static unsigned char *random_mask(uint32_t rows, uint32_t cols, double density,
                                  uint64_t seed, int weighted)
{
    trove_rng rng;
    unsigned char *mask = calloc((size_t)rows * cols, 1);
    assert_non_null(mask);
    trove_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        if (trove_rng_uniform(&rng) < density)
            mask[i] = (unsigned char)(weighted ? 1 + trove_rng_below(&rng, 3) : 1);
    return mask;
}

/* Gauss-Jordan inverse in double (n small). */
static void invert(double *a, int n)
{
    double *inv = calloc((size_t)n * (size_t)n, sizeof *inv);
    assert_non_null(inv);
    for (int i = 0; i < n; i++)
        inv[i * n + i] = 1.0;
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        for (int k = 0; k < n; k++) {
            double t = a[c * n + k];
            a[c * n + k] = a[piv * n + k];
            a[piv * n + k] = t;
            t = inv[c * n + k];
            inv[c * n + k] = inv[piv * n + k];
            inv[piv * n + k] = t;
        }
        double d = a[c * n + c];
        assert_true(fabs(d) > 1e-12);
        for (int k = 0; k < n; k++) {
            a[c * n + k] /= d;
            inv[c * n + k] /= d;
        }
        for (int r = 0; r < n; r++) {
            if (r == c)
                continue;
            double f = a[r * n + c];
            for (int k = 0; k < n; k++) {
                a[r * n + k] -= f * a[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
    memcpy(a, inv, (size_t)n * (size_t)n * sizeof *a);
    free(inv);
}

static trove_ease *fit_ok(const trove_csr *m, float lambda)
{
    trove_ease_params p = trove_ease_default_params();
    trove_ease *model = NULL;
    trove_error err;
    p.lambda = lambda;
    if (trove_ease_fit(m, &p, &model, &err) != TROVE_OK)
        fail_msg("fit failed: %s", err.msg);
    return model;
}

static void test_matches_direct(void **state)
{
    (void)state;
    enum { U = 50, I = 20 };
    unsigned char *mask = random_mask(U, I, 0.3, 4, 1);
    trove_csr m;
    csr_from_mask(mask, U, I, &m);
    const float lambda = 3.0f;
    trove_ease *model = fit_ok(&m, lambda);
    assert_int_equal(trove_ease_n_items(model), I);
    assert_int_equal(trove_ease_n_users(model), U);
    double *p = calloc(I * I, sizeof *p);
    for (int u = 0; u < U; u++)
        for (int i = 0; i < I; i++)
            for (int j = 0; j < I; j++)
                p[i * I + j] += (double)mask[u * I + i] * mask[u * I + j];
    for (int i = 0; i < I; i++)
        p[i * I + i] += lambda;
    invert(p, I);
    const float *b = trove_ease_weights(model);
    for (int i = 0; i < I; i++)
        for (int j = 0; j < I; j++) {
            double want = i == j ? 0.0 : -p[i * I + j] / p[j * I + j];
            if (i == j)
                assert_true(b[i * I + j] == 0.0f);
            if (fabs(b[i * I + j] - want) > 1e-4 * fmax(1.0, fabs(want)))
                fail_msg("B[%d][%d] = %g, direct %g", i, j, (double)b[i * I + j], want);
        }
    /* score by user index == score of the same history == x_u B */
    float s1[I], s2[I];
    uint32_t hist[I];
    float w[I];
    size_t n = 0;
    for (uint32_t i = 0; i < I; i++)
        if (mask[7 * I + i]) {
            hist[n] = i;
            w[n++] = mask[7 * I + i];
        }
    assert_int_equal(trove_ease_score_user(model, 7, s1, NULL), TROVE_OK);
    assert_int_equal(trove_ease_score_items(model, hist, w, n, s2, NULL), TROVE_OK);
    for (int j = 0; j < I; j++) {
        double want = 0;
        for (size_t q = 0; q < n; q++)
            want += w[q] * b[(size_t)hist[q] * I + (size_t)j];
        assert_true(fabs(s1[j] - want) < 1e-5);
        assert_true(fabs(s2[j] - want) < 1e-5);
    }
    trove_error err;
    hist[0] = I;
    assert_int_equal(trove_ease_score_items(model, hist, NULL, 1, s2, &err), TROVE_EINVAL);
    assert_int_equal(trove_ease_score_user(model, U, s2, &err), TROVE_EINVAL);
    free(p);
    trove_ease_free(model);
    csr_release(&m);
    free(mask);
}

static void test_recommend(void **state)
{
    (void)state;
    enum { U = 40, I = 30, K = 6 };
    unsigned char *mask = random_mask(U, I, 0.25, 9, 0);
    for (uint32_t i = 0; i < I; i++)
        mask[5 * I + i] = i != 4; /* user 5: only item 4 is left */
    trove_csr m;
    csr_from_mask(mask, U, I, &m);
    trove_ease *model = fit_ok(&m, 10.0f);
    uint32_t items[U * K];
    float scores[U * K], row[I];
    assert_int_equal(trove_ease_recommend_all(model, &m, K, 2, items, scores, NULL),
                     TROVE_OK);
    for (uint32_t u = 0; u < U; u++) {
        assert_int_equal(trove_ease_score_user(model, u, row, NULL), TROVE_OK);
        for (uint32_t j = 0; j < K; j++) {
            uint32_t it = items[u * K + j];
            if (it == UINT32_MAX)
                continue;
            assert_false(mask[u * I + it]);
            assert_true(fabsf(row[it] - scores[u * K + j]) < 1e-5f);
            for (uint32_t i = 0; i < I; i++) {
                int listed = 0;
                for (uint32_t q = 0; q < K; q++)
                    listed |= items[u * K + q] == i;
                if (!listed && !mask[u * I + i])
                    assert_true(row[i] <= scores[u * K + j]);
            }
        }
    }
    assert_int_equal(items[5 * K], 4);
    assert_int_equal(items[5 * K + 1], UINT32_MAX);
    trove_ease_free(model);
    csr_release(&m);
    free(mask);
}

static void test_singular_and_limits(void **state)
{
    (void)state;
    enum { U = 30, I = 12 };
    unsigned char *mask = random_mask(U, I, 0.4, 2, 0);
    for (uint32_t u = 0; u < U; u++)
        mask[u * I + 5] = 0; /* item 5 never seen: X^T X singular */
    trove_csr m;
    csr_from_mask(mask, U, I, &m);
    trove_ease_params p = trove_ease_default_params();
    trove_ease *model = NULL;
    trove_error err;
    p.lambda = 0.0f;
    assert_int_equal(trove_ease_fit(&m, &p, &model, &err), TROVE_ERANGE);
    assert_null(model);
    assert_non_null(strstr(err.msg, "lambda"));
    /* rank-deficient without an empty column: 3 users, 12 items */
    trove_csr few = m;
    few.n_rows = 3;
    few.nnz = m.indptr[3];
    for (uint32_t u = 0; u < 3; u++)
        mask[u * I + 5] = 0;
    assert_int_equal(trove_ease_fit(&few, &p, &model, &err), TROVE_ERANGE);
    assert_non_null(strstr(err.msg, "raise lambda"));
    p.lambda = -1.0f;
    assert_int_equal(trove_ease_fit(&m, &p, &model, &err), TROVE_EINVAL);
    p.lambda = 1.0f;
    p.max_items = 10;
    assert_int_equal(trove_ease_fit(&m, &p, &model, &err), TROVE_ERANGE);
    assert_non_null(strstr(err.msg, "above the EASE limit of 10"));
    p.max_items = 12;
    assert_int_equal(trove_ease_fit(&m, &p, &model, &err), TROVE_OK);
    /* the same limit applies on load */
    const char *path = testutil_tmp_path("limit.ease");
    assert_int_equal(trove_ease_save(model, path, &err), TROVE_OK);
    trove_ease *back = NULL;
    assert_int_equal(trove_ease_load(path, 11, &back, &err), TROVE_ERANGE);
    assert_null(back);
    trove_ease_free(model);
    trove_ease_free(NULL);
    csr_release(&m);
    free(mask);
}

static void test_save_load_corrupt(void **state)
{
    (void)state;
    enum { U = 20, I = 15 };
    unsigned char *mask = random_mask(U, I, 0.3, 6, 1);
    trove_csr m;
    csr_from_mask(mask, U, I, &m);
    trove_ease *a = fit_ok(&m, 5.0f), *b = NULL;
    trove_error err;
    const char *path = testutil_tmp_path("m.ease"), *bad = testutil_tmp_path("bad.ease");
    assert_int_equal(trove_ease_save(a, path, &err), TROVE_OK);
    assert_int_equal(trove_ease_load(path, 0, &b, &err), TROVE_OK);
    assert_memory_equal(trove_ease_weights(a), trove_ease_weights(b), I * I * sizeof(float));
    assert_true(trove_ease_lambda(b) == 5.0f);
    const trove_csr *ta = trove_ease_interactions(a), *tb = trove_ease_interactions(b);
    assert_int_equal(ta->nnz, tb->nnz);
    assert_memory_equal(ta->indices, tb->indices, ta->nnz * sizeof(uint32_t));
    assert_memory_equal(ta->data, tb->data, ta->nnz * sizeof(float));
    trove_ease_free(b);
    b = NULL;

    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len);
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);
    for (size_t cut = 0; cut < len; cut += (cut < 40 ? 1 : 29)) {
        f = fopen(bad, "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        int rc = trove_ease_load(bad, 0, &b, &err);
        assert_true(rc == TROVE_ECORRUPT || rc == TROVE_EFORMAT);
        assert_null(b);
    }
    for (size_t pos = 8; pos < len; pos += 41) {
        buf[pos] ^= 0x04;
        f = fopen(bad, "wb");
        fwrite(buf, 1, len, f);
        fclose(f);
        int rc = trove_ease_load(bad, 0, &b, &err);
        assert_true(rc == TROVE_ECORRUPT || rc == TROVE_EVERSION || rc == TROVE_ERANGE);
        assert_null(b);
        buf[pos] ^= 0x04;
    }
    /* an iALS file is not an EASE file */
    assert_int_equal(testutil_write_file(bad, "TROVIALS and more bytes"), 0);
    assert_int_equal(trove_ease_load(bad, 0, &b, &err), TROVE_EFORMAT);
    free(buf);
    trove_ease_free(a);
    csr_release(&m);
    free(mask);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    enum { U = 20, I = 15 };
    unsigned char *mask = random_mask(U, I, 0.3, 12, 0);
    trove_csr m;
    csr_from_mask(mask, U, I, &m);
    trove_ease *a = fit_ok(&m, 2.0f);
    const char *path = testutil_tmp_path("oom.ease");
    assert_int_equal(trove_ease_save(a, path, NULL), TROVE_OK);
    trove_ease_params p = trove_ease_default_params();
    p.lambda = 2.0f;
    uint32_t items[U * 4];
    int fit_seen = 0, load_seen = 0, rec_seen = 0;
    for (long k = 0; k < 100 && !(fit_seen && load_seen && rec_seen); k++) {
        trove_ease *b = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove_ease_fit(&m, &p, &b, NULL);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        fit_seen |= rc == TROVE_OK;
        trove_ease_free(b);
        b = NULL;
        testutil_fail_alloc_after(k);
        rc = trove_ease_load(path, 0, &b, NULL);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        load_seen |= rc == TROVE_OK;
        trove_ease_free(b);
        testutil_fail_alloc_after(k);
        rc = trove_ease_recommend_all(a, &m, 4, 1, items, NULL, NULL);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        rec_seen |= rc == TROVE_OK;
    }
    assert_true(fit_seen && load_seen && rec_seen);
    trove_ease_free(a);
    csr_release(&m);
    free(mask);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_direct),
        cmocka_unit_test(test_recommend),
        cmocka_unit_test(test_singular_and_limits),
        cmocka_unit_test(test_save_load_corrupt),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
