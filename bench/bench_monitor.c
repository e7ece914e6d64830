/*
 * bench_monitor.c - `trove-bench monitor [--runs N] [--file PATH]`: time of
 * one monitoring report (trove_monitor_run + JSON) on the Online Retail
 * store: the United Kingdom (most events) with a WARP model whose training
 * window ends a week before the last event, read with now = last (every
 * event of the market) and with an explicit now (the windows only), and a
 * small market (Germany, no model). Prints a table and one JSON line with
 * the medians, events read per second and the report's statuses.
 */
#include "bench.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY 86400

int bench_monitor(int argc, char **argv);   /* registered in benches.def */

static int build_store(const char *db, const char *csv, const char *model_path,
                       int64_t *last_ts, trove_error *err)
{
    trove_store *s = NULL;
    trove_ingest *in = NULL;
    trove_dataset *ds = NULL;
    trove_model *m = NULL;
    trove_store_stats *st = NULL;
    int64_t uk;
    int version, rc;
    if ((rc = trove_store_open(db, TROVE_STORE_CREATE | TROVE_STORE_FAST, &s,
                               err)) != TROVE_OK ||
        (rc = trove_ingest_new_store(s, NULL, &in, err)) != TROVE_OK ||
        (rc = trove_ingest_preset(in, "online-retail", csv, err)) != TROVE_OK ||
        (rc = trove_ingest_finish(in, err)) != TROVE_OK)
        goto done;
    st = malloc(sizeof *st);
    if (st == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = trove_store_stats_get(s, st, err)) != TROVE_OK ||
        (rc = trove_store_market_find(s, "United Kingdom", &uk, err)) != TROVE_OK)
        goto done;
    *last_ts = st->last_ts;
    /* a model of the 60 days before the last week */
    trove_store_query q = trove_store_query_default();
    q.market_id = uk;
    q.ts_from = st->last_ts - 67 * DAY;
    q.ts_to = st->last_ts - 7 * DAY;
    trove_model_params mp = trove_model_default_params();
    mp.no_components = 32;
    if ((rc = trove_dataset_from_store(s, &q, &ds, err)) != TROVE_OK ||
        (rc = trove_model_new(&mp, trove_dataset_user_features(ds)->n_cols,
                              trove_dataset_item_features(ds)->n_cols, &m,
                              err)) != TROVE_OK ||
        (rc = trove_model_fit(m, trove_dataset_interactions(ds),
                              trove_dataset_user_features(ds),
                              trove_dataset_item_features(ds), 5, err)) != TROVE_OK ||
        (rc = trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                  trove_dataset_item_ids(ds),
                                  trove_dataset_user_feature_names(ds),
                                  trove_dataset_item_feature_names(ds),
                                  err)) != TROVE_OK ||
        (rc = trove_model_save(m, model_path, err)) != TROVE_OK)
        goto done;
    trove_model_version mv = { .market_id = uk, .created_ts = q.ts_to,
                               .family = "warp", .path = model_path,
                               .config_hash = "bench", .data_fingerprint = "bench" };
    if ((rc = trove_store_model_register(s, &mv, &version, NULL, err)) != TROVE_OK)
        goto done;
    rc = trove_store_model_activate(s, uk, version, err);
done:
    free(st);
    trove_model_free(m);
    trove_dataset_free(ds);
    trove_ingest_free(in);
    trove_store_close(s);
    return rc;
}

typedef struct bench_case {
    const char *name;
    const char *market;
    int         last;     /* now = last event + 1 */
    double      median_ms;
    uint64_t    events;   /* reference + latest window events */
    int         status, quality, drift;
    double      score_psi;
} bench_case;

static int run_case(trove_store *s, bench_case *c, int64_t last_ts, int runs,
                    trove_error *err)
{
    double t[100];
    trove_monitor_params p = trove_monitor_default_params();
    p.now = c->last ? TROVE_MONITOR_NOW_LAST_EVENT : last_ts + 1;
    p.train_days = 60;
    for (int r = 0; r < runs; r++) {
        trove_monitor_report *rep = NULL;
        char *json = NULL;
        double t0 = bench_now();
        int rc = trove_monitor_run(s, c->market, NULL, &p, &rep, err);
        if (rc == TROVE_OK)
            rc = trove_monitor_report_json(rep, 0, &json, NULL, err);
        t[r] = (bench_now() - t0) * 1e3;
        if (rc != TROVE_OK) {
            trove_monitor_report_free(rep);
            return rc;
        }
        c->events = rep->ref_events + rep->latest_events;
        c->status = rep->status;
        c->quality = rep->quality_status;
        c->drift = rep->drift_status;
        c->score_psi = rep->score.psi;
        trove_free(json);
        trove_monitor_report_free(rep);
    }
    c->median_ms = bench_median(t, (size_t)runs);
    return TROVE_OK;
}

int bench_monitor(int argc, char **argv)
{
    static const struct option options[] = {
        {"runs", required_argument, NULL, 'r'},
        {"file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    int runs = 5, c, rc = 1;
    const char *csv = NULL;
    char dir[] = "/tmp/trove-bench-monitor-XXXXXX";
    char db[64], model[64], side[96];
    trove_store *s = NULL;
    trove_error err;
    int64_t last_ts = 0;
    bench_case cases[] = {
        { "uk-now-last", "United Kingdom", 1, 0, 0, 0, 0, 0, 0 },
        { "uk-now-explicit", "United Kingdom", 0, 0, 0, 0, 0, 0, 0 },
        { "germany-no-model", "Germany", 1, 0, 0, 0, 0, 0, 0 },
    };
    const size_t n_cases = sizeof cases / sizeof cases[0];

    optind = 1;
    while ((c = getopt_long(argc, argv, "r:f:", options, NULL)) != -1) {
        if (c == 'r') {
            runs = atoi(optarg);
        } else if (c == 'f') {
            csv = optarg;
        } else {
            fprintf(stderr, "usage: trove-bench monitor [--runs N] [--file PATH]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 100) {
        fprintf(stderr, "trove-bench monitor: --runs must be 1..100\n");
        return 2;
    }
    if (csv == NULL) {
        if (bench_data_dir() == NULL)
            return 1;
        csv = bench_data_path("online-retail/online_retail.csv.gz");
    }
    if (mkdtemp(dir) == NULL) {
        perror("trove-bench monitor: mkdtemp");
        return 1;
    }
    snprintf(db, sizeof db, "%s/or.db", dir);
    snprintf(model, sizeof model, "%s/uk.model", dir);
    trove_error_clear(&err);
    printf("monitor: %s, median of %d runs\n", csv, runs);
    double t0 = bench_now();
    if (build_store(db, csv, model, &last_ts, &err) != TROVE_OK)
        goto fail;
    printf("store and model built in %.1f s\n\n", bench_now() - t0);
    if (trove_store_open(db, TROVE_STORE_READONLY, &s, &err) != TROVE_OK)
        goto fail;
    printf("%-18s %-16s %10s %12s %12s  %-6s %-6s %-6s %9s\n", "case", "market",
           "median ms", "win events", "events/s", "status", "qual", "drift",
           "score psi");
    for (size_t i = 0; i < n_cases; i++) {
        bench_case *k = &cases[i];
        if (run_case(s, k, last_ts, runs, &err) != TROVE_OK)
            goto fail;
        printf("%-18s %-16s %10.1f %12llu %12.0f  %-6s %-6s %-6s %9.4f\n",
               k->name, k->market, k->median_ms, (unsigned long long)k->events,
               (double)k->events / (k->median_ms * 1e-3),
               trove_monitor_status_name(k->status),
               trove_monitor_status_name(k->quality),
               trove_monitor_status_name(k->drift), k->score_psi);
    }
    printf("\n{\"bench\":\"monitor\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d",
           bench_commit(), bench_cpu_features(), runs);
    for (size_t i = 0; i < n_cases; i++)
        printf(",\"%s_ms\":%.2f,\"%s_status\":\"%s\"", cases[i].name,
               cases[i].median_ms, cases[i].name,
               trove_monitor_status_name(cases[i].status));
    printf(",\"explicit_vs_last\":%.3f,\"peak_rss_mib\":%.1f}\n",
           cases[1].median_ms / cases[0].median_ms, bench_peak_rss_mib());
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "trove-bench monitor: %s\n", err.msg);
    trove_store_close(s);
    unlink(model);
    unlink(db);
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    snprintf(side, sizeof side, "%s.rejects.tsv", db);
    unlink(side);
    rmdir(dir);
    return rc;
}
