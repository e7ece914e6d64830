/*
 * rp3beta.c - the "rp3beta" recommender family: item-item similarities
 * from three-step random walks on the user-item graph with a popularity
 * penalty (Paudel, Christoffel, Neumann & Bernstein, "Updatable, accurate,
 * diverse, and scalable recommendations for interactive applications", ACM
 * TiiS 2016; the variant of Ferrari Dacrema et al., RecSys 2019).
 *
 * With binary training interactions, deg(u) items per user and deg(i)
 * users per item, the walk item i -> user u -> item j has probability
 * (1/deg(i)) (1/deg(u)); both factors are raised to `alpha`, and the
 * arrival item is divided by deg(j)^beta:
 *     W[i][j] = deg(j)^-beta * sum over u in U(i) ∩ U(j) of
 *               (deg(i) deg(u))^-alpha          (i != j)
 * Each row keeps its `neighbours` largest entries (ties by column), and is
 * optionally divided by its sum (normalize=1). score(u, j) = sum over the
 * user's items i of W[i][j].
 *
 * Settings: alpha (1), beta (0.5), neighbours (100; "neighbors" too),
 * normalize (0). Invariants: the similarity rows live in r->neighbors
 * (items x items, columns ascending), so the recommender file and its
 * checks are the item-kNN ones. Fitting is deterministic; scoring reads only
 * immutable members.
 */
#include "reco_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const rp3_keys[] = {
    "alpha", "beta", "neighbours", "neighbors", "normalize", NULL
};

typedef struct rp3_cand {
    float    s;
    uint32_t j;
} rp3_cand;

/* Best first, ties by column ascending: a total order. */
static int cmp_best(const void *a, const void *b)
{
    const rp3_cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? 1 : -1;
    return (x->j > y->j) - (x->j < y->j);
}

static int cmp_col(const void *a, const void *b)
{
    const rp3_cand *x = a, *y = b;
    return (x->j > y->j) - (x->j < y->j);
}

/* Grow the output arrays to hold at least `need` entries. */
static int reserve(trove_csr *m, uint64_t *cap, uint64_t need)
{
    uint64_t nc = *cap ? *cap : 1024;
    uint32_t *ni;
    float *nd;
    if (need <= *cap)
        return TROVE_OK;
    while (nc < need)
        nc *= 2;
    ni = trove_realloc(m->indices, nc * sizeof *ni);
    if (ni == NULL)
        return TROVE_ENOMEM;
    m->indices = ni;
    nd = trove_realloc(m->data, nc * sizeof *nd);
    if (nd == NULL)
        return TROVE_ENOMEM;
    m->data = nd;
    *cap = nc;
    return TROVE_OK;
}

static int rp3_fit(trove_recommender *r, const trove_reco_params *p,
                   const trove_dataset *ds, trove_error *err)
{
    const trove_csr *iu = trove_dataset_item_users(ds);
    const trove_csr *ui = &r->train;
    double alpha, beta, nb, norm;
    double *acc = NULL, *user_w = NULL, *item_pen = NULL;
    uint32_t *touched = NULL, keep;
    rp3_cand *cand = NULL;
    trove_csr m;
    uint64_t cap = 0;
    int rc;

    memset(&m, 0, sizeof m);
    if ((rc = trove__reco_get_double(p, "alpha", 0, 10, 1.0, &alpha, err)) ||
        (rc = trove__reco_get_double(p, "beta", 0, 10, 0.5, &beta, err)) ||
        (rc = trove__reco_get_double(p, trove__reco_get(p, "neighbors") ? "neighbors"
                                     : "neighbours", 1, 1e6, 100, &nb, err)) ||
        (rc = trove__reco_get_double(p, "normalize", 0, 1, 0, &norm, err)))
        return rc;
    if (norm != 0.0 && norm != 1.0)
        return trove_error_set(err, TROVE_EINVAL, "rp3beta: normalize is 0 or 1");
    if (iu == NULL || iu->n_rows != r->n_items)
        return trove_error_set(err, TROVE_EINVAL, "rp3beta: no item-user matrix");
    keep = (uint32_t)nb;
    acc = trove_calloc((size_t)r->n_items + 1, sizeof *acc);
    item_pen = trove_malloc(((size_t)r->n_items + 1) * sizeof *item_pen);
    user_w = trove_malloc(((size_t)r->n_users + 1) * sizeof *user_w);
    touched = trove_malloc(((size_t)r->n_items + 1) * sizeof *touched);
    cand = trove_malloc(((size_t)r->n_items + 1) * sizeof *cand);
    m.indptr = trove_malloc(((size_t)r->n_items + 1) * sizeof *m.indptr);
    if (!acc || !item_pen || !user_w || !touched || !cand || !m.indptr ||
        reserve(&m, &cap, 1) != TROVE_OK) {
        rc = trove_error_set(err, TROVE_ENOMEM, "rp3beta: out of memory");
        goto done;
    }
    for (uint32_t u = 0; u < r->n_users; u++) {
        uint64_t d = ui->indptr[u + 1] - ui->indptr[u];
        user_w[u] = d ? pow((double)d, -alpha) : 0.0;
    }
    for (uint32_t i = 0; i < r->n_items; i++) {
        uint64_t d = iu->indptr[i + 1] - iu->indptr[i];
        item_pen[i] = d ? pow((double)d, -beta) : 0.0;
    }
    m.n_rows = m.n_cols = r->n_items;
    m.indptr[0] = 0;
    for (uint32_t i = 0; i < r->n_items; i++) {
        uint64_t di = iu->indptr[i + 1] - iu->indptr[i];
        double wi = di ? pow((double)di, -alpha) : 0.0, sum = 0.0;
        uint32_t n_t = 0, n = 0;
        for (uint64_t q = iu->indptr[i]; q < iu->indptr[i + 1]; q++) {
            uint32_t u = iu->indices[q];
            double w = wi * user_w[u];
            for (uint64_t t = ui->indptr[u]; t < ui->indptr[u + 1]; t++) {
                uint32_t j = ui->indices[t];
                if (acc[j] == 0.0)
                    touched[n_t++] = j;
                acc[j] += w;
            }
        }
        for (uint32_t t = 0; t < n_t; t++) {
            uint32_t j = touched[t];
            float s = (float)(acc[j] * item_pen[j]);
            acc[j] = 0.0;
            if (j != i && s > 0.0f) {
                cand[n].s = s;
                cand[n].j = j;
                n++;
            }
        }
        if (n > keep) {
            qsort(cand, n, sizeof *cand, cmp_best);
            n = keep;
        }
        qsort(cand, n, sizeof *cand, cmp_col);
        for (uint32_t t = 0; t < n; t++)
            sum += cand[t].s;
        if (reserve(&m, &cap, m.nnz + n) != TROVE_OK) {
            rc = trove_error_set(err, TROVE_ENOMEM, "rp3beta: out of memory");
            goto done;
        }
        for (uint32_t t = 0; t < n; t++) {
            m.indices[m.nnz] = cand[t].j;
            m.data[m.nnz++] = norm != 0.0 && sum > 0.0 ? (float)(cand[t].s / sum)
                                                       : cand[t].s;
        }
        m.indptr[i + 1] = m.nnz;
    }
    r->neighbors = m;
    memset(&m, 0, sizeof m);
    rc = TROVE_OK;
done:
    trove__reco_csr_free(&m);
    trove_free(acc);
    trove_free(item_pen);
    trove_free(user_w);
    trove_free(touched);
    trove_free(cand);
    return rc;
}

static int rp3_score(const trove_recommender *r, uint32_t user, float *s,
                     trove_error *err)
{
    const trove_csr *nb = &r->neighbors;
    (void)err;
    memset(s, 0, (size_t)r->n_items * sizeof *s);
    for (uint64_t q = r->train.indptr[user]; q < r->train.indptr[user + 1]; q++) {
        uint32_t i = r->train.indices[q];
        for (uint64_t t = nb->indptr[i]; t < nb->indptr[i + 1]; t++)
            s[nb->indices[t]] += nb->data[t];
    }
    return TROVE_OK;
}

const trove__reco_family trove__family_rp3beta = {
    .name = "rp3beta",
    .keys = rp3_keys,
    .needs = TROVE__NEED_NEIGHBORS,
    .fit = rp3_fit,
    .score = rp3_score,
};
