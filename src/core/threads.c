/*
 * threads.c - fork-join over POSIX threads (see threads.h).
 *
 * Invariant: every index 0..n_threads-1 is passed to fn exactly once, and
 * all calls have returned before trove__parallel_for does (pthread_join
 * gives the caller a happens-before edge on every worker's writes).
 */
#include "core/threads.h"

#include <pthread.h>
#include <unistd.h>

typedef struct worker {
    pthread_t tid;
    void (*fn)(void *ctx, uint32_t t);
    void *ctx;
    uint32_t index;
    int started;
} worker;

uint32_t trove__threads_count(uint32_t requested)
{
    long n = (long)requested;
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
    }
    return (uint32_t)(n > (long)TROVE__THREADS_MAX ? (long)TROVE__THREADS_MAX : n);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->fn(w->ctx, w->index);
    return NULL;
}

void trove__parallel_for(uint32_t n_threads, void (*fn)(void *ctx, uint32_t t), void *ctx)
{
    worker ws[TROVE__THREADS_MAX];
    uint32_t spawn = n_threads < TROVE__THREADS_MAX ? n_threads : TROVE__THREADS_MAX;
    if (n_threads == 0)
        return;
    for (uint32_t t = 1; t < spawn; t++) {
        ws[t].fn = fn;
        ws[t].ctx = ctx;
        ws[t].index = t;
        ws[t].started = pthread_create(&ws[t].tid, NULL, worker_main, &ws[t]) == 0;
    }
    fn(ctx, 0);
    for (uint32_t t = 1; t < spawn; t++) {
        if (ws[t].started)
            pthread_join(ws[t].tid, NULL);
        else
            fn(ctx, t); /* no thread: do its share here */
    }
    for (uint32_t t = spawn; t < n_threads; t++)
        fn(ctx, t);
}
