/*
 * kernels_avx2.c - AVX2 + FMA variants of the kernels (see kernels.h).
 * Compiled with -mavx2 -mfma; called only when the CPU has both.
 *
 * Eight floats per vector, two independent accumulators in reductions, a
 * scalar tail for lengths that are not a multiple of 8. The model's rows
 * are padded to 16 floats, so in training the tails never run.
 */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), s1);
    }
    if (j + 8 <= n) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
        j += 8;
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; j < n; j++)
        s += a[j] * b[j];
    return s;
}

static void axpy_avx2(float a, const float *x, float *y, size_t n)
{
    __m256 va = _mm256_set1_ps(a);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(y + j, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j),
                                                _mm256_loadu_ps(y + j)));
    for (; j < n; j++)
        y[j] += a * x[j];
}

static void axpby_avx2(float *out, float a, const float *x, float b,
                       const float *y, size_t n)
{
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(out + j,
                         _mm256_fmadd_ps(va, _mm256_loadu_ps(x + j),
                                         _mm256_mul_ps(vb, _mm256_loadu_ps(y + j))));
    for (; j < n; j++)
        out[j] = a * x[j] + b * y[j];
}

/* 1/sqrt(c): 12-bit hardware estimate plus one Newton-Raphson step. */
static inline __m256 rsqrt_nr(__m256 c)
{
    __m256 y = _mm256_rsqrt_ps(c);
    __m256 hcy = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), c), y);
    return _mm256_mul_ps(y, _mm256_fnmadd_ps(hcy, y, _mm256_set1_ps(1.5f)));
}

static void adagrad_avx2(float *w, float *acc, const float *dir, float scale,
                         float lr, float alpha, size_t n)
{
    __m256 vs = _mm256_set1_ps(scale), vlr = _mm256_set1_ps(lr);
    __m256 va = _mm256_set1_ps(alpha);
    size_t j = 0;
    if (alpha == 0.0f) {
        for (; j + 8 <= n; j += 8) {
            __m256 g = _mm256_mul_ps(vs, _mm256_loadu_ps(dir + j));
            __m256 c = _mm256_loadu_ps(acc + j);
            __m256 step = _mm256_mul_ps(_mm256_mul_ps(vlr, g), rsqrt_nr(c));
            _mm256_storeu_ps(w + j, _mm256_sub_ps(_mm256_loadu_ps(w + j), step));
            _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(g, g, c));
        }
    } else {
        for (; j + 8 <= n; j += 8) {
            __m256 wv = _mm256_loadu_ps(w + j);
            __m256 g = _mm256_fmadd_ps(vs, _mm256_loadu_ps(dir + j), _mm256_mul_ps(va, wv));
            __m256 c = _mm256_loadu_ps(acc + j);
            __m256 step = _mm256_mul_ps(_mm256_mul_ps(vlr, g), rsqrt_nr(c));
            _mm256_storeu_ps(w + j, _mm256_sub_ps(wv, step));
            _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(g, g, c));
        }
    }
    for (; j < n; j++) {
        float g = scale * dir[j] + alpha * w[j];
        w[j] -= lr * g / sqrtf(acc[j]);
        acc[j] += g * g;
    }
}

static float adagrad_row_avx2(float *w, const float *dir, float scale, float rate,
                              float alpha, size_t n)
{
    __m256 vs = _mm256_set1_ps(scale), vr = _mm256_set1_ps(rate);
    __m256 va = _mm256_set1_ps(alpha);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 w0 = _mm256_loadu_ps(w + j), w1 = _mm256_loadu_ps(w + j + 8);
        __m256 g0 = _mm256_fmadd_ps(vs, _mm256_loadu_ps(dir + j), _mm256_mul_ps(va, w0));
        __m256 g1 = _mm256_fmadd_ps(vs, _mm256_loadu_ps(dir + j + 8), _mm256_mul_ps(va, w1));
        _mm256_storeu_ps(w + j, _mm256_fnmadd_ps(vr, g0, w0));
        _mm256_storeu_ps(w + j + 8, _mm256_fnmadd_ps(vr, g1, w1));
        s0 = _mm256_fmadd_ps(g0, g0, s0);
        s1 = _mm256_fmadd_ps(g1, g1, s1);
    }
    if (j + 8 <= n) {
        __m256 w0 = _mm256_loadu_ps(w + j);
        __m256 g0 = _mm256_fmadd_ps(vs, _mm256_loadu_ps(dir + j), _mm256_mul_ps(va, w0));
        _mm256_storeu_ps(w + j, _mm256_fnmadd_ps(vr, g0, w0));
        s0 = _mm256_fmadd_ps(g0, g0, s0);
        j += 8;
    }
    float ss = hsum256(_mm256_add_ps(s0, s1));
    for (; j < n; j++) {
        float g = scale * dir[j] + alpha * w[j];
        w[j] -= rate * g;
        ss += g * g;
    }
    return ss;
}

static void adadelta_avx2(float *w, float *eg2, float *edx2, const float *dir,
                          float scale, float alpha, float rho, float eps,
                          size_t n)
{
    __m256 vs = _mm256_set1_ps(scale), va = _mm256_set1_ps(alpha);
    __m256 vr = _mm256_set1_ps(rho), vr1 = _mm256_set1_ps(1.0f - rho);
    __m256 ve = _mm256_set1_ps(eps);
    float one_m_rho = 1.0f - rho;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 wv = _mm256_loadu_ps(w + j);
        __m256 g = _mm256_fmadd_ps(vs, _mm256_loadu_ps(dir + j), _mm256_mul_ps(va, wv));
        __m256 e = _mm256_fmadd_ps(vr, _mm256_loadu_ps(eg2 + j),
                                   _mm256_mul_ps(vr1, _mm256_mul_ps(g, g)));
        __m256 x = _mm256_loadu_ps(edx2 + j);
        __m256 d = _mm256_mul_ps(_mm256_div_ps(_mm256_sqrt_ps(_mm256_add_ps(x, ve)),
                                               _mm256_sqrt_ps(_mm256_add_ps(e, ve))), g);
        _mm256_storeu_ps(eg2 + j, e);
        _mm256_storeu_ps(edx2 + j, _mm256_fmadd_ps(vr, x, _mm256_mul_ps(vr1, _mm256_mul_ps(d, d))));
        _mm256_storeu_ps(w + j, _mm256_sub_ps(wv, d));
    }
    for (; j < n; j++) {
        float g = scale * dir[j] + alpha * w[j];
        float e = rho * eg2[j] + one_m_rho * g * g;
        float d = sqrtf(edx2[j] + eps) / sqrtf(e + eps) * g;
        eg2[j] = e;
        edx2[j] = rho * edx2[j] + one_m_rho * d * d;
        w[j] -= d;
    }
}

static void scores_avx2(const float *q, const float *rows, size_t n_rows,
                        size_t stride, size_t n, const float *bias, float add,
                        float *out)
{
    size_t r = 0;
    if ((n & 7) == 0) {
        /* Four rows at a time: four independent FMA chains share each load
         * of q. */
        for (; r + 4 <= n_rows; r += 4) {
            const float *r0 = rows + r * stride, *r1 = r0 + stride;
            const float *r2 = r1 + stride, *r3 = r2 + stride;
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
            __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
            for (size_t j = 0; j < n; j += 8) {
                __m256 qv = _mm256_loadu_ps(q + j);
                s0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + j), s0);
                s1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + j), s1);
                s2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + j), s2);
                s3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + j), s3);
            }
            out[r] = hsum256(s0) + (bias ? bias[r] : 0.0f) + add;
            out[r + 1] = hsum256(s1) + (bias ? bias[r + 1] : 0.0f) + add;
            out[r + 2] = hsum256(s2) + (bias ? bias[r + 2] : 0.0f) + add;
            out[r + 3] = hsum256(s3) + (bias ? bias[r + 3] : 0.0f) + add;
        }
    }
    for (; r < n_rows; r++)
        out[r] = dot_avx2(q, rows + r * stride, n) + (bias ? bias[r] : 0.0f) + add;
}

static int contains_u32_avx2(const uint32_t *a, size_t n, uint32_t x)
{
    /* Narrow branch-free to at most 16 entries, compare them at once. */
    while (n > 16) {
        size_t half = n / 2;
        a = a[half] <= x ? a + half : a;
        n -= half;
    }
    if (n == 0)
        return 0;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i vx = _mm256_set1_epi32((int)x);
    __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), iota);
    __m256i e = _mm256_and_si256(m0, _mm256_cmpeq_epi32(_mm256_maskload_epi32((const int *)a, m0), vx));
    if (n > 8) {
        __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8), iota);
        e = _mm256_or_si256(e, _mm256_and_si256(m1, _mm256_cmpeq_epi32(
                                   _mm256_maskload_epi32((const int *)(a + 8), m1), vx)));
    }
    return !_mm256_testz_si256(e, e);
}

static size_t first_gt_avx2(const float *s, size_t n, float t)
{
    const __m256 tv = _mm256_set1_ps(t);
    size_t j = 0;
    /* 32 at a time while nothing is above t (the common case once a top-k
     * heap is full), then 8 at a time to find the place. _CMP_GT_OQ is
     * false for NaN, like the scalar comparison. */
    for (; j + 32 <= n; j += 32) {
        __m256 m = _mm256_or_ps(
            _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + j), tv, _CMP_GT_OQ),
                         _mm256_cmp_ps(_mm256_loadu_ps(s + j + 8), tv, _CMP_GT_OQ)),
            _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + j + 16), tv, _CMP_GT_OQ),
                         _mm256_cmp_ps(_mm256_loadu_ps(s + j + 24), tv, _CMP_GT_OQ)));
        if (_mm256_movemask_ps(m) != 0)
            break;
    }
    for (; j + 8 <= n; j += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + j), tv, _CMP_GT_OQ));
        if (mask != 0)
            return j + (size_t)__builtin_ctz((unsigned)mask);
    }
    for (; j < n; j++)
        if (s[j] > t)
            return j;
    return n;
}

static size_t count_ge_avx2(const float *s, size_t n, float t)
{
    const __m256 tv = _mm256_set1_ps(t);
    size_t j = 0, c = 0;
    for (; j + 8 <= n; j += 8)
        c += (size_t)__builtin_popcount(
            (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + j), tv, _CMP_GE_OQ)));
    for (; j < n; j++)
        c += s[j] >= t;
    return c;
}

static size_t select_ge_avx2(const float *s, size_t n, float t, uint32_t *idx, float *val,
                             size_t cap)
{
    const __m256 tv = _mm256_set1_ps(t);
    size_t j = 0, c = 0;
    for (; j + 8 <= n; j += 8) {
        unsigned m = (unsigned)_mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_loadu_ps(s + j), tv, _CMP_GE_OQ));
        while (m != 0) {
            size_t l = j + (size_t)__builtin_ctz(m);
            m &= m - 1;
            if (c < cap) {
                idx[c] = (uint32_t)l;
                if (val != NULL)
                    val[c] = s[l];
            }
            c++;
        }
    }
    for (; j < n; j++) {
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

static inline float hmax256(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

/* Eight lanes of the per-item tail of qscan (see kernels.h), the float
 * operations in the reference order. */
static inline void qscan_tail8(const trove__qscan_args *a, size_t j, __m256i acc,
                               float *lo, float *hi, __m256 *bl)
{
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 sc = _mm256_loadu_ps(a->scale + j), bi = _mm256_loadu_ps(a->bias + j);
    __m256 add = _mm256_set1_ps(a->add);
    __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(acc),
                             _mm256_mul_ps(sc, _mm256_set1_ps(a->yscale)));
    __m256 v = _mm256_add_ps(_mm256_add_ps(t, bi), add);
    __m256 m = _mm256_add_ps(_mm256_add_ps(_mm256_and_ps(t, absm), _mm256_and_ps(bi, absm)),
                             _mm256_and_ps(add, absm));
    __m256 e = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(a->err_scale), sc),
                                    _mm256_mul_ps(_mm256_set1_ps(a->err_norm),
                                                  _mm256_loadu_ps(a->norm + j))),
                      _mm256_mul_ps(_mm256_set1_ps(a->err_rel), m)),
        _mm256_set1_ps(a->err_abs));
    __m256 l = _mm256_sub_ps(v, e), h = _mm256_add_ps(v, e);
    _mm256_storeu_ps(lo + j, l);
    _mm256_storeu_ps(hi + j, h);
    *bl = _mm256_max_ps(*bl, l);
}

/* vpmaddwd: pairs of int16 products summed into int32, 8 items at a time. */
static void qscan_avx2(const trove__qscan_args *a, float *lo, float *hi, float *lo_max)
{
    for (size_t b = 0; b < a->n_blocks; b++) {
        const int16_t *x = a->x + b * a->n_pairs * 32;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        size_t p = 0;
        for (; p + 2 <= a->n_pairs; p += 2) {
            int32_t w0, w1;
            memcpy(&w0, a->y + 2 * p, sizeof w0);
            memcpy(&w1, a->y + 2 * p + 2, sizeof w1);
            __m256i q0 = _mm256_set1_epi32(w0), q1 = _mm256_set1_epi32(w1);
            const __m256i *r = (const __m256i *)(const void *)(x + p * 32);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(r), q0));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256(r + 1), q0));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_loadu_si256(r + 2), q1));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_loadu_si256(r + 3), q1));
        }
        for (; p < a->n_pairs; p++) {
            int32_t w0;
            memcpy(&w0, a->y + 2 * p, sizeof w0);
            __m256i q0 = _mm256_set1_epi32(w0);
            const __m256i *r = (const __m256i *)(const void *)(x + p * 32);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_loadu_si256(r), q0));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_loadu_si256(r + 1), q0));
        }
        __m256 bl = _mm256_set1_ps(-INFINITY);
        qscan_tail8(a, b * 16, _mm256_add_epi32(a0, a2), lo, hi, &bl);
        qscan_tail8(a, b * 16 + 8, _mm256_add_epi32(a1, a3), lo, hi, &bl);
        lo_max[b] = hmax256(bl);
    }
}

static void stream_copy_avx2(float *dst, const float *src, size_t n)
{
    size_t j = 0;
    /* plain stores up to dst's first 64-byte line boundary */
    while (j < n && ((uintptr_t)(dst + j) & 63u) != 0) {
        dst[j] = src[j];
        j++;
    }
    for (; j + 16 <= n; j += 16) {
        _mm256_stream_ps(dst + j + 0, _mm256_loadu_ps(src + j + 0));
        _mm256_stream_ps(dst + j + 8, _mm256_loadu_ps(src + j + 8));
    }
    for (; j < n; j++)
        dst[j] = src[j];
}

static void stream_fence_avx2(void)
{
    _mm_sfence();
}

const trove__kernels trove__kernels_avx2 = {
    "avx2",
    dot_avx2,
    axpy_avx2,
    axpby_avx2,
    adagrad_avx2,
    adadelta_avx2,
    scores_avx2,
    contains_u32_avx2,
    first_gt_avx2,
    count_ge_avx2,
    select_ge_avx2,
    qscan_avx2,
    NULL,
    adagrad_row_avx2,
    stream_copy_avx2,
    stream_fence_avx2,
};
