/*
 * test_rules.c - the rules engine: the shipped rule files, bad files with
 * their file:line:column messages, every rule kind on a small catalog, the
 * order of application, the trace, determinism, candidate lists against
 * dense scores, heavy caps against a brute-force greedy reference, time
 * zone window edges (Europe/Berlin local midnight, DST), and out-of-memory
 * at every allocation of load and compile.
 */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DAY 86400
/* 2026-11-23 12:00 UTC */
#define NOW ((int64_t)1795435200)

/* ------------------------------------------------------------ fixtures */

typedef struct fix {
    trove_rules_item items[16];
    const char *feats[16][2];
    float scores[16];
    size_t n;
} fix;

/* 12 items: index, id, category, score. Higher index = lower score. */
static void fix_init(fix *f)
{
    static const char *const cats[12] = {
        "category=burger", "category=burger", "category=burger",
        "category=burger", "category=drinks", "category=drinks",
        "category=coffee", "category=coffee", "category=sides",
        "category=sides", "category=beer", "category=salad"};
    static const char *const ids[12] = {"b0", "b1", "b2", "b3", "d4", "d5",
                                        "c6", "c7", "s8", "s9", "beer10",
                                        "salad11"};
    memset(f, 0, sizeof *f);
    f->n = 12;
    for (size_t i = 0; i < 12; i++) {
        f->feats[i][0] = cats[i];
        f->items[i].ext_id = ids[i];
        f->items[i].features = f->feats[i];
        f->items[i].n_features = 1;
        f->items[i].active = 1;
        f->items[i].created_ts = NOW - 100 * DAY;
        f->scores[i] = 1.0f - 0.05f * (float)i;
    }
}

static trove_rule_set *parse_ok(const char *text)
{
    trove_rule_set *rs = NULL;
    trove_error err;
    trove_error_clear(&err);
    if (trove_rule_set_parse(text, strlen(text), "t.yaml", &rs, &err) != TROVE_OK)
        fail_msg("parse failed: %s", err.msg);
    return rs;
}

static trove_rules *compile_ok(const char *text, const fix *f,
                               const uint32_t *co_off, const uint32_t *co)
{
    trove_rule_set *rs = parse_ok(text);
    trove_rules_catalog cat;
    trove_rules *r = NULL;
    trove_error err;
    memset(&cat, 0, sizeof cat);
    cat.items = f->items;
    cat.n_items = f->n;
    cat.copurchase_offsets = co_off;
    cat.copurchase_items = co;
    if (trove_rules_compile(rs, &cat, &r, &err) != TROVE_OK)
        fail_msg("compile failed: %s", err.msg);
    trove_rule_set_free(rs);
    return r;
}

typedef struct run {
    uint32_t items[16];
    float scores[16];
    uint8_t sources[16];
    trove_rule_hit hits[64];
    trove_rules_result res;
} run;

static void apply_ok(const trove_rules *r, const fix *f,
                     const trove_rules_user *u, int64_t now, size_t n, run *out)
{
    trove_rules_request q;
    void *scratch = malloc(trove_rules_scratch_size(r));
    memset(&q, 0, sizeof q);
    q.user = u;
    q.now = now;
    q.scores = f->scores;
    q.n = n;
    q.explain = 1;
    memset(out, 0, sizeof *out);
    out->res.items = out->items;
    out->res.scores = out->scores;
    out->res.sources = out->sources;
    out->res.hits = out->hits;
    out->res.hits_cap = 64;
    assert_int_equal(trove_rules_apply(r, &q, scratch, &out->res), TROVE_OK);
    free(scratch);
}

/* "b0 b1 d4" */
static const char *list_of(const fix *f, const run *x)
{
    static char buf[256];
    size_t w = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < x->res.n; k++)
        w += (size_t)snprintf(buf + w, sizeof buf - w, "%s%s", k ? " " : "",
                              f->items[x->items[k]].ext_id);
    return buf;
}

/* ---------------------------------------------------------------- files */

static void test_examples(void **state)
{
    const char *names[2] = {"../../rules/DE.yaml", "../../rules/CH.yaml"};
    (void)state;
    for (int k = 0; k < 2; k++) {
        trove_rule_set *rs = NULL;
        trove_error err;
        trove_error_clear(&err);
        if (trove_rule_set_load(testutil_fixture(names[k]), &rs, &err) != TROVE_OK)
            fail_msg("%s", err.msg);
        assert_true(rs->n_rules >= 8);
        assert_non_null(rs->timezone);
        trove_rule_set_free(rs);
    }
    {
        trove_rule_set *rs = NULL;
        trove_error err;
        assert_int_equal(trove_rule_set_load(testutil_fixture("../../rules/DE.yaml"),
                                             &rs, &err), TROVE_OK);
        assert_string_equal(rs->market, "DE");
        assert_int_equal(rs->frequency_window_days, 7);
        assert_int_equal(rs->rules[0].kind, TROVE_RULE_ELIGIBILITY);
        assert_string_equal(rs->rules[0].exclude_segments.v[0], "staff");
        assert_int_equal(rs->rules[6].kind, TROVE_RULE_BOOST);
        assert_true(fabs(rs->rules[6].factor - 1.2) < 1e-12);
        assert_int_equal(rs->rules[8].max, 1);
        trove_rule_set_free(rs);
    }
}

static void test_bad_files(void **state)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"rules:\n  - name: a\n    kind: shuffle\n",
         "t.yaml:3:11: unknown rule kind 'shuffle'"},
        {"rules:\n  - name: a\n    kind: boost\n    items: [category=x]\n"
         "    factr: 2\n", "t.yaml:5:5: unknown key 'factr' in rule 'a'"},
        {"rules:\n  - name: a\n    kind: pin\n    items: [category=x]\n"
         "    factor: 2\n", "t.yaml:5:5: key 'factor' does not apply to a pin rule"},
        {"rules:\n  - name: a\n    kind: boost\n    items: [category=x]\n"
         "    factor: lots\n", "t.yaml:5:13: 'factor' must be a number, not 'lots'"},
        {"rules:\n  - name: a\n    kind: boost\n    items: [burger]\n"
         "    factor: 2\n", "t.yaml:4:13: 'items' entry 'burger' is not a feature"},
        {"rules:\n  - name: a\n    kind: schedule\n    items: [c=x]\n"
         "    start: 2026-02-30\n", "t.yaml:5:12: 'start' '2026-02-30' is not a local date"},
        {"rules:\n  - name: a\n    kind: schedule\n    items: [c=x]\n"
         "    start: 2026-03-01\n    end: 2026-02-01\n",
         "t.yaml:2:5: schedule rule 'a': 'start' is not before 'end'"},
        {"rules:\n  - name: a\n    kind: diversity\n    field: category\n",
         "t.yaml:2:5: diversity rule 'a' needs 'max'"},
        {"rules:\n  - name: a\n    kind: budget_cap\n  - name: a\n    kind: budget_cap\n",
         "t.yaml:4:11: duplicate rule name 'a' (first at line 2)"},
        {"rules:\n  - kind: budget_cap\n", "t.yaml:2:5: rule without 'name'"},
        {"rules:\n  - name: a\n    kind: eligibility\n",
         "t.yaml:2:5: eligibility rule 'a' needs one of"},
        {"rules:\n  - name: a\n    kind: bundle\n    when: [c=x]\n",
         "t.yaml:2:5: bundle rule 'a' needs 'with'"},
        {"rules:\n  - name: a\n    kind: explore\n    slots: 0\n",
         "t.yaml:4:12: 'slots' is 0, must be in [1, 1000]"},
        {"rulez: []\n", "t.yaml:1:1: unknown key 'rulez'"},
        {"rules: {a: 1}\n", "t.yaml:1:8: 'rules' must be a list"},
        {"rules:\n  - name: a\n    kind: [x\n", "t.yaml:"},
        {"timezone: ../etc/passwd\n", "t.yaml:1:11: 'timezone'"},
        {"rules:\n  - name: a\n    kind: budget_cap\n    kind: pin\n",
         "t.yaml:4:5: duplicate key 'kind' (first at line 3)"},
    };
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        trove_rule_set *rs = NULL;
        trove_error err;
        trove_error_clear(&err);
        int rc = trove_rule_set_parse(cases[k].text, strlen(cases[k].text),
                                      "t.yaml", &rs, &err);
        if (rc != TROVE_EFORMAT || strstr(err.msg, cases[k].msg) == NULL)
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", k, rc,
                     err.msg, cases[k].msg);
        assert_null(rs);
    }
    {
        trove_rule_set *rs = NULL;
        trove_error err;
        assert_int_equal(trove_rule_set_load(testutil_tmp_path("missing.yaml"),
                                             &rs, &err), TROVE_ENOTFOUND);
    }
}

/* ----------------------------------------------------------- rule kinds */

static void test_no_rules_is_ranking(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    (void)state;
    fix_init(&f);
    f.items[2].active = 0;
    f.items[3].blocked = 1;
    f.items[4].start_ts = NOW + 10;
    f.items[5].end_ts = NOW;
    r = compile_ok("rules: []\n", &f, NULL, NULL);
    apply_ok(r, &f, NULL, NOW, 5, &x);
    assert_string_equal(list_of(&f, &x), "b0 b1 c6 c7 s8");
    assert_int_equal(x.res.n_eligible, 8);
    assert_int_equal(x.sources[0], TROVE_RULES_SOURCE_MODEL);
    assert_true(x.scores[0] == f.scores[0]);
    /* the window edges: start is inclusive, end exclusive */
    apply_ok(r, &f, NULL, NOW + 10, 5, &x);
    assert_string_equal(list_of(&f, &x), "b0 b1 d4 c6 c7");
    /* more than the catalog holds */
    apply_ok(r, &f, NULL, NOW, 16, &x);
    assert_int_equal(x.res.n, 8);
    /* NaN and -inf scores are never ranked */
    f.scores[0] = NAN;
    f.scores[1] = -INFINITY;
    apply_ok(r, &f, NULL, NOW, 16, &x);
    assert_string_equal(list_of(&f, &x), "c6 c7 s8 s9 beer10 salad11");
    trove_rules_free(r);
}

static void test_eligibility(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    const char *staff[] = {"staff"}, *young[] = {"age_band=16-17"},
               *adult[] = {"age_band=25-34"};
    trove_rules_user u;
    (void)state;
    fix_init(&f);
    r = compile_ok("rules:\n"
                   "  - name: staff\n    kind: eligibility\n    exclude_segments: [staff]\n"
                   "  - name: beer\n    kind: eligibility\n    items: [category=beer]\n"
                   "    require_features: [age_band=18-24, age_band=25-34]\n",
                   &f, NULL, NULL);
    memset(&u, 0, sizeof u);
    apply_ok(r, &f, &u, NOW, 12, &x);
    assert_int_equal(x.res.n, 11);          /* no beer without an age band */
    u.features = young;
    u.n_features = 1;
    apply_ok(r, &f, &u, NOW, 12, &x);
    assert_int_equal(x.res.n, 11);
    u.features = adult;
    apply_ok(r, &f, &u, NOW, 12, &x);
    assert_int_equal(x.res.n, 12);
    u.segments = staff;
    u.n_segments = 1;
    apply_ok(r, &f, &u, NOW, 12, &x);
    assert_int_equal(x.res.n, 0);
    {
        trove_rules_request q;
        trove_rule_hit h[8];
        size_t nh = 0;
        memset(&q, 0, sizeof q);
        q.user = &u;
        q.now = NOW;
        q.scores = f.scores;
        assert_int_equal(trove_rules_check(r, &q, 0, h, 8, &nh), TROVE_OK);
        assert_int_equal(nh, 1);
        assert_int_equal(h[0].action, TROVE_ACTION_NOT_ELIGIBLE);
        assert_string_equal(trove_rules_rule_name(r, h[0].rule), "staff");
    }
    trove_rules_free(r);
}

static void test_caps(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    trove_rules_user u;
    uint32_t exposed[2] = {0, 1}, counts[2] = {3, 2};
    double budget[12];
    trove_rules_request q;
    void *scratch;
    (void)state;
    fix_init(&f);
    f.items[6].budgeted = 1;
    f.items[7].budgeted = 1;
    r = compile_ok("rules:\n"
                   "  - name: three\n    kind: frequency_cap\n    max: 3\n"
                   "  - name: money\n    kind: budget_cap\n", &f, NULL, NULL);
    memset(&u, 0, sizeof u);
    u.exposed_items = exposed;
    u.exposure_counts = counts;
    u.n_exposures = 2;
    apply_ok(r, &f, &u, NOW, 3, &x);
    assert_string_equal(list_of(&f, &x), "b1 b2 b3");   /* b0 seen 3 times */

    for (int i = 0; i < 12; i++)
        budget[i] = 0;           /* only budgeted items are checked */
    budget[7] = 5;
    memset(&q, 0, sizeof q);
    q.now = NOW;
    q.scores = f.scores;
    q.remaining_budget = budget;
    q.n = 12;
    scratch = malloc(trove_rules_scratch_size(r));
    memset(&x, 0, sizeof x);
    x.res.items = x.items;
    assert_int_equal(trove_rules_apply(r, &q, scratch, &x.res), TROVE_OK);
    assert_int_equal(x.res.n, 11);
    for (size_t k = 0; k < x.res.n; k++)
        assert_int_not_equal(x.items[k], 6);
    /* bad exposure index */
    exposed[1] = 99;
    q.user = &u;
    assert_int_equal(trove_rules_apply(r, &q, scratch, &x.res), TROVE_EINVAL);
    free(scratch);
    trove_rules_free(r);
}

static void test_pin_boost_bury(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    (void)state;
    fix_init(&f);
    f.items[11].pinned = 1;    /* catalog pin comes before rule pins */
    r = compile_ok("rules:\n"
                   "  - name: pin-coffee\n    kind: pin\n    item_ids: [c7, c6, nosuch]\n"
                   "  - name: sides-up\n    kind: boost\n    items: [category=sides]\n"
                   "    factor: 2\n    offset: 0.1\n"
                   "  - name: burgers-down\n    kind: bury\n    items: [category=burger]\n",
                   &f, NULL, NULL);
    {
        trove_rules_info info;
        trove_rules_info_get(r, &info);
        assert_int_equal(info.n_warnings, 1);        /* id "nosuch" */
        assert_int_equal(info.n_rules, 3);
    }
    apply_ok(r, &f, NULL, NOW, 8, &x);
    /* pins: salad11 (flag), then c6 before c7 (same rule: score order);
     * s8 = 0.6*2+0.1 = 1.3, s9 = 0.55*2+0.1 = 1.2, then d4 d5 beer10, then
     * the buried burgers */
    assert_string_equal(list_of(&f, &x), "salad11 c6 c7 s8 s9 d4 d5 beer10");
    assert_int_equal(x.sources[0], TROVE_RULES_SOURCE_PINNED);
    assert_int_equal(x.sources[1], TROVE_RULES_SOURCE_PINNED);
    assert_int_equal(x.sources[3], TROVE_RULES_SOURCE_MODEL);
    assert_true(fabsf(x.scores[3] - 1.3f) < 1e-6f);
    apply_ok(r, &f, NULL, NOW, 12, &x);
    assert_string_equal(list_of(&f, &x),
                        "salad11 c6 c7 s8 s9 d4 d5 beer10 b0 b1 b2 b3");
    /* a pinned item that is ineligible is not shown */
    trove_rules_free(r);
    f.items[7].active = 0;
    r = compile_ok("rules:\n  - name: p\n    kind: pin\n    item_ids: [c7]\n",
                   &f, NULL, NULL);
    apply_ok(r, &f, NULL, NOW, 3, &x);
    assert_string_equal(list_of(&f, &x), "salad11 b0 b1");
    trove_rules_free(r);
}

static void test_exclusive_diversity(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    size_t drops = 0;
    (void)state;
    fix_init(&f);
    f.scores[6] = 5.0f;   /* c6, c7 on top */
    f.scores[7] = 4.0f;
    r = compile_ok("rules:\n"
                   "  - name: one-coffee\n    kind: exclusive\n    items: [category=coffee]\n"
                   "  - name: spread\n    kind: diversity\n    field: category\n    max: 2\n",
                   &f, NULL, NULL);
    apply_ok(r, &f, NULL, NOW, 6, &x);
    assert_string_equal(list_of(&f, &x), "c6 b0 b1 d4 d5 s8");
    for (size_t k = 0; k < x.res.n_hits; k++) {
        if (x.hits[k].action == TROVE_ACTION_DROP_EXCLUSIVE) {
            assert_int_equal(x.hits[k].item, 7);
            assert_string_equal(trove_rules_rule_name(r, x.hits[k].rule), "one-coffee");
            drops++;
        }
        if (x.hits[k].action == TROVE_ACTION_DROP_DIVERSITY) {
            assert_true(x.hits[k].item == 2 || x.hits[k].item == 3);
            assert_int_equal(x.hits[k].position, 255);
            drops++;
        }
    }
    assert_int_equal(drops, 3);
    trove_rules_free(r);
}

static void test_explore(void **state)
{
    fix f;
    run a, b, c;
    trove_rules *r;
    trove_rules_user u;
    int differs = 0;
    (void)state;
    fix_init(&f);
    /* the three lowest-scored items are new */
    f.items[9].created_ts = NOW - 2 * DAY;
    f.items[10].created_ts = NOW - 3 * DAY;
    f.items[11].created_ts = NOW - 1 * DAY;
    r = compile_ok("rules:\n  - name: new\n    kind: explore\n    slots: 2\n"
                   "    new_days: 7\n", &f, NULL, NULL);
    memset(&u, 0, sizeof u);
    u.key = 42;
    apply_ok(r, &f, &u, NOW, 5, &a);
    assert_int_equal(a.res.n, 5);
    assert_string_equal(list_of(&f, &a) + 0 * 0, list_of(&f, &a));
    assert_int_equal(a.sources[0], TROVE_RULES_SOURCE_MODEL);
    assert_int_equal(a.sources[2], TROVE_RULES_SOURCE_MODEL);
    assert_int_equal(a.sources[3], TROVE_RULES_SOURCE_EXPLORE);
    assert_int_equal(a.sources[4], TROVE_RULES_SOURCE_EXPLORE);
    assert_true(a.items[3] >= 9 && a.items[4] >= 9 && a.items[3] != a.items[4]);
    /* same user, same day: same choice; other users or days: varies */
    apply_ok(r, &f, &u, NOW + 60, 5, &b);
    assert_memory_equal(a.items, b.items, sizeof a.items);
    for (uint64_t key = 1; key < 40; key++) {
        u.key = key;
        apply_ok(r, &f, &u, NOW, 5, &c);
        differs += memcmp(a.items, c.items, sizeof a.items) != 0;
    }
    assert_true(differs > 0);
    /* new means created within new_days */
    apply_ok(r, &f, &u, NOW + 10 * DAY, 5, &c);
    assert_int_equal(c.sources[3], TROVE_RULES_SOURCE_MODEL);
    trove_rules_free(r);
}

/* Many new offers (more than 4 * slots + 32): the slots are drawn among
 * them instead of hashing every one. The picks are new, eligible (never a
 * blocked category), distinct, the same for a user all day, different
 * across users, and spread over the new offers; when a user may take
 * almost none of them the full scan still finds the eligible ones. */
static void test_explore_many_new(void **state)
{
    enum { N = 400, NEW = 300 };
    static trove_rules_item items[N];
    static const char *feats[N][1];
    static char ids[N][8];
    static float scores[N];
    static unsigned hits[N];
    trove_rules_catalog cat;
    trove_rules *r = NULL;
    trove_error err;
    (void)state;
    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "o%zu", i);
        /* among the new ones (the last NEW), one in ten is "stale" */
        feats[i][0] = i >= N - NEW && i % 10 == 0 ? "category=stale"
                                                  : "category=fresh";
        items[i] = (trove_rules_item){ .ext_id = ids[i], .features = feats[i],
                                       .n_features = 1, .active = 1,
                                       .created_ts = i >= N - NEW
                                           ? NOW - (int64_t)(i % 5) * DAY
                                           : NOW - 100 * DAY };
        scores[i] = 1.0f - 0.001f * (float)i;
    }
    trove_rule_set *rs = parse_ok("rules:\n"
                                  "  - name: no-stale\n    kind: eligibility\n"
                                  "    items: [category=stale]\n"
                                  "    require_segments: [nobody]\n"
                                  "  - name: new\n    kind: explore\n    slots: 2\n"
                                  "    new_days: 7\n");
    memset(&cat, 0, sizeof cat);
    cat.items = items;
    cat.n_items = N;
    assert_int_equal(trove_rules_compile(rs, &cat, &r, &err), TROVE_OK);
    trove_rule_set_free(rs);
    void *scratch = malloc(trove_rules_scratch_size(r));
    assert_non_null(scratch);
    uint32_t first[2] = { 0, 0 };
    int differs = 0;
    for (uint64_t key = 1; key <= 3000; key++) {
        for (int again = 0; again < 2; again++) {
            trove_rules_user u;
            trove_rules_request q;
            trove_rules_result res;
            uint32_t out[5];
            float sc[5];
            uint8_t src[5];
            memset(&u, 0, sizeof u);
            u.key = key;
            memset(&q, 0, sizeof q);
            q.user = &u;
            q.now = NOW + (again ? 3600 : 0);   /* the same local day */
            q.scores = scores;
            q.n = 5;
            memset(&res, 0, sizeof res);
            res.items = out;
            res.scores = sc;
            res.sources = src;
            assert_int_equal(trove_rules_apply(r, &q, scratch, &res), TROVE_OK);
            assert_int_equal(res.n, 5);
            assert_int_equal(src[3], TROVE_RULES_SOURCE_EXPLORE);
            assert_int_equal(src[4], TROVE_RULES_SOURCE_EXPLORE);
            for (int e = 3; e < 5; e++) {
                assert_true(out[e] >= N - NEW);                 /* new */
                assert_false(out[e] % 10 == 0);                 /* eligible */
            }
            assert_true(out[3] != out[4]);
            if (again) {
                assert_int_equal(out[3], first[0]);
                assert_int_equal(out[4], first[1]);
            } else {
                if (key > 1 && (out[3] != first[0] || out[4] != first[1]))
                    differs = 1;
                first[0] = out[3];
                first[1] = out[4];
                hits[out[3]]++;
                hits[out[4]]++;
            }
        }
    }
    assert_true(differs);
    /* 6000 picks over 270 eligible new offers (22 each on average): every
     * one of them is drawn at least once */
    for (size_t i = N - NEW; i < N; i++)
        if (i % 10 != 0)
            assert_true(hits[i] > 0);
    trove_rules_free(r);
    free(scratch);

    /* almost every new offer stale: the draws find too few, the full scan
     * finds the only two eligible ones */
    for (size_t i = N - NEW; i < N; i++)
        feats[i][0] = i == N - 7 || i == N - 150 ? "category=fresh"
                                                 : "category=stale";
    rs = parse_ok("rules:\n"
                  "  - name: no-stale\n    kind: eligibility\n"
                  "    items: [category=stale]\n"
                  "    require_segments: [nobody]\n"
                  "  - name: new\n    kind: explore\n    slots: 2\n"
                  "    new_days: 7\n");
    assert_int_equal(trove_rules_compile(rs, &cat, &r, &err), TROVE_OK);
    trove_rule_set_free(rs);
    scratch = malloc(trove_rules_scratch_size(r));
    assert_non_null(scratch);
    {
        trove_rules_user u;
        trove_rules_request q;
        trove_rules_result res;
        uint32_t out[5];
        float sc[5];
        uint8_t src[5];
        memset(&u, 0, sizeof u);
        u.key = 77;
        memset(&q, 0, sizeof q);
        q.user = &u;
        q.now = NOW;
        q.scores = scores;
        q.n = 5;
        memset(&res, 0, sizeof res);
        res.items = out;
        res.scores = sc;
        res.sources = src;
        assert_int_equal(trove_rules_apply(r, &q, scratch, &res), TROVE_OK);
        assert_int_equal(src[3], TROVE_RULES_SOURCE_EXPLORE);
        assert_int_equal(src[4], TROVE_RULES_SOURCE_EXPLORE);
        assert_true((out[3] == N - 7 && out[4] == N - 150) ||
                    (out[3] == N - 150 && out[4] == N - 7));
    }
    trove_rules_free(r);
    free(scratch);
}

static void test_bundles(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    /* co-purchase: b0 -> s9, c6; everyone else none */
    uint32_t off[13] = {0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    uint32_t co[2] = {9, 6};
    (void)state;
    fix_init(&f);
    r = compile_ok("rules:\n  - name: meal\n    kind: bundle\n    when: [category=burger]\n"
                   "    with: [category=drinks]\n    max: 2\n", &f, NULL, NULL);
    apply_ok(r, &f, NULL, NOW, 5, &x);
    assert_string_equal(list_of(&f, &x), "b0 d4 b1 d5 b2");
    assert_int_equal(x.sources[1], TROVE_RULES_SOURCE_BUNDLE);
    assert_int_equal(x.sources[3], TROVE_RULES_SOURCE_BUNDLE);
    {
        int seen = 0;
        for (size_t k = 0; k < x.res.n_hits; k++)
            if (x.hits[k].action == TROVE_ACTION_BUNDLE && x.hits[k].item == 4) {
                assert_int_equal(x.hits[k].position, 1);
                assert_string_equal(trove_rules_rule_name(r, x.hits[k].rule), "meal");
                seen = 1;
            }
        assert_true(seen);
    }
    trove_rules_free(r);
    r = compile_ok("rules:\n  - name: together\n    kind: bundle\n"
                   "    source: copurchase\n", &f, off, co);
    apply_ok(r, &f, NULL, NOW, 4, &x);
    assert_string_equal(list_of(&f, &x), "b0 s9 b1 b2");
    trove_rules_free(r);
    /* a copurchase bundle needs the lists */
    {
        trove_rule_set *rs = parse_ok("rules:\n  - name: t\n    kind: bundle\n"
                                      "    source: copurchase\n");
        trove_rules_catalog cat;
        trove_error err;
        memset(&cat, 0, sizeof cat);
        cat.items = f.items;
        cat.n_items = f.n;
        assert_int_equal(trove_rules_compile(rs, &cat, &r, &err), TROVE_EINVAL);
        assert_non_null(strstr(err.msg, "t.yaml:2: bundle rule 't' uses co-purchase"));
        trove_rule_set_free(rs);
    }
}

/* All kinds together: the documented order, and the trace. */
static void test_order_and_trace(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    trove_rules_user u;
    const char *seg[] = {"vip"};
    (void)state;
    fix_init(&f);
    f.items[11].created_ts = NOW - DAY;
    r = compile_ok("rules:\n"
                   "  - name: vip-beer\n    kind: eligibility\n    items: [category=beer]\n"
                   "    require_segments: [vip]\n"
                   "  - name: pin-beer\n    kind: pin\n    items: [category=beer]\n"
                   "  - name: coffee-up\n    kind: boost\n    items: [category=coffee]\n"
                   "    offset: 1\n"
                   "  - name: spread\n    kind: diversity\n    field: category\n    max: 1\n"
                   "  - name: new\n    kind: explore\n    slots: 1\n"
                   "  - name: meal\n    kind: bundle\n    when: [category=coffee]\n"
                   "    with: [category=sides]\n", &f, NULL, NULL);
    memset(&u, 0, sizeof u);
    apply_ok(r, &f, &u, NOW, 5, &x);
    /* no vip: beer neither eligible nor pinned; c6 boosted to the top, one
     * per category, salad11 explored in the last slot, s8 bundled after c6
     * pushes the last ranked item out */
    assert_string_equal(list_of(&f, &x), "c6 s8 b0 d4 salad11");
    u.segments = seg;
    u.n_segments = 1;
    apply_ok(r, &f, &u, NOW, 5, &x);
    assert_string_equal(list_of(&f, &x), "beer10 c6 s8 b0 salad11");
    {
        /* trace: slots in order first, then drops */
        static const struct { uint32_t item; const char *rule; int action; int pos; }
        want[] = {
            {10, "pin-beer", TROVE_ACTION_PIN, 0},
            {6, "coffee-up", TROVE_ACTION_BOOST, 1},
            {8, "meal", TROVE_ACTION_BUNDLE, 2},
            {11, "new", TROVE_ACTION_EXPLORE, 4},
        };
        size_t k = 0;
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++, k++) {
            assert_true(k < x.res.n_hits);
            assert_int_equal(x.hits[k].item, want[w].item);
            assert_string_equal(trove_rules_rule_name(r, x.hits[k].rule), want[w].rule);
            assert_int_equal(x.hits[k].action, want[w].action);
            assert_int_equal(x.hits[k].position, want[w].pos);
        }
        for (; k < x.res.n_hits; k++)
            assert_int_equal(x.hits[k].action, TROVE_ACTION_DROP_DIVERSITY);
        assert_int_equal(x.res.hits_truncated, 0);
        assert_string_equal(trove_rules_action_name(TROVE_ACTION_DROP_DIVERSITY),
                            "drop_diversity");
        assert_string_equal(trove_rules_source_name(TROVE_RULES_SOURCE_EXPLORE), "explore");
    }
    trove_rules_free(r);
}

/* --------------------------------------------- candidates and reference */

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Brute force: every eligible item by (tier, score, index), greedy caps. */
static size_t reference(const float *sc, const int *cat, const int *buried,
                        const int *inactive, size_t n_items, int max_per_cat,
                        size_t want, uint32_t *out)
{
    uint32_t *order = malloc(n_items * sizeof *order);
    int counts[64] = {0};
    size_t m = 0, n = 0;
    for (size_t i = 0; i < n_items; i++)
        if (!inactive[i])
            order[m++] = (uint32_t)i;
    for (size_t a = 1; a < m; a++)
        for (size_t b = a; b > 0; b--) {
            uint32_t x = order[b - 1], y = order[b];
            int worse = buried[x] != buried[y] ? buried[x] > buried[y] :
                        sc[x] != sc[y] ? sc[x] < sc[y] : x > y;
            if (!worse)
                break;
            order[b - 1] = y;
            order[b] = x;
        }
    for (size_t k = 0; k < m && n < want; k++)
        if (counts[cat[order[k]]] < max_per_cat) {
            counts[cat[order[k]]]++;
            out[n++] = order[k];
        }
    free(order);
    return n;
}

static void test_reference_and_candidates(void **state)
{
    enum { N = 3000, CATS = 60 };
    trove_rules_item *items = calloc(N, sizeof *items);
    char (*names)[24] = calloc(N, 24), (*ids)[16] = calloc(N, 16);
    const char **fp = calloc(N, sizeof *fp);
    float *sc = malloc(N * sizeof *sc);
    int *cat = calloc(N, sizeof *cat), *bur = calloc(N, sizeof *bur),
        *ina = calloc(N, sizeof *ina);
    uint32_t *cand = malloc(N * sizeof *cand), ref[64], got[64], got2[64];
    trove_rule_set *rs;
    trove_rules_catalog catalog;
    trove_rules *r = NULL;
    trove_error err;
    void *scratch;
    uint64_t seed = 7;
    (void)state;

    for (size_t i = 0; i < N; i++) {
        cat[i] = (int)(lcg(&seed) % CATS);
        bur[i] = cat[i] == 3;
        ina[i] = lcg(&seed) % 10 == 0;
        snprintf(names[i], 24, "category=c%d", cat[i]);
        snprintf(ids[i], 16, "i%zu", i);
        fp[i] = names[i];
        items[i].ext_id = ids[i];
        items[i].features = &fp[i];
        items[i].n_features = 1;
        items[i].active = !ina[i];
        /* coarse scores: many ties */
        sc[i] = (float)(lcg(&seed) % 50) / 50.0f;
        cand[i] = (uint32_t)i;
    }
    rs = parse_ok("rules:\n  - name: low\n    kind: bury\n    items: [category=c3]\n"
                  "  - name: spread\n    kind: diversity\n    field: category\n"
                  "    max: 1\n");
    memset(&catalog, 0, sizeof catalog);
    catalog.items = items;
    catalog.n_items = N;
    assert_int_equal(trove_rules_compile(rs, &catalog, &r, &err), TROVE_OK);
    scratch = malloc(trove_rules_scratch_size(r));
    for (size_t want = 1; want <= 64; want = want * 2 + 1) {
        trove_rules_request q;
        trove_rules_result res;
        /* 60 categories, max 1 each: want > 60 leaves the list short */
        size_t n_ref = reference(sc, cat, bur, ina, N, 1, want, ref);
        memset(&q, 0, sizeof q);
        q.now = NOW;
        q.scores = sc;
        q.n = want;
        memset(&res, 0, sizeof res);
        res.items = got;
        assert_int_equal(trove_rules_apply(r, &q, scratch, &res), TROVE_OK);
        assert_int_equal(res.n, n_ref);
        assert_memory_equal(got, ref, n_ref * sizeof *ref);
        /* the same through a shuffled candidate list with duplicates */
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = lcg(&seed) % (i + 1);
            uint32_t t = cand[i];
            cand[i] = cand[j];
            cand[j] = t;
        }
        {
            float *cs = malloc((N + 10) * sizeof *cs);
            uint32_t *cl = malloc((N + 10) * sizeof *cl);
            for (size_t j = 0; j < N; j++) {
                cl[j] = cand[j];
                cs[j] = sc[cand[j]];
            }
            for (size_t j = 0; j < 10; j++) {
                cl[N + j] = cand[j];
                cs[N + j] = 100.0f;       /* ignored: duplicates */
            }
            q.scores = NULL;
            q.candidates = cl;
            q.candidate_scores = cs;
            q.n_candidates = N + 10;
            res.items = got2;
            assert_int_equal(trove_rules_apply(r, &q, scratch, &res), TROVE_OK);
            assert_int_equal(res.n, n_ref);
            assert_memory_equal(got2, ref, n_ref * sizeof *ref);
            cl[3] = N;                        /* out of range */
            assert_int_equal(trove_rules_apply(r, &q, scratch, &res), TROVE_EINVAL);
            free(cs);
            free(cl);
        }
    }
    free(scratch);
    trove_rules_free(r);
    trove_rule_set_free(rs);
    free(items); free(names); free(ids); free(fp); free(sc); free(cat);
    free(bur); free(ina); free(cand);
}

static void test_deterministic_and_threads_safe_scratch(void **state)
{
    fix f;
    run a, b;
    trove_rules *r;
    trove_rules_user u;
    (void)state;
    fix_init(&f);
    f.items[10].created_ts = NOW;
    r = compile_ok("rules:\n  - name: new\n    kind: explore\n    slots: 1\n"
                   "  - name: spread\n    kind: diversity\n    field: category\n    max: 2\n",
                   &f, NULL, NULL);
    memset(&u, 0, sizeof u);
    u.key = 99;
    apply_ok(r, &f, &u, NOW, 6, &a);
    for (int k = 0; k < 20; k++) {
        apply_ok(r, &f, &u, NOW, 6, &b);
        assert_int_equal(a.res.n, b.res.n);
        assert_memory_equal(a.items, b.items, sizeof a.items);
        assert_memory_equal(a.sources, b.sources, sizeof a.sources);
        assert_int_equal(a.res.n_hits, b.res.n_hits);
    }
    /* times at the ends of int64 are data, not undefined behaviour */
    apply_ok(r, &f, &u, INT64_MAX, 6, &b);
    assert_int_equal(b.res.n, 6);
    apply_ok(r, &f, &u, INT64_MIN, 6, &b);
    assert_int_equal(b.res.n, 6);
    trove_rules_free(r);
}

/* Several threads apply one compiled rule set at once, each with its own
 * scratch, and get exactly the single-threaded answers. */
typedef struct thread_job {
    const trove_rules *r;
    const fix *f;
    uint32_t (*want)[8];
    int mismatches;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    void *scratch = malloc(trove_rules_scratch_size(job->r));
    for (int round = 0; round < 200; round++)
        for (uint64_t key = 0; key < 16; key++) {
            trove_rules_user u;
            trove_rules_request q;
            trove_rules_result res;
            uint32_t items[8];
            memset(&u, 0, sizeof u);
            u.key = key;
            memset(&q, 0, sizeof q);
            q.user = &u;
            q.now = NOW;
            q.scores = job->f->scores;
            q.n = 8;
            memset(&res, 0, sizeof res);
            memset(items, 0xFF, sizeof items);
            res.items = items;
            if (trove_rules_apply(job->r, &q, scratch, &res) != TROVE_OK ||
                memcmp(items, job->want[key], sizeof items) != 0)
                job->mismatches++;
        }
    free(scratch);
    return NULL;
}

static void test_threads(void **state)
{
    fix f;
    trove_rules *r;
    uint32_t want[16][8];
    pthread_t th[4];
    thread_job jobs[4];
    (void)state;
    fix_init(&f);
    f.items[9].created_ts = NOW - DAY;
    f.items[10].created_ts = NOW - DAY;
    f.items[11].created_ts = NOW - DAY;
    r = compile_ok("rules:\n  - name: new\n    kind: explore\n    slots: 2\n"
                   "  - name: spread\n    kind: diversity\n    field: category\n    max: 2\n"
                   "  - name: meal\n    kind: bundle\n    when: [category=burger]\n"
                   "    with: [category=drinks]\n", &f, NULL, NULL);
    for (uint64_t key = 0; key < 16; key++) {
        trove_rules_user u;
        run x;
        memset(&u, 0, sizeof u);
        u.key = key;
        apply_ok(r, &f, &u, NOW, 8, &x);
        memset(want[key], 0xFF, sizeof want[key]);
        memcpy(want[key], x.items, x.res.n * sizeof *x.items);
    }
    for (int t = 0; t < 4; t++) {
        jobs[t].r = r;
        jobs[t].f = &f;
        jobs[t].want = want;
        jobs[t].mismatches = 0;
        assert_int_equal(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(jobs[t].mismatches, 0);
    }
    trove_rules_free(r);
}

/* A short hits array keeps the slot hits first and says it is truncated. */
static void test_hits_truncated(void **state)
{
    fix f;
    trove_rules *r;
    trove_rules_request q;
    trove_rules_result res;
    uint32_t items[8];
    trove_rule_hit hits[3];
    void *scratch;
    (void)state;
    fix_init(&f);
    r = compile_ok("rules:\n  - name: up\n    kind: boost\n    items: [category=burger]\n"
                   "    factor: 2\n  - name: one\n    kind: diversity\n    field: category\n"
                   "    max: 1\n", &f, NULL, NULL);
    scratch = malloc(trove_rules_scratch_size(r));
    memset(&q, 0, sizeof q);
    q.now = NOW;
    q.scores = f.scores;
    q.n = 4;
    q.explain = 1;
    memset(&res, 0, sizeof res);
    res.items = items;
    res.hits = hits;
    res.hits_cap = 3;
    assert_int_equal(trove_rules_apply(r, &q, scratch, &res), TROVE_OK);
    assert_int_equal(res.n, 4);
    assert_int_equal(res.n_hits, 3);
    assert_int_equal(res.hits_truncated, 1);
    assert_int_equal(hits[0].action, TROVE_ACTION_BOOST);
    assert_int_equal(hits[0].item, 0);
    assert_int_equal(hits[0].position, 0);
    assert_int_equal(hits[1].action, TROVE_ACTION_DROP_DIVERSITY);
    /* explain off: no hits at all */
    q.explain = 0;
    assert_int_equal(trove_rules_apply(r, &q, scratch, &res), TROVE_OK);
    assert_int_equal(res.n_hits, 0);
    free(scratch);
    trove_rules_free(r);
}

/* ------------------------------------------------------------ time zones */

static void test_timezone_windows(void **state)
{
    fix f;
    run x;
    trove_rules *r;
    trove_rule_set *rs;
    trove_rules_catalog cat;
    trove_error err;
    /* 2026-12-01 00:00 Europe/Berlin (CET, +1) = 2026-11-30 23:00 UTC */
    const int64_t dec1 = 1796079600;
    /* 2026-07-01 00:00 Berlin (CEST, +2) = 2026-06-30 22:00 UTC */
    const int64_t jul1 = 1782856800;
    (void)state;
    fix_init(&f);
    rs = parse_ok("timezone: Europe/Berlin\nrules:\n"
                  "  - name: advent\n    kind: schedule\n    items: [category=salad]\n"
                  "    start: 2026-12-01\n    end: 2026-12-27\n"
                  "  - name: summer\n    kind: schedule\n    items: [category=beer]\n"
                  "    start: 2026-07-01 00:00\n"
                  "  - name: spring\n    kind: schedule\n    items: [category=sides]\n"
                  "    start: 2026-03-29 02:30\n");
    memset(&cat, 0, sizeof cat);
    cat.items = f.items;
    cat.n_items = f.n;
    if (trove_rules_compile(rs, &cat, &r, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(trove_rules_utc_offset(r, dec1), 3600);
    assert_int_equal(trove_rules_utc_offset(r, jul1), 7200);
    apply_ok(r, &f, NULL, dec1 - 1, 12, &x);
    assert_int_equal(x.res.n, 12 - 1);          /* salad not yet */
    apply_ok(r, &f, NULL, dec1, 12, &x);
    assert_int_equal(x.res.n, 12);
    {
        trove_rules_request q;
        trove_rule_hit h[4];
        size_t nh;
        memset(&q, 0, sizeof q);
        q.scores = f.scores;
        q.now = jul1 - 1;
        assert_int_equal(trove_rules_check(r, &q, 10, h, 4, &nh), TROVE_OK);
        assert_int_equal(nh, 1);
        assert_int_equal(h[0].action, TROVE_ACTION_OUT_OF_SCHEDULE);
        q.now = jul1;
        assert_int_equal(trove_rules_check(r, &q, 10, h, 4, &nh), TROVE_OK);
        assert_int_equal(nh, 0);
        /* 02:30 does not exist on 2026-03-29 in Berlin: it reads as 03:30
         * CEST = 01:30 UTC = 1774747800 */
        q.now = 1774747800 - 1;
        assert_int_equal(trove_rules_check(r, &q, 8, h, 4, &nh), TROVE_OK);
        assert_int_equal(nh, 1);
        q.now = 1774747800;
        assert_int_equal(trove_rules_check(r, &q, 8, h, 4, &nh), TROVE_OK);
        assert_int_equal(nh, 0);
    }
    trove_rules_free(r);
    /* the catalog's zone wins; UTC midnight is an hour later */
    cat.timezone = "UTC";
    assert_int_equal(trove_rules_compile(rs, &cat, &r, &err), TROVE_OK);
    apply_ok(r, &f, NULL, dec1, 12, &x);
    assert_int_equal(x.res.n, 11);
    apply_ok(r, &f, NULL, dec1 + 3600, 12, &x);
    assert_int_equal(x.res.n, 12);
    trove_rules_free(r);
    cat.timezone = "Mars/Olympus_Mons";
    r = NULL;
    assert_int_equal(trove_rules_compile(rs, &cat, &r, &err), TROVE_ENOTFOUND);
    assert_null(r);
    trove_rule_set_free(rs);
}

/* A zone file that is not TZif, or is cut short, is a clean error. */
static void test_corrupt_zone_file(void **state)
{
    static const char *const bodies[3] = {
        "not a zone file at all",
        "TZif2",                                   /* truncated header */
        "TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0"     /* counts cut short */
    };
    fix f;
    trove_rule_set *rs;
    trove_rules_catalog cat;
    trove_rules *r = NULL;
    trove_error err;
    char dir[1024];
    const char *old = getenv("TZDIR");
    (void)state;
    fix_init(&f);
    rs = parse_ok("rules: []\n");
    memset(&cat, 0, sizeof cat);
    cat.items = f.items;
    cat.n_items = f.n;
    cat.timezone = "Test/Broken";
    snprintf(dir, sizeof dir, "%s", testutil_tmp_path("zoneinfo"));
    assert_int_equal(mkdir(dir, 0700), 0);
    {
        char sub[1100];
        snprintf(sub, sizeof sub, "%s/Test", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
    }
    setenv("TZDIR", dir, 1);
    for (int k = 0; k < 3; k++) {
        char path[1100];
        FILE *fp;
        snprintf(path, sizeof path, "%s/Test/Broken", dir);
        fp = fopen(path, "wb");
        assert_non_null(fp);
        fwrite(bodies[k], 1, k == 2 ? 20 : strlen(bodies[k]), fp);
        fclose(fp);
        trove_error_clear(&err);
        assert_int_equal(trove_rules_compile(rs, &cat, &r, &err), TROVE_EFORMAT);
        assert_null(r);
        assert_non_null(strstr(err.msg, "Test/Broken"));
    }
    if (old != NULL)
        setenv("TZDIR", old, 1);
    else
        unsetenv("TZDIR");
    trove_rule_set_free(rs);
}

/* --------------------------------------------------------------- faults */

static void test_out_of_memory(void **state)
{
    fix f;
    int ok = 0;
    char *text = NULL;
    trove_rules_catalog cat;
    uint32_t off[13] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, co[1] = {4};
    (void)state;
    fix_init(&f);
    {
        FILE *fp = fopen(testutil_fixture("../../rules/DE.yaml"), "rb");
        size_t n;
        assert_non_null(fp);
        text = calloc(1, 65536);
        n = fread(text, 1, 65535, fp);
        fclose(fp);
        text[n] = '\0';
        /* add a co-purchase bundle so every compile path runs */
        strcat(text, "  - name: together\n    kind: bundle\n    source: copurchase\n");
    }
    memset(&cat, 0, sizeof cat);
    cat.items = f.items;
    cat.n_items = f.n;
    cat.copurchase_offsets = off;
    cat.copurchase_items = co;
    for (long k = 0; k < 2000 && !ok; k++) {
        trove_rule_set *rs = NULL;
        trove_rules *r = NULL;
        trove_error err;
        int rc;
        testutil_fail_alloc_after(k);
        rc = trove_rule_set_parse(text, strlen(text), "DE.yaml", &rs, &err);
        if (rc == TROVE_OK)
            rc = trove_rules_compile(rs, &cat, &r, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            run x;
            apply_ok(r, &f, NULL, NOW, 5, &x);
            assert_true(x.res.n > 0);
            ok = 1;
        } else {
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(r);
        }
        trove_rules_free(r);
        trove_rule_set_free(rs);
    }
    assert_true(ok);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_no_rules_is_ranking),
        cmocka_unit_test(test_eligibility),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_pin_boost_bury),
        cmocka_unit_test(test_exclusive_diversity),
        cmocka_unit_test(test_explore),
        cmocka_unit_test(test_explore_many_new),
        cmocka_unit_test(test_bundles),
        cmocka_unit_test(test_order_and_trace),
        cmocka_unit_test(test_reference_and_candidates),
        cmocka_unit_test(test_deterministic_and_threads_safe_scratch),
        cmocka_unit_test(test_hits_truncated),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_timezone_windows),
        cmocka_unit_test(test_corrupt_zone_file),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
