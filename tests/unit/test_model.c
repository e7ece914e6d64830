/*
 * test_model.c - the hybrid model: parameter checks, loss derivatives and
 * the applied gradients against finite differences, quality on a planted
 * preference dataset against popularity, determinism, fit_partial, grow,
 * cold start, the mean-identity fallback, recommend, divergence and bad
 * input; the row-wise adagrad schedule by hand, end to end and across
 * fit_partial and save / load.
 */
#include "testutil.h"
#include "model/model_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */
typedef struct coo {
    uint32_t n_rows, n_cols;
    size_t n, cap;
    uint32_t *r, *c;
    float *v;
} coo;

static void coo_add(coo *m, uint32_t r, uint32_t c, float v)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->r = realloc(m->r, m->cap * sizeof *m->r);
        m->c = realloc(m->c, m->cap * sizeof *m->c);
        m->v = realloc(m->v, m->cap * sizeof *m->v);
        assert_non_null(m->r);
        assert_non_null(m->c);
        assert_non_null(m->v);
    }
    m->r[m->n] = r;
    m->c[m->n] = c;
    m->v[m->n] = v;
    m->n++;
}

/* CSR from coo (sorted, duplicates dropped), malloc'd; with_data = 0 keeps
 * data NULL. */
static trove_csr to_csr(const coo *m, int with_data)
{
    trove_csr c;
    memset(&c, 0, sizeof c);
    c.n_rows = m->n_rows;
    c.n_cols = m->n_cols;
    c.indptr = calloc((size_t)m->n_rows + 1, sizeof(uint64_t));
    c.indices = malloc((m->n ? m->n : 1) * sizeof(uint32_t));
    c.data = with_data ? malloc((m->n ? m->n : 1) * sizeof(float)) : NULL;
    assert_non_null(c.indptr);
    for (uint32_t r = 0; r < m->n_rows; r++) {
        c.indptr[r] = c.nnz;
        /* selection of this row's columns in ascending order */
        uint32_t last = UINT32_MAX;
        for (;;) {
            uint32_t best = UINT32_MAX;
            float bv = 0;
            for (size_t k = 0; k < m->n; k++)
                if (m->r[k] == r && (last == UINT32_MAX || m->c[k] > last) && m->c[k] < best) {
                    best = m->c[k];
                    bv = m->v[k];
                }
            if (best == UINT32_MAX)
                break;
            c.indices[c.nnz] = best;
            if (c.data)
                c.data[c.nnz] = bv;
            c.nnz++;
            last = best;
        }
    }
    c.indptr[m->n_rows] = c.nnz;
    return c;
}

static void csr_release(trove_csr *c)
{
    free(c->indptr);
    free(c->indices);
    free(c->data);
    memset(c, 0, sizeof *c);
}

static void coo_release(coo *m)
{
    free(m->r);
    free(m->c);
    free(m->v);
}

/* Planted preferences: n_users users in n_clusters clusters; a user likes
 * the items of its cluster. Item popularity inside the catalogue is skewed
 * towards cluster 0, so popularity alone serves cluster 0's users. Train: 8
 * positives per user; test: 3 more. */
typedef struct planted {
    trove_csr train, test;
} planted;

static planted make_planted(uint32_t n_users, uint32_t n_items, uint32_t n_clusters,
                            uint64_t seed)
{
    planted p;
    coo tr = {n_users, n_items, 0, 0, NULL, NULL, NULL};
    coo te = {n_users, n_items, 0, 0, NULL, NULL, NULL};
    trove_rng r;
    uint32_t per = n_items / n_clusters;
    assert_true(per >= 11 && n_items <= 1024);
    trove_rng_seed(&r, seed);
    for (uint32_t u = 0; u < n_users; u++) {
        /* clusters 0 holds half the users: it dominates popularity */
        uint32_t c = (u % 2 == 0) ? 0 : 1 + trove_rng_below(&r, n_clusters - 1);
        uint8_t used[1024] = {0};
        for (int k = 0; k < 11; k++) {
            uint32_t i;
            do
                i = c * per + trove_rng_below(&r, per);
            while (used[i]);
            used[i] = 1;
            coo_add(k < 8 ? &tr : &te, u, i, 1.0f);
        }
    }
    p.train = to_csr(&tr, 0);
    p.test = to_csr(&te, 0);
    coo_release(&tr);
    coo_release(&te);
    return p;
}

/* LightFM-style precision@k over users with test items, train excluded. */
static double precision_at_k(const float *(*score)(void *, uint32_t), void *ud,
                             const trove_csr *train, const trove_csr *test, uint32_t k)
{
    double sum = 0.0;
    uint32_t users = 0;
    for (uint32_t u = 0; u < test->n_rows; u++) {
        if (test->indptr[u] == test->indptr[u + 1])
            continue;
        const float *s = score(ud, u);
        uint32_t hits = 0;
        for (uint64_t e = test->indptr[u]; e < test->indptr[u + 1]; e++) {
            uint32_t t = test->indices[e], rank = 0;
            for (uint32_t j = 0; j < test->n_cols; j++) {
                if (j == t)
                    continue;
                int in_train = 0;
                for (uint64_t x = train->indptr[u]; x < train->indptr[u + 1]; x++)
                    in_train |= train->indices[x] == j;
                if (!in_train && s[j] >= s[t])
                    rank++;
            }
            hits += rank < k;
        }
        sum += (double)hits / k;
        users++;
    }
    return users ? sum / users : 0.0;
}

typedef struct model_scorer {
    const trove_model *m;
    float *buf;
} model_scorer;

static const float *score_model(void *ud, uint32_t u)
{
    model_scorer *s = ud;
    assert_int_equal(trove_model_score_user(s->m, u, s->buf, NULL), TROVE_OK);
    return s->buf;
}

static const float *score_pop(void *ud, uint32_t u)
{
    (void)u;
    return ud;
}

static trove_model *new_model(int loss, uint32_t dim, uint32_t n_uf, uint32_t n_if,
                              uint64_t seed)
{
    trove_model_params p = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    p.loss = loss;
    p.no_components = dim;
    p.seed = seed;
    assert_int_equal(trove_model_new(&p, n_uf, n_if, &m, &err), TROVE_OK);
    return m;
}

/* ---------------------------------------------------------------- params */
static void test_params(void **state)
{
    trove_model_params p = trove_model_default_params();
    trove_error err;
    trove_model *m = NULL;
    int v;
    (void)state;
    assert_int_equal(p.no_components, 10);
    assert_int_equal(p.loss, TROVE_LOSS_LOGISTIC);
    assert_int_equal(p.max_sampled, 10);
    assert_int_equal(trove_model_check_params(&p, &err), TROVE_OK);
    p.no_components = 0;
    assert_int_equal(trove_model_new(&p, 0, 0, &m, &err), TROVE_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.msg, "no_components"));
    p = trove_model_default_params();
    p.learning_rate = NAN;
    assert_int_equal(trove_model_check_params(&p, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "learning_rate"));
    p = trove_model_default_params();
    p.learning_schedule = TROVE_SCHEDULE_ADADELTA;
    p.epsilon = 0.0f;
    assert_int_equal(trove_model_check_params(&p, &err), TROVE_EINVAL);
    p = trove_model_default_params();
    p.num_threads = 0;
    assert_int_equal(trove_model_check_params(&p, &err), TROVE_EINVAL);
    assert_int_equal(trove_loss_parse("warp-kos", &v), TROVE_OK);
    assert_int_equal(v, TROVE_LOSS_WARP_KOS);
    assert_int_equal(trove_loss_parse("hinge", &v), TROVE_EINVAL);
    assert_string_equal(trove_loss_name(TROVE_LOSS_BPR), "bpr");
    assert_int_equal(trove_schedule_parse("adadelta", &v), TROVE_OK);
    assert_string_equal(trove_schedule_name(v), "adadelta");
    assert_int_equal(trove_schedule_parse("adagrad-rowwise", &v), TROVE_OK);
    assert_int_equal(v, TROVE_SCHEDULE_ADAGRAD_ROWWISE);
    assert_string_equal(trove_schedule_name(v), "adagrad-rowwise");
    assert_int_equal(trove_schedule_parse("rowwise", &v), TROVE_EINVAL);
    assert_string_equal(trove_schedule_name(TROVE_SCHEDULE_ADAGRAD_ROWWISE + 1), "unknown");
    p = trove_model_default_params();
    p.learning_schedule = TROVE_SCHEDULE_ADAGRAD_ROWWISE;
    assert_int_equal(trove_model_check_params(&p, &err), TROVE_OK);
    p.learning_schedule = TROVE_SCHEDULE_ADAGRAD_ROWWISE + 1;
    assert_int_equal(trove_model_check_params(&p, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "learning_schedule"));
    trove_model_free(NULL);
}

/* --------------------------------------------------------------- losses */
static void test_loss_values(void **state)
{
    (void)state;
    trove__loss_grad g = trove__model_loss_logistic(0.0f, 1, 1.0f);
    assert_float_equal(g.loss, logf(2.0f), 1e-6);
    assert_float_equal(g.g_pos, -0.5f, 1e-6);
    g = trove__model_loss_logistic(0.0f, 0, 2.0f);
    assert_float_equal(g.g_pos, 1.0f, 1e-6);
    /* large scores do not overflow */
    g = trove__model_loss_logistic(200.0f, 0, 1.0f);
    assert_true(isfinite(g.loss) && fabsf(g.loss - 200.0f) < 1e-3f);
    g = trove__model_loss_bpr(1.0f, 1.0f, 1.0f);
    assert_float_equal(g.loss, logf(2.0f), 1e-6);
    assert_float_equal(g.g_pos, -0.5f, 1e-6);
    assert_float_equal(g.g_neg, 0.5f, 1e-6);
    g = trove__model_loss_warp(0.5f, 0.2f, 2.0f);
    assert_float_equal(g.loss, 2.0f * 0.7f, 1e-6);
    /* rank weight: log(floor((N-1)/draws)), at least log 1, clipped at 10 */
    assert_float_equal(trove__model_warp_rank_weight(99, 1), logf(99.0f), 1e-6);
    assert_float_equal(trove__model_warp_rank_weight(99, 10), logf(9.0f), 1e-6);
    assert_float_equal(trove__model_warp_rank_weight(5, 10), 0.0f, 1e-9);
    assert_float_equal(trove__model_warp_rank_weight(UINT32_MAX, 1), 10.0f, 1e-6);
}

/* Loss of example (u, pos, neg) as a function of the model's parameters,
 * through the public scoring path. */
static float example_loss(trove_model *m, int loss, uint32_t u, uint32_t pos, uint32_t neg)
{
    uint32_t us[2] = {u, u}, is[2] = {pos, neg};
    float s[2];
    assert_int_equal(trove__model_refresh(m), TROVE_OK);
    assert_int_equal(trove_model_predict(m, us, is, 2, s, NULL), TROVE_OK);
    switch (loss) {
    case TROVE_LOSS_LOGISTIC:
        return trove__model_loss_logistic(s[0], 1, 1.0f).loss;
    case TROVE_LOSS_BPR:
        return trove__model_loss_bpr(s[0], s[1], 1.0f).loss;
    default:
        return trove__model_loss_warp(s[0], s[1], 1.7f).loss;
    }
}

static void check_fd(int loss, int schedule)
{
    /* 3 users x 4 items; users have 2 features, items 3; identity on. */
    coo x = {3, 4, 0, 0, NULL, NULL, NULL}, uf = {3, 2, 0, 0, NULL, NULL, NULL};
    coo itf = {4, 3, 0, 0, NULL, NULL, NULL};
    trove_csr X, UF, IF;
    trove_model *m = NULL;
    trove_model_params prm = trove_model_default_params();
    trove_error err;
    const float lr = 0.05f, h = 1e-2f;
    uint32_t u = 1, pos = 0, neg = 3;
    _Alignas(64) float scratch[4 * 16];

    prm.loss = loss;
    prm.no_components = 5;
    prm.seed = 11;
    prm.learning_schedule = schedule;
    assert_int_equal(trove_model_new(&prm, 2, 3, &m, &err), TROVE_OK);
    coo_add(&x, 0, 1, 1);
    coo_add(&x, 1, 0, 1);
    coo_add(&x, 2, 2, 1);
    coo_add(&uf, 1, 0, 0.5f);
    coo_add(&uf, 1, 1, 2.0f);
    coo_add(&itf, 0, 0, 1.5f); /* pos item: feature 0 */
    coo_add(&itf, 3, 2, 0.7f); /* neg item: feature 2 (disjoint) */
    X = to_csr(&x, 0);
    UF = to_csr(&uf, 1);
    IF = to_csr(&itf, 1);
    assert_int_equal(trove_model_fit(m, &X, &UF, &IF, 0, &err), TROVE_OK);

    /* The library's step for this example on a fresh model (accumulators 1,
     * per coordinate or per row): every parameter moves by -lr * gradient
     * exactly. */
    float *params[] = {m->uid.emb + u * m->dp, m->ufeat.emb, m->ufeat.emb + m->dp,
                       m->iid.emb + pos * m->dp, m->iid.emb + neg * m->dp, m->ifeat.emb,
                       m->ifeat.emb + 2 * m->dp, trove__meta(&m->iid, pos),
                       trove__meta(&m->iid, neg), trove__meta(&m->ifeat, 0),
                       trove__meta(&m->ifeat, 2), trove__meta(&m->uid, u),
                       trove__meta(&m->ufeat, 0), trove__meta(&m->ufeat, 1)};
    size_t lens[] = {5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 1, 1, 1, 1};
    size_t np = sizeof lens / sizeof lens[0];
    float before[14][5], after[14][5];
    for (size_t k = 0; k < np; k++)
        memcpy(before[k], params[k], lens[k] * sizeof(float));

    float s[2];
    uint32_t us[2] = {u, u}, is[2] = {pos, neg};
    assert_int_equal(trove_model_predict(m, us, is, 2, s, NULL), TROVE_OK);
    trove__loss_grad g = loss == TROVE_LOSS_LOGISTIC ? trove__model_loss_logistic(s[0], 1, 1.0f)
                         : loss == TROVE_LOSS_BPR  ? trove__model_loss_bpr(s[0], s[1], 1.0f)
                                                   : trove__model_loss_warp(s[0], s[1], 1.7f);
    trove__model_step(m, u, pos, neg, loss != TROVE_LOSS_LOGISTIC, g.g_pos, g.g_neg, scratch);
    for (size_t k = 0; k < np; k++) {
        memcpy(after[k], params[k], lens[k] * sizeof(float));
        memcpy(params[k], before[k], lens[k] * sizeof(float));
    }
    /* Finite differences of the loss around the original parameters. */
    for (size_t k = 0; k < np; k++)
        for (size_t j = 0; j < lens[k]; j++) {
            float orig = params[k][j];
            params[k][j] = orig + h;
            float lp = example_loss(m, loss, u, pos, neg);
            params[k][j] = orig - h;
            float lm = example_loss(m, loss, u, pos, neg);
            params[k][j] = orig;
            float fd = (lp - lm) / (2.0f * h);
            float applied = (before[k][j] - after[k][j]) / lr;
            if (fabsf(fd - applied) > 2e-3f + 1e-2f * fabsf(fd)) {
                print_error("loss %s, %s: param %zu[%zu]: finite difference %g, applied %g\n",
                            trove_loss_name(loss), trove_schedule_name(schedule), k, j,
                            (double)fd, (double)applied);
                fail();
            }
        }
    trove_model_free(m);
    csr_release(&X);
    csr_release(&UF);
    csr_release(&IF);
    coo_release(&x);
    coo_release(&uf);
    coo_release(&itf);
}

static void test_gradients_fd(void **state)
{
    (void)state;
    static const int schedules[2] = {TROVE_SCHEDULE_ADAGRAD, TROVE_SCHEDULE_ADAGRAD_ROWWISE};
    for (int s = 0; s < 2; s++) {
        check_fd(TROVE_LOSS_LOGISTIC, schedules[s]);
        check_fd(TROVE_LOSS_BPR, schedules[s]);
        check_fd(TROVE_LOSS_WARP, schedules[s]);
    }
}

/* Row-wise adagrad by hand on one user and one item (identity only, d = 3,
 * logistic loss, L2 on both sides): two steps of the same example, so that
 * the second uses the row accumulators the first left. Per row:
 *   g = g_x * other + alpha * w;  w -= lr / sqrt(A) * g;  A += sum g^2 / d
 * and per bias b -= lr * g_b / sqrt(B); B += g_b^2, g_b = g_x + alpha * b. */
static void test_rowwise_step_by_hand(void **state)
{
    coo x = {1, 2, 0, 0, NULL, NULL, NULL};
    trove_csr X;
    trove_model_params prm = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    _Alignas(64) float scratch[4 * 16];
    const double lr = 0.1, ua = 0.02, ia = 0.03;
    double q[3], p[3], bu, bi, aq = 1.0, ap = 1.0, bq = 1.0, bp = 1.0;
    (void)state;
    prm.loss = TROVE_LOSS_LOGISTIC;
    prm.no_components = 3;
    prm.learning_rate = (float)lr;
    prm.user_alpha = (float)ua;
    prm.item_alpha = (float)ia;
    prm.learning_schedule = TROVE_SCHEDULE_ADAGRAD_ROWWISE;
    prm.seed = 5;
    coo_add(&x, 0, 1, 1.0f);
    X = to_csr(&x, 0);
    assert_int_equal(trove_model_new(&prm, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &X, NULL, NULL, 0, &err), TROVE_OK);
    assert_null(m->uid.acc);
    assert_null(m->iid.acc);
    float *qe = m->uid.emb, *pe = m->iid.emb + m->dp, *mu = trove__meta(&m->uid, 0);
    float *mi = trove__meta(&m->iid, 1);
    assert_true(mu[TROVE__RACC] == 1.0f && mi[TROVE__RACC] == 1.0f);
    /* non-zero biases so that their L2 term shows */
    mu[TROVE__BIAS] = 0.2f;
    mi[TROVE__BIAS] = -0.1f;
    for (int j = 0; j < 3; j++) {
        q[j] = qe[j];
        p[j] = pe[j];
    }
    bu = mu[TROVE__BIAS];
    bi = mi[TROVE__BIAS];
    for (int step = 0; step < 2; step++) {
        float s;
        uint32_t u0 = 0, i1 = 1;
        assert_int_equal(trove__model_refresh(m), TROVE_OK);
        assert_int_equal(trove_model_predict(m, &u0, &i1, 1, &s, NULL), TROVE_OK);
        double x_ = bu + bi;
        for (int j = 0; j < 3; j++)
            x_ += q[j] * p[j];
        assert_float_equal(s, x_, 1e-6);
        double gx = 1.0 / (1.0 + exp(-x_)) - 1.0;
        trove__model_step(m, 0, 1, 0, 0, trove__model_loss_logistic(s, 1, 1.0f).g_pos, 0.0f,
                          scratch);
        double gq[3], gp[3], sq = 0.0, sp = 0.0;
        for (int j = 0; j < 3; j++) {
            gq[j] = gx * p[j] + ua * q[j];
            gp[j] = gx * q[j] + ia * p[j];
            sq += gq[j] * gq[j];
            sp += gp[j] * gp[j];
        }
        for (int j = 0; j < 3; j++) {
            q[j] -= lr / sqrt(aq) * gq[j];
            p[j] -= lr / sqrt(ap) * gp[j];
        }
        aq += sq / 3.0;
        ap += sp / 3.0;
        double gbu = gx + ua * bu, gbi = gx + ia * bi;
        bu -= lr * gbu / sqrt(bq);
        bi -= lr * gbi / sqrt(bp);
        bq += gbu * gbu;
        bp += gbi * gbi;
        for (int j = 0; j < 3; j++) {
            assert_float_equal(qe[j], q[j], 1e-6);
            assert_float_equal(pe[j], p[j], 1e-6);
        }
        for (int j = 3; j < (int)m->dp; j++)
            assert_true(qe[j] == 0.0f && pe[j] == 0.0f);
        assert_float_equal(mu[TROVE__RACC], aq, 1e-6);
        assert_float_equal(mi[TROVE__RACC], ap, 1e-6);
        assert_float_equal(mu[TROVE__BIAS], bu, 1e-6);
        assert_float_equal(mi[TROVE__BIAS], bi, 1e-6);
        assert_float_equal(mu[TROVE__BACC], bq, 1e-6);
        assert_float_equal(mi[TROVE__BACC], bp, 1e-6);
    }
    /* the accumulators grew, so the second step was smaller per unit
     * gradient than the first */
    assert_true(aq > 1.0 && ap > 1.0);
    trove_model_free(m);
    csr_release(&X);
    coo_release(&x);
}

/* -------------------------------------------------------------- quality */
static double fit_schedule(const planted *p, int loss, uint32_t threads, int schedule,
                           uint64_t seed)
{
    trove_model_params prm = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    prm.loss = loss;
    prm.no_components = 16;
    prm.num_threads = threads;
    prm.thread_schedule = schedule;
    prm.seed = seed;
    assert_int_equal(trove_model_new(&prm, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &p->train, NULL, NULL, 30, &err), TROVE_OK);
    model_scorer s = {m, malloc(p->train.n_cols * sizeof(float))};
    double prec = precision_at_k(score_model, &s, &p->train, &p->test, 5);
    free(s.buf);
    trove_model_free(m);
    return prec;
}

static double fit_and_precision(const planted *p, int loss, uint32_t threads, uint64_t seed)
{
    return fit_schedule(p, loss, threads, TROVE_THREADS_BLOCKS, seed);
}

static void test_quality_beats_popularity(void **state)
{
    planted p = make_planted(200, 100, 5, 1);
    float pop[100] = {0};
    (void)state;
    for (uint64_t e = 0; e < p.train.nnz; e++)
        pop[p.train.indices[e]] += 1.0f;
    double pp = precision_at_k(score_pop, pop, &p.train, &p.test, 5);
    double warp = fit_and_precision(&p, TROVE_LOSS_WARP, 1, 5);
    double bpr = fit_and_precision(&p, TROVE_LOSS_BPR, 1, 5);
    double kos = fit_and_precision(&p, TROVE_LOSS_WARP_KOS, 1, 5);
    double warp2 = fit_and_precision(&p, TROVE_LOSS_WARP, 2, 5);
    print_message("P@5 popularity %.3f warp %.3f bpr %.3f kos %.3f warp(2 threads) %.3f\n", pp,
                  warp, bpr, kos, warp2);
    assert_true(warp > pp + 0.05);
    assert_true(bpr > pp + 0.03);
    assert_true(kos > pp + 0.05);
    assert_true(warp2 > pp + 0.05);
    csr_release(&p.train);
    csr_release(&p.test);
}

/* Block cuts: with two threads the rounds (A_0 beside B_1, A_1 beside
 * B_0) come out even on skewed data, where equal item counts would not;
 * with more threads the blocks are non-empty, increasing and hold about
 * equal interaction counts; one block is everything. */
static void test_block_cuts(void **state)
{
    planted p = make_planted(200, 100, 5, 11);
    uint32_t lo[6];
    uint64_t range[6];
    (void)state;
    /* Two threads split at a user boundary near the middle. */
    range[0] = 0;
    range[1] = p.train.indptr[100];
    range[2] = p.train.nnz;
    assert_int_equal(trove__model_block_cuts(&p.train, range, 2, lo), TROVE_OK);
    assert_int_equal(lo[0], 0);
    assert_int_equal(lo[2], 100);
    assert_true(lo[1] > 0 && lo[1] < 100);
    uint64_t cell[2][2] = {{0, 0}, {0, 0}};
    for (uint32_t t = 0; t < 2; t++)
        for (uint64_t e = range[t]; e < range[t + 1]; e++)
            cell[t][p.train.indices[e] >= lo[1]]++;
    /* Item 0..19 is the cluster of half the users: equal item counts
     * would give thread 0 far more work on block 0 than thread 1 on
     * block 1. The cut moves by whole items (at most ~16 examples here). */
    print_message("cut %u: rounds %llu|%llu and %llu|%llu\n", lo[1],
                  (unsigned long long)cell[0][0], (unsigned long long)cell[1][1],
                  (unsigned long long)cell[0][1], (unsigned long long)cell[1][0]);
    assert_true(llabs((long long)cell[0][0] - (long long)cell[1][1]) <= 20);
    assert_true(llabs((long long)cell[0][1] - (long long)cell[1][0]) <= 20);
    assert_true(cell[0][0] > 0 && cell[1][1] > 0);

    /* Five blocks: increasing, non-empty, about nnz / 5 interactions. */
    for (uint32_t t = 0; t <= 5; t++)
        range[t] = p.train.nnz * t / 5;
    assert_int_equal(trove__model_block_cuts(&p.train, range, 5, lo), TROVE_OK);
    assert_int_equal(lo[0], 0);
    assert_int_equal(lo[5], 100);
    for (uint32_t b = 0; b < 5; b++) {
        uint64_t n = 0;
        assert_true(lo[b] < lo[b + 1]);
        for (uint64_t e = 0; e < p.train.nnz; e++)
            n += p.train.indices[e] >= lo[b] && p.train.indices[e] < lo[b + 1];
        assert_true(n >= p.train.nnz / 5 - 100 && n <= p.train.nnz / 5 + 100);
    }

    /* As many blocks as items: one item each. */
    {
        coo x = {3, 4, 0, 0, NULL, NULL, NULL};
        coo_add(&x, 0, 0, 1.0f);
        coo_add(&x, 1, 0, 1.0f);
        coo_add(&x, 2, 0, 1.0f);
        trove_csr X = to_csr(&x, 0);
        uint64_t r4[5] = {0, 1, 2, 3, 3};
        assert_int_equal(trove__model_block_cuts(&X, r4, 4, lo), TROVE_OK);
        for (uint32_t b = 0; b <= 4; b++)
            assert_int_equal(lo[b], b);
        csr_release(&X);
        coo_release(&x);
    }

    /* One block. */
    assert_int_equal(trove__model_block_cuts(&p.train, range, 1, lo), TROVE_OK);
    assert_int_equal(lo[0], 0);
    assert_int_equal(lo[1], 100);
    csr_release(&p.train);
    csr_release(&p.test);
}

/* Both thread schedules learn the planted preferences with every loss;
 * the item blocks of the default schedule line up with the planted
 * clusters (contiguous item ranges), the case where comparing items of
 * different blocks matters most. Three threads on 100 items, and more
 * threads than items, exercise uneven and degenerate blocks. */
/* The bitmaps of long rows' positives: rows of at least 64 items (and
 * n_cols / 128) get one, and every bit equals membership in the row. */
static void test_pos_index(void **state)
{
    /* lengths of rows 0..5 over 200 columns: below, at and above the
     * threshold, empty, full, and a long row stored in descending order */
    static const uint32_t lens[6] = {63, 64, 0, 200, 100, 1};
    trove_csr x;
    uint64_t *bits = NULL, *word = NULL;
    (void)state;
    memset(&x, 0, sizeof x);
    x.n_rows = 6;
    x.n_cols = 200;
    x.indptr = calloc(7, sizeof(uint64_t));
    x.indices = malloc(600 * sizeof(uint32_t));
    assert_non_null(x.indptr);
    assert_non_null(x.indices);
    for (uint32_t u = 0; u < 6; u++) {
        x.indptr[u + 1] = x.indptr[u] + lens[u];
        for (uint32_t j = 0; j < lens[u]; j++)
            x.indices[x.indptr[u] + j] =
                u == 4 ? 199 - 2 * j : (u == 3 ? j : (j * 7 + u) % 200);
    }
    x.nnz = x.indptr[6];
    assert_int_equal(trove__model_pos_index(&x, &bits, &word), TROVE_OK);
    assert_non_null(bits);
    assert_non_null(word);
    for (uint32_t u = 0; u < 6; u++) {
        int want_bitmap = lens[u] >= TROVE__POS_BITMAP_MIN;
        assert_int_equal(word[u] != UINT64_MAX, want_bitmap);
        if (!want_bitmap)
            continue;
        for (uint32_t i = 0; i < 200; i++) {
            int member = 0;
            for (uint64_t e = x.indptr[u]; e < x.indptr[u + 1]; e++)
                member |= x.indices[e] == i;
            if (trove__model_pos_bit(bits, word[u], i) != member)
                fail_msg("row %u column %u: bit %d, member %d", u, i,
                         trove__model_pos_bit(bits, word[u], i), member);
        }
    }
    trove_free(bits);
    trove_free(word);

    /* A wide catalog raises the threshold to n_cols / 128 + 1 (782 for
     * 100,000 columns): the 100-item row keeps its scan, and with no row
     * qualifying there are no bitmaps at all. */
    x.n_cols = 100000;
    assert_int_equal(trove__model_pos_index(&x, &bits, &word), TROVE_OK);
    assert_null(bits);
    assert_null(word);
    free(x.indptr);
    free(x.indices);
}

static void test_thread_schedules(void **state)
{
    planted p = make_planted(200, 100, 5, 11);
    float pop[100] = {0};
    (void)state;
    for (uint64_t e = 0; e < p.train.nnz; e++)
        pop[p.train.indices[e]] += 1.0f;
    double pp = precision_at_k(score_pop, pop, &p.train, &p.test, 5);
    static const int losses[3] = {TROVE_LOSS_WARP, TROVE_LOSS_BPR, TROVE_LOSS_LOGISTIC};
    static const double margin[3] = {0.05, 0.03, 0.0};
    for (int l = 0; l < 3; l++) {
        double one = fit_schedule(&p, losses[l], 1, TROVE_THREADS_BLOCKS, 3);
        double blocks2 = fit_schedule(&p, losses[l], 2, TROVE_THREADS_BLOCKS, 3);
        double blocks3 = fit_schedule(&p, losses[l], 3, TROVE_THREADS_BLOCKS, 3);
        double hog2 = fit_schedule(&p, losses[l], 2, TROVE_THREADS_HOGWILD, 3);
        print_message("%s P@5: popularity %.3f, 1 thread %.3f, blocks 2 %.3f, 3 %.3f, "
                      "hogwild 2 %.3f\n", trove_loss_name(losses[l]), pp, one, blocks2,
                      blocks3, hog2);
        if (margin[l] > 0.0) {
            assert_true(blocks2 > pp + margin[l]);
            assert_true(blocks3 > pp + margin[l]);
            assert_true(hog2 > pp + margin[l]);
        }
        /* Near one thread (P@5 over 200 users; threads make runs vary). */
        assert_true(blocks2 > one - 0.06);
        assert_true(blocks3 > one - 0.06);
    }

    /* Every example is trained exactly once per epoch on the grid of
     * two and three threads (and on one thread), for the deferring loss
     * (WARP) and one that writes in place. */
    for (uint32_t n = 1; n <= 3; n++)
        for (int l = 0; l < 3; l += 2) {
            trove_model_params gp = trove_model_default_params();
            trove_model *gm = NULL;
            trove_error gerr;
            gp.loss = losses[l];
            gp.no_components = 8;
            gp.num_threads = n;
            assert_int_equal(trove_model_new(&gp, 0, 0, &gm, &gerr), TROVE_OK);
            assert_int_equal(trove_model_fit(gm, &p.train, NULL, NULL, 3, &gerr), TROVE_OK);
            assert_int_equal(gm->examples_done, 3 * p.train.nnz);
            trove_model_free(gm);
        }

    /* Five threads, four items: one block (every thread runs Hogwild). */
    coo x = {10, 4, 0, 0, NULL, NULL, NULL};
    for (uint32_t u = 0; u < 10; u++)
        coo_add(&x, u, u % 4, 1.0f);
    trove_csr X = to_csr(&x, 0);
    trove_model_params prm = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    prm.loss = TROVE_LOSS_WARP;
    prm.no_components = 4;
    prm.num_threads = 5;
    assert_int_equal(trove_model_new(&prm, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &X, NULL, NULL, 3, &err), TROVE_OK);
    trove_model_free(m);

    /* An unknown schedule is refused before anything is trained. */
    prm.thread_schedule = 7;
    assert_int_equal(trove_model_new(&prm, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &X, NULL, NULL, 3, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "thread_schedule"));
    assert_int_equal(trove_model_n_users(m), 0);
    trove_model_free(m);
    csr_release(&X);
    coo_release(&x);
    csr_release(&p.train);
    csr_release(&p.test);
}

static void test_logistic_and_adadelta(void **state)
{
    planted p = make_planted(120, 60, 3, 2);
    trove_model_params prm = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    float pop[60] = {0};
    (void)state;
    for (uint64_t e = 0; e < p.train.nnz; e++)
        pop[p.train.indices[e]] += 1.0f;
    double pp = precision_at_k(score_pop, pop, &p.train, &p.test, 5);
    prm.loss = TROVE_LOSS_WARP;
    prm.learning_schedule = TROVE_SCHEDULE_ADADELTA;
    prm.no_components = 16;
    prm.item_alpha = 1e-6f;
    prm.user_alpha = 1e-6f;
    assert_int_equal(trove_model_new(&prm, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &p.train, NULL, NULL, 30, &err), TROVE_OK);
    model_scorer s = {m, malloc(60 * sizeof(float))};
    double prec = precision_at_k(score_model, &s, &p.train, &p.test, 5);
    print_message("adadelta warp P@5 %.3f (popularity %.3f)\n", prec, pp);
    assert_true(prec > pp + 0.05);
    trove_model_free(m);

    /* Logistic with explicit negatives: value <= 0 is a negative label. */
    coo x = {2, 3, 0, 0, NULL, NULL, NULL};
    coo_add(&x, 0, 0, 1.0f);
    coo_add(&x, 0, 1, -1.0f);
    coo_add(&x, 1, 1, 1.0f);
    coo_add(&x, 1, 0, 0.0f);
    trove_csr X = to_csr(&x, 1);
    m = new_model(TROVE_LOSS_LOGISTIC, 4, 0, 0, 1);
    assert_int_equal(trove_model_fit(m, &X, NULL, NULL, 200, &err), TROVE_OK);
    float sc[3];
    assert_int_equal(trove_model_score_user(m, 0, sc, &err), TROVE_OK);
    assert_true(sc[0] > 0.0f && sc[1] < 0.0f);
    assert_int_equal(trove_model_score_user(m, 1, sc, &err), TROVE_OK);
    assert_true(sc[1] > 0.0f && sc[0] < 0.0f);
    trove_model_free(m);
    csr_release(&X);
    coo_release(&x);
    free(s.buf);
    csr_release(&p.train);
    csr_release(&p.test);
}

/* -------------------------------------------------------- determinism */
static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb)
            eq = 0;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return eq;
}

static void test_deterministic(void **state)
{
    planted p = make_planted(100, 60, 5, 3);
    const char *f1 = testutil_tmp_path("det1.trove"), *f2 = testutil_tmp_path("det2.trove");
    const char *f3 = testutil_tmp_path("det3.trove");
    trove_error err;
    (void)state;
    for (int run = 0; run < 3; run++) {
        trove_model *m = new_model(TROVE_LOSS_WARP, 8, 0, 0, run == 2 ? 99 : 7);
        assert_int_equal(trove_model_fit(m, &p.train, NULL, NULL, 5, &err), TROVE_OK);
        assert_int_equal(trove_model_save(m, run == 0 ? f1 : run == 1 ? f2 : f3, &err),
                         TROVE_OK);
        trove_model_free(m);
    }
    assert_true(files_equal(f1, f2));
    assert_false(files_equal(f1, f3));
    csr_release(&p.train);
    csr_release(&p.test);
}

static void test_fit_partial_continues(void **state)
{
    planted p = make_planted(100, 60, 5, 4);
    trove_model *a = new_model(TROVE_LOSS_WARP, 8, 0, 0, 3);
    trove_model *b = new_model(TROVE_LOSS_WARP, 8, 0, 0, 3);
    trove_error err;
    float sa[60], sb[60];
    (void)state;
    assert_int_equal(trove_model_fit(a, &p.train, NULL, NULL, 5, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(b, &p.train, NULL, NULL, 2, &err), TROVE_OK);
    assert_int_equal(trove_model_fit_partial(b, &p.train, NULL, NULL, 3, &err), TROVE_OK);
    assert_int_equal(trove_model_epochs_trained(b), 5);
    for (uint32_t u = 0; u < 100; u++) {
        assert_int_equal(trove_model_score_user(a, u, sa, NULL), TROVE_OK);
        assert_int_equal(trove_model_score_user(b, u, sb, NULL), TROVE_OK);
        assert_memory_equal(sa, sb, sizeof sa);
    }
    /* And after a save/load round trip the continuation is the same too. */
    const char *f = testutil_tmp_path("partial.trove");
    trove_model *c = new_model(TROVE_LOSS_WARP, 8, 0, 0, 3), *d = NULL;
    assert_int_equal(trove_model_fit(c, &p.train, NULL, NULL, 2, &err), TROVE_OK);
    assert_int_equal(trove_model_save(c, f, &err), TROVE_OK);
    assert_int_equal(trove_model_load(f, &d, &err), TROVE_OK);
    assert_int_equal(trove_model_fit_partial(d, &p.train, NULL, NULL, 3, &err), TROVE_OK);
    for (uint32_t u = 0; u < 100; u++) {
        assert_int_equal(trove_model_score_user(a, u, sa, NULL), TROVE_OK);
        assert_int_equal(trove_model_score_user(d, u, sb, NULL), TROVE_OK);
        assert_memory_equal(sa, sb, sizeof sa);
    }
    /* shape mismatch is refused */
    trove_csr small = p.train;
    small.n_cols = 50;
    assert_int_equal(trove_model_fit_partial(d, &small, NULL, NULL, 1, &err), TROVE_EINVAL);
    trove_model_free(a);
    trove_model_free(b);
    trove_model_free(c);
    trove_model_free(d);
    csr_release(&p.train);
    csr_release(&p.test);
}

/* Row-wise adagrad end to end: it learns (WARP beats popularity, one and
 * two threads), one thread and a fixed seed give the same file run to
 * run, and training continues exactly across fit_partial and across a
 * save / load round trip, with feature rows as well as identity rows. */
static trove_model *new_rowwise(uint32_t n_if, uint32_t threads, uint64_t seed)
{
    trove_model_params prm = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    prm.loss = TROVE_LOSS_WARP;
    prm.learning_schedule = TROVE_SCHEDULE_ADAGRAD_ROWWISE;
    prm.no_components = 16;
    prm.num_threads = threads;
    prm.item_alpha = 1e-6f;
    prm.seed = seed;
    assert_int_equal(trove_model_new(&prm, 0, n_if, &m, &err), TROVE_OK);
    return m;
}

static void assert_same_scores(const trove_model *a, const trove_model *b, uint32_t n_users)
{
    float sa[60], sb[60];
    for (uint32_t u = 0; u < n_users; u++) {
        assert_int_equal(trove_model_score_user(a, u, sa, NULL), TROVE_OK);
        assert_int_equal(trove_model_score_user(b, u, sb, NULL), TROVE_OK);
        assert_memory_equal(sa, sb, sizeof sa);
    }
}

static void test_rowwise_fit(void **state)
{
    planted p = make_planted(120, 60, 3, 2);
    coo itf = {60, 3, 0, 0, NULL, NULL, NULL};
    trove_csr IF;
    trove_error err;
    float pop[60] = {0};
    const char *f1 = testutil_tmp_path("rw1.trove"), *f2 = testutil_tmp_path("rw2.trove");
    const char *f3 = testutil_tmp_path("rw3.trove");
    (void)state;
    for (uint64_t e = 0; e < p.train.nnz; e++)
        pop[p.train.indices[e]] += 1.0f;
    double pp = precision_at_k(score_pop, pop, &p.train, &p.test, 5);
    for (uint32_t threads = 1; threads <= 2; threads++) {
        trove_model *m = new_rowwise(0, threads, 1);
        assert_int_equal(trove_model_fit(m, &p.train, NULL, NULL, 30, &err), TROVE_OK);
        model_scorer s = {m, malloc(60 * sizeof(float))};
        double prec = precision_at_k(score_model, &s, &p.train, &p.test, 5);
        print_message("row-wise adagrad warp, %u thread(s): P@5 %.3f (popularity %.3f)\n",
                      threads, prec, pp);
        assert_true(prec > pp + 0.05);
        free(s.buf);
        trove_model_free(m);
    }

    /* run to run */
    for (int run = 0; run < 3; run++) {
        trove_model *m = new_rowwise(0, 1, run == 2 ? 8 : 7);
        assert_int_equal(trove_model_fit(m, &p.train, NULL, NULL, 5, &err), TROVE_OK);
        assert_int_equal(trove_model_save(m, run == 0 ? f1 : run == 1 ? f2 : f3, &err),
                         TROVE_OK);
        trove_model_free(m);
    }
    assert_true(files_equal(f1, f2));
    assert_false(files_equal(f1, f3));

    /* continuity, with an item feature per item (its cluster-ish bucket) */
    for (uint32_t i = 0; i < 60; i++)
        coo_add(&itf, i, i % 3, 0.5f);
    IF = to_csr(&itf, 1);
    {
        trove_model *a = new_rowwise(3, 1, 3), *b = new_rowwise(3, 1, 3);
        trove_model *c = new_rowwise(3, 1, 3), *d = NULL;
        trove_model_info info;
        assert_int_equal(trove_model_fit(a, &p.train, NULL, &IF, 5, &err), TROVE_OK);
        assert_int_equal(trove_model_fit(b, &p.train, NULL, &IF, 2, &err), TROVE_OK);
        assert_int_equal(trove_model_fit_partial(b, &p.train, NULL, NULL, 3, &err), TROVE_OK);
        assert_same_scores(a, b, 120);
        assert_int_equal(trove_model_fit(c, &p.train, NULL, &IF, 2, &err), TROVE_OK);
        assert_int_equal(trove_model_save(c, f1, &err), TROVE_OK);
        assert_int_equal(trove_model_inspect(f1, &info, &err), TROVE_OK);
        assert_int_equal(info.params.learning_schedule, TROVE_SCHEDULE_ADAGRAD_ROWWISE);
        assert_int_equal(trove_model_load(f1, &d, &err), TROVE_OK);
        assert_int_equal(trove_model_params_of(d)->learning_schedule,
                         TROVE_SCHEDULE_ADAGRAD_ROWWISE);
        assert_null(d->iid.acc);
        assert_true(trove__meta(&d->ifeat, 1)[TROVE__RACC] ==
                    trove__meta(&c->ifeat, 1)[TROVE__RACC]);
        assert_true(trove__meta(&d->ifeat, 1)[TROVE__RACC] > 1.0f);
        assert_int_equal(trove_model_fit_partial(d, &p.train, NULL, NULL, 3, &err), TROVE_OK);
        assert_same_scores(a, d, 120);
        /* the continuation after a load saves the same file as the one
         * without the round trip */
        assert_int_equal(trove_model_save(b, f2, &err), TROVE_OK);
        assert_int_equal(trove_model_save(d, f3, &err), TROVE_OK);
        assert_true(files_equal(f2, f3));
        trove_model_free(a);
        trove_model_free(b);
        trove_model_free(c);
        trove_model_free(d);
    }
    csr_release(&IF);
    coo_release(&itf);
    csr_release(&p.train);
    csr_release(&p.test);
}

/* ------------------------------------------------ grow and cold start */
static void test_grow_and_cold_start(void **state)
{
    /* 4 users, 5 items (item 4 without interactions), 2 item features. */
    coo x = {4, 5, 0, 0, NULL, NULL, NULL}, itf = {5, 2, 0, 0, NULL, NULL, NULL};
    trove_csr X, IF;
    trove_model_params prm = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    float before[4][5], sc[7];
    (void)state;
    for (uint32_t u = 0; u < 4; u++) {
        coo_add(&x, u, u % 2, 1);
        coo_add(&x, u, 2 + u % 2, 1);
    }
    for (uint32_t i = 0; i < 5; i++)
        coo_add(&itf, i, i % 2, 1.0f);
    X = to_csr(&x, 0);
    IF = to_csr(&itf, 0);
    prm.loss = TROVE_LOSS_WARP;
    prm.no_components = 6;
    prm.item_cold_fallback = TROVE_COLD_MEAN;
    assert_int_equal(trove_model_new(&prm, 0, 2, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &X, NULL, &IF, 10, &err), TROVE_OK);
    assert_int_equal(trove_model_item_count(m, 4), 0);
    assert_int_equal(trove_model_item_count(m, 0), 2);

    /* The cold item took the mean identity embedding and bias of the warm
     * items. */
    for (uint32_t j = 0; j < m->dim; j++) {
        float mean = 0.0f;
        for (uint32_t i = 0; i < 4; i++)
            mean += m->iid.emb[i * m->dp + j];
        assert_float_equal(m->iid.emb[4 * m->dp + j], mean / 4.0f, 1e-5);
    }
    for (uint32_t u = 0; u < 4; u++)
        assert_int_equal(trove_model_score_user(m, u, before[u], &err), TROVE_OK);

    /* Grow: one user, two items; item 5 has feature 1, item 6 a new
     * feature 2. */
    coo itf2 = {7, 3, 0, 0, NULL, NULL, NULL};
    for (uint32_t i = 0; i < 5; i++)
        coo_add(&itf2, i, i % 2, 1.0f);
    coo_add(&itf2, 5, 1, 1.0f);
    coo_add(&itf2, 6, 2, 1.0f);
    trove_csr IF2 = to_csr(&itf2, 0);
    assert_int_equal(trove_model_grow(m, 5, 7, 0, 2, NULL, &IF2, &err), TROVE_EINVAL);
    assert_int_equal(trove_model_grow(m, 5, 7, 0, 3, NULL, &IF2, &err), TROVE_OK);
    assert_int_equal(trove_model_n_users(m), 5);
    assert_int_equal(trove_model_n_items(m), 7);
    for (uint32_t u = 0; u < 4; u++) {
        assert_int_equal(trove_model_score_user(m, u, sc, &err), TROVE_OK);
        assert_memory_equal(sc, before[u], sizeof before[u]); /* old scores kept */
        /* New item 5 = mean identity + feature 1: scored like a warm item
         * with feature 1 would be, from its features at once. */
        float e5[6], b5, ef[6];
        assert_int_equal(trove_model_item_repr(m, 5, e5, &b5, &err), TROVE_OK);
        for (uint32_t j = 0; j < 6; j++) {
            float mean = 0.0f;
            for (uint32_t i = 0; i < 4; i++)
                mean += m->iid.emb[i * m->dp + j];
            ef[j] = mean / 4.0f + m->ifeat.emb[1 * m->dp + j];
            assert_float_equal(e5[j], ef[j], 1e-5);
        }
        assert_true(isfinite(sc[5]) && isfinite(sc[6]));
    }
    /* The new user (identity only, random start) can be scored too. */
    assert_int_equal(trove_model_score_user(m, 4, sc, &err), TROVE_OK);
    /* Training continues on the grown shape. */
    coo x2 = {5, 7, 0, 0, NULL, NULL, NULL};
    for (size_t k = 0; k < x.n; k++)
        coo_add(&x2, x.r[k], x.c[k], 1);
    coo_add(&x2, 4, 5, 1);
    trove_csr X2 = to_csr(&x2, 0);
    assert_int_equal(trove_model_fit_partial(m, &X2, NULL, NULL, 2, &err), TROVE_OK);
    assert_int_equal(trove_model_grow(m, 4, 7, 0, 3, NULL, NULL, &err), TROVE_EINVAL);
    trove_model_free(m);
    csr_release(&X);
    csr_release(&X2);
    csr_release(&IF);
    csr_release(&IF2);
    coo_release(&x);
    coo_release(&x2);
    coo_release(&itf);
    coo_release(&itf2);
}

static void test_score_features(void **state)
{
    /* Users described by features only (identity off): a brand-new user
     * with the same features scores exactly like a trained one. */
    planted p = make_planted(60, 36, 3, 5);
    coo uf = {60, 4, 0, 0, NULL, NULL, NULL};
    trove_model_params prm = trove_model_default_params();
    trove_model *m = NULL;
    trove_error err;
    float a[36], b[36];
    (void)state;
    for (uint32_t u = 0; u < 60; u++) {
        coo_add(&uf, u, u % 4, 1.0f);
        coo_add(&uf, u, (u + 1) % 4, 0.5f);
    }
    trove_csr UF = to_csr(&uf, 1);
    prm.loss = TROVE_LOSS_BPR;
    prm.no_components = 8;
    prm.user_identity = 0;
    assert_int_equal(trove_model_new(&prm, 4, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &p.train, &UF, NULL, 3, &err), TROVE_OK);
    uint32_t f[2] = {1, 2};
    float w[2] = {1.0f, 0.5f};
    assert_int_equal(trove_model_score_user(m, 1, a, &err), TROVE_OK);
    assert_int_equal(trove_model_score_features(m, f, w, 2, b, &err), TROVE_OK);
    for (int i = 0; i < 36; i++)
        assert_float_equal(a[i], b[i], 1e-5);
    f[0] = 9;
    assert_int_equal(trove_model_score_features(m, f, w, 2, b, &err), TROVE_EINVAL);
    trove_model_free(m);
    /* identity off and no features: nothing to learn from */
    prm.user_identity = 0;
    assert_int_equal(trove_model_new(&prm, 0, 0, &m, &err), TROVE_OK);
    assert_int_equal(trove_model_fit(m, &p.train, NULL, NULL, 1, &err), TROVE_EINVAL);
    trove_model_free(m);
    csr_release(&UF);
    coo_release(&uf);
    csr_release(&p.train);
    csr_release(&p.test);
}

/* ------------------------------------------------------------ recommend */
static void test_recommend(void **state)
{
    planted p = make_planted(50, 48, 4, 6);
    trove_model *m = new_model(TROVE_LOSS_WARP, 8, 0, 0, 1);
    trove_error err;
    float s[48], sc[48];
    uint32_t items[48], n;
    uint8_t eligible[48];
    (void)state;
    assert_int_equal(trove_model_fit(m, &p.train, NULL, NULL, 5, &err), TROVE_OK);
    assert_int_equal(trove_model_score_user(m, 3, s, &err), TROVE_OK);
    const uint32_t *ex = p.train.indices + p.train.indptr[3];
    size_t n_ex = p.train.indptr[4] - p.train.indptr[3];
    assert_int_equal(trove_model_recommend(m, 3, 10, ex, n_ex, NULL, items, sc, &n, NULL, &err),
                     TROVE_OK);
    assert_int_equal(n, 10);
    for (uint32_t k = 0; k < n; k++) {
        for (size_t x = 0; x < n_ex; x++)
            assert_int_not_equal(items[k], ex[x]);
        assert_true(sc[k] == s[items[k]]);
        if (k > 0)
            assert_true(sc[k - 1] >= sc[k]);
    }
    /* Every item better than the last one returned is in the list. */
    for (uint32_t i = 0; i < 48; i++) {
        int excluded = 0, listed = 0;
        for (size_t x = 0; x < n_ex; x++)
            excluded |= ex[x] == i;
        for (uint32_t k = 0; k < n; k++)
            listed |= items[k] == i;
        if (!excluded && s[i] > sc[n - 1])
            assert_true(listed);
    }
    /* Eligibility mask and k larger than what is left. */
    memset(eligible, 0, sizeof eligible);
    eligible[7] = eligible[9] = eligible[30] = 1;
    float scratch[48];
    assert_int_equal(trove_model_recommend(m, 3, 10, NULL, 0, eligible, items, sc, &n, scratch,
                                           &err), TROVE_OK);
    assert_int_equal(n, 3);
    for (uint32_t k = 0; k < n; k++)
        assert_true(items[k] == 7 || items[k] == 9 || items[k] == 30);
    assert_int_equal(trove_model_recommend(m, 50, 10, NULL, 0, NULL, items, sc, &n, NULL, &err),
                     TROVE_EINVAL);
    /* predict agrees with score_user */
    uint32_t us[2] = {3, 3}, is[2] = {0, 47};
    float pr[2];
    assert_int_equal(trove_model_predict(m, us, is, 2, pr, &err), TROVE_OK);
    assert_float_equal(pr[0], s[0], 1e-5);
    assert_float_equal(pr[1], s[47], 1e-5);
    is[1] = 48;
    assert_int_equal(trove_model_predict(m, us, is, 2, pr, &err), TROVE_EINVAL);
    trove_model_free(m);
    csr_release(&p.train);
    csr_release(&p.test);
}

/* ----------------------------------------------------------- bad input */
static void test_bad_input(void **state)
{
    trove_model *m = new_model(TROVE_LOSS_WARP, 4, 0, 0, 1);
    trove_error err;
    uint64_t indptr[3] = {0, 2, 2};
    uint32_t idx[2] = {3, 1};
    float data[2] = {1.0f, NAN};
    trove_csr x = {2, 5, 2, indptr, idx, NULL};
    float s[5];
    (void)state;
    assert_int_equal(trove_model_score_user(m, 0, s, &err), TROVE_EINVAL); /* untrained */
    assert_int_equal(trove_model_fit(m, &x, NULL, NULL, 1, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "ascending"));
    idx[0] = 1;
    idx[1] = 3;
    x.data = data;
    assert_int_equal(trove_model_fit(m, &x, NULL, NULL, 1, &err), TROVE_EINVAL);
    assert_non_null(strstr(err.msg, "finite"));
    x.data = NULL;
    idx[1] = 7;
    assert_int_equal(trove_model_fit(m, &x, NULL, NULL, 1, &err), TROVE_EINVAL);
    uint64_t empty[3] = {0, 0, 0};
    trove_csr e = {2, 5, 0, empty, NULL, NULL};
    assert_int_equal(trove_model_fit(m, &e, NULL, NULL, 1, &err), TROVE_EEMPTY);
    assert_int_equal(trove_model_save(m, testutil_tmp_path("untrained.trove"), &err),
                     TROVE_EINVAL);
    /* features expected but not given */
    trove_model *f = new_model(TROVE_LOSS_WARP, 4, 0, 3, 1);
    idx[1] = 3;
    assert_int_equal(trove_model_fit(f, &x, NULL, NULL, 1, &err), TROVE_EINVAL);
    trove_model_free(f);
    trove_model_free(m);
}

static void test_divergence(void **state)
{
    /* Item feature weights of 1e18 overflow the scores: training must stop
     * and name a parameter instead of producing NaN scores. */
    planted p = make_planted(40, 24, 2, 7);
    coo itf = {24, 2, 0, 0, NULL, NULL, NULL};
    trove_model *m = new_model(TROVE_LOSS_WARP, 8, 0, 2, 1);
    trove_error err;
    (void)state;
    for (uint32_t i = 0; i < 24; i++)
        coo_add(&itf, i, i % 2, 1e18f);
    trove_csr IF = to_csr(&itf, 1);
    int rc = trove_model_fit(m, &p.train, NULL, &IF, 20, &err);
    assert_int_equal(rc, TROVE_EDIVERGED);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "diverged"));
    assert_non_null(strstr(err.msg, "item representation"));
    assert_non_null(strstr(err.msg, "learning_rate"));
    trove_model_free(m);

    /* A parameter that became infinite (as an exploding learning rate
     * leaves it) is detected on the next pass and named. */
    m = new_model(TROVE_LOSS_WARP, 8, 0, 0, 1);
    assert_int_equal(trove_model_fit(m, &p.train, NULL, NULL, 1, &err), TROVE_OK);
    m->iid.emb[3 * m->dp + 1] = INFINITY;
    rc = trove_model_fit_partial(m, &p.train, NULL, NULL, 1, &err);
    print_message("%s\n", err.msg);
    assert_int_equal(rc, TROVE_EDIVERGED);
    assert_non_null(strstr(err.msg, "item embedding of item 3"));
    trove_model_free(m);
    csr_release(&IF);
    coo_release(&itf);
    csr_release(&p.train);
    csr_release(&p.test);
}

static void test_fit_alloc_failures(void **state)
{
    planted p = make_planted(30, 24, 2, 8);
    coo itf = {24, 2, 0, 0, NULL, NULL, NULL};
    trove_error err;
    int ok = 0;
    (void)state;
    for (uint32_t i = 0; i < 24; i++)
        coo_add(&itf, i, i % 2, 1.0f);
    trove_csr IF = to_csr(&itf, 0);
    for (long k = 0; k < 200 && !ok; k++) {
        trove_model *m = new_model(TROVE_LOSS_WARP, 8, 0, 2, 1);
        testutil_fail_alloc_after(k);
        int rc = trove_model_fit(m, &p.train, NULL, &IF, 2, &err);
        if (rc == TROVE_OK)
            rc = trove_model_grow(m, 31, 26, 0, 2, NULL, NULL, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_OK)
            ok = 1;
        else
            assert_int_equal(rc, TROVE_ENOMEM);
        trove_model_free(m);
    }
    assert_true(ok);
    /* Two threads: the grid with its rings of deferred steps
     * (identity-only items), then item blocks in rounds (item features). */
    for (int with_features = 0; with_features < 2; with_features++) {
        ok = 0;
        for (long k = 0; k < 200 && !ok; k++) {
            trove_model_params prm = trove_model_default_params();
            trove_model *m = NULL;
            prm.loss = TROVE_LOSS_WARP;
            prm.no_components = 8;
            prm.num_threads = 2;
            assert_int_equal(trove_model_new(&prm, 0, with_features ? 2 : 0, &m, &err),
                             TROVE_OK);
            testutil_fail_alloc_after(k);
            int rc = trove_model_fit(m, &p.train, NULL, with_features ? &IF : NULL, 2, &err);
            testutil_fail_alloc_after(-1);
            if (rc == TROVE_OK)
                ok = 1;
            else
                assert_int_equal(rc, TROVE_ENOMEM);
            trove_model_free(m);
        }
        assert_true(ok);
    }
    csr_release(&IF);
    coo_release(&itf);
    csr_release(&p.train);
    csr_release(&p.test);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_loss_values),
        cmocka_unit_test(test_gradients_fd),
        cmocka_unit_test(test_rowwise_step_by_hand),
        cmocka_unit_test(test_quality_beats_popularity),
        cmocka_unit_test(test_block_cuts),
        cmocka_unit_test(test_pos_index),
        cmocka_unit_test(test_thread_schedules),
        cmocka_unit_test(test_logistic_and_adadelta),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_fit_partial_continues),
        cmocka_unit_test(test_rowwise_fit),
        cmocka_unit_test(test_grow_and_cold_start),
        cmocka_unit_test(test_score_features),
        cmocka_unit_test(test_recommend),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_divergence),
        cmocka_unit_test(test_fit_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
