/*
 * test_store_cli.c - `trove stats` run as a program on a store this test
 * builds: JSON keys and values, the human table, a missing store, usage
 * errors and --help.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *build_store(void)
{
    const char *path = testutil_tmp_path("cli.db");
    trove_store *s = NULL;
    trove_error err;
    int64_t uk, de, u1, u2, i1, i2, f;
    trove_item flags;

    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &s, &err), 0);
    assert_int_equal(trove_store_begin(s, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "United Kingdom", NULL, NULL, &uk,
                                               NULL, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &de, NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "u1", uk, &u1, NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "u2", de, &u2, NULL, &err), 0);
    assert_int_equal(trove_store_item_upsert(s, "i1", "A \"quoted\" title", &i1,
                                             NULL, &err), 0);
    assert_int_equal(trove_store_item_upsert(s, "i2", NULL, &i2, NULL, &err), 0);
    memset(&flags, 0, sizeof flags);
    flags.pinned = 1;
    assert_int_equal(trove_store_item_set_flags(s, i2, &flags, TROVE_ITEM_PINNED,
                                                &err), 0);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "genre=Comedy",
                                                TROVE_FEATURE_CATEGORICAL, &f, &err), 0);
    assert_int_equal(trove_store_item_feature_set(s, i1, f, 1, &err), 0);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_USER, "age",
                                                TROVE_FEATURE_NUMERIC, &f, &err), 0);
    const trove_event evs[] = {
        {1, u1, i1, TROVE_EVENT_PURCHASE, 2, 1291191960, uk},
        {2, u1, i2, TROVE_EVENT_RETURN, -1, 1291192000, uk},
        {3, u2, i1, TROVE_EVENT_PURCHASE, 1, 1291195000, de},
        {4, u2, i2, TROVE_EVENT_CLICK, 1, 1291196000, uk},
        {5, u1, i1, TROVE_EVENT_RATING, 4, 1291190000, 0},
    };
    for (size_t k = 0; k < sizeof evs / sizeof evs[0]; k++)
        assert_int_equal(trove_store_event_add(s, &evs[k], NULL, &err), 0);
    assert_int_equal(trove_store_commit(s, &err), 0);
    trove_store_close(s);
    return path;
}

static json_int_t get_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("key '%s' missing or not an integer", key);
    return json_integer_value(v);
}

static void test_stats_json(void **state)
{
    const char *path = build_store();
    char *out = NULL;
    json_error_t jerr;
    json_t *root, *by_type, *markets, *m;
    (void)state;

    assert_int_equal(testutil_run_trove(&out, "stats --store '%s' --json", path), 0);
    root = json_loads(out, 0, &jerr);
    if (root == NULL)
        fail_msg("not JSON (%s): %s", jerr.text, out);
    assert_int_equal(get_int(root, "schema_version"), trove_store_schema_latest());
    assert_int_equal(get_int(root, "users"), 2);
    assert_int_equal(get_int(root, "items"), 2);
    assert_int_equal(get_int(root, "markets"), 2);
    assert_int_equal(get_int(root, "events"), 5);
    assert_int_equal(get_int(root, "user_features"), 1);
    assert_int_equal(get_int(root, "item_features"), 1);
    assert_int_equal(get_int(root, "items_active"), 2);
    assert_int_equal(get_int(root, "items_pinned"), 1);
    assert_int_equal(get_int(root, "items_blocked"), 0);
    assert_int_equal(get_int(root, "model_versions"), 0);
    assert_int_equal(get_int(root, "cycles"), 0);
    assert_int_equal(get_int(root, "first_ts"), 1291190000);
    assert_int_equal(get_int(root, "last_ts"), 1291196000);
    by_type = json_object_get(root, "events_by_type");
    assert_true(json_is_object(by_type));
    assert_int_equal(get_int(by_type, "impression"), 0);
    assert_int_equal(get_int(by_type, "click"), 1);
    assert_int_equal(get_int(by_type, "redemption"), 0);
    assert_int_equal(get_int(by_type, "purchase"), 2);
    assert_int_equal(get_int(by_type, "rating"), 1);
    assert_int_equal(get_int(by_type, "return"), 1);
    markets = json_object_get(root, "market_stats");
    assert_true(json_is_array(markets));
    assert_int_equal(json_array_size(markets), 2);
    m = json_array_get(markets, 0);
    assert_string_equal(json_string_value(json_object_get(m, "code")), "United Kingdom");
    assert_int_equal(get_int(m, "users"), 1);
    assert_int_equal(get_int(m, "events"), 3);
    m = json_array_get(markets, 1);
    assert_string_equal(json_string_value(json_object_get(m, "code")), "DE");
    assert_int_equal(get_int(m, "events"), 1);
    json_decref(root);
    free(out);
}

static void test_stats_table(void **state)
{
    const char *path = build_store();
    char *out = NULL;
    (void)state;
    assert_int_equal(testutil_run_trove(&out, "stats --store '%s'", path), 0);
    assert_non_null(strstr(out, "users            2\n"));
    assert_non_null(strstr(out, "items            2 (active 2, pinned 1, blocked 0)"));
    assert_non_null(strstr(out, "  purchase       2\n"));
    assert_non_null(strstr(out, "first event      2010-12-01 07:53:20 UTC"));
    assert_non_null(strstr(out, "United Kingdom"));
    free(out);
    /* sqlite:PATH works as well, and nothing was written by a read */
    assert_int_equal(testutil_run_trove(&out, "stats -s 'sqlite:%s'", path), 0);
    assert_non_null(strstr(out, "events           5\n"));
    free(out);
}

static void test_stats_errors(void **state)
{
    const char *missing = testutil_tmp_path("missing.db");
    const char *text = testutil_tmp_path("notes.txt");
    char *out = NULL;
    struct stat sb;
    (void)state;

    assert_int_equal(testutil_run_trove(&out, "stats --store '%s'", missing), 1);
    assert_non_null(strstr(out, "trove stats: "));
    assert_non_null(strstr(out, "missing.db: no such store"));
    free(out);
    assert_int_not_equal(stat(missing, &sb), 0);   /* not created */

    assert_int_equal(testutil_write_file(text, "hello, this is not a database file;"
                                         " it has more than a hundred bytes of "
                                         "text so that it would hold a header.\n"), 0);
    assert_int_equal(testutil_run_trove(&out, "stats --store '%s' --json", text), 1);
    assert_non_null(strstr(out, "not a trove store"));
    free(out);

    assert_int_equal(testutil_run_trove(&out, "stats"), 2);
    assert_non_null(strstr(out, "--store"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "stats --store x.db --bogus"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "stats --store x.db extra"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "stats --store"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "stats --store postgres://h/db"), 1);
    assert_non_null(strstr(out, "unsupported"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "stats --help"), 0);
    assert_non_null(strstr(out, "usage: trove stats --store FILE [--json]"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_stats_table),
        cmocka_unit_test(test_stats_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
