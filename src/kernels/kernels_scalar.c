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

static float adagrad_row_scalar(float *w, const float *dir, float scale, float rate,
                                float alpha, size_t n)
{
    float ss = 0.0f;
    for (size_t j = 0; j < n; j++) {
        float g = scale * dir[j] + alpha * w[j];
        w[j] -= rate * g;
        ss += g * g;
    }
    return ss;
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

static size_t count_ge_scalar(const float *s, size_t n, float t)
{
    size_t c = 0;
    for (size_t j = 0; j < n; j++)
        c += s[j] >= t;
    return c;
}

static size_t select_ge_scalar(const float *s, size_t n, float t, uint32_t *idx, float *val,
                               size_t cap)
{
    size_t c = 0;
    for (size_t j = 0; j < n; j++) {
        if (!(s[j] >= t))
            continue;
        if (c < cap) {
            idx[c] = (uint32_t)j;
            if (val != NULL)
                val[c] = s[j];
        }
        c++;
    }
    return c;
}

/* The float tail of both scans (see kernels.h) for the 16 items of block b. */
static void qscan_tail_scalar(const trove__qscan_args *a, size_t b, const int32_t *acc,
                              float *lo, float *hi, float *lo_max)
{
    float bl = -INFINITY;
    for (int l = 0; l < 16; l++) {
        size_t j = b * 16 + (size_t)l;
        float t = (float)acc[l] * (a->scale[j] * a->yscale);
        float v = (t + a->bias[j]) + a->add;
        float m = (fabsf(t) + fabsf(a->bias[j])) + fabsf(a->add);
        float e = ((a->err_scale * a->scale[j] + a->err_norm * a->norm[j]) +
                   a->err_rel * m) + a->err_abs;
        lo[j] = v - e;
        hi[j] = v + e;
        bl = lo[j] > bl ? lo[j] : bl;
    }
    lo_max[b] = bl;
}

static void qscan_scalar(const trove__qscan_args *a, float *lo, float *hi, float *lo_max)
{
    for (size_t b = 0; b < a->n_blocks; b++) {
        const int16_t *x = a->x + b * a->n_pairs * 32;
        int32_t acc[16] = { 0 };
        for (size_t p = 0; p < a->n_pairs; p++)
            for (int l = 0; l < 16; l++)
                acc[l] += (int32_t)x[(p * 16 + (size_t)l) * 2] * a->y[2 * p] +
                          (int32_t)x[(p * 16 + (size_t)l) * 2 + 1] * a->y[2 * p + 1];
        qscan_tail_scalar(a, b, acc, lo, hi, lo_max);
    }
}

static void qscan8_scalar(const trove__qscan_args *a, float *lo, float *hi, float *lo_max)
{
    for (size_t b = 0; b < a->n_blocks; b++) {
        const int8_t *x = a->x8 + b * a->n_quads * 64;
        int32_t acc[16] = { 0 };
        for (size_t p = 0; p < a->n_quads; p++)
            for (int l = 0; l < 16; l++)
                for (int h = 0; h < 4; h++)
                    acc[l] += (int32_t)a->u8[4 * p + (size_t)h] *
                              (int32_t)x[(p * 16 + (size_t)l) * 4 + (size_t)h];
        for (int l = 0; l < 16; l++)
            acc[l] -= 128 * a->xsum[b * 16 + (size_t)l];
        qscan_tail_scalar(a, b, acc, lo, hi, lo_max);
    }
}

static void stream_copy_scalar(float *dst, const float *src, size_t n)
{
    for (size_t j = 0; j < n; j++)
        dst[j] = src[j];
}

static void stream_fence_scalar(void)
{
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
    count_ge_scalar,
    select_ge_scalar,
    qscan_scalar,
    qscan8_scalar,
    adagrad_row_scalar,
    stream_copy_scalar,
    stream_fence_scalar,
};
