/*
 * bench_store.c - `trove-bench store`: the store's bulk write path.
 *
 * A synthetic load shaped like the Online Retail file (541,909 rows, 38
 * markets, 4,372 customers, 4,070 products, hashed 64-bit event ids, time
 * increasing) goes into a fresh SQLite store in one transaction, the way
 * `trove ingest` writes: one upsert per distinct market, user and item, then
 * one trove_store_event_add per row. Measured separately from parsing, so
 * the figure is the ceiling the store puts on ingest. Then the same events
 * are added again (all duplicates: the idempotent re-run), and stats are
 * read on the full store.
 *
 *   trove-bench store [--events N] [--runs R] [--dir DIR]
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_MARKETS 38
#define N_USERS 4372
#define N_ITEMS 4070

typedef struct run_result {
    double load_s;      /* entities + events + commit */
    double load_cpu_s;  /* the same in CPU time of this process */
    double reload_s;    /* the same events again, all duplicates */
    double stats_s;
    uint64_t inserted, dup_inserted;
} run_result;

/* CPU seconds of this process: unlike wall time, barely moved by other
 * programs sharing the machine, so it compares schema variants better. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rm_store(const char *path)
{
    char p[1100];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static int add_events(trove_store *s, size_t n, const int64_t *users,
                      const int64_t *items, const int64_t *user_market,
                      uint64_t *inserted, trove_error *err)
{
    trove_rng rng;
    trove_rng_seed(&rng, 42);
    *inserted = 0;
    for (size_t r = 0; r < n; r++) {
        uint32_t u = trove_rng_below(&rng, N_USERS);
        uint32_t i = trove_rng_below(&rng, N_ITEMS);
        trove_event ev;
        int ins = 0, rc;
        ev.id = trove_hash64(&r, sizeof r, 0x5eed);
        ev.user_id = users[u];
        ev.item_id = items[i];
        ev.type = (r % 50) == 0 ? TROVE_EVENT_RETURN : TROVE_EVENT_PURCHASE;
        ev.value = (double)(1 + r % 12);
        ev.ts = 1291191960 + (int64_t)(r / 20) * 60;
        ev.market_id = user_market[u];
        if ((rc = trove_store_event_add(s, &ev, &ins, err)) != TROVE_OK)
            return rc;
        *inserted += (uint64_t)ins;
    }
    return TROVE_OK;
}

static int one_run(const char *path, int flags, size_t n, run_result *res,
                   trove_error *err)
{
    static int64_t markets[N_MARKETS], users[N_USERS], items[N_ITEMS],
        user_market[N_USERS];
    trove_store *s = NULL;
    trove_store_stats *st = NULL;
    char name[64];
    double t0, c0;
    int rc;

    rm_store(path);
    t0 = bench_now();
    c0 = cpu_now();
    if ((rc = trove_store_open(path, TROVE_STORE_CREATE | flags, &s, err)) != 0 ||
        (rc = trove_store_begin(s, err)) != 0)
        goto done;
    for (int m = 0; m < N_MARKETS; m++) {
        snprintf(name, sizeof name, "market-%02d", m);
        if ((rc = trove_store_market_upsert(s, name, NULL, NULL, &markets[m], NULL,
                                            err)) != 0)
            goto done;
    }
    for (int u = 0; u < N_USERS; u++) {
        /* most customers in the first market, as in the real file */
        user_market[u] = markets[u % 10 == 0 ? u % N_MARKETS : 0];
        snprintf(name, sizeof name, "%d", 12346 + u);
        if ((rc = trove_store_user_upsert(s, name, user_market[u], &users[u], NULL,
                                          err)) != 0)
            goto done;
    }
    for (int i = 0; i < N_ITEMS; i++) {
        char title[64];
        snprintf(name, sizeof name, "%05dA", 10000 + i);
        snprintf(title, sizeof title, "PRODUCT NUMBER %d", i);
        if ((rc = trove_store_item_upsert(s, name, title, &items[i], NULL, err)) != 0)
            goto done;
    }
    if ((rc = add_events(s, n, users, items, user_market, &res->inserted, err)) != 0 ||
        (rc = trove_store_commit(s, err)) != 0)
        goto done;
    res->load_s = bench_now() - t0;
    res->load_cpu_s = cpu_now() - c0;

    t0 = bench_now();
    if ((rc = trove_store_begin(s, err)) != 0 ||
        (rc = add_events(s, n, users, items, user_market, &res->dup_inserted,
                         err)) != 0 ||
        (rc = trove_store_commit(s, err)) != 0)
        goto done;
    res->reload_s = bench_now() - t0;

    st = malloc(sizeof *st);
    if (st == NULL) {
        rc = TROVE_ENOMEM;
        goto done;
    }
    t0 = bench_now();
    if ((rc = trove_store_stats_get(s, st, err)) != 0)
        goto done;
    res->stats_s = bench_now() - t0;
done:
    free(st);
    trove_store_close(s);
    rm_store(path);
    return rc;
}

int bench_store(int argc, char **argv);

int bench_store(int argc, char **argv)
{
    static const struct { const char *name; int flags; } modes[] = {
        {"default", 0}, {"fast", TROVE_STORE_FAST}
    };
    size_t n = 541909;
    int runs = 3;
    char dir[512] = "";
    char path[600];
    double load[2][16], cpu[2][16], reload[2][16], stats[2][16], med_load[2],
        med_cpu[2], med_reload[2], med_stats[2];
    trove_error err;

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--events") == 0 && a + 1 < argc)
            n = (size_t)strtoull(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
            runs = atoi(argv[++a]);
        else if (strcmp(argv[a], "--dir") == 0 && a + 1 < argc)
            snprintf(dir, sizeof dir, "%s", argv[++a]);
        else {
            fprintf(stderr, "usage: trove-bench store [--events N] [--runs R] "
                            "[--dir DIR]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 16 || n == 0) {
        fprintf(stderr, "trove-bench store: --runs must be 1..16, --events > 0\n");
        return 2;
    }
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/trove-bench-XXXXXX", tmp ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror("trove-bench store: mkdtemp");
            return 1;
        }
    }
    snprintf(path, sizeof path, "%s/store.db", dir);

    for (int m = 0; m < 2; m++) {
        for (int r = 0; r < runs; r++) {
            run_result res;
            memset(&res, 0, sizeof res);
            trove_error_clear(&err);
            if (one_run(path, modes[m].flags, n, &res, &err) != TROVE_OK) {
                fprintf(stderr, "trove-bench store: %s\n", err.msg);
                return 1;
            }
            if (res.inserted != n || res.dup_inserted != 0) {
                fprintf(stderr, "trove-bench store: inserted %llu of %zu, "
                                "re-run inserted %llu\n",
                        (unsigned long long)res.inserted, n,
                        (unsigned long long)res.dup_inserted);
                return 1;
            }
            load[m][r] = res.load_s;
            cpu[m][r] = res.load_cpu_s;
            reload[m][r] = res.reload_s;
            stats[m][r] = res.stats_s;
        }
        med_load[m] = bench_median(load[m], (size_t)runs);
        med_cpu[m] = bench_median(cpu[m], (size_t)runs);
        med_reload[m] = bench_median(reload[m], (size_t)runs);
        med_stats[m] = bench_median(stats[m], (size_t)runs);
    }
    rmdir(dir);

    printf("store write path: %zu events, %d markets, %d users, %d items, "
           "one transaction, median of %d runs\n\n", n, N_MARKETS, N_USERS,
           N_ITEMS, runs);
    printf("%-8s %10s %12s %10s %14s %12s %14s %10s\n", "mode", "load s",
           "rows/s", "load cpu s", "rows/cpu s", "re-run s", "re-run rows/s",
           "stats s");
    for (int m = 0; m < 2; m++)
        printf("%-8s %10.3f %12.0f %10.3f %14.0f %12.3f %14.0f %10.3f\n",
               modes[m].name, med_load[m], (double)n / med_load[m], med_cpu[m],
               (double)n / med_cpu[m], med_reload[m], (double)n / med_reload[m],
               med_stats[m]);
    printf("\ntarget 200000 rows/s (ingest of the whole Online Retail file, "
           "parsing included)\n");
    printf("{\"bench\":\"store\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,"
           "\"events\":%zu,\"default_rows_per_s\":%.0f,\"fast_rows_per_s\":%.0f,"
           "\"default_rows_per_cpu_s\":%.0f,\"fast_rows_per_cpu_s\":%.0f,"
           "\"default_rerun_rows_per_s\":%.0f,\"fast_rerun_rows_per_s\":%.0f,"
           "\"stats_s\":%.4f,\"ratio_fast_over_default\":%.3f,"
           "\"ratio_default_over_target\":%.3f,\"peak_rss_mib\":%.1f}\n",
           bench_commit(), bench_cpu_features(), runs, n, (double)n / med_load[0],
           (double)n / med_load[1], (double)n / med_cpu[0], (double)n / med_cpu[1],
           (double)n / med_reload[0],
           (double)n / med_reload[1], med_stats[0], med_load[0] / med_load[1],
           (double)n / med_load[0] / 200000.0, bench_peak_rss_mib());
    return 0;
}
