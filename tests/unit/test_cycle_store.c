/*
 * test_cycle_store.c - how the store keeps assignments since schema 5: one
 * packed list per (cycle, user). A store written at schema 3 (fixture
 * cycle/store_v3.db, 5 assignment rows) migrates with every row intact;
 * lists round-trip with their ranks, scores and sources; a list can grow
 * across calls but never repeats a rank or an item; unknown ids, a user in
 * both arms and duplicates are clean errors that write nothing; the
 * `assignments` view answers the A/B counts; a failed allocation leaves no
 * partial list.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rows {
    trove_assignment v[64];
    size_t n;
} rows;

static int collect(void *ud, const trove_assignment *a)
{
    rows *r = ud;
    if (r->n == 64)
        return TROVE_ERANGE;
    r->v[r->n++] = *a;
    return 0;
}

static void read_rows(trove_store *s, int64_t cycle, rows *r)
{
    trove_error err;
    r->n = 0;
    assert_int_equal(trove_store_assignments_foreach(s, cycle, collect, r, &err), 0);
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[4096];
    size_t n;
    int ok = in != NULL && out != NULL;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* Schema 3 rows (written one per assignment) come back unchanged after the
 * migration, and new lists go next to them. */
static void test_migration_from_rows(void **state)
{
    const char *path = testutil_tmp_path("v3.db");
    trove_store *s = NULL;
    trove_error err;
    rows r;
    int64_t de, cyc;
    trove_cycle c;
    trove_ab_cycle_counts k;
    (void)state;
    remove(path);
    assert_int_equal(copy_file(testutil_fixture("cycle/store_v3.db"), path), 0);
    assert_int_equal(trove_store_open(path, 0, &s, &err), 0);
    assert_true(trove_store_schema_version(s) >= 5);
    assert_int_equal(trove_store_market_find(s, "DE", &de, &err), 0);
    assert_int_equal(trove_store_cycle_find(s, de, "w1", &c, &err), 0);
    cyc = c.id;
    read_rows(s, cyc, &r);
    assert_int_equal(r.n, 5);
    /* (user, rank) order: u1 i1 0.75 model, u1 i3 new-offer, u2 i2, u2 i1,
     * u3 i3 -1.5 */
    assert_int_equal(r.v[0].user_id, 1);
    assert_int_equal(r.v[0].item_id, 1);
    assert_int_equal(r.v[0].arm, TROVE_ARM_TEST);
    assert_float_equal(r.v[0].score, 0.75, 0);
    assert_int_equal(r.v[0].source, TROVE_SOURCE_MODEL);
    assert_int_equal(r.v[1].item_id, 3);
    assert_int_equal(r.v[1].rank, 1);
    assert_true(isnan(r.v[1].score));
    assert_int_equal(r.v[1].source, TROVE_SOURCE_NEW_OFFER);
    assert_int_equal(r.v[2].user_id, 2);
    assert_int_equal(r.v[2].arm, TROVE_ARM_CONTROL);
    assert_int_equal(r.v[3].item_id, 1);
    assert_int_equal(r.v[3].rank, 1);
    assert_int_equal(r.v[4].user_id, 3);
    assert_float_equal(r.v[4].score, -1.5, 0);
    /* the A/B counts read the same rows through the view */
    assert_int_equal(trove_store_ab_counts(s, cyc, 1700003600, &k, &err), 0);
    assert_int_equal(k.arm[TROVE_ARM_TEST].users, 2);
    assert_int_equal(k.arm[TROVE_ARM_TEST].exposures, 3);
    assert_int_equal(k.arm[TROVE_ARM_CONTROL].users, 1);
    assert_int_equal(k.arm[TROVE_ARM_CONTROL].exposures, 2);
    assert_int_equal(k.distinct_items, 3);
    trove_store_close(s);
}

static int64_t add_user(trove_store *s, const char *name, int64_t market)
{
    trove_error err;
    int64_t id;
    assert_int_equal(trove_store_user_upsert(s, name, market, &id, NULL, &err), 0);
    return id;
}

static int64_t add_item(trove_store *s, const char *name)
{
    trove_error err;
    int64_t id;
    assert_int_equal(trove_store_item_upsert(s, name, NULL, &id, NULL, &err), 0);
    return id;
}

static trove_store *new_store(const char *name, int64_t *cycle, int64_t u[3],
                              int64_t it[4])
{
    const char *path = testutil_tmp_path(name);
    trove_store *s = NULL;
    trove_error err;
    trove_cycle c;
    int64_t m;
    char n[8];
    remove(path);
    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &s, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &m, NULL, &err), 0);
    for (int k = 0; k < 3; k++) {
        snprintf(n, sizeof n, "u%d", k);
        u[k] = add_user(s, n, m);
    }
    for (int k = 0; k < 4; k++) {
        snprintf(n, sizeof n, "i%d", k);
        it[k] = add_item(s, n);
    }
    memset(&c, 0, sizeof c);
    c.market_id = m;
    c.key = "c1";
    c.created_ts = 1000;
    c.salt = "s";
    c.test_share = 0.5;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, cycle, &err), 0);
    return s;
}

static void test_lists(void **state)
{
    int64_t cyc, u[3], it[4];
    trove_store *s = new_store("lists.db", &cyc, u, it);
    trove_error err;
    rows r;
    (void)state;

    /* Rows of one user arrive out of rank order and with a gap. */
    const trove_assignment a[] = {
        {cyc, u[0], it[2], 3, TROVE_ARM_TEST, 0.125, TROVE_SOURCE_NEW_OFFER},
        {cyc, u[0], it[0], 0, TROVE_ARM_TEST, 2.5, TROVE_SOURCE_MODEL},
        {cyc, u[1], it[1], 0, TROVE_ARM_CONTROL, NAN, TROVE_SOURCE_RANDOM},
    };
    assert_int_equal(trove_store_assignments_add(s, a, 3, &err), 0);
    read_rows(s, cyc, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.v[0].item_id, it[0]);
    assert_int_equal(r.v[0].rank, 0);
    assert_float_equal(r.v[0].score, 2.5, 0);
    assert_int_equal(r.v[1].item_id, it[2]);
    assert_int_equal(r.v[1].rank, 3);
    assert_int_equal(r.v[1].source, TROVE_SOURCE_NEW_OFFER);
    assert_int_equal(r.v[2].arm, TROVE_ARM_CONTROL);
    assert_true(isnan(r.v[2].score));

    /* A later call extends u0's list (rank 1); the merged list is sorted. */
    const trove_assignment more[] = {
        {cyc, u[0], it[1], 1, TROVE_ARM_TEST, 1.0, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, more, 1, &err), 0);
    read_rows(s, cyc, &r);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.v[1].item_id, it[1]);
    assert_int_equal(r.v[1].rank, 1);
    assert_int_equal(r.v[2].rank, 3);

    /* A repeated rank, a repeated item, the other arm, unknown ids: errors,
     * and the earlier rows of the same call are not kept. */
    const trove_assignment rank_dup[] = {
        {cyc, u[2], it[0], 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {cyc, u[0], it[3], 1, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, rank_dup, 2, &err), TROVE_EEXIST);
    const trove_assignment item_dup[] = {
        {cyc, u[1], it[1], 5, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_RANDOM},
    };
    assert_int_equal(trove_store_assignments_add(s, item_dup, 1, &err), TROVE_EEXIST);
    const trove_assignment in_call_dup[] = {
        {cyc, u[2], it[0], 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {cyc, u[2], it[0], 1, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, in_call_dup, 2, &err), TROVE_EEXIST);
    const trove_assignment arms[] = {
        {cyc, u[1], it[3], 1, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, arms, 1, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "other arm"));
    const trove_assignment split[] = {
        {cyc, u[2], it[0], 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {cyc, u[2], it[1], 1, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, split, 2, &err), TROVE_EINVAL);
    const trove_assignment ghost[] = {
        {cyc, u[2], it[0], 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {cyc, u[2], 999, 1, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, ghost, 2, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "item 999"));
    const trove_assignment ghost_cycle[] = {
        {cyc + 7, u[2], it[0], 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
    };
    assert_int_equal(trove_store_assignments_add(s, ghost_cycle, 1, &err), TROVE_ENOTFOUND);
    read_rows(s, cyc, &r);
    assert_int_equal(r.n, 4);

    /* Replacing the cycle empties its lists. */
    {
        trove_cycle c;
        int64_t id, m;
        assert_int_equal(trove_store_market_find(s, "DE", &m, &err), 0);
        memset(&c, 0, sizeof c);
        c.market_id = m;
        c.key = "c1";
        c.created_ts = 2000;
        c.salt = "s";
        c.test_share = 0.5;
        assert_int_equal(trove_store_cycle_create(s, &c, 1, &id, &err), 0);
        assert_int_equal(id, cyc);
        read_rows(s, cyc, &r);
        assert_int_equal(r.n, 0);
    }
    trove_store_close(s);
}

/* Calls of many lists take the bulk path (16 lists per statement); a chunk
 * that meets an existing list falls back to one list at a time and merges,
 * and a duplicate anywhere leaves nothing of the call. */
static void test_bulk_lists(void **state)
{
    const char *path = testutil_tmp_path("bulk.db");
    trove_store *s = NULL;
    trove_error err;
    trove_cycle c;
    trove_assignment a[40];
    int64_t m, cyc, u[60], it[2];
    char n[8];
    rows *r = calloc(1, sizeof *r);
    (void)state;
    assert_non_null(r);
    remove(path);
    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &s, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &m, NULL, &err), 0);
    for (int k = 0; k < 60; k++) {
        snprintf(n, sizeof n, "u%d", k);
        u[k] = add_user(s, n, m);
    }
    it[0] = add_item(s, "i0");
    it[1] = add_item(s, "i1");
    memset(&c, 0, sizeof c);
    c.market_id = m;
    c.key = "bulk";
    c.created_ts = 1000;
    c.salt = "s";
    c.test_share = 0.5;
    assert_int_equal(trove_store_cycle_create(s, &c, 0, &cyc, &err), 0);
    for (int k = 0; k < 20; k++)
        a[k] = (trove_assignment){cyc, u[k], it[0], 0, k % 2, k, TROVE_SOURCE_MODEL};
    assert_int_equal(trove_store_assignments_add(s, a, 20, &err), 0);
    /* users 16..19 get a second offer, 20..35 their first */
    for (int k = 0; k < 20; k++)
        a[k] = (trove_assignment){cyc, u[16 + k], it[k < 4 ? 1 : 0], k < 4 ? 1 : 0,
                                  (16 + k) % 2, 100 + k, TROVE_SOURCE_POPULARITY};
    assert_int_equal(trove_store_assignments_add(s, a, 20, &err), 0);
    read_rows(s, cyc, r);
    assert_int_equal(r->n, 40);
    for (size_t i = 0, k = 0; i < r->n; k++) {
        assert_int_equal(r->v[i].user_id, u[k]);
        assert_int_equal(r->v[i].rank, 0);
        assert_int_equal(r->v[i].item_id, it[0]);
        assert_int_equal(r->v[i].arm, (int)(k % 2));
        i++;
        if (k >= 16 && k < 20) {
            assert_int_equal(r->v[i].user_id, u[k]);
            assert_int_equal(r->v[i].rank, 1);
            assert_int_equal(r->v[i].item_id, it[1]);
            assert_true(r->v[i].score == 100.0 + (double)(k - 16));
            i++;
        }
    }
    /* 15 new lists and u40's again (not next to its first): the bulk
     * statement fails, one at a time finds the duplicate, nothing stays */
    for (int k = 0; k < 15; k++)
        a[k] = (trove_assignment){cyc, u[40 + k], it[0], 0, 1, 1, TROVE_SOURCE_MODEL};
    a[15] = (trove_assignment){cyc, u[40], it[1], 0, 1, 1, TROVE_SOURCE_MODEL};
    a[16] = (trove_assignment){cyc, u[55], it[1], 0, 1, 1, TROVE_SOURCE_MODEL};
    assert_int_equal(trove_store_assignments_add(s, a, 17, &err), TROVE_EEXIST);
    read_rows(s, cyc, r);
    assert_int_equal(r->n, 40);
    trove_store_close(s);
    free(r);
}

/* A failed allocation in the middle of an add leaves nothing behind. */
static void test_lists_oom(void **state)
{
    int64_t cyc, u[3], it[4];
    trove_store *s = new_store("lists_oom.db", &cyc, u, it);
    trove_error err;
    rows r;
    int ok = 0;
    const trove_assignment a[] = {
        {cyc, u[0], it[0], 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {cyc, u[0], it[1], 1, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {cyc, u[1], it[2], 0, TROVE_ARM_TEST, 1, TROVE_SOURCE_MODEL},
        {cyc, u[2], it[3], 0, TROVE_ARM_CONTROL, 1, TROVE_SOURCE_MODEL},
    };
    (void)state;
    for (long k = 0; k < 50 && !ok; k++) {
        int st;
        testutil_fail_alloc_after(k);
        st = trove_store_assignments_add(s, a, 4, &err);
        testutil_fail_alloc_after(-1);
        read_rows(s, cyc, &r);
        if (st == TROVE_OK) {
            assert_int_equal(r.n, 4);
            ok = 1;
        } else {
            assert_int_equal(st, TROVE_ENOMEM);
            assert_int_equal(r.n, 0);
        }
    }
    assert_true(ok);
    trove_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migration_from_rows),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_bulk_lists),
        cmocka_unit_test(test_lists_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
