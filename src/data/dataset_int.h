/*
 * dataset_int.h (internal) - the layout of trove_dataset and
 * trove_dataset_builder, shared by the files of src/data/ only.
 *
 * Invariants of a built dataset:
 *   - inter is n_users x n_items with strictly ascending columns per row and
 *     its data array always allocated (never NULL); item_users is its
 *     transpose;
 *   - ts is NULL or holds inter.nnz timestamps aligned with inter.indices;
 *   - users/items hold exactly n_users/n_items ids (index order = row/column
 *     order); the feature matrices have n_users/n_items rows and as many
 *     columns as their name maps hold ids;
 *   - every member is owned by the dataset; nothing is shared between two
 *     datasets (a split copies the id maps and features), so freeing one
 *     never affects another.
 */
#ifndef TROVE_DATA_DATASET_INT_H
#define TROVE_DATA_DATASET_INT_H

#include "trove/dataset.h"

struct trove_dataset {
    trove_csr    inter;          /* users x items */
    trove_csr    item_users;     /* items x users */
    int64_t     *ts;             /* aligned with inter, or NULL */
    trove_idmap *users, *items;
    trove_csr    user_feat, item_feat;
    trove_idmap *user_feat_names, *item_feat_names;
};

/* Growable coordinate list. ts is kept only for interactions. */
typedef struct trove__coo {
    uint32_t *rows, *cols;
    float    *vals;
    int64_t  *ts;
    uint64_t  n, cap;
} trove__coo;

struct trove_dataset_builder {
    trove_idmap *users, *items;
    int          users_fixed, items_fixed;
    trove_idmap *user_feat_names, *item_feat_names;
    trove__coo   inter, user_feat, item_feat;
    int          has_ts;         /* some interaction had ts != 0 */
};

/* trove_csr_from_coo with optional timestamps: ts (may be NULL) is permuted
 * with the entries; duplicates keep the largest ts. *ts_out receives a new
 * array (or NULL when ts is NULL). */
int trove__data_csr_from_coo_ts(uint32_t n_rows, uint32_t n_cols,
                           const uint32_t *rows, const uint32_t *cols,
                           const float *vals, const int64_t *ts, uint64_t n,
                           int dup_policy, trove_csr *out, int64_t **ts_out,
                           trove_error *err);

/* A new id map holding the ids of m in the same order. NULL on ENOMEM. */
trove_idmap *trove__data_idmap_clone(const trove_idmap *m);

/* Assemble a dataset from the interaction CSR (taken over: *inter and *ts
 * are zeroed / set to NULL on success) and copies of the universe and
 * features of `like` (id maps and feature matrices). Builds the transpose. */
int trove__data_dataset_from_parts(const trove_dataset *like, trove_csr *inter,
                              int64_t **ts, trove_dataset **out,
                              trove_error *err);

#endif /* TROVE_DATA_DATASET_INT_H */
