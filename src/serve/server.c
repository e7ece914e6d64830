/*
 * server.c - trove serve's HTTP layer on libmicrohttpd (the only file that
 * includes <microhttpd.h>): daemon set-up, routing, bodies, the bearer
 * token, and every endpoint's handler. JSON is read with jansson; the
 * recommendation answer is written by hand into the one response buffer.
 *
 * Invariants: a recommendation reads only its acquired snapshot and a
 * scratch slot (no store access, no allocation besides the response
 * buffer, apart from a scratch slot growing or all slots being busy).
 * Handlers that touch the store hold s->admin_lock for the whole change
 * and publish a new snapshot before answering. No input reaches an assert:
 * every request ends in an answer with a status and a JSON body.
 */
#include "serve_int.h"
#include "trove/experiment.h"

#include <microhttpd.h>
#include <jansson.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_EVENTS_PER_BATCH 10000
#define MAX_ID_LEN 256
#define MAX_HITS 256

const char *trove_serve_source_name(int source)
{
    switch (source) {
    case TROVE_SERVE_MODEL:   return "model";
    case TROVE_SERVE_POPULAR: return "popular";
    case TROVE_SERVE_RANDOM:  return "random";
    case TROVE_SERVE_EXPLORE: return "explore";
    case TROVE_SERVE_PINNED:  return "pinned";
    case TROVE_SERVE_BUNDLE:  return "bundle";
    default:                  return "unknown";
    }
}

trove_serve_params trove_serve_default_params(void)
{
    trove_serve_params p;
    memset(&p, 0, sizeof p);
    p.bind_address = "127.0.0.1";
    p.threads = 2;
    p.max_body = 1u << 20;
    p.conn_timeout = 10;
    p.max_n = 100;
    p.item_cold_fallback = TROVE_COLD_MEAN;
    return p;
}

uint64_t trove__serve_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 1 if s is valid UTF-8 (RFC 3629: no overlongs, surrogates or code
 * points past U+10FFFF). */
static int utf8_valid(const char *str)
{
    const unsigned char *p = (const unsigned char *)str;
    while (*p) {
        unsigned c = *p, n, min;
        if (c < 0x80) {
            p++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) { n = 1; min = 0x80; c &= 0x1f; }
        else if ((c & 0xf0) == 0xe0) { n = 2; min = 0x800; c &= 0x0f; }
        else if ((c & 0xf8) == 0xf0) { n = 3; min = 0x10000; c &= 0x07; }
        else return 0;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3fu);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* ------------------------------------------------------------ answers */
/* Per-request state of methods with a body (GET answers at once). */
typedef struct req_ctx {
    uint64_t start_ns;   /* arrival, what the latency metrics measure from */
    char    *body;
    size_t   len, cap;
    int      too_large;
    int      answered;   /* later calls only drain */
} req_ctx;

/* Static markers of bodiless requests: seen once (headers read), and
 * answered. */
static int bodiless_marker, answered_marker;

typedef struct answer {
    int      status;
    int      endpoint;
    uint32_t market;     /* metrics label index: 0 none, 1 + market index */
} answer;

static enum MHD_Result queue(trove_server *s, struct MHD_Connection *conn,
                             answer *a, char *buf, size_t len,
                             const char *content_type, uint64_t start)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, buf, trove_free);
    enum MHD_Result rc;
    if (r == NULL) {
        trove_free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", content_type);
    if (a->status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"trove\"");
    rc = MHD_queue_response(conn, (unsigned)a->status, r);
    MHD_destroy_response(r);
    trove__serve_metrics_observe(&s->metrics, a->endpoint, a->status,
                                 a->market, trove__serve_now_ns() - start);
    return rc;
}

static enum MHD_Result send_json(trove_server *s, struct MHD_Connection *conn,
                                 answer *a, json_t *root, uint64_t start)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL) {
        static const char oom[] =
            "{\"error\":{\"status\":500,\"message\":\"out of memory\"}}";
        a->status = 500;
        text = trove_strdup(oom);
        if (text == NULL)
            return MHD_NO;
    }
    size_t len = strlen(text);
    char *copy = trove_malloc(len + 2);
    if (copy != NULL) {
        memcpy(copy, text, len);
        copy[len++] = '\n';
    }
    trove_free(text);   /* jansson allocates through trove_malloc */
    if (copy == NULL)
        return MHD_NO;
    return queue(s, conn, a, copy, len, "application/json", start);
}

__attribute__((format(printf, 5, 6)))
static enum MHD_Result send_error(trove_server *s, struct MHD_Connection *conn,
                                  answer *a, uint64_t start, const char *fmt, ...)
{
    char msg[TROVE_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!utf8_valid(msg))   /* echoed input that is not text */
        for (char *c = msg; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
    json_t *root = json_pack("{s:{s:i,s:s}}", "error", "status", a->status,
                             "message", msg);
    return send_json(s, conn, a, root, start);
}

/* ------------------------------------------------------------- tokens */
/* Constant-time comparison: the time depends only on the length of the
 * presented token, never on where it differs from the secret. */
static int token_equal(const char *secret, size_t secret_len,
                       const char *given, size_t given_len)
{
    volatile unsigned char diff = (unsigned char)(secret_len != given_len);
    for (size_t i = 0; i < given_len; i++) {
        unsigned char c = secret_len ? (unsigned char)secret[i % secret_len] : 0;
        diff |= (unsigned char)(c ^ (unsigned char)given[i]);
    }
    return diff == 0;
}

/* 0 if allowed; else the status to answer (401 or 403) in *status. */
static int check_admin(trove_server *s, struct MHD_Connection *conn,
                       int *status, const char **why)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        *status = 401;
        *why = "admin endpoint: send Authorization: Bearer <token>";
        return -1;
    }
    h += 7;
    while (*h == ' ')
        h++;
    if (s->token_len == 0) {
        *status = 403;
        *why = "admin endpoints are disabled: no admin token is configured";
        return -1;
    }
    if (!token_equal(s->token, s->token_len, h, strlen(h))) {
        *status = 403;
        *why = "admin token not accepted";
        return -1;
    }
    return 0;
}

/* ------------------------------------------- the handler interface */
const char *trove__serve_query(const serve_req *r, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn,
                                       MHD_GET_ARGUMENT_KIND, key);
}

const char *trove__serve_header(const serve_req *r, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)r->conn,
                                       MHD_HEADER_KIND, name);
}

int trove__serve_reply_json(serve_resp *out, int status, json_t *root)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    out->status = status;
    out->content_type = "application/json";
    if (text == NULL) {
        static const char oom[] =
            "{\"error\":{\"status\":500,\"message\":\"out of memory\"}}\n";
        out->status = 500;
        out->body = trove_strdup(oom);
        out->len = out->body ? strlen(oom) : 0;
        return 1;
    }
    size_t len = strlen(text);
    out->body = trove_realloc(text, len + 2);   /* jansson uses trove_malloc */
    if (out->body == NULL) {
        trove_free(text);
        out->status = 500;
        out->len = 0;
        return 1;
    }
    out->body[len++] = '\n';
    out->body[len] = '\0';
    out->len = len;
    return 1;
}

int trove__serve_reply_error(serve_resp *out, int status, const char *fmt, ...)
{
    char msg[TROVE_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!utf8_valid(msg))
        for (char *c = msg; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
    return trove__serve_reply_json(out, status,
                                   json_pack("{s:{s:i,s:s}}", "error", "status",
                                             status, "message", msg));
}

int trove__serve_require_admin(const trove_server *s, const serve_req *r,
                               serve_resp *out)
{
    (void)s;
    if (r->admin)
        return 0;
    trove__serve_reply_error(out, r->auth_status, "%s", r->auth_why);
    return 1;
}

int trove__serve_require_read(const trove_server *s, const serve_req *r,
                              serve_resp *out)
{
    if (s->params.public_read)
        return 0;
    return trove__serve_require_admin(s, r, out);
}

/* Send what an extension handler answered. */
static enum MHD_Result send_resp(trove_server *s, struct MHD_Connection *conn,
                                 serve_resp *out, uint64_t start)
{
    answer a = { out->status, out->endpoint, out->market };
    struct MHD_Response *r;
    enum MHD_Result rc;
    if (out->body == NULL && out->len > 0)
        return MHD_NO;
    r = MHD_create_response_from_buffer_with_free_callback(out->len, out->body,
                                                           trove_free);
    if (r == NULL) {
        trove_free(out->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", out->content_type
                                   ? out->content_type : "application/json");
    if (out->cache_control != NULL)
        MHD_add_response_header(r, "Cache-Control", out->cache_control);
    if (out->content_encoding != NULL)
        MHD_add_response_header(r, "Content-Encoding", out->content_encoding);
    if (out->endpoint == SERVE_EP_STATIC)   /* gzip or not by the request */
        MHD_add_response_header(r, "Vary", "Accept-Encoding");
    if (a.status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"trove\"");
    rc = MHD_queue_response(conn, (unsigned)a.status, r);
    MHD_destroy_response(r);
    trove__serve_metrics_observe(&s->metrics, a.endpoint, a.status, a.market,
                                 trove__serve_now_ns() - start);
    return rc;
}

typedef struct extension {
    int (*owns)(const char *url);
    int (*handle)(trove_server *, const serve_req *, serve_resp *);
    void (*stop)(trove_server *);   /* frees the file's state of a
                                             stopping server; may be NULL */
} extension;

/* Stopped in this order: the dashboard first, as its stop joins the
 * start-up warm-up thread, which also reads the hunts' state. */
static const extension extensions[] = {
    { trove__serve_dashboard_owns,  trove__serve_dashboard_handle,
      trove__serve_dashboard_stop },
    { trove__serve_hunts_owns,      trove__serve_hunts_handle,
      trove__serve_hunts_stop },
    { trove__serve_monitoring_owns, trove__serve_monitoring_handle,
      trove__serve_monitoring_stop },
    { trove__serve_static_owns,     trove__serve_static_handle, NULL },
};

/* 1 and *rc when a handler of another file owns the URL. A body over the
 * limit is answered 413 without calling the handler. */
static int route_extensions(trove_server *s, struct MHD_Connection *conn,
                            const char *url, const char *method,
                            const req_ctx *ctx, uint64_t start,
                            enum MHD_Result *rc)
{
    serve_req r = { .method = method, .url = url, .start_ns = start,
                    .conn = conn };
    serve_resp out = { .status = 500, .endpoint = SERVE_EP_OTHER };
    const extension *x = NULL;
    int status = 0;
    const char *why = NULL;
    for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++)
        if (extensions[i].owns(url)) {
            x = &extensions[i];
            break;
        }
    if (x == NULL)
        return 0;
    if (ctx != NULL && ctx->too_large) {
        trove__serve_reply_error(&out, 413, "request body larger than %zu bytes",
                                 s->params.max_body);
    } else {
        if (ctx != NULL) {
            r.body = ctx->body;
            r.body_len = ctx->len;
        }
        r.admin = check_admin(s, conn, &status, &why) == 0;
        r.auth_status = status;
        r.auth_why = why;
        if (!x->handle(s, &r, &out))
            trove__serve_reply_error(&out, 404, "no such endpoint: %s", url);
    }
    *rc = send_resp(s, conn, &out, start);
    return 1;
}

/* ----------------------------------------------------- recommendations */
/* A scratch slot with room for `need` floats and `rules_need` bytes; when
 * every slot is busy, buffers of the call's own (freed by scratch_put).
 * *scores (and *rules when rules_need > 0) are NULL when out of memory. */
static serve_scratch *scratch_get(trove_server *s, size_t need,
                                  size_t rules_need, float **scores,
                                  void **rules)
{
    *rules = NULL;
    for (int i = 0; i < SERVE_SCRATCH_SLOTS; i++) {
        serve_scratch *sc = &s->scratch[i];
        if (atomic_flag_test_and_set_explicit(&sc->busy, memory_order_acquire))
            continue;
        if (sc->cap < need) {
            float *p = trove_realloc(sc->scores, need * sizeof *p);
            if (p != NULL) {
                sc->scores = p;
                sc->cap = need;
            }
        }
        if (rules_need > 0 && sc->rules_cap < rules_need) {
            void *p = trove_realloc(sc->rules, rules_need);
            if (p != NULL) {
                sc->rules = p;
                sc->rules_cap = rules_need;
            }
        }
        *scores = sc->cap >= need ? sc->scores : NULL;
        *rules = rules_need > 0 && sc->rules_cap >= rules_need ? sc->rules : NULL;
        return sc;
    }
    *scores = trove_malloc(need * sizeof **scores);
    if (rules_need > 0)
        *rules = trove_malloc(rules_need);
    return NULL;
}

static void scratch_put(serve_scratch *sc, float *scores, void *rules)
{
    if (sc != NULL) {
        atomic_flag_clear_explicit(&sc->busy, memory_order_release);
    } else {
        trove_free(scores);
        trove_free(rules);
    }
}

/* JSON string body of s (without quotes) into out; returns bytes written.
 * out must hold 6 * strlen(s) bytes. */
static size_t json_escape(char *out, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

/* Index of catalog item c in chosen[0..n), or -1. */
static int chosen_has(const uint32_t *chosen, size_t n, uint32_t c)
{
    for (size_t i = 0; i < n; i++)
        if (chosen[i] == c)
            return 1;
    return 0;
}

typedef struct reco_list {
    trove_serve_candidate cand[1000];
    uint32_t              cat[1000];
    size_t                n, k;
} reco_list;

static void list_add(reco_list *l, const serve_snapshot *snap, uint32_t c,
                     float score, int source)
{
    l->cand[l->n] = (trove_serve_candidate){ snap->items[c].ext_id, score,
                                             source, NULL };
    l->cat[l->n] = c;
    l->n++;
}

/* The best `room` eligible, not yet chosen catalog items among the n rows
 * (catalog index cat[j], score scores[j]) by score, best first (ties: the
 * lower row), appended to l. Returns how many; *last receives the score of
 * the last one taken. */
static size_t take_top(reco_list *l, const serve_snapshot *snap,
                       const uint32_t *cat, const float *scores, size_t n,
                       size_t room, int64_t now, float *last)
{
    uint32_t top_c[1000];
    float top_s[1000];
    size_t n_top = 0, base = l->n;
    if (room == 0)
        return 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t c = cat[j];
        float sc = scores[j];
        if (c == SERVE_NONE || isnan(sc))
            continue;
        if (n_top == room && !(sc > top_s[n_top - 1]))
            continue;
        const serve_item *it = &snap->items[c];
        if (!trove__serve_item_live(it, now) || it->pinned || chosen_has(l->cat, base, c))
            continue;
        size_t at = n_top < room ? n_top++ : room - 1;
        while (at > 0 && top_s[at - 1] < sc) {
            top_s[at] = top_s[at - 1];
            top_c[at] = top_c[at - 1];
            at--;
        }
        top_s[at] = sc;
        top_c[at] = c;
    }
    for (size_t i = 0; i < n_top; i++)
        list_add(l, snap, top_c[i], top_s[i], TROVE_SERVE_MODEL);
    *last = n_top > 0 ? top_s[n_top - 1] : -INFINITY;
    return n_top;
}

static void fill_popular(reco_list *l, const serve_snapshot *snap,
                         const serve_market *mk, int64_t now)
{
    for (uint32_t i = 0; i < mk->n_pop && l->n < l->k; i++) {
        uint32_t c = mk->pop_order[i];
        if (trove__serve_item_live(&snap->items[c], now) && !chosen_has(l->cat, l->n, c))
            list_add(l, snap, c, NAN, TROVE_SERVE_POPULAR);
    }
}

static void fill_random(reco_list *l, const serve_snapshot *snap,
                        uint64_t seed, int64_t now)
{
    trove_rng rng;
    if (snap->n_items == 0)
        return;
    trove_rng_seed(&rng, seed);
    /* a random start and a random step coprime with n visit every item */
    uint32_t n = snap->n_items;
    uint32_t at = trove_rng_below(&rng, n), step = 1;
    if (n > 2) {
        for (int tries = 0; tries < 16; tries++) {
            uint32_t cand = 1 + trove_rng_below(&rng, n - 1);
            uint32_t a = cand, b = n;
            while (b) {
                uint32_t t = a % b;
                a = b;
                b = t;
            }
            if (a == 1) {
                step = cand;
                break;
            }
        }
    }
    for (uint32_t v = 0; v < n && l->n < l->k; v++) {
        uint32_t c = (uint32_t)(((uint64_t)at + (uint64_t)v * step) % n);
        if (trove__serve_item_live(&snap->items[c], now) && !chosen_has(l->cat, l->n, c))
            list_add(l, snap, c, NAN, TROVE_SERVE_RANDOM);
    }
}

/* Scores of the market's extra rows (offers ranked from their features)
 * for a user represented by q (dim floats) and bias bu, into out. */
static void extra_scores(const serve_market *mk, uint32_t dim, const float *q,
                         float bu, float *out)
{
    for (uint32_t r = 0; r < mk->n_extra; r++) {
        const float *e = mk->extra_emb + (size_t)r * dim;
        float acc = 0.0f;
        for (uint32_t d = 0; d < dim; d++)
            acc += q[d] * e[d];
        out[r] = acc + bu + mk->extra_bias[r];
    }
}

/* Score `user` with the market's model into scores (n_scored: the model's
 * items, then the extra rows): 1 on success, 0 when the model knows
 * neither the user nor any of the user's features. */
static int model_scores(trove_server *s, const serve_market *mk,
                        const char *user, float *scores)
{
    const trove_model *m = mk->model->m;
    const trove_idmap *uids = trove_model_user_ids(m);
    uint32_t n_model = trove_model_n_items(m), dim = trove_model_dim(m);
    size_t ulen = strlen(user);
    int64_t row = uids ? trove_idmap_find(uids, user, ulen) : -1;
    float q[SERVE_DIM_MAX], bu = 0.0f;
    if (row >= 0) {
        if (trove_model_score_user(m, (uint32_t)row, scores, NULL) != TROVE_OK)
            return 0;
        if (mk->n_extra > 0) {
            if (trove_model_user_repr(m, (uint32_t)row, q, &bu, NULL) != TROVE_OK)
                return 0;
            extra_scores(mk, dim, q, bu, scores + n_model);
        }
        return 1;
    }
    /* cold start: the user's stored features, as the model names them */
    uint32_t feat[256];
    float w[256];
    size_t nf = trove__serve_user_features(&s->users, m, user, ulen, feat, w,
                                           256);
    if (nf == 0)
        return 0;
    if (trove_model_score_features(m, feat, w, nf, scores, NULL) != TROVE_OK)
        return 0;
    if (mk->n_extra > 0) {
        if (trove_model_user_repr_features(m, feat, w, nf, q, &bu, NULL) !=
            TROVE_OK)
            return 0;
        extra_scores(mk, dim, q, bu, scores + n_model);
    }
    return 1;
}

static const char *hit_rule_name(const serve_market *mk, const trove_rule_hit *h)
{
    const char *name = trove_rules_rule_name(mk->rules, h->rule);
    return name ? name : "catalog";
}

/* The user's representation under the market's model into q (dim16
 * floats, zero padded) and *bu: 1, or 0 when the model knows neither the
 * user nor any of the user's features (as model_scores). */
static int user_repr(trove_server *s, const serve_market *mk, const char *user,
                     float *q, uint32_t dim16, float *bu)
{
    const trove_model *m = mk->model->m;
    const trove_idmap *uids = trove_model_user_ids(m);
    size_t ulen = strlen(user);
    int64_t row = uids ? trove_idmap_find(uids, user, ulen) : -1;
    memset(q, 0, dim16 * sizeof *q);
    if (row >= 0)
        return trove_model_user_repr(m, (uint32_t)row, q, bu, NULL) == TROVE_OK;
    uint32_t feat[256];
    float w[256];
    size_t nf = trove__serve_user_features(&s->users, m, user, ulen, feat, w,
                                           256);
    return nf > 0 &&
           trove_model_user_repr_features(m, feat, w, nf, q, bu, NULL) == TROVE_OK;
}

/* The largest score an item scored at most u can have after the boosts of
 * rule set rs (each boost s -> s * factor + offset with factor >= 0 is
 * increasing, so keeping the larger of applying or not applying each one
 * bounds every combination). */
static float boost_bound(const trove_rule_set *rs, float u)
{
    double b = u;
    for (size_t r = 0; rs != NULL && r < rs->n_rules; r++)
        if (rs->rules[r].kind == TROVE_RULE_BOOST) {
            double x = b * rs->rules[r].factor + rs->rules[r].offset;
            if (x > b)
                b = x;
        }
    return (float)b;
}

/* The ranked entries of a result are exactly what scoring the whole
 * catalog would give when the list is full, no entry was buried, and every
 * model-ranked entry's boosted score beats the best any item left out of
 * the candidates could reach (those would come later in the pool order). */
static int candidates_sufficed(const trove_rules_result *res,
                               const trove_rule_hit *hits, size_t want,
                               float left_bound)
{
    if (res->n < want)
        return 0;
    for (size_t i = 0; i < res->n; i++)
        if (res->sources[i] == TROVE_RULES_SOURCE_MODEL &&
            !(res->scores[i] > left_bound))
            return 0;
    if (res->hits_truncated)
        return 0;   /* a bury hit might be missing */
    for (size_t h = 0; h < res->n_hits; h++)
        if (hits[h].action == TROVE_ACTION_BURY && hits[h].position != 255)
            return 0;
    return 1;
}

/* The list through the market's rules engine (trove/rules.h): the ranking
 * of the arm and the fallback chain (model, popularity or random scores
 * over the whole catalog; NaN = not ranked) goes to trove_rules_apply,
 * which applies flags, dates, eligibility, caps, pins, boosts, exclusive
 * groups, diversity, exploration and bundles.
 *
 * Model rankings first try the candidates of score.c (the float32 top
 * K of the quantized pass, plus the extra rows that reach its threshold) as
 * the rules' candidate list; when candidates_sufficed() cannot vouch for
 * the result, the whole catalog is scored and the rules run again, so the
 * answer is the same either way. Scratch comes from the pool (*sc,
 * *scores, *rbuf: released by the caller). Returns 0 or a status. */
static int recs_rules(trove_server *s, const serve_snapshot *snap, uint32_t mi,
                      const char *user, int arm, int64_t now, uint64_t seq,
                      reco_list *l, int *fallback, trove_rule_hit *hits,
                      size_t *n_hits, serve_scratch **sc, float **scores,
                      void **rbuf)
{
    const serve_market *mk = &snap->markets[mi];
    size_t n_model = mk->model ? mk->n_scored : 0;
    uint32_t label = mi + 1;
    int mode = TROVE_SERVE_MODEL, rc;
    /* rules scratch, then (budget caps) a remaining budget per item */
    size_t rules_bytes = (mk->rules_scratch + 15) & ~(size_t)15;
    size_t budget_bytes = snap->n_budgeted ? snap->n_items * sizeof(double) : 0;
    /* the model's scores of every item, or the candidates' scan scratch */
    size_t model_room = SERVE_QSCAN_WORK(n_model);
    *sc = scratch_get(s, model_room + (size_t)snap->n_items +
                             2 * (size_t)SERVE_CANDIDATES_MAX + 16,
                      rules_bytes + budget_bytes + 8, scores, rbuf);
    if (*scores == NULL || *rbuf == NULL)
        return TROVE_ENOMEM;
    double *remaining = NULL;
    if (budget_bytes > 0) {
        remaining = (double *)(void *)((char *)*rbuf + rules_bytes);
        trove__serve_budgets(s, snap, remaining);
    }
    float *cs = *scores + model_room;
    float *cand_s = cs + snap->n_items;          /* SERVE_CANDIDATES_MAX */
    uint32_t *cand = (uint32_t *)(void *)(cand_s + SERVE_CANDIDATES_MAX);
    /* the user's stored features and segments for eligibility rules */
    const char *fnames[64], *segs[64];
    size_t nf = 0, ns = 0;
    const serve_user_put *held = NULL;
    trove__serve_user_context(&s->users, user, fnames, &nf, segs, &ns, 64, &held);
    /* the user's impressions in the market's frequency window */
    int64_t exp_ids[SERVE_MAX_EXPOSURES];
    uint32_t exp_items[SERVE_MAX_EXPOSURES], exp_counts[SERVE_MAX_EXPOSURES];
    size_t n_exp = 0;
    if (mk->frequency_days > 0) {
        size_t got = trove__serve_exposures(s, user, mi, now, mk->frequency_days,
                                            exp_ids, exp_counts,
                                            SERVE_MAX_EXPOSURES);
        for (size_t e = 0; e < got; e++) {
            int64_t c = trove__serve_catalog_index(snap, exp_ids[e]);
            if (c >= 0) {
                exp_items[n_exp] = (uint32_t)c;
                exp_counts[n_exp++] = exp_counts[e];
            }
        }
    }
    trove_rules_user ru = { .key = trove_hash64(user, strlen(user), 0),
                            .segments = segs, .n_segments = ns,
                            .features = fnames, .n_features = nf,
                            .exposed_items = exp_items,
                            .exposure_counts = exp_counts,
                            .n_exposures = n_exp };
    trove_rules_request rq = { .user = &ru, .now = now,
                               .remaining_budget = remaining,
                               .ranked_source = TROVE_RULES_SOURCE_MODEL,
                               .n = l->k, .explain = 1 };
    uint32_t items[1000];
    float rs[1000];
    uint8_t src[1000];
    trove_rules_result res = { .items = items, .scores = rs, .sources = src,
                               .hits = hits, .hits_cap = MAX_HITS };
    int scored = 0;   /* the whole catalog is scored into *scores */
    int done = 0;     /* res holds the answer */

    if (arm == TROVE_ARM_TEST && mk->model != NULL && mk->model->qm != NULL &&
        mk->candidates) {
        float q[SERVE_DIM_MAX], bu = 0.0f, left = -INFINITY;
        uint32_t dim16 = trove__serve_qmat_dim16(mk->model->qm);
        uint32_t n_m = trove_model_n_items(mk->model->m);
        if (!user_repr(s, mk, user, q, dim16, &bu)) {
            mode = TROVE_SERVE_POPULAR;
            *fallback = 1;
            trove__serve_metrics_fallback(&s->metrics, label, SERVE_FB_UNKNOWN_USER);
        } else {
            size_t k = 8 * l->k + 32;
            size_t n_c = trove__serve_qmat_candidates(
                mk->model->qm, q, bu, k < SERVE_CANDIDATES_MAX ? k : SERVE_CANDIDATES_MAX,
                *scores, cand, cand_s, SERVE_CANDIDATES_MAX, &left);
            size_t n_in = 0;
            float thr = INFINITY;
            for (size_t c = 0; c < n_c; c++)
                if (cand_s[c] < thr)
                    thr = cand_s[c];
            for (size_t c = 0; c < n_c; c++)
                if (mk->model_to_cat[cand[c]] != SERVE_NONE) {
                    cand[n_in] = mk->model_to_cat[cand[c]];
                    cand_s[n_in++] = cand_s[c];
                }
            /* extra rows: exact scores; those below every candidate only
             * raise the bound of what was left out */
            for (uint32_t r = 0; n_c > 0 && r < mk->n_extra; r++) {
                const float *e = mk->extra_emb + (size_t)r * trove_model_dim(mk->model->m);
                float acc = 0.0f;
                for (uint32_t d = 0; d < trove_model_dim(mk->model->m); d++)
                    acc += q[d] * e[d];
                acc += bu + mk->extra_bias[r];
                if (acc >= thr && n_in < SERVE_CANDIDATES_MAX) {
                    cand[n_in] = mk->model_to_cat[n_m + r];
                    cand_s[n_in++] = acc;
                } else if (acc > left) {
                    left = acc;
                }
            }
            if (n_c > 0) {
                rq.candidates = cand;
                rq.candidate_scores = cand_s;
                rq.n_candidates = n_in;
                rc = trove_rules_apply(mk->rules, &rq, *rbuf, &res);
                if (rc != TROVE_OK)
                    goto out;
                done = candidates_sufficed(&res, hits, l->k,
                                           boost_bound(s->rule_sets[mi], left));
            }
            atomic_fetch_add_explicit(done ? &s->metrics.candidates_used
                                           : &s->metrics.candidates_rescored,
                                      1, memory_order_relaxed);
        }
    }
    if (!done && mode == TROVE_SERVE_MODEL) {
        if (arm == TROVE_ARM_TEST) {
            if (mk->model == NULL) {
                *fallback = 1;
                trove__serve_metrics_fallback(&s->metrics, label, SERVE_FB_NO_MODEL);
                mode = TROVE_SERVE_POPULAR;
            } else if (!model_scores(s, mk, user, *scores)) {
                *fallback = 1;
                trove__serve_metrics_fallback(&s->metrics, label, SERVE_FB_UNKNOWN_USER);
                mode = TROVE_SERVE_POPULAR;
            } else {
                scored = 1;
            }
        } else {
            mode = mk->control_policy == TROVE_CONTROL_POPULARITY ? TROVE_SERVE_POPULAR
                                                                   : TROVE_SERVE_RANDOM;
        }
    }
    if (!done) {
        if (mode == TROVE_SERVE_POPULAR && mk->n_pop == 0) {
            if (arm == TROVE_ARM_TEST) {
                *fallback = 1;
                trove__serve_metrics_fallback(&s->metrics, label, SERVE_FB_POPULAR_EMPTY);
            }
            mode = TROVE_SERVE_RANDOM;
        }
        for (uint32_t c = 0; c < snap->n_items; c++)
            cs[c] = NAN;
        if (mode == TROVE_SERVE_MODEL && scored) {
            for (size_t j = 0; j < n_model; j++)
                if (mk->model_to_cat[j] != SERVE_NONE)
                    cs[mk->model_to_cat[j]] = (*scores)[j];
        } else if (mode == TROVE_SERVE_POPULAR) {
            for (uint32_t r = 0; r < mk->n_pop; r++)
                cs[mk->pop_order[r]] = (float)(mk->n_pop - r);
        } else if (mode == TROVE_SERVE_RANDOM) {
            trove_rng rng;
            trove_rng_seed(&rng, trove_hash64(user, strlen(user), seq));
            for (uint32_t c = 0; c < snap->n_items; c++)
                cs[c] = trove_rng_uniformf(&rng);
        }
        rq.scores = cs;
        rq.candidates = NULL;
        rq.candidate_scores = NULL;
        rq.n_candidates = 0;
        rq.ranked_source = mode == TROVE_SERVE_MODEL ? TROVE_RULES_SOURCE_MODEL
                                                     : TROVE_RULES_SOURCE_POPULAR;
        rc = trove_rules_apply(mk->rules, &rq, *rbuf, &res);
        if (rc != TROVE_OK)
            goto out;
    }
    for (size_t i = 0; i < res.n; i++) {
        int source;
        switch (src[i]) {
        case TROVE_RULES_SOURCE_PINNED:  source = TROVE_SERVE_PINNED; break;
        case TROVE_RULES_SOURCE_EXPLORE: source = TROVE_SERVE_EXPLORE; break;
        case TROVE_RULES_SOURCE_BUNDLE:  source = TROVE_SERVE_BUNDLE; break;
        default:                         source = mode; break;
        }
        list_add(l, snap, items[i],
                 source == TROVE_SERVE_MODEL ? rs[i] : NAN, source);
        for (size_t h = 0; h < res.n_hits; h++)
            if (hits[h].position == i && hits[h].rule != TROVE_RULE_CATALOG) {
                l->cand[l->n - 1].rule = hit_rule_name(mk, &hits[h]);
                break;
            }
    }
    for (size_t h = 0; h < res.n_hits; h++)
        atomic_fetch_add_explicit(&s->metrics.rule_actions[label][hits[h].action & 15],
                                  1, memory_order_relaxed);
    *n_hits = res.n_hits;
    rc = 0;
out:
    trove__serve_user_release(&s->users, held);
    return rc;
}

/* The markets without rules: the best `room` eligible offers from the
 * candidates of score.c (see recs_rules), appended to l. 1 when that is
 * provably what scoring the whole catalog gives (room offers taken, the
 * last one beating the bound of every offer left out), else 0 with l
 * possibly extended (the caller truncates it). Scratch: buf, of work +
 * 2 * SERVE_CANDIDATES_MAX floats, work >= SERVE_QSCAN_WORK(model items). */
static int plain_candidates(trove_server *s, reco_list *l,
                            const serve_snapshot *snap, const serve_market *mk,
                            const float *q, float bu, size_t room, int64_t now,
                            float *buf, size_t work)
{
    uint32_t n_m = trove_model_n_items(mk->model->m);
    uint32_t dim = trove_model_dim(mk->model->m);
    float *cand_s = buf + work;
    uint32_t *cand = (uint32_t *)(void *)(cand_s + SERVE_CANDIDATES_MAX);
    float left = -INFINITY, last;
    size_t k = 8 * room + 32, n_in = 0;
    size_t n_c = trove__serve_qmat_candidates(
        mk->model->qm, q, bu, k < SERVE_CANDIDATES_MAX ? k : SERVE_CANDIDATES_MAX,
        buf, cand, cand_s, SERVE_CANDIDATES_MAX, &left);
    float thr = INFINITY;
    if (n_c == 0)
        return 0;
    for (size_t c = 0; c < n_c; c++) {
        if (cand_s[c] < thr)
            thr = cand_s[c];
        if (mk->model_to_cat[cand[c]] != SERVE_NONE) {
            cand[n_in] = mk->model_to_cat[cand[c]];
            cand_s[n_in++] = cand_s[c];
        }
    }
    for (uint32_t r = 0; r < mk->n_extra; r++) {
        const float *e = mk->extra_emb + (size_t)r * dim;
        float acc = 0.0f;
        for (uint32_t d = 0; d < dim; d++)
            acc += q[d] * e[d];
        acc += bu + mk->extra_bias[r];
        if (acc >= thr && n_in < SERVE_CANDIDATES_MAX) {
            cand[n_in] = mk->model_to_cat[n_m + r];
            cand_s[n_in++] = acc;
        } else if (acc > left) {
            left = acc;
        }
    }
    int ok = take_top(l, snap, cand, cand_s, n_in, room, now, &last) == room &&
             last > left;
    atomic_fetch_add_explicit(ok ? &s->metrics.candidates_used
                                 : &s->metrics.candidates_rescored,
                              1, memory_order_relaxed);
    return ok;
}

static enum MHD_Result handle_recs(trove_server *s, struct MHD_Connection *conn,
                                   uint64_t start)
{
    answer a = { 200, SERVE_EP_RECS, 0 };
    const char *user = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "user");
    const char *market = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "market");
    const char *n_arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "n");
    unsigned long n_req = 0;
    serve_snapshot *snap = NULL;
    const char *explain_arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                          "explain");
    serve_scratch *sc = NULL;
    float *scores = NULL;
    void *rbuf = NULL;
    reco_list *l = NULL;
    trove_rule_hit hits[MAX_HITS];
    size_t n_hits = 0;
    int explain = explain_arg != NULL && (strcmp(explain_arg, "true") == 0 ||
                                          strcmp(explain_arg, "1") == 0);
    enum MHD_Result rc;

    if (user == NULL || user[0] == '\0' || strlen(user) > MAX_ID_LEN ||
        !utf8_valid(user)) {
        a.status = 400;
        return send_error(s, conn, &a, start,
                          "query parameter 'user' is required (1 to %d bytes "
                          "of UTF-8)", MAX_ID_LEN);
    }
    if (market == NULL || market[0] == '\0') {
        a.status = 400;
        return send_error(s, conn, &a, start, "query parameter 'market' is required");
    }
    if (n_arg != NULL) {
        char *end;
        errno = 0;
        n_req = strtoul(n_arg, &end, 10);
        if (errno != 0 || end == n_arg || *end != '\0' || n_arg[0] == '-' ||
            n_req < 1 || n_req > s->params.max_n) {
            a.status = 400;
            return send_error(s, conn, &a, start,
                              "query parameter 'n' must be an integer in 1..%u",
                              s->params.max_n);
        }
    }
    snap = trove__serve_snapshot_acquire(s);
    int64_t mi = trove_idmap_find(snap->market_codes, market, strlen(market));
    if (mi < 0) {
        trove__serve_snapshot_release(snap);
        a.status = 404;
        return send_error(s, conn, &a, start, "unknown market '%s'", market);
    }
    a.market = (uint32_t)mi + 1;
    const serve_market *mk = &snap->markets[mi];
    int64_t now = (int64_t)time(NULL);
    uint64_t seq = atomic_fetch_add_explicit(&s->request_seq, 1,
                                             memory_order_relaxed);
    char request_id[40];
    snprintf(request_id, sizeof request_id, "%016llx-%llx",
             (unsigned long long)s->boot_id, (unsigned long long)seq);
    int arm = trove_experiment_arm(mk->salt, user, mk->test_share, NULL);
    if (arm < 0)
        arm = TROVE_ARM_TEST;

    l = NULL;
    size_t k = n_req ? n_req : (size_t)mk->n_default;
    if (k > s->params.max_n)
        k = s->params.max_n;
    /* the list lives in a scratch slot's tail would complicate growth; it
     * is small enough for the thread's stack frame of this handler */
    reco_list list;
    l = &list;
    l->n = 0;
    l->k = k;
    int fallback = 0, used_model = 0;

    if (mk->rules != NULL) {
        int rr = recs_rules(s, snap, (uint32_t)mi, user, arm, now, seq, l,
                            &fallback, hits, &n_hits, &sc, &scores, &rbuf);
        if (rr != 0) {
            scratch_put(sc, scores, rbuf);
            trove__serve_snapshot_release(snap);
            a.status = rr == TROVE_ENOMEM ? 503 : 500;
            return send_error(s, conn, &a, start, "rules: %s", trove_strerror(rr));
        }
        goto hook;
    }

    /* pinned offers first */
    for (uint32_t i = 0; i < snap->n_pinned && l->n < k; i++)
        if (trove__serve_item_live(&snap->items[snap->pinned[i]], now))
            list_add(l, snap, snap->pinned[i], NAN, TROVE_SERVE_PINNED);

    if (arm == TROVE_ARM_TEST) {
        if (mk->model == NULL) {
            fallback = 1;
            trove__serve_metrics_fallback(&s->metrics, a.market, SERVE_FB_NO_MODEL);
        } else {
            /* every item's score, or the candidates' scan scratch */
            size_t work = SERVE_QSCAN_WORK(mk->n_scored);
            size_t need = work + 2 * (size_t)SERVE_CANDIDATES_MAX + 16;
            sc = scratch_get(s, need, 0, &scores, &rbuf);
            if (scores == NULL) {
                scratch_put(sc, scores, rbuf);
                trove__serve_snapshot_release(snap);
                a.status = 503;
                return send_error(s, conn, &a, start, "out of memory");
            }
            float q[SERVE_DIM_MAX], bu = 0.0f;
            uint32_t dim16 = mk->model->qm ? trove__serve_qmat_dim16(mk->model->qm)
                                           : SERVE_DIM_MAX;
            if (user_repr(s, mk, user, q, dim16, &bu)) {
                used_model = 1;
                /* one slot for an offer the model has not seen yet */
                uint32_t explore = SERVE_NONE;
                if (mk->n_explore > 0 && k - l->n >= 2) {
                    char day[MAX_ID_LEN + 32];
                    int len = snprintf(day, sizeof day, "%s/%lld", user,
                                       (long long)(now / 86400));
                    size_t dlen = len < 0 ? 0 : (size_t)len;
                    if (dlen >= sizeof day)
                        dlen = sizeof day - 1;
                    uint64_t h = trove_hash64(day, dlen, 0);
                    for (uint32_t v = 0; v < mk->n_explore; v++) {
                        uint32_t c = mk->explore[(h + v) % mk->n_explore];
                        if (trove__serve_item_live(&snap->items[c], now) && !snap->items[c].pinned) {
                            explore = c;
                            break;
                        }
                    }
                }
                size_t room = k - l->n - (explore != SERVE_NONE), before = l->n;
                int done = 0;
                float last;
                if (mk->model->qm != NULL && room > 0)
                    done = plain_candidates(s, l, snap, mk, q, bu, room, now,
                                            scores, work);
                if (!done) {
                    l->n = before;
                    if (model_scores(s, mk, user, scores))
                        take_top(l, snap, mk->model_to_cat, scores,
                                 mk->n_scored, room, now, &last);
                }
                if (explore != SERVE_NONE)
                    list_add(l, snap, explore, NAN, TROVE_SERVE_EXPLORE);
            } else {
                fallback = 1;
                trove__serve_metrics_fallback(&s->metrics, a.market,
                                              SERVE_FB_UNKNOWN_USER);
            }
        }
    }
    if (arm == TROVE_ARM_TEST || mk->control_policy == TROVE_CONTROL_POPULARITY) {
        size_t before = l->n;
        fill_popular(l, snap, mk, now);
        if (used_model && l->n > before) {
            fallback = 1;
            trove__serve_metrics_fallback(&s->metrics, a.market, SERVE_FB_SHORT_LIST);
        }
    }
    if (l->n < k) {
        if (arm == TROVE_ARM_TEST) {
            fallback = 1;
            trove__serve_metrics_fallback(&s->metrics, a.market,
                                          SERVE_FB_POPULAR_EMPTY);
        }
        fill_random(l, snap, trove_hash64(user, strlen(user), seq), now);
    }

hook:
    if (s->params.rules != NULL) {
        trove_serve_request rq = { user, mk->code, now, arm };
        size_t n_out = l->n;
        int rrc = s->params.rules(s->params.rules_ud, &rq, l->cand, &n_out, k);
        if (rrc != TROVE_OK || n_out > k) {
            scratch_put(sc, scores, rbuf);
            trove__serve_snapshot_release(snap);
            a.status = 500;
            return send_error(s, conn, &a, start, "rules failed: %s",
                              trove_strerror(rrc));
        }
        l->n = n_out;
    }

    /* the answer: its size is bounded before writing */
    size_t cap = 512 + 6 * strlen(user) + 6 * strlen(mk->code);
    for (size_t i = 0; i < l->n; i++)
        cap += 96 + 6 * strlen(l->cand[i].item) +
               (l->cand[i].rule ? 16 + 6 * strlen(l->cand[i].rule) : 0);
    if (explain)
        for (size_t h = 0; h < n_hits; h++)
            cap += 128 + 6 * strlen(snap->items[hits[h].item].ext_id) +
                   6 * strlen(hit_rule_name(mk, &hits[h]));
    char *buf = trove_malloc(cap);
    if (buf == NULL) {
        scratch_put(sc, scores, rbuf);
        trove__serve_snapshot_release(snap);
        a.status = 503;
        return send_error(s, conn, &a, start, "out of memory");
    }
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "{\"request_id\":\"%s\",\"user\":\"",
                          request_id);
    o += json_escape(buf + o, user);
    o += (size_t)snprintf(buf + o, cap - o, "\",\"market\":\"");
    o += json_escape(buf + o, mk->code);
    if (mk->model != NULL)
        o += (size_t)snprintf(buf + o, cap - o, "\",\"model_version\":%d",
                              mk->model->version);
    else
        o += (size_t)snprintf(buf + o, cap - o, "\",\"model_version\":null");
    o += (size_t)snprintf(buf + o, cap - o,
                          ",\"arm\":\"%s\",\"fallback\":%s,\"items\":[",
                          trove_arm_name(arm), fallback ? "true" : "false");
    for (size_t i = 0; i < l->n; i++) {
        const trove_serve_candidate *c = &l->cand[i];
        o += (size_t)snprintf(buf + o, cap - o, "%s{\"item\":\"", i ? "," : "");
        o += json_escape(buf + o, c->item);
        if (isfinite(c->score))
            o += (size_t)snprintf(buf + o, cap - o, "\",\"score\":%.6g",
                                  (double)c->score);
        else
            o += (size_t)snprintf(buf + o, cap - o, "\",\"score\":null");
        o += (size_t)snprintf(buf + o, cap - o, ",\"source\":\"%s\"",
                              trove_serve_source_name(c->source));
        if (c->rule != NULL) {
            o += (size_t)snprintf(buf + o, cap - o, ",\"rule\":\"");
            o += json_escape(buf + o, c->rule);
            o += (size_t)snprintf(buf + o, cap - o, "\"");
        }
        o += (size_t)snprintf(buf + o, cap - o, "}");
    }
    o += (size_t)snprintf(buf + o, cap - o, "]");
    if (explain) {
        o += (size_t)snprintf(buf + o, cap - o, ",\"trace\":[");
        for (size_t h = 0; h < n_hits; h++) {
            o += (size_t)snprintf(buf + o, cap - o, "%s{\"item\":\"", h ? "," : "");
            o += json_escape(buf + o, snap->items[hits[h].item].ext_id);
            o += (size_t)snprintf(buf + o, cap - o, "\",\"rule\":\"");
            o += json_escape(buf + o, hit_rule_name(mk, &hits[h]));
            o += (size_t)snprintf(buf + o, cap - o, "\",\"action\":\"%s\"",
                                  trove_rules_action_name(hits[h].action));
            if (hits[h].position != 255)
                o += (size_t)snprintf(buf + o, cap - o, ",\"position\":%u}",
                                      (unsigned)hits[h].position);
            else
                o += (size_t)snprintf(buf + o, cap - o, ",\"position\":null}");
        }
        o += (size_t)snprintf(buf + o, cap - o, "]");
    }
    o += (size_t)snprintf(buf + o, cap - o, "}\n");
    scratch_put(sc, scores, rbuf);
    trove__serve_snapshot_release(snap);
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(o, buf, trove_free);
    if (r == NULL) {
        trove_free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-Request-Id", request_id);
    rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    trove__serve_metrics_observe(&s->metrics, a.endpoint, 200, a.market,
                                 trove__serve_now_ns() - start);
    return rc;
}

/* --------------------------------------------------------- JSON input */
int trove__serve_parse_body(const serve_req *r, json_t **root, char *msg,
                            size_t size)
{
    json_error_t jerr;
    if (r->body_len == 0) {
        snprintf(msg, size, "request body: a JSON document is required");
        return -1;
    }
    *root = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (*root == NULL) {
        snprintf(msg, size, "request body:%d:%d: malformed JSON: %s",
                 jerr.line, jerr.column, jerr.text);
        return -1;
    }
    return 0;
}

static int parse_body(const req_ctx *ctx, json_t **root, char *msg, size_t size)
{
    serve_req r = { .body = ctx->body, .body_len = ctx->len };
    return trove__serve_parse_body(&r, root, msg, size);
}

int trove__serve_market_index(const trove_server *s, const char *code)
{
    for (size_t i = 0; i < s->n_markets; i++)
        if (strcmp(s->market_code[i], code) == 0)
            return (int)i;
    return -1;
}

static int market_index(const trove_server *s, const char *code)
{
    return trove__serve_market_index(s, code);
}

/* ------------------------------------------------------------- events */
typedef struct event_in {
    const char *user, *item, *market, *id;
    int         type;
    double      value;
    int64_t     ts;
    int         inserted;   /* new in the store (not a duplicate) */
} event_in;

static int event_validate(const trove_server *s, json_t *o, size_t i,
                          event_in *ev, char *msg, size_t size)
{
    json_t *v;
    if (!json_is_object(o)) {
        snprintf(msg, size, "events[%zu]: an object is expected", i);
        return -1;
    }
    const char *keys[] = { "user", "item" };
    for (int k = 0; k < 2; k++) {
        v = json_object_get(o, keys[k]);
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > MAX_ID_LEN ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(msg, size, "events[%zu].%s: a non-empty string of at most "
                     "%d bytes is required", i, keys[k], MAX_ID_LEN);
            return -1;
        }
    }
    ev->user = json_string_value(json_object_get(o, "user"));
    ev->item = json_string_value(json_object_get(o, "item"));
    v = json_object_get(o, "type");
    if (!json_is_string(v) ||
        trove_event_type_parse(json_string_value(v), &ev->type) != TROVE_OK) {
        snprintf(msg, size, "events[%zu].type: one of impression, click, "
                 "redemption, purchase, rating, return is required", i);
        return -1;
    }
    v = json_object_get(o, "value");
    ev->value = 1.0;
    if (v != NULL) {
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            snprintf(msg, size, "events[%zu].value: a finite number is expected", i);
            return -1;
        }
        ev->value = json_number_value(v);
    }
    v = json_object_get(o, "ts");
    ev->ts = (int64_t)time(NULL);
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > 253402300799) {
            snprintf(msg, size, "events[%zu].ts: Unix seconds (an integer from 0 to "
                     "253402300799, 9999-12-31) are expected", i);
            return -1;
        }
        ev->ts = (int64_t)json_integer_value(v);
    }
    v = json_object_get(o, "market");
    ev->market = NULL;
    if (v != NULL) {
        if (!json_is_string(v) || market_index(s, json_string_value(v)) < 0) {
            snprintf(msg, size, "events[%zu].market: a known market code is "
                     "expected", i);
            return -1;
        }
        ev->market = json_string_value(v);
    }
    v = json_object_get(o, "id");
    ev->id = NULL;
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            snprintf(msg, size, "events[%zu].id: a non-empty string is expected", i);
            return -1;
        }
        ev->id = json_string_value(v);
    }
    return 0;
}

static uint64_t event_id_of(const event_in *e)
{
    char buf[4 * MAX_ID_LEN];
    if (e->id != NULL)
        return trove_hash64(e->id, strlen(e->id), 0);
    int len = snprintf(buf, sizeof buf, "%s\x1f%s\x1f%d\x1f%lld\x1f%s", e->user,
                       e->item, e->type, (long long)e->ts,
                       e->market ? e->market : "");
    if (len < 0)
        len = 0;
    if ((size_t)len >= sizeof buf)
        len = (int)sizeof buf - 1;
    return trove_hash64(buf, (size_t)len, 0);
}

static enum MHD_Result handle_events(trove_server *s, struct MHD_Connection *conn,
                                     req_ctx *ctx)
{
    answer a = { 200, SERVE_EP_EVENTS, 0 };
    char msg[TROVE_ERROR_MSG_MAX];
    json_t *root = NULL, *arr;
    event_in *evs = NULL;
    trove_error err;
    size_t n, stored = 0, dup = 0;
    enum MHD_Result rc;
    trove_error_clear(&err);
    if (parse_body(ctx, &root, msg, sizeof msg) != 0) {
        a.status = 400;
        return send_error(s, conn, &a, ctx->start_ns, "%s", msg);
    }
    arr = json_is_array(root) ? root : json_object_get(root, "events");
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > MAX_EVENTS_PER_BATCH) {
        a.status = 400;
        rc = send_error(s, conn, &a, ctx->start_ns, "request body: 'events' must "
                        "be an array of 1 to %d events", MAX_EVENTS_PER_BATCH);
        goto done;
    }
    n = json_array_size(arr);
    evs = trove_calloc(n, sizeof *evs);
    if (evs == NULL) {
        a.status = 503;
        rc = send_error(s, conn, &a, ctx->start_ns, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (event_validate(s, json_array_get(arr, i), i, &evs[i], msg,
                           sizeof msg) != 0) {
            a.status = 400;
            rc = send_error(s, conn, &a, ctx->start_ns, "%s", msg);
            goto done;
        }
    pthread_mutex_lock(&s->admin_lock);
    int st = trove_store_begin(s->store, &err);
    size_t i = 0;
    for (; st == TROVE_OK && i < n; i++) {
        const event_in *e = &evs[i];
        int mi = e->market ? market_index(s, e->market) : -1;
        trove_event ev = { .id = event_id_of(e), .type = e->type,
                           .value = e->value, .ts = e->ts,
                           .market_id = mi >= 0 ? s->market_id[mi] : 0 };
        int inserted = 0;
        st = trove_store_item_find(s->store, e->item, &ev.item_id, &err);
        if (st == TROVE_ENOTFOUND) {
            trove_error_set(&err, st, "events[%zu].item: unknown item '%s'", i,
                            e->item);
            break;
        }
        if (st == TROVE_OK)
            st = trove_store_user_upsert(s->store, e->user, ev.market_id,
                                         &ev.user_id, NULL, &err);
        if (st == TROVE_OK)
            st = trove_store_event_add(s->store, &ev, &inserted, &err);
        if (st == TROVE_OK) {
            evs[i].inserted = inserted;
            if (inserted)
                stored++;
            else
                dup++;
        }
    }
    if (st == TROVE_OK)
        st = trove_store_commit(s->store, &err);
    if (st != TROVE_OK) {
        trove_store_rollback(s->store, NULL);
    } else {
        /* counted only once durable, and once (a retried batch is not
         * counted again); popularity is used by the next snapshot, the
         * caps by the next request */
        for (size_t j = 0; j < n; j++) {
            const event_in *e = &evs[j];
            if (!e->inserted)
                continue;
            int mi = e->market ? market_index(s, e->market) : -1;
            trove_event ev = { .type = e->type, .value = e->value,
                               .ts = e->ts,
                               .market_id = mi >= 0 ? s->market_id[mi] : 0 };
            if (trove_store_item_find(s->store, e->item, &ev.item_id, NULL) !=
                TROVE_OK)
                continue;
            trove__serve_popularity_add(s, &ev);
            if (trove__serve_caps_add(s, e->user, &ev) != TROVE_OK)
                trove_log(TROVE_LOG_WARN, "serve: events[%zu]: out of memory "
                          "counting it for the caps", j);
        }
    }
    pthread_mutex_unlock(&s->admin_lock);
    if (st != TROVE_OK) {
        a.status = st == TROVE_ENOTFOUND || st == TROVE_EINVAL ? 400 : 503;
        rc = send_error(s, conn, &a, ctx->start_ns, "%s", err.msg);
        goto done;
    }
    atomic_fetch_add(&s->metrics.events_stored, stored);
    atomic_fetch_add(&s->metrics.events_duplicate, dup);
    rc = send_json(s, conn, &a,
                   json_pack("{s:I,s:I,s:I}", "accepted", (json_int_t)n,
                             "stored", (json_int_t)stored, "duplicates",
                             (json_int_t)dup),
                   ctx->start_ns);
done:
    trove_free(evs);
    json_decref(root);
    return rc;
}

/* -------------------------------------------------------------- items */
/* Read the optional flag fields of o into *f / *mask. */
static int item_flags(json_t *o, trove_item *f, unsigned *mask, char *msg,
                      size_t size)
{
    static const struct { const char *key; unsigned bit; } bools[] = {
        { "active", TROVE_ITEM_ACTIVE }, { "pinned", TROVE_ITEM_PINNED },
        { "blocked", TROVE_ITEM_BLOCKED }
    };
    memset(f, 0, sizeof *f);
    *mask = 0;
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(o, bools[i].key);
        if (v == NULL)
            continue;
        if (!json_is_boolean(v)) {
            snprintf(msg, size, "%s: true or false is expected", bools[i].key);
            return -1;
        }
        int b = json_is_true(v);
        if (i == 0) f->active = b;
        if (i == 1) f->pinned = b;
        if (i == 2) f->blocked = b;
        *mask |= bools[i].bit;
    }
    const char *ts_keys[] = { "start_ts", "end_ts" };
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, ts_keys[i]);
        if (v == NULL)
            continue;
        if (json_is_null(v)) {
            /* null clears the restriction */
        } else if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(msg, size, "%s: Unix seconds (an integer >= 0) or null "
                     "are expected", ts_keys[i]);
            return -1;
        }
        int64_t t = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
        if (i == 0) f->start_ts = t;
        else f->end_ts = t;
        *mask |= i == 0 ? TROVE_ITEM_START_TS : TROVE_ITEM_END_TS;
    }
    return 0;
}

/* The store feature of the body's features entry key: v (the naming of
 * docs/openapi.yaml, Item.features): a string becomes the categorical
 * "key=value" with weight 1, a finite number the numeric feature "key"
 * (categorical when key holds '=') with that weight. 0, or -1 with the
 * reason in msg (naming features.key). */
static int feature_of(const char *key, json_t *v, char *name, size_t size, int *kind,
                      double *w, char *msg, size_t msg_size)
{
    int len;
    if (json_is_string(v)) {
        len = snprintf(name, size, "%s=%s", key, json_string_value(v));
        *kind = TROVE_FEATURE_CATEGORICAL;
        *w = 1.0;
    } else if (json_is_number(v) && isfinite(json_number_value(v))) {
        len = snprintf(name, size, "%s", key);
        *kind = strchr(key, '=') ? TROVE_FEATURE_CATEGORICAL : TROVE_FEATURE_NUMERIC;
        *w = json_number_value(v);
    } else {
        snprintf(msg, msg_size, "features.%s: a finite number or a string is expected",
                 key);
        return -1;
    }
    if (len < 0 || (size_t)len >= size) {
        snprintf(msg, msg_size, "features.%s: the feature name is longer than %zu bytes",
                 key, size - 1);
        return -1;
    }
    return 0;
}

static int valid_item_id(const char *id)
{
    size_t len = strlen(id);
    return len > 0 && len <= MAX_ID_LEN && strchr(id, '/') == NULL &&
           utf8_valid(id);
}

static enum MHD_Result handle_item(trove_server *s, struct MHD_Connection *conn,
                                   req_ctx *ctx, const char *id, int put)
{
    answer a = { 200, put ? SERVE_EP_ITEM_PUT : SERVE_EP_ITEM_PATCH, 0 };
    char msg[TROVE_ERROR_MSG_MAX];
    json_t *root = NULL, *title, *feats;
    trove_item flags;
    unsigned mask;
    trove_error err;
    int created = 0, st;
    int64_t item_id = 0;
    enum MHD_Result rc;
    trove_error_clear(&err);
    if (!valid_item_id(id)) {
        a.status = 400;
        return send_error(s, conn, &a, ctx->start_ns,
                          "item id: 1 to %d bytes of UTF-8 without '/' are expected",
                          MAX_ID_LEN);
    }
    if (parse_body(ctx, &root, msg, sizeof msg) != 0) {
        a.status = 400;
        return send_error(s, conn, &a, ctx->start_ns, "%s", msg);
    }
    if (!json_is_object(root)) {
        a.status = 400;
        rc = send_error(s, conn, &a, ctx->start_ns, "request body: a JSON object "
                        "is expected");
        goto done;
    }
    if (item_flags(root, &flags, &mask, msg, sizeof msg) != 0) {
        a.status = 400;
        rc = send_error(s, conn, &a, ctx->start_ns, "%s", msg);
        goto done;
    }
    title = json_object_get(root, "title");
    feats = json_object_get(root, "features");
    if (put && ((title != NULL && !json_is_string(title)) ||
                (feats != NULL && !json_is_object(feats)))) {
        a.status = 400;
        rc = send_error(s, conn, &a, ctx->start_ns, "title must be a string and "
                        "features an object of name: number or string");
        goto done;
    }
    if (!put && (title != NULL || feats != NULL)) {
        a.status = 400;
        rc = send_error(s, conn, &a, ctx->start_ns, "PATCH changes flags and "
                        "dates only; use PUT for title and features");
        goto done;
    }
    if (feats != NULL) {
        const char *key;
        json_t *v;
        json_object_foreach(feats, key, v) {
            char name[512];
            int kind;
            double w;
            if (feature_of(key, v, name, sizeof name, &kind, &w, msg, sizeof msg) != 0) {
                a.status = 400;
                rc = send_error(s, conn, &a, ctx->start_ns, "%s", msg);
                goto done;
            }
        }
    }
    pthread_mutex_lock(&s->admin_lock);
    st = trove_store_begin(s->store, &err);
    if (st == TROVE_OK && put)
        st = trove_store_item_upsert(s->store, id,
                                     title ? json_string_value(title) : NULL,
                                     &item_id, &created, &err);
    else if (st == TROVE_OK)
        st = trove_store_item_find(s->store, id, &item_id, &err);
    if (st == TROVE_OK && feats != NULL) {
        const char *key;
        json_t *v;
        json_object_foreach(feats, key, v) {
            char name[512];
            int kind;
            double w;
            int64_t fid;
            /* validated before the transaction: cannot fail here */
            (void)feature_of(key, v, name, sizeof name, &kind, &w, msg, sizeof msg);
            st = trove_store_feature_upsert(s->store, TROVE_FEATURE_ITEM, name,
                                            kind, &fid, &err);
            if (st == TROVE_OK)
                st = trove_store_item_feature_set(s->store, item_id, fid, w, &err);
            if (st != TROVE_OK) {
                trove_error_prefix(&err, "features.%s", key);
                break;
            }
        }
    }
    if (st == TROVE_OK && mask != 0)
        st = trove_store_item_set_flags(s->store, item_id, &flags, mask, &err);
    if (st == TROVE_OK)
        st = trove_store_commit(s->store, &err);
    if (st != TROVE_OK)
        trove_store_rollback(s->store, NULL);
    else
        st = trove__serve_rebuild(s, &err);
    pthread_mutex_unlock(&s->admin_lock);
    if (st != TROVE_OK) {
        a.status = st == TROVE_ENOTFOUND ? 404
                 : st == TROVE_EINVAL ? 400 : 503;
        if (st == TROVE_ENOTFOUND && !put)
            rc = send_error(s, conn, &a, ctx->start_ns, "unknown item '%s'", id);
        else
            rc = send_error(s, conn, &a, ctx->start_ns, "%s", err.msg);
        goto done;
    }
    a.status = created ? 201 : 200;
    rc = send_json(s, conn, &a,
                   json_pack("{s:s,s:b}", "item", id, "created", created),
                   ctx->start_ns);
done:
    json_decref(root);
    return rc;
}

/* -------------------------------------------------------------- users */
#define MAX_USER_PUT_FEATURES 64

/* PUT /v1/users/{id}: create or update a user's features (and home market),
 * stored in one transaction and seen by the next request: cold-start
 * scoring from features, and the rules engine's features and segments. */
static enum MHD_Result handle_user(trove_server *s, struct MHD_Connection *conn,
                                   req_ctx *ctx, const char *id)
{
    answer a = { 200, SERVE_EP_USER_PUT, 0 };
    char msg[TROVE_ERROR_MSG_MAX];
    char names_buf[MAX_USER_PUT_FEATURES][512];
    const char *names[MAX_USER_PUT_FEATURES];
    float weights[MAX_USER_PUT_FEATURES];
    int kinds[MAX_USER_PUT_FEATURES];
    json_t *root = NULL, *feats, *mkt;
    trove_error err;
    int created = 0, st, mi = -1;
    size_t n = 0;
    int64_t uid = 0;
    enum MHD_Result rc;
    trove_error_clear(&err);
    if (!valid_item_id(id)) {
        a.status = 400;
        return send_error(s, conn, &a, ctx->start_ns,
                          "user id: 1 to %d bytes of UTF-8 without '/' are expected",
                          MAX_ID_LEN);
    }
    if (parse_body(ctx, &root, msg, sizeof msg) != 0) {
        a.status = 400;
        return send_error(s, conn, &a, ctx->start_ns, "%s", msg);
    }
    feats = json_is_object(root) ? json_object_get(root, "features") : NULL;
    mkt = json_is_object(root) ? json_object_get(root, "market") : NULL;
    if (!json_is_object(root) || (feats != NULL && !json_is_object(feats)) ||
        (mkt != NULL && !json_is_string(mkt))) {
        a.status = 400;
        rc = send_error(s, conn, &a, ctx->start_ns, "request body: an object with "
                        "\"market\" (a market code) and \"features\" (an object of "
                        "name: number or string) is expected");
        goto done;
    }
    if (mkt != NULL && (mi = trove__serve_market_index(s, json_string_value(mkt))) < 0) {
        a.status = 404;
        rc = send_error(s, conn, &a, ctx->start_ns, "market: unknown market '%s'",
                        json_string_value(mkt));
        goto done;
    }
    if (feats != NULL) {
        const char *key;
        json_t *v;
        json_object_foreach(feats, key, v) {
            double w;
            if (n == MAX_USER_PUT_FEATURES) {
                a.status = 400;
                rc = send_error(s, conn, &a, ctx->start_ns, "features: at most %d per "
                                "request", MAX_USER_PUT_FEATURES);
                goto done;
            }
            if (feature_of(key, v, names_buf[n], sizeof names_buf[n], &kinds[n], &w, msg,
                           sizeof msg) != 0) {
                a.status = 400;
                rc = send_error(s, conn, &a, ctx->start_ns, "%s", msg);
                goto done;
            }
            weights[n] = (float)w;
            names[n] = names_buf[n];
            n++;
        }
    }
    pthread_mutex_lock(&s->admin_lock);
    st = trove_store_begin(s->store, &err);
    if (st == TROVE_OK)
        st = trove_store_user_upsert(s->store, id, mi >= 0 ? s->market_id[mi] : 0, &uid,
                                     &created, &err);
    for (size_t k = 0; st == TROVE_OK && k < n; k++) {
        int64_t fid;
        st = trove_store_feature_upsert(s->store, TROVE_FEATURE_USER, names[k], kinds[k],
                                        &fid, &err);
        if (st == TROVE_OK)
            st = trove_store_user_feature_set(s->store, uid, fid, weights[k], &err);
        if (st != TROVE_OK)
            trove_error_prefix(&err, "features.%s", names[k]);
    }
    if (st == TROVE_OK)
        st = trove_store_commit(s->store, &err);
    if (st != TROVE_OK)
        trove_store_rollback(s->store, NULL);
    else if (trove__serve_user_put(&s->users, id, names, weights, n) != TROVE_OK)
        st = trove_error_set(&err, TROVE_ENOMEM, "user %s: stored, but out of memory "
                             "publishing its features (seen after a restart)", id);
    /* how many of the user's features the market's serving model knows:
     * 0 leaves a user it was not trained with on the fallback */
    json_int_t known = -1;
    if (st == TROVE_OK && mi >= 0 && s->models[mi] != NULL) {
        uint32_t kf[MAX_USER_PUT_FEATURES * 4];
        float kw[MAX_USER_PUT_FEATURES * 4];
        known = (json_int_t)trove__serve_user_features(&s->users, s->models[mi]->m, id,
                                                       strlen(id), kf, kw,
                                                       MAX_USER_PUT_FEATURES * 4);
    }
    pthread_mutex_unlock(&s->admin_lock);
    if (st != TROVE_OK) {
        a.status = st == TROVE_EINVAL ? 400 : 503;
        rc = send_error(s, conn, &a, ctx->start_ns, "%s", err.msg);
        goto done;
    }
    a.status = created ? 201 : 200;
    rc = send_json(s, conn, &a,
                   json_pack("{s:s,s:b,s:I,s:o}", "user", id, "created", created,
                             "features", (json_int_t)n, "model_features",
                             known >= 0 ? json_integer(known) : json_null()),
                   ctx->start_ns);
done:
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------- models */
typedef struct versions_walk {
    json_t *arr;
} versions_walk;

static int add_version(void *ud, const trove_model_version *mv)
{
    versions_walk *w = ud;
    json_error_t jerr;
    json_t *metrics = json_loads(mv->metrics_json, 0, &jerr);
    json_t *o = json_pack("{s:i,s:I,s:s,s:s,s:s,s:b,s:b}", "version",
                          mv->version, "created_ts", (json_int_t)mv->created_ts,
                          "family", mv->family, "config_hash", mv->config_hash,
                          "data_fingerprint", mv->data_fingerprint, "active",
                          mv->active, "pruned", mv->pruned);
    if (o == NULL) {
        json_decref(metrics);
        return TROVE_ENOMEM;
    }
    json_object_set_new(o, "metrics", metrics ? metrics : json_object());
    return json_array_append_new(w->arr, o) == 0 ? 0 : TROVE_ENOMEM;
}

static enum MHD_Result handle_models(trove_server *s, struct MHD_Connection *conn,
                                     uint64_t start)
{
    answer a = { 200, SERVE_EP_MODELS, 0 };
    trove_error err;
    json_t *root = json_object(), *markets = json_array();
    int st = root && markets ? TROVE_OK : TROVE_ENOMEM;
    trove_error_clear(&err);
    pthread_mutex_lock(&s->admin_lock);
    for (size_t i = 0; st == TROVE_OK && i < s->n_markets; i++) {
        versions_walk w = { json_array() };
        json_t *m = json_object();
        if (w.arr == NULL || m == NULL) {
            json_decref(w.arr);
            json_decref(m);
            st = TROVE_ENOMEM;
            break;
        }
        st = trove_store_models_foreach(s->store, s->market_id[i], add_version,
                                        &w, &err);
        json_object_set_new(m, "market", json_string(s->market_code[i]));
        json_object_set_new(m, "serving_version",
                            s->models[i] ? json_integer(s->models[i]->version)
                                         : json_null());
        json_object_set_new(m, "versions", w.arr);
        json_array_append_new(markets, m);
    }
    pthread_mutex_unlock(&s->admin_lock);
    if (st != TROVE_OK) {
        json_decref(root);
        json_decref(markets);
        a.status = 503;
        return send_error(s, conn, &a, start, "%s",
                          err.msg[0] ? err.msg : trove_strerror(st));
    }
    json_object_set_new(root, "markets", markets);
    return send_json(s, conn, &a, root, start);
}

static enum MHD_Result handle_model_change(trove_server *s,
                                           struct MHD_Connection *conn,
                                           req_ctx *ctx, const char *market,
                                           int activate)
{
    answer a = { 200, activate ? SERVE_EP_ACTIVATE : SERVE_EP_ROLLBACK, 0 };
    char msg[TROVE_ERROR_MSG_MAX];
    json_t *root = NULL;
    trove_error err;
    serve_model *sm = NULL;
    int version = 0, before = 0, st, mi = market_index(s, market);
    enum MHD_Result rc;
    trove_error_clear(&err);
    if (mi < 0) {
        a.status = 404;
        return send_error(s, conn, &a, ctx->start_ns, "unknown market '%s'", market);
    }
    a.market = (uint32_t)mi + 1;
    if (activate) {
        json_t *v;
        if (parse_body(ctx, &root, msg, sizeof msg) != 0) {
            a.status = 400;
            return send_error(s, conn, &a, ctx->start_ns, "%s", msg);
        }
        v = json_object_get(root, "version");
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > INT32_MAX) {
            a.status = 400;
            rc = send_error(s, conn, &a, ctx->start_ns, "version: a positive "
                            "integer is required");
            goto done;
        }
        version = (int)json_integer_value(v);
    }
    pthread_mutex_lock(&s->admin_lock);
    if (trove_store_model_active(s->store, s->market_id[mi], &before, NULL) !=
        TROVE_OK)
        before = 0;
    if (activate) {
        st = trove__serve_load_version(s, (size_t)mi, version, &sm, &err);
        if (st == TROVE_OK)
            st = trove_store_model_activate(s->store, s->market_id[mi], version,
                                            &err);
    } else {
        st = trove_store_model_rollback(s->store, s->market_id[mi], &version,
                                        &err);
        if (st == TROVE_ENOTFOUND) {
            st = TROVE_EEXIST;   /* answered 409: nothing to go back to */
        } else if (st == TROVE_OK) {
            st = trove__serve_load_version(s, (size_t)mi, version, &sm, &err);
            if (st != TROVE_OK && before > 0) {
                /* the file of the older version is unusable: keep serving
                 * (and registering) the one that was active */
                trove_store_model_activate(s->store, s->market_id[mi], before,
                                           NULL);
                st = TROVE_EEXIST;
            }
        }
    }
    if (st == TROVE_OK) {
        serve_model *old = s->models[mi];
        s->models[mi] = sm;
        sm = NULL;
        st = trove__serve_rebuild(s, &err);
        if (st != TROVE_OK) {
            /* keep the registry and the snapshot in step */
            sm = s->models[mi];
            s->models[mi] = old;
            if (before > 0)
                trove_store_model_activate(s->store, s->market_id[mi], before,
                                           NULL);
        } else {
            trove__serve_model_release(old);
        }
    }
    pthread_mutex_unlock(&s->admin_lock);
    trove__serve_model_release(sm);
    if (st != TROVE_OK) {
        a.status = st == TROVE_ENOTFOUND ? 404
                 : st == TROVE_EEXIST ? 409 : 503;
        if (st == TROVE_EEXIST && err.msg[0] == '\0')
            snprintf(err.msg, sizeof err.msg, "market %s: no earlier version "
                     "to roll back to", market);
        rc = send_error(s, conn, &a, ctx->start_ns, "%s", err.msg);
        goto done;
    }
    trove_log(TROVE_LOG_INFO, "serve: market %s now serves version %d (was %d)",
              market, version, before);
    rc = send_json(s, conn, &a,
                   json_pack("{s:s,s:i,s:i}", "market", market, "version",
                             version, "previous", before),
                   ctx->start_ns);
done:
    json_decref(root);
    return rc;
}

/* --------------------------------------------------- health, metrics */
static enum MHD_Result handle_health(trove_server *s, struct MHD_Connection *conn,
                                     uint64_t start)
{
    answer a = { 200, SERVE_EP_HEALTHZ, 0 };
    serve_snapshot *snap = trove__serve_snapshot_acquire(s);
    uint32_t with_model = 0;
    for (uint32_t m = 0; m < snap->n_markets; m++)
        with_model += snap->markets[m].model != NULL;
    json_t *root = json_pack("{s:s,s:i,s:i,s:i,s:I,s:I}", "status", "ok",
                             "markets", (int)snap->n_markets, "markets_with_model",
                             (int)with_model, "items", (int)snap->n_items,
                             "snapshot", (json_int_t)snap->generation,
                             "uptime_seconds",
                             (json_int_t)((int64_t)time(NULL) - s->started_ts));
    trove__serve_snapshot_release(snap);
    return send_json(s, conn, &a, root, start);
}

static enum MHD_Result handle_metrics(trove_server *s, struct MHD_Connection *conn,
                                      uint64_t start)
{
    answer a = { 200, SERVE_EP_METRICS, 0 };
    serve_snapshot *snap = trove__serve_snapshot_acquire(s);
    char *text = NULL;
    size_t len = 0;
    int st = trove__serve_metrics_render(
        &s->metrics, snap, (int64_t)time(NULL),
        atomic_load_explicit(&s->users.n_live, memory_order_relaxed), &text, &len);
    trove__serve_snapshot_release(snap);
    if (st != TROVE_OK) {
        a.status = 503;
        return send_error(s, conn, &a, start, "out of memory");
    }
    return queue(s, conn, &a, text, len, "text/plain; version=0.0.4", start);
}

/* ------------------------------------------------------------ routing */
static int has_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

/* "/v1/models/DE/activate" -> market "DE" and action; 0 on a match. */
static int split_models_path(const char *url, char *market, size_t size,
                             const char **action)
{
    const char *p = url + strlen("/v1/models/");
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || (size_t)(slash - p) >= size)
        return -1;
    memcpy(market, p, (size_t)(slash - p));
    market[slash - p] = '\0';
    *action = slash + 1;
    return 0;
}

static enum MHD_Result route(trove_server *s, struct MHD_Connection *conn,
                             const char *url, const char *method, req_ctx *ctx,
                             uint64_t start)
{
    answer a = { 404, SERVE_EP_OTHER, 0 };
    int is_get = strcmp(method, "GET") == 0;
    int admin = 0, endpoint = SERVE_EP_OTHER, allowed = 0;
    char market[64];
    const char *action = NULL;

    if (strcmp(url, "/v1/recommendations") == 0) {
        endpoint = SERVE_EP_RECS; allowed = is_get;
    } else if (strcmp(url, "/v1/events") == 0) {
        endpoint = SERVE_EP_EVENTS; allowed = strcmp(method, "POST") == 0;
    } else if (strncmp(url, "/v1/items/", 10) == 0) {
        int put = strcmp(method, "PUT") == 0;
        endpoint = put ? SERVE_EP_ITEM_PUT : SERVE_EP_ITEM_PATCH;
        allowed = put || strcmp(method, "PATCH") == 0;
        admin = 1;
    } else if (strncmp(url, "/v1/users/", 10) == 0) {
        endpoint = SERVE_EP_USER_PUT;
        allowed = strcmp(method, "PUT") == 0;
        admin = 1;
    } else if (strcmp(url, "/v1/models") == 0) {
        endpoint = SERVE_EP_MODELS; allowed = is_get;
        admin = !s->params.public_read;
    } else if (strncmp(url, "/v1/models/", 11) == 0 &&
               split_models_path(url, market, sizeof market, &action) == 0 &&
               (strcmp(action, "activate") == 0 ||
                strcmp(action, "rollback") == 0)) {
        endpoint = action[0] == 'a' ? SERVE_EP_ACTIVATE : SERVE_EP_ROLLBACK;
        allowed = strcmp(method, "POST") == 0;
        admin = 1;
    } else if (strcmp(url, "/healthz") == 0) {
        endpoint = SERVE_EP_HEALTHZ; allowed = is_get;
    } else if (strcmp(url, "/metrics") == 0) {
        endpoint = SERVE_EP_METRICS; allowed = is_get;
    } else {
        enum MHD_Result rc;
        if (route_extensions(s, conn, url, method, ctx, start, &rc))
            return rc;
        return send_error(s, conn, &a, start, "no such endpoint: %s", url);
    }
    a.endpoint = endpoint;
    if (!allowed) {
        a.status = 405;
        return send_error(s, conn, &a, start, "method %s not allowed on %s",
                          method, url);
    }
    if (admin) {
        const char *why;
        if (check_admin(s, conn, &a.status, &why) != 0)
            return send_error(s, conn, &a, start, "%s", why);
    }
    if (ctx != NULL && ctx->too_large) {
        a.status = 413;
        return send_error(s, conn, &a, start, "request body larger than %zu bytes",
                          s->params.max_body);
    }
    switch (endpoint) {
    case SERVE_EP_RECS:      return handle_recs(s, conn, start);
    case SERVE_EP_EVENTS:    return handle_events(s, conn, ctx);
    case SERVE_EP_ITEM_PUT:  return handle_item(s, conn, ctx, url + 10, 1);
    case SERVE_EP_ITEM_PATCH:return handle_item(s, conn, ctx, url + 10, 0);
    case SERVE_EP_USER_PUT:  return handle_user(s, conn, ctx, url + 10);
    case SERVE_EP_MODELS:    return handle_models(s, conn, start);
    case SERVE_EP_ACTIVATE:  return handle_model_change(s, conn, ctx, market, 1);
    case SERVE_EP_ROLLBACK:  return handle_model_change(s, conn, ctx, market, 0);
    case SERVE_EP_HEALTHZ:   return handle_health(s, conn, start);
    default:                 return handle_metrics(s, conn, start);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    trove_server *s = cls;
    req_ctx *ctx = *con_cls;
    (void)version;
    if (!has_body(method)) {
        /* Answered on the last call, once the request is read whole: a
         * response queued before that makes libmicrohttpd close the
         * connection after it (no keep-alive), which cost a TCP connect
         * and close per request. */
        if (ctx == NULL) {
            *con_cls = &bodiless_marker;
            return MHD_YES;
        }
        if (*upload_data_size != 0) {
            *upload_data_size = 0;   /* a body sent anyway is discarded */
            return MHD_YES;
        }
        if ((void *)ctx != (void *)&bodiless_marker)
            return MHD_YES;   /* answered already */
        *con_cls = &answered_marker;
        return route(s, conn, url, method, NULL, trove__serve_now_ns());
    }
    if (ctx == NULL) {
        ctx = trove_calloc(1, sizeof *ctx);
        if (ctx == NULL)
            return MHD_NO;
        ctx->start_ns = trove__serve_now_ns();
        *con_cls = ctx;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > s->params.max_body) {
            ctx->too_large = 1;
            ctx->answered = 1;
            return route(s, conn, url, method, ctx, ctx->start_ns);
        }
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ctx->too_large || ctx->len + n > s->params.max_body) {
            ctx->too_large = 1;
            return MHD_YES;
        }
        if (ctx->len + n > ctx->cap) {
            size_t cap = ctx->cap ? ctx->cap : 4096;
            while (cap < ctx->len + n)
                cap *= 2;
            char *b = trove_realloc(ctx->body, cap);
            if (b == NULL)
                return MHD_NO;
            ctx->body = b;
            ctx->cap = cap;
        }
        memcpy(ctx->body + ctx->len, upload_data, n);
        ctx->len += n;
        return MHD_YES;
    }
    if (ctx->answered)
        return MHD_YES;
    ctx->answered = 1;
    return route(s, conn, url, method, ctx, ctx->start_ns);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_ctx *ctx = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (ctx != NULL && (void *)ctx != (void *)&bodiless_marker &&
        (void *)ctx != (void *)&answered_marker) {
        trove_free(ctx->body);
        trove_free(ctx);
    }
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    /* mostly malformed requests, answered 400 by the library: not worth
     * a warning each */
    trove_log(TROVE_LOG_INFO, "serve: http: %s", msg);
}

/* --------------------------------------------------------- start/stop */
void trove_server_stop(trove_server *s)
{
    if (s == NULL)
        return;
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    for (size_t i = 0; i < sizeof extensions / sizeof *extensions; i++)
        if (extensions[i].stop != NULL)
            extensions[i].stop(s);
    trove__serve_snapshot_release(s->snap);
    for (size_t i = 0; i < SERVE_MAX_MARKETS; i++)
        trove__serve_model_release(s->models[i]);
    for (int i = 0; i < SERVE_SCRATCH_SLOTS; i++) {
        trove_free(s->scratch[i].scores);
        trove_free(s->scratch[i].rules);
    }
    for (size_t i = 0; i < SERVE_MAX_MARKETS; i++)
        trove_rule_set_free(s->rule_sets[i]);
    trove__serve_metrics_free(&s->metrics);
    trove__serve_popularity_free(&s->pop);
    trove__serve_caps_free(&s->caps);
    trove__serve_users_free(&s->users);
    trove_market_configs_free(s->configs, s->n_configs);
    trove_store_close(s->store);
    pthread_mutex_destroy(&s->admin_lock);
    pthread_mutex_destroy(&s->snap_lock);
    pthread_mutex_destroy(&s->monitor_lock);
    pthread_mutex_destroy(&s->dash_lock);
    if (s->token != NULL) {
        volatile char *t = s->token;
        for (size_t i = 0; i < s->token_len; i++)
            t[i] = 0;
    }
    trove_free(s->token);
    trove_free(s->store_uri);
    trove_free(s);
}

static void *jansson_malloc(size_t size)
{
    return trove_malloc(size ? size : 1);
}

int trove_server_start(const trove_serve_params *p, trove_server **out,
                       trove_error *err)
{
    trove_server *s = NULL;
    struct sockaddr_in addr;
    int rc;
    if (p == NULL || out == NULL || p->store_uri == NULL || p->threads == 0 ||
        p->threads > 256 || p->max_body == 0 || p->max_n == 0 ||
        p->max_n > 1000 || p->conn_timeout == 0 ||
        (p->item_cold_fallback != TROVE_COLD_NONE &&
         p->item_cold_fallback != TROVE_COLD_MEAN))
        return trove_error_set(err, TROVE_EINVAL, "serve: store_uri, threads "
                               "1..256, max_body > 0, max_n 1..1000, "
                               "conn_timeout > 0 and item_cold_fallback none "
                               "or mean are required");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(p->port);
    if (inet_pton(AF_INET, p->bind_address ? p->bind_address : "127.0.0.1",
                  &addr.sin_addr) != 1)
        return trove_error_set(err, TROVE_EINVAL, "serve: bind address '%s' is "
                               "not an IPv4 address", p->bind_address);
    json_set_alloc_funcs(jansson_malloc, trove_free);
    s = trove_calloc(1, sizeof *s);
    if (s == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "serve: out of memory");
    pthread_mutex_init(&s->admin_lock, NULL);
    pthread_mutex_init(&s->snap_lock, NULL);
    pthread_mutex_init(&s->monitor_lock, NULL);
    pthread_mutex_init(&s->dash_lock, NULL);
    trove__serve_caps_init(&s->caps);
    for (int i = 0; i < SERVE_SCRATCH_SLOTS; i++)
        atomic_flag_clear(&s->scratch[i].busy);
    s->params = *p;
    s->params.config_dir = NULL;
    s->params.store_uri = NULL;
    s->params.admin_token = NULL;
    s->store_uri = trove_strdup(p->store_uri);
    s->token = trove_strdup(p->admin_token ? p->admin_token : "");
    if (s->store_uri == NULL || s->token == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "serve: out of memory");
        goto fail;
    }
    if (trove__serve_dashboard_init(s) != TROVE_OK) {
        rc = trove_error_set(err, TROVE_ENOMEM, "serve: out of memory");
        goto fail;
    }
    s->token_len = strlen(s->token);
    s->started_ts = (int64_t)time(NULL);
    s->boot_id = trove_hash64(&s->started_ts, sizeof s->started_ts, trove__serve_now_ns());
    if (p->config_dir != NULL) {
        rc = trove_market_config_load_dir(p->config_dir, &s->configs,
                                          &s->n_configs, err);
        if (rc != TROVE_OK)
            goto fail;
    }
    rc = trove_store_open(p->store_uri, 0, &s->store, err);
    if (rc == TROVE_OK)
        rc = trove__serve_markets_load(s, err);
    if (rc == TROVE_OK)
        rc = trove__serve_rules_load(s, err);
    if (rc == TROVE_OK)
        rc = trove__serve_caps_load(s, err);
    if (rc == TROVE_OK)
        rc = trove__serve_popularity_load(s, err);
    if (rc == TROVE_OK)
        rc = trove__serve_users_load(s, err);
    if (rc == TROVE_OK)
        rc = trove__serve_rebuild(s, err);
    if (rc == TROVE_OK && trove__serve_metrics_init(&s->metrics, s->snap) != TROVE_OK)
        rc = trove_error_set(err, TROVE_ENOMEM, "serve: out of memory");
    s->params.rules_dir = NULL;   /* read at start only */
    if (rc != TROVE_OK)
        goto fail;
    s->daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG,
        p->port, NULL, NULL,
        on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)p->threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)p->conn_timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    if (s->daemon == NULL) {
        rc = trove_error_set(err, TROVE_EIO, "serve: cannot listen on %s:%u",
                             p->bind_address ? p->bind_address : "127.0.0.1",
                             (unsigned)p->port);
        goto fail;
    }
    {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_LISTEN_FD);
        struct sockaddr_in bound;
        socklen_t blen = sizeof bound;
        if (di != NULL &&
            getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
            s->port = ntohs(bound.sin_port);
        else
            s->port = p->port;
    }
    if (p->warm_dashboard && trove__serve_dashboard_start(s) != TROVE_OK)
        trove_log(TROVE_LOG_WARN, "serve: dashboard warm-up not started (out "
                  "of memory or threads); the first A/B page counts itself");
    trove_log(TROVE_LOG_INFO, "serve: listening on %s:%u (%u threads, %zu "
              "markets, %u items)", p->bind_address ? p->bind_address : "127.0.0.1",
              (unsigned)s->port, p->threads, s->n_markets, s->snap->n_items);
    *out = s;
    return TROVE_OK;
fail:
    trove_server_stop(s);
    return rc;
}

uint16_t trove_server_port(const trove_server *s)
{
    return s->port;
}
