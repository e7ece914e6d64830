/*
 * test_static.c - the dashboard's files served by the real HTTP server on
 * 127.0.0.1 (src/serve/static.c): every embedded file byte for byte, its
 * gzip variant inflated back to the same bytes, content types, cache
 * headers, client-side routes answered with index.html, Accept-Encoding
 * variants (q=0, *), HEAD, wrong methods, unknown files, and out of memory
 * while answering. Built with TROVE_DASHBOARD=OFF (an empty table) it
 * checks the 404 that says the dashboard was not built.
 */
#include "testutil.h"
#include "trove/serve.h"
#include "serve/static_assets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

static trove_server *server;
static uint16_t port;

typedef struct reply {
    int     status;
    char   *head;     /* status line and headers, NUL-terminated */
    char   *body;     /* malloc'd, NUL-terminated (may hold NULs) */
    size_t  len;
} reply;

static void reply_free(reply *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* One request with extra header lines `hdrs` ("" or "X: y\r\n..."); the
 * whole answer is read (Connection: close). */
static reply fetch(const char *method, const char *path, const char *hdrs)
{
    reply r = { -1, NULL, NULL, 0 };
    char req[1024];
    size_t n = 0;
    char *buf, *sep;
    int len = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Connection: close\r\n%s\r\n", method, path, hdrs);
    assert_true(len > 0 && (size_t)len < sizeof req);
    buf = testutil_http_exchange(port, req, (size_t)len, &n);
    sep = n > 12 ? strstr(buf, "\r\n\r\n") : NULL;
    if (sep != NULL && strncmp(buf, "HTTP/1.", 7) == 0) {
        r.status = atoi(buf + 9);
        r.head = strndup(buf, (size_t)(sep - buf) + 2);
        r.len = n - (size_t)(sep + 4 - buf);
        r.body = malloc(r.len + 1);
        assert_non_null(r.body);
        memcpy(r.body, sep + 4, r.len);
        r.body[r.len] = '\0';
    }
    free(buf);
    return r;
}

/* Value of header `name` in r->head (copied into out), or NULL. */
static const char *header(const reply *r, const char *name, char *out,
                          size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = r->head; p != NULL && *p; ) {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            break;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, size, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

static int setup(void **state)
{
    trove_error err;
    trove_store *st = NULL;
    int64_t de, iid;
    const char *db = testutil_tmp_path("static.db");
    trove_serve_params p = trove_serve_default_params();
    (void)state;
    if (trove_store_open(db, TROVE_STORE_CREATE, &st, &err) != TROVE_OK ||
        trove_store_begin(st, &err) != TROVE_OK ||
        trove_store_market_upsert(st, "DE", "Germany", "Europe/Berlin", &de,
                                  NULL, &err) != TROVE_OK ||
        trove_store_item_upsert(st, "i1", "one", &iid, NULL, &err) != TROVE_OK ||
        trove_store_commit(st, &err) != TROVE_OK) {
        fprintf(stderr, "store: %s\n", err.msg);
        trove_store_close(st);
        return -1;
    }
    trove_store_close(st);
    p.store_uri = db;
    p.port = 0;
    p.conn_timeout = 2;
    p.admin_token = "t";
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

static const serve_asset *asset(const char *path)
{
    for (size_t i = 0; i < trove__serve_static_n_assets; i++)
        if (strcmp(trove__serve_static_assets[i].path, path) == 0)
            return &trove__serve_static_assets[i];
    return NULL;
}

static void test_not_built(void **state)
{
    reply r;
    (void)state;
    if (trove__serve_static_n_assets > 0)
        skip();
    r = fetch("GET", "/", "");
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "dashboard was not built"));
    reply_free(&r);
}

static void test_every_file(void **state)
{
    (void)state;
    if (trove__serve_static_n_assets == 0)
        skip();
    assert_non_null(asset("/index.html"));
    for (size_t i = 0; i < trove__serve_static_n_assets; i++) {
        const serve_asset *a = &trove__serve_static_assets[i];
        char v[256];
        reply r = fetch("GET", a->path, "");
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, a->len);
        assert_memory_equal(r.body, a->data, a->len);
        assert_string_equal(header(&r, "Content-Type", v, sizeof v), a->content_type);
        assert_null(header(&r, "Content-Encoding", v, sizeof v));
        assert_string_equal(header(&r, "Cache-Control", v, sizeof v),
                            a->immutable ? "public, max-age=31536000, immutable"
                                         : "no-cache");
        assert_int_equal(a->immutable, strncmp(a->path, "/assets/", 8) == 0);
        if (i > 0)
            assert_true(strcmp(trove__serve_static_assets[i - 1].path, a->path) < 0);
        reply_free(&r);
    }
}

static void test_gzip(void **state)
{
    int gzipped = 0;
    (void)state;
    if (trove__serve_static_n_assets == 0)
        skip();
    for (size_t i = 0; i < trove__serve_static_n_assets; i++) {
        const serve_asset *a = &trove__serve_static_assets[i];
        char v[64];
        unsigned char *plain;
        uLongf plain_len;
        z_stream z;
        reply r;
        if (a->gz == NULL)
            continue;
        gzipped++;
        r = fetch("GET", a->path, "Accept-Encoding: br, gzip, deflate\r\n");
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Content-Encoding", v, sizeof v), "gzip");
        assert_true(r.len < a->len);
        plain_len = (uLongf)a->len + 1;
        plain = malloc(plain_len);
        assert_non_null(plain);
        memset(&z, 0, sizeof z);
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)r.body;
        z.avail_in = (uInt)r.len;
        z.next_out = plain;
        z.avail_out = (uInt)plain_len;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_int_equal(z.total_out, a->len);
        inflateEnd(&z);
        assert_memory_equal(plain, a->data, a->len);
        free(plain);
        reply_free(&r);
    }
    assert_true(gzipped > 0);   /* the bundle compresses */
}

static void test_accept_encoding(void **state)
{
    static const struct { const char *hdr; int gz; } cases[] = {
        { "Accept-Encoding: gzip\r\n", 1 },
        { "Accept-Encoding: GZIP;q=0.5\r\n", 1 },
        { "Accept-Encoding: *\r\n", 1 },
        { "Accept-Encoding: gzip;q=0\r\n", 0 },
        { "Accept-Encoding: identity\r\n", 0 },
        { "Accept-Encoding: x-gzip2\r\n", 0 },
        { "", 0 },
    };
    const serve_asset *a = NULL;
    (void)state;
    for (size_t i = 0; i < trove__serve_static_n_assets && a == NULL; i++)
        if (trove__serve_static_assets[i].gz != NULL)
            a = &trove__serve_static_assets[i];
    if (a == NULL)
        skip();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char v[64];
        reply r = fetch("GET", a->path, cases[i].hdr);
        assert_int_equal(r.status, 200);
        assert_int_equal(header(&r, "Content-Encoding", v, sizeof v) != NULL,
                         cases[i].gz);
        assert_int_equal(r.len, cases[i].gz ? a->gz_len : a->len);
        reply_free(&r);
    }
}

static void test_routes_and_errors(void **state)
{
    const serve_asset *index;
    static const char *pages[] = { "/", "/offers", "/ab", "/models/", "/x/y" };
    static const char *missing[] = { "/assets/missing.js", "/assets/",
                                     "/favicon.ico", "/x/y.png" };
    reply r;
    (void)state;
    if (trove__serve_static_n_assets == 0)
        skip();
    index = asset("/index.html");
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        r = fetch("GET", pages[i], "");
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, index->len);
        assert_memory_equal(r.body, index->data, index->len);
        reply_free(&r);
    }
    r = fetch("GET", "/ab?market=DE", "");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        r = fetch("GET", missing[i], "");
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "no such file"));
        reply_free(&r);
    }
    r = fetch("POST", "/", "Content-Length: 0\r\n");
    assert_int_equal(r.status, 405);
    reply_free(&r);
    r = fetch("HEAD", "/", "");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    reply_free(&r);
    r = fetch("GET", "/v1/nothing", "");      /* the API's, not ours */
    assert_int_equal(r.status, 404);
    assert_null(strstr(r.body, "no such file"));
    reply_free(&r);
}

/* Fail the k-th allocation while a page is answered: a clean error or a
 * dropped connection, never a crash or a leak, and the next request works. */
static void test_out_of_memory(void **state)
{
    (void)state;
    for (long k = 0; k < 6; k++) {
        reply r;
        testutil_fail_alloc_after(k);
        r = fetch("GET", "/offers", "Accept-Encoding: gzip\r\n");
        testutil_fail_alloc_after(-1);
        assert_true(r.status == -1 || r.status == 200 || r.status == 404 ||
                    r.status >= 500);
        reply_free(&r);
        r = fetch("GET", "/offers", "");
        assert_int_equal(r.status, trove__serve_static_n_assets ? 200 : 404);
        reply_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_built),
        cmocka_unit_test(test_every_file),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_accept_encoding),
        cmocka_unit_test(test_routes_and_errors),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
