/*
 * edlae.c - the "edlae" recommender family: the full-rank emphasized
 * denoising linear autoencoder of Steck, "Autoencoders that don't overfit
 * towards the identity" (NeurIPS 2020), in its closed form with the
 * zero-diagonal constraint of EASE (Steck, "Embarrassingly shallow
 * autoencoders for sparse data", WWW 2019).
 *
 * Dropout with probability p on the input, emphasised on the dropped
 * entries, is equivalent in expectation to the L2 penalty
 *     Lambda = lambda I + p / (1 - p) diag(X^T X)
 * (Steck 2020, Sec. 3): popular items are regularised more. With
 * P = (X^T X + Lambda)^-1 the constrained solution is
 *     B = I - P diag(1 / diag(P)),  diag(B) = 0,
 * and score(u, j) = sum over the user's items i of B[i][j]. X is the
 * binary training matrix.
 *
 * Settings: lambda (100, > 0), dropout (0.25, in [0, 0.95]), max_items
 * (20000). Invariants: B is stored row-wise in r->neighbors (items x items,
 * every non-zero entry, columns ascending), so the recommender file holds
 * it without a new member; the dense inverse uses the factor module's
 * LAPACK adapter (src/factor/linalg.c).
 */
#include "reco_int.h"
#include "../factor/factor_int.h"

#include <math.h>
#include <string.h>

#define EDLAE_MIN_PIVOT_RATIO 1e-7

static const char *const edlae_keys[] = {"lambda", "dropout", "max_items", NULL};

static int edlae_fit(trove_recommender *r, const trove_reco_params *p,
                     const trove_dataset *ds, trove_error *err)
{
    const trove_csr *x = &r->train;
    const uint32_t n = r->n_items;
    double lambda, drop, max_items, ratio = 0.0;
    float *g = NULL, *diag = NULL;
    trove_csr m;
    uint64_t nnz = 0;
    int rc, info;

    (void)ds;
    memset(&m, 0, sizeof m);
    if ((rc = trove__reco_get_double(p, "lambda", 1e-6, 1e12, 100, &lambda, err)) ||
        (rc = trove__reco_get_double(p, "dropout", 0, 0.95, 0.25, &drop, err)) ||
        (rc = trove__reco_get_double(p, "max_items", 1, 1e6, 20000, &max_items, err)))
        return rc;
    if ((double)n > max_items)
        return trove_error_set(err, TROVE_ERANGE, "edlae: %u items is more than "
                               "max_items (%.0f): the dense item-item matrix would "
                               "need %.1f GiB", n, max_items,
                               (double)n * n * 4.0 / 1073741824.0);
    g = trove_calloc((size_t)n * n, sizeof *g);
    diag = trove_malloc(((size_t)n + 1) * sizeof *diag);
    if (g == NULL || diag == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "edlae: out of memory for %u items", n);
        goto done;
    }
    /* G = X^T X over binary rows: O(sum of squared user degrees) */
    for (uint32_t u = 0; u < x->n_rows; u++)
        for (uint64_t a = x->indptr[u]; a < x->indptr[u + 1]; a++) {
            float *row = g + (size_t)x->indices[a] * n;
            for (uint64_t b = x->indptr[u]; b < x->indptr[u + 1]; b++)
                row[x->indices[b]] += 1.0f;
        }
    for (uint32_t i = 0; i < n; i++)
        g[(size_t)i * n + i] += (float)(lambda + drop / (1.0 - drop) *
                                        g[(size_t)i * n + i]);
    trove__linalg_set_threads(p != NULL && p->threads > 1 ? p->threads : 1);
    info = trove__linalg_spd_inverse(n, g, n, EDLAE_MIN_PIVOT_RATIO, &ratio);
    trove__linalg_single_thread();
    if (info != 0) {
        rc = trove_error_set(err, TROVE_ERANGE, "edlae: X^T X + Lambda cannot be inverted "
                             "in float32 (status %d, pivot ratio %.3g, lambda %g); raise "
                             "lambda", info, ratio, lambda);
        goto done;
    }
    for (uint32_t j = 0; j < n; j++) {
        float d = g[(size_t)j * n + j];
        if (!(d > 0.0f) || !isfinite(d)) {
            rc = trove_error_set(err, TROVE_ERANGE, "edlae: diagonal of the inverse is "
                                 "%g at item %u; raise lambda", (double)d, j);
            goto done;
        }
        diag[j] = -1.0f / d;
    }
    for (uint32_t i = 0; i < n; i++) {
        float *row = g + (size_t)i * n;
        for (uint32_t j = 0; j < n; j++) {
            row[j] = i == j ? 0.0f : row[j] * diag[j];
            if (!isfinite(row[j])) {
                rc = trove_error_set(err, TROVE_ERANGE, "edlae: non-finite weight; raise "
                                     "lambda");
                goto done;
            }
            nnz += row[j] != 0.0f;
        }
    }
    m.n_rows = m.n_cols = n;
    m.indptr = trove_malloc(((size_t)n + 1) * sizeof *m.indptr);
    m.indices = trove_malloc((nnz ? nnz : 1) * sizeof *m.indices);
    m.data = trove_malloc((nnz ? nnz : 1) * sizeof *m.data);
    if (m.indptr == NULL || m.indices == NULL || m.data == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "edlae: out of memory for %u items", n);
        goto done;
    }
    m.indptr[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        const float *row = g + (size_t)i * n;
        for (uint32_t j = 0; j < n; j++)
            if (row[j] != 0.0f) {
                m.indices[m.nnz] = j;
                m.data[m.nnz++] = row[j];
            }
        m.indptr[i + 1] = m.nnz;
    }
    r->neighbors = m;
    memset(&m, 0, sizeof m);
    rc = TROVE_OK;
done:
    trove__reco_csr_free(&m);
    trove_free(g);
    trove_free(diag);
    return rc;
}

static int edlae_score(const trove_recommender *r, uint32_t user, float *s,
                       trove_error *err)
{
    const trove_csr *b = &r->neighbors;
    (void)err;
    memset(s, 0, (size_t)r->n_items * sizeof *s);
    for (uint64_t q = r->train.indptr[user]; q < r->train.indptr[user + 1]; q++) {
        uint32_t i = r->train.indices[q];
        for (uint64_t t = b->indptr[i]; t < b->indptr[i + 1]; t++)
            s[b->indices[t]] += b->data[t];
    }
    return TROVE_OK;
}

const trove__reco_family trove__family_edlae = {
    .name = "edlae",
    .keys = edlae_keys,
    .needs = TROVE__NEED_NEIGHBORS,
    .fit = edlae_fit,
    .score = edlae_score,
};
