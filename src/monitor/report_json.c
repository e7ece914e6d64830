/*
 * report_json.c - trove_monitor_report_json: the report as one JSON object
 * (the shape is documented in docs/monitoring.md and kept stable: members
 * are only ever added). The one file of the monitor module that sees
 * <jansson.h>.
 *
 * Numbers that could not be computed (NAN) are written as null, so every
 * member is always present.
 */
#include "monitor_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *u64(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static const char *target_name(int target)
{
    return target == TROVE_FEATURE_USER ? "user"
         : target == TROVE_FEATURE_ITEM ? "item" : "model";
}

static const char *kind_name(int kind)
{
    return kind == TROVE_MONITOR_DRIFT_CATEGORICAL ? "categorical"
         : kind == TROVE_MONITOR_DRIFT_NUMERIC ? "numeric" : "score";
}

/* json_pack's "o" steals a reference and fails the whole pack on NULL,
 * which is how allocation failures travel up. */
static json_t *drift_json(const trove_monitor_drift *d)
{
    json_t *bins = json_array();
    if (bins == NULL)
        return NULL;
    for (size_t i = 0; i < d->n_bins; i++) {
        const trove_monitor_bin *b = &d->bins[i];
        json_t *o = json_pack("{s:s,s:o,s:o,s:o,s:o}", "label", b->label,
                              "ref_count", u64(b->ref_count),
                              "latest_count", u64(b->latest_count),
                              "ref_share", json_real(b->ref_share),
                              "latest_share", json_real(b->latest_share));
        if (o == NULL || json_array_append_new(bins, o) != 0) {
            json_decref(bins);
            return NULL;
        }
    }
    return json_pack("{s:s,s:s,s:s,s:o,s:s,s:o,s:o,s:o,s:o}",
                     "name", d->name, "target", target_name(d->target),
                     "kind", kind_name(d->kind), "psi", num(d->psi),
                     "status", trove_monitor_status_name(d->status),
                     "ref_n", u64(d->ref_n), "latest_n", u64(d->latest_n),
                     "note", str_or_null(d->note), "bins", bins);
}

static json_t *check_json(const trove_monitor_check *c,
                          const trove_monitor_params *p, int id)
{
    json_t *o = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:o}",
                          "name", c->name, "value", num(c->value),
                          "numerator", u64(c->numerator),
                          "denominator", u64(c->denominator),
                          "warn", json_real(c->threshold.warn),
                          "alert", json_real(c->threshold.alert),
                          "status", trove_monitor_status_name(c->status),
                          "note", str_or_null(c->note));
    if (o != NULL && id == TROVE_MONITOR_VOLUME_RATIO &&
        (json_object_set_new(o, "direction", json_string("both")) != 0 ||
         json_object_set_new(o, "surge_warn",
                             json_real(p->volume_surge.warn)) != 0 ||
         json_object_set_new(o, "surge_alert",
                             json_real(p->volume_surge.alert)) != 0)) {
        json_decref(o);
        return NULL;
    }
    if (o != NULL && id != TROVE_MONITOR_VOLUME_RATIO &&
        json_object_set_new(o, "direction", json_string("higher_is_worse")) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int trove_monitor_report_json(const trove_monitor_report *r, int indent,
                              char **out, size_t *len, trove_error *err)
{
    const trove_monitor_params *p = &r->params;
    json_t *quality = json_array(), *features = json_array(), *root = NULL;
    char *text = NULL, *copy = NULL;
    int rc = TROVE_ENOMEM;
    if (quality == NULL || features == NULL)
        goto done;
    for (int c = 0; c < TROVE_MONITOR_N_CHECKS; c++) {
        json_t *o = check_json(&r->checks[c], p, c);
        if (o == NULL || json_array_append_new(quality, o) != 0)
            goto done;
    }
    for (size_t i = 0; i < r->n_features; i++) {
        json_t *o = drift_json(&r->features[i]);
        if (o == NULL || json_array_append_new(features, o) != 0)
            goto done;
    }
    json_t *model = json_pack(
        "{s:o,s:o,s:o,s:o,s:b,s:o}",
        "version", r->model_version > 0 ? json_integer(r->model_version)
                                        : json_null(),
        "family", str_or_null(r->model_family),
        "created_ts", r->model_version > 0 ? json_integer(r->model_created_ts)
                                           : json_null(),
        "age_seconds", r->model_age >= 0 ? json_integer(r->model_age)
                                         : json_null(),
        "scored", r->model_scored, "note", str_or_null(r->model_note));
    json_t *windows = json_pack(
        "{s:{s:I,s:I,s:s,s:o},s:{s:I,s:I,s:o},s:{s:i,s:i,s:o}}",
        "reference", "from", (json_int_t)r->ref_from, "to", (json_int_t)r->ref_to,
        "kind", r->ref_is_training ? "training" : "previous",
        "events", u64(r->ref_events),
        "latest", "from", (json_int_t)r->latest_from,
        "to", (json_int_t)r->latest_to, "events", u64(r->latest_events),
        "trailing", "windows", (int)r->trailing_windows,
        "days", p->latest_days, "per_day", num(r->trailing_per_day));
    json_t *types = json_array();
    for (int t = 1; t <= TROVE_EVENT_TYPE_MAX && types != NULL; t++)
        if ((p->drift_types & TROVE_EVENT_MASK(t)) &&
            json_array_append_new(types,
                                  json_string(trove_event_type_name(t))) != 0) {
            json_decref(types);
            types = NULL;
        }
    json_t *drift = json_pack("{s:f,s:f,s:f,s:o,s:o,s:o}",
                              "warn", p->psi.warn, "alert", p->psi.alert,
                              "epsilon", p->psi_epsilon, "event_types", types,
                              "score", drift_json(&r->score),
                              "features", features);
    features = NULL;   /* stolen by the pack, whether it succeeded or not */
    json_t *params = json_pack("{s:i,s:i,s:i,s:i,s:i}",
                               "latest_days", p->latest_days,
                               "train_days", p->train_days,
                               "volume_windows", p->volume_windows,
                               "top_values", p->top_values,
                               "numeric_bins", p->numeric_bins);
    root = json_pack("{s:s,s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:f,s:o}",
                     "market", r->market, "now", (json_int_t)r->now,
                     "status", trove_monitor_status_name(r->status),
                     "quality_status",
                     trove_monitor_status_name(r->quality_status),
                     "drift_status", trove_monitor_status_name(r->drift_status),
                     "model", model, "windows", windows, "quality", quality,
                     "drift", drift, "params", params,
                     "latest_per_day", r->latest_per_day,
                     "trailing_per_day", num(r->trailing_per_day));
    quality = NULL;
    if (root == NULL)
        goto done;
    size_t flags = JSON_REAL_PRECISION(10) |
                   (indent > 0 ? JSON_INDENT(indent > 8 ? 8 : indent)
                               : JSON_COMPACT);
    text = json_dumps(root, flags);
    if (text == NULL)
        goto done;
    size_t n = strlen(text);
    copy = trove_malloc(n + 1);
    if (copy == NULL)
        goto done;
    memcpy(copy, text, n + 1);
    *out = copy;
    if (len != NULL)
        *len = n;
    rc = TROVE_OK;
done:
    if (rc != TROVE_OK)
        trove_error_set(err, rc, "monitor: out of memory writing JSON");
    if (text != NULL) {
        /* json_dumps allocates with jansson's allocator, which an embedder
         * (trove serve does) may have replaced */
        json_malloc_t jm;
        json_free_t jf;
        json_get_alloc_funcs(&jm, &jf);
        jf(text);
    }
    json_decref(root);
    json_decref(quality);
    json_decref(features);
    return rc;
}

int64_t trove__monitor_json_int(const char *json, const char *key)
{
    json_t *root, *v;
    int64_t out = 0;
    if (json == NULL || (root = json_loads(json, 0, NULL)) == NULL)
        return 0;
    v = json_object_get(root, key);
    if (json_is_integer(v))
        out = (int64_t)json_integer_value(v);
    json_decref(root);
    return out;
}
