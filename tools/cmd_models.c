/*
 * cmd_models.c - `trove models list|activate|rollback --store S --market M
 * [--version V] [--json]`: the model registry of a market.
 *
 * list opens the store read-only and prints every version, newest first,
 * with its metrics; activate makes --version the active one; rollback goes
 * back to the version active before the current one. Changes happen in one
 * store call each, so a failed command changes nothing.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove models list     --store FILE --market CODE [--json]\n"
            "       trove models activate --store FILE --market CODE --version N\n"
            "       trove models rollback --store FILE --market CODE\n"
            "\n"
            "The model registry of a market: list its versions (newest first,\n"
            "* marks the active one), activate a version, or roll back to the\n"
            "version that was active before the current one.\n"
            "\n"
            "options:\n"
            "  -s, --store FILE     the store (a path or sqlite:PATH)\n"
            "  -m, --market CODE    market code, e.g. DE\n"
            "  -V, --version N      version to activate\n"
            "      --json           JSON instead of a table\n"
            "  -h, --help           this help\n");
}

static const char *format_ts(int64_t ts, char *buf, size_t size)
{
    struct tm tm;
    time_t t = (time_t)ts;
    if (gmtime_r(&t, &tm) == NULL)
        snprintf(buf, size, "-");
    else
        strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

typedef struct list_ctx {
    json_t *array;   /* NULL: print a table */
    size_t n;
} list_ctx;

static int print_version(void *ud, const trove_model_version *mv)
{
    list_ctx *x = ud;
    char when[32];
    x->n++;
    if (x->array != NULL) {
        json_error_t jerr;
        json_t *o = json_object(), *metrics = json_loads(mv->metrics_json, 0, &jerr);
        if (o == NULL)
            return TROVE_ENOMEM;
        json_object_set_new(o, "version", json_integer(mv->version));
        json_object_set_new(o, "active", json_boolean(mv->active));
        json_object_set_new(o, "pruned", json_boolean(mv->pruned));
        json_object_set_new(o, "created_ts", json_integer(mv->created_ts));
        json_object_set_new(o, "family", json_string(mv->family));
        json_object_set_new(o, "path", json_string(mv->path));
        json_object_set_new(o, "config_hash", json_string(mv->config_hash));
        json_object_set_new(o, "data_fingerprint", json_string(mv->data_fingerprint));
        /* metrics are stored as text; pass them on as JSON when they are */
        json_object_set_new(o, "metrics",
                            metrics ? metrics : json_string(mv->metrics_json));
        json_array_append_new(x->array, o);
        return 0;
    }
    printf("%c %4d  %-16s  %-10s  %-16s  %-18s  %s%s  %s\n",
           mv->active ? '*' : ' ', mv->version,
           format_ts(mv->created_ts, when, sizeof when), mv->family,
           mv->config_hash, mv->data_fingerprint, mv->path,
           mv->pruned ? " (pruned)" : "", mv->metrics_json);
    return 0;
}

int cmd_models(int argc, char **argv)
{
    enum { OPT_JSON = 256 };
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'},
        {"market", required_argument, NULL, 'm'},
        {"version", required_argument, NULL, 'V'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store = NULL, *code = NULL, *action;
    long version = 0;
    int json = 0, c, rc = CLI_EXIT_FAIL, v = 0;
    trove_store *s = NULL;
    trove_error err;
    int64_t market_id = 0;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:m:V:h", options, NULL)) != -1) {
        switch (c) {
        case 's':
            store = optarg;
            break;
        case 'm':
            code = optarg;
            break;
        case 'V':
            if (cli_parse_long(optarg, 1, 2147483647L, &version) != 0)
                return cli_usage_error("models", "--version needs a positive "
                                       "integer, not '%s'", optarg);
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("models", "unknown or incomplete option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("models", "an action is required: list, activate "
                               "or rollback");
    action = argv[optind++];
    if (optind < argc)
        return cli_usage_error("models", "unexpected argument '%s'", argv[optind]);
    if (strcmp(action, "list") != 0 && strcmp(action, "activate") != 0 &&
        strcmp(action, "rollback") != 0)
        return cli_usage_error("models", "unknown action '%s' (list, activate or "
                               "rollback)", action);
    if (store == NULL || code == NULL)
        return cli_usage_error("models", "--store FILE and --market CODE are required");
    if (strcmp(action, "activate") == 0 && version == 0)
        return cli_usage_error("models", "activate needs --version N");
    if (strcmp(action, "activate") != 0 && version != 0)
        return cli_usage_error("models", "--version is only for activate");

    cli_setup_log(0);
    trove_error_clear(&err);
    if (trove_store_open(store, strcmp(action, "list") == 0 ? TROVE_STORE_READONLY : 0,
                         &s, &err) != TROVE_OK)
        return cli_fail("models", &err);
    if (trove_store_market_find(s, code, &market_id, &err) != TROVE_OK) {
        rc = cli_fail("models", &err);
        goto done;
    }
    if (strcmp(action, "list") == 0) {
        list_ctx x = {NULL, 0};
        if (json && (x.array = json_array()) == NULL) {
            trove_error_set(&err, TROVE_ENOMEM, "out of memory");
            rc = cli_fail("models", &err);
            goto done;
        }
        if (!json)
            printf("  %4s  %-16s  %-10s  %-16s  %-18s  %s  %s\n", "ver",
                   "created (UTC)", "family", "config hash", "data", "path",
                   "metrics");
        if (trove_store_models_foreach(s, market_id, print_version, &x, &err) != 0) {
            json_decref(x.array);
            rc = cli_fail("models", &err);
            goto done;
        }
        if (json) {
            json_t *root = json_object();
            json_object_set_new(root, "market", json_string(code));
            json_object_set_new(root, "versions", x.array);
            json_dumpf(root, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(root);
        } else if (x.n == 0) {
            printf("(no model versions for market %s)\n", code);
        }
        rc = CLI_EXIT_OK;
        goto done;
    }
    if (strcmp(action, "activate") == 0) {
        if (trove_store_model_activate(s, market_id, (int)version, &err) != TROVE_OK) {
            rc = cli_fail("models", &err);
            goto done;
        }
        v = (int)version;
    } else if (trove_store_model_rollback(s, market_id, &v, &err) != TROVE_OK) {
        rc = cli_fail("models", &err);
        goto done;
    }
    if (json) {
        printf("{\"market\": ");
        cli_json_string(stdout, code);
        printf(", \"active\": %d}\n", v);
    } else
        printf("%s: version %d is active\n", code, v);
    rc = CLI_EXIT_OK;
done:
    trove_store_close(s);
    return rc;
}
