/*
 * blend.c - the "blend" recommender family: a weighted sum of the
 * per-user standardised scores of up to TROVE_BLEND_MAX_MEMBERS other
 * recommenders (score-level fusion; Fox & Shaw, "Combination of multiple
 * searches", TREC-2 1994, CombSUM over z-normalised scores):
 *     score(u, i) = sum_m w_m (s_m(u, i) - mean_m(u)) / sd_m(u)
 * where mean and standard deviation run over the whole catalog; a member
 * whose scores are constant for a user contributes nothing to that user.
 *
 * Settings: member1 .. member4, each "FAMILY WEIGHT [key=value ...]" (space
 * separated), e.g. member1="ease 0.6 lambda=300"; a member cannot be a
 * blend; weights are finite and >= 0 with at least one > 0.
 *
 * The members are fitted on the same dataset with the recommender's threads.
 * Embedded model file ("TROVBLND", u32 version 1, u32 n, then per member:
 * f32 weight, u64 length, the member's recommender file) - every length and
 * member is validated on load. Invariants: members hold n_users x n_items
 * like the blend; nothing changes after fit or load. Scoring allocates one
 * n_items scratch buffer per call.
 */
#include "reco_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TROVE_BLEND_MAX_MEMBERS 4
#define BLEND_MAGIC "TROVBLND"
#define BLEND_VERSION 1u

static const char *const blend_keys[] = {
    "member1", "member2", "member3", "member4", NULL
};

typedef struct blend_model {
    uint32_t n, n_users, n_items;
    float    w[TROVE_BLEND_MAX_MEMBERS];
    trove_recommender *m[TROVE_BLEND_MAX_MEMBERS];
} blend_model;

static void blend_free(void *mv)
{
    blend_model *b = mv;
    if (b == NULL)
        return;
    for (uint32_t k = 0; k < b->n; k++)
        trove_recommender_free(b->m[k]);
    trove_free(b);
}

/* Parse "FAMILY WEIGHT [key=value ...]" into family, weight and settings. */
static int parse_member(const char *key, const char *spec, char *family,
                        size_t fam_n, float *w, trove_reco_params *mp,
                        trove_error *err)
{
    char buf[TROVE_RECO_VALUE_MAX], *save = NULL, *tok, *end;
    double x;
    snprintf(buf, sizeof buf, "%s", spec);
    tok = strtok_r(buf, " ", &save);
    if (tok == NULL || strlen(tok) >= fam_n)
        return trove_error_set(err, TROVE_EINVAL, "blend: %s='%s': expected "
                               "'FAMILY WEIGHT [key=value ...]'", key, spec);
    snprintf(family, fam_n, "%s", tok);
    if (strcmp(family, "blend") == 0)
        return trove_error_set(err, TROVE_EINVAL, "blend: %s: a member cannot be a blend",
                               key);
    tok = strtok_r(NULL, " ", &save);
    errno = 0;
    x = tok ? strtod(tok, &end) : -1.0;
    if (tok == NULL || errno != 0 || end == tok || *end != '\0' || !(x >= 0.0) ||
        !isfinite(x))
        return trove_error_set(err, TROVE_EINVAL, "blend: %s='%s': the weight must be "
                               "a finite number >= 0", key, spec);
    *w = (float)x;
    while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
        int rc = trove_reco_params_set(mp, tok, err);
        if (rc != TROVE_OK) {
            trove_error_prefix(err, "blend: %s", key);
            return rc;
        }
    }
    return TROVE_OK;
}

static int blend_fit(trove_recommender *r, const trove_reco_params *p,
                     const trove_dataset *ds, trove_error *err)
{
    blend_model *b = trove_calloc(1, sizeof *b);
    float wsum = 0.0f;
    int rc = TROVE_OK;
    if (b == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "blend: out of memory");
    b->n_users = r->n_users;
    b->n_items = r->n_items;
    for (size_t k = 0; blend_keys[k] != NULL; k++) {
        const char *spec = trove__reco_get(p, blend_keys[k]);
        trove_reco_params mp = trove_reco_default_params();
        char family[TROVE_RECO_KEY_MAX];
        if (spec == NULL)
            continue;
        mp.threads = p != NULL ? p->threads : 1;
        rc = parse_member(blend_keys[k], spec, family, sizeof family, &b->w[b->n], &mp,
                          err);
        if (rc != TROVE_OK)
            goto fail;
        rc = trove_recommender_fit(family, &mp, ds, &b->m[b->n], err);
        if (rc != TROVE_OK) {
            trove_error_prefix(err, "blend: %s", blend_keys[k]);
            goto fail;
        }
        wsum += b->w[b->n];
        b->n++;
    }
    if (b->n == 0 || !(wsum > 0.0f)) {
        rc = trove_error_set(err, TROVE_EINVAL, "blend: give member1..member4 "
                             "(\"FAMILY WEIGHT [key=value ...]\") with a weight > 0");
        goto fail;
    }
    r->model = b;
    return TROVE_OK;
fail:
    blend_free(b);
    return rc;
}

static int blend_score(const trove_recommender *r, uint32_t user, float *s,
                       trove_error *err)
{
    const blend_model *b = r->model;
    float *t = trove_malloc((size_t)(r->n_items ? r->n_items : 1) * sizeof *t);
    int rc = TROVE_OK;
    if (t == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "blend: out of memory");
    memset(s, 0, (size_t)r->n_items * sizeof *s);
    for (uint32_t k = 0; k < b->n; k++) {
        double sum = 0.0, sq = 0.0, mean, sd;
        uint32_t cnt = 0;
        if (b->w[k] == 0.0f)
            continue;
        rc = trove_recommender_score_user(b->m[k], user, t, err);
        if (rc != TROVE_OK)
            goto done;
        for (uint32_t i = 0; i < r->n_items; i++)
            if (isfinite(t[i])) {
                sum += t[i];
                cnt++;
            }
        mean = cnt ? sum / cnt : 0.0;
        for (uint32_t i = 0; i < r->n_items; i++)
            if (isfinite(t[i]))
                sq += (t[i] - mean) * (t[i] - mean);
        sd = cnt ? sqrt(sq / cnt) : 0.0;
        if (!(sd > 0.0))
            continue;
        for (uint32_t i = 0; i < r->n_items; i++)
            if (isfinite(t[i]))
                s[i] += (float)(b->w[k] * (t[i] - mean) / sd);
    }
done:
    trove_free(t);
    return rc;
}

static int put(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* Append the recommender file of `m` to f (saved beside `path` first). */
static int put_member(FILE *f, const char *path, const trove_recommender *m,
                      float w, trove_error *err)
{
    char tmp[4200];
    FILE *in = NULL;
    uint8_t buf[65536];
    uint64_t len;
    long size;
    size_t got;
    int rc;
    snprintf(tmp, sizeof tmp, "%s.member", path);
    rc = trove_recommender_save(m, tmp, err);
    if (rc != TROVE_OK)
        return rc;
    in = fopen(tmp, "rb");
    if (in == NULL || fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) <= 0 ||
        fseek(in, 0, SEEK_SET) != 0) {
        rc = trove_error_set(err, TROVE_EIO, "%s: cannot read back", tmp);
        goto done;
    }
    len = (uint64_t)size;
    if (put(f, &w, sizeof w) || put(f, &len, sizeof len)) {
        rc = trove_error_set(err, TROVE_EIO, "%s: write failed", path);
        goto done;
    }
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        if (put(f, buf, got)) {
            rc = trove_error_set(err, TROVE_EIO, "%s: write failed", path);
            goto done;
        }
    rc = TROVE_OK;
done:
    if (in != NULL)
        fclose(in);
    remove(tmp);
    return rc;
}

static int blend_save(const void *mv, const char *path, trove_error *err)
{
    const blend_model *b = mv;
    uint32_t ver = BLEND_VERSION;
    FILE *f = fopen(path, "wb");
    int rc = TROVE_OK;
    if (f == NULL)
        return trove_error_set(err, TROVE_EIO, "%s: %s", path, strerror(errno));
    if (put(f, BLEND_MAGIC, 8) || put(f, &ver, sizeof ver) || put(f, &b->n, sizeof b->n))
        rc = trove_error_set(err, TROVE_EIO, "%s: write failed", path);
    for (uint32_t k = 0; rc == TROVE_OK && k < b->n; k++)
        rc = put_member(f, path, b->m[k], b->w[k], err);
    if (fclose(f) != 0 && rc == TROVE_OK)
        rc = trove_error_set(err, TROVE_EIO, "%s: write failed", path);
    return rc;
}

/* Copy `len` bytes of f into a file beside `path` and load it. */
static int get_member(FILE *f, const char *path, uint64_t len,
                      trove_recommender **out, trove_error *err)
{
    char tmp[4200];
    uint8_t buf[65536];
    FILE *o;
    int rc = TROVE_OK;
    snprintf(tmp, sizeof tmp, "%s.member", path);
    o = fopen(tmp, "wb");
    if (o == NULL)
        return trove_error_set(err, TROVE_EIO, "%s: %s", tmp, strerror(errno));
    while (len > 0 && rc == TROVE_OK) {
        size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
        if (fread(buf, 1, want, f) != want)
            rc = trove_error_set(err, TROVE_ECORRUPT, "%s: blend member truncated", path);
        else if (fwrite(buf, 1, want, o) != want)
            rc = trove_error_set(err, TROVE_EIO, "%s: write failed", tmp);
        len -= want;
    }
    if (fclose(o) != 0 && rc == TROVE_OK)
        rc = trove_error_set(err, TROVE_EIO, "%s: write failed", tmp);
    if (rc == TROVE_OK)
        rc = trove_recommender_load(tmp, out, err);
    remove(tmp);
    return rc;
}

static int blend_load(const char *path, void **out, trove_error *err)
{
    blend_model *b = NULL;
    char magic[8];
    uint32_t ver, n;
    FILE *f = fopen(path, "rb");
    int rc = TROVE_OK;
    if (f == NULL)
        return trove_error_set(err, TROVE_EIO, "%s: %s", path, strerror(errno));
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, BLEND_MAGIC, 8) != 0 ||
        fread(&ver, sizeof ver, 1, f) != 1 || fread(&n, sizeof n, 1, f) != 1) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: not a blend model", path);
        goto done;
    }
    if (ver != BLEND_VERSION || n == 0 || n > TROVE_BLEND_MAX_MEMBERS) {
        rc = trove_error_set(err, ver != BLEND_VERSION ? TROVE_EVERSION : TROVE_ECORRUPT,
                             "%s: blend version %u with %u members", path, ver, n);
        goto done;
    }
    if ((b = trove_calloc(1, sizeof *b)) == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint64_t len;
        float w;
        if (fread(&w, sizeof w, 1, f) != 1 || fread(&len, sizeof len, 1, f) != 1 ||
            !(w >= 0.0f) || !isfinite(w) || len == 0 || len > ((uint64_t)1 << 40)) {
            rc = trove_error_set(err, TROVE_ECORRUPT, "%s: blend member %u header", path,
                                 k + 1);
            goto done;
        }
        rc = get_member(f, path, len, &b->m[k], err);
        if (rc != TROVE_OK)
            goto done;
        b->w[k] = w;
        b->n++;
        if (strcmp(trove_recommender_family(b->m[k]), "blend") == 0 ||
            (k > 0 && (trove_recommender_n_users(b->m[k]) != b->n_users ||
                       trove_recommender_n_items(b->m[k]) != b->n_items))) {
            rc = trove_error_set(err, TROVE_ECORRUPT, "%s: blend member %u does not fit",
                                 path, k + 1);
            goto done;
        }
        b->n_users = trove_recommender_n_users(b->m[k]);
        b->n_items = trove_recommender_n_items(b->m[k]);
    }
    *out = b;
    b = NULL;
done:
    fclose(f);
    blend_free(b);
    return rc;
}

static void blend_dims(const void *mv, uint32_t *n_users, uint32_t *n_items)
{
    const blend_model *b = mv;
    *n_users = b->n_users;
    *n_items = b->n_items;
}

const trove__reco_family trove__family_blend = {
    .name = "blend",
    .keys = blend_keys,
    .needs = TROVE__NEED_MODEL,
    .fit = blend_fit,
    .score = blend_score,
    .model_save = blend_save,
    .model_load = blend_load,
    .model_dims = blend_dims,
    .model_free = blend_free,
};
