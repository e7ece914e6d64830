/*
 * threads.h - the one fork-join helper behind every multi-threaded loop
 * (iALS / EASE sweeps and recommend_all, hybrid model training, item-kNN
 * neighbour lists, the evaluation engine).
 *
 * Nothing here is public API. The helpers keep no state: any number of
 * parallel_for calls may run at once (each creates its own threads).
 */
#ifndef TROVE_CORE_THREADS_H
#define TROVE_CORE_THREADS_H

#include <stdint.h>

/* Most threads one parallel_for starts; shares beyond run on the caller. */
#define TROVE__THREADS_MAX 256u

/* Worker threads for a request: requested, or the number of online
 * processors when it is 0; at least 1, at most TROVE__THREADS_MAX. */
uint32_t trove__threads_count(uint32_t requested);

/* Run fn(ctx, t) once for every t in 0..n_threads-1 and return when all
 * have finished: t = 0 on the calling thread, the others on new threads.
 * A share whose thread cannot be created (or t >= TROVE__THREADS_MAX) runs
 * on the caller after its own, so every t runs exactly once whatever
 * happens: fn may split work statically by t or pull it from a shared
 * counter. n_threads 0 runs nothing. */
void trove__parallel_for(uint32_t n_threads, void (*fn)(void *ctx, uint32_t t), void *ctx);

#endif /* TROVE_CORE_THREADS_H */
