/*
 * tz.c - UTC offsets of an IANA time zone read straight from its TZif file
 * (RFC 8536, version 2 or later: the 64-bit transition block), so that the
 * rules engine converts local schedule times to UTC without touching the
 * process-wide TZ variable (localtime_r with a changed TZ is not
 * thread-safe). The zone is loaded once at compile time into two arrays;
 * lookups are binary searches.
 *
 * Limits: past the last transition of the file the last offset is kept
 * (Debian's "fat" files list transitions up to 2037); the POSIX TZ footer
 * is not evaluated.
 */
#include "rules_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_FILE (1u << 20)

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* The six counts of a TZif header at p. */
static int read_header(const unsigned char *p, size_t avail, uint32_t c[6])
{
    if (avail < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    for (int k = 0; k < 6; k++)
        c[k] = be32(p + 20 + 4 * k);
    return 0;
}

/* Bytes of a data block with counts c and time size ts. */
static size_t block_size(const uint32_t c[6], size_t ts)
{
    /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    return (size_t)c[3] * ts + c[3] + (size_t)c[4] * 6 + c[5] +
           (size_t)c[2] * (ts + 4) + c[1] + c[0];
}

static int parse_tzif(const unsigned char *buf, size_t len, trove__tz *tz)
{
    uint32_t c[6];
    const unsigned char *p, *times, *idx, *types;
    size_t skip;
    int rc = TROVE_EFORMAT;

    if (read_header(buf, len, c) != 0 || buf[4] < '2')
        return TROVE_EFORMAT;
    skip = 44 + block_size(c, 4);
    if (skip > len || read_header(buf + skip, len - skip, c) != 0)
        return TROVE_EFORMAT;
    p = buf + skip + 44;
    if (c[4] == 0 || c[4] > 256 || c[3] > 100000 ||
        block_size(c, 8) > len - skip - 44)
        return TROVE_EFORMAT;
    times = p;
    idx = times + (size_t)c[3] * 8;
    types = idx + c[3];
    tz->n = c[3];
    tz->initial = (int32_t)be32(types);
    if (tz->n > 0) {
        tz->trans = trove_malloc(tz->n * sizeof *tz->trans);
        tz->offsets = trove_malloc(tz->n * sizeof *tz->offsets);
        if (tz->trans == NULL || tz->offsets == NULL) {
            rc = TROVE_ENOMEM;
            goto fail;
        }
    }
    for (size_t k = 0; k < tz->n; k++) {
        if (idx[k] >= c[4] || (k > 0 && be64(times + 8 * k) <= tz->trans[k - 1]))
            goto fail;
        tz->trans[k] = be64(times + 8 * k);
        tz->offsets[k] = (int32_t)be32(types + 6 * (size_t)idx[k]);
    }
    for (size_t k = 0; k < tz->n; k++)
        if (tz->offsets[k] < -86400 || tz->offsets[k] > 86400)
            goto fail;
    return TROVE_OK;
fail:
    trove__rules_tz_free(tz);
    return rc;
}

int trove__rules_tz_load(const char *name, trove__tz *tz, trove_error *err)
{
    const char *dir = getenv("TZDIR");
    char path[4096];
    unsigned char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    int rc = TROVE_OK;

    memset(tz, 0, sizeof *tz);
    if (name == NULL || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        return TROVE_OK;
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL)
        return trove_error_set(err, TROVE_ENOTFOUND, "time zone '%s': not an "
                               "IANA zone name", name);
    snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo",
             name);
    if ((f = fopen(path, "rb")) == NULL)
        return trove_error_set(err, errno == ENOENT ? TROVE_ENOTFOUND : TROVE_EIO,
                               "time zone '%s': %s: %s", name, path,
                               strerror(errno));
    if ((buf = trove_malloc(TZ_MAX_FILE)) == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "time zone '%s': out of memory",
                             name);
        goto done;
    }
    len = fread(buf, 1, TZ_MAX_FILE, f);
    if (ferror(f)) {
        rc = trove_error_set(err, TROVE_EIO, "time zone '%s': %s: read error",
                             name, path);
        goto done;
    }
    rc = parse_tzif(buf, len, tz);
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, rc, "time zone '%s': out of memory", name);
    else if (rc != TROVE_OK)
        trove_error_set(err, rc, "time zone '%s': %s is not a TZif file of "
                        "version 2 or later", name, path);
done:
    fclose(f);
    trove_free(buf);
    return rc;
}

void trove__rules_tz_free(trove__tz *tz)
{
    trove_free(tz->trans);
    trove_free(tz->offsets);
    memset(tz, 0, sizeof *tz);
}

int32_t trove__rules_tz_offset(const trove__tz *tz, int64_t t)
{
    size_t lo = 0, hi = tz->n;
    if (tz->n == 0 || t < tz->trans[0])
        return tz->initial;
    /* last k with trans[k] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offsets[lo];
}

int64_t trove__rules_tz_to_utc(const trove__tz *tz, int64_t local)
{
    /* Offsets change at most once within a day around any instant of
     * interest, so the offsets a day before and after are the candidates. */
    int32_t before = trove__rules_tz_offset(tz, local - 86400);
    int32_t after = trove__rules_tz_offset(tz, local + 86400);
    if (trove__rules_tz_offset(tz, local - before) == before)
        return local - before;
    if (trove__rules_tz_offset(tz, local - after) == after)
        return local - after;
    /* A local time skipped by a forward jump (02:30 on the spring day):
     * read with the offset in force before the jump, it lands as far past
     * the jump as it was past the skipped hour's start (03:30), as mktime
     * does. */
    return local - before;
}
