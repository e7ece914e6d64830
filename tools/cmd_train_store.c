/*
 * cmd_train_store.c - `trove train --store S --market M`: train a market's
 * model from the store per its YAML config, evaluate it on a holdout,
 * register and activate the new version, prune old versions. `trove train`
 * (cmd_train.c) hands over here when --store is given.
 *
 * Steps: the market's positive events (click, redemption, purchase, rating)
 * inside the config's window (from start_date, or the last N days before the
 * market's newest event) become a binary user x offer dataset with the
 * config's user and item feature fields ("field=value" features, or the
 * numeric feature "field"); every offer of the store is in the catalog, so
 * feature-based families can score offers nobody redeemed yet. A random
 * per-user holdout (20%, seed 42; trove_dataset_split RANDOM) measures
 * precision@N and NDCG@N (N = number_of_predictions, trove/eval.h); the
 * model is then refitted on the whole window, saved with its id files
 * (<model>.users, <model>.items: trove_idmap_write), registered with the
 * metrics, the config hash and a fingerprint of the training pairs,
 * activated, and the versions beyond keep_versions are pruned (their files
 * deleted once the registry change is committed). A family that trove
 * serve cannot serve (anything but the hybrid families and ials,
 * trove_recommender_family_has_model) is trained and registered all the
 * same, with a warning on stderr.
 *
 * --pooled trains one model on every market's data (market id 0 in the
 * registry) with the --market config's family and parameters; its metrics
 * hold the same figures per market (the evaluation engine's market slices),
 * for the per-market vs pooled comparison.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define CMD "train"
#define HOLDOUT 0.2
#define DAY 86400

int cmd_train_store(int argc, char **argv);

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove train --store FILE --market CODE [--pooled]\n"
            "                   [--markets-dir DIR] [--models-dir DIR]\n"
            "                   [--threads N] [--seed S] [--json]\n"
            "\n"
            "Train a market's model from the store per markets/<CODE>.yaml:\n"
            "window, features, family and parameters. Evaluates on a 20%% random\n"
            "per-user holdout (precision and NDCG at number_of_predictions),\n"
            "refits on the whole window, saves the model, registers the version\n"
            "(metrics, config hash, data fingerprint), activates it and prunes\n"
            "to keep_versions.\n"
            "\n"
            "options:\n"
            "  -s, --store FILE       the store (a path or sqlite:PATH)\n"
            "  -m, --market CODE      the market (with --pooled: whose config gives\n"
            "                         the family and parameters)\n"
            "      --pooled           one model on every market's data, registered\n"
            "                         for all markets (market 0), with per-market\n"
            "                         holdout figures\n"
            "      --markets-dir DIR  market YAML files (default: markets)\n"
            "      --models-dir DIR   where model files go (default: models)\n"
            "      --threads N        training threads (default 2)\n"
            "      --seed S           split and training seed (default 42)\n"
            "      --json             print a JSON summary\n"
            "  -h, --help             this help\n");
}

/* ------------------------------------------------------------ id lookups */

typedef struct ent {
    int64_t id;
    int64_t market_id;
    char *ext;
} ent;

typedef struct ent_list {
    ent *v;
    size_t n, cap;
} ent_list;

static int ent_push(ent_list *l, int64_t id, int64_t market, const char *ext)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        ent *v = trove_realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].ext = trove_strdup(ext);
    if (l->v[l->n].ext == NULL)
        return TROVE_ENOMEM;
    l->v[l->n].id = id;
    l->v[l->n].market_id = market;
    l->n++;
    return 0;
}

static void ent_free(ent_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        trove_free(l->v[i].ext);
    trove_free(l->v);
}

static const ent *ent_find(const ent_list *l, int64_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->v[lo].id == id ? &l->v[lo] : NULL;
}

static int on_user(void *ud, const trove_user *u)
{
    return ent_push(ud, u->id, u->market_id, u->ext_id);
}

static int on_item(void *ud, const trove_item *it)
{
    return ent_push(ud, it->id, 0, it->ext_id);
}

typedef struct market_ent {
    int64_t id;
    char code[64];
} market_ent;

typedef struct market_list {
    market_ent v[TROVE_STATS_MAX_MARKETS];
    size_t n;
} market_list;

static int on_market(void *ud, const trove_market *m)
{
    market_list *l = ud;
    if (l->n < TROVE_STATS_MAX_MARKETS) {
        l->v[l->n].id = m->id;
        snprintf(l->v[l->n].code, sizeof l->v[l->n].code, "%s", m->code);
        l->n++;
    }
    return 0;
}

/* ---------------------------------------------------------------- events */

typedef struct pos {
    int64_t user_id, item_id, ts;
} pos;

typedef struct pos_list {
    pos *v;
    size_t n, cap;
    int64_t max_ts;
} pos_list;

static int on_event(void *ud, const trove_event *ev)
{
    pos_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        pos *v = trove_realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].user_id = ev->user_id;
    l->v[l->n].item_id = ev->item_id;
    l->v[l->n].ts = ev->ts;
    l->n++;
    if (ev->ts > l->max_ts)
        l->max_ts = ev->ts;
    return 0;
}

/* -------------------------------------------------------------- features */

typedef struct feat_ctx {
    trove_dataset_builder *b;
    const trove_market_config *cfg;
    const ent_list *owners;       /* users or items */
    int target;
    int64_t market_id;            /* users: only this market (0 = all) */
    trove_error *err;
} feat_ctx;

static int field_selected(const trove_market_config *cfg, int target,
                          const char *name)
{
    char **fields = target == TROVE_FEATURE_USER ? cfg->user_features : cfg->item_features;
    size_t n = target == TROVE_FEATURE_USER ? cfg->n_user_features : cfg->n_item_features;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(fields[i]);
        if (strncmp(name, fields[i], len) == 0 && (name[len] == '=' || name[len] == '\0'))
            return 1;
    }
    return 0;
}

static int on_feature(void *ud, const trove_feature_value *fv)
{
    feat_ctx *x = ud;
    const ent *e;
    if (!field_selected(x->cfg, x->target, fv->name))
        return 0;
    e = ent_find(x->owners, fv->entity_id);
    if (e == NULL || (x->target == TROVE_FEATURE_USER && x->market_id != 0 &&
                      e->market_id != x->market_id))
        return 0;
    if (x->target == TROVE_FEATURE_USER)
        return trove_dataset_builder_add_user_feature(x->b, e->ext, strlen(e->ext),
                                                      fv->name, strlen(fv->name),
                                                      (float)fv->value, x->err);
    return trove_dataset_builder_add_item_feature(x->b, e->ext, strlen(e->ext),
                                                  fv->name, strlen(fv->name),
                                                  (float)fv->value, x->err);
}

/* ------------------------------------------------------------- training */

static int set_param(trove_reco_params *p, const char *key, const char *value,
                     trove_error *err)
{
    char kv[TROVE_RECO_KEY_MAX + TROVE_RECO_VALUE_MAX + 2];
    snprintf(kv, sizeof kv, "%s=%s", key, value);
    return trove_reco_params_set(p, kv, err);
}

/* The config's family and parameters as a recommender family and settings.
 * "hybrid" is the LightFM-class model: its loss names the family, and the
 * LightFM parameter names map to the recommender's. */
static int reco_setup(const trove_market_config *cfg, int threads, uint64_t seed,
                      char *family, size_t family_size, trove_reco_params *p,
                      trove_error *err)
{
    static const char *const map[][2] = {
        {"no_components", "dim"}, {"learning_rate", "lr"},
        {"item_alpha", "item_alpha"}, {"user_alpha", "user_alpha"},
        {"epochs", "epochs"}, {"max_sampled", "max_sampled"},
    };
    char seed_s[32];
    int hybrid = strcmp(cfg->model_family, "hybrid") == 0, st;

    *p = trove_reco_default_params();
    p->threads = threads;
    snprintf(family, family_size, "%s", cfg->model_family);
    for (size_t i = 0; i < cfg->n_model_params; i++) {
        const trove_param *mp = &cfg->model_params[i];
        const char *key = mp->key;
        if (hybrid && strcmp(key, "loss") == 0) {
            snprintf(family, family_size, "%s", mp->s);
            continue;
        }
        if (hybrid) {
            key = NULL;
            for (size_t j = 0; j < sizeof map / sizeof map[0]; j++)
                if (strcmp(mp->key, map[j][0]) == 0)
                    key = map[j][1];
            if (key == NULL) {
                trove_log(TROVE_LOG_WARN, "%s: parameter '%s' is not used by "
                          "the hybrid model", cfg->path, mp->key);
                continue;
            }
        }
        if ((st = set_param(p, key, mp->s, err)) != TROVE_OK)
            return st;
    }
    if (hybrid && strcmp(family, "hybrid") == 0)
        snprintf(family, family_size, "warp");
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    if (hybrid || strcmp(family, "ials") == 0 || strcmp(family, "random") == 0)
        if ((st = set_param(p, "seed", seed_s, err)) != TROVE_OK)
            return st;
    return TROVE_OK;
}

static int find_config(const char *dir, const char *code,
                       trove_market_config ***all, size_t *n,
                       trove_market_config **out, trove_error *err)
{
    int st = trove_market_config_load_dir(dir, all, n, err);
    if (st != TROVE_OK)
        return st;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*all)[i]->code, code) == 0) {
            *out = (*all)[i];
            return TROVE_OK;
        }
    }
    return trove_error_set(err, TROVE_ENOTFOUND, "%s: no config for market '%s'",
                           dir, code);
}

/* The users of market `m` (user_market[u] == m) of a split half as a
 * dataset over the same offers, with the pooled dataset's features; with
 * `users` the user universe is fixed (the test half of a market model). */
static int market_subset(const trove_dataset *half, const uint32_t *user_market,
                         uint32_t m, const trove_idmap *users, trove_dataset **out,
                         trove_error *err)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    const trove_csr *x = trove_dataset_interactions(half);
    const trove_csr *uf = trove_dataset_user_features(half);
    const trove_csr *itf = trove_dataset_item_features(half);
    const trove_idmap *uids = trove_dataset_user_ids(half);
    const trove_idmap *iids = trove_dataset_item_ids(half);
    const trove_idmap *ufn = trove_dataset_user_feature_names(half);
    const trove_idmap *ifn = trove_dataset_item_feature_names(half);
    int st;

    if (b == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "out of memory");
    if ((st = trove_dataset_builder_fix_items(b, iids, err)) != TROVE_OK ||
        (users != NULL && (st = trove_dataset_builder_fix_users(b, users, err)) != TROVE_OK))
        goto done;
    for (uint32_t u = 0; u < x->n_rows; u++) {
        size_t ulen, ilen;
        const char *un;
        if (user_market[u] != m)
            continue;
        un = trove_idmap_name(uids, u, &ulen);
        if (users != NULL && trove_idmap_find(users, un, ulen) < 0)
            continue;
        for (uint64_t k = x->indptr[u]; k < x->indptr[u + 1]; k++) {
            const char *in = trove_idmap_name(iids, x->indices[k], &ilen);
            if ((st = trove_dataset_builder_add(b, un, ulen, in, ilen, 1.0f, 0, err)) != TROVE_OK)
                goto done;
        }
        if (users == NULL && x->indptr[u + 1] > x->indptr[u] && uf != NULL) {
            for (uint64_t k = uf->indptr[u]; k < uf->indptr[u + 1]; k++) {
                size_t flen;
                const char *fn = trove_idmap_name(ufn, uf->indices[k], &flen);
                if ((st = trove_dataset_builder_add_user_feature(
                         b, un, ulen, fn, flen, uf->data ? uf->data[k] : 1.0f, err)) != TROVE_OK)
                    goto done;
            }
        }
    }
    for (uint32_t i = 0; users == NULL && itf != NULL && i < itf->n_rows; i++) {
        size_t ilen;
        const char *in = trove_idmap_name(iids, i, &ilen);
        for (uint64_t k = itf->indptr[i]; k < itf->indptr[i + 1]; k++) {
            size_t flen;
            const char *fn = trove_idmap_name(ifn, itf->indices[k], &flen);
            if ((st = trove_dataset_builder_add_item_feature(
                     b, in, ilen, fn, flen, itf->data ? itf->data[k] : 1.0f, err)) != TROVE_OK)
                goto done;
        }
    }
    st = trove_dataset_builder_build(b, NULL, out, err);
done:
    trove_dataset_builder_free(b);
    return st;
}

/* A market model (family and parameters of `mc`) fitted on the market's
 * users of the pooled train half and evaluated on the same users' pooled
 * test pairs: the paired counterpart of the pooled model's market slice. */
static int market_paired(const trove_dataset *train, const trove_dataset *test,
                         const uint32_t *user_market, uint32_t m,
                         const trove_market_config *mc, int threads, uint64_t seed,
                         trove_eval_summary *out, trove_error *err)
{
    trove_dataset *tr = NULL, *te = NULL;
    trove_recommender *r = NULL;
    trove_eval_result *ev = NULL;
    trove_reco_params rp;
    trove_eval_params ep;
    trove_scorer sc;
    char family[64];
    int st;

    if ((st = reco_setup(mc, threads, seed, family, sizeof family, &rp, err)) != TROVE_OK ||
        (st = market_subset(train, user_market, m, NULL, &tr, err)) != TROVE_OK ||
        (st = market_subset(test, user_market, m, trove_dataset_user_ids(tr), &te,
                            err)) != TROVE_OK ||
        (st = trove_recommender_fit(family, &rp, tr, &r, err)) != TROVE_OK)
        goto done;
    ep = trove_eval_default_params();
    ep.k = (uint32_t)mc->number_of_predictions;
    ep.threads = threads;
    ep.bootstrap = 0;
    ep.slices = 0;
    sc = trove_scorer_from_recommender(r);
    if ((st = trove_eval_run(&sc, trove_dataset_interactions(tr),
                             trove_dataset_interactions(te), &ep, &ev, err)) != TROVE_OK)
        goto done;
    *out = ev->overall;
done:
    trove_eval_result_free(ev);
    trove_recommender_free(r);
    trove_dataset_free(tr);
    trove_dataset_free(te);
    return st;
}

typedef struct max_version {
    int version;
} max_version;

static int on_version(void *ud, const trove_model_version *mv)
{
    max_version *m = ud;
    if (mv->version > m->version)
        m->version = mv->version;
    return 0;
}

static void remove_model_files(const char *path)
{
    char side[4200];
    remove(path);
    snprintf(side, sizeof side, "%s.users", path);
    remove(side);
    snprintf(side, sizeof side, "%s.items", path);
    remove(side);
}

static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    if (len + 1 >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

int cmd_train_store(int argc, char **argv)
{
    enum { O_POOLED = 1000, O_MDIR, O_MODELS, O_THREADS, O_SEED, O_JSON };
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},
        {"market", required_argument, NULL, 'm'},
        {"pooled", no_argument, NULL, O_POOLED},
        {"markets-dir", required_argument, NULL, O_MDIR},
        {"models-dir", required_argument, NULL, O_MODELS},
        {"threads", required_argument, NULL, O_THREADS},
        {"seed", required_argument, NULL, O_SEED},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *store = NULL, *market = NULL, *mdir = "markets", *models = "models";
    int pooled = 0, json = 0, threads = 2, c, rc = CLI_EXIT_FAIL, in_tx = 0;
    uint64_t seed = 42;
    long v;
    trove_market_config **all = NULL, *cfg = NULL;
    size_t n_cfg = 0, n_pruned = 0;
    char **pruned = NULL;
    trove_store *s = NULL;
    ent_list users = {0}, items = {0};
    pos_list events = {0};
    market_list markets;
    trove_dataset_builder *b = NULL;
    trove_dataset *ds = NULL, *train = NULL, *test = NULL;
    trove_recommender *holdout_model = NULL, *model = NULL;
    trove_eval_result *ev = NULL;
    uint32_t *user_market = NULL;
    const char *market_names[TROVE_STATS_MAX_MARKETS];
    trove_error err;
    trove_event_filter filter;
    trove_reco_params rp;
    trove_model_version mv;
    trove_split_params sp;
    trove_eval_params ep;
    trove_scorer scorer;
    max_version mx = {0};
    feat_ctx fx;
    char family[64], path[4096], fingerprint[40], metrics[8192];
    int64_t market_id = 0, ts_from = 0, ts_to = 0, now = (int64_t)time(NULL);
    int version = 0;
    uint64_t fp;
    double t0 = cli_now(), fit_s = 0;

    trove_error_clear(&err);
    memset(&markets, 0, sizeof markets);
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'm': market = optarg; break;
        case O_POOLED: pooled = 1; break;
        case O_MDIR: mdir = optarg; break;
        case O_MODELS: models = optarg; break;
        case O_THREADS:
            if (cli_parse_long(optarg, 1, 256, &v) != 0)
                return cli_usage_error(CMD, "--threads must be 1..256, got '%s'", optarg);
            threads = (int)v;
            break;
        case O_SEED:
            if (cli_parse_u64(optarg, &seed) != 0)
                return cli_usage_error(CMD, "--seed must be a number, got '%s'", optarg);
            break;
        case O_JSON: json = 1; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (store == NULL || market == NULL)
        return cli_usage_error(CMD, "--store and --market are required");

    cli_setup_log(0);
    if (find_config(mdir, market, &all, &n_cfg, &cfg, &err) != TROVE_OK ||
        reco_setup(cfg, threads, seed, family, sizeof family, &rp, &err) != TROVE_OK ||
        trove_store_open(store, 0, &s, &err) != TROVE_OK)
        goto done;
    if (!pooled && trove_store_market_find(s, cfg->code, &market_id, &err) != TROVE_OK) {
        trove_error_set(&err, TROVE_ENOTFOUND, "market '%s' is not in the store", cfg->code);
        goto done;
    }
    if (trove_store_markets_foreach(s, on_market, &markets, &err) != TROVE_OK)
        goto done;
    if (trove_store_users_foreach(s, on_user, &users, &err) != TROVE_OK ||
        trove_store_items_foreach(s, on_item, &items, &err) != TROVE_OK)
        goto nomem_or_fail;

    /* Positives of the market, then the window. */
    memset(&filter, 0, sizeof filter);
    filter.market_id = market_id;
    filter.type_mask = TROVE_EVENT_MASK(TROVE_EVENT_CLICK) |
                       TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) |
                       TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) |
                       TROVE_EVENT_MASK(TROVE_EVENT_RATING);
    if (trove_store_events_foreach(s, &filter, on_event, &events, &err) != TROVE_OK)
        goto nomem_or_fail;
    if (events.n == 0) {
        trove_error_set(&err, TROVE_EEMPTY, "market %s has no positive events "
                        "(redemptions, purchases, clicks, ratings) to train on",
                        pooled ? "(all)" : cfg->code);
        goto done;
    }
    ts_to = events.max_ts + 1;
    ts_from = cfg->window_start_ts > 0
              ? cfg->window_start_ts
              : events.max_ts - (int64_t)cfg->window_last_days * DAY;

    b = trove_dataset_builder_new();
    if (b == NULL)
        goto nomem;
    for (size_t i = 0; i < events.n; i++) {
        const pos *e = &events.v[i];
        const ent *u, *it;
        if (e->ts < ts_from || e->ts >= ts_to)
            continue;
        u = ent_find(&users, e->user_id);
        it = ent_find(&items, e->item_id);
        if (u == NULL || it == NULL)
            continue;
        if (trove_dataset_builder_add(b, u->ext, strlen(u->ext), it->ext,
                                      strlen(it->ext), 1.0f, e->ts, &err) != TROVE_OK)
            goto done;
    }
    /* Every offer is in the catalog; users of the market without positives in
     * the window are left out (the cycle gives them the popularity list). */
    for (size_t i = 0; i < items.n; i++)
        if (trove_dataset_builder_add_item_id(b, items.v[i].ext, strlen(items.v[i].ext),
                                              &err) != TROVE_OK)
            goto done;
    fx.b = b;
    fx.cfg = cfg;
    fx.market_id = market_id;
    fx.err = &err;
    fx.target = TROVE_FEATURE_ITEM;
    fx.owners = &items;
    {
        /* User features only for users that have positives: building a
         * fixed universe first keeps feature-only users out. */
        trove_dataset *tmp = NULL;
        if (trove_dataset_builder_build(b, NULL, &tmp, &err) != TROVE_OK)
            goto done;
        trove_dataset_builder_free(b);
        b = trove_dataset_builder_new();
        if (b == NULL) {
            trove_dataset_free(tmp);
            goto nomem;
        }
        if (trove_dataset_builder_fix_users(b, trove_dataset_user_ids(tmp), &err) != TROVE_OK ||
            trove_dataset_builder_fix_items(b, trove_dataset_item_ids(tmp), &err) != TROVE_OK) {
            trove_dataset_free(tmp);
            goto done;
        }
        trove_dataset_free(tmp);
    }
    for (size_t i = 0; i < events.n; i++) {
        const pos *e = &events.v[i];
        const ent *u, *it;
        if (e->ts < ts_from || e->ts >= ts_to)
            continue;
        u = ent_find(&users, e->user_id);
        it = ent_find(&items, e->item_id);
        if (u == NULL || it == NULL)
            continue;
        if (trove_dataset_builder_add(b, u->ext, strlen(u->ext), it->ext,
                                      strlen(it->ext), 1.0f, e->ts, &err) != TROVE_OK)
            goto done;
    }
    fx.b = b;
    if (trove_store_features_foreach(s, TROVE_FEATURE_ITEM, on_feature, &fx, &err) != TROVE_OK)
        goto done;
    fx.target = TROVE_FEATURE_USER;
    fx.owners = &users;
    if (trove_store_features_foreach(s, TROVE_FEATURE_USER, on_feature, &fx, &err) != TROVE_OK)
        goto done;
    if (trove_dataset_builder_build(b, NULL, &ds, &err) != TROVE_OK)
        goto done;

    /* Holdout evaluation. */
    sp = trove_split_default_params();
    sp.kind = TROVE_SPLIT_RANDOM;
    sp.fraction = HOLDOUT;
    sp.seed = seed;
    if (trove_dataset_split(ds, &sp, &train, &test, &err) != TROVE_OK ||
        trove_recommender_fit(family, &rp, train, &holdout_model, &err) != TROVE_OK)
        goto done;
    ep = trove_eval_default_params();
    ep.k = (uint32_t)cfg->number_of_predictions;
    ep.threads = threads;
    ep.bootstrap = 0;
    ep.slices = pooled ? TROVE_SLICE_MARKET : 0;
    if (pooled) {
        uint32_t nu = trove_dataset_n_users(ds);
        const trove_idmap *uids = trove_dataset_user_ids(ds);
        user_market = trove_malloc(((size_t)nu + 1) * sizeof *user_market);
        if (user_market == NULL)
            goto nomem;
        for (size_t m = 0; m < markets.n; m++)
            market_names[m] = markets.v[m].code;
        for (uint32_t u = 0; u < nu; u++)
            user_market[u] = UINT32_MAX;
        for (size_t i = 0; i < users.n; i++) {
            int64_t idx = trove_idmap_find(uids, users.v[i].ext, strlen(users.v[i].ext));
            if (idx < 0)
                continue;
            for (size_t m = 0; m < markets.n; m++)
                if (markets.v[m].id == users.v[i].market_id)
                    user_market[idx] = (uint32_t)m;
        }
        ep.user_market = user_market;
        ep.n_markets = (uint32_t)markets.n;
        ep.market_names = market_names;
    }
    scorer = trove_scorer_from_recommender(holdout_model);
    if (trove_eval_run(&scorer, trove_dataset_interactions(train),
                       trove_dataset_interactions(test), &ep, &ev, &err) != TROVE_OK)
        goto done;

    /* The deployed model sees the whole window. */
    {
        double f0 = cli_now();
        if (trove_recommender_fit(family, &rp, ds, &model, &err) != TROVE_OK)
            goto done;
        fit_s = cli_now() - f0;
    }

    /* Fingerprint: the training pairs, the universe and the window. */
    {
        const trove_csr *x = trove_dataset_interactions(ds);
        fp = trove_hash64(x->indptr, ((size_t)x->n_rows + 1) * sizeof *x->indptr, 1);
        fp = trove_hash64(x->indices, (size_t)x->nnz * sizeof *x->indices, fp);
        fp ^= (uint64_t)ts_from * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts_to;
        snprintf(fingerprint, sizeof fingerprint, "%016llx-%llu", (unsigned long long)fp,
                 (unsigned long long)x->nnz);
    }
    metrics[0] = '\0';
    append(metrics, sizeof metrics,
           "{\"k\":%u,\"precision\":%.6f,\"ndcg\":%.6f,\"recall\":%.6f,"
           "\"test_users\":%u,\"users\":%u,\"items\":%u,\"positives\":%llu,"
           "\"window_from\":%lld,\"window_to\":%lld,\"family\":\"%s\"",
           ev->k, ev->overall.mean[TROVE_METRIC_PRECISION],
           ev->overall.mean[TROVE_METRIC_NDCG], ev->overall.mean[TROVE_METRIC_RECALL],
           ev->overall.n_users, trove_dataset_n_users(ds), trove_dataset_n_items(ds),
           (unsigned long long)trove_dataset_nnz(ds), (long long)ts_from,
           (long long)ts_to, family);
    if (pooled) {
        /* Each market at its own list length: one evaluation per config,
         * read from that market's slice. */
        int first = 1;
        append(metrics, sizeof metrics, ",\"markets\":{");
        for (size_t c2 = 0; c2 < n_cfg; c2++) {
            const trove_market_config *mc = all[c2];
            char want[72];
            trove_eval_result *mr = NULL;
            ep.k = (uint32_t)mc->number_of_predictions;
            if (trove_eval_run(&scorer, trove_dataset_interactions(train),
                               trove_dataset_interactions(test), &ep, &mr, &err) != TROVE_OK)
                goto done;
            snprintf(want, sizeof want, "market=%s", mc->code);
            for (uint32_t i = 0; i < mr->n_slices; i++) {
                const trove_eval_slice *sl = &mr->slices[i];
                trove_eval_summary own;
                uint32_t mi = UINT32_MAX;
                memset(&own, 0, sizeof own);
                if (sl->kind != TROVE_SLICE_MARKET || strcmp(sl->name, want) != 0)
                    continue;
                for (size_t m = 0; m < markets.n; m++)
                    if (strcmp(markets.v[m].code, mc->code) == 0)
                        mi = (uint32_t)m;
                if (market_paired(train, test, user_market, mi, mc, threads, seed, &own,
                                  &err) != TROVE_OK) {
                    trove_eval_result_free(mr);
                    goto done;
                }
                append(metrics, sizeof metrics,
                       "%s\"%s\":{\"k\":%u,\"precision\":%.6f,\"ndcg\":%.6f,"
                       "\"test_users\":%u,\"market_model\":{\"precision\":%.6f,"
                       "\"ndcg\":%.6f,\"test_users\":%u}}", first ? "" : ",", mc->code,
                       mr->k, sl->s.mean[TROVE_METRIC_PRECISION],
                       sl->s.mean[TROVE_METRIC_NDCG], sl->s.n_users,
                       own.mean[TROVE_METRIC_PRECISION], own.mean[TROVE_METRIC_NDCG],
                       own.n_users);
                if (!json)
                    printf("  %s: pooled precision@%u %.4f, NDCG@%u %.4f; %s's own model "
                           "on the same holdout %.4f, %.4f (%u test users)\n",
                           mc->code, mr->k, sl->s.mean[TROVE_METRIC_PRECISION], mr->k,
                           sl->s.mean[TROVE_METRIC_NDCG], mc->code,
                           own.mean[TROVE_METRIC_PRECISION], own.mean[TROVE_METRIC_NDCG],
                           sl->s.n_users);
                first = 0;
            }
            trove_eval_result_free(mr);
        }
        append(metrics, sizeof metrics, "}");
    }
    append(metrics, sizeof metrics, "}");

    /* Save the files, then register, activate and prune in one transaction. */
    if (cli_mkdirs(models, &err) != TROVE_OK)
        goto done;
    if (trove_store_models_foreach(s, market_id, on_version, &mx, &err) != TROVE_OK)
        goto done;
    snprintf(path, sizeof path, "%s/%s-v%d.model", models, pooled ? "pooled" : cfg->code,
             mx.version + 1);
    if (trove_recommender_save(model, path, &err) != TROVE_OK ||
        cli_write_side_ids(path, ds, &err) != TROVE_OK)
        goto done;
    memset(&mv, 0, sizeof mv);
    mv.market_id = market_id;
    mv.created_ts = now;
    mv.family = cfg->model_family;
    mv.path = path;
    mv.config_hash = cfg->hash;
    mv.data_fingerprint = fingerprint;
    mv.metrics_json = metrics;
    if (trove_store_begin(s, &err) != TROVE_OK)
        goto done;
    in_tx = 1;
    if (trove_store_model_register(s, &mv, &version, NULL, &err) != TROVE_OK ||
        trove_store_model_activate(s, market_id, version, &err) != TROVE_OK ||
        trove_store_models_prune(s, market_id, cfg->keep_versions, &pruned, &n_pruned,
                                 &err) != TROVE_OK ||
        trove_store_commit(s, &err) != TROVE_OK)
        goto done;
    in_tx = 0;
    for (size_t i = 0; i < n_pruned; i++)
        if (strcmp(pruned[i], path) != 0)
            remove_model_files(pruned[i]);

    if (json) {
        printf("{\"market\":");
        cli_json_string(stdout, pooled ? "(pooled)" : cfg->code);
        printf(",\"version\":%d,\"path\":", version);
        cli_json_string(stdout, path);
        printf(",\"pruned\":%zu,\"fit_seconds\":%.3f,\"seconds\":%.3f,\"metrics\":%s}\n",
               n_pruned, fit_s, cli_now() - t0, metrics);
    } else {
        printf("%s: %s model v%d on %u users x %u offers, %llu positives; holdout "
               "precision@%u %.4f, NDCG@%u %.4f (%u test users); %s; active",
               pooled ? "pooled (all markets)" : cfg->code, family, version,
               trove_dataset_n_users(ds), trove_dataset_n_items(ds),
               (unsigned long long)trove_dataset_nnz(ds), ev->k,
               ev->overall.mean[TROVE_METRIC_PRECISION], ev->k,
               ev->overall.mean[TROVE_METRIC_NDCG], ev->overall.n_users, path);
        if (n_pruned > 0)
            printf(", %zu old version%s pruned", n_pruned, n_pruned == 1 ? "" : "s");
        printf(" (%.1f s)\n", cli_now() - t0);
    }
    if (!trove_recommender_family_has_model(family))
        fprintf(stderr,
                "trove %s: warning: %s: version %d is a '%s' model, which trove serve "
                "cannot serve (it serves the hybrid families and ials); the market serves "
                "its fallbacks: train a hybrid or ials model for this market\n",
                CMD, pooled ? "pooled" : cfg->code, version, family);
    rc = CLI_EXIT_OK;
    goto done;
nomem_or_fail:
    if (err.code == TROVE_OK)
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
    goto done;
nomem:
    trove_error_set(&err, TROVE_ENOMEM, "out of memory");
done:
    if (in_tx)
        trove_store_rollback(s, NULL);
    if (rc != CLI_EXIT_OK)
        cli_fail(CMD, &err);
    trove_store_strings_free(pruned, n_pruned);
    trove_eval_result_free(ev);
    trove_free(user_market);
    trove_recommender_free(holdout_model);
    trove_recommender_free(model);
    trove_dataset_free(ds);
    trove_dataset_free(train);
    trove_dataset_free(test);
    trove_dataset_builder_free(b);
    ent_free(&users);
    ent_free(&items);
    trove_free(events.v);
    trove_store_close(s);
    trove_market_configs_free(all, n_cfg);
    return rc;
}
