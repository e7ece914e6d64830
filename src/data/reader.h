/*
 * reader.h (internal) - fast line reader over plain or gzip files.
 *
 * Gzip is detected from the content (magic 1f 8b), not the file name, and
 * decompressed on the fly with zlib. Lines are returned without their "\n"
 * or "\r\n". A truncated or corrupt gzip stream is an error naming the file
 * and the line reached, never a silent short read. Lines are limited to
 * TROVE__READER_MAX_LINE bytes (longer lines are an error naming the line).
 */
#ifndef TROVE_DATA_READER_H
#define TROVE_DATA_READER_H

#include "trove/core.h"

#define TROVE__READER_MAX_LINE (16u * 1024u * 1024u)

typedef struct trove__reader trove__reader;

/* Open path ("-" = standard input). */
int trove__reader_open(const char *path, trove__reader **out, trove_error *err);
void trove__reader_close(trove__reader *r);

/* Next line. Returns 1 with *line and *len set (borrowed: valid until the next
 * call; the line is NUL-terminated at *len and may be modified in place by
 * the caller), 0 at end of file, or a negative status with err set
 * ("file.gz:1042: truncated gzip stream"). */
int trove__reader_next(trove__reader *r, char **line, size_t *len,
                       trove_error *err);

/* 1-based number of the line last returned (0 before the first). */
uint64_t trove__reader_lineno(const trove__reader *r);
const char *trove__reader_path(const trove__reader *r);
/* 1 if the file is gzip-compressed. */
int trove__reader_is_gzip(const trove__reader *r);
/* Bytes of (uncompressed) input consumed so far. */
uint64_t trove__reader_bytes(const trove__reader *r);

#endif /* TROVE_DATA_READER_H */
