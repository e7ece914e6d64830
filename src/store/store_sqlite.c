/*
 * store_sqlite.c - the SQLite backend of the store: one database file in WAL
 * mode, schema from schema_sqlite.c. This is the only file of trove that
 * includes <sqlite3.h>.
 *
 * Write path (built for bulk ingest, see docs/store.md):
 *   - every statement used per row is prepared once and cached on the handle
 *     (SQLITE_PREPARE_PERSISTENT), reset after each use;
 *   - ext_id -> internal id caches for markets, users, items and features
 *     (a trove_idmap plus parallel arrays), loaded from the table on first
 *     use, so that an upsert of a known id costs no SQL at all;
 *   - events go in with INSERT ... ON CONFLICT(id) DO NOTHING: the event id
 *     is the rowid, so a duplicate is one b-tree probe and no error;
 *   - the events table has no foreign keys: event_add checks the user, item
 *     and market against bitmaps of ids known to exist (filled by one probe
 *     the first time an id is seen), which costs nothing per row after that.
 *
 * Cache invariants:
 *   - An entry whose id is > 0 names a row that exists in the database as
 *     seen by this handle. An entry with id 0 is a reserved slot (the name
 *     was interned before the INSERT so that running out of memory happens
 *     before any write) and means "unknown: ask the database".
 *   - A miss never means "absent": a lookup that misses falls back to SQL
 *     (another handle may have inserted the row).
 *   - The aux values (a user's market, hashes of an item's title and of a
 *     market's name and time zone, a feature's kind) mirror the row and are
 *     only used to skip writes that would change nothing.
 *   - A bit set in a known-id bitmap names a row that exists.
 *   - Every rollback - explicit, of an implicit per-call transaction, or one
 *     SQLite performs itself after an I/O or out-of-memory error - drops all
 *     caches and bitmaps, as does a change by another connection (PRAGMA
 *     data_version) noticed at the start of a transaction.
 *
 * Transactions: outside trove_store_begin/commit, a call that needs several
 * statements runs them in its own BEGIN IMMEDIATE ... COMMIT, so each call
 * is atomic. Explicit transactions are BEGIN IMMEDIATE too (the write lock is
 * taken up front, so a commit never fails for lack of it); on a read-only
 * handle begin takes a read snapshot (BEGIN DEFERRED).
 */
#include "store/store_int.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* "TROV": marks a SQLite file as a trove store (PRAGMA application_id). */
#define TROVE_APPLICATION_ID 0x54524f56
#define BUSY_TIMEOUT_MS 5000
/* Page cache per handle, in KiB (negative PRAGMA cache_size): random event
 * ids land anywhere in the events b-tree, so ingest speed falls off once the
 * table outgrows the cache. Pages are allocated on demand. */
#define CACHE_KIB 65536

/* ------------------------------------------------------------ statements */
enum stmt_id {
    ST_DATA_VERSION,
    ST_MARKET_INSERT, ST_MARKET_SELECT, ST_MARKET_UPDATE,
    ST_USER_INSERT, ST_USER_SELECT, ST_USER_SET_MARKET,
    ST_ITEM_INSERT, ST_ITEM_SELECT, ST_ITEM_SET_TITLE, ST_ITEM_GET,
    ST_ITEM_FLAGS,
    ST_FEATURE_INSERT, ST_FEATURE_SELECT,
    ST_USER_FEATURE_SET, ST_ITEM_FEATURE_SET,
    ST_EVENT_INSERT,
    ST_USER_EXISTS, ST_ITEM_EXISTS, ST_MARKET_EXISTS,
    ST_ASSIGNMENT_INSERT, ST_ASSIGNMENT_INSERT_MANY,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_MARKET_INSERT] =
        "INSERT INTO markets(code, name, timezone) "
        "VALUES (?1, ifnull(?2, ?1), ifnull(?3, 'UTC')) "
        "ON CONFLICT(code) DO NOTHING",
    [ST_MARKET_SELECT] = "SELECT id, name, timezone FROM markets WHERE code = ?1",
    [ST_MARKET_UPDATE] =
        "UPDATE markets SET name = ifnull(?2, name), "
        "timezone = ifnull(?3, timezone) WHERE id = ?1",
    [ST_USER_INSERT] =
        "INSERT INTO users(ext_id, market_id) VALUES (?1, nullif(?2, 0)) "
        "ON CONFLICT(ext_id) DO NOTHING",
    [ST_USER_SELECT] = "SELECT id, ifnull(market_id, 0) FROM users WHERE ext_id = ?1",
    [ST_USER_SET_MARKET] = "UPDATE users SET market_id = ?2 WHERE id = ?1",
    [ST_ITEM_INSERT] =
        "INSERT INTO items(ext_id, title, created_ts) "
        "VALUES (?1, ifnull(?2, ''), ?3) ON CONFLICT(ext_id) DO NOTHING",
    [ST_ITEM_SELECT] = "SELECT id, title FROM items WHERE ext_id = ?1",
    [ST_ITEM_SET_TITLE] = "UPDATE items SET title = ?2 WHERE id = ?1",
    [ST_ITEM_GET] =
        "SELECT ext_id, title, active, pinned, blocked, start_ts, end_ts, "
        "created_ts FROM items WHERE id = ?1",
    [ST_ITEM_FLAGS] =
        "UPDATE items SET "
        "active   = CASE WHEN ?2 & 1  THEN ?3 ELSE active END, "
        "pinned   = CASE WHEN ?2 & 2  THEN ?4 ELSE pinned END, "
        "blocked  = CASE WHEN ?2 & 4  THEN ?5 ELSE blocked END, "
        "start_ts = CASE WHEN ?2 & 8  THEN ?6 ELSE start_ts END, "
        "end_ts   = CASE WHEN ?2 & 16 THEN ?7 ELSE end_ts END "
        "WHERE id = ?1",
    [ST_FEATURE_INSERT] =
        "INSERT INTO features(target, name, kind) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(target, name) DO NOTHING",
    [ST_FEATURE_SELECT] = "SELECT id, kind FROM features WHERE target = ?1 AND name = ?2",
    /* Copying the feature id out of `features` checks in the same probe
     * that the feature exists and belongs to the right target. */
    [ST_USER_FEATURE_SET] =
        "INSERT INTO user_features(user_id, feature_id, value) "
        "SELECT ?1, id, ?3 FROM features WHERE id = ?2 AND target = 1 "
        "ON CONFLICT(user_id, feature_id) DO UPDATE SET value = excluded.value",
    [ST_ITEM_FEATURE_SET] =
        "INSERT INTO item_features(item_id, feature_id, value) "
        "SELECT ?1, id, ?3 FROM features WHERE id = ?2 AND target = 2 "
        "ON CONFLICT(item_id, feature_id) DO UPDATE SET value = excluded.value",
    [ST_EVENT_INSERT] =
        "INSERT INTO events(id, user_id, item_id, type, value, ts, market_id) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, 0)) "
        "ON CONFLICT(id) DO NOTHING",
    [ST_USER_EXISTS] = "SELECT 1 FROM users WHERE id = ?1",
    [ST_ITEM_EXISTS] = "SELECT 1 FROM items WHERE id = ?1",
    [ST_MARKET_EXISTS] = "SELECT 1 FROM markets WHERE id = ?1",
    [ST_ASSIGNMENT_INSERT] =
        "INSERT INTO assignment_lists(cycle_id, user_id, arm, list) "
        "VALUES (?1, ?2, ?3, ?4)",
    /* LIST_CHUNK (16) lists per statement: a quarter less CPU per list */
    [ST_ASSIGNMENT_INSERT_MANY] =
        "INSERT INTO assignment_lists(cycle_id, user_id, arm, list) VALUES "
        "(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),"
        "(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),(?,?,?,?),"
        "(?,?,?,?),(?,?,?,?)",
};

/* ---------------------------------------------------------------- caches */
typedef struct id_cache {
    trove_idmap *map;     /* ext_id (or feature name) -> slot */
    int64_t *ids;         /* per slot: internal id, 0 = unknown */
    uint64_t (*aux)[2];   /* per slot: values mirrored from the row */
    uint32_t cap;         /* capacity of ids and aux */
    int loaded;           /* the whole table has been read in */
} id_cache;

enum cache_id { C_MARKETS, C_USERS, C_ITEMS, C_USER_FEATURES, C_ITEM_FEATURES,
                C_COUNT };

/* Internal ids known to exist, as a bitmap over the (dense) rowids: what the
 * events table checks instead of foreign keys. Ids at or above KNOWN_MAX are
 * always looked up. A bitmap that cannot grow is simply not used. */
#define KNOWN_MAX ((int64_t)1 << 28)
typedef struct id_set {
    uint64_t *bits;
    size_t n_words;
} id_set;

enum known_id { K_USERS, K_ITEMS, K_MARKETS, K_COUNT };

typedef struct sqlite_store {
    trove_store base;
    sqlite3 *db;
    int version;                   /* schema version of the file */
    int in_txn;                    /* inside trove_store_begin/commit */
    int txn_aborted;               /* SQLite rolled the explicit txn back */
    int64_t data_version;          /* last PRAGMA data_version seen */
    sqlite3_stmt *stmts[ST_COUNT];
    id_cache caches[C_COUNT];
    id_set known[K_COUNT];
    char *scratch;                 /* item_get strings */
    size_t scratch_cap;
} sqlite_store;

static uint64_t text_hash(const char *s)
{
    return trove_hash64(s, strlen(s), 0);
}

static void cache_drop(id_cache *c)
{
    trove_idmap_free(c->map);
    trove_free(c->ids);
    trove_free(c->aux);
    memset(c, 0, sizeof *c);
}

static void caches_drop(sqlite_store *s)
{
    for (int i = 0; i < C_COUNT; i++)
        cache_drop(&s->caches[i]);
    for (int i = 0; i < K_COUNT; i++) {
        trove_free(s->known[i].bits);
        s->known[i].bits = NULL;
        s->known[i].n_words = 0;
    }
}

static int known_has(const id_set *k, int64_t id)
{
    size_t w = (size_t)id >> 6;
    return id < KNOWN_MAX && w < k->n_words &&
           (k->bits[w] >> ((unsigned)id & 63)) & 1;
}

static void known_add(id_set *k, int64_t id)
{
    size_t w = (size_t)id >> 6;
    if (id >= KNOWN_MAX)
        return;
    if (w >= k->n_words) {
        size_t n = k->n_words ? k->n_words : 64;
        uint64_t *bits;
        while (n <= w)
            n *= 2;
        bits = trove_realloc(k->bits, n * sizeof *bits);
        if (bits == NULL)
            return;
        memset(bits + k->n_words, 0, (n - k->n_words) * sizeof *bits);
        k->bits = bits;
        k->n_words = n;
    }
    k->bits[w] |= UINT64_C(1) << ((unsigned)id & 63);
}

/* Slot of `key` with a known id, or -1. */
static int64_t cache_find(const id_cache *c, const char *key)
{
    int64_t slot;
    if (c->map == NULL)
        return -1;
    slot = trove_idmap_find(c->map, key, strlen(key));
    if (slot < 0 || c->ids[slot] <= 0)
        return -1;
    return slot;
}

/* Intern `key`, growing the arrays; new slots start unknown (id 0). */
static int cache_reserve(id_cache *c, const char *key, uint32_t *slot)
{
    uint32_t idx;
    int rc, added = 0;
    if (c->map == NULL && (c->map = trove_idmap_new()) == NULL)
        return TROVE_ENOMEM;
    if (trove_idmap_size(c->map) >= c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 256;
        int64_t *ids;
        uint64_t (*aux)[2];
        if (cap < c->cap)
            return TROVE_ERANGE;
        ids = trove_realloc(c->ids, cap * sizeof *ids);
        if (ids == NULL)
            return TROVE_ENOMEM;
        c->ids = ids;
        aux = trove_realloc(c->aux, cap * sizeof *aux);
        if (aux == NULL)
            return TROVE_ENOMEM;
        c->aux = aux;
        c->cap = cap;
    }
    rc = trove_idmap_intern(c->map, key, strlen(key), &idx, &added);
    if (rc != TROVE_OK)
        return rc;
    if (added) {
        c->ids[idx] = 0;
        c->aux[idx][0] = c->aux[idx][1] = 0;
    }
    *slot = idx;
    return TROVE_OK;
}

/* ---------------------------------------------------------------- errors */

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:    return TROVE_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:   return TROVE_EBUSY;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:  return TROVE_ECORRUPT;
    case SQLITE_READONLY: return TROVE_EUNSUPPORTED;
    case SQLITE_CONSTRAINT:
        return rc == SQLITE_CONSTRAINT_FOREIGNKEY ? TROVE_ENOTFOUND : TROVE_ESTORE;
    default:              return TROVE_ESTORE;
    }
}

/* Keep the handle coherent after a failed statement: if SQLite rolled the
 * explicit transaction back by itself (it does on I/O errors, a full disk or
 * out of memory), the caches may name rows that are gone. */
static void after_failure(sqlite_store *s)
{
    if (s->in_txn && !s->txn_aborted && sqlite3_get_autocommit(s->db)) {
        s->txn_aborted = 1;
        caches_drop(s);
    }
}

/* Record a failed SQLite call: "<store>: <what>: <sqlite message>". */
static int sql_fail(sqlite_store *s, int rc, trove_error *err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int sql_fail(sqlite_store *s, int rc, trove_error *err,
                    const char *fmt, ...)
{
    char what[256];
    va_list ap;
    int code = map_rc(rc);
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    trove_error_set(err, code, "%s: %s: %s", s->base.name, what,
                    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    after_failure(s);
    return code;
}

static int nomem(sqlite_store *s, const char *what, trove_error *err)
{
    return trove_error_set(err, TROVE_ENOMEM, "%s: %s: out of memory",
                           s->base.name, what);
}

/* Cached statement `id`, prepared on first use. */
static int stmt_get(sqlite_store *s, enum stmt_id id, sqlite3_stmt **out,
                    trove_error *err)
{
    if (s->stmts[id] == NULL) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1,
                                    SQLITE_PREPARE_PERSISTENT, &s->stmts[id],
                                    NULL);
        if (rc != SQLITE_OK)
            return sql_fail(s, rc, err, "prepare");
    }
    *out = s->stmts[id];
    return TROVE_OK;
}

static int exec(sqlite_store *s, const char *sql, trove_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(s, rc, err, "%.40s", sql);
    return TROVE_OK;
}

/* Run `sql` (one statement returning one integer row). */
static int query_int(sqlite_store *s, const char *sql, int64_t *out,
                     trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    int status = TROVE_OK;
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "%s", sql);
        goto done;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, "%s", sql);
        goto done;
    }
    *out = sqlite3_column_int64(st, 0);
done:
    sqlite3_finalize(st);
    return status;
}

/* Text of column i; "" for NULL. NULL only when SQLite ran out of memory. */
static const char *col_text(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (t == NULL && sqlite3_column_type(st, i) == SQLITE_NULL)
        return "";
    return t;
}

/* ---------------------------------------------------------- transactions */

/* Drop the caches if another connection changed the database since we last
 * looked (PRAGMA data_version changes exactly then). */
static int check_data_version(sqlite_store *s, trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int64_t v;
    int rc = stmt_get(s, ST_DATA_VERSION, &st, err);
    if (rc != TROVE_OK)
        return rc;
    rc = sqlite3_step(st);
    v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return sql_fail(s, rc, err, "read data version");
    if (v != s->data_version) {
        caches_drop(s);
        s->data_version = v;
    }
    return TROVE_OK;
}

/* Start the implicit transaction of one call when no explicit one is open.
 * *own is set to 1 when this call must end it with auto_end. */
static int auto_begin(sqlite_store *s, int *own, trove_error *err)
{
    int rc;
    *own = 0;
    if (s->in_txn) {
        if (s->txn_aborted)
            return trove_error_set(err, TROVE_ESTORE,
                                   "%s: the transaction was rolled back after "
                                   "an earlier error; roll back and begin again",
                                   s->base.name);
        return TROVE_OK;
    }
    if ((rc = exec(s, "BEGIN IMMEDIATE", err)) != TROVE_OK)
        return rc;
    *own = 1;
    if ((rc = check_data_version(s, err)) != TROVE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        *own = 0;
    }
    return rc;
}

static int auto_end(sqlite_store *s, int own, int status, trove_error *err)
{
    if (!own)
        return status;
    if (status == TROVE_OK) {
        int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return TROVE_OK;
        status = sql_fail(s, rc, err, "commit");
    }
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    caches_drop(s);
    return status;
}

static int sq_begin(trove_store *base, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc;
    if (s->in_txn)
        return trove_error_set(err, TROVE_EINVAL,
                               "%s: begin: a transaction is already open "
                               "(transactions do not nest)", base->name);
    rc = exec(s, (base->flags & TROVE_STORE_READONLY) ? "BEGIN" : "BEGIN IMMEDIATE",
              err);
    if (rc != TROVE_OK)
        return rc;
    s->in_txn = 1;
    s->txn_aborted = 0;
    rc = check_data_version(s, err);
    if (rc != TROVE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = 0;
    }
    return rc;
}

static int sq_commit(trove_store *base, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc;
    if (!s->in_txn)
        return trove_error_set(err, TROVE_EINVAL, "%s: commit: no transaction",
                               base->name);
    if (s->txn_aborted) {
        s->in_txn = 0;
        s->txn_aborted = 0;
        return trove_error_set(err, TROVE_ESTORE,
                               "%s: commit: the transaction was rolled back "
                               "after an earlier error", base->name);
    }
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int status = sql_fail(s, rc, err, "commit");
        if (sqlite3_get_autocommit(s->db)) {   /* rolled back: it is over */
            s->in_txn = 0;
            s->txn_aborted = 0;
            caches_drop(s);
        }
        return status;
    }
    s->in_txn = 0;
    return TROVE_OK;
}

static int sq_rollback(trove_store *base, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc = SQLITE_OK;
    if (!s->in_txn)
        return TROVE_OK;
    if (!sqlite3_get_autocommit(s->db))
        rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = 0;
    s->txn_aborted = 0;
    caches_drop(s);
    if (rc != SQLITE_OK)
        return sql_fail(s, rc, err, "rollback");
    return TROVE_OK;
}

/* --------------------------------------------------------- cache loading */

/* Fill cache `which` from its table, once. */
static int cache_load(sqlite_store *s, enum cache_id which, trove_error *err)
{
    static const char *const sql[C_COUNT] = {
        [C_MARKETS] = "SELECT code, id, name, timezone FROM markets",
        [C_USERS] = "SELECT ext_id, id, ifnull(market_id, 0) FROM users",
        [C_ITEMS] = "SELECT ext_id, id, title FROM items",
        [C_USER_FEATURES] = "SELECT name, id, kind FROM features WHERE target = 1",
        [C_ITEM_FEATURES] = "SELECT name, id, kind FROM features WHERE target = 2",
    };
    id_cache *c = &s->caches[which];
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;

    if (c->loaded)
        return TROVE_OK;
    cache_drop(c);
    rc = sqlite3_prepare_v2(s->db, sql[which], -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "load id cache");
        goto fail;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = col_text(st, 0);
        uint32_t slot;
        if (key == NULL) {
            status = nomem(s, "load id cache", err);
            goto fail;
        }
        status = cache_reserve(c, key, &slot);
        if (status != TROVE_OK) {
            trove_error_set(err, status, "%s: load id cache: %s", s->base.name,
                            trove_strerror(status));
            goto fail;
        }
        c->ids[slot] = sqlite3_column_int64(st, 1);
        c->aux[slot][0] = c->aux[slot][1] = 0;
        switch (which) {
        case C_MARKETS:
        case C_ITEMS: {
            const char *a = col_text(st, 2);
            const char *b = which == C_MARKETS ? col_text(st, 3) : "";
            if (a == NULL || b == NULL) {
                status = nomem(s, "load id cache", err);
                goto fail;
            }
            c->aux[slot][0] = text_hash(a);
            c->aux[slot][1] = text_hash(b);
            break;
        }
        default:
            c->aux[slot][0] = (uint64_t)sqlite3_column_int64(st, 2);
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        status = sql_fail(s, rc, err, "load id cache");
        goto fail;
    }
    c->loaded = 1;
    sqlite3_finalize(st);
    return TROVE_OK;
fail:
    sqlite3_finalize(st);
    cache_drop(c);
    return status;
}

/* Prepare cache `which` for an upsert of `key`: load it and look the key up
 * (*slot >= 0 on a hit) or reserve a slot for it (*slot = -1, *reserved set).
 * Reserving first means that running out of memory happens before any
 * write. */
static int cache_prepare(sqlite_store *s, enum cache_id which, const char *key,
                         int64_t *hit, uint32_t *reserved, trove_error *err)
{
    id_cache *c = &s->caches[which];
    int rc = cache_load(s, which, err);
    if (rc != TROVE_OK)
        return rc;
    *hit = cache_find(c, key);
    if (*hit >= 0)
        return TROVE_OK;
    rc = cache_reserve(c, key, reserved);
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "%s: id cache: %s", s->base.name,
                               trove_strerror(rc));
    return TROVE_OK;
}

/* Cached id of `key` without touching SQL, or 0. */
static int64_t cache_peek(sqlite_store *s, enum cache_id which, const char *key)
{
    id_cache *c = &s->caches[which];
    int64_t slot = cache_find(c, key);
    return slot >= 0 ? c->ids[slot] : 0;
}

/* --------------------------------------------------------------- markets */

static int sq_market_upsert(trove_store *base, const char *code,
                            const char *name, const char *timezone,
                            int64_t *id, int *created, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    id_cache *c = &s->caches[C_MARKETS];
    sqlite3_stmt *st = NULL;
    int64_t hit, mid = 0;
    uint32_t slot = 0;
    int own = 0, rc, status, is_new = 0, update = 0;
    uint64_t h_name = 0, h_tz = 0;

    status = auto_begin(s, &own, err);
    if (status != TROVE_OK)
        return status;
    status = cache_prepare(s, C_MARKETS, code, &hit, &slot, err);
    if (status != TROVE_OK)
        goto done;
    if (hit >= 0) {
        slot = (uint32_t)hit;
        mid = c->ids[slot];
        h_name = c->aux[slot][0];
        h_tz = c->aux[slot][1];
    } else {
        if ((status = stmt_get(s, ST_MARKET_INSERT, &st, err)) != TROVE_OK)
            goto done;
        sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, timezone, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            status = sql_fail(s, rc, err, "add market '%s'", code);
            goto done;
        }
        if (sqlite3_changes(s->db) == 1) {
            is_new = 1;
            mid = sqlite3_last_insert_rowid(s->db);
            h_name = text_hash(name ? name : code);
            h_tz = text_hash(timezone ? timezone : "UTC");
        } else {
            const char *n, *tz;
            if ((status = stmt_get(s, ST_MARKET_SELECT, &st, err)) != TROVE_OK)
                goto done;
            sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                                  "find market '%s'", code);
                goto done;
            }
            mid = sqlite3_column_int64(st, 0);
            n = col_text(st, 1);
            tz = col_text(st, 2);
            if (n && tz) {
                h_name = text_hash(n);
                h_tz = text_hash(tz);
            }
            sqlite3_reset(st);
            if (n == NULL || tz == NULL) {
                status = nomem(s, "find market", err);
                goto done;
            }
        }
    }
    update = (name != NULL && text_hash(name) != h_name) ||
             (timezone != NULL && text_hash(timezone) != h_tz);
    if (update) {
        if ((status = stmt_get(s, ST_MARKET_UPDATE, &st, err)) != TROVE_OK)
            goto done;
        sqlite3_bind_int64(st, 1, mid);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, timezone, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            status = sql_fail(s, rc, err, "update market '%s'", code);
            goto done;
        }
        if (name != NULL)
            h_name = text_hash(name);
        if (timezone != NULL)
            h_tz = text_hash(timezone);
    }
    c->ids[slot] = mid;
    c->aux[slot][0] = h_name;
    c->aux[slot][1] = h_tz;
done:
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK) {
        *id = mid;
        if (created)
            *created = is_new;
    }
    return status;
}

/* Find `key` through the cache when loaded, else (or on a miss) by SQL. */
static int find_by_key(sqlite_store *s, enum cache_id which, enum stmt_id sel,
                       const char *what, const char *key, int64_t *id,
                       trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int64_t v = cache_peek(s, which, key);
    int rc, status;
    if (v > 0) {
        *id = v;
        return TROVE_OK;
    }
    if ((status = stmt_get(s, sel, &st, err)) != TROVE_OK)
        return status;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return trove_error_set(err, TROVE_ENOTFOUND, "%s: %s '%s' not found",
                               s->base.name, what, key);
    if (rc != SQLITE_ROW)
        return sql_fail(s, rc, err, "find %s '%s'", what, key);
    *id = v;
    return TROVE_OK;
}

static int sq_market_find(trove_store *base, const char *code, int64_t *id,
                          trove_error *err)
{
    return find_by_key((sqlite_store *)base, C_MARKETS, ST_MARKET_SELECT,
                       "market", code, id, err);
}

static int sq_markets_foreach(trove_store *base, trove_market_fn fn, void *ud,
                              trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, code, name, timezone FROM markets ORDER BY code",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "list markets");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_market m;
        m.id = sqlite3_column_int64(st, 0);
        m.code = col_text(st, 1);
        m.name = col_text(st, 2);
        m.timezone = col_text(st, 3);
        if (!m.code || !m.name || !m.timezone) {
            status = nomem(s, "list markets", err);
            goto done;
        }
        if ((status = fn(ud, &m)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list markets");
done:
    sqlite3_finalize(st);
    return status;
}

/* ----------------------------------------------------------------- users */

static int sq_user_upsert(trove_store *base, const char *ext_id,
                          int64_t market_id, int64_t *id, int *created,
                          trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    id_cache *c = &s->caches[C_USERS];
    sqlite3_stmt *st = NULL;
    int64_t hit, uid = 0, cur_market = 0;
    uint32_t slot = 0;
    int own = 0, rc, status, is_new = 0;

    status = auto_begin(s, &own, err);
    if (status != TROVE_OK)
        return status;
    status = cache_prepare(s, C_USERS, ext_id, &hit, &slot, err);
    if (status != TROVE_OK)
        goto done;
    if (hit >= 0) {
        slot = (uint32_t)hit;
        uid = c->ids[slot];
        cur_market = (int64_t)c->aux[slot][0];
    } else {
        if ((status = stmt_get(s, ST_USER_INSERT, &st, err)) != TROVE_OK)
            goto done;
        sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, market_id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            status = sql_fail(s, rc, err, rc == SQLITE_CONSTRAINT_FOREIGNKEY
                              ? "add user '%s': no market %lld in the store"
                              : "add user '%s' (market %lld)",
                              ext_id, (long long)market_id);
            goto done;
        }
        if (sqlite3_changes(s->db) == 1) {
            is_new = 1;
            uid = sqlite3_last_insert_rowid(s->db);
            cur_market = market_id;
        } else {
            if ((status = stmt_get(s, ST_USER_SELECT, &st, err)) != TROVE_OK)
                goto done;
            sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            uid = sqlite3_column_int64(st, 0);
            cur_market = sqlite3_column_int64(st, 1);
            sqlite3_reset(st);
            if (rc != SQLITE_ROW) {
                status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                                  "find user '%s'", ext_id);
                goto done;
            }
        }
    }
    if (market_id != 0 && market_id != cur_market) {
        if ((status = stmt_get(s, ST_USER_SET_MARKET, &st, err)) != TROVE_OK)
            goto done;
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_int64(st, 2, market_id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            status = sql_fail(s, rc, err, rc == SQLITE_CONSTRAINT_FOREIGNKEY
                              ? "user '%s': no market %lld in the store"
                              : "user '%s': set market %lld",
                              ext_id, (long long)market_id);
            goto done;
        }
        cur_market = market_id;
    }
    c->ids[slot] = uid;
    c->aux[slot][0] = (uint64_t)cur_market;
done:
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK) {
        *id = uid;
        if (created)
            *created = is_new;
    }
    return status;
}

static int sq_user_find(trove_store *base, const char *ext_id, int64_t *id,
                        trove_error *err)
{
    return find_by_key((sqlite_store *)base, C_USERS, ST_USER_SELECT, "user",
                       ext_id, id, err);
}

static int sq_users_foreach(trove_store *base, trove_user_fn fn, void *ud,
                            trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, ext_id, ifnull(market_id, 0) FROM users ORDER BY id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "list users");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_user u;
        u.id = sqlite3_column_int64(st, 0);
        u.ext_id = col_text(st, 1);
        u.market_id = sqlite3_column_int64(st, 2);
        if (u.ext_id == NULL) {
            status = nomem(s, "list users", err);
            goto done;
        }
        if ((status = fn(ud, &u)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list users");
done:
    sqlite3_finalize(st);
    return status;
}

/* Counted on the users_market index (or the table for every user). */
static int sq_users_count(trove_store *base, int64_t market_id, uint64_t *n,
                          trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;
    rc = sqlite3_prepare_v2(s->db, market_id > 0
                            ? "SELECT count(*) FROM users WHERE market_id = ?1"
                            : "SELECT count(*) FROM users", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "count users");
        goto done;
    }
    if (market_id > 0)
        sqlite3_bind_int64(st, 1, market_id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                          "count users");
        goto done;
    }
    *n = (uint64_t)sqlite3_column_int64(st, 0);
done:
    sqlite3_finalize(st);
    return status;
}

/* ----------------------------------------------------------------- items */

static int sq_item_upsert(trove_store *base, const char *ext_id,
                          const char *title, int64_t *id, int *created,
                          trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    id_cache *c = &s->caches[C_ITEMS];
    sqlite3_stmt *st = NULL;
    int64_t hit, iid = 0;
    uint64_t h_title = 0;
    uint32_t slot = 0;
    int own = 0, rc, status, is_new = 0;

    status = auto_begin(s, &own, err);
    if (status != TROVE_OK)
        return status;
    status = cache_prepare(s, C_ITEMS, ext_id, &hit, &slot, err);
    if (status != TROVE_OK)
        goto done;
    if (hit >= 0) {
        slot = (uint32_t)hit;
        iid = c->ids[slot];
        h_title = c->aux[slot][0];
    } else {
        if ((status = stmt_get(s, ST_ITEM_INSERT, &st, err)) != TROVE_OK)
            goto done;
        sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            status = sql_fail(s, rc, err, "add item '%s'", ext_id);
            goto done;
        }
        if (sqlite3_changes(s->db) == 1) {
            is_new = 1;
            iid = sqlite3_last_insert_rowid(s->db);
            h_title = text_hash(title ? title : "");
        } else {
            const char *t;
            if ((status = stmt_get(s, ST_ITEM_SELECT, &st, err)) != TROVE_OK)
                goto done;
            sqlite3_bind_text(st, 1, ext_id, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                                  "find item '%s'", ext_id);
                goto done;
            }
            iid = sqlite3_column_int64(st, 0);
            t = col_text(st, 1);
            if (t != NULL)
                h_title = text_hash(t);
            sqlite3_reset(st);
            if (t == NULL) {
                status = nomem(s, "find item", err);
                goto done;
            }
        }
    }
    if (title != NULL && text_hash(title) != h_title) {
        if ((status = stmt_get(s, ST_ITEM_SET_TITLE, &st, err)) != TROVE_OK)
            goto done;
        sqlite3_bind_int64(st, 1, iid);
        sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            status = sql_fail(s, rc, err, "item '%s': set title", ext_id);
            goto done;
        }
        h_title = text_hash(title);
    }
    c->ids[slot] = iid;
    c->aux[slot][0] = h_title;
done:
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK) {
        *id = iid;
        if (created)
            *created = is_new;
    }
    return status;
}

static int sq_item_find(trove_store *base, const char *ext_id, int64_t *id,
                        trove_error *err)
{
    return find_by_key((sqlite_store *)base, C_ITEMS, ST_ITEM_SELECT, "item",
                       ext_id, id, err);
}

static int sq_item_set_flags(trove_store *base, int64_t item_id,
                             const trove_item *flags, unsigned mask,
                             trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status = stmt_get(s, ST_ITEM_FLAGS, &st, err);
    if (status != TROVE_OK)
        return status;
    if (s->in_txn && s->txn_aborted)
        return trove_error_set(err, TROVE_ESTORE,
                               "%s: the transaction was rolled back after an "
                               "earlier error; roll back and begin again",
                               base->name);
    sqlite3_bind_int64(st, 1, item_id);
    sqlite3_bind_int(st, 2, (int)mask);
    sqlite3_bind_int(st, 3, flags->active);
    sqlite3_bind_int(st, 4, flags->pinned);
    sqlite3_bind_int(st, 5, flags->blocked);
    sqlite3_bind_int64(st, 6, flags->start_ts);
    sqlite3_bind_int64(st, 7, flags->end_ts);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sql_fail(s, rc, err, "item %lld: set flags", (long long)item_id);
    if (sqlite3_changes(s->db) == 0)
        return trove_error_set(err, TROVE_ENOTFOUND, "%s: item %lld not found",
                               base->name, (long long)item_id);
    return TROVE_OK;
}

/* Copy two strings into the handle's scratch buffer; *a and *b point into
 * it afterwards (valid until the next call on the handle). */
static int scratch_copy2(sqlite_store *s, const char **a, const char **b)
{
    size_t la = strlen(*a), lb = strlen(*b), need = la + lb + 2;
    if (need > s->scratch_cap) {
        char *p = trove_realloc(s->scratch, need);
        if (p == NULL)
            return TROVE_ENOMEM;
        s->scratch = p;
        s->scratch_cap = need;
    }
    memcpy(s->scratch, *a, la + 1);
    memcpy(s->scratch + la + 1, *b, lb + 1);
    *a = s->scratch;
    *b = s->scratch + la + 1;
    return TROVE_OK;
}

static void item_from_row(sqlite3_stmt *st, int first, trove_item *it)
{
    it->active = sqlite3_column_int(st, first + 2);
    it->pinned = sqlite3_column_int(st, first + 3);
    it->blocked = sqlite3_column_int(st, first + 4);
    it->start_ts = sqlite3_column_int64(st, first + 5);
    it->end_ts = sqlite3_column_int64(st, first + 6);
    it->created_ts = sqlite3_column_int64(st, first + 7);
}

static int sq_item_get(trove_store *base, int64_t item_id, trove_item *out,
                       trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    trove_item it;
    int rc, status = stmt_get(s, ST_ITEM_GET, &st, err);
    if (status != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, item_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: item %lld not found",
                                 base->name, (long long)item_id);
        goto done;
    }
    if (rc != SQLITE_ROW) {
        status = sql_fail(s, rc, err, "read item %lld", (long long)item_id);
        goto done;
    }
    it.id = item_id;
    it.ext_id = col_text(st, 0);
    it.title = col_text(st, 1);
    item_from_row(st, 0, &it);
    if (it.ext_id == NULL || it.title == NULL ||
        scratch_copy2(s, &it.ext_id, &it.title) != TROVE_OK) {
        status = nomem(s, "read item", err);
        goto done;
    }
    *out = it;
done:
    sqlite3_reset(st);
    return status;
}

static int sq_items_foreach(trove_store *base, trove_item_fn fn, void *ud,
                            trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, ext_id, title, active, pinned, blocked, "
                            "start_ts, end_ts, created_ts FROM items ORDER BY id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "list items");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_item it;
        it.id = sqlite3_column_int64(st, 0);
        it.ext_id = col_text(st, 1);
        it.title = col_text(st, 2);
        item_from_row(st, 1, &it);
        if (it.ext_id == NULL || it.title == NULL) {
            status = nomem(s, "list items", err);
            goto done;
        }
        if ((status = fn(ud, &it)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list items");
done:
    sqlite3_finalize(st);
    return status;
}

/* -------------------------------------------------------------- features */

static const char *kind_name(int kind)
{
    return kind == TROVE_FEATURE_NUMERIC ? "numeric" : "categorical";
}

static int sq_feature_upsert(trove_store *base, int target, const char *name,
                             int kind, int64_t *id, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    enum cache_id which = target == TROVE_FEATURE_USER ? C_USER_FEATURES
                                                       : C_ITEM_FEATURES;
    const char *tname = target == TROVE_FEATURE_USER ? "user" : "item";
    id_cache *c = &s->caches[which];
    sqlite3_stmt *st = NULL;
    int64_t hit, fid = 0, cur_kind = kind;
    uint32_t slot = 0;
    int own = 0, rc, status;

    status = auto_begin(s, &own, err);
    if (status != TROVE_OK)
        return status;
    status = cache_prepare(s, which, name, &hit, &slot, err);
    if (status != TROVE_OK)
        goto done;
    if (hit >= 0) {
        slot = (uint32_t)hit;
        fid = c->ids[slot];
        cur_kind = (int64_t)c->aux[slot][0];
    } else {
        if ((status = stmt_get(s, ST_FEATURE_INSERT, &st, err)) != TROVE_OK)
            goto done;
        sqlite3_bind_int(st, 1, target);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, kind);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            status = sql_fail(s, rc, err, "add %s feature '%s'", tname, name);
            goto done;
        }
        if (sqlite3_changes(s->db) == 1) {
            fid = sqlite3_last_insert_rowid(s->db);
        } else {
            if ((status = stmt_get(s, ST_FEATURE_SELECT, &st, err)) != TROVE_OK)
                goto done;
            sqlite3_bind_int(st, 1, target);
            sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            fid = sqlite3_column_int64(st, 0);
            cur_kind = sqlite3_column_int64(st, 1);
            sqlite3_reset(st);
            if (rc != SQLITE_ROW) {
                status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                                  "find %s feature '%s'", tname, name);
                goto done;
            }
        }
        c->ids[slot] = fid;
        c->aux[slot][0] = (uint64_t)cur_kind;
    }
    if (cur_kind != kind)
        status = trove_error_set(err, TROVE_EINVAL,
                                 "%s: %s feature '%s' is %s, not %s", base->name,
                                 tname, name, kind_name((int)cur_kind),
                                 kind_name(kind));
done:
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK)
        *id = fid;
    return status;
}

static int sq_feature_set(trove_store *base, int target, int64_t entity_id,
                          int64_t feature_id, double value, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    const char *tname = target == TROVE_FEATURE_USER ? "user" : "item";
    sqlite3_stmt *st = NULL;
    int rc, status;
    if (s->in_txn && s->txn_aborted)
        return trove_error_set(err, TROVE_ESTORE,
                               "%s: the transaction was rolled back after an "
                               "earlier error; roll back and begin again",
                               base->name);
    status = stmt_get(s, target == TROVE_FEATURE_USER ? ST_USER_FEATURE_SET
                                                      : ST_ITEM_FEATURE_SET,
                      &st, err);
    if (status != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, entity_id);
    sqlite3_bind_int64(st, 2, feature_id);
    sqlite3_bind_double(st, 3, value);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sql_fail(s, rc, err, rc == SQLITE_CONSTRAINT_FOREIGNKEY
                        ? "%s %lld not found (setting feature %lld)"
                        : "%s %lld: set feature %lld",
                        tname, (long long)entity_id, (long long)feature_id);
    if (sqlite3_changes(s->db) == 0)
        return trove_error_set(err, TROVE_ENOTFOUND,
                               "%s: feature %lld is not a%s %s feature",
                               base->name, (long long)feature_id,
                               target == TROVE_FEATURE_USER ? "" : "n", tname);
    return TROVE_OK;
}

static int sq_features_foreach(trove_store *base, int target,
                               trove_feature_fn fn, void *ud, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;
    const char *sql = target == TROVE_FEATURE_USER
        ? "SELECT v.user_id, v.feature_id, f.name, f.kind, v.value "
          "FROM user_features v JOIN features f ON f.id = v.feature_id "
          "ORDER BY v.user_id, v.feature_id"
        : "SELECT v.item_id, v.feature_id, f.name, f.kind, v.value "
          "FROM item_features v JOIN features f ON f.id = v.feature_id "
          "ORDER BY v.item_id, v.feature_id";
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "list features");
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_feature_value fv;
        fv.entity_id = sqlite3_column_int64(st, 0);
        fv.feature_id = sqlite3_column_int64(st, 1);
        fv.name = col_text(st, 2);
        fv.kind = sqlite3_column_int(st, 3);
        fv.value = sqlite3_column_double(st, 4);
        if (fv.name == NULL) {
            status = nomem(s, "list features", err);
            goto done;
        }
        if ((status = fn(ud, &fv)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list features");
done:
    sqlite3_finalize(st);
    return status;
}

/* ---------------------------------------------------------------- events */

/* TROVE_OK if row `id` of the table behind `which` exists, TROVE_ENOTFOUND
 * if not. */
static int check_known(sqlite_store *s, enum known_id which, int64_t id,
                       trove_error *err)
{
    static const enum stmt_id probe[K_COUNT] = {ST_USER_EXISTS, ST_ITEM_EXISTS,
                                                ST_MARKET_EXISTS};
    sqlite3_stmt *st = NULL;
    int rc, status;
    if (known_has(&s->known[which], id))
        return TROVE_OK;
    if ((status = stmt_get(s, probe[which], &st, err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return TROVE_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return sql_fail(s, rc, err, "look up id %lld", (long long)id);
    known_add(&s->known[which], id);
    return TROVE_OK;
}

static int sq_event_add(trove_store *base, const trove_event *ev, int *inserted,
                        trove_error *err)
{
    static const char *const what[K_COUNT] = {"user", "item", "market"};
    sqlite_store *s = (sqlite_store *)base;
    const int64_t ids[K_COUNT] = {ev->user_id, ev->item_id, ev->market_id};
    sqlite3_stmt *st = NULL;
    int rc, status;
    if (s->in_txn && s->txn_aborted)
        return trove_error_set(err, TROVE_ESTORE,
                               "%s: the transaction was rolled back after an "
                               "earlier error; roll back and begin again",
                               base->name);
    for (int k = 0; k < K_COUNT; k++) {
        if (ids[k] == 0)                   /* only the market may be 0 */
            continue;
        status = check_known(s, (enum known_id)k, ids[k], err);
        if (status == TROVE_ENOTFOUND)
            return trove_error_set(err, status,
                                   "%s: event %llu: %s %lld is not in the store",
                                   base->name, (unsigned long long)ev->id,
                                   what[k], (long long)ids[k]);
        if (status != TROVE_OK)
            return status;
    }
    status = stmt_get(s, ST_EVENT_INSERT, &st, err);
    if (status != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, (int64_t)ev->id);
    sqlite3_bind_int64(st, 2, ev->user_id);
    sqlite3_bind_int64(st, 3, ev->item_id);
    sqlite3_bind_int(st, 4, ev->type);
    sqlite3_bind_double(st, 5, ev->value);
    sqlite3_bind_int64(st, 6, ev->ts);
    sqlite3_bind_int64(st, 7, ev->market_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sql_fail(s, rc, err, "add event %llu (user %lld, item %lld, "
                        "market %lld)", (unsigned long long)ev->id,
                        (long long)ev->user_id, (long long)ev->item_id,
                        (long long)ev->market_id);
    if (inserted)
        *inserted = sqlite3_changes(s->db) == 1;
    return TROVE_OK;
}

/* Append the WHERE clause of filter f to sql (n bytes used of size);
 * parameters ?1..?4 as bound by events_filter_bind. Returns the new n. */
static size_t events_filter_sql(const trove_event_filter *f, char *sql,
                                size_t n, size_t size)
{
    const char *sep = " WHERE ";
    if (f->market_id != 0) {
        n += (size_t)snprintf(sql + n, size - n, "%smarket_id = ?1", sep);
        sep = " AND ";
    }
    if (f->ts_from != 0) {
        n += (size_t)snprintf(sql + n, size - n, "%sts >= ?2", sep);
        sep = " AND ";
    }
    if (f->ts_to != 0) {
        n += (size_t)snprintf(sql + n, size - n, "%sts < ?3", sep);
        sep = " AND ";
    }
    if (f->type_mask != 0)
        n += (size_t)snprintf(sql + n, size - n, "%s((1 << type) & ?4) != 0",
                              sep);
    return n;
}

static void events_filter_bind(const trove_event_filter *f, sqlite3_stmt *st)
{
    if (f->market_id != 0)
        sqlite3_bind_int64(st, 1, f->market_id);
    if (f->ts_from != 0)
        sqlite3_bind_int64(st, 2, f->ts_from);
    if (f->ts_to != 0)
        sqlite3_bind_int64(st, 3, f->ts_to);
    if (f->type_mask != 0)
        sqlite3_bind_int64(st, 4, (int64_t)f->type_mask);
}

/* The event of the current row of a statement selecting id, user_id,
 * item_id, type, value, ts, market_id (in that order). */
static void event_from_row(sqlite3_stmt *st, trove_event *ev)
{
    ev->id = (uint64_t)sqlite3_column_int64(st, 0);
    ev->user_id = sqlite3_column_int64(st, 1);
    ev->item_id = sqlite3_column_int64(st, 2);
    ev->type = sqlite3_column_int(st, 3);
    ev->value = sqlite3_column_double(st, 4);
    ev->ts = sqlite3_column_int64(st, 5);
    ev->market_id = sqlite3_column_int64(st, 6);
}

static int sq_events_foreach(trove_store *base, const trove_event_filter *filter,
                             trove_event_fn fn, void *ud, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    trove_event_filter none = {0, 0, 0, 0};
    const trove_event_filter *f = filter ? filter : &none;
    char sql[512];
    size_t n;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;

    n = (size_t)snprintf(sql, sizeof sql, "%s",
                         "SELECT id, user_id, item_id, type, value, ts, "
                         "ifnull(market_id, 0) FROM events");
    n = events_filter_sql(f, sql, n, sizeof sql);
    snprintf(sql + n, sizeof sql - n, " ORDER BY ts, id");

    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "list events");
        goto done;
    }
    events_filter_bind(f, st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_event ev;
        event_from_row(st, &ev);
        if ((status = fn(ud, &ev)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list events");
done:
    sqlite3_finalize(st);
    return status;
}

/* A time window alone is counted on the events_ts index without reading
 * the rows; a market or type condition reads them. */
static int sq_events_count(trove_store *base, const trove_event_filter *filter,
                           uint64_t *count, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    trove_event_filter none = {0, 0, 0, 0};
    const trove_event_filter *f = filter ? filter : &none;
    char sql[512];
    size_t n;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;

    n = (size_t)snprintf(sql, sizeof sql, "SELECT count(*) FROM events");
    events_filter_sql(f, sql, n, sizeof sql);
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "count events");
        goto done;
    }
    events_filter_bind(f, st);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err,
                          "count events");
        goto done;
    }
    *count = (uint64_t)sqlite3_column_int64(st, 0);
done:
    sqlite3_finalize(st);
    return status;
}

/* ----------------------------------------------------------------- stats */

_Static_assert(TROVE_STATS_MAX_MARKETS == 256,
               "the LIMIT of the market stats query must follow the array");

static int stats_read(sqlite_store *s, trove_store_stats *st_out,
                      trove_error *err)
{
    static const char *const counts_sql =
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM items), "
        "(SELECT count(*) FROM markets), "
        "(SELECT count(*) FROM features WHERE target = 1), "
        "(SELECT count(*) FROM features WHERE target = 2), "
        "(SELECT count(*) FROM model_versions), (SELECT count(*) FROM cycles), "
        "(SELECT ifnull(sum(active), 0) FROM items), "
        "(SELECT ifnull(sum(pinned), 0) FROM items), "
        "(SELECT ifnull(sum(blocked), 0) FROM items), "
        "(SELECT ifnull(min(ts), 0) FROM events), "
        "(SELECT ifnull(max(ts), 0) FROM events)";
    static const char *const types_sql =
        "SELECT type, count(*) FROM events GROUP BY type";
    static const char *const markets_sql =
        "SELECT m.code, "
        "(SELECT count(*) FROM users u WHERE u.market_id = m.id), "
        "ifnull(e.n, 0) AS n FROM markets m LEFT JOIN "
        "(SELECT market_id, count(*) AS n FROM events "
        "WHERE market_id IS NOT NULL GROUP BY market_id) e "
        "ON e.market_id = m.id ORDER BY n DESC, m.code LIMIT 256";
    trove_store_stats *o = st_out;
    sqlite3_stmt *st = NULL;
    int rc, status = TROVE_OK;

    rc = sqlite3_prepare_v2(s->db, counts_sql, -1, &st, NULL);
    if (rc != SQLITE_OK || (rc = sqlite3_step(st)) != SQLITE_ROW)
        goto sql_error;
    o->users = (uint64_t)sqlite3_column_int64(st, 0);
    o->items = (uint64_t)sqlite3_column_int64(st, 1);
    o->markets = (uint64_t)sqlite3_column_int64(st, 2);
    o->user_features = (uint64_t)sqlite3_column_int64(st, 3);
    o->item_features = (uint64_t)sqlite3_column_int64(st, 4);
    o->model_versions = (uint64_t)sqlite3_column_int64(st, 5);
    o->cycles = (uint64_t)sqlite3_column_int64(st, 6);
    o->items_active = (uint64_t)sqlite3_column_int64(st, 7);
    o->items_pinned = (uint64_t)sqlite3_column_int64(st, 8);
    o->items_blocked = (uint64_t)sqlite3_column_int64(st, 9);
    o->first_ts = sqlite3_column_int64(st, 10);
    o->last_ts = sqlite3_column_int64(st, 11);
    sqlite3_finalize(st);
    st = NULL;

    rc = sqlite3_prepare_v2(s->db, types_sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto sql_error;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int type = sqlite3_column_int(st, 0);
        uint64_t n = (uint64_t)sqlite3_column_int64(st, 1);
        if (type >= 1 && type <= TROVE_EVENT_TYPE_MAX)
            o->events_by_type[type] = n;
        o->events += n;
    }
    if (rc != SQLITE_DONE)
        goto sql_error;
    sqlite3_finalize(st);
    st = NULL;

    rc = sqlite3_prepare_v2(s->db, markets_sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto sql_error;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
           o->n_market_stats < TROVE_STATS_MAX_MARKETS) {
        trove_store_market_stats *m = &o->market_stats[o->n_market_stats++];
        const char *code = col_text(st, 0);
        if (code == NULL) {
            status = nomem(s, "stats", err);
            goto done;
        }
        snprintf(m->code, sizeof m->code, "%s", code);
        m->users = (uint64_t)sqlite3_column_int64(st, 1);
        m->events = (uint64_t)sqlite3_column_int64(st, 2);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto sql_error;
    goto done;
sql_error:
    status = sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, "stats");
done:
    sqlite3_finalize(st);
    return status;
}

static int sq_stats_get(trove_store *base, trove_store_stats *out,
                        trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    trove_store_stats *tmp = trove_calloc(1, sizeof *tmp);
    int own = 0, status;
    if (tmp == NULL)
        return nomem(s, "stats", err);
    /* One read transaction so that all counts describe the same state. */
    if (!s->in_txn) {
        if ((status = exec(s, "BEGIN", err)) != TROVE_OK)
            goto done;
        own = 1;
    }
    tmp->schema_version = s->version;
    status = stats_read(s, tmp, err);
    if (own)
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (status == TROVE_OK)
        *out = *tmp;
done:
    trove_free(tmp);
    return status;
}

/* ---------------------------------------------------- registry and cycles */

static int txn_usable(sqlite_store *s, trove_error *err)
{
    if (s->in_txn && s->txn_aborted)
        return trove_error_set(err, TROVE_ESTORE,
                               "%s: the transaction was rolled back after an "
                               "earlier error; roll back and begin again",
                               s->base.name);
    return TROVE_OK;
}

static int prep(sqlite_store *s, const char *sql, sqlite3_stmt **st,
                const char *what, trove_error *err)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return sql_fail(s, rc, err, "%s", what);
    }
    return TROVE_OK;
}

/* Market 0 is stored as NULL (a model for all markets). */
static void bind_market(sqlite3_stmt *st, int i, int64_t market_id)
{
    if (market_id == 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, market_id);
}

/* Step a statement that must return exactly one row; `found` (may be NULL)
 * tells whether it did, else no row is an error. */
static int step_row(sqlite_store *s, sqlite3_stmt *st, int *found,
                    const char *what, trove_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (found)
            *found = 1;
        return TROVE_OK;
    }
    if (rc == SQLITE_DONE && found) {
        *found = 0;
        return TROVE_OK;
    }
    return sql_fail(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, err, "%s", what);
}

static int step_done(sqlite_store *s, sqlite3_stmt *st, const char *what,
                     trove_error *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return sql_fail(s, rc, err, "%s", what);
    return TROVE_OK;
}

static int sq_model_register(trove_store *base, const trove_model_version *mv,
                             int *version, int64_t *id, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int own = 0, status, v = 0;
    int64_t new_id = 0;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    if ((status = prep(s, "SELECT ifnull(max(version), 0) + 1 FROM model_versions "
                       "WHERE market_id IS ?1", &st, "register model", err)) != TROVE_OK)
        goto done;
    bind_market(st, 1, mv->market_id);
    if ((status = step_row(s, st, NULL, "register model", err)) != TROVE_OK)
        goto done;
    v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if ((status = prep(s, "INSERT INTO model_versions(market_id, version, "
                       "created_ts, family, path, config_hash, data_fingerprint, "
                       "metrics_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                       &st, "register model", err)) != TROVE_OK)
        goto done;
    bind_market(st, 1, mv->market_id);
    sqlite3_bind_int(st, 2, v);
    sqlite3_bind_int64(st, 3, mv->created_ts);
    sqlite3_bind_text(st, 4, mv->family, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, mv->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, mv->config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, mv->data_fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, mv->metrics_json ? mv->metrics_json : "{}", -1,
                      SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        int rc = sqlite3_errcode(s->db);
        status = sql_fail(s, rc, err, rc == SQLITE_CONSTRAINT_FOREIGNKEY
                          ? "register model: no market %lld in the store"
                          : "register model (market %lld)",
                          (long long)mv->market_id);
        goto done;
    }
    new_id = sqlite3_last_insert_rowid(s->db);
done:
    sqlite3_finalize(st);
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK) {
        *version = v;
        if (id)
            *id = new_id;
    }
    return status;
}

#define MODEL_COLUMNS "id, ifnull(market_id, 0), version, created_ts, family, " \
                      "path, config_hash, data_fingerprint, metrics_json, "     \
                      "active, pruned"

static int model_from_row(sqlite3_stmt *st, trove_model_version *mv)
{
    mv->id = sqlite3_column_int64(st, 0);
    mv->market_id = sqlite3_column_int64(st, 1);
    mv->version = sqlite3_column_int(st, 2);
    mv->created_ts = sqlite3_column_int64(st, 3);
    mv->family = col_text(st, 4);
    mv->path = col_text(st, 5);
    mv->config_hash = col_text(st, 6);
    mv->data_fingerprint = col_text(st, 7);
    mv->metrics_json = col_text(st, 8);
    mv->active = sqlite3_column_int(st, 9);
    mv->pruned = sqlite3_column_int(st, 10);
    return mv->family && mv->path && mv->config_hash && mv->data_fingerprint &&
           mv->metrics_json ? TROVE_OK : TROVE_ENOMEM;
}

static int sq_models_foreach(trove_store *base, int64_t market_id,
                             trove_model_version_fn fn, void *ud,
                             trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status;
    if ((status = prep(s, "SELECT " MODEL_COLUMNS " FROM model_versions "
                       "WHERE market_id IS ?1 ORDER BY version DESC", &st,
                       "list models", err)) != TROVE_OK)
        return status;
    bind_market(st, 1, market_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_model_version mv;
        if (model_from_row(st, &mv) != TROVE_OK) {
            status = nomem(s, "list models", err);
            goto done;
        }
        if ((status = fn(ud, &mv)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list models");
done:
    sqlite3_finalize(st);
    return status;
}

/* id, active and pruned of `version` of market_id; *found = 0 if absent. */
static int model_lookup(sqlite_store *s, int64_t market_id, int version,
                        int64_t *id, int *active, int *pruned, int *found,
                        trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int status = prep(s, "SELECT id, active, pruned FROM model_versions "
                      "WHERE market_id IS ?1 AND version = ?2", &st,
                      "find model version", err);
    if (status != TROVE_OK)
        return status;
    bind_market(st, 1, market_id);
    sqlite3_bind_int(st, 2, version);
    if ((status = step_row(s, st, found, "find model version", err)) == TROVE_OK &&
        *found) {
        *id = sqlite3_column_int64(st, 0);
        *active = sqlite3_column_int(st, 1);
        *pruned = sqlite3_column_int(st, 2);
    }
    sqlite3_finalize(st);
    return status;
}

/* Internal id and number of the active version; *found = 0 if none. */
static int model_current(sqlite_store *s, int64_t market_id, int64_t *id,
                         int *version, int *found, trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int status = prep(s, "SELECT id, version FROM model_versions "
                      "WHERE market_id IS ?1 AND active = 1", &st,
                      "find active model", err);
    if (status != TROVE_OK)
        return status;
    bind_market(st, 1, market_id);
    if ((status = step_row(s, st, found, "find active model", err)) == TROVE_OK &&
        *found) {
        *id = sqlite3_column_int64(st, 0);
        *version = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    return status;
}

/* Clear the market's active flag and set it on model `id`: two statements,
 * since the unique index on active versions is checked row by row. */
static int model_set_active(sqlite_store *s, int64_t market_id, int64_t id,
                            trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int status = prep(s, "UPDATE model_versions SET active = 0 "
                      "WHERE market_id IS ?1 AND active = 1", &st,
                      "activate model", err);
    if (status != TROVE_OK)
        return status;
    bind_market(st, 1, market_id);
    status = step_done(s, st, "activate model", err);
    sqlite3_finalize(st);
    if (status != TROVE_OK ||
        (status = prep(s, "UPDATE model_versions SET active = 1 WHERE id = ?1",
                       &st, "activate model", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, id);
    status = step_done(s, st, "activate model", err);
    sqlite3_finalize(st);
    return status;
}

static int sq_model_activate(trove_store *base, int64_t market_id, int version,
                             trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    int own = 0, status, active = 0, pruned = 0, found = 0;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    if ((status = model_lookup(s, market_id, version, &id, &active, &pruned,
                               &found, err)) != TROVE_OK)
        goto done;
    if (!found || pruned) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: market %lld: model "
                                 "version %d %s", base->name, (long long)market_id,
                                 version, found ? "was pruned (its file is gone)"
                                                : "does not exist");
        goto done;
    }
    if (active)
        goto done;
    if ((status = model_set_active(s, market_id, id, err)) != TROVE_OK ||
        (status = prep(s, "INSERT INTO model_activations(market_key, "
                       "model_version_id, ts) VALUES (?1, ?2, "
                       "CAST(strftime('%s', 'now') AS INTEGER))", &st,
                       "activate model", err)) != TROVE_OK)
        goto done;
    sqlite3_bind_int64(st, 1, market_id);
    sqlite3_bind_int64(st, 2, id);
    status = step_done(s, st, "activate model", err);
done:
    sqlite3_finalize(st);
    return auto_end(s, own, status, err);
}

static int sq_model_active(trove_store *base, int64_t market_id, int *version,
                           trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    int64_t id = 0;
    int v = 0, found = 0;
    int status = model_current(s, market_id, &id, &v, &found, err);
    if (status != TROVE_OK)
        return status;
    if (!found)
        return trove_error_set(err, TROVE_ENOTFOUND, "%s: market %lld has no "
                               "active model version", base->name,
                               (long long)market_id);
    *version = v;
    return TROVE_OK;
}

static int sq_model_rollback(trove_store *base, int64_t market_id, int *version,
                             trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int64_t cur_id = 0, target_id = 0, target_seq = 0;
    int own = 0, rc, status, cur_v = 0, target_v = 0, found = 0;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    if ((status = model_current(s, market_id, &cur_id, &cur_v, &found, err)) != TROVE_OK)
        goto done;
    if (!found) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: market %lld has no "
                                 "active model version to roll back",
                                 base->name, (long long)market_id);
        goto done;
    }
    /* Walk the stack down from the top, past the current version and any
     * pruned ones: the first other entry is the target. Nothing is written
     * until it is found, so a failed rollback changes nothing. */
    if ((status = prep(s, "SELECT a.seq, a.model_version_id, v.version, v.pruned "
                       "FROM model_activations a JOIN model_versions v "
                       "ON v.id = a.model_version_id WHERE a.market_key = ?1 "
                       "ORDER BY a.seq DESC", &st, "roll back model",
                       err)) != TROVE_OK)
        goto done;
    sqlite3_bind_int64(st, 1, market_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t vid = sqlite3_column_int64(st, 1);
        if (vid == cur_id || sqlite3_column_int(st, 3))
            continue;
        target_seq = sqlite3_column_int64(st, 0);
        target_id = vid;
        target_v = sqlite3_column_int(st, 2);
        break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        status = sql_fail(s, rc, err, "roll back model");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (target_id == 0) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: market %lld: no "
                                 "earlier model version to roll back to from "
                                 "version %d", base->name, (long long)market_id,
                                 cur_v);
        goto done;
    }
    if ((status = prep(s, "DELETE FROM model_activations WHERE market_key = ?1 "
                       "AND seq > ?2", &st, "roll back model", err)) != TROVE_OK)
        goto done;
    sqlite3_bind_int64(st, 1, market_id);
    sqlite3_bind_int64(st, 2, target_seq);
    if ((status = step_done(s, st, "roll back model", err)) != TROVE_OK)
        goto done;
    status = model_set_active(s, market_id, target_id, err);
done:
    sqlite3_finalize(st);
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK && version)
        *version = target_v;
    return status;
}

static int sq_models_prune(trove_store *base, int64_t market_id, int keep,
                           char ***paths_out, size_t *n_out, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL, *upd = NULL;
    char **paths = NULL;
    size_t n = 0;
    int own = 0, rc, status, kept = 0;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    if ((status = prep(s, "SELECT id, path, active FROM model_versions "
                       "WHERE market_id IS ?1 AND pruned = 0 ORDER BY version DESC",
                       &st, "prune models", err)) != TROVE_OK ||
        (status = prep(s, "UPDATE model_versions SET pruned = 1 WHERE id = ?1",
                       &upd, "prune models", err)) != TROVE_OK)
        goto done;
    bind_market(st, 1, market_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *path = col_text(st, 1);
        char **grown;
        if (sqlite3_column_int(st, 2)) {   /* the active one always stays */
            kept++;
            continue;
        }
        if (kept < keep) {
            kept++;
            continue;
        }
        grown = trove_realloc(paths, (n + 1) * sizeof *paths);
        if (path == NULL || grown == NULL) {
            if (grown)
                paths = grown;
            status = nomem(s, "prune models", err);
            goto done;
        }
        paths = grown;
        if ((paths[n] = trove_strdup(path)) == NULL) {
            status = nomem(s, "prune models", err);
            goto done;
        }
        n++;
        sqlite3_bind_int64(upd, 1, sqlite3_column_int64(st, 0));
        status = step_done(s, upd, "prune models", err);
        sqlite3_reset(upd);
        if (status != TROVE_OK)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "prune models");
done:
    sqlite3_finalize(st);
    sqlite3_finalize(upd);
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK) {
        *paths_out = paths;
        *n_out = n;
    } else {
        trove_store_strings_free(paths, n);
    }
    return status;
}

static int sq_cycle_create(trove_store *base, const trove_cycle *c, int replace,
                           int64_t *id, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int64_t old_id = 0, new_id = 0;
    int own = 0, status, found = 0;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    if ((status = prep(s, "SELECT id FROM cycles WHERE market_id = ?1 AND "
                       "cycle_key = ?2", &st, "create cycle", err)) != TROVE_OK)
        goto done;
    sqlite3_bind_int64(st, 1, c->market_id);
    sqlite3_bind_text(st, 2, c->key, -1, SQLITE_STATIC);
    if ((status = step_row(s, st, &found, "create cycle", err)) != TROVE_OK)
        goto done;
    if (found)
        old_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (found && !replace) {
        status = trove_error_set(err, TROVE_EEXIST, "%s: market %lld already has "
                                 "cycle '%s' (id %lld); replace it explicitly or "
                                 "use a new key", base->name,
                                 (long long)c->market_id, c->key,
                                 (long long)old_id);
        goto done;
    }
    if (found) {
        if ((status = prep(s, "DELETE FROM assignment_lists WHERE cycle_id = ?1", &st,
                           "replace cycle", err)) != TROVE_OK)
            goto done;
        sqlite3_bind_int64(st, 1, old_id);
        if ((status = step_done(s, st, "replace cycle", err)) != TROVE_OK)
            goto done;
        sqlite3_finalize(st);
        st = NULL;
        status = prep(s, "UPDATE cycles SET created_ts = ?3, model_version_id = "
                      "nullif(?4, 0), salt = ?5, seed = ?6, test_share = ?7, "
                      "eligible_items = ?8, status = 'open' WHERE id = ?9", &st,
                      "replace cycle", err);
    } else {
        status = prep(s, "INSERT INTO cycles(market_id, cycle_key, created_ts, "
                      "model_version_id, salt, seed, test_share, eligible_items) "
                      "VALUES (?1, ?2, ?3, nullif(?4, 0), ?5, ?6, ?7, ?8)", &st,
                      "create cycle", err);
    }
    if (status != TROVE_OK)
        goto done;
    if (!found) {
        sqlite3_bind_int64(st, 1, c->market_id);
        sqlite3_bind_text(st, 2, c->key, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 3, c->created_ts);
    sqlite3_bind_int64(st, 4, c->model_version_id);
    sqlite3_bind_int64(st, 5, (int64_t)text_hash(c->salt));
    sqlite3_bind_text(st, 6, c->salt, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 7, c->test_share);
    sqlite3_bind_int64(st, 8, c->eligible_items);
    if (found)
        sqlite3_bind_int64(st, 9, old_id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        int rc = sqlite3_errcode(s->db);
        status = sql_fail(s, rc, err, rc == SQLITE_CONSTRAINT_FOREIGNKEY
                          ? "cycle '%s': no market %lld or model version %lld "
                            "in the store"
                          : "create cycle '%s' (market %lld, model %lld)",
                          c->key, (long long)c->market_id,
                          (long long)c->model_version_id);
        goto done;
    }
    new_id = found ? old_id : sqlite3_last_insert_rowid(s->db);
done:
    sqlite3_finalize(st);
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK)
        *id = new_id;
    return status;
}

#define CYCLE_COLUMNS "c.id, c.market_id, c.cycle_key, c.created_ts, "      \
                      "ifnull(c.model_version_id, 0), c.seed, c.test_share, " \
                      "c.eligible_items"

static int cycle_from_row(sqlite3_stmt *st, trove_cycle *c)
{
    c->id = sqlite3_column_int64(st, 0);
    c->market_id = sqlite3_column_int64(st, 1);
    c->key = col_text(st, 2);
    c->created_ts = sqlite3_column_int64(st, 3);
    c->model_version_id = sqlite3_column_int64(st, 4);
    c->salt = col_text(st, 5);
    c->test_share = sqlite3_column_double(st, 6);
    c->eligible_items = sqlite3_column_int64(st, 7);
    return c->key && c->salt ? TROVE_OK : TROVE_ENOMEM;
}

static int sq_cycle_find(trove_store *base, int64_t market_id, const char *key,
                         trove_cycle *out, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    trove_cycle c;
    int status, found = 0;
    if ((status = prep(s, "SELECT " CYCLE_COLUMNS " FROM cycles c "
                       "WHERE c.market_id = ?1 AND c.cycle_key = ?2", &st,
                       "find cycle", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, market_id);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if ((status = step_row(s, st, &found, "find cycle", err)) != TROVE_OK)
        goto done;
    if (!found) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: market %lld has no "
                                 "cycle '%s'", base->name, (long long)market_id,
                                 key);
        goto done;
    }
    if (cycle_from_row(st, &c) != TROVE_OK ||
        scratch_copy2(s, &c.key, &c.salt) != TROVE_OK) {
        status = nomem(s, "find cycle", err);
        goto done;
    }
    *out = c;
done:
    sqlite3_finalize(st);
    return status;
}

static int sq_cycles_foreach(trove_store *base, int64_t market_id,
                             trove_cycle_fn fn, void *ud, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status;
    if ((status = prep(s, "SELECT " CYCLE_COLUMNS " FROM cycles c JOIN markets m "
                       "ON m.id = c.market_id WHERE ?1 = 0 OR c.market_id = ?1 "
                       "ORDER BY m.code, c.created_ts, c.id", &st, "list cycles",
                       err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, market_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_cycle c;
        if (cycle_from_row(st, &c) != TROVE_OK) {
            status = nomem(s, "list cycles", err);
            goto done;
        }
        if ((status = fn(ud, &c)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list cycles");
done:
    sqlite3_finalize(st);
    return status;
}

/* ------------------------------------------------------ assignment lists */
/* Schema 5 stores one row per (cycle, user): the arm and the whole ranked
 * list as a packed blob (docs/cycles.md, "Storage"). A cycle of
 * 1M users x 10 offers is then 1M rows instead of 10M, each written by one
 * prepared statement in key order; the name `assignments` is a view that
 * unpacks the lists through the table-valued function
 * trove_assignment_rows(list), registered on every connection, so SQL over
 * assignments (the A/B counts) reads as before.
 *
 * Blob: n entries of LIST_ENTRY bytes, in rank order, little-endian:
 *   int64 item_id | float64 score (NaN = none) | uint32 rank | uint8 source.
 * Ranks and items are unique within a list. */
#define LIST_ENTRY 21

typedef struct list_entry {
    int64_t item_id;
    double score;
    uint32_t rank;
    uint8_t source;
} list_entry;

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static void entry_encode(unsigned char *p, const list_entry *e)
{
    uint64_t bits;
    put_u64(p, (uint64_t)e->item_id);
    memcpy(&bits, &e->score, sizeof bits);
    put_u64(p + 8, bits);
    for (int k = 0; k < 4; k++)
        p[16 + k] = (unsigned char)(e->rank >> (8 * k));
    p[20] = e->source;
}

static void entry_decode(const unsigned char *p, list_entry *e)
{
    uint64_t bits = get_u64(p + 8);
    e->item_id = (int64_t)get_u64(p);
    memcpy(&e->score, &bits, sizeof bits);
    e->rank = (uint32_t)p[16] | (uint32_t)p[17] << 8 | (uint32_t)p[18] << 16 |
              (uint32_t)p[19] << 24;
    e->source = p[20];
}

static int entry_rank_cmp(const void *a, const void *b)
{
    uint32_t x = ((const list_entry *)a)->rank, y = ((const list_entry *)b)->rank;
    return (x > y) - (x < y);
}

/* Sort a list by rank; 0 if its ranks and items are unique. Lists are
 * short (number_of_predictions), so the item check is quadratic. */
static int list_normalize(list_entry *v, size_t n)
{
    qsort(v, n, sizeof *v, entry_rank_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && v[i].rank == v[i - 1].rank)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (v[j].item_id == v[i].item_id)
                return -1;
    }
    return 0;
}

/* -- trove_assignment_rows(list): one row per entry of a packed list. */
typedef struct rows_cursor {
    sqlite3_vtab_cursor base;
    unsigned char *buf;        /* copy of the list (sqlite3_malloc) */
    int n, i;
} rows_cursor;

enum { ROWS_RANK, ROWS_ITEM, ROWS_SCORE, ROWS_SOURCE, ROWS_LIST };

static int rows_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **errmsg)
{
    sqlite3_vtab *vt;
    int rc;
    (void)aux, (void)argc, (void)argv, (void)errmsg;
    rc = sqlite3_declare_vtab(db, "CREATE TABLE x(rank INTEGER, item_id INTEGER, "
                              "score REAL, source INTEGER, list HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    vt = sqlite3_malloc(sizeof *vt);
    if (vt == NULL)
        return SQLITE_NOMEM;
    memset(vt, 0, sizeof *vt);
    *out = vt;
    return SQLITE_OK;
}

static int rows_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

/* The list argument is required: a plan without a usable equality on it is
 * refused (SQLITE_CONSTRAINT makes SQLite try another join order). */
static int rows_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    int unusable = 0;
    (void)vt;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->iColumn != ROWS_LIST)
            continue;
        if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ) {
            unusable = 1;
            continue;
        }
        info->aConstraintUsage[i].argvIndex = 1;
        info->aConstraintUsage[i].omit = 1;
        info->idxNum = 1;
        info->estimatedCost = 10;
        info->estimatedRows = 10;
        return SQLITE_OK;
    }
    return unusable ? SQLITE_CONSTRAINT : SQLITE_ERROR;
}

static int rows_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    rows_cursor *c = sqlite3_malloc(sizeof *c);
    (void)vt;
    if (c == NULL)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int rows_close(sqlite3_vtab_cursor *cur)
{
    rows_cursor *c = (rows_cursor *)cur;
    sqlite3_free(c->buf);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str,
                       int argc, sqlite3_value **argv)
{
    rows_cursor *c = (rows_cursor *)cur;
    int bytes;
    (void)idx, (void)idx_str;
    sqlite3_free(c->buf);
    c->buf = NULL;
    c->n = c->i = 0;
    if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return SQLITE_OK;
    bytes = sqlite3_value_bytes(argv[0]);
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || bytes % LIST_ENTRY != 0) {
        sqlite3_free(cur->pVtab->zErrMsg);
        cur->pVtab->zErrMsg = sqlite3_mprintf("trove_assignment_rows: not an "
                                              "assignment list (%d bytes)", bytes);
        return SQLITE_CORRUPT;
    }
    if (bytes > 0) {
        c->buf = sqlite3_malloc(bytes);
        if (c->buf == NULL)
            return SQLITE_NOMEM;
        memcpy(c->buf, sqlite3_value_blob(argv[0]), (size_t)bytes);
    }
    c->n = bytes / LIST_ENTRY;
    return SQLITE_OK;
}

static int rows_next(sqlite3_vtab_cursor *cur)
{
    ((rows_cursor *)cur)->i++;
    return SQLITE_OK;
}

static int rows_eof(sqlite3_vtab_cursor *cur)
{
    rows_cursor *c = (rows_cursor *)cur;
    return c->i >= c->n;
}

static int rows_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    rows_cursor *c = (rows_cursor *)cur;
    list_entry e;
    entry_decode(c->buf + (size_t)c->i * LIST_ENTRY, &e);
    switch (col) {
    case ROWS_RANK: sqlite3_result_int64(ctx, e.rank); break;
    case ROWS_ITEM: sqlite3_result_int64(ctx, e.item_id); break;
    case ROWS_SCORE:
        if (isnan(e.score))
            sqlite3_result_null(ctx);
        else
            sqlite3_result_double(ctx, e.score);
        break;
    case ROWS_SOURCE: sqlite3_result_int(ctx, e.source); break;
    default:
        sqlite3_result_blob(ctx, c->buf, c->n * LIST_ENTRY, SQLITE_TRANSIENT);
        break;
    }
    return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    *rowid = ((rows_cursor *)cur)->i;
    return SQLITE_OK;
}

/* Eponymous-only (xCreate NULL): usable as trove_assignment_rows(x) with no
 * CREATE VIRTUAL TABLE. */
static const sqlite3_module rows_module = {
    .iVersion = 0,
    .xConnect = rows_connect,
    .xBestIndex = rows_best_index,
    .xDisconnect = rows_disconnect,
    .xOpen = rows_open,
    .xClose = rows_close,
    .xFilter = rows_filter,
    .xNext = rows_next,
    .xEof = rows_eof,
    .xColumn = rows_column,
    .xRowid = rows_rowid,
};

/* -- trove_assignment_pack(rank, item_id, score, source): the aggregate that
 * packs the rows of schema 3 into lists during the migration to schema 5. */
typedef struct pack_acc {
    list_entry *v;
    size_t n, cap;
    int failed;
} pack_acc;

static void pack_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    pack_acc *a = sqlite3_aggregate_context(ctx, sizeof *a);
    list_entry *e;
    (void)argc;
    if (a == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (a->failed)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        list_entry *v = sqlite3_realloc64(a->v, cap * sizeof *v);
        if (v == NULL) {
            a->failed = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    e = &a->v[a->n++];
    e->rank = (uint32_t)sqlite3_value_int64(argv[0]);
    e->item_id = sqlite3_value_int64(argv[1]);
    e->score = sqlite3_value_type(argv[2]) == SQLITE_NULL
               ? NAN : sqlite3_value_double(argv[2]);
    e->source = (uint8_t)sqlite3_value_int(argv[3]);
}

static void pack_final(sqlite3_context *ctx)
{
    pack_acc *a = sqlite3_aggregate_context(ctx, 0);
    unsigned char *blob;
    if (a == NULL) {
        sqlite3_result_zeroblob(ctx, 0);
        return;
    }
    if (a->failed) {
        sqlite3_result_error_nomem(ctx);
        goto done;
    }
    if (list_normalize(a->v, a->n) != 0) {
        sqlite3_result_error(ctx, "trove_assignment_pack: duplicate rank or item", -1);
        goto done;
    }
    blob = sqlite3_malloc64(a->n * LIST_ENTRY + 1);
    if (blob == NULL) {
        sqlite3_result_error_nomem(ctx);
        goto done;
    }
    for (size_t i = 0; i < a->n; i++)
        entry_encode(blob + i * LIST_ENTRY, &a->v[i]);
    sqlite3_result_blob64(ctx, blob, a->n * LIST_ENTRY, sqlite3_free);
done:
    sqlite3_free(a->v);
    a->v = NULL;
}

/* Register the list function and aggregate on s->db (before migrations and
 * before any statement over the assignments view). */
static int assignment_sql_register(sqlite_store *s, trove_error *err)
{
    int rc = sqlite3_create_module_v2(s->db, "trove_assignment_rows", &rows_module,
                                      NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(s->db, "trove_assignment_pack", 4,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                        NULL, pack_step, pack_final, NULL);
    return rc == SQLITE_OK ? TROVE_OK
                           : sql_fail(s, rc, err, "register assignment functions");
}

/* Known cycle ids within one call (a call usually names one cycle). */
static int check_cycle(sqlite_store *s, int64_t id, int64_t *last_ok,
                       trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int status, found = 0;
    if (id == *last_ok)
        return TROVE_OK;
    if ((status = prep(s, "SELECT 1 FROM cycles WHERE id = ?1", &st,
                       "add assignments", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, id);
    status = step_row(s, st, &found, "add assignments", err);
    sqlite3_finalize(st);
    if (status != TROVE_OK)
        return status;
    if (!found)
        return TROVE_ENOTFOUND;
    *last_ok = id;
    return TROVE_OK;
}

/* Rows [from, to) name the same (cycle, user): one list. */
static size_t group_end(const trove_assignment *rows, size_t from, size_t n)
{
    size_t to = from + 1;
    while (to < n && rows[to].cycle_id == rows[from].cycle_id &&
           rows[to].user_id == rows[from].user_id)
        to++;
    return to;
}

/* Merge rows into the list the (cycle, user) already has (a list written by
 * an earlier call): a rank or an item it holds is TROVE_EEXIST. */
static int list_merge(sqlite_store *s, const trove_assignment *a, list_entry **v,
                      size_t *n, size_t *cap, trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int status, found = 0;
    if ((status = prep(s, "SELECT arm, list FROM assignment_lists WHERE "
                       "cycle_id = ?1 AND user_id = ?2", &st, "add assignments",
                       err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, a->cycle_id);
    sqlite3_bind_int64(st, 2, a->user_id);
    if ((status = step_row(s, st, &found, "add assignments", err)) != TROVE_OK)
        goto done;
    if (found) {
        const unsigned char *p = sqlite3_column_blob(st, 1);
        size_t old = (size_t)sqlite3_column_bytes(st, 1) / LIST_ENTRY;
        if (sqlite3_column_int(st, 0) != a->arm) {
            status = trove_error_set(err, TROVE_EINVAL, "%s: cycle %lld: user %lld "
                                     "is already in the other arm", s->base.name,
                                     (long long)a->cycle_id, (long long)a->user_id);
            goto done;
        }
        if (*n + old > *cap) {
            list_entry *w = trove_realloc(*v, (*n + old) * sizeof *w);
            if (w == NULL) {
                status = nomem(s, "add assignments", err);
                goto done;
            }
            *v = w;
            *cap = *n + old;
        }
        for (size_t i = 0; i < old; i++)
            entry_decode(p + i * LIST_ENTRY, &(*v)[(*n)++]);
    }
done:
    sqlite3_finalize(st);
    return status;
}

#define LIST_CHUNK 16

/* The bulk path: the next LIST_CHUNK lists from rows[*from] in one INSERT.
 * Returns 1 when they went in (*from moves past them), 0 when the caller
 * must take them one by one (fewer lists left, a list that is not clean in
 * itself, or one that exists already: the failed statement changed
 * nothing), or a negative status. *buf (grown as needed) holds the blobs. */
static int add_chunk(sqlite_store *s, const trove_assignment *rows, size_t n,
                     size_t *from, unsigned char **buf, size_t *buf_cap,
                     list_entry *v, trove_error *err)
{
    size_t start[LIST_CHUNK + 1], at = *from, bytes = 0;
    sqlite3_stmt *st = NULL;
    int rc, status;
    /* Bounds of the groups and the size of their blobs. */
    for (int g = 0; g < LIST_CHUNK; g++) {
        size_t to;
        if (at >= n)
            return 0;
        to = group_end(rows, at, n);
        if (to - at > 64)
            return 0;
        start[g] = at;
        bytes += (to - at) * LIST_ENTRY;
        at = to;
    }
    start[LIST_CHUNK] = at;
    if (bytes > *buf_cap) {
        unsigned char *b = trove_realloc(*buf, bytes);
        if (b == NULL)
            return nomem(s, "add assignments", err);
        *buf = b;
        *buf_cap = bytes;
    }
    if ((status = stmt_get(s, ST_ASSIGNMENT_INSERT_MANY, &st, err)) != TROVE_OK)
        return status;
    bytes = 0;
    for (int g = 0; g < LIST_CHUNK; g++) {
        const trove_assignment *a = &rows[start[g]];
        size_t m = start[g + 1] - start[g];
        for (size_t i = 0; i < m; i++) {
            if (a[i].arm != a->arm)
                return 0;
            v[i].item_id = a[i].item_id;
            v[i].score = a[i].score;
            v[i].rank = (uint32_t)a[i].rank;
            v[i].source = (uint8_t)a[i].source;
        }
        if (list_normalize(v, m) != 0)
            return 0;
        for (size_t i = 0; i < m; i++)
            entry_encode(*buf + bytes + i * LIST_ENTRY, &v[i]);
        sqlite3_bind_int64(st, 4 * g + 1, a->cycle_id);
        sqlite3_bind_int64(st, 4 * g + 2, a->user_id);
        sqlite3_bind_int(st, 4 * g + 3, a->arm);
        bytes += m * LIST_ENTRY;
    }
    /* bind the blobs once the buffer no longer moves */
    bytes = 0;
    for (int g = 0; g < LIST_CHUNK; g++) {
        size_t len = (start[g + 1] - start[g]) * LIST_ENTRY;
        sqlite3_bind_blob64(st, 4 * g + 4, *buf + bytes, len, SQLITE_STATIC);
        bytes += len;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE) {
        *from = at;
        return 1;
    }
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return 0;
    return sql_fail(s, rc, err, "add assignments (cycle %lld)",
                    (long long)rows[*from].cycle_id);
}

static int sq_assignments_add(trove_store *base, const trove_assignment *rows,
                              size_t n, trove_error *err)
{
    static const char *const upsert_sql =
        "INSERT INTO assignment_lists(cycle_id, user_id, arm, list) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(cycle_id, user_id) "
        "DO UPDATE SET list = excluded.list";
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    list_entry *v = NULL;
    unsigned char *blob = NULL;
    size_t cap = 0, blob_cap = 0;
    int64_t cycle_ok = 0;
    int own = 0, status, saved = 0;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    /* Every id is checked before anything is written. */
    for (size_t i = 0; i < n; i++) {
        const trove_assignment *a = &rows[i];
        const char *what = "cycle";
        int64_t id = a->cycle_id;
        status = check_cycle(s, a->cycle_id, &cycle_ok, err);
        if (status == TROVE_OK) {
            what = "user";
            id = a->user_id;
            status = check_known(s, K_USERS, a->user_id, err);
        }
        if (status == TROVE_OK) {
            what = "item";
            id = a->item_id;
            status = check_known(s, K_ITEMS, a->item_id, err);
        }
        if (status == TROVE_ENOTFOUND)
            status = trove_error_set(err, status, "%s: assignment %zu: %s %lld is "
                                     "not in the store", base->name, i, what,
                                     (long long)id);
        if (status != TROVE_OK)
            goto done;
    }
    /* A savepoint makes the call all-or-nothing inside the caller's
     * transaction too. */
    if ((status = exec(s, "SAVEPOINT assignments_add", err)) != TROVE_OK)
        goto done;
    saved = 1;
    if ((status = stmt_get(s, ST_ASSIGNMENT_INSERT, &st, err)) != TROVE_OK)
        goto done;
    if ((v = trove_malloc(64 * sizeof *v)) == NULL) {
        status = nomem(s, "add assignments", err);
        goto done;
    }
    cap = 64;
    for (size_t from = 0, to, fast_until = 0; from < n; from = to) {
        const trove_assignment *a;
        size_t m = 0;
        int rc;
        /* Bulk path first; lists it leaves go one by one below, and after
         * a miss the next LIST_CHUNK lists too (no retrying every list). */
        if (from >= fast_until) {
            while ((rc = add_chunk(s, rows, n, &from, &blob, &blob_cap, v, err)) == 1)
                ;
            if (rc < 0) {
                status = rc;
                goto done;
            }
            if (from >= n)
                break;
            fast_until = from;
            for (int g = 0; g < LIST_CHUNK && fast_until < n; g++)
                fast_until = group_end(rows, fast_until, n);
        }
        a = &rows[from];
        to = group_end(rows, from, n);
        if (to - from > cap) {
            list_entry *w = trove_realloc(v, (to - from) * sizeof *w);
            if (w == NULL) {
                status = nomem(s, "add assignments", err);
                goto done;
            }
            v = w;
            cap = to - from;
        }
        for (size_t i = from; i < to; i++) {
            if (rows[i].arm != a->arm) {
                status = trove_error_set(err, TROVE_EINVAL, "%s: cycle %lld: user "
                                         "%lld in both arms", base->name,
                                         (long long)a->cycle_id,
                                         (long long)a->user_id);
                goto done;
            }
            v[m].item_id = rows[i].item_id;
            v[m].score = rows[i].score;
            v[m].rank = (uint32_t)rows[i].rank;
            v[m].source = (uint8_t)rows[i].source;
            m++;
        }
        /* The plain INSERT is the bulk path; a list that exists already is
         * merged (and then rewritten by the upsert). */
        sqlite3_bind_int64(st, 1, a->cycle_id);
        sqlite3_bind_int64(st, 2, a->user_id);
        sqlite3_bind_int(st, 3, a->arm);
        for (int pass = 0; pass < 2; pass++) {
            if (list_normalize(v, m) != 0) {
                status = trove_error_set(err, TROVE_EEXIST, "%s: cycle %lld: user "
                                         "%lld already has rank %d or item %lld",
                                         base->name, (long long)a->cycle_id,
                                         (long long)a->user_id, a->rank,
                                         (long long)a->item_id);
                goto done;
            }
            if (m * LIST_ENTRY > blob_cap) {
                unsigned char *b = trove_realloc(blob, m * LIST_ENTRY);
                if (b == NULL) {
                    status = nomem(s, "add assignments", err);
                    goto done;
                }
                blob = b;
                blob_cap = m * LIST_ENTRY;
            }
            for (size_t i = 0; i < m; i++)
                entry_encode(blob + i * LIST_ENTRY, &v[i]);
            sqlite3_bind_blob64(st, 4, blob, m * LIST_ENTRY, SQLITE_STATIC);
            rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc == SQLITE_DONE)
                break;
            if (rc != SQLITE_CONSTRAINT_PRIMARYKEY || pass > 0) {
                status = sql_fail(s, rc, err, "assignment %zu (cycle %lld, user "
                                  "%lld)", from, (long long)a->cycle_id,
                                  (long long)a->user_id);
                goto done;
            }
            if ((status = list_merge(s, a, &v, &m, &cap, err)) != TROVE_OK ||
                (status = prep(s, upsert_sql, &st, "add assignments", err)) != TROVE_OK)
                goto done;
            sqlite3_bind_int64(st, 1, a->cycle_id);
            sqlite3_bind_int64(st, 2, a->user_id);
            sqlite3_bind_int(st, 3, a->arm);
        }
        if (st != s->stmts[ST_ASSIGNMENT_INSERT]) {
            sqlite3_finalize(st);
            st = s->stmts[ST_ASSIGNMENT_INSERT];
        }
    }
done:
    if (st != NULL && st != s->stmts[ST_ASSIGNMENT_INSERT])
        sqlite3_finalize(st);
    if (saved) {
        if (status != TROVE_OK && !sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK TO assignments_add", NULL, NULL, NULL);
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "RELEASE assignments_add", NULL, NULL, NULL);
    }
    trove_free(v);
    trove_free(blob);
    return auto_end(s, own, status, err);
}

static int sq_assignments_foreach(trove_store *base, int64_t cycle_id,
                                  trove_assignment_fn fn, void *ud,
                                  trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int rc, status;
    if ((status = prep(s, "SELECT user_id, arm, list FROM assignment_lists "
                       "WHERE cycle_id = ?1 ORDER BY user_id", &st,
                       "list assignments", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, cycle_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(st, 2);
        size_t bytes = (size_t)sqlite3_column_bytes(st, 2);
        trove_assignment a;
        if (bytes % LIST_ENTRY != 0) {
            status = trove_error_set(err, TROVE_ECORRUPT, "%s: cycle %lld: user "
                                     "%lld: not an assignment list (%zu bytes)",
                                     base->name, (long long)cycle_id,
                                     (long long)sqlite3_column_int64(st, 0), bytes);
            goto done;
        }
        a.cycle_id = cycle_id;
        a.user_id = sqlite3_column_int64(st, 0);
        a.arm = sqlite3_column_int(st, 1);
        for (size_t i = 0; i < bytes / LIST_ENTRY; i++) {
            list_entry e;
            entry_decode(p + i * LIST_ENTRY, &e);
            a.item_id = e.item_id;
            a.rank = (int)e.rank;
            a.score = e.score;
            a.source = e.source;
            if ((status = fn(ud, &a)) != 0)
                goto done;
        }
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list assignments");
done:
    sqlite3_finalize(st);
    return status;
}

/* Distinct offers and assignments of the five most assigned, per arm
 * (arm >= 0) or for the whole cycle (arm < 0). */
static int ab_concentration(sqlite_store *s, int64_t cycle_id,
                            trove_ab_cycle_counts *o, trove_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc, status, prev_arm = -1, rank = 0;
    if ((status = prep(s, "SELECT l.arm, count(*) AS n FROM assignment_lists l, "
                       "trove_assignment_rows(l.list) a WHERE l.cycle_id = ?1 "
                       "GROUP BY l.arm, a.item_id ORDER BY 1, n DESC", &st,
                       "A/B counts", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, cycle_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int arm = sqlite3_column_int(st, 0);
        trove_ab_arm_counts *a = &o->arm[arm];
        if (arm != prev_arm) {
            prev_arm = arm;
            rank = 0;
        }
        a->distinct_items++;
        if (rank++ < 5)
            a->top5_exposures += (uint64_t)sqlite3_column_int64(st, 1);
    }
    if (rc != SQLITE_DONE) {
        status = sql_fail(s, rc, err, "A/B counts");
        goto done;
    }
    sqlite3_finalize(st);
    if ((status = prep(s, "SELECT count(*) AS n FROM assignment_lists l, "
                       "trove_assignment_rows(l.list) a WHERE l.cycle_id = ?1 "
                       "GROUP BY a.item_id ORDER BY n DESC", &st,
                       "A/B counts", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, cycle_id);
    rank = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        o->distinct_items++;
        if (rank++ < 5)
            o->top5_exposures += (uint64_t)sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "A/B counts");
done:
    sqlite3_finalize(st);
    return status;
}

static int ab_read(sqlite_store *s, int64_t cycle_id, int64_t now,
                   trove_ab_cycle_counts *o, trove_error *err)
{
    static const char *const cycle_sql =
        "SELECT c.market_id, m.code, c.cycle_key, c.created_ts, "
        "ifnull(c.model_version_id, 0), c.test_share, c.eligible_items, "
        "(SELECT min(n.created_ts) FROM cycles n WHERE n.market_id = c.market_id "
        " AND (n.created_ts > c.created_ts OR (n.created_ts = c.created_ts "
        " AND n.id > c.id))), "
        "(SELECT max(p.created_ts) FROM cycles p WHERE p.market_id = c.market_id "
        " AND (p.created_ts < c.created_ts OR (p.created_ts = c.created_ts "
        " AND p.id < c.id))) "
        "FROM cycles c JOIN markets m ON m.id = c.market_id WHERE c.id = ?1";
    /* Per user: n = offers assigned, r = assigned offers redeemed in the
     * window, i = assigned offers with an impression in the window. */
    static const char *const arms_sql =
        "WITH ev AS (SELECT user_id, item_id, max(type = 3) AS red, "
        "  max(type = 1) AS imp FROM events WHERE ts >= ?2 AND ts < ?3 "
        "  AND type IN (1, 3) GROUP BY user_id, item_id), "
        "pu AS (SELECT l.arm AS arm, l.user_id, count(*) AS n, "
        "  ifnull(sum(ev.red), 0) AS r, ifnull(sum(ev.imp), 0) AS i "
        "  FROM assignment_lists l, trove_assignment_rows(l.list) a "
        "  LEFT JOIN ev ON ev.user_id = l.user_id AND ev.item_id = a.item_id "
        "  WHERE l.cycle_id = ?1 GROUP BY l.arm, l.user_id) "
        "SELECT arm, count(*), sum(n), sum(i), sum(r), sum(r > 0), "
        "sum(n * n), sum(r * r), sum(n * r) FROM pu GROUP BY arm";
    static const char *const unassigned_sql =
        "SELECT count(*) FROM events e WHERE e.type = 3 AND e.ts >= ?2 "
        "AND e.ts < ?3 AND (e.market_id = ?4 OR e.user_id IN "
        "(SELECT user_id FROM assignment_lists WHERE cycle_id = ?1)) "
        "AND NOT EXISTS (SELECT 1 FROM assignment_lists l, "
        "trove_assignment_rows(l.list) a WHERE l.cycle_id = ?1 "
        "AND l.user_id = e.user_id AND a.item_id = e.item_id)";
    static const char *const eligible_sql =
        "SELECT count(*) FROM items WHERE active = 1 AND blocked = 0 "
        "AND (start_ts = 0 OR start_ts <= ?1) AND (end_ts = 0 OR end_ts > ?1)";
    static const char *const new_sql =
        "SELECT (SELECT count(*) FROM items WHERE max(created_ts, start_ts) "
        "  BETWEEN ?2 AND ?3), "
        "(SELECT count(DISTINCT a.item_id) FROM assignment_lists l, "
        "  trove_assignment_rows(l.list) a JOIN items i "
        "  ON i.id = a.item_id WHERE l.cycle_id = ?1 "
        "  AND max(i.created_ts, i.start_ts) BETWEEN ?2 AND ?3)";
    sqlite3_stmt *st = NULL;
    int rc, status, found = 0, has_prev;
    int64_t prev_ts = 0;
    const char *code, *key;

    if ((status = prep(s, cycle_sql, &st, "A/B counts", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, cycle_id);
    if ((status = step_row(s, st, &found, "A/B counts", err)) != TROVE_OK)
        goto done;
    if (!found) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: no cycle %lld",
                                 s->base.name, (long long)cycle_id);
        goto done;
    }
    o->cycle_id = cycle_id;
    o->market_id = sqlite3_column_int64(st, 0);
    code = col_text(st, 1);
    key = col_text(st, 2);
    if (code == NULL || key == NULL) {
        status = nomem(s, "A/B counts", err);
        goto done;
    }
    snprintf(o->market, sizeof o->market, "%s", code);
    snprintf(o->key, sizeof o->key, "%s", key);
    o->start_ts = sqlite3_column_int64(st, 3);
    o->model_version_id = sqlite3_column_int64(st, 4);
    o->test_share = sqlite3_column_double(st, 5);
    o->eligible_items = (uint64_t)sqlite3_column_int64(st, 6);
    o->end_ts = sqlite3_column_type(st, 7) == SQLITE_NULL
                ? now : sqlite3_column_int64(st, 7);
    if (o->end_ts < o->start_ts)
        o->end_ts = o->start_ts;
    has_prev = sqlite3_column_type(st, 8) != SQLITE_NULL;
    prev_ts = sqlite3_column_int64(st, 8);
    sqlite3_finalize(st);

    if ((status = prep(s, arms_sql, &st, "A/B counts", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, cycle_id);
    sqlite3_bind_int64(st, 2, o->start_ts);
    sqlite3_bind_int64(st, 3, o->end_ts);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_ab_arm_counts *a = &o->arm[sqlite3_column_int(st, 0) ? 1 : 0];
        a->users = (uint64_t)sqlite3_column_int64(st, 1);
        a->exposures = (uint64_t)sqlite3_column_int64(st, 2);
        a->impressions = (uint64_t)sqlite3_column_int64(st, 3);
        a->redemptions = (uint64_t)sqlite3_column_int64(st, 4);
        a->redeeming_users = (uint64_t)sqlite3_column_int64(st, 5);
        a->sum_n2 = sqlite3_column_double(st, 6);
        a->sum_r2 = sqlite3_column_double(st, 7);
        a->sum_nr = sqlite3_column_double(st, 8);
    }
    if (rc != SQLITE_DONE) {
        status = sql_fail(s, rc, err, "A/B counts");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((status = ab_concentration(s, cycle_id, o, err)) != TROVE_OK)
        goto done;

    if ((status = prep(s, unassigned_sql, &st, "A/B counts", err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, cycle_id);
    sqlite3_bind_int64(st, 2, o->start_ts);
    sqlite3_bind_int64(st, 3, o->end_ts);
    sqlite3_bind_int64(st, 4, o->market_id);
    if ((status = step_row(s, st, NULL, "A/B counts", err)) != TROVE_OK)
        goto done;
    o->unassigned_redemptions = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;

    if (o->eligible_items == 0) {
        if ((status = prep(s, eligible_sql, &st, "A/B counts", err)) != TROVE_OK)
            return status;
        sqlite3_bind_int64(st, 1, o->start_ts);
        if ((status = step_row(s, st, NULL, "A/B counts", err)) != TROVE_OK)
            goto done;
        o->eligible_items = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (has_prev) {
        if ((status = prep(s, new_sql, &st, "A/B counts", err)) != TROVE_OK)
            return status;
        sqlite3_bind_int64(st, 1, cycle_id);
        sqlite3_bind_int64(st, 2, prev_ts);
        sqlite3_bind_int64(st, 3, o->start_ts);
        if ((status = step_row(s, st, NULL, "A/B counts", err)) != TROVE_OK)
            goto done;
        o->new_items = (uint64_t)sqlite3_column_int64(st, 0);
        o->new_items_shown = (uint64_t)sqlite3_column_int64(st, 1);
    }
done:
    sqlite3_finalize(st);
    return status;
}

static int sq_ab_counts(trove_store *base, int64_t cycle_id, int64_t now,
                        trove_ab_cycle_counts *out, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    trove_ab_cycle_counts tmp;
    int own = 0, status;
    memset(&tmp, 0, sizeof tmp);
    if (now == 0)
        now = (int64_t)time(NULL);
    /* One read transaction so that every count sees the same state. */
    if (!s->in_txn) {
        if ((status = exec(s, "BEGIN", err)) != TROVE_OK)
            return status;
        own = 1;
    }
    status = ab_read(s, cycle_id, now, &tmp, err);
    if (own)
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (status == TROVE_OK)
        *out = tmp;
    return status;
}

/* ------------------------------------------------------------ open/close */

static int sq_schema_version(trove_store *base)
{
    return ((sqlite_store *)base)->version;
}

static void sq_close(trove_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK) {
        trove_log(TROVE_LOG_WARN, "%s: close: %s", base->name,
                  sqlite3_errmsg(s->db));
        sqlite3_close_v2(s->db);
    }
    caches_drop(s);
    trove_free(s->scratch);
    trove_free(base->name);
    trove_free(s);
}

/* ---------------------------------------------------------------- hunts */
#define HUNT_COLUMNS "id, hunt_key, market_id, user_ext, day, created_ts, " \
                     "expires_ts, steps, steps_done, reward, body"

static int sq_hunt_add(trove_store *base, const trove_stored_hunt *h,
                       int *inserted, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int own = 0, status, found = 0, added = 0;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    if ((status = prep(s, "SELECT 1 FROM markets WHERE id = ?1", &st,
                       "add hunt", err)) != TROVE_OK)
        goto done;
    sqlite3_bind_int64(st, 1, h->market_id);
    if ((status = step_row(s, st, &found, "add hunt", err)) != TROVE_OK)
        goto done;
    if (!found) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: add hunt: no market "
                                 "%lld", base->name, (long long)h->market_id);
        goto done;
    }
    sqlite3_finalize(st);
    if ((status = prep(s, "INSERT INTO hunts(hunt_key, market_id, user_ext, day, "
                       "created_ts, expires_ts, steps, steps_done, reward, body) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                       "ON CONFLICT(hunt_key) DO NOTHING", &st, "add hunt",
                       err)) != TROVE_OK)
        goto done;
    sqlite3_bind_text(st, 1, h->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, h->market_id);
    sqlite3_bind_text(st, 3, h->user, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, h->day);
    sqlite3_bind_int64(st, 5, h->created_ts);
    sqlite3_bind_int64(st, 6, h->expires_ts);
    sqlite3_bind_int(st, 7, h->steps);
    sqlite3_bind_int(st, 8, h->steps_done);
    sqlite3_bind_text(st, 9, h->reward ? h->reward : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, h->body, -1, SQLITE_STATIC);
    if ((status = step_done(s, st, "add hunt", err)) != TROVE_OK)
        goto done;
    added = sqlite3_changes(s->db) > 0;
done:
    sqlite3_finalize(st);
    status = auto_end(s, own, status, err);
    if (status == TROVE_OK && inserted)
        *inserted = added;
    return status;
}

static int sq_hunt_find(trove_store *base, const char *key,
                        trove_stored_hunt *out, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    trove_stored_hunt h;
    const char *str[4];
    size_t len[4], need = 0;
    int status, found = 0;

    if ((status = prep(s, "SELECT " HUNT_COLUMNS " FROM hunts WHERE hunt_key = ?1",
                       &st, "find hunt", err)) != TROVE_OK)
        return status;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if ((status = step_row(s, st, &found, "find hunt", err)) != TROVE_OK)
        goto done;
    if (!found) {
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: no hunt '%s'",
                                 base->name, key);
        goto done;
    }
    h.id = sqlite3_column_int64(st, 0);
    h.market_id = sqlite3_column_int64(st, 2);
    h.day = sqlite3_column_int(st, 4);
    h.created_ts = sqlite3_column_int64(st, 5);
    h.expires_ts = sqlite3_column_int64(st, 6);
    h.steps = sqlite3_column_int(st, 7);
    h.steps_done = sqlite3_column_int(st, 8);
    /* the strings move to the handle's scratch: borrowed until the next call */
    static const int cols[4] = {1, 3, 9, 10};
    for (int i = 0; i < 4; i++) {
        if ((str[i] = col_text(st, cols[i])) == NULL) {
            status = nomem(s, "find hunt", err);
            goto done;
        }
        len[i] = strlen(str[i]) + 1;
        need += len[i];
    }
    if (need > s->scratch_cap) {
        char *p = trove_realloc(s->scratch, need);
        if (p == NULL) {
            status = nomem(s, "find hunt", err);
            goto done;
        }
        s->scratch = p;
        s->scratch_cap = need;
    }
    need = 0;
    for (int i = 0; i < 4; i++) {
        memcpy(s->scratch + need, str[i], len[i]);
        str[i] = s->scratch + need;
        need += len[i];
    }
    h.key = str[0];
    h.user = str[1];
    h.reward = str[2];
    h.body = str[3];
    *out = h;
done:
    sqlite3_finalize(st);
    return status;
}

static int sq_hunt_update(trove_store *base, const char *key, int steps_done,
                          const char *reward, const char *body,
                          trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    int own = 0, status;

    if ((status = txn_usable(s, err)) != TROVE_OK ||
        (status = auto_begin(s, &own, err)) != TROVE_OK)
        return status;
    if ((status = prep(s, "UPDATE hunts SET steps_done = ?2, reward = ?3, "
                       "body = ?4 WHERE hunt_key = ?1", &st, "update hunt",
                       err)) != TROVE_OK)
        goto done;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, steps_done);
    sqlite3_bind_text(st, 3, reward, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
    if ((status = step_done(s, st, "update hunt", err)) != TROVE_OK)
        goto done;
    if (sqlite3_changes(s->db) == 0)
        status = trove_error_set(err, TROVE_ENOTFOUND, "%s: no hunt '%s'",
                                 base->name, key);
done:
    sqlite3_finalize(st);
    return auto_end(s, own, status, err);
}

static int sq_user_events_foreach(trove_store *base, int64_t user_id,
                                  const trove_event_filter *filter,
                                  trove_event_fn fn, void *ud, trove_error *err)
{
    sqlite_store *s = (sqlite_store *)base;
    trove_event_filter none = {0, 0, 0, 0};
    const trove_event_filter *f = filter ? filter : &none;
    sqlite3_stmt *st = NULL;
    int rc, status;

    /* ?n = 0 switches a condition off; the ts range keeps events_ts usable */
    if ((status = prep(s, "SELECT id, user_id, item_id, type, value, ts, "
                       "ifnull(market_id, 0) FROM events "
                       "WHERE ts >= ?2 AND ts < ?3 AND user_id = ?1 "
                       "AND (?4 = 0 OR market_id = ?4) "
                       "AND (?5 = 0 OR ((1 << type) & ?5) != 0) "
                       "ORDER BY ts, id", &st, "list user events",
                       err)) != TROVE_OK)
        return status;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, f->ts_from != 0 ? f->ts_from : INT64_MIN);
    sqlite3_bind_int64(st, 3, f->ts_to != 0 ? f->ts_to : INT64_MAX);
    sqlite3_bind_int64(st, 4, f->market_id);
    sqlite3_bind_int64(st, 5, (int64_t)f->type_mask);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        trove_event ev;
        event_from_row(st, &ev);
        if ((status = fn(ud, &ev)) != 0)
            goto done;
    }
    if (rc != SQLITE_DONE)
        status = sql_fail(s, rc, err, "list user events");
done:
    sqlite3_finalize(st);
    return status;
}

static const trove__store_ops sqlite_ops = {
    .close = sq_close,
    .schema_version = sq_schema_version,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .market_upsert = sq_market_upsert,
    .market_find = sq_market_find,
    .markets_foreach = sq_markets_foreach,
    .user_upsert = sq_user_upsert,
    .user_find = sq_user_find,
    .users_foreach = sq_users_foreach,
    .users_count = sq_users_count,
    .item_upsert = sq_item_upsert,
    .item_find = sq_item_find,
    .item_set_flags = sq_item_set_flags,
    .item_get = sq_item_get,
    .items_foreach = sq_items_foreach,
    .feature_upsert = sq_feature_upsert,
    .feature_set = sq_feature_set,
    .features_foreach = sq_features_foreach,
    .event_add = sq_event_add,
    .events_foreach = sq_events_foreach,
    .events_count = sq_events_count,
    .stats_get = sq_stats_get,
    .model_register = sq_model_register,
    .models_foreach = sq_models_foreach,
    .model_activate = sq_model_activate,
    .model_active = sq_model_active,
    .model_rollback = sq_model_rollback,
    .models_prune = sq_models_prune,
    .cycle_create = sq_cycle_create,
    .cycle_find = sq_cycle_find,
    .cycles_foreach = sq_cycles_foreach,
    .assignments_add = sq_assignments_add,
    .assignments_foreach = sq_assignments_foreach,
    .ab_counts = sq_ab_counts,
    .hunt_add = sq_hunt_add,
    .hunt_find = sq_hunt_find,
    .hunt_update = sq_hunt_update,
    .user_events_foreach = sq_user_events_foreach,
};

int trove__store_sqlite_latest(void)
{
    return trove__store_sqlite_n_migrations;
}

/* Apply migration script `from` (version from -> from+1) in its own
 * transaction, unless another connection got there first. */
static int migrate_one(sqlite_store *s, int from, trove_error *err)
{
    char sql[64];
    int64_t v;
    int rc, status;

    if ((status = exec(s, "BEGIN IMMEDIATE", err)) != TROVE_OK)
        return status;
    if ((status = query_int(s, "PRAGMA user_version", &v, err)) != TROVE_OK)
        goto rollback;
    if (v != from) {                 /* migrated meanwhile by someone else */
        if (v > trove__store_sqlite_latest()) {
            status = trove_error_set(err, TROVE_EVERSION,
                                     "%s: schema version %lld is newer than "
                                     "this trove (%d)", s->base.name,
                                     (long long)v, trove__store_sqlite_latest());
            goto rollback;
        }
        exec(s, "COMMIT", NULL);
        s->version = (int)v;
        return TROVE_OK;
    }
    rc = sqlite3_exec(s->db, trove__store_sqlite_migrations[from], NULL, NULL,
                      NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "migrate schema to version %d", from + 1);
        goto rollback;
    }
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", from + 1);
    if ((status = exec(s, sql, err)) != TROVE_OK)
        goto rollback;
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "commit schema version %d", from + 1);
        goto rollback;
    }
    s->version = from + 1;
    trove_log(TROVE_LOG_DEBUG, "%s: schema migrated to version %d",
              s->base.name, from + 1);
    return TROVE_OK;
rollback:
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}

/* Read the header facts and refuse files that are not trove stores. */
static int check_identity(sqlite_store *s, int flags, trove_error *err)
{
    int64_t app_id, version, n_objects;
    trove_error e;
    int status;

    trove_error_clear(&e);
    status = query_int(s, "PRAGMA application_id", &app_id, &e);
    if (status == TROVE_ECORRUPT)
        return trove_error_set(err, TROVE_EFORMAT,
                               "%s: not a trove store (not an SQLite database)",
                               s->base.name);
    if (status != TROVE_OK) {
        if (err)
            *err = e;
        return status;
    }
    if ((status = query_int(s, "PRAGMA user_version", &version, err)) != TROVE_OK ||
        (status = query_int(s, "SELECT count(*) FROM sqlite_master", &n_objects,
                            err)) != TROVE_OK)
        return status;
    if (app_id != 0 && app_id != TROVE_APPLICATION_ID)
        return trove_error_set(err, TROVE_EFORMAT,
                               "%s: not a trove store (SQLite application id "
                               "0x%llx)", s->base.name, (unsigned long long)app_id);
    if (version == 0 && n_objects > 0)
        return trove_error_set(err, TROVE_EFORMAT,
                               "%s: not a trove store (an SQLite database with "
                               "other tables)", s->base.name);
    if (version == 0 && !(flags & TROVE_STORE_CREATE))
        return trove_error_set(err, TROVE_EFORMAT,
                               "%s: not a trove store (empty database)",
                               s->base.name);
    if (version > trove__store_sqlite_latest())
        return trove_error_set(err, TROVE_EVERSION,
                               "%s: schema version %lld is newer than this "
                               "trove (%d)", s->base.name, (long long)version,
                               trove__store_sqlite_latest());
    s->version = (int)version;
    return TROVE_OK;
}

static int configure(sqlite_store *s, int flags, trove_error *err)
{
    char sql[64];
    int status;

    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", CACHE_KIB);
    if ((status = exec(s, sql, err)) != TROVE_OK ||
        (status = exec(s, "PRAGMA temp_store = MEMORY", err)) != TROVE_OK)
        return status;
    if (flags & TROVE_STORE_READONLY)
        return exec(s, "PRAGMA query_only = ON", err);
    {
        sqlite3_stmt *st = NULL;
        const char *mode;
        int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st,
                                    NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            status = sql_fail(s, rc, err, "set WAL journal");
            sqlite3_finalize(st);
            return status;
        }
        mode = (const char *)sqlite3_column_text(st, 0);
        if (mode == NULL || strcmp(mode, "wal") != 0)
            trove_log(TROVE_LOG_WARN, "%s: WAL journal not available, using '%s'",
                      s->base.name, mode ? mode : "?");
        sqlite3_finalize(st);
    }
    if ((status = exec(s, (flags & TROVE_STORE_FAST) ? "PRAGMA synchronous = NORMAL"
                                                     : "PRAGMA synchronous = FULL",
                       err)) != TROVE_OK)
        return status;
    return exec(s, "PRAGMA foreign_keys = ON", err);
}

int trove__store_sqlite_open(const char *path, int flags, int max_version,
                             trove_store **out, trove_error *err)
{
    sqlite_store *s;
    struct stat sb;
    int oflags, rc, status;

    if (path[0] == '\0')
        return trove_error_set(err, TROVE_EINVAL, "open store: empty path");
    if (max_version > trove__store_sqlite_latest())
        max_version = trove__store_sqlite_latest();
    if (!(flags & TROVE_STORE_CREATE) && stat(path, &sb) != 0 && errno == ENOENT)
        return trove_error_set(err, TROVE_ENOTFOUND, "%s: no such store", path);

    s = trove_calloc(1, sizeof *s);
    if (s == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: open: out of memory", path);
    s->base.ops = &sqlite_ops;
    s->base.flags = flags;
    s->base.name = trove_strdup(path);
    s->data_version = -1;
    if (s->base.name == NULL) {
        status = trove_error_set(err, TROVE_ENOMEM, "%s: open: out of memory", path);
        goto fail;
    }

    oflags = SQLITE_OPEN_NOMUTEX;
    if (flags & TROVE_STORE_READONLY)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE |
                  ((flags & TROVE_STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
    rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        status = sql_fail(s, rc, err, "open");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if ((status = assignment_sql_register(s, err)) != TROVE_OK)
        goto fail;

    if ((status = check_identity(s, flags, err)) != TROVE_OK ||
        (status = configure(s, flags, err)) != TROVE_OK)
        goto fail;
    if (s->version < max_version && (flags & TROVE_STORE_READONLY)) {
        status = trove_error_set(err, TROVE_EVERSION,
                                 "%s: schema version %d is older than this "
                                 "trove (%d); open it for writing once to "
                                 "upgrade it", path, s->version, max_version);
        goto fail;
    }
    while (s->version < max_version)
        if ((status = migrate_one(s, s->version, err)) != TROVE_OK)
            goto fail;
    *out = &s->base;
    return TROVE_OK;
fail:
    sq_close(&s->base);
    return status;
}
