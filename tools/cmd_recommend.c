/*
 * cmd_recommend.c - `trove recommend`: top-n items for one user from a
 * saved model alone, optionally excluding the user's items listed in a
 * pairs file (e.g. its training items). Any family: hybrid model files
 * (`trove train`) and the recommender files of `trove evaluate --save-dir`
 * and `trove train --store`. Raw ids come from the file, or for families
 * that store none from the `<file>.users` / `<file>.items` index files
 * written beside it.
 */
#include "cli.h"
#include "trove/eval.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD "recommend"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove recommend --model MODEL --user ID [-n N] [--exclude FILE] [--json]\n\n"
        "Top-N items for user ID (its raw id, or its index when the model has no ids).\n\n"
        "  --model MODEL   a model file of 'trove train', or a model of any family saved\n"
        "                  by 'trove evaluate --save-dir' or 'trove train --store' (raw\n"
        "                  ids from MODEL.users and MODEL.items beside it)\n"
        "  --user ID       the user\n"
        "  -n N            number of items (default 10)\n"
        "  --exclude FILE  pairs file (user<TAB>item): leave out this user's items\n"
        "                  (pairs of items the model does not know are skipped)\n"
        "  --json          JSON output\n"
        "  -h, --help      this help\n");
}

/* A loaded model of either kind, with its id maps (borrowed or owned). */
typedef struct loaded {
    trove_model *m;             /* factor families */
    trove_recommender *r;       /* the others */
    trove_idmap *own_users, *own_items;
    const trove_idmap *users, *items;
    uint32_t n_users, n_items;
} loaded;

static void loaded_free(loaded *l)
{
    trove_model_free(l->m);
    trove_recommender_free(l->r);
    trove_idmap_free(l->own_users);
    trove_idmap_free(l->own_items);
}

static int load_any(const char *path, loaded *l, trove_error *err)
{
    char family[64];
    int rc = trove_recommender_file_family(path, family, sizeof family, err);
    if (rc != TROVE_OK)
        return rc;
    if (trove_recommender_family_has_model(family)) {
        if ((rc = trove_recommender_load_model(path, &l->m, err)) != TROVE_OK)
            return rc;
        l->users = trove_model_user_ids(l->m);
        l->items = trove_model_item_ids(l->m);
        l->n_users = trove_model_n_users(l->m);
        l->n_items = trove_model_n_items(l->m);
        return TROVE_OK;
    }
    if ((rc = trove_recommender_load(path, &l->r, err)) != TROVE_OK)
        return rc;
    l->n_users = trove_recommender_n_users(l->r);
    l->n_items = trove_recommender_n_items(l->r);
    if ((rc = trove_recommender_side_ids(path, l->n_users, l->n_items, &l->own_users,
                                         &l->own_items, err)) != TROVE_OK)
        return rc;
    l->users = l->own_users;
    l->items = l->own_items;
    return TROVE_OK;
}

/* The user's items in a pairs file, as model item indices. Pairs naming
 * an item (or user) the model does not know are skipped with a warning:
 * an exclusion list may hold items newer than the model. */
static int load_exclusions(const loaded *l, const char *path, uint32_t user, uint32_t **out,
                           size_t *n_out, trove_error *err)
{
    trove_eval_load_stats st;
    trove_csr x;
    int rc;
    if (l->users == NULL || l->items == NULL)
        return trove_error_set(err, TROVE_EINVAL,
                               "--exclude needs a model that stores its raw ids (or the "
                               "MODEL.users and MODEL.items files beside it)");
    memset(&x, 0, sizeof x);
    if ((rc = trove_eval_load_pairs(path, l->users, l->items, &x, &st, err)) != TROVE_OK)
        return rc;
    if (st.unknown_item > 0)
        trove_log(TROVE_LOG_WARN, "%s: %llu pairs name items the model does not know; "
                  "skipped", path, (unsigned long long)st.unknown_item);
    size_t n = x.indptr[user + 1] - x.indptr[user];
    uint32_t *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL) {
        trove_csr_destroy(&x);
        return trove_error_set(err, TROVE_ENOMEM, "out of memory");
    }
    memcpy(v, x.indices + x.indptr[user], n * sizeof *v);
    trove_csr_destroy(&x);
    *out = v;
    *n_out = n;
    return TROVE_OK;
}

/* A scored item; sorted best first, ties to the lower index (the rule of
 * trove__topk). */
typedef struct scored {
    float s;
    uint32_t i;
} scored;

static int cmp_best(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Top n of a recommender without a factor model: its scores of every
 * item, the excluded ones left out, sorted. */
static int recommend_scored(const loaded *l, uint32_t user, uint32_t n, const uint32_t *ex,
                            size_t n_ex, uint32_t *items, float *scores, uint32_t *n_out,
                            trove_error *err)
{
    float *all = malloc((l->n_items ? l->n_items : 1) * sizeof *all);
    scored *order = malloc((l->n_items ? l->n_items : 1) * sizeof *order);
    uint32_t m = 0;
    int rc = TROVE_ENOMEM;
    if (all == NULL || order == NULL) {
        trove_error_set(err, rc, "out of memory");
        goto out;
    }
    if ((rc = trove_recommender_score_user(l->r, user, all, err)) != TROVE_OK)
        goto out;
    for (size_t k = 0; k < n_ex; k++)
        if (ex[k] < l->n_items)
            all[ex[k]] = NAN;
    for (uint32_t i = 0; i < l->n_items; i++)
        if (isfinite(all[i]))
            order[m++] = (scored){all[i], i};
    qsort(order, m, sizeof *order, cmp_best);
    *n_out = m < n ? m : n;
    for (uint32_t k = 0; k < *n_out; k++) {
        items[k] = order[k].i;
        scores[k] = order[k].s;
    }
out:
    free(all);
    free(order);
    return rc;
}

int cmd_recommend(int argc, char **argv)
{
    enum { O_MODEL = 1000, O_USER, O_EXCLUDE, O_JSON };
    static const struct option opts[] = {
        {"model", required_argument, NULL, O_MODEL},
        {"user", required_argument, NULL, O_USER},
        {"exclude", required_argument, NULL, O_EXCLUDE},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *model = NULL, *user_id = NULL, *exclude = NULL;
    long n = 10;
    int json = 0, c, rc = CLI_EXIT_FAIL;
    loaded l;
    uint32_t *ex = NULL, *items = NULL, n_out = 0, user;
    size_t n_ex = 0;
    float *scores = NULL;
    trove_error err;

    memset(&l, 0, sizeof l);
    trove_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: model = optarg; break;
        case O_USER: user_id = optarg; break;
        case O_EXCLUDE: exclude = optarg; break;
        case O_JSON: json = 1; break;
        case 'n':
            if (cli_parse_long(optarg, 1, 1000000, &n) != 0)
                return cli_usage_error(CMD, "-n must be an integer in 1..1000000, got '%s'",
                                       optarg);
            break;
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
    if (model == NULL || user_id == NULL)
        return cli_usage_error(CMD, "--model MODEL and --user ID are required");
    cli_setup_log(0);
    if (load_any(model, &l, &err) != TROVE_OK)
        goto fail;
    if (l.users != NULL) {
        int64_t u = trove_idmap_find(l.users, user_id, strlen(user_id));
        if (u < 0) {
            trove_error_set(&err, TROVE_ENOTFOUND, "user '%s' is not in %s", user_id, model);
            goto fail;
        }
        user = (uint32_t)u;
    } else {
        long v;
        if (cli_parse_long(user_id, 0, (long)l.n_users - 1, &v) != 0) {
            trove_error_set(&err, TROVE_ENOTFOUND, "user index '%s' out of range (%u users)",
                            user_id, l.n_users);
            goto fail;
        }
        user = (uint32_t)v;
    }
    if (exclude && load_exclusions(&l, exclude, user, &ex, &n_ex, &err) != TROVE_OK)
        goto fail;
    items = malloc((size_t)n * sizeof *items);
    scores = malloc((size_t)n * sizeof *scores);
    if (items == NULL || scores == NULL) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if (l.m != NULL ? trove_model_recommend(l.m, user, (uint32_t)n, ex, n_ex, NULL, items,
                                            scores, &n_out, NULL, &err) != TROVE_OK
                    : recommend_scored(&l, user, (uint32_t)n, ex, n_ex, items, scores,
                                       &n_out, &err) != TROVE_OK)
        goto fail;
    if (json) {
        printf("{\"user\":");
        cli_json_string(stdout, user_id);
        printf(",\"items\":[");
        for (uint32_t k = 0; k < n_out; k++) {
            printf("%s{\"item\":", k ? "," : "");
            if (l.items)
                cli_json_string(stdout, trove_idmap_name(l.items, items[k], NULL));
            else
                printf("\"%u\"", items[k]);
            printf(",\"score\":%.6g}", (double)scores[k]);
        }
        printf("]}\n");
    } else {
        printf("%-5s %-20s %s\n", "rank", "item", "score");
        for (uint32_t k = 0; k < n_out; k++) {
            if (l.items)
                printf("%-5u %-20s %.6g\n", k + 1, trove_idmap_name(l.items, items[k], NULL),
                       (double)scores[k]);
            else
                printf("%-5u %-20u %.6g\n", k + 1, items[k], (double)scores[k]);
        }
    }
    rc = CLI_EXIT_OK;
    goto out;
fail:
    rc = cli_fail(CMD, &err);
out:
    free(ex);
    free(items);
    free(scores);
    loaded_free(&l);
    return rc;
}
