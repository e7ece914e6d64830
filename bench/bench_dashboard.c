/*
 * bench_dashboard.c - `trove-bench dashboard`: the dashboard's JSON API over
 * loopback on a synthetic store the size the dashboard is specified for:
 * 10k offers (title, category, brand, price) and 20 weekly cycles in which every user got 10 offers (test share 0.5,
 * redemption rates 6% test / 5% control).
 *
 * Half of the assigned offers have an impression event (--impressions).
 *
 * The server runs in this process (2 threads). Each figure is the median
 * over --runs rounds of one request on a fresh connection, timed by the
 * client (connect to last byte). A round starts a server and measures:
 *   start   the first request after the start: nothing cached (every
 *           cycle counted, the item cache built);
 *   change  right after an untimed PATCH /v1/items/{id} (a new catalog
 *           generation: item cache rebuilt, the open cycle recounted,
 *           closed cycles checked by their window's event count);
 *   event   right after an untimed POST /v1/events of one redemption now
 *           (the open cycle recounted);
 *   warm    the same request again.
 * The pages: overview = /v1/session + /v1/markets, offers = /v1/items
 * (first page, and a search), A/B = /v1/cycles. Target: < 300 ms a page.
 *
 *   trove-bench dashboard [--items N] [--users N] [--cycles N] [--offers K]
 *                         [--impressions SHARE] [--runs R] [--store PATH]
 *
 * --store keeps the synthetic store at PATH (built there when PATH does not
 * exist, reused as it is when it does: the other size options must match).
 */
#include "bench.h"
#include "trove/serve.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "bench-token"
#define WEEK  (7 * 86400)

/* One request on a fresh connection with the admin token: the status (or
 * -1); *bytes receives the size of the answer's body. */
static int http_call(uint16_t port, const char *method, const char *path,
                     const char *body, size_t *bytes)
{
    return bench_http_call(port, method, path, TOKEN, body, NULL, 0, bytes);
}

/* xorshift64*: reproducible draws for the synthetic data. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int build_store(const char *db, long n_items, long n_users, long n_cycles,
                       long per_user, double imp_share, int64_t t0,
                       trove_error *err)
{
    static const char *const words[] = { "Coffee", "Bakery", "Cinema", "Fuel",
                                         "Books", "Garden", "Sports", "Toys" };
    trove_store *st = NULL;
    int64_t de, fid_cat[8], fid_brand[50], fid_price, *items = NULL,
            *users = NULL;
    trove_assignment *rows = NULL;
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    char id[64], title[96];
    int rc = trove_store_open(db, TROVE_STORE_CREATE | TROVE_STORE_FAST, &st, err);
    if (rc != TROVE_OK)
        return rc;
    items = malloc((size_t)n_items * sizeof *items);
    users = malloc((size_t)n_users * sizeof *users);
    rows = malloc((size_t)per_user * sizeof *rows);
    if (items == NULL || users == NULL || rows == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = trove_store_begin(st, err)) != TROVE_OK ||
        (rc = trove_store_market_upsert(st, "DE", "Germany", "Europe/Berlin",
                                        &de, NULL, err)) != TROVE_OK ||
        (rc = trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, "price",
                                         TROVE_FEATURE_NUMERIC, &fid_price,
                                         err)) != TROVE_OK)
        goto done;
    for (int k = 0; k < 8 && rc == TROVE_OK; k++) {
        snprintf(id, sizeof id, "category=%s", words[k]);
        rc = trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                        TROVE_FEATURE_CATEGORICAL, &fid_cat[k], err);
    }
    for (int k = 0; k < 50 && rc == TROVE_OK; k++) {
        snprintf(id, sizeof id, "brand=b%02d", k);
        rc = trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                        TROVE_FEATURE_CATEGORICAL, &fid_brand[k],
                                        err);
    }
    for (long i = 0; i < n_items && rc == TROVE_OK; i++) {
        snprintf(id, sizeof id, "o%ld", i);
        snprintf(title, sizeof title, "%s offer %ld", words[i % 8], i);
        rc = trove_store_item_upsert(st, id, title, &items[i], NULL, err);
        if (rc == TROVE_OK)
            rc = trove_store_item_feature_set(st, items[i], fid_cat[i % 8], 1, err);
        if (rc == TROVE_OK)
            rc = trove_store_item_feature_set(st, items[i], fid_brand[i % 50], 1,
                                              err);
        if (rc == TROVE_OK)
            rc = trove_store_item_feature_set(st, items[i], fid_price,
                                              1.0 + (double)(i % 97), err);
    }
    for (long u = 0; u < n_users && rc == TROVE_OK; u++) {
        snprintf(id, sizeof id, "u%ld", u);
        rc = trove_store_user_upsert(st, id, de, &users[u], NULL, err);
    }
    if (rc == TROVE_OK)
        rc = trove_store_commit(st, err);
    for (long c = 0; c < n_cycles && rc == TROVE_OK; c++) {
        trove_cycle cy = { .market_id = de, .created_ts = t0 + c * WEEK,
                           .salt = "bench", .test_share = 0.5 };
        int64_t cid;
        snprintf(id, sizeof id, "2025-W%02ld", c + 1);
        cy.key = id;
        if ((rc = trove_store_begin(st, err)) != TROVE_OK ||
            (rc = trove_store_cycle_create(st, &cy, 0, &cid, err)) != TROVE_OK)
            break;
        for (long u = 0; u < n_users && rc == TROVE_OK; u++) {
            int arm = (int)(u % 2);
            for (long k = 0; k < per_user; k++) {
                long it = (u * 7 + c * 13 + k * 101) % n_items;
                rows[k] = (trove_assignment){ .cycle_id = cid, .user_id = users[u],
                                              .item_id = items[it], .rank = (int)k,
                                              .arm = arm, .score = 0.5,
                                              .source = TROVE_SOURCE_MODEL };
                double p = arm ? 0.06 : 0.05;
                if ((double)(next_rand(&rng) >> 11) * 0x1.0p-53 < imp_share) {
                    trove_event ev = {
                        .id = (uint64_t)(c * 1000000000L + u * 1000 + 500 + k),
                        .user_id = users[u], .item_id = items[it],
                        .type = TROVE_EVENT_IMPRESSION, .value = 1,
                        .ts = cy.created_ts + 1800 + (int64_t)(k * 600),
                        .market_id = de };
                    rc = trove_store_event_add(st, &ev, NULL, err);
                }
                if (rc == TROVE_OK &&
                    (double)(next_rand(&rng) >> 11) * 0x1.0p-53 < p) {
                    trove_event ev = {
                        .id = (uint64_t)(c * 1000000000L + u * 1000 + k + 1),
                        .user_id = users[u], .item_id = items[it],
                        .type = TROVE_EVENT_REDEMPTION, .value = 1,
                        .ts = cy.created_ts + 3600 + (int64_t)(k * 600),
                        .market_id = de };
                    rc = trove_store_event_add(st, &ev, NULL, err);
                }
            }
            if (rc == TROVE_OK)
                rc = trove_store_assignments_add(st, rows, (size_t)per_user, err);
        }
        if (rc == TROVE_OK)
            rc = trove_store_commit(st, err);
    }
done:
    if (rc != TROVE_OK)
        trove_store_rollback(st, NULL);
    trove_store_close(st);
    free(items);
    free(users);
    free(rows);
    return rc;
}

enum { AT_START = 0, AT_CHANGE, AT_EVENT, AT_WARM, N_AT };
static const char *const at_name[N_AT] = { "start", "change", "event", "warm" };

typedef struct figure {
    const char *name, *path;
    double      ms[N_AT][64];   /* per round */
    double      median[N_AT];
    size_t      bytes;
    int         status;
} figure;

static double timed_get(uint16_t port, figure *f)
{
    double t = bench_now();
    f->status = http_call(port, "GET", f->path, NULL, &f->bytes);
    return (bench_now() - t) * 1e3;
}

/* One round on a fresh server: every figure at start, then after a
 * change, after an event, and warm. */
static int round_run(const char *db, figure *figs, size_t n_figs, long round,
                     long n_items, long n_users, trove_error *err)
{
    trove_server *server = NULL;
    trove_serve_params p = trove_serve_default_params();
    char path[128], body[256];
    p.store_uri = db;
    p.admin_token = TOKEN;
    int rc = trove_server_start(&p, &server, err);
    if (rc != TROVE_OK)
        return rc;
    uint16_t port = trove_server_port(server);
    for (size_t i = 0; i < n_figs; i++)
        figs[i].ms[AT_START][round] = timed_get(port, &figs[i]);
    for (size_t i = 0; i < n_figs; i++) {
        long k = (long)((size_t)round * n_figs + i);
        snprintf(path, sizeof path, "/v1/items/o%ld", (k * 37) % n_items);
        http_call(port, "PATCH", path, k % 2 ? "{\"pinned\":false}"
                                            : "{\"blocked\":false}", NULL);
        figs[i].ms[AT_CHANGE][round] = timed_get(port, &figs[i]);
        snprintf(body, sizeof body, "{\"events\":[{\"user\":\"u%ld\",\"item\":"
                 "\"o%ld\",\"type\":\"redemption\",\"market\":\"DE\"}]}",
                 (k * 13) % n_users, (k * 101) % n_items);
        http_call(port, "POST", "/v1/events", body, NULL);
        figs[i].ms[AT_EVENT][round] = timed_get(port, &figs[i]);
        figs[i].ms[AT_WARM][round] = timed_get(port, &figs[i]);
    }
    trove_server_stop(server);
    return TROVE_OK;
}

int bench_dashboard(int argc, char **argv);

int bench_dashboard(int argc, char **argv)
{
    long items = 10000, users = 5000, cycles = 20, per_user = 10, runs = 5;
    double imp_share = 0.5;
    const char *keep = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (strcmp(argv[i], "--store") == 0) {
            keep = argv[i + 1];
            continue;
        }
        if (strcmp(argv[i], "--items") == 0) items = v;
        else if (strcmp(argv[i], "--users") == 0) users = v;
        else if (strcmp(argv[i], "--cycles") == 0) cycles = v;
        else if (strcmp(argv[i], "--offers") == 0) per_user = v;
        else if (strcmp(argv[i], "--impressions") == 0) imp_share = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--runs") == 0) runs = v;
        else {
            fprintf(stderr, "dashboard: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (items < 200 || users < 10 || cycles < 1 || cycles > 52 || per_user < 1 ||
        per_user > 50 || runs < 1 || runs > 64 || !(imp_share >= 0) ||
        imp_share > 1) {
        fprintf(stderr, "dashboard: bad option value\n");
        return 2;
    }
    char dir[] = "/tmp/trove-bench-dashboard-XXXXXX", db[256];
    trove_error err;
    int rc = 1;
    static figure figs[] = {
        { "session", "/v1/session", {{0}}, {0}, 0, 0 },
        { "markets", "/v1/markets", {{0}}, {0}, 0, 0 },
        { "items", "/v1/items?limit=50", {{0}}, {0}, 0, 0 },
        { "items_search", "/v1/items?q=coffee%20offer%2012&flag=active&limit=50",
          {{0}}, {0}, 0, 0 },
        { "items_sorted", "/v1/items?sort=-title&limit=50", {{0}}, {0}, 0, 0 },
        { "cycles", "/v1/cycles?market=DE", {{0}}, {0}, 0, 0 },   /* last: the A/B page */
    };
    const size_t n_figs = sizeof figs / sizeof *figs;
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(db, sizeof db, "%s/dash.db", dir);
    if (keep != NULL)
        snprintf(db, sizeof db, "%s", keep);
    int64_t t0 = (int64_t)time(NULL) - cycles * WEEK + 3 * 86400;
    double t = bench_now();
    if ((keep == NULL || access(keep, F_OK) != 0) &&
        build_store(db, items, users, cycles, per_user, imp_share, t0,
                    &err) != TROVE_OK) {
        fprintf(stderr, "dashboard: set-up: %s\n", err.msg);
        goto done;
    }
    double setup_s = bench_now() - t;
    for (long r = 0; r < runs; r++)
        if (round_run(db, figs, n_figs, r, items, users, &err) != TROVE_OK) {
            fprintf(stderr, "dashboard: %s\n", err.msg);
            goto done;
        }
    for (size_t i = 0; i < n_figs; i++) {
        if (figs[i].status != 200) {
            fprintf(stderr, "dashboard: %s answered %d\n", figs[i].path,
                    figs[i].status);
            goto done;
        }
        for (int a = 0; a < N_AT; a++)
            figs[i].median[a] = bench_median(figs[i].ms[a], (size_t)runs);
    }

    printf("dashboard: %ld offers, %ld users, %ld cycles x %ld offers per user "
           "(%ld assignments, impressions on %.0f%%), median of %ld rounds, "
           "set-up %.1fs\n", items, users, cycles, per_user,
           users * per_user * cycles, 100 * imp_share, runs, setup_s);
    printf("%-14s %10s %10s %10s %10s %8s\n", "request (ms)", at_name[0],
           at_name[1], at_name[2], at_name[3], "bytes");
    for (size_t i = 0; i < n_figs; i++)
        printf("%-14s %10.2f %10.2f %10.2f %10.2f %8zu\n", figs[i].name,
               figs[i].median[AT_START], figs[i].median[AT_CHANGE],
               figs[i].median[AT_EVENT], figs[i].median[AT_WARM], figs[i].bytes);
    double page[3][N_AT];
    for (int a = 0; a < N_AT; a++) {
        page[0][a] = figs[0].median[a] + figs[1].median[a];
        page[1][a] = figs[2].median[a];
        page[2][a] = figs[n_figs - 1].median[a];
    }
    static const char *const page_name[3] = { "overview", "offers", "ab" };
    printf("pages (target < 300 ms):");
    for (int g = 0; g < 3; g++)
        printf(" %s %.1f/%.1f/%.1f/%.1f%s", page_name[g], page[g][0], page[g][1],
               page[g][2], page[g][3], g < 2 ? "," : " ms (start/change/event/warm)\n");
    printf("{\"bench\":\"dashboard\",\"commit\":\"%s\",\"cpu\":\"%s\",\"items\":%ld,"
           "\"users\":%ld,\"cycles\":%ld,\"offers_per_user\":%ld,"
           "\"impressions\":%.2f,\"runs\":%ld",
           bench_commit(), bench_cpu_features(), items, users, cycles, per_user,
           imp_share, runs);
    for (size_t i = 0; i < n_figs; i++) {
        printf(",\"%s_ms\":{", figs[i].name);
        for (int a = 0; a < N_AT; a++)
            printf("%s\"%s\":%.3f", a ? "," : "", at_name[a], figs[i].median[a]);
        printf("}");
    }
    double worst_after_start = 0;
    for (int g = 0; g < 3; g++) {
        printf(",\"page_%s_ms\":{", page_name[g]);
        for (int a = 0; a < N_AT; a++) {
            printf("%s\"%s\":%.3f", a ? "," : "", at_name[a], page[g][a]);
            if (a != AT_START && page[g][a] > worst_after_start)
                worst_after_start = page[g][a];
        }
        printf("}");
    }
    printf(",\"worst_page_after_start_vs_300ms\":%.3f}\n",
           worst_after_start / 300.0);
    rc = 0;
done:
    {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            rc = 1;
    }
    return rc;
}
