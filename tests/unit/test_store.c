/*
 * test_store.c - the store API on the SQLite backend: create/open/reopen,
 * URIs, schema versions and migrations, refusing foreign and newer files,
 * upserts and finds, item flags, idempotent events, transactions and the id
 * caches across rollbacks and other handles, event filters, stats,
 * read-only handles, and out-of-memory faults on open and on writes.
 */
#include "testutil.h"

#include "store/store_int.h"

#include <stdio.h>
#include <string.h>

static const char *fresh_path(const char *stem)
{
    static int n;
    char name[64];
    snprintf(name, sizeof name, "%s-%d.db", stem, n++);
    return testutil_tmp_path(name);
}

static trove_store *create_store(const char *path)
{
    trove_store *s = NULL;
    trove_error err;
    int rc = trove_store_open(path, TROVE_STORE_CREATE, &s, &err);
    if (rc != TROVE_OK)
        print_error("open %s: %s\n", path, err.msg);
    assert_int_equal(rc, TROVE_OK);
    assert_non_null(s);
    return s;
}

/* Overwrite 4 big-endian bytes of the database header (user_version lives at
 * offset 60, application_id at 68). */
static void patch_header_u32(const char *path, long offset, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, offset, SEEK_SET), 0);
    assert_int_equal(fwrite(b, 1, 4, f), 4);
    assert_int_equal(fclose(f), 0);
}

/* ------------------------------------------------------------ open/close */

static void test_create_open_reopen(void **state)
{
    trove_store *s = NULL;
    trove_error err;
    int64_t id, id2;
    int created = -1;
    const char *path = fresh_path("reopen");
    (void)state;

    /* Opening a missing store without CREATE is an error, not a new file. */
    assert_int_equal(trove_store_open(path, 0, &s, &err), TROVE_ENOTFOUND);
    assert_null(s);
    assert_non_null(strstr(err.msg, "no such store"));
    assert_non_null(strstr(err.msg, path));

    s = create_store(path);
    assert_int_equal(trove_store_schema_version(s), trove_store_schema_latest());
    assert_true(trove_store_schema_latest() >= 2);
    assert_int_equal(trove_store_market_upsert(s, "DE", "Germany", "Europe/Berlin",
                                               &id, &created, &err), TROVE_OK);
    assert_int_equal(created, 1);
    assert_true(id > 0);
    trove_store_close(s);
    trove_store_close(NULL);

    s = NULL;
    assert_int_equal(trove_store_open(path, 0, &s, &err), TROVE_OK);
    assert_int_equal(trove_store_market_find(s, "DE", &id2, &err), TROVE_OK);
    assert_int_equal(id2, id);
    trove_store_close(s);

    /* "sqlite:PATH" names the same file. */
    char uri[600];
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    s = NULL;
    assert_int_equal(trove_store_open(uri, 0, &s, &err), TROVE_OK);
    assert_int_equal(trove_store_market_find(s, "DE", &id2, &err), TROVE_OK);
    assert_int_equal(id2, id);
    trove_store_close(s);
}

static void test_uri_schemes(void **state)
{
    trove_store *s = NULL;
    trove_error err;
    (void)state;
    assert_int_equal(trove_store_open("postgres://db.example/trove",
                                      TROVE_STORE_CREATE, &s, &err),
                     TROVE_EUNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(err.msg, "postgres://db.example/trove"));
    assert_int_equal(trove_store_open("", TROVE_STORE_CREATE, &s, &err),
                     TROVE_EINVAL);
    assert_int_equal(trove_store_open(NULL, 0, &s, &err), TROVE_EINVAL);
    assert_int_equal(trove_store_open("sqlite:", TROVE_STORE_CREATE, &s, &err),
                     TROVE_EINVAL);
    /* A ':' in a plain path is not a scheme. */
    const char *odd = testutil_tmp_path("a:b.db");
    assert_int_equal(trove_store_open(odd, TROVE_STORE_CREATE, &s, &err), TROVE_OK);
    trove_store_close(s);
    s = NULL;
    assert_int_equal(trove_store_open(odd, TROVE_STORE_READONLY | TROVE_STORE_CREATE,
                                      &s, &err), TROVE_EINVAL);
    assert_null(s);
}

static void test_newer_schema_refused(void **state)
{
    trove_store *s;
    trove_error err;
    char want[700];
    const char *path = fresh_path("newer");
    (void)state;

    s = create_store(path);
    trove_store_close(s);
    patch_header_u32(path, 60, 7);
    s = NULL;
    assert_int_equal(trove_store_open(path, 0, &s, &err), TROVE_EVERSION);
    assert_null(s);
    snprintf(want, sizeof want, "%s: schema version 7 is newer than this trove (%d)",
             path, trove_store_schema_latest());
    assert_string_equal(err.msg, want);
    assert_int_equal(trove_store_open(path, TROVE_STORE_READONLY, &s, &err),
                     TROVE_EVERSION);
    assert_int_equal(trove_store_open(path, TROVE_STORE_CREATE, &s, &err),
                     TROVE_EVERSION);
    assert_null(s);
}

static void test_not_a_store(void **state)
{
    trove_store *s = NULL;
    trove_error err;
    const char *text = fresh_path("text");
    const char *empty = fresh_path("empty");
    const char *foreign = fresh_path("foreign");
    (void)state;

    assert_int_equal(testutil_write_file(text, "user,item,rating\n1,2,5\n"
                                         "this is not an SQLite file at all, "
                                         "just some text long enough to have "
                                         "a header's worth of bytes in it.\n"), 0);
    assert_int_equal(trove_store_open(text, 0, &s, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, text));
    assert_non_null(strstr(err.msg, "not a trove store"));
    assert_int_equal(trove_store_open(text, TROVE_STORE_CREATE, &s, &err),
                     TROVE_EFORMAT);
    assert_int_equal(trove_store_open(text, TROVE_STORE_READONLY, &s, &err),
                     TROVE_EFORMAT);
    assert_null(s);

    /* An empty file is not a store unless we are asked to create one. */
    assert_int_equal(testutil_write_file(empty, ""), 0);
    assert_int_equal(trove_store_open(empty, 0, &s, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "not a trove store"));
    assert_int_equal(trove_store_open(empty, TROVE_STORE_CREATE, &s, &err), TROVE_OK);
    trove_store_close(s);
    s = NULL;

    /* An SQLite file of another application (application_id patched). */
    s = create_store(foreign);
    trove_store_close(s);
    s = NULL;
    patch_header_u32(foreign, 68, 0x12345678);
    assert_int_equal(trove_store_open(foreign, 0, &s, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "application id"));

    /* A directory. */
    assert_int_not_equal(trove_store_open(testutil_tmp_path(""), 0, &s, &err),
                         TROVE_OK);
    assert_null(s);
}

static void test_migration_from_older(void **state)
{
    trove_store *s = NULL;
    trove_store_stats st;
    trove_error err;
    int64_t id;
    const char *path = fresh_path("older");
    (void)state;

    assert_int_equal(trove__store_open_at(path, TROVE_STORE_CREATE, 1, &s, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_schema_version(s), 1);
    assert_int_equal(trove_store_market_upsert(s, "FR", NULL, NULL, &id, NULL, &err),
                     TROVE_OK);
    /* version 1 has no model registry yet */
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_ESTORE);
    assert_non_null(strstr(err.msg, "model_versions"));
    trove_store_close(s);

    s = NULL;
    assert_int_equal(trove_store_open(path, TROVE_STORE_READONLY, &s, &err),
                     TROVE_EVERSION);
    assert_non_null(strstr(err.msg, "older"));
    assert_int_equal(trove_store_open(path, 0, &s, &err), TROVE_OK);
    assert_int_equal(trove_store_schema_version(s), trove_store_schema_latest());
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.schema_version, trove_store_schema_latest());
    assert_int_equal(st.markets, 1);
    assert_int_equal(st.model_versions, 0);
    assert_int_equal(st.cycles, 0);
    trove_store_close(s);
}

/* ------------------------------------------------------- entities, finds */

typedef struct collect {
    char text[1024];
    int n;
    int stop_at;     /* stop (return 42) at this call if > 0 */
} collect;

static int collect_market(void *ud, const trove_market *m)
{
    collect *c = ud;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof c->text - len, "%s|%s|%s;", m->code, m->name,
             m->timezone);
    return ++c->n == c->stop_at ? 42 : 0;
}

static int collect_user(void *ud, const trove_user *u)
{
    collect *c = ud;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof c->text - len, "%lld:%s@%lld;", (long long)u->id,
             u->ext_id, (long long)u->market_id);
    return ++c->n == c->stop_at ? 42 : 0;
}

static int collect_item(void *ud, const trove_item *it)
{
    collect *c = ud;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof c->text - len, "%s'%s'%d%d%d;", it->ext_id,
             it->title, it->active, it->pinned, it->blocked);
    return ++c->n == c->stop_at ? 42 : 0;
}

static int collect_feature(void *ud, const trove_feature_value *fv)
{
    collect *c = ud;
    size_t len = strlen(c->text);
    snprintf(c->text + len, sizeof c->text - len, "%lld:%s=%g(%d);",
             (long long)fv->entity_id, fv->name, fv->value, fv->kind);
    return ++c->n == c->stop_at ? 42 : 0;
}

static void test_markets_users_items(void **state)
{
    trove_store *s = create_store(fresh_path("entities"));
    trove_error err;
    int64_t de, uk, u1, u1b, u2, i1, i1b, id;
    int created;
    collect c;
    (void)state;

    assert_int_equal(trove_store_market_upsert(s, "UK", "United Kingdom", NULL,
                                               &uk, &created, &err), TROVE_OK);
    assert_int_equal(created, 1);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, "Europe/Berlin",
                                               &de, &created, &err), TROVE_OK);
    assert_int_equal(created, 1);
    assert_int_not_equal(de, uk);
    assert_int_equal(trove_store_market_upsert(s, "DE", "Germany", NULL, &id,
                                               &created, &err), TROVE_OK);
    assert_int_equal(created, 0);
    assert_int_equal(id, de);
    memset(&c, 0, sizeof c);
    assert_int_equal(trove_store_markets_foreach(s, collect_market, &c, &err), 0);
    assert_string_equal(c.text, "DE|Germany|Europe/Berlin;UK|United Kingdom|UTC;");
    memset(&c, 0, sizeof c);
    c.stop_at = 1;
    assert_int_equal(trove_store_markets_foreach(s, collect_market, &c, &err), 42);
    assert_int_equal(c.n, 1);
    assert_int_equal(trove_store_market_find(s, "XX", &id, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "XX"));
    assert_int_equal(trove_store_market_upsert(s, "", NULL, NULL, &id, NULL, &err),
                     TROVE_EINVAL);
    char longcode[100];
    memset(longcode, 'x', 99);
    longcode[99] = '\0';
    assert_int_equal(trove_store_market_upsert(s, longcode, NULL, NULL, &id, NULL,
                                               &err), TROVE_EINVAL);

    assert_int_equal(trove_store_user_upsert(s, "17850", uk, &u1, &created, &err),
                     TROVE_OK);
    assert_int_equal(created, 1);
    assert_int_equal(trove_store_user_upsert(s, "17850", 0, &u1b, &created, &err),
                     TROVE_OK);
    assert_int_equal(created, 0);
    assert_int_equal(u1b, u1);
    assert_int_equal(trove_store_user_upsert(s, "12583", 0, &u2, NULL, &err),
                     TROVE_OK);
    /* moving a user to another market, and a market that does not exist */
    assert_int_equal(trove_store_user_upsert(s, "12583", de, &id, NULL, &err),
                     TROVE_OK);
    assert_int_equal(id, u2);
    assert_int_equal(trove_store_user_upsert(s, "12583", 999, &id, NULL, &err),
                     TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "999"));
    assert_int_equal(trove_store_user_upsert(s, "new", 999, &id, NULL, &err),
                     TROVE_ENOTFOUND);
    assert_int_equal(trove_store_user_find(s, "new", &id, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_user_find(s, "12583", &id, &err), TROVE_OK);
    assert_int_equal(id, u2);
    memset(&c, 0, sizeof c);
    assert_int_equal(trove_store_users_foreach(s, collect_user, &c, &err), 0);
    char want[256];
    snprintf(want, sizeof want, "%lld:17850@%lld;%lld:12583@%lld;", (long long)u1,
             (long long)uk, (long long)u2, (long long)de);
    assert_string_equal(c.text, want);

    assert_int_equal(trove_store_item_upsert(s, "85123A", "WHITE HANGING HEART",
                                             &i1, &created, &err), TROVE_OK);
    assert_int_equal(created, 1);
    assert_int_equal(trove_store_item_upsert(s, "85123A", NULL, &i1b, &created, &err),
                     TROVE_OK);
    assert_int_equal(created, 0);
    assert_int_equal(i1b, i1);
    assert_int_equal(trove_store_item_upsert(s, "22423", NULL, &id, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_item_upsert(s, "22423", "REGENCY CAKESTAND",
                                             &id, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_item_find(s, "85123A", &id, &err), TROVE_OK);
    assert_int_equal(id, i1);
    assert_int_equal(trove_store_item_find(s, "nope", &id, &err), TROVE_ENOTFOUND);
    memset(&c, 0, sizeof c);
    assert_int_equal(trove_store_items_foreach(s, collect_item, &c, &err), 0);
    assert_string_equal(c.text, "85123A'WHITE HANGING HEART'100;"
                                "22423'REGENCY CAKESTAND'100;");
    trove_store_close(s);
}

static void test_features(void **state)
{
    trove_store *s = create_store(fresh_path("features"));
    trove_error err;
    int64_t u, i, f_age, f_occ, f_comedy, f_drama, id;
    collect c;
    (void)state;

    assert_int_equal(trove_store_user_upsert(s, "u1", 0, &u, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_item_upsert(s, "m1", "Toy Story", &i, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_USER, "age",
                                                TROVE_FEATURE_NUMERIC, &f_age, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_USER,
                                                "occupation=writer",
                                                TROVE_FEATURE_CATEGORICAL, &f_occ,
                                                &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "genre=Comedy",
                                                TROVE_FEATURE_CATEGORICAL, &f_comedy,
                                                &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "genre=Drama",
                                                TROVE_FEATURE_CATEGORICAL, &f_drama,
                                                &err), TROVE_OK);
    /* same name under the other target is another feature */
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "age",
                                                TROVE_FEATURE_NUMERIC, &id, &err),
                     TROVE_OK);
    assert_int_not_equal(id, f_age);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_USER, "age",
                                                TROVE_FEATURE_NUMERIC, &id, &err),
                     TROVE_OK);
    assert_int_equal(id, f_age);
    /* a feature keeps its kind */
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_USER, "age",
                                                TROVE_FEATURE_CATEGORICAL, &id, &err),
                     TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "numeric"));
    assert_int_equal(trove_store_feature_upsert(s, 3, "x", TROVE_FEATURE_NUMERIC,
                                                &id, &err), TROVE_EINVAL);

    assert_int_equal(trove_store_user_feature_set(s, u, f_age, 31, &err), TROVE_OK);
    assert_int_equal(trove_store_user_feature_set(s, u, f_occ, 1, &err), TROVE_OK);
    assert_int_equal(trove_store_user_feature_set(s, u, f_age, 32, &err), TROVE_OK);
    assert_int_equal(trove_store_item_feature_set(s, i, f_comedy, 1, &err), TROVE_OK);
    /* wrong target, unknown entity, non-finite value */
    assert_int_equal(trove_store_user_feature_set(s, u, f_comedy, 1, &err),
                     TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "not a user feature"));
    assert_int_equal(trove_store_item_feature_set(s, 777, f_drama, 1, &err),
                     TROVE_ENOTFOUND);
    assert_int_equal(trove_store_item_feature_set(s, i, f_drama, 0.0 / 0.0, &err),
                     TROVE_EINVAL);

    memset(&c, 0, sizeof c);
    assert_int_equal(trove_store_features_foreach(s, TROVE_FEATURE_USER,
                                                  collect_feature, &c, &err), 0);
    char want[256];
    snprintf(want, sizeof want, "%lld:age=32(2);%lld:occupation=writer=1(1);",
             (long long)u, (long long)u);
    assert_string_equal(c.text, want);
    memset(&c, 0, sizeof c);
    assert_int_equal(trove_store_features_foreach(s, TROVE_FEATURE_ITEM,
                                                  collect_feature, &c, &err), 0);
    snprintf(want, sizeof want, "%lld:genre=Comedy=1(1);", (long long)i);
    assert_string_equal(c.text, want);

    trove_store_stats st;
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.user_features, 2);
    assert_int_equal(st.item_features, 3);
    trove_store_close(s);
}

static void test_item_flags(void **state)
{
    trove_store *s = create_store(fresh_path("flags"));
    trove_error err;
    trove_item it, f;
    int64_t i, j;
    (void)state;

    assert_int_equal(trove_store_item_upsert(s, "offer-1", "10% off", &i, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_item_upsert(s, "offer-2", NULL, &j, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_item_get(s, i, &it, &err), TROVE_OK);
    assert_string_equal(it.ext_id, "offer-1");
    assert_string_equal(it.title, "10% off");
    assert_int_equal(it.id, i);
    assert_int_equal(it.active, 1);
    assert_int_equal(it.pinned, 0);
    assert_int_equal(it.blocked, 0);
    assert_int_equal(it.start_ts, 0);
    assert_int_equal(it.end_ts, 0);
    assert_true(it.created_ts > 1600000000);

    memset(&f, 0, sizeof f);
    f.pinned = 1;
    f.start_ts = 1700000000;
    f.active = 0;     /* not in the mask: must not be written */
    assert_int_equal(trove_store_item_set_flags(s, i, &f,
                                                TROVE_ITEM_PINNED | TROVE_ITEM_START_TS,
                                                &err), TROVE_OK);
    assert_int_equal(trove_store_item_get(s, i, &it, &err), TROVE_OK);
    assert_int_equal(it.active, 1);
    assert_int_equal(it.pinned, 1);
    assert_int_equal(it.start_ts, 1700000000);
    assert_int_equal(it.end_ts, 0);
    f.active = 0;
    f.blocked = 1;
    f.end_ts = 1800000000;
    assert_int_equal(trove_store_item_set_flags(s, j, &f,
                                                TROVE_ITEM_ACTIVE | TROVE_ITEM_BLOCKED |
                                                TROVE_ITEM_END_TS, &err), TROVE_OK);
    assert_int_equal(trove_store_item_get(s, j, &it, &err), TROVE_OK);
    assert_string_equal(it.title, "");
    assert_int_equal(it.active, 0);
    assert_int_equal(it.blocked, 1);
    assert_int_equal(it.pinned, 0);
    assert_int_equal(it.start_ts, 0);
    assert_int_equal(it.end_ts, 1800000000);

    assert_int_equal(trove_store_item_set_flags(s, 999, &f, TROVE_ITEM_ACTIVE, &err),
                     TROVE_ENOTFOUND);
    assert_int_equal(trove_store_item_set_flags(s, 999, &f, 0, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_item_get(s, 999, &it, &err), TROVE_ENOTFOUND);
    f.active = 2;
    assert_int_equal(trove_store_item_set_flags(s, i, &f, TROVE_ITEM_ACTIVE, &err),
                     TROVE_EINVAL);
    assert_int_equal(trove_store_item_set_flags(s, i, &f, 1u << 9, &err),
                     TROVE_EINVAL);

    trove_store_stats st;
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.items, 2);
    assert_int_equal(st.items_active, 1);
    assert_int_equal(st.items_pinned, 1);
    assert_int_equal(st.items_blocked, 1);
    trove_store_close(s);
}

/* ---------------------------------------------------------------- events */

typedef struct event_log {
    trove_event ev[64];
    int n;
    int stop_at;
} event_log;

static int collect_event(void *ud, const trove_event *ev)
{
    event_log *l = ud;
    if (l->n < 64)
        l->ev[l->n] = *ev;
    return ++l->n == l->stop_at ? 7 : 0;
}

static void test_events_idempotent(void **state)
{
    trove_store *s = create_store(fresh_path("events"));
    trove_error err;
    trove_event ev;
    event_log log;
    int64_t u, i, m;
    int inserted = -1;
    (void)state;

    assert_int_equal(trove_store_market_upsert(s, "UK", NULL, NULL, &m, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_user_upsert(s, "u", m, &u, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_item_upsert(s, "i", NULL, &i, NULL, &err), TROVE_OK);
    memset(&ev, 0, sizeof ev);
    ev.id = UINT64_C(0xfedcba9876543210);   /* high bit set: stored signed */
    ev.user_id = u;
    ev.item_id = i;
    ev.type = TROVE_EVENT_PURCHASE;
    ev.value = 6;
    ev.ts = 1291191960;
    ev.market_id = m;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_OK);
    assert_int_equal(inserted, 1);
    ev.value = 99;                          /* same id, other content */
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_OK);
    assert_int_equal(inserted, 0);
    assert_int_equal(trove_store_event_add(s, &ev, NULL, &err), TROVE_OK);

    memset(&log, 0, sizeof log);
    assert_int_equal(trove_store_events_foreach(s, NULL, collect_event, &log, &err), 0);
    assert_int_equal(log.n, 1);
    assert_true(log.ev[0].id == UINT64_C(0xfedcba9876543210));
    assert_true(log.ev[0].value == 6.0);
    assert_int_equal(log.ev[0].market_id, m);
    assert_int_equal(log.ev[0].ts, 1291191960);

    /* an event without market, id 0 */
    ev.id = 0;
    ev.market_id = 0;
    ev.type = TROVE_EVENT_RATING;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_OK);
    assert_int_equal(inserted, 1);

    /* unknown user/item/market, bad type, non-finite value */
    ev.id = 5;
    ev.user_id = 12345;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "12345"));
    ev.user_id = u;
    ev.market_id = 77;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_ENOTFOUND);
    ev.market_id = 0;
    ev.type = 0;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_EINVAL);
    ev.type = TROVE_EVENT_TYPE_MAX + 1;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_EINVAL);
    ev.type = TROVE_EVENT_CLICK;
    ev.value = 1.0 / 0.0;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_EINVAL);

    trove_store_stats st;
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.events, 2);
    trove_store_close(s);
}

static void test_event_type_names(void **state)
{
    int t = -1;
    (void)state;
    for (int i = 1; i <= TROVE_EVENT_TYPE_MAX; i++) {
        assert_int_equal(trove_event_type_parse(trove_event_type_name(i), &t),
                         TROVE_OK);
        assert_int_equal(t, i);
    }
    assert_string_equal(trove_event_type_name(TROVE_EVENT_REDEMPTION), "redemption");
    assert_string_equal(trove_event_type_name(TROVE_EVENT_RETURN), "return");
    assert_string_equal(trove_event_type_name(0), "unknown");
    assert_string_equal(trove_event_type_name(99), "unknown");
    t = -1;
    assert_int_equal(trove_event_type_parse("Rating", &t), TROVE_EINVAL);
    assert_int_equal(trove_event_type_parse("unknown", &t), TROVE_EINVAL);
    assert_int_equal(t, -1);
}

static void add_event(trove_store *s, uint64_t id, int64_t u, int64_t i, int type,
                      int64_t ts, int64_t m)
{
    trove_event ev = {id, u, i, type, 1.0, ts, m};
    trove_error err;
    int inserted = 0;
    assert_int_equal(trove_store_event_add(s, &ev, &inserted, &err), TROVE_OK);
    assert_int_equal(inserted, 1);
}

static void test_events_foreach_filters(void **state)
{
    trove_store *s = create_store(fresh_path("filters"));
    trove_error err;
    trove_event_filter f;
    event_log log;
    int64_t a, b, u, i;
    (void)state;

    assert_int_equal(trove_store_market_upsert(s, "A", NULL, NULL, &a, NULL, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "B", NULL, NULL, &b, NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "u", a, &u, NULL, &err), 0);
    assert_int_equal(trove_store_item_upsert(s, "i", NULL, &i, NULL, &err), 0);
    assert_int_equal(trove_store_begin(s, &err), TROVE_OK);
    /* id, type, ts, market; inserted out of order */
    add_event(s, 50, u, i, TROVE_EVENT_CLICK, 300, a);
    add_event(s, 10, u, i, TROVE_EVENT_IMPRESSION, 100, a);
    add_event(s, 30, u, i, TROVE_EVENT_PURCHASE, 200, b);
    add_event(s, 20, u, i, TROVE_EVENT_CLICK, 200, a);
    add_event(s, 40, u, i, TROVE_EVENT_RATING, 400, 0);
    add_event(s, 60, u, i, TROVE_EVENT_RETURN, 500, b);
    assert_int_equal(trove_store_commit(s, &err), TROVE_OK);

    /* all, in (ts, id) order */
    memset(&log, 0, sizeof log);
    assert_int_equal(trove_store_events_foreach(s, NULL, collect_event, &log, &err), 0);
    assert_int_equal(log.n, 6);
    const uint64_t order[6] = {10, 20, 30, 50, 40, 60};
    for (int k = 0; k < 6; k++)
        assert_true(log.ev[k].id == order[k]);

    memset(&f, 0, sizeof f);
    f.market_id = a;
    memset(&log, 0, sizeof log);
    assert_int_equal(trove_store_events_foreach(s, &f, collect_event, &log, &err), 0);
    assert_int_equal(log.n, 3);
    assert_true(log.ev[0].id == 10 && log.ev[1].id == 20 && log.ev[2].id == 50);

    memset(&f, 0, sizeof f);
    f.ts_from = 200;
    f.ts_to = 400;      /* exclusive */
    memset(&log, 0, sizeof log);
    assert_int_equal(trove_store_events_foreach(s, &f, collect_event, &log, &err), 0);
    assert_int_equal(log.n, 3);
    assert_true(log.ev[0].id == 20 && log.ev[1].id == 30 && log.ev[2].id == 50);

    memset(&f, 0, sizeof f);
    f.type_mask = TROVE_EVENT_MASK(TROVE_EVENT_CLICK) |
                  TROVE_EVENT_MASK(TROVE_EVENT_RETURN);
    memset(&log, 0, sizeof log);
    assert_int_equal(trove_store_events_foreach(s, &f, collect_event, &log, &err), 0);
    assert_int_equal(log.n, 3);
    assert_true(log.ev[0].id == 20 && log.ev[1].id == 50 && log.ev[2].id == 60);

    /* all filters at once */
    f.market_id = b;
    f.ts_from = 250;
    f.ts_to = 0;
    memset(&log, 0, sizeof log);
    assert_int_equal(trove_store_events_foreach(s, &f, collect_event, &log, &err), 0);
    assert_int_equal(log.n, 1);
    assert_true(log.ev[0].id == 60);
    assert_int_equal(log.ev[0].type, TROVE_EVENT_RETURN);

    /* the callback stops the walk */
    memset(&log, 0, sizeof log);
    log.stop_at = 2;
    assert_int_equal(trove_store_events_foreach(s, NULL, collect_event, &log, &err), 7);
    assert_int_equal(log.n, 2);

    f.type_mask = 1u;   /* bit 0 is no event type */
    assert_int_equal(trove_store_events_foreach(s, &f, collect_event, &log, &err),
                     TROVE_EINVAL);
    trove_store_close(s);
}

/* ---------------------------------------------------------- transactions */

static void test_rollback_and_caches(void **state)
{
    const char *path = fresh_path("rollback");
    trove_store *s = create_store(path);
    trove_store_stats st;
    trove_error err;
    int64_t m, u, i, u2, id;
    int created;
    (void)state;

    assert_int_equal(trove_store_market_upsert(s, "UK", NULL, NULL, &m, NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "kept", m, &u, NULL, &err), 0);

    assert_int_equal(trove_store_begin(s, &err), TROVE_OK);
    assert_int_equal(trove_store_begin(s, &err), TROVE_EINVAL);   /* no nesting */
    assert_int_equal(trove_store_user_upsert(s, "gone", m, &u2, &created, &err), 0);
    assert_int_equal(created, 1);
    assert_int_equal(trove_store_item_upsert(s, "gone-item", "x", &i, NULL, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &id, NULL, &err), 0);
    add_event(s, 1, u2, i, TROVE_EVENT_CLICK, 10, m);
    /* the cache knows "gone" inside the transaction */
    assert_int_equal(trove_store_user_find(s, "gone", &id, &err), TROVE_OK);
    assert_int_equal(id, u2);
    assert_int_equal(trove_store_rollback(s, &err), TROVE_OK);

    assert_int_equal(trove_store_user_find(s, "gone", &id, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_item_find(s, "gone-item", &id, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_market_find(s, "DE", &id, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_user_find(s, "kept", &id, &err), TROVE_OK);
    assert_int_equal(id, u);
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.users, 1);
    assert_int_equal(st.items, 0);
    assert_int_equal(st.events, 0);
    assert_int_equal(st.markets, 1);

    /* after the rollback, upserts create again (the caches were dropped) */
    assert_int_equal(trove_store_user_upsert(s, "gone", m, &u2, &created, &err), 0);
    assert_int_equal(created, 1);
    assert_int_equal(trove_store_item_upsert(s, "gone-item", NULL, &i, &created, &err), 0);
    assert_int_equal(created, 1);
    add_event(s, 1, u2, i, TROVE_EVENT_CLICK, 10, m);

    /* ids seen by an event inside a rolled-back transaction are forgotten:
     * the rowid of a rolled-back user is not "known" afterwards */
    {
        int64_t ghost, ghost_item;
        trove_event ev = {900, 0, 0, TROVE_EVENT_CLICK, 1, 20, 0};
        assert_int_equal(trove_store_begin(s, &err), TROVE_OK);
        assert_int_equal(trove_store_user_upsert(s, "ghost", 0, &ghost, NULL, &err), 0);
        assert_int_equal(trove_store_item_upsert(s, "ghost-item", NULL, &ghost_item,
                                                 NULL, &err), 0);
        ev.user_id = ghost;
        ev.item_id = ghost_item;
        assert_int_equal(trove_store_event_add(s, &ev, NULL, &err), TROVE_OK);
        assert_int_equal(trove_store_rollback(s, &err), TROVE_OK);
        ev.id = 901;
        assert_int_equal(trove_store_event_add(s, &ev, NULL, &err), TROVE_ENOTFOUND);
        assert_non_null(strstr(err.msg, "is not in the store"));
    }

    /* commit/rollback without a transaction */
    assert_int_equal(trove_store_commit(s, &err), TROVE_EINVAL);
    assert_int_equal(trove_store_rollback(s, &err), TROVE_OK);

    /* a failing call inside a transaction leaves the transaction usable */
    assert_int_equal(trove_store_begin(s, &err), TROVE_OK);
    assert_int_equal(trove_store_user_upsert(s, "bad", 4242, &id, NULL, &err),
                     TROVE_ENOTFOUND);
    assert_int_equal(trove_store_user_upsert(s, "good", m, &id, &created, &err), 0);
    assert_int_equal(created, 1);
    assert_int_equal(trove_store_commit(s, &err), TROVE_OK);
    trove_store_close(s);

    s = NULL;
    assert_int_equal(trove_store_open(path, 0, &s, &err), TROVE_OK);
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.users, 3);
    assert_int_equal(st.items, 1);
    assert_int_equal(st.events, 1);
    assert_int_equal(trove_store_user_find(s, "bad", &id, &err), TROVE_ENOTFOUND);
    trove_store_close(s);
}

static void test_two_handles(void **state)
{
    const char *path = fresh_path("two");
    trove_store *a = create_store(path), *b = NULL;
    trove_error err;
    int64_t m, ua, ub, id;
    int created;
    (void)state;

    assert_int_equal(trove_store_open(path, 0, &b, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(a, "UK", NULL, NULL, &m, NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(a, "x", 0, &ua, NULL, &err), 0);
    /* b loads its cache, then a adds a user b has not seen */
    assert_int_equal(trove_store_user_upsert(b, "x", 0, &id, &created, &err), 0);
    assert_int_equal(id, ua);
    assert_int_equal(created, 0);
    assert_int_equal(trove_store_user_upsert(a, "y", 0, &ua, NULL, &err), 0);
    assert_int_equal(trove_store_user_find(b, "y", &id, &err), TROVE_OK);
    assert_int_equal(id, ua);
    assert_int_equal(trove_store_user_upsert(b, "y", 0, &ub, &created, &err), 0);
    assert_int_equal(ub, ua);
    assert_int_equal(created, 0);
    /* a moves y to UK; b, which cached y without market, then sets it too */
    assert_int_equal(trove_store_user_upsert(a, "y", m, &id, NULL, &err), 0);
    assert_int_equal(trove_store_begin(b, &err), TROVE_OK);
    assert_int_equal(trove_store_user_upsert(b, "y", 0, &id, NULL, &err), 0);
    assert_int_equal(trove_store_commit(b, &err), TROVE_OK);

    /* while b holds the write lock, a waits and then fails with EBUSY only
     * after the busy timeout: not exercised here (5 s); a read goes on. */
    assert_int_equal(trove_store_begin(b, &err), TROVE_OK);
    assert_int_equal(trove_store_user_upsert(b, "z", 0, &id, NULL, &err), 0);
    assert_int_equal(trove_store_user_find(a, "z", &id, &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_store_commit(b, &err), TROVE_OK);
    assert_int_equal(trove_store_user_find(a, "z", &id, &err), TROVE_OK);
    trove_store_close(b);
    trove_store_close(a);
}

/* ----------------------------------------------------------------- stats */

static void test_stats(void **state)
{
    trove_store *s = create_store(fresh_path("stats"));
    trove_store_stats st;
    trove_error err;
    int64_t uk, de, fr, u[4], it[2], f;
    (void)state;

    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.events, 0);
    assert_int_equal(st.first_ts, 0);
    assert_int_equal(st.last_ts, 0);
    assert_int_equal(st.n_market_stats, 0);

    assert_int_equal(trove_store_market_upsert(s, "UK", NULL, NULL, &uk, NULL, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &de, NULL, &err), 0);
    assert_int_equal(trove_store_market_upsert(s, "FR", NULL, NULL, &fr, NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "a", uk, &u[0], NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "b", uk, &u[1], NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "c", de, &u[2], NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "d", 0, &u[3], NULL, &err), 0);
    assert_int_equal(trove_store_item_upsert(s, "i", NULL, &it[0], NULL, &err), 0);
    assert_int_equal(trove_store_item_upsert(s, "j", NULL, &it[1], NULL, &err), 0);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "genre=x",
                                                TROVE_FEATURE_CATEGORICAL, &f, &err), 0);
    assert_int_equal(trove_store_begin(s, &err), 0);
    add_event(s, 1, u[0], it[0], TROVE_EVENT_PURCHASE, 1000, uk);
    add_event(s, 2, u[1], it[1], TROVE_EVENT_PURCHASE, 1500, uk);
    add_event(s, 3, u[2], it[0], TROVE_EVENT_RETURN, 900, de);
    add_event(s, 4, u[2], it[0], TROVE_EVENT_PURCHASE, 950, de);
    add_event(s, 5, u[2], it[1], TROVE_EVENT_CLICK, 2000, de);
    add_event(s, 6, u[3], it[1], TROVE_EVENT_RATING, 3000, 0);
    assert_int_equal(trove_store_commit(s, &err), 0);

    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.schema_version, trove_store_schema_latest());
    assert_int_equal(st.users, 4);
    assert_int_equal(st.items, 2);
    assert_int_equal(st.markets, 3);
    assert_int_equal(st.user_features, 0);
    assert_int_equal(st.item_features, 1);
    assert_int_equal(st.events, 6);
    assert_int_equal(st.events_by_type[TROVE_EVENT_PURCHASE], 3);
    assert_int_equal(st.events_by_type[TROVE_EVENT_RETURN], 1);
    assert_int_equal(st.events_by_type[TROVE_EVENT_CLICK], 1);
    assert_int_equal(st.events_by_type[TROVE_EVENT_RATING], 1);
    assert_int_equal(st.events_by_type[TROVE_EVENT_IMPRESSION], 0);
    assert_int_equal(st.items_active, 2);
    assert_int_equal(st.first_ts, 900);
    assert_int_equal(st.last_ts, 3000);
    /* markets by events, descending: DE 3, UK 2, FR 0 */
    assert_int_equal(st.n_market_stats, 3);
    assert_string_equal(st.market_stats[0].code, "DE");
    assert_int_equal(st.market_stats[0].events, 3);
    assert_int_equal(st.market_stats[0].users, 1);
    assert_string_equal(st.market_stats[1].code, "UK");
    assert_int_equal(st.market_stats[1].events, 2);
    assert_int_equal(st.market_stats[1].users, 2);
    assert_string_equal(st.market_stats[2].code, "FR");
    assert_int_equal(st.market_stats[2].events, 0);
    assert_int_equal(st.market_stats[2].users, 0);
    trove_store_close(s);
}

/* ------------------------------------------------------------- read-only */

static void test_readonly(void **state)
{
    const char *path = fresh_path("ro");
    trove_store *s = create_store(path);
    trove_store_stats st;
    trove_error err;
    trove_event ev = {1, 1, 1, TROVE_EVENT_CLICK, 1, 10, 0};
    trove_item flags;
    int64_t m, u, i, id, f;
    (void)state;

    assert_int_equal(trove_store_market_upsert(s, "UK", NULL, NULL, &m, NULL, &err), 0);
    assert_int_equal(trove_store_user_upsert(s, "u", m, &u, NULL, &err), 0);
    assert_int_equal(trove_store_item_upsert(s, "i", "t", &i, NULL, &err), 0);
    add_event(s, 1, u, i, TROVE_EVENT_CLICK, 10, m);
    trove_store_close(s);

    s = NULL;
    assert_int_equal(trove_store_open(path, TROVE_STORE_READONLY, &s, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(s, "DE", NULL, NULL, &id, NULL, &err),
                     TROVE_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "read-only"));
    assert_int_equal(trove_store_user_upsert(s, "v", 0, &id, NULL, &err),
                     TROVE_EUNSUPPORTED);
    assert_int_equal(trove_store_item_upsert(s, "j", NULL, &id, NULL, &err),
                     TROVE_EUNSUPPORTED);
    memset(&flags, 0, sizeof flags);
    assert_int_equal(trove_store_item_set_flags(s, i, &flags, TROVE_ITEM_ACTIVE, &err),
                     TROVE_EUNSUPPORTED);
    assert_int_equal(trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, "x",
                                                TROVE_FEATURE_NUMERIC, &f, &err),
                     TROVE_EUNSUPPORTED);
    assert_int_equal(trove_store_item_feature_set(s, i, 1, 1, &err), TROVE_EUNSUPPORTED);
    assert_int_equal(trove_store_user_feature_set(s, u, 1, 1, &err), TROVE_EUNSUPPORTED);
    assert_int_equal(trove_store_event_add(s, &ev, NULL, &err), TROVE_EUNSUPPORTED);
    /* reads work, also inside a read transaction */
    assert_int_equal(trove_store_begin(s, &err), TROVE_OK);
    assert_int_equal(trove_store_user_find(s, "u", &id, &err), TROVE_OK);
    assert_int_equal(id, u);
    assert_int_equal(trove_store_stats_get(s, &st, &err), TROVE_OK);
    assert_int_equal(st.events, 1);
    assert_int_equal(trove_store_commit(s, &err), TROVE_OK);
    trove_store_close(s);
}

/* ---------------------------------------------------------------- faults */

static void test_fault_open(void **state)
{
    const char *path = fresh_path("fault-open");
    trove_store *s = create_store(path);
    trove_error err;
    int64_t id;
    long k;
    (void)state;
    assert_int_equal(trove_store_market_upsert(s, "UK", NULL, NULL, &id, NULL, &err), 0);
    trove_store_close(s);

    for (int create = 0; create < 2; create++) {
        for (k = 0; k < 100; k++) {
            const char *p = create ? fresh_path("fault-create") : path;
            int rc;
            s = NULL;
            testutil_fail_alloc_after(k);
            rc = trove_store_open(p, create ? TROVE_STORE_CREATE : 0, &s, &err);
            testutil_fail_alloc_after(-1);
            if (rc == TROVE_OK)
                break;
            assert_int_equal(rc, TROVE_ENOMEM);
            assert_null(s);
            assert_non_null(strstr(err.msg, "out of memory"));
        }
        assert_true(k > 0 && k < 100);
        assert_non_null(s);
        assert_int_equal(trove_store_schema_version(s), trove_store_schema_latest());
        trove_store_close(s);
    }
}

/* One batch of writes in a transaction, as an ingest would do it. */
static int write_batch(trove_store *s, int round, trove_error *err)
{
    int64_t m, u, i, f;
    int rc;
    char name[32];
    if ((rc = trove_store_market_upsert(s, "UK", NULL, NULL, &m, NULL, err)) != 0)
        return rc;
    for (int k = 0; k < 40; k++) {
        trove_event ev;
        snprintf(name, sizeof name, "user-%d", k % 13);
        if ((rc = trove_store_user_upsert(s, name, m, &u, NULL, err)) != 0)
            return rc;
        snprintf(name, sizeof name, "item-%d-%d", k % 7, round);
        if ((rc = trove_store_item_upsert(s, name, "title", &i, NULL, err)) != 0)
            return rc;
        snprintf(name, sizeof name, "cat=%d", k % 5);
        if ((rc = trove_store_feature_upsert(s, TROVE_FEATURE_ITEM, name,
                                             TROVE_FEATURE_CATEGORICAL, &f, err)) != 0)
            return rc;
        if ((rc = trove_store_item_feature_set(s, i, f, 1.0, err)) != 0)
            return rc;
        ev.id = (uint64_t)(round * 1000 + k);
        ev.user_id = u;
        ev.item_id = i;
        ev.type = TROVE_EVENT_PURCHASE;
        ev.value = 1;
        ev.ts = 1000 + k;
        ev.market_id = m;
        if ((rc = trove_store_event_add(s, &ev, NULL, err)) != 0)
            return rc;
    }
    return TROVE_OK;
}

static void test_fault_inserts(void **state)
{
    const char *path = fresh_path("fault-insert");
    trove_store *s = create_store(path);
    trove_store_stats before, after;
    trove_error err;
    long k;
    (void)state;

    /* round 0 commits normally; round 1 is retried under failing allocations */
    assert_int_equal(trove_store_begin(s, &err), 0);
    assert_int_equal(write_batch(s, 0, &err), 0);
    assert_int_equal(trove_store_commit(s, &err), 0);
    trove_store_close(s);
    s = NULL;
    assert_int_equal(trove_store_open(path, 0, &s, &err), 0);   /* cold caches */
    assert_int_equal(trove_store_stats_get(s, &before, &err), 0);

    for (k = 0; k < 10000; k++) {
        int rc;
        assert_int_equal(trove_store_begin(s, &err), 0);
        testutil_fail_alloc_after(k);
        rc = write_batch(s, 1, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            assert_int_equal(trove_store_commit(s, &err), 0);
            break;
        }
        assert_int_equal(rc, TROVE_ENOMEM);
        assert_int_equal(trove_store_rollback(s, &err), 0);
        /* nothing half-written */
        assert_int_equal(trove_store_stats_get(s, &after, &err), 0);
        assert_int_equal(after.events, before.events);
        assert_int_equal(after.items, before.items);
        assert_int_equal(after.users, before.users);
        assert_int_equal(after.item_features, before.item_features);
    }
    assert_true(k > 0 && k < 10000);
    assert_int_equal(trove_store_stats_get(s, &after, &err), 0);
    assert_int_equal(after.events, before.events + 40);
    assert_int_equal(after.items, before.items + 7);
    assert_int_equal(after.users, before.users);

    /* outside a transaction every call stands alone: a failed upsert adds
     * nothing, a retry adds exactly one row */
    for (k = 0; k < 100; k++) {
        int64_t id;
        int rc, created = 0;
        testutil_fail_alloc_after(k);
        rc = trove_store_user_upsert(s, "solo", 0, &id, &created, &err);
        testutil_fail_alloc_after(-1);
        assert_int_equal(trove_store_stats_get(s, &before, &err), 0);
        if (rc == TROVE_OK) {
            assert_int_equal(created, 1);
            assert_int_equal(before.users, after.users + 1);
            break;
        }
        assert_int_equal(rc, TROVE_ENOMEM);
        assert_int_equal(before.users, after.users);
    }
    assert_true(k < 100);
    trove_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_open_reopen),
        cmocka_unit_test(test_uri_schemes),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_not_a_store),
        cmocka_unit_test(test_migration_from_older),
        cmocka_unit_test(test_markets_users_items),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_item_flags),
        cmocka_unit_test(test_events_idempotent),
        cmocka_unit_test(test_event_type_names),
        cmocka_unit_test(test_events_foreach_filters),
        cmocka_unit_test(test_rollback_and_caches),
        cmocka_unit_test(test_two_handles),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_fault_open),
        cmocka_unit_test(test_fault_inserts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
