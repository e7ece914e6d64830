/*
 * test_split_cli.c - `trove split` end to end: pairs files with range and
 * file universes, gzip output read back, JSON counts, the store variant
 * writing the universe's index files, usage errors (exit 2) and failures
 * (exit 1 with "trove split: ...").
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_pairs(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* users 1..20, items 1..30, user u has u+2 items, timestamps rising */
    for (int u = 1; u <= 20; u++)
        for (int j = 0; j < u + 2; j++)
            fprintf(f, "%d\t%d\t1\t%d\n", u, (u * 7 + j) % 30 + 1, 1000 + u * 10 + j);
    fclose(f);
}

static uint64_t json_u64(const char *out, const char *key)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(out, pat);
    if (p == NULL)
        fail_msg("no %s in %s", key, out);
    return strtoull(p + strlen(pat), NULL, 10);
}

static void test_split_pairs(void **state)
{
    const char *in = testutil_tmp_path("in.tsv");
    const char *tr = testutil_tmp_path("tr.tsv.gz");
    const char *te = testutil_tmp_path("te.tsv.gz");
    char *out = NULL;
    trove_idmap *users = NULL, *items = NULL;
    trove_pairs_options po;
    trove_dataset *a = NULL, *b = NULL;
    trove_error err;
    int rc;
    (void)state;

    write_pairs(in);
    rc = testutil_run_trove(&out, "split --input %s --user-index 1..25 --item-index 1..30 "
                            "--method random --fraction 0.25 --seed 7 --train-out %s "
                            "--test-out %s --gzip --json", in, tr, te);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    assert_int_equal(json_u64(out, "users"), 25);
    assert_int_equal(json_u64(out, "items"), 30);
    assert_int_equal(json_u64(out, "users_with_test"), 20);
    {
        uint64_t train = json_u64(out, "train"), test = json_u64(out, "test");
        uint64_t want_test = 0;
        for (int u = 1; u <= 20; u++) {
            uint64_t n = (uint64_t)u + 2, t = (uint64_t)(0.25 * (double)n + 0.5);
            want_test += t < n - 1 ? t : n - 1;
        }
        assert_int_equal(test, want_test);
        assert_int_equal(train + test, json_u64(out, "interactions"));
        free(out);

        /* the files load back with the same universes */
        assert_int_equal(trove_idmap_load_spec("1..25", &users, &err), TROVE_OK);
        assert_int_equal(trove_idmap_load_spec("1..30", &items, &err), TROVE_OK);
        memset(&po, 0, sizeof po);
        po.users = users;
        po.items = items;
        assert_int_equal(trove_dataset_load_pairs(tr, &po, &a, &err), TROVE_OK);
        assert_int_equal(trove_dataset_load_pairs(te, &po, &b, &err), TROVE_OK);
        assert_int_equal(trove_dataset_nnz(a), train);
        assert_int_equal(trove_dataset_nnz(b), test);
        for (uint32_t u = 0; u < 25; u++) {
            const trove_csr *m = trove_dataset_interactions(b);
            for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++)
                assert_false(trove_csr_contains(trove_dataset_interactions(a), u, m->indices[k]));
        }
    }
    trove_dataset_free(a);
    trove_dataset_free(b);
    trove_idmap_free(users);
    trove_idmap_free(items);

    /* last-k and temporal read the timestamps of the fourth column */
    rc = testutil_run_trove(&out, "split --input %s --method last-k -k 2 --train-out %s "
                            "--test-out %s --index-prefix %s", in, tr, te,
                            testutil_tmp_path("lk"));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "test              40\n"));
    free(out);
    {
        trove_idmap *m = NULL;
        assert_int_equal(trove_idmap_load(testutil_tmp_path("lk_user_index.tsv"), &m, &err),
                         TROVE_OK);
        assert_int_equal(trove_idmap_size(m), 20);
        trove_idmap_free(m);
    }
    rc = testutil_run_trove(&out, "split --input %s --method temporal --cut-ts 1200 "
                            "--train-out %s --test-out %s --json", in, tr, te);
    assert_int_equal(rc, 0);
    /* ts = 1000 + 10u + j: user 20 entirely, user 19 from j = 10 */
    assert_int_equal(json_u64(out, "users_with_test"), 2);
    assert_int_equal(json_u64(out, "test"), 22 + 11);
    free(out);
}

static void test_split_store(void **state)
{
    const char *db = testutil_tmp_path("split.db");
    trove_store *s = NULL;
    trove_error err;
    int64_t de, items[6], users[8];
    char *out = NULL, name[32];
    uint64_t eid = 1;
    int rc;
    (void)state;

    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &s, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &de, NULL, &err), TROVE_OK);
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "SKU%d", i);
        assert_int_equal(trove_store_item_upsert(s, name, NULL, &items[i], NULL, &err), TROVE_OK);
    }
    for (int u = 0; u < 8; u++) {
        snprintf(name, sizeof name, "c%d", u);
        assert_int_equal(trove_store_user_upsert(s, name, de, &users[u], NULL, &err), TROVE_OK);
        for (int i = 0; i < 5; i++) {
            trove_event ev;
            memset(&ev, 0, sizeof ev);
            ev.id = eid++;
            ev.user_id = users[u];
            ev.item_id = items[(u + i) % 5];
            ev.type = TROVE_EVENT_PURCHASE;
            ev.value = 1;
            ev.ts = 1262304000 + u * 86400 + i;   /* 2010-01-01 + u days */
            ev.market_id = de;
            assert_int_equal(trove_store_event_add(s, &ev, NULL, &err), TROVE_OK);
        }
    }
    trove_store_close(s);

    rc = testutil_run_trove(&out, "split --store %s --market DE --from 2010-01-02 --to 2010-01-07 "
                            "--method random --train-out %s --test-out %s --index-prefix %s --json",
                            db, testutil_tmp_path("s_tr.tsv"), testutil_tmp_path("s_te.tsv"),
                            testutil_tmp_path("st"));
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    assert_int_equal(json_u64(out, "users"), 5);      /* days 1..5 */
    assert_int_equal(json_u64(out, "items"), 6);      /* SKU5 without events too */
    assert_int_equal(json_u64(out, "test"), 5);       /* one of five per user */
    free(out);
    {
        trove_idmap *m = NULL;
        assert_int_equal(trove_idmap_load(testutil_tmp_path("st_item_index.tsv"), &m, &err),
                         TROVE_OK);
        assert_int_equal(trove_idmap_size(m), 6);
        assert_true(trove_idmap_find(m, "SKU5", 4) >= 0);
        trove_idmap_free(m);
    }
    rc = testutil_run_trove(&out, "split --store %s --market XX --method random "
                            "--train-out %s --test-out %s --index-prefix %s", db,
                            testutil_tmp_path("x1"), testutil_tmp_path("x2"),
                            testutil_tmp_path("x"));
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "trove split: "));
    assert_non_null(strstr(out, "XX"));
    free(out);
}

static void test_split_errors(void **state)
{
    const char *in = testutil_tmp_path("bad.tsv");
    char *out = NULL;
    (void)state;

    assert_int_equal(testutil_run_trove(&out, "split --help"), 0);
    assert_non_null(strstr(out, "usage: trove split"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "split --method random"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "split --input x --method nope "
                                        "--train-out a --test-out b"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "split --input x --method temporal "
                                        "--train-out a --test-out b"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "split --input x --method random --fraction 1.5 "
                                        "--train-out a --test-out b"), 2);
    free(out);
    assert_int_equal(testutil_write_file(in, "1\t2\n3\n"), 0);
    assert_int_equal(testutil_run_trove(&out, "split --input %s --method random "
                                        "--train-out %s --test-out %s", in,
                                        testutil_tmp_path("a"), testutil_tmp_path("b")), 1);
    assert_non_null(strstr(out, "trove split: "));
    assert_non_null(strstr(out, "bad.tsv:2:"));
    free(out);
    /* temporal split of a file without timestamps */
    assert_int_equal(testutil_write_file(in, "1\t2\n3\t4\n"), 0);
    assert_int_equal(testutil_run_trove(&out, "split --input %s --method temporal --cut-ts 5 "
                                        "--train-out %s --test-out %s", in,
                                        testutil_tmp_path("a"), testutil_tmp_path("b")), 1);
    assert_non_null(strstr(out, "timestamps"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_pairs),
        cmocka_unit_test(test_split_store),
        cmocka_unit_test(test_split_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
