/*
 * test_monitor_serve.c - GET /v1/monitoring through the real server on
 * 127.0.0.1 (ephemeral port): a store with one market served by a model
 * and one without; the report with its latency part, the cache, the
 * admin-token rule, and bad requests (no market, unknown market, bad
 * arguments, wrong method, a market without events).
 */
#include "testutil.h"
#include "trove/serve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "mon-token"
#define DAY 86400
#define T0 1700000000

static trove_server *server;
static uint16_t port;

typedef struct reply {
    int   status;
    char *body;
} reply;

static reply http(const char *method, const char *path, const char *token)
{
    reply r = { -1, NULL };
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "%s%s%sContent-Length: 0\r\n\r\n",
                     method, path, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "");
    char *buf = testutil_http_exchange(port, req, (size_t)n, NULL);
    r.status = testutil_http_status(buf);
    r.body = strdup(testutil_http_body(buf));
    free(buf);
    return r;
}

static void build_store(const char *db)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, fr, fid, users[10], items[10];
    char id[32];
    uint64_t next = 1;
    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", NULL, NULL, &de, NULL,
                                               &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "FR", NULL, NULL, &fr, NULL,
                                               &err), TROVE_OK);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "u%d", i);
        assert_int_equal(trove_store_user_upsert(st, id, de, &users[i], NULL, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "seg=%c", 'a' + i % 2);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_USER, id,
                                                    TROVE_FEATURE_CATEGORICAL,
                                                    &fid, &err), TROVE_OK);
        assert_int_equal(trove_store_user_feature_set(st, users[i], fid, 1, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "i%d", i);
        assert_int_equal(trove_store_item_upsert(st, id, NULL, &items[i], NULL,
                                                 &err), TROVE_OK);
        snprintf(id, sizeof id, "cat=%c", 'x' + i % 3);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                                    TROVE_FEATURE_CATEGORICAL,
                                                    &fid, &err), TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, items[i], fid, 1, &err),
                         TROVE_OK);
    }
    /* training window: every user clicks three items */
    for (int u = 0; u < 10; u++)
        for (int j = 0; j < 3; j++) {
            trove_event ev = { next++, users[u], items[(u + j) % 10],
                               TROVE_EVENT_CLICK, 1, T0 - 10 * DAY + u * 60 + j,
                               de };
            assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
        }
    trove_dataset *ds = NULL;
    trove_model *m = NULL;
    trove_model_params mp = trove_model_default_params();
    const char *path = testutil_tmp_path("mon.trove");
    assert_int_equal(trove_dataset_from_store(st, NULL, &ds, &err), TROVE_OK);
    mp.no_components = 4;
    assert_int_equal(trove_model_new(&mp, trove_dataset_user_features(ds)->n_cols,
                                     trove_dataset_item_features(ds)->n_cols, &m,
                                     &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, trove_dataset_interactions(ds),
                                     trove_dataset_user_features(ds),
                                     trove_dataset_item_features(ds), 2, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                         trove_dataset_item_ids(ds),
                                         trove_dataset_user_feature_names(ds),
                                         trove_dataset_item_feature_names(ds),
                                         &err), TROVE_OK);
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    trove_model_free(m);
    trove_dataset_free(ds);
    trove_model_version mv = { .market_id = de, .created_ts = T0 - 7 * DAY,
                               .family = "hybrid", .path = path,
                               .config_hash = "0", .data_fingerprint = "t" };
    int version;
    assert_int_equal(trove_store_model_register(st, &mv, &version, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_model_activate(st, de, version, &err), TROVE_OK);
    /* latest window: only the "a" users, on the first items */
    for (int u = 0; u < 10; u += 2) {
        trove_event ev = { next++, users[u], items[u % 4], TROVE_EVENT_CLICK, 1,
                           T0 - 2 * DAY + u, de };
        assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
    }
    (void)fr;
    trove_store_close(st);
}

static int setup(void **state)
{
    const char *db = testutil_tmp_path("monitor.db");
    (void)state;
    build_store(db);
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db;
    p.port = 0;
    p.conn_timeout = 2;
    p.admin_token = TOKEN;
    port = testutil_server_start(&p, &server);
    return port == 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    trove_server_stop(server);
    server = NULL;
    return 0;
}

static json_t *parse(const reply *r)
{
    json_error_t je;
    json_t *root = json_loads(r->body, 0, &je);
    if (root == NULL)
        fail_msg("not JSON (%s): %s", je.text, r->body);
    return root;
}

static void test_report(void **state)
{
    (void)state;
    char path[128];
    /* some traffic for the latency part */
    reply r = http("GET", "/v1/recommendations?user=u1&market=DE&n=3", NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    snprintf(path, sizeof path, "/v1/monitoring?market=DE&now=%d", T0);
    r = http("GET", path, TOKEN);
    assert_int_equal(r.status, 200);
    json_t *root = parse(&r);
    assert_string_equal(json_string_value(json_object_get(root, "market")), "DE");
    assert_int_equal(json_integer_value(json_object_get(root, "now")), T0);
    json_t *model = json_object_get(root, "model");
    assert_int_equal(json_integer_value(json_object_get(model, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(model, "age_seconds")),
                     7 * DAY);
    assert_true(json_is_true(json_object_get(model, "scored")));
    json_t *ref = json_object_get(json_object_get(root, "windows"), "reference");
    assert_string_equal(json_string_value(json_object_get(ref, "kind")),
                        "training");
    assert_int_equal(json_integer_value(json_object_get(ref, "events")), 30);
    /* only "a" users in the latest window: seg drifts to an alert */
    json_t *features = json_object_get(json_object_get(root, "drift"), "features");
    json_t *seg = json_array_get(features, 0);
    assert_string_equal(json_string_value(json_object_get(seg, "name")), "seg");
    assert_string_equal(json_string_value(json_object_get(seg, "status")), "alert");
    json_t *score = json_object_get(json_object_get(root, "drift"), "score");
    assert_int_equal(json_integer_value(json_object_get(score, "latest_n")), 5);
    assert_string_equal(json_string_value(json_object_get(root, "status")), "alert");
    /* latency: the recommendation request above, in the market's list too */
    json_t *lat = json_object_get(root, "latency");
    assert_int_equal(json_array_size(json_object_get(lat, "bucket_le_ms")), 15);
    json_t *eps = json_object_get(lat, "endpoints");
    int found = 0;
    for (size_t i = 0; i < json_array_size(eps); i++) {
        json_t *e = json_array_get(eps, i);
        if (strcmp(json_string_value(json_object_get(e, "endpoint")),
                   "recommendations") == 0) {
            found = 1;
            assert_true(json_integer_value(json_object_get(e, "count")) >= 1);
            double p50 = json_real_value(json_object_get(e, "p50_ms"));
            double p99 = json_real_value(json_object_get(e, "p99_ms"));
            assert_true(p50 > 0 && p99 >= p50 && p99 <= 1000.0);
        }
    }
    assert_true(found);
    assert_true(json_array_size(json_object_get(lat, "market_endpoints")) >= 1);
    assert_true(json_is_false(json_object_get(root, "cached")));
    json_decref(root);
    free(r.body);

    /* the same question again within seconds: from the cache */
    r = http("GET", path, TOKEN);
    assert_int_equal(r.status, 200);
    root = parse(&r);
    assert_true(json_is_true(json_object_get(root, "cached")));
    json_decref(root);
    free(r.body);

    /* the monitoring request itself shows up in the latency */
    snprintf(path, sizeof path, "/v1/monitoring?market=DE&now=%d&days=3", T0);
    r = http("GET", path, TOKEN);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"endpoint\":\"monitoring\""));
    assert_non_null(strstr(r.body, "\"latest_days\":3"));
    free(r.body);
}

static void test_no_model_market_and_now_last(void **state)
{
    (void)state;
    /* FR has no events at all */
    reply r = http("GET", "/v1/monitoring?market=FR&now=last", TOKEN);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "no events"));
    free(r.body);
    r = http("GET", "/v1/monitoring?market=DE&now=last", TOKEN);
    assert_int_equal(r.status, 200);
    json_t *root = parse(&r);
    assert_int_equal(json_integer_value(json_object_get(root, "now")),
                     T0 - 2 * DAY + 8 + 1);
    json_decref(root);
    free(r.body);
}

static void test_bad_requests(void **state)
{
    (void)state;
    reply r = http("GET", "/v1/monitoring?market=DE", NULL);
    assert_int_equal(r.status, 401);
    free(r.body);
    r = http("GET", "/v1/monitoring?market=DE", "wrong");
    assert_int_equal(r.status, 403);
    free(r.body);
    r = http("GET", "/v1/monitoring", TOKEN);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "market is required"));
    free(r.body);
    r = http("GET", "/v1/monitoring?market=XX", TOKEN);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "unknown market"));
    free(r.body);
    const char *bad[] = {
        "/v1/monitoring?market=DE&days=0", "/v1/monitoring?market=DE&days=x",
        "/v1/monitoring?market=DE&train_days=99999",
        "/v1/monitoring?market=DE&now=yesterday", "/v1/monitoring?market=DE&now=-5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = http("GET", bad[i], TOKEN);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "\"error\""));
        free(r.body);
    }
    r = http("POST", "/v1/monitoring?market=DE", TOKEN);
    assert_int_equal(r.status, 405);
    free(r.body);
    r = http("GET", "/v1/monitoring/extra", TOKEN);
    assert_int_equal(r.status, 404);
    free(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_no_model_market_and_now_last),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
