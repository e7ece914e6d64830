/*
 * test_split.c - every split kind on a synthetic dataset: train and test
 * are disjoint, their union is the input (weights and timestamps kept),
 * the counts follow the definitions, the same seed gives the same split
 * and another seed a different one; parameter errors; out of memory.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_USERS 60
#define N_ITEMS 45

/* Users have 0..29 interactions at pseudo-random items with distinct-ish
 * timestamps; user 0 has none; item 44 is never used; a few users carry
 * features so that splits are seen to copy them. */
static trove_dataset *make_dataset(int with_ts)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    trove_dataset *ds = NULL;
    trove_rng rng;
    trove_error err;
    char u[16], it[16];

    assert_non_null(b);
    trove_rng_seed(&rng, 7);
    for (int k = 0; k < N_USERS; k++) {
        int n = snprintf(u, sizeof u, "u%02d", k);
        assert_int_equal(trove_dataset_builder_add_user_id(b, u, (size_t)n, &err), TROVE_OK);
    }
    for (int k = 0; k < N_ITEMS; k++) {
        int n = snprintf(it, sizeof it, "i%02d", k);
        assert_int_equal(trove_dataset_builder_add_item_id(b, it, (size_t)n, &err), TROVE_OK);
    }
    for (int k = 1; k < N_USERS; k++) {
        int nu = snprintf(u, sizeof u, "u%02d", k);
        int count = k % 30;
        for (int j = 0; j < count; j++) {
            int ni = snprintf(it, sizeof it, "i%02d", (int)trove_rng_below(&rng, N_ITEMS - 1));
            int64_t ts = with_ts ? 1000 + (int64_t)trove_rng_below(&rng, 500) : 0;
            assert_int_equal(trove_dataset_builder_add(b, u, (size_t)nu, it, (size_t)ni,
                                                       1.0f + (float)j, ts, &err), TROVE_OK);
        }
        if (k % 5 == 0)
            assert_int_equal(trove_dataset_builder_add_user_feature(b, u, (size_t)nu, "f", 1,
                                                                    2.0f, &err), TROVE_OK);
    }
    assert_int_equal(trove_dataset_builder_build(b, NULL, &ds, &err), TROVE_OK);
    trove_dataset_builder_free(b);
    return ds;
}

static uint64_t row_len(const trove_csr *m, uint32_t r)
{
    return m->indptr[r + 1] - m->indptr[r];
}

/* Position of (r, c) in m, or -1. */
static int64_t pos_of(const trove_csr *m, uint32_t r, uint32_t c)
{
    for (uint64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++)
        if (m->indices[k] == c)
            return (int64_t)k;
    return -1;
}

/* train and test partition ds exactly, with weights and timestamps. */
static void check_partition(const trove_dataset *ds, const trove_dataset *tr,
                            const trove_dataset *te)
{
    const trove_csr *m = trove_dataset_interactions(ds);
    const trove_csr *a = trove_dataset_interactions(tr);
    const trove_csr *b = trove_dataset_interactions(te);
    const int64_t *ts = trove_dataset_timestamps(ds);

    assert_int_equal(trove_dataset_n_users(tr), trove_dataset_n_users(ds));
    assert_int_equal(trove_dataset_n_items(te), trove_dataset_n_items(ds));
    assert_int_equal(a->nnz + b->nnz, m->nnz);
    for (uint32_t u = 0; u < m->n_rows; u++) {
        for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++) {
            int64_t pa = pos_of(a, u, m->indices[k]), pb = pos_of(b, u, m->indices[k]);
            assert_true((pa >= 0) != (pb >= 0));
            if (pa >= 0) {
                assert_true(a->data[pa] == m->data[k]);
                if (ts)
                    assert_int_equal(trove_dataset_timestamps(tr)[pa], ts[k]);
            } else {
                assert_true(b->data[pb] == m->data[k]);
                if (ts)
                    assert_int_equal(trove_dataset_timestamps(te)[pb], ts[k]);
            }
        }
    }
    /* the universe and the features are the same */
    for (uint32_t i = 0; i < trove_dataset_n_items(ds); i++)
        assert_string_equal(trove_idmap_name(trove_dataset_item_ids(ds), i, NULL),
                            trove_idmap_name(trove_dataset_item_ids(te), i, NULL));
    assert_int_equal(trove_dataset_user_features(tr)->nnz, trove_dataset_user_features(ds)->nnz);
    assert_int_equal(trove_dataset_user_features(te)->nnz, trove_dataset_user_features(ds)->nnz);
    assert_int_equal(trove_idmap_size(trove_dataset_user_feature_names(te)), 1);
    /* transposes are consistent */
    assert_int_equal(trove_dataset_item_users(te)->nnz, b->nnz);
}

static int same_split(const trove_dataset *x, const trove_dataset *y)
{
    const trove_csr *a = trove_dataset_interactions(x), *b = trove_dataset_interactions(y);
    if (a->nnz != b->nnz)
        return 0;
    return memcmp(a->indptr, b->indptr, (a->n_rows + 1) * sizeof *a->indptr) == 0 &&
           memcmp(a->indices, b->indices, a->nnz * sizeof *a->indices) == 0;
}

static void split_ok(const trove_dataset *ds, const trove_split_params *p,
                     trove_dataset **tr, trove_dataset **te)
{
    trove_error err;
    if (trove_dataset_split(ds, p, tr, te, &err) != TROVE_OK)
        fail_msg("split: %s", err.msg);
    check_partition(ds, *tr, *te);
}

static void test_random(void **state)
{
    trove_dataset *ds = make_dataset(1), *tr, *te, *tr2, *te2;
    trove_split_params p = trove_split_default_params();
    const trove_csr *m = trove_dataset_interactions(ds);
    (void)state;

    assert_int_equal(p.kind, TROVE_SPLIT_RANDOM);
    split_ok(ds, &p, &tr, &te);
    for (uint32_t u = 0; u < m->n_rows; u++) {
        uint64_t n = row_len(m, u), want = (uint64_t)floor(0.2 * (double)n + 0.5);
        if (want > (n ? n - 1 : 0))
            want = n ? n - 1 : 0;
        assert_int_equal(row_len(trove_dataset_interactions(te), u), want);
    }
    /* same seed: same split; another seed: another split */
    split_ok(ds, &p, &tr2, &te2);
    assert_true(same_split(te, te2));
    assert_true(same_split(tr, tr2));
    trove_dataset_free(tr2);
    trove_dataset_free(te2);
    p.seed = 43;
    split_ok(ds, &p, &tr2, &te2);
    assert_false(same_split(te, te2));
    assert_int_equal(trove_dataset_nnz(te), trove_dataset_nnz(te2));
    trove_dataset_free(tr2);
    trove_dataset_free(te2);
    trove_dataset_free(tr);
    trove_dataset_free(te);

    /* min_train caps the test share: fraction 0.9, keep 3 */
    p.fraction = 0.9;
    p.min_train = 3;
    split_ok(ds, &p, &tr, &te);
    for (uint32_t u = 0; u < m->n_rows; u++) {
        uint64_t n = row_len(m, u), room = n > 3 ? n - 3 : 0;
        uint64_t want = (uint64_t)floor(0.9 * (double)n + 0.5);
        if (want > room)
            want = room;
        assert_int_equal(row_len(trove_dataset_interactions(te), u), want);
        assert_int_equal(row_len(trove_dataset_interactions(tr), u), n - want);
    }
    trove_dataset_free(tr);
    trove_dataset_free(te);
    trove_dataset_free(ds);
}

static void test_temporal(void **state)
{
    trove_dataset *ds = make_dataset(1), *tr, *te;
    trove_split_params p = trove_split_default_params();
    uint64_t want = 0;
    (void)state;

    p.kind = TROVE_SPLIT_TEMPORAL;
    p.cut_ts = 1300;
    split_ok(ds, &p, &tr, &te);
    for (uint64_t k = 0; k < trove_dataset_nnz(ds); k++)
        want += trove_dataset_timestamps(ds)[k] >= 1300;
    assert_int_equal(trove_dataset_nnz(te), want);
    for (uint64_t k = 0; k < trove_dataset_nnz(te); k++)
        assert_true(trove_dataset_timestamps(te)[k] >= 1300);
    for (uint64_t k = 0; k < trove_dataset_nnz(tr); k++)
        assert_true(trove_dataset_timestamps(tr)[k] < 1300);
    trove_dataset_free(tr);
    trove_dataset_free(te);
    trove_dataset_free(ds);
}

static void test_last_k(void **state)
{
    trove_dataset *ds = make_dataset(1), *tr, *te;
    trove_split_params p = trove_split_default_params();
    (void)state;

    p.kind = TROVE_SPLIT_LAST_K;
    p.k = 2;
    split_ok(ds, &p, &tr, &te);
    for (uint32_t u = 0; u < N_USERS; u++) {
        const trove_csr *a = trove_dataset_interactions(tr), *b = trove_dataset_interactions(te);
        uint64_t n = row_len(trove_dataset_interactions(ds), u);
        uint64_t want = n > 1 ? (n - 1 < 2 ? n - 1 : 2) : 0;
        assert_int_equal(row_len(b, u), want);
        /* every test interaction is at least as late as every train one
         * (ties broken by item index) */
        for (uint64_t x = b->indptr[u]; x < b->indptr[u + 1]; x++)
            for (uint64_t y = a->indptr[u]; y < a->indptr[u + 1]; y++) {
                int64_t tb = trove_dataset_timestamps(te)[x], ta = trove_dataset_timestamps(tr)[y];
                assert_true(tb > ta || (tb == ta && b->indices[x] > a->indices[y]));
            }
    }
    trove_dataset_free(tr);
    trove_dataset_free(te);
    trove_dataset_free(ds);
}

static void test_cold_items(void **state)
{
    trove_dataset *ds = make_dataset(0), *tr, *te, *tr2, *te2;
    trove_split_params p = trove_split_default_params();
    uint32_t active = trove_dataset_n_active_items(ds), cold = 0;
    (void)state;

    p.kind = TROVE_SPLIT_COLD_ITEM;
    p.fraction = 0.25;
    split_ok(ds, &p, &tr, &te);
    for (uint32_t i = 0; i < N_ITEMS; i++) {
        uint64_t in_tr = row_len(trove_dataset_item_users(tr), i);
        uint64_t in_te = row_len(trove_dataset_item_users(te), i);
        assert_false(in_tr > 0 && in_te > 0);   /* an item is all train or all test */
        cold += in_te > 0;
    }
    assert_int_equal(cold, (uint32_t)floor(0.25 * active + 0.5));
    split_ok(ds, &p, &tr2, &te2);
    assert_true(same_split(te, te2));
    trove_dataset_free(tr2);
    trove_dataset_free(te2);
    trove_dataset_free(tr);
    trove_dataset_free(te);
    trove_dataset_free(ds);
}

static void test_errors(void **state)
{
    trove_dataset *ds = make_dataset(0), *tr = NULL, *te = NULL;
    trove_split_params p = trove_split_default_params();
    trove_error err;
    (void)state;

    p.fraction = 0.0;
    assert_int_equal(trove_dataset_split(ds, &p, &tr, &te, &err), TROVE_EINVAL);
    p.fraction = 1.0;
    assert_int_equal(trove_dataset_split(ds, &p, &tr, &te, &err), TROVE_EINVAL);
    p = trove_split_default_params();
    p.kind = TROVE_SPLIT_TEMPORAL;
    assert_int_equal(trove_dataset_split(ds, &p, &tr, &te, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "timestamps"));
    p.kind = TROVE_SPLIT_LAST_K;
    assert_int_equal(trove_dataset_split(ds, &p, &tr, &te, &err), TROVE_EINVAL);
    p.kind = 99;
    assert_int_equal(trove_dataset_split(ds, &p, &tr, &te, &err), TROVE_EINVAL);
    assert_null(tr);
    assert_null(te);
    trove_dataset_free(ds);
}

static void test_out_of_memory(void **state)
{
    trove_dataset *ds = make_dataset(1);
    int kinds[] = {TROVE_SPLIT_RANDOM, TROVE_SPLIT_LAST_K, TROVE_SPLIT_COLD_ITEM};
    (void)state;

    for (int j = 0; j < 3; j++) {
        trove_split_params p = trove_split_default_params();
        long k;
        p.kind = kinds[j];
        for (k = 0; k < 10000; k++) {
            trove_dataset *tr = NULL, *te = NULL;
            trove_error err;
            int rc;
            testutil_fail_alloc_after(k);
            rc = trove_dataset_split(ds, &p, &tr, &te, &err);
            testutil_fail_alloc_after(-1);
            if (rc == TROVE_OK) {
                trove_dataset_free(tr);
                trove_dataset_free(te);
                break;
            }
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(tr);
            assert_null(te);
        }
        assert_true(k > 5 && k < 10000);
    }
    trove_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_temporal),
        cmocka_unit_test(test_last_k),
        cmocka_unit_test(test_cold_items),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
