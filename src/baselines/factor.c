/*
 * factor.c - the implicit-feedback factor models behind the recommender
 * interface: "ials" (implicit alternating least squares, trove/ials.h) and
 * "ease" (closed-form item-item model, trove/ease.h). Their own model files
 * are embedded in the recommender file (hybrid.c).
 *
 * Settings: ials: factors (64), regularization (50), alpha (5),
 * iterations (15), seed (42), reg_exponent (0: plain L2; nu > 0: the
 * frequency-scaled regularisation lambda (alpha sum r + n)^nu); ease: lambda (500). Threads come from the
 * recommender parameters.
 */
#include "reco_int.h"
#include "trove/ials.h"
#include "trove/ease.h"


/* The ials family's defaults: the setting `trove tune` chose on a
 * validation split of ml100k u20's training data (docs/tuning.md), which is
 * also the tuned setting of implicit's ALS on these splits (reg 50, alpha
 * 5). The library's own trove_ials_default_params() keep the textbook
 * values. */
#define TROVE__RECO_IALS_REG   50.0
#define TROVE__RECO_IALS_ALPHA 5.0

static const char *const ials_keys[] = {
    "factors", "regularization", "alpha", "iterations", "seed", "reg_exponent", NULL
};

static int ials_fit(trove_recommender *r, const trove_reco_params *p,
                    const trove_dataset *ds, trove_error *err)
{
    trove_ials_params ip = trove_ials_default_params();
    trove_ials *m = NULL;
    double f, reg, alpha, it, seed, nu;
    int rc;
    if ((rc = trove__reco_get_double(p, "factors", 1, 1024, ip.factors, &f, err)) ||
        (rc = trove__reco_get_double(p, "regularization", 1e-12, 1e12,
                                     TROVE__RECO_IALS_REG, &reg, err)) ||
        (rc = trove__reco_get_double(p, "alpha", 0, 1e12, TROVE__RECO_IALS_ALPHA, &alpha,
                                     err)) ||
        (rc = trove__reco_get_double(p, "iterations", 1, 1e6, ip.iterations, &it, err)) ||
        (rc = trove__reco_get_double(p, "seed", 0, 9007199254740992.0, (double)ip.seed,
                                     &seed, err)) ||
        (rc = trove__reco_get_double(p, "reg_exponent", 0, 2, 0, &nu, err)))
        return rc;
    ip.factors = (uint32_t)f;
    ip.regularization = (float)reg;
    ip.alpha = (float)alpha;
    ip.iterations = (uint32_t)it;
    ip.seed = (uint64_t)seed;
    /* reg_exponent > 0: frequency-scaled regularisation (trove/ials.h) */
    if (nu > 0.0) {
        ip.reg_scaling = TROVE_IALS_REG_FREQUENCY;
        ip.reg_exponent = (float)nu;
    }
    ip.threads = p != NULL && p->threads > 0 ? (uint32_t)p->threads : 1;
    rc = trove_ials_fit(trove_dataset_interactions(ds), &ip, &m, err);
    if (rc == TROVE_OK)
        r->model = m;
    return rc;
}

static int ials_score(const trove_recommender *r, uint32_t user, float *s,
                      trove_error *err)
{
    return trove_ials_score_user(r->model, user, s, err);
}

static int ials_save(const void *m, const char *path, trove_error *err)
{
    return trove_ials_save(m, path, err);
}

static int ials_load(const char *path, void **m, trove_error *err)
{
    trove_ials *x = NULL;
    int rc = trove_ials_load(path, &x, err);
    if (rc == TROVE_OK)
        *m = x;
    return rc;
}

static int ials_save_buffer(const void *m, unsigned char **bytes, size_t *len,
                            trove_error *err)
{
    return trove_ials_save_buffer(m, bytes, len, err);
}

static int ials_load_buffer(const unsigned char *bytes, size_t len, void **m,
                            trove_error *err)
{
    trove_ials *x = NULL;
    int rc = trove_ials_load_buffer(bytes, len, "embedded iALS model", &x, err);
    if (rc == TROVE_OK)
        *m = x;
    return rc;
}

static void ials_free(void *m)
{
    trove_ials_free(m);
}

static void ials_dims(const void *m, uint32_t *n_users, uint32_t *n_items)
{
    *n_users = trove_ials_n_users(m);
    *n_items = trove_ials_n_items(m);
}

const trove__reco_family trove__family_ials = {
    "ials", ials_keys, TROVE__NEED_MODEL, ials_fit, ials_score, ials_save,
    ials_load, ials_free, ials_dims, ials_save_buffer, ials_load_buffer
};

static const char *const ease_keys[] = {"lambda", NULL};

static int ease_fit(trove_recommender *r, const trove_reco_params *p,
                    const trove_dataset *ds, trove_error *err)
{
    trove_ease_params ep = trove_ease_default_params();
    trove_ease *m = NULL;
    double lambda;
    int rc = trove__reco_get_double(p, "lambda", 0, 1e12, ep.lambda, &lambda, err);
    if (rc != TROVE_OK)
        return rc;
    ep.lambda = (float)lambda;
    ep.threads = p != NULL && p->threads > 0 ? (uint32_t)p->threads : 1;
    rc = trove_ease_fit(trove_dataset_interactions(ds), &ep, &m, err);
    if (rc == TROVE_OK)
        r->model = m;
    return rc;
}

static int ease_score(const trove_recommender *r, uint32_t user, float *s,
                      trove_error *err)
{
    return trove_ease_score_user(r->model, user, s, err);
}

static int ease_save(const void *m, const char *path, trove_error *err)
{
    return trove_ease_save(m, path, err);
}

static int ease_load(const char *path, void **m, trove_error *err)
{
    trove_ease *x = NULL;
    int rc = trove_ease_load(path, 0, &x, err);
    if (rc == TROVE_OK)
        *m = x;
    return rc;
}

static int ease_save_buffer(const void *m, unsigned char **bytes, size_t *len,
                            trove_error *err)
{
    return trove_ease_save_buffer(m, bytes, len, err);
}

static int ease_load_buffer(const unsigned char *bytes, size_t len, void **m,
                            trove_error *err)
{
    trove_ease *x = NULL;
    int rc = trove_ease_load_buffer(bytes, len, "embedded EASE model", 0, &x, err);
    if (rc == TROVE_OK)
        *m = x;
    return rc;
}

static void ease_free(void *m)
{
    trove_ease_free(m);
}

static void ease_dims(const void *m, uint32_t *n_users, uint32_t *n_items)
{
    *n_users = trove_ease_n_users(m);
    *n_items = trove_ease_n_items(m);
}

const trove__reco_family trove__family_ease = {
    "ease", ease_keys, TROVE__NEED_MODEL, ease_fit, ease_score, ease_save,
    ease_load, ease_free, ease_dims, ease_save_buffer, ease_load_buffer
};
