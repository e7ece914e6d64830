/*
 * cmd_stats.c - `trove stats --store FILE [--json]`: what a store holds.
 *
 * Counts of users, items (with their flags), markets, features, events by
 * type, model versions and cycles, the time span of the events, and users
 * and events per market (most events first). The store is opened read-only:
 * the command never creates or changes a file.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove stats --store FILE [--json]\n"
            "\n"
            "Print what a store holds: users, items and their flags, markets,\n"
            "features, events by type and time span, model versions, cycles,\n"
            "and users and events per market.\n"
            "\n"
            "options:\n"
            "  -s, --store FILE   the store (a path or sqlite:PATH), opened read-only\n"
            "      --json         one JSON object instead of a table\n"
            "  -h, --help         this help\n");
}

/* "2010-12-01 08:26:00 UTC", or "-" for 0. */
static const char *format_ts(int64_t ts, char *buf, size_t size)
{
    struct tm tm;
    time_t t = (time_t)ts;
    if (ts == 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "-");
        return buf;
    }
    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

static json_t *json_u64(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static int print_json(const trove_store_stats *st)
{
    json_t *root = json_object(), *by_type = json_object(), *markets = json_array();
    int rc = CLI_EXIT_FAIL;
    if (root == NULL || by_type == NULL || markets == NULL)
        goto done;
    json_object_set_new(root, "schema_version", json_integer(st->schema_version));
    json_object_set_new(root, "users", json_u64(st->users));
    json_object_set_new(root, "items", json_u64(st->items));
    json_object_set_new(root, "markets", json_u64(st->markets));
    json_object_set_new(root, "events", json_u64(st->events));
    for (int t = 1; t <= TROVE_EVENT_TYPE_MAX; t++)
        json_object_set_new(by_type, trove_event_type_name(t),
                            json_u64(st->events_by_type[t]));
    json_object_set(root, "events_by_type", by_type);
    json_object_set_new(root, "user_features", json_u64(st->user_features));
    json_object_set_new(root, "item_features", json_u64(st->item_features));
    json_object_set_new(root, "items_active", json_u64(st->items_active));
    json_object_set_new(root, "items_pinned", json_u64(st->items_pinned));
    json_object_set_new(root, "items_blocked", json_u64(st->items_blocked));
    json_object_set_new(root, "model_versions", json_u64(st->model_versions));
    json_object_set_new(root, "cycles", json_u64(st->cycles));
    json_object_set_new(root, "first_ts",
                        st->events ? json_integer(st->first_ts) : json_null());
    json_object_set_new(root, "last_ts",
                        st->events ? json_integer(st->last_ts) : json_null());
    for (size_t i = 0; i < st->n_market_stats; i++) {
        const trove_store_market_stats *m = &st->market_stats[i];
        json_t *o = json_object();
        if (o == NULL)
            goto done;
        json_object_set_new(o, "code", json_string(m->code));
        json_object_set_new(o, "users", json_u64(m->users));
        json_object_set_new(o, "events", json_u64(m->events));
        json_array_append_new(markets, o);
    }
    json_object_set(root, "market_stats", markets);
    if (json_dumpf(root, stdout, JSON_INDENT(2)) != 0)
        goto done;
    fputc('\n', stdout);
    rc = CLI_EXIT_OK;
done:
    json_decref(markets);
    json_decref(by_type);
    json_decref(root);
    if (rc != CLI_EXIT_OK)
        fprintf(stderr, "trove stats: cannot write JSON\n");
    return rc;
}

static void print_table(const char *store, const trove_store_stats *st)
{
    char a[64], b[64];
    printf("store            %s (schema version %d)\n", store, st->schema_version);
    printf("users            %llu\n", (unsigned long long)st->users);
    printf("items            %llu (active %llu, pinned %llu, blocked %llu)\n",
           (unsigned long long)st->items, (unsigned long long)st->items_active,
           (unsigned long long)st->items_pinned,
           (unsigned long long)st->items_blocked);
    printf("markets          %llu\n", (unsigned long long)st->markets);
    printf("features         %llu user, %llu item\n",
           (unsigned long long)st->user_features,
           (unsigned long long)st->item_features);
    printf("events           %llu\n", (unsigned long long)st->events);
    for (int t = 1; t <= TROVE_EVENT_TYPE_MAX; t++)
        printf("  %-14s %llu\n", trove_event_type_name(t),
               (unsigned long long)st->events_by_type[t]);
    printf("first event      %s\n", format_ts(st->first_ts, a, sizeof a));
    printf("last event       %s\n", format_ts(st->last_ts, b, sizeof b));
    printf("model versions   %llu\n", (unsigned long long)st->model_versions);
    printf("cycles           %llu\n", (unsigned long long)st->cycles);
    if (st->n_market_stats > 0) {
        printf("\n%-24s %10s %12s\n", "market", "users", "events");
        for (size_t i = 0; i < st->n_market_stats; i++)
            printf("%-24s %10llu %12llu\n", st->market_stats[i].code,
                   (unsigned long long)st->market_stats[i].users,
                   (unsigned long long)st->market_stats[i].events);
        if (st->markets > st->n_market_stats)
            printf("(%llu more markets)\n",
                   (unsigned long long)(st->markets - st->n_market_stats));
    }
}

int cmd_stats(int argc, char **argv)
{
    enum { OPT_JSON = 256 };
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store = NULL;
    int json = 0, c, rc;
    trove_store *s = NULL;
    trove_store_stats *st = NULL;
    trove_error err;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:h", options, NULL)) != -1) {
        switch (c) {
        case 's':
            store = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("stats", "unknown or incomplete option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("stats", "unexpected argument '%s'", argv[optind]);
    if (store == NULL)
        return cli_usage_error("stats", "--store FILE is required");

    cli_setup_log(0);
    trove_error_clear(&err);
    if (trove_store_open(store, TROVE_STORE_READONLY, &s, &err) != TROVE_OK)
        return cli_fail("stats", &err);
    st = trove_malloc(sizeof *st);
    if (st == NULL) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        rc = cli_fail("stats", &err);
        goto done;
    }
    if (trove_store_stats_get(s, st, &err) != TROVE_OK) {
        rc = cli_fail("stats", &err);
        goto done;
    }
    if (json) {
        rc = print_json(st);
    } else {
        print_table(store, st);
        rc = CLI_EXIT_OK;
    }
done:
    trove_free(st);
    trove_store_close(s);
    return rc;
}
