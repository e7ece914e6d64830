/*
 * test_tune_cli.c - `trove tune` then `trove evaluate --config` end to end
 * on tests/fixtures/tune: the leaderboard, the written settings file, JSON
 * output, evaluation of every tuned model, and the messages and exit codes
 * of bad input (budget too small, unknown family, bad config file).
 */
#include "testutil.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *run(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *run(int *status, const char *fmt, ...)
{
    char *out = NULL;
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    *status = testutil_run_trove(&out, "%s", cmd);
    assert_non_null(out);
    return out;
}

#define FIX(name) testutil_fixture("tune/" name)

static void test_tune_then_evaluate(void **state)
{
    const char *best = testutil_tmp_path("best.yaml");
    json_error_t jerr;
    json_t *root, *models;
    int st;
    char *out;
    (void)state;
    out = run(&st, "tune --train %s --models ease,rp3beta,popularity,blend --trials 3 "
              "--metric precision@5 --budget 5m --out %s", FIX("train.tsv"), best);
    if (st != 0)
        fail_msg("tune failed: %s", out);
    assert_non_null(strstr(out, "leaderboard (precision@5 on validation"));
    assert_non_null(strstr(out, "<- best"));
    assert_non_null(strstr(out, "written to"));
    free(out);

    out = run(&st, "evaluate --train %s --test %s --config %s --bootstrap 0 -k 5 --json",
              FIX("train.tsv"), FIX("test.tsv"), best);
    if (st != 0)
        fail_msg("evaluate failed: %s", out);
    root = json_loads(strstr(out, "{"), JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(root);
    models = json_object_get(root, "models");
    assert_true(json_is_array(models));
    /* ease, rp3beta, popularity, blend (when a blend was kept) */
    assert_true(json_array_size(models) >= 3);
    {
        int has_ease = 0, has_rp3 = 0;
        for (size_t i = 0; i < json_array_size(models); i++) {
            const char *nm = json_string_value(json_object_get(json_array_get(models, i),
                                                               "name"));
            assert_non_null(nm);
            has_ease |= strcmp(nm, "ease") == 0;
            has_rp3 |= strcmp(nm, "rp3beta") == 0;
        }
        assert_true(has_ease && has_rp3);
    }
    json_decref(root);
    free(out);

    out = run(&st, "tune --train %s --models ease --trials 2 --json", FIX("train.tsv"));
    assert_int_equal(st, 0);
    root = json_loads(out, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "metric")), "ndcg@10");
    assert_int_equal(json_array_size(json_object_get(root, "trials")), 2);
    json_decref(root);
    free(out);
}

static void test_bad_input(void **state)
{
    const char *bad = testutil_tmp_path("bad.yaml");
    int st;
    char *out;
    (void)state;
    out = run(&st, "tune --train %s --models ials --budget 0.000001s", FIX("train.tsv"));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "trove tune: "));
    assert_non_null(strstr(out, "too small to try one configuration"));
    free(out);
    out = run(&st, "tune --train %s --budget 0", FIX("train.tsv"));
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "--budget"));
    free(out);
    out = run(&st, "tune --train %s --models ease,svd", FIX("train.tsv"));
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "unknown model family 'svd'"));
    free(out);
    out = run(&st, "tune --train %s --metric rmse", FIX("train.tsv"));
    assert_int_equal(st, 2);
    free(out);
    out = run(&st, "tune");
    assert_int_equal(st, 2);
    free(out);
    out = run(&st, "tune --help");
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "--budget"));
    free(out);

    assert_int_equal(testutil_write_file(bad, "metric: ndcg@10\nvalidation_fraction: 0.2\n"
                                         "seed: 1\nbest: ease\nmodels:\n  - family: ease\n"
                                         "    colour: red\n"), 0);
    out = run(&st, "evaluate --train %s --test %s --config %s", FIX("train.tsv"),
              FIX("test.tsv"), bad);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "bad.yaml:7:5: model: unknown key 'colour'"));
    free(out);
    out = run(&st, "evaluate --train %s --test %s --config %s", FIX("train.tsv"),
              FIX("test.tsv"), testutil_tmp_path("none.yaml"));
    assert_int_equal(st, 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_then_evaluate),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
