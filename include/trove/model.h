/*
 * trove/model.h - the hybrid factorization model (LightFM-class).
 *
 *   score(u, i) = <q_u, p_i> + b_u + b_i
 *
 * where q_u and b_u are the weighted sums of the embeddings and biases of the
 * user's features, p_i and b_i likewise for the item (Kula, "Metadata
 * embeddings for user and item cold-start recommendations", CBRecSys 2015).
 * Each user (item) may also have an identity feature of its own (on by
 * default): the model keeps identity embeddings in their own table and the
 * caller passes only the other features, so a model grows by appending rows.
 *
 * Losses follow LightFM's semantics: logistic, BPR (Rendle et al., UAI 2009),
 * WARP (Weston, Bengio, Usunier, IJCAI 2011) and k-OS WARP (Weston, Yee,
 * Weiss, RecSys 2013); learning schedules adagrad and adadelta, and a
 * row-wise adagrad (one accumulator per embedding row). Training is
 * Hogwild (Niu et al., NIPS 2011) over pthreads; one thread and a fixed seed
 * give bit-identical models run to run on the same machine.
 *
 * Typical use:
 *   trove_model_params p = trove_model_default_params();
 *   p.loss = TROVE_LOSS_WARP; p.no_components = 64;
 *   trove_model *m;
 *   trove_model_new(&p, 0, 0, &m, &err);              // identity features only
 *   trove_model_fit(m, interactions, NULL, NULL, 30, &err);
 *   trove_model_recommend(m, user, 10, train_row_items, n, NULL, items, scores,
 *                         &n_out, NULL, &err);
 *   trove_model_save(m, "model.trove", &err);
 *   trove_model_free(m);
 *
 * Thread safety: training and growing (fit, fit_partial, grow, set_ids)
 * need exclusive access to the model. Every const function (scoring,
 * recommending, representations, accessors, save) may run from any number of
 * threads at once while nobody modifies the model; a trained or loaded model
 * is immutable for its readers.
 *
 * Inputs are trove_csr matrices (trove/dataset.h): interactions users x items
 * (entry values are sample weights; for the logistic loss their sign is the
 * label), user features users x n_user_features, item features items x
 * n_item_features (without the identity columns, which the model adds when
 * user_identity / item_identity is on).
 */
#ifndef TROVE_MODEL_H
#define TROVE_MODEL_H

#include "trove/core.h"
#include "trove/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loss functions. */
enum trove_loss {
    TROVE_LOSS_LOGISTIC = 0, /* log loss on (u,i,label); label = value > 0  */
    TROVE_LOSS_BPR      = 1, /* pairwise, negatives drawn from the interactions */
    TROVE_LOSS_WARP     = 2, /* pairwise, rank-weighted, negatives uniform   */
    TROVE_LOSS_WARP_KOS = 3  /* k-th of n sampled positives, then WARP       */
};

/* Learning-rate schedules. */
enum trove_schedule {
    TROVE_SCHEDULE_ADAGRAD  = 0, /* per coordinate; accumulators start at 1 */
    TROVE_SCHEDULE_ADADELTA = 1, /* per coordinate; rho, epsilon */
    TROVE_SCHEDULE_ADAGRAD_ROWWISE = 2 /* adagrad with one accumulator per
                                  embedding row (starting at 1), increased
                                  by the mean of the row gradient's squared
                                  coordinates; biases keep their own
                                  accumulators (docs/model.md) */
};

/* What an item without any training interaction uses as its identity
 * embedding and bias. */
enum trove_cold_fallback {
    TROVE_COLD_NONE = 0, /* keep the random initialisation (LightFM) */
    TROVE_COLD_MEAN = 1  /* mean identity embedding and bias of the items
                            that have interactions */
};

/* How several training threads share the item rows (num_threads > 1). */
enum trove_thread_schedule {
    TROVE_THREADS_BLOCKS  = 0, /* with identity-only items, a grid of 2T
                                  user blocks x 2T item columns whose cells
                                  the T threads take as they come free (no
                                  two on one block or column; FPSGD); other
                                  models, T rounds in which every thread
                                  trains the examples of its own block of
                                  items. Negatives come from all items (k-OS
                                  runs Hogwild) */
    TROVE_THREADS_HOGWILD = 1  /* every thread visits its examples in one
                                  pass, all item rows shared (Niu et al.) */
};

/* Progress report passed to the callback after each epoch. */
typedef struct trove_model_progress {
    uint32_t epoch;            /* 1-based, within this fit call */
    uint32_t n_epochs;         /* epochs asked for in this call */
    double   loss;             /* mean loss per example in this epoch */
    double   examples_per_sec; /* training examples processed per second */
    double   seconds;          /* wall time of this epoch */
    double   eta_seconds;      /* estimate for the remaining epochs */
} trove_model_progress;

/* Called from the thread that called fit, between epochs. */
typedef void (*trove_model_progress_fn)(void *ud, const trove_model_progress *p);

/* Hyperparameters, with LightFM's names. Get the defaults with
 * trove_model_default_params() and override fields. */
typedef struct trove_model_params {
    uint32_t no_components;     /* embedding dimension d; default 10 (LightFM);
                                   1..4096 */
    int      loss;              /* enum trove_loss; default TROVE_LOSS_LOGISTIC */
    int      learning_schedule; /* enum trove_schedule; default adagrad */
    float    learning_rate;     /* adagrad step; default 0.05 */
    float    rho;               /* adadelta decay, in (0,1); default 0.95 */
    float    epsilon;           /* adadelta epsilon, >= 0; default 1e-6 */
    float    item_alpha;        /* L2 on item parameters; default 0 */
    float    user_alpha;        /* L2 on user parameters; default 0 */
    uint32_t max_sampled;       /* WARP negatives per positive; default 10 */
    uint32_t k;                 /* k-OS: the k-th positive; default 5 */
    uint32_t n;                 /* k-OS: positives sampled; default 10 */
    int      user_identity;     /* 1: each user has an identity feature; default 1 */
    int      item_identity;     /* 1: each item has an identity feature; default 1 */
    int      item_cold_fallback;/* enum trove_cold_fallback; default NONE */
    uint32_t num_threads;       /* training threads, 1..256; default 1 */
    int      thread_schedule;   /* enum trove_thread_schedule, used when
                                   num_threads > 1; default blocks; not
                                   stored in the model file */
    uint64_t seed;              /* initialisation, shuffling, sampling; default 0 */
    trove_model_progress_fn progress; /* NULL = no reports */
    void    *progress_ud;
} trove_model_params;

/* LightFM's defaults (no_components 10, logistic, adagrad, lr 0.05, rho 0.95,
 * epsilon 1e-6, alphas 0, max_sampled 10, k 5, n 10), identity features on,
 * one thread, seed 0. */
trove_model_params trove_model_default_params(void);

/* Check every field; TROVE_OK or TROVE_EINVAL with a message naming the
 * field ("learning_rate must be finite and > 0, got -1"). */
int trove_model_check_params(const trove_model_params *p, trove_error *err);

/* Name of a loss ("warp") / schedule ("adagrad"); "unknown" outside the enum. */
const char *trove_loss_name(int loss);
const char *trove_schedule_name(int schedule);
/* Parse "logistic", "bpr", "warp", "warp-kos" / "adagrad", "adadelta",
 * "adagrad-rowwise".
 * Returns TROVE_OK or TROVE_EINVAL; *out written only on success. */
int trove_loss_parse(const char *s, int *out);
int trove_schedule_parse(const char *s, int *out);

typedef struct trove_model trove_model;

/* Create an untrained model with n_user_features / n_item_features extra
 * (non-identity) features; the user and item counts are set by the first
 * fit. The params are copied. *out is caller-owned (trove_model_free).
 * Returns TROVE_OK, TROVE_EINVAL (bad params), TROVE_ENOMEM. */
int trove_model_new(const trove_model_params *p, uint32_t n_user_features,
                    uint32_t n_item_features, trove_model **out,
                    trove_error *err);

/* Free the model and everything it owns. NULL is a no-op. */
void trove_model_free(trove_model *m);

/* Factors of a plain matrix-factorisation model, score(u, i) = <x_u, y_i>
 * (iALS, trove/ials.h), for trove_model_from_factors. Row r of a side
 * starts at f + r * stride; only its first dim floats are read. */
typedef struct trove_model_factors {
    uint32_t dim;                /* 1..4096 */
    uint32_t n_users, n_items;   /* each >= 1 */
    const float *user_f;         /* n_users rows */
    const float *item_f;         /* n_items rows */
    size_t   user_stride;        /* floats from one user row to the next,
                                    >= dim; 0 = dim (packed) */
    size_t   item_stride;        /* likewise for items */
    const uint32_t *item_counts; /* training interactions per item
                                    (n_items), or NULL = unknown (every
                                    item counts 0: trove_model_item_count
                                    and the TROVE_COLD_MEAN fallback then
                                    see no item with interactions) */
    const trove_model_params *params; /* NULL = the defaults with
                                    no_components = dim; otherwise its
                                    no_components must equal dim and both
                                    identity features be on */
} trove_model_factors;

/* An identity-only hybrid model holding the given factors: the identity
 * embedding of user u is x_u, that of item i is y_i, every bias is 0, and
 * there are no other features, so trove_model_score_user, _predict and
 * _recommend give <x_u, y_i> (summed by the scoring kernels, so equal to
 * another implementation's dot product up to float rounding). The factors
 * are copied; the caller keeps its arrays. The model is trained (it
 * scores, saves and serves at once), has no id maps (attach them with
 * trove_model_set_ids) and zero epochs trained. Users unknown to it have
 * no features to be scored from (trove_model_score_features accepts only
 * an empty list). fit_partial continues training it as a hybrid model
 * with the params' loss and schedule from these factors and zero biases
 * (optimiser state at its start); fit starts over from a random
 * initialisation. Every factor must be finite.
 * Returns TROVE_OK, TROVE_EINVAL (NULL pointers, a zero count, dim out of
 * range, stride < dim, bad params, a factor not finite; the message names
 * it) or TROVE_ENOMEM. *out is caller-owned (trove_model_free), written
 * only on success. Thread-safe: reads its arguments only. */
int trove_model_from_factors(const trove_model_factors *f, trove_model **out,
                             trove_error *err);

/* Train from scratch for `epochs` epochs: (re)initialise every parameter
 * from the seed, then run fit_partial. interactions is users x items with
 * strictly ascending column indices per row; user_features (n_users x
 * n_user_features) and item_features (n_items x n_item_features) may be NULL
 * when the model has no extra features of that side. With identity off and
 * no features, a side is rejected (nothing to learn from).
 * The matrices are copied into the model (the features are needed for
 * scoring later); the caller keeps ownership of its arguments.
 * Returns TROVE_OK; TROVE_EINVAL (shapes, unsorted rows, non-finite
 * weights), TROVE_EEMPTY (no interactions), TROVE_ENOMEM, or
 * TROVE_EDIVERGED when a parameter became non-finite (the message names it;
 * the model must then be discarded). */
int trove_model_fit(trove_model *m, const trove_csr *interactions,
                    const trove_csr *user_features,
                    const trove_csr *item_features, uint32_t epochs,
                    trove_error *err);

/* Continue training from the current state (the first call initialises, as
 * fit does). The shapes must match the model's current user and item counts
 * (grow the model first for new users or items). NULL feature matrices keep
 * the ones the model already holds. Same return codes as fit. */
int trove_model_fit_partial(trove_model *m, const trove_csr *interactions,
                            const trove_csr *user_features,
                            const trove_csr *item_features, uint32_t epochs,
                            trove_error *err);

/* Grow a (trained or untrained-but-shaped) model to n_users x n_items with
 * n_user_features / n_item_features extra features, keeping every learned
 * parameter. New rows are initialised as in fit (new item identity rows take
 * the fallback when item_cold_fallback is MEAN). user_features /
 * item_features, when not NULL, replace the model's feature matrices and
 * must have the new shapes; when NULL the old rows are kept and new users /
 * items get no extra features. Counts may not shrink. New users and items
 * are scored from their features at once. Id maps whose size no longer
 * matches are dropped: attach the grown ones with trove_model_set_ids. On
 * failure the model's parameters are unchanged. Returns TROVE_OK,
 * TROVE_EINVAL, TROVE_ENOMEM. */
int trove_model_grow(trove_model *m, uint32_t n_users, uint32_t n_items,
                     uint32_t n_user_features, uint32_t n_item_features,
                     const trove_csr *user_features,
                     const trove_csr *item_features, trove_error *err);

/* Attach raw id maps (copied): users (size n_users), items (size n_items),
 * and optionally the feature names (sizes n_user_features /
 * n_item_features). Any argument may be NULL to leave that map unchanged.
 * They are saved with the model so that a file alone maps "17850" to its
 * row. Returns TROVE_OK, TROVE_EINVAL (size mismatch), TROVE_ENOMEM. */
int trove_model_set_ids(trove_model *m, const trove_idmap *users,
                        const trove_idmap *items,
                        const trove_idmap *user_feature_names,
                        const trove_idmap *item_feature_names,
                        trove_error *err);

/* Borrowed maps (valid until the model is freed or set_ids/grow is called),
 * or NULL when none was attached. */
const trove_idmap *trove_model_user_ids(const trove_model *m);
const trove_idmap *trove_model_item_ids(const trove_model *m);
const trove_idmap *trove_model_user_feature_names(const trove_model *m);
const trove_idmap *trove_model_item_feature_names(const trove_model *m);

/* Shape and state. */
uint32_t trove_model_n_users(const trove_model *m);
uint32_t trove_model_n_items(const trove_model *m);
uint32_t trove_model_n_user_features(const trove_model *m);
uint32_t trove_model_n_item_features(const trove_model *m);
uint32_t trove_model_dim(const trove_model *m);
/* The parameters the model was built with (progress callback cleared for a
 * loaded model). Borrowed. */
const trove_model_params *trove_model_params_of(const trove_model *m);
/* Epochs and examples trained so far (over all fit calls). */
uint64_t trove_model_epochs_trained(const trove_model *m);
/* 64-bit fingerprint of the last training interactions (0 if untrained). */
uint64_t trove_model_data_fingerprint(const trove_model *m);
/* Number of training interactions item i had (over all fits); 0 for cold
 * items. Returns 0 for i out of range. */
uint32_t trove_model_item_count(const trove_model *m, uint32_t item);

/* ------------------------------------------------------------ prediction */
/* Scores of `user` for all items into scores[0..n_items). Thread-safe,
 * allocation-free. Returns TROVE_OK, TROVE_EINVAL (untrained model or user
 * out of range; scores untouched). */
int trove_model_score_user(const trove_model *m, uint32_t user, float *scores,
                           trove_error *err);

/* Scores for all items of a user described only by features (a user unseen
 * in training: no identity embedding): features[k] with weights[k] (weights
 * may be NULL = 1), n_features entries, indices < n_user_features.
 * Thread-safe. Returns TROVE_OK, TROVE_EINVAL. */
int trove_model_score_features(const trove_model *m, const uint32_t *features,
                               const float *weights, size_t n_features,
                               float *scores, trove_error *err);

/* Scores of n (user, item) pairs into out[0..n). Thread-safe. Returns
 * TROVE_OK, TROVE_EINVAL (an index out of range; message names the pair). */
int trove_model_predict(const trove_model *m, const uint32_t *users,
                        const uint32_t *items, size_t n, float *out,
                        trove_error *err);

/* Top-k items for `user`, best first, skipping the n_exclude item indices
 * in `exclude` (any order; e.g. the user's training items) and, when
 * `eligible` is not NULL, every item i with eligible[i] == 0. Writes up to k
 * items and scores and the count to *n_out (fewer when fewer items are
 * left). Ties go to the lower item index. `scratch` is n_items floats of
 * caller memory, or NULL to allocate one for the call. Thread-safe with
 * distinct scratch. Returns TROVE_OK, TROVE_EINVAL, TROVE_ENOMEM. */
int trove_model_recommend(const trove_model *m, uint32_t user, uint32_t k,
                          const uint32_t *exclude, size_t n_exclude,
                          const uint8_t *eligible, uint32_t *items,
                          float *scores, uint32_t *n_out, float *scratch,
                          trove_error *err);

/* Representations: emb receives dim floats and *bias the bias (either may
 * be NULL). Thread-safe. Returns TROVE_OK or TROVE_EINVAL. */
int trove_model_user_repr(const trove_model *m, uint32_t user, float *emb,
                          float *bias, trove_error *err);
int trove_model_item_repr(const trove_model *m, uint32_t item, float *emb,
                          float *bias, trove_error *err);

/* Cold-start representations from features alone (no identity row): the
 * weighted sum of the embeddings and biases of features[0..n_features)
 * (weights may be NULL = 1), as trove_model_score_features does for users.
 * user_ indices are < n_user_features, item_ indices < n_item_features; an
 * empty list gives a zero embedding and bias. emb receives dim floats,
 * *bias the bias (either may be NULL). score(u, i) = <emb_u, emb_i> +
 * bias_u + bias_i, so a caller can rank items the model was not trained
 * with (e.g. offers uploaded while serving) against any user.
 * Thread-safe, allocation-free. Returns TROVE_OK or TROVE_EINVAL (untrained,
 * an index out of range or a weight not finite; outputs untouched). */
int trove_model_user_repr_features(const trove_model *m, const uint32_t *features,
                                   const float *weights, size_t n_features, float *emb,
                                   float *bias, trove_error *err);
int trove_model_item_repr_features(const trove_model *m, const uint32_t *features,
                                   const float *weights, size_t n_features, float *emb,
                                   float *bias, trove_error *err);

/* The fallback for an item with no known features (TROVE_COLD_MEAN): the
 * mean identity embedding and bias of the items with training interactions
 * (with item_identity off, the mean of their whole representations). Reads
 * every item: O(n_items x dim). Thread-safe, allocation-free. Returns
 * TROVE_OK, TROVE_EINVAL (untrained) or TROVE_EEMPTY (no item has
 * interactions). */
int trove_model_item_repr_mean(const trove_model *m, float *emb, float *bias,
                               trove_error *err);

/* ------------------------------------------------------------ model file */
/* Write the model to `path` atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory): a versioned binary file with magic, format
 * version, dimensions, counts, hyperparameters, id and feature tables,
 * parameters and optimiser state (so fit_partial can continue after load),
 * training-data fingerprint and checksums (docs/model-format.md).
 * Returns TROVE_OK, TROVE_EINVAL (untrained), TROVE_EIO, TROVE_ENOMEM. */
int trove_model_save(const trove_model *m, const char *path, trove_error *err);

/* Read and fully validate a model file. Truncated or corrupted files give
 * TROVE_ECORRUPT or TROVE_EFORMAT, files from a newer format version
 * TROVE_EVERSION, never a crash. *out is caller-owned. */
int trove_model_load(const char *path, trove_model **out, trove_error *err);

/* The bytes trove_model_save would write, in a new buffer (*bytes, freed by
 * the caller with trove_free; *len bytes), for embedding a model in another
 * file or sending it elsewhere without a disk round trip. Returns TROVE_OK,
 * TROVE_EINVAL (untrained) or TROVE_ENOMEM; *bytes and *len are written
 * only on success. Reads m only: safe alongside other readers. */
int trove_model_save_buffer(const trove_model *m, unsigned char **bytes, size_t *len,
                            trove_error *err);

/* Decode and fully validate the len bytes of a model file held in memory
 * (borrowed for the call only; *out keeps no pointer into them). `name`
 * (may be NULL) stands for the file in error messages. Errors as
 * trove_model_load, without TROVE_EIO. *out is caller-owned. */
int trove_model_load_buffer(const unsigned char *bytes, size_t len, const char *name,
                            trove_model **out, trove_error *err);

/* Header of a model file, read without loading the tables. */
typedef struct trove_model_info {
    uint32_t format_version;
    uint32_t dim;
    uint32_t n_users, n_items;
    uint32_t n_user_features, n_item_features;
    int      user_identity, item_identity;
    int      has_ids;            /* raw user/item ids stored */
    int      has_optimizer_state;
    trove_model_params params;   /* progress callback NULL */
    uint64_t epochs_trained;
    uint64_t examples_trained;
    uint64_t data_fingerprint;
    uint64_t payload_bytes;
    uint64_t checksum;           /* of the payload (XXH3-64) */
    int      checksum_ok;        /* 1 if the payload matched the checksum */
} trove_model_info;

/* Read a model file's header and verify its checksum. Returns TROVE_OK,
 * TROVE_EIO, TROVE_EFORMAT (not a model file), TROVE_EVERSION,
 * TROVE_ECORRUPT (header damaged; a damaged payload is reported through
 * checksum_ok = 0 with TROVE_OK so that it can be inspected). */
int trove_model_inspect(const char *path, trove_model_info *out,
                        trove_error *err);

/* The current model file format version written by this library. */
#define TROVE_MODEL_FORMAT_VERSION 1

#ifdef __cplusplus
}
#endif
#endif /* TROVE_MODEL_H */
