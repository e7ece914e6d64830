/*
 * eval_int.h (internal) - pieces shared by the files of the eval module:
 * the per-user top-k metric kernel, small sorting helpers and the bootstrap
 * used for overall figures, slices and comparisons.
 */
#ifndef TROVE_EVAL_INT_H
#define TROVE_EVAL_INT_H

#include "trove/eval.h"

/* 1 if x is in the ascending array a[0..n). */
int trove__eval_contains(const uint32_t *a, uint32_t n, uint32_t x);

/* Top-k metrics (precision, recall, NDCG, MAP, hit rate slots of out[]) from
 * the hit vector of the first n_list <= k list positions. */
void trove__eval_topk_metrics(const uint8_t *hit, uint32_t n_list,
                              uint32_t n_rel, uint32_t k, int map_denominator,
                              double *out);

/* Ascending sort of n uint32 values (insertion sort when small). */
void trove__eval_sort_u32(uint32_t *a, uint32_t n);

/* Gini of n counts; sorts s in place. */
double trove__eval_gini_inplace(uint64_t *s, uint32_t n);

/* Mean and percentile-bootstrap interval of each of the TROVE_METRIC_COUNT
 * columns of vals ([rows][TROVE_METRIC_COUNT]) over rows idx[0..n) (idx NULL
 * = rows 0..n-1). b = 0: lo = hi = mean. */
int trove__eval_bootstrap(const double *vals, const uint32_t *idx, uint32_t n,
                          uint32_t b, double level, uint64_t seed,
                          trove_eval_summary *out, trove_error *err);

#endif /* TROVE_EVAL_INT_H */
