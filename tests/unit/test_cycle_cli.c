/*
 * test_cycle_cli.c - the closed loop through the trove program on a tiny
 * world (tests/fixtures/cycle): simulate (write the world) -> train per
 * market -> cycle run -> simulate a period -> train again (pruning) ->
 * cycle with a new offer -> ab report, plus the pooled model; a duplicate
 * cycle refused and --replace giving the same CSV; help, usage errors, a
 * bad world file (file:line:column) and a market without data.
 */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    buf = calloc(1, (size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void expect(int want_rc, const char *want_text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect(int want_rc, const char *want_text, const char *fmt, ...)
{
    char cmd[4096], *out = NULL;
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rc = testutil_run_trove(&out, "%s", cmd);
    if (rc != want_rc || (want_text && strstr(out, want_text) == NULL))
        fail_msg("trove %s: exit %d (want %d), output:\n%s\n(want '%s')", cmd, rc,
                 want_rc, out, want_text ? want_text : "");
    free(out);
}

static long long clock_of(const char *world, const char *store)
{
    char *out = NULL;
    long long now;
    assert_int_equal(testutil_run_trove(&out, "simulate --world '%s' --store '%s' --clock",
                                        world, store), 0);
    now = atoll(out);
    free(out);
    assert_true(now > 1600000000LL);
    return now;
}

static void test_help_and_usage(void **state)
{
    (void)state;
    expect(0, "usage: trove cycle run", "cycle --help");
    expect(0, "usage: trove simulate", "simulate --help");
    expect(0, "--pooled", "train --store x --help");
    expect(2, "expected the action 'run'", "cycle walk");
    expect(2, "are required", "cycle run --store x.db --market AA");
    expect(2, "--now", "cycle run --store x.db --market AA --cycle c --now soon");
    expect(2, "are required", "simulate --store x.db");
    expect(2, "--cycles", "simulate --world w --store x.db --cycles -1");
}

static void test_bad_world(void **state)
{
    const char *bad = testutil_fixture("cycle/bad-world.yaml");
    (void)state;
    expect(1, "bad-world.yaml:6:5: unknown key 'tastes'",
           "simulate --world '%s' --store '%s'", bad, testutil_tmp_path("bad.db"));
    expect(1, "cannot open", "simulate --world '%s' --store '%s'",
           testutil_tmp_path("nowhere.yaml"), testutil_tmp_path("bad.db"));
}

static void test_closed_loop(void **state)
{
    const char *world = testutil_fixture("cycle/tiny.yaml");
    const char *mdir = testutil_fixture("cycle/markets");
    char store[1024], models[1024], args[4096], csv_a[1024], csv_b[1024];
    char *a, *b, *out = NULL;
    long long now;
    (void)state;

    snprintf(store, sizeof store, "%s", testutil_tmp_path("loop.db"));
    snprintf(models, sizeof models, "%s", testutil_tmp_path("models"));
    snprintf(csv_a, sizeof csv_a, "%s", testutil_tmp_path("a.csv"));
    snprintf(csv_b, sizeof csv_b, "%s", testutil_tmp_path("b.csv"));
    remove(store);

    expect(0, "world", "simulate --world '%s' --store '%s'", world, store);
    now = clock_of(world, store);

    /* Train and run cycle c1 in both markets. */
    snprintf(args, sizeof args, "--markets-dir '%s' --models-dir '%s'", mdir, models);
    expect(0, "AA: warp model v1", "train --store '%s' --market AA %s", store, args);
    expect(0, "BB: bpr model v1", "train --store '%s' --market BB %s", store, args);
    snprintf(args, sizeof args, "--markets-dir '%s' --now %lld --export '%s'", mdir, now, csv_a);
    expect(0, "60 users", "cycle run --store '%s' --market AA --cycle c1 %s", store, args);
    snprintf(args, sizeof args, "--markets-dir '%s' --now %lld", mdir, now);
    expect(1, "already exists", "cycle run --store '%s' --market AA --cycle c1 %s", store, args);
    snprintf(args, sizeof args, "--markets-dir '%s' --now %lld --replace --export '%s'", mdir,
             now, csv_b);
    expect(0, "(replaced)", "cycle run --store '%s' --market AA --cycle c1 %s", store, args);
    a = slurp(csv_a);
    b = slurp(csv_b);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "market,cycle,user,offer,rank,arm,score,source,model_version\n"));
    assert_non_null(strstr(a, ",test,"));
    assert_non_null(strstr(a, ",control,"));
    free(a);
    free(b);
    snprintf(args, sizeof args, "--markets-dir '%s' --now %lld --json", mdir, now);
    expect(0, "\"users\":40", "cycle run --store '%s' --market BB --cycle c1 %s", store, args);

    /* With a rules file (an hour before c1, so the simulator still shows
     * c1): applied per user; a broken file is refused with its place. */
    {
        char rdir[1024], rfile[1200];
        snprintf(rdir, sizeof rdir, "%s", testutil_tmp_path("rules"));
        mkdir(rdir, 0700);
        snprintf(rfile, sizeof rfile, "%s/AA.yaml", rdir);
        assert_int_equal(testutil_write_file(rfile, "market: AA\nrules:\n"
                                             "  - name: spread\n"
                                             "    kind: diversity\n"
                                             "    field: category\n"
                                             "    max: 2\n"), 0);
        snprintf(args, sizeof args, "--markets-dir '%s' --now %lld --rules '%s'", mdir,
                 now - 3600, rdir);
        expect(0, "(plan only, nothing stored)", "cycle plan --store '%s' --market AA "
               "--cycle r1 %s", store, args);
        expect(0, "\"stored\":false", "cycle plan --store '%s' --market AA --cycle c1 %s "
               "--json", store, args);
        expect(0, "(rules applied)", "cycle run --store '%s' --market AA --cycle r1 %s",
               store, args);
        expect(0, "\"rules\":false", "cycle run --store '%s' --market BB --cycle r1 %s --json",
               store, args);
        assert_int_equal(testutil_write_file(rfile, "market: AA\nrules:\n"
                                             "  - name: x\n"
                                             "    kind: nope\n"), 0);
        expect(1, "AA.yaml:4", "cycle run --store '%s' --market AA --cycle r2 %s", store,
               args);
    }

    /* Users react; the next period's offers are launched. */
    expect(0, "\"market\":\"AA\",\"cycle\":\"c1\",\"users_shown\":60,\"impressions\":180",
           "simulate --world '%s' --store '%s' --cycles 1 --json", world, store);
    now = clock_of(world, store);

    /* Retrain (keep_versions 1 prunes v1 and deletes its files), then c2
     * shows the 2 new offers. */
    snprintf(args, sizeof args, "--markets-dir '%s' --models-dir '%s'", mdir, models);
    expect(0, "1 old version pruned", "train --store '%s' --market AA %s", store, args);
    snprintf(args, sizeof args, "%s/AA-v1.model", models);
    assert_int_not_equal(access(args, F_OK), 0);
    snprintf(args, sizeof args, "%s/AA-v2.model.items", models);
    assert_int_equal(access(args, F_OK), 0);
    snprintf(args, sizeof args, "--markets-dir '%s' --now %lld --json", mdir, now);
    expect(0, "\"new_offers\":2", "cycle run --store '%s' --market AA --cycle c2 %s", store, args);
    expect(0, "\"new_offer\":60", "cycle run --store '%s' --market AA --cycle c2 --replace %s",
           store, args);
    expect(0, "\"cycle\":\"c2\"", "simulate --world '%s' --store '%s' --cycles 1 --json",
           world, store);
    now = clock_of(world, store);

    /* The A/B report reads what the loop wrote. */
    snprintf(args, sizeof args, "--now %lld --json", now);
    assert_int_equal(testutil_run_trove(&out, "ab report --store '%s' --market AA %s", store,
                                        args), 0);
    assert_non_null(strstr(out, "\"market\": \"AA\""));
    assert_non_null(strstr(out, "\"new_offers_shown\": 2"));
    free(out);

    /* One pooled model over both markets, with per-market figures. */
    snprintf(args, sizeof args, "--markets-dir '%s' --models-dir '%s' --json", mdir, models);
    expect(0, "\"markets\":{\"AA\":{\"k\":3", "train --store '%s' --market AA --pooled %s",
           store, args);
}

static void test_market_without_data(void **state)
{
    char dir[1024], path[1100], args[4096];
    const char *store = testutil_tmp_path("empty.db");
    (void)state;
    snprintf(dir, sizeof dir, "%s", testutil_tmp_path("markets-cc"));
    assert_int_equal(system(NULL) != 0, 1);
    snprintf(args, sizeof args, "mkdir -p '%s'", dir);
    assert_int_equal(system(args), 0);
    snprintf(path, sizeof path, "%s/CC.yaml", dir);
    assert_int_equal(testutil_write_file(path, "market: {code: CC}\nwindow: {last_days: 7}\n"
                                               "model: {family: hybrid}\n"), 0);
    remove(store);
    expect(0, "", "simulate --world '%s' --store '%s'", testutil_fixture("cycle/tiny.yaml"),
           store);
    snprintf(args, sizeof args, "--markets-dir '%s'", dir);
    expect(1, "market 'CC' is not in the store", "train --store '%s' --market CC %s", store,
           args);
    expect(1, "market 'CC' is not in the store",
           "cycle run --store '%s' --market CC --cycle c1 %s", store, args);
    expect(1, "no config for market 'AA'", "cycle run --store '%s' --market AA --cycle c1 %s",
           store, args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage),
        cmocka_unit_test(test_bad_world),
        cmocka_unit_test(test_closed_loop),
        cmocka_unit_test(test_market_without_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
