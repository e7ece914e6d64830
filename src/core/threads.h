/*
 * threads.h - the one fork-join helper behind every multi-threaded loop
 * (iALS / EASE sweeps and recommend_all, hybrid model training, item-kNN
 * neighbour lists, the evaluation engine).
 *
 * Nothing here is public API. parallel_for keeps no state: any number of
 * calls may run at once (each creates its own threads). A team keeps its
 * threads between runs, for loops that fork and join many times (the
 * rounds of hybrid model training). A grid hands out the cells of a
 * rows x columns grid to threads so that no two hold the same row or
 * column (the dynamic block schedule of hybrid model training).
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

/* A grid of n_rows x n_cols cells, each visited once per pass, handed
 * out so that no two threads hold a cell in the same row or the same
 * column at once (the scheduler of FPSGD: Zhuang et al., "A fast parallel
 * SGD for matrix factorization in shared memory systems", RecSys 2013).
 * A thread that finishes a cell takes the next free one, so a faster
 * thread does more cells. Rows may belong to threads (home): a thread
 * then takes cells of its own rows while any is pending (waiting when all
 * are blocked) and only then cells of other threads' rows, so that rows
 * move between threads only at the end of a pass. Among the cells it may
 * take it prefers one in the column of the cell it released (that
 * column's data stays in its core's cache; the row with the most work
 * left), else the one whose row and column have the most work left
 * (their pending cells' weights summed), which keeps the last cells of a
 * pass spread over rows and columns; ties go to the lowest cell index.
 * Thread-safe: any number of threads may call trove__grid_next at once. */
typedef struct trove__grid trove__grid;

/* Create a grid; weight[r * n_cols + c] is the work of cell (r, c) (cells
 * of weight 0 are never handed out); home[r] is the thread row r belongs
 * to, or home is NULL (no preference). Both are copied. The first pass
 * starts at once. n_rows, n_cols >= 1. Returns TROVE_OK or TROVE_ENOMEM
 * (*out untouched). */
int trove__grid_new(uint32_t n_rows, uint32_t n_cols, const uint64_t *weight,
                    const uint32_t *home, trove__grid **out);

/* Start the next pass: every cell of weight > 0 pending again. Must not
 * overlap trove__grid_next calls (call it between team runs). */
void trove__grid_reset(trove__grid *g);

/* Thread t releases cell prev (TROVE__GRID_NONE for none) and takes the
 * next: waits
 * while cells are pending but none is free, then returns 1 with its index
 * (r * n_cols + c) in *cell, or returns 0 when no cell is pending in this
 * pass. Every cell of weight > 0 is returned exactly once per pass. The
 * releasing thread's writes happen before the return of the call that
 * hands out the next cell of its row or column. */
#define TROVE__GRID_NONE UINT32_MAX
int trove__grid_next(trove__grid *g, uint32_t t, uint32_t prev, uint32_t *cell);

/* Free a grid. NULL is a no-op. */
void trove__grid_free(trove__grid *g);

#endif /* TROVE_CORE_THREADS_H */
