/*
 * dashboard_items.c - the dashboard's offers table: GET /v1/items (search,
 * flag filter, paging over an in-memory copy of the catalog) and POST
 * /v1/items (CSV upload with a dry run and a per-line report of rejected
 * rows).
 *
 * The item cache (dashboard_int.h) copies every item's id, title, flags and
 * features once per catalog generation, so a search over 10k offers is a
 * scan of memory, not of the store. It is rebuilt by the first request that
 * finds the catalog changed (every item write through the server rebuilds
 * the snapshot and bumps the generation).
 *
 * The upload reads CSV (RFC 4180, one record per line) with the ingest
 * module's field splitter and its number and date parsers, validates every
 * row, and writes the good ones in one store transaction followed by one
 * snapshot rebuild - the same store calls and rebuild as PUT /v1/items/{id}.
 * A bad row never stops the others; it is reported with its line number,
 * the reason and the raw text. Invariant: a dry run never takes the store's
 * write lock and writes nothing.
 */
#include "dashboard_int.h"
#include "ingest/fields.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ITEMS_LIMIT_MAX      500
#define ITEMS_LIMIT_DEFAULT  50
#define UPLOAD_PREVIEW       20     /* accepted rows shown in the answer */
#define UPLOAD_REJECTS_MAX   1000   /* rejected rows listed (all are counted) */
#define UPLOAD_RAW_MAX       512    /* bytes of a rejected line echoed back */
#define UPLOAD_ID_MAX        256    /* as PUT /v1/items/{id} */
#define UPLOAD_NAME_MAX      255    /* feature name */
#define UPLOAD_RETRIES       16     /* rows the store refuses, at most */

/* ------------------------------------------------------- item cache */
void trove__serve_dashboard_items_release(dash_items *c)
{
    if (c == NULL ||
        atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    trove_free(c->items);
    trove_free(c->text);
    trove_idmap_free(c->ids);
    trove_idmap_free(c->names);
    trove_free(c->feat_name);
    trove_free(c->feat_value);
    trove_free(c);
}

static int text_add(dash_items *c, const char *str, size_t *off)
{
    size_t len = strlen(str);
    if (c->text_len + len + 1 > c->text_cap) {
        size_t cap = c->text_cap ? c->text_cap : 65536;
        while (cap < c->text_len + len + 1)
            cap *= 2;
        char *t = trove_realloc(c->text, cap);
        if (t == NULL)
            return TROVE_ENOMEM;
        c->text = t;
        c->text_cap = cap;
    }
    memcpy(c->text + c->text_len, str, len + 1);
    *off = c->text_len;
    c->text_len += len + 1;
    return TROVE_OK;
}

typedef struct items_build {
    dash_items *c;
    uint32_t    cap;
    uint32_t    last;     /* item of the previous feature row */
} items_build;

static int collect_item(void *ud, const trove_item *it)
{
    items_build *b = ud;
    dash_items *c = b->c;
    uint32_t idx;
    int rc;
    if (c->n == b->cap) {
        uint32_t cap = b->cap ? 2 * b->cap : 1024;
        dash_item *a = trove_realloc(c->items, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        c->items = a;
        b->cap = cap;
    }
    dash_item *d = &c->items[c->n];
    memset(d, 0, sizeof *d);
    if ((rc = text_add(c, it->ext_id, &d->ext_id)) != TROVE_OK ||
        (rc = text_add(c, it->title ? it->title : "", &d->title)) != TROVE_OK ||
        (rc = trove_idmap_intern(c->ids, it->ext_id, strlen(it->ext_id), &idx,
                                 NULL)) != TROVE_OK)
        return rc;
    d->store_id = it->id;
    d->active = it->active;
    d->pinned = it->pinned;
    d->blocked = it->blocked;
    d->start_ts = it->start_ts;
    d->end_ts = it->end_ts;
    d->created_ts = it->created_ts;
    c->n++;
    return 0;
}

/* Features arrive ordered by item id, like the items: each item's are one
 * contiguous run. */
static int collect_feature(void *ud, const trove_feature_value *fv)
{
    items_build *b = ud;
    dash_items *c = b->c;
    uint32_t lo = 0, hi = c->n, nm;
    int rc;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->items[mid].store_id < fv->entity_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == c->n || c->items[lo].store_id != fv->entity_id)
        return 0;
    dash_item *d = &c->items[lo];
    if (d->n_feat > 0 && b->last != lo)
        return 0;   /* out of order: cannot happen with the store's order */
    if (c->n_feats == c->feat_cap) {
        size_t cap = c->feat_cap ? 2 * c->feat_cap : 4096;
        uint32_t *a = trove_realloc(c->feat_name, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        c->feat_name = a;
        double *v = trove_realloc(c->feat_value, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        c->feat_value = v;
        c->feat_cap = cap;
    }
    if ((rc = trove_idmap_intern(c->names, fv->name, strlen(fv->name), &nm,
                                 NULL)) != TROVE_OK)
        return rc;
    if (d->n_feat == 0)
        d->feat_off = (uint32_t)c->n_feats;
    d->n_feat++;
    b->last = lo;
    c->feat_name[c->n_feats] = nm;
    c->feat_value[c->n_feats] = fv->value;
    c->n_feats++;
    return 0;
}

/* Read the catalog from the entered store st as of generation gen (or
 * newer). */
static dash_items *items_build_new(trove_store *st, uint64_t gen,
                                   trove_error *err)
{
    items_build b = { 0 };
    int rc = TROVE_ENOMEM;
    dash_items *c = trove_calloc(1, sizeof *c);
    if (c == NULL)
        goto fail;
    atomic_init(&c->refs, 1);
    c->generation = gen;
    c->ids = trove_idmap_new();
    c->names = trove_idmap_new();
    if (c->ids == NULL || c->names == NULL)
        goto fail;
    b.c = c;
    rc = trove_store_items_foreach(st, collect_item, &b, err);
    if (rc == TROVE_OK)
        rc = trove_store_features_foreach(st, TROVE_FEATURE_ITEM,
                                          collect_feature, &b, err);
    if (rc != TROVE_OK)
        goto fail;
    return c;
fail:
    if (rc == TROVE_ENOMEM || rc == TROVE_ERANGE)
        trove_error_set(err, rc, "items: out of memory");
    trove__serve_dashboard_items_release(c);
    return NULL;
}

dash_items *trove__serve_dashboard_items(trove_server *s, trove_error *err)
{
    serve_snapshot *snap = trove__serve_snapshot_acquire(s);
    uint64_t gen = snap->generation;
    trove__serve_snapshot_release(snap);
    dash_items *c = trove__serve_dashboard_slot_items(s);
    dash_store ds;
    if (c != NULL && c->generation >= gen)
        return c;
    trove__serve_dashboard_items_release(c);
    /* The store holds at least what generation gen published (a write
     * commits before its snapshot is published); reading it now may see
     * later writes too, which only makes the copy newer than its tag. */
    trove__serve_dashboard_store_enter(s, &ds);
    c = trove__serve_dashboard_slot_items(s);   /* built meanwhile? */
    if (c == NULL || c->generation < gen) {
        trove__serve_dashboard_items_release(c);
        c = items_build_new(ds.st, gen, err);
    }
    trove__serve_dashboard_store_leave(&ds);
    if (c != NULL)
        trove__serve_dashboard_slot_set_items(s, c);
    return c;
}

json_t *trove__serve_dashboard_item_json(const dash_items *c,
                                         const dash_item *it)
{
    json_t *f = json_object();
    if (f == NULL)
        return NULL;
    for (uint32_t k = 0; k < it->n_feat; k++) {
        const char *name = trove_idmap_name(c->names,
                                            c->feat_name[it->feat_off + k], NULL);
        if (json_object_set_new(f, name, trove__serve_dashboard_num(
                                    c->feat_value[it->feat_off + k])) != 0) {
            json_decref(f);
            return NULL;
        }
    }
    return json_pack("{s:s,s:s,s:b,s:b,s:b,s:o,s:o,s:I,s:o}",
                     "id", dash_item_id(c, it), "title", dash_item_title(c, it),
                     "active", it->active, "pinned", it->pinned,
                     "blocked", it->blocked,
                     "start_ts", trove__serve_dashboard_ts(it->start_ts),
                     "end_ts", trove__serve_dashboard_ts(it->end_ts),
                     "created_ts", (json_int_t)it->created_ts, "features", f);
}

/* ------------------------------------------------------ GET /v1/items */
enum { FLAG_ANY = 0, FLAG_ACTIVE, FLAG_PINNED, FLAG_BLOCKED, FLAG_INACTIVE };

/* A whole decimal integer in [lo, hi] from a query argument. */
static int query_int(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x;
    if (v == NULL || v[0] == '\0' || isspace((unsigned char)v[0]))
        return -1;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int flag_match(const dash_item *it, int flag)
{
    switch (flag) {
    case FLAG_ACTIVE:   return it->active;
    case FLAG_PINNED:   return it->pinned;
    case FLAG_BLOCKED:  return it->blocked;
    case FLAG_INACTIVE: return !it->active;
    default:            return 1;
    }
}

/* ?sort=KEY or -KEY: the orders of GET /v1/items. Ties keep store id
 * order (which is also the order without sort). */
enum { SORT_STORE = 0, SORT_ID, SORT_TITLE, SORT_CREATED, SORT_START, SORT_END,
       SORT_ACTIVE, SORT_PINNED, SORT_BLOCKED };
static const char *const k_sort_names[] = { "", "id", "title", "created", "start", "end",
                                            "active", "pinned", "blocked" };

/* One matching item in a sort: its key, and its position in store order. */
typedef struct sort_rec {
    const char *str;     /* id or title; NULL for numeric keys */
    int64_t     num;
    uint32_t    pos;
    int         desc;
} sort_rec;

static int cmp_sort_rec(const void *a, const void *b)
{
    const sort_rec *x = a, *y = b;
    int c;
    if (x->str != NULL)
        c = strcasecmp(x->str, y->str);
    else
        c = (x->num > y->num) - (x->num < y->num);
    if (c == 0)
        c = strcmp(x->str ? x->str : "", y->str ? y->str : "");
    if (x->desc)
        c = -c;
    return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int64_t sort_num(const dash_item *it, int key)
{
    switch (key) {
    case SORT_CREATED: return it->created_ts;
    case SORT_START:   return it->start_ts;   /* 0 (none) first */
    case SORT_END:     return it->end_ts;
    case SORT_ACTIVE:  return it->active;
    case SORT_PINNED:  return it->pinned;
    case SORT_BLOCKED: return it->blocked;
    default:           return 0;
    }
}

int trove__serve_dashboard_items_list(trove_server *s, const serve_req *r,
                                      serve_resp *out)
{
    const char *q = trove__serve_query(r, "q");
    const char *flag_s = trove__serve_query(r, "flag");
    const char *sort_s = trove__serve_query(r, "sort");
    const char *v;
    long long offset = 0, limit = ITEMS_LIMIT_DEFAULT;
    int flag = FLAG_ANY, bad = 0, sort = SORT_STORE, desc = 0;
    sort_rec *recs = NULL;
    uint64_t total = 0;
    trove_error err;
    json_t *items, *root;
    dash_items *c;

    if (trove__serve_require_read(s, r, out))
        return 1;
    if ((v = trove__serve_query(r, "offset")) != NULL &&
        query_int(v, 0, 1000000000LL, &offset) != 0)
        return trove__serve_reply_error(out, 400, "offset: a whole number >= 0 "
                                        "is expected, not '%s'", v);
    if ((v = trove__serve_query(r, "limit")) != NULL &&
        query_int(v, 1, ITEMS_LIMIT_MAX, &limit) != 0)
        return trove__serve_reply_error(out, 400, "limit: a whole number from 1 "
                                        "to %d is expected, not '%s'",
                                        ITEMS_LIMIT_MAX, v);
    if (flag_s != NULL && flag_s[0] != '\0') {
        static const char *const names[] = { "", "active", "pinned", "blocked",
                                             "inactive" };
        flag = -1;
        for (int i = 1; i < 5; i++)
            if (strcmp(flag_s, names[i]) == 0)
                flag = i;
        if (flag < 0)
            return trove__serve_reply_error(out, 400, "flag: one of active, "
                                            "pinned, blocked, inactive is "
                                            "expected, not '%s'", flag_s);
    }
    if (sort_s != NULL && sort_s[0] != '\0') {
        const char *key = sort_s[0] == '-' ? sort_s + 1 : sort_s;
        desc = sort_s[0] == '-';
        sort = -1;
        for (int i = 1; i < (int)(sizeof k_sort_names / sizeof *k_sort_names); i++)
            if (strcmp(key, k_sort_names[i]) == 0)
                sort = i;
        if (sort < 0)
            return trove__serve_reply_error(out, 400, "sort: one of id, title, created, "
                                            "start, end, active, pinned, blocked (with a "
                                            "leading - for descending) is expected, not '%s'",
                                            sort_s);
    }
    if (q != NULL && q[0] == '\0')
        q = NULL;
    trove_error_clear(&err);
    if ((c = trove__serve_dashboard_items(s, &err)) == NULL)
        return trove__serve_reply_error(out, err.code == TROVE_ENOMEM ? 500 : 503,
                                        "%s", err.msg);
    items = json_array();
    bad = items == NULL;
    if (sort != SORT_STORE && !bad) {
        recs = trove_malloc((c->n ? c->n : 1) * sizeof *recs);
        bad = recs == NULL;
    }
    /* the matches in store order; sorted, then paged, when asked */
    for (uint32_t i = 0; !bad && i < c->n; i++) {
        const dash_item *it = &c->items[i];
        if (!flag_match(it, flag))
            continue;
        if (q != NULL && strcasestr(dash_item_id(c, it), q) == NULL &&
            strcasestr(dash_item_title(c, it), q) == NULL)
            continue;
        if (recs != NULL) {
            recs[total] = (sort_rec){
                sort == SORT_ID ? dash_item_id(c, it)
                                : sort == SORT_TITLE ? dash_item_title(c, it) : NULL,
                sort_num(it, sort), i, desc };
        } else if (total >= (uint64_t)offset && total < (uint64_t)(offset + limit)) {
            json_t *o = trove__serve_dashboard_item_json(c, it);
            if (o == NULL || json_array_append_new(items, o) != 0)
                bad = 1;
        }
        total++;
    }
    if (recs != NULL && !bad) {
        qsort(recs, (size_t)total, sizeof *recs, cmp_sort_rec);
        for (uint64_t k = (uint64_t)offset; !bad && k < total && k < (uint64_t)(offset + limit);
             k++) {
            json_t *o = trove__serve_dashboard_item_json(c, &c->items[recs[k].pos]);
            if (o == NULL || json_array_append_new(items, o) != 0)
                bad = 1;
        }
    }
    trove_free(recs);
    trove__serve_dashboard_items_release(c);
    root = bad ? NULL : json_pack("{s:I,s:I,s:I,s:s?,s:o}", "total", (json_int_t)total,
                                  "offset", (json_int_t)offset, "limit",
                                  (json_int_t)limit, "sort",
                                  sort == SORT_STORE ? NULL : sort_s, "items", items);
    if (bad)
        json_decref(items);
    return trove__serve_reply_json(out, 200, root);
}

/* ----------------------------------------------------- POST /v1/items */
enum col_role {
    COL_FEATURE = 0, COL_ID, COL_TITLE, COL_ACTIVE, COL_PINNED, COL_BLOCKED,
    COL_START, COL_END
};

typedef struct up_feat {
    char  *name;      /* "col" (numeric) or "col=value"; trove_malloc'd */
    int    kind;
    double value;
} up_feat;

typedef struct up_row {
    uint32_t    line;
    const char *id;       /* in the split copy of the body */
    const char *title;    /* NULL: not given */
    trove_item  flags;
    unsigned    mask;
    size_t      feat_off, n_feat;
    const char *raw;      /* the line in the request body */
    size_t      raw_len;
    int         dropped;  /* refused by the store on write */
} up_row;

typedef struct upload {
    int         n_cols;
    int        *role;
    char      **col;      /* column names (in the split copy) */
    up_row     *rows;
    size_t      n_rows, cap_rows;
    up_feat    *feats;
    size_t      n_feats, cap_feats;
    trove_idmap *seen;    /* accepted ids -> index into rows */
    uint64_t    data_rows, rejected;
    json_t     *rejects;
} upload;

static void upload_free(upload *u)
{
    for (size_t i = 0; i < u->n_feats; i++)
        trove_free(u->feats[i].name);
    trove_free(u->feats);
    trove_free(u->rows);
    trove_free(u->role);
    trove_free((void *)u->col);
    trove_idmap_free(u->seen);
    json_decref(u->rejects);
}

/* The raw line as valid UTF-8 (bytes of a broken sequence become '?'),
 * cut at UPLOAD_RAW_MAX bytes on a character boundary. */
static json_t *raw_json(const char *raw, size_t len)
{
    char buf[UPLOAD_RAW_MAX + 4];
    size_t n = len < UPLOAD_RAW_MAX ? len : UPLOAD_RAW_MAX;
    memcpy(buf, raw, n);
    buf[n] = '\0';
    if (n < len && !trove__utf8_valid(buf, n)) {
        while (n > 0 && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
            n--;            /* the cut may have split the last character */
        if (n > 0 && (unsigned char)buf[n - 1] >= 0xC0)
            n--;
        buf[n] = '\0';
    }
    if (!trove__utf8_valid(buf, n))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] >= 0x80 || buf[i] == '\0')
                buf[i] = '?';
    return json_stringn(buf, n);
}

static int line_cmp(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "line"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "line"));
    return (x > y) - (x < y);
}

/* Put the rejected rows back in line order (rows refused on write are
 * appended after those refused on parsing). Returns TROVE_OK or
 * TROVE_ENOMEM (the order is then left as it was). */
static int rejects_sort(upload *u)
{
    size_t n = json_array_size(u->rejects);
    json_t **v = trove_malloc((n ? n : 1) * sizeof *v), *sorted = json_array();
    int rc = TROVE_ENOMEM;
    if (v == NULL || sorted == NULL)
        goto done;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(u->rejects, i);
    qsort(v, n, sizeof *v, line_cmp);
    for (size_t i = 0; i < n; i++)
        if (json_array_append(sorted, v[i]) != 0)
            goto done;
    json_decref(u->rejects);
    u->rejects = sorted;
    sorted = NULL;
    rc = TROVE_OK;
done:
    json_decref(sorted);
    trove_free((void *)v);
    return rc;
}

__attribute__((format(printf, 5, 6)))
static int reject(upload *u, uint32_t line, const char *raw, size_t raw_len,
                  const char *fmt, ...)
{
    char reason[TROVE_ERROR_MSG_MAX];
    va_list ap;
    u->rejected++;
    if (u->rejected > UPLOAD_REJECTS_MAX)
        return TROVE_OK;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (!trove__utf8_valid(reason, strlen(reason)))
        for (char *p = reason; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    json_t *o = json_pack("{s:i,s:s,s:o}", "line", (int)line, "reason", reason,
                          "raw", raw_json(raw, raw_len));
    if (o == NULL || json_array_append_new(u->rejects, o) != 0)
        return TROVE_ENOMEM;
    return TROVE_OK;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = { "true", "1", "yes", "y" };
    static const char *const no[] = { "false", "0", "no", "n" };
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* The header row: roles of the columns. Returns 0, or -1 with msg. */
static int parse_header(upload *u, char *line, size_t len,
                        trove__field *fields, char *msg, size_t size)
{
    static const struct { const char *name; int role; } known[] = {
        { "id", COL_ID }, { "title", COL_TITLE }, { "active", COL_ACTIVE },
        { "pinned", COL_PINNED }, { "blocked", COL_BLOCKED },
        { "start", COL_START }, { "start_ts", COL_START }, { "end", COL_END },
        { "end_ts", COL_END }
    };
    size_t n;
    const char *why;
    int has_id = 0;
    if (trove__split(line, len, ',', 1, fields, TROVE__MAX_FIELDS, &n, &why) != 0) {
        snprintf(msg, size, "line 1: header: %s", why);
        return -1;
    }
    if (n > TROVE__MAX_FIELDS) {
        snprintf(msg, size, "line 1: header: more than %d columns",
                 TROVE__MAX_FIELDS);
        return -1;
    }
    u->n_cols = (int)n;
    u->role = trove_calloc(n, sizeof *u->role);
    u->col = trove_calloc(n, sizeof *u->col);
    if (u->role == NULL || u->col == NULL) {
        snprintf(msg, size, "out of memory");
        return -2;
    }
    for (size_t i = 0; i < n; i++) {
        size_t flen = fields[i].len;
        char *name = trove__trim(fields[i].s, &flen);
        u->col[i] = name;
        u->role[i] = COL_FEATURE;
        if (flen == 0) {
            snprintf(msg, size, "line 1: header: column %zu has no name", i + 1);
            return -1;
        }
        if (!trove__utf8_valid(name, flen)) {
            snprintf(msg, size, "line 1: header: column %zu: invalid UTF-8", i + 1);
            return -1;
        }
        if (strchr(name, '=') != NULL || flen > UPLOAD_NAME_MAX / 2) {
            snprintf(msg, size, "line 1: header: column '%s': a name without '=' "
                     "of at most %d bytes is expected", name, UPLOAD_NAME_MAX / 2);
            return -1;
        }
        for (size_t k = 0; k < sizeof known / sizeof *known; k++)
            if (strcasecmp(name, known[k].name) == 0)
                u->role[i] = known[k].role;
        has_id |= u->role[i] == COL_ID;
        for (size_t j = 0; j < i; j++)
            if ((u->role[i] != COL_FEATURE && u->role[j] == u->role[i]) ||
                (u->role[i] == COL_FEATURE && u->role[j] == COL_FEATURE &&
                 strcmp(u->col[j], name) == 0)) {
                snprintf(msg, size, "line 1: header: column '%s' appears twice",
                         name);
                return -1;
            }
    }
    if (!has_id) {
        snprintf(msg, size, "line 1: header: an 'id' column is required");
        return -1;
    }
    return 0;
}

static int feat_push(upload *u, const char *col, const char *v, size_t vlen,
                     const char **why)
{
    up_feat f;
    double x;
    size_t clen = strlen(col);
    if (trove__parse_double(v, vlen, &x) == 0) {
        f.kind = TROVE_FEATURE_NUMERIC;
        f.value = x;
        f.name = trove_strdup(col);
    } else {
        if (clen + 1 + vlen > UPLOAD_NAME_MAX) {
            *why = "feature name longer than 255 bytes";
            return -1;
        }
        f.kind = TROVE_FEATURE_CATEGORICAL;
        f.value = 1.0;
        f.name = trove_malloc(clen + vlen + 2);
        if (f.name != NULL) {
            memcpy(f.name, col, clen);
            f.name[clen] = '=';
            memcpy(f.name + clen + 1, v, vlen + 1);
        }
    }
    if (f.name == NULL)
        return -2;
    if (u->n_feats == u->cap_feats) {
        size_t cap = u->cap_feats ? 2 * u->cap_feats : 256;
        up_feat *a = trove_realloc(u->feats, cap * sizeof *a);
        if (a == NULL) {
            trove_free(f.name);
            return -2;
        }
        u->feats = a;
        u->cap_feats = cap;
    }
    u->feats[u->n_feats++] = f;
    return 0;
}

/* Drop the features pushed for a row that is then rejected. */
static void feats_pop(upload *u, size_t to)
{
    while (u->n_feats > to)
        trove_free(u->feats[--u->n_feats].name);
}

/* One data row. Returns TROVE_OK (accepted or rejected) or TROVE_ENOMEM. */
static int parse_row(upload *u, uint32_t line_no, char *line, size_t len,
                     const char *raw, size_t raw_len, trove__field *fields)
{
    static const char *const flag_names[] = { "", "", "", "active", "pinned",
                                              "blocked", "start", "end" };
    size_t n;
    const char *why = NULL;
    up_row row;
    int64_t prev;
    memset(&row, 0, sizeof row);
    row.line = line_no;
    row.raw = raw;
    row.raw_len = raw_len;
    row.feat_off = u->n_feats;
    if (!trove__utf8_valid(line, len))
        return reject(u, line_no, raw, raw_len, "invalid UTF-8");
    if (trove__split(line, len, ',', 1, fields, TROVE__MAX_FIELDS, &n, &why) != 0)
        return reject(u, line_no, raw, raw_len, "%s", why);
    if (n != (size_t)u->n_cols)
        return reject(u, line_no, raw, raw_len, "%zu fields, the header has %d",
                      n, u->n_cols);
    for (int i = 0; i < u->n_cols; i++) {
        size_t vlen = fields[i].len;
        char *v = trove__trim(fields[i].s, &vlen);
        int b, rc;
        int64_t t;
        switch (u->role[i]) {
        case COL_ID:
            if (vlen == 0 || vlen > UPLOAD_ID_MAX || strchr(v, '/') != NULL) {
                feats_pop(u, row.feat_off);
                return reject(u, line_no, raw, raw_len, "id: 1 to %d bytes "
                              "without '/' are expected", UPLOAD_ID_MAX);
            }
            row.id = v;
            break;
        case COL_TITLE:
            if (vlen > 0)
                row.title = v;
            break;
        case COL_ACTIVE:
        case COL_PINNED:
        case COL_BLOCKED:
            if (vlen == 0)
                break;
            if (parse_bool(v, &b) != 0) {
                feats_pop(u, row.feat_off);
                return reject(u, line_no, raw, raw_len, "%s: '%s' is not true "
                              "or false", flag_names[u->role[i]], v);
            }
            if (u->role[i] == COL_ACTIVE) {
                row.flags.active = b;
                row.mask |= TROVE_ITEM_ACTIVE;
            } else if (u->role[i] == COL_PINNED) {
                row.flags.pinned = b;
                row.mask |= TROVE_ITEM_PINNED;
            } else {
                row.flags.blocked = b;
                row.mask |= TROVE_ITEM_BLOCKED;
            }
            break;
        case COL_START:
        case COL_END:
            if (vlen == 0)
                break;
            if (trove__parse_ts(v, vlen, NULL, &t) != 0 || t < 0) {
                feats_pop(u, row.feat_off);
                return reject(u, line_no, raw, raw_len, "%s: '%s' is not a date "
                              "(2026-11-23 or 2026-11-23T10:00:00Z) or Unix "
                              "seconds", flag_names[u->role[i]], v);
            }
            if (u->role[i] == COL_START) {
                row.flags.start_ts = t;
                row.mask |= TROVE_ITEM_START_TS;
            } else {
                row.flags.end_ts = t;
                row.mask |= TROVE_ITEM_END_TS;
            }
            break;
        default:
            if (vlen == 0)
                break;
            rc = feat_push(u, u->col[i], v, vlen, &why);
            if (rc == -2)
                return TROVE_ENOMEM;
            if (rc != 0) {
                feats_pop(u, row.feat_off);
                return reject(u, line_no, raw, raw_len, "%s: %s", u->col[i], why);
            }
        }
    }
    if ((row.mask & TROVE_ITEM_START_TS) && (row.mask & TROVE_ITEM_END_TS) &&
        row.flags.start_ts != 0 && row.flags.end_ts != 0 &&
        row.flags.end_ts <= row.flags.start_ts) {
        feats_pop(u, row.feat_off);
        return reject(u, line_no, raw, raw_len, "end: not after start");
    }
    if ((prev = trove_idmap_find(u->seen, row.id, strlen(row.id))) >= 0) {
        feats_pop(u, row.feat_off);
        return reject(u, line_no, raw, raw_len, "id '%s' repeats line %u",
                      row.id, u->rows[prev].line);
    }
    row.n_feat = u->n_feats - row.feat_off;
    if (u->n_rows == u->cap_rows) {
        size_t cap = u->cap_rows ? 2 * u->cap_rows : 256;
        up_row *a = trove_realloc(u->rows, cap * sizeof *a);
        if (a == NULL)
            return TROVE_ENOMEM;
        u->rows = a;
        u->cap_rows = cap;
    }
    uint32_t idx;
    if (trove_idmap_intern(u->seen, row.id, strlen(row.id), &idx, NULL) != TROVE_OK)
        return TROVE_ENOMEM;
    u->rows[u->n_rows++] = row;
    return TROVE_OK;
}

/* Split the body into lines and parse them. Returns 0, 400 with msg for a
 * bad header or no data, or 500 (out of memory). */
static int parse_body(upload *u, char *copy, size_t len, const char *body,
                      char *msg, size_t size)
{
    trove__field *fields = trove_malloc(TROVE__MAX_FIELDS * sizeof *fields);
    size_t pos = 0;
    uint32_t line_no = 0;
    int status = 500, have_header = 0;
    if (fields == NULL)
        goto done;
    if (len >= 3 && memcmp(copy, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;   /* a byte order mark, as spreadsheets write */
    while (pos < len) {
        char *line = copy + pos;
        char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        const char *raw = body + pos;
        size_t next = pos + llen + (nl != NULL);
        line_no++;
        line[llen] = '\0';
        if (llen > 0 && line[llen - 1] == '\r')
            line[--llen] = '\0';
        pos = next;
        int blank = 1;
        for (size_t i = 0; i < llen && blank; i++)
            blank = line[i] == ' ' || line[i] == '\t';
        if (blank)
            continue;
        if (!have_header) {
            int rc = parse_header(u, line, llen, fields, msg, size);
            if (rc != 0) {
                status = rc == -1 ? 400 : 500;
                goto done;
            }
            have_header = 1;
            continue;
        }
        u->data_rows++;
        if (parse_row(u, line_no, line, llen, raw, llen, fields) != TROVE_OK)
            goto done;
    }
    if (!have_header || u->data_rows == 0) {
        snprintf(msg, size, "request body: a CSV file with a header row and at "
                 "least one data row is expected");
        status = 400;
        goto done;
    }
    status = 0;
done:
    if (status == 500)
        snprintf(msg, size, "out of memory");
    trove_free(fields);
    return status;
}

/* Write one row (inside the transaction, admin lock held). */
static int write_row(trove_server *s, const upload *u, const up_row *row,
                     int *created, trove_error *err)
{
    int64_t item_id, fid;
    int rc = trove_store_item_upsert(s->store, row->id, row->title, &item_id,
                                     created, err);
    for (size_t k = 0; rc == TROVE_OK && k < row->n_feat; k++) {
        const up_feat *f = &u->feats[row->feat_off + k];
        rc = trove_store_feature_upsert(s->store, TROVE_FEATURE_ITEM, f->name,
                                        f->kind, &fid, err);
        if (rc == TROVE_OK)
            rc = trove_store_item_feature_set(s->store, item_id, fid, f->value,
                                              err);
        if (rc != TROVE_OK)
            trove_error_prefix(err, "feature %s", f->name);
    }
    if (rc == TROVE_OK && row->mask != 0)
        rc = trove_store_item_set_flags(s->store, item_id, &row->flags,
                                        row->mask, err);
    return rc;
}

/* Write every accepted row in one transaction and publish a new snapshot.
 * A row the store refuses for its data (a feature of the other kind, ...)
 * is reported and the transaction redone without it. *created counts the
 * new items. Returns TROVE_OK or the failure (err set). */
static int write_rows(trove_server *s, upload *u, uint64_t *created,
                      trove_error *err)
{
    int rc = TROVE_OK;
    pthread_mutex_lock(&s->admin_lock);
    for (int attempt = 0; attempt <= UPLOAD_RETRIES; attempt++) {
        size_t failed = SIZE_MAX;
        uint64_t n_created = 0;
        rc = trove_store_begin(s->store, err);
        for (size_t i = 0; rc == TROVE_OK && i < u->n_rows; i++) {
            int c = 0;
            if (u->rows[i].dropped)
                continue;
            rc = write_row(s, u, &u->rows[i], &c, err);
            if (rc != TROVE_OK)
                failed = i;
            n_created += (uint64_t)c;
        }
        if (rc == TROVE_OK)
            rc = trove_store_commit(s->store, err);
        if (rc == TROVE_OK) {
            *created = n_created;
            rc = trove__serve_rebuild(s, err);
            break;
        }
        trove_store_rollback(s->store, NULL);
        if (failed == SIZE_MAX || (rc != TROVE_EINVAL && rc != TROVE_ENOTFOUND) ||
            attempt == UPLOAD_RETRIES)
            break;
        up_row *row = &u->rows[failed];
        row->dropped = 1;
        rc = reject(u, row->line, row->raw, row->raw_len, "%s", err->msg);
        if (rc != TROVE_OK) {
            trove_error_set(err, rc, "upload: out of memory");
            break;
        }
        trove_error_clear(err);
    }
    pthread_mutex_unlock(&s->admin_lock);
    return rc;
}

/* An accepted row as the item it makes: the cached item (if any) with the
 * row's values over it. */
static json_t *preview_json(const upload *u, const up_row *row,
                            const dash_items *c, int64_t now, int dry_run)
{
    int64_t idx = trove_idmap_find(c->ids, row->id, strlen(row->id));
    const dash_item *it = idx >= 0 ? &c->items[idx] : NULL;
    dash_item base = { .active = 1 };
    json_t *o, *f;
    if (it != NULL) {
        o = trove__serve_dashboard_item_json(c, it);
        base = *it;
    } else {
        o = json_pack("{s:s,s:s,s:o,s:o}", "id", row->id, "title", "",
                      "created_ts", dry_run ? json_null()
                                            : json_integer((json_int_t)now),
                      "features", json_object());
    }
    if (o == NULL)
        return NULL;
    if (row->mask & TROVE_ITEM_ACTIVE)
        base.active = row->flags.active;
    if (row->mask & TROVE_ITEM_PINNED)
        base.pinned = row->flags.pinned;
    if (row->mask & TROVE_ITEM_BLOCKED)
        base.blocked = row->flags.blocked;
    if (row->mask & TROVE_ITEM_START_TS)
        base.start_ts = row->flags.start_ts;
    if (row->mask & TROVE_ITEM_END_TS)
        base.end_ts = row->flags.end_ts;
    f = json_object_get(o, "features");
    int bad = json_object_set_new(o, "active", json_boolean(base.active)) != 0 ||
              json_object_set_new(o, "pinned", json_boolean(base.pinned)) != 0 ||
              json_object_set_new(o, "blocked", json_boolean(base.blocked)) != 0 ||
              json_object_set_new(o, "start_ts",
                                  trove__serve_dashboard_ts(base.start_ts)) != 0 ||
              json_object_set_new(o, "end_ts",
                                  trove__serve_dashboard_ts(base.end_ts)) != 0 ||
              (row->title != NULL &&
               json_object_set_new(o, "title", json_string(row->title)) != 0) ||
              json_object_set_new(o, "new", json_boolean(it == NULL)) != 0;
    for (size_t k = 0; !bad && k < row->n_feat; k++) {
        const up_feat *uf = &u->feats[row->feat_off + k];
        bad = json_object_set_new(f, uf->name,
                                  trove__serve_dashboard_num(uf->value)) != 0;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Content types a CSV file may arrive with (parameters ignored). */
static int csv_content_type(const char *ct)
{
    static const char *const ok[] = { "text/csv", "text/plain",
                                      "application/csv",
                                      "application/octet-stream",
                                      "application/vnd.ms-excel" };
    if (ct == NULL)
        return 1;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        size_t n = strlen(ok[i]);
        if (strncasecmp(ct, ok[i], n) == 0 &&
            (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
            return 1;
    }
    return 0;
}

int trove__serve_dashboard_items_upload(trove_server *s, const serve_req *r,
                                        serve_resp *out)
{
    const char *dry = trove__serve_query(r, "dry_run");
    const char *ct = trove__serve_header(r, "Content-Type");
    char msg[TROVE_ERROR_MSG_MAX];
    upload u;
    trove_error err;
    dash_items *c = NULL;
    char *copy = NULL;
    json_t *root = NULL, *preview = NULL;
    uint64_t created = 0, accepted = 0, shown = 0;
    int dry_run = 0, status, rc;
    int64_t now = (int64_t)time(NULL);

    if (trove__serve_require_admin(s, r, out))
        return 1;
    /* required: a bare "?dry_run" reads as absent, and must not write */
    if (dry == NULL)
        return trove__serve_reply_error(out, 400, "dry_run: true or false is "
                                        "required (true checks the file and "
                                        "writes nothing)");
    if (parse_bool(dry, &dry_run) != 0)
        return trove__serve_reply_error(out, 400, "dry_run: true or false is "
                                        "expected, not '%s'", dry);
    if (!csv_content_type(ct))
        return trove__serve_reply_error(out, 415, "Content-Type: text/csv is "
                                        "expected, not '%s'", ct);
    if (r->body == NULL || r->body_len == 0)
        return trove__serve_reply_error(out, 400, "request body: a CSV file with "
                                        "a header row is expected");
    memset(&u, 0, sizeof u);
    trove_error_clear(&err);
    copy = trove_malloc(r->body_len + 1);
    u.seen = trove_idmap_new();
    u.rejects = json_array();
    if (copy == NULL || u.seen == NULL || u.rejects == NULL) {
        trove__serve_reply_error(out, 500, "out of memory");
        goto done;
    }
    memcpy(copy, r->body, r->body_len);
    copy[r->body_len] = '\0';
    if ((status = parse_body(&u, copy, r->body_len, r->body, msg,
                             sizeof msg)) != 0) {
        trove__serve_reply_error(out, status, "%s", msg);
        goto done;
    }
    /* the catalog before the change: which ids are new, preview bases */
    if ((c = trove__serve_dashboard_items(s, &err)) == NULL) {
        trove__serve_reply_error(out, err.code == TROVE_ENOMEM ? 500 : 503, "%s",
                                 err.msg);
        goto done;
    }
    if (dry_run) {
        for (size_t i = 0; i < u.n_rows; i++)
            created += trove_idmap_find(c->ids, u.rows[i].id,
                                        strlen(u.rows[i].id)) < 0;
    } else if (u.n_rows > 0 &&
               (rc = write_rows(s, &u, &created, &err)) != TROVE_OK) {
        trove__serve_reply_error(out, rc == TROVE_ENOMEM ? 500 : 503, "%s",
                                 err.msg[0] ? err.msg : trove_strerror(rc));
        goto done;
    }
    if (rejects_sort(&u) != TROVE_OK) {
        trove__serve_reply_json(out, 500, NULL);
        goto done;
    }
    preview = json_array();
    if (preview == NULL) {
        trove__serve_reply_json(out, 500, NULL);
        goto done;
    }
    for (size_t i = 0; i < u.n_rows; i++) {
        if (u.rows[i].dropped)
            continue;
        accepted++;
        if (shown < UPLOAD_PREVIEW) {
            json_t *o = preview_json(&u, &u.rows[i], c, now, dry_run);
            if (o == NULL || json_array_append_new(preview, o) != 0) {
                json_decref(preview);
                trove__serve_reply_json(out, 500, NULL);
                goto done;
            }
            shown++;
        }
    }
    root = json_pack("{s:b,s:I,s:I,s:I,s:O,s:I,s:I,s:o}", "dry_run", dry_run,
                     "rows", (json_int_t)u.data_rows,
                     "accepted", (json_int_t)accepted,
                     "rejected_count", (json_int_t)u.rejected,
                     "rejected", u.rejects, "created", (json_int_t)created,
                     "updated", (json_int_t)(accepted - created),
                     "preview", preview);
    trove__serve_reply_json(out, 200, root);
done:
    trove__serve_dashboard_items_release(c);
    trove_free(copy);
    upload_free(&u);
    return 1;
}
