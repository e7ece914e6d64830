/*
 * trove/tuned.h - the file of tuned model settings (`best.yaml`) that
 * `trove tune` writes and `trove evaluate --config` reads: the validation
 * metric, how the validation split was carved, and per model family the
 * chosen settings with their validation score, best model first.
 *
 *   # comment lines are allowed
 *   metric: ndcg@10
 *   validation_fraction: 0.2
 *   seed: 42
 *   best: ease
 *   models:
 *     - family: ease
 *       validation: 0.4123
 *       settings:
 *         lambda: "500"
 *     - family: blend
 *       validation: 0.4051
 *       settings:
 *         member1: "ease 1 lambda=500"
 *
 * Every key is required except `validation` and `settings`; unknown or
 * repeated keys, values of the wrong type and `best` naming no listed
 * family are TROVE_EFORMAT with "file:line:column: message". Setting values
 * are strings passed to the family as they are (trove/recommender.h checks
 * them at fit time).
 *
 * Thread safety: a loaded config is a plain value; load/save share nothing.
 */
#ifndef TROVE_TUNED_H
#define TROVE_TUNED_H

#include "trove/core.h"
#include "trove/recommender.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TROVE_TUNED_MAX_MODELS 64

typedef struct trove_tuned_model {
    char              family[TROVE_RECO_KEY_MAX];
    trove_reco_params settings;     /* threads = 1; the caller chooses */
    double            valid_score;  /* NaN when the file gives none */
} trove_tuned_model;

typedef struct trove_tuned_config {
    char     metric[32];            /* e.g. "ndcg@10" */
    double   valid_fraction;        /* share of train carved for validation */
    uint64_t seed;                  /* of the validation carving */
    char     best[TROVE_RECO_KEY_MAX]; /* family of the chosen model */
    size_t   n_models;              /* <= TROVE_TUNED_MAX_MODELS */
    trove_tuned_model *models;      /* [n_models], best first */
} trove_tuned_config;

/* A new empty config (n_models 0, room for TROVE_TUNED_MAX_MODELS); NULL on
 * out of memory. Free with trove_tuned_config_free. */
trove_tuned_config *trove_tuned_config_new(void);

/* Read `path`. Returns TROVE_OK, TROVE_ENOTFOUND / TROVE_EIO (cannot open),
 * TROVE_EFORMAT (syntax or content, "file:line:column: message"),
 * TROVE_ENOMEM. *out is caller-owned, written only on success. */
int trove_tuned_config_load(const char *path, trove_tuned_config **out,
                            trove_error *err);

/* Write c to `path` (atomically: beside it, then renamed). TROVE_EINVAL if
 * c has no model or `best` is not one of them; TROVE_EIO on write errors. */
int trove_tuned_config_save(const trove_tuned_config *c, const char *path,
                            trove_error *err);

void trove_tuned_config_free(trove_tuned_config *c);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_TUNED_H */
