/*
 * ease.c - EASE closed-form item-item model (Steck 2019; see trove/ease.h).
 *
 * Fitting, in one n_items^2 float32 buffer:
 *   1. G = X^T X, row i accumulated as sum_{u in users(i)} w_ui X[u,:] from
 *      the item-major transpose, threads owning disjoint rows of G;
 *   2. G += lambda I; Cholesky G = L L^T (LAPACK spotrf) - a non-positive
 *      pivot, or a pivot ratio min L_ii^2 / max L_ii^2 below MIN_PIVOT_RATIO
 *      (the system is too ill-conditioned for float32), is refused;
 *   3. P = G^-1 from the factor (spotri), in place;
 *   4. B_ij = -P_ij / P_jj, B_jj = 0 (Steck 2019, eq. 8), in place.
 * Invariants of a fitted model: B has a zero diagonal and only finite values;
 * `train` is a private copy with data allocated.
 */
#include "trove/ease.h"

#include "core/file.h"
#include "core/threads.h"
#include "factor/factor_int.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define EASE_MAGIC "TROVEASE"
#define EASE_VERSION 1u
#define EASE_HEADER_BYTES 32u
#define MIN_PIVOT_RATIO 1e-6
#define USER_CHUNK 16u

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define TROVE_EASE_CLONES \
    __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define TROVE_EASE_CLONES
#endif

struct trove_ease {
    uint32_t n_users, n_items;
    float lambda;
    float *b;            /* n_items x n_items, row-major, aligned */
    trove_csr train;     /* copy of the training interactions */
};

trove_ease_params trove_ease_default_params(void)
{
    trove_ease_params p;
    memset(&p, 0, sizeof p);
    p.lambda = 500.0f;
    p.max_items = TROVE_EASE_DEFAULT_MAX_ITEMS;
    p.threads = 1;
    return p;
}

int trove_ease_check_params(const trove_ease_params *p, trove_error *err)
{
    if (p == NULL)
        return trove_error_set(err, TROVE_EINVAL, "ease: params is NULL");
    if (!(p->lambda >= 0.0f) || !isfinite(p->lambda))
        return trove_error_set(err, TROVE_EINVAL,
                               "ease: lambda must be >= 0 and finite (got %g)",
                               (double)p->lambda);
    if (p->max_items == 0)
        return trove_error_set(err, TROVE_EINVAL, "ease: max_items must be > 0");
    return TROVE_OK;
}

static int check_size(uint32_t n_items, uint32_t max_items, const char *where,
                      trove_error *err)
{
    if (n_items <= max_items)
        return TROVE_OK;
    double gb = 2.0 * (double)n_items * n_items * 4.0 / 1e9;
    return trove_error_set(err, TROVE_ERANGE,
                           "%s: %u items is above the EASE limit of %u: the dense "
                           "%u x %u weight matrix needs about %.1f GB at peak; raise "
                           "max_items if the memory is there, or use iALS",
                           where, n_items, max_items, n_items, n_items, gb);
}

void trove_ease_free(trove_ease *m)
{
    if (m == NULL)
        return;
    trove_aligned_free(m->b);
    trove_csr_destroy(&m->train);
    trove_free(m);
}

/* y += a x over n floats, 16 at a time through a GCC vector type (rows of
 * B are not 64-byte aligned, so chunks are moved with memcpy, which
 * compiles to unaligned vector loads and stores), then a scalar tail. */
typedef float ease_v16 __attribute__((vector_size(64)));

static inline void row_axpy(float a, const float *restrict x, float *restrict y, size_t n)
{
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        ease_v16 xv, yv;
        memcpy(&xv, x + k, sizeof xv);
        memcpy(&yv, y + k, sizeof yv);
        yv += a * xv;
        memcpy(y + k, &yv, sizeof yv);
    }
    for (; k < n; k++)
        y[k] += a * x[k];
}

typedef struct gram_ctx {
    const trove_csr *x;      /* users x items */
    const trove_csr *xt;     /* items x users */
    float *g;
    atomic_uint next;
} gram_ctx;

TROVE_EASE_CLONES
static void gram_rows(const trove_csr *x, const trove_csr *xt, float *g, uint32_t i)
{
    const size_t n = x->n_cols;
    float *gi = g + (size_t)i * n;
    for (uint64_t a = xt->indptr[i]; a < xt->indptr[i + 1]; a++) {
        uint32_t u = xt->indices[a];
        float wu = xt->data[a];
        for (uint64_t j = x->indptr[u]; j < x->indptr[u + 1]; j++)
            gi[x->indices[j]] += wu * x->data[j];
    }
}

static void gram_worker(void *arg, uint32_t t)
{
    gram_ctx *c = arg;
    (void)t;
    for (;;) {
        uint32_t i = atomic_fetch_add(&c->next, 1u);
        if (i >= c->x->n_cols)
            break;
        gram_rows(c->x, c->xt, c->g, i);
    }
}

int trove_ease_fit(const trove_csr *interactions, const trove_ease_params *params,
                   trove_ease **out, trove_error *err)
{
    trove_ease *m = NULL;
    trove_csr xt;
    int rc;
    memset(&xt, 0, sizeof xt);
    rc = trove_ease_check_params(params, err);
    if (rc != TROVE_OK)
        return rc;
    rc = trove__factor_check_csr(interactions, "ease: interactions", err);
    if (rc != TROVE_OK)
        return rc;
    rc = check_size(interactions->n_cols, params->max_items, "ease", err);
    if (rc != TROVE_OK)
        return rc;
    const uint32_t n = interactions->n_cols;
    const uint32_t n_threads = trove__threads_count(params->threads);

    m = trove_calloc(1, sizeof *m);
    if (m == NULL)
        goto fail_nomem;
    m->n_users = interactions->n_rows;
    m->n_items = n;
    m->lambda = params->lambda;
    if (trove_csr_copy(interactions, &m->train, NULL) != TROVE_OK ||
        trove_csr_transpose(&m->train, &xt, NULL) != TROVE_OK)
        goto fail_nomem;
    m->b = trove_aligned_alloc(64, (size_t)n * n * sizeof *m->b);
    if (m->b == NULL)
        goto fail_nomem;
    memset(m->b, 0, (size_t)n * n * sizeof *m->b);

    gram_ctx gc = {.x = &m->train, .xt = &xt, .g = m->b};
    atomic_store(&gc.next, 0u);
    trove__parallel_for(n_threads, gram_worker, &gc);
    for (size_t i = 0; i < n; i++)
        m->b[i * n + i] += params->lambda;

    double ratio = 0.0;
    trove__linalg_set_threads((int)n_threads);
    int info = trove__linalg_spd_inverse(n, m->b, n, MIN_PIVOT_RATIO, &ratio);
    trove__linalg_single_thread();
    if (info > 0) {
        rc = trove_error_set(err, TROVE_ERANGE,
                             "ease: X^T X + lambda I is not positive definite (Cholesky "
                             "pivot %d of %u, lambda %g): raise lambda (items without "
                             "interactions, or fewer users than items, make X^T X "
                             "singular)",
                             info, n, (double)params->lambda);
        goto fail;
    }
    if (info == -2) {
        rc = trove_error_set(err, TROVE_ERANGE,
                             "ease: X^T X + lambda I is too ill-conditioned for float32 "
                             "(pivot ratio %.3g < %g, lambda %g); raise lambda",
                             ratio, MIN_PIVOT_RATIO, (double)params->lambda);
        goto fail;
    }
    if (info != 0) {
        rc = trove_error_set(err, TROVE_ERANGE,
                             "ease: inverse of X^T X + lambda I is singular (lambda %g); "
                             "raise lambda", (double)params->lambda);
        goto fail;
    }
    /* B = I - P diag(1/diag(P)): scale column j by -1/P_jj, zero diagonal. */
    for (size_t j = 0; j < n; j++) {
        float d = m->b[j * n + j];
        if (!(d > 0.0f) || !isfinite(d)) {
            rc = trove_error_set(err, TROVE_ERANGE,
                                 "ease: diagonal of the inverse is %g at item %zu "
                                 "(numerically singular); raise lambda", (double)d, j);
            goto fail;
        }
    }
    {
        /* The scales are read before any row is rewritten. */
        float *scale = trove_malloc((size_t)n * sizeof *scale);
        if (scale == NULL)
            goto fail_nomem;
        for (size_t j = 0; j < n; j++)
            scale[j] = -1.0f / m->b[j * n + j];
        for (size_t i = 0; i < n; i++) {
            float *row = m->b + i * n;
            for (size_t j = 0; j < n; j++)
                row[j] *= scale[j];
            row[i] = 0.0f;
        }
        trove_free(scale);
    }
    for (size_t i = 0; i < (size_t)n * n; i++)
        if (!isfinite(m->b[i])) {
            rc = trove_error_set(err, TROVE_ERANGE,
                                 "ease: non-finite weight (numerically singular); raise "
                                 "lambda");
            goto fail;
        }
    trove_csr_destroy(&xt);
    *out = m;
    return TROVE_OK;

fail_nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "ease: out of memory fitting %u items", n);
fail:
    trove_csr_destroy(&xt);
    trove_ease_free(m);
    return rc;
}

uint32_t trove_ease_n_users(const trove_ease *m) { return m->n_users; }
uint32_t trove_ease_n_items(const trove_ease *m) { return m->n_items; }
float trove_ease_lambda(const trove_ease *m) { return m->lambda; }
const float *trove_ease_weights(const trove_ease *m) { return m->b; }
const trove_csr *trove_ease_interactions(const trove_ease *m) { return &m->train; }

TROVE_EASE_CLONES
static void score_history(const float *b, size_t n, const uint32_t *items,
                          const float *weights, size_t count, float *scores)
{
    memset(scores, 0, n * sizeof *scores);
    for (size_t j = 0; j < count; j++)
        row_axpy(weights ? weights[j] : 1.0f, b + (size_t)items[j] * n, scores, n);
}

int trove_ease_score_user(const trove_ease *m, uint32_t user, float *scores,
                          trove_error *err)
{
    if (m == NULL || scores == NULL)
        return trove_error_set(err, TROVE_EINVAL, "ease score: NULL argument");
    if (user >= m->n_users)
        return trove_error_set(err, TROVE_EINVAL,
                               "ease score: user %u out of range (%u users)", user,
                               m->n_users);
    uint64_t b = m->train.indptr[user];
    score_history(m->b, m->n_items, m->train.indices + b, m->train.data + b,
                  (size_t)(m->train.indptr[user + 1] - b), scores);
    return TROVE_OK;
}

int trove_ease_score_items(const trove_ease *m, const uint32_t *items,
                           const float *weights, size_t n, float *scores,
                           trove_error *err)
{
    if (m == NULL || scores == NULL || (n > 0 && items == NULL))
        return trove_error_set(err, TROVE_EINVAL, "ease score: NULL argument");
    for (size_t j = 0; j < n; j++)
        if (items[j] >= m->n_items)
            return trove_error_set(err, TROVE_EINVAL,
                                   "ease score: item %u (position %zu) out of range "
                                   "(%u items)", items[j], j, m->n_items);
    score_history(m->b, m->n_items, items, weights, n, scores);
    return TROVE_OK;
}

static void score_block(const void *model, uint32_t u0, uint32_t nb, float *buf)
{
    const trove_ease *m = model;
    for (uint32_t b = 0; b < nb; b++) {
        uint64_t s0 = m->train.indptr[u0 + b];
        score_history(m->b, m->n_items, m->train.indices + s0, m->train.data + s0,
                      (size_t)(m->train.indptr[u0 + b + 1] - s0), buf + (size_t)b * m->n_items);
    }
}

int trove_ease_recommend_all(const trove_ease *m, const trove_csr *exclude, uint32_t k,
                             uint32_t threads, uint32_t *items, float *scores,
                             trove_error *err)
{
    return trove__factor_recommend_all("ease recommend", m, m ? m->n_users : 0,
                                       m ? m->n_items : 0, USER_CHUNK, score_block,
                                       exclude, k, threads, items, scores, err);
}

/* ---------------------------------------------------------------- files */
/* Header (32 bytes): magic[8] version n_users n_items lambda(f32) nnz(u64);
 * then B (n_items^2 float32, row-major), indptr (n_users+1 u64), indices
 * (nnz u32), data (nnz f32), then a u64 checksum of everything before it. */
static int ease_file_size(uint64_t n_users, uint64_t n_items, uint64_t nnz, size_t *size)
{
    if (n_users > UINT32_MAX || n_items > UINT32_MAX || nnz > (UINT64_C(1) << 40))
        return -1;
    uint64_t s = EASE_HEADER_BYTES + n_items * n_items * 4 + (n_users + 1) * 8 +
                 nnz * 8 + 8;
    if (s > SIZE_MAX)
        return -1;
    *size = (size_t)s;
    return 0;
}

int trove_ease_save_buffer(const trove_ease *m, unsigned char **bytes, size_t *len_out,
                           trove_error *err)
{
    size_t len;
    if (ease_file_size(m->n_users, m->n_items, m->train.nnz, &len) != 0)
        return trove_error_set(err, TROVE_ERANGE, "model too large to save");
    unsigned char *buf = trove_malloc(len);
    if (buf == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "out of memory saving the model");
    trove__bytes b = {buf, len, 0, 0};
    trove__bytes_put(&b, EASE_MAGIC, 8);
    trove__bytes_put_u32(&b, EASE_VERSION);
    trove__bytes_put_u32(&b, m->n_users);
    trove__bytes_put_u32(&b, m->n_items);
    trove__bytes_put_f32(&b, m->lambda);
    trove__bytes_put_u64(&b, m->train.nnz);
    trove__bytes_put(&b, m->b, (size_t)m->n_items * m->n_items * 4);
    trove__bytes_put(&b, m->train.indptr, ((size_t)m->n_users + 1) * 8);
    trove__bytes_put(&b, m->train.indices, (size_t)m->train.nnz * 4);
    trove__bytes_put(&b, m->train.data, (size_t)m->train.nnz * 4);
    trove__bytes_put_u64(&b, trove__factor_checksum(buf, b.pos));
    TROVE__FACTOR_ASSERT(!b.bad && b.pos == len);
    *bytes = buf;
    *len_out = b.pos;
    return TROVE_OK;
}

int trove_ease_save(const trove_ease *m, const char *path, trove_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = trove_ease_save_buffer(m, &buf, &len, err);
    return trove__file_save_encoded(path, rc, buf, len, err);
}

int trove_ease_load_buffer(const unsigned char *buf, size_t len, const char *name,
                           uint32_t max_items, trove_ease **out, trove_error *err)
{
    const char *path = name != NULL ? name : "model";
    int rc = TROVE_OK;
    size_t want = 0;
    trove_ease *m = NULL;
    trove__bytes b = {(unsigned char *)buf, len, 0, 0}; /* only read */
    char magic[8];
    trove__bytes_get(&b, magic, 8);
    if (b.bad || memcmp(magic, EASE_MAGIC, 8) != 0) {
        rc = trove_error_set(err, TROVE_EFORMAT, "%s: not an EASE model file", path);
        goto done;
    }
    uint32_t version = trove__bytes_get_u32(&b);
    if (version != EASE_VERSION) {
        rc = trove_error_set(err, b.bad ? TROVE_ECORRUPT : TROVE_EVERSION,
                             "%s: EASE model version %u, this build reads %u", path,
                             version, EASE_VERSION);
        goto done;
    }
    uint32_t n_users = trove__bytes_get_u32(&b);
    uint32_t n_items = trove__bytes_get_u32(&b);
    float lambda = trove__bytes_get_f32(&b);
    uint64_t nnz = trove__bytes_get_u64(&b);
    if (b.bad || n_users == 0 || n_items == 0 ||
        ease_file_size(n_users, n_items, nnz, &want) != 0 || want != len) {
        rc = trove_error_set(err, TROVE_ECORRUPT,
                             "%s: truncated or inconsistent EASE file (%zu bytes, header "
                             "says %u users x %u items, %llu interactions)",
                             path, len, n_users, n_items, (unsigned long long)nnz);
        goto done;
    }
    rc = check_size(n_items, max_items ? max_items : TROVE_EASE_DEFAULT_MAX_ITEMS, path,
                    err);
    if (rc != TROVE_OK)
        goto done;
    uint64_t stored;
    memcpy(&stored, buf + len - 8, 8);
    if (stored != trove__factor_checksum(buf, len - 8)) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: checksum mismatch", path);
        goto done;
    }
    m = trove_calloc(1, sizeof *m);
    if (m == NULL)
        goto nomem;
    m->n_users = n_users;
    m->n_items = n_items;
    m->lambda = lambda;
    m->b = trove_aligned_alloc(64, (size_t)n_items * n_items * 4);
    m->train.indptr = trove_malloc(((size_t)n_users + 1) * 8);
    m->train.indices = trove_malloc((nnz ? (size_t)nnz : 1) * 4);
    m->train.data = trove_malloc((nnz ? (size_t)nnz : 1) * 4);
    if (m->b == NULL || m->train.indptr == NULL || m->train.indices == NULL ||
        m->train.data == NULL)
        goto nomem;
    m->train.n_rows = n_users;
    m->train.n_cols = n_items;
    m->train.nnz = nnz;
    trove__bytes_get(&b, m->b, (size_t)n_items * n_items * 4);
    trove__bytes_get(&b, m->train.indptr, ((size_t)n_users + 1) * 8);
    trove__bytes_get(&b, m->train.indices, (size_t)nnz * 4);
    trove__bytes_get(&b, m->train.data, (size_t)nnz * 4);
    for (size_t i = 0; i < (size_t)n_items * n_items; i++)
        if (!isfinite(m->b[i]) || (i % ((size_t)n_items + 1) == 0 && m->b[i] != 0.0f)) {
            rc = trove_error_set(err, TROVE_ECORRUPT,
                                 "%s: weight %zu is non-finite or a non-zero diagonal",
                                 path, i);
            goto done;
        }
    if (!(lambda >= 0.0f) || !isfinite(lambda)) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: invalid lambda", path);
        goto done;
    }
    rc = trove__factor_check_csr(&m->train, path, err);
    if (rc != TROVE_OK) {
        rc = TROVE_ECORRUPT;
        if (err != NULL)
            err->code = rc;
        goto done;
    }
    *out = m;
    m = NULL;
    goto done;
nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory loading model", path);
done:
    trove_ease_free(m);
    return rc;
}

int trove_ease_load(const char *path, uint32_t max_items, trove_ease **out,
                    trove_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = trove__file_read_all(path, SIZE_MAX, &buf, &len, err);
    if (rc != TROVE_OK)
        return rc;
    rc = trove_ease_load_buffer(buf, len, path, max_items, out, err);
    trove_free(buf);
    return rc;
}
