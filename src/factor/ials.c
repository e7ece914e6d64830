/*
 * ials.c - implicit alternating least squares (see trove/ials.h for the
 * model, the papers and the public contract).
 *
 * Layout and invariants:
 *   - user and item factor tables are 64-byte aligned blocks of rows with
 *     stride ld = factors rounded up to 16 floats; the padding columns are
 *     zero and stay zero (their right-hand side and Gram entries are zero,
 *     so neither CG nor Cholesky ever moves them);
 *   - one sweep solves every row of one side with the other side fixed; the
 *     fixed side's Gram matrix G = Y^T Y is computed once per sweep (SYRK);
 *   - rows are independent within a sweep and each row's solve depends only
 *     on its own previous value and the fixed side, so the result does not
 *     depend on the number of threads or on which thread solves a row;
 *   - threads pull chunks of rows from an atomic counter and use their own
 *     scratch; OpenBLAS itself runs single-threaded.
 *
 * Per row u with observed items I_u (weights r, confidence slope alpha):
 *     A_u = G + lambda_u I + sum_{i in I_u} alpha r_ui y_i y_i^T
 *     b_u = sum_{i in I_u} (1 + alpha r_ui) y_i
 * (Hu et al. 2008, eq. 4, with Y^T C_u Y = Y^T Y + Y^T (C_u - I) Y). The CG
 * solver (Takacs et al. 2011) never forms A_u: a product A_u v costs G v
 * (f^2) plus two passes over the row's item factors.
 *
 * The dense per-row loops work on 16-float chunks written with GCC vector
 * types (no intrinsics); the row solvers are built for the baseline x86-64
 * ISA and for x86-64-v3 / v4 (AVX2+FMA / AVX-512), the variant being chosen
 * once by the dynamic loader (ifunc).
 */
#include "trove/ials.h"

#include "core/file.h"
#include "core/threads.h"
#include "factor/factor_int.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define LANES TROVE__FACTOR_LANES
#define ROW_CHUNK 32u
#define USER_BLOCK 64u
#define IALS_MAGIC "TROVIALS"
#define IALS_VERSION 1u
#define IALS_HEADER_BYTES 72u

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define TROVE_IALS_CLONES \
    __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define TROVE_IALS_CLONES
#endif

struct trove_ials {
    uint32_t n_users, n_items, factors, ld;
    float *user_f;               /* n_users x ld, aligned */
    float *item_f;               /* n_items x ld, aligned */
    trove_ials_params params;    /* callback fields cleared */
};

trove_ials_params trove_ials_default_params(void)
{
    trove_ials_params p;
    memset(&p, 0, sizeof p);
    p.factors = 64;
    p.regularization = 0.1f;
    p.alpha = 10.0f;
    p.iterations = 15;
    p.cg_steps = 3;
    p.solver = TROVE_IALS_SOLVER_CG;
    p.reg_scaling = TROVE_IALS_REG_NONE;
    p.reg_exponent = 1.0f;
    p.init_scale = 0.01f;
    p.seed = 42;
    p.threads = 1;
    return p;
}

int trove_ials_check_params(const trove_ials_params *p, trove_error *err)
{
    if (p == NULL)
        return trove_error_set(err, TROVE_EINVAL, "ials: params is NULL");
    if (p->factors < 1 || p->factors > 1024)
        return trove_error_set(err, TROVE_EINVAL,
                               "ials: factors must be in 1..1024 (got %u)", p->factors);
    if (!(p->regularization > 0.0f) || !isfinite(p->regularization))
        return trove_error_set(err, TROVE_EINVAL,
                               "ials: regularization must be > 0 and finite (got %g); "
                               "without it the least-squares systems can be singular",
                               (double)p->regularization);
    if (!(p->alpha >= 0.0f) || !isfinite(p->alpha))
        return trove_error_set(err, TROVE_EINVAL,
                               "ials: alpha must be >= 0 and finite (got %g)",
                               (double)p->alpha);
    if (p->iterations < 1)
        return trove_error_set(err, TROVE_EINVAL, "ials: iterations must be >= 1");
    if (p->solver != TROVE_IALS_SOLVER_CG && p->solver != TROVE_IALS_SOLVER_CHOLESKY)
        return trove_error_set(err, TROVE_EINVAL,
                               "ials: solver must be cg (0) or cholesky (1) (got %d)",
                               p->solver);
    if (p->solver == TROVE_IALS_SOLVER_CG && p->cg_steps < 1)
        return trove_error_set(err, TROVE_EINVAL, "ials: cg_steps must be >= 1");
    if (p->reg_scaling != TROVE_IALS_REG_NONE &&
        p->reg_scaling != TROVE_IALS_REG_FREQUENCY)
        return trove_error_set(err, TROVE_EINVAL,
                               "ials: reg_scaling must be none (0) or frequency (1) "
                               "(got %d)", p->reg_scaling);
    if (!(p->reg_exponent >= 0.0f && p->reg_exponent <= 2.0f))
        return trove_error_set(err, TROVE_EINVAL,
                               "ials: reg_exponent must be in [0, 2] (got %g)",
                               (double)p->reg_exponent);
    if (!(p->init_scale > 0.0f) || !isfinite(p->init_scale))
        return trove_error_set(err, TROVE_EINVAL,
                               "ials: init_scale must be > 0 and finite (got %g)",
                               (double)p->init_scale);
    return TROVE_OK;
}

/* ------------------------------------------------------ dense row kernels */
/* One 64-byte row chunk as a GCC vector: compiled to one AVX-512 register,
 * two AVX2 or four SSE registers depending on the clone. Every pointer
 * passed here is 64-byte aligned (tables, Gram and scratch are aligned
 * blocks whose row stride is a multiple of 16 floats). */
typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

static inline float hsum(const v16 *pa)
{
    v16 a = *pa;
    v8 h = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
           __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    return (q[0] + q[2]) + (q[1] + q[3]);
}

static inline float vdot(const float *a, const float *b, uint32_t ld)
{
    v16 acc = {0};
    for (uint32_t k = 0; k < ld; k += LANES)
        acc += *(const v16 *)(a + k) * *(const v16 *)(b + k);
    return hsum(&acc);
}

static inline void vaxpy(float a, const float *x, float *y, uint32_t ld)
{
    for (uint32_t k = 0; k < ld; k += LANES)
        *(v16 *)(y + k) += a * *(const v16 *)(x + k);
}

/* out = G v + lambda v; G symmetric (f x f in stride ld), so the product is
 * accumulated row by row as axpys. */
static inline void gram_mv(const float *g, const float *v, float lambda, uint32_t f,
                           uint32_t ld, float *out)
{
    for (uint32_t k = 0; k < ld; k += LANES)
        *(v16 *)(out + k) = lambda * *(const v16 *)(v + k);
    for (uint32_t j = 0; j < f; j++)
        vaxpy(v[j], g + (size_t)j * ld, out, ld);
}

/* Warm-started CG on A x = b for one row; x is updated in place. This is
 * the general form for any stride: vectors live in memory (r, p, ap are the
 * thread's scratch). */
static inline void cg_any(const float *y, uint32_t ld, uint32_t f, const float *g,
                          const uint32_t *idx, const float *w, uint64_t n, float alpha,
                          float lambda, uint32_t steps, float *x, float *r, float *p,
                          float *ap)
{
    /* r = b - A x in one pass over the row's items. */
    gram_mv(g, x, lambda, f, ld, r);
    for (uint32_t k = 0; k < ld; k += LANES)
        *(v16 *)(r + k) = -*(v16 *)(r + k);
    for (uint64_t j = 0; j < n; j++) {
        const float *yi = y + (size_t)idx[j] * ld;
        float c = alpha * (w ? w[j] : 1.0f);
        float t = (1.0f + c) - c * vdot(yi, x, ld);
        vaxpy(t, yi, r, ld);
    }
    memcpy(p, r, (size_t)ld * sizeof *p);
    float rs = vdot(r, r, ld);
    for (uint32_t s = 0; s < steps && rs > 1e-20f; s++) {
        gram_mv(g, p, lambda, f, ld, ap);
        for (uint64_t j = 0; j < n; j++) {
            const float *yi = y + (size_t)idx[j] * ld;
            float c = alpha * (w ? w[j] : 1.0f);
            vaxpy(c * vdot(yi, p, ld), yi, ap, ld);
        }
        float pap = vdot(p, ap, ld);
        if (!(pap > 0.0f))
            break;
        float a = rs / pap;
        vaxpy(a, p, x, ld);
        vaxpy(-a, ap, r, ld);
        float rs_new = vdot(r, r, ld);
        float beta = rs_new / rs;
        for (uint32_t k = 0; k < ld; k += LANES)
            *(v16 *)(p + k) = *(v16 *)(r + k) + beta * *(v16 *)(p + k);
        rs = rs_new;
    }
}

/* The same algorithm with the stride fixed at NB chunks of 16 floats, so
 * that x, r, p and A p stay in vector registers across the passes over the
 * row's items (the general form reloads and stores its accumulator for every
 * item). Instantiated for NB = 1..8 (f <= 128). */
static inline __attribute__((always_inline)) void
cg_fixed(const float *y, uint32_t f, const float *g, const uint32_t *idx, const float *w,
         uint64_t n, float alpha, float lambda, uint32_t steps, float *x, const uint32_t NB)
{
    const uint32_t ld = NB * LANES;
    v16 xv[8], rv[8], pv[8], av[8];
    for (uint32_t b = 0; b < NB; b++) {
        xv[b] = *(const v16 *)(x + b * LANES);
        rv[b] = -lambda * xv[b];
    }
    for (uint32_t j = 0; j < f; j++)
        for (uint32_t b = 0; b < NB; b++)
            rv[b] -= x[j] * *(const v16 *)(g + (size_t)j * ld + b * LANES);
    for (uint64_t j = 0; j < n; j++) {
        const float *yi = y + (size_t)idx[j] * ld;
        float c = alpha * (w ? w[j] : 1.0f);
        v16 d = {0};
        for (uint32_t b = 0; b < NB; b++)
            d += *(const v16 *)(yi + b * LANES) * xv[b];
        float t = (1.0f + c) - c * hsum(&d);
        for (uint32_t b = 0; b < NB; b++)
            rv[b] += t * *(const v16 *)(yi + b * LANES);
    }
    v16 acc = {0};
    for (uint32_t b = 0; b < NB; b++) {
        pv[b] = rv[b];
        acc += rv[b] * rv[b];
    }
    float rs = hsum(&acc);
    for (uint32_t s = 0; s < steps && rs > 1e-20f; s++) {
        for (uint32_t b = 0; b < NB; b++)
            av[b] = lambda * pv[b];
        for (uint32_t j = 0; j < f; j++) {
            float pj = pv[j / LANES][j % LANES];
            for (uint32_t b = 0; b < NB; b++)
                av[b] += pj * *(const v16 *)(g + (size_t)j * ld + b * LANES);
        }
        for (uint64_t j = 0; j < n; j++) {
            const float *yi = y + (size_t)idx[j] * ld;
            float c = alpha * (w ? w[j] : 1.0f);
            v16 d = {0};
            for (uint32_t b = 0; b < NB; b++)
                d += *(const v16 *)(yi + b * LANES) * pv[b];
            float t = c * hsum(&d);
            for (uint32_t b = 0; b < NB; b++)
                av[b] += t * *(const v16 *)(yi + b * LANES);
        }
        v16 pa = {0};
        for (uint32_t b = 0; b < NB; b++)
            pa += pv[b] * av[b];
        float pap = hsum(&pa);
        if (!(pap > 0.0f))
            break;
        float a = rs / pap;
        v16 rr = {0};
        for (uint32_t b = 0; b < NB; b++) {
            xv[b] += a * pv[b];
            rv[b] -= a * av[b];
            rr += rv[b] * rv[b];
        }
        float rs_new = hsum(&rr);
        float beta = rs_new / rs;
        for (uint32_t b = 0; b < NB; b++)
            pv[b] = rv[b] + beta * pv[b];
        rs = rs_new;
    }
    for (uint32_t b = 0; b < NB; b++)
        *(v16 *)(x + b * LANES) = xv[b];
}

TROVE_IALS_CLONES
static void solve_row_cg(const float *restrict y, uint32_t ld, uint32_t f,
                         const float *restrict g, const uint32_t *idx, const float *w,
                         uint64_t n, float alpha, float lambda, uint32_t steps,
                         float *restrict x, float *restrict r, float *restrict p,
                         float *restrict ap)
{
    switch (ld / LANES) {
    case 1: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 1); break;
    case 2: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 2); break;
    case 3: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 3); break;
    case 4: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 4); break;
    case 5: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 5); break;
    case 6: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 6); break;
    case 7: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 7); break;
    case 8: cg_fixed(y, f, g, idx, w, n, alpha, lambda, steps, x, 8); break;
    default: cg_any(y, ld, f, g, idx, w, n, alpha, lambda, steps, x, r, p, ap); break;
    }
}

/* Exact solve: form A (f x f, stride ld) and b, then Cholesky. Returns 0 or
 * the LAPACK failure order. */
TROVE_IALS_CLONES
static int solve_row_cholesky(const float *restrict y, uint32_t ld, uint32_t f,
                              const float *restrict g, const uint32_t *idx,
                              const float *w, uint64_t n, float alpha, float lambda,
                              float *restrict x, float *restrict a, float *restrict b)
{
    memcpy(a, g, (size_t)ld * ld * sizeof *a);
    memset(b, 0, (size_t)ld * sizeof *b);
    for (uint32_t k = 0; k < f; k++)
        a[(size_t)k * ld + k] += lambda;
    for (uint64_t j = 0; j < n; j++) {
        const float *yi = y + (size_t)idx[j] * ld;
        float c = alpha * (w ? w[j] : 1.0f);
        vaxpy(1.0f + c, yi, b, ld);
        if (c != 0.0f)
            for (uint32_t k = 0; k < f; k++)
                vaxpy(c * yi[k], yi, a + (size_t)k * ld, ld);
    }
    int info = trove__linalg_cholesky_solve(f, a, ld, b);
    if (info != 0)
        return info;
    memcpy(x, b, (size_t)f * sizeof *x);
    return 0;
}

/* ------------------------------------------------------------- sweeps */
typedef struct sweep {
    const trove_csr *rows;   /* the side being solved: rows x other side */
    const float *y;          /* fixed side, rows->n_cols x ld */
    float *x;                /* solved side, rows->n_rows x ld */
    const float *g;          /* ld x ld Gram of y */
    const float *lambdas;    /* per-row lambda, or NULL for `lambda` */
    float lambda, alpha;
    uint32_t f, ld, cg_steps;
    int solver;
    float *scratch;          /* per thread: scratch_stride floats */
    size_t scratch_stride;
    atomic_uint next;
    atomic_int failed_row;   /* -1, or a row whose Cholesky failed */
} sweep;

static void sweep_worker(void *ctx, uint32_t t)
{
    sweep *s = ctx;
    const trove_csr *m = s->rows;
    float *scr = s->scratch + s->scratch_stride * t;
    for (;;) {
        uint32_t r0 = atomic_fetch_add(&s->next, ROW_CHUNK);
        if (r0 >= m->n_rows)
            break;
        uint32_t r1 = m->n_rows - r0 < ROW_CHUNK ? m->n_rows : r0 + ROW_CHUNK;
        for (uint32_t r = r0; r < r1; r++) {
            uint64_t b = m->indptr[r], n = m->indptr[r + 1] - b;
            float lambda = s->lambdas ? s->lambdas[r] : s->lambda;
            float *x = s->x + (size_t)r * s->ld;
            const float *w = m->data ? m->data + b : NULL;
            if (s->solver == TROVE_IALS_SOLVER_CG) {
                solve_row_cg(s->y, s->ld, s->f, s->g, m->indices + b, w, n, s->alpha,
                             lambda, s->cg_steps, x, scr, scr + s->ld,
                             scr + 2 * (size_t)s->ld);
            } else if (solve_row_cholesky(s->y, s->ld, s->f, s->g, m->indices + b, w,
                                          n, s->alpha, lambda, x, scr + s->ld,
                                          scr) != 0) {
                int expected = -1;
                atomic_compare_exchange_strong(&s->failed_row, &expected, (int)r);
            }
        }
    }
}

/* Per-row lambdas for FREQUENCY scaling: lambda (alpha sum_j r_j + n_other)^nu. */
static float *row_lambdas(const trove_csr *m, const trove_ials_params *p)
{
    float *l = trove_malloc((size_t)m->n_rows * sizeof *l);
    if (l == NULL)
        return NULL;
    for (uint32_t r = 0; r < m->n_rows; r++) {
        double sum = 0.0;
        for (uint64_t j = m->indptr[r]; j < m->indptr[r + 1]; j++)
            sum += m->data ? m->data[j] : 1.0;
        double weight = (double)p->alpha * sum + (double)m->n_cols;
        l[r] = (float)((double)p->regularization * pow(weight, (double)p->reg_exponent));
    }
    return l;
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static uint32_t padded(uint32_t f)
{
    return (f + LANES - 1) / LANES * LANES;
}

static trove_ials *ials_alloc(uint32_t n_users, uint32_t n_items, uint32_t factors)
{
    trove_ials *m = trove_calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->n_users = n_users;
    m->n_items = n_items;
    m->factors = factors;
    m->ld = padded(factors);
    m->user_f = trove_aligned_alloc(64, (size_t)n_users * m->ld * sizeof(float));
    m->item_f = trove_aligned_alloc(64, (size_t)n_items * m->ld * sizeof(float));
    if (m->user_f == NULL || m->item_f == NULL) {
        trove_ials_free(m);
        return NULL;
    }
    memset(m->user_f, 0, (size_t)n_users * m->ld * sizeof(float));
    memset(m->item_f, 0, (size_t)n_items * m->ld * sizeof(float));
    return m;
}

void trove_ials_free(trove_ials *m)
{
    if (m == NULL)
        return;
    trove_aligned_free(m->user_f);
    trove_aligned_free(m->item_f);
    trove_free(m);
}

static int run_sweep(sweep *s, uint32_t n_threads, uint32_t n_fixed, const char *side,
                     trove_error *err)
{
    trove__linalg_gram(s->y, n_fixed, s->f, s->ld, (float *)s->g, s->ld);
    atomic_store(&s->next, 0u);
    atomic_store(&s->failed_row, -1);
    trove__parallel_for(n_threads, sweep_worker, s);
    int bad = atomic_load(&s->failed_row);
    if (bad >= 0)
        return trove_error_set(err, TROVE_EDIVERGED,
                               "ials: %s %d: least-squares system is not positive "
                               "definite; raise regularization", side, bad);
    if (!all_finite(s->x, (size_t)s->rows->n_rows * s->ld))
        return trove_error_set(err, TROVE_EDIVERGED,
                               "ials: %s factors became non-finite; lower alpha or "
                               "raise regularization", side);
    return TROVE_OK;
}

int trove_ials_fit(const trove_csr *interactions, const trove_ials_params *params,
                   trove_ials **out, trove_error *err)
{
    trove_ials *m = NULL;
    trove_csr items_t;
    float *g = NULL, *scratch = NULL, *lu = NULL, *li = NULL;
    trove_rng rng;
    int rc;

    memset(&items_t, 0, sizeof items_t);
    rc = trove_ials_check_params(params, err);
    if (rc != TROVE_OK)
        return rc;
    rc = trove__factor_check_csr(interactions, "ials: interactions", err);
    if (rc != TROVE_OK)
        return rc;
    trove__linalg_single_thread();

    const trove_ials_params p = *params;
    uint32_t n_threads = trove__threads_count(p.threads);
    m = ials_alloc(interactions->n_rows, interactions->n_cols, p.factors);
    if (m == NULL)
        goto fail_nomem;
    m->params = p;
    m->params.callback = NULL;
    m->params.callback_ud = NULL;
    rc = trove_csr_transpose(interactions, &items_t, NULL);
    if (rc != TROVE_OK)
        goto fail_nomem;
    const uint32_t ld = m->ld, f = m->factors;
    size_t stride = p.solver == TROVE_IALS_SOLVER_CG ? 3 * (size_t)ld
                                                     : (size_t)ld + (size_t)ld * ld;
    g = trove_aligned_alloc(64, (size_t)ld * ld * sizeof *g);
    scratch = trove_aligned_alloc(64, stride * n_threads * sizeof *scratch);
    if (g == NULL || scratch == NULL)
        goto fail_nomem;
    memset(g, 0, (size_t)ld * ld * sizeof *g);
    if (p.reg_scaling == TROVE_IALS_REG_FREQUENCY) {
        lu = row_lambdas(interactions, &p);
        li = row_lambdas(&items_t, &p);
        if (lu == NULL || li == NULL)
            goto fail_nomem;
    }

    /* Both sides start from small normal noise, users first then items, in
     * one sequential stream: the start does not depend on threads. */
    trove_rng_seed(&rng, p.seed);
    for (uint32_t u = 0; u < m->n_users; u++)
        for (uint32_t k = 0; k < f; k++)
            m->user_f[(size_t)u * ld + k] = (float)trove_rng_normal(&rng) * p.init_scale;
    for (uint32_t i = 0; i < m->n_items; i++)
        for (uint32_t k = 0; k < f; k++)
            m->item_f[(size_t)i * ld + k] = (float)trove_rng_normal(&rng) * p.init_scale;

    sweep su = {.rows = interactions, .y = m->item_f, .x = m->user_f, .g = g,
                .lambdas = lu, .lambda = p.regularization, .alpha = p.alpha, .f = f,
                .ld = ld, .cg_steps = p.cg_steps, .solver = p.solver,
                .scratch = scratch, .scratch_stride = stride};
    sweep si = su;
    si.rows = &items_t;
    si.y = m->user_f;
    si.x = m->item_f;
    si.lambdas = li;

    for (uint32_t it = 1; it <= p.iterations; it++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = run_sweep(&su, n_threads, m->n_items, "user", err);
        if (rc == TROVE_OK)
            rc = run_sweep(&si, n_threads, m->n_users, "item", err);
        if (rc != TROVE_OK) {
            trove_error_prefix(err, "iteration %u", it);
            goto fail;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        trove_log(TROVE_LOG_DEBUG, "ials: iteration %u/%u in %.1f ms", it, p.iterations,
                  ((double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                   (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6));
        if (p.callback != NULL && p.callback(p.callback_ud, it, m) != 0)
            break;
    }
    trove_free(lu);
    trove_free(li);
    trove_aligned_free(g);
    trove_aligned_free(scratch);
    trove_csr_destroy(&items_t);
    *out = m;
    return TROVE_OK;

fail_nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "ials: out of memory fitting %u x %u, f=%u",
                         interactions->n_rows, interactions->n_cols, params->factors);
fail:
    trove_free(lu);
    trove_free(li);
    trove_aligned_free(g);
    trove_aligned_free(scratch);
    trove_csr_destroy(&items_t);
    trove_ials_free(m);
    return rc;
}

uint32_t trove_ials_n_users(const trove_ials *m) { return m->n_users; }
uint32_t trove_ials_n_items(const trove_ials *m) { return m->n_items; }
uint32_t trove_ials_factors(const trove_ials *m) { return m->factors; }
trove_ials_params trove_ials_params_of(const trove_ials *m) { return m->params; }

const float *trove_ials_user_factors(const trove_ials *m, uint32_t user)
{
    return user < m->n_users ? m->user_f + (size_t)user * m->ld : NULL;
}

const float *trove_ials_item_factors(const trove_ials *m, uint32_t item)
{
    return item < m->n_items ? m->item_f + (size_t)item * m->ld : NULL;
}

void trove_ials_factor_tables(const trove_ials *m, const float **user_f,
                              const float **item_f, size_t *stride)
{
    if (user_f != NULL)
        *user_f = m->user_f;
    if (item_f != NULL)
        *item_f = m->item_f;
    if (stride != NULL)
        *stride = m->ld;
}

/* ---------------------------------------------------------------- loss */
int trove_ials_loss(const trove_ials *m, const trove_csr *interactions, double *loss,
                    trove_error *err)
{
    float *gx = NULL, *gy = NULL, *lu = NULL, *li = NULL;
    trove_csr items_t;
    int rc = trove__factor_check_csr(interactions, "ials loss: interactions", err);
    memset(&items_t, 0, sizeof items_t);
    if (rc != TROVE_OK)
        return rc;
    if (interactions->n_rows != m->n_users || interactions->n_cols != m->n_items)
        return trove_error_set(err, TROVE_EINVAL,
                               "ials loss: matrix is %u x %u, model is %u x %u",
                               interactions->n_rows, interactions->n_cols, m->n_users,
                               m->n_items);
    trove__linalg_single_thread();
    const uint32_t ld = m->ld, f = m->factors;
    const trove_ials_params *p = &m->params;
    gx = trove_malloc((size_t)ld * ld * sizeof *gx);
    gy = trove_malloc((size_t)ld * ld * sizeof *gy);
    if (gx == NULL || gy == NULL)
        goto fail_nomem;
    if (p->reg_scaling == TROVE_IALS_REG_FREQUENCY) {
        if (trove_csr_transpose(interactions, &items_t, NULL) != TROVE_OK)
            goto fail_nomem;
        lu = row_lambdas(interactions, p);
        li = row_lambdas(&items_t, p);
        if (lu == NULL || li == NULL)
            goto fail_nomem;
    }
    /* sum over all cells of s^2 = <X^T X, Y^T Y>_F; observed cells then add
     * c (1 - s)^2 - s^2 (their weight is 1 + alpha r instead of 1). */
    trove__linalg_gram(m->user_f, m->n_users, f, ld, gx, ld);
    trove__linalg_gram(m->item_f, m->n_items, f, ld, gy, ld);
    double total = 0.0;
    for (uint32_t a = 0; a < f; a++)
        for (uint32_t b = 0; b < f; b++)
            total += (double)gx[(size_t)a * ld + b] * gy[(size_t)a * ld + b];
    for (uint32_t u = 0; u < m->n_users; u++) {
        const float *xu = m->user_f + (size_t)u * ld;
        for (uint64_t j = interactions->indptr[u]; j < interactions->indptr[u + 1]; j++) {
            const float *yi = m->item_f + (size_t)interactions->indices[j] * ld;
            double s = 0.0;
            for (uint32_t k = 0; k < f; k++)
                s += (double)xu[k] * yi[k];
            double c = 1.0 + (double)p->alpha *
                                 (interactions->data ? interactions->data[j] : 1.0);
            total += c * (1.0 - s) * (1.0 - s) - s * s;
        }
        double nrm = 0.0;
        for (uint32_t k = 0; k < f; k++)
            nrm += (double)xu[k] * xu[k];
        total += (lu ? lu[u] : p->regularization) * nrm;
    }
    for (uint32_t i = 0; i < m->n_items; i++) {
        const float *yi = m->item_f + (size_t)i * ld;
        double nrm = 0.0;
        for (uint32_t k = 0; k < f; k++)
            nrm += (double)yi[k] * yi[k];
        total += (li ? li[i] : p->regularization) * nrm;
    }
    *loss = total;
    rc = TROVE_OK;
    goto done;
fail_nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "ials loss: out of memory");
done:
    trove_free(gx);
    trove_free(gy);
    trove_free(lu);
    trove_free(li);
    trove_csr_destroy(&items_t);
    return rc;
}

/* ------------------------------------------------------------- scoring */
int trove_ials_score_user(const trove_ials *m, uint32_t user, float *scores,
                          trove_error *err)
{
    if (m == NULL || scores == NULL)
        return trove_error_set(err, TROVE_EINVAL, "ials score: NULL argument");
    if (user >= m->n_users)
        return trove_error_set(err, TROVE_EINVAL,
                               "ials score: user %u out of range (%u users)", user,
                               m->n_users);
    trove__linalg_single_thread();
    trove__linalg_gemv(m->n_items, m->ld, m->item_f, m->ld,
                       m->user_f + (size_t)user * m->ld, scores);
    return TROVE_OK;
}

static void score_block(const void *model, uint32_t u0, uint32_t nb, float *buf)
{
    const trove_ials *m = model;
    trove__linalg_gemm_nt(nb, m->n_items, m->ld, m->user_f + (size_t)u0 * m->ld, m->ld,
                          m->item_f, m->ld, buf, m->n_items);
}

int trove_ials_recommend_all(const trove_ials *m, const trove_csr *exclude, uint32_t k,
                             uint32_t threads, uint32_t *items, float *scores,
                             trove_error *err)
{
    trove__linalg_single_thread();
    return trove__factor_recommend_all("ials recommend", m, m ? m->n_users : 0,
                                       m ? m->n_items : 0, USER_BLOCK, score_block,
                                       exclude, k, threads, items, scores, err);
}

/* ---------------------------------------------------------------- files */
/* Header (72 bytes): magic[8] version n_users n_items factors | solver
 * reg_scaling iterations cg_steps | regularization alpha reg_exponent
 * init_scale | seed(u64) reserved(u64); then user factors and item factors
 * (unpadded rows of `factors` float32), then a u64 checksum of everything
 * before it. */
static size_t ials_file_size(uint64_t n_users, uint64_t n_items, uint64_t f, int *overflow)
{
    uint64_t floats = (n_users + n_items) * f;
    *overflow = f > 1024 || n_users > UINT32_MAX || n_items > UINT32_MAX ||
                floats > (UINT64_C(1) << 60) / 4;
    return (size_t)(IALS_HEADER_BYTES + floats * 4 + 8);
}

int trove_ials_save_buffer(const trove_ials *m, unsigned char **bytes, size_t *len_out,
                           trove_error *err)
{
    int overflow;
    size_t len = ials_file_size(m->n_users, m->n_items, m->factors, &overflow);
    unsigned char *buf = trove_malloc(len);
    if (buf == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "out of memory saving the model");
    trove__bytes b = {buf, len, 0, 0};
    trove__bytes_put(&b, IALS_MAGIC, 8);
    trove__bytes_put_u32(&b, IALS_VERSION);
    trove__bytes_put_u32(&b, m->n_users);
    trove__bytes_put_u32(&b, m->n_items);
    trove__bytes_put_u32(&b, m->factors);
    trove__bytes_put_u32(&b, (uint32_t)m->params.solver);
    trove__bytes_put_u32(&b, (uint32_t)m->params.reg_scaling);
    trove__bytes_put_u32(&b, m->params.iterations);
    trove__bytes_put_u32(&b, m->params.cg_steps);
    trove__bytes_put_f32(&b, m->params.regularization);
    trove__bytes_put_f32(&b, m->params.alpha);
    trove__bytes_put_f32(&b, m->params.reg_exponent);
    trove__bytes_put_f32(&b, m->params.init_scale);
    trove__bytes_put_u64(&b, m->params.seed);
    trove__bytes_put_u64(&b, 0);
    for (uint32_t u = 0; u < m->n_users; u++)
        trove__bytes_put(&b, m->user_f + (size_t)u * m->ld, (size_t)m->factors * 4);
    for (uint32_t i = 0; i < m->n_items; i++)
        trove__bytes_put(&b, m->item_f + (size_t)i * m->ld, (size_t)m->factors * 4);
    trove__bytes_put_u64(&b, trove__factor_checksum(buf, b.pos));
    TROVE__FACTOR_ASSERT(!b.bad && b.pos == len);
    *bytes = buf;
    *len_out = b.pos;
    return TROVE_OK;
}

int trove_ials_save(const trove_ials *m, const char *path, trove_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = trove_ials_save_buffer(m, &buf, &len, err);
    return trove__file_save_encoded(path, rc, buf, len, err);
}

int trove_ials_load_buffer(const unsigned char *buf, size_t len, const char *name,
                           trove_ials **out, trove_error *err)
{
    const char *path = name != NULL ? name : "model";
    int rc = TROVE_OK;
    trove_ials *m = NULL;
    trove__bytes b = {(unsigned char *)buf, len, 0, 0}; /* only read */
    char magic[8];
    trove__bytes_get(&b, magic, 8);
    if (b.bad || memcmp(magic, IALS_MAGIC, 8) != 0) {
        rc = trove_error_set(err, TROVE_EFORMAT, "%s: not an iALS model file", path);
        goto done;
    }
    uint32_t version = trove__bytes_get_u32(&b);
    if (version != IALS_VERSION) {
        rc = trove_error_set(err, b.bad ? TROVE_ECORRUPT : TROVE_EVERSION,
                             "%s: iALS model version %u, this build reads %u", path,
                             version, IALS_VERSION);
        goto done;
    }
    trove_ials_params p = trove_ials_default_params();
    uint32_t n_users = trove__bytes_get_u32(&b);
    uint32_t n_items = trove__bytes_get_u32(&b);
    p.factors = trove__bytes_get_u32(&b);
    p.solver = (int)trove__bytes_get_u32(&b);
    p.reg_scaling = (int)trove__bytes_get_u32(&b);
    p.iterations = trove__bytes_get_u32(&b);
    p.cg_steps = trove__bytes_get_u32(&b);
    p.regularization = trove__bytes_get_f32(&b);
    p.alpha = trove__bytes_get_f32(&b);
    p.reg_exponent = trove__bytes_get_f32(&b);
    p.init_scale = trove__bytes_get_f32(&b);
    p.seed = trove__bytes_get_u64(&b);
    (void)trove__bytes_get_u64(&b);
    int overflow = 0;
    size_t want = b.bad ? 0 : ials_file_size(n_users, n_items, p.factors, &overflow);
    if (b.bad || overflow || n_users == 0 || n_items == 0 || p.factors == 0 ||
        want != len) {
        rc = trove_error_set(err, TROVE_ECORRUPT,
                             "%s: truncated or inconsistent iALS file (%zu bytes, header "
                             "says %u users x %u items x %u factors)",
                             path, len, n_users, n_items, p.factors);
        goto done;
    }
    uint64_t stored;
    memcpy(&stored, buf + len - 8, 8);
    if (stored != trove__factor_checksum(buf, len - 8)) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: checksum mismatch", path);
        goto done;
    }
    if (trove_ials_check_params(&p, NULL) != TROVE_OK) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: invalid parameters in header", path);
        goto done;
    }
    m = ials_alloc(n_users, n_items, p.factors);
    if (m == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory loading model", path);
        goto done;
    }
    m->params = p;
    for (uint32_t u = 0; u < n_users; u++)
        trove__bytes_get(&b, m->user_f + (size_t)u * m->ld, (size_t)p.factors * 4);
    for (uint32_t i = 0; i < n_items; i++)
        trove__bytes_get(&b, m->item_f + (size_t)i * m->ld, (size_t)p.factors * 4);
    if (!all_finite(m->user_f, (size_t)n_users * m->ld) ||
        !all_finite(m->item_f, (size_t)n_items * m->ld)) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: non-finite factor values", path);
        trove_ials_free(m);
        goto done;
    }
    *out = m;
done:
    return rc;
}

int trove_ials_load(const char *path, trove_ials **out, trove_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = trove__file_read_all(path, SIZE_MAX, &buf, &len, err);
    if (rc != TROVE_OK)
        return rc;
    rc = trove_ials_load_buffer(buf, len, path, out, err);
    trove_free(buf);
    return rc;
}
