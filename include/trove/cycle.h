/*
 * trove/cycle.h - assignment cycles: every eligible user of a market gets
 * the top-N eligible offers of the market's active model (test arm) or the
 * control policy's offers (control arm), with slots reserved for offers
 * launched since the previous cycle, stored as one cycle row plus all its
 * assignments in one transaction.
 *
 * Two layers:
 *   trove_cycle_plan()  pure computation over arrays (users, offers, a
 *                       scorer); no store, no allocation per user; runs on
 *                       several threads; deterministic for given inputs
 *                       (the thread count does not change the result);
 *   trove_cycle_run()   reads the market from a store, plans, writes the
 *                       cycle (refusing a duplicate key unless replace) and
 *                       optionally exports the assignments as CSV.
 *
 * Arms: trove_experiment_arm(salt, user ext id, test_share) (trove/
 * experiment.h), so a user stays in the same arm in every cycle until the
 * salt or the share changes. Control gets the market's most popular eligible
 * offers (in the same order for everyone) or uniformly random eligible
 * offers (seeded by the cycle key and the user, hence the same on a re-run).
 *
 * New offers: with `new_slots` > 0, the last new_slots positions of every
 * list (both arms) hold offers launched since the previous cycle, spread
 * round-robin over users so that every new offer is shown; a list shows
 * fewer new offers when fewer exist. The other positions never repeat them.
 *
 * Thread safety: trove_cycle_plan may be called from several threads on
 * distinct outputs; trove_cycle_run follows the store's rules (one thread
 * per handle).
 */
#ifndef TROVE_CYCLE_H
#define TROVE_CYCLE_H

#include "trove/core.h"
#include "trove/config.h"
#include "trove/eval.h"
#include "trove/rules.h"
#include "trove/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TROVE_CYCLE_NO_INDEX UINT32_MAX

/* One eligible offer as the planner sees it. */
typedef struct trove_cycle_offer {
    int64_t  item_id;      /* store id (copied into the plan's rows) */
    uint32_t model_index;  /* column of the scorer, TROVE_CYCLE_NO_INDEX if
                              the model does not know the offer */
    double   popularity;   /* for the popularity control policy */
    int      is_new;       /* launched since the previous cycle */
} trove_cycle_offer;

/* One eligible user. */
typedef struct trove_cycle_user {
    int64_t     user_id;     /* store id */
    const char *ext_id;      /* hashed for the arm; borrowed */
    uint32_t    model_index; /* row of the scorer, TROVE_CYCLE_NO_INDEX if
                                the model does not know the user (such users
                                get the popularity list in the test arm) */
} trove_cycle_user;

/* The rules context of user u (index into the planner's users array):
 * fill *out; what it points to must stay valid until trove_cycle_plan
 * returns. Called from several planner threads at once (read-only state). */
typedef void (*trove_cycle_rules_user_fn)(void *ud, size_t u,
                                          trove_rules_user *out);

typedef struct trove_cycle_plan_params {
    uint32_t    n_predictions;  /* offers per user (>= 1) */
    uint32_t    new_slots;      /* reserved for new offers (<= n_predictions) */
    int         control_policy; /* enum trove_control_policy */
    const char *salt;           /* experiment salt (non-NULL) */
    double      test_share;     /* [0, 1] */
    const char *cycle_key;      /* seeds the random control lists */
    int         threads;        /* worker threads; <= 0 means 1 */
    /* Optional rules engine (trove/rules.h) compiled against the offers
     * array (dense item i = offers[i]). Every list, in both arms, then goes
     * through trove_rules_apply: the arm's ranking (model scores; popularity
     * or random for control and unknown users) is the request's scores,
     * offers reserved for new-offer slots are not ranked, and a new offer
     * takes a reserved slot only if trove_rules_check finds it eligible for
     * the user. NULL = no rules (the lists are plain top-N). */
    const trove_rules *rules;
    trove_cycle_rules_user_fn rules_user;  /* NULL = anonymous users */
    void       *rules_user_ud;
    int64_t     now;            /* the rules' clock (UTC seconds) */
    /* With rules: remaining budget per offer (n_offers entries), consumed
     * by the plan. Each assignment of an offer takes 1 from it, as if every
     * assigned user redeemed, so a cycle cannot overspend a budget; users
     * are then planned in order on one thread (the result depends on the
     * order). NULL = budgets are not checked. */
    double     *remaining_budget;
} trove_cycle_plan_params;

/* The planned lists: user u's list is rows[u * n_predictions ...], of which
 * n_rows[u] are used (fewer than n_predictions only when there are fewer
 * eligible offers). */
typedef struct trove_cycle_plan_result {
    size_t            n_users;
    uint32_t          n_predictions;
    uint8_t          *arm;         /* [n_users] TROVE_ARM_* */
    uint32_t         *n_rows;      /* [n_users] */
    uint32_t         *offer;       /* [n_users * n_predictions] offer indices */
    float            *score;       /* the same shape; NAN when not scored */
    uint8_t          *source;      /* the same shape; TROVE_SOURCE_* */
    uint64_t          n_test, n_control;
} trove_cycle_plan_result;

/* Plan the lists of n_users users over n_offers offers. scorer may be NULL
 * (then the test arm falls back to popularity, as for unknown users); it is
 * called from up to params->threads threads at once. On success *out
 * receives a result freed with trove_cycle_plan_free(). Returns TROVE_OK,
 * TROVE_EINVAL (bad params), TROVE_EEMPTY (no offers), TROVE_ENOMEM or the
 * scorer's error. */
int trove_cycle_plan(const trove_cycle_user *users, size_t n_users,
                     const trove_cycle_offer *offers, size_t n_offers,
                     const trove_scorer *scorer,
                     const trove_cycle_plan_params *params,
                     trove_cycle_plan_result **out, trove_error *err);
void trove_cycle_plan_free(trove_cycle_plan_result *r);

/* Optional replacement of the catalog eligibility test (the seam where a
 * rules engine plugs in): return 1 if the offer may be assigned at `now`.
 * NULL = trove_market_rules_eligible() with the config's rules. */
typedef int (*trove_cycle_eligible_fn)(void *ud, const trove_item *it,
                                       double price, int64_t now);

typedef struct trove_cycle_run_params {
    const char *cycle_key;      /* unique per market (at most 63 bytes) */
    int64_t     now;            /* start of the cycle, Unix seconds (> 0) */
    int         replace;        /* 1: replace an existing cycle of that key */
    int         threads;        /* scoring threads (default 2) */
    const char *export_csv;     /* write the assignments here, or NULL */
    trove_cycle_eligible_fn eligible;  /* NULL = the config's simple rules */
    void       *eligible_ud;
    /* The market's rule file (trove_rule_set_load of rules/<market>.yaml),
     * or NULL. With rules, the eligible offers above are compiled into a
     * rules engine and every user's list goes through it (see
     * trove_cycle_plan_params.rules), with the user's categorical features
     * (and "segment=<tag>" features as segments), the user's assignments in
     * the market's cycles of the last frequency_window_days (frequency
     * caps), and offers' remaining budgets (budget caps: the numeric item
     * feature "budget" minus the value of the offer's redemptions in the
     * market; each assignment in this cycle takes 1). Borrowed. */
    const trove_rule_set *rules;
    /* 1: plan (and export) only; nothing is written to the store, an
     * existing key is not an error, and the summary's cycle_id is 0. */
    int         dry_run;
} trove_cycle_run_params;

trove_cycle_run_params trove_cycle_run_default_params(void);

/* What a run did. */
typedef struct trove_cycle_summary {
    int64_t  cycle_id;
    int64_t  model_version_id;   /* 0 when no model was active */
    int      model_version;      /* its number, 0 if none */
    uint64_t users, test_users, control_users;
    uint64_t eligible_offers, new_offers;
    uint64_t assignments;
    uint64_t model_rows, popularity_rows, random_rows, new_offer_rows;
    uint64_t rule_rows;          /* placed by a pin or bundle rule */
    int      rules_applied;      /* 1 if params->rules was used */
    uint64_t budgeted_offers;    /* offers whose budget the rules checked */
    int      replaced;           /* 1 if an existing cycle was replaced */
    double   read_seconds;       /* wall time reading the store and model */
    double   plan_seconds;       /* planning (scores, rules, lists) */
    double   write_seconds;      /* CSV export and the store transaction */
} trove_cycle_summary;

/* Run one cycle of market cfg->code on store s: users whose home market it
 * is; eligible offers (active, not blocked, in their dates, price band, or
 * params->eligible); popularity = the market's redemption and purchase
 * events of the last 90 days before `now`; new offers = launched (later of
 * created_ts and start_ts) after the previous cycle's start and at or before
 * now; the active model version of the market (model file plus the id
 * files "<path>.users" and "<path>.items" written by `trove train --store`).
 * Without an active model every test user gets the popularity list (logged
 * as a warning). The cycle row and all assignments are written in one
 * transaction. out (may be NULL) receives the summary.
 * Returns TROVE_OK, TROVE_ENOTFOUND (market not in the store), TROVE_EEMPTY
 * (no users or no eligible offers in the market), TROVE_EEXIST (the cycle
 * exists and replace is 0: nothing is written), TROVE_EIO (export), model
 * load errors, or the store's errors (nothing is written). */
int trove_cycle_run(trove_store *s, const trove_market_config *cfg,
                    const trove_cycle_run_params *params,
                    trove_cycle_summary *out, trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_CYCLE_H */
