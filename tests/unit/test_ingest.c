/*
 * test_ingest.c - ingest sessions end to end on small fixtures: each preset
 * into the store, the generic mapping (CSV, TSV, JSONL; events, items,
 * users), rejects with their line numbers, idempotent re-runs, bad inputs
 * (invalid UTF-8, empty file, truncated gzip, unknown preset, missing
 * file), the dataset destination, transactions (a failure mid-way leaves
 * the store unchanged) and out-of-memory faults.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------ helpers */

static trove_store *open_store(const char *name)
{
    trove_store *s = NULL;
    trove_error err;
    int rc = trove_store_open(testutil_tmp_path(name), TROVE_STORE_CREATE, &s, &err);
    if (rc != TROVE_OK)
        fail_msg("open store: %s", err.msg);
    return s;
}

static trove_store_stats *stats(trove_store *s)
{
    static trove_store_stats st;
    trove_error err;
    if (trove_store_stats_get(s, &st, &err) != TROVE_OK)
        fail_msg("stats: %s", err.msg);
    return &st;
}

/* Ingest with a preset (or a mapping when map != NULL) into s, finish, and
 * return the summary counts in *sum (arrays not kept). */
static int ingest_store(trove_store *s, const char *preset, const trove_ingest_mapping *map,
                        const char *path, const char *rejects, trove_ingest_summary *sum,
                        trove_error *err)
{
    trove_ingest_options o = trove_ingest_default_options();
    trove_ingest *in = NULL;
    int rc;
    o.rejects_path = rejects;
    rc = trove_ingest_new_store(s, &o, &in, err);
    if (rc != TROVE_OK)
        return rc;
    rc = preset ? trove_ingest_preset(in, preset, path, err)
                : trove_ingest_file(in, path, map, err);
    if (rc == TROVE_OK || rc == TROVE_ECORRUPT) {
        trove_error e2;
        int rc2 = trove_ingest_finish(in, &e2);
        if (rc == TROVE_OK)
            rc = rc2;
    }
    trove_ingest_get_summary(in, sum);
    sum->reasons = NULL;
    sum->markets = NULL;
    trove_ingest_free(in);
    return rc;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

typedef struct feat_find {
    const char *name;
    double value;
    int count;
} feat_find;

static int find_feat(void *ud, const trove_feature_value *fv)
{
    feat_find *f = ud;
    if (strcmp(fv->name, f->name) == 0) {
        f->count++;
        f->value = fv->value;
    }
    return 0;
}

/* Number of entities carrying feature `name` (and the last weight seen). */
static int feature_count(trove_store *s, int target, const char *name, double *value)
{
    feat_find f = {name, 0, 0};
    assert_int_equal(trove_store_features_foreach(s, target, find_feat, &f, NULL), TROVE_OK);
    if (value)
        *value = f.value;
    return f.count;
}

typedef struct home_find {
    const char *ext;
    int64_t market;
} home_find;

static int find_home(void *ud, const trove_user *u)
{
    home_find *h = ud;
    if (strcmp(u->ext_id, h->ext) == 0)
        h->market = u->market_id;
    return 0;
}

static const char *item_title(trove_store *s, const char *ext)
{
    static char buf[256];
    int64_t id;
    trove_item it;
    assert_int_equal(trove_store_item_find(s, ext, &id, NULL), TROVE_OK);
    assert_int_equal(trove_store_item_get(s, id, &it, NULL), TROVE_OK);
    snprintf(buf, sizeof buf, "%s", it.title);
    return buf;
}

/* ------------------------------------------------------------ presets */

/* The MovieLens 100K preset reads a folder of u.data, u.item, u.user and
 * u.genre. The fixtures are small hand-written files under other names (so
 * that nothing in the repository looks like the licensed dataset); copy
 * them into a temporary folder under the names the preset expects. */
static const char *ml100k_dir(void)
{
    static const char *map[][2] = {{"ratings.tsv", "u.data"}, {"items.psv", "u.item"},
                                   {"users.psv", "u.user"}, {"genres.psv", "u.genre"}};
    const char *dir = testutil_tmp_path("ml100k");
    char from[600], to[600];
    static char out[512];
    snprintf(out, sizeof out, "%s", dir);
    mkdir(out, 0755);
    for (size_t i = 0; i < 4; i++) {
        snprintf(from, sizeof from, "%s", testutil_fixture("ingest/ml100k"));
        snprintf(from + strlen(from), sizeof from - strlen(from), "/%s", map[i][0]);
        snprintf(to, sizeof to, "%s/%s", out, map[i][1]);
        char *text = slurp(from);
        assert_non_null(text);
        assert_int_equal(testutil_write_file(to, text), 0);
        free(text);
    }
    return out;
}

static void test_preset_ml100k(void **state)
{
    trove_store *s = open_store("ml100k.db");
    trove_ingest_summary sum;
    trove_error err;
    const char *rej = testutil_tmp_path("ml100k.rejects.tsv");
    char *text;
    (void)state;

    assert_int_equal(ingest_store(s, "movielens-100k", NULL, ml100k_dir(),
                                  rej, &sum, &err), TROVE_OK);
    assert_int_equal(sum.rows_read, 19 + 4 + 3 + 5);
    assert_int_equal(sum.rows_rejected, 3);
    assert_int_equal(sum.users_new, 3);
    assert_int_equal(sum.items_new, 2);
    assert_int_equal(sum.events_new, 4);
    trove_store_stats *st = stats(s);
    assert_int_equal(st->users, 3);
    assert_int_equal(st->items, 2);
    assert_int_equal(st->events_by_type[TROVE_EVENT_RATING], 4);
    assert_int_equal(st->item_features, 4);   /* Animation, Children's, Comedy, Drama */
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "genre=Children's", NULL), 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_USER, "age=under 18", NULL), 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_USER, "age=18-24", NULL), 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_USER, "age=50-55", NULL), 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_USER, "occupation=technician", NULL), 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_USER, "gender=F", NULL), 1);
    /* latin-1 title converted to UTF-8 */
    assert_string_equal(item_title(s, "2"), "Les Mis\xc3\xa9rables (1995)");

    text = slurp(rej);
    assert_non_null(text);
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(text, "u.user\t4\t"));
    assert_non_null(strstr(text, "u.item\t3\t"));
    assert_non_null(strstr(text, "u.data\t4\trating 'five' is not a number\t2\t2\tfive"));
    free(text);

    /* idempotent: nothing new the second time */
    assert_int_equal(ingest_store(s, "movielens-100k", NULL, ml100k_dir(),
                                  NULL, &sum, &err), TROVE_OK);
    assert_int_equal(sum.events_new, 0);
    assert_int_equal(sum.events_existing, 4);
    assert_int_equal(sum.users_new, 0);
    assert_int_equal(sum.users_existing, 3);
    assert_int_equal(stats(s)->events, 4);
    trove_store_close(s);
}

static void test_preset_mllatest(void **state)
{
    trove_store *s = open_store("mllatest.db");
    trove_ingest_summary sum;
    trove_error err;
    double w;
    (void)state;

    assert_int_equal(ingest_store(s, "movielens-latest", NULL,
                                  testutil_fixture("ingest/mllatest"), NULL, &sum, &err),
                     TROVE_OK);
    assert_int_equal(sum.rows_rejected, 1);
    assert_int_equal(sum.events_new, 3);
    trove_store_stats *st = stats(s);
    assert_int_equal(st->items, 3);
    assert_int_equal(st->users, 2);
    assert_int_equal(st->events_by_type[TROVE_EVENT_RATING], 3);
    assert_string_equal(item_title(s, "2"), "American President, The (1995)");
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "genre=Comedy", NULL), 2);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "genre=(no genres listed)", NULL), 0);
    /* "Pixar" by user 1, "pixar" twice by user 2: two distinct users */
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "tag=pixar", &w), 1);
    assert_true(w == 2.0);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "tag=funny", &w), 1);
    assert_true(w == 1.0);
    trove_store_close(s);
}

static void test_preset_retail(void **state)
{
    trove_store *s = open_store("retail.db");
    trove_ingest_options o = trove_ingest_default_options();
    trove_ingest_summary sum;
    trove_ingest *in = NULL;
    trove_error err;
    const char *rej = testutil_tmp_path("retail.rejects.tsv");
    char *text;
    (void)state;

    o.rejects_path = rej;
    assert_int_equal(trove_ingest_new_store(s, &o, &in, &err), TROVE_OK);
    assert_int_equal(trove_ingest_preset(in, "online-retail", testutil_fixture("ingest/retail.csv"),
                                         &err), TROVE_OK);
    assert_int_equal(trove_ingest_finish(in, &err), TROVE_OK);
    trove_ingest_get_summary(in, &sum);
    assert_int_equal(sum.rows_read, 13);
    assert_int_equal(sum.rows_accepted, 7);
    assert_int_equal(sum.rows_rejected, 5);
    assert_int_equal(sum.duplicates, 1);
    assert_int_equal(sum.n_markets, 3);   /* Hong Kong too, though all its rows are rejected */
    assert_string_equal(sum.markets[2].code, "Hong Kong");
    assert_int_equal(sum.markets[2].events, 0);
    assert_int_equal(sum.markets[2].rejected, 1);
    {
        const char *want[] = {"missing CustomerID", "non-positive quantity",
                              "non-numeric value", "bad timestamp", "wrong column count"};
        assert_int_equal(sum.n_reasons, 5);
        for (size_t k = 0; k < 5; k++) {
            assert_string_equal(sum.reasons[k].reason, want[k]);
            assert_int_equal(sum.reasons[k].count, 1);
        }
    }
    trove_ingest_free(in);

    trove_store_stats *st = stats(s);
    assert_int_equal(st->markets, 3);
    assert_int_equal(st->users, 3);
    assert_int_equal(st->items, 4);
    assert_int_equal(st->events_by_type[TROVE_EVENT_PURCHASE], 6);
    assert_int_equal(st->events_by_type[TROVE_EVENT_RETURN], 1);
    /* home market = the country of the user's first accepted row */
    {
        home_find h = {"10003", 0};
        int64_t fr;
        assert_int_equal(trove_store_market_find(s, "France", &fr, NULL), TROVE_OK);
        assert_int_equal(trove_store_users_foreach(s, find_home, &h, NULL), TROVE_OK);
        assert_int_equal(h.market, fr);
    }
    /* title trimmed and unescaped; words and median price band */
    assert_string_equal(item_title(s, "SKU20"), "WHITE TIN CANDLE BOX");
    assert_string_equal(item_title(s, "SKU30"), "POCKET WARMER \"UNION JACK\"");
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "word=white", NULL), 2);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "word=jack", NULL), 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "word=the", NULL), 0);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "price=2-5", NULL), 2);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "price=1-2", NULL), 2);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "price=10+", NULL), 0);

    text = slurp(rej);
    assert_non_null(text);
    assert_int_equal(count_lines(text), 6);   /* 5 rejects + 1 duplicate */
    assert_non_null(strstr(text, "retail.csv\t6\tduplicate event"));
    assert_non_null(strstr(text, "retail.csv\t8\tmissing CustomerID\t900008,SKU50,"));
    assert_non_null(strstr(text, "retail.csv\t12\texpected 8 columns, found 6\t"));
    free(text);

    /* re-run adds nothing */
    assert_int_equal(ingest_store(s, "online-retail", NULL, testutil_fixture("ingest/retail.csv"),
                                  NULL, &sum, &err), TROVE_OK);
    assert_int_equal(sum.events_new, 0);
    assert_int_equal(sum.events_existing, 7);
    assert_int_equal(sum.markets_existing, 3);
    assert_int_equal(stats(s)->events, 7);
    trove_store_close(s);
}

/* ------------------------------------------------------------ 1000 + 3 */

static void test_thousand_good_three_bad(void **state)
{
    const char *path = testutil_tmp_path("events.csv");
    const char *rej = testutil_tmp_path("events.rejects.tsv");
    FILE *f = fopen(path, "w");
    trove_ingest_mapping m = trove_ingest_default_mapping();
    trove_ingest_summary sum;
    trove_error err;
    trove_store *s;
    char *text;
    int line = 1, bad_lines[3], nbad = 0;
    (void)state;

    assert_non_null(f);
    fprintf(f, "user,item,when,qty,country\n");
    for (int i = 0; i < 1000; i++) {
        line++;
        fprintf(f, "u%d,i%d,%d,%d,%s\n", i % 37, i % 101, 1600000000 + i, 1 + i % 5,
                i % 2 ? "DE" : "FR");
        if (i == 10 || i == 500 || i == 998) {
            line++;
            bad_lines[nbad++] = line;
            if (i == 10)
                fprintf(f, "u1,i1,not-a-time,3,DE\n");
            else if (i == 500)
                fprintf(f, "u1,i1,1600000000,3\n");
            else
                fprintf(f, "u1,i\xff\xfe,1600000000,3,DE\n");
        }
    }
    fclose(f);

    m.map = "user=user,item=item,ts=when,value=qty,market=country";
    m.type = "purchase";
    m.ts_format = "unix";
    s = open_store("thousand.db");
    assert_int_equal(ingest_store(s, NULL, &m, path, rej, &sum, &err), TROVE_OK);
    assert_int_equal(sum.rows_read, 1003);
    assert_int_equal(sum.rows_accepted, 1000);
    assert_int_equal(sum.rows_rejected, 3);
    assert_int_equal(stats(s)->events, 1000);
    assert_int_equal(stats(s)->markets, 2);

    text = slurp(rej);
    assert_non_null(text);
    assert_int_equal(count_lines(text), 3);
    for (int k = 0; k < 3; k++) {
        char want[128];
        snprintf(want, sizeof want, "%s\t%d\t", path, bad_lines[k]);
        assert_non_null(strstr(text, want));
    }
    assert_non_null(strstr(text, "is not a timestamp"));
    assert_non_null(strstr(text, "expected 5 columns, found 4"));
    assert_non_null(strstr(text, "invalid UTF-8"));
    free(text);

    /* idempotent re-run */
    assert_int_equal(ingest_store(s, NULL, &m, path, NULL, &sum, &err), TROVE_OK);
    assert_int_equal(sum.events_new, 0);
    assert_int_equal(sum.events_existing, 1000);
    assert_int_equal(stats(s)->events, 1000);
    trove_store_close(s);
}

/* ------------------------------------------------------------ generic */

static void test_generic_items_users_jsonl(void **state)
{
    const char *items = testutil_tmp_path("items.tsv");
    const char *users = testutil_tmp_path("users.csv");
    const char *events = testutil_tmp_path("events.jsonl");
    trove_ingest_mapping m = trove_ingest_default_mapping();
    trove_ingest_summary sum;
    trove_error err;
    trove_store *s = open_store("generic.db");
    double w;
    (void)state;

    assert_int_equal(testutil_write_file(items,
        "sku\tname\tcat\ttags\tprice\tactive\tpinned\tstart\n"
        "A1\t Red mug \tkitchen\tred|gift\t4.5\t1\tno\t2024-01-01\n"
        "B2\tBlue cup\tkitchen\tblue\tcheap\t1\t0\t\n"
        "C3\tGreen pot\tgarden\t\t12\tmaybe\t0\t\n"
        "D4\tPlant\tgarden\tgreen| |gift\t3\tfalse\ttrue\t2024-02-01T00:00:00Z\n"), 0);
    m.kind = TROVE_INGEST_ITEMS;
    m.map = "item=sku,title=name,active=active,pinned=pinned,start=start";
    m.features = "cat";
    m.numeric = "price";
    m.multi = "tags:|";
    assert_int_equal(ingest_store(s, NULL, &m, items, NULL, &sum, &err), TROVE_OK);
    assert_int_equal(sum.rows_accepted, 2);
    assert_int_equal(sum.rows_rejected, 2);
    assert_string_equal(item_title(s, "A1"), "Red mug");
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "cat=kitchen", NULL), 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "tags=gift", NULL), 2);
    assert_int_equal(feature_count(s, TROVE_FEATURE_ITEM, "price", &w), 2);
    {
        int64_t id;
        trove_item it;
        assert_int_equal(trove_store_item_find(s, "D4", &id, NULL), TROVE_OK);
        assert_int_equal(trove_store_item_get(s, id, &it, NULL), TROVE_OK);
        assert_int_equal(it.active, 0);
        assert_int_equal(it.pinned, 1);
        assert_int_equal(it.start_ts, 1706745600);
    }

    assert_int_equal(testutil_write_file(users,
        "id,country,age,segment\n17850,UK,31,gold\n13047,FR,,silver\n,FR,20,x\n"), 0);
    m = trove_ingest_default_mapping();
    m.kind = TROVE_INGEST_USERS;
    m.map = "user=1,market=country";
    m.features = "segment";
    m.numeric = "age";
    assert_int_equal(ingest_store(s, NULL, &m, users, NULL, &sum, &err), TROVE_OK);
    assert_int_equal(sum.users_new, 2);
    assert_int_equal(sum.rows_rejected, 1);
    assert_int_equal(feature_count(s, TROVE_FEATURE_USER, "age", &w), 1);
    assert_true(w == 31.0);
    assert_int_equal(feature_count(s, TROVE_FEATURE_USER, "segment=gold", NULL), 1);

    assert_int_equal(testutil_write_file(events,
        "{\"id\":\"e1\",\"u\":\"17850\",\"i\":\"A1\",\"t\":\"click\",\"at\":\"2024-03-01 10:00\"}\n"
        "{\"id\":\"e2\",\"u\":\"13047\",\"i\":\"B2\",\"t\":\"purchase\",\"at\":1709287200,"
        "\"v\":2}\n"
        "{\"id\":\"e3\",\"u\":\"13047\",\"i\":\"B2\",\"t\":\"teleport\",\"at\":1709287200}\n"
        "{\"id\":\"e4\",\"u\":\"13047\",\"i\":\"B2\",\"t\":\"click\",\"at\":1709287200,"
        "\"v\":\"2x\"}\n"
        "not json\n"
        "\n"
        "{\"id\":\"e1\",\"u\":\"17850\",\"i\":\"A1\",\"t\":\"click\",\"at\":\"2024-03-01 10:00\"}\n"),
        0);
    m = trove_ingest_default_mapping();
    m.map = "user=u,item=i,type=t,ts=at,value=v,event_id=id";
    assert_int_equal(ingest_store(s, NULL, &m, events, NULL, &sum, &err), TROVE_OK);
    assert_int_equal(sum.rows_read, 6);
    assert_int_equal(sum.rows_accepted, 2);
    assert_int_equal(sum.rows_rejected, 3);
    assert_int_equal(sum.duplicates, 1);
    assert_int_equal(stats(s)->events_by_type[TROVE_EVENT_CLICK], 1);
    assert_int_equal(stats(s)->events_by_type[TROVE_EVENT_PURCHASE], 1);
    trove_store_close(s);
}

static void test_mapping_errors(void **state)
{
    const char *path = testutil_tmp_path("m.csv");
    trove_ingest_mapping m = trove_ingest_default_mapping();
    trove_ingest_summary sum;
    trove_error err;
    trove_store *s = open_store("mapping.db");
    (void)state;

    assert_int_equal(testutil_write_file(path, "a,b\n1,2\n"), 0);
    m.map = "user=a,item=b";
    assert_int_equal(ingest_store(s, NULL, &m, path, NULL, &sum, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "type"));
    m.type = "purchase";
    m.map = "user=a,item=zzz";
    assert_int_equal(ingest_store(s, NULL, &m, path, NULL, &sum, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "no column 'zzz'"));
    m.map = "user=a,colour=b";
    assert_int_equal(ingest_store(s, NULL, &m, path, NULL, &sum, &err), TROVE_EINVAL);
    m.map = "user=a,item=b,title=b";
    assert_int_equal(ingest_store(s, NULL, &m, path, NULL, &sum, &err), TROVE_EINVAL);
    m.map = "user=a,item=b";
    m.type = "teleport";
    assert_int_equal(ingest_store(s, NULL, &m, path, NULL, &sum, &err), TROVE_EINVAL);
    m.type = "purchase";
    assert_int_equal(ingest_store(s, NULL, &m, testutil_tmp_path("m.unknown"), NULL, &sum,
                                  &err), TROVE_EINVAL);
    /* numbered columns without a header */
    assert_int_equal(testutil_write_file(path, "1,2\n3,4\n5\n"), 0);
    m.header = 0;
    m.map = "user=1,item=2";
    assert_int_equal(ingest_store(s, NULL, &m, path, NULL, &sum, &err), TROVE_OK);
    assert_int_equal(sum.events_new, 2);
    assert_int_equal(sum.rows_rejected, 1);
    trove_store_close(s);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_inputs(void **state)
{
    trove_store *s = open_store("bad.db");
    trove_ingest_summary sum;
    trove_error err;
    const char *empty = testutil_tmp_path("empty.csv");
    const char *hdr = testutil_tmp_path("header_only.csv");
    (void)state;

    assert_int_equal(testutil_write_file(empty, ""), 0);
    assert_int_equal(ingest_store(s, "online-retail", NULL, empty, NULL, &sum, &err),
                     TROVE_EEMPTY);
    assert_non_null(strstr(err.msg, "empty.csv"));
    assert_int_equal(testutil_write_file(hdr, "InvoiceNo,StockCode,Description,Quantity,"
                                              "InvoiceDate,UnitPrice,CustomerID,Country\n"), 0);
    assert_int_equal(ingest_store(s, "online-retail", NULL, hdr, NULL, &sum, &err),
                     TROVE_EEMPTY);
    assert_int_equal(testutil_write_file(hdr, "a,b\n1,2\n"), 0);
    assert_int_equal(ingest_store(s, "online-retail", NULL, hdr, NULL, &sum, &err),
                     TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "InvoiceNo"));

    assert_int_equal(ingest_store(s, "online-retail", NULL, testutil_tmp_path("nope.csv"),
                                  NULL, &sum, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope.csv"));
    assert_int_equal(ingest_store(s, "movielens-100k", NULL, testutil_tmp_path("nodir"), NULL,
                                  &sum, &err), TROVE_ENOTFOUND);
    assert_int_equal(ingest_store(s, "movielens-100k", NULL, testutil_tmp_path(""), NULL,
                                  &sum, &err), TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "u.user"));

    assert_int_equal(ingest_store(s, "movielens-1m", NULL, empty, NULL, &sum, &err),
                     TROVE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "movielens-100k"));
    assert_non_null(strstr(err.msg, "online-retail"));
    assert_int_equal(stats(s)->events, 0);
    trove_store_close(s);
}

/* Write `rows` retail rows gzip-compressed, then cut the file short. */
static void write_truncated_gzip(const char *path, int rows, long keep)
{
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    gzprintf(gz, "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,"
                 "Country\n");
    for (int i = 0; i < rows; i++)
        gzprintf(gz, "%d,SKU%d,ITEM NUMBER %d,%d,2011-01-%02d 10:00:00,%d.5,%d.0,%s\n",
                 500000 + i, i % 997, i % 997, 1 + i % 7, 1 + i % 28, i % 13, 10000 + i % 301,
                 i % 3 ? "Germany" : "France");
    gzclose(gz);
    if (keep > 0)
        assert_int_equal(truncate(path, keep), 0);
}

static void test_truncated_gzip(void **state)
{
    const char *path = testutil_tmp_path("cut.csv.gz");
    trove_store *s = open_store("cut.db");
    trove_ingest_summary sum;
    trove_error err;
    uint64_t events;
    (void)state;

    /* damage after good rows: the good rows are committed, the error names
     * the file and a line */
    write_truncated_gzip(path, 200000, 0);
    {
        FILE *f = fopen(path, "rb");
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fclose(f);
        assert_int_equal(truncate(path, n / 2), 0);
    }
    assert_int_equal(ingest_store(s, "online-retail", NULL, path, NULL, &sum, &err),
                     TROVE_ECORRUPT);
    assert_non_null(strstr(err.msg, "cut.csv.gz:"));
    assert_non_null(strstr(err.msg, "truncated"));
    events = stats(s)->events;
    assert_true(events > 0);
    assert_int_equal(events, sum.events_new);
    assert_true(sum.rows_read < 200000);

    /* damage before any row: nothing ingested */
    write_truncated_gzip(path, 1000, 20);
    assert_int_equal(ingest_store(s, "online-retail", NULL, path, NULL, &sum, &err),
                     TROVE_ECORRUPT);
    assert_int_equal(sum.rows_read, 0);
    assert_int_equal(stats(s)->events, events);
    trove_store_close(s);
}

/* ------------------------------------------------------------ transactions */

static int fail_sink_event(void *ud, const trove_ingest_event *ev, int *inserted,
                           trove_error *err)
{
    int *left = ud;
    (void)ev;
    *inserted = 1;
    if (--*left == 0)
        return trove_error_set(err, TROVE_ESTORE, "sink failed");
    return TROVE_OK;
}

static void test_transaction_rollback(void **state)
{
    trove_store *s = open_store("txn.db");
    trove_ingest_summary sum;
    trove_error err;
    trove_ingest *in = NULL;
    trove_store_stats before;
    (void)state;

    /* a committed first load */
    assert_int_equal(ingest_store(s, "movielens-100k", NULL, ml100k_dir(),
                                  NULL, &sum, &err), TROVE_OK);
    before = *stats(s);

    /* a second load that fails mid-way (out of memory) and is freed
     * without finish: the store is exactly as before */
    for (long k = 5; k < 400; k += 7) {
        int rc;
        testutil_fail_alloc_after(-1);
        assert_int_equal(trove_ingest_new_store(s, NULL, &in, &err), TROVE_OK);
        testutil_fail_alloc_after(k);
        rc = trove_ingest_preset(in, "online-retail", testutil_fixture("ingest/retail.csv"),
                                 &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK) {
            trove_ingest_free(in);   /* no finish: rolled back as well */
            in = NULL;
            continue;
        }
        assert_true(rc == TROVE_ENOMEM || rc == TROVE_ESTORE);
        trove_ingest_free(in);
        in = NULL;
        trove_store_stats *now = stats(s);
        assert_int_equal(now->events, before.events);
        assert_int_equal(now->markets, before.markets);
        assert_int_equal(now->items, before.items);
        assert_int_equal(now->users, before.users);
    }
    assert_int_equal(stats(s)->markets, 0);

    /* a destination failure reported by the sink stops the ingest call */
    {
        int left = 3;
        trove_ingest_sink sink;
        memset(&sink, 0, sizeof sink);
        sink.ud = &left;
        sink.event = fail_sink_event;
        assert_int_equal(trove_ingest_new(&sink, NULL, &in, &err), TROVE_OK);
        assert_int_equal(trove_ingest_preset(in, "online-retail",
                                             testutil_fixture("ingest/retail.csv"), &err),
                         TROVE_ESTORE);
        assert_string_equal(err.msg, "sink failed");
        trove_ingest_free(in);
    }
    trove_store_close(s);
}

static void test_oom_sessions(void **state)
{
    (void)state;
    /* every allocation of a whole session fails in turn: a clean error,
     * never a crash or a leak (ASan checks the leaks) */
    for (long k = 0; k < 2000; k++) {
        trove_dataset_builder *b;
        trove_ingest *in = NULL;
        trove_error err;
        int rc;
        testutil_fail_alloc_after(k);
        b = trove_dataset_builder_new();
        if (b == NULL) {
            testutil_fail_alloc_after(-1);
            continue;
        }
        rc = trove_ingest_new_dataset(b, NULL, &in, &err);
        if (rc == TROVE_OK)
            rc = trove_ingest_preset(in, "movielens-latest", testutil_fixture("ingest/mllatest"),
                                     &err);
        if (rc == TROVE_OK)
            rc = trove_ingest_preset(in, "online-retail", testutil_fixture("ingest/retail.csv"),
                                     &err);
        if (rc == TROVE_OK)
            rc = trove_ingest_finish(in, &err);
        testutil_fail_alloc_after(-1);
        trove_ingest_free(in);
        trove_dataset_builder_free(b);
        if (rc == TROVE_OK)
            break;
        assert_int_equal(rc, TROVE_ENOMEM);
    }
}

/* ------------------------------------------------------------ dataset */

static void test_dataset_destination(void **state)
{
    trove_dataset_builder *b = trove_dataset_builder_new();
    trove_dataset *ds = NULL;
    trove_ingest *in = NULL;
    trove_ingest_summary sum;
    trove_error err;
    (void)state;

    assert_non_null(b);
    assert_int_equal(trove_ingest_new_dataset(b, NULL, &in, &err), TROVE_OK);
    assert_int_equal(trove_ingest_preset(in, "online-retail",
                                         testutil_fixture("ingest/retail.csv"), &err), TROVE_OK);
    assert_int_equal(trove_ingest_finish(in, &err), TROVE_OK);
    trove_ingest_get_summary(in, &sum);
    assert_int_equal(sum.events_new, 7);
    trove_ingest_free(in);
    assert_int_equal(trove_dataset_builder_build(b, NULL, &ds, &err), TROVE_OK);
    /* the return is not a positive: 6 purchases over 5 distinct pairs
     * (customer 12583 bought 85123A in two markets) */
    assert_int_equal(trove_dataset_nnz(ds), 5);
    assert_int_equal(trove_dataset_n_users(ds), 3);
    assert_true(trove_idmap_find(trove_dataset_item_feature_names(ds), "price=2-5", 9) >= 0);
    trove_dataset_free(ds);
    trove_dataset_builder_free(b);
}

/* ------------------------------------------------------------ CLI */

static void test_cli(void **state)
{
    const char *db = testutil_tmp_path("cli.db");
    char *out = NULL;
    int rc;
    (void)state;

    rc = testutil_run_trove(&out, "ingest --store %s --preset online-retail %s --json", db,
                            testutil_fixture("ingest/retail.csv"));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"rows_rejected\":5"));
    assert_non_null(strstr(out, "\"missing CustomerID\":1"));
    assert_non_null(strstr(out, "\"code\":\"Hong Kong\""));
    free(out);

    rc = testutil_run_trove(&out, "ingest --store %s --preset online-retail %s", db,
                            testutil_fixture("ingest/retail.csv"));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "events              0          7"));
    free(out);

    rc = testutil_run_trove(&out, "ingest --store %s --preset nope x", db);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "movielens-100k"));
    free(out);

    rc = testutil_run_trove(&out, "ingest --store %s --preset online-retail %s", db,
                            testutil_tmp_path("missing.csv"));
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "trove ingest: "));
    assert_non_null(strstr(out, "missing.csv"));
    free(out);

    /* damaged gzip after good rows: good rows committed, exit 1, file:line */
    {
        const char *gz = testutil_tmp_path("cli-cut.csv.gz");
        const char *db2 = testutil_tmp_path("cli-cut.db");
        write_truncated_gzip(gz, 200000, 0);
        FILE *f = fopen(gz, "rb");
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fclose(f);
        assert_int_equal(truncate(gz, n / 2), 0);
        rc = testutil_run_trove(&out, "ingest --store %s --no-rejects --json --preset "
                                      "online-retail %s", db2, gz);
        assert_int_equal(rc, 1);
        assert_non_null(strstr(out, "cli-cut.csv.gz:"));
        assert_non_null(strstr(out, "truncated gzip stream"));
        assert_non_null(strstr(out, "\"status\":\"partial\""));
        free(out);
        rc = testutil_run_trove(&out, "stats --store %s --json", db2);
        assert_int_equal(rc, 0);
        assert_null(strstr(out, "\"events\": 0,"));
        free(out);
    }

    rc = testutil_run_trove(&out, "ingest --preset online-retail x");
    assert_int_equal(rc, 2);
    free(out);
    rc = testutil_run_trove(&out, "ingest --help");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--preset"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preset_ml100k),
        cmocka_unit_test(test_preset_mllatest),
        cmocka_unit_test(test_preset_retail),
        cmocka_unit_test(test_thousand_good_three_bad),
        cmocka_unit_test(test_generic_items_users_jsonl),
        cmocka_unit_test(test_mapping_errors),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_truncated_gzip),
        cmocka_unit_test(test_transaction_rollback),
        cmocka_unit_test(test_oom_sessions),
        cmocka_unit_test(test_dataset_destination),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
