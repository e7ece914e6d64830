/*
 * drift.c - the population stability index, quantile bins and the status
 * rules of the monitor module.
 *
 * PSI (Yurdakul, "Statistical properties of population stability index",
 * Western Michigan University, 2018; the standard credit-scoring
 * definition): PSI = sum_i (a_i - e_i) ln(a_i / e_i) over bins i, with e_i
 * the share of the expected (reference) window and a_i that of the actual
 * (latest) window. A share of 0 is replaced by epsilon so that an empty bin
 * adds a large but finite term instead of infinity. Identical
 * distributions give exactly 0; every term is >= 0.
 */
#include "monitor_int.h"

#include <math.h>

const char *trove_monitor_status_name(int status)
{
    switch (status) {
    case TROVE_MONITOR_OK:    return "ok";
    case TROVE_MONITOR_WARN:  return "warn";
    case TROVE_MONITOR_ALERT: return "alert";
    default:                  return "n/a";
    }
}

double trove_monitor_psi(const uint64_t *expected, const uint64_t *actual,
                         size_t n, double epsilon)
{
    uint64_t te = 0, ta = 0;
    double psi = 0.0;
    for (size_t i = 0; i < n; i++) {
        te += expected[i];
        ta += actual[i];
    }
    if (n == 0 || te == 0 || ta == 0)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        double e = (double)expected[i] / (double)te;
        double a = (double)actual[i] / (double)ta;
        if (e == 0.0)
            e = epsilon;
        if (a == 0.0)
            a = epsilon;
        psi += (a - e) * log(a / e);
    }
    return psi;
}

size_t trove__monitor_quantile_edges(const double *sorted, size_t n, int bins,
                                     double *edges)
{
    size_t m = 0;
    if (n == 0)
        return 0;
    for (int k = 1; k < bins; k++) {
        /* rank ceil(k n / bins), 1-based, computed in integers */
        size_t num = (size_t)k * n;
        size_t rank = (num + (size_t)bins - 1) / (size_t)bins;
        double v = sorted[rank > 0 ? rank - 1 : 0];
        if (m == 0 || v > edges[m - 1])
            edges[m++] = v;
    }
    return m;
}

size_t trove__monitor_bin_of(const double *edges, size_t n_edges, double v)
{
    size_t lo = 0, hi = n_edges;
    /* first edge >= v */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (edges[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int trove__monitor_status_high(double v, trove_monitor_threshold t)
{
    if (isnan(v))
        return TROVE_MONITOR_NA;
    if (v >= t.alert)
        return TROVE_MONITOR_ALERT;
    if (v >= t.warn)
        return TROVE_MONITOR_WARN;
    return TROVE_MONITOR_OK;
}

int trove__monitor_status_worst(int a, int b)
{
    return a > b ? a : b;
}
