/*
 * trove/ingest.h - reading interaction, item and user files into the store
 * or into memory.
 *
 * One parser, several destinations. An ingest session (trove_ingest) reads
 * files - CSV (RFC 4180), TSV, JSON Lines, plain or gzip-compressed - either
 * through a generic column mapping or through a preset for a known layout
 * (MovieLens 100K, MovieLens "latest", UCI Online Retail). Every row becomes
 * a normalized record (user, item, event type, value, timestamp, market,
 * event id; or item/user attributes and features) that the session hands to
 * a destination ("sink"):
 *   - the store (trove_ingest_new_store): every write of the session happens
 *     inside ONE store transaction, committed by trove_ingest_finish() and
 *     rolled back by trove_ingest_free() without finish, so a failure never
 *     leaves a half-written store;
 *   - an in-memory dataset builder (trove_ingest_new_dataset): positive
 *     events only (click, redemption, purchase, rating), plus features;
 *   - any caller-provided sink (trove_ingest_new).
 *
 * Validation. Every row is checked (column count, valid UTF-8, numbers that
 * parse completely and are finite, timestamps, non-empty ids, known event
 * types, preset rules). A bad row is rejected with a reason, reported through
 * trove_log() at WARN (the first `max_warnings`, then a count) and written to
 * the reject file as `file<TAB>line<TAB>reason<TAB>raw line`; the rows
 * around it are kept.
 *
 * Event ids and idempotency. An event's id is trove_hash64 of the source's
 * event-id column when one is mapped, otherwise a hash of its normalized
 * fields (user, item, market, transaction id, type, timestamp, value), so
 * re-ingesting a file adds no event. An exact duplicate within the input is
 * counted as a duplicate (and written to the reject file), not an error.
 * docs/ingest.md documents the byte layout of the hash input.
 *
 * Thread safety: a session is used by one thread at a time; distinct
 * sessions on distinct destinations may run in parallel.
 */
#ifndef TROVE_INGEST_H
#define TROVE_INGEST_H

#include "trove/core.h"
#include "trove/store.h"
#include "trove/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ records */
/* Index meaning "no market" in trove_ingest_event.market and sink calls. */
#define TROVE_INGEST_NO_MARKET UINT32_MAX

/* One normalized event. The indices are dense, per-session indices of the
 * user / item / market (0, 1, 2... in order of first appearance in the
 * session), the strings are borrowed for the duration of the sink call. */
typedef struct trove_ingest_event {
    uint64_t    id;          /* event id (never 0) */
    uint32_t    user, item;  /* session indices */
    uint32_t    market;      /* session index or TROVE_INGEST_NO_MARKET */
    const char *user_ext;    /* external ids, NUL-terminated */
    const char *item_ext;
    const char *market_code; /* NULL when market == TROVE_INGEST_NO_MARKET */
    int         type;        /* enum trove_event_type */
    double      value;       /* rating, quantity; 1 when the source has none */
    int64_t     ts;          /* seconds since the Unix epoch (UTC), 0 if unknown */
} trove_ingest_event;

/* A destination. Every callback returns TROVE_OK or a negative status (with
 * err set); a failure stops the ingest call that triggered it. Callbacks may
 * be NULL when the destination has no use for that record. `created` out
 * parameters (never NULL) receive 1 if the destination did not know the
 * object before, 0 otherwise. Strings are borrowed for the call.
 *
 * Order guarantees: market(i) before any record that refers to market i;
 * user(i) / item(i) once per index and session before any event, feature or
 * flags of that user / item (item(i) may be called again later with a
 * non-NULL title to set a title first seen later). */
typedef struct trove_ingest_sink {
    void *ud;
    int (*market)(void *ud, uint32_t index, const char *code, int *created,
                  trove_error *err);
    /* market = home market index or TROVE_INGEST_NO_MARKET */
    int (*user)(void *ud, uint32_t index, const char *ext_id, uint32_t market,
                int *created, trove_error *err);
    /* title: UTF-8, or NULL to leave it unchanged */
    int (*item)(void *ud, uint32_t index, const char *ext_id,
                const char *title, int *created, trove_error *err);
    /* flags fields selected by mask (enum trove_item_flag_mask) */
    int (*item_flags)(void *ud, uint32_t index, const trove_item *flags,
                      unsigned mask, trove_error *err);
    /* target: TROVE_FEATURE_USER or TROVE_FEATURE_ITEM; kind: enum
     * trove_feature_kind; name "genre=Comedy" or "age"; value its weight */
    int (*feature)(void *ud, int target, uint32_t index, const char *ext_id,
                   const char *name, int kind, double value, trove_error *err);
    /* *inserted = 0 if the destination already held this event id */
    int (*event)(void *ud, const trove_ingest_event *ev, int *inserted,
                 trove_error *err);
    /* Make everything written so far durable (trove_ingest_finish). */
    int (*commit)(void *ud, trove_error *err);
    /* Release the destination's state; undo uncommitted writes if it can
     * (trove_ingest_free). */
    void (*close)(void *ud);
} trove_ingest_sink;

/* ------------------------------------------------------------ options */
typedef struct trove_ingest_options {
    const char *rejects_path;  /* reject file (truncated at session start),
                                  or NULL for none; copied */
    int         max_warnings;  /* rejects logged one by one at WARN (10) */
} trove_ingest_options;

trove_ingest_options trove_ingest_default_options(void);

/* ------------------------------------------------------------ session */
typedef struct trove_ingest trove_ingest;

/* A session writing to a caller-provided sink (copied; the sink's `close`
 * is called by trove_ingest_free, also when this call fails). opts may be
 * NULL (defaults). */
int trove_ingest_new(const trove_ingest_sink *sink,
                     const trove_ingest_options *opts, trove_ingest **out,
                     trove_error *err);

/* A session writing to an open store: begins a store transaction now,
 * commits it in trove_ingest_finish(), rolls it back in trove_ingest_free()
 * if finish was not reached. The store must not be inside a transaction
 * already, must outlive the session, and must not be used by the caller
 * until the session is finished or freed. */
int trove_ingest_new_store(trove_store *store, const trove_ingest_options *opts,
                           trove_ingest **out, trove_error *err);

/* A session adding positive events (click, redemption, purchase, rating;
 * weight = the event's value, timestamp kept) and user/item features to a
 * dataset builder. Markets, titles, flags and non-positive events (impression,
 * return) are counted but not stored. The builder must outlive the session;
 * the caller builds and frees it. */
int trove_ingest_new_dataset(trove_dataset_builder *builder,
                             const trove_ingest_options *opts,
                             trove_ingest **out, trove_error *err);

/* Commit what the session wrote (sink->commit). After a failed ingest call
 * the caller chooses: finish to keep the rows accepted so far (e.g. the
 * good rows before a truncated gzip stream), or free to discard everything.
 * Returns the sink's status. The session can not ingest after finish. */
int trove_ingest_finish(trove_ingest *in, trove_error *err);

/* Free the session; without a successful finish, uncommitted writes are
 * undone (store) or abandoned. NULL is a no-op. */
void trove_ingest_free(trove_ingest *in);

/* ------------------------------------------------------------ generic */
enum trove_ingest_kind {
    TROVE_INGEST_EVENTS = 1,
    TROVE_INGEST_ITEMS  = 2,
    TROVE_INGEST_USERS  = 3
};

enum trove_ingest_format {
    TROVE_INGEST_AUTO  = 0,  /* from the file name: .csv, .tsv/.tab,
                                .jsonl/.ndjson/.json, each optionally .gz */
    TROVE_INGEST_CSV   = 1,  /* RFC 4180: comma, "quoted" fields, "" escape */
    TROVE_INGEST_TSV   = 2,  /* tab-separated, no quoting */
    TROVE_INGEST_JSONL = 3   /* one flat JSON object per line */
};

/* How a generic file maps onto records. Strings are borrowed for the call.
 *
 * map: comma-separated `field=column` pairs; a column is a header name or a
 *   1-based number (CSV/TSV) or a key (JSONL). Fields:
 *     events: user, item (required), ts, value, market, type, event_id, txn
 *     items:  item (required), title, active, pinned, blocked, start, end
 *     users:  user (required), market (home market)
 * type: fixed event type name ("purchase") used when `type` is not mapped.
 * ts_format: "auto" (default: integer = Unix seconds, else ISO 8601),
 *   "unix", "iso" ("YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z|+HH:MM]"), or a
 *   strptime(3) pattern such as "%d/%m/%Y %H:%M" (read as UTC).
 * features: categorical columns; each value v of column c becomes the
 *   feature "c=v" with weight 1 (items and users).
 * numeric: numeric columns; column c with value x becomes feature "c" with
 *   weight x.
 * multi: `column:separator` pairs, e.g. "genres:|": each part p becomes the
 *   feature "column=p".
 * header: 1 if the first line names the columns (CSV/TSV; default 1). */
typedef struct trove_ingest_mapping {
    int         kind;       /* enum trove_ingest_kind */
    int         format;     /* enum trove_ingest_format */
    int         header;
    const char *map;
    const char *type;
    const char *ts_format;
    const char *features;
    const char *numeric;
    const char *multi;
} trove_ingest_mapping;

trove_ingest_mapping trove_ingest_default_mapping(void);

/* Ingest one file with a mapping. Returns TROVE_OK when the file was read
 * to its end (bad rows are rejected and counted, not errors), or:
 *   TROVE_EINVAL     the mapping is invalid (unknown field, missing id field)
 *   TROVE_ENOTFOUND  the file does not exist
 *   TROVE_EEMPTY     the file has no data row
 *   TROVE_EFORMAT    the header lacks a mapped column
 *   TROVE_ECORRUPT / TROVE_EIO  the file could not be read to its end
 *                    (truncated gzip...): the rows before stay in the session
 *   TROVE_ENOMEM, TROVE_ESTORE ... the destination failed.
 * Messages name the file and line. */
int trove_ingest_file(trove_ingest *in, const char *path,
                      const trove_ingest_mapping *map, trove_error *err);

/* ------------------------------------------------------------ presets */
/* Names of the presets, NULL-terminated:
 *   "movielens-100k"   PATH = folder with u.data, u.item, u.user (u.genre)
 *   "movielens-latest" PATH = folder with ratings.csv[, movies.csv, tags.csv]
 *   "online-retail"    PATH = the Online Retail CSV (plain or .gz)
 * docs/ingest.md describes what each one reads and rejects. */
const char *const *trove_ingest_preset_names(void);

/* Ingest PATH with preset `name`. Same returns as trove_ingest_file, plus
 * TROVE_ENOTFOUND with the list of known presets for an unknown name. */
int trove_ingest_preset(trove_ingest *in, const char *name, const char *path,
                        trove_error *err);

/* ------------------------------------------------------------ summary */
typedef struct trove_ingest_reason_count {
    const char *reason;      /* "missing CustomerID", "invalid UTF-8"... */
    uint64_t    count;
} trove_ingest_reason_count;

typedef struct trove_ingest_market_count {
    const char *code;
    int         created;     /* 1 if new to the destination */
    uint64_t    events;      /* accepted events (new or already present) */
    uint64_t    rejected;    /* rejected rows that named this market */
} trove_ingest_market_count;

typedef struct trove_ingest_summary {
    uint64_t files;
    uint64_t rows_read;      /* data rows (headers excluded) */
    uint64_t rows_accepted;  /* rows that produced records */
    uint64_t rows_rejected;  /* sum of reasons[] counts */
    uint64_t duplicates;     /* events repeated within the session's input */
    uint64_t users_new, users_existing;
    uint64_t items_new, items_existing;
    uint64_t events_new, events_existing;   /* existing: already in the
                                               destination (re-ingest) */
    uint64_t markets_new, markets_existing;
    uint64_t features_set;   /* (entity, feature) values written */
    size_t n_reasons;
    const trove_ingest_reason_count *reasons;   /* by first occurrence */
    size_t n_markets;
    const trove_ingest_market_count *markets;   /* by first occurrence */
} trove_ingest_summary;

/* Counts so far. The arrays and strings are borrowed: valid until the next
 * ingest call on `in` or its free. */
void trove_ingest_get_summary(const trove_ingest *in, trove_ingest_summary *out);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_INGEST_H */
