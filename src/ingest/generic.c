/*
 * generic.c - trove_ingest_file: events, items or users from a CSV, TSV or
 * JSON Lines file through a column mapping (see trove_ingest_mapping).
 *
 * The mapping is resolved once per file (header names or 1-based numbers
 * for CSV/TSV, keys for JSONL) into column slots; each row is then fully
 * validated before anything is handed to the session, so a rejected row
 * writes nothing.
 */
#include "ingest/ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    M_USER, M_ITEM, M_TS, M_VALUE, M_MARKET, M_TYPE, M_EVENT_ID, M_TXN,
    M_TITLE, M_ACTIVE, M_PINNED, M_BLOCKED, M_START, M_END, M_N
};

static const char *const field_names[M_N] = {
    "user", "item", "ts", "value", "market", "type", "event_id", "txn",
    "title", "active", "pinned", "blocked", "start", "end"
};

#define K_EV (1u << TROVE_INGEST_EVENTS)
#define K_IT (1u << TROVE_INGEST_ITEMS)
#define K_US (1u << TROVE_INGEST_USERS)
static const unsigned field_kinds[M_N] = {
    K_EV | K_US, K_EV | K_IT, K_EV, K_EV, K_EV | K_US, K_EV, K_EV, K_EV,
    K_IT, K_IT, K_IT, K_IT, K_IT, K_IT
};

#define MAX_FEATS 64
#define MAX_KEYS  (MAX_FEATS + M_N)

enum { F_CAT, F_NUM, F_MULTI };

typedef struct gcol {
    const char *spec;   /* header name, number or key as given */
    int idx;            /* field index in a row, -1 = not mapped */
    const char *name;   /* column name used in feature names */
} gcol;

typedef struct gfeat {
    gcol col;
    int kind;           /* F_CAT, F_NUM, F_MULTI */
    char sep;
    char colname[16];   /* "colN" when the file has no header */
} gfeat;

typedef struct gen {
    trove_ingest *in;
    const trove_ingest_mapping *map;
    const char *path;
    int kind, format, fixed_type;
    char *specs;                /* private copy of the mapping strings */
    gcol f[M_N];
    gfeat feats[MAX_FEATS];
    size_t n_feats;
    size_t min_cols;            /* rows need at least this many fields */
    char *hdr_text;             /* private copy of the header names */
    trove__field hdr[TROVE__MAX_FIELDS];
    /* JSONL: distinct keys; gcol.idx indexes keys[] */
    const char *keys[MAX_KEYS];
    size_t n_keys;
    trove__field vals[MAX_KEYS];
    trove__jpair pairs[TROVE__MAX_FIELDS];
    double nums[MAX_FEATS];
} gen;

static int is_number(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int format_of(const char *path)
{
    size_t n = strlen(path);
    static const struct { const char *ext; int fmt; } exts[] = {
        {".csv", TROVE_INGEST_CSV}, {".tsv", TROVE_INGEST_TSV}, {".tab", TROVE_INGEST_TSV},
        {".jsonl", TROVE_INGEST_JSONL}, {".ndjson", TROVE_INGEST_JSONL},
        {".json", TROVE_INGEST_JSONL}
    };
    if (n > 3 && strcmp(path + n - 3, ".gz") == 0)
        n -= 3;
    for (size_t k = 0; k < sizeof exts / sizeof exts[0]; k++) {
        size_t e = strlen(exts[k].ext);
        if (n > e && strncasecmp(path + n - e, exts[k].ext, e) == 0)
            return exts[k].fmt;
    }
    return TROVE_INGEST_AUTO;
}

/* Parse the mapping strings into g (copied into g->specs). */
static int parse_mapping(gen *g, trove_error *err)
{
    const trove_ingest_mapping *m = g->map;
    const char *lists[4] = {m->map, m->features, m->numeric, m->multi};
    size_t total = 0;
    char *p;

    for (int k = 0; k < M_N; k++) {
        g->f[k].idx = -1;
        g->f[k].spec = NULL;
    }
    for (int k = 0; k < 4; k++)
        total += (lists[k] ? strlen(lists[k]) : 0) + 1;
    g->specs = trove_malloc(total);
    if (g->specs == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    p = g->specs;
    for (int k = 0; k < 4; k++) {
        size_t len = lists[k] ? strlen(lists[k]) : 0;
        char *s = p, *tok, *save = NULL;
        memcpy(s, lists[k] ? lists[k] : "", len + 1);
        p += len + 1;
        for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (k == 0) {
                char *eq = strchr(tok, '=');
                int f;
                if (eq == NULL || eq == tok || eq[1] == '\0')
                    return trove_error_set(err, TROVE_EINVAL,
                                           "mapping '%s': expected field=column", tok);
                *eq = '\0';
                for (f = 0; f < M_N; f++)
                    if (strcmp(tok, field_names[f]) == 0)
                        break;
                if (f == M_N)
                    return trove_error_set(err, TROVE_EINVAL,
                                           "mapping: unknown field '%s' (user, item, ts, "
                                           "value, market, type, event_id, txn, title, active, "
                                           "pinned, blocked, start, end)", tok);
                if (!(field_kinds[f] & (1u << g->kind)))
                    return trove_error_set(err, TROVE_EINVAL,
                                           "mapping: field '%s' does not apply to %s files",
                                           tok, g->kind == TROVE_INGEST_EVENTS ? "events"
                                           : g->kind == TROVE_INGEST_ITEMS ? "items" : "users");
                g->f[f].spec = eq + 1;
                g->f[f].name = eq + 1;
            } else {
                gfeat *ft;
                if (g->kind == TROVE_INGEST_EVENTS)
                    return trove_error_set(err, TROVE_EINVAL,
                                           "features apply to items and users files, not "
                                           "events");
                if (g->n_feats == MAX_FEATS)
                    return trove_error_set(err, TROVE_EINVAL, "more than %d feature columns",
                                           MAX_FEATS);
                ft = &g->feats[g->n_feats++];
                memset(ft, 0, sizeof *ft);
                ft->kind = k == 1 ? F_CAT : k == 2 ? F_NUM : F_MULTI;
                ft->col.spec = tok;
                ft->col.name = tok;
                ft->col.idx = -1;
                if (k == 3) {
                    char *colon = strrchr(tok, ':');
                    if (colon == NULL || colon == tok || strlen(colon + 1) != 1)
                        return trove_error_set(err, TROVE_EINVAL,
                                               "multi '%s': expected column:separator "
                                               "(one character)", tok);
                    *colon = '\0';
                    ft->sep = colon[1];
                }
            }
        }
    }
    {
        int id = g->kind == TROVE_INGEST_ITEMS ? M_ITEM : M_USER;
        if (g->f[id].spec == NULL)
            return trove_error_set(err, TROVE_EINVAL, "mapping: '%s' must be mapped",
                                   field_names[id]);
        if (g->kind == TROVE_INGEST_EVENTS && g->f[M_ITEM].spec == NULL)
            return trove_error_set(err, TROVE_EINVAL, "mapping: 'item' must be mapped");
    }
    if (g->kind == TROVE_INGEST_EVENTS && g->f[M_TYPE].spec == NULL) {
        if (m->type == NULL)
            return trove_error_set(err, TROVE_EINVAL, "events need a type: map type=COLUMN "
                                   "or give a fixed type (e.g. purchase)");
        if (trove__event_type_parse(m->type, strlen(m->type), &g->fixed_type) != 0)
            return trove_error_set(err, TROVE_EINVAL, "unknown event type '%s' (impression, "
                                   "click, redemption, purchase, rating, return)", m->type);
    }
    return TROVE_OK;
}

/* Resolve one column against the header (names, or NULL without one). */
static int resolve(gen *g, gcol *c, trove__field *hdr, size_t n, trove_error *err)
{
    if (c->spec == NULL)
        return TROVE_OK;
    if (g->format == TROVE_INGEST_JSONL) {
        size_t k;
        if (is_number(c->spec))
            return trove_error_set(err, TROVE_EINVAL,
                                   "mapping: JSON Lines columns are keys, not numbers ('%s')",
                                   c->spec);
        for (k = 0; k < g->n_keys; k++)
            if (strcmp(g->keys[k], c->spec) == 0)
                break;
        if (k == g->n_keys)
            g->keys[g->n_keys++] = c->spec;
        c->idx = (int)k;
        return TROVE_OK;
    }
    if (is_number(c->spec)) {
        long v = strtol(c->spec, NULL, 10);
        if (v < 1 || v > TROVE__MAX_FIELDS || (hdr != NULL && (size_t)v > n))
            return trove_error_set(err, TROVE_EFORMAT, "%s: column %s does not exist", g->path,
                                   c->spec);
        c->idx = (int)v - 1;
        if (hdr != NULL)
            c->name = hdr[c->idx].s;
    } else {
        size_t k;
        if (hdr == NULL)
            return trove_error_set(err, TROVE_EINVAL, "mapping: column '%s' is a name but "
                                   "the file has no header: use column numbers", c->spec);
        for (k = 0; k < n; k++)
            if (strcmp(hdr[k].s, c->spec) == 0)
                break;
        if (k == n)
            return trove_error_set(err, TROVE_EFORMAT, "%s:1: no column '%s' in the header",
                                   g->path, c->spec);
        c->idx = (int)k;
    }
    if ((size_t)c->idx + 1 > g->min_cols)
        g->min_cols = (size_t)c->idx + 1;
    return TROVE_OK;
}

static int resolve_all(gen *g, trove__field *hdr, size_t n, trove_error *err)
{
    int rc = TROVE_OK;
    for (int k = 0; k < M_N && rc == TROVE_OK; k++)
        rc = resolve(g, &g->f[k], hdr, n, err);
    for (size_t k = 0; k < g->n_feats && rc == TROVE_OK; k++) {
        gfeat *ft = &g->feats[k];
        rc = resolve(g, &ft->col, hdr, n, err);
        if (rc == TROVE_OK && hdr == NULL && g->format != TROVE_INGEST_JSONL) {
            snprintf(ft->colname, sizeof ft->colname, "col%d", ft->col.idx + 1);
            ft->col.name = ft->colname;
        }
    }
    return rc;
}

/* Resolve against a private copy of the header: column names are used in
 * feature names and messages after the header line is gone. */
static int header_fn(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    gen *g = ctx;
    size_t total = 0;
    char *p;
    for (size_t k = 0; k < n; k++) {
        f[k].s = trove__trim(f[k].s, &f[k].len);
        total += f[k].len + 1;
    }
    g->hdr_text = trove_malloc(total + 1);
    if (g->hdr_text == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    p = g->hdr_text;
    for (size_t k = 0; k < n; k++) {
        memcpy(p, f[k].s, f[k].len + 1);
        g->hdr[k].s = p;
        g->hdr[k].len = f[k].len;
        p += f[k].len + 1;
    }
    return resolve_all(g, g->hdr, n, err);
}

static const trove__field *col(const gen *g, const trove__field *f, int m)
{
    return g->f[m].idx >= 0 ? &f[g->f[m].idx] : NULL;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "y", "t", NULL};
    static const char *const no[] = {"0", "false", "no", "n", "f", NULL};
    for (int k = 0; yes[k]; k++)
        if (strcasecmp(s, yes[k]) == 0) {
            *out = 1;
            return 0;
        }
    for (int k = 0; no[k]; k++)
        if (strcasecmp(s, no[k]) == 0) {
            *out = 0;
            return 0;
        }
    return -1;
}

#define REJECT(reason, ...) \
    trove__ingest_reject(in, market, reason, err, __VA_ARGS__)

/* Features of a user or item row: validate (numbers) before writing
 * anything. *rejected = 1 if the row was rejected. */
static int check_features(gen *g, trove__field *f, uint32_t market, int *rejected,
                          trove_error *err)
{
    trove_ingest *in = g->in;
    *rejected = 0;
    for (size_t k = 0; k < g->n_feats; k++) {
        gfeat *ft = &g->feats[k];
        trove__field *v = &f[ft->col.idx];
        if (ft->kind == F_NUM && v->len > 0 &&
            trove__parse_double(v->s, v->len, &g->nums[k]) != 0) {
            *rejected = 1;
            return REJECT("non-numeric value", "%s '%s' is not a number", ft->col.name, v->s);
        }
    }
    return TROVE_OK;
}

static int write_features(gen *g, trove__field *f, int target, uint32_t index,
                          trove_error *err)
{
    trove_ingest *in = g->in;
    int rc = TROVE_OK;
    for (size_t k = 0; k < g->n_feats && rc == TROVE_OK; k++) {
        gfeat *ft = &g->feats[k];
        trove__field *v = &f[ft->col.idx];
        size_t len = v->len;
        char *s = trove__trim(v->s, &len);
        if (len == 0)
            continue;
        if (ft->kind == F_CAT) {
            rc = trove__ingest_feature_kv(in, target, index, ft->col.name, s, len, 0, err);
        } else if (ft->kind == F_NUM) {
            rc = trove__ingest_feature(in, target, index, ft->col.name, strlen(ft->col.name),
                                       TROVE_FEATURE_NUMERIC, g->nums[k], err);
        } else {
            char *p = s, *end = s + len;
            while (p <= end && rc == TROVE_OK) {
                char *q = memchr(p, ft->sep, (size_t)(end - p));
                size_t plen = (size_t)((q ? q : end) - p);
                char *part = p;
                part = trove__trim(part, &plen);
                if (plen > 0)
                    rc = trove__ingest_feature_kv(in, target, index, ft->col.name, part, plen,
                                                  0, err);
                if (q == NULL)
                    break;
                p = q + 1;
            }
        }
    }
    return rc;
}

static int market_of(gen *g, trove__field *f, uint32_t *market, trove_error *err)
{
    const trove__field *m = col(g, f, M_MARKET);
    *market = TROVE_INGEST_NO_MARKET;
    if (m == NULL || m->len == 0)
        return TROVE_OK;
    return trove__ingest_market(g->in, m->s, m->len, market, err);
}

static int event_row(gen *g, trove__field *f, trove_error *err)
{
    trove_ingest *in = g->in;
    const trove__field *u = col(g, f, M_USER), *it = col(g, f, M_ITEM);
    const trove__field *ty = col(g, f, M_TYPE), *va = col(g, f, M_VALUE);
    const trove__field *ts = col(g, f, M_TS), *eid = col(g, f, M_EVENT_ID);
    const trove__field *txn = col(g, f, M_TXN);
    uint32_t market;
    trove_ingest_event ev;
    int rc;

    rc = market_of(g, f, &market, err);
    if (rc != TROVE_OK)
        return rc;
    memset(&ev, 0, sizeof ev);
    ev.type = g->fixed_type;
    ev.value = 1.0;
    if (u->len == 0)
        return REJECT("missing id", "missing user (column %s)", g->f[M_USER].name);
    if (it->len == 0)
        return REJECT("missing id", "missing item (column %s)", g->f[M_ITEM].name);
    if (ty && trove__event_type_parse(ty->s, ty->len, &ev.type) != 0)
        return REJECT("unknown event type", "unknown event type '%s'", ty->s);
    /* an empty value takes the default 1; an empty timestamp is an error */
    if (va && va->len > 0 && trove__parse_double(va->s, va->len, &ev.value) != 0)
        return REJECT("non-numeric value", "%s '%s' is not a number", g->f[M_VALUE].name,
                      va->s);
    if (ts && trove__parse_ts(ts->s, ts->len, g->map->ts_format, &ev.ts) != 0)
        return REJECT("bad timestamp", "%s '%s' is not a timestamp (%s)", g->f[M_TS].name,
                      ts->s, g->map->ts_format ? g->map->ts_format : "auto");
    rc = trove__ingest_user(in, u->s, u->len, market, &ev.user, NULL, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_item(in, it->s, it->len, NULL, &ev.item, NULL, err);
    if (rc != TROVE_OK)
        return rc;
    ev.market = market;
    ev.user_ext = u->s;
    ev.item_ext = it->s;
    ev.market_code = market == TROVE_INGEST_NO_MARKET ? NULL
                     : trove_idmap_name(in->markets, market, NULL);
    if (eid && eid->len > 0) {
        ev.id = trove_hash64(eid->s, eid->len, 0);
        if (ev.id == 0)
            ev.id = 1;
    } else {
        size_t mlen = ev.market_code ? strlen(ev.market_code) : 0;
        ev.id = trove__ingest_event_id(in, u->s, u->len, it->s, it->len, ev.market_code, mlen,
                                       txn ? txn->s : NULL, txn ? txn->len : 0, ev.type,
                                       ev.ts, ev.value);
    }
    return trove__ingest_event(in, &ev, err);
}

static int item_row(gen *g, trove__field *f, trove_error *err)
{
    trove_ingest *in = g->in;
    const trove__field *id = col(g, f, M_ITEM), *ti = col(g, f, M_TITLE);
    static const int flag_cols[5] = {M_ACTIVE, M_PINNED, M_BLOCKED, M_START, M_END};
    static const unsigned flag_bits[5] = {TROVE_ITEM_ACTIVE, TROVE_ITEM_PINNED,
                                          TROVE_ITEM_BLOCKED, TROVE_ITEM_START_TS,
                                          TROVE_ITEM_END_TS};
    uint32_t market = TROVE_INGEST_NO_MARKET, index;
    trove_item flags;
    unsigned mask = 0;
    char *title = NULL;
    int is_new, rejected, rc;

    memset(&flags, 0, sizeof flags);
    if (id->len == 0)
        return REJECT("missing id", "missing item (column %s)", g->f[M_ITEM].name);
    for (int k = 0; k < 5; k++) {
        const trove__field *v = col(g, f, flag_cols[k]);
        int b;
        int64_t t;
        if (v == NULL || v->len == 0)
            continue;
        if (k < 3) {
            if (parse_bool(v->s, &b) != 0)
                return REJECT("bad value", "%s '%s' is not a flag (1/0, true/false)",
                              g->f[flag_cols[k]].name, v->s);
            if (k == 0)
                flags.active = b;
            else if (k == 1)
                flags.pinned = b;
            else
                flags.blocked = b;
        } else {
            if (trove__parse_ts(v->s, v->len, g->map->ts_format, &t) != 0)
                return REJECT("bad timestamp", "%s '%s' is not a timestamp",
                              g->f[flag_cols[k]].name, v->s);
            if (k == 3)
                flags.start_ts = t;
            else
                flags.end_ts = t;
        }
        mask |= flag_bits[k];
    }
    rc = check_features(g, f, market, &rejected, err);
    if (rc != TROVE_OK || rejected)
        return rc;
    if (ti && ti->len > 0) {
        size_t tlen = ti->len;
        title = trove__trim(ti->s, &tlen);
    }
    rc = trove__ingest_item(in, id->s, id->len, title, &index, &is_new, err);
    if (rc == TROVE_OK && !is_new && title)
        rc = trove__ingest_item_title(in, index, title, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_item_flags(in, index, &flags, mask, err);
    if (rc == TROVE_OK)
        rc = write_features(g, f, TROVE_FEATURE_ITEM, index, err);
    if (rc == TROVE_OK)
        trove__ingest_accept(in);
    return rc;
}

static int user_row(gen *g, trove__field *f, trove_error *err)
{
    trove_ingest *in = g->in;
    const trove__field *id = col(g, f, M_USER);
    uint32_t market, index;
    int rejected, rc;

    rc = market_of(g, f, &market, err);
    if (rc != TROVE_OK)
        return rc;
    if (id->len == 0)
        return REJECT("missing id", "missing user (column %s)", g->f[M_USER].name);
    rc = check_features(g, f, market, &rejected, err);
    if (rc != TROVE_OK || rejected)
        return rc;
    rc = trove__ingest_user(in, id->s, id->len, market, &index, NULL, err);
    if (rc == TROVE_OK)
        rc = write_features(g, f, TROVE_FEATURE_USER, index, err);
    if (rc == TROVE_OK)
        trove__ingest_accept(in);
    return rc;
}

static int dispatch(gen *g, trove__field *f, trove_error *err)
{
    if (g->kind == TROVE_INGEST_EVENTS)
        return event_row(g, f, err);
    if (g->kind == TROVE_INGEST_ITEMS)
        return item_row(g, f, err);
    return user_row(g, f, err);
}

static int delimited_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    gen *g = ctx;
    if (n < g->min_cols)
        return trove__ingest_reject(g->in, TROVE_INGEST_NO_MARKET, "wrong column count", err,
                                    "expected at least %zu columns, found %zu", g->min_cols, n);
    return dispatch(g, f, err);
}

static int jsonl_file(gen *g, trove_error *err)
{
    trove_ingest *in = g->in;
    trove__reader *rd = NULL;
    char *line, *copy;
    size_t len, n;
    uint64_t rows = 0;
    const char *why;
    int rc, got;

    rc = resolve_all(g, NULL, 0, err);
    if (rc != TROVE_OK)
        return rc;
    rc = trove__ingest_open(in, g->path, &rd, err);
    if (rc != TROVE_OK)
        return rc;
    while ((got = trove__reader_next(rd, &line, &len, err)) > 0) {
        size_t k;
        if (len == 0)
            continue;
        rows++;
        trove__ingest_row(in, g->path, trove__reader_lineno(rd), line, len);
        copy = trove__ingest_line_copy(in);
        if (copy == NULL) {
            rc = trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
            goto done;
        }
        why = NULL;
        if (!trove__utf8_valid(line, len)) {
            rc = trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "invalid UTF-8", err,
                                      "invalid UTF-8");
        } else if (trove__json_object(copy, len, g->pairs, TROVE__MAX_FIELDS, &n, &why) != 0) {
            rc = trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "malformed row", err,
                                      "malformed JSON: %s", why);
        } else {
            if (n > TROVE__MAX_FIELDS)
                n = TROVE__MAX_FIELDS;
            for (k = 0; k < g->n_keys; k++) {
                g->vals[k].s = (char *)"";
                g->vals[k].len = 0;
                for (size_t j = 0; j < n; j++)
                    if (!g->pairs[j].is_null && strcmp(g->pairs[j].key, g->keys[k]) == 0) {
                        g->vals[k].s = g->pairs[j].val;
                        g->vals[k].len = g->pairs[j].len;
                    }
            }
            rc = dispatch(g, g->vals, err);
        }
        if (rc != TROVE_OK)
            goto done;
    }
    rc = got < 0 ? got : trove__ingest_need_rows(g->path, rows, err);
done:
    trove__reader_close(rd);
    return rc;
}

int trove_ingest_file(trove_ingest *in, const char *path, const trove_ingest_mapping *map,
                      trove_error *err)
{
    gen *g;
    int rc;

    if (in->finished)
        return trove_error_set(err, TROVE_EINVAL, "ingest: session already finished");
    if (map->kind < TROVE_INGEST_EVENTS || map->kind > TROVE_INGEST_USERS)
        return trove_error_set(err, TROVE_EINVAL, "ingest: unknown kind %d", map->kind);
    g = trove_calloc(1, sizeof *g);
    if (g == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    g->in = in;
    g->map = map;
    g->path = path;
    g->kind = map->kind;
    g->format = map->format != TROVE_INGEST_AUTO ? map->format : format_of(path);
    if (g->format == TROVE_INGEST_AUTO) {
        rc = trove_error_set(err, TROVE_EINVAL, "%s: cannot tell the format from the name "
                             "(.csv, .tsv, .jsonl): give it", path);
        goto done;
    }
    rc = parse_mapping(g, err);
    if (rc != TROVE_OK)
        goto done;
    if (g->format == TROVE_INGEST_JSONL) {
        rc = jsonl_file(g, err);
    } else {
        int header = map->header != 0;
        if (!header) {
            rc = resolve_all(g, NULL, 0, err);
            if (rc != TROVE_OK)
                goto done;
        }
        rc = trove__ingest_read_rows(in, path, g->format == TROVE_INGEST_CSV ? ',' : '\t',
                                     g->format == TROVE_INGEST_CSV, header, 0, 1,
                                     header ? header_fn : NULL, delimited_row, g, err);
    }
done:
    trove_free(g->specs);
    trove_free(g->hdr_text);
    trove_free(g);
    return rc;
}
