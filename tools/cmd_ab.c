/*
 * cmd_ab.c - `trove ab report --store S [--market M] [--cycle C] [--json]
 * [--report out.html] [--now TS]`: A/B results of assignment cycles.
 *
 * Per market: every cycle (users, exposures, redemptions and redemption
 * rate per arm, absolute and relative lift with 95% intervals, p-value,
 * sample-ratio check, guardrails, redemptions of unassigned pairs) and the
 * cumulative figures over the reported cycles. The cumulative p-values are
 * Holm-corrected across the reported markets. --report writes one
 * self-contained HTML file with inline SVG charts of the relative lift and
 * its interval per cycle (no scripts, no network). The store is opened
 * read-only. Formulas: docs/ab.md.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove ab report --store FILE [--market CODE] [--cycle KEY]\n"
            "                       [--json] [--report FILE.html] [--now TS]\n"
            "\n"
            "A/B results of assignment cycles, per market and cycle and\n"
            "cumulative: users, exposures (assigned offers), redemptions and\n"
            "redemption rate per arm; absolute and relative lift with 95%%\n"
            "intervals (delta method), two-sided p-value, sample-ratio-mismatch\n"
            "test (warning below p = 0.001), Holm correction across markets,\n"
            "guardrails (offer coverage, top-5 share, new offers shown).\n"
            "\n"
            "options:\n"
            "  -s, --store FILE     the store, opened read-only\n"
            "  -m, --market CODE    only this market\n"
            "  -c, --cycle KEY      only this cycle (in every reported market)\n"
            "      --json           JSON instead of tables\n"
            "  -r, --report FILE    also write a self-contained HTML report\n"
            "      --now TS         end of the latest cycle's window (Unix\n"
            "                       seconds; default: now)\n"
            "  -h, --help           this help\n");
}

/* One market's reported cycles. */
typedef struct market_rows {
    char code[64];
    int64_t market_id;
    trove_ab_cycle_counts *cycles;
    trove_ab_result *results;
    size_t n, cap;
    trove_ab_cycle_counts total;
    trove_ab_result total_result;
    double p_holm;
} market_rows;

typedef struct report {
    market_rows *markets;
    size_t n_markets;
    const char *only_market, *only_cycle;
    int64_t now;
    trove_store *s;
    trove_error *err;
} report;

static market_rows *market_slot(report *r, const trove_ab_cycle_counts *c)
{
    market_rows *m;
    for (size_t i = 0; i < r->n_markets; i++)
        if (r->markets[i].market_id == c->market_id)
            return &r->markets[i];
    m = trove_realloc(r->markets, (r->n_markets + 1) * sizeof *m);
    if (m == NULL)
        return NULL;
    r->markets = m;
    m = &r->markets[r->n_markets++];
    memset(m, 0, sizeof *m);
    m->market_id = c->market_id;
    snprintf(m->code, sizeof m->code, "%s", c->market);
    return m;
}

static int add_cycle(void *ud, const trove_cycle *cy)
{
    report *r = ud;
    trove_ab_cycle_counts k;
    market_rows *m;
    int rc;
    if (r->only_cycle && strcmp(cy->key, r->only_cycle) != 0)
        return 0;
    if ((rc = trove_store_ab_counts(r->s, cy->id, r->now, &k, r->err)) != TROVE_OK)
        return rc;
    if ((m = market_slot(r, &k)) == NULL)
        return trove_error_set(r->err, TROVE_ENOMEM, "out of memory");
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        trove_ab_cycle_counts *c2 = trove_realloc(m->cycles, cap * sizeof *c2);
        trove_ab_result *r2;
        if (c2 == NULL)
            return trove_error_set(r->err, TROVE_ENOMEM, "out of memory");
        m->cycles = c2;
        r2 = trove_realloc(m->results, cap * sizeof *r2);
        if (r2 == NULL)
            return trove_error_set(r->err, TROVE_ENOMEM, "out of memory");
        m->results = r2;
        m->cap = cap;
    }
    m->cycles[m->n] = k;
    trove_ab_analyze(&k, &m->results[m->n]);
    trove_ab_accumulate(&m->total, &k);
    m->n++;
    return 0;
}

static void report_free(report *r)
{
    for (size_t i = 0; i < r->n_markets; i++) {
        trove_free(r->markets[i].cycles);
        trove_free(r->markets[i].results);
    }
    trove_free(r->markets);
}

/* ------------------------------------------------------------- text */

static void fmt_pct(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2f%%", 100 * v);
}

static void fmt_signed_pct(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%+.2f%%", 100 * v);
}

static void fmt_ci(char *buf, size_t size, const double ci[2])
{
    if (isnan(ci[0]))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "[%+.2f%%, %+.2f%%]", 100 * ci[0], 100 * ci[1]);
}

/* A p-value or other figure with 4 significant digits, "-" if undefined. */
static void fmt_num(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.4g", v);
}

static void print_block(const char *label, const trove_ab_cycle_counts *c,
                        const trove_ab_result *r, double p_holm)
{
    char a[64], b[64], p[32], q[32];
    for (int k = 0; k < TROVE_N_ARMS; k++) {
        const trove_ab_arm_counts *arm = &c->arm[k];
        fmt_pct(a, sizeof a, r->rate[k]);
        printf("%-14s %-8s %9llu %10llu %10llu %9llu %10s\n", k == 0 ? label : "",
               trove_arm_name(k), (unsigned long long)arm->users,
               (unsigned long long)arm->exposures,
               (unsigned long long)arm->impressions,
               (unsigned long long)arm->redemptions, a);
    }
    fmt_signed_pct(a, sizeof a, r->abs_lift);
    fmt_ci(b, sizeof b, r->abs_ci);
    fmt_num(p, sizeof p, r->p_value);
    printf("%-14s abs lift %s (points) %s   p = %s", "", a, b, p);
    if (!isnan(p_holm)) {
        fmt_num(q, sizeof q, p_holm);
        printf("   Holm p = %s", q);
    }
    fmt_signed_pct(a, sizeof a, r->rel_lift);
    fmt_ci(b, sizeof b, r->rel_ci);
    printf("\n%-14s rel lift %s %s\n", "", a, b);
    fmt_num(p, sizeof p, r->srm_p);
    printf("%-14s SRM chi2 = %.3f, p = %s (test share %.3f)%s\n", "", r->srm_chi2,
           p, c->test_share, r->srm_warn ? "  WARNING: sample ratio mismatch" : "");
    fmt_pct(a, sizeof a, r->coverage);
    fmt_pct(b, sizeof b, r->top5_share);
    fmt_pct(p, sizeof p, r->new_shown);
    printf("%-14s coverage %s (%llu of %llu offers), top-5 share %s, new offers "
           "shown %s (%llu of %llu), unassigned redemptions %llu\n", "", a,
           (unsigned long long)c->distinct_items,
           (unsigned long long)c->eligible_items, b, p,
           (unsigned long long)c->new_items_shown,
           (unsigned long long)c->new_items,
           (unsigned long long)c->unassigned_redemptions);
}

static void print_tables(const report *r)
{
    for (size_t i = 0; i < r->n_markets; i++) {
        const market_rows *m = &r->markets[i];
        printf("%smarket %s: %zu cycle%s\n", i ? "\n" : "", m->code, m->n,
               m->n == 1 ? "" : "s");
        printf("%-14s %-8s %9s %10s %10s %9s %10s\n", "cycle", "arm", "users",
               "exposures", "impressed", "redeemed", "rate");
        for (size_t k = 0; k < m->n; k++)
            print_block(m->cycles[k].key, &m->cycles[k], &m->results[k], NAN);
        print_block("cumulative", &m->total, &m->total_result, m->p_holm);
    }
}

/* -------------------------------------------------------------- JSON */

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *jpair(const double v[2])
{
    json_t *a = json_array();
    json_array_append_new(a, jnum(v[0]));
    json_array_append_new(a, jnum(v[1]));
    return a;
}

static json_t *block_json(const trove_ab_cycle_counts *c, const trove_ab_result *r)
{
    json_t *o = json_object(), *arms = json_object(), *srm = json_object(),
           *g = json_object();
    for (int k = 0; k < TROVE_N_ARMS; k++) {
        const trove_ab_arm_counts *a = &c->arm[k];
        json_t *x = json_object();
        json_object_set_new(x, "users", json_integer((json_int_t)a->users));
        json_object_set_new(x, "exposures", json_integer((json_int_t)a->exposures));
        json_object_set_new(x, "impressions", json_integer((json_int_t)a->impressions));
        json_object_set_new(x, "redemptions", json_integer((json_int_t)a->redemptions));
        json_object_set_new(x, "redeeming_users",
                            json_integer((json_int_t)a->redeeming_users));
        json_object_set_new(x, "rate", jnum(r->rate[k]));
        json_object_set_new(x, "rate_se", jnum(r->rate_se[k]));
        json_object_set_new(x, "distinct_offers",
                            json_integer((json_int_t)a->distinct_items));
        json_object_set_new(arms, trove_arm_name(k), x);
    }
    json_object_set_new(o, "cycle", json_string(c->key));
    json_object_set_new(o, "start_ts", json_integer(c->start_ts));
    json_object_set_new(o, "end_ts", json_integer(c->end_ts));
    json_object_set_new(o, "test_share", jnum(c->test_share));
    json_object_set_new(o, "arms", arms);
    json_object_set_new(o, "abs_lift", jnum(r->abs_lift));
    json_object_set_new(o, "abs_ci", jpair(r->abs_ci));
    json_object_set_new(o, "rel_lift", jnum(r->rel_lift));
    json_object_set_new(o, "rel_ci", jpair(r->rel_ci));
    json_object_set_new(o, "z", jnum(r->z));
    json_object_set_new(o, "p_value", jnum(r->p_value));
    json_object_set_new(srm, "chi2", jnum(r->srm_chi2));
    json_object_set_new(srm, "p", jnum(r->srm_p));
    json_object_set_new(srm, "warn", json_boolean(r->srm_warn));
    json_object_set_new(o, "srm", srm);
    json_object_set_new(g, "coverage", jnum(r->coverage));
    json_object_set_new(g, "distinct_offers", json_integer((json_int_t)c->distinct_items));
    json_object_set_new(g, "eligible_offers", json_integer((json_int_t)c->eligible_items));
    json_object_set_new(g, "top5_share", jnum(r->top5_share));
    json_object_set_new(g, "new_offers", json_integer((json_int_t)c->new_items));
    json_object_set_new(g, "new_offers_shown", json_integer((json_int_t)c->new_items_shown));
    json_object_set_new(g, "new_shown_share", jnum(r->new_shown));
    json_object_set_new(o, "guardrails", g);
    json_object_set_new(o, "unassigned_redemptions",
                        json_integer((json_int_t)c->unassigned_redemptions));
    return o;
}

static int print_json(const report *r)
{
    json_t *root = json_object(), *markets = json_array();
    int rc;
    for (size_t i = 0; i < r->n_markets; i++) {
        const market_rows *m = &r->markets[i];
        json_t *o = json_object(), *cycles = json_array(), *total;
        for (size_t k = 0; k < m->n; k++)
            json_array_append_new(cycles, block_json(&m->cycles[k], &m->results[k]));
        json_object_set_new(o, "market", json_string(m->code));
        json_object_set_new(o, "cycles", cycles);
        total = block_json(&m->total, &m->total_result);
        json_object_set_new(total, "p_holm", jnum(m->p_holm));
        json_object_set_new(o, "cumulative", total);
        json_array_append_new(markets, o);
    }
    json_object_set_new(root, "markets", markets);
    json_object_set_new(root, "holm_tests", json_integer((json_int_t)r->n_markets));
    rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
    json_decref(root);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* -------------------------------------------------------------- HTML */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:  fputc(*s, f);
        }
    }
}

/* A forest plot: one row per cycle plus the cumulative row, a dot at the
 * relative lift and a bar over its 95% interval, a line at 0. */
static void svg_lift(FILE *f, const market_rows *m)
{
    const int row_h = 26, left = 130, width = 420, pad = 20;
    size_t rows = m->n + 1;
    int height = (int)rows * row_h + 40;
    double lo = -0.1, hi = 0.1;
    for (size_t k = 0; k < rows; k++) {
        const trove_ab_result *r = k < m->n ? &m->results[k] : &m->total_result;
        double a = isnan(r->rel_ci[0]) ? r->rel_lift : r->rel_ci[0];
        double b = isnan(r->rel_ci[1]) ? r->rel_lift : r->rel_ci[1];
        if (!isnan(a) && a < lo)
            lo = a;
        if (!isnan(b) && b > hi)
            hi = b;
    }
    lo -= 0.05 * (hi - lo);
    hi += 0.05 * (hi - lo);
#define X(v) (left + (int)((double)width * ((v) - lo) / (hi - lo)))
    fprintf(f, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" role=\"img\" aria-label=\"relative lift per cycle\">\n",
            left + width + pad, height);
    fprintf(f, "<line x1=\"%d\" y1=\"10\" x2=\"%d\" y2=\"%d\" stroke=\"#888\" "
            "stroke-dasharray=\"4 3\"/>\n", X(0.0), X(0.0), height - 24);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">0%%</text>\n",
            X(0.0), height - 8);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"start\">%+.0f%%</text>\n",
            left, height - 8, 100 * lo);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%+.0f%%</text>\n",
            left + width, height - 8, 100 * hi);
    for (size_t k = 0; k < rows; k++) {
        const trove_ab_result *r = k < m->n ? &m->results[k] : &m->total_result;
        const char *label = k < m->n ? m->cycles[k].key : "cumulative";
        int y = 20 + (int)k * row_h;
        const char *color = k < m->n ? "#1f6fb4" : "#b4321f";
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 8, y + 4);
        html_text(f, label);
        fputs("</text>\n", f);
        if (!isnan(r->rel_ci[0]))
            fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                    "stroke-width=\"3\"/>\n", X(r->rel_ci[0]), y, X(r->rel_ci[1]), y,
                    color);
        if (!isnan(r->rel_lift))
            fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"%s\"><title>%+.2f%%"
                    "</title></circle>\n", X(r->rel_lift), y, color,
                    100 * r->rel_lift);
        else
            fprintf(f, "<text x=\"%d\" y=\"%d\">n/a</text>\n", left + 4, y + 4);
    }
#undef X
    fputs("</svg><figcaption>relative lift of the redemption rate, test vs "
          "control, with 95% intervals</figcaption></figure>\n", f);
}

static void html_row(FILE *f, const char *label, const trove_ab_cycle_counts *c,
                     const trove_ab_result *r, double p_holm)
{
    char a[64], b[64], d[64], e[64], p[32], q[32], s1[32], g1[32], g2[32], g3[32];
    fmt_pct(a, sizeof a, r->rate[0]);
    fmt_pct(b, sizeof b, r->rate[1]);
    fmt_signed_pct(d, sizeof d, r->rel_lift);
    fmt_ci(e, sizeof e, r->rel_ci);
    fmt_num(p, sizeof p, r->p_value);
    fmt_num(q, sizeof q, p_holm);
    fmt_num(s1, sizeof s1, r->srm_p);
    fmt_pct(g1, sizeof g1, r->coverage);
    fmt_pct(g2, sizeof g2, r->top5_share);
    fmt_pct(g3, sizeof g3, r->new_shown);
    fputs("<tr><td>", f);
    html_text(f, label);
    fprintf(f, "</td><td>%llu / %llu</td><td>%llu / %llu</td><td>%llu / %llu</td>"
            "<td>%s</td><td>%s</td><td>%s %s</td><td>%s</td><td>%s</td>"
            "<td%s>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%llu</td></tr>\n",
            (unsigned long long)c->arm[0].users, (unsigned long long)c->arm[1].users,
            (unsigned long long)c->arm[0].exposures,
            (unsigned long long)c->arm[1].exposures,
            (unsigned long long)c->arm[0].redemptions,
            (unsigned long long)c->arm[1].redemptions, a, b, d, e, p, q,
            r->srm_warn ? " class=\"warn\"" : "", s1, g1, g2, g3,
            (unsigned long long)c->unassigned_redemptions);
}

static int write_html(const report *r, const char *path, const char *store,
                      trove_error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return trove_error_set(err, TROVE_EIO, "%s: cannot write the report", path);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>trove A/B report</title>\n<style>body{font:14px sans-serif;"
          "margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
          "td:first-child,th:first-child{text-align:left}.warn{background:#fdd;"
          "font-weight:bold}svg text{font:12px sans-serif}small{color:#666}"
          "</style></head><body>\n<h1>A/B report</h1>\n<p><small>store ", f);
    html_text(f, store);
    fputs("; arms control / test; rates are redeemed assigned offers over "
          "assigned offers; intervals are 95% (delta method); Holm-corrected "
          "p-values across markets on the cumulative rows; SRM warns below "
          "p = 0.001.</small></p>\n", f);
    for (size_t i = 0; i < r->n_markets; i++) {
        const market_rows *m = &r->markets[i];
        fputs("<h2>market ", f);
        html_text(f, m->code);
        fputs("</h2>\n", f);
        svg_lift(f, m);
        fputs("<table><tr><th>cycle</th><th>users</th><th>exposures</th>"
              "<th>redemptions</th><th>rate control</th><th>rate test</th>"
              "<th>relative lift [95% CI]</th><th>p</th><th>Holm p</th>"
              "<th>SRM p</th><th>coverage</th><th>top-5 share</th>"
              "<th>new offers shown</th><th>unassigned</th></tr>\n", f);
        for (size_t k = 0; k < m->n; k++)
            html_row(f, m->cycles[k].key, &m->cycles[k], &m->results[k], NAN);
        html_row(f, "cumulative", &m->total, &m->total_result, m->p_holm);
        fputs("</table>\n", f);
    }
    fputs("</body></html>\n", f);
    if (fclose(f) != 0)
        return trove_error_set(err, TROVE_EIO, "%s: write error", path);
    return TROVE_OK;
}

int cmd_ab(int argc, char **argv)
{
    enum { OPT_JSON = 256, OPT_NOW };
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'},
        {"market", required_argument, NULL, 'm'},
        {"cycle", required_argument, NULL, 'c'},
        {"report", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, OPT_JSON},
        {"now", required_argument, NULL, OPT_NOW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store = NULL, *html = NULL;
    int json = 0, c, rc = CLI_EXIT_FAIL, status;
    long now = 0;
    report r;
    trove_error err;
    int64_t market_id = 0;
    double *ps = NULL;

    memset(&r, 0, sizeof r);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:m:c:r:h", options, NULL)) != -1) {
        switch (c) {
        case 's':
            store = optarg;
            break;
        case 'm':
            r.only_market = optarg;
            break;
        case 'c':
            r.only_cycle = optarg;
            break;
        case 'r':
            html = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case OPT_NOW:
            if (cli_parse_long(optarg, 1, 0x7fffffffffffffffL, &now) != 0)
                return cli_usage_error("ab", "--now needs Unix seconds, not '%s'",
                                       optarg);
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage_error("ab", "unknown or incomplete option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind >= argc || strcmp(argv[optind], "report") != 0)
        return cli_usage_error("ab", optind >= argc ? "an action is required: report"
                                                    : "unknown action (only: report)");
    if (++optind < argc)
        return cli_usage_error("ab", "unexpected argument '%s'", argv[optind]);
    if (store == NULL)
        return cli_usage_error("ab", "--store FILE is required");

    cli_setup_log(0);
    trove_error_clear(&err);
    if (trove_store_open(store, TROVE_STORE_READONLY, &r.s, &err) != TROVE_OK)
        return cli_fail("ab", &err);
    r.now = now ? (int64_t)now : (int64_t)time(NULL);
    r.err = &err;
    if (r.only_market &&
        trove_store_market_find(r.s, r.only_market, &market_id, &err) != TROVE_OK) {
        rc = cli_fail("ab", &err);
        goto done;
    }
    /* One snapshot for every count. */
    if ((status = trove_store_begin(r.s, &err)) != TROVE_OK ||
        (status = trove_store_cycles_foreach(r.s, market_id, add_cycle, &r,
                                             &err)) != TROVE_OK) {
        rc = cli_fail("ab", &err);
        goto done;
    }
    trove_store_rollback(r.s, NULL);
    if (r.n_markets == 0) {
        trove_error_set(&err, TROVE_EEMPTY, "%s: no cycles%s%s%s%s to report", store,
                        r.only_market ? " in market " : "",
                        r.only_market ? r.only_market : "",
                        r.only_cycle ? " with key " : "",
                        r.only_cycle ? r.only_cycle : "");
        rc = cli_fail("ab", &err);
        goto done;
    }
    ps = trove_calloc(r.n_markets, sizeof *ps);
    if (ps == NULL) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        rc = cli_fail("ab", &err);
        goto done;
    }
    for (size_t i = 0; i < r.n_markets; i++) {
        trove_ab_analyze(&r.markets[i].total, &r.markets[i].total_result);
        ps[i] = r.markets[i].total_result.p_value;
    }
    trove_ab_holm(ps, r.n_markets, ps);
    for (size_t i = 0; i < r.n_markets; i++) {
        market_rows *m = &r.markets[i];
        m->p_holm = ps[i];
        for (size_t k = 0; k < m->n; k++)
            if (m->results[k].srm_warn)
                fprintf(stderr, "trove ab: warning: market %s cycle %s: sample "
                        "ratio mismatch (p = %.3g): the arms are not split as "
                        "configured\n", m->code, m->cycles[k].key,
                        m->results[k].srm_p);
        if (m->total.unassigned_redemptions > 0)
            fprintf(stderr, "trove ab: note: market %s: %llu redemptions of offers "
                    "the cycles did not assign (not counted in the rates)\n",
                    m->code, (unsigned long long)m->total.unassigned_redemptions);
    }
    rc = CLI_EXIT_OK;
    if (json)
        rc = print_json(&r);
    else
        print_tables(&r);
    if (html && write_html(&r, html, store, &err) != TROVE_OK)
        rc = cli_fail("ab", &err);
done:
    trove_free(ps);
    report_free(&r);
    trove_store_close(r.s);
    return rc;
}
