/*
 * dataset_store.c - a training dataset read from the store.
 *
 * Built on the public store API only (store.h): the users and items are
 * walked once to map internal ids to their external ids (the raw ids of the
 * dataset), then the matching events are walked in (ts, id) order and every
 * positive becomes an interaction through a dataset builder, then features
 * are attached to the users and items of the dataset.
 *
 * Positives: events whose type is in the mask (default click, redemption,
 * purchase, rating); RETURN events never count; a rating below min_rating
 * is dropped. With `binary` every positive pair weighs 1 (duplicates: MAX);
 * otherwise the event values of a pair are summed (duplicates: SUM). A
 * pair's timestamp is its latest event's. Universe order: with all_items,
 * items in the store's item order first; otherwise users and items in
 * order of first positive event.
 */
#include "data/dataset_int.h"

#include <string.h>

trove_store_query trove_store_query_default(void)
{
    trove_store_query q;
    memset(&q, 0, sizeof q);
    q.type_mask = 0;
    q.min_rating = 0.0;
    q.binary = 1;
    q.user_features = 1;
    q.item_features = 1;
    q.all_items = 1;
    return q;
}

/* internal store id -> external id: `bin` interns the 8 bytes of the id,
 * `ext` the external id at the same index */
typedef struct ext_map {
    trove_idmap *bin, *ext;
} ext_map;

typedef struct load_ctx {
    trove_dataset_builder *b;
    const trove_store_query *q;
    unsigned mask;
    ext_map users, items;
    int target;          /* features walk: TROVE_FEATURE_USER / _ITEM */
    trove_error err;     /* message of a failure inside a callback */
} load_ctx;

static int ext_map_add(ext_map *m, int64_t id, const char *ext_id)
{
    uint32_t a, b;
    int added = 0;
    if (trove_idmap_intern(m->bin, (const char *)&id, sizeof id, &a, &added) != TROVE_OK)
        return TROVE_ENOMEM;
    if (!added)
        return TROVE_OK;
    if (trove_idmap_intern(m->ext, ext_id, strlen(ext_id), &b, NULL) != TROVE_OK)
        return TROVE_ENOMEM;
    return a == b ? TROVE_OK : TROVE_ECORRUPT;
}

static const char *ext_map_find(const ext_map *m, int64_t id, size_t *len)
{
    int64_t k = trove_idmap_find(m->bin, (const char *)&id, sizeof id);
    if (k < 0)
        return NULL;
    return trove_idmap_name(m->ext, (uint32_t)k, len);
}

static int on_user(void *ud, const trove_user *u)
{
    load_ctx *c = ud;
    int rc = ext_map_add(&c->users, u->id, u->ext_id);
    if (rc != TROVE_OK)
        return trove_error_set(&c->err, rc, rc == TROVE_ENOMEM ? "out of memory"
                               : "user external id '%s' appears twice", u->ext_id);
    return 0;
}

static int on_item(void *ud, const trove_item *it)
{
    load_ctx *c = ud;
    int rc = ext_map_add(&c->items, it->id, it->ext_id);
    if (rc != TROVE_OK)
        return trove_error_set(&c->err, rc, rc == TROVE_ENOMEM ? "out of memory"
                               : "item external id '%s' appears twice", it->ext_id);
    if (c->q->all_items)
        return trove_dataset_builder_add_item_id(c->b, it->ext_id,
                                                 strlen(it->ext_id), &c->err);
    return 0;
}

static int on_event(void *ud, const trove_event *ev)
{
    load_ctx *c = ud;
    const char *u, *i;
    size_t ul, il;
    double w;

    if (ev->type < 1 || ev->type > TROVE_EVENT_TYPE_MAX ||
        ev->type == TROVE_EVENT_RETURN || !(c->mask & TROVE_EVENT_MASK(ev->type)))
        return 0;
    if (ev->type == TROVE_EVENT_RATING && ev->value < c->q->min_rating)
        return 0;
    u = ext_map_find(&c->users, ev->user_id, &ul);
    i = ext_map_find(&c->items, ev->item_id, &il);
    if (u == NULL || i == NULL)
        return trove_error_set(&c->err, TROVE_ECORRUPT, "event %llu refers to an "
                               "unknown %s (id %lld)", (unsigned long long)ev->id,
                               u == NULL ? "user" : "item",
                               (long long)(u == NULL ? ev->user_id : ev->item_id));
    w = c->q->binary ? 1.0 : ev->value;
    return trove_dataset_builder_add(c->b, u, ul, i, il, (float)w, ev->ts, &c->err);
}

static int on_feature(void *ud, const trove_feature_value *fv)
{
    load_ctx *c = ud;
    int user = c->target == TROVE_FEATURE_USER;
    const trove_idmap *universe = user ? c->b->users : c->b->items;
    size_t len;
    const char *id = ext_map_find(user ? &c->users : &c->items, fv->entity_id, &len);

    /* features of entities outside the dataset (other markets, no
     * positives) are not wanted: they would add cold rows */
    if (id == NULL || trove_idmap_find(universe, id, len) < 0)
        return 0;
    if (user)
        return trove_dataset_builder_add_user_feature(c->b, id, len, fv->name,
                                                      strlen(fv->name),
                                                      (float)fv->value, &c->err);
    return trove_dataset_builder_add_item_feature(c->b, id, len, fv->name,
                                                  strlen(fv->name),
                                                  (float)fv->value, &c->err);
}

/* After a walk: a callback failure (recorded in c->err) wins over the
 * store's own message. */
static int walk_result(load_ctx *c, int rc, trove_error *err, const char *what)
{
    if (rc == TROVE_OK)
        return TROVE_OK;
    if (c->err.code != TROVE_OK) {
        rc = trove_error_set(err, c->err.code, "%s", c->err.msg);
    } else if (rc > 0) {
        rc = trove_error_set(err, TROVE_ESTORE, "store walk stopped (%d)", rc);
    }
    trove_error_prefix(err, "dataset from store: %s", what);
    return rc;
}

int trove_dataset_from_store(trove_store *s, const trove_store_query *q,
                             trove_dataset **out, trove_error *err)
{
    trove_store_query dq = trove_store_query_default();
    trove_dataset_build_params bp = trove_dataset_build_default_params();
    trove_event_filter filter;
    load_ctx c;
    int rc;

    if (q == NULL)
        q = &dq;
    memset(&c, 0, sizeof c);
    trove_error_clear(&c.err);
    c.q = q;
    c.mask = q->type_mask ? q->type_mask
                          : TROVE_EVENT_MASK(TROVE_EVENT_CLICK) |
                            TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) |
                            TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) |
                            TROVE_EVENT_MASK(TROVE_EVENT_RATING);
    c.mask &= ~TROVE_EVENT_MASK(TROVE_EVENT_RETURN);
    c.b = trove_dataset_builder_new();
    c.users.bin = trove_idmap_new();
    c.users.ext = trove_idmap_new();
    c.items.bin = trove_idmap_new();
    c.items.ext = trove_idmap_new();
    if (c.b == NULL || c.users.bin == NULL || c.users.ext == NULL ||
        c.items.bin == NULL || c.items.ext == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "dataset from store: out of memory");
        goto done;
    }
    rc = trove_store_users_foreach(s, on_user, &c, err);
    if ((rc = walk_result(&c, rc, err, "users")) != TROVE_OK)
        goto done;
    rc = trove_store_items_foreach(s, on_item, &c, err);
    if ((rc = walk_result(&c, rc, err, "items")) != TROVE_OK)
        goto done;

    memset(&filter, 0, sizeof filter);
    filter.market_id = q->market_id;
    filter.ts_from = q->ts_from;
    filter.ts_to = q->ts_to;
    filter.type_mask = c.mask;
    rc = trove_store_events_foreach(s, &filter, on_event, &c, err);
    if ((rc = walk_result(&c, rc, err, "events")) != TROVE_OK)
        goto done;

    if (q->user_features) {
        c.target = TROVE_FEATURE_USER;
        rc = trove_store_features_foreach(s, TROVE_FEATURE_USER, on_feature, &c, err);
        if ((rc = walk_result(&c, rc, err, "user features")) != TROVE_OK)
            goto done;
    }
    if (q->item_features) {
        c.target = TROVE_FEATURE_ITEM;
        rc = trove_store_features_foreach(s, TROVE_FEATURE_ITEM, on_feature, &c, err);
        if ((rc = walk_result(&c, rc, err, "item features")) != TROVE_OK)
            goto done;
    }
    bp.dup_policy = q->binary ? TROVE_DUP_MAX : TROVE_DUP_SUM;
    rc = trove_dataset_builder_build(c.b, &bp, out, err);
done:
    trove_dataset_builder_free(c.b);
    trove_idmap_free(c.users.bin);
    trove_idmap_free(c.users.ext);
    trove_idmap_free(c.items.bin);
    trove_idmap_free(c.items.ext);
    return rc;
}
