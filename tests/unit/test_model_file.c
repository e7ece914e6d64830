/*
 * test_model_file.c - the model file: save/load round trip (scores, ids,
 * features, optimiser state), inspect, and clean errors for truncated,
 * corrupted and newer-version files and for failed allocations on load;
 * row-wise adagrad's per-row state; and files of an earlier release
 * (tests/fixtures/model) still loading, scoring and re-saving unchanged.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static trove_model *trained_with(int schedule)
{
    /* 6 users x 8 items, 2 item features, ids attached. */
    static uint64_t indptr[7] = {0, 2, 4, 6, 7, 9, 10};
    static uint32_t idx[10] = {0, 3, 1, 2, 4, 5, 6, 0, 7, 2};
    static uint64_t fptr[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    static uint32_t fidx[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    static float fval[8] = {1, 1, 0.5f, 0.5f, 1, 1, 2, 2};
    trove_csr x = {6, 8, 10, indptr, idx, NULL};
    trove_csr itf = {8, 2, 8, fptr, fidx, fval};
    trove_model_params p = trove_model_default_params();
    trove_model *m = NULL;
    trove_idmap *users = trove_idmap_new(), *items = trove_idmap_new(), *fn = trove_idmap_new();
    char buf[32];
    uint32_t k;
    trove_error err;

    p.loss = TROVE_LOSS_WARP;
    p.no_components = 7;
    p.seed = 5;
    p.learning_schedule = schedule;
    assert_int_equal(trove_model_new(&p, 0, 2, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &x, NULL, &itf, 3, &err), TROVE_OK);
    for (int i = 0; i < 6; i++) {
        snprintf(buf, sizeof buf, "user-%d", 100 + i);
        assert_int_equal(trove_idmap_intern(users, buf, strlen(buf), &k, NULL), TROVE_OK);
    }
    for (int i = 0; i < 8; i++) {
        snprintf(buf, sizeof buf, "sku%d", i);
        assert_int_equal(trove_idmap_intern(items, buf, strlen(buf), &k, NULL), TROVE_OK);
    }
    assert_int_equal(trove_idmap_intern(fn, "genre:a", 7, &k, NULL), TROVE_OK);
    assert_int_equal(trove_idmap_intern(fn, "genre:b", 7, &k, NULL), TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, users, NULL, NULL, NULL, &err), TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, NULL, items, NULL, fn, &err), TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, items, NULL, NULL, NULL, &err), TROVE_EINVAL);
    trove_idmap_free(users);
    trove_idmap_free(items);
    trove_idmap_free(fn);
    return m;
}

static trove_model *trained(void)
{
    return trained_with(TROVE_SCHEDULE_ADAGRAD);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

static void test_round_trip(void **state)
{
    trove_model *m = trained(), *l = NULL;
    const char *path = testutil_tmp_path("rt.trove");
    trove_model_info info;
    trove_error err;
    float a[8], b[8];
    (void)state;
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    assert_int_equal(trove_model_load(path, &l, &err), TROVE_OK);
    assert_int_equal(trove_model_n_users(l), 6);
    assert_int_equal(trove_model_n_items(l), 8);
    assert_int_equal(trove_model_n_item_features(l), 2);
    assert_int_equal(trove_model_dim(l), 7);
    assert_int_equal(trove_model_params_of(l)->loss, TROVE_LOSS_WARP);
    assert_int_equal(trove_model_epochs_trained(l), 3);
    assert_true(trove_model_data_fingerprint(l) == trove_model_data_fingerprint(m));
    assert_true(trove_model_data_fingerprint(l) != 0);
    for (uint32_t u = 0; u < 6; u++) {
        assert_int_equal(trove_model_score_user(m, u, a, &err), TROVE_OK);
        assert_int_equal(trove_model_score_user(l, u, b, &err), TROVE_OK);
        assert_memory_equal(a, b, sizeof a);
    }
    assert_int_equal(trove_idmap_find(trove_model_user_ids(l), "user-103", 8), 3);
    assert_string_equal(trove_idmap_name(trove_model_item_ids(l), 7, NULL), "sku7");
    assert_string_equal(trove_idmap_name(trove_model_item_feature_names(l), 1, NULL),
                        "genre:b");
    assert_null(trove_model_user_feature_names(l));

    assert_int_equal(trove_model_inspect(path, &info, &err), TROVE_OK);
    assert_int_equal(info.format_version, TROVE_MODEL_FORMAT_VERSION);
    assert_int_equal(info.dim, 7);
    assert_int_equal(info.n_items, 8);
    assert_int_equal(info.n_item_features, 2);
    assert_int_equal(info.params.loss, TROVE_LOSS_WARP);
    assert_true(info.checksum_ok);
    assert_true(info.has_ids);
    assert_int_equal(info.epochs_trained, 3);
    /* the in-memory form is the file, byte for byte */
    {
        unsigned char *bytes = NULL, *file = NULL;
        size_t len = 0;
        FILE *f = fopen(path, "rb");
        trove_model *x = NULL;
        assert_non_null(f);
        assert_int_equal(trove_model_save_buffer(m, &bytes, &len, &err), TROVE_OK);
        file = malloc(len + 1);
        assert_non_null(file);
        assert_int_equal(fread(file, 1, len + 1, f), len);
        fclose(f);
        assert_memory_equal(bytes, file, len);
        free(file);
        assert_int_equal(trove_model_load_buffer(bytes, len, "buf", &x, &err), TROVE_OK);
        assert_int_equal(trove_model_n_items(x), 8);
        trove_model_free(x);
        assert_int_equal(trove_model_load_buffer(bytes, len - 1, "buf", &x, &err),
                         TROVE_ECORRUPT);
        assert_non_null(strstr(err.msg, "buf"));
        assert_int_equal(trove_model_load_buffer(bytes, 10, "buf", &x, &err), TROVE_ECORRUPT);
        trove_free(bytes);
    }
    /* saving over an existing file replaces it atomically */
    assert_int_equal(trove_model_save(l, path, &err), TROVE_OK);
    assert_int_equal(trove_model_save(l, "/nonexistent-dir/x.trove", &err), TROVE_EIO);
    /* A grown model drops the id maps of the old shape and still round-trips. */
    assert_int_equal(trove_model_grow(l, 7, 9, 0, 2, NULL, NULL, &err), TROVE_OK);
    assert_null(trove_model_user_ids(l));
    assert_non_null(trove_model_item_feature_names(l));
    assert_int_equal(trove_model_save(l, path, &err), TROVE_OK);
    trove_model_free(l);
    l = NULL;
    assert_int_equal(trove_model_load(path, &l, &err), TROVE_OK);
    assert_int_equal(trove_model_n_items(l), 9);
    trove_model_free(m);
    trove_model_free(l);
}

static void check_bad_files(int schedule)
{
    trove_model *m = trained_with(schedule), *l = NULL;
    const char *path = testutil_tmp_path("good.trove"), *bad = testutil_tmp_path("bad.trove");
    trove_model_info info;
    trove_error err;
    size_t len;
    unsigned char *b;
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    b = slurp(path, &len);

    /* Truncated at every length from 0 to the full size minus one. */
    for (size_t cut = 0; cut < len; cut += (cut < 300 ? 1 : 37)) {
        spit(bad, b, cut);
        int rc = trove_model_load(bad, &l, &err);
        assert_null(l);
        if (rc != TROVE_ECORRUPT && rc != TROVE_EFORMAT) {
            print_error("cut %zu: %s (%s)\n", cut, trove_status_name(rc), err.msg);
            fail();
        }
    }
    spit(bad, b, 100);
    assert_int_equal(trove_model_load(bad, &l, &err), TROVE_ECORRUPT);
    assert_non_null(strstr(err.msg, "truncated"));

    /* One flipped bit anywhere: header or payload. */
    for (size_t at = 0; at < len; at += (at < 256 ? 1 : 53)) {
        b[at] ^= 0x10;
        spit(bad, b, len);
        b[at] ^= 0x10;
        int rc = trove_model_load(bad, &l, &err);
        assert_null(l);
        if (rc != TROVE_ECORRUPT && rc != TROVE_EFORMAT && rc != TROVE_EVERSION) {
            print_error("flip at %zu: %s\n", at, trove_status_name(rc));
            fail();
        }
    }
    b[300] ^= 1;
    spit(bad, b, len);
    b[300] ^= 1;
    assert_int_equal(trove_model_load(bad, &l, &err), TROVE_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    /* inspect still reads a damaged payload's header */
    assert_int_equal(trove_model_inspect(bad, &info, &err), TROVE_OK);
    assert_false(info.checksum_ok);

    /* A newer format version is refused as such. */
    b[8] = TROVE_MODEL_FORMAT_VERSION + 1;
    spit(bad, b, len);
    b[8] = TROVE_MODEL_FORMAT_VERSION;
    assert_int_equal(trove_model_load(bad, &l, &err), TROVE_EVERSION);
    assert_non_null(strstr(err.msg, "newer"));
    assert_int_equal(trove_model_inspect(bad, &info, &err), TROVE_EVERSION);

    /* Not a model file at all; a missing file. */
    spit(bad, (const unsigned char *)"user\titem\n1\t2\n", 14);
    assert_int_equal(trove_model_load(bad, &l, &err), TROVE_EFORMAT);
    memset(b, 'x', 300);
    spit(bad, b, 300);
    assert_int_equal(trove_model_load(bad, &l, &err), TROVE_EFORMAT);
    assert_int_equal(trove_model_load(testutil_tmp_path("missing.trove"), &l, &err), TROVE_EIO);
    free(b);
    trove_model_free(m);
}

static void test_bad_files(void **state)
{
    (void)state;
    check_bad_files(TROVE_SCHEDULE_ADAGRAD);
    check_bad_files(TROVE_SCHEDULE_ADAGRAD_ROWWISE);
}

/* A row-wise model stores one accumulator per row (after the biases):
 * the round trip keeps it, the table is rows x (dp + 3) floats, and a row
 * accumulator that is not positive is refused even with valid checksums. */
static void test_rowwise_file(void **state)
{
    trove_model *m = trained_with(TROVE_SCHEDULE_ADAGRAD_ROWWISE), *l = NULL;
    trove_model *a = trained_with(TROVE_SCHEDULE_ADAGRAD);
    unsigned char *bytes = NULL, *again = NULL, *ab = NULL;
    size_t len = 0, len2 = 0, alen = 0, at;
    uint64_t sec_len, sum;
    uint32_t users = trove_model_n_users(m), dp = 16, tag;
    float v = -1.0f;
    trove_model_info info;
    trove_error err;
    (void)state;
    assert_int_equal(trove_model_save_buffer(m, &bytes, &len, &err), TROVE_OK);
    assert_int_equal(trove_model_save_buffer(a, &ab, &alen, &err), TROVE_OK);
    /* the same model with per-coordinate state is larger by exactly
     * (dp - 1) floats per row of the four tables (6 + 0 + 8 + 2 rows) */
    assert_int_equal(alen - len, (size_t)(6 + 8 + 2) * (dp - 1) * sizeof(float));
    memcpy(&tag, bytes + 256, 4);
    memcpy(&sec_len, bytes + 264, 8);
    assert_int_equal(tag, 1);
    assert_int_equal(sec_len, (uint64_t)users * (dp + 3) * sizeof(float));
    assert_int_equal(trove_model_load_buffer(bytes, len, "rw", &l, &err), TROVE_OK);
    assert_int_equal(trove_model_params_of(l)->learning_schedule,
                     TROVE_SCHEDULE_ADAGRAD_ROWWISE);
    assert_int_equal(trove_model_save_buffer(l, &again, &len2, &err), TROVE_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(bytes, again, len);
    trove_model_free(l);
    l = NULL;

    /* user 0's row accumulator, re-checksummed: a valid file but a bad value */
    at = 256 + 16 + (size_t)users * (dp + 1) * sizeof(float);
    memcpy(bytes + at, &v, sizeof v);
    sum = trove_hash64(bytes + 256, len - 256, 0);
    memcpy(bytes + 24, &sum, 8);
    sum = trove_hash64(bytes, 248, 0);
    memcpy(bytes + 248, &sum, 8);
    assert_int_equal(trove_model_load_buffer(bytes, len, "rw", &l, &err), TROVE_ECORRUPT);
    assert_null(l);
    assert_non_null(strstr(err.msg, "user identity table"));
    spit(testutil_tmp_path("rw.trove"), bytes, len);
    assert_int_equal(trove_model_inspect(testutil_tmp_path("rw.trove"), &info, &err), TROVE_OK);
    assert_int_equal(info.format_version, 1);
    assert_int_equal(info.params.learning_schedule, TROVE_SCHEDULE_ADAGRAD_ROWWISE);
    trove_free(bytes);
    trove_free(again);
    trove_free(ab);
    trove_model_free(m);
    trove_model_free(a);
}

/* Files written before the row-wise schedule existed (format version 1,
 * adagrad with two item features over 28 items and BPR adadelta over the
 * 12 items with interactions; fixtures written by that release's `trove
 * train` on 40 users' pairs) load, score as they did then (top 5 of user
 * u3) and re-save byte for byte. */
static void check_old_file(const char *name, int schedule, uint32_t n_items,
                           const char *const *top, const float *top_score)
{
    const char *path = testutil_fixture(name);
    trove_model *m = NULL;
    trove_model_info info;
    trove_error err;
    uint32_t items[5], n = 0;
    int64_t user;
    float scores[5];
    unsigned char *bytes = NULL, *file;
    size_t len = 0, flen;
    assert_int_equal(trove_model_inspect(path, &info, &err), TROVE_OK);
    assert_int_equal(info.format_version, 1);
    assert_true(info.checksum_ok);
    assert_int_equal(info.params.learning_schedule, schedule);
    if (trove_model_load(path, &m, &err) != TROVE_OK) {
        print_error("%s: %s\n", name, err.msg);
        fail();
    }
    assert_int_equal(trove_model_dim(m), 4);
    assert_int_equal(trove_model_n_users(m), 40);
    assert_int_equal(trove_model_n_items(m), n_items);
    user = trove_idmap_find(trove_model_user_ids(m), "u3", 2);
    assert_true(user >= 0);
    assert_int_equal(trove_model_recommend(m, (uint32_t)user, 5, NULL, 0, NULL, items, scores, &n, NULL,
                                           &err), TROVE_OK);
    assert_int_equal(n, 5);
    for (int k = 0; k < 5; k++) {
        assert_string_equal(trove_idmap_name(trove_model_item_ids(m), items[k], NULL), top[k]);
        assert_float_equal(scores[k], top_score[k], 1e-4);
    }
    file = slurp(path, &flen);
    assert_int_equal(trove_model_save_buffer(m, &bytes, &len, &err), TROVE_OK);
    assert_int_equal(len, flen);
    assert_memory_equal(bytes, file, len);
    free(file);
    trove_free(bytes);
    trove_model_free(m);
}

static void test_old_files(void **state)
{
    static const char *const ag[5] = {"i27", "i16", "i19", "i21", "i24"};
    static const float ags[5] = {1.15926f, 1.13263f, 1.13191f, 1.12614f, 1.10661f};
    static const char *const ad[5] = {"i27", "i19", "i24", "i22", "i16"};
    static const float ads[5] = {0.0690111f, 0.0646528f, 0.0636163f, 0.0580179f, 0.0496675f};
    (void)state;
    check_old_file("model/v1_adagrad.trove", TROVE_SCHEDULE_ADAGRAD, 28, ag, ags);
    check_old_file("model/v1_adadelta.trove", TROVE_SCHEDULE_ADADELTA, 12, ad, ads);
}

static void test_alloc_failures(void **state)
{
    trove_model *m = trained(), *l = NULL;
    const char *path = testutil_tmp_path("oom.trove");
    trove_error err;
    int ok = 0;
    (void)state;
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    for (long k = 0; k < 500 && !ok; k++) {
        testutil_fail_alloc_after(k);
        int rc = trove_model_load(path, &l, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            ok = 1;
            trove_model_free(l);
        } else {
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(l);
        }
    }
    assert_true(ok);
    ok = 0;
    for (long k = 0; k < 100 && !ok; k++) {
        testutil_fail_alloc_after(k);
        int rc = trove_model_save(m, path, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK)
            ok = 1;
        else
            assert_int_equal(rc, TROVE_ENOMEM);
    }
    assert_true(ok);
    trove_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_rowwise_file),
        cmocka_unit_test(test_old_files),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
