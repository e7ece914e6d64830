/*
 * predict.c - scoring with a trained model: representations, all-item
 * scores for a user (blocked SIMD over the item rows), pair scores, top-k
 * with exclusions, and the item representation cache.
 *
 * Invariant: after fit, grow or load, item_repr holds every item's summed
 * representation (n_items x dp, zero padding) and item_repr_bias its bias,
 * unless the items are identity-only, in which case the identity table is
 * read in place. Everything here only reads the model: any number of
 * threads may score at once while nobody trains it. No function allocates
 * except trove_model_recommend without caller scratch.
 */
#include "model/model_int.h"

#include <math.h>
#include <string.h>

static int items_in_place(const trove_model *m)
{
    return m->iid.rows > 0 && m->ifm.nnz == 0;
}

static void repr_into(const trove_model *m, const trove__table *id, const trove__table *feat,
                      const trove_csr *fm, uint32_t r, float *out, float *bias)
{
    const trove__kernels *k = trove__kernels_best();
    size_t dp = m->dp;
    float b = 0.0f;
    if (id->rows > 0) {
        memcpy(out, id->emb + (size_t)r * dp, dp * sizeof(float));
        b = trove__meta(id, r)[TROVE__BIAS];
    } else {
        memset(out, 0, dp * sizeof(float));
    }
    for (uint64_t x = fm->indptr[r]; x < fm->indptr[r + 1]; x++) {
        float w = fm->data ? fm->data[x] : 1.0f;
        k->axpy(w, feat->emb + (size_t)fm->indices[x] * dp, out, dp);
        b += w * trove__meta(feat, fm->indices[x])[TROVE__BIAS];
    }
    *bias = b;
}

void trove__model_user_repr(const trove_model *m, uint32_t u, float *out, float *bias)
{
    repr_into(m, &m->uid, &m->ufeat, &m->ufm, u, out, bias);
}

void trove__model_item_repr(const trove_model *m, uint32_t i, float *out, float *bias)
{
    repr_into(m, &m->iid, &m->ifeat, &m->ifm, i, out, bias);
}

int trove__model_refresh(trove_model *m)
{
    float *rep = NULL, *bias = NULL;
    trove_aligned_free(m->item_repr);
    trove_free(m->item_repr_bias);
    m->item_repr = NULL;
    m->item_repr_bias = NULL;
    if (!m->shaped || m->n_items == 0)
        return TROVE_OK;
    bias = trove_malloc((size_t)m->n_items * sizeof(float));
    if (bias == NULL)
        return TROVE_ENOMEM;
    if (items_in_place(m)) {
        /* Embeddings are read in place; the biases are gathered into one
         * array for the scoring kernel. */
        for (uint32_t i = 0; i < m->n_items; i++)
            bias[i] = trove__meta(&m->iid, i)[TROVE__BIAS];
        m->item_repr_bias = bias;
        return TROVE_OK;
    }
    rep = trove_aligned_alloc(TROVE__MODEL_ALIGN, (size_t)m->n_items * m->dp * sizeof(float));
    if (rep == NULL) {
        trove_free(bias);
        return TROVE_ENOMEM;
    }
    for (uint32_t i = 0; i < m->n_items; i++)
        trove__model_item_repr(m, i, rep + (size_t)i * m->dp, &bias[i]);
    m->item_repr = rep;
    m->item_repr_bias = bias;
    return TROVE_OK;
}

static int check_ready(const trove_model *m, trove_error *err)
{
    if (m == NULL || !m->shaped || !m->trained)
        return trove_error_set(err, TROVE_EINVAL, "model is not trained");
    return TROVE_OK;
}

/* All-item scores for representation q (dp floats) with user bias bu. */
static void score_all(const trove_model *m, const float *q, float bu, float *scores)
{
    const trove__kernels *k = trove__kernels_best();
    if (items_in_place(m))
        k->scores(q, m->iid.emb, m->n_items, m->dp, m->dp, m->item_repr_bias, bu, scores);
    else
        k->scores(q, m->item_repr, m->n_items, m->dp, m->dp, m->item_repr_bias, bu, scores);
}

int trove_model_score_user(const trove_model *m, uint32_t user, float *scores,
                           trove_error *err)
{
    _Alignas(64) float q[TROVE__MODEL_MAX_DIM];
    float bu;
    int rc = check_ready(m, err);
    if (rc != TROVE_OK)
        return rc;
    if (user >= m->n_users)
        return trove_error_set(err, TROVE_EINVAL, "user %u out of range (%u users)", user,
                               m->n_users);
    if (m->uid.rows > 0 && m->ufm.indptr[user] == m->ufm.indptr[user + 1]) {
        score_all(m, m->uid.emb + (size_t)user * m->dp, trove__meta(&m->uid, user)[TROVE__BIAS],
                  scores);
        return TROVE_OK;
    }
    trove__model_user_repr(m, user, q, &bu);
    score_all(m, q, bu, scores);
    return TROVE_OK;
}

int trove_model_score_features(const trove_model *m, const uint32_t *features,
                               const float *weights, size_t n_features, float *scores,
                               trove_error *err)
{
    _Alignas(64) float q[TROVE__MODEL_MAX_DIM];
    const trove__kernels *k = trove__kernels_best();
    float bu = 0.0f;
    int rc = check_ready(m, err);
    if (rc != TROVE_OK)
        return rc;
    for (size_t x = 0; x < n_features; x++) {
        if (features[x] >= m->n_user_features)
            return trove_error_set(err, TROVE_EINVAL,
                                   "user feature %u out of range (%u features)", features[x],
                                   m->n_user_features);
        if (weights != NULL && !isfinite(weights[x]))
            return trove_error_set(err, TROVE_EINVAL, "weight of user feature %u is not finite",
                                   features[x]);
    }
    memset(q, 0, m->dp * sizeof(float));
    for (size_t x = 0; x < n_features; x++) {
        float w = weights ? weights[x] : 1.0f;
        k->axpy(w, m->ufeat.emb + (size_t)features[x] * m->dp, q, m->dp);
        bu += w * trove__meta(&m->ufeat, features[x])[TROVE__BIAS];
    }
    score_all(m, q, bu, scores);
    return TROVE_OK;
}

int trove_model_predict(const trove_model *m, const uint32_t *users, const uint32_t *items,
                        size_t n, float *out, trove_error *err)
{
    _Alignas(64) float q[TROVE__MODEL_MAX_DIM];
    _Alignas(64) float p[TROVE__MODEL_MAX_DIM];
    const trove__kernels *k = trove__kernels_best();
    int rc = check_ready(m, err);
    if (rc != TROVE_OK)
        return rc;
    for (size_t x = 0; x < n; x++)
        if (users[x] >= m->n_users || items[x] >= m->n_items)
            return trove_error_set(err, TROVE_EINVAL,
                                   "pair %zu: (user %u, item %u) out of range (%u x %u)", x,
                                   users[x], items[x], m->n_users, m->n_items);
    for (size_t x = 0; x < n; x++) {
        float bu, bi;
        const float *pi;
        trove__model_user_repr(m, users[x], q, &bu);
        if (items_in_place(m)) {
            pi = m->iid.emb + (size_t)items[x] * m->dp;
            bi = m->item_repr_bias[items[x]];
        } else if (m->item_repr != NULL) {
            pi = m->item_repr + (size_t)items[x] * m->dp;
            bi = m->item_repr_bias[items[x]];
        } else {
            trove__model_item_repr(m, items[x], p, &bi);
            pi = p;
        }
        out[x] = k->dot(q, pi, m->dp) + bu + bi;
    }
    return TROVE_OK;
}

int trove_model_recommend(const trove_model *m, uint32_t user, uint32_t k,
                          const uint32_t *exclude, size_t n_exclude, const uint8_t *eligible,
                          uint32_t *items, float *scores, uint32_t *n_out, float *scratch,
                          trove_error *err)
{
    float *s = scratch, *own = NULL;
    uint32_t n = 0;
    int rc = check_ready(m, err);
    if (rc != TROVE_OK)
        return rc;
    if (user >= m->n_users)
        return trove_error_set(err, TROVE_EINVAL, "user %u out of range (%u users)", user,
                               m->n_users);
    if (s == NULL) {
        own = trove_malloc((size_t)m->n_items * sizeof(float));
        if (own == NULL)
            return trove_error_set(err, TROVE_ENOMEM, "recommend: out of memory");
        s = own;
    }
    trove_model_score_user(m, user, s, NULL);
    /* Excluded and ineligible items are marked with NaN, which no trained
     * score is (fit stops on non-finite values) and trove__topk skips. */
    for (size_t x = 0; x < n_exclude; x++)
        if (exclude[x] < m->n_items)
            s[exclude[x]] = NAN;
    if (eligible != NULL)
        for (uint32_t i = 0; i < m->n_items; i++)
            if (eligible[i] == 0)
                s[i] = NAN;
    n = trove__topk(s, m->n_items, k, items, scores);
    trove_free(own);
    *n_out = n;
    return TROVE_OK;
}

int trove_model_user_repr(const trove_model *m, uint32_t user, float *emb, float *bias,
                          trove_error *err)
{
    _Alignas(64) float q[TROVE__MODEL_MAX_DIM];
    float b;
    int rc = check_ready(m, err);
    if (rc != TROVE_OK)
        return rc;
    if (user >= m->n_users)
        return trove_error_set(err, TROVE_EINVAL, "user %u out of range (%u users)", user,
                               m->n_users);
    trove__model_user_repr(m, user, q, &b);
    if (emb)
        memcpy(emb, q, m->dim * sizeof(float));
    if (bias)
        *bias = b;
    return TROVE_OK;
}

/* Sum of the embeddings and biases of `features` (weights may be NULL = 1)
 * of one side's feature table into q (dp floats) and *b, after checking
 * every index against n and every weight for finiteness. */
static int feature_sum(const trove__table *t, uint32_t n, const char *side,
                       const uint32_t *features, const float *weights, size_t n_features,
                       size_t dp, float *q, float *b, trove_error *err)
{
    const trove__kernels *k = trove__kernels_best();
    for (size_t x = 0; x < n_features; x++) {
        if (features[x] >= n)
            return trove_error_set(err, TROVE_EINVAL, "%s feature %u out of range (%u features)",
                                   side, features[x], n);
        if (weights != NULL && !isfinite(weights[x]))
            return trove_error_set(err, TROVE_EINVAL, "weight of %s feature %u is not finite",
                                   side, features[x]);
    }
    memset(q, 0, dp * sizeof(float));
    *b = 0.0f;
    for (size_t x = 0; x < n_features; x++) {
        float w = weights ? weights[x] : 1.0f;
        k->axpy(w, t->emb + (size_t)features[x] * dp, q, dp);
        *b += w * trove__meta(t, features[x])[TROVE__BIAS];
    }
    return TROVE_OK;
}

int trove_model_user_repr_features(const trove_model *m, const uint32_t *features,
                                   const float *weights, size_t n_features, float *emb,
                                   float *bias, trove_error *err)
{
    _Alignas(64) float q[TROVE__MODEL_MAX_DIM];
    float b;
    int rc = check_ready(m, err);
    if (rc == TROVE_OK)
        rc = feature_sum(&m->ufeat, m->n_user_features, "user", features, weights, n_features,
                         m->dp, q, &b, err);
    if (rc != TROVE_OK)
        return rc;
    if (emb)
        memcpy(emb, q, m->dim * sizeof(float));
    if (bias)
        *bias = b;
    return TROVE_OK;
}

int trove_model_item_repr_features(const trove_model *m, const uint32_t *features,
                                   const float *weights, size_t n_features, float *emb,
                                   float *bias, trove_error *err)
{
    _Alignas(64) float p[TROVE__MODEL_MAX_DIM];
    float b;
    int rc = check_ready(m, err);
    if (rc == TROVE_OK)
        rc = feature_sum(&m->ifeat, m->n_item_features, "item", features, weights, n_features,
                         m->dp, p, &b, err);
    if (rc != TROVE_OK)
        return rc;
    if (emb)
        memcpy(emb, p, m->dim * sizeof(float));
    if (bias)
        *bias = b;
    return TROVE_OK;
}

int trove_model_item_repr_mean(const trove_model *m, float *emb, float *bias, trove_error *err)
{
    _Alignas(64) float p[TROVE__MODEL_MAX_DIM];
    double sum[TROVE__MODEL_MAX_DIM];
    double bias_sum = 0.0;
    uint64_t warm = 0;
    int rc = check_ready(m, err);
    if (rc != TROVE_OK)
        return rc;
    memset(sum, 0, m->dp * sizeof(double));
    for (uint32_t i = 0; i < m->n_items; i++) {
        const float *e;
        float b;
        if (m->item_count[i] == 0)
            continue;
        if (m->iid.rows > 0) {
            /* the identity part only, as the training-time fallback */
            e = m->iid.emb + (size_t)i * m->dp;
            b = trove__meta(&m->iid, i)[TROVE__BIAS];
        } else {
            trove__model_item_repr(m, i, p, &b);
            e = p;
        }
        for (size_t j = 0; j < m->dp; j++)
            sum[j] += e[j];
        bias_sum += b;
        warm++;
    }
    if (warm == 0)
        return trove_error_set(err, TROVE_EEMPTY, "no item has training interactions");
    if (emb)
        for (uint32_t j = 0; j < m->dim; j++)
            emb[j] = (float)(sum[j] / (double)warm);
    if (bias)
        *bias = (float)(bias_sum / (double)warm);
    return TROVE_OK;
}

int trove_model_item_repr(const trove_model *m, uint32_t item, float *emb, float *bias,
                          trove_error *err)
{
    _Alignas(64) float p[TROVE__MODEL_MAX_DIM];
    float b;
    int rc = check_ready(m, err);
    if (rc != TROVE_OK)
        return rc;
    if (item >= m->n_items)
        return trove_error_set(err, TROVE_EINVAL, "item %u out of range (%u items)", item,
                               m->n_items);
    trove__model_item_repr(m, item, p, &b);
    if (emb)
        memcpy(emb, p, m->dim * sizeof(float));
    if (bias)
        *bias = b;
    return TROVE_OK;
}
