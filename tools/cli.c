/*
 * cli.c - helpers shared by the subcommands.
 */
#include "cli.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void log_to_stderr(void *ud, int level, const char *msg)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    (void)ud;
    if (level == TROVE_LOG_INFO)
        fprintf(stderr, "%s\n", msg);
    else
        fprintf(stderr, "trove: %s: %s\n", names[level & 3], msg);
}

void cli_setup_log(int verbose)
{
    int level = TROVE_LOG_WARN;
    if (verbose == 1)
        level = TROVE_LOG_INFO;
    else if (verbose >= 2)
        level = TROVE_LOG_DEBUG;
    trove_set_log(log_to_stderr, NULL, level);
}

int cli_fail(const char *cmd, const trove_error *err)
{
    const char *msg = (err && err->msg[0]) ? err->msg
                      : trove_strerror(err ? err->code : TROVE_EINVAL);
    fprintf(stderr, "trove %s: %s\n", cmd, msg);
    return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "trove %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'trove %s --help')\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    char *end;
    double v;
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || v != v)
        return -1;
    *out = v;
    return 0;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':  fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

int cli_write_side_ids(const char *path, const trove_dataset *ds, trove_error *err)
{
    char side[4200];
    int rc;
    if (snprintf(side, sizeof side, "%s.users", path) >= (int)sizeof side)
        return trove_error_set(err, TROVE_EINVAL, "%s: path too long", path);
    if ((rc = trove_idmap_write(trove_dataset_user_ids(ds), side, err)) != TROVE_OK)
        return rc;
    snprintf(side, sizeof side, "%s.items", path);
    return trove_idmap_write(trove_dataset_item_ids(ds), side, err);
}

int cli_mkdirs(const char *dir, trove_error *err)
{
    char part[4096];
    size_t n = strlen(dir);
    struct stat sb;
    if (n == 0 || n >= sizeof part)
        return trove_error_set(err, TROVE_EINVAL, "directory '%s': empty or too long", dir);
    memcpy(part, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (part[i] != '/' && part[i] != '\0')
            continue;
        char c = part[i];
        part[i] = '\0';
        if (mkdir(part, 0777) != 0 && errno != EEXIST)
            return trove_error_set(err, TROVE_EIO, "%s: cannot create: %s", part,
                                   strerror(errno));
        part[i] = c;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return trove_error_set(err, TROVE_EIO, "%s: not a directory", dir);
    return TROVE_OK;
}
