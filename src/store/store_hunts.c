/*
 * store_hunts.c - the backend-neutral front end of the treasure-hunt calls
 * of trove/store.h: argument checks, then the backend through s->ops (as
 * store.c does for the other calls).
 *
 * Invariant: a backend is only called with valid arguments (non-NULL
 * strings, ids > 0, counts in range, writes on writable handles).
 */
#include "store/store_int.h"

#include <string.h>

static int bad(trove_store *s, trove_error *err, const char *what)
{
    return trove_error_set(err, TROVE_EINVAL, "%s: %s",
                           s != NULL ? s->name : "store", what);
}

static int writable(trove_store *s, const char *what, trove_error *err)
{
    if (s->flags & TROVE_STORE_READONLY)
        return trove_error_set(err, TROVE_EUNSUPPORTED, "%s: %s: the store is "
                               "open read-only", s->name, what);
    return TROVE_OK;
}

static int good_key(const char *key)
{
    return key != NULL && key[0] != '\0' && strlen(key) < 64;
}

int trove_store_hunt_add(trove_store *s, const trove_stored_hunt *h,
                         int *inserted, trove_error *err)
{
    int rc;
    if (s == NULL || h == NULL)
        return bad(s, err, "add hunt: no store or no hunt");
    if (!good_key(h->key) || h->user == NULL || h->user[0] == '\0' ||
        h->body == NULL || h->market_id <= 0 || h->steps < 1 ||
        h->steps_done < 0 || h->steps_done > h->steps ||
        h->expires_ts <= h->created_ts || h->created_ts < 0)
        return bad(s, err, "add hunt: bad key, user, market, steps, times or body");
    if ((rc = writable(s, "add hunt", err)) != TROVE_OK)
        return rc;
    return s->ops->hunt_add(s, h, inserted, err);
}

int trove_store_hunt_find(trove_store *s, const char *key,
                          trove_stored_hunt *out, trove_error *err)
{
    if (s == NULL || out == NULL || !good_key(key))
        return bad(s, err, "find hunt: no store, output or key");
    return s->ops->hunt_find(s, key, out, err);
}

int trove_store_hunt_update(trove_store *s, const char *key, int steps_done,
                            const char *reward, const char *body,
                            trove_error *err)
{
    int rc;
    if (s == NULL || !good_key(key) || reward == NULL || body == NULL ||
        steps_done < 0)
        return bad(s, err, "update hunt: no store, key, reward or body");
    if ((rc = writable(s, "update hunt", err)) != TROVE_OK)
        return rc;
    return s->ops->hunt_update(s, key, steps_done, reward, body, err);
}

int trove_store_user_events_foreach(trove_store *s, int64_t user_id,
                                    const trove_event_filter *filter,
                                    trove_event_fn fn, void *ud,
                                    trove_error *err)
{
    if (s == NULL || fn == NULL || user_id <= 0)
        return bad(s, err, "list user events: no store, callback or user");
    return s->ops->user_events_foreach(s, user_id, filter, fn, ud, err);
}
