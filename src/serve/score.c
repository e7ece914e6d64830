/*
 * score.c - serving-time item matrices: the candidates of a request from an
 * int16 copy of a model's item representations, re-scored in float32.
 *
 * Scoring every item of a 10k x 64 catalog in float32 reads 2.5 MB per
 * request, which the caches of a busy server do not keep; an int16 copy is
 * half of that, and integer multiply-adds (vpmaddwd, or one vpdpwssd with
 * AVX-512 VNNI) do 32 products per instruction with no conversions. Item
 * row j is quantized with its own scale s_j = max_d |p_jd| / 32767
 * (x_jd = round(p_jd / s_j)); the user's row q with one scale s_q =
 * max_d |q_d| / Y (y_d = round(q_d / s_q)), where Y is the largest integer
 * with 2 * n_pairs * 32767 * Y < 2^31, so the int32 sums are exact. The
 * rows are laid out in blocks of 16 items with pairs of dimensions
 * interleaved ([block][pair][16][2], the operand order of vpmaddwd), and
 * the kernels module scans them (trove__qscan_args in kernels/kernels.h).
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
 * every item of the float32 top k has hi_j >= L: those are the candidates,
 * re-scored in float32 (the filter-and-refine of approximate top-k search,
 * e.g. Guo et al., "Accelerating Large-Scale Inference with Anisotropic
 * Vector Quantization", ICML 2020). Every item left out has F_j < L, which
 * the caller learns to check that none could have mattered.
 *
 * Invariants: a serve_qmat is immutable once built; any number of threads
 * may read it.
 */
#include "serve_int.h"

#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

#define QM_LANES 16
#define QM_XMAX 32767

struct serve_qmat {
    uint32_t     n, dim, dim16, n_pairs, n_blocks;
    int16_t     *x;       /* [n_blocks][n_pairs][16][2] */
    float       *scale;   /* s_j, [n_blocks * 16] (0 past n) */
    float       *norm;    /* n_j = s_j ||x_j||_1, rounded up */
    float       *bias;    /* [n_blocks * 16] */
    float        err_c;   /* err_scale / ||q||_1, see the top of the file */
    int32_t      ymax;    /* Y: the largest |y_d| of a query */
    float       *rep;     /* [n][dim16] float32, zero padded */
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
    qm->n = trove_model_n_items(m);
    qm->dim = trove_model_dim(m);
    qm->dim16 = (qm->dim + QM_LANES - 1) / QM_LANES * QM_LANES;
    qm->n_pairs = (qm->dim + 1) / 2;
    qm->n_blocks = (qm->n + QM_LANES - 1) / QM_LANES;
    qm->ymax = (int32_t)(2147483647 / ((int64_t)2 * qm->n_pairs * QM_XMAX));
    if (qm->ymax > QM_XMAX)
        qm->ymax = QM_XMAX;
    size_t padded = (size_t)qm->n_blocks * QM_LANES;
    size_t xlen = padded * 2 * qm->n_pairs;
    qm->x = trove_aligned_alloc(64, xlen * sizeof *qm->x + 64);
    qm->scale = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->norm = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->bias = trove_aligned_alloc(64, padded * sizeof(float) + 64);
    qm->rep = trove_aligned_alloc(64, ((size_t)qm->n * qm->dim16 + 16) * sizeof(float));
    row = trove_malloc(qm->dim16 * sizeof *row);
    if (qm->x == NULL || qm->scale == NULL || qm->norm == NULL || qm->bias == NULL ||
        qm->rep == NULL || row == NULL)
        goto fail;
    memset(qm->x, 0, xlen * sizeof *qm->x);
    memset(qm->scale, 0, padded * sizeof(float));
    memset(qm->norm, 0, padded * sizeof(float));
    memset(qm->bias, 0, padded * sizeof(float));
    memset(qm->rep, 0, (size_t)qm->n * qm->dim16 * sizeof(float));
    qm->k = trove__kernels_best();
    for (uint32_t j = 0; j < qm->n; j++) {
        float b, mx = 0.0f;
        double delta = 0.0, l1 = 0.0;
        rc = trove_model_item_repr(m, j, row, &b, NULL);
        if (rc != TROVE_OK)
            goto fail;
        memcpy(qm->rep + (size_t)j * qm->dim16, row, qm->dim * sizeof *row);
        for (uint32_t d = 0; d < qm->dim; d++)
            if (fabsf(row[d]) > mx)
                mx = fabsf(row[d]);
        float s = mx > 0.0f ? mx / (float)QM_XMAX : 1.0f;
        int16_t *x = qm->x + (size_t)(j / QM_LANES) * qm->n_pairs * 2 * QM_LANES +
                     (size_t)(j % QM_LANES) * 2;
        for (uint32_t d = 0; d < qm->dim; d++) {
            float v = nearbyintf(row[d] / s);
            v = v > (float)QM_XMAX ? (float)QM_XMAX : v < -(float)QM_XMAX ? -(float)QM_XMAX : v;
            x[(size_t)(d / 2) * 2 * QM_LANES + d % 2] = (int16_t)v;
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

size_t trove__serve_qmat_candidates(const serve_qmat *qm, const float *q, float bu,
                                    size_t k, float *work, float *heap, uint32_t *cand,
                                    float *exact, size_t cap, float *upper_out)
{
    int16_t y[SERVE_DIM_MAX + 2];
    size_t room = (size_t)qm->n_blocks * QM_LANES, n = 0;
    float *lo = work, *hi = lo + room, *lo_max = hi + room, *hi_max = lo_max + qm->n_blocks;
    float qmax = 0.0f;
    double l1 = 0.0, delta_q = 0.0;
    if (qm->n == 0 || k == 0 || qm->dim > SERVE_DIM_MAX)
        return 0;
    if (k > qm->n)
        k = qm->n;
    for (uint32_t d = 0; d < qm->dim; d++) {
        l1 += fabs((double)q[d]);
        if (fabsf(q[d]) > qmax)
            qmax = fabsf(q[d]);
    }
    float sq = qmax > 0.0f ? qmax / (float)qm->ymax : 1.0f;
    for (uint32_t d = 0; d < 2 * qm->n_pairs; d++) {
        float v = d < qm->dim ? nearbyintf(q[d] / sq) : 0.0f;
        v = v > (float)qm->ymax ? (float)qm->ymax : v < -(float)qm->ymax ? -(float)qm->ymax : v;
        y[d] = (int16_t)v;
        if (d < qm->dim) {
            double e = fabs((double)q[d] - (double)sq * (double)v);
            if (e > delta_q)
                delta_q = e;
        }
    }
    if (!isfinite(l1) || !isfinite(bu))
        return 0;
    trove__qscan_args a = { qm->x, qm->n_blocks, qm->n_pairs, y, sq, qm->scale, qm->norm,
                            qm->bias, bu, (float)l1 * qm->err_c * ROUND_UP,
                            (float)delta_q * ROUND_UP, 0x1p-19f, 0x1p-126f };
    qm->k->qscan(&a, lo, hi, lo_max, hi_max);

    /* L, the k-th largest lo_j; cand and heap are the selection's scratch */
    if (cap < k || trove__topk(lo, qm->n, (uint32_t)k, cand, heap) < k)
        return 0;
    float thr = heap[k - 1];
    for (uint32_t b = 0; b < qm->n_blocks; b++) {
        if (!(hi_max[b] >= thr))
            continue;
        for (uint32_t j = b * QM_LANES; j < (b + 1) * QM_LANES && j < qm->n; j++) {
            if (!(hi[j] >= thr))
                continue;
            if (n == cap)
                return 0; /* too many near-ties: score everything */
            cand[n] = j;
            qm->k->scores(q, qm->rep + (size_t)j * qm->dim16, 1, qm->dim16, qm->dim16,
                          qm->bias + j, bu, exact + n);
            n++;
        }
    }
    *upper_out = thr;
    return n;
}
