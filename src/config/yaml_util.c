/*
 * yaml_util.c - one-document loading, positioned errors and strict typed
 * scalar reads for the config module's YAML adapters (market configs, rule
 * files, hunt templates, worlds, tuned settings).
 */
#include "config/yaml_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int trove__yaml_load(const char *text, size_t len, const char *name,
                     yaml_document_t *doc, trove_error *err)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int status = TROVE_OK;

    if (!yaml_parser_initialize(&parser))
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc))
        goto parse_error;
    /* One document per file: a second one would silently be ignored. */
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_document_delete(doc);
        goto parse_error;
    }
    {
        yaml_node_t *r2 = yaml_document_get_root_node(&extra);
        if (r2 != NULL) {
            status = trove_error_set(err, TROVE_EFORMAT,
                                     "%s:%zu:%zu: more than one YAML document", name,
                                     r2->start_mark.line + 1, r2->start_mark.column + 1);
            yaml_document_delete(doc);
        }
    }
    yaml_document_delete(&extra);
    yaml_parser_delete(&parser);
    return status;

parse_error:
    if (parser.error == YAML_MEMORY_ERROR)
        status = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
    else
        status = trove_error_set(err, TROVE_EFORMAT, "%s:%zu:%zu: %s%s%s", name,
                                 parser.problem_mark.line + 1,
                                 parser.problem_mark.column + 1,
                                 parser.problem ? parser.problem : "bad YAML",
                                 parser.context ? " " : "",
                                 parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    return status;
}

int trove__yaml_failv(trove_error *err, const char *file, const yaml_node_t *n,
                      const char *fmt, va_list ap)
{
    char msg[TROVE_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return trove_error_set(err, TROVE_EFORMAT, "%s:%zu:%zu: %s", file,
                           n->start_mark.line + 1, n->start_mark.column + 1, msg);
}

int trove__yaml_fail(trove_error *err, const char *file, const yaml_node_t *n,
                     const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = trove__yaml_failv(err, file, n, fmt, ap);
    va_end(ap);
    return rc;
}

const char *trove__yaml_scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

const char *trove__yaml_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:  return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default:                 return "a scalar";
    }
}

int trove__yaml_want(trove_error *err, const char *file, const yaml_node_t *n,
                     yaml_node_type_t type, const char *key)
{
    if (n->type == type)
        return TROVE_OK;
    return trove__yaml_fail(err, file, n, "'%s' must be %s, not %s", key,
                            type == YAML_MAPPING_NODE ? "a mapping"
                            : type == YAML_SEQUENCE_NODE ? "a list" : "a scalar",
                            trove__yaml_kind(n));
}

int trove__yaml_int(trove_error *err, const char *file, const yaml_node_t *n,
                    const char *key, long long min, long long max,
                    long long *out)
{
    const char *s;
    char *end;
    long long v;
    int rc = trove__yaml_want(err, file, n, YAML_SCALAR_NODE, key);
    if (rc != TROVE_OK)
        return rc;
    s = trove__yaml_scalar(n);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || s[0] == '\0' ||
        isspace((unsigned char)s[0]) || *end != '\0' || errno != 0)
        return trove__yaml_fail(err, file, n, "'%s' must be an integer, not '%s'",
                                key, s);
    if (v < min || v > max)
        return trove__yaml_fail(err, file, n, "'%s' is %lld, must be in [%lld, "
                                "%lld]", key, v, min, max);
    *out = v;
    return TROVE_OK;
}

int trove__yaml_number(trove_error *err, const char *file, const yaml_node_t *n,
                       const char *key, double min, double max, double *out)
{
    const char *s;
    char *end;
    double v;
    int rc = trove__yaml_want(err, file, n, YAML_SCALAR_NODE, key);
    if (rc != TROVE_OK)
        return rc;
    s = trove__yaml_scalar(n);
    for (const char *p = s; *p; p++)
        if (!(isdigit((unsigned char)*p) || strchr(".eE+-", *p)))
            return trove__yaml_fail(err, file, n, "'%s' must be a number, not "
                                    "'%s'", key, s);
    errno = 0;
    v = strtod(s, &end);
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || s[0] == '\0' ||
        *end != '\0' || errno != 0 || !isfinite(v))
        return trove__yaml_fail(err, file, n, "'%s' must be a number, not '%s'",
                                key, s);
    if (v < min || v > max)
        return trove__yaml_fail(err, file, n, "'%s' is %g, must be in [%g, %g]",
                                key, v, min, max);
    *out = v;
    return TROVE_OK;
}
