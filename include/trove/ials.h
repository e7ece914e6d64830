/*
 * trove/ials.h - implicit-feedback alternating least squares (iALS).
 *
 * Model (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback
 * Datasets", ICDM 2008): every (user, item) cell has a preference p = 1 if
 * the user interacted with the item, else 0, and a confidence
 * c = 1 + alpha * r, where r is the interaction weight (0 for unobserved
 * cells). The model minimises
 *
 *     sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + sum_u lambda_u |x_u|^2
 *                                         + sum_i lambda_i |y_i|^2
 *
 * by alternating exact (or conjugate-gradient) least-squares solves over
 * users and items, sharing the Gram matrix Y^T Y of the fixed side across a
 * whole sweep so that a row costs O(f^2 + n_row f) per CG step.
 *
 * Regularisation follows Rendle, Krichene, Zhang & Koren, "Revisiting the
 * Performance of iALS on Item Recommendation Benchmarks" (RecSys 2022):
 * either a constant lambda, or lambda scaled by the row's total weight in
 * the loss, lambda_u = lambda * (alpha * sum_i r_ui + n_items)^nu (and the
 * same for items with n_users), so that heavy users and popular items are
 * regularised in proportion to the number of terms they appear in.
 *
 * Solvers: conjugate gradient warm-started from the previous sweep's
 * solution with a few steps per row (Takacs, Pilaszy & Tikk, "Applications
 * of the conjugate gradient method for implicit feedback collaborative
 * filtering", RecSys 2011), or an exact Cholesky solve per row.
 *
 * Scores are s(u, i) = x_u . y_i. All tables are float32.
 *
 * Thread safety: fitting uses params.threads worker threads internally. A
 * fitted model is immutable: any number of threads may score, recommend and
 * save it at once. trove_ials_free must not race with other calls on the
 * same model.
 */
#ifndef TROVE_IALS_H
#define TROVE_IALS_H

#include "trove/core.h"
#include "trove/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trove_ials trove_ials;

enum trove_ials_solver {
    TROVE_IALS_SOLVER_CG       = 0,  /* warm-started conjugate gradient */
    TROVE_IALS_SOLVER_CHOLESKY = 1   /* exact solve per row (LAPACK spotrf) */
};

enum trove_ials_reg_scaling {
    TROVE_IALS_REG_NONE      = 0,    /* lambda_u = lambda */
    TROVE_IALS_REG_FREQUENCY = 1     /* lambda_u = lambda * (alpha sum r + n)^nu */
};

/* Called after every iteration (one user sweep and one item sweep) with the
 * 1-based iteration number and the model as it stands: the callback may
 * score, evaluate or compute the loss with it, but must not keep the
 * pointer. A non-zero return stops training early (the model is kept and
 * returned; TROVE_OK). */
typedef int (*trove_ials_callback)(void *ud, uint32_t iteration,
                                   const trove_ials *model);

typedef struct trove_ials_params {
    uint32_t factors;        /* f, latent dimension; 1..1024; default 64 */
    float    regularization; /* lambda > 0; default 0.1 */
    float    alpha;          /* confidence slope, >= 0; default 10 */
    uint32_t iterations;     /* sweeps over users and items, >= 1; default 15 */
    uint32_t cg_steps;       /* CG steps per row and sweep, >= 1; default 3 */
    int      solver;         /* enum trove_ials_solver; default CG */
    int      reg_scaling;    /* enum trove_ials_reg_scaling; default NONE */
    float    reg_exponent;   /* nu for FREQUENCY scaling, in [0, 2]; default 1 */
    float    init_scale;     /* std-dev of the normal initial factors, > 0;
                                default 0.01 */
    uint64_t seed;           /* initial factors; default 42 */
    uint32_t threads;        /* worker threads, 0 = one per online CPU;
                                default 1. The fitted model does not depend
                                on the number of threads. */
    trove_ials_callback callback; /* optional, see above; default NULL */
    void    *callback_ud;
} trove_ials_params;

/* Defaults as documented above; override fields, then pass to fit. */
trove_ials_params trove_ials_default_params(void);

/* Check params; returns TROVE_OK or TROVE_EINVAL with a message naming the
 * field ("ials: regularization must be > 0 (got 0)"). */
int trove_ials_check_params(const trove_ials_params *p, trove_error *err);

/* Fit a model on `interactions` (users x items CSR: columns strictly
 * ascending per row; data NULL = every weight 1; weights finite and >= 0).
 * The matrix is only read during the call. On success *out receives a new
 * model (free with trove_ials_free).
 * Returns TROVE_OK, TROVE_EINVAL (bad params or matrix; message names the
 * field or row), TROVE_EEMPTY (no rows or columns), TROVE_ENOMEM,
 * TROVE_EDIVERGED (a factor became NaN or infinite, or a Cholesky system was
 * not positive definite: raise the regularization). */
int trove_ials_fit(const trove_csr *interactions, const trove_ials_params *params,
                   trove_ials **out, trove_error *err);

void trove_ials_free(trove_ials *m);

uint32_t trove_ials_n_users(const trove_ials *m);
uint32_t trove_ials_n_items(const trove_ials *m);
uint32_t trove_ials_factors(const trove_ials *m);
/* Parameters the model was trained with (callback fields are NULL). */
trove_ials_params trove_ials_params_of(const trove_ials *m);

/* Borrowed pointer to the factors of user u / item i (`factors` floats), or
 * NULL if out of range. Valid until the model is freed. */
const float *trove_ials_user_factors(const trove_ials *m, uint32_t user);
const float *trove_ials_item_factors(const trove_ials *m, uint32_t item);

/* The whole factor tables, read-only: *user_f holds n_users rows and
 * *item_f n_items rows of trove_ials_factors(m) floats, row r starting at
 * r * *stride floats (stride >= factors; the padding between rows is zero).
 * Any out-parameter may be NULL. Borrowed: valid until the model is freed.
 * Thread-safe. E.g. trove_model_from_factors (trove/model.h) turns them
 * into a hybrid model that trove serve can serve. */
void trove_ials_factor_tables(const trove_ials *m, const float **user_f,
                              const float **item_f, size_t *stride);

/* Training loss (the objective above, regularisation included) of the model
 * on `interactions` (same shape as at fit time), in *loss. O(nnz f + (n_users
 * + n_items) f^2). Returns TROVE_OK, TROVE_EINVAL, TROVE_ENOMEM. */
int trove_ials_loss(const trove_ials *m, const trove_csr *interactions,
                    double *loss, trove_error *err);

/* scores[0..n_items) = x_u . y_i for every item. Thread-safe, no allocation.
 * Returns TROVE_OK or TROVE_EINVAL (user out of range, NULL buffer). */
int trove_ials_score_user(const trove_ials *m, uint32_t user, float *scores,
                          trove_error *err);

/* Top-k items for every user: items[u*k + j] / scores[u*k + j] (j = 0 best),
 * skipping the items of row u of `exclude` (users x items CSR such as the
 * training interactions, or NULL). When fewer than k items remain, the rest
 * are padded with item UINT32_MAX and score -INFINITY. Ties rank the lower
 * item index first. Scores are computed in blocks of users with SGEMM over
 * `threads` threads (0 = one per online CPU); scores may be NULL.
 * Returns TROVE_OK, TROVE_EINVAL (k = 0, shapes), TROVE_ENOMEM. */
int trove_ials_recommend_all(const trove_ials *m, const trove_csr *exclude,
                             uint32_t k, uint32_t threads, uint32_t *items,
                             float *scores, trove_error *err);

/* Save to a versioned binary file (format in docs/models-ials-ease.md):
 * written to a temporary file in the same directory, fsync'ed and renamed
 * (then the directory fsync'ed), so `path` holds either the old or the
 * complete new model.
 * Returns TROVE_OK, TROVE_EIO, TROVE_ENOMEM. */
int trove_ials_save(const trove_ials *m, const char *path, trove_error *err);

/* Load a model saved by trove_ials_save, validating magic, version, sizes,
 * checksum and that every factor is finite. Returns TROVE_OK,
 * TROVE_ENOTFOUND, TROVE_EIO, TROVE_EFORMAT (not an iALS model file),
 * TROVE_EVERSION, TROVE_ECORRUPT (truncated, checksum, values), TROVE_ENOMEM. */
int trove_ials_load(const char *path, trove_ials **out, trove_error *err);

/* The same bytes as a file, in memory, for embedding the model in another
 * file without a disk round trip. save_buffer: *bytes is a new buffer of
 * *len bytes (free with trove_free), written only on success; TROVE_OK or
 * TROVE_ENOMEM; safe alongside other readers of m. load_buffer: decodes and
 * validates len bytes (borrowed for the call only); `name` (may be NULL)
 * stands for the file in messages; return codes as trove_ials_load without
 * TROVE_ENOTFOUND and TROVE_EIO. */
int trove_ials_save_buffer(const trove_ials *m, unsigned char **bytes, size_t *len,
                           trove_error *err);
int trove_ials_load_buffer(const unsigned char *bytes, size_t len, const char *name,
                           trove_ials **out, trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_IALS_H */
