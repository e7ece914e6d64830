/*
 * hybrid.c - the hybrid factorization model (trove/model.h) behind the
 * recommender interface: families "warp", "bpr", "logistic" and "warp-kos"
 * (the loss); and the embedding of a model's own file in the recommender
 * file (shared with factor.c), byte for byte, so that everything the model
 * format guarantees (versions, checksums) still holds.
 *
 * Settings: epochs (30), dim (64), lr (0.05), item_alpha (0), user_alpha (0),
 * max_sampled (10), seed (42), schedule (adagrad|adagrad-rowwise|adadelta),
 * item_features and user_features (1 = use the dataset's feature matrices
 * when it has them; default 1). Identity features are always on.
 */
#include "reco_int.h"
#include "core/file.h"
#include "trove/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const hybrid_keys[] = {
    "epochs", "dim", "lr", "item_alpha", "user_alpha", "max_sampled", "seed",
    "schedule", "item_features", "user_features", NULL
};

static int hybrid_fit_loss(trove_recommender *r, const trove_reco_params *p,
                           const trove_dataset *ds, int loss, trove_error *err)
{
    trove_model_params mp = trove_model_default_params();
    trove_model *m = NULL;
    const trove_csr *uf = trove_dataset_user_features(ds);
    const trove_csr *itf = trove_dataset_item_features(ds);
    double epochs, dim, lr, ia, ua, ms, seed, use_if, use_uf;
    const char *sched = trove__reco_get(p, "schedule");
    int rc;

    if ((rc = trove__reco_get_double(p, "epochs", 1, 1e6, 30, &epochs, err)) ||
        (rc = trove__reco_get_double(p, "dim", 1, 4096, 64, &dim, err)) ||
        (rc = trove__reco_get_double(p, "lr", 1e-9, 1e3, 0.05, &lr, err)) ||
        (rc = trove__reco_get_double(p, "item_alpha", 0, 1e6, 0, &ia, err)) ||
        (rc = trove__reco_get_double(p, "user_alpha", 0, 1e6, 0, &ua, err)) ||
        (rc = trove__reco_get_double(p, "max_sampled", 1, 1e6, 10, &ms, err)) ||
        (rc = trove__reco_get_double(p, "seed", 0, 9007199254740992.0, 42, &seed, err)) ||
        (rc = trove__reco_get_double(p, "item_features", 0, 1, 1, &use_if, err)) ||
        (rc = trove__reco_get_double(p, "user_features", 0, 1, 1, &use_uf, err)))
        return rc;
    mp.loss = loss;
    mp.no_components = (uint32_t)dim;
    mp.learning_rate = (float)lr;
    mp.item_alpha = (float)ia;
    mp.user_alpha = (float)ua;
    mp.max_sampled = (uint32_t)ms;
    mp.seed = (uint64_t)seed;
    mp.num_threads = p != NULL && p->threads > 0 ? (uint32_t)p->threads : 1;
    if (sched != NULL && (rc = trove_schedule_parse(sched, &mp.learning_schedule)) != TROVE_OK)
        return trove_error_set(err, TROVE_EINVAL,
                               "%s: unknown schedule '%s' (adagrad, adagrad-rowwise, adadelta)",
                               r->fam->name, sched);
    if (uf == NULL || uf->nnz == 0 || use_uf == 0)
        uf = NULL;
    if (itf == NULL || itf->nnz == 0 || use_if == 0)
        itf = NULL;
    rc = trove_model_new(&mp, uf ? uf->n_cols : 0, itf ? itf->n_cols : 0, &m, err);
    if (rc == TROVE_OK)
        rc = trove_model_fit(m, trove_dataset_interactions(ds), uf, itf,
                             (uint32_t)epochs, err);
    /* Raw ids and feature names travel with the model, so that a saved
     * model can be served and can score new items from their features. */
    if (rc == TROVE_OK)
        rc = trove_model_set_ids(m, trove_dataset_user_ids(ds), trove_dataset_item_ids(ds),
                                 uf ? trove_dataset_user_feature_names(ds) : NULL,
                                 itf ? trove_dataset_item_feature_names(ds) : NULL, err);
    if (rc != TROVE_OK) {
        trove_model_free(m);
        return rc;
    }
    r->model = m;
    return TROVE_OK;
}

static int fit_warp(trove_recommender *r, const trove_reco_params *p,
                    const trove_dataset *ds, trove_error *err)
{
    return hybrid_fit_loss(r, p, ds, TROVE_LOSS_WARP, err);
}

static int fit_bpr(trove_recommender *r, const trove_reco_params *p,
                   const trove_dataset *ds, trove_error *err)
{
    return hybrid_fit_loss(r, p, ds, TROVE_LOSS_BPR, err);
}

static int fit_logistic(trove_recommender *r, const trove_reco_params *p,
                        const trove_dataset *ds, trove_error *err)
{
    return hybrid_fit_loss(r, p, ds, TROVE_LOSS_LOGISTIC, err);
}

static int fit_warp_kos(trove_recommender *r, const trove_reco_params *p,
                        const trove_dataset *ds, trove_error *err)
{
    return hybrid_fit_loss(r, p, ds, TROVE_LOSS_WARP_KOS, err);
}

static int hybrid_score(const trove_recommender *r, uint32_t user, float *s,
                        trove_error *err)
{
    return trove_model_score_user(r->model, user, s, err);
}

static int model_save(const void *m, const char *path, trove_error *err)
{
    return trove_model_save(m, path, err);
}

static int model_load(const char *path, void **m, trove_error *err)
{
    trove_model *x = NULL;
    int rc = trove_model_load(path, &x, err);
    if (rc == TROVE_OK)
        *m = x;
    return rc;
}

static int model_save_buffer(const void *m, unsigned char **bytes, size_t *len,
                             trove_error *err)
{
    return trove_model_save_buffer(m, bytes, len, err);
}

static int model_load_buffer(const unsigned char *bytes, size_t len, void **m,
                             trove_error *err)
{
    trove_model *x = NULL;
    int rc = trove_model_load_buffer(bytes, len, "embedded model", &x, err);
    if (rc == TROVE_OK)
        *m = x;
    return rc;
}

static void model_free(void *m)
{
    trove_model_free(m);
}

static void model_dims(const void *m, uint32_t *n_users, uint32_t *n_items)
{
    *n_users = trove_model_n_users(m);
    *n_items = trove_model_n_items(m);
}

#define HYBRID_FAMILY(var, name, fit)                                         \
    const trove__reco_family var = {                                          \
        name, hybrid_keys, TROVE__NEED_MODEL, fit, hybrid_score, model_save,  \
        model_load, model_free, model_dims, model_save_buffer,                \
        model_load_buffer};

HYBRID_FAMILY(trove__family_warp, "warp", fit_warp)
HYBRID_FAMILY(trove__family_bpr, "bpr", fit_bpr)
HYBRID_FAMILY(trove__family_logistic, "logistic", fit_logistic)
HYBRID_FAMILY(trove__family_warp_kos, "warp-kos", fit_warp_kos)

int trove_recommender_take_hybrid(trove_recommender *r, trove_model **out,
                                  trove_error *err)
{
    if (r == NULL || r->fam == NULL || r->fam->model_free != model_free ||
        r->model == NULL)
        return trove_error_set(err, TROVE_EINVAL,
                               "%s: not a hybrid model (or already taken)",
                               r && r->fam ? r->fam->name : "recommender");
    *out = r->model;
    r->model = NULL;
    return TROVE_OK;
}

int trove__hybrid_wrap_model_file(const char *path, trove_recommender **out,
                                  trove_error *err)
{
    trove_model *m = NULL;
    trove_recommender *r = NULL;
    const trove__reco_family *fam = NULL;
    int rc = trove_model_load(path, &m, err);
    if (rc != TROVE_OK)
        return rc;
    switch (trove_model_params_of(m)->loss) {
    case TROVE_LOSS_WARP: fam = &trove__family_warp; break;
    case TROVE_LOSS_BPR: fam = &trove__family_bpr; break;
    case TROVE_LOSS_LOGISTIC: fam = &trove__family_logistic; break;
    case TROVE_LOSS_WARP_KOS: fam = &trove__family_warp_kos; break;
    default:
        rc = trove_error_set(err, TROVE_EFORMAT, "%s: unknown loss in model file", path);
        goto fail;
    }
    r = trove_calloc(1, sizeof *r);
    if (r == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    r->fam = fam;
    r->n_users = trove_model_n_users(m);
    r->n_items = trove_model_n_items(m);
    /* the training pairs are not in a model file: nothing to exclude */
    r->train.n_rows = r->n_users;
    r->train.n_cols = r->n_items;
    r->train.indptr = trove_calloc((size_t)r->n_users + 1, sizeof *r->train.indptr);
    if (r->train.indptr == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    r->model = m;
    *out = r;
    return TROVE_OK;
fail:
    trove_free(r);
    trove_model_free(m);
    return rc;
}

/* A fresh temporary file name (the file exists, empty), for families that
 * only have file functions. */
static int temp_path(char *buf, size_t n, trove_error *err)
{
    const char *dir = getenv("TMPDIR");
    int fd;
    snprintf(buf, n, "%s/trove-reco-XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(buf);
    if (fd < 0)
        return trove_error_set(err, TROVE_EIO, "temporary file: %s", strerror(errno));
    close(fd);
    return TROVE_OK;
}

int trove__reco_model_bytes(const trove_recommender *r, uint8_t **bytes,
                            uint64_t *n, trove_error *err)
{
    char path[1024];
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc;
    if (r->fam->model_save_buffer != NULL) {
        rc = r->fam->model_save_buffer(r->model, &buf, &len, err);
        goto out;
    }
    rc = temp_path(path, sizeof path, err);
    if (rc != TROVE_OK)
        return rc;
    rc = r->fam->model_save(r->model, path, err);
    if (rc == TROVE_OK)
        rc = trove__file_read_all(path, SIZE_MAX, &buf, &len, err);
    remove(path);
out:
    if (rc == TROVE_OK) {
        *bytes = buf;
        *n = (uint64_t)len;
    }
    return rc;
}

int trove__reco_model_from_bytes(trove_recommender *r, const uint8_t *bytes,
                                 uint64_t n, trove_error *err)
{
    char path[1024];
    void *m = NULL;
    int rc;
    if (n > SIZE_MAX)
        return trove_error_set(err, TROVE_ECORRUPT, "embedded model: %llu bytes",
                               (unsigned long long)n);
    if (r->fam->model_load_buffer != NULL) {
        rc = r->fam->model_load_buffer(bytes, (size_t)n, &m, err);
    } else {
        const void *part = bytes;
        size_t len = (size_t)n;
        rc = temp_path(path, sizeof path, err);
        if (rc != TROVE_OK)
            return rc;
        rc = trove__file_write_atomic(path, &part, &len, 1, err);
        if (rc == TROVE_OK)
            rc = r->fam->model_load(path, &m, err);
        remove(path);
    }
    if (rc != TROVE_OK)
        return rc;
    uint32_t mu, mi;
    r->fam->model_dims(m, &mu, &mi);
    if (mu != r->n_users || mi != r->n_items) {
        r->fam->model_free(m);
        return trove_error_set(err, TROVE_ECORRUPT,
                               "embedded model is %u x %u, the recommender %u x %u",
                               mu, mi, r->n_users, r->n_items);
    }
    r->model = m;
    return TROVE_OK;
}
