/*
 * trove/core.h - status codes, error messages, allocation, logging, random
 * numbers and string-id maps: the pieces every other trove module uses.
 *
 * Conventions that hold across the whole public API:
 *   - A fallible function returns an int status: TROVE_OK (0) or a negative
 *     TROVE_E* code. It takes an optional caller-owned `trove_error *err`
 *     (NULL is allowed) that receives a human-readable message naming the
 *     place of the problem, e.g. "ratings.csv:1042: rating 'x' is not a number".
 *   - Out-parameters are written only on success.
 *   - Whoever calls *_new / *_open / *_load calls the matching *_free / *_close;
 *     *_free(NULL) is a no-op.
 *   - The library never prints. Diagnostics go through the log callback.
 *   - There is no global "last error": every call carries its own trove_error,
 *     so the library is safe to use from several threads on distinct objects.
 */
#ifndef TROVE_CORE_H
#define TROVE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TROVE_VERSION_MAJOR 0
#define TROVE_VERSION_MINOR 1
#define TROVE_VERSION_PATCH 0
#define TROVE_VERSION_STRING "0.1.0"

/* Version of the library actually linked (may differ from the header). */
const char *trove_version(void);

/* ------------------------------------------------------------------------
 * Status codes. Generated from one table so that names, values and
 * trove_strerror() never drift apart.
 * ---------------------------------------------------------------------- */
#define TROVE_STATUS_TABLE(X)                                                 \
    X(OK,          0,  "success")                                             \
    X(ENOMEM,     -1,  "out of memory")                                       \
    X(EINVAL,     -2,  "invalid argument")                                    \
    X(EIO,        -3,  "input/output error")                                  \
    X(EFORMAT,    -4,  "malformed input")                                     \
    X(ENOTFOUND,  -5,  "not found")                                           \
    X(EEXIST,     -6,  "already exists")                                      \
    X(ERANGE,     -7,  "value out of range")                                  \
    X(ESTORE,     -8,  "store error")                                         \
    X(EVERSION,   -9,  "unsupported format version")                          \
    X(ECORRUPT,  -10,  "corrupted data")                                      \
    X(EDIVERGED, -11,  "training diverged")                                   \
    X(EUNSUPPORTED, -12, "operation not supported")                           \
    X(EBUSY,     -13,  "resource busy")                                       \
    X(EEMPTY,    -14,  "no data")

enum trove_status {
#define TROVE__STATUS_ENUM(name, value, text) TROVE_##name = value,
    TROVE_STATUS_TABLE(TROVE__STATUS_ENUM)
#undef TROVE__STATUS_ENUM
};

/* Static description of a status code; never NULL ("unknown status" for
 * codes outside the table). */
const char *trove_strerror(int status);

/* Symbolic name of a status code ("TROVE_EFORMAT"); never NULL. */
const char *trove_status_name(int status);

/* ------------------------------------------------------------------------
 * Error messages.
 * ---------------------------------------------------------------------- */
#define TROVE_ERROR_MSG_MAX 512

typedef struct trove_error {
    int  code;                       /* last status written, TROVE_OK if none */
    char msg[TROVE_ERROR_MSG_MAX];   /* NUL-terminated, "" if none */
} trove_error;

/* Reset to TROVE_OK and an empty message. err may be NULL. */
void trove_error_clear(trove_error *err);

/* Record `code` and a printf-style message in err (if err is not NULL) and
 * return `code`, so that a failure path reads
 *     return trove_error_set(err, TROVE_EFORMAT, "%s:%zu: bad rating", f, line);
 * Messages longer than TROVE_ERROR_MSG_MAX-1 bytes are truncated. */
int trove_error_set(trove_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int trove_error_setv(trove_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prefix the existing message with "prefix: " (used to add context such as
 * a file name while an error travels up). Returns err->code (or TROVE_OK if
 * err is NULL). */
int trove_error_prefix(trove_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------
 * Allocation. Every allocation the library makes goes through these; an
 * embedder may install its own functions (before creating any object) and
 * tests install a failing allocator to exercise out-of-memory paths.
 * ---------------------------------------------------------------------- */
typedef struct trove_allocator {
    void *(*malloc_fn)(void *ud, size_t size);
    void *(*realloc_fn)(void *ud, void *ptr, size_t size);
    void  (*free_fn)(void *ud, void *ptr);
    void  *ud;
} trove_allocator;

/* Install `a` (copied). NULL restores the C library's malloc/realloc/free.
 * Not thread-safe: call it before any other trove function. */
void trove_set_allocator(const trove_allocator *a);

void *trove_malloc(size_t size);              /* NULL on failure or size 0 */
void *trove_calloc(size_t n, size_t size);    /* zeroed; checks n*size overflow */
void *trove_realloc(void *ptr, size_t size);  /* like realloc; size 0 frees */
void  trove_free(void *ptr);                  /* NULL is a no-op */
char *trove_strdup(const char *s);
char *trove_strndup(const char *s, size_t n);

/* Memory aligned to `align` bytes (a power of two, >= sizeof(void*)); free
 * it with trove_aligned_free only. Used for embedding tables (64-byte rows). */
void *trove_aligned_alloc(size_t align, size_t size);
void  trove_aligned_free(void *ptr);

/* ------------------------------------------------------------------------
 * Logging. The library reports progress and warnings through one callback;
 * the default callback discards everything. The CLI and server install one.
 * ---------------------------------------------------------------------- */
enum trove_log_level {
    TROVE_LOG_ERROR = 0,
    TROVE_LOG_WARN  = 1,
    TROVE_LOG_INFO  = 2,
    TROVE_LOG_DEBUG = 3
};

typedef void (*trove_log_fn)(void *ud, int level, const char *msg);

/* Install the callback (NULL = discard) and the most verbose level passed
 * to it. The callback may be called from several threads at once. */
void trove_set_log(trove_log_fn fn, void *ud, int max_level);
void trove_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int  trove_log_enabled(int level);

/* ------------------------------------------------------------------------
 * Random numbers: xoshiro256** (Blackman & Vigna, "Scrambled linear
 * pseudorandom number generators", 2018), seeded through splitmix64.
 * Small (32 bytes), fast, and with jump() for independent per-thread
 * streams. Not for cryptography. The state is a plain struct so that hot
 * loops can keep it in registers; these are the only inline functions in the
 * public API.
 * ---------------------------------------------------------------------- */
typedef struct trove_rng {
    uint64_t s[4];
} trove_rng;

/* Seed deterministically from one 64-bit value (any value, 0 included). */
void trove_rng_seed(trove_rng *rng, uint64_t seed);

/* Advance by 2^128 steps: calling it k times on copies of one seeded state
 * gives k non-overlapping streams (one per thread). */
void trove_rng_jump(trove_rng *rng);

static inline uint64_t trove__rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t trove_rng_next(trove_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = trove__rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = trove__rotl64(s[3], 45);
    return result;
}

/* Uniform integer in [0, bound) without modulo bias (Lemire, "Fast random
 * integer generation in an interval", 2019). bound must be > 0. */
static inline uint32_t trove_rng_below(trove_rng *rng, uint32_t bound)
{
    uint64_t m = (uint64_t)(uint32_t)(trove_rng_next(rng) >> 32) * bound;
    uint32_t low = (uint32_t)m;
    if (low < bound) {
        uint32_t threshold = (uint32_t)(-bound) % bound;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(trove_rng_next(rng) >> 32) * bound;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double trove_rng_uniform(trove_rng *rng)
{
    return (double)(trove_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Uniform float in [0, 1) with 24 random bits. */
static inline float trove_rng_uniformf(trove_rng *rng)
{
    return (float)(trove_rng_next(rng) >> 40) * 0x1.0p-24f;
}

/* Standard normal deviate (Marsaglia polar method). */
double trove_rng_normal(trove_rng *rng);

/* Fisher-Yates shuffle of n uint32 values. */
void trove_rng_shuffle_u32(trove_rng *rng, uint32_t *a, size_t n);

/* 64-bit hash of a byte string (XXH3 64-bit with a seed). Stable across
 * platforms and versions: it is used for deterministic event ids and
 * bucketing, so its output must never change. */
uint64_t trove_hash64(const void *data, size_t len, uint64_t seed);

/* ------------------------------------------------------------------------
 * String-id maps: raw ids ("85123A", "17850") <-> dense indices 0..n-1 in
 * insertion order. Open addressing on XXH3; names live in an arena owned
 * by the map. Not thread-safe for writers; concurrent readers are fine when
 * nobody writes.
 * ---------------------------------------------------------------------- */
typedef struct trove_idmap trove_idmap;

trove_idmap *trove_idmap_new(void);           /* NULL on out of memory */
void         trove_idmap_free(trove_idmap *m);

/* Number of ids in the map. */
uint32_t trove_idmap_size(const trove_idmap *m);

/* Index of `id` (len bytes, need not be NUL-terminated), adding it with the
 * next index if absent. *index receives the index; *added (may be NULL) is
 * set to 1 if the id was new. Returns TROVE_OK, TROVE_ENOMEM, or
 * TROVE_ERANGE when the map already holds UINT32_MAX-1 ids. */
int trove_idmap_intern(trove_idmap *m, const char *id, size_t len,
                       uint32_t *index, int *added);

/* Index of `id`, or -1 if absent. */
int64_t trove_idmap_find(const trove_idmap *m, const char *id, size_t len);

/* Name of index i (NUL-terminated, borrowed: valid until the map is freed;
 * interning more ids does not move it). NULL if i is out of range.
 * *len (may be NULL) receives its length. */
const char *trove_idmap_name(const trove_idmap *m, uint32_t i, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_CORE_H */
