/*
 * factor.c - the implicit-feedback factor models behind the recommender
 * interface: "ials" (implicit alternating least squares, trove/ials.h) and
 * "ease" (closed-form item-item model, trove/ease.h). Their own model files
 * are embedded in the recommender file (hybrid.c). An iALS model can also
 * leave the recommender as itself (take_ials) or as an identity-only
 * hybrid model with the same scores (take_model), which is how trove serve
 * serves it.
 *
 * Settings: ials: factors (64), regularization (50), alpha (5),
 * iterations (15), seed (42), reg_exponent (0: plain L2; nu > 0: the
 * frequency-scaled regularisation lambda (alpha sum r + n)^nu); ease: lambda (500). Threads come from the
 * recommender parameters.
 */
#include "reco_int.h"
#include "trove/ials.h"
#include "trove/ease.h"

#include <string.h>


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

int trove_recommender_take_ials(trove_recommender *r, trove_ials **out,
                                trove_error *err)
{
    if (r == NULL || out == NULL || r->fam != &trove__family_ials || r->model == NULL)
        return trove_error_set(err, TROVE_EINVAL, "%s: not an iALS model (or already taken)",
                               r != NULL && r->fam != NULL ? r->fam->name : "recommender");
    *out = r->model;
    r->model = NULL;
    return TROVE_OK;
}

int trove_recommender_family_has_model(const char *family)
{
    static const char *const with_model[] = {"warp", "bpr", "logistic", "warp-kos", "ials",
                                             NULL};
    for (size_t k = 0; family != NULL && with_model[k] != NULL; k++)
        if (strcmp(family, with_model[k]) == 0)
            return 1;
    return 0;
}

/* iALS as an identity-only hybrid: the factor tables are read in place
 * (stride = the iALS row stride), the item counts are the training
 * interactions with a positive weight, as a hybrid fit counts them. */
static int ials_to_model(trove_recommender *r, trove_model **out, trove_error *err)
{
    const trove_ials *im = r->model;
    trove_model_factors f;
    trove_model *m = NULL;
    uint32_t *count = NULL;
    int rc;

    memset(&f, 0, sizeof f);
    f.dim = trove_ials_factors(im);
    f.n_users = trove_ials_n_users(im);
    f.n_items = trove_ials_n_items(im);
    trove_ials_factor_tables(im, &f.user_f, &f.item_f, &f.user_stride);
    f.item_stride = f.user_stride;
    if (r->train.n_cols == f.n_items && r->train.n_rows == f.n_users) {
        count = trove_calloc(f.n_items, sizeof *count);
        if (count == NULL)
            return trove_error_set(err, TROVE_ENOMEM, "ials: out of memory");
        for (uint64_t x = 0; x < r->train.nnz; x++)
            if ((r->train.data == NULL || r->train.data[x] > 0.0f) &&
                count[r->train.indices[x]] < UINT32_MAX)
                count[r->train.indices[x]]++;
        f.item_counts = count;
    }
    rc = trove_model_from_factors(&f, &m, err);
    trove_free(count);
    if (rc != TROVE_OK)
        return rc;
    trove_ials_free(r->model);
    r->model = NULL;
    *out = m;
    return TROVE_OK;
}

int trove_recommender_take_model(trove_recommender *r, trove_model **out,
                                 trove_error *err)
{
    if (r == NULL || out == NULL || r->fam == NULL)
        return trove_error_set(err, TROVE_EINVAL, "take_model: missing argument");
    if (!trove_recommender_family_has_model(r->fam->name))
        return trove_error_set(err, TROVE_EINVAL,
                               "%s: this family has no factor model to take", r->fam->name);
    if (r->fam != &trove__family_ials)
        return trove_recommender_take_hybrid(r, out, err);
    if (r->model == NULL)
        return trove_error_set(err, TROVE_EINVAL, "ials: the model was already taken");
    return ials_to_model(r, out, err);
}

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
