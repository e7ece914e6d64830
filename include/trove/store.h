/*
 * trove/store.h - the feature store and event log.
 *
 * One store holds markets; users and items (offers, products, movies) with
 * categorical and numeric features; item flags (active, pinned, blocked,
 * start and end time); events (impression, click, redemption, purchase,
 * rating, return); model versions and assignment cycles.
 *
 * The API is backend-neutral: no type or constant of the underlying database
 * appears here. The embedded default is one SQLite file in WAL mode, opened
 * with a plain path or "sqlite:PATH". Other URI schemes (e.g. "postgres://")
 * are answered with TROVE_EUNSUPPORTED until a backend exists for them.
 *
 * Identifiers. Users, items, markets and features have an external string id
 * (the id of the source system, e.g. "17850" or "85123A") and an internal
 * 64-bit id assigned by the store (> 0). Events have a 64-bit id: either
 * given by the source (hashed with trove_hash64) or derived from the event's
 * fields, which is what makes re-ingesting a file idempotent.
 *
 * Features are LightFM-style: a feature is a name plus a weight. Categorical
 * values become one feature per value, named "field=value" with weight 1
 * (e.g. "genre=Comedy", "occupation=writer"); numeric values become the
 * feature "field" with the number as its weight (e.g. "age" 31).
 *
 * Transactions. Every write function can be called inside an explicit
 * trove_store_begin()/commit() pair (fast bulk loads, all-or-nothing) or
 * outside one (each call is then its own transaction).
 *
 * Errors common to every function below (besides those listed with it):
 *   TROVE_EINVAL        a NULL or empty required argument, an id <= 0, a type,
 *                       kind or flag outside its enum, a non-finite value;
 *   TROVE_EUNSUPPORTED  a write on a handle opened TROVE_STORE_READONLY;
 *   TROVE_EBUSY         another handle kept the store locked for longer than
 *                       the busy timeout (5 s);
 *   TROVE_ENOMEM        out of memory;
 *   TROVE_ESTORE        any other failure of the database; the message names
 *                       the store, the operation and the database's own
 *                       message. Inside an explicit transaction, a failure
 *                       the database answers with a rollback of its own (a
 *                       full disk, an I/O error) makes every later write and
 *                       the commit fail with TROVE_ESTORE until
 *                       trove_store_rollback().
 * A failed call outside an explicit transaction changes nothing.
 *
 * Thread safety: a trove_store handle must be used by one thread at a time.
 * Several handles (threads or processes) may open the same store; WAL lets
 * readers proceed while one writer writes.
 */
#ifndef TROVE_STORE_H
#define TROVE_STORE_H

#include "trove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trove_store trove_store;

/* ---------------------------------------------------------------- events */
enum trove_event_type {
    TROVE_EVENT_IMPRESSION = 1,
    TROVE_EVENT_CLICK      = 2,
    TROVE_EVENT_REDEMPTION = 3,
    TROVE_EVENT_PURCHASE   = 4,
    TROVE_EVENT_RATING     = 5,
    TROVE_EVENT_RETURN     = 6   /* a cancelled purchase; never a positive */
};
#define TROVE_EVENT_TYPE_MAX 6
#define TROVE_EVENT_MASK(type) (1u << (type))

/* "impression", "click", ...; "unknown" outside the enum. */
const char *trove_event_type_name(int type);
/* Parse a lower-case name; returns TROVE_OK or TROVE_EINVAL. */
int trove_event_type_parse(const char *name, int *type);

typedef struct trove_event {
    uint64_t id;          /* event id, unique in the store */
    int64_t  user_id;     /* internal user id */
    int64_t  item_id;     /* internal item id */
    int      type;        /* enum trove_event_type */
    double   value;       /* rating, quantity, revenue...; 1 if meaningless */
    int64_t  ts;          /* seconds since the Unix epoch, UTC */
    int64_t  market_id;   /* internal market id, 0 if none */
} trove_event;

/* ------------------------------------------------------------ open/close */
enum trove_store_flags {
    TROVE_STORE_READONLY = 1 << 0,  /* fail on any write */
    TROVE_STORE_CREATE   = 1 << 1,  /* create the store if it does not exist */
    TROVE_STORE_FAST     = 1 << 2   /* bulk-load mode: fewer fsyncs (a crash
                                       may lose the last transactions but never
                                       corrupts the store) */
};

/* Open (and with TROVE_STORE_CREATE, create) the store at `uri`, applying
 * schema migrations up to trove_store_schema_latest(), each in its own
 * transaction. On success *out receives a handle the caller frees with
 * trove_store_close().
 *
 * uri: a path or "sqlite:PATH". flags: OR of enum trove_store_flags
 * (READONLY and CREATE exclude each other).
 * Returns TROVE_OK or:
 *   TROVE_ENOTFOUND     the file does not exist and CREATE was not given
 *                       ("s.db: no such store");
 *   TROVE_EFORMAT       the file is not a trove store (not a database, an
 *                       empty file without CREATE, another application's
 *                       database);
 *   TROVE_EVERSION      the store was written by a newer trove ("s.db: schema
 *                       version 7 is newer than this trove (2)"), or it is
 *                       older and READONLY forbids upgrading it;
 *   TROVE_EUNSUPPORTED  a URI scheme without a backend ("postgres://...");
 *   TROVE_EINVAL, TROVE_ENOMEM, TROVE_EBUSY, TROVE_ESTORE.
 * Closing rolls back an open transaction. */
int  trove_store_open(const char *uri, int flags, trove_store **out,
                      trove_error *err);
void trove_store_close(trove_store *s);

int trove_store_schema_version(trove_store *s);   /* of this store */
int trove_store_schema_latest(void);               /* this library writes */

/* Explicit transactions; they do not nest (begin inside one: TROVE_EINVAL).
 * On a writable handle begin takes the write lock at once, so other writers
 * wait (up to the busy timeout) while readers go on; on a read-only handle
 * it takes a consistent read snapshot. commit without a transaction is
 * TROVE_EINVAL; rollback without one is a no-op returning TROVE_OK (handy on
 * cleanup paths). After a rollback every id obtained inside the transaction
 * for a new row is invalid. */
int trove_store_begin(trove_store *s, trove_error *err);
int trove_store_commit(trove_store *s, trove_error *err);
int trove_store_rollback(trove_store *s, trove_error *err);

/* --------------------------------------------------------------- markets */
typedef struct trove_market {
    int64_t     id;
    const char *code;      /* "DE", "United Kingdom" */
    const char *name;      /* display name, may equal code */
    const char *timezone;  /* IANA name, "UTC" by default */
} trove_market;

/* Find or create the market `code` (at most 63 bytes). name/timezone (may
 * be NULL: name defaults to the code, timezone to "UTC") are set on creation
 * and updated when not NULL. *id receives its internal id; *created (may be
 * NULL) is set to 1 if it was new. Known codes are answered from a cache
 * without touching the database. */
int trove_store_market_upsert(trove_store *s, const char *code,
                              const char *name, const char *timezone,
                              int64_t *id, int *created, trove_error *err);
/* TROVE_ENOTFOUND if absent. */
int trove_store_market_find(trove_store *s, const char *code, int64_t *id,
                            trove_error *err);

/* Call fn for every market in code order. The strings are borrowed for the
 * duration of the call only. A non-zero return of fn stops the walk and is
 * returned. */
typedef int (*trove_market_fn)(void *ud, const trove_market *m);
int trove_store_markets_foreach(trove_store *s, trove_market_fn fn, void *ud,
                                trove_error *err);

/* ----------------------------------------------------------------- users */
/* Find or create user `ext_id`. market_id (0 = leave unset) is stored as the
 * user's home market; TROVE_ENOTFOUND if there is no such market. */
int trove_store_user_upsert(trove_store *s, const char *ext_id,
                            int64_t market_id, int64_t *id, int *created,
                            trove_error *err);
int trove_store_user_find(trove_store *s, const char *ext_id, int64_t *id,
                          trove_error *err);

typedef struct trove_user {
    int64_t     id;
    const char *ext_id;
    int64_t     market_id;   /* 0 if none */
} trove_user;
/* Every user in id order; strings borrowed for the call; a non-zero return
 * of fn stops the walk and is returned. */
typedef int (*trove_user_fn)(void *ud, const trove_user *u);
int trove_store_users_foreach(trove_store *s, trove_user_fn fn, void *ud,
                              trove_error *err);
/* Number of users whose home market is market_id (0 = every user, with or
 * without a home market) into *n. Reads an index, not the users: cheap
 * enough for a dashboard request. */
int trove_store_users_count(trove_store *s, int64_t market_id, uint64_t *n,
                            trove_error *err);

/* ----------------------------------------------------------------- items */
typedef struct trove_item {
    int64_t     id;
    const char *ext_id;
    const char *title;      /* UTF-8, may be "" */
    int         active;     /* 1 by default */
    int         pinned;     /* 0 by default */
    int         blocked;    /* 0 by default */
    int64_t     start_ts;   /* 0 = no start restriction */
    int64_t     end_ts;     /* 0 = no end restriction */
    int64_t     created_ts; /* when the store first saw it */
} trove_item;

/* Find or create item `ext_id`; title (may be NULL) is set when not NULL.
 * A new item is active, not pinned, not blocked, without start or end. */
int trove_store_item_upsert(trove_store *s, const char *ext_id,
                            const char *title, int64_t *id, int *created,
                            trove_error *err);
int trove_store_item_find(trove_store *s, const char *ext_id, int64_t *id,
                          trove_error *err);

/* Which fields of trove_item_set_flags' argument to write. */
enum trove_item_flag_mask {
    TROVE_ITEM_ACTIVE   = 1 << 0,
    TROVE_ITEM_PINNED   = 1 << 1,
    TROVE_ITEM_BLOCKED  = 1 << 2,
    TROVE_ITEM_START_TS = 1 << 3,
    TROVE_ITEM_END_TS   = 1 << 4
};
/* Write the fields of *flags selected by mask (OR of enum
 * trove_item_flag_mask; the others are ignored). active/pinned/blocked must
 * be 0 or 1, times >= 0. TROVE_ENOTFOUND if the item does not exist (also
 * with mask 0, which writes nothing). */
int trove_store_item_set_flags(trove_store *s, int64_t item_id,
                               const trove_item *flags, unsigned mask,
                               trove_error *err);
/* Read one item; the strings in *out are borrowed until the next call on s. */
int trove_store_item_get(trove_store *s, int64_t item_id, trove_item *out,
                         trove_error *err);

/* Every item in id order, as trove_store_users_foreach. */
typedef int (*trove_item_fn)(void *ud, const trove_item *it);
int trove_store_items_foreach(trove_store *s, trove_item_fn fn, void *ud,
                              trove_error *err);

/* -------------------------------------------------------------- features */
enum trove_feature_kind {
    TROVE_FEATURE_CATEGORICAL = 1,
    TROVE_FEATURE_NUMERIC     = 2
};
enum trove_feature_target {
    TROVE_FEATURE_USER = 1,
    TROVE_FEATURE_ITEM = 2
};

/* Find or create feature `name` ("genre=Comedy", "age") for users or items
 * (target). A feature keeps the kind it was created with: asking for it
 * with the other kind is TROVE_EINVAL. */
int trove_store_feature_upsert(trove_store *s, int target, const char *name,
                               int kind, int64_t *id, trove_error *err);
/* Set (insert or replace) the weight of a feature on a user or item.
 * TROVE_ENOTFOUND if the user/item does not exist or feature_id is not a
 * feature of that target. */
int trove_store_user_feature_set(trove_store *s, int64_t user_id,
                                 int64_t feature_id, double value,
                                 trove_error *err);
int trove_store_item_feature_set(trove_store *s, int64_t item_id,
                                 int64_t feature_id, double value,
                                 trove_error *err);

typedef struct trove_feature_value {
    int64_t     entity_id;   /* user or item id */
    int64_t     feature_id;
    const char *name;        /* feature name, borrowed for the call */
    int         kind;
    double      value;
} trove_feature_value;
typedef int (*trove_feature_fn)(void *ud, const trove_feature_value *fv);
/* Every (entity, feature, value) of users or items, ordered by entity id. */
int trove_store_features_foreach(trove_store *s, int target,
                                 trove_feature_fn fn, void *ud,
                                 trove_error *err);

/* ---------------------------------------------------------------- events */
/* Insert one event. A duplicate event id is not an error: *inserted (may be
 * NULL) is set to 0 and the stored event is left unchanged. TROVE_ENOTFOUND
 * if the user, item or market (when not 0) does not exist. This is the call
 * made once per ingested row: inside a transaction it costs one insert and
 * no other database access once the user, item and market have been seen. */
int trove_store_event_add(trove_store *s, const trove_event *ev,
                          int *inserted, trove_error *err);

typedef struct trove_event_filter {
    int64_t  market_id;  /* 0 = all markets */
    int64_t  ts_from;    /* inclusive; 0 = no lower bound */
    int64_t  ts_to;      /* exclusive; 0 = no upper bound */
    unsigned type_mask;  /* OR of TROVE_EVENT_MASK(type); 0 = all types */
} trove_event_filter;

typedef int (*trove_event_fn)(void *ud, const trove_event *ev);
/* Every event matching `filter` (NULL = all) in (ts, id) order, where id
 * is compared as the signed reinterpretation of the 64-bit event id. */
int trove_store_events_foreach(trove_store *s, const trove_event_filter *filter,
                               trove_event_fn fn, void *ud, trove_error *err);
/* Number of events matching `filter` (NULL = all) into *count. With only a
 * time window (market_id 0, type_mask 0) it reads the time index alone:
 * about 3 ms of CPU per 100k events in the window. Events are never
 * deleted, so a count over a past window that grew means events arrived
 * late for it (what the dashboard uses to keep A/B counts of closed cycles
 * cached). */
int trove_store_events_count(trove_store *s, const trove_event_filter *filter,
                             uint64_t *count, trove_error *err);

/* ----------------------------------------------------------------- stats */
#define TROVE_STATS_MAX_MARKETS 256

typedef struct trove_store_market_stats {
    char     code[64];
    uint64_t users;       /* users whose home market this is */
    uint64_t events;
} trove_store_market_stats;

typedef struct trove_store_stats {
    int      schema_version;
    uint64_t users, items, markets;
    uint64_t user_features, item_features;   /* distinct feature names */
    uint64_t events;
    uint64_t events_by_type[TROVE_EVENT_TYPE_MAX + 1];  /* index = type */
    uint64_t items_active, items_pinned, items_blocked;
    uint64_t model_versions, cycles;
    int64_t  first_ts, last_ts;                 /* 0 if no events */
    size_t   n_market_stats;                    /* <= TROVE_STATS_MAX_MARKETS */
    trove_store_market_stats market_stats[TROVE_STATS_MAX_MARKETS];
} trove_store_stats;

/* Counts of everything in the store, read in one snapshot. market_stats
 * lists the markets with the most events first (ties by code), at most
 * TROVE_STATS_MAX_MARKETS of them. Reads every event once. */
int trove_store_stats_get(trove_store *s, trove_store_stats *out,
                          trove_error *err);

/* ======================================================================
 * Model registry, assignment cycles and A/B counts (schema version 3).
 *
 * Model versions are numbered 1, 2, ... per market (market id 0 = a model
 * for all markets). At most one version per market is active. Activations
 * form a stack: activate pushes, rollback pops the current version and
 * re-activates the one below it, so repeated rollbacks walk back through the
 * history. Pruning keeps the newest N versions (and always the active one)
 * and marks the others pruned: their rows stay for the history of cycles
 * that used them, their files are for the caller to delete.
 * ==================================================================== */

typedef struct trove_model_version {
    int64_t     id;               /* internal id (> 0) */
    int64_t     market_id;        /* 0 = all markets */
    int         version;          /* 1, 2, ... per market */
    int64_t     created_ts;       /* Unix seconds */
    const char *family;           /* "hybrid", "ials", ... */
    const char *path;             /* the model file */
    const char *config_hash;      /* trove_market_config.hash */
    const char *data_fingerprint; /* what the model was trained on */
    const char *metrics_json;     /* a JSON object as text, "{}" if none */
    int         active;           /* 1 for the market's active version */
    int         pruned;           /* 1 once pruned (file to be deleted) */
} trove_model_version;

/* Register a new version for mv->market_id (0 or an existing market) with
 * family, path, config_hash, data_fingerprint (non-empty), metrics_json
 * (NULL = "{}"; not checked for JSON syntax) and created_ts (>= 0). id,
 * version, active and pruned are ignored. The new version is not active.
 * *version receives its number (previous maximum of the market + 1) and
 * *id (may be NULL) its internal id. TROVE_ENOTFOUND if the market does not
 * exist. */
int trove_store_model_register(trove_store *s, const trove_model_version *mv,
                               int *version, int64_t *id, trove_error *err);

/* Every version of market_id (0 = the all-markets models), newest first.
 * Strings are borrowed for the call; a non-zero return of fn stops the walk
 * and is returned. */
typedef int (*trove_model_version_fn)(void *ud, const trove_model_version *mv);
int trove_store_models_foreach(trove_store *s, int64_t market_id,
                               trove_model_version_fn fn, void *ud,
                               trove_error *err);

/* Make `version` the active one of market_id (pushes it on the activation
 * stack; activating the active version changes nothing). TROVE_ENOTFOUND if
 * there is no such version or it was pruned. */
int trove_store_model_activate(trove_store *s, int64_t market_id, int version,
                               trove_error *err);

/* The active version of market_id in *version; TROVE_ENOTFOUND if none. */
int trove_store_model_active(trove_store *s, int64_t market_id, int *version,
                             trove_error *err);

/* Re-activate the version that was active before the current one (popping
 * the current one, and any pruned ones below it, off the stack). *version
 * (may be NULL) receives the now active version. TROVE_ENOTFOUND when no
 * version is active or there is nothing to go back to (nothing changes). */
int trove_store_model_rollback(trove_store *s, int64_t market_id, int *version,
                               trove_error *err);

/* Keep the `keep` (>= 1) newest unpruned versions of market_id plus the
 * active one; mark the other unpruned versions pruned. *paths receives an
 * array of the *n_paths model file paths pruned by this call (NULL when
 * none), owned by the caller and freed with trove_store_strings_free(), for
 * deleting the files once the change is committed. */
int trove_store_models_prune(trove_store *s, int64_t market_id, int keep,
                             char ***paths, size_t *n_paths, trove_error *err);
void trove_store_strings_free(char **strings, size_t n);

/* ---------------------------------------------------------------- cycles */
typedef struct trove_cycle {
    int64_t     id;
    int64_t     market_id;        /* > 0 */
    const char *key;              /* unique per market, at most 63 bytes,
                                     e.g. "2024-W07" */
    int64_t     created_ts;       /* start of the cycle, Unix seconds */
    int64_t     model_version_id; /* trove_model_version.id, 0 = none */
    const char *salt;             /* experiment salt used for the arms */
    double      test_share;       /* configured share of users in test */
    int64_t     eligible_items;   /* offers eligible when it was assigned
                                     (0 = unknown: counted from the flags) */
} trove_cycle;

/* Create cycle c->key of c->market_id. A key the market already has is
 * TROVE_EEXIST, unless `replace` is 1: then the old cycle's assignments are
 * deleted and its row takes the new values (same id), all in one
 * transaction (the caller's, if one is open). *id receives the cycle's id.
 * TROVE_ENOTFOUND for an unknown market or model version. The cycle runner
 * calls this and trove_store_assignments_add between trove_store_begin and
 * trove_store_commit, so a cycle is stored whole or not at all. */
int trove_store_cycle_create(trove_store *s, const trove_cycle *c, int replace,
                             int64_t *id, trove_error *err);

/* The cycle `key` of market_id into *out (strings borrowed until the next
 * call on s); TROVE_ENOTFOUND if absent. */
int trove_store_cycle_find(trove_store *s, int64_t market_id, const char *key,
                           trove_cycle *out, trove_error *err);

/* Every cycle of market_id (0 = all markets) in (market code, created_ts,
 * id) order; strings borrowed for the call. */
typedef int (*trove_cycle_fn)(void *ud, const trove_cycle *c);
int trove_store_cycles_foreach(trove_store *s, int64_t market_id,
                               trove_cycle_fn fn, void *ud, trove_error *err);

/* ----------------------------------------------------------- assignments */
enum trove_assignment_source {
    TROVE_SOURCE_MODEL      = 1,  /* the market's model */
    TROVE_SOURCE_POPULARITY = 2,  /* popularity (control policy, fallback) */
    TROVE_SOURCE_RANDOM     = 3,  /* random (control policy, fallback) */
    TROVE_SOURCE_NEW_OFFER  = 4,  /* a slot reserved for new offers */
    TROVE_SOURCE_RULE       = 5   /* placed by a rule (pin, boost) */
};
#define TROVE_SOURCE_MAX 5
/* "model", "popularity", ...; "unknown" outside the enum. */
const char *trove_assignment_source_name(int source);

typedef struct trove_assignment {
    int64_t cycle_id;
    int64_t user_id;
    int64_t item_id;
    int     rank;      /* 0-based position in the user's list */
    int     arm;       /* TROVE_ARM_CONTROL (0) or TROVE_ARM_TEST (1) */
    double  score;     /* the model's score, NAN if none */
    int     source;    /* enum trove_assignment_source */
} trove_assignment;

/* Add n rows. A (cycle, user, rank) or (cycle, user, item) pair that is
 * already there is TROVE_EEXIST; an unknown cycle, user or item
 * TROVE_ENOTFOUND; a user in both arms of one cycle TROVE_EINVAL. Every id
 * is checked before anything is written. All rows or none (outside an explicit transaction; inside
 * one, a failure leaves the earlier calls' rows and the caller rolls
 * back). */
int trove_store_assignments_add(trove_store *s, const trove_assignment *rows,
                                size_t n, trove_error *err);

/* Every assignment of cycle_id in (user_id, rank) order. */
typedef int (*trove_assignment_fn)(void *ud, const trove_assignment *a);
int trove_store_assignments_foreach(trove_store *s, int64_t cycle_id,
                                    trove_assignment_fn fn, void *ud,
                                    trove_error *err);

/* -------------------------------------------------------------- A/B counts */
/* Per arm of one cycle. A user is one unit; per user u, n_u = offers
 * assigned, r_u = assigned offers redeemed in the cycle's window; the sums
 * of squares and products are what the delta method needs (trove/ab.h). */
typedef struct trove_ab_arm_counts {
    uint64_t users;            /* users assigned in this arm */
    uint64_t exposures;        /* assigned (user, offer) pairs = sum n_u */
    uint64_t impressions;      /* assigned pairs with an impression event */
    uint64_t redemptions;      /* assigned pairs redeemed = sum r_u */
    uint64_t redeeming_users;  /* users with r_u > 0 */
    double   sum_n2, sum_r2, sum_nr;
    uint64_t distinct_items;   /* offers assigned at least once */
    uint64_t top5_exposures;   /* assignments of the 5 most assigned offers */
} trove_ab_arm_counts;

typedef struct trove_ab_cycle_counts {
    int64_t  cycle_id, market_id, model_version_id;
    char     market[64];       /* market code */
    char     key[64];          /* cycle key */
    int64_t  start_ts, end_ts; /* the window [start, end) */
    double   test_share;
    trove_ab_arm_counts arm[2];  /* index TROVE_ARM_CONTROL / TROVE_ARM_TEST */
    uint64_t distinct_items, top5_exposures;   /* both arms together */
    uint64_t eligible_items;   /* stored with the cycle, or counted */
    uint64_t new_items;        /* offers launched since the previous cycle */
    uint64_t new_items_shown;  /* of those, assigned in this cycle */
    uint64_t unassigned_redemptions; /* redemptions in the window by this
                                        market or its assigned users of pairs
                                        this cycle never assigned */
} trove_ab_cycle_counts;

/* Count cycle_id's A/B figures. The window runs from the cycle's created_ts
 * to the next cycle of the market's created_ts, or to `now` (0 = the
 * current time) for the latest one. A redemption is a
 * TROVE_EVENT_REDEMPTION event; a pair counts once however often it was
 * redeemed. "Launched" is the later of an offer's created_ts and start_ts;
 * the first cycle of a market has no new offers. Eligible offers, when not
 * stored with the cycle, are those active, not blocked and inside their
 * dates at the cycle's start (current flags). Reads in one snapshot. */
int trove_store_ab_counts(trove_store *s, int64_t cycle_id, int64_t now,
                          trove_ab_cycle_counts *out, trove_error *err);

/* ======================================================================
 * Treasure hunts (schema version 4; the hunts themselves are trove/hunt.h).
 * The store keeps one row per hunt id (a hash of user, market and local
 * day): the encoded hunt with its progress, so that a repeat on the same
 * day returns the stored hunt whatever changed since.
 * ==================================================================== */
typedef struct trove_stored_hunt {
    int64_t     id;          /* internal id (> 0), ignored by hunt_add */
    const char *key;         /* the hunt id (trove_hunt_id), at most 63 bytes */
    int64_t     market_id;   /* > 0 */
    const char *user;        /* external user id */
    int32_t     day;         /* the hunt's local day (days since 1970-01-01) */
    int64_t     created_ts;  /* Unix seconds */
    int64_t     expires_ts;  /* Unix seconds, > created_ts */
    int         steps;       /* number of steps, >= 1 */
    int         steps_done;  /* 0 .. steps */
    const char *reward;      /* unlocked reward id, "" while locked */
    const char *body;        /* the encoded hunt (trove_hunt_encode) */
} trove_stored_hunt;

/* Store hunt h unless its key is already there: then *inserted (may be
 * NULL) is 0 and the stored row is left unchanged (the first writer wins,
 * so concurrent first calls agree on one hunt). TROVE_ENOTFOUND for an
 * unknown market. */
int trove_store_hunt_add(trove_store *s, const trove_stored_hunt *h,
                         int *inserted, trove_error *err);
/* The hunt `key` into *out (strings borrowed until the next call on s);
 * TROVE_ENOTFOUND if absent. */
int trove_store_hunt_find(trove_store *s, const char *key,
                          trove_stored_hunt *out, trove_error *err);
/* Record progress of hunt `key`: steps_done, reward (not NULL) and the new
 * body. TROVE_ENOTFOUND if absent. */
int trove_store_hunt_update(trove_store *s, const char *key, int steps_done,
                            const char *reward, const char *body,
                            trove_error *err);
/* Every event of user_id matching filter (NULL = all) in (ts, id) order, as
 * trove_store_events_foreach. Reads the events of the filter's time window
 * through the time index: give ts_from (and ts_to) to keep it cheap. */
int trove_store_user_events_foreach(trove_store *s, int64_t user_id,
                                    const trove_event_filter *filter,
                                    trove_event_fn fn, void *ud,
                                    trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_STORE_H */
