/*
 * clock.c - local days of a market's time zone for treasure hunts: the day
 * a hunt belongs to, the UTC instant its day starts and ends, and
 * "YYYY-MM-DD" day names.
 *
 * The zone's UTC offsets come from the rules engine's TZif reader
 * (src/rules/tz.c, RFC 8536), so hunts and rule schedules agree on what a
 * local day is. Day numbers count days since 1970-01-01 on the proleptic
 * Gregorian calendar (H. Hinnant's days_from_civil / civil_from_days).
 */
#include "trove/hunt.h"
#include "rules/rules_int.h"

#include <string.h>

struct trove_hunt_clock {
    trove__tz tz;
};

int trove_hunt_clock_new(const char *tz, trove_hunt_clock **out,
                         trove_error *err)
{
    trove_hunt_clock *c;
    int rc;
    if (out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt clock: no output");
    if ((c = trove_calloc(1, sizeof *c)) == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "hunt clock: out of memory");
    rc = trove__rules_tz_load(tz != NULL && tz[0] != '\0' ? tz : "UTC", &c->tz,
                              err);
    if (rc != TROVE_OK) {
        trove_free(c);
        return rc;
    }
    *out = c;
    return TROVE_OK;
}

void trove_hunt_clock_free(trove_hunt_clock *c)
{
    if (c == NULL)
        return;
    trove__rules_tz_free(&c->tz);
    trove_free(c);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int32_t trove_hunt_clock_day(const trove_hunt_clock *c, int64_t t)
{
    int64_t local = t + (c ? trove__rules_tz_offset(&c->tz, t) : 0);
    return (int32_t)floor_div(local, 86400);
}

int64_t trove_hunt_clock_midnight(const trove_hunt_clock *c, int32_t day)
{
    int64_t local = (int64_t)day * 86400;
    return c ? trove__rules_tz_to_utc(&c->tz, local) : local;
}

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int trove_hunt_day_parse(const char *s, int32_t *day)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d;
    if (s == NULL || day == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return TROVE_EINVAL;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return TROVE_EINVAL;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    mo = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
        return TROVE_EINVAL;
    *day = (int32_t)days_from_civil(y, mo, d);
    return TROVE_OK;
}

void trove_hunt_day_format(int32_t day, char out[11])
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 0 || y > 9999)
        y = 0;
    const int64_t v[3] = { y, m, d };
    const int width[3] = { 4, 2, 2 };
    size_t o = 0;
    for (int f = 0; f < 3; f++) {
        for (int k = width[f] - 1; k >= 0; k--) {
            int64_t q = v[f];
            for (int j = 0; j < k; j++)
                q /= 10;
            out[o++] = (char)('0' + q % 10);
        }
        out[o++] = f < 2 ? '-' : '\0';
    }
}
