/*
 * cmd_inspect.c - `trove inspect MODEL`: print a model file's header
 * (format version, shape, hyperparameters, training counters, data
 * fingerprint, checksum status) without loading its tables; for the
 * recommender files of the other families (`trove evaluate --save-dir`,
 * `trove train --store`), the family, shape and checksum, which needs the
 * file loaded.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CMD "inspect"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove inspect MODEL [--json]\n\n"
        "Print the header of a model file and check its checksum.\n\n"
        "  --json      JSON output\n"
        "  -h, --help  this help\n");
}

/* A recommender file: loaded in full (the checksum covers the payload). */
static int inspect_recommender(const char *path, int json)
{
    char family[64];
    trove_recommender *r = NULL;
    trove_error err;
    struct stat sb;
    trove_error_clear(&err);
    if (trove_recommender_file_family(path, family, sizeof family, &err) != TROVE_OK ||
        trove_recommender_load(path, &r, &err) != TROVE_OK)
        return cli_fail(CMD, &err);
    long long bytes = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    trove_idmap *users = NULL, *items = NULL;
    if (trove_recommender_side_ids(path, trove_recommender_n_users(r),
                                   trove_recommender_n_items(r), &users, &items,
                                   &err) != TROVE_OK) {
        trove_recommender_free(r);
        return cli_fail(CMD, &err);
    }
    int ids = users != NULL && items != NULL;
    trove_idmap_free(users);
    trove_idmap_free(items);
    if (json) {
        printf("{\"file\":");
        cli_json_string(stdout, path);
        printf(",\"kind\":\"recommender\",\"family\":");
        cli_json_string(stdout, family);
        printf(",\"users\":%u,\"items\":%u,\"bytes\":%lld,\"raw_id_files\":%s,"
               "\"checksum_ok\":true}\n", trove_recommender_n_users(r),
               trove_recommender_n_items(r), bytes, ids ? "true" : "false");
    } else {
        printf("file              %s\n", path);
        printf("kind              recommender file (family %s)\n", family);
        printf("users             %u\n", trove_recommender_n_users(r));
        printf("items             %u\n", trove_recommender_n_items(r));
        printf("size              %lld bytes, checksum ok\n", bytes);
        printf("raw ids           %s\n", ids ? "in the .users and .items files beside it"
                                            : "none (users and items by index)");
    }
    trove_recommender_free(r);
    return CLI_EXIT_OK;
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    int json = 0, c;
    trove_model_info in;
    trove_error err;

    trove_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(CMD, "expected exactly one MODEL file");
    if (trove_model_inspect(argv[optind], &in, &err) != TROVE_OK) {
        char family[64];
        trove_error e2;
        trove_error_clear(&e2);
        /* not a model file: a recommender file of another family? */
        if (err.code == TROVE_EFORMAT &&
            trove_recommender_file_family(argv[optind], family, sizeof family, &e2) == TROVE_OK)
            return inspect_recommender(argv[optind], json);
        return cli_fail(CMD, &err);
    }
    const trove_model_params *p = &in.params;
    if (json) {
        printf("{\"file\":");
        cli_json_string(stdout, argv[optind]);
        printf(",\"format_version\":%u,\"dim\":%u,\"users\":%u,\"items\":%u,"
               "\"user_features\":%u,\"item_features\":%u,\"user_identity\":%s,"
               "\"item_identity\":%s,\"has_ids\":%s,\"loss\":\"%s\",\"schedule\":\"%s\","
               "\"learning_rate\":%g,\"rho\":%g,\"epsilon\":%g,\"item_alpha\":%g,"
               "\"user_alpha\":%g,\"max_sampled\":%u,\"k\":%u,\"n\":%u,\"cold_items\":\"%s\","
               "\"threads\":%u,\"seed\":%llu,\"epochs_trained\":%llu,"
               "\"examples_trained\":%llu,\"data_fingerprint\":\"%016llx\","
               "\"payload_bytes\":%llu,\"checksum\":\"%016llx\",\"checksum_ok\":%s}\n",
               in.format_version, in.dim, in.n_users, in.n_items, in.n_user_features,
               in.n_item_features, in.user_identity ? "true" : "false",
               in.item_identity ? "true" : "false", in.has_ids ? "true" : "false",
               trove_loss_name(p->loss), trove_schedule_name(p->learning_schedule),
               (double)p->learning_rate, (double)p->rho, (double)p->epsilon,
               (double)p->item_alpha, (double)p->user_alpha, p->max_sampled, p->k, p->n,
               p->item_cold_fallback == TROVE_COLD_MEAN ? "mean" : "none", p->num_threads,
               (unsigned long long)p->seed, (unsigned long long)in.epochs_trained,
               (unsigned long long)in.examples_trained,
               (unsigned long long)in.data_fingerprint, (unsigned long long)in.payload_bytes,
               (unsigned long long)in.checksum, in.checksum_ok ? "true" : "false");
    } else {
        printf("file              %s\n", argv[optind]);
        printf("format version    %u\n", in.format_version);
        printf("dimension         %u\n", in.dim);
        printf("users             %u (identity %s)\n", in.n_users, in.user_identity ? "on" : "off");
        printf("items             %u (identity %s)\n", in.n_items, in.item_identity ? "on" : "off");
        printf("user features     %u\n", in.n_user_features);
        printf("item features     %u\n", in.n_item_features);
        printf("raw ids stored    %s\n", in.has_ids ? "yes" : "no");
        printf("loss              %s\n", trove_loss_name(p->loss));
        printf("schedule          %s (lr %g, rho %g, epsilon %g)\n",
               trove_schedule_name(p->learning_schedule), (double)p->learning_rate,
               (double)p->rho, (double)p->epsilon);
        printf("alpha             item %g, user %g\n", (double)p->item_alpha,
               (double)p->user_alpha);
        printf("max_sampled       %u (k-OS k %u, n %u)\n", p->max_sampled, p->k, p->n);
        printf("cold items        %s\n", p->item_cold_fallback == TROVE_COLD_MEAN ? "mean" : "none");
        printf("threads, seed     %u, %llu\n", p->num_threads, (unsigned long long)p->seed);
        printf("epochs trained    %llu (%llu examples)\n", (unsigned long long)in.epochs_trained,
               (unsigned long long)in.examples_trained);
        printf("data fingerprint  %016llx\n", (unsigned long long)in.data_fingerprint);
        printf("payload           %llu bytes, checksum %016llx %s\n",
               (unsigned long long)in.payload_bytes, (unsigned long long)in.checksum,
               in.checksum_ok ? "ok" : "MISMATCH");
    }
    return in.checksum_ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
