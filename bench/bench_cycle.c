/*
 * bench_cycle.c - `trove-bench cycle`: one assignment cycle at scale.
 *
 *   1. planning (trove_cycle_plan): N users x K eligible offers, top-10
 *      lists from a factor scorer (d = 32 dot products over the catalog),
 *      GrowthBook arms (90% test), popularity control, 2 new-offer slots;
 *      1 and 2 threads, checked to give the same plan;
 *   1b. the same plan through a rules engine per user (trove/rules.h): an
 *      eligibility rule on a segment (a quarter of the users), a
 *      frequency cap with exposures for a tenth of the users, a boost, a
 *      bury, an exclusive group and a diversity cap of 3 per category over
 *      5 categories; 1 and 2 threads;
 *   2. the whole `trove cycle run` path (trove_cycle_run) on a fresh SQLite
 *      store holding the market's users and offers: read users, catalog
 *      and flags, plan, write the cycle and every assignment in one
 *      transaction. No model is active here, so the test arm takes the
 *      popularity list; the planning cost with a model is part 1.
 *
 *   trove-bench cycle [--users N] [--offers K] [--store-users M] [--runs R]
 *                     [--dir DIR]      (defaults 1000000, 50, 1000000, 3)
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM 32

typedef struct factors {
    float *u, *i;
    uint32_t n_users, n_items;
} factors;

static int dot_scores(void *ctx, uint32_t user, float *scores, trove_error *err)
{
    const factors *f = ctx;
    const float *pu = f->u + (size_t)user * DIM;
    (void)err;
    for (uint32_t j = 0; j < f->n_items; j++) {
        const float *pi = f->i + (size_t)j * DIM;
        float s = 0;
        for (int d = 0; d < DIM; d++)
            s += pu[d] * pi[d];
        scores[j] = s;
    }
    return TROVE_OK;
}

static const char *const RULES_YAML =
    "market: BM\n"
    "timezone: UTC\n"
    "rules:\n"
    "  - name: no-c0-for-kids\n"
    "    kind: eligibility\n"
    "    items: [category=c0]\n"
    "    exclude_segments: [kid]\n"
    "  - name: three-per-week\n"
    "    kind: frequency_cap\n"
    "    max: 3\n"
    "  - name: c1-up\n"
    "    kind: boost\n"
    "    items: [category=c1]\n"
    "    factor: 1.2\n"
    "  - name: c4-down\n"
    "    kind: bury\n"
    "    items: [category=c4]\n"
    "  - name: one-c2\n"
    "    kind: exclusive\n"
    "    items: [category=c2]\n"
    "    max: 1\n"
    "  - name: spread\n"
    "    kind: diversity\n"
    "    field: category\n"
    "    max: 3\n";

static const char *const KID[] = {"kid"};
static const uint32_t EXPOSED[] = {3, 7};
static const uint32_t EXPOSED_N[] = {4, 1};

/* A quarter of the users are kids; a tenth were shown offer 3 four times. */
static void bench_rules_user(void *ud, size_t u, trove_rules_user *out)
{
    (void)ud;
    out->key = (uint64_t)u * 0x9E3779B97F4A7C15ull + 1;
    if (u % 4 == 0) {
        out->segments = KID;
        out->n_segments = 1;
    }
    if (u % 10 == 0) {
        out->exposed_items = EXPOSED;
        out->exposure_counts = EXPOSED_N;
        out->n_exposures = 2;
    }
}

static int compile_rules(int n_offers, trove_rules **out, trove_error *err)
{
    static const char *const cats[] = {"category=c0", "category=c1", "category=c2",
                                       "category=c3", "category=c4"};
    trove_rule_set *rs = NULL;
    trove_rules_item *items = calloc((size_t)n_offers, sizeof *items);
    char (*names)[24] = calloc((size_t)n_offers, sizeof *names);
    int rc = TROVE_ENOMEM;
    if (items == NULL || names == NULL)
        goto done;
    for (int k = 0; k < n_offers; k++) {
        snprintf(names[k], sizeof names[k], "offer-%d", k);
        items[k].ext_id = names[k];
        items[k].features = &cats[k % 5];
        items[k].n_features = 1;
        items[k].active = 1;
        items[k].created_ts = 1700000000;
    }
    if ((rc = trove_rule_set_parse(RULES_YAML, strlen(RULES_YAML), "bench-rules.yaml",
                                   &rs, err)) == TROVE_OK) {
        trove_rules_catalog cat;
        memset(&cat, 0, sizeof cat);
        cat.items = items;
        cat.n_items = (size_t)n_offers;
        rc = trove_rules_compile(rs, &cat, out, err);
    }
done:
    trove_rule_set_free(rs);
    free(items);
    free(names);
    return rc;
}

static void rm_store(const char *path)
{
    char p[1100];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static int build_store(const char *path, size_t n_users, int n_offers, trove_error *err)
{
    trove_store *s = NULL;
    int64_t market, id;
    char ext[32];
    int rc;
    rm_store(path);
    if ((rc = trove_store_open(path, TROVE_STORE_CREATE | TROVE_STORE_FAST, &s, err)) != 0 ||
        (rc = trove_store_begin(s, err)) != 0 ||
        (rc = trove_store_market_upsert(s, "BM", NULL, NULL, &market, NULL, err)) != 0)
        goto done;
    for (size_t u = 0; u < n_users; u++) {
        snprintf(ext, sizeof ext, "user-%zu", u);
        if ((rc = trove_store_user_upsert(s, ext, market, &id, NULL, err)) != 0)
            goto done;
    }
    for (int k = 0; k < n_offers; k++) {
        snprintf(ext, sizeof ext, "offer-%d", k);
        if ((rc = trove_store_item_upsert(s, ext, NULL, &id, NULL, err)) != 0)
            goto done;
    }
    rc = trove_store_commit(s, err);
done:
    trove_store_close(s);
    return rc;
}

int bench_cycle(int argc, char **argv);

int bench_cycle(int argc, char **argv)
{
    size_t n_users = 1000000, store_users = 1000000;
    int n_offers = 50, runs = 3, rc = 1;
    const char *dir = "/tmp";
    char path[1024] = "";
    trove_cycle_user *users = NULL;
    trove_cycle_offer *offers = NULL;
    char *names = NULL;
    factors f = {0};
    trove_scorer sc;
    trove_cycle_plan_params pp;
    trove_market_config *cfg = NULL;
    trove_error err;
    trove_rng rng;
    double plan1[16], plan2[16], runt[16], readt[16], plant[16], writet[16];
    double rules1[16], rules2[16];
    double build_s, m1, m2, mr, mread, mplan, mwrite, mr1, mr2;
    trove_rules *rules = NULL;
    int same = 1;
    uint64_t rows = 0;
    static const char *yaml =
        "market: {code: BM}\nwindow: {last_days: 30}\nmodel: {family: hybrid}\n"
        "assignment: {number_of_predictions: 10, new_offer_exposure: 2}\n"
        "experiment: {test_share: 0.9, control_policy: popularity, salt: bench}\n";

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--users") == 0)
            n_users = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--offers") == 0)
            n_offers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--store-users") == 0)
            store_users = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
    }
    if (runs < 1 || runs > 16 || n_offers < 12 || n_users < 1)
        return 2;
    trove_error_clear(&err);

    /* 1. Planning. */
    users = calloc(n_users, sizeof *users);
    offers = calloc((size_t)n_offers, sizeof *offers);
    names = calloc(n_users, 24);
    f.u = malloc(n_users * DIM * sizeof *f.u);
    f.i = malloc((size_t)n_offers * DIM * sizeof *f.i);
    if (!users || !offers || !names || !f.u || !f.i)
        goto done;
    f.n_users = (uint32_t)n_users;
    f.n_items = (uint32_t)n_offers;
    trove_rng_seed(&rng, 7);
    for (size_t j = 0; j < n_users * DIM; j++)
        f.u[j] = trove_rng_uniformf(&rng) - 0.5f;
    for (size_t j = 0; j < (size_t)n_offers * DIM; j++)
        f.i[j] = trove_rng_uniformf(&rng) - 0.5f;
    for (size_t u = 0; u < n_users; u++) {
        snprintf(names + u * 24, 24, "user-%u", (unsigned)u);  /* n_users < 2^32 */
        users[u].user_id = (int64_t)u + 1;
        users[u].ext_id = names + u * 24;
        users[u].model_index = (uint32_t)u;
    }
    for (int k = 0; k < n_offers; k++) {
        offers[k].item_id = k + 1;
        offers[k].model_index = (uint32_t)k;
        offers[k].popularity = (double)((k * 37) % n_offers);
        offers[k].is_new = k >= n_offers - 4;
    }
    sc.ctx = &f;
    sc.n_users = f.n_users;
    sc.n_items = f.n_items;
    sc.score_user = dot_scores;
    memset(&pp, 0, sizeof pp);
    pp.n_predictions = 10;
    pp.new_slots = 2;
    pp.control_policy = TROVE_CONTROL_POPULARITY;
    pp.salt = "bench";
    pp.test_share = 0.9;
    pp.cycle_key = "bench-1";
    for (int r = 0; r < runs; r++) {
        trove_cycle_plan_result *a = NULL, *b = NULL;
        double t = bench_now();
        pp.threads = 1;
        if (trove_cycle_plan(users, n_users, offers, (size_t)n_offers, &sc, &pp, &a, &err))
            goto fail;
        plan1[r] = bench_now() - t;
        t = bench_now();
        pp.threads = 2;
        if (trove_cycle_plan(users, n_users, offers, (size_t)n_offers, &sc, &pp, &b, &err)) {
            trove_cycle_plan_free(a);
            goto fail;
        }
        plan2[r] = bench_now() - t;
        same &= memcmp(a->offer, b->offer, n_users * 10 * sizeof *a->offer) == 0 &&
                memcmp(a->arm, b->arm, n_users) == 0;
        trove_cycle_plan_free(a);
        trove_cycle_plan_free(b);
    }
    m1 = bench_median(plan1, (size_t)runs);
    m2 = bench_median(plan2, (size_t)runs);

    /* 1b. The same plan through the rules engine, per user. */
    if (compile_rules(n_offers, &rules, &err) != TROVE_OK)
        goto fail;
    pp.rules = rules;
    pp.rules_user = bench_rules_user;
    pp.now = 1800000000;
    for (int r = 0; r < runs; r++) {
        trove_cycle_plan_result *a = NULL, *b = NULL;
        double t = bench_now();
        pp.threads = 1;
        if (trove_cycle_plan(users, n_users, offers, (size_t)n_offers, &sc, &pp, &a, &err))
            goto fail;
        rules1[r] = bench_now() - t;
        t = bench_now();
        pp.threads = 2;
        if (trove_cycle_plan(users, n_users, offers, (size_t)n_offers, &sc, &pp, &b, &err)) {
            trove_cycle_plan_free(a);
            goto fail;
        }
        rules2[r] = bench_now() - t;
        same &= memcmp(a->offer, b->offer, n_users * 10 * sizeof *a->offer) == 0 &&
                memcmp(a->n_rows, b->n_rows, n_users * sizeof *a->n_rows) == 0;
        trove_cycle_plan_free(a);
        trove_cycle_plan_free(b);
    }
    mr1 = bench_median(rules1, (size_t)runs);
    mr2 = bench_median(rules2, (size_t)runs);
    pp.rules = NULL;

    /* 2. The whole run against a store. */
    snprintf(path, sizeof path, "%s/trove-bench-cycle.db", dir);
    {
        double t = bench_now();
        if (build_store(path, store_users, n_offers, &err) != 0)
            goto fail;
        build_s = bench_now() - t;
    }
    if (trove_market_config_parse(yaml, strlen(yaml), "bench.yaml", &cfg, &err) != 0)
        goto fail;
    for (int r = 0; r < runs; r++) {
        trove_store *s = NULL;
        trove_cycle_run_params p = trove_cycle_run_default_params();
        trove_cycle_summary sum;
        double t;
        char key[32];
        /* A new cycle each run, as in production (the store keeps the
         * earlier runs' cycles). */
        snprintf(key, sizeof key, "bench-run-%d", r + 1);
        p.cycle_key = key;
        p.now = 1800000000 + (int64_t)r * 604800;
        if (trove_store_open(path, TROVE_STORE_FAST, &s, &err) != 0)
            goto fail;
        t = bench_now();
        if (trove_cycle_run(s, cfg, &p, &sum, &err) != 0) {
            trove_store_close(s);
            goto fail;
        }
        runt[r] = bench_now() - t;
        readt[r] = sum.read_seconds;
        plant[r] = sum.plan_seconds;
        writet[r] = sum.write_seconds;
        rows = sum.assignments;
        trove_store_close(s);
    }
    mr = bench_median(runt, (size_t)runs);
    mread = bench_median(readt, (size_t)runs);
    mplan = bench_median(plant, (size_t)runs);
    mwrite = bench_median(writet, (size_t)runs);

    printf("cycle: %zu users x %d offers, top-10, 2 new-offer slots, 90%% test\n",
           n_users, n_offers);
    printf("%-34s %12s %14s\n", "step", "median s", "users/s");
    printf("%-34s %12.3f %14.0f\n", "plan, d=32 scorer, 1 thread", m1, (double)n_users / m1);
    printf("%-34s %12.3f %14.0f\n", "plan, d=32 scorer, 2 threads", m2, (double)n_users / m2);
    printf("%-34s %12.3f %14.0f\n", "plan + rules, 1 thread", mr1, (double)n_users / mr1);
    printf("%-34s %12.3f %14.0f\n", "plan + rules, 2 threads", mr2, (double)n_users / mr2);
    printf("%-34s %12.3f %14.0f\n", "cycle run on SQLite (write all)", mr,
           (double)store_users / mr);
    printf("%-34s %12.3f\n", "  of which: read store", mread);
    printf("%-34s %12.3f\n", "  of which: plan (2 threads)", mplan);
    printf("%-34s %12.3f %14.0f rows/s\n", "  of which: write assignments", mwrite,
           (double)rows / mwrite);
    printf("same plan with 1 and 2 threads: %s; %llu assignment rows per run; "
           "store build %.1f s\n", same ? "yes" : "NO", (unsigned long long)rows, build_s);
    printf("{\"bench\":\"cycle\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,"
           "\"users\":%zu,\"offers\":%d,\"plan_s_1t\":%.4f,\"plan_s_2t\":%.4f,"
           "\"speedup_2t\":%.2f,\"plan_rules_s_1t\":%.4f,\"plan_rules_s_2t\":%.4f,"
           "\"rules_cost_1t\":%.2f,\"store_users\":%zu,\"run_s\":%.3f,"
           "\"read_s\":%.3f,\"run_plan_s\":%.3f,\"write_s\":%.3f,"
           "\"assignment_rows\":%llu,\"rows_per_s\":%.0f,\"same_plan\":%s,"
           "\"peak_rss_mib\":%.1f}\n",
           bench_commit(), bench_cpu_features(), runs, n_users, n_offers, m1, m2, m1 / m2,
           mr1, mr2, mr1 / m1, store_users, mr, mread, mplan, mwrite, (unsigned long long)rows,
           (double)rows / mwrite,
           same ? "true" : "false", bench_peak_rss_mib());
    rc = same ? 0 : 1;
    goto done;
fail:
    fprintf(stderr, "trove-bench cycle: %s\n", err.msg);
done:
    if (path[0] != '\0' && rc == 0)
        rm_store(path);
    trove_market_config_free(cfg);
    trove_rules_free(rules);
    free(users);
    free(offers);
    free(names);
    free(f.u);
    free(f.i);
    return rc;
}
