/*
 * cmd_monitor.c - `trove monitor --store S --market M [--json]`: data
 * quality, feature and score drift (PSI) and model age of one market
 * (trove/monitor.h, docs/monitoring.md).
 *
 * The store is opened read-only. The text output is a summary table; --json
 * prints the report object the HTTP endpoint GET /v1/monitoring answers
 * (without its "latency" member). --fail-on makes the exit status follow
 * the report's status, for cron jobs and CI.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define CMD "monitor"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove monitor --store FILE --market CODE [--json] [--now WHEN]\n"
            "                     [--days N] [--train-days N] [--volume-windows N]\n"
            "                     [--psi-warn X] [--psi-alert X] [--top-values N]\n"
            "                     [--bins N] [--types LIST] [--fail-on warn|alert] [-v]\n"
            "\n"
            "Check one market: data quality of the latest window (events without\n"
            "user features, ids the model does not know, items without features,\n"
            "duplicate events, volume against the trailing windows), drift as the\n"
            "population stability index (PSI) of every user and item feature and of\n"
            "the model's scores between the training window of the active model\n"
            "version and the latest window, and the model's age.\n"
            "\n"
            "options:\n"
            "  -s, --store FILE         the store (a path or sqlite:PATH), read-only\n"
            "  -m, --market CODE        the market\n"
            "      --json               the report as one JSON object\n"
            "      --now WHEN           end of the latest window: Unix seconds,\n"
            "                           YYYY-MM-DD (UTC midnight) or 'last' (just\n"
            "                           after the market's last event); default: now\n"
            "      --days N             latest window in days (default 7)\n"
            "      --train-days N       training window in days (default 28)\n"
            "      --volume-windows N   trailing windows for the volume (default 4)\n"
            "      --psi-warn X         PSI warning threshold (default 0.1)\n"
            "      --psi-alert X        PSI alert threshold (default 0.25)\n"
            "      --top-values N       categorical values per feature (default 10)\n"
            "      --bins N             quantile bins of numbers and scores (default 10)\n"
            "      --types LIST         event types of the drift figures, comma-separated\n"
            "                           (default click,redemption,purchase,rating)\n"
            "      --fail-on LEVEL      exit 1 when the status is LEVEL or worse\n"
            "  -v, --verbose            also print the bins of every feature\n"
            "  -h, --help               this help\n");
}

static const char *format_ts(int64_t ts, char *buf, size_t size)
{
    struct tm tm;
    time_t t = (time_t)ts;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "%lld", (long long)ts);
        return buf;
    }
    strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

/* Unix seconds, YYYY-MM-DD or "last". 0 on success. */
static int parse_now(const char *s, int64_t *out)
{
    long v;
    struct tm tm;
    if (strcmp(s, "last") == 0) {
        *out = TROVE_MONITOR_NOW_LAST_EVENT;
        return 0;
    }
    if (cli_parse_long(s, 1, INT64_MAX / 2, &v) == 0) {
        *out = v;
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    *out = (int64_t)timegm(&tm);
    return *out > 0 ? 0 : -1;
}

/* "click,redemption" -> a mask of TROVE_EVENT_MASK bits. 0 on success. */
static int parse_types(const char *s, unsigned *out)
{
    unsigned mask = 0;
    char name[32];
    while (*s) {
        size_t n = strcspn(s, ",");
        int type;
        if (n == 0 || n >= sizeof name)
            return -1;
        memcpy(name, s, n);
        name[n] = '\0';
        if (trove_event_type_parse(name, &type) != TROVE_OK)
            return -1;
        mask |= TROVE_EVENT_MASK(type);
        s += n;
        if (*s == ',')
            s++;
    }
    if (mask == 0)
        return -1;
    *out = mask;
    return 0;
}

static void print_value(double v)
{
    if (isnan(v))
        printf("%10s", "-");
    else
        printf("%10.4f", v);
}

static void print_bins(const trove_monitor_drift *d)
{
    for (size_t b = 0; b < d->n_bins; b++)
        printf("      %-28.28s %8.4f %8.4f  (%llu, %llu)\n", d->bins[b].label,
               d->bins[b].ref_share, d->bins[b].latest_share,
               (unsigned long long)d->bins[b].ref_count,
               (unsigned long long)d->bins[b].latest_count);
}

static void print_drift(const trove_monitor_drift *d, int verbose)
{
    const char *target = d->target == TROVE_FEATURE_USER ? "user"
                       : d->target == TROVE_FEATURE_ITEM ? "item" : "model";
    const char *kind = d->kind == TROVE_MONITOR_DRIFT_CATEGORICAL ? "categorical"
                     : d->kind == TROVE_MONITOR_DRIFT_NUMERIC ? "numeric"
                                                              : "score";
    printf("  %-6s %-12s %-24.24s", target, kind, d->name);
    print_value(d->psi);
    printf("  %-6s %9llu %9llu", trove_monitor_status_name(d->status),
           (unsigned long long)d->ref_n, (unsigned long long)d->latest_n);
    if (d->note != NULL)
        printf("  (%s)", d->note);
    printf("\n");
    if (verbose || d->status >= TROVE_MONITOR_WARN) {
        if (d->n_bins > 0)
            printf("      %-28s %8s %8s\n", "bin", "ref", "latest");
        print_bins(d);
    }
}

static void print_text(const trove_monitor_report *r, int verbose)
{
    char a[32], b[32];
    const trove_monitor_params *p = &r->params;
    printf("market %s: %s (quality %s, drift %s)\n", r->market,
           trove_monitor_status_name(r->status),
           trove_monitor_status_name(r->quality_status),
           trove_monitor_status_name(r->drift_status));
    printf("now              %s UTC\n", format_ts(r->now, a, sizeof a));
    if (r->model_version > 0)
        printf("model            version %d (%s), created %s UTC, age %.1f days%s%s\n",
               r->model_version, r->model_family,
               format_ts(r->model_created_ts, a, sizeof a),
               (double)r->model_age / 86400.0,
               r->model_scored ? "" : "; not scored: ",
               r->model_scored ? "" : r->model_note);
    else
        printf("model            none (%s)\n", r->model_note);
    printf("reference window %s .. %s UTC (%s), %llu events\n",
           format_ts(r->ref_from, a, sizeof a), format_ts(r->ref_to, b, sizeof b),
           r->ref_is_training ? "training window" : "previous window",
           (unsigned long long)r->ref_events);
    printf("latest window    %s .. %s UTC, %llu events\n",
           format_ts(r->latest_from, a, sizeof a),
           format_ts(r->latest_to, b, sizeof b),
           (unsigned long long)r->latest_events);

    printf("\ndata quality%18s %10s %10s  %-6s\n", "value", "warn", "alert",
           "status");
    for (int c = 0; c < TROVE_MONITOR_N_CHECKS; c++) {
        const trove_monitor_check *k = &r->checks[c];
        printf("  %-26s", k->name);
        print_value(k->value);
        printf(" %10g %10g  %-6s", k->threshold.warn, k->threshold.alert,
               trove_monitor_status_name(k->status));
        if (c == TROVE_MONITOR_VOLUME_RATIO) {
            printf("  %.1f/day vs %.1f/day over %u windows (surge %g/%g)",
                   r->latest_per_day,
                   isnan(r->trailing_per_day) ? 0.0 : r->trailing_per_day,
                   r->trailing_windows, p->volume_surge.warn,
                   p->volume_surge.alert);
        } else if (k->status != TROVE_MONITOR_NA) {
            printf("  %llu of %llu", (unsigned long long)k->numerator,
                   (unsigned long long)k->denominator);
        }
        if (k->note != NULL)
            printf("  (%s)", k->note);
        printf("\n");
    }

    printf("\ndrift (PSI: warn >= %g, alert >= %g; events:", p->psi.warn,
           p->psi.alert);
    for (int t = 1; t <= TROVE_EVENT_TYPE_MAX; t++)
        if (p->drift_types & TROVE_EVENT_MASK(t))
            printf(" %s", trove_event_type_name(t));
    printf(")\n");
    printf("  %-6s %-12s %-24s %10s  %-6s %9s %9s\n", "target", "kind", "name",
           "psi", "status", "ref_n", "latest_n");
    print_drift(&r->score, verbose);
    for (size_t i = 0; i < r->n_features; i++)
        print_drift(&r->features[i], verbose);
}

int cmd_monitor(int argc, char **argv)
{
    enum { O_JSON = 256, O_NOW, O_DAYS, O_TRAIN_DAYS, O_VOLUME, O_PSI_WARN,
           O_PSI_ALERT, O_TOP, O_BINS, O_FAIL_ON, O_TYPES };
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'},
        {"market", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, O_JSON},
        {"now", required_argument, NULL, O_NOW},
        {"days", required_argument, NULL, O_DAYS},
        {"train-days", required_argument, NULL, O_TRAIN_DAYS},
        {"volume-windows", required_argument, NULL, O_VOLUME},
        {"psi-warn", required_argument, NULL, O_PSI_WARN},
        {"psi-alert", required_argument, NULL, O_PSI_ALERT},
        {"top-values", required_argument, NULL, O_TOP},
        {"bins", required_argument, NULL, O_BINS},
        {"fail-on", required_argument, NULL, O_FAIL_ON},
        {"types", required_argument, NULL, O_TYPES},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store = NULL, *market = NULL;
    int json = 0, verbose = 0, fail_on = 0, c, rc;
    long v;
    trove_monitor_params p = trove_monitor_default_params();
    trove_store *s = NULL;
    trove_monitor_report *r = NULL;
    trove_error err;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:m:vh", options, NULL)) != -1) {
        switch (c) {
        case 's':
            store = optarg;
            break;
        case 'm':
            market = optarg;
            break;
        case O_JSON:
            json = 1;
            break;
        case O_NOW:
            if (parse_now(optarg, &p.now) != 0)
                return cli_usage_error(CMD, "--now must be Unix seconds, "
                                       "YYYY-MM-DD or 'last', got '%s'", optarg);
            break;
        case O_DAYS:
        case O_TRAIN_DAYS:
        case O_VOLUME:
        case O_TOP:
        case O_BINS: {
            long max = c == O_VOLUME ? 52 : c == O_TOP || c == O_BINS ? 100 : 3650;
            long min = c == O_BINS ? 2 : 1;
            if (cli_parse_long(optarg, min, max, &v) != 0)
                return cli_usage_error(CMD, "%s must be an integer in %ld..%ld, "
                                       "got '%s'", argv[optind - 1], min, max,
                                       optarg);
            if (c == O_DAYS)
                p.latest_days = (int)v;
            else if (c == O_TRAIN_DAYS)
                p.train_days = (int)v;
            else if (c == O_VOLUME)
                p.volume_windows = (int)v;
            else if (c == O_TOP)
                p.top_values = (int)v;
            else
                p.numeric_bins = (int)v;
            break;
        }
        case O_PSI_WARN:
        case O_PSI_ALERT: {
            double x;
            if (cli_parse_double(optarg, &x) != 0 || !(x >= 0))
                return cli_usage_error(CMD, "%s must be a number >= 0, got '%s'",
                                       argv[optind - 1], optarg);
            if (c == O_PSI_WARN)
                p.psi.warn = x;
            else
                p.psi.alert = x;
            break;
        }
        case O_FAIL_ON:
            if (strcmp(optarg, "warn") == 0)
                fail_on = TROVE_MONITOR_WARN;
            else if (strcmp(optarg, "alert") == 0)
                fail_on = TROVE_MONITOR_ALERT;
            else
                return cli_usage_error(CMD, "--fail-on must be warn or alert, "
                                       "got '%s'", optarg);
            break;
        case O_TYPES:
            if (parse_types(optarg, &p.drift_types) != 0)
                return cli_usage_error(CMD, "--types must list event types "
                                       "(impression, click, redemption, "
                                       "purchase, rating, return), got '%s'",
                                       optarg);
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error(CMD, "unknown or incomplete option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (store == NULL || market == NULL)
        return cli_usage_error(CMD, "--store FILE and --market CODE are required");
    trove_error_clear(&err);
    if (trove_monitor_check_params(&p, &err) != TROVE_OK)
        return cli_usage_error(CMD, "%s", err.msg);

    cli_setup_log(0);
    if (trove_store_open(store, TROVE_STORE_READONLY, &s, &err) != TROVE_OK)
        return cli_fail(CMD, &err);
    if (trove_monitor_run(s, market, NULL, &p, &r, &err) != TROVE_OK) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    if (json) {
        char *text = NULL;
        if (trove_monitor_report_json(r, 2, &text, NULL, &err) != TROVE_OK) {
            rc = cli_fail(CMD, &err);
            goto done;
        }
        printf("%s\n", text);
        trove_free(text);
    } else {
        print_text(r, verbose);
    }
    rc = CLI_EXIT_OK;
    if (fail_on > 0 && r->status >= fail_on) {
        fflush(stdout);
        fprintf(stderr, "trove %s: market %s: status %s\n", CMD, market,
                trove_monitor_status_name(r->status));
        rc = CLI_EXIT_FAIL;
    }
done:
    trove_monitor_report_free(r);
    trove_store_close(s);
    return rc;
}
