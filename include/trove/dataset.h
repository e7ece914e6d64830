/*
 * trove/dataset.h - training data in memory: sparse matrices, datasets with
 * their id universes and features, and train/test splits.
 *
 * A dataset is a users x items interaction matrix (CSR, with weights and
 * optional timestamps) and its transpose, two id maps (raw user / item ids
 * <-> dense indices 0..n-1), and optional user and item feature matrices
 * (CSR users x user-features, items x item-features) with their own name
 * maps. It is built with a trove_dataset_builder (from files, from the store,
 * or by the caller) and is immutable once built; it can then be read from
 * any number of threads at once.
 *
 * Files. Interaction "pairs" files are `user<TAB>item[<TAB>weight[<TAB>ts]]`
 * lines with raw ids (weight 1 and ts 0 when absent), optionally
 * gzip-compressed (detected from the content, not the name). Index files are
 * `index<TAB>raw_id` lines listing a fixed id universe 0..n-1; when given,
 * every id in a pairs file must be in it and items with no interaction stay
 * in the catalog. A universe of consecutive numbers (MovieLens' ua files:
 * index = raw id - 1) can be given as a range "1..943" instead of a file
 * (trove_idmap_load_spec). Feature files are `raw_id<TAB>feature[<TAB>weight]`
 * lines. docs/dataset.md describes every format and split exactly.
 *
 * Raw ids are byte strings, kept exactly (case, leading zeros: "85123A" and
 * "085123A" are different items).
 */
#ifndef TROVE_DATASET_H
#define TROVE_DATASET_H

#include "trove/core.h"
#include "trove/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ CSR */
/* Compressed sparse rows. Column indices are strictly ascending within a
 * row (no duplicates). A plain struct: the arrays belong to whoever filled
 * it; trove_csr_destroy() frees arrays allocated by trove functions. */
typedef struct trove_csr {
    uint32_t  n_rows, n_cols;
    uint64_t  nnz;
    uint64_t *indptr;    /* n_rows + 1 offsets */
    uint32_t *indices;   /* nnz column indices */
    float    *data;      /* nnz weights; NULL means every weight is 1 */
} trove_csr;

/* Free the arrays of a CSR built by trove and zero the struct. */
void trove_csr_destroy(trove_csr *m);

/* How duplicate (row, col) entries are combined. */
enum trove_dup_policy {
    TROVE_DUP_SUM  = 0,
    TROVE_DUP_MAX  = 1,
    TROVE_DUP_LAST = 2
};

/* Build a CSR from n coordinate triples (vals may be NULL = all 1).
 * Duplicates are combined by dup_policy (LAST = the last in input order).
 * The result always has its data array filled; its arrays are allocated
 * even when nnz is 0. Returns TROVE_OK, TROVE_EINVAL (row/column out of
 * range, non-finite weight, unknown policy) or TROVE_ENOMEM; *out is
 * written only on success and freed with trove_csr_destroy(). O(n + n_rows
 * + n_cols) time. */
int trove_csr_from_coo(uint32_t n_rows, uint32_t n_cols, const uint32_t *rows,
                       const uint32_t *cols, const float *vals, uint64_t n,
                       int dup_policy, trove_csr *out, trove_error *err);
/* Transpose (n_cols x n_rows), keeping weights (data filled even when
 * in->data is NULL). Columns stay ascending. TROVE_OK or TROVE_ENOMEM. */
int trove_csr_transpose(const trove_csr *in, trove_csr *out, trove_error *err);
/* 1 if row r contains column c (binary search), else 0 (also for r out of
 * range). Read-only: safe from any number of threads. */
int trove_csr_contains(const trove_csr *m, uint32_t r, uint32_t c);
/* Deep copy of in into *out (n_rows x n_cols, same entries). The data
 * array is always allocated (ones where in->data is NULL) and every array
 * is allocated even when nnz is 0; in->indptr may be NULL only when in has
 * no entries (the copy then has all-zero offsets). No validation: see
 * trove_csr_validate(). Returns TROVE_OK or TROVE_ENOMEM; *out is written
 * only on success and freed with trove_csr_destroy(). Reads in only: safe
 * to call concurrently on the same input. */
int trove_csr_copy(const trove_csr *in, trove_csr *out, trove_error *err);
/* Check that m is well formed: indptr present (unless n_rows is 0), running
 * from 0 to nnz and monotone, indices present when nnz > 0, columns below
 * n_cols and strictly ascending within each row, weights (when data is not
 * NULL) finite. `what` names the matrix in the message, e.g.
 * "item_features: row 3: column 9 out of range (8 columns)". Returns
 * TROVE_OK or TROVE_EINVAL. Read-only; O(nnz + n_rows). */
int trove_csr_validate(const trove_csr *m, const char *what, trove_error *err);

/* --------------------------------------------------------------- dataset */
typedef struct trove_dataset trove_dataset;
typedef struct trove_dataset_builder trove_dataset_builder;

/* Builder: collects interactions and features keyed by raw string ids.
 * NULL on out of memory. One thread at a time per builder. */
trove_dataset_builder *trove_dataset_builder_new(void);
void trove_dataset_builder_free(trove_dataset_builder *b);

/* Fix the id universe before adding data (optional). With a fixed universe,
 * unknown ids are rejected with TROVE_ENOTFOUND; without one, ids are
 * indexed in order of first appearance. The maps are copied (the caller
 * keeps ownership). TROVE_EINVAL once ids were added without a universe. */
int trove_dataset_builder_fix_users(trove_dataset_builder *b,
                                    const trove_idmap *users, trove_error *err);
int trove_dataset_builder_fix_items(trove_dataset_builder *b,
                                    const trove_idmap *items, trove_error *err);

/* Add one interaction; ts = 0 if unknown. Duplicates are combined by the
 * policy given at build time (their timestamp is the latest one). Returns
 * TROVE_OK, TROVE_ENOTFOUND (id outside a fixed universe), TROVE_EINVAL
 * (empty id, non-finite weight) or TROVE_ENOMEM. Not thread-safe: one
 * builder is filled by one thread at a time. */
int trove_dataset_builder_add(trove_dataset_builder *b, const char *user,
                              size_t user_len, const char *item,
                              size_t item_len, float weight, int64_t ts,
                              trove_error *err);
/* Make sure a user / item is in the universe without adding an interaction
 * (a user or an item that stays cold). With a fixed universe this only
 * checks that the id is known (TROVE_ENOTFOUND otherwise). Empty ids are
 * TROVE_EINVAL. */
int trove_dataset_builder_add_user_id(trove_dataset_builder *b, const char *user,
                                      size_t user_len, trove_error *err);
int trove_dataset_builder_add_item_id(trove_dataset_builder *b, const char *item,
                                      size_t item_len, trove_error *err);

/* Add a feature weight to a user / item (creating the id if the universe is
 * not fixed). Several weights for the same (id, feature) are summed (as
 * LightFM's Dataset does). Non-finite weights are TROVE_EINVAL. */
int trove_dataset_builder_add_user_feature(trove_dataset_builder *b,
                                           const char *user, size_t user_len,
                                           const char *feature, size_t feat_len,
                                           float weight, trove_error *err);
int trove_dataset_builder_add_item_feature(trove_dataset_builder *b,
                                           const char *item, size_t item_len,
                                           const char *feature, size_t feat_len,
                                           float weight, trove_error *err);

/* Declare a feature name (a column of the feature matrix) without giving
 * it to any user / item yet. Feature columns are numbered in order of
 * declaration or first use, so declaring names first fixes the layout
 * (e.g. MovieLens' 19 genres in u.genre order, as fetch_movielens lays
 * them out). Declaring a known name again is a no-op. */
int trove_dataset_builder_add_user_feature_name(trove_dataset_builder *b,
                                                const char *feature,
                                                size_t feat_len, trove_error *err);
int trove_dataset_builder_add_item_feature_name(trove_dataset_builder *b,
                                                const char *feature,
                                                size_t feat_len, trove_error *err);

typedef struct trove_dataset_build_params {
    int dup_policy;      /* enum trove_dup_policy; default TROVE_DUP_MAX */
} trove_dataset_build_params;
trove_dataset_build_params trove_dataset_build_default_params(void);

/* Build the dataset; the builder may then be freed (or reused after
 * trove_dataset_builder_free/new). params may be NULL (defaults). The
 * dataset owns copies of everything (id maps, matrices): it does not
 * depend on the builder. Timestamps are kept (aligned with the CSR entries)
 * only when some interaction had ts != 0. Every CSR the dataset hands out
 * has its data array filled (never NULL). */
int trove_dataset_builder_build(trove_dataset_builder *b,
                                const trove_dataset_build_params *params,
                                trove_dataset **out, trove_error *err);

void trove_dataset_free(trove_dataset *ds);

/* Accessors; returned pointers are borrowed and live as long as ds. */
uint32_t trove_dataset_n_users(const trove_dataset *ds);
uint32_t trove_dataset_n_items(const trove_dataset *ds);
uint64_t trove_dataset_nnz(const trove_dataset *ds);
const trove_csr   *trove_dataset_interactions(const trove_dataset *ds); /* users x items */
const trove_csr   *trove_dataset_item_users(const trove_dataset *ds);   /* items x users */
/* Timestamps aligned with interactions()->data, or NULL if none was given. */
const int64_t     *trove_dataset_timestamps(const trove_dataset *ds);
const trove_idmap *trove_dataset_user_ids(const trove_dataset *ds);
const trove_idmap *trove_dataset_item_ids(const trove_dataset *ds);
/* Feature matrices (rows = users/items, cols = feature names); an empty
 * matrix (nnz 0, n_cols 0) when no features were added. */
const trove_csr   *trove_dataset_user_features(const trove_dataset *ds);
const trove_csr   *trove_dataset_item_features(const trove_dataset *ds);
const trove_idmap *trove_dataset_user_feature_names(const trove_dataset *ds);
const trove_idmap *trove_dataset_item_feature_names(const trove_dataset *ds);
/* Number of users (rows) / items (columns) with at least one interaction. */
uint32_t trove_dataset_n_active_users(const trove_dataset *ds);
uint32_t trove_dataset_n_active_items(const trove_dataset *ds);

/* Feature matrix for a model. target is TROVE_FEATURE_USER or
 * TROVE_FEATURE_ITEM (store.h). Columns are [identity | features] when
 * `identity` is non-zero (column i < n is entity i's own id, weight 1;
 * feature column j is n + j in feature-name order), else the features alone:
 * the layout of LightFM's Dataset and fetch_movielens. `normalize` divides
 * each row by the sum of its absolute weights (LightFM's normalize option,
 * an L1 normalisation); as in LightFM a row without any entry cannot be
 * normalized and is TROVE_EINVAL (naming the id). *out is caller-owned
 * (trove_csr_destroy). */
int trove_dataset_feature_matrix(const trove_dataset *ds, int target,
                                 int identity, int normalize, trove_csr *out,
                                 trove_error *err);

/* ----------------------------------------------------------- from files */
/* Read an index file (`index<TAB>raw_id`, indices 0..n-1 each once, lines
 * in any order, blank lines skipped, gzip allowed) into a new id map in
 * index order. A gap, a repeated index or a repeated raw id is
 * TROVE_EFORMAT naming file:line; a missing file TROVE_ENOTFOUND.
 * *out is caller-owned (trove_idmap_free). */
int trove_idmap_load(const char *path, trove_idmap **out, trove_error *err);

/* A universe of the decimal ids first..last (inclusive): index of id v is
 * v - first. TROVE_EINVAL if last < first. */
int trove_idmap_from_range(uint64_t first, uint64_t last, trove_idmap **out,
                           trove_error *err);

/* A universe from a specification: "A..B" (two decimal numbers) is
 * trove_idmap_from_range(A, B); anything else is an index file path. */
int trove_idmap_load_spec(const char *spec, trove_idmap **out, trove_error *err);

/* Write an index file (`index<TAB>raw_id`, index order). The file appears
 * under `path` only once complete (written beside it, then renamed);
 * "-" writes to standard output. */
int trove_idmap_write(const trove_idmap *m, const char *path, trove_error *err);

typedef struct trove_pairs_options {
    const trove_idmap *users;   /* fixed universe, or NULL */
    const trove_idmap *items;   /* fixed universe, or NULL */
    const char *user_features;  /* feature file for users, or NULL */
    const char *item_features;  /* feature file for items, or NULL */
} trove_pairs_options;

/* Load a pairs file into a dataset. opts may be NULL (universes in order of
 * first appearance, no features); the maps in opts are copied and may be
 * freed after the call. Duplicate pairs are combined with TROVE_DUP_MAX.
 * Errors name the file and line: TROVE_EFORMAT (field count, weight, ts),
 * TROVE_ENOTFOUND (id outside a fixed universe, or missing file),
 * TROVE_ECORRUPT (truncated or corrupt gzip), TROVE_ENOMEM.
 * Feature files are read after the pairs; without a fixed universe, ids
 * that only appear there join the universe (as cold users/items). */
int trove_dataset_load_pairs(const char *path, const trove_pairs_options *opts,
                             trove_dataset **out, trove_error *err);

/* Write the interactions as `user<TAB>item` lines with raw ids (gzip if
 * `gzip` is non-zero), sorted by user index then item index. The gzip bytes
 * depend on the content only (header mtime 0). The file appears under
 * `path` only once complete; "-" writes to standard output. */
int trove_dataset_write_pairs(const trove_dataset *ds, const char *path,
                              int gzip, trove_error *err);

/* ------------------------------------------------------------ from store */
typedef struct trove_store_query {
    int64_t  market_id;     /* 0 = all markets */
    int64_t  ts_from;       /* inclusive; 0 = unbounded */
    int64_t  ts_to;         /* exclusive; 0 = unbounded */
    unsigned type_mask;     /* event types that count as positives; 0 =
                               click|redemption|purchase|rating */
    double   min_rating;    /* ratings below this are not positives */
    int      binary;        /* 1: weight 1 per positive pair; 0: sum values */
    int      user_features; /* load user features from the store */
    int      item_features; /* load item features from the store */
    int      all_items;     /* 1: every item in the store is in the catalog,
                               even without events (cold-start items) */
} trove_store_query;
/* Defaults: all markets, no time bounds, default positive types,
 * min_rating 0, binary 1, user and item features 1, all_items 1. */
trove_store_query trove_store_query_default(void);

/* Build a dataset from the store's events (q NULL = defaults). Raw ids are
 * the store's external ids. Positives: events of the mask's types (RETURN
 * never), in the market and [ts_from, ts_to) window; ratings below
 * min_rating are dropped. binary: weight 1 per pair; otherwise the values
 * of a pair's events are summed. Timestamps are kept (a pair's latest).
 * Features are attached to the dataset's users/items only. Uses the handle
 * for reading only; the usual store thread rules apply (one thread per
 * handle). Returns TROVE_OK, TROVE_ENOMEM or the store's error. */
int trove_dataset_from_store(trove_store *s, const trove_store_query *q,
                             trove_dataset **out, trove_error *err);

/* ---------------------------------------------------------------- splits */
/* Exact definitions (docs/dataset.md). n is a user's number of
 * interactions; "capped" means at most max(0, n - min_train) go to test.
 *   RANDOM    per user (ascending index) shuffle the user's interactions
 *             (items ascending, Fisher-Yates on one xoshiro256** stream
 *             seeded with `seed`); the first floor(fraction*n + 0.5),
 *             capped, go to test (the rounding of ../shared/data/splits);
 *   TEMPORAL  interactions with ts >= cut_ts go to test;
 *   LAST_K    per user, the last k (capped) in (ts, item index) order go
 *             to test (ties in ts: the higher item index is the later);
 *   COLD_ITEM among the m items with interactions, shuffled, the first
 *             floor(fraction*m + 0.5) are held out: all their interactions
 *             go to test, none stays in train.
 * TEMPORAL and LAST_K need timestamps (TROVE_EINVAL otherwise). */
enum trove_split_kind {
    TROVE_SPLIT_RANDOM    = 1,  /* per-user random holdout of `fraction` */
    TROVE_SPLIT_TEMPORAL  = 2,  /* interactions at or after `cut_ts` to test */
    TROVE_SPLIT_LAST_K    = 3,  /* each user's last `k` interactions to test */
    TROVE_SPLIT_COLD_ITEM = 4   /* `fraction` of items, all their interactions,
                                   to test */
};

typedef struct trove_split_params {
    int      kind;
    double   fraction;      /* RANDOM, COLD_ITEM: in (0,1) */
    uint64_t seed;
    int64_t  cut_ts;        /* TEMPORAL */
    uint32_t k;             /* LAST_K */
    uint32_t min_train;     /* RANDOM/LAST_K: keep at least this many train
                               interactions per user (default 1) */
} trove_split_params;
/* Defaults: RANDOM, fraction 0.2, seed 42, k 1, min_train 1, cut_ts 0. */
trove_split_params trove_split_default_params(void);

/* Split ds into train and test datasets over the same id universe (and the
 * same features): every interaction of ds is in exactly one of them, with
 * its weight and timestamp. Deterministic for a given seed. On success
 * *train and *test are new datasets the caller frees; ds is only read (any
 * number of threads may split the same dataset at once). Returns TROVE_OK,
 * TROVE_EINVAL (bad params, missing timestamps) or TROVE_ENOMEM. */
int trove_dataset_split(const trove_dataset *ds, const trove_split_params *p,
                        trove_dataset **train, trove_dataset **test,
                        trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_DATASET_H */
