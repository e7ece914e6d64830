/*
 * trove/tune.h - hyperparameter search over the recommender families
 * (trove/recommender.h): grid or random search per family, every setting
 * fitted on a validation split carved from the training data only (a
 * per-user RANDOM holdout, trove_dataset_split) and scored there by one
 * named metric (trove/eval.h), within a wall-clock budget; the result is a
 * leaderboard and the best settings per family (trove/tuned.h).
 *
 * Search spaces (grid values; random search draws each setting uniformly,
 * or log-uniformly for scale parameters, between the smallest and largest
 * grid value; integers are rounded):
 *   ease      lambda {50, 100, 200, 350, 500, 750, 1000, 1500, 2500, 4000}
 *   ials      factors {64, 128, 256} x regularization {0.01, 0.1, 1, 10, 50}
 *             x alpha {1, 5, 20} x reg_exponent {0, 1} (frequency-scaled
 *             regularisation), iterations 15
 *   edlae     lambda {20, 50, 100, 200, 400} x dropout {0.1, 0.25, 0.4,
 *             0.55, 0.7}
 *   itemknn   neighbours {20, 50, 100, 200, 400} x shrink {0, 10, 50, 200}
 *   rp3beta   alpha {0.5, 0.75, 1, 1.25} x beta {0.1, 0.25, 0.4, 0.55, 0.7}
 *             x neighbours {50, 100, 200, 500}
 *   warp, bpr, logistic, warp-kos
 *             dim {32, 64, 128} x epochs {20, 40} x item_alpha {0, 1e-5}
 *   popularity and the other baselines: their defaults (one trial)
 *   blend     after every other family: a weighted blend of the best model
 *             of the (up to) three best families, weights of the 2nd and 3rd
 *             member in {0, 0.25, 0.5, 1, 2} relative to the first's 1,
 *             scored from the already fitted validation models
 *
 * Order and budget: families take turns (one trial each in turn), so every
 * family is tried early; the budget is checked between trials, and a trial
 * is skipped when the family's previous trial took longer than what is
 * left; when "blend" is listed, the other families stop at 90% of the
 * budget and the blend search has the rest. The first trial always runs; if it alone overruns the budget, the
 * search fails with TROVE_ERANGE (the budget cannot hold one configuration).
 *
 * Thread safety: trove_tune_run only reads `train`; results are plain
 * values owned by the caller.
 */
#ifndef TROVE_TUNE_H
#define TROVE_TUNE_H

#include "trove/core.h"
#include "trove/dataset.h"
#include "trove/eval.h"
#include "trove/recommender.h"
#include "trove/tuned.h"

#ifdef __cplusplus
extern "C" {
#endif

enum trove_tune_strategy {
    TROVE_TUNE_GRID   = 0,   /* every grid point, in order */
    TROVE_TUNE_RANDOM = 1    /* max_trials random draws per family */
};

typedef struct trove_tune_params {
    /* families to search, NULL-terminated (borrowed); "blend" is searched
     * last over the best models of the others */
    const char *const *families;
    int      metric;          /* enum trove_metric; default NDCG */
    uint32_t k;               /* list length of the metric; default 10 */
    int      strategy;        /* enum trove_tune_strategy; default GRID */
    uint32_t max_trials;      /* per family; 0 = the whole grid (GRID) or 20
                                 (RANDOM); default 0 */
    double   budget_seconds;  /* wall clock, > 0; default 300 */
    double   valid_fraction;  /* of each user's train items; default 0.2 */
    uint64_t seed;            /* validation carving and random draws; 42 */
    int      threads;         /* fitting and evaluation threads; default 1 */
} trove_tune_params;

trove_tune_params trove_tune_default_params(void);

/* Parse a metric name with its list length: "ndcg@10", "precision@5"
 * ("p@5"), "recall@20", "map@10", "hit_rate@10", "mrr", "auc" (k 10 when
 * absent). TROVE_EINVAL naming the valid names otherwise. */
int trove_tune_parse_metric(const char *s, int *metric, uint32_t *k,
                            trove_error *err);

typedef struct trove_tune_trial {
    char              family[TROVE_RECO_KEY_MAX];
    trove_reco_params settings;
    int               status;     /* TROVE_OK, or the fit/evaluation error */
    char              message[TROVE_ERROR_MSG_MAX]; /* error text if status != OK */
    double            score;      /* validation value of the metric (NaN if
                                     the trial failed) */
    double            metrics[TROVE_METRIC_COUNT]; /* all validation means */
    double            fit_seconds, eval_seconds;
    uint32_t          order;      /* 0-based position in the run */
} trove_tune_trial;

typedef struct trove_tune_result {
    int      metric;
    uint32_t k;
    size_t   n_trials;
    trove_tune_trial *trials;     /* leaderboard: best score first, failed
                                     trials last, ties by run order */
    size_t   n_skipped;           /* trials not run for lack of budget */
    int      budget_exhausted;    /* 1 if the budget stopped the search */
    double   seconds;             /* wall time of the whole search */
    uint32_t n_valid_users;       /* users with validation items */
    uint64_t n_valid_pairs;
} trove_tune_result;

/* Run the search on `train`. Returns TROVE_OK (at least one trial
 * succeeded), TROVE_EINVAL (bad params, unknown family, fraction outside
 * (0,1)), TROVE_ERANGE (budget too small for one configuration),
 * TROVE_EEMPTY (no validation pair, or every trial failed: the message
 * names the first failure), TROVE_ENOMEM. *out is caller-owned. */
int trove_tune_run(const trove_dataset *train, const trove_tune_params *p,
                   trove_tune_result **out, trove_error *err);

void trove_tune_result_free(trove_tune_result *r);

/* The tuned config of a result: per family its best successful trial, best
 * first, with the metric name and the validation carving of p. *out is
 * caller-owned (trove_tuned_config_free). TROVE_EEMPTY if no trial
 * succeeded. */
int trove_tune_result_config(const trove_tune_result *r,
                             const trove_tune_params *p,
                             trove_tuned_config **out, trove_error *err);

/* "ndcg@10" etc. for a metric and k (buffer of n bytes). */
void trove_tune_metric_label(int metric, uint32_t k, char *buf, size_t n);

/* Settings as "key=value key=value" (buffer of n bytes, truncated). */
void trove_tune_settings_text(const trove_reco_params *s, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_TUNE_H */
