/*
 * test_model_cli.c - `trove train`, `trove recommend` and `trove inspect`
 * on a small generated pairs file: success paths, JSON output, fixed id
 * universes, the learning schedule flag and the hybrid families' schedule
 * setting, and clean failures (empty file, unknown ids, bad options,
 * corrupted model).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_pairs[512], g_users[512], g_items[512], g_feats[512], g_model[512];

static int setup(void **state)
{
    FILE *f;
    (void)state;
    snprintf(g_pairs, sizeof g_pairs, "%s", testutil_tmp_path("pairs.tsv"));
    snprintf(g_users, sizeof g_users, "%s", testutil_tmp_path("users.tsv"));
    snprintf(g_items, sizeof g_items, "%s", testutil_tmp_path("items.tsv"));
    snprintf(g_feats, sizeof g_feats, "%s", testutil_tmp_path("feats.tsv"));
    snprintf(g_model, sizeof g_model, "%s", testutil_tmp_path("m.trove"));
    /* 40 users u0..u39 in two taste groups over 30 items i0..i29; i29 is
     * in the universe but has no interaction. */
    f = fopen(g_pairs, "w");
    if (f == NULL)
        return -1;
    for (int u = 0; u < 40; u++)
        for (int k = 0; k < 6; k++)
            fprintf(f, "u%d\ti%d\n", u, (u % 2) * 14 + (u * 7 + k * 3) % 14);
    fclose(f);
    f = fopen(g_users, "w");
    for (int u = 0; u < 40; u++)
        fprintf(f, "%d\tu%d\n", u, u);
    fclose(f);
    f = fopen(g_items, "w");
    for (int i = 0; i < 30; i++)
        fprintf(f, "%d\ti%d\n", i, i);
    fclose(f);
    f = fopen(g_feats, "w");
    for (int i = 0; i < 30; i++)
        fprintf(f, "i%d\tgroup%d\n", i, i < 14 ? 0 : 1);
    fclose(f);
    return 0;
}

static void test_train_recommend_inspect(void **state)
{
    char *out = NULL;
    (void)state;
    int rc = testutil_run_trove(&out, "train --train %s --user-index %s --item-index %s "
                                      "--item-features %s --dim 8 --epochs 5 --threads 2 "
                                      "--seed 3 --cold-items mean --out %s",
                                g_pairs, g_users, g_items, g_feats, g_model);
    if (rc != 0)
        print_error("%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "epoch   5/5"));
    assert_non_null(strstr(out, "examples/s"));
    free(out);

    rc = testutil_run_trove(&out, "inspect %s", g_model);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "format version    1"));
    assert_non_null(strstr(out, "items             30"));
    assert_non_null(strstr(out, "item features     2"));
    assert_non_null(strstr(out, "checksum"));
    free(out);
    rc = testutil_run_trove(&out, "inspect --json %s", g_model);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"loss\":\"warp\""));
    assert_non_null(strstr(out, "\"checksum_ok\":true"));
    free(out);

    rc = testutil_run_trove(&out, "recommend --model %s --user u3 -n 5 --exclude %s --json",
                            g_model, g_pairs);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "{\"user\":\"u3\",\"items\":[{\"item\":\"i"));
    /* u3's own items are excluded */
    for (int k = 0; k < 6; k++) {
        char needle[32];
        snprintf(needle, sizeof needle, "\"i%d\"", 14 + (3 * 7 + k * 3) % 14);
        assert_null(strstr(out, needle));
    }
    free(out);
    rc = testutil_run_trove(&out, "recommend --model %s --user u3 -n 3", g_model);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "rank"));
    free(out);
}

/* --schedule adagrad-rowwise trains, is saved with the model and shows in
 * inspect; an unknown schedule is a usage error naming the valid ones. */
static void test_schedule_flag(void **state)
{
    char *out = NULL;
    const char *model = testutil_tmp_path("rowwise.trove");
    (void)state;
    int rc = testutil_run_trove(&out, "train --train %s --item-features %s --dim 8 "
                                      "--epochs 3 --schedule adagrad-rowwise --seed 2 --out %s -q",
                                g_pairs, g_feats, model);
    if (rc != 0)
        print_error("%s\n", out);
    assert_int_equal(rc, 0);
    free(out);
    rc = testutil_run_trove(&out, "inspect --json %s", model);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"schedule\":\"adagrad-rowwise\""));
    free(out);
    rc = testutil_run_trove(&out, "recommend --model %s --user u3 -n 3", model);
    assert_int_equal(rc, 0);
    free(out);
    rc = testutil_run_trove(&out, "train --train %s --schedule rowwise --out %s", g_pairs,
                            model);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "trove train: "));
    assert_non_null(strstr(out, "'rowwise'"));
    assert_non_null(strstr(out, "adagrad, adagrad-rowwise, adadelta"));
    free(out);
    rc = testutil_run_trove(&out, "train --help");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "adagrad-rowwise"));
    free(out);
}

/* The hybrid families' `schedule` setting: adagrad by default,
 * adagrad-rowwise on request (the fitted model carries it), and an unknown
 * value is refused naming the valid ones. */
static void test_family_schedule(void **state)
{
    trove_dataset *ds = NULL;
    trove_recommender *r = NULL;
    trove_model *m = NULL;
    trove_reco_params p = trove_reco_default_params();
    trove_error err;
    (void)state;
    assert_int_equal(trove_dataset_load_pairs(g_pairs, NULL, &ds, &err), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&p, "epochs=2", &err), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&p, "dim=8", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("warp", &p, ds, &r, &err), TROVE_OK);
    assert_int_equal(trove_recommender_take_hybrid(r, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_params_of(m)->learning_schedule, TROVE_SCHEDULE_ADAGRAD);
    trove_model_free(m);
    trove_recommender_free(r);
    m = NULL;
    r = NULL;
    assert_int_equal(trove_reco_params_set(&p, "schedule=adagrad-rowwise", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("warp", &p, ds, &r, &err), TROVE_OK);
    assert_int_equal(trove_recommender_take_hybrid(r, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_params_of(m)->learning_schedule,
                     TROVE_SCHEDULE_ADAGRAD_ROWWISE);
    assert_int_equal(trove_model_epochs_trained(m), 2);
    trove_model_free(m);
    trove_recommender_free(r);
    r = NULL;
    assert_int_equal(trove_reco_params_set(&p, "schedule=rowwise", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("bpr", &p, ds, &r, &err), TROVE_EINVAL);
    assert_null(r);
    assert_non_null(strstr(err.msg, "adagrad-rowwise"));
    trove_dataset_free(ds);
}

static void test_failures(void **state)
{
    char *out = NULL;
    const char *empty = testutil_tmp_path("empty.tsv"), *bad = testutil_tmp_path("bad.trove");
    (void)state;
    assert_int_equal(testutil_write_file(empty, ""), 0);
    int rc = testutil_run_trove(&out, "train --train %s --out %s -q", empty,
                                testutil_tmp_path("e.trove"));
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "trove train: "));
    free(out);

    /* an id missing from the fixed universe names the file and line */
    const char *stray = testutil_tmp_path("stray.tsv");
    assert_int_equal(testutil_write_file(stray, "u1\ti2\nu1\tnot-an-item\n"), 0);
    rc = testutil_run_trove(&out, "train --train %s --item-index %s --out %s -q", stray,
                            g_items, testutil_tmp_path("s.trove"));
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "stray.tsv:2"));
    free(out);

    rc = testutil_run_trove(&out, "train --train %s --dim 0 --out x", g_pairs);
    assert_int_equal(rc, 2);
    free(out);
    rc = testutil_run_trove(&out, "train --train %s --lr -1 --out x", g_pairs);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "learning_rate"));
    free(out);
    rc = testutil_run_trove(&out, "train --train %s --loss hinge --out x", g_pairs);
    assert_int_equal(rc, 2);
    free(out);
    rc = testutil_run_trove(&out, "train --train %s --thread-schedule fast --out x",
                            g_pairs);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--thread-schedule"));
    free(out);
    rc = testutil_run_trove(&out, "train --train %s --threads 2 --thread-schedule "
                            "hogwild --dim 4 --epochs 2 --out %s -q", g_pairs,
                            testutil_tmp_path("hogwild.trove"));
    assert_int_equal(rc, 0);
    free(out);
    rc = testutil_run_trove(&out, "train --out x");
    assert_int_equal(rc, 2);
    free(out);
    rc = testutil_run_trove(&out, "train --help");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--max-sampled"));
    free(out);

    rc = testutil_run_trove(&out, "recommend --model %s --user nobody", g_model);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "nobody"));
    free(out);
    rc = testutil_run_trove(&out, "recommend --user u1");
    assert_int_equal(rc, 2);
    free(out);

    assert_int_equal(testutil_write_file(bad, "TROVEMDL but truncated"), 0);
    rc = testutil_run_trove(&out, "inspect %s", bad);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "trove inspect: "));
    free(out);
    rc = testutil_run_trove(&out, "recommend --model %s --user u1", bad);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "truncated"));
    free(out);
    rc = testutil_run_trove(&out, "inspect");
    assert_int_equal(rc, 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_recommend_inspect),
        cmocka_unit_test(test_schedule_flag),
        cmocka_unit_test(test_family_schedule),
        cmocka_unit_test(test_failures),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
