/*
 * store_int.h - private interface between the backend-neutral store front
 * end (store.c) and the backends (store_sqlite.c; a PostgreSQL backend would
 * be a second file filling the same table).
 *
 * Split of work:
 *   - store.c parses the URI, checks arguments (NULL pointers, ranges,
 *     read-only handles) and forwards each public call through s->ops. A
 *     backend may therefore assume its arguments are valid: strings are
 *     non-NULL, ids are > 0, types and kinds are inside their enums.
 *   - A backend writes out-parameters only on success and fills err with a
 *     message naming the store and the operation.
 *
 * Every backend handle starts with a `struct trove_store` so that the front
 * end can read the common fields.
 */
#ifndef TROVE_STORE_INT_H
#define TROVE_STORE_INT_H

#include "trove/store.h"

/* Longest market code, including its terminating NUL (the size of
 * trove_store_market_stats.code). */
#define TROVE__STORE_CODE_MAX 64

typedef struct trove__store_ops {
    void (*close)(trove_store *s);
    int (*schema_version)(trove_store *s);
    int (*begin)(trove_store *s, trove_error *err);
    int (*commit)(trove_store *s, trove_error *err);
    int (*rollback)(trove_store *s, trove_error *err);

    int (*market_upsert)(trove_store *s, const char *code, const char *name,
                         const char *timezone, int64_t *id, int *created,
                         trove_error *err);
    int (*market_find)(trove_store *s, const char *code, int64_t *id,
                       trove_error *err);
    int (*markets_foreach)(trove_store *s, trove_market_fn fn, void *ud,
                           trove_error *err);

    int (*user_upsert)(trove_store *s, const char *ext_id, int64_t market_id,
                       int64_t *id, int *created, trove_error *err);
    int (*user_find)(trove_store *s, const char *ext_id, int64_t *id,
                     trove_error *err);
    int (*users_foreach)(trove_store *s, trove_user_fn fn, void *ud,
                         trove_error *err);
    int (*users_count)(trove_store *s, int64_t market_id, uint64_t *n,
                       trove_error *err);

    int (*item_upsert)(trove_store *s, const char *ext_id, const char *title,
                       int64_t *id, int *created, trove_error *err);
    int (*item_find)(trove_store *s, const char *ext_id, int64_t *id,
                     trove_error *err);
    int (*item_set_flags)(trove_store *s, int64_t item_id,
                          const trove_item *flags, unsigned mask,
                          trove_error *err);
    int (*item_get)(trove_store *s, int64_t item_id, trove_item *out,
                    trove_error *err);
    int (*items_foreach)(trove_store *s, trove_item_fn fn, void *ud,
                         trove_error *err);

    int (*feature_upsert)(trove_store *s, int target, const char *name,
                          int kind, int64_t *id, trove_error *err);
    int (*feature_set)(trove_store *s, int target, int64_t entity_id,
                       int64_t feature_id, double value, trove_error *err);
    int (*features_foreach)(trove_store *s, int target, trove_feature_fn fn,
                            void *ud, trove_error *err);

    int (*event_add)(trove_store *s, const trove_event *ev, int *inserted,
                     trove_error *err);
    int (*events_foreach)(trove_store *s, const trove_event_filter *filter,
                          trove_event_fn fn, void *ud, trove_error *err);
    int (*events_count)(trove_store *s, const trove_event_filter *filter,
                        uint64_t *count, trove_error *err);

    int (*stats_get)(trove_store *s, trove_store_stats *out, trove_error *err);

    int (*model_register)(trove_store *s, const trove_model_version *mv,
                          int *version, int64_t *id, trove_error *err);
    int (*models_foreach)(trove_store *s, int64_t market_id,
                          trove_model_version_fn fn, void *ud, trove_error *err);
    int (*model_activate)(trove_store *s, int64_t market_id, int version,
                          trove_error *err);
    int (*model_active)(trove_store *s, int64_t market_id, int *version,
                        trove_error *err);
    int (*model_rollback)(trove_store *s, int64_t market_id, int *version,
                          trove_error *err);
    int (*models_prune)(trove_store *s, int64_t market_id, int keep,
                        char ***paths, size_t *n_paths, trove_error *err);
    int (*cycle_create)(trove_store *s, const trove_cycle *c, int replace,
                        int64_t *id, trove_error *err);
    int (*cycle_find)(trove_store *s, int64_t market_id, const char *key,
                      trove_cycle *out, trove_error *err);
    int (*cycles_foreach)(trove_store *s, int64_t market_id, trove_cycle_fn fn,
                          void *ud, trove_error *err);
    int (*assignments_add)(trove_store *s, const trove_assignment *rows,
                           size_t n, trove_error *err);
    int (*assignments_foreach)(trove_store *s, int64_t cycle_id,
                               trove_assignment_fn fn, void *ud,
                               trove_error *err);
    int (*ab_counts)(trove_store *s, int64_t cycle_id, int64_t now,
                     trove_ab_cycle_counts *out, trove_error *err);
    /* treasure hunts (store_hunts.c checks the arguments) */
    int (*hunt_add)(trove_store *s, const trove_stored_hunt *h, int *inserted,
                    trove_error *err);
    int (*hunt_find)(trove_store *s, const char *key, trove_stored_hunt *out,
                     trove_error *err);
    int (*hunt_update)(trove_store *s, const char *key, int steps_done,
                       const char *reward, const char *body, trove_error *err);
    int (*user_events_foreach)(trove_store *s, int64_t user_id,
                               const trove_event_filter *filter,
                               trove_event_fn fn, void *ud, trove_error *err);
} trove__store_ops;

struct trove_store {
    const trove__store_ops *ops;
    int   flags;        /* TROVE_STORE_* given to open */
    char *name;         /* the path or URI, for messages (owned) */
};

/* Open a SQLite store at `path` (already stripped of "sqlite:"), applying
 * migrations up to `max_version` (<= trove__store_sqlite_latest()). Used by
 * trove_store_open with the latest version, and by tests to build a store
 * at an older schema version. */
int trove__store_sqlite_open(const char *path, int flags, int max_version,
                             trove_store **out, trove_error *err);

/* Highest schema version the SQLite backend knows. */
int trove__store_sqlite_latest(void);

/* The SQLite migration list (schema_sqlite.c): script i (0-based) takes a
 * store from schema version i to i+1. */
extern const char *const trove__store_sqlite_migrations[];
extern const int trove__store_sqlite_n_migrations;

/* Like trove_store_open, but stops the migrations at `max_version`. */
int trove__store_open_at(const char *uri, int flags, int max_version,
                         trove_store **out, trove_error *err);

#endif /* TROVE_STORE_INT_H */
