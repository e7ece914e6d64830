/*
 * test_serve_rank.c - the server's model rankings equal the model's own:
 * a market of 3,000 offers (no rules file, nothing pinned) and a d=32
 * model, so that every answer goes through the quantized candidates of
 * src/serve/score.c; for every user the A/B split puts in the test arm,
 * GET /v1/recommendations must list exactly the model's float32 top n
 * (trove_model_recommend over the whole catalog), in order, for several n.
 * Run once per kernel table the CPU has (int8 VNNI, int16 AVX-512/AVX2,
 * scalar) through TROVE_KERNELS by ctest.
 */
#include "testutil.h"
#include "trove/serve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ITEMS 3000
#define N_USERS 240

static trove_server *server;
static uint16_t port;
static trove_model *model;

static int64_t build_store(const char *db)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, fid, uid;
    static int64_t items[N_ITEMS];
    char id[32];
    trove_rng r;
    trove_rng_seed(&r, 17);
    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_begin(st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", "Germany", "Europe/Berlin", &de,
                                               NULL, &err), TROVE_OK);
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(id, sizeof id, "i%d", i);
        assert_int_equal(trove_store_item_upsert(st, id, id, &items[i], NULL, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "cat=c%d", i % 12);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                                    TROVE_FEATURE_CATEGORICAL, &fid, &err),
                         TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, items[i], fid, 1, &err), TROVE_OK);
    }
    uint64_t ev_id = 1;
    for (int u = 0; u < N_USERS; u++) {
        snprintf(id, sizeof id, "u%d", u);
        assert_int_equal(trove_store_user_upsert(st, id, de, &uid, NULL, &err), TROVE_OK);
        /* clicks skewed to popular offers and to the user's taste group */
        for (int j = 0; j < 25; j++) {
            uint32_t x = trove_rng_below(&r, N_ITEMS);
            if (j % 3 == 0)
                x = x % 200;
            else if (j % 3 == 1)
                x = (x / 12) * 12 + (uint32_t)(u % 12);
            trove_event ev = { .id = ev_id++, .user_id = uid, .item_id = items[x],
                               .type = TROVE_EVENT_CLICK, .value = 1,
                               .ts = 1700000000 + j, .market_id = de };
            assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
        }
    }
    assert_int_equal(trove_store_commit(st, &err), TROVE_OK);

    trove_dataset *ds = NULL;
    assert_int_equal(trove_dataset_from_store(st, NULL, &ds, &err), TROVE_OK);
    trove_model_params p = trove_model_default_params();
    const trove_csr *uf = trove_dataset_user_features(ds);
    const trove_csr *itf = trove_dataset_item_features(ds);
    p.loss = TROVE_LOSS_WARP;
    p.no_components = 32;
    p.seed = 3;
    assert_int_equal(trove_model_new(&p, uf->n_cols, itf->n_cols, &model, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(model, trove_dataset_interactions(ds), uf, itf, 6, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_set_ids(model, trove_dataset_user_ids(ds),
                                         trove_dataset_item_ids(ds),
                                         trove_dataset_user_feature_names(ds),
                                         trove_dataset_item_feature_names(ds), &err),
                     TROVE_OK);
    const char *path = testutil_tmp_path("rank.trove");
    assert_int_equal(trove_model_save(model, path, &err), TROVE_OK);
    trove_model_version mv = { .market_id = de, .created_ts = 1700000000,
                               .family = "hybrid", .path = path,
                               .config_hash = "0000000000000000",
                               .data_fingerprint = "fixture" };
    int version;
    assert_int_equal(trove_store_model_register(st, &mv, &version, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_model_activate(st, de, version, &err), TROVE_OK);
    trove_dataset_free(ds);
    trove_store_close(st);
    return de;
}

static int setup(void **state)
{
    const char *db = testutil_tmp_path("rank.db");
    (void)state;
    build_store(db);
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db;
    p.port = 0;
    p.admin_token = "token";
    port = testutil_server_start(&p, &server);
    return port == 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    trove_server_stop(server);
    trove_model_free(model);
    return 0;
}

static void test_rankings_equal_the_model(void **state)
{
    const unsigned ns[] = { 1, 10, 37 };
    int compared = 0;
    (void)state;
    for (uint32_t u = 0; u < N_USERS; u++) {
        for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
            char path[128], req[256], uid[32];
            snprintf(uid, sizeof uid, "u%u", u);
            snprintf(path, sizeof path, "/v1/recommendations?user=%s&market=DE&n=%u", uid,
                     ns[t]);
            int len = snprintf(req, sizeof req,
                               "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Connection: close\r\n\r\n", path);
            char *raw = testutil_http_exchange(port, req, (size_t)len, NULL);
            assert_int_equal(testutil_http_status(raw), 200);
            json_error_t je;
            json_t *body = json_loads(testutil_http_body(raw), 0, &je);
            assert_non_null(body);
            free(raw);
            if (strcmp(json_string_value(json_object_get(body, "arm")), "test") != 0) {
                json_decref(body);
                continue; /* the control arm is served popularity */
            }
            assert_true(json_is_false(json_object_get(body, "fallback")));
            int64_t row = trove_idmap_find(trove_model_user_ids(model), uid, strlen(uid));
            assert_true(row >= 0);
            uint32_t want[64], n_want = 0;
            float sc[64];
            assert_int_equal(trove_model_recommend(model, (uint32_t)row, ns[t], NULL, 0, NULL,
                                                   want, sc, &n_want, NULL, NULL),
                             TROVE_OK);
            json_t *items = json_object_get(body, "items");
            assert_int_equal(json_array_size(items), n_want);
            for (size_t i = 0; i < n_want; i++) {
                json_t *it = json_array_get(items, i);
                const char *got = json_string_value(json_object_get(it, "item"));
                const char *exp = trove_idmap_name(trove_model_item_ids(model), want[i], NULL);
                if (strcmp(got, exp) != 0) {
                    print_error("user %s n=%u rank %zu: served %s, model %s\n", uid, ns[t], i,
                                got, exp);
                    fail();
                }
                assert_string_equal(json_string_value(json_object_get(it, "source")), "model");
            }
            compared++;
            json_decref(body);
        }
    }
    /* most users are in the test arm */
    assert_true(compared >= N_USERS);
    /* and their rankings started from the candidates */
    const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char *raw = testutil_http_exchange(port, req, sizeof req - 1, NULL);
    const char *key = "trove_ranking_candidates_total{result=\"used\"} ";
    const char *at = strstr(testutil_http_body(raw), key);
    assert_non_null(at);
    assert_true(strtod(at + strlen(key), NULL) >= compared / 2);
    free(raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rankings_equal_the_model, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
