/*
 * dataset.c - the dataset builder, building, accessors and the feature
 * matrices handed to models.
 *
 * The builder interns raw ids through trove_idmap (first appearance order,
 * or a fixed universe copied in beforehand) and appends coordinate triples
 * to growable arrays; building sorts them into CSR (csr.c), combines
 * duplicate interactions by the chosen policy (duplicate feature entries are
 * summed, as scipy's coo->csr conversion does in LightFM's Dataset), builds
 * the transpose and copies the id maps, so the builder stays usable and the
 * dataset owns everything it points to (see dataset_int.h).
 */
#include "data/dataset_int.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- builder */

static void coo_free(trove__coo *c)
{
    trove_free(c->rows);
    trove_free(c->cols);
    trove_free(c->vals);
    trove_free(c->ts);
    memset(c, 0, sizeof *c);
}

/* Append one triple; keeps `cap` equal to the smallest array capacity so a
 * failed growth leaves the list consistent. */
static int coo_push(trove__coo *c, uint32_t r, uint32_t col, float w,
                    int with_ts, int64_t ts)
{
    if (c->n == c->cap) {
        uint64_t cap = c->cap ? c->cap * 2 : 1024;
        void *p;
        if ((p = trove_realloc(c->rows, (size_t)cap * sizeof *c->rows)) == NULL)
            return TROVE_ENOMEM;
        c->rows = p;
        if ((p = trove_realloc(c->cols, (size_t)cap * sizeof *c->cols)) == NULL)
            return TROVE_ENOMEM;
        c->cols = p;
        if ((p = trove_realloc(c->vals, (size_t)cap * sizeof *c->vals)) == NULL)
            return TROVE_ENOMEM;
        c->vals = p;
        if (with_ts) {
            if ((p = trove_realloc(c->ts, (size_t)cap * sizeof *c->ts)) == NULL)
                return TROVE_ENOMEM;
            c->ts = p;
        }
        c->cap = cap;
    }
    c->rows[c->n] = r;
    c->cols[c->n] = col;
    c->vals[c->n] = w;
    if (with_ts)
        c->ts[c->n] = ts;
    c->n++;
    return TROVE_OK;
}

trove_dataset_builder *trove_dataset_builder_new(void)
{
    trove_dataset_builder *b = trove_calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->users = trove_idmap_new();
    b->items = trove_idmap_new();
    b->user_feat_names = trove_idmap_new();
    b->item_feat_names = trove_idmap_new();
    if (b->users == NULL || b->items == NULL || b->user_feat_names == NULL ||
        b->item_feat_names == NULL) {
        trove_dataset_builder_free(b);
        return NULL;
    }
    return b;
}

void trove_dataset_builder_free(trove_dataset_builder *b)
{
    if (b == NULL)
        return;
    trove_idmap_free(b->users);
    trove_idmap_free(b->items);
    trove_idmap_free(b->user_feat_names);
    trove_idmap_free(b->item_feat_names);
    coo_free(&b->inter);
    coo_free(&b->user_feat);
    coo_free(&b->item_feat);
    trove_free(b);
}

trove_idmap *trove__data_idmap_clone(const trove_idmap *m)
{
    trove_idmap *c = trove_idmap_new();
    uint32_t n = trove_idmap_size(m);
    if (c == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *name = trove_idmap_name(m, i, &len);
        uint32_t idx;
        if (trove_idmap_intern(c, name, len, &idx, NULL) != TROVE_OK) {
            trove_idmap_free(c);
            return NULL;
        }
    }
    return c;
}

static int fix_universe(trove_idmap **slot, int *fixed, const trove_idmap *m,
                        const char *what, trove_error *err)
{
    trove_idmap *c;
    if (m == NULL)
        return trove_error_set(err, TROVE_EINVAL, "no %s universe given", what);
    if (!*fixed && trove_idmap_size(*slot) > 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "the %s universe must be fixed before adding data",
                               what);
    c = trove__data_idmap_clone(m);
    if (c == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "copying the %s universe: "
                               "out of memory", what);
    trove_idmap_free(*slot);
    *slot = c;
    *fixed = 1;
    return TROVE_OK;
}

int trove_dataset_builder_fix_users(trove_dataset_builder *b,
                                    const trove_idmap *users, trove_error *err)
{
    return fix_universe(&b->users, &b->users_fixed, users, "user", err);
}

int trove_dataset_builder_fix_items(trove_dataset_builder *b,
                                    const trove_idmap *items, trove_error *err)
{
    return fix_universe(&b->items, &b->items_fixed, items, "item", err);
}

/* Index of a raw id: looked up in a fixed universe, else interned. */
static int resolve(trove_idmap *m, int fixed, const char *id, size_t len,
                   const char *what, uint32_t *idx, trove_error *err)
{
    int rc;
    if (len == 0)
        return trove_error_set(err, TROVE_EINVAL, "empty %s id", what);
    if (fixed) {
        int64_t f = trove_idmap_find(m, id, len);
        if (f < 0)
            return trove_error_set(err, TROVE_ENOTFOUND,
                                   "%s id '%.*s' is not in the %s universe", what,
                                   len > 200 ? 200 : (int)len, id, what);
        *idx = (uint32_t)f;
        return TROVE_OK;
    }
    rc = trove_idmap_intern(m, id, len, idx, NULL);
    if (rc == TROVE_ENOMEM)
        return trove_error_set(err, rc, "adding %s id: out of memory", what);
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "too many %s ids", what);
    return TROVE_OK;
}

int trove_dataset_builder_add_user_id(trove_dataset_builder *b, const char *user,
                                      size_t user_len, trove_error *err)
{
    uint32_t u;
    return resolve(b->users, b->users_fixed, user, user_len, "user", &u, err);
}

int trove_dataset_builder_add_item_id(trove_dataset_builder *b, const char *item,
                                      size_t item_len, trove_error *err)
{
    uint32_t i;
    return resolve(b->items, b->items_fixed, item, item_len, "item", &i, err);
}

int trove_dataset_builder_add(trove_dataset_builder *b, const char *user,
                              size_t user_len, const char *item,
                              size_t item_len, float weight, int64_t ts,
                              trove_error *err)
{
    uint32_t u, i;
    int rc;

    if (!isfinite(weight))
        return trove_error_set(err, TROVE_EINVAL, "weight is not a finite number");
    if ((rc = resolve(b->users, b->users_fixed, user, user_len, "user", &u, err)) != TROVE_OK)
        return rc;
    if ((rc = resolve(b->items, b->items_fixed, item, item_len, "item", &i, err)) != TROVE_OK)
        return rc;
    if (coo_push(&b->inter, u, i, weight, 1, ts) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "adding an interaction: out of memory");
    if (ts != 0)
        b->has_ts = 1;
    return TROVE_OK;
}

static int add_feature(trove_idmap *ids, int fixed, trove_idmap *names,
                       trove__coo *coo, const char *what, const char *id,
                       size_t id_len, const char *feature, size_t feat_len,
                       float weight, trove_error *err)
{
    uint32_t e, f;
    int rc;

    if (!isfinite(weight))
        return trove_error_set(err, TROVE_EINVAL, "feature weight is not a finite number");
    if (feat_len == 0)
        return trove_error_set(err, TROVE_EINVAL, "empty feature name");
    if ((rc = resolve(ids, fixed, id, id_len, what, &e, err)) != TROVE_OK)
        return rc;
    rc = trove_idmap_intern(names, feature, feat_len, &f, NULL);
    if (rc == TROVE_OK && coo_push(coo, e, f, weight, 0, 0) != TROVE_OK)
        rc = TROVE_ENOMEM;
    if (rc == TROVE_ENOMEM)
        return trove_error_set(err, rc, "adding a feature: out of memory");
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "too many feature names");
    return TROVE_OK;
}

int trove_dataset_builder_add_user_feature(trove_dataset_builder *b,
                                           const char *user, size_t user_len,
                                           const char *feature, size_t feat_len,
                                           float weight, trove_error *err)
{
    return add_feature(b->users, b->users_fixed, b->user_feat_names, &b->user_feat,
                       "user", user, user_len, feature, feat_len, weight, err);
}

int trove_dataset_builder_add_item_feature(trove_dataset_builder *b,
                                           const char *item, size_t item_len,
                                           const char *feature, size_t feat_len,
                                           float weight, trove_error *err)
{
    return add_feature(b->items, b->items_fixed, b->item_feat_names, &b->item_feat,
                       "item", item, item_len, feature, feat_len, weight, err);
}

static int add_feature_name(trove_idmap *names, const char *feature,
                            size_t feat_len, trove_error *err)
{
    uint32_t f;
    int rc;
    if (feat_len == 0)
        return trove_error_set(err, TROVE_EINVAL, "empty feature name");
    rc = trove_idmap_intern(names, feature, feat_len, &f, NULL);
    if (rc == TROVE_ENOMEM)
        return trove_error_set(err, rc, "adding a feature name: out of memory");
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "too many feature names");
    return TROVE_OK;
}

int trove_dataset_builder_add_user_feature_name(trove_dataset_builder *b,
                                                const char *feature,
                                                size_t feat_len, trove_error *err)
{
    return add_feature_name(b->user_feat_names, feature, feat_len, err);
}

int trove_dataset_builder_add_item_feature_name(trove_dataset_builder *b,
                                                const char *feature,
                                                size_t feat_len, trove_error *err)
{
    return add_feature_name(b->item_feat_names, feature, feat_len, err);
}

trove_dataset_build_params trove_dataset_build_default_params(void)
{
    trove_dataset_build_params p;
    memset(&p, 0, sizeof p);
    p.dup_policy = TROVE_DUP_MAX;
    return p;
}

/* ---------------------------------------------------------------- dataset */

void trove_dataset_free(trove_dataset *ds)
{
    if (ds == NULL)
        return;
    trove_csr_destroy(&ds->inter);
    trove_csr_destroy(&ds->item_users);
    trove_free(ds->ts);
    trove_idmap_free(ds->users);
    trove_idmap_free(ds->items);
    trove_csr_destroy(&ds->user_feat);
    trove_csr_destroy(&ds->item_feat);
    trove_idmap_free(ds->user_feat_names);
    trove_idmap_free(ds->item_feat_names);
    trove_free(ds);
}

int trove_dataset_builder_build(trove_dataset_builder *b,
                                const trove_dataset_build_params *params,
                                trove_dataset **out, trove_error *err)
{
    trove_dataset_build_params p = params ? *params : trove_dataset_build_default_params();
    trove_dataset *ds;
    uint32_t n_users = trove_idmap_size(b->users);
    uint32_t n_items = trove_idmap_size(b->items);
    int rc;

    ds = trove_calloc(1, sizeof *ds);
    if (ds == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "building a dataset: out of memory");
    rc = trove__data_csr_from_coo_ts(n_users, n_items, b->inter.rows, b->inter.cols,
                                b->inter.vals, b->has_ts ? b->inter.ts : NULL,
                                b->inter.n, p.dup_policy, &ds->inter,
                                b->has_ts ? &ds->ts : NULL, err);
    if (rc != TROVE_OK)
        goto fail;
    if ((rc = trove_csr_transpose(&ds->inter, &ds->item_users, err)) != TROVE_OK)
        goto fail;
    rc = trove__data_csr_from_coo_ts(n_users, trove_idmap_size(b->user_feat_names),
                                b->user_feat.rows, b->user_feat.cols,
                                b->user_feat.vals, NULL, b->user_feat.n,
                                TROVE_DUP_SUM, &ds->user_feat, NULL, err);
    if (rc != TROVE_OK)
        goto fail;
    rc = trove__data_csr_from_coo_ts(n_items, trove_idmap_size(b->item_feat_names),
                                b->item_feat.rows, b->item_feat.cols,
                                b->item_feat.vals, NULL, b->item_feat.n,
                                TROVE_DUP_SUM, &ds->item_feat, NULL, err);
    if (rc != TROVE_OK)
        goto fail;
    ds->users = trove__data_idmap_clone(b->users);
    ds->items = trove__data_idmap_clone(b->items);
    ds->user_feat_names = trove__data_idmap_clone(b->user_feat_names);
    ds->item_feat_names = trove__data_idmap_clone(b->item_feat_names);
    if (ds->users == NULL || ds->items == NULL || ds->user_feat_names == NULL ||
        ds->item_feat_names == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "building a dataset: out of memory");
        goto fail;
    }
    *out = ds;
    return TROVE_OK;
fail:
    trove_dataset_free(ds);
    return rc;
}

int trove__data_dataset_from_parts(const trove_dataset *like, trove_csr *inter,
                              int64_t **ts, trove_dataset **out,
                              trove_error *err)
{
    trove_dataset *ds = trove_calloc(1, sizeof *ds);
    int rc = TROVE_ENOMEM;

    if (ds == NULL)
        goto nomem;
    if ((rc = trove_csr_transpose(inter, &ds->item_users, err)) != TROVE_OK)
        goto fail;
    rc = TROVE_ENOMEM;
    if (trove_csr_copy(&like->user_feat, &ds->user_feat, NULL) != TROVE_OK ||
        trove_csr_copy(&like->item_feat, &ds->item_feat, NULL) != TROVE_OK)
        goto nomem;
    ds->users = trove__data_idmap_clone(like->users);
    ds->items = trove__data_idmap_clone(like->items);
    ds->user_feat_names = trove__data_idmap_clone(like->user_feat_names);
    ds->item_feat_names = trove__data_idmap_clone(like->item_feat_names);
    if (ds->users == NULL || ds->items == NULL || ds->user_feat_names == NULL ||
        ds->item_feat_names == NULL)
        goto nomem;
    ds->inter = *inter;
    memset(inter, 0, sizeof *inter);
    ds->ts = *ts;
    *ts = NULL;
    *out = ds;
    return TROVE_OK;
nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "building a dataset: out of memory");
fail:
    trove_dataset_free(ds);
    return rc;
}

uint32_t trove_dataset_n_users(const trove_dataset *ds) { return ds->inter.n_rows; }
uint32_t trove_dataset_n_items(const trove_dataset *ds) { return ds->inter.n_cols; }
uint64_t trove_dataset_nnz(const trove_dataset *ds) { return ds->inter.nnz; }
const trove_csr *trove_dataset_interactions(const trove_dataset *ds) { return &ds->inter; }
const trove_csr *trove_dataset_item_users(const trove_dataset *ds) { return &ds->item_users; }
const int64_t *trove_dataset_timestamps(const trove_dataset *ds) { return ds->ts; }
const trove_idmap *trove_dataset_user_ids(const trove_dataset *ds) { return ds->users; }
const trove_idmap *trove_dataset_item_ids(const trove_dataset *ds) { return ds->items; }
const trove_csr *trove_dataset_user_features(const trove_dataset *ds) { return &ds->user_feat; }
const trove_csr *trove_dataset_item_features(const trove_dataset *ds) { return &ds->item_feat; }
const trove_idmap *trove_dataset_user_feature_names(const trove_dataset *ds)
{
    return ds->user_feat_names;
}
const trove_idmap *trove_dataset_item_feature_names(const trove_dataset *ds)
{
    return ds->item_feat_names;
}

uint32_t trove_dataset_n_active_users(const trove_dataset *ds)
{
    uint32_t n = 0;
    for (uint32_t u = 0; u < ds->inter.n_rows; u++)
        n += ds->inter.indptr[u + 1] > ds->inter.indptr[u];
    return n;
}

uint32_t trove_dataset_n_active_items(const trove_dataset *ds)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < ds->item_users.n_rows; i++)
        n += ds->item_users.indptr[i + 1] > ds->item_users.indptr[i];
    return n;
}

/* ------------------------------------------------------- feature matrices */

int trove_dataset_feature_matrix(const trove_dataset *ds, int target,
                                 int identity, int normalize, trove_csr *out,
                                 trove_error *err)
{
    const trove_csr *f;
    const trove_idmap *ids;
    trove_csr m;
    uint32_t n, off;
    uint64_t nnz, k = 0;
    int rc = TROVE_OK;

    memset(&m, 0, sizeof m);
    if (target == TROVE_FEATURE_USER) {
        f = &ds->user_feat;
        ids = ds->users;
    } else if (target == TROVE_FEATURE_ITEM) {
        f = &ds->item_feat;
        ids = ds->items;
    } else {
        return trove_error_set(err, TROVE_EINVAL, "feature matrix: target %d is "
                               "neither TROVE_FEATURE_USER nor TROVE_FEATURE_ITEM",
                               target);
    }
    n = f->n_rows;
    off = identity ? n : 0;
    if ((uint64_t)off + f->n_cols > UINT32_MAX - 1)
        return trove_error_set(err, TROVE_ERANGE, "feature matrix: too many columns");
    nnz = f->nnz + (identity ? n : 0);
    m.indptr = trove_calloc((size_t)n + 1, sizeof *m.indptr);
    m.indices = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *m.indices);
    m.data = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *m.data);
    if (m.indptr == NULL || m.indices == NULL || m.data == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "feature matrix: out of memory");
        goto fail;
    }
    m.n_rows = n;
    m.n_cols = off + f->n_cols;
    m.nnz = nnz;
    for (uint32_t r = 0; r < n; r++) {
        uint64_t start = k;
        if (identity) {
            m.indices[k] = r;
            m.data[k++] = 1.0f;
        }
        for (uint64_t j = f->indptr[r]; j < f->indptr[r + 1]; j++) {
            m.indices[k] = off + f->indices[j];
            m.data[k++] = f->data ? f->data[j] : 1.0f;
        }
        m.indptr[r + 1] = k;
        if (normalize) {
            /* L1 row normalisation, as LightFM's Dataset does through
             * sklearn.preprocessing.normalize(norm="l1"): rows without any
             * entry are an error there, all-zero rows are left as they are */
            double sum = 0.0;
            if (k == start) {
                const char *name = trove_idmap_name(ids, r, NULL);
                rc = trove_error_set(err, TROVE_EINVAL,
                                     "cannot normalize the %s feature matrix: %s '%s' "
                                     "has no features",
                                     target == TROVE_FEATURE_USER ? "user" : "item",
                                     target == TROVE_FEATURE_USER ? "user" : "item",
                                     name ? name : "?");
                goto fail;
            }
            for (uint64_t j = start; j < k; j++)
                sum += fabs((double)m.data[j]);
            if (sum > 0.0)
                for (uint64_t j = start; j < k; j++)
                    m.data[j] = (float)((double)m.data[j] / sum);
        }
    }
    *out = m;
    return TROVE_OK;
fail:
    trove_csr_destroy(&m);
    return rc;
}
