/*
 * test_model_factors.c - hybrid models built from the factors of a plain
 * matrix factorisation (trove_model_from_factors) and iALS models leaving
 * their recommender (trove_recommender_take_ials / _take_model): scores
 * equal <x_u, y_i>, top-k lists equal iALS's own, bad arguments, out of
 * memory without leaks, save and load, continued training, reading a
 * file's family from its header (trove_recommender_file_family) and
 * loading a file as a hybrid model with its ids
 * (trove_recommender_load_model).
 */
#include "testutil.h"
#include "trove/ials.h"
#include "trove/model.h"
#include "trove/recommender.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIM 13     /* not a multiple of 16: the padding must stay zero */
#define LD 16
#define NU 40
#define NI 57

static float user_f[NU * LD], item_f[NI * LD];

/* Factors in [-1, 1) with the padding columns set to a marker that must
 * never reach a score. */
static void fill_factors(uint64_t seed)
{
    trove_rng r;
    trove_rng_seed(&r, seed);
    for (size_t k = 0; k < (size_t)NU * LD; k++)
        user_f[k] = k % LD < DIM ? 2.0f * trove_rng_uniformf(&r) - 1.0f : 1e6f;
    for (size_t k = 0; k < (size_t)NI * LD; k++)
        item_f[k] = k % LD < DIM ? 2.0f * trove_rng_uniformf(&r) - 1.0f : -1e6f;
}

static trove_model_factors factors(void)
{
    trove_model_factors f;
    memset(&f, 0, sizeof f);
    f.dim = DIM;
    f.n_users = NU;
    f.n_items = NI;
    f.user_f = user_f;
    f.item_f = item_f;
    f.user_stride = LD;
    f.item_stride = LD;
    return f;
}

static double dot(uint32_t u, uint32_t i)
{
    double s = 0.0;
    for (uint32_t j = 0; j < DIM; j++)
        s += (double)user_f[u * LD + j] * (double)item_f[i * LD + j];
    return s;
}

/* Every score (all-item, pair, representation) is the dot product. */
static void check_scores(const trove_model *m)
{
    float s[NI], emb[DIM], bias;
    trove_error err;
    for (uint32_t u = 0; u < NU; u++) {
        assert_int_equal(trove_model_score_user(m, u, s, &err), TROVE_OK);
        for (uint32_t i = 0; i < NI; i++) {
            float p;
            if (fabs((double)s[i] - dot(u, i)) > 1e-6 * (1.0 + fabs(dot(u, i))))
                fail_msg("score(%u, %u) = %.9g, <x_u, y_i> = %.9g", u, i, (double)s[i],
                         dot(u, i));
            assert_int_equal(trove_model_predict(m, &u, &i, 1, &p, &err), TROVE_OK);
            assert_true(fabs((double)p - dot(u, i)) <= 1e-6 * (1.0 + fabs(dot(u, i))));
        }
        assert_int_equal(trove_model_user_repr(m, u, emb, &bias, &err), TROVE_OK);
        assert_memory_equal(emb, user_f + u * LD, sizeof emb);
        assert_true(bias == 0.0f);
    }
    for (uint32_t i = 0; i < NI; i++) {
        assert_int_equal(trove_model_item_repr(m, i, emb, &bias, &err), TROVE_OK);
        assert_memory_equal(emb, item_f + i * LD, sizeof emb);
        assert_true(bias == 0.0f);
    }
}

static void test_scores_are_dot_products(void **state)
{
    trove_model_factors f;
    trove_model *m = NULL;
    trove_error err;
    (void)state;
    fill_factors(1);
    f = factors();
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_n_users(m), NU);
    assert_int_equal(trove_model_n_items(m), NI);
    assert_int_equal(trove_model_dim(m), DIM);
    assert_int_equal(trove_model_n_user_features(m), 0);
    assert_int_equal(trove_model_n_item_features(m), 0);
    assert_null(trove_model_user_ids(m));
    assert_null(trove_model_item_ids(m));
    assert_int_equal(trove_model_epochs_trained(m), 0);
    assert_int_equal(trove_model_params_of(m)->no_components, DIM);
    assert_int_equal(trove_model_item_count(m, 0), 0);
    check_scores(m);
    /* an unknown user has no features to be scored from */
    {
        float s[NI];
        uint32_t feat = 0;
        assert_int_equal(trove_model_score_features(m, &feat, NULL, 1, s, &err),
                         TROVE_EINVAL);
    }
    trove_model_free(m);

    /* packed rows (stride 0 = dim) give the same model */
    {
        float pu[NU * DIM], pi[NI * DIM];
        for (uint32_t u = 0; u < NU; u++)
            memcpy(pu + u * DIM, user_f + u * LD, DIM * sizeof(float));
        for (uint32_t i = 0; i < NI; i++)
            memcpy(pi + i * DIM, item_f + i * LD, DIM * sizeof(float));
        f.user_f = pu;
        f.item_f = pi;
        f.user_stride = f.item_stride = 0;
        assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_OK);
        check_scores(m);
        trove_model_free(m);
    }
}

static void test_item_counts_and_cold_mean(void **state)
{
    trove_model_factors f;
    trove_model *m = NULL;
    trove_error err;
    uint32_t counts[NI];
    float mean[DIM], bias = 1.0f;
    (void)state;
    fill_factors(2);
    f = factors();
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_item_repr_mean(m, mean, &bias, &err), TROVE_EEMPTY);
    trove_model_free(m);
    for (uint32_t i = 0; i < NI; i++)
        counts[i] = i < 2 ? 3u + i : 0u;
    f.item_counts = counts;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_item_count(m, 0), 3);
    assert_int_equal(trove_model_item_count(m, 1), 4);
    assert_int_equal(trove_model_item_count(m, 2), 0);
    assert_int_equal(trove_model_item_repr_mean(m, mean, &bias, &err), TROVE_OK);
    for (uint32_t j = 0; j < DIM; j++)
        assert_true(fabsf(mean[j] - 0.5f * (item_f[j] + item_f[LD + j])) < 1e-6f);
    assert_true(bias == 0.0f);
    trove_model_free(m);
}

static void test_bad_arguments(void **state)
{
    trove_model_factors f;
    trove_model_params p;
    trove_model *m = NULL;
    trove_error err;
    (void)state;
    fill_factors(3);
    f = factors();
    assert_int_equal(trove_model_from_factors(NULL, &m, &err), TROVE_EINVAL);
    assert_int_equal(trove_model_from_factors(&f, NULL, &err), TROVE_EINVAL);
#define BAD(field, value, text)                                                    \
    do {                                                                           \
        f = factors();                                                             \
        f.field = value;                                                           \
        assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_EINVAL);    \
        assert_non_null(strstr(err.msg, text));                                    \
        assert_null(m);                                                            \
    } while (0)
    BAD(user_f, NULL, "missing argument");
    BAD(item_f, NULL, "missing argument");
    BAD(dim, 0, "dim must be in 1..4096");
    BAD(dim, 4097, "dim must be in 1..4096");
    BAD(n_users, 0, "both must be >= 1");
    BAD(n_items, 0, "both must be >= 1");
    BAD(user_stride, DIM - 1, "strides");
    BAD(item_stride, 1, "strides");
#undef BAD
    f = factors();
    user_f[7 * LD + 3] = NAN;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "user 7"));
    user_f[7 * LD + 3] = 0.0f;
    item_f[(NI - 1) * LD + DIM - 1] = INFINITY;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "item 56"));
    item_f[(NI - 1) * LD + DIM - 1] = 0.0f;
    /* a non-finite value in the padding is never read */
    user_f[LD - 1] = NAN;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_OK);
    trove_model_free(m);
    m = NULL;

    p = trove_model_default_params();
    f.params = &p;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "no_components"));
    p.no_components = DIM;
    p.item_identity = 0;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "identity"));
    p.item_identity = 1;
    p.learning_rate = -1.0f;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "learning_rate"));
    assert_null(m);
}

static void test_out_of_memory(void **state)
{
    trove_model_factors f;
    trove_model *m = NULL;
    int ok_seen = 0, nomem_seen = 0;
    uint32_t counts[NI] = {1};
    (void)state;
    fill_factors(4);
    f = factors();
    f.item_counts = counts;
    for (long k = 0; k < 64 && !ok_seen; k++) {
        trove_error err;
        testutil_fail_alloc_after(k);
        int rc = trove_model_from_factors(&f, &m, &err);
        testutil_fail_alloc_after(-1);
        assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
        if (rc == TROVE_OK) {
            ok_seen = 1;
            check_scores(m);
            trove_model_free(m);
            m = NULL;
        } else {
            nomem_seen = 1;
            assert_null(m);
            assert_non_null(strstr(err.msg, "out of memory"));
        }
    }
    assert_true(ok_seen && nomem_seen);
}

/* A saved model loads with the same scores; fit_partial continues
 * training it as a hybrid model. */
static void test_save_load_and_continue(void **state)
{
    trove_model_factors f;
    trove_model_params p = trove_model_default_params();
    trove_model *m = NULL, *l = NULL;
    trove_error err;
    trove_csr x;
    uint32_t rows[NU * 3], cols[NU * 3];
    float before[NI], after[NI];
    const char *path = testutil_tmp_path("factors.trove");
    (void)state;
    fill_factors(5);
    f = factors();
    p.no_components = DIM;
    p.loss = TROVE_LOSS_WARP;
    f.params = &p;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_params_of(m)->loss, TROVE_LOSS_WARP);
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    assert_int_equal(trove_model_load(path, &l, &err), TROVE_OK);
    check_scores(l);
    trove_model_free(l);

    for (uint32_t k = 0; k < NU * 3; k++) {
        rows[k] = k / 3;
        cols[k] = (k * 7) % NI;
    }
    assert_int_equal(trove_csr_from_coo(NU, NI, rows, cols, NULL, NU * 3, 0, &x, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_score_user(m, 0, before, &err), TROVE_OK);
    assert_int_equal(trove_model_fit_partial(m, &x, NULL, NULL, 2, &err), TROVE_OK);
    assert_int_equal(trove_model_epochs_trained(m), 2);
    assert_int_equal(trove_model_score_user(m, 0, after, &err), TROVE_OK);
    int changed = 0;
    for (uint32_t i = 0; i < NI; i++) {
        assert_true(isfinite(after[i]));
        changed |= after[i] != before[i];
    }
    assert_true(changed);
    /* the shape is fixed: other shapes are refused */
    x.n_cols = NI - 1;
    assert_int_equal(trove_model_fit_partial(m, &x, NULL, NULL, 1, &err), TROVE_EINVAL);
    x.n_cols = NI;
    trove_csr_destroy(&x);
    trove_model_free(m);
}

/* ----------------------------------------------------- through iALS */
static trove_dataset *small_dataset(void)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    trove_dataset *ds = NULL;
    trove_error err;
    trove_rng r;
    char u[16], i[16];
    assert_non_null(b);
    trove_rng_seed(&r, 11);
    for (int k = 0; k < 30; k++) {
        snprintf(u, sizeof u, "u%d", k);
        for (int j = 0; j < 8; j++) {
            uint32_t x = trove_rng_below(&r, 45);
            if (j % 2 == 0)
                x = (x / 5) * 5 + (uint32_t)(k % 5);   /* a taste group */
            snprintf(i, sizeof i, "i%u", x);
            assert_int_equal(trove_dataset_builder_add(b, u, strlen(u), i, strlen(i), 1.0f,
                                                       0, &err), TROVE_OK);
        }
    }
    assert_int_equal(trove_dataset_builder_build(b, NULL, &ds, &err), TROVE_OK);
    trove_dataset_builder_free(b);
    return ds;
}

static trove_recommender *fit_ials(const trove_dataset *ds)
{
    trove_reco_params rp = trove_reco_default_params();
    trove_recommender *r = NULL;
    trove_error err;
    assert_int_equal(trove_reco_params_set(&rp, "factors=12", &err), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&rp, "regularization=0.5", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("ials", &rp, ds, &r, &err), TROVE_OK);
    return r;
}

/* top-k of the model equals iALS's own top-k: the same items, except
 * that two items whose iALS scores are within float rounding may swap. */
static void test_recommend_equals_ials(void **state)
{
    trove_dataset *ds = small_dataset();
    trove_recommender *r = fit_ials(ds);
    trove_ials *im = NULL;
    trove_model *m = NULL;
    trove_model_factors f;
    trove_error err;
    const float *uf, *itf;
    size_t stride;
    enum { K = 10 };
    (void)state;

    assert_int_equal(trove_recommender_take_ials(r, &im, &err), TROVE_OK);
    assert_int_equal(trove_recommender_take_ials(r, &im, &err), TROVE_EINVAL);
    trove_recommender_free(r);

    uint32_t nu = trove_ials_n_users(im), ni = trove_ials_n_items(im);
    trove_ials_factor_tables(im, &uf, &itf, &stride);
    trove_ials_factor_tables(im, NULL, NULL, NULL);
    assert_true(stride >= trove_ials_factors(im));
    assert_ptr_equal(uf, trove_ials_user_factors(im, 0));
    assert_ptr_equal(itf + stride, trove_ials_item_factors(im, 1));
    memset(&f, 0, sizeof f);
    f.dim = trove_ials_factors(im);
    f.n_users = nu;
    f.n_items = ni;
    f.user_f = uf;
    f.item_f = itf;
    f.user_stride = f.item_stride = stride;
    assert_int_equal(trove_model_from_factors(&f, &m, &err), TROVE_OK);

    uint32_t *want = malloc((size_t)nu * K * sizeof *want);
    float *want_s = malloc((size_t)nu * K * sizeof *want_s);
    float *s = malloc(ni * sizeof *s);
    assert_non_null(want);
    assert_non_null(want_s);
    assert_non_null(s);
    assert_int_equal(trove_ials_recommend_all(im, NULL, K, 1, want, want_s, &err), TROVE_OK);
    for (uint32_t u = 0; u < nu; u++) {
        uint32_t got[K], n = 0;
        float got_s[K];
        assert_int_equal(trove_ials_score_user(im, u, s, &err), TROVE_OK);
        assert_int_equal(trove_model_recommend(m, u, K, NULL, 0, NULL, got, got_s, &n, NULL,
                                               &err), TROVE_OK);
        assert_int_equal(n, K);
        for (uint32_t j = 0; j < K; j++) {
            /* the same item, or one with the same iALS score to rounding */
            if (got[j] != want[u * K + j] &&
                fabsf(s[got[j]] - want_s[u * K + j]) > 1e-5f)
                fail_msg("user %u rank %u: model item %u (%g), iALS item %u (%g)", u, j,
                         got[j], (double)s[got[j]], want[u * K + j],
                         (double)want_s[u * K + j]);
            assert_true(fabsf(got_s[j] - s[got[j]]) <= 1e-6f * (1.0f + fabsf(s[got[j]])));
        }
    }
    free(want);
    free(want_s);
    free(s);
    trove_model_free(m);
    trove_ials_free(im);
    trove_dataset_free(ds);
}

static void test_take_model(void **state)
{
    trove_dataset *ds = small_dataset();
    trove_recommender *r = fit_ials(ds), *e = NULL;
    trove_model *m = NULL;
    trove_ials *im = NULL;
    trove_error err;
    const trove_csr *x = trove_dataset_interactions(ds);
    uint32_t ni = trove_dataset_n_items(ds);
    float *want = malloc(ni * sizeof *want), *got = malloc(ni * sizeof *got);
    (void)state;
    assert_non_null(want);
    assert_non_null(got);

    assert_int_equal(trove_recommender_score_user(r, 3, want, &err), TROVE_OK);
    /* out of memory leaves the recommender as it was */
    {
        int ok = 0;
        for (long k = 0; k < 64 && !ok; k++) {
            testutil_fail_alloc_after(k);
            int rc = trove_recommender_take_model(r, &m, &err);
            testutil_fail_alloc_after(-1);
            assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
            ok = rc == TROVE_OK;
            if (!ok)
                assert_int_equal(trove_recommender_score_user(r, 3, got, &err), TROVE_OK);
        }
        assert_true(ok);
    }
    assert_int_equal(trove_model_score_user(m, 3, got, &err), TROVE_OK);
    for (uint32_t i = 0; i < ni; i++)
        assert_true(fabsf(got[i] - want[i]) <= 1e-6f * (1.0f + fabsf(want[i])));
    /* item counts: the training interactions of each item */
    for (uint32_t i = 0; i < ni; i++) {
        uint32_t c = 0;
        for (uint64_t k = 0; k < x->nnz; k++)
            c += x->indices[k] == i;
        assert_int_equal(trove_model_item_count(m, i), c);
    }
    assert_null(trove_model_item_ids(m));
    trove_model_free(m);
    m = NULL;
    assert_int_equal(trove_recommender_take_model(r, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "already taken"));
    trove_recommender_free(r);

    /* a family without a factor model */
    assert_int_equal(trove_recommender_fit("popularity", NULL, ds, &e, &err), TROVE_OK);
    assert_int_equal(trove_recommender_take_model(e, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "popularity"));
    assert_int_equal(trove_recommender_take_ials(e, &im, &err), TROVE_EINVAL);
    assert_null(m);
    assert_null(im);
    trove_recommender_free(e);
    assert_int_equal(trove_recommender_take_model(NULL, &m, &err), TROVE_EINVAL);

    const char *with[] = {"warp", "bpr", "logistic", "warp-kos", "ials"};
    const char *without[] = {"ease", "itemknn", "rp3beta", "edlae", "blend", "content",
                             "personal-popularity", "popularity", "popularity-rating",
                             "popularity-market", "random", "hybrid", ""};
    for (size_t k = 0; k < sizeof with / sizeof *with; k++)
        assert_int_equal(trove_recommender_family_has_model(with[k]), 1);
    for (size_t k = 0; k < sizeof without / sizeof *without; k++)
        assert_int_equal(trove_recommender_family_has_model(without[k]), 0);
    assert_int_equal(trove_recommender_family_has_model(NULL), 0);
    free(want);
    free(got);
    trove_dataset_free(ds);
}

static void test_file_family(void **state)
{
    trove_dataset *ds = small_dataset();
    trove_recommender *r = fit_ials(ds), *w = NULL;
    trove_model *m = NULL;
    trove_error err;
    char name[32], tiny[4];
    const char *reco = testutil_tmp_path("ials.reco");
    const char *mdl = testutil_tmp_path("warp.trove");
    const char *junk = testutil_tmp_path("junk");
    const char *cut = testutil_tmp_path("cut.trove");
    (void)state;
    assert_int_equal(trove_recommender_save(r, reco, &err), TROVE_OK);
    assert_int_equal(trove_recommender_file_family(reco, name, sizeof name, &err), TROVE_OK);
    assert_string_equal(name, "ials");
    assert_int_equal(trove_recommender_file_family(reco, tiny, sizeof tiny, &err),
                     TROVE_ERANGE);
    assert_int_equal(trove_recommender_file_family(reco, name, 0, &err), TROVE_EINVAL);

    trove_reco_params rp = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&rp, "epochs=1", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("bpr", &rp, ds, &w, &err), TROVE_OK);
    assert_int_equal(trove_recommender_take_model(w, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_save(m, mdl, &err), TROVE_OK);
    assert_int_equal(trove_recommender_file_family(mdl, name, sizeof name, &err), TROVE_OK);
    assert_string_equal(name, "bpr");

    /* a header cut short or damaged */
    {
        FILE *in = fopen(mdl, "rb"), *out = fopen(cut, "wb");
        unsigned char buf[256];
        assert_non_null(in);
        assert_non_null(out);
        assert_int_equal(fread(buf, 1, sizeof buf, in), sizeof buf);
        assert_int_equal(fwrite(buf, 1, 100, out), 100);
        fclose(out);
        assert_int_equal(trove_recommender_file_family(cut, name, sizeof name, &err),
                         TROVE_ECORRUPT);
        buf[56] ^= 1;
        out = fopen(cut, "wb");
        assert_non_null(out);
        assert_int_equal(fwrite(buf, 1, sizeof buf, out), sizeof buf);
        fclose(out);
        fclose(in);
        assert_int_equal(trove_recommender_file_family(cut, name, sizeof name, &err),
                         TROVE_ECORRUPT);
        assert_non_null(strstr(err.msg, "checksum"));
    }
    assert_int_equal(testutil_write_file(junk, "TROVRECO\x01"), 0);
    assert_int_equal(trove_recommender_file_family(junk, name, sizeof name, &err),
                     TROVE_ECORRUPT);
    assert_int_equal(testutil_write_file(junk, "ratings,not,a,model\n"), 0);
    assert_int_equal(trove_recommender_file_family(junk, name, sizeof name, &err),
                     TROVE_EFORMAT);
    assert_int_equal(trove_recommender_file_family(testutil_tmp_path("absent"), name,
                                                   sizeof name, &err), TROVE_EIO);
    assert_string_equal(name, "bpr");   /* untouched by the failures */

    trove_model_free(m);
    trove_recommender_free(w);
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

/* A file as a hybrid model with its ids: iALS with the id files beside
 * it, without them, with a wrong one; EASE refused before loading. */
static void test_load_model(void **state)
{
    trove_dataset *ds = small_dataset();
    trove_recommender *r = fit_ials(ds), *e = NULL;
    trove_model *m = NULL;
    trove_error err;
    char side[1200];
    const char *path = testutil_tmp_path("served.model");
    const char *ease = testutil_tmp_path("ease.model");
    uint32_t ni = trove_dataset_n_items(ds);
    float *want = malloc(ni * sizeof *want), *got = malloc(ni * sizeof *got);
    (void)state;
    assert_non_null(want);
    assert_non_null(got);
    assert_int_equal(trove_recommender_save(r, path, &err), TROVE_OK);

    /* no id files: a model without ids */
    assert_int_equal(trove_recommender_load_model(path, &m, &err), TROVE_OK);
    assert_null(trove_model_user_ids(m));
    assert_null(trove_model_item_ids(m));
    trove_model_free(m);
    m = NULL;

    snprintf(side, sizeof side, "%s.users", path);
    assert_int_equal(trove_idmap_write(trove_dataset_user_ids(ds), side, &err), TROVE_OK);
    snprintf(side, sizeof side, "%s.items", path);
    assert_int_equal(trove_idmap_write(trove_dataset_item_ids(ds), side, &err), TROVE_OK);
    assert_int_equal(trove_recommender_load_model(path, &m, &err), TROVE_OK);
    assert_non_null(trove_model_user_ids(m));
    assert_non_null(trove_model_item_ids(m));
    for (const char *u = "u0"; u != NULL; u = strcmp(u, "u0") == 0 ? "u17" : NULL) {
        int64_t row = trove_idmap_find(trove_model_user_ids(m), u, strlen(u));
        assert_int_equal(row, trove_idmap_find(trove_dataset_user_ids(ds), u, strlen(u)));
        assert_int_equal(trove_recommender_score_user(r, (uint32_t)row, want, &err),
                         TROVE_OK);
        assert_int_equal(trove_model_score_user(m, (uint32_t)row, got, &err), TROVE_OK);
        for (uint32_t i = 0; i < ni; i++)
            assert_true(fabsf(got[i] - want[i]) <= 1e-6f * (1.0f + fabsf(want[i])));
    }
    for (uint32_t i = 0; i < ni; i++)
        assert_string_equal(trove_idmap_name(trove_model_item_ids(m), i, NULL),
                            trove_idmap_name(trove_dataset_item_ids(ds), i, NULL));
    trove_model_free(m);
    m = NULL;

    /* an id file of another size */
    assert_int_equal(testutil_write_file(side, "0\ti0\n1\ti1\n"), 0);
    assert_int_equal(trove_recommender_load_model(path, &m, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "id files"));
    assert_null(m);

    /* EASE has no factor model: refused by name */
    assert_int_equal(trove_recommender_fit("ease", NULL, ds, &e, &err), TROVE_OK);
    assert_int_equal(trove_recommender_save(e, ease, &err), TROVE_OK);
    assert_int_equal(trove_recommender_load_model(ease, &m, &err), TROVE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "'ease'"));
    assert_null(m);
    assert_int_equal(trove_recommender_load_model(testutil_tmp_path("none"), &m, &err),
                     TROVE_EIO);
    assert_int_equal(trove_recommender_load_model(NULL, &m, &err), TROVE_EINVAL);

    /* out of memory: a clean error, nothing leaked */
    snprintf(side, sizeof side, "%s.items", path);
    assert_int_equal(trove_idmap_write(trove_dataset_item_ids(ds), side, &err), TROVE_OK);
    {
        int ok = 0;
        for (long k = 0; k < 400 && !ok; k++) {
            testutil_fail_alloc_after(k);
            int rc = trove_recommender_load_model(path, &m, &err);
            testutil_fail_alloc_after(-1);
            assert_true(rc == TROVE_OK || rc == TROVE_ENOMEM);
            ok = rc == TROVE_OK;
            assert_true(ok == (m != NULL));
        }
        assert_true(ok);
        assert_non_null(trove_model_item_ids(m));
        trove_model_free(m);
    }
    free(want);
    free(got);
    trove_recommender_free(e);
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scores_are_dot_products),
        cmocka_unit_test(test_item_counts_and_cold_mean),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_save_load_and_continue),
        cmocka_unit_test(test_recommend_equals_ials),
        cmocka_unit_test(test_take_model),
        cmocka_unit_test(test_file_family),
        cmocka_unit_test(test_load_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
