/*
 * dashboard_int.h - pieces shared by the files of the dashboard's JSON API
 * (dashboard_api.c: routing, session, markets, cycles and the per-server
 * caches; dashboard_items.c: the offers table and the CSV upload).
 *
 * The dashboard keeps two caches per running server, both rebuilt lazily by
 * the request that finds them stale:
 *   - the item cache: every item with its title, flags and features, in
 *     store id order, tagged with the catalog generation it was read at
 *     (s->generation, bumped by every trove__serve_rebuild);
 *   - the A/B counts of cycles (trove_store_ab_counts), see dashboard_api.c
 *     for when an entry is reused.
 * They live in the server (trove_server.dash, made at start, freed at
 * stop); a replaced item cache is freed with its last reference.
 *
 * Store reads go through a read-only handle of the server's store, opened
 * once per server (WAL: its readers neither wait for the server's writes
 * nor hold them up, so counting A/B figures for seconds never stalls event
 * intake or flag changes), used by one request at a time. Writes (the CSV
 * upload) use the server's own handle under s->admin_lock, as the other
 * admin endpoints do.
 *
 * Lock order: s->admin_lock or the read handle's lock, then the dashboard's
 * cache lock; never the other way round.
 */
#ifndef TROVE_SERVE_DASHBOARD_INT_H
#define TROVE_SERVE_DASHBOARD_INT_H

#include "serve_int.h"

/* ------------------------------------------------------- store reads */
typedef struct dash_reader dash_reader;

/* A store handle for reading, held between enter and leave. */
typedef struct dash_store {
    trove_store     *st;
    pthread_mutex_t *lock;
    dash_reader     *reader;  /* NULL: the server's handle (fallback) */
} dash_store;

/* Lock a store handle to read from: the server's read-only handle (opened
 * on first use), or, when it cannot be opened, s->store under
 * s->admin_lock. */
void trove__serve_dashboard_store_enter(trove_server *s, dash_store *d);
void trove__serve_dashboard_store_leave(dash_store *d);

/* ------------------------------------------------------------ items */
typedef struct dash_item {
    int64_t  store_id;
    size_t   ext_id;      /* offsets into dash_items.text */
    size_t   title;
    int      active, pinned, blocked;
    int64_t  start_ts, end_ts, created_ts;
    uint32_t feat_off;    /* into feat_name / feat_value */
    uint32_t n_feat;
} dash_item;

/* An immutable copy of the catalog as the store held it at `generation`.
 * Reference counted: requests hold it while they read. */
typedef struct dash_items {
    atomic_int   refs;
    uint64_t     generation;
    uint32_t     n;
    dash_item   *items;       /* store id order */
    char        *text;        /* NUL-terminated ids and titles */
    size_t       text_len, text_cap;
    trove_idmap *ids;         /* ext id -> index into items */
    trove_idmap *names;       /* item feature names */
    uint32_t    *feat_name;   /* index into names */
    double      *feat_value;
    size_t       n_feats, feat_cap;
} dash_items;

static inline const char *dash_item_id(const dash_items *c, const dash_item *it)
{
    return c->text + it->ext_id;
}

static inline const char *dash_item_title(const dash_items *c,
                                          const dash_item *it)
{
    return c->text + it->title;
}

/* The item cache of the current catalog generation (built if the cached
 * one is older), retained for the caller, who releases it. NULL with *err
 * set when reading the store fails. Enters the store when it builds. */
dash_items *trove__serve_dashboard_items(trove_server *s, trove_error *err);
void trove__serve_dashboard_items_release(dash_items *c);
/* The cached item cache of s (retained) or NULL; and the swap that installs
 * a newer one (the server keeps its own reference). */
dash_items *trove__serve_dashboard_slot_items(trove_server *s);
void trove__serve_dashboard_slot_set_items(trove_server *s, dash_items *c);

/* One item as the API shows it ({"id","title","active",...,"features"}). */
json_t *trove__serve_dashboard_item_json(const dash_items *c,
                                         const dash_item *it);

/* GET /v1/items and POST /v1/items (dashboard_items.c). */
int trove__serve_dashboard_items_list(trove_server *s, const serve_req *r,
                                      serve_resp *out);
int trove__serve_dashboard_items_upload(trove_server *s, const serve_req *r,
                                        serve_resp *out);

/* A JSON number, or null for NaN and infinities. */
json_t *trove__serve_dashboard_num(double v);
/* A Unix time as an integer, or null for 0 ("none"). */
json_t *trove__serve_dashboard_ts(int64_t ts);

#endif /* TROVE_SERVE_DASHBOARD_INT_H */
