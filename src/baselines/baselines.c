/*
 * baselines.c - the baseline families behind the recommender interface:
 * random, popularity (count), popularity-rating (shrunk mean), popularity-
 * market, personal-popularity, content (TF-IDF cosine) and itemknn.
 *
 * They exist so that every evaluation shows how far a learned model is from
 * the simple answers (Cremonesi, Koren & Turrin, "Performance of recommender
 * algorithms on top-N recommendation tasks", RecSys 2010; Ferrari Dacrema et
 * al., "Are we really making much progress?", RecSys 2019).
 * Every family is deterministic (itemknn's fit splits items over threads
 * and joins the lists in item order); scoring reads only immutable members
 * and allocates nothing, so it is safe from any number of threads.
 */
#include "reco_int.h"
#include "core/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tie-break weights: items with equal scores are ordered by popularity
 * instead of by index (content: identical feature vectors; itemknn: items
 * no neighbour reaches). Small enough not to reorder distinct scores in
 * practice; documented in docs/evaluation.md. */
#define CONTENT_POP_WEIGHT 1e-4f
#define ITEMKNN_POP_WEIGHT 1e-6f
#define PERSONAL_POP_WEIGHT 1e-3f
#define RATING_POP_WEIGHT 1e-4
/* personal-popularity: feature shares are rounded down to multiples of
 * 1/512, so that the popularity tie-break (at most 1e-3) never reorders two
 * different shares. */
#define SHARE_STEP 512.0f

static const char *const no_keys[] = {NULL};

/* Number of training users per item. */
static int item_counts(const trove_recommender *r, float **out, float *max)
{
    float *c = trove_calloc(r->n_items ? r->n_items : 1, sizeof *c);
    float m = 0.0f;
    if (c == NULL)
        return TROVE_ENOMEM;
    for (uint64_t q = 0; q < r->train.nnz; q++)
        c[r->train.indices[q]] += 1.0f;
    for (uint32_t i = 0; i < r->n_items; i++)
        if (c[i] > m)
            m = c[i];
    *out = c;
    *max = m;
    return TROVE_OK;
}

/* Global popularity scaled to [0, 1] in r->item_score. */
static int scaled_popularity(trove_recommender *r, trove_error *err)
{
    float max;
    if (item_counts(r, &r->item_score, &max) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", r->fam->name);
    if (max > 0.0f)
        for (uint32_t i = 0; i < r->n_items; i++)
            r->item_score[i] /= max;
    return TROVE_OK;
}

static int copy_scores(const trove_recommender *r, uint32_t user, float *s,
                       trove_error *err)
{
    (void)user;
    (void)err;
    memcpy(s, r->item_score, (size_t)r->n_items * sizeof *s);
    return TROVE_OK;
}

/* ---------------------------------------------------------------- random */
static const char *const random_keys[] = {"seed", NULL};

static int random_fit(trove_recommender *r, const trove_reco_params *p,
                      const trove_dataset *ds, trove_error *err)
{
    double seed;
    (void)ds;
    int rc = trove__reco_get_double(p, "seed", 0, 9007199254740992.0, 42, &seed, err);
    r->seed = (uint64_t)seed;
    return rc;
}

/* splitmix64 finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom
 * number generators", OOPSLA 2014): a fixed pseudo-random score per pair. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int random_score(const trove_recommender *r, uint32_t user, float *s,
                        trove_error *err)
{
    (void)err;
    uint64_t base = mix64(r->seed ^ ((uint64_t)user * UINT64_C(0x9e3779b97f4a7c15)));
    for (uint32_t i = 0; i < r->n_items; i++)
        s[i] = (float)(mix64(base + i) >> 40) * 0x1.0p-24f;
    return TROVE_OK;
}

const trove__reco_family trove__family_random = {
    .name = "random",
    .keys = random_keys,
    .needs = 0,
    .fit = random_fit,
    .score = random_score,
};

/* ------------------------------------------------------------ popularity */
static int popularity_fit(trove_recommender *r, const trove_reco_params *p,
                          const trove_dataset *ds, trove_error *err)
{
    float max;
    (void)p;
    (void)ds;
    if (item_counts(r, &r->item_score, &max) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "popularity: out of memory");
    return TROVE_OK;
}

const trove__reco_family trove__family_popularity = {
    .name = "popularity",
    .keys = no_keys,
    .needs = TROVE__NEED_ITEM_SCORE,
    .fit = popularity_fit,
    .score = copy_scores,
};

/* ----------------------------------------------------- popularity-rating */
static const char *const rating_keys[] = {"prior", NULL};

/* Bayesian average (damped mean): (sum_i + prior * mu) / (n_i + prior), mu
 * the global mean weight; an item with one high rating no longer beats an
 * item with hundreds of good ones. Equal means (e.g. unweighted pairs,
 * where every mean is 1) are ordered by the number of ratings. */
static int rating_fit(trove_recommender *r, const trove_reco_params *p,
                      const trove_dataset *ds, trove_error *err)
{
    double prior, mu = 0.0;
    double *sum = NULL, *cnt = NULL;
    int rc;
    (void)ds;
    rc = trove__reco_get_double(p, "prior", 0, 1e12, 10, &prior, err);
    if (rc != TROVE_OK)
        return rc;
    sum = trove_calloc(r->n_items, sizeof *sum);
    cnt = trove_calloc(r->n_items, sizeof *cnt);
    r->item_score = trove_malloc((size_t)r->n_items * sizeof *r->item_score);
    if (sum == NULL || cnt == NULL || r->item_score == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "popularity-rating: out of memory");
        goto done;
    }
    for (uint64_t q = 0; q < r->train.nnz; q++) {
        sum[r->train.indices[q]] += r->train.data[q];
        cnt[r->train.indices[q]] += 1.0;
        mu += r->train.data[q];
    }
    mu /= (double)r->train.nnz;
    double max_cnt = 0.0;
    for (uint32_t i = 0; i < r->n_items; i++)
        if (cnt[i] > max_cnt)
            max_cnt = cnt[i];
    for (uint32_t i = 0; i < r->n_items; i++) {
        double den = cnt[i] + prior;
        double mean = den > 0.0 ? (sum[i] + prior * mu) / den : mu;
        r->item_score[i] = (float)(mean + RATING_POP_WEIGHT * cnt[i] / max_cnt);
    }
done:
    trove_free(sum);
    trove_free(cnt);
    return rc;
}

const trove__reco_family trove__family_popularity_rating = {
    .name = "popularity-rating",
    .keys = rating_keys,
    .needs = TROVE__NEED_ITEM_SCORE,
    .fit = rating_fit,
    .score = copy_scores,
};

/* ----------------------------------------------------- popularity-market */
static int market_fit(trove_recommender *r, const trove_reco_params *p,
                      const trove_dataset *ds, trove_error *err)
{
    const trove_csr *uf = trove_dataset_user_features(ds);
    const trove_idmap *names = trove_dataset_user_feature_names(ds);
    uint32_t n_feat = names ? trove_idmap_size(names) : 0;
    uint32_t *feat_market = NULL;
    int rc;
    (void)p;
    if ((rc = scaled_popularity(r, err)) != TROVE_OK)
        return rc;
    feat_market = trove_malloc(((size_t)n_feat + 1) * sizeof *feat_market);
    r->user_market = trove_malloc((size_t)r->n_users * sizeof *r->user_market);
    if (feat_market == NULL || r->user_market == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "popularity-market: out of memory");
        goto done;
    }
    for (uint32_t f = 0; f < n_feat; f++) {
        size_t len;
        const char *nm = trove_idmap_name(names, f, &len);
        feat_market[f] = UINT32_MAX;
        if (nm != NULL && len > 7 && memcmp(nm, "market=", 7) == 0)
            feat_market[f] = r->n_markets++;
    }
    for (uint32_t u = 0; u < r->n_users; u++) {
        r->user_market[u] = UINT32_MAX;
        if (uf == NULL || u >= uf->n_rows)
            continue;
        for (uint64_t q = uf->indptr[u]; q < uf->indptr[u + 1]; q++)
            if (uf->indices[q] < n_feat && feat_market[uf->indices[q]] != UINT32_MAX) {
                r->user_market[u] = feat_market[uf->indices[q]];
                break;
            }
    }
    if (r->n_markets > 0) {
        size_t n = (size_t)r->n_markets * r->n_items;
        r->market_score = trove_calloc(n, sizeof *r->market_score);
        if (r->market_score == NULL) {
            rc = trove_error_set(err, TROVE_ENOMEM, "popularity-market: out of memory");
            goto done;
        }
        for (uint32_t u = 0; u < r->n_users; u++) {
            uint32_t m = r->user_market[u];
            if (m == UINT32_MAX)
                continue;
            for (uint64_t q = r->train.indptr[u]; q < r->train.indptr[u + 1]; q++)
                r->market_score[(size_t)m * r->n_items + r->train.indices[q]] += 1.0f;
        }
        /* ties within a market go to the globally more popular item */
        for (size_t q = 0; q < n; q++)
            r->market_score[q] += 0.5f * r->item_score[q % r->n_items];
    } else {
        trove_log(TROVE_LOG_WARN, "popularity-market: no user feature 'market=...'; "
                                  "every user gets global popularity");
    }
done:
    trove_free(feat_market);
    return rc;
}

static int market_score(const trove_recommender *r, uint32_t user, float *s,
                        trove_error *err)
{
    uint32_t m = r->user_market[user];
    (void)err;
    if (m == UINT32_MAX)
        memcpy(s, r->item_score, (size_t)r->n_items * sizeof *s);
    else
        memcpy(s, r->market_score + (size_t)m * r->n_items,
               (size_t)r->n_items * sizeof *s);
    return TROVE_OK;
}

const trove__reco_family trove__family_popularity_market = {
    .name = "popularity-market",
    .keys = no_keys,
    .needs = TROVE__NEED_ITEM_SCORE | TROVE__NEED_MARKETS,
    .fit = market_fit,
    .score = market_score,
};

/* ---------------------------------------------------- sparse row helpers */
/* Accumulator over `n` columns that remembers which were touched. */
typedef struct accum {
    float    *v;
    uint32_t *touched;
    uint32_t  n_touched;
} accum;

static int accum_init(accum *a, uint32_t n)
{
    a->v = trove_calloc(n ? n : 1, sizeof *a->v);
    a->touched = trove_malloc((size_t)(n ? n : 1) * sizeof *a->touched);
    a->n_touched = 0;
    if (a->v == NULL || a->touched == NULL) {
        trove_free(a->v);
        trove_free(a->touched);
        a->v = NULL;
        a->touched = NULL;
        return TROVE_ENOMEM;
    }
    return TROVE_OK;
}

static void accum_add(accum *a, uint32_t j, float x)
{
    if (a->v[j] == 0.0f)
        a->touched[a->n_touched++] = j;
    a->v[j] += x;
    if (a->v[j] == 0.0f)    /* keep the invariant "touched once" */
        a->v[j] = 1e-30f;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Growable CSR under construction (rows appended in order). */
typedef struct csr_build {
    trove_csr m;
    uint64_t  cap;
} csr_build;

static int csrb_init(csr_build *b, uint32_t rows, uint32_t cols)
{
    memset(b, 0, sizeof *b);
    b->m.n_rows = rows;
    b->m.n_cols = cols;
    b->m.indptr = trove_calloc((size_t)rows + 1, sizeof *b->m.indptr);
    return b->m.indptr ? TROVE_OK : TROVE_ENOMEM;
}

static int csrb_push(csr_build *b, uint32_t col, float v)
{
    if (b->m.nnz == b->cap) {
        uint64_t nc = b->cap ? b->cap * 2 : 1024;
        uint32_t *gi = trove_realloc(b->m.indices, nc * sizeof *gi);
        if (gi == NULL)
            return TROVE_ENOMEM;
        b->m.indices = gi;
        float *gd = trove_realloc(b->m.data, nc * sizeof *gd);
        if (gd == NULL)
            return TROVE_ENOMEM;
        b->m.data = gd;
        b->cap = nc;
    }
    b->m.indices[b->m.nnz] = col;
    b->m.data[b->m.nnz] = v;
    b->m.nnz++;
    return TROVE_OK;
}

/* Emit the touched entries of `a` as row `row` (columns ascending), scaled
 * by `scale`, and reset the accumulator. */
static int csrb_emit(csr_build *b, uint32_t row, accum *a, float scale)
{
    int rc = TROVE_OK;
    qsort(a->touched, a->n_touched, sizeof *a->touched, cmp_u32);
    for (uint32_t t = 0; t < a->n_touched; t++) {
        uint32_t j = a->touched[t];
        if (rc == TROVE_OK)
            rc = csrb_push(b, j, a->v[j] * scale);
        a->v[j] = 0.0f;
    }
    a->n_touched = 0;
    b->m.indptr[row + 1] = b->m.nnz;
    return rc;
}

/* Weight of column c in a row with ascending columns, 0 if absent. */
static float row_get(const trove_csr *m, uint32_t row, uint32_t c)
{
    uint64_t lo = m->indptr[row], hi = m->indptr[row + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (m->indices[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->indptr[row + 1] && m->indices[lo] == c ? m->data[lo] : 0.0f;
}

static int copy_item_features(const trove_dataset *ds, trove_csr *out,
                              const char *fam, trove_error *err)
{
    const trove_csr *f = trove_dataset_item_features(ds);
    if (f == NULL || f->nnz == 0 || f->n_cols == 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "%s: the training set has no item features", fam);
    if (trove_csr_copy(f, out, NULL) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", fam);
    return TROVE_OK;
}

/* --------------------------------------------------- personal-popularity */
static int personal_fit(trove_recommender *r, const trove_reco_params *p,
                        const trove_dataset *ds, trove_error *err)
{
    const trove_csr *f = trove_dataset_item_features(ds);
    csr_build b;
    accum a = {0};
    int rc;
    (void)p;
    memset(&b, 0, sizeof b);
    if ((rc = scaled_popularity(r, err)) != TROVE_OK)
        return rc;
    if (f != NULL && f->indptr != NULL && f->n_rows == r->n_items) {
        if (trove_csr_copy(f, &r->item_feat_raw, NULL) != TROVE_OK)
            return trove_error_set(err, TROVE_ENOMEM, "personal-popularity: out of memory");
    } else {
        /* no item features: an empty items x 0 matrix */
        r->item_feat_raw.n_rows = r->n_items;
        r->item_feat_raw.indptr = trove_calloc((size_t)r->n_items + 1, sizeof(uint64_t));
        if (r->item_feat_raw.indptr == NULL)
            return trove_error_set(err, TROVE_ENOMEM, "personal-popularity: out of memory");
    }
    uint32_t n_feat = r->item_feat_raw.n_cols;
    if (csrb_init(&b, r->n_users, n_feat) != TROVE_OK || accum_init(&a, n_feat) != TROVE_OK) {
        rc = trove_error_set(err, TROVE_ENOMEM, "personal-popularity: out of memory");
        goto fail;
    }
    for (uint32_t u = 0; u < r->n_users && rc == TROVE_OK; u++) {
        uint64_t q0 = r->train.indptr[u], q1 = r->train.indptr[u + 1];
        for (uint64_t q = q0; q < q1; q++) {
            uint32_t j = r->train.indices[q];
            for (uint64_t t = r->item_feat_raw.indptr[j]; t < r->item_feat_raw.indptr[j + 1]; t++)
                accum_add(&a, r->item_feat_raw.indices[t], 1.0f);
        }
        /* share of the user's items carrying each feature, rounded down */
        for (uint32_t t = 0; t < a.n_touched; t++) {
            uint32_t c = a.touched[t];
            a.v[c] = floorf(a.v[c] / (float)(q1 - q0) * SHARE_STEP) / SHARE_STEP + 1e-30f;
        }
        if (csrb_emit(&b, u, &a, 1.0f) != TROVE_OK)
            rc = trove_error_set(err, TROVE_ENOMEM, "personal-popularity: out of memory");
    }
    if (rc != TROVE_OK)
        goto fail;
    r->user_prof = b.m;
    trove_free(a.v);
    trove_free(a.touched);
    return TROVE_OK;
fail:
    trove__reco_csr_free(&b.m);
    trove_free(a.v);
    trove_free(a.touched);
    return rc;
}

static int personal_score(const trove_recommender *r, uint32_t user, float *s,
                          trove_error *err)
{
    const trove_csr *f = &r->item_feat_raw;
    float wmax = 0.0f;
    (void)err;
    for (uint32_t i = 0; i < r->n_items; i++) {
        float aff = 0.0f;
        for (uint64_t t = f->indptr[i]; t < f->indptr[i + 1]; t++) {
            float x = row_get(&r->user_prof, user, f->indices[t]);
            if (x > aff)
                aff = x;
        }
        s[i] = aff + PERSONAL_POP_WEIGHT * r->item_score[i];
    }
    for (uint64_t q = r->train.indptr[user]; q < r->train.indptr[user + 1]; q++)
        if (r->train.data[q] > wmax)
            wmax = r->train.data[q];
    for (uint64_t q = r->train.indptr[user]; q < r->train.indptr[user + 1]; q++)
        s[r->train.indices[q]] = 3.0f + (wmax > 0.0f ? r->train.data[q] / wmax : 1.0f);
    return TROVE_OK;
}

const trove__reco_family trove__family_personal_popularity = {
    .name = "personal-popularity",
    .keys = no_keys,
    .needs = TROVE__NEED_ITEM_SCORE | TROVE__NEED_USER_PROF | TROVE__NEED_FEAT_RAW,
    .fit = personal_fit,
    .score = personal_score,
};

/* --------------------------------------------------------------- content */
/* TF-IDF (Salton & Buckley, "Term-weighting approaches in automatic text
 * retrieval", 1988): w_if = x_if * ln(n_items / df_f), rows L2-normalised;
 * user profile = sum of the user's item vectors weighted by the interaction
 * weight, L2-normalised; score = cosine = dot product of unit vectors. */
static int content_fit(trove_recommender *r, const trove_reco_params *p,
                       const trove_dataset *ds, trove_error *err)
{
    float *idf = NULL;
    csr_build b;
    accum a = {0};
    int rc;
    (void)p;
    memset(&b, 0, sizeof b);
    if ((rc = copy_item_features(ds, &r->item_feat, "content", err)) != TROVE_OK)
        return rc;
    if ((rc = scaled_popularity(r, err)) != TROVE_OK)
        return rc;
    trove_csr *v = &r->item_feat;
    uint32_t n_feat = v->n_cols;
    idf = trove_calloc(n_feat, sizeof *idf);
    if (idf == NULL || csrb_init(&b, r->n_users, n_feat) != TROVE_OK ||
        accum_init(&a, n_feat) != TROVE_OK) {
        rc = trove_error_set(err, TROVE_ENOMEM, "content: out of memory");
        goto done;
    }
    for (uint64_t q = 0; q < v->nnz; q++)
        idf[v->indices[q]] += 1.0f;
    for (uint32_t c = 0; c < n_feat; c++)
        idf[c] = idf[c] > 0.0f ? logf((float)v->n_rows / idf[c]) : 0.0f;
    for (uint32_t i = 0; i < v->n_rows; i++) {
        double norm = 0.0;
        for (uint64_t q = v->indptr[i]; q < v->indptr[i + 1]; q++) {
            v->data[q] *= idf[v->indices[q]];
            norm += (double)v->data[q] * v->data[q];
        }
        norm = sqrt(norm);
        for (uint64_t q = v->indptr[i]; q < v->indptr[i + 1]; q++)
            v->data[q] = norm > 0.0 ? (float)(v->data[q] / norm) : 0.0f;
    }
    for (uint32_t u = 0; u < r->n_users && rc == TROVE_OK; u++) {
        double norm = 0.0;
        for (uint64_t q = r->train.indptr[u]; q < r->train.indptr[u + 1]; q++) {
            uint32_t j = r->train.indices[q];
            if (j >= v->n_rows)
                continue;
            for (uint64_t t = v->indptr[j]; t < v->indptr[j + 1]; t++)
                accum_add(&a, v->indices[t], r->train.data[q] * v->data[t]);
        }
        for (uint32_t t = 0; t < a.n_touched; t++)
            norm += (double)a.v[a.touched[t]] * a.v[a.touched[t]];
        norm = sqrt(norm);
        if (csrb_emit(&b, u, &a, norm > 0.0 ? (float)(1.0 / norm) : 0.0f) != TROVE_OK)
            rc = trove_error_set(err, TROVE_ENOMEM, "content: out of memory");
    }
    if (rc == TROVE_OK) {
        r->user_prof = b.m;
        memset(&b, 0, sizeof b);
    }
done:
    trove__reco_csr_free(&b.m);
    trove_free(a.v);
    trove_free(a.touched);
    trove_free(idf);
    return rc;
}

static int content_score(const trove_recommender *r, uint32_t user, float *s,
                         trove_error *err)
{
    const trove_csr *v = &r->item_feat;
    (void)err;
    for (uint32_t i = 0; i < r->n_items; i++) {
        float dot = 0.0f;
        if (i < v->n_rows)
            for (uint64_t t = v->indptr[i]; t < v->indptr[i + 1]; t++)
                dot += v->data[t] * row_get(&r->user_prof, user, v->indices[t]);
        s[i] = dot + CONTENT_POP_WEIGHT * r->item_score[i];
    }
    return TROVE_OK;
}

const trove__reco_family trove__family_content = {
    .name = "content",
    .keys = no_keys,
    .needs = TROVE__NEED_ITEM_SCORE | TROVE__NEED_ITEM_FEAT | TROVE__NEED_USER_PROF,
    .fit = content_fit,
    .score = content_score,
};

/* --------------------------------------------------------------- itemknn */
/* Item-based top-N (Sarwar et al., "Item-based collaborative filtering
 * recommendation algorithms", WWW 2001; Deshpande & Karypis, "Item-based
 * top-N recommendation algorithms", TOIS 2004) with the shrunk cosine
 * used by Ferrari Dacrema et al. 2019. */
static const char *const knn_keys[] = {"neighbours", "neighbors", "shrink", NULL};

typedef struct sim_entry {
    float    s;
    uint32_t j;
} sim_entry;

static int cmp_sim(const void *a, const void *b)
{
    const sim_entry *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

/* Rearrange c[0..n) so that its first k entries are the k best by cmp_sim
 * (in any order): Hoare quickselect, O(n) on average; the middle pivot and
 * the total order (ties by column) keep it deterministic. */
static void select_best(sim_entry *c, uint32_t n, uint32_t k)
{
    int64_t lo = 0, hi = (int64_t)n - 1, want = (int64_t)k - 1;
    while (hi > lo) {
        sim_entry pivot = c[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (cmp_sim(&c[i], &pivot) < 0)
                i++;
            while (cmp_sim(&c[j], &pivot) > 0)
                j--;
            if (i <= j) {
                sim_entry t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                j--;
            }
        }
        /* [lo, j] before the pivot, [i, hi] after it, between: the pivot */
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return;
    }
}

static int cmp_sim_col(const void *a, const void *b)
{
    const sim_entry *x = a, *y = b;
    return (x->j > y->j) - (x->j < y->j);
}

/* One thread's share of the neighbour lists: items [lo, hi). */
typedef struct knn_part {
    const trove_recommender *r;
    const trove_csr *iu;
    const float     *cnt;
    double           shrink;
    uint32_t         keep_max, lo, hi;
    csr_build        b;          /* hi - lo rows */
    int              rc;
} knn_part;

/* Neighbour lists of items [lo, hi) of part `part`. */
static void knn_worker(void *ctx, uint32_t part)
{
    knn_part *k = (knn_part *)ctx + part;
    const trove_recommender *r = k->r;
    accum a = {0};
    sim_entry *cand = NULL;
    k->rc = TROVE_ENOMEM;
    if (csrb_init(&k->b, k->hi - k->lo, r->n_items) != TROVE_OK ||
        accum_init(&a, r->n_items) != TROVE_OK ||
        (cand = trove_malloc((size_t)(r->n_items ? r->n_items : 1) * sizeof *cand)) == NULL)
        goto done;
    for (uint32_t i = k->lo; i < k->hi; i++) {
        for (uint64_t q = k->iu->indptr[i]; q < k->iu->indptr[i + 1]; q++) {
            uint32_t u = k->iu->indices[q];
            for (uint64_t t = r->train.indptr[u]; t < r->train.indptr[u + 1]; t++)
                if (r->train.indices[t] != i)
                    accum_add(&a, r->train.indices[t], 1.0f);
        }
        uint32_t n = 0;
        for (uint32_t t = 0; t < a.n_touched; t++) {
            uint32_t j = a.touched[t];
            double den = sqrt((double)k->cnt[i] * (double)k->cnt[j]) + k->shrink;
            float sim = den > 0.0 ? (float)(floor(a.v[j] + 0.5) / den) : 0.0f;
            a.v[j] = 0.0f;
            if (sim > 0.0f) {
                cand[n].s = sim;
                cand[n].j = j;
                n++;
            }
        }
        a.n_touched = 0;
        if (n > k->keep_max) {
            select_best(cand, n, k->keep_max);
            n = k->keep_max;
        }
        if (n > 0)
            qsort(cand, n, sizeof *cand, cmp_sim_col);
        for (uint32_t t = 0; t < n; t++)
            if (csrb_push(&k->b, cand[t].j, cand[t].s) != TROVE_OK)
                goto done;
        k->b.m.indptr[i - k->lo + 1] = k->b.m.nnz;
    }
    k->rc = TROVE_OK;
done:
    trove_free(a.v);
    trove_free(a.touched);
    trove_free(cand);
}

static int itemknn_fit(trove_recommender *r, const trove_reco_params *p,
                       const trove_dataset *ds, trove_error *err)
{
    const trove_csr *iu = trove_dataset_item_users(ds);
    double nb, shrink;
    float *cnt = NULL, maxc;
    knn_part *parts = NULL;
    trove_csr m;
    uint32_t n_parts = p != NULL && p->threads > 1 ? (uint32_t)p->threads : 1;
    uint64_t nnz = 0;
    int rc;

    memset(&m, 0, sizeof m);
    rc = trove__reco_get_double(p, trove__reco_get(p, "neighbors") ? "neighbors"
                                : "neighbours", 1, 1e6, 100, &nb, err);
    if (rc == TROVE_OK)
        rc = trove__reco_get_double(p, "shrink", 0, 1e12, 10, &shrink, err);
    if (rc != TROVE_OK)
        return rc;
    if ((rc = scaled_popularity(r, err)) != TROVE_OK)
        return rc;
    if (iu == NULL || iu->n_rows != r->n_items)
        return trove_error_set(err, TROVE_EINVAL, "itemknn: no item-user matrix");
    if (n_parts > r->n_items)
        n_parts = r->n_items ? r->n_items : 1;
    parts = trove_calloc(n_parts, sizeof *parts);
    if (parts == NULL || item_counts(r, &cnt, &maxc) != TROVE_OK) {
        rc = trove_error_set(err, TROVE_ENOMEM, "itemknn: out of memory");
        goto done;
    }
    /* contiguous item ranges, one per thread; results are concatenated in
     * item order, so they do not depend on the number of threads */
    for (uint32_t t = 0; t < n_parts; t++) {
        parts[t].r = r;
        parts[t].iu = iu;
        parts[t].cnt = cnt;
        parts[t].shrink = shrink;
        parts[t].keep_max = (uint32_t)nb;
        parts[t].lo = (uint32_t)((uint64_t)r->n_items * t / n_parts);
        parts[t].hi = (uint32_t)((uint64_t)r->n_items * (t + 1) / n_parts);
    }
    trove__parallel_for(n_parts, knn_worker, parts);
    for (uint32_t t = 0; t < n_parts; t++) {
        if (parts[t].rc != TROVE_OK) {
            rc = trove_error_set(err, TROVE_ENOMEM, "itemknn: out of memory");
            goto done;
        }
        nnz += parts[t].b.m.nnz;
    }
    m.n_rows = m.n_cols = r->n_items;
    m.nnz = nnz;
    m.indptr = trove_malloc(((size_t)r->n_items + 1) * sizeof *m.indptr);
    m.indices = trove_malloc((nnz ? nnz : 1) * sizeof *m.indices);
    m.data = trove_malloc((nnz ? nnz : 1) * sizeof *m.data);
    if (m.indptr == NULL || m.indices == NULL || m.data == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "itemknn: out of memory");
        goto done;
    }
    m.indptr[0] = 0;
    nnz = 0;
    for (uint32_t t = 0; t < n_parts; t++) {
        const trove_csr *pm = &parts[t].b.m;
        for (uint32_t i = parts[t].lo; i < parts[t].hi; i++)
            m.indptr[i + 1] = nnz + pm->indptr[i - parts[t].lo + 1];
        if (pm->nnz) {
            memcpy(m.indices + nnz, pm->indices, pm->nnz * sizeof *m.indices);
            memcpy(m.data + nnz, pm->data, pm->nnz * sizeof *m.data);
        }
        nnz += pm->nnz;
    }
    r->neighbors = m;
    memset(&m, 0, sizeof m);
done:
    for (uint32_t t = 0; parts != NULL && t < n_parts; t++)
        trove__reco_csr_free(&parts[t].b.m);
    trove_free(parts);
    trove__reco_csr_free(&m);
    trove_free(cnt);
    return rc;
}

static int itemknn_score(const trove_recommender *r, uint32_t user, float *s,
                         trove_error *err)
{
    const trove_csr *nb = &r->neighbors;
    (void)err;
    for (uint32_t i = 0; i < r->n_items; i++)
        s[i] = ITEMKNN_POP_WEIGHT * r->item_score[i];
    for (uint64_t q = r->train.indptr[user]; q < r->train.indptr[user + 1]; q++) {
        uint32_t j = r->train.indices[q];
        for (uint64_t t = nb->indptr[j]; t < nb->indptr[j + 1]; t++)
            s[nb->indices[t]] += nb->data[t];
    }
    return TROVE_OK;
}

const trove__reco_family trove__family_itemknn = {
    .name = "itemknn",
    .keys = knn_keys,
    .needs = TROVE__NEED_ITEM_SCORE | TROVE__NEED_NEIGHBORS,
    .fit = itemknn_fit,
    .score = itemknn_score,
};
