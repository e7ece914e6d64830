/*
 * stats.c - A/B statistics over per-arm counts: delta-method variance of a
 * ratio metric (Deng, Knoblich and Lu, KDD 2018), absolute and log-ratio
 * relative lift intervals, normal two-sided p-values, the sample-ratio
 * chi-square test, Holm-Bonferroni, guardrails and accumulation over
 * cycles. Formulas are in trove/ab.h and docs/ab.md.
 *
 * Invariants: nothing allocates; undefined figures are NAN (never 0), so a
 * report can tell "no effect" from "cannot be computed".
 */
#include "trove/ab.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double trove_ab_p_two_sided(double z)
{
    if (isnan(z))
        return NAN;
    return erfc(fabs(z) / sqrt(2.0));
}

double trove_ab_ratio_variance(const trove_ab_arm_counts *a)
{
    double n = (double)a->users, mn, mr, vn, vr, cov, r;
    if (a->users < 2 || a->exposures == 0)
        return NAN;
    mn = (double)a->exposures / n;
    mr = (double)a->redemptions / n;
    /* sample (co)variances with n - 1 */
    vn = (a->sum_n2 - n * mn * mn) / (n - 1);
    vr = (a->sum_r2 - n * mr * mr) / (n - 1);
    cov = (a->sum_nr - n * mn * mr) / (n - 1);
    r = mr / mn;
    {
        double v = (vr - 2 * r * cov + r * r * vn) / (n * mn * mn);
        return v < 0 ? 0 : v;   /* rounding can push an exact 0 below */
    }
}

double trove_ab_srm_p(uint64_t users_control, uint64_t users_test,
                      double test_share, double *chi2)
{
    double total = (double)users_control + (double)users_test;
    double obs[2] = {(double)users_control, (double)users_test};
    double share[2] = {1 - test_share, test_share};
    double x = 0, p;
    int impossible = 0;
    if (total == 0) {
        if (chi2)
            *chi2 = 0;
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        double e = total * share[k];
        if (e <= 0) {
            if (obs[k] > 0)
                impossible = 1;
            continue;
        }
        x += (obs[k] - e) * (obs[k] - e) / e;
    }
    if (impossible) {
        x = INFINITY;
        p = 0;
    } else if (test_share <= 0 || test_share >= 1) {
        p = 1;            /* one arm expected: nothing can mismatch */
    } else {
        p = erfc(sqrt(x / 2));
    }
    if (chi2)
        *chi2 = x;
    return p;
}

void trove_ab_holm(const double *p, size_t n, double *adjusted)
{
    /* Small n (markets): an insertion sort of indices on the stack is
     * enough; beyond 1024 tests the tail is adjusted as if sorted last. */
    size_t idx[1024], m = 0;
    double running = 0;
    double tmp[1024];
    size_t cap = n < 1024 ? n : 1024;
    for (size_t i = 0; i < cap; i++) {
        tmp[i] = p[i];
        if (isnan(p[i]))
            continue;
        size_t j = m++;
        while (j > 0 && p[idx[j - 1]] > p[i]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t i = 0; i < cap; i++)
        adjusted[i] = isnan(tmp[i]) ? NAN : tmp[i];
    for (size_t r = 0; r < m; r++) {
        double v = (double)(m - r) * tmp[idx[r]];
        if (v > 1)
            v = 1;
        if (v < running)
            v = running;
        running = v;
        adjusted[idx[r]] = v;
    }
    for (size_t i = cap; i < n; i++)
        adjusted[i] = isnan(p[i]) ? NAN : 1;
}

static double ratio_or_nan(double num, double den)
{
    return den > 0 ? num / den : NAN;
}

void trove_ab_analyze(const trove_ab_cycle_counts *c, trove_ab_result *out)
{
    trove_ab_result r;
    double var[2];
    const trove_ab_arm_counts *ctl = &c->arm[TROVE_ARM_CONTROL];
    const trove_ab_arm_counts *tst = &c->arm[TROVE_ARM_TEST];

    r.abs_lift = r.rel_lift = r.z = r.p_value = NAN;
    r.abs_ci[0] = r.abs_ci[1] = r.rel_ci[0] = r.rel_ci[1] = NAN;
    for (int k = 0; k < 2; k++) {
        const trove_ab_arm_counts *a = &c->arm[k];
        r.rate[k] = ratio_or_nan((double)a->redemptions, (double)a->exposures);
        var[k] = trove_ab_ratio_variance(a);
        r.rate_se[k] = sqrt(var[k]);
    }
    r.has_lift = !isnan(var[0]) && !isnan(var[1]);
    r.has_rel = r.has_lift && r.rate[0] > 0 && r.rate[1] > 0;
    if (!isnan(r.rate[0]) && !isnan(r.rate[1])) {
        r.abs_lift = r.rate[1] - r.rate[0];
        if (r.rate[0] > 0)
            r.rel_lift = r.rate[1] / r.rate[0] - 1;
    }
    if (r.has_lift) {
        double se = sqrt(var[0] + var[1]);
        r.abs_ci[0] = r.abs_lift - TROVE_AB_Z95 * se;
        r.abs_ci[1] = r.abs_lift + TROVE_AB_Z95 * se;
        if (se > 0) {
            r.z = r.abs_lift / se;
            r.p_value = trove_ab_p_two_sided(r.z);
        } else {
            /* no variance in either arm: identical rates are no evidence,
             * different ones are certain */
            r.z = r.abs_lift == 0 ? 0 : copysign(INFINITY, r.abs_lift);
            r.p_value = r.abs_lift == 0 ? 1 : 0;
        }
    }
    if (r.has_rel) {
        double l = log(r.rate[1] / r.rate[0]);
        double se = sqrt(var[1] / (r.rate[1] * r.rate[1]) +
                         var[0] / (r.rate[0] * r.rate[0]));
        r.rel_ci[0] = exp(l - TROVE_AB_Z95 * se) - 1;
        r.rel_ci[1] = exp(l + TROVE_AB_Z95 * se) - 1;
    }
    r.srm_p = trove_ab_srm_p(ctl->users, tst->users, c->test_share, &r.srm_chi2);
    r.srm_warn = r.srm_p < TROVE_AB_SRM_ALPHA;
    r.coverage = ratio_or_nan((double)c->distinct_items, (double)c->eligible_items);
    r.top5_share = ratio_or_nan((double)c->top5_exposures,
                                (double)(ctl->exposures + tst->exposures));
    r.new_shown = ratio_or_nan((double)c->new_items_shown, (double)c->new_items);
    *out = r;
}

void trove_ab_accumulate(trove_ab_cycle_counts *acc,
                         const trove_ab_cycle_counts *c)
{
    uint64_t users_before = acc->arm[0].users + acc->arm[1].users;
    uint64_t users_c = c->arm[0].users + c->arm[1].users;
    if (acc->cycle_id == 0 && acc->market[0] == '\0') {
        memcpy(acc->market, c->market, sizeof acc->market);
        acc->market_id = c->market_id;
        acc->start_ts = c->start_ts;
        acc->end_ts = c->end_ts;
        snprintf(acc->key, sizeof acc->key, "cumulative");
    }
    if (c->start_ts < acc->start_ts)
        acc->start_ts = c->start_ts;
    if (c->end_ts > acc->end_ts)
        acc->end_ts = c->end_ts;
    if (users_before + users_c > 0)
        acc->test_share = (acc->test_share * (double)users_before +
                           c->test_share * (double)users_c) /
                          (double)(users_before + users_c);
    for (int k = 0; k < 2; k++) {
        trove_ab_arm_counts *a = &acc->arm[k];
        const trove_ab_arm_counts *b = &c->arm[k];
        a->users += b->users;
        a->exposures += b->exposures;
        a->impressions += b->impressions;
        a->redemptions += b->redemptions;
        a->redeeming_users += b->redeeming_users;
        a->sum_n2 += b->sum_n2;
        a->sum_r2 += b->sum_r2;
        a->sum_nr += b->sum_nr;
        a->distinct_items += b->distinct_items;
        a->top5_exposures += b->top5_exposures;
    }
    acc->distinct_items += c->distinct_items;
    acc->top5_exposures += c->top5_exposures;
    acc->eligible_items += c->eligible_items;
    acc->new_items += c->new_items;
    acc->new_items_shown += c->new_items_shown;
    acc->unassigned_redemptions += c->unassigned_redemptions;
}
