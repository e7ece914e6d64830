/*
 * test_serve_offers.c - offers uploaded while serving are ranked from their
 * features, and the frequency and budget caps get their inputs online.
 *
 * Fixture: 40 offers in two categories (a0..a19 with cat=a, b0..b19 with
 * cat=b), users ua* who click only cat=a offers and ub* only cat=b, one
 * hybrid model without item identity (an item is its category's
 * embedding) registered for DE (no rules) and FR (rules: a frequency cap of
 * 2 impressions a day and a budget cap; FR's time zone is a fixed offset
 * east of UTC chosen so that its day began before UTC midnight, to tell
 * local days from UTC days). The real server runs on 127.0.0.1.
 */
#include "testutil.h"
#include "trove/serve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "offers-token"

static trove_server *server;
static uint16_t port;
/* FR's UTC offset in hours (zone Etc/GMT-<h>): its day starts at 24 - h
 * o'clock UTC, after the current hour when the hour allows it */
static int fr_hours;

typedef struct reply {
    int   status;
    char *body;
} reply;

static reply http_on(uint16_t p, const char *method, const char *path,
                     const char *body)
{
    reply r = { -1, NULL };
    size_t blen = body ? strlen(body) : 0;
    char req[2048];
    int len = snprintf(req, sizeof req,
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                       "Authorization: Bearer " TOKEN "\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       method, path, blen, body ? body : "");
    assert_true(len > 0 && (size_t)len < sizeof req);
    char *buf = testutil_http_exchange(p, req, (size_t)len, NULL);
    r.status = testutil_http_status(buf);
    r.body = strdup(testutil_http_body(buf));
    free(buf);
    return r;
}

static reply http(const char *method, const char *path, const char *body)
{
    return http_on(port, method, path, body);
}

/* Source and score of item `id` in a recommendation answer: 1 when it is
 * in the list, 0 otherwise. */
static int find_item(const char *body, const char *id, char *source,
                     size_t size, double *score)
{
    char key[128];
    snprintf(key, sizeof key, "{\"item\":\"%s\"", id);
    const char *p = strstr(body, key);
    if (p == NULL)
        return 0;
    const char *end = strchr(p, '}');
    const char *sc = strstr(p, "\"score\":");
    const char *src = strstr(p, "\"source\":\"");
    assert_non_null(end);
    assert_true(sc != NULL && sc < end && src != NULL && src < end);
    *score = strncmp(sc + 8, "null", 4) == 0 ? NAN : atof(sc + 8);
    src += strlen("\"source\":\"");
    snprintf(source, size, "%.*s", (int)(strchr(src, '"') - src), src);
    return 1;
}

/* The first item of a recommendation answer into id. */
static void first_item(const char *body, char *id, size_t size)
{
    const char *p = strstr(body, "\"items\":[{\"item\":\"");
    assert_non_null(p);
    p += strlen("\"items\":[{\"item\":\"");
    snprintf(id, size, "%.*s", (int)(strchr(p, '"') - p), p);
}

/* ---------------------------------------------------------- fixture */
static trove_model *train(trove_store *st)
{
    trove_error err;
    trove_dataset *ds = NULL;
    trove_model *m = NULL;
    trove_model_params p = trove_model_default_params();
    assert_int_equal(trove_dataset_from_store(st, NULL, &ds, &err), TROVE_OK);
    const trove_csr *itf = trove_dataset_item_features(ds);
    p.loss = TROVE_LOSS_WARP;
    p.no_components = 8;
    p.item_identity = 0;
    p.seed = 3;
    assert_int_equal(trove_model_new(&p, 0, itf->n_cols, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, trove_dataset_interactions(ds), NULL, itf,
                                     30, &err), TROVE_OK);
    assert_int_equal(trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                         trove_dataset_item_ids(ds), NULL,
                                         trove_dataset_item_feature_names(ds),
                                         &err), TROVE_OK);
    trove_dataset_free(ds);
    return m;
}

static void build_store(const char *db, const char *model_path)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, fr, fa, fb, uid, items[40];
    char id[32];
    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_begin(st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", NULL, NULL, &de, NULL,
                                               &err), TROVE_OK);
    {
        char tz[32];
        int hour = (int)(time(NULL) % 86400 / 3600);
        fr_hours = 23 - hour > 14 ? 14 : 23 - hour < 1 ? 1 : 23 - hour;
        snprintf(tz, sizeof tz, "Etc/GMT-%d", fr_hours);
        assert_int_equal(trove_store_market_upsert(st, "FR", NULL, tz, &fr, NULL, &err),
                         TROVE_OK);
    }
    assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, "cat=a",
                                                TROVE_FEATURE_CATEGORICAL, &fa,
                                                &err), TROVE_OK);
    assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, "cat=b",
                                                TROVE_FEATURE_CATEGORICAL, &fb,
                                                &err), TROVE_OK);
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "%c%d", i < 20 ? 'a' : 'b', i % 20);
        assert_int_equal(trove_store_item_upsert(st, id, NULL, &items[i], NULL,
                                                 &err), TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, items[i],
                                                      i < 20 ? fa : fb, 1, &err),
                         TROVE_OK);
    }
    for (int u = 0; u < 20; u++) {
        snprintf(id, sizeof id, "u%c%d", u < 10 ? 'a' : 'b', u % 10);
        assert_int_equal(trove_store_user_upsert(st, id, de, &uid, NULL, &err),
                         TROVE_OK);
        for (int j = 0; j < 6; j++) {
            int item = (u < 10 ? 0 : 20) + (2 * u + j) % 20;
            trove_event ev = { .id = (uint64_t)(u * 100 + j + 1), .user_id = uid,
                               .item_id = items[item], .type = TROVE_EVENT_CLICK,
                               .value = 1, .ts = 1700000000 + j, .market_id = de };
            assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
        }
    }
    assert_int_equal(trove_store_commit(st, &err), TROVE_OK);
    trove_model *m = train(st);
    assert_int_equal(trove_model_save(m, model_path, &err), TROVE_OK);
    trove_model_free(m);
    int64_t markets[2] = { de, fr };
    for (int k = 0; k < 2; k++) {
        int version;
        trove_model_version mv = { .market_id = markets[k], .created_ts = 1700000000,
                                   .family = "hybrid", .path = model_path,
                                   .config_hash = "0000000000000000",
                                   .data_fingerprint = "fixture" };
        assert_int_equal(trove_store_model_register(st, &mv, &version, NULL, &err),
                         TROVE_OK);
        assert_int_equal(trove_store_model_activate(st, markets[k], version, &err),
                         TROVE_OK);
    }
    trove_store_close(st);
}

static int start(trove_server **s, uint16_t *p, int fallback)
{
    trove_error err;
    trove_serve_params sp = trove_serve_default_params();
    sp.store_uri = testutil_tmp_path("offers.db");
    sp.rules_dir = testutil_tmp_path("rules");
    sp.admin_token = TOKEN;
    sp.item_cold_fallback = fallback;
    if (trove_server_start(&sp, s, &err) != TROVE_OK) {
        fprintf(stderr, "server: %s\n", err.msg);
        return -1;
    }
    *p = trove_server_port(*s);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    build_store(testutil_tmp_path("offers.db"), testutil_tmp_path("offers.trove"));
    mkdir(testutil_tmp_path("rules"), 0755);
    if (testutil_write_file(testutil_tmp_path("rules/FR.yaml"),
                            "market: FR\n"
                            "frequency_window_days: 1\n"
                            "rules:\n"
                            "  - {name: twice, kind: frequency_cap, max: 2}\n"
                            "  - {name: money, kind: budget_cap}\n") != 0)
        return -1;
    return start(&server, &port, TROVE_COLD_MEAN);
}

static int teardown(void **state)
{
    (void)state;
    trove_server_stop(server);
    server = NULL;
    return 0;
}

/* ------------------------------------------------------------ tests */
static void test_model_item_repr_features(void **state)
{
    trove_error err;
    trove_model *m = NULL;
    float emb[8], ref[8], b, rb;
    (void)state;
    assert_int_equal(trove_model_load(testutil_tmp_path("offers.trove"), &m, &err),
                     TROVE_OK);
    const trove_idmap *names = trove_model_item_feature_names(m);
    const trove_idmap *ids = trove_model_item_ids(m);
    int64_t fa = trove_idmap_find(names, "cat=a", 5);
    int64_t a0 = trove_idmap_find(ids, "a0", 2);
    assert_true(fa >= 0 && a0 >= 0);
    uint32_t f = (uint32_t)fa;
    /* without item identity, an item with only cat=a is a0 itself */
    assert_int_equal(trove_model_item_repr_features(m, &f, NULL, 1, emb, &b, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_item_repr(m, (uint32_t)a0, ref, &rb, &err), TROVE_OK);
    for (int d = 0; d < 8; d++)
        assert_float_equal(emb[d], ref[d], 1e-6);
    assert_float_equal(b, rb, 1e-6);
    /* weights scale the embedding */
    float w = 2.0f;
    assert_int_equal(trove_model_item_repr_features(m, &f, &w, 1, emb, &b, &err),
                     TROVE_OK);
    for (int d = 0; d < 8; d++)
        assert_float_equal(emb[d], 2.0f * ref[d], 1e-5);
    /* the mean is between the two categories */
    uint32_t fb = (uint32_t)trove_idmap_find(names, "cat=b", 5);
    float eb[8], mean[8], mb;
    assert_int_equal(trove_model_item_repr_features(m, &fb, NULL, 1, eb, NULL, &err),
                     TROVE_OK);
    assert_int_equal(trove_model_item_repr_mean(m, mean, &mb, &err), TROVE_OK);
    for (int d = 0; d < 8; d++)
        assert_float_equal(mean[d], 0.5f * (ref[d] + eb[d]), 1e-5);
    /* bad input: index out of range, weight not finite; outputs untouched */
    uint32_t bad = 99;
    float inf = INFINITY;
    emb[0] = 42.0f;
    assert_int_equal(trove_model_item_repr_features(m, &bad, NULL, 1, emb, &b, &err),
                     TROVE_EINVAL);
    assert_int_equal(trove_model_item_repr_features(m, &f, &inf, 1, emb, &b, &err),
                     TROVE_EINVAL);
    assert_float_equal(emb[0], 42.0f, 0);
    /* this model has no user features: any index is out of range; no
     * features at all is the zero user */
    assert_int_equal(trove_model_user_repr_features(m, &f, NULL, 1, emb, &b, &err),
                     TROVE_EINVAL);
    assert_int_equal(trove_model_user_repr_features(m, NULL, NULL, 0, emb, &b, &err),
                     TROVE_OK);
    assert_float_equal(emb[0], 0.0f, 0);
    assert_float_equal(b, 0.0f, 0);
    trove_model_free(m);
}

static void test_offer_ranked_from_features(void **state)
{
    char src[32];
    double s_new, s_a0, s_b0, s_odd;
    (void)state;
    reply r = http("PUT", "/v1/items/newa", "{\"features\":{\"cat\":\"a\"}}");
    assert_int_equal(r.status, 201);
    free(r.body);
    /* a cat=a user: the new offer ranks with the cat=a offers, from the
     * model, with the score of any cat=a offer */
    r = http("GET", "/v1/recommendations?user=ua0&market=DE&n=21", NULL);
    assert_int_equal(r.status, 200);
    assert_true(find_item(r.body, "newa", src, sizeof src, &s_new));
    assert_string_equal(src, "model");
    assert_true(find_item(r.body, "a0", src, sizeof src, &s_a0));
    assert_true(fabs(s_new - s_a0) < 1e-4);
    assert_false(find_item(r.body, "b0", src, sizeof src, &s_b0));
    free(r.body);
    /* a cat=b user does not get it in the top 20 */
    r = http("GET", "/v1/recommendations?user=ub0&market=DE&n=20", NULL);
    assert_int_equal(r.status, 200);
    assert_false(find_item(r.body, "newa", src, sizeof src, &s_new));
    free(r.body);

    /* unknown features: the mean trained item (item_cold_fallback MEAN),
     * between the two categories for a cat=a user */
    r = http("PUT", "/v1/items/odd", "{\"features\":{\"color\":\"red\"}}");
    assert_int_equal(r.status, 201);
    free(r.body);
    r = http("GET", "/v1/recommendations?user=ua0&market=DE&n=42", NULL);
    assert_int_equal(r.status, 200);
    assert_true(find_item(r.body, "odd", src, sizeof src, &s_odd));
    assert_string_equal(src, "model");
    assert_true(find_item(r.body, "a0", src, sizeof src, &s_a0));
    assert_true(find_item(r.body, "b0", src, sizeof src, &s_b0));
    assert_true(s_a0 > s_odd && s_odd > s_b0);
    assert_true(fabs(s_odd - 0.5 * (s_a0 + s_b0)) < 1e-4);
    free(r.body);

    /* with the fallback off, the same offer has no row: exploration slot */
    trove_server *s2 = NULL;
    uint16_t p2 = 0;
    assert_int_equal(start(&s2, &p2, TROVE_COLD_NONE), 0);
    r = http_on(p2, "GET", "/v1/recommendations?user=ua0&market=DE&n=5", NULL);
    assert_int_equal(r.status, 200);
    assert_true(find_item(r.body, "odd", src, sizeof src, &s_odd));
    assert_string_equal(src, "explore");
    assert_true(isnan(s_odd));
    free(r.body);
    r = http_on(p2, "GET", "/v1/recommendations?user=ua0&market=DE&n=22", NULL);
    assert_true(find_item(r.body, "newa", src, sizeof src, &s_new));
    assert_string_equal(src, "model");
    free(r.body);
    trove_server_stop(s2);
}

static char capped_top[64];   /* the offer test_frequency_cap caps */

static void test_frequency_cap(void **state)
{
    char top[64], body[512], src[32];
    double sc;
    (void)state;
    reply r = http("GET", "/v1/recommendations?user=ua1&market=FR&n=5", NULL);
    assert_int_equal(r.status, 200);
    first_item(r.body, top, sizeof top);
    free(r.body);
    snprintf(body, sizeof body,
             "{\"events\":[{\"user\":\"ua1\",\"item\":\"%s\",\"type\":\"impression\","
             "\"market\":\"FR\",\"id\":\"imp-1\"}]}", top);
    r = http("POST", "/v1/events", body);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* one impression: still shown; the same event again is a duplicate
     * and not counted twice */
    r = http("POST", "/v1/events", body);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"duplicates\":1"));
    free(r.body);
    r = http("GET", "/v1/recommendations?user=ua1&market=FR&n=5", NULL);
    assert_true(find_item(r.body, top, src, sizeof src, &sc));
    free(r.body);
    /* the second impression reaches max 2: capped on the next request */
    snprintf(body, sizeof body,
             "{\"events\":[{\"user\":\"ua1\",\"item\":\"%s\",\"type\":\"impression\","
             "\"market\":\"FR\",\"id\":\"imp-2\"}]}", top);
    r = http("POST", "/v1/events", body);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http("GET", "/v1/recommendations?user=ua1&market=FR&n=5", NULL);
    assert_int_equal(r.status, 200);
    assert_false(find_item(r.body, top, src, sizeof src, &sc));
    free(r.body);
    snprintf(capped_top, sizeof capped_top, "%s", top);
    /* another market (no frequency rule) is not affected */
    r = http("GET", "/v1/recommendations?user=ua1&market=DE&n=5", NULL);
    assert_true(find_item(r.body, top, src, sizeof src, &sc));
    free(r.body);
}

/* Impressions are counted by the market's local day: two impressions an
 * hour before UTC midnight fall on FR's today (its day began earlier), so
 * they cap the offer today with a one-day window; counted by UTC day they
 * would be yesterday's. */
static void test_frequency_local_day(void **state)
{
    char top[64], body[1024], src[32];
    double sc;
    (void)state;
    int64_t now = (int64_t)time(NULL), midnight = now - now % 86400;
    int64_t at = midnight - 3600;
    int64_t off = (int64_t)fr_hours * 3600;
    if ((at + off) / 86400 != (now + off) / 86400)
        skip();   /* FR's day already turned over (the last UTC hour) */
    reply r = http("GET", "/v1/recommendations?user=ua2&market=FR&n=5", NULL);
    assert_int_equal(r.status, 200);
    first_item(r.body, top, sizeof top);
    free(r.body);
    snprintf(body, sizeof body,
             "{\"events\":[{\"user\":\"ua2\",\"item\":\"%s\",\"type\":\"impression\","
             "\"market\":\"FR\",\"id\":\"ld-1\",\"ts\":%lld},"
             "{\"user\":\"ua2\",\"item\":\"%s\",\"type\":\"impression\","
             "\"market\":\"FR\",\"id\":\"ld-2\",\"ts\":%lld}]}",
             top, (long long)at, top, (long long)(at + 60));
    r = http("POST", "/v1/events", body);
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http("GET", "/v1/recommendations?user=ua2&market=FR&n=5", NULL);
    assert_int_equal(r.status, 200);
    if (find_item(r.body, top, src, sizeof src, &sc))
        fail_msg("%s still shown after two impressions of FR's today (UTC+%d):\n%s", top,
                 fr_hours, r.body);
    free(r.body);
}

static void test_budget_cap(void **state)
{
    char src[32];
    double sc;
    (void)state;
    reply r = http("PUT", "/v1/items/promo",
                   "{\"features\":{\"cat\":\"a\",\"budget\":2}}");
    assert_int_equal(r.status, 201);
    free(r.body);
    r = http("GET", "/v1/recommendations?user=ua2&market=FR&n=25", NULL);
    assert_true(find_item(r.body, "promo", src, sizeof src, &sc));
    assert_string_equal(src, "model");
    free(r.body);
    /* redemptions worth 1.5: 0.5 left, still shown */
    r = http("POST", "/v1/events",
             "[{\"user\":\"ub1\",\"item\":\"promo\",\"type\":\"redemption\","
             "\"value\":1.5,\"market\":\"FR\"}]");
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http("GET", "/v1/recommendations?user=ua2&market=FR&n=25", NULL);
    assert_true(find_item(r.body, "promo", src, sizeof src, &sc));
    free(r.body);
    r = http("POST", "/v1/events",
             "[{\"user\":\"ub2\",\"item\":\"promo\",\"type\":\"redemption\","
             "\"market\":\"DE\"}]");
    assert_int_equal(r.status, 200);
    free(r.body);
    r = http("GET", "/v1/recommendations?user=ua2&market=FR&n=25", NULL);
    assert_false(find_item(r.body, "promo", src, sizeof src, &sc));
    free(r.body);
    /* DE has no budget rule: still shown there */
    r = http("GET", "/v1/recommendations?user=ua2&market=DE&n=25", NULL);
    assert_true(find_item(r.body, "promo", src, sizeof src, &sc));
    free(r.body);
}

/* A restarted server counts the stored impressions and redemptions. */
static void test_caps_after_restart(void **state)
{
    char src[32];
    double sc;
    trove_server *s2 = NULL;
    uint16_t p2 = 0;
    (void)state;
    assert_int_equal(start(&s2, &p2, TROVE_COLD_MEAN), 0);
    reply r = http_on(p2, "GET", "/v1/recommendations?user=ua2&market=FR&n=25",
                      NULL);
    assert_int_equal(r.status, 200);
    assert_false(find_item(r.body, "promo", src, sizeof src, &sc));
    free(r.body);
    r = http_on(p2, "GET", "/v1/recommendations?user=ua1&market=FR&n=5", NULL);
    assert_false(find_item(r.body, capped_top, src, sizeof src, &sc));
    free(r.body);
    trove_server_stop(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_item_repr_features),
        cmocka_unit_test(test_offer_ranked_from_features),
        cmocka_unit_test(test_frequency_cap),
        cmocka_unit_test(test_frequency_local_day),
        cmocka_unit_test(test_budget_cap),
        cmocka_unit_test(test_caps_after_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
