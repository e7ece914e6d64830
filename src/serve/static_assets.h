/*
 * static_assets.h - the dashboard's files embedded in libtrove.
 *
 * The table is generated at build time (cmake/embed_assets.c over the
 * bundler's output, cmake/dashboard.cmake) and sorted by path, so that
 * static.c can find a path by binary search. With TROVE_DASHBOARD=OFF the
 * generated table is empty (trove__serve_static_n_assets == 0).
 *
 * Invariants: paths start with "/" and are unique; `gz` is the gzip
 * encoding of `data` (NULL with gz_len 0 when compressing does not pay);
 * everything is static, read-only and shared by every thread.
 */
#ifndef TROVE_SERVE_STATIC_ASSETS_H
#define TROVE_SERVE_STATIC_ASSETS_H

#include <stddef.h>

typedef struct serve_asset {
    const char          *path;          /* "/index.html", "/assets/x-HASH.js" */
    const char          *content_type;  /* with "; charset=utf-8" for text */
    const unsigned char *data;
    size_t               len;
    const unsigned char *gz;            /* gzip of data, or NULL */
    size_t               gz_len;
    int                  immutable;     /* name carries a content hash */
} serve_asset;

extern const serve_asset trove__serve_static_assets[];
extern const size_t      trove__serve_static_n_assets;

#endif /* TROVE_SERVE_STATIC_ASSETS_H */
