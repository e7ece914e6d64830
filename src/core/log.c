/*
 * log.c - the logging callback. The library never writes to stdout/stderr;
 * it formats a message and hands it to the installed callback.
 */
#include "trove/core.h"

#include <stdio.h>

static trove_log_fn g_log_fn = NULL;
static void *g_log_ud = NULL;
static int g_log_level = TROVE_LOG_INFO;

void trove_set_log(trove_log_fn fn, void *ud, int max_level)
{
    g_log_fn = fn;
    g_log_ud = ud;
    g_log_level = max_level;
}

int trove_log_enabled(int level)
{
    return g_log_fn != NULL && level <= g_log_level;
}

void trove_log(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!trove_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(g_log_ud, level, buf);
}
