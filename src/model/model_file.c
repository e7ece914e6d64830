/*
 * model_file.c - the versioned binary model file (docs/model-format.md):
 * encode to / decode from a memory buffer with full validation, save and
 * load as thin wrappers over those (saving atomically through
 * core/file.h), and inspect (header only).
 *
 * Layout: a 256-byte header (magic "TROVEMDL", format version, sizes,
 * hyperparameters, counters, training-data fingerprint, RNG state, payload
 * checksum, header checksum) followed by a payload of tagged sections in a
 * fixed order. All integers and floats are little-endian. Every length read
 * from the file is checked against the header's counts and against the
 * bytes actually present before anything is allocated, so a truncated or
 * corrupted file yields TROVE_ECORRUPT / TROVE_EFORMAT and never a crash or
 * an absurd allocation.
 */
#include "core/file.h"
#include "model/model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the model file code assumes a little-endian host"
#endif

#define HEADER_SIZE 256u
#define HEADER_CHECKSUM_AT 248u
static const char MAGIC[8] = {'T', 'R', 'O', 'V', 'E', 'M', 'D', 'L'};

enum {
    FLAG_USER_IDENTITY = 1u << 0,
    FLAG_ITEM_IDENTITY = 1u << 1,
    FLAG_ADADELTA_STATE = 1u << 2
};

enum section_tag {
    SEC_USER_ID_TABLE = 1,
    SEC_USER_FEAT_TABLE = 2,
    SEC_ITEM_ID_TABLE = 3,
    SEC_ITEM_FEAT_TABLE = 4,
    SEC_USER_FEATURES = 5,
    SEC_ITEM_FEATURES = 6,
    SEC_ITEM_COUNTS = 7,
    SEC_USER_IDS = 8,
    SEC_ITEM_IDS = 9,
    SEC_USER_FEATURE_NAMES = 10,
    SEC_ITEM_FEATURE_NAMES = 11
};

/* ------------------------------------------------------------- buffers */
typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *b, const void *src, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = trove_realloc(b->p, cap);
        if (q == NULL) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }

/* Begin a section; returns the offset of its length field. */
static size_t sec_begin(wbuf *b, uint32_t tag)
{
    put_u32(b, tag);
    put_u32(b, 0);
    size_t at = b->len;
    put_u64(b, 0);
    return at;
}

static void sec_end(wbuf *b, size_t at)
{
    if (b->oom)
        return;
    uint64_t len = b->len - at - 8;
    memcpy(b->p + at, &len, 8);
}

/* A table section; row-wise adagrad (acc NULL) stores one accumulator per
 * row where the others store rows x dp. */
static void put_table(wbuf *b, uint32_t tag, const trove__table *t, size_t dp)
{
    size_t at = sec_begin(b, tag);
    size_t rows = t->rows;
    put(b, t->emb, rows * dp * sizeof(float));
    for (uint32_t r = 0; r < rows; r++)
        put(b, trove__meta(t, r) + TROVE__BIAS, sizeof(float));
    if (t->acc != NULL)
        put(b, t->acc, rows * dp * sizeof(float));
    else
        for (uint32_t r = 0; r < rows; r++)
            put(b, trove__meta(t, r) + TROVE__RACC, sizeof(float));
    for (uint32_t r = 0; r < rows; r++)
        put(b, trove__meta(t, r) + TROVE__BACC, sizeof(float));
    if (t->dacc != NULL) {
        put(b, t->dacc, rows * dp * sizeof(float));
        for (uint32_t r = 0; r < rows; r++)
            put(b, trove__meta(t, r) + TROVE__BDACC, sizeof(float));
    }
    sec_end(b, at);
}

static void put_csr(wbuf *b, uint32_t tag, const trove_csr *c)
{
    size_t at = sec_begin(b, tag);
    put_u64(b, c->nnz);
    put_u32(b, c->data != NULL);
    put_u32(b, 0);
    put(b, c->indptr, ((size_t)c->n_rows + 1) * sizeof(uint64_t));
    put(b, c->indices, c->nnz * sizeof(uint32_t));
    if (c->data != NULL)
        put(b, c->data, c->nnz * sizeof(float));
    sec_end(b, at);
}

static void put_idmap(wbuf *b, uint32_t tag, const trove_idmap *m)
{
    size_t at = sec_begin(b, tag);
    put_u32(b, m != NULL);
    put_u32(b, m ? trove_idmap_size(m) : 0);
    for (uint32_t i = 0; m && i < trove_idmap_size(m); i++) {
        size_t len;
        const char *s = trove_idmap_name(m, i, &len);
        put_u32(b, (uint32_t)len);
        put(b, s, len);
    }
    sec_end(b, at);
}

static void header_fill(const trove_model *m, unsigned char *h, uint64_t payload_len,
                        uint64_t payload_sum)
{
    uint32_t flags = (m->p.user_identity ? FLAG_USER_IDENTITY : 0) |
                     (m->p.item_identity ? FLAG_ITEM_IDENTITY : 0) |
                     (m->p.learning_schedule == TROVE_SCHEDULE_ADADELTA ? FLAG_ADADELTA_STATE : 0);
    uint32_t u32[20];
    float f32[5];
    uint64_t u64[5];
    memset(h, 0, HEADER_SIZE);
    memcpy(h, MAGIC, 8);
    u32[0] = TROVE_MODEL_FORMAT_VERSION;
    u32[1] = HEADER_SIZE;
    memcpy(h + 8, u32, 8);
    memcpy(h + 16, &payload_len, 8);
    memcpy(h + 24, &payload_sum, 8);
    u32[0] = m->dim;
    u32[1] = m->dp;
    u32[2] = m->n_users;
    u32[3] = m->n_items;
    u32[4] = m->n_user_features;
    u32[5] = m->n_item_features;
    u32[6] = (uint32_t)m->p.loss;
    u32[7] = (uint32_t)m->p.learning_schedule;
    u32[8] = flags;
    u32[9] = (uint32_t)m->p.item_cold_fallback;
    memcpy(h + 32, u32, 40);
    f32[0] = m->p.learning_rate;
    f32[1] = m->p.rho;
    f32[2] = m->p.epsilon;
    f32[3] = m->p.item_alpha;
    f32[4] = m->p.user_alpha;
    memcpy(h + 72, f32, 20);
    u32[0] = m->p.max_sampled;
    u32[1] = m->p.k;
    u32[2] = m->p.n;
    u32[3] = m->p.num_threads;
    memcpy(h + 92, u32, 16);
    u64[0] = m->p.seed;
    u64[1] = m->epochs_done;
    u64[2] = m->examples_done;
    u64[3] = m->fingerprint;
    memcpy(h + 112, u64, 32);
    memcpy(h + 144, m->rng.s, 32);
    uint64_t hs = trove_hash64(h, HEADER_CHECKSUM_AT, 0);
    memcpy(h + HEADER_CHECKSUM_AT, &hs, 8);
}

int trove_model_save_buffer(const trove_model *m, unsigned char **bytes, size_t *len,
                            trove_error *err)
{
    wbuf b = {NULL, 0, 0, 0};
    unsigned char h[HEADER_SIZE];
    int rc = TROVE_OK;

    if (m == NULL || !m->shaped || !m->trained)
        return trove_error_set(err, TROVE_EINVAL, "the model is not trained");
    /* The header goes in front once the payload and its checksum exist. */
    memset(h, 0, sizeof h);
    put(&b, h, HEADER_SIZE);
    put_table(&b, SEC_USER_ID_TABLE, &m->uid, m->dp);
    put_table(&b, SEC_USER_FEAT_TABLE, &m->ufeat, m->dp);
    put_table(&b, SEC_ITEM_ID_TABLE, &m->iid, m->dp);
    put_table(&b, SEC_ITEM_FEAT_TABLE, &m->ifeat, m->dp);
    put_csr(&b, SEC_USER_FEATURES, &m->ufm);
    put_csr(&b, SEC_ITEM_FEATURES, &m->ifm);
    {
        size_t at = sec_begin(&b, SEC_ITEM_COUNTS);
        put(&b, m->item_count, (size_t)m->n_items * sizeof(uint32_t));
        sec_end(&b, at);
    }
    put_idmap(&b, SEC_USER_IDS, m->user_ids);
    put_idmap(&b, SEC_ITEM_IDS, m->item_ids);
    put_idmap(&b, SEC_USER_FEATURE_NAMES, m->ufeat_names);
    put_idmap(&b, SEC_ITEM_FEATURE_NAMES, m->ifeat_names);
    if (b.oom) {
        rc = trove_error_set(err, TROVE_ENOMEM, "out of memory serialising the model");
        trove_free(b.p);
        return rc;
    }
    header_fill(m, b.p, b.len - HEADER_SIZE,
                trove_hash64(b.p + HEADER_SIZE, b.len - HEADER_SIZE, 0));
    *bytes = b.p;
    *len = b.len;
    return TROVE_OK;
}

int trove_model_save(const trove_model *m, const char *path, trove_error *err)
{
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc = trove_model_save_buffer(m, &bytes, &len, err);
    return trove__file_save_encoded(path, rc, bytes, len, err);
}

/* ------------------------------------------------------------- reading */
typedef struct rbuf {
    const unsigned char *p;
    size_t len, pos;
} rbuf;

static int get(rbuf *r, void *dst, size_t n)
{
    if (n == 0)
        return 0;
    if (n > r->len - r->pos)
        return -1;
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

/* A buffer shorter than the header: a truncated model if it starts with the
 * magic, otherwise not a model file at all. */
static int check_length(const char *name, const unsigned char *buf, size_t len,
                        trove_error *err)
{
    if (len >= HEADER_SIZE)
        return TROVE_OK;
    if (len >= 8 && memcmp(buf, MAGIC, 8) == 0)
        return trove_error_set(err, TROVE_ECORRUPT,
                               "%s: %zu bytes: truncated model file (the header alone is %u)",
                               name, len, HEADER_SIZE);
    return trove_error_set(err, TROVE_EFORMAT, "%s: not a trove model file", name);
}

/* The whole file; a missing file is TROVE_EIO like any other open failure
 * (the documented contract of load and inspect). */
static int read_file(const char *path, unsigned char **out, size_t *len, trove_error *err)
{
    int rc = trove__file_read_all(path, SIZE_MAX, out, len, err);
    if (rc == TROVE_ENOTFOUND) {
        rc = TROVE_EIO;
        if (err != NULL)
            err->code = TROVE_EIO;
    }
    return rc;
}

/* Parse and validate the header; fills info. */
static int parse_header(const char *path, const unsigned char *h, size_t file_len,
                        trove_model_info *info, uint32_t *dp, uint32_t *flags, trove_rng *rng,
                        trove_error *err)
{
    uint32_t u32[20];
    float f32[5];
    uint64_t u64[5], hs;
    trove_model_params p = trove_model_default_params();

    if (memcmp(h, MAGIC, 8) != 0)
        return trove_error_set(err, TROVE_EFORMAT, "%s: not a trove model file (bad magic)", path);
    memcpy(u32, h + 8, 8);
    memcpy(&hs, h + HEADER_CHECKSUM_AT, 8);
    if (u32[0] > TROVE_MODEL_FORMAT_VERSION && u32[0] < 0x10000)
        return trove_error_set(err, TROVE_EVERSION,
                               "%s: model format version %u is newer than this trove supports "
                               "(%d); upgrade trove", path, u32[0], TROVE_MODEL_FORMAT_VERSION);
    if (hs != trove_hash64(h, HEADER_CHECKSUM_AT, 0))
        return trove_error_set(err, TROVE_ECORRUPT, "%s: header checksum mismatch (corrupted)",
                               path);
    if (u32[0] == 0 || u32[0] > TROVE_MODEL_FORMAT_VERSION || u32[1] != HEADER_SIZE)
        return trove_error_set(err, TROVE_EFORMAT, "%s: unsupported format version %u", path,
                               u32[0]);
    memset(info, 0, sizeof *info);
    info->format_version = u32[0];
    memcpy(&info->payload_bytes, h + 16, 8);
    memcpy(&info->checksum, h + 24, 8);
    if (info->payload_bytes != file_len - HEADER_SIZE)
        return trove_error_set(err, TROVE_ECORRUPT,
                               "%s: truncated or padded: the header announces %llu payload bytes, "
                               "the file has %llu", path,
                               (unsigned long long)info->payload_bytes,
                               (unsigned long long)(file_len - HEADER_SIZE));
    memcpy(u32, h + 32, 40);
    info->dim = u32[0];
    *dp = u32[1];
    info->n_users = u32[2];
    info->n_items = u32[3];
    info->n_user_features = u32[4];
    info->n_item_features = u32[5];
    p.no_components = u32[0];
    p.loss = (int)u32[6];
    p.learning_schedule = (int)u32[7];
    *flags = u32[8];
    p.item_cold_fallback = (int)u32[9];
    memcpy(f32, h + 72, 20);
    p.learning_rate = f32[0];
    p.rho = f32[1];
    p.epsilon = f32[2];
    p.item_alpha = f32[3];
    p.user_alpha = f32[4];
    memcpy(u32, h + 92, 16);
    p.max_sampled = u32[0];
    p.k = u32[1];
    p.n = u32[2];
    p.num_threads = u32[3];
    memcpy(u64, h + 112, 32);
    p.seed = u64[0];
    info->epochs_trained = u64[1];
    info->examples_trained = u64[2];
    info->data_fingerprint = u64[3];
    memcpy(rng->s, h + 144, 32);
    p.user_identity = (*flags & FLAG_USER_IDENTITY) != 0;
    p.item_identity = (*flags & FLAG_ITEM_IDENTITY) != 0;
    info->user_identity = p.user_identity;
    info->item_identity = p.item_identity;
    info->has_optimizer_state = 1;
    info->params = p;
    if (trove_model_check_params(&p, NULL) != TROVE_OK)
        return trove_error_set(err, TROVE_EFORMAT, "%s: invalid hyperparameters in the header",
                               path);
    if (*dp != trove__model_dp(info->dim))
        return trove_error_set(err, TROVE_EFORMAT, "%s: padded dimension %u does not match %u",
                               path, *dp, info->dim);
    if (((*flags & FLAG_ADADELTA_STATE) != 0) != (p.learning_schedule == TROVE_SCHEDULE_ADADELTA))
        return trove_error_set(err, TROVE_EFORMAT, "%s: optimiser state flag mismatch", path);
    return TROVE_OK;
}

static int sec_open(rbuf *r, uint32_t tag, uint64_t *len)
{
    uint32_t t[2];
    if (get(r, t, 8) != 0 || get(r, len, 8) != 0)
        return -1;
    if (t[0] != tag || *len > r->len - r->pos)
        return -1;
    return 0;
}

/* One float per row into slot `which` of the rows' metadata. */
static int get_meta(rbuf *r, trove__table *t, uint32_t rows, int which)
{
    for (uint32_t x = 0; x < rows; x++)
        if (get(r, trove__meta(t, x) + which, sizeof(float)) != 0)
            return -1;
    return 0;
}

static int get_table(trove_model *m, rbuf *r, uint32_t tag, trove__table *t, uint32_t rows)
{
    uint64_t len, want;
    size_t dp = m->dp;
    int ada = m->p.learning_schedule == TROVE_SCHEDULE_ADADELTA;
    int rowwise = m->p.learning_schedule == TROVE_SCHEDULE_ADAGRAD_ROWWISE;
    if (sec_open(r, tag, &len) != 0)
        return TROVE_ECORRUPT;
    if (rowwise)
        want = (uint64_t)rows * (dp + 3) * sizeof(float);
    else
        want = (uint64_t)rows * (dp + 1) * sizeof(float) * (ada ? 3u : 2u);
    if (len != want)
        return TROVE_ECORRUPT;
    if (rows == 0)
        return TROVE_OK;
    /* Allocate through the normal path (initialises, then overwritten). */
    if (trove__model_table_resize(m, t, rows) != TROVE_OK)
        return TROVE_ENOMEM;
    if (get(r, t->emb, rows * dp * sizeof(float)) || get_meta(r, t, rows, TROVE__BIAS) ||
        (rowwise ? get_meta(r, t, rows, TROVE__RACC)
                 : get(r, t->acc, rows * dp * sizeof(float))) ||
        get_meta(r, t, rows, TROVE__BACC))
        return TROVE_ECORRUPT;
    if (ada && (get(r, t->dacc, rows * dp * sizeof(float)) || get_meta(r, t, rows, TROVE__BDACC)))
        return TROVE_ECORRUPT;
    for (size_t x = 0; x < rows * dp; x++)
        if (!isfinite(t->emb[x]) || (!rowwise && !isfinite(t->acc[x])) ||
            (x % dp >= m->dim && t->emb[x] != 0.0f))
            return TROVE_ECORRUPT;
    for (size_t x = 0; x < rows; x++) {
        const float *mt = trove__meta(t, (uint32_t)x);
        if (!isfinite(mt[TROVE__BIAS]) || !isfinite(mt[TROVE__BACC]) ||
            (rowwise && !(isfinite(mt[TROVE__RACC]) && mt[TROVE__RACC] > 0.0f)))
            return TROVE_ECORRUPT;
    }
    return TROVE_OK;
}

static int get_csr(rbuf *r, uint32_t tag, uint32_t n_rows, uint32_t n_cols, trove_csr *out,
                   trove_error *err)
{
    uint64_t len, nnz;
    uint32_t has_data[2];
    trove_csr c;
    int rc = TROVE_ECORRUPT;
    size_t start;
    memset(&c, 0, sizeof c);
    if (sec_open(r, tag, &len) != 0 || len < 16)
        return TROVE_ECORRUPT;
    start = r->pos;
    if (get(r, &nnz, 8) || get(r, has_data, 8) || has_data[0] > 1)
        return TROVE_ECORRUPT;
    if (len != 16 + ((uint64_t)n_rows + 1) * 8 + nnz * 4 * (1 + has_data[0]))
        return TROVE_ECORRUPT;
    c.n_rows = n_rows;
    c.n_cols = n_cols;
    c.nnz = nnz;
    c.indptr = trove_malloc(((size_t)n_rows + 1) * sizeof(uint64_t));
    if (c.indptr == NULL)
        return TROVE_ENOMEM;
    if (nnz > 0) {
        c.indices = trove_malloc(nnz * sizeof(uint32_t));
        if (c.indices == NULL) {
            rc = TROVE_ENOMEM;
            goto fail;
        }
        if (has_data[0]) {
            c.data = trove_malloc(nnz * sizeof(float));
            if (c.data == NULL) {
                rc = TROVE_ENOMEM;
                goto fail;
            }
        }
    }
    if (get(r, c.indptr, ((size_t)n_rows + 1) * 8) || get(r, c.indices, nnz * 4) ||
        (c.data && get(r, c.data, nnz * 4)) || r->pos - start != len)
        goto fail;
    {
        trove_error e2;
        if (trove_csr_validate(&c, "features", &e2) != TROVE_OK) {
            rc = trove_error_set(err, TROVE_ECORRUPT, "%s", e2.msg);
            goto fail;
        }
        *out = c;
    }
    return TROVE_OK;
fail:
    trove_csr_destroy(&c);
    return rc;
}

static int get_idmap(rbuf *r, uint32_t tag, uint32_t want, trove_idmap **out)
{
    uint64_t len;
    uint32_t hdr[2];
    trove_idmap *m = NULL;
    size_t start;
    if (sec_open(r, tag, &len) != 0 || len < 8)
        return TROVE_ECORRUPT;
    start = r->pos;
    if (get(r, hdr, 8) || hdr[0] > 1 || (hdr[0] && hdr[1] != want) || (!hdr[0] && hdr[1]))
        return TROVE_ECORRUPT;
    if (hdr[0]) {
        m = trove_idmap_new();
        if (m == NULL)
            return TROVE_ENOMEM;
        for (uint32_t i = 0; i < hdr[1]; i++) {
            uint32_t l, idx;
            int added = 0, rc;
            if (get(r, &l, 4) || l > r->len - r->pos) {
                trove_idmap_free(m);
                return TROVE_ECORRUPT;
            }
            rc = trove_idmap_intern(m, (const char *)r->p + r->pos, l, &idx, &added);
            r->pos += l;
            if (rc != TROVE_OK || !added || idx != i) {
                trove_idmap_free(m);
                return rc == TROVE_ENOMEM ? TROVE_ENOMEM : TROVE_ECORRUPT;
            }
        }
    }
    if (r->pos - start != len) {
        trove_idmap_free(m);
        return TROVE_ECORRUPT;
    }
    *out = m;
    return TROVE_OK;
}

int trove_model_load(const char *path, trove_model **out, trove_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err);
    if (rc != TROVE_OK)
        return rc;
    rc = trove_model_load_buffer(buf, len, path, out, err);
    trove_free(buf);
    return rc;
}

int trove_model_load_buffer(const unsigned char *buf, size_t len, const char *name,
                            trove_model **out, trove_error *err)
{
    trove_model_info info;
    trove_model *m = NULL;
    uint32_t dp, flags;
    trove_rng rng;
    rbuf r;
    int rc;
    const char *stage = "";
    const char *path = name != NULL ? name : "model";

    if ((rc = check_length(path, buf, len, err)) != TROVE_OK)
        return rc;
    rc = parse_header(path, buf, len, &info, &dp, &flags, &rng, err);
    if (rc != TROVE_OK)
        goto out;
    if (trove_hash64(buf + HEADER_SIZE, len - HEADER_SIZE, 0) != info.checksum) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: payload checksum mismatch (corrupted)",
                             path);
        goto out;
    }
    rc = trove_model_new(&info.params, info.n_user_features, info.n_item_features, &m, err);
    if (rc != TROVE_OK)
        goto out;
    m->n_users = info.n_users;
    m->n_items = info.n_items;
    r.p = buf + HEADER_SIZE;
    r.len = len - HEADER_SIZE;
    r.pos = 0;
#define STEP(what, call)                                                       \
    do {                                                                       \
        stage = what;                                                          \
        if ((rc = (call)) != TROVE_OK)                                         \
            goto bad;                                                          \
    } while (0)
    STEP("user identity table", get_table(m, &r, SEC_USER_ID_TABLE, &m->uid,
                                          m->p.user_identity ? m->n_users : 0));
    STEP("user feature table", get_table(m, &r, SEC_USER_FEAT_TABLE, &m->ufeat,
                                         m->n_user_features));
    STEP("item identity table", get_table(m, &r, SEC_ITEM_ID_TABLE, &m->iid,
                                          m->p.item_identity ? m->n_items : 0));
    STEP("item feature table", get_table(m, &r, SEC_ITEM_FEAT_TABLE, &m->ifeat,
                                         m->n_item_features));
    STEP("user features", get_csr(&r, SEC_USER_FEATURES, m->n_users, m->n_user_features,
                                  &m->ufm, NULL));
    STEP("item features", get_csr(&r, SEC_ITEM_FEATURES, m->n_items, m->n_item_features,
                                  &m->ifm, NULL));
    {
        uint64_t l;
        stage = "item counts";
        if (sec_open(&r, SEC_ITEM_COUNTS, &l) != 0 || l != (uint64_t)m->n_items * 4) {
            rc = TROVE_ECORRUPT;
            goto bad;
        }
        m->item_count = trove_calloc(m->n_items ? m->n_items : 1, sizeof(uint32_t));
        if (m->item_count == NULL) {
            rc = TROVE_ENOMEM;
            goto bad;
        }
        if (get(&r, m->item_count, (size_t)l) != 0) {
            rc = TROVE_ECORRUPT;
            goto bad;
        }
    }
    STEP("user ids", get_idmap(&r, SEC_USER_IDS, m->n_users, &m->user_ids));
    STEP("item ids", get_idmap(&r, SEC_ITEM_IDS, m->n_items, &m->item_ids));
    STEP("user feature names", get_idmap(&r, SEC_USER_FEATURE_NAMES, m->n_user_features,
                                         &m->ufeat_names));
    STEP("item feature names", get_idmap(&r, SEC_ITEM_FEATURE_NAMES, m->n_item_features,
                                         &m->ifeat_names));
#undef STEP
    stage = "end of payload";
    if (r.pos != r.len) {
        rc = TROVE_ECORRUPT;
        goto bad;
    }
    /* Restored last: allocating the tables drew from the seeded stream. */
    m->rng = rng;
    m->shaped = 1;
    m->trained = 1;
    m->epochs_done = info.epochs_trained;
    m->examples_done = info.examples_trained;
    m->fingerprint = info.data_fingerprint;
    stage = "item representations";
    if ((rc = trove__model_refresh(m)) != TROVE_OK)
        goto bad;
    *out = m;
    m = NULL;
    goto out;
bad:
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, TROVE_ENOMEM, "%s: out of memory loading the %s", path, stage);
    else
        trove_error_set(err, TROVE_ECORRUPT, "%s: corrupted %s section", path, stage);
out:
    trove_model_free(m);
    return rc;
}

int trove_model_inspect(const char *path, trove_model_info *out, trove_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    trove_model_info info;
    uint32_t dp, flags;
    trove_rng rng;
    int rc = read_file(path, &buf, &len, err);
    if (rc != TROVE_OK)
        return rc;
    rc = check_length(path, buf, len, err);
    if (rc == TROVE_OK)
        rc = parse_header(path, buf, len, &info, &dp, &flags, &rng, err);
    if (rc == TROVE_OK) {
        rbuf r = {buf + HEADER_SIZE, len - HEADER_SIZE, 0};
        uint64_t l;
        uint32_t hdr[2];
        info.checksum_ok =
            trove_hash64(buf + HEADER_SIZE, len - HEADER_SIZE, 0) == info.checksum;
        /* has_ids: the user-ids section is present and non-empty. */
        if (info.checksum_ok) {
            for (uint32_t tag = SEC_USER_ID_TABLE; tag < SEC_USER_IDS; tag++) {
                if (sec_open(&r, tag, &l) != 0)
                    break;
                r.pos += l;
            }
            if (sec_open(&r, SEC_USER_IDS, &l) == 0 && get(&r, hdr, 8) == 0)
                info.has_ids = hdr[0] == 1;
        }
        *out = info;
    }
    trove_free(buf);
    return rc;
}
