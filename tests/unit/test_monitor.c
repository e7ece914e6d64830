/*
 * test_monitor.c - the monitor module on stores built here with known
 * figures: identical windows give PSI 0; a shifted categorical and numeric
 * distribution gives the PSI computed by hand from the definition; a volume
 * drop is an alert; null, unknown-id, item-feature and duplicate rates are
 * exact counts; the model's training window and score drift; bad inputs
 * (unknown market, no events, no model, bad params); out-of-memory at every
 * allocation; and `trove monitor` as a program (--json, text, usage).
 */
#include "testutil.h"
#include "monitor/monitor_int.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400
#define T0 1700000000      /* "now" of every scenario */

/* |got - want| within 1e-12 (relative for large values), in double. */
#define assert_near(got, want, tol)                                        \
    do {                                                                  \
        double g_ = (got), w_ = (want);                                   \
        if (!(fabs(g_ - w_) <= (tol) * (fabs(w_) > 1 ? fabs(w_) : 1)))    \
            fail_msg("%s = %.17g, want %.17g", #got, g_, w_);             \
    } while (0)

/* ------------------------------------------------------------ builder */
typedef struct world {
    trove_store *st;
    int64_t market, empty_market;
    int64_t users[16], items[16];
    int64_t f_seg[2], f_age, f_cat[2];
    uint64_t next_id;
} world;

static void world_open(world *w, const char *name)
{
    trove_error err;
    char id[32];
    memset(w, 0, sizeof *w);
    w->next_id = 1;
    assert_int_equal(trove_store_open(testutil_tmp_path(name), TROVE_STORE_CREATE,
                                      &w->st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(w->st, "M", NULL, NULL, &w->market,
                                               NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(w->st, "EMPTY", NULL, NULL,
                                               &w->empty_market, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(w->st, TROVE_FEATURE_USER, "seg=a",
                                                TROVE_FEATURE_CATEGORICAL,
                                                &w->f_seg[0], &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(w->st, TROVE_FEATURE_USER, "seg=b",
                                                TROVE_FEATURE_CATEGORICAL,
                                                &w->f_seg[1], &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(w->st, TROVE_FEATURE_USER, "age",
                                                TROVE_FEATURE_NUMERIC, &w->f_age,
                                                &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(w->st, TROVE_FEATURE_ITEM, "cat=x",
                                                TROVE_FEATURE_CATEGORICAL,
                                                &w->f_cat[0], &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(w->st, TROVE_FEATURE_ITEM, "cat=y",
                                                TROVE_FEATURE_CATEGORICAL,
                                                &w->f_cat[1], &err), TROVE_OK);
    /* users 1..10: age = index, seg a for 1..5, b for 6..10; user 0 has no
     * features; items 1..10 with cat x (odd) or y (even), item 0 without */
    for (int i = 0; i <= 10; i++) {
        snprintf(id, sizeof id, "u%d", i);
        assert_int_equal(trove_store_user_upsert(w->st, id, w->market,
                                                 &w->users[i], NULL, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "i%d", i);
        assert_int_equal(trove_store_item_upsert(w->st, id, NULL, &w->items[i],
                                                 NULL, &err), TROVE_OK);
        if (i == 0)
            continue;
        assert_int_equal(trove_store_user_feature_set(w->st, w->users[i],
                                                      w->f_seg[i <= 5 ? 0 : 1],
                                                      1, &err), TROVE_OK);
        assert_int_equal(trove_store_user_feature_set(w->st, w->users[i], w->f_age,
                                                      (double)i, &err), TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(w->st, w->items[i],
                                                      w->f_cat[i % 2], 1, &err),
                         TROVE_OK);
    }
}

static void add_event(world *w, int user, int item, int type, int64_t ts)
{
    trove_error err;
    trove_event ev = { .id = w->next_id++, .user_id = w->users[user],
                       .item_id = w->items[item], .type = type, .value = 1,
                       .ts = ts, .market_id = w->market };
    assert_int_equal(trove_store_event_add(w->st, &ev, NULL, &err), TROVE_OK);
}

static trove_monitor_params params_at(int64_t now)
{
    trove_monitor_params p = trove_monitor_default_params();
    p.now = now;
    return p;
}

static const trove_monitor_drift *feature(const trove_monitor_report *r,
                                          const char *name)
{
    for (size_t i = 0; i < r->n_features; i++)
        if (strcmp(r->features[i].name, name) == 0)
            return &r->features[i];
    fail_msg("no feature '%s' in the report", name);
    return NULL;
}

/* Each of users 1..10 clicks item u once in [from, from + 10 h). */
static void uniform_clicks(world *w, int64_t from)
{
    for (int u = 1; u <= 10; u++)
        add_event(w, u, u, TROVE_EVENT_CLICK, from + u * 3600);
}

/* ------------------------------------------------------------ PSI */
static void test_psi_definition(void **state)
{
    (void)state;
    const uint64_t e[3] = { 50, 30, 20 }, a[3] = { 50, 30, 20 };
    const uint64_t b[3] = { 20, 30, 50 }, z[3] = { 0, 0, 0 };
    const uint64_t c[2] = { 10, 0 }, d[2] = { 5, 5 };
    assert_true(trove_monitor_psi(e, a, 3, 1e-4) == 0.0);
    /* 0.3 ln(0.5/0.2) * 2 */
    assert_near(trove_monitor_psi(e, b, 3, 1e-4),
                       2 * 0.3 * log(2.5), 1e-12);
    assert_true(isnan(trove_monitor_psi(e, z, 3, 1e-4)));
    assert_true(isnan(trove_monitor_psi(e, a, 0, 1e-4)));
    /* an empty expected bin counts as epsilon */
    assert_near(trove_monitor_psi(c, d, 2, 1e-4),
                       (0.5 - 1.0) * log(0.5) + (0.5 - 1e-4) * log(0.5 / 1e-4),
                       1e-12);
}

static void test_quantile_edges(void **state)
{
    (void)state;
    double v[10], edges[9];
    for (int i = 0; i < 10; i++)
        v[i] = i + 1;
    assert_int_equal(trove__monitor_quantile_edges(v, 10, 10, edges), 9);
    for (int i = 0; i < 9; i++)
        assert_true(edges[i] == i + 1);
    assert_int_equal(trove__monitor_bin_of(edges, 9, 1.0), 0);
    assert_int_equal(trove__monitor_bin_of(edges, 9, 1.5), 1);
    assert_int_equal(trove__monitor_bin_of(edges, 9, 10.0), 9);
    /* ties collapse */
    double same[4] = { 3, 3, 3, 3 };
    assert_int_equal(trove__monitor_quantile_edges(same, 4, 10, edges), 1);
    assert_int_equal(trove__monitor_quantile_edges(same, 0, 10, edges), 0);
    assert_string_equal(trove_monitor_status_name(TROVE_MONITOR_ALERT), "alert");
    assert_string_equal(trove_monitor_status_name(TROVE_MONITOR_NA), "n/a");
}

/* ------------------------------------------------------- scenarios */
static void test_identical_windows(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "same.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    uniform_clicks(&w, T0 - 7 * DAY);
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->model_version, 0);
    assert_int_equal(r->ref_is_training, 0);
    assert_int_equal(r->ref_from, T0 - 14 * DAY);
    assert_int_equal(r->latest_from, T0 - 7 * DAY);
    assert_int_equal(r->ref_events, 10);
    assert_int_equal(r->latest_events, 10);
    assert_int_equal(r->n_features, 3);
    for (size_t i = 0; i < r->n_features; i++) {
        assert_true(r->features[i].psi == 0.0);
        assert_int_equal(r->features[i].status, TROVE_MONITOR_OK);
    }
    const trove_monitor_drift *seg = feature(r, "seg");
    assert_int_equal(seg->kind, TROVE_MONITOR_DRIFT_CATEGORICAL);
    assert_int_equal(seg->target, TROVE_FEATURE_USER);
    assert_int_equal(seg->n_bins, 2);
    assert_near(seg->bins[0].ref_share, 0.5, 1e-12);
    const trove_monitor_drift *age = feature(r, "age");
    assert_int_equal(age->kind, TROVE_MONITOR_DRIFT_NUMERIC);
    assert_int_equal(age->n_bins, 10);
    assert_string_equal(age->bins[0].label, "<= 1");
    assert_string_equal(age->bins[9].label, "> 9");
    /* no model: no scores, no unknown-id rate */
    assert_int_equal(r->score.status, TROVE_MONITOR_NA);
    assert_int_equal(r->checks[TROVE_MONITOR_UNKNOWN_RATE].status, TROVE_MONITOR_NA);
    /* quality: nothing wrong; volume equal to the one trailing window */
    assert_true(r->checks[TROVE_MONITOR_NULL_RATE].value == 0.0);
    assert_true(r->checks[TROVE_MONITOR_DUPLICATE_RATE].value == 0.0);
    assert_true(r->checks[TROVE_MONITOR_ITEM_NO_FEATURES].value == 0.0);
    assert_int_equal(r->trailing_windows, 1);
    assert_true(r->checks[TROVE_MONITOR_VOLUME_RATIO].value == 1.0);
    assert_int_equal(r->status, TROVE_MONITOR_OK);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

static void test_shifted_distribution(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "shift.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    /* latest: users 1..5 only, twice each: seg all a, ages 1..5 */
    for (int u = 1; u <= 5; u++) {
        add_event(&w, u, u, TROVE_EVENT_CLICK, T0 - 6 * DAY + u);
        add_event(&w, u, u, TROVE_EVENT_REDEMPTION, T0 - 5 * DAY + u);
    }
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    const double eps = 1e-4;
    /* seg: ref (0.5, 0.5), latest (1, 0 -> eps) */
    const trove_monitor_drift *seg = feature(r, "seg");
    double want = (1.0 - 0.5) * log(1.0 / 0.5) + (eps - 0.5) * log(eps / 0.5);
    assert_near(seg->psi, want, 1e-12);
    assert_int_equal(seg->status, TROVE_MONITOR_ALERT);
    /* age: ref deciles one user each; latest 0.2 in the first five bins */
    const trove_monitor_drift *age = feature(r, "age");
    want = 5 * (0.2 - 0.1) * log(0.2 / 0.1) + 5 * (eps - 0.1) * log(eps / 0.1);
    assert_near(age->psi, want, 1e-12);
    assert_int_equal(age->ref_n, 10);
    assert_int_equal(age->latest_n, 10);
    /* items: cat x for odd items: ref 0.5/0.5, latest 3 of 5 odd -> 0.6/0.4 */
    const trove_monitor_drift *cat = feature(r, "cat");
    want = (0.6 - 0.5) * log(0.6 / 0.5) + (0.4 - 0.5) * log(0.4 / 0.5);
    assert_near(cat->psi, want, 1e-12);
    assert_int_equal(cat->status, TROVE_MONITOR_OK);
    /* features are ordered by PSI within each target: user seg first */
    assert_string_equal(r->features[0].name, "seg");
    assert_int_equal(r->drift_status, TROVE_MONITOR_ALERT);
    assert_int_equal(r->status, TROVE_MONITOR_ALERT);
    trove_monitor_report_free(r);

    /* only impressions in the drift: nothing to compare */
    p.drift_types = TROVE_EVENT_MASK(TROVE_EVENT_IMPRESSION);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(feature(r, "seg")->status, TROVE_MONITOR_NA);
    assert_true(isnan(feature(r, "seg")->psi));
    assert_int_equal(r->drift_status, TROVE_MONITOR_NA);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

/* A numeric feature seen only in the latest window: its values share one
 * bin beside "(missing)", and the PSI is that of two disjoint bins. */
static void test_numeric_without_reference(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "noref.db");
    add_event(&w, 0, 1, TROVE_EVENT_CLICK, T0 - 10 * DAY);
    for (int u = 1; u <= 3; u++)
        add_event(&w, u, u, TROVE_EVENT_CLICK, T0 - DAY + u);
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    const trove_monitor_drift *age = feature(r, "age");
    assert_int_equal(age->n_bins, 2);
    assert_string_equal(age->bins[0].label, "all");
    assert_int_equal(age->bins[0].latest_count, 3);
    assert_int_equal(age->bins[0].ref_count, 0);
    assert_string_equal(age->bins[1].label, "(missing)");
    assert_int_equal(age->bins[1].ref_count, 1);
    assert_int_equal(age->bins[1].latest_count, 0);
    const double eps = 1e-4;
    assert_near(age->psi, 2 * (1 - eps) * log(1 / eps), 1e-12);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

static void test_volume_drop(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "volume.db");
    for (int k = 1; k <= 4; k++)
        uniform_clicks(&w, T0 - (int64_t)(k + 1) * 7 * DAY);
    add_event(&w, 1, 1, TROVE_EVENT_CLICK, T0 - 3 * DAY);
    add_event(&w, 2, 2, TROVE_EVENT_CLICK, T0 - 2 * DAY);
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    const trove_monitor_check *v = &r->checks[TROVE_MONITOR_VOLUME_RATIO];
    assert_int_equal(r->trailing_windows, 4);
    assert_near(r->trailing_per_day, 40.0 / 28.0, 1e-12);
    assert_near(r->latest_per_day, 2.0 / 7.0, 1e-12);
    assert_near(v->value, 0.2, 1e-12);
    assert_int_equal(v->status, TROVE_MONITOR_ALERT);
    assert_int_equal(r->quality_status, TROVE_MONITOR_ALERT);
    trove_monitor_report_free(r);

    /* a surge: 30 events against 10 a window */
    for (int k = 0; k < 28; k++)
        add_event(&w, 1 + k % 10, 1 + k % 10, TROVE_EVENT_CLICK, T0 - DAY + k);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_near(r->checks[TROVE_MONITOR_VOLUME_RATIO].value, 3.0, 1e-12);
    assert_int_equal(r->checks[TROVE_MONITOR_VOLUME_RATIO].status,
                     TROVE_MONITOR_ALERT);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

static void test_quality_rates(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "quality.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    uniform_clicks(&w, T0 - 7 * DAY);
    /* user 0 has no features: 2 of 14 events; item 0 has none: 1 of 11
     * items; one event repeated under another id: 1 duplicate */
    add_event(&w, 0, 3, TROVE_EVENT_CLICK, T0 - 100);
    add_event(&w, 0, 0, TROVE_EVENT_CLICK, T0 - 90);
    add_event(&w, 4, 4, TROVE_EVENT_CLICK, T0 - 7 * DAY + 4 * 3600);
    add_event(&w, 4, 4, TROVE_EVENT_IMPRESSION, T0 - 7 * DAY + 4 * 3600);
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    const trove_monitor_check *c = r->checks;
    assert_int_equal(r->latest_events, 14);
    assert_int_equal(c[TROVE_MONITOR_NULL_RATE].numerator, 2);
    assert_int_equal(c[TROVE_MONITOR_NULL_RATE].denominator, 14);
    assert_near(c[TROVE_MONITOR_NULL_RATE].value, 2.0 / 14.0, 1e-12);
    assert_int_equal(c[TROVE_MONITOR_NULL_RATE].status, TROVE_MONITOR_WARN);
    assert_int_equal(c[TROVE_MONITOR_ITEM_NO_FEATURES].numerator, 1);
    assert_int_equal(c[TROVE_MONITOR_ITEM_NO_FEATURES].denominator, 11);
    assert_int_equal(c[TROVE_MONITOR_ITEM_NO_FEATURES].status, TROVE_MONITOR_WARN);
    assert_int_equal(c[TROVE_MONITOR_DUPLICATE_RATE].numerator, 1);
    assert_int_equal(c[TROVE_MONITOR_DUPLICATE_RATE].status, TROVE_MONITOR_ALERT);
    /* the user without features enters the drift as "(missing)" */
    const trove_monitor_drift *seg = feature(r, "seg");
    assert_string_equal(seg->bins[seg->n_bins - 1].label, "(missing)");
    assert_int_equal(seg->bins[seg->n_bins - 1].latest_count, 2);
    assert_int_equal(seg->bins[seg->n_bins - 1].ref_count, 0);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

/* Train a small hybrid model on the store's events and register it as the
 * active version created at `created`. */
static void add_model(world *w, int64_t created, const char *file)
{
    trove_error err;
    trove_dataset *ds = NULL;
    trove_model *m = NULL;
    trove_model_params mp = trove_model_default_params();
    const char *path = testutil_tmp_path(file);
    assert_int_equal(trove_dataset_from_store(w->st, NULL, &ds, &err), TROVE_OK);
    mp.no_components = 4;
    mp.seed = 3;
    assert_int_equal(trove_model_new(&mp, trove_dataset_user_features(ds)->n_cols,
                                     trove_dataset_item_features(ds)->n_cols, &m,
                                     &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, trove_dataset_interactions(ds),
                                     trove_dataset_user_features(ds),
                                     trove_dataset_item_features(ds), 2, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                         trove_dataset_item_ids(ds),
                                         trove_dataset_user_feature_names(ds),
                                         trove_dataset_item_feature_names(ds),
                                         &err), TROVE_OK);
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    trove_model_free(m);
    trove_dataset_free(ds);
    trove_model_version mv = { .market_id = w->market, .created_ts = created,
                               .family = "warp", .path = path,
                               .config_hash = "0", .data_fingerprint = "test" };
    int version;
    assert_int_equal(trove_store_model_register(w->st, &mv, &version, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_model_activate(w->st, w->market, version, &err),
                     TROVE_OK);
}

/* A version that recorded its training data's window (trove train
 * --store writes window_to into the metrics) is compared with that window,
 * not with the days before its creation: the training data may run on
 * another clock (a simulation, a replay). */
static void test_recorded_training_window(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    char metrics[64];
    int version;
    world_open(&w, "window.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    add_model(&w, T0 - 2 * DAY, "w.trove");
    uniform_clicks(&w, T0 - 7 * DAY);
    snprintf(metrics, sizeof metrics, "{\"window_to\":%lld}",
             (long long)(T0 - 10 * DAY));
    trove_model_version mv = { .market_id = w.market, .created_ts = T0 - 2 * DAY,
                               .family = "warp",
                               .path = testutil_tmp_path("w.trove"),
                               .config_hash = "0", .data_fingerprint = "test",
                               .metrics_json = metrics };
    assert_int_equal(trove_store_model_register(w.st, &mv, &version, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_model_activate(w.st, w.market, version, &err),
                     TROVE_OK);
    trove_monitor_params p = params_at(T0);
    p.train_days = 7;
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->model_version, 2);
    assert_int_equal(r->ref_is_training, 1);
    assert_int_equal(r->ref_to, T0 - 10 * DAY + 1);
    assert_int_equal(r->ref_from, T0 - 17 * DAY + 1);
    assert_int_equal(r->model_age, 2 * DAY);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

static void test_model_windows_and_scores(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "model.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    add_model(&w, T0 - 7 * DAY, "m.trove");
    uniform_clicks(&w, T0 - 7 * DAY);
    trove_monitor_params p = params_at(T0);
    p.train_days = 7;
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->model_version, 1);
    assert_string_equal(r->model_family, "warp");
    assert_int_equal(r->model_age, 7 * DAY);
    assert_int_equal(r->ref_is_training, 1);
    assert_int_equal(r->ref_from, T0 - 14 * DAY);
    assert_int_equal(r->ref_to, T0 - 7 * DAY);
    assert_int_equal(r->model_scored, 1);
    /* the same pairs in both windows: the same scores */
    assert_int_equal(r->score.ref_n, 10);
    assert_int_equal(r->score.latest_n, 10);
    assert_true(r->score.psi == 0.0);
    assert_int_equal(r->score.status, TROVE_MONITOR_OK);
    assert_true(r->checks[TROVE_MONITOR_UNKNOWN_RATE].value == 0.0);
    trove_monitor_report_free(r);

    /* a user the model never saw: 1 of 11 latest events is unknown, and
     * the training window is the default 28 days */
    add_event(&w, 0, 1, TROVE_EVENT_CLICK, T0 - 50);
    p.train_days = 28;
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->ref_from, T0 - 35 * DAY);
    assert_int_equal(r->checks[TROVE_MONITOR_UNKNOWN_RATE].numerator, 1);
    assert_int_equal(r->checks[TROVE_MONITOR_UNKNOWN_RATE].denominator, 11);
    assert_int_equal(r->checks[TROVE_MONITOR_UNKNOWN_RATE].status,
                     TROVE_MONITOR_OK);
    assert_int_equal(r->score.latest_n, 10);   /* the unknown pair unscored */
    trove_monitor_report_free(r);

    /* a model handed in by the caller (as the server does) */
    trove_model *m = NULL;
    assert_int_equal(trove_model_load(testutil_tmp_path("m.trove"), &m, &err),
                     TROVE_OK);
    trove_monitor_model mm = { m, 7, T0 - 7 * DAY, "hybrid" };
    assert_int_equal(trove_monitor_run(w.st, "M", &mm, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->model_version, 7);
    assert_int_equal(r->model_scored, 1);
    assert_int_equal(r->score.ref_n, 10);
    trove_monitor_report_free(r);
    trove_model_free(m);

    /* now = just after the last event */
    p.now = TROVE_MONITOR_NOW_LAST_EVENT;
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->now, T0 - 50 + 1);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

static void test_unusable_model_file(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "badmodel.db");
    uniform_clicks(&w, T0 - 8 * DAY);
    const char *path = testutil_tmp_path("garbage.trove");
    assert_int_equal(testutil_write_file(path, "not a model"), 0);
    trove_model_version mv = { .market_id = w.market, .created_ts = T0 - 7 * DAY,
                               .family = "warp", .path = path,
                               .config_hash = "0", .data_fingerprint = "x" };
    int version;
    assert_int_equal(trove_store_model_register(w.st, &mv, &version, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_model_activate(w.st, w.market, version, &err),
                     TROVE_OK);
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->model_version, version);
    assert_int_equal(r->model_scored, 0);
    assert_true(strlen(r->model_note) > 0);
    assert_int_equal(r->score.status, TROVE_MONITOR_NA);
    /* no events since: the latest window is empty */
    assert_int_equal(r->latest_events, 0);
    assert_int_equal(r->checks[TROVE_MONITOR_NULL_RATE].status, TROVE_MONITOR_NA);
    assert_int_equal(r->checks[TROVE_MONITOR_VOLUME_RATIO].status,
                     TROVE_MONITOR_ALERT);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    world_open(&w, "bad.db");
    uniform_clicks(&w, T0 - 3 * DAY);
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "XX", NULL, &p, &r, &err),
                     TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "unknown market 'XX'"));
    assert_int_equal(trove_monitor_run(w.st, "EMPTY", NULL, &p, &r, &err),
                     TROVE_EEMPTY);
    assert_non_null(strstr(err.msg, "no events"));
    p.now = TROVE_MONITOR_NOW_LAST_EVENT;
    assert_int_equal(trove_monitor_run(w.st, "EMPTY", NULL, &p, &r, &err),
                     TROVE_EEMPTY);
    /* events long before the windows */
    p.now = T0 + 400 * DAY;
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err),
                     TROVE_EEMPTY);
    assert_int_equal(trove_monitor_run(w.st, "", NULL, &p, &r, &err),
                     TROVE_EINVAL);
    p = params_at(T0);
    p.latest_days = 0;
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "latest_days"));
    p = params_at(T0);
    p.psi.warn = 0.5;
    p.psi.alert = 0.2;
    assert_int_equal(trove_monitor_check_params(&p, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "psi"));
    p = params_at(T0);
    p.numeric_bins = 1;
    assert_int_equal(trove_monitor_check_params(&p, &err), TROVE_EINVAL);
    p = params_at(T0);
    p.drift_types = 1u << 9;
    assert_int_equal(trove_monitor_check_params(&p, &err), TROVE_EINVAL);
    p = params_at(-2);
    assert_int_equal(trove_monitor_check_params(&p, &err), TROVE_EINVAL);
    assert_null(r);
    trove_monitor_report_free(NULL);
    trove_store_close(w.st);
}

static void test_json_shape(void **state)
{
    (void)state;
    world w;
    trove_error err;
    trove_monitor_report *r = NULL;
    char *text = NULL;
    size_t len = 0;
    world_open(&w, "json.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    uniform_clicks(&w, T0 - 7 * DAY);
    trove_monitor_params p = params_at(T0);
    assert_int_equal(trove_monitor_run(w.st, "M", NULL, &p, &r, &err), TROVE_OK);
    assert_int_equal(trove_monitor_report_json(r, 0, &text, &len, &err), TROVE_OK);
    assert_int_equal(strlen(text), len);
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "market")), "M");
    assert_string_equal(json_string_value(json_object_get(root, "status")), "ok");
    assert_int_equal(json_integer_value(json_object_get(root, "now")), T0);
    assert_true(json_is_null(json_object_get(json_object_get(root, "model"),
                                             "version")));
    json_t *q = json_object_get(root, "quality");
    assert_int_equal(json_array_size(q), TROVE_MONITOR_N_CHECKS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(q, 1),
                                                          "name")),
                        "unknown_id_rate");
    assert_true(json_is_null(json_object_get(json_array_get(q, 1), "value")));
    json_t *drift = json_object_get(root, "drift");
    assert_int_equal(json_array_size(json_object_get(drift, "features")), 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(drift, "score"), "status")), "n/a");
    json_t *ref = json_object_get(json_object_get(root, "windows"), "reference");
    assert_string_equal(json_string_value(json_object_get(ref, "kind")),
                        "previous");
    json_decref(root);
    trove_free(text);
    trove_monitor_report_free(r);
    trove_store_close(w.st);
}

/* Every allocation of a run and of the JSON fails in turn: a clean error
 * and no leak (the sanitizer build checks the leaks). */
static void test_out_of_memory(void **state)
{
    (void)state;
    world w;
    trove_error err;
    world_open(&w, "oom.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    add_model(&w, T0 - 7 * DAY, "oom.trove");
    uniform_clicks(&w, T0 - 7 * DAY);
    add_event(&w, 0, 0, TROVE_EVENT_CLICK, T0 - 5);
    trove_monitor_params p = params_at(T0);
    int done = 0;
    for (long k = 0; k < 100000 && !done; k++) {
        trove_monitor_report *r = NULL;
        char *text = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove_monitor_run(w.st, "M", NULL, &p, &r, &err);
        if (rc == TROVE_OK)
            rc = trove_monitor_report_json(r, 2, &text, NULL, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            done = 1;
        } else {
            assert_true(rc < 0);
            assert_true(strlen(err.msg) > 0);
        }
        trove_free(text);
        trove_monitor_report_free(r);
    }
    assert_true(done);
    trove_store_close(w.st);
}

/* ------------------------------------------------------------ CLI */
static const char *cli_store(void)
{
    world w;
    world_open(&w, "cli.db");
    uniform_clicks(&w, T0 - 14 * DAY);
    for (int u = 1; u <= 5; u++)
        add_event(&w, u, u, TROVE_EVENT_CLICK, T0 - 6 * DAY + u);
    trove_store_close(w.st);
    return testutil_tmp_path("cli.db");
}

static void test_cli(void **state)
{
    (void)state;
    const char *db = cli_store();
    char *out = NULL;
    assert_int_equal(testutil_run_trove(&out, "monitor --store %s --market M "
                                        "--now %d --json", db, T0), 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    if (root == NULL)
        fail_msg("not JSON: %s\n%s", je.text, out);
    assert_string_equal(json_string_value(json_object_get(root, "status")),
                        "alert");
    assert_string_equal(json_string_value(json_object_get(root, "drift_status")),
                        "alert");
    json_decref(root);
    free(out);

    assert_int_equal(testutil_run_trove(&out, "monitor -s %s -m M --now %d",
                                        db, T0), 0);
    assert_non_null(strstr(out, "market M: alert"));
    assert_non_null(strstr(out, "data quality"));
    assert_non_null(strstr(out, "null_rate"));
    assert_non_null(strstr(out, "user   categorical  seg"));
    free(out);

    /* the status as exit code */
    assert_int_equal(testutil_run_trove(&out, "monitor -s %s -m M --now %d "
                                        "--fail-on alert", db, T0), 1);
    assert_non_null(strstr(out, "trove monitor: market M: status alert"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "monitor -s %s -m M --now 1970-01-02 "
                                        "--json", db), 1);
    assert_non_null(strstr(out, "no events"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "monitor -s %s -m XX", db), 1);
    assert_non_null(strstr(out, "trove monitor: unknown market 'XX'"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "monitor -s %s -m M --now last "
                                        "--types click -v", db), 0);
    assert_non_null(strstr(out, "events: click)"));
    free(out);

    /* usage errors */
    const char *bad[] = {
        "monitor --store x.db", "monitor --market M",
        "monitor -s x.db -m M --days 0", "monitor -s x.db -m M --now soon",
        "monitor -s x.db -m M --bins 1", "monitor -s x.db -m M --types nope",
        "monitor -s x.db -m M --fail-on never", "monitor -s x.db -m M extra",
        "monitor -s x.db -m M --psi-warn 0.5 --psi-alert 0.2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(testutil_run_trove(&out, "%s", bad[i]), 2);
        free(out);
    }
    assert_int_equal(testutil_run_trove(&out, "monitor --help"), 0);
    assert_non_null(strstr(out, "usage: trove monitor"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "monitor -s %s -m M",
                                        testutil_tmp_path("none.db")), 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psi_definition),
        cmocka_unit_test(test_quantile_edges),
        cmocka_unit_test(test_identical_windows),
        cmocka_unit_test(test_shifted_distribution),
        cmocka_unit_test(test_numeric_without_reference),
        cmocka_unit_test(test_volume_drop),
        cmocka_unit_test(test_quality_rates),
        cmocka_unit_test(test_model_windows_and_scores),
        cmocka_unit_test(test_recorded_training_window),
        cmocka_unit_test(test_unusable_model_file),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
