/*
 * bench_hunt.c - `trove-bench hunt [--items N] [--runs R] [--requests Q]
 * [--http U]`: the time to generate one treasure hunt in process, against the 2 ms p99
 * target of the serving path (GET /v1/hunts on a first call of the day).
 *
 * A synthetic catalog of N offers (default 10000) in 40 categories with
 * prices and 3% inactive offers; a hybrid model at d=64 fitted for one
 * epoch on 2000 synthetic users (20 interactions each); the market's rules
 * (boost, diversity, bundle) compiled against the catalog; the built-in
 * hunt template with a price band. Each request is another user and day:
 * score every offer with the model and keep the top 200 (the candidates),
 * then trove_hunt_generate (rules, constraints, seeded choice). Figures are
 * per-request latencies of the scoring + top-K step, of generation alone
 * and of both (wall clock), and the CPU time of both (the thread's clock:
 * what the request costs without preemption by other processes), as p50 and
 * p99 per run, and the median over R runs.
 *
 * With --http U: the same through trove serve on loopback. A store with the
 * catalog (category and price features), 2000 users with 20 clicks each and
 * a d=64 model trained on them (registered and active); the server started
 * in process; then U users ask GET /v1/hunts one after the other on fresh
 * connections: first calls (generate + store the hunt) and repeats (read the
 * stored hunt, replay progress). Client-side latency p50/p99 per kind.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N_CATS 40
#define N_USERS 2000
#define PER_USER 20
#define K 200

static const char *const rules_text =
    "rules:\n"
    "  - name: burgers-up\n    kind: boost\n    items: [category=c1]\n    factor: 1.2\n"
    "  - name: spread\n    kind: diversity\n    field: category\n    max: 3\n"
    "  - name: meal\n    kind: bundle\n    when: [category=c1]\n"
    "    with: [category=c4]\n";

static const char *const template_text =
    "name: bench\ncandidates: 200\npool: 5\n"
    "steps: [{kind: discover}, {kind: discover}, {kind: bundle}, {kind: redeem}]\n"
    "constraints:\n  price: {field: price, min: 2, max: 14}\n"
    "  novelty: {min_share: 0.5}\n"
    "rewards: [{id: r1, weight: 3}, {id: r2}]\n";

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p-quantile (0..1) of v (sorted in place). */
static double quantile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)ceil(p * (double)n);
    return v[i > 0 ? i - 1 : 0];
}

/* CPU seconds of this thread: separates the work of a request from the
 * time the scheduler gave the core to someone else. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t top_k(const float *scores, size_t n, size_t k, uint32_t *cand,
                    float *cs)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        float sc = scores[j];
        if (m == k && !(sc > cs[m - 1]))
            continue;
        size_t at = m < k ? m++ : k - 1;
        while (at > 0 && cs[at - 1] < sc) {
            cs[at] = cs[at - 1];
            cand[at] = cand[at - 1];
            at--;
        }
        cs[at] = sc;
        cand[at] = (uint32_t)j;
    }
    return m;
}


/* ------------------------------------------------------------ --http */
/* GET path on a fresh connection; the status or -1. */
static int http_get(uint16_t port, const char *path)
{
    return bench_http_call(port, "GET", path, NULL, NULL, NULL, 0, NULL);
}

/* The store of --http: n_items offers, N_USERS users with PER_USER clicks,
 * and an active d=64 model trained on them. */
static int http_store(const char *db, const char *model_path, size_t n_items,
                      trove_error *err)
{
    trove_store *st = NULL;
    trove_dataset *ds = NULL;
    trove_model *m = NULL;
    int64_t de, price, cats[N_CATS], *items = malloc(n_items * sizeof *items);
    uint64_t seed = 7;
    char id[32];
    int rc = items ? trove_store_open(db, TROVE_STORE_CREATE | TROVE_STORE_FAST,
                                      &st, err) : TROVE_ENOMEM;
    if (rc != TROVE_OK ||
        (rc = trove_store_begin(st, err)) != TROVE_OK ||
        (rc = trove_store_market_upsert(st, "DE", NULL, "Europe/Berlin", &de,
                                        NULL, err)) != TROVE_OK ||
        (rc = trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, "price",
                                         TROVE_FEATURE_NUMERIC, &price, err)) != TROVE_OK)
        goto done;
    for (int c = 0; c < N_CATS; c++) {
        snprintf(id, sizeof id, "category=c%d", c);
        if ((rc = trove_store_feature_upsert(st, TROVE_FEATURE_ITEM, id,
                                             TROVE_FEATURE_CATEGORICAL, &cats[c],
                                             err)) != TROVE_OK)
            goto done;
    }
    for (size_t i = 0; i < n_items; i++) {
        snprintf(id, sizeof id, "o%zu", i);
        if ((rc = trove_store_item_upsert(st, id, NULL, &items[i], NULL, err)) != TROVE_OK ||
            (rc = trove_store_item_feature_set(st, items[i], cats[lcg(&seed) % N_CATS],
                                               1, err)) != TROVE_OK ||
            (rc = trove_store_item_feature_set(st, items[i], price,
                                               1.5 + (double)(lcg(&seed) % 1250) / 100,
                                               err)) != TROVE_OK)
            goto done;
    }
    for (uint32_t u = 0; u < N_USERS; u++) {
        int64_t uid;
        snprintf(id, sizeof id, "u%u", u);
        if ((rc = trove_store_user_upsert(st, id, de, &uid, NULL, err)) != TROVE_OK)
            goto done;
        for (int k = 0; k < PER_USER; k++) {
            trove_event ev = { .id = (uint64_t)u * 64 + (uint64_t)k + 1,
                               .user_id = uid,
                               .item_id = items[lcg(&seed) % n_items],
                               .type = TROVE_EVENT_CLICK, .value = 1,
                               .ts = 1700000000 + k, .market_id = de };
            if ((rc = trove_store_event_add(st, &ev, NULL, err)) != TROVE_OK)
                goto done;
        }
    }
    if ((rc = trove_store_commit(st, err)) != TROVE_OK ||
        (rc = trove_dataset_from_store(st, NULL, &ds, err)) != TROVE_OK)
        goto done;
    trove_model_params p = trove_model_default_params();
    p.no_components = 64;
    p.loss = TROVE_LOSS_WARP;
    p.seed = 1;
    if ((rc = trove_model_new(&p, trove_dataset_user_features(ds)->n_cols,
                              trove_dataset_item_features(ds)->n_cols, &m,
                              err)) != TROVE_OK ||
        (rc = trove_model_fit(m, trove_dataset_interactions(ds),
                              trove_dataset_user_features(ds),
                              trove_dataset_item_features(ds), 1, err)) != TROVE_OK ||
        (rc = trove_model_set_ids(m, trove_dataset_user_ids(ds),
                                  trove_dataset_item_ids(ds),
                                  trove_dataset_user_feature_names(ds),
                                  trove_dataset_item_feature_names(ds),
                                  err)) != TROVE_OK ||
        (rc = trove_model_save(m, model_path, err)) != TROVE_OK)
        goto done;
    trove_model_version mv = { .market_id = de, .created_ts = 1700000000,
                               .family = "hybrid", .path = model_path,
                               .config_hash = "0000000000000000",
                               .data_fingerprint = "bench" };
    int version;
    if ((rc = trove_store_model_register(st, &mv, &version, NULL, err)) == TROVE_OK)
        rc = trove_store_model_activate(st, de, version, err);
done:
    trove_model_free(m);
    trove_dataset_free(ds);
    trove_store_close(st);
    free(items);
    return rc;
}

static int bench_http(size_t n_items, size_t users)
{
    char dir[] = "/tmp/trove-bench-hunt-XXXXXX", db[128], model[128], path[128];
    trove_error err;
    trove_server *server = NULL;
    double *first = malloc(users * sizeof *first);
    double *again = malloc(users * sizeof *again);
    int status = 1;
    size_t bad = 0;
    if (first == NULL || again == NULL || mkdtemp(dir) == NULL) {
        fprintf(stderr, "trove-bench hunt: no memory or temporary directory\n");
        goto done;
    }
    snprintf(db, sizeof db, "%s/hunt.db", dir);
    snprintf(model, sizeof model, "%s/hunt.model", dir);
    double t0 = bench_now();
    if (http_store(db, model, n_items, &err) != TROVE_OK) {
        fprintf(stderr, "trove-bench hunt: store: %s\n", err.msg);
        goto done;
    }
    trove_serve_params p = trove_serve_default_params();
    p.store_uri = db;
    p.port = 0;
    if (trove_server_start(&p, &server, &err) != TROVE_OK) {
        fprintf(stderr, "trove-bench hunt: server: %s\n", err.msg);
        goto done;
    }
    uint16_t port = trove_server_port(server);
    printf("hunt --http: %zu offers, %d users, d=64 model; store and server "
           "ready in %.1f s\n", n_items, N_USERS, bench_now() - t0);
    /* the first hunt request reads every user's history: not timed */
    snprintf(path, sizeof path, "/v1/hunts?user=warmup&market=DE");
    if (http_get(port, path) != 200)
        bad++;
    for (int pass = 0; pass < 2; pass++)
        for (size_t q = 0; q < users; q++) {
            snprintf(path, sizeof path, "/v1/hunts?user=u%zu&market=DE",
                     q % N_USERS);
            double a = bench_now();
            if (http_get(port, path) != 200)
                bad++;
            (pass ? again : first)[q] = (bench_now() - a) * 1e6;
        }
    double f50 = quantile(first, users, 0.5), f99 = quantile(first, users, 0.99);
    double a50 = quantile(again, users, 0.5), a99 = quantile(again, users, 0.99);
    printf("\n%-34s %10s %10s\n", "GET /v1/hunts (client side)", "p50 us", "p99 us");
    printf("%-34s %10.0f %10.0f\n", "first call (generate + store)", f50, f99);
    printf("%-34s %10.0f %10.0f\n", "repeat (stored hunt + progress)", a50, a99);
    printf("\nnon-200 answers: %zu\n", bad);
    printf("{\"bench\":\"hunt_http\",\"commit\":\"%s\",\"cpu\":\"%s\",\"items\":%zu,"
           "\"users\":%zu,\"first_p50_us\":%.0f,\"first_p99_us\":%.0f,"
           "\"repeat_p50_us\":%.0f,\"repeat_p99_us\":%.0f,\"errors\":%zu}\n",
           bench_commit(), bench_cpu_features(), n_items, users, f50, f99, a50,
           a99, bad);
    status = bad == 0 ? 0 : 1;
done:
    trove_server_stop(server);
    if (dir[sizeof dir - 7] != 'X') {
        char f[160];
        const char *names[] = { "hunt.db", "hunt.db-wal", "hunt.db-shm", "hunt.model" };
        for (size_t i = 0; i < 4; i++) {
            snprintf(f, sizeof f, "%s/%s", dir, names[i]);
            unlink(f);
        }
        rmdir(dir);
    }
    free(first);
    free(again);
    return status;
}

int bench_hunt(int argc, char **argv);

int bench_hunt(int argc, char **argv)
{
    size_t n_items = 10000, requests = 2000, http_users = 0;
    int runs = 5, status = 1;
    trove_error err;
    uint64_t seed = 42;
    char (*ids)[24] = NULL, (*feat)[24] = NULL;
    const char **fp = NULL, *cat_names[N_CATS];
    char cat_buf[N_CATS][8];
    trove_hunt_item *items = NULL;
    trove_rules_item *ritems = NULL;
    trove_rule_set *rs = NULL;
    trove_rules *rules = NULL;
    trove_hunt_template *t = NULL;
    trove_model *m = NULL;
    trove_csr inter = {0};
    uint32_t *rows = NULL, *cols = NULL;
    float *scores = NULL;
    void *scratch = NULL;
    double *lat[4] = {NULL, NULL, NULL, NULL};

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--items") == 0 && a + 1 < argc)
            n_items = (size_t)strtoul(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
            runs = atoi(argv[++a]);
        else if (strcmp(argv[a], "--requests") == 0 && a + 1 < argc)
            requests = (size_t)strtoul(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--http") == 0 && a + 1 < argc)
            http_users = (size_t)strtoul(argv[++a], NULL, 10);
        else {
            fprintf(stderr, "usage: trove-bench hunt [--items N] [--runs R] "
                    "[--requests Q] [--http USERS]\n");
            return 2;
        }
    }
    if (n_items < 1000 || runs < 1 || runs > 64 || requests < 100) {
        fprintf(stderr, "trove-bench hunt: --items >= 1000, --runs 1..64, "
                "--requests >= 100\n");
        return 2;
    }
    if (http_users > 0)
        return bench_http(n_items, http_users > N_USERS ? N_USERS : http_users);

    ids = malloc(n_items * sizeof *ids);
    feat = malloc(n_items * sizeof *feat);
    fp = malloc(n_items * sizeof *fp);
    items = malloc(n_items * sizeof *items);
    ritems = malloc(n_items * sizeof *ritems);
    rows = malloc(N_USERS * PER_USER * sizeof *rows);
    cols = malloc(N_USERS * PER_USER * sizeof *cols);
    scores = malloc(n_items * sizeof *scores);
    for (int i = 0; i < 4; i++)
        lat[i] = malloc(requests * sizeof *lat[i]);
    if (!ids || !feat || !fp || !items || !ritems || !rows || !cols || !scores ||
        !lat[0] || !lat[1] || !lat[2] || !lat[3]) {
        fprintf(stderr, "trove-bench hunt: out of memory\n");
        goto done;
    }
    for (int c = 0; c < N_CATS; c++) {
        snprintf(cat_buf[c], sizeof cat_buf[c], "c%d", c);
        cat_names[c] = cat_buf[c];
    }
    for (size_t i = 0; i < n_items; i++) {
        uint32_t c = (uint32_t)(lcg(&seed) % N_CATS);
        snprintf(ids[i], sizeof ids[i], "o%zu", i);
        snprintf(feat[i], sizeof feat[i], "category=c%u", c);
        fp[i] = feat[i];
        int active = lcg(&seed) % 100 >= 3;
        items[i] = (trove_hunt_item){ ids[i], c, 1.5 + (double)(lcg(&seed) % 1250) / 100,
                                      active, 0, 0, 0 };
        ritems[i] = (trove_rules_item){ .ext_id = ids[i], .features = &fp[i],
                                        .n_features = 1, .active = active };
    }
    trove_hunt_catalog cat = { items, n_items, cat_names, N_CATS, NULL, NULL };

    /* the model: d=64, one epoch on synthetic users */
    for (uint32_t u = 0; u < N_USERS; u++)
        for (int j = 0; j < PER_USER; j++) {
            rows[u * PER_USER + (uint32_t)j] = u;
            cols[u * PER_USER + (uint32_t)j] = (uint32_t)(lcg(&seed) % n_items);
        }
    trove_model_params p = trove_model_default_params();
    p.no_components = 64;
    p.loss = TROVE_LOSS_WARP;
    p.seed = 1;
    double t0 = bench_now();
    if (trove_csr_from_coo(N_USERS, (uint32_t)n_items, rows, cols, NULL,
                           N_USERS * PER_USER, TROVE_DUP_MAX, &inter, &err) != TROVE_OK ||
        trove_model_new(&p, 0, 0, &m, &err) != TROVE_OK ||
        trove_model_fit(m, &inter, NULL, NULL, 1, &err) != TROVE_OK) {
        fprintf(stderr, "trove-bench hunt: model: %s\n", err.msg);
        goto done;
    }
    double fit_s = bench_now() - t0;

    trove_rules_catalog rc = { .items = ritems, .n_items = n_items };
    if (trove_rule_set_parse(rules_text, strlen(rules_text), "bench", &rs, &err)
        != TROVE_OK || trove_rules_compile(rs, &rc, &rules, &err) != TROVE_OK ||
        trove_hunt_template_parse(template_text, strlen(template_text), "bench",
                                  &t, &err) != TROVE_OK) {
        fprintf(stderr, "trove-bench hunt: %s\n", err.msg);
        goto done;
    }
    if ((scratch = malloc(trove_rules_scratch_size(rules) + 8)) == NULL)
        goto done;
    printf("hunt: %zu offers in %d categories, model d=%u fitted in %.1f s, "
           "top-%d candidates, %zu requests x %d runs\n", n_items, N_CATS,
           trove_model_dim(m), fit_s, K, requests, runs);

    static const char *const phase[4] = { "score + top-200", "generate (rules)",
                                          "total", "total, CPU time" };
    double p50[4][64], p99[4][64];
    size_t failed = 0;
    for (int r = 0; r < runs; r++) {
        for (size_t q = 0; q < requests; q++) {
            uint32_t cand[K];
            float cs[K];
            char user[16];
            trove_hunt h;
            uint32_t u = (uint32_t)(q % N_USERS);
            snprintf(user, sizeof user, "u%u", u);
            double ca = cpu_now();
            double a = bench_now();
            trove_model_score_user(m, u, scores, NULL);
            size_t n = top_k(scores, n_items, K, cand, cs);
            double b = bench_now();
            trove_rules_user ru = { .key = (uint64_t)u * 0x9E3779B97F4A7C15ull };
            trove_hunt_request rq = {
                .user = user, .market = "DE", .day = 20000 + (int32_t)(q / N_USERS) + r,
                .now = 20000LL * 86400 + 3600, .expires_ts = 20001LL * 86400,
                .candidates = cand, .scores = cs, .n_candidates = n,
                .source = TROVE_HUNT_FROM_MODEL, .history = &inter.indices[inter.indptr[u]],
                .n_history = (size_t)(inter.indptr[u + 1] - inter.indptr[u]),
                .rules = rules, .rules_user = &ru, .rules_scratch = scratch };
            if (trove_hunt_generate(t, &cat, &rq, &h, &err) != TROVE_OK)
                failed++;
            double c = bench_now();
            lat[3][q] = (cpu_now() - ca) * 1e9;
            lat[0][q] = (b - a) * 1e9;
            lat[1][q] = (c - b) * 1e9;
            lat[2][q] = (c - a) * 1e9;
        }
        for (int ph = 0; ph < 4; ph++) {
            p50[ph][r] = quantile(lat[ph], requests, 0.50);
            p99[ph][r] = quantile(lat[ph], requests, 0.99);
        }
    }
    double med50[4], med99[4];
    printf("\n%-20s %14s %14s\n", "phase (per request)", "p50 us", "p99 us");
    for (int ph = 0; ph < 4; ph++) {
        med50[ph] = bench_median(p50[ph], (size_t)runs) / 1000;
        med99[ph] = bench_median(p99[ph], (size_t)runs) / 1000;
        printf("%-20s %14.1f %14.1f\n", phase[ph], med50[ph], med99[ph]);
    }
    printf("\nfailed generations: %zu; target: p99 <= 2000 us (total)\n", failed);
    printf("{\"bench\":\"hunt\",\"commit\":\"%s\",\"cpu\":\"%s\",\"runs\":%d,"
           "\"items\":%zu,\"dim\":64,\"candidates\":%d,\"requests\":%zu,"
           "\"score_p50_us\":%.1f,\"score_p99_us\":%.1f,"
           "\"generate_p50_us\":%.1f,\"generate_p99_us\":%.1f,"
           "\"total_p50_us\":%.1f,\"total_p99_us\":%.1f,"
           "\"cpu_p50_us\":%.1f,\"cpu_p99_us\":%.1f,\"failed\":%zu,"
           "\"p99_vs_target\":%.3f}\n",
           bench_commit(), bench_cpu_features(), runs, n_items, K, requests,
           med50[0], med99[0], med50[1], med99[1], med50[2], med99[2], med50[3],
           med99[3], failed,
           med99[2] / 2000.0);
    status = failed == 0 ? 0 : 1;
done:
    for (int i = 0; i < 4; i++)
        free(lat[i]);
    free(scratch);
    trove_hunt_template_free(t);
    trove_rules_free(rules);
    trove_rule_set_free(rs);
    trove_model_free(m);
    trove_csr_destroy(&inter);
    free(scores);
    free(rows);
    free(cols);
    free(ritems);
    free(items);
    free(fp);
    free(feat);
    free(ids);
    return status;
}
