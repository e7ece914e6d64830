/*
 * test_kernels.c - every compiled kernel variant the CPU supports against
 * the scalar reference, for lengths 1..200 and misaligned pointers.
 */
#include "testutil.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 208

static void fill(trove_rng *r, float *v, size_t n, float lo, float hi)
{
    for (size_t j = 0; j < n; j++)
        v[j] = lo + (hi - lo) * trove_rng_uniformf(r);
}

static void assert_close(float a, float b, float rel, const char *what, size_t n)
{
    float tol = rel * (1.0f + fabsf(b));
    if (!(fabsf(a - b) <= tol)) {
        print_error("%s n=%zu: %.9g vs scalar %.9g\n", what, n, (double)a, (double)b);
        fail();
    }
}

static void check_variant(const trove__kernels *k)
{
    const trove__kernels *s = &trove__kernels_scalar;
    trove_rng r;
    float a[MAXN + 1], b[MAXN + 1], w1[MAXN + 1], w2[MAXN + 1], c1[MAXN + 1], c2[MAXN + 1];
    float d1[MAXN + 1], d2[MAXN + 1], o1[MAXN + 1], o2[MAXN + 1];
    trove_rng_seed(&r, 7);
    for (size_t n = 1; n <= 200; n++) {
        for (size_t off = 0; off <= 1; off++) {
            float *x = a + off, *y = b + off;
            fill(&r, a, MAXN + 1, -1.0f, 1.0f);
            fill(&r, b, MAXN + 1, -1.0f, 1.0f);
            /* dot: sum of n terms of size <= 1 */
            assert_close(k->dot(x, y, n), s->dot(x, y, n), 1e-5f * (float)n, "dot", n);

            memcpy(w1, b, sizeof b);
            memcpy(w2, b, sizeof b);
            k->axpy(0.37f, x, w1 + off, n);
            s->axpy(0.37f, x, w2 + off, n);
            for (size_t j = 0; j <= MAXN; j++)
                assert_close(w1[j], w2[j], 1e-6f, "axpy", n);

            memset(o1, 0, sizeof o1);
            memset(o2, 0, sizeof o2);
            k->axpby(o1 + off, -0.5f, x, 1.25f, y, n);
            s->axpby(o2 + off, -0.5f, x, 1.25f, y, n);
            for (size_t j = 0; j <= MAXN; j++)
                assert_close(o1[j], o2[j], 1e-6f, "axpby", n);

            for (int alpha = 0; alpha <= 1; alpha++) {
                float al = alpha ? 0.01f : 0.0f;
                memcpy(w1, a, sizeof a);
                memcpy(w2, a, sizeof a);
                fill(&r, c1, MAXN + 1, 1.0f, 3.0f);
                memcpy(c2, c1, sizeof c1);
                k->adagrad(w1 + off, c1 + off, y, 0.8f, 0.05f, al, n);
                s->adagrad(w2 + off, c2 + off, y, 0.8f, 0.05f, al, n);
                for (size_t j = 0; j <= MAXN; j++) {
                    assert_close(w1[j], w2[j], 1e-6f, "adagrad w", n);
                    assert_close(c1[j], c2[j], 1e-6f, "adagrad acc", n);
                }

                memcpy(w1, a, sizeof a);
                memcpy(w2, a, sizeof a);
                fill(&r, c1, MAXN + 1, 0.0f, 0.1f);
                memcpy(c2, c1, sizeof c1);
                fill(&r, d1, MAXN + 1, 0.0f, 0.1f);
                memcpy(d2, d1, sizeof d1);
                k->adadelta(w1 + off, c1 + off, d1 + off, y, 0.8f, al, 0.95f, 1e-6f, n);
                s->adadelta(w2 + off, c2 + off, d2 + off, y, 0.8f, al, 0.95f, 1e-6f, n);
                for (size_t j = 0; j <= MAXN; j++) {
                    assert_close(w1[j], w2[j], 1e-5f, "adadelta w", n);
                    assert_close(c1[j], c2[j], 1e-5f, "adadelta eg2", n);
                    assert_close(d1[j], d2[j], 1e-5f, "adadelta edx2", n);
                }
            }
        }
        /* scores over 9 rows with stride n rounded up to 16 */
        {
            size_t stride = (n + 15) & ~(size_t)15;
            float *rows = calloc(9 * stride, sizeof(float));
            float bias[9], q[MAXN];
            assert_non_null(rows);
            fill(&r, q, n, -1.0f, 1.0f);
            for (size_t i = 0; i < 9; i++)
                fill(&r, rows + i * stride, n, -1.0f, 1.0f);
            fill(&r, bias, 9, -1.0f, 1.0f);
            k->scores(q, rows, 9, stride, n, bias, 0.5f, o1);
            s->scores(q, rows, 9, stride, n, bias, 0.5f, o2);
            for (size_t i = 0; i < 9; i++)
                assert_close(o1[i], o2[i], 1e-5f * (float)n, "scores", n);
            k->scores(q, rows, 9, stride, n, NULL, 0.0f, o1);
            for (size_t i = 0; i < 9; i++)
                assert_close(o1[i], s->dot(q, rows + i * stride, n), 1e-5f * (float)n,
                             "scores nobias", n);
            free(rows);
        }
    }
    /* n = 0 touches nothing */
    assert_true(k->dot(a, b, 0) == 0.0f);
}

static void test_scalar_reference(void **state)
{
    const trove__kernels *s = &trove__kernels_scalar;
    float w[3] = {1.0f, 2.0f, 3.0f}, acc[3] = {1.0f, 4.0f, 16.0f}, dir[3] = {1.0f, 1.0f, -2.0f};
    (void)state;
    assert_true(s->dot(w, dir, 3) == 1.0f + 2.0f - 6.0f);
    /* adagrad: w -= lr*g/sqrt(acc) with the old acc, then acc += g^2 */
    s->adagrad(w, acc, dir, 0.5f, 0.1f, 0.0f, 3);
    assert_float_equal(w[0], 1.0f - 0.1f * 0.5f / 1.0f, 1e-7);
    assert_float_equal(w[1], 2.0f - 0.1f * 0.5f / 2.0f, 1e-7);
    assert_float_equal(w[2], 3.0f + 0.1f * 1.0f / 4.0f, 1e-7);
    assert_float_equal(acc[0], 1.25f, 1e-7);
    assert_float_equal(acc[2], 17.0f, 1e-7);
}

static void test_variants(void **state)
{
    int tested = 0;
    (void)state;
    for (int v = 0; v < TROVE__KERNELS_COUNT; v++) {
        const trove__kernels *k = trove__kernels_variant(v);
        if (k == NULL)
            continue;
        print_message("kernel variant %s\n", k->name);
        check_variant(k);
        tested++;
    }
    assert_true(tested >= 1);
    assert_non_null(trove__kernels_best());
    assert_non_null(trove__kernels_best()->name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_reference),
        cmocka_unit_test(test_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
