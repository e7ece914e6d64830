/*
 * trove/serve.h - the HTTP server behind `trove serve`: JSON over HTTP on
 * libmicrohttpd (epoll, a thread pool), documented in docs/openapi.yaml and
 * docs/serve.md.
 *
 * Endpoints (v1):
 *   GET   /v1/recommendations?user=&market=&n=   top-n offers of a user
 *   POST  /v1/events                            a batch of events, stored
 *                                               durably before the answer
 *   PUT   /v1/items/{id}           (admin)      create or update an offer
 *   PATCH /v1/items/{id}           (admin)      flags and dates of an offer
 *   GET   /v1/models               (admin)      registry of every market
 *   POST  /v1/models/{market}/activate (admin)  serve another version
 *   POST  /v1/models/{market}/rollback (admin)  serve the previous version
 *   GET   /healthz, GET /metrics (Prometheus text format)
 *
 * Serving model. Recommendations never touch the store: each request reads
 * an immutable snapshot (catalog with flags, per-market model and
 * popularity order, user features for cold start) held by reference count.
 * Item uploads, flag changes and model activations build a new snapshot and
 * swap it in atomically; requests in flight finish on the snapshot (and the
 * model) they started with. Per market the chain is model -> popularity ->
 * random, so a known market always gets a list; an unknown market is 404.
 *
 * Security. Admin endpoints need "Authorization: Bearer <token>"; the token
 * is compared in constant time and never logged. Without a configured token
 * the admin endpoints answer 403. Bodies over max_body bytes are 413,
 * malformed JSON 400 with the parser's message, idle connections are closed
 * after conn_timeout seconds.
 *
 * Thread safety: trove_server_start / trove_server_stop are called by one
 * thread; the server's own threads serve requests concurrently. The store
 * handle is opened by the server and used under its own lock.
 */
#ifndef TROVE_SERVE_H
#define TROVE_SERVE_H

#include "trove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trove_server trove_server;

/* Where an offer in a recommendation list comes from. */
enum trove_serve_source {
    TROVE_SERVE_MODEL   = 1,  /* ranked by the market's model */
    TROVE_SERVE_POPULAR = 2,  /* popularity (fallback or control arm) */
    TROVE_SERVE_RANDOM  = 3,  /* random (last fallback or control arm) */
    TROVE_SERVE_EXPLORE = 4,  /* an offer the model has not seen yet */
    TROVE_SERVE_PINNED  = 5,  /* pinned by its flag or a pin rule */
    TROVE_SERVE_BUNDLE  = 6   /* bundled with the entry before it (rules) */
};
/* "model", "popular", "random", "explore", "pinned", "bundle"; "unknown"
 * otherwise. */
const char *trove_serve_source_name(int source);

/* One entry of a scored list, as handed to the rules hook. */
typedef struct trove_serve_candidate {
    const char *item;    /* external item id, borrowed for the request */
    float       score;   /* the model's score; NAN when it has none */
    int         source;  /* enum trove_serve_source */
    const char *rule;    /* name of the rule that placed or changed it, or
                            NULL; must be a static or long-lived string */
} trove_serve_candidate;

/* The request a rules hook sees. Strings are borrowed for the call. */
typedef struct trove_serve_request {
    const char *user;     /* external user id */
    const char *market;   /* market code */
    int64_t     now;      /* Unix seconds of the request */
    int         arm;      /* TROVE_ARM_CONTROL / TROVE_ARM_TEST */
} trove_serve_request;

/* Seam where the rules engine applies to the scored list: called on every
 * recommendation with the n (<= cap) candidates, best first. It may
 * reorder, drop (lowering *n) or insert (up to cap) entries, in place,
 * without allocating. Returns TROVE_OK, or a negative status that turns the
 * request into a 500 answer. Called from the server's threads at once:
 * it must be thread-safe. */
typedef int (*trove_serve_rules_fn)(void *ud, const trove_serve_request *req,
                                    trove_serve_candidate *list, size_t *n,
                                    size_t cap);

typedef struct trove_serve_params {
    const char *store_uri;      /* the store (required) */
    const char *config_dir;     /* market configs (markets/<code>.yaml) for
                                   the experiment salt, test share, control
                                   policy and list length; NULL = none:
                                   every user in the test arm, 10 offers */
    const char *rules_dir;      /* business rules (rules/<code>.yaml, see
                                   trove/rules.h) applied to every list of
                                   a market with a file; NULL = none */
    const char *bind_address;   /* IPv4 address; default "127.0.0.1" */
    uint16_t    port;           /* 0 = an ephemeral port (trove_server_port) */
    unsigned    threads;        /* thread pool size; default 2 */
    size_t      max_body;       /* request body limit in bytes; default 1 MiB */
    unsigned    conn_timeout;   /* idle connection timeout, seconds; default 10 */
    unsigned    max_n;          /* largest n a request may ask; default 100 */
    int         item_cold_fallback; /* enum trove_cold_fallback (trove/model.h)
                                   for catalog offers a market's model was
                                   not trained with and none of whose
                                   features it knows: TROVE_COLD_MEAN
                                   (default) ranks them with the mean
                                   representation of the trained items,
                                   TROVE_COLD_NONE leaves them to the
                                   exploration slots. Offers with a known
                                   feature are always ranked from their
                                   features */
    int         public_read;    /* 1: read-only admin views (GET /v1/models,
                                   the dashboard's reads) need no token;
                                   changes always do. Default 0 */
    int         warm_dashboard; /* 1: a background thread reads the hunt
                                   histories and counts every cycle's A/B
                                   figures once at start, so the first hunt
                                   and the dashboard's first A/B page read
                                   cached data (trove serve sets it).
                                   Default 0 */
    const char *admin_token;    /* bearer token of the admin endpoints (copied;
                                   NULL or "" = admin endpoints answer 403) */
    const char *hunts_dir;      /* treasure-hunt templates (hunts/<code>.yaml,
                                   see trove/hunt.h); markets without a file,
                                   or NULL, use the built-in template */
    trove_serve_rules_fn rules; /* NULL = no rules */
    void       *rules_ud;
} trove_serve_params;

/* Defaults as documented on each field; store_uri NULL. */
trove_serve_params trove_serve_default_params(void);

/* Open the store, load every market's active model, build the first
 * snapshot and start listening. On success *out receives the running
 * server, freed with trove_server_stop(). Returns TROVE_OK or TROVE_EINVAL
 * (bad params), TROVE_EIO (cannot bind or start the daemon), TROVE_ENOMEM,
 * or the store's and config loader's errors. A market whose active model
 * file cannot be loaded is served by the fallback chain (logged). A rules
 * file that does not load is an error (TROVE_EFORMAT with
 * file:line:column). */
int trove_server_start(const trove_serve_params *p, trove_server **out,
                       trove_error *err);

/* The port the server listens on (the chosen one when params.port was 0). */
uint16_t trove_server_port(const trove_server *s);

/* Stop listening, wait for requests in flight, free everything. NULL is a
 * no-op. */
void trove_server_stop(trove_server *s);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_SERVE_H */
