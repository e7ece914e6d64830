/*
 * tune.c - hyperparameter search (trove/tune.h): per-family search spaces,
 * grid and random candidates, the validation split, the budgeted trial loop
 * and the leaderboard.
 *
 * Grid and random search follow Bergstra & Bengio, "Random search for
 * hyper-parameter optimization", JMLR 2012: random search draws every
 * setting independently (log-uniform for scale parameters), which covers
 * the few settings that matter better than a grid of the same size.
 *
 * Invariants: the test data never reaches this file - candidates are fitted
 * on the train part of a per-user RANDOM split of the caller's training set
 * and scored on its held-out part. Families take turns, one trial each, so
 * a short budget still tries every family. Only the best fitted model of
 * each family is kept (for the blend search); every other model is freed
 * as soon as it is scored. Deterministic for a seed and a budget that is
 * not reached.
 */
#include "trove/tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DIMS 4
#define MAX_GRID 12
#define MAX_FAMILIES 32
#define BLEND_MEMBERS 3
#define RANDOM_DEFAULT_TRIALS 20u
#define BLEND_SHARE 0.1

typedef struct dim {
    const char *key;
    int         log_scale;   /* random draws log-uniform */
    int         integer;     /* round random draws */
    int         n;           /* grid values */
    double      grid[MAX_GRID];
} dim;

typedef struct space {
    const char *family;
    int         n_dims;
    dim         d[MAX_DIMS];
    const char *fixed;       /* extra "key=value" given to every trial */
} space;

static const space spaces[] = {
    {"ease", 1, {{"lambda", 1, 0, 10, {50, 100, 200, 350, 500, 750, 1000, 1500, 2500, 4000}}},
     NULL},
    {"ials", 4, {{"factors", 1, 1, 3, {64, 128, 256}},
                 {"regularization", 1, 0, 5, {0.01, 0.1, 1, 10, 50}},
                 {"alpha", 1, 0, 3, {1, 5, 20}},
                 {"reg_exponent", 0, 0, 2, {0, 1}}}, "iterations=15"},
    {"edlae", 2, {{"lambda", 1, 0, 5, {20, 50, 100, 200, 400}},
                  {"dropout", 0, 0, 5, {0.1, 0.25, 0.4, 0.55, 0.7}}}, NULL},
    {"itemknn", 2, {{"neighbours", 1, 1, 5, {20, 50, 100, 200, 400}},
                    {"shrink", 0, 0, 4, {0, 10, 50, 200}}}, NULL},
    {"rp3beta", 3, {{"alpha", 0, 0, 4, {0.5, 0.75, 1, 1.25}},
                    {"beta", 0, 0, 5, {0.1, 0.25, 0.4, 0.55, 0.7}},
                    {"neighbours", 1, 1, 4, {50, 100, 200, 500}}}, NULL},
    {"warp", 3, {{"dim", 1, 1, 3, {32, 64, 128}}, {"epochs", 0, 1, 2, {20, 40}},
                 {"item_alpha", 0, 0, 2, {0, 1e-5}}}, NULL},
    {"bpr", 3, {{"dim", 1, 1, 3, {32, 64, 128}}, {"epochs", 0, 1, 2, {20, 40}},
                {"item_alpha", 0, 0, 2, {0, 1e-5}}}, NULL},
    {"logistic", 3, {{"dim", 1, 1, 3, {32, 64, 128}}, {"epochs", 0, 1, 2, {20, 40}},
                     {"item_alpha", 0, 0, 2, {0, 1e-5}}}, NULL},
    {"warp-kos", 3, {{"dim", 1, 1, 3, {32, 64, 128}}, {"epochs", 0, 1, 2, {20, 40}},
                     {"item_alpha", 0, 0, 2, {0, 1e-5}}}, NULL},
};

static const double blend_weights[] = {0, 0.25, 0.5, 1, 2};
#define N_BLEND_WEIGHTS (sizeof blend_weights / sizeof blend_weights[0])

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

trove_tune_params trove_tune_default_params(void)
{
    trove_tune_params p;
    memset(&p, 0, sizeof p);
    p.metric = TROVE_METRIC_NDCG;
    p.k = 10;
    p.strategy = TROVE_TUNE_GRID;
    p.budget_seconds = 300.0;
    p.valid_fraction = 0.2;
    p.seed = 42;
    p.threads = 1;
    return p;
}

static const struct {
    const char *name;
    int metric, has_k;
} metric_names[] = {
    {"ndcg", TROVE_METRIC_NDCG, 1},           {"precision", TROVE_METRIC_PRECISION, 1},
    {"p", TROVE_METRIC_PRECISION, 1},         {"recall", TROVE_METRIC_RECALL, 1},
    {"r", TROVE_METRIC_RECALL, 1},            {"map", TROVE_METRIC_MAP, 1},
    {"hit_rate", TROVE_METRIC_HIT_RATE, 1},   {"hr", TROVE_METRIC_HIT_RATE, 1},
    {"mrr", TROVE_METRIC_MRR, 0},             {"auc", TROVE_METRIC_AUC, 0},
};

int trove_tune_parse_metric(const char *s, int *metric, uint32_t *k, trove_error *err)
{
    const char *at = s ? strchr(s, '@') : NULL;
    size_t len = s ? (at ? (size_t)(at - s) : strlen(s)) : 0;
    unsigned long kk = 10;
    if (at != NULL) {
        char *end;
        kk = strtoul(at + 1, &end, 10);
        if (end == at + 1 || *end != '\0' || kk == 0 || kk > 100000)
            goto bad;
    }
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++)
        if (strlen(metric_names[i].name) == len && strncasecmp(s, metric_names[i].name,
                                                               len) == 0) {
            if (at != NULL && !metric_names[i].has_k)
                goto bad;
            *metric = metric_names[i].metric;
            *k = (uint32_t)kk;
            return TROVE_OK;
        }
bad:
    return trove_error_set(err, TROVE_EINVAL, "unknown metric '%s' (valid: ndcg@K, "
                           "precision@K, recall@K, map@K, hit_rate@K, mrr, auc)",
                           s ? s : "");
}

void trove_tune_metric_label(int metric, uint32_t k, char *buf, size_t n)
{
    if (metric == TROVE_METRIC_MRR || metric == TROVE_METRIC_AUC)
        snprintf(buf, n, "%s", trove_metric_name(metric));
    else
        snprintf(buf, n, "%s@%u", trove_metric_name(metric), k);
}

void trove_tune_settings_text(const trove_reco_params *s, char *buf, size_t n)
{
    size_t used = 0;
    if (n == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s=%s", i ? " " : "", s->key[i],
                         s->value[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static const space *find_space(const char *family)
{
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++)
        if (strcmp(spaces[i].family, family) == 0)
            return &spaces[i];
    return NULL;
}

static size_t grid_size(const space *sp)
{
    size_t n = 1;
    for (int d = 0; sp != NULL && d < sp->n_dims; d++)
        n *= (size_t)sp->d[d].n;
    return n;
}

static void set_number(trove_reco_params *s, const char *key, double v)
{
    char kv[TROVE_RECO_KEY_MAX + 40];
    snprintf(kv, sizeof kv, "%s=%.6g", key, v);
    trove_reco_params_set(s, kv, NULL);
}

/* Settings of grid point `idx` (last dimension fastest). */
static void grid_point(const space *sp, size_t idx, trove_reco_params *s)
{
    size_t at[MAX_DIMS];
    for (int d = sp->n_dims - 1; d >= 0; d--) {
        at[d] = idx % (size_t)sp->d[d].n;
        idx /= (size_t)sp->d[d].n;
    }
    for (int d = 0; d < sp->n_dims; d++)
        set_number(s, sp->d[d].key, sp->d[d].grid[at[d]]);
    if (sp->fixed != NULL)
        trove_reco_params_set(s, sp->fixed, NULL);
}

/* One random point: each dimension uniform (or log-uniform when its grid
 * is positive and log_scale) between its smallest and largest grid value. */
static void random_point(const space *sp, trove_rng *rng, trove_reco_params *s)
{
    for (int d = 0; d < sp->n_dims; d++) {
        const dim *x = &sp->d[d];
        double lo = x->grid[0], hi = x->grid[x->n - 1], u = trove_rng_uniform(rng), v;
        if (x->log_scale && lo > 0.0)
            v = exp(log(lo) + u * (log(hi) - log(lo)));
        else
            v = lo + u * (hi - lo);
        if (x->integer)
            v = floor(v + 0.5);
        set_number(s, x->key, v);
    }
    if (sp->fixed != NULL)
        trove_reco_params_set(s, sp->fixed, NULL);
}

/* ------------------------------------------------------------- the blend */
/* Scorer over fitted validation models: the same standardised weighted sum
 * as the "blend" family (src/baselines/blend.c). */
typedef struct blend_ctx {
    const trove_recommender *m[BLEND_MEMBERS];
    double   w[BLEND_MEMBERS];
    uint32_t n, n_items;
} blend_ctx;

static int blend_score(void *ctxv, uint32_t user, float *s, trove_error *err)
{
    const blend_ctx *c = ctxv;
    float *t = trove_malloc((size_t)(c->n_items ? c->n_items : 1) * sizeof *t);
    int rc = TROVE_OK;
    if (t == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "blend: out of memory");
    memset(s, 0, (size_t)c->n_items * sizeof *s);
    for (uint32_t k = 0; k < c->n; k++) {
        double sum = 0.0, sq = 0.0, mean, sd;
        uint32_t cnt = 0;
        if (c->w[k] == 0.0)
            continue;
        if ((rc = trove_recommender_score_user(c->m[k], user, t, err)) != TROVE_OK)
            break;
        for (uint32_t i = 0; i < c->n_items; i++)
            if (isfinite(t[i])) {
                sum += t[i];
                cnt++;
            }
        mean = cnt ? sum / cnt : 0.0;
        for (uint32_t i = 0; i < c->n_items; i++)
            if (isfinite(t[i]))
                sq += (t[i] - mean) * (t[i] - mean);
        sd = cnt ? sqrt(sq / cnt) : 0.0;
        if (!(sd > 0.0))
            continue;
        for (uint32_t i = 0; i < c->n_items; i++)
            if (isfinite(t[i]))
                s[i] += (float)(c->w[k] * (t[i] - mean) / sd);
    }
    trove_free(t);
    return rc;
}

/* ------------------------------------------------------------ the search */
typedef struct fam_state {
    const char *name;
    const space *sp;        /* NULL: defaults only */
    size_t   n_cand, next;  /* candidates and the next one to try */
    size_t  *order;         /* GRID: NULL (in order) */
    double   last_s;        /* duration of the previous trial */
    double   best_score;
    trove_reco_params best_settings;
    trove_recommender *best;/* fitted on the validation train part */
} fam_state;

typedef struct run_ctx {
    const trove_tune_params *p;
    const trove_dataset *vtrain;
    trove_csr vtest;
    trove_eval_params ep;
    trove_tune_trial *trials;
    size_t n_trials, cap;
} run_ctx;

static int push_trial(run_ctx *x, trove_tune_trial *t)
{
    if (x->n_trials == x->cap) {
        size_t nc = x->cap ? 2 * x->cap : 64;
        trove_tune_trial *nt = trove_realloc(x->trials, nc * sizeof *nt);
        if (nt == NULL)
            return TROVE_ENOMEM;
        x->trials = nt;
        x->cap = nc;
    }
    t->order = (uint32_t)x->n_trials;
    x->trials[x->n_trials++] = *t;
    return TROVE_OK;
}

/* Score a scorer on validation into t (status, metrics, eval time). */
static int score_trial(run_ctx *x, const trove_scorer *sc, trove_tune_trial *t)
{
    trove_eval_result *res = NULL;
    trove_error e;
    double t0 = now_s();
    int rc;
    trove_error_clear(&e);
    rc = trove_eval_run(sc, trove_dataset_interactions(x->vtrain), &x->vtest, &x->ep,
                        &res, &e);
    t->eval_seconds = now_s() - t0;
    t->status = rc;
    if (rc != TROVE_OK) {
        snprintf(t->message, sizeof t->message, "%s", e.msg);
        t->score = NAN;
        return rc == TROVE_ENOMEM ? rc : TROVE_OK;
    }
    memcpy(t->metrics, res->overall.mean, sizeof t->metrics);
    t->score = res->overall.mean[x->p->metric];
    trove_eval_result_free(res);
    return TROVE_OK;
}

/* Fit and score one candidate of family f; keep the model if it is the
 * family's best so far. Returns TROVE_ENOMEM only (other failures are
 * recorded in the trial). */
static int run_trial(run_ctx *x, fam_state *f, const trove_reco_params *settings)
{
    trove_tune_trial t;
    trove_recommender *r = NULL;
    trove_reco_params rp = *settings;
    trove_error e;
    double t0 = now_s();
    int rc;
    memset(&t, 0, sizeof t);
    trove_error_clear(&e);
    snprintf(t.family, sizeof t.family, "%s", f->name);
    t.settings = *settings;
    t.settings.threads = 1;
    rp.threads = x->p->threads > 0 ? x->p->threads : 1;
    rc = trove_recommender_fit(f->name, &rp, x->vtrain, &r, &e);
    t.fit_seconds = now_s() - t0;
    if (rc == TROVE_ENOMEM)
        return rc;
    if (rc != TROVE_OK) {
        t.status = rc;
        t.score = NAN;
        snprintf(t.message, sizeof t.message, "%s", e.msg);
    } else {
        trove_scorer sc = trove_scorer_from_recommender(r);
        if ((rc = score_trial(x, &sc, &t)) != TROVE_OK)
            goto done;
    }
    {
        char txt[512];
        trove_tune_settings_text(&t.settings, txt, sizeof txt);
        if (t.status == TROVE_OK)
            trove_log(TROVE_LOG_INFO, "tune: %s %s: %s %.5f (%.2f s)", f->name, txt,
                      trove_metric_name(x->p->metric), t.score,
                      t.fit_seconds + t.eval_seconds);
        else
            trove_log(TROVE_LOG_WARN, "tune: %s%s%s failed: %s", f->name, txt[0] ? " " : "",
                      txt, t.message);
    }
    f->last_s = t.fit_seconds + t.eval_seconds;
    if (t.status == TROVE_OK && (f->best == NULL || t.score > f->best_score)) {
        trove_recommender_free(f->best);
        f->best = r;
        r = NULL;
        f->best_score = t.score;
        f->best_settings = t.settings;
    }
    rc = push_trial(x, &t);
done:
    trove_recommender_free(r);
    return rc;
}

static int cmp_trial(const void *a, const void *b)
{
    const trove_tune_trial *x = a, *y = b;
    int fx = x->status != TROVE_OK || isnan(x->score);
    int fy = y->status != TROVE_OK || isnan(y->score);
    if (fx != fy)
        return fx - fy;
    if (!fx && x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->order > y->order) - (x->order < y->order);
}

static int cmp_fam(const void *a, const void *b)
{
    const fam_state *const *x = a, *const *y = b;
    if ((*x)->best_score != (*y)->best_score)
        return (*x)->best_score < (*y)->best_score ? 1 : -1;
    return strcmp((*x)->name, (*y)->name);
}

/* Blend search over the best validation models of the best families. */
static int search_blend(run_ctx *x, fam_state *fams, size_t n_fams, double t_start,
                        size_t *n_skipped, int *exhausted)
{
    fam_state *top[MAX_FAMILIES];
    size_t n_top = 0;
    int rc = TROVE_OK;
    for (size_t i = 0; i < n_fams; i++)
        if (fams[i].best != NULL)
            top[n_top++] = &fams[i];
    if (n_top < 2)
        return TROVE_OK;
    qsort(top, n_top, sizeof top[0], cmp_fam);
    if (n_top > BLEND_MEMBERS)
        n_top = BLEND_MEMBERS;
    for (size_t a = 0; a < N_BLEND_WEIGHTS; a++)
        for (size_t b = 0; b < (n_top > 2 ? N_BLEND_WEIGHTS : 1); b++) {
            blend_ctx bc;
            trove_tune_trial t;
            trove_scorer sc;
            int ok = 1;
            if (blend_weights[a] == 0.0 && (n_top < 3 || blend_weights[b] == 0.0))
                continue;   /* the first member alone: already on the board */
            if (now_s() - t_start >= x->p->budget_seconds) {
                (*n_skipped)++;
                *exhausted = 1;
                continue;
            }
            memset(&bc, 0, sizeof bc);
            memset(&t, 0, sizeof t);
            bc.n_items = trove_dataset_n_items(x->vtrain);
            snprintf(t.family, sizeof t.family, "blend");
            /* members with weight 0 are left out of the settings */
            for (size_t m = 0; m < n_top; m++) {
                char spec[512], txt[TROVE_RECO_VALUE_MAX * 2];
                double w = m == 0 ? 1.0 : m == 1 ? blend_weights[a] : blend_weights[b];
                if (w == 0.0)
                    continue;
                bc.m[bc.n] = top[m]->best;
                bc.w[bc.n] = w;
                bc.n++;
                trove_tune_settings_text(&top[m]->best_settings, txt, sizeof txt);
                snprintf(spec, sizeof spec, "member%u=%s %g%s%s", bc.n, top[m]->name, w,
                         txt[0] ? " " : "", txt);
                ok &= trove_reco_params_set(&t.settings, spec, NULL) == TROVE_OK;
            }
            if (!ok)
                continue;   /* a member's settings do not fit in one value */
            sc.ctx = &bc;
            sc.n_users = trove_dataset_n_users(x->vtrain);
            sc.n_items = bc.n_items;
            sc.score_user = blend_score;
            t.settings.threads = 1;
            if ((rc = score_trial(x, &sc, &t)) != TROVE_OK)
                return rc;
            trove_log(TROVE_LOG_INFO, "tune: blend w=%g,%g: %.5f", blend_weights[a],
                      n_top > 2 ? blend_weights[b] : 0.0, t.score);
            if ((rc = push_trial(x, &t)) != TROVE_OK)
                return rc;
        }
    return rc;
}

int trove_tune_run(const trove_dataset *train, const trove_tune_params *p,
                   trove_tune_result **out, trove_error *err)
{
    fam_state fams[MAX_FAMILIES];
    size_t n_fams = 0, n_skipped = 0;
    int want_blend = 0, exhausted = 0, rc = TROVE_OK;
    double t_start = now_s(), family_budget;
    trove_dataset *vtrain = NULL, *vtest = NULL;
    trove_split_params sp = trove_split_default_params();
    trove_tune_result *res = NULL;
    trove_rng rng;
    run_ctx x;

    memset(&x, 0, sizeof x);
    memset(fams, 0, sizeof fams);
    if (train == NULL || p == NULL || out == NULL || p->families == NULL)
        return trove_error_set(err, TROVE_EINVAL, "tune: missing argument");
    if (!(p->budget_seconds > 0.0) || !isfinite(p->budget_seconds))
        return trove_error_set(err, TROVE_EINVAL, "tune: the time budget must be a "
                               "positive number of seconds, got %g", p->budget_seconds);
    if (!(p->valid_fraction > 0.0 && p->valid_fraction < 1.0))
        return trove_error_set(err, TROVE_EINVAL, "tune: the validation fraction must "
                               "be in (0, 1), got %g", p->valid_fraction);
    if (p->metric < 0 || p->metric >= TROVE_METRIC_COUNT || p->k == 0 ||
        (p->strategy != TROVE_TUNE_GRID && p->strategy != TROVE_TUNE_RANDOM))
        return trove_error_set(err, TROVE_EINVAL, "tune: bad metric, k or strategy");
    for (size_t i = 0; p->families[i] != NULL; i++) {
        const char *const *known = trove_recommender_families();
        int ok = 0;
        for (size_t k = 0; known[k]; k++)
            ok |= strcmp(known[k], p->families[i]) == 0;
        if (!ok)
            return trove_error_set(err, TROVE_EINVAL, "tune: unknown model family '%s'",
                                   p->families[i]);
        for (size_t k = 0; k < n_fams; k++)
            ok &= strcmp(fams[k].name, p->families[i]) != 0;
        if (!ok || (want_blend && strcmp(p->families[i], "blend") == 0))
            return trove_error_set(err, TROVE_EINVAL, "tune: family '%s' is listed twice",
                                   p->families[i]);
        if (strcmp(p->families[i], "blend") == 0) {
            want_blend = 1;
            continue;
        }
        if (n_fams == MAX_FAMILIES)
            return trove_error_set(err, TROVE_EINVAL, "tune: at most %d families",
                                   MAX_FAMILIES);
        fams[n_fams].name = p->families[i];
        fams[n_fams].sp = find_space(p->families[i]);
        n_fams++;
    }
    if (n_fams == 0 || (want_blend && n_fams < 2))
        return trove_error_set(err, TROVE_EINVAL, n_fams == 0 ? "tune: no model family "
                               "to search" : "tune: blend needs at least two other "
                               "families to blend");
    if (p->k > trove_dataset_n_items(train))
        return trove_error_set(err, TROVE_EINVAL, "tune: k = %u is larger than the "
                               "catalog (%u items)", p->k, trove_dataset_n_items(train));

    /* validation carved from train only */
    sp.kind = TROVE_SPLIT_RANDOM;
    sp.fraction = p->valid_fraction;
    sp.seed = p->seed;
    if ((rc = trove_dataset_split(train, &sp, &vtrain, &vtest, err)) != TROVE_OK) {
        trove_error_prefix(err, "tune: validation split");
        return rc;
    }
    if (trove_dataset_nnz(vtest) == 0) {
        rc = trove_error_set(err, TROVE_EEMPTY, "tune: no validation pair (users need "
                             "at least two training interactions)");
        goto done;
    }
    x.p = p;
    x.vtrain = vtrain;
    x.vtest = *trove_dataset_interactions(vtest);
    x.ep = trove_eval_default_params();
    x.ep.k = p->k;
    x.ep.threads = p->threads > 0 ? p->threads : 1;
    x.ep.bootstrap = 0;
    x.ep.slices = 0;

    /* candidate sequences */
    trove_rng_seed(&rng, p->seed ^ 0x74756e65ull);
    for (size_t i = 0; i < n_fams; i++) {
        fam_state *f = &fams[i];
        size_t g = grid_size(f->sp);
        f->best_score = -INFINITY;
        if (f->sp == NULL)
            f->n_cand = 1;
        else if (p->strategy == TROVE_TUNE_GRID)
            f->n_cand = p->max_trials && p->max_trials < g ? p->max_trials : g;
        else
            f->n_cand = p->max_trials ? p->max_trials : RANDOM_DEFAULT_TRIALS;
    }

    /* families take turns; with a blend to search, they leave it the last
     * BLEND_SHARE of the budget (the blend only scores fitted models) */
    family_budget = p->budget_seconds * (want_blend ? 1.0 - BLEND_SHARE : 1.0);
    for (size_t round = 0, more = 1; more; round++) {
        more = 0;
        for (size_t i = 0; i < n_fams; i++) {
            fam_state *f = &fams[i];
            trove_reco_params s = trove_reco_default_params();
            double elapsed = now_s() - t_start;
            if (round >= f->n_cand)
                continue;
            more = 1;
            if (x.n_trials > 0 && (elapsed >= family_budget ||
                                   elapsed + f->last_s > family_budget)) {
                n_skipped++;
                exhausted = 1;
                continue;
            }
            if (f->sp != NULL && p->strategy == TROVE_TUNE_GRID)
                grid_point(f->sp, round, &s);
            else if (f->sp != NULL)
                random_point(f->sp, &rng, &s);
            if ((rc = run_trial(&x, f, &s)) != TROVE_OK) {
                trove_error_set(err, rc, "tune: out of memory");
                goto done;
            }
            if (x.n_trials == 1 && now_s() - t_start > p->budget_seconds) {
                trove_tune_trial *t = &x.trials[0];
                char txt[256];
                trove_tune_settings_text(&t->settings, txt, sizeof txt);
                rc = trove_error_set(err, TROVE_ERANGE, "tune: the time budget of %g s is "
                                     "too small to try one configuration: %s%s%s took "
                                     "%.3g s (with %.3g s to carve the validation "
                                     "split); raise the budget", p->budget_seconds,
                                     t->family, txt[0] ? " " : "", txt,
                                     t->fit_seconds + t->eval_seconds,
                                     now_s() - t_start - t->fit_seconds - t->eval_seconds);
                goto done;
            }
        }
    }
    if (want_blend && (rc = search_blend(&x, fams, n_fams, t_start, &n_skipped,
                                         &exhausted)) != TROVE_OK) {
        trove_error_set(err, rc, "tune: out of memory");
        goto done;
    }

    qsort(x.trials, x.n_trials, sizeof *x.trials, cmp_trial);
    if (x.n_trials == 0 || x.trials[0].status != TROVE_OK) {
        rc = trove_error_set(err, TROVE_EEMPTY, "tune: no configuration could be "
                             "evaluated%s%s", x.n_trials ? "; first failure: " : "",
                             x.n_trials ? x.trials[x.n_trials - 1].message : "");
        goto done;
    }
    res = trove_calloc(1, sizeof *res);
    if (res == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "tune: out of memory");
        goto done;
    }
    res->metric = p->metric;
    res->k = p->k;
    res->n_trials = x.n_trials;
    res->trials = x.trials;
    x.trials = NULL;
    res->n_skipped = n_skipped;
    res->budget_exhausted = exhausted;
    res->n_valid_users = trove_dataset_n_active_users(vtest);
    res->n_valid_pairs = trove_dataset_nnz(vtest);
    res->seconds = now_s() - t_start;
    *out = res;
    rc = TROVE_OK;
done:
    for (size_t i = 0; i < n_fams; i++)
        trove_recommender_free(fams[i].best);
    trove_free(x.trials);
    trove_dataset_free(vtrain);
    trove_dataset_free(vtest);
    return rc;
}

void trove_tune_result_free(trove_tune_result *r)
{
    if (r == NULL)
        return;
    trove_free(r->trials);
    trove_free(r);
}

int trove_tune_result_config(const trove_tune_result *r, const trove_tune_params *p,
                             trove_tuned_config **out, trove_error *err)
{
    trove_tuned_config *c;
    if (r == NULL || p == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "tune: missing argument");
    if (r->n_trials == 0 || r->trials[0].status != TROVE_OK)
        return trove_error_set(err, TROVE_EEMPTY, "tune: no successful trial");
    c = trove_tuned_config_new();
    if (c == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "tune: out of memory");
    trove_tune_metric_label(r->metric, r->k, c->metric, sizeof c->metric);
    c->valid_fraction = p->valid_fraction;
    c->seed = p->seed;
    snprintf(c->best, sizeof c->best, "%s", r->trials[0].family);
    for (size_t i = 0; i < r->n_trials && c->n_models < TROVE_TUNED_MAX_MODELS; i++) {
        const trove_tune_trial *t = &r->trials[i];
        int seen = t->status != TROVE_OK;
        for (size_t m = 0; m < c->n_models && !seen; m++)
            seen = strcmp(c->models[m].family, t->family) == 0;
        if (seen)
            continue;
        memset(&c->models[c->n_models], 0, sizeof c->models[0]);
        snprintf(c->models[c->n_models].family, sizeof c->models[0].family, "%s",
                 t->family);
        c->models[c->n_models].settings = t->settings;
        c->models[c->n_models].valid_score = t->score;
        c->n_models++;
    }
    *out = c;
    return TROVE_OK;
}
