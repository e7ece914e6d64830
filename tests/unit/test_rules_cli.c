/*
 * test_rules_cli.c - `trove rules check`: the shipped files pass, a bad
 * file fails with exit 1 and file:line:column, usage errors exit 2, --json.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void test_check(void **state)
{
    char *out = NULL;
    const char *bad = testutil_tmp_path("bad.yaml");
    const char *zone = testutil_tmp_path("zone.yaml");
    (void)state;

    assert_int_equal(testutil_run_trove(&out, "rules check %s %s",
                                        testutil_fixture("../../rules/DE.yaml"),
                                        testutil_fixture("../../rules/CH.yaml")), 0);
    assert_non_null(strstr(out, "DE.yaml: ok, 12 rules, market DE, time zone Europe/Berlin"));
    assert_non_null(strstr(out, "CH.yaml: ok"));
    assert_non_null(strstr(out, "burger-and-drink"));
    free(out);

    assert_int_equal(testutil_run_trove(&out, "rules check --json %s",
                                        testutil_fixture("../../rules/CH.yaml")), 0);
    assert_non_null(strstr(out, "\"market\":\"CH\",\"timezone\":\"Europe/Zurich\""));
    assert_non_null(strstr(out, "{\"name\":\"bought-together\",\"kind\":\"bundle\""));
    free(out);

    assert_int_equal(testutil_write_file(bad, "rules:\n  - name: a\n    kind: boost\n"
                                              "    items: [category=x]\n    factr: 2\n"), 0);
    assert_int_equal(testutil_run_trove(&out, "rules check %s", bad), 1);
    assert_non_null(strstr(out, "trove rules: "));
    assert_non_null(strstr(out, "bad.yaml:5:5: unknown key 'factr'"));
    free(out);

    assert_int_equal(testutil_write_file(zone, "timezone: Nowhere/Atlantis\nrules: []\n"), 0);
    assert_int_equal(testutil_run_trove(&out, "rules check %s", zone), 1);
    assert_non_null(strstr(out, "Nowhere/Atlantis"));
    free(out);

    assert_int_equal(testutil_run_trove(&out, "rules check"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "rules lint x.yaml"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "rules --help"), 0);
    assert_non_null(strstr(out, "usage: trove rules check"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
