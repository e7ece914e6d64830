/*
 * apply.c - one request through a compiled rule set, without allocation.
 *
 * Steps (docs/rules.md):
 *   1. skip bitset = catalog inactive/blocked | catalog dates | failing
 *      eligibility rules | schedules outside their window | frequency caps |
 *      exhausted budgets (all word-wise ORs or short sparse lists);
 *   2. pool: every eligible item whose score reaches a threshold sampled
 *      so that about 2K items do (the SIMD first_gt kernel skips between
 *      them; the bitsets are read for those only; boosted/buried items come
 *      from a sparse list), heapified by (tier, boosted score, index),
 *      buried items being tier 1; the list pops only what it consumes;
 *   3. list: pins first, then the pool greedily, skipping items whose
 *      exclusive group or category is full, exploration slots, the rest of
 *      the pool; if the pool runs dry while more eligible items exist, K
 *      grows fourfold and step 3 runs again (rare: heavy caps);
 *   4. bundles insert partners after their anchors.
 * Deterministic: ties break on the lower item index; exploration hashes
 * (user key, local day, item, rule) with a fixed mixing function.
 */
#include "rules_int.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NEED_MORE 1

typedef struct actx {
    const trove_rules *r;
    const trove_rules_request *q;
    trove_rules_result *res;
    uint64_t *skip, *chosen, *seen, *terms;
    trove__cand *pool;
    size_t n_pool, k_pool, n_live;
    int pool_truncated;
    uint32_t *counts;
    trove__cand *pick;
    uint32_t *items;
    float *scores;
    uint8_t *sources;
    uint16_t *by;
    size_t n, want, n_drops, n_eligible;
    int drops_truncated;
} actx;

/* ------------------------------------------------------------- step 1 */

static int has_any(const uint64_t *terms, const uint32_t *ids, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (trove__bit(terms, ids[k]))
            return 1;
    return 0;
}

static int user_passes(const trove__crule *c, const uint64_t *terms)
{
    if (c->n_req_seg && !has_any(terms, c->req_seg, c->n_req_seg))
        return 0;
    if (c->n_req_feat && !has_any(terms, c->req_feat, c->n_req_feat))
        return 0;
    return !has_any(terms, c->exc_seg, c->n_exc_seg) &&
           !has_any(terms, c->exc_feat, c->n_exc_feat);
}

static void mark_term(const trove_rules *r, uint64_t *terms, char prefix,
                      const char *s)
{
    char buf[300];
    size_t len;
    int64_t id;
    if (s == NULL || (len = strlen(s)) > 256)
        return;
    buf[0] = prefix;
    buf[1] = ':';
    memcpy(buf + 2, s, len);
    if ((id = trove_idmap_find(r->terms, buf, len + 2)) >= 0)
        trove__bit_set(terms, (size_t)id);
}

static void user_terms(const trove_rules *r, const trove_rules_user *u,
                       uint64_t *terms)
{
    memset(terms, 0, r->term_words * 8);
    if (u == NULL || r->term_words == 0)
        return;
    for (size_t k = 0; k < u->n_segments; k++)
        mark_term(r, terms, 's', u->segments[k]);
    for (size_t k = 0; k < u->n_features; k++)
        mark_term(r, terms, 'f', u->features[k]);
}

static void or_members(const trove_rules *r, const trove__crule *c,
                       uint64_t *skip)
{
    if (c->members == NULL) {
        memset(skip, 0xFF, r->n_words * 8);
        if (r->n_items % 64)
            skip[r->n_words - 1] = ((uint64_t)1 << (r->n_items % 64)) - 1;
        return;
    }
    for (size_t w = 0; w < r->n_words; w++)
        skip[w] |= c->members[w];
}

static int out_of_dates(const trove_rules *r, size_t i, int64_t now)
{
    return (r->start_ts[i] != 0 && now < r->start_ts[i]) ||
           (r->end_ts[i] != 0 && now >= r->end_ts[i]);
}

static void build_skip(actx *ax)
{
    const trove_rules *r = ax->r;
    const trove_rules_request *q = ax->q;
    const trove_rules_user *u = q->user;
    uint64_t *skip = ax->skip;

    memcpy(skip, r->base_skip, r->n_words * 8);
    user_terms(r, u, ax->terms);
    for (size_t k = 0; k < r->n_dated; k++)
        if (out_of_dates(r, r->dated[k], q->now))
            trove__bit_set(skip, r->dated[k]);
    for (size_t k = 0; k < r->n_rules; k++) {
        const trove__crule *c = &r->rules[k];
        switch (c->kind) {
        case TROVE_RULE_ELIGIBILITY:
            if (!user_passes(c, ax->terms))
                or_members(r, c, skip);
            break;
        case TROVE_RULE_SCHEDULE:
            if (q->now < c->start_utc || q->now >= c->end_utc)
                or_members(r, c, skip);
            break;
        case TROVE_RULE_FREQUENCY_CAP:
            if (u == NULL || u->exposed_items == NULL || u->exposure_counts == NULL)
                break;
            for (size_t e = 0; e < u->n_exposures; e++)
                if (u->exposure_counts[e] >= c->max &&
                    trove__member(c, u->exposed_items[e]))
                    trove__bit_set(skip, u->exposed_items[e]);
            break;
        case TROVE_RULE_BUDGET_CAP:
            if (q->remaining_budget == NULL)
                break;
            for (size_t b = 0; b < r->n_budgeted; b++) {
                uint32_t i = r->budgeted[b];
                if (!(q->remaining_budget[i] > 0) && trove__member(c, i))
                    trove__bit_set(skip, i);
            }
            break;
        default:
            break;
        }
    }
}

/* ------------------------------------------------------------- step 2 */

/* a ranks before b */
static inline int better(const trove__cand *a, const trove__cand *b)
{
    return a->key > b->key;
}

static inline uint64_t cand_key(float s, uint32_t item, uint32_t tier)
{
    uint32_t u;
    if (s == 0.0f)
        s = 0.0f;             /* -0 and +0 tie, as they compare equal */
    memcpy(&u, &s, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return (uint64_t)(tier == 0) << 63 | (uint64_t)u << 31 |
           (uint64_t)(0x7FFFFFFFu - item);
}

static inline trove__cand make_cand(float s, uint32_t item, uint32_t tier)
{
    trove__cand c;
    c.key = cand_key(s, item, tier);
    c.score = s;
    c.item = item;
    return c;
}

/* Binary heap on `better`, the best at the root. */
static void sift_down_best(trove__cand *h, size_t n, size_t i)
{
    trove__cand x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && better(&h[c + 1], &h[c]))
            c++;
        if (!better(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Threshold of the dense pass: from a strided sample of at most 256
 * scores, the value that about 2K + 8 items of the catalog reach. */
static float sample_threshold(const float *sc, size_t n_items, size_t k_pool)
{
    float smp[256];
    size_t stride = n_items / 256 + 1, m = 0, rank, lo, hi;
    for (size_t i = stride / 2; i < n_items && m < 256; i += stride)
        if (sc[i] == sc[i])
            smp[m++] = sc[i];
    rank = (2 * k_pool + 8) * m / n_items + 1;    /* 0-based, from the top */
    if (m == 0 || rank >= m)
        return -INFINITY;
    /* quickselect (Hoare) for the rank-th largest */
    lo = 0;
    hi = m - 1;
    while (lo < hi) {
        float pivot = smp[lo + (hi - lo) / 2];
        size_t a = lo, b = hi;
        while (a <= b) {
            while (smp[a] > pivot)
                a++;
            while (smp[b] < pivot)
                b--;
            if (a <= b) {
                float t = smp[a];
                smp[a] = smp[b];
                smp[b] = t;
                a++;
                if (b == 0)
                    break;
                b--;
            }
        }
        if (rank <= b)
            hi = b;
        else if (rank >= a)
            lo = a;
        else
            break;
    }
    return smp[rank];
}

static float eff_score(const trove_rules *r, uint32_t i, float s)
{
    return s * r->factor[i] + r->offset[i];
}

static void push(actx *ax, float s, uint32_t i, uint32_t tier)
{
    ax->pool[ax->n_pool++] = make_cand(s, i, tier);
}

/* The pool: every eligible item at or above a threshold taken from a
 * sample so that about 2K items pass (dense scores), or every eligible
 * candidate (candidate list), then heapified with the best at the root.
 * Pinned items are placed apart and never enter it. */
static void build_pool(actx *ax)
{
    const trove_rules *r = ax->r;
    const trove_rules_request *q = ax->q;

    ax->n_pool = 0;
    ax->pool_truncated = 0;
    ax->n_eligible = 0;
    if (q->scores != NULL) {
        const float *sc = q->scores;
        const uint64_t *skip = ax->skip, *special = r->special;
        const trove__kernels *kern = trove__kernels_best();
        size_t skipped = 0, n_items = r->n_items, aim = ax->k_pool;
        float thr;
        for (size_t w = 0; w < r->n_words; w++)
            skipped += (size_t)__builtin_popcountll(skip[w]);
        ax->n_eligible = n_items - skipped;
        for (;;) {
            thr = 2 * aim < ax->n_eligible ? sample_threshold(sc, n_items, aim)
                                           : -INFINITY;
            ax->n_pool = 0;
            /* the kernels' first_gt (SIMD) skips to the next score above
             * the threshold; only those read the bitsets. s >= thr is
             * s > the float just below thr. */
            {
                float t = thr == -INFINITY ? -INFINITY : nextafterf(thr, -INFINITY);
                size_t i = 0;
                while ((i += kern->first_gt(sc + i, n_items - i, t)) < n_items) {
                    if (!(((skip[i >> 6] | special[i >> 6]) >> (i & 63)) & 1u))
                        push(ax, sc[i], (uint32_t)i, 0);
                    i++;
                }
            }
            for (size_t k = 0; k < r->n_special; k++) {
                uint32_t i = r->special_list[k];
                float es;
                if (trove__bit(skip, i) || !(sc[i] > -INFINITY))
                    continue;
                es = eff_score(r, i, sc[i]);
                /* buried items rank after all others: only a complete
                 * pool holds them */
                if (r->buried[i] ? thr == -INFINITY : es >= thr)
                    push(ax, es, i, r->buried[i]);
            }
            if (ax->n_pool >= ax->k_pool || thr == -INFINITY)
                break;
            aim *= 4;     /* the sample promised more than there is */
        }
        ax->pool_truncated = thr != -INFINITY;
    } else {
        memset(ax->seen, 0, r->n_words * 8);
        for (size_t j = 0; j < q->n_candidates; j++) {
            uint32_t i = q->candidates[j];
            float s = q->candidate_scores[j];
            if (trove__bit(ax->seen, i))
                continue;
            trove__bit_set(ax->seen, i);
            if (trove__bit(ax->skip, i))
                continue;
            ax->n_eligible++;
            if ((r->flags[i] & TROVE__F_PIN_ANY) || !(s > -INFINITY))
                continue;
            push(ax, eff_score(r, i, s), i, r->buried[i]);
        }
    }
    for (size_t i = ax->n_pool / 2; i-- > 0;)
        sift_down_best(ax->pool, ax->n_pool, i);
    ax->n_live = ax->n_pool;
}

/* Next best pool entry (popped entries move to the array's tail), or NULL. */
static const trove__cand *pool_pop(actx *ax)
{
    trove__cand t;
    if (ax->n_live == 0)
        return NULL;
    t = ax->pool[0];
    ax->n_live--;
    ax->pool[0] = ax->pool[ax->n_live];
    ax->pool[ax->n_live] = t;
    sift_down_best(ax->pool, ax->n_live, 0);
    return &ax->pool[ax->n_live];
}

/* ------------------------------------------------------------- step 3 */

/* Rule that forbids adding item i (exclusive group or category full), or
 * -1. *action receives the drop action. */
static int blocked_by(const actx *ax, uint32_t i, int *action)
{
    const trove_rules *r = ax->r;
    for (size_t k = 0; k < r->n_exclusive; k++) {
        const trove__crule *c = &r->rules[r->exclusive_rules[k]];
        if (trove__member(c, i) && ax->counts[c->count_off] >= c->max) {
            *action = TROVE_ACTION_DROP_EXCLUSIVE;
            return (int)r->exclusive_rules[k];
        }
    }
    for (size_t k = 0; k < r->n_diversity; k++) {
        const trove__crule *c = &r->rules[r->diversity_rules[k]];
        uint32_t v = c->value_of[i];
        if (v != TROVE__NONE && ax->counts[c->count_off + v] >= c->max) {
            *action = TROVE_ACTION_DROP_DIVERSITY;
            return (int)r->diversity_rules[k];
        }
    }
    return -1;
}

static void count_groups(actx *ax, uint32_t i)
{
    const trove_rules *r = ax->r;
    for (size_t k = 0; k < r->n_exclusive; k++) {
        const trove__crule *c = &r->rules[r->exclusive_rules[k]];
        if (trove__member(c, i))
            ax->counts[c->count_off]++;
    }
    for (size_t k = 0; k < r->n_diversity; k++) {
        const trove__crule *c = &r->rules[r->diversity_rules[k]];
        if (c->value_of[i] != TROVE__NONE)
            ax->counts[c->count_off + c->value_of[i]]++;
    }
}

static void place(actx *ax, size_t pos, uint32_t i, float s, int source,
                  uint16_t by)
{
    size_t tail = ax->n - pos;
    memmove(ax->items + pos + 1, ax->items + pos, tail * sizeof *ax->items);
    memmove(ax->scores + pos + 1, ax->scores + pos, tail * sizeof *ax->scores);
    memmove(ax->sources + pos + 1, ax->sources + pos, tail);
    memmove(ax->by + pos + 1, ax->by + pos, tail * sizeof *ax->by);
    ax->items[pos] = i;
    ax->scores[pos] = s;
    ax->sources[pos] = (uint8_t)source;
    ax->by[pos] = by;
    ax->n++;
    trove__bit_set(ax->chosen, i);
    count_groups(ax, i);
}

static void drop_hit(actx *ax, uint32_t i, int rule, int action)
{
    trove_rules_result *res = ax->res;
    if (!ax->q->explain || res->hits == NULL)
        return;
    if (ax->n_drops >= res->hits_cap) {
        ax->drops_truncated = 1;
        return;
    }
    res->hits[ax->n_drops].item = i;
    res->hits[ax->n_drops].rule = (uint16_t)rule;
    res->hits[ax->n_drops].action = (uint8_t)action;
    res->hits[ax->n_drops].position = 255;
    ax->n_drops++;
}

/* Score of item i for slots outside the ranking (pins, exploration,
 * bundles): its boosted score when all scores are known, else 0. */
static float side_score(const actx *ax, uint32_t i)
{
    const float *sc = ax->q->scores;
    if (sc == NULL || !(sc[i] > -INFINITY))
        return 0.0f;
    return eff_score(ax->r, i, sc[i]);
}

static void fill_ranked(actx *ax, size_t target)
{
    const trove__cand *c;
    while (ax->n < target && (c = pool_pop(ax)) != NULL) {
        int action = 0, rule;
        if (trove__bit(ax->chosen, c->item))
            continue;
        if ((rule = blocked_by(ax, c->item, &action)) >= 0) {
            drop_hit(ax, c->item, rule, action);
            continue;
        }
        place(ax, ax->n, c->item, c->score, ax->q->ranked_source,
              TROVE_RULE_CATALOG);
    }
}

static void place_pins(actx *ax)
{
    const trove_rules *r = ax->r;
    size_t m = 0, group = 0;
    /* r->pins is grouped by pin rule (catalog flag first, then rules in
     * file order); within a group, order by score. pick[].item holds the
     * index into r->pins. */
    for (size_t k = 0; k < r->n_pins; k++) {
        uint32_t i = r->pins[k];
        trove__cand c;
        size_t j;
        if (k > 0 && r->pin_rule[k] != r->pin_rule[k - 1])
            group = m;
        if (trove__bit(ax->skip, i))
            continue;
        c.score = side_score(ax, i);
        c.key = cand_key(c.score, i, 0);
        c.item = (uint32_t)k;
        for (j = m; j > group && better(&c, &ax->pick[j - 1]); j--)
            ax->pick[j] = ax->pick[j - 1];
        ax->pick[j] = c;
        m++;
    }
    for (size_t k = 0; k < m && ax->n < ax->want; k++) {
        uint32_t at = ax->pick[k].item;
        place(ax, ax->n, r->pins[at], ax->pick[k].score,
              TROVE_RULES_SOURCE_PINNED, r->pin_rule[at]);
    }
}

/* The exploration order of item i under rule k for a user on a local day:
 * the splitmix64 finalizer (Steele, Lea & Flood, "Fast splittable
 * pseudorandom number generators", 2014) over the four values. Part of the
 * documented behaviour: changing it reshuffles every user's slots. */
static uint64_t explore_hash(uint64_t key, int64_t day, uint32_t i, size_t k)
{
    uint64_t z = key ^ ((uint64_t)day * 0x9E3779B97F4A7C15ull) ^
                 (((uint64_t)i << 16 | (uint64_t)k) * 0xD1B54A32D192ED03ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* First position b of by_created (created_ts descending) whose item was
 * created at or before t. */
static size_t created_at_or_before(const trove_rules *r, int64_t t)
{
    size_t lo = 0, hi = r->n_items;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->created_ts[r->by_created[mid]] > t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Can new item i take an exploration slot of rule c? */
static int explore_ok(const actx *ax, const trove__crule *c, uint32_t i)
{
    int action;
    return !trove__bit(ax->skip, i) && !trove__bit(ax->chosen, i) &&
           trove__member(c, i) && blocked_by(ax, i, &action) < 0;
}

/* Many new items: draw positions among them (uniform, seeded by user, day
 * and rule) until `slots` distinct eligible ones are found, instead of
 * hashing every one. Returns how many were found; 0..slots-1 means the
 * draws ran out (most new items are not eligible for this user) and the
 * caller scans them all instead. */
static size_t explore_draw(actx *ax, const trove__crule *c, uint64_t seed,
                           size_t first, size_t count)
{
    const trove_rules *r = ax->r;
    size_t m = 0;
    for (size_t tries = 8 * (size_t)c->slots + 16; m < c->slots && tries > 0;
         tries--) {
        uint64_t z;
        seed += 0x9E3779B97F4A7C15ull;   /* splitmix64 */
        z = explore_hash(seed, 0, 0, 0);
        uint32_t i = r->by_created[first + (size_t)(((z >> 32) *
                                                     (uint64_t)count) >> 32)];
        size_t j = 0;
        while (j < m && ax->pick[j].item != i)
            j++;
        if (j < m || !explore_ok(ax, c, i))
            continue;
        ax->pick[m].key = m;
        ax->pick[m].score = 0;
        ax->pick[m].item = i;
        m++;
    }
    return m;
}

static void explore(actx *ax)
{
    const trove_rules *r = ax->r;
    const trove_rules_request *q = ax->q;
    /* times near the ends of int64 (never real) saturate instead of
     * overflowing */
    int32_t off = trove__rules_tz_offset(&r->tz, q->now);
    int64_t local = (off > 0 && q->now > INT64_MAX - off) ? INT64_MAX :
                    (off < 0 && q->now < INT64_MIN - off) ? INT64_MIN :
                    q->now + off;
    int64_t day = local / 86400 - (local % 86400 < 0);   /* floor */
    uint64_t key = q->user ? q->user->key : 0;

    for (size_t k = 0; k < r->n_rules && ax->n < ax->want; k++) {
        const trove__crule *c = &r->rules[k];
        size_t m = 0;
        int drawn = 0;
        int64_t oldest;
        if (c->kind != TROVE_RULE_EXPLORE)
            continue;
        oldest = q->now < INT64_MIN + c->new_secs ? INT64_MIN : q->now - c->new_secs;
        {
            size_t first = created_at_or_before(r, q->now);
            size_t count = (oldest == INT64_MIN ? r->n_items
                                                : created_at_or_before(r, oldest - 1))
                           - first;
            if (count > 4 * (size_t)c->slots + 32)
                m = explore_draw(ax, c, explore_hash(key, day, UINT32_MAX, k),
                                 first, count);
            drawn = m == c->slots;
            if (!drawn)
                m = 0;   /* too few draws were eligible: the full scan */
        }
        for (size_t b = 0; !drawn && b < r->n_items; b++) {
            uint32_t i = r->by_created[b];
            uint64_t h;
            int action;
            size_t j;
            if (r->created_ts[i] < oldest)
                break;
            /* hash first: most new items lose to the kept ones at once */
            h = explore_hash(key, day, i, k);
            if (m == c->slots && h >= ax->pick[m - 1].key)
                continue;
            if (r->created_ts[i] > q->now || trove__bit(ax->skip, i) ||
                trove__bit(ax->chosen, i) || !trove__member(c, i) ||
                blocked_by(ax, i, &action) >= 0)
                continue;
            /* keep the `slots` smallest hashes, sorted ascending (key holds
             * the hash) */
            for (j = m; j > 0; j--) {
                const trove__cand *p = &ax->pick[j - 1];
                if (p->key < h || (p->key == h && p->item < i))
                    break;
                if (j < c->slots)
                    ax->pick[j] = *p;
            }
            if (j < c->slots) {
                ax->pick[j].key = h;
                ax->pick[j].score = 0;
                ax->pick[j].item = i;
                if (m < c->slots)
                    m++;
            }
        }
        for (size_t j = 0; j < m && ax->n < ax->want; j++) {
            uint32_t i = ax->pick[j].item;
            int action;
            if (blocked_by(ax, i, &action) >= 0)
                continue;
            place(ax, ax->n, i, side_score(ax, i), TROVE_RULES_SOURCE_EXPLORE,
                  (uint16_t)k);
        }
    }
}

/* Position of item i in the list, or ax->n. */
static size_t pos_of(const actx *ax, uint32_t i)
{
    size_t p = 0;
    while (p < ax->n && ax->items[p] != i)
        p++;
    return p;
}

/* Item i can be the partner of the anchor at position p: not in the list
 * and allowed by the caps, or ranked (model or exploration) below p, from
 * where it moves up. */
static int partner_ok(const actx *ax, uint32_t i, size_t p)
{
    int action;
    if (trove__bit(ax->skip, i))
        return 0;
    if (trove__bit(ax->chosen, i)) {
        size_t at = pos_of(ax, i);
        return at < ax->n && at > p &&
               ax->sources[at] != TROVE_RULES_SOURCE_PINNED &&
               ax->sources[at] != TROVE_RULES_SOURCE_BUNDLE;
    }
    return blocked_by(ax, i, &action) < 0;
}

/* Best partner of the anchor at position p under bundle rule c, or
 * TROVE__NONE. */
static uint32_t partner(const actx *ax, const trove__crule *c, size_t p)
{
    const trove_rules *r = ax->r;
    uint32_t a = ax->items[p];
    if (c->copurchase) {
        for (uint32_t k = r->co_off[a]; k < r->co_off[a + 1]; k++)
            if (partner_ok(ax, r->co_items[k], p))
                return r->co_items[k];
        return TROVE__NONE;
    }
    if (ax->q->scores != NULL) {
        trove__cand best = {0, 0, TROVE__NONE};
        for (uint32_t k = 0; k < c->n_with; k++) {
            uint32_t i = c->with_list[k];
            trove__cand x;
            if (!(ax->q->scores[i] > -INFINITY))
                continue;
            x = make_cand(side_score(ax, i), i, r->buried[i]);
            if ((best.item == TROVE__NONE || better(&x, &best)) &&
                partner_ok(ax, i, p))
                best = x;
        }
        return best.item;
    }
    {
        const trove__cand *best = NULL;
        for (size_t k = 0; k < ax->n_pool; k++) {
            const trove__cand *x = &ax->pool[k];
            if (trove__bit(c->with, x->item) && (best == NULL || better(x, best)) &&
                partner_ok(ax, x->item, p))
                best = x;
        }
        return best ? best->item : TROVE__NONE;
    }
}

/* Move the entry at position from (> to) to position to. */
static void move_up(actx *ax, size_t from, size_t to)
{
    uint32_t i = ax->items[from];
    float s = ax->scores[from];
    size_t len = from - to;
    memmove(ax->items + to + 1, ax->items + to, len * sizeof *ax->items);
    memmove(ax->scores + to + 1, ax->scores + to, len * sizeof *ax->scores);
    memmove(ax->sources + to + 1, ax->sources + to, len);
    memmove(ax->by + to + 1, ax->by + to, len * sizeof *ax->by);
    ax->items[to] = i;
    ax->scores[to] = s;
}

/* Make room: remove the last ranked item after position `after` (pins and
 * exploration slots stay). Its caps stay counted, so the list never
 * exceeds them. Returns 0 if there is none. */
static int drop_last_ranked(actx *ax, size_t after)
{
    size_t p = ax->n;
    while (p > after && ax->sources[p - 1] != ax->q->ranked_source)
        p--;
    if (p == after)
        return 0;
    p--;
    memmove(ax->items + p, ax->items + p + 1, (ax->n - p - 1) * sizeof *ax->items);
    memmove(ax->scores + p, ax->scores + p + 1, (ax->n - p - 1) * sizeof *ax->scores);
    memmove(ax->sources + p, ax->sources + p + 1, ax->n - p - 1);
    memmove(ax->by + p, ax->by + p + 1, (ax->n - p - 1) * sizeof *ax->by);
    ax->n--;
    return 1;
}

static void bundles(actx *ax)
{
    const trove_rules *r = ax->r;
    for (size_t k = 0; k < r->n_rules; k++) {
        const trove__crule *c = &r->rules[k];
        uint32_t done = 0;
        if (c->kind != TROVE_RULE_BUNDLE)
            continue;
        for (size_t p = 0; p < ax->n && done < c->max; p++) {
            uint32_t a = ax->items[p], i;
            size_t at;
            if (ax->sources[p] == TROVE_RULES_SOURCE_BUNDLE || !trove__member(c, a))
                continue;
            if (p + 1 >= ax->want)
                break;
            if ((i = partner(ax, c, p)) == TROVE__NONE)
                continue;
            if ((at = pos_of(ax, i)) < ax->n) {
                move_up(ax, at, p + 1);
                ax->sources[p + 1] = TROVE_RULES_SOURCE_BUNDLE;
                ax->by[p + 1] = (uint16_t)k;
            } else {
                if (ax->n == ax->want && !drop_last_ranked(ax, p + 1))
                    break;
                place(ax, p + 1, i, side_score(ax, i),
                      TROVE_RULES_SOURCE_BUNDLE, (uint16_t)k);
            }
            done++;
            p++;
        }
    }
}

static int select_list(actx *ax)
{
    const trove_rules *r = ax->r;
    size_t slots = 0, model_target;

    memset(ax->counts, 0, r->n_counts * sizeof *ax->counts);
    memset(ax->chosen, 0, r->n_words * 8);
    ax->n = 0;
    ax->n_live = ax->n_pool;
    for (size_t i = ax->n_pool / 2; i-- > 0;)
        sift_down_best(ax->pool, ax->n_pool, i);
    ax->n_drops = 0;
    ax->drops_truncated = 0;
    place_pins(ax);
    for (size_t k = 0; k < r->n_rules; k++)
        if (r->rules[k].kind == TROVE_RULE_EXPLORE)
            slots += r->rules[k].slots;
    model_target = ax->want - (slots < ax->want - ax->n ? slots : ax->want - ax->n);
    fill_ranked(ax, model_target);
    if (ax->n < model_target && ax->pool_truncated)
        return NEED_MORE;
    explore(ax);
    fill_ranked(ax, ax->want);
    if (ax->n < ax->want && ax->pool_truncated)
        return NEED_MORE;
    bundles(ax);
    return TROVE_OK;
}

/* ------------------------------------------------------------- output */

static void write_hits(actx *ax)
{
    const trove_rules *r = ax->r;
    trove_rules_result *res = ax->res;
    size_t n_slot = 0, cap = res->hits_cap, kept, w = 0;
    int truncated = ax->drops_truncated;

    /* count the hits of the slots */
    for (size_t p = 0; p < ax->n; p++) {
        n_slot += ax->sources[p] == TROVE_RULES_SOURCE_PINNED ||
                  ax->sources[p] == TROVE_RULES_SOURCE_EXPLORE ||
                  ax->sources[p] == TROVE_RULES_SOURCE_BUNDLE;
        for (size_t k = 0; k < r->n_rules; k++) {
            const trove__crule *c = &r->rules[k];
            if ((c->kind == TROVE_RULE_BOOST || c->kind == TROVE_RULE_BURY) &&
                trove__member(c, ax->items[p]))
                n_slot++;
        }
    }
    kept = n_slot < cap ? (ax->n_drops < cap - n_slot ? ax->n_drops : cap - n_slot) : 0;
    if (kept < ax->n_drops || n_slot > cap)
        truncated = 1;
    if (kept > 0)
        memmove(res->hits + n_slot, res->hits, kept * sizeof *res->hits);
    for (size_t p = 0; p < ax->n; p++) {
        trove_rule_hit h;
        h.item = ax->items[p];
        h.position = (uint8_t)(p < 255 ? p : 255);
        h.action = ax->sources[p] == TROVE_RULES_SOURCE_PINNED ? TROVE_ACTION_PIN :
                   ax->sources[p] == TROVE_RULES_SOURCE_EXPLORE ? TROVE_ACTION_EXPLORE :
                   ax->sources[p] == TROVE_RULES_SOURCE_BUNDLE ? TROVE_ACTION_BUNDLE : 0;
        h.rule = ax->by[p];
        if (h.action != 0 && w < cap)
            res->hits[w++] = h;
        for (size_t k = 0; k < r->n_rules; k++) {
            const trove__crule *c = &r->rules[k];
            if ((c->kind == TROVE_RULE_BOOST || c->kind == TROVE_RULE_BURY) &&
                trove__member(c, ax->items[p]) && w < cap) {
                h.rule = (uint16_t)k;
                h.action = c->kind == TROVE_RULE_BOOST ? TROVE_ACTION_BOOST :
                                                         TROVE_ACTION_BURY;
                res->hits[w++] = h;
            }
        }
    }
    res->n_hits = w + kept;
    res->hits_truncated = truncated;
}

int trove_rules_apply(const trove_rules *r, const trove_rules_request *q,
                      void *scratch, trove_rules_result *res)
{
    unsigned char *s = scratch;
    actx ax;
    int rc;

    if (r == NULL || q == NULL || scratch == NULL || res == NULL ||
        (q->n > 0 && res->items == NULL) ||
        (q->scores == NULL && (q->candidates == NULL ||
                               q->candidate_scores == NULL)))
        return TROVE_EINVAL;
    for (size_t j = 0; q->scores == NULL && j < q->n_candidates; j++)
        if (q->candidates[j] >= r->n_items)
            return TROVE_EINVAL;
    if (q->user != NULL && q->user->n_exposures > 0) {
        if (q->user->exposed_items == NULL || q->user->exposure_counts == NULL)
            return TROVE_EINVAL;
        for (size_t e = 0; e < q->user->n_exposures; e++)
            if (q->user->exposed_items[e] >= r->n_items)
                return TROVE_EINVAL;
    }
    memset(&ax, 0, sizeof ax);
    ax.r = r;
    ax.q = q;
    ax.res = res;
    ax.skip = (uint64_t *)(s + r->off_skip);
    ax.chosen = (uint64_t *)(s + r->off_chosen);
    ax.seen = (uint64_t *)(s + r->off_seen);
    ax.terms = (uint64_t *)(s + r->off_terms);
    ax.pool = (trove__cand *)(void *)(s + r->off_pool);
    ax.counts = (uint32_t *)(void *)(s + r->off_counts);
    ax.pick = (trove__cand *)(void *)(s + r->off_pick);
    ax.items = (uint32_t *)(void *)(s + r->off_items);
    ax.scores = (float *)(void *)(s + r->off_scores);
    ax.sources = s + r->off_sources;
    ax.by = (uint16_t *)(void *)(s + r->off_by);
    ax.want = q->n < r->n_items ? q->n : r->n_items;

    build_skip(&ax);
    /* K: the pool size aimed at; it grows only when caps drop so many
     * candidates that the pool runs dry (dense scores only: a candidate
     * pool is always complete) */
    ax.k_pool = 4 * ax.want + 16;
    for (;;) {
        build_pool(&ax);
        rc = select_list(&ax);
        if (rc != NEED_MORE || ax.k_pool >= r->n_items)
            break;
        ax.k_pool *= 4;
    }
    memcpy(res->items, ax.items, ax.n * sizeof *ax.items);
    if (res->scores != NULL)
        memcpy(res->scores, ax.scores, ax.n * sizeof *ax.scores);
    if (res->sources != NULL)
        memcpy(res->sources, ax.sources, ax.n);
    res->n = ax.n;
    res->n_eligible = ax.n_eligible;
    res->n_hits = 0;
    res->hits_truncated = 0;
    if (q->explain && res->hits != NULL)
        write_hits(&ax);
    return TROVE_OK;
}

/* ------------------------------------------------------------- check */

static int user_has_term(const trove_rules *r, const trove_rules_user *u,
                         uint32_t id)
{
    size_t len;
    const char *name = trove_idmap_name(r->terms, id, &len);
    const char *const *list;
    size_t n;
    if (u == NULL || name == NULL)
        return 0;
    list = name[0] == 's' ? u->segments : u->features;
    n = name[0] == 's' ? u->n_segments : u->n_features;
    for (size_t k = 0; k < n; k++)
        if (list[k] != NULL && strlen(list[k]) == len - 2 &&
            memcmp(list[k], name + 2, len - 2) == 0)
            return 1;
    return 0;
}

static int any_term(const trove_rules *r, const trove_rules_user *u,
                    const uint32_t *ids, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (user_has_term(r, u, ids[k]))
            return 1;
    return 0;
}

int trove_rules_check(const trove_rules *r, const trove_rules_request *q,
                      uint32_t item, trove_rule_hit *hits, size_t cap,
                      size_t *n_hits)
{
    const trove_rules_user *u;
    size_t w = 0;

    if (r == NULL || q == NULL || n_hits == NULL || item >= r->n_items ||
        (cap > 0 && hits == NULL))
        return TROVE_EINVAL;
    u = q->user;
#define HIT(rule_, action_)                                                   \
    do {                                                                      \
        if (w < cap) {                                                        \
            hits[w].item = item;                                              \
            hits[w].rule = (uint16_t)(rule_);                                 \
            hits[w].action = (uint8_t)(action_);                              \
            hits[w].position = 255;                                           \
            w++;                                                              \
        }                                                                     \
    } while (0)
    if (r->flags[item] & TROVE__F_INACTIVE)
        HIT(TROVE_RULE_CATALOG, TROVE_ACTION_INACTIVE);
    if (r->flags[item] & TROVE__F_BLOCKED)
        HIT(TROVE_RULE_CATALOG, TROVE_ACTION_BLOCKED);
    if (out_of_dates(r, item, q->now))
        HIT(TROVE_RULE_CATALOG, TROVE_ACTION_OUT_OF_DATES);
    if (r->flags[item] & TROVE__F_PINNED)
        HIT(TROVE_RULE_CATALOG, TROVE_ACTION_PIN);
    for (size_t k = 0; k < r->n_rules; k++) {
        const trove__crule *c = &r->rules[k];
        if (!trove__member(c, item))
            continue;
        switch (c->kind) {
        case TROVE_RULE_ELIGIBILITY:
            if ((c->n_req_seg && !any_term(r, u, c->req_seg, c->n_req_seg)) ||
                (c->n_req_feat && !any_term(r, u, c->req_feat, c->n_req_feat)) ||
                any_term(r, u, c->exc_seg, c->n_exc_seg) ||
                any_term(r, u, c->exc_feat, c->n_exc_feat))
                HIT(k, TROVE_ACTION_NOT_ELIGIBLE);
            break;
        case TROVE_RULE_SCHEDULE:
            if (q->now < c->start_utc || q->now >= c->end_utc)
                HIT(k, TROVE_ACTION_OUT_OF_SCHEDULE);
            break;
        case TROVE_RULE_FREQUENCY_CAP:
            for (size_t e = 0; u && u->exposed_items && u->exposure_counts &&
                               e < u->n_exposures; e++)
                if (u->exposed_items[e] == item && u->exposure_counts[e] >= c->max) {
                    HIT(k, TROVE_ACTION_FREQUENCY_CAPPED);
                    break;
                }
            break;
        case TROVE_RULE_BUDGET_CAP:
            if (q->remaining_budget != NULL &&
                (r->flags[item] & TROVE__F_BUDGETED) &&
                !(q->remaining_budget[item] > 0))
                HIT(k, TROVE_ACTION_BUDGET_EXHAUSTED);
            break;
        case TROVE_RULE_PIN:
            HIT(k, TROVE_ACTION_PIN);
            break;
        case TROVE_RULE_BOOST:
            HIT(k, TROVE_ACTION_BOOST);
            break;
        case TROVE_RULE_BURY:
            HIT(k, TROVE_ACTION_BURY);
            break;
        default:
            break;
        }
    }
#undef HIT
    *n_hits = w;
    return TROVE_OK;
}

const char *trove_rules_action_name(int action)
{
    static const char *const names[] = {
        NULL, "pin", "boost", "bury", "explore", "bundle", "drop_exclusive",
        "drop_diversity", "inactive", "blocked", "out_of_dates", "not_eligible",
        "out_of_schedule", "frequency_capped", "budget_exhausted"
    };
    if (action < 1 || action >= (int)(sizeof names / sizeof names[0]))
        return "unknown";
    return names[action];
}

const char *trove_rules_source_name(int source)
{
    static const char *const names[] = {"model", "pinned", "explore", "bundle",
                                        "popular"};
    if (source < 0 || source >= (int)(sizeof names / sizeof names[0]))
        return "unknown";
    return names[source];
}
