/*
 * sim.c - the closed-loop world simulator (trove/sim.h has the model).
 *
 * Names: user i (1-based) of market CODE is "CODE-U000i" (6 digits); offer
 * i (1-based, over the whole world) is "OF0000i" (5 digits). Every random
 * quantity is drawn from an xoshiro256** stream seeded with trove_hash64 of
 * the world seed and a stable name (the user, the offer, the pair, the
 * cycle), so results do not depend on the order things are visited in nor
 * on what happened before.
 *
 * Invariants: the world in the store is written in one transaction (init),
 * and each simulated period - its events and the next period's offers - in
 * another, so an interrupted run leaves the store at a period boundary.
 */
#include "trove/sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY 86400
#define FEATURE_CACHE 512

static const char *const AGE_BANDS[] = {"18-24", "25-34", "35-44", "45-54", "55+"};
#define N_AGE_BANDS 5

/* ------------------------------------------------------------ randomness */

static uint64_t seed_of(const trove_world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static uint64_t seed_of(const trove_world *w, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    return trove_hash64(buf, (size_t)n, w->seed);
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* ------------------------------------------------------- ground truth */

typedef struct user_profile {
    double taste[TROVE_WORLD_MAX_CATEGORIES];
    const char *age_band, *city, *language;
} user_profile;

static void user_make(const trove_world *w, size_t m, uint32_t idx,
                      user_profile *u)
{
    const trove_world_market *mk = &w->markets[m];
    trove_rng rng;
    trove_rng_seed(&rng, seed_of(w, "user|%s|%u", mk->code, idx));
    for (size_t c = 0; c < w->n_categories; c++)
        u->taste[c] = mk->taste[c] + w->taste_noise * trove_rng_normal(&rng);
    u->age_band = AGE_BANDS[trove_rng_below(&rng, N_AGE_BANDS)];
    u->city = mk->cities[trove_rng_below(&rng, (uint32_t)mk->n_cities)];
    u->language = mk->languages[trove_rng_below(&rng, (uint32_t)mk->n_languages)];
    if (mk->segment_feature != TROVE_WORLD_SEGMENT_NONE && mk->segment_taste_sd > 0) {
        /* the same feature value means the same taste offset for every
         * user of the market, and another one in another market */
        const char *value = mk->segment_feature == TROVE_WORLD_SEGMENT_AGE_BAND
                            ? u->age_band
                            : mk->segment_feature == TROVE_WORLD_SEGMENT_CITY
                            ? u->city : u->language;
        for (size_t c = 0; c < w->n_categories; c++) {
            trove_rng seg;
            trove_rng_seed(&seg, seed_of(w, "segment|%s|%d|%s|%s", mk->code,
                                         mk->segment_feature, value,
                                         w->categories[c]));
            u->taste[c] += mk->segment_taste_sd * trove_rng_normal(&seg);
        }
    }
}

typedef struct offer_profile {
    uint32_t category, brand;
    double price, quality;
    const char *price_band;
} offer_profile;

static void offer_make(const trove_world *w, uint32_t idx, offer_profile *o)
{
    trove_rng rng;
    double span = w->price_max - w->price_min, rel;
    trove_rng_seed(&rng, seed_of(w, "offer|%u", idx));
    o->category = trove_rng_below(&rng, (uint32_t)w->n_categories);
    o->brand = trove_rng_below(&rng, (uint32_t)w->n_brands);
    rel = trove_rng_uniform(&rng);
    o->price = floor((w->price_min + rel * span) * 100.0 + 0.5) / 100.0;
    o->price_band = rel < 1.0 / 3 ? "low" : rel < 2.0 / 3 ? "mid" : "high";
    o->quality = w->quality_sd * trove_rng_normal(&rng);
}

/* a(u, o) = t_u[c_o] + q_o + l_{o,m} + pair_noise * z_uo, where l_{o,m} is
 * the offer's local appeal in the user's market m. */
static double affinity(const trove_world *w, size_t m, const char *user_ext,
                       const user_profile *u, uint32_t offer_idx,
                       const offer_profile *o)
{
    trove_rng rng;
    double local = 0;
    if (w->local_quality_sd > 0) {
        trove_rng_seed(&rng, seed_of(w, "local|%s|%u", w->markets[m].code, offer_idx));
        local = w->local_quality_sd * trove_rng_normal(&rng);
    }
    trove_rng_seed(&rng, seed_of(w, "pair|%s|%u", user_ext, offer_idx));
    return u->taste[o->category] + o->quality + local +
           w->pair_noise * trove_rng_normal(&rng);
}

/* ------------------------------------------------------------ store side */

typedef struct feature_cache {
    char names[FEATURE_CACHE][96];
    int targets[FEATURE_CACHE];
    int64_t ids[FEATURE_CACHE];
    size_t n;
} feature_cache;

static int feature_id(trove_store *s, feature_cache *fc, int target,
                      const char *name, int kind, int64_t *id, trove_error *err)
{
    int st;
    for (size_t i = 0; i < fc->n; i++) {
        if (fc->targets[i] == target && strcmp(fc->names[i], name) == 0) {
            *id = fc->ids[i];
            return TROVE_OK;
        }
    }
    if ((st = trove_store_feature_upsert(s, target, name, kind, id, err)) != TROVE_OK)
        return st;
    if (fc->n < FEATURE_CACHE && strlen(name) < sizeof fc->names[0]) {
        snprintf(fc->names[fc->n], sizeof fc->names[0], "%s", name);
        fc->targets[fc->n] = target;
        fc->ids[fc->n] = *id;
        fc->n++;
    }
    return TROVE_OK;
}

static int set_feature(trove_store *s, feature_cache *fc, int target,
                       int64_t entity, const char *field, const char *value,
                       double weight, trove_error *err)
{
    char name[160];
    int64_t fid;
    int st, kind = value ? TROVE_FEATURE_CATEGORICAL : TROVE_FEATURE_NUMERIC;
    if (value)
        snprintf(name, sizeof name, "%s=%s", field, value);
    else
        snprintf(name, sizeof name, "%s", field);
    if ((st = feature_id(s, fc, target, name, kind, &fid, err)) != TROVE_OK)
        return st;
    return target == TROVE_FEATURE_USER
           ? trove_store_user_feature_set(s, entity, fid, weight, err)
           : trove_store_item_feature_set(s, entity, fid, weight, err);
}

static int add_offer(trove_store *s, const trove_world *w, feature_cache *fc,
                     uint32_t idx, int64_t start_ts, trove_error *err)
{
    offer_profile o;
    char ext[32], title[128];
    trove_item flags;
    int64_t id;
    int st;

    offer_make(w, idx, &o);
    snprintf(ext, sizeof ext, "OF%05u", idx);
    snprintf(title, sizeof title, "%s offer %u (%s)", w->categories[o.category],
             idx, w->brands[o.brand]);
    if ((st = trove_store_item_upsert(s, ext, title, &id, NULL, err)) != TROVE_OK)
        return st;
    memset(&flags, 0, sizeof flags);
    flags.start_ts = start_ts;
    if ((st = trove_store_item_set_flags(s, id, &flags, TROVE_ITEM_START_TS, err)) != TROVE_OK ||
        (st = set_feature(s, fc, TROVE_FEATURE_ITEM, id, "category",
                          w->categories[o.category], 1.0, err)) != TROVE_OK ||
        (st = set_feature(s, fc, TROVE_FEATURE_ITEM, id, "brand",
                          w->brands[o.brand], 1.0, err)) != TROVE_OK ||
        (st = set_feature(s, fc, TROVE_FEATURE_ITEM, id, "price_band",
                          o.price_band, 1.0, err)) != TROVE_OK ||
        (st = set_feature(s, fc, TROVE_FEATURE_ITEM, id, "price", NULL, o.price,
                          err)) != TROVE_OK)
        return st;
    return TROVE_OK;
}

static int add_event(trove_store *s, const char *kind, const char *a,
                     const char *b, const char *c, int64_t user, int64_t item,
                     int type, int64_t ts, int64_t market, trove_error *err)
{
    char key[256];
    trove_event ev;
    int n = snprintf(key, sizeof key, "sim|%s|%s|%s|%s", kind, a, b, c);
    ev.id = trove_hash64(key, (size_t)(n < 0 ? 0 : n), 0x73696du);
    ev.user_id = user;
    ev.item_id = item;
    ev.type = type;
    ev.value = 1.0;
    ev.ts = ts;
    ev.market_id = market;
    return trove_store_event_add(s, &ev, NULL, err);
}

/* Organic history of one user: `history_redemptions` draws, each offer
 * with probability proportional to exp(affinity), over the initial offers. */
static int user_history(trove_store *s, const trove_world *w, size_t m, const char *ext,
                        const user_profile *u, int64_t user_id,
                        int64_t market_id, const int64_t *offer_ids,
                        const offer_profile *offers, double *weights,
                        int64_t from, trove_error *err)
{
    trove_rng rng;
    double total = 0;
    uint32_t n = w->initial_offers;
    trove_rng_seed(&rng, seed_of(w, "history|%s", ext));
    for (uint32_t i = 0; i < n; i++) {
        weights[i] = exp(affinity(w, m, ext, u, i + 1, &offers[i]));
        total += weights[i];
    }
    for (uint32_t k = 0; k < w->history_redemptions; k++) {
        double x = trove_rng_uniform(&rng) * total;
        uint32_t i = 0;
        char nth[16], ofs[16];
        int64_t ts;
        int st;
        while (i + 1 < n && x >= weights[i]) {
            x -= weights[i];
            i++;
        }
        ts = from + (int64_t)(trove_rng_uniform(&rng) * (double)w->history_days * DAY);
        snprintf(nth, sizeof nth, "%u", k);
        snprintf(ofs, sizeof ofs, "%u", i + 1);
        if ((st = add_event(s, "h", ext, nth, ofs, user_id, offer_ids[i],
                            TROVE_EVENT_REDEMPTION, ts, market_id, err)) != TROVE_OK)
            return st;
    }
    return TROVE_OK;
}

static int world_present(trove_store *s, const trove_world *w, int *present,
                         trove_error *err)
{
    char ext[96];
    int64_t id;
    int st;
    snprintf(ext, sizeof ext, "%s-U%06u", w->markets[0].code, 1u);
    st = trove_store_user_find(s, ext, &id, err);
    if (st == TROVE_ENOTFOUND) {
        trove_error_clear(err);
        *present = 0;
        return TROVE_OK;
    }
    if (st == TROVE_OK)
        *present = 1;
    return st;
}

int trove_sim_init(trove_store *s, const trove_world *w, int *created,
                   trove_error *err)
{
    feature_cache *fc = NULL;
    int64_t *offer_ids = NULL;
    offer_profile *offers = NULL;
    double *weights = NULL;
    int present, st, in_tx = 0;
    int64_t start, hist_from;

    if (s == NULL || w == NULL)
        return trove_error_set(err, TROVE_EINVAL, "simulate: invalid arguments");
    if ((st = world_present(s, w, &present, err)) != TROVE_OK)
        return st;
    if (present) {
        if (created)
            *created = 0;
        return TROVE_OK;
    }
    start = w->start_ts > 0 ? w->start_ts : ((int64_t)time(NULL) / DAY + 1) * DAY;
    hist_from = start - (int64_t)w->history_days * DAY;
    fc = trove_calloc(1, sizeof *fc);
    offer_ids = trove_calloc(w->initial_offers, sizeof *offer_ids);
    offers = trove_calloc(w->initial_offers, sizeof *offers);
    weights = trove_calloc(w->initial_offers, sizeof *weights);
    if (fc == NULL || offer_ids == NULL || offers == NULL || weights == NULL) {
        st = trove_error_set(err, TROVE_ENOMEM, "simulate: out of memory");
        goto done;
    }
    if ((st = trove_store_begin(s, err)) != TROVE_OK)
        goto done;
    in_tx = 1;
    /* Initial offers start with the history; their start date also records
     * the world's clock in the store (trove_sim_clock). */
    for (uint32_t i = 0; i < w->initial_offers; i++) {
        char ext[32];
        if ((st = add_offer(s, w, fc, i + 1, hist_from, err)) != TROVE_OK)
            goto done;
        snprintf(ext, sizeof ext, "OF%05u", i + 1);
        if ((st = trove_store_item_find(s, ext, &offer_ids[i], err)) != TROVE_OK)
            goto done;
        offer_make(w, i + 1, &offers[i]);
    }
    for (size_t m = 0; m < w->n_markets; m++) {
        const trove_world_market *mk = &w->markets[m];
        int64_t mid;
        if ((st = trove_store_market_upsert(s, mk->code, mk->name, mk->timezone,
                                            &mid, NULL, err)) != TROVE_OK)
            goto done;
        for (uint32_t u = 1; u <= mk->users; u++) {
            user_profile up;
            char ext[96];
            int64_t uid;
            snprintf(ext, sizeof ext, "%s-U%06u", mk->code, u);
            user_make(w, m, u, &up);
            if ((st = trove_store_user_upsert(s, ext, mid, &uid, NULL, err)) != TROVE_OK ||
                (st = set_feature(s, fc, TROVE_FEATURE_USER, uid, "age_band",
                                  up.age_band, 1.0, err)) != TROVE_OK ||
                (st = set_feature(s, fc, TROVE_FEATURE_USER, uid, "city", up.city,
                                  1.0, err)) != TROVE_OK ||
                (st = set_feature(s, fc, TROVE_FEATURE_USER, uid, "language",
                                  up.language, 1.0, err)) != TROVE_OK ||
                (st = user_history(s, w, m, ext, &up, uid, mid, offer_ids, offers,
                                   weights, hist_from, err)) != TROVE_OK)
                goto done;
        }
    }
    if ((st = trove_store_commit(s, err)) != TROVE_OK)
        goto done;
    in_tx = 0;
    if (created)
        *created = 1;
done:
    if (in_tx)
        trove_store_rollback(s, NULL);
    trove_free(fc);
    trove_free(offer_ids);
    trove_free(offers);
    trove_free(weights);
    return st;
}

typedef struct count_ctx {
    uint32_t n;
} count_ctx;

static int count_offers(void *ud, const trove_item *it)
{
    count_ctx *c = ud;
    unsigned idx;
    int n = 0;
    if (sscanf(it->ext_id, "OF%5u%n", &idx, &n) == 1 && it->ext_id[n] == '\0')
        c->n++;
    return 0;
}

/* Start of period 0 and the next period's index. */
static int sim_time(trove_store *s, const trove_world *w, int64_t *start,
                    uint32_t *period, trove_error *err)
{
    trove_item it;
    count_ctx cc = {0};
    int64_t id;
    int st;
    if ((st = trove_store_item_find(s, "OF00001", &id, err)) != TROVE_OK ||
        (st = trove_store_item_get(s, id, &it, err)) != TROVE_OK) {
        if (st == TROVE_ENOTFOUND)
            trove_error_set(err, st, "the world '%s' is not in the store "
                            "(run the simulator once to write it)", w->path);
        return st;
    }
    *start = it.start_ts + (int64_t)w->history_days * DAY;
    if ((st = trove_store_items_foreach(s, count_offers, &cc, err)) != TROVE_OK)
        return st;
    *period = cc.n > w->initial_offers
              ? (cc.n - w->initial_offers) / w->new_per_cycle : 0;
    return TROVE_OK;
}

int trove_sim_clock(trove_store *s, const trove_world *w, int64_t *now,
                    trove_error *err)
{
    int64_t start;
    uint32_t p;
    int st;
    if (s == NULL || w == NULL || now == NULL)
        return trove_error_set(err, TROVE_EINVAL, "simulate: invalid arguments");
    if ((st = sim_time(s, w, &start, &p, err)) != TROVE_OK)
        return st;
    *now = start + (int64_t)p * w->cycle_days * DAY;
    return TROVE_OK;
}

/* The latest cycle of a market starting inside [from, to). */
typedef struct cycle_pick {
    int64_t from, to;
    int64_t id, ts;
    char key[64];
} cycle_pick;

static int pick_cycle(void *ud, const trove_cycle *c)
{
    cycle_pick *p = ud;
    if (c->created_ts < p->from || c->created_ts >= p->to)
        return 0;
    if (p->id == 0 || c->created_ts >= p->ts) {
        p->id = c->id;
        p->ts = c->created_ts;
        snprintf(p->key, sizeof p->key, "%s", c->key);
    }
    return 0;
}

typedef struct shown {
    int64_t user_id, item_id;
    int rank;
} shown;

typedef struct shown_list {
    shown *v;
    size_t n, cap;
} shown_list;

static int collect_shown(void *ud, const trove_assignment *a)
{
    shown_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        shown *v = trove_realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].user_id = a->user_id;
    l->v[l->n].item_id = a->item_id;
    l->v[l->n].rank = a->rank;
    l->n++;
    return 0;
}

/* Store ids to names: users (id order) and offers (id order). */
typedef struct id_name {
    int64_t id;
    char name[80];
    uint32_t index;   /* user or offer number */
    int market;       /* users: market index */
} id_name;

typedef struct id_names {
    const trove_world *w;
    id_name *v;
    size_t n, cap;
} id_names;

static int push_name(id_names *l, int64_t id, const char *name, uint32_t idx,
                     int market)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        id_name *v = trove_realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].id = id;
    snprintf(l->v[l->n].name, sizeof l->v[l->n].name, "%s", name);
    l->v[l->n].index = idx;
    l->v[l->n].market = market;
    l->n++;
    return 0;
}

static int collect_user_name(void *ud, const trove_user *u)
{
    id_names *l = ud;
    const char *dash = strrchr(u->ext_id, '-');
    unsigned idx;
    int n = 0;
    if (dash == NULL || sscanf(dash, "-U%6u%n", &idx, &n) != 1 || dash[n] != '\0')
        return 0;
    for (size_t m = 0; m < l->w->n_markets; m++) {
        const char *code = l->w->markets[m].code;
        if (strlen(code) == (size_t)(dash - u->ext_id) &&
            strncmp(code, u->ext_id, strlen(code)) == 0)
            return push_name(l, u->id, u->ext_id, idx, (int)m);
    }
    return 0;
}

static int collect_offer_name(void *ud, const trove_item *it)
{
    unsigned idx;
    int n = 0;
    if (sscanf(it->ext_id, "OF%5u%n", &idx, &n) != 1 || it->ext_id[n] != '\0')
        return 0;
    return push_name(ud, it->id, it->ext_id, idx, -1);
}

static const id_name *find_name(const id_names *l, int64_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->v[lo].id == id ? &l->v[lo] : NULL;
}

/* The examination probability of position r (0-based): the DCG discount. */
static double position_bias(int r)
{
    return 1.0 / log2((double)r + 2.0);
}

static int react(trove_store *s, const trove_world *w, size_t m, int64_t market_id,
                 const cycle_pick *cp, const shown_list *sl, const id_names *users,
                 const id_names *offers_by_id, trove_sim_market_stats *ms,
                 trove_error *err)
{
    int64_t last_user = 0;
    user_profile up;
    int st;
    for (size_t i = 0; i < sl->n; i++) {
        const shown *a = &sl->v[i];
        const id_name *un = find_name(users, a->user_id);
        const id_name *on = find_name(offers_by_id, a->item_id);
        offer_profile op;
        trove_rng rng;
        char rank[16];
        double p;
        int64_t ts;
        if (un == NULL || on == NULL || un->market != (int)m)
            continue;
        if (a->user_id != last_user) {
            user_make(w, m, un->index, &up);
            last_user = a->user_id;
            ms->users_shown++;
        }
        offer_make(w, on->index, &op);
        trove_rng_seed(&rng, seed_of(w, "shown|%s|%s|%s", cp->key, un->name, on->name));
        ts = cp->ts + (int64_t)(trove_rng_uniform(&rng) * 0.5 * (double)w->cycle_days * DAY);
        snprintf(rank, sizeof rank, "%d", a->rank);
        if ((st = add_event(s, "i", cp->key, un->name, on->name, a->user_id,
                            a->item_id, TROVE_EVENT_IMPRESSION, ts, market_id,
                            err)) != TROVE_OK)
            return st;
        ms->impressions++;
        p = sigmoid(w->base_logit + affinity(w, m, un->name, &up, on->index, &op)) *
            position_bias(a->rank);
        if (trove_rng_uniform(&rng) < p) {
            int64_t later = ts + 60 + (int64_t)(trove_rng_uniform(&rng) *
                                                0.4 * (double)w->cycle_days * DAY);
            if ((st = add_event(s, "r", cp->key, un->name, on->name, a->user_id,
                                a->item_id, TROVE_EVENT_REDEMPTION, later,
                                market_id, err)) != TROVE_OK)
                return st;
            ms->redemptions++;
        }
    }
    return TROVE_OK;
}

int trove_sim_step(trove_store *s, const trove_world *w, trove_sim_stats *out,
                   trove_error *err)
{
    trove_sim_stats stats;
    shown_list lists[TROVE_WORLD_MAX_MARKETS];
    cycle_pick picks[TROVE_WORLD_MAX_MARKETS];
    int64_t market_ids[TROVE_WORLD_MAX_MARKETS];
    id_names users, offer_names;
    feature_cache *fc = NULL;
    int64_t start, len;
    uint32_t p;
    int st, in_tx = 0;

    memset(&stats, 0, sizeof stats);
    memset(lists, 0, sizeof lists);
    memset(&users, 0, sizeof users);
    memset(&offer_names, 0, sizeof offer_names);
    users.w = w;
    offer_names.w = w;
    if (s == NULL || w == NULL)
        return trove_error_set(err, TROVE_EINVAL, "simulate: invalid arguments");
    if ((st = sim_time(s, w, &start, &p, err)) != TROVE_OK)
        goto done;
    len = (int64_t)w->cycle_days * DAY;
    stats.period = p;
    stats.from_ts = start + (int64_t)p * len;
    stats.to_ts = stats.from_ts + len;
    stats.n_markets = w->n_markets;

    /* Read everything first, then write in one transaction. */
    if ((st = trove_store_users_foreach(s, collect_user_name, &users, err)) != TROVE_OK ||
        (st = trove_store_items_foreach(s, collect_offer_name, &offer_names, err)) != TROVE_OK)
        goto foreach_fail;
    for (size_t m = 0; m < w->n_markets; m++) {
        trove_sim_market_stats *ms = &stats.markets[m];
        snprintf(ms->code, sizeof ms->code, "%s", w->markets[m].code);
        if ((st = trove_store_market_find(s, w->markets[m].code, &market_ids[m],
                                          err)) != TROVE_OK)
            goto done;
        memset(&picks[m], 0, sizeof picks[m]);
        picks[m].from = stats.from_ts;
        picks[m].to = stats.to_ts;
        if ((st = trove_store_cycles_foreach(s, market_ids[m], pick_cycle, &picks[m],
                                             err)) != TROVE_OK)
            goto done;
        if (picks[m].id == 0)
            continue;
        ms->had_cycle = 1;
        snprintf(ms->cycle_key, sizeof ms->cycle_key, "%s", picks[m].key);
        if ((st = trove_store_assignments_foreach(s, picks[m].id, collect_shown,
                                                  &lists[m], err)) != TROVE_OK)
            goto foreach_fail;
    }

    fc = trove_calloc(1, sizeof *fc);
    if (fc == NULL) {
        st = TROVE_ENOMEM;
        goto foreach_fail;
    }
    if ((st = trove_store_begin(s, err)) != TROVE_OK)
        goto done;
    in_tx = 1;
    for (size_t m = 0; m < w->n_markets; m++) {
        if (!stats.markets[m].had_cycle)
            continue;
        if ((st = react(s, w, m, market_ids[m], &picks[m], &lists[m], &users,
                        &offer_names, &stats.markets[m], err)) != TROVE_OK)
            goto done;
    }
    for (uint32_t j = 0; j < w->new_per_cycle; j++) {
        uint32_t idx = w->initial_offers + p * w->new_per_cycle + j + 1;
        if ((st = add_offer(s, w, fc, idx, stats.to_ts - 1, err)) != TROVE_OK)
            goto done;
        stats.offers_launched++;
    }
    if ((st = trove_store_commit(s, err)) != TROVE_OK)
        goto done;
    in_tx = 0;
    if (out != NULL)
        *out = stats;
    goto done;
foreach_fail:
    if (st == TROVE_ENOMEM)
        trove_error_set(err, st, "simulate: out of memory");
done:
    if (in_tx)
        trove_store_rollback(s, NULL);
    for (size_t m = 0; m < TROVE_WORLD_MAX_MARKETS; m++)
        trove_free(lists[m].v);
    trove_free(users.v);
    trove_free(offer_names.v);
    trove_free(fc);
    return st;
}
