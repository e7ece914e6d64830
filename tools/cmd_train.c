/*
 * cmd_train.c - `trove train`: fit the hybrid factorization model on a
 * pairs file (optionally with a fixed id universe and feature files) and
 * write the model file, reporting progress per epoch on stderr.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <string.h>

#define CMD "train"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove train --train FILE --out MODEL [options]\n\n"
        "Fit the hybrid factorization model (LightFM-class) on the user<TAB>item\n"
        "pairs of FILE and write it to MODEL.\n\n"
        "data:\n"
        "  --train FILE          training pairs (plain or gzip)\n"
        "  --user-index SPEC     fixed user universe: index file or range A..B\n"
        "  --item-index SPEC     fixed item universe (items without positives are\n"
        "                        still ranked)\n"
        "  --user-features FILE  raw_id<TAB>feature[<TAB>weight] lines for users\n"
        "  --item-features FILE  the same for items\n"
        "  --no-user-identity    users are only the sum of their features\n"
        "  --no-item-identity    items are only the sum of their features\n"
        "  --cold-items MODE     none (default) or mean: items without training\n"
        "                        interactions take the mean identity embedding\n"
        "model:\n"
        "  --loss NAME           warp (default), bpr, logistic, warp-kos\n"
        "  --dim N               embedding dimension (default 64)\n"
        "  --epochs N            epochs (default 30)\n"
        "  --lr X                learning rate (default 0.05)\n"
        "  --schedule NAME       adagrad (default), adagrad-rowwise (one accumulator\n"
        "                        per embedding row) or adadelta\n"
        "  --rho X --epsilon X   adadelta parameters (0.95, 1e-6)\n"
        "  --item-alpha X        L2 penalty on item parameters (default 0)\n"
        "  --user-alpha X        L2 penalty on user parameters (default 0)\n"
        "  --max-sampled N       WARP negatives per positive (default 10)\n"
        "  --k N --n N           k-OS: k-th of n sampled positives (5, 10)\n"
        "run:\n"
        "  --threads N           training threads (default 1)\n"
        "  --thread-schedule S   blocks (default: a grid of user and item blocks\n"
        "                        the threads take as they come free) or hogwild\n"
        "                        (docs/model.md, Two threads)\n"
        "  --seed S              random seed (default 42)\n"
        "  --out MODEL           model file to write (atomically)\n"
        "  -q, --quiet           no per-epoch progress\n"
        "  --json                print a JSON summary on stdout\n"
        "  -h, --help            this help\n");
}

typedef struct progress_state {
    int quiet;
} progress_state;

static void on_progress(void *ud, const trove_model_progress *p)
{
    progress_state *s = ud;
    if (s->quiet)
        return;
    fprintf(stderr, "epoch %3u/%u  loss %.5f  %8.0f examples/s  %6.3f s  eta %.1f s\n",
            p->epoch, p->n_epochs, p->loss, p->examples_per_sec, p->seconds, p->eta_seconds);
}

static int parse_u32(const char *s, long min, long max, uint32_t *out)
{
    long v;
    if (cli_parse_long(s, min, max, &v) != 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    double v;
    if (cli_parse_double(s, &v) != 0 || !isfinite(v) || fabs(v) > 3e38)
        return -1;
    *out = (float)v;
    return 0;
}

int cmd_train_store(int argc, char **argv);   /* cmd_train_store.c: --store mode */

int cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--store") == 0 || strncmp(argv[i], "--store=", 8) == 0)
            return cmd_train_store(argc, argv);
    enum {
        O_TRAIN = 1000, O_UIDX, O_IIDX, O_UFEAT, O_IFEAT, O_NOUID, O_NOIID, O_COLD, O_LOSS,
        O_DIM, O_EPOCHS, O_LR, O_SCHED, O_RHO, O_EPS, O_IALPHA, O_UALPHA, O_MAXS, O_K, O_N,
        O_THREADS, O_TSCHED, O_SEED, O_OUT, O_JSON
    };
    static const struct option opts[] = {
        {"train", required_argument, NULL, O_TRAIN},
        {"user-index", required_argument, NULL, O_UIDX},
        {"item-index", required_argument, NULL, O_IIDX},
        {"user-features", required_argument, NULL, O_UFEAT},
        {"item-features", required_argument, NULL, O_IFEAT},
        {"no-user-identity", no_argument, NULL, O_NOUID},
        {"no-item-identity", no_argument, NULL, O_NOIID},
        {"cold-items", required_argument, NULL, O_COLD},
        {"loss", required_argument, NULL, O_LOSS},
        {"dim", required_argument, NULL, O_DIM},
        {"epochs", required_argument, NULL, O_EPOCHS},
        {"lr", required_argument, NULL, O_LR},
        {"schedule", required_argument, NULL, O_SCHED},
        {"rho", required_argument, NULL, O_RHO},
        {"epsilon", required_argument, NULL, O_EPS},
        {"item-alpha", required_argument, NULL, O_IALPHA},
        {"user-alpha", required_argument, NULL, O_UALPHA},
        {"max-sampled", required_argument, NULL, O_MAXS},
        {"k", required_argument, NULL, O_K},
        {"n", required_argument, NULL, O_N},
        {"threads", required_argument, NULL, O_THREADS},
        {"thread-schedule", required_argument, NULL, O_TSCHED},
        {"seed", required_argument, NULL, O_SEED},
        {"out", required_argument, NULL, O_OUT},
        {"quiet", no_argument, NULL, 'q'},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    trove_model_params p = trove_model_default_params();
    const char *train = NULL, *uidx = NULL, *iidx = NULL, *ufeat = NULL, *ifeat = NULL;
    const char *out = NULL;
    uint32_t epochs = 30;
    int json = 0, c, rc = CLI_EXIT_FAIL;
    progress_state ps = {0};
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *ds = NULL;
    trove_model *m = NULL;
    trove_error err;
    double t0;

    p.loss = TROVE_LOSS_WARP;
    p.no_components = 64;
    p.seed = 42;
    trove_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case O_TRAIN: train = optarg; break;
        case O_UIDX: uidx = optarg; break;
        case O_IIDX: iidx = optarg; break;
        case O_UFEAT: ufeat = optarg; break;
        case O_IFEAT: ifeat = optarg; break;
        case O_NOUID: p.user_identity = 0; break;
        case O_NOIID: p.item_identity = 0; break;
        case O_COLD:
            if (strcmp(optarg, "mean") == 0)
                p.item_cold_fallback = TROVE_COLD_MEAN;
            else if (strcmp(optarg, "none") == 0)
                p.item_cold_fallback = TROVE_COLD_NONE;
            else
                return cli_usage_error(CMD, "--cold-items must be none or mean, got '%s'", optarg);
            break;
        case O_LOSS:
            if (trove_loss_parse(optarg, &p.loss) != TROVE_OK)
                return cli_usage_error(CMD, "unknown loss '%s' (warp, bpr, logistic, warp-kos)",
                                       optarg);
            break;
        case O_DIM:
            if (parse_u32(optarg, 1, 4096, &p.no_components) != 0)
                return cli_usage_error(CMD, "--dim must be an integer in 1..4096, got '%s'",
                                       optarg);
            break;
        case O_EPOCHS:
            if (parse_u32(optarg, 0, 1000000, &epochs) != 0)
                return cli_usage_error(CMD, "--epochs must be an integer in 0..1000000, got '%s'",
                                       optarg);
            break;
        case O_LR:
            if (parse_float(optarg, &p.learning_rate) != 0)
                return cli_usage_error(CMD, "--lr must be a number, got '%s'", optarg);
            break;
        case O_SCHED:
            if (trove_schedule_parse(optarg, &p.learning_schedule) != TROVE_OK)
                return cli_usage_error(CMD, "unknown schedule '%s' (adagrad, adagrad-rowwise, adadelta)", optarg);
            break;
        case O_RHO:
            if (parse_float(optarg, &p.rho) != 0)
                return cli_usage_error(CMD, "--rho must be a number, got '%s'", optarg);
            break;
        case O_EPS:
            if (parse_float(optarg, &p.epsilon) != 0)
                return cli_usage_error(CMD, "--epsilon must be a number, got '%s'", optarg);
            break;
        case O_IALPHA:
            if (parse_float(optarg, &p.item_alpha) != 0)
                return cli_usage_error(CMD, "--item-alpha must be a number, got '%s'", optarg);
            break;
        case O_UALPHA:
            if (parse_float(optarg, &p.user_alpha) != 0)
                return cli_usage_error(CMD, "--user-alpha must be a number, got '%s'", optarg);
            break;
        case O_MAXS:
            if (parse_u32(optarg, 1, 1000000, &p.max_sampled) != 0)
                return cli_usage_error(CMD, "--max-sampled must be in 1..1000000, got '%s'",
                                       optarg);
            break;
        case O_K:
            if (parse_u32(optarg, 1, 100000, &p.k) != 0)
                return cli_usage_error(CMD, "--k must be in 1..100000, got '%s'", optarg);
            break;
        case O_N:
            if (parse_u32(optarg, 1, 100000, &p.n) != 0)
                return cli_usage_error(CMD, "--n must be in 1..100000, got '%s'", optarg);
            break;
        case O_THREADS:
            if (parse_u32(optarg, 1, 256, &p.num_threads) != 0)
                return cli_usage_error(CMD, "--threads must be in 1..256, got '%s'", optarg);
            break;
        case O_TSCHED:
            if (strcmp(optarg, "blocks") == 0)
                p.thread_schedule = TROVE_THREADS_BLOCKS;
            else if (strcmp(optarg, "hogwild") == 0)
                p.thread_schedule = TROVE_THREADS_HOGWILD;
            else
                return cli_usage_error(CMD, "--thread-schedule must be blocks or "
                                       "hogwild, got '%s'", optarg);
            break;
        case O_SEED:
            if (cli_parse_u64(optarg, &p.seed) != 0)
                return cli_usage_error(CMD, "--seed must be a non-negative integer, got '%s'",
                                       optarg);
            break;
        case O_OUT: out = optarg; break;
        case 'q': ps.quiet = 1; break;
        case O_JSON: json = 1; break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (train == NULL)
        return cli_usage_error(CMD, "--train FILE is required");
    if (out == NULL)
        return cli_usage_error(CMD, "--out MODEL is required");
    if (trove_model_check_params(&p, &err) != TROVE_OK)
        return cli_usage_error(CMD, "%s", err.msg);
    cli_setup_log(0);
    p.progress = on_progress;
    p.progress_ud = &ps;

    if (uidx && trove_idmap_load_spec(uidx, &users, &err) != TROVE_OK)
        goto fail;
    if (iidx && trove_idmap_load_spec(iidx, &items, &err) != TROVE_OK)
        goto fail;
    {
        trove_pairs_options po = {users, items, ufeat, ifeat};
        if (trove_dataset_load_pairs(train, &po, &ds, &err) != TROVE_OK)
            goto fail;
    }
    {
        const trove_csr *x = trove_dataset_interactions(ds);
        const trove_csr *uf = ufeat ? trove_dataset_user_features(ds) : NULL;
        const trove_csr *itf = ifeat ? trove_dataset_item_features(ds) : NULL;
        if (x->nnz == 0) {
            trove_error_set(&err, TROVE_EEMPTY, "%s: no interactions to train on", train);
            goto fail;
        }
        if (trove_model_new(&p, uf ? uf->n_cols : 0, itf ? itf->n_cols : 0, &m, &err) != TROVE_OK)
            goto fail;
        if (!ps.quiet)
            fprintf(stderr, "training %s d=%u on %llu interactions (%u users x %u items), "
                    "%u thread%s\n", trove_loss_name(p.loss), p.no_components,
                    (unsigned long long)x->nnz, x->n_rows, x->n_cols, p.num_threads,
                    p.num_threads == 1 ? "" : "s");
        t0 = cli_now();
        if (trove_model_fit(m, x, uf, itf, epochs, &err) != TROVE_OK)
            goto fail;
        if (trove_model_set_ids(m, trove_dataset_user_ids(ds), trove_dataset_item_ids(ds),
                                uf ? trove_dataset_user_feature_names(ds) : NULL,
                                itf ? trove_dataset_item_feature_names(ds) : NULL,
                                &err) != TROVE_OK)
            goto fail;
        if (trove_model_save(m, out, &err) != TROVE_OK)
            goto fail;
        double secs = cli_now() - t0;
        if (json) {
            printf("{\"model\":");
            cli_json_string(stdout, out);
            printf(",\"loss\":\"%s\",\"dim\":%u,\"epochs\":%u,\"users\":%u,\"items\":%u,"
                   "\"interactions\":%llu,\"threads\":%u,\"seconds\":%.3f,"
                   "\"fingerprint\":\"%016llx\"}\n",
                   trove_loss_name(p.loss), p.no_components, epochs, x->n_rows, x->n_cols,
                   (unsigned long long)x->nnz, p.num_threads, secs,
                   (unsigned long long)trove_model_data_fingerprint(m));
        } else if (!ps.quiet) {
            fprintf(stderr, "wrote %s (%.2f s)\n", out, secs);
        }
    }
    rc = CLI_EXIT_OK;
    goto out;
fail:
    rc = cli_fail(CMD, &err);
out:
    trove_model_free(m);
    trove_dataset_free(ds);
    trove_idmap_free(users);
    trove_idmap_free(items);
    return rc;
}
