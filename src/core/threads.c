/*
 * threads.c - fork-join over POSIX threads (see threads.h): parallel_for,
 * which creates and joins threads per call, and teams, whose workers live
 * across runs.
 *
 * Invariant (both): every index 0..n_threads-1 is passed to fn exactly
 * once per call, and all calls have returned before the call does
 * (pthread_join, or the team's mutex, gives the caller a happens-before
 * edge on every worker's writes).
 *
 * A team counts runs in `generation`: a worker sleeps until the generation
 * moves past the last one it ran, runs its share, and decrements `pending`;
 * the caller sleeps until pending is 0. Everything the two sides share is
 * read and written under the mutex.
 */
#include "core/threads.h"

#include "trove/core.h"

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

typedef struct team_worker {
    trove__team *team;
    pthread_t tid;
    uint32_t index;
    int started;
} team_worker;

struct trove__team {
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* a new run, or stop */
    pthread_cond_t done;    /* pending reached 0 */
    uint64_t generation;    /* runs started */
    uint32_t pending;       /* started workers still in this run */
    uint32_t n_threads, n_started;
    int stop;
    void (*fn)(void *ctx, uint32_t t);
    void *ctx;
    team_worker *workers;   /* n_threads entries; [0] is the caller */
};

static void *team_main(void *arg)
{
    team_worker *w = arg;
    trove__team *tm = w->team;
    uint64_t seen = 0;
    pthread_mutex_lock(&tm->mu);
    for (;;) {
        while (!tm->stop && tm->generation == seen)
            pthread_cond_wait(&tm->wake, &tm->mu);
        if (tm->stop)
            break;
        seen = tm->generation;
        void (*fn)(void *, uint32_t) = tm->fn;
        void *ctx = tm->ctx;
        pthread_mutex_unlock(&tm->mu);
        fn(ctx, w->index);
        pthread_mutex_lock(&tm->mu);
        if (--tm->pending == 0)
            pthread_cond_signal(&tm->done);
    }
    pthread_mutex_unlock(&tm->mu);
    return NULL;
}

int trove__team_new(uint32_t n_threads, trove__team **out)
{
    trove__team *tm;
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > TROVE__THREADS_MAX)
        n_threads = TROVE__THREADS_MAX;
    tm = trove_calloc(1, sizeof *tm);
    if (tm == NULL)
        return TROVE_ENOMEM;
    tm->workers = trove_calloc(n_threads, sizeof *tm->workers);
    if (tm->workers == NULL) {
        trove_free(tm);
        return TROVE_ENOMEM;
    }
    pthread_mutex_init(&tm->mu, NULL);
    pthread_cond_init(&tm->wake, NULL);
    pthread_cond_init(&tm->done, NULL);
    tm->n_threads = n_threads;
    for (uint32_t t = 1; t < n_threads; t++) {
        team_worker *w = &tm->workers[t];
        w->team = tm;
        w->index = t;
        w->started = pthread_create(&w->tid, NULL, team_main, w) == 0;
        tm->n_started += w->started ? 1u : 0u;
    }
    *out = tm;
    return TROVE_OK;
}

void trove__team_run(trove__team *tm, void (*fn)(void *ctx, uint32_t t), void *ctx)
{
    pthread_mutex_lock(&tm->mu);
    tm->fn = fn;
    tm->ctx = ctx;
    tm->pending = tm->n_started;
    tm->generation++;
    pthread_cond_broadcast(&tm->wake);
    pthread_mutex_unlock(&tm->mu);
    fn(ctx, 0);
    for (uint32_t t = 1; t < tm->n_threads; t++)
        if (!tm->workers[t].started)
            fn(ctx, t); /* no thread: do its share here */
    pthread_mutex_lock(&tm->mu);
    while (tm->pending > 0)
        pthread_cond_wait(&tm->done, &tm->mu);
    pthread_mutex_unlock(&tm->mu);
}

void trove__team_free(trove__team *tm)
{
    if (tm == NULL)
        return;
    pthread_mutex_lock(&tm->mu);
    tm->stop = 1;
    pthread_cond_broadcast(&tm->wake);
    pthread_mutex_unlock(&tm->mu);
    for (uint32_t t = 1; t < tm->n_threads; t++)
        if (tm->workers[t].started)
            pthread_join(tm->workers[t].tid, NULL);
    pthread_cond_destroy(&tm->done);
    pthread_cond_destroy(&tm->wake);
    pthread_mutex_destroy(&tm->mu);
    trove_free(tm->workers);
    trove_free(tm);
}
