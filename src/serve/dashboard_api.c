/*
 * dashboard_api.c - the JSON endpoints behind the dashboard (besides
 * GET /v1/monitoring and the model endpoints of server.c):
 *
 *   GET  /v1/session   who is asking: admin token valid?, public reads?
 *   GET  /v1/markets   per market: users, offers, serving model, latest cycle
 *   GET  /v1/items     the offers table (dashboard_items.c)
 *   POST /v1/items     CSV upload with dry run (dashboard_items.c)
 *   GET  /v1/cycles    A/B results of every cycle of a market, cumulative
 *
 * Reads need trove__serve_require_read (open with --public-read), changes
 * trove__serve_require_admin. docs/dashboard-api.md is the reference.
 *
 * A/B figures are those of `trove ab report`: trove_store_ab_counts, then
 * trove_ab_analyze / trove_ab_accumulate (docs/ab.md). Counting a cycle
 * joins all its assignments with the events of its window (about 100 ms
 * for 50k assignments), so counts are cached per server and cycle:
 *   - a closed cycle (a later cycle of its market exists) is reused while
 *     its window [start, end) and the number of events in that window
 *     (trove_store_events_count, an index range count) are unchanged: a
 *     late event for a closed window is seen at once, while the events of
 *     today, which fall in the open window, leave closed cycles cached. The
 *     figures that depend on the catalog (eligible offers when the cycle did
 *     not store them, new offers) may lag a flag change by at most
 *     DASH_TTL_CLOSED seconds, after which the entry is recounted anyway;
 *   - the open (latest) cycle, whose window runs to now and grows with
 *     every event, is reused for DASH_TTL_OPEN seconds: the dashboard shows
 *     the running cycle's figures at most that old. Recounting it on every
 *     event would cost every page load under event traffic a full count
 *     (about 200 ms of CPU for a cycle of 50k assignments and 25k events,
 *     docs/dashboard-api.md).
 * Invariants: the caches (trove_server.dash) are only touched under the
 * server's dash_lock; store reads
 * go through trove__serve_dashboard_store_enter/leave (dashboard_int.h),
 * whose lock is taken before dash_lock, never after.
 */
#include "dashboard_int.h"
#include "trove/ab.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DASH_MAX_CYCLES   4096   /* cached cycle counts per server */
#define DASH_TTL_CLOSED   600    /* seconds */
#define DASH_TTL_OPEN     30     /* seconds */
#define OPEN_END          ((int64_t)1 << 52)  /* end of the open window */

/* ------------------------------------------------------- cache table */
typedef struct dash_cycle {
    int64_t  cycle_id;
    int      open;             /* counted as the latest cycle, up to now */
    int64_t  computed;         /* Unix seconds */
    uint64_t events;           /* closed: events in the window */
    trove_ab_cycle_counts counts;
} dash_cycle;

struct dash_reader {
    atomic_int      refs;
    pthread_mutex_t lock;     /* one request at a time on st */
    trove_store    *st;       /* read-only */
};

/* The dashboard's caches of one server (trove_server.dash). */
struct serve_dash {
    dash_items  *items;
    dash_cycle  *cycles;
    size_t       n_cycles, cap_cycles;
    dash_reader *reader;
    int          reader_failed;   /* fall back to the server's handle */
};
typedef struct serve_dash dash_slot;

static void reader_release(dash_reader *r)
{
    if (r == NULL ||
        atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    trove_store_close(r->st);
    pthread_mutex_destroy(&r->lock);
    trove_free(r);
}

static void slot_clear(dash_slot *sl)
{
    trove__serve_dashboard_items_release(sl->items);
    trove_free(sl->cycles);
    reader_release(sl->reader);
    memset(sl, 0, sizeof *sl);
}

int trove__serve_dashboard_init(trove_server *s)
{
    s->dash = trove_calloc(1, sizeof *s->dash);
    return s->dash != NULL ? TROVE_OK : TROVE_ENOMEM;
}

void trove__serve_dashboard_stop(trove_server *s)
{
    if (s->dash_warm_running) {
        atomic_store(&s->dash_warm_stop, 1);
        pthread_join(s->dash_warm, NULL);
        s->dash_warm_running = 0;
    }
    if (s->dash != NULL) {
        slot_clear(s->dash);
        trove_free(s->dash);
        s->dash = NULL;
    }
}

dash_items *trove__serve_dashboard_slot_items(trove_server *s)
{
    dash_items *c = NULL;
    pthread_mutex_lock(&s->dash_lock);
    if (s->dash->items != NULL) {
        c = s->dash->items;
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->dash_lock);
    return c;
}

void trove__serve_dashboard_slot_set_items(trove_server *s, dash_items *c)
{
    dash_items *old = NULL;
    pthread_mutex_lock(&s->dash_lock);
    dash_slot *sl = s->dash;
    if (sl->items == NULL || sl->items->generation < c->generation) {
        old = sl->items;
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
        sl->items = c;
    }
    pthread_mutex_unlock(&s->dash_lock);
    trove__serve_dashboard_items_release(old);
}

/* ------------------------------------------------------- store reads */
/* The read-only handle of s (retained), opened on first use; NULL when it
 * cannot be opened (then never tried again for this server). */
static dash_reader *reader_get(trove_server *s)
{
    dash_reader *r = NULL, *fresh = NULL;
    trove_store *st = NULL;
    trove_error err;
    int failed;
    pthread_mutex_lock(&s->dash_lock);
    dash_slot *sl = s->dash;
    if ((r = sl->reader) != NULL)
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    failed = sl->reader_failed;
    pthread_mutex_unlock(&s->dash_lock);
    if (r != NULL || failed)
        return r;

    trove_error_clear(&err);
    if (trove_store_open(s->store_uri, TROVE_STORE_READONLY, &st, &err) == TROVE_OK &&
        (fresh = trove_calloc(1, sizeof *fresh)) != NULL) {
        atomic_init(&fresh->refs, 1);
        pthread_mutex_init(&fresh->lock, NULL);
        fresh->st = st;
        st = NULL;
    }
    trove_store_close(st);
    pthread_mutex_lock(&s->dash_lock);
    sl = s->dash;
    if (sl->reader == NULL && fresh != NULL) {
        atomic_fetch_add_explicit(&fresh->refs, 1, memory_order_relaxed);
        sl->reader = fresh;   /* the slot's reference and the caller's */
        r = fresh;
        fresh = NULL;
    } else if (sl->reader != NULL) {
        r = sl->reader;       /* opened by another request meanwhile */
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    } else if (err.code != TROVE_OK && err.code != TROVE_ENOMEM) {
        sl->reader_failed = 1;   /* not for want of memory: don't retry */
    }
    pthread_mutex_unlock(&s->dash_lock);
    reader_release(fresh);
    if (r == NULL && err.code != TROVE_OK)
        trove_log(TROVE_LOG_WARN, "serve: dashboard: no read-only store handle, "
                  "reading under the admin lock: %s", err.msg);
    return r;
}

void trove__serve_dashboard_store_enter(trove_server *s, dash_store *d)
{
    d->reader = reader_get(s);
    if (d->reader != NULL) {
        d->st = d->reader->st;
        d->lock = &d->reader->lock;
    } else {
        d->st = s->store;
        d->lock = &s->admin_lock;
    }
    pthread_mutex_lock(d->lock);
}

void trove__serve_dashboard_store_leave(dash_store *d)
{
    pthread_mutex_unlock(d->lock);
    reader_release(d->reader);
    d->reader = NULL;
}

/* ------------------------------------------------------- A/B counts */
/* Counts of cycle_id from the cache when still valid (see the top of the
 * file), else from the store. next_start: created_ts of the market's next
 * cycle, or -1 for the latest one. st: the entered store. */
static int cycle_counts(trove_server *s, trove_store *st, int64_t cycle_id,
                        int64_t start, int64_t next_start, int64_t now,
                        trove_ab_cycle_counts *out, trove_error *err)
{
    uint64_t events = 0;
    int open = next_start < 0, hit = 0, rc;
    trove_ab_cycle_counts k;

    if (!open && start > 0 && next_start > start) {
        trove_event_filter f = { .ts_from = start, .ts_to = next_start };
        if ((rc = trove_store_events_count(st, &f, &events, err)) != TROVE_OK)
            return rc;
    }
    pthread_mutex_lock(&s->dash_lock);
    dash_slot *sl = s->dash;
    for (size_t i = 0; i < sl->n_cycles; i++) {
        const dash_cycle *e = &sl->cycles[i];
        if (e->cycle_id != cycle_id)
            continue;
        if (e->open == open && e->counts.start_ts == start &&
            (open ? now - e->computed < DASH_TTL_OPEN
                  : e->events == events && e->counts.end_ts == next_start &&
                    now - e->computed < DASH_TTL_CLOSED)) {
            *out = e->counts;
            hit = 1;
        }
        break;
    }
    pthread_mutex_unlock(&s->dash_lock);
    if (hit)
        return TROVE_OK;

    /* The open window has no end: every event from its start on counts,
     * an event stored just now at once, and so do the events of a
     * simulated or replayed clock that runs ahead of the wall clock (the
     * demo world's cycles start after today). end_ts is then reported as
     * null. */
    rc = trove_store_ab_counts(st, cycle_id, open ? OPEN_END : now + 1, &k,
                               err);
    if (rc != TROVE_OK)
        return rc;
    pthread_mutex_lock(&s->dash_lock);
    sl = s->dash;
    dash_cycle *e = NULL;
    for (size_t i = 0; i < sl->n_cycles && e == NULL; i++)
        if (sl->cycles[i].cycle_id == cycle_id)
            e = &sl->cycles[i];
    if (e == NULL) {
        if (sl->n_cycles == DASH_MAX_CYCLES)
            sl->n_cycles = 0;   /* start over rather than grow without end */
        if (sl->n_cycles == sl->cap_cycles) {
            size_t cap = sl->cap_cycles ? 2 * sl->cap_cycles : 32;
            dash_cycle *c2 = trove_realloc(sl->cycles, cap * sizeof *c2);
            if (c2 != NULL) {
                sl->cycles = c2;
                sl->cap_cycles = cap;
            }
        }
        if (sl->n_cycles < sl->cap_cycles)   /* else: not cached, still OK */
            e = &sl->cycles[sl->n_cycles++];
    }
    if (e != NULL)
        *e = (dash_cycle){ .cycle_id = cycle_id, .open = open, .computed = now,
                           .events = events, .counts = k };
    pthread_mutex_unlock(&s->dash_lock);
    *out = k;
    return TROVE_OK;
}

/* ------------------------------------------------------ JSON helpers */
json_t *trove__serve_dashboard_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *trove__serve_dashboard_ts(int64_t ts)
{
    return ts != 0 ? json_integer((json_int_t)ts) : json_null();
}

/* Builders that remember any failure (out of memory) in *bad; the value is
 * released on failure, as jansson's *_new functions do. */
static void jset(int *bad, json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

static void jpush(int *bad, json_t *a, json_t *v)
{
    if (json_array_append_new(a, v) != 0)
        *bad = 1;
}

static json_t *jpair(const double v[2])
{
    return json_pack("[oo]", trove__serve_dashboard_num(v[0]),
                     trove__serve_dashboard_num(v[1]));
}

/* Answer a store failure: 404 for a missing row, 503 otherwise. */
static int reply_store_error(serve_resp *out, int rc, const trove_error *err)
{
    return trove__serve_reply_error(out, rc == TROVE_ENOTFOUND ? 404
                                    : rc == TROVE_ENOMEM ? 500 : 503, "%s",
                                    err->msg[0] ? err->msg : trove_strerror(rc));
}

/* ------------------------------------------------------- /v1/session */
static int handle_session(trove_server *s, const serve_req *r, serve_resp *out)
{
    int bad = 0;
    int readable = r->admin || s->params.public_read;
    json_t *root = json_object(), *markets = json_array();
    if (root == NULL || markets == NULL) {
        json_decref(root);
        json_decref(markets);
        return trove__serve_reply_json(out, 500, NULL);
    }
    /* the market codes only to those who may read the views */
    for (size_t i = 0; readable && i < s->n_markets; i++)
        jpush(&bad, markets, json_string(s->market_code[i]));
    jset(&bad, root, "admin", json_boolean(r->admin));
    jset(&bad, root, "public_read", json_boolean(s->params.public_read != 0));
    jset(&bad, root, "markets", markets);
    if (bad) {
        json_decref(root);
        root = NULL;
    }
    return trove__serve_reply_json(out, 200, root);
}

/* ------------------------------------------------------- cycles list */
typedef struct cycle_row {
    int64_t id;
    int64_t created_ts;
    int64_t model_version_id;
    char    key[64];
} cycle_row;

typedef struct cycle_list {
    cycle_row *rows;
    size_t     n, cap;
} cycle_list;

static int collect_cycle(void *ud, const trove_cycle *c)
{
    cycle_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        cycle_row *r2 = trove_realloc(l->rows, cap * sizeof *r2);
        if (r2 == NULL)
            return TROVE_ENOMEM;
        l->rows = r2;
        l->cap = cap;
    }
    cycle_row *row = &l->rows[l->n++];
    row->id = c->id;
    row->created_ts = c->created_ts;
    row->model_version_id = c->model_version_id;
    snprintf(row->key, sizeof row->key, "%s", c->key);
    return 0;
}

/* The cycles of market_id in window order (st entered). */
static int list_cycles(trove_store *st, int64_t market_id, cycle_list *l,
                       trove_error *err)
{
    int rc = trove_store_cycles_foreach(st, market_id, collect_cycle, l, err);
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "cycles: out of memory");
    return rc;
}

/* ------------------------------------------------------- /v1/markets */
typedef struct name_walk {
    trove_server *s;
    json_t *names[SERVE_MAX_MARKETS];
} name_walk;

static int collect_name(void *ud, const trove_market *m)
{
    name_walk *w = ud;
    for (size_t i = 0; i < w->s->n_markets; i++)
        if (w->s->market_id[i] == m->id && w->names[i] == NULL) {
            w->names[i] = json_string(m->name);
            if (w->names[i] == NULL)
                return TROVE_ENOMEM;
        }
    return 0;
}

static json_t *latest_cycle_json(const trove_ab_cycle_counts *k)
{
    trove_ab_result res;
    trove_ab_analyze(k, &res);
    return json_pack("{s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:b}",
                     "key", k->key, "start_ts", (json_int_t)k->start_ts,
                     "test_rate", trove__serve_dashboard_num(res.rate[TROVE_ARM_TEST]),
                     "control_rate",
                     trove__serve_dashboard_num(res.rate[TROVE_ARM_CONTROL]),
                     "lift", trove__serve_dashboard_num(res.rel_lift),
                     "lift_ci", jpair(res.rel_ci),
                     "p_value", trove__serve_dashboard_num(res.p_value),
                     "srm_p_value", trove__serve_dashboard_num(res.srm_p),
                     "srm_warning", res.srm_warn);
}

static int handle_markets(trove_server *s, const serve_req *r, serve_resp *out)
{
    int64_t now = (int64_t)time(NULL);
    name_walk w;
    trove_error err;
    cycle_list cl = { 0 };
    dash_store ds;
    json_t *root = NULL, *markets;
    uint64_t active = 0, offers;
    int rc = TROVE_OK, bad;
    serve_snapshot *snap;

    if (trove__serve_require_read(s, r, out))
        return 1;
    markets = json_array();
    bad = markets == NULL;
    trove_error_clear(&err);
    memset(&w, 0, sizeof w);
    w.s = s;
    snap = trove__serve_snapshot_acquire(s);
    offers = snap->n_items;
    for (uint32_t i = 0; i < snap->n_items; i++)
        active += (uint64_t)trove__serve_item_live(&snap->items[i], now);

    trove__serve_dashboard_store_enter(s, &ds);
    rc = trove_store_markets_foreach(ds.st, collect_name, &w, &err);
    if (rc == TROVE_ENOMEM)
        trove_error_set(&err, rc, "markets: out of memory");
    for (size_t i = 0; rc == TROVE_OK && !bad && i < s->n_markets; i++) {
        uint64_t users = 0;
        json_t *m = json_object(), *model = json_null(), *latest = json_null();
        const serve_model *sm = i < snap->n_markets ? snap->markets[i].model
                                                    : NULL;
        cl.n = 0;
        if ((rc = trove_store_users_count(ds.st, s->market_id[i], &users,
                                          &err)) != TROVE_OK ||
            (rc = list_cycles(ds.st, s->market_id[i], &cl, &err)) != TROVE_OK) {
            json_decref(m);
            break;
        }
        if (cl.n > 0) {
            trove_ab_cycle_counts k;
            rc = cycle_counts(s, ds.st, cl.rows[cl.n - 1].id,
                              cl.rows[cl.n - 1].created_ts, -1, now, &k, &err);
            if (rc != TROVE_OK) {
                json_decref(m);
                break;
            }
            latest = latest_cycle_json(&k);
        }
        if (sm != NULL)
            model = json_pack("{s:i,s:s,s:I,s:I}", "version", sm->version,
                              "family", sm->family, "created_ts",
                              (json_int_t)sm->created_ts, "age_seconds",
                              (json_int_t)(now - sm->created_ts));
        if (m == NULL || model == NULL || latest == NULL) {
            json_decref(m);
            json_decref(model);
            json_decref(latest);
            bad = 1;
            break;
        }
        jset(&bad, m, "code", json_string(s->market_code[i]));
        jset(&bad, m, "name", w.names[i] ? json_incref(w.names[i])
                                         : json_string(s->market_code[i]));
        jset(&bad, m, "time_zone", json_string(s->market_tz[i]));
        jset(&bad, m, "users", json_integer((json_int_t)users));
        jset(&bad, m, "active_offers", json_integer((json_int_t)active));
        jset(&bad, m, "offers", json_integer((json_int_t)offers));
        jset(&bad, m, "model", model);
        jset(&bad, m, "latest_cycle", latest);
        jpush(&bad, markets, m);
    }
    trove__serve_dashboard_store_leave(&ds);
    trove__serve_snapshot_release(snap);
    for (size_t i = 0; i < SERVE_MAX_MARKETS; i++)
        json_decref(w.names[i]);
    trove_free(cl.rows);
    if (rc != TROVE_OK) {
        json_decref(markets);
        return reply_store_error(out, rc, &err);
    }
    if (!bad)
        root = json_pack("{s:o}", "markets", markets);
    else
        json_decref(markets);
    return trove__serve_reply_json(out, 200, root);
}

/* -------------------------------------------------------- /v1/cycles */
typedef struct version_map {
    int64_t *id;
    int     *version;
    size_t   n, cap;
} version_map;

static int collect_version(void *ud, const trove_model_version *mv)
{
    version_map *vm = ud;
    if (vm->n == vm->cap) {
        size_t cap = vm->cap ? 2 * vm->cap : 16;
        int64_t *a = trove_realloc(vm->id, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        vm->id = a;
        int *b = trove_realloc(vm->version, cap * sizeof *b);
        if (b == NULL)
            return TROVE_ENOMEM;
        vm->version = b;
        vm->cap = cap;
    }
    vm->id[vm->n] = mv->id;
    vm->version[vm->n] = mv->version;
    vm->n++;
    return 0;
}

static json_t *version_of(const version_map *vm, int64_t id)
{
    for (size_t i = 0; id != 0 && i < vm->n; i++)
        if (vm->id[i] == id)
            return json_integer(vm->version[i]);
    return json_null();
}

static json_t *arm_json(const trove_ab_arm_counts *a, double rate)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:o}",
                     "users", (json_int_t)a->users,
                     "exposures", (json_int_t)a->exposures,
                     "impressions", (json_int_t)a->impressions,
                     "redemptions", (json_int_t)a->redemptions,
                     "rate", trove__serve_dashboard_num(rate));
}

static json_t *cycle_json(const trove_ab_cycle_counts *k, json_t *version)
{
    trove_ab_result res;
    trove_ab_analyze(k, &res);
    return json_pack("{s:s,s:I,s:o,s:o,s:{s:o,s:o},s:o,s:o,s:o,s:o,s:o,s:o,"
                     "s:b,s:o,s:o,s:I,s:I,s:I,s:I}",
                     "key", k->key, "start_ts", (json_int_t)k->start_ts,
                     "end_ts", k->end_ts >= OPEN_END ? json_null()
                                : json_integer((json_int_t)k->end_ts),
                     "model_version", version,
                     "arms",
                     "control", arm_json(&k->arm[TROVE_ARM_CONTROL],
                                         res.rate[TROVE_ARM_CONTROL]),
                     "test", arm_json(&k->arm[TROVE_ARM_TEST],
                                      res.rate[TROVE_ARM_TEST]),
                     "lift", trove__serve_dashboard_num(res.rel_lift),
                     "lift_ci", jpair(res.rel_ci),
                     "abs_lift", trove__serve_dashboard_num(res.abs_lift),
                     "abs_lift_ci", jpair(res.abs_ci),
                     "p_value", trove__serve_dashboard_num(res.p_value),
                     "srm_p_value", trove__serve_dashboard_num(res.srm_p),
                     "srm_warning", res.srm_warn,
                     "coverage", trove__serve_dashboard_num(res.coverage),
                     "top5_share", trove__serve_dashboard_num(res.top5_share),
                     "new_items", (json_int_t)k->new_items,
                     "new_items_shown", (json_int_t)k->new_items_shown,
                     "eligible_items", (json_int_t)k->eligible_items,
                     "distinct_items", (json_int_t)k->distinct_items);
}

static json_t *cumulative_json(const char *key, const trove_ab_cycle_counts *acc)
{
    trove_ab_result res;
    trove_ab_analyze(acc, &res);
    return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "key", key,
                     "test_rate", trove__serve_dashboard_num(res.rate[TROVE_ARM_TEST]),
                     "control_rate",
                     trove__serve_dashboard_num(res.rate[TROVE_ARM_CONTROL]),
                     "lift", trove__serve_dashboard_num(res.rel_lift),
                     "lift_ci", jpair(res.rel_ci),
                     "p_value", trove__serve_dashboard_num(res.p_value));
}

static int handle_cycles(trove_server *s, const serve_req *r, serve_resp *out)
{
    const char *market = trove__serve_query(r, "market");
    int64_t now = (int64_t)time(NULL);
    cycle_list cl = { 0 };
    version_map vm = { 0 };
    dash_store ds;
    trove_ab_cycle_counts acc;
    trove_error err;
    json_t *cycles = NULL, *cumul = NULL, *root = NULL;
    int mi, rc = TROVE_OK, bad = 0;

    if (trove__serve_require_read(s, r, out))
        return 1;
    if (market == NULL || market[0] == '\0')
        return trove__serve_reply_error(out, 400, "market: a market code is "
                                        "required (?market=DE)");
    if ((mi = trove__serve_market_index(s, market)) < 0)
        return trove__serve_reply_error(out, 404, "market: unknown market '%s'",
                                        market);
    out->market = (uint32_t)mi + 1;
    trove_error_clear(&err);
    memset(&acc, 0, sizeof acc);
    cycles = json_array();
    cumul = json_array();
    bad = cycles == NULL || cumul == NULL;

    trove__serve_dashboard_store_enter(s, &ds);
    rc = list_cycles(ds.st, s->market_id[mi], &cl, &err);
    if (rc == TROVE_OK) {
        rc = trove_store_models_foreach(ds.st, s->market_id[mi],
                                        collect_version, &vm, &err);
        if (rc == TROVE_ENOMEM)
            trove_error_set(&err, rc, "models: out of memory");
    }
    for (size_t i = 0; rc == TROVE_OK && !bad && i < cl.n; i++) {
        trove_ab_cycle_counts k;
        int64_t next = i + 1 < cl.n ? cl.rows[i + 1].created_ts : -1;
        rc = cycle_counts(s, ds.st, cl.rows[i].id, cl.rows[i].created_ts, next,
                          now, &k, &err);
        if (rc != TROVE_OK)
            break;
        trove_ab_accumulate(&acc, &k);
        json_t *c = cycle_json(&k, version_of(&vm, k.model_version_id));
        json_t *cu = cumulative_json(k.key, &acc);
        if (c == NULL || cu == NULL) {
            json_decref(c);
            json_decref(cu);
            bad = 1;
            break;
        }
        jpush(&bad, cycles, c);
        jpush(&bad, cumul, cu);
    }
    trove__serve_dashboard_store_leave(&ds);
    trove_free(cl.rows);
    trove_free(vm.id);
    trove_free(vm.version);
    if (rc != TROVE_OK) {
        json_decref(cycles);
        json_decref(cumul);
        return reply_store_error(out, rc, &err);
    }
    if (!bad)
        root = json_pack("{s:s,s:o,s:o}", "market", s->market_code[mi],
                         "cycles", cycles, "cumulative", cumul);
    else {
        json_decref(cycles);
        json_decref(cumul);
    }
    return trove__serve_reply_json(out, 200, root);
}

/* ----------------------------------------------------------- warm-up */
/* Read the hunt histories once (hunts.c), then count every cycle of every
 * market once, through the same cache the requests use, so the first hunt
 * and the first A/B page after a start do not pay for reading the event
 * log or counting 20 cycles (seconds with a million assignments). Stops
 * between two cycles when the server stops. */
static void *warm_main(void *arg)
{
    trove_server *s = arg;
    int64_t now = (int64_t)time(NULL);
    size_t done = 0;
    uint64_t t0 = trove__serve_now_ns();
    size_t hunts = trove__serve_hunts_warm(s);
    trove_log(TROVE_LOG_INFO, "serve: warm-up read the hunt histories of %zu markets in "
              "%.0f ms", hunts, (double)(trove__serve_now_ns() - t0) / 1e6);
    t0 = trove__serve_now_ns();
    for (size_t mi = 0; mi < s->n_markets && !atomic_load(&s->dash_warm_stop);
         mi++) {
        cycle_list cl = { 0 };
        dash_store ds;
        trove_error err;
        trove_error_clear(&err);
        trove__serve_dashboard_store_enter(s, &ds);
        int rc = list_cycles(ds.st, s->market_id[mi], &cl, &err);
        for (size_t i = 0; rc == TROVE_OK && i < cl.n &&
                           !atomic_load(&s->dash_warm_stop); i++) {
            trove_ab_cycle_counts k;
            int64_t next = i + 1 < cl.n ? cl.rows[i + 1].created_ts : -1;
            rc = cycle_counts(s, ds.st, cl.rows[i].id, cl.rows[i].created_ts,
                              next, now, &k, &err);
            done += rc == TROVE_OK;
        }
        trove__serve_dashboard_store_leave(&ds);
        trove_free(cl.rows);
        if (rc != TROVE_OK)
            trove_log(TROVE_LOG_WARN, "serve: dashboard warm-up of %s: %s",
                      s->market_code[mi], err.msg[0] ? err.msg : trove_strerror(rc));
    }
    trove_log(TROVE_LOG_INFO, "serve: dashboard warm-up counted %zu cycles in "
              "%.0f ms", done, (double)(trove__serve_now_ns() - t0) / 1e6);
    return NULL;
}

int trove__serve_dashboard_start(trove_server *s)
{
    atomic_store(&s->dash_warm_stop, 0);
    if (pthread_create(&s->dash_warm, NULL, warm_main, s) != 0)
        return TROVE_ENOMEM;
    s->dash_warm_running = 1;
    return TROVE_OK;
}

/* ----------------------------------------------------------- routing */
int trove__serve_dashboard_owns(const char *url)
{
    return strcmp(url, "/v1/session") == 0 || strcmp(url, "/v1/markets") == 0 ||
           strcmp(url, "/v1/items") == 0 || strcmp(url, "/v1/cycles") == 0;
}

int trove__serve_dashboard_handle(trove_server *s, const serve_req *r,
                                  serve_resp *out)
{
    int get = strcmp(r->method, "GET") == 0;
    out->endpoint = SERVE_EP_DASHBOARD;
    if (strcmp(r->url, "/v1/items") == 0) {
        if (get)
            return trove__serve_dashboard_items_list(s, r, out);
        if (strcmp(r->method, "POST") == 0)
            return trove__serve_dashboard_items_upload(s, r, out);
        return trove__serve_reply_error(out, 405, "method %s not allowed on %s",
                                        r->method, r->url);
    }
    if (!get)
        return trove__serve_reply_error(out, 405, "method %s not allowed on %s",
                                        r->method, r->url);
    if (strcmp(r->url, "/v1/session") == 0)
        return handle_session(s, r, out);
    if (strcmp(r->url, "/v1/markets") == 0)
        return handle_markets(s, r, out);
    if (strcmp(r->url, "/v1/cycles") == 0)
        return handle_cycles(s, r, out);
    return 0;
}
