/*
 * trove/ab.h - A/B analysis of assignment cycles: redemption rate per arm,
 * absolute and relative lift with 95% confidence intervals by the delta
 * method, a two-sided p-value, the sample-ratio-mismatch test, the
 * Holm-Bonferroni correction across markets, guardrails, and cumulative
 * figures over cycles. The inputs are the counts of
 * trove_store_ab_counts() (trove/store.h); docs/ab.md has the formulas.
 *
 * The metric is the redemption rate R = sum_u r_u / sum_u n_u (redeemed
 * assigned offers over assigned offers). Users are the randomization unit,
 * offers the analysis unit, so R is a ratio of two per-user means and its
 * variance comes from the delta method (Deng, Knoblich and Lu, "Applying the
 * Delta Method in Metric Analytics", KDD 2018; Kohavi, Tang and Xu,
 * "Trustworthy Online Controlled Experiments", 2020, ch. 18):
 *   Var(R) = (s_r^2 - 2 R s_rn + R^2 s_n^2) / (N mean_n^2)
 * with sample (co)variances s over the N users of the arm.
 * The relative lift's interval is computed on the log ratio
 * log(R_t / R_c), with Var = Var(R_t)/R_t^2 + Var(R_c)/R_c^2, and mapped
 * back with exp(.) - 1, so it is asymmetric and never below -100%.
 *
 * Everything here is pure arithmetic: no allocation, thread-safe.
 */
#ifndef TROVE_AB_H
#define TROVE_AB_H

#include "trove/core.h"
#include "trove/store.h"
#include "trove/experiment.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Warn about a sample ratio mismatch below this p-value. */
#define TROVE_AB_SRM_ALPHA 0.001
/* Two-sided 95% normal quantile. */
#define TROVE_AB_Z95 1.959963984540054

typedef struct trove_ab_result {
    double rate[2];        /* redemption rate per arm (index = enum trove_arm);
                              NAN when the arm has no exposures */
    double rate_se[2];     /* delta-method standard error of each rate */
    double abs_lift;       /* rate[test] - rate[control] */
    double abs_ci[2];      /* 95% interval of abs_lift */
    double rel_lift;       /* rate[test] / rate[control] - 1 */
    double rel_ci[2];      /* 95% interval (log-ratio delta method) */
    double z;              /* abs_lift / its standard error */
    double p_value;        /* two-sided, normal approximation */
    double srm_chi2;       /* sample-ratio-mismatch statistic (1 d.f.) */
    double srm_p;          /* its p-value */
    int    srm_warn;       /* srm_p < TROVE_AB_SRM_ALPHA */
    int    has_lift;       /* both arms have exposures and users >= 2:
                              abs_* , z and p_value are defined */
    int    has_rel;        /* also rate[control] > 0 and rate[test] > 0:
                              rel_ci is defined (rel_lift needs only
                              rate[control] > 0) */
    /* guardrails (NAN when the denominator is 0) */
    double coverage;       /* distinct offers assigned / eligible offers */
    double top5_share;     /* assignments of the 5 most assigned offers /
                              all assignments */
    double new_shown;      /* new offers assigned / new offers */
} trove_ab_result;

/* Delta-method variance of the ratio sum r / sum n of one arm (see the top
 * of this file); NAN when users < 2 or there are no exposures. */
double trove_ab_ratio_variance(const trove_ab_arm_counts *a);

/* Sample-ratio-mismatch chi-square test of the users per arm against the
 * configured split: chi2 = sum (obs - exp)^2 / exp, p = P(X^2_1 > chi2) =
 * erfc(sqrt(chi2 / 2)). An arm with an expected count of 0 (share 0 or 1)
 * gives p = 0 if it has users, else p = 1. *chi2 may be NULL. */
double trove_ab_srm_p(uint64_t users_control, uint64_t users_test,
                      double test_share, double *chi2);

/* Two-sided p-value of a standard normal statistic: erfc(|z| / sqrt 2). */
double trove_ab_p_two_sided(double z);

/* Holm-Bonferroni step-down adjusted p-values of n tests (Holm, "A simple
 * sequentially rejective multiple test procedure", 1979): with p sorted
 * ascending, adj_(i) = max_{j <= i} min(1, (n - j + 1) p_(j)). adjusted may
 * alias p. NAN inputs stay NAN and do not count in n. */
void trove_ab_holm(const double *p, size_t n, double *adjusted);

/* Every figure of one cycle (or of an accumulation, below). */
void trove_ab_analyze(const trove_ab_cycle_counts *c, trove_ab_result *out);

/* Add cycle c into the running total acc (start acc zeroed): counts and
 * sums add up, the window spans both; distinct and top-5 counts add up too
 * (the cumulative coverage is then offers-assigned-per-cycle over
 * eligible-per-cycle). Each (user, cycle) is one unit of the cumulative
 * analysis; a user keeps the same arm across cycles, so this approximates
 * a per-user analysis. The test share is averaged weighted by users. */
void trove_ab_accumulate(trove_ab_cycle_counts *acc,
                         const trove_ab_cycle_counts *c);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_AB_H */
