/*
 * test_serve_families.c - which model families trove serve serves, end to
 * end through the trove program and a real server on 127.0.0.1: a store
 * with two markets, `trove train --store` with `model: {family: ials}` for
 * DE and `family: ease` for EE (which warns that EE cannot be served), then
 * a server whose DE answers for known users are the iALS model's own top n
 * (source "model", no fallback, /v1/models reporting family ials), whose
 * unknown users and whole EE market get the popularity fallback, and
 * whose start logs EE's refusal naming market, version, family and the
 * fix. Activating an ease version of DE is refused the same way and DE
 * keeps serving its iALS version; an offer uploaded later is ranked by
 * the iALS model from the mean row of the trained offers.
 */
#include "testutil.h"
#include "trove/recommender.h"
#include "trove/serve.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_ITEMS 120
#define N_DE 60
#define N_EE 40
#define TOKEN "token"

static trove_server *server;
static uint16_t port;
static char db[1024], models[1024], markets[1024], markets_ease[1024];

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[8192];

static void capture_log(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    pthread_mutex_lock(&log_lock);
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof log_text - n, "%s\n", msg);
    pthread_mutex_unlock(&log_lock);
}

static void add_market_users(trove_store *st, int64_t market, const char *prefix, int n,
                             const int64_t *items, uint64_t *ev_id, trove_rng *r)
{
    trove_error err;
    char id[32];
    for (int u = 0; u < n; u++) {
        int64_t uid;
        snprintf(id, sizeof id, "%s%d", prefix, u);
        assert_int_equal(trove_store_user_upsert(st, id, market, &uid, NULL, &err), TROVE_OK);
        /* clicks skewed to popular offers and to the user's taste group */
        for (int j = 0; j < 14; j++) {
            uint32_t x = trove_rng_below(r, N_ITEMS);
            if (j % 3 == 0)
                x = x % 15;
            else if (j % 3 == 1)
                x = (x / 6) * 6 + (uint32_t)(u % 6);
            trove_event ev = { .id = (*ev_id)++, .user_id = uid, .item_id = items[x],
                               .type = TROVE_EVENT_CLICK, .value = 1,
                               .ts = 1700000000 + j, .market_id = market };
            assert_int_equal(trove_store_event_add(st, &ev, NULL, &err), TROVE_OK);
        }
    }
}

static void build_store(void)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, ee, fid;
    static int64_t items[N_ITEMS];
    uint64_t ev_id = 1;
    char id[32];
    trove_rng r;
    trove_rng_seed(&r, 5);
    remove(db);
    assert_int_equal(trove_store_open(db, TROVE_STORE_CREATE, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_begin(st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "DE", "Germany", "Europe/Berlin", &de,
                                               NULL, &err), TROVE_OK);
    assert_int_equal(trove_store_market_upsert(st, "EE", "Estonia", "Europe/Tallinn", &ee,
                                               NULL, &err), TROVE_OK);
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(id, sizeof id, "i%d", i);
        assert_int_equal(trove_store_item_upsert(st, id, id, &items[i], NULL, &err),
                         TROVE_OK);
        snprintf(id, sizeof id, "cat=c%d", i % 6);
        assert_int_equal(trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                                    TROVE_FEATURE_CATEGORICAL, &fid, &err),
                         TROVE_OK);
        assert_int_equal(trove_store_item_feature_set(st, items[i], fid, 1, &err), TROVE_OK);
    }
    add_market_users(st, de, "d", N_DE, items, &ev_id, &r);
    add_market_users(st, ee, "e", N_EE, items, &ev_id, &r);
    assert_int_equal(trove_store_commit(st, &err), TROVE_OK);
    trove_store_close(st);
}

static void write_config(const char *dir, const char *code, const char *model)
{
    char path[1200], text[1024];
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/%s.yaml", dir, code);
    snprintf(text, sizeof text,
             "market: {code: %s, name: %s}\n"
             "window: {last_days: 365}\n"
             "features: {item: [cat]}\n"
             "model: %s\n"
             "assignment: {number_of_predictions: 10}\n"
             "experiment: {test_share: 1.0, control_policy: popularity, salt: s}\n",
             code, code, model);
    assert_int_equal(testutil_write_file(path, text), 0);
}

/* Run `trove train --store` for a market; its output (stdout and stderr). */
static char *train(const char *dir, const char *code, const char *want)
{
    char *out = NULL;
    int rc = testutil_run_trove(&out, "train --store '%s' --market %s --markets-dir '%s' "
                                "--models-dir '%s' --threads 1", db, code, dir, models);
    if (rc != 0 || strstr(out, want) == NULL)
        fail_msg("trove train %s: exit %d, output:\n%s\n(want '%s')", code, rc, out, want);
    return out;
}

static int setup(void **state)
{
    char *out;
    (void)state;
    snprintf(db, sizeof db, "%s", testutil_tmp_path("families.db"));
    snprintf(models, sizeof models, "%s", testutil_tmp_path("models"));
    snprintf(markets, sizeof markets, "%s", testutil_tmp_path("markets"));
    snprintf(markets_ease, sizeof markets_ease, "%s", testutil_tmp_path("markets-ease"));
    build_store();
    write_config(markets, "DE",
                 "{family: ials, params: {factors: 8, iterations: 10, regularization: 2, "
                 "alpha: 5}}");
    write_config(markets, "EE", "{family: ease, params: {lambda: 50}}");
    write_config(markets_ease, "DE", "{family: ease, params: {lambda: 50}}");

    out = train(markets, "DE", "DE: ials model v1");
    assert_null(strstr(out, "warning"));
    free(out);
    out = train(markets, "EE", "EE: ease model v1");
    assert_non_null(strstr(out, "trove train: warning: EE: version 1 is a 'ease' model, "
                                "which trove serve cannot serve"));
    assert_non_null(strstr(out, "train a hybrid or ials model for this market"));
    free(out);

    log_text[0] = '\0';
    trove_set_log(capture_log, NULL, TROVE_LOG_WARN);
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db;
    p.port = 0;
    p.admin_token = TOKEN;
    p.max_n = 2 * N_ITEMS;
    port = testutil_server_start(&p, &server);
    return port == 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    trove_server_stop(server);
    trove_set_log(NULL, NULL, TROVE_LOG_WARN);
    return 0;
}

static json_t *request(const char *method, const char *path, const char *body, int want)
{
    char req[1024];
    size_t blen = body ? strlen(body) : 0;
    int len = snprintf(req, sizeof req,
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                       "Authorization: Bearer " TOKEN "\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       method, path, blen, body ? body : "");
    char *raw = testutil_http_exchange(port, req, (size_t)len, NULL);
    if (testutil_http_status(raw) != want)
        fail_msg("%s %s: status %d (want %d): %s", method, path, testutil_http_status(raw),
                 want, testutil_http_body(raw));
    json_error_t je;
    json_t *doc = json_loads(testutil_http_body(raw), 0, &je);
    free(raw);
    assert_non_null(doc);
    return doc;
}

static json_t *recommend(const char *user, const char *market, unsigned n)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/recommendations?user=%s&market=%s&n=%u", user, market,
             n);
    return request("GET", path, NULL, 200);
}

/* Path of the active version of a market in the registry. */
typedef struct find_path {
    int version;
    char path[1024];
} find_path;

static int on_version(void *ud, const trove_model_version *mv)
{
    find_path *f = ud;
    if (mv->version == f->version)
        snprintf(f->path, sizeof f->path, "%s", mv->path);
    return 0;
}

static void version_path(const char *code, int version, char *out, size_t size)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t market = 0;
    find_path f = { .version = version };
    assert_int_equal(trove_store_open(db, 0, &st, &err), TROVE_OK);
    assert_int_equal(trove_store_market_find(st, code, &market, &err), TROVE_OK);
    assert_int_equal(trove_store_models_foreach(st, market, on_version, &f, &err), TROVE_OK);
    trove_store_close(st);
    assert_true(f.path[0] != '\0');
    snprintf(out, size, "%s", f.path);
}

/* Served DE lists are the iALS model's top n over the whole catalog:
 * rank by rank the served item has the iALS score of the expected one
 * (equal items, or a swap of scores equal to float rounding). */
static void check_ials_lists(void)
{
    char path[1024], side[1100];
    trove_recommender *r = NULL;
    trove_idmap *users = NULL, *items = NULL;
    trove_error err;
    const unsigned ns[] = { 1, 10, 25 };
    version_path("DE", 1, path, sizeof path);
    assert_int_equal(trove_recommender_load(path, &r, &err), TROVE_OK);
    assert_string_equal(trove_recommender_family(r), "ials");
    snprintf(side, sizeof side, "%s.users", path);
    assert_int_equal(trove_idmap_load(side, &users, &err), TROVE_OK);
    snprintf(side, sizeof side, "%s.items", path);
    assert_int_equal(trove_idmap_load(side, &items, &err), TROVE_OK);
    uint32_t ni = trove_recommender_n_items(r);
    float *s = malloc(ni * sizeof *s);
    assert_non_null(s);
    for (int u = 0; u < N_DE; u++) {
        char uid[16];
        snprintf(uid, sizeof uid, "d%d", u);
        int64_t row = trove_idmap_find(users, uid, strlen(uid));
        assert_true(row >= 0);
        assert_int_equal(trove_recommender_score_user(r, (uint32_t)row, s, &err), TROVE_OK);
        for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
            uint32_t want[32], n_want = 0;
            float want_s[32];
            assert_int_equal(trove_recommender_recommend(r, (uint32_t)row, ns[t], 0, want,
                                                         want_s, &n_want, &err), TROVE_OK);
            json_t *doc = recommend(uid, "DE", ns[t]);
            assert_string_equal(json_string_value(json_object_get(doc, "arm")), "test");
            assert_true(json_is_false(json_object_get(doc, "fallback")));
            assert_int_equal(json_integer_value(json_object_get(doc, "model_version")), 1);
            json_t *list = json_object_get(doc, "items");
            assert_int_equal(json_array_size(list), n_want);
            for (size_t i = 0; i < n_want; i++) {
                json_t *it = json_array_get(list, i);
                const char *got = json_string_value(json_object_get(it, "item"));
                int64_t gi = trove_idmap_find(items, got, strlen(got));
                assert_string_equal(json_string_value(json_object_get(it, "source")),
                                    "model");
                assert_true(gi >= 0);
                if ((uint32_t)gi != want[i] && fabsf(s[gi] - want_s[i]) > 1e-5f)
                    fail_msg("user %s n=%u rank %zu: served %s (%g), iALS %s (%g)", uid,
                             ns[t], i, got, (double)s[gi],
                             trove_idmap_name(items, want[i], NULL), (double)want_s[i]);
                double score = json_real_value(json_object_get(it, "score"));
                assert_true(fabs(score - (double)s[gi]) <= 1e-4 * (1.0 + fabs(score)));
            }
            json_decref(doc);
        }
    }
    free(s);
    trove_idmap_free(users);
    trove_idmap_free(items);
    trove_recommender_free(r);
}

static void check_fallback(const char *user, const char *market)
{
    json_t *doc = recommend(user, market, 5);
    json_t *list = json_object_get(doc, "items");
    assert_true(json_is_true(json_object_get(doc, "fallback")));
    assert_int_equal(json_array_size(list), 5);
    for (size_t i = 0; i < json_array_size(list); i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i),
                                                              "source")), "popular");
    json_decref(doc);
}

static const char *family_of(json_t *doc, const char *code, int version, int *serving)
{
    json_t *ms = json_object_get(doc, "markets");
    for (size_t m = 0; m < json_array_size(ms); m++) {
        json_t *mk = json_array_get(ms, m);
        if (strcmp(json_string_value(json_object_get(mk, "market")), code) != 0)
            continue;
        json_t *sv = json_object_get(mk, "serving_version");
        *serving = json_is_integer(sv) ? (int)json_integer_value(sv) : 0;
        json_t *vs = json_object_get(mk, "versions");
        for (size_t v = 0; v < json_array_size(vs); v++) {
            json_t *x = json_array_get(vs, v);
            if (json_integer_value(json_object_get(x, "version")) == version)
                return json_string_value(json_object_get(x, "family"));
        }
    }
    return NULL;
}

static void test_ials_served(void **state)
{
    int serving = -1;
    (void)state;
    check_ials_lists();
    /* a user the model does not know: no features in an iALS model */
    check_fallback("nobody", "DE");
    json_t *doc = request("GET", "/v1/models", NULL, 200);
    assert_string_equal(family_of(doc, "DE", 1, &serving), "ials");
    assert_int_equal(serving, 1);
    json_decref(doc);
    /* trove monitor and trove hunt load the version as the server does */
    char *out = NULL;
    assert_int_equal(testutil_run_trove(&out, "monitor --store '%s' --market DE", db), 0);
    assert_non_null(strstr(out, "version 1 (ials)"));
    if (strstr(out, "not scored") != NULL)
        fail_msg("trove monitor did not score the iALS version:\n%s", out);
    free(out);
    out = NULL;
    const char *tpl = testutil_tmp_path("hunt.yaml");
    assert_int_equal(testutil_write_file(tpl, "name: t\nsteps: 2\n"
                                              "constraints: {category_field: cat}\n"
                                              "rewards: [{id: r, title: R}]\n"), 0);
    int hrc = testutil_run_trove(&out, "hunt --store '%s' --market DE --user d1 --json "
                                 "--template '%s'", db, tpl);
    if (hrc != 0 || strstr(out, "\"source\":\"model\"") == NULL)
        fail_msg("trove hunt (exit %d) did not use the iALS version:\n%s", hrc, out);
    free(out);
}

static void test_ease_refused(void **state)
{
    int serving = -1;
    (void)state;
    pthread_mutex_lock(&log_lock);
    char *line = strstr(log_text, "market EE: version 1 (family ease)");
    if (line == NULL || strstr(line, "model family 'ease' cannot be served") == NULL ||
        strstr(line, "train a hybrid or ials model for this market") == NULL)
        fail_msg("no refusal of EE's ease model in the log:\n%s", log_text);
    assert_null(strstr(log_text, "market DE"));
    pthread_mutex_unlock(&log_lock);
    check_fallback("e3", "EE");
    json_t *doc = request("GET", "/v1/models", NULL, 200);
    assert_string_equal(family_of(doc, "EE", 1, &serving), "ease");
    assert_int_equal(serving, 0);
    json_decref(doc);

    /* an ease version of DE: registered by train, refused by activate */
    char *out = train(markets_ease, "DE", "DE: ease model v2");
    assert_non_null(strstr(out, "cannot serve"));
    free(out);
    doc = request("POST", "/v1/models/DE/activate", "{\"version\":2}", 503);
    const char *msg =
        json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "market DE: version 2 (family ease)"));
    assert_non_null(strstr(msg, "train a hybrid or ials model for this market"));
    json_decref(doc);
    doc = request("GET", "/v1/models", NULL, 200);
    assert_string_equal(family_of(doc, "DE", 2, &serving), "ease");
    assert_int_equal(serving, 1);
    json_decref(doc);
    check_ials_lists();
}

/* An offer uploaded after training gets the mean row of the trained
 * offers (the iALS model's item counts say which have interactions), so
 * the model ranks it instead of the exploration slot. */
static void test_new_offer(void **state)
{
    (void)state;
    json_t *doc = request("PUT", "/v1/items/fresh",
                          "{\"title\":\"Fresh\",\"features\":{\"cat\":\"c1\"},"
                          "\"active\":true}", 201);
    json_decref(doc);
    doc = recommend("d4", "DE", N_ITEMS + 1);
    json_t *list = json_object_get(doc, "items");
    int seen = 0;
    assert_int_equal(json_array_size(list), N_ITEMS + 1);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *it = json_array_get(list, i);
        if (strcmp(json_string_value(json_object_get(it, "item")), "fresh") == 0) {
            assert_string_equal(json_string_value(json_object_get(it, "source")), "model");
            seen = 1;
        }
    }
    assert_true(seen);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ials_served),
        cmocka_unit_test(test_ease_refused),
        cmocka_unit_test(test_new_offer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
