/*
 * bucket.c - GrowthBook-compatible experiment hashing and bucketing (see
 * trove/experiment.h for the definitions, taken from the GrowthBook SDK's
 * util.ts and checked against the "hash" and "getBucketRange" vectors of
 * its test/cases.json in tests/unit/test_ab.c).
 *
 * FNV-1a (Fowler, Noll, Vo): h = 2166136261; for each unit c:
 * h = (h ^ c) * 16777619 mod 2^32. The SDK multiplies with shifts and adds
 * ((h << 1) + (h << 4) + (h << 7) + (h << 8) + (h << 24) added to h, i.e.
 * h * 0x01000193) and truncates with >>> 0: the same product modulo 2^32.
 * JavaScript strings are UTF-16, so non-ASCII text is hashed per UTF-16
 * code unit, not per UTF-8 byte; we decode UTF-8 to match.
 *
 * The v2 hash concatenates seed and value and, for the second round, the
 * decimal text of the first hash, which is what `hash + ""` gives in
 * JavaScript for an unsigned 32-bit integer.
 */
#include "trove/experiment.h"

#include <stdio.h>
#include <string.h>

#define FNV32_OFFSET 2166136261u
#define FNV32_PRIME 16777619u

const char *trove_arm_name(int arm)
{
    switch (arm) {
    case TROVE_ARM_CONTROL: return "control";
    case TROVE_ARM_TEST:    return "test";
    default:                return "unknown";
    }
}

static uint32_t fnv_unit(uint32_t h, uint32_t unit)
{
    return (h ^ unit) * FNV32_PRIME;
}

/* Continue an FNV-1a state over UTF-8 text as UTF-16 code units. */
static uint32_t fnv_utf16(uint32_t h, const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        uint32_t cp;
        size_t need;
        if (c < 0x80) {
            h = fnv_unit(h, c);
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            need = 0;
            cp = 0;
        }
        {
            int ok = need > 0;
            for (size_t k = 1; ok && k <= need; k++) {
                if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                    ok = 0;
                else
                    cp = (cp << 6) | (s[i + k] & 0x3f);
            }
            /* overlong or out-of-range sequences and surrogates are not
             * valid UTF-8: such a lead byte counts as one unit */
            if (ok && ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
                       cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
                ok = 0;
            if (!ok) {
                h = fnv_unit(h, c);
                i++;
                continue;
            }
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = fnv_unit(h, 0xd800 + (cp >> 10));
            h = fnv_unit(h, 0xdc00 + (cp & 0x3ff));
        } else {
            h = fnv_unit(h, cp);
        }
        i += need + 1;
    }
    return h;
}

uint32_t trove_fnv1a32(const char *s, size_t len)
{
    return fnv_utf16(FNV32_OFFSET, (const unsigned char *)s, len);
}

int trove_experiment_hash(const char *seed, const char *value, int version,
                          double *out)
{
    size_t ls, lv;
    uint32_t h;
    char digits[16];
    if (seed == NULL || value == NULL || out == NULL)
        return TROVE_EINVAL;
    ls = strlen(seed);
    lv = strlen(value);
    /* Hashing a concatenation is continuing the state over the second part,
     * unless a multi-byte character straddles the seam; the parts are
     * whole strings, so it never does. */
    if (version == 2) {
        h = fnv_utf16(FNV32_OFFSET, (const unsigned char *)seed, ls);
        h = fnv_utf16(h, (const unsigned char *)value, lv);
        snprintf(digits, sizeof digits, "%u", (unsigned)h);
        h = trove_fnv1a32(digits, strlen(digits));
        *out = (double)(h % 10000u) / 10000.0;
        return TROVE_OK;
    }
    if (version == 1) {
        h = fnv_utf16(FNV32_OFFSET, (const unsigned char *)value, lv);
        h = fnv_utf16(h, (const unsigned char *)seed, ls);
        *out = (double)(h % 1000u) / 1000.0;
        return TROVE_OK;
    }
    return TROVE_EINVAL;
}

void trove_experiment_bucket_ranges(size_t n, double coverage,
                                    const double *weights, double (*ranges)[2])
{
    double total = 0, cumulative = 0;
    int equal = weights == NULL;
    if (!(coverage >= 0))
        coverage = 0;
    else if (coverage > 1)
        coverage = 1;
    if (!equal) {
        for (size_t i = 0; i < n; i++)
            total += weights[i];
        equal = total < 0.99 || total > 1.01;
    }
    for (size_t i = 0; i < n; i++) {
        double w = equal ? 1.0 / (double)n : weights[i];
        ranges[i][0] = cumulative;
        ranges[i][1] = cumulative + coverage * w;
        cumulative += w;
    }
}

int trove_experiment_choose(double bucket, const double (*ranges)[2], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (bucket >= ranges[i][0] && bucket < ranges[i][1])
            return (int)i;
    return -1;
}

int trove_experiment_arm(const char *salt, const char *user_ext_id,
                         double test_share, double *bucket)
{
    double b, ranges[2][2], weights[2];
    int rc, v;
    if (salt == NULL || user_ext_id == NULL || !(test_share >= 0) ||
        test_share > 1)
        return TROVE_EINVAL;
    if ((rc = trove_experiment_hash(salt, user_ext_id, 2, &b)) != TROVE_OK)
        return rc;
    weights[TROVE_ARM_CONTROL] = 1 - test_share;
    weights[TROVE_ARM_TEST] = test_share;
    trove_experiment_bucket_ranges(2, 1, weights, ranges);
    v = trove_experiment_choose(b, (const double (*)[2])ranges, 2);
    /* The last range may end a rounding error below 1; a bucket beyond it
     * belongs to the last arm with a positive weight. */
    if (v < 0)
        v = test_share > 0 ? TROVE_ARM_TEST : TROVE_ARM_CONTROL;
    if (bucket)
        *bucket = b;
    return v;
}
