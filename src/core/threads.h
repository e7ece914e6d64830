/*
 * threads.h - the one fork-join helper behind every multi-threaded loop
 * (iALS / EASE sweeps and recommend_all, hybrid model training, item-kNN
 * neighbour lists, the evaluation engine).
 *
 * Nothing here is public API. parallel_for keeps no state: any number of
 * calls may run at once (each creates its own threads). A team keeps its
 * threads between runs, for loops that fork and join many times (the
 * rounds of hybrid model training).
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

/* A team: n_threads - 1 worker threads created once, which sleep between
 * runs. Owned by one caller thread; runs on one team never overlap. */
typedef struct trove__team trove__team;

/* Create a team for n_threads shares (1..TROVE__THREADS_MAX; 1 starts no
 * thread). A worker whose thread cannot be created is left out: its share
 * then runs on the caller, as with trove__parallel_for. Returns TROVE_OK or
 * TROVE_ENOMEM (*out untouched). */
int trove__team_new(uint32_t n_threads, trove__team **out);

/* Run fn(ctx, t) once for every t in 0..n_threads-1 of the team's size
 * and return when all have finished: t = 0 on the caller, the others on
 * the team's workers. Every worker's writes happen before the return (a
 * mutex hand-off), and the caller's writes before the call happen before
 * every fn call. Must not be called from fn. */
void trove__team_run(trove__team *tm, void (*fn)(void *ctx, uint32_t t), void *ctx);

/* Stop and join the workers and free the team. NULL is a no-op. */
void trove__team_free(trove__team *tm);

#endif /* TROVE_CORE_THREADS_H */
