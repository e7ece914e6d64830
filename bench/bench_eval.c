/*
 * bench_eval.c - `trove-bench eval [runs]`: every metric at k=10 (top-k
 * precision, recall, NDCG, MAP, MRR, hit rate, LightFM precision, recall and
 * AUC, exposure) for all test users of onlineretail_purchase_u20_seed42,
 * with a popularity and a random scorer, on 1 and 2 threads; median of
 * `runs` (default 5). Scoring cost (calling the scorer for every user) is
 * measured apart and subtracted to give the metric cost. Bootstrap and
 * slices are off: this times the pass over the catalog. The reference is
 * LightFM's precision_at_k alone on the same split: 1.26 s (ANCHORS.md).
 */
#include "bench.h"
#include "trove/eval.h"
#include "trove/recommender.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIGHTFM_PRECISION_S 1.26

int bench_eval(int argc, char **argv);

/* CPU seconds of the whole process (all threads): on a shared, loaded
 * machine this is steadier than wall time. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Scoring alone: the scorer called once per test user, one thread. */
static double time_scoring(const trove_scorer *sc, const trove_csr *test, float *buf)
{
    double t0 = bench_now();
    volatile float sink = 0;
    trove_error err;
    for (uint32_t u = 0; u < test->n_rows; u++)
        if (test->indptr[u + 1] > test->indptr[u]) {
            sc->score_user(sc->ctx, u, buf, &err);
            sink += buf[u % sc->n_items];
        }
    (void)sink;
    return bench_now() - t0;
}

int bench_eval(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    static const char *const families[] = {"popularity", "random"};
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *train = NULL;
    trove_recommender *reco[2] = {NULL, NULL};
    trove_csr test;
    trove_error err;
    trove_pairs_options po;
    float *buf = NULL;
    double fig[2][2], score_s[2], best_total = 1e9;
    double t[64], cpu[64], fig_cpu[2][2];
    uint32_t n_users = 0;
    int rc = 1;

    memset(&test, 0, sizeof test);
    if (runs < 1 || runs > 64)
        runs = 5;
    if (bench_data_dir() == NULL)
        return 1;
    memset(&po, 0, sizeof po);
    if (trove_idmap_load(bench_data_path("splits/onlineretail_user_index.tsv"), &users, &err) ||
        trove_idmap_load(bench_data_path("splits/onlineretail_item_index.tsv"), &items, &err))
        goto fail;
    po.users = users;
    po.items = items;
    if (trove_dataset_load_pairs(bench_data_path("splits/onlineretail_purchase_u20_seed42_train.tsv.gz"),
                                 &po, &train, &err) != TROVE_OK ||
        trove_eval_load_pairs(bench_data_path("splits/onlineretail_purchase_u20_seed42_test.tsv.gz"),
                              users, items, &test, NULL, &err) != TROVE_OK)
        goto fail;
    buf = malloc((size_t)trove_dataset_n_items(train) * sizeof *buf);
    if (buf == NULL)
        goto fail;

    printf("eval: all metrics at k=10, onlineretail_purchase_u20_seed42 (%u users x %u items), "
           "median of %d\n", trove_dataset_n_users(train), trove_dataset_n_items(train), runs);
    printf("%-11s %7s %10s %10s %10s %12s %10s\n", "scorer", "threads", "total s", "scoring s",
           "metrics s", "vs LightFM", "cpu s");
    for (int f = 0; f < 2; f++) {
        trove_scorer sc;
        if (trove_recommender_fit(families[f], NULL, train, &reco[f], &err) != TROVE_OK)
            goto fail;
        sc = trove_scorer_from_recommender(reco[f]);
        for (int r = 0; r < runs; r++)
            t[r] = time_scoring(&sc, &test, buf);
        score_s[f] = bench_median(t, (size_t)runs);
        for (int th = 1; th <= 2; th++) {
            trove_eval_params p = trove_eval_default_params();
            p.k = 10;
            p.threads = th;
            p.bootstrap = 0;
            p.slices = 0;
            for (int r = 0; r < runs; r++) {
                trove_eval_result *res = NULL;
                double t0 = bench_now(), c0 = cpu_now();
                if (trove_eval_run(&sc, trove_dataset_interactions(train), &test, &p, &res,
                                   &err) != TROVE_OK)
                    goto fail;
                t[r] = bench_now() - t0;
                cpu[r] = cpu_now() - c0;
                n_users = res->n_users;
                trove_eval_result_free(res);
            }
            fig[f][th - 1] = bench_median(t, (size_t)runs);
            fig_cpu[f][th - 1] = bench_median(cpu, (size_t)runs);
            double metric = fig[f][th - 1] - score_s[f] / th;
            if (fig[f][th - 1] < best_total)
                best_total = fig[f][th - 1];
            printf("%-11s %7d %10.4f %10.4f %10.4f %11.1fx %10.4f\n", families[f], th,
                   fig[f][th - 1], score_s[f] / th, metric, LIGHTFM_PRECISION_S / fig[f][th - 1],
                   fig_cpu[f][th - 1]);
        }
    }
    printf("{\"bench\":\"eval\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,\"users\":%u,"
           "\"k\":10,\"popularity_1t_s\":%.5f,\"popularity_2t_s\":%.5f,\"random_1t_s\":%.5f,"
           "\"random_2t_s\":%.5f,\"scoring_popularity_s\":%.5f,\"scoring_random_s\":%.5f,"
           "\"lightfm_precision_s\":%.2f,\"speedup_popularity_1t\":%.1f,"
           "\"speedup_random_1t\":%.1f,\"speedup_best\":%.1f,\"cpu_popularity_1t_s\":%.5f,"
           "\"cpu_random_1t_s\":%.5f,\"peak_rss_mib\":%.1f}\n",
           bench_commit(), bench_cpu_features(), runs, n_users, fig[0][0], fig[0][1], fig[1][0],
           fig[1][1], score_s[0], score_s[1], LIGHTFM_PRECISION_S,
           LIGHTFM_PRECISION_S / fig[0][0], LIGHTFM_PRECISION_S / fig[1][0],
           LIGHTFM_PRECISION_S / best_total, fig_cpu[0][0], fig_cpu[1][0], bench_peak_rss_mib());
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "trove-bench eval: %s\n", err.msg[0] ? err.msg : "out of memory");
done:
    free(buf);
    trove_recommender_free(reco[0]);
    trove_recommender_free(reco[1]);
    trove_csr_destroy(&test);
    trove_dataset_free(train);
    trove_idmap_free(users);
    trove_idmap_free(items);
    return rc;
}
