/*
 * test_ingest_data.c - the ingest acceptance checks on the real datasets in
 * $TROVE_DATA (skipped when absent), through the trove program:
 *   - movielens-100k: `trove stats` reports 100000 rating events, 943 users,
 *     1682 items and 19 genre features;
 *   - online-retail: 38 markets, rejects counted by reason, and a second
 *     run adds 0 events.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_ml100k(void **state)
{
    const char *data = testutil_data_dir();
    const char *db = testutil_tmp_path("ml100k.db");
    char *out = NULL;
    (void)state;
    if (data == NULL)
        skip();
    assert_int_equal(testutil_run_trove(&out, "ingest --store %s --fast --preset "
                                              "movielens-100k %s/ml-100k", db, data), 0);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "stats --store %s --json", db), 0);
    assert_non_null(strstr(out, "\"users\": 943"));
    assert_non_null(strstr(out, "\"items\": 1682"));
    assert_non_null(strstr(out, "\"events\": 100000"));
    assert_non_null(strstr(out, "\"rating\": 100000"));
    assert_non_null(strstr(out, "\"item_features\": 19"));
    free(out);
}

static void test_online_retail(void **state)
{
    const char *data = testutil_data_dir();
    const char *db = testutil_tmp_path("retail.db");
    char *out = NULL;
    (void)state;
    if (data == NULL)
        skip();
    assert_int_equal(testutil_run_trove(&out, "ingest --store %s --fast --json --preset "
                                              "online-retail %s/online-retail/"
                                              "online_retail.csv.gz", db, data), 0);
    assert_non_null(strstr(out, "\"rows_read\":541909"));
    assert_non_null(strstr(out, "\"count\":38"));
    assert_non_null(strstr(out, "\"missing CustomerID\":135080"));
    assert_non_null(strstr(out, "{\"code\":\"Hong Kong\",\"new\":true,\"events\":0,"
                                "\"rejected\":288}"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ingest --store %s --fast --json --preset "
                                              "online-retail %s/online-retail/"
                                              "online_retail.csv.gz", db, data), 0);
    assert_non_null(strstr(out, "\"events\":{\"new\":0,"));
    assert_non_null(strstr(out, "\"markets\":{\"new\":0,\"existing\":38,"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "stats --store %s --json", db), 0);
    assert_non_null(strstr(out, "\"markets\": 38"));
    assert_non_null(strstr(out, "\"users\": 4372"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml100k),
        cmocka_unit_test(test_online_retail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
