/*
 * test_ab_cli.c - `trove models` and `trove ab report` run as programs on a
 * store this test fills through the store API: two markets (one with a
 * skewed split that must raise the sample-ratio warning), model versions,
 * two cycles with assignments and redemptions; JSON values against counts
 * known by construction, the table, the HTML report, bad input and usage
 * errors.
 */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000
#define N_DE 200

/* DE: 200 users split by the real arm hash (salt "de", 50%), two offers
 * each; test users redeem their first offer when i % 3 == 0, control users
 * when i % 5 == 0. CH: 40 users, 35 put in test and 5 in control against a
 * configured 50% (a sample ratio mismatch), nobody redeems. */
static const char *build_store(int *n_test_de, int *n_red_test, int *n_red_ctl)
{
    const char *path = testutil_tmp_path("ab.db");
    trove_store *s = NULL;
    trove_error err;
    int64_t de, ch, items[4], cyc_de, cyc_ch, cyc_de2;
    trove_model_version mv;
    trove_cycle c;
    char name[32];
    int v;
    uint64_t ev_id = 1;

    *n_test_de = *n_red_test = *n_red_ctl = 0;
    remove(path);
    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &s, &err), 0);
    assert_int_equal(trove_store_begin(s, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "DE", "Germany", NULL, &de, NULL, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "CH", NULL, NULL, &ch, NULL, &err), 0);
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "offer-%d", k);
        assert_int_equal(trove_store_item_upsert(s, name, NULL, &items[k], NULL, &err), 0);
    }
    memset(&mv, 0, sizeof mv);
    mv.market_id = de;
    mv.family = "hybrid";
    mv.config_hash = "bccdd618f999be62";
    mv.data_fingerprint = "events:1000";
    mv.created_ts = T0;
    mv.path = "models/DE-1.trove";
    mv.metrics_json = "{\"ndcg@10\": 0.25}";
    assert_int_equal(trove_store_model_register(s, &mv, &v, NULL, &err), 0);
    mv.path = "models/DE-2.trove";
    mv.metrics_json = "{\"ndcg@10\": 0.28}";
    assert_int_equal(trove_store_model_register(s, &mv, &v, NULL, &err), 0);
    assert_int_equal(trove_store_model_activate(s, de, 1, &err), 0);

    memset(&c, 0, sizeof c);
    c.market_id = de;
    c.key = "2024-W07";
    c.created_ts = T0;
    c.salt = "de";
    c.test_share = 0.5;
    c.eligible_items = 4;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &cyc_de, &err), 0);
    c.key = "2024-W08";
    c.created_ts = T0 + 7 * 86400;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &cyc_de2, &err), 0);
    c.market_id = ch;
    c.key = "2024-W07";
    c.created_ts = T0;
    c.salt = "ch";
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &cyc_ch, &err), 0);

    for (int i = 0; i < N_DE; i++) {
        int64_t u;
        int arm;
        snprintf(name, sizeof name, "de-%d", i);
        assert_int_equal(trove_store_user_upsert(s, name, de, &u, NULL, &err), 0);
        arm = trove_experiment_arm("de", name, 0.5, NULL);
        assert_true(arm >= 0);
        const trove_assignment rows[2] = {
            {cyc_de, u, items[i % 4], 0, arm, 1.0, arm ? TROVE_SOURCE_MODEL
                                                       : TROVE_SOURCE_POPULARITY},
            {cyc_de, u, items[(i + 1) % 4], 1, arm, 0.5, arm ? TROVE_SOURCE_MODEL
                                                             : TROVE_SOURCE_POPULARITY},
        };
        assert_int_equal(trove_store_assignments_add(s, rows, 2, &err), 0);
        *n_test_de += arm;
        if ((arm && i % 3 == 0) || (!arm && i % 5 == 0)) {
            trove_event ev = {ev_id++, u, items[i % 4], TROVE_EVENT_REDEMPTION, 1,
                              T0 + 3600, de};
            assert_int_equal(trove_store_event_add(s, &ev, NULL, &err), 0);
            if (arm)
                (*n_red_test)++;
            else
                (*n_red_ctl)++;
        }
    }
    /* one redemption of an offer nobody was assigned */
    {
        int64_t u;
        assert_int_equal(trove_store_user_find(s, "de-0", &u, &err), 0);
        trove_event ev = {ev_id++, u, items[3], TROVE_EVENT_REDEMPTION, 1,
                          T0 + 7200, de};
        assert_int_equal(trove_store_event_add(s, &ev, NULL, &err), 0);
    }
    for (int i = 0; i < 40; i++) {
        int64_t u;
        snprintf(name, sizeof name, "ch-%d", i);
        assert_int_equal(trove_store_user_upsert(s, name, ch, &u, NULL, &err), 0);
        const trove_assignment row = {cyc_ch, u, items[0], 0, i < 35, 1.0,
                                      TROVE_SOURCE_MODEL};
        assert_int_equal(trove_store_assignments_add(s, &row, 1, &err), 0);
    }
    assert_int_equal(trove_store_commit(s, &err), 0);
    trove_store_close(s);
    return path;
}

/* The JSON document of a run's output (stderr lines such as warnings come
 * before it, since the program's output is captured together). */
static json_t *parse(const char *out)
{
    json_error_t jerr;
    const char *start = strstr(out, "{\n");
    json_t *root = json_loads(start ? start : out, 0, &jerr);
    if (root == NULL)
        fail_msg("not JSON (%s): %s", jerr.text, out);
    return root;
}

static json_int_t iget(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("'%s' missing or not an integer", key);
    return json_integer_value(v);
}

static void test_models(void **state)
{
    int nt, nr, nc;
    const char *db = build_store(&nt, &nr, &nc);
    char *out = NULL;
    json_t *root, *versions;
    (void)state;

    assert_int_equal(testutil_run_trove(&out, "models list --store '%s' --market DE "
                                              "--json", db), 0);
    root = parse(out);
    versions = json_object_get(root, "versions");
    assert_int_equal(json_array_size(versions), 2);
    assert_int_equal(iget(json_array_get(versions, 0), "version"), 2);
    assert_true(json_is_false(json_object_get(json_array_get(versions, 0), "active")));
    assert_true(json_is_true(json_object_get(json_array_get(versions, 1), "active")));
    assert_true(json_real_value(json_object_get(json_object_get(
        json_array_get(versions, 0), "metrics"), "ndcg@10")) == 0.28);
    json_decref(root);
    free(out);

    assert_int_equal(testutil_run_trove(&out, "models activate --store '%s' "
                                              "--market DE --version 2", db), 0);
    assert_non_null(strstr(out, "DE: version 2 is active"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models list --store '%s' --market DE",
                                        db), 0);
    assert_non_null(strstr(out, "*    2"));
    assert_non_null(strstr(out, "models/DE-1.trove"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models rollback --store '%s' "
                                              "--market DE --json", db), 0);
    assert_non_null(strstr(out, "\"active\": 1"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models rollback --store '%s' "
                                              "--market DE", db), 1);
    assert_non_null(strstr(out, "trove models: "));
    assert_non_null(strstr(out, "no earlier model version"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models activate --store '%s' "
                                              "--market DE --version 7", db), 1);
    assert_non_null(strstr(out, "model version 7 does not exist"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models list --store '%s' --market XX",
                                        db), 1);
    assert_non_null(strstr(out, "market 'XX' not found"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models list --store '%s' --market CH",
                                        db), 0);
    assert_non_null(strstr(out, "no model versions for market CH"));
    free(out);
    /* usage errors exit 2 */
    assert_int_equal(testutil_run_trove(&out, "models --store '%s' --market DE", db), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models activate --store '%s' "
                                              "--market DE", db), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models drop --store x --market DE"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "models --help"), 0);
    assert_non_null(strstr(out, "usage: trove models list"));
    free(out);
}

static void test_ab_report(void **state)
{
    int n_test, red_test, red_ctl;
    const char *db = build_store(&n_test, &red_test, &red_ctl);
    const char *html = testutil_tmp_path("ab.html");
    char *out = NULL, *page = NULL;
    json_t *root, *markets, *de = NULL, *ch = NULL, *cyc, *arms, *cum;
    FILE *f;
    long size;
    (void)state;

    remove(html);
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s' --json "
                                              "--now %d --report '%s'",
                                        db, T0 + 14 * 86400, html), 0);
    root = parse(out);
    markets = json_object_get(root, "markets");
    assert_int_equal(json_array_size(markets), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(markets, i);
        if (strcmp(json_string_value(json_object_get(m, "market")), "DE") == 0)
            de = m;
        else
            ch = m;
    }
    assert_non_null(de);
    assert_non_null(ch);
    assert_int_equal(iget(root, "holm_tests"), 2);
    /* DE cycle 1: counts known by construction */
    cyc = json_array_get(json_object_get(de, "cycles"), 0);
    assert_string_equal(json_string_value(json_object_get(cyc, "cycle")), "2024-W07");
    assert_int_equal(iget(cyc, "end_ts"), T0 + 7 * 86400);
    arms = json_object_get(cyc, "arms");
    assert_int_equal(iget(json_object_get(arms, "test"), "users"), n_test);
    assert_int_equal(iget(json_object_get(arms, "control"), "users"), N_DE - n_test);
    assert_int_equal(iget(json_object_get(arms, "test"), "exposures"), 2 * n_test);
    assert_int_equal(iget(json_object_get(arms, "test"), "redemptions"), red_test);
    assert_int_equal(iget(json_object_get(arms, "control"), "redemptions"), red_ctl);
    assert_true(fabs(json_real_value(json_object_get(json_object_get(arms, "test"),
                                                     "rate")) -
                     (double)red_test / (2.0 * n_test)) < 1e-9);
    assert_int_equal(iget(cyc, "unassigned_redemptions"), 1);
    assert_true(json_real_value(json_object_get(json_object_get(cyc, "guardrails"),
                                                "coverage")) == 1.0);
    assert_true(json_is_real(json_object_get(cyc, "p_value")));
    assert_true(json_is_false(json_object_get(json_object_get(cyc, "srm"), "warn")));
    /* DE cycle 2 has no assignments: undefined figures are null */
    cyc = json_array_get(json_object_get(de, "cycles"), 1);
    assert_true(json_is_null(json_object_get(cyc, "p_value")));
    assert_true(json_is_null(json_object_get(cyc, "rel_lift")));
    cum = json_object_get(de, "cumulative");
    assert_int_equal(iget(json_object_get(json_object_get(cum, "arms"), "test"),
                          "users"), n_test);
    assert_true(json_is_real(json_object_get(cum, "p_holm")));
    assert_true(json_real_value(json_object_get(cum, "p_holm")) >=
                json_real_value(json_object_get(cum, "p_value")));
    /* CH: 35 / 5 against 50% is a sample ratio mismatch; no redemptions */
    cyc = json_array_get(json_object_get(ch, "cycles"), 0);
    assert_true(json_is_true(json_object_get(json_object_get(cyc, "srm"), "warn")));
    assert_true(fabs(json_real_value(json_object_get(json_object_get(cyc, "srm"),
                                                     "chi2")) - 22.5) < 1e-9);
    assert_true(json_is_null(json_object_get(cyc, "rel_lift")));
    json_decref(root);
    free(out);

    /* the HTML report: self-contained, one chart per market */
    f = fopen(html, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    page = calloc(1, (size_t)size + 1);
    assert_int_equal(fread(page, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    assert_non_null(strstr(page, "<h2>market DE</h2>"));
    assert_non_null(strstr(page, "<svg"));
    assert_non_null(strstr(page, "<circle"));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "src="));
    assert_null(strstr(page, "https:"));
    assert_non_null(strstr(page, "class=\"warn\""));
    free(page);

    /* the table, the SRM warning on stderr, and the filters */
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s' --now %d", db,
                                        T0 + 14 * 86400), 0);
    assert_non_null(strstr(out, "market CH: 1 cycle"));
    assert_non_null(strstr(out, "market DE: 2 cycles"));
    assert_non_null(strstr(out, "cumulative"));
    assert_non_null(strstr(out, "Holm p = "));
    assert_non_null(strstr(out, "trove ab: warning: market CH cycle 2024-W07: "
                                "sample ratio mismatch"));
    assert_non_null(strstr(out, "1 redemptions of offers the cycles did not assign"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s' --market DE "
                                              "--cycle 2024-W08 --json --now %d",
                                        db, T0 + 14 * 86400), 0);
    root = parse(out);
    assert_int_equal(json_array_size(json_object_get(root, "markets")), 1);
    assert_int_equal(json_array_size(json_object_get(json_array_get(
        json_object_get(root, "markets"), 0), "cycles")), 1);
    json_decref(root);
    free(out);

    /* bad input: unknown market, no such cycle, missing store, usage */
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s' --market XX", db), 1);
    assert_non_null(strstr(out, "trove ab: "));
    assert_non_null(strstr(out, "market 'XX' not found"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s' --cycle nope", db), 1);
    assert_non_null(strstr(out, "no cycles with key nope to report"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s'",
                                        testutil_tmp_path("missing.db")), 1);
    assert_non_null(strstr(out, "no such store"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s' --report "
                                              "/nonexistent/dir/x.html", db), 1);
    assert_non_null(strstr(out, "cannot write the report"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab --store '%s'", db), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab report"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab report --store x --now soon"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "ab --help"), 0);
    assert_non_null(strstr(out, "usage: trove ab report"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_ab_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
