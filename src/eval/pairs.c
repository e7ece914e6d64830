/*
 * pairs.c - reading a test pairs file onto the id universe of a training
 * set. Unlike the dataset loader, which rejects ids outside a fixed
 * universe, evaluation must survive them: test pairs naming an unknown user
 * or item are counted (and reported by the caller), never fatal.
 * Invariant of the output: a binary CSR, rows ascending, columns strictly
 * ascending within a row, one entry per distinct (user, item).
 */
#include "eval_int.h"
#include "data/reader.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int trove_eval_load_pairs(const char *path, const trove_idmap *users,
                          const trove_idmap *items, trove_csr *out,
                          trove_eval_load_stats *stats, trove_error *err)
{
    trove__reader *rd = NULL;
    trove_eval_load_stats st;
    uint64_t *pairs = NULL, n = 0, cap = 0, kept = 0;
    trove_csr m;
    char *line;
    size_t len;
    int rc;

    memset(&st, 0, sizeof st);
    memset(&m, 0, sizeof m);
    if (path == NULL || users == NULL || items == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "load pairs: missing argument");
    rc = trove__reader_open(path, &rd, err);
    if (rc != TROVE_OK)
        goto done;
    while ((rc = trove__reader_next(rd, &line, &len, err)) == 1) {
        char *tab, *item, *end;
        if (len == 0)
            continue;
        st.lines++;
        tab = memchr(line, '\t', len);
        if (tab == NULL) {
            rc = trove_error_set(err, TROVE_EFORMAT,
                                 "%s:%llu: expected user<TAB>item", path,
                                 (unsigned long long)trove__reader_lineno(rd));
            goto done;
        }
        item = tab + 1;
        end = memchr(item, '\t', len - (size_t)(item - line));
        if (end == NULL)
            end = line + len;
        int64_t u = trove_idmap_find(users, line, (size_t)(tab - line));
        if (u < 0) {
            st.unknown_user++;
            continue;
        }
        int64_t i = trove_idmap_find(items, item, (size_t)(end - item));
        if (i < 0) {
            st.unknown_item++;
            continue;
        }
        if (n == cap) {
            uint64_t nc = cap ? cap * 2 : 4096;
            uint64_t *g = trove_realloc(pairs, nc * sizeof *g);
            if (g == NULL) {
                rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
                goto done;
            }
            pairs = g;
            cap = nc;
        }
        pairs[n++] = ((uint64_t)u << 32) | (uint64_t)i;
    }
    if (rc < 0)
        goto done;
    if (n > 0)
        qsort(pairs, n, sizeof *pairs, cmp_u64);
    for (uint64_t q = 0; q < n; q++)
        if (q == 0 || pairs[q] != pairs[q - 1])
            pairs[kept++] = pairs[q];
    st.duplicates = n - kept;
    st.pairs = kept;
    m.n_rows = trove_idmap_size(users);
    m.n_cols = trove_idmap_size(items);
    m.nnz = kept;
    m.indptr = trove_calloc((size_t)m.n_rows + 1, sizeof *m.indptr);
    m.indices = trove_malloc((kept ? kept : 1) * sizeof *m.indices);
    if (m.indptr == NULL || m.indices == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (uint64_t q = 0; q < kept; q++) {
        m.indptr[(pairs[q] >> 32) + 1]++;
        m.indices[q] = (uint32_t)pairs[q];
    }
    for (uint32_t r = 0; r < m.n_rows; r++)
        m.indptr[r + 1] += m.indptr[r];
    *out = m;
    memset(&m, 0, sizeof m);
    if (stats != NULL)
        *stats = st;
    rc = TROVE_OK;
done:
    trove_free(m.indptr);
    trove_free(m.indices);
    trove_free(pairs);
    trove__reader_close(rd);
    return rc;
}
