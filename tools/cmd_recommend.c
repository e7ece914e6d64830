/*
 * cmd_recommend.c - `trove recommend`: top-n items for one user from a
 * model file alone (raw ids come from the file), optionally excluding the
 * user's items listed in a pairs file (e.g. its training items).
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CMD "recommend"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove recommend --model MODEL --user ID [-n N] [--exclude FILE] [--json]\n\n"
        "Top-N items for user ID (its raw id, or its index when the model has no ids).\n\n"
        "  --model MODEL   model file written by 'trove train'\n"
        "  --user ID       the user\n"
        "  -n N            number of items (default 10)\n"
        "  --exclude FILE  pairs file (user<TAB>item): leave out this user's items\n"
        "  --json          JSON output\n"
        "  -h, --help      this help\n");
}

/* The user's items in a pairs file, as model item indices. */
static int load_exclusions(const trove_model *m, const char *path, uint32_t user,
                           uint32_t **out, size_t *n_out, trove_error *err)
{
    trove_pairs_options po = {trove_model_user_ids(m), trove_model_item_ids(m), NULL, NULL};
    trove_dataset *ds = NULL;
    int rc;
    if (po.users == NULL || po.items == NULL)
        return trove_error_set(err, TROVE_EINVAL,
                               "--exclude needs a model that stores its raw ids");
    rc = trove_dataset_load_pairs(path, &po, &ds, err);
    if (rc != TROVE_OK)
        return rc;
    const trove_csr *x = trove_dataset_interactions(ds);
    size_t n = x->indptr[user + 1] - x->indptr[user];
    uint32_t *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL) {
        trove_dataset_free(ds);
        return trove_error_set(err, TROVE_ENOMEM, "out of memory");
    }
    memcpy(v, x->indices + x->indptr[user], n * sizeof *v);
    trove_dataset_free(ds);
    *out = v;
    *n_out = n;
    return TROVE_OK;
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
    trove_model *m = NULL;
    uint32_t *ex = NULL, *items = NULL, n_out = 0, user;
    size_t n_ex = 0;
    float *scores = NULL;
    trove_error err;

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
    if (trove_model_load(model, &m, &err) != TROVE_OK)
        goto fail;
    {
        const trove_idmap *ids = trove_model_user_ids(m);
        if (ids != NULL) {
            int64_t u = trove_idmap_find(ids, user_id, strlen(user_id));
            if (u < 0) {
                trove_error_set(&err, TROVE_ENOTFOUND, "user '%s' is not in %s", user_id, model);
                goto fail;
            }
            user = (uint32_t)u;
        } else {
            long v;
            if (cli_parse_long(user_id, 0, (long)trove_model_n_users(m) - 1, &v) != 0) {
                trove_error_set(&err, TROVE_ENOTFOUND, "user index '%s' out of range (%u users)",
                                user_id, trove_model_n_users(m));
                goto fail;
            }
            user = (uint32_t)v;
        }
    }
    if (exclude && load_exclusions(m, exclude, user, &ex, &n_ex, &err) != TROVE_OK)
        goto fail;
    items = malloc((size_t)n * sizeof *items);
    scores = malloc((size_t)n * sizeof *scores);
    if (items == NULL || scores == NULL) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if (trove_model_recommend(m, user, (uint32_t)n, ex, n_ex, NULL, items, scores, &n_out, NULL,
                              &err) != TROVE_OK)
        goto fail;
    {
        const trove_idmap *iids = trove_model_item_ids(m);
        if (json) {
            printf("{\"user\":");
            cli_json_string(stdout, user_id);
            printf(",\"items\":[");
            for (uint32_t k = 0; k < n_out; k++) {
                printf("%s{\"item\":", k ? "," : "");
                if (iids)
                    cli_json_string(stdout, trove_idmap_name(iids, items[k], NULL));
                else
                    printf("\"%u\"", items[k]);
                printf(",\"score\":%.6g}", (double)scores[k]);
            }
            printf("]}\n");
        } else {
            printf("%-5s %-20s %s\n", "rank", "item", "score");
            for (uint32_t k = 0; k < n_out; k++) {
                if (iids)
                    printf("%-5u %-20s %.6g\n", k + 1, trove_idmap_name(iids, items[k], NULL),
                           (double)scores[k]);
                else
                    printf("%-5u %-20u %.6g\n", k + 1, items[k], (double)scores[k]);
            }
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
    trove_model_free(m);
    return rc;
}
