/*
 * cli.h - shared pieces of the trove command-line program: the subcommand
 * table, logging to stderr, and small argument helpers.
 *
 * Exit codes: 0 success, 1 failure (message on stderr), 2 usage error.
 */
#ifndef TROVE_CLI_H
#define TROVE_CLI_H

#include "trove/trove.h"

#include <stdio.h>

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

#define X(name, fn, summary) int fn(int argc, char **argv);
#include "commands.def"
#undef X

/* Install a stderr log callback ("trove: warning: ..."). verbose: 0 = warnings
 * and errors, 1 = info, 2 = debug. */
void cli_setup_log(int verbose);

/* Print "trove <cmd>: <msg>" for a failed call and return CLI_EXIT_FAIL. */
int cli_fail(const char *cmd, const trove_error *err);
/* Print a usage error and return CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Strict number parsing: whole string, range-checked. 0 on success, -1 on
 * error. */
int cli_parse_long(const char *s, long min, long max, long *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out);

/* Monotonic seconds. */
double cli_now(void);

/* Print a string as a JSON string literal (with quotes and escapes). */
void cli_json_string(FILE *f, const char *s);

/* Write the raw ids of a model saved at `path` beside it, `<path>.users`
 * and `<path>.items` (index files of ds's universes, trove_idmap_write),
 * which trove_recommender_load_model and `trove recommend` read for
 * models that store no ids of their own. */
int cli_write_side_ids(const char *path, const trove_dataset *ds, trove_error *err);

/* Create directory `dir` and its missing parents (mkdir -p); TROVE_OK when
 * it exists afterwards, else TROVE_EIO naming the part that failed. */
int cli_mkdirs(const char *dir, trove_error *err);

#endif /* TROVE_CLI_H */
