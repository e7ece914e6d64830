/*
 * test_baselines.c - every baseline family on tiny datasets whose right
 * answer is known, the recommender file (round trip, corruption, truncation),
 * settings and bad input, and out-of-memory during fit and load.
 */
#include "testutil.h"
#include "trove/eval.h"
#include "trove/recommender.h"
#include "trove/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(trove_dataset_builder *b, const char *u, const char *i, float w)
{
    trove_error err;
    assert_int_equal(trove_dataset_builder_add(b, u, strlen(u), i, strlen(i), w, 0, &err),
                     TROVE_OK);
}

static void ufeat(trove_dataset_builder *b, const char *u, const char *f)
{
    trove_error err;
    assert_int_equal(trove_dataset_builder_add_user_feature(b, u, strlen(u), f, strlen(f),
                                                            1.0f, &err), TROVE_OK);
}

static void ifeat(trove_dataset_builder *b, const char *i, const char *f)
{
    trove_error err;
    assert_int_equal(trove_dataset_builder_add_item_feature(b, i, strlen(i), f, strlen(f),
                                                            1.0f, &err), TROVE_OK);
}

static trove_dataset *build(trove_dataset_builder *b)
{
    trove_dataset *ds = NULL;
    trove_error err;
    assert_int_equal(trove_dataset_builder_build(b, NULL, &ds, &err), TROVE_OK);
    trove_dataset_builder_free(b);
    return ds;
}

static uint32_t uid(const trove_dataset *ds, const char *u)
{
    int64_t x = trove_idmap_find(trove_dataset_user_ids(ds), u, strlen(u));
    assert_true(x >= 0);
    return (uint32_t)x;
}

static uint32_t iid(const trove_dataset *ds, const char *i)
{
    int64_t x = trove_idmap_find(trove_dataset_item_ids(ds), i, strlen(i));
    assert_true(x >= 0);
    return (uint32_t)x;
}

static uint32_t top1(const trove_recommender *r, uint32_t user)
{
    uint32_t items[1], n = 0;
    trove_error err;
    assert_int_equal(trove_recommender_recommend(r, user, 1, 1, items, NULL, &n, &err), TROVE_OK);
    assert_int_equal(n, 1);
    return items[0];
}

static trove_recommender *fit(const char *family, const trove_dataset *ds)
{
    trove_recommender *r = NULL;
    trove_error err;
    int rc = trove_recommender_fit(family, NULL, ds, &r, &err);
    if (rc != TROVE_OK)
        fail_msg("%s: %s", family, err.msg);
    assert_string_equal(trove_recommender_family(r), family);
    return r;
}

/* Ratings: "one" has a single 5; "many" ten ratings of 4 or 5 (mean 4.5);
 * "bad" three 1s. Users also hold filler items. */
static trove_dataset *ratings_dataset(void)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    char u[16];
    assert_non_null(b);
    add(b, "u0", "one", 5.0f);
    for (int k = 0; k < 10; k++) {
        snprintf(u, sizeof u, "u%d", k + 1);
        add(b, u, "many", k % 2 ? 4.0f : 5.0f);
        add(b, u, "filler", 3.0f);
    }
    for (int k = 0; k < 3; k++) {
        snprintf(u, sizeof u, "u%d", k + 1);
        add(b, u, "bad", 1.0f);
    }
    add(b, "new", "filler", 3.0f);
    return build(b);
}

static void test_popularity_and_rating(void **state)
{
    trove_dataset *ds = ratings_dataset();
    trove_recommender *pop = fit("popularity", ds), *rat = fit("popularity-rating", ds);
    float s[8];
    trove_error err;
    (void)state;
    uint32_t u = uid(ds, "new");
    /* count: many (10) first for a user who has only the filler */
    assert_int_equal(top1(pop, u), iid(ds, "many"));
    assert_int_equal(trove_recommender_score_user(pop, u, s, &err), TROVE_OK);
    assert_true(s[iid(ds, "many")] == 10.0f);
    assert_true(s[iid(ds, "bad")] == 3.0f);
    /* the naive mean ranks "one" (5.0) above "many" (4.5); the shrunk mean
     * does not */
    assert_int_equal(trove_recommender_score_user(rat, u, s, &err), TROVE_OK);
    assert_true(s[iid(ds, "many")] > s[iid(ds, "one")]);
    assert_true(s[iid(ds, "one")] > s[iid(ds, "bad")]);
    assert_int_equal(top1(rat, u), iid(ds, "many"));
    /* prior 0 is the plain mean: "one" wins */
    trove_reco_params p = trove_reco_default_params();
    trove_recommender *naive = NULL;
    assert_int_equal(trove_reco_params_set(&p, "prior=0", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("popularity-rating", &p, ds, &naive, &err), TROVE_OK);
    assert_int_equal(top1(naive, u), iid(ds, "one"));
    trove_recommender_free(naive);
    trove_recommender_free(pop);
    trove_recommender_free(rat);
    trove_dataset_free(ds);
}

/* Co-consumption: every user with A also has B; C is more popular overall
 * but never with A. */
static void test_itemknn(void **state)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    char u[16];
    (void)state;
    for (int k = 0; k < 4; k++) {
        snprintf(u, sizeof u, "ab%d", k);
        add(b, u, "A", 1);
        add(b, u, "B", 1);
    }
    for (int k = 0; k < 8; k++) {
        snprintf(u, sizeof u, "c%d", k);
        add(b, u, "C", 1);
        add(b, u, "D", 1);
    }
    add(b, "x", "A", 1);
    trove_dataset *ds = build(b);
    trove_recommender *knn = fit("itemknn", ds), *pop = fit("popularity", ds);
    uint32_t x = uid(ds, "x");
    assert_int_equal(top1(pop, x), iid(ds, "C"));
    assert_int_equal(top1(knn, x), iid(ds, "B"));
    /* similarity with shrinkage: |A∩B| = 4, |A| = 5, |B| = 4:
     * 4 / (sqrt(20) + 10) */
    float s[4];
    trove_error err;
    assert_int_equal(trove_recommender_score_user(knn, x, s, &err), TROVE_OK);
    assert_true(fabs(s[iid(ds, "B")] - 4.0 / (sqrt(20.0) + 10.0)) < 1e-5);
    /* neighbours=1 and shrink=0 are accepted; unknown keys are not */
    trove_reco_params p = trove_reco_default_params();
    trove_recommender *r = NULL;
    assert_int_equal(trove_reco_params_set(&p, "neighbours=1", &err), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&p, "shrink=0", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("itemknn", &p, ds, &r, &err), TROVE_OK);
    assert_int_equal(top1(r, x), iid(ds, "B"));
    trove_recommender_free(r);
    /* threads split the items but give the same neighbours */
    trove_reco_params p3 = trove_reco_default_params();
    trove_recommender *r3 = NULL;
    float s3[4];
    p3.threads = 3;
    assert_int_equal(trove_recommender_fit("itemknn", &p3, ds, &r3, &err), TROVE_OK);
    for (uint32_t user = 0; user < trove_dataset_n_users(ds); user++) {
        float s1[4];
        assert_int_equal(trove_recommender_score_user(knn, user, s1, &err), TROVE_OK);
        assert_int_equal(trove_recommender_score_user(r3, user, s3, &err), TROVE_OK);
        assert_memory_equal(s1, s3, sizeof s1);
    }
    trove_recommender_free(r3);
    assert_int_equal(trove_reco_params_set(&p, "neighbourz=3", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("itemknn", &p, ds, &r, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "neighbourz"));
    p = trove_reco_default_params();
    assert_int_equal(trove_reco_params_set(&p, "shrink=-1", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("itemknn", &p, ds, &r, &err), TROVE_EINVAL);
    assert_int_equal(trove_reco_params_set(&p, "no-equals-sign", &err), TROVE_EINVAL);
    trove_recommender_free(knn);
    trove_recommender_free(pop);
    trove_dataset_free(ds);
}

/* Neighbour selection keeps exactly the most similar items: A co-occurs
 * with B0..B7, with B_k k+1 times (similarity increasing in k). */
static void test_itemknn_neighbour_selection(void **state)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    char u[32], it[16];
    trove_error err;
    (void)state;
    for (int k = 0; k < 8; k++)
        for (int m = 0; m <= k; m++) {
            snprintf(u, sizeof u, "b%d_%d", k, m);
            snprintf(it, sizeof it, "B%d", k);
            add(b, u, "A", 1);
            add(b, u, it, 1);
        }
    add(b, "solo", "A", 1);
    trove_dataset *ds = build(b);
    trove_reco_params p = trove_reco_default_params();
    trove_recommender *r = NULL;
    float s[16];
    assert_int_equal(trove_reco_params_set(&p, "neighbours=3", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("itemknn", &p, ds, &r, &err), TROVE_OK);
    assert_int_equal(trove_recommender_score_user(r, uid(ds, "solo"), s, &err), TROVE_OK);
    for (int k = 0; k < 8; k++) {
        snprintf(it, sizeof it, "B%d", k);
        if (k >= 5)
            assert_true(s[iid(ds, it)] > 1e-3f);
        else
            assert_true(s[iid(ds, it)] < 1e-5f);
    }
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

/* Markets: DE users buy "wurst", FR users "fromage" (more FR users, so
 * fromage is globally more popular). */
static void test_popularity_market(void **state)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    char u[16];
    (void)state;
    for (int k = 0; k < 3; k++) {
        snprintf(u, sizeof u, "de%d", k);
        add(b, u, "wurst", 1);
        ufeat(b, u, "market=DE");
    }
    for (int k = 0; k < 6; k++) {
        snprintf(u, sizeof u, "fr%d", k);
        add(b, u, "fromage", 1);
        ufeat(b, u, "market=FR");
    }
    add(b, "denew", "brot", 1);
    ufeat(b, "denew", "market=DE");
    add(b, "nomarket", "brot", 1);
    ufeat(b, "nomarket", "age=30");
    trove_dataset *ds = build(b);
    trove_recommender *r = fit("popularity-market", ds);
    assert_int_equal(top1(r, uid(ds, "denew")), iid(ds, "wurst"));
    assert_int_equal(top1(r, uid(ds, "nomarket")), iid(ds, "fromage"));
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

/* Genres: "fan" watched three g1 items; g2 items are more popular. */
static trove_dataset *genre_dataset(void)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    char u[16];
    add(b, "fan", "g1a", 2);
    add(b, "fan", "g1b", 5);
    add(b, "fan", "g1c", 1);
    for (int k = 0; k < 5; k++) {
        snprintf(u, sizeof u, "p%d", k);
        add(b, u, "g2a", 1);
        add(b, u, "g2b", 1);
    }
    add(b, "p0", "g1d", 1);
    ifeat(b, "g1a", "genre=g1");
    ifeat(b, "g1b", "genre=g1");
    ifeat(b, "g1c", "genre=g1");
    ifeat(b, "g1d", "genre=g1");
    ifeat(b, "g1d", "year=1990");
    ifeat(b, "g2a", "genre=g2");
    ifeat(b, "g2b", "genre=g2");
    return build(b);
}

static void test_personal_popularity(void **state)
{
    trove_dataset *ds = genre_dataset();
    trove_recommender *r = fit("personal-popularity", ds);
    uint32_t items[7], n;
    trove_error err;
    (void)state;
    uint32_t fan = uid(ds, "fan");
    /* without exclusion: own items first, heaviest first */
    assert_int_equal(trove_recommender_recommend(r, fan, 4, 0, items, NULL, &n, &err), TROVE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(items[0], iid(ds, "g1b"));
    assert_int_equal(items[1], iid(ds, "g1a"));
    assert_int_equal(items[2], iid(ds, "g1c"));
    /* then the favourite genre beats the popular one */
    assert_int_equal(items[3], iid(ds, "g1d"));
    assert_int_equal(top1(r, fan), iid(ds, "g1d"));
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

static void test_content(void **state)
{
    trove_dataset *ds = genre_dataset();
    trove_recommender *r = fit("content", ds);
    float s[8];
    trove_error err;
    (void)state;
    uint32_t fan = uid(ds, "fan");
    assert_int_equal(top1(r, fan), iid(ds, "g1d"));
    assert_int_equal(trove_recommender_score_user(r, fan, s, &err), TROVE_OK);
    assert_true(s[iid(ds, "g1d")] > s[iid(ds, "g2a")]);
    assert_true(s[iid(ds, "g1a")] <= 1.0f + 1e-3f);
    /* p1 watched only g2: g1d is not similar */
    assert_true(top1(r, uid(ds, "p1")) != iid(ds, "g1d"));
    trove_recommender_free(r);
    /* no item features: a clear error */
    trove_dataset *plain = ratings_dataset();
    trove_recommender *c = NULL;
    assert_int_equal(trove_recommender_fit("content", NULL, plain, &c, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "no item features"));
    assert_null(c);
    trove_dataset_free(plain);
    trove_dataset_free(ds);
}

static void test_random(void **state)
{
    trove_dataset *ds = genre_dataset();
    trove_recommender *r = fit("random", ds);
    uint32_t ni = trove_dataset_n_items(ds);
    float a[8], b[8], c[8];
    trove_error err;
    (void)state;
    assert_int_equal(trove_recommender_score_user(r, 0, a, &err), TROVE_OK);
    assert_int_equal(trove_recommender_score_user(r, 0, b, &err), TROVE_OK);
    assert_int_equal(trove_recommender_score_user(r, 1, c, &err), TROVE_OK);
    assert_memory_equal(a, b, ni * sizeof *a);
    assert_true(memcmp(a, c, ni * sizeof *a) != 0);
    for (uint32_t i = 0; i < ni; i++)
        assert_true(a[i] >= 0.0f && a[i] < 1.0f);
    assert_int_equal(trove_recommender_score_user(r, 999, a, &err), TROVE_ERANGE);
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

static void test_recommend_edges(void **state)
{
    trove_dataset *ds = genre_dataset();
    trove_recommender *r = fit("popularity", ds);
    uint32_t items[32], n = 99;
    float sc[32];
    trove_error err;
    uint32_t ni = trove_dataset_n_items(ds);
    (void)state;
    /* k beyond the catalog: every item, best first */
    assert_int_equal(trove_recommender_recommend(r, uid(ds, "fan"), 32, 0, items, sc, &n, &err),
                     TROVE_OK);
    assert_int_equal(n, ni);
    for (uint32_t i = 1; i < n; i++)
        assert_true(sc[i - 1] >= sc[i]);
    /* excluding train leaves the others */
    assert_int_equal(trove_recommender_recommend(r, uid(ds, "fan"), 32, 1, items, sc, &n, &err),
                     TROVE_OK);
    assert_int_equal(n, ni - 3);
    assert_int_equal(trove_recommender_recommend(r, uid(ds, "fan"), 0, 1, items, sc, &n, &err),
                     TROVE_OK);
    assert_int_equal(n, 0);
    trove_recommender *x = NULL;
    assert_int_equal(trove_recommender_fit("nope", NULL, ds, &x, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    const char *const *fams = trove_recommender_families();
    int seen = 0;
    size_t n_fams = 0;
    for (size_t i = 0; fams[i]; i++, n_fams++) {
        seen += strcmp(fams[i], "itemknn") == 0 || strcmp(fams[i], "warp") == 0;
        /* every listed family is known to fit (an unknown one would be
         * TROVE_ENOTFOUND) */
        trove_reco_params bad = trove_reco_default_params();
        assert_int_equal(trove_reco_params_set(&bad, "no_such_setting=1", &err), TROVE_OK);
        assert_int_equal(trove_recommender_fit(fams[i], &bad, ds, &x, &err), TROVE_EINVAL);
    }
    assert_int_equal(seen, 2);
    assert_int_equal(n_fams, 16);
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

static void scores_equal(const trove_recommender *a, const trove_recommender *b, uint32_t nu)
{
    float sa[16], sb[16];
    trove_error err;
    uint32_t ni = trove_recommender_n_items(a);
    assert_int_equal(ni, trove_recommender_n_items(b));
    for (uint32_t u = 0; u < nu; u++) {
        assert_int_equal(trove_recommender_score_user(a, u, sa, &err), TROVE_OK);
        assert_int_equal(trove_recommender_score_user(b, u, sb, &err), TROVE_OK);
        assert_memory_equal(sa, sb, ni * sizeof *sa);
    }
}

static void test_save_load_every_family(void **state)
{
    trove_dataset *ds = genre_dataset();
    static const char *const fams[] = {"random", "popularity", "popularity-rating",
                                       "popularity-market", "personal-popularity",
                                       "content", "itemknn"};
    const char *path = testutil_tmp_path("reco.trove");
    trove_error err;
    (void)state;
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        trove_recommender *r = fit(fams[f], ds), *l = NULL;
        assert_int_equal(trove_recommender_save(r, path, &err), TROVE_OK);
        assert_int_equal(trove_recommender_load(path, &l, &err), TROVE_OK);
        assert_string_equal(trove_recommender_family(l), fams[f]);
        scores_equal(r, l, trove_dataset_n_users(ds));
        trove_recommender_free(l);
        trove_recommender_free(r);
    }
    trove_dataset_free(ds);
}

static void test_hybrid_family(void **state)
{
    trove_dataset *ds = genre_dataset();
    trove_reco_params p = trove_reco_default_params();
    trove_recommender *r = NULL, *l = NULL;
    trove_error err;
    const char *path = testutil_tmp_path("warp.trove");
    (void)state;
    assert_int_equal(trove_reco_params_set(&p, "epochs=3", &err), TROVE_OK);
    assert_int_equal(trove_reco_params_set(&p, "dim=8", &err), TROVE_OK);
    if (trove_recommender_fit("warp", &p, ds, &r, &err) != TROVE_OK)
        fail_msg("warp: %s", err.msg);
    assert_int_equal(trove_recommender_save(r, path, &err), TROVE_OK);
    assert_int_equal(trove_recommender_load(path, &l, &err), TROVE_OK);
    scores_equal(r, l, trove_dataset_n_users(ds));
    /* the hybrid model inside a loaded recommender file carries the
     * dataset's raw ids and item feature names (what serving needs) */
    {
        trove_model *hm = NULL;
        const trove_idmap *ids;
        assert_int_equal(trove_recommender_take_hybrid(l, &hm, &err), TROVE_OK);
        assert_int_equal(trove_recommender_take_hybrid(l, &hm, &err), TROVE_EINVAL);
        ids = trove_model_item_ids(hm);
        assert_non_null(ids);
        assert_int_equal(trove_idmap_find(ids, "g1d", 3),
                         trove_idmap_find(trove_dataset_item_ids(ds), "g1d", 3));
        assert_non_null(trove_model_user_ids(hm));
        assert_int_equal(trove_idmap_find(trove_model_user_ids(hm), "fan", 3), 0);
        assert_non_null(trove_model_item_feature_names(hm));
        assert_true(trove_idmap_find(trove_model_item_feature_names(hm), "year=1990", 9) >= 0);
        trove_model_free(hm);
    }
    trove_recommender_free(l);
    trove_recommender_free(r);
    {
        trove_model *hm = NULL;
        assert_int_equal(trove_recommender_fit("popularity", NULL, ds, &r, &err), TROVE_OK);
        assert_int_equal(trove_recommender_take_hybrid(r, &hm, &err), TROVE_EINVAL);
        assert_null(hm);
        trove_recommender_free(r);
    }
    assert_int_equal(trove_reco_params_set(&p, "schedule=sideways", &err), TROVE_OK);
    assert_int_equal(trove_recommender_fit("bpr", &p, ds, &r, &err), TROVE_EINVAL);

    /* a model file written by the model module loads as a recommender of
     * its loss's family, with the model's own scores */
    trove_model_params mp = trove_model_default_params();
    trove_model *m = NULL;
    const char *mpath = testutil_tmp_path("bpr.model");
    float a[16], b[16];
    mp.loss = TROVE_LOSS_BPR;
    mp.no_components = 4;
    assert_int_equal(trove_model_new(&mp, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, trove_dataset_interactions(ds), NULL, NULL, 2, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_save(m, mpath, &err), TROVE_OK);
    assert_int_equal(trove_recommender_load(mpath, &l, &err), TROVE_OK);
    assert_string_equal(trove_recommender_family(l), "bpr");
    assert_int_equal(trove_model_score_user(m, 1, a, &err), TROVE_OK);
    assert_int_equal(trove_recommender_score_user(l, 1, b, &err), TROVE_OK);
    assert_memory_equal(a, b, trove_dataset_n_items(ds) * sizeof *a);
    trove_recommender_free(l);
    trove_model_free(m);
    trove_dataset_free(ds);
}

static void test_factor_families(void **state)
{
    trove_dataset *ds = genre_dataset();
    static const char *const fams[] = {"ials", "ease"};
    static const char *const sets[][2] = {{"factors=4", "iterations=3"},
                                          {"lambda=5", "lambda=5"}};
    const char *path = testutil_tmp_path("factor.trove");
    trove_error err;
    (void)state;
    for (int f = 0; f < 2; f++) {
        trove_reco_params p = trove_reco_default_params();
        trove_recommender *r = NULL, *l = NULL;
        assert_int_equal(trove_reco_params_set(&p, sets[f][0], &err), TROVE_OK);
        assert_int_equal(trove_reco_params_set(&p, sets[f][1], &err), TROVE_OK);
        if (trove_recommender_fit(fams[f], &p, ds, &r, &err) != TROVE_OK)
            fail_msg("%s: %s", fams[f], err.msg);
        assert_int_equal(trove_recommender_save(r, path, &err), TROVE_OK);
        assert_int_equal(trove_recommender_load(path, &l, &err), TROVE_OK);
        assert_string_equal(trove_recommender_family(l), fams[f]);
        scores_equal(r, l, trove_dataset_n_users(ds));
        trove_recommender_free(l);
        trove_recommender_free(r);
    }
    trove_dataset_free(ds);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

static void test_damaged_files(void **state)
{
    trove_dataset *ds = genre_dataset();
    trove_recommender *r = fit("itemknn", ds), *l = NULL;
    const char *path = testutil_tmp_path("knn.trove");
    const char *bad = testutil_tmp_path("bad.trove");
    trove_error err;
    char cmd[1200];
    (void)state;
    assert_int_equal(trove_recommender_save(r, path, &err), TROVE_OK);
    long n = file_size(path);
    /* truncated at every length: an error, never a crash */
    for (long cut = 0; cut < n; cut += (cut < 64 ? 1 : 37)) {
        snprintf(cmd, sizeof cmd, "head -c %ld '%s' > '%s'", cut, path, bad);
        assert_int_equal(system(cmd), 0);
        int rc = trove_recommender_load(bad, &l, &err);
        assert_true(rc == TROVE_EFORMAT || rc == TROVE_ECORRUPT);
        assert_null(l);
    }
    /* one flipped payload byte: checksum */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && printf '\\377' | dd of='%s' bs=1 seek=%ld "
             "conv=notrunc 2>/dev/null", path, bad, bad, n - 20);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(trove_recommender_load(bad, &l, &err), TROVE_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    /* not a recommender file; a newer version */
    assert_int_equal(testutil_write_file(bad, "hello world, not a model"), 0);
    assert_int_equal(trove_recommender_load(bad, &l, &err), TROVE_EFORMAT);
    snprintf(cmd, sizeof cmd, "printf 'TROVRECO\\007\\000\\000\\000\\001\\000\\000\\000x' > '%s'",
             bad);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(trove_recommender_load(bad, &l, &err), TROVE_EVERSION);
    assert_int_equal(trove_recommender_load("/nonexistent/m.trove", &l, &err), TROVE_EIO);
    trove_recommender_free(r);
    trove_dataset_free(ds);
}

static void test_out_of_memory(void **state)
{
    trove_dataset *ds = genre_dataset();
    static const char *const fams[] = {"popularity-rating", "popularity-market",
                                       "personal-popularity", "content", "itemknn"};
    const char *path = testutil_tmp_path("oom.trove");
    trove_error err;
    (void)state;
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        int ok = 0;
        for (long k = 0; k < 200 && !ok; k++) {
            trove_recommender *r = NULL;
            testutil_fail_alloc_after(k);
            int rc = trove_recommender_fit(fams[f], NULL, ds, &r, &err);
            testutil_fail_alloc_after(-1);
            if (rc == TROVE_OK) {
                ok = 1;
                assert_int_equal(trove_recommender_save(r, path, &err), TROVE_OK);
                trove_recommender_free(r);
            } else {
                assert_int_equal(rc, TROVE_ENOMEM);
                assert_null(r);
            }
        }
        assert_true(ok);
        ok = 0;
        for (long k = 0; k < 200 && !ok; k++) {
            trove_recommender *r = NULL;
            testutil_fail_alloc_after(k);
            int rc = trove_recommender_load(path, &r, &err);
            testutil_fail_alloc_after(-1);
            if (rc == TROVE_OK) {
                ok = 1;
                trove_recommender_free(r);
            } else {
                assert_int_equal(rc, TROVE_ENOMEM);
            }
        }
        assert_true(ok);
    }
    trove_dataset_free(ds);
}

/* Baselines through the engine: itemknn beats random on co-consumption. */
static void test_engine_on_recommenders(void **state)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    char u[16];
    (void)state;
    for (int k = 0; k < 40; k++) {
        snprintf(u, sizeof u, "u%d", k);
        char it[16];
        for (int j = 0; j < 4; j++) {
            snprintf(it, sizeof it, "i%d", (k % 5) * 4 + j);
            add(b, u, it, 1);
        }
    }
    trove_dataset *ds = build(b);
    /* one item of four per user goes to test; its three group mates stay
     * in train and point at it */
    trove_split_params sp = trove_split_default_params();
    trove_dataset *train = NULL, *test = NULL;
    trove_error err;
    sp.kind = TROVE_SPLIT_RANDOM;
    sp.fraction = 0.25;
    sp.seed = 3;
    assert_int_equal(trove_dataset_split(ds, &sp, &train, &test, &err), TROVE_OK);
    trove_recommender *knn = fit("itemknn", train), *rnd = fit("random", train);
    trove_scorer s1 = trove_scorer_from_recommender(knn), s2 = trove_scorer_from_recommender(rnd);
    trove_eval_params p = trove_eval_default_params();
    trove_eval_result *r1 = NULL, *r2 = NULL;
    p.k = 3;
    p.bootstrap = 0;
    assert_int_equal(trove_eval_run(&s1, trove_dataset_interactions(train),
                                    trove_dataset_interactions(test), &p, &r1, &err), TROVE_OK);
    assert_int_equal(trove_eval_run(&s2, trove_dataset_interactions(train),
                                    trove_dataset_interactions(test), &p, &r2, &err), TROVE_OK);
    assert_true(r1->overall.mean[TROVE_METRIC_HIT_RATE] > 0.99);
    assert_true(r1->overall.mean[TROVE_METRIC_AUC] > r2->overall.mean[TROVE_METRIC_AUC]);
    trove_eval_result_free(r1);
    trove_eval_result_free(r2);
    trove_recommender_free(knn);
    trove_recommender_free(rnd);
    trove_dataset_free(train);
    trove_dataset_free(test);
    trove_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_popularity_and_rating),
        cmocka_unit_test(test_itemknn),
        cmocka_unit_test(test_itemknn_neighbour_selection),
        cmocka_unit_test(test_popularity_market),
        cmocka_unit_test(test_personal_popularity),
        cmocka_unit_test(test_content),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_recommend_edges),
        cmocka_unit_test(test_save_load_every_family),
        cmocka_unit_test(test_factor_families),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_engine_on_recommenders),
        cmocka_unit_test(test_hybrid_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
