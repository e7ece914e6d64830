/*
 * plan.c - trove_cycle_plan: the pure part of an assignment cycle.
 *
 * For every user: the arm from GrowthBook bucketing (trove/experiment.h),
 * then the list. The first n_predictions - k positions (k = reserved new
 * offer slots actually filled) come from the arm's policy over the "main"
 * candidates (every offer, or only the offers that are not new when new
 * slots are configured); the last k positions hold new offers.
 *
 * With a rules engine (params->rules), the arm's ranking becomes the scores
 * of one trove_rules_apply request per user (docs/rules.md has the order in
 * which rules act), over the same offers (the rules are compiled against
 * the offers array); offers kept for new-offer slots are not ranked, and
 * each reserved slot takes the next new offer in the user's rotation that
 * trove_rules_check finds eligible for that user. Budgets (when given) are
 * consumed user by user, so those plans run on one thread.
 *
 * Invariants: a list never holds an offer twice; users are processed in
 * contiguous ranges by threads, and nothing a user gets depends on which
 * thread computed it (the random control lists are seeded from the cycle key
 * and the user's id; the new-offer rotation from the user's position), so
 * the plan is the same for any thread count.
 */
#include "trove/cycle.h"
#include "trove/experiment.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct plan_ctx {
    const trove_cycle_user *users;
    const trove_cycle_offer *offers;
    const trove_scorer *scorer;
    const trove_cycle_plan_params *p;
    const uint32_t *main_pop;   /* main candidates, most popular first */
    uint32_t n_main;
    const uint32_t *pop_rank;   /* [n_offers] position in main_pop */
    const uint32_t *new_offers; /* offers launched since the last cycle */
    uint32_t n_new, k_new;      /* count, slots per user */
    uint64_t key_hash;
    size_t n_offers;
    size_t rules_scratch;       /* trove_rules_scratch_size, 0 = no rules */
    trove_cycle_plan_result *r;
} plan_ctx;

/* Per-thread buffers of the rules path. */
typedef struct rules_buf {
    void *scratch;
    float *rank;                /* [n_offers] the request's scores */
    uint32_t *items;            /* [n_predictions] the rules' list */
    uint8_t *sources;
} rules_buf;

typedef struct plan_job {
    plan_ctx *ctx;
    size_t from, to;
    int status;
    trove_error err;
    pthread_t tid;
} plan_job;

/* Candidate a ranks before b: scored before unscored, higher score first,
 * then the popularity order (which breaks ties by item id). */
static int better(float sa, int ha, uint32_t ra, float sb, int hb, uint32_t rb)
{
    if (ha != hb)
        return ha > hb;
    if (ha && sa != sb)
        return sa > sb;
    return ra < rb;
}

static void fill_popularity(const plan_ctx *c, size_t u, uint32_t want)
{
    trove_cycle_plan_result *r = c->r;
    size_t base = u * r->n_predictions;
    for (uint32_t j = 0; j < want; j++) {
        r->offer[base + j] = c->main_pop[j];
        r->score[base + j] = NAN;
        r->source[base + j] = TROVE_SOURCE_POPULARITY;
    }
}

static void fill_random(const plan_ctx *c, size_t u, uint32_t want,
                        uint32_t *scratch)
{
    trove_cycle_plan_result *r = c->r;
    size_t base = u * r->n_predictions;
    const char *id = c->users[u].ext_id;
    trove_rng rng;

    trove_rng_seed(&rng, c->key_hash ^ trove_hash64(id, strlen(id), 0x7472u));
    memcpy(scratch, c->main_pop, c->n_main * sizeof *scratch);
    /* Partial Fisher-Yates: the first `want` entries are a uniform sample. */
    for (uint32_t j = 0; j < want; j++) {
        uint32_t pick = j + trove_rng_below(&rng, c->n_main - j);
        uint32_t t = scratch[j];
        scratch[j] = scratch[pick];
        scratch[pick] = t;
        r->offer[base + j] = scratch[j];
        r->score[base + j] = NAN;
        r->source[base + j] = TROVE_SOURCE_RANDOM;
    }
}

/* Top `want` main candidates by the model's scores (insertion into a short
 * sorted list: want is small, the candidate list is the eligible catalog). */
static void fill_model(const plan_ctx *c, size_t u, uint32_t want,
                       const float *scores)
{
    trove_cycle_plan_result *r = c->r;
    size_t base = u * r->n_predictions;
    uint32_t *top = r->offer + base;
    float *ts = r->score + base;
    uint32_t n = 0;

    for (uint32_t j = 0; want > 0 && j < c->n_main; j++) {
        uint32_t o = c->main_pop[j];
        uint32_t mi = c->offers[o].model_index;
        int has = mi != TROVE_CYCLE_NO_INDEX;
        float s = has ? scores[mi] : NAN;
        uint32_t pos;
        if (has && !isfinite(s))
            has = 0, s = NAN;
        if (n == want) {
            uint32_t lo = top[n - 1];
            int hl = !isnan(ts[n - 1]);
            if (!better(s, has, j, ts[n - 1], hl, c->pop_rank[lo]))
                continue;
            n--;
        }
        pos = n;
        while (pos > 0 && better(s, has, j, ts[pos - 1], !isnan(ts[pos - 1]),
                                 c->pop_rank[top[pos - 1]])) {
            top[pos] = top[pos - 1];
            ts[pos] = ts[pos - 1];
            pos--;
        }
        top[pos] = o;
        ts[pos] = s;
        n++;
    }
    for (uint32_t j = 0; j < n; j++)
        r->source[base + j] = isnan(ts[j]) ? TROVE_SOURCE_POPULARITY
                                           : TROVE_SOURCE_MODEL;
}

/* A rule hit that makes an offer ineligible (trove_rules_check). */
static int ineligible(const trove_rule_hit *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].action >= TROVE_ACTION_INACTIVE &&
            h[i].action <= TROVE_ACTION_BUDGET_EXHAUSTED)
            return 1;
    return 0;
}

/* User u's list through the rules engine. b->rank holds the arm's ranking
 * over the offers (NaN = not ranked); source is the arm's source for
 * ranked offers (model, popularity or random). */
static int fill_rules(const plan_ctx *c, size_t u, rules_buf *b, int source)
{
    const trove_cycle_plan_params *p = c->p;
    trove_cycle_plan_result *r = c->r;
    size_t base = u * r->n_predictions;
    uint32_t k = c->k_new, n = 0;
    trove_rules_user ru;
    trove_rules_request q;
    trove_rules_result res;
    trove_rule_hit hits[32];
    int st;

    memset(&ru, 0, sizeof ru);
    if (p->rules_user != NULL)
        p->rules_user(p->rules_user_ud, u, &ru);
    if (ru.key == 0)
        ru.key = trove_hash64(c->users[u].ext_id, strlen(c->users[u].ext_id), 0);
    memset(&q, 0, sizeof q);
    q.user = &ru;
    q.now = p->now;
    q.scores = b->rank;
    q.remaining_budget = p->remaining_budget;
    q.ranked_source = source == TROVE_SOURCE_MODEL ? TROVE_RULES_SOURCE_MODEL
                                                   : TROVE_RULES_SOURCE_POPULAR;
    q.n = r->n_predictions - k;
    memset(&res, 0, sizeof res);
    res.items = b->items;
    res.sources = b->sources;
    if ((st = trove_rules_apply(p->rules, &q, b->scratch, &res)) != TROVE_OK)
        return st;
    for (size_t j = 0; j < res.n; j++) {
        uint32_t o = b->items[j];
        int src;
        switch (b->sources[j]) {
        case TROVE_RULES_SOURCE_MODEL:   src = TROVE_SOURCE_MODEL; break;
        case TROVE_RULES_SOURCE_EXPLORE: src = TROVE_SOURCE_NEW_OFFER; break;
        case TROVE_RULES_SOURCE_POPULAR: src = source; break;
        default:                         src = TROVE_SOURCE_RULE; break;
        }
        r->offer[base + n] = o;
        r->score[base + n] = src == TROVE_SOURCE_MODEL ? b->rank[o] : NAN;
        r->source[base + n] = (uint8_t)src;
        n++;
    }
    /* Reserved slots: the user's rotation of new offers, skipping those the
     * rules make ineligible for this user and those already listed. */
    for (uint32_t j = 0, t = 0; j < k && t < c->n_new; t++) {
        uint32_t o = c->new_offers[(uint32_t)(((uint64_t)u * k + j + t) % c->n_new)];
        size_t nh = 0;
        int dup = 0;
        for (uint32_t x = 0; x < n && !dup; x++)
            dup = r->offer[base + x] == o;
        if (dup)
            continue;
        if (trove_rules_check(p->rules, &q, o, hits, 32, &nh) != TROVE_OK ||
            ineligible(hits, nh))
            continue;
        r->offer[base + n] = o;
        r->score[base + n] = NAN;
        r->source[base + n] = TROVE_SOURCE_NEW_OFFER;
        n++;
        j++;
        t--;   /* the next slot starts from its own place in the rotation */
    }
    if (p->remaining_budget != NULL)
        for (uint32_t j = 0; j < n; j++)
            p->remaining_budget[r->offer[base + j]] -= 1.0;
    r->n_rows[u] = n;
    return TROVE_OK;
}

/* The arm's ranking as request scores over the offers: model scores,
 * popularity (higher = more popular) or a random order. Offers outside the
 * main candidates (reserved for new-offer slots) are not ranked. */
static int rules_rank(const plan_ctx *c, size_t u, int arm, const float *scores,
                      float *rank)
{
    const trove_cycle_user *us = &c->users[u];
    int source;
    if (arm == TROVE_ARM_TEST && scores != NULL) {
        source = TROVE_SOURCE_MODEL;
        for (size_t o = 0; o < c->n_offers; o++) {
            uint32_t mi = c->offers[o].model_index;
            float v = mi != TROVE_CYCLE_NO_INDEX ? scores[mi] : NAN;
            rank[o] = c->pop_rank[o] != UINT32_MAX && isfinite(v) ? v : NAN;
        }
    } else if (arm == TROVE_ARM_TEST || c->p->control_policy != TROVE_CONTROL_RANDOM) {
        source = TROVE_SOURCE_POPULARITY;
        for (size_t o = 0; o < c->n_offers; o++)
            rank[o] = c->pop_rank[o] != UINT32_MAX
                      ? (float)(c->n_main - c->pop_rank[o]) : NAN;
    } else {
        trove_rng rng;
        source = TROVE_SOURCE_RANDOM;
        trove_rng_seed(&rng, c->key_hash ^ trove_hash64(us->ext_id, strlen(us->ext_id),
                                                        0x7472u));
        for (size_t o = 0; o < c->n_offers; o++) {
            float v = trove_rng_uniformf(&rng);
            rank[o] = c->pop_rank[o] != UINT32_MAX ? v : NAN;
        }
    }
    return source;
}

static void *plan_range(void *arg)
{
    plan_job *job = arg;
    plan_ctx *c = job->ctx;
    trove_cycle_plan_result *r = c->r;
    uint32_t n_pred = r->n_predictions;
    uint32_t k = c->k_new;
    uint32_t want = n_pred - k < c->n_main ? n_pred - k : c->n_main;
    float *scores = NULL;
    uint32_t *scratch = NULL;
    rules_buf rb = {NULL, NULL, NULL, NULL};

    job->status = TROVE_OK;
    if (c->rules_scratch > 0) {
        rb.scratch = trove_malloc(c->rules_scratch);
        rb.rank = trove_malloc(c->n_offers * sizeof *rb.rank);
        rb.items = trove_malloc(n_pred * sizeof *rb.items);
        rb.sources = trove_malloc(n_pred);
        if (rb.scratch == NULL || rb.rank == NULL || rb.items == NULL ||
            rb.sources == NULL)
            goto nomem;
    }
    if (c->scorer != NULL && c->scorer->n_items > 0) {
        scores = trove_malloc((size_t)c->scorer->n_items * sizeof *scores);
        if (scores == NULL)
            goto nomem;
    }
    scratch = trove_malloc(((size_t)c->n_main + 1) * sizeof *scratch);
    if (scratch == NULL)
        goto nomem;
    for (size_t u = job->from; u < job->to; u++) {
        const trove_cycle_user *us = &c->users[u];
        size_t base = u * n_pred;
        int arm = trove_experiment_arm(c->p->salt, us->ext_id,
                                       c->p->test_share, NULL);
        if (arm < 0) {
            job->status = trove_error_set(&job->err, arm,
                                          "cycle: cannot bucket user '%s'",
                                          us->ext_id);
            goto done;
        }
        r->arm[u] = (uint8_t)arm;
        if (c->rules_scratch > 0) {
            const float *sc = NULL;
            int st;
            if (arm == TROVE_ARM_TEST && scores != NULL &&
                us->model_index != TROVE_CYCLE_NO_INDEX &&
                us->model_index < c->scorer->n_users) {
                st = c->scorer->score_user(c->scorer->ctx, us->model_index,
                                           scores, &job->err);
                if (st != TROVE_OK) {
                    job->status = st;
                    goto done;
                }
                sc = scores;
            }
            st = fill_rules(c, u, &rb, rules_rank(c, u, arm, sc, rb.rank));
            if (st != TROVE_OK) {
                job->status = trove_error_set(&job->err, st, "cycle: rules "
                                              "refused the request of user '%s'",
                                              us->ext_id);
                goto done;
            }
            continue;
        }
        if (arm == TROVE_ARM_TEST) {
            if (scores != NULL && us->model_index != TROVE_CYCLE_NO_INDEX &&
                us->model_index < c->scorer->n_users) {
                int st = c->scorer->score_user(c->scorer->ctx, us->model_index,
                                               scores, &job->err);
                if (st != TROVE_OK) {
                    job->status = st;
                    goto done;
                }
                fill_model(c, u, want, scores);
            } else {
                fill_popularity(c, u, want);
            }
        } else if (c->p->control_policy == TROVE_CONTROL_RANDOM) {
            fill_random(c, u, want, scratch);
        } else {
            fill_popularity(c, u, want);
        }
        for (uint32_t j = 0; j < k; j++) {
            r->offer[base + want + j] =
                c->new_offers[(uint32_t)(((uint64_t)u * k + j) % c->n_new)];
            r->score[base + want + j] = NAN;
            r->source[base + want + j] = TROVE_SOURCE_NEW_OFFER;
        }
        r->n_rows[u] = want + k;
    }
    goto done;
nomem:
    job->status = trove_error_set(&job->err, TROVE_ENOMEM,
                                  "cycle: out of memory");
done:
    trove_free(scores);
    trove_free(scratch);
    trove_free(rb.scratch);
    trove_free(rb.rank);
    trove_free(rb.items);
    trove_free(rb.sources);
    return NULL;
}

static int pop_cmp_r(const void *a, const void *b, void *ud)
{
    const trove_cycle_offer *o = ud;
    const trove_cycle_offer *x = &o[*(const uint32_t *)a];
    const trove_cycle_offer *y = &o[*(const uint32_t *)b];
    if (x->popularity != y->popularity)
        return x->popularity > y->popularity ? -1 : 1;
    return (x->item_id > y->item_id) - (x->item_id < y->item_id);
}

void trove_cycle_plan_free(trove_cycle_plan_result *r)
{
    if (r == NULL)
        return;
    trove_free(r->arm);
    trove_free(r->n_rows);
    trove_free(r->offer);
    trove_free(r->score);
    trove_free(r->source);
    trove_free(r);
}

int trove_cycle_plan(const trove_cycle_user *users, size_t n_users,
                     const trove_cycle_offer *offers, size_t n_offers,
                     const trove_scorer *scorer,
                     const trove_cycle_plan_params *params,
                     trove_cycle_plan_result **out, trove_error *err)
{
    trove_cycle_plan_result *r = NULL;
    uint32_t *main_pop = NULL, *pop_rank = NULL, *new_offers = NULL;
    plan_job *jobs = NULL;
    plan_ctx c;
    size_t cells;
    int status = TROVE_OK, threads;
    uint32_t n_main = 0, n_new = 0;

    if (out == NULL || params == NULL || params->salt == NULL ||
        params->cycle_key == NULL || (users == NULL && n_users > 0) ||
        (offers == NULL && n_offers > 0) || params->n_predictions < 1 ||
        params->new_slots > params->n_predictions ||
        !(params->test_share >= 0.0 && params->test_share <= 1.0) ||
        (params->control_policy != TROVE_CONTROL_RANDOM &&
         params->control_policy != TROVE_CONTROL_POPULARITY) ||
        n_offers >= UINT32_MAX) {
        status = trove_error_set(err, TROVE_EINVAL, "cycle plan: invalid arguments");
        goto fail;
    }
    if (n_offers == 0) {
        status = trove_error_set(err, TROVE_EEMPTY, "cycle plan: no eligible offers");
        goto fail;
    }
    if (params->rules != NULL) {
        trove_rules_info ri;
        trove_rules_info_get(params->rules, &ri);
        if (ri.n_items != n_offers) {
            status = trove_error_set(err, TROVE_EINVAL, "cycle plan: the rules "
                                     "were compiled for %zu offers, not %zu",
                                     ri.n_items, n_offers);
            goto fail;
        }
    }
    main_pop = trove_malloc(n_offers * sizeof *main_pop);
    pop_rank = trove_malloc(n_offers * sizeof *pop_rank);
    new_offers = trove_malloc(n_offers * sizeof *new_offers);
    r = trove_calloc(1, sizeof *r);
    if (main_pop == NULL || pop_rank == NULL || new_offers == NULL || r == NULL)
        goto nomem;
    for (uint32_t o = 0; o < (uint32_t)n_offers; o++) {
        if (params->new_slots > 0 && offers[o].is_new)
            new_offers[n_new++] = o;
        else
            main_pop[n_main++] = o;
    }
    qsort_r(main_pop, n_main, sizeof *main_pop, pop_cmp_r, (void *)offers);
    qsort_r(new_offers, n_new, sizeof *new_offers, pop_cmp_r, (void *)offers);
    for (uint32_t j = 0; j < n_offers; j++)
        pop_rank[j] = UINT32_MAX;
    for (uint32_t j = 0; j < n_main; j++)
        pop_rank[main_pop[j]] = j;

    cells = n_users * params->n_predictions;
    r->n_users = n_users;
    r->n_predictions = params->n_predictions;
    r->arm = trove_calloc(n_users + 1, 1);
    r->n_rows = trove_calloc(n_users + 1, sizeof *r->n_rows);
    r->offer = trove_calloc(cells + 1, sizeof *r->offer);
    r->score = trove_calloc(cells + 1, sizeof *r->score);
    r->source = trove_calloc(cells + 1, 1);
    if (r->arm == NULL || r->n_rows == NULL || r->offer == NULL ||
        r->score == NULL || r->source == NULL)
        goto nomem;

    c.users = users;
    c.offers = offers;
    c.scorer = scorer;
    c.p = params;
    c.main_pop = main_pop;
    c.n_main = n_main;
    c.pop_rank = pop_rank;
    c.new_offers = new_offers;
    c.n_new = n_new;
    c.k_new = params->new_slots < n_new ? params->new_slots : n_new;
    c.key_hash = trove_hash64(params->cycle_key, strlen(params->cycle_key), 0x6379u);
    c.n_offers = n_offers;
    c.rules_scratch = params->rules != NULL
                      ? trove_rules_scratch_size(params->rules) + 8 : 0;
    c.r = r;

    threads = params->threads < 1 ? 1 : params->threads;
    if (params->rules != NULL && params->remaining_budget != NULL)
        threads = 1;   /* budgets are consumed in user order */
    if ((size_t)threads > n_users / 1024 + 1)
        threads = (int)(n_users / 1024 + 1);
    jobs = trove_calloc((size_t)threads, sizeof *jobs);
    if (jobs == NULL)
        goto nomem;
    for (int t = 0; t < threads; t++) {
        jobs[t].ctx = &c;
        jobs[t].from = n_users * (size_t)t / (size_t)threads;
        jobs[t].to = n_users * (size_t)(t + 1) / (size_t)threads;
        trove_error_clear(&jobs[t].err);
    }
    {
        int started = 1;
        for (int t = 1; t < threads; t++) {
            if (pthread_create(&jobs[t].tid, NULL, plan_range, &jobs[t]) != 0)
                break;
            started++;
        }
        /* Ranges whose thread did not start run here, in order. */
        plan_range(&jobs[0]);
        for (int t = started; t < threads; t++)
            plan_range(&jobs[t]);
        for (int t = 1; t < started; t++)
            pthread_join(jobs[t].tid, NULL);
    }
    for (int t = 0; t < threads; t++) {
        if (jobs[t].status != TROVE_OK) {
            status = trove_error_set(err, jobs[t].status, "%s", jobs[t].err.msg);
            goto fail;
        }
    }
    for (size_t u = 0; u < n_users; u++) {
        if (r->arm[u] == TROVE_ARM_TEST)
            r->n_test++;
        else
            r->n_control++;
    }
    *out = r;
    r = NULL;
    goto done;
nomem:
    status = trove_error_set(err, TROVE_ENOMEM, "cycle plan: out of memory");
fail:
    trove_cycle_plan_free(r);
done:
    trove_free(jobs);
    trove_free(main_pop);
    trove_free(pop_rank);
    trove_free(new_offers);
    return status;
}
