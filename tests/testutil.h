/*
 * testutil.h - shared helpers for trove's cmocka tests: the cmocka includes,
 * a failing allocator for out-of-memory tests, temporary paths, fixture and
 * dataset locations, and running the trove program.
 */
#ifndef TROVE_TESTUTIL_H
#define TROVE_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "trove/trove.h"

/* Make the (k+1)-th allocation from now fail, and every later one too
 * (k = 0: the next one). k < 0 restores the normal allocator. */
void testutil_fail_alloc_after(long k);

/* A fresh temporary directory for this test process (created once, removed
 * at exit unless TROVE_KEEP_TMP is set); returns "<dir>/<name>" in a static
 * rotating buffer. */
const char *testutil_tmp_path(const char *name);

/* Path of a fixture file under tests/fixtures. */
const char *testutil_fixture(const char *name);

/* Root of the real datasets (TROVE_DATA), or NULL if it does not exist:
 * tests that need it call skip(). */
const char *testutil_data_dir(void);

/* Write `text` to path; returns 0 on success. */
int testutil_write_file(const char *path, const char *text);

/* Run the trove program with a shell command line appended, e.g.
 * testutil_run_trove(&out, "stats --store %s --json", db). Captures stdout
 * and stderr together into *output (malloc'd, caller frees, may be NULL).
 * Returns the exit status (or -1). */
int testutil_run_trove(char **output, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One HTTP/1.1 exchange with 127.0.0.1:port on a fresh connection: sends
 * the `len` bytes of `raw` (a whole request that asks Connection: close;
 * sending stops early if the server closes, as after a 413) and reads the
 * answer to its end. Returns the malloc'd answer (headers and body,
 * NUL-terminated; *n its length, may be NULL). A socket error fails the
 * test. */
char *testutil_http_exchange(uint16_t port, const char *raw, size_t len,
                             size_t *n);
/* Start a server with params p (a fixture's setup): the port it listens
 * on, or 0 after printing the error (the setup then fails). */
uint16_t testutil_server_start(const trove_serve_params *p, trove_server **out);
/* The status code of an answer, -1 when it is not HTTP. */
int testutil_http_status(const char *answer);
/* The body of an answer (after the blank line), "" when there is none;
 * points into `answer`. */
const char *testutil_http_body(const char *answer);

#endif /* TROVE_TESTUTIL_H */
