/*
 * test_cycle_rules.c - the rules engine applied per user in assignment
 * cycles (trove_cycle_run_params.rules):
 *   - an eligibility rule that blocks a category for a segment changes
 *     exactly the lists of the users in that segment, in both arms;
 *   - a frequency cap holds across cycles (the user's assignments of the
 *     earlier cycles in the window are the exposures);
 *   - a budget cap holds across the cycle (each assignment takes 1 from the
 *     budget left after the offer's redemptions);
 *   - allocation failures while preparing the rules leave nothing behind.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1800000000
#define N_USERS 40
#define N_OFFERS 8

/* No model: both arms take the popularity order (ties by item id), so
 * without rules every user gets o0, o1, o2. */
static const char *MARKET_YAML =
    "market: {code: XX, name: Testland}\n"
    "window: {last_days: 30}\n"
    "model: {family: hybrid}\n"
    "assignment: {number_of_predictions: 3, new_offer_exposure: 0}\n"
    "experiment: {test_share: 0.5, control_policy: popularity, salt: xx-salt}\n";

typedef struct world {
    trove_store *s;
    int64_t market;
    int64_t user[N_USERS];
    int64_t offer[N_OFFERS];
    trove_market_config *cfg;
} world;

static void feature(trove_store *s, int target, int64_t entity, const char *name,
                    int kind, double value)
{
    trove_error err;
    int64_t fid;
    assert_int_equal(trove_store_feature_upsert(s, target, name, kind, &fid, &err), 0);
    if (target == TROVE_FEATURE_USER)
        assert_int_equal(trove_store_user_feature_set(s, entity, fid, value, &err), 0);
    else
        assert_int_equal(trove_store_item_feature_set(s, entity, fid, value, &err), 0);
}

/* Users u00..u39, every third a "kid" (segment=kid); offers o0..o7, o0 and
 * o1 are beer, the rest food. */
static void world_make(world *w, const char *name)
{
    const char *path = testutil_tmp_path(name);
    trove_error err;
    char ext[16];
    remove(path);
    assert_int_equal(trove_market_config_parse(MARKET_YAML, strlen(MARKET_YAML),
                                               "XX.yaml", &w->cfg, &err), 0);
    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &w->s, &err), 0);
    assert_int_equal(trove_store_market_upsert(w->s, "XX", NULL, NULL, &w->market,
                                               NULL, &err), 0);
    for (int u = 0; u < N_USERS; u++) {
        snprintf(ext, sizeof ext, "u%02d", u);
        assert_int_equal(trove_store_user_upsert(w->s, ext, w->market, &w->user[u],
                                                 NULL, &err), 0);
        feature(w->s, TROVE_FEATURE_USER, w->user[u],
                u % 3 == 0 ? "segment=kid" : "segment=adult",
                TROVE_FEATURE_CATEGORICAL, 1);
        feature(w->s, TROVE_FEATURE_USER, w->user[u], "city=Bern",
                TROVE_FEATURE_CATEGORICAL, 1);
    }
    for (int i = 0; i < N_OFFERS; i++) {
        snprintf(ext, sizeof ext, "o%d", i);
        assert_int_equal(trove_store_item_upsert(w->s, ext, NULL, &w->offer[i], NULL,
                                                 &err), 0);
        feature(w->s, TROVE_FEATURE_ITEM, w->offer[i],
                i < 2 ? "category=beer" : "category=food",
                TROVE_FEATURE_CATEGORICAL, 1);
    }
}

typedef struct lists {
    int64_t item[N_USERS][4];
    int n[N_USERS];
    int arm[N_USERS];
} lists;

typedef struct collect_ctx {
    const world *w;
    lists *l;
} collect_ctx;

static int collect(void *ud, const trove_assignment *a)
{
    collect_ctx *c = ud;
    for (int u = 0; u < N_USERS; u++) {
        if (c->w->user[u] == a->user_id) {
            assert_true(a->rank < 4);
            c->l->item[u][a->rank] = a->item_id;
            c->l->arm[u] = a->arm;
            if (a->rank + 1 > c->l->n[u])
                c->l->n[u] = a->rank + 1;
        }
    }
    return 0;
}

static int run(world *w, const trove_rule_set *rs, const char *key, int64_t now,
               lists *out, trove_cycle_summary *sum)
{
    trove_cycle_run_params p = trove_cycle_run_default_params();
    trove_error err;
    trove_cycle c;
    collect_ctx cc = {w, out};
    int st;
    p.cycle_key = key;
    p.now = now;
    p.rules = rs;
    st = trove_cycle_run(w->s, w->cfg, &p, sum, &err);
    testutil_fail_alloc_after(-1);     /* reading back must not fail */
    if (st != TROVE_OK)
        return st;
    memset(out, 0, sizeof *out);
    assert_int_equal(trove_store_cycle_find(w->s, w->market, key, &c, &err), 0);
    assert_int_equal(trove_store_assignments_foreach(w->s, c.id, collect, &cc, &err), 0);
    return st;
}

static trove_rule_set *rules(const char *yaml)
{
    trove_rule_set *rs = NULL;
    trove_error err;
    assert_int_equal(trove_rule_set_parse(yaml, strlen(yaml), "XX-rules.yaml", &rs,
                                          &err), 0);
    return rs;
}

static int is_beer(const world *w, int64_t item)
{
    return item == w->offer[0] || item == w->offer[1];
}

static void test_segment_block_changes_only_that_segment(void **state)
{
    world w;
    lists *plain = calloc(1, sizeof *plain), *ruled = calloc(1, sizeof *ruled);
    trove_cycle_summary sum;
    trove_rule_set *rs = rules("market: XX\nrules:\n"
                               "  - name: no-beer-for-kids\n"
                               "    kind: eligibility\n"
                               "    items: [category=beer]\n"
                               "    exclude_segments: [kid]\n");
    int kids_test = 0, kids_control = 0;
    (void)state;
    assert_non_null(plain);
    assert_non_null(ruled);
    world_make(&w, "rules_block.db");
    assert_int_equal(run(&w, NULL, "plain", T0, plain, &sum), 0);
    assert_int_equal(sum.rules_applied, 0);
    assert_int_equal(run(&w, rs, "ruled", T0 + 60, ruled, &sum), 0);
    assert_int_equal(sum.rules_applied, 1);
    for (int u = 0; u < N_USERS; u++) {
        assert_int_equal(plain->n[u], 3);
        assert_int_equal(ruled->n[u], 3);
        assert_int_equal(plain->arm[u], ruled->arm[u]);
        assert_true(is_beer(&w, plain->item[u][0]));   /* beer was listed */
        if (u % 3 == 0) {
            /* kids: beer gone, the next food offers take its places */
            for (int j = 0; j < 3; j++) {
                assert_false(is_beer(&w, ruled->item[u][j]));
                assert_int_equal(ruled->item[u][j], w.offer[2 + j]);
            }
            if (ruled->arm[u] == TROVE_ARM_TEST)
                kids_test++;
            else
                kids_control++;
        } else {
            for (int j = 0; j < 3; j++)
                assert_int_equal(ruled->item[u][j], plain->item[u][j]);
        }
    }
    assert_true(kids_test > 0 && kids_control > 0);   /* both arms covered */
    trove_rule_set_free(rs);
    trove_store_close(w.s);
    trove_market_config_free(w.cfg);
    free(plain);
    free(ruled);
}

static void test_frequency_cap_across_cycles(void **state)
{
    world w;
    lists *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *c = calloc(1, sizeof *c);
    trove_cycle_summary sum;
    trove_rule_set *rs = rules("market: XX\nfrequency_window_days: 7\nrules:\n"
                               "  - name: once-a-week\n"
                               "    kind: frequency_cap\n"
                               "    max: 1\n");
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    world_make(&w, "rules_freq.db");
    assert_int_equal(run(&w, rs, "d1", T0, a, &sum), 0);
    assert_int_equal(run(&w, rs, "d2", T0 + 86400, b, &sum), 0);
    assert_int_equal(run(&w, rs, "d3", T0 + 2 * 86400, c, &sum), 0);
    for (int u = 0; u < N_USERS; u++) {
        assert_int_equal(a->n[u], 3);
        assert_int_equal(b->n[u], 3);
        assert_int_equal(c->n[u], 2);      /* 8 offers, 6 already shown */
        for (int j = 0; j < 3; j++) {
            assert_int_equal(a->item[u][j], w.offer[j]);
            assert_int_equal(b->item[u][j], w.offer[3 + j]);
        }
        assert_int_equal(c->item[u][0], w.offer[6]);
        assert_int_equal(c->item[u][1], w.offer[7]);
    }
    /* Outside the window the earlier cycles no longer count. */
    assert_int_equal(run(&w, rs, "d20", T0 + 20 * 86400, c, &sum), 0);
    for (int u = 0; u < N_USERS; u++)
        assert_int_equal(c->item[u][0], w.offer[0]);
    trove_rule_set_free(rs);
    trove_store_close(w.s);
    trove_market_config_free(w.cfg);
    free(a);
    free(b);
    free(c);
}

static void test_budget_cap_across_cycle(void **state)
{
    world w;
    lists *l = calloc(1, sizeof *l);
    trove_cycle_summary sum;
    trove_error err;
    trove_rule_set *rs = rules("market: XX\nrules:\n"
                               "  - name: budgets\n"
                               "    kind: budget_cap\n");
    int holders = 0, first_missing = -1;
    (void)state;
    assert_non_null(l);
    world_make(&w, "rules_budget.db");
    /* o0: budget 5, one redemption of value 1 already -> 4 assignments */
    feature(w.s, TROVE_FEATURE_ITEM, w.offer[0], "budget", TROVE_FEATURE_NUMERIC, 5);
    {
        trove_event ev = {1, w.user[1], w.offer[0], TROVE_EVENT_REDEMPTION, 1,
                          T0 - 3600, w.market};
        assert_int_equal(trove_store_event_add(w.s, &ev, NULL, &err), 0);
    }
    assert_int_equal(run(&w, rs, "b1", T0, l, &sum), 0);
    assert_int_equal(sum.budgeted_offers, 1);
    for (int u = 0; u < N_USERS; u++) {
        int has = 0;
        assert_int_equal(l->n[u], 3);
        for (int j = 0; j < 3; j++)
            has |= l->item[u][j] == w.offer[0];
        if (has) {
            holders++;
            assert_int_equal(first_missing, -1);   /* users in id order */
        } else if (first_missing < 0) {
            first_missing = u;
        }
    }
    assert_int_equal(holders, 4);
    assert_int_equal(first_missing, 4);
    trove_rule_set_free(rs);
    trove_store_close(w.s);
    trove_market_config_free(w.cfg);
    free(l);
}

/* Failing the k-th allocation of a run with rules: a clean error, no cycle
 * written, nothing leaked (the sanitizer build checks leaks). */
static void test_rules_oom(void **state)
{
    world w;
    lists *l = calloc(1, sizeof *l);
    trove_cycle_summary sum;
    trove_rule_set *rs = rules("market: XX\nrules:\n"
                               "  - name: no-beer-for-kids\n"
                               "    kind: eligibility\n"
                               "    items: [category=beer]\n"
                               "    exclude_segments: [kid]\n"
                               "  - name: cap\n"
                               "    kind: frequency_cap\n"
                               "    max: 2\n"
                               "  - name: budgets\n"
                               "    kind: budget_cap\n");
    int ok = 0;
    (void)state;
    assert_non_null(l);
    world_make(&w, "rules_oom.db");
    for (long k = 0; k < 400 && !ok; k += 3) {
        int st;
        trove_cycle found;
        trove_error err;
        testutil_fail_alloc_after(k);
        st = run(&w, rs, "o1", T0, l, &sum);
        testutil_fail_alloc_after(-1);
        if (st == TROVE_OK) {
            ok = 1;
        } else {
            assert_int_equal(st, TROVE_ENOMEM);
            assert_int_equal(trove_store_cycle_find(w.s, w.market, "o1", &found, &err),
                             TROVE_ENOTFOUND);
        }
    }
    assert_true(ok);
    trove_rule_set_free(rs);
    trove_store_close(w.s);
    trove_market_config_free(w.cfg);
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_block_changes_only_that_segment),
        cmocka_unit_test(test_frequency_cap_across_cycles),
        cmocka_unit_test(test_budget_cap_across_cycle),
        cmocka_unit_test(test_rules_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
