/*
 * test_hunt_serve.c - the treasure-hunt endpoints through the real server on
 * 127.0.0.1 (ephemeral port) over a small store with a trained model: the
 * first call generates and stores today's hunt, repeats return it, events
 * posted to /v1/events advance it up to the reward, GET /v1/hunts/{id}
 * answers the same hunt, a market's template file (hunts_dir) is used, and
 * bad input answers 400/404/405 with a message.
 */
#include "testutil.h"
#include "serve/serve_int.h"
#include "trove/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N_ITEMS 40
#define N_USERS 20
#define N_CATS 8

static const char *cats[N_CATS] = { "burger", "chicken", "coffee", "dessert",
                                    "breakfast", "salad", "vegan", "drinks" };
static trove_server *server;
static uint16_t port;

typedef struct reply {
    int   status;
    char *body;
} reply;

static reply http(const char *method, const char *path, const char *body)
{
    reply r = { -1, NULL };
    char req[8192];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, blen, body ? body : "");
    assert_true(n > 0 && (size_t)n < sizeof req);
    char *buf = testutil_http_exchange(port, req, (size_t)n, NULL);
    r.status = testutil_http_status(buf);
    r.body = strdup(testutil_http_body(buf));
    free(buf);
    return r;
}

/* The string value of the nth (0-based) "key":"..." in json, into out. */
static int json_str(const char *json, const char *key, int nth, char *out,
                    size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json;
    for (int i = 0; i <= nth; i++) {
        p = strstr(p, pat);
        if (p == NULL)
            return 0;
        p += strlen(pat);
    }
    size_t n = 0;
    while (p[n] != '"' && p[n] != '\0' && n + 1 < size) {
        out[n] = p[n];
        n++;
    }
    out[n] = '\0';
    return 1;
}

/* ----------------------------------------------------------- fixture */
static void build_store(const char *db)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, ch, fid, uid, items[N_ITEMS];
    char id[32];
    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_begin(st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", "Germany", "Europe/Berlin",
                                               &de, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "CH", NULL, "Europe/Zurich",
                                               &ch, NULL, &err), TROVE_OK);
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(id, sizeof id, "i%d", i);
        assert_int_equal(trove_store_item_upsert(st, id, id, &items[i], NULL, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "category=%s", cats[i % N_CATS]);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                                    TROVE_FEATURE_CATEGORICAL,
                                                    &fid, &err), TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, items[i], fid, 1, &err),
                         TROVE_OK);
    }
    for (int u = 0; u < N_USERS; u++) {
        snprintf(id, sizeof id, "u%d", u);
        assert_int_equal(trove_store_user_upsert(st, id, de, &uid, NULL, &err),
                         TROVE_OK);
        for (int j = 0; j < 6; j++) {
            trove_event ev = { .id = (uint64_t)(u * 100 + j + 1), .user_id = uid,
                               .item_id = items[(u * 3 + j * 5) % N_ITEMS],
                               .type = TROVE_EVENT_CLICK, .value = 1,
                               .ts = 1700000000 + j, .market_id = de };
            assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
        }
    }
    assert_int_equal(trove_store_commit(st, &err), TROVE_OK);

    /* a model for DE; CH has none (popularity) */
    trove_dataset *ds = NULL;
    trove_model *m = NULL;
    assert_int_equal(trove_dataset_from_store(st, NULL, &ds, &err), TROVE_OK);
    trove_model_params p = trove_model_default_params();
    const trove_csr *uf = trove_dataset_user_features(ds);
    const trove_csr *itf = trove_dataset_item_features(ds);
    p.no_components = 8;
    p.seed = 1;
    assert_int_equal(trove_model_new(&p, uf->n_cols, itf->n_cols, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, trove_dataset_interactions(ds), uf, itf, 3,
                                     &err), TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                         trove_dataset_item_ids(ds),
                                         trove_dataset_user_feature_names(ds),
                                         trove_dataset_item_feature_names(ds),
                                         &err), TROVE_OK);
    const char *path = testutil_tmp_path("hunt-model.trove");
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    trove_model_free(m);
    trove_dataset_free(ds);
    trove_model_version mv = { .market_id = de, .created_ts = 1700000000,
                               .family = "hybrid", .path = path,
                               .config_hash = "0000000000000000",
                               .data_fingerprint = "fixture" };
    int version;
    assert_int_equal(trove_store_model_register(st, &mv, &version, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_model_activate(st, de, version, &err), TROVE_OK);
    trove_store_close(st);
}

static int setup(void **state)
{
    const char *db = testutil_tmp_path("hunts-serve.db");
    (void)state;
    build_store(db);
    /* CH gets a template file: two discover steps */
    mkdir(testutil_tmp_path("hunts"), 0755);
    if (testutil_write_file(testutil_tmp_path("hunts/CH.yaml"),
                            "name: ch-short\nsteps: 2\n"
                            "constraints: {novelty: {min_share: 1}}\n"
                            "rewards: [{id: ch-prize, title: Chocolate}]\n") != 0)
        return -1;
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db;
    p.port = 0;
    p.conn_timeout = 2;
    p.hunts_dir = testutil_tmp_path("hunts");
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

/* ------------------------------------------------------------- tests */
static void test_today_and_repeat(void **state)
{
    char id[32], id2[32], path[128];
    (void)state;
    reply r = http("GET", "/v1/hunts?user=u1&market=DE", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"new\":true"));
    assert_non_null(strstr(r.body, "\"source\":\"model\""));
    assert_non_null(strstr(r.body, "\"template\":\"default\""));
    assert_non_null(strstr(r.body, "\"kind\":\"bundle\""));
    assert_non_null(strstr(r.body, "\"total\":4"));
    assert_non_null(strstr(r.body, "\"state\":\"locked\""));
    assert_true(json_str(r.body, "id", 0, id, sizeof id));
    assert_int_equal(strlen(id), 16);
    free(r.body);

    r = http("GET", "/v1/hunts?user=u1&market=DE", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"new\":false"));
    assert_true(json_str(r.body, "id", 0, id2, sizeof id2));
    assert_string_equal(id, id2);
    char *first = r.body;

    snprintf(path, sizeof path, "/v1/hunts/%s", id);
    r = http("GET", path, NULL);
    assert_int_equal(r.status, 200);
    /* the same hunt apart from "new" */
    assert_int_equal(strlen(r.body), strlen(first));
    free(r.body);
    free(first);

    /* another user, a user the model does not know, the other market */
    r = http("GET", "/v1/hunts?user=u2&market=DE", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_str(r.body, "id", 0, id2, sizeof id2));
    assert_string_not_equal(id, id2);
    free(r.body);
    r = http("GET", "/v1/hunts?user=stranger&market=DE", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"source\":\"popular\""));
    free(r.body);
    r = http("GET", "/v1/hunts?user=u3&market=CH", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"template\":\"ch-short\""));
    assert_non_null(strstr(r.body, "\"total\":2"));
    free(r.body);
}

static void test_progress_and_reward(void **state)
{
    char id[32], item[64], partner[64], batch[2048], path[64];
    (void)state;
    reply r = http("GET", "/v1/hunts?user=u5&market=CH", NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_str(r.body, "id", 0, id, sizeof id));
    assert_true(json_str(r.body, "item", 0, item, sizeof item));
    assert_true(json_str(r.body, "item", 1, partner, sizeof partner));
    free(r.body);
    long long now = (long long)time(NULL);
    /* step 1: a click on its item; step 2 (redeem): a redemption */
    snprintf(batch, sizeof batch,
             "{\"events\":[{\"user\":\"u5\",\"item\":\"%s\",\"type\":\"click\","
             "\"ts\":%lld,\"market\":\"CH\"}]}", item, now);
    r = http("POST", "/v1/events", batch);
    assert_true(r.status == 200 || r.status == 201 || r.status == 202);
    free(r.body);
    snprintf(path, sizeof path, "/v1/hunts/%s", id);
    r = http("GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"done\":1"));
    assert_non_null(strstr(r.body, "\"next_step\":2"));
    free(r.body);
    snprintf(batch, sizeof batch,
             "{\"events\":[{\"user\":\"u5\",\"item\":\"%s\",\"type\":\"redemption\","
             "\"ts\":%lld,\"market\":\"CH\"}]}", partner, now);
    r = http("POST", "/v1/events", batch);
    free(r.body);
    r = http("GET", "/v1/hunts?user=u5&market=CH", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"completed\":true"));
    assert_non_null(strstr(r.body, "\"state\":\"unlocked\""));
    assert_non_null(strstr(r.body, "\"id\":\"ch-prize\""));
    assert_non_null(strstr(r.body, "\"title\":\"Chocolate\""));
    free(r.body);
}

static void test_bad_input(void **state)
{
    (void)state;
    static const struct { const char *method, *path; int status; const char *msg; }
    cases[] = {
        { "GET", "/v1/hunts?market=DE", 400, "user" },
        { "GET", "/v1/hunts?user=u1", 400, "market" },
        { "GET", "/v1/hunts?user=&market=DE", 400, "user" },
        { "GET", "/v1/hunts?user=u1&market=XX", 404, "unknown market" },
        { "GET", "/v1/hunts/nothex", 404, "no hunt" },
        { "GET", "/v1/hunts/0123456789abcdef", 404, "no hunt" },
        { "POST", "/v1/hunts?user=u1&market=DE", 405, "only GET" },
        { "DELETE", "/v1/hunts/0123456789abcdef", 405, "only GET" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reply r = http(cases[i].method, cases[i].path, NULL);
        if (r.status != cases[i].status || strstr(r.body, cases[i].msg) == NULL)
            fail_msg("%s %s: %d %s", cases[i].method, cases[i].path, r.status,
                     r.body);
        assert_non_null(strstr(r.body, "\"error\""));
        free(r.body);
    }
    /* a user id with a control character */
    reply r = http("GET", "/v1/hunts?user=a%01b&market=DE", NULL);
    assert_int_equal(r.status, 400);
    free(r.body);
    /* the endpoint is counted in the metrics */
    r = http("GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "hunts"));
    free(r.body);
}

/* Novelty sees events posted after the server read the histories: u4
 * clicks the first item of every category, then its hunt avoids them all. */
static void test_novelty_after_start(void **state)
{
    char batch[4096], item[64];
    size_t n = 0;
    (void)state;
    reply r = http("GET", "/v1/hunts?user=u8&market=CH", NULL);   /* reads them */
    assert_int_equal(r.status, 200);
    free(r.body);
    long long now = (long long)time(NULL);
    n += (size_t)snprintf(batch + n, sizeof batch - n, "{\"events\":[");
    for (int i = 0; i < N_CATS; i++)
        n += (size_t)snprintf(batch + n, sizeof batch - n,
                              "%s{\"user\":\"u4\",\"item\":\"i%d\",\"type\":"
                              "\"click\",\"ts\":%lld,\"market\":\"CH\"}",
                              i ? "," : "", i, now);
    snprintf(batch + n, sizeof batch - n, "]}");
    r = http("POST", "/v1/events", batch);
    assert_true(r.status >= 200 && r.status < 300);
    free(r.body);
    r = http("GET", "/v1/hunts?user=u4&market=CH", NULL);
    assert_int_equal(r.status, 200);
    for (int k = 0; k < 2; k++) {
        assert_true(json_str(r.body, "item", k, item, sizeof item));
        for (int i = 0; i < N_CATS; i++) {
            char clicked[16];
            snprintf(clicked, sizeof clicked, "i%d", i);
            assert_string_not_equal(item, clicked);
        }
    }
    free(r.body);
}

/* The start-up warm-up reads the histories (a second server on the same
 * store, warmed by hand): u5's clicks, stored before that server started,
 * keep its first hunt away from the clicked offers. */
static void test_warm_up(void **state)
{
    char batch[4096], item[64], req[256];
    size_t n = 0;
    (void)state;
    long long now = (long long)time(NULL);
    n += (size_t)snprintf(batch + n, sizeof batch - n, "{\"events\":[");
    for (int i = 0; i < N_CATS; i++)
        n += (size_t)snprintf(batch + n, sizeof batch - n,
                              "%s{\"user\":\"u5\",\"item\":\"i%d\",\"type\":"
                              "\"click\",\"ts\":%lld,\"market\":\"CH\"}",
                              i ? "," : "", i, now);
    snprintf(batch + n, sizeof batch - n, "]}");
    reply r = http("POST", "/v1/events", batch);
    assert_true(r.status >= 200 && r.status < 300);
    free(r.body);

    trove_serve_params p = trove_serve_default_params();
    trove_server *warm = NULL;
    p.store_uri = testutil_tmp_path("hunts-serve.db");
    p.port = 0;
    p.conn_timeout = 2;
    p.hunts_dir = testutil_tmp_path("hunts");
    uint16_t wport = testutil_server_start(&p, &warm);
    assert_true(wport != 0);
    assert_int_equal(trove__serve_hunts_warm(warm), 2);   /* CH and DE */
    int len = snprintf(req, sizeof req, "GET /v1/hunts?user=u5&market=CH HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\nConnection: close\r\n\r\n");
    char *raw = testutil_http_exchange(wport, req, (size_t)len, NULL);
    assert_int_equal(testutil_http_status(raw), 200);
    const char *body = testutil_http_body(raw);
    for (int k = 0; k < 2; k++) {
        assert_true(json_str(body, "item", k, item, sizeof item));
        for (int i = 0; i < N_CATS; i++) {
            char clicked[16];
            snprintf(clicked, sizeof clicked, "i%d", i);
            assert_string_not_equal(item, clicked);
        }
    }
    free(raw);
    trove_server_stop(warm);
}

/* `trove hunt` on the same store: generates and stores, repeats, and the
 * server then answers the hunt the command stored. */
static void test_cli(void **state)
{
    char *out = NULL, id[32], path[64];
    const char *db = testutil_tmp_path("hunts-serve.db");
    (void)state;
    assert_int_equal(testutil_run_trove(&out, "hunt --store %s --market DE "
                                        "--user u7 --json", db), 0);
    assert_non_null(strstr(out, "\"new\":true"));
    assert_non_null(strstr(out, "\"template\":\"default\""));
    assert_true(json_str(out, "id", 0, id, sizeof id));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "hunt --store %s --market DE "
                                        "--user u7", db), 0);
    assert_non_null(strstr(out, "stored"));
    assert_non_null(strstr(out, "progress 0/4, reward locked"));
    free(out);
    snprintf(path, sizeof path, "/v1/hunts/%s", id);
    reply r = http("GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"user\":\"u7\""));
    free(r.body);
    /* another day, as of its start */
    assert_int_equal(testutil_run_trove(&out, "hunt --store %s --market DE "
                                        "--user u7 --day 2030-01-02 --json", db), 0);
    assert_non_null(strstr(out, "\"day\":\"2030-01-02\""));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "hunt --store %s --market XX "
                                        "--user u7", db), 1);
    assert_non_null(strstr(out, "trove hunt: "));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "hunt --store %s --user u7", db), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "hunt --store %s --market DE "
                                        "--user u7 --day 2030-02-30", db), 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_today_and_repeat),
        cmocka_unit_test(test_progress_and_reward),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_novelty_after_start),
        cmocka_unit_test(test_warm_up),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
