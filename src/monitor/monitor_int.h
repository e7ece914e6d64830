/*
 * monitor_int.h - internals of the monitor module shared by its files:
 * the quantile binning and the status rules, so that drift.c and the
 * report code agree on them.
 *
 * Invariant: edges are strictly increasing; bin j of n_edges edges holds
 * the values v with edge[j-1] < v <= edge[j] (edge[-1] = -inf, edge[n] =
 * +inf), so there are n_edges + 1 bins.
 */
#ifndef TROVE_MONITOR_INT_H
#define TROVE_MONITOR_INT_H

#include "trove/monitor.h"

/* Edges of `bins` quantile bins of the n sorted values: edge k (k = 1 ..
 * bins-1) is the value of rank ceil(k n / bins) (1-based), duplicates
 * dropped. edges holds bins - 1 entries; returns how many were written
 * (0 when n is 0, >= 1 otherwise; bins >= 2). */
size_t trove__monitor_quantile_edges(const double *sorted, size_t n, int bins,
                                     double *edges);

/* Bin of v among n_edges edges (0 .. n_edges). */
size_t trove__monitor_bin_of(const double *edges, size_t n_edges, double v);

/* Status of a value where higher is worse (rates, PSI); NA for NAN. */
/* The integer member `key` of the JSON object text `json` (a model
 * version's metrics), or 0 when absent or not an integer. */
int64_t trove__monitor_json_int(const char *json, const char *key);
int trove__monitor_status_high(double v, trove_monitor_threshold t);

/* Worse of two statuses (NA counts as nothing). */
int trove__monitor_status_worst(int a, int b);

#endif /* TROVE_MONITOR_INT_H */
