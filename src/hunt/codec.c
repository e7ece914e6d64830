/*
 * codec.c - the stored form of a hunt: text lines "key value ...", first
 * "trove-hunt 1". Strings are percent-escaped (bytes <= 0x20, 0x7f and '%'
 * become %XX) so that a value never holds a space or a newline; the empty
 * string is written "-" (a string "-" itself is "%2D").
 *
 * Invariants: decode(encode(h)) == h for every hunt generate/advance can
 * produce; decode refuses unknown versions, unknown keys, missing lines and
 * out-of-range numbers, naming the line.
 */
#include "trove/hunt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUNT_CODEC_VERSION 1

typedef struct sbuf {
    char  *p;
    size_t n, cap;
    int    failed;
} sbuf;

static void put(sbuf *b, const char *s, size_t len)
{
    if (b->failed)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = trove_realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void putf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_esc(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    put(b, " ", 1);
    if (s[0] == '\0') {
        put(b, "-", 1);
        return;
    }
    if (strcmp(s, "-") == 0) {
        put(b, "%2D", 3);
        return;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= 0x20 || *c == 0x7f || *c == '%') {
            char e[3] = { '%', hex[*c >> 4], hex[*c & 15] };
            put(b, e, 3);
        } else {
            put(b, (const char *)c, 1);
        }
    }
}

int trove_hunt_encode(const trove_hunt *h, char **text, size_t *len)
{
    sbuf b = { NULL, 0, 0, 0 };
    if (h == NULL || text == NULL || h->n_steps > TROVE_HUNT_MAX_STEPS)
        return TROVE_EINVAL;
    putf(&b, "trove-hunt %d\nid", HUNT_CODEC_VERSION);
    put_esc(&b, h->id);
    put(&b, "\nuser", 5);
    put_esc(&b, h->user);
    put(&b, "\nmarket", 7);
    put_esc(&b, h->market);
    put(&b, "\ntemplate", 9);
    put_esc(&b, h->template_name);
    putf(&b, "\nday %d\ncreated %lld\nexpires %lld\nsource %d\nsteps %zu\n",
         (int)h->day, (long long)h->created_ts, (long long)h->expires_ts,
         h->source, h->n_steps);
    for (size_t k = 0; k < h->n_steps; k++) {
        const trove_hunt_step *st = &h->steps[k];
        putf(&b, "step %d", st->kind);
        put_esc(&b, st->item);
        put_esc(&b, st->category);
        put_esc(&b, st->partner);
        put_esc(&b, st->partner_category);
        if (isfinite(st->score))
            putf(&b, " %d %.9g %lld\n", st->pair_source, (double)st->score,
                 (long long)st->done_ts);
        else
            putf(&b, " %d nan %lld\n", st->pair_source, (long long)st->done_ts);
    }
    putf(&b, "done %zu\nreward %d", h->n_done, h->reward_state);
    put_esc(&b, h->reward_id);
    put_esc(&b, h->reward_title);
    putf(&b, " %lld\n", (long long)h->reward_ts);
    if (b.failed) {
        trove_free(b.p);
        return TROVE_ENOMEM;
    }
    *text = b.p;
    if (len)
        *len = b.n;
    return TROVE_OK;
}

/* ------------------------------------------------------------- decoding */
typedef struct reader {
    const char *p;       /* current position */
    int         line;
    trove_error *err;
} reader;

static int bad(reader *r, const char *what)
{
    return trove_error_set(r->err, TROVE_EFORMAT, "hunt record:%d: %s", r->line,
                           what);
}

/* The next space-separated token of the line into tok (size bytes). */
static int token(reader *r, char *tok, size_t size)
{
    size_t n = 0;
    while (*r->p == ' ')
        r->p++;
    while (*r->p != '\0' && *r->p != ' ' && *r->p != '\n') {
        if (n + 1 >= size)
            return bad(r, "value too long");
        tok[n++] = *r->p++;
    }
    tok[n] = '\0';
    if (n == 0)
        return bad(r, "missing value");
    return TROVE_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int string(reader *r, char *out, size_t size)
{
    char tok[TROVE_HUNT_ID_MAX * 4];
    size_t n = 0;
    int rc = token(r, tok, sizeof tok);
    if (rc != TROVE_OK)
        return rc;
    if (strcmp(tok, "-") == 0) {
        out[0] = '\0';
        return TROVE_OK;
    }
    for (const char *c = tok; *c; c++) {
        int ch = (unsigned char)*c;
        if (*c == '%') {
            int hi = hexval(c[1]), lo = hi < 0 ? -1 : hexval(c[2]);
            if (hi < 0 || lo < 0)
                return bad(r, "bad escape");
            ch = hi * 16 + lo;
            c += 2;
        }
        if (ch == 0 || n + 1 >= size)
            return bad(r, "string too long or with a NUL");
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    return TROVE_OK;
}

static int integer(reader *r, long long min, long long max, long long *out)
{
    char tok[32], *end;
    long long v;
    int rc = token(r, tok, sizeof tok);
    if (rc != TROVE_OK)
        return rc;
    errno = 0;
    v = strtoll(tok, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return bad(r, "bad number");
    *out = v;
    return TROVE_OK;
}

/* Expect `key` at the start of the line. */
static int key(reader *r, const char *k)
{
    size_t n = strlen(k);
    if (strncmp(r->p, k, n) != 0 || (r->p[n] != ' ' && r->p[n] != '\n'))
        return trove_error_set(r->err, TROVE_EFORMAT, "hunt record:%d: "
                               "expected '%s'", r->line, k);
    r->p += n;
    return TROVE_OK;
}

static int eol(reader *r)
{
    while (*r->p == ' ')
        r->p++;
    if (*r->p != '\n')
        return bad(r, "trailing characters");
    r->p++;
    r->line++;
    return TROVE_OK;
}

#define TRY(x) do { if ((rc = (x)) != TROVE_OK) return rc; } while (0)

int trove_hunt_decode(const char *text, trove_hunt *out, trove_error *err)
{
    trove_hunt h;
    reader r = { text, 1, err };
    long long v, w, x;
    char tok[64];
    int rc;
    if (text == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt record: no text");
    memset(&h, 0, sizeof h);
    TRY(key(&r, "trove-hunt"));
    TRY(integer(&r, 1, 1000, &v));
    if (v != HUNT_CODEC_VERSION)
        return trove_error_set(err, TROVE_EFORMAT, "hunt record:1: version %lld "
                               "is not supported (%d)", v, HUNT_CODEC_VERSION);
    TRY(eol(&r));
    TRY(key(&r, "id"));
    TRY(string(&r, h.id, sizeof h.id));
    TRY(eol(&r));
    TRY(key(&r, "user"));
    TRY(string(&r, h.user, sizeof h.user));
    TRY(eol(&r));
    TRY(key(&r, "market"));
    TRY(string(&r, h.market, sizeof h.market));
    TRY(eol(&r));
    TRY(key(&r, "template"));
    TRY(string(&r, h.template_name, sizeof h.template_name));
    TRY(eol(&r));
    TRY(key(&r, "day"));
    TRY(integer(&r, INT32_MIN, INT32_MAX, &v));
    h.day = (int32_t)v;
    TRY(eol(&r));
    TRY(key(&r, "created"));
    TRY(integer(&r, 0, INT64_MAX, &v));
    h.created_ts = v;
    TRY(eol(&r));
    TRY(key(&r, "expires"));
    TRY(integer(&r, 0, INT64_MAX, &v));
    h.expires_ts = v;
    TRY(eol(&r));
    TRY(key(&r, "source"));
    TRY(integer(&r, 0, 100, &v));
    h.source = (int)v;
    TRY(eol(&r));
    TRY(key(&r, "steps"));
    TRY(integer(&r, 1, TROVE_HUNT_MAX_STEPS, &v));
    h.n_steps = (size_t)v;
    TRY(eol(&r));
    for (size_t k = 0; k < h.n_steps; k++) {
        trove_hunt_step *st = &h.steps[k];
        TRY(key(&r, "step"));
        TRY(integer(&r, TROVE_HUNT_DISCOVER, TROVE_HUNT_REDEEM, &v));
        st->kind = (int)v;
        TRY(string(&r, st->item, sizeof st->item));
        TRY(string(&r, st->category, sizeof st->category));
        TRY(string(&r, st->partner, sizeof st->partner));
        TRY(string(&r, st->partner_category, sizeof st->partner_category));
        TRY(integer(&r, 0, TROVE_HUNT_PAIR_COMPLEMENT, &w));
        st->pair_source = (int)w;
        TRY(token(&r, tok, sizeof tok));
        if (strcmp(tok, "nan") == 0) {
            st->score = NAN;
        } else {
            char *end;
            errno = 0;
            double d = strtod(tok, &end);
            if (*end != '\0' || errno != 0 || !isfinite(d))
                return bad(&r, "bad score");
            st->score = (float)d;
        }
        TRY(integer(&r, 0, INT64_MAX, &x));
        st->done_ts = x;
        TRY(eol(&r));
    }
    TRY(key(&r, "done"));
    TRY(integer(&r, 0, (long long)h.n_steps, &v));
    h.n_done = (size_t)v;
    TRY(eol(&r));
    TRY(key(&r, "reward"));
    TRY(integer(&r, TROVE_HUNT_REWARD_LOCKED, TROVE_HUNT_REWARD_UNAVAILABLE, &v));
    h.reward_state = (int)v;
    TRY(string(&r, h.reward_id, sizeof h.reward_id));
    TRY(string(&r, h.reward_title, sizeof h.reward_title));
    TRY(integer(&r, 0, INT64_MAX, &x));
    h.reward_ts = x;
    TRY(eol(&r));
    if (*r.p != '\0')
        return bad(&r, "unexpected line");
    *out = h;
    return TROVE_OK;
}
