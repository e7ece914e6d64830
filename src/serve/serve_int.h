/*
 * serve_int.h - internals of trove serve shared by its files: the
 * reference-counted model and snapshot, the scratch pool, the metrics
 * registry and the server struct.
 *
 * Invariants: a snapshot and everything it points to is immutable once
 * published; its reference count is the number of requests reading it plus
 * one while it is the current one. A serve_model is shared by successive
 * snapshots and freed with its last reference.
 */
#ifndef TROVE_SERVE_INT_H
#define TROVE_SERVE_INT_H

#include "trove/serve.h"
#include "trove/store.h"
#include "trove/model.h"
#include "trove/config.h"
#include "trove/rules.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#define SERVE_MAX_MARKETS 64
#define SERVE_NONE UINT32_MAX

/* score.c: a model's item representations in int16 (blocks of 16 items)
 * and float32, for the candidates of a request. */
typedef struct serve_qmat serve_qmat;
typedef struct serve_hunts serve_hunts;
typedef struct serve_dash serve_dash;
#define SERVE_CANDIDATES_MAX 2048
/* Largest user representation (floats) the serving paths handle. */
#define SERVE_DIM_MAX 4096
/* Floats of scratch trove__serve_qmat_candidates needs for n items. */
#define SERVE_QSCAN_WORK(n) (2 * (((size_t)(n) + 15) & ~(size_t)15) + \
                             (((size_t)(n) + 15) / 16))

/* Build from a trained model (TROVE_OK or TROVE_ENOMEM); free (NULL ok). */
int  trove__serve_qmat_build(const trove_model *m, serve_qmat **out);
void trove__serve_qmat_free(serve_qmat *qm);
/* Floats of a user representation the functions below read (the model's
 * dimension rounded up to 16, zero padded). */
uint32_t trove__serve_qmat_dim16(const serve_qmat *qm);
/* The items that may be in the float32 top k of the user (q, bu): at most
 * cap (>= k) model item indices in cand with their float32 scores in
 * exact, in index order; *upper receives a bound every other item's score
 * is below. Scratch: work of SERVE_QSCAN_WORK(n_items) floats. Returns the
 * count, or 0 when more than cap items qualify (then score every item).
 * Thread-safe, allocation-free. */
size_t trove__serve_qmat_candidates(const serve_qmat *qm, const float *q,
                                    float bu, size_t k, float *work, uint32_t *cand,
                                    float *exact, size_t cap, float *upper);

typedef struct serve_model {
    atomic_int   refs;
    trove_model *m;
    serve_qmat  *qm;            /* NULL: scored in float32 only */
    int          version;
    int64_t      created_ts;
    char         family[32];
} serve_model;

typedef struct serve_item {
    char    *ext_id;
    int64_t  store_id;
    int      active, pinned, blocked;
    int64_t  start_ts, end_ts;
    int64_t  created_ts;
    int      budgeted;          /* has a numeric "budget" feature */
    double   budget;            /* its value */
} serve_item;

typedef struct serve_market {
    char         code[64];
    int64_t      id;
    serve_model *model;         /* NULL: no model, fallback chain */
    trove_rules *rules;         /* compiled against this snapshot's catalog,
                                   NULL without a rules file */
    size_t       rules_scratch; /* bytes apply needs */
    int          frequency_days;/* window of its frequency caps, 0 = none */
    int          candidates;    /* rankings may start from the candidates
                                   of score.c (rules without pins or
                                   bundles, boosts with factor >= 0, no
                                   pinned offer) */
    uint32_t    *model_to_cat;  /* per scored row (n_scored): catalog index
                                   or NONE */
    uint32_t     n_scored;      /* model items + extra rows */
    /* Extra rows: catalog offers the model was not trained with, ranked
     * from their features (trove_model_item_repr_features, or the mean
     * fallback). Row r is scored into scores[n_model + r] and maps to
     * model_to_cat[n_model + r]. */
    uint32_t     n_extra;
    float       *extra_emb;     /* [n_extra][dim] */
    float       *extra_bias;    /* [n_extra] */
    uint32_t    *explore;       /* catalog items without a model row */
    uint32_t     n_explore;
    uint32_t    *pop_order;     /* catalog items with a positive count, most
                                   popular first */
    uint32_t     n_pop;
    char         salt[64];
    double       test_share;
    int          control_policy;
    int          n_default;
} serve_market;

typedef struct serve_snapshot {
    atomic_int    refs;
    uint32_t      n_items;
    serve_item   *items;
    trove_idmap  *item_ids;     /* ext id -> catalog index */
    uint32_t     *pinned;       /* catalog items with the pinned flag */
    uint32_t      n_pinned;
    uint32_t     *budgeted;     /* catalog items with a budget */
    uint32_t      n_budgeted;
    uint32_t      n_markets;
    serve_market *markets;
    trove_idmap  *market_codes; /* code -> market index */
    uint64_t      generation;
} serve_snapshot;

/* The features of a user put while serving (PUT /v1/users/{id}): one
 * allocation, never changed once published, freed when its last reference
 * goes: the table's, while it is the user's current entry, and one per
 * reader holding its names (trove__serve_user_context). */
typedef struct serve_user_put {
    _Atomic uint32_t refs;
    const char **names;          /* "field=value" or numeric feature names */
    float       *weight;
    uint32_t     n;
} serve_user_put;

/* Per-user features for users unknown to a model (cold start) and for the
 * rules engine: read from the store at start, and then the users put while
 * serving, whose features (start's and put's merged) replace the start's.
 * A put entry replaced by a later PUT is freed as soon as no reader holds
 * it. */
typedef struct serve_users {
    trove_idmap *user_ids;      /* ext id -> row */
    trove_idmap *names;         /* feature names */
    uint32_t    *off;           /* n_users + 1 */
    uint32_t    *feat;          /* index into names */
    float       *weight;
    pthread_rwlock_t put_lock;  /* put_ids, put[], blocks */
    int          put_lock_ok;
    atomic_size_t n_put;        /* 0: no user put yet (no lock taken) */
    trove_idmap *put_ids;       /* ext id -> put[] index */
    serve_user_put **put;       /* the latest entry per put user */
    size_t       cap_put;
    atomic_size_t n_live;       /* put entries not freed yet: the current
                                 * ones and replaced ones still held */
} serve_users;

/* Popularity counts (positive events) per market and store item id,
 * counted once at start and kept up to date by POST /v1/events. */
typedef struct serve_popularity {
    size_t    n_markets;
    int64_t   market_id[SERVE_MAX_MARKETS];
    size_t    cap;              /* item store ids < cap are counted */
    uint32_t *count;            /* [n_markets + 1][cap]; row n_markets =
                                   all markets */
} serve_popularity;

/* Inputs of the frequency and budget caps (trove/rules.h), counted from
 * the store at start and kept up to date by POST /v1/events; unlike the
 * snapshot they change under readers, so each part has its own lock.
 * Exposures: impressions per user, offer (store id) and UTC day, kept for
 * the longest frequency window of the rule sets (older days are dropped
 * when the user is next written). Spent: the value of the redemptions of
 * each offer (store id) over all time and markets. */
#define SERVE_CAP_SHARDS 64
#define SERVE_MAX_EXPOSURES 256   /* per user and request */

typedef struct serve_exposure {
    int64_t  item;      /* store id */
    int32_t  day;       /* local day of the impression's market (UTC
                           day without one): trove_hunt_clock_day */
    uint32_t count;
} serve_exposure;

typedef struct serve_exp_user {
    uint64_t        hash;      /* 0 = empty slot */
    char           *user;      /* external id */
    serve_exposure *e;
    uint32_t        n, cap;
} serve_exp_user;

typedef struct serve_exp_shard {
    pthread_mutex_t lock;
    serve_exp_user *slot;      /* open addressing, power-of-two size */
    size_t          n, cap;
} serve_exp_shard;

typedef struct serve_caps {
    int             frequency;     /* some rule set has a frequency cap */
    int             window_days;   /* the longest frequency window */
    struct trove_hunt_clock *clock[SERVE_MAX_MARKETS]; /* local days, by
                                      market index (NULL: UTC days) */
    serve_exp_shard shard[SERVE_CAP_SHARDS];
    pthread_mutex_t budget_lock;
    double         *spent;         /* by store item id < spent_cap */
    size_t          spent_cap;
} serve_caps;

/* An offer that may be shown at `now`: active, not blocked, inside its
 * dates. */
static inline int trove__serve_item_live(const serve_item *it, int64_t now)
{
    return it->active && !it->blocked &&
           (it->start_ts == 0 || now >= it->start_ts) &&
           (it->end_ts == 0 || now < it->end_ts);
}

/* ----------------------------------------------------------- metrics */
enum serve_endpoint {
    SERVE_EP_RECS = 0, SERVE_EP_EVENTS, SERVE_EP_ITEM_PUT, SERVE_EP_ITEM_PATCH,
    SERVE_EP_USER_PUT,
    SERVE_EP_MODELS, SERVE_EP_ACTIVATE, SERVE_EP_ROLLBACK, SERVE_EP_HEALTHZ,
    SERVE_EP_METRICS, SERVE_EP_HUNTS, SERVE_EP_MONITORING, SERVE_EP_DASHBOARD,
    SERVE_EP_STATIC, SERVE_EP_OTHER, SERVE_N_ENDPOINTS
};
#define SERVE_N_STATUS 12
#define SERVE_N_BUCKETS 15

typedef struct serve_series {
    atomic_ullong count;
    atomic_ullong sum_ns;
    atomic_ullong bucket[SERVE_N_BUCKETS];   /* non-cumulative */
} serve_series;

typedef struct serve_metrics {
    serve_series *series;   /* [endpoint][status][market + 1] */
    size_t        n_market_labels;            /* markets + 1 ("" first) */
    char          market_label[SERVE_MAX_MARKETS + 1][64];
    atomic_ullong fallback[SERVE_MAX_MARKETS + 1][4];  /* by reason */
    atomic_ullong events_stored, events_duplicate;
    atomic_ullong candidates_used;     /* rankings served from candidates */
    atomic_ullong candidates_rescored; /* ... that needed the whole catalog */
    atomic_ullong rule_actions[SERVE_MAX_MARKETS + 1][16];  /* by action */
} serve_metrics;

enum serve_fallback_reason {
    SERVE_FB_NO_MODEL = 0, SERVE_FB_UNKNOWN_USER, SERVE_FB_POPULAR_EMPTY,
    SERVE_FB_SHORT_LIST
};

/* Histogram upper bounds in seconds (the last bucket is +Inf) and the
 * endpoint label of each enum serve_endpoint. */
extern const double trove__serve_bucket_le[SERVE_N_BUCKETS - 1];
extern const char *const trove__serve_endpoint_names[SERVE_N_ENDPOINTS];

int  trove__serve_metrics_init(serve_metrics *mx, const serve_snapshot *snap);
void trove__serve_metrics_free(serve_metrics *mx);
void trove__serve_metrics_observe(serve_metrics *mx, int endpoint, int status,
                                  uint32_t market, uint64_t ns);
void trove__serve_metrics_fallback(serve_metrics *mx, uint32_t market,
                                   int reason);
/* Prometheus text into a trove_malloc'd buffer (*out, *len);
 * user_feature_sets: serve_users.n_live. */
int  trove__serve_metrics_render(serve_metrics *mx, const serve_snapshot *snap,
                                 int64_t now, size_t user_feature_sets, char **out,
                                 size_t *len);

/* ------------------------------------------------------ monitoring.c */
/* A computed monitoring report (GET /v1/monitoring) kept for a few
 * seconds, per market and query (monitoring.c). */
#define SERVE_MONITOR_CACHE 16
typedef struct serve_monitor_entry {
    int       market;
    int64_t   now;
    int       days, train_days;
    uint64_t  at_ns;
    char     *json;       /* NULL: free slot */
} serve_monitor_entry;

/* ------------------------------------------------------------ server */
#define SERVE_SCRATCH_SLOTS 16

typedef struct serve_scratch {
    atomic_flag busy;
    float      *scores;
    size_t      cap;
    void       *rules;          /* rules scratch */
    size_t      rules_cap;
} serve_scratch;

struct trove_server {
    trove_serve_params   params;
    char                *token;
    size_t               token_len;
    char                *store_uri;
    struct MHD_Daemon   *daemon;
    uint16_t             port;

    pthread_mutex_t      admin_lock;   /* store handle, models[], rebuilds */
    trove_store         *store;
    struct serve_hunts  *hunts;        /* hunts.c's state: made on first use,
                                          freed at stop (admin lock) */
    trove_market_config **configs;
    size_t               n_configs;
    size_t               n_markets;    /* fixed at start */
    char                 market_code[SERVE_MAX_MARKETS][64];
    int64_t              market_id[SERVE_MAX_MARKETS];
    char                 market_tz[SERVE_MAX_MARKETS][64];
    serve_model         *models[SERVE_MAX_MARKETS];  /* by market index */
    trove_rule_set      *rule_sets[SERVE_MAX_MARKETS];
    serve_popularity     pop;
    serve_users          users;
    serve_caps           caps;

    pthread_mutex_t      snap_lock;    /* guards `snap` pointer swaps */
    serve_snapshot      *snap;
    uint64_t             generation;

    serve_metrics        metrics;
    serve_scratch        scratch[SERVE_SCRATCH_SLOTS];
    pthread_mutex_t      monitor_lock;  /* monitor_cache */
    serve_monitor_entry  monitor_cache[SERVE_MONITOR_CACHE];
    pthread_mutex_t      dash_lock;     /* dash (dashboard_api.c's caches) */
    struct serve_dash   *dash;          /* made on first use, freed at stop */
    pthread_t            dash_warm;          /* dashboard warm-up */
    int                  dash_warm_running;
    atomic_int           dash_warm_stop;
    atomic_ullong        request_seq;
    uint64_t             boot_id;
    int64_t              started_ts;
};

/* ------------------------------------------------------- snapshot.c */
void trove__serve_model_release(serve_model *m);
serve_model *trove__serve_model_retain(serve_model *m);
/* Load model file `path` (hybrid model with ids). */
int  trove__serve_model_load(const char *path, int version, int64_t created,
                             const char *family, serve_model **out,
                             trove_error *err);
/* Count positives per market and item; load user features. Called once at
 * start with the admin lock held (or before threads exist). */
int  trove__serve_popularity_load(trove_server *s, trove_error *err);
void trove__serve_popularity_free(serve_popularity *p);
int  trove__serve_users_load(trove_server *s, trove_error *err);
/* The stored features of `user` (ulen bytes) that model m knows, as m's
 * feature indices and weights (at most max); returns how many, 0 for a
 * user without stored features or when m has no feature names. For the
 * cold start of users the model was not trained with. */
size_t trove__serve_user_features(serve_users *u, const trove_model *m,
                                  const char *user, size_t ulen,
                                  uint32_t *feat, float *w, size_t max);
/* Publish the features of `user` after a PUT stored them: names[0..n)
 * with weights w (copied), merged into the user's current ones (a name
 * already there takes the new weight). TROVE_OK or TROVE_ENOMEM (nothing
 * published). Thread-safe against the readers. */
int trove__serve_user_put(serve_users *u, const char *user, const char *const *names,
                          const float *w, size_t n);
/* The rules engine's view of `user`: its stored features ("field=value"
 * names, at most cap, into feat) and segments (the tags of its features
 * TROVE_RULES_SEGMENT_PREFIX<tag>, at most cap, into seg), as cycles read
 * them. Users without stored features get none. The names are borrowed:
 * they stay valid until the caller passes *hold to
 * trove__serve_user_release (a PUT of the same user meanwhile does not
 * free them). */
void trove__serve_user_context(serve_users *u, const char *user, const char **feat,
                               size_t *n_feat, const char **seg, size_t *n_seg, size_t cap,
                               const serve_user_put **hold);
/* Let go of what trove__serve_user_context handed out; NULL is a no-op. */
void trove__serve_user_release(serve_users *u, const serve_user_put *hold);
void trove__serve_users_free(serve_users *u);
/* Build a snapshot from the store's items, s->models and the counts, and
 * publish it. Admin lock held. */
int  trove__serve_rebuild(trove_server *s, trove_error *err);
serve_snapshot *trove__serve_snapshot_acquire(trove_server *s);
void trove__serve_snapshot_release(serve_snapshot *snap);
/* Load version `version` of market index mi from the registry. */
int  trove__serve_load_version(trove_server *s, size_t mi, int version,
                               serve_model **out, trove_error *err);
/* Count a stored event into the popularity counts (admin lock held). */
void trove__serve_popularity_add(trove_server *s, const trove_event *ev);
/* Caps: set up the locks (before anything can fail, so that free is
 * always safe), then count impressions in the longest frequency window and
 * redemption values from the store (start, admin lock held or no threads
 * yet). */
void trove__serve_caps_init(serve_caps *c);
int  trove__serve_caps_load(trove_server *s, trove_error *err);
void trove__serve_caps_free(serve_caps *c);
/* Count a stored event of external user `user` (impressions and
 * redemptions; others are ignored). TROVE_OK or TROVE_ENOMEM (the count
 * is lost, logged by the caller). */
int  trove__serve_caps_add(trove_server *s, const char *user,
                           const trove_event *ev);
/* The user's impressions in the window_days local days of market index mi
 * up to now's, summed per offer: up to cap (store item id, count) pairs;
 * returns how many. */
size_t trove__serve_exposures(trove_server *s, const char *user, size_t mi,
                              int64_t now, int window_days, int64_t *items,
                              uint32_t *counts, size_t cap);
/* Remaining budget of every budgeted catalog item of snap into
 * remaining[] (catalog index; other entries untouched). */
void trove__serve_budgets(trove_server *s, const serve_snapshot *snap,
                          double *remaining);
/* Catalog index of store item id `id` in snap (sorted by store id), or -1. */
int64_t trove__serve_catalog_index(const serve_snapshot *snap, int64_t id);

/* Load rules_dir/<code>.yaml of every market that has one. */
int  trove__serve_rules_load(trove_server *s, trove_error *err);
/* The store's markets (read once at start) and every active model. */
int  trove__serve_markets_load(trove_server *s, trove_error *err);

/* ------------------------------------------------ handler interface */
/* The endpoints outside server.c (hunts.c, monitoring.c, dashboard_api.c,
 * static.c) see requests through these two structs and never include
 * <microhttpd.h>. server.c routes a request to them after its own
 * endpoints (see the owns/handle pairs at the end).
 *
 * Ownership: everything in a serve_req is borrowed for the call. out->body
 * is trove_malloc'd by the handler (or the reply helpers) and freed by the
 * server after sending. */
typedef struct serve_req {
    const char *method;       /* "GET", "POST", ... */
    const char *url;          /* path without the query string */
    const char *body;         /* request body (methods with one), else NULL */
    size_t      body_len;
    int         admin;        /* a valid admin token was presented */
    int         auth_status;  /* when !admin: 401 (none sent) or 403 */
    const char *auth_why;     /* when !admin: the message to answer with */
    uint64_t    start_ns;     /* CLOCK_MONOTONIC at arrival */
    void       *conn;         /* the connection, for the two getters below */
} serve_req;

typedef struct serve_resp {
    int         status;       /* HTTP status */
    int         endpoint;     /* enum serve_endpoint, for the metrics */
    uint32_t    market;       /* metrics label: 0 none, 1 + market index */
    char       *body;         /* trove_malloc'd; may be NULL when len 0 */
    size_t      len;
    const char *content_type; /* static string */
    const char *cache_control;/* static string or NULL */
    const char *content_encoding; /* static string or NULL ("gzip") */
} serve_resp;

/* Query argument `key` of the request, or NULL. */
const char *trove__serve_query(const serve_req *r, const char *key);
/* Request header `name` (case-insensitive), or NULL. */
const char *trove__serve_header(const serve_req *r, const char *name);
/* Answer `root` as compact JSON with a trailing newline (steals root; NULL
 * root answers 500 "out of memory"). Returns 1 so handlers can
 * `return trove__serve_reply_json(...)`. */
int trove__serve_reply_json(serve_resp *out, int status, json_t *root);
/* Answer {"error":{"status":..,"message":..}}. Returns 1. */
__attribute__((format(printf, 3, 4)))
int trove__serve_reply_error(serve_resp *out, int status, const char *fmt, ...);
/* Parse the body as one JSON document into *root; on failure a message
 * naming the place ("request body:line:column: ...") in msg and -1. */
int trove__serve_parse_body(const serve_req *r, json_t **root, char *msg,
                            size_t size);
/* Index of a market code in s->market_code, or -1. */
int trove__serve_market_index(const trove_server *s, const char *code);
/* 0 when the request may change things (admin token); otherwise fills *out
 * with the 401/403 answer and returns 1. */
int trove__serve_require_admin(const trove_server *s, const serve_req *r,
                               serve_resp *out);
/* Like require_admin for read-only admin views: also 0 when the server
 * runs with params.public_read. */
int trove__serve_require_read(const trove_server *s, const serve_req *r,
                              serve_resp *out);
uint64_t trove__serve_now_ns(void);

/* The endpoints of the other files, asked in this order. `owns` says
 * whether a URL path is the file's (cheap, no side effects); `handle`
 * answers it (returning 0 there answers 404). */
int trove__serve_hunts_owns(const char *url);
int trove__serve_hunts_handle(trove_server *s, const serve_req *r,
                              serve_resp *out);
int trove__serve_monitoring_owns(const char *url);
int trove__serve_monitoring_handle(trove_server *s, const serve_req *r,
                                   serve_resp *out);
int trove__serve_dashboard_owns(const char *url);
int trove__serve_dashboard_handle(trove_server *s, const serve_req *r,
                                  serve_resp *out);
/* Free what the file keeps for server s (caches, handles); called by
 * trove_server_stop once no request runs (the dashboard's first: it joins
 * the warm-up thread). Each file keeps its state in the server
 * (trove_server.hunts, .monitor_cache, .dash). */
void trove__serve_hunts_stop(trove_server *s);
/* Load every market's hunt template and catalog attributes and read the
 * users' histories for novelty once (takes the admin lock), so that the
 * first hunt request after a start does not read the event log. Returns
 * the number of markets prepared. */
size_t trove__serve_hunts_warm(trove_server *s);
void trove__serve_monitoring_stop(trove_server *s);
void trove__serve_dashboard_stop(trove_server *s);
/* Make s->dash (the dashboard's caches, freed by trove__serve_dashboard_stop)
 * at server start. TROVE_OK or TROVE_ENOMEM. */
int  trove__serve_dashboard_init(trove_server *s);
/* With params.warm_dashboard: start the thread counting every cycle once
 * (joined by trove__serve_dashboard_stop). TROVE_OK or TROVE_ENOMEM. */
int  trove__serve_dashboard_start(trove_server *s);
int trove__serve_static_owns(const char *url);
int trove__serve_static_handle(trove_server *s, const serve_req *r,
                               serve_resp *out);

#endif /* TROVE_SERVE_INT_H */
