/*
 * ingest_int.h (internal) - pieces shared by the ingest module's files: the
 * text-field layer (fields.h: splitters, JSON objects, text and number
 * parsing) and the session engine (ingest.c) that the generic mapping
 * (generic.c) and the presets (preset_*.c) feed.
 *
 * Invariants of a session:
 *   - users, items and markets are interned in the session's id maps; index
 *     i of a map is announced to the sink (user/item/market callback) before
 *     any record refers to it, and exactly once;
 *   - every data row read ends in exactly one of: accepted, rejected (with a
 *     reason), duplicate; the summary counters always add up;
 *   - the hot path (one row) allocates nothing once buffers have grown to
 *     the longest line and the maps to the number of ids.
 */
#ifndef TROVE_INGEST_INT_H
#define TROVE_INGEST_INT_H

#include "trove/ingest.h"
#include "data/reader.h"
#include "ingest/fields.h"

#include <stdio.h>

/* ------------------------------------------------------------ session */
#define TROVE__MAX_REASONS 64

struct trove_ingest {
    trove_ingest_sink sink;
    int max_warnings;
    char *rejects_path;
    FILE *rejects;
    int finished;

    trove_idmap *users, *items, *markets;
    /* per-market counters, indexed like `markets` (codes borrowed from it:
     * id map names never move) */
    trove_ingest_market_count *mcount;
    size_t mcount_cap;

    /* event ids seen in this session (open addressing, 0 = empty) */
    uint64_t *seen;
    size_t seen_cap, seen_n;

    /* counters */
    uint64_t files, rows_read, rows_accepted, duplicates, warned;
    uint64_t users_new, users_existing, items_new, items_existing;
    uint64_t events_new, events_existing, markets_new, markets_existing;
    uint64_t features_set;
    size_t n_reasons;
    trove_ingest_reason_count reasons[TROVE__MAX_REASONS];
    char reason_names[TROVE__MAX_REASONS][48];

    /* current row, for rejects */
    const char *cur_path;
    uint64_t cur_line;
    const char *cur_raw;
    size_t cur_raw_len;

    /* scratch */
    trove__buf line;      /* copy of the row being split */
    trove__buf name;      /* feature names */
    trove__buf hash;      /* event id hash input */
    trove__buf text;      /* conversions (latin-1, trimming) */
    trove__field fields[TROVE__MAX_FIELDS];
};

/* Open `path` for reading as part of a session (counts the file; the error
 * names the path). */
int trove__ingest_open(trove_ingest *in, const char *path, trove__reader **out,
                       trove_error *err);

/* Start a data row: remembers where it came from (for rejects) and counts
 * it. raw must stay valid until the row is done. */
void trove__ingest_row(trove_ingest *in, const char *path, uint64_t line,
                       const char *raw, size_t raw_len);

/* Copy the current row into in->line (NUL-terminated) for in-place
 * splitting and return it. NULL on out of memory. */
char *trove__ingest_line_copy(trove_ingest *in);

/* Reject the current row: `reason` is the category counted in the summary
 * (a string literal), the formatted detail goes to the log and the reject
 * file. market = index of the row's market or TROVE_INGEST_NO_MARKET.
 * Returns TROVE_OK, or TROVE_EIO/ENOMEM if the reject file can not be
 * written. */
int trove__ingest_reject(trove_ingest *in, uint32_t market, const char *reason,
                         trove_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Count the current row as accepted. */
void trove__ingest_accept(trove_ingest *in);

/* Intern a market / user / item, announcing new ones to the sink.
 * *is_new (may be NULL) = 1 if first seen in this session. */
int trove__ingest_market(trove_ingest *in, const char *code, size_t len,
                         uint32_t *index, trove_error *err);
int trove__ingest_user(trove_ingest *in, const char *ext, size_t len,
                       uint32_t market, uint32_t *index, int *is_new,
                       trove_error *err);
int trove__ingest_item(trove_ingest *in, const char *ext, size_t len,
                       const char *title, uint32_t *index, int *is_new,
                       trove_error *err);
/* Set a title on an already announced item. */
int trove__ingest_item_title(trove_ingest *in, uint32_t index,
                             const char *title, trove_error *err);
int trove__ingest_item_flags(trove_ingest *in, uint32_t index,
                             const trove_item *flags, unsigned mask,
                             trove_error *err);
/* Feature `name` (namelen bytes) on user/item `index`. */
int trove__ingest_feature(trove_ingest *in, int target, uint32_t index,
                          const char *name, size_t namelen, int kind,
                          double value, trove_error *err);
/* Feature "field=value" (value lower-cased if `lower`). */
int trove__ingest_feature_kv(trove_ingest *in, int target, uint32_t index,
                             const char *field, const char *value, size_t vlen,
                             int lower, trove_error *err);

/* Event id derived from normalized fields (docs/ingest.md). txn may be
 * NULL. Never 0. */
uint64_t trove__ingest_event_id(trove_ingest *in, const char *user, size_t ulen,
                                const char *item, size_t ilen,
                                const char *market, size_t mlen,
                                const char *txn, size_t tlen, int type,
                                int64_t ts, double value);

/* Start fetching the duplicate-set slot of event id `id` (the set is
 * larger than the caches): call it as soon as the id is known and do the
 * user/item work before trove__ingest_event. */
void trove__ingest_prefetch(const trove_ingest *in, uint64_t id);

/* Add an event for the current row: checks duplicates in the session,
 * hands it to the sink, counts it and the row (accepted, or a duplicate
 * written to the reject file). ev->user_ext etc. must be set. */
int trove__ingest_event(trove_ingest *in, trove_ingest_event *ev,
                        trove_error *err);

/* Parse an event type name ("purchase", case-insensitive). 0 or -1. */
int trove__event_type_parse(const char *s, size_t n, int *type);
const char *trove__event_type_name(int type);

/* Presets and generic mapping entry points. */
int trove__preset_ml100k(trove_ingest *in, const char *dir, trove_error *err);
int trove__preset_mllatest(trove_ingest *in, const char *dir, trove_error *err);
int trove__preset_retail(trove_ingest *in, const char *path, trove_error *err);

/* Read a delimited file row by row: split each data row (a copy; the raw
 * line stays for rejects) on `sep` (RFC 4180 quoting if `quotes`), reject
 * malformed rows, rows whose column count differs from `ncols` (the
 * header's count when `header` and ncols is 0) and, if `check_utf8`, rows
 * that are not UTF-8; call fn for the others. With `header`, fn_header gets
 * the header fields first (it may fail with TROVE_EFORMAT). fn returns
 * TROVE_OK after accepting or rejecting the row; any other status stops the
 * file. Returns as trove_ingest_file. */
typedef int (*trove__row_fn)(void *ctx, trove__field *f, size_t n, trove_error *err);
int trove__ingest_read_rows(trove_ingest *in, const char *path, char sep, int quotes,
                            int header, size_t ncols, int check_utf8,
                            trove__row_fn fn_header, trove__row_fn fn, void *ctx,
                            trove_error *err);

/* Status of a read loop's end: 0 rows -> TROVE_EEMPTY naming the file. */
int trove__ingest_need_rows(const char *path, uint64_t rows, trove_error *err);

#endif /* TROVE_INGEST_INT_H */
