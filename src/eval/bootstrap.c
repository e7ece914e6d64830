/*
 * bootstrap.c - uncertainty of evaluation figures: percentile bootstrap
 * intervals of per-user means (Efron & Tibshirani, "An Introduction to the
 * Bootstrap", 1993, ch. 13) and the paired comparison of two models on the
 * same users (paired bootstrap interval of the mean difference, and a
 * sign-flip randomisation test for its p-value).
 *
 * Every resample is drawn from one xoshiro256** stream seeded by the caller,
 * in a fixed order, so results are reproducible for a seed.
 */
#include "eval_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define M TROVE_METRIC_COUNT

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of sorted v[0..n) with linear interpolation. */
static double quantile(const double *v, uint32_t n, double q)
{
    double pos = q * (double)(n - 1);
    uint32_t i = (uint32_t)pos;
    double f = pos - (double)i;
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + f * (v[i + 1] - v[i]);
}

int trove__eval_bootstrap(const double *vals, const uint32_t *idx, uint32_t n,
                          uint32_t b, double level, uint64_t seed,
                          trove_eval_summary *out, trove_error *err)
{
    double sum[M] = {0};
    double *means = NULL, *col = NULL;
    trove_rng rng;
    int rc = TROVE_OK;

    memset(out, 0, sizeof *out);
    out->n_users = n;
    if (n == 0)
        return TROVE_OK;
    for (uint32_t i = 0; i < n; i++) {
        const double *row = vals + (size_t)(idx ? idx[i] : i) * M;
        for (int m = 0; m < M; m++)
            sum[m] += row[m];
    }
    for (int m = 0; m < M; m++) {
        out->mean[m] = sum[m] / (double)n;
        out->lo[m] = out->hi[m] = out->mean[m];
    }
    if (b == 0)
        return TROVE_OK;
    if (!(level > 0.0 && level < 1.0))
        return trove_error_set(err, TROVE_EINVAL,
                               "bootstrap: confidence level %g is not in (0, 1)", level);
    means = trove_malloc((size_t)b * M * sizeof *means);
    col = trove_malloc((size_t)b * sizeof *col);
    if (means == NULL || col == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "bootstrap: out of memory");
        goto done;
    }
    trove_rng_seed(&rng, seed);
    for (uint32_t r = 0; r < b; r++) {
        double s[M] = {0};
        for (uint32_t i = 0; i < n; i++) {
            uint32_t pick = trove_rng_below(&rng, n);
            const double *row = vals + (size_t)(idx ? idx[pick] : pick) * M;
            for (int m = 0; m < M; m++)
                s[m] += row[m];
        }
        for (int m = 0; m < M; m++)
            means[(size_t)r * M + (size_t)m] = s[m] / (double)n;
    }
    for (int m = 0; m < M; m++) {
        for (uint32_t r = 0; r < b; r++)
            col[r] = means[(size_t)r * M + (size_t)m];
        qsort(col, b, sizeof *col, cmp_double);
        out->lo[m] = quantile(col, b, (1.0 - level) / 2.0);
        out->hi[m] = quantile(col, b, 1.0 - (1.0 - level) / 2.0);
    }
done:
    trove_free(means);
    trove_free(col);
    return rc;
}

int trove_eval_summarize(const trove_eval_result *r, const uint32_t *idx,
                         uint32_t n, uint32_t b, double level, uint64_t seed,
                         trove_eval_summary *out, trove_error *err)
{
    trove_eval_summary s;
    int rc;
    if (r == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "summarize: no result");
    if (idx == NULL)
        n = r->n_users;
    for (uint32_t i = 0; idx != NULL && i < n; i++)
        if (idx[i] >= r->n_users)
            return trove_error_set(err, TROVE_EINVAL,
                                   "summarize: row %u out of range (%u users)",
                                   idx[i], r->n_users);
    rc = trove__eval_bootstrap(r->per_user, idx, n, b, level, seed, &s, err);
    if (rc == TROVE_OK)
        *out = s;
    return rc;
}

int trove_eval_compare(const trove_eval_result *a,
                       const trove_eval_result *base, uint32_t rounds,
                       double level, uint64_t seed,
                       trove_eval_comparison *out, trove_error *err)
{
    trove_eval_comparison c;
    trove_eval_summary s;
    double *d = NULL;
    uint64_t extreme[M] = {0};
    double scale[M];
    trove_rng rng;
    uint32_t n;
    int rc = TROVE_OK;

    if (a == NULL || base == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "compare: missing result");
    n = a->n_users;
    if (n != base->n_users || a->k != base->k ||
        memcmp(a->users, base->users, (size_t)n * sizeof *a->users) != 0)
        return trove_error_set(err, TROVE_EINVAL,
                               "compare: the two results were not computed on the "
                               "same test users and k");
    if (rounds == 0)
        rounds = 1000;
    d = trove_malloc((size_t)n * M * sizeof *d);
    if (d == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "compare: out of memory");
    for (size_t q = 0; q < (size_t)n * M; q++)
        d[q] = a->per_user[q] - base->per_user[q];
    rc = trove__eval_bootstrap(d, NULL, n, rounds, level, seed, &s, err);
    if (rc != TROVE_OK)
        goto done;
    memset(&c, 0, sizeof c);
    c.n_users = n;
    for (int m = 0; m < M; m++) {
        c.diff[m] = s.mean[m];
        c.lo[m] = s.lo[m];
        c.hi[m] = s.hi[m];
        /* tolerance for sums that differ only by rounding */
        scale[m] = fabs(s.mean[m]) * (1.0 - 1e-9) - 1e-12;
    }
    /* Sign-flip randomisation: under H0 (no difference) each user's
     * difference is as likely to have either sign. */
    trove_rng_seed(&rng, seed ^ UINT64_C(0x9e3779b97f4a7c15));
    for (uint32_t r = 0; r < rounds; r++) {
        double sum[M] = {0};
        uint64_t bits = 0;
        for (uint32_t i = 0; i < n; i++) {
            if ((i & 63u) == 0)
                bits = trove_rng_next(&rng);
            double sign = (bits & 1u) ? 1.0 : -1.0;
            bits >>= 1;
            const double *row = d + (size_t)i * M;
            for (int m = 0; m < M; m++)
                sum[m] += sign * row[m];
        }
        for (int m = 0; m < M; m++)
            extreme[m] += fabs(sum[m] / (double)n) >= scale[m];
    }
    for (int m = 0; m < M; m++)
        c.p_value[m] = (1.0 + (double)extreme[m]) / (1.0 + (double)rounds);
    *out = c;
done:
    trove_free(d);
    return rc;
}
