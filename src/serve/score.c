/*
 * score.c - serving-time item matrices: the candidates of a request from an
 * int16 copy of a model's item representations, re-scored in float32.
 *
 * Scoring every item of a 10k x 64 catalog in float32 reads 2.5 MB per
 * request, which the caches of a busy server do not keep; an int16 copy is
 * half of that. (int8 would be a quarter, but GCC's vector extensions widen
 * it to float in many more instructions: measured slower.) Each item row j
 * is quantized with its own scale s_j = max_d |p_jd| / 32767
 * (x_jd = round(p_jd / s_j)), laid out in blocks of 16 items,
 * dimension-major inside a block ([block][d][16]) so that one pass
 * multiplies 16 items at once with no horizontal sums.
 *
 * Exactness: |<q, p_j> - s_j <q, x_j>| <= s_j / 2 * ||q||_1 (each element
 * is off by at most s_j / 2); the float sum of 64-odd products of at most
 * 32767 s_j |q_d| adds at most 64 * 2^-24 * 32767 s_j ||q||_1 < s_j / 8
 * ||q||_1, so the approximate score a_j is within
 * e = 0.75 max_j s_j ||q||_1 + 1e-5 (max_j |a_j| + 1) of the float32 one.
 * With T the K-th largest a_j, the float32 K-th best is at least T - e, so
 * every item of the float32 top K has a_j >= T - 2e: those are the
 * candidates, re-scored in float32 (the filter-and-refine of approximate
 * top-k search, e.g. Guo et al., "Accelerating Large-Scale Inference with
 * Anisotropic Vector Quantization", ICML 2020). The caller learns the
 * largest score any item left out can have, to check that none could have
 * mattered.
 *
 * The three variants (AVX-512, AVX2+FMA, plain C) are one source through
 * GCC vector extensions, compiled per target and chosen once per matrix
 * from the CPU's features; no intrinsics header is needed.
 *
 * Invariants: a serve_qmat is immutable once built; any number of threads
 * may read it.
 */
#include "serve_int.h"

#include <math.h>
#include <string.h>

typedef float v16f __attribute__((vector_size(64)));
typedef short v16h __attribute__((vector_size(32)));
typedef int v16i __attribute__((vector_size(64)));

#define QM_LANES 16

struct serve_qmat {
    uint32_t     n, dim, dim16, n_blocks;
    int16_t     *x;       /* [n_blocks][dim][16] */
    float       *scale;   /* [n_blocks * 16] (0 past n) */
    float        scale_max;
    float       *bias;    /* [n_blocks * 16] */
    float       *rep;     /* [n][dim16] float32, zero padded */
    void (*scan)(const struct serve_qmat *, const float *, float, float *,
                 float *);
    float (*dot)(const float *, const float *, uint32_t);
};

/* The largest lane of v, by a tree of shuffles and selects (vector
 * extensions have no max; a > b gives the select mask). A scalar loop over
 * the lanes would be a chain of 16 dependent steps per block. */
#define LANE_MAX(v, out)                                                       \
    do {                                                                       \
        static const v16i perm[4] = {                                          \
            { 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7 },           \
            { 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11 },           \
            { 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13 },           \
            { 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14 } };         \
        v16f t_ = (v);                                                         \
        for (int s_ = 0; s_ < 4; s_++) {                                       \
            v16f u_ = __builtin_shuffle(t_, perm[s_]);                         \
            v16i m_ = t_ > u_;                                                 \
            t_ = (v16f)(((v16i)t_ & m_) | ((v16i)u_ & ~m_));                   \
        }                                                                      \
        (out) = t_[0];                                                         \
    } while (0)

/* approx[j] = s_j * <q, x_j> + bias_j + bu, 16 items per block, and the
 * largest of block b in bmax[b]. */
#define SCAN_WIDEN(v) __builtin_convertvector(__builtin_convertvector(v, v16i), v16f)
/* Four accumulators over the dimensions: one would make every block wait
 * on the latency of a chain of 64 dependent additions. */
#define SCAN_BODY                                                              \
    for (uint32_t b = 0; b < qm->n_blocks; b++) {                              \
        const int16_t *x = qm->x + (size_t)b * qm->dim * QM_LANES;            \
        v16f a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 }, acc, sc, bi;     \
        uint32_t d = 0;                                                        \
        for (; d + 4 <= qm->dim; d += 4) {                                     \
            v16h v0, v1, v2, v3;                                               \
            const int16_t *p = x + (size_t)d * QM_LANES;                       \
            memcpy(&v0, p, sizeof v0);                                         \
            memcpy(&v1, p + QM_LANES, sizeof v1);                              \
            memcpy(&v2, p + 2 * QM_LANES, sizeof v2);                          \
            memcpy(&v3, p + 3 * QM_LANES, sizeof v3);                          \
            a0 += q[d] * SCAN_WIDEN(v0);                                       \
            a1 += q[d + 1] * SCAN_WIDEN(v1);                                   \
            a2 += q[d + 2] * SCAN_WIDEN(v2);                                   \
            a3 += q[d + 3] * SCAN_WIDEN(v3);                                   \
        }                                                                      \
        for (; d < qm->dim; d++) {                                             \
            v16h v0;                                                           \
            memcpy(&v0, x + (size_t)d * QM_LANES, sizeof v0);                  \
            a0 += q[d] * SCAN_WIDEN(v0);                                       \
        }                                                                      \
        acc = (a0 + a1) + (a2 + a3);                                           \
        memcpy(&sc, qm->scale + (size_t)b * QM_LANES, sizeof sc);              \
        memcpy(&bi, qm->bias + (size_t)b * QM_LANES, sizeof bi);               \
        acc = acc * sc + bi + bu;                                              \
        memcpy(out + (size_t)b * QM_LANES, &acc, sizeof acc);                  \
        LANE_MAX(acc, bmax[b]);                                                \
    }

/* <a, b> over n16 floats (a multiple of 16). */
#define DOT_BODY                                                               \
    v16f acc = { 0 }, va, vb;                                                  \
    float s = 0.0f;                                                            \
    for (uint32_t d = 0; d < n16; d += QM_LANES) {                             \
        memcpy(&va, a + d, sizeof va);                                         \
        memcpy(&vb, b + d, sizeof vb);                                         \
        acc += va * vb;                                                        \
    }                                                                          \
    for (int l = 0; l < QM_LANES; l++)                                         \
        s += acc[l];                                                           \
    return s;

__attribute__((target("avx512f")))
static void scan_avx512(const serve_qmat *qm, const float *q, float bu, float *out,
                        float *bmax)
{
    SCAN_BODY
}

__attribute__((target("avx2,fma")))
static void scan_avx2(const serve_qmat *qm, const float *q, float bu, float *out,
                      float *bmax)
{
    SCAN_BODY
}

static void scan_plain(const serve_qmat *qm, const float *q, float bu, float *out,
                       float *bmax)
{
    SCAN_BODY
}

__attribute__((target("avx512f")))
static float dot_avx512(const float *a, const float *b, uint32_t n16)
{
    DOT_BODY
}

__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, uint32_t n16)
{
    DOT_BODY
}

static float dot_plain(const float *a, const float *b, uint32_t n16)
{
    DOT_BODY
}

void trove__serve_qmat_free(serve_qmat *qm)
{
    if (qm == NULL)
        return;
    trove_aligned_free(qm->x);
    trove_aligned_free(qm->scale);
    trove_aligned_free(qm->bias);
    trove_aligned_free(qm->rep);
    trove_free(qm);
}

uint32_t trove__serve_qmat_dim16(const serve_qmat *qm)
{
    return qm->dim16;
}

int trove__serve_qmat_build(const trove_model *m, serve_qmat **out)
{
    serve_qmat *qm = trove_calloc(1, sizeof *qm);
    float *row = NULL;
    int rc = TROVE_ENOMEM;
    if (qm == NULL)
        return TROVE_ENOMEM;
    qm->n = trove_model_n_items(m);
    qm->dim = trove_model_dim(m);
    qm->dim16 = (qm->dim + QM_LANES - 1) / QM_LANES * QM_LANES;
    qm->n_blocks = (qm->n + QM_LANES - 1) / QM_LANES;
    size_t padded = (size_t)qm->n_blocks * QM_LANES;
    qm->x = trove_aligned_alloc(64, padded * qm->dim * sizeof *qm->x + 64);
    qm->scale = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->bias = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->rep = trove_aligned_alloc(64, ((size_t)qm->n * qm->dim16 + 16) * sizeof(float));
    row = trove_malloc(qm->dim16 * sizeof *row);
    if (qm->x == NULL || qm->scale == NULL || qm->bias == NULL || qm->rep == NULL ||
        row == NULL)
        goto fail;
    memset(qm->x, 0, padded * qm->dim * sizeof *qm->x);
    memset(qm->scale, 0, padded * sizeof(float));
    memset(qm->bias, 0, padded * sizeof(float));
    memset(qm->rep, 0, (size_t)qm->n * qm->dim16 * sizeof(float));
    for (uint32_t j = 0; j < qm->n; j++) {
        float b, mx = 0.0f;
        rc = trove_model_item_repr(m, j, row, &b, NULL);
        if (rc != TROVE_OK)
            goto fail;
        memcpy(qm->rep + (size_t)j * qm->dim16, row, qm->dim * sizeof *row);
        for (uint32_t d = 0; d < qm->dim; d++)
            if (fabsf(row[d]) > mx)
                mx = fabsf(row[d]);
        float s = mx > 0.0f ? mx / 32767.0f : 1.0f;
        int16_t *x = qm->x + (size_t)(j / QM_LANES) * qm->dim * QM_LANES +
                     j % QM_LANES;
        for (uint32_t d = 0; d < qm->dim; d++) {
            float v = nearbyintf(row[d] / s);
            v = v > 32767.0f ? 32767.0f : v < -32767.0f ? -32767.0f : v;
            x[(size_t)d * QM_LANES] = (int16_t)v;
        }
        qm->scale[j] = s;
        if (s > qm->scale_max)
            qm->scale_max = s;
        qm->bias[j] = b;
    }
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        qm->scan = scan_avx512;
        qm->dot = dot_avx512;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        qm->scan = scan_avx2;
        qm->dot = dot_avx2;
    } else {
        qm->scan = scan_plain;
        qm->dot = dot_plain;
    }
    trove_free(row);
    *out = qm;
    return TROVE_OK;
fail:
    trove_free(row);
    trove__serve_qmat_free(qm);
    return rc == TROVE_OK ? TROVE_ENOMEM : rc;
}

/* Min-heap of floats (the K largest seen so far). */
static void heap_down(float *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && h[l] < h[m])
            m = l;
        if (l + 1 < n && h[l + 1] < h[m])
            m = l + 1;
        if (m == i)
            return;
        float t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

size_t trove__serve_qmat_candidates(const serve_qmat *qm, const float *q,
                                    float bu, size_t k, float *approx,
                                    float *bmax, float *heap, uint32_t *cand,
                                    float *exact, size_t cap, float *upper_out)
{
    float l1 = 0.0f;
    size_t n = 0, nh = 0;
    if (qm->n == 0 || k == 0)
        return 0;
    for (uint32_t d = 0; d < qm->dim; d++)
        l1 += fabsf(q[d]);
    qm->scan(qm, q, bu, approx, bmax);
    if (k > qm->n)
        k = qm->n;
    /* the k largest approximate scores in a min-heap; a block whose
     * largest cannot enter is skipped whole */
    for (uint32_t b = 0; b < qm->n_blocks; b++) {
        if (nh == k && !(bmax[b] > heap[0]))
            continue;
        for (uint32_t j = b * QM_LANES; j < (b + 1) * QM_LANES && j < qm->n; j++) {
            float a = approx[j];
            if (nh < k) {
                heap[nh++] = a;
                if (nh == k)
                    for (size_t i = k / 2; i-- > 0;)
                        heap_down(heap, k, i);
            } else if (a > heap[0]) {
                heap[0] = a;
                heap_down(heap, k, 0);
            }
        }
    }
    /* the float32 k-th best is at least T - c - 1e-5 (|T| + 1); an item
     * below thr cannot reach that (see the top of the file) */
    float t = heap[0], c = 0.75f * qm->scale_max * l1;
    float thr = t - 2.0f * (c + 1e-5f * (2.0f * fabsf(t) + 2.0f));
    for (uint32_t b = 0; b < qm->n_blocks; b++) {
        if (bmax[b] < thr)
            continue;
        for (uint32_t j = b * QM_LANES; j < (b + 1) * QM_LANES && j < qm->n; j++) {
            if (approx[j] < thr)
                continue;
            if (n == cap)
                return 0;   /* too many near-ties: score everything */
            cand[n] = j;
            exact[n] = qm->dot(qm->rep + (size_t)j * qm->dim16, q, qm->dim16) +
                       bu + qm->bias[j];
            n++;
        }
    }
    *upper_out = thr + c + 1e-5f * (fabsf(thr) + 1.0f);
    return n;
}
