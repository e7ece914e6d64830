/*
 * bench_tune.c - `trove-bench tune`: the hyperparameter search end to end on
 * the three shared splits. Per split and seed: trove_tune_run on the
 * training file only (validation = a per-user random 20% of train, carved
 * with that seed; metric precision@10; families ease, ials, rp3beta,
 * itemknn, blend), then the chosen model refitted on the whole training
 * file and scored once on the test file (train items excluded): P@10, R@10,
 * NDCG@10, MAP@10. The median over seeds is compared with the P@10 target
 * (1.10 x the best peer of ANCHORS.md).
 *
 * Options: --budget SECONDS per search (default 240), --seeds N (default 3),
 * --quick (budget 30 s, one seed), --split NAME (one split only).
 */
#include "bench.h"
#include "trove/eval.h"
#include "trove/recommender.h"
#include "trove/tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEDS 5

typedef struct tune_split {
    const char *stem, *train, *test, *user_index, *item_index;
    double target, peer;
} tune_split;

static const tune_split TUNE_SPLITS[] = {
    {"ml100k_udata_min4_u20_seed42", "splits/ml100k_udata_min4_u20_seed42_train.tsv.gz",
     "splits/ml100k_udata_min4_u20_seed42_test.tsv.gz", "splits/ml100k_udata_user_index.tsv",
     "splits/ml100k_udata_item_index.tsv", 0.254, 0.231},
    {"onlineretail_purchase_u20_seed42",
     "splits/onlineretail_purchase_u20_seed42_train.tsv.gz",
     "splits/onlineretail_purchase_u20_seed42_test.tsv.gz",
     "splits/onlineretail_user_index.tsv", "splits/onlineretail_item_index.tsv", 0.179,
     0.163},
    {"ml100k_ua_min4", "splits/ml100k_ua_min4_train.tsv", "splits/ml100k_ua_min4_test.tsv",
     "splits/ml100k_udata_user_index.tsv", "splits/ml100k_udata_item_index.tsv", 0.169,
     0.154},
};
#define N_TUNE_SPLITS (sizeof TUNE_SPLITS / sizeof TUNE_SPLITS[0])

typedef struct seed_run {
    char   family[32];
    char   settings[512];
    double valid, p, r, ndcg, map, search_s;
    size_t trials;
} seed_run;

/* Tune with one seed, refit the best on all of train, score on test. */
static int run_seed(const trove_dataset *train, const trove_csr *test, uint64_t seed,
                    double budget, seed_run *out, trove_error *err)
{
    static const char *const fams[] = {"ease", "ials", "rp3beta", "itemknn", "blend", NULL};
    trove_tune_params tp = trove_tune_default_params();
    trove_tune_result *res = NULL;
    trove_tuned_config *cfg = NULL;
    trove_recommender *r = NULL;
    trove_eval_result *ev = NULL;
    trove_eval_params ep = trove_eval_default_params();
    trove_reco_params rp;
    trove_scorer sc;
    int rc;

    tp.families = fams;
    tp.metric = TROVE_METRIC_PRECISION;
    tp.k = 10;
    tp.budget_seconds = budget;
    tp.seed = seed;
    tp.threads = 2;
    if ((rc = trove_tune_run(train, &tp, &res, err)) != TROVE_OK ||
        (rc = trove_tune_result_config(res, &tp, &cfg, err)) != TROVE_OK)
        goto done;
    out->search_s = res->seconds;
    out->trials = res->n_trials;
    out->valid = cfg->models[0].valid_score;
    snprintf(out->family, sizeof out->family, "%s", cfg->models[0].family);
    trove_tune_settings_text(&cfg->models[0].settings, out->settings, sizeof out->settings);
    rp = cfg->models[0].settings;
    rp.threads = 2;
    if ((rc = trove_recommender_fit(cfg->models[0].family, &rp, train, &r, err)) != TROVE_OK)
        goto done;
    sc = trove_scorer_from_recommender(r);
    ep.k = 10;
    ep.threads = 2;
    ep.bootstrap = 0;
    ep.slices = 0;
    if ((rc = trove_eval_run(&sc, trove_dataset_interactions(train), test, &ep, &ev, err)) !=
        TROVE_OK)
        goto done;
    out->p = ev->overall.mean[TROVE_METRIC_PRECISION];
    out->r = ev->overall.mean[TROVE_METRIC_RECALL];
    out->ndcg = ev->overall.mean[TROVE_METRIC_NDCG];
    out->map = ev->overall.mean[TROVE_METRIC_MAP];
done:
    trove_eval_result_free(ev);
    trove_recommender_free(r);
    trove_tuned_config_free(cfg);
    trove_tune_result_free(res);
    return rc;
}

int bench_tune(int argc, char **argv);

int bench_tune(int argc, char **argv)
{
    double budget = 240.0;
    int n_seeds = 3;
    const char *only = NULL;
    char json[8192];
    size_t jn = 0;
    int failed = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            budget = 30.0;
            n_seeds = 1;
        } else if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc) {
            budget = atof(argv[++i]);
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            n_seeds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--split") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: trove-bench tune [--quick] [--budget S] [--seeds N] "
                            "[--split NAME]\n");
            return 2;
        }
    }
    if (!(budget > 0.0) || n_seeds < 1 || n_seeds > MAX_SEEDS) {
        fprintf(stderr, "trove-bench tune: --budget > 0 and --seeds 1..%d\n", MAX_SEEDS);
        return 2;
    }
    printf("tune: search on validation carved from train (P@10, budget %.0f s, %d seed%s), "
           "best refitted on train, scored on test\n\n", budget, n_seeds,
           n_seeds > 1 ? "s" : "");
    printf("%-34s %4s  %-8s %8s %8s %8s %8s %8s %8s  settings\n", "split", "seed", "best",
           "valid", "P@10", "R@10", "NDCG@10", "MAP@10", "search s");
    jn += (size_t)snprintf(json + jn, sizeof json - jn, "{\"bench\":\"tune\",\"commit\":\"%s\","
                           "\"cpu\":\"%s\",\"budget_s\":%.0f,\"seeds\":%d,\"splits\":[",
                           bench_commit(), bench_cpu_features(), budget, n_seeds);
    for (size_t s = 0, first = 1; s < N_TUNE_SPLITS; s++) {
        const tune_split *sp = &TUNE_SPLITS[s];
        trove_idmap *users = NULL, *items = NULL;
        trove_dataset *train = NULL;
        trove_csr test;
        trove_error err;
        seed_run runs[MAX_SEEDS];
        double p[MAX_SEEDS], r[MAX_SEEDS], nd[MAX_SEEDS], mp[MAX_SEEDS];
        int ok = 1;
        memset(&test, 0, sizeof test);
        memset(runs, 0, sizeof runs);
        trove_error_clear(&err);
        if (only != NULL && strcmp(only, sp->stem) != 0)
            continue;
        if (trove_idmap_load(bench_data_path(sp->user_index), &users, &err) != TROVE_OK ||
            trove_idmap_load(bench_data_path(sp->item_index), &items, &err) != TROVE_OK) {
            ok = 0;
        } else {
            trove_pairs_options o = {.users = users, .items = items};
            ok = trove_dataset_load_pairs(bench_data_path(sp->train), &o, &train, &err) ==
                     TROVE_OK &&
                 trove_eval_load_pairs(bench_data_path(sp->test), users, items, &test, NULL,
                                       &err) == TROVE_OK;
        }
        for (int k = 0; ok && k < n_seeds; k++) {
            seed_run *x = &runs[k];
            ok = run_seed(train, &test, 42u + (uint64_t)k, budget, x, &err) == TROVE_OK;
            if (!ok)
                break;
            p[k] = x->p;
            r[k] = x->r;
            nd[k] = x->ndcg;
            mp[k] = x->map;
            printf("%-34s %4d  %-8s %8.4f %8.4f %8.4f %8.4f %8.4f %8.1f  %s\n", sp->stem,
                   42 + k, x->family, x->valid, x->p, x->r, x->ndcg, x->map, x->search_s,
                   x->settings);
            fflush(stdout);
        }
        if (!ok) {
            fprintf(stderr, "trove-bench tune: %s: %s\n", sp->stem, err.msg);
            failed = 1;
        } else {
            double mpv = bench_median(p, (size_t)n_seeds);
            printf("%-34s %4s  %-8s %8s %8.4f %8.4f %8.4f %8.4f   target P@10 %.3f (%s), "
                   "best peer %.3f, ratio %.3f\n", sp->stem, "med", "", "", mpv,
                   bench_median(r, (size_t)n_seeds), bench_median(nd, (size_t)n_seeds),
                   bench_median(mp, (size_t)n_seeds), sp->target,
                   mpv >= sp->target ? "met" : "NOT met", sp->peer, mpv / sp->peer);
            jn += (size_t)snprintf(json + jn, sizeof json - jn,
                                   "%s{\"split\":\"%s\",\"p10\":%.4f,\"r10\":%.4f,"
                                   "\"ndcg10\":%.4f,\"map10\":%.4f,\"target\":%.3f,"
                                   "\"peer\":%.3f,\"ratio_vs_peer\":%.3f,\"best\":\"%s\"}",
                                   first ? "" : ",", sp->stem, mpv,
                                   bench_median(r, (size_t)n_seeds),
                                   bench_median(nd, (size_t)n_seeds),
                                   bench_median(mp, (size_t)n_seeds), sp->target, sp->peer,
                                   mpv / sp->peer, runs[0].family);
            first = 0;
        }
        trove_csr_destroy(&test);
        trove_dataset_free(train);
        trove_idmap_free(users);
        trove_idmap_free(items);
    }
    snprintf(json + jn, sizeof json - jn, "],\"peak_rss_mib\":%.1f}", bench_peak_rss_mib());
    printf("\n%s\n", json);
    return failed;
}
