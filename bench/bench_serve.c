/*
 * bench_serve.c - `trove-bench serve`: top-10 recommendations over HTTP
 * under load from wrk (Debian's wrk, on loopback), on a synthetic market
 * with a 10k-offer catalog and a d=64 hybrid model.
 *
 * Steps: build a store (users with a segment feature, offers with a
 * category feature, clicks drawn with a popularity skew), train two model
 * versions (WARP, d=64) and register them, start the server in this process
 * (2 threads), then run wrk twice for --seconds each with random users:
 *   steady  recommendations only;
 *   swap    the same while this program activates version 2 at 1/3 of the
 *           run and rolls back at 2/3 (atomic swaps under load: any non-2xx
 *           answer or socket error counts as failed).
 * Reported: wrk's requests/s and client-side p50/p99, and the server-side
 * time from the server's own latency histogram (an upper bound: the bucket
 * holding the quantile). Rules are on: a DE rules file with a boost, a
 * bury, a diversity cap per category and an exploration slot.
 *
 *   trove-bench serve [--items N] [--users N] [--dim D] [--seconds S]
 *                     [--connections C] [--threads T]
 */
#include "bench.h"
#include "trove/serve.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct wrk_result {
    double rps, p50_ms, p99_ms;
    unsigned long long requests, non2xx, socket_errors;
} wrk_result;


/* wrk's latency figures are "1.23ms", "456.00us" or "1.2s". */
static double to_ms(const char *v)
{
    double x = atof(v);
    if (strstr(v, "us"))
        return x / 1000.0;
    if (strstr(v, "ms"))
        return x;
    if (strstr(v, "s"))
        return x * 1000.0;
    return x;
}

static void parse_wrk(FILE *f, wrk_result *r)
{
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        char v[64];
        unsigned long long a, b, c, d;
        if (sscanf(line, " 50%% %63s", v) == 1)
            r->p50_ms = to_ms(v);
        else if (sscanf(line, " 99%% %63s", v) == 1)
            r->p99_ms = to_ms(v);
        else if (sscanf(line, "Requests/sec: %lf", &r->rps) == 1)
            ;
        else if (sscanf(line, " %llu requests in", &a) == 1)
            r->requests = a;
        else if (sscanf(line, " Non-2xx or 3xx responses: %llu", &a) == 1)
            r->non2xx = a;
        else if (sscanf(line, " Socket errors: connect %llu, read %llu, write "
                        "%llu, timeout %llu", &a, &b, &c, &d) == 4)
            r->socket_errors = a + b + c + d;
    }
}

/* Quantile q of the recommendations histogram in /metrics: the upper
 * bound (seconds) of the bucket holding it. */
static double server_quantile(const char *metrics, double q)
{
    static const char key[] = "trove_http_request_duration_seconds_bucket"
                              "{endpoint=\"recommendations\",code=\"200\",market=\"DE\",le=\"";
    double le[32], cum[32];
    int n = 0;
    for (const char *p = strstr(metrics, key); p && n < 32;
         p = strstr(p + 1, key)) {
        const char *v = p + sizeof key - 1;
        le[n] = strncmp(v, "+Inf", 4) == 0 ? 1e9 : atof(v);
        const char *sp = strchr(v, ' ');
        cum[n] = sp ? atof(sp + 1) : 0;
        n++;
    }
    if (n == 0 || cum[n - 1] <= 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (cum[i] >= q * cum[n - 1])
            return le[i];
    return le[n - 1];
}

/* The value of the series `key` (full name with labels) in /metrics, or
 * -1 when absent. */
static double metric_value(const char *metrics, const char *key)
{
    const char *p = strstr(metrics, key);
    return p ? atof(p + strlen(key)) : -1.0;
}

/* User + system CPU seconds of this process. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static int build_store(const char *db, uint32_t n_items, uint32_t n_users,
                       trove_error *err)
{
    trove_store *st = NULL;
    int64_t de, fid, uid, *items = NULL, cats[50], segs[4];
    char id[32];
    trove_rng rng;
    int rc = trove_store_open(db, TROVE_STORE_CREATE | TROVE_STORE_FAST, &st, err);
    if (rc != TROVE_OK)
        return rc;
    items = malloc(n_items * sizeof *items);
    if (items == NULL) {
        rc = TROVE_ENOMEM;
        goto done;
    }
    trove_rng_seed(&rng, 7);
    if ((rc = trove_store_begin(st, err)) != TROVE_OK ||
        (rc = trove_store_market_upsert(st, "DE", NULL, NULL, &de, NULL, err)) != TROVE_OK)
        goto done;
    for (int c = 0; c < 50; c++) {
        snprintf(id, sizeof id, "category=c%d", c);
        if ((rc = trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                             TROVE_FEATURE_CATEGORICAL, &cats[c],
                                             err)) != TROVE_OK)
            goto done;
    }
    for (int g = 0; g < 4; g++) {
        snprintf(id, sizeof id, "segment=s%d", g);
        if ((rc = trove_store_feature_upsert(st, TROVE_FEATURE_USER, id,
                                             TROVE_FEATURE_CATEGORICAL, &segs[g],
                                             err)) != TROVE_OK)
            goto done;
    }
    for (uint32_t i = 0; i < n_items; i++) {
        snprintf(id, sizeof id, "o%u", i);
        if ((rc = trove_store_item_upsert(st, id, NULL, &items[i], NULL, err)) != TROVE_OK ||
            (rc = trove_store_item_feature_set(st, items[i], cats[i % 50], 1, err)) != TROVE_OK)
            goto done;
    }
    for (uint32_t u = 0; u < n_users; u++) {
        snprintf(id, sizeof id, "u%u", u);
        if ((rc = trove_store_user_upsert(st, id, de, &uid, NULL, err)) != TROVE_OK ||
            (rc = trove_store_user_feature_set(st, uid, segs[u % 4], 1, err)) != TROVE_OK)
            goto done;
        for (int k = 0; k < 20; k++) {
            /* skewed: the square of a uniform favours low indices */
            double x = trove_rng_uniform(&rng);
            uint32_t i = (uint32_t)(x * x * n_items) % n_items;
            trove_event ev = { .id = (uint64_t)u * 64 + (uint64_t)k + 1,
                               .user_id = uid, .item_id = items[i],
                               .type = TROVE_EVENT_CLICK, .value = 1,
                               .ts = 1700000000 + k, .market_id = de };
            if ((rc = trove_store_event_add(st, &ev, NULL, err)) != TROVE_OK)
                goto done;
        }
    }
    rc = trove_store_commit(st, err);
done:
    free(items);
    trove_store_close(st);
    (void)fid;
    return rc;
}

static int train_versions(const char *db, const char *dir, uint32_t dim,
                          trove_error *err)
{
    trove_store *st = NULL;
    trove_dataset *ds = NULL;
    int rc = trove_store_open(db, 0, &st, err);
    if (rc == TROVE_OK)
        rc = trove_dataset_from_store(st, NULL, &ds, err);
    for (int v = 1; rc == TROVE_OK && v <= 2; v++) {
        trove_model *m = NULL;
        trove_model_params p = trove_model_default_params();
        char path[1100];
        int version;
        p.loss = TROVE_LOSS_WARP;
        p.no_components = dim;
        p.num_threads = 2;
        p.seed = (uint64_t)v;
        snprintf(path, sizeof path, "%s/v%d.trove", dir, v);
        rc = trove_model_new(&p, trove_dataset_user_features(ds)->n_cols,
                             trove_dataset_item_features(ds)->n_cols, &m, err);
        if (rc == TROVE_OK)
            rc = trove_model_fit(m, trove_dataset_interactions(ds),
                                 trove_dataset_user_features(ds),
                                 trove_dataset_item_features(ds), 2, err);
        if (rc == TROVE_OK)
            rc = trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                     trove_dataset_item_ids(ds),
                                     trove_dataset_user_feature_names(ds),
                                     trove_dataset_item_feature_names(ds), err);
        if (rc == TROVE_OK)
            rc = trove_model_save(m, path, err);
        trove_model_free(m);
        trove_model_version mv = { .market_id = 1, .created_ts = 1700000000,
                                   .family = "hybrid", .path = path,
                                   .config_hash = "bench", .data_fingerprint = "bench" };
        if (rc == TROVE_OK)
            rc = trove_store_market_find(st, "DE", &mv.market_id, err);
        if (rc == TROVE_OK)
            rc = trove_store_model_register(st, &mv, &version, NULL, err);
    }
    if (rc == TROVE_OK) {
        int64_t de;
        rc = trove_store_market_find(st, "DE", &de, err);
        if (rc == TROVE_OK)
            rc = trove_store_model_activate(st, de, 1, err);
    }
    trove_dataset_free(ds);
    trove_store_close(st);
    return rc;
}

static int run_wrk(uint16_t port, const char *script, int seconds, int conns,
                   wrk_result *r)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "wrk -t2 -c%d -d%ds --latency -s %s "
             "http://127.0.0.1:%u/ 2>&1", conns, seconds, script, (unsigned)port);
    FILE *f = popen(cmd, "r");
    memset(r, 0, sizeof *r);
    if (f == NULL)
        return -1;
    parse_wrk(f, r);
    return pclose(f) == 0 && r->requests > 0 ? 0 : -1;
}

int bench_serve(int argc, char **argv);

int bench_serve(int argc, char **argv)
{
    long items = 10000, users = 5000, dim = 64, seconds = 10, conns = 32,
         threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (strcmp(argv[i], "--items") == 0) items = v;
        else if (strcmp(argv[i], "--users") == 0) users = v;
        else if (strcmp(argv[i], "--dim") == 0) dim = v;
        else if (strcmp(argv[i], "--seconds") == 0) seconds = v;
        else if (strcmp(argv[i], "--connections") == 0) conns = v;
        else if (strcmp(argv[i], "--threads") == 0) threads = v;
        else {
            fprintf(stderr, "serve: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (items < 10 || users < 10 || dim < 1 || seconds < 3 || conns < 1 ||
        threads < 1) {
        fprintf(stderr, "serve: bad option value\n");
        return 2;
    }
    if (system("command -v wrk >/dev/null 2>&1") != 0) {
        fprintf(stderr, "serve: wrk not found (scripts/install-deps.sh --bench)\n");
        return 1;
    }
    char dir[] = "/tmp/trove-bench-serve-XXXXXX", db[256], script[256];
    char metrics[1 << 16];
    trove_error err;
    trove_server *server = NULL;
    wrk_result steady, swap;
    int rc = 1, st_activate = -1, st_rollback = -1;
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(db, sizeof db, "%s/serve.db", dir);
    snprintf(script, sizeof script, "%s/recs.lua", dir);
    {
        char rules[300];
        snprintf(rules, sizeof rules, "%s/DE.yaml", dir);
        FILE *f = fopen(rules, "w");
        if (f == NULL)
            goto done;
        fprintf(f, "market: DE\nrules:\n"
                   "  - {name: c1-up, kind: boost, items: [category=c1], factor: 1.2}\n"
                   "  - {name: c2-down, kind: bury, items: [category=c2]}\n"
                   "  - {name: spread, kind: diversity, field: category, max: 3}\n"
                   "  - {name: new, kind: explore, slots: 1, new_days: 14}\n");
        fclose(f);
    }
    {
        FILE *f = fopen(script, "w");
        if (f == NULL)
            goto done;
        fprintf(f, "math.randomseed(42)\n"
                   "request = function()\n"
                   "  return wrk.format(\"GET\", \"/v1/recommendations?user=u\" .. "
                   "math.random(0, %ld) .. \"&market=DE&n=10\")\nend\n", users - 1);
        fclose(f);
    }
    double t0 = bench_now();
    if (build_store(db, (uint32_t)items, (uint32_t)users, &err) != TROVE_OK ||
        train_versions(db, dir, (uint32_t)dim, &err) != TROVE_OK) {
        fprintf(stderr, "serve: set-up: %s\n", err.msg);
        goto done;
    }
    double setup_s = bench_now() - t0;
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db;
    p.threads = (unsigned)threads;
    p.admin_token = "bench-token";
    p.rules_dir = dir;
    if (trove_server_start(&p, &server, &err) != TROVE_OK) {
        fprintf(stderr, "serve: %s\n", err.msg);
        goto done;
    }
    uint16_t port = trove_server_port(server);
    if (bench_http_call(port, "GET", "/v1/recommendations?user=u1&market=DE&n=10", NULL,
                        NULL, NULL, 0, NULL) != 200) {
        fprintf(stderr, "serve: the server does not answer\n");
        goto done;
    }
    double cpu0 = cpu_seconds();
    if (run_wrk(port, script, (int)seconds, (int)conns, &steady) != 0) {
        fprintf(stderr, "serve: wrk failed\n");
        goto done;
    }
    /* this process only runs the server while wrk runs: its CPU time per
     * answered request is the server's cost, whatever else loads the
     * machine */
    double cpu_us = (cpu_seconds() - cpu0) * 1e6 / (double)steady.requests;
    bench_http_call(port, "GET", "/metrics", NULL, NULL, metrics, sizeof metrics, NULL);
    double srv_p50 = server_quantile(metrics, 0.5);
    double srv_p99 = server_quantile(metrics, 0.99);
    double cand_used = metric_value(metrics,
                                    "trove_ranking_candidates_total{result=\"used\"} ");
    double cand_rescored = metric_value(metrics,
                                        "trove_ranking_candidates_total{result=\"rescored\"} ");

    /* the swap run: wrk in the background, activate and roll back */
    {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "wrk -t2 -c%ld -d%lds --latency -s %s "
                 "http://127.0.0.1:%u/ > %s/swap.txt 2>&1 &", conns, seconds,
                 script, (unsigned)port, dir);
        if (system(cmd) != 0)
            goto done;
        usleep((useconds_t)(seconds * 1000000 / 3));
        st_activate = bench_http_call(port, "POST", "/v1/models/DE/activate",
                                      "bench-token", "{\"version\":2}", NULL, 0, NULL);
        usleep((useconds_t)(seconds * 1000000 / 3));
        st_rollback = bench_http_call(port, "POST", "/v1/models/DE/rollback",
                                      "bench-token", NULL, NULL, 0, NULL);
        usleep((useconds_t)(seconds * 1000000 / 3 + 1500000));
        snprintf(cmd, sizeof cmd, "%s/swap.txt", dir);
        FILE *f = fopen(cmd, "r");
        memset(&swap, 0, sizeof swap);
        if (f != NULL) {
            parse_wrk(f, &swap);
            fclose(f);
        }
    }

    printf("serve: %ld offers, %ld users, d=%ld, %ld server threads, %ld "
           "connections, %lds per run (set-up %.1fs)\n", items, users, dim,
           threads, conns, seconds, setup_s);
    printf("%-8s %12s %10s %10s %12s %8s\n", "run", "req/s", "p50 ms",
           "p99 ms", "requests", "failed");
    printf("%-8s %12.0f %10.3f %10.3f %12llu %8llu\n", "steady", steady.rps,
           steady.p50_ms, steady.p99_ms, steady.requests,
           steady.non2xx + steady.socket_errors);
    printf("%-8s %12.0f %10.3f %10.3f %12llu %8llu\n", "swap", swap.rps,
           swap.p50_ms, swap.p99_ms, swap.requests,
           swap.non2xx + swap.socket_errors);
    printf("server time (histogram bucket bound): p50 <= %.3f ms, p99 <= %.3f ms; "
           "activate %d, rollback %d\n", srv_p50 * 1e3, srv_p99 * 1e3,
           st_activate, st_rollback);
    printf("server CPU per request %.1f us (HTTP included): %.0f req/s per "
           "core, %.0f on %ld threads if the cores were free\n", cpu_us,
           1e6 / cpu_us, (double)threads * 1e6 / cpu_us, threads);
    printf("rankings answered from the quantized candidates: %.0f, whole catalog "
           "scored again: %.0f\n", cand_used, cand_rescored);
    printf("{\"bench\":\"serve\",\"commit\":\"%s\",\"cpu\":\"%s\",\"items\":%ld,"
           "\"users\":%ld,\"dim\":%ld,\"threads\":%ld,\"connections\":%ld,"
           "\"seconds\":%ld,\"steady\":{\"rps\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"requests\":%llu,\"failed\":%llu},\"server_p50_ms_le\":%.3f,"
           "\"server_p99_ms_le\":%.3f,\"swap\":{\"rps\":%.0f,\"p99_ms\":%.3f,"
           "\"requests\":%llu,\"failed\":%llu,\"activate_status\":%d,"
           "\"rollback_status\":%d},\"server_cpu_us_per_request\":%.2f,"
           "\"candidates_used\":%.0f,\"candidates_rescored\":%.0f,"
           "\"rps_vs_target_20k\":%.2f}\n",
           bench_commit(), bench_cpu_features(), items, users, dim, threads,
           conns, seconds, steady.rps, steady.p50_ms, steady.p99_ms,
           steady.requests, steady.non2xx + steady.socket_errors,
           srv_p50 * 1e3, srv_p99 * 1e3, swap.rps, swap.p99_ms, swap.requests,
           swap.non2xx + swap.socket_errors, st_activate, st_rollback, cpu_us,
           cand_used, cand_rescored, steady.rps / 20000.0);
    rc = 0;
done:
    trove_server_stop(server);
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            rc = 1;
    }
    return rc;
}
