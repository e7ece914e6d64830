/*
 * cmd_split.c - `trove split`: split interactions into train and test pair
 * files, from a pairs file (with optional fixed universes) or from the
 * store (then the universe's index files are written too, so training and
 * evaluation use the same ids). Split methods are defined in
 * docs/dataset.md.
 */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
"usage: trove split --input PAIRS [--user-index SPEC] [--item-index SPEC]\n"
"                   --method METHOD [options] --train-out F --test-out F\n"
"       trove split --store S [--market CODE] [--from T] [--to T] ...\n"
"\n"
"Split interactions into train and test files of `user<TAB>item` lines.\n"
"\n"
"input (one of):\n"
"  --input PAIRS         pairs file `user<TAB>item[<TAB>weight[<TAB>ts]]`\n"
"                        (gzip allowed)\n"
"  --user-index SPEC     fixed user universe: an index file\n"
"                        (`index<TAB>raw_id`) or a range such as 1..943\n"
"  --item-index SPEC     fixed item universe, same forms\n"
"  --store S             read positives from the store S\n"
"  --market CODE         store: only this market's events\n"
"  --from T, --to T      store: events in [from, to); T is YYYY-MM-DD (UTC\n"
"                        midnight) or unix seconds\n"
"  --types LIST          store: positive event types, comma-separated\n"
"                        (default click,redemption,purchase,rating)\n"
"  --min-rating R        store: ratings below R are not positives (default 0)\n"
"\n"
"split:\n"
"  --method M            random | temporal | last-k | cold-items\n"
"  --fraction F          random, cold-items: share to test (default 0.2)\n"
"  --seed N              random, cold-items: seed (default 42)\n"
"  --cut-ts T            temporal: interactions at or after T go to test\n"
"  -k, --k N             last-k: each user's N latest to test (default 1)\n"
"  --min-train N         random, last-k: keep N train pairs per user (default 1)\n"
"\n"
"output:\n"
"  --train-out F, --test-out F   the two pair files (required)\n"
"  --gzip                compress both (bytes depend on the content only)\n"
"  --index-prefix P      also write P_user_index.tsv and P_item_index.tsv\n"
"                        (required with --store)\n"
"  --json                print the counts as one JSON object\n"
"  -v, --verbose         progress messages\n"
"  -h, --help            this help\n");
}

/* YYYY-MM-DD (00:00 UTC) or integer unix seconds. */
static int parse_time(const char *s, int64_t *out)
{
    long v;
    struct tm tm;
    char *end;

    if (cli_parse_long(s, 0, LONG_MAX, &v) == 0) {
        *out = (int64_t)v;
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%d", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

static int parse_types(const char *list, unsigned *mask)
{
    char buf[256];
    char *save = NULL, *tok;
    unsigned m = 0;
    if (strlen(list) >= sizeof buf)
        return -1;
    strcpy(buf, list);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int type;
        if (trove_event_type_parse(tok, &type) != TROVE_OK)
            return -1;
        m |= TROVE_EVENT_MASK(type);
    }
    if (m == 0)
        return -1;
    *mask = m;
    return 0;
}

static const char *method_names[] = {NULL, "random", "temporal", "last-k", "cold-items"};

static int load_store(const char *uri, const char *market, int64_t from,
                      int64_t to, unsigned types, double min_rating,
                      trove_dataset **ds, trove_error *err)
{
    trove_store *s = NULL;
    trove_store_query q = trove_store_query_default();
    int rc;

    if ((rc = trove_store_open(uri, TROVE_STORE_READONLY, &s, err)) != TROVE_OK)
        return rc;
    if (market != NULL &&
        (rc = trove_store_market_find(s, market, &q.market_id, err)) != TROVE_OK) {
        if (rc == TROVE_ENOTFOUND)
            trove_error_set(err, rc, "%s: no market '%s'", uri, market);
        goto done;
    }
    q.ts_from = from;
    q.ts_to = to;
    q.type_mask = types;
    q.min_rating = min_rating;
    q.user_features = 0;
    q.item_features = 0;
    rc = trove_dataset_from_store(s, &q, ds, err);
done:
    trove_store_close(s);
    return rc;
}

static int write_indexes(const trove_dataset *ds, const char *prefix,
                         trove_error *err)
{
    size_t n = strlen(prefix) + 32;
    char *path = malloc(n);
    int rc;
    if (path == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "out of memory");
    snprintf(path, n, "%s_user_index.tsv", prefix);
    rc = trove_idmap_write(trove_dataset_user_ids(ds), path, err);
    if (rc == TROVE_OK) {
        snprintf(path, n, "%s_item_index.tsv", prefix);
        rc = trove_idmap_write(trove_dataset_item_ids(ds), path, err);
    }
    free(path);
    return rc;
}

int cmd_split(int argc, char **argv)
{
    enum { O_INPUT = 256, O_UIDX, O_IIDX, O_STORE, O_MARKET, O_FROM, O_TO,
           O_TYPES, O_MINR, O_METHOD, O_FRAC, O_SEED, O_CUT, O_MINTRAIN,
           O_TRAIN, O_TEST, O_GZIP, O_PREFIX, O_JSON };
    static const struct option opts[] = {
        {"input", required_argument, NULL, O_INPUT},
        {"user-index", required_argument, NULL, O_UIDX},
        {"item-index", required_argument, NULL, O_IIDX},
        {"store", required_argument, NULL, O_STORE},
        {"market", required_argument, NULL, O_MARKET},
        {"from", required_argument, NULL, O_FROM},
        {"to", required_argument, NULL, O_TO},
        {"types", required_argument, NULL, O_TYPES},
        {"min-rating", required_argument, NULL, O_MINR},
        {"method", required_argument, NULL, O_METHOD},
        {"fraction", required_argument, NULL, O_FRAC},
        {"seed", required_argument, NULL, O_SEED},
        {"cut-ts", required_argument, NULL, O_CUT},
        {"k", required_argument, NULL, 'k'},
        {"min-train", required_argument, NULL, O_MINTRAIN},
        {"train-out", required_argument, NULL, O_TRAIN},
        {"test-out", required_argument, NULL, O_TEST},
        {"gzip", no_argument, NULL, O_GZIP},
        {"index-prefix", required_argument, NULL, O_PREFIX},
        {"json", no_argument, NULL, O_JSON},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = "split";
    const char *input = NULL, *uidx = NULL, *iidx = NULL, *store = NULL;
    const char *market = NULL, *train_out = NULL, *test_out = NULL, *prefix = NULL;
    int64_t from = 0, to = 0;
    unsigned types = 0;
    double min_rating = 0.0;
    int gzip = 0, json = 0, verbose = 0, have_cut = 0, c;
    trove_split_params sp = trove_split_default_params();
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *ds = NULL, *train = NULL, *test = NULL;
    trove_error err;
    int rc = CLI_EXIT_FAIL;
    double t0;

    sp.kind = 0;
    trove_error_clear(&err);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:vh", opts, NULL)) != -1) {
        long v;
        uint64_t u;
        switch (c) {
        case O_INPUT: input = optarg; break;
        case O_UIDX: uidx = optarg; break;
        case O_IIDX: iidx = optarg; break;
        case O_STORE: store = optarg; break;
        case O_MARKET: market = optarg; break;
        case O_FROM:
            if (parse_time(optarg, &from) != 0)
                return cli_usage_error(cmd, "--from: '%s' is not YYYY-MM-DD or unix seconds", optarg);
            break;
        case O_TO:
            if (parse_time(optarg, &to) != 0)
                return cli_usage_error(cmd, "--to: '%s' is not YYYY-MM-DD or unix seconds", optarg);
            break;
        case O_TYPES:
            if (parse_types(optarg, &types) != 0)
                return cli_usage_error(cmd, "--types: bad event type list '%s'", optarg);
            break;
        case O_MINR:
            if (cli_parse_double(optarg, &min_rating) != 0)
                return cli_usage_error(cmd, "--min-rating: '%s' is not a number", optarg);
            break;
        case O_METHOD:
            if (strcmp(optarg, "random") == 0) sp.kind = TROVE_SPLIT_RANDOM;
            else if (strcmp(optarg, "temporal") == 0) sp.kind = TROVE_SPLIT_TEMPORAL;
            else if (strcmp(optarg, "last-k") == 0) sp.kind = TROVE_SPLIT_LAST_K;
            else if (strcmp(optarg, "cold-items") == 0) sp.kind = TROVE_SPLIT_COLD_ITEM;
            else
                return cli_usage_error(cmd, "--method: unknown method '%s'", optarg);
            break;
        case O_FRAC:
            if (cli_parse_double(optarg, &sp.fraction) != 0 || !(sp.fraction > 0.0 && sp.fraction < 1.0))
                return cli_usage_error(cmd, "--fraction: '%s' is not a number in (0, 1)", optarg);
            break;
        case O_SEED:
            if (cli_parse_u64(optarg, &u) != 0)
                return cli_usage_error(cmd, "--seed: '%s' is not a non-negative integer", optarg);
            sp.seed = u;
            break;
        case O_CUT:
            if (parse_time(optarg, &sp.cut_ts) != 0)
                return cli_usage_error(cmd, "--cut-ts: '%s' is not YYYY-MM-DD or unix seconds", optarg);
            have_cut = 1;
            break;
        case 'k':
            if (cli_parse_long(optarg, 1, UINT32_MAX, &v) != 0)
                return cli_usage_error(cmd, "-k: '%s' is not a positive integer", optarg);
            sp.k = (uint32_t)v;
            break;
        case O_MINTRAIN:
            if (cli_parse_long(optarg, 0, UINT32_MAX, &v) != 0)
                return cli_usage_error(cmd, "--min-train: '%s' is not a non-negative integer", optarg);
            sp.min_train = (uint32_t)v;
            break;
        case O_TRAIN: train_out = optarg; break;
        case O_TEST: test_out = optarg; break;
        case O_GZIP: gzip = 1; break;
        case O_PREFIX: prefix = optarg; break;
        case O_JSON: json = 1; break;
        case 'v': verbose = 1; break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((input == NULL) == (store == NULL))
        return cli_usage_error(cmd, "give exactly one of --input and --store");
    if (store != NULL && (uidx != NULL || iidx != NULL))
        return cli_usage_error(cmd, "--user-index/--item-index apply to --input only");
    if (input != NULL && (market != NULL || from != 0 || to != 0 || types != 0))
        return cli_usage_error(cmd, "--market/--from/--to/--types apply to --store only");
    if (store != NULL && prefix == NULL)
        return cli_usage_error(cmd, "--store needs --index-prefix (the universe's index files)");
    if (sp.kind == 0)
        return cli_usage_error(cmd, "--method is required");
    if (sp.kind == TROVE_SPLIT_TEMPORAL && !have_cut)
        return cli_usage_error(cmd, "--method temporal needs --cut-ts");
    if (train_out == NULL || test_out == NULL)
        return cli_usage_error(cmd, "--train-out and --test-out are required");
    cli_setup_log(verbose);

    t0 = cli_now();
    if (input != NULL) {
        trove_pairs_options po;
        memset(&po, 0, sizeof po);
        if (uidx != NULL && trove_idmap_load_spec(uidx, &users, &err) != TROVE_OK)
            goto fail;
        if (iidx != NULL && trove_idmap_load_spec(iidx, &items, &err) != TROVE_OK)
            goto fail;
        po.users = users;
        po.items = items;
        if (trove_dataset_load_pairs(input, &po, &ds, &err) != TROVE_OK)
            goto fail;
    } else if (load_store(store, market, from, to, types, min_rating, &ds, &err) != TROVE_OK) {
        goto fail;
    }
    trove_log(TROVE_LOG_INFO, "loaded %llu interactions in %.3f s",
              (unsigned long long)trove_dataset_nnz(ds), cli_now() - t0);
    if (trove_dataset_split(ds, &sp, &train, &test, &err) != TROVE_OK)
        goto fail;
    if (trove_dataset_write_pairs(train, train_out, gzip, &err) != TROVE_OK ||
        trove_dataset_write_pairs(test, test_out, gzip, &err) != TROVE_OK)
        goto fail;
    if (prefix != NULL && write_indexes(ds, prefix, &err) != TROVE_OK)
        goto fail;

    if (json) {
        printf("{\"method\":\"%s\",\"users\":%u,\"items\":%u,\"interactions\":%llu,"
               "\"train\":%llu,\"test\":%llu,\"users_with_train\":%u,"
               "\"users_with_test\":%u,\"items_with_test\":%u}\n",
               method_names[sp.kind], trove_dataset_n_users(ds), trove_dataset_n_items(ds),
               (unsigned long long)trove_dataset_nnz(ds),
               (unsigned long long)trove_dataset_nnz(train),
               (unsigned long long)trove_dataset_nnz(test),
               trove_dataset_n_active_users(train), trove_dataset_n_active_users(test),
               trove_dataset_n_active_items(test));
    } else {
        printf("method            %s\n", method_names[sp.kind]);
        printf("users             %u\n", trove_dataset_n_users(ds));
        printf("items             %u\n", trove_dataset_n_items(ds));
        printf("interactions      %llu\n", (unsigned long long)trove_dataset_nnz(ds));
        printf("train             %llu\n", (unsigned long long)trove_dataset_nnz(train));
        printf("test              %llu\n", (unsigned long long)trove_dataset_nnz(test));
        printf("users with train  %u\n", trove_dataset_n_active_users(train));
        printf("users with test   %u\n", trove_dataset_n_active_users(test));
    }
    rc = CLI_EXIT_OK;
    goto done;
fail:
    rc = cli_fail(cmd, &err);
done:
    trove_dataset_free(train);
    trove_dataset_free(test);
    trove_dataset_free(ds);
    trove_idmap_free(users);
    trove_idmap_free(items);
    return rc;
}
