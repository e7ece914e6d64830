/*
 * kernels.h - internal API of the numeric kernels behind training and
 * scoring: dot products, axpy-style updates, the fused adagrad / adadelta /
 * row-wise adagrad row updates, blocked scoring of many rows against one vector, and the
 * threshold scan behind top-k selection (trove__topk, topk.c), and the
 * int16 scan of a quantized item matrix behind serving (trove__qscan_args).
 *
 * Every kernel exists as a scalar reference (kernels_scalar.c) and, when the
 * build enables TROVE_SIMD, as AVX2+FMA and AVX-512 variants. One table of
 * function pointers is chosen once per process from the CPU's features
 * (trove__kernels_best()); the environment variable TROVE_KERNELS=scalar|avx2|
 * avx512 forces a lower variant (for tests and benchmarks).
 *
 * Invariants: every kernel accepts any length n >= 0 and any alignment (the
 * model passes 64-byte aligned rows padded to a multiple of 16 floats, which
 * lets the SIMD variants skip their tails, but the tails exist and are
 * tested). Kernels never allocate and are thread-safe on distinct outputs.
 * Variants agree with the scalar reference up to float rounding (they may
 * reassociate sums, contract multiply-adds, and the adagrad step computes
 * 1/sqrt(acc) as a hardware reciprocal square root refined by one
 * Newton-Raphson step, within a few ulp of the division), not bit for bit.
 */
#ifndef TROVE_KERNELS_H
#define TROVE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

enum trove__kernel_variant {
    TROVE__KERNELS_SCALAR = 0,
    TROVE__KERNELS_AVX2   = 1,
    TROVE__KERNELS_AVX512 = 2,
    /* the AVX-512 table with the VNNI quantized scans (vpdpwssd, vpdpbusd) */
    TROVE__KERNELS_AVX512_VNNI = 3,
    TROVE__KERNELS_COUNT  = 4
};

/* Quantized scan (serving; src/serve/score.c has the error analysis).
 * n_blocks blocks of 16 items. int16 form (qscan): item j = 16 b + l has
 * a row x_j of 2 * n_pairs entries stored in pairs of dimensions,
 *   x[((b * n_pairs + p) * 16 + l) * 2 + h] = x_j[2 p + h],
 * and y is the int16 query (2 * n_pairs entries); the caller guarantees
 * sum_d |x_jd| |y_d| <= 2^31 - 1, so every variant computes the integer
 * sum exactly. int8 form (qscan8, AVX-512 VNNI only): rows of 4 * n_quads
 * int8 entries in quads, x8[((b * n_quads + p) * 16 + l) * 4 + h] =
 * x_j[4 p + h], the query as u8 = y + 128 (|y| <= 127), and xsum[j] =
 * sum_d x_jd, so that acc = sum_d u8_d x_jd - 128 xsum[j] = sum_d x_jd y_d.
 * Then, for each item, in this order of float operations:
 *   acc = sum_d x_jd y_d                        (int32, exact)
 *   t   = (float)acc * (scale[j] * yscale)
 *   a   = (t + bias[j]) + add
 *   m   = (|t| + |bias[j]|) + |add|
 *   e   = ((err_scale * scale[j] + err_norm * norm[j]) + err_rel * m) + err_abs
 *   lo[j] = a - e,  hi[j] = a + e
 * and lo_max[b] the largest lo of block b's 16 lanes. Every variant gives
 * bit-identical results. scale, norm, bias and xsum have n_blocks * 16
 * entries (padding lanes included); n_pairs and n_quads are at most
 * TROVE__QSCAN_MAX_PAIRS. */
typedef struct trove__qscan_args {
    const int16_t *x;        /* int16 form */
    size_t n_blocks, n_pairs;
    const int16_t *y;
    const int8_t *x8;        /* int8 form */
    size_t n_quads;
    const uint8_t *u8;
    const int32_t *xsum;
    float yscale;
    const float *scale, *norm, *bias;
    float add;
    float err_scale, err_norm, err_rel, err_abs;
} trove__qscan_args;
#define TROVE__QSCAN_MAX_PAIRS 4096

typedef struct trove__kernels {
    const char *name;
    /* sum_j a[j]*b[j] */
    float (*dot)(const float *a, const float *b, size_t n);
    /* y[j] += a*x[j] */
    void (*axpy)(float a, const float *x, float *y, size_t n);
    /* out[j] = a*x[j] + b*y[j] (out may alias neither x nor y) */
    void (*axpby)(float *out, float a, const float *x, float b, const float *y,
                  size_t n);
    /* Adagrad step on one row (Duchi, Hazan, Singer, "Adaptive subgradient
     * methods", JMLR 2011), with LightFM's ordering: the step uses the
     * accumulator before this gradient is added.
     *   g = scale*dir[j] + alpha*w[j]
     *   w[j] -= lr * g / sqrt(acc[j]);  acc[j] += g*g                      */
    void (*adagrad)(float *w, float *acc, const float *dir, float scale,
                    float lr, float alpha, size_t n);
    /* Adadelta step on one row (Zeiler, "ADADELTA: an adaptive learning rate
     * method", 2012):
     *   g = scale*dir[j] + alpha*w[j]
     *   eg2 = rho*eg2 + (1-rho)*g*g
     *   d   = sqrt(edx2 + eps) / sqrt(eg2 + eps) * g
     *   edx2 = rho*edx2 + (1-rho)*d*d;  w -= d                             */
    void (*adadelta)(float *w, float *eg2, float *edx2, const float *dir,
                     float scale, float alpha, float rho, float eps, size_t n);
    /* out[r] = dot(q, rows + r*stride, n) + bias[r] + add, r < n_rows.
     * bias may be NULL (treated as 0). */
    void (*scores)(const float *q, const float *rows, size_t n_rows,
                   size_t stride, size_t n, const float *bias, float add,
                   float *out);
    /* 1 if x is in a[0..n), a strictly ascending, else 0 (WARP's "is this
     * sampled item a positive of the user"). */
    int (*contains_u32)(const uint32_t *a, size_t n, uint32_t x);
    /* Index of the first s[j] > t in s[0..n), or n if there is none (NaN is
     * never greater). Top-k selection skips everything that cannot enter
     * its heap with this. Exact in every variant (comparisons only). */
    size_t (*first_gt)(const float *s, size_t n, float t);
    /* Number of s[j] >= t in s[0..n) (NaN never is). Exact in every
     * variant. */
    size_t (*count_ge)(const float *s, size_t n, float t);
    /* The j with s[j] >= t, ascending: the first cap of them into idx[]
     * and, when val is not NULL, their values into val[]; returns how many
     * there are (which may exceed cap). Exact in every variant. */
    size_t (*select_ge)(const float *s, size_t n, float t, uint32_t *idx, float *val,
                        size_t cap);
    /* The quantized scans described at trove__qscan_args; qscan8 is NULL
     * in the tables without AVX-512 VNNI (the scalar table has it, as the
     * reference the VNNI one is tested against). */
    void (*qscan)(const trove__qscan_args *a, float *lo, float *hi, float *lo_max);
    void (*qscan8)(const trove__qscan_args *a, float *lo, float *hi, float *lo_max);
    /* Row-wise adagrad step on one row (one accumulator per embedding row,
     * as in Mudigere et al., "Software-hardware co-design for fast and
     * scalable training of deep learning recommendation models", ISCA
     * 2022), fused with the sum its accumulator needs. The caller passes
     * rate = lr / sqrt(row accumulator) and adds the returned sum divided
     * by the dimension to the accumulator afterwards:
     *   g = scale*dir[j] + alpha*w[j];  w[j] -= rate * g
     *   returns sum_j g*g                                                  */
    float (*adagrad_row)(float *w, const float *dir, float scale, float rate,
                         float alpha, size_t n);
    /* Copy n floats, dst[j] = src[j], for data that another core reads
     * next: the SIMD variants store whole 64-byte lines of a 64-byte
     * aligned dst non-temporally (the lines go to memory instead of
     * staying in this core's cache, so a later copy into the same place
     * does not first pull them back from the reading core); other parts,
     * and every part in the scalar table, are stored as usual. Such
     * stores are weakly ordered: call stream_fence before publishing the
     * data to another thread. */
    void (*stream_copy)(float *dst, const float *src, size_t n);
    /* Order the stream_copy stores before any later store (sfence; a
     * no-op in the scalar table). */
    void (*stream_fence)(void);
} trove__kernels;

/* Best k of scores[0..n) into items[0..count) and out_scores[0..count),
 * best first, and count returned (count = min(k, number of candidates)).
 * Entries that are NaN or -INFINITY are not candidates: callers exclude an
 * item by setting its score to NaN. Ties go to the lower index (the rule
 * of docs/metrics.md), so the result is a pure function of the scores.
 * items and out_scores (k each) double as the heap: no allocation, no
 * other scratch. O(n) comparisons through first_gt plus O(m log k) heap
 * work for the m entries that beat the running k-th best. Thread-safe on
 * distinct outputs (topk.c). */
uint32_t trove__topk(const float *scores, uint32_t n, uint32_t k, uint32_t *items,
                     float *out_scores);

/* The best table for this CPU (or the one TROVE_KERNELS asks for). Chosen
 * once, thread-safe, never NULL. */
const trove__kernels *trove__kernels_best(void);

/* A specific variant, or NULL if it was not built or the CPU lacks it. */
const trove__kernels *trove__kernels_variant(int variant);

/* The per-variant tables (defined in the variant files). */
extern const trove__kernels trove__kernels_scalar;
#ifdef TROVE_HAVE_AVX2_KERNELS
extern const trove__kernels trove__kernels_avx2;
#endif
#ifdef TROVE_HAVE_AVX512_KERNELS
extern const trove__kernels trove__kernels_avx512;
extern const trove__kernels trove__kernels_avx512_vnni;
#endif

#endif /* TROVE_KERNELS_H */
