/*
 * test_cycle.c - assignment cycles and the world simulator through the
 * library: the planner (arms from the GrowthBook hash, control policies,
 * new-offer slots, the same plan for any thread count, allocation
 * failures), the store-backed runner (duplicate refused, --replace gives
 * identical assignments, arms stable across cycles, nothing written on
 * failure), the simulator (same seed -> same events, another seed ->
 * different ones) and world-file errors with file:line:column.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_USERS 300
#define N_OFFERS 12
#define T0 1800000000

/* ------------------------------------------------------------- planner */

typedef struct fixture {
    char ext[N_USERS][16];
    trove_cycle_user users[N_USERS];
    trove_cycle_offer offers[N_OFFERS];
    float emb_u[N_USERS][4], emb_i[N_OFFERS][4];
} fixture;

static fixture fx;

static int dot_score(void *ctx, uint32_t user, float *scores, trove_error *err)
{
    (void)ctx;
    (void)err;
    for (uint32_t i = 0; i < N_OFFERS; i++) {
        float s = 0;
        for (int d = 0; d < 4; d++)
            s += fx.emb_u[user][d] * fx.emb_i[i][d];
        scores[i] = s;
    }
    return TROVE_OK;
}

static void fixture_init(int n_new)
{
    trove_rng rng;
    trove_rng_seed(&rng, 5);
    for (uint32_t u = 0; u < N_USERS; u++) {
        snprintf(fx.ext[u], sizeof fx.ext[u], "user-%u", u);
        fx.users[u].user_id = (int64_t)u + 1;
        fx.users[u].ext_id = fx.ext[u];
        fx.users[u].model_index = u % 10 == 9 ? TROVE_CYCLE_NO_INDEX : u;
        for (int d = 0; d < 4; d++)
            fx.emb_u[u][d] = (float)trove_rng_normal(&rng);
    }
    for (uint32_t i = 0; i < N_OFFERS; i++) {
        fx.offers[i].item_id = 100 + (int64_t)i;
        fx.offers[i].model_index = i;
        fx.offers[i].popularity = (double)((i * 7) % N_OFFERS);
        fx.offers[i].is_new = (int)i >= N_OFFERS - n_new;
        for (int d = 0; d < 4; d++)
            fx.emb_i[i][d] = (float)trove_rng_normal(&rng);
    }
}

static trove_cycle_plan_params plan_params(void)
{
    trove_cycle_plan_params p;
    memset(&p, 0, sizeof p);
    p.n_predictions = 4;
    p.new_slots = 0;
    p.control_policy = TROVE_CONTROL_POPULARITY;
    p.salt = "test-salt";
    p.test_share = 0.7;
    p.cycle_key = "c1";
    p.threads = 1;
    return p;
}

static trove_scorer the_scorer(void)
{
    trove_scorer sc;
    sc.ctx = NULL;
    sc.n_users = N_USERS;
    sc.n_items = N_OFFERS;
    sc.score_user = dot_score;
    return sc;
}

static void assert_same_plan(const trove_cycle_plan_result *a,
                             const trove_cycle_plan_result *b)
{
    size_t cells = a->n_users * a->n_predictions;
    assert_int_equal(a->n_users, b->n_users);
    assert_memory_equal(a->arm, b->arm, a->n_users);
    assert_memory_equal(a->n_rows, b->n_rows, a->n_users * sizeof *a->n_rows);
    assert_memory_equal(a->offer, b->offer, cells * sizeof *a->offer);
    assert_memory_equal(a->source, b->source, cells);
}

static void test_plan_arms_and_threads(void **state)
{
    trove_cycle_plan_params p = plan_params();
    trove_scorer sc = the_scorer();
    trove_cycle_plan_result *a = NULL, *b = NULL;
    trove_error err;
    (void)state;
    fixture_init(0);
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc,
                                      &p, &a, &err), TROVE_OK);
    p.threads = 3;
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc,
                                      &p, &b, &err), TROVE_OK);
    assert_same_plan(a, b);
    for (size_t u = 0; u < N_USERS; u++) {
        int arm = trove_experiment_arm("test-salt", fx.ext[u], 0.7, NULL);
        assert_int_equal(a->arm[u], arm);
        assert_int_equal(a->n_rows[u], 4);
    }
    assert_int_equal(a->n_test + a->n_control, N_USERS);
    assert_true(a->n_test > N_USERS / 2 && a->n_control > N_USERS / 10);
    trove_cycle_plan_free(a);
    trove_cycle_plan_free(b);
}

static void test_plan_model_and_control(void **state)
{
    trove_cycle_plan_params p = plan_params();
    trove_scorer sc = the_scorer();
    trove_cycle_plan_result *r = NULL, *r2 = NULL;
    trove_error err;
    uint32_t pop[4] = {0};
    (void)state;
    fixture_init(0);
    /* The 4 most popular offers: popularity (i * 7) % 12, highest first. */
    for (uint32_t k = 0; k < 4; k++) {
        double best = -1;
        for (uint32_t i = 0; i < N_OFFERS; i++) {
            int used = 0;
            for (uint32_t j = 0; j < k; j++)
                used |= pop[j] == i;
            if (!used && fx.offers[i].popularity > best) {
                best = fx.offers[i].popularity;
                pop[k] = i;
            }
        }
    }
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc,
                                      &p, &r, &err), TROVE_OK);
    for (size_t u = 0; u < N_USERS; u++) {
        const uint32_t *o = r->offer + u * 4;
        if (r->arm[u] == TROVE_ARM_CONTROL || fx.users[u].model_index == TROVE_CYCLE_NO_INDEX) {
            for (int j = 0; j < 4; j++) {
                assert_int_equal(o[j], pop[j]);
                assert_int_equal(r->source[u * 4 + (size_t)j], TROVE_SOURCE_POPULARITY);
            }
        } else {
            /* The model's top 4 by brute force. */
            float s[N_OFFERS];
            dot_score(NULL, (uint32_t)u, s, NULL);
            for (int j = 0; j < 4; j++) {
                int better = 0;
                for (uint32_t i = 0; i < N_OFFERS; i++)
                    better += s[i] > s[o[j]];
                assert_int_equal(better, j);
                assert_int_equal(r->source[u * 4 + (size_t)j], TROVE_SOURCE_MODEL);
                assert_float_equal(r->score[u * 4 + (size_t)j], s[o[j]], 1e-6);
            }
        }
    }
    trove_cycle_plan_free(r);

    /* Random control: distinct offers, not all users alike, and the same
     * lists for the same cycle key. */
    p.control_policy = TROVE_CONTROL_RANDOM;
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc,
                                      &p, &r, &err), TROVE_OK);
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc,
                                      &p, &r2, &err), TROVE_OK);
    assert_same_plan(r, r2);
    {
        int differ = 0;
        size_t first = SIZE_MAX;
        for (size_t u = 0; u < N_USERS; u++) {
            const uint32_t *o = r->offer + u * 4;
            if (r->arm[u] != TROVE_ARM_CONTROL)
                continue;
            for (int j = 0; j < 4; j++) {
                assert_int_equal(r->source[u * 4 + (size_t)j], TROVE_SOURCE_RANDOM);
                assert_true(o[j] < N_OFFERS);
                for (int k = 0; k < j; k++)
                    assert_int_not_equal(o[j], o[k]);
            }
            if (first == SIZE_MAX)
                first = u;
            else if (memcmp(o, r->offer + first * 4, 4 * sizeof *o) != 0)
                differ = 1;
        }
        assert_true(differ);
    }
    trove_cycle_plan_free(r);
    trove_cycle_plan_free(r2);
}

static void test_plan_new_offer_slots(void **state)
{
    trove_cycle_plan_params p = plan_params();
    trove_scorer sc = the_scorer();
    trove_cycle_plan_result *r = NULL;
    trove_error err;
    int shown[N_OFFERS] = {0};
    (void)state;
    fixture_init(3);   /* offers 9, 10, 11 are new */
    p.new_slots = 2;
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc,
                                      &p, &r, &err), TROVE_OK);
    for (size_t u = 0; u < N_USERS; u++) {
        const uint32_t *o = r->offer + u * 4;
        assert_int_equal(r->n_rows[u], 4);
        for (int j = 0; j < 2; j++)
            assert_true(o[j] < 9);
        for (int j = 2; j < 4; j++) {
            assert_true(o[j] >= 9);
            assert_int_equal(r->source[u * 4 + (size_t)j], TROVE_SOURCE_NEW_OFFER);
            assert_true(isnan(r->score[u * 4 + (size_t)j]));
            shown[o[j]]++;
        }
        assert_int_not_equal(o[2], o[3]);
    }
    /* Round-robin: every new offer gets its share of the slots. */
    for (int i = 9; i < N_OFFERS; i++)
        assert_int_equal(shown[i], N_USERS * 2 / 3);
    trove_cycle_plan_free(r);

    /* More slots than new offers: the rest comes from the main list. */
    fixture_init(1);
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc,
                                      &p, &r, &err), TROVE_OK);
    for (size_t u = 0; u < N_USERS; u++) {
        assert_int_equal(r->n_rows[u], 4);
        assert_int_equal(r->offer[u * 4 + 3], N_OFFERS - 1);
        for (int j = 0; j < 3; j++)
            assert_int_not_equal(r->offer[u * 4 + (size_t)j], N_OFFERS - 1);
    }
    trove_cycle_plan_free(r);
}

static void test_plan_bad_input_and_oom(void **state)
{
    trove_cycle_plan_params p = plan_params();
    trove_scorer sc = the_scorer();
    trove_cycle_plan_result *r = NULL;
    trove_error err;
    (void)state;
    fixture_init(0);
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, 0, &sc, &p, &r, &err),
                     TROVE_EEMPTY);
    p.new_slots = 5;
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc, &p,
                                      &r, &err), TROVE_EINVAL);
    p = plan_params();
    p.test_share = 1.5;
    assert_int_equal(trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc, &p,
                                      &r, &err), TROVE_EINVAL);
    assert_null(r);
    p = plan_params();
    p.threads = 2;
    p.control_policy = TROVE_CONTROL_RANDOM;
    for (long k = 0; k < 40; k++) {
        int st;
        testutil_fail_alloc_after(k);
        st = trove_cycle_plan(fx.users, N_USERS, fx.offers, N_OFFERS, &sc, &p, &r, &err);
        testutil_fail_alloc_after(-1);
        if (st == TROVE_OK) {
            trove_cycle_plan_free(r);
            r = NULL;
            break;
        }
        assert_int_equal(st, TROVE_ENOMEM);
        assert_null(r);
    }
}

/* -------------------------------------------------------------- runner */

static const char *MARKET_YAML =
    "market: {code: XX, name: Testland}\n"
    "window: {last_days: 30}\n"
    "model: {family: hybrid, params: {no_components: 8, loss: warp, epochs: 3}}\n"
    "assignment: {number_of_predictions: 3, new_offer_exposure: 1}\n"
    "experiment: {test_share: 0.6, control_policy: random, salt: xx-salt}\n";

static trove_store *runner_store(const char *name, int64_t *market)
{
    trove_store *s = NULL;
    trove_error err;
    const char *path = testutil_tmp_path(name);
    char ext[32];
    remove(path);
    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &s, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "XX", NULL, NULL, market, NULL, &err), 0);
    for (int u = 0; u < 50; u++) {
        int64_t id;
        snprintf(ext, sizeof ext, "u%02d", u);
        assert_int_equal(trove_store_user_upsert(s, ext, *market, &id, NULL, &err), 0);
    }
    for (int i = 0; i < 8; i++) {
        int64_t id;
        snprintf(ext, sizeof ext, "o%d", i);
        assert_int_equal(trove_store_item_upsert(s, ext, NULL, &id, NULL, &err), 0);
    }
    return s;
}

typedef struct rows {
    trove_assignment v[400];
    size_t n;
} rows;

static int collect(void *ud, const trove_assignment *a)
{
    rows *r = ud;
    if (r->n < 400)
        r->v[r->n++] = *a;
    return 0;
}

static void read_rows(trove_store *s, int64_t market, const char *key, rows *out)
{
    trove_cycle c;
    trove_error err;
    out->n = 0;
    assert_int_equal(trove_store_cycle_find(s, market, key, &c, &err), 0);
    assert_int_equal(trove_store_assignments_foreach(s, c.id, collect, out, &err), 0);
}

static void test_run_duplicate_replace_arms(void **state)
{
    trove_market_config *cfg = NULL;
    trove_cycle_run_params p = trove_cycle_run_default_params();
    trove_cycle_summary sum;
    trove_error err;
    trove_store *s;
    int64_t market;
    rows *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(trove_market_config_parse(MARKET_YAML, strlen(MARKET_YAML), "XX.yaml",
                                               &cfg, &err), 0);
    s = runner_store("run.db", &market);
    p.cycle_key = "c1";
    p.now = T0;
    assert_int_equal(trove_cycle_run(s, cfg, &p, &sum, &err), TROVE_OK);
    assert_int_equal(sum.users, 50);
    assert_int_equal(sum.assignments, 150);
    assert_int_equal(sum.new_offers, 0);       /* the first cycle has none */
    assert_int_equal(sum.model_version, 0);    /* no model: popularity */
    assert_int_equal(sum.test_users + sum.control_users, 50);
    read_rows(s, market, "c1", a);
    assert_int_equal(a->n, 150);

    /* Duplicate refused, nothing changes. */
    assert_int_equal(trove_cycle_run(s, cfg, &p, &sum, &err), TROVE_EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    read_rows(s, market, "c1", b);
    assert_int_equal(b->n, 150);

    /* Replace: identical assignments. */
    p.replace = 1;
    assert_int_equal(trove_cycle_run(s, cfg, &p, &sum, &err), TROVE_OK);
    assert_int_equal(sum.replaced, 1);
    read_rows(s, market, "c1", b);
    assert_int_equal(b->n, a->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->v[i].user_id, b->v[i].user_id);
        assert_int_equal(a->v[i].item_id, b->v[i].item_id);
        assert_int_equal(a->v[i].rank, b->v[i].rank);
        assert_int_equal(a->v[i].arm, b->v[i].arm);
        assert_int_equal(a->v[i].source, b->v[i].source);
    }

    /* A new offer launched after c1 gets a slot in c2; arms do not move. */
    {
        int64_t id;
        trove_item fl;
        memset(&fl, 0, sizeof fl);
        assert_int_equal(trove_store_item_upsert(s, "fresh", NULL, &id, NULL, &err), 0);
        fl.start_ts = T0 + 3600;
        assert_int_equal(trove_store_item_set_flags(s, id, &fl, TROVE_ITEM_START_TS, &err), 0);
        p.cycle_key = "c2";
        p.now = T0 + 7 * 86400;
        p.replace = 0;
        assert_int_equal(trove_cycle_run(s, cfg, &p, &sum, &err), TROVE_OK);
        assert_int_equal(sum.new_offers, 1);
        assert_int_equal(sum.new_offer_rows, 50);
        read_rows(s, market, "c2", b);
        for (size_t i = 0; i < b->n; i++) {
            if (b->v[i].rank == 2) {
                assert_int_equal(b->v[i].item_id, id);
                assert_int_equal(b->v[i].source, TROVE_SOURCE_NEW_OFFER);
            }
        }
        for (size_t i = 0; i < a->n; i++)
            assert_int_equal(a->v[i].arm, b->v[i].arm);
    }

    /* Unknown market and a market without users are clean errors. */
    {
        trove_market_config *other = NULL;
        const char *y = "market: {code: ZZ}\nwindow: {last_days: 3}\nmodel: {family: hybrid}\n";
        int64_t zz;
        assert_int_equal(trove_market_config_parse(y, strlen(y), "ZZ.yaml", &other, &err), 0);
        p.cycle_key = "c9";
        assert_int_equal(trove_cycle_run(s, other, &p, &sum, &err), TROVE_ENOTFOUND);
        assert_int_equal(trove_store_market_upsert(s, "ZZ", NULL, NULL, &zz, NULL, &err), 0);
        assert_int_equal(trove_cycle_run(s, other, &p, &sum, &err), TROVE_EEMPTY);
        assert_int_equal(trove_store_cycle_find(s, zz, "c9", NULL, NULL) == TROVE_OK, 0);
        trove_market_config_free(other);
    }
    trove_store_close(s);
    trove_market_config_free(cfg);
    free(a);
    free(b);
}

/* Failing the k-th allocation of a run leaves no cycle behind and leaks
 * nothing; once enough allocations succeed the run completes. */
static void test_run_oom(void **state)
{
    trove_market_config *cfg = NULL;
    trove_cycle_run_params p = trove_cycle_run_default_params();
    trove_error err;
    trove_store *s;
    int64_t market;
    int done = 0;
    (void)state;
    assert_int_equal(trove_market_config_parse(MARKET_YAML, strlen(MARKET_YAML), "XX.yaml",
                                               &cfg, &err), 0);
    s = runner_store("oom.db", &market);
    p.cycle_key = "c1";
    p.now = T0;
    p.export_csv = testutil_tmp_path("oom.csv");
    for (long k = 0; k < 400 && !done; k++) {
        trove_cycle c;
        int st;
        testutil_fail_alloc_after(k);
        st = trove_cycle_run(s, cfg, &p, NULL, &err);
        testutil_fail_alloc_after(-1);
        if (st == TROVE_OK) {
            done = 1;
            break;
        }
        assert_true(st < 0);
        assert_int_equal(trove_store_cycle_find(s, market, "c1", &c, NULL), TROVE_ENOTFOUND);
    }
    assert_true(done);
    trove_store_close(s);
    trove_market_config_free(cfg);
}

/* ----------------------------------------------------------- simulator */

#define WORLD_YAML \
    "world: {seed: %d, start_date: 2040-01-02, history_days: 14}\n" \
    "offers:\n" \
    "  categories: [a, b, c]\n" \
    "  initial: 6\n" \
    "  new_per_cycle: 2\n" \
    "markets:\n" \
    "  - {code: XX, users: 40, taste: {a: 1.5, c: -1}}\n" \
    "  - {code: YY, users: 20, taste: {b: 1.5}}\n"

static void sim_once(int seed, const char *name, trove_sim_stats *st, uint64_t *events)
{
    char text[1024];
    trove_world *w = NULL;
    trove_store *s = NULL;
    trove_market_config *cfg = NULL;
    trove_cycle_run_params p = trove_cycle_run_default_params();
    trove_store_stats ss;
    trove_error err;
    int created = 0;
    int64_t now;
    const char *path = testutil_tmp_path(name);

    snprintf(text, sizeof text, WORLD_YAML, seed);
    remove(path);
    assert_int_equal(trove_world_parse(text, strlen(text), "w.yaml", &w, &err), 0);
    assert_int_equal(trove_market_config_parse(MARKET_YAML, strlen(MARKET_YAML), "XX.yaml",
                                               &cfg, &err), 0);
    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &s, &err), 0);
    assert_int_equal(trove_sim_init(s, w, &created, &err), 0);
    assert_int_equal(created, 1);
    assert_int_equal(trove_sim_init(s, w, &created, &err), 0);
    assert_int_equal(created, 0);
    assert_int_equal(trove_sim_clock(s, w, &now, &err), 0);
    assert_int_equal(now, 2209075200LL);   /* 2040-01-02 00:00 UTC */
    p.cycle_key = "c1";
    p.now = now;
    assert_int_equal(trove_cycle_run(s, cfg, &p, NULL, &err), 0);
    assert_int_equal(trove_sim_step(s, w, st, &err), 0);
    assert_int_equal(trove_sim_clock(s, w, &now, &err), 0);
    assert_int_equal(now, p.now + 7 * 86400);
    assert_int_equal(trove_store_stats_get(s, &ss, &err), 0);
    *events = ss.events;
    assert_int_equal(ss.items, 8);
    trove_store_close(s);
    trove_world_free(w);
    trove_market_config_free(cfg);
}

static void test_sim_determinism(void **state)
{
    trove_sim_stats a, b, c;
    uint64_t ea, eb, ec;
    (void)state;
    sim_once(3, "sim-a.db", &a, &ea);
    sim_once(3, "sim-b.db", &b, &eb);
    sim_once(4, "sim-c.db", &c, &ec);
    assert_int_equal(a.period, 0);
    assert_int_equal(a.offers_launched, 2);
    assert_int_equal(a.markets[0].had_cycle, 1);
    assert_int_equal(a.markets[0].users_shown, 40);
    assert_int_equal(a.markets[0].impressions, 120);
    assert_int_equal(a.markets[1].had_cycle, 0);     /* YY ran no cycle */
    assert_int_equal(a.markets[0].redemptions, b.markets[0].redemptions);
    assert_int_equal(ea, eb);
    assert_true(ea != ec || a.markets[0].redemptions != c.markets[0].redemptions);
}

static void test_world_errors(void **state)
{
    static const struct { const char *text, *want; } cases[] = {
        {"offers: {categories: [a, b]}\nmarkets:\n  - {code: X, users: 3, colour: red}\n",
         "w.yaml:3:25: unknown key 'colour'"},
        {"offers: {categories: [a, b]}\nmarkets:\n  - {code: X, users: many}\n",
         "w.yaml:3:22: 'users' must be an integer"},
        {"offers: {categories: [a, b]}\nmarkets:\n  - {code: X, users: 3, taste: {z: 1}}\n",
         "w.yaml:3:33: taste for unknown category 'z'"},
        {"offers: {categories: [a]}\nmarkets: []\n", "w.yaml:1:22: 'categories' needs"},
        {"offers: {categories: [a, b]\n", "w.yaml:2:1:"},
        {"world: {seed: 1}\nmarkets:\n  - {code: X, users: 3}\n", "w.yaml:1:1: missing section 'offers'"},
        {"offers: {categories: [a, b], new_per_cycle: 0}\nmarkets: []\n",
         "w.yaml:1:45: 'new_per_cycle' must be in [1,"},
        {"offers: {categories: [a, b]}\nmarkets:\n  - {code: X, users: 3, segment_feature: shoe}\n",
         "w.yaml:3:42: 'segment_feature' must be none, age_band, city or language"},
        {"offers: {categories: [a, b]}\nmarkets:\n  - {code: X, users: 3, segment_taste_sd: -1}\n",
         "w.yaml:3:43: 'segment_taste_sd' must be in [0, 10]"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trove_world *w = NULL;
        trove_error err;
        trove_error_clear(&err);
        assert_int_equal(trove_world_parse(cases[i].text, strlen(cases[i].text), "w.yaml",
                                           &w, &err), TROVE_EFORMAT);
        assert_null(w);
        if (strstr(err.msg, cases[i].want) == NULL)
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, cases[i].want);
    }
    {
        trove_world *w = NULL;
        trove_error err;
        assert_int_equal(trove_world_load(testutil_tmp_path("none.yaml"), &w, &err), TROVE_ENOTFOUND);
    }
}

static void test_world_oom(void **state)
{
    char text[1024];
    (void)state;
    snprintf(text, sizeof text, WORLD_YAML, 1);
    for (long k = 0; k < 200; k++) {
        trove_world *w = NULL;
        trove_error err;
        int st;
        testutil_fail_alloc_after(k);
        st = trove_world_parse(text, strlen(text), "w.yaml", &w, &err);
        testutil_fail_alloc_after(-1);
        if (st == TROVE_OK) {
            assert_int_equal(w->n_markets, 2);
            trove_world_free(w);
            return;
        }
        assert_int_equal(st, TROVE_ENOMEM);
        assert_null(w);
    }
    fail_msg("parse never succeeded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_arms_and_threads),
        cmocka_unit_test(test_plan_model_and_control),
        cmocka_unit_test(test_plan_new_offer_slots),
        cmocka_unit_test(test_plan_bad_input_and_oom),
        cmocka_unit_test(test_run_duplicate_replace_arms),
        cmocka_unit_test(test_run_oom),
        cmocka_unit_test(test_sim_determinism),
        cmocka_unit_test(test_world_errors),
        cmocka_unit_test(test_world_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
