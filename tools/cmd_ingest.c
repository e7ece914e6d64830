/*
 * cmd_ingest.c - `trove ingest`: read event, item or user files (a preset or
 * a column mapping) into a store, in one transaction, and print a summary.
 *
 * Exit status: 0 when rows were ingested or everything was already in the
 * store (idempotent re-run); 1 when an input could not be read (missing or
 * empty file, unknown preset, damaged gzip - the good rows before the damage
 * are committed), when nothing could be ingested, or on a store failure
 * (then nothing is committed); 2 on a usage error.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove ingest --store S [--fast] --preset NAME PATH\n"
        "       trove ingest --store S [--fast] --kind events|items|users --map MAP\n"
        "                    [options] PATH...\n"
        "\n"
        "Read interaction, item or user files into the store S (created if needed),\n"
        "all in one transaction. Bad rows are rejected with file:line and a reason,\n"
        "written to the reject file, and the rows around them are kept. Re-ingesting\n"
        "the same file adds nothing.\n"
        "\n"
        "  --store S           the store (a path or sqlite:PATH)\n"
        "  --fast              bulk-load durability (TROVE_STORE_FAST)\n"
        "  --preset NAME       movielens-100k (folder), movielens-latest (folder),\n"
        "                      online-retail (CSV, plain or .gz)\n"
        "  --kind K            events (default), items or users\n"
        "  --format F          csv, tsv or jsonl (default: from the file name)\n"
        "  --no-header         CSV/TSV without a header line (columns by number)\n"
        "  --map MAP           field=column,... fields: user item ts value market type\n"
        "                      event_id txn (events); item title active pinned blocked\n"
        "                      start end (items); user market (users)\n"
        "  --type T            fixed event type when no type column (purchase, click,\n"
        "                      impression, redemption, rating, return)\n"
        "  --ts-format F       auto (default), unix, iso, or a strptime pattern\n"
        "  --title COL         title column (items)\n"
        "  --features C1,C2    categorical feature columns (items, users)\n"
        "  --numeric C1,C2     numeric feature columns\n"
        "  --multi COL:SEP,..  multi-valued columns split on SEP\n"
        "  --rejects FILE      reject file (default: <store>.rejects.tsv)\n"
        "  --no-rejects        write no reject file\n"
        "  --json              print the summary as one JSON object\n"
        "  -v, --verbose       progress messages\n"
        "  -h, --help          this help\n");
}

static void print_json(const trove_ingest_summary *s, const char *status, const char *rejects)
{
    printf("{\"status\":");
    cli_json_string(stdout, status);
    printf(",\"files\":%llu,\"rows_read\":%llu,\"rows_accepted\":%llu,\"rows_rejected\":%llu,"
           "\"duplicates\":%llu",
           (unsigned long long)s->files, (unsigned long long)s->rows_read,
           (unsigned long long)s->rows_accepted, (unsigned long long)s->rows_rejected,
           (unsigned long long)s->duplicates);
    printf(",\"users\":{\"new\":%llu,\"existing\":%llu}", (unsigned long long)s->users_new,
           (unsigned long long)s->users_existing);
    printf(",\"items\":{\"new\":%llu,\"existing\":%llu}", (unsigned long long)s->items_new,
           (unsigned long long)s->items_existing);
    printf(",\"events\":{\"new\":%llu,\"existing\":%llu}", (unsigned long long)s->events_new,
           (unsigned long long)s->events_existing);
    printf(",\"markets\":{\"new\":%llu,\"existing\":%llu,\"count\":%zu}",
           (unsigned long long)s->markets_new, (unsigned long long)s->markets_existing,
           s->n_markets);
    printf(",\"features_set\":%llu,\"rejects_by_reason\":{", (unsigned long long)s->features_set);
    for (size_t i = 0; i < s->n_reasons; i++) {
        if (i)
            putchar(',');
        cli_json_string(stdout, s->reasons[i].reason);
        printf(":%llu", (unsigned long long)s->reasons[i].count);
    }
    printf("},\"per_market\":[");
    for (size_t i = 0; i < s->n_markets; i++) {
        if (i)
            putchar(',');
        printf("{\"code\":");
        cli_json_string(stdout, s->markets[i].code);
        printf(",\"new\":%s,\"events\":%llu,\"rejected\":%llu}",
               s->markets[i].created ? "true" : "false",
               (unsigned long long)s->markets[i].events,
               (unsigned long long)s->markets[i].rejected);
    }
    printf("],\"rejects_file\":");
    if (rejects)
        cli_json_string(stdout, rejects);
    else
        printf("null");
    printf("}\n");
}

static void print_human(const trove_ingest_summary *s, double secs, const char *rejects)
{
    printf("ingest: %llu rows read in %.2f s: %llu accepted, %llu rejected, %llu duplicate "
           "events\n",
           (unsigned long long)s->rows_read, secs, (unsigned long long)s->rows_accepted,
           (unsigned long long)s->rows_rejected, (unsigned long long)s->duplicates);
    printf("\n  %-10s %10s %10s\n", "", "new", "existing");
    printf("  %-10s %10llu %10llu\n", "users", (unsigned long long)s->users_new,
           (unsigned long long)s->users_existing);
    printf("  %-10s %10llu %10llu\n", "items", (unsigned long long)s->items_new,
           (unsigned long long)s->items_existing);
    printf("  %-10s %10llu %10llu\n", "events", (unsigned long long)s->events_new,
           (unsigned long long)s->events_existing);
    printf("  %-10s %10llu %10llu\n", "markets", (unsigned long long)s->markets_new,
           (unsigned long long)s->markets_existing);
    printf("  %-10s %10llu\n", "features", (unsigned long long)s->features_set);
    if (s->n_reasons > 0) {
        printf("\n  %-28s %10s\n", "rejected by reason", "rows");
        for (size_t i = 0; i < s->n_reasons; i++)
            printf("  %-28s %10llu\n", s->reasons[i].reason,
                   (unsigned long long)s->reasons[i].count);
    }
    if (s->n_markets > 0) {
        printf("\n  %-28s %10s %10s\n", "market", "events", "rejected");
        for (size_t i = 0; i < s->n_markets; i++)
            printf("  %-28s %10llu %10llu\n", s->markets[i].code,
                   (unsigned long long)s->markets[i].events,
                   (unsigned long long)s->markets[i].rejected);
    }
    if (rejects && (s->rows_rejected > 0 || s->duplicates > 0))
        printf("\nrejected rows: %s\n", rejects);
}

static int fatal_status(int rc)
{
    /* a destination failure: nothing may be committed */
    return rc == TROVE_ENOMEM || rc == TROVE_ESTORE || rc == TROVE_EBUSY ||
           rc == TROVE_EINVAL;
}

int cmd_ingest(int argc, char **argv)
{
    enum { O_FAST = 256, O_PRESET, O_KIND, O_FORMAT, O_NOHDR, O_MAP, O_TYPE, O_TSFMT, O_TITLE,
           O_FEAT, O_NUM, O_MULTI, O_REJ, O_NOREJ, O_JSON, O_STORE };
    static const struct option opts[] = {
        {"store", required_argument, NULL, O_STORE},
        {"fast", no_argument, NULL, O_FAST},
        {"preset", required_argument, NULL, O_PRESET},
        {"kind", required_argument, NULL, O_KIND},
        {"format", required_argument, NULL, O_FORMAT},
        {"no-header", no_argument, NULL, O_NOHDR},
        {"map", required_argument, NULL, O_MAP},
        {"type", required_argument, NULL, O_TYPE},
        {"ts-format", required_argument, NULL, O_TSFMT},
        {"title", required_argument, NULL, O_TITLE},
        {"features", required_argument, NULL, O_FEAT},
        {"numeric", required_argument, NULL, O_NUM},
        {"multi", required_argument, NULL, O_MULTI},
        {"rejects", required_argument, NULL, O_REJ},
        {"no-rejects", no_argument, NULL, O_NOREJ},
        {"json", no_argument, NULL, O_JSON},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *store_uri = NULL, *preset = NULL, *rejects = NULL, *title = NULL;
    char *map_str = NULL, *rejects_default = NULL;
    int fast = 0, json = 0, no_rejects = 0, verbose = 0, c, rc, exit_code = CLI_EXIT_OK;
    int read_failed = 0;
    trove_ingest_mapping map = trove_ingest_default_mapping();
    trove_ingest_options io = trove_ingest_default_options();
    trove_ingest_summary sum;
    trove_store *store = NULL;
    trove_ingest *in = NULL;
    trove_error err;
    double t0;

    trove_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case O_STORE:  store_uri = optarg; break;
        case O_FAST:   fast = 1; break;
        case O_PRESET: preset = optarg; break;
        case O_KIND:
            if (strcmp(optarg, "events") == 0)
                map.kind = TROVE_INGEST_EVENTS;
            else if (strcmp(optarg, "items") == 0)
                map.kind = TROVE_INGEST_ITEMS;
            else if (strcmp(optarg, "users") == 0)
                map.kind = TROVE_INGEST_USERS;
            else
                return cli_usage_error("ingest", "--kind must be events, items or users");
            break;
        case O_FORMAT:
            if (strcmp(optarg, "csv") == 0)
                map.format = TROVE_INGEST_CSV;
            else if (strcmp(optarg, "tsv") == 0)
                map.format = TROVE_INGEST_TSV;
            else if (strcmp(optarg, "jsonl") == 0)
                map.format = TROVE_INGEST_JSONL;
            else
                return cli_usage_error("ingest", "--format must be csv, tsv or jsonl");
            break;
        case O_NOHDR:  map.header = 0; break;
        case O_MAP:    map.map = optarg; break;
        case O_TYPE:   map.type = optarg; break;
        case O_TSFMT:  map.ts_format = optarg; break;
        case O_TITLE:  title = optarg; break;
        case O_FEAT:   map.features = optarg; break;
        case O_NUM:    map.numeric = optarg; break;
        case O_MULTI:  map.multi = optarg; break;
        case O_REJ:    rejects = optarg; break;
        case O_NOREJ:  no_rejects = 1; break;
        case O_JSON:   json = 1; break;
        case 'v':      verbose++; break;
        case 'h':      usage(stdout); return CLI_EXIT_OK;
        default:       return cli_usage_error("ingest", "unknown option");
        }
    }
    if (store_uri == NULL)
        return cli_usage_error("ingest", "--store is required");
    if (optind >= argc)
        return cli_usage_error("ingest", "no input PATH given");
    if (preset != NULL && argc - optind != 1)
        return cli_usage_error("ingest", "--preset takes exactly one PATH");
    if (preset == NULL && map.map == NULL)
        return cli_usage_error("ingest", "give --preset NAME or --kind with --map");
    if (rejects != NULL && no_rejects)
        return cli_usage_error("ingest", "--rejects and --no-rejects exclude each other");
    if (preset != NULL) {
        const char *const *names = trove_ingest_preset_names();
        size_t k;
        for (k = 0; names[k]; k++)
            if (strcmp(names[k], preset) == 0)
                break;
        if (names[k] == NULL) {
            fprintf(stderr, "trove ingest: unknown preset '%s'; known presets:", preset);
            for (k = 0; names[k]; k++)
                fprintf(stderr, " %s", names[k]);
            fputc('\n', stderr);
            return CLI_EXIT_FAIL;
        }
    }
    cli_setup_log(verbose);

    if (title != NULL) {
        /* --title COL is shorthand for title=COL in the mapping */
        size_t n = (map.map ? strlen(map.map) : 0) + strlen(title) + 8;
        map_str = malloc(n);
        if (map_str == NULL) {
            trove_error_set(&err, TROVE_ENOMEM, "out of memory");
            exit_code = cli_fail("ingest", &err);
            goto done;
        }
        snprintf(map_str, n, "%s%stitle=%s", map.map ? map.map : "", map.map ? "," : "",
                 title);
        map.map = map_str;
    }
    if (!no_rejects) {
        if (rejects == NULL) {
            const char *base = strncmp(store_uri, "sqlite:", 7) == 0 ? store_uri + 7 : store_uri;
            size_t n = strlen(base) + 16;
            rejects_default = malloc(n);
            if (rejects_default == NULL) {
                trove_error_set(&err, TROVE_ENOMEM, "out of memory");
                exit_code = cli_fail("ingest", &err);
                goto done;
            }
            snprintf(rejects_default, n, "%s.rejects.tsv", base);
            rejects = rejects_default;
        }
        io.rejects_path = rejects;
    }

    rc = trove_store_open(store_uri, TROVE_STORE_CREATE | (fast ? TROVE_STORE_FAST : 0),
                          &store, &err);
    if (rc != TROVE_OK) {
        exit_code = cli_fail("ingest", &err);
        goto done;
    }
    rc = trove_ingest_new_store(store, &io, &in, &err);
    if (rc != TROVE_OK) {
        exit_code = cli_fail("ingest", &err);
        goto done;
    }
    t0 = cli_now();
    for (int i = optind; i < argc; i++) {
        trove_error_clear(&err);
        rc = preset ? trove_ingest_preset(in, preset, argv[i], &err)
                    : trove_ingest_file(in, argv[i], &map, &err);
        if (rc == TROVE_OK)
            continue;
        if (fatal_status(rc)) {
            exit_code = cli_fail("ingest", &err);
            fprintf(stderr, "trove ingest: nothing was committed\n");
            goto done;   /* freeing the session rolls back */
        }
        /* the input could not be read (to its end): keep the good rows */
        cli_fail("ingest", &err);
        read_failed = 1;
    }
    trove_error_clear(&err);
    rc = trove_ingest_finish(in, &err);
    if (rc != TROVE_OK) {
        exit_code = cli_fail("ingest", &err);
        goto done;
    }
    trove_ingest_get_summary(in, &sum);
    if (json)
        print_json(&sum, read_failed ? "partial" : "ok", rejects);
    else
        print_human(&sum, cli_now() - t0, rejects);
    if (read_failed) {
        exit_code = CLI_EXIT_FAIL;
    } else if (sum.events_new + sum.events_existing == 0 && sum.rows_accepted == 0) {
        fprintf(stderr, "trove ingest: nothing could be ingested (%llu rows rejected)\n",
                (unsigned long long)sum.rows_rejected);
        exit_code = CLI_EXIT_FAIL;
    }
done:
    trove_ingest_free(in);
    trove_store_close(store);
    free(map_str);
    free(rejects_default);
    return exit_code;
}
