/*
 * test_serve.c - starts the real HTTP server on 127.0.0.1 (ephemeral port)
 * over a small store with two registered model versions, and talks to it
 * through the tests' HTTP client (testutil): every endpoint, the fallback chain, cold
 * start, item upload and flags, activate and rollback, and bad input (no or
 * wrong token, oversized and malformed bodies, unknown market, garbage on
 * the wire).
 */
#include "testutil.h"
#include "trove/serve.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "s3cret-token"
#define N_ITEMS 30
#define N_USERS 20

static trove_server *server;
static uint16_t port;

typedef struct reply {
    int   status;
    char *body;    /* malloc'd, NUL-terminated */
} reply;

/* Send `raw` bytes and read the whole answer (the request asks the server
 * to close the connection). */
static reply send_raw(const char *raw, size_t len)
{
    reply r = { -1, NULL };
    char *buf = testutil_http_exchange(port, raw, len, NULL);
    r.status = testutil_http_status(buf);
    r.body = strdup(testutil_http_body(buf));
    free(buf);
    return r;
}

static reply http(const char *method, const char *path, const char *token,
                  const char *body)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 1024 + strlen(path) + blen;
    char *req = malloc(cap);
    assert_non_null(req);
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "%s%s%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "", blen);
    if (blen)
        memcpy(req + n, body, blen);
    reply r = send_raw(req, (size_t)n + blen);
    free(req);
    return r;
}

static void reply_free(reply *r)
{
    free(r->body);
    r->body = NULL;
}

/* ---------------------------------------------------------- fixture */
static void save_model(trove_store *st, const trove_dataset *ds, uint64_t seed,
                       const char *path, int64_t market_id)
{
    trove_error err;
    trove_model *m = NULL;
    trove_model_params p = trove_model_default_params();
    const trove_csr *uf = trove_dataset_user_features(ds);
    const trove_csr *itf = trove_dataset_item_features(ds);
    p.loss = TROVE_LOSS_WARP;
    p.no_components = 8;
    p.seed = seed;
    assert_int_equal(trove_model_new(&p, uf->n_cols, itf->n_cols, &m, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_fit(m, trove_dataset_interactions(ds), uf, itf,
                                     5, &err), TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                         trove_dataset_item_ids(ds),
                                         trove_dataset_user_feature_names(ds),
                                         trove_dataset_item_feature_names(ds),
                                         &err), TROVE_OK);
    assert_int_equal(trove_model_save(m, path, &err), TROVE_OK);
    trove_model_free(m);
    trove_model_version mv = { .market_id = market_id, .created_ts = 1700000000,
                               .family = "hybrid", .path = path,
                               .config_hash = "0000000000000000",
                               .data_fingerprint = "fixture" };
    int version;
    assert_int_equal(trove_store_model_register(st, &mv, &version, NULL, &err),
                     TROVE_OK);
}

static void build_store(const char *db)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, fr, fid, uid, iid, items[N_ITEMS];
    char id[32];
    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_begin(st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", "Germany", "Europe/Berlin",
                                               &de, NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "FR", NULL, NULL, &fr, NULL,
                                               &err), TROVE_OK);
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(id, sizeof id, "i%d", i);
        assert_int_equal(trove_store_item_upsert(st, id, id, &items[i], NULL, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "cat=%c", 'a' + i % 3);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                                    TROVE_FEATURE_CATEGORICAL,
                                                    &fid, &err), TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, items[i], fid, 1, &err),
                         TROVE_OK);
    }
    for (int u = 0; u <= N_USERS; u++) {
        /* the last user has features but no events: a cold-start user */
        if (u == N_USERS)
            snprintf(id, sizeof id, "cold1");
        else
            snprintf(id, sizeof id, "u%d", u);
        assert_int_equal(trove_store_user_upsert(st, id, de, &uid, NULL, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "seg=%c", 'x' + u % 2);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_USER, id,
                                                    TROVE_FEATURE_CATEGORICAL,
                                                    &fid, &err), TROVE_OK);
        assert_int_equal(trove_store_user_feature_set(st, uid, fid, 1, &err),
                         TROVE_OK);
        if (u == N_USERS)
            continue;
        for (int j = 0; j < 6; j++) {
            int item = (u % 2) * 10 + (u + j) % 10;   /* two taste groups */
            trove_event ev = { .id = (uint64_t)(u * 100 + j + 1), .user_id = uid,
                               .item_id = items[item], .type = TROVE_EVENT_CLICK,
                               .value = 1, .ts = 1700000000 + j,
                               .market_id = de };
            assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
        }
    }
    assert_int_equal(trove_store_commit(st, &err), TROVE_OK);

    trove_dataset *ds = NULL;
    assert_int_equal(trove_dataset_from_store(st, NULL, &ds, &err), TROVE_OK);
    save_model(st, ds, 1, testutil_tmp_path("m1.trove"), de);
    save_model(st, ds, 2, testutil_tmp_path("m2.trove"), de);
    trove_dataset_free(ds);
    assert_int_equal(trove_store_model_activate(st, de, 1, &err), TROVE_OK);
    (void)fr;
    (void)iid;
    trove_store_close(st);
}

static int setup(void **state)
{
    const char *db = testutil_tmp_path("serve.db");
    (void)state;
    build_store(db);
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db;
    p.port = 0;
    p.max_body = 4096;
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

/* Number of occurrences of needle in hay. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The "source" of item `id` in a recommendation answer, or "" when the
 * item is not in it. */
static const char *source_of(const char *body, const char *id, char *out,
                             size_t size)
{
    char key[300];
    snprintf(key, sizeof key, "{\"item\":\"%s\"", id);
    const char *p = strstr(body, key);
    const char *end = p ? strchr(p, '}') : NULL;
    const char *src = p ? strstr(p, "\"source\":\"") : NULL;
    out[0] = '\0';
    if (src != NULL && src < end) {
        src += strlen("\"source\":\"");
        const char *q = strchr(src, '"');
        snprintf(out, size, "%.*s", (int)(q - src), src);
    }
    return out;
}

/* ------------------------------------------------------------ tests */
static void test_health_and_metrics(void **state)
{
    (void)state;
    reply r = http("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    assert_non_null(strstr(r.body, "\"markets_with_model\":1"));
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u1&market=DE&n=3", NULL, NULL);
    reply_free(&r);
    r = http("GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "trove_http_requests_total{endpoint=\"recommendations\",code=\"200\",market=\"DE\"}"));
    assert_non_null(strstr(r.body, "trove_http_request_duration_seconds_bucket{endpoint=\"healthz\""));
    assert_non_null(strstr(r.body, "trove_model_age_seconds{market=\"DE\",version=\"1\"}"));
    assert_non_null(strstr(r.body, "trove_recommendation_fallbacks_total{market=\"FR\",reason=\"no_model\"}"));
    reply_free(&r);
}

static void test_recommend_known_user(void **state)
{
    (void)state;
    reply r = http("GET", "/v1/recommendations?user=u1&market=DE&n=5", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"model_version\":1"));
    assert_non_null(strstr(r.body, "\"fallback\":false"));
    assert_non_null(strstr(r.body, "\"arm\":\"test\""));
    assert_non_null(strstr(r.body, "\"request_id\":\""));
    assert_int_equal(count_of(r.body, "\"item\":"), 5);
    assert_int_equal(count_of(r.body, "\"source\":\"model\""), 5);
    reply_free(&r);
    /* default n: 10 without a market config */
    r = http("GET", "/v1/recommendations?user=u2&market=DE", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_of(r.body, "\"item\":"), 10);
    reply_free(&r);
}

static void test_recommend_cold_and_fallback(void **state)
{
    (void)state;
    /* features but no history: scored by the model from its features */
    reply r = http("GET", "/v1/recommendations?user=cold1&market=DE&n=4", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"fallback\":false"));
    assert_int_equal(count_of(r.body, "\"source\":\"model\""), 4);
    reply_free(&r);
    /* nothing known: popularity */
    r = http("GET", "/v1/recommendations?user=nobody&market=DE&n=4", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"fallback\":true"));
    assert_int_equal(count_of(r.body, "\"source\":\"popular\""), 4);
    reply_free(&r);
    /* a market without a model: popularity, then random past the popular ones */
    r = http("GET", "/v1/recommendations?user=u1&market=FR&n=25", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"model_version\":null"));
    assert_non_null(strstr(r.body, "\"fallback\":true"));
    assert_int_equal(count_of(r.body, "\"item\":"), 25);
    assert_true(count_of(r.body, "\"source\":\"random\"") >= 5);
    reply_free(&r);
}

/* PUT /v1/users/{id}: a user who signs up with features is ranked by the
 * model from them on the next request (cold start), without a restart. */
static void test_user_put(void **state)
{
    (void)state;
    reply r = http("GET", "/v1/recommendations?user=newbie&market=DE&n=4", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"fallback\":true"));
    reply_free(&r);
    r = http("PUT", "/v1/users/newbie", NULL, "{\"features\":{\"seg\":\"x\"}}");
    assert_true(r.status == 401 || r.status == 403);
    reply_free(&r);
    r = http("PUT", "/v1/users/newbie", TOKEN,
             "{\"market\":\"DE\",\"features\":{\"seg\":\"x\"}}");
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"created\":true"));
    assert_non_null(strstr(r.body, "\"model_features\":1"));   /* seg=x */
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=newbie&market=DE&n=4", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"fallback\":false"));
    assert_int_equal(count_of(r.body, "\"source\":\"model\""), 4);
    reply_free(&r);
    /* a second PUT updates (200); the features are in the store */
    r = http("PUT", "/v1/users/newbie", TOKEN, "{\"features\":{\"visits\":3}}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"created\":false"));
    assert_non_null(strstr(r.body, "\"model_features\":null"));  /* no market given */
    reply_free(&r);
    /* features the model does not know: counted as 0 */
    r = http("PUT", "/v1/users/stranger", TOKEN,
             "{\"market\":\"DE\",\"features\":{\"shoe\":\"43\"}}");
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"model_features\":0"));
    reply_free(&r);
    {
        trove_error err;
        trove_store *st = NULL;
        int64_t uid;
        assert_int_equal(trove_store_open(testutil_tmp_path("serve.db"), TROVE_STORE_READONLY,
                                          &st, &err), TROVE_OK);
        assert_int_equal(trove_store_user_find(st, "newbie", &uid, &err), TROVE_OK);
        trove_store_close(st);
    }
    /* bad input, each naming its field */
    const struct { const char *path, *body; int status; const char *msg; } bad[] = {
        { "/v1/users/newbie", "{\"features\":[1]}", 400, "features" },
        { "/v1/users/newbie", "{\"features\":{\"vip\":true}}", 400, "features.vip" },
        { "/v1/users/newbie", "{\"market\":\"XX\"}", 404, "unknown market 'XX'" },
        { "/v1/users/newbie", "{\"features\":", 400, "malformed JSON" },
        { "/v1/users/a%2Fb", "{}", 400, "user id" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = http("PUT", bad[i].path, TOKEN, bad[i].body);
        if (r.status != bad[i].status || strstr(r.body, bad[i].msg) == NULL)
            fail_msg("PUT %s %s: %d %s", bad[i].path, bad[i].body, r.status, r.body);
        reply_free(&r);
    }
    r = http("GET", "/v1/users/newbie", TOKEN, NULL);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    /* a feature name past 511 bytes is refused, for users and offers alike
     * (offers' names used to be cut silently) */
    char body[1200];
    snprintf(body, sizeof body, "{\"features\":{\"note\":\"%0600d\"}}", 7);
    r = http("PUT", "/v1/users/newbie", TOKEN, body);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "features.note: the feature name is longer than 511"));
    reply_free(&r);
    r = http("PUT", "/v1/items/i1", TOKEN, body);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "features.note: the feature name is longer than 511"));
    reply_free(&r);
}

static void test_recommend_bad_input(void **state)
{
    (void)state;
    reply r = http("GET", "/v1/recommendations?user=u1&market=XX", NULL, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "unknown market"));
    reply_free(&r);
    const char *bad[] = {
        "/v1/recommendations?market=DE", "/v1/recommendations?user=u1",
        "/v1/recommendations?user=u1&market=DE&n=0",
        "/v1/recommendations?user=u1&market=DE&n=abc",
        "/v1/recommendations?user=u1&market=DE&n=-3",
        "/v1/recommendations?user=u1&market=DE&n=100000000000000000000",
        "/v1/recommendations?user=%FF%FE&market=DE",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = http("GET", bad[i], NULL, NULL);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "\"error\""));
        reply_free(&r);
    }
    r = http("GET", "/v1/nope", NULL, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = http("DELETE", "/v1/events", NULL, NULL);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    /* escaping of odd ids in the answer */
    r = http("GET", "/v1/recommendations?user=%22q%5C%01&market=DE&n=1", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"user\":\"\\\"q\\\\\\u0001\""));
    reply_free(&r);
}

static void test_events(void **state)
{
    (void)state;
    const char *batch = "{\"events\":[{\"user\":\"u1\",\"item\":\"i3\",\"type\":\"click\","
                        "\"ts\":1700001000,\"market\":\"DE\"},{\"user\":\"newuser\","
                        "\"item\":\"i4\",\"type\":\"redemption\",\"id\":\"ev-42\"}]}";
    reply r = http("POST", "/v1/events", NULL, batch);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"stored\":2"));
    reply_free(&r);
    r = http("POST", "/v1/events", NULL, batch);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"duplicates\":2"));
    reply_free(&r);
    /* requests with a body are timed from their arrival: the two batches
     * took well under a minute, not the time since the clock's epoch */
    r = http("GET", "/metrics", NULL, NULL);
    const char *sum = strstr(r.body, "trove_http_request_duration_seconds_sum"
                                     "{endpoint=\"events\",code=\"200\",");
    assert_non_null(sum);
    sum = strchr(sum, '}');
    assert_non_null(sum);
    double secs = strtod(sum + 1, NULL);
    assert_true(secs > 0 && secs < 60);
    reply_free(&r);
    r = http("POST", "/v1/events", NULL, "{\"events\":[{\"user\":");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "malformed JSON"));
    reply_free(&r);
    r = http("POST", "/v1/events", NULL,
             "[{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"hug\"}]");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "events[0].type"));
    reply_free(&r);
    /* a time past year 9999 (it would overflow local-day arithmetic) */
    r = http("POST", "/v1/events", NULL,
             "[{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"impression\","
             "\"ts\":9223372036854775807}]");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "events[0].ts"));
    reply_free(&r);
    r = http("POST", "/v1/events", NULL,
             "[{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"click\"},"
             "{\"user\":\"u1\",\"item\":\"nope\",\"type\":\"click\"}]");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "events[1].item"));
    reply_free(&r);
    r = http("POST", "/v1/events", NULL,
             "[{\"user\":\"u1\",\"item\":\"i1\",\"type\":\"click\",\"market\":\"ZZ\"}]");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("POST", "/v1/events", NULL, "{\"events\":[]}");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("POST", "/v1/events", NULL, "");
    assert_int_equal(r.status, 400);
    reply_free(&r);
}

static void test_body_limit_and_garbage(void **state)
{
    (void)state;
    size_t big = 10000;
    char *body = malloc(big + 1);
    assert_non_null(body);
    memset(body, ' ', big);
    body[big] = '\0';
    reply r = http("POST", "/v1/events", NULL, body);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    free(body);
    const char *junk = "\x01\x02 GARBAGE \xff\r\n\r\n";
    r = send_raw(junk, strlen(junk));
    reply_free(&r);
    const char *half = "POST /v1/events HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"ev";
    r = send_raw(half, strlen(half));   /* the server times out or closes */
    reply_free(&r);
    r = http("GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

static void test_admin_auth(void **state)
{
    (void)state;
    const char *item = "{\"title\":\"New\",\"features\":{\"cat\":\"a\"}}";
    reply r = http("PUT", "/v1/items/new1", NULL, item);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = http("PUT", "/v1/items/new1", "wrong", item);
    assert_int_equal(r.status, 403);
    reply_free(&r);
    r = http("PUT", "/v1/items/new1", TOKEN "x", item);
    assert_int_equal(r.status, 403);
    reply_free(&r);
    r = http("GET", "/v1/models", NULL, NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = http("POST", "/v1/models/DE/rollback", "nope", "");
    assert_int_equal(r.status, 403);
    reply_free(&r);
    r = http("PATCH", "/v1/items/i1", NULL, "{\"blocked\":true}");
    assert_int_equal(r.status, 401);
    reply_free(&r);
}

static void test_items(void **state)
{
    (void)state;
    reply r = http("PUT", "/v1/items/new1", TOKEN,
                   "{\"title\":\"New\",\"features\":{\"cat\":\"a\",\"price\":9.5},"
                   "\"active\":true}");
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"created\":true"));
    reply_free(&r);
    /* recommendable on the next request, ranked by the model from its
     * feature cat=a (the model has never seen new1) */
    char src[32];
    r = http("GET", "/v1/recommendations?user=u1&market=DE&n=40", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(source_of(r.body, "new1", src, sizeof src), "model");
    reply_free(&r);
    r = http("PUT", "/v1/items/new1", TOKEN, "{\"title\":\"Newer\"}");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"created\":false"));
    reply_free(&r);
    r = http("PATCH", "/v1/items/new1", TOKEN, "{\"blocked\":true}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u1&market=DE&n=40", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"new1\""));
    reply_free(&r);
    /* pinned comes first */
    r = http("PATCH", "/v1/items/i29", TOKEN, "{\"pinned\":true}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u3&market=DE&n=3", NULL, NULL);
    assert_non_null(strstr(r.body, "\"items\":[{\"item\":\"i29\",\"score\":null,\"source\":\"pinned\"}"));
    reply_free(&r);
    /* a window in the past makes it ineligible */
    r = http("PATCH", "/v1/items/i29", TOKEN, "{\"end_ts\":1000}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u3&market=DE&n=40", NULL, NULL);
    assert_null(strstr(r.body, "\"i29\""));
    reply_free(&r);
    r = http("PATCH", "/v1/items/ghost", TOKEN, "{\"blocked\":true}");
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = http("PATCH", "/v1/items/i1", TOKEN, "{\"blocked\":\"yes\"}");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("PATCH", "/v1/items/i1", TOKEN, "{\"title\":\"x\"}");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("PUT", "/v1/items/x1", TOKEN, "{\"features\":{\"cat\":[1]}}");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("PUT", "/v1/items/%C0%AF", TOKEN, "{}");   /* overlong '/' */
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("PUT", "/v1/items/x1", TOKEN, "[1,2");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    /* cat=a is categorical: a numeric "cat=a" weight is fine, "cat" numeric
     * clashes with no existing feature; "price" numeric then "price":"x" is
     * a new categorical "price=x" */
    r = http("PUT", "/v1/items/x2", TOKEN, "{\"features\":{\"cat=b\":2}}");
    assert_int_equal(r.status, 201);
    reply_free(&r);
}

static void test_models(void **state)
{
    (void)state;
    reply r = http("GET", "/v1/models", TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"market\":\"DE\",\"serving_version\":1"));
    assert_int_equal(count_of(r.body, "\"version\":"), 2);
    reply_free(&r);
    r = http("POST", "/v1/models/DE/activate", TOKEN, "{\"version\":2}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u1&market=DE&n=3", NULL, NULL);
    assert_non_null(strstr(r.body, "\"model_version\":2"));
    reply_free(&r);
    r = http("POST", "/v1/models/DE/rollback", TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"version\":1"));
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u1&market=DE&n=3", NULL, NULL);
    assert_non_null(strstr(r.body, "\"model_version\":1"));
    reply_free(&r);
    r = http("POST", "/v1/models/DE/rollback", TOKEN, NULL);
    assert_int_equal(r.status, 409);
    reply_free(&r);
    r = http("POST", "/v1/models/DE/activate", TOKEN, "{\"version\":99}");
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = http("POST", "/v1/models/DE/activate", TOKEN, "{\"version\":\"2\"}");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = http("POST", "/v1/models/XX/activate", TOKEN, "{\"version\":1}");
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = http("POST", "/v1/models/FR/rollback", TOKEN, NULL);
    assert_int_equal(r.status, 409);
    reply_free(&r);
}

/* GET `path` `rounds` times from a thread, counting the answers that are
 * not a 200 holding `needle`. */
typedef struct hammer_job {
    const char *path, *needle;
    int rounds, failed;
} hammer_job;

static void *hammer(void *arg)
{
    hammer_job *j = arg;
    for (int i = 0; i < j->rounds; i++) {
        reply r = http("GET", j->path, NULL, NULL);
        if (r.status != 200 || strstr(r.body, j->needle) == NULL)
            j->failed++;
        reply_free(&r);
    }
    return NULL;
}

/* Recommendations from several threads while the model is switched back
 * and forth: every answer is a 200 and the server stays consistent. */
static void test_swap_under_load(void **state)
{
    pthread_t t[3];
    hammer_job jobs[3];
    (void)state;
    for (int i = 0; i < 3; i++) {
        jobs[i] = (hammer_job){ "/v1/recommendations?user=u2&market=DE&n=5",
                                "\"source\":\"model\"", 40, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &jobs[i]), 0);
    }
    for (int round = 0; round < 5; round++) {
        reply r = http("POST", "/v1/models/DE/activate", TOKEN, "{\"version\":2}");
        assert_int_equal(r.status, 200);
        reply_free(&r);
        r = http("POST", "/v1/models/DE/rollback", TOKEN, NULL);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(jobs[i].failed, 0);
    }
}

/* A rules hook that keeps the first two entries and names itself. */
static int keep_two(void *ud, const trove_serve_request *req,
                    trove_serve_candidate *list, size_t *n, size_t cap)
{
    (void)ud;
    (void)cap;
    if (strcmp(req->market, "DE") != 0)
        return TROVE_EINVAL;
    if (*n > 2)
        *n = 2;
    for (size_t i = 0; i < *n; i++)
        list[i].rule = "keep-two";
    return TROVE_OK;
}

static void test_rules_hook(void **state)
{
    trove_error err;
    trove_server *other = NULL;
    uint16_t saved = port;
    (void)state;
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = testutil_tmp_path("serve.db");
    p.rules = keep_two;
    assert_int_equal(trove_server_start(&p, &other, &err), TROVE_OK);
    port = trove_server_port(other);
    reply r = http("GET", "/v1/recommendations?user=u1&market=DE&n=5", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_of(r.body, "\"item\":"), 2);
    assert_int_equal(count_of(r.body, "\"rule\":\"keep-two\""), 2);
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u1&market=FR&n=5", NULL, NULL);
    assert_int_equal(r.status, 500);
    reply_free(&r);
    /* without a configured token every admin call is refused */
    r = http("GET", "/v1/models", "anything", NULL);
    assert_int_equal(r.status, 403);
    reply_free(&r);
    port = saved;
    trove_server_stop(other);
}

/* The market's rules file applied to every list. */
/* Eligibility by segment, as cycles read segments: user features named
 * segment=<tag>. i5 is pinned for everyone but reserved to segment vip:
 * u1 (given segment=vip here) gets it, u3 (no segment) does not. */
/* The value of gauge `name` in GET /metrics, or -1. */
static long metric_value(const char *name)
{
    reply r = http("GET", "/metrics", NULL, NULL);
    long v = -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = r.status == 200 ? strstr(r.body, key) : NULL;
    if (at != NULL)
        v = strtol(at + strlen(key), NULL, 10);
    reply_free(&r);
    return v;
}

static void test_rules_segments(void **state)
{
    trove_error err;
    trove_server *other = NULL;
    trove_store *st = NULL;
    int64_t uid, fid;
    uint16_t saved = port;
    char dir[512], path[600];
    (void)state;
    assert_int_equal(trove_store_open(testutil_tmp_path("serve.db"), 0, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_user_find(st, "u1", &uid, &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_USER, "segment=vip",
                                                TROVE_FEATURE_CATEGORICAL, &fid, &err),
                     TROVE_OK);
    assert_int_equal(trove_store_user_feature_set(st, uid, fid, 1, &err), TROVE_OK);
    trove_store_close(st);
    snprintf(dir, sizeof dir, "%s", testutil_tmp_path("rules-seg"));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/DE.yaml", dir);
    assert_int_equal(testutil_write_file(path,
        "market: DE\n"
        "rules:\n"
        "  - {name: pin-five, kind: pin, item_ids: [i5]}\n"
        "  - {name: vip-five, kind: eligibility, item_ids: [i5], require_segments: [vip]}\n"),
        0);
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = testutil_tmp_path("serve.db");
    p.rules_dir = dir;
    p.admin_token = TOKEN;
    port = testutil_server_start(&p, &other);
    assert_true(port != 0);
    reply r = http("GET", "/v1/recommendations?user=u1&market=DE&n=4", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "{\"item\":\"i5\",\"score\":null,\"source\":\"pinned\""));
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u3&market=DE&n=4", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"item\":\"i5\""));
    reply_free(&r);
    /* a segment given while serving counts on the next request */
    r = http("PUT", "/v1/users/u3", TOKEN, "{\"features\":{\"segment\":\"vip\"}}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = http("GET", "/v1/recommendations?user=u3&market=DE&n=4", NULL, NULL);
    assert_non_null(strstr(r.body, "{\"item\":\"i5\",\"score\":null,\"source\":\"pinned\""));
    reply_free(&r);
    assert_int_equal(metric_value("trove_user_feature_sets"), 1);
    /* Put again and again while requests read the user's features: each
     * replaced list is freed once no request holds it, so the server keeps
     * one list per put user, not one per PUT. */
    pthread_t reader;
    hammer_job job = { "/v1/recommendations?user=u3&market=DE&n=4", "\"item\":\"i5\"", 60,
                       0 };
    assert_int_equal(pthread_create(&reader, NULL, hammer, &job), 0);
    for (int i = 0; i < 60; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"features\":{\"visits\":%d,\"segment\":\"vip\"}}", i);
        r = http("PUT", "/v1/users/u3", TOKEN, body);
        assert_int_equal(r.status, 200);
        reply_free(&r);
    }
    pthread_join(reader, NULL);
    assert_int_equal(job.failed, 0);
    assert_int_equal(metric_value("trove_user_feature_sets"), 1);
    port = saved;
    trove_server_stop(other);
}

static void test_rules_engine(void **state)
{
    trove_error err;
    trove_server *other = NULL;
    uint16_t saved = port;
    char dir[512];
    (void)state;
    snprintf(dir, sizeof dir, "%s", testutil_tmp_path("rules"));
    assert_int_equal(mkdir(dir, 0700), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/DE.yaml", dir);
    assert_int_equal(testutil_write_file(path,
        "market: DE\n"
        "rules:\n"
        "  - name: pin-five\n"
        "    kind: pin\n"
        "    item_ids: [i5]\n"
        "  - name: two-per-cat\n"
        "    kind: diversity\n"
        "    field: cat\n"
        "    max: 2\n"), 0);
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = testutil_tmp_path("serve.db");
    p.rules_dir = dir;
    assert_int_equal(trove_server_start(&p, &other, &err), TROVE_OK);
    port = trove_server_port(other);
    reply r = http("GET", "/v1/recommendations?user=u1&market=DE&n=6&explain=true",
                   NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"items\":[{\"item\":\"i5\",\"score\":null,"
                                   "\"source\":\"pinned\",\"rule\":\"pin-five\"}"));
    assert_int_equal(count_of(r.body, "\"item\":\"i"), 6 + count_of(r.body, "\"action\""));
    assert_non_null(strstr(r.body, "\"trace\":["));
    assert_non_null(strstr(r.body, "\"action\":\"pin\""));
    /* six entries over three categories at two per category */
    int per_cat[3] = { 0, 0, 0 };
    const char *items = strstr(r.body, "\"items\":[");
    const char *trace = strstr(r.body, "\"trace\":[");
    for (const char *q = strstr(items, "\"item\":\"i"); q && q < trace;
         q = strstr(q + 1, "\"item\":\"i"))
        per_cat[atoi(q + 9) % 3]++;
    assert_int_equal(per_cat[0], 2);
    assert_int_equal(per_cat[1], 2);
    assert_int_equal(per_cat[2], 2);
    reply_free(&r);
    /* a market without a rules file is served as before; no trace asked */
    r = http("GET", "/v1/recommendations?user=u1&market=FR&n=3", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"trace\""));
    reply_free(&r);
    r = http("GET", "/metrics", NULL, NULL);
    assert_non_null(strstr(r.body, "trove_rule_actions_total{market=\"DE\",action=\"pin\"}"));
    reply_free(&r);
    port = saved;
    trove_server_stop(other);

    /* a bad rules file stops the start with its place */
    assert_int_equal(testutil_write_file(path, "market: DE\nrules:\n  - name: x\n"
                                               "    kind: teleport\n"), 0);
    assert_int_equal(trove_server_start(&p, &other, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "DE.yaml:4"));
}

/* Start-up with the k-th allocation failing: a clean error, no leak. */
static void test_start_out_of_memory(void **state)
{
    trove_error err;
    int done = 0;
    (void)state;
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = testutil_tmp_path("serve.db");
    for (long k = 0; k < 100000 && !done; k += 7) {
        trove_server *s = NULL;
        testutil_fail_alloc_after(k);
        int rc = trove_server_start(&p, &s, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            done = 1;
            trove_server_stop(s);
        } else {
            assert_true(rc < 0);
            assert_null(s);
        }
    }
    assert_true(done);
}

static void test_start_errors(void **state)
{
    trove_error err;
    trove_server *s = NULL;
    (void)state;
    trove_serve_params p = trove_serve_default_params();
    assert_int_equal(trove_server_start(&p, &s, &err), TROVE_EINVAL);
    p.store_uri = testutil_tmp_path("missing.db");
    assert_int_equal(trove_server_start(&p, &s, &err), TROVE_ENOTFOUND);
    p.store_uri = testutil_tmp_path("serve.db");
    p.bind_address = "not-an-address";
    assert_int_equal(trove_server_start(&p, &s, &err), TROVE_EINVAL);
    p.bind_address = "127.0.0.1";
    p.port = port;   /* taken by the running server */
    assert_int_equal(trove_server_start(&p, &s, &err), TROVE_EIO);
    assert_null(s);
    trove_server_stop(NULL);
}

static void test_cli(void **state)
{
    char *out = NULL;
    (void)state;
    assert_int_equal(testutil_run_trove(&out, "serve --help"), 0);
    assert_non_null(strstr(out, "--admin-token-file"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "serve"), 2);
    assert_non_null(strstr(out, "trove serve: --store is required"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "serve --store x --port 70000"), 2);
    free(out);
    assert_int_equal(testutil_run_trove(&out, "serve --store x --item-fallback maybe"), 2);
    assert_non_null(strstr(out, "--item-fallback must be mean or none"));
    free(out);
    assert_int_equal(testutil_run_trove(&out, "serve --store %s --port 0",
                                        testutil_tmp_path("missing.db")), 1);
    assert_non_null(strstr(out, "trove serve: "));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_metrics),
        cmocka_unit_test(test_recommend_known_user),
        cmocka_unit_test(test_recommend_cold_and_fallback),
        cmocka_unit_test(test_recommend_bad_input),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_body_limit_and_garbage),
        cmocka_unit_test(test_admin_auth),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_swap_under_load),
        cmocka_unit_test(test_rules_hook),
        cmocka_unit_test(test_rules_engine),
        cmocka_unit_test(test_rules_segments),
        cmocka_unit_test(test_user_put),
        cmocka_unit_test(test_start_out_of_memory),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
