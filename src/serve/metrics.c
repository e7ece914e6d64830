/*
 * metrics.c - request counters and latency histograms of trove serve, in
 * the Prometheus text exposition format (version 0.0.4).
 *
 * Series are labelled by endpoint, HTTP status and market. The label space
 * is fixed at start (endpoints x known status codes x markets known to the
 * store + none), so recording is a handful of relaxed atomic additions and
 * never allocates. Histogram buckets are stored per bucket and made
 * cumulative when rendered.
 */
#include "serve_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const int status_codes[SERVE_N_STATUS] = {
    200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 500, 503
};

/* Upper bounds in seconds. The last bucket is +Inf. */
const double trove__serve_bucket_le[SERVE_N_BUCKETS - 1] = {
    0.000025, 0.00005, 0.000075, 0.0001, 0.00015, 0.00025, 0.0005, 0.001,
    0.0025, 0.005, 0.01, 0.05, 0.25, 1.0
};

const char *const trove__serve_endpoint_names[SERVE_N_ENDPOINTS] = {
    "recommendations", "events", "item_put", "item_patch", "user_put", "models",
    "model_activate", "model_rollback", "healthz", "metrics", "hunts",
    "monitoring", "dashboard_api", "static", "other"
};

static const char *const fallback_names[4] = {
    "no_model", "unknown_user", "no_popularity", "short_list"
};

static int status_index(int status)
{
    for (int i = 0; i < SERVE_N_STATUS; i++)
        if (status_codes[i] == status)
            return i;
    return SERVE_N_STATUS - 2;   /* counted as 500 */
}

static size_t series_count(const serve_metrics *mx)
{
    return (size_t)SERVE_N_ENDPOINTS * SERVE_N_STATUS * mx->n_market_labels;
}

int trove__serve_metrics_init(serve_metrics *mx, const serve_snapshot *snap)
{
    mx->n_market_labels = 1 + snap->n_markets;
    mx->market_label[0][0] = '\0';
    for (uint32_t m = 0; m < snap->n_markets; m++) {
        char *lab = mx->market_label[m + 1];
        snprintf(lab, sizeof mx->market_label[m + 1], "%s", snap->markets[m].code);
        /* label values may not hold quotes, backslashes or line breaks
         * unescaped; market codes never should, so replace them */
        for (char *c = lab; *c; c++)
            if (*c == '"' || *c == '\\' || *c == '\n')
                *c = '_';
    }
    mx->series = trove_calloc(series_count(mx), sizeof *mx->series);
    return mx->series == NULL ? TROVE_ENOMEM : TROVE_OK;
}

void trove__serve_metrics_free(serve_metrics *mx)
{
    trove_free(mx->series);
    mx->series = NULL;
}

void trove__serve_metrics_observe(serve_metrics *mx, int endpoint, int status,
                                  uint32_t market, uint64_t ns)
{
    if (market >= mx->n_market_labels)
        market = 0;
    size_t at = ((size_t)endpoint * SERVE_N_STATUS +
                 (size_t)status_index(status)) * mx->n_market_labels + market;
    serve_series *se = &mx->series[at];
    double sec = (double)ns * 1e-9;
    int b = 0;
    while (b < SERVE_N_BUCKETS - 1 && sec > trove__serve_bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&se->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&se->sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&se->bucket[b], 1, memory_order_relaxed);
}

void trove__serve_metrics_fallback(serve_metrics *mx, uint32_t market,
                                   int reason)
{
    if (market >= mx->n_market_labels)
        market = 0;
    atomic_fetch_add_explicit(&mx->fallback[market][reason], 1,
                              memory_order_relaxed);
}

/* A growing text buffer; on allocation failure it stays failed. */
typedef struct textbuf {
    char  *p;
    size_t len, cap;
    int    failed;
} textbuf;

__attribute__((format(printf, 2, 3)))
static void tb_printf(textbuf *t, const char *fmt, ...)
{
    va_list ap;
    if (t->failed)
        return;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 8192;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *p = trove_realloc(t->p, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

int trove__serve_metrics_render(serve_metrics *mx, const serve_snapshot *snap,
                                int64_t now, size_t user_feature_sets, char **out,
                                size_t *len)
{
    textbuf t = { 0 };
    tb_printf(&t, "# HELP trove_http_requests_total HTTP requests answered.\n"
                  "# TYPE trove_http_requests_total counter\n");
    for (int e = 0; e < SERVE_N_ENDPOINTS; e++)
        for (int st = 0; st < SERVE_N_STATUS; st++)
            for (size_t m = 0; m < mx->n_market_labels; m++) {
                size_t at = ((size_t)e * SERVE_N_STATUS + (size_t)st) *
                            mx->n_market_labels + m;
                unsigned long long c = atomic_load(&mx->series[at].count);
                if (c == 0)
                    continue;
                tb_printf(&t, "trove_http_requests_total{endpoint=\"%s\","
                              "code=\"%d\",market=\"%s\"} %llu\n",
                          trove__serve_endpoint_names[e], status_codes[st],
                          mx->market_label[m], c);
            }
    tb_printf(&t, "# HELP trove_http_request_duration_seconds Server time "
                  "per request, from the request line to the queued answer.\n"
                  "# TYPE trove_http_request_duration_seconds histogram\n");
    for (int e = 0; e < SERVE_N_ENDPOINTS; e++)
        for (int st = 0; st < SERVE_N_STATUS; st++)
            for (size_t m = 0; m < mx->n_market_labels; m++) {
                size_t at = ((size_t)e * SERVE_N_STATUS + (size_t)st) *
                            mx->n_market_labels + m;
                serve_series *se = &mx->series[at];
                unsigned long long c = atomic_load(&se->count), cum = 0;
                if (c == 0)
                    continue;
                const char *ep = trove__serve_endpoint_names[e];
                const char *mk = mx->market_label[m];
                for (int b = 0; b < SERVE_N_BUCKETS; b++) {
                    cum += atomic_load(&se->bucket[b]);
                    if (b < SERVE_N_BUCKETS - 1)
                        tb_printf(&t, "trove_http_request_duration_seconds_bucket"
                                      "{endpoint=\"%s\",code=\"%d\",market=\"%s\","
                                      "le=\"%g\"} %llu\n", ep, status_codes[st],
                                  mk, trove__serve_bucket_le[b], cum);
                    else
                        tb_printf(&t, "trove_http_request_duration_seconds_bucket"
                                      "{endpoint=\"%s\",code=\"%d\",market=\"%s\","
                                      "le=\"+Inf\"} %llu\n", ep, status_codes[st],
                                  mk, cum);
                }
                tb_printf(&t, "trove_http_request_duration_seconds_sum"
                              "{endpoint=\"%s\",code=\"%d\",market=\"%s\"} %.9f\n",
                          ep, status_codes[st], mk,
                          (double)atomic_load(&se->sum_ns) * 1e-9);
                tb_printf(&t, "trove_http_request_duration_seconds_count"
                              "{endpoint=\"%s\",code=\"%d\",market=\"%s\"} %llu\n",
                          ep, status_codes[st], mk, c);
            }
    tb_printf(&t, "# HELP trove_recommendation_fallbacks_total Recommendation "
                  "lists not (fully) ranked by a model, by reason.\n"
                  "# TYPE trove_recommendation_fallbacks_total counter\n");
    for (size_t m = 1; m < mx->n_market_labels; m++)
        for (int r = 0; r < 4; r++)
            tb_printf(&t, "trove_recommendation_fallbacks_total{market=\"%s\","
                          "reason=\"%s\"} %llu\n", mx->market_label[m],
                      fallback_names[r],
                      (unsigned long long)atomic_load(&mx->fallback[m][r]));
    tb_printf(&t, "# HELP trove_events_stored_total Events stored by POST "
                  "/v1/events.\n# TYPE trove_events_stored_total counter\n"
                  "trove_events_stored_total %llu\n"
                  "# HELP trove_events_duplicate_total Events already in the "
                  "store.\n# TYPE trove_events_duplicate_total counter\n"
                  "trove_events_duplicate_total %llu\n",
              (unsigned long long)atomic_load(&mx->events_stored),
              (unsigned long long)atomic_load(&mx->events_duplicate));
    tb_printf(&t, "# HELP trove_ranking_candidates_total Model rankings "
                  "started from the quantized candidates: "
                  "result=\"used\" answered from them, result=\"rescored\" "
                  "needed the whole catalog.\n"
                  "# TYPE trove_ranking_candidates_total counter\n"
                  "trove_ranking_candidates_total{result=\"used\"} %llu\n"
                  "trove_ranking_candidates_total{result=\"rescored\"} %llu\n",
              (unsigned long long)atomic_load(&mx->candidates_used),
              (unsigned long long)atomic_load(&mx->candidates_rescored));
    tb_printf(&t, "# HELP trove_rule_actions_total What the rules engine did "
                  "to recommendation lists, by action.\n"
                  "# TYPE trove_rule_actions_total counter\n");
    for (size_t m = 1; m < mx->n_market_labels; m++)
        for (int act = 1; act < 16; act++) {
            unsigned long long c = atomic_load(&mx->rule_actions[m][act]);
            if (c > 0)
                tb_printf(&t, "trove_rule_actions_total{market=\"%s\","
                              "action=\"%s\"} %llu\n", mx->market_label[m],
                          trove_rules_action_name(act), c);
        }
    tb_printf(&t, "# HELP trove_model_age_seconds Age of the served model "
                  "version (absent: no model).\n"
                  "# TYPE trove_model_age_seconds gauge\n");
    for (uint32_t m = 0; m < snap->n_markets; m++) {
        const serve_model *md = snap->markets[m].model;
        if (md != NULL)
            tb_printf(&t, "trove_model_age_seconds{market=\"%s\",version=\"%d\"}"
                          " %lld\n", mx->market_label[m + 1], md->version,
                      (long long)(now - md->created_ts));
    }
    tb_printf(&t, "# HELP trove_catalog_items Offers in the served catalog.\n"
                  "# TYPE trove_catalog_items gauge\n"
                  "trove_catalog_items %u\n", snap->n_items);
    tb_printf(&t, "# HELP trove_user_feature_sets Feature lists of users put while "
                  "serving (PUT /v1/users) held in memory: one per such user, and a "
                  "replaced one until the requests reading it end.\n"
                  "# TYPE trove_user_feature_sets gauge\n"
                  "trove_user_feature_sets %zu\n", user_feature_sets);
    if (t.failed) {
        trove_free(t.p);
        return TROVE_ENOMEM;
    }
    *out = t.p;
    *len = t.len;
    return TROVE_OK;
}
