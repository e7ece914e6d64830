/*
 * csv.c - in-place field splitters: delimiter-separated rows with optional
 * RFC 4180 quoting, and flat JSON objects (one per JSON Lines row).
 *
 * Both work on a private copy of the line (the caller keeps the raw line
 * for the reject file), write a NUL after every field and unescape quoted
 * text in place: unescaped text is never longer than its source, so it
 * always fits. Neither allocates.
 */
#include "ingest/ingest_int.h"

#include <string.h>

int trove__split(char *line, size_t len, char sep, int quotes,
                 trove__field *fields, size_t max, size_t *n, const char **why)
{
    char *p = line, *end = line + len;
    size_t count = 0;

    for (;;) {
        char *start = p, *out;
        if (quotes && p < end && *p == '"') {
            /* quoted field: copy down over "" escapes */
            out = start;
            p++;
            for (;;) {
                char *q = memchr(p, '"', (size_t)(end - p));
                size_t chunk;
                if (q == NULL) {
                    *why = "unterminated quoted field";
                    return -1;
                }
                chunk = (size_t)(q - p);
                memmove(out, p, chunk);
                out += chunk;
                p = q + 1;
                if (p < end && *p == '"') {
                    *out++ = '"';
                    p++;
                    continue;
                }
                break;
            }
            if (p < end && *p != sep) {
                *why = "text after closing quote";
                return -1;
            }
        } else {
            char *q = memchr(p, sep, (size_t)(end - p));
            p = q ? q : end;
            out = p;
        }
        if (count < max) {
            fields[count].s = start;
            fields[count].len = (size_t)(out - start);
        }
        count++;
        if (p >= end) {
            *out = '\0';
            break;
        }
        *out = '\0';   /* over the separator (or inside the quoted span) */
        p++;           /* past the separator */
    }
    *n = count;
    return 0;
}

/* ------------------------------------------------------------ JSON */

static char *skip_ws(char *p, char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        *out++ = (char)cp;
    } else if (cp < 0x800) {
        *out++ = (char)(0xc0 | (cp >> 6));
        *out++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *out++ = (char)(0xe0 | (cp >> 12));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *out++ = (char)(0xf0 | (cp >> 18));
        *out++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *out++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char)(0x80 | (cp & 0x3f));
    }
    return out;
}

/* Parse the string starting at *pp (on the opening quote); unescape in
 * place. An escape sequence is at least as long as its UTF-8 output
 * (\uXXXX = 6 bytes -> at most 3; a surrogate pair = 12 bytes -> 4). */
static int json_string(char **pp, char *end, char **s, size_t *len, const char **why)
{
    char *p = *pp + 1, *out = p, *start = p;
    for (;;) {
        if (p >= end) {
            *why = "unterminated string";
            return -1;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20) {
            *why = "control character in string";
            return -1;
        }
        if (c != '\\') {
            *out++ = *p++;
            continue;
        }
        if (p + 1 >= end) {
            *why = "unterminated string";
            return -1;
        }
        switch (p[1]) {
        case '"':  *out++ = '"';  p += 2; break;
        case '\\': *out++ = '\\'; p += 2; break;
        case '/':  *out++ = '/';  p += 2; break;
        case 'b':  *out++ = '\b'; p += 2; break;
        case 'f':  *out++ = '\f'; p += 2; break;
        case 'n':  *out++ = '\n'; p += 2; break;
        case 'r':  *out++ = '\r'; p += 2; break;
        case 't':  *out++ = '\t'; p += 2; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p + 2, end, &cp) != 0) {
                *why = "bad \\u escape";
                return -1;
            }
            p += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                    hex4(p + 2, end, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                    *why = "unpaired surrogate in \\u escape";
                    return -1;
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                *why = "unpaired surrogate in \\u escape";
                return -1;
            }
            if (cp == 0) {
                *why = "NUL character in string";
                return -1;
            }
            out = put_utf8(out, cp);
            break;
        }
        default:
            *why = "bad escape in string";
            return -1;
        }
    }
    *s = start;
    *len = (size_t)(out - start);
    *out = '\0';   /* out <= p, and p is on the closing quote */
    *pp = p + 1;
    return 0;
}

int trove__json_object(char *line, size_t len, trove__jpair *pairs, size_t max,
                       size_t *n, const char **why)
{
    char *p = line, *end = line + len;
    size_t count = 0;

    p = skip_ws(p, end);
    if (p >= end || *p != '{') {
        *why = "not a JSON object";
        return -1;
    }
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        char *key, *val;
        size_t klen, vlen;
        int is_null = 0;
        if (p >= end || *p != '"') {
            *why = "expected a string key";
            return -1;
        }
        if (json_string(&p, end, &key, &klen, why) != 0)
            return -1;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') {
            *why = "expected ':'";
            return -1;
        }
        p = skip_ws(p + 1, end);
        if (p >= end) {
            *why = "missing value";
            return -1;
        }
        if (*p == '"') {
            if (json_string(&p, end, &val, &vlen, why) != 0)
                return -1;
        } else if (*p == '{' || *p == '[') {
            *why = "nested objects and arrays are not supported";
            return -1;
        } else {
            /* number or literal: up to the next delimiter */
            val = p;
            while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' &&
                   *p != '\r' && *p != '\n')
                p++;
            vlen = (size_t)(p - val);
            if (vlen == 4 && memcmp(val, "null", 4) == 0) {
                is_null = 1;
            } else if (!(vlen == 4 && memcmp(val, "true", 4) == 0) &&
                       !(vlen == 5 && memcmp(val, "false", 5) == 0)) {
                double d;
                if (trove__parse_double(val, vlen, &d) != 0) {
                    *why = "bad JSON value";
                    return -1;
                }
            }
        }
        p = skip_ws(p, end);
        if (p >= end || (*p != ',' && *p != '}')) {
            *why = "expected ',' or '}'";
            return -1;
        }
        {
            char delim = *p;
            val[vlen] = '\0';   /* over the delimiter or whitespace after it */
            if (count < max) {
                pairs[count].key = key;
                pairs[count].key_len = klen;
                pairs[count].val = val;
                pairs[count].len = vlen;
                pairs[count].is_null = is_null;
            }
            count++;
            p++;
            if (delim == '}')
                break;
        }
        p = skip_ws(p, end);
    }
done:
    p = skip_ws(p, end);
    if (p != end) {
        *why = "text after the JSON object";
        return -1;
    }
    *n = count;
    return 0;
}
