/*
 * sink_store.c - the store destination of an ingest session.
 *
 * The whole session runs inside one store transaction: begun when the
 * session is created, committed by trove_ingest_finish(), rolled back when
 * the session is freed unfinished. So a failure or a crash mid-way leaves
 * the store as it was.
 *
 * Session indices map to internal store ids through plain arrays (users,
 * items, markets) and feature names through id maps, so each event costs
 * one store call (trove_store_event_add) and no lookups.
 */
#include "ingest/ingest_int.h"

#include <string.h>

typedef struct i64vec {
    int64_t *v;
    size_t cap;
} i64vec;

typedef struct store_sink {
    trove_store *s;
    int in_txn;
    i64vec users, items, markets, ufeat_ids, ifeat_ids;
    trove_idmap *ufeat, *ifeat;
} store_sink;

static int vec_put(i64vec *a, uint32_t i, int64_t id, trove_error *err)
{
    if (i >= a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        int64_t *v;
        while (cap <= i)
            cap *= 2;
        v = trove_realloc(a->v, cap * sizeof *v);
        if (v == NULL)
            return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
        a->v = v;
        a->cap = cap;
    }
    a->v[i] = id;
    return TROVE_OK;
}

static int s_market(void *ud, uint32_t index, const char *code, int *created,
                    trove_error *err)
{
    store_sink *k = ud;
    int64_t id;
    int rc = trove_store_market_upsert(k->s, code, NULL, NULL, &id, created, err);
    return rc == TROVE_OK ? vec_put(&k->markets, index, id, err) : rc;
}

static int s_user(void *ud, uint32_t index, const char *ext_id, uint32_t market,
                  int *created, trove_error *err)
{
    store_sink *k = ud;
    int64_t id, mid = market == TROVE_INGEST_NO_MARKET ? 0 : k->markets.v[market];
    int rc = trove_store_user_upsert(k->s, ext_id, mid, &id, created, err);
    return rc == TROVE_OK ? vec_put(&k->users, index, id, err) : rc;
}

static int s_item(void *ud, uint32_t index, const char *ext_id, const char *title,
                  int *created, trove_error *err)
{
    store_sink *k = ud;
    int64_t id;
    int rc = trove_store_item_upsert(k->s, ext_id, title, &id, created, err);
    return rc == TROVE_OK ? vec_put(&k->items, index, id, err) : rc;
}

static int s_item_flags(void *ud, uint32_t index, const trove_item *flags, unsigned mask,
                        trove_error *err)
{
    store_sink *k = ud;
    return trove_store_item_set_flags(k->s, k->items.v[index], flags, mask, err);
}

static int s_feature(void *ud, int target, uint32_t index, const char *ext_id,
                     const char *name, int kind, double value, trove_error *err)
{
    store_sink *k = ud;
    trove_idmap *names = target == TROVE_FEATURE_USER ? k->ufeat : k->ifeat;
    i64vec *ids = target == TROVE_FEATURE_USER ? &k->ufeat_ids : &k->ifeat_ids;
    size_t len = strlen(name);
    int64_t found = trove_idmap_find(names, name, len), fid;
    int rc;
    (void)ext_id;

    if (found >= 0) {
        fid = ids->v[found];
    } else {
        uint32_t fi;
        rc = trove_store_feature_upsert(k->s, target, name, kind, &fid, err);
        if (rc != TROVE_OK)
            return rc;
        rc = trove_idmap_intern(names, name, len, &fi, NULL);
        if (rc != TROVE_OK)
            return trove_error_set(err, rc, "ingest: %s", trove_strerror(rc));
        rc = vec_put(ids, fi, fid, err);
        if (rc != TROVE_OK)
            return rc;
    }
    if (target == TROVE_FEATURE_USER)
        return trove_store_user_feature_set(k->s, k->users.v[index], fid, value, err);
    return trove_store_item_feature_set(k->s, k->items.v[index], fid, value, err);
}

static int s_event(void *ud, const trove_ingest_event *ev, int *inserted, trove_error *err)
{
    store_sink *k = ud;
    trove_event e;
    e.id = ev->id;
    e.user_id = k->users.v[ev->user];
    e.item_id = k->items.v[ev->item];
    e.type = ev->type;
    e.value = ev->value;
    e.ts = ev->ts;
    e.market_id = ev->market == TROVE_INGEST_NO_MARKET ? 0 : k->markets.v[ev->market];
    return trove_store_event_add(k->s, &e, inserted, err);
}

static int s_commit(void *ud, trove_error *err)
{
    store_sink *k = ud;
    int rc = TROVE_OK;
    if (k->in_txn) {
        rc = trove_store_commit(k->s, err);
        if (rc == TROVE_OK)
            k->in_txn = 0;
    }
    return rc;
}

static void s_close(void *ud)
{
    store_sink *k = ud;
    if (k == NULL)
        return;
    if (k->in_txn)
        trove_store_rollback(k->s, NULL);
    trove_free(k->users.v);
    trove_free(k->items.v);
    trove_free(k->markets.v);
    trove_free(k->ufeat_ids.v);
    trove_free(k->ifeat_ids.v);
    trove_idmap_free(k->ufeat);
    trove_idmap_free(k->ifeat);
    trove_free(k);
}

int trove_ingest_new_store(trove_store *store, const trove_ingest_options *opts,
                           trove_ingest **out, trove_error *err)
{
    store_sink *k;
    trove_ingest_sink sink;
    int rc;

    k = trove_calloc(1, sizeof *k);
    if (k == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    k->s = store;
    k->ufeat = trove_idmap_new();
    k->ifeat = trove_idmap_new();
    if (k->ufeat == NULL || k->ifeat == NULL) {
        s_close(k);
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    }
    rc = trove_store_begin(store, err);
    if (rc != TROVE_OK) {
        s_close(k);
        return rc;
    }
    k->in_txn = 1;
    memset(&sink, 0, sizeof sink);
    sink.ud = k;
    sink.market = s_market;
    sink.user = s_user;
    sink.item = s_item;
    sink.item_flags = s_item_flags;
    sink.feature = s_feature;
    sink.event = s_event;
    sink.commit = s_commit;
    sink.close = s_close;
    return trove_ingest_new(&sink, opts, out, err);
}
