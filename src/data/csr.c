/*
 * csr.c - compressed sparse row matrices: building from coordinates,
 * transposing, membership tests, copies and structural validation.
 *
 * Building sorts the triples with two stable counting sorts (least
 * significant key first: by column, then by row), which is O(n + rows +
 * cols) and keeps entries with the same (row, col) in input order, so
 * TROVE_DUP_LAST can mean "the last one added". Duplicates are then merged
 * in one pass. Every CSR built here has strictly ascending columns within a
 * row and an allocated data array (weights are never left implicit), and
 * its arrays are allocated even when empty, so consumers never see NULL
 * indptr.
 */
#include "data/dataset_int.h"

#include <math.h>
#include <string.h>

void trove_csr_destroy(trove_csr *m)
{
    if (m == NULL)
        return;
    trove_free(m->indptr);
    trove_free(m->indices);
    trove_free(m->data);
    memset(m, 0, sizeof *m);
}

/* Allocate the three arrays for n_rows rows and nnz entries (at least one
 * element each so that empty matrices are distinguishable from failures). */
static int csr_alloc(trove_csr *m, uint32_t n_rows, uint32_t n_cols, uint64_t nnz)
{
    memset(m, 0, sizeof *m);
    m->indptr = trove_calloc((size_t)n_rows + 1, sizeof *m->indptr);
    m->indices = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *m->indices);
    m->data = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *m->data);
    if (m->indptr == NULL || m->indices == NULL || m->data == NULL) {
        trove_csr_destroy(m);
        return TROVE_ENOMEM;
    }
    m->n_rows = n_rows;
    m->n_cols = n_cols;
    m->nnz = nnz;
    return TROVE_OK;
}

int trove_csr_copy(const trove_csr *in, trove_csr *out, trove_error *err)
{
    trove_csr m;
    if (csr_alloc(&m, in->n_rows, in->n_cols, in->nnz) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM,
                               "copying a %u x %u sparse matrix: out of memory",
                               in->n_rows, in->n_cols);
    if (in->indptr != NULL)
        memcpy(m.indptr, in->indptr, ((size_t)in->n_rows + 1) * sizeof *m.indptr);
    if (in->nnz > 0) {
        memcpy(m.indices, in->indices, (size_t)in->nnz * sizeof *m.indices);
        if (in->data != NULL) {
            memcpy(m.data, in->data, (size_t)in->nnz * sizeof *m.data);
        } else {
            for (uint64_t k = 0; k < in->nnz; k++)
                m.data[k] = 1.0f;
        }
    }
    *out = m;
    return TROVE_OK;
}

int trove_csr_validate(const trove_csr *m, const char *what, trove_error *err)
{
    if (m->indptr == NULL) {
        if (m->n_rows == 0 && m->nnz == 0)
            return TROVE_OK;
        return trove_error_set(err, TROVE_EINVAL, "%s: malformed CSR (no indptr)", what);
    }
    if (m->indptr[0] != 0 || m->indptr[m->n_rows] != m->nnz)
        return trove_error_set(err, TROVE_EINVAL,
                               "%s: malformed CSR (indptr must run from 0 to nnz=%llu)",
                               what, (unsigned long long)m->nnz);
    if (m->nnz > 0 && m->indices == NULL)
        return trove_error_set(err, TROVE_EINVAL, "%s: malformed CSR (no indices)", what);
    for (uint32_t r = 0; r < m->n_rows; r++) {
        uint64_t b = m->indptr[r], e = m->indptr[r + 1];
        if (e < b || e > m->nnz)
            return trove_error_set(err, TROVE_EINVAL, "%s: row %u: indptr is not monotone",
                                   what, r);
        for (uint64_t j = b; j < e; j++) {
            uint32_t c = m->indices[j];
            if (c >= m->n_cols)
                return trove_error_set(err, TROVE_EINVAL,
                                       "%s: row %u: column %u out of range (%u columns)",
                                       what, r, c, m->n_cols);
            if (j > b && c <= m->indices[j - 1])
                return trove_error_set(err, TROVE_EINVAL,
                                       "%s: row %u: columns not strictly ascending at %u",
                                       what, r, c);
            if (m->data != NULL && !isfinite(m->data[j]))
                return trove_error_set(err, TROVE_EINVAL,
                                       "%s: row %u, column %u: weight is not finite",
                                       what, r, c);
        }
    }
    return TROVE_OK;
}

int trove__data_csr_from_coo_ts(uint32_t n_rows, uint32_t n_cols,
                           const uint32_t *rows, const uint32_t *cols,
                           const float *vals, const int64_t *ts, uint64_t n,
                           int dup_policy, trove_csr *out, int64_t **ts_out,
                           trove_error *err)
{
    uint64_t *cnt = NULL, *by_col = NULL, *order = NULL;
    int64_t *ts_new = NULL;
    trove_csr m;
    uint64_t nnz = 0;
    int rc = TROVE_OK;

    memset(&m, 0, sizeof m);
    if (dup_policy != TROVE_DUP_SUM && dup_policy != TROVE_DUP_MAX &&
        dup_policy != TROVE_DUP_LAST)
        return trove_error_set(err, TROVE_EINVAL, "unknown duplicate policy %d",
                               dup_policy);
    for (uint64_t i = 0; i < n; i++) {
        if (rows[i] >= n_rows)
            return trove_error_set(err, TROVE_EINVAL,
                                   "entry %llu: row %u out of range (%u rows)",
                                   (unsigned long long)i, rows[i], n_rows);
        if (cols[i] >= n_cols)
            return trove_error_set(err, TROVE_EINVAL,
                                   "entry %llu: column %u out of range (%u columns)",
                                   (unsigned long long)i, cols[i], n_cols);
        if (vals != NULL && !isfinite(vals[i]))
            return trove_error_set(err, TROVE_EINVAL,
                                   "entry %llu: weight is not a finite number",
                                   (unsigned long long)i);
    }

    {
        size_t n_cnt = (size_t)(n_rows > n_cols ? n_rows : n_cols) + 1;
        cnt = trove_calloc(n_cnt, sizeof *cnt);
        by_col = trove_malloc((n ? (size_t)n : 1) * sizeof *by_col);
        order = trove_malloc((n ? (size_t)n : 1) * sizeof *order);
        if (cnt == NULL || by_col == NULL || order == NULL)
            goto nomem;
    }

    /* pass 1: stable counting sort by column */
    for (uint64_t i = 0; i < n; i++)
        cnt[cols[i] + 1]++;
    for (uint32_t c = 0; c < n_cols; c++)
        cnt[c + 1] += cnt[c];
    for (uint64_t i = 0; i < n; i++)
        by_col[cnt[cols[i]]++] = i;

    /* pass 2: stable counting sort by row; (row, col) order results */
    memset(cnt, 0, ((size_t)n_rows + 1) * sizeof *cnt);
    for (uint64_t i = 0; i < n; i++)
        cnt[rows[i] + 1]++;
    for (uint32_t r = 0; r < n_rows; r++)
        cnt[r + 1] += cnt[r];
    for (uint64_t j = 0; j < n; j++) {
        uint64_t i = by_col[j];
        order[cnt[rows[i]]++] = i;
    }
    trove_free(by_col);
    by_col = NULL;

    for (uint64_t j = 0; j < n; j++) {
        uint64_t i = order[j], p = j ? order[j - 1] : 0;
        if (j == 0 || rows[i] != rows[p] || cols[i] != cols[p])
            nnz++;
    }
    if (csr_alloc(&m, n_rows, n_cols, nnz) != TROVE_OK)
        goto nomem;
    if (ts != NULL) {
        ts_new = trove_malloc((nnz ? (size_t)nnz : 1) * sizeof *ts_new);
        if (ts_new == NULL)
            goto nomem;
    }

    /* merge runs of equal (row, col) */
    {
        uint64_t k = 0, j = 0;
        while (j < n) {
            uint64_t i = order[j];
            uint32_t r = rows[i], c = cols[i];
            double acc = vals ? (double)vals[i] : 1.0;
            int64_t t = ts ? ts[i] : 0;
            for (j++; j < n && rows[order[j]] == r && cols[order[j]] == c; j++) {
                uint64_t d = order[j];
                double v = vals ? (double)vals[d] : 1.0;
                if (dup_policy == TROVE_DUP_SUM)
                    acc += v;
                else if (dup_policy == TROVE_DUP_MAX)
                    acc = v > acc ? v : acc;
                else
                    acc = v;
                if (ts && ts[d] > t)
                    t = ts[d];
            }
            m.indices[k] = c;
            m.data[k] = (float)acc;
            if (ts_new)
                ts_new[k] = t;
            m.indptr[r + 1]++;
            k++;
        }
        for (uint32_t r = 0; r < n_rows; r++)
            m.indptr[r + 1] += m.indptr[r];
    }

    *out = m;
    if (ts_out != NULL)
        *ts_out = ts_new;
    else
        trove_free(ts_new);
    ts_new = NULL;
    memset(&m, 0, sizeof m);
    goto done;

nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "building a %u x %u sparse matrix "
                         "from %llu entries: out of memory", n_rows, n_cols,
                         (unsigned long long)n);
done:
    trove_csr_destroy(&m);
    trove_free(ts_new);
    trove_free(cnt);
    trove_free(by_col);
    trove_free(order);
    return rc;
}

int trove_csr_from_coo(uint32_t n_rows, uint32_t n_cols, const uint32_t *rows,
                       const uint32_t *cols, const float *vals, uint64_t n,
                       int dup_policy, trove_csr *out, trove_error *err)
{
    return trove__data_csr_from_coo_ts(n_rows, n_cols, rows, cols, vals, NULL, n,
                                  dup_policy, out, NULL, err);
}

int trove_csr_transpose(const trove_csr *in, trove_csr *out, trove_error *err)
{
    trove_csr t;
    uint64_t *next = NULL;
    int rc = TROVE_OK;

    if (csr_alloc(&t, in->n_cols, in->n_rows, in->nnz) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM,
                               "transposing a %u x %u sparse matrix: out of memory",
                               in->n_rows, in->n_cols);
    next = trove_malloc(((size_t)in->n_cols + 1) * sizeof *next);
    if (next == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM,
                             "transposing a %u x %u sparse matrix: out of memory",
                             in->n_rows, in->n_cols);
        goto fail;
    }
    for (uint64_t k = 0; k < in->nnz; k++)
        t.indptr[in->indices[k] + 1]++;
    for (uint32_t c = 0; c < in->n_cols; c++)
        t.indptr[c + 1] += t.indptr[c];
    memcpy(next, t.indptr, ((size_t)in->n_cols + 1) * sizeof *next);
    /* rows are visited in ascending order, so each transposed row receives
     * ascending column indices */
    for (uint32_t r = 0; r < in->n_rows; r++) {
        for (uint64_t k = in->indptr[r]; k < in->indptr[r + 1]; k++) {
            uint64_t dst = next[in->indices[k]]++;
            t.indices[dst] = r;
            t.data[dst] = in->data ? in->data[k] : 1.0f;
        }
    }
    trove_free(next);
    *out = t;
    return TROVE_OK;
fail:
    trove_csr_destroy(&t);
    return rc;
}

int trove_csr_contains(const trove_csr *m, uint32_t r, uint32_t c)
{
    uint64_t lo, hi;
    if (r >= m->n_rows)
        return 0;
    lo = m->indptr[r];
    hi = m->indptr[r + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint32_t v = m->indices[mid];
        if (v == c)
            return 1;
        if (v < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}
