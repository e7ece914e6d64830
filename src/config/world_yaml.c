/*
 * world_yaml.c - the simulator's world file (trove/sim.h, docs/simulator.md)
 * read with libyaml's document API. The config module is the one place that
 * includes <yaml.h>.
 *
 * Strict like the market files: every key is known, every value has the
 * right type and range, duplicates are refused, and an error names the node
 * as "file:line:column: message" (1-based). The "offers" section is read
 * before "markets" so that taste keys can be checked against the categories.
 */
#include "trove/sim.h"
#include "core/file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/yaml_util.h"

typedef struct wctx {
    const char *file;
    yaml_document_t *doc;
    trove_world *w;
    trove_error *err;
} wctx;

static int wfail(wctx *x, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wfail(wctx *x, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = trove__yaml_failv(x->err, x->file, n, fmt, ap);
    va_end(ap);
    return rc;
}

static int wnomem(wctx *x)
{
    return trove_error_set(x->err, TROVE_ENOMEM, "%s: out of memory", x->file);
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int want_scalar(wctx *x, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SCALAR_NODE)
        return wfail(x, n, "'%s' must be a scalar", key);
    return TROVE_OK;
}

static int get_u32(wctx *x, const yaml_node_t *n, const char *key, long min,
                   long max, uint32_t *out)
{
    char *end;
    long v;
    int st = want_scalar(x, n, key);
    if (st != TROVE_OK)
        return st;
    errno = 0;
    v = strtol(sval(n), &end, 10);
    if (sval(n)[0] == '\0' || *end != '\0' || errno != 0)
        return wfail(x, n, "'%s' must be an integer, got '%s'", key, sval(n));
    if (v < min || v > max)
        return wfail(x, n, "'%s' must be in [%ld, %ld], got %ld", key, min, max, v);
    *out = (uint32_t)v;
    return TROVE_OK;
}

static int get_double(wctx *x, const yaml_node_t *n, const char *key,
                      double min, double max, double *out)
{
    char *end;
    double v;
    int st = want_scalar(x, n, key);
    if (st != TROVE_OK)
        return st;
    errno = 0;
    v = strtod(sval(n), &end);
    if (sval(n)[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v))
        return wfail(x, n, "'%s' must be a number, got '%s'", key, sval(n));
    if (v < min || v > max)
        return wfail(x, n, "'%s' must be in [%g, %g], got %g", key, min, max, v);
    *out = v;
    return TROVE_OK;
}

static int get_string(wctx *x, const yaml_node_t *n, const char *key, size_t max,
                      char **out)
{
    int st = want_scalar(x, n, key);
    char *s;
    if (st != TROVE_OK)
        return st;
    if (sval(n)[0] == '\0' || strlen(sval(n)) > max)
        return wfail(x, n, "'%s' must be a non-empty string of at most %zu bytes",
                     key, max);
    s = trove_strdup(sval(n));
    if (s == NULL)
        return wnomem(x);
    trove_free(*out);
    *out = s;
    return TROVE_OK;
}

static int get_list(wctx *x, const yaml_node_t *n, const char *key, size_t max,
                    char ***out, size_t *n_out)
{
    size_t cnt;
    char **v;
    if (n->type != YAML_SEQUENCE_NODE)
        return wfail(x, n, "'%s' must be a list", key);
    cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt == 0 || cnt > max)
        return wfail(x, n, "'%s' must have 1 to %zu entries", key, max);
    v = trove_calloc(cnt, sizeof *v);
    if (v == NULL)
        return wnomem(x);
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, n->data.sequence.items.start[i]);
        int st;
        if ((st = get_string(x, e, key, 63, &v[i])) == TROVE_OK) {
            for (size_t j = 0; j < i; j++)
                if (strcmp(v[j], v[i]) == 0)
                    st = wfail(x, e, "'%s' lists '%s' twice", key, v[i]);
        }
        if (st != TROVE_OK) {
            for (size_t j = 0; j <= i; j++)
                trove_free(v[j]);
            trove_free(v);
            return st;
        }
    }
    for (size_t i = 0; i < *n_out; i++)
        trove_free((*out)[i]);
    trove_free(*out);
    *out = v;
    *n_out = cnt;
    return TROVE_OK;
}

typedef int (*pair_fn)(wctx *x, void *ud, const char *key, const yaml_node_t *k,
                       const yaml_node_t *v);

/* Walk a mapping; keys must be plain scalars, each once. */
static int walk(wctx *x, const yaml_node_t *m, const char *where, pair_fn fn,
                void *ud)
{
    yaml_node_pair_t *p;
    if (m->type != YAML_MAPPING_NODE)
        return wfail(x, m, "'%s' must be a mapping", where);
    for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        int st;
        if (k->type != YAML_SCALAR_NODE)
            return wfail(x, k, "keys in '%s' must be scalars", where);
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);
            if (k2->type == YAML_SCALAR_NODE && strcmp(sval(k2), sval(k)) == 0)
                return wfail(x, k, "duplicate key '%s' in '%s'", sval(k), where);
        }
        if ((st = fn(x, ud, sval(k), k, v)) != TROVE_OK)
            return st;
    }
    return TROVE_OK;
}

static int unknown(wctx *x, const yaml_node_t *k, const char *where)
{
    return wfail(x, k, "unknown key '%s' in '%s'", sval(k), where);
}

static int days_from_civil(int64_t y, int64_t m, int64_t d, int64_t *out)
{
    /* Howard Hinnant's days_from_civil. */
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = era * 146097 + doe - 719468;
    return 0;
}

static int world_pair(wctx *x, void *ud, const char *key, const yaml_node_t *k,
                      const yaml_node_t *v)
{
    trove_world *w = x->w;
    (void)ud;
    if (strcmp(key, "seed") == 0) {
        uint32_t s;
        int st = get_u32(x, v, key, 0, 2147483647L, &s);
        w->seed = s;
        return st;
    }
    if (strcmp(key, "start_date") == 0) {
        int y, mo, d, n = 0;
        int64_t days;
        int st = want_scalar(x, v, key);
        if (st != TROVE_OK)
            return st;
        if (sscanf(sval(v), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 ||
            sval(v)[n] != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31)
            return wfail(x, v, "'start_date' must be YYYY-MM-DD, got '%s'", sval(v));
        days_from_civil(y, mo, d, &days);
        w->start_ts = days * 86400;
        return TROVE_OK;
    }
    if (strcmp(key, "cycle_days") == 0)
        return get_u32(x, v, key, 1, 365, &w->cycle_days);
    if (strcmp(key, "history_days") == 0)
        return get_u32(x, v, key, 1, 3650, &w->history_days);
    if (strcmp(key, "history_redemptions") == 0)
        return get_u32(x, v, key, 0, 1000, &w->history_redemptions);
    return unknown(x, k, "world");
}

static int price_pair(wctx *x, void *ud, const char *key, const yaml_node_t *k,
                      const yaml_node_t *v)
{
    trove_world *w = x->w;
    (void)ud;
    if (strcmp(key, "min") == 0)
        return get_double(x, v, key, 0.01, 1e9, &w->price_min);
    if (strcmp(key, "max") == 0)
        return get_double(x, v, key, 0.01, 1e9, &w->price_max);
    return unknown(x, k, "price");
}

static int offers_pair(wctx *x, void *ud, const char *key, const yaml_node_t *k,
                       const yaml_node_t *v)
{
    trove_world *w = x->w;
    (void)ud;
    if (strcmp(key, "categories") == 0) {
        int st = get_list(x, v, key, TROVE_WORLD_MAX_CATEGORIES, &w->categories,
                          &w->n_categories);
        if (st == TROVE_OK && w->n_categories < 2)
            st = wfail(x, v, "'categories' needs at least 2 entries");
        return st;
    }
    if (strcmp(key, "brands") == 0)
        return get_list(x, v, key, 1024, &w->brands, &w->n_brands);
    if (strcmp(key, "initial") == 0)
        return get_u32(x, v, key, 1, 1000000, &w->initial_offers);
    if (strcmp(key, "new_per_cycle") == 0)
        return get_u32(x, v, key, 1, 100000, &w->new_per_cycle);
    if (strcmp(key, "price") == 0)
        return walk(x, v, "price", price_pair, NULL);
    return unknown(x, k, "offers");
}

static int behaviour_pair(wctx *x, void *ud, const char *key,
                          const yaml_node_t *k, const yaml_node_t *v)
{
    trove_world *w = x->w;
    (void)ud;
    if (strcmp(key, "base_logit") == 0)
        return get_double(x, v, key, -20, 20, &w->base_logit);
    if (strcmp(key, "taste_noise") == 0)
        return get_double(x, v, key, 0, 10, &w->taste_noise);
    if (strcmp(key, "quality_sd") == 0)
        return get_double(x, v, key, 0, 10, &w->quality_sd);
    if (strcmp(key, "pair_noise") == 0)
        return get_double(x, v, key, 0, 10, &w->pair_noise);
    if (strcmp(key, "local_quality_sd") == 0)
        return get_double(x, v, key, 0, 10, &w->local_quality_sd);
    return unknown(x, k, "behaviour");
}

static int taste_pair(wctx *x, void *ud, const char *key, const yaml_node_t *k,
                      const yaml_node_t *v)
{
    trove_world_market *m = ud;
    for (size_t c = 0; c < x->w->n_categories; c++)
        if (strcmp(x->w->categories[c], key) == 0)
            return get_double(x, v, key, -20, 20, &m->taste[c]);
    return wfail(x, k, "taste for unknown category '%s'", key);
}

static int market_pair(wctx *x, void *ud, const char *key, const yaml_node_t *k,
                       const yaml_node_t *v)
{
    trove_world_market *m = ud;
    if (strcmp(key, "code") == 0)
        return get_string(x, v, key, 63, &m->code);
    if (strcmp(key, "name") == 0)
        return get_string(x, v, key, 255, &m->name);
    if (strcmp(key, "timezone") == 0)
        return get_string(x, v, key, 63, &m->timezone);
    if (strcmp(key, "users") == 0)
        return get_u32(x, v, key, 1, 10000000, &m->users);
    if (strcmp(key, "cities") == 0)
        return get_list(x, v, key, 1024, &m->cities, &m->n_cities);
    if (strcmp(key, "languages") == 0)
        return get_list(x, v, key, 64, &m->languages, &m->n_languages);
    if (strcmp(key, "taste") == 0)
        return walk(x, v, "taste", taste_pair, m);
    if (strcmp(key, "segment_taste_sd") == 0)
        return get_double(x, v, key, 0, 10, &m->segment_taste_sd);
    if (strcmp(key, "segment_feature") == 0) {
        static const char *const names[] = {"none", "age_band", "city", "language"};
        int st = want_scalar(x, v, key);
        if (st != TROVE_OK)
            return st;
        for (int i = 0; i < 4; i++)
            if (strcmp(sval(v), names[i]) == 0) {
                m->segment_feature = i;
                return TROVE_OK;
            }
        return wfail(x, v, "'segment_feature' must be none, age_band, city or "
                     "language, got '%s'", sval(v));
    }
    return unknown(x, k, "markets");
}

static int parse_markets(wctx *x, const yaml_node_t *v)
{
    trove_world *w = x->w;
    size_t cnt;
    if (v->type != YAML_SEQUENCE_NODE)
        return wfail(x, v, "'markets' must be a list");
    cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (cnt == 0 || cnt > TROVE_WORLD_MAX_MARKETS)
        return wfail(x, v, "'markets' must have 1 to %d entries", TROVE_WORLD_MAX_MARKETS);
    w->markets = trove_calloc(cnt, sizeof *w->markets);
    if (w->markets == NULL)
        return wnomem(x);
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *e = yaml_document_get_node(x->doc, v->data.sequence.items.start[i]);
        trove_world_market *m = &w->markets[i];
        int st;
        w->n_markets = i + 1;
        if ((st = walk(x, e, "markets", market_pair, m)) != TROVE_OK)
            return st;
        if (m->code == NULL)
            return wfail(x, e, "market without 'code'");
        if (m->users == 0)
            return wfail(x, e, "market '%s' without 'users'", m->code);
        for (size_t j = 0; j < i; j++)
            if (strcmp(w->markets[j].code, m->code) == 0)
                return wfail(x, e, "market '%s' appears twice", m->code);
        if (m->name == NULL && (m->name = trove_strdup(m->code)) == NULL)
            return wnomem(x);
        if (m->timezone == NULL && (m->timezone = trove_strdup("UTC")) == NULL)
            return wnomem(x);
        if (m->cities == NULL) {
            m->cities = trove_calloc(1, sizeof *m->cities);
            if (m->cities == NULL || (m->cities[0] = trove_strdup(m->code)) == NULL)
                return wnomem(x);
            m->n_cities = 1;
        }
        if (m->languages == NULL) {
            m->languages = trove_calloc(1, sizeof *m->languages);
            if (m->languages == NULL || (m->languages[0] = trove_strdup("en")) == NULL)
                return wnomem(x);
            m->n_languages = 1;
        }
    }
    return TROVE_OK;
}

static const yaml_node_t *top_find(wctx *x, const yaml_node_t *root,
                                   const char *key)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(sval(k), key) == 0)
            return yaml_document_get_node(x->doc, p->value);
    }
    return NULL;
}

static int top_check(wctx *x, void *ud, const char *key, const yaml_node_t *k,
                     const yaml_node_t *v)
{
    (void)ud;
    (void)v;
    if (strcmp(key, "world") == 0 || strcmp(key, "offers") == 0 ||
        strcmp(key, "behaviour") == 0 || strcmp(key, "markets") == 0)
        return TROVE_OK;
    return unknown(x, k, "the world file");
}

void trove_world_free(trove_world *w)
{
    if (w == NULL)
        return;
    trove_free(w->path);
    for (size_t i = 0; i < w->n_categories; i++)
        trove_free(w->categories[i]);
    trove_free(w->categories);
    for (size_t i = 0; i < w->n_brands; i++)
        trove_free(w->brands[i]);
    trove_free(w->brands);
    for (size_t i = 0; i < w->n_markets; i++) {
        trove_world_market *m = &w->markets[i];
        trove_free(m->code);
        trove_free(m->name);
        trove_free(m->timezone);
        for (size_t j = 0; j < m->n_cities; j++)
            trove_free(m->cities[j]);
        trove_free(m->cities);
        for (size_t j = 0; j < m->n_languages; j++)
            trove_free(m->languages[j]);
        trove_free(m->languages);
    }
    trove_free(w->markets);
    trove_free(w);
}

int trove_world_parse(const char *text, size_t len, const char *name,
                      trove_world **out, trove_error *err)
{
    yaml_document_t doc;
    int have_doc = 0, status;
    trove_world *w = NULL;
    const yaml_node_t *root, *sec;
    wctx x;

    if (text == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "world: invalid arguments");
    if (name == NULL)
        name = "<string>";
    w = trove_calloc(1, sizeof *w);
    if (w == NULL || (w->path = trove_strdup(name)) == NULL) {
        status = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    w->seed = 1;
    w->cycle_days = 7;
    w->history_days = 56;
    w->history_redemptions = 6;
    w->initial_offers = 40;
    w->new_per_cycle = 4;
    w->price_min = 1.5;
    w->price_max = 15.0;
    w->base_logit = -2.5;
    w->taste_noise = 0.8;
    w->quality_sd = 0.5;
    w->pair_noise = 0.3;

    if ((status = trove__yaml_load(text, len, name, &doc, err)) != TROVE_OK)
        goto fail;
    have_doc = 1;
    x.file = name;
    x.doc = &doc;
    x.w = w;
    x.err = err;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        status = trove_error_set(err, TROVE_EFORMAT, "%s:1:1: empty world file", name);
        goto fail;
    }
    if ((status = walk(&x, root, "the world file", top_check, NULL)) != TROVE_OK)
        goto fail;
    if ((sec = top_find(&x, root, "world")) != NULL &&
        (status = walk(&x, sec, "world", world_pair, NULL)) != TROVE_OK)
        goto fail;
    if ((sec = top_find(&x, root, "offers")) == NULL) {
        status = wfail(&x, root, "missing section 'offers'");
        goto fail;
    }
    if ((status = walk(&x, sec, "offers", offers_pair, NULL)) != TROVE_OK)
        goto fail;
    if (w->categories == NULL) {
        status = wfail(&x, sec, "'offers' needs 'categories'");
        goto fail;
    }
    if (w->price_min > w->price_max) {
        status = wfail(&x, sec, "price min %g is above max %g", w->price_min,
                       w->price_max);
        goto fail;
    }
    if (w->brands == NULL) {
        w->brands = trove_calloc(1, sizeof *w->brands);
        if (w->brands == NULL || (w->brands[0] = trove_strdup("house")) == NULL) {
            status = wnomem(&x);
            goto fail;
        }
        w->n_brands = 1;
    }
    if ((sec = top_find(&x, root, "behaviour")) != NULL &&
        (status = walk(&x, sec, "behaviour", behaviour_pair, NULL)) != TROVE_OK)
        goto fail;
    if ((sec = top_find(&x, root, "markets")) == NULL) {
        status = wfail(&x, root, "missing section 'markets'");
        goto fail;
    }
    if ((status = parse_markets(&x, sec)) != TROVE_OK)
        goto fail;
    *out = w;
    w = NULL;
    status = TROVE_OK;
fail:
    if (have_doc)
        yaml_document_delete(&doc);
    trove_world_free(w);
    return status;
}

int trove_world_load(const char *path, trove_world **out, trove_error *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    int status;

    if (path == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "world: invalid arguments");
    status = trove__file_read_all(path, (size_t)64 << 20, &text, &len, err);
    if (status != TROVE_OK)
        return status;
    status = trove_world_parse((const char *)text, len, path, out, err);
    trove_free(text);
    return status;
}
