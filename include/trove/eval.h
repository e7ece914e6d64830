/*
 * trove/eval.h - offline evaluation: ranking metrics, the evaluation engine,
 * bootstrap confidence intervals, paired comparison against a baseline, and
 * the comparison report (JSON and self-contained HTML).
 *
 * Exact metric definitions are written down in docs/metrics.md. In short,
 * for a user u with relevant (test) items T_u, train items excluded from the
 * ranking, and the top-k list L_u (ties broken by item index ascending):
 *
 *   precision@k  |L_u ∩ T_u| / k                      (k, not |L_u|)
 *   recall@k     |L_u ∩ T_u| / |T_u|                  (not capped)
 *   NDCG@k       binary gains, DCG / ideal DCG over min(k, |T_u|) hits
 *   MAP@k        sum of precision at each hit rank / min(k, |T_u|)
 *                (or / |T_u| with TROVE_MAP_BY_RELEVANT)
 *   MRR          1 / (1 + rank of the best-ranked relevant item), full list
 *   hit rate@k   1 if L_u ∩ T_u is not empty
 *   LightFM      rank(t) = #{j != t, j not in train, score_j >= score_t}
 *                precision = #{rank < k} / k, recall = #{rank < k} / |T_u|,
 *                AUC as lightfm.evaluation.auc_score computes it.
 *
 * These top-k definitions agree with Microsoft Recommenders'
 * python_evaluation (precision_at_k, recall_at_k, ndcg_at_k, map_at_k; `map`
 * is TROVE_MAP_BY_RELEVANT); the LightFM ones with lightfm.evaluation.
 *
 * Thread safety: the pure metric functions are reentrant. trove_eval_run
 * calls the scorer from several threads at once (distinct buffers). Results
 * are immutable once returned and may be read from any thread.
 */
#ifndef TROVE_EVAL_H
#define TROVE_EVAL_H

#include <stdio.h>

#include "trove/core.h"
#include "trove/dataset.h"
#include "trove/recommender.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- metrics */
/* Per-user accuracy metrics, in this order everywhere (arrays, JSON). */
enum trove_metric {
    TROVE_METRIC_PRECISION = 0,     /* top-k precision@k */
    TROVE_METRIC_RECALL,            /* top-k recall@k */
    TROVE_METRIC_NDCG,              /* NDCG@k, binary gains */
    TROVE_METRIC_MAP,               /* MAP@k (denominator: see params) */
    TROVE_METRIC_MRR,               /* reciprocal rank over the full list */
    TROVE_METRIC_HIT_RATE,          /* hit rate@k */
    TROVE_METRIC_AUC,               /* LightFM's AUC */
    TROVE_METRIC_PRECISION_LFM,     /* LightFM's precision_at_k */
    TROVE_METRIC_RECALL_LFM,        /* LightFM's recall_at_k */
    TROVE_METRIC_COUNT
};

/* Short name ("precision", "recall", "ndcg", "map", "mrr", "hit_rate",
 * "auc", "precision_lfm", "recall_lfm"); "?" for an unknown index. */
const char *trove_metric_name(int metric);

/* MAP@k denominators. */
enum trove_map_denominator {
    TROVE_MAP_MIN_K       = 0,  /* min(k, |T_u|): default, ANCHORS, map_at_k */
    TROVE_MAP_BY_RELEVANT = 1   /* |T_u|: Recommenders' `map` */
};

/* Metrics of one ranked list. `ranked` holds n_ranked item ids in rank order
 * (best first; n_ranked may be below k: a short list); `relevant` holds n_rel
 * >= 1 distinct item ids sorted ascending. Only the first k entries of
 * `ranked` count. Each returns a value in [0, 1]; 0 when k, n_rel are 0. */
double trove_eval_precision_at_k(const uint32_t *ranked, uint32_t n_ranked,
                                 const uint32_t *relevant, uint32_t n_rel,
                                 uint32_t k);
double trove_eval_recall_at_k(const uint32_t *ranked, uint32_t n_ranked,
                              const uint32_t *relevant, uint32_t n_rel,
                              uint32_t k);
double trove_eval_ndcg_at_k(const uint32_t *ranked, uint32_t n_ranked,
                            const uint32_t *relevant, uint32_t n_rel,
                            uint32_t k);
double trove_eval_map_at_k(const uint32_t *ranked, uint32_t n_ranked,
                           const uint32_t *relevant, uint32_t n_rel,
                           uint32_t k, int map_denominator);
double trove_eval_hit_rate_at_k(const uint32_t *ranked, uint32_t n_ranked,
                                const uint32_t *relevant, uint32_t n_rel,
                                uint32_t k);
/* 1/(1+p) for the first position p of a relevant item in the whole list,
 * 0 if none is in it. */
double trove_eval_reciprocal_rank(const uint32_t *ranked, uint32_t n_ranked,
                                  const uint32_t *relevant, uint32_t n_rel);

/* LightFM's AUC of one user from the ranks of its n_test test items (rank
 * definition above; the array is sorted in place) and n_neg = n_items -
 * n_test - n_train. Returns 0.5 when n_test or n_neg is 0 (one class only). */
double trove_eval_lightfm_auc(uint32_t *ranks, uint32_t n_test, uint64_t n_neg);

/* Gini coefficient of n non-negative counts (0 = equal exposure, towards 1 =
 * concentrated). Returns 0 when n is 0 or all counts are 0 (and when a
 * working copy cannot be allocated: the engine uses its own buffer). */
double trove_eval_gini(const uint64_t *counts, uint32_t n);

/* -------------------------------------------------------------- scorer */
/* What the engine evaluates: anything that fills n_items scores for a user.
 * score_user must be safe to call from several threads at once with
 * distinct `scores` buffers; higher is better. A score of -INFINITY means
 * "never recommend" (the item is left out of the top-k list but still
 * ranked by the LightFM definitions); NaN is treated as -INFINITY. */
typedef struct trove_scorer {
    void    *ctx;
    uint32_t n_users, n_items;
    int (*score_user)(void *ctx, uint32_t user, float *scores,
                      trove_error *err);
} trove_scorer;

/* A scorer over a fitted recommender (borrowed: r must outlive its use). */
trove_scorer trove_scorer_from_recommender(const trove_recommender *r);

/* --------------------------------------------------------------- engine */
/* Slices the engine can report (bit mask). */
enum trove_eval_slice_kind {
    TROVE_SLICE_MARKET     = 1u << 0, /* per market (needs user_market) */
    TROVE_SLICE_COLD_ITEMS = 1u << 1, /* relevant items with no train user */
    TROVE_SLICE_NEW_USERS  = 1u << 2, /* users with no train interaction */
    TROVE_SLICE_ACTIVITY   = 1u << 3, /* buckets of train interactions */
    TROVE_SLICE_ALL        = 0xfu
};

#define TROVE_EVAL_MAX_ACTIVITY_EDGES 8

typedef struct trove_eval_params {
    uint32_t k;                /* list length; default 10 */
    int      threads;          /* worker threads; default 1; <= 0 = 1 */
    int      map_denominator;  /* enum trove_map_denominator; default MIN_K */
    uint32_t bootstrap;        /* resamples for CIs; 0 = no CIs; default 1000 */
    double   ci_level;         /* default 0.95 */
    uint64_t seed;             /* bootstrap seed; default 42 */
    unsigned slices;           /* TROVE_SLICE_* mask; default ALL */
    /* Market of each user (index < n_markets) or UINT32_MAX for none; NULL
     * disables the market slices. Borrowed during trove_eval_run. */
    const uint32_t    *user_market;
    uint32_t           n_markets;
    const char *const *market_names;   /* n_markets names, or NULL */
    /* Lower edges of the activity buckets (train interactions per user,
     * strictly ascending, first >= 1); default {1, 5, 20, 100}. */
    uint32_t activity_edges[TROVE_EVAL_MAX_ACTIVITY_EDGES];
    uint32_t n_activity_edges;
} trove_eval_params;

trove_eval_params trove_eval_default_params(void);

/* Mean of each metric over a set of users, with its bootstrap interval
 * (lo = hi = mean when bootstrap is 0). */
typedef struct trove_eval_summary {
    uint32_t n_users;
    double   mean[TROVE_METRIC_COUNT];
    double   lo[TROVE_METRIC_COUNT];
    double   hi[TROVE_METRIC_COUNT];
} trove_eval_summary;

typedef struct trove_eval_slice {
    char     name[64];      /* "market=DE", "cold items", "new users",
                               "train 5-19" */
    unsigned kind;          /* one TROVE_SLICE_* bit */
    trove_eval_summary s;
} trove_eval_slice;

/* Result of one evaluation. A plain struct owned by the caller
 * (trove_eval_result_free); every array is allocated by the engine. */
typedef struct trove_eval_result {
    uint32_t k, n_items, n_users_total;
    int      map_denominator;
    /* users evaluated: those with >= 1 relevant item not in their train */
    uint32_t  n_users;
    uint32_t *users;         /* [n_users] user indices, ascending */
    double   *per_user;      /* [n_users][TROVE_METRIC_COUNT] */
    trove_eval_summary overall;
    /* beyond accuracy, over the top-k lists of the evaluated users */
    uint64_t *exposure;      /* [n_items] times each item was recommended */
    uint64_t  n_recommended; /* total list entries (sum of exposure) */
    double    coverage;      /* distinct recommended items / n_items */
    double    top5_share;    /* share of n_recommended taken by the 5 most
                                recommended items */
    double    gini;          /* Gini of exposure over all n_items */
    double    novelty;       /* mean -log2 p(i), p(i) = max(1, c_i) / U */
    double    mean_popularity; /* mean c_i of recommended items */
    /* input accounting */
    uint64_t  n_test_pairs;     /* pairs in the test matrix */
    uint64_t  n_test_in_train;  /* dropped: also a train pair of the user */
    uint64_t  n_relevant;       /* pairs evaluated */
    /* slices */
    uint32_t          n_slices;
    trove_eval_slice *slices;
} trove_eval_result;

/* Evaluate `scorer` on `test` with the pairs of `train` excluded from every
 * ranking, in one pass per user over the whole catalog (see the header
 * comment for the metrics). train and test are users x items CSR matrices
 * with n_rows <= scorer->n_users and n_cols == scorer->n_items; train may be
 * NULL (nothing excluded). Results do not depend on params->threads.
 * Returns TROVE_OK; TROVE_EINVAL (bad shapes, k = 0, k larger than the
 * catalog), TROVE_EEMPTY (no user has a test item outside train), TROVE_ENOMEM,
 * or the scorer's own status (with its message). *out is set on success. */
int trove_eval_run(const trove_scorer *scorer, const trove_csr *train,
                   const trove_csr *test, const trove_eval_params *params,
                   trove_eval_result **out, trove_error *err);

void trove_eval_result_free(trove_eval_result *r);

/* Percentile bootstrap interval of the mean of each metric over the users
 * listed in idx (n of them; idx NULL = every user of r): `b` resamples with
 * replacement, deterministic for a seed. Fills *out (n_users, mean, lo, hi). */
int trove_eval_summarize(const trove_eval_result *r, const uint32_t *idx,
                         uint32_t n, uint32_t b, double level, uint64_t seed,
                         trove_eval_summary *out, trove_error *err);

/* ----------------------------------------------------- paired comparison */
/* Model A against a baseline B over the same users: per metric the mean
 * per-user difference A - B, its paired-bootstrap interval, and the two-sided
 * p-value of a paired sign-flip randomisation test (Fisher; see Smucker,
 * Allan & Carterette, "A comparison of statistical significance tests for
 * information retrieval evaluation", CIKM 2007): p = (1 + #{|mean of
 * randomly sign-flipped differences| >= |observed|}) / (1 + rounds).
 * Identical models give p = 1. */
typedef struct trove_eval_comparison {
    uint32_t n_users;
    double   diff[TROVE_METRIC_COUNT];
    double   lo[TROVE_METRIC_COUNT];
    double   hi[TROVE_METRIC_COUNT];
    double   p_value[TROVE_METRIC_COUNT];
} trove_eval_comparison;

/* Compare a with base (both from trove_eval_run on the same test users; else
 * TROVE_EINVAL). rounds: bootstrap resamples and randomisation rounds (0 =
 * 1000). */
int trove_eval_compare(const trove_eval_result *a,
                       const trove_eval_result *base, uint32_t rounds,
                       double level, uint64_t seed,
                       trove_eval_comparison *out, trove_error *err);

/* ------------------------------------------------------------ test files */
/* Counts of what trove_eval_load_pairs read. */
typedef struct trove_eval_load_stats {
    uint64_t lines;          /* non-empty lines */
    uint64_t pairs;          /* pairs kept (distinct) */
    uint64_t duplicates;     /* repeated pairs (kept once) */
    uint64_t unknown_user;   /* pairs whose user is not in `users` */
    uint64_t unknown_item;   /* pairs whose item is not in `items` (and
                                whose user is known) */
} trove_eval_load_stats;

/* Read a `user<TAB>item[<TAB>...]` file (plain or gzip) into a users x
 * items binary CSR over fixed id maps: pairs naming an id absent from the
 * maps are counted in *stats and skipped, never an error. Malformed lines
 * (no tab) are TROVE_EFORMAT naming file:line. *out is caller-owned
 * (trove_csr_destroy); *stats may be NULL. */
int trove_eval_load_pairs(const char *path, const trove_idmap *users,
                          const trove_idmap *items, trove_csr *out,
                          trove_eval_load_stats *stats, trove_error *err);

/* --------------------------------------------------------------- report */
typedef struct trove_eval_report_model {
    const char *name;                       /* "popularity", "warp", ... */
    const trove_eval_result *result;        /* borrowed */
    const trove_eval_comparison *vs_base;   /* NULL for the baseline itself */
    double fit_seconds, eval_seconds;
} trove_eval_report_model;

typedef struct trove_eval_report_info {
    const char *title;          /* e.g. the split name */
    const char *train_path, *test_path;
    const char *baseline;       /* name of the baseline model */
    uint32_t    n_users, n_items;
    uint64_t    n_train_pairs;
    trove_eval_load_stats test_stats;
    uint32_t    bootstrap;
    double      ci_level;
} trove_eval_report_info;

/* One JSON object (one line) with the setup, and per model every metric
 * with its interval, the beyond-accuracy figures, the comparison with the
 * baseline and the slices. Returns TROVE_EIO on a write error. */
int trove_eval_report_json(FILE *f, const trove_eval_report_info *info,
                           const trove_eval_report_model *models, size_t n,
                           trove_error *err);

/* A self-contained HTML page (inline CSS and SVG, no script, no network):
 * the table, one bar chart per metric with interval whiskers, the
 * comparison with the baseline and the slices. */
int trove_eval_report_html(const char *path, const trove_eval_report_info *info,
                           const trove_eval_report_model *models, size_t n,
                           trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_EVAL_H */
