/*
 * factor_int.h - internals shared by the closed-form / least-squares models
 * of src/factor (iALS and EASE): dense linear algebra through the one
 * OpenBLAS/LAPACKE adapter (linalg.c), top-k padding, CSR checks, and the
 * checksummed model-file encoding (common.c); files are written through
 * core/file.h and threads started through core/threads.h.
 *
 * Nothing here is public API. Every function that can fail returns a trove
 * status and, where it takes one, fills a trove_error.
 */
#ifndef TROVE_FACTOR_INT_H
#define TROVE_FACTOR_INT_H

#include "trove/core.h"
#include "trove/dataset.h"

#include <stddef.h>
#include <stdint.h>

/* Programmer errors (never data errors) abort with the place. */
#define TROVE__FACTOR_ASSERT(cond)                                            \
    ((cond) ? (void)0                                                         \
            : trove__factor_abort(__FILE__, __LINE__, #cond))
_Noreturn void trove__factor_abort(const char *file, int line, const char *what);

/* Row stride of dense factor tables: factors rounded up to this many floats
 * (64 bytes), with the padding columns kept at zero. */
#define TROVE__FACTOR_LANES 16u

/* ------------------------------------------------------------- linalg.c */
/* Make OpenBLAS run single-threaded (trove parallelises over rows itself and
 * nested pools would oversubscribe the cores). Idempotent. */
void trove__linalg_single_thread(void);
/* Let OpenBLAS use n threads for one large call (EASE's factorisation). */
void trove__linalg_set_threads(int n);

/* G (f x f, row stride ldg) = Y^T Y for Y (n x f, row stride ldy); the full
 * symmetric matrix is written. */
void trove__linalg_gram(const float *y, uint32_t n, uint32_t f, uint32_t ldy,
                        float *g, uint32_t ldg);
/* C (m x n, stride ldc) = A (m x k, stride lda) * B^T (B is n x k, stride
 * ldb); row-major. */
void trove__linalg_gemm_nt(uint32_t m, uint32_t n, uint32_t k, const float *a,
                           uint32_t lda, const float *b, uint32_t ldb, float *c,
                           uint32_t ldc);
/* y (n) = A (n x k, stride lda) * x (k). */
void trove__linalg_gemv(uint32_t n, uint32_t k, const float *a, uint32_t lda,
                        const float *x, float *y);
/* Solve A x = b in place (b becomes x) for a symmetric positive definite A
 * (n x n, stride lda, overwritten by its Cholesky factor). Returns 0, or the
 * order of the leading minor that is not positive definite (> 0). */
int trove__linalg_cholesky_solve(uint32_t n, float *a, uint32_t lda, float *b);
/* Invert a symmetric positive definite A (n x n, stride lda) in place; the
 * full symmetric inverse is written. Returns 0, or the order of the leading
 * minor that is not positive definite (> 0), or -1 if the inverse is
 * singular after the factorisation. *pivot_ratio receives
 * min_i L_ii^2 / max_i L_ii^2 of the Cholesky factor A = L L^T, a cheap lower
 * bound on the reciprocal condition number (tiny = ill-conditioned); it is
 * set before the inverse is taken, and if the check fails the caller can stop
 * early by passing min_ratio > 0: then -2 is returned without inverting. */
int trove__linalg_spd_inverse(uint32_t n, float *a, size_t lda, double min_ratio,
                              double *pivot_ratio);

/* ------------------------------------------------------------- common.c */
/* Check that m is a non-empty, well-formed CSR (trove_csr_validate) whose
 * weights are also >= 0. `what` names the matrix in the message. */
int trove__factor_check_csr(const trove_csr *m, const char *what, trove_error *err);

/* trove__topk (kernels.h: best first, ties to the lower index, NaN and
 * -INFINITY skipped) with the missing places padded with item UINT32_MAX
 * and score -INFINITY, as the recommend_all outputs document. */
void trove__factor_topk(const float *scores, uint32_t n, uint32_t k, uint32_t *items,
                        float *out_scores);

/* Checksum stored at the end of every model file. */
uint64_t trove__factor_checksum(const void *buf, size_t len);

/* Little-endian byte writer / reader over a caller-owned buffer. The reader
 * never reads past its end: a short read sets `bad`. */
typedef struct trove__bytes {
    unsigned char *p;
    size_t len, pos;
    int bad;
} trove__bytes;
/* Top-k for every user of a model, shared by iALS and EASE. score_block
 * writes the scores of users u0 .. u0+nb-1 (nb <= block) as nb rows of
 * n_items floats into buf; it is called from several threads at once.
 * Training items in `exclude` (n_users x n_items, or NULL) are left out;
 * items receives n_users x k indices, scores (may be NULL) their scores.
 * `what` names the model in errors ("ials recommend"). Returns TROVE_OK,
 * TROVE_EINVAL, TROVE_ENOMEM. */
typedef void (*trove__factor_score_block_fn)(const void *model, uint32_t u0, uint32_t nb,
                                             float *buf);
int trove__factor_recommend_all(const char *what, const void *model, uint32_t n_users,
                                uint32_t n_items, uint32_t block,
                                trove__factor_score_block_fn score_block,
                                const trove_csr *exclude, uint32_t k, uint32_t threads,
                                uint32_t *items, float *scores, trove_error *err);

void trove__bytes_put(trove__bytes *b, const void *src, size_t n);
void trove__bytes_put_u32(trove__bytes *b, uint32_t v);
void trove__bytes_put_u64(trove__bytes *b, uint64_t v);
void trove__bytes_put_f32(trove__bytes *b, float v);
void trove__bytes_get(trove__bytes *b, void *dst, size_t n);
uint32_t trove__bytes_get_u32(trove__bytes *b);
uint64_t trove__bytes_get_u64(trove__bytes *b);
float trove__bytes_get_f32(trove__bytes *b);

#endif /* TROVE_FACTOR_INT_H */
