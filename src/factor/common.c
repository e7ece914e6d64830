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
#include "kernels/kernels.h"

#include <math.h>
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
