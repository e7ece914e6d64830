/*
 * score.c - serving-time item matrices: the candidates of a request from a
 * quantized copy of a model's item representations, re-scored in float32.
 *
 * Scoring every item of a 10k x 64 catalog in float32 reads 2.5 MB per
 * request, which the caches of a busy server do not keep. A quantized copy
 * is read instead: int8 (640 KB at 10k x 64, within a core's L2 cache) when
 * the CPU has AVX-512 VNNI (vpdpbusd: 64 products per instruction), else
 * int16 (vpmaddwd: 32). Item row j is quantized with its own scale s_j =
 * max_d |p_jd| / X (x_jd = round(p_jd / s_j), X = 127 or 32767); the
 * user's row q with one scale s_q = max_d |q_d| / Y (y_d = round(q_d /
 * s_q)): Y = 127 for int8 (the query enters vpdpbusd as u8 = y + 128, the
 * offset taken out with each row's sum), and for int16 the largest integer
 * with 2 * n_pairs * 32767 * Y < 2^31, so the int32 sums are exact. Rows
 * are laid out in blocks of 16 items with groups of dimensions interleaved
 * (the operand order of the instructions), and the kernels module scans
 * them (trove__qscan_args in kernels/kernels.h).
 *
 * Exactness. With R_j = <q, p_j> in real arithmetic and A_j = s_j s_q
 * <x_j, y>:
 *   |R_j - A_j| <= sum_d |q_d| |p_jd - s_j x_jd| + sum_d s_j |x_jd| |q_d - s_q y_d|
 *               <= ||q||_1 delta_j + n_j delta_q,
 * with delta_j the largest element error of row j and n_j = s_j ||x_j||_1
 * (both measured when the matrix is built) and delta_q that of the query
 * (measured per request). The float32 score F_j that ranks the items (the
 * kernel dot product of the float rows plus the biases) is within
 * dim16 2^-24 ||q||_1 max_d |p_jd| + O(2^-24) (|R_j| + |b_j| + |b_u|) of
 * R_j + b_j + b_u. The kernel folds all of it into one bound e_j per item
 * (err_scale s_j + err_norm n_j + err_rel m_j + err_abs, with every
 * constant rounded up), so lo_j = a_j - e_j <= F_j <= hi_j = a_j + e_j.
 * With L the k-th largest lo_j, the float32 k-th best is at least L, so
 * every item of the float32 top k has hi_j >= L: those items are re-scored
 * in float32 (the filter-and-refine of approximate top-k search, e.g. Guo
 * et al., "Accelerating Large-Scale Inference with Anisotropic Vector
 * Quantization", ICML 2020), and those whose float32 score reaches L are
 * the candidates. Every item left out scores below L, which the caller
 * learns to check that none could have mattered.
 *
 * Invariants: a serve_qmat is immutable once built; any number of threads
 * may read it.
 */
#include "serve_int.h"

#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

#define QM_LANES 16

struct serve_qmat {
    uint32_t     n, dim, dim16, n_blocks;
    uint32_t     n_groups; /* pairs (int16) or quads (int8) of dimensions */
    int          int8;     /* the int8 form (AVX-512 VNNI), else int16 */
    int16_t     *x;        /* int16: [n_blocks][n_groups][16][2] */
    int8_t      *x8;       /* int8: [n_blocks][n_groups][16][4] */
    int32_t     *xsum;     /* int8: sum_d x_jd */
    float       *scale;    /* s_j, [n_blocks * 16] (0 past n) */
    float       *norm;     /* n_j = s_j ||x_j||_1, rounded up */
    float       *bias;     /* [n_blocks * 16] */
    float        err_c;    /* err_scale / ||q||_1, see the top of the file */
    int32_t      ymax;     /* Y: the largest |y_d| of a query */
    float       *rep;      /* [n][dim16] float32, zero padded */
    const trove__kernels *k;
};

/* Multiplier that makes a float32 computation of a non-negative bound an
 * upper bound: far more than the few roundings each one takes. */
#define ROUND_UP (1.0f + 0x1p-18f)

void trove__serve_qmat_free(serve_qmat *qm)
{
    if (qm == NULL)
        return;
    trove_aligned_free(qm->x);
    trove_aligned_free(qm->x8);
    trove_aligned_free(qm->xsum);
    trove_aligned_free(qm->scale);
    trove_aligned_free(qm->norm);
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
    double err_c = 0.0;
    if (qm == NULL)
        return TROVE_ENOMEM;
    qm->k = trove__kernels_best();
    qm->int8 = qm->k->qscan8 != NULL;
    qm->n = trove_model_n_items(m);
    qm->dim = trove_model_dim(m);
    qm->dim16 = (qm->dim + QM_LANES - 1) / QM_LANES * QM_LANES;
    qm->n_blocks = (qm->n + QM_LANES - 1) / QM_LANES;
    uint32_t group = qm->int8 ? 4 : 2;
    qm->n_groups = (qm->dim + group - 1) / group;
    int32_t xmax = qm->int8 ? 127 : 32767;
    if (qm->int8) {
        qm->ymax = 127;
    } else {
        qm->ymax = (int32_t)(2147483647 / ((int64_t)2 * qm->n_groups * 32767));
        if (qm->ymax > 32767)
            qm->ymax = 32767;
    }
    size_t padded = (size_t)qm->n_blocks * QM_LANES;
    size_t xlen = padded * group * qm->n_groups;
    if (qm->int8) {
        qm->x8 = trove_aligned_alloc(64, xlen + 64);
        qm->xsum = trove_aligned_alloc(64, padded * sizeof(int32_t) + 64);
    } else {
        qm->x = trove_aligned_alloc(64, xlen * sizeof *qm->x + 64);
    }
    qm->scale = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->norm = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->bias = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->rep = trove_aligned_alloc(64, ((size_t)qm->n * qm->dim16 + 16) * sizeof(float));
    row = trove_malloc(qm->dim16 * sizeof *row);
    if ((qm->int8 ? qm->x8 == NULL || qm->xsum == NULL : qm->x == NULL) ||
        qm->scale == NULL || qm->norm == NULL || qm->bias == NULL || qm->rep == NULL ||
        row == NULL)
        goto fail;
    if (qm->int8) {
        memset(qm->x8, 0, xlen);
        memset(qm->xsum, 0, padded * sizeof(int32_t));
    } else {
        memset(qm->x, 0, xlen * sizeof *qm->x);
    }
    memset(qm->scale, 0, padded * sizeof(float));
    memset(qm->norm, 0, padded * sizeof(float));
    memset(qm->bias, 0, padded * sizeof(float));
    memset(qm->rep, 0, (size_t)qm->n * qm->dim16 * sizeof(float));
    for (uint32_t j = 0; j < qm->n; j++) {
        float b, mx = 0.0f;
        double delta = 0.0, l1 = 0.0;
        int32_t sum = 0;
        rc = trove_model_item_repr(m, j, row, &b, NULL);
        if (rc != TROVE_OK)
            goto fail;
        memcpy(qm->rep + (size_t)j * qm->dim16, row, qm->dim * sizeof *row);
        for (uint32_t d = 0; d < qm->dim; d++)
            if (fabsf(row[d]) > mx)
                mx = fabsf(row[d]);
        float s = mx > 0.0f ? mx / (float)xmax : 1.0f;
        /* element (j, d) at ((b * n_groups + d / group) * 16 + l) * group + d % group */
        size_t base = (size_t)(j / QM_LANES) * qm->n_groups * group * QM_LANES +
                      (size_t)(j % QM_LANES) * group;
        for (uint32_t d = 0; d < qm->dim; d++) {
            float v = nearbyintf(row[d] / s);
            v = v > (float)xmax ? (float)xmax : v < -(float)xmax ? -(float)xmax : v;
            size_t at = base + (size_t)(d / group) * group * QM_LANES + d % group;
            if (qm->int8)
                qm->x8[at] = (int8_t)v;
            else
                qm->x[at] = (int16_t)v;
            sum += (int32_t)v;
            double e = fabs((double)row[d] - (double)s * (double)v);
            if (e > delta)
                delta = e;
            l1 += fabs((double)v);
        }
        /* err_c s_j must cover delta_j plus the float32 dot product's
         * rounding, dim16 2^-24 max_d |p_jd| */
        double c = (delta + (double)qm->dim16 * 0x1p-24 * (double)mx) / (double)s;
        if (c > err_c)
            err_c = c;
        if (qm->int8)
            qm->xsum[j] = sum;
        qm->scale[j] = s;
        qm->norm[j] = (float)(l1 * (double)s) * ROUND_UP;
        qm->bias[j] = b;
    }
    qm->err_c = (float)err_c * ROUND_UP;
    trove_free(row);
    *out = qm;
    return TROVE_OK;
fail:
    trove_free(row);
    trove__serve_qmat_free(qm);
    return rc == TROVE_OK ? TROVE_ENOMEM : rc;
}

/* Order-preserving maps between floats (not NaN) and 32-bit keys. */
static uint32_t float_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static float key_float(uint32_t u)
{
    float f;
    u = u & 0x80000000u ? u & 0x7fffffffu : ~u;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The k-th largest of v[0..n) (1 <= k <= number of non-NaN entries): the
 * largest key K with at least k entries >= K, by bisection over the keys
 * with the kernel's vector count, about 32 passes that never branch on
 * the data. */
static float kth_largest(const trove__kernels *kn, const float *v, size_t n, size_t k)
{
    uint32_t lo = float_key(-INFINITY), hi = float_key(INFINITY);
    if (kn->count_ge(v, n, INFINITY) >= k)
        return INFINITY;
    /* count(>= key_float(lo)) >= k > count(>= key_float(hi)) */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (kn->count_ge(v, n, key_float(mid)) >= k)
            lo = mid;
        else
            hi = mid;
    }
    return key_float(lo);
}

size_t trove__serve_qmat_candidates(const serve_qmat *qm, const float *q, float bu,
                                    size_t k, float *work, uint32_t *cand, float *exact,
                                    size_t cap, float *upper_out)
{
    _Alignas(64) int16_t y[SERVE_DIM_MAX + 4];
    _Alignas(64) uint8_t u8[SERVE_DIM_MAX + 4];
    size_t room = (size_t)qm->n_blocks * QM_LANES, n = 0, m = 0, kept = 0;
    float *lo = work, *hi = lo + room, *lo_max = hi + room;
    uint32_t group = qm->int8 ? 4 : 2;
    float qmax = 0.0f, thr;
    double l1 = 0.0, delta_q = 0.0;
    if (qm->n == 0 || k == 0 || qm->dim > SERVE_DIM_MAX || cap < k)
        return 0;
    if (k > qm->n)
        k = qm->n;
    for (uint32_t d = 0; d < qm->dim; d++) {
        l1 += fabs((double)q[d]);
        if (fabsf(q[d]) > qmax)
            qmax = fabsf(q[d]);
    }
    if (!isfinite(l1) || !isfinite(bu))
        return 0;
    float sq = qmax > 0.0f ? qmax / (float)qm->ymax : 1.0f;
    for (uint32_t d = 0; d < group * qm->n_groups; d++) {
        float v = d < qm->dim ? nearbyintf(q[d] / sq) : 0.0f;
        v = v > (float)qm->ymax ? (float)qm->ymax : v < -(float)qm->ymax ? -(float)qm->ymax : v;
        y[d] = (int16_t)v;
        u8[d] = (uint8_t)(y[d] + 128);
        if (d < qm->dim) {
            double e = fabs((double)q[d] - (double)sq * (double)v);
            if (e > delta_q)
                delta_q = e;
        }
    }
    trove__qscan_args a;
    memset(&a, 0, sizeof a);
    a.n_blocks = qm->n_blocks;
    a.x = qm->x;
    a.n_pairs = qm->n_groups;
    a.y = y;
    a.x8 = qm->x8;
    a.n_quads = qm->n_groups;
    a.u8 = u8;
    a.xsum = qm->xsum;
    a.yscale = sq;
    a.scale = qm->scale;
    a.norm = qm->norm;
    a.bias = qm->bias;
    a.add = bu;
    a.err_scale = (float)l1 * qm->err_c * ROUND_UP;
    a.err_norm = (float)delta_q * ROUND_UP;
    a.err_rel = 0x1p-19f;
    a.err_abs = 0x1p-126f;
    if (qm->int8)
        qm->k->qscan8(&a, lo, hi, lo_max);
    else
        qm->k->qscan(&a, lo, hi, lo_max);
    if (room > qm->n) {
        /* the padding lanes of the last block are no items */
        uint32_t b = qm->n_blocks - 1;
        lo_max[b] = -INFINITY;
        for (size_t j = (size_t)b * QM_LANES; j < qm->n; j++)
            lo_max[b] = lo[j] > lo_max[b] ? lo[j] : lo_max[b];
    }

    /* L, the k-th largest lo_j. The k-th largest block maximum is the lo
     * of k distinct items, so L is at least that: only the items at or
     * above it need selecting. */
    for (uint32_t b = 0; b < qm->n_blocks; b++)
        if (lo_max[b] != lo_max[b])
            return 0; /* NaN: no ordering to trust */
    float t0 = k <= qm->n_blocks ? kth_largest(qm->k, lo_max, qm->n_blocks, k) : -INFINITY;
    m = qm->k->select_ge(lo, qm->n, t0, cand, exact, cap);
    if (m > cap || m < k)
        return 0;
    thr = kth_largest(qm->k, exact, m, k);

    /* the items that may reach L, re-scored in float32 (their rows fetched
     * ahead of the dots); those that do are the candidates */
    n = qm->k->select_ge(hi, qm->n, thr, cand, NULL, cap);
    if (n > cap)
        return 0; /* too many near-ties: score everything */
    for (size_t c = 0; c < n && c < 8; c++)
        __builtin_prefetch(qm->rep + (size_t)cand[c] * qm->dim16);
    for (size_t c = 0; c < n; c++) {
        uint32_t j = cand[c];
        if (c + 8 < n) {
            const float *r = qm->rep + (size_t)cand[c + 8] * qm->dim16;
            for (uint32_t d = 0; d < qm->dim16; d += 16)
                __builtin_prefetch(r + d);
        }
        qm->k->scores(q, qm->rep + (size_t)j * qm->dim16, 1, qm->dim16, qm->dim16,
                      qm->bias + j, bu, exact + kept);
        if (exact[kept] >= thr)
            cand[kept++] = j;
    }
    *upper_out = thr;
    return kept;
}
