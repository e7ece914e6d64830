/*
 * bench_ab.c - `trove-bench ab`: the experiment path of a cycle.
 *
 *   1. arm assignment: GrowthBook v2 hash and range choice for N user ids
 *      (ns per user), checked to give the same arms on a second pass;
 *   2. writing a cycle: trove_store_cycle_create plus one
 *      trove_store_assignments_add of K offers per user, in one transaction
 *      (assignment rows per second), into a fresh SQLite store;
 *   3. trove_store_ab_counts on that cycle with redemptions of N/10
 *      assigned pairs and N/100 unassigned ones (seconds).
 *
 *   trove-bench ab [--users N] [--offers K] [--runs R] [--dir DIR]
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ab_run {
    double hash_s, write_s, counts_s;
    uint64_t n_test, mismatches;
} ab_run;

static void rm_store(const char *path)
{
    char p[1100];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static int one_run(const char *path, size_t n_users, int n_offers, ab_run *out,
                   trove_error *err)
{
    trove_store *s = NULL;
    int64_t market, cycle, *users = NULL, items[64];
    unsigned char *arms = NULL;
    trove_assignment *rows = NULL;
    trove_cycle c;
    char id[32];
    double t;
    int rc;
    uint64_t ev = 1;

    memset(out, 0, sizeof *out);
    arms = malloc(n_users);
    users = malloc(n_users * sizeof *users);
    rows = malloc((size_t)n_offers * sizeof *rows);
    if (arms == NULL || users == NULL || rows == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "out of memory");
        goto done;
    }
    t = bench_now();
    for (size_t u = 0; u < n_users; u++) {
        snprintf(id, sizeof id, "user-%zu", u);
        arms[u] = (unsigned char)trove_experiment_arm("bench-salt", id, 0.9, NULL);
        out->n_test += arms[u];
    }
    out->hash_s = bench_now() - t;
    for (size_t u = 0; u < n_users; u++) {
        snprintf(id, sizeof id, "user-%zu", u);
        out->mismatches += arms[u] != trove_experiment_arm("bench-salt", id, 0.9, NULL);
    }

    rm_store(path);
    if ((rc = trove_store_open(path, TROVE_STORE_CREATE, &s, err)) != TROVE_OK ||
        (rc = trove_store_begin(s, err)) != TROVE_OK ||
        (rc = trove_store_market_upsert(s, "DE", NULL, NULL, &market, NULL, err)) != TROVE_OK)
        goto done;
    for (int k = 0; k < 64; k++) {
        snprintf(id, sizeof id, "offer-%d", k);
        if ((rc = trove_store_item_upsert(s, id, NULL, &items[k], NULL, err)) != TROVE_OK)
            goto done;
    }
    for (size_t u = 0; u < n_users; u++) {
        snprintf(id, sizeof id, "user-%zu", u);
        if ((rc = trove_store_user_upsert(s, id, market, &users[u], NULL, err)) != TROVE_OK)
            goto done;
    }
    /* redemptions: every 10th user redeems its first offer, every 100th an
     * offer it was not given */
    for (size_t u = 0; u < n_users; u += 10) {
        trove_event e = {ev++, users[u], items[u % 64], TROVE_EVENT_REDEMPTION, 1,
                         1700000000 + 3600, market};
        if ((rc = trove_store_event_add(s, &e, NULL, err)) != TROVE_OK)
            goto done;
        if (u % 100 == 0) {
            e.id = ev++;
            e.item_id = items[(u + 63) % 64];
            if ((rc = trove_store_event_add(s, &e, NULL, err)) != TROVE_OK)
                goto done;
        }
    }
    if ((rc = trove_store_commit(s, err)) != TROVE_OK)
        goto done;

    memset(&c, 0, sizeof c);
    c.market_id = market;
    c.key = "bench";
    c.created_ts = 1700000000;
    c.salt = "bench-salt";
    c.test_share = 0.9;
    t = bench_now();
    if ((rc = trove_store_begin(s, err)) != TROVE_OK ||
        (rc = trove_store_cycle_create(s, &c, 0, &cycle, err)) != TROVE_OK)
        goto done;
    for (size_t u = 0; u < n_users; u++) {
        for (int k = 0; k < n_offers; k++) {
            trove_assignment *a = &rows[k];
            a->cycle_id = cycle;
            a->user_id = users[u];
            a->item_id = items[(u + (size_t)k) % 64];
            a->rank = k;
            a->arm = arms[u];
            a->score = 1.0 / (k + 1);
            a->source = arms[u] ? TROVE_SOURCE_MODEL : TROVE_SOURCE_POPULARITY;
        }
        if ((rc = trove_store_assignments_add(s, rows, (size_t)n_offers, err)) != TROVE_OK)
            goto done;
    }
    if ((rc = trove_store_commit(s, err)) != TROVE_OK)
        goto done;
    out->write_s = bench_now() - t;

    {
        trove_ab_cycle_counts k;
        t = bench_now();
        if ((rc = trove_store_ab_counts(s, cycle, 1700000000 + 86400, &k, err)) != TROVE_OK)
            goto done;
        out->counts_s = bench_now() - t;
        if (k.arm[0].users + k.arm[1].users != n_users ||
            k.arm[1].users != out->n_test) {
            rc = trove_error_set(err, TROVE_ECORRUPT, "A/B counts disagree with "
                                 "the arms written");
            goto done;
        }
    }
done:
    trove_store_close(s);
    rm_store(path);
    free(arms);
    free(users);
    free(rows);
    return rc;
}

int bench_ab(int argc, char **argv);

int bench_ab(int argc, char **argv)
{
    size_t n_users = 100000;
    int n_offers = 10, runs = 3;
    const char *dir = "/tmp";
    char path[1024];
    double hash[16], write[16], counts[16];
    uint64_t n_test = 0, mismatches = 0;
    trove_error err;
    double mh, mw, mc;

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--users") == 0 && a + 1 < argc)
            n_users = (size_t)strtoull(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--offers") == 0 && a + 1 < argc)
            n_offers = atoi(argv[++a]);
        else if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
            runs = atoi(argv[++a]);
        else if (strcmp(argv[a], "--dir") == 0 && a + 1 < argc)
            dir = argv[++a];
        else {
            fprintf(stderr, "usage: trove-bench ab [--users N] [--offers K 1..64] "
                    "[--runs R 1..16] [--dir DIR]\n");
            return 2;
        }
    }
    if (n_users < 100 || n_offers < 1 || n_offers > 64 || runs < 1 || runs > 16) {
        fprintf(stderr, "trove-bench ab: need users >= 100, offers 1..64, runs 1..16\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/trove-bench-ab-%d.db", dir, (int)getpid());
    for (int r = 0; r < runs; r++) {
        ab_run res;
        trove_error_clear(&err);
        if (one_run(path, n_users, n_offers, &res, &err) != TROVE_OK) {
            fprintf(stderr, "trove-bench ab: %s\n", err.msg);
            return 1;
        }
        hash[r] = res.hash_s;
        write[r] = res.write_s;
        counts[r] = res.counts_s;
        n_test = res.n_test;
        mismatches += res.mismatches;
    }
    mh = bench_median(hash, (size_t)runs);
    mw = bench_median(write, (size_t)runs);
    mc = bench_median(counts, (size_t)runs);
    printf("experiment path: %zu users, %d offers each, test share 0.9, median of "
           "%d runs\n\n", n_users, n_offers, runs);
    printf("%-28s %12s %16s\n", "step", "seconds", "rate");
    printf("%-28s %12.4f %13.1f ns/user\n", "arm hash (GrowthBook v2)", mh,
           1e9 * mh / (double)n_users);
    printf("%-28s %12.4f %12.0f rows/s\n", "cycle + assignments write", mw,
           (double)n_users * n_offers / mw);
    printf("%-28s %12.4f %12.0f rows/s\n", "A/B counts of the cycle", mc,
           (double)n_users * n_offers / mc);
    printf("\ntest arm: %llu of %zu users (%.4f); arms on a second pass differing: "
           "%llu\n", (unsigned long long)n_test, n_users,
           (double)n_test / (double)n_users, (unsigned long long)mismatches);
    printf("{\"bench\":\"ab\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,"
           "\"users\":%zu,\"offers\":%d,\"hash_ns_per_user\":%.1f,"
           "\"write_rows_per_s\":%.0f,\"counts_s\":%.4f,\"counts_rows_per_s\":%.0f,"
           "\"test_share_observed\":%.4f,\"arm_mismatches\":%llu,"
           "\"peak_rss_mib\":%.1f}\n",
           bench_commit(), bench_cpu_features(), runs, n_users, n_offers,
           1e9 * mh / (double)n_users, (double)n_users * n_offers / mw, mc,
           (double)n_users * n_offers / mc, (double)n_test / (double)n_users,
           (unsigned long long)mismatches, bench_peak_rss_mib());
    return 0;
}
