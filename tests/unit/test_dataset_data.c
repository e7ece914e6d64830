/*
 * test_dataset_data.c - the reference splits of $TROVE_DATA/splits load
 * exactly: shapes, pair counts and users with test as in ANCHORS.md and
 * splits/README.md, raw ids kept as strings, and train and test never
 * share a pair. Skipped when the data directory is absent.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static const char *split_path(const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, 1024, "%s/splits/%s", testutil_data_dir(), name);
    return b;
}

static trove_dataset *load(const char *file, const trove_idmap *users,
                           const trove_idmap *items)
{
    trove_pairs_options po;
    trove_dataset *ds = NULL;
    trove_error err;
    memset(&po, 0, sizeof po);
    po.users = users;
    po.items = items;
    if (trove_dataset_load_pairs(split_path(file), &po, &ds, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    return ds;
}

static void check_pair(const char *stem, const char *user_spec, const char *item_spec,
                       uint32_t n_users, uint32_t n_items, uint64_t n_train,
                       uint64_t n_test, uint32_t users_with_test, const char *ext)
{
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *tr, *te;
    trove_error err;
    char name[256];
    const trove_csr *a, *b;

    if (trove_idmap_load_spec(user_spec, &users, &err) != TROVE_OK ||
        trove_idmap_load_spec(item_spec, &items, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    snprintf(name, sizeof name, "%s_train%s", stem, ext);
    tr = load(name, users, items);
    snprintf(name, sizeof name, "%s_test%s", stem, ext);
    te = load(name, users, items);

    assert_int_equal(trove_dataset_n_users(tr), n_users);
    assert_int_equal(trove_dataset_n_items(tr), n_items);
    assert_int_equal(trove_dataset_n_users(te), n_users);
    assert_int_equal(trove_dataset_n_items(te), n_items);
    assert_int_equal(trove_dataset_nnz(tr), n_train);
    assert_int_equal(trove_dataset_nnz(te), n_test);
    assert_int_equal(trove_dataset_n_active_users(te), users_with_test);
    a = trove_dataset_interactions(tr);
    b = trove_dataset_interactions(te);
    for (uint32_t u = 0; u < b->n_rows; u++)
        for (uint64_t k = b->indptr[u]; k < b->indptr[u + 1]; k++)
            assert_false(trove_csr_contains(a, u, b->indices[k]));
    /* every weight is 1: each pair appears once per file */
    for (uint64_t k = 0; k < a->nnz; k++)
        assert_true(a->data[k] == 1.0f);
    trove_dataset_free(tr);
    trove_dataset_free(te);
    trove_idmap_free(users);
    trove_idmap_free(items);
}

static void test_ua_splits(void **state)
{
    (void)state;
    if (testutil_data_dir() == NULL)
        skip();
    /* no index files: index = raw id - 1 over 943 users x 1682 items */
    check_pair("ml100k_ua_min4", "1..943", "1..1682", 943, 1682, 49906, 5469, 934, ".tsv");
    check_pair("ml100k_ua_min0", "1..943", "1..1682", 943, 1682, 90570, 9430, 943, ".tsv");
    check_pair("ml100k_ua_min5", "1..943", "1..1682", 943, 1682, 19048, 2153, 757, ".tsv");
}

static void test_u20_splits(void **state)
{
    char u[1024], i[1024];
    (void)state;
    if (testutil_data_dir() == NULL)
        skip();
    snprintf(u, sizeof u, "%s", split_path("ml100k_udata_user_index.tsv"));
    snprintf(i, sizeof i, "%s", split_path("ml100k_udata_item_index.tsv"));
    check_pair("ml100k_udata_min4_u20_seed42", u, i, 943, 1682, 44296, 11079, 942, ".tsv.gz");
    snprintf(u, sizeof u, "%s", split_path("onlineretail_user_index.tsv"));
    snprintf(i, sizeof i, "%s", split_path("onlineretail_item_index.tsv"));
    check_pair("onlineretail_purchase_u20_seed42", u, i, 4339, 3665, 213431, 53371, 4192,
               ".tsv.gz");
}

static void test_retail_ids_are_strings(void **state)
{
    trove_idmap *items = NULL;
    trove_error err;
    (void)state;
    if (testutil_data_dir() == NULL)
        skip();
    if (trove_idmap_load(split_path("onlineretail_item_index.tsv"), &items, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    /* StockCodes in lexicographic order, letters and case kept */
    assert_string_equal(trove_idmap_name(items, 0, NULL), "10002");
    assert_string_equal(trove_idmap_name(items, 3664, NULL), "POST");
    assert_true(trove_idmap_find(items, "85123A", 6) >= 0);
    assert_true(trove_idmap_find(items, "85123a", 6) < 0);
    for (uint32_t k = 1; k < trove_idmap_size(items); k++)
        assert_true(strcmp(trove_idmap_name(items, k - 1, NULL),
                           trove_idmap_name(items, k, NULL)) < 0);
    trove_idmap_free(items);
}

/* ml100k_ua_min4 with genres: the item matrix LightFM's
 * fetch_movielens(indicator_features=True, genre_features=True) builds,
 * [identity(1682) | 19 genres in u.genre order], weights 1. */
static void test_ua_genre_features(void **state)
{
    char path[1024], line[2048], genres[19][32];
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset_builder *b;
    trove_dataset *ds = NULL;
    trove_error err;
    trove_csr m;
    uint64_t flags = 0;
    FILE *f;
    (void)state;
    if (testutil_data_dir() == NULL)
        skip();

    snprintf(path, sizeof path, "%s/ml-100k/u.genre", testutil_data_dir());
    f = fopen(path, "r");
    assert_non_null(f);
    for (int g = 0; g < 19; g++) {
        assert_non_null(fgets(line, sizeof line, f));
        *strchr(line, '|') = '\0';
        snprintf(genres[g], sizeof genres[g], "genre=%.24s", line);
    }
    fclose(f);

    assert_int_equal(trove_idmap_from_range(1, 943, &users, &err), TROVE_OK);
    assert_int_equal(trove_idmap_from_range(1, 1682, &items, &err), TROVE_OK);
    b = trove_dataset_builder_new();
    assert_non_null(b);
    assert_int_equal(trove_dataset_builder_fix_users(b, users, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_fix_items(b, items, &err), TROVE_OK);
    for (int g = 0; g < 19; g++)
        assert_int_equal(trove_dataset_builder_add_item_feature_name(b, genres[g],
                                                                     strlen(genres[g]), &err),
                         TROVE_OK);
    snprintf(path, sizeof path, "%s/ml-100k/u.item", testutil_data_dir());
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        char *bar = strchr(line, '|'), *p = line + strlen(line);
        int g = 18;
        assert_non_null(bar);
        /* the last 19 fields are the flags */
        while (p > line && (p[-1] == '\n' || p[-1] == '\r'))
            *--p = '\0';
        while (g >= 0 && p > line) {
            char *q = p;
            while (q > line && q[-1] != '|')
                q--;
            if (q[0] == '1') {
                assert_int_equal(trove_dataset_builder_add_item_feature(
                                     b, line, (size_t)(bar - line), genres[g],
                                     strlen(genres[g]), 1.0f, &err), TROVE_OK);
                flags++;
            }
            p = q - 1;
            g--;
        }
    }
    fclose(f);
    assert_int_equal(trove_dataset_builder_build(b, NULL, &ds, &err), TROVE_OK);
    trove_dataset_builder_free(b);

    assert_int_equal(trove_dataset_feature_matrix(ds, TROVE_FEATURE_ITEM, 1, 0, &m, &err),
                     TROVE_OK);
    assert_int_equal(m.n_rows, 1682);
    assert_int_equal(m.n_cols, 1682 + 19);
    assert_int_equal(m.nnz, 1682 + flags);
    /* Toy Story (id 1, row 0): identity, Animation, Children's, Comedy */
    assert_int_equal(m.indptr[1], 4);
    assert_int_equal(m.indices[0], 0);
    assert_int_equal(m.indices[1], 1682 + 3);
    assert_int_equal(m.indices[2], 1682 + 4);
    assert_int_equal(m.indices[3], 1682 + 5);
    for (uint64_t k = 0; k < m.nnz; k++)
        assert_true(m.data[k] == 1.0f);
    trove_csr_destroy(&m);
    trove_dataset_free(ds);
    trove_idmap_free(users);
    trove_idmap_free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ua_splits),
        cmocka_unit_test(test_u20_splits),
        cmocka_unit_test(test_retail_ids_are_strings),
        cmocka_unit_test(test_ua_genre_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
