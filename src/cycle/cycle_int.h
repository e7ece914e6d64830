/*
 * cycle_int.h - private interface of the cycle module: what the runner
 * reads from the store so that the planner can apply a market's rules per
 * user (rules_inputs.c).
 *
 * Invariants: every array indexed by "user" follows the planner's users
 * array, every array indexed by "offer" the planner's offers array (the
 * dense item index of the compiled rules). All pointers handed out by
 * trove__cycle_rules_user stay valid until trove__cycle_rules_release.
 */
#ifndef TROVE_CYCLE_INT_H
#define TROVE_CYCLE_INT_H

#include "trove/cycle.h"

typedef struct trove__cycle_rules {
    trove_rules *rules;          /* compiled against the offers */
    trove_idmap *names;          /* interned user feature names */
    size_t *feat_off;            /* [n_users + 1] into feat */
    const char **feat;           /* "field=value" user features */
    size_t *seg_off;             /* [n_users + 1] into seg */
    const char **seg;            /* segments: values of "segment=..." */
    size_t *exp_off;             /* [n_users + 1] into exp_item / exp_count */
    uint32_t *exp_item;          /* offer index, ascending per user */
    uint32_t *exp_count;         /* assignments in the frequency window */
    double *budget;              /* [n_offers] remaining, NULL = unchecked */
    uint64_t n_budgeted;         /* offers with a "budget" feature */
    uint64_t n_exposures;        /* (user, offer, count) entries */
} trove__cycle_rules;

/* Gather the rules inputs of one cycle of market_id at `now` and compile
 * rs against the offers (items[o] holds offer o's flags and ext id):
 *   - user features: the categorical features of each user ("field=value");
 *     features named "segment=<tag>" also make <tag> a segment;
 *   - exposures (only when rs has a frequency_cap rule): for each user and
 *     offer, how many earlier cycles of the market that started within the
 *     rule set's frequency_window_days before `now` assigned it to the user;
 *   - budgets (only when rs has a budget_cap rule): an offer with the
 *     numeric item feature "budget" is budgeted; remaining = budget minus
 *     the value of its redemption events in the market before `now`.
 * Returns TROVE_OK or the store's, compiler's or allocation errors; on
 * failure *out holds nothing to release. */
int trove__cycle_rules_prepare(trove_store *s, const trove_market_config *cfg,
                               const trove_rule_set *rs, int64_t market_id,
                               int64_t now, const char *cycle_key,
                               const trove_cycle_user *users, size_t n_users,
                               const trove_cycle_offer *offers,
                               const trove_item *items, size_t n_offers,
                               trove__cycle_rules *out, trove_error *err);

/* trove_cycle_rules_user_fn over a trove__cycle_rules. */
void trove__cycle_rules_user(void *ud, size_t u, trove_rules_user *out);

void trove__cycle_rules_release(trove__cycle_rules *c);

#endif /* TROVE_CYCLE_INT_H */
