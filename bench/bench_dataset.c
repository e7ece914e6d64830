/*
 * bench_dataset.c - `trove-bench dataset [runs]`: loading the reference
 * splits into memory (gzip pairs with fixed universes: parse, intern, CSR
 * build, transpose), splitting (random per-user 20%, last-1 by time) and
 * writing gzip pairs, on Online Retail (267k pairs) and MovieLens u.data
 * (100k ratings with timestamps). Median of `runs` (default 5) per step.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct step {
    const char *name;
    uint64_t    items;      /* work units per run (pairs) */
    double      median;     /* seconds */
} step;

static int fail(const char *what, const trove_error *err)
{
    fprintf(stderr, "trove-bench dataset: %s: %s\n", what, err->msg);
    return 1;
}

int bench_dataset(int argc, char **argv);

int bench_dataset(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    double t[64];
    step steps[5];
    trove_idmap *users = NULL, *items = NULL;
    trove_dataset *ds = NULL, *udata = NULL;
    trove_pairs_options po;
    trove_error err;
    char out_path[] = "/tmp/trove-bench-dataset-XXXXXX";
    int rc = 1, n_steps = 0;

    if (runs < 1 || runs > 64)
        runs = 5;
    if (bench_data_dir() == NULL)
        return 1;
    if (trove_idmap_load(bench_data_path("splits/onlineretail_user_index.tsv"), &users, &err) ||
        trove_idmap_load(bench_data_path("splits/onlineretail_item_index.tsv"), &items, &err)) {
        rc = fail("index files", &err);
        goto done;
    }
    memset(&po, 0, sizeof po);
    po.users = users;
    po.items = items;

    /* 1. load the Online Retail train split */
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        trove_dataset_free(ds);
        ds = NULL;
        if (trove_dataset_load_pairs(bench_data_path("splits/onlineretail_purchase_u20_seed42_train.tsv.gz"),
                                     &po, &ds, &err) != TROVE_OK) {
            rc = fail("load", &err);
            goto done;
        }
        t[r] = bench_now() - t0;
    }
    steps[n_steps++] = (step){"load retail train (gz)", trove_dataset_nnz(ds), bench_median(t, (size_t)runs)};

    /* 2. random 20% split of it */
    for (int r = 0; r < runs; r++) {
        trove_split_params p = trove_split_default_params();
        trove_dataset *tr = NULL, *te = NULL;
        double t0 = bench_now();
        if (trove_dataset_split(ds, &p, &tr, &te, &err) != TROVE_OK) {
            rc = fail("split", &err);
            goto done;
        }
        t[r] = bench_now() - t0;
        trove_dataset_free(tr);
        trove_dataset_free(te);
    }
    steps[n_steps++] = (step){"split random 20%", trove_dataset_nnz(ds), bench_median(t, (size_t)runs)};

    /* 3. write it back gzip-compressed */
    {
        int fd = mkstemp(out_path);
        if (fd < 0) {
            perror("mkstemp");
            goto done;
        }
        close(fd);
    }
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        if (trove_dataset_write_pairs(ds, out_path, 1, &err) != TROVE_OK) {
            rc = fail("write", &err);
            goto done;
        }
        t[r] = bench_now() - t0;
    }
    steps[n_steps++] = (step){"write retail train (gz)", trove_dataset_nnz(ds), bench_median(t, (size_t)runs)};

    /* 4. MovieLens u.data with ratings and timestamps, then leave-last-out */
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        trove_dataset_free(udata);
        udata = NULL;
        if (trove_dataset_load_pairs(bench_data_path("ml-100k/u.data"), NULL, &udata, &err) != TROVE_OK) {
            rc = fail("load u.data", &err);
            goto done;
        }
        t[r] = bench_now() - t0;
    }
    steps[n_steps++] = (step){"load ml-100k u.data", trove_dataset_nnz(udata), bench_median(t, (size_t)runs)};
    for (int r = 0; r < runs; r++) {
        trove_split_params p = trove_split_default_params();
        trove_dataset *tr = NULL, *te = NULL;
        double t0 = bench_now();
        p.kind = TROVE_SPLIT_LAST_K;
        if (trove_dataset_split(udata, &p, &tr, &te, &err) != TROVE_OK) {
            rc = fail("split last-k", &err);
            goto done;
        }
        t[r] = bench_now() - t0;
        trove_dataset_free(tr);
        trove_dataset_free(te);
    }
    steps[n_steps++] = (step){"split last-1 (u.data)", trove_dataset_nnz(udata), bench_median(t, (size_t)runs)};

    printf("%-26s %10s %10s %12s\n", "step", "pairs", "ms", "Mpairs/s");
    for (int k = 0; k < n_steps; k++)
        printf("%-26s %10llu %10.2f %12.2f\n", steps[k].name,
               (unsigned long long)steps[k].items, steps[k].median * 1e3,
               (double)steps[k].items / steps[k].median * 1e-6);
    printf("peak RSS %.1f MiB\n", bench_peak_rss_mib());
    printf("{\"bench\":\"dataset\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,"
           "\"load_retail_ms\":%.3f,\"split_random_ms\":%.3f,\"write_gz_ms\":%.3f,"
           "\"load_udata_ms\":%.3f,\"split_last1_ms\":%.3f,\"load_retail_mpairs_s\":%.3f,"
           "\"peak_rss_mib\":%.1f}\n",
           bench_commit(), bench_cpu_features(), runs, steps[0].median * 1e3,
           steps[1].median * 1e3, steps[2].median * 1e3, steps[3].median * 1e3,
           steps[4].median * 1e3, (double)steps[0].items / steps[0].median * 1e-6,
           bench_peak_rss_mib());
    rc = 0;
done:
    if (out_path[sizeof out_path - 2] != 'X')
        remove(out_path);
    trove_dataset_free(ds);
    trove_dataset_free(udata);
    trove_idmap_free(users);
    trove_idmap_free(items);
    return rc;
}
