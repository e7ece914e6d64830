/*
 * metrics.c - ranking metrics of one user (see docs/metrics.md for the exact
 * definitions and the references they match).
 *
 * The top-k metrics work on a 0/1 hit vector of the first min(k, n_ranked)
 * positions of a ranked list; the engine builds that vector once per user
 * and calls trove__eval_topk_metrics, and the public one-list functions
 * below build it the same way, so both paths share one definition.
 */
#include "eval_int.h"

#include <math.h>
#include <stdlib.h>

static const char *const metric_names[TROVE_METRIC_COUNT] = {
    "precision", "recall", "ndcg", "map", "mrr", "hit_rate", "auc",
    "precision_lfm", "recall_lfm"
};

const char *trove_metric_name(int metric)
{
    if (metric < 0 || metric >= TROVE_METRIC_COUNT)
        return "?";
    return metric_names[metric];
}

/* 1 if x is in the ascending array a[0..n). */
int trove__eval_contains(const uint32_t *a, uint32_t n, uint32_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == x;
}

/* Ideal DCG with `n` binary gains: sum_{i<n} 1/log2(i+2). */
static double ideal_dcg(uint32_t n)
{
    double s = 0.0;
    for (uint32_t i = 0; i < n; i++)
        s += 1.0 / log2((double)i + 2.0);
    return s;
}

void trove__eval_topk_metrics(const uint8_t *hit, uint32_t n_list,
                              uint32_t n_rel, uint32_t k, int map_denominator,
                              double *out)
{
    uint32_t hits = 0;
    double dcg = 0.0, ap = 0.0;
    uint32_t n = n_list < k ? n_list : k;
    out[TROVE_METRIC_PRECISION] = 0.0;
    out[TROVE_METRIC_RECALL] = 0.0;
    out[TROVE_METRIC_NDCG] = 0.0;
    out[TROVE_METRIC_MAP] = 0.0;
    out[TROVE_METRIC_HIT_RATE] = 0.0;
    if (k == 0 || n_rel == 0)
        return;
    for (uint32_t p = 0; p < n; p++) {
        if (!hit[p])
            continue;
        hits++;
        dcg += 1.0 / log2((double)p + 2.0);
        ap += (double)hits / ((double)p + 1.0);
    }
    uint32_t ideal = n_rel < k ? n_rel : k;
    uint32_t map_den = map_denominator == TROVE_MAP_BY_RELEVANT ? n_rel : ideal;
    out[TROVE_METRIC_PRECISION] = (double)hits / (double)k;
    out[TROVE_METRIC_RECALL] = (double)hits / (double)n_rel;
    out[TROVE_METRIC_NDCG] = hits ? dcg / ideal_dcg(ideal) : 0.0;
    out[TROVE_METRIC_MAP] = ap / (double)map_den;
    out[TROVE_METRIC_HIT_RATE] = hits ? 1.0 : 0.0;
}

/* Shared body of the one-list functions: hit vector of the first k entries. */
static void list_metrics(const uint32_t *ranked, uint32_t n_ranked,
                         const uint32_t *relevant, uint32_t n_rel, uint32_t k,
                         int map_denominator, double *out)
{
    uint8_t small[256] = {0};
    uint32_t n = n_ranked < k ? n_ranked : k;
    uint8_t *hit = n <= sizeof small ? small : trove_malloc(n);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++)
        out[m] = 0.0;
    if (hit == NULL)
        return;
    for (uint32_t p = 0; p < n; p++)
        hit[p] = (uint8_t)trove__eval_contains(relevant, n_rel, ranked[p]);
    trove__eval_topk_metrics(hit, n, n_rel, k, map_denominator, out);
    if (hit != small)
        trove_free(hit);
}

double trove_eval_precision_at_k(const uint32_t *ranked, uint32_t n_ranked,
                                 const uint32_t *relevant, uint32_t n_rel,
                                 uint32_t k)
{
    double m[TROVE_METRIC_COUNT];
    list_metrics(ranked, n_ranked, relevant, n_rel, k, TROVE_MAP_MIN_K, m);
    return m[TROVE_METRIC_PRECISION];
}

double trove_eval_recall_at_k(const uint32_t *ranked, uint32_t n_ranked,
                              const uint32_t *relevant, uint32_t n_rel,
                              uint32_t k)
{
    double m[TROVE_METRIC_COUNT];
    list_metrics(ranked, n_ranked, relevant, n_rel, k, TROVE_MAP_MIN_K, m);
    return m[TROVE_METRIC_RECALL];
}

double trove_eval_ndcg_at_k(const uint32_t *ranked, uint32_t n_ranked,
                            const uint32_t *relevant, uint32_t n_rel,
                            uint32_t k)
{
    double m[TROVE_METRIC_COUNT];
    list_metrics(ranked, n_ranked, relevant, n_rel, k, TROVE_MAP_MIN_K, m);
    return m[TROVE_METRIC_NDCG];
}

double trove_eval_map_at_k(const uint32_t *ranked, uint32_t n_ranked,
                           const uint32_t *relevant, uint32_t n_rel,
                           uint32_t k, int map_denominator)
{
    double m[TROVE_METRIC_COUNT];
    list_metrics(ranked, n_ranked, relevant, n_rel, k, map_denominator, m);
    return m[TROVE_METRIC_MAP];
}

double trove_eval_hit_rate_at_k(const uint32_t *ranked, uint32_t n_ranked,
                                const uint32_t *relevant, uint32_t n_rel,
                                uint32_t k)
{
    double m[TROVE_METRIC_COUNT];
    list_metrics(ranked, n_ranked, relevant, n_rel, k, TROVE_MAP_MIN_K, m);
    return m[TROVE_METRIC_HIT_RATE];
}

double trove_eval_reciprocal_rank(const uint32_t *ranked, uint32_t n_ranked,
                                  const uint32_t *relevant, uint32_t n_rel)
{
    for (uint32_t p = 0; p < n_ranked; p++)
        if (trove__eval_contains(relevant, n_rel, ranked[p]))
            return 1.0 / ((double)p + 1.0);
    return 0.0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void trove__eval_sort_u32(uint32_t *a, uint32_t n)
{
    if (n <= 32) {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t v = a[i], j = i;
            while (j > 0 && a[j - 1] > v) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = v;
        }
    } else {
        qsort(a, n, sizeof *a, cmp_u32);
    }
}

/* LightFM (lightfm/_lightfm_fast: calculate_auc_from_rank): with the test
 * ranks sorted ascending r_0 <= r_1 <= ..., the i-th positive has i other
 * positives ranked above it, so its count of higher-ranked negatives is
 * max(0, r_i - i); AUC(u) = mean_i (1 - max(0, r_i - i) / n_neg). */
double trove_eval_lightfm_auc(uint32_t *ranks, uint32_t n_test, uint64_t n_neg)
{
    double s = 0.0;
    if (n_test == 0 || n_neg == 0)
        return 0.5;
    trove__eval_sort_u32(ranks, n_test);
    for (uint32_t i = 0; i < n_test; i++) {
        double r = ranks[i] > i ? (double)(ranks[i] - i) : 0.0;
        s += 1.0 - r / (double)n_neg;
    }
    return s / (double)n_test;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Gini coefficient of the sorted (ascending) counts x_1..x_n:
 * G = sum_i (2i - n - 1) x_i / (n sum_i x_i)  (Damgaard & Weiner, "Describing
 * inequality in plant size or fecundity", Ecology 2000). */
double trove__eval_gini_inplace(uint64_t *s, uint32_t n)
{
    double num = 0.0, total = 0.0;
    if (n == 0)
        return 0.0;
    qsort(s, n, sizeof *s, cmp_u64);
    for (uint32_t i = 0; i < n; i++) {
        num += (2.0 * ((double)i + 1.0) - (double)n - 1.0) * (double)s[i];
        total += (double)s[i];
    }
    return total > 0.0 ? num / ((double)n * total) : 0.0;
}

double trove_eval_gini(const uint64_t *counts, uint32_t n)
{
    double g;
    uint64_t *s;
    if (n == 0)
        return 0.0;
    s = trove_malloc((size_t)n * sizeof *s);
    if (s == NULL)
        return 0.0;
    for (uint32_t i = 0; i < n; i++)
        s[i] = counts[i];
    g = trove__eval_gini_inplace(s, n);
    trove_free(s);
    return g;
}
