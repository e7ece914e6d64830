/*
 * engine.c - the evaluation engine: every metric of every user in one pass
 * over the catalog, on several threads, then slices and intervals.
 *
 * Per evaluated user u (one with a relevant item outside its train row):
 *   1. the scorer fills scores[0..n_items); NaN becomes -INFINITY;
 *   2. train items are set to NaN, so that every comparison with them is
 *      false: they are never counted, listed or ranked;
 *   3. trove__topk (kernels/topk.c) keeps the top k: a binary heap whose
 *      root is the worst kept entry; scanning items in ascending order and
 *      replacing only on a strictly higher score breaks ties by item index
 *      ascending; once the heap is full, the SIMD first_gt kernel skips
 *      every score not above its root;
 *   4. LightFM's rank of each relevant item t, #{valid j : s_j >= s_t} - 1,
 *      is a branch-free count over the score vector per relevant item
 *      (vectorised with GCC vector extensions); users with many relevant
 *      items sort their valid scores once and binary-search instead;
 *   5. MRR needs the full-list position of the best relevant item only: it
 *      is read off the top-k list when it is there, else counted in one scan.
 * Invariants: results are written per user index (never accumulated across
 * threads, except integer exposure counts), so they do not depend on the
 * number of threads; the scorer is called once per evaluated user.
 */
#include "eval_int.h"
#include "core/threads.h"
#include "kernels/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Users with more relevant items than this use the sorted-scores path. */
#define RANK_SORT_THRESHOLD 192u
#define CHUNK 8u

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

typedef struct eval_job {
    const trove_scorer *scorer;
    const trove_csr    *train;
    uint32_t  k, n_items, n_padded;
    int       map_den;
    uint32_t  n_eval;
    const uint32_t *users;
    const uint64_t *rel_ptr;    /* [n_eval + 1] */
    const uint32_t *rel;        /* relevant items, ascending per user */
    const uint32_t *item_count; /* train users per item */
    double   *per_user;         /* [n_eval][M] */
    double   *per_user_cold;    /* [n_eval][M] */
    uint8_t  *has_cold;         /* [n_eval] */
    uint32_t  next;             /* next user to take (atomic) */
    int       stop;             /* set on error (atomic) */
    pthread_mutex_t lock;
    int        status;
    uint32_t   err_user;
    trove_error err;
} eval_job;

typedef struct worker {
    eval_job   *job;
    float      *scores;     /* n_padded, 64-byte aligned */
    float      *sorted;     /* n_items, for users with many relevant items */
    float      *topk_s;     /* k, scores of topk (also trove__topk's heap) */
    uint32_t   *topk;       /* k */
    uint8_t    *hit;        /* k */
    uint8_t    *hit_cold;   /* k */
    uint32_t   *rank;       /* max relevant per user */
    uint32_t   *rank_tmp;   /* same */
    uint32_t   *rel_cold;   /* same */
    uint32_t   *rank_cold;  /* same */
    uint64_t   *exposure;   /* n_items */
} worker;

static int row_len(const trove_csr *m, uint32_t r, const uint32_t **cols)
{
    if (m == NULL || r >= m->n_rows) {
        *cols = NULL;
        return 0;
    }
    *cols = m->indices + m->indptr[r];
    return (int)(m->indptr[r + 1] - m->indptr[r]);
}

/* #{j < n : s[j] >= t} (strict = 0) or #{j < n : s[j] > t} (strict = 1).
 * NaN entries never count. SSE-width vectors (GCC vector extensions) with
 * four independent accumulators and a scalar tail. */
static uint32_t count_cmp(const float *s, uint32_t n, float t, int strict)
{
    v4i a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    v4f tv = {t, t, t, t};
    uint32_t j = 0, c = 0;
    if (strict) {
        for (; j + 16 <= n; j += 16) {
            v4f x0, x1, x2, x3;
            memcpy(&x0, s + j, sizeof x0);
            memcpy(&x1, s + j + 4, sizeof x1);
            memcpy(&x2, s + j + 8, sizeof x2);
            memcpy(&x3, s + j + 12, sizeof x3);
            a0 -= (v4i)(x0 > tv);
            a1 -= (v4i)(x1 > tv);
            a2 -= (v4i)(x2 > tv);
            a3 -= (v4i)(x3 > tv);
        }
        for (; j < n; j++)
            c += s[j] > t;
    } else {
        for (; j + 16 <= n; j += 16) {
            v4f x0, x1, x2, x3;
            memcpy(&x0, s + j, sizeof x0);
            memcpy(&x1, s + j + 4, sizeof x1);
            memcpy(&x2, s + j + 8, sizeof x2);
            memcpy(&x3, s + j + 12, sizeof x3);
            a0 -= (v4i)(x0 >= tv);
            a1 -= (v4i)(x1 >= tv);
            a2 -= (v4i)(x2 >= tv);
            a3 -= (v4i)(x3 >= tv);
        }
        for (; j < n; j++)
            c += s[j] >= t;
    }
    v4i a = a0 + a1 + a2 + a3;
    return c + (uint32_t)(a[0] + a[1] + a[2] + a[3]);
}

/* NaN -> -INFINITY over s[0..n), four lanes at a time. */
static void sanitize(float *s, uint32_t n)
{
    const v4f ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    uint32_t j = 0;
    for (; j + 4 <= n; j += 4) {
        v4f x;
        memcpy(&x, s + j, sizeof x);
        v4i nan = (v4i)(x != x);
        x = (v4f)(((v4i)x & ~nan) | ((v4i)ninf & nan));
        memcpy(s + j, &x, sizeof x);
    }
    for (; j < n; j++)
        if (s[j] != s[j])
            s[j] = -INFINITY;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* LightFM ranks of the m relevant items rel[] into rank[]. */
static void lightfm_ranks(worker *w, const uint32_t *rel, uint32_t m)
{
    eval_job *job = w->job;
    const float *s = w->scores;
    if (m <= RANK_SORT_THRESHOLD) {
        for (uint32_t i = 0; i < m; i++)
            w->rank[i] = count_cmp(s, job->n_items, s[rel[i]], 0) - 1;
        return;
    }
    uint32_t n = 0;
    for (uint32_t j = 0; j < job->n_items; j++)
        if (s[j] == s[j])
            w->sorted[n++] = s[j];
    qsort(w->sorted, n, sizeof *w->sorted, cmp_float);
    for (uint32_t i = 0; i < m; i++) {
        float t = s[rel[i]];
        uint32_t lo = 0, hi = n;
        while (lo < hi) {   /* first position with sorted >= t */
            uint32_t mid = lo + (hi - lo) / 2;
            if (w->sorted[mid] < t)
                lo = mid + 1;
            else
                hi = mid;
        }
        w->rank[i] = n - lo - 1;
    }
}

/* Full-list position (ties by index) of the best relevant item. */
static uint32_t best_position(const worker *w, uint32_t n_list,
                              const uint8_t *hit, const uint32_t *rel,
                              uint32_t m, uint32_t n_items)
{
    const float *s = w->scores;
    for (uint32_t p = 0; p < n_list; p++)
        if (hit[p])
            return p;
    uint32_t b = rel[0];
    for (uint32_t i = 1; i < m; i++)
        if (s[rel[i]] > s[b])
            b = rel[i];
    /* items before b count on ties, items after it only when strictly
     * better; b itself is never counted */
    return count_cmp(s, b, s[b], 0) + count_cmp(s + b + 1, n_items - b - 1, s[b], 1);
}

/* Every metric of one relevant set (rel/rank of m items, hits of the list). */
static void user_metrics(worker *w, uint32_t n_list, const uint8_t *hit,
                         const uint32_t *rel, uint32_t *rank, uint32_t m,
                         uint32_t n_train, double *out)
{
    eval_job *job = w->job;
    uint32_t k = job->k, lfm_hits = 0;
    trove__eval_topk_metrics(hit, n_list, m, k, job->map_den, out);
    out[TROVE_METRIC_MRR] =
        1.0 / (1.0 + (double)best_position(w, n_list, hit, rel, m, job->n_items));
    for (uint32_t i = 0; i < m; i++) {
        lfm_hits += rank[i] < k;
        w->rank_tmp[i] = rank[i];
    }
    out[TROVE_METRIC_PRECISION_LFM] = (double)lfm_hits / (double)k;
    out[TROVE_METRIC_RECALL_LFM] = (double)lfm_hits / (double)m;
    uint64_t n_neg = (uint64_t)job->n_items - m - n_train;
    out[TROVE_METRIC_AUC] = trove_eval_lightfm_auc(w->rank_tmp, m, n_neg);
}

static int eval_user(worker *w, uint32_t e, trove_error *err)
{
    eval_job *job = w->job;
    uint32_t u = job->users[e];
    const uint32_t *rel = job->rel + job->rel_ptr[e];
    uint32_t m = (uint32_t)(job->rel_ptr[e + 1] - job->rel_ptr[e]);
    const uint32_t *tr;
    uint32_t n_train = (uint32_t)row_len(job->train, u, &tr);
    float *s = w->scores;
    int rc = job->scorer->score_user(job->scorer->ctx, u, s, err);
    if (rc != TROVE_OK)
        return rc;
    sanitize(s, job->n_items);
    for (uint32_t i = 0; i < n_train; i++)
        s[tr[i]] = NAN;
    for (uint32_t j = job->n_items; j < job->n_padded; j++)
        s[j] = NAN;

    uint32_t n_list = trove__topk(w->scores, job->n_items, job->k, w->topk, w->topk_s);
    for (uint32_t p = 0; p < n_list; p++) {
        w->hit[p] = (uint8_t)trove__eval_contains(rel, m, w->topk[p]);
        w->exposure[w->topk[p]]++;
    }
    lightfm_ranks(w, rel, m);
    user_metrics(w, n_list, w->hit, rel, w->rank, m, n_train,
                 job->per_user + (size_t)e * TROVE_METRIC_COUNT);

    uint32_t mc = 0;
    for (uint32_t i = 0; i < m; i++)
        if (job->item_count[rel[i]] == 0) {
            w->rel_cold[mc] = rel[i];
            w->rank_cold[mc] = w->rank[i];
            mc++;
        }
    if (mc > 0) {
        for (uint32_t p = 0; p < n_list; p++)
            w->hit_cold[p] = (uint8_t)(w->hit[p] &&
                                       job->item_count[w->topk[p]] == 0);
        user_metrics(w, n_list, w->hit_cold, w->rel_cold, w->rank_cold, mc,
                     n_train, job->per_user_cold + (size_t)e * TROVE_METRIC_COUNT);
        job->has_cold[e] = 1;
    }
    return TROVE_OK;
}

/* Share t of the users (pulled CHUNK at a time from job->next). */
static void worker_main(void *ctx, uint32_t t)
{
    worker *w = (worker *)ctx + t;
    eval_job *job = w->job;
    trove_error err;
    for (;;) {
        if (__atomic_load_n(&job->stop, __ATOMIC_RELAXED))
            break;
        uint32_t start = __atomic_fetch_add(&job->next, CHUNK, __ATOMIC_RELAXED);
        if (start >= job->n_eval)
            break;
        uint32_t end = start + CHUNK < job->n_eval ? start + CHUNK : job->n_eval;
        for (uint32_t e = start; e < end; e++) {
            trove_error_clear(&err);
            int rc = eval_user(w, e, &err);
            if (rc != TROVE_OK) {
                pthread_mutex_lock(&job->lock);
                if (job->status == TROVE_OK || e < job->err_user) {
                    job->status = rc;
                    job->err_user = e;
                    job->err = err;
                }
                pthread_mutex_unlock(&job->lock);
                __atomic_store_n(&job->stop, 1, __ATOMIC_RELAXED);
                return;
            }
        }
    }
}

static void worker_free(worker *w)
{
    trove_aligned_free(w->scores);
    trove_free(w->sorted);
    trove_free(w->topk_s);
    trove_free(w->topk);
    trove_free(w->hit);
    trove_free(w->hit_cold);
    trove_free(w->rank);
    trove_free(w->rank_tmp);
    trove_free(w->rel_cold);
    trove_free(w->rank_cold);
    trove_free(w->exposure);
}

static int worker_init(worker *w, eval_job *job, uint32_t max_rel)
{
    size_t mr = max_rel ? max_rel : 1;
    memset(w, 0, sizeof *w);
    w->job = job;
    w->scores = trove_aligned_alloc(64, (size_t)job->n_padded * sizeof(float));
    w->sorted = max_rel > RANK_SORT_THRESHOLD
                ? trove_malloc((size_t)job->n_items * sizeof(float)) : NULL;
    w->topk_s = trove_malloc((size_t)job->k * sizeof *w->topk_s);
    w->topk = trove_malloc((size_t)job->k * sizeof *w->topk);
    w->hit = trove_malloc(job->k);
    w->hit_cold = trove_malloc(job->k);
    w->rank = trove_malloc(mr * sizeof *w->rank);
    w->rank_tmp = trove_malloc(mr * sizeof *w->rank_tmp);
    w->rel_cold = trove_malloc(mr * sizeof *w->rel_cold);
    w->rank_cold = trove_malloc(mr * sizeof *w->rank_cold);
    w->exposure = trove_calloc(job->n_items, sizeof *w->exposure);
    if (!w->scores || (max_rel > RANK_SORT_THRESHOLD && !w->sorted) ||
        !w->topk_s || !w->topk || !w->hit || !w->hit_cold || !w->rank ||
        !w->rank_tmp || !w->rel_cold || !w->rank_cold || !w->exposure) {
        worker_free(w);
        return TROVE_ENOMEM;
    }
    return TROVE_OK;
}

trove_eval_params trove_eval_default_params(void)
{
    trove_eval_params p;
    memset(&p, 0, sizeof p);
    p.k = 10;
    p.threads = 1;
    p.map_denominator = TROVE_MAP_MIN_K;
    p.bootstrap = 1000;
    p.ci_level = 0.95;
    p.seed = 42;
    p.slices = TROVE_SLICE_ALL;
    p.activity_edges[0] = 1;
    p.activity_edges[1] = 5;
    p.activity_edges[2] = 20;
    p.activity_edges[3] = 100;
    p.n_activity_edges = 4;
    return p;
}

void trove_eval_result_free(trove_eval_result *r)
{
    if (r == NULL)
        return;
    trove_free(r->users);
    trove_free(r->per_user);
    trove_free(r->exposure);
    trove_free(r->slices);
    trove_free(r);
}

static int check_matrix(const trove_csr *m, const char *what, uint32_t n_users,
                        uint32_t n_items, trove_error *err)
{
    if (m->n_cols != n_items)
        return trove_error_set(err, TROVE_EINVAL,
                               "%s matrix has %u item columns, the scorer %u",
                               what, m->n_cols, n_items);
    if (m->n_rows > n_users)
        return trove_error_set(err, TROVE_EINVAL,
                               "%s matrix has %u user rows, the scorer %u",
                               what, m->n_rows, n_users);
    for (uint32_t r = 0; r < m->n_rows; r++)
        for (uint64_t p = m->indptr[r]; p < m->indptr[r + 1]; p++)
            if (m->indices[p] >= n_items ||
                (p > m->indptr[r] && m->indices[p] <= m->indices[p - 1]))
                return trove_error_set(err, TROVE_EINVAL,
                                       "%s matrix row %u: column %u out of range "
                                       "or not ascending", what, r, m->indices[p]);
    return TROVE_OK;
}

/* Slices: grow the array by one named entry summarised over idx. */
static int add_slice(trove_eval_result *res, const double *vals,
                     const uint32_t *idx, uint32_t n, unsigned kind,
                     const char *name, const trove_eval_params *p,
                     trove_error *err)
{
    trove_eval_slice *grown, *sl;
    int rc;
    if (n == 0)
        return TROVE_OK;
    grown = trove_realloc(res->slices, (res->n_slices + 1) * sizeof *grown);
    if (grown == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "evaluation slices: out of memory");
    res->slices = grown;
    sl = &grown[res->n_slices];
    memset(sl, 0, sizeof *sl);
    snprintf(sl->name, sizeof sl->name, "%s", name);
    sl->kind = kind;
    rc = trove__eval_bootstrap(vals, idx, n, p->bootstrap, p->ci_level,
                               p->seed + 1 + res->n_slices, &sl->s, err);
    if (rc == TROVE_OK)
        res->n_slices++;
    return rc;
}

static int build_slices(trove_eval_result *res, const eval_job *job,
                        const trove_eval_params *p, trove_error *err)
{
    uint32_t *idx = trove_malloc(((size_t)res->n_users + 1) * sizeof *idx);
    uint32_t n;
    char name[64];
    int rc = TROVE_OK;
    if (idx == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "evaluation slices: out of memory");
    if ((p->slices & TROVE_SLICE_MARKET) && p->user_market != NULL) {
        for (uint32_t mk = 0; mk <= p->n_markets && rc == TROVE_OK; mk++) {
            uint32_t want = mk < p->n_markets ? mk : UINT32_MAX;
            n = 0;
            for (uint32_t e = 0; e < res->n_users; e++) {
                uint32_t um = p->user_market[res->users[e]];
                if (um >= p->n_markets)
                    um = UINT32_MAX;
                if (um == want)
                    idx[n++] = e;
            }
            if (want == UINT32_MAX)
                snprintf(name, sizeof name, "market=(none)");
            else if (p->market_names != NULL)
                snprintf(name, sizeof name, "market=%s", p->market_names[mk]);
            else
                snprintf(name, sizeof name, "market=%u", mk);
            rc = add_slice(res, res->per_user, idx, n, TROVE_SLICE_MARKET, name,
                           p, err);
        }
    }
    if (rc == TROVE_OK && (p->slices & TROVE_SLICE_COLD_ITEMS)) {
        n = 0;
        for (uint32_t e = 0; e < res->n_users; e++)
            if (job->has_cold[e])
                idx[n++] = e;
        rc = add_slice(res, job->per_user_cold, idx, n, TROVE_SLICE_COLD_ITEMS,
                       "cold items", p, err);
    }
    if (rc == TROVE_OK && (p->slices & TROVE_SLICE_NEW_USERS)) {
        n = 0;
        for (uint32_t e = 0; e < res->n_users; e++) {
            const uint32_t *tr;
            if (row_len(job->train, res->users[e], &tr) == 0)
                idx[n++] = e;
        }
        rc = add_slice(res, res->per_user, idx, n, TROVE_SLICE_NEW_USERS,
                       "new users", p, err);
    }
    if (rc == TROVE_OK && (p->slices & TROVE_SLICE_ACTIVITY)) {
        for (uint32_t b = 0; b < p->n_activity_edges && rc == TROVE_OK; b++) {
            uint32_t lo = p->activity_edges[b];
            uint32_t hi = b + 1 < p->n_activity_edges ? p->activity_edges[b + 1]
                                                      : UINT32_MAX;
            n = 0;
            for (uint32_t e = 0; e < res->n_users; e++) {
                const uint32_t *tr;
                uint32_t c = (uint32_t)row_len(job->train, res->users[e], &tr);
                if (c >= lo && c < hi)
                    idx[n++] = e;
            }
            if (hi == UINT32_MAX)
                snprintf(name, sizeof name, "train %u+", lo);
            else if (hi == lo + 1)
                snprintf(name, sizeof name, "train %u", lo);
            else
                snprintf(name, sizeof name, "train %u-%u", lo, hi - 1);
            rc = add_slice(res, res->per_user, idx, n, TROVE_SLICE_ACTIVITY,
                           name, p, err);
        }
    }
    trove_free(idx);
    return rc;
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

static int beyond_accuracy(trove_eval_result *res, const uint32_t *item_count,
                           const trove_csr *train, trove_error *err)
{
    uint32_t n = res->n_items, covered = 0, n_train_users = 0;
    uint64_t total = 0, top = 0;
    double nov = 0.0, pop = 0.0;
    uint64_t *s = trove_malloc((size_t)n * sizeof *s);
    if (s == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "evaluation: out of memory");
    if (train != NULL)
        for (uint32_t u = 0; u < train->n_rows; u++)
            n_train_users += train->indptr[u + 1] > train->indptr[u];
    for (uint32_t i = 0; i < n; i++) {
        uint64_t x = res->exposure[i];
        s[i] = x;
        total += x;
        covered += x > 0;
        if (x > 0 && n_train_users > 0) {
            double c = item_count[i] > 0 ? (double)item_count[i] : 1.0;
            nov += (double)x * -log2(c / (double)n_train_users);
        }
        pop += (double)x * (double)item_count[i];
    }
    qsort(s, n, sizeof *s, cmp_u64_desc);
    for (uint32_t i = 0; i < n && i < 5; i++)
        top += s[i];
    res->n_recommended = total;
    res->coverage = n ? (double)covered / (double)n : 0.0;
    res->top5_share = total ? (double)top / (double)total : 0.0;
    res->gini = trove__eval_gini_inplace(s, n);
    res->novelty = total ? nov / (double)total : 0.0;
    res->mean_popularity = total ? pop / (double)total : 0.0;
    trove_free(s);
    return TROVE_OK;
}

int trove_eval_run(const trove_scorer *scorer, const trove_csr *train,
                   const trove_csr *test, const trove_eval_params *params,
                   trove_eval_result **out, trove_error *err)
{
    trove_eval_params p = params ? *params : trove_eval_default_params();
    trove_eval_result *res = NULL;
    eval_job job;
    worker *ws = NULL;
    uint32_t *item_count = NULL, max_rel = 0;
    uint64_t *rel_ptr = NULL;
    uint32_t *rel = NULL;
    int rc = TROVE_OK, n_threads, lock_init = 0;

    memset(&job, 0, sizeof job);
    if (scorer == NULL || test == NULL || scorer->score_user == NULL) {
        rc = trove_error_set(err, TROVE_EINVAL, "evaluation: no scorer or test matrix");
        goto done;
    }
    if (p.k == 0) {
        rc = trove_error_set(err, TROVE_EINVAL, "evaluation: k must be at least 1");
        goto done;
    }
    if (p.k > scorer->n_items) {
        rc = trove_error_set(err, TROVE_EINVAL,
                             "evaluation: k = %u is larger than the catalog (%u items)",
                             p.k, scorer->n_items);
        goto done;
    }
    if ((rc = check_matrix(test, "test", scorer->n_users, scorer->n_items, err)) != TROVE_OK)
        goto done;
    if (train != NULL &&
        (rc = check_matrix(train, "train", scorer->n_users, scorer->n_items, err)) != TROVE_OK)
        goto done;
    if (p.n_activity_edges > TROVE_EVAL_MAX_ACTIVITY_EDGES) {
        rc = trove_error_set(err, TROVE_EINVAL, "evaluation: too many activity buckets");
        goto done;
    }
    n_threads = p.threads > 0 ? p.threads : 1;

    res = trove_calloc(1, sizeof *res);
    item_count = trove_calloc(scorer->n_items, sizeof *item_count);
    rel_ptr = trove_malloc(((size_t)test->n_rows + 1) * sizeof *rel_ptr);
    rel = trove_malloc((test->nnz ? test->nnz : 1) * sizeof *rel);
    if (res == NULL || item_count == NULL || rel_ptr == NULL || rel == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "evaluation: out of memory");
        goto done;
    }
    res->k = p.k;
    res->n_items = scorer->n_items;
    res->n_users_total = scorer->n_users;
    res->map_denominator = p.map_denominator;
    res->n_test_pairs = test->nnz;
    if (train != NULL)
        for (uint64_t q = 0; q < train->nnz; q++)
            item_count[train->indices[q]]++;

    /* relevant items = test row minus train row, per user with any left */
    rel_ptr[0] = 0;
    for (uint32_t u = 0; u < test->n_rows; u++) {
        const uint32_t *tr;
        uint32_t nt = (uint32_t)row_len(train, u, &tr), a = 0, kept = 0;
        for (uint64_t q = test->indptr[u]; q < test->indptr[u + 1]; q++) {
            uint32_t it = test->indices[q];
            while (a < nt && tr[a] < it)
                a++;
            if (a < nt && tr[a] == it) {
                res->n_test_in_train++;
                continue;
            }
            rel[rel_ptr[res->n_users] + kept++] = it;
        }
        if (kept > 0) {
            res->n_users++;
            rel_ptr[res->n_users] = rel_ptr[res->n_users - 1] + kept;
            if (kept > max_rel)
                max_rel = kept;
        }
    }
    res->n_relevant = rel_ptr[res->n_users];
    if (res->n_users == 0) {
        rc = trove_error_set(err, TROVE_EEMPTY,
                             "evaluation: the test set is empty (%llu pairs, %llu "
                             "of them also in train)",
                             (unsigned long long)res->n_test_pairs,
                             (unsigned long long)res->n_test_in_train);
        goto done;
    }
    res->users = trove_malloc((size_t)res->n_users * sizeof *res->users);
    res->per_user = trove_calloc((size_t)res->n_users * TROVE_METRIC_COUNT,
                                 sizeof *res->per_user);
    res->exposure = trove_calloc(scorer->n_items, sizeof *res->exposure);
    job.per_user_cold = trove_calloc((size_t)res->n_users * TROVE_METRIC_COUNT,
                                     sizeof *job.per_user_cold);
    job.has_cold = trove_calloc(res->n_users, 1);
    ws = trove_calloc((size_t)n_threads, sizeof *ws);
    if (!res->users || !res->per_user || !res->exposure || !job.per_user_cold ||
        !job.has_cold || !ws) {
        rc = trove_error_set(err, TROVE_ENOMEM, "evaluation: out of memory");
        goto done;
    }
    for (uint32_t u = 0, e = 0; u < test->n_rows; u++) {
        const uint32_t *tr;
        uint32_t nt = (uint32_t)row_len(train, u, &tr), a = 0, kept = 0;
        for (uint64_t q = test->indptr[u]; q < test->indptr[u + 1]; q++) {
            while (a < nt && tr[a] < test->indices[q])
                a++;
            kept += !(a < nt && tr[a] == test->indices[q]);
        }
        if (kept > 0)
            res->users[e++] = u;
    }

    job.scorer = scorer;
    job.train = train;
    job.k = p.k;
    job.n_items = scorer->n_items;
    job.n_padded = (scorer->n_items + 7u) & ~7u;
    job.map_den = p.map_denominator;
    job.n_eval = res->n_users;
    job.users = res->users;
    job.rel_ptr = rel_ptr;
    job.rel = rel;
    job.item_count = item_count;
    job.per_user = res->per_user;
    job.status = TROVE_OK;
    if (pthread_mutex_init(&job.lock, NULL) != 0) {
        rc = trove_error_set(err, TROVE_ENOMEM, "evaluation: cannot create a lock");
        goto done;
    }
    lock_init = 1;
    for (int t = 0; t < n_threads; t++)
        if (worker_init(&ws[t], &job, max_rel) != TROVE_OK) {
            for (int q = 0; q < t; q++)
                worker_free(&ws[q]);
            memset(ws, 0, (size_t)n_threads * sizeof *ws);
            rc = trove_error_set(err, TROVE_ENOMEM, "evaluation: out of memory");
            goto done;
        }
    trove__parallel_for((uint32_t)n_threads, worker_main, ws);
    for (int t = 0; t < n_threads; t++) {
        for (uint32_t i = 0; i < scorer->n_items; i++)
            res->exposure[i] += ws[t].exposure[i];
        worker_free(&ws[t]);
    }
    if (job.status != TROVE_OK) {
        rc = job.status;
        if (err != NULL) {
            *err = job.err;
            trove_error_prefix(err, "evaluation of user %u", res->users[job.err_user]);
        }
        goto done;
    }
    if ((rc = beyond_accuracy(res, item_count, train, err)) != TROVE_OK)
        goto done;
    if ((rc = trove__eval_bootstrap(res->per_user, NULL, res->n_users, p.bootstrap,
                                    p.ci_level, p.seed, &res->overall, err)) != TROVE_OK)
        goto done;
    rc = build_slices(res, &job, &p, err);

done:
    if (lock_init)
        pthread_mutex_destroy(&job.lock);
    trove_free(ws);
    trove_free(job.per_user_cold);
    trove_free(job.has_cold);
    trove_free(item_count);
    trove_free(rel_ptr);
    trove_free(rel);
    if (rc != TROVE_OK) {
        trove_eval_result_free(res);
        res = NULL;
    } else {
        *out = res;
    }
    return rc;
}
