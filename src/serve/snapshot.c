/*
 * snapshot.c - the in-memory state that recommendations read: models held
 * by reference count, popularity counts, user features for cold start, and
 * the immutable catalog snapshot rebuilt after every item, flag or model
 * change and published by one pointer swap.
 *
 * Invariants: everything reachable from a published snapshot is read-only;
 * the snapshot is freed by whoever drops its last reference (a request
 * finishing on an old snapshot, or the swap itself). Store access happens
 * only here and in the admin handlers, always under s->admin_lock.
 */
#include "serve_int.h"
#include "trove/hunt.h"
#include "trove/recommender.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- models */
serve_model *trove__serve_model_retain(serve_model *m)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void trove__serve_model_release(serve_model *m)
{
    if (m == NULL)
        return;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        trove__serve_qmat_free(m->qm);
        trove_model_free(m->m);
        trove_free(m);
    }
}

/* Every file goes through trove_recommender_load_model: its header names
 * the family first, so that a family trove serve cannot score is refused
 * without loading it (an EASE item-item matrix may be large), and the
 * factor families become one hybrid trove_model (a hybrid model as it is,
 * an iALS model as an identity-only hybrid with zero biases and the ids
 * of the files beside it), which is all the scoring, candidate, rules and
 * monitoring paths read. */
int trove__serve_model_load(const char *path, int version, int64_t created,
                            const char *family, serve_model **out,
                            trove_error *err)
{
    serve_model *sm = NULL;
    trove_model *m = NULL;
    int rc = trove_recommender_load_model(path, &m, err);
    if (rc == TROVE_EUNSUPPORTED) {
        char file_family[64];
        if (trove_recommender_file_family(path, file_family, sizeof file_family,
                                          NULL) != TROVE_OK)
            snprintf(file_family, sizeof file_family, "?");
        rc = trove_error_set(err, TROVE_EUNSUPPORTED,
                             "%s: model family '%s' cannot be served (trove serve serves "
                             "the hybrid families and ials): train a hybrid or ials model "
                             "for this market", path, file_family);
    }
    if (rc != TROVE_OK)
        goto fail;
    if (trove_model_item_ids(m) == NULL) {
        rc = trove_error_set(err, TROVE_EFORMAT,
                             "%s: the model file has no item ids to serve with (nor a "
                             "%s.items file beside it)", path, path);
        goto fail;
    }
    if (trove_model_user_ids(m) == NULL)
        trove_log(TROVE_LOG_WARN, "serve: %s has no user ids (nor a %s.users file beside "
                  "it): users are scored from their features or get the fallback", path,
                  path);
    sm = trove_calloc(1, sizeof *sm);
    if (sm == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    atomic_init(&sm->refs, 1);
    sm->m = m;
    if (trove__serve_qmat_build(m, &sm->qm) != TROVE_OK) {
        trove_free(sm);
        sm = NULL;
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    sm->version = version;
    sm->created_ts = created;
    snprintf(sm->family, sizeof sm->family, "%s", family ? family : "hybrid");
    *out = sm;
    return TROVE_OK;
fail:
    trove_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ markets */
typedef struct market_walk {
    trove_server *s;
} market_walk;

static int collect_market(void *ud, const trove_market *mk)
{
    market_walk *w = ud;
    trove_server *s = w->s;
    if (s->n_markets >= SERVE_MAX_MARKETS) {
        trove_log(TROVE_LOG_WARN, "serve: more than %d markets; '%s' not served",
                  SERVE_MAX_MARKETS, mk->code);
        return 0;
    }
    size_t i = s->n_markets++;
    snprintf(s->market_code[i], sizeof s->market_code[i], "%s", mk->code);
    snprintf(s->market_tz[i], sizeof s->market_tz[i], "%s", mk->timezone);
    s->market_id[i] = mk->id;
    return 0;
}

typedef struct version_find {
    int   version;
    char *path;
    char  family[32];
    int64_t created;
} version_find;

static int find_version(void *ud, const trove_model_version *mv)
{
    version_find *f = ud;
    if (mv->version != f->version)
        return 0;
    f->path = trove_strdup(mv->path);
    snprintf(f->family, sizeof f->family, "%s", mv->family);
    f->created = mv->created_ts;
    return f->path == NULL ? TROVE_ENOMEM : 1;
}

/* Load version `version` of market index mi (admin lock held). */
static int load_version(trove_server *s, size_t mi, int version,
                        serve_model **out, trove_error *err)
{
    version_find f = { .version = version };
    int rc = trove_store_models_foreach(s->store, s->market_id[mi],
                                        find_version, &f, err);
    if (rc < 0)
        goto done;
    if (f.path == NULL) {
        rc = trove_error_set(err, TROVE_ENOTFOUND, "market %s: no version %d",
                             s->market_code[mi], version);
        goto done;
    }
    rc = trove__serve_model_load(f.path, version, f.created, f.family, out, err);
    if (rc != TROVE_OK)
        trove_error_prefix(err, "market %s: version %d (family %s)", s->market_code[mi],
                           version, f.family);
done:
    trove_free(f.path);
    return rc;
}

int trove__serve_load_version(trove_server *s, size_t mi, int version,
                              serve_model **out, trove_error *err)
{
    return load_version(s, mi, version, out, err);
}

int trove__serve_markets_load(trove_server *s, trove_error *err)
{
    market_walk w = { s };
    int rc = trove_store_markets_foreach(s->store, collect_market, &w, err);
    if (rc != TROVE_OK)
        return rc;
    for (size_t i = 0; i < s->n_markets; i++) {
        int version;
        trove_error e2;
        trove_error_clear(&e2);
        if (trove_store_model_active(s->store, s->market_id[i], &version,
                                     &e2) != TROVE_OK)
            continue;
        if (load_version(s, i, version, &s->models[i], &e2) != TROVE_OK)
            trove_log(TROVE_LOG_ERROR,
                      "serve: active version not served, the market serves its "
                      "fallbacks: %s", e2.msg);
        else
            trove_log(TROVE_LOG_INFO, "serve: market %s: model version %d",
                      s->market_code[i], version);
    }
    return TROVE_OK;
}

/* --------------------------------------------------------- popularity */
typedef struct item_max {
    int64_t max_id;
} item_max;

static int note_item(void *ud, const trove_item *it)
{
    item_max *m = ud;
    if (it->id > m->max_id)
        m->max_id = it->id;
    return 0;
}

static int count_event(void *ud, const trove_event *ev)
{
    trove_server *s = ud;
    serve_popularity *p = &s->pop;
    if (ev->item_id <= 0 || (size_t)ev->item_id >= p->cap)
        return 0;
    p->count[p->n_markets * p->cap + (size_t)ev->item_id]++;
    for (size_t i = 0; i < p->n_markets; i++)
        if (p->market_id[i] == ev->market_id) {
            p->count[i * p->cap + (size_t)ev->item_id]++;
            break;
        }
    return 0;
}

int trove__serve_popularity_load(trove_server *s, trove_error *err)
{
    serve_popularity *p = &s->pop;
    item_max im = { 0 };
    trove_event_filter f = {
        .type_mask = TROVE_EVENT_MASK(TROVE_EVENT_CLICK) |
                     TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) |
                     TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) |
                     TROVE_EVENT_MASK(TROVE_EVENT_RATING)
    };
    int rc = trove_store_items_foreach(s->store, note_item, &im, err);
    if (rc != TROVE_OK)
        return rc;
    p->n_markets = s->n_markets;
    memcpy(p->market_id, s->market_id, sizeof p->market_id);
    /* room for items uploaded while serving */
    p->cap = (size_t)im.max_id + 1 + 1024;
    p->count = trove_calloc((p->n_markets + 1) * p->cap, sizeof *p->count);
    if (p->count == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "popularity: out of memory");
    return trove_store_events_foreach(s->store, &f, count_event, s, err);
}

void trove__serve_popularity_free(serve_popularity *p)
{
    trove_free(p->count);
    p->count = NULL;
}

void trove__serve_popularity_add(trove_server *s, const trove_event *ev)
{
    if (ev->type == TROVE_EVENT_IMPRESSION || ev->type == TROVE_EVENT_RETURN)
        return;
    count_event(s, ev);
}

/* --------------------------------------------------------------- caps */
void trove__serve_caps_init(serve_caps *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < SERVE_CAP_SHARDS; i++)
        pthread_mutex_init(&c->shard[i].lock, NULL);
    pthread_mutex_init(&c->budget_lock, NULL);
}

void trove__serve_caps_free(serve_caps *c)
{
    for (int i = 0; i < SERVE_CAP_SHARDS; i++) {
        serve_exp_shard *sh = &c->shard[i];
        for (size_t k = 0; k < sh->cap; k++) {
            trove_free(sh->slot[k].user);
            trove_free(sh->slot[k].e);
        }
        trove_free(sh->slot);
        pthread_mutex_destroy(&sh->lock);
    }
    trove_free(c->spent);
    for (size_t m = 0; m < SERVE_MAX_MARKETS; m++)
        trove_hunt_clock_free(c->clock[m]);
    pthread_mutex_destroy(&c->budget_lock);
    memset(c, 0, sizeof *c);
}

static uint64_t user_hash(const char *user)
{
    uint64_t h = trove_hash64(user, strlen(user), 0x5e7e);
    return h ? h : 1;   /* 0 marks an empty slot */
}

/* Slot of (h, user) in sh (shard lock held): the user's, or the empty one
 * where it would go. */
static serve_exp_user *shard_slot(serve_exp_shard *sh, uint64_t h,
                                  const char *user)
{
    size_t mask = sh->cap - 1;
    /* the low bits chose the shard: probe from the high ones */
    for (size_t k = (size_t)(h >> 20) & mask;; k = (k + 1) & mask) {
        serve_exp_user *u = &sh->slot[k];
        if (u->hash == 0 || (u->hash == h && strcmp(u->user, user) == 0))
            return u;
    }
}

/* Room for one more user in sh (lock held): TROVE_OK or TROVE_ENOMEM. */
static int shard_reserve(serve_exp_shard *sh)
{
    if (sh->cap != 0 && 2 * (sh->n + 1) <= sh->cap)
        return TROVE_OK;
    size_t cap = sh->cap ? 2 * sh->cap : 64;
    serve_exp_shard grown = { .cap = cap, .n = sh->n };
    grown.slot = trove_calloc(cap, sizeof *grown.slot);
    if (grown.slot == NULL)
        return TROVE_ENOMEM;
    for (size_t k = 0; k < sh->cap; k++)
        if (sh->slot[k].hash != 0)
            *shard_slot(&grown, sh->slot[k].hash, sh->slot[k].user) = sh->slot[k];
    trove_free(sh->slot);
    sh->slot = grown.slot;
    sh->cap = cap;
    return TROVE_OK;
}

static int exposure_add(serve_caps *c, const char *user, int64_t item,
                        int32_t day)
{
    uint64_t h = user_hash(user);
    serve_exp_shard *sh = &c->shard[h % SERVE_CAP_SHARDS];
    int rc = TROVE_ENOMEM;
    pthread_mutex_lock(&sh->lock);
    if (shard_reserve(sh) != TROVE_OK)
        goto done;
    serve_exp_user *u = shard_slot(sh, h, user);
    if (u->hash == 0) {
        u->user = trove_strdup(user);
        if (u->user == NULL)
            goto done;
        u->hash = h;
        sh->n++;
    }
    /* drop the days no window reaches any more, then count */
    uint32_t kept = 0;
    serve_exposure *hit = NULL;
    for (uint32_t k = 0; k < u->n; k++) {
        if (u->e[k].day <= day - c->window_days)
            continue;
        u->e[kept] = u->e[k];
        if (u->e[kept].item == item && u->e[kept].day == day)
            hit = &u->e[kept];
        kept++;
    }
    u->n = kept;
    if (hit == NULL) {
        if (u->n == u->cap) {
            uint32_t cap = u->cap ? 2 * u->cap : 4;
            serve_exposure *e = trove_realloc(u->e, cap * sizeof *e);
            if (e == NULL)
                goto done;
            u->e = e;
            u->cap = cap;
        }
        hit = &u->e[u->n++];
        *hit = (serve_exposure){ item, day, 0 };
    }
    hit->count++;
    rc = TROVE_OK;
done:
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static int spent_add(serve_caps *c, int64_t item, double value)
{
    int rc = TROVE_OK;
    if (item <= 0 || !isfinite(value))
        return TROVE_OK;
    pthread_mutex_lock(&c->budget_lock);
    if ((size_t)item >= c->spent_cap) {
        size_t cap = c->spent_cap ? c->spent_cap : 1024;
        while (cap <= (size_t)item)
            cap *= 2;
        double *sp = trove_realloc(c->spent, cap * sizeof *sp);
        if (sp == NULL) {
            rc = TROVE_ENOMEM;
            goto done;
        }
        for (size_t k = c->spent_cap; k < cap; k++)
            sp[k] = 0.0;
        c->spent = sp;
        c->spent_cap = cap;
    }
    c->spent[item] += value;
done:
    pthread_mutex_unlock(&c->budget_lock);
    return rc;
}

/* The day of UTC time ts in market index mi's time zone; the UTC day for
 * an unknown market or a clock that could not be made. */
static int32_t local_day(const serve_caps *c, size_t mi, int64_t ts)
{
    /* years 1000..9999: far from any overflow of the day arithmetic */
    ts = ts < -30610224000 ? -30610224000 : ts > 253402300799 ? 253402300799 : ts;
    if (mi < SERVE_MAX_MARKETS && c->clock[mi] != NULL)
        return trove_hunt_clock_day(c->clock[mi], ts);
    return (int32_t)(ts / 86400 - (ts % 86400 < 0));
}

/* The market index of store market id, SERVE_MAX_MARKETS when not served. */
static size_t market_of(const trove_server *s, int64_t market_id)
{
    for (size_t m = 0; m < s->n_markets; m++)
        if (s->market_id[m] == market_id)
            return m;
    return SERVE_MAX_MARKETS;
}

int trove__serve_caps_add(trove_server *s, const char *user,
                          const trove_event *ev)
{
    if (ev->type == TROVE_EVENT_IMPRESSION && s->caps.frequency)
        return exposure_add(&s->caps, user, ev->item_id,
                            local_day(&s->caps, market_of(s, ev->market_id), ev->ts));
    if (ev->type == TROVE_EVENT_REDEMPTION)
        return spent_add(&s->caps, ev->item_id, ev->value);
    return TROVE_OK;
}

size_t trove__serve_exposures(trove_server *s, const char *user, size_t mi,
                              int64_t now, int window_days, int64_t *items,
                              uint32_t *counts, size_t cap)
{
    serve_caps *c = &s->caps;
    uint64_t h;
    size_t n = 0;
    int32_t today = local_day(c, mi, now);
    if (!c->frequency)
        return 0;
    h = user_hash(user);
    serve_exp_shard *sh = &c->shard[h % SERVE_CAP_SHARDS];
    pthread_mutex_lock(&sh->lock);
    if (sh->cap > 0) {
        const serve_exp_user *u = shard_slot(sh, h, user);
        for (uint32_t k = 0; u->hash != 0 && k < u->n; k++) {
            const serve_exposure *e = &u->e[k];
            size_t j = 0;
            if (e->day <= today - window_days || e->day > today)
                continue;
            while (j < n && items[j] != e->item)
                j++;
            if (j == n) {
                if (n == cap)
                    continue;
                items[n] = e->item;
                counts[n++] = 0;
            }
            counts[j] += e->count;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return n;
}

int64_t trove__serve_catalog_index(const serve_snapshot *snap, int64_t id)
{
    uint32_t lo = 0, hi = snap->n_items;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (snap->items[mid].store_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < snap->n_items && snap->items[lo].store_id == id ? (int64_t)lo : -1;
}

void trove__serve_budgets(trove_server *s, const serve_snapshot *snap,
                          double *remaining)
{
    serve_caps *c = &s->caps;
    pthread_mutex_lock(&c->budget_lock);
    for (uint32_t k = 0; k < snap->n_budgeted; k++) {
        const serve_item *it = &snap->items[snap->budgeted[k]];
        size_t id = (size_t)it->store_id;
        remaining[snap->budgeted[k]] =
            it->budget - (id < c->spent_cap ? c->spent[id] : 0.0);
    }
    pthread_mutex_unlock(&c->budget_lock);
}

/* Users by store id, for the start-up count of impressions. */
typedef struct caps_walk {
    trove_server *s;
    int64_t      *ids;
    char        **ext;
    size_t        n, cap;
} caps_walk;

static int caps_user(void *ud, const trove_user *u)
{
    caps_walk *w = ud;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 1024;
        int64_t *ids = trove_realloc(w->ids, cap * sizeof *ids);
        if (ids == NULL)
            return TROVE_ENOMEM;
        w->ids = ids;
        char **ext = trove_realloc(w->ext, cap * sizeof *ext);
        if (ext == NULL)
            return TROVE_ENOMEM;
        w->ext = ext;
        w->cap = cap;
    }
    w->ext[w->n] = trove_strdup(u->ext_id);
    if (w->ext[w->n] == NULL)
        return TROVE_ENOMEM;
    w->ids[w->n++] = u->id;
    return 0;
}

static int caps_event(void *ud, const trove_event *ev)
{
    caps_walk *w = ud;
    size_t lo = 0, hi = w->n;   /* users in id order */
    if (ev->type == TROVE_EVENT_REDEMPTION)
        return spent_add(&w->s->caps, ev->item_id, ev->value);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->ids[mid] < ev->user_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == w->n || w->ids[lo] != ev->user_id)
        return 0;
    return exposure_add(&w->s->caps, w->ext[lo], ev->item_id,
                        local_day(&w->s->caps, market_of(w->s, ev->market_id), ev->ts));
}

int trove__serve_caps_load(trove_server *s, trove_error *err)
{
    serve_caps *c = &s->caps;
    caps_walk w = { .s = s };
    int rc = TROVE_OK;
    for (size_t m = 0; m < SERVE_MAX_MARKETS; m++) {
        const trove_rule_set *rs = s->rule_sets[m];
        for (size_t r = 0; rs != NULL && r < rs->n_rules; r++)
            if (rs->rules[r].kind == TROVE_RULE_FREQUENCY_CAP) {
                c->frequency = 1;
                if (rs->frequency_window_days > c->window_days)
                    c->window_days = rs->frequency_window_days;
            }
    }
    trove_event_filter rf = {
        .type_mask = TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) };
    rc = trove_store_events_foreach(s->store, &rf, caps_event, &w, err);
    for (size_t m = 0; rc == TROVE_OK && c->frequency && m < s->n_markets; m++) {
        trove_error e2;
        if (trove_hunt_clock_new(s->market_tz[m], &c->clock[m], &e2) == TROVE_ENOMEM)
            rc = TROVE_ENOMEM;
        else if (c->clock[m] == NULL)
            trove_log(TROVE_LOG_WARN, "serve: market %s: frequency caps count UTC days: %s",
                      s->market_code[m], e2.msg);
    }
    if (rc == TROVE_OK && c->frequency) {
        /* impressions from the start of the oldest day a window reaches, in
         * any market's time zone (a day before the UTC one covers them) */
        int64_t today = (int64_t)time(NULL) / 86400;
        trove_event_filter f = {
            .ts_from = (today - c->window_days) * 86400,
            .type_mask = TROVE_EVENT_MASK(TROVE_EVENT_IMPRESSION) };
        rc = trove_store_users_foreach(s->store, caps_user, &w, err);
        if (rc == TROVE_OK)
            rc = trove_store_events_foreach(s->store, &f, caps_event, &w, err);
    }
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "caps: out of memory");
    for (size_t k = 0; k < w.n; k++)
        trove_free(w.ext[k]);
    trove_free(w.ext);
    trove_free(w.ids);
    return rc;
}

/* ------------------------------------------------------ user features */
typedef struct users_build {
    trove_server *s;
    int64_t      *store_ids;    /* row -> store id */
    size_t        n, cap;
    /* features, ordered by entity id */
    uint32_t     *row, *feat;
    float        *weight;
    size_t        nnz, fcap;
    int           rc;
} users_build;

static int collect_user(void *ud, const trove_user *u)
{
    users_build *b = ud;
    uint32_t idx;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        int64_t *ids = trove_realloc(b->store_ids, cap * sizeof *ids);
        if (ids == NULL)
            return TROVE_ENOMEM;
        b->store_ids = ids;
        b->cap = cap;
    }
    int rc = trove_idmap_intern(b->s->users.user_ids, u->ext_id,
                                strlen(u->ext_id), &idx, NULL);
    if (rc != TROVE_OK)
        return rc;
    b->store_ids[b->n++] = u->id;
    return 0;
}

static int find_row(const users_build *b, int64_t id, uint32_t *row)
{
    size_t lo = 0, hi = b->n;   /* store_ids ascending (id order) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->store_ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == b->n || b->store_ids[lo] != id)
        return -1;
    *row = (uint32_t)lo;
    return 0;
}

static int collect_user_feature(void *ud, const trove_feature_value *fv)
{
    users_build *b = ud;
    uint32_t row, f;
    if (find_row(b, fv->entity_id, &row) != 0)
        return 0;
    if (b->nnz == b->fcap) {
        size_t cap = b->fcap ? 2 * b->fcap : 4096;
        uint32_t *r = trove_realloc(b->row, cap * sizeof *r);
        if (r == NULL)
            return TROVE_ENOMEM;
        b->row = r;
        uint32_t *fe = trove_realloc(b->feat, cap * sizeof *fe);
        if (fe == NULL)
            return TROVE_ENOMEM;
        b->feat = fe;
        float *w = trove_realloc(b->weight, cap * sizeof *w);
        if (w == NULL)
            return TROVE_ENOMEM;
        b->weight = w;
        b->fcap = cap;
    }
    int rc = trove_idmap_intern(b->s->users.names, fv->name, strlen(fv->name),
                                &f, NULL);
    if (rc != TROVE_OK)
        return rc;
    b->row[b->nnz] = row;
    b->feat[b->nnz] = f;
    b->weight[b->nnz] = (float)fv->value;
    b->nnz++;
    return 0;
}

int trove__serve_users_load(trove_server *s, trove_error *err)
{
    serve_users *u = &s->users;
    users_build b = { .s = s };
    int rc;
    u->user_ids = trove_idmap_new();
    u->names = trove_idmap_new();
    u->put_ids = trove_idmap_new();
    u->put_lock_ok = pthread_rwlock_init(&u->put_lock, NULL) == 0;
    atomic_init(&u->n_put, 0);
    atomic_init(&u->n_live, 0);
    if (u->user_ids == NULL || u->names == NULL || u->put_ids == NULL || !u->put_lock_ok) {
        rc = trove_error_set(err, TROVE_ENOMEM, "user features: out of memory");
        goto done;
    }
    rc = trove_store_users_foreach(s->store, collect_user, &b, err);
    if (rc == TROVE_OK)
        rc = trove_store_features_foreach(s->store, TROVE_FEATURE_USER,
                                          collect_user_feature, &b, err);
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "user features: out of memory");
    if (rc != TROVE_OK)
        goto done;
    u->off = trove_calloc(b.n + 1, sizeof *u->off);
    u->feat = trove_malloc((b.nnz ? b.nnz : 1) * sizeof *u->feat);
    u->weight = trove_malloc((b.nnz ? b.nnz : 1) * sizeof *u->weight);
    if (u->off == NULL || u->feat == NULL || u->weight == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "user features: out of memory");
        goto done;
    }
    /* counting sort by row: the walk is in entity order already, but a
     * sort keeps this correct whatever order the store gives */
    for (size_t k = 0; k < b.nnz; k++)
        u->off[b.row[k] + 1]++;
    for (size_t r = 0; r < b.n; r++)
        u->off[r + 1] += u->off[r];
    {
        uint32_t *pos = trove_malloc((b.n ? b.n : 1) * sizeof *pos);
        if (pos == NULL) {
            rc = trove_error_set(err, TROVE_ENOMEM, "user features: out of memory");
            goto done;
        }
        memcpy(pos, u->off, b.n * sizeof *pos);
        for (size_t k = 0; k < b.nnz; k++) {
            uint32_t at = pos[b.row[k]]++;
            u->feat[at] = b.feat[k];
            u->weight[at] = b.weight[k];
        }
        trove_free(pos);
    }
done:
    trove_free(b.store_ids);
    trove_free(b.row);
    trove_free(b.feat);
    trove_free(b.weight);
    return rc;
}

static void put_release(serve_users *u, serve_user_put *p);

void trove__serve_users_free(serve_users *u)
{
    /* the table's references; no reader is left at stop */
    for (size_t k = 0; u->put != NULL && k < u->cap_put; k++)
        put_release(u, u->put[k]);
    trove_free(u->put);
    trove_idmap_free(u->put_ids);
    if (u->put_lock_ok)
        pthread_rwlock_destroy(&u->put_lock);
    trove_idmap_free(u->user_ids);
    trove_idmap_free(u->names);
    trove_free(u->off);
    trove_free(u->feat);
    trove_free(u->weight);
    memset(u, 0, sizeof *u);
}

/* ----------------------------------------------------------- snapshot */
static void snapshot_free(serve_snapshot *snap)
{
    if (snap == NULL)
        return;
    for (uint32_t i = 0; i < snap->n_items; i++)
        trove_free(snap->items[i].ext_id);
    trove_free(snap->items);
    trove_free(snap->pinned);
    trove_free(snap->budgeted);
    trove_idmap_free(snap->item_ids);
    for (uint32_t m = 0; m < snap->n_markets; m++) {
        serve_market *mk = &snap->markets[m];
        trove__serve_model_release(mk->model);
        trove_rules_free(mk->rules);
        trove_free(mk->model_to_cat);
        trove_free(mk->extra_emb);
        trove_free(mk->extra_bias);
        trove_free(mk->explore);
        trove_free(mk->pop_order);
    }
    trove_free(snap->markets);
    trove_idmap_free(snap->market_codes);
    trove_free(snap);
}

serve_snapshot *trove__serve_snapshot_acquire(trove_server *s)
{
    pthread_mutex_lock(&s->snap_lock);
    serve_snapshot *snap = s->snap;
    atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->snap_lock);
    return snap;
}

void trove__serve_snapshot_release(serve_snapshot *snap)
{
    if (snap != NULL &&
        atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1)
        snapshot_free(snap);
}

typedef struct items_build {
    serve_snapshot *snap;
    uint32_t        cap;
} items_build;

static int collect_item(void *ud, const trove_item *it)
{
    items_build *b = ud;
    serve_snapshot *snap = b->snap;
    uint32_t idx;
    if (snap->n_items == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 1024;
        serve_item *items = trove_realloc(snap->items, cap * sizeof *items);
        if (items == NULL)
            return TROVE_ENOMEM;
        snap->items = items;
        b->cap = cap;
    }
    serve_item *si = &snap->items[snap->n_items];
    si->ext_id = trove_strdup(it->ext_id);
    if (si->ext_id == NULL)
        return TROVE_ENOMEM;
    snap->n_items++;
    si->store_id = it->id;
    si->active = it->active;
    si->pinned = it->pinned;
    si->blocked = it->blocked;
    si->start_ts = it->start_ts;
    si->end_ts = it->end_ts;
    si->created_ts = it->created_ts;
    return trove_idmap_intern(snap->item_ids, it->ext_id, strlen(it->ext_id),
                              &idx, NULL);
}

/* The item features of the catalog, read once per rebuild: triples
 * (catalog item, name, weight) in store order (by item), names interned.
 * Used for the rules (categorical names), the extra model rows (every
 * feature) and the budgets (the numeric "budget" feature). */
typedef struct item_feats {
    const serve_snapshot *snap;
    trove_idmap *names;
    uint32_t    *item, *name;   /* pairs */
    float       *weight;
    uint8_t     *categorical;
    size_t      *off;           /* n_items + 1, per catalog item */
    size_t       n, cap;
} item_feats;

static void item_feats_free(item_feats *f)
{
    trove_idmap_free(f->names);
    trove_free(f->item);
    trove_free(f->name);
    trove_free(f->weight);
    trove_free(f->categorical);
    trove_free(f->off);
    memset(f, 0, sizeof *f);
}

static int collect_item_feature(void *ud, const trove_feature_value *fv)
{
    item_feats *f = ud;
    uint32_t lo = 0, hi = f->snap->n_items, nm;
    while (lo < hi) {   /* catalog items are in store id order */
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->snap->items[mid].store_id < fv->entity_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == f->snap->n_items || f->snap->items[lo].store_id != fv->entity_id)
        return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 4096;
        uint32_t *a = trove_realloc(f->item, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        f->item = a;
        a = trove_realloc(f->name, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        f->name = a;
        float *w = trove_realloc(f->weight, cap * sizeof *w);
        if (w == NULL)
            return TROVE_ENOMEM;
        f->weight = w;
        uint8_t *c = trove_realloc(f->categorical, cap);
        if (c == NULL)
            return TROVE_ENOMEM;
        f->categorical = c;
        f->cap = cap;
    }
    int rc = trove_idmap_intern(f->names, fv->name, strlen(fv->name), &nm, NULL);
    if (rc != TROVE_OK)
        return rc;
    f->item[f->n] = lo;
    f->name[f->n] = nm;
    f->weight[f->n] = (float)fv->value;
    f->categorical[f->n] = fv->kind == TROVE_FEATURE_CATEGORICAL;
    f->n++;
    return 0;
}

/* Read every item feature of snap's catalog into *f, with per-item
 * offsets (the store walks features in item order, which is catalog
 * order; a counting sort keeps this right whatever the order). */
static int item_feats_load(trove_server *s, const serve_snapshot *snap,
                           item_feats *f, trove_error *err)
{
    uint32_t *item = NULL, *name = NULL;
    float *weight = NULL;
    uint8_t *cat = NULL;
    size_t *pos = NULL;
    int rc = TROVE_ENOMEM;
    memset(f, 0, sizeof *f);
    f->snap = snap;
    f->names = trove_idmap_new();
    f->off = trove_calloc((size_t)snap->n_items + 1, sizeof *f->off);
    if (f->names == NULL || f->off == NULL)
        goto done;
    rc = trove_store_features_foreach(s->store, TROVE_FEATURE_ITEM,
                                      collect_item_feature, f, err);
    if (rc != TROVE_OK)
        goto done;
    rc = TROVE_ENOMEM;
    size_t n = f->n ? f->n : 1;
    item = trove_malloc(n * sizeof *item);
    name = trove_malloc(n * sizeof *name);
    weight = trove_malloc(n * sizeof *weight);
    cat = trove_malloc(n);
    pos = trove_malloc(((size_t)snap->n_items + 1) * sizeof *pos);
    if (item == NULL || name == NULL || weight == NULL || cat == NULL ||
        pos == NULL)
        goto done;
    for (size_t k = 0; k < f->n; k++)
        f->off[f->item[k] + 1]++;
    for (uint32_t i = 0; i < snap->n_items; i++)
        f->off[i + 1] += f->off[i];
    memcpy(pos, f->off, ((size_t)snap->n_items + 1) * sizeof *pos);
    for (size_t k = 0; k < f->n; k++) {
        size_t at = pos[f->item[k]]++;
        item[at] = f->item[k];
        name[at] = f->name[k];
        weight[at] = f->weight[k];
        cat[at] = f->categorical[k];
    }
    trove_free(f->item);
    trove_free(f->name);
    trove_free(f->weight);
    trove_free(f->categorical);
    f->item = item;
    f->name = name;
    f->weight = weight;
    f->categorical = cat;
    item = name = NULL;
    weight = NULL;
    cat = NULL;
    rc = TROVE_OK;
done:
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "item features: out of memory");
    trove_free(item);
    trove_free(name);
    trove_free(weight);
    trove_free(cat);
    trove_free(pos);
    return rc;
}

/* Budgets: an offer with a numeric feature "budget" is budgeted (docs/
 * serve.md: its remaining budget is that value minus the value of its
 * redemptions, counted online). */
static int item_budgets(serve_snapshot *snap, const item_feats *f)
{
    int64_t b = trove_idmap_find(f->names, "budget", 6);
    snap->budgeted = trove_malloc((snap->n_items ? snap->n_items : 1) *
                                  sizeof *snap->budgeted);
    if (snap->budgeted == NULL)
        return TROVE_ENOMEM;
    if (b < 0)
        return TROVE_OK;
    for (uint32_t i = 0; i < snap->n_items; i++)
        for (size_t k = f->off[i]; k < f->off[i + 1]; k++)
            if (f->name[k] == (uint32_t)b && !f->categorical[k]) {
                snap->items[i].budgeted = 1;
                snap->items[i].budget = f->weight[k];
                snap->budgeted[snap->n_budgeted++] = i;
                break;
            }
    return TROVE_OK;
}

/* The extra rows of market mi: every catalog offer its model has no row
 * for, represented from the features the model knows (Kula 2015: an
 * item is the sum of its features' embeddings and biases), or, with no
 * known feature and item_cold_fallback MEAN, by the mean representation
 * of the trained items. Offers left without a row stay in `explore`. */
static int build_extra(trove_server *s, serve_snapshot *snap, serve_market *mk,
                       const item_feats *f, const uint8_t *known)
{
    const trove_model *m = mk->model->m;
    const trove_idmap *fnames = trove_model_item_feature_names(m);
    uint32_t dim = trove_model_dim(m), n_model = trove_model_n_items(m);
    uint32_t n_new = 0, *feat = NULL, *tmp_map = NULL;
    float *w = NULL, mean_bias = 0.0f, *mean = NULL;
    int have_mean = -1, rc = TROVE_ENOMEM;
    size_t max_f = 1;
    for (uint32_t i = 0; i < snap->n_items; i++)
        if (!known[i]) {
            n_new++;
            if (f->off[i + 1] - f->off[i] > max_f)
                max_f = f->off[i + 1] - f->off[i];
        }
    mk->n_scored = n_model;
    if (n_new == 0)
        return TROVE_OK;
    mk->extra_emb = trove_malloc((size_t)n_new * dim * sizeof *mk->extra_emb);
    mk->extra_bias = trove_malloc((size_t)n_new * sizeof *mk->extra_bias);
    tmp_map = trove_realloc(mk->model_to_cat,
                            ((size_t)n_model + n_new) * sizeof *tmp_map);
    feat = trove_malloc(max_f * sizeof *feat);
    w = trove_malloc(max_f * sizeof *w);
    mean = trove_malloc(dim * sizeof *mean);
    if (tmp_map != NULL)
        mk->model_to_cat = tmp_map;
    if (mk->extra_emb == NULL || mk->extra_bias == NULL || tmp_map == NULL ||
        feat == NULL || w == NULL || mean == NULL)
        goto done;
    for (uint32_t i = 0; i < snap->n_items; i++) {
        size_t nf = 0;
        float *emb = mk->extra_emb + (size_t)mk->n_extra * dim;
        if (known[i])
            continue;
        for (size_t k = f->off[i]; fnames != NULL && k < f->off[i + 1]; k++) {
            size_t len;
            const char *name = trove_idmap_name(f->names, f->name[k], &len);
            int64_t x = trove_idmap_find(fnames, name, len);
            if (x >= 0 && (uint32_t)x < trove_model_n_item_features(m)) {
                feat[nf] = (uint32_t)x;
                w[nf] = f->weight[k];
                nf++;
            }
        }
        if (nf > 0) {
            if (trove_model_item_repr_features(m, feat, w, nf, emb,
                                               &mk->extra_bias[mk->n_extra],
                                               NULL) != TROVE_OK)
                continue;
        } else {
            if (s->params.item_cold_fallback != TROVE_COLD_MEAN)
                continue;
            if (have_mean < 0)
                have_mean = trove_model_item_repr_mean(m, mean, &mean_bias,
                                                       NULL) == TROVE_OK;
            if (!have_mean)
                continue;
            memcpy(emb, mean, dim * sizeof *emb);
            mk->extra_bias[mk->n_extra] = mean_bias;
        }
        mk->model_to_cat[n_model + mk->n_extra] = i;
        mk->n_extra++;
    }
    mk->n_scored = n_model + mk->n_extra;
    rc = TROVE_OK;
done:
    trove_free(feat);
    trove_free(w);
    trove_free(mean);
    return rc;
}

/* Sort key for popularity: count descending, catalog index ascending. */
typedef struct pop_sort {
    uint32_t count, idx;
} pop_sort;

static int pop_cmp(const void *a, const void *b)
{
    const pop_sort *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static const trove_market_config *config_of(const trove_server *s,
                                            const char *code)
{
    for (size_t i = 0; i < s->n_configs; i++)
        if (strcmp(s->configs[i]->code, code) == 0)
            return s->configs[i];
    return NULL;
}

static int build_market(trove_server *s, serve_snapshot *snap, uint32_t mi,
                        pop_sort *tmp, const item_feats *f)
{
    serve_market *mk = &snap->markets[mi];
    const trove_market_config *cfg = config_of(s, s->market_code[mi]);
    snprintf(mk->code, sizeof mk->code, "%s", s->market_code[mi]);
    mk->id = s->market_id[mi];
    snprintf(mk->salt, sizeof mk->salt, "%s", cfg ? cfg->salt : mk->code);
    mk->test_share = cfg ? cfg->test_share : 1.0;
    mk->control_policy = cfg ? cfg->control_policy : TROVE_CONTROL_POPULARITY;
    mk->n_default = cfg ? cfg->number_of_predictions : 10;
    mk->model = trove__serve_model_retain(s->models[mi]);

    uint8_t *known = NULL;
    int rc = TROVE_ENOMEM;
    known = trove_calloc(snap->n_items ? snap->n_items : 1, 1);
    if (known == NULL)
        goto done;
    if (mk->model != NULL) {
        const trove_idmap *ids = trove_model_item_ids(mk->model->m);
        uint32_t n = trove_model_n_items(mk->model->m);
        mk->model_to_cat = trove_malloc((n ? n : 1) * sizeof *mk->model_to_cat);
        if (mk->model_to_cat == NULL)
            goto done;
        for (uint32_t j = 0; j < n; j++) {
            size_t len;
            const char *name = trove_idmap_name(ids, j, &len);
            int64_t c = name ? trove_idmap_find(snap->item_ids, name, len) : -1;
            mk->model_to_cat[j] = c < 0 ? SERVE_NONE : (uint32_t)c;
            if (c >= 0)
                known[c] = 1;
        }
        if (build_extra(s, snap, mk, f, known) != TROVE_OK)
            goto done;
        for (uint32_t r = n; r < mk->n_scored; r++)
            known[mk->model_to_cat[r]] = 1;
        uint32_t n_new = 0;
        for (uint32_t i = 0; i < snap->n_items; i++)
            n_new += !known[i];
        mk->explore = trove_malloc((n_new ? n_new : 1) * sizeof *mk->explore);
        if (mk->explore == NULL)
            goto done;
        for (uint32_t i = 0; i < snap->n_items; i++)
            if (!known[i])
                mk->explore[mk->n_explore++] = i;
    }
    /* popularity: this market's counts, or all markets' when it has none */
    {
        const serve_popularity *p = &s->pop;
        const uint32_t *row = p->count + (size_t)mi * p->cap;
        uint64_t total = 0;
        for (uint32_t i = 0; i < snap->n_items; i++) {
            size_t id = (size_t)snap->items[i].store_id;
            total += id < p->cap ? row[id] : 0;
        }
        if (total == 0)
            row = p->count + p->n_markets * p->cap;
        uint32_t n = 0;
        for (uint32_t i = 0; i < snap->n_items; i++) {
            size_t id = (size_t)snap->items[i].store_id;
            uint32_t c = id < p->cap ? row[id] : 0;
            if (c > 0)
                tmp[n++] = (pop_sort){ c, i };
        }
        qsort(tmp, n, sizeof *tmp, pop_cmp);
        mk->pop_order = trove_malloc((n ? n : 1) * sizeof *mk->pop_order);
        if (mk->pop_order == NULL)
            goto done;
        for (uint32_t k = 0; k < n; k++)
            mk->pop_order[k] = tmp[k].idx;
        mk->n_pop = n;
    }
    rc = TROVE_OK;
done:
    trove_free(known);
    return rc;
}

/* ---------------------------------------------------------------- rules */
int trove__serve_rules_load(trove_server *s, trove_error *err)
{
    char path[4096];
    if (s->params.rules_dir == NULL)
        return TROVE_OK;
    for (size_t i = 0; i < s->n_markets; i++) {
        snprintf(path, sizeof path, "%s/%s.yaml", s->params.rules_dir,
                 s->market_code[i]);
        if (access(path, F_OK) != 0)
            continue;
        int rc = trove_rule_set_load(path, &s->rule_sets[i], err);
        if (rc != TROVE_OK)
            return rc;
        trove_log(TROVE_LOG_INFO, "serve: market %s: %zu rules from %s",
                  s->market_code[i], s->rule_sets[i]->n_rules, path);
    }
    return TROVE_OK;
}

/* Compile every market's rule set against snap's catalog. */
static int compile_rules(trove_server *s, serve_snapshot *snap,
                         const item_feats *f, trove_error *err)
{
    trove_rules_item *items = NULL;
    const char **names = NULL;
    int rc = TROVE_OK, any = 0;
    for (uint32_t m = 0; m < snap->n_markets; m++)
        any |= s->rule_sets[m] != NULL;
    if (!any)
        return TROVE_OK;
    rc = TROVE_ENOMEM;
    items = trove_calloc(snap->n_items ? snap->n_items : 1, sizeof *items);
    names = trove_malloc((f->n ? f->n : 1) * sizeof *names);
    if (items == NULL || names == NULL)
        goto done;
    for (uint32_t i = 0; i < snap->n_items; i++) {
        const serve_item *si = &snap->items[i];
        size_t nc = 0;
        /* the categorical names of item i, packed at its offset */
        for (size_t k = f->off[i]; k < f->off[i + 1]; k++)
            if (f->categorical[k])
                names[f->off[i] + nc++] = trove_idmap_name(f->names, f->name[k],
                                                           NULL);
        items[i] = (trove_rules_item){
            .ext_id = si->ext_id, .features = names + f->off[i],
            .n_features = nc, .active = si->active, .pinned = si->pinned,
            .blocked = si->blocked, .start_ts = si->start_ts,
            .end_ts = si->end_ts, .created_ts = si->created_ts,
            .budgeted = si->budgeted };
    }
    for (uint32_t m = 0; m < snap->n_markets; m++) {
        const trove_rule_set *rs = s->rule_sets[m];
        if (rs == NULL)
            continue;
        trove_rules_catalog cat = {
            .items = items, .n_items = snap->n_items,
            .timezone = rs->timezone ? NULL : s->market_tz[m] };
        rc = trove_rules_compile(rs, &cat, &snap->markets[m].rules, err);
        if (rc != TROVE_OK)
            goto done;
        snap->markets[m].rules_scratch =
            trove_rules_scratch_size(snap->markets[m].rules);
        snap->markets[m].candidates = snap->n_pinned == 0;
        for (size_t r = 0; r < rs->n_rules; r++) {
            const trove_rule_spec *rule = &rs->rules[r];
            if (rule->kind == TROVE_RULE_FREQUENCY_CAP)
                snap->markets[m].frequency_days = rs->frequency_window_days;
            if (rule->kind == TROVE_RULE_PIN || rule->kind == TROVE_RULE_BUNDLE ||
                (rule->kind == TROVE_RULE_BOOST && !(rule->factor >= 0.0)))
                snap->markets[m].candidates = 0;
        }
    }
    rc = TROVE_OK;
done:
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "rules: out of memory");
    trove_free(items);
    trove_free((void *)names);
    return rc;
}

int trove__serve_rebuild(trove_server *s, trove_error *err)
{
    serve_snapshot *snap = trove_calloc(1, sizeof *snap);
    pop_sort *tmp = NULL;
    items_build b = { .snap = snap };
    item_feats f;
    int rc = TROVE_ENOMEM;
    memset(&f, 0, sizeof f);
    if (snap == NULL)
        goto fail;
    atomic_init(&snap->refs, 1);
    snap->item_ids = trove_idmap_new();
    snap->market_codes = trove_idmap_new();
    snap->markets = trove_calloc(s->n_markets ? s->n_markets : 1,
                                 sizeof *snap->markets);
    if (snap->item_ids == NULL || snap->market_codes == NULL ||
        snap->markets == NULL)
        goto fail;
    rc = trove_store_items_foreach(s->store, collect_item, &b, err);
    if (rc == TROVE_OK)
        rc = item_feats_load(s, snap, &f, err);
    if (rc == TROVE_OK && item_budgets(snap, &f) != TROVE_OK)
        rc = TROVE_ENOMEM;
    if (rc != TROVE_OK)
        goto fail;
    tmp = trove_malloc((snap->n_items ? snap->n_items : 1) * sizeof *tmp);
    snap->pinned = trove_malloc((snap->n_items ? snap->n_items : 1) *
                                sizeof *snap->pinned);
    rc = TROVE_ENOMEM;
    if (tmp == NULL || snap->pinned == NULL)
        goto fail;
    for (uint32_t i = 0; i < snap->n_items; i++)
        if (snap->items[i].pinned)
            snap->pinned[snap->n_pinned++] = i;
    for (uint32_t mi = 0; mi < s->n_markets; mi++) {
        uint32_t idx;
        snap->n_markets = mi + 1;
        rc = build_market(s, snap, mi, tmp, &f);
        if (rc == TROVE_OK)
            rc = trove_idmap_intern(snap->market_codes, s->market_code[mi],
                                    strlen(s->market_code[mi]), &idx, NULL);
        if (rc != TROVE_OK)
            goto fail;
    }
    trove_free(tmp);
    tmp = NULL;
    rc = compile_rules(s, snap, &f, err);
    if (rc != TROVE_OK)
        goto fail;
    item_feats_free(&f);
    snap->generation = ++s->generation;
    pthread_mutex_lock(&s->snap_lock);
    serve_snapshot *old = s->snap;
    s->snap = snap;
    pthread_mutex_unlock(&s->snap_lock);
    trove__serve_snapshot_release(old);
    return TROVE_OK;
fail:
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "snapshot: out of memory");
    item_feats_free(&f);
    trove_free(tmp);
    snapshot_free(snap);
    return rc;
}

/* The latest put entry of `user` with a reference for the caller
 * (put_release), or NULL. */
static serve_user_put *put_find(serve_users *u, const char *user, size_t ulen)
{
    serve_user_put *p = NULL;
    if (atomic_load_explicit(&u->n_put, memory_order_acquire) == 0)
        return NULL;
    pthread_rwlock_rdlock(&u->put_lock);
    int64_t i = trove_idmap_find(u->put_ids, user, ulen);
    if (i >= 0) {
        p = u->put[i];
        atomic_fetch_add_explicit(&p->refs, 1u, memory_order_relaxed);
    }
    pthread_rwlock_unlock(&u->put_lock);
    return p;
}

static void put_release(serve_users *u, serve_user_put *p)
{
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1u, memory_order_acq_rel) == 1u) {
        trove_free(p);
        atomic_fetch_sub_explicit(&u->n_live, 1u, memory_order_relaxed);
    }
}

void trove__serve_user_release(serve_users *u, const serve_user_put *hold)
{
    put_release(u, (serve_user_put *)(uintptr_t)hold);
}

/* The k-th feature of `user` (put entry p, else start row r): its name and
 * weight; the count in *n when k is SIZE_MAX. */
static const char *user_feature(const serve_users *u, const serve_user_put *p, int64_t r,
                                uint32_t k, size_t *len, float *w)
{
    if (p != NULL) {
        *len = strlen(p->names[k]);
        *w = p->weight[k];
        return p->names[k];
    }
    *w = u->weight[u->off[r] + k];
    return trove_idmap_name(u->names, u->feat[u->off[r] + k], len);
}

static uint32_t user_n_features(const serve_users *u, const serve_user_put *p, int64_t r)
{
    return p != NULL ? p->n : r >= 0 ? u->off[r + 1] - u->off[r] : 0;
}

void trove__serve_user_context(serve_users *u, const char *user, const char **feat,
                               size_t *n_feat, const char **seg, size_t *n_seg, size_t cap,
                               const serve_user_put **hold)
{
    size_t plen = strlen(TROVE_RULES_SEGMENT_PREFIX), nf = 0, ns = 0, ulen = strlen(user);
    const serve_user_put *p = put_find(u, user, ulen);
    *hold = p;
    int64_t row = p == NULL && u->user_ids ? trove_idmap_find(u->user_ids, user, ulen) : -1;
    uint32_t n = user_n_features(u, p, row);
    for (uint32_t k = 0; k < n; k++) {
        size_t len;
        float w;
        const char *name = user_feature(u, p, row, k, &len, &w);
        if (nf < cap)
            feat[nf++] = name;
        if (ns < cap && strncmp(name, TROVE_RULES_SEGMENT_PREFIX, plen) == 0)
            seg[ns++] = name + plen;
    }
    *n_feat = nf;
    *n_seg = ns;
}

int trove__serve_user_put(serve_users *u, const char *user, const char *const *names,
                          const float *w, size_t n)
{
    size_t ulen = strlen(user), total = 0, bytes;
    serve_user_put *replaced = NULL; /* the user's previous entry */
    int rc = TROVE_ENOMEM;
    pthread_rwlock_wrlock(&u->put_lock);
    const serve_user_put *old = NULL;
    int64_t i = trove_idmap_find(u->put_ids, user, ulen);
    int64_t row = -1;
    if (i >= 0)
        old = u->put[i];
    else if (u->user_ids != NULL)
        row = trove_idmap_find(u->user_ids, user, ulen);
    /* the merged list: the current features, then the new names */
    uint32_t n_old = user_n_features(u, old, row), m = 0;
    size_t cap = (size_t)n_old + n;
    bytes = sizeof(serve_user_put) + cap * (sizeof(char *) + sizeof(float));
    for (uint32_t k = 0; k < n_old; k++) {
        size_t len;
        float x;
        user_feature(u, old, row, k, &len, &x);
        total += len + 1;
    }
    for (size_t k = 0; k < n; k++)
        total += strlen(names[k]) + 1;
    serve_user_put *p = trove_malloc(bytes + total);
    if (p == NULL)
        goto done;
    p->names = (const char **)(void *)(p + 1);
    p->weight = (float *)(void *)(p->names + cap);
    char *text = (char *)(p->weight + cap);
    for (size_t k = 0; k < (size_t)n_old + n; k++) {
        size_t len;
        float x;
        const char *name = k < n_old ? user_feature(u, old, row, (uint32_t)k, &len, &x)
                                     : names[k - n_old];
        if (k >= n_old) {
            len = strlen(name);
            x = w[k - n_old];
        }
        uint32_t j = 0;
        while (j < m && strcmp(p->names[j], name) != 0)
            j++;
        if (j == m) {
            memcpy(text, name, len + 1);
            p->names[m++] = text;
            text += len + 1;
        }
        p->weight[j] = x;
    }
    p->n = m;
    atomic_init(&p->refs, 1u); /* the table's */
    /* room for a new user's slot before its id is added */
    size_t next = (size_t)trove_idmap_size(u->put_ids);
    if (next >= u->cap_put) {
        size_t c = u->cap_put ? 2 * u->cap_put : 16;
        serve_user_put **q = trove_realloc(u->put, c * sizeof *q);
        if (q == NULL) {
            trove_free(p);
            goto done;
        }
        memset(q + u->cap_put, 0, (c - u->cap_put) * sizeof *q);
        u->put = q;
        u->cap_put = c;
    }
    uint32_t idx;
    int added;
    if (trove_idmap_intern(u->put_ids, user, ulen, &idx, &added) != TROVE_OK) {
        trove_free(p);
        goto done;
    }
    if (!added)
        replaced = u->put[idx];
    u->put[idx] = p;
    atomic_fetch_add_explicit(&u->n_live, 1u, memory_order_relaxed);
    atomic_fetch_add_explicit(&u->n_put, 1, memory_order_release);
    rc = TROVE_OK;
done:
    pthread_rwlock_unlock(&u->put_lock);
    /* the table's reference to the user's previous entry: freed now
     * unless a reader still holds it */
    if (rc == TROVE_OK)
        put_release(u, replaced);
    return rc;
}

size_t trove__serve_user_features(serve_users *u, const trove_model *m,
                                  const char *user, size_t ulen,
                                  uint32_t *feat, float *w, size_t max)
{
    const trove_idmap *names = trove_model_user_feature_names(m);
    if (names == NULL)
        return 0;
    serve_user_put *p = put_find(u, user, ulen);
    int64_t r = p == NULL && u->user_ids ? trove_idmap_find(u->user_ids, user, ulen) : -1;
    uint32_t n = user_n_features(u, p, r);
    size_t nf = 0;
    for (uint32_t k = 0; k < n && nf < max; k++) {
        size_t len;
        float x;
        const char *name = user_feature(u, p, r, k, &len, &x);
        int64_t f = trove_idmap_find(names, name, len);
        if (f >= 0) {
            feat[nf] = (uint32_t)f;
            w[nf] = x;
            nf++;
        }
    }
    put_release(u, p);
    return nf;
}
