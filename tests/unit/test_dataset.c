/*
 * test_dataset.c - CSR building (every duplicate policy), transpose and
 * membership; the dataset builder with and without fixed universes;
 * pairs, index and feature files (errors naming file:line, gzip, truncated
 * gzip); feature matrices with identity and normalisation; writing and
 * reading back; out-of-memory at every allocation of the load and build
 * paths.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

static trove_dataset *load_text(const char *name, const char *text,
                                const trove_pairs_options *opts)
{
    const char *path = testutil_tmp_path(name);
    trove_dataset *ds = NULL;
    trove_error err;
    assert_int_equal(testutil_write_file(path, text), 0);
    if (trove_dataset_load_pairs(path, opts, &ds, &err) != TROVE_OK)
        fail_msg("load %s: %s", name, err.msg);
    return ds;
}

/* Load text expecting failure `code` with a message containing `needle`. */
static void expect_load_error(const char *name, const char *text,
                              const trove_pairs_options *opts, int code,
                              const char *needle)
{
    const char *path = testutil_tmp_path(name);
    trove_dataset *ds = NULL;
    trove_error err;
    assert_int_equal(testutil_write_file(path, text), 0);
    trove_error_clear(&err);
    assert_int_equal(trove_dataset_load_pairs(path, opts, &ds, &err), code);
    assert_null(ds);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error '%s' does not contain '%s'", err.msg, needle);
}

static int64_t find_id(const trove_idmap *m, const char *id)
{
    return trove_idmap_find(m, id, strlen(id));
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---------------------------------------------------------------- CSR */

static void test_csr_dup_policies(void **state)
{
    /* (1,2) three times with 1, 5, 2; (0,0) once; (1,0) once */
    uint32_t rows[] = {1, 0, 1, 1, 1};
    uint32_t cols[] = {2, 0, 2, 0, 2};
    float vals[] = {1.0f, 3.0f, 5.0f, 7.0f, 2.0f};
    float want[3] = {8.0f, 5.0f, 2.0f};   /* SUM, MAX, LAST for (1,2) */
    int policies[3] = {TROVE_DUP_SUM, TROVE_DUP_MAX, TROVE_DUP_LAST};
    (void)state;

    for (int p = 0; p < 3; p++) {
        trove_csr m;
        trove_error err;
        assert_int_equal(trove_csr_from_coo(3, 4, rows, cols, vals, 5, policies[p],
                                            &m, &err), TROVE_OK);
        assert_int_equal(m.n_rows, 3);
        assert_int_equal(m.n_cols, 4);
        assert_int_equal(m.nnz, 3);
        assert_int_equal(m.indptr[0], 0);
        assert_int_equal(m.indptr[1], 1);
        assert_int_equal(m.indptr[2], 3);
        assert_int_equal(m.indptr[3], 3);
        assert_int_equal(m.indices[0], 0);
        assert_int_equal(m.indices[1], 0);
        assert_int_equal(m.indices[2], 2);
        assert_true(m.data[0] == 3.0f);
        assert_true(m.data[1] == 7.0f);
        assert_true(m.data[2] == want[p]);
        trove_csr_destroy(&m);
        assert_null(m.indptr);
    }
    /* vals NULL: every weight 1, duplicates summed to 3 under SUM */
    {
        trove_csr m;
        assert_int_equal(trove_csr_from_coo(3, 4, rows, cols, NULL, 5, TROVE_DUP_SUM,
                                            &m, NULL), TROVE_OK);
        assert_true(m.data[2] == 3.0f);
        assert_true(m.data[0] == 1.0f);
        trove_csr_destroy(&m);
    }
    trove_csr_destroy(NULL);
}

static void test_csr_errors_and_empty(void **state)
{
    uint32_t rows[] = {0, 5};
    uint32_t cols[] = {0, 1};
    float bad[] = {1.0f, NAN};
    trove_csr m;
    trove_error err;
    (void)state;

    memset(&m, 0x5a, sizeof m);
    assert_int_equal(trove_csr_from_coo(3, 3, rows, cols, NULL, 2, TROVE_DUP_SUM, &m, &err),
                     TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "row 5 out of range"));
    assert_true(m.n_rows == 0x5a5a5a5au);   /* untouched on failure */
    rows[1] = 1;
    assert_int_equal(trove_csr_from_coo(3, 1, rows, cols, NULL, 2, TROVE_DUP_SUM, &m, &err),
                     TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "column 1 out of range"));
    assert_int_equal(trove_csr_from_coo(3, 3, rows, cols, bad, 2, TROVE_DUP_SUM, &m, &err),
                     TROVE_EINVAL);
    assert_int_equal(trove_csr_from_coo(3, 3, rows, cols, NULL, 2, 99, &m, &err),
                     TROVE_EINVAL);

    assert_int_equal(trove_csr_from_coo(4, 2, NULL, NULL, NULL, 0, TROVE_DUP_SUM, &m, &err),
                     TROVE_OK);
    assert_int_equal(m.nnz, 0);
    assert_non_null(m.indptr);
    for (int r = 0; r <= 4; r++)
        assert_int_equal(m.indptr[r], 0);
    assert_false(trove_csr_contains(&m, 0, 0));
    trove_csr_destroy(&m);
}

static void test_csr_transpose_contains(void **state)
{
    uint32_t rows[] = {0, 0, 1, 2, 2, 2};
    uint32_t cols[] = {3, 1, 0, 0, 1, 3};
    float vals[] = {1, 2, 3, 4, 5, 6};
    trove_csr m, t, tt;
    (void)state;

    assert_int_equal(trove_csr_from_coo(3, 5, rows, cols, vals, 6, TROVE_DUP_SUM, &m, NULL),
                     TROVE_OK);
    assert_int_equal(trove_csr_transpose(&m, &t, NULL), TROVE_OK);
    assert_int_equal(t.n_rows, 5);
    assert_int_equal(t.n_cols, 3);
    assert_int_equal(t.nnz, 6);
    /* column 0 of m: rows 1 (3) and 2 (4) */
    assert_int_equal(t.indptr[1] - t.indptr[0], 2);
    assert_int_equal(t.indices[0], 1);
    assert_int_equal(t.indices[1], 2);
    assert_true(t.data[0] == 3.0f && t.data[1] == 4.0f);
    /* column 2 is empty, column 4 too */
    assert_int_equal(t.indptr[3] - t.indptr[2], 0);
    assert_int_equal(t.indptr[5] - t.indptr[4], 0);
    for (uint32_t r = 0; r < 3; r++)
        for (uint32_t c = 0; c < 5; c++)
            assert_int_equal(trove_csr_contains(&m, r, c), trove_csr_contains(&t, c, r));
    assert_true(trove_csr_contains(&m, 2, 3));
    assert_false(trove_csr_contains(&m, 1, 3));
    assert_false(trove_csr_contains(&m, 7, 0));  /* row out of range */
    /* transposing twice gives the original back */
    assert_int_equal(trove_csr_transpose(&t, &tt, NULL), TROVE_OK);
    assert_int_equal(tt.nnz, m.nnz);
    assert_memory_equal(tt.indptr, m.indptr, 4 * sizeof(uint64_t));
    assert_memory_equal(tt.indices, m.indices, 6 * sizeof(uint32_t));
    assert_memory_equal(tt.data, m.data, 6 * sizeof(float));
    trove_csr_destroy(&m);
    trove_csr_destroy(&t);
    trove_csr_destroy(&tt);
}

/* ------------------------------------------------------------- builder */

static void test_csr_copy_validate(void **state)
{
    uint64_t indptr[4] = {0, 2, 2, 3};
    uint32_t idx[3] = {1, 4, 0};
    float w[3] = {0.5f, 2.0f, 1.0f};
    trove_csr m = {3, 5, 3, indptr, idx, w}, c, bad;
    trove_error err;
    (void)state;

    assert_int_equal(trove_csr_validate(&m, "m", &err), TROVE_OK);
    assert_int_equal(trove_csr_copy(&m, &c, &err), TROVE_OK);
    assert_int_equal(c.n_rows, 3);
    assert_int_equal(c.n_cols, 5);
    assert_int_equal(c.nnz, 3);
    assert_memory_equal(c.indptr, indptr, sizeof indptr);
    assert_memory_equal(c.indices, idx, sizeof idx);
    assert_memory_equal(c.data, w, sizeof w);
    assert_true(c.indices != idx && c.data != w);
    trove_csr_destroy(&c);
    /* unweighted input: the copy has explicit ones */
    m.data = NULL;
    assert_int_equal(trove_csr_copy(&m, &c, NULL), TROVE_OK);
    assert_true(c.data[0] == 1.0f && c.data[1] == 1.0f && c.data[2] == 1.0f);
    trove_csr_destroy(&c);
    m.data = w;
    /* out of memory at every allocation: clean error, *out untouched */
    for (long k = 0; k < 3; k++) {
        memset(&c, 0x5a, sizeof c);
        testutil_fail_alloc_after(k);
        assert_int_equal(trove_csr_copy(&m, &c, &err), TROVE_ENOMEM);
        testutil_fail_alloc_after(-1);
        assert_non_null(strstr(err.msg, "out of memory"));
        assert_int_equal(c.n_rows, 0x5a5a5a5au);
    }
    /* each structural fault is named with the matrix and the row */
    bad = m;
    idx[1] = 5;
    assert_int_equal(trove_csr_validate(&bad, "feats", &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "feats: row 0: column 5 out of range (5 columns)"));
    idx[1] = 1;
    assert_int_equal(trove_csr_validate(&bad, "feats", &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "feats: row 0: columns not strictly ascending"));
    idx[1] = 4;
    w[2] = NAN;
    assert_int_equal(trove_csr_validate(&bad, "feats", &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "feats: row 2, column 0: weight is not finite"));
    w[2] = 1.0f;
    indptr[2] = 1;
    assert_int_equal(trove_csr_validate(&bad, "feats", &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "feats: row 1: indptr is not monotone"));
    indptr[2] = 2;
    indptr[3] = 2;
    assert_int_equal(trove_csr_validate(&bad, "feats", &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "feats: malformed CSR"));
    indptr[3] = 3;
    bad.indptr = NULL;
    assert_int_equal(trove_csr_validate(&bad, "feats", &err), TROVE_EINVAL);
    /* no rows and no arrays is a valid empty matrix */
    memset(&bad, 0, sizeof bad);
    bad.n_cols = 4;
    assert_int_equal(trove_csr_validate(&bad, "empty", &err), TROVE_OK);
    assert_int_equal(trove_csr_copy(&bad, &c, &err), TROVE_OK);
    assert_int_equal(c.n_rows, 0);
    assert_int_equal(c.indptr[0], 0);
    trove_csr_destroy(&c);
}

static void test_builder_free_universe(void **state)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    trove_dataset *ds = NULL;
    trove_error err;
    (void)state;

    assert_non_null(b);
    assert_int_equal(trove_dataset_builder_add(b, "bob", 3, "x", 1, 1.0f, 0, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "amy", 3, "y", 1, 2.0f, 0, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "bob", 3, "y", 1, 1.0f, 0, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add_item_id(b, "cold", 4, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "", 0, "y", 1, 1.0f, 0, &err), TROVE_EINVAL);
    assert_int_equal(trove_dataset_builder_add(b, "a", 1, "y", 1, INFINITY, 0, &err),
                     TROVE_EINVAL);
    /* once ids are in, the universe cannot be fixed any more */
    {
        trove_idmap *m = trove_idmap_new();
        assert_int_equal(trove_dataset_builder_fix_users(b, m, &err), TROVE_EINVAL);
        trove_idmap_free(m);
    }
    assert_int_equal(trove_dataset_builder_build(b, NULL, &ds, &err), TROVE_OK);
    trove_dataset_builder_free(b);

    assert_int_equal(trove_dataset_n_users(ds), 2);
    assert_int_equal(trove_dataset_n_items(ds), 3);
    assert_int_equal(trove_dataset_nnz(ds), 3);
    assert_string_equal(trove_idmap_name(trove_dataset_user_ids(ds), 0, NULL), "bob");
    assert_string_equal(trove_idmap_name(trove_dataset_item_ids(ds), 2, NULL), "cold");
    assert_null(trove_dataset_timestamps(ds));
    assert_int_equal(trove_dataset_n_active_users(ds), 2);
    assert_int_equal(trove_dataset_n_active_items(ds), 2);
    /* no features: empty matrices with the right row count */
    assert_int_equal(trove_dataset_item_features(ds)->n_rows, 3);
    assert_int_equal(trove_dataset_item_features(ds)->n_cols, 0);
    assert_int_equal(trove_dataset_item_features(ds)->nnz, 0);
    {
        const trove_csr *t = trove_dataset_item_users(ds);
        assert_int_equal(t->n_rows, 3);
        assert_int_equal(t->indptr[2] - t->indptr[1], 2);   /* y: bob, amy */
        assert_int_equal(t->indptr[3] - t->indptr[2], 0);   /* cold */
    }
    trove_dataset_free(ds);
    trove_dataset_free(NULL);
    trove_dataset_builder_free(NULL);
}

static void test_builder_fixed_universe_and_ts(void **state)
{
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset_builder *b = trove_dataset_builder_new();
    trove_dataset *ds = NULL;
    trove_dataset_build_params bp = trove_dataset_build_default_params();
    trove_error err;
    const int64_t *ts;
    (void)state;

    assert_int_equal(bp.dup_policy, TROVE_DUP_MAX);
    assert_int_equal(trove_idmap_from_range(1, 3, &users, &err), TROVE_OK);
    assert_int_equal(trove_idmap_from_range(10, 14, &items, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_fix_users(b, users, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_fix_items(b, items, &err), TROVE_OK);
    trove_idmap_free(users);   /* the builder holds copies */
    trove_idmap_free(items);
    assert_int_equal(trove_dataset_builder_add(b, "3", 1, "14", 2, 1.0f, 30, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "3", 1, "14", 2, 1.0f, 20, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "1", 1, "10", 2, 1.0f, 0, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "4", 1, "10", 2, 1.0f, 0, &err),
                     TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "'4'"));
    assert_int_equal(trove_dataset_builder_add(b, "1", 1, "15", 2, 1.0f, 0, &err),
                     TROVE_ENOTFOUND);
    assert_int_equal(trove_dataset_builder_add_item_feature(b, "99", 2, "f", 1, 1.0f, &err),
                     TROVE_ENOTFOUND);
    bp.dup_policy = TROVE_DUP_SUM;
    assert_int_equal(trove_dataset_builder_build(b, &bp, &ds, &err), TROVE_OK);
    trove_dataset_builder_free(b);

    assert_int_equal(trove_dataset_n_users(ds), 3);
    assert_int_equal(trove_dataset_n_items(ds), 5);
    assert_int_equal(trove_dataset_nnz(ds), 2);
    ts = trove_dataset_timestamps(ds);
    assert_non_null(ts);
    /* (user 1, item 10) first, then the merged (3, 14): weight 2, latest ts */
    assert_int_equal(ts[0], 0);
    assert_int_equal(ts[1], 30);
    assert_true(trove_dataset_interactions(ds)->data[1] == 2.0f);
    assert_true(trove_csr_contains(trove_dataset_interactions(ds), 2, 4));
    trove_dataset_free(ds);
}

/* ---------------------------------------------------------- pairs files */

static void test_load_pairs_fixture(void **state)
{
    trove_idmap *users = NULL, *items = NULL;
    trove_pairs_options po;
    trove_dataset *ds = NULL;
    trove_error err;
    const trove_csr *m;
    (void)state;

    assert_int_equal(trove_idmap_load(testutil_fixture("data/users_index.tsv"), &users, &err),
                     TROVE_OK);
    assert_int_equal(trove_idmap_load(testutil_fixture("data/items_index.tsv"), &items, &err),
                     TROVE_OK);
    /* the index file lists its lines out of order */
    assert_string_equal(trove_idmap_name(items, 0, NULL), "i1");
    assert_string_equal(trove_idmap_name(items, 2, NULL), "i3");
    memset(&po, 0, sizeof po);
    po.users = users;
    po.items = items;
    po.item_features = testutil_fixture("data/item_features.tsv");
    if (trove_dataset_load_pairs(testutil_fixture("data/pairs.tsv"), &po, &ds, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    trove_idmap_free(users);
    trove_idmap_free(items);

    assert_int_equal(trove_dataset_n_users(ds), 3);
    assert_int_equal(trove_dataset_n_items(ds), 4);
    assert_int_equal(trove_dataset_nnz(ds), 5);
    m = trove_dataset_interactions(ds);
    /* u1: i1 1, i2 max(2.5, 4); u2: i1 0.5, i2 1; u3: i3 1 */
    assert_int_equal(m->indptr[1], 2);
    assert_int_equal(m->indptr[2], 4);
    assert_int_equal(m->indptr[3], 5);
    assert_true(m->data[0] == 1.0f && m->data[1] == 4.0f);
    assert_true(m->data[2] == 0.5f && m->data[3] == 1.0f);
    assert_int_equal(m->indices[4], 2);
    assert_non_null(trove_dataset_timestamps(ds));
    assert_int_equal(trove_dataset_timestamps(ds)[2], 50);
    assert_int_equal(trove_dataset_timestamps(ds)[4], 100);
    /* item i4 has no interaction but is in the catalog */
    assert_int_equal(trove_dataset_n_active_items(ds), 3);

    /* features: two names, in order of appearance */
    {
        const trove_csr *f = trove_dataset_item_features(ds);
        const trove_idmap *names = trove_dataset_item_feature_names(ds);
        assert_int_equal(f->n_rows, 4);
        assert_int_equal(f->n_cols, 2);
        assert_int_equal(f->nnz, 4);
        assert_string_equal(trove_idmap_name(names, 0, NULL), "genre=Comedy");
        assert_int_equal(find_id(names, "genre=Drama"), 1);
        assert_int_equal(trove_dataset_user_features(ds)->nnz, 0);
    }
    trove_dataset_free(ds);

    /* without universes: first-appearance order */
    if (trove_dataset_load_pairs(testutil_fixture("data/pairs.tsv"), NULL, &ds, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(trove_dataset_n_items(ds), 3);
    assert_string_equal(trove_idmap_name(trove_dataset_user_ids(ds), 2, NULL), "u3");
    trove_dataset_free(ds);
}

static void test_load_pairs_errors(void **state)
{
    trove_idmap *users = NULL;
    trove_pairs_options po;
    trove_dataset *ds = NULL;
    trove_error err;
    (void)state;

    expect_load_error("cols1.tsv", "a\tb\nc\n", NULL, TROVE_EFORMAT, "cols1.tsv:2: expected");
    expect_load_error("cols5.tsv", "a\tb\t1\t2\t3\n", NULL, TROVE_EFORMAT,
                      "cols5.tsv:1: expected");
    expect_load_error("weight.tsv", "a\tb\n\na\tc\tx1\n", NULL, TROVE_EFORMAT,
                      "weight.tsv:3: weight 'x1'");
    expect_load_error("nan.tsv", "a\tb\tnan\n", NULL, TROVE_EFORMAT, "nan.tsv:1: weight 'nan'");
    expect_load_error("inf.tsv", "a\tb\t1e99\n", NULL, TROVE_EFORMAT, "inf.tsv:1: weight");
    expect_load_error("ts.tsv", "a\tb\t1\t12x\n", NULL, TROVE_EFORMAT, "ts.tsv:1: timestamp");
    expect_load_error("empty.tsv", "a\tb\n\tb\n", NULL, TROVE_EINVAL, "empty.tsv:2: empty user id");

    assert_int_equal(trove_idmap_from_range(1, 3, &users, &err), TROVE_OK);
    memset(&po, 0, sizeof po);
    po.users = users;
    expect_load_error("unknown.tsv", "1\tx\n3\ty\n7\tz\n", &po, TROVE_ENOTFOUND,
                      "unknown.tsv:3: user id '7'");
    trove_idmap_free(users);

    assert_int_equal(trove_dataset_load_pairs(testutil_tmp_path("missing.tsv"), NULL, &ds, &err),
                     TROVE_ENOTFOUND);
    assert_null(ds);

    /* a feature file with a bad weight names its own line */
    memset(&po, 0, sizeof po);
    assert_int_equal(testutil_write_file(testutil_tmp_path("feat.tsv"), "a\tf\t1\nb\tg\tzz\n"), 0);
    po.item_features = testutil_tmp_path("feat.tsv");
    expect_load_error("okpairs.tsv", "u\ta\n", &po, TROVE_EFORMAT, "feat.tsv:2: weight 'zz'");
}

static void test_gzip_round_trip_and_truncation(void **state)
{
    trove_dataset *ds, *back = NULL;
    trove_error err;
    const char *gz = testutil_tmp_path("rt.tsv.gz");
    const char *gz2 = testutil_tmp_path("rt2.tsv.gz");
    const char *plain = testutil_tmp_path("rt.tsv");
    char *a, *b;
    size_t alen, blen;
    (void)state;

    /* enough lines to need several output buffers */
    {
        size_t cap = 2u * 1024u * 1024u, len = 0;
        char *text = malloc(cap);
        assert_non_null(text);
        for (int u = 0; u < 3000; u++)
            for (int i = 0; i < 30; i++)
                len += (size_t)snprintf(text + len, cap - len, "user%d\titem%d\n", u,
                                        (u * 7 + i * 13) % 500);
        ds = load_text("big.tsv", text, NULL);
        free(text);
    }
    assert_int_equal(trove_dataset_write_pairs(ds, gz, 1, &err), TROVE_OK);
    assert_int_equal(trove_dataset_write_pairs(ds, gz2, 1, &err), TROVE_OK);
    assert_int_equal(trove_dataset_write_pairs(ds, plain, 0, &err), TROVE_OK);
    a = read_all(gz, &alen);
    b = read_all(gz2, &blen);
    /* gzip magic, mtime 0, identical bytes on every write */
    assert_true((unsigned char)a[0] == 0x1f && (unsigned char)a[1] == 0x8b);
    assert_true(a[4] == 0 && a[5] == 0 && a[6] == 0 && a[7] == 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(b);

    if (trove_dataset_load_pairs(gz, NULL, &back, &err) != TROVE_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(trove_dataset_nnz(back), trove_dataset_nnz(ds));
    assert_int_equal(trove_dataset_n_users(back), trove_dataset_n_users(ds));
    {
        const trove_csr *m = trove_dataset_interactions(ds);
        const trove_csr *n = trove_dataset_interactions(back);
        /* written in (user, item) index order, so first-appearance ids of
         * the re-read file give the same users; items may be renumbered:
         * compare by raw id */
        for (uint32_t u = 0; u < m->n_rows; u++) {
            assert_int_equal(m->indptr[u + 1] - m->indptr[u], n->indptr[u + 1] - n->indptr[u]);
            for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++) {
                const char *name = trove_idmap_name(trove_dataset_item_ids(ds), m->indices[k], NULL);
                int64_t j = find_id(trove_dataset_item_ids(back), name);
                assert_true(j >= 0);
                assert_true(trove_csr_contains(n, u, (uint32_t)j));
            }
        }
    }
    trove_dataset_free(back);
    back = NULL;

    /* truncated gzip: an error naming the file, never a short read */
    {
        const char *cut = testutil_tmp_path("cut.tsv.gz");
        FILE *f = fopen(cut, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(a, 1, alen / 2, f), alen / 2);
        fclose(f);
        assert_int_equal(trove_dataset_load_pairs(cut, NULL, &back, &err), TROVE_ECORRUPT);
        assert_null(back);
        assert_non_null(strstr(err.msg, "cut.tsv.gz:"));
        assert_non_null(strstr(err.msg, "truncated"));
    }
    free(a);

    /* plain output: sorted by user then item index, raw ids */
    a = read_all(plain, &alen);
    assert_true(strncmp(a, "user0\titem0\nuser0\titem13\n", 25) == 0);
    free(a);
    trove_dataset_free(ds);
}

/* ----------------------------------------------------------- index files */

static void test_idmap_load_errors(void **state)
{
    trove_idmap *m = NULL;
    trove_error err;
    const char *p = testutil_tmp_path("idx.tsv");
    (void)state;

    assert_int_equal(testutil_write_file(p, "1\tb\n0\ta\n\n2\tc\n"), 0);
    assert_int_equal(trove_idmap_load(p, &m, &err), TROVE_OK);
    assert_int_equal(trove_idmap_size(m), 3);
    assert_string_equal(trove_idmap_name(m, 0, NULL), "a");
    assert_string_equal(trove_idmap_name(m, 2, NULL), "c");
    /* written back and re-read: the same map */
    {
        trove_idmap *m2 = NULL;
        const char *q = testutil_tmp_path("idx_out.tsv");
        size_t len;
        char *text;
        assert_int_equal(trove_idmap_write(m, q, &err), TROVE_OK);
        text = read_all(q, &len);
        assert_string_equal(text, "0\ta\n1\tb\n2\tc\n");
        free(text);
        assert_int_equal(trove_idmap_load(q, &m2, &err), TROVE_OK);
        assert_int_equal(trove_idmap_size(m2), 3);
        trove_idmap_free(m2);
    }
    trove_idmap_free(m);
    m = NULL;

    assert_int_equal(testutil_write_file(p, "0\ta\n2\tc\n"), 0);   /* gap at 1 */
    assert_int_equal(trove_idmap_load(p, &m, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "idx.tsv:2: index 2 out of range"));
    assert_int_equal(testutil_write_file(p, "0\ta\n1\tb\n0\tc\n"), 0);   /* dup index */
    assert_int_equal(trove_idmap_load(p, &m, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "idx.tsv:3: index 0 already given on line 1"));
    assert_int_equal(testutil_write_file(p, "0\ta\n1\ta\n"), 0);   /* dup raw id */
    assert_int_equal(trove_idmap_load(p, &m, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "idx.tsv:2: raw id 'a' already listed on line 1"));
    assert_int_equal(testutil_write_file(p, "0\ta\n-1\tb\n"), 0);
    assert_int_equal(trove_idmap_load(p, &m, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "idx.tsv:2: index '-1'"));
    assert_int_equal(testutil_write_file(p, "0\ta\tb\n"), 0);
    assert_int_equal(trove_idmap_load(p, &m, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "idx.tsv:1: expected"));
    assert_int_equal(testutil_write_file(p, "0\n"), 0);
    assert_int_equal(trove_idmap_load(p, &m, &err), TROVE_EFORMAT);
    assert_null(m);

    /* ranges */
    assert_int_equal(trove_idmap_load_spec("5..9", &m, &err), TROVE_OK);
    assert_int_equal(trove_idmap_size(m), 5);
    assert_int_equal(find_id(m, "5"), 0);
    assert_int_equal(find_id(m, "9"), 4);
    assert_int_equal(find_id(m, "05"), -1);
    trove_idmap_free(m);
    m = NULL;
    assert_int_equal(trove_idmap_load_spec("9..5", &m, &err), TROVE_EINVAL);
    assert_int_equal(trove_idmap_load_spec(testutil_tmp_path("nope..tsv"), &m, &err),
                     TROVE_ENOTFOUND);
    assert_null(m);
}

/* ------------------------------------------------------- feature matrix */

static void test_feature_matrix(void **state)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    trove_dataset *ds = NULL;
    trove_csr m;
    trove_error err;
    (void)state;

    /* declared names come first, in declaration order */
    assert_int_equal(trove_dataset_builder_add_item_feature_name(b, "g=z", 3, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add_item_feature_name(b, "", 0, &err), TROVE_EINVAL);
    assert_int_equal(trove_dataset_builder_add_user_feature_name(b, "age", 3, &err), TROVE_OK);
    /* items a, b, c, d; c has no feature */
    assert_int_equal(trove_dataset_builder_add(b, "u", 1, "a", 1, 1, 0, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "u", 1, "b", 1, 1, 0, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add(b, "v", 1, "c", 1, 1, 0, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add_item_feature(b, "a", 1, "g=x", 3, 1, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add_item_feature(b, "a", 1, "g=y", 3, 1, &err), TROVE_OK);
    assert_int_equal(trove_dataset_builder_add_item_feature(b, "b", 1, "g=y", 3, 2, &err), TROVE_OK);
    /* a new id through its features only: a cold item */
    assert_int_equal(trove_dataset_builder_add_item_feature(b, "d", 1, "g=x", 3, 0.25f, &err),
                     TROVE_OK);
    assert_int_equal(trove_dataset_builder_add_item_feature(b, "d", 1, "g=x", 3, 0.25f, &err),
                     TROVE_OK);   /* summed: 0.5 */
    assert_int_equal(trove_dataset_builder_add_user_feature(b, "u", 1, "age", 3, 31, &err),
                     TROVE_OK);
    assert_int_equal(trove_dataset_builder_build(b, NULL, &ds, &err), TROVE_OK);
    trove_dataset_builder_free(b);
    assert_int_equal(trove_dataset_n_items(ds), 4);

    /* identity, no normalisation: LightFM's [identity | features] */
    assert_int_equal(trove_dataset_feature_matrix(ds, TROVE_FEATURE_ITEM, 1, 0, &m, &err), TROVE_OK);
    assert_int_equal(m.n_rows, 4);
    assert_int_equal(m.n_cols, 7);
    assert_int_equal(m.nnz, 4 + 4);
    assert_string_equal(trove_idmap_name(trove_dataset_item_feature_names(ds), 0, NULL), "g=z");
    {
        uint64_t ip[] = {0, 3, 5, 6, 8};
        uint32_t ix[] = {0, 5, 6, 1, 6, 2, 3, 5};
        float dx[] = {1, 1, 1, 1, 2, 1, 1, 0.5f};
        assert_memory_equal(m.indptr, ip, sizeof ip);
        assert_memory_equal(m.indices, ix, sizeof ix);
        for (int k = 0; k < 8; k++)
            assert_true(fabsf(m.data[k] - dx[k]) < 1e-7f);
    }
    trove_csr_destroy(&m);

    /* identity + normalisation: each row sums to 1 */
    assert_int_equal(trove_dataset_feature_matrix(ds, TROVE_FEATURE_ITEM, 1, 1, &m, &err), TROVE_OK);
    for (uint32_t r = 0; r < m.n_rows; r++) {
        double s = 0;
        for (uint64_t k = m.indptr[r]; k < m.indptr[r + 1]; k++)
            s += m.data[k];
        assert_true(fabs(s - 1.0) < 1e-6);
    }
    assert_true(fabsf(m.data[3] - 1.0f / 3.0f) < 1e-6f);   /* b: identity 1 of 1+2 */
    assert_true(fabsf(m.data[4] - 2.0f / 3.0f) < 1e-6f);
    trove_csr_destroy(&m);

    /* features only */
    assert_int_equal(trove_dataset_feature_matrix(ds, TROVE_FEATURE_ITEM, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(m.n_cols, 3);
    assert_int_equal(m.nnz, 4);
    assert_int_equal(m.indptr[3] - m.indptr[2], 0);
    trove_csr_destroy(&m);
    /* ... which cannot be normalized: item c has no feature (as in LightFM) */
    memset(&m, 0, sizeof m);
    assert_int_equal(trove_dataset_feature_matrix(ds, TROVE_FEATURE_ITEM, 0, 1, &m, &err),
                     TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "item 'c' has no features"));
    assert_null(m.indptr);

    /* users: identity only for v, age for u */
    assert_int_equal(trove_dataset_feature_matrix(ds, TROVE_FEATURE_USER, 1, 0, &m, &err), TROVE_OK);
    assert_int_equal(m.n_cols, 3);
    assert_int_equal(m.nnz, 3);
    assert_true(m.data[1] == 31.0f);
    trove_csr_destroy(&m);
    assert_int_equal(trove_dataset_feature_matrix(ds, 7, 1, 0, &m, &err), TROVE_EINVAL);
    trove_dataset_free(ds);
}

/* --------------------------------------------------------------- faults */

/* Run `fn` with the k-th allocation failing for k = 0, 1, ... until it
 * succeeds: every failure must be a clean TROVE_ENOMEM (leaks are caught by
 * the sanitizer build). */
static void fail_each_allocation(int (*fn)(trove_error *err), const char *what)
{
    long k;
    for (k = 0; k < 100000; k++) {
        trove_error err;
        int rc;
        trove_error_clear(&err);
        testutil_fail_alloc_after(k);
        rc = fn(&err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK)
            break;
        if (rc != TROVE_ENOMEM)
            fail_msg("%s, allocation %ld failing: %s (%s)", what, k,
                     trove_status_name(rc), err.msg);
        assert_int_equal(err.code, TROVE_ENOMEM);
    }
    assert_true(k > 3);
    assert_true(k < 100000);
}

static int fault_load(trove_error *err)
{
    trove_idmap *users = NULL, *items = NULL;
    trove_pairs_options po;
    trove_dataset *ds = NULL;
    int rc;

    memset(&po, 0, sizeof po);
    if ((rc = trove_idmap_load(testutil_fixture("data/users_index.tsv"), &users, err)) != TROVE_OK)
        goto done;
    if ((rc = trove_idmap_load_spec("0..3", &items, err)) != TROVE_OK)
        goto done;
    trove_idmap_free(items);
    items = NULL;
    if ((rc = trove_idmap_load(testutil_fixture("data/items_index.tsv"), &items, err)) != TROVE_OK)
        goto done;
    po.users = users;
    po.items = items;
    po.item_features = testutil_fixture("data/item_features.tsv");
    rc = trove_dataset_load_pairs(testutil_fixture("data/pairs.tsv"), &po, &ds, err);
    if (rc == TROVE_OK) {
        assert_int_equal(trove_dataset_nnz(ds), 5);
        trove_dataset_free(ds);
    }
done:
    trove_idmap_free(users);
    trove_idmap_free(items);
    return rc;
}

static int fault_build_and_write(trove_error *err)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    trove_dataset *ds = NULL;
    trove_csr m;
    int rc = TROVE_ENOMEM;
    char u[16], it[16];

    if (b == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "builder");
    for (int k = 0; k < 3000; k++) {
        int n1 = snprintf(u, sizeof u, "u%d", k % 97);
        int n2 = snprintf(it, sizeof it, "i%d", (k * 31) % 101);
        if ((rc = trove_dataset_builder_add(b, u, (size_t)n1, it, (size_t)n2, 1.0f, k, err)) != TROVE_OK)
            goto done;
        if (k % 10 == 0 &&
            (rc = trove_dataset_builder_add_item_feature(b, it, (size_t)n2, "f", 1, 1.0f, err)) != TROVE_OK)
            goto done;
    }
    if ((rc = trove_dataset_builder_build(b, NULL, &ds, err)) != TROVE_OK)
        goto done;
    if ((rc = trove_dataset_feature_matrix(ds, TROVE_FEATURE_ITEM, 1, 1, &m, err)) != TROVE_OK)
        goto done;
    trove_csr_destroy(&m);
    rc = trove_dataset_write_pairs(ds, testutil_tmp_path("fault.tsv.gz"), 1, err);
done:
    trove_dataset_free(ds);
    trove_dataset_builder_free(b);
    return rc;
}

static void test_fault_injection(void **state)
{
    (void)state;
    fail_each_allocation(fault_load, "load pairs");
    fail_each_allocation(fault_build_and_write, "build and write");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_dup_policies),
        cmocka_unit_test(test_csr_errors_and_empty),
        cmocka_unit_test(test_csr_transpose_contains),
        cmocka_unit_test(test_csr_copy_validate),
        cmocka_unit_test(test_builder_free_universe),
        cmocka_unit_test(test_builder_fixed_universe_and_ts),
        cmocka_unit_test(test_load_pairs_fixture),
        cmocka_unit_test(test_load_pairs_errors),
        cmocka_unit_test(test_gzip_round_trip_and_truncation),
        cmocka_unit_test(test_idmap_load_errors),
        cmocka_unit_test(test_feature_matrix),
        cmocka_unit_test(test_fault_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
