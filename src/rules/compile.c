/*
 * compile.c - binds a parsed rule set to a catalog: every selector becomes
 * a bitset (and a sorted list) over dense item indices, user conditions
 * become term ids, boosts and buries fold into per-item factor / offset /
 * tier arrays, pins into one ordered list, schedule windows into UTC
 * instants (through the market's TZif data, see tz.c), and the scratch
 * layout of trove_rules_apply is fixed. Invariants are listed in
 * rules_int.h. Everything allocated here is owned by the trove_rules and
 * released by trove_rules_free; a failed compile releases it all.
 */
#include "rules_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Temporary indices of the catalog used while compiling. */
typedef struct cindex {
    trove_idmap *feat;      /* catalog feature name -> id */
    uint32_t    *feat_off;  /* CSR: items of feature f */
    uint32_t    *feat_items;
    trove_idmap *ids;       /* ext_id -> index (first occurrence) */
} cindex;

static void cindex_free(cindex *ix)
{
    trove_idmap_free(ix->feat);
    trove_idmap_free(ix->ids);
    trove_free(ix->feat_off);
    trove_free(ix->feat_items);
}

static int nomem(trove_error *err)
{
    return trove_error_set(err, TROVE_ENOMEM, "rules: out of memory");
}

static int cindex_build(const trove_rules_catalog *cat, cindex *ix,
                        trove_error *err)
{
    size_t total = 0, n_feat;
    uint32_t *fill = NULL, id;
    int rc = TROVE_OK;

    if ((ix->feat = trove_idmap_new()) == NULL ||
        (ix->ids = trove_idmap_new()) == NULL)
        return nomem(err);
    for (size_t i = 0; i < cat->n_items; i++) {
        const trove_rules_item *it = &cat->items[i];
        if (it->ext_id != NULL &&
            (rc = trove_idmap_intern(ix->ids, it->ext_id, strlen(it->ext_id),
                                     &id, NULL)) != TROVE_OK)
            return rc == TROVE_ENOMEM ? nomem(err) : rc;
        for (size_t k = 0; k < it->n_features; k++) {
            if (it->features[k] == NULL)
                return trove_error_set(err, TROVE_EINVAL, "rules: item %zu: "
                                       "feature %zu is NULL", i, k);
            if ((rc = trove_idmap_intern(ix->feat, it->features[k],
                                         strlen(it->features[k]), &id,
                                         NULL)) != TROVE_OK)
                return rc == TROVE_ENOMEM ? nomem(err) : rc;
            total++;
        }
    }
    n_feat = trove_idmap_size(ix->feat);
    ix->feat_off = trove_calloc(n_feat + 1, sizeof *ix->feat_off);
    ix->feat_items = trove_malloc((total ? total : 1) * sizeof *ix->feat_items);
    fill = trove_calloc(n_feat + 1, sizeof *fill);
    if (ix->feat_off == NULL || ix->feat_items == NULL || fill == NULL) {
        rc = nomem(err);
        goto done;
    }
    for (size_t i = 0; i < cat->n_items; i++)
        for (size_t k = 0; k < cat->items[i].n_features; k++) {
            const char *f = cat->items[i].features[k];
            ix->feat_off[trove_idmap_find(ix->feat, f, strlen(f)) + 1]++;
        }
    for (size_t f = 0; f < n_feat; f++)
        ix->feat_off[f + 1] += ix->feat_off[f];
    for (size_t i = 0; i < cat->n_items; i++)
        for (size_t k = 0; k < cat->items[i].n_features; k++) {
            const char *f = cat->items[i].features[k];
            size_t fid = (size_t)trove_idmap_find(ix->feat, f, strlen(f));
            ix->feat_items[ix->feat_off[fid] + fill[fid]++] = (uint32_t)i;
        }
done:
    trove_free(fill);
    return rc;
}

static uint64_t *bits_new(const trove_rules *r)
{
    return trove_calloc(r->n_words ? r->n_words : 1, sizeof(uint64_t));
}

/* Bitset of the items having any of the features in l; counts the names
 * no item has as warnings. */
static void select_features(trove_rules *r, const cindex *ix,
                            const trove_rule_spec *s, const char *key,
                            const trove_rule_strings *l, uint64_t *bits)
{
    for (size_t k = 0; k < l->n; k++) {
        int64_t f = trove_idmap_find(ix->feat, l->v[k], strlen(l->v[k]));
        if (f < 0) {
            trove_log(TROVE_LOG_WARN, "%s:%d: rule '%s': no item has %s '%s'",
                      r->src_path, s->line, s->name, key, l->v[k]);
            r->n_warnings++;
            continue;
        }
        for (uint32_t j = ix->feat_off[f]; j < ix->feat_off[f + 1]; j++)
            trove__bit_set(bits, ix->feat_items[j]);
    }
}

/* Sorted list of the set bits. */
static int bits_list(const trove_rules *r, const uint64_t *bits,
                     uint32_t **list, uint32_t *n)
{
    size_t count = 0, k = 0;
    for (size_t w = 0; w < r->n_words; w++)
        count += (size_t)__builtin_popcountll(bits[w]);
    if ((*list = trove_malloc((count ? count : 1) * sizeof **list)) == NULL)
        return TROVE_ENOMEM;
    for (size_t i = 0; i < r->n_items; i++)
        if (trove__bit(bits, i))
            (*list)[k++] = (uint32_t)i;
    *n = (uint32_t)count;
    return TROVE_OK;
}

static int compile_selector(trove_rules *r, const cindex *ix,
                            const trove_rule_spec *s, trove__crule *c)
{
    if (s->items.n + s->item_ids.n == 0)
        return TROVE_OK;
    if ((c->members = bits_new(r)) == NULL)
        return TROVE_ENOMEM;
    select_features(r, ix, s, s->kind == TROVE_RULE_BUNDLE ? "when" : "items",
                    &s->items, c->members);
    for (size_t k = 0; k < s->item_ids.n; k++) {
        int64_t i = trove_idmap_find(ix->ids, s->item_ids.v[k],
                                     strlen(s->item_ids.v[k]));
        if (i < 0) {
            trove_log(TROVE_LOG_WARN, "%s:%d: rule '%s': no item has id '%s'",
                      r->src_path, s->line, s->name, s->item_ids.v[k]);
            r->n_warnings++;
            continue;
        }
        trove__bit_set(c->members, (size_t)i);
    }
    return bits_list(r, c->members, &c->list, &c->n_list);
}

static int terms_of(trove_rules *r, const trove_rule_strings *l, char prefix,
                    uint32_t **out, uint32_t *n)
{
    char buf[300];
    if (l->n == 0)
        return TROVE_OK;
    if ((*out = trove_malloc(l->n * sizeof **out)) == NULL)
        return TROVE_ENOMEM;
    for (size_t k = 0; k < l->n; k++) {
        int len = snprintf(buf, sizeof buf, "%c:%s", prefix, l->v[k]);
        int rc = trove_idmap_intern(r->terms, buf, (size_t)len, &(*out)[k], NULL);
        if (rc != TROVE_OK)
            return rc;
    }
    *n = (uint32_t)l->n;
    return TROVE_OK;
}

/* value_of[i] = id of item i's first "field=..." feature, else NONE. */
static int compile_diversity(trove_rules *r, const trove_rules_catalog *cat,
                             const trove_rule_spec *s, trove__crule *c)
{
    trove_idmap *values = trove_idmap_new();
    size_t flen = strlen(s->field);
    int rc = TROVE_OK;
    if (values == NULL)
        return TROVE_ENOMEM;
    if ((c->value_of = trove_malloc((r->n_items ? r->n_items : 1) *
                                    sizeof *c->value_of)) == NULL) {
        rc = TROVE_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < r->n_items; i++) {
        const trove_rules_item *it = &cat->items[i];
        c->value_of[i] = TROVE__NONE;
        if (!trove__member(c, i))
            continue;
        for (size_t k = 0; k < it->n_features; k++) {
            const char *f = it->features[k];
            if (strncmp(f, s->field, flen) == 0 && f[flen] == '=') {
                if ((rc = trove_idmap_intern(values, f, strlen(f),
                                             &c->value_of[i], NULL)) != TROVE_OK)
                    goto done;
                break;
            }
        }
    }
    if (trove_idmap_size(values) == 0) {
        trove_log(TROVE_LOG_WARN, "%s:%d: rule '%s': no item has a '%s' "
                  "feature", r->src_path, s->line, s->name, s->field);
        r->n_warnings++;
    }
    c->count_off = (uint32_t)r->n_counts;
    r->n_counts += trove_idmap_size(values);
done:
    trove_idmap_free(values);
    return rc;
}

static int compile_rule(trove_rules *r, const trove_rules_catalog *cat,
                        const cindex *ix, const trove_rule_spec *s,
                        trove__crule *c, trove_error *err)
{
    int rc;
    c->kind = s->kind;
    c->max = (uint32_t)s->max;
    c->start_utc = INT64_MIN;
    c->end_utc = INT64_MAX;
    if ((c->name = trove_strdup(s->name)) == NULL ||
        (rc = compile_selector(r, ix, s, c)) != TROVE_OK)
        return nomem(err);
    switch (s->kind) {
    case TROVE_RULE_ELIGIBILITY:
        if (terms_of(r, &s->require_segments, 's', &c->req_seg, &c->n_req_seg) ||
            terms_of(r, &s->exclude_segments, 's', &c->exc_seg, &c->n_exc_seg) ||
            terms_of(r, &s->require_features, 'f', &c->req_feat, &c->n_req_feat) ||
            terms_of(r, &s->exclude_features, 'f', &c->exc_feat, &c->n_exc_feat))
            return nomem(err);
        break;
    case TROVE_RULE_SCHEDULE:
        if (s->start_local != 0)
            c->start_utc = trove__rules_tz_to_utc(&r->tz, s->start_local);
        if (s->end_local != 0)
            c->end_utc = trove__rules_tz_to_utc(&r->tz, s->end_local);
        break;
    case TROVE_RULE_BOOST:
        for (uint32_t k = 0; k < c->n_list; k++) {
            uint32_t i = c->list[k];
            r->factor[i] = (float)(r->factor[i] * s->factor);
            r->offset[i] = (float)(r->offset[i] * s->factor + s->offset);
            trove__bit_set(r->special, i);
        }
        break;
    case TROVE_RULE_BURY:
        for (uint32_t k = 0; k < c->n_list; k++) {
            r->buried[c->list[k]] = 1;
            trove__bit_set(r->special, c->list[k]);
        }
        break;
    case TROVE_RULE_EXCLUSIVE:
        c->count_off = (uint32_t)r->n_counts++;
        r->exclusive_rules[r->n_exclusive++] = (uint32_t)(c - r->rules);
        break;
    case TROVE_RULE_DIVERSITY:
        if (compile_diversity(r, cat, s, c) != TROVE_OK)
            return nomem(err);
        r->diversity_rules[r->n_diversity++] = (uint32_t)(c - r->rules);
        break;
    case TROVE_RULE_EXPLORE:
        c->slots = (uint32_t)s->slots;
        c->new_secs = (int64_t)s->new_days * 86400;
        r->max_slots += c->slots;
        break;
    case TROVE_RULE_BUNDLE:
        c->copurchase = s->copurchase;
        if (s->copurchase) {
            if (cat->copurchase_offsets == NULL || cat->copurchase_items == NULL)
                return trove_error_set(err, TROVE_EINVAL, "%s:%d: bundle rule "
                                       "'%s' uses co-purchase lists but the "
                                       "catalog has none", r->src_path, s->line,
                                       s->name);
            break;
        }
        if ((c->with = bits_new(r)) == NULL)
            return nomem(err);
        select_features(r, ix, s, "with", &s->with, c->with);
        if (bits_list(r, c->with, &c->with_list, &c->n_with) != TROVE_OK)
            return nomem(err);
        break;
    default:
        break;
    }
    return TROVE_OK;
}

static int compile_pins(trove_rules *r, const trove_rule_set *rs)
{
    size_t cap = 0;
    uint64_t *seen = bits_new(r);
    int rc = TROVE_OK;
    if (seen == NULL)
        return TROVE_ENOMEM;
    for (size_t i = 0; i < r->n_items; i++)
        cap += (r->flags[i] & TROVE__F_PINNED) != 0;
    for (size_t k = 0; k < rs->n_rules; k++)
        if (r->rules[k].kind == TROVE_RULE_PIN)
            cap += r->rules[k].n_list;
    r->pins = trove_malloc((cap ? cap : 1) * sizeof *r->pins);
    r->pin_rule = trove_malloc((cap ? cap : 1) * sizeof *r->pin_rule);
    if (r->pins == NULL || r->pin_rule == NULL) {
        rc = TROVE_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < r->n_items; i++)
        if (r->flags[i] & TROVE__F_PINNED) {
            trove__bit_set(seen, i);
            r->pin_rule[r->n_pins] = TROVE_RULE_CATALOG;
            r->pins[r->n_pins++] = (uint32_t)i;
        }
    for (size_t k = 0; k < rs->n_rules; k++) {
        const trove__crule *c = &r->rules[k];
        if (c->kind != TROVE_RULE_PIN)
            continue;
        for (uint32_t j = 0; j < c->n_list; j++)
            if (!trove__bit(seen, c->list[j])) {
                trove__bit_set(seen, c->list[j]);
                r->pin_rule[r->n_pins] = (uint16_t)k;
                r->pins[r->n_pins++] = c->list[j];
            }
    }
    for (size_t k = 0; k < r->n_pins; k++) {
        trove__bit_set(r->special, r->pins[k]);
        r->flags[r->pins[k]] |= TROVE__F_PIN_ANY;
    }
done:
    trove_free(seen);
    return rc;
}

static int cmp_created(const void *a, const void *b, void *arg)
{
    const int64_t *created = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (created[x] != created[y])
        return created[x] > created[y] ? -1 : 1;
    return (x > y) - (x < y);
}

static size_t align8(size_t x)
{
    return (x + 7) & ~(size_t)7;
}

static void layout_scratch(trove_rules *r)
{
    size_t off = 0, bw = r->n_words * 8, ni = r->n_items ? r->n_items : 1;
    size_t pick = r->max_slots > r->n_pins ? r->max_slots : r->n_pins;
    r->off_skip = off;    off += bw;
    r->off_chosen = off;  off += bw;
    r->off_seen = off;    off += bw;
    r->off_terms = off;   off += r->term_words * 8;
    r->off_pool = off;    off += (ni + 1) * sizeof(trove__cand);
    r->off_counts = off;  off += align8(r->n_counts * 4);
    r->off_pick = off;    off += (pick + 1) * sizeof(trove__cand);
    r->off_items = off;   off += align8(ni * 4);
    r->off_scores = off;  off += align8(ni * 4);
    r->off_sources = off; off += align8(ni);
    r->off_by = off;      off += align8(ni * 2);
    r->scratch_size = off;
}

int trove_rules_compile(const trove_rule_set *rs, const trove_rules_catalog *cat,
                        trove_rules **out, trove_error *err)
{
    trove_rules *r = NULL;
    cindex ix;
    const char *tzname;
    size_t ni;
    int rc = TROVE_OK;

    memset(&ix, 0, sizeof ix);
    if (rs == NULL || cat == NULL || out == NULL ||
        (cat->items == NULL && cat->n_items > 0))
        return trove_error_set(err, TROVE_EINVAL, "rules: NULL argument");
    if (cat->n_items >= ((size_t)1 << 31) || rs->n_rules >= TROVE_RULE_CATALOG)
        return trove_error_set(err, TROVE_EINVAL, "rules: too many items or "
                               "rules");
    if ((r = trove_calloc(1, sizeof *r)) == NULL)
        return nomem(err);
    r->n_items = cat->n_items;
    r->n_words = (cat->n_items + 63) / 64;
    r->frequency_window_days = rs->frequency_window_days;
    r->src_path = rs->path ? rs->path : "rules";
    ni = r->n_items ? r->n_items : 1;
    tzname = cat->timezone ? cat->timezone : rs->timezone ? rs->timezone : "UTC";
    if ((rc = trove__rules_tz_load(tzname, &r->tz, err)) != TROVE_OK)
        goto fail;
    r->flags = trove_calloc(ni, 1);
    r->buried = trove_calloc(ni, 1);
    r->start_ts = trove_malloc(ni * sizeof *r->start_ts);
    r->end_ts = trove_malloc(ni * sizeof *r->end_ts);
    r->created_ts = trove_malloc(ni * sizeof *r->created_ts);
    r->factor = trove_malloc(ni * sizeof *r->factor);
    r->offset = trove_calloc(ni, sizeof *r->offset);
    r->by_created = trove_malloc(ni * sizeof *r->by_created);
    r->dated = trove_malloc(ni * sizeof *r->dated);
    r->budgeted = trove_malloc(ni * sizeof *r->budgeted);
    r->base_skip = bits_new(r);
    r->special = bits_new(r);
    r->terms = trove_idmap_new();
    r->rules = trove_calloc(rs->n_rules ? rs->n_rules : 1, sizeof *r->rules);
    r->exclusive_rules = trove_malloc((rs->n_rules + 1) * sizeof(uint32_t));
    r->diversity_rules = trove_malloc((rs->n_rules + 1) * sizeof(uint32_t));
    if (!r->flags || !r->buried || !r->start_ts || !r->end_ts || !r->created_ts ||
        !r->factor || !r->offset || !r->by_created || !r->dated ||
        !r->budgeted || !r->base_skip || !r->special || !r->terms || !r->rules || !r->exclusive_rules ||
        !r->diversity_rules) {
        rc = nomem(err);
        goto fail;
    }
    for (size_t i = 0; i < r->n_items; i++) {
        const trove_rules_item *it = &cat->items[i];
        uint8_t f = 0;
        if (!it->active)
            f |= TROVE__F_INACTIVE;
        if (it->blocked)
            f |= TROVE__F_BLOCKED;
        if (it->pinned)
            f |= TROVE__F_PINNED;
        if (it->budgeted) {
            f |= TROVE__F_BUDGETED;
            r->budgeted[r->n_budgeted++] = (uint32_t)i;
        }
        if (it->start_ts != 0 || it->end_ts != 0) {
            f |= TROVE__F_DATED;
            r->dated[r->n_dated++] = (uint32_t)i;
        }
        if (f & (TROVE__F_INACTIVE | TROVE__F_BLOCKED))
            trove__bit_set(r->base_skip, i);
        r->flags[i] = f;
        r->start_ts[i] = it->start_ts;
        r->end_ts[i] = it->end_ts;
        r->created_ts[i] = it->created_ts;
        r->factor[i] = 1.0f;
        r->by_created[i] = (uint32_t)i;
    }
    if ((rc = cindex_build(cat, &ix, err)) != TROVE_OK)
        goto fail;
    for (size_t k = 0; k < rs->n_rules; k++) {
        r->n_rules = k + 1;
        if ((rc = compile_rule(r, cat, &ix, &rs->rules[k], &r->rules[k], err))
            != TROVE_OK)
            goto fail;
    }
    if (compile_pins(r, rs) != TROVE_OK) {
        rc = nomem(err);
        goto fail;
    }
    for (size_t i = 0; i < r->n_items; i++)
        if (trove__bit(r->special, i))
            r->n_special++;
    if ((r->special_list = trove_malloc((r->n_special ? r->n_special : 1) *
                                        sizeof *r->special_list)) == NULL) {
        rc = nomem(err);
        goto fail;
    }
    r->n_special = 0;
    for (size_t i = 0; i < r->n_items; i++)
        if (trove__bit(r->special, i) && !(r->flags[i] & TROVE__F_PIN_ANY))
            r->special_list[r->n_special++] = (uint32_t)i;
    qsort_r(r->by_created, r->n_items, sizeof *r->by_created, cmp_created,
            r->created_ts);
    if (cat->copurchase_offsets != NULL && cat->copurchase_items != NULL) {
        size_t n_co = cat->copurchase_offsets[r->n_items];
        if (cat->copurchase_offsets[0] != 0) {
            rc = trove_error_set(err, TROVE_EINVAL, "rules: co-purchase offsets "
                                 "must start at 0");
            goto fail;
        }
        for (size_t i = 0; i < r->n_items; i++)
            if (cat->copurchase_offsets[i + 1] < cat->copurchase_offsets[i]) {
                rc = trove_error_set(err, TROVE_EINVAL, "rules: co-purchase "
                                     "offsets decrease at item %zu", i);
                goto fail;
            }
        for (size_t k = 0; k < n_co; k++)
            if (cat->copurchase_items[k] >= r->n_items) {
                rc = trove_error_set(err, TROVE_EINVAL, "rules: co-purchase "
                                     "partner %zu is out of range", k);
                goto fail;
            }
        r->co_off = trove_malloc((r->n_items + 1) * sizeof *r->co_off);
        r->co_items = trove_malloc((n_co ? n_co : 1) * sizeof *r->co_items);
        if (r->co_off == NULL || r->co_items == NULL) {
            rc = nomem(err);
            goto fail;
        }
        memcpy(r->co_off, cat->copurchase_offsets,
               (r->n_items + 1) * sizeof *r->co_off);
        memcpy(r->co_items, cat->copurchase_items, n_co * sizeof *r->co_items);
    }
    r->term_words = (trove_idmap_size(r->terms) + 63) / 64;
    layout_scratch(r);
    cindex_free(&ix);
    r->src_path = NULL;
    *out = r;
    return TROVE_OK;
fail:
    cindex_free(&ix);
    trove_rules_free(r);
    return rc;
}

void trove_rules_free(trove_rules *r)
{
    if (r == NULL)
        return;
    for (size_t k = 0; k < r->n_rules; k++) {
        trove__crule *c = &r->rules[k];
        trove_free(c->name);
        trove_free(c->members);
        trove_free(c->list);
        trove_free(c->req_seg);
        trove_free(c->exc_seg);
        trove_free(c->req_feat);
        trove_free(c->exc_feat);
        trove_free(c->value_of);
        trove_free(c->with);
        trove_free(c->with_list);
    }
    trove_free(r->rules);
    trove_free(r->flags);
    trove_free(r->buried);
    trove_free(r->start_ts);
    trove_free(r->end_ts);
    trove_free(r->created_ts);
    trove_free(r->factor);
    trove_free(r->offset);
    trove_free(r->by_created);
    trove_free(r->dated);
    trove_free(r->budgeted);
    trove_free(r->base_skip);
    trove_free(r->special);
    trove_free(r->special_list);
    trove_free(r->pins);
    trove_free(r->pin_rule);
    trove_free(r->co_off);
    trove_free(r->co_items);
    trove_free(r->exclusive_rules);
    trove_free(r->diversity_rules);
    trove_idmap_free(r->terms);
    trove__rules_tz_free(&r->tz);
    trove_free(r);
}

void trove_rules_info_get(const trove_rules *r, trove_rules_info *out)
{
    memset(out, 0, sizeof *out);
    if (r == NULL)
        return;
    out->n_items = r->n_items;
    out->n_rules = r->n_rules;
    out->n_warnings = r->n_warnings;
    out->frequency_window_days = r->frequency_window_days;
    out->scratch_size = r->scratch_size;
}

const char *trove_rules_rule_name(const trove_rules *r, unsigned rule)
{
    if (rule == TROVE_RULE_CATALOG)
        return "catalog";
    if (r == NULL || rule >= r->n_rules)
        return NULL;
    return r->rules[rule].name;
}

int trove_rules_rule_kind(const trove_rules *r, unsigned rule)
{
    if (r == NULL || rule >= r->n_rules)
        return 0;
    return r->rules[rule].kind;
}

size_t trove_rules_scratch_size(const trove_rules *r)
{
    return r ? r->scratch_size : 0;
}

int32_t trove_rules_utc_offset(const trove_rules *r, int64_t t)
{
    return trove__rules_tz_offset(&r->tz, t);
}
