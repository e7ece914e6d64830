/*
 * yaml_util.c - one-document loading and positioned errors for the config
 * module's YAML adapters (market configs, rule files, worlds, tuned
 * settings).
 */
#include "config/yaml_util.h"

#include <stdio.h>

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
