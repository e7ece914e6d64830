/*
 * kernels_avx512.c - AVX-512 (F/BW/VL/DQ) + FMA variants of the kernels (see
 * kernels.h). Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma;
 * called only when the CPU has all of them.
 *
 * Sixteen floats per vector; tails use masked loads and stores instead of a
 * scalar loop, so a padded model row (a multiple of 16 floats) is exactly
 * four vectors at d = 64. Masked-off lanes are computed on zeros and never
 * stored. The VNNI table (trove__kernels_avx512_vnni) is this table with
 * the quantized scan on vpdpwssd, compiled for that extension alone.
 */
#include "kernels/kernels.h"

#include <immintrin.h>
#include <string.h>

static inline __mmask16 tail_mask(size_t rem)
{
    return (__mmask16)((1u << rem) - 1u);
}

static float dot_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 16), _mm512_loadu_ps(b + j + 16), s1);
    }
    if (j + 16 <= n) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s0);
        j += 16;
    }
    if (j < n) {
        __mmask16 m = tail_mask(n - j);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j),
                             _mm512_maskz_loadu_ps(m, b + j), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void axpy_avx512(float a, const float *x, float *y, size_t n)
{
    __m512 va = _mm512_set1_ps(a);
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(y + j, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + j),
                                                _mm512_loadu_ps(y + j)));
    if (j < n) {
        __mmask16 m = tail_mask(n - j);
        _mm512_mask_storeu_ps(y + j, m,
                              _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + j),
                                              _mm512_maskz_loadu_ps(m, y + j)));
    }
}

static void axpby_avx512(float *out, float a, const float *x, float b,
                         const float *y, size_t n)
{
    __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(out + j,
                         _mm512_fmadd_ps(va, _mm512_loadu_ps(x + j),
                                         _mm512_mul_ps(vb, _mm512_loadu_ps(y + j))));
    if (j < n) {
        __mmask16 m = tail_mask(n - j);
        _mm512_mask_storeu_ps(out + j, m,
                              _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + j),
                                              _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(m, y + j))));
    }
}

/* 1/sqrt(c): 14-bit hardware estimate plus one Newton-Raphson step
 * y' = y * (1.5 - 0.5 c y^2), accurate to about 2^-27 relative. */
static inline __m512 rsqrt_nr(__m512 c)
{
    __m512 y = _mm512_rsqrt14_ps(c);
    __m512 hcy = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), c), y);
    return _mm512_mul_ps(y, _mm512_fnmadd_ps(hcy, y, _mm512_set1_ps(1.5f)));
}

static inline void adagrad_block(float *w, float *acc, const float *dir,
                                 __m512 vs, __m512 vlr, __m512 va, int use_alpha,
                                 __mmask16 m)
{
    __m512 wv = _mm512_maskz_loadu_ps(m, w);
    __m512 g = _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, dir));
    if (use_alpha)
        g = _mm512_fmadd_ps(va, wv, g);
    /* Masked-off lanes use acc = 1, never 0. */
    __m512 c = _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), m, acc);
    __m512 step = _mm512_mul_ps(_mm512_mul_ps(vlr, g), rsqrt_nr(c));
    _mm512_mask_storeu_ps(w, m, _mm512_sub_ps(wv, step));
    _mm512_mask_storeu_ps(acc, m, _mm512_fmadd_ps(g, g, c));
}

static void adagrad_avx512(float *w, float *acc, const float *dir, float scale,
                           float lr, float alpha, size_t n)
{
    __m512 vs = _mm512_set1_ps(scale), vlr = _mm512_set1_ps(lr);
    __m512 va = _mm512_set1_ps(alpha);
    int use_alpha = alpha != 0.0f;
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        adagrad_block(w + j, acc + j, dir + j, vs, vlr, va, use_alpha, 0xFFFF);
    if (j < n)
        adagrad_block(w + j, acc + j, dir + j, vs, vlr, va, use_alpha, tail_mask(n - j));
}

static float adagrad_row_avx512(float *w, const float *dir, float scale, float rate,
                                float alpha, size_t n)
{
    __m512 vs = _mm512_set1_ps(scale), vr = _mm512_set1_ps(rate);
    __m512 va = _mm512_set1_ps(alpha);
    __m512 s0 = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : tail_mask(n - j);
        __m512 wv = _mm512_maskz_loadu_ps(m, w + j);
        __m512 g = _mm512_fmadd_ps(vs, _mm512_maskz_loadu_ps(m, dir + j), _mm512_mul_ps(va, wv));
        _mm512_mask_storeu_ps(w + j, m, _mm512_fnmadd_ps(vr, g, wv));
        s0 = _mm512_fmadd_ps(g, g, s0);
    }
    return _mm512_reduce_add_ps(s0);
}

static void adadelta_avx512(float *w, float *eg2, float *edx2, const float *dir,
                            float scale, float alpha, float rho, float eps,
                            size_t n)
{
    __m512 vs = _mm512_set1_ps(scale), va = _mm512_set1_ps(alpha);
    __m512 vr = _mm512_set1_ps(rho), vr1 = _mm512_set1_ps(1.0f - rho);
    __m512 ve = _mm512_set1_ps(eps);
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : tail_mask(n - j);
        __m512 wv = _mm512_maskz_loadu_ps(m, w + j);
        __m512 g = _mm512_fmadd_ps(vs, _mm512_maskz_loadu_ps(m, dir + j), _mm512_mul_ps(va, wv));
        __m512 e = _mm512_fmadd_ps(vr, _mm512_maskz_loadu_ps(m, eg2 + j),
                                   _mm512_mul_ps(vr1, _mm512_mul_ps(g, g)));
        __m512 x = _mm512_maskz_loadu_ps(m, edx2 + j);
        __m512 d = _mm512_mul_ps(_mm512_div_ps(_mm512_sqrt_ps(_mm512_add_ps(x, ve)),
                                               _mm512_sqrt_ps(_mm512_add_ps(e, ve))), g);
        _mm512_mask_storeu_ps(eg2 + j, m, e);
        _mm512_mask_storeu_ps(edx2 + j, m,
                              _mm512_fmadd_ps(vr, x, _mm512_mul_ps(vr1, _mm512_mul_ps(d, d))));
        _mm512_mask_storeu_ps(w + j, m, _mm512_sub_ps(wv, d));
    }
}

static void scores_avx512(const float *q, const float *rows, size_t n_rows,
                          size_t stride, size_t n, const float *bias, float add,
                          float *out)
{
    size_t r = 0;
    if ((n & 15) == 0) {
        /* Four rows at a time share each load of q. */
        for (; r + 4 <= n_rows; r += 4) {
            const float *r0 = rows + r * stride, *r1 = r0 + stride;
            const float *r2 = r1 + stride, *r3 = r2 + stride;
            __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
            __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
            for (size_t j = 0; j < n; j += 16) {
                __m512 qv = _mm512_loadu_ps(q + j);
                s0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r0 + j), s0);
                s1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r1 + j), s1);
                s2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r2 + j), s2);
                s3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r3 + j), s3);
            }
            out[r] = _mm512_reduce_add_ps(s0) + (bias ? bias[r] : 0.0f) + add;
            out[r + 1] = _mm512_reduce_add_ps(s1) + (bias ? bias[r + 1] : 0.0f) + add;
            out[r + 2] = _mm512_reduce_add_ps(s2) + (bias ? bias[r + 2] : 0.0f) + add;
            out[r + 3] = _mm512_reduce_add_ps(s3) + (bias ? bias[r + 3] : 0.0f) + add;
        }
    }
    for (; r < n_rows; r++)
        out[r] = dot_avx512(q, rows + r * stride, n) + (bias ? bias[r] : 0.0f) + add;
}

static int contains_u32_avx512(const uint32_t *a, size_t n, uint32_t x)
{
    /* Narrow the window branch-free to at most 32 entries, then compare
     * them all at once. */
    while (n > 32) {
        size_t half = n / 2;
        a = a[half] <= x ? a + half : a;
        n -= half;
    }
    if (n == 0)
        return 0;
    __m512i vx = _mm512_set1_epi32((int)x);
    __mmask16 m0 = n >= 16 ? (__mmask16)0xFFFF : tail_mask(n);
    __mmask16 hit = _mm512_mask_cmpeq_epi32_mask(m0, _mm512_maskz_loadu_epi32(m0, a), vx);
    if (n > 16) {
        __mmask16 m1 = tail_mask(n - 16);
        hit |= _mm512_mask_cmpeq_epi32_mask(m1, _mm512_maskz_loadu_epi32(m1, a + 16), vx);
    }
    return hit != 0;
}

static size_t first_gt_avx512(const float *s, size_t n, float t)
{
    const __m512 tv = _mm512_set1_ps(t);
    size_t j = 0;
    /* 64 at a time while nothing is above t, then 16 at a time, then one
     * masked load for the tail. _CMP_GT_OQ is false for NaN. */
    for (; j + 64 <= n; j += 64) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j), tv, _CMP_GT_OQ) |
                      _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j + 16), tv, _CMP_GT_OQ) |
                      _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j + 32), tv, _CMP_GT_OQ) |
                      _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j + 48), tv, _CMP_GT_OQ);
        if (m != 0)
            break;
    }
    for (; j + 16 <= n; j += 16) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(s + j), tv, _CMP_GT_OQ);
        if (m != 0)
            return j + (size_t)__builtin_ctz((unsigned)m);
    }
    if (j < n) {
        __mmask16 live = tail_mask(n - j);
        __mmask16 m = _mm512_mask_cmp_ps_mask(live, _mm512_maskz_loadu_ps(live, s + j), tv,
                                              _CMP_GT_OQ);
        if (m != 0)
            return j + (size_t)__builtin_ctz((unsigned)m);
    }
    return n;
}

static size_t count_ge_avx512(const float *s, size_t n, float t)
{
    const __m512 tv = _mm512_set1_ps(t);
    size_t j = 0, c = 0;
    for (; j + 16 <= n; j += 16)
        c += (size_t)__builtin_popcount(
            (unsigned)_mm512_cmp_ps_mask(_mm512_loadu_ps(s + j), tv, _CMP_GE_OQ));
    if (j < n) {
        __mmask16 live = tail_mask(n - j);
        c += (size_t)__builtin_popcount((unsigned)_mm512_mask_cmp_ps_mask(
            live, _mm512_maskz_loadu_ps(live, s + j), tv, _CMP_GE_OQ));
    }
    return c;
}

/* Compress-stores the indices (and values) of the lanes that pass; past
 * cap only counts. */
static size_t select_ge_avx512(const float *s, size_t n, float t, uint32_t *idx, float *val,
                               size_t cap)
{
    const __m512 tv = _mm512_set1_ps(t);
    const __m512i step = _mm512_set1_epi32(16);
    __m512i iv = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    size_t j = 0, c = 0;
    for (; j < n; j += 16, iv = _mm512_add_epi32(iv, step)) {
        __mmask16 live = n - j >= 16 ? (__mmask16)0xffff : tail_mask(n - j);
        __m512 v = _mm512_maskz_loadu_ps(live, s + j);
        __mmask16 m = _mm512_mask_cmp_ps_mask(live, v, tv, _CMP_GE_OQ);
        if (m == 0)
            continue;
        size_t hits = (size_t)__builtin_popcount((unsigned)m);
        if (c + hits <= cap) {
            _mm512_mask_compressstoreu_epi32(idx + c, m, iv);
            if (val != NULL)
                _mm512_mask_compressstoreu_ps(val + c, m, v);
        } else {
            for (unsigned b = m; b != 0 && c < cap; b &= b - 1) {
                size_t l = j + (size_t)__builtin_ctz(b);
                idx[c] = (uint32_t)l;
                if (val != NULL)
                    val[c] = s[l];
                c++;
                hits--;
            }
        }
        c += hits;
    }
    return c;
}

/* The per-item tail of qscan (see kernels.h) on the 16 lanes of a block,
 * the float operations in the reference order. */
static inline void qscan_tail16(const trove__qscan_args *a, size_t b, __m512i acc,
                                float *lo, float *hi, float *lo_max)
{
    size_t j = b * 16;
    __m512 sc = _mm512_loadu_ps(a->scale + j), bi = _mm512_loadu_ps(a->bias + j);
    __m512 add = _mm512_set1_ps(a->add);
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc),
                             _mm512_mul_ps(sc, _mm512_set1_ps(a->yscale)));
    __m512 v = _mm512_add_ps(_mm512_add_ps(t, bi), add);
    __m512 m = _mm512_add_ps(_mm512_add_ps(_mm512_abs_ps(t), _mm512_abs_ps(bi)),
                             _mm512_abs_ps(add));
    __m512 e = _mm512_add_ps(
        _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(a->err_scale), sc),
                                    _mm512_mul_ps(_mm512_set1_ps(a->err_norm),
                                                  _mm512_loadu_ps(a->norm + j))),
                      _mm512_mul_ps(_mm512_set1_ps(a->err_rel), m)),
        _mm512_set1_ps(a->err_abs));
    __m512 l = _mm512_sub_ps(v, e), h = _mm512_add_ps(v, e);
    _mm512_storeu_ps(lo + j, l);
    _mm512_storeu_ps(hi + j, h);
    lo_max[b] = _mm512_reduce_max_ps(l);
}

/* The int16 pair products of qscan, 16 items per instruction: vpmaddwd
 * plus an add here, one vpdpwssd in the VNNI variant below. Four
 * accumulators over the pairs hide the latency of the chain. */
#define QSCAN_BODY(MADD)                                                       \
    int32_t yw[TROVE__QSCAN_MAX_PAIRS];                                        \
    memcpy(yw, a->y, a->n_pairs * sizeof *yw);                                 \
    for (size_t b = 0; b < a->n_blocks; b++) {                                 \
        const int16_t *x = a->x + b * a->n_pairs * 32;                         \
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;       \
        size_t p = 0;                                                          \
        for (; p + 4 <= a->n_pairs; p += 4) {                                  \
            const int16_t *r = x + p * 32;                                     \
            a0 = MADD(a0, _mm512_loadu_si512(r), _mm512_set1_epi32(yw[p]));    \
            a1 = MADD(a1, _mm512_loadu_si512(r + 32), _mm512_set1_epi32(yw[p + 1])); \
            a2 = MADD(a2, _mm512_loadu_si512(r + 64), _mm512_set1_epi32(yw[p + 2])); \
            a3 = MADD(a3, _mm512_loadu_si512(r + 96), _mm512_set1_epi32(yw[p + 3])); \
        }                                                                      \
        for (; p < a->n_pairs; p++)                                            \
            a0 = MADD(a0, _mm512_loadu_si512(x + p * 32), _mm512_set1_epi32(yw[p])); \
        qscan_tail16(a, b, _mm512_add_epi32(_mm512_add_epi32(a0, a1),          \
                                            _mm512_add_epi32(a2, a3)),         \
                     lo, hi, lo_max);                                          \
    }

static inline __m512i madd_bw(__m512i acc, __m512i x, __m512i y)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(x, y));
}

static void qscan_avx512(const trove__qscan_args *a, float *lo, float *hi, float *lo_max)
{
    QSCAN_BODY(madd_bw)
}

__attribute__((target("avx512vnni")))
static inline __m512i madd_vnni(__m512i acc, __m512i x, __m512i y)
{
    return _mm512_dpwssd_epi32(acc, x, y);
}

__attribute__((target("avx512vnni")))
static void qscan_avx512_vnni(const trove__qscan_args *a, float *lo, float *hi,
                              float *lo_max)
{
    QSCAN_BODY(madd_vnni)
}

/* The int8 form: vpdpbusd multiplies the u8 query quad by 16 items' s8
 * quads and adds the four products into each lane. */
__attribute__((target("avx512vnni")))
static void qscan8_avx512_vnni(const trove__qscan_args *a, float *lo, float *hi,
                               float *lo_max)
{
    int32_t uw[TROVE__QSCAN_MAX_PAIRS];
    memcpy(uw, a->u8, a->n_quads * sizeof *uw);
    for (size_t b = 0; b < a->n_blocks; b++) {
        const int8_t *x = a->x8 + b * a->n_quads * 64;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        size_t p = 0;
        for (; p + 4 <= a->n_quads; p += 4) {
            const int8_t *r = x + p * 64;
            a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(uw[p]), _mm512_loadu_si512(r));
            a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(uw[p + 1]),
                                     _mm512_loadu_si512(r + 64));
            a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(uw[p + 2]),
                                     _mm512_loadu_si512(r + 128));
            a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(uw[p + 3]),
                                     _mm512_loadu_si512(r + 192));
        }
        for (; p < a->n_quads; p++)
            a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(uw[p]),
                                     _mm512_loadu_si512(x + p * 64));
        __m512i acc = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
        acc = _mm512_sub_epi32(acc, _mm512_slli_epi32(_mm512_loadu_si512(a->xsum + b * 16), 7));
        qscan_tail16(a, b, acc, lo, hi, lo_max);
    }
}

static void stream_copy_avx512(float *dst, const float *src, size_t n)
{
    size_t j = 0;
    /* plain stores up to dst's first 64-byte line boundary */
    while (j < n && ((uintptr_t)(dst + j) & 63u) != 0) {
        dst[j] = src[j];
        j++;
    }
    for (; j + 16 <= n; j += 16) {
        _mm512_stream_ps(dst + j + 0, _mm512_loadu_ps(src + j + 0));
    }
    for (; j < n; j++)
        dst[j] = src[j];
}

static void stream_fence_avx512(void)
{
    _mm_sfence();
}

const trove__kernels trove__kernels_avx512 = {
    "avx512",
    dot_avx512,
    axpy_avx512,
    axpby_avx512,
    adagrad_avx512,
    adadelta_avx512,
    scores_avx512,
    contains_u32_avx512,
    first_gt_avx512,
    count_ge_avx512,
    select_ge_avx512,
    qscan_avx512,
    NULL,
    adagrad_row_avx512,
    stream_copy_avx512,
    stream_fence_avx512,
};

const trove__kernels trove__kernels_avx512_vnni = {
    "avx512vnni",
    dot_avx512,
    axpy_avx512,
    axpby_avx512,
    adagrad_avx512,
    adadelta_avx512,
    scores_avx512,
    contains_u32_avx512,
    first_gt_avx512,
    count_ge_avx512,
    select_ge_avx512,
    qscan_avx512_vnni,
    qscan8_avx512_vnni,
    adagrad_row_avx512,
    stream_copy_avx512,
    stream_fence_avx512,
};
