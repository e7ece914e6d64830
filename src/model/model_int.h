/*
 * model_int.h - internals of the hybrid model shared by hybrid.c (state,
 * growth, ids), train.c (the training loops), predict.c (scoring) and
 * model_file.c (serialisation).
 *
 * Layout. Parameters live in four tables: user identity rows (n_users when
 * user_identity is on, else 0), user feature rows (n_user_features), and
 * the same two for items. A table holds its embeddings as one 64-byte
 * aligned block [rows][dp] where dp is dim rounded up to a multiple of 16
 * floats (the padding is zero and stays zero: gradients there are zero), its
 * biases, and the optimiser state beside them (adagrad: sum of squared
 * gradients starting at 1; adadelta: E[g^2] and E[dx^2] starting at 0;
 * row-wise adagrad: one sum per embedding row, starting at 1, in the row's
 * metadata, and the biases' sums as with adagrad).
 *
 * Representations. q_u = id_emb[u] + sum_f w_f feat_emb[f] (the first term
 * only with identity on). A user or item whose representation is a single
 * row with weight 1 (identity and no extra features) is used in place; other
 * representations are summed into per-thread scratch.
 *
 * After every change of parameters (fit, grow, load) predict.c rebuilds the
 * item representation cache `item_repr` (n_items x dp + biases) unless the
 * items are pure identity, in which case scoring reads the identity table
 * in place. Scoring only reads, so it is safe from many threads.
 */
#ifndef TROVE_MODEL_INT_H
#define TROVE_MODEL_INT_H

#include "trove/model.h"
#include "kernels/kernels.h"

#define TROVE__MODEL_ALIGN 64
#define TROVE__MODEL_MAX_DIM 4096
#define TROVE__MAX_LOSS 10.0f /* LightFM's clip of WARP's rank weight */

typedef struct trove__table {
    uint32_t rows;
    float *emb;    /* rows x dp, aligned; NULL when rows == 0 */
    float *acc;    /* rows x dp: adagrad sum g^2 / adadelta E[g^2]; NULL
                      for row-wise adagrad */
    float *dacc;   /* rows x dp: adadelta E[dx^2]; NULL for adagrad */
    /* rows x TROVE__META, aligned: per row its bias, the bias's adagrad /
     * adadelta accumulator, adadelta's E[dx^2] and row-wise adagrad's
     * accumulator of the embedding row, alone on a 64-byte line so that
     * threads updating neighbouring rows never share a line. */
    float *meta;
} trove__table;

#define TROVE__META 16
enum { TROVE__BIAS = 0, TROVE__BACC = 1, TROVE__BDACC = 2, TROVE__RACC = 3 };

static inline float *trove__meta(const trove__table *t, uint32_t r)
{
    return t->meta + (size_t)r * TROVE__META;
}

struct trove_model {
    trove_model_params p;
    uint32_t dim, dp;
    uint32_t n_users, n_items;
    uint32_t n_user_features, n_item_features;
    int shaped;          /* n_users / n_items known and tables allocated */
    int trained;         /* at least one epoch ran (or loaded) */
    trove__table uid, ufeat, iid, ifeat;
    trove_csr ufm, ifm;  /* extra features; n_cols = n_*_features; owned */
    float *item_repr;    /* n_items x dp, or NULL when items are identity-only */
    float *item_repr_bias; /* n_items: every item's total bias */
    uint32_t *item_count;/* training interactions per item (n_items) */
    trove_idmap *user_ids, *item_ids, *ufeat_names, *ifeat_names;
    uint64_t fingerprint;
    uint64_t epochs_done, examples_done;
    trove_rng rng;       /* master stream: init, shuffles, thread seeds */
};

/* ---- hybrid.c */
size_t trove__model_dp(uint32_t dim);
/* Allocate/resize a table to `rows` rows keeping old content; new rows are
 * initialised (uniform (r-0.5)/dim embeddings from rng, zero bias,
 * optimiser state at its start). Returns TROVE_OK or TROVE_ENOMEM; on
 * failure the table is unchanged. */
int trove__model_table_resize(trove_model *m, trove__table *t, uint32_t rows);
/* Like resize, but builds a new table from t into *out, leaving t as is. */
int trove__model_table_grown(trove_model *m, const trove__table *t, uint32_t rows,
                       trove__table *out);
void trove__model_table_free(trove__table *t);
/* Copy a CSR (deep), validating sorted unique columns < n_cols and finite
 * weights. what names it in errors ("item_features"). */
int trove__model_csr_copy(const trove_csr *in, trove_csr *out, const char *what,
                    trove_error *err);
/* Empty CSR with n_rows rows and n_cols columns. */
int trove__model_csr_empty(uint32_t n_rows, uint32_t n_cols, trove_csr *out);
/* Apply item_cold_fallback to items with item_count == 0. */
void trove__model_cold_fallback(trove_model *m);

/* ---- predict.c */
/* Rebuild the item representation cache after parameters changed.
 * Returns TROVE_OK or TROVE_ENOMEM. */
int trove__model_refresh(trove_model *m);
/* Representation of a user / item into out (dp floats, padding zeroed) and
 * its bias. */
void trove__model_user_repr(const trove_model *m, uint32_t u, float *out,
                            float *bias);
void trove__model_item_repr(const trove_model *m, uint32_t i, float *out,
                            float *bias);

/* ---- train.c: losses as derivatives with respect to the scores, shared
 * by the training loops and the gradient tests. */
typedef struct trove__loss_grad {
    float loss;   /* value of the example's loss */
    float g_pos;  /* d loss / d score(u, pos) */
    float g_neg;  /* d loss / d score(u, neg) (pairwise losses) */
} trove__loss_grad;

/* Logistic loss -w*[y log s(x) + (1-y) log(1 - s(x))], x the score. */
trove__loss_grad trove__model_loss_logistic(float score, int label, float weight);
/* BPR: -w * log s(x_pos - x_neg). */
trove__loss_grad trove__model_loss_bpr(float pos, float neg, float weight);
/* WARP / k-OS for a violating pair: L * (1 - x_pos + x_neg), L the rank
 * weight (already clipped). */
trove__loss_grad trove__model_loss_warp(float pos, float neg, float rank_weight);
/* WARP's rank weight: log(max(1, floor(n_neg / sampled))) clipped at
 * TROVE__MAX_LOSS (Weston et al. 2011, eq. for L(k) with the rank estimated
 * as floor((N-1)/draws)). */
float trove__model_warp_rank_weight(uint32_t n_neg, uint32_t sampled);

/* Item blocks of the block thread schedule: boundaries block_lo[0..n_blocks]
 * (block_lo[0] = 0, block_lo[n_blocks] = x->n_cols, every block
 * non-empty; needs 1 <= n_blocks <= x->n_cols) for threads whose examples
 * are the contiguous ranges [range[t], range[t + 1]) of x's entries,
 * t < n_blocks. A round lasts as long as its slowest thread, so the cuts
 * even the rounds out. With two blocks the rounds are (thread 0 on block
 * 0, thread 1 on block 1) and the reverse; with A_b and B_b the examples
 * of threads 0 and 1 on block b, the cut minimises |A_0 - B_1|, which
 * makes both rounds even when the threads hold equal numbers of examples
 * (A_0 + A_1 = B_0 + B_1). A_0 grows and B_1 shrinks as the cut moves
 * right, so the scan stops where they cross. With more blocks each holds
 * about x->nnz / n_blocks interactions, which evens every round when the
 * threads' users like the same items. Returns TROVE_OK or TROVE_ENOMEM. */
int trove__model_block_cuts(const trove_csr *x, const uint64_t *range, uint32_t n_blocks,
                            uint32_t *block_lo);

/* Bitmaps of the positives of long rows, for the membership test of
 * every sampled negative. A scan of the row costs time in proportion to
 * its length, so a user with 1,000 items costs 20 times one with 50 per
 * draw (on online retail the scans took a fifth of an epoch). A row of at
 * least TROVE__POS_BITMAP_MIN items, and at least n_cols / 128 (so that
 * its bitmap takes at most four times the bytes of its indices), gets
 * n_cols bits instead: one load per draw. *word_out (n_rows entries):
 * the first word of row u's bitmap in *bits_out, or UINT64_MAX for rows
 * that keep the scan; both NULL when no row qualifies. Caller frees both
 * (trove_free). Returns TROVE_OK or TROVE_ENOMEM. */
#define TROVE__POS_BITMAP_MIN 64u
int trove__model_pos_index(const trove_csr *x, uint64_t **bits_out, uint64_t **word_out);

/* Is column i set in the bitmap starting at word w? */
static inline int trove__model_pos_bit(const uint64_t *bits, uint64_t w, uint32_t i)
{
    return (int)((bits[w + (i >> 6)] >> (i & 63u)) & 1u);
}

/* One SGD step on the example (u, pos[, neg]) with the given derivatives,
 * exactly as the training loop applies it (representation gradients
 * chained to every feature row, schedule, L2). scratch: 4*dp floats,
 * 64-byte aligned. Single-threaded use (tests). */
void trove__model_step(trove_model *m, uint32_t u, uint32_t pos, uint32_t neg,
                       int pairwise, float g_pos, float g_neg, float *scratch);

#endif /* TROVE_MODEL_INT_H */
