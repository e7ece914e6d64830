/*
 * cmd_evaluate.c - `trove evaluate`: train the named model families (and
 * load saved recommenders), evaluate all of them on the same train/test
 * split, compare each with a baseline, and print an aligned table, JSON, or
 * an HTML report.
 */
#include "cli.h"
#include "trove/eval.h"
#include "trove/recommender.h"
#include "trove/tuned.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CMD "evaluate"
#define MAX_MODELS 32

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove evaluate --train FILE --test FILE [options]\n\n"
        "Train the named model families on FILE, evaluate every model on the same\n"
        "test pairs (train pairs excluded from the rankings) and compare each one\n"
        "with a baseline. Pair files: user<TAB>item lines, plain or gzip.\n\n"
        "options:\n"
        "  --train FILE          training pairs (required)\n"
        "  --test FILE           test pairs (required); pairs naming users or items\n"
        "                        outside the universe are counted and skipped\n"
        "  --user-index SPEC     user universe: index file or A..B (default: the\n"
        "                        users of the train file)\n"
        "  --item-index SPEC     item universe, likewise (items without train pairs\n"
        "                        stay in the catalog)\n"
        "  --user-features FILE  user features (raw_id<TAB>feature); 'market=XX'\n"
        "                        features define markets\n"
        "  --item-features FILE  item features (content, personal-popularity, hybrid)\n"
        "  --models LIST         comma-separated families (default: popularity);\n"
        "                        baselines: random, popularity, popularity-rating,\n"
        "                        popularity-market, personal-popularity, content,\n"
        "                        itemknn; hybrid: warp, bpr, logistic, warp-kos;\n"
        "                        factor models: ials, ease\n"
        "  --model FILE          a saved recommender to evaluate too (repeatable)\n"
        "  --config FILE         tuned settings written by `trove tune --out`: train\n"
        "                        and evaluate every model it lists with its settings\n"
        "                        (--models then only adds families; default none)\n"
        "  --set FAMILY.KEY=VAL  a setting of one family, e.g. warp.epochs=30,\n"
        "                        itemknn.neighbours=50 (repeatable)\n"
        "  --save-dir DIR        save each trained model as DIR/<family>.trove (DIR is\n"
        "                        created), raw ids beside it (.users, .items)\n"
        "  --baseline NAME       model the others are compared with (default:\n"
        "                        popularity; trained if not listed)\n"
        "  -k, --k N             list length (default 10)\n"
        "  --map-by-relevant     MAP@k divides by |test items| (default: min(k, |T|))\n"
        "  --threads N           threads for training and evaluation (default 1)\n"
        "  --bootstrap N         bootstrap resamples for intervals and comparisons\n"
        "                        (default 1000; 0 = no intervals)\n"
        "  --seed S              bootstrap seed (default 42)\n"
        "  --no-slices           skip the market, cold-item, new-user and activity\n"
        "                        slices\n"
        "  --json                print one JSON object instead of the table\n"
        "  --report FILE         write a self-contained HTML report\n"
        "  -v, --verbose         progress on stderr\n"
        "  -h, --help            this help\n\n"
        "Metric definitions: docs/metrics.md. Exit status: 0 success, 1 failure,\n"
        "2 usage error.\n");
}

typedef struct entry {
    char                   name[96];
    trove_recommender     *reco;
    trove_eval_result     *result;
    trove_eval_comparison  cmp;
    int                    has_cmp;
    double                 fit_s, eval_s;
} entry;

/* User markets from the dataset's user features named "market=XX". */
static int build_markets(const trove_dataset *ds, uint32_t **market,
                         uint32_t *n_markets, char ***names)
{
    const trove_csr *uf = trove_dataset_user_features(ds);
    const trove_idmap *fn = trove_dataset_user_feature_names(ds);
    uint32_t nf = fn ? trove_idmap_size(fn) : 0, nm = 0;
    uint32_t *fmap = NULL, *um = NULL;
    char **nms = NULL;
    if (nf == 0 || uf == NULL || uf->nnz == 0)
        return 0;
    fmap = calloc(nf, sizeof *fmap);
    nms = calloc(nf, sizeof *nms);
    um = malloc((size_t)trove_dataset_n_users(ds) * sizeof *um);
    if (!fmap || !nms || !um)
        goto fail;
    for (uint32_t f = 0; f < nf; f++) {
        size_t len;
        const char *s = trove_idmap_name(fn, f, &len);
        fmap[f] = UINT32_MAX;
        if (s && len > 7 && memcmp(s, "market=", 7) == 0) {
            nms[nm] = strndup(s + 7, len - 7);
            if (nms[nm] == NULL)
                goto fail;
            fmap[f] = nm++;
        }
    }
    for (uint32_t u = 0; u < trove_dataset_n_users(ds); u++) {
        um[u] = UINT32_MAX;
        if (u >= uf->n_rows)
            continue;
        for (uint64_t q = uf->indptr[u]; q < uf->indptr[u + 1]; q++)
            if (uf->indices[q] < nf && fmap[uf->indices[q]] != UINT32_MAX) {
                um[u] = fmap[uf->indices[q]];
                break;
            }
    }
    free(fmap);
    if (nm == 0) {
        free(um);
        free(nms);
        return 0;
    }
    *market = um;
    *n_markets = nm;
    *names = nms;
    return 0;
fail:
    free(fmap);
    free(um);
    if (nms)
        for (uint32_t i = 0; i < nm; i++)
            free(nms[i]);
    free(nms);
    return -1;
}

static void print_table(FILE *f, const entry *e, size_t n, uint32_t k,
                        const char *baseline, int ci)
{
    static const int cols[] = {TROVE_METRIC_PRECISION, TROVE_METRIC_RECALL,
                               TROVE_METRIC_NDCG, TROVE_METRIC_MAP, TROVE_METRIC_MRR,
                               TROVE_METRIC_HIT_RATE, TROVE_METRIC_AUC};
    size_t w = 5;
    char h[32];
    for (size_t i = 0; i < n; i++)
        if (strlen(e[i].name) > w)
            w = strlen(e[i].name);
    fprintf(f, "%-*s", (int)w, "model");
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        const char *nm[] = {"P", "R", "NDCG", "MAP", "MRR", "HR", "AUC"};
        if (c == 4 || c == 6)
            snprintf(h, sizeof h, "%s", nm[c]);
        else
            snprintf(h, sizeof h, "%s@%u", nm[c], k);
        fprintf(f, "  %8s", h);
    }
    fprintf(f, "  %8s  %8s  %8s  %8s  %7s  %7s\n", "coverage", "top5", "gini",
            "novelty", "fit s", "eval s");
    for (size_t i = 0; i < n; i++) {
        const trove_eval_result *r = e[i].result;
        fprintf(f, "%-*s", (int)w, e[i].name);
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            fprintf(f, "  %8.4f", r->overall.mean[cols[c]]);
        fprintf(f, "  %8.4f  %8.4f  %8.4f  %8.3f  %7.2f  %7.2f\n", r->coverage,
                r->top5_share, r->gini, r->novelty, e[i].fit_s, e[i].eval_s);
    }
    if (ci) {
        fprintf(f, "\nvs %s (difference, 95%% interval, p):\n", baseline);
        for (size_t i = 0; i < n; i++) {
            if (!e[i].has_cmp)
                continue;
            fprintf(f, "%-*s", (int)w, e[i].name);
            for (int m = TROVE_METRIC_PRECISION; m <= TROVE_METRIC_NDCG; m += 2)
                fprintf(f, "  %s %+.4f [%+.4f, %+.4f] p=%.3g", m == 0 ? "P" : "NDCG",
                        e[i].cmp.diff[m], e[i].cmp.lo[m], e[i].cmp.hi[m],
                        e[i].cmp.p_value[m]);
            fprintf(f, "  AUC %+.4f p=%.3g\n", e[i].cmp.diff[TROVE_METRIC_AUC],
                    e[i].cmp.p_value[TROVE_METRIC_AUC]);
        }
    }
    fprintf(f, "\nLightFM definitions (ties against the positive): ");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s P@%u %.4f R@%u %.4f", i ? "; " : "", e[i].name, k,
                e[i].result->overall.mean[TROVE_METRIC_PRECISION_LFM], k,
                e[i].result->overall.mean[TROVE_METRIC_RECALL_LFM]);
    fputc('\n', f);
}

int cmd_evaluate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"train", required_argument, NULL, 't'},
        {"test", required_argument, NULL, 'T'},
        {"user-index", required_argument, NULL, 'U'},
        {"item-index", required_argument, NULL, 'I'},
        {"user-features", required_argument, NULL, 'u'},
        {"item-features", required_argument, NULL, 'i'},
        {"models", required_argument, NULL, 'm'},
        {"model", required_argument, NULL, 'M'},
        {"config", required_argument, NULL, 'C'},
        {"set", required_argument, NULL, 's'},
        {"save-dir", required_argument, NULL, 'D'},
        {"baseline", required_argument, NULL, 'b'},
        {"k", required_argument, NULL, 'k'},
        {"map-by-relevant", no_argument, NULL, 'R'},
        {"threads", required_argument, NULL, 'j'},
        {"bootstrap", required_argument, NULL, 'B'},
        {"seed", required_argument, NULL, 'S'},
        {"no-slices", no_argument, NULL, 'N'},
        {"json", no_argument, NULL, 'J'},
        {"report", required_argument, NULL, 'r'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *train_path = NULL, *test_path = NULL, *uidx = NULL, *iidx = NULL;
    const char *ufeat = NULL, *ifeat = NULL, *models = "popularity";
    const char *baseline = "popularity", *report = NULL, *save_dir = NULL;
    const char *model_files[MAX_MODELS];
    const char *sets[64];
    size_t n_files = 0, n_sets = 0, n = 0;
    int json = 0, verbose = 0, rc = CLI_EXIT_FAIL, c, base_idx = -1;
    long k = 10, threads = 1, boot = 1000;
    uint64_t seed = 42;
    trove_eval_params ep = trove_eval_default_params();
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *train = NULL;
    trove_csr test;
    trove_eval_load_stats st;
    trove_error err;
    entry *e = NULL;
    uint32_t *market = NULL, n_markets = 0;
    char **market_names = NULL;
    char *list = NULL, *cfg_list = NULL;
    const char *config_path = NULL;
    trove_tuned_config *cfg = NULL;
    int models_given = 0;

    memset(&test, 0, sizeof test);
    memset(&st, 0, sizeof st);
    trove_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:vh", opts, NULL)) != -1) {
        switch (c) {
        case 't': train_path = optarg; break;
        case 'T': test_path = optarg; break;
        case 'U': uidx = optarg; break;
        case 'I': iidx = optarg; break;
        case 'u': ufeat = optarg; break;
        case 'i': ifeat = optarg; break;
        case 'm': models = optarg; models_given = 1; break;
        case 'C': config_path = optarg; break;
        case 'M':
            if (n_files == MAX_MODELS)
                return cli_usage_error(CMD, "at most %d --model files", MAX_MODELS);
            model_files[n_files++] = optarg;
            break;
        case 's':
            if (n_sets == sizeof sets / sizeof sets[0])
                return cli_usage_error(CMD, "too many --set options");
            if (strchr(optarg, '.') == NULL || strchr(optarg, '=') == NULL)
                return cli_usage_error(CMD, "--set wants FAMILY.KEY=VALUE, got '%s'", optarg);
            sets[n_sets++] = optarg;
            break;
        case 'D': save_dir = optarg; break;
        case 'b': baseline = optarg; break;
        case 'k':
            if (cli_parse_long(optarg, 1, 100000, &k) != 0)
                return cli_usage_error(CMD, "-k wants a number in 1..100000, got '%s'", optarg);
            break;
        case 'R': ep.map_denominator = TROVE_MAP_BY_RELEVANT; break;
        case 'j':
            if (cli_parse_long(optarg, 1, 256, &threads) != 0)
                return cli_usage_error(CMD, "--threads wants 1..256, got '%s'", optarg);
            break;
        case 'B':
            if (cli_parse_long(optarg, 0, 1000000, &boot) != 0)
                return cli_usage_error(CMD, "--bootstrap wants 0..1000000, got '%s'", optarg);
            break;
        case 'S':
            if (cli_parse_u64(optarg, &seed) != 0)
                return cli_usage_error(CMD, "--seed wants a number, got '%s'", optarg);
            break;
        case 'N': ep.slices = 0; break;
        case 'J': json = 1; break;
        case 'r': report = optarg; break;
        case 'v': verbose++; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (train_path == NULL || test_path == NULL)
        return cli_usage_error(CMD, "--train and --test are required");
    cli_setup_log(verbose);

    /* tuned settings: their families come first, --models adds to them */
    if (config_path != NULL) {
        size_t len = 1;
        if (trove_tuned_config_load(config_path, &cfg, &err) != TROVE_OK)
            goto fail;
        for (size_t m = 0; m < cfg->n_models; m++)
            len += strlen(cfg->models[m].family) + 1;
        len += models_given ? strlen(models) + 1 : 0;
        if ((cfg_list = calloc(1, len)) == NULL) {
            trove_error_set(&err, TROVE_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t m = 0; m < cfg->n_models; m++) {
            strcat(cfg_list, m ? "," : "");
            strcat(cfg_list, cfg->models[m].family);
        }
        if (models_given) {
            strcat(cfg_list, ",");
            strcat(cfg_list, models);
        }
        models = cfg_list;
    }

    /* before any training: a directory that cannot be made fails at once */
    if (save_dir != NULL && cli_mkdirs(save_dir, &err) != TROVE_OK)
        goto fail;

    /* data */
    if (uidx && trove_idmap_load_spec(uidx, &users, &err) != TROVE_OK)
        goto fail;
    if (iidx && trove_idmap_load_spec(iidx, &items, &err) != TROVE_OK)
        goto fail;
    {
        trove_pairs_options po = {users, items, ufeat, ifeat};
        double t0 = cli_now();
        if (trove_dataset_load_pairs(train_path, &po, &train, &err) != TROVE_OK)
            goto fail;
        trove_log(TROVE_LOG_INFO, "train: %u users x %u items, %llu pairs (%.2f s)",
                  trove_dataset_n_users(train), trove_dataset_n_items(train),
                  (unsigned long long)trove_dataset_nnz(train), cli_now() - t0);
    }
    if (trove_eval_load_pairs(test_path, trove_dataset_user_ids(train),
                              trove_dataset_item_ids(train), &test, &st, &err) != TROVE_OK)
        goto fail;
    if (st.unknown_user || st.unknown_item)
        trove_log(TROVE_LOG_WARN, "%s: %llu test pairs with a user and %llu with an item "
                  "outside the training universe were skipped", test_path,
                  (unsigned long long)st.unknown_user, (unsigned long long)st.unknown_item);
    if (st.pairs == 0) {
        trove_error_set(&err, TROVE_EEMPTY, "%s: no test pair to evaluate (%llu lines, "
                        "%llu unknown users, %llu unknown items)", test_path,
                        (unsigned long long)st.lines, (unsigned long long)st.unknown_user,
                        (unsigned long long)st.unknown_item);
        goto fail;
    }
    if ((uint64_t)k > trove_dataset_n_items(train)) {
        trove_error_set(&err, TROVE_EINVAL, "k = %ld is larger than the catalog (%u items)",
                        k, trove_dataset_n_items(train));
        goto fail;
    }
    if (build_markets(train, &market, &n_markets, &market_names) != 0) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        goto fail;
    }

    /* the list of models: families, then files; the baseline is added */
    e = calloc(MAX_MODELS + 1, sizeof *e);
    list = strdup(models);
    if (e == NULL || list == NULL) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        goto fail;
    }
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*tok == '\0')
            continue;
        if (n == MAX_MODELS) {
            rc = cli_usage_error(CMD, "at most %d models", MAX_MODELS);
            goto out;
        }
        snprintf(e[n++].name, sizeof e[0].name, "%s", tok);
    }
    for (size_t i = 0; i <= n; i++) {
        const char *want = i < n ? e[i].name : baseline;
        const char *const *fams = trove_recommender_families();
        int known = 0;
        char all[512] = "";
        for (size_t f = 0; fams[f]; f++) {
            known |= strcmp(fams[f], want) == 0;
            strncat(all, f ? ", " : "", sizeof all - strlen(all) - 1);
            strncat(all, fams[f], sizeof all - strlen(all) - 1);
        }
        if (!known) {
            rc = cli_usage_error(CMD, "unknown model family '%s' (known: %s)", want, all);
            goto out;
        }
    }
    {
        int found = 0;
        for (size_t i = 0; i < n; i++)
            found |= strcmp(e[i].name, baseline) == 0;
        if (!found)
            snprintf(e[n++].name, sizeof e[0].name, "%s", baseline);
    }
    for (size_t i = 0; i < n; i++) {
        trove_reco_params rp = trove_reco_default_params();
        size_t flen = strlen(e[i].name);
        double t0;
        for (size_t m = 0; cfg != NULL && m < cfg->n_models; m++)
            if (strcmp(cfg->models[m].family, e[i].name) == 0)
                rp = cfg->models[m].settings;
        rp.threads = (int)threads;
        for (size_t s = 0; s < n_sets; s++)
            if (strncmp(sets[s], e[i].name, flen) == 0 && sets[s][flen] == '.' &&
                trove_reco_params_set(&rp, sets[s] + flen + 1, &err) != TROVE_OK)
                goto fail;
        t0 = cli_now();
        trove_log(TROVE_LOG_INFO, "fitting %s", e[i].name);
        if (trove_recommender_fit(e[i].name, &rp, train, &e[i].reco, &err) != TROVE_OK)
            goto fail;
        e[i].fit_s = cli_now() - t0;
        if (save_dir != NULL) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.trove", save_dir, e[i].name);
            if (trove_recommender_save(e[i].reco, path, &err) != TROVE_OK ||
                cli_write_side_ids(path, train, &err) != TROVE_OK)
                goto fail;
        }
    }
    for (size_t f = 0; f < n_files; f++) {
        const char *base = strrchr(model_files[f], '/');
        if (trove_recommender_load(model_files[f], &e[n].reco, &err) != TROVE_OK)
            goto fail;
        snprintf(e[n].name, sizeof e[0].name, "%s:%s",
                 trove_recommender_family(e[n].reco), base ? base + 1 : model_files[f]);
        n++;
        if (trove_recommender_n_users(e[n - 1].reco) != trove_dataset_n_users(train) ||
            trove_recommender_n_items(e[n - 1].reco) != trove_dataset_n_items(train)) {
            trove_error_set(&err, TROVE_EINVAL, "%s: model is %u users x %u items, the "
                            "data %u x %u (use the same --user-index/--item-index)",
                            model_files[f], trove_recommender_n_users(e[n - 1].reco),
                            trove_recommender_n_items(e[n - 1].reco),
                            trove_dataset_n_users(train), trove_dataset_n_items(train));
            goto fail;
        }
    }

    /* evaluation */
    ep.k = (uint32_t)k;
    ep.threads = (int)threads;
    ep.bootstrap = (uint32_t)boot;
    ep.seed = seed;
    ep.user_market = market;
    ep.n_markets = n_markets;
    ep.market_names = (const char *const *)market_names;
    for (size_t i = 0; i < n; i++) {
        trove_scorer sc = trove_scorer_from_recommender(e[i].reco);
        double t0 = cli_now();
        if (trove_eval_run(&sc, trove_dataset_interactions(train), &test, &ep,
                           &e[i].result, &err) != TROVE_OK) {
            trove_error_prefix(&err, "%s", e[i].name);
            goto fail;
        }
        e[i].eval_s = cli_now() - t0;
        trove_log(TROVE_LOG_INFO, "evaluated %s (%.3f s)", e[i].name, e[i].eval_s);
        if (strcmp(e[i].name, baseline) == 0)
            base_idx = (int)i;
    }
    if (e[0].result->n_test_in_train)
        trove_log(TROVE_LOG_WARN, "%llu test pairs are also train pairs and were ignored",
                  (unsigned long long)e[0].result->n_test_in_train);
    for (size_t i = 0; i < n && base_idx >= 0; i++) {
        if ((int)i == base_idx)
            continue;
        if (trove_eval_compare(e[i].result, e[base_idx].result, ep.bootstrap ? ep.bootstrap : 1000,
                               0.95, seed, &e[i].cmp, &err) != TROVE_OK)
            goto fail;
        e[i].has_cmp = 1;
    }

    {
        trove_eval_report_model rm[MAX_MODELS + 1];
        trove_eval_report_info info;
        memset(&info, 0, sizeof info);
        info.title = test_path;
        info.train_path = train_path;
        info.test_path = test_path;
        info.baseline = baseline;
        info.n_users = trove_dataset_n_users(train);
        info.n_items = trove_dataset_n_items(train);
        info.n_train_pairs = trove_dataset_nnz(train);
        info.test_stats = st;
        info.bootstrap = ep.bootstrap;
        info.ci_level = ep.ci_level;
        for (size_t i = 0; i < n; i++) {
            rm[i].name = e[i].name;
            rm[i].result = e[i].result;
            rm[i].vs_base = e[i].has_cmp ? &e[i].cmp : NULL;
            rm[i].fit_seconds = e[i].fit_s;
            rm[i].eval_seconds = e[i].eval_s;
        }
        if (json) {
            if (trove_eval_report_json(stdout, &info, rm, n, &err) != TROVE_OK)
                goto fail;
        } else {
            printf("%s: %u users evaluated, %llu test pairs (%llu skipped: unknown user %llu, "
                   "unknown item %llu; %llu also in train)\n\n", test_path,
                   e[0].result->n_users, (unsigned long long)e[0].result->n_relevant,
                   (unsigned long long)(st.unknown_user + st.unknown_item +
                                        e[0].result->n_test_in_train),
                   (unsigned long long)st.unknown_user, (unsigned long long)st.unknown_item,
                   (unsigned long long)e[0].result->n_test_in_train);
            print_table(stdout, e, n, (uint32_t)k, baseline, ep.bootstrap > 0);
        }
        if (report != NULL) {
            if (trove_eval_report_html(report, &info, rm, n, &err) != TROVE_OK)
                goto fail;
            trove_log(TROVE_LOG_INFO, "report written to %s", report);
        }
    }
    rc = CLI_EXIT_OK;
    goto out;
fail:
    rc = cli_fail(CMD, &err);
out:
    for (size_t i = 0; e != NULL && i < MAX_MODELS + 1; i++) {
        trove_recommender_free(e[i].reco);
        trove_eval_result_free(e[i].result);
    }
    free(e);
    free(list);
    free(cfg_list);
    trove_tuned_config_free(cfg);
    free(market);
    for (uint32_t i = 0; market_names && i < n_markets; i++)
        free(market_names[i]);
    free(market_names);
    trove_csr_destroy(&test);
    trove_dataset_free(train);
    trove_idmap_free(users);
    trove_idmap_free(items);
    return rc;
}
