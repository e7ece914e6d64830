/*
 * cmd_tune.c - `trove tune`: hyperparameter search (trove/tune.h) on a
 * validation split carved from the training file, a leaderboard, the chosen
 * settings per family, and the tuned-settings file for `trove evaluate
 * --config`.
 */
#include "cli.h"
#include "trove/tune.h"
#include "trove/tuned.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD "tune"
#define MAX_FAMILIES 32

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove tune --train FILE [options]\n\n"
        "Search the settings of each model family on a validation split carved from\n"
        "the training pairs only (a random share of each user's items), choose by one\n"
        "metric within a time budget, print the leaderboard and the chosen settings,\n"
        "and write them for `trove evaluate --config`.\n\n"
        "options:\n"
        "  --train FILE          training pairs (required; user<TAB>item, plain or gzip)\n"
        "  --user-index SPEC     user universe: index file or A..B\n"
        "  --item-index SPEC     item universe, likewise\n"
        "  --user-features FILE  user features (hybrid families)\n"
        "  --item-features FILE  item features (hybrid families, content)\n"
        "  --models LIST         families to search (default: ease,ials,rp3beta,\n"
        "                        itemknn,blend); 'blend' mixes the best of the others\n"
        "  --metric NAME         ndcg@K, precision@K, recall@K, map@K, hit_rate@K, mrr,\n"
        "                        auc (default ndcg@10)\n"
        "  --budget TIME         wall-clock budget: seconds, or with s/m/h (default 300s)\n"
        "  --strategy S          grid or random (default grid)\n"
        "  --trials N            at most N settings per family (default: the whole\n"
        "                        grid; 20 for random)\n"
        "  --valid-fraction F    share of each user's train items held out (default 0.2)\n"
        "  --seed S              validation carving and random draws (default 42)\n"
        "  --threads N           threads for fitting and scoring (default 1)\n"
        "  --out FILE            write the chosen settings (YAML) to FILE\n"
        "  --top N               leaderboard rows to print (default 20; 0 = all)\n"
        "  --json                print one JSON object instead of the tables\n"
        "  -v, --verbose         progress on stderr\n"
        "  -h, --help            this help\n\n"
        "Exit status: 0 success, 1 failure (including a budget too small for one\n"
        "configuration), 2 usage error.\n");
}

/* "300", "300s", "5m", "1.5h" -> seconds; -1 if malformed. */
static double parse_budget(const char *s)
{
    char *end;
    double v = strtod(s, &end), mul = 1.0;
    if (end == s || !isfinite(v))
        return -1.0;
    if (*end == 's')
        end++;
    else if (*end == 'm') {
        mul = 60.0;
        end++;
    } else if (*end == 'h') {
        mul = 3600.0;
        end++;
    }
    return *end == '\0' ? v * mul : -1.0;
}

static void print_json(const trove_tune_result *r, const trove_tuned_config *c,
                       const char *out)
{
    char label[32], txt[2048];
    trove_tune_metric_label(r->metric, r->k, label, sizeof label);
    printf("{\"metric\":");
    cli_json_string(stdout, label);
    printf(",\"seconds\":%.3f,\"budget_exhausted\":%s,\"skipped\":%zu,"
           "\"valid_users\":%u,\"valid_pairs\":%llu,\"best\":", r->seconds,
           r->budget_exhausted ? "true" : "false", r->n_skipped, r->n_valid_users,
           (unsigned long long)r->n_valid_pairs);
    cli_json_string(stdout, c->best);
    printf(",\"out\":");
    if (out)
        cli_json_string(stdout, out);
    else
        printf("null");
    printf(",\"trials\":[");
    for (size_t i = 0; i < r->n_trials; i++) {
        const trove_tune_trial *t = &r->trials[i];
        trove_tune_settings_text(&t->settings, txt, sizeof txt);
        printf("%s{\"rank\":%zu,\"family\":", i ? "," : "", i + 1);
        cli_json_string(stdout, t->family);
        printf(",\"settings\":");
        cli_json_string(stdout, txt);
        if (t->status == TROVE_OK) {
            printf(",\"score\":%.6f", t->score);
            for (int m = TROVE_METRIC_PRECISION; m <= TROVE_METRIC_MAP; m++)
                printf(",\"%s\":%.6f", trove_metric_name(m), t->metrics[m]);
        } else {
            printf(",\"error\":");
            cli_json_string(stdout, t->message);
        }
        printf(",\"fit_seconds\":%.3f,\"eval_seconds\":%.3f}", t->fit_seconds,
               t->eval_seconds);
    }
    printf("]}\n");
}

static void print_tables(const trove_tune_result *r, const trove_tuned_config *c,
                         size_t top, const char *out)
{
    char label[32], txt[2048];
    size_t n = top && top < r->n_trials ? top : r->n_trials;
    trove_tune_metric_label(r->metric, r->k, label, sizeof label);
    printf("validation: %u users, %llu held-out pairs; %zu trials in %.1f s%s",
           r->n_valid_users, (unsigned long long)r->n_valid_pairs, r->n_trials,
           r->seconds, r->budget_exhausted ? " (budget reached" : "");
    if (r->budget_exhausted)
        printf(", %zu not tried)", r->n_skipped);
    printf("\n\nleaderboard (%s on validation, best first):\n", label);
    printf("%4s  %-9s  %10s  %8s  %8s  %8s  %8s  %7s  settings\n", "rank", "family",
           label, "P@k", "R@k", "NDCG@k", "MAP@k", "time s");
    for (size_t i = 0; i < n; i++) {
        const trove_tune_trial *t = &r->trials[i];
        trove_tune_settings_text(&t->settings, txt, sizeof txt);
        if (t->status != TROVE_OK) {
            printf("%4zu  %-9s  %10s  %44s  %7.2f  %s (%s)\n", i + 1, t->family, "failed",
                   "", t->fit_seconds + t->eval_seconds, txt, t->message);
            continue;
        }
        printf("%4zu  %-9s  %10.5f  %8.5f  %8.5f  %8.5f  %8.5f  %7.2f  %s\n", i + 1,
               t->family, t->score, t->metrics[TROVE_METRIC_PRECISION],
               t->metrics[TROVE_METRIC_RECALL], t->metrics[TROVE_METRIC_NDCG],
               t->metrics[TROVE_METRIC_MAP], t->fit_seconds + t->eval_seconds, txt);
    }
    if (n < r->n_trials)
        printf("  ... %zu more (--top 0 shows all)\n", r->n_trials - n);
    printf("\nchosen settings per family (best first):\n");
    for (size_t m = 0; m < c->n_models; m++) {
        trove_tune_settings_text(&c->models[m].settings, txt, sizeof txt);
        printf("  %-9s %s %.5f  %s%s\n", c->models[m].family, label,
               c->models[m].valid_score, txt[0] ? txt : "(defaults)",
               strcmp(c->models[m].family, c->best) == 0 ? "   <- best" : "");
    }
    if (out)
        printf("\nwritten to %s (trove evaluate --config %s)\n", out, out);
}

int cmd_tune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"train", required_argument, NULL, 't'},
        {"user-index", required_argument, NULL, 'U'},
        {"item-index", required_argument, NULL, 'I'},
        {"user-features", required_argument, NULL, 'u'},
        {"item-features", required_argument, NULL, 'i'},
        {"models", required_argument, NULL, 'm'},
        {"metric", required_argument, NULL, 'M'},
        {"budget", required_argument, NULL, 'b'},
        {"strategy", required_argument, NULL, 's'},
        {"trials", required_argument, NULL, 'n'},
        {"valid-fraction", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'S'},
        {"threads", required_argument, NULL, 'j'},
        {"out", required_argument, NULL, 'o'},
        {"top", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'J'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *train_path = NULL, *uidx = NULL, *iidx = NULL, *ufeat = NULL;
    const char *ifeat = NULL, *models = "ease,ials,rp3beta,itemknn,blend", *out = NULL;
    const char *fams[MAX_FAMILIES + 1];
    trove_tune_params tp = trove_tune_default_params();
    trove_tune_result *res = NULL;
    trove_tuned_config *cfg = NULL;
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *train = NULL;
    trove_error err;
    char *list = NULL;
    size_t n_fams = 0;
    long trials = 0, threads = 1, top = 20;
    int json = 0, verbose = 0, rc = CLI_EXIT_FAIL, c;

    trove_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 't': train_path = optarg; break;
        case 'U': uidx = optarg; break;
        case 'I': iidx = optarg; break;
        case 'u': ufeat = optarg; break;
        case 'i': ifeat = optarg; break;
        case 'm': models = optarg; break;
        case 'M':
            if (trove_tune_parse_metric(optarg, &tp.metric, &tp.k, &err) != TROVE_OK)
                return cli_usage_error(CMD, "%s", err.msg);
            break;
        case 'b':
            tp.budget_seconds = parse_budget(optarg);
            if (!(tp.budget_seconds > 0.0))
                return cli_usage_error(CMD, "--budget wants a positive time such as 300, "
                                       "300s or 5m, got '%s'", optarg);
            break;
        case 's':
            if (strcmp(optarg, "grid") == 0)
                tp.strategy = TROVE_TUNE_GRID;
            else if (strcmp(optarg, "random") == 0)
                tp.strategy = TROVE_TUNE_RANDOM;
            else
                return cli_usage_error(CMD, "--strategy wants grid or random, got '%s'",
                                       optarg);
            break;
        case 'n':
            if (cli_parse_long(optarg, 1, 100000, &trials) != 0)
                return cli_usage_error(CMD, "--trials wants 1..100000, got '%s'", optarg);
            break;
        case 'f':
            if (cli_parse_double(optarg, &tp.valid_fraction) != 0 ||
                !(tp.valid_fraction > 0.0 && tp.valid_fraction < 1.0))
                return cli_usage_error(CMD, "--valid-fraction wants a number in (0, 1), "
                                       "got '%s'", optarg);
            break;
        case 'S':
            if (cli_parse_u64(optarg, &tp.seed) != 0)
                return cli_usage_error(CMD, "--seed wants a number, got '%s'", optarg);
            break;
        case 'j':
            if (cli_parse_long(optarg, 1, 256, &threads) != 0)
                return cli_usage_error(CMD, "--threads wants 1..256, got '%s'", optarg);
            break;
        case 'o': out = optarg; break;
        case 'T':
            if (cli_parse_long(optarg, 0, 1000000, &top) != 0)
                return cli_usage_error(CMD, "--top wants a number >= 0, got '%s'", optarg);
            break;
        case 'J': json = 1; break;
        case 'v': verbose++; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (train_path == NULL)
        return cli_usage_error(CMD, "--train is required");
    list = strdup(models);
    if (list == NULL) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        goto fail;
    }
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*tok == '\0')
            continue;
        if (n_fams == MAX_FAMILIES) {
            rc = cli_usage_error(CMD, "at most %d families", MAX_FAMILIES);
            goto out;
        }
        fams[n_fams++] = tok;
    }
    fams[n_fams] = NULL;
    if (n_fams == 0) {
        rc = cli_usage_error(CMD, "--models lists no family");
        goto out;
    }
    for (size_t i = 0; i < n_fams; i++) {
        const char *const *known = trove_recommender_families();
        int ok = 0;
        char all[512] = "";
        for (size_t k = 0; known[k]; k++) {
            ok |= strcmp(known[k], fams[i]) == 0;
            strncat(all, k ? ", " : "", sizeof all - strlen(all) - 1);
            strncat(all, known[k], sizeof all - strlen(all) - 1);
        }
        if (!ok) {
            rc = cli_usage_error(CMD, "unknown model family '%s' (known: %s)", fams[i], all);
            goto out;
        }
    }
    tp.families = fams;
    tp.max_trials = (uint32_t)trials;
    tp.threads = (int)threads;
    cli_setup_log(verbose);

    if (uidx && trove_idmap_load_spec(uidx, &users, &err) != TROVE_OK)
        goto fail;
    if (iidx && trove_idmap_load_spec(iidx, &items, &err) != TROVE_OK)
        goto fail;
    {
        trove_pairs_options po = {users, items, ufeat, ifeat};
        if (trove_dataset_load_pairs(train_path, &po, &train, &err) != TROVE_OK)
            goto fail;
    }
    if (trove_tune_run(train, &tp, &res, &err) != TROVE_OK)
        goto fail;
    if (trove_tune_result_config(res, &tp, &cfg, &err) != TROVE_OK)
        goto fail;
    if (out != NULL && trove_tuned_config_save(cfg, out, &err) != TROVE_OK)
        goto fail;
    if (json)
        print_json(res, cfg, out);
    else
        print_tables(res, cfg, (size_t)top, out);
    rc = CLI_EXIT_OK;
    goto out;
fail:
    rc = cli_fail(CMD, &err);
out:
    trove_tuned_config_free(cfg);
    trove_tune_result_free(res);
    trove_dataset_free(train);
    trove_idmap_free(users);
    trove_idmap_free(items);
    free(list);
    return rc;
}
