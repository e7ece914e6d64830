/*
 * test_eval_cli.c - `trove evaluate` end to end on the small fixture in
 * tests/fixtures/eval: the table, JSON (parsed back), the HTML report,
 * saved models evaluated again, and the bad-input messages and exit codes.
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

/* The JSON line of an output that also holds warnings (stderr is captured
 * too). */
static json_t *json_of(const char *out)
{
    json_error_t jerr;
    const char *p = strstr(out, "{\"title\"");
    json_t *root = p ? json_loadb(p, strcspn(p, "\n"), 0, &jerr) : NULL;
    if (root == NULL)
        fail_msg("no JSON in: %s", out);
    return root;
}

#define FIX(name) testutil_fixture("eval/" name)

static void test_table_and_counts(void **state)
{
    int st;
    char cmd[2048];
    (void)state;
    snprintf(cmd, sizeof cmd, "evaluate --train %s --test %s --models popularity,itemknn "
             "--bootstrap 100 -k 5", FIX("train.tsv"), FIX("test.tsv"));
    char *out = run(&st, "%s", cmd);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "P@5"));
    assert_non_null(strstr(out, "itemknn"));
    assert_non_null(strstr(out, "unknown user 1, unknown item 1"));
    assert_non_null(strstr(out, "1 also in train"));
    assert_non_null(strstr(out, "vs popularity"));
    free(out);
}

static void test_json_and_report(void **state)
{
    int st;
    char cmd[3072];
    const char *html = testutil_tmp_path("report.html");
    const char *dir = testutil_tmp_path("");
    (void)state;
    snprintf(cmd, sizeof cmd, "evaluate --train %s --test %s --item-features %s "
             "--user-features %s --models random,content,itemknn,popularity-market "
             "--baseline popularity --bootstrap 100 --json --report %s --save-dir %s "
             "2>/dev/null", FIX("train.tsv"), FIX("test.tsv"), FIX("item_features.tsv"),
             FIX("user_features.tsv"), html, dir);
    char *out = run(&st, "%s", cmd);
    assert_int_equal(st, 0);
    json_t *root = json_of(out);
    json_t *models = json_object_get(root, "models");
    assert_int_equal(json_array_size(models), 5);   /* four + the baseline */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "test_file"),
                                                        "unknown_user")), 1);
    json_t *knn = json_array_get(models, 2);
    assert_string_equal(json_string_value(json_object_get(knn, "name")), "itemknn");
    json_t *auc = json_object_get(json_object_get(knn, "metrics"), "auc");
    double mean = json_real_value(json_object_get(auc, "mean"));
    assert_true(mean > 0.9 && mean <= 1.0);
    assert_true(json_real_value(json_object_get(auc, "lo")) <= mean);
    json_t *vs = json_object_get(knn, "vs_baseline");
    assert_true(json_is_object(vs));
    assert_true(json_real_value(json_object_get(json_object_get(vs, "ndcg"), "p")) < 0.05);
    assert_true(json_is_null(json_object_get(json_array_get(models, 4), "vs_baseline")));
    /* market slices from the user features */
    json_t *slices = json_object_get(knn, "slices");
    int markets = 0;
    for (size_t i = 0; i < json_array_size(slices); i++)
        markets += strcmp(json_string_value(json_object_get(json_array_get(slices, i), "kind")),
                          "market") == 0;
    assert_int_equal(markets, 2);
    json_decref(root);
    free(out);

    FILE *f = fopen(html, "r");
    assert_non_null(f);
    char *page = calloc(1, 1 << 20);
    assert_non_null(page);
    size_t n = fread(page, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(n > 1000);
    assert_non_null(strstr(page, "<svg"));
    assert_non_null(strstr(page, "itemknn"));
    assert_non_null(strstr(page, "market=DE"));
    /* self-contained: nothing fetched from the network */
    assert_null(strstr(page, "src=\"http"));
    assert_null(strstr(page, "href=\"http"));
    assert_null(strstr(page, "<script"));
    free(page);

    /* a saved model evaluated again gives the same figures */
    char model[1200];
    snprintf(model, sizeof model, "%s/itemknn.trove", dir);
    snprintf(cmd, sizeof cmd, "evaluate --train %s --test %s --model %s --bootstrap 0 "
             "--json 2>/dev/null", FIX("train.tsv"), FIX("test.tsv"), model);
    out = run(&st, "%s", cmd);
    assert_int_equal(st, 0);
    root = json_of(out);
    models = json_object_get(root, "models");
    json_t *loaded = json_array_get(models, 1);
    assert_non_null(strstr(json_string_value(json_object_get(loaded, "name")), "itemknn:"));
    double again = json_real_value(json_object_get(json_object_get(
        json_object_get(loaded, "metrics"), "auc"), "mean"));
    assert_true(again == mean);
    json_decref(root);
    free(out);

    /* `trove recommend` serves the saved itemknn model (raw ids from the
     * index files written beside it): the list equals the library's own
     * top 3 with the user's training items left out */
    snprintf(cmd, sizeof cmd, "recommend --model %s --user u3 -n 3 --exclude %s --json", model,
             FIX("train.tsv"));
    out = run(&st, "%s", cmd);
    assert_int_equal(st, 0);
    json_error_t jerr;
    root = json_loads(out, 0, &jerr);
    assert_non_null(root);
    json_t *list = json_object_get(root, "items");
    assert_int_equal(json_array_size(list), 3);
    {
        trove_recommender *r = NULL;
        trove_idmap *users = NULL, *items = NULL;
        trove_error err;
        char side[1300];
        uint32_t top[3], n_top = 0;
        assert_int_equal(trove_recommender_load(model, &r, &err), TROVE_OK);
        snprintf(side, sizeof side, "%s.users", model);
        assert_int_equal(trove_idmap_load(side, &users, &err), TROVE_OK);
        snprintf(side, sizeof side, "%s.items", model);
        assert_int_equal(trove_idmap_load(side, &items, &err), TROVE_OK);
        int64_t u = trove_idmap_find(users, "u3", 2);
        assert_true(u >= 0);
        assert_int_equal(trove_recommender_recommend(r, (uint32_t)u, 3, 1, top, NULL, &n_top,
                                                     &err), TROVE_OK);
        assert_int_equal(n_top, 3);
        for (uint32_t k = 0; k < 3; k++)
            assert_string_equal(json_string_value(json_object_get(json_array_get(list, k),
                                                                  "item")),
                                trove_idmap_name(items, top[k], NULL));
        trove_idmap_free(users);
        trove_idmap_free(items);
        trove_recommender_free(r);
    }
    free(out);
    /* an exclusion list may name items the model does not know: skipped
     * with a warning, the known ones still left out */
    {
        char exf[1300];
        snprintf(exf, sizeof exf, "%s/exclude.tsv", dir);
        FILE *xf = fopen(exf, "w");
        assert_non_null(xf);
        fprintf(xf, "u3\tno-such-item\nu3\t%s\n",
                json_string_value(json_object_get(json_array_get(list, 0), "item")));
        fclose(xf);
        out = run(&st, "recommend --model %s --user u3 -n 3 --exclude %s 2>&1", model, exf);
        assert_int_equal(st, 0);
        assert_non_null(strstr(out, "1 pairs name items the model does not know; skipped"));
        char first[64];
        snprintf(first, sizeof first, " %s ",
                 json_string_value(json_object_get(json_array_get(list, 0), "item")));
        assert_null(strstr(out, first));   /* the known item is left out */
        free(out);
    }
    /* `trove inspect` reads a recommender file's family and shape and
     * checks its checksum */
    out = run(&st, "inspect %s --json", model);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\"kind\":\"recommender\",\"family\":\"itemknn\""));
    assert_non_null(strstr(out, "\"raw_id_files\":true,\"checksum_ok\":true"));
    free(out);
    {
        char copy[1300];
        snprintf(copy, sizeof copy, "%s/damaged.trove", dir);
        FILE *in = fopen(model, "rb"), *cp = fopen(copy, "wb");
        assert_non_null(in);
        assert_non_null(cp);
        int ch;
        long at = 0;
        while ((ch = fgetc(in)) != EOF)
            fputc(at++ == 200 ? ch ^ 0x5a : ch, cp);   /* one byte of the payload */
        fclose(in);
        fclose(cp);
        out = run(&st, "inspect %s 2>&1", copy);
        assert_int_equal(st, 1);
        assert_non_null(strstr(out, "checksum mismatch"));
        free(out);
    }
    json_decref(root);
    /* an id file that does not match the model is refused, naming it */
    char bad_side[1300];
    snprintf(bad_side, sizeof bad_side, "%s/itemknn.trove.items", dir);
    FILE *bf = fopen(bad_side, "w");
    assert_non_null(bf);
    fputs("0\ti0\n", bf);
    fclose(bf);
    out = run(&st, "recommend --model %s --user u3 2>&1", model);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "itemknn.trove.items lists 1 ids"));
    free(out);
}

static void test_bad_input(void **state)
{
    int st;
    char *out;
    (void)state;
    out = run(&st, "evaluate --train %s --test %s -k 50", FIX("train.tsv"), FIX("test.tsv"));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "trove evaluate: k = 50 is larger than the catalog (20 items)"));
    free(out);
    /* --save-dir makes missing directories, and fails before training when
     * it cannot */
    {
        char nested[1200];
        snprintf(nested, sizeof nested, "%s/saved/models", testutil_tmp_path(""));
        out = run(&st, "evaluate --train %s --test %s --models popularity --bootstrap 0 "
                  "--save-dir %s", FIX("train.tsv"), FIX("test.tsv"), nested);
        assert_int_equal(st, 0);
        free(out);
        out = run(&st, "inspect %s/popularity.trove", nested);
        assert_int_equal(st, 0);
        free(out);
        out = run(&st, "evaluate --train %s --test %s --models itemknn --save-dir %s/x",
                  FIX("train.tsv"), FIX("test.tsv"), FIX("train.tsv"));
        assert_int_equal(st, 1);
        assert_non_null(strstr(out, "train.tsv/x: cannot create: Not a directory"));
        assert_null(strstr(out, "fitting"));
        free(out);
    }
    out = run(&st, "evaluate --train %s --test %s", FIX("train.tsv"), FIX("empty.tsv"));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "no test pair to evaluate"));
    free(out);
    out = run(&st, "evaluate --train %s --test %s --models nope", FIX("train.tsv"),
              FIX("test.tsv"));
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "unknown model family 'nope'"));
    free(out);
    out = run(&st, "evaluate --train %s --test %s --models content", FIX("train.tsv"),
              FIX("test.tsv"));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "no item features"));
    free(out);
    out = run(&st, "evaluate --train %s", FIX("train.tsv"));
    assert_int_equal(st, 2);
    free(out);
    out = run(&st, "evaluate --train %s --test %s -k zero", FIX("train.tsv"), FIX("test.tsv"));
    assert_int_equal(st, 2);
    free(out);
    out = run(&st, "evaluate --train %s --test %s --set itemknn.nonsense=1 --models itemknn",
              FIX("train.tsv"), FIX("test.tsv"));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "unknown setting 'nonsense'"));
    free(out);
    out = run(&st, "evaluate --train /nonexistent/%s --test %s", "x.tsv", FIX("test.tsv"));
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "trove evaluate: "));
    free(out);
    out = run(&st, "evaluate --help");
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "--baseline"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_and_counts),
        cmocka_unit_test(test_json_and_report),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
