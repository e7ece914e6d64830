/*
 * test_dashboard.c - the dashboard's JSON API against the real HTTP server
 * on 127.0.0.1 (ephemeral ports): GET /v1/session, /v1/markets, /v1/items
 * (search, flags, paging), POST /v1/items (CSV upload, dry run, rejected
 * rows with their lines, recommendable at once), GET /v1/cycles (the same
 * figures as trove_ab_analyze over trove_store_ab_counts), authorisation
 * with and without --public-read, bad input, and out-of-memory during
 * requests.
 */
#include "testutil.h"
#include "trove/serve.h"
#include "trove/ab.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TOKEN   "dash-token"
#define N_ITEMS 30
#define N_USERS 20
#define T0      1700000000
#define WEEK    (7 * 86400)

static trove_server *server, *public_server;
static char db_path[4096];

typedef struct reply {
    int     status;
    char   *body;    /* malloc'd */
    json_t *json;    /* parsed body or NULL */
} reply;

static reply request(uint16_t port, const char *method, const char *path,
                     const char *token, const char *ctype, const char *body)
{
    reply r = { -1, NULL, NULL };
    size_t blen = body ? strlen(body) : 0, cap = 1024 + strlen(path) + blen;
    char *req = malloc(cap);
    assert_non_null(req);
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "%s%s%s%s%s%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "",
                     ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", blen);
    if (blen)
        memcpy(req + n, body, blen);
    char *buf = testutil_http_exchange(port, req, (size_t)n + blen, NULL);
    free(req);
    r.status = testutil_http_status(buf);
    r.body = strdup(testutil_http_body(buf));
    free(buf);
    r.json = json_loads(r.body, 0, NULL);
    return r;
}

static reply get(const char *path, const char *token)
{
    return request(trove_server_port(server), "GET", path, token, NULL, NULL);
}

static reply post_csv(const char *path, const char *token, const char *csv)
{
    return request(trove_server_port(server), "POST", path, token, "text/csv",
                   csv);
}

static void reply_free(reply *r)
{
    free(r->body);
    json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

/* The error message of an error answer. */
static const char *error_message(const reply *r)
{
    json_t *m = json_object_get(json_object_get(r->json, "error"), "message");
    assert_non_null(m);
    return json_string_value(m);
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return (long long)json_integer_value(v);
}

/* ---------------------------------------------------------- fixture */
static int64_t save_model(trove_store *st, int64_t market_id)
{
    trove_error err;
    trove_model *m = NULL;
    trove_dataset *ds = NULL;
    trove_model_params p = trove_model_default_params();
    const char *path = testutil_tmp_path("dash-model.trove");
    assert_int_equal(trove_dataset_from_store(st, NULL, &ds, &err), TROVE_OK);
    const trove_csr *uf = trove_dataset_user_features(ds);
    const trove_csr *itf = trove_dataset_item_features(ds);
    p.no_components = 4;
    p.seed = 7;
    assert_int_equal(trove_model_new(&p, uf->n_cols, itf->n_cols, &m, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_fit(m, trove_dataset_interactions(ds), uf, itf,
                                     2, &err), TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                         trove_dataset_item_ids(ds),
                                         trove_dataset_user_feature_names(ds),
                                         trove_dataset_item_feature_names(ds),
                                         &err), TROVE_OK);
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    trove_model_free(m);
    trove_dataset_free(ds);
    trove_model_version mv = { .market_id = market_id, .created_ts = T0,
                               .family = "hybrid", .path = path,
                               .config_hash = "0000000000000000",
                               .data_fingerprint = "fixture" };
    int version;
    int64_t id;
    assert_int_equal(trove_store_model_register(st, &mv, &version, &id, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_model_activate(st, market_id, version, &err),
                     TROVE_OK);
    return id;
}

/* Markets DE (model, 3 cycles) and FR (nothing); 30 offers with titles and
 * features, i29 inactive and i28 blocked; 20 users of DE with clicks. */
static void build_store(const char *db)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, fr, fid, users[N_USERS], items[N_ITEMS];
    char id[64], title[64];
    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_begin(st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", "Germany", "Europe/Berlin",
                                               &de, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "FR", NULL, NULL, &fr, NULL,
                                               &err), TROVE_OK);
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(id, sizeof id, "i%d", i);
        snprintf(title, sizeof title, "%s Coupon %d", i % 2 ? "Coffee" : "Bakery", i);
        assert_int_equal(trove_store_item_upsert(st, id, title, &items[i], NULL,
                                                 &err), TROVE_OK);
        snprintf(id, sizeof id, "cat=%c", 'a' + i % 3);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                                    TROVE_FEATURE_CATEGORICAL,
                                                    &fid, &err), TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, items[i], fid, 1, &err),
                         TROVE_OK);
    }
    /* a categorical feature without '=': a CSV column 'weight' with numbers
     * asks for the numeric kind, which the store refuses */
    assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, "weight",
                                                TROVE_FEATURE_CATEGORICAL, &fid,
                                                &err), TROVE_OK);
    trove_item fl = { .active = 0, .blocked = 1 };
    assert_int_equal(trove_store_item_set_flags(st, items[29], &fl,
                                                TROVE_ITEM_ACTIVE, &err), TROVE_OK);
    assert_int_equal(trove_store_item_set_flags(st, items[28], &fl,
                                                TROVE_ITEM_BLOCKED, &err), TROVE_OK);
    for (int u = 0; u < N_USERS; u++) {
        snprintf(id, sizeof id, "u%d", u);
        assert_int_equal(trove_store_user_upsert(st, id, de, &users[u], NULL, &err),
                         TROVE_OK);
        for (int j = 0; j < 4; j++) {
            trove_event ev = { .id = (uint64_t)(u * 100 + j + 1),
                               .user_id = users[u],
                               .item_id = items[(u + j) % 20],
                               .type = TROVE_EVENT_CLICK, .value = 1,
                               .ts = T0 - 1000 + j, .market_id = de };
            assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
        }
    }
    assert_int_equal(trove_store_commit(st, &err), TROVE_OK);
    int64_t mv_id = save_model(st, de);

    /* three weekly cycles: users alternate arms, 3 offers each; the test arm
     * redeems its first offer, every third control user too */
    for (int c = 0; c < 3; c++) {
        trove_cycle cy = { .market_id = de, .created_ts = T0 + c * WEEK,
                           .model_version_id = mv_id, .salt = "s",
                           .test_share = 0.5 };
        int64_t cid;
        snprintf(id, sizeof id, "c%d", c + 1);
        cy.key = id;
        assert_int_equal(trove_store_begin(st, &err), TROVE_OK);
        assert_int_equal(trove_store_cycle_create(st, &cy, 0, &cid, &err), TROVE_OK);
        for (int u = 0; u < N_USERS; u++) {
            trove_assignment rows[3];
            for (int k = 0; k < 3; k++)
                rows[k] = (trove_assignment){ .cycle_id = cid, .user_id = users[u],
                                              .item_id = items[(u + k + c) % 25],
                                              .rank = k, .arm = u % 2,
                                              .score = NAN,
                                              .source = TROVE_SOURCE_MODEL };
            assert_int_equal(trove_store_assignments_add(st, rows, 3, &err),
                             TROVE_OK);
            if (u % 2 == 1 || u % 3 == 0) {
                trove_event ev = { .id = (uint64_t)(90000 + c * 100 + u),
                                   .user_id = users[u], .item_id = rows[0].item_id,
                                   .type = TROVE_EVENT_REDEMPTION, .value = 1,
                                   .ts = cy.created_ts + 3600, .market_id = de };
                assert_int_equal(trove_store_event_add(st, &ev, NULL, &err),
                                 TROVE_OK);
            }
        }
        assert_int_equal(trove_store_commit(st, &err), TROVE_OK);
    }
    (void)fr;
    trove_store_close(st);
}

static trove_server *start_with(int public_read, int warm)
{
    trove_error err;
    trove_server *s = NULL;
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db_path;
    p.port = 0;
    p.conn_timeout = 2;
    p.admin_token = TOKEN;
    p.public_read = public_read;
    p.warm_dashboard = warm;
    if (trove_server_start(&p, &s, &err) != TROVE_OK) {
        fprintf(stderr, "server: %s\n", err.msg);
        return NULL;
    }
    return s;
}

static trove_server *start(int public_read)
{
    return start_with(public_read, 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(db_path, sizeof db_path, "%s", testutil_tmp_path("dash.db"));
    build_store(db_path);
    server = start(0);
    return server ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    trove_server_stop(server);
    trove_server_stop(public_server);
    server = public_server = NULL;
    return 0;
}

/* ------------------------------------------------------------ tests */
static void test_session(void **state)
{
    (void)state;
    reply r = get("/v1/session", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "admin")));
    assert_true(json_is_false(json_object_get(r.json, "public_read")));
    assert_int_equal(json_array_size(json_object_get(r.json, "markets")), 0);
    reply_free(&r);
    r = get("/v1/session", "wrong");
    assert_int_equal(r.status, 200);   /* never 401: the login form asks */
    assert_true(json_is_false(json_object_get(r.json, "admin")));
    reply_free(&r);
    r = get("/v1/session", TOKEN);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "admin")));
    json_t *m = json_object_get(r.json, "markets");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(json_string_value(json_array_get(m, 0)), "DE");
    reply_free(&r);
    r = request(trove_server_port(server), "DELETE", "/v1/session", TOKEN, NULL,
                NULL);
    assert_int_equal(r.status, 405);
    reply_free(&r);
}

static void test_markets(void **state)
{
    (void)state;
    reply r = get("/v1/markets", NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = get("/v1/markets", "wrong");
    assert_int_equal(r.status, 403);
    reply_free(&r);
    r = get("/v1/markets", TOKEN);
    assert_int_equal(r.status, 200);
    json_t *ms = json_object_get(r.json, "markets");
    assert_int_equal(json_array_size(ms), 2);
    json_t *de = json_array_get(ms, 0), *fr = json_array_get(ms, 1);
    assert_string_equal(json_string_value(json_object_get(de, "code")), "DE");
    assert_string_equal(json_string_value(json_object_get(de, "name")), "Germany");
    assert_string_equal(json_string_value(json_object_get(de, "time_zone")),
                        "Europe/Berlin");
    assert_int_equal(jint(de, "users"), N_USERS);
    assert_int_equal(jint(de, "offers"), N_ITEMS);
    assert_int_equal(jint(de, "active_offers"), N_ITEMS - 2);
    json_t *model = json_object_get(de, "model");
    assert_int_equal(jint(model, "version"), 1);
    assert_string_equal(json_string_value(json_object_get(model, "family")),
                        "hybrid");
    assert_true(jint(model, "age_seconds") >= time(NULL) - T0 - 5);
    json_t *lc = json_object_get(de, "latest_cycle");
    assert_string_equal(json_string_value(json_object_get(lc, "key")), "c3");
    assert_int_equal(jint(lc, "start_ts"), T0 + 2 * WEEK);
    assert_true(json_is_number(json_object_get(lc, "test_rate")));
    assert_true(json_is_number(json_object_get(lc, "lift")));
    assert_int_equal(json_array_size(json_object_get(lc, "lift_ci")), 2);
    assert_true(json_is_boolean(json_object_get(lc, "srm_warning")));
    assert_string_equal(json_string_value(json_object_get(fr, "name")), "FR");
    assert_int_equal(jint(fr, "users"), 0);
    assert_true(json_is_null(json_object_get(fr, "model")));
    assert_true(json_is_null(json_object_get(fr, "latest_cycle")));
    reply_free(&r);
}

static void test_items_list(void **state)
{
    (void)state;
    reply r = get("/v1/items", NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = get("/v1/items", TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "total"), N_ITEMS);
    assert_int_equal(jint(r.json, "limit"), 50);
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), N_ITEMS);
    json_t *i1 = json_array_get(items, 1);
    assert_string_equal(json_string_value(json_object_get(i1, "id")), "i1");
    assert_string_equal(json_string_value(json_object_get(i1, "title")),
                        "Coffee Coupon 1");
    assert_true(json_is_true(json_object_get(i1, "active")));
    assert_true(json_is_null(json_object_get(i1, "start_ts")));
    assert_true(json_is_number(json_object_get(json_object_get(i1, "features"),
                                               "cat=b")));
    reply_free(&r);

    /* search: id or title, case-insensitive */
    r = get("/v1/items?q=cOFFee", TOKEN);
    assert_int_equal(jint(r.json, "total"), N_ITEMS / 2);
    reply_free(&r);
    r = get("/v1/items?q=i2", TOKEN);   /* i2, i20..i29 */
    assert_int_equal(jint(r.json, "total"), 11);
    reply_free(&r);
    r = get("/v1/items?q=bakery&offset=10&limit=3", TOKEN);
    assert_int_equal(jint(r.json, "total"), N_ITEMS / 2);
    items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0),
                                                          "id")), "i20");
    reply_free(&r);
    r = get("/v1/items?flag=inactive", TOKEN);
    assert_int_equal(jint(r.json, "total"), 1);
    reply_free(&r);
    r = get("/v1/items?flag=blocked", TOKEN);
    assert_int_equal(jint(r.json, "total"), 1);
    reply_free(&r);
    r = get("/v1/items?flag=active&q=nothing-like-this", TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "total"), 0);
    reply_free(&r);

    /* sorted: by a key, - for descending, ties in store order; then paged.
     * Titles are "Bakery Coupon <even>" and "Coffee Coupon <odd>". */
    static const struct { const char *path, *first, *second, *last; } sorted[] = {
        { "/v1/items?sort=title&limit=500", "i0", "i10", "i9" },
        { "/v1/items?sort=-title&limit=500", "i9", "i7", "i0" },
        { "/v1/items?sort=id&limit=500", "i0", "i1", "i9" },
        { "/v1/items?sort=-active&limit=500", "i0", "i1", "i29" },   /* i29 inactive */
        { "/v1/items?sort=-blocked&limit=500", "i28", "i0", "i29" }, /* i28 blocked */
        { "/v1/items?q=coffee&sort=-id&limit=2", "i9", "i7", "i7" },
        { "/v1/items?sort=created&offset=28", "i28", "i29", "i29" },
    };
    for (size_t i = 0; i < sizeof sorted / sizeof *sorted; i++) {
        r = get(sorted[i].path, TOKEN);
        assert_int_equal(r.status, 200);
        items = json_object_get(r.json, "items");
        size_t n = json_array_size(items);
        const char *got[3] = {
            json_string_value(json_object_get(json_array_get(items, 0), "id")),
            json_string_value(json_object_get(json_array_get(items, 1), "id")),
            json_string_value(json_object_get(json_array_get(items, n - 1), "id")) };
        if (n < 2 || strcmp(got[0], sorted[i].first) != 0 ||
            strcmp(got[1], sorted[i].second) != 0 || strcmp(got[2], sorted[i].last) != 0)
            fail_msg("%s: %s, %s .. %s", sorted[i].path, got[0], got[1], got[2]);
        /* every neighbour in order (titles case-insensitively) */
        for (size_t k = 1; strstr(sorted[i].path, "title") && k < n; k++) {
            const char *a = json_string_value(json_object_get(json_array_get(items, k - 1), "title"));
            const char *b = json_string_value(json_object_get(json_array_get(items, k), "title"));
            int c = strcasecmp(a, b);
            assert_true(sorted[i].path[15] == '-' ? c >= 0 : c <= 0);   /* after "sort=" */
        }
        reply_free(&r);
    }
    r = get("/v1/items?sort=-id&limit=1", TOKEN);
    assert_string_equal(json_string_value(json_object_get(r.json, "sort")), "-id");
    reply_free(&r);
    r = get("/v1/items?limit=1", TOKEN);
    assert_true(json_is_null(json_object_get(r.json, "sort")));
    reply_free(&r);

    /* bad arguments name the field */
    static const struct { const char *path, *field; } bad[] = {
        { "/v1/items?limit=501", "limit" }, { "/v1/items?limit=0", "limit" },
        { "/v1/items?limit=ten", "limit" }, { "/v1/items?offset=-1", "offset" },
        { "/v1/items?flag=hidden", "flag" }, { "/v1/items?sort=price", "sort" },
        { "/v1/items?sort=--id", "sort" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = get(bad[i].path, TOKEN);
        assert_int_equal(r.status, 400);
        assert_true(strncmp(error_message(&r), bad[i].field,
                            strlen(bad[i].field)) == 0);
        reply_free(&r);
    }
    r = get("/v1/items?limit=500", TOKEN);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = request(trove_server_port(server), "PUT", "/v1/items", TOKEN, NULL, NULL);
    assert_int_equal(r.status, 405);
    reply_free(&r);
}

static const char *const upload_csv =
    "id,title,active,pinned,start,end,price,brand\r\n"
    "n1,New Espresso,true,true,2026-11-23,2026-12-01T10:00:00Z,2.5,Acme\r\n"
    "n2,Croissant deal,yes,,1700000000,,,\r\n"
    "\r\n"
    "n3,Bad flag,maybe,,,,,\r\n"
    ",No id,true,,,,,\r\n"
    "n4,Bad date,true,,23/11/2026,,,\r\n"
    "n5,\"Too, few\"\r\n"
    "n1,Again,true,,,,,\r\n"
    "i3,Renamed bakery,false,,,,1.25,\r\n"
    "n6,Ends first,,,2026-12-02,2026-12-01,,\r\n";

static int has_item(const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/items?q=%s", id);
    reply r = get(path, TOKEN);
    int found = 0;
    json_t *items = json_object_get(r.json, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        found |= strcmp(json_string_value(json_object_get(json_array_get(items, i),
                                                          "id")), id) == 0;
    reply_free(&r);
    return found;
}

static void test_upload(void **state)
{
    (void)state;
    reply r = post_csv("/v1/items?dry_run=true", NULL, upload_csv);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = post_csv("/v1/items?dry_run=true", "wrong", upload_csv);
    assert_int_equal(r.status, 403);
    reply_free(&r);

    /* dry run: the report, nothing written */
    r = post_csv("/v1/items?dry_run=true", TOKEN, upload_csv);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "dry_run")));
    assert_int_equal(jint(r.json, "rows"), 9);
    assert_int_equal(jint(r.json, "accepted"), 3);
    assert_int_equal(jint(r.json, "created"), 2);
    assert_int_equal(jint(r.json, "updated"), 1);
    json_t *rej = json_object_get(r.json, "rejected");
    assert_int_equal(json_array_size(rej), 6);
    assert_int_equal(jint(r.json, "rejected_count"), 6);
    static const struct { int line; const char *reason; } want[] = {
        { 5, "active: 'maybe'" }, { 6, "id:" }, { 7, "start: '23/11/2026'" },
        { 8, "2 fields, the header has 8" }, { 9, "id 'n1' repeats line 2" },
        { 11, "end: not after start" },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        json_t *o = json_array_get(rej, i);
        assert_int_equal(jint(o, "line"), want[i].line);
        assert_non_null(strstr(json_string_value(json_object_get(o, "reason")),
                               want[i].reason));
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(rej, 0),
                                                          "raw")),
                        "n3,Bad flag,maybe,,,,,");
    json_t *prev = json_object_get(r.json, "preview");
    assert_int_equal(json_array_size(prev), 3);
    json_t *p0 = json_array_get(prev, 0);
    assert_string_equal(json_string_value(json_object_get(p0, "title")),
                        "New Espresso");
    assert_true(json_is_true(json_object_get(p0, "pinned")));
    assert_int_equal(jint(p0, "start_ts"), 1795392000);   /* 2026-11-23 */
    assert_int_equal(jint(p0, "end_ts"), 1796119200);     /* 2026-12-01T10Z */
    json_t *f0 = json_object_get(p0, "features");
    assert_true(json_real_value(json_object_get(f0, "price")) == 2.5);
    assert_non_null(json_object_get(f0, "brand=Acme"));
    json_t *p2 = json_array_get(prev, 2);   /* existing i3 keeps cat=a */
    assert_non_null(json_object_get(json_object_get(p2, "features"), "cat=a"));
    assert_true(json_is_false(json_object_get(p2, "active")));
    reply_free(&r);
    assert_false(has_item("n1"));
    r = get("/v1/items", TOKEN);
    assert_int_equal(jint(r.json, "total"), N_ITEMS);
    reply_free(&r);

    /* the real upload: written, searchable, recommendable at once */
    r = post_csv("/v1/items?dry_run=false", TOKEN, upload_csv);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "dry_run")));
    assert_int_equal(jint(r.json, "accepted"), 3);
    assert_int_equal(jint(r.json, "created"), 2);
    reply_free(&r);
    assert_true(has_item("n1"));
    assert_true(has_item("n2"));
    r = get("/v1/items?q=n1", TOKEN);
    json_t *n1 = json_array_get(json_object_get(r.json, "items"), 0);
    assert_true(json_is_true(json_object_get(n1, "pinned")));
    assert_true(json_real_value(json_object_get(json_object_get(n1, "features"),
                                                "price")) == 2.5);
    reply_free(&r);
    r = get("/v1/items?q=i3", TOKEN);
    json_t *i3 = json_array_get(json_object_get(r.json, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(i3, "title")),
                        "Renamed bakery");
    assert_true(json_is_false(json_object_get(i3, "active")));
    reply_free(&r);
    /* n1 is pinned but starts in 2026: not yet; n2 is not pinned. Pin n2. */
    r = post_csv("/v1/items?dry_run=false", TOKEN, "id,pinned\nn2,1\n");
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "updated"), 1);
    reply_free(&r);
    r = get("/v1/recommendations?user=u1&market=DE&n=3", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"n2\""));
    reply_free(&r);

    /* errors of the whole upload */
    r = post_csv("/v1/items?dry_run=false", TOKEN, "title,price\nx,1\n");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "line 1: header: an 'id' column"));
    reply_free(&r);
    r = post_csv("/v1/items?dry_run=false", TOKEN, "id,price,Price,price\nx,1,2,3\n");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "'price' appears twice"));
    reply_free(&r);
    r = post_csv("/v1/items?dry_run=false", TOKEN, "id,title\n");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = post_csv("/v1/items?dry_run=false", TOKEN, "");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = post_csv("/v1/items?dry_run=perhaps", TOKEN, "id\nx\n");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "dry_run"));
    reply_free(&r);
    r = post_csv("/v1/items", TOKEN, "id\nx\n");   /* said explicitly */
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "dry_run: true or false is required"));
    reply_free(&r);
    assert_false(has_item("x"));
    r = request(trove_server_port(server), "POST", "/v1/items?dry_run=false", TOKEN,
                "application/json", "{\"id\":\"x\"}");
    assert_int_equal(r.status, 415);
    reply_free(&r);
    /* invalid UTF-8 in a row: rejected, echoed as valid UTF-8 */
    r = post_csv("/v1/items?dry_run=1", TOKEN, "id,title\nok1,fine\nbad,\xff\xfe\n");
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "accepted"), 1);
    rej = json_object_get(r.json, "rejected");
    assert_int_equal(jint(json_array_get(rej, 0), "line"), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rej, 0),
                                                          "raw")), "bad,??");
    reply_free(&r);
    /* a row the store refuses on write: reported, the others written */
    r = post_csv("/v1/items?dry_run=false", TOKEN,
                 "id,weight\nw1,2\nw2,\nw3,\nw4,x,y\n");
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "accepted"), 2);
    assert_int_equal(jint(r.json, "created"), 2);
    rej = json_object_get(r.json, "rejected");
    assert_int_equal(json_array_size(rej), 2);   /* in line order */
    assert_int_equal(jint(json_array_get(rej, 0), "line"), 2);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(rej, 0),
                                                             "reason")), "weight"));
    assert_int_equal(jint(json_array_get(rej, 1), "line"), 5);
    reply_free(&r);
    assert_false(has_item("w1"));
    assert_true(has_item("w2"));
    assert_true(has_item("w3"));
    /* a spreadsheet's byte order mark before the header */
    r = post_csv("/v1/items?dry_run=true", TOKEN, "\xEF\xBB\xBFid,Title\nb1,x\n");
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "accepted"), 1);
    reply_free(&r);
    /* over the body limit (1 MiB): 413 before the handler */
    size_t big = (1u << 20) + 100;
    char *csv = malloc(big + 1);
    assert_non_null(csv);
    memcpy(csv, "id,title\n", 9);
    memset(csv + 9, 'x', big - 9);
    csv[big] = '\0';
    r = post_csv("/v1/items?dry_run=true", TOKEN, csv);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    free(csv);
}

/* The expected figures, straight from the store and trove/ab.h. */
static void expected_counts(const char *key, trove_ab_cycle_counts *k)
{
    trove_error err;
    trove_store *st = NULL;
    trove_cycle c;
    int64_t de;
    assert_int_equal(trove_store_open(db_path, TROVE_STORE_READONLY, &st, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_market_find(st, "DE", &de, &err), TROVE_OK);
    assert_int_equal(trove_store_cycle_find(st, de, key, &c, &err), TROVE_OK);
    assert_int_equal(trove_store_ab_counts(st, c.id, 0, k, &err), TROVE_OK);
    trove_store_close(st);
}

static void assert_close(json_t *v, double want)
{
    if (isnan(want)) {
        assert_true(json_is_null(v));
        return;
    }
    assert_true(json_is_number(v));
    assert_true(fabs(json_number_value(v) - want) <= 1e-12 * (1 + fabs(want)));
}

static void test_cycles(void **state)
{
    (void)state;
    reply r = get("/v1/cycles?market=DE", NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = get("/v1/cycles", TOKEN);
    assert_int_equal(r.status, 400);
    assert_true(strncmp(error_message(&r), "market", 6) == 0);
    reply_free(&r);
    r = get("/v1/cycles?market=XX", TOKEN);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = get("/v1/cycles?market=FR", TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "cycles")), 0);
    reply_free(&r);

    for (int pass = 0; pass < 2; pass++) {   /* the second from the cache */
        r = get("/v1/cycles?market=DE", TOKEN);
        assert_int_equal(r.status, 200);
        json_t *cycles = json_object_get(r.json, "cycles");
        json_t *cumul = json_object_get(r.json, "cumulative");
        assert_int_equal(json_array_size(cycles), 3);
        assert_int_equal(json_array_size(cumul), 3);
        trove_ab_cycle_counts acc;
        memset(&acc, 0, sizeof acc);
        for (int c = 0; c < 3; c++) {
            char key[8];
            trove_ab_cycle_counts k;
            trove_ab_result res, cres;
            snprintf(key, sizeof key, "c%d", c + 1);
            expected_counts(key, &k);
            trove_ab_analyze(&k, &res);
            trove_ab_accumulate(&acc, &k);
            trove_ab_analyze(&acc, &cres);
            json_t *o = json_array_get(cycles, (size_t)c);
            assert_string_equal(json_string_value(json_object_get(o, "key")), key);
            assert_int_equal(jint(o, "start_ts"), T0 + c * WEEK);
            if (c < 2)
                assert_int_equal(jint(o, "end_ts"), T0 + (c + 1) * WEEK);
            else   /* the latest cycle's window is open */
                assert_true(json_is_null(json_object_get(o, "end_ts")));
            assert_int_equal(jint(o, "model_version"), 1);
            json_t *test = json_object_get(json_object_get(o, "arms"), "test");
            json_t *ctl = json_object_get(json_object_get(o, "arms"), "control");
            assert_int_equal(jint(test, "users"), N_USERS / 2);
            assert_int_equal(jint(ctl, "exposures"), 3 * N_USERS / 2);
            assert_int_equal(jint(test, "redemptions"),
                             (long long)k.arm[TROVE_ARM_TEST].redemptions);
            assert_close(json_object_get(test, "rate"), res.rate[TROVE_ARM_TEST]);
            assert_close(json_object_get(ctl, "rate"), res.rate[TROVE_ARM_CONTROL]);
            assert_close(json_object_get(o, "lift"), res.rel_lift);
            assert_close(json_array_get(json_object_get(o, "lift_ci"), 0),
                         res.rel_ci[0]);
            assert_close(json_array_get(json_object_get(o, "lift_ci"), 1),
                         res.rel_ci[1]);
            assert_close(json_object_get(o, "p_value"), res.p_value);
            assert_close(json_object_get(o, "srm_p_value"), res.srm_p);
            assert_close(json_object_get(o, "coverage"), res.coverage);
            assert_close(json_object_get(o, "top5_share"), res.top5_share);
            assert_int_equal(jint(o, "new_items"), (long long)k.new_items);
            json_t *cu = json_array_get(cumul, (size_t)c);
            assert_close(json_object_get(cu, "lift"), cres.rel_lift);
            assert_close(json_object_get(cu, "test_rate"), cres.rate[TROVE_ARM_TEST]);
            assert_close(json_array_get(json_object_get(cu, "lift_ci"), 1),
                         cres.rel_ci[1]);
        }
        reply_free(&r);
    }

    /* a late redemption in closed cycle c1 and one now in open cycle c3,
     * both of control user u2 (assigned i2..i4 in c1, i4..i6 in c3): the
     * late one is seen at once (its window's event count grew), the open
     * cycle is reused from the cache (counted less than 30 s ago) */
    long long before[3], after[3];
    r = get("/v1/cycles?market=DE", TOKEN);
    for (int c = 0; c < 3; c++)
        before[c] = jint(json_object_get(json_object_get(json_array_get(
            json_object_get(r.json, "cycles"), (size_t)c), "arms"), "control"),
            "redemptions");
    reply_free(&r);
    char batch[512];
    snprintf(batch, sizeof batch,
             "{\"events\":[{\"user\":\"u2\",\"item\":\"i3\",\"type\":"
             "\"redemption\",\"ts\":%d,\"market\":\"DE\"},{\"user\":\"u2\","
             "\"item\":\"i5\",\"type\":\"redemption\",\"market\":\"DE\"}]}",
             T0 + 7200);
    r = request(trove_server_port(server), "POST", "/v1/events", NULL,
                "application/json", batch);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = get("/v1/cycles?market=DE", TOKEN);
    for (int c = 0; c < 3; c++)
        after[c] = jint(json_object_get(json_object_get(json_array_get(
            json_object_get(r.json, "cycles"), (size_t)c), "arms"), "control"),
            "redemptions");
    reply_free(&r);
    assert_int_equal(after[0], before[0] + 1);
    assert_int_equal(after[1], before[1]);
    assert_int_equal(after[2], before[2]);
}

/* The warm-up thread at start: stopping while it counts is clean (ASan:
 * no leak, no use after free), and the figures served once it has run are
 * the ones a server without it computes. */
static void test_warm_up(void **state)
{
    (void)state;
    trove_server *w = start_with(0, 1);
    assert_non_null(w);
    trove_server_stop(w);
    w = start_with(0, 1);
    assert_non_null(w);
    /* compared with a fresh server: the suite's server may hold the open
     * cycle's counts of an earlier test (reused for DASH_TTL_OPEN s) */
    trove_server *plain = start_with(0, 0);
    assert_non_null(plain);
    reply a = request(trove_server_port(w), "GET", "/v1/cycles?market=DE", TOKEN,
                      NULL, NULL);
    reply b = request(trove_server_port(plain), "GET", "/v1/cycles?market=DE",
                      TOKEN, NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_true(json_equal(json_object_get(a.json, "cycles"),
                           json_object_get(b.json, "cycles")));
    assert_true(json_equal(json_object_get(a.json, "cumulative"),
                           json_object_get(b.json, "cumulative")));
    reply_free(&a);
    reply_free(&b);
    trove_server_stop(w);
    trove_server_stop(plain);
}

static void test_public_read(void **state)
{
    (void)state;
    public_server = start(1);
    assert_non_null(public_server);
    uint16_t port = trove_server_port(public_server);
    static const char *const reads[] = { "/v1/markets", "/v1/items?limit=5",
                                         "/v1/cycles?market=DE", "/v1/models" };
    for (size_t i = 0; i < sizeof reads / sizeof *reads; i++) {
        reply r = request(port, "GET", reads[i], NULL, NULL, NULL);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    reply r = request(port, "GET", "/v1/session", NULL, NULL, NULL);
    assert_true(json_is_true(json_object_get(r.json, "public_read")));
    assert_true(json_is_false(json_object_get(r.json, "admin")));
    assert_int_equal(json_array_size(json_object_get(r.json, "markets")), 2);
    reply_free(&r);
    /* changes still need the token */
    r = request(port, "POST", "/v1/items", NULL, "text/csv", "id\nz1\n");
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = request(port, "POST", "/v1/items?dry_run=true", TOKEN, "text/csv",
                "id\nz1\n");
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

static _Atomic int fallbacks_logged;

static void count_fallbacks(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    if (strstr(msg, "no read-only store handle") != NULL)
        fallbacks_logged++;
}

/* Fail the k-th allocation during one request, for growing k: every answer
 * is a clean 200 or 500/503 (or a dropped connection), nothing leaks, and
 * the server answers normally afterwards. A fresh server, so that opening
 * its read-only store handle fails too (the reads then fall back to the
 * server's handle). */
static void test_out_of_memory(void **state)
{
    static const struct { const char *method, *path, *body; } reqs[] = {
        { "GET", "/v1/markets", NULL },
        { "GET", "/v1/items?q=coffee&limit=3", NULL },
        { "GET", "/v1/cycles?market=DE", NULL },
        { "POST", "/v1/items?dry_run=true", "id,title,price,brand\nm1,T,1,x\nm2\n" },
        { "GET", "/v1/session", NULL },
    };
    (void)state;
    trove_set_log(count_fallbacks, NULL, TROVE_LOG_WARN);
    trove_server *fresh = start(0);
    assert_non_null(fresh);
    uint16_t port = trove_server_port(fresh);
    for (size_t q = 0; q < sizeof reqs / sizeof *reqs; q++) {
        int ok_seen = 0;
        for (long k = 0; k < 400 && !ok_seen; k += 1 + k / 8) {
            testutil_fail_alloc_after(k);
            reply r = request(port, reqs[q].method,
                              reqs[q].path, TOKEN, reqs[q].body ? "text/csv" : NULL,
                              reqs[q].body);
            testutil_fail_alloc_after(-1);
            assert_true(r.status == -1 || r.status == 200 || r.status == 500 ||
                        r.status == 503);
            ok_seen = r.status == 200;
            reply_free(&r);
        }
        assert_true(ok_seen);
        reply r = request(port, reqs[q].method, reqs[q].path,
                          TOKEN, reqs[q].body ? "text/csv" : NULL, reqs[q].body);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    trove_server_stop(fresh);
    trove_set_log(NULL, NULL, TROVE_LOG_WARN);
    assert_true(fallbacks_logged > 0);   /* the fallback path answered too */
}

static void test_store_counts(void **state)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, fr;
    uint64_t n = 99;
    (void)state;
    assert_int_equal(trove_store_open(db_path, TROVE_STORE_READONLY, &st, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_market_find(st, "DE", &de, &err), TROVE_OK);
    assert_int_equal(trove_store_market_find(st, "FR", &fr, &err), TROVE_OK);
    assert_int_equal(trove_store_users_count(st, de, &n, &err), TROVE_OK);
    assert_int_equal(n, N_USERS);
    assert_int_equal(trove_store_users_count(st, fr, &n, &err), TROVE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(trove_store_users_count(st, 0, &n, &err), TROVE_OK);
    assert_int_equal(n, N_USERS);
    /* cycle 1's window holds its redemptions: odd users and multiples of 3 */
    trove_event_filter f = { .ts_from = T0, .ts_to = T0 + WEEK };
    assert_int_equal(trove_store_events_count(st, &f, &n, &err), TROVE_OK);
    assert_int_equal(n, 14 + 1);   /* + the late one of test_cycles */
    f = (trove_event_filter){ .market_id = de,
                              .type_mask = TROVE_EVENT_MASK(TROVE_EVENT_CLICK) };
    assert_int_equal(trove_store_events_count(st, &f, &n, &err), TROVE_OK);
    assert_int_equal(n, 4 * N_USERS);
    assert_int_equal(trove_store_events_count(st, NULL, &n, &err), TROVE_OK);
    assert_int_equal(n, 4 * N_USERS + 3 * 14 + 2);
    trove_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_markets),
        cmocka_unit_test(test_items_list),
        cmocka_unit_test(test_cycles),
        cmocka_unit_test(test_upload),
        cmocka_unit_test(test_public_read),
        cmocka_unit_test(test_warm_up),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_store_counts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
