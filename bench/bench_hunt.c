/*
 * bench_hunt.c - `trove-bench hunt [--items N] [--runs R] [--requests Q]`:
 * the time to generate one treasure hunt in process, against the 2 ms p99
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
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int bench_hunt(int argc, char **argv);

int bench_hunt(int argc, char **argv)
{
    size_t n_items = 10000, requests = 2000;
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
        else {
            fprintf(stderr, "usage: trove-bench hunt [--items N] [--runs R] "
                    "[--requests Q]\n");
            return 2;
        }
    }
    if (n_items < 1000 || runs < 1 || runs > 64 || requests < 100) {
        fprintf(stderr, "trove-bench hunt: --items >= 1000, --runs 1..64, "
                "--requests >= 100\n");
        return 2;
    }

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
