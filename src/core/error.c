/*
 * error.c - status code table and trove_error messages.
 *
 * Names and descriptions come from TROVE_STATUS_TABLE in core.h, so adding a
 * code is one line there.
 */
#include "trove/core.h"

#include <stdio.h>
#include <string.h>

const char *trove_version(void)
{
    return TROVE_VERSION_STRING;
}

const char *trove_strerror(int status)
{
    switch (status) {
#define TROVE__STATUS_TEXT(name, value, text) case value: return text;
        TROVE_STATUS_TABLE(TROVE__STATUS_TEXT)
#undef TROVE__STATUS_TEXT
    default:
        return "unknown status";
    }
}

const char *trove_status_name(int status)
{
    switch (status) {
#define TROVE__STATUS_NAME(name, value, text) case value: return "TROVE_" #name;
        TROVE_STATUS_TABLE(TROVE__STATUS_NAME)
#undef TROVE__STATUS_NAME
    default:
        return "TROVE_UNKNOWN";
    }
}

void trove_error_clear(trove_error *err)
{
    if (err == NULL)
        return;
    err->code = TROVE_OK;
    err->msg[0] = '\0';
}

int trove_error_setv(trove_error *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    if (fmt == NULL || fmt[0] == '\0') {
        snprintf(err->msg, sizeof err->msg, "%s", trove_strerror(code));
        return code;
    }
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

int trove_error_set(trove_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    trove_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int trove_error_prefix(trove_error *err, const char *fmt, ...)
{
    char old[TROVE_ERROR_MSG_MAX];
    const char *rest;
    size_t n, m;
    va_list ap;

    if (err == NULL)
        return TROVE_OK;
    memcpy(old, err->msg, sizeof old);
    rest = old[0] ? old : trove_strerror(err->code);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* append ": " and the old message, truncating at the buffer's end */
    n = strlen(err->msg);
    m = strlen(rest);
    if (n + 2 < sizeof err->msg) {
        memcpy(err->msg + n, ": ", 2);
        n += 2;
        if (m > sizeof err->msg - 1 - n)
            m = sizeof err->msg - 1 - n;
        memcpy(err->msg + n, rest, m);
        err->msg[n + m] = '\0';
    }
    return err->code;
}
