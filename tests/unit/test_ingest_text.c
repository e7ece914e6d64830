/*
 * test_ingest_text.c - the ingest module's field splitters and text
 * parsers: RFC 4180 splitting (quotes, "" escapes, empty fields, counts),
 * flat JSON objects, UTF-8 validation, latin-1 conversion, strict numbers
 * and timestamps.
 */
#include "testutil.h"
#include "ingest/ingest_int.h"

#include <string.h>

static size_t split(const char *text, char sep, int quotes, trove__field *f, char *buf,
                    int *ok)
{
    size_t n = 0;
    const char *why = NULL;
    strcpy(buf, text);
    *ok = trove__split(buf, strlen(buf), sep, quotes, f, 16, &n, &why) == 0;
    if (!*ok)
        assert_non_null(why);
    return n;
}

static void test_csv_split(void **state)
{
    trove__field f[16];
    char buf[256];
    int ok;
    size_t n;
    (void)state;

    n = split("a,b,c", ',', 1, f, buf, &ok);
    assert_true(ok);
    assert_int_equal(n, 3);
    assert_string_equal(f[0].s, "a");
    assert_string_equal(f[2].s, "c");

    /* empty fields, leading and trailing */
    n = split(",x,,", ',', 1, f, buf, &ok);
    assert_true(ok);
    assert_int_equal(n, 4);
    assert_int_equal(f[0].len, 0);
    assert_string_equal(f[1].s, "x");
    assert_int_equal(f[2].len, 0);
    assert_int_equal(f[3].len, 0);

    /* quotes, separators inside them and "" escapes */
    n = split("1,\"RECORD FRAME 7\"\" SINGLE SIZE \",\"a,b\",\"\"", ',', 1, f, buf, &ok);
    assert_true(ok);
    assert_int_equal(n, 4);
    assert_string_equal(f[1].s, "RECORD FRAME 7\" SINGLE SIZE ");
    assert_int_equal(f[1].len, strlen("RECORD FRAME 7\" SINGLE SIZE "));
    assert_string_equal(f[2].s, "a,b");
    assert_int_equal(f[3].len, 0);

    /* a quote that does not open a field is data */
    n = split("ab\"c,d", ',', 1, f, buf, &ok);
    assert_true(ok);
    assert_string_equal(f[0].s, "ab\"c");

    /* malformed quoting */
    split("\"open,b", ',', 1, f, buf, &ok);
    assert_false(ok);
    split("\"x\"y,b", ',', 1, f, buf, &ok);
    assert_false(ok);

    /* TSV: no quote processing */
    n = split("\"a\"\tb", '\t', 0, f, buf, &ok);
    assert_true(ok);
    assert_int_equal(n, 2);
    assert_string_equal(f[0].s, "\"a\"");

    /* more fields than slots: the true count is reported */
    n = split("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18", ',', 1, f, buf, &ok);
    assert_true(ok);
    assert_int_equal(n, 18);
    assert_string_equal(f[15].s, "16");
}

static void test_reader_trailing_cr(void **state)
{
    /* CRLF files: the reader strips the CR, so the last field is clean */
    const char *path = testutil_tmp_path("crlf.csv");
    trove__reader *r = NULL;
    char *line;
    size_t len, n;
    trove__field f[4];
    const char *why;
    (void)state;
    assert_int_equal(testutil_write_file(path, "a,\"b\"\r\nc,d\r\n"), 0);
    assert_int_equal(trove__reader_open(path, &r, NULL), TROVE_OK);
    assert_int_equal(trove__reader_next(r, &line, &len, NULL), 1);
    assert_int_equal(trove__split(line, len, ',', 1, f, 4, &n, &why), 0);
    assert_int_equal(n, 2);
    assert_string_equal(f[1].s, "b");
    trove__reader_close(r);
}

static void test_json_object(void **state)
{
    trove__jpair p[8];
    char buf[256];
    size_t n = 0;
    const char *why = NULL;
    (void)state;

    strcpy(buf, "{\"user\": \"u1\", \"item\":\"i\\\"2\", \"value\": 2.5, \"ok\": true, "
                "\"x\": null, \"t\":\"caf\\u00e9 \\ud83d\\ude00\"}");
    assert_int_equal(trove__json_object(buf, strlen(buf), p, 8, &n, &why), 0);
    assert_int_equal(n, 6);
    assert_string_equal(p[0].key, "user");
    assert_string_equal(p[0].val, "u1");
    assert_string_equal(p[1].val, "i\"2");
    assert_string_equal(p[2].val, "2.5");
    assert_string_equal(p[3].val, "true");
    assert_true(p[4].is_null);
    assert_string_equal(p[5].val, "caf\xc3\xa9 \xf0\x9f\x98\x80");

    strcpy(buf, "{}");
    assert_int_equal(trove__json_object(buf, strlen(buf), p, 8, &n, &why), 0);
    assert_int_equal(n, 0);

    const char *bad[] = {"[1,2]", "{\"a\":1", "{\"a\":{\"b\":1}}", "{\"a\":nan}",
                         "{\"a\":\"x\"} trailing", "{a:1}", "{\"a\":\"\\ud800\"}",
                         "{\"a\":\"\\q\"}", NULL};
    for (int k = 0; bad[k]; k++) {
        strcpy(buf, bad[k]);
        why = NULL;
        assert_int_equal(trove__json_object(buf, strlen(buf), p, 8, &n, &why), -1);
        assert_non_null(why);
    }
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(trove__utf8_valid("plain ascii text, longer than eight", 35));
    assert_true(trove__utf8_valid("\xc2\xa3 5", 4));                  /* pound sign */
    assert_true(trove__utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(trove__utf8_valid("Mis\xe9rables", 10));             /* latin-1 */
    assert_false(trove__utf8_valid("\xc0\xaf", 2));                   /* overlong */
    assert_false(trove__utf8_valid("\xed\xa0\x80", 3));               /* surrogate */
    assert_false(trove__utf8_valid("\xf4\x90\x80\x80", 4));           /* > U+10FFFF */
    assert_false(trove__utf8_valid("abc\xe2\x82", 5));                /* truncated */
    assert_false(trove__utf8_valid("abcdefgh\0ijk", 12));             /* NUL */

    char out[32];
    size_t n = trove__latin1_to_utf8("Mis\xe9rables", 10, out);
    assert_int_equal(n, 11);
    assert_string_equal(out, "Mis\xc3\xa9rables");
    assert_true(trove__utf8_valid(out, n));
}

static void test_numbers(void **state)
{
    int64_t i;
    double d;
    (void)state;
    assert_int_equal(trove__parse_i64("-42", 3, &i), 0);
    assert_int_equal(i, -42);
    assert_int_equal(trove__parse_i64("9223372036854775807", 19, &i), 0);
    assert_int_equal(i, INT64_MAX);
    assert_int_equal(trove__parse_i64("9223372036854775808", 19, &i), -1);
    assert_int_equal(trove__parse_i64("12a", 3, &i), -1);
    assert_int_equal(trove__parse_i64("", 0, &i), -1);
    assert_int_equal(trove__parse_i64("-", 1, &i), -1);

    assert_int_equal(trove__parse_double("2.55", 4, &d), 0);
    assert_true(d == 2.55);
    assert_int_equal(trove__parse_double("-1e3", 4, &d), 0);
    assert_true(d == -1000.0);
    assert_int_equal(trove__parse_double(".5", 2, &d), 0);
    const char *bad[] = {"nan", "inf", "0x10", " 1", "1 ", "1e", "", ".", "1e999", "abc", NULL};
    for (int k = 0; bad[k]; k++)
        assert_int_equal(trove__parse_double(bad[k], strlen(bad[k]), &d), -1);
}

static void test_timestamps(void **state)
{
    int64_t t;
    (void)state;
    assert_int_equal(trove__days_from_civil(1970, 1, 1), 0);
    assert_int_equal(trove__days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(trove__parse_iso("2010-12-01 08:26:00", 19, &t), 0);
    assert_int_equal(t, 1291191960);
    assert_int_equal(trove__parse_iso("2010-12-01T08:26:00Z", 20, &t), 0);
    assert_int_equal(t, 1291191960);
    assert_int_equal(trove__parse_iso("2010-12-01T09:26:00+01:00", 25, &t), 0);
    assert_int_equal(t, 1291191960);
    assert_int_equal(trove__parse_iso("2010-12-01", 10, &t), 0);
    assert_int_equal(t, 1291161600);
    assert_int_equal(trove__parse_iso("2012-02-29 00:00", 16, &t), 0);
    assert_int_equal(trove__parse_iso("2011-02-29", 10, &t), -1);
    assert_int_equal(trove__parse_iso("2010-13-01 08:26:00", 19, &t), -1);
    assert_int_equal(trove__parse_iso("2010-12-01 25:00:00", 19, &t), -1);
    assert_int_equal(trove__parse_iso("2010-12-01 08:26:00 extra", 25, &t), -1);

    assert_int_equal(trove__parse_ts("881250949", 9, NULL, &t), 0);
    assert_int_equal(t, 881250949);
    assert_int_equal(trove__parse_ts("2010-12-01", 10, "auto", &t), 0);
    assert_int_equal(trove__parse_ts("2010-12-01", 10, "unix", &t), -1);
    assert_int_equal(trove__parse_ts("01/12/2010 08:26", 16, "%d/%m/%Y %H:%M", &t), 0);
    assert_int_equal(t, 1291191960);
    assert_int_equal(trove__parse_ts("01/12/2010", 10, "%d/%m/%Y %H:%M", &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_split),
        cmocka_unit_test(test_reader_trailing_cr),
        cmocka_unit_test(test_json_object),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
