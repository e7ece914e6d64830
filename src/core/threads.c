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
 *
 * A grid keeps, under its mutex, which cells are pending in this pass and
 * which rows and columns are held; a taker that finds cells pending but
 * none free sleeps until a release. Invariant: a held row or column has
 * exactly one holder, and a cell leaves the pending set when handed out.
 */
#include "core/threads.h"

#include "trove/core.h"

#include <pthread.h>
#include <string.h>
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

struct trove__grid {
    pthread_mutex_t mu;
    pthread_cond_t freed;   /* a cell was released */
    uint32_t n_rows, n_cols;
    uint32_t n_pending;
    uint64_t *weight;       /* n_rows * n_cols, then row_left and col_left */
    uint8_t *pending;       /* n_rows * n_cols */
    uint8_t *row_held, *col_held;
    uint64_t *row_left, *col_left; /* pending weight per row / column */
    uint32_t *home;         /* n_rows: the thread a row belongs to, or NULL */
};

int trove__grid_new(uint32_t n_rows, uint32_t n_cols, const uint64_t *weight,
                    const uint32_t *home, trove__grid **out)
{
    size_t n = (size_t)n_rows * n_cols;
    trove__grid *g = trove_calloc(1, sizeof *g);
    uint64_t *w = NULL;
    if (g == NULL)
        return TROVE_ENOMEM;
    w = trove_malloc((n + n_rows + n_cols) * sizeof(uint64_t));
    g->pending = trove_malloc(n + n_rows + n_cols);
    if (home != NULL)
        g->home = trove_malloc((size_t)n_rows * sizeof *g->home);
    if (w == NULL || g->pending == NULL || (home != NULL && g->home == NULL)) {
        trove_free(g->home);
        trove_free(w);
        trove_free(g->pending);
        trove_free(g);
        return TROVE_ENOMEM;
    }
    memcpy(w, weight, n * sizeof(uint64_t));
    if (home != NULL)
        memcpy(g->home, home, (size_t)n_rows * sizeof *g->home);
    g->weight = w;
    g->row_left = w + n;
    g->col_left = g->row_left + n_rows;
    g->row_held = g->pending + n;
    g->col_held = g->row_held + n_rows;
    g->n_rows = n_rows;
    g->n_cols = n_cols;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->freed, NULL);
    trove__grid_reset(g);
    *out = g;
    return TROVE_OK;
}

void trove__grid_reset(trove__grid *g)
{
    pthread_mutex_lock(&g->mu);
    memset(g->row_left, 0, ((size_t)g->n_rows + g->n_cols) * sizeof(uint64_t));
    memset(g->row_held, 0, (size_t)g->n_rows + g->n_cols);
    g->n_pending = 0;
    for (uint32_t r = 0; r < g->n_rows; r++)
        for (uint32_t c = 0; c < g->n_cols; c++) {
            size_t i = (size_t)r * g->n_cols + c;
            g->pending[i] = g->weight[i] > 0;
            g->n_pending += g->pending[i];
            g->row_left[r] += g->weight[i];
            g->col_left[c] += g->weight[i];
        }
    pthread_mutex_unlock(&g->mu);
}

/* The cell thread t takes among the rows of t (own = 1) or of the other
 * threads (own = 0): a free pending cell in column col (the column t just
 * released) if any, the one whose row has the most work left; else the
 * free pending cell with the most work left in its row and column.
 * *blocked counts the pending cells skipped because their row or column
 * is held. */
static uint32_t grid_pick(const trove__grid *g, uint32_t t, int own, uint32_t col,
                          uint32_t *blocked)
{
    uint64_t best = 0;
    uint32_t pick = TROVE__GRID_NONE;
    /* A free cell of the same column first: its rows are in t's cache. */
    if (col != TROVE__GRID_NONE && !g->col_held[col])
        for (uint32_t r = 0; r < g->n_rows; r++) {
            size_t i = (size_t)r * g->n_cols + col;
            if (g->pending[i] && !g->row_held[r] &&
                (g->home == NULL || (g->home[r] == t) == own) &&
                (pick == TROVE__GRID_NONE || g->row_left[r] > best)) {
                best = g->row_left[r];
                pick = (uint32_t)i;
            }
        }
    if (pick != TROVE__GRID_NONE)
        return pick;
    for (uint32_t r = 0; r < g->n_rows; r++) {
        if (g->home != NULL && (g->home[r] == t) != own)
            continue;
        for (uint32_t c = 0; c < g->n_cols; c++) {
            size_t i = (size_t)r * g->n_cols + c;
            if (!g->pending[i])
                continue;
            if (g->row_held[r] || g->col_held[c]) {
                (*blocked)++;
                continue;
            }
            uint64_t left = g->row_left[r] + g->col_left[c];
            if (pick == TROVE__GRID_NONE || left > best) {
                best = left;
                pick = (uint32_t)i;
            }
        }
    }
    return pick;
}

int trove__grid_next(trove__grid *g, uint32_t t, uint32_t prev, uint32_t *cell)
{
    int got = 0;
    pthread_mutex_lock(&g->mu);
    if (prev != TROVE__GRID_NONE) {
        g->row_held[prev / g->n_cols] = 0;
        g->col_held[prev % g->n_cols] = 0;
        pthread_cond_broadcast(&g->freed);
    }
    while (g->n_pending > 0) {
        uint32_t blocked = 0;
        uint32_t pcol = prev != TROVE__GRID_NONE ? prev % g->n_cols : TROVE__GRID_NONE;
        uint32_t pick = grid_pick(g, t, 1, pcol, &blocked);
        /* Another thread's row only when none of t's own is pending. */
        if (pick == TROVE__GRID_NONE && g->home != NULL && blocked == 0)
            pick = grid_pick(g, t, 0, pcol, &blocked);
        if (pick != TROVE__GRID_NONE) {
            uint32_t r = pick / g->n_cols, c = pick % g->n_cols;
            g->pending[pick] = 0;
            g->n_pending--;
            g->row_held[r] = g->col_held[c] = 1;
            g->row_left[r] -= g->weight[pick];
            g->col_left[c] -= g->weight[pick];
            *cell = pick;
            got = 1;
            break;
        }
        pthread_cond_wait(&g->freed, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return got;
}

void trove__grid_free(trove__grid *g)
{
    if (g == NULL)
        return;
    pthread_cond_destroy(&g->freed);
    pthread_mutex_destroy(&g->mu);
    trove_free(g->weight);
    trove_free(g->pending);
    trove_free(g->home);
    trove_free(g);
}
