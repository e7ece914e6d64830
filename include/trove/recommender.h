/*
 * trove/recommender.h - one interface over every model family: the
 * baselines (random, popularity, popularity-rating, popularity-market,
 * personal-popularity, content, itemknn), the hybrid factorization model
 * ("warp", "bpr", "logistic", "warp-kos": trove/model.h) and the implicit
 * factor models ("ials": trove/ials.h, "ease": trove/ease.h), the
 * random-walk item model "rp3beta", the denoising autoencoder "edlae" and
 * "blend" (a mix of other families).
 *
 * A recommender is fitted on a training dataset, then scores users over the
 * whole catalog, recommends top-k lists, and saves to / loads from one file.
 * It keeps a copy of the training interactions (to exclude them from lists
 * and to build user profiles), so the dataset may be freed after fitting.
 *
 * Families and their settings (key=value, see trove_reco_params_set):
 *   random               seed (default 42): a fixed pseudo-random score per
 *                        (user, item), the same on every call
 *   popularity           number of training users per item
 *   popularity-rating    mean interaction weight (rating) shrunk towards the
 *                        global mean: (sum_i + prior*mu) / (n_i + prior);
 *                        prior (default 10)
 *   popularity-market    popularity among the users of the same market; a
 *                        user's market is its user feature "market=XX";
 *                        users without one get global popularity; ties
 *                        within a market are broken by global popularity
 *   personal-popularity  the user's own items first (by weight), then items
 *                        sharing the user's favourite item features (share of
 *                        the user's items carrying each feature), then global
 *                        popularity
 *   content              TF-IDF weighted item features (idf = ln(n_items /
 *                        df)), L2-normalised; user profile = weighted sum of
 *                        the vectors of the user's items; score = cosine
 *   itemknn              item-item cosine on binary training columns with
 *                        shrinkage: |U_i ∩ U_j| / (sqrt(|U_i||U_j|) +
 *                        shrink); neighbours (default 100) most similar
 *                        items kept per item; shrink (default 10);
 *                        score(u,i) = sum over the user's items j of sim(j,i)
 *   warp, bpr, logistic, warp-kos   epochs (30), dim (64), lr (0.05),
 *                        item_alpha, user_alpha (0), max_sampled (10), seed
 *                        (42), schedule (adagrad, adagrad-rowwise or
 *                        adadelta; default adagrad), item_features,
 *                        user_features (1)
 *   ials                 factors (64), regularization (50), alpha (5),
 *                        iterations (15), seed (42), reg_exponent (0; nu > 0
 *                        scales lambda by (alpha sum r + n)^nu per row)
 *   ease                 lambda (500)
 *   rp3beta              random-walk item similarity with popularity
 *                        penalty (Paudel et al. 2016): W[i][j] =
 *                        deg(j)^-beta sum over common users u of
 *                        (deg(i) deg(u))^-alpha; alpha (1), beta (0.5),
 *                        neighbours (100) kept per item, normalize (0)
 *   edlae                EASE with the dropout-emphasised penalty lambda +
 *                        p/(1-p) diag(X^T X) (Steck 2020); lambda (100),
 *                        dropout (0.25), max_items (20000)
 *   blend                weighted sum of the per-user standardised scores
 *                        of up to 4 other families: member1..member4, each
 *                        "FAMILY WEIGHT [key=value ...]"
 *
 * Thread safety: a fitted or loaded recommender is immutable; score_user and
 * recommend may be called from any number of threads at once.
 */
#ifndef TROVE_RECOMMENDER_H
#define TROVE_RECOMMENDER_H

#include "trove/core.h"
#include "trove/dataset.h"
#include "trove/model.h"
#include "trove/ials.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trove_recommender trove_recommender;

#define TROVE_RECO_MAX_SETTINGS 32
#define TROVE_RECO_KEY_MAX 32
#define TROVE_RECO_VALUE_MAX 128

/* Family settings as key=value strings (parsed by the family at fit time;
 * an unknown key is TROVE_EINVAL naming it and the valid keys). */
typedef struct trove_reco_params {
    int    threads;                  /* fitting threads; default 1 */
    size_t n;                        /* settings in use */
    char   key[TROVE_RECO_MAX_SETTINGS][TROVE_RECO_KEY_MAX];
    char   value[TROVE_RECO_MAX_SETTINGS][TROVE_RECO_VALUE_MAX];
} trove_reco_params;

trove_reco_params trove_reco_default_params(void);

/* Add or replace one "key=value" setting. TROVE_EINVAL if it has no '=',
 * a part is too long, or the table is full. */
int trove_reco_params_set(trove_reco_params *p, const char *key_value,
                          trove_error *err);

/* Names of the families built in ("random", ..., "itemknn"[, "warp", ...]),
 * NULL-terminated, static. */
const char *const *trove_recommender_families(void);

/* Fit a recommender of `family` on the interactions (and features) of
 * `train`. p may be NULL (defaults). Returns TROVE_OK, TROVE_ENOTFOUND
 * (unknown family), TROVE_EINVAL (bad setting), TROVE_EEMPTY (empty train),
 * TROVE_ENOMEM. *out is caller-owned (trove_recommender_free). */
int trove_recommender_fit(const char *family, const trove_reco_params *p,
                          const trove_dataset *train, trove_recommender **out,
                          trove_error *err);

void trove_recommender_free(trove_recommender *r);

/* Family name (static string). */
const char *trove_recommender_family(const trove_recommender *r);
uint32_t trove_recommender_n_users(const trove_recommender *r);
uint32_t trove_recommender_n_items(const trove_recommender *r);

/* Scores of every item for `user` (n_items floats, higher is better; train
 * items are scored too). TROVE_ERANGE for a user out of range. */
int trove_recommender_score_user(const trove_recommender *r, uint32_t user,
                                 float *scores, trove_error *err);

/* Top-k items for `user`, best first, ties broken by item index ascending;
 * with exclude_train the user's training items are left out. items and
 * scores (scores may be NULL) hold k entries; *n_out receives how many were
 * written (< k when the catalog is exhausted). Allocates one n_items score
 * buffer per call (serving paths use the model's own recommend with caller
 * scratch). */
int trove_recommender_recommend(const trove_recommender *r, uint32_t user,
                                uint32_t k, int exclude_train,
                                uint32_t *items, float *scores,
                                uint32_t *n_out, trove_error *err);

/* Save to one file: magic "TROVRECO", format version, family name, payload
 * length, payload, XXH3-64 checksum of the payload (docs/evaluation.md).
 * TROVE_EIO on write errors. */
int trove_recommender_save(const trove_recommender *r, const char *path,
                           trove_error *err);

/* Load a saved recommender. A model file written by trove_model_save
 * (`trove train`) is accepted too and becomes a recommender of the family
 * of its loss; it carries no training pairs, so recommend() has nothing to
 * exclude (pass the training matrix to the evaluation engine instead).
 * TROVE_EIO, TROVE_EFORMAT (not a recommender
 * file), TROVE_EVERSION, TROVE_ECORRUPT (checksum or payload mismatch),
 * TROVE_ENOTFOUND (family not built in), TROVE_ENOMEM. */
int trove_recommender_load(const char *path, trove_recommender **out,
                           trove_error *err);

/* Hand the hybrid model (trove/model.h) of a recommender of a hybrid
 * family (warp, bpr, logistic, warp-kos) to the caller, who frees it with
 * trove_model_free. Afterwards the recommender can no longer score; free
 * it. Models fitted through this interface carry the dataset's raw ids and
 * feature names. TROVE_EINVAL for other families or a model already
 * taken. */
int trove_recommender_take_hybrid(trove_recommender *r, trove_model **out,
                                  trove_error *err);

/* Hand the iALS model (trove/ials.h) of a recommender of family "ials" to
 * the caller, who frees it with trove_ials_free. Afterwards the
 * recommender can no longer score; free it. The model carries no ids: the
 * rows follow the training dataset's id maps (`trove train --store` writes
 * them beside the model file, trove_idmap_write). TROVE_EINVAL for other
 * families or a model already taken. */
int trove_recommender_take_ials(trove_recommender *r, trove_ials **out,
                                trove_error *err);

/* 1 when trove_recommender_take_model accepts recommenders of `family`
 * (the factor families: warp, bpr, logistic, warp-kos, ials), else 0 (also
 * for NULL or a name not built in). The other families score from item
 * neighbourhoods, item-item matrices, counts or mixtures, which no user x
 * item factor model reproduces. Thread-safe. */
int trove_recommender_family_has_model(const char *family);

/* The recommender's scores as a hybrid model (trove/model.h), handed to
 * the caller (trove_model_free): a hybrid family's own model (as
 * trove_recommender_take_hybrid), or for "ials" an identity-only model of
 * the iALS factors with zero biases (trove_model_from_factors), so that
 * its scores are the iALS scores <x_u, y_i> up to float rounding, with the
 * training interactions per item as its item counts and no id maps
 * (attach the dataset's with trove_model_set_ids). Afterwards the
 * recommender can no longer score; free it. On failure it is unchanged.
 * TROVE_EINVAL for a family without a model (see
 * trove_recommender_family_has_model) or a model already taken,
 * TROVE_ENOMEM. */
int trove_recommender_take_model(trove_recommender *r, trove_model **out,
                                 trove_error *err);

/* The family of the file at `path` read from its header alone, without
 * loading the model (the checksum is left to trove_recommender_load): the
 * recommender file's family name, or for a model file written by
 * trove_model_save the family of its loss, as trove_recommender_load
 * names it. Copied NUL-terminated into name[0..size). Returns TROVE_OK,
 * TROVE_EINVAL (NULL argument, size 0), TROVE_EIO (cannot open or read), TROVE_EFORMAT (neither kind of file),
 * TROVE_EVERSION, TROVE_ECORRUPT (truncated header), TROVE_ERANGE (size
 * too small for the name); name is written only on success. Thread-safe. */
int trove_recommender_file_family(const char *path, char *name, size_t size,
                                  trove_error *err);

/* Load the file at `path` (a recommender file or a model file) as a hybrid
 * model with its raw ids: the family is read first
 * (trove_recommender_file_family) and a family without a factor model is
 * refused before loading (TROVE_EUNSUPPORTED, the message names the
 * family); otherwise the file is loaded and its model taken
 * (trove_recommender_take_model). A model without ids of its own (iALS)
 * gets those in `<path>.users` and `<path>.items` (index files, as
 * `trove train --store` writes them, trove_idmap_write) when they exist;
 * a side file that is absent leaves that map unset, one whose size does
 * not match is TROVE_EINVAL. Returns TROVE_OK, TROVE_EUNSUPPORTED, the
 * codes of trove_recommender_file_family, trove_recommender_load and
 * trove_idmap_load, TROVE_ENOMEM. *out is caller-owned (trove_model_free),
 * written only on success. Thread-safe. */
int trove_recommender_load_model(const char *path, trove_model **out,
                                 trove_error *err);

/* The raw ids of the model saved at `path` from the index files beside it,
 * `<path>.users` and `<path>.items` (trove_idmap_write), for models that
 * store none of their own: *users / *items are NULL when their file is
 * absent, else a map of exactly n_users / n_items ids (a file of another
 * size is TROVE_EINVAL naming it and its count). Returns TROVE_OK or the
 * codes of trove_idmap_load; nothing is returned on failure. Both are
 * caller-owned (trove_idmap_free). Thread-safe. */
int trove_recommender_side_ids(const char *path, uint32_t n_users, uint32_t n_items,
                               trove_idmap **users, trove_idmap **items, trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_RECOMMENDER_H */
