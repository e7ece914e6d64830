/*
 * hybrid.c - the hybrid model's state: parameters and their checks, the
 * parameter tables and how they are created and grown, feature matrices,
 * id maps, accessors, the cold-item fallback, and models built from the
 * factors of a plain matrix factorisation (iALS) as identity-only hybrids.
 *
 * Invariants (see model_int.h): tables are [rows][dp] aligned blocks with a
 * zero padding; adagrad accumulators start at 1 and adadelta ones at 0;
 * row-wise adagrad keeps no per-coordinate accumulators (acc is NULL) and
 * starts each row's accumulator (meta slot TROVE__RACC) at 1;
 * a shaped model has uid.rows == n_users (identity on) or 0, iid.rows ==
 * n_items or 0, ufeat.rows == n_user_features, ifeat.rows ==
 * n_item_features, ufm is n_users x n_user_features and ifm n_items x
 * n_item_features. Growth builds every new array first and swaps them in
 * only when all allocations succeeded, so a failed grow changes nothing.
 */
#include "model/model_int.h"

#include <math.h>
#include <string.h>

trove_model_params trove_model_default_params(void)
{
    trove_model_params p;
    memset(&p, 0, sizeof p);
    p.no_components = 10;
    p.loss = TROVE_LOSS_LOGISTIC;
    p.learning_schedule = TROVE_SCHEDULE_ADAGRAD;
    p.learning_rate = 0.05f;
    p.rho = 0.95f;
    p.epsilon = 1e-6f;
    p.item_alpha = 0.0f;
    p.user_alpha = 0.0f;
    p.max_sampled = 10;
    p.k = 5;
    p.n = 10;
    p.user_identity = 1;
    p.item_identity = 1;
    p.item_cold_fallback = TROVE_COLD_NONE;
    p.num_threads = 1;
    p.seed = 0;
    return p;
}

int trove_model_check_params(const trove_model_params *p, trove_error *err)
{
    if (p == NULL)
        return trove_error_set(err, TROVE_EINVAL, "model params: NULL");
    if (p->no_components < 1 || p->no_components > TROVE__MODEL_MAX_DIM)
        return trove_error_set(err, TROVE_EINVAL,
                               "no_components must be in 1..%d, got %u",
                               TROVE__MODEL_MAX_DIM, p->no_components);
    if (p->loss < TROVE_LOSS_LOGISTIC || p->loss > TROVE_LOSS_WARP_KOS)
        return trove_error_set(err, TROVE_EINVAL, "loss: unknown value %d", p->loss);
    if (p->learning_schedule != TROVE_SCHEDULE_ADAGRAD &&
        p->learning_schedule != TROVE_SCHEDULE_ADADELTA &&
        p->learning_schedule != TROVE_SCHEDULE_ADAGRAD_ROWWISE)
        return trove_error_set(err, TROVE_EINVAL, "learning_schedule: unknown value %d",
                               p->learning_schedule);
    if (!isfinite(p->learning_rate) || p->learning_rate <= 0.0f ||
        p->learning_rate > 1e6f)
        return trove_error_set(err, TROVE_EINVAL,
                               "learning_rate must be finite and in (0, 1e6], got %g",
                               (double)p->learning_rate);
    if (!(p->rho > 0.0f && p->rho < 1.0f))
        return trove_error_set(err, TROVE_EINVAL, "rho must be in (0,1), got %g",
                               (double)p->rho);
    if (!isfinite(p->epsilon) || p->epsilon < 0.0f ||
        (p->learning_schedule == TROVE_SCHEDULE_ADADELTA && p->epsilon <= 0.0f))
        return trove_error_set(err, TROVE_EINVAL,
                               "epsilon must be finite and > 0 for adadelta (>= 0 otherwise), got %g",
                               (double)p->epsilon);
    if (!isfinite(p->item_alpha) || p->item_alpha < 0.0f)
        return trove_error_set(err, TROVE_EINVAL, "item_alpha must be finite and >= 0, got %g",
                               (double)p->item_alpha);
    if (!isfinite(p->user_alpha) || p->user_alpha < 0.0f)
        return trove_error_set(err, TROVE_EINVAL, "user_alpha must be finite and >= 0, got %g",
                               (double)p->user_alpha);
    if (p->max_sampled < 1 || p->max_sampled > 1000000)
        return trove_error_set(err, TROVE_EINVAL, "max_sampled must be in 1..1000000, got %u",
                               p->max_sampled);
    if (p->k < 1 || p->n < 1 || p->k > 100000 || p->n > 100000)
        return trove_error_set(err, TROVE_EINVAL, "k and n must be in 1..100000, got k=%u n=%u",
                               p->k, p->n);
    if (p->user_identity != 0 && p->user_identity != 1)
        return trove_error_set(err, TROVE_EINVAL, "user_identity must be 0 or 1");
    if (p->item_identity != 0 && p->item_identity != 1)
        return trove_error_set(err, TROVE_EINVAL, "item_identity must be 0 or 1");
    if (p->item_cold_fallback != TROVE_COLD_NONE && p->item_cold_fallback != TROVE_COLD_MEAN)
        return trove_error_set(err, TROVE_EINVAL, "item_cold_fallback: unknown value %d",
                               p->item_cold_fallback);
    if (p->num_threads < 1 || p->num_threads > 256)
        return trove_error_set(err, TROVE_EINVAL, "num_threads must be in 1..256, got %u",
                               p->num_threads);
    return TROVE_OK;
}

static const char *const loss_names[] = {"logistic", "bpr", "warp", "warp-kos"};
static const char *const schedule_names[] = {"adagrad", "adadelta", "adagrad-rowwise"};

const char *trove_loss_name(int loss)
{
    if (loss < 0 || loss > TROVE_LOSS_WARP_KOS)
        return "unknown";
    return loss_names[loss];
}

const char *trove_schedule_name(int schedule)
{
    if (schedule < 0 || schedule > TROVE_SCHEDULE_ADAGRAD_ROWWISE)
        return "unknown";
    return schedule_names[schedule];
}

int trove_loss_parse(const char *s, int *out)
{
    for (int i = 0; s != NULL && i <= TROVE_LOSS_WARP_KOS; i++)
        if (strcmp(s, loss_names[i]) == 0) {
            *out = i;
            return TROVE_OK;
        }
    return TROVE_EINVAL;
}

int trove_schedule_parse(const char *s, int *out)
{
    for (int i = 0; s != NULL && i <= TROVE_SCHEDULE_ADAGRAD_ROWWISE; i++)
        if (strcmp(s, schedule_names[i]) == 0) {
            *out = i;
            return TROVE_OK;
        }
    return TROVE_EINVAL;
}

size_t trove__model_dp(uint32_t dim)
{
    return ((size_t)dim + 15u) & ~(size_t)15u;
}

void trove__model_table_free(trove__table *t)
{
    trove_aligned_free(t->emb);
    trove_aligned_free(t->acc);
    trove_aligned_free(t->dacc);
    trove_aligned_free(t->meta);
    memset(t, 0, sizeof *t);
}

static float *alloc_rows(size_t rows, size_t dp)
{
    if (rows == 0)
        return NULL;
    if (rows > SIZE_MAX / sizeof(float) / dp)
        return NULL;
    return trove_aligned_alloc(TROVE__MODEL_ALIGN, rows * dp * sizeof(float));
}

int trove__model_table_grown(trove_model *m, const trove__table *t, uint32_t rows,
                       trove__table *out)
{
    size_t dp = m->dp, old = t->rows;
    int adadelta = m->p.learning_schedule == TROVE_SCHEDULE_ADADELTA;
    int rowwise = m->p.learning_schedule == TROVE_SCHEDULE_ADAGRAD_ROWWISE;
    float acc0 = adadelta ? 0.0f : 1.0f;
    trove__table n;

    if (rows < t->rows)
        return TROVE_EINVAL;
    memset(&n, 0, sizeof n);
    if (rows == 0) {
        *out = n;
        return TROVE_OK;
    }
    n.rows = rows;
    n.emb = alloc_rows(rows, dp);
    if (!rowwise)
        n.acc = alloc_rows(rows, dp);
    n.meta = alloc_rows(rows, TROVE__META);
    if (adadelta)
        n.dacc = alloc_rows(rows, dp);
    if (n.emb == NULL || (!rowwise && n.acc == NULL) || n.meta == NULL ||
        (adadelta && n.dacc == NULL)) {
        trove__model_table_free(&n);
        return TROVE_ENOMEM;
    }
    if (old > 0) {
        memcpy(n.emb, t->emb, old * dp * sizeof(float));
        if (!rowwise)
            memcpy(n.acc, t->acc, old * dp * sizeof(float));
        memcpy(n.meta, t->meta, old * TROVE__META * sizeof(float));
        if (adadelta)
            memcpy(n.dacc, t->dacc, old * dp * sizeof(float));
    }
    /* LightFM's initialisation: uniform in [-0.5, 0.5) / d, zero biases. */
    for (size_t r = old; r < rows; r++) {
        float *e = n.emb + r * dp;
        for (size_t j = 0; j < dp; j++) {
            e[j] = j < m->dim ? (trove_rng_uniformf(&m->rng) - 0.5f) / (float)m->dim : 0.0f;
            if (!rowwise)
                n.acc[r * dp + j] = acc0;
        }
        float *mt = trove__meta(&n, (uint32_t)r);
        memset(mt, 0, TROVE__META * sizeof(float));
        mt[TROVE__BACC] = acc0;
        if (rowwise)
            mt[TROVE__RACC] = 1.0f;
        if (adadelta)
            memset(n.dacc + r * dp, 0, dp * sizeof(float));
    }
    *out = n;
    return TROVE_OK;
}

int trove__model_table_resize(trove_model *m, trove__table *t, uint32_t rows)
{
    trove__table n;
    int rc;
    if (rows == t->rows)
        return TROVE_OK;
    rc = trove__model_table_grown(m, t, rows, &n);
    if (rc != TROVE_OK)
        return rc;
    trove__model_table_free(t);
    *t = n;
    return TROVE_OK;
}

int trove__model_csr_empty(uint32_t n_rows, uint32_t n_cols, trove_csr *out)
{
    memset(out, 0, sizeof *out);
    out->indptr = trove_calloc((size_t)n_rows + 1, sizeof(uint64_t));
    if (out->indptr == NULL)
        return TROVE_ENOMEM;
    out->n_rows = n_rows;
    out->n_cols = n_cols;
    return TROVE_OK;
}

int trove__model_csr_copy(const trove_csr *in, trove_csr *out, const char *what,
                    trove_error *err)
{
    trove_csr c;
    int rc = trove_csr_validate(in, what, err);
    if (rc != TROVE_OK)
        return rc;
    if (trove_csr_copy(in, &c, NULL) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory copying features", what);
    /* Unweighted features stay unweighted (the model file records it). */
    if (in->data == NULL) {
        trove_free(c.data);
        c.data = NULL;
    }
    *out = c;
    return TROVE_OK;
}

int trove_model_new(const trove_model_params *p, uint32_t n_user_features,
                    uint32_t n_item_features, trove_model **out,
                    trove_error *err)
{
    trove_model *m;
    int rc = trove_model_check_params(p, err);
    if (rc != TROVE_OK)
        return rc;
    m = trove_calloc(1, sizeof *m);
    if (m == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "model: out of memory");
    m->p = *p;
    m->dim = p->no_components;
    m->dp = (uint32_t)trove__model_dp(p->no_components);
    m->n_user_features = n_user_features;
    m->n_item_features = n_item_features;
    trove_rng_seed(&m->rng, p->seed);
    *out = m;
    return TROVE_OK;
}

void trove_model_free(trove_model *m)
{
    if (m == NULL)
        return;
    trove__model_table_free(&m->uid);
    trove__model_table_free(&m->ufeat);
    trove__model_table_free(&m->iid);
    trove__model_table_free(&m->ifeat);
    trove_csr_destroy(&m->ufm);
    trove_csr_destroy(&m->ifm);
    trove_aligned_free(m->item_repr);
    trove_free(m->item_repr_bias);
    trove_free(m->item_count);
    trove_idmap_free(m->user_ids);
    trove_idmap_free(m->item_ids);
    trove_idmap_free(m->ufeat_names);
    trove_idmap_free(m->ifeat_names);
    trove_free(m);
}

/* A CSR extended with empty rows up to n_rows and n_cols columns. */
static int csr_extend(const trove_csr *in, uint32_t n_rows, uint32_t n_cols,
                      trove_csr *out)
{
    trove_csr c;
    memset(&c, 0, sizeof c);
    c.n_rows = n_rows;
    c.n_cols = n_cols;
    c.nnz = in->nnz;
    c.indptr = trove_malloc(((size_t)n_rows + 1) * sizeof(uint64_t));
    if (c.indptr == NULL)
        goto nomem;
    for (uint32_t r = 0; r <= n_rows; r++)
        c.indptr[r] = r <= in->n_rows ? in->indptr[r] : in->nnz;
    if (in->nnz > 0) {
        c.indices = trove_malloc(in->nnz * sizeof(uint32_t));
        if (c.indices == NULL)
            goto nomem;
        memcpy(c.indices, in->indices, in->nnz * sizeof(uint32_t));
        if (in->data != NULL) {
            c.data = trove_malloc(in->nnz * sizeof(float));
            if (c.data == NULL)
                goto nomem;
            memcpy(c.data, in->data, in->nnz * sizeof(float));
        }
    }
    *out = c;
    return TROVE_OK;
nomem:
    trove_csr_destroy(&c);
    return TROVE_ENOMEM;
}

void trove__model_cold_fallback(trove_model *m)
{
    size_t dp = m->dp;
    uint64_t warm = 0;
    double bias_sum = 0.0;
    double *sum;

    if (m->p.item_cold_fallback != TROVE_COLD_MEAN || m->iid.rows == 0)
        return;
    sum = trove_calloc(dp, sizeof(double));
    if (sum == NULL) {
        trove_log(TROVE_LOG_WARN, "model: no memory for the cold-item fallback; skipped");
        return;
    }
    for (uint32_t i = 0; i < m->n_items; i++) {
        if (m->item_count[i] == 0)
            continue;
        const float *e = m->iid.emb + (size_t)i * dp;
        for (size_t j = 0; j < dp; j++)
            sum[j] += e[j];
        bias_sum += trove__meta(&m->iid, i)[TROVE__BIAS];
        warm++;
    }
    if (warm > 0) {
        for (uint32_t i = 0; i < m->n_items; i++) {
            if (m->item_count[i] != 0)
                continue;
            float *e = m->iid.emb + (size_t)i * dp;
            for (size_t j = 0; j < dp; j++)
                e[j] = (float)(sum[j] / (double)warm);
            trove__meta(&m->iid, i)[TROVE__BIAS] = (float)(bias_sum / (double)warm);
        }
    }
    trove_free(sum);
}

int trove_model_grow(trove_model *m, uint32_t n_users, uint32_t n_items,
                     uint32_t n_user_features, uint32_t n_item_features,
                     const trove_csr *user_features,
                     const trove_csr *item_features, trove_error *err)
{
    trove_model tmp;
    trove_csr ufm, ifm;
    uint32_t *count = NULL;
    uint32_t old_items = m->n_items;
    int rc = TROVE_OK;

    memset(&ufm, 0, sizeof ufm);
    memset(&ifm, 0, sizeof ifm);
    if (!m->shaped)
        return trove_error_set(err, TROVE_EINVAL,
                               "grow: the model has no users or items yet (fit it first)");
    if (n_users < m->n_users || n_items < m->n_items ||
        n_user_features < m->n_user_features || n_item_features < m->n_item_features)
        return trove_error_set(err, TROVE_EINVAL,
                               "grow: counts may not shrink (users %u->%u, items %u->%u, "
                               "user features %u->%u, item features %u->%u)",
                               m->n_users, n_users, m->n_items, n_items, m->n_user_features,
                               n_user_features, m->n_item_features, n_item_features);
    if (user_features != NULL &&
        (user_features->n_rows != n_users || user_features->n_cols != n_user_features))
        return trove_error_set(err, TROVE_EINVAL,
                               "grow: user_features is %u x %u, expected %u x %u",
                               user_features->n_rows, user_features->n_cols, n_users,
                               n_user_features);
    if (item_features != NULL &&
        (item_features->n_rows != n_items || item_features->n_cols != n_item_features))
        return trove_error_set(err, TROVE_EINVAL,
                               "grow: item_features is %u x %u, expected %u x %u",
                               item_features->n_rows, item_features->n_cols, n_items,
                               n_item_features);

    /* Build every new array first, then swap: a failure leaves the
     * parameters as they were (only the rng stream has advanced). */
    tmp = *m;
    memset(&tmp.uid, 0, sizeof tmp.uid);
    memset(&tmp.ufeat, 0, sizeof tmp.ufeat);
    memset(&tmp.iid, 0, sizeof tmp.iid);
    memset(&tmp.ifeat, 0, sizeof tmp.ifeat);
    if ((rc = trove__model_table_grown(m, &m->uid, m->p.user_identity ? n_users : 0, &tmp.uid)) != TROVE_OK ||
        (rc = trove__model_table_grown(m, &m->ufeat, n_user_features, &tmp.ufeat)) != TROVE_OK ||
        (rc = trove__model_table_grown(m, &m->iid, m->p.item_identity ? n_items : 0, &tmp.iid)) != TROVE_OK ||
        (rc = trove__model_table_grown(m, &m->ifeat, n_item_features, &tmp.ifeat)) != TROVE_OK)
        goto fail;
    if (user_features != NULL)
        rc = trove__model_csr_copy(user_features, &ufm, "user_features", err);
    else
        rc = csr_extend(&m->ufm, n_users, n_user_features, &ufm);
    if (rc != TROVE_OK)
        goto fail;
    if (item_features != NULL)
        rc = trove__model_csr_copy(item_features, &ifm, "item_features", err);
    else
        rc = csr_extend(&m->ifm, n_items, n_item_features, &ifm);
    if (rc != TROVE_OK)
        goto fail;
    count = trove_calloc(n_items ? n_items : 1, sizeof(uint32_t));
    if (count == NULL) {
        rc = TROVE_ENOMEM;
        goto fail;
    }
    if (old_items > 0)
        memcpy(count, m->item_count, old_items * sizeof(uint32_t));

    /* Commit. */
    trove__model_table_free(&m->uid);
    trove__model_table_free(&m->ufeat);
    trove__model_table_free(&m->iid);
    trove__model_table_free(&m->ifeat);
    m->uid = tmp.uid;
    m->ufeat = tmp.ufeat;
    m->iid = tmp.iid;
    m->ifeat = tmp.ifeat;
    trove_csr_destroy(&m->ufm);
    trove_csr_destroy(&m->ifm);
    m->ufm = ufm;
    m->ifm = ifm;
    trove_free(m->item_count);
    m->item_count = count;
    m->n_users = n_users;
    m->n_items = n_items;
    m->n_user_features = n_user_features;
    m->n_item_features = n_item_features;
    /* Id maps of the old shape no longer cover every row: the caller
     * attaches the grown ones with trove_model_set_ids. */
    {
        trove_idmap **maps[4] = {&m->user_ids, &m->item_ids, &m->ufeat_names, &m->ifeat_names};
        uint32_t want[4] = {n_users, n_items, n_user_features, n_item_features};
        for (int k = 0; k < 4; k++)
            if (*maps[k] != NULL && trove_idmap_size(*maps[k]) != want[k]) {
                trove_idmap_free(*maps[k]);
                *maps[k] = NULL;
            }
    }
    trove__model_cold_fallback(m);
    rc = trove__model_refresh(m);
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "grow: out of memory rebuilding item representations");
    return TROVE_OK;

fail:
    trove__model_table_free(&tmp.uid);
    trove__model_table_free(&tmp.ufeat);
    trove__model_table_free(&tmp.iid);
    trove__model_table_free(&tmp.ifeat);
    trove_csr_destroy(&ufm);
    trove_csr_destroy(&ifm);
    trove_free(count);
    if (rc == TROVE_ENOMEM)
        return trove_error_set(err, TROVE_ENOMEM, "grow: out of memory");
    return rc;
}

static int idmap_copy(const trove_idmap *in, trove_idmap **out)
{
    trove_idmap *c = trove_idmap_new();
    if (c == NULL)
        return TROVE_ENOMEM;
    for (uint32_t i = 0; i < trove_idmap_size(in); i++) {
        size_t len;
        uint32_t idx;
        const char *name = trove_idmap_name(in, i, &len);
        int rc = trove_idmap_intern(c, name, len, &idx, NULL);
        if (rc != TROVE_OK) {
            trove_idmap_free(c);
            return rc;
        }
    }
    *out = c;
    return TROVE_OK;
}

int trove_model_set_ids(trove_model *m, const trove_idmap *users,
                        const trove_idmap *items,
                        const trove_idmap *user_feature_names,
                        const trove_idmap *item_feature_names,
                        trove_error *err)
{
    const trove_idmap *in[4] = {users, items, user_feature_names, item_feature_names};
    trove_idmap **slot[4] = {&m->user_ids, &m->item_ids, &m->ufeat_names, &m->ifeat_names};
    uint32_t want[4] = {m->n_users, m->n_items, m->n_user_features, m->n_item_features};
    static const char *const what[4] = {"user ids", "item ids", "user feature names",
                                        "item feature names"};
    trove_idmap *copy[4] = {NULL, NULL, NULL, NULL};
    int rc = TROVE_OK;

    for (int k = 0; k < 4; k++) {
        if (in[k] == NULL)
            continue;
        if ((k < 2 && !m->shaped) || trove_idmap_size(in[k]) != want[k]) {
            rc = trove_error_set(err, TROVE_EINVAL, "set_ids: %s has %u entries, the model %u",
                                 what[k], trove_idmap_size(in[k]), want[k]);
            goto fail;
        }
        if (idmap_copy(in[k], &copy[k]) != TROVE_OK) {
            rc = trove_error_set(err, TROVE_ENOMEM, "set_ids: out of memory");
            goto fail;
        }
    }
    for (int k = 0; k < 4; k++)
        if (copy[k] != NULL) {
            trove_idmap_free(*slot[k]);
            *slot[k] = copy[k];
        }
    return TROVE_OK;
fail:
    for (int k = 0; k < 4; k++)
        trove_idmap_free(copy[k]);
    return rc;
}

const trove_idmap *trove_model_user_ids(const trove_model *m) { return m->user_ids; }
const trove_idmap *trove_model_item_ids(const trove_model *m) { return m->item_ids; }
const trove_idmap *trove_model_user_feature_names(const trove_model *m) { return m->ufeat_names; }
const trove_idmap *trove_model_item_feature_names(const trove_model *m) { return m->ifeat_names; }
uint32_t trove_model_n_users(const trove_model *m) { return m->n_users; }
uint32_t trove_model_n_items(const trove_model *m) { return m->n_items; }
uint32_t trove_model_n_user_features(const trove_model *m) { return m->n_user_features; }
uint32_t trove_model_n_item_features(const trove_model *m) { return m->n_item_features; }
uint32_t trove_model_dim(const trove_model *m) { return m->dim; }
const trove_model_params *trove_model_params_of(const trove_model *m) { return &m->p; }
uint64_t trove_model_epochs_trained(const trove_model *m) { return m->epochs_done; }
uint64_t trove_model_data_fingerprint(const trove_model *m) { return m->fingerprint; }

uint32_t trove_model_item_count(const trove_model *m, uint32_t item)
{
    if (!m->shaped || item >= m->n_items)
        return 0;
    return m->item_count[item];
}

/* Row r of a factor table whose first non-finite value is reported, or
 * UINT32_MAX when every value is finite. */
static uint32_t first_bad_row(const float *f, uint32_t rows, size_t stride, uint32_t dim)
{
    for (uint32_t r = 0; r < rows; r++) {
        const float *x = f + (size_t)r * stride;
        for (uint32_t j = 0; j < dim; j++)
            if (!isfinite(x[j]))
                return r;
    }
    return UINT32_MAX;
}

/* The identity tables take the factors as their embeddings: the tables
 * are allocated as a fit would (optimiser state at its start, so that
 * fit_partial can continue), then every row is overwritten with its
 * factor and the zero padding kept; the biases stay at zero. */
int trove_model_from_factors(const trove_model_factors *f, trove_model **out,
                             trove_error *err)
{
    trove_model_params p;
    trove_model *m = NULL;
    size_t us, is;
    uint32_t bad;
    int rc;

    if (f == NULL || out == NULL || f->user_f == NULL || f->item_f == NULL)
        return trove_error_set(err, TROVE_EINVAL, "from_factors: missing argument");
    if (f->dim < 1 || f->dim > TROVE__MODEL_MAX_DIM)
        return trove_error_set(err, TROVE_EINVAL, "from_factors: dim must be in 1..%d, got %u",
                               TROVE__MODEL_MAX_DIM, f->dim);
    if (f->n_users == 0 || f->n_items == 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "from_factors: %u users x %u items (both must be >= 1)",
                               f->n_users, f->n_items);
    us = f->user_stride != 0 ? f->user_stride : f->dim;
    is = f->item_stride != 0 ? f->item_stride : f->dim;
    if (us < f->dim || is < f->dim)
        return trove_error_set(err, TROVE_EINVAL,
                               "from_factors: strides (users %zu, items %zu) must be >= dim %u",
                               us, is, f->dim);
    if ((bad = first_bad_row(f->user_f, f->n_users, us, f->dim)) != UINT32_MAX)
        return trove_error_set(err, TROVE_EINVAL,
                               "from_factors: user %u has a factor that is not finite", bad);
    if ((bad = first_bad_row(f->item_f, f->n_items, is, f->dim)) != UINT32_MAX)
        return trove_error_set(err, TROVE_EINVAL,
                               "from_factors: item %u has a factor that is not finite", bad);
    if (f->params != NULL) {
        p = *f->params;
        if (p.no_components != f->dim)
            return trove_error_set(err, TROVE_EINVAL,
                                   "from_factors: params.no_components is %u, the factors "
                                   "have dim %u", p.no_components, f->dim);
        if (p.user_identity != 1 || p.item_identity != 1)
            return trove_error_set(err, TROVE_EINVAL,
                                   "from_factors: the factors are identity embeddings "
                                   "(user_identity and item_identity must be 1)");
    } else {
        p = trove_model_default_params();
        p.no_components = f->dim;
    }
    if ((rc = trove_model_new(&p, 0, 0, &m, err)) != TROVE_OK)
        return rc;
    m->n_users = f->n_users;
    m->n_items = f->n_items;
    if ((rc = trove__model_table_resize(m, &m->uid, f->n_users)) != TROVE_OK ||
        (rc = trove__model_table_resize(m, &m->iid, f->n_items)) != TROVE_OK ||
        (rc = trove__model_csr_empty(f->n_users, 0, &m->ufm)) != TROVE_OK ||
        (rc = trove__model_csr_empty(f->n_items, 0, &m->ifm)) != TROVE_OK)
        goto fail;
    m->item_count = trove_calloc(f->n_items, sizeof(uint32_t));
    if (m->item_count == NULL) {
        rc = TROVE_ENOMEM;
        goto fail;
    }
    if (f->item_counts != NULL)
        memcpy(m->item_count, f->item_counts, (size_t)f->n_items * sizeof(uint32_t));
    for (uint32_t u = 0; u < f->n_users; u++)
        memcpy(m->uid.emb + (size_t)u * m->dp, f->user_f + (size_t)u * us,
               f->dim * sizeof(float));
    for (uint32_t i = 0; i < f->n_items; i++)
        memcpy(m->iid.emb + (size_t)i * m->dp, f->item_f + (size_t)i * is,
               f->dim * sizeof(float));
    m->shaped = 1;
    m->trained = 1;
    if ((rc = trove__model_refresh(m)) != TROVE_OK)
        goto fail;
    *out = m;
    return TROVE_OK;
fail:
    trove_model_free(m);
    return trove_error_set(err, rc, "from_factors: out of memory (%u users x %u items, dim %u)",
                           f->n_users, f->n_items, f->dim);
}
