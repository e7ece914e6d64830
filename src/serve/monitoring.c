/*
 * monitoring.c - GET /v1/monitoring?market=M[&now=WHEN&days=N&train_days=N]:
 * the market's monitoring report (trove/monitor.h: data quality, feature
 * and score drift, model age) plus the server's request latency per
 * endpoint, estimated from the metrics histograms (docs/monitoring.md).
 *
 * The report reads the store, so it is computed under the admin lock with
 * the market's current model, and kept as JSON text for CACHE_NS after it
 * was computed, per (market, now, days, train_days), in the server
 * (trove_server.monitor_cache); the latency
 * part is read fresh on every request (relaxed atomic loads of the counters). A read-only
 * admin view: it needs the admin token unless the server runs with
 * --public-read.
 *
 * Invariant: cache entries are only read or written with the server's
 * monitor_lock held; an entry's text belongs to the entry until replaced.
 */
#include "serve_int.h"
#include "trove/monitor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_NS 5000000000ull

int trove__serve_monitoring_owns(const char *url)
{
    return strcmp(url, "/v1/monitoring") == 0;
}

/* Estimate of quantile q from non-cumulative bucket counts, as
 * Prometheus' histogram_quantile: find the bucket holding rank q*count and
 * interpolate linearly inside it (from 0 for the first bucket); a rank in
 * the +Inf bucket answers the largest finite bound. Milliseconds. */
static double quantile_ms(const uint64_t *b, uint64_t count, double q)
{
    double rank = q * (double)count, cum = 0.0;
    for (int i = 0; i < SERVE_N_BUCKETS; i++) {
        double next = cum + (double)b[i];
        if (next >= rank && b[i] > 0) {
            if (i == SERVE_N_BUCKETS - 1)
                return trove__serve_bucket_le[SERVE_N_BUCKETS - 2] * 1e3;
            double lo = i == 0 ? 0.0 : trove__serve_bucket_le[i - 1], hi = trove__serve_bucket_le[i];
            return (lo + (hi - lo) * (rank - cum) / (double)b[i]) * 1e3;
        }
        cum = next;
    }
    return 0.0;
}

/* One endpoint's latency summed over statuses and the given market labels
 * [m0, m1). NULL when it saw no request (or out of memory). */
static json_t *endpoint_latency(const serve_metrics *mx, int e, size_t m0,
                                size_t m1)
{
    uint64_t b[SERVE_N_BUCKETS] = { 0 }, count = 0, sum_ns = 0;
    for (int st = 0; st < SERVE_N_STATUS; st++)
        for (size_t m = m0; m < m1; m++) {
            const serve_series *se = &mx->series[((size_t)e * SERVE_N_STATUS +
                                                  (size_t)st) *
                                                 mx->n_market_labels + m];
            count += atomic_load_explicit(&se->count, memory_order_relaxed);
            sum_ns += atomic_load_explicit(&se->sum_ns, memory_order_relaxed);
            for (int i = 0; i < SERVE_N_BUCKETS; i++)
                b[i] += atomic_load_explicit(&se->bucket[i],
                                             memory_order_relaxed);
        }
    if (count == 0)
        return NULL;
    json_t *buckets = json_array();
    for (int i = 0; i < SERVE_N_BUCKETS && buckets != NULL; i++)
        if (json_array_append_new(buckets, json_integer((json_int_t)b[i])) != 0) {
            json_decref(buckets);
            buckets = NULL;
        }
    return json_pack("{s:s,s:I,s:f,s:f,s:f,s:o}", "endpoint", trove__serve_endpoint_names[e],
                     "count", (json_int_t)count,
                     "mean_ms", (double)sum_ns / (double)count * 1e-6,
                     "p50_ms", quantile_ms(b, count, 0.5),
                     "p99_ms", quantile_ms(b, count, 0.99), "buckets", buckets);
}

static json_t *latency_json(const trove_server *s, int mi)
{
    const serve_metrics *mx = &s->metrics;
    json_t *le = json_array(), *all = json_array(), *mine = json_array();
    size_t ml = (size_t)mi + 1;
    if (le == NULL || all == NULL || mine == NULL)
        goto fail;
    for (int i = 0; i < SERVE_N_BUCKETS - 1; i++)
        if (json_array_append_new(le, json_real(trove__serve_bucket_le[i] * 1e3)) != 0)
            goto fail;
    if (json_array_append_new(le, json_null()) != 0)
        goto fail;
    for (int e = 0; e < SERVE_N_ENDPOINTS; e++) {
        json_t *o = endpoint_latency(mx, e, 0, mx->n_market_labels);
        if (o != NULL && json_array_append_new(all, o) != 0)
            goto fail;
        if (ml < mx->n_market_labels) {
            o = endpoint_latency(mx, e, ml, ml + 1);
            if (o != NULL && json_array_append_new(mine, o) != 0)
                goto fail;
        }
    }
    return json_pack("{s:s,s:o,s:o,s:o}", "unit", "ms", "bucket_le_ms", le,
                     "endpoints", all, "market_endpoints", mine);
fail:
    json_decref(le);
    json_decref(all);
    json_decref(mine);
    return NULL;
}

/* Query argument as an int in [lo, hi]; def when absent; -1 with a 400
 * answer in *out when malformed. */
static int int_arg(const serve_req *r, serve_resp *out, const char *key,
                   long lo, long hi, long def, long *val)
{
    const char *v = trove__serve_query(r, key);
    char *end;
    if (v == NULL) {
        *val = def;
        return 0;
    }
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo || x > hi) {
        trove__serve_reply_error(out, 400, "%s must be an integer in %ld..%ld",
                                 key, lo, hi);
        return -1;
    }
    *val = x;
    return 0;
}

/* The cached JSON text of the key, copied, or NULL. */
static char *cache_get(trove_server *s, int mi, int64_t now, int days,
                       int train_days, uint64_t t)
{
    char *copy = NULL;
    pthread_mutex_lock(&s->monitor_lock);
    for (int i = 0; i < SERVE_MONITOR_CACHE; i++) {
        const serve_monitor_entry *c = &s->monitor_cache[i];
        if (c->json != NULL && c->market == mi && c->now == now && c->days == days &&
            c->train_days == train_days &&
            (c->at_ns > t || t - c->at_ns < CACHE_NS)) {
            copy = trove_strdup(c->json);
            break;
        }
    }
    pthread_mutex_unlock(&s->monitor_lock);
    return copy;
}

/* Keep a copy of json under the key (replacing the oldest entry). */
static void cache_put(trove_server *s, int mi, int64_t now, int days, int train_days,
                      uint64_t t, const char *json)
{
    char *copy = trove_strdup(json);
    if (copy == NULL)
        return;
    pthread_mutex_lock(&s->monitor_lock);
    serve_monitor_entry *c = s->monitor_cache;
    int slot = 0;
    for (int i = 1; i < SERVE_MONITOR_CACHE; i++)
        if (c[i].at_ns < c[slot].at_ns)
            slot = i;
    trove_free(c[slot].json);
    c[slot] = (serve_monitor_entry){ mi, now, days, train_days, t, copy };
    pthread_mutex_unlock(&s->monitor_lock);
}

void trove__serve_monitoring_stop(trove_server *s)
{
    pthread_mutex_lock(&s->monitor_lock);
    for (int i = 0; i < SERVE_MONITOR_CACHE; i++) {
        trove_free(s->monitor_cache[i].json);
        memset(&s->monitor_cache[i], 0, sizeof s->monitor_cache[i]);
    }
    pthread_mutex_unlock(&s->monitor_lock);
}

/* Compute the report text of market mi under the admin lock. */
static int compute(trove_server *s, int mi, const trove_monitor_params *p,
                   char **json, trove_error *err)
{
    trove_monitor_report *rep = NULL;
    trove_monitor_model mm = { 0 };
    serve_model *sm;
    int rc;
    pthread_mutex_lock(&s->admin_lock);
    sm = trove__serve_model_retain(s->models[mi]);
    if (sm != NULL) {
        mm.model = sm->m;
        mm.version = sm->version;
        mm.created_ts = sm->created_ts;
        mm.family = sm->family;
    }
    rc = trove_monitor_run(s->store, s->market_code[mi], sm ? &mm : NULL, p,
                           &rep, err);
    pthread_mutex_unlock(&s->admin_lock);
    trove__serve_model_release(sm);
    if (rc == TROVE_OK)
        rc = trove_monitor_report_json(rep, 0, json, NULL, err);
    trove_monitor_report_free(rep);
    return rc;
}

int trove__serve_monitoring_handle(trove_server *s, const serve_req *r,
                                   serve_resp *out)
{
    trove_monitor_params p = trove_monitor_default_params();
    trove_error err;
    const char *market = trove__serve_query(r, "market");
    const char *now_arg = trove__serve_query(r, "now");
    char *text = NULL;
    long days, train_days;
    int mi, cached = 1;
    uint64_t t0 = trove__serve_now_ns();

    out->endpoint = SERVE_EP_MONITORING;
    if (strcmp(r->method, "GET") != 0)
        return trove__serve_reply_error(out, 405, "method %s not allowed on %s",
                                        r->method, r->url);
    if (trove__serve_require_read(s, r, out))
        return 1;
    if (market == NULL || market[0] == '\0')
        return trove__serve_reply_error(out, 400, "market is required");
    mi = trove__serve_market_index(s, market);
    if (mi < 0)
        return trove__serve_reply_error(out, 404, "unknown market '%s'", market);
    out->market = (uint32_t)mi + 1;
    if (int_arg(r, out, "days", 1, 3650, p.latest_days, &days) != 0 ||
        int_arg(r, out, "train_days", 1, 3650, p.train_days, &train_days) != 0)
        return 1;
    p.latest_days = (int)days;
    p.train_days = (int)train_days;
    if (now_arg != NULL) {
        char *end;
        long long v = strtoll(now_arg, &end, 10);
        if (strcmp(now_arg, "last") == 0)
            p.now = TROVE_MONITOR_NOW_LAST_EVENT;
        else if (*now_arg != '\0' && *end == '\0' && v > 0)
            p.now = (int64_t)v;
        else
            return trove__serve_reply_error(out, 400, "now must be Unix seconds "
                                            "or 'last'");
    }

    text = cache_get(s, mi, p.now, p.latest_days, p.train_days, t0);
    if (text == NULL) {
        int rc;
        cached = 0;
        trove_error_clear(&err);
        rc = compute(s, mi, &p, &text, &err);
        if (rc != TROVE_OK)
            return trove__serve_reply_error(
                out, rc == TROVE_ENOTFOUND || rc == TROVE_EEMPTY ? 404
                   : rc == TROVE_EINVAL ? 400 : 500, "%s", err.msg);
        cache_put(s, mi, p.now, p.latest_days, p.train_days,
                  trove__serve_now_ns(), text);
    }
    /* the report's text with the fresh members spliced in before its
     * closing brace (no second parse; the report keeps its number format) */
    json_t *extra = json_object();
    char *more = NULL, *body = NULL;
    size_t tlen = strlen(text);
    /* set_new steals the value even when it fails */
    if (extra == NULL ||
        json_object_set_new(extra, "latency", latency_json(s, mi)) != 0 ||
        json_object_set_new(extra, "cached", json_boolean(cached)) != 0 ||
        json_object_set_new(extra, "compute_ms",
                            json_real((double)(trove__serve_now_ns() - t0) *
                                      1e-6)) != 0 ||
        (more = json_dumps(extra, JSON_COMPACT | JSON_REAL_PRECISION(6))) == NULL ||
        tlen < 2 || text[tlen - 1] != '}') {
        json_decref(extra);
        trove_free(more);   /* jansson allocates through trove_malloc here */
        trove_free(text);
        return trove__serve_reply_json(out, 500, NULL);
    }
    json_decref(extra);
    /* text "{...}" + more "{...}" -> "{..." "," "...}" "\n" */
    size_t mlen = strlen(more);
    body = trove_malloc(tlen + mlen + 2);
    if (body != NULL) {
        memcpy(body, text, tlen - 1);
        body[tlen - 1] = ',';
        memcpy(body + tlen, more + 1, mlen - 1);
        body[tlen + mlen - 1] = '\n';
        body[tlen + mlen] = '\0';
    }
    trove_free(more);
    trove_free(text);
    if (body == NULL)
        return trove__serve_reply_json(out, 500, NULL);
    out->status = 200;
    out->body = body;
    out->len = tlen + mlen;
    out->content_type = "application/json";
    out->cache_control = "no-store";
    return 1;
}
