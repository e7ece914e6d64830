/*
 * monitor.c - trove_monitor_run: one market's data quality, feature and
 * score drift and model age, computed from the store (docs/monitoring.md).
 *
 * The run reads the market's events of every window once into memory
 * (ts order, as the store returns them), every user and item id once (to
 * map store ids to the model's rows) and every feature once (a table per
 * target, entries grouped by entity id). Everything after that works on
 * those arrays.
 *
 * Invariants: a categorical feature "field=value" belongs to field "field"
 * (the whole name when it has no '='); a numeric feature is its own field.
 * Each event contributes, per field, one observation per value the entity
 * has (categorical features may hold several values, e.g. genres) or one
 * "(missing)" observation when it has none.
 */
#include "monitor_int.h"
#include "trove/recommender.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400
#define NO_ROW UINT32_MAX
#define POSITIVE_MASK (TROVE_EVENT_MASK(TROVE_EVENT_CLICK) | \
                       TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) | \
                       TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) | \
                       TROVE_EVENT_MASK(TROVE_EVENT_RATING))

enum { WIN_REF = 0, WIN_LATEST = 1 };

trove_monitor_params trove_monitor_default_params(void)
{
    trove_monitor_params p;
    memset(&p, 0, sizeof p);
    p.now = 0;
    p.latest_days = 7;
    p.train_days = 28;
    p.volume_windows = 4;
    p.top_values = 10;
    p.numeric_bins = 10;
    p.psi_epsilon = 1e-4;
    p.psi = (trove_monitor_threshold){ 0.1, 0.25 };
    p.null_rate = (trove_monitor_threshold){ 0.05, 0.20 };
    p.unknown_rate = (trove_monitor_threshold){ 0.10, 0.30 };
    p.item_no_features = (trove_monitor_threshold){ 0.05, 0.20 };
    p.duplicate_rate = (trove_monitor_threshold){ 0.001, 0.01 };
    p.volume_drop = (trove_monitor_threshold){ 0.7, 0.5 };
    p.volume_surge = (trove_monitor_threshold){ 1.5, 2.0 };
    return p;
}

static int check_rising(const trove_monitor_threshold *t, const char *name,
                        trove_error *err)
{
    if (!isfinite(t->warn) || !isfinite(t->alert) || t->warn < 0 ||
        t->warn > t->alert)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: %s: need 0 <= warn (%g) <= "
                               "alert (%g), both finite",
                               name, t->warn, t->alert);
    return TROVE_OK;
}

int trove_monitor_check_params(const trove_monitor_params *p, trove_error *err)
{
    int rc;
    if (p->now < TROVE_MONITOR_NOW_LAST_EVENT)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: now %lld is negative",
                               (long long)p->now);
    if (p->latest_days < 1 || p->latest_days > 3650)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: latest_days %d outside 1..3650",
                               p->latest_days);
    if (p->train_days < 1 || p->train_days > 3650)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: train_days %d outside 1..3650",
                               p->train_days);
    if (p->volume_windows < 1 || p->volume_windows > 52)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: volume_windows %d outside 1..52",
                               p->volume_windows);
    if (p->top_values < 1 || p->top_values > 100)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: top_values %d outside 1..100",
                               p->top_values);
    if (p->numeric_bins < 2 || p->numeric_bins > 100)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: numeric_bins %d outside 2..100",
                               p->numeric_bins);
    if (p->drift_types & ~(unsigned)((1u << (TROVE_EVENT_TYPE_MAX + 1)) - 2u))
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: drift_types 0x%x has bits "
                               "outside the event types", p->drift_types);
    if (!(p->psi_epsilon > 0 && p->psi_epsilon <= 0.01))
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: psi_epsilon %g outside (0, 0.01]",
                               p->psi_epsilon);
    if ((rc = check_rising(&p->psi, "psi", err)) != TROVE_OK ||
        (rc = check_rising(&p->null_rate, "null_rate", err)) != TROVE_OK ||
        (rc = check_rising(&p->unknown_rate, "unknown_rate", err)) != TROVE_OK ||
        (rc = check_rising(&p->item_no_features, "item_no_features", err)) !=
            TROVE_OK ||
        (rc = check_rising(&p->duplicate_rate, "duplicate_rate", err)) !=
            TROVE_OK ||
        (rc = check_rising(&p->volume_surge, "volume_surge", err)) != TROVE_OK)
        return rc;
    if (!isfinite(p->volume_drop.warn) || !isfinite(p->volume_drop.alert) ||
        p->volume_drop.alert < 0 || p->volume_drop.alert > p->volume_drop.warn ||
        p->volume_drop.warn > p->volume_surge.warn)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor params: volume_drop: need 0 <= alert (%g)"
                               " <= warn (%g) <= volume_surge.warn (%g)",
                               p->volume_drop.alert, p->volume_drop.warn,
                               p->volume_surge.warn);
    return TROVE_OK;
}

/* --------------------------------------------------------- events */
typedef struct mon_event {
    int64_t user, item, ts;
    int     type;
} mon_event;

typedef struct event_buf {
    mon_event *ev;
    size_t     n, cap;
} event_buf;

static int collect_event(void *ud, const trove_event *ev)
{
    event_buf *b = ud;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096;
        mon_event *p = trove_realloc(b->ev, cap * sizeof *p);
        if (p == NULL)
            return TROVE_ENOMEM;
        b->ev = p;
        b->cap = cap;
    }
    b->ev[b->n++] = (mon_event){ ev->user_id, ev->item_id, ev->ts, ev->type };
    return 0;
}

/* ------------------------------------------------------- features */
typedef struct feat_entry {
    int64_t  entity;
    uint32_t field;
    uint32_t value;     /* categorical value index, NO_ROW for numeric */
    double   weight;
} feat_entry;

typedef struct feat_table {
    trove_idmap *fields;        /* field names */
    int         *field_kind;    /* TROVE_FEATURE_* per field */
    size_t       field_cap;
    trove_idmap *values;        /* categorical feature names -> value index */
    uint32_t    *value_field;   /* value index -> field */
    size_t       value_cap;
    feat_entry  *e;
    size_t       n, cap;
    size_t      *off;           /* [max_entity + 2]: entries of entity id */
    int64_t      max_entity;
    int          rc;
} feat_table;

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return TROVE_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = trove_realloc(*p, c * size);
    if (q == NULL)
        return TROVE_ENOMEM;
    *p = q;
    *cap = c;
    return TROVE_OK;
}

static int collect_feature(void *ud, const trove_feature_value *fv)
{
    feat_table *t = ud;
    const char *name = fv->name;
    size_t flen = strlen(name);
    uint32_t field, value = NO_ROW;
    int added = 0, rc;
    int cat = fv->kind == TROVE_FEATURE_CATEGORICAL;
    if (cat) {
        const char *eq = strchr(name, '=');
        if (eq != NULL)
            flen = (size_t)(eq - name);
    }
    if ((rc = trove_idmap_intern(t->fields, name, flen, &field, &added)) != 0)
        return rc;
    if (added) {
        size_t cap = t->field_cap;
        if (grow((void **)&t->field_kind, &cap, (size_t)field + 1,
                 sizeof *t->field_kind) != TROVE_OK)
            return TROVE_ENOMEM;
        t->field_cap = cap;
        t->field_kind[field] = fv->kind;
    } else if (t->field_kind[field] != fv->kind) {
        /* a numeric "x" beside categorical "x=..": keep them apart */
        char alt[TROVE_MONITOR_NAME_MAX];
        int n = snprintf(alt, sizeof alt, "%.*s (%s)", (int)flen, name,
                         cat ? "categorical" : "numeric");
        if (n < 0)
            return TROVE_EINVAL;
        if ((rc = trove_idmap_intern(t->fields, alt, strlen(alt), &field,
                                     &added)) != 0)
            return rc;
        if (added) {
            size_t cap = t->field_cap;
            if (grow((void **)&t->field_kind, &cap, (size_t)field + 1,
                     sizeof *t->field_kind) != TROVE_OK)
                return TROVE_ENOMEM;
            t->field_cap = cap;
            t->field_kind[field] = fv->kind;
        }
    }
    if (cat) {
        if ((rc = trove_idmap_intern(t->values, name, strlen(name), &value,
                                     &added)) != 0)
            return rc;
        if (added) {
            size_t cap = t->value_cap;
            if (grow((void **)&t->value_field, &cap, (size_t)value + 1,
                     sizeof *t->value_field) != TROVE_OK)
                return TROVE_ENOMEM;
            t->value_cap = cap;
            t->value_field[value] = field;
        }
    }
    if (grow((void **)&t->e, &t->cap, t->n + 1, sizeof *t->e) != TROVE_OK)
        return TROVE_ENOMEM;
    t->e[t->n++] = (feat_entry){ fv->entity_id, field, value, fv->value };
    if (fv->entity_id > t->max_entity)
        t->max_entity = fv->entity_id;
    return 0;
}

static int feat_table_load(trove_store *s, int target, feat_table *t,
                           trove_error *err)
{
    int rc;
    t->fields = trove_idmap_new();
    t->values = trove_idmap_new();
    if (t->fields == NULL || t->values == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "monitor: out of memory");
    rc = trove_store_features_foreach(s, target, collect_feature, t, err);
    if (rc == TROVE_ENOMEM)
        return trove_error_set(err, TROVE_ENOMEM,
                               "monitor: out of memory reading features");
    if (rc != TROVE_OK)
        return rc == TROVE_EINVAL
                   ? trove_error_set(err, rc, "monitor: feature name too long")
                   : rc;
    t->off = trove_calloc((size_t)t->max_entity + 2, sizeof *t->off);
    if (t->off == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "monitor: out of memory");
    /* entries arrive ordered by entity id: count, then prefix sums */
    for (size_t i = 0; i < t->n; i++)
        t->off[t->e[i].entity + 1]++;
    for (int64_t id = 0; id <= t->max_entity; id++)
        t->off[id + 1] += t->off[id];
    return TROVE_OK;
}

static void feat_table_free(feat_table *t)
{
    trove_idmap_free(t->fields);
    trove_idmap_free(t->values);
    trove_free(t->field_kind);
    trove_free(t->value_field);
    trove_free(t->e);
    trove_free(t->off);
}

static int has_features(const feat_table *t, int64_t id)
{
    return id > 0 && id <= t->max_entity && t->off[id + 1] > t->off[id];
}

/* ------------------------------------------------------ model rows */
typedef struct row_map {
    const trove_idmap *ids;     /* the model's ids */
    uint32_t          *row;     /* store id -> model row or NO_ROW */
    size_t             cap;
    int                rc;
} row_map;

static int map_id(row_map *m, int64_t id, const char *ext)
{
    if (id <= 0)
        return 0;
    if ((size_t)id >= m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap <= (size_t)id)
            cap *= 2;
        uint32_t *p = trove_realloc(m->row, cap * sizeof *p);
        if (p == NULL)
            return TROVE_ENOMEM;
        for (size_t i = m->cap; i < cap; i++)
            p[i] = NO_ROW;
        m->row = p;
        m->cap = cap;
    }
    int64_t r = trove_idmap_find(m->ids, ext, strlen(ext));
    m->row[id] = r < 0 ? NO_ROW : (uint32_t)r;
    return 0;
}

static int map_user(void *ud, const trove_user *u)
{
    return map_id(ud, u->id, u->ext_id);
}

static int map_item(void *ud, const trove_item *it)
{
    return map_id(ud, it->id, it->ext_id);
}

static uint32_t row_of(const row_map *m, int64_t id)
{
    return id > 0 && (size_t)id < m->cap ? m->row[id] : NO_ROW;
}

/* ----------------------------------------------------- the active model */
typedef struct active_find {
    int     version;
    int64_t created;
    int64_t data_to;    /* last event time of the training data, 0 unknown */
    char    family[32];
    char   *path;
} active_find;

static int find_active(void *ud, const trove_model_version *mv)
{
    active_find *f = ud;
    if (!mv->active)
        return 0;
    f->version = mv->version;
    f->created = mv->created_ts;
    /* `trove train --store` records the training data's window */
    f->data_to = trove__monitor_json_int(mv->metrics_json, "window_to");
    snprintf(f->family, sizeof f->family, "%s", mv->family);
    f->path = trove_strdup(mv->path);
    return f->path == NULL ? TROVE_ENOMEM : 1;
}

/* Load the model file of the active version; a file that cannot be used
 * leaves *out NULL and says why in note. */
static int load_active(const active_find *f, trove_model **out, char *note,
                       size_t note_size)
{
    trove_model *m = NULL;
    trove_error e;
    trove_error_clear(&e);
    /* as trove serve loads it: a hybrid family or iALS */
    int rc = trove_recommender_load_model(f->path, &m, &e);
    if (rc == TROVE_ENOMEM)
        return rc;
    if (rc != TROVE_OK) {
        snprintf(note, note_size, "%.*s", (int)note_size - 1, e.msg);
        trove_model_free(m);
        return TROVE_OK;
    }
    *out = m;
    return TROVE_OK;
}

/* ------------------------------------------------------- drift figures */
typedef struct num_obs {
    uint32_t field;
    uint32_t win;
    double   v;
} num_obs;

static int cmp_obs(const void *a, const void *b)
{
    const num_obs *x = a, *y = b;
    if (x->field != y->field)
        return x->field < y->field ? -1 : 1;
    if (x->win != y->win)
        return x->win < y->win ? -1 : 1;
    return x->v < y->v ? -1 : x->v > y->v;
}

typedef struct obs_buf {
    num_obs *o;
    size_t   n, cap;
} obs_buf;

static int obs_push(obs_buf *b, uint32_t field, uint32_t win, double v)
{
    if (grow((void **)&b->o, &b->cap, b->n + 1, sizeof *b->o) != TROVE_OK)
        return TROVE_ENOMEM;
    b->o[b->n++] = (num_obs){ field, win, v };
    return TROVE_OK;
}

static void drift_finish(trove_monitor_drift *d, const trove_monitor_params *p)
{
    d->ref_n = d->latest_n = 0;
    for (size_t i = 0; i < d->n_bins; i++) {
        d->ref_n += d->bins[i].ref_count;
        d->latest_n += d->bins[i].latest_count;
    }
    for (size_t i = 0; i < d->n_bins; i++) {
        d->bins[i].ref_share = d->ref_n
            ? (double)d->bins[i].ref_count / (double)d->ref_n : 0.0;
        d->bins[i].latest_share = d->latest_n
            ? (double)d->bins[i].latest_count / (double)d->latest_n : 0.0;
    }
    d->psi = NAN;
    if (d->ref_n == 0 || d->latest_n == 0) {
        d->note = d->ref_n == 0 ? "no observations in the reference window"
                                : "no observations in the latest window";
    } else {
        /* PSI from the shares (same definition as trove_monitor_psi) */
        double psi = 0.0;
        for (size_t i = 0; i < d->n_bins; i++) {
            double e = d->bins[i].ref_share, a = d->bins[i].latest_share;
            if (e == 0.0)
                e = p->psi_epsilon;
            if (a == 0.0)
                a = p->psi_epsilon;
            psi += (a - e) * log(a / e);
        }
        d->psi = psi;
    }
    d->status = trove__monitor_status_high(d->psi, p->psi);
}

/* Bins of one numeric field (or the score) from its observations: the
 * reference values ref[0..nr) and latest lat[0..nl), both sorted, plus
 * missing counts (appended as "(missing)" when either is non-zero). */
static int numeric_bins(trove_monitor_drift *d, const double *ref, size_t nr,
                        const double *lat, size_t nl, uint64_t miss_ref,
                        uint64_t miss_lat, const trove_monitor_params *p)
{
    double edges[100];
    size_t ne = trove__monitor_quantile_edges(ref, nr, p->numeric_bins, edges);
    /* without reference values, the latest ones share one bin "all" */
    size_t nb = (ne ? ne + 1 : nl > 0 ? 1 : 0) + (miss_ref || miss_lat ? 1 : 0);
    d->bins = trove_calloc(nb ? nb : 1, sizeof *d->bins);
    if (d->bins == NULL)
        return TROVE_ENOMEM;
    d->n_bins = nb;
    if (ne == 0) {
        if (nl > 0) {
            snprintf(d->bins[0].label, sizeof d->bins[0].label, "all");
            d->bins[0].latest_count = nl;
        }
    } else {
        for (size_t j = 0; j <= ne; j++) {
            char *l = d->bins[j].label;
            size_t ls = sizeof d->bins[j].label;
            if (j == 0)
                snprintf(l, ls, "<= %.6g", edges[0]);
            else if (j == ne)
                snprintf(l, ls, "> %.6g", edges[ne - 1]);
            else
                snprintf(l, ls, "%.6g .. %.6g", edges[j - 1], edges[j]);
        }
        for (size_t i = 0; i < nr; i++)
            d->bins[trove__monitor_bin_of(edges, ne, ref[i])].ref_count++;
        for (size_t i = 0; i < nl; i++)
            d->bins[trove__monitor_bin_of(edges, ne, lat[i])].latest_count++;
    }
    if (miss_ref || miss_lat) {
        trove_monitor_bin *b = &d->bins[nb - 1];
        snprintf(b->label, sizeof b->label, "(missing)");
        b->ref_count = miss_ref;
        b->latest_count = miss_lat;
    }
    drift_finish(d, p);
    return TROVE_OK;
}

/* Sorting categorical values of one table: by field, then reference count
 * descending, latest count descending, name. */
typedef struct value_order {
    const feat_table *t;
    const uint64_t   *count[2];
} value_order;

static int cmp_value(const void *a, const void *b, void *ctx)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const value_order *o = ctx;
    uint32_t fx = o->t->value_field[x], fy = o->t->value_field[y];
    if (fx != fy)
        return fx < fy ? -1 : 1;
    for (int w = 0; w < 2; w++)
        if (o->count[w][x] != o->count[w][y])
            return o->count[w][x] > o->count[w][y] ? -1 : 1;
    return strcmp(trove_idmap_name(o->t->values, x, NULL),
                  trove_idmap_name(o->t->values, y, NULL));
}

typedef struct win_range {
    int64_t from, to;
} win_range;

/* Feature drift of one target over the events of the two windows. */
static int target_drift(const feat_table *t, int target, const mon_event *ev,
                        size_t n_ev, const win_range win[2], unsigned types,
                        const trove_monitor_params *p, trove_monitor_drift *out,
                        size_t *n_out, trove_error *err)
{
    uint32_t nf = trove_idmap_size(t->fields);
    uint32_t nv = trove_idmap_size(t->values);
    uint64_t *miss = NULL, *vcount = NULL;
    size_t *stamp = NULL;
    uint32_t *order = NULL;
    double *vals = NULL;
    obs_buf obs = { 0 };
    int rc = TROVE_ENOMEM;
    *n_out = 0;
    if (nf == 0)
        return TROVE_OK;
    miss = trove_calloc(2 * (size_t)nf, sizeof *miss);
    vcount = trove_calloc(2 * (size_t)nv + 2, sizeof *vcount);
    stamp = trove_calloc(nf, sizeof *stamp);
    order = trove_calloc((size_t)nv + 1, sizeof *order);
    if (miss == NULL || vcount == NULL || stamp == NULL || order == NULL)
        goto fail;
    size_t serial = 0;
    for (size_t i = 0; i < n_ev; i++) {
        if (!(TROVE_EVENT_MASK(ev[i].type) & types))
            continue;
        for (uint32_t w = 0; w < 2; w++) {
            if (ev[i].ts < win[w].from || ev[i].ts >= win[w].to)
                continue;
            int64_t id = target == TROVE_FEATURE_USER ? ev[i].user : ev[i].item;
            serial++;
            if (id > 0 && id <= t->max_entity)
                for (size_t k = t->off[id]; k < t->off[id + 1]; k++) {
                    const feat_entry *e = &t->e[k];
                    stamp[e->field] = serial;
                    if (e->value != NO_ROW)
                        vcount[(size_t)w * nv + e->value]++;
                    else if (obs_push(&obs, e->field, w, e->weight) != TROVE_OK)
                        goto fail;
                }
            for (uint32_t f = 0; f < nf; f++)
                if (stamp[f] != serial)
                    miss[(size_t)w * nf + f]++;
        }
    }
    if (obs.n > 1)
        qsort(obs.o, obs.n, sizeof *obs.o, cmp_obs);
    vals = trove_malloc((obs.n ? obs.n : 1) * sizeof *vals);
    if (vals == NULL)
        goto fail;
    for (uint32_t v = 0; v < nv; v++)
        order[v] = v;
    value_order vo = { t, { vcount, vcount + nv } };
    qsort_r(order, nv, sizeof *order, cmp_value, &vo);

    size_t oi = 0, vi = 0;
    for (uint32_t f = 0; f < nf; f++) {
        trove_monitor_drift *d = &out[*n_out];
        memset(d, 0, sizeof *d);
        snprintf(d->name, sizeof d->name, "%s",
                 trove_idmap_name(t->fields, f, NULL));
        d->target = target;
        uint64_t mr = miss[f], ml = miss[(size_t)nf + f];
        while (oi < obs.n && obs.o[oi].field < f)
            oi++;
        if (t->field_kind[f] == TROVE_FEATURE_NUMERIC) {
            size_t nr = 0, nl = 0;
            d->kind = TROVE_MONITOR_DRIFT_NUMERIC;
            /* sorted by window, then value: the reference values come
             * first, each window ascending */
            for (; oi < obs.n && obs.o[oi].field == f; oi++) {
                vals[nr + nl] = obs.o[oi].v;
                if (obs.o[oi].win == WIN_REF)
                    nr++;
                else
                    nl++;
            }
            if (numeric_bins(d, vals, nr, vals + nr, nl, mr, ml, p) != TROVE_OK)
                goto fail;
        } else {
            size_t start = vi, nb = 0;
            uint64_t other[2] = { 0, 0 };
            d->kind = TROVE_MONITOR_DRIFT_CATEGORICAL;
            while (vi < nv && t->value_field[order[vi]] == f)
                vi++;
            d->bins = trove_calloc((size_t)p->top_values + 2, sizeof *d->bins);
            if (d->bins == NULL)
                goto fail;
            for (size_t k = start; k < vi; k++) {
                uint32_t v = order[k];
                uint64_t cr = vcount[v], cl = vcount[(size_t)nv + v];
                if (cr == 0 && cl == 0)
                    continue;
                if (nb < (size_t)p->top_values && cr > 0) {
                    const char *name = trove_idmap_name(t->values, v, NULL);
                    const char *eq = strchr(name, '=');
                    trove_monitor_bin *b = &d->bins[nb++];
                    snprintf(b->label, sizeof b->label, "%s", eq ? eq + 1 : name);
                    b->ref_count = cr;
                    b->latest_count = cl;
                } else {
                    other[0] += cr;
                    other[1] += cl;
                }
            }
            if (other[0] || other[1]) {
                trove_monitor_bin *b = &d->bins[nb++];
                snprintf(b->label, sizeof b->label, "(other)");
                b->ref_count = other[0];
                b->latest_count = other[1];
            }
            if (mr || ml) {
                trove_monitor_bin *b = &d->bins[nb++];
                snprintf(b->label, sizeof b->label, "(missing)");
                b->ref_count = mr;
                b->latest_count = ml;
            }
            d->n_bins = nb;
            drift_finish(d, p);
        }
        (*n_out)++;
    }
    rc = TROVE_OK;
fail:
    if (rc != TROVE_OK) {
        for (size_t i = 0; i <= *n_out && i < nf; i++)
            trove_free(out[i].bins);
        *n_out = 0;
        trove_error_set(err, rc, "monitor: out of memory computing drift");
    }
    trove_free(miss);
    trove_free(vcount);
    trove_free(stamp);
    trove_free(order);
    trove_free(vals);
    trove_free(obs.o);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Score drift: the model's scores of the positive events' pairs. */
static int score_drift(const trove_model *m, const row_map *users,
                       const row_map *items, const mon_event *ev, size_t n_ev,
                       const win_range win[2], unsigned types,
                       const trove_monitor_params *p,
                       trove_monitor_drift *d, trove_error *err)
{
    uint32_t *u = NULL, *it = NULL;
    float *sc = NULL;
    double *vals = NULL;
    size_t n[2] = { 0, 0 }, total = 0;
    int rc = TROVE_ENOMEM;
    for (size_t i = 0; i < n_ev; i++)
        if (TROVE_EVENT_MASK(ev[i].type) & types)
            total += 2;
    u = trove_malloc((total ? total : 1) * sizeof *u);
    it = trove_malloc((total ? total : 1) * sizeof *it);
    sc = trove_malloc((total ? total : 1) * sizeof *sc);
    vals = trove_malloc((total ? total : 1) * sizeof *vals);
    if (u == NULL || it == NULL || sc == NULL || vals == NULL)
        goto done;
    /* pairs of the reference window first, then those of the latest */
    size_t k = 0;
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < n_ev; i++) {
            if (!(TROVE_EVENT_MASK(ev[i].type) & types) ||
                ev[i].ts < win[w].from || ev[i].ts >= win[w].to)
                continue;
            uint32_t ru = row_of(users, ev[i].user), ri = row_of(items, ev[i].item);
            if (ru == NO_ROW || ri == NO_ROW)
                continue;
            u[k] = ru;
            it[k] = ri;
            k++;
            n[w]++;
        }
    if (k > 0 && (rc = trove_model_predict(m, u, it, k, sc, err)) != TROVE_OK)
        goto done;
    for (size_t i = 0; i < k; i++)
        vals[i] = sc[i];
    qsort(vals, n[0], sizeof *vals, cmp_double);
    qsort(vals + n[0], n[1], sizeof *vals, cmp_double);
    rc = numeric_bins(d, vals, n[0], vals + n[0], n[1], 0, 0, p);
done:
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "monitor: out of memory scoring");
    trove_free(u);
    trove_free(it);
    trove_free(sc);
    trove_free(vals);
    return rc;
}

/* ---------------------------------------------------------- quality */
static int cmp_dup(const void *a, const void *b)
{
    const mon_event *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void set_rate(trove_monitor_check *c, uint64_t num, uint64_t den,
                     trove_monitor_threshold t, const char *na_note)
{
    c->numerator = num;
    c->denominator = den;
    c->threshold = t;
    if (na_note != NULL || den == 0) {
        c->value = NAN;
        c->status = TROVE_MONITOR_NA;
        c->note = na_note ? na_note : "no events in the latest window";
        return;
    }
    c->value = (double)num / (double)den;
    c->status = trove__monitor_status_high(c->value, t);
}

static int quality(trove_monitor_report *r, const mon_event *ev, size_t n_ev,
                   const feat_table *uf, const feat_table *itf,
                   const row_map *users, const row_map *items, int have_rows,
                   const trove_monitor_params *p, trove_error *err)
{
    const int64_t from = r->latest_from, to = r->latest_to;
    uint64_t n = 0, no_user_feat = 0, unknown = 0, dups = 0, items_nf = 0;
    size_t n_items = 0;
    mon_event *lat = NULL;
    int64_t *ids = NULL;
    int rc = TROVE_ENOMEM;
    for (size_t i = 0; i < n_ev; i++)
        if (ev[i].ts >= from && ev[i].ts < to)
            n++;
    lat = trove_malloc((n ? n : 1) * sizeof *lat);
    ids = trove_malloc((n ? n : 1) * sizeof *ids);
    if (lat == NULL || ids == NULL)
        goto done;
    size_t k = 0;
    for (size_t i = 0; i < n_ev; i++) {
        if (ev[i].ts < from || ev[i].ts >= to)
            continue;
        lat[k] = ev[i];
        ids[k] = ev[i].item;
        k++;
        if (!has_features(uf, ev[i].user))
            no_user_feat++;
        if (have_rows && (row_of(users, ev[i].user) == NO_ROW ||
                          row_of(items, ev[i].item) == NO_ROW))
            unknown++;
    }
    qsort(lat, n, sizeof *lat, cmp_dup);
    for (size_t i = 1; i < n; i++)
        if (cmp_dup(&lat[i - 1], &lat[i]) == 0)
            dups++;
    qsort(ids, n, sizeof *ids, cmp_i64);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && ids[i] == ids[i - 1])
            continue;
        n_items++;
        if (!has_features(itf, ids[i]))
            items_nf++;
    }
    trove_monitor_check *c = r->checks;
    c[TROVE_MONITOR_NULL_RATE].name = "null_rate";
    set_rate(&c[TROVE_MONITOR_NULL_RATE], no_user_feat, n, p->null_rate,
             uf->n == 0 ? "the store has no user features" : NULL);
    c[TROVE_MONITOR_UNKNOWN_RATE].name = "unknown_id_rate";
    set_rate(&c[TROVE_MONITOR_UNKNOWN_RATE], unknown, n, p->unknown_rate,
             have_rows ? NULL : "no model with ids to compare against");
    c[TROVE_MONITOR_ITEM_NO_FEATURES].name = "items_without_features";
    set_rate(&c[TROVE_MONITOR_ITEM_NO_FEATURES], items_nf, n_items,
             p->item_no_features,
             itf->n == 0 ? "the store has no item features" : NULL);
    c[TROVE_MONITOR_DUPLICATE_RATE].name = "duplicate_rate";
    set_rate(&c[TROVE_MONITOR_DUPLICATE_RATE], dups, n, p->duplicate_rate, NULL);

    /* volume: events per day against the trailing windows' average */
    trove_monitor_check *v = &c[TROVE_MONITOR_VOLUME_RATIO];
    const int64_t len = (int64_t)p->latest_days * DAY;
    uint64_t trail[52] = { 0 };
    for (size_t i = 0; i < n_ev; i++) {
        if (ev[i].ts >= from)
            continue;
        int64_t back = (from - 1 - ev[i].ts) / len;   /* 0 = just before */
        if (back < p->volume_windows)
            trail[back]++;
    }
    int kmax = 0;
    uint64_t trail_sum = 0;
    for (int w = 0; w < p->volume_windows; w++)
        if (trail[w] > 0)
            kmax = w + 1;
    for (int w = 0; w < kmax; w++)
        trail_sum += trail[w];
    v->name = "volume_ratio";
    v->threshold = p->volume_drop;
    v->numerator = n;
    v->denominator = trail_sum;
    r->latest_per_day = (double)n / (double)p->latest_days;
    r->trailing_windows = (uint32_t)kmax;
    if (kmax == 0) {
        r->trailing_per_day = NAN;
        v->value = NAN;
        v->status = TROVE_MONITOR_NA;
        v->note = "no events in the trailing windows";
    } else {
        r->trailing_per_day = (double)trail_sum /
                              ((double)kmax * (double)p->latest_days);
        v->value = r->latest_per_day / r->trailing_per_day;
        if (v->value <= p->volume_drop.alert || v->value >= p->volume_surge.alert)
            v->status = TROVE_MONITOR_ALERT;
        else if (v->value <= p->volume_drop.warn ||
                 v->value >= p->volume_surge.warn)
            v->status = TROVE_MONITOR_WARN;
        else
            v->status = TROVE_MONITOR_OK;
    }
    rc = TROVE_OK;
done:
    if (rc != TROVE_OK)
        trove_error_set(err, rc, "monitor: out of memory checking quality");
    trove_free(lat);
    trove_free(ids);
    return rc;
}

/* ------------------------------------------------------------ report */
/* End of the training window: the version's creation, or the start of the
 * latest window for a version created after `now` (a store on a historical
 * or simulated clock, where creation times are wall-clock times). */
/* End of the training window: the training data's last event when the
 * version recorded it (then the window is what the model learned from,
 * whatever clock the events run on), else the version's creation; one
 * after `now` (a historical or simulated clock) ends where the latest
 * window starts. */
static int64_t training_end(int64_t created, int64_t data_to, int64_t now,
                            int64_t len)
{
    int64_t end = data_to > 0 ? data_to + 1 : created;
    return end > now ? now - len : end;
}

static int cmp_drift(const void *a, const void *b)
{
    const trove_monitor_drift *x = a, *y = b;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    int xn = isnan(x->psi), yn = isnan(y->psi);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->psi != y->psi)
        return x->psi > y->psi ? -1 : 1;
    return strcmp(x->name, y->name);
}

void trove_monitor_report_free(trove_monitor_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_features; i++)
        trove_free(r->features[i].bins);
    trove_free(r->features);
    trove_free(r->score.bins);
    trove_free(r);
}

int trove_monitor_run(trove_store *s, const char *market,
                      const trove_monitor_model *model,
                      const trove_monitor_params *params,
                      trove_monitor_report **out, trove_error *err)
{
    trove_monitor_params p = params ? *params : trove_monitor_default_params();
    trove_monitor_report *r = NULL;
    active_find af = { 0 };
    trove_model *owned = NULL;
    const trove_model *m = NULL;
    feat_table uf = { 0 }, itf = { 0 };
    row_map users = { 0 }, items = { 0 };
    event_buf eb = { 0 };
    int64_t market_id;
    int rc;

    if (s == NULL || market == NULL || market[0] == '\0' || out == NULL)
        return trove_error_set(err, TROVE_EINVAL,
                               "monitor: store, market and out are required");
    if ((rc = trove_monitor_check_params(&p, err)) != TROVE_OK)
        return rc;
    if ((rc = trove_store_market_find(s, market, &market_id, err)) != TROVE_OK) {
        if (rc == TROVE_ENOTFOUND)
            trove_error_set(err, rc, "unknown market '%s'", market);
        return rc;
    }
    r = trove_calloc(1, sizeof *r);
    if (r == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "monitor: out of memory");
        goto fail;
    }
    snprintf(r->market, sizeof r->market, "%s", market);
    r->params = p;
    r->model_age = -1;

    /* the model version: given, or the registry's active one */
    if (model != NULL) {
        r->model_version = model->version;
        r->model_created_ts = model->created_ts;
        snprintf(r->model_family, sizeof r->model_family, "%s",
                 model->family ? model->family : "hybrid");
        m = model->model;
        if (m == NULL)
            snprintf(r->model_note, sizeof r->model_note,
                     "the version's model is not loaded");
    } else {
        rc = trove_store_models_foreach(s, market_id, find_active, &af, err);
        if (rc < 0)
            goto fail;
        if (af.path != NULL) {
            r->model_version = af.version;
            r->model_created_ts = af.created;
            snprintf(r->model_family, sizeof r->model_family, "%s", af.family);
            rc = load_active(&af, &owned, r->model_note, sizeof r->model_note);
            if (rc != TROVE_OK) {
                trove_error_set(err, rc, "monitor: out of memory loading %s",
                                af.path);
                goto fail;
            }
            m = owned;
        } else {
            snprintf(r->model_note, sizeof r->model_note,
                     "market %s has no active model version", market);
        }
    }
    if (m != NULL && (trove_model_user_ids(m) == NULL ||
                      trove_model_item_ids(m) == NULL)) {
        snprintf(r->model_note, sizeof r->model_note,
                 "the model carries no user and item ids");
        m = NULL;
    }
    r->model_scored = m != NULL;

    /* windows, then the events they cover */
    const int64_t len = (int64_t)p.latest_days * DAY;
    trove_event_filter f = { .market_id = market_id };
    if (p.now == TROVE_MONITOR_NOW_LAST_EVENT) {
        /* every event of the market; `now` follows from the last one */
    } else {
        int64_t now = p.now > 0 ? p.now : (int64_t)time(NULL);
        int64_t lo = now - (int64_t)(p.volume_windows + 1) * len;
        int64_t hi = now;
        if (r->model_version > 0) {
            int64_t tf = training_end(r->model_created_ts, af.data_to, now, len) -
                         (int64_t)p.train_days * DAY;
            lo = tf < lo ? tf : lo;
        }
        r->now = now;
        f.ts_from = lo > 0 ? lo : 0;
        f.ts_to = hi;
    }
    rc = trove_store_events_foreach(s, &f, collect_event, &eb, err);
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "monitor: out of memory reading events");
    if (rc != TROVE_OK)
        goto fail;
    if (p.now == TROVE_MONITOR_NOW_LAST_EVENT) {
        if (eb.n == 0) {
            rc = trove_error_set(err, TROVE_EEMPTY, "market %s has no events",
                                 market);
            goto fail;
        }
        r->now = eb.ev[eb.n - 1].ts + 1;
    }
    r->latest_to = r->now;
    r->latest_from = r->now - len;
    if (r->model_version > 0) {
        r->ref_is_training = 1;
        r->ref_to = training_end(r->model_created_ts, af.data_to, r->now, len);
        r->ref_from = r->ref_to - (int64_t)p.train_days * DAY;
        r->model_age = r->now - r->model_created_ts;
    } else {
        r->ref_to = r->latest_from;
        r->ref_from = r->latest_from - len;
    }
    win_range win[2] = { { r->ref_from, r->ref_to },
                         { r->latest_from, r->latest_to } };
    uint64_t in_trailing = 0;
    for (size_t i = 0; i < eb.n; i++) {
        int64_t ts = eb.ev[i].ts;
        if (ts >= win[0].from && ts < win[0].to)
            r->ref_events++;
        if (ts >= win[1].from && ts < win[1].to)
            r->latest_events++;
        if (ts < r->latest_from &&
            ts >= r->latest_from - (int64_t)p.volume_windows * len)
            in_trailing++;
    }
    if (r->ref_events == 0 && r->latest_events == 0 && in_trailing == 0) {
        rc = trove_error_set(err, TROVE_EEMPTY,
                             "market %s has no events between %lld and %lld",
                             market, (long long)f.ts_from,
                             (long long)r->now);
        goto fail;
    }

    /* features and the model's rows */
    if ((rc = feat_table_load(s, TROVE_FEATURE_USER, &uf, err)) != TROVE_OK ||
        (rc = feat_table_load(s, TROVE_FEATURE_ITEM, &itf, err)) != TROVE_OK)
        goto fail;
    if (m != NULL) {
        users.ids = trove_model_user_ids(m);
        items.ids = trove_model_item_ids(m);
        rc = trove_store_users_foreach(s, map_user, &users, err);
        if (rc == TROVE_OK)
            rc = trove_store_items_foreach(s, map_item, &items, err);
        if (rc == TROVE_ENOMEM)
            trove_error_set(err, rc, "monitor: out of memory mapping ids");
        if (rc != TROVE_OK)
            goto fail;
    }

    if ((rc = quality(r, eb.ev, eb.n, &uf, &itf, &users, &items, m != NULL, &p,
                      err)) != TROVE_OK)
        goto fail;

    size_t nf = (size_t)trove_idmap_size(uf.fields) +
                trove_idmap_size(itf.fields), nu = 0, ni = 0;
    r->features = trove_calloc(nf ? nf : 1, sizeof *r->features);
    if (r->features == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "monitor: out of memory");
        goto fail;
    }
    if (r->params.drift_types == 0)
        r->params.drift_types = POSITIVE_MASK;
    unsigned types = r->params.drift_types;
    if ((rc = target_drift(&uf, TROVE_FEATURE_USER, eb.ev, eb.n, win, types, &p,
                           r->features, &nu, err)) != TROVE_OK)
        goto fail;
    r->n_features = nu;
    if ((rc = target_drift(&itf, TROVE_FEATURE_ITEM, eb.ev, eb.n, win, types, &p,
                           r->features + nu, &ni, err)) != TROVE_OK)
        goto fail;
    r->n_features = nu + ni;
    qsort(r->features, r->n_features, sizeof *r->features, cmp_drift);

    snprintf(r->score.name, sizeof r->score.name, "score");
    r->score.kind = TROVE_MONITOR_DRIFT_SCORE;
    if (m != NULL) {
        if ((rc = score_drift(m, &users, &items, eb.ev, eb.n, win, types, &p,
                              &r->score, err)) != TROVE_OK)
            goto fail;
    } else {
        r->score.psi = NAN;
        r->score.status = TROVE_MONITOR_NA;
        r->score.note = "no model to score with";
    }

    r->quality_status = TROVE_MONITOR_NA;
    for (int c = 0; c < TROVE_MONITOR_N_CHECKS; c++)
        r->quality_status = trove__monitor_status_worst(r->quality_status,
                                                        r->checks[c].status);
    r->drift_status = r->score.status;
    for (size_t i = 0; i < r->n_features; i++)
        r->drift_status = trove__monitor_status_worst(r->drift_status,
                                                      r->features[i].status);
    r->status = trove__monitor_status_worst(r->quality_status, r->drift_status);
    *out = r;
    r = NULL;
    rc = TROVE_OK;
fail:
    trove_monitor_report_free(r);
    trove_model_free(owned);
    trove_free(af.path);
    feat_table_free(&uf);
    feat_table_free(&itf);
    trove_free(users.row);
    trove_free(items.row);
    trove_free(eb.ev);
    return rc;
}
