/*
 * common.c - pieces shared by the iALS and EASE models: CSR checks, top-k
 * padding, and model-file encoding. Threads come from core/threads.h.
 *
 * Model files are built in memory and written with trove__file_write_atomic
 * (core/file.h), so a reader sees either the old file or the complete new
 * one. Integers and floats are stored little-endian (the only byte order
 * trove builds for; see the static assertion below).
 */
#include "factor/factor_int.h"
#include "core/threads.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "model files are little-endian");

_Noreturn void trove__factor_abort(const char *file, int line, const char *what)
{
    trove_log(TROVE_LOG_ERROR, "%s:%d: internal error: %s", file, line, what);
    abort();
}

/* ----------------------------------------------------------------- CSR */
int trove__factor_check_csr(const trove_csr *m, const char *what, trove_error *err)
{
    int rc;
    if (m == NULL)
        return trove_error_set(err, TROVE_EINVAL, "%s: missing CSR arrays", what);
    if (m->n_rows == 0 || m->n_cols == 0)
        return trove_error_set(err, TROVE_EEMPTY, "%s: empty matrix (%u x %u)",
                               what, m->n_rows, m->n_cols);
    if ((rc = trove_csr_validate(m, what, err)) != TROVE_OK || m->data == NULL)
        return rc;
    /* Confidence weights must also be non-negative (Hu et al. 2008). */
    for (uint32_t r = 0; r < m->n_rows; r++)
        for (uint64_t j = m->indptr[r]; j < m->indptr[r + 1]; j++)
            if (!(m->data[j] >= 0.0f))
                return trove_error_set(err, TROVE_EINVAL,
                                       "%s: row %u, column %u: weight %g is not a "
                                       "finite non-negative number",
                                       what, r, m->indices[j], (double)m->data[j]);
    return TROVE_OK;
}

/* --------------------------------------------------------------- top-k */
void trove__factor_topk(const float *scores, uint32_t n, uint32_t k, uint32_t *items,
                        float *out_scores)
{
    for (uint32_t j = trove__topk(scores, n, k, items, out_scores); j < k; j++) {
        items[j] = UINT32_MAX;
        out_scores[j] = -INFINITY;
    }
}

/* ---------------------------------------------------------------- files */
uint64_t trove__factor_checksum(const void *buf, size_t len)
{
    return trove_hash64(buf, len, UINT64_C(0x74726f7665666163));
}

typedef struct recommend_ctx {
    const void *model;
    trove__factor_score_block_fn score_block;
    uint32_t n_users, n_items, block, k;
    const trove_csr *exclude;
    uint32_t *items;
    float *scores;
    float *buf;                  /* per thread block x n_items */
    float *tmp_scores;           /* per thread k, when scores is NULL */
    atomic_uint next;
} recommend_ctx;

static void recommend_worker(void *arg, uint32_t t)
{
    recommend_ctx *c = arg;
    const uint32_t n_items = c->n_items;
    float *buf = c->buf + (size_t)t * c->block * n_items;
    for (;;) {
        uint32_t u0 = atomic_fetch_add(&c->next, c->block);
        if (u0 >= c->n_users)
            break;
        uint32_t nb = c->n_users - u0 < c->block ? c->n_users - u0 : c->block;
        c->score_block(c->model, u0, nb, buf);
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t u = u0 + b;
            float *row = buf + (size_t)b * n_items;
            if (c->exclude != NULL)
                for (uint64_t j = c->exclude->indptr[u]; j < c->exclude->indptr[u + 1]; j++)
                    row[c->exclude->indices[j]] = -INFINITY;
            float *os = c->scores ? c->scores + (size_t)u * c->k
                                  : c->tmp_scores + (size_t)t * c->k;
            trove__factor_topk(row, n_items, c->k, c->items + (size_t)u * c->k, os);
        }
    }
}

int trove__factor_recommend_all(const char *what, const void *model, uint32_t n_users,
                                uint32_t n_items, uint32_t block,
                                trove__factor_score_block_fn score_block,
                                const trove_csr *exclude, uint32_t k, uint32_t threads,
                                uint32_t *items, float *scores, trove_error *err)
{
    recommend_ctx c;
    int rc = TROVE_OK;
    if (model == NULL || items == NULL || k == 0)
        return trove_error_set(err, TROVE_EINVAL, "%s: need a model, an output and k > 0",
                               what);
    if (exclude != NULL) {
        char label[96];
        snprintf(label, sizeof label, "%s: exclude", what);
        rc = trove__factor_check_csr(exclude, label, err);
        if (rc != TROVE_OK)
            return rc;
        if (exclude->n_rows != n_users || exclude->n_cols != n_items)
            return trove_error_set(err, TROVE_EINVAL,
                                   "%s: exclude is %u x %u, model is %u x %u", what,
                                   exclude->n_rows, exclude->n_cols, n_users, n_items);
    }
    uint32_t n_threads = trove__threads_count(threads);
    memset(&c, 0, sizeof c);
    c.model = model;
    c.score_block = score_block;
    c.n_users = n_users;
    c.n_items = n_items;
    c.block = block;
    c.k = k;
    c.exclude = exclude;
    c.items = items;
    c.scores = scores;
    c.buf = trove_aligned_alloc(64, (size_t)n_threads * block * n_items * sizeof *c.buf);
    c.tmp_scores = trove_malloc((size_t)n_threads * k * sizeof *c.tmp_scores);
    if (c.buf == NULL || c.tmp_scores == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    atomic_store(&c.next, 0u);
    trove__parallel_for(n_threads, recommend_worker, &c);
done:
    trove_aligned_free(c.buf);
    trove_free(c.tmp_scores);
    return rc;
}

void trove__bytes_put(trove__bytes *b, const void *src, size_t n)
{
    if (b->bad || n > b->len - b->pos) {
        b->bad = 1;
        return;
    }
    memcpy(b->p + b->pos, src, n);
    b->pos += n;
}

void trove__bytes_put_u32(trove__bytes *b, uint32_t v) { trove__bytes_put(b, &v, 4); }
void trove__bytes_put_u64(trove__bytes *b, uint64_t v) { trove__bytes_put(b, &v, 8); }
void trove__bytes_put_f32(trove__bytes *b, float v) { trove__bytes_put(b, &v, 4); }

void trove__bytes_get(trove__bytes *b, void *dst, size_t n)
{
    if (b->bad || n > b->len - b->pos) {
        b->bad = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, b->p + b->pos, n);
    b->pos += n;
}

uint32_t trove__bytes_get_u32(trove__bytes *b)
{
    uint32_t v;
    trove__bytes_get(b, &v, 4);
    return v;
}

uint64_t trove__bytes_get_u64(trove__bytes *b)
{
    uint64_t v;
    trove__bytes_get(b, &v, 8);
    return v;
}

float trove__bytes_get_f32(trove__bytes *b)
{
    float v;
    trove__bytes_get(b, &v, 4);
    return v;
}
