/*
 * ingest.c - the ingest session: id maps of the users, items and markets
 * seen, the set of event ids seen (duplicates), reject reporting, summary
 * counters, and the dispatch to presets and the generic mapping.
 *
 * Invariants (see ingest_int.h): each id is announced to the sink once per
 * session before it is used; every data row is counted exactly once as
 * accepted, rejected or duplicate; once `finished`, the session refuses
 * further input.
 */
#include "ingest/ingest_int.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

trove_ingest_options trove_ingest_default_options(void)
{
    trove_ingest_options o;
    memset(&o, 0, sizeof o);
    o.max_warnings = 10;
    return o;
}

trove_ingest_mapping trove_ingest_default_mapping(void)
{
    trove_ingest_mapping m;
    memset(&m, 0, sizeof m);
    m.kind = TROVE_INGEST_EVENTS;
    m.format = TROVE_INGEST_AUTO;
    m.header = 1;
    return m;
}

int trove_ingest_new(const trove_ingest_sink *sink, const trove_ingest_options *opts,
                     trove_ingest **out, trove_error *err)
{
    trove_ingest_options o = opts ? *opts : trove_ingest_default_options();
    trove_ingest *in;
    int rc = TROVE_ENOMEM;

    in = trove_calloc(1, sizeof *in);
    if (in == NULL) {
        if (sink->close)
            sink->close(sink->ud);
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    }
    in->sink = *sink;
    in->max_warnings = o.max_warnings < 0 ? 0 : o.max_warnings;
    in->users = trove_idmap_new();
    in->items = trove_idmap_new();
    in->markets = trove_idmap_new();
    if (in->users == NULL || in->items == NULL || in->markets == NULL)
        goto fail;
    if (o.rejects_path != NULL) {
        in->rejects_path = trove_strdup(o.rejects_path);
        if (in->rejects_path == NULL)
            goto fail;
        in->rejects = fopen(o.rejects_path, "w");
        if (in->rejects == NULL) {
            rc = trove_error_set(err, TROVE_EIO, "%s: cannot create reject file: %s",
                                 o.rejects_path, strerror(errno));
            goto fail_msg;
        }
    }
    *out = in;
    return TROVE_OK;
fail:
    trove_error_set(err, rc, "ingest: out of memory");
fail_msg:
    trove_ingest_free(in);
    return rc;
}

void trove_ingest_free(trove_ingest *in)
{
    if (in == NULL)
        return;
    if (in->sink.close)
        in->sink.close(in->sink.ud);
    if (in->rejects)
        fclose(in->rejects);
    trove_free(in->rejects_path);
    trove_idmap_free(in->users);
    trove_idmap_free(in->items);
    trove_idmap_free(in->markets);
    trove_free(in->mcount);
    trove_free(in->seen);
    trove__buf_free(&in->line);
    trove__buf_free(&in->name);
    trove__buf_free(&in->hash);
    trove__buf_free(&in->text);
    trove_free(in);
}

int trove_ingest_finish(trove_ingest *in, trove_error *err)
{
    int rc = TROVE_OK;
    if (in->finished)
        return trove_error_set(err, TROVE_EINVAL, "ingest: session already finished");
    if (in->rejects && fflush(in->rejects) != 0)
        return trove_error_set(err, TROVE_EIO, "%s: write error: %s", in->rejects_path,
                               strerror(errno));
    if (in->sink.commit)
        rc = in->sink.commit(in->sink.ud, err);
    if (rc == TROVE_OK)
        in->finished = 1;
    return rc;
}

void trove_ingest_get_summary(const trove_ingest *in, trove_ingest_summary *out)
{
    memset(out, 0, sizeof *out);
    out->files = in->files;
    out->rows_read = in->rows_read;
    out->rows_accepted = in->rows_accepted;
    for (size_t i = 0; i < in->n_reasons; i++)
        out->rows_rejected += in->reasons[i].count;
    out->duplicates = in->duplicates;
    out->users_new = in->users_new;
    out->users_existing = in->users_existing;
    out->items_new = in->items_new;
    out->items_existing = in->items_existing;
    out->events_new = in->events_new;
    out->events_existing = in->events_existing;
    out->markets_new = in->markets_new;
    out->markets_existing = in->markets_existing;
    out->features_set = in->features_set;
    out->n_reasons = in->n_reasons;
    out->reasons = in->reasons;
    out->n_markets = trove_idmap_size(in->markets);
    out->markets = in->mcount;
}

/* ------------------------------------------------------------ rows */

int trove__ingest_open(trove_ingest *in, const char *path, trove__reader **out,
                       trove_error *err)
{
    if (in->finished)
        return trove_error_set(err, TROVE_EINVAL, "ingest: session already finished");
    int rc = trove__reader_open(path, out, err);
    if (rc == TROVE_OK)
        in->files++;
    return rc;
}

int trove__ingest_need_rows(const char *path, uint64_t rows, trove_error *err)
{
    if (rows == 0)
        return trove_error_set(err, TROVE_EEMPTY, "%s: no data rows", path);
    return TROVE_OK;
}

void trove__ingest_row(trove_ingest *in, const char *path, uint64_t line,
                       const char *raw, size_t raw_len)
{
    in->cur_path = path;
    in->cur_line = line;
    in->cur_raw = raw;
    in->cur_raw_len = raw_len;
    in->rows_read++;
}

char *trove__ingest_line_copy(trove_ingest *in)
{
    if (trove__buf_set(&in->line, in->cur_raw, in->cur_raw_len) != TROVE_OK)
        return NULL;
    return in->line.p;
}

void trove__ingest_accept(trove_ingest *in)
{
    in->rows_accepted++;
}

static void count_reason(trove_ingest *in, const char *reason)
{
    size_t i;
    for (i = 0; i < in->n_reasons; i++)
        if (strcmp(in->reasons[i].reason, reason) == 0)
            break;
    if (i == in->n_reasons) {
        /* the last slot of the table collects every further reason */
        if (i == TROVE__MAX_REASONS - 1)
            reason = "other";
        if (i == TROVE__MAX_REASONS)
            i--;
        else
            in->n_reasons++;
        snprintf(in->reason_names[i], sizeof in->reason_names[i], "%s", reason);
        in->reasons[i].reason = in->reason_names[i];
    }
    in->reasons[i].count++;
}

static int write_reject(trove_ingest *in, const char *detail, trove_error *err)
{
    FILE *f = in->rejects;
    if (f == NULL)
        return TROVE_OK;
    fputs(in->cur_path, f);
    fprintf(f, "\t%llu\t", (unsigned long long)in->cur_line);
    for (const char *p = detail; *p; p++)
        fputc(*p == '\t' || *p == '\n' ? ' ' : *p, f);
    fputc('\t', f);
    fwrite(in->cur_raw, 1, in->cur_raw_len, f);
    if (fputc('\n', f) == EOF)
        return trove_error_set(err, TROVE_EIO, "%s: write error: %s", in->rejects_path,
                               strerror(errno));
    return TROVE_OK;
}

static void warn_row(trove_ingest *in, const char *detail)
{
    if (in->warned < (uint64_t)in->max_warnings)
        trove_log(TROVE_LOG_WARN, "%s:%llu: %s", in->cur_path,
                  (unsigned long long)in->cur_line, detail);
    else if (in->warned == (uint64_t)in->max_warnings)
        trove_log(TROVE_LOG_WARN, "%s: more rejected rows follow (see the summary%s%s)",
                  in->cur_path, in->rejects ? " and " : "",
                  in->rejects ? in->rejects_path : "");
    in->warned++;
}

int trove__ingest_reject(trove_ingest *in, uint32_t market, const char *reason,
                         trove_error *err, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    count_reason(in, reason);
    if (market != TROVE_INGEST_NO_MARKET)
        in->mcount[market].rejected++;
    warn_row(in, detail);
    return write_reject(in, detail, err);
}

/* ------------------------------------------------------------ ids */

static int grow_markets(trove_ingest *in, size_t need)
{
    trove_ingest_market_count *mc;
    size_t cap;
    if (need <= in->mcount_cap)
        return TROVE_OK;
    cap = in->mcount_cap ? in->mcount_cap * 2 : 16;
    while (cap < need)
        cap *= 2;
    mc = trove_realloc(in->mcount, cap * sizeof *mc);
    if (mc == NULL)
        return TROVE_ENOMEM;
    in->mcount = mc;
    in->mcount_cap = cap;
    return TROVE_OK;
}

int trove__ingest_market(trove_ingest *in, const char *code, size_t len,
                         uint32_t *index, trove_error *err)
{
    int64_t found = trove_idmap_find(in->markets, code, len);
    uint32_t i;
    int added = 0, created = 1, rc;

    if (found >= 0) {
        *index = (uint32_t)found;
        return TROVE_OK;
    }
    if (grow_markets(in, trove_idmap_size(in->markets) + 1) != TROVE_OK ||
        trove_idmap_intern(in->markets, code, len, &i, &added) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    memset(&in->mcount[i], 0, sizeof in->mcount[i]);
    in->mcount[i].code = trove_idmap_name(in->markets, i, NULL);
    if (in->sink.market) {
        rc = in->sink.market(in->sink.ud, i, trove_idmap_name(in->markets, i, NULL),
                             &created, err);
        if (rc != TROVE_OK)
            return rc;
    }
    in->mcount[i].created = created;
    if (created)
        in->markets_new++;
    else
        in->markets_existing++;
    *index = i;
    return TROVE_OK;
}

int trove__ingest_user(trove_ingest *in, const char *ext, size_t len,
                       uint32_t market, uint32_t *index, int *is_new,
                       trove_error *err)
{
    uint32_t i;
    int added = 0, created = 1, rc;

    rc = trove_idmap_intern(in->users, ext, len, &i, &added);
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "ingest: %s", trove_strerror(rc));
    if (added && in->sink.user) {
        rc = in->sink.user(in->sink.ud, i, trove_idmap_name(in->users, i, NULL), market,
                           &created, err);
        if (rc != TROVE_OK)
            return rc;
    }
    if (added) {
        if (created)
            in->users_new++;
        else
            in->users_existing++;
    }
    if (is_new)
        *is_new = added;
    *index = i;
    return TROVE_OK;
}

int trove__ingest_item(trove_ingest *in, const char *ext, size_t len,
                       const char *title, uint32_t *index, int *is_new,
                       trove_error *err)
{
    uint32_t i;
    int added = 0, created = 1, rc;

    rc = trove_idmap_intern(in->items, ext, len, &i, &added);
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "ingest: %s", trove_strerror(rc));
    if (added && in->sink.item) {
        rc = in->sink.item(in->sink.ud, i, trove_idmap_name(in->items, i, NULL), title,
                           &created, err);
        if (rc != TROVE_OK)
            return rc;
    }
    if (added) {
        if (created)
            in->items_new++;
        else
            in->items_existing++;
    }
    if (is_new)
        *is_new = added;
    *index = i;
    return TROVE_OK;
}

int trove__ingest_item_title(trove_ingest *in, uint32_t index, const char *title,
                             trove_error *err)
{
    int created = 0;
    if (in->sink.item == NULL)
        return TROVE_OK;
    return in->sink.item(in->sink.ud, index, trove_idmap_name(in->items, index, NULL),
                         title, &created, err);
}

int trove__ingest_item_flags(trove_ingest *in, uint32_t index, const trove_item *flags,
                             unsigned mask, trove_error *err)
{
    if (in->sink.item_flags == NULL || mask == 0)
        return TROVE_OK;
    return in->sink.item_flags(in->sink.ud, index, flags, mask, err);
}

int trove__ingest_feature(trove_ingest *in, int target, uint32_t index,
                          const char *name, size_t namelen, int kind, double value,
                          trove_error *err)
{
    const trove_idmap *m = target == TROVE_FEATURE_USER ? in->users : in->items;
    int rc;
    if (trove__buf_set(&in->name, name, namelen) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    if (in->sink.feature) {
        rc = in->sink.feature(in->sink.ud, target, index, trove_idmap_name(m, index, NULL),
                              in->name.p, kind, value, err);
        if (rc != TROVE_OK)
            return rc;
    }
    in->features_set++;
    return TROVE_OK;
}

int trove__ingest_feature_kv(trove_ingest *in, int target, uint32_t index,
                             const char *field, const char *value, size_t vlen,
                             int lower, trove_error *err)
{
    const trove_idmap *m = target == TROVE_FEATURE_USER ? in->users : in->items;
    size_t flen = strlen(field);
    int rc;
    if (trove__buf_set(&in->name, field, flen) != TROVE_OK ||
        trove__buf_append(&in->name, "=", 1) != TROVE_OK ||
        trove__buf_append(&in->name, value, vlen) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    if (lower)
        for (size_t i = flen + 1; i < in->name.len; i++)
            if (in->name.p[i] >= 'A' && in->name.p[i] <= 'Z')
                in->name.p[i] = (char)(in->name.p[i] - 'A' + 'a');
    if (in->sink.feature) {
        rc = in->sink.feature(in->sink.ud, target, index, trove_idmap_name(m, index, NULL),
                              in->name.p, TROVE_FEATURE_CATEGORICAL, 1.0, err);
        if (rc != TROVE_OK)
            return rc;
    }
    in->features_set++;
    return TROVE_OK;
}

/* ------------------------------------------------------------ events */

static const char *const event_names[] = {
    NULL, "impression", "click", "redemption", "purchase", "rating", "return"
};

int trove__event_type_parse(const char *s, size_t n, int *type)
{
    for (int t = 1; t <= TROVE_EVENT_TYPE_MAX; t++)
        if (strlen(event_names[t]) == n && strncasecmp(s, event_names[t], n) == 0) {
            *type = t;
            return 0;
        }
    return -1;
}

const char *trove__event_type_name(int type)
{
    return type >= 1 && type <= TROVE_EVENT_TYPE_MAX ? event_names[type] : "unknown";
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint64_t trove__ingest_event_id(trove_ingest *in, const char *user, size_t ulen,
                                const char *item, size_t ilen, const char *market,
                                size_t mlen, const char *txn, size_t tlen, int type,
                                int64_t ts, double value)
{
    size_t need = ulen + ilen + mlen + tlen + 4 + 17;
    unsigned char *p;
    uint64_t bits, h;

    if (trove__buf_reserve(&in->hash, need) != TROVE_OK)
        return 0;
    p = (unsigned char *)in->hash.p;
    memcpy(p, user, ulen);
    p += ulen;
    *p++ = 0x1f;
    memcpy(p, item, ilen);
    p += ilen;
    *p++ = 0x1f;
    if (mlen)
        memcpy(p, market, mlen);
    p += mlen;
    *p++ = 0x1f;
    if (tlen)
        memcpy(p, txn, tlen);
    p += tlen;
    *p++ = 0x1f;
    *p++ = (unsigned char)type;
    put_le64(p, (uint64_t)ts);
    p += 8;
    if (value == 0.0)
        value = 0.0;   /* -0 and +0 hash alike */
    memcpy(&bits, &value, sizeof bits);
    put_le64(p, bits);
    p += 8;
    h = trove_hash64(in->hash.p, (size_t)(p - (unsigned char *)in->hash.p), 0);
    return h ? h : 1;
}

static size_t seen_slot(uint64_t id, size_t cap)
{
    /* Fibonacci hashing: the high bits of id * 2^64/phi */
    return (size_t)(id * UINT64_C(0x9e3779b97f4a7c15) >> 20) & (cap - 1);
}

void trove__ingest_prefetch(const trove_ingest *in, uint64_t id)
{
    if (in->seen_cap > 0)
        __builtin_prefetch(&in->seen[seen_slot(id, in->seen_cap)]);
}

/* Insert id into the seen-set; returns 1 if it was new, 0 if present, -1 on
 * out of memory. Linear probing at load <= 1/2. */
static int seen_insert(trove_ingest *in, uint64_t id)
{
    size_t mask, i;
    if ((in->seen_n + 1) * 2 > in->seen_cap) {
        size_t ncap = in->seen_cap ? in->seen_cap * 2 : 4096;
        uint64_t *ns = trove_calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return -1;
        for (size_t k = 0; k < in->seen_cap; k++) {
            uint64_t v = in->seen[k];
            if (v == 0)
                continue;
            size_t j = seen_slot(v, ncap);
            while (ns[j] != 0)
                j = (j + 1) & (ncap - 1);
            ns[j] = v;
        }
        trove_free(in->seen);
        in->seen = ns;
        in->seen_cap = ncap;
    }
    mask = in->seen_cap - 1;
    i = seen_slot(id, in->seen_cap);
    while (in->seen[i] != 0) {
        if (in->seen[i] == id)
            return 0;
        i = (i + 1) & mask;
    }
    in->seen[i] = id;
    in->seen_n++;
    return 1;
}

int trove__ingest_event(trove_ingest *in, trove_ingest_event *ev, trove_error *err)
{
    int fresh, inserted = 1, rc;

    if (ev->id == 0)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    fresh = seen_insert(in, ev->id);
    if (fresh < 0)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    if (!fresh) {
        char detail[128];
        snprintf(detail, sizeof detail, "duplicate event (id %016llx)",
                 (unsigned long long)ev->id);
        in->duplicates++;
        warn_row(in, detail);
        return write_reject(in, detail, err);
    }
    if (in->sink.event) {
        rc = in->sink.event(in->sink.ud, ev, &inserted, err);
        if (rc != TROVE_OK)
            return rc;
    }
    if (inserted)
        in->events_new++;
    else
        in->events_existing++;
    if (ev->market != TROVE_INGEST_NO_MARKET)
        in->mcount[ev->market].events++;
    in->rows_accepted++;
    return TROVE_OK;
}

/* ------------------------------------------------------------ presets */

static const char *const preset_names[] = {
    "movielens-100k", "movielens-latest", "online-retail", NULL
};

const char *const *trove_ingest_preset_names(void)
{
    return preset_names;
}

int trove_ingest_preset(trove_ingest *in, const char *name, const char *path,
                        trove_error *err)
{
    if (in->finished)
        return trove_error_set(err, TROVE_EINVAL, "ingest: session already finished");
    if (strcmp(name, "movielens-100k") == 0)
        return trove__preset_ml100k(in, path, err);
    if (strcmp(name, "movielens-latest") == 0)
        return trove__preset_mllatest(in, path, err);
    if (strcmp(name, "online-retail") == 0)
        return trove__preset_retail(in, path, err);
    return trove_error_set(err, TROVE_ENOTFOUND,
                           "unknown preset '%s' (known presets: movielens-100k, "
                           "movielens-latest, online-retail)", name);
}

/* ------------------------------------------------------------ row reader */

int trove__ingest_read_rows(trove_ingest *in, const char *path, char sep, int quotes,
                            int header, size_t ncols, int check_utf8,
                            trove__row_fn fn_header, trove__row_fn fn, void *ctx,
                            trove_error *err)
{
    trove__reader *rd = NULL;
    char *line, *copy;
    size_t len, nf;
    uint64_t rows = 0;
    const char *why = NULL;
    int rc, got;

    rc = trove__ingest_open(in, path, &rd, err);
    if (rc != TROVE_OK)
        goto done;
    if (header) {
        got = trove__reader_next(rd, &line, &len, err);
        if (got <= 0) {
            rc = got < 0 ? got : trove_error_set(err, TROVE_EEMPTY, "%s: empty file", path);
            goto done;
        }
        if (trove__split(line, len, sep, quotes, in->fields, TROVE__MAX_FIELDS, &nf,
                         &why) != 0) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:1: malformed header: %s", path, why);
            goto done;
        }
        if (nf > TROVE__MAX_FIELDS) {
            rc = trove_error_set(err, TROVE_EFORMAT, "%s:1: more than %d columns", path,
                                 TROVE__MAX_FIELDS);
            goto done;
        }
        if (ncols == 0)
            ncols = nf;
        if (fn_header) {
            rc = fn_header(ctx, in->fields, nf, err);
            if (rc != TROVE_OK)
                goto done;
        }
    }
    while ((got = trove__reader_next(rd, &line, &len, err)) > 0) {
        if (len == 0)
            continue;   /* blank lines carry no row */
        rows++;
        trove__ingest_row(in, path, trove__reader_lineno(rd), line, len);
        copy = trove__ingest_line_copy(in);
        if (copy == NULL) {
            rc = trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
            goto done;
        }
        if (trove__split(copy, len, sep, quotes, in->fields, TROVE__MAX_FIELDS, &nf,
                         &why) != 0)
            rc = trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "malformed row", err,
                                      "malformed row: %s", why);
        else if (ncols != 0 && nf != ncols)
            rc = trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "wrong column count", err,
                                      "expected %zu columns, found %zu", ncols, nf);
        else if (nf > TROVE__MAX_FIELDS)
            rc = trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "wrong column count", err,
                                      "more than %d columns", TROVE__MAX_FIELDS);
        else if (check_utf8 && !trove__utf8_valid(line, len))
            rc = trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "invalid UTF-8", err,
                                      "invalid UTF-8");
        else
            rc = fn(ctx, in->fields, nf, err);
        if (rc != TROVE_OK)
            goto done;
    }
    if (got < 0)
        rc = got;   /* the rows before the damage stay in the session */
    else
        rc = trove__ingest_need_rows(path, rows, err);
done:
    trove__reader_close(rd);
    return rc;
}
