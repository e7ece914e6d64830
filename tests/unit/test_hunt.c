/*
 * test_hunt.c - treasure hunts: template validation (file:line:column
 * errors), deterministic generation (same user/market/day -> same hunt,
 * another day -> another), the constraints on generated catalogs (distinct
 * categories, price band, novelty, flags), rule bundles, progress through
 * events in step order, the reward unlock, the stored form, local days, the
 * store round trip (a repeat returns the stored hunt whatever the
 * candidates say) and out-of-memory paths.
 */
#include "testutil.h"
#include "trove/hunt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ITEMS 200
#define N_CATS 10
#define DAY0 19700           /* 2023-12-09 */
#define NOW0 ((int64_t)DAY0 * 86400 + 3600)

static const char *cat_names[N_CATS] = {
    "burger", "chicken", "coffee", "dessert", "breakfast",
    "salad", "vegan", "drinks", "pizza", "soup"
};
static char ext_ids[N_ITEMS][16];
static trove_hunt_item items[N_ITEMS];
static uint32_t order[N_ITEMS];

/* N_ITEMS items, category i % N_CATS, price 1 + i % 20, all available. */
static trove_hunt_catalog make_catalog(size_t n_cats)
{
    for (uint32_t i = 0; i < N_ITEMS; i++) {
        snprintf(ext_ids[i], sizeof ext_ids[i], "o%u", i);
        items[i] = (trove_hunt_item){ ext_ids[i], (uint32_t)(i % n_cats),
                                      1.0 + (double)(i % 20), 1, 0, 0, 0 };
        order[i] = (i * 7919u) % N_ITEMS;   /* a fixed "model" ranking */
    }
    return (trove_hunt_catalog){ items, N_ITEMS, cat_names, n_cats, NULL, NULL };
}

static trove_hunt_request make_request(const char *user, int32_t day)
{
    trove_hunt_request r;
    memset(&r, 0, sizeof r);
    r.user = user;
    r.market = "DE";
    r.day = day;
    r.now = (int64_t)day * 86400 + 3600;
    r.expires_ts = (int64_t)(day + 1) * 86400;
    r.candidates = order;
    r.n_candidates = N_ITEMS;
    r.source = TROVE_HUNT_FROM_MODEL;
    return r;
}

static trove_hunt_template *parse(const char *text)
{
    trove_error err;
    trove_hunt_template *t = NULL;
    int rc = trove_hunt_template_parse(text, strlen(text), NULL, &t, &err);
    if (rc != TROVE_OK)
        fail_msg("template: %s", err.msg);
    return t;
}

static int64_t index_of(const char *ext)
{
    for (int i = 0; i < N_ITEMS; i++)
        if (strcmp(ext_ids[i], ext) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------ templates */
static void test_template_default(void **state)
{
    trove_error err;
    trove_hunt_template *t = NULL;
    (void)state;
    assert_int_equal(trove_hunt_template_default(&t, &err), TROVE_OK);
    assert_string_equal(t->name, "default");
    assert_int_equal(t->n_steps, 4);
    assert_int_equal(t->steps[2].kind, TROVE_HUNT_BUNDLE);
    assert_int_equal(t->steps[3].kind, TROVE_HUNT_REDEEM);
    assert_string_equal(t->category_field, "category");
    assert_true(t->distinct_categories);
    assert_null(t->price_field);
    assert_int_equal(t->n_rewards, 2);
    assert_int_equal(t->validity_days, 1);
    trove_hunt_template_free(t);
    trove_hunt_template_free(NULL);

    /* a count of steps: discover..., bundle, redeem */
    t = parse("steps: 5\nrewards: [{id: r}]\n");
    assert_int_equal(t->n_steps, 5);
    assert_int_equal(t->steps[0].kind, TROVE_HUNT_DISCOVER);
    assert_int_equal(t->steps[2].kind, TROVE_HUNT_DISCOVER);
    assert_int_equal(t->steps[3].kind, TROVE_HUNT_BUNDLE);
    assert_int_equal(t->steps[4].kind, TROVE_HUNT_REDEEM);
    assert_true(t->rewards[0].weight == 1);
    trove_hunt_template_free(t);

    /* hunts/default.yaml is the built-in template; the example parses */
    FILE *f = fopen(testutil_fixture("../../hunts/default.yaml"), "rb");
    char buf[4096];
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, trove_hunt_default_template_text());
    assert_int_equal(trove_hunt_template_load(
                         testutil_fixture("../../hunts/example.yaml"), &t, &err),
                     TROVE_OK);
    assert_string_equal(t->name, "spring-tour");
    assert_string_equal(t->steps[0].category, "coffee");
    assert_string_equal(t->price_field, "price");
    assert_int_equal(t->validity_days, 2);
    trove_hunt_template_free(t);
}

static void expect_error(const char *text, const char *where, const char *what)
{
    trove_error err;
    trove_hunt_template *t = NULL;
    int rc = trove_hunt_template_parse(text, strlen(text), "h.yaml", &t, &err);
    if (rc != TROVE_EFORMAT || strstr(err.msg, where) == NULL ||
        strstr(err.msg, what) == NULL)
        fail_msg("expected EFORMAT '%s' '%s', got %d '%s'", where, what, rc, err.msg);
    assert_null(t);
}

static void test_template_errors(void **state)
{
    (void)state;
    expect_error("steps: 2\nrewards: [{id: r}]\ncolour: red\n", "h.yaml:3:1:",
                 "unknown key 'colour'");
    expect_error("steps:\n  - kind: discover\n  - kind: dig\nrewards: [{id: r}]\n",
                 "h.yaml:3:11:", "unknown step kind 'dig'");
    expect_error("steps: 9\nrewards: [{id: r}]\n", "h.yaml:1:8:", "must be in [1, 8]");
    expect_error("steps: 2\nrewards:\n  - {id: r, from: 2024-02-30}\n",
                 "h.yaml:3:19:", "YYYY-MM-DD");
    expect_error("steps: 2\nrewards:\n  - {id: r}\n  - {id: r}\n", "h.yaml:4:5:",
                 "duplicate reward id 'r'");
    expect_error("steps: 2\n", "h.yaml:1:1:", "no 'rewards'");
    expect_error("steps: 2\nrewards: [{id: r}]\ncandidates: 3\npool: 4\n",
                 "h.yaml:1:1:", "'pool' (4) is larger");
    expect_error("steps: 2\nrewards: [{id: r}]\nconstraints:\n  price: {min: 3}\n",
                 "h.yaml:4:10:", "needs a 'field'");
    expect_error("steps: 2\nrewards: [{id: r}]\nconstraints:\n"
                 "  price: {field: price, min: 9, max: 3}\n", "h.yaml:4:10:",
                 "above max");
    expect_error("steps: 2\nrewards: [{id: r}]\nconstraints:\n"
                 "  novelty: {min_share: 1.5}\n", "h.yaml:4:24:", "[0, 1]");
    expect_error("steps:\n  - {kind: discover, offer: o1}\nrewards: [{id: r}]\n",
                 "h.yaml:2:5:", "'offer' is for redeem steps");
    expect_error("steps: 2\nrewards: [{id: r}]\nsteps: 3\n", "h.yaml:3:1:",
                 "duplicate key 'steps'");
    expect_error("steps: [\n", "h.yaml:", "");

    trove_error err;
    trove_hunt_template *t = NULL;
    assert_int_equal(trove_hunt_template_load(testutil_tmp_path("none.yaml"), &t,
                                              &err), TROVE_ENOTFOUND);
    const char *path = testutil_tmp_path("DE.yaml");
    assert_int_equal(testutil_write_file(path, "name: de\nsteps: 2\n"
                                         "rewards: [{id: r}]\n"), 0);
    assert_int_equal(trove_hunt_template_load(path, &t, &err), TROVE_OK);
    assert_string_equal(t->name, "de");
    trove_hunt_template_free(t);
}

/* ----------------------------------------------------------- generation */
static void test_deterministic(void **state)
{
    trove_error err;
    trove_hunt_template *t = NULL;
    trove_hunt a, b, c;
    (void)state;
    assert_int_equal(trove_hunt_template_default(&t, &err), TROVE_OK);
    trove_hunt_catalog cat = make_catalog(N_CATS);
    trove_hunt_request r = make_request("u1", DAY0);
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &a, &err), TROVE_OK);
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &b, &err), TROVE_OK);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(a.n_steps, 4);
    assert_int_equal(a.reward_state, TROVE_HUNT_REWARD_LOCKED);
    assert_int_equal(a.created_ts, r.now);
    assert_int_equal(a.expires_ts, r.expires_ts);
    char id[17];
    trove_hunt_id("u1", "DE", DAY0, id);
    assert_string_equal(a.id, id);

    /* another day, another hunt (and another id) */
    r = make_request("u1", DAY0 + 1);
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &c, &err), TROVE_OK);
    assert_string_not_equal(a.id, c.id);
    int differ = 0;
    for (size_t k = 0; k < a.n_steps; k++)
        differ |= strcmp(a.steps[k].item, c.steps[k].item) != 0;
    assert_true(differ);

    /* another user the same day */
    r = make_request("u2", DAY0);
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &c, &err), TROVE_OK);
    assert_string_not_equal(a.id, c.id);

    /* bad input */
    r = make_request("", DAY0);
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &c, &err), TROVE_EINVAL);
    r = make_request("u1", DAY0);
    r.expires_ts = r.now;
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &c, &err), TROVE_EINVAL);
    uint32_t bad = N_ITEMS;
    r = make_request("u1", DAY0);
    r.candidates = &bad;
    r.n_candidates = 1;
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &c, &err), TROVE_EINVAL);
    assert_int_equal(trove_hunt_generate(NULL, &cat, &r, &c, &err), TROVE_EINVAL);
    trove_hunt_template_free(t);
}

/* Every item of h (anchor and partner) as catalog indices. */
static size_t hunt_items(const trove_hunt *h, int64_t *out)
{
    size_t n = 0;
    for (size_t k = 0; k < h->n_steps; k++) {
        out[n++] = index_of(h->steps[k].item);
        if (h->steps[k].kind == TROVE_HUNT_BUNDLE)
            out[n++] = index_of(h->steps[k].partner);
    }
    return n;
}

static void test_constraints(void **state)
{
    trove_error err;
    trove_hunt h;
    uint32_t history[N_ITEMS / 2];
    (void)state;
    /* the history: every even item */
    for (uint32_t i = 0; i < N_ITEMS / 2; i++)
        history[i] = 2 * i;
    trove_hunt_template *t = parse(
        "steps:\n  - kind: discover\n  - kind: discover\n  - kind: bundle\n"
        "  - kind: redeem\nconstraints:\n  price: {field: price, min: 4, max: 12}\n"
        "  novelty: {min_share: 1}\nrewards: [{id: r}]\n");
    trove_hunt_catalog cat = make_catalog(N_CATS);
    items[order[0]].active = 0;                 /* the best candidate is off */
    items[order[1]].blocked = 1;
    items[order[2]].end_ts = NOW0 - 10;          /* ended */
    for (int u = 0; u < 60; u++) {
        char user[16];
        int64_t idx[16];
        snprintf(user, sizeof user, "user%d", u);
        trove_hunt_request r = make_request(user, DAY0 + u % 3);
        r.history = history;
        r.n_history = N_ITEMS / 2;
        assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
        size_t n = hunt_items(&h, idx);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++) {
            assert_true(idx[i] >= 0);
            const trove_hunt_item *it = &items[idx[i]];
            assert_true(it->active && !it->blocked && it->end_ts == 0);
            assert_true(it->price >= 4 && it->price <= 12);
            assert_int_equal(idx[i] % 2, 1);   /* novel: not in the history */
            for (size_t j = 0; j < i; j++)
                assert_int_not_equal(it->category, items[idx[j]].category);
        }
        /* the step shows the category of its item */
        assert_string_equal(h.steps[0].category, cat_names[items[idx[0]].category]);
        assert_int_equal(h.steps[2].pair_source, TROVE_HUNT_PAIR_COMPLEMENT);
    }
    trove_hunt_template_free(t);

    /* novelty 0.5 of 5 items: at most 2 from the history */
    t = parse("steps: 4\nconstraints:\n  novelty: {min_share: 0.5}\n"
              "rewards: [{id: r}]\n");
    cat = make_catalog(N_CATS);
    for (int u = 0; u < 40; u++) {
        char user[16];
        int64_t idx[16];
        snprintf(user, sizeof user, "v%d", u);
        trove_hunt_request r = make_request(user, DAY0);
        r.history = history;
        r.n_history = N_ITEMS / 2;
        assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
        size_t n = hunt_items(&h, idx), seen = 0;
        for (size_t i = 0; i < n; i++)
            seen += idx[i] % 2 == 0;
        assert_true(seen <= 2);
    }
    trove_hunt_template_free(t);

    /* too few categories for 5 distinct ones: a clear error */
    t = parse("steps: 4\nrewards: [{id: r}]\n");
    cat = make_catalog(3);
    trove_hunt_request r = make_request("u1", DAY0);
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_EEMPTY);
    assert_non_null(strstr(err.msg, "no "));
    /* without the diversity constraint it fits */
    trove_hunt_template_free(t);
    t = parse("steps: 4\nconstraints: {distinct_categories: false}\n"
              "rewards: [{id: r}]\n");
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
    trove_hunt_template_free(t);

    /* a redeem step naming its offer, and a discover step fixing a category */
    t = parse("steps:\n  - {kind: discover, category: soup}\n"
              "  - {kind: redeem, offer: o5}\nrewards: [{id: r}]\n");
    cat = make_catalog(N_CATS);
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
    assert_string_equal(h.steps[0].category, "soup");
    assert_string_equal(h.steps[1].item, "o5");
    items[5].active = 0;   /* unavailable: the step chooses another offer */
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
    assert_string_not_equal(h.steps[1].item, "o5");
    trove_hunt_template_free(t);
}

/* A bundle rule pairs burgers with drinks: the bundle step takes the pair. */
static void test_rule_bundle(void **state)
{
    trove_error err;
    trove_rule_set *rs = NULL;
    trove_rules *rules = NULL;
    trove_hunt h;
    (void)state;
    const char *text = "rules:\n  - name: burger-drink\n    kind: bundle\n"
                       "    when: [category=burger]\n    with: [category=drinks]\n";
    assert_int_equal(trove_rule_set_parse(text, strlen(text), NULL, &rs, &err),
                     TROVE_OK);
    trove_hunt_catalog cat = make_catalog(N_CATS);
    static char feat[N_ITEMS][32];
    static const char *fp[N_ITEMS];
    trove_rules_item ri[N_ITEMS];
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(feat[i], sizeof feat[i], "category=%s", cat_names[i % N_CATS]);
        fp[i] = feat[i];
        ri[i] = (trove_rules_item){ .ext_id = ext_ids[i], .features = &fp[i],
                                    .n_features = 1, .active = 1 };
    }
    trove_rules_catalog rc = { .items = ri, .n_items = N_ITEMS };
    assert_int_equal(trove_rules_compile(rs, &rc, &rules, &err), TROVE_OK);
    void *scratch = malloc(trove_rules_scratch_size(rules) + 8);
    assert_non_null(scratch);
    trove_hunt_template *t = parse("steps: [{kind: bundle}]\ncandidates: 50\n"
                                   "pool: 1\nrewards: [{id: r}]\n");
    /* candidates: burgers, then chicken, then drinks: a complement would
     * take a chicken, the rule takes a drink */
    uint32_t cand[20];
    for (uint32_t i = 0; i < 20; i++)
        cand[i] = i * N_CATS + (i < 5 ? 0 : i < 10 ? 1 : 7);
    trove_hunt_request r = make_request("u1", DAY0);
    r.candidates = cand;
    r.n_candidates = 20;
    r.rules = rules;
    r.rules_scratch = scratch;
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
    assert_string_equal(h.steps[0].category, "burger");
    assert_string_equal(h.steps[0].partner_category, "drinks");
    assert_int_equal(h.steps[0].pair_source, TROVE_HUNT_PAIR_RULE);
    /* candidates without scores (catalog order) still rank through rules */
    float nan_scores[20];
    for (int i = 0; i < 20; i++)
        nan_scores[i] = NAN;
    r.scores = nan_scores;
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
    assert_int_equal(h.steps[0].pair_source, TROVE_HUNT_PAIR_RULE);
    r.scores = NULL;

    /* co-purchase lists when no rule pairs it */
    uint32_t off[N_ITEMS + 1], co[1] = { 3 };
    for (int i = 0; i <= N_ITEMS; i++)
        off[i] = i > (int)cand[0] ? 1 : 0;
    cat.copurchase_offsets = off;
    cat.copurchase_items = co;
    r.rules = NULL;
    assert_int_equal(trove_hunt_generate(t, &cat, &r, &h, &err), TROVE_OK);
    assert_string_equal(h.steps[0].item, ext_ids[cand[0]]);
    assert_string_equal(h.steps[0].partner, "o3");
    assert_int_equal(h.steps[0].pair_source, TROVE_HUNT_PAIR_COPURCHASE);
    free(scratch);
    trove_rules_free(rules);
    trove_rule_set_free(rs);
    trove_hunt_template_free(t);
}

/* ------------------------------------------------------------- progress */
static trove_hunt fixed_hunt(void)
{
    trove_hunt h;
    memset(&h, 0, sizeof h);
    trove_hunt_id("u1", "DE", DAY0, h.id);
    strcpy(h.user, "u1");
    strcpy(h.market, "DE");
    strcpy(h.template_name, "t");
    h.day = DAY0;
    h.created_ts = NOW0;
    h.expires_ts = (int64_t)(DAY0 + 1) * 86400;
    h.source = TROVE_HUNT_FROM_MODEL;
    h.n_steps = 3;
    h.steps[0] = (trove_hunt_step){ .kind = TROVE_HUNT_DISCOVER, .item = "o1",
                                    .category = "coffee", .score = 0.5f };
    h.steps[1] = (trove_hunt_step){ .kind = TROVE_HUNT_BUNDLE, .item = "o2",
                                    .category = "burger", .partner = "o3",
                                    .partner_category = "drinks",
                                    .pair_source = TROVE_HUNT_PAIR_COMPLEMENT,
                                    .score = NAN };
    h.steps[2] = (trove_hunt_step){ .kind = TROVE_HUNT_REDEEM, .item = "o4",
                                    .category = "dessert", .score = 1.25f };
    return h;
}

static void test_progress(void **state)
{
    trove_hunt_clock *clock = NULL;
    trove_error err;
    int changed;
    (void)state;
    assert_int_equal(trove_hunt_clock_new("UTC", &clock, &err), TROVE_OK);
    trove_hunt_template *t = parse("steps: 3\nrewards:\n"
                                   "  - {id: a, title: A, weight: 1}\n"
                                   "  - {id: b, weight: 2, to: 2000-01-01}\n");
    trove_hunt h = fixed_hunt();
    const int64_t T = NOW0;
    trove_hunt_event ev[] = {
        { TROVE_EVENT_PURCHASE,   T - 50, "o2", "burger" },  /* before the hunt */
        { TROVE_EVENT_IMPRESSION, T + 1,  "o7", "coffee" },  /* not a discovery */
        { TROVE_EVENT_PURCHASE,   T + 2,  "o3", "drinks" },  /* too early: step 1 open */
        { TROVE_EVENT_CLICK,      T + 3,  "o9", "coffee" },  /* step 1: any coffee */
        { TROVE_EVENT_PURCHASE,   T + 4,  "o2", "burger" },
        { TROVE_EVENT_REDEMPTION, T + 5,  "o4", "dessert" }, /* too early: step 2 open */
    };
    assert_int_equal(trove_hunt_advance(&h, t, clock, ev, 6, &changed), TROVE_OK);
    assert_true(changed);
    assert_int_equal(h.n_done, 1);
    assert_int_equal(h.steps[0].done_ts, T + 3);
    assert_int_equal(h.reward_state, TROVE_HUNT_REWARD_LOCKED);
    assert_int_equal(trove_hunt_advance(&h, t, clock, ev, 6, &changed), TROVE_OK);
    assert_false(changed);

    trove_hunt_event more[] = {
        { TROVE_EVENT_CLICK,      T + 3,  "o9", "coffee" },
        { TROVE_EVENT_PURCHASE,   T + 4,  "o2", "burger" },
        { TROVE_EVENT_PURCHASE,   T + 6,  "o3", "drinks" },
        { TROVE_EVENT_CLICK,      T + 7,  "o4", "dessert" },  /* not a redemption */
        { TROVE_EVENT_REDEMPTION, T + 8,  "o4", "dessert" },
    };
    trove_hunt h2 = h;
    assert_int_equal(trove_hunt_advance(&h, t, clock, more, 5, &changed), TROVE_OK);
    assert_int_equal(h.n_done, 3);
    assert_int_equal(h.steps[1].done_ts, T + 6);
    assert_int_equal(h.steps[2].done_ts, T + 8);
    /* reward b ended in 2000: only a is valid */
    assert_int_equal(h.reward_state, TROVE_HUNT_REWARD_UNLOCKED);
    assert_string_equal(h.reward_id, "a");
    assert_string_equal(h.reward_title, "A");
    assert_int_equal(h.reward_ts, T + 8);
    /* the same events unlock the same reward */
    assert_int_equal(trove_hunt_advance(&h2, t, clock, more, 5, &changed), TROVE_OK);
    assert_memory_equal(&h, &h2, sizeof h);
    trove_hunt_template_free(t);

    /* no reward valid on the day */
    t = parse("steps: 3\nrewards: [{id: old, to: 2001-01-01}]\n");
    h = fixed_hunt();
    assert_int_equal(trove_hunt_advance(&h, t, clock, more, 5, &changed), TROVE_OK);
    assert_int_equal(h.reward_state, TROVE_HUNT_REWARD_UNAVAILABLE);
    assert_string_equal(h.reward_id, "");

    /* events after expiry do not count */
    h = fixed_hunt();
    trove_hunt_event late[] = { { TROVE_EVENT_CLICK, h.expires_ts, "o1", "coffee" } };
    assert_int_equal(trove_hunt_advance(&h, t, clock, late, 1, &changed), TROVE_OK);
    assert_int_equal(h.n_done, 0);
    assert_int_equal(trove_hunt_advance(NULL, t, clock, late, 1, &changed),
                     TROVE_EINVAL);
    trove_hunt_template_free(t);
    trove_hunt_clock_free(clock);
}

/* ---------------------------------------------------- codec and clock */
static void test_codec(void **state)
{
    trove_error err;
    trove_hunt h = fixed_hunt(), back;
    char *text = NULL;
    size_t len;
    (void)state;
    strcpy(h.user, "a user %with\tspaces");
    strcpy(h.steps[0].item, "-");
    h.n_done = 1;
    h.steps[0].done_ts = NOW0 + 3;
    assert_int_equal(trove_hunt_encode(&h, &text, &len), TROVE_OK);
    assert_int_equal(strlen(text), len);
    assert_int_equal(trove_hunt_decode(text, &back, &err), TROVE_OK);
    assert_string_equal(back.user, h.user);
    assert_string_equal(back.steps[0].item, "-");
    assert_string_equal(back.steps[1].partner, "o3");
    assert_true(isnan(back.steps[1].score));
    assert_true(back.steps[2].score == 1.25f);
    assert_int_equal(back.n_done, 1);
    assert_int_equal(back.steps[0].done_ts, NOW0 + 3);
    /* NaN scores compare unequal: compare the re-encoded text */
    char *again = NULL;
    assert_int_equal(trove_hunt_encode(&back, &again, NULL), TROVE_OK);
    assert_string_equal(text, again);
    trove_free(again);

    /* damaged records are refused with the line */
    text[0] = 'x';
    assert_int_equal(trove_hunt_decode(text, &back, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "hunt record:1:"));
    text[0] = 't';
    char *steps = strstr(text, "steps 3");
    steps[6] = '9';
    assert_int_equal(trove_hunt_decode(text, &back, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "hunt record:10:"));
    steps[6] = '3';
    text[len - 3] = '\0';   /* truncated */
    assert_int_equal(trove_hunt_decode(text, &back, &err), TROVE_EFORMAT);
    assert_int_equal(trove_hunt_decode("trove-hunt 2\n", &back, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "version 2"));
    trove_free(text);
}

static void test_clock(void **state)
{
    trove_error err;
    trove_hunt_clock *c = NULL;
    int32_t d;
    char buf[11];
    (void)state;
    assert_int_equal(trove_hunt_day_parse("2024-03-31", &d), TROVE_OK);
    trove_hunt_day_format(d, buf);
    assert_string_equal(buf, "2024-03-31");
    assert_int_equal(trove_hunt_day_parse("2024-02-30", &d), TROVE_EINVAL);
    assert_int_equal(trove_hunt_day_parse("2024-3-31", &d), TROVE_EINVAL);
    trove_hunt_day_format(0, buf);
    assert_string_equal(buf, "1970-01-01");

    assert_int_equal(trove_hunt_clock_new("Europe/Berlin", &c, &err), TROVE_OK);
    assert_int_equal(trove_hunt_day_parse("2024-03-31", &d), TROVE_OK);
    /* 2024-03-30 23:30 UTC is already the 31st in Berlin (UTC+1) */
    int64_t t = (int64_t)d * 86400 - 1800;
    assert_int_equal(trove_hunt_clock_day(c, t), d);
    /* midnight in Berlin on the 31st: 23:00 UTC the day before; the 1st of
     * April starts at 22:00 UTC (summer time began that night) */
    assert_int_equal(trove_hunt_clock_midnight(c, d), (int64_t)d * 86400 - 3600);
    assert_int_equal(trove_hunt_clock_midnight(c, d + 1),
                     (int64_t)(d + 1) * 86400 - 7200);
    trove_hunt_clock_free(c);
    assert_int_equal(trove_hunt_clock_new("Mars/Olympus", &c, &err),
                     TROVE_ENOTFOUND);
    trove_hunt_clock_free(NULL);
}

/* ---------------------------------------------------------------- store */
static trove_store *make_store(const char *name, int64_t *market)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t id, fid, pid;
    char ext[32];
    assert_int_equal(trove_store_open(testutil_tmp_path(name), TROVE_STORE_CREATE,
                                      &st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", NULL, "Europe/Berlin",
                                               market, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, "price",
                                                TROVE_FEATURE_NUMERIC, &pid, &err),
                     TROVE_OK);
    for (int i = 0; i < 40; i++) {
        snprintf(ext, sizeof ext, "o%d", i);
        assert_int_equal(trove_store_item_upsert(st, ext, NULL, &id, NULL, &err),
                         TROVE_OK);
        snprintf(ext, sizeof ext, "category=%s", cat_names[i % N_CATS]);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, ext,
                                                    TROVE_FEATURE_CATEGORICAL,
                                                    &fid, &err), TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, id, fid, 1, &err),
                         TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, id, pid, 2.5 + i, &err),
                         TROVE_OK);
    }
    assert_int_equal(trove_store_user_upsert(st, "u1", *market, &id, NULL, &err),
                     TROVE_OK);
    return st;
}

static void add_event(trove_store *st, int64_t market, const char *item, int type,
                      int64_t ts)
{
    trove_error err;
    int64_t uid, iid;
    assert_int_equal(trove_store_user_find(st, "u1", &uid, &err), TROVE_OK);
    assert_int_equal(trove_store_item_find(st, item, &iid, &err), TROVE_OK);
    trove_event ev = { .id = trove_hash64(item, strlen(item), (uint64_t)ts * 8 +
                                          (uint64_t)type),
                       .user_id = uid, .item_id = iid, .type = type, .value = 1,
                       .ts = ts, .market_id = market };
    assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
}

static int count_events(void *ud, const trove_event *ev)
{
    (void)ev;
    (*(size_t *)ud)++;
    return 0;
}

static void test_store_round_trip(void **state)
{
    trove_error err;
    int64_t market;
    trove_hunt_store_catalog *c = NULL;
    trove_hunt_clock *clock = NULL;
    trove_hunt a, b;
    int created = 0;
    (void)state;
    trove_store *st = make_store("hunts.db", &market);
    assert_int_equal(trove_hunt_store_catalog_load(st, "category", "price", &c, &err),
                     TROVE_OK);
    const trove_hunt_catalog *cat = trove_hunt_store_catalog_view(c);
    assert_int_equal(cat->n_items, 40);
    assert_int_equal(cat->n_categories, N_CATS);
    assert_string_equal(cat->categories[cat->items[3].category], "dessert");
    assert_true(cat->items[3].price == 5.5);
    assert_int_equal(trove_hunt_store_catalog_index(c,
                     trove_hunt_store_catalog_item_id(c, 7)), 7);
    assert_int_equal(trove_hunt_store_catalog_index(c, 999), -1);
    assert_int_equal(trove_hunt_clock_new("Europe/Berlin", &clock, &err), TROVE_OK);

    /* history: o0 redeemed before the hunt */
    int64_t now = NOW0;
    int32_t day = trove_hunt_clock_day(clock, now);
    add_event(st, market, "o0", TROVE_EVENT_REDEMPTION, now - 86400);
    uint32_t *hist = NULL;
    size_t nh = 0;
    assert_int_equal(trove_hunt_store_history(st, c, "u1", now - 7 * 86400, now,
                                              &hist, &nh, &err), TROVE_OK);
    assert_int_equal(nh, 1);
    assert_int_equal(hist[0], 0);
    trove_free(hist);
    assert_int_equal(trove_hunt_store_history(st, c, "nobody", 0, now, &hist, &nh,
                                              &err), TROVE_OK);
    assert_int_equal(nh, 0);
    /* the per-user event walk: window, type and market filters */
    add_event(st, market, "o1", TROVE_EVENT_IMPRESSION, now - 10);
    int64_t uid;
    assert_int_equal(trove_store_user_find(st, "u1", &uid, &err), TROVE_OK);
    size_t seen = 0;
    trove_event_filter f = { 0, now - 86400, now, 0 };
    assert_int_equal(trove_store_user_events_foreach(st, uid, &f, count_events, &seen,
                                                     &err), TROVE_OK);
    assert_int_equal(seen, 2);
    seen = 0;
    f.type_mask = TROVE_EVENT_MASK(TROVE_EVENT_IMPRESSION);
    assert_int_equal(trove_store_user_events_foreach(st, uid, &f, count_events, &seen,
                                                     &err), TROVE_OK);
    assert_int_equal(seen, 1);
    seen = 0;
    f.market_id = market + 1;
    assert_int_equal(trove_store_user_events_foreach(st, uid, &f, count_events, &seen,
                                                     &err), TROVE_OK);
    assert_int_equal(seen, 0);
    seen = 0;
    assert_int_equal(trove_store_user_events_foreach(st, uid, NULL, count_events, &seen,
                                                     &err), TROVE_OK);
    assert_int_equal(seen, 2);
    assert_int_equal(trove_store_user_events_foreach(st, 0, NULL, count_events, &seen,
                                                     &err), TROVE_EINVAL);

    trove_hunt_template *t = parse("steps: 3\nconstraints:\n"
                                   "  novelty: {min_share: 1}\n"
                                   "rewards: [{id: r1, title: Prize}]\n");
    uint32_t cand[40], other[40];
    for (uint32_t i = 0; i < 40; i++) {
        cand[i] = i;
        other[i] = 39 - i;
    }
    trove_hunt_request r;
    memset(&r, 0, sizeof r);
    r.user = "u1";
    r.market = "DE";
    r.day = day;
    r.now = now;
    r.expires_ts = trove_hunt_clock_midnight(clock, day + 1);
    r.candidates = cand;
    r.n_candidates = 40;
    r.source = TROVE_HUNT_FROM_POPULAR;
    assert_int_equal(trove_hunt_store_obtain(st, market, t, clock, c, &r, &a,
                                             &created, &err), TROVE_OK);
    assert_true(created);
    for (size_t k = 0; k < a.n_steps; k++)
        assert_string_not_equal(a.steps[k].item, "o0");   /* novelty */

    /* a repeat with other candidates returns the stored hunt */
    r.candidates = other;
    r.now = now + 60;
    assert_int_equal(trove_hunt_store_obtain(st, market, t, clock, c, &r, &b,
                                             &created, &err), TROVE_OK);
    assert_false(created);
    assert_string_equal(a.id, b.id);
    assert_int_equal(a.created_ts, b.created_ts);
    for (size_t k = 0; k < a.n_steps; k++)
        assert_string_equal(a.steps[k].item, b.steps[k].item);

    /* events in the store advance it, and the progress is stored */
    add_event(st, market, a.steps[0].item, TROVE_EVENT_CLICK, now + 100);
    add_event(st, market, a.steps[1].item, TROVE_EVENT_PURCHASE, now + 200);
    add_event(st, market, a.steps[1].partner, TROVE_EVENT_PURCHASE, now + 300);
    assert_int_equal(trove_hunt_store_find(st, a.id, &b, &err), TROVE_OK);
    assert_int_equal(trove_hunt_store_refresh(st, t, clock, c, now + 400, &b, &err),
                     TROVE_OK);
    assert_int_equal(b.n_done, 2);
    assert_int_equal(b.reward_state, TROVE_HUNT_REWARD_LOCKED);
    assert_int_equal(trove_hunt_store_find(st, a.id, &b, &err), TROVE_OK);
    assert_int_equal(b.n_done, 2);
    add_event(st, market, a.steps[2].item, TROVE_EVENT_REDEMPTION, now + 500);
    r.now = now + 600;
    assert_int_equal(trove_hunt_store_obtain(st, market, t, clock, c, &r, &b,
                                             &created, &err), TROVE_OK);
    assert_int_equal(b.n_done, 3);
    assert_int_equal(b.reward_state, TROVE_HUNT_REWARD_UNLOCKED);
    assert_string_equal(b.reward_id, "r1");
    trove_stored_hunt row;
    assert_int_equal(trove_store_hunt_find(st, a.id, &row, &err), TROVE_OK);
    assert_int_equal(row.steps_done, 3);
    assert_string_equal(row.reward, "r1");
    assert_string_equal(row.user, "u1");
    assert_int_equal(row.market_id, market);

    /* a two-day hunt is still the user's hunt the next day, not the day after */
    trove_hunt_template *t2 = parse("steps: 2\nvalidity_days: 2\n"
                                    "rewards: [{id: r2}]\n");
    trove_hunt d1, d2, d3;
    r.user = "u2";
    r.candidates = cand;
    r.day = day + 10;
    r.now = trove_hunt_clock_midnight(clock, r.day) + 3600;
    r.expires_ts = trove_hunt_clock_midnight(clock, r.day + 2);
    assert_int_equal(trove_hunt_store_obtain(st, market, t2, clock, c, &r, &d1,
                                             &created, &err), TROVE_OK);
    assert_true(created);
    r.day++;
    r.now += 86400;
    r.expires_ts = trove_hunt_clock_midnight(clock, r.day + 2);
    assert_int_equal(trove_hunt_store_obtain(st, market, t2, clock, c, &r, &d2,
                                             &created, &err), TROVE_OK);
    assert_false(created);
    assert_string_equal(d1.id, d2.id);
    r.day++;
    r.now += 86400;
    r.expires_ts = trove_hunt_clock_midnight(clock, r.day + 2);
    assert_int_equal(trove_hunt_store_obtain(st, market, t2, clock, c, &r, &d3,
                                             &created, &err), TROVE_OK);
    assert_true(created);
    assert_string_not_equal(d1.id, d3.id);
    trove_hunt_template_free(t2);

    assert_int_equal(trove_hunt_store_find(st, "0000000000000000", &b, &err),
                     TROVE_ENOTFOUND);
    assert_int_equal(trove_store_hunt_update(st, "0000000000000000", 1, "", "x",
                                             &err), TROVE_ENOTFOUND);
    trove_stored_hunt bad = row;
    bad.market_id = 999;
    bad.key = "1111111111111111";
    assert_int_equal(trove_store_hunt_add(st, &bad, NULL, &err), TROVE_ENOTFOUND);
    bad.market_id = market;
    bad.steps_done = bad.steps + 1;
    assert_int_equal(trove_store_hunt_add(st, &bad, NULL, &err), TROVE_EINVAL);
    bad.steps_done = 0;
    bad.expires_ts = bad.created_ts;
    assert_int_equal(trove_store_hunt_add(st, &bad, NULL, &err), TROVE_EINVAL);
    assert_int_equal(trove_store_hunt_find(st, "", &row, &err), TROVE_EINVAL);
    assert_int_equal(trove_store_hunt_update(st, a.id, 1, NULL, "x", &err),
                     TROVE_EINVAL);
    /* a read-only handle reads hunts and refuses to write them */
    trove_store *ro = NULL;
    assert_int_equal(trove_store_open(testutil_tmp_path("hunts.db"),
                                      TROVE_STORE_READONLY, &ro, &err), TROVE_OK);
    assert_int_equal(trove_hunt_store_find(ro, a.id, &b, &err), TROVE_OK);
    assert_int_equal(trove_store_hunt_update(ro, a.id, 0, "", "x", &err),
                     TROVE_EUNSUPPORTED);
    bad.expires_ts = bad.created_ts + 10;
    assert_int_equal(trove_store_hunt_add(ro, &bad, NULL, &err), TROVE_EUNSUPPORTED);
    trove_store_close(ro);

    trove_hunt_template_free(t);
    trove_hunt_clock_free(clock);
    trove_hunt_store_catalog_free(c);
    trove_store_close(st);
}

/* ------------------------------------------------------ out of memory */
static void test_out_of_memory(void **state)
{
    trove_error err;
    int64_t market;
    (void)state;
    int ok = 0;
    for (long k = 0; k < 10000 && !ok; k++) {
        trove_hunt_template *t = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove_hunt_template_default(&t, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            ok = 1;
            trove_hunt_template_free(t);
        } else {
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(t);
        }
    }
    assert_true(ok);

    /* the stored form and the clock */
    trove_hunt h0 = fixed_hunt();
    ok = 0;
    for (long k = 0; k < 100 && !ok; k++) {
        char *text = NULL;
        trove_hunt_clock *ck = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove_hunt_encode(&h0, &text, NULL);
        if (rc == TROVE_OK)
            rc = trove_hunt_clock_new("Europe/Berlin", &ck, &err);
        testutil_fail_alloc_after(-1);
        trove_free(text);
        trove_hunt_clock_free(ck);
        if (rc == TROVE_OK)
            ok = 1;
        else
            assert_int_equal(rc, TROVE_ENOMEM);
    }
    assert_true(ok);

    trove_store *st = make_store("oom.db", &market);
    trove_hunt_template *t = NULL;
    trove_hunt_clock *clock = NULL;
    assert_int_equal(trove_hunt_template_default(&t, &err), TROVE_OK);
    assert_int_equal(trove_hunt_clock_new("UTC", &clock, &err), TROVE_OK);
    uint32_t cand[40];
    for (uint32_t i = 0; i < 40; i++)
        cand[i] = i;
    ok = 0;
    for (long k = 0; k < 100000 && !ok; k++) {
        trove_hunt_store_catalog *c = NULL;
        trove_hunt h;
        testutil_fail_alloc_after(k);
        int rc = trove_hunt_store_catalog_load(st, "category", "price", &c, &err);
        if (rc == TROVE_OK) {
            trove_hunt_request r;
            memset(&r, 0, sizeof r);
            r.user = "u1";
            r.market = "DE";
            r.day = DAY0;
            r.now = NOW0;
            r.expires_ts = NOW0 + 3600;
            r.candidates = cand;
            r.n_candidates = 40;
            rc = trove_hunt_store_obtain(st, market, t, clock, c, &r, &h, NULL, &err);
        }
        testutil_fail_alloc_after(-1);
        trove_hunt_store_catalog_free(c);
        if (rc == TROVE_OK)
            ok = 1;
        else
            assert_true(rc == TROVE_ENOMEM || rc == TROVE_ESTORE);
    }
    assert_true(ok);
    trove_hunt_clock_free(clock);
    trove_hunt_template_free(t);
    trove_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_default),
        cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_constraints),
        cmocka_unit_test(test_rule_bundle),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_store_round_trip),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
