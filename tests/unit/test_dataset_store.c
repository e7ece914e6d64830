/*
 * test_dataset_store.c - trove_dataset_from_store on a small store:
 * positives by type, RETURN never, ratings under min_rating dropped,
 * binary and summed weights, latest timestamps, market and time-window
 * filters, cold items with all_items, features of the dataset's users and
 * items only; out of memory at every allocation.
 */
#include "testutil.h"

#include <string.h>

static trove_store *g_store;

static int64_t add_item(trove_store *s, const char *ext)
{
    int64_t id;
    assert_int_equal(trove_store_item_upsert(s, ext, NULL, &id, NULL, NULL), TROVE_OK);
    return id;
}

static int64_t add_user(trove_store *s, const char *ext, int64_t market)
{
    int64_t id;
    assert_int_equal(trove_store_user_upsert(s, ext, market, &id, NULL, NULL), TROVE_OK);
    return id;
}

static void add_event(trove_store *s, uint64_t id, int64_t user, int64_t item,
                      int type, double value, int64_t ts, int64_t market)
{
    trove_event ev;
    trove_error err;
    memset(&ev, 0, sizeof ev);
    ev.id = id;
    ev.user_id = user;
    ev.item_id = item;
    ev.type = type;
    ev.value = value;
    ev.ts = ts;
    ev.market_id = market;
    if (trove_store_event_add(s, &ev, NULL, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
}

static int setup(void **state)
{
    trove_store *s = NULL;
    trove_error err;
    int64_t de, fr, u1, u2, u3, a, b, c, cold, f_home, f_price, f_age;
    (void)state;

    if (trove_store_open(testutil_tmp_path("ds.db"), TROVE_STORE_CREATE, &s, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &de, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(s, "FR", NULL, NULL, &fr, NULL, &err), TROVE_OK);
    u1 = add_user(s, "17850", de);
    u2 = add_user(s, "12346", fr);
    u3 = add_user(s, "u3", de);
    (void)add_user(s, "nobody", de);
    a = add_item(s, "85123A");
    b = add_item(s, "71053");
    c = add_item(s, "22752");
    cold = add_item(s, "COLD");
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "cat=home",
                                                TROVE_FEATURE_CATEGORICAL, &f_home, &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "price",
                                                TROVE_FEATURE_NUMERIC, &f_price, &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_USER, "age",
                                                TROVE_FEATURE_NUMERIC, &f_age, &err), TROVE_OK);
    assert_int_equal(trove_store_item_feature_set(s, a, f_home, 1.0, &err), TROVE_OK);
    assert_int_equal(trove_store_item_feature_set(s, b, f_price, 2.5, &err), TROVE_OK);
    assert_int_equal(trove_store_item_feature_set(s, cold, f_home, 1.0, &err), TROVE_OK);
    assert_int_equal(trove_store_user_feature_set(s, u1, f_age, 31.0, &err), TROVE_OK);

    add_event(s, 1, u1, a, TROVE_EVENT_PURCHASE, 6, 1000, de);
    add_event(s, 2, u1, a, TROVE_EVENT_PURCHASE, 2, 2000, de);
    add_event(s, 3, u1, b, TROVE_EVENT_CLICK, 1, 1500, de);
    add_event(s, 4, u2, c, TROVE_EVENT_PURCHASE, 1, 1200, fr);
    add_event(s, 5, u2, b, TROVE_EVENT_RETURN, 1, 1300, fr);
    add_event(s, 6, u3, c, TROVE_EVENT_RATING, 2, 1100, de);
    add_event(s, 7, u3, b, TROVE_EVENT_RATING, 4, 3000, de);
    add_event(s, 8, u3, a, TROVE_EVENT_IMPRESSION, 1, 1000, de);
    g_store = s;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    trove_store_close(g_store);
    return 0;
}

static trove_dataset *query(const trove_store_query *q)
{
    trove_dataset *ds = NULL;
    trove_error err;
    if (trove_dataset_from_store(g_store, q, &ds, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    return ds;
}

static int64_t ix(const trove_idmap *m, const char *id)
{
    return trove_idmap_find(m, id, strlen(id));
}

/* weight of (user, item) by raw id, or -1 if absent */
static float weight(const trove_dataset *ds, const char *u, const char *i)
{
    const trove_csr *m = trove_dataset_interactions(ds);
    int64_t r = ix(trove_dataset_user_ids(ds), u), c = ix(trove_dataset_item_ids(ds), i);
    if (r < 0 || c < 0)
        return -1.0f;
    for (uint64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++)
        if (m->indices[k] == (uint32_t)c)
            return m->data[k];
    return -1.0f;
}

static void test_defaults(void **state)
{
    trove_dataset *ds = query(NULL);
    const trove_csr *m = trove_dataset_interactions(ds);
    (void)state;

    assert_int_equal(trove_dataset_n_users(ds), 3);   /* "nobody" has no event */
    assert_int_equal(trove_dataset_n_items(ds), 4);   /* COLD is in the catalog */
    assert_int_equal(trove_dataset_nnz(ds), 5);
    assert_true(weight(ds, "17850", "85123A") == 1.0f);   /* binary */
    assert_true(weight(ds, "12346", "71053") < 0);        /* RETURN never */
    assert_true(weight(ds, "u3", "85123A") < 0);          /* impression */
    assert_true(weight(ds, "u3", "22752") == 1.0f);       /* rating 2 >= 0 */
    assert_true(ix(trove_dataset_item_ids(ds), "COLD") >= 0);
    /* the pair's latest timestamp */
    {
        int64_t r = ix(trove_dataset_user_ids(ds), "17850");
        int64_t c = ix(trove_dataset_item_ids(ds), "85123A");
        for (uint64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++)
            if (m->indices[k] == (uint32_t)c)
                assert_int_equal(trove_dataset_timestamps(ds)[k], 2000);
    }
    /* features */
    {
        const trove_csr *f = trove_dataset_item_features(ds);
        const trove_csr *uf = trove_dataset_user_features(ds);
        int64_t cold = ix(trove_dataset_item_ids(ds), "COLD");
        assert_int_equal(f->n_cols, 2);
        assert_int_equal(f->nnz, 3);
        assert_int_equal(f->indptr[cold + 1] - f->indptr[cold], 1);
        assert_int_equal(uf->nnz, 1);
        assert_true(ix(trove_dataset_user_feature_names(ds), "age") == 0);
    }
    trove_dataset_free(ds);
}

static void test_filters(void **state)
{
    trove_store_query q = trove_store_query_default();
    trove_dataset *ds;
    trove_error err;
    int64_t de;
    (void)state;

    q.min_rating = 3.0;
    ds = query(&q);
    assert_int_equal(trove_dataset_nnz(ds), 4);
    assert_true(weight(ds, "u3", "22752") < 0);
    assert_true(weight(ds, "u3", "71053") == 1.0f);
    trove_dataset_free(ds);

    q = trove_store_query_default();
    q.binary = 0;
    ds = query(&q);
    assert_true(weight(ds, "17850", "85123A") == 8.0f);   /* 6 + 2 */
    assert_true(weight(ds, "u3", "71053") == 4.0f);
    trove_dataset_free(ds);

    q = trove_store_query_default();
    assert_int_equal(trove_store_market_find(g_store, "DE", &de, &err), TROVE_OK);
    q.market_id = de;
    ds = query(&q);
    assert_int_equal(trove_dataset_n_users(ds), 2);
    assert_true(ix(trove_dataset_user_ids(ds), "12346") < 0);
    assert_int_equal(trove_dataset_nnz(ds), 4);
    trove_dataset_free(ds);

    q = trove_store_query_default();
    q.ts_from = 1100;
    q.ts_to = 2000;
    ds = query(&q);
    assert_int_equal(trove_dataset_nnz(ds), 3);
    assert_true(weight(ds, "17850", "85123A") < 0);
    trove_dataset_free(ds);

    q = trove_store_query_default();
    q.type_mask = TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) | TROVE_EVENT_MASK(TROVE_EVENT_RETURN);
    q.all_items = 0;
    q.item_features = 0;
    q.user_features = 0;
    ds = query(&q);
    assert_int_equal(trove_dataset_nnz(ds), 2);
    assert_int_equal(trove_dataset_n_items(ds), 2);
    assert_true(ix(trove_dataset_item_ids(ds), "COLD") < 0);
    assert_int_equal(trove_dataset_item_features(ds)->nnz, 0);
    assert_int_equal(trove_dataset_user_features(ds)->n_cols, 0);
    trove_dataset_free(ds);
}

static void test_out_of_memory(void **state)
{
    long k;
    (void)state;
    for (k = 0; k < 10000; k++) {
        trove_dataset *ds = NULL;
        trove_error err;
        int rc;
        testutil_fail_alloc_after(k);
        rc = trove_dataset_from_store(g_store, NULL, &ds, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            assert_int_equal(trove_dataset_nnz(ds), 5);
            trove_dataset_free(ds);
            break;
        }
        assert_null(ds);
        assert_int_equal(rc, TROVE_ENOMEM);
    }
    assert_true(k > 5 && k < 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
