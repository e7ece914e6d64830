/*
 * bench_rules.c - `trove-bench rules [--items N] [--runs R] [--requests Q]`:
 * the cost of applying a market's rules to one scored request, the serving
 * path's share of the 1 ms p99 budget.
 *
 * A synthetic catalog of N offers (default 10000) in 40 categories, with
 * inactive/blocked/dated/pinned/budgeted offers and new launches, compiled
 * against a rule set using every rule kind (the shape of rules/DE.yaml).
 * Each request has its own user (segments, features, 20 exposures) and one
 * of 64 precomputed score arrays; n = 10. Modes: no rules (top-10 through
 * the engine: the floor), all rules on dense scores, all rules on a
 * 200-item candidate list, and all rules with explain=1. Figures are the
 * median over R runs of the mean ns per request over Q requests, and p99
 * over all requests of the last run measured one by one.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define N_CATS 40
#define N_SCORE_SETS 64
#define N_CAND 200

static const char *const rules_text =
    "timezone: Europe/Berlin\n"
    "rules:\n"
    "  - name: no-staff\n    kind: eligibility\n    exclude_segments: [staff]\n"
    "  - name: beer-adults\n    kind: eligibility\n    items: [category=c7]\n"
    "    require_features: [age_band=25-34, age_band=35-54]\n"
    "  - name: advent\n    kind: schedule\n    items: [category=c8]\n"
    "    start: 2026-12-01\n    end: 2026-12-27\n"
    "  - name: three-per-week\n    kind: frequency_cap\n    max: 3\n"
    "  - name: budgets\n    kind: budget_cap\n"
    "  - name: launch\n    kind: pin\n    item_ids: [o17]\n"
    "  - name: burgers-up\n    kind: boost\n    items: [category=c1]\n    factor: 1.2\n"
    "  - name: sides-down\n    kind: bury\n    items: [category=c2]\n"
    "  - name: one-coffee\n    kind: exclusive\n    items: [category=c3]\n"
    "  - name: spread\n    kind: diversity\n    field: category\n    max: 2\n"
    "  - name: new-offers\n    kind: explore\n    slots: 2\n    new_days: 14\n"
    "  - name: meal\n    kind: bundle\n    when: [category=c1]\n"
    "    with: [category=c4]\n";

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_rules(int argc, char **argv);

int bench_rules(int argc, char **argv)
{
    size_t n_items = 10000, requests = 20000;
    int runs = 7, status = 1;
    const int64_t now = 1795435200;   /* 2026-11-23 12:00 UTC */
    trove_rules_item *items = NULL;
    char (*feat)[24] = NULL, (*ids)[24] = NULL;
    const char **fp = NULL;
    float *scores = NULL, *cand_scores = NULL;
    uint32_t *cands = NULL, *exp_items = NULL, *exp_counts = NULL;
    double *budget = NULL, *lat = NULL;
    trove_rule_set *rs = NULL;
    trove_rules *r = NULL;
    void *scratch = NULL;
    trove_error err;
    uint64_t seed = 12345;
    static const char *const modes[4] = {"no rules", "all rules",
                                         "all rules, 200 candidates",
                                         "all rules, explain"};
    double med[4], p99[4], floor_ns = 0;

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--items") == 0 && a + 1 < argc)
            n_items = (size_t)atol(argv[++a]);
        else if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
            runs = atoi(argv[++a]);
        else if (strcmp(argv[a], "--requests") == 0 && a + 1 < argc)
            requests = (size_t)atol(argv[++a]);
        else {
            fprintf(stderr, "usage: trove-bench rules [--items N] [--runs R] "
                    "[--requests Q]\n");
            return 2;
        }
    }
    if (n_items < 100 || runs < 1 || runs > 64 || requests < 1) {
        fprintf(stderr, "trove-bench rules: --items >= 100, --runs 1..64, "
                "--requests > 0\n");
        return 2;
    }
    items = calloc(n_items, sizeof *items);
    feat = calloc(n_items, sizeof *feat);
    ids = calloc(n_items, sizeof *ids);
    fp = calloc(n_items, sizeof *fp);
    scores = malloc(N_SCORE_SETS * n_items * sizeof *scores);
    cands = malloc(N_SCORE_SETS * N_CAND * sizeof *cands);
    cand_scores = malloc(N_SCORE_SETS * N_CAND * sizeof *cand_scores);
    exp_items = malloc(20 * sizeof *exp_items);
    exp_counts = malloc(20 * sizeof *exp_counts);
    budget = malloc(n_items * sizeof *budget);
    lat = malloc(requests * sizeof *lat);
    if (!items || !feat || !ids || !fp || !scores || !cands || !cand_scores ||
        !exp_items || !exp_counts || !budget || !lat) {
        fprintf(stderr, "trove-bench rules: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < n_items; i++) {
        snprintf(feat[i], sizeof feat[i], "category=c%d", (int)(lcg(&seed) % N_CATS));
        snprintf(ids[i], sizeof ids[i], "o%zu", i);
        fp[i] = feat[i];
        items[i].ext_id = ids[i];
        items[i].features = &fp[i];
        items[i].n_features = 1;
        items[i].active = lcg(&seed) % 50 != 0;
        items[i].blocked = lcg(&seed) % 200 == 0;
        items[i].pinned = i == 42;
        items[i].budgeted = lcg(&seed) % 10 == 0;
        if (lcg(&seed) % 20 == 0)
            items[i].end_ts = now + (int64_t)(lcg(&seed) % 5 - 2) * 86400;
        items[i].created_ts = now - (int64_t)(lcg(&seed) % 400) * 86400;
        budget[i] = lcg(&seed) % 4 == 0 ? 0.0 : 100.0;
    }
    for (size_t k = 0; k < N_SCORE_SETS * n_items; k++)
        scores[k] = (float)(lcg(&seed) % 1000000) * 1e-6f;
    for (size_t s = 0; s < N_SCORE_SETS; s++)
        for (size_t k = 0; k < N_CAND; k++) {
            uint32_t i = (uint32_t)(lcg(&seed) % n_items);
            cands[s * N_CAND + k] = i;
            cand_scores[s * N_CAND + k] = scores[s * n_items + i];
        }
    for (int e = 0; e < 20; e++) {
        exp_items[e] = (uint32_t)(lcg(&seed) % n_items);
        exp_counts[e] = (uint32_t)(lcg(&seed) % 5);
    }

    trove_error_clear(&err);
    if (trove_rule_set_parse(rules_text, strlen(rules_text), "bench.yaml", &rs,
                             &err) != TROVE_OK) {
        fprintf(stderr, "trove-bench rules: %s\n", err.msg);
        goto done;
    }
    {
        trove_rules_catalog cat;
        double t0 = bench_now();
        memset(&cat, 0, sizeof cat);
        cat.items = items;
        cat.n_items = n_items;
        if (trove_rules_compile(rs, &cat, &r, &err) != TROVE_OK) {
            fprintf(stderr, "trove-bench rules: %s\n", err.msg);
            goto done;
        }
        printf("rules: %zu items, %zu rules, compiled in %.2f ms, scratch %zu "
               "bytes, n = 10, %zu requests x %d runs\n\n", n_items, rs->n_rules,
               (bench_now() - t0) * 1e3, trove_rules_scratch_size(r), requests,
               runs);
    }
    if ((scratch = malloc(trove_rules_scratch_size(r))) == NULL)
        goto done;

    for (int m = 0; m < 4; m++) {
        trove_rules *use = r, *none = NULL;
        double per_run[64];
        if (m == 0) {
            trove_rule_set empty;
            trove_rules_catalog cat;
            memset(&empty, 0, sizeof empty);
            empty.frequency_window_days = 7;
            memset(&cat, 0, sizeof cat);
            cat.items = items;
            cat.n_items = n_items;
            if (trove_rules_compile(&empty, &cat, &none, &err) != TROVE_OK ||
                trove_rules_scratch_size(none) > trove_rules_scratch_size(r)) {
                fprintf(stderr, "trove-bench rules: %s\n", err.msg);
                goto done;
            }
            use = none;
        }
        for (int run = 0; run < runs + 1; run++) {
            int last = run == runs;
            double t0 = bench_now();
            for (size_t k = 0; k < requests; k++) {
                static const char *segs[2] = {"regular", "staff"};
                static const char *feats[2] = {"age_band=25-34", "city=Berlin"};
                uint32_t out[16];
                float out_s[16];
                uint8_t out_src[16];
                trove_rule_hit hits[64];
                trove_rules_user u;
                trove_rules_request q;
                trove_rules_result res;
                size_t set = k % N_SCORE_SETS;
                double t1 = last ? bench_now() : 0;
                memset(&u, 0, sizeof u);
                u.key = k * 0x9E3779B97F4A7C15ull;
                u.segments = segs;
                u.n_segments = (k % 100 == 0) ? 2 : 1;
                u.features = feats;
                u.n_features = 2;
                u.exposed_items = exp_items;
                u.exposure_counts = exp_counts;
                u.n_exposures = 20;
                memset(&q, 0, sizeof q);
                q.user = &u;
                q.now = now;
                q.n = 10;
                q.remaining_budget = budget;
                if (m == 2) {
                    q.candidates = cands + set * N_CAND;
                    q.candidate_scores = cand_scores + set * N_CAND;
                    q.n_candidates = N_CAND;
                } else {
                    q.scores = scores + set * n_items;
                }
                q.explain = m == 3;
                memset(&res, 0, sizeof res);
                res.items = out;
                res.scores = out_s;
                res.sources = out_src;
                res.hits = hits;
                res.hits_cap = 64;
                if (trove_rules_apply(use, &q, scratch, &res) != TROVE_OK ||
                    (res.n == 0 && u.n_segments == 1)) {
                    fprintf(stderr, "trove-bench rules: apply failed\n");
                    trove_rules_free(none);
                    goto done;
                }
                if (last)
                    lat[k] = (bench_now() - t1) * 1e9;
            }
            if (!last)   /* the last run is timed per request only */
                per_run[run] = (bench_now() - t0) * 1e9 / (double)requests;
        }
        med[m] = bench_median(per_run, (size_t)runs);
        qsort(lat, requests, sizeof *lat, cmp_double);
        p99[m] = lat[(size_t)((double)(requests - 1) * 0.99)];
        trove_rules_free(none);
    }
    {
        /* the floor: reading the 10k scores of a request once, counting
         * those above a threshold; the same machine state as the modes */
        double per_run[64];
        volatile size_t sink = 0;
        for (int run = 0; run < runs; run++) {
            double t0 = bench_now();
            for (size_t k = 0; k < requests; k++) {
                const float *sc = scores + (k % N_SCORE_SETS) * n_items;
                size_t c = 0;
                for (size_t i = 0; i < n_items; i++)
                    c += sc[i] >= 0.99f;
                sink += c;
            }
            per_run[run] = (bench_now() - t0) * 1e9 / (double)requests;
        }
        floor_ns = bench_median(per_run, (size_t)runs);
    }
    printf("%-28s %14s %14s\n", "mode", "median ns/req", "p99 ns/req");
    printf("%-28s %14.0f %14s\n", "floor: one pass over scores", floor_ns, "-");
    for (int m = 0; m < 4; m++)
        printf("%-28s %14.0f %14.0f\n", modes[m], med[m], p99[m]);
    printf("\ntarget: a few microseconds per request (1 ms p99 server budget)\n");
    printf("{\"bench\":\"rules\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,"
           "\"items\":%zu,\"n\":10,\"requests\":%zu,\"no_rules_ns\":%.0f,"
           "\"all_rules_ns\":%.0f,\"candidates_ns\":%.0f,\"explain_ns\":%.0f,"
           "\"all_rules_p99_ns\":%.0f,\"floor_ns\":%.0f,"
           "\"ratio_rules_over_none\":%.3f,\"ratio_all_rules_over_floor\":%.2f,"
           "\"ratio_all_rules_over_1ms\":%.5f}\n",
           bench_commit(), bench_cpu_features(), runs, n_items, requests, med[0],
           med[1], med[2], med[3], p99[1], floor_ns, med[1] / med[0],
           med[1] / floor_ns, med[1] / 1e6);
    status = 0;
done:
    free(scratch);
    trove_rules_free(r);
    trove_rule_set_free(rs);
    free(items); free(feat); free(ids); free(fp); free(scores); free(cands);
    free(cand_scores); free(exp_items); free(exp_counts); free(budget); free(lat);
    return status;
}
