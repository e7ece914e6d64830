/*
 * store_side.c - hunts kept in a store: the catalog's hunt attributes read
 * from the store's items and features, a user's history, and "today's
 * hunt" (find the stored hunt or generate and store it, then replay the
 * user's events over it).
 *
 * Invariants:
 *   - catalog items are in store id order (ids ascending), so an item id
 *     maps to its index by binary search; category values are interned in
 *     one map, their names borrowed from it;
 *   - a hunt is stored before it is returned, and a stored hunt is never
 *     generated again: the first writer of a hunt id wins, and a repeat
 *     returns what was stored even when the model or the catalog changed;
 *   - progress only moves forward: a refresh stores the hunt only when
 *     trove_hunt_advance changed it.
 */
#include "trove/hunt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct trove_hunt_store_catalog {
    trove_hunt_catalog view;
    trove_hunt_item   *items;
    int64_t           *ids;         /* store id per index, ascending */
    char             **ext_ids;     /* owned copies */
    size_t             n, cap;
    trove_idmap       *cats;        /* category values */
    const char       **cat_names;   /* borrowed from cats */
    char              *category_field;
    char              *price_field;
    size_t             field_len;   /* strlen(category_field) */
};

typedef struct load_ctx {
    trove_hunt_store_catalog *c;
    int failed;
} load_ctx;

static int add_item(void *ud, const trove_item *it)
{
    trove_hunt_store_catalog *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        trove_hunt_item *items = trove_realloc(c->items, cap * sizeof *items);
        if (items == NULL)
            return TROVE_ENOMEM;
        c->items = items;
        int64_t *ids = trove_realloc(c->ids, cap * sizeof *ids);
        if (ids == NULL)
            return TROVE_ENOMEM;
        c->ids = ids;
        char **ext = trove_realloc(c->ext_ids, cap * sizeof *ext);
        if (ext == NULL)
            return TROVE_ENOMEM;
        c->ext_ids = ext;
        c->cap = cap;
    }
    if ((c->ext_ids[c->n] = trove_strdup(it->ext_id)) == NULL)
        return TROVE_ENOMEM;
    c->ids[c->n] = it->id;
    c->items[c->n] = (trove_hunt_item){ NULL, TROVE_HUNT_NONE, NAN, it->active,
                                        it->blocked, it->start_ts, it->end_ts };
    c->n++;
    return 0;
}

int64_t trove_hunt_store_catalog_index(const trove_hunt_store_catalog *c,
                                       int64_t item_id)
{
    size_t lo = 0, hi;
    if (c == NULL)
        return -1;
    hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->ids[mid] < item_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->ids[lo] == item_id ? (int64_t)lo : -1;
}

static int add_feature(void *ud, const trove_feature_value *fv)
{
    trove_hunt_store_catalog *c = ud;
    int64_t i = trove_hunt_store_catalog_index(c, fv->entity_id);
    if (i < 0)
        return 0;
    if (fv->kind == TROVE_FEATURE_CATEGORICAL &&
        strncmp(fv->name, c->category_field, c->field_len) == 0 &&
        fv->name[c->field_len] == '=' && fv->name[c->field_len + 1] != '\0') {
        const char *value = fv->name + c->field_len + 1;
        uint32_t k;
        int rc = trove_idmap_intern(c->cats, value, strlen(value), &k, NULL);
        if (rc != TROVE_OK)
            return rc;
        /* the first value in feature order wins for a multi-valued field */
        if (c->items[i].category == TROVE_HUNT_NONE)
            c->items[i].category = k;
    } else if (fv->kind == TROVE_FEATURE_NUMERIC && c->price_field != NULL &&
               strcmp(fv->name, c->price_field) == 0) {
        c->items[i].price = fv->value;
    }
    return 0;
}

int trove_hunt_store_catalog_load(trove_store *s, const char *category_field,
                                  const char *price_field,
                                  trove_hunt_store_catalog **out,
                                  trove_error *err)
{
    trove_hunt_store_catalog *c;
    int rc = TROVE_ENOMEM;
    if (s == NULL || out == NULL || category_field == NULL ||
        category_field[0] == '\0')
        return trove_error_set(err, TROVE_EINVAL, "hunt catalog: no store, "
                               "output or category field");
    if ((c = trove_calloc(1, sizeof *c)) == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "hunt catalog: out of memory");
    c->cats = trove_idmap_new();
    c->category_field = trove_strdup(category_field);
    c->price_field = price_field ? trove_strdup(price_field) : NULL;
    if (c->cats == NULL || c->category_field == NULL ||
        (price_field != NULL && c->price_field == NULL))
        goto fail;
    c->field_len = strlen(category_field);
    if ((rc = trove_store_items_foreach(s, add_item, c, err)) != TROVE_OK)
        goto fail;
    /* foreach lists items in id order; keep the invariant even if not */
    for (size_t i = 1; i < c->n; i++)
        if (c->ids[i] <= c->ids[i - 1]) {
            rc = trove_error_set(err, TROVE_ECORRUPT, "hunt catalog: items are "
                                 "not in id order");
            goto fail;
        }
    for (size_t i = 0; i < c->n; i++)
        c->items[i].ext_id = c->ext_ids[i];
    if ((rc = trove_store_features_foreach(s, TROVE_FEATURE_ITEM, add_feature, c,
                                           err)) != TROVE_OK)
        goto fail;
    uint32_t nc = trove_idmap_size(c->cats);
    c->cat_names = trove_malloc((nc ? nc : 1) * sizeof *c->cat_names);
    if (c->cat_names == NULL) {
        rc = TROVE_ENOMEM;
        goto fail;
    }
    for (uint32_t k = 0; k < nc; k++)
        c->cat_names[k] = trove_idmap_name(c->cats, k, NULL);
    c->view.items = c->items;
    c->view.n_items = c->n;
    c->view.categories = c->cat_names;
    c->view.n_categories = nc;
    *out = c;
    return TROVE_OK;
fail:
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, TROVE_ENOMEM, "hunt catalog: out of memory");
    trove_hunt_store_catalog_free(c);
    return rc;
}

void trove_hunt_store_catalog_free(trove_hunt_store_catalog *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        trove_free(c->ext_ids[i]);
    trove_free(c->ext_ids);
    trove_free(c->items);
    trove_free(c->ids);
    trove_free(c->cat_names);
    trove_idmap_free(c->cats);
    trove_free(c->category_field);
    trove_free(c->price_field);
    trove_free(c);
}

const trove_hunt_catalog *trove_hunt_store_catalog_view(
    const trove_hunt_store_catalog *c)
{
    return c ? &c->view : NULL;
}

int64_t trove_hunt_store_catalog_item_id(const trove_hunt_store_catalog *c,
                                         uint32_t i)
{
    return c != NULL && i < c->n ? c->ids[i] : 0;
}

const char *trove_hunt_store_catalog_category_field(
    const trove_hunt_store_catalog *c)
{
    return c ? c->category_field : NULL;
}

const char *trove_hunt_store_catalog_price_field(
    const trove_hunt_store_catalog *c)
{
    return c ? c->price_field : NULL;
}

/* ------------------------------------------------------------- history */
typedef struct hist_ctx {
    const trove_hunt_store_catalog *c;
    uint32_t *items;
    size_t n, cap;
} hist_ctx;

static int add_history(void *ud, const trove_event *ev)
{
    hist_ctx *h = ud;
    int64_t i = trove_hunt_store_catalog_index(h->c, ev->item_id);
    if (i < 0)
        return 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        uint32_t *p = trove_realloc(h->items, cap * sizeof *p);
        if (p == NULL)
            return TROVE_ENOMEM;
        h->items = p;
        h->cap = cap;
    }
    h->items[h->n++] = (uint32_t)i;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int trove_hunt_store_history(trove_store *s, const trove_hunt_store_catalog *c,
                             const char *user, int64_t from, int64_t to,
                             uint32_t **items, size_t *n, trove_error *err)
{
    hist_ctx h = { c, NULL, 0, 0 };
    int64_t uid;
    int rc;
    if (s == NULL || c == NULL || user == NULL || items == NULL || n == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt history: missing argument");
    rc = trove_store_user_find(s, user, &uid, err);
    if (rc == TROVE_ENOTFOUND) {
        trove_error_clear(err);
        *items = NULL;
        *n = 0;
        return TROVE_OK;
    }
    if (rc != TROVE_OK)
        return rc;
    trove_event_filter f = { 0, from, to,
                             TROVE_EVENT_MASK(TROVE_EVENT_CLICK) |
                             TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) |
                             TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) |
                             TROVE_EVENT_MASK(TROVE_EVENT_RATING) };
    rc = trove_store_user_events_foreach(s, uid, &f, add_history, &h, err);
    if (rc != TROVE_OK) {
        if (rc == TROVE_ENOMEM)
            trove_error_set(err, rc, "hunt history: out of memory");
        trove_free(h.items);
        return rc;
    }
    if (h.n > 1) {
        size_t w = 1;
        qsort(h.items, h.n, sizeof *h.items, cmp_u32);
        for (size_t r = 1; r < h.n; r++)
            if (h.items[r] != h.items[w - 1])
                h.items[w++] = h.items[r];
        h.n = w;
    }
    if (h.n == 0) {
        trove_free(h.items);
        h.items = NULL;
    }
    *items = h.items;
    *n = h.n;
    return TROVE_OK;
}

/* -------------------------------------------------------------- stored */
int trove_hunt_store_find(trove_store *s, const char *id, trove_hunt *out,
                          trove_error *err)
{
    trove_stored_hunt row;
    int rc;
    if (s == NULL || id == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt: missing argument");
    if ((rc = trove_store_hunt_find(s, id, &row, err)) != TROVE_OK)
        return rc;
    return trove_hunt_decode(row.body, out, err);
}

static int save(trove_store *s, const trove_hunt *h, int64_t market_id,
                int *inserted, trove_error *err)
{
    char *body = NULL;
    int rc = trove_hunt_encode(h, &body, NULL);
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "hunt %s: cannot encode: %s", h->id,
                               trove_strerror(rc));
    if (market_id > 0) {
        trove_stored_hunt row = { 0, h->id, market_id, h->user, h->day,
                                  h->created_ts, h->expires_ts, (int)h->n_steps,
                                  (int)h->n_done, h->reward_id, body };
        rc = trove_store_hunt_add(s, &row, inserted, err);
    } else {
        rc = trove_store_hunt_update(s, h->id, (int)h->n_done, h->reward_id,
                                     body, err);
    }
    trove_free(body);
    return rc;
}

typedef struct ev_ctx {
    const trove_hunt_store_catalog *c;
    trove_hunt_event *ev;
    size_t n, cap;
} ev_ctx;

static int add_event(void *ud, const trove_event *e)
{
    ev_ctx *x = ud;
    int64_t i = trove_hunt_store_catalog_index(x->c, e->item_id);
    if (i < 0)
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 64;
        trove_hunt_event *p = trove_realloc(x->ev, cap * sizeof *p);
        if (p == NULL)
            return TROVE_ENOMEM;
        x->ev = p;
        x->cap = cap;
    }
    const trove_hunt_item *it = &x->c->items[i];
    x->ev[x->n++] = (trove_hunt_event){ e->type, e->ts, it->ext_id,
                                        it->category != TROVE_HUNT_NONE
                                            ? x->c->cat_names[it->category]
                                            : NULL };
    return 0;
}

int trove_hunt_store_refresh(trove_store *s, const trove_hunt_template *t,
                             const trove_hunt_clock *clock,
                             const trove_hunt_store_catalog *c, int64_t now,
                             trove_hunt *h, trove_error *err)
{
    ev_ctx x = { c, NULL, 0, 0 };
    int64_t uid;
    int rc, changed = 0;
    if (s == NULL || t == NULL || c == NULL || h == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt: missing argument");
    if (h->n_done == h->n_steps && h->reward_state != TROVE_HUNT_REWARD_LOCKED)
        return TROVE_OK;   /* finished: nothing can change */
    rc = trove_store_user_find(s, h->user, &uid, err);
    if (rc == TROVE_ENOTFOUND) {
        trove_error_clear(err);
        return TROVE_OK;   /* no events without a user row */
    }
    if (rc != TROVE_OK)
        return rc;
    int64_t to = now + 1 < h->expires_ts ? now + 1 : h->expires_ts;
    if (to <= h->created_ts)
        return TROVE_OK;
    trove_event_filter f = { 0, h->created_ts, to, 0 };
    if ((rc = trove_store_user_events_foreach(s, uid, &f, add_event, &x, err))
        != TROVE_OK) {
        if (rc == TROVE_ENOMEM)
            trove_error_set(err, rc, "hunt %s: out of memory", h->id);
        goto done;
    }
    if ((rc = trove_hunt_advance(h, t, clock, x.ev, x.n, &changed)) != TROVE_OK) {
        trove_error_set(err, rc, "hunt %s: cannot advance", h->id);
        goto done;
    }
    if (changed)
        rc = save(s, h, 0, NULL, err);
done:
    trove_free(x.ev);
    return rc;
}

int trove_hunt_store_obtain(trove_store *s, int64_t market_id,
                            const trove_hunt_template *t,
                            const trove_hunt_clock *clock,
                            const trove_hunt_store_catalog *c,
                            const trove_hunt_request *req, trove_hunt *out,
                            int *created, trove_error *err)
{
    trove_hunt h;
    char id[17];
    uint32_t *hist = NULL;
    int rc, inserted = 0;
    if (s == NULL || market_id <= 0 || t == NULL || c == NULL || req == NULL ||
        req->user == NULL || req->market == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt: missing argument");
    /* a hunt of an earlier day still valid now (validity_days > 1) is the
     * user's current hunt */
    rc = TROVE_ENOTFOUND;
    for (int k = t->validity_days - 1; k > 0 && rc == TROVE_ENOTFOUND; k--) {
        trove_hunt_id(req->user, req->market, req->day - k, id);
        rc = trove_hunt_store_find(s, id, &h, err);
        if (rc == TROVE_OK && h.expires_ts <= req->now)
            rc = TROVE_ENOTFOUND;
    }
    if (rc == TROVE_ENOTFOUND) {
        trove_error_clear(err);
        trove_hunt_id(req->user, req->market, req->day, id);
        rc = trove_hunt_store_find(s, id, &h, err);
    }
    if (rc == TROVE_ENOTFOUND) {
        trove_hunt_request r = *req;
        trove_error_clear(err);
        if (r.history == NULL) {
            size_t n = 0;
            rc = trove_hunt_store_history(s, c, req->user,
                                          req->now - (int64_t)t->history_days * 86400,
                                          req->now + 1, &hist, &n, err);
            if (rc != TROVE_OK)
                goto done;
            r.history = hist;
            r.n_history = n;
        }
        if ((rc = trove_hunt_generate(t, &c->view, &r, &h, err)) != TROVE_OK ||
            (rc = save(s, &h, market_id, &inserted, err)) != TROVE_OK)
            goto done;
        if (!inserted && (rc = trove_hunt_store_find(s, id, &h, err)) != TROVE_OK)
            goto done;
    } else if (rc != TROVE_OK) {
        goto done;
    }
    if ((rc = trove_hunt_store_refresh(s, t, clock, c, req->now, &h, err))
        != TROVE_OK)
        goto done;
    *out = h;
    if (created)
        *created = inserted;
done:
    trove_free(hist);
    return rc;
}
