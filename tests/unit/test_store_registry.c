/*
 * test_store_registry.c - the store's model registry, cycles, assignments
 * and A/B counts: version numbering, activation stack and rollback, pruning
 * with returned paths, duplicate cycles refused or replaced explicitly,
 * all-or-nothing assignment batches, the A/B window and its counts on a
 * hand-built scenario, migration of a version 2 store, read-only handles
 * and out-of-memory.
 */
#include "testutil.h"

#include "store/store_int.h"

#include <math.h>
#include <string.h>
#include <time.h>

static trove_store *open_new(const char *name)
{
    trove_store *s = NULL;
    trove_error err;
    if (trove_store_open(testutil_tmp_path(name), TROVE_STORE_CREATE, &s, &err) != 0)
        fail_msg("open: %s", err.msg);
    return s;
}

static int64_t market(trove_store *s, const char *code)
{
    int64_t id;
    trove_error err;
    assert_int_equal(trove_store_market_upsert(s, code, NULL, NULL, &id, NULL, &err), 0);
    return id;
}

static int reg(trove_store *s, int64_t market_id, const char *path)
{
    trove_model_version mv;
    trove_error err;
    int v = 0;
    memset(&mv, 0, sizeof mv);
    mv.market_id = market_id;
    mv.family = "hybrid";
    mv.path = path;
    mv.config_hash = "0123456789abcdef";
    mv.data_fingerprint = "events:42";
    mv.metrics_json = "{\"ndcg@10\": 0.31}";
    mv.created_ts = 1700000000;
    if (trove_store_model_register(s, &mv, &v, NULL, &err) != 0)
        fail_msg("register: %s", err.msg);
    return v;
}

typedef struct seen_versions {
    int versions[16];
    int active[16], pruned[16];
    size_t n;
} seen_versions;

static int collect_version(void *ud, const trove_model_version *mv)
{
    seen_versions *sv = ud;
    sv->versions[sv->n] = mv->version;
    sv->active[sv->n] = mv->active;
    sv->pruned[sv->n] = mv->pruned;
    sv->n++;
    return 0;
}

static int active_of(trove_store *s, int64_t m)
{
    int v = -1;
    trove_error err;
    return trove_store_model_active(s, m, &v, &err) == 0 ? v : 0;
}

static void test_registry(void **state)
{
    trove_store *s = open_new("reg.db");
    trove_error err;
    int64_t de = market(s, "DE"), ch = market(s, "CH");
    seen_versions sv;
    char **paths = NULL;
    size_t n_paths = 0;
    int v = 0;
    trove_model_version mv;
    (void)state;

    assert_int_equal(reg(s, de, "m/de-1.trove"), 1);
    assert_int_equal(reg(s, de, "m/de-2.trove"), 2);
    assert_int_equal(reg(s, de, "m/de-3.trove"), 3);
    assert_int_equal(reg(s, ch, "m/ch-1.trove"), 1);
    assert_int_equal(reg(s, 0, "m/all-1.trove"), 1);
    memset(&mv, 0, sizeof mv);
    mv.market_id = 999;
    mv.family = mv.path = mv.config_hash = mv.data_fingerprint = "x";
    assert_int_equal(trove_store_model_register(s, &mv, &v, NULL, &err), TROVE_ENOTFOUND);
    mv.market_id = de;
    mv.path = "";
    assert_int_equal(trove_store_model_register(s, &mv, &v, NULL, &err), TROVE_EINVAL);

    memset(&sv, 0, sizeof sv);
    assert_int_equal(trove_store_models_foreach(s, de, collect_version, &sv, &err), 0);
    assert_int_equal(sv.n, 3);
    assert_int_equal(sv.versions[0], 3);
    assert_int_equal(sv.versions[2], 1);

    /* activation stack: 1, 2, 3 then back to 2 and 1 */
    assert_int_equal(trove_store_model_active(s, de, &v, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_model_rollback(s, de, &v, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_model_activate(s, de, 1, &err), 0);
    assert_int_equal(trove_store_model_activate(s, de, 2, &err), 0);
    assert_int_equal(trove_store_model_activate(s, de, 3, &err), 0);
    assert_int_equal(trove_store_model_activate(s, de, 3, &err), 0);  /* no-op */
    assert_int_equal(trove_store_model_activate(s, de, 9, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "model version 9 does not exist"));
    assert_int_equal(active_of(s, de), 3);
    assert_int_equal(active_of(s, ch), 0);
    assert_int_equal(trove_store_model_rollback(s, de, &v, &err), 0);
    assert_int_equal(v, 2);
    assert_int_equal(trove_store_model_rollback(s, de, &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(trove_store_model_rollback(s, de, &v, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no earlier model version to roll back to "
                                    "from version 1"));
    assert_int_equal(active_of(s, de), 1);

    /* prune keeps the newest and the active one */
    assert_int_equal(trove_store_model_activate(s, de, 3, &err), 0);
    assert_int_equal(trove_store_models_prune(s, de, 1, &paths, &n_paths, &err), 0);
    assert_int_equal(n_paths, 2);
    assert_string_equal(paths[0], "m/de-2.trove");
    assert_string_equal(paths[1], "m/de-1.trove");
    trove_store_strings_free(paths, n_paths);
    assert_int_equal(trove_store_models_prune(s, de, 1, &paths, &n_paths, &err), 0);
    assert_int_equal(n_paths, 0);
    assert_null(paths);
    memset(&sv, 0, sizeof sv);
    assert_int_equal(trove_store_models_foreach(s, de, collect_version, &sv, &err), 0);
    assert_int_equal(sv.pruned[0] + sv.pruned[1] * 2 + sv.pruned[2] * 4, 6);
    assert_int_equal(sv.active[0], 1);
    /* a pruned version cannot come back */
    assert_int_equal(trove_store_model_activate(s, de, 2, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "was pruned"));
    assert_int_equal(trove_store_model_rollback(s, de, &v, &err), TROVE_ENOTFOUND);
    assert_int_equal(active_of(s, de), 3);
    assert_int_equal(reg(s, de, "m/de-4.trove"), 4);
    assert_int_equal(trove_store_model_activate(s, de, 4, &err), 0);
    assert_int_equal(trove_store_model_rollback(s, de, &v, &err), 0);
    assert_int_equal(v, 3);
    /* keep 2 of {4, 3 (active)}: nothing to prune */
    assert_int_equal(trove_store_models_prune(s, de, 2, &paths, &n_paths, &err), 0);
    assert_int_equal(n_paths, 0);
    assert_int_equal(trove_store_models_prune(s, de, 0, &paths, &n_paths, &err),
                     TROVE_EINVAL);
    /* the all-markets model is separate */
    assert_int_equal(trove_store_model_activate(s, 0, 1, &err), 0);
    assert_int_equal(active_of(s, 0), 1);
    assert_int_equal(active_of(s, de), 3);
    trove_store_close(s);

    /* read-only handles refuse writes */
    assert_int_equal(trove_store_open(testutil_tmp_path("reg.db"),
                                      TROVE_STORE_READONLY, &s, &err), 0);
    assert_int_equal(trove_store_model_activate(s, de, 4, &err), TROVE_EUNSUPPORTED);
    assert_int_equal(trove_store_model_rollback(s, de, &v, &err), TROVE_EUNSUPPORTED);
    assert_int_equal(active_of(s, de), 3);
    trove_store_close(s);
}

typedef struct seen_rows {
    trove_assignment rows[32];
    size_t n;
} seen_rows;

static int collect_row(void *ud, const trove_assignment *a)
{
    seen_rows *sr = ud;
    if (sr->n < 32)
        sr->rows[sr->n] = *a;
    sr->n++;
    return 0;
}

static size_t count_rows(trove_store *s, int64_t cycle)
{
    seen_rows sr;
    trove_error err;
    sr.n = 0;
    assert_int_equal(trove_store_assignments_foreach(s, cycle, collect_row, &sr, &err), 0);
    return sr.n;
}

static int64_t user(trove_store *s, const char *ext, int64_t m)
{
    int64_t id;
    trove_error err;
    assert_int_equal(trove_store_user_upsert(s, ext, m, &id, NULL, &err), 0);
    return id;
}

static int64_t item(trove_store *s, const char *ext)
{
    int64_t id;
    trove_error err;
    assert_int_equal(trove_store_item_upsert(s, ext, NULL, &id, NULL, &err), 0);
    return id;
}

static void test_cycles(void **state)
{
    trove_store *s = open_new("cycles.db");
    trove_error err;
    int64_t de = market(s, "DE"), u1 = user(s, "u1", de), u2 = user(s, "u2", de);
    int64_t i1 = item(s, "i1"), i2 = item(s, "i2");
    int64_t id = 0, id2 = 0, mid = 0;
    trove_cycle c, found;
    trove_model_version mv;
    seen_rows sr;
    int v;
    (void)state;

    memset(&mv, 0, sizeof mv);
    mv.market_id = de;
    mv.family = "hybrid";
    mv.path = mv.config_hash = mv.data_fingerprint = "p";
    assert_int_equal(trove_store_model_register(s, &mv, &v, &mid, &err), 0);
    memset(&c, 0, sizeof c);
    c.market_id = de;
    c.key = "2024-W07";
    c.created_ts = 1000;
    c.model_version_id = mid;
    c.salt = "de-offers-2024";
    c.test_share = 0.9;
    c.eligible_items = 2;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &id, &err), 0);

    const trove_assignment rows[] = {
        {id, u1, i1, 0, TROVE_ARM_TEST, 0.9, TROVE_SOURCE_MODEL},
        {id, u1, i2, 1, TROVE_ARM_TEST, NAN, TROVE_SOURCE_NEW_OFFER},
        {id, u2, i2, 0, TROVE_ARM_CONTROL, 3.0, TROVE_SOURCE_POPULARITY},
    };
    assert_int_equal(trove_store_assignments_add(s, rows, 3, &err), 0);
    memset(&sr, 0, sizeof sr);
    assert_int_equal(trove_store_assignments_foreach(s, id, collect_row, &sr, &err), 0);
    assert_int_equal(sr.n, 3);
    assert_int_equal(sr.rows[0].user_id, u1);
    assert_int_equal(sr.rows[1].rank, 1);
    assert_true(isnan(sr.rows[1].score));
    assert_int_equal(sr.rows[1].source, TROVE_SOURCE_NEW_OFFER);
    assert_int_equal(sr.rows[2].arm, TROVE_ARM_CONTROL);
    assert_float_equal(sr.rows[2].score, 3.0, 0);
    assert_string_equal(trove_assignment_source_name(TROVE_SOURCE_NEW_OFFER), "new-offer");

    /* a batch with a duplicate pair adds nothing */
    const trove_assignment dup[] = {
        {id, u2, i1, 1, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_POPULARITY},
        {id, u2, i2, 2, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_POPULARITY},
    };
    assert_int_equal(trove_store_assignments_add(s, dup, 2, &err), TROVE_EEXIST);
    assert_int_equal(count_rows(s, id), 3);
    const trove_assignment ghost[] = {
        {id, u2, i1, 1, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_POPULARITY},
        {id, 777, i1, 0, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_POPULARITY},
    };
    assert_int_equal(trove_store_assignments_add(s, ghost, 2, &err), TROVE_ENOTFOUND);
    assert_int_equal(count_rows(s, id), 3);
    const trove_assignment bad_arm[] = {{id, u2, i1, 1, 2, 1, TROVE_SOURCE_MODEL}};
    assert_int_equal(trove_store_assignments_add(s, bad_arm, 1, &err), TROVE_EINVAL);

    /* the same key again: refused, or replaced explicitly */
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &id2, &err), TROVE_EEXIST);
    assert_non_null(strstr(err.msg, "already has cycle '2024-W07'"));
    assert_int_equal(count_rows(s, id), 3);
    c.created_ts = 1500;
    c.salt = "new-salt";
    c.model_version_id = 0;
    assert_int_equal(trove_store_cycle_create(s, &c, 1, &id2, &err), 0);
    assert_int_equal(id2, id);
    assert_int_equal(count_rows(s, id), 0);
    assert_int_equal(trove_store_cycle_find(s, de, "2024-W07", &found, &err), 0);
    assert_int_equal(found.id, id);
    assert_int_equal(found.created_ts, 1500);
    assert_string_equal(found.salt, "new-salt");
    assert_int_equal(found.model_version_id, 0);
    assert_float_equal(found.test_share, 0.9, 0);
    assert_int_equal(found.eligible_items, 2);
    assert_int_equal(trove_store_cycle_find(s, de, "nope", &found, &err), TROVE_ENOTFOUND);

    /* inside the caller's transaction: cycle and rows commit together, or
     * roll back together */
    assert_int_equal(trove_store_begin(s, &err), 0);
    c.key = "2024-W08";
    c.created_ts = 2000;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &id2, &err), 0);
    const trove_assignment w8[] = {{id2, u1, i1, 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL}};
    assert_int_equal(trove_store_assignments_add(s, w8, 1, &err), 0);
    assert_int_equal(trove_store_assignments_add(s, w8, 1, &err), TROVE_EEXIST);
    assert_int_equal(trove_store_rollback(s, &err), 0);
    assert_int_equal(trove_store_cycle_find(s, de, "2024-W08", &found, &err), TROVE_ENOTFOUND);

    /* unknown market, unknown model version, bad values */
    c.market_id = 4242;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &id2, &err), TROVE_ENOTFOUND);
    c.market_id = de;
    c.model_version_id = 4242;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &id2, &err), TROVE_ENOTFOUND);
    c.model_version_id = 0;
    c.test_share = 1.5;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &id2, &err), TROVE_EINVAL);
    trove_store_close(s);
}

/* The window of a cycle and every count of trove_store_ab_counts on a
 * scenario small enough to count by hand (see the comments). */
static void test_ab_counts(void **state)
{
    trove_store *s = open_new("ab.db");
    trove_error err;
    int64_t de = market(s, "DE");
    int64_t u1 = user(s, "u1", de), u2 = user(s, "u2", de), u3 = user(s, "u3", de),
            u4 = user(s, "u4", de);
    int64_t i1 = item(s, "i1"), i2 = item(s, "i2"), i3 = item(s, "i3"),
            i4 = item(s, "i4");
    /* items were created now; cycle 1 starts before, cycle 2 after */
    int64_t b = (int64_t)time(NULL) - 1000, c1 = 0, c2 = 0;
    trove_cycle c;
    trove_item fl;
    trove_ab_cycle_counts k;
    (void)state;

    memset(&fl, 0, sizeof fl);
    fl.blocked = 1;
    fl.start_ts = b + 10000;
    assert_int_equal(trove_store_item_set_flags(s, i4, &fl, TROVE_ITEM_BLOCKED |
                                                TROVE_ITEM_START_TS, &err), 0);
    memset(&c, 0, sizeof c);
    c.market_id = de;
    c.key = "c1";
    c.created_ts = b;
    c.salt = "s";
    c.test_share = 0.5;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &c1, &err), 0);
    c.key = "c2";
    c.created_ts = b + 2000;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &c2, &err), 0);
    const trove_assignment rows[] = {
        {c1, u1, i1, 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {c1, u1, i2, 1, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {c1, u2, i1, 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {c1, u2, i3, 1, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {c1, u3, i4, 0, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_POPULARITY},
        {c1, u3, i1, 1, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_POPULARITY},
        {c1, u4, i4, 0, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_POPULARITY},
        {c2, u2, i3, 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, rows, 8, &err), 0);
    const trove_event evs[] = {
        {1, u1, i1, TROVE_EVENT_REDEMPTION, 1, b + 500, de},   /* test, counted */
        {2, u1, i1, TROVE_EVENT_REDEMPTION, 1, b + 600, de},   /* same pair again */
        {3, u2, i3, TROVE_EVENT_REDEMPTION, 1, b + 2500, de},  /* in cycle 2 */
        {4, u3, i4, TROVE_EVENT_REDEMPTION, 1, b + 200, de},   /* control */
        {5, u4, i2, TROVE_EVENT_REDEMPTION, 1, b + 300, de},   /* never assigned */
        {6, u1, i2, TROVE_EVENT_IMPRESSION, 1, b + 100, de},
        {7, u3, i4, TROVE_EVENT_IMPRESSION, 1, b + 100, de},
        {8, u1, i2, TROVE_EVENT_REDEMPTION, 1, b - 1, de},     /* before */
        {9, u3, i1, TROVE_EVENT_CLICK, 1, b + 100, de},        /* not counted */
    };
    for (size_t e = 0; e < sizeof evs / sizeof evs[0]; e++)
        assert_int_equal(trove_store_event_add(s, &evs[e], NULL, &err), 0);

    assert_int_equal(trove_store_ab_counts(s, c1, b + 5000, &k, &err), 0);
    assert_string_equal(k.market, "DE");
    assert_string_equal(k.key, "c1");
    assert_int_equal(k.start_ts, b);
    assert_int_equal(k.end_ts, b + 2000);          /* the next cycle's start */
    /* test: u1 (n 2, r 1), u2 (n 2, r 0) */
    assert_int_equal(k.arm[1].users, 2);
    assert_int_equal(k.arm[1].exposures, 4);
    assert_int_equal(k.arm[1].redemptions, 1);
    assert_int_equal(k.arm[1].redeeming_users, 1);
    assert_int_equal(k.arm[1].impressions, 1);
    assert_float_equal(k.arm[1].sum_n2, 8, 0);
    assert_float_equal(k.arm[1].sum_r2, 1, 0);
    assert_float_equal(k.arm[1].sum_nr, 2, 0);
    assert_int_equal(k.arm[1].distinct_items, 3);
    assert_int_equal(k.arm[1].top5_exposures, 4);
    /* control: u3 (n 2, r 1), u4 (n 1, r 0) */
    assert_int_equal(k.arm[0].users, 2);
    assert_int_equal(k.arm[0].exposures, 3);
    assert_int_equal(k.arm[0].redemptions, 1);
    assert_int_equal(k.arm[0].impressions, 1);
    assert_float_equal(k.arm[0].sum_n2, 5, 0);
    assert_float_equal(k.arm[0].sum_nr, 2, 0);
    assert_int_equal(k.arm[0].distinct_items, 2);
    assert_int_equal(k.distinct_items, 4);
    assert_int_equal(k.top5_exposures, 7);
    assert_int_equal(k.unassigned_redemptions, 1);   /* u4 redeemed i2 */
    assert_int_equal(k.eligible_items, 3);           /* i4 is blocked */
    assert_int_equal(k.new_items, 0);                /* first cycle */
    assert_float_equal(k.test_share, 0.5, 0);

    /* cycle 2 runs to `now`; i1..i3 were launched since cycle 1, i4 starts
     * later */
    assert_int_equal(trove_store_ab_counts(s, c2, b + 5000, &k, &err), 0);
    assert_int_equal(k.end_ts, b + 5000);
    assert_int_equal(k.arm[1].users, 1);
    assert_int_equal(k.arm[1].redemptions, 1);
    assert_int_equal(k.arm[0].users, 0);
    assert_int_equal(k.new_items, 3);
    assert_int_equal(k.new_items_shown, 1);
    assert_int_equal(k.unassigned_redemptions, 0);
    assert_int_equal(trove_store_ab_counts(s, 999, 0, &k, &err), TROVE_ENOTFOUND);
    (void)i3;
    trove_store_close(s);
}

/* A store built at schema version 2 upgrades to 3 on open and keeps its
 * rows; the new columns take their defaults. */
static void test_migration(void **state)
{
    const char *path = testutil_tmp_path("v2.db");
    trove_store *s = NULL;
    trove_error err;
    int64_t de;
    (void)state;
    assert_int_equal(trove__store_open_at(path, TROVE_STORE_CREATE, 2, &s, &err), 0);
    assert_int_equal(trove_store_schema_version(s), 2);
    de = market(s, "DE");
    trove_store_close(s);
    assert_int_equal(trove_store_open(path, 0, &s, &err), 0);
    assert_int_equal(trove_store_schema_version(s), trove_store_schema_latest());
    assert_int_equal(reg(s, de, "m.trove"), 1);
    assert_int_equal(trove_store_model_activate(s, de, 1, &err), 0);
    trove_store_close(s);
}

/* Out of memory while collecting pruned paths: a clean error and nothing
 * pruned; later the same call succeeds. */
static void test_prune_out_of_memory(void **state)
{
    trove_store *s = open_new("oom.db");
    trove_error err;
    int64_t de = market(s, "DE");
    char **paths = NULL;
    size_t n = 0;
    int rc = TROVE_ENOMEM;
    (void)state;
    for (int i = 0; i < 4; i++)
        reg(s, de, "m/x.trove");
    for (long k = 0; k < 200 && rc != TROVE_OK; k++) {
        testutil_fail_alloc_after(k);
        rc = trove_store_models_prune(s, de, 1, &paths, &n, &err);
        testutil_fail_alloc_after(-1);
        if (rc != TROVE_OK) {
            seen_versions sv;
            memset(&sv, 0, sizeof sv);
            assert_int_equal(trove_store_models_foreach(s, de, collect_version, &sv,
                                                        &err), 0);
            assert_int_equal(sv.pruned[0] + sv.pruned[1] + sv.pruned[2] + sv.pruned[3], 0);
        }
    }
    assert_int_equal(rc, TROVE_OK);
    assert_int_equal(n, 3);
    trove_store_strings_free(paths, n);
    trove_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_ab_counts),
        cmocka_unit_test(test_migration),
        cmocka_unit_test(test_prune_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
