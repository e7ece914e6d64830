/*
 * fields.h (internal) - the text-field layer of the ingest module: field
 * splitters (csv.c), the flat JSON object parser (json.c), and text and
 * number parsing (text.c). Shared with serve's CSV offer upload
 * (src/serve/dashboard_items.c), so that an uploaded file is split and
 * parsed exactly as `trove ingest` would: one CSV dialect, one set of
 * timestamp and number rules.
 *
 * Everything here works in place on caller-owned buffers and allocates
 * nothing except trove__buf, which grows through trove_realloc.
 */
#ifndef TROVE_INGEST_FIELDS_H
#define TROVE_INGEST_FIELDS_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ fields */
#define TROVE__MAX_FIELDS 256   /* columns of one row that are kept */

typedef struct trove__field {
    char  *s;      /* NUL-terminated in place */
    size_t len;
} trove__field;

/* Split `line` (len bytes, NUL at line[len]) in place on `sep`. With
 * `quotes`, RFC 4180 quoting applies: a field that starts with '"' runs to
 * the matching '"', "" inside it is one '"', and only `sep` or the end of
 * the line may follow the closing quote. Each field is NUL-terminated in
 * place. Up to `max` fields are stored; *n receives the true number of
 * fields (which may exceed max). Returns 0, or -1 with *why set ("unterminated
 * quoted field", "text after closing quote"). */
int trove__split(char *line, size_t len, char sep, int quotes,
                 trove__field *fields, size_t max, size_t *n, const char **why);

/* ------------------------------------------------------------ JSON lines */
typedef struct trove__jpair {
    const char *key;    /* unescaped, NUL-terminated in place */
    size_t      key_len;
    char       *val;    /* strings unescaped; numbers/true/false as text;
                           NUL-terminated in place */
    size_t      len;
    int         is_null;
} trove__jpair;

/* Parse one flat JSON object (string, number, true/false/null values; no
 * nested objects or arrays) in place. Same conventions as trove__split. */
int trove__json_object(char *line, size_t len, trove__jpair *pairs, size_t max,
                       size_t *n, const char **why);

/* ------------------------------------------------------------ text */
/* 1 if s[0..n) is valid UTF-8 without NUL bytes (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
int trove__utf8_valid(const char *s, size_t n);
/* Latin-1 -> UTF-8; out must hold 2n+1 bytes; returns the output length
 * (NUL-terminated). */
size_t trove__latin1_to_utf8(const char *in, size_t n, char *out);
/* Strict parses of a whole field: 0 on success, -1 otherwise. */
int trove__parse_i64(const char *s, size_t n, int64_t *out);
int trove__parse_double(const char *s, size_t n, double *out);  /* finite */
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t trove__days_from_civil(int64_t y, unsigned m, unsigned d);
/* ISO 8601 date or date-time (see trove_ingest_mapping.ts_format). */
int trove__parse_iso(const char *s, size_t n, int64_t *out);
/* ts_format: NULL/"auto", "unix", "iso" or a strptime pattern. */
int trove__parse_ts(const char *s, size_t n, const char *fmt, int64_t *out);
/* Trim ASCII blanks at both ends (in place: returns the new start, *n
 * updated, NUL written at the new end). */
char *trove__trim(char *s, size_t *n);

/* ------------------------------------------------------------ growable buffer */
typedef struct trove__buf {
    char  *p;
    size_t len, cap;
} trove__buf;
int  trove__buf_reserve(trove__buf *b, size_t cap);
int  trove__buf_set(trove__buf *b, const char *s, size_t n);   /* NUL-terminated */
int  trove__buf_append(trove__buf *b, const char *s, size_t n);
void trove__buf_free(trove__buf *b);

#endif /* TROVE_INGEST_FIELDS_H */
