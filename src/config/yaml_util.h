/*
 * yaml_util.h (internal) - the pieces every YAML adapter of the config
 * module shares: loading exactly one document with file:line:column errors,
 * and node-positioned error messages. Only src/config/ includes <yaml.h>.
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

#endif /* TROVE_CONFIG_YAML_UTIL_H */
