/*
 * trove/ease.h - EASE, the closed-form linear item-item model (Steck,
 * "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).
 *
 * With X the users x items interaction matrix, EASE learns an item-item
 * weight matrix B with zero diagonal minimising |X - X B|^2 + lambda |B|^2.
 * The solution is
 *
 *     P = (X^T X + lambda I)^-1,   B = I - P diag(1 / diag(P)),
 *
 * i.e. B_ij = -P_ij / P_jj for i != j and B_jj = 0. A user's scores are
 * s_u = x_u B: the sum of the B rows of the items the user interacted with.
 *
 * Size limit. B is a dense n_items x n_items float32 matrix. Fitting computes
 * it in place from X^T X (n_items^2 * 4 bytes), and loading a model holds
 * the file and the matrix at once, so peak memory is about
 * 2 * n_items^2 * 4 bytes: 2.7 GB at 20,000 items. Catalogs above
 * params.max_items (default 20,000) are refused with TROVE_ERANGE.
 *
 * The model keeps a copy of the training interactions so that it can score a
 * known user by index; trove_ease_score_items scores any other history.
 *
 * Thread safety: a fitted model is immutable; any number of threads may
 * score, recommend and save it at once. Fitting sets OpenBLAS's thread count
 * (process-wide) to params.threads for the factorisation.
 */
#ifndef TROVE_EASE_H
#define TROVE_EASE_H

#include "trove/core.h"
#include "trove/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trove_ease trove_ease;

#define TROVE_EASE_DEFAULT_MAX_ITEMS 20000u

typedef struct trove_ease_params {
    float    lambda;     /* L2 weight on B, >= 0 and finite; default 500.
                            0 is allowed but X^T X is then usually singular
                            (refused with TROVE_ERANGE). */
    uint32_t max_items;  /* refuse larger catalogs; default 20000 */
    uint32_t threads;    /* threads for X^T X and the factorisation;
                            0 = one per online CPU; default 1 */
} trove_ease_params;

trove_ease_params trove_ease_default_params(void);

/* TROVE_OK or TROVE_EINVAL with a message naming the field. */
int trove_ease_check_params(const trove_ease_params *p, trove_error *err);

/* Fit on `interactions` (users x items CSR; columns strictly ascending per
 * row; data NULL = weight 1; weights finite and >= 0). The matrix is copied.
 * Returns TROVE_OK; TROVE_EINVAL (params, matrix); TROVE_EEMPTY;
 * TROVE_ERANGE: more items than params.max_items, or X^T X + lambda I not
 * positive definite / too ill-conditioned for float32 (typically lambda 0,
 * or an item without interactions and lambda 0: raise lambda);
 * TROVE_ENOMEM. */
int trove_ease_fit(const trove_csr *interactions, const trove_ease_params *params,
                   trove_ease **out, trove_error *err);

void trove_ease_free(trove_ease *m);

uint32_t trove_ease_n_users(const trove_ease *m);
uint32_t trove_ease_n_items(const trove_ease *m);
float trove_ease_lambda(const trove_ease *m);
/* Borrowed row-major n_items x n_items matrix B (row i: the weights item i
 * gives to every item). Valid until the model is freed. */
const float *trove_ease_weights(const trove_ease *m);
/* Borrowed copy of the training interactions. */
const trove_csr *trove_ease_interactions(const trove_ease *m);

/* scores[0..n_items) for training user `user`. Thread-safe, no allocation.
 * Returns TROVE_OK or TROVE_EINVAL. */
int trove_ease_score_user(const trove_ease *m, uint32_t user, float *scores,
                          trove_error *err);

/* scores[0..n_items) for an arbitrary history of n items (weights NULL = 1).
 * Returns TROVE_OK or TROVE_EINVAL (item out of range). */
int trove_ease_score_items(const trove_ease *m, const uint32_t *items,
                           const float *weights, size_t n, float *scores,
                           trove_error *err);

/* Top-k for every training user, same contract as trove_ials_recommend_all:
 * items[u*k + j], scores[u*k + j] (may be NULL), rows of `exclude` skipped,
 * padding UINT32_MAX / -INFINITY, ties to the lower index. */
int trove_ease_recommend_all(const trove_ease *m, const trove_csr *exclude, uint32_t k,
                             uint32_t threads, uint32_t *items, float *scores,
                             trove_error *err);

/* Save / load (format in docs/models-ials-ease.md), atomic write and full
 * validation on load, with the same return codes as the iALS functions;
 * load also refuses files whose item count exceeds `max_items` (0 = the
 * default limit) with TROVE_ERANGE. */
int trove_ease_save(const trove_ease *m, const char *path, trove_error *err);
int trove_ease_load(const char *path, uint32_t max_items, trove_ease **out,
                    trove_error *err);
/* In-memory forms of save / load, as trove_ials_save_buffer and
 * trove_ials_load_buffer (max_items as for trove_ease_load). */
int trove_ease_save_buffer(const trove_ease *m, unsigned char **bytes, size_t *len,
                           trove_error *err);
int trove_ease_load_buffer(const unsigned char *bytes, size_t len, const char *name,
                           uint32_t max_items, trove_ease **out, trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_EASE_H */
