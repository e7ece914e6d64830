/*
 * linalg.c - the one adapter to OpenBLAS (CBLAS) and LAPACKE. No other trove
 * file includes <cblas.h> or <lapacke.h>.
 *
 * All matrices are float32. Symmetric matrices are passed to LAPACK as
 * column-major with the 'U' triangle: for a symmetric row-major array that is
 * the same memory, so no transposed copy (and no hidden allocation inside
 * LAPACKE's row-major wrappers) is ever made; the _work entry points are used
 * for the same reason.
 */
#include "factor/factor_int.h"

#include <cblas.h>
#include <lapacke.h>

#include <math.h>

void trove__linalg_single_thread(void)
{
    if (openblas_get_num_threads() != 1)
        openblas_set_num_threads(1);
}

void trove__linalg_set_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
}

void trove__linalg_gram(const float *y, uint32_t n, uint32_t f, uint32_t ldy,
                        float *g, uint32_t ldg)
{
    /* Row-major upper triangle of Y^T Y, then mirrored. */
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)f, (blasint)n,
                1.0f, y, (blasint)ldy, 0.0f, g, (blasint)ldg);
    for (uint32_t i = 0; i < f; i++)
        for (uint32_t j = 0; j < i; j++)
            g[(size_t)i * ldg + j] = g[(size_t)j * ldg + i];
}

void trove__linalg_gemm_nt(uint32_t m, uint32_t n, uint32_t k, const float *a,
                           uint32_t lda, const float *b, uint32_t ldb, float *c,
                           uint32_t ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)n,
                (blasint)k, 1.0f, a, (blasint)lda, b, (blasint)ldb, 0.0f, c,
                (blasint)ldc);
}

void trove__linalg_gemv(uint32_t n, uint32_t k, const float *a, uint32_t lda,
                        const float *x, float *y)
{
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)n, (blasint)k, 1.0f, a,
                (blasint)lda, x, 1, 0.0f, y, 1);
}

int trove__linalg_cholesky_solve(uint32_t n, float *a, uint32_t lda, float *b)
{
    lapack_int info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, a,
                                          (lapack_int)lda);
    if (info != 0)
        return info > 0 ? (int)info : (int)n;
    info = LAPACKE_spotrs_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, 1, a,
                               (lapack_int)lda, b, (lapack_int)n);
    return info == 0 ? 0 : (int)n;
}

int trove__linalg_spd_inverse(uint32_t n, float *a, size_t lda, double min_ratio,
                              double *pivot_ratio)
{
    lapack_int info = LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, a,
                                          (lapack_int)lda);
    if (info != 0)
        return info > 0 ? (int)info : (int)n;
    double lo = INFINITY, hi = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i * lda + i] * a[i * lda + i];
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    *pivot_ratio = hi > 0.0 ? lo / hi : 0.0;
    if (*pivot_ratio < min_ratio)
        return -2;
    info = LAPACKE_spotri_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, a,
                               (lapack_int)lda);
    if (info != 0)
        return -1;
    /* Column-major 'U' is the row-major lower triangle: mirror it up. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            a[i * lda + j] = a[j * lda + i];
    return 0;
}
