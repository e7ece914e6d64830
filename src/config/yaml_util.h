/*
 * yaml_util.h (internal) - the pieces every YAML adapter of the config
 * module shares: loading exactly one document with file:line:column errors,
 * node-positioned error messages, and strict typed reads of scalars. Only
 * src/config/ includes <yaml.h>.
 */
#ifndef TROVE_CONFIG_YAML_UTIL_H
#define TROVE_CONFIG_YAML_UTIL_H

#include "trove/core.h"

#include <stdarg.h>
#include <yaml.h>

/* Parse text (len bytes) as one YAML document into *doc; name stands for
 * the file in messages. On success the caller owns *doc (free it with
 * yaml_document_delete); its root is NULL for an empty file. Returns
 * TROVE_OK, TROVE_EFORMAT ("name:line:col: problem context", or more than
 * one document) or TROVE_ENOMEM; nothing to free on failure. */
int trove__yaml_load(const char *text, size_t len, const char *name,
                     yaml_document_t *doc, trove_error *err);

/* "file:line:col: message" at node n (1-based); returns TROVE_EFORMAT. */
int trove__yaml_failv(trove_error *err, const char *file, const yaml_node_t *n,
                      const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* The same with the arguments inline. */
int trove__yaml_fail(trove_error *err, const char *file, const yaml_node_t *n,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The text of a scalar node; "a mapping", "a list" or "a scalar". */
const char *trove__yaml_scalar(const yaml_node_t *n);
const char *trove__yaml_kind(const yaml_node_t *n);

/* Typed reads of the value node n of `key`, each failing with
 * "file:line:col: 'key' must be ..." (TROVE_EFORMAT) and writing *out only
 * on success. Numbers are plain (unquoted) decimal scalars read whole: no
 * leading blanks, hexadecimal, "inf" or "nan".
 *   want:   n is of `type`
 *   int:    an integer in [min, max]
 *   number: a finite number in [min, max] */
int trove__yaml_want(trove_error *err, const char *file, const yaml_node_t *n,
                     yaml_node_type_t type, const char *key);
int trove__yaml_int(trove_error *err, const char *file, const yaml_node_t *n,
                    const char *key, long long min, long long max,
                    long long *out);
int trove__yaml_number(trove_error *err, const char *file, const yaml_node_t *n,
                       const char *key, double min, double max, double *out);

#endif /* TROVE_CONFIG_YAML_UTIL_H */
