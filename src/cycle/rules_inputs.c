/*
 * rules_inputs.c - what a cycle feeds the rules engine (trove/rules.h) per
 * user: the store's user features and segments, exposures from the
 * market's earlier cycles (frequency caps) and offers' remaining budgets
 * (budget caps); and the rules compiled against the cycle's offers.
 *
 * Invariants: the planner's users are in ascending user id and its offers
 * in ascending item id (trove_cycle_run reads both in id order), so store
 * ids map to planner indices by binary search, and the store's
 * entity-ordered feature walks produce each CSR array in order.
 */
#include "cycle/cycle_int.h"

#include <stdlib.h>
#include <string.h>

#define SEGMENT_PREFIX TROVE_RULES_SEGMENT_PREFIX

static size_t find_user(const trove_cycle_user *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].user_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].user_id == id ? lo : SIZE_MAX;
}

static size_t find_offer(const trove_cycle_offer *v, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].item_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo].item_id == id ? lo : SIZE_MAX;
}

/* (entity index, value) pairs, appended in entity order. */
typedef struct pairs {
    uint64_t *v;
    size_t n, cap;
} pairs;

static int pairs_push(pairs *p, uint64_t x)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4096;
        uint64_t *v = trove_realloc(p->v, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = x;
    return TROVE_OK;
}

/* CSR offsets over n entities from pairs sorted by entity (high 32 bits). */
static size_t *csr_offsets(const pairs *p, size_t n)
{
    size_t *off = trove_calloc(n + 1, sizeof *off);
    if (off == NULL)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        off[(p->v[i] >> 32) + 1]++;
    for (size_t u = 0; u < n; u++)
        off[u + 1] += off[u];
    return off;
}

typedef struct walk {
    const trove_cycle_user *users;
    size_t n_users;
    const trove_cycle_offer *offers;
    size_t n_offers;
    trove_idmap *names;
    pairs user_feat, item_feat, exposed;
    double *budget;          /* NULL unless budgets are wanted */
    uint8_t *budgeted;
    int64_t window_from, now;
    const char *key;
    int64_t *cycles;
    size_t n_cycles, cap_cycles;
} walk;

static int on_user_feature(void *ud, const trove_feature_value *fv)
{
    walk *w = ud;
    size_t u;
    uint32_t id;
    int st;
    if (fv->kind != TROVE_FEATURE_CATEGORICAL)
        return 0;
    if ((u = find_user(w->users, w->n_users, fv->entity_id)) == SIZE_MAX)
        return 0;
    if ((st = trove_idmap_intern(w->names, fv->name, strlen(fv->name), &id, NULL)) != TROVE_OK)
        return st;
    return pairs_push(&w->user_feat, (uint64_t)u << 32 | id);
}

static int on_item_feature(void *ud, const trove_feature_value *fv)
{
    walk *w = ud;
    size_t o = find_offer(w->offers, w->n_offers, fv->entity_id);
    uint32_t id;
    int st;
    if (o == SIZE_MAX)
        return 0;
    if (fv->kind != TROVE_FEATURE_CATEGORICAL) {
        if (w->budget != NULL && strcmp(fv->name, "budget") == 0) {
            w->budget[o] += fv->value;
            w->budgeted[o] = 1;
        }
        return 0;
    }
    if ((st = trove_idmap_intern(w->names, fv->name, strlen(fv->name), &id, NULL)) != TROVE_OK)
        return st;
    return pairs_push(&w->item_feat, (uint64_t)o << 32 | id);
}

static int on_redemption(void *ud, const trove_event *ev)
{
    walk *w = ud;
    size_t o = find_offer(w->offers, w->n_offers, ev->item_id);
    if (o != SIZE_MAX)
        w->budget[o] -= ev->value;
    return 0;
}

static int on_cycle(void *ud, const trove_cycle *c)
{
    walk *w = ud;
    if (strcmp(c->key, w->key) == 0 || c->created_ts < w->window_from ||
        c->created_ts >= w->now)
        return 0;
    if (w->n_cycles == w->cap_cycles) {
        size_t cap = w->cap_cycles ? w->cap_cycles * 2 : 8;
        int64_t *v = trove_realloc(w->cycles, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        w->cycles = v;
        w->cap_cycles = cap;
    }
    w->cycles[w->n_cycles++] = c->id;
    return 0;
}

static int on_assignment(void *ud, const trove_assignment *a)
{
    walk *w = ud;
    size_t u = find_user(w->users, w->n_users, a->user_id);
    size_t o = find_offer(w->offers, w->n_offers, a->item_id);
    if (u == SIZE_MAX || o == SIZE_MAX)
        return 0;
    return pairs_push(&w->exposed, (uint64_t)u << 32 | o);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int has_kind(const trove_rule_set *rs, int kind)
{
    for (size_t i = 0; i < rs->n_rules; i++)
        if (rs->rules[i].kind == kind)
            return 1;
    return 0;
}

void trove__cycle_rules_release(trove__cycle_rules *c)
{
    if (c == NULL)
        return;
    trove_rules_free(c->rules);
    trove_idmap_free(c->names);
    trove_free(c->feat_off);
    trove_free((void *)c->feat);
    trove_free(c->seg_off);
    trove_free((void *)c->seg);
    trove_free(c->exp_off);
    trove_free(c->exp_item);
    trove_free(c->exp_count);
    trove_free(c->budget);
    memset(c, 0, sizeof *c);
}

void trove__cycle_rules_user(void *ud, size_t u, trove_rules_user *out)
{
    const trove__cycle_rules *c = ud;
    out->features = c->feat + c->feat_off[u];
    out->n_features = c->feat_off[u + 1] - c->feat_off[u];
    out->segments = c->seg + c->seg_off[u];
    out->n_segments = c->seg_off[u + 1] - c->seg_off[u];
    if (c->exp_off != NULL) {
        out->exposed_items = c->exp_item + c->exp_off[u];
        out->exposure_counts = c->exp_count + c->exp_off[u];
        out->n_exposures = c->exp_off[u + 1] - c->exp_off[u];
    }
}

/* User features and segments as CSR arrays of borrowed names. */
static int build_user_context(walk *w, trove__cycle_rules *c)
{
    size_t n_seg = 0, plen = strlen(SEGMENT_PREFIX);
    c->feat_off = csr_offsets(&w->user_feat, w->n_users);
    c->seg_off = trove_calloc(w->n_users + 1, sizeof *c->seg_off);
    c->feat = trove_malloc((w->user_feat.n + 1) * sizeof *c->feat);
    c->seg = trove_malloc((w->user_feat.n + 1) * sizeof *c->seg);
    if (c->feat_off == NULL || c->seg_off == NULL || c->feat == NULL || c->seg == NULL)
        return TROVE_ENOMEM;
    for (size_t i = 0; i < w->user_feat.n; i++) {
        size_t u = (size_t)(w->user_feat.v[i] >> 32);
        const char *name = trove_idmap_name(w->names, (uint32_t)w->user_feat.v[i], NULL);
        c->feat[i] = name;
        if (strncmp(name, SEGMENT_PREFIX, plen) == 0) {
            c->seg[n_seg++] = name + plen;
            c->seg_off[u + 1]++;
        }
    }
    for (size_t u = 0; u < w->n_users; u++)
        c->seg_off[u + 1] += c->seg_off[u];
    return TROVE_OK;
}

/* Exposure counts per user from the sorted (user, offer) pairs. */
static int build_exposures(walk *w, trove__cycle_rules *c)
{
    size_t n = 0;
    if (w->exposed.n > 1)
        qsort(w->exposed.v, w->exposed.n, sizeof *w->exposed.v, u64_cmp);
    c->exp_off = trove_calloc(w->n_users + 1, sizeof *c->exp_off);
    c->exp_item = trove_malloc((w->exposed.n + 1) * sizeof *c->exp_item);
    c->exp_count = trove_malloc((w->exposed.n + 1) * sizeof *c->exp_count);
    if (c->exp_off == NULL || c->exp_item == NULL || c->exp_count == NULL)
        return TROVE_ENOMEM;
    for (size_t i = 0; i < w->exposed.n; i++) {
        if (i > 0 && w->exposed.v[i] == w->exposed.v[i - 1]) {
            c->exp_count[n - 1]++;
            continue;
        }
        c->exp_item[n] = (uint32_t)w->exposed.v[i];
        c->exp_count[n] = 1;
        c->exp_off[(w->exposed.v[i] >> 32) + 1]++;
        n++;
    }
    for (size_t u = 0; u < w->n_users; u++)
        c->exp_off[u + 1] += c->exp_off[u];
    c->n_exposures = n;
    return TROVE_OK;
}

int trove__cycle_rules_prepare(trove_store *s, const trove_market_config *cfg,
                               const trove_rule_set *rs, int64_t market_id,
                               int64_t now, const char *cycle_key,
                               const trove_cycle_user *users, size_t n_users,
                               const trove_cycle_offer *offers,
                               const trove_item *items, size_t n_offers,
                               trove__cycle_rules *out, trove_error *err)
{
    trove__cycle_rules c;
    walk w;
    trove_rules_item *ri = NULL;
    const char **inames = NULL;
    size_t *ioff = NULL;
    int st;

    memset(&c, 0, sizeof c);
    memset(&w, 0, sizeof w);
    w.users = users;
    w.n_users = n_users;
    w.offers = offers;
    w.n_offers = n_offers;
    w.now = now;
    w.key = cycle_key;
    if ((w.names = trove_idmap_new()) == NULL)
        goto nomem;
    c.names = w.names;
    if (has_kind(rs, TROVE_RULE_BUDGET_CAP)) {
        w.budget = trove_calloc(n_offers + 1, sizeof *w.budget);
        w.budgeted = trove_calloc(n_offers + 1, 1);
        if (w.budget == NULL || w.budgeted == NULL)
            goto nomem;
    }
    if ((st = trove_store_features_foreach(s, TROVE_FEATURE_USER, on_user_feature,
                                           &w, err)) != TROVE_OK ||
        (st = trove_store_features_foreach(s, TROVE_FEATURE_ITEM, on_item_feature,
                                           &w, err)) != TROVE_OK)
        goto fail;
    if ((st = build_user_context(&w, &c)) != TROVE_OK)
        goto fail;

    if (has_kind(rs, TROVE_RULE_FREQUENCY_CAP)) {
        int days = rs->frequency_window_days > 0 ? rs->frequency_window_days : 7;
        w.window_from = now - (int64_t)days * 86400;
        if ((st = trove_store_cycles_foreach(s, market_id, on_cycle, &w, err)) != TROVE_OK)
            goto fail;
        for (size_t k = 0; k < w.n_cycles; k++)
            if ((st = trove_store_assignments_foreach(s, w.cycles[k], on_assignment,
                                                      &w, err)) != TROVE_OK)
                goto fail;
        if ((st = build_exposures(&w, &c)) != TROVE_OK)
            goto fail;
    }

    if (w.budget != NULL) {
        trove_event_filter ef;
        memset(&ef, 0, sizeof ef);
        ef.market_id = market_id;
        ef.ts_from = 0;
        ef.ts_to = now;
        ef.type_mask = TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION);
        if ((st = trove_store_events_foreach(s, &ef, on_redemption, &w, err)) != TROVE_OK)
            goto fail;
        for (size_t o = 0; o < n_offers; o++)
            c.n_budgeted += w.budgeted[o];
    }

    /* Compile against the offers: item categorical features as CSR. */
    ioff = csr_offsets(&w.item_feat, n_offers);
    inames = trove_malloc((w.item_feat.n + 1) * sizeof *inames);
    ri = trove_calloc(n_offers + 1, sizeof *ri);
    if (ioff == NULL || inames == NULL || ri == NULL)
        goto nomem;
    for (size_t i = 0; i < w.item_feat.n; i++)
        inames[i] = trove_idmap_name(w.names, (uint32_t)w.item_feat.v[i], NULL);
    for (size_t o = 0; o < n_offers; o++) {
        const trove_item *it = &items[o];
        ri[o].ext_id = it->ext_id;
        ri[o].features = inames + ioff[o];
        ri[o].n_features = ioff[o + 1] - ioff[o];
        ri[o].active = it->active;
        ri[o].pinned = it->pinned;
        ri[o].blocked = it->blocked;
        ri[o].start_ts = it->start_ts;
        ri[o].end_ts = it->end_ts;
        ri[o].created_ts = it->created_ts > it->start_ts ? it->created_ts : it->start_ts;
        ri[o].budgeted = w.budgeted != NULL && w.budgeted[o];
    }
    {
        trove_rules_catalog cat;
        memset(&cat, 0, sizeof cat);
        cat.items = ri;
        cat.n_items = n_offers;
        cat.timezone = rs->timezone != NULL ? NULL : cfg->timezone;
        if ((st = trove_rules_compile(rs, &cat, &c.rules, err)) != TROVE_OK)
            goto fail;
    }
    c.budget = w.budget;
    w.budget = NULL;
    *out = c;
    st = TROVE_OK;
    goto done;
nomem:
    st = trove_error_set(err, TROVE_ENOMEM, "cycle rules: out of memory");
fail:
    if (st == TROVE_ENOMEM)
        trove_error_set(err, st, "cycle rules: out of memory");
    trove__cycle_rules_release(&c);
done:
    trove_free(w.user_feat.v);
    trove_free(w.item_feat.v);
    trove_free(w.exposed.v);
    trove_free(w.budget);
    trove_free(w.budgeted);
    trove_free(w.cycles);
    trove_free(ri);
    trove_free((void *)inames);
    trove_free(ioff);
    return st;
}
