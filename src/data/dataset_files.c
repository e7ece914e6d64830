/*
 * dataset_files.c - datasets and id universes to and from text files.
 *
 * Formats (docs/dataset.md has the full description):
 *   pairs    `user<TAB>item[<TAB>weight[<TAB>ts]]`, raw ids, blank lines
 *            skipped, gzip detected from the content;
 *   index    `index<TAB>raw_id`, indices 0..n-1 each exactly once, any order;
 *   features `raw_id<TAB>feature[<TAB>weight]`.
 * Every file is read through the line reader (reader.h), so truncated gzip
 * input is an error, and every error names file:line. Files are written to
 * a temporary name beside the target, fsync'ed and renamed into place once
 * complete (core/file.h), so a failed write or a crash never leaves a
 * partial file under the final name. Gzip output uses deflate with a gzip
 * wrapper (windowBits 31) and zlib's default header, whose mtime is 0: the
 * bytes depend on the content only.
 */
#include "core/file.h"
#include "data/dataset_int.h"
#include "data/reader.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------ line fields */

/* Split a line at tabs into at most `max` fields (in place, NUL-terminated).
 * Returns the number of fields, or max + 1 when there are more. */
static int split_tabs(char *line, size_t len, char **f, size_t *flen, int max)
{
    int n = 0;
    char *p = line, *end = line + len;
    for (;;) {
        char *tab = memchr(p, '\t', (size_t)(end - p));
        char *stop = tab ? tab : end;
        if (n == max)
            return max + 1;
        f[n] = p;
        flen[n] = (size_t)(stop - p);
        *stop = '\0';
        n++;
        if (tab == NULL)
            return n;
        p = tab + 1;
    }
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int parse_weight(const char *s, size_t len, float *out)
{
    char *end;
    double v;
    if (len == 0)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end != s + len || !isfinite(v) || errno == ERANGE || fabs(v) > 3.4e38)
        return -1;
    *out = (float)v;
    return 0;
}

static int parse_i64(const char *s, size_t len, int64_t *out)
{
    char *end;
    long long v;
    if (len == 0 || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end != s + len || errno != 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* -------------------------------------------------------------- id maps */

int trove_idmap_load(const char *path, trove_idmap **out, trove_error *err)
{
    trove__reader *r = NULL;
    trove_idmap *names = NULL, *m = NULL;
    uint32_t *idx = NULL, *where = NULL;
    uint64_t *lines = NULL;
    size_t n = 0, cap = 0;
    char *line;
    size_t len;
    int rc;

    if ((rc = trove__reader_open(path, &r, err)) != TROVE_OK)
        return rc;
    names = trove_idmap_new();
    if (names == NULL)
        goto nomem;
    while ((rc = trove__reader_next(r, &line, &len, err)) == 1) {
        char *f[2];
        size_t fl[2];
        uint64_t lineno = trove__reader_lineno(r), v;
        uint32_t j;
        int added = 0, nf;

        if (is_blank(line, len))
            continue;
        nf = split_tabs(line, len, f, fl, 2);
        if (nf != 2) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: expected "
                                 "'index<TAB>raw_id', found %s", path,
                                 (unsigned long long)lineno,
                                 nf < 2 ? "one field" : "more than two fields");
            goto fail;
        }
        if (parse_u64(f[0], fl[0], &v) != 0 || v >= UINT32_MAX - 1) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: index '%.40s' is "
                                 "not a non-negative integer", path,
                                 (unsigned long long)lineno, f[0]);
            goto fail;
        }
        if (fl[1] == 0) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: empty raw id",
                                 path, (unsigned long long)lineno);
            goto fail;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            void *p;
            if ((p = trove_realloc(idx, nc * sizeof *idx)) == NULL)
                goto nomem;
            idx = p;
            if ((p = trove_realloc(lines, nc * sizeof *lines)) == NULL)
                goto nomem;
            lines = p;
            cap = nc;
        }
        rc = trove_idmap_intern(names, f[1], fl[1], &j, &added);
        if (rc == TROVE_ENOMEM)
            goto nomem;
        if (rc != TROVE_OK) {
            trove_error_set(err, rc, "%s:%llu: too many ids", path,
                            (unsigned long long)lineno);
            goto fail;
        }
        if (!added) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: raw id '%.200s' "
                                 "already listed on line %llu", path,
                                 (unsigned long long)lineno, f[1],
                                 (unsigned long long)lines[j]);
            goto fail;
        }
        idx[n] = (uint32_t)v;
        lines[n] = lineno;
        n++;
    }
    if (rc < 0)
        goto fail;

    where = trove_malloc((n ? n : 1) * sizeof *where);
    if (where == NULL)
        goto nomem;
    memset(where, 0xff, (n ? n : 1) * sizeof *where);
    for (size_t k = 0; k < n; k++) {
        if (idx[k] >= n) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: index %u out of "
                                 "range: the file lists %zu ids, so indices must "
                                 "be 0..%zu (an index is missing)", path,
                                 (unsigned long long)lines[k], idx[k], n,
                                 n ? n - 1 : 0);
            goto fail;
        }
        if (where[idx[k]] != UINT32_MAX) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: index %u already "
                                 "given on line %llu", path,
                                 (unsigned long long)lines[k], idx[k],
                                 (unsigned long long)lines[where[idx[k]]]);
            goto fail;
        }
        where[idx[k]] = (uint32_t)k;
    }
    m = trove_idmap_new();
    if (m == NULL)
        goto nomem;
    for (size_t k = 0; k < n; k++) {
        size_t nl;
        const char *name = trove_idmap_name(names, where[k], &nl);
        uint32_t j;
        if (trove_idmap_intern(m, name, nl, &j, NULL) != TROVE_OK)
            goto nomem;
    }
    *out = m;
    m = NULL;
    rc = TROVE_OK;
    goto done;
nomem:
    rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
fail:
done:
    trove_idmap_free(m);
    trove_idmap_free(names);
    trove_free(idx);
    trove_free(lines);
    trove_free(where);
    trove__reader_close(r);
    return rc;
}

int trove_idmap_from_range(uint64_t first, uint64_t last, trove_idmap **out,
                           trove_error *err)
{
    trove_idmap *m;
    int rc = TROVE_OK;

    if (last < first)
        return trove_error_set(err, TROVE_EINVAL, "id range %llu..%llu is empty",
                               (unsigned long long)first, (unsigned long long)last);
    if (last - first >= UINT32_MAX - 2)
        return trove_error_set(err, TROVE_ERANGE, "id range %llu..%llu is too large",
                               (unsigned long long)first, (unsigned long long)last);
    m = trove_idmap_new();
    if (m == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "id range: out of memory");
    for (uint64_t v = first;; v++) {
        char buf[24];
        uint32_t j;
        int len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        if (trove_idmap_intern(m, buf, (size_t)len, &j, NULL) != TROVE_OK) {
            rc = trove_error_set(err, TROVE_ENOMEM, "id range: out of memory");
            goto fail;
        }
        if (v == last)
            break;
    }
    *out = m;
    return TROVE_OK;
fail:
    trove_idmap_free(m);
    return rc;
}

/* "A..B" with decimal A and B: 1 and the bounds; else 0. */
static int parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    const char *dots = strstr(s, "..");
    if (dots == NULL || dots == s)
        return 0;
    if (parse_u64(s, (size_t)(dots - s), a) != 0)
        return 0;
    return parse_u64(dots + 2, strlen(dots + 2), b) == 0;
}

int trove_idmap_load_spec(const char *spec, trove_idmap **out, trove_error *err)
{
    uint64_t a, b;
    if (parse_range(spec, &a, &b))
        return trove_idmap_from_range(a, b, out, err);
    return trove_idmap_load(spec, out, err);
}

/* ----------------------------------------------------------------- writer */

#define WBUF (256u * 1024u)

typedef struct writer {
    const char *path;
    char *tmp;              /* temporary name, NULL when writing stdout */
    FILE *f;
    int gzip, zs_init;
    z_stream zs;
    unsigned char *zbuf;
    char *buf;
    size_t len;
} writer;

static int writer_io_error(writer *w, trove_error *err)
{
    return trove_error_set(err, TROVE_EIO, "%s: write error: %s", w->path,
                           strerror(errno ? errno : EIO));
}

static int writer_open(writer *w, const char *path, int gzip, trove_error *err)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    w->gzip = gzip;
    w->buf = trove_malloc(WBUF);
    if (w->buf == NULL)
        goto nomem;
    if (gzip) {
        w->zbuf = trove_malloc(WBUF);
        if (w->zbuf == NULL)
            goto nomem;
        if (deflateInit2(&w->zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            goto nomem;
        w->zs_init = 1;
    }
    if (strcmp(path, "-") == 0) {
        w->f = stdout;
        return TROVE_OK;
    }
    {
        int fd, rc = trove__file_open_tmp(path, &w->tmp, &fd, err);
        if (rc != TROVE_OK)
            return rc;
        w->f = fdopen(fd, "wb");
        if (w->f == NULL) {
            rc = trove_error_set(err, TROVE_EIO, "%s: cannot create: %s", path,
                                 strerror(errno));
            close(fd);
            unlink(w->tmp);
            trove_free(w->tmp);
            w->tmp = NULL;
            return rc;
        }
    }
    return TROVE_OK;
nomem:
    return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
}

/* Push buf through (deflate and) fwrite; `finish` ends the gzip stream. */
static int writer_flush(writer *w, int finish, trove_error *err)
{
    if (!w->gzip) {
        if (w->len > 0 && fwrite(w->buf, 1, w->len, w->f) != w->len)
            return writer_io_error(w, err);
        w->len = 0;
        return TROVE_OK;
    }
    w->zs.next_in = (Bytef *)w->buf;
    w->zs.avail_in = (uInt)w->len;
    for (;;) {
        int zrc;
        size_t have;
        w->zs.next_out = w->zbuf;
        w->zs.avail_out = WBUF;
        zrc = deflate(&w->zs, finish ? Z_FINISH : Z_NO_FLUSH);
        if (zrc == Z_STREAM_ERROR)
            return trove_error_set(err, TROVE_EIO, "%s: compression failed", w->path);
        have = WBUF - w->zs.avail_out;
        if (have > 0 && fwrite(w->zbuf, 1, have, w->f) != have)
            return writer_io_error(w, err);
        if (finish ? zrc == Z_STREAM_END : w->zs.avail_in == 0)
            break;
    }
    w->len = 0;
    return TROVE_OK;
}

static int writer_put(writer *w, const char *s, size_t n, trove_error *err)
{
    while (n > 0) {
        size_t room = WBUF - w->len, k = n < room ? n : room;
        int rc;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
        if (w->len == WBUF && (rc = writer_flush(w, 0, err)) != TROVE_OK)
            return rc;
    }
    return TROVE_OK;
}

/* Finish: with ok, flush, close, fsync and rename into place
 * (trove__file_commit_tmp); otherwise (or when any of that fails) remove the
 * temporary file. Frees everything. */
static int writer_close(writer *w, int ok, trove_error *err)
{
    int rc = TROVE_OK;
    if (ok && w->f != NULL) {
        rc = writer_flush(w, 1, err);
        if (rc == TROVE_OK && fflush(w->f) != 0)
            rc = writer_io_error(w, err);
    }
    if (w->f != NULL && w->f != stdout && fclose(w->f) != 0 && ok && rc == TROVE_OK)
        rc = writer_io_error(w, err);
    if (w->tmp != NULL) {
        if (ok && rc == TROVE_OK)
            rc = trove__file_commit_tmp(w->tmp, w->path, err); /* removes tmp on failure */
        else
            unlink(w->tmp);
    }
    if (w->zs_init)
        deflateEnd(&w->zs);
    trove_free(w->tmp);
    trove_free(w->zbuf);
    trove_free(w->buf);
    memset(w, 0, sizeof *w);
    return rc;
}

int trove_idmap_write(const trove_idmap *m, const char *path, trove_error *err)
{
    writer w;
    uint32_t n = trove_idmap_size(m);
    int rc;

    if ((rc = writer_open(&w, path, 0, err)) != TROVE_OK)
        goto done;
    for (uint32_t i = 0; i < n && rc == TROVE_OK; i++) {
        char num[16];
        size_t len;
        const char *name = trove_idmap_name(m, i, &len);
        int k = snprintf(num, sizeof num, "%u\t", i);
        if ((rc = writer_put(&w, num, (size_t)k, err)) == TROVE_OK &&
            (rc = writer_put(&w, name, len, err)) == TROVE_OK)
            rc = writer_put(&w, "\n", 1, err);
    }
done:
    {
        int crc = writer_close(&w, rc == TROVE_OK, err);
        if (rc == TROVE_OK)
            rc = crc;
    }
    return rc;
}

int trove_dataset_write_pairs(const trove_dataset *ds, const char *path,
                              int gzip, trove_error *err)
{
    writer w;
    const trove_csr *m = &ds->inter;
    int rc;

    if ((rc = writer_open(&w, path, gzip, err)) != TROVE_OK)
        goto done;
    for (uint32_t u = 0; u < m->n_rows && rc == TROVE_OK; u++) {
        size_t ulen;
        const char *uname = trove_idmap_name(ds->users, u, &ulen);
        for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1] && rc == TROVE_OK; k++) {
            size_t ilen;
            const char *iname = trove_idmap_name(ds->items, m->indices[k], &ilen);
            if ((rc = writer_put(&w, uname, ulen, err)) == TROVE_OK &&
                (rc = writer_put(&w, "\t", 1, err)) == TROVE_OK &&
                (rc = writer_put(&w, iname, ilen, err)) == TROVE_OK)
                rc = writer_put(&w, "\n", 1, err);
        }
    }
done:
    {
        int crc = writer_close(&w, rc == TROVE_OK, err);
        if (rc == TROVE_OK)
            rc = crc;
    }
    return rc;
}

/* ------------------------------------------------------------ pairs files */

static int load_features(trove_dataset_builder *b, const char *path, int users,
                         trove_error *err)
{
    trove__reader *r = NULL;
    char *line;
    size_t len;
    int rc;

    if ((rc = trove__reader_open(path, &r, err)) != TROVE_OK)
        return rc;
    while ((rc = trove__reader_next(r, &line, &len, err)) == 1) {
        char *f[3];
        size_t fl[3];
        float w = 1.0f;
        unsigned long long lineno = (unsigned long long)trove__reader_lineno(r);
        int nf;

        if (is_blank(line, len))
            continue;
        nf = split_tabs(line, len, f, fl, 3);
        if (nf < 2 || nf > 3) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: expected "
                                 "'id<TAB>feature[<TAB>weight]', found %s", path,
                                 lineno, nf < 2 ? "one field" : "more than 3 fields");
            goto done;
        }
        if (nf == 3 && parse_weight(f[2], fl[2], &w) != 0) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: weight '%.40s' is "
                                 "not a finite number", path, lineno, f[2]);
            goto done;
        }
        rc = users ? trove_dataset_builder_add_user_feature(b, f[0], fl[0], f[1], fl[1], w, err)
                   : trove_dataset_builder_add_item_feature(b, f[0], fl[0], f[1], fl[1], w, err);
        if (rc != TROVE_OK) {
            trove_error_prefix(err, "%s:%llu", path, lineno);
            goto done;
        }
    }
    if (rc > 0)
        rc = TROVE_OK;
done:
    trove__reader_close(r);
    return rc;
}

int trove_dataset_load_pairs(const char *path, const trove_pairs_options *opts,
                             trove_dataset **out, trove_error *err)
{
    trove_dataset_builder *b = NULL;
    trove__reader *r = NULL;
    char *line;
    size_t len;
    int rc;

    b = trove_dataset_builder_new();
    if (b == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
    if (opts != NULL && opts->users != NULL &&
        (rc = trove_dataset_builder_fix_users(b, opts->users, err)) != TROVE_OK)
        goto done;
    if (opts != NULL && opts->items != NULL &&
        (rc = trove_dataset_builder_fix_items(b, opts->items, err)) != TROVE_OK)
        goto done;
    if ((rc = trove__reader_open(path, &r, err)) != TROVE_OK)
        goto done;
    while ((rc = trove__reader_next(r, &line, &len, err)) == 1) {
        char *f[4] = {NULL, NULL, NULL, NULL};
        size_t fl[4] = {0, 0, 0, 0}; /* quiets -Wmaybe-uninitialized at -O2 */
        float w = 1.0f;
        int64_t ts = 0;
        unsigned long long lineno = (unsigned long long)trove__reader_lineno(r);
        int nf;

        if (is_blank(line, len))
            continue;
        nf = split_tabs(line, len, f, fl, 4);
        if (nf < 2 || nf > 4) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: expected "
                                 "'user<TAB>item[<TAB>weight[<TAB>ts]]', found %s",
                                 path, lineno, nf < 2 ? "one field" : "more than 4 fields");
            goto done;
        }
        if (nf >= 3 && parse_weight(f[2], fl[2], &w) != 0) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: weight '%.40s' is "
                                 "not a finite number", path, lineno, f[2]);
            goto done;
        }
        if (nf == 4 && parse_i64(f[3], fl[3], &ts) != 0) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:%llu: timestamp '%.40s' "
                                 "is not an integer", path, lineno, f[3]);
            goto done;
        }
        rc = trove_dataset_builder_add(b, f[0], fl[0], f[1], fl[1], w, ts, err);
        if (rc != TROVE_OK) {
            trove_error_prefix(err, "%s:%llu", path, lineno);
            goto done;
        }
    }
    if (rc < 0)
        goto done;
    trove__reader_close(r);
    r = NULL;
    if (opts != NULL && opts->user_features != NULL &&
        (rc = load_features(b, opts->user_features, 1, err)) != TROVE_OK)
        goto done;
    if (opts != NULL && opts->item_features != NULL &&
        (rc = load_features(b, opts->item_features, 0, err)) != TROVE_OK)
        goto done;
    if ((rc = trove_dataset_builder_build(b, NULL, out, err)) != TROVE_OK)
        trove_error_prefix(err, "%s", path);
done:
    trove__reader_close(r);
    trove_dataset_builder_free(b);
    return rc;
}
