/*
 * split.c - train/test splits of a dataset.
 *
 * Every split marks each interaction as train or test and then copies the
 * two subsets into two datasets over the same universe (same id maps, same
 * feature matrices), so a pair is in exactly one of them and their union is
 * the input. Randomness comes from one xoshiro256** stream seeded with
 * p->seed and consumed in a fixed order (users, or items, ascending), so a
 * seed always gives the same split. Definitions (docs/dataset.md):
 *   RANDOM    per user with n interactions (items ascending), shuffle the
 *             positions (Fisher-Yates) and send the first
 *             min(floor(fraction*n + 0.5), max(0, n - min_train)) to test;
 *             the rounding is the one of the reference splits in
 *             ../shared/data/splits;
 *   TEMPORAL  ts >= cut_ts to test;
 *   LAST_K    order each user's interactions by (ts, item index); the last
 *             min(k, max(0, n - min_train)) go to test;
 *   COLD_ITEM shuffle the items that have interactions (ascending index),
 *             take the first floor(fraction*m + 0.5): all their interactions
 *             go to test.
 */
#include "data/dataset_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

trove_split_params trove_split_default_params(void)
{
    trove_split_params p;
    memset(&p, 0, sizeof p);
    p.kind = TROVE_SPLIT_RANDOM;
    p.fraction = 0.2;
    p.seed = 42;
    p.k = 1;
    p.min_train = 1;
    return p;
}

static uint64_t round_half_up(double x)
{
    return (uint64_t)floor(x + 0.5);
}

static uint64_t cap_test(uint64_t want, uint64_t n, uint32_t min_train)
{
    uint64_t room = n > min_train ? n - min_train : 0;
    return want < room ? want : room;
}

static uint64_t max_row_len(const trove_csr *m)
{
    uint64_t mx = 0;
    for (uint32_t r = 0; r < m->n_rows; r++) {
        uint64_t n = m->indptr[r + 1] - m->indptr[r];
        mx = n > mx ? n : mx;
    }
    return mx;
}

static int mark_random(const trove_dataset *ds, const trove_split_params *p,
                       unsigned char *mask)
{
    const trove_csr *m = &ds->inter;
    uint64_t mx = max_row_len(m);
    uint32_t *perm;
    trove_rng rng;

    if (mx > UINT32_MAX)
        return TROVE_ERANGE;
    perm = trove_malloc((mx ? (size_t)mx : 1) * sizeof *perm);
    if (perm == NULL)
        return TROVE_ENOMEM;
    trove_rng_seed(&rng, p->seed);
    for (uint32_t u = 0; u < m->n_rows; u++) {
        uint64_t start = m->indptr[u], n = m->indptr[u + 1] - start, nt;
        if (n == 0)
            continue;
        for (uint32_t j = 0; j < n; j++)
            perm[j] = j;
        trove_rng_shuffle_u32(&rng, perm, (size_t)n);
        nt = cap_test(round_half_up(p->fraction * (double)n), n, p->min_train);
        for (uint64_t j = 0; j < nt; j++)
            mask[start + perm[j]] = 1;
    }
    trove_free(perm);
    return TROVE_OK;
}

typedef struct ts_pos {
    int64_t  ts;
    uint64_t pos;   /* position in the row: item index order */
} ts_pos;

static int cmp_ts_pos(const void *a, const void *b)
{
    const ts_pos *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int mark_last_k(const trove_dataset *ds, const trove_split_params *p,
                       unsigned char *mask)
{
    const trove_csr *m = &ds->inter;
    uint64_t mx = max_row_len(m);
    ts_pos *buf = trove_malloc((mx ? (size_t)mx : 1) * sizeof *buf);

    if (buf == NULL)
        return TROVE_ENOMEM;
    for (uint32_t u = 0; u < m->n_rows; u++) {
        uint64_t start = m->indptr[u], n = m->indptr[u + 1] - start, nt;
        nt = cap_test(p->k, n, p->min_train);
        if (nt == 0)
            continue;
        for (uint64_t j = 0; j < n; j++) {
            buf[j].ts = ds->ts[start + j];
            buf[j].pos = j;
        }
        qsort(buf, (size_t)n, sizeof *buf, cmp_ts_pos);
        for (uint64_t j = n - nt; j < n; j++)
            mask[start + buf[j].pos] = 1;
    }
    trove_free(buf);
    return TROVE_OK;
}

static int mark_cold_items(const trove_dataset *ds, const trove_split_params *p,
                           unsigned char *mask)
{
    const trove_csr *t = &ds->item_users, *m = &ds->inter;
    uint32_t *active = trove_malloc(((size_t)t->n_rows + 1) * sizeof *active);
    unsigned char *cold = trove_calloc((size_t)t->n_rows + 1, 1);
    uint32_t n_active = 0;
    uint64_t nt;
    trove_rng rng;
    int rc = TROVE_OK;

    if (active == NULL || cold == NULL) {
        rc = TROVE_ENOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < t->n_rows; i++)
        if (t->indptr[i + 1] > t->indptr[i])
            active[n_active++] = i;
    trove_rng_seed(&rng, p->seed);
    trove_rng_shuffle_u32(&rng, active, n_active);
    nt = round_half_up(p->fraction * (double)n_active);
    for (uint64_t j = 0; j < nt && j < n_active; j++)
        cold[active[j]] = 1;
    for (uint64_t k = 0; k < m->nnz; k++)
        mask[k] = cold[m->indices[k]];
done:
    trove_free(active);
    trove_free(cold);
    return rc;
}

/* The entries of ds->inter whose mask equals `want`, as a new CSR (and
 * timestamps when ds has them). */
static int subset(const trove_dataset *ds, const unsigned char *mask,
                  unsigned char want, trove_csr *out, int64_t **ts_out)
{
    const trove_csr *m = &ds->inter;
    trove_csr s;
    int64_t *ts = NULL;
    uint64_t nnz = 0, k = 0;

    memset(&s, 0, sizeof s);
    for (uint64_t j = 0; j < m->nnz; j++)
        nnz += mask[j] == want;
    s.indptr = trove_calloc((size_t)m->n_rows + 1, sizeof *s.indptr);
    s.indices = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *s.indices);
    s.data = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *s.data);
    if (ds->ts != NULL)
        ts = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *ts);
    if (s.indptr == NULL || s.indices == NULL || s.data == NULL ||
        (ds->ts != NULL && ts == NULL)) {
        trove_csr_destroy(&s);
        trove_free(ts);
        return TROVE_ENOMEM;
    }
    s.n_rows = m->n_rows;
    s.n_cols = m->n_cols;
    s.nnz = nnz;
    for (uint32_t r = 0; r < m->n_rows; r++) {
        for (uint64_t j = m->indptr[r]; j < m->indptr[r + 1]; j++) {
            if (mask[j] != want)
                continue;
            s.indices[k] = m->indices[j];
            s.data[k] = m->data ? m->data[j] : 1.0f;
            if (ts)
                ts[k] = ds->ts[j];
            k++;
        }
        s.indptr[r + 1] = k;
    }
    *out = s;
    *ts_out = ts;
    return TROVE_OK;
}

int trove_dataset_split(const trove_dataset *ds, const trove_split_params *p,
                        trove_dataset **train, trove_dataset **test,
                        trove_error *err)
{
    unsigned char *mask = NULL;
    trove_dataset *tr = NULL, *te = NULL;
    trove_csr part;
    int64_t *ts = NULL;
    int rc;

    memset(&part, 0, sizeof part);
    switch (p->kind) {
    case TROVE_SPLIT_RANDOM:
    case TROVE_SPLIT_COLD_ITEM:
        if (!(p->fraction > 0.0 && p->fraction < 1.0))
            return trove_error_set(err, TROVE_EINVAL, "split: fraction %g is not "
                                   "in (0, 1)", p->fraction);
        break;
    case TROVE_SPLIT_TEMPORAL:
        if (ds->ts == NULL)
            return trove_error_set(err, TROVE_EINVAL, "split: a temporal split "
                                   "needs timestamps and the dataset has none");
        break;
    case TROVE_SPLIT_LAST_K:
        if (ds->ts == NULL)
            return trove_error_set(err, TROVE_EINVAL, "split: a leave-last-k-out "
                                   "split needs timestamps and the dataset has none");
        if (p->k == 0)
            return trove_error_set(err, TROVE_EINVAL, "split: k must be at least 1");
        break;
    default:
        return trove_error_set(err, TROVE_EINVAL, "split: unknown kind %d", p->kind);
    }

    mask = trove_calloc(ds->inter.nnz ? (size_t)ds->inter.nnz : 1, 1);
    if (mask == NULL)
        goto nomem;
    switch (p->kind) {
    case TROVE_SPLIT_RANDOM:
        rc = mark_random(ds, p, mask);
        break;
    case TROVE_SPLIT_TEMPORAL:
        for (uint64_t k = 0; k < ds->inter.nnz; k++)
            mask[k] = ds->ts[k] >= p->cut_ts;
        rc = TROVE_OK;
        break;
    case TROVE_SPLIT_LAST_K:
        rc = mark_last_k(ds, p, mask);
        break;
    default:
        rc = mark_cold_items(ds, p, mask);
        break;
    }
    if (rc == TROVE_ENOMEM)
        goto nomem;
    if (rc != TROVE_OK) {
        trove_error_set(err, rc, "split: a user has too many interactions");
        goto done;
    }

    if (subset(ds, mask, 0, &part, &ts) != TROVE_OK)
        goto nomem;
    if ((rc = trove__data_dataset_from_parts(ds, &part, &ts, &tr, err)) != TROVE_OK)
        goto done;
    if (subset(ds, mask, 1, &part, &ts) != TROVE_OK)
        goto nomem;
    if ((rc = trove__data_dataset_from_parts(ds, &part, &ts, &te, err)) != TROVE_OK)
        goto done;
    *train = tr;
    *test = te;
    tr = te = NULL;
    rc = TROVE_OK;
    goto done;
nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "split: out of memory");
done:
    trove_csr_destroy(&part);
    trove_free(ts);
    trove_dataset_free(tr);
    trove_dataset_free(te);
    trove_free(mask);
    return rc;
}
