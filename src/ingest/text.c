/*
 * text.c - validation and conversion of field text: UTF-8 checking,
 * latin-1 conversion, strict integer/real parsing, timestamps, trimming and
 * a growable byte buffer.
 *
 * Parsers are strict: the whole field must be consumed, no leading or
 * trailing blanks, no hexadecimal, no NaN or infinity. Timestamps are UTC
 * seconds; calendar dates are converted with Howard Hinnant's
 * days_from_civil algorithm ("chrono-Compatible Low-Level Date Algorithms",
 * 2013), which is exact for the proleptic Gregorian calendar.
 */
#include "ingest/ingest_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int trove__utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 ASCII bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) != 0)
                break;
            /* a zero byte: (w - 0x01..) & ~w & 0x80.. is non-zero */
            if (((w - UINT64_C(0x0101010101010101)) & ~w & UINT64_C(0x8080808080808080)) != 0)
                return 0;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return 0;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80)
                return 0;
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            unsigned c1;
            if (i + 2 >= n)
                return 0;
            c1 = s[i + 1];
            if ((c1 & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80)
                return 0;
            if (c == 0xe0 && c1 < 0xa0)          /* overlong */
                return 0;
            if (c == 0xed && c1 >= 0xa0)         /* surrogates */
                return 0;
            i += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            unsigned c1;
            if (i + 3 >= n)
                return 0;
            c1 = s[i + 1];
            if ((c1 & 0xc0) != 0x80 || (s[i + 2] & 0xc0) != 0x80 ||
                (s[i + 3] & 0xc0) != 0x80)
                return 0;
            if (c == 0xf0 && c1 < 0x90)          /* overlong */
                return 0;
            if (c == 0xf4 && c1 >= 0x90)         /* above U+10FFFF */
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

size_t trove__latin1_to_utf8(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            out[o++] = (char)(0xc0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    out[o] = '\0';
    return o;
}

int trove__parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0;
    if (n == 0)
        return -1;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
        if (n == 1)
            return -1;
    }
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        if (v > (UINT64_C(1) << 63) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (UINT64_C(1) << 63))
            return -1;
        *out = v == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v;
    }
    return 0;
}

int trove__parse_double(const char *s, size_t n, double *out)
{
    char tmp[64];
    char *end;
    double v;
    size_t i = 0;
    int digits = 0;

    if (n == 0 || n >= sizeof tmp)
        return -1;
    /* accept only [+-]digits[.digits][(e|E)[+-]digits]: strtod alone would
     * also take hex, "inf", "nan" and leading blanks */
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int edigits = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            edigits++;
        }
        if (edigits == 0)
            return -1;
    }
    if (i != n)
        return -1;
    /* Clinger's fast path (W. D. Clinger, "How to read floating point
     * numbers accurately", PLDI 1990): a mantissa below 2^53 and a power of
     * ten up to 10^22 are both exact doubles, so one IEEE division is
     * correctly rounded. Covers prices and ratings such as "2.55". */
    if (i <= 17) {
        static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
                                       1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16};
        uint64_t mant = 0;
        int frac = -1, neg = s[0] == '-', simple = 1;
        for (size_t k = (s[0] == '+' || s[0] == '-'); k < n; k++) {
            if (s[k] == '.') {
                frac = 0;
                continue;
            }
            if (s[k] < '0' || s[k] > '9') {
                simple = 0;
                break;
            }
            mant = mant * 10 + (uint64_t)(s[k] - '0');
            if (frac >= 0)
                frac++;
        }
        if (simple && mant < (UINT64_C(1) << 53)) {
            double v0 = (double)mant / pow10[frac > 0 ? frac : 0];
            *out = neg ? -v0 : v0;
            return 0;
        }
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int64_t trove__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits_at(const char *s, size_t n, size_t pos, size_t count, unsigned *out)
{
    unsigned v = 0;
    if (pos + count > n)
        return -1;
    for (size_t i = 0; i < count; i++) {
        unsigned d = (unsigned)(s[pos + i] - '0');
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int trove__parse_iso(const char *s, size_t n, int64_t *out)
{
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    size_t i = 10;
    int64_t offset = 0;

    if (digits_at(s, n, 0, 4, &y) || n < 10 || s[4] != '-' ||
        digits_at(s, n, 5, 2, &mo) || s[7] != '-' || digits_at(s, n, 8, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    if (i < n && (s[i] == ' ' || s[i] == 'T')) {
        if (digits_at(s, n, i + 1, 2, &h) || i + 3 >= n || s[i + 3] != ':' ||
            digits_at(s, n, i + 4, 2, &mi))
            return -1;
        i += 6;
        if (i < n && s[i] == ':') {
            if (digits_at(s, n, i + 1, 2, &sec))
                return -1;
            i += 3;
            if (i < n && s[i] == '.') {
                i++;
                if (i >= n || s[i] < '0' || s[i] > '9')
                    return -1;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                    i++;   /* fractions of a second are dropped */
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return -1;
        if (i < n && s[i] == 'Z') {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            unsigned oh, om;
            int sign = s[i] == '-' ? -1 : 1;
            if (digits_at(s, n, i + 1, 2, &oh))
                return -1;
            i += 3;
            if (i < n && s[i] == ':')
                i++;
            if (digits_at(s, n, i, 2, &om))
                return -1;
            i += 2;
            if (oh > 23 || om > 59)
                return -1;
            offset = sign * (int64_t)(oh * 3600 + om * 60);
        }
    }
    if (i != n)
        return -1;
    *out = trove__days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
           (int64_t)mi * 60 + sec - offset;
    return 0;
}

int trove__parse_ts(const char *s, size_t n, const char *fmt, int64_t *out)
{
    if (fmt == NULL || strcmp(fmt, "auto") == 0) {
        if (trove__parse_i64(s, n, out) == 0)
            return 0;
        return trove__parse_iso(s, n, out);
    }
    if (strcmp(fmt, "unix") == 0)
        return trove__parse_i64(s, n, out);
    if (strcmp(fmt, "iso") == 0)
        return trove__parse_iso(s, n, out);
    {
        struct tm tm;
        const char *end;
        memset(&tm, 0, sizeof tm);
        tm.tm_mday = 1;
        end = strptime(s, fmt, &tm);
        if (end == NULL || end != s + n)
            return -1;
        if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1)
            return -1;
        *out = trove__days_from_civil((int64_t)tm.tm_year + 1900,
                                      (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday) * 86400 +
               (int64_t)tm.tm_hour * 3600 + (int64_t)tm.tm_min * 60 + tm.tm_sec;
    }
    return 0;
}

char *trove__trim(char *s, size_t *n)
{
    size_t len = *n;
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    s[len] = '\0';
    *n = len;
    return s;
}

int trove__buf_reserve(trove__buf *b, size_t cap)
{
    char *p;
    size_t ncap;
    if (cap <= b->cap)
        return TROVE_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < cap)
        ncap *= 2;
    p = trove_realloc(b->p, ncap);
    if (p == NULL)
        return TROVE_ENOMEM;
    b->p = p;
    b->cap = ncap;
    return TROVE_OK;
}

int trove__buf_set(trove__buf *b, const char *s, size_t n)
{
    b->len = 0;
    return trove__buf_append(b, s, n);
}

int trove__buf_append(trove__buf *b, const char *s, size_t n)
{
    if (trove__buf_reserve(b, b->len + n + 1) != TROVE_OK)
        return TROVE_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return TROVE_OK;
}

void trove__buf_free(trove__buf *b)
{
    trove_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
