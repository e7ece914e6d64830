/*
 * bench_ingest.c - `trove-bench ingest [--runs N] [--file PATH]`: ingest
 * throughput on the Online Retail file (541,909 rows, gzip) with the
 * online-retail preset, median of N runs (default 5):
 *   parse   file -> normalized records, no destination (the parser alone);
 *   memory  file -> trove_dataset_builder -> built dataset;
 *   sqlite  file -> fresh SQLite store, default durability, one transaction;
 *   fast    the same with TROVE_STORE_FAST.
 * Rows/s counts every data row read (accepted, rejected or duplicate).
 * Goals: >= 1M rows/s into memory, >= 200k rows/s into SQLite.
 * `--only DESTINATION` runs one destination (for profiling).
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GOAL_MEMORY 1.0e6
#define GOAL_SQLITE 2.0e5

enum { D_PARSE, D_MEMORY, D_SQLITE, D_FAST, D_N };
static const char *const dest_names[D_N] = {"parse", "memory", "sqlite", "sqlite-fast"};

static int run_once(int dest, const char *path, const char *dir, int run, double *secs,
                    uint64_t *rows)
{
    trove_error err;
    trove_ingest *in = NULL;
    trove_dataset_builder *b = NULL;
    trove_dataset *ds = NULL;
    trove_store *s = NULL;
    trove_ingest_summary sum;
    char db[1024];
    double t0 = bench_now();
    int rc;

    snprintf(db, sizeof db, "%s/retail-%d-%d.db", dir, dest, run);
    if (dest == D_PARSE) {
        trove_ingest_sink none;
        memset(&none, 0, sizeof none);
        rc = trove_ingest_new(&none, NULL, &in, &err);
    } else if (dest == D_MEMORY) {
        b = trove_dataset_builder_new();
        rc = b ? trove_ingest_new_dataset(b, NULL, &in, &err)
               : trove_error_set(&err, TROVE_ENOMEM, "out of memory");
    } else {
        rc = trove_store_open(db, TROVE_STORE_CREATE | (dest == D_FAST ? TROVE_STORE_FAST : 0),
                              &s, &err);
        if (rc == TROVE_OK)
            rc = trove_ingest_new_store(s, NULL, &in, &err);
    }
    if (rc == TROVE_OK)
        rc = trove_ingest_preset(in, "online-retail", path, &err);
    if (rc == TROVE_OK)
        rc = trove_ingest_finish(in, &err);
    if (rc == TROVE_OK) {
        trove_ingest_get_summary(in, &sum);
        *rows = sum.rows_read;
    }
    trove_ingest_free(in);
    if (rc == TROVE_OK && b != NULL)
        rc = trove_dataset_builder_build(b, NULL, &ds, &err);
    trove_dataset_free(ds);
    trove_dataset_builder_free(b);
    trove_store_close(s);
    *secs = bench_now() - t0;
    if (dest == D_SQLITE || dest == D_FAST) {
        char side[1100];
        unlink(db);
        snprintf(side, sizeof side, "%s-wal", db);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", db);
        unlink(side);
    }
    if (rc != TROVE_OK)
        fprintf(stderr, "trove-bench ingest: %s: %s\n", dest_names[dest], err.msg);
    return rc;
}

int bench_ingest(int argc, char **argv);   /* registered in benches.def */

int bench_ingest(int argc, char **argv)
{
    int runs = 5, only = -1;
    const char *path = NULL;
    char dir[] = "/tmp/trove-bench-ingest-XXXXXX";
    double med[D_N], rate[D_N];
    uint64_t rows = 0;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            i++;
            for (int d = 0; d < D_N; d++)
                if (strcmp(argv[i], dest_names[d]) == 0)
                    only = d;
            if (only < 0) {
                fprintf(stderr, "trove-bench ingest: --only parse|memory|sqlite|sqlite-fast\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: trove-bench ingest [--runs N] [--file PATH] "
                            "[--only DESTINATION]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 100) {
        fprintf(stderr, "trove-bench ingest: --runs must be 1..100\n");
        return 2;
    }
    if (path == NULL) {
        if (bench_data_dir() == NULL)
            return 1;
        path = bench_data_path("online-retail/online_retail.csv.gz");
    }
    if (mkdtemp(dir) == NULL) {
        perror("trove-bench ingest: mkdtemp");
        return 1;
    }

    printf("ingest: %s, online-retail preset, median of %d runs\n\n", path, runs);
    printf("%-12s %10s %12s %8s\n", "destination", "seconds", "rows/s", "vs goal");
    for (int d = 0; d < D_N && rc == 0; d++) {
        double t[100];
        med[d] = rate[d] = 0;
        if (only >= 0 && d != only)
            continue;
        for (int r = 0; r < runs && rc == 0; r++)
            if (run_once(d, path, dir, r, &t[r], &rows) != TROVE_OK)
                rc = 1;
        if (rc != 0)
            break;
        med[d] = bench_median(t, (size_t)runs);
        rate[d] = (double)rows / med[d];
        if (d == D_PARSE)
            printf("%-12s %10.3f %12.0f %8s\n", dest_names[d], med[d], rate[d], "-");
        else
            printf("%-12s %10.3f %12.0f %7.2fx\n", dest_names[d], med[d], rate[d],
                   rate[d] / (d == D_MEMORY ? GOAL_MEMORY : GOAL_SQLITE));
        fflush(stdout);
    }
    rmdir(dir);
    if (rc != 0)
        return rc;
    printf("\n{\"bench\":\"ingest\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,\"rows\":%llu,"
           "\"median_s\":{\"parse\":%.4f,\"memory\":%.4f,\"sqlite\":%.4f,\"sqlite_fast\":%.4f},"
           "\"rows_per_s\":{\"parse\":%.0f,\"memory\":%.0f,\"sqlite\":%.0f,\"sqlite_fast\":%.0f},"
           "\"ratio_to_goal\":{\"memory\":%.3f,\"sqlite\":%.3f,\"sqlite_fast\":%.3f},"
           "\"peak_rss_mib\":%.1f}\n",
           bench_commit(), bench_cpu_features(), runs, (unsigned long long)rows,
           med[D_PARSE], med[D_MEMORY], med[D_SQLITE], med[D_FAST],
           rate[D_PARSE], rate[D_MEMORY], rate[D_SQLITE], rate[D_FAST],
           rate[D_MEMORY] / GOAL_MEMORY, rate[D_SQLITE] / GOAL_SQLITE,
           rate[D_FAST] / GOAL_SQLITE, bench_peak_rss_mib());
    return 0;
}
