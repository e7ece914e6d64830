/*
 * test_tune.c - hyperparameter search (trove/tune.h), the tuned-settings
 * file (trove/tuned.h) and the rp3beta and blend families, on the small
 * clustered fixture tests/fixtures/tune/train.tsv: the leaderboard order,
 * budgets too small, bad parameters, the YAML round trip and its
 * file:line:column errors, allocation failures, and the recommender file
 * of the new families.
 */
#include "testutil.h"
#include "trove/tune.h"
#include "trove/tuned.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static trove_dataset *load_train(void)
{
    trove_dataset *ds = NULL;
    trove_error err;
    trove_error_clear(&err);
    assert_int_equal(trove_dataset_load_pairs(testutil_fixture("tune/train.tsv"), NULL,
                                              &ds, &err), TROVE_OK);
    return ds;
}

static void test_metric_names(void **state)
{
    int m = -1;
    uint32_t k = 0;
    char buf[32];
    (void)state;
    assert_int_equal(trove_tune_parse_metric("ndcg@10", &m, &k, NULL), TROVE_OK);
    assert_int_equal(m, TROVE_METRIC_NDCG);
    assert_int_equal(k, 10);
    assert_int_equal(trove_tune_parse_metric("p@5", &m, &k, NULL), TROVE_OK);
    assert_int_equal(m, TROVE_METRIC_PRECISION);
    assert_int_equal(k, 5);
    assert_int_equal(trove_tune_parse_metric("mrr", &m, &k, NULL), TROVE_OK);
    assert_int_equal(m, TROVE_METRIC_MRR);
    assert_int_equal(trove_tune_parse_metric("ndcg@0", &m, &k, NULL), TROVE_EINVAL);
    assert_int_equal(trove_tune_parse_metric("auc@5", &m, &k, NULL), TROVE_EINVAL);
    assert_int_equal(trove_tune_parse_metric("rmse", &m, &k, NULL), TROVE_EINVAL);
    trove_tune_metric_label(TROVE_METRIC_MAP, 20, buf, sizeof buf);
    assert_string_equal(buf, "map@20");
}

static void test_search_leaderboard(void **state)
{
    const char *fams[] = {"ease", "rp3beta", "itemknn", "popularity", "blend", NULL};
    trove_tune_params p = trove_tune_default_params();
    trove_tune_result *r = NULL;
    trove_tuned_config *c = NULL;
    trove_dataset *ds = load_train();
    trove_error err;
    size_t n_pop = 0;
    (void)state;
    trove_error_clear(&err);
    p.families = fams;
    p.max_trials = 3;
    p.metric = TROVE_METRIC_PRECISION;
    p.k = 5;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_OK);
    /* 3 ease + 3 rp3beta + 3 itemknn + 1 popularity + blends */
    assert_true(r->n_trials > 10);
    assert_false(r->budget_exhausted);
    assert_true(r->n_valid_pairs > 0);
    for (size_t i = 0; i < r->n_trials; i++) {
        assert_int_equal(r->trials[i].status, TROVE_OK);
        assert_true(r->trials[i].score == r->trials[i].metrics[TROVE_METRIC_PRECISION]);
        if (i > 0)
            assert_true(r->trials[i - 1].score >= r->trials[i].score);
        n_pop += strcmp(r->trials[i].family, "popularity") == 0;
    }
    assert_int_equal(n_pop, 1);
    /* clustered data: the best model beats popularity */
    for (size_t i = 0; i < r->n_trials; i++)
        if (strcmp(r->trials[i].family, "popularity") == 0)
            assert_true(r->trials[0].score > r->trials[i].score);
    assert_int_equal(trove_tune_result_config(r, &p, &c, &err), TROVE_OK);
    assert_int_equal(c->n_models, 5);
    assert_string_equal(c->best, r->trials[0].family);
    assert_string_equal(c->metric, "precision@5");
    assert_true(c->models[0].valid_score == r->trials[0].score);
    trove_tuned_config_free(c);
    trove_tune_result_free(r);

    /* random search: same number of draws, deterministic for a seed */
    {
        const char *one[] = {"rp3beta", NULL};
        trove_tune_result *a = NULL, *b = NULL;
        p.families = one;
        p.strategy = TROVE_TUNE_RANDOM;
        p.max_trials = 4;
        assert_int_equal(trove_tune_run(ds, &p, &a, &err), TROVE_OK);
        assert_int_equal(trove_tune_run(ds, &p, &b, &err), TROVE_OK);
        assert_int_equal(a->n_trials, 4);
        for (size_t i = 0; i < 4; i++) {
            char x[512], y[512];
            trove_tune_settings_text(&a->trials[i].settings, x, sizeof x);
            trove_tune_settings_text(&b->trials[i].settings, y, sizeof y);
            assert_string_equal(x, y);
            assert_true(a->trials[i].score == b->trials[i].score);
        }
        trove_tune_result_free(a);
        trove_tune_result_free(b);
    }
    trove_dataset_free(ds);
}

static void test_bad_params_and_budget(void **state)
{
    const char *fams[] = {"ease", "ials", NULL};
    const char *blend_only[] = {"blend", "ease", NULL};
    const char *unknown[] = {"ease", "nope", NULL};
    const char *twice[] = {"ease", "ease", NULL};
    trove_tune_params p = trove_tune_default_params();
    trove_tune_result *r = NULL;
    trove_dataset *ds = load_train();
    trove_error err;
    (void)state;
    trove_error_clear(&err);
    p.families = fams;
    p.budget_seconds = 0.0;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "budget"));
    p.budget_seconds = 10.0;
    p.valid_fraction = 1.0;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_EINVAL);
    p.valid_fraction = 0.2;
    p.families = blend_only;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "blend needs"));
    p.families = unknown;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "nope"));
    p.families = twice;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_EINVAL);
    p.families = fams;
    p.k = 1000;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_EINVAL);
    p.k = 10;
    /* far too small for one configuration */
    p.budget_seconds = 1e-9;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_ERANGE);
    assert_non_null(strstr(err.msg, "too small to try one configuration"));
    assert_null(r);
    trove_dataset_free(ds);
}

/* A family that cannot fit (content without item features) is a failed
 * trial on the board, not a failed search - unless nothing else is left. */
static void test_failed_trials(void **state)
{
    const char *mixed[] = {"content", "ease", NULL};
    const char *only[] = {"content", NULL};
    trove_tune_params p = trove_tune_default_params();
    trove_tune_result *r = NULL;
    trove_tuned_config *c = NULL;
    trove_dataset *ds = load_train();
    trove_error err;
    (void)state;
    trove_error_clear(&err);
    p.families = mixed;
    p.max_trials = 2;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_OK);
    assert_int_equal(r->n_trials, 3);
    assert_string_equal(r->trials[2].family, "content");
    assert_int_not_equal(r->trials[2].status, TROVE_OK);
    assert_true(isnan(r->trials[2].score));
    assert_non_null(strstr(r->trials[2].message, "item features"));
    assert_int_equal(trove_tune_result_config(r, &p, &c, &err), TROVE_OK);
    assert_int_equal(c->n_models, 1);
    assert_string_equal(c->best, "ease");
    trove_tuned_config_free(c);
    trove_tune_result_free(r);
    r = NULL;
    p.families = only;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_EEMPTY);
    assert_non_null(strstr(err.msg, "item features"));
    assert_null(r);
    trove_dataset_free(ds);
}

static void test_budget_stops_search(void **state)
{
    const char *fams[] = {"ials", "ease", NULL};
    trove_tune_params p = trove_tune_default_params();
    trove_tune_result *r = NULL;
    trove_dataset *ds = load_train();
    trove_error err;
    double one;
    (void)state;
    trove_error_clear(&err);
    p.families = fams;
    p.max_trials = 1;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_OK);
    one = r->seconds;
    trove_tune_result_free(r);
    /* a budget of a few trials out of 100 */
    p.max_trials = 0;
    p.budget_seconds = 3.0 * one + 1e-3;
    assert_int_equal(trove_tune_run(ds, &p, &r, &err), TROVE_OK);
    assert_true(r->budget_exhausted);
    assert_true(r->n_skipped > 0);
    assert_int_equal(r->n_trials + r->n_skipped, 90 + 10);
    trove_tune_result_free(r);
    trove_dataset_free(ds);
}

static trove_tuned_config *sample_config(void)
{
    trove_tuned_config *c = trove_tuned_config_new();
    assert_non_null(c);
    snprintf(c->metric, sizeof c->metric, "ndcg@10");
    c->valid_fraction = 0.25;
    c->seed = 7;
    snprintf(c->best, sizeof c->best, "blend");
    snprintf(c->models[0].family, sizeof c->models[0].family, "blend");
    c->models[0].settings = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&c->models[0].settings,
                                           "member1=ease 1 lambda=300", NULL), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&c->models[0].settings,
                                           "member2=rp3beta 0.5 beta=0.4", NULL), TROVE_OK);
    c->models[0].valid_score = 0.123456789012345;
    snprintf(c->models[1].family, sizeof c->models[1].family, "popularity");
    c->models[1].settings = trove_reco_default_params();
    c->models[1].valid_score = NAN;
    snprintf(c->models[2].family, sizeof c->models[2].family, "ease");
    c->models[2].settings = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&c->models[2].settings,
                                           "lambda=a \"quoted\\\" value", NULL), TROVE_OK);
    c->models[2].valid_score = 0.1;
    c->n_models = 3;
    return c;
}

static void test_yaml_round_trip(void **state)
{
    const char *path = testutil_tmp_path("best.yaml");
    trove_tuned_config *c = sample_config(), *d = NULL;
    trove_error err;
    (void)state;
    trove_error_clear(&err);
    assert_int_equal(trove_tuned_config_save(c, path, &err), TROVE_OK);
    assert_int_equal(trove_tuned_config_load(path, &d, &err), TROVE_OK);
    assert_string_equal(d->metric, "ndcg@10");
    assert_true(d->valid_fraction == 0.25);
    assert_int_equal(d->seed, 7);
    assert_string_equal(d->best, "blend");
    assert_int_equal(d->n_models, 3);
    for (size_t m = 0; m < 3; m++) {
        assert_string_equal(d->models[m].family, c->models[m].family);
        assert_int_equal(d->models[m].settings.n, c->models[m].settings.n);
        for (size_t s = 0; s < c->models[m].settings.n; s++) {
            assert_string_equal(d->models[m].settings.key[s], c->models[m].settings.key[s]);
            assert_string_equal(d->models[m].settings.value[s],
                                c->models[m].settings.value[s]);
        }
    }
    assert_true(d->models[0].valid_score == c->models[0].valid_score);
    assert_true(isnan(d->models[1].valid_score));
    trove_tuned_config_free(d);

    /* best must be one of the models */
    snprintf(c->best, sizeof c->best, "ials");
    assert_int_equal(trove_tuned_config_save(c, path, &err), TROVE_EINVAL);
    trove_tuned_config_free(c);
}

static void expect_error(const char *text, const char *where, const char *what)
{
    const char *path = testutil_tmp_path("bad.yaml");
    trove_tuned_config *c = NULL;
    trove_error err;
    char want[512];
    trove_error_clear(&err);
    assert_int_equal(testutil_write_file(path, text), 0);
    assert_int_equal(trove_tuned_config_load(path, &c, &err), TROVE_EFORMAT);
    assert_null(c);
    snprintf(want, sizeof want, "%s:%s", path, where);
    if (strstr(err.msg, want) == NULL || strstr(err.msg, what) == NULL)
        fail_msg("expected '%s' and '%s' in: %s", want, what, err.msg);
}

#define HEAD "metric: ndcg@10\nvalidation_fraction: 0.2\nseed: 42\n"

static void test_yaml_errors(void **state)
{
    trove_tuned_config *c = NULL;
    trove_error err;
    (void)state;
    trove_error_clear(&err);
    expect_error(HEAD "best: ease\nmodels:\n  - family: ease\n    settingz: {}\n", "7:5:",
                 "unknown key 'settingz'");
    expect_error(HEAD "best: ials\nmodels:\n  - family: ease\n", "4:7:",
                 "'ials' is not one of the listed models");
    expect_error("metric: ndcg@10\nvalidation_fraction: x\nseed: 42\nbest: ease\n"
                 "models:\n  - family: ease\n", "2:22:", "must be a number");
    expect_error(HEAD "best: ease\nmodels: []\n", "5:9:", "non-empty list");
    expect_error(HEAD "best: ease\nmodels:\n  - family: ease\n    settings:\n"
                 "      lambda: 1\n      lambda: 2\n", "9:7:", "given twice");
    expect_error(HEAD "best: ease\n", "1:1:", "'models' is missing");
    expect_error(HEAD "best: ease\nmodels:\n  - family: [ease\n", "7:1:", "");
    expect_error(HEAD "seed: 1\n", "4:1:", "given twice");
    expect_error("- a\n- b\n", "1:1:", "must be a mapping");
    assert_int_equal(trove_tuned_config_load(testutil_tmp_path("missing.yaml"), &c, &err),
                     TROVE_ENOTFOUND);
}

static void test_yaml_alloc_failures(void **state)
{
    const char *path = testutil_tmp_path("fault.yaml");
    trove_tuned_config *c = sample_config(), *d = NULL;
    int ok = 0;
    (void)state;
    assert_int_equal(trove_tuned_config_save(c, path, NULL), TROVE_OK);
    trove_tuned_config_free(c);
    for (long k = 0; k < 10 && !ok; k++) {
        int rc;
        testutil_fail_alloc_after(k);
        rc = trove_tuned_config_load(path, &d, NULL);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            ok = 1;
            trove_tuned_config_free(d);
            d = NULL;
        } else {
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(d);
        }
    }
    assert_true(ok);
}

static void test_tune_alloc_failures(void **state)
{
    const char *fams[] = {"ease", "rp3beta", "blend", NULL};
    trove_tune_params p = trove_tune_default_params();
    trove_dataset *ds = load_train();
    int ok = 0;
    (void)state;
    p.families = fams;
    p.max_trials = 1;
    /* failure points spread over the whole run (split, fits, scoring) */
    for (long k = 0; k < 10000000 && !ok; k += 1 + k / 6) {
        trove_tune_result *r = NULL;
        int rc;
        testutil_fail_alloc_after(k);
        rc = trove_tune_run(ds, &p, &r, NULL);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            ok = 1;
            trove_tune_result_free(r);
        } else {
            assert_null(r);
        }
    }
    assert_true(ok);
    trove_dataset_free(ds);
}

/* rp3beta and blend through the recommender interface: fit, scores, file. */
static void test_new_families(void **state)
{
    const char *path = testutil_tmp_path("blend.trove");
    trove_reco_params p = trove_reco_default_params();
    trove_recommender *rp3 = NULL, *bl = NULL, *back = NULL;
    trove_dataset *ds = load_train();
    trove_error err;
    uint32_t n = trove_dataset_n_items(ds);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    (void)state;
    trove_error_clear(&err);
    assert_int_equal(trove_reco_params_set(&p, "beta=0.3", NULL), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&p, "neighbours=5", NULL), TROVE_OK);
    assert_int_equal(trove_recommender_fit("rp3beta", &p, ds, &rp3, &err), TROVE_OK);
    assert_int_equal(trove_recommender_score_user(rp3, 0, a, &err), TROVE_OK);
    {
        /* at most 5 neighbours per item: scores positive on few items */
        uint32_t pos = 0;
        for (uint32_t i = 0; i < n; i++)
            pos += a[i] > 0.0f;
        assert_true(pos > 0 && pos < n);
    }
    p = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&p, "beta=2", NULL), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&p, "normalize=0.5", NULL), TROVE_OK);
    assert_int_equal(trove_recommender_fit("rp3beta", &p, ds, &bl, &err), TROVE_EINVAL);

    p = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&p, "member1=ease 1 lambda=20", NULL), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&p, "member2=rp3beta 0.5 beta=0.3", NULL),
                     TROVE_OK);
    assert_int_equal(trove_recommender_fit("blend", &p, ds, &bl, &err), TROVE_OK);
    assert_int_equal(trove_recommender_save(bl, path, &err), TROVE_OK);
    assert_int_equal(trove_recommender_load(path, &back, &err), TROVE_OK);
    assert_string_equal(trove_recommender_family(back), "blend");
    for (uint32_t u = 0; u < trove_dataset_n_users(ds); u += 7) {
        assert_int_equal(trove_recommender_score_user(bl, u, a, &err), TROVE_OK);
        assert_int_equal(trove_recommender_score_user(back, u, b, &err), TROVE_OK);
        assert_memory_equal(a, b, n * sizeof *a);
    }
    trove_recommender_free(bl);
    trove_recommender_free(back);
    bl = NULL;
    back = NULL;

    /* bad members */
    p = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&p, "member1=blend 1", NULL), TROVE_OK);
    assert_int_equal(trove_recommender_fit("blend", &p, ds, &bl, &err), TROVE_EINVAL);
    p = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&p, "member1=ease -1", NULL), TROVE_OK);
    assert_int_equal(trove_recommender_fit("blend", &p, ds, &bl, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "weight"));
    p = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&p, "member1=ease 1 lambdaa=3", NULL), TROVE_OK);
    assert_int_equal(trove_recommender_fit("blend", &p, ds, &bl, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "member1"));
    assert_int_equal(trove_recommender_fit("blend", NULL, ds, &bl, &err), TROVE_EINVAL);
    assert_null(bl);

    /* a damaged blend file is an error, not a crash */
    {
        FILE *f = fopen(path, "r+b");
        long size;
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        size = ftell(f);
        assert_int_equal(ftruncate(fileno(f), size / 2), 0);
        fclose(f);
        assert_true(trove_recommender_load(path, &back, &err) < 0);
        assert_null(back);
    }
    trove_recommender_free(rp3);

    /* edlae: dropout 0 is EASE with the same lambda (same closed form) */
    {
        trove_recommender *ed = NULL, *ea = NULL;
        p = trove_reco_default_params();
        assert_int_equal(trove_reco_params_set(&p, "lambda=30", NULL), TROVE_OK);
        assert_int_equal(trove_recommender_fit("ease", &p, ds, &ea, &err), TROVE_OK);
        assert_int_equal(trove_reco_params_set(&p, "dropout=0", NULL), TROVE_OK);
        assert_int_equal(trove_recommender_fit("edlae", &p, ds, &ed, &err), TROVE_OK);
        for (uint32_t u = 0; u < trove_dataset_n_users(ds); u += 5) {
            assert_int_equal(trove_recommender_score_user(ea, u, a, &err), TROVE_OK);
            assert_int_equal(trove_recommender_score_user(ed, u, b, &err), TROVE_OK);
            for (uint32_t i = 0; i < n; i++)
                assert_true(fabsf(a[i] - b[i]) <= 1e-3f * (1.0f + fabsf(a[i])));
        }
        trove_recommender_free(ed);
        ed = NULL;
        assert_int_equal(trove_reco_params_set(&p, "dropout=0.99", NULL), TROVE_OK);
        assert_int_equal(trove_recommender_fit("edlae", &p, ds, &ed, &err), TROVE_EINVAL);
        assert_int_equal(trove_reco_params_set(&p, "dropout=0.4", NULL), TROVE_OK);
        assert_int_equal(trove_reco_params_set(&p, "max_items=10", NULL), TROVE_OK);
        assert_int_equal(trove_recommender_fit("edlae", &p, ds, &ed, &err), TROVE_ERANGE);
        assert_null(ed);
        trove_recommender_free(ea);
    }
    trove_dataset_free(ds);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_search_leaderboard),
        cmocka_unit_test(test_bad_params_and_budget),
        cmocka_unit_test(test_failed_trials),
        cmocka_unit_test(test_budget_stops_search),
        cmocka_unit_test(test_yaml_round_trip),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_yaml_alloc_failures),
        cmocka_unit_test(test_tune_alloc_failures),
        cmocka_unit_test(test_new_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
