/*
 * kernels_scalar.c - the scalar reference of every kernel (see kernels.h).
 *
 * Plain loops in the order the formulas are written; the SIMD variants are
 * tested against these. The build does not enable FMA for this file, so the
 * results are what a reader computes by hand in float arithmetic.
 */
#include "kernels/kernels.h"

#include <math.h>

static float dot_scalar(const float *a, const float *b, size_t n)
{
    float s = 0.0f;
    for (size_t j = 0; j < n; j++)
        s += a[j] * b[j];
    return s;
}

static void axpy_scalar(float a, const float *x, float *y, size_t n)
{
    for (size_t j = 0; j < n; j++)
        y[j] += a * x[j];
}

static void axpby_scalar(float *out, float a, const float *x, float b,
                         const float *y, size_t n)
{
    for (size_t j = 0; j < n; j++)
        out[j] = a * x[j] + b * y[j];
}

static void adagrad_scalar(float *w, float *acc, const float *dir, float scale,
                           float lr, float alpha, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        float g = scale * dir[j] + alpha * w[j];
        w[j] -= lr * g / sqrtf(acc[j]);
        acc[j] += g * g;
    }
}

static void adadelta_scalar(float *w, float *eg2, float *edx2, const float *dir,
                            float scale, float alpha, float rho, float eps,
                            size_t n)
{
    float one_m_rho = 1.0f - rho;
    for (size_t j = 0; j < n; j++) {
        float g = scale * dir[j] + alpha * w[j];
        float e = rho * eg2[j] + one_m_rho * g * g;
        float d = sqrtf(edx2[j] + eps) / sqrtf(e + eps) * g;
        eg2[j] = e;
        edx2[j] = rho * edx2[j] + one_m_rho * d * d;
        w[j] -= d;
    }
}

static void scores_scalar(const float *q, const float *rows, size_t n_rows,
                          size_t stride, size_t n, const float *bias, float add,
                          float *out)
{
    for (size_t r = 0; r < n_rows; r++) {
        float s = dot_scalar(q, rows + r * stride, n);
        out[r] = s + (bias ? bias[r] : 0.0f) + add;
    }
}

static int contains_u32_scalar(const uint32_t *a, size_t n, uint32_t x)
{
    if (n == 0)
        return 0;
    while (n > 1) {
        size_t half = n / 2;
        a = a[half] <= x ? a + half : a;
        n -= half;
    }
    return *a == x;
}

static size_t first_gt_scalar(const float *s, size_t n, float t)
{
    for (size_t j = 0; j < n; j++)
        if (s[j] > t)
            return j;
    return n;
}

const trove__kernels trove__kernels_scalar = {
    "scalar",
    dot_scalar,
    axpy_scalar,
    axpby_scalar,
    adagrad_scalar,
    adadelta_scalar,
    scores_scalar,
    contains_u32_scalar,
    first_gt_scalar,
};
