/*
 * report.c - the comparison report of several evaluated models: one JSON
 * object (machine-readable, every interval included) and one self-contained
 * HTML page (inline CSS and SVG bar charts with interval whiskers; no script,
 * no external resource, so it opens offline and can be mailed as is).
 *
 * Both are written from the same inputs and list the models in the order
 * given; the baseline is named in the setup and drawn in grey.
 */
#include "eval_int.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const kind_names[] = {"market", "cold_items", "new_users", "activity"};

static const char *slice_kind(unsigned kind)
{
    for (unsigned b = 0; b < 4; b++)
        if (kind == 1u << b)
            return kind_names[b];
    return "other";
}

/* Labels of the metrics in tables (k is printed next to the @ ones). */
static const char *const metric_labels[TROVE_METRIC_COUNT] = {
    "P@k", "R@k", "NDCG@k", "MAP@k", "MRR", "HR@k", "AUC", "P@k (LightFM)",
    "R@k (LightFM)"
};

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Numbers: JSON has no NaN/inf; write null for them. */
static void json_num(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, "%.6g", x);
    else
        fputs("null", f);
}

static void json_summary(FILE *f, const trove_eval_summary *s)
{
    fprintf(f, "{\"n_users\":%u", s->n_users);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
        fprintf(f, ",\"%s\":{\"mean\":", trove_metric_name(m));
        json_num(f, s->mean[m]);
        fputs(",\"lo\":", f);
        json_num(f, s->lo[m]);
        fputs(",\"hi\":", f);
        json_num(f, s->hi[m]);
        fputc('}', f);
    }
    fputc('}', f);
}

int trove_eval_report_json(FILE *f, const trove_eval_report_info *info,
                           const trove_eval_report_model *models, size_t n,
                           trove_error *err)
{
    if (f == NULL || info == NULL || (n > 0 && models == NULL))
        return trove_error_set(err, TROVE_EINVAL, "report: missing argument");
    fputs("{\"title\":", f);
    json_str(f, info->title);
    fputs(",\"train\":", f);
    json_str(f, info->train_path);
    fputs(",\"test\":", f);
    json_str(f, info->test_path);
    fprintf(f, ",\"k\":%u,\"n_users\":%u,\"n_items\":%u,\"n_train_pairs\":%llu",
            n ? models[0].result->k : 0, info->n_users, info->n_items,
            (unsigned long long)info->n_train_pairs);
    fprintf(f, ",\"test_file\":{\"lines\":%llu,\"pairs\":%llu,\"duplicates\":%llu,"
               "\"unknown_user\":%llu,\"unknown_item\":%llu}",
            (unsigned long long)info->test_stats.lines,
            (unsigned long long)info->test_stats.pairs,
            (unsigned long long)info->test_stats.duplicates,
            (unsigned long long)info->test_stats.unknown_user,
            (unsigned long long)info->test_stats.unknown_item);
    fprintf(f, ",\"bootstrap\":%u,\"ci_level\":", info->bootstrap);
    json_num(f, info->ci_level);
    fputs(",\"baseline\":", f);
    json_str(f, info->baseline);
    fputs(",\"models\":[", f);
    for (size_t i = 0; i < n; i++) {
        const trove_eval_result *r = models[i].result;
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        json_str(f, models[i].name);
        fputs(",\"fit_seconds\":", f);
        json_num(f, models[i].fit_seconds);
        fputs(",\"eval_seconds\":", f);
        json_num(f, models[i].eval_seconds);
        fprintf(f, ",\"map_denominator\":\"%s\"",
                r->map_denominator == TROVE_MAP_BY_RELEVANT ? "relevant" : "min_k");
        fprintf(f, ",\"test_pairs\":%llu,\"test_pairs_in_train\":%llu,"
                   "\"relevant_pairs\":%llu,\"metrics\":",
                (unsigned long long)r->n_test_pairs,
                (unsigned long long)r->n_test_in_train,
                (unsigned long long)r->n_relevant);
        json_summary(f, &r->overall);
        fputs(",\"beyond\":{\"coverage\":", f);
        json_num(f, r->coverage);
        fputs(",\"coverage_denominator\":\"catalog\",\"top5_share\":", f);
        json_num(f, r->top5_share);
        fputs(",\"gini\":", f);
        json_num(f, r->gini);
        fputs(",\"novelty\":", f);
        json_num(f, r->novelty);
        fputs(",\"mean_popularity\":", f);
        json_num(f, r->mean_popularity);
        fprintf(f, ",\"recommended\":%llu}", (unsigned long long)r->n_recommended);
        fputs(",\"vs_baseline\":", f);
        if (models[i].vs_base == NULL) {
            fputs("null", f);
        } else {
            const trove_eval_comparison *c = models[i].vs_base;
            fprintf(f, "{\"n_users\":%u", c->n_users);
            for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
                fprintf(f, ",\"%s\":{\"diff\":", trove_metric_name(m));
                json_num(f, c->diff[m]);
                fputs(",\"lo\":", f);
                json_num(f, c->lo[m]);
                fputs(",\"hi\":", f);
                json_num(f, c->hi[m]);
                fputs(",\"p\":", f);
                json_num(f, c->p_value[m]);
                fputc('}', f);
            }
            fputc('}', f);
        }
        fputs(",\"slices\":[", f);
        for (uint32_t s = 0; s < r->n_slices; s++) {
            fputs(s ? ",{\"name\":" : "{\"name\":", f);
            json_str(f, r->slices[s].name);
            fprintf(f, ",\"kind\":\"%s\",\"metrics\":", slice_kind(r->slices[s].kind));
            json_summary(f, &r->slices[s].s);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputs("]}\n", f);
    if (ferror(f))
        return trove_error_set(err, TROVE_EIO, "report: write error");
    return TROVE_OK;
}

/* ------------------------------------------------------------------ HTML */
static void html_text(FILE *f, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*p, f);
        }
    }
}

static void metric_label(FILE *f, int m, uint32_t k)
{
    const char *l = metric_labels[m];
    const char *at = strstr(l, "@k");
    if (at == NULL) {
        fputs(l, f);
        return;
    }
    fprintf(f, "%.*s@%u%s", (int)(at - l), l, k, at + 2);
}

#define BAR_LABEL_W 170
#define BAR_W 430
#define BAR_H 20
#define BAR_GAP 6

/* Horizontal bar chart of n values with [lo, hi] whiskers (lo/hi NULL = none). */
static void svg_bars(FILE *f, const char *title, const char *const *labels,
                     const double *v, const double *lo, const double *hi,
                     const int *is_base, size_t n)
{
    double max = 0.0;
    int height = (int)n * (BAR_H + BAR_GAP) + 34;
    for (size_t i = 0; i < n; i++) {
        double x = hi ? hi[i] : v[i];
        if (isfinite(x) && x > max)
            max = x;
    }
    if (max <= 0.0)
        max = 1.0;
    fprintf(f, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "role=\"img\" aria-label=\"", BAR_LABEL_W + BAR_W + 90, height);
    html_text(f, title);
    fputs("\">\n<text x=\"0\" y=\"16\" class=\"t\">", f);
    html_text(f, title);
    fputs("</text>\n", f);
    for (size_t i = 0; i < n; i++) {
        int y = 28 + (int)i * (BAR_H + BAR_GAP);
        double w = isfinite(v[i]) ? v[i] / max * BAR_W : 0.0;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", BAR_LABEL_W - 8,
                y + BAR_H - 6);
        html_text(f, labels[i]);
        fprintf(f, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                   "fill=\"%s\"/>", BAR_LABEL_W, y, w, BAR_H,
                is_base[i] ? "#9aa0a6" : "#3b73b9");
        if (lo != NULL && hi != NULL && isfinite(lo[i]) && isfinite(hi[i])) {
            double x0 = BAR_LABEL_W + lo[i] / max * BAR_W;
            double x1 = BAR_LABEL_W + hi[i] / max * BAR_W;
            int ym = y + BAR_H / 2;
            fprintf(f, "<path d=\"M%.1f %dH%.1fM%.1f %dV%dM%.1f %dV%d\" stroke=\"#222\" "
                       "stroke-width=\"1.5\"/>", x0, ym, x1, x0, ym - 5, ym + 5, x1,
                    ym - 5, ym + 5);
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.4f</text>\n",
                BAR_LABEL_W + (hi && isfinite(hi[i]) ? hi[i] : v[i]) / max * BAR_W + 6,
                y + BAR_H - 6, v[i]);
    }
    fputs("</svg></figure>\n", f);
}

static void html_summary_row(FILE *f, const char *name, const trove_eval_summary *s,
                             int ci)
{
    fputs("<tr><td>", f);
    html_text(f, name);
    fprintf(f, "</td><td>%u</td>", s->n_users);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
        fprintf(f, "<td>%.4f", s->mean[m]);
        if (ci)
            fprintf(f, "<small> [%.4f, %.4f]</small>", s->lo[m], s->hi[m]);
        fputs("</td>", f);
    }
    fputs("</tr>\n", f);
}

static void html_metric_header(FILE *f, const char *first, uint32_t k)
{
    fprintf(f, "<tr><th>%s</th><th>users</th>", first);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
        fputs("<th>", f);
        metric_label(f, m, k);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
}

int trove_eval_report_html(const char *path, const trove_eval_report_info *info,
                           const trove_eval_report_model *models, size_t n,
                           trove_error *err)
{
    FILE *f;
    const char **labels = NULL;
    double *v = NULL, *lo = NULL, *hi = NULL;
    int *base = NULL;
    int rc = TROVE_OK, ci;
    uint32_t k;

    if (path == NULL || info == NULL || n == 0 || models == NULL)
        return trove_error_set(err, TROVE_EINVAL, "report: nothing to write");
    labels = trove_malloc(n * sizeof *labels);
    v = trove_malloc(n * sizeof *v);
    lo = trove_malloc(n * sizeof *lo);
    hi = trove_malloc(n * sizeof *hi);
    base = trove_malloc(n * sizeof *base);
    if (!labels || !v || !lo || !hi || !base) {
        rc = trove_error_set(err, TROVE_ENOMEM, "report: out of memory");
        goto done;
    }
    f = fopen(path, "w");
    if (f == NULL) {
        rc = trove_error_set(err, TROVE_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    k = models[0].result->k;
    ci = info->bootstrap > 0;
    for (size_t i = 0; i < n; i++) {
        labels[i] = models[i].name;
        base[i] = info->baseline != NULL && strcmp(models[i].name, info->baseline) == 0;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>trove evaluation: ", f);
    html_text(f, info->title);
    fputs("</title>\n<style>\nbody{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\n"
          "table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 7px;"
          "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f1f3f4}\n"
          "small{color:#666}figure{display:inline-block;margin:6px 18px 6px 0}svg text{font:12px sans-serif}"
          "svg .t{font-weight:bold}.sig{color:#0a7d32}.neg{color:#b3261e}\n</style></head><body>\n", f);
    fputs("<h1>Evaluation: ", f);
    html_text(f, info->title);
    fputs("</h1>\n<table><tr><th>setting</th><th>value</th></tr>\n<tr><td>train</td><td>", f);
    html_text(f, info->train_path);
    fputs("</td></tr>\n<tr><td>test</td><td>", f);
    html_text(f, info->test_path);
    fprintf(f, "</td></tr>\n<tr><td>users &times; items</td><td>%u &times; %u</td></tr>\n"
               "<tr><td>train pairs</td><td>%llu</td></tr>\n"
               "<tr><td>test pairs kept / duplicates / unknown user / unknown item</td>"
               "<td>%llu / %llu / %llu / %llu</td></tr>\n"
               "<tr><td>test pairs also in train (dropped)</td><td>%llu</td></tr>\n"
               "<tr><td>evaluated users</td><td>%u</td></tr>\n<tr><td>k</td><td>%u</td></tr>\n"
               "<tr><td>intervals</td><td>%s</td></tr>\n<tr><td>baseline</td><td>",
            info->n_users, info->n_items, (unsigned long long)info->n_train_pairs,
            (unsigned long long)info->test_stats.pairs,
            (unsigned long long)info->test_stats.duplicates,
            (unsigned long long)info->test_stats.unknown_user,
            (unsigned long long)info->test_stats.unknown_item,
            (unsigned long long)models[0].result->n_test_in_train,
            models[0].result->n_users, k, ci ? "percentile bootstrap over users" : "none");
    html_text(f, info->baseline);
    fputs("</td></tr></table>\n", f);
    if (ci)
        fprintf(f, "<p>Brackets and whiskers: %.0f%% bootstrap intervals (%u resamples of the "
                   "users). Definitions: docs/metrics.md (top-k lists exclude train items, ties "
                   "by item index; LightFM columns count ties against the positive).</p>\n",
                info->ci_level * 100.0, info->bootstrap);

    fputs("<h2>Accuracy</h2>\n<table>\n", f);
    html_metric_header(f, "model", k);
    for (size_t i = 0; i < n; i++)
        html_summary_row(f, models[i].name, &models[i].result->overall, ci);
    fputs("</table>\n", f);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
        char title[64];
        const char *l = metric_labels[m];
        const char *at = strstr(l, "@k");
        if (at)
            snprintf(title, sizeof title, "%.*s@%u%s", (int)(at - l), l, k, at + 2);
        else
            snprintf(title, sizeof title, "%s", l);
        for (size_t i = 0; i < n; i++) {
            v[i] = models[i].result->overall.mean[m];
            lo[i] = models[i].result->overall.lo[m];
            hi[i] = models[i].result->overall.hi[m];
        }
        svg_bars(f, title, labels, v, ci ? lo : NULL, ci ? hi : NULL, base, n);
    }

    fputs("<h2>Beyond accuracy</h2>\n<p>Coverage: distinct recommended items / all items of the "
          "catalog. Top-5 share: share of all recommendations taken by the 5 most recommended "
          "items. Gini of exposure over the whole catalog. Novelty: mean &minus;log2 of the "
          "share of train users who had the item. Mean popularity: mean number of train users "
          "of the recommended items.</p>\n<table><tr><th>model</th><th>coverage</th>"
          "<th>top-5 share</th><th>Gini</th><th>novelty</th><th>mean popularity</th>"
          "<th>fit s</th><th>eval s</th></tr>\n", f);
    for (size_t i = 0; i < n; i++) {
        const trove_eval_result *r = models[i].result;
        fputs("<tr><td>", f);
        html_text(f, models[i].name);
        fprintf(f, "</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.3f</td><td>%.1f</td>"
                   "<td>%.3f</td><td>%.3f</td></tr>\n", r->coverage, r->top5_share, r->gini,
                r->novelty, r->mean_popularity, models[i].fit_seconds, models[i].eval_seconds);
    }
    fputs("</table>\n", f);
    {
        static const char *const titles[] = {"catalog coverage", "top-5 share",
                                             "Gini of exposure", "novelty (bits)"};
        for (int b = 0; b < 4; b++) {
            for (size_t i = 0; i < n; i++) {
                const trove_eval_result *r = models[i].result;
                v[i] = b == 0 ? r->coverage : b == 1 ? r->top5_share
                     : b == 2 ? r->gini : r->novelty;
            }
            svg_bars(f, titles[b], labels, v, NULL, NULL, base, n);
        }
    }

    fputs("<h2>Against the baseline</h2>\n<p>Mean per-user difference (model &minus; ", f);
    html_text(f, info->baseline);
    fputs("), paired bootstrap interval, and p-value of a paired sign-flip randomisation "
          "test; green: interval above 0, red: below.</p>\n<table><tr><th>model</th>", f);
    for (int m = 0; m < TROVE_METRIC_COUNT; m++) {
        fputs("<th>&Delta; ", f);
        metric_label(f, m, k);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < n; i++) {
        const trove_eval_comparison *c = models[i].vs_base;
        if (c == NULL)
            continue;
        fputs("<tr><td>", f);
        html_text(f, models[i].name);
        fputs("</td>", f);
        for (int m = 0; m < TROVE_METRIC_COUNT; m++)
            fprintf(f, "<td class=\"%s\">%+.4f<small> [%+.4f, %+.4f] p=%.3g</small></td>",
                    c->lo[m] > 0 ? "sig" : c->hi[m] < 0 ? "neg" : "", c->diff[m], c->lo[m],
                    c->hi[m], c->p_value[m]);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n<h2>Slices</h2>\n<p>Markets (user feature market=XX), cold items (test "
          "items no train user had; relevant sets restricted to them), new users (no train "
          "interaction), activity buckets (train interactions per user).</p>\n", f);
    for (size_t i = 0; i < n; i++) {
        const trove_eval_result *r = models[i].result;
        if (r->n_slices == 0)
            continue;
        fputs("<h3>", f);
        html_text(f, models[i].name);
        fputs("</h3>\n<table>\n", f);
        html_metric_header(f, "slice", k);
        html_summary_row(f, "all", &r->overall, 0);
        for (uint32_t s = 0; s < r->n_slices; s++)
            html_summary_row(f, r->slices[s].name, &r->slices[s].s, 0);
        fputs("</table>\n", f);
    }
    fputs("</body></html>\n", f);
    if (ferror(f)) {
        fclose(f);
        rc = trove_error_set(err, TROVE_EIO, "%s: write error", path);
        goto done;
    }
    if (fclose(f) != 0)
        rc = trove_error_set(err, TROVE_EIO, "%s: %s", path, strerror(errno));
done:
    trove_free(labels);
    trove_free(v);
    trove_free(lo);
    trove_free(hi);
    trove_free(base);
    return rc;
}
