/*
 * generate.c - treasure-hunt generation (trove_hunt_generate) and the hunt
 * id: candidates -> rules -> constraints -> one seeded choice per step.
 *
 * Invariants:
 *   - A pure function of (template, catalog, request): every random choice
 *     comes from one xoshiro256** stream (Blackman & Vigna 2018) seeded by
 *     XXH3 of (user, market, day) with the template's hash as the seed, and
 *     every list is walked in a fixed order (rank order of the candidates).
 *   - No allocation: every working array lives on the stack, bounded by
 *     TROVE_HUNT_MAX_CANDIDATES and TROVE_HUNT_MAX_STEPS.
 *   - Every chosen item passes the catalog flags and dates at req->now, the
 *     rules (when given), the price band and has a category; with
 *     distinct_categories no two hunt items share one; at most
 *     floor((1 - novelty_min_share) * items) of them are in the history.
 */
#include "trove/hunt.h"
#include "trove/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SET_SIZE (2 * TROVE_HUNT_MAX_CANDIDATES)   /* power of two */
#define MAX_HUNT_ITEMS (2 * TROVE_HUNT_MAX_STEPS)

const char *trove_hunt_step_kind_name(int kind)
{
    switch (kind) {
    case TROVE_HUNT_DISCOVER: return "discover";
    case TROVE_HUNT_BUNDLE:   return "bundle";
    case TROVE_HUNT_REDEEM:   return "redeem";
    default:                  return "unknown";
    }
}

const char *trove_hunt_pair_source_name(int source)
{
    switch (source) {
    case TROVE_HUNT_PAIR_RULE:       return "rule";
    case TROVE_HUNT_PAIR_COPURCHASE: return "copurchase";
    case TROVE_HUNT_PAIR_COMPLEMENT: return "complement";
    default:                         return "unknown";
    }
}

const char *trove_hunt_source_name(int source)
{
    switch (source) {
    case TROVE_HUNT_FROM_MODEL:   return "model";
    case TROVE_HUNT_FROM_POPULAR: return "popular";
    case TROVE_HUNT_FROM_CATALOG: return "catalog";
    default:                      return "unknown";
    }
}

const char *trove_hunt_reward_state_name(int state)
{
    switch (state) {
    case TROVE_HUNT_REWARD_LOCKED:      return "locked";
    case TROVE_HUNT_REWARD_UNLOCKED:    return "unlocked";
    case TROVE_HUNT_REWARD_UNAVAILABLE: return "unavailable";
    default:                            return "unknown";
    }
}

/* user NUL market NUL day (4 bytes, little end first) into buf; returns the
 * length. buf holds TROVE_HUNT_ID_MAX + TROVE_HUNT_NAME_MAX + 4 bytes and
 * the caller checked both lengths. */
static size_t key_bytes(const char *user, const char *market, int32_t day,
                        unsigned char *buf)
{
    size_t lu = strlen(user), lm = strlen(market), n = 0;
    uint32_t d = (uint32_t)day;
    memcpy(buf, user, lu + 1);
    n = lu + 1;
    memcpy(buf + n, market, lm + 1);
    n += lm + 1;
    for (int i = 0; i < 4; i++)
        buf[n++] = (unsigned char)(d >> (8 * i));
    return n;
}

void trove_hunt_id(const char *user, const char *market, int32_t day,
                   char id[17])
{
    unsigned char buf[TROVE_HUNT_ID_MAX + TROVE_HUNT_NAME_MAX + 4];
    char u[TROVE_HUNT_ID_MAX], m[TROVE_HUNT_NAME_MAX];
    snprintf(u, sizeof u, "%s", user ? user : "");
    snprintf(m, sizeof m, "%s", market ? market : "");
    size_t n = key_bytes(u, m, day, buf);
    snprintf(id, 17, "%016llx",
             (unsigned long long)trove_hash64(buf, n, 0x68756e74u));
}

/* ------------------------------------------------------------ the work */
typedef struct fit {
    uint32_t item;
    float    score;
    uint32_t rule_partner;   /* bundled after it by a rule, or NONE */
} fit;

typedef struct gen {
    const trove_hunt_template *t;
    const trove_hunt_catalog  *cat;
    const trove_hunt_request  *req;
    fit       fits[TROVE_HUNT_MAX_CANDIDATES];
    size_t    n_fits;
    uint32_t  used_item[MAX_HUNT_ITEMS];
    uint32_t  used_cat[MAX_HUNT_ITEMS];
    size_t    n_used, n_used_cat;
    size_t    repeats_left;      /* history items still allowed */
    trove_rng rng;
} gen;

static int in_history(const trove_hunt_request *req, uint32_t item)
{
    size_t lo = 0, hi = req->n_history;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (req->history[mid] < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < req->n_history && req->history[lo] == item;
}

/* Flags, dates, id length, category and price band of catalog item i. */
static int item_fits(const gen *g, uint32_t i)
{
    const trove_hunt_item *it;
    if (i >= g->cat->n_items)
        return 0;
    it = &g->cat->items[i];
    if (!it->active || it->blocked || it->ext_id == NULL ||
        (it->start_ts != 0 && g->req->now < it->start_ts) ||
        (it->end_ts != 0 && g->req->now >= it->end_ts))
        return 0;
    if (strlen(it->ext_id) >= TROVE_HUNT_ID_MAX)
        return 0;
    if (it->category == TROVE_HUNT_NONE || it->category >= g->cat->n_categories ||
        strlen(g->cat->categories[it->category]) >= TROVE_HUNT_NAME_MAX)
        return 0;
    if (g->t->price_field != NULL &&
        !(it->price >= g->t->price_min && it->price <= g->t->price_max))
        return 0;
    return 1;
}

static int item_used(const gen *g, uint32_t i)
{
    for (size_t k = 0; k < g->n_used; k++)
        if (g->used_item[k] == i)
            return 1;
    return 0;
}

static int cat_used(const gen *g, uint32_t c)
{
    if (!g->t->distinct_categories)
        return 0;
    for (size_t k = 0; k < g->n_used_cat; k++)
        if (g->used_cat[k] == c)
            return 1;
    return 0;
}

static void take(gen *g, uint32_t i)
{
    g->used_item[g->n_used++] = i;
    g->used_cat[g->n_used_cat++] = g->cat->items[i].category;
    if (in_history(g->req, i) && g->repeats_left > 0)
        g->repeats_left--;
}

/* Can item i (already fitting) join the hunt next to `other` (NONE if
 * alone), given `repeats` history items still allowed? */
static int can_join(const gen *g, uint32_t i, uint32_t other, size_t repeats,
                    const char *want_cat)
{
    uint32_t c = g->cat->items[i].category;
    if (item_used(g, i) || cat_used(g, c) || i == other)
        return 0;
    if (other != TROVE_HUNT_NONE && g->t->distinct_categories &&
        g->cat->items[other].category == c)
        return 0;
    if (want_cat != NULL && strcmp(g->cat->categories[c], want_cat) != 0)
        return 0;
    if (repeats == 0 && in_history(g->req, i))
        return 0;
    return 1;
}

/* Insert-if-absent into an open-addressing set of item indices. */
static int set_add(uint32_t *set, uint32_t item)
{
    uint32_t h = (uint32_t)((item * 0x9E3779B1u) >> 21) & (SET_SIZE - 1);
    while (set[h] != TROVE_HUNT_NONE) {
        if (set[h] == item)
            return 0;
        h = (h + 1) & (SET_SIZE - 1);
    }
    set[h] = item;
    return 1;
}

/* The ranked, fitting candidates into g->fits: through the rules when
 * given (which also pairs bundles), else in the request's order. */
static int rank(gen *g, trove_error *err)
{
    const trove_hunt_request *req = g->req;
    size_t k = req->n_candidates;
    uint32_t set[SET_SIZE];
    uint32_t items[TROVE_HUNT_MAX_CANDIDATES];
    float scores[TROVE_HUNT_MAX_CANDIDATES];
    uint8_t sources[TROVE_HUNT_MAX_CANDIDATES];
    size_t n_ranked;

    if (k > g->t->candidates)
        k = g->t->candidates;
    if (k > TROVE_HUNT_MAX_CANDIDATES)
        k = TROVE_HUNT_MAX_CANDIDATES;
    for (size_t i = 0; i < k; i++)
        if (req->candidates[i] >= g->cat->n_items)
            return trove_error_set(err, TROVE_EINVAL, "hunt: candidate %zu is "
                                   "item %u, the catalog has %zu", i,
                                   req->candidates[i], g->cat->n_items);
    if (req->rules != NULL) {
        /* the rules never rank a NaN score: without finite scores for
         * every candidate, the candidates' order is the score */
        float cs[TROVE_HUNT_MAX_CANDIDATES];
        int finite = req->scores != NULL;
        for (size_t i = 0; i < k && finite; i++)
            finite = isfinite(req->scores[i]);
        for (size_t i = 0; i < k; i++)
            cs[i] = finite ? req->scores[i] : (float)(k - i);
        trove_rules_request rq = { .user = req->rules_user, .now = req->now,
                                   .candidates = req->candidates,
                                   .candidate_scores = cs, .n_candidates = k,
                                   .ranked_source = TROVE_RULES_SOURCE_MODEL,
                                   .n = k };
        trove_rules_result res = { .items = items, .scores = scores,
                                   .sources = sources };
        int rc = trove_rules_apply(req->rules, &rq, req->rules_scratch, &res);
        if (rc != TROVE_OK)
            return trove_error_set(err, rc, "hunt: rules: %s",
                                   trove_strerror(rc));
        n_ranked = res.n;
    } else {
        for (size_t i = 0; i < k; i++) {
            items[i] = req->candidates[i];
            scores[i] = req->scores ? req->scores[i] : NAN;
            sources[i] = TROVE_RULES_SOURCE_MODEL;
        }
        n_ranked = k;
    }
    for (size_t i = 0; i < SET_SIZE; i++)
        set[i] = TROVE_HUNT_NONE;
    g->n_fits = 0;
    for (size_t i = 0; i < n_ranked; i++) {
        uint32_t it = items[i];
        if (!set_add(set, it) || !item_fits(g, it))
            continue;
        fit *f = &g->fits[g->n_fits++];
        f->item = it;
        f->score = scores[i];
        f->rule_partner = TROVE_HUNT_NONE;
        if (i + 1 < n_ranked && sources[i + 1] == TROVE_RULES_SOURCE_BUNDLE)
            f->rule_partner = items[i + 1];
    }
    return TROVE_OK;
}

static void fill_item(const gen *g, uint32_t i, char *id, char *category)
{
    const trove_hunt_item *it = &g->cat->items[i];
    snprintf(id, TROVE_HUNT_ID_MAX, "%s", it->ext_id);
    snprintf(category, TROVE_HUNT_NAME_MAX, "%s",
             g->cat->categories[it->category]);
}

/* A discover or redeem step: one of the best `pool` candidates that can
 * join (of spec->category when set). */
static int pick_single(gen *g, const trove_hunt_step_spec *spec, size_t k,
                       trove_hunt_step *out, trove_error *err)
{
    size_t opt[TROVE_HUNT_MAX_CANDIDATES], n = 0;
    for (size_t i = 0; i < g->n_fits && n < g->t->pool; i++)
        if (can_join(g, g->fits[i].item, TROVE_HUNT_NONE, g->repeats_left,
                     spec->category))
            opt[n++] = i;
    if (n == 0)
        return trove_error_set(err, TROVE_EEMPTY, "hunt: step %zu (%s%s%s): no "
                               "candidate fits (of %zu eligible: distinct "
                               "categories, price band, novelty)", k + 1,
                               trove_hunt_step_kind_name(spec->kind),
                               spec->category ? ", category " : "",
                               spec->category ? spec->category : "", g->n_fits);
    const fit *f = &g->fits[opt[trove_rng_below(&g->rng, (uint32_t)n)]];
    fill_item(g, f->item, out->item, out->category);
    out->score = f->score;
    take(g, f->item);
    return TROVE_OK;
}

/* The partner of anchor a: a rule's bundle, else a co-purchase partner,
 * else the best candidate of another category. */
static int find_partner(const gen *g, const fit *a, uint32_t *partner,
                        int *source)
{
    int anchor_new = !in_history(g->req, a->item);
    size_t repeats = g->repeats_left - (anchor_new ? 0 : 1);
    if (!anchor_new && g->repeats_left == 0)
        return 0;
    if (a->rule_partner != TROVE_HUNT_NONE && item_fits(g, a->rule_partner) &&
        can_join(g, a->rule_partner, a->item, repeats, NULL)) {
        *partner = a->rule_partner;
        *source = TROVE_HUNT_PAIR_RULE;
        return 1;
    }
    if (g->cat->copurchase_offsets != NULL && g->cat->copurchase_items != NULL) {
        for (uint32_t j = g->cat->copurchase_offsets[a->item];
             j < g->cat->copurchase_offsets[a->item + 1]; j++) {
            uint32_t p = g->cat->copurchase_items[j];
            if (item_fits(g, p) && can_join(g, p, a->item, repeats, NULL)) {
                *partner = p;
                *source = TROVE_HUNT_PAIR_COPURCHASE;
                return 1;
            }
        }
    }
    for (size_t i = 0; i < g->n_fits; i++) {
        uint32_t p = g->fits[i].item;
        if (can_join(g, p, a->item, repeats, NULL)) {
            *partner = p;
            *source = TROVE_HUNT_PAIR_COMPLEMENT;
            return 1;
        }
    }
    return 0;
}

static int pick_bundle(gen *g, size_t k, trove_hunt_step *out,
                       trove_error *err)
{
    size_t anchor[TROVE_HUNT_MAX_CANDIDATES], n = 0;
    uint32_t partner[TROVE_HUNT_MAX_CANDIDATES];
    int source[TROVE_HUNT_MAX_CANDIDATES];
    for (size_t i = 0; i < g->n_fits && n < g->t->pool; i++) {
        const fit *a = &g->fits[i];
        if (!can_join(g, a->item, TROVE_HUNT_NONE, g->repeats_left, NULL))
            continue;
        if (find_partner(g, a, &partner[n], &source[n]))
            anchor[n++] = i;
    }
    if (n == 0)
        return trove_error_set(err, TROVE_EEMPTY, "hunt: step %zu (bundle): no "
                               "pair of candidates fits (of %zu eligible: "
                               "distinct categories, price band, novelty)",
                               k + 1, g->n_fits);
    size_t c = trove_rng_below(&g->rng, (uint32_t)n);
    const fit *a = &g->fits[anchor[c]];
    fill_item(g, a->item, out->item, out->category);
    fill_item(g, partner[c], out->partner, out->partner_category);
    out->pair_source = source[c];
    out->score = a->score;
    take(g, a->item);
    take(g, partner[c]);
    return TROVE_OK;
}

/* A redeem step naming its offer: that offer when it is available. */
static int fixed_offer(gen *g, const trove_hunt_step_spec *spec,
                       trove_hunt_step *out)
{
    for (size_t i = 0; i < g->cat->n_items; i++) {
        const trove_hunt_item *it = &g->cat->items[i];
        if (it->ext_id == NULL || strcmp(it->ext_id, spec->offer) != 0)
            continue;
        if (!item_fits(g, (uint32_t)i) || item_used(g, (uint32_t)i))
            return 0;
        fill_item(g, (uint32_t)i, out->item, out->category);
        out->score = NAN;
        g->used_item[g->n_used++] = (uint32_t)i;
        g->used_cat[g->n_used_cat++] = it->category;
        return 1;
    }
    return 0;
}

int trove_hunt_generate(const trove_hunt_template *t,
                        const trove_hunt_catalog *cat,
                        const trove_hunt_request *req, trove_hunt *out,
                        trove_error *err)
{
    gen g;          /* about 14 KiB of stack */
    trove_hunt h;
    unsigned char key[TROVE_HUNT_ID_MAX + TROVE_HUNT_NAME_MAX + 4];
    size_t total = 0, klen;
    int rc;

    if (t == NULL || cat == NULL || req == NULL || out == NULL ||
        req->user == NULL || req->market == NULL ||
        (req->n_candidates > 0 && req->candidates == NULL) ||
        (req->n_history > 0 && req->history == NULL) ||
        (req->rules != NULL && req->rules_scratch == NULL) ||
        (cat->n_items > 0 && cat->items == NULL) ||
        (cat->n_categories > 0 && cat->categories == NULL))
        return trove_error_set(err, TROVE_EINVAL, "hunt: missing argument");
    if (strlen(req->user) == 0 || strlen(req->user) >= TROVE_HUNT_ID_MAX)
        return trove_error_set(err, TROVE_EINVAL, "hunt: user id must have 1 to "
                               "%d bytes", TROVE_HUNT_ID_MAX - 1);
    if (strlen(req->market) == 0 || strlen(req->market) >= TROVE_HUNT_NAME_MAX)
        return trove_error_set(err, TROVE_EINVAL, "hunt: market code must have "
                               "1 to %d bytes", TROVE_HUNT_NAME_MAX - 1);
    if (req->expires_ts <= req->now)
        return trove_error_set(err, TROVE_EINVAL, "hunt: expires at %lld, not "
                               "after now (%lld)", (long long)req->expires_ts,
                               (long long)req->now);
    if (t->n_steps == 0 || t->n_steps > TROVE_HUNT_MAX_STEPS)
        return trove_error_set(err, TROVE_EINVAL, "hunt: template has %zu steps",
                               t->n_steps);

    memset(&g, 0, sizeof g);
    g.t = t;
    g.cat = cat;
    g.req = req;
    for (size_t k = 0; k < t->n_steps; k++)
        total += t->steps[k].kind == TROVE_HUNT_BUNDLE ? 2 : 1;
    g.repeats_left = (size_t)floor((1.0 - t->novelty_min_share) * (double)total
                                   + 1e-9);
    klen = key_bytes(req->user, req->market, req->day, key);
    trove_rng_seed(&g.rng, trove_hash64(key, klen, t->hash));
    if ((rc = rank(&g, err)) != TROVE_OK)
        return rc;

    memset(&h, 0, sizeof h);
    trove_hunt_id(req->user, req->market, req->day, h.id);
    snprintf(h.user, sizeof h.user, "%s", req->user);
    snprintf(h.market, sizeof h.market, "%s", req->market);
    snprintf(h.template_name, sizeof h.template_name, "%s", t->name ? t->name : "");
    h.day = req->day;
    h.created_ts = req->now;
    h.expires_ts = req->expires_ts;
    h.source = req->source;
    h.n_steps = t->n_steps;
    for (size_t k = 0; k < t->n_steps; k++) {
        const trove_hunt_step_spec *spec = &t->steps[k];
        trove_hunt_step *st = &h.steps[k];
        st->kind = spec->kind;
        st->score = NAN;
        if (spec->kind == TROVE_HUNT_BUNDLE)
            rc = pick_bundle(&g, k, st, err);
        else if (spec->kind == TROVE_HUNT_REDEEM && spec->offer != NULL &&
                 fixed_offer(&g, spec, st))
            rc = TROVE_OK;
        else
            rc = pick_single(&g, spec, k, st, err);
        if (rc != TROVE_OK)
            return rc;
    }
    *out = h;
    return TROVE_OK;
}
