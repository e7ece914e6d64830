/*
 * train.c - fit / fit_partial: the SGD loops for the logistic, BPR, WARP and
 * k-OS WARP losses, the adagrad / adadelta / row-wise adagrad steps, Hogwild
 * threads and divergence detection.
 *
 * Semantics follow LightFM 1.17 (Kula 2015): one epoch visits every
 * interaction once in a fresh random order.
 *   logistic  gradient w*(sigmoid(x) - y) on the pair.
 *   BPR       (Rendle et al. 2009) negative = the item of a random
 *             interaction (so negatives follow popularity), redrawn while it
 *             is a positive of the user.
 *   WARP      (Weston et al. 2011) draw items uniformly, skipping the user's
 *             positives, until one violates the margin (x_neg > x_pos - 1) or
 *             max_sampled were drawn; the update is weighted by
 *             L = log(max(1, floor((n_items - 1) / draws))), clipped at 10.
 *   k-OS      (Weston et al. 2013) for a positive example, sample n of the
 *             user's positives, take the k-th highest scored one as the
 *             positive, then WARP with L based on n_items - |positives|.
 * Two deliberate differences: the user bias gets its true gradient in the
 * pairwise losses (zero: it cancels in x_pos - x_neg; LightFM moves it by
 * the loss), and L2 (item_alpha, user_alpha) is applied in the step of the
 * rows an example touches instead of LightFM's lazy global rescaling, which
 * writes shared state on every example; with alpha = 0 it costs nothing.
 *
 * Threads (Niu et al., "Hogwild!", NIPS 2011): each thread has its own RNG
 * stream (a jump of the epoch's seed), scratch and loss accumulator; it
 * writes only model rows, without locks. By default (TROVE_THREADS_BLOCKS)
 * with identity-only items, the examples form a grid of 2T user blocks x
 * 2T item columns (grid_build) whose cells the threads take
 * dynamically, never two in one user block or one item column at once
 * (FPSGD: Zhuang et al., RecSys 2013); a thread takes the cells of its own
 * user blocks first, so user rows stay on one core until the end of the
 * epoch, and a faster core does more cells. Negatives are drawn from all
 * items and read in place; the step of a violating negative in another
 * column is queued for that column and applied by the thread that next
 * takes it (see fit_partial and docs/model.md, Threads). Otherwise
 * (item features, tiny data) each thread owns a contiguous range of users
 * and the items are cut into T blocks visited in T rounds. The threads are
 * a team created once per fit. With one thread
 * and a fixed seed a run is bit-identical to any other run on the same
 * machine (same kernel variant), and to the schedule before blocks existed.
 *
 * Identity rows with no extra features are read and updated in place;
 * other representations are summed into per-thread scratch. Representations
 * are computed before the step and the step uses them for every row, so
 * in-place rows are read before they are written.
 */
#include "core/threads.h"
#include "model/model_int.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ----------------------------------------------------------------- losses */
static inline float sigmoidf(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* log(1 + exp(x)) without overflow. */
static inline float softplusf(float x)
{
    if (x > 20.0f)
        return x;
    if (x < -20.0f)
        return expf(x);
    return log1pf(expf(x));
}

trove__loss_grad trove__model_loss_logistic(float score, int label, float weight)
{
    trove__loss_grad g;
    float y = label ? 1.0f : 0.0f;
    g.loss = weight * (softplusf(score) - y * score);
    g.g_pos = weight * (sigmoidf(score) - y);
    g.g_neg = 0.0f;
    return g;
}

trove__loss_grad trove__model_loss_bpr(float pos, float neg, float weight)
{
    trove__loss_grad g;
    float x = pos - neg;
    float s = sigmoidf(-x); /* 1 - sigmoid(x) */
    g.loss = weight * softplusf(-x);
    g.g_pos = -weight * s;
    g.g_neg = weight * s;
    return g;
}

trove__loss_grad trove__model_loss_warp(float pos, float neg, float rank_weight)
{
    trove__loss_grad g;
    g.loss = rank_weight * (1.0f - pos + neg);
    g.g_pos = -rank_weight;
    g.g_neg = rank_weight;
    return g;
}

float trove__model_warp_rank_weight(uint32_t n_neg, uint32_t sampled)
{
    uint32_t est = sampled ? n_neg / sampled : n_neg;
    float l = logf(est > 1 ? (float)est : 1.0f);
    return l > TROVE__MAX_LOSS ? TROVE__MAX_LOSS : l;
}

/* ---------------------------------------------------------------- helpers */
/* Representation of row r of one side: in place when it is a lone identity
 * row, else summed into scratch. */
static inline const float *side_repr(const trove_model *m, const trove__kernels *k,
                                     const trove__table *id, const trove__table *feat,
                                     const trove_csr *fm, uint32_t r, float *scratch,
                                     float *bias)
{
    size_t dp = m->dp;
    uint64_t b = fm->indptr[r], e = fm->indptr[r + 1];
    float bs;
    if (id->rows > 0) {
        if (b == e) {
            *bias = trove__meta(id, r)[TROVE__BIAS];
            return id->emb + (size_t)r * dp;
        }
        memcpy(scratch, id->emb + (size_t)r * dp, dp * sizeof(float));
        bs = trove__meta(id, r)[TROVE__BIAS];
    } else {
        memset(scratch, 0, dp * sizeof(float));
        bs = 0.0f;
    }
    for (uint64_t x = b; x < e; x++) {
        uint32_t f = fm->indices[x];
        float w = fm->data ? fm->data[x] : 1.0f;
        k->axpy(w, feat->emb + (size_t)f * dp, scratch, dp);
        bs += w * trove__meta(feat, f)[TROVE__BIAS];
    }
    *bias = bs;
    return scratch;
}

static inline const float *user_repr(const trove_model *m, const trove__kernels *k,
                                     uint32_t u, float *scratch, float *bias)
{
    return side_repr(m, k, &m->uid, &m->ufeat, &m->ufm, u, scratch, bias);
}

static inline const float *item_repr(const trove_model *m, const trove__kernels *k,
                                     uint32_t i, float *scratch, float *bias)
{
    return side_repr(m, k, &m->iid, &m->ifeat, &m->ifm, i, scratch, bias);
}

/* One schedule step on row r of table t: gradient s*dir (+ alpha*w) on the
 * embedding and gb (+ alpha*b) on the bias; gb_on = 0 skips the bias.
 * Row-wise adagrad steps the whole row with lr / sqrt(A) for its
 * accumulator A before the example, then adds the mean over the dim
 * coordinates of the squared gradient (the padding's gradient is zero). */
static inline void row_step(const trove_model *m, const trove__kernels *k,
                            const trove__table *t, uint32_t r, const float *dir,
                            float s, float gb, int gb_on, float alpha)
{
    size_t dp = m->dp, off = (size_t)r * dp;
    if (m->p.learning_schedule == TROVE_SCHEDULE_ADAGRAD_ROWWISE) {
        float lr = m->p.learning_rate;
        float *mt = trove__meta(t, r);
        float ss = k->adagrad_row(t->emb + off, dir, s, lr / sqrtf(mt[TROVE__RACC]), alpha, dp);
        mt[TROVE__RACC] += ss / (float)m->dim;
        if (gb_on) {
            float g = gb + alpha * mt[TROVE__BIAS];
            mt[TROVE__BIAS] -= lr * g / sqrtf(mt[TROVE__BACC]);
            mt[TROVE__BACC] += g * g;
        }
    } else if (m->p.learning_schedule == TROVE_SCHEDULE_ADAGRAD) {
        float lr = m->p.learning_rate;
        k->adagrad(t->emb + off, t->acc + off, dir, s, lr, alpha, dp);
        if (gb_on) {
            float *mt = trove__meta(t, r);
            float g = gb + alpha * mt[TROVE__BIAS];
            mt[TROVE__BIAS] -= lr * g / sqrtf(mt[TROVE__BACC]);
            mt[TROVE__BACC] += g * g;
        }
    } else {
        float rho = m->p.rho, eps = m->p.epsilon;
        k->adadelta(t->emb + off, t->acc + off, t->dacc + off, dir, s, alpha, rho, eps, dp);
        if (gb_on) {
            float *mt = trove__meta(t, r);
            float g = gb + alpha * mt[TROVE__BIAS];
            float e = rho * mt[TROVE__BACC] + (1.0f - rho) * g * g;
            float d = sqrtf(mt[TROVE__BDACC] + eps) / sqrtf(e + eps) * g;
            mt[TROVE__BACC] = e;
            mt[TROVE__BDACC] = rho * mt[TROVE__BDACC] + (1.0f - rho) * d * d;
            mt[TROVE__BIAS] -= d;
        }
    }
}

/* Chain a representation gradient (s*dir, bias gb) to every row of one
 * side's row r: the identity row and each feature row scaled by its
 * weight. */
static inline void side_step(const trove_model *m, const trove__kernels *k,
                             const trove__table *id, const trove__table *feat,
                             const trove_csr *fm, uint32_t r, const float *dir, float s,
                             float gb, int gb_on, float alpha)
{
    if (id->rows > 0)
        row_step(m, k, id, r, dir, s, gb, gb_on, alpha);
    for (uint64_t x = fm->indptr[r]; x < fm->indptr[r + 1]; x++) {
        float w = fm->data ? fm->data[x] : 1.0f;
        row_step(m, k, feat, fm->indices[x], dir, s * w, gb * w, gb_on, alpha);
    }
}

/* Pairwise step: d/dq = g_pos p_pos + g_neg p_neg, d/dp_pos = g_pos q,
 * d/dp_neg = g_neg q, item biases g_pos / g_neg, user bias g_pos + g_neg. */
static void pairwise_step(const trove_model *m, const trove__kernels *k, uint32_t u,
                          uint32_t pos, uint32_t neg, const float *q, const float *pp,
                          const float *pn, float g_pos, float g_neg, float *tmp)
{
    float gbu = g_pos + g_neg;
    k->axpby(tmp, g_pos, pp, g_neg, pn, m->dp);
    side_step(m, k, &m->iid, &m->ifeat, &m->ifm, pos, q, g_pos, g_pos, 1, m->p.item_alpha);
    side_step(m, k, &m->iid, &m->ifeat, &m->ifm, neg, q, g_neg, g_neg, 1, m->p.item_alpha);
    side_step(m, k, &m->uid, &m->ufeat, &m->ufm, u, tmp, 1.0f, gbu, gbu != 0.0f,
              m->p.user_alpha);
}

/* Pointwise step: d/dq = g p, d/dp = g q, both biases g. */
static void pointwise_step(const trove_model *m, const trove__kernels *k, uint32_t u,
                           uint32_t i, const float *q, const float *p, float g, float *tmp)
{
    memcpy(tmp, p, m->dp * sizeof(float));
    side_step(m, k, &m->iid, &m->ifeat, &m->ifm, i, q, g, g, 1, m->p.item_alpha);
    side_step(m, k, &m->uid, &m->ufeat, &m->ufm, u, tmp, g, g, 1, m->p.user_alpha);
}

void trove__model_step(trove_model *m, uint32_t u, uint32_t pos, uint32_t neg,
                       int pairwise, float g_pos, float g_neg, float *scratch)
{
    const trove__kernels *k = trove__kernels_best();
    size_t dp = m->dp;
    float bu, bp, bn;
    const float *q = user_repr(m, k, u, scratch, &bu);
    const float *pp = item_repr(m, k, pos, scratch + dp, &bp);
    if (pairwise) {
        const float *pn = item_repr(m, k, neg, scratch + 2 * dp, &bn);
        pairwise_step(m, k, u, pos, neg, q, pp, pn, g_pos, g_neg, scratch + 3 * dp);
    } else {
        pointwise_step(m, k, u, pos, q, pp, g_pos, scratch + 3 * dp);
    }
}

/* ------------------------------------------------------------------ epoch */
/* User blocks and item columns of the grid schedule, per thread: 6 x 6
 * cells for two threads (4 x 4 left a longer wait for the last cell of an
 * epoch; 8 x 8 measured no better than 6 x 6; docs/model.md). */
#define TROVE__GRID_PER_THREAD 3u

typedef struct kos_pair {
    uint32_t item;
    float score;
} kos_pair;

/* One training example (an interaction), packed so that the loop reads
 * one 16-byte record per example. */
typedef struct train_ex {
    uint32_t user, item;
    float    w;
    uint32_t len;     /* the user's positives: indices[indptr[user] ..] */
} train_ex;

/* Deferred steps of violating negatives for one (producer thread, item
 * column) of the grid schedule: a single-producer ring, emptied by the
 * thread that next holds the column (the grid's hand-over of the column
 * orders the consumers). head and tail count entries since the fit began;
 * entry e lives in slot e % cap. The producer writes the user
 * representations with non-temporal stores (stream_copy: a slot's lines
 * were last read by the consumer's core, and a plain store would first
 * pull them back across cores) and publishes its entries once per cell,
 * after a store fence. */
typedef struct def_ring {
    _Alignas(64) _Atomic uint64_t head; /* published; written by the producer */
    uint64_t pushed;                    /* written, not yet published (producer) */
    uint64_t tail_seen;                 /* the producer's last read of tail */
    _Alignas(64) _Atomic uint64_t tail; /* applied; written by the column's holder */
    float *q;                           /* cap x dp: user representations */
    float *g;                           /* cap: gradient scales g_neg */
    uint32_t *item;                     /* cap: negatives */
    uint64_t cap;
} def_ring;

typedef struct train_job {
    trove_model *m;
    const trove__kernels *k;
    const trove_csr *x;
    const train_ex *ex;       /* examples in matrix order */
    uint32_t n_blocks;        /* item blocks: n_threads, or 1 */
    const uint32_t *block_lo; /* n_blocks + 1 item boundaries */
    uint32_t round;           /* this sub-epoch: thread t visits block (t + round) % n_blocks */
    int phase;                /* TRAIN_ROUND or TRAIN_GRID */
    /* Grid schedule (NULL grid otherwise): user blocks x g_cols item
     * columns; cell c's examples are cell_ex[cell_off[c] .. cell_off[c + 1]),
     * column j's items [col_lo[j], col_lo[j + 1]); rings[t * g_cols + j]
     * holds thread t's deferred steps on column j. */
    trove__grid *grid;
    uint32_t g_cols, n_threads;
    const uint32_t *col_lo;
    const uint32_t *cell_ex;
    const uint64_t *cell_off;
    def_ring *rings;
    /* Per column, its takes and releases so far: odd while a thread holds
     * it. A snapshot of the column is current while the count has not
     * moved. */
    _Atomic uint32_t *col_ver;
    /* The positives of long rows as bitmaps (trove__model_pos_index): user u's
     * starts at word pos_word[u] of pos_bits, or pos_word[u] == UINT64_MAX
     * (scan the row). pos_word NULL: no bitmaps. */
    const uint64_t *pos_bits;
    const uint64_t *pos_word;
} train_job;

/* Bitmaps of the positives of long rows (model_int.h). */
int trove__model_pos_index(const trove_csr *x, uint64_t **bits_out, uint64_t **word_out)
{
    uint64_t words = ((uint64_t)x->n_cols + 63) / 64, total = 0;
    uint64_t min_len = (uint64_t)x->n_cols / 128 + 1;
    uint64_t *word, *bits;
    *bits_out = *word_out = NULL;
    if (min_len < TROVE__POS_BITMAP_MIN)
        min_len = TROVE__POS_BITMAP_MIN;
    for (uint32_t u = 0; u < x->n_rows; u++)
        if (x->indptr[u + 1] - x->indptr[u] >= min_len)
            total += words;
    if (total == 0)
        return TROVE_OK;
    word = trove_malloc((size_t)x->n_rows * sizeof *word);
    bits = trove_calloc((size_t)total, sizeof *bits);
    if (word == NULL || bits == NULL) {
        trove_free(word);
        trove_free(bits);
        return TROVE_ENOMEM;
    }
    total = 0;
    for (uint32_t u = 0; u < x->n_rows; u++) {
        if (x->indptr[u + 1] - x->indptr[u] < min_len) {
            word[u] = UINT64_MAX;
            continue;
        }
        word[u] = total;
        for (uint64_t e = x->indptr[u]; e < x->indptr[u + 1]; e++)
            bits[total + (x->indices[e] >> 6)] |= (uint64_t)1 << (x->indices[e] & 63u);
        total += words;
    }
    *bits_out = bits;
    *word_out = word;
    return TROVE_OK;
}

/* Is item i among user u's positives (row[0 .. len))? */
static inline int is_positive(const train_job *job, uint32_t u, const uint32_t *row,
                              uint64_t len, uint32_t i)
{
    if (job->pos_word != NULL && job->pos_word[u] != UINT64_MAX)
        return trove__model_pos_bit(job->pos_bits, job->pos_word[u], i);
    return job->k->contains_u32(row, len, i);
}

/* What a team run does: one round of the item-block schedule, or a whole
 * epoch of the grid. */
enum { TRAIN_ROUND, TRAIN_GRID };

/* Aligned so that two threads' records never share a cache line. */
typedef struct train_thread {
    _Alignas(64) const train_job *job;
    uint32_t index;           /* 0 .. n_threads - 1 */
    uint64_t begin, end;      /* this thread's examples (whole users) */
    uint32_t *group;          /* end - begin example indices grouped by the
                               * item block of their item */
    uint64_t *group_off;      /* n_blocks + 1 offsets into group */
    uint32_t *perm;           /* this round's (or cell's) order */
    /* Grid: a copy of the item embeddings and biases (n_items x dp),
     * against which negatives outside the cell's column are scored; each
     * column is copied again when it was released since (snap_ver). */
    float *snap, *snap_bias;
    uint32_t *snap_ver;       /* g_cols */
    trove_rng rng;
    float *scratch;           /* 4 * dp floats, aligned */
    kos_pair *pairs;          /* n entries for k-OS */
    double loss;
    uint64_t done;
    int diverged;
    uint32_t bad_user, bad_item; /* the example whose score was non-finite */
} train_thread;

static int cmp_pair_desc(const void *a, const void *b)
{
    const kos_pair *x = a, *y = b;
    if (x->score > y->score)
        return -1;
    if (x->score < y->score)
        return 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* Hint the cache about the rows a coming example will read. */
static inline void prefetch_rows(const trove_model *m, const train_ex *e)
{
    size_t bytes = m->dp * sizeof(float);
    if (m->uid.rows > 0) {
        const char *r = (const char *)(m->uid.emb + (size_t)e->user * m->dp);
        for (size_t b = 0; b < bytes; b += 64)
            __builtin_prefetch(r + b);
    }
    if (m->iid.rows > 0) {
        const char *r = (const char *)(m->iid.emb + (size_t)e->item * m->dp);
        for (size_t b = 0; b < bytes; b += 64)
            __builtin_prefetch(r + b);
    }
}

static inline void prefetch_item(const trove_model *m, uint32_t i)
{
    if (m->iid.rows > 0) {
        const char *r = (const char *)(m->iid.emb + (size_t)i * m->dp);
        for (size_t b = 0; b < m->dp * sizeof(float); b += 64)
            __builtin_prefetch(r + b);
    }
}

/* A candidate negative is read from the snapshot when it lies outside the
 * cell's column [lo, lo + nb) and a snapshot exists, else in place. */
static inline void prefetch_candidate(const trove_model *m, const float *snap, uint32_t lo,
                                      uint32_t nb, uint32_t i)
{
    if (snap != NULL && i - lo >= nb) {
        const char *r = (const char *)(snap + (size_t)i * m->dp);
        for (size_t b = 0; b < m->dp * sizeof(float); b += 64)
            __builtin_prefetch(r + b);
    } else {
        prefetch_item(m, i);
    }
}

/* Copy into t's snapshot the columns other than col released since its
 * last copy of them and not held now. A held column is being written by
 * another core: reading its lines then would pull each one across and
 * make the holder's next write to it wait for the copy to be invalidated
 * (docs/model.md, "Two threads"); it is copied at a later cell. */
static void snap_refresh(const train_job *job, train_thread *t, uint32_t col)
{
    const trove_model *m = job->m;
    size_t dp = m->dp;
    for (uint32_t c = 0; c < job->g_cols; c++) {
        uint32_t v = atomic_load_explicit(&job->col_ver[c], memory_order_acquire);
        if (c == col || v == t->snap_ver[c] || (v & 1u) != 0)
            continue;
        uint32_t lo = job->col_lo[c], hi = job->col_lo[c + 1];
        memcpy(t->snap + (size_t)lo * dp, m->iid.emb + (size_t)lo * dp,
               (size_t)(hi - lo) * dp * sizeof(float));
        for (uint32_t r = lo; r < hi; r++)
            t->snap_bias[r] = trove__meta(&m->iid, r)[TROVE__BIAS];
        t->snap_ver[c] = v;
    }
}

/* pairwise_step for a negative in another item column of the grid: the
 * positive and the user are updated now, the negative's step (gradient
 * g_neg q, bias g_neg) is written to (dq, dg, ditem) for the thread that
 * next holds the negative's column. The negative is an identity-only item
 * (a condition of the grid), so its step is that one row's. */
static void pairwise_step_deferred(const trove_model *m, const trove__kernels *k, uint32_t u,
                                   uint32_t pos, uint32_t neg, const float *q, const float *pp,
                                   const float *pn, float g_pos, float g_neg, float *tmp,
                                   float *dq, float *dg, uint32_t *ditem)
{
    float gbu = g_pos + g_neg;
    size_t dp = m->dp;
    k->axpby(tmp, g_pos, pp, g_neg, pn, dp);
    side_step(m, k, &m->iid, &m->ifeat, &m->ifm, pos, q, g_pos, g_pos, 1, m->p.item_alpha);
    /* q may be the user's row in place: copy it before the user's step. */
    k->stream_copy(dq, q, dp);
    *ditem = neg;
    *dg = g_neg;
    side_step(m, k, &m->uid, &m->ufeat, &m->ufm, u, tmp, 1.0f, gbu, gbu != 0.0f,
              m->p.user_alpha);
}

/* Room for one more deferred step in the producer's ring r: 1 + the
 * slot to fill, or 0 when the ring is full. */
static inline uint64_t ring_room(def_ring *r)
{
    uint64_t h = r->pushed;
    if (h - r->tail_seen >= r->cap)
        r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
    return h - r->tail_seen < r->cap ? (h % r->cap) + 1 : 0;
}

/* Apply every deferred step queued on column col (all producers), in each
 * producer's order. The caller holds the column. */
static void drain_column(const train_job *job, uint32_t col)
{
    const trove_model *m = job->m;
    size_t dp = m->dp;
    for (uint32_t p = 0; p < job->n_threads; p++) {
        def_ring *r = &job->rings[(size_t)p * job->g_cols + col];
        uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        uint64_t tl = atomic_load_explicit(&r->tail, memory_order_relaxed);
        for (; tl < h; tl++) {
            uint64_t s = tl % r->cap;
            row_step(m, job->k, &m->iid, r->item[s], r->q + s * dp, r->g[s], r->g[s], 1,
                     m->p.item_alpha);
        }
        atomic_store_explicit(&r->tail, h, memory_order_release);
    }
}

static uint32_t item_block(const uint32_t *block_lo, uint32_t n_blocks, uint32_t i);

/* Train the examples ex_idx[0 .. n_ex) in a fresh random order; their
 * items lie in the block [lo, lo + nb), which no other thread writes
 * meanwhile. */
static void run_slice(train_thread *t, const uint32_t *ex_idx, uint64_t n_ex, uint32_t lo,
                      uint32_t nb)
{
    const train_job *job = t->job;
    trove_model *m = job->m;
    const trove__kernels *k = job->k;
    const trove_csr *x = job->x;
    size_t dp = m->dp;
    float *sq = t->scratch, *sp = sq + dp, *sn = sp + dp, *tmp = sn + dp;
    uint32_t n_items = m->n_items;
    uint32_t max_sampled = m->p.max_sampled;
    uint64_t max_draws = (uint64_t)max_sampled * 100u + 1000u;
    int loss_kind = m->p.loss;
    double loss_sum = 0.0;
    uint64_t done = 0;
    def_ring *rings = job->rings ? job->rings + (size_t)t->index * job->g_cols : NULL;
    const float *snap = t->snap, *snap_bias = t->snap_bias;
    if (n_ex == 0 || t->diverged)
        return;

    /* WARP draws its next candidate negative one step ahead so that its
     * row can be fetched while the current one is scored; the stream of
     * draws is the same, only consumed earlier. */
    trove_rng rng = t->rng; /* local: no shared cache line in the loop */
    uint32_t cand = trove_rng_below(&rng, n_items);
    prefetch_candidate(m, snap, lo, nb, cand);
    /* This round's order: a fresh uniform permutation of the thread's
     * examples in the block (Fisher-Yates on the thread's own stream). */
    for (uint64_t j = 0; j < n_ex; j++)
        t->perm[j] = ex_idx[j];
    for (uint64_t j = n_ex; j > 1; j--) {
        uint32_t r = trove_rng_below(&rng, (uint32_t)j);
        uint32_t tmp_idx = t->perm[j - 1];
        t->perm[j - 1] = t->perm[r];
        t->perm[r] = tmp_idx;
    }
    for (uint64_t o = 0; o < n_ex; o++) {
        if (o + 8 < n_ex)
            __builtin_prefetch(&job->ex[t->perm[o + 8]]);
        if (o + 4 < n_ex)
            prefetch_rows(m, &job->ex[t->perm[o + 4]]);
        const train_ex *ex = &job->ex[t->perm[o]];
        uint32_t u = ex->user;
        uint32_t i = ex->item;
        float w = ex->w;
        const uint32_t *row = x->indices + x->indptr[u];
        uint64_t len = ex->len;
        float bu, bp, bn;
        const float *q, *pp, *pn;
        float s_pos, s_neg;
        trove__loss_grad lg;

        if (loss_kind == TROVE_LOSS_LOGISTIC) {
            int label = w > 0.0f;
            float sw = w == 0.0f ? 1.0f : fabsf(w);
            q = user_repr(m, k, u, sq, &bu);
            pp = item_repr(m, k, i, sp, &bp);
            s_pos = k->dot(q, pp, dp) + bu + bp;
            if (!isfinite(s_pos)) {
                t->diverged = 1;
                t->bad_user = u;
                t->bad_item = i;
                break;
            }
            lg = trove__model_loss_logistic(s_pos, label, sw);
            loss_sum += lg.loss;
            pointwise_step(m, k, u, i, q, pp, lg.g_pos, tmp);
            done++;
            continue;
        }
        if (!(w > 0.0f) && loss_kind != TROVE_LOSS_WARP_KOS)
            continue;
        if (len >= n_items)
            continue; /* every item is a positive: no negative exists */
        q = user_repr(m, k, u, sq, &bu);

        if (loss_kind == TROVE_LOSS_BPR) {
            uint32_t neg = 0;
            int found = 0;
            for (int tries = 0; tries < 64; tries++) {
                neg = x->indices[trove_rng_below(&rng, (uint32_t)x->nnz)];
                if (!is_positive(job, u, row, len, neg)) {
                    found = 1;
                    break;
                }
            }
            if (!found)
                continue;
            pp = item_repr(m, k, i, sp, &bp);
            pn = item_repr(m, k, neg, sn, &bn);
            s_pos = k->dot(q, pp, dp) + bp;
            s_neg = k->dot(q, pn, dp) + bn;
            if (!isfinite(s_pos) || !isfinite(s_neg)) {
                t->diverged = 1;
                t->bad_user = u;
                t->bad_item = isfinite(s_pos) ? neg : i;
                break;
            }
            lg = trove__model_loss_bpr(s_pos, s_neg, w);
            loss_sum += lg.loss;
            pairwise_step(m, k, u, i, neg, q, pp, pn, lg.g_pos, lg.g_neg, tmp);
            done++;
            continue;
        }

        uint32_t n_neg;
        if (loss_kind == TROVE_LOSS_WARP_KOS) {
            uint32_t np = m->p.n < len ? m->p.n : (uint32_t)len;
            for (uint32_t j = 0; j < np; j++) {
                uint32_t c = row[trove_rng_below(&rng, (uint32_t)len)];
                pp = item_repr(m, k, c, sp, &bp);
                t->pairs[j].item = c;
                t->pairs[j].score = k->dot(q, pp, dp) + bp;
            }
            qsort(t->pairs, np, sizeof *t->pairs, cmp_pair_desc);
            i = t->pairs[(m->p.k < np ? m->p.k : np) - 1].item;
            w = 1.0f;
            n_neg = n_items - (uint32_t)len;
        } else {
            n_neg = n_items - 1;
        }
        pp = item_repr(m, k, i, sp, &bp);
        s_pos = k->dot(q, pp, dp) + bp;
        if (!isfinite(s_pos)) {
            t->diverged = 1;
            t->bad_user = u;
            t->bad_item = i;
            break;
        }
        uint32_t sampled = 0;
        uint64_t draws = 0;
        while (sampled < max_sampled && draws < max_draws) {
            uint32_t neg = cand;
            cand = trove_rng_below(&rng, n_items);
            prefetch_candidate(m, snap, lo, nb, cand);
            draws++;
            if (is_positive(job, u, row, len, neg))
                continue;
            sampled++;
            if (snap != NULL && neg - lo >= nb) {
                pn = snap + (size_t)neg * dp;
                bn = snap_bias[neg];
            } else {
                pn = item_repr(m, k, neg, sn, &bn);
            }
            s_neg = k->dot(q, pn, dp) + bn;
            if (s_neg > s_pos - 1.0f) {
                float l = w * trove__model_warp_rank_weight(n_neg, sampled);
                if (l > TROVE__MAX_LOSS)
                    l = TROVE__MAX_LOSS;
                if (!isfinite(s_neg)) {
                    t->diverged = 1;
                    t->bad_user = u;
                    t->bad_item = neg;
                    break;
                }
                lg = trove__model_loss_warp(s_pos, s_neg, l);
                loss_sum += lg.loss;
                def_ring *r = NULL;
                uint64_t slot = 0;
                if (rings != NULL && neg - lo >= nb) {
                    r = &rings[item_block(job->col_lo, job->g_cols, neg)];
                    slot = ring_room(r);
                }
                if (slot > 0) {
                    slot--;
                    pairwise_step_deferred(m, k, u, i, neg, q, pp, pn, lg.g_pos, lg.g_neg,
                                           tmp, r->q + slot * dp, r->g + slot, r->item + slot);
                    r->pushed++;
                } else {
                    pairwise_step(m, k, u, i, neg, q, pp, pn, lg.g_pos, lg.g_neg, tmp);
                }
                break;
            }
        }
        if (t->diverged)
            break;
        done++;
    }
    if (rings != NULL) {
        /* Publish this cell's deferred steps: the fence orders their
         * non-temporal stores before the heads. */
        k->stream_fence();
        for (uint32_t c = 0; c < job->g_cols; c++)
            if (rings[c].pushed != atomic_load_explicit(&rings[c].head, memory_order_relaxed))
                atomic_store_explicit(&rings[c].head, rings[c].pushed, memory_order_release);
    }
    t->rng = rng;
    t->loss += loss_sum;
    t->done += done;
}

int trove__model_block_cuts(const trove_csr *x, const uint64_t *range, uint32_t n_blocks,
                            uint32_t *block_lo)
{
    uint32_t n_items = x->n_cols;
    uint64_t *cnt;
    block_lo[0] = 0;
    block_lo[n_blocks] = n_items;
    if (n_blocks == 1)
        return TROVE_OK;
    cnt = trove_calloc((size_t)n_items * 2, sizeof *cnt);
    if (cnt == NULL)
        return TROVE_ENOMEM;
    if (n_blocks == 2) {
        /* cnt[i] / cnt[n_items + i]: thread 0's / 1's examples on item i.
         * a0 = A_0 and b1 = B_1 for the cut c (block 0 = items [0, c)). */
        uint64_t a0 = 0, b1 = 0, best = UINT64_MAX;
        for (uint32_t t = 0; t < 2; t++)
            for (uint64_t e = range[t]; e < range[t + 1]; e++)
                cnt[(size_t)t * n_items + x->indices[e]]++;
        for (uint32_t i = 0; i < n_items; i++)
            b1 += cnt[n_items + i];
        block_lo[1] = 1;
        for (uint32_t c = 1; c < n_items; c++) {
            a0 += cnt[c - 1];
            b1 -= cnt[n_items + c - 1];
            uint64_t gap = a0 > b1 ? a0 - b1 : b1 - a0;
            if (gap < best) {
                best = gap;
                block_lo[1] = c;
            }
            if (a0 >= b1)
                break;
        }
    } else {
        uint64_t seen = 0;
        uint32_t i = 0;
        for (uint64_t e = 0; e < x->nnz; e++)
            cnt[x->indices[e]]++;
        for (uint32_t b = 1; b < n_blocks; b++) {
            /* the fewest items holding b / n_blocks of the interactions,
             * leaving at least one item for each block */
            uint64_t target = x->nnz * b / n_blocks;
            while (i < n_items && seen < target)
                seen += cnt[i++];
            uint32_t c = i;
            if (c < block_lo[b - 1] + 1)
                c = block_lo[b - 1] + 1;
            if (c > n_items - (n_blocks - b))
                c = n_items - (n_blocks - b);
            block_lo[b] = c;
        }
    }
    trove_free(cnt);
    return TROVE_OK;
}

/* The block of item i: the b with block_lo[b] <= i < block_lo[b + 1]. */
static uint32_t item_block(const uint32_t *block_lo, uint32_t n_blocks, uint32_t i)
{
    uint32_t b = (uint32_t)((uint64_t)i * n_blocks / block_lo[n_blocks]);
    while (b > 0 && block_lo[b] > i)
        b--;
    while (b + 1 < n_blocks && block_lo[b + 1] <= i)
        b++;
    return b;
}

static void thread_main(void *ctx, uint32_t t)
{
    train_thread *th = (train_thread *)ctx + t;
    const train_job *job = th->job;
    if (job->phase == TRAIN_ROUND) {
        uint32_t b = (t + job->round) % job->n_blocks;
        uint64_t g0 = th->group_off[b];
        run_slice(th, th->group + g0, th->group_off[b + 1] - g0, job->block_lo[b],
                  job->block_lo[b + 1] - job->block_lo[b]);
    } else {
        uint32_t cell = TROVE__GRID_NONE;
        while (trove__grid_next(job->grid, t, cell, &cell)) {
            uint32_t col = cell % job->g_cols;
            uint64_t c0 = job->cell_off[cell];
            atomic_fetch_add_explicit(&job->col_ver[col], 1u, memory_order_acq_rel);
            drain_column(job, col);
            if (th->snap != NULL)
                snap_refresh(job, th, col);
            run_slice(th, job->cell_ex + c0, job->cell_off[cell + 1] - c0, job->col_lo[col],
                      job->col_lo[col + 1] - job->col_lo[col]);
            atomic_fetch_add_explicit(&job->col_ver[col], 1u, memory_order_release);
        }
    }
}

/* --------------------------------------------------------------- checking */
static int find_nonfinite(const trove__table *t, size_t dp, uint32_t *row, int *is_bias)
{
    for (uint32_t r = 0; r < t->rows; r++) {
        if (!isfinite(trove__meta(t, r)[TROVE__BIAS])) {
            *row = r;
            *is_bias = 1;
            return 1;
        }
        const float *e = t->emb + (size_t)r * dp;
        for (size_t j = 0; j < dp; j++)
            if (!isfinite(e[j])) {
                *row = r;
                *is_bias = 0;
                return 1;
            }
    }
    return 0;
}

static int report_divergence(const trove_model *m, uint64_t epoch, const train_thread *bad,
                             trove_error *err)
{
    struct {
        const trove__table *t;
        const char *what;
        const trove_idmap *names;
    } tabs[4] = {
        {&m->uid, "user", m->user_ids},
        {&m->ufeat, "user feature", m->ufeat_names},
        {&m->iid, "item", m->item_ids},
        {&m->ifeat, "item feature", m->ifeat_names},
    };
    for (int k = 0; k < 4; k++) {
        uint32_t row;
        int is_bias;
        if (find_nonfinite(tabs[k].t, m->dp, &row, &is_bias)) {
            const char *name = tabs[k].names ? trove_idmap_name(tabs[k].names, row, NULL) : NULL;
            return trove_error_set(err, TROVE_EDIVERGED,
                                   "training diverged in epoch %llu: the %s %s of %s %u%s%s%s "
                                   "became non-finite (lower learning_rate or check the "
                                   "feature weights)",
                                   (unsigned long long)epoch, tabs[k].what,
                                   is_bias ? "bias" : "embedding", tabs[k].what, row,
                                   name ? " ('" : "", name ? name : "", name ? "')" : "");
        }
    }
    if (bad != NULL) {
        /* Parameters are finite but a sum overflowed: name the side whose
         * representation is out of float range. */
        const trove__kernels *k = trove__kernels_best();
        float *buf = trove_aligned_alloc(TROVE__MODEL_ALIGN, 2 * (size_t)m->dp * sizeof(float));
        const char *side = "score";
        uint32_t row = bad->bad_user;
        if (buf != NULL) {
            float bu, bi;
            trove__model_user_repr(m, bad->bad_user, buf, &bu);
            trove__model_item_repr(m, bad->bad_item, buf + m->dp, &bi);
            float nu = k->dot(buf, buf, m->dp), ni = k->dot(buf + m->dp, buf + m->dp, m->dp);
            if (!isfinite(ni) || !isfinite(bi) || ni > nu) {
                side = "item";
                row = bad->bad_item;
            } else {
                side = "user";
            }
            trove_aligned_free(buf);
        }
        const trove_idmap *names = side[0] == 'i' ? m->item_ids : m->user_ids;
        const char *name = names ? trove_idmap_name(names, row, NULL) : NULL;
        return trove_error_set(err, TROVE_EDIVERGED,
                               "training diverged in epoch %llu: the score of user %u, item %u "
                               "is non-finite; the %s representation of %s %u%s%s%s (sum of its "
                               "feature embeddings times their weights) overflowed (lower "
                               "learning_rate or check the feature weights)",
                               (unsigned long long)epoch, bad->bad_user, bad->bad_item, side,
                               side, row, name ? " ('" : "", name ? name : "",
                               name ? "')" : "");
    }
    return trove_error_set(err, TROVE_EDIVERGED,
                           "training diverged in epoch %llu: the loss became non-finite "
                           "(lower learning_rate or check the feature weights)",
                           (unsigned long long)epoch);
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- front ends */
static uint64_t fingerprint(const trove_csr *x)
{
    uint64_t h = trove_hash64(&x->n_rows, sizeof x->n_rows, x->n_cols);
    h = trove_hash64(x->indptr, ((size_t)x->n_rows + 1) * sizeof *x->indptr, h);
    if (x->nnz > 0) {
        h = trove_hash64(x->indices, x->nnz * sizeof *x->indices, h);
        if (x->data)
            h = trove_hash64(x->data, x->nnz * sizeof *x->data, h);
    }
    return h;
}

/* First fit: fix the shape, allocate and initialise the tables. */
static int shape_model(trove_model *m, const trove_csr *x, const trove_csr *uf,
                       const trove_csr *itf, trove_error *err)
{
    int rc;
    if (uf != NULL && (uf->n_rows != x->n_rows || uf->n_cols != m->n_user_features))
        return trove_error_set(err, TROVE_EINVAL,
                               "user_features is %u x %u, expected %u users x %u features",
                               uf->n_rows, uf->n_cols, x->n_rows, m->n_user_features);
    if (itf != NULL && (itf->n_rows != x->n_cols || itf->n_cols != m->n_item_features))
        return trove_error_set(err, TROVE_EINVAL,
                               "item_features is %u x %u, expected %u items x %u features",
                               itf->n_rows, itf->n_cols, x->n_cols, m->n_item_features);
    if (uf == NULL && m->n_user_features > 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "the model has %u user features but no user_features matrix "
                               "was given", m->n_user_features);
    if (itf == NULL && m->n_item_features > 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "the model has %u item features but no item_features matrix "
                               "was given", m->n_item_features);
    if (!m->p.user_identity && m->n_user_features == 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "user_identity is off and there are no user features");
    if (!m->p.item_identity && m->n_item_features == 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "item_identity is off and there are no item features");
    m->n_users = x->n_rows;
    m->n_items = x->n_cols;
    /* Id maps attached to an earlier shape no longer apply. */
    if (m->user_ids != NULL && trove_idmap_size(m->user_ids) != m->n_users) {
        trove_idmap_free(m->user_ids);
        m->user_ids = NULL;
    }
    if (m->item_ids != NULL && trove_idmap_size(m->item_ids) != m->n_items) {
        trove_idmap_free(m->item_ids);
        m->item_ids = NULL;
    }
    rc = uf ? trove__model_csr_copy(uf, &m->ufm, "user_features", err)
            : trove__model_csr_empty(m->n_users, 0, &m->ufm);
    if (rc != TROVE_OK)
        goto fail;
    rc = itf ? trove__model_csr_copy(itf, &m->ifm, "item_features", err)
             : trove__model_csr_empty(m->n_items, 0, &m->ifm);
    if (rc != TROVE_OK)
        goto fail;
    m->item_count = trove_calloc(m->n_items ? m->n_items : 1, sizeof(uint32_t));
    if (m->item_count == NULL) {
        rc = TROVE_ENOMEM;
        goto fail;
    }
    if ((rc = trove__model_table_resize(m, &m->uid, m->p.user_identity ? m->n_users : 0)) != TROVE_OK ||
        (rc = trove__model_table_resize(m, &m->ufeat, m->n_user_features)) != TROVE_OK ||
        (rc = trove__model_table_resize(m, &m->iid, m->p.item_identity ? m->n_items : 0)) != TROVE_OK ||
        (rc = trove__model_table_resize(m, &m->ifeat, m->n_item_features)) != TROVE_OK)
        goto fail;
    m->shaped = 1;
    return TROVE_OK;
fail:
    trove__model_table_free(&m->uid);
    trove__model_table_free(&m->ufeat);
    trove__model_table_free(&m->iid);
    trove__model_table_free(&m->ifeat);
    trove_free(m->item_count);
    m->item_count = NULL;
    trove_csr_destroy(&m->ufm);
    trove_csr_destroy(&m->ifm);
    m->n_users = m->n_items = 0;
    if (rc == TROVE_ENOMEM)
        return trove_error_set(err, TROVE_ENOMEM, "fit: out of memory allocating the model");
    return rc;
}

/* Later fits may replace the feature matrices (same shape). */
static int replace_features(trove_model *m, const trove_csr *uf, const trove_csr *itf,
                            trove_error *err)
{
    trove_csr a, b;
    int rc;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (uf != NULL && (uf->n_rows != m->n_users || uf->n_cols != m->n_user_features))
        return trove_error_set(err, TROVE_EINVAL,
                               "user_features is %u x %u, the model has %u users x %u features",
                               uf->n_rows, uf->n_cols, m->n_users, m->n_user_features);
    if (itf != NULL && (itf->n_rows != m->n_items || itf->n_cols != m->n_item_features))
        return trove_error_set(err, TROVE_EINVAL,
                               "item_features is %u x %u, the model has %u items x %u features",
                               itf->n_rows, itf->n_cols, m->n_items, m->n_item_features);
    if (uf && (rc = trove__model_csr_copy(uf, &a, "user_features", err)) != TROVE_OK)
        return rc;
    if (itf && (rc = trove__model_csr_copy(itf, &b, "item_features", err)) != TROVE_OK) {
        trove_csr_destroy(&a);
        return rc;
    }
    if (uf) {
        trove_csr_destroy(&m->ufm);
        m->ufm = a;
    }
    if (itf) {
        trove_csr_destroy(&m->ifm);
        m->ifm = b;
    }
    return TROVE_OK;
}

/* ----------------------------------------------------------- grid schedule */
/* The grid schedule's state for one fit: cells of user blocks x item
 * columns, their examples, and the rings of deferred negative steps. */
typedef struct grid_state {
    trove__grid *grid;
    uint32_t *col_lo;   /* g + 1 item boundaries */
    uint32_t *cell_ex;  /* nnz example indices grouped by cell */
    uint64_t *cell_off; /* g * g + 1 offsets into cell_ex */
    def_ring *rings;    /* n_threads * g */
    _Atomic uint32_t *col_ver; /* g */
} grid_state;

/* Item columns of the grid for n_threads threads (0: no grid). The grid
 * needs identity-only items (a deferred step is one row's) and at least g
 * users and g items. */
static uint32_t grid_size(const trove_model *m, const trove_csr *x, uint32_t n_threads)
{
    uint32_t g = n_threads * TROVE__GRID_PER_THREAD;
    if (g < 3 || m->ifm.nnz != 0 || m->iid.rows == 0 || x->n_cols < g ||
        x->n_rows < n_threads * TROVE__GRID_PER_THREAD)
        return 0;
    return g;
}

static void grid_state_free(grid_state *gs, uint32_t n_threads, uint32_t g)
{
    if (gs->rings != NULL)
        for (size_t r = 0; r < (size_t)n_threads * g; r++) {
            trove_aligned_free(gs->rings[r].q);
            trove_free(gs->rings[r].g);
            trove_free(gs->rings[r].item);
        }
    trove_aligned_free(gs->rings);
    trove__grid_free(gs->grid);
    trove_free(gs->col_lo);
    trove_free(gs->cell_ex);
    trove_free(gs->cell_off);
    trove_free((void *)gs->col_ver);
    memset(gs, 0, sizeof *gs);
}

/* Build the grid: users cut into g contiguous blocks of about nnz / g
 * examples, items into g columns of about nnz / g interactions
 * (trove__model_block_cuts), each cell's examples in matrix order, a ring
 * per (thread, column), and each thread's order buffer grown to the
 * largest cell. Returns TROVE_OK or TROVE_ENOMEM (the caller frees). */
static int grid_build(const trove_model *m, const trove_csr *x, train_thread *th,
                      uint32_t n_threads, uint32_t g, grid_state *gs)
{
    uint64_t nnz = x->nnz, max_cell = 0, *range = NULL, *weight = NULL;
    uint32_t n_rows = n_threads * TROVE__GRID_PER_THREAD;
    size_t n_cells = (size_t)n_rows * g;
    uint32_t *row_of = NULL, *home = NULL;
    int rc = TROVE_ENOMEM;
    gs->col_lo = trove_malloc(((size_t)g + 1) * sizeof *gs->col_lo);
    gs->cell_ex = trove_malloc(nnz * sizeof *gs->cell_ex);
    gs->cell_off = trove_calloc(n_cells + 1, sizeof *gs->cell_off);
    gs->col_ver = trove_calloc(g, sizeof *gs->col_ver);
    gs->rings = trove_aligned_alloc(64, (size_t)n_threads * g * sizeof *gs->rings);
    if (gs->rings != NULL)
        memset(gs->rings, 0, (size_t)n_threads * g * sizeof *gs->rings);
    range = trove_malloc(((size_t)n_rows + 1) * sizeof *range);
    row_of = trove_malloc((size_t)x->n_rows * sizeof *row_of);
    home = trove_malloc((size_t)n_rows * sizeof *home);
    if (gs->col_lo == NULL || gs->cell_ex == NULL || gs->cell_off == NULL || gs->col_ver == NULL ||
        gs->rings == NULL || range == NULL || row_of == NULL || home == NULL)
        goto out;
    /* User blocks as the threads' ranges: by the middle example of each
     * user. */
    {
        uint32_t b = 0;
        range[0] = 0;
        for (uint32_t u = 0; u < x->n_rows; u++) {
            uint64_t mid = x->indptr[u] + (x->indptr[u + 1] - x->indptr[u]) / 2;
            uint64_t owner = mid * n_rows / nnz;
            while (b < owner && b + 1 < n_rows)
                range[++b] = x->indptr[u];
            row_of[u] = b;
        }
        while (++b <= n_rows)
            range[b] = nnz;
        for (uint32_t r = 0; r < n_rows; r++)
            home[r] = r / (n_rows / n_threads);
    }
    if (trove__model_block_cuts(x, range, g, gs->col_lo) != TROVE_OK)
        goto out;
    for (uint32_t u = 0; u < x->n_rows; u++)
        for (uint64_t e = x->indptr[u]; e < x->indptr[u + 1]; e++)
            gs->cell_off[(size_t)row_of[u] * g + item_block(gs->col_lo, g, x->indices[e]) + 1]++;
    weight = trove_malloc(n_cells * sizeof *weight);
    if (weight == NULL)
        goto out;
    for (size_t c = 0; c < n_cells; c++) {
        weight[c] = gs->cell_off[c + 1];
        max_cell = weight[c] > max_cell ? weight[c] : max_cell;
        gs->cell_off[c + 1] += gs->cell_off[c];
    }
    for (uint32_t u = 0; u < x->n_rows; u++)
        for (uint64_t e = x->indptr[u]; e < x->indptr[u + 1]; e++) {
            size_t c = (size_t)row_of[u] * g + item_block(gs->col_lo, g, x->indices[e]);
            gs->cell_ex[gs->cell_off[c]++] = (uint32_t)e;
        }
    for (size_t c = n_cells; c > 0; c--)
        gs->cell_off[c] = gs->cell_off[c - 1];
    gs->cell_off[0] = 0;
    if (trove__grid_new(n_rows, g, weight, home, &gs->grid) != TROVE_OK)
        goto out;
    for (uint32_t t = 0; t < n_threads; t++) {
        uint32_t *p = trove_malloc((max_cell ? max_cell : 1) * sizeof *p);
        if (p == NULL)
            goto out;
        trove_free(th[t].perm);
        th[t].perm = p;
        /* A snapshot while it is small beside the work (at most one item
         * row per four examples) and under 256 MiB. */
        if ((uint64_t)m->n_items * n_threads <= nnz / 4 &&
            (uint64_t)m->n_items * m->dp * sizeof(float) <= ((uint64_t)256 << 20)) {
            th[t].snap = trove_aligned_alloc(64, (size_t)m->n_items * m->dp * sizeof(float));
            th[t].snap_bias = trove_malloc((size_t)m->n_items * sizeof(float));
            th[t].snap_ver = trove_malloc((size_t)g * sizeof(uint32_t));
            if (th[t].snap == NULL || th[t].snap_bias == NULL || th[t].snap_ver == NULL)
                goto out;
            for (uint32_t c = 0; c < g; c++)
                th[t].snap_ver[c] = UINT32_MAX; /* no copy yet */
        }
        for (uint32_t c = 0; c < g; c++) {
            /* A ring holds the steps queued on one column between two
             * visits of it; at most 2 MiB each, a full one sends steps in
             * place. */
            def_ring *r = &gs->rings[(size_t)t * g + c];
            uint64_t entry = (uint64_t)m->dp * sizeof(float) + 8;
            r->cap = ((uint64_t)2 << 20) / entry;
            r->q = trove_aligned_alloc(64, (size_t)r->cap * m->dp * sizeof(float));
            r->g = trove_malloc((size_t)r->cap * sizeof(float));
            r->item = trove_malloc((size_t)r->cap * sizeof(uint32_t));
            if (r->q == NULL || r->g == NULL || r->item == NULL)
                goto out;
            /* Touched here, once: a ring cycles through all of it, and
             * its first-touch page faults inside the epochs cost more than
             * the steps (ml100k: 500-600 instead of 170-230 ns/example in
             * the first epochs). */
            memset(r->q, 0, (size_t)r->cap * m->dp * sizeof(float));
        }
    }
    rc = TROVE_OK;
out:
    trove_free(range);
    trove_free(row_of);
    trove_free(home);
    trove_free(weight);
    return rc;
}

int trove_model_fit_partial(trove_model *m, const trove_csr *x, const trove_csr *uf,
                            const trove_csr *itf, uint32_t epochs, trove_error *err)
{
    const trove__kernels *k = trove__kernels_best();
    uint32_t n_threads = m->p.num_threads;
    train_ex *ex = NULL;
    train_thread *th = NULL;
    uint32_t *block_lo = NULL, n_blocks = 1;
    uint64_t *pos_bits = NULL, *pos_word = NULL;
    uint64_t *range = NULL;
    trove__team *team = NULL;
    grid_state gs;
    uint32_t g_size = 0;
    int rc = TROVE_OK;
    uint64_t nnz;
    double t_total = 0.0;

    memset(&gs, 0, sizeof gs);
    if (x == NULL)
        return trove_error_set(err, TROVE_EINVAL, "fit: interactions is NULL");
    if (m->p.thread_schedule != TROVE_THREADS_BLOCKS &&
        m->p.thread_schedule != TROVE_THREADS_HOGWILD)
        return trove_error_set(err, TROVE_EINVAL,
                               "fit: thread_schedule must be blocks (0) or hogwild (1), got %d",
                               m->p.thread_schedule);
    if ((rc = trove_csr_validate(x, "interactions", err)) != TROVE_OK)
        return rc;
    if (uf && (rc = trove_csr_validate(uf, "user_features", err)) != TROVE_OK)
        return rc;
    if (itf && (rc = trove_csr_validate(itf, "item_features", err)) != TROVE_OK)
        return rc;
    nnz = x->nnz;
    if (nnz == 0 || x->n_rows == 0 || x->n_cols == 0)
        return trove_error_set(err, TROVE_EEMPTY, "fit: the interactions matrix is empty");
    if (nnz >= UINT32_MAX)
        return trove_error_set(err, TROVE_ERANGE,
                               "fit: %llu interactions; at most 4294967294 are supported",
                               (unsigned long long)nnz);
    if (m->shaped && (x->n_rows != m->n_users || x->n_cols != m->n_items))
        return trove_error_set(err, TROVE_EINVAL,
                               "fit_partial: interactions are %u x %u but the model has %u users "
                               "x %u items (grow the model first)",
                               x->n_rows, x->n_cols, m->n_users, m->n_items);
    if (!m->shaped)
        rc = shape_model(m, x, uf, itf, err);
    else
        rc = replace_features(m, uf, itf, err);
    if (rc != TROVE_OK)
        return rc;

    ex = trove_malloc(nnz * sizeof *ex);
    th = trove_aligned_alloc(64, n_threads * sizeof *th);
    if (th != NULL)
        memset(th, 0, n_threads * sizeof *th);
    if (ex == NULL || th == NULL)
        goto nomem;
    for (uint32_t t = 0; t < n_threads; t++) {
        th[t].scratch = trove_aligned_alloc(TROVE__MODEL_ALIGN, 4 * (size_t)m->dp * sizeof(float));
        th[t].pairs = trove_malloc(m->p.n * sizeof(kos_pair));
        if (th[t].scratch == NULL || th[t].pairs == NULL)
            goto nomem;
    }
    /* Thread t owns the users whose middle example falls in the t-th
     * n_threads-quantile of the examples: contiguous user ranges of about
     * nnz / n_threads examples, so no two threads ever write the same user
     * row, and each range is contiguous in matrix order. */
    {
        uint32_t t = 0;
        th[0].begin = 0;
        for (uint32_t u = 0; u < x->n_rows; u++) {
            uint64_t mid = x->indptr[u] + (x->indptr[u + 1] - x->indptr[u]) / 2;
            uint64_t owner = mid * n_threads / nnz;
            while (t < owner && t + 1 < n_threads) {
                th[t].end = x->indptr[u];
                th[++t].begin = x->indptr[u];
            }
        }
        th[t].end = nnz;
        while (++t < n_threads)
            th[t].begin = th[t].end = nnz;
    }
    /* Item blocks (the stratification of Gemulla et al., "Large-scale
     * matrix factorization with distributed stochastic gradient descent",
     * KDD 2011, applied to the positives): with T threads the items are cut
     * into T contiguous ranges (trove__model_block_cuts evens the rounds
     * out) and an epoch runs in T rounds; in round r thread t trains on its
     * examples whose item lies in block (t + r) % T, so no two threads
     * write the same positive row in a round. Negatives are still drawn
     * from all items (drawing them from the block only never compares
     * items of different blocks and ranks badly: ml100k WARP P@10 0.12
     * instead of 0.18). With identity-only items the grid (grid_build)
     * replaces the rounds: more blocks than threads, taken dynamically, and
     * the steps of violating negatives in other columns deferred to the
     * column's next holder, so that no thread writes a row another core is
     * writing (those cross-core writes were most of the cost of the second
     * thread; docs/model.md, Threads). k-OS draws its positive among all
     * the user's items and keeps the plain schedule, as does
     * TROVE_THREADS_HOGWILD. */
    n_blocks = n_threads > 1 && m->p.thread_schedule == TROVE_THREADS_BLOCKS &&
                       m->p.loss != TROVE_LOSS_WARP_KOS && m->n_items >= n_threads
                   ? n_threads
                   : 1;
    g_size = n_blocks > 1 ? grid_size(m, x, n_threads) : 0;
    if (g_size > 0)
        n_blocks = 1;

    block_lo = trove_malloc(((size_t)n_blocks + 1) * sizeof *block_lo);
    range = trove_malloc(((size_t)n_threads + 1) * sizeof *range);
    if (block_lo == NULL || range == NULL)
        goto nomem;
    for (uint32_t t = 0; t < n_threads; t++)
        range[t] = th[t].begin;
    range[n_threads] = nnz;
    if (trove__model_block_cuts(x, range, n_blocks, block_lo) != TROVE_OK)
        goto nomem;
    for (uint32_t t = 0; t < n_threads; t++) {
        uint64_t n = th[t].end - th[t].begin;
        th[t].index = t;
        th[t].perm = trove_malloc((n ? n : 1) * sizeof(uint32_t));
        th[t].group = trove_malloc((n ? n : 1) * sizeof(uint32_t));
        th[t].group_off = trove_calloc((size_t)n_blocks + 1, sizeof(uint64_t));
        if (th[t].perm == NULL || th[t].group == NULL || th[t].group_off == NULL)
            goto nomem;
        /* Counting sort of the thread's examples by block, stable, so that
         * with one block the order is the matrix order. */
        for (uint64_t e = th[t].begin; e < th[t].end; e++)
            th[t].group_off[item_block(block_lo, n_blocks, x->indices[e]) + 1]++;
        for (uint32_t b = 0; b < n_blocks; b++)
            th[t].group_off[b + 1] += th[t].group_off[b];
        for (uint64_t e = th[t].begin; e < th[t].end; e++) {
            uint32_t b = item_block(block_lo, n_blocks, x->indices[e]);
            th[t].group[th[t].group_off[b]++] = (uint32_t)e;
        }
        for (uint32_t b = n_blocks; b > 0; b--)
            th[t].group_off[b] = th[t].group_off[b - 1];
        th[t].group_off[0] = 0;
    }
    for (uint32_t u = 0; u < x->n_rows; u++)
        for (uint64_t e = x->indptr[u]; e < x->indptr[u + 1]; e++) {
            ex[e].user = u;
            ex[e].item = x->indices[e];
            ex[e].w = x->data ? x->data[e] : 1.0f;
            ex[e].len = (uint32_t)(x->indptr[u + 1] - x->indptr[u]);
        }

    {
        /* Items seen as positives (for the cold-item fallback). */
        for (uint64_t e = 0; e < nnz; e++) {
            uint32_t i = x->indices[e];
            if ((x->data == NULL || x->data[e] > 0.0f) && m->item_count[i] < UINT32_MAX)
                m->item_count[i]++;
        }
    }

    if (g_size > 0 && grid_build(m, x, th, n_threads, g_size, &gs) != TROVE_OK)
        goto nomem;
    /* logistic draws no negatives */
    if (m->p.loss != TROVE_LOSS_LOGISTIC &&
        trove__model_pos_index(x, &pos_bits, &pos_word) != TROVE_OK)
        goto nomem;
    if (n_threads > 1 && trove__team_new(n_threads, &team) != TROVE_OK)
        goto nomem;
    train_job job = {.m = m, .k = k, .x = x, .ex = ex, .n_blocks = n_blocks,
                     .block_lo = block_lo, .round = 0, .phase = TRAIN_ROUND,
                     .grid = gs.grid, .g_cols = g_size, .n_threads = n_threads,
                     .col_lo = gs.col_lo, .cell_ex = gs.cell_ex, .cell_off = gs.cell_off,
                     .rings = gs.rings, .col_ver = gs.col_ver, .pos_bits = pos_bits,
                     .pos_word = pos_word};
    for (uint32_t ep = 0; ep < epochs; ep++) {
        double t0 = now_sec(), loss = 0.0;
        uint64_t done = 0;
        int diverged = 0;
        uint64_t seed;

        seed = trove_rng_next(&m->rng);
        for (uint32_t t = 0; t < n_threads; t++) {
            th[t].job = &job;
            trove_rng_seed(&th[t].rng, seed);
            for (uint32_t j = 0; j < t; j++)
                trove_rng_jump(&th[t].rng);
            th[t].loss = 0.0;
            th[t].done = 0;
            th[t].diverged = 0;
        }
        /* A slice whose thread cannot start runs here: same work, less
         * parallelism. */
        if (gs.grid != NULL) {
            trove__grid_reset(gs.grid);
            job.phase = TRAIN_GRID;
            trove__team_run(team, thread_main, th);
        }
        for (uint32_t r = 0; r < n_blocks && gs.grid == NULL; r++) {
            job.round = r;
            job.phase = TRAIN_ROUND;
            if (team != NULL)
                trove__team_run(team, thread_main, th);
            else
                thread_main(th, 0);
        }
        const train_thread *bad = NULL;
        for (uint32_t t = 0; t < n_threads; t++) {
            loss += th[t].loss;
            done += th[t].done;
            diverged |= th[t].diverged;
            if (th[t].diverged && bad == NULL)
                bad = &th[t];
        }
        m->epochs_done++;
        m->examples_done += done;
        m->trained = 1;
        double secs = now_sec() - t0;
        t_total += secs;
        if (diverged || !isfinite(loss)) {
            rc = report_divergence(m, m->epochs_done, bad, err);
            goto out;
        }
        {
            uint32_t row;
            int is_bias;
            if (find_nonfinite(&m->iid, m->dp, &row, &is_bias) ||
                find_nonfinite(&m->uid, m->dp, &row, &is_bias) ||
                find_nonfinite(&m->ifeat, m->dp, &row, &is_bias) ||
                find_nonfinite(&m->ufeat, m->dp, &row, &is_bias)) {
                rc = report_divergence(m, m->epochs_done, NULL, err);
                goto out;
            }
        }
        if (m->p.progress != NULL) {
            trove_model_progress pr;
            pr.epoch = ep + 1;
            pr.n_epochs = epochs;
            pr.loss = done ? loss / (double)done : 0.0;
            pr.seconds = secs;
            pr.examples_per_sec = secs > 0.0 ? (double)done / secs : 0.0;
            pr.eta_seconds = t_total / (ep + 1) * (double)(epochs - ep - 1);
            m->p.progress(m->p.progress_ud, &pr);
        }
    }
    /* The negative steps still deferred (queued in the last cells). */
    for (uint32_t c = 0; c < g_size; c++)
        drain_column(&job, c);
    m->fingerprint = fingerprint(x);
    m->trained = 1;
    trove__model_cold_fallback(m);
    rc = trove__model_refresh(m);
    if (rc != TROVE_OK)
        rc = trove_error_set(err, rc, "fit: out of memory building item representations");
    goto out;

nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "fit: out of memory");
out:
    if (th != NULL)
        for (uint32_t t = 0; t < n_threads; t++) {
            trove_aligned_free(th[t].scratch);
            trove_free(th[t].pairs);
            trove_aligned_free(th[t].snap);
            trove_free(th[t].snap_bias);
            trove_free(th[t].snap_ver);
            trove_free(th[t].perm);
            trove_free(th[t].group);
            trove_free(th[t].group_off);
        }
    trove__team_free(team);
    grid_state_free(&gs, n_threads, g_size);
    trove_free(block_lo);
    trove_free(pos_bits);
    trove_free(pos_word);
    trove_free(range);
    trove_aligned_free(th);
    trove_free(ex);
    return rc;
}

int trove_model_fit(trove_model *m, const trove_csr *x, const trove_csr *uf,
                    const trove_csr *itf, uint32_t epochs, trove_error *err)
{
    /* Start over: drop every learned parameter and reseed. */
    trove__model_table_free(&m->uid);
    trove__model_table_free(&m->ufeat);
    trove__model_table_free(&m->iid);
    trove__model_table_free(&m->ifeat);
    trove_csr_destroy(&m->ufm);
    trove_csr_destroy(&m->ifm);
    trove_aligned_free(m->item_repr);
    trove_free(m->item_repr_bias);
    trove_free(m->item_count);
    m->item_repr = NULL;
    m->item_repr_bias = NULL;
    m->item_count = NULL;
    m->shaped = 0;
    m->trained = 0;
    m->n_users = m->n_items = 0;
    m->epochs_done = m->examples_done = 0;
    m->fingerprint = 0;
    trove_rng_seed(&m->rng, m->p.seed);
    return trove_model_fit_partial(m, x, uf, itf, epochs, err);
}
