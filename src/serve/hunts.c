/*
 * hunts.c - the treasure-hunt endpoints of trove serve:
 *   GET /v1/hunts?user=&market=   today's hunt of the user (generated and
 *                                 stored on the first call of the day)
 *   GET /v1/hunts/{id}            one stored hunt
 * both with the progress replayed from the user's events in the store.
 *
 * Candidates are the market's model top-K for the user (cold start from the
 * user's features), else the market's popularity order, else catalog order;
 * the market's compiled rules of the current snapshot apply (trove/hunt.h).
 *
 * Invariants: every store access and the per-market hunt state (template,
 * clock, catalog attributes) happen with s->admin_lock held, and the
 * snapshot is (re-)acquired under it, so the catalog attributes read from
 * the store match the snapshot's catalog index for index. The attributes
 * are reloaded when the snapshot generation changes (item upserts and
 * flags, model changes). Templates are read once per server: a changed
 * file takes effect at the next start. Users' histories (for novelty) are
 * read from the event log once (by the start-up warm-up of trove serve,
 * else by the first hunt request), then extended by the events at or after
 * the newest one seen (the time index keeps that cheap): an event posted
 * later with an older time than that is not in a history until restart.
 */
#include "serve_int.h"
#include "trove/hunt.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HUNTS_PATH "/v1/hunts"
#define MAX_USER_LEN 255

typedef struct market_hunts {
    trove_hunt_template      *tpl;
    trove_hunt_clock         *clock;
    trove_hunt_store_catalog *cat;
    uint64_t                  gen;     /* snapshot generation of cat */
} market_hunts;

/* The positive events (click, purchase, redemption, rating) of one user:
 * store item id and time, in the order read. */
typedef struct user_hist {
    int64_t  *item, *ts;
    uint32_t  n, cap;
} user_hist;

#define HIST_MASK (TROVE_EVENT_MASK(TROVE_EVENT_CLICK) |                  \
                   TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) |               \
                   TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) |             \
                   TROVE_EVENT_MASK(TROVE_EVENT_RATING))
#define MAX_EDGE 64

/* One server's hunt state (trove_server.hunts), created on first use and
 * freed when the server stops; every access holds the server's admin lock. */
struct serve_hunts {
    market_hunts        m[SERVE_MAX_MARKETS];
    /* Users' histories for novelty, by store user id: read from hist_from
     * (the history window) on first use, then only the events at or after
     * hist_ts (the time index makes
     * that cheap); the ids of the events at hist_ts already counted are in
     * edge, so the overlap is not counted twice. */
    user_hist          *hist;
    size_t              n_hist;
    int                 hist_loaded;
    int64_t             hist_from;     /* oldest event time held */
    int64_t             hist_ts;
    uint64_t            edge[MAX_EDGE];
    size_t              n_edge;
};

static void hist_drop(serve_hunts *st)
{
    for (size_t i = 0; i < st->n_hist; i++) {
        trove_free(st->hist[i].item);
        trove_free(st->hist[i].ts);
    }
    trove_free(st->hist);
    st->hist = NULL;
    st->n_hist = 0;
    st->hist_loaded = 0;
    st->hist_ts = 0;
    st->n_edge = 0;
}

static void hunts_free(serve_hunts *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < SERVE_MAX_MARKETS; i++) {
        trove_hunt_template_free(st->m[i].tpl);
        trove_hunt_clock_free(st->m[i].clock);
        trove_hunt_store_catalog_free(st->m[i].cat);
    }
    hist_drop(st);
    trove_free(st);
}

/* The hunt state of s, created on first use (admin lock held); NULL when
 * out of memory. */
static serve_hunts *hunts_of(trove_server *s)
{
    if (s->hunts == NULL)
        s->hunts = trove_calloc(1, sizeof *s->hunts);
    return s->hunts;
}

static int hist_add(serve_hunts *st, const trove_event *ev)
{
    if (ev->ts == st->hist_ts)
        for (size_t k = 0; k < st->n_edge; k++)
            if (st->edge[k] == ev->id)
                return 0;
    if ((uint64_t)ev->user_id >= st->n_hist) {
        size_t n = (size_t)ev->user_id + 1 + st->n_hist / 2;
        user_hist *h = trove_realloc(st->hist, n * sizeof *h);
        if (h == NULL)
            return TROVE_ENOMEM;
        memset(h + st->n_hist, 0, (n - st->n_hist) * sizeof *h);
        st->hist = h;
        st->n_hist = n;
    }
    user_hist *u = &st->hist[ev->user_id];
    if (u->n == u->cap) {
        uint32_t cap = u->cap ? 2 * u->cap : 8;
        int64_t *a = trove_realloc(u->item, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        u->item = a;
        a = trove_realloc(u->ts, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        u->ts = a;
        u->cap = cap;
    }
    u->item[u->n] = ev->item_id;
    u->ts[u->n] = ev->ts;
    u->n++;
    return 0;
}

typedef struct edge_scan {
    serve_hunts *st;
    int64_t  ts;
    uint64_t ids[MAX_EDGE];
    size_t   n;
    int      overflow;
} edge_scan;

static int hist_note(void *ud, const trove_event *ev)
{
    edge_scan *e = ud;
    int rc = hist_add(e->st, ev);
    if (rc != 0)
        return rc;
    if (ev->ts != e->ts) {
        e->ts = ev->ts;
        e->n = 0;
        e->overflow = 0;
    }
    if (e->n < MAX_EDGE)
        e->ids[e->n++] = ev->id;
    else
        e->overflow = 1;
    return 0;
}

/* Bring the histories up to the store's newest events, holding at least
 * the events from `from` on (admin lock held): the first call reads the
 * log from `from`, a call wanting an older start reads it again from
 * there. On failure the histories are dropped and read again next time. */
static int hist_update(trove_server *s, serve_hunts *st, int64_t from, trove_error *err)
{
    edge_scan e = { st, INT64_MIN, {0}, 0, 0 };
    if (st->hist_loaded && from < st->hist_from)
        hist_drop(st);
    if (!st->hist_loaded)
        st->hist_from = from > 0 ? from : 1;
    trove_event_filter f = { 0, st->hist_loaded ? st->hist_ts
                                                  : st->hist_from, 0, HIST_MASK };
    int rc = trove_store_events_foreach(s->store, &f, hist_note, &e, err);
    if (rc != TROVE_OK) {
        hist_drop(st);
        if (rc == TROVE_ENOMEM)
            trove_error_set(err, rc, "hunt histories: out of memory");
        return rc;
    }
    if (e.n > 0 && !e.overflow) {
        if (e.ts != st->hist_ts)
            st->n_edge = 0;
        st->hist_ts = e.ts;
        for (size_t k = 0; k < e.n && st->n_edge < MAX_EDGE; k++) {
            int seen = 0;
            for (size_t j = 0; j < st->n_edge && !seen; j++)
                seen = st->edge[j] == e.ids[k];
            if (!seen)
                st->edge[st->n_edge++] = e.ids[k];
        }
    } else if (e.overflow) {
        /* more than MAX_EDGE events at one second: start after it (events
         * arriving later with that very time are not counted) */
        st->hist_ts = e.ts + 1;
        st->n_edge = 0;
    }
    st->hist_loaded = 1;
    return TROVE_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The catalog items of `user` in [from, to), ascending and unique, into
 * *out (trove_malloc'd, NULL when none). */
static int user_history(trove_server *s, serve_hunts *st, const trove_hunt_store_catalog *cat,
                        const char *user, int64_t from, int64_t to,
                        uint32_t **out, size_t *n, trove_error *err)
{
    int64_t uid;
    uint32_t *items = NULL;
    size_t m = 0;
    int rc = hist_update(s, st, from, err);
    *out = NULL;
    *n = 0;
    if (rc != TROVE_OK)
        return rc;
    rc = trove_store_user_find(s->store, user, &uid, err);
    if (rc == TROVE_ENOTFOUND) {
        trove_error_clear(err);
        return TROVE_OK;
    }
    if (rc != TROVE_OK || uid <= 0 || (uint64_t)uid >= st->n_hist ||
        st->hist[uid].n == 0)
        return rc;
    const user_hist *h = &st->hist[uid];
    if ((items = trove_malloc(h->n * sizeof *items)) == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "hunt history: out of memory");
    for (uint32_t k = 0; k < h->n; k++) {
        int64_t i = h->ts[k] >= from && h->ts[k] < to
                        ? trove_hunt_store_catalog_index(cat, h->item[k]) : -1;
        if (i >= 0)
            items[m++] = (uint32_t)i;
    }
    if (m > 1) {
        size_t w = 1;
        qsort(items, m, sizeof *items, cmp_u32);
        for (size_t r = 1; r < m; r++)
            if (items[r] != items[w - 1])
                items[w++] = items[r];
        m = w;
    }
    if (m == 0) {
        trove_free(items);
        items = NULL;
    }
    *out = items;
    *n = m;
    return TROVE_OK;
}

void trove__serve_hunts_stop(trove_server *s)
{
    hunts_free(s->hunts);
    s->hunts = NULL;
}

int trove__serve_hunts_owns(const char *url)
{
    size_t n = sizeof HUNTS_PATH - 1;
    return strncmp(url, HUNTS_PATH, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

/* The market's template, clock and catalog attributes for snap (admin
 * lock held). On failure *status/err say why. */
static market_hunts *market_state(trove_server *s, serve_hunts *st,
                                  const serve_snapshot *snap,
                                  size_t mi, int *status, trove_error *err)
{
    market_hunts *m = &st->m[mi];
    int rc;
    *status = 500;
    if (m->tpl == NULL) {
        char path[4096];
        int have = 0;
        if (s->params.hunts_dir != NULL) {
            snprintf(path, sizeof path, "%s/%s.yaml", s->params.hunts_dir,
                     s->market_code[mi]);
            have = access(path, F_OK) == 0;
        }
        rc = have ? trove_hunt_template_load(path, &m->tpl, err)
                  : trove_hunt_template_default(&m->tpl, err);
        if (rc != TROVE_OK)
            return NULL;
        trove_log(TROVE_LOG_INFO, "serve: market %s: hunt template '%s' from %s",
                  s->market_code[mi], m->tpl->name, have ? path : "the built-in default");
    }
    if (m->clock == NULL &&
        trove_hunt_clock_new(s->market_tz[mi], &m->clock, err) != TROVE_OK)
        return NULL;
    if (m->cat == NULL || m->gen != snap->generation) {
        trove_hunt_store_catalog_free(m->cat);
        m->cat = NULL;
        if (trove_hunt_store_catalog_load(s->store, m->tpl->category_field,
                                          m->tpl->price_field, &m->cat, err)
            != TROVE_OK)
            return NULL;
        m->gen = snap->generation;
        const trove_hunt_catalog *v = trove_hunt_store_catalog_view(m->cat);
        int same = v->n_items == snap->n_items;
        for (uint32_t i = 0; same && i < snap->n_items; i++)
            same = trove_hunt_store_catalog_item_id(m->cat, i) ==
                   snap->items[i].store_id;
        if (!same) {
            trove_hunt_store_catalog_free(m->cat);
            m->cat = NULL;
            *status = 503;
            trove_error_set(err, TROVE_EBUSY, "the catalog is changing, retry");
            return NULL;
        }
    }
    return m;
}

/* ---------------------------------------------------------- candidates */
/* Score `user` with the market's model: 1 on success, 0 when the model
 * knows neither the user nor any of the user's stored features. */
static int model_scores(trove_server *s, const serve_market *mk,
                        const char *user, float *scores)
{
    const trove_model *m = mk->model->m;
    const trove_idmap *uids = trove_model_user_ids(m);
    size_t ulen = strlen(user);
    int64_t row = uids ? trove_idmap_find(uids, user, ulen) : -1;
    if (row >= 0)
        return trove_model_score_user(m, (uint32_t)row, scores, NULL) == TROVE_OK;
    uint32_t feat[256];
    float w[256];
    size_t nf = trove__serve_user_features(&s->users, m, user, ulen, feat, w,
                                           256);
    return nf > 0 &&
           trove_model_score_features(m, feat, w, nf, scores, NULL) == TROVE_OK;
}

/* The best k eligible catalog items by the model's scores, best first (ties:
 * lower model index). Returns the number written. */
static size_t model_top(const serve_snapshot *snap, const serve_market *mk,
                        const float *scores, size_t k, int64_t now,
                        uint32_t *cand, float *cs)
{
    uint32_t n_model = trove_model_n_items(mk->model->m);
    size_t n = 0;
    for (uint32_t j = 0; j < n_model && k > 0; j++) {
        uint32_t c = mk->model_to_cat[j];
        float sc = scores[j];
        if (c == SERVE_NONE || isnan(sc) || (n == k && !(sc > cs[n - 1])) ||
            !trove__serve_item_live(&snap->items[c], now))
            continue;
        size_t at = n < k ? n++ : k - 1;
        while (at > 0 && cs[at - 1] < sc) {
            cs[at] = cs[at - 1];
            cand[at] = cand[at - 1];
            at--;
        }
        cs[at] = sc;
        cand[at] = c;
    }
    return n;
}

/* Candidates of `user` into cand/cs (k entries at most) and their source.
 * Returns the number, or (size_t)-1 when out of memory. */
static size_t candidates(trove_server *s, const serve_snapshot *snap,
                         const serve_market *mk, const char *user, size_t k,
                         int64_t now, uint32_t *cand, float *cs, int *source)
{
    size_t n = 0;
    if (mk->model != NULL) {
        float *scores = trove_malloc((size_t)trove_model_n_items(mk->model->m) *
                                     sizeof *scores + sizeof *scores);
        if (scores == NULL)
            return (size_t)-1;
        if (model_scores(s, mk, user, scores))
            n = model_top(snap, mk, scores, k, now, cand, cs);
        trove_free(scores);
        if (n > 0) {
            *source = TROVE_HUNT_FROM_MODEL;
            return n;
        }
    }
    for (uint32_t r = 0; r < mk->n_pop && n < k; r++)
        if (trove__serve_item_live(&snap->items[mk->pop_order[r]], now)) {
            cand[n] = mk->pop_order[r];
            cs[n] = (float)(mk->n_pop - r);
            n++;
        }
    if (n > 0) {
        *source = TROVE_HUNT_FROM_POPULAR;
        return n;
    }
    for (uint32_t c = 0; c < snap->n_items && n < k; c++)
        if (trove__serve_item_live(&snap->items[c], now)) {
            cand[n] = c;
            cs[n] = NAN;
            n++;
        }
    *source = TROVE_HUNT_FROM_CATALOG;
    return n;
}

/* ---------------------------------------------------------------- JSON */
static json_t *opt_ts(int64_t ts)
{
    return ts != 0 ? json_integer((json_int_t)ts) : json_null();
}

static json_t *opt_str(const char *str)
{
    return str[0] != '\0' ? json_string(str) : json_null();
}

static json_t *hunt_json(const trove_hunt *h, int created)
{
    char day[11];
    json_t *root = json_object(), *steps = json_array(), *progress, *reward;
    if (root == NULL || steps == NULL) {
        json_decref(root);
        json_decref(steps);
        return NULL;
    }
    trove_hunt_day_format(h->day, day);
    json_object_set_new(root, "id", json_string(h->id));
    json_object_set_new(root, "user", json_string(h->user));
    json_object_set_new(root, "market", json_string(h->market));
    json_object_set_new(root, "template", json_string(h->template_name));
    json_object_set_new(root, "day", json_string(day));
    json_object_set_new(root, "created_at", json_integer((json_int_t)h->created_ts));
    json_object_set_new(root, "expires_at", json_integer((json_int_t)h->expires_ts));
    json_object_set_new(root, "source", json_string(trove_hunt_source_name(h->source)));
    json_object_set_new(root, "new", json_boolean(created));
    for (size_t k = 0; k < h->n_steps; k++) {
        const trove_hunt_step *st = &h->steps[k];
        json_t *o = json_object();
        if (o == NULL)
            break;
        json_object_set_new(o, "step", json_integer((json_int_t)(k + 1)));
        json_object_set_new(o, "kind", json_string(trove_hunt_step_kind_name(st->kind)));
        json_object_set_new(o, "item", json_string(st->item));
        json_object_set_new(o, "category", opt_str(st->category));
        if (st->kind == TROVE_HUNT_BUNDLE) {
            json_object_set_new(o, "partner", json_string(st->partner));
            json_object_set_new(o, "partner_category", opt_str(st->partner_category));
            json_object_set_new(o, "pair_source",
                                json_string(trove_hunt_pair_source_name(st->pair_source)));
        }
        json_object_set_new(o, "score", isfinite(st->score)
                                        ? json_real((double)st->score) : json_null());
        json_object_set_new(o, "done", json_boolean(k < h->n_done));
        json_object_set_new(o, "done_at", opt_ts(st->done_ts));
        json_array_append_new(steps, o);
    }
    json_object_set_new(root, "steps", steps);
    progress = json_object();
    if (progress != NULL) {
        json_object_set_new(progress, "done", json_integer((json_int_t)h->n_done));
        json_object_set_new(progress, "total", json_integer((json_int_t)h->n_steps));
        json_object_set_new(progress, "next_step", h->n_done < h->n_steps
                            ? json_integer((json_int_t)(h->n_done + 1)) : json_null());
        json_object_set_new(progress, "completed", json_boolean(h->n_done == h->n_steps));
        json_object_set_new(root, "progress", progress);
    }
    reward = json_object();
    if (reward != NULL) {
        json_object_set_new(reward, "state",
                            json_string(trove_hunt_reward_state_name(h->reward_state)));
        json_object_set_new(reward, "id", opt_str(h->reward_id));
        json_object_set_new(reward, "title", opt_str(h->reward_title));
        json_object_set_new(reward, "unlocked_at", opt_ts(h->reward_ts));
        json_object_set_new(root, "reward", reward);
    }
    return root;
}

/* ------------------------------------------------------------- handlers */
static int valid_user(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > MAX_USER_LEN)
        return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int status_of(int rc)
{
    switch (rc) {
    case TROVE_ENOTFOUND:
    case TROVE_EEMPTY:    return 404;
    case TROVE_EBUSY:     return 503;
    default:              return 500;
    }
}

/* Today's hunt (or, with id != NULL, the stored hunt id) into *h, admin
 * lock held. Returns an HTTP status; 200 on success. */
static int obtain(trove_server *s, int mi, const char *user, const char *id,
                  trove_hunt *h, int *created, trove_error *err)
{
    serve_snapshot *snap = trove__serve_snapshot_acquire(s);
    uint32_t *cand = NULL, *hist = NULL;
    float *cs = NULL;
    void *scratch = NULL;
    const serve_user_put *held = NULL; /* the user's features, for the rules */
    int status = 500, rc;
    int64_t now = (int64_t)time(NULL);
    serve_hunts *st = hunts_of(s);

    if (st == NULL) {
        trove_error_set(err, TROVE_ENOMEM, "out of memory");
        goto done;
    }
    if (snap == NULL) {
        trove_error_set(err, TROVE_EBUSY, "no catalog yet");
        status = 503;
        goto done;
    }
    if (id != NULL) {
        if ((rc = trove_hunt_store_find(s->store, id, h, err)) != TROVE_OK) {
            status = status_of(rc);
            goto done;
        }
        mi = trove__serve_market_index(s, h->market);
        if (mi < 0) {
            trove_error_set(err, TROVE_ENOTFOUND, "hunt %s: market '%s' is not "
                            "served", id, h->market);
            status = 404;
            goto done;
        }
    }
    market_hunts *m = market_state(s, st, snap, (size_t)mi, &status, err);
    if (m == NULL)
        goto done;
    if (id == NULL) {
        const serve_market *mk = &snap->markets[mi];
        const trove_hunt_template *t = m->tpl;
        trove_hunt_request rq;
        int32_t day = trove_hunt_clock_day(m->clock, now);
        memset(&rq, 0, sizeof rq);
        cand = trove_malloc(t->candidates * sizeof *cand);
        cs = trove_malloc(t->candidates * sizeof *cs);
        if (mk->rules != NULL)
            scratch = trove_malloc(mk->rules_scratch + 8);
        if (cand == NULL || cs == NULL || (mk->rules != NULL && scratch == NULL)) {
            trove_error_set(err, TROVE_ENOMEM, "out of memory");
            goto done;
        }
        rq.n_candidates = candidates(s, snap, mk, user, t->candidates, now, cand,
                                     cs, &rq.source);
        if (rq.n_candidates == (size_t)-1) {
            trove_error_set(err, TROVE_ENOMEM, "out of memory");
            goto done;
        }
        const char *fnames[64], *segs[64];
        size_t nf = 0, ns = 0;
        trove__serve_user_context(&s->users, user, fnames, &nf, segs, &ns, 64, &held);
        trove_rules_user ru = { .key = trove_hash64(user, strlen(user), 0),
                                .segments = segs, .n_segments = ns,
                                .features = fnames, .n_features = nf };
        rq.user = user;
        rq.market = s->market_code[mi];
        rq.day = day;
        rq.now = now;
        rq.expires_ts = trove_hunt_clock_midnight(m->clock, day + t->validity_days);
        rq.candidates = cand;
        rq.scores = cs;
        rq.rules = mk->rules;
        rq.rules_user = &ru;
        rq.rules_scratch = scratch;
        /* the history only matters for a hunt not stored yet */
        char hid[17];
        trove_stored_hunt stored;
        trove_hunt_id(user, rq.market, day, hid);
        rc = trove_store_hunt_find(s->store, hid, &stored, err);
        if (rc == TROVE_ENOTFOUND) {
            trove_error_clear(err);
            rc = user_history(s, st, m->cat, user, now - (int64_t)t->history_days * 86400,
                              now + 1, &hist, &rq.n_history, err);
            if (rc != TROVE_OK) {
                status = status_of(rc);
                goto done;
            }
            rq.history = hist;
            /* non-NULL even when empty: obtain must not read the store's */
            if (hist == NULL)
                rq.history = cand;
        } else if (rc != TROVE_OK) {
            status = status_of(rc);
            goto done;
        }
        rc = trove_hunt_store_obtain(s->store, s->market_id[mi], t, m->clock,
                                     m->cat, &rq, h, created, err);
    } else {
        rc = trove_hunt_store_refresh(s->store, m->tpl, m->clock, m->cat, now, h,
                                      err);
    }
    status = rc == TROVE_OK ? 200 : status_of(rc);
done:
    trove__serve_user_release(&s->users, held);
    trove__serve_snapshot_release(snap);
    trove_free(cand);
    trove_free(cs);
    trove_free(hist);
    trove_free(scratch);
    return status;
}

size_t trove__serve_hunts_warm(trove_server *s)
{
    size_t done = 0;
    int64_t now = (int64_t)time(NULL), from = INT64_MAX;
    trove_error err;
    trove_error_clear(&err);
    pthread_mutex_lock(&s->admin_lock);
    serve_snapshot *snap = trove__serve_snapshot_acquire(s);
    serve_hunts *st = hunts_of(s);
    for (size_t mi = 0; snap != NULL && st != NULL && mi < s->n_markets; mi++) {
        int status;
        market_hunts *m = market_state(s, st, snap, mi, &status, &err);
        if (m == NULL) {
            trove_log(TROVE_LOG_WARN, "serve: hunt warm-up of %s: %s", s->market_code[mi],
                      err.msg);
            trove_error_clear(&err);
            continue;
        }
        int64_t f = now - (int64_t)m->tpl->history_days * 86400;
        from = f < from ? f : from;
        done++;
    }
    if (done > 0 && hist_update(s, st, from, &err) != TROVE_OK) {
        trove_log(TROVE_LOG_WARN, "serve: hunt warm-up: %s", err.msg);
        done = 0;
    }
    trove__serve_snapshot_release(snap);
    pthread_mutex_unlock(&s->admin_lock);
    return done;
}

int trove__serve_hunts_handle(trove_server *s, const serve_req *r,
                              serve_resp *out)
{
    static _Thread_local trove_hunt h;   /* about 5 KiB: off the stack */
    trove_error err;
    const char *url = r->url + sizeof HUNTS_PATH - 1;
    const char *id = NULL, *user = NULL, *market = NULL;
    int mi = -1, status, created = 0;

    out->endpoint = SERVE_EP_HUNTS;
    trove_error_clear(&err);
    if (strcmp(r->method, "GET") != 0)
        return trove__serve_reply_error(out, 405, "%s: only GET", r->url);
    if (url[0] == '/') {
        id = url + 1;
        if (strlen(id) != 16 || strspn(id, "0123456789abcdef") != 16)
            return trove__serve_reply_error(out, 404, "no hunt '%s' (ids are 16 "
                                            "hex digits)", id);
    } else {
        user = trove__serve_query(r, "user");
        market = trove__serve_query(r, "market");
        if (user == NULL || user[0] == '\0')
            return trove__serve_reply_error(out, 400, "user: required");
        if (!valid_user(user))
            return trove__serve_reply_error(out, 400, "user: at most %d bytes "
                                            "without control characters",
                                            MAX_USER_LEN);
        if (market == NULL || market[0] == '\0')
            return trove__serve_reply_error(out, 400, "market: required");
        if ((mi = trove__serve_market_index(s, market)) < 0)
            return trove__serve_reply_error(out, 404, "market: unknown market "
                                            "'%s'", market);
        out->market = (uint32_t)mi + 1;
    }
    pthread_mutex_lock(&s->admin_lock);
    status = obtain(s, mi, user, id, &h, &created, &err);
    pthread_mutex_unlock(&s->admin_lock);
    if (status != 200)
        return trove__serve_reply_error(out, status, "%s", err.msg[0] ? err.msg
                                        : "hunt: internal error");
    if (id != NULL && (mi = trove__serve_market_index(s, h.market)) >= 0)
        out->market = (uint32_t)mi + 1;
    return trove__serve_reply_json(out, 200, hunt_json(&h, created));
}
