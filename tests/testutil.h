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

#endif /* TROVE_TESTUTIL_H */
