/*
 * reco_int.h (internal) - the layout of trove_recommender and the family
 * table shared by the files of src/baselines/.
 *
 * One struct serves every family: each uses the members its comment names
 * and leaves the others empty (arrays NULL, CSRs zeroed). Invariants:
 * `train` is a users x items copy of the training interactions (weights
 * always allocated, columns strictly ascending); every array member is
 * owned by the recommender; after fit or load nothing changes, so scoring
 * needs no lock.
 */
#ifndef TROVE_BASELINES_RECO_INT_H
#define TROVE_BASELINES_RECO_INT_H

#include "trove/recommender.h"

typedef struct trove__reco_family trove__reco_family;

struct trove_recommender {
    const trove__reco_family *fam;
    uint32_t  n_users, n_items;
    uint64_t  seed;          /* random */
    trove_csr train;         /* all families */
    float    *item_score;    /* popularity, popularity-rating: final score;
                                popularity-market, personal-popularity: global
                                popularity scaled to [0, 1] */
    uint32_t  n_markets;     /* popularity-market */
    uint32_t *user_market;   /* [n_users], UINT32_MAX = none */
    float    *market_score;  /* [n_markets][n_items] */
    trove_csr item_feat;     /* content: TF-IDF rows, unit length */
    trove_csr user_prof;     /* personal-popularity: feature shares (users x
                                features); content: unit profile vectors */
    trove_csr item_feat_raw; /* personal-popularity: item features */
    trove_csr neighbors;     /* itemknn: items x items similarities */
    void     *model;         /* hybrid families: trove_model; ials:
                                trove_ials; ease: trove_ease */
};

/* Members a family needs after loading (checked by trove_recommender_load). */
enum {
    TROVE__NEED_ITEM_SCORE = 1u << 0,
    TROVE__NEED_MARKETS    = 1u << 1,
    TROVE__NEED_ITEM_FEAT  = 1u << 2,
    TROVE__NEED_USER_PROF  = 1u << 3,
    TROVE__NEED_FEAT_RAW   = 1u << 4,
    TROVE__NEED_NEIGHBORS  = 1u << 5,
    TROVE__NEED_MODEL      = 1u << 6
};

struct trove__reco_family {
    const char *name;
    const char *const *keys;   /* accepted settings, NULL-terminated */
    unsigned needs;            /* TROVE__NEED_* */
    int  (*fit)(trove_recommender *r, const trove_reco_params *p,
                const trove_dataset *train, trove_error *err);
    int  (*score)(const trove_recommender *r, uint32_t user, float *scores,
                  trove_error *err);
    /* Families with an embedded model (TROVE__NEED_MODEL): the model's own
     * file functions, used to embed its file in the recommender file. */
    int  (*model_save)(const void *model, const char *path, trove_error *err);
    int  (*model_load)(const char *path, void **model, trove_error *err);
    void (*model_free)(void *model);
    void (*model_dims)(const void *model, uint32_t *n_users, uint32_t *n_items);
    /* The same file as bytes in memory (*bytes freed with trove_free). When
     * set they are used instead of model_save / model_load, which then go
     * through a temporary file. */
    int  (*model_save_buffer)(const void *model, unsigned char **bytes, size_t *len,
                              trove_error *err);
    int  (*model_load_buffer)(const unsigned char *bytes, size_t len, void **model,
                              trove_error *err);
};

/* Families implemented in baselines.c, hybrid.c and factor.c. */
extern const trove__reco_family trove__family_random;
extern const trove__reco_family trove__family_popularity;
extern const trove__reco_family trove__family_popularity_rating;
extern const trove__reco_family trove__family_popularity_market;
extern const trove__reco_family trove__family_personal_popularity;
extern const trove__reco_family trove__family_content;
extern const trove__reco_family trove__family_itemknn;
extern const trove__reco_family trove__family_warp;
extern const trove__reco_family trove__family_bpr;
extern const trove__reco_family trove__family_logistic;
extern const trove__reco_family trove__family_warp_kos;
extern const trove__reco_family trove__family_ials;
extern const trove__reco_family trove__family_ease;
extern const trove__reco_family trove__family_rp3beta;   /* rp3beta.c */
extern const trove__reco_family trove__family_blend;     /* blend.c */
extern const trove__reco_family trove__family_edlae;     /* edlae.c */

/* Embedded models (hybrid.c): the bytes of the model's own file
 * (trove_malloc'd), and the model back from them (dimensions checked
 * against the recommender's). */
int  trove__reco_model_bytes(const trove_recommender *r, uint8_t **bytes,
                             uint64_t *n, trove_error *err);
int  trove__reco_model_from_bytes(trove_recommender *r, const uint8_t *bytes,
                                  uint64_t n, trove_error *err);
/* A model file written by trove_model_save (magic "TROVEMDL") as a
 * recommender of the family of its loss, with no training pairs. */
int  trove__hybrid_wrap_model_file(const char *path, trove_recommender **out,
                                   trove_error *err);
/* Value of setting `key` in p (NULL if absent). */
const char *trove__reco_get(const trove_reco_params *p, const char *key);
/* Parse a setting as a number in [min, max] (def when absent). */
int trove__reco_get_double(const trove_reco_params *p, const char *key,
                           double min, double max, double def, double *out,
                           trove_error *err);

/* Free the arrays of a CSR allocated with trove_malloc (trove_csr_destroy). */
void trove__reco_csr_free(trove_csr *m);

#endif /* TROVE_BASELINES_RECO_INT_H */
