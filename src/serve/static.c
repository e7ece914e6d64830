/*
 * static.c - the dashboard's files at / (GET and HEAD).
 *
 * The files are the bundler's output embedded at build time
 * (static_assets.h, sorted by path). Every path outside /v1/ that server.c
 * and the other handlers did not take is ours:
 *   - an embedded file: its bytes, with its content type;
 *   - a path outside /assets/ without a file extension (/, /offers,
 *     /ab?market=DE ...): the dashboard's client-side routes, answered with
 *     /index.html;
 *   - anything else: 404.
 * Cache: names under /assets/ carry a content hash and never change
 * ("immutable", one year); index.html is "no-cache" so that a new build is
 * picked up at once. A client that accepts gzip gets the precompressed
 * variant when there is one (Content-Encoding: gzip).
 * Built without the dashboard (TROVE_DASHBOARD=OFF) the table is empty and
 * every such path answers a 404 that says so.
 *
 * Thread safety: the table is read-only; each answer is a private copy.
 */
#include "serve_int.h"
#include "static_assets.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_REVALIDATE "no-cache"

int trove__serve_static_owns(const char *url)
{
    return strncmp(url, "/v1/", 4) != 0 && strcmp(url, "/v1") != 0;
}

static const serve_asset *find_asset(const char *path)
{
    size_t lo = 0, hi = trove__serve_static_n_assets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(path, trove__serve_static_assets[mid].path);
        if (c == 0)
            return &trove__serve_static_assets[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* A client-side route: outside /assets/, no "." in the last segment. */
static int is_page_route(const char *url)
{
    const char *last = strrchr(url, '/');
    return strncmp(url, "/assets/", 8) != 0 &&
           strchr(last != NULL ? last : url, '.') == NULL;
}

/* 1 when Accept-Encoding lists gzip without q=0. */
static int accepts_gzip(const char *accept)
{
    const char *p = accept;
    while (p != NULL && *p) {
        size_t n;
        p += strspn(p, " \t,");
        n = strcspn(p, ",");
        if ((n >= 4 && strncasecmp(p, "gzip", 4) == 0 &&
             (n == 4 || p[4] == ';' || p[4] == ' ')) ||
            (n >= 1 && p[0] == '*' && (n == 1 || p[1] == ';' || p[1] == ' '))) {
            const char *q = memchr(p, ';', n);
            if (q == NULL)
                return 1;
            q += strspn(q + 1, " ") + 1;
            if (strncmp(q, "q=", 2) != 0)
                return 1;
            return strtod(q + 2, NULL) > 0.0;
        }
        p += n;
    }
    return 0;
}

int trove__serve_static_handle(trove_server *s, const serve_req *r,
                               serve_resp *out)
{
    const serve_asset *a;
    const unsigned char *bytes;
    size_t len;
    (void)s;
    out->endpoint = SERVE_EP_STATIC;
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return trove__serve_reply_error(out, 405, "method %s not allowed on %s",
                                        r->method, r->url);
    if (trove__serve_static_n_assets == 0)
        return trove__serve_reply_error(out, 404, "the dashboard was not built "
                                        "into this server (configure with "
                                        "-DTROVE_DASHBOARD=ON); the JSON API "
                                        "is under /v1/");
    a = find_asset(r->url);
    if (a == NULL && is_page_route(r->url))
        a = find_asset("/index.html");
    if (a == NULL)
        return trove__serve_reply_error(out, 404, "no such file: %s", r->url);
    bytes = a->data;
    len = a->len;
    out->content_encoding = NULL;
    if (a->gz != NULL && accepts_gzip(trove__serve_header(r, "Accept-Encoding"))) {
        bytes = a->gz;
        len = a->gz_len;
        out->content_encoding = "gzip";
    }
    out->body = trove_malloc(len > 0 ? len : 1);
    if (out->body == NULL) {
        out->content_encoding = NULL;
        return trove__serve_reply_error(out, 503, "out of memory");
    }
    memcpy(out->body, bytes, len);
    out->len = len;
    out->status = 200;
    out->content_type = a->content_type;
    out->cache_control = a->immutable ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
    return 1;
}
