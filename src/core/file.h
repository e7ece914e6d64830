/*
 * file.h - whole-file I/O shared by every module that writes model, dataset
 * or report files: atomic replacement of a file and reading a file whole.
 *
 * Atomic replacement: the bytes go to a temporary file beside the target
 * ("<path>.tmp.<pid>.<n>", created exclusively with mode 0644 subject to
 * the umask), which is fsync'ed, renamed over the target, and then the
 * directory is fsync'ed, so a reader (or a crash) sees either the old file
 * or the complete new one, never a prefix. The temporary file is removed on
 * every failure. Every error message names the path.
 *
 * Nothing here is public API. The functions keep no state and may be called
 * from any number of threads (each call uses its own temporary name).
 */
#ifndef TROVE_CORE_FILE_H
#define TROVE_CORE_FILE_H

#include "trove/core.h"

#include <stddef.h>

/* Replace path with the concatenation of n_parts buffers (parts[i] of
 * lens[i] bytes; a part may be NULL when its length is 0). Returns TROVE_OK,
 * TROVE_EIO (cannot create, write, sync or rename; the target is unchanged)
 * or TROVE_ENOMEM. */
int trove__file_write_atomic(const char *path, const void *const *parts,
                             const size_t *lens, size_t n_parts, trove_error *err);

/* The end of every save that encodes into memory first: given the encoder's
 * status rc and its buffer (buf, len; may be NULL when rc failed), write
 * the buffer atomically to path when rc is TROVE_OK, or else prefix the
 * encoder's message with path; buf is freed (trove_free) either way.
 * Returns rc, or the writer's status. */
int trove__file_save_encoded(const char *path, int rc, unsigned char *buf, size_t len,
                             trove_error *err);

/* Create the temporary file for path (name as above) and open it for
 * writing. On success *tmp receives the name (free with trove_free) and *fd
 * the descriptor; the caller writes, closes, and then calls
 * trove__file_commit_tmp or, on failure, unlink()s *tmp. Returns TROVE_OK,
 * TROVE_EIO or TROVE_ENOMEM; nothing is written on failure. */
int trove__file_open_tmp(const char *path, char **tmp, int *fd, trove_error *err);

/* Finish an atomic write: fsync the (closed) temporary file tmp, rename it
 * over path and fsync path's directory. On failure tmp is removed and path
 * is unchanged. Returns TROVE_OK or TROVE_EIO. */
int trove__file_commit_tmp(const char *tmp, const char *path, trove_error *err);

/* Read a regular file whole into a new buffer (*buf, free with trove_free;
 * one spare byte is allocated past the end, set to 0, so text can be
 * parsed in place). An empty file gives *len 0 and a valid buffer. Returns
 * TROVE_OK, TROVE_ENOTFOUND (no such file), TROVE_EIO (not a regular file,
 * read error), TROVE_ERANGE (larger than max_len bytes) or TROVE_ENOMEM;
 * *buf and *len are written only on success. */
int trove__file_read_all(const char *path, size_t max_len, unsigned char **buf,
                         size_t *len, trove_error *err);

#endif /* TROVE_CORE_FILE_H */
