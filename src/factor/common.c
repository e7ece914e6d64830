/*
 * common.c - pieces shared by the iALS and EASE models: thread fan-out,
 * CSR checks, top-k selection, and model-file I/O.
 *
 * Model files are written whole to "<path>.tmp.<pid>.<n>" in the target's
 * directory, fsync'ed, renamed over the target and the directory fsync'ed,
 * so a reader sees either the old file or the complete new one. Integers
 * and floats are stored little-endian (the only byte order trove builds
 * for; see the static assertion below).
 */
#include "factor/factor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "model files are little-endian");

_Noreturn void trove__factor_abort(const char *file, int line, const char *what)
{
    trove_log(TROVE_LOG_ERROR, "%s:%d: internal error: %s", file, line, what);
    abort();
}

/* ------------------------------------------------------------- threads */
uint32_t trove__factor_threads(uint32_t requested)
{
    long n = (long)requested;
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
    }
    return (uint32_t)(n > 256 ? 256 : n);
}

typedef struct worker {
    pthread_t tid;
    void (*fn)(void *ctx, uint32_t t);
    void *ctx;
    uint32_t index;
    int started;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->fn(w->ctx, w->index);
    return NULL;
}

void trove__factor_parallel(uint32_t n_threads, void (*fn)(void *ctx, uint32_t t),
                            void *ctx)
{
    worker ws[256];
    if (n_threads > 256)
        n_threads = 256;
    for (uint32_t t = 1; t < n_threads; t++) {
        ws[t].fn = fn;
        ws[t].ctx = ctx;
        ws[t].index = t;
        ws[t].started = pthread_create(&ws[t].tid, NULL, worker_main, &ws[t]) == 0;
    }
    fn(ctx, 0);
    for (uint32_t t = 1; t < n_threads; t++)
        if (ws[t].started)
            pthread_join(ws[t].tid, NULL);
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
/* "a ranks below b": lower score, or equal score and higher index. */
static int slot_below(trove__topk_slot a, trove__topk_slot b)
{
    return a.score < b.score || (a.score == b.score && a.item > b.item);
}

static void sift_down(trove__topk_slot *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && slot_below(h[l], h[m]))
            m = l;
        if (r < n && slot_below(h[r], h[m]))
            m = r;
        if (m == i)
            return;
        trove__topk_slot t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(trove__topk_slot *h, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!slot_below(h[i], h[p]))
            return;
        trove__topk_slot t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

typedef float tk_v16 __attribute__((vector_size(64)));
typedef int32_t tk_i16 __attribute__((vector_size(64)));
typedef int32_t tk_i8 __attribute__((vector_size(32)));
typedef int32_t tk_i4 __attribute__((vector_size(16)));

/* 1 if any of 16 scores starting at p beats thr. */
static int any_above(const float *p, float thr)
{
    tk_v16 c;
    memcpy(&c, p, sizeof c);
    tk_i16 gt = c > thr;
    tk_i8 h = __builtin_shufflevector(gt, gt, 0, 1, 2, 3, 4, 5, 6, 7) |
              __builtin_shufflevector(gt, gt, 8, 9, 10, 11, 12, 13, 14, 15);
    tk_i4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) | __builtin_shufflevector(h, h, 4, 5, 6, 7);
    return (q[0] | q[1] | q[2] | q[3]) != 0;
}

static void topk_offer(trove__topk_slot *heap, uint32_t *size, uint32_t k, float s,
                       uint32_t i)
{
    if (!(s > -INFINITY))
        return;
    if (*size < k) {
        heap[*size] = (trove__topk_slot){s, i};
        sift_up(heap, (*size)++);
    } else if (s > heap[0].score) {
        heap[0] = (trove__topk_slot){s, i};
        sift_down(heap, *size, 0);
    }
}

void trove__factor_topk(const float *scores, uint32_t n, uint32_t k,
                        trove__topk_slot *heap, uint32_t *items, float *out_scores)
{
    uint32_t size = 0, i = 0;
    /* Min-heap of the best k seen so far; its root is the weakest. Once it
     * is full, blocks of 16 scores that cannot enter it are skipped with one
     * vector comparison (ties never enter: the lower index already won). */
    for (; i < n && size < k; i++)
        topk_offer(heap, &size, k, scores[i], i);
    for (; i + 16 <= n; i += 16)
        if (any_above(scores + i, heap[0].score))
            for (uint32_t j = i; j < i + 16; j++)
                topk_offer(heap, &size, k, scores[j], j);
    for (; i < n; i++)
        topk_offer(heap, &size, k, scores[i], i);
    /* Pop the weakest into the last place until empty. */
    for (uint32_t j = k; j > size; j--) {
        items[j - 1] = UINT32_MAX;
        out_scores[j - 1] = -INFINITY;
    }
    while (size > 0) {
        items[size - 1] = heap[0].item;
        out_scores[size - 1] = heap[0].score;
        heap[0] = heap[--size];
        sift_down(heap, size, 0);
    }
}

/* ---------------------------------------------------------------- files */
uint64_t trove__factor_checksum(const void *buf, size_t len)
{
    return trove_hash64(buf, len, UINT64_C(0x74726f7665666163));
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int trove__factor_write_file(const char *path, const void *buf, size_t len,
                             trove_error *err)
{
    static atomic_uint counter;
    char tmp[PATH_MAX], dir[PATH_MAX];
    int fd = -1, rc;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
                     atomic_fetch_add(&counter, 1u));
    if (n < 0 || (size_t)n >= sizeof tmp)
        return trove_error_set(err, TROVE_EINVAL, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return trove_error_set(err, TROVE_EIO, "%s: cannot create: %s", tmp,
                               strerror(errno));
    if (write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
        rc = trove_error_set(err, TROVE_EIO, "%s: write failed: %s", tmp,
                             strerror(errno));
        goto fail_tmp;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = trove_error_set(err, TROVE_EIO, "%s: close failed: %s", tmp,
                             strerror(errno));
        goto fail_tmp;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = trove_error_set(err, TROVE_EIO, "%s: cannot rename into place: %s",
                             path, strerror(errno));
        goto fail_tmp;
    }
    /* Make the rename itself durable. */
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return TROVE_OK;
fail_tmp:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

int trove__factor_read_file(const char *path, unsigned char **buf, size_t *len,
                            trove_error *err)
{
    struct stat st;
    unsigned char *p = NULL;
    size_t got = 0;
    int rc = TROVE_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return trove_error_set(err, errno == ENOENT ? TROVE_ENOTFOUND : TROVE_EIO,
                               "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = trove_error_set(err, TROVE_EIO, "%s: not a regular file", path);
        goto done_fd;
    }
    if (st.st_size <= 0) {
        rc = trove_error_set(err, TROVE_ECORRUPT, "%s: empty file", path);
        goto done_fd;
    }
    p = trove_malloc((size_t)st.st_size);
    if (p == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory reading %lld bytes",
                             path, (long long)st.st_size);
        goto done_fd;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = trove_error_set(err, TROVE_EIO, "%s: read failed after %zu bytes",
                                 path, got);
            trove_free(p);
            goto done_fd;
        }
        got += (size_t)r;
    }
    *buf = p;
    *len = got;
done_fd:
    close(fd);
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
