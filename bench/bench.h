/*
 * bench.h - shared pieces of the trove-bench program: timing, medians, CPU
 * feature string, locating the datasets, and the JSON line every benchmark
 * prints last.
 */
#ifndef TROVE_BENCH_H
#define TROVE_BENCH_H

#include "trove/trove.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Monotonic wall-clock seconds. */
double bench_now(void);
/* Median of n values (sorts a copy). */
double bench_median(const double *v, size_t n);
/* "avx512f avx2 fma" style list of the CPU features trove's kernels use. */
const char *bench_cpu_features(void);
/* Dataset root: $TROVE_DATA, else ../shared/data beside the source tree;
 * NULL (with a message on stderr) if it does not exist. */
const char *bench_data_dir(void);
/* "<data>/<rel>" in a static rotating buffer. */
const char *bench_data_path(const char *rel);
/* Git commit of the build ("unknown" if not known). */
const char *bench_commit(void);
/* Peak resident set size of this process in MiB (from /proc/self/status). */
double bench_peak_rss_mib(void);
/* One HTTP/1.1 request to 127.0.0.1:port on a fresh connection (method,
 * path; token and body may be NULL): the status code, or -1 when there is
 * no answer. The body's first out_size - 1 bytes go to out and its size to
 * *body_bytes (each may be NULL). Not thread-safe (one static buffer). */
int bench_http_call(uint16_t port, const char *method, const char *path,
                    const char *token, const char *body, char *out, size_t out_size,
                    size_t *body_bytes);

typedef struct bench_entry {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
} bench_entry;

#endif /* TROVE_BENCH_H */
