/*
 * recommender.c - the family-agnostic recommender: settings, dispatch to
 * the family table, top-k lists, and the recommender file.
 *
 * File layout (little-endian, docs/evaluation.md):
 *   "TROVRECO"  u32 version (1)  u32 name_len  name  u64 payload_len
 *   payload  u64 XXH3-64(payload, seed 0)
 * The payload is the same sequence of members for every family (absent
 * members are written empty): u32 n_users, u32 n_items, u64 seed,
 * u32 n_markets, CSR train, f32[] item_score, u32[] user_market,
 * f32[] market_score, CSR item_feat, CSR user_prof, CSR item_feat_raw,
 * CSR neighbors, u8[] model_file. An array is u64 count + elements; a CSR
 * is u32 rows, u32 cols, u64 nnz, then u64[rows+1] indptr, u32[nnz] indices
 * and f32[nnz] data when nnz or rows are non-zero (u8 present flag first).
 * Everything read back is validated before use, so a damaged file is an
 * error, never a crash.
 * trove_recommender_file_family reads only the header (the family name,
 * or a model file's loss) so that a caller can decide before loading;
 * trove_recommender_load_model uses it to load only the families with a
 * factor model, as one hybrid model with its ids.
 */
#include "reco_int.h"
#include "core/file.h"
#include "kernels/kernels.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECO_MAGIC "TROVRECO"
#define RECO_VERSION 1u

static const trove__reco_family *const base_families[] = {
    &trove__family_random,
    &trove__family_popularity,
    &trove__family_popularity_rating,
    &trove__family_popularity_market,
    &trove__family_personal_popularity,
    &trove__family_content,
    &trove__family_itemknn,
    &trove__family_warp,
    &trove__family_bpr,
    &trove__family_logistic,
    &trove__family_warp_kos,
    &trove__family_ials,
    &trove__family_ease,
    &trove__family_rp3beta,
    &trove__family_blend,
    &trove__family_edlae,
    NULL
};

/* The same names as base_families, in the same order, as a constant list
 * (no lazy initialisation, so the call is safe from any thread); a unit
 * test checks that every name resolves. */
static const char *const family_names[] = {
    "random", "popularity", "popularity-rating", "popularity-market",
    "personal-popularity", "content", "itemknn", "warp", "bpr", "logistic",
    "warp-kos", "ials", "ease", "rp3beta", "blend", "edlae", NULL
};

static const trove__reco_family *find_family(const char *name)
{
    for (size_t i = 0; base_families[i]; i++)
        if (strcmp(base_families[i]->name, name) == 0)
            return base_families[i];
    return NULL;
}

const char *const *trove_recommender_families(void)
{
    return family_names;
}

trove_reco_params trove_reco_default_params(void)
{
    trove_reco_params p;
    memset(&p, 0, sizeof p);
    p.threads = 1;
    return p;
}

int trove_reco_params_set(trove_reco_params *p, const char *kv, trove_error *err)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    size_t klen, vlen, slot;
    if (p == NULL || eq == NULL || eq == kv)
        return trove_error_set(err, TROVE_EINVAL,
                               "setting '%s' is not key=value", kv ? kv : "");
    klen = (size_t)(eq - kv);
    vlen = strlen(eq + 1);
    if (klen >= TROVE_RECO_KEY_MAX || vlen >= TROVE_RECO_VALUE_MAX)
        return trove_error_set(err, TROVE_EINVAL, "setting '%s' is too long", kv);
    for (slot = 0; slot < p->n; slot++)
        if (strlen(p->key[slot]) == klen && memcmp(p->key[slot], kv, klen) == 0)
            break;
    if (slot == p->n) {
        if (p->n == TROVE_RECO_MAX_SETTINGS)
            return trove_error_set(err, TROVE_EINVAL, "too many settings (max %d)",
                                   TROVE_RECO_MAX_SETTINGS);
        p->n++;
    }
    memcpy(p->key[slot], kv, klen);
    p->key[slot][klen] = '\0';
    memcpy(p->value[slot], eq + 1, vlen + 1);
    return TROVE_OK;
}

const char *trove__reco_get(const trove_reco_params *p, const char *key)
{
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (strcmp(p->key[i], key) == 0)
            return p->value[i];
    return NULL;
}

int trove__reco_get_double(const trove_reco_params *p, const char *key,
                           double min, double max, double def, double *out,
                           trove_error *err)
{
    const char *v = trove__reco_get(p, key);
    char *end;
    double x;
    if (v == NULL) {
        *out = def;
        return TROVE_OK;
    }
    errno = 0;
    x = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(x >= min && x <= max))
        return trove_error_set(err, TROVE_EINVAL,
                               "setting %s=%s: expected a number in [%g, %g]",
                               key, v, min, max);
    *out = x;
    return TROVE_OK;
}

void trove__reco_csr_free(trove_csr *m)
{
    trove_csr_destroy(m);
}

void trove_recommender_free(trove_recommender *r)
{
    if (r == NULL)
        return;
    trove__reco_csr_free(&r->train);
    trove_free(r->item_score);
    trove_free(r->user_market);
    trove_free(r->market_score);
    trove__reco_csr_free(&r->item_feat);
    trove__reco_csr_free(&r->user_prof);
    trove__reco_csr_free(&r->item_feat_raw);
    trove__reco_csr_free(&r->neighbors);
    if (r->model != NULL && r->fam != NULL && r->fam->model_free != NULL)
        r->fam->model_free(r->model);
    trove_free(r);
}

static int check_keys(const trove__reco_family *f, const trove_reco_params *p,
                      trove_error *err)
{
    for (size_t i = 0; p != NULL && i < p->n; i++) {
        int ok = 0;
        for (size_t k = 0; f->keys && f->keys[k]; k++)
            ok |= strcmp(f->keys[k], p->key[i]) == 0;
        if (!ok) {
            char list[256] = "";
            for (size_t k = 0; f->keys && f->keys[k]; k++) {
                strncat(list, k ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, f->keys[k], sizeof list - strlen(list) - 1);
            }
            return trove_error_set(err, TROVE_EINVAL,
                                   "%s: unknown setting '%s' (valid: %s)", f->name,
                                   p->key[i], list[0] ? list : "none");
        }
    }
    return TROVE_OK;
}

int trove_recommender_fit(const char *family, const trove_reco_params *p,
                          const trove_dataset *train, trove_recommender **out,
                          trove_error *err)
{
    const trove__reco_family *f = family ? find_family(family) : NULL;
    trove_recommender *r = NULL;
    int rc;
    if (f == NULL)
        return trove_error_set(err, TROVE_ENOTFOUND, "unknown model family '%s'",
                               family ? family : "");
    if (train == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "%s: no training data", f->name);
    if ((rc = check_keys(f, p, err)) != TROVE_OK)
        return rc;
    if (trove_dataset_nnz(train) == 0)
        return trove_error_set(err, TROVE_EEMPTY, "%s: the training set is empty",
                               f->name);
    r = trove_calloc(1, sizeof *r);
    if (r == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", f->name);
    r->fam = f;
    r->n_users = trove_dataset_n_users(train);
    r->n_items = trove_dataset_n_items(train);
    if (trove_csr_copy(trove_dataset_interactions(train), &r->train, NULL) != TROVE_OK) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", f->name);
        goto fail;
    }
    rc = f->fit(r, p, train, err);
    if (rc != TROVE_OK)
        goto fail;
    *out = r;
    return TROVE_OK;
fail:
    trove_recommender_free(r);
    return rc;
}

const char *trove_recommender_family(const trove_recommender *r)
{
    return r ? r->fam->name : "";
}

uint32_t trove_recommender_n_users(const trove_recommender *r)
{
    return r ? r->n_users : 0;
}

uint32_t trove_recommender_n_items(const trove_recommender *r)
{
    return r ? r->n_items : 0;
}

int trove_recommender_score_user(const trove_recommender *r, uint32_t user,
                                 float *scores, trove_error *err)
{
    if (r == NULL || scores == NULL)
        return trove_error_set(err, TROVE_EINVAL, "score: no recommender or buffer");
    if (user >= r->n_users)
        return trove_error_set(err, TROVE_ERANGE, "%s: user %u out of range (%u users)",
                               r->fam->name, user, r->n_users);
    return r->fam->score(r, user, scores, err);
}

int trove_recommender_recommend(const trove_recommender *r, uint32_t user,
                                uint32_t k, int exclude_train, uint32_t *items,
                                float *scores, uint32_t *n_out, trove_error *err)
{
    float *s;
    uint32_t cnt = 0;
    int rc;
    if (r == NULL || items == NULL || n_out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "recommend: missing argument");
    if (k == 0) {
        *n_out = 0;
        return TROVE_OK;
    }
    if (k > r->n_items)
        k = r->n_items;
    /* n_items scores, then k more for the list's scores when the caller
     * does not want them (trove__topk keeps its heap there). */
    s = trove_malloc(((size_t)r->n_items + (scores != NULL ? 0 : k) + 1) * sizeof *s);
    if (s == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "recommend: out of memory");
    rc = trove_recommender_score_user(r, user, s, err);
    if (rc != TROVE_OK)
        goto done;
    if (exclude_train && user < r->train.n_rows)
        for (uint64_t q = r->train.indptr[user]; q < r->train.indptr[user + 1]; q++)
            s[r->train.indices[q]] = -INFINITY;
    cnt = trove__topk(s, r->n_items, k, items, scores != NULL ? scores : s + r->n_items);
    *n_out = cnt;
done:
    trove_free(s);
    return rc;
}

/* ----------------------------------------------------------- file writer */
typedef struct wbuf {
    uint8_t *p;
    uint64_t n, cap;
    int      oom;
} wbuf;

static void put(wbuf *b, const void *src, uint64_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->n + n > b->cap) {
        uint64_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n)
            nc *= 2;
        uint8_t *g = trove_realloc(b->p, nc);
        if (g == NULL) {
            b->oom = 1;
            return;
        }
        b->p = g;
        b->cap = nc;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }

static void put_array(wbuf *b, const void *a, uint64_t count, size_t elem)
{
    put_u64(b, a ? count : 0);
    if (a)
        put(b, a, count * elem);
}

static void put_csr(wbuf *b, const trove_csr *m)
{
    uint8_t present = m->indptr != NULL;
    put(b, &present, 1);
    if (!present)
        return;
    put_u32(b, m->n_rows);
    put_u32(b, m->n_cols);
    put_u64(b, m->nnz);
    put(b, m->indptr, ((uint64_t)m->n_rows + 1) * 8);
    put(b, m->indices, m->nnz * 4);
    if (m->data != NULL) {
        put(b, m->data, m->nnz * 4);
    } else {
        float one = 1.0f;
        for (uint64_t q = 0; q < m->nnz; q++)
            put(b, &one, 4);
    }
}

int trove_recommender_save(const trove_recommender *r, const char *path,
                           trove_error *err)
{
    wbuf b = {0};
    uint8_t *model = NULL;
    uint64_t model_n = 0, sum;
    int rc = TROVE_OK;
    uint32_t name_len;

    if (r == NULL || path == NULL)
        return trove_error_set(err, TROVE_EINVAL, "save: missing argument");
    if (r->fam->needs & TROVE__NEED_MODEL) {
        rc = trove__reco_model_bytes(r, &model, &model_n, err);
        if (rc != TROVE_OK)
            return rc;
    }
    put_u32(&b, r->n_users);
    put_u32(&b, r->n_items);
    put_u64(&b, r->seed);
    put_u32(&b, r->n_markets);
    put_csr(&b, &r->train);
    put_array(&b, r->item_score, r->n_items, 4);
    put_array(&b, r->user_market, r->n_users, 4);
    put_array(&b, r->market_score, (uint64_t)r->n_markets * r->n_items, 4);
    put_csr(&b, &r->item_feat);
    put_csr(&b, &r->user_prof);
    put_csr(&b, &r->item_feat_raw);
    put_csr(&b, &r->neighbors);
    put_array(&b, model, model_n, 1);
    if (b.oom) {
        rc = trove_error_set(err, TROVE_ENOMEM, "save %s: out of memory", path);
        goto done;
    }
    sum = trove_hash64(b.p, (size_t)b.n, 0);
    name_len = (uint32_t)strlen(r->fam->name);
    {
        uint32_t ver = RECO_VERSION;
        const void *parts[7] = {RECO_MAGIC, &ver, &name_len, r->fam->name, &b.n, b.p, &sum};
        size_t lens[7] = {8, 4, 4, name_len, 8, (size_t)b.n, 8};
        rc = trove__file_write_atomic(path, parts, lens, 7, err);
    }
done:
    trove_free(b.p);
    trove_free(model);
    return rc;
}

/* ----------------------------------------------------------- file reader */
typedef struct rbuf {
    const uint8_t *p;
    uint64_t n, off;
    int bad;
} rbuf;

/* Record a damaged payload (1) unless out of memory (2) came first. */
static void set_bad(rbuf *b)
{
    if (b->bad == 0)
        b->bad = 1;
}

static int get(rbuf *b, void *dst, uint64_t n)
{
    if (b->bad || n > b->n - b->off) {
        set_bad(b);
        return -1;
    }
    memcpy(dst, b->p + b->off, n);
    b->off += n;
    return 0;
}

static uint32_t get_u32(rbuf *b) { uint32_t v = 0; get(b, &v, 4); return v; }
static uint64_t get_u64(rbuf *b) { uint64_t v = 0; get(b, &v, 8); return v; }

/* Array of `elem`-byte entries; count must be 0 or `want`. */
static void *get_array(rbuf *b, uint64_t want, size_t elem, uint64_t *count)
{
    uint64_t n = get_u64(b);
    void *a;
    *count = n;
    if (b->bad || n == 0)
        return NULL;
    if ((want != UINT64_MAX && n != want) || n > (b->n - b->off) / elem) {
        set_bad(b);
        return NULL;
    }
    a = trove_malloc((size_t)(n * elem));
    if (a == NULL) {
        b->bad = 2;
        return NULL;
    }
    get(b, a, n * elem);
    return a;
}

static void get_csr(rbuf *b, trove_csr *m)
{
    uint8_t present = 0;
    memset(m, 0, sizeof *m);
    if (get(b, &present, 1) != 0 || !present)
        return;
    m->n_rows = get_u32(b);
    m->n_cols = get_u32(b);
    m->nnz = get_u64(b);
    if (b->bad || m->n_rows == UINT32_MAX ||
        ((uint64_t)m->n_rows + 1) * 8 > b->n - b->off ||
        m->nnz > (b->n - b->off) / 8) {
        set_bad(b);
        return;
    }
    m->indptr = trove_malloc(((size_t)m->n_rows + 1) * 8);
    m->indices = trove_malloc((size_t)(m->nnz ? m->nnz : 1) * 4);
    m->data = trove_malloc((size_t)(m->nnz ? m->nnz : 1) * 4);
    if (!m->indptr || !m->indices || !m->data) {
        b->bad = 2;
        return;
    }
    get(b, m->indptr, ((uint64_t)m->n_rows + 1) * 8);
    get(b, m->indices, m->nnz * 4);
    get(b, m->data, m->nnz * 4);
    if (b->bad)
        return;
    if (trove_csr_validate(m, "", NULL) != TROVE_OK)
        set_bad(b);
}

int trove_recommender_load(const char *path, trove_recommender **out,
                           trove_error *err)
{
    uint8_t *file = NULL, *model = NULL;
    size_t size = 0;
    uint64_t plen, sum, cnt;
    trove_recommender *r = NULL;
    const trove__reco_family *fam;
    char name[64];
    uint32_t ver, name_len;
    rbuf h, b;
    int rc;

    if (path == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "load: missing argument");
    rc = trove__file_read_all(path, SIZE_MAX, &file, &size, err);
    if (rc != TROVE_OK) {
        /* Documented: a file that cannot be opened is TROVE_EIO. */
        if (rc == TROVE_ENOTFOUND) {
            rc = TROVE_EIO;
            if (err != NULL)
                err->code = TROVE_EIO;
        }
        return rc;
    }
    h.p = file;
    h.n = size;
    h.off = 0;
    h.bad = 0;
    if (size >= 8 && memcmp(file, "TROVEMDL", 8) == 0) {
        rc = trove__hybrid_wrap_model_file(path, out, err);
        goto done;
    }
    if (size < 8 || memcmp(file, RECO_MAGIC, 8) != 0) {
        rc = trove_error_set(err, TROVE_EFORMAT, "%s: not a trove recommender file", path);
        goto done;
    }
    h.off = 8;
    ver = get_u32(&h);
    name_len = get_u32(&h);
    if (h.bad) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: truncated header", path);
        goto done;
    }
    if (ver != RECO_VERSION) {
        rc = trove_error_set(err, TROVE_EVERSION,
                             "%s: recommender file version %u (this library reads %u)",
                             path, ver, RECO_VERSION);
        goto done;
    }
    if (name_len == 0 || name_len >= sizeof name || get(&h, name, name_len) != 0) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: bad family name", path);
        goto done;
    }
    name[name_len] = '\0';
    plen = get_u64(&h);
    if (h.bad || plen > h.n - h.off || h.n - h.off - plen != 8) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: truncated or padded payload", path);
        goto done;
    }
    memcpy(&sum, file + h.off + plen, 8);
    if (trove_hash64(file + h.off, (size_t)plen, 0) != sum) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: checksum mismatch", path);
        goto done;
    }
    fam = find_family(name);
    if (fam == NULL) {
        rc = trove_error_set(err, TROVE_ENOTFOUND,
                             "%s: model family '%s' is not built into this library",
                             path, name);
        goto done;
    }
    r = trove_calloc(1, sizeof *r);
    if (r == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    r->fam = fam;
    b.p = file + h.off;
    b.n = plen;
    b.off = 0;
    b.bad = 0;
    r->n_users = get_u32(&b);
    r->n_items = get_u32(&b);
    r->seed = get_u64(&b);
    r->n_markets = get_u32(&b);
    get_csr(&b, &r->train);
    r->item_score = get_array(&b, r->n_items, 4, &cnt);
    r->user_market = get_array(&b, r->n_users, 4, &cnt);
    r->market_score = get_array(&b, (uint64_t)r->n_markets * r->n_items, 4, &cnt);
    get_csr(&b, &r->item_feat);
    get_csr(&b, &r->user_prof);
    get_csr(&b, &r->item_feat_raw);
    get_csr(&b, &r->neighbors);
    model = get_array(&b, UINT64_MAX, 1, &cnt);
    if (b.bad == 2) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    {
        unsigned need = fam->needs;
        int ok = !b.bad && b.off == b.n && r->train.indptr != NULL &&
                 r->train.n_rows == r->n_users && r->train.n_cols == r->n_items;
        if (need & TROVE__NEED_ITEM_SCORE)
            ok = ok && r->item_score != NULL;
        if (need & TROVE__NEED_MARKETS) {
            ok = ok && r->user_market != NULL &&
                 (r->n_markets == 0 || r->market_score != NULL);
            for (uint32_t u = 0; ok && u < r->n_users; u++)
                ok = r->user_market[u] < r->n_markets || r->user_market[u] == UINT32_MAX;
        }
        if (need & TROVE__NEED_ITEM_FEAT)
            ok = ok && r->item_feat.indptr != NULL && r->item_feat.n_rows == r->n_items;
        if (need & TROVE__NEED_USER_PROF)
            ok = ok && r->user_prof.indptr != NULL && r->user_prof.n_rows == r->n_users;
        if (need & TROVE__NEED_FEAT_RAW)
            ok = ok && r->item_feat_raw.indptr != NULL &&
                 r->item_feat_raw.n_rows == r->n_items &&
                 r->item_feat_raw.n_cols == r->user_prof.n_cols;
        if ((need & TROVE__NEED_ITEM_FEAT) && (need & TROVE__NEED_USER_PROF))
            ok = ok && r->item_feat.n_cols == r->user_prof.n_cols;
        if (need & TROVE__NEED_NEIGHBORS)
            ok = ok && r->neighbors.indptr != NULL &&
                 r->neighbors.n_rows == r->n_items && r->neighbors.n_cols == r->n_items;
        if (need & TROVE__NEED_MODEL)
            ok = ok && model != NULL;
        if (!ok) {
            rc = trove_error_set(err, TROVE_ECORRUPT,
                                 "%s: payload of family '%s' is inconsistent", path, name);
            goto done;
        }
    }
    if (fam->needs & TROVE__NEED_MODEL) {
        rc = trove__reco_model_from_bytes(r, model, cnt, err);
        if (rc != TROVE_OK) {
            trove_error_prefix(err, "%s", path);
            goto done;
        }
    }
    *out = r;
    r = NULL;
done:
    trove_recommender_free(r);
    trove_free(model);
    trove_free(file);
    return rc;
}

/* Model files (docs/model-format.md): the loss is the u32 at offset 56 of
 * the 256-byte header, whose bytes 0..247 are checksummed at 248. */
#define MODEL_HEADER 256u
#define MODEL_LOSS_AT 56u
#define MODEL_SUM_AT 248u

int trove_recommender_file_family(const char *path, char *name, size_t size,
                                  trove_error *err)
{
    unsigned char head[MODEL_HEADER];
    const char *fam = NULL;
    char reco_name[64];
    size_t got;
    uint32_t ver, name_len;
    FILE *f;
    int rc = TROVE_OK;

    if (path == NULL || name == NULL || size == 0)
        return trove_error_set(err, TROVE_EINVAL, "file_family: missing argument");
    f = fopen(path, "rb");
    if (f == NULL)
        return trove_error_set(err, TROVE_EIO, "%s: cannot open: %s", path, strerror(errno));
    got = fread(head, 1, sizeof head, f);
    if (ferror(f))
        rc = trove_error_set(err, TROVE_EIO, "%s: read error", path);
    fclose(f);
    if (rc != TROVE_OK)
        return rc;
    if (got >= 8 && memcmp(head, "TROVEMDL", 8) == 0) {
        uint64_t sum;
        uint32_t loss;
        if (got < MODEL_HEADER)
            return trove_error_set(err, TROVE_ECORRUPT, "%s: truncated model header", path);
        memcpy(&ver, head + 8, 4);
        memcpy(&sum, head + MODEL_SUM_AT, 8);
        if (trove_hash64(head, MODEL_SUM_AT, 0) != sum)
            return trove_error_set(err, TROVE_ECORRUPT, "%s: model header checksum mismatch",
                                   path);
        if (ver != TROVE_MODEL_FORMAT_VERSION)
            return trove_error_set(err, TROVE_EVERSION,
                                   "%s: model file version %u (this library reads %u)", path,
                                   ver, TROVE_MODEL_FORMAT_VERSION);
        memcpy(&loss, head + MODEL_LOSS_AT, 4);
        if (loss > TROVE_LOSS_WARP_KOS)
            return trove_error_set(err, TROVE_ECORRUPT, "%s: unknown loss %u in model file",
                                   path, loss);
        fam = trove_loss_name((int)loss);
    } else if (got >= 8 && memcmp(head, RECO_MAGIC, 8) == 0) {
        if (got < 16)
            return trove_error_set(err, TROVE_ECORRUPT, "%s: truncated header", path);
        memcpy(&ver, head + 8, 4);
        memcpy(&name_len, head + 12, 4);
        if (ver != RECO_VERSION)
            return trove_error_set(err, TROVE_EVERSION,
                                   "%s: recommender file version %u (this library reads %u)",
                                   path, ver, RECO_VERSION);
        if (name_len == 0 || name_len >= sizeof reco_name || got < 16 + (size_t)name_len)
            return trove_error_set(err, TROVE_ECORRUPT, "%s: bad family name", path);
        memcpy(reco_name, head + 16, name_len);
        reco_name[name_len] = '\0';
        fam = reco_name;
    } else {
        return trove_error_set(err, TROVE_EFORMAT, "%s: not a trove recommender or model file",
                               path);
    }
    if (strlen(fam) >= size)
        return trove_error_set(err, TROVE_ERANGE, "%s: family name '%s' longer than %zu bytes",
                               path, fam, size - 1);
    memcpy(name, fam, strlen(fam) + 1);
    return TROVE_OK;
}

int trove_recommender_side_ids(const char *path, uint32_t n_users, uint32_t n_items,
                               trove_idmap **users, trove_idmap **items, trove_error *err)
{
    static const char *const ext[2] = {".users", ".items"};
    const uint32_t want[2] = {n_users, n_items};
    trove_idmap *map[2] = {NULL, NULL};
    char side[4200];
    int rc = TROVE_OK;
    if (path == NULL || users == NULL || items == NULL)
        return trove_error_set(err, TROVE_EINVAL, "side_ids: missing argument");
    for (int k = 0; k < 2 && rc == TROVE_OK; k++) {
        if (snprintf(side, sizeof side, "%s%s", path, ext[k]) >= (int)sizeof side) {
            rc = trove_error_set(err, TROVE_EINVAL, "%s: path too long", path);
            break;
        }
        rc = trove_idmap_load(side, &map[k], err);
        if (rc == TROVE_ENOTFOUND) {
            trove_error_clear(err);
            rc = TROVE_OK;
        } else if (rc == TROVE_OK && trove_idmap_size(map[k]) != want[k]) {
            rc = trove_error_set(err, TROVE_EINVAL, "%s lists %u ids, the model has %u", side,
                                 trove_idmap_size(map[k]), want[k]);
        }
    }
    if (rc != TROVE_OK) {
        trove_idmap_free(map[0]);
        trove_idmap_free(map[1]);
        return rc;
    }
    *users = map[0];
    *items = map[1];
    return TROVE_OK;
}

/* Attach <path>.users / <path>.items to a model that has no ids. */
static int attach_side_ids(trove_model *m, const char *path, trove_error *err)
{
    trove_idmap *users = NULL, *items = NULL;
    int rc = trove_recommender_side_ids(path, trove_model_n_users(m), trove_model_n_items(m),
                                        &users, &items, err);
    if (rc == TROVE_OK && (users != NULL || items != NULL))
        rc = trove_model_set_ids(m, users, items, NULL, NULL, err);
    if (rc != TROVE_OK)
        trove_error_prefix(err, "%s: id files", path);
    trove_idmap_free(users);
    trove_idmap_free(items);
    return rc;
}

int trove_recommender_load_model(const char *path, trove_model **out, trove_error *err)
{
    trove_recommender *r = NULL;
    trove_model *m = NULL;
    char family[64];
    int rc;
    if (path == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "load_model: missing argument");
    rc = trove_recommender_file_family(path, family, sizeof family, err);
    if (rc != TROVE_OK)
        return rc;
    if (!trove_recommender_family_has_model(family))
        return trove_error_set(err, TROVE_EUNSUPPORTED,
                               "%s: model family '%s' has no factor model (the hybrid "
                               "families and ials have one)", path, family);
    if ((rc = trove_recommender_load(path, &r, err)) != TROVE_OK ||
        (rc = trove_recommender_take_model(r, &m, err)) != TROVE_OK)
        goto done;
    if (trove_model_user_ids(m) == NULL && trove_model_item_ids(m) == NULL &&
        (rc = attach_side_ids(m, path, err)) != TROVE_OK)
        goto done;
    *out = m;
    m = NULL;
done:
    trove_model_free(m);
    trove_recommender_free(r);
    return rc;
}
