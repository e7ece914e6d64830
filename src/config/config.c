/*
 * config.c - market configuration loader: markets/<code>.yaml into a
 * trove_market_config. This is the only file of trove that includes
 * <yaml.h> (libyaml).
 *
 * The file is loaded into libyaml's node tree (yaml_parser_load) and walked
 * against fixed key tables, one per mapping. Invariants:
 *   - Every key of every mapping is known to its table (or, for the
 *     hyperparameters of a family other than "hybrid", free); unknown and
 *     duplicate keys, values of the wrong type and values out of range stop
 *     the load with TROVE_EFORMAT and "file:line:column: message" (1-based,
 *     the place of the offending node). Unknown keys get a "did you mean"
 *     from the table when one is within a small edit distance.
 *   - Nothing is returned unless the whole file is valid; on failure every
 *     allocation is undone.
 *   - The config hash is computed over a canonical text of the parsed values
 *     (fixed field order, hyperparameters sorted by key, numbers as %.17g),
 *     never over the file's bytes.
 * Our own memory goes through trove_malloc; libyaml allocates with the C
 * library's allocator and frees everything in yaml_document_delete.
 */
#include "trove/config.h"
#include "core/file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/yaml_util.h"

#define DEFAULT_PREDICTIONS 10
#define DEFAULT_TEST_SHARE 0.9
#define DEFAULT_KEEP_VERSIONS 5
#define MAX_LIST 1024
#define TROVE__CONFIG_MAX_PARAMS 64

typedef struct parse_ctx {
    const char *file;
    yaml_document_t *doc;
    trove_market_config *c;
    trove_error *err;
} parse_ctx;

/* "file:line:col: message"; returns TROVE_EFORMAT. */
static int node_fail(parse_ctx *x, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int node_fail(parse_ctx *x, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = trove__yaml_failv(x->err, x->file, node, fmt, ap);
    va_end(ap);
    return rc;
}

static int nomem(parse_ctx *x)
{
    return trove_error_set(x->err, TROVE_ENOMEM, "%s: out of memory", x->file);
}

/* ---------------------------------------------------------------- scalars */

static const char *scalar(const yaml_node_t *n)
{
    return trove__yaml_scalar(n);
}

static int is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}


static int parse_int_text(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_double_text(const char *s, double *out)
{
    char *end;
    double v;
    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    /* Only decimal numbers: no hex floats, no "inf"/"nan" spelled out. */
    for (const char *p = s; *p; p++)
        if (!(isdigit((unsigned char)*p) || *p == '.' || *p == 'e' ||
              *p == 'E' || *p == '-' || *p == '+'))
            return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* The type a plain YAML scalar reads as (core schema, restricted). */
static int scalar_type(const yaml_node_t *n, int64_t *i, double *d)
{
    const char *s = scalar(n);
    if (!is_plain(n))
        return TROVE_PARAM_STRING;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *i = s[0] == 't';
        *d = (double)*i;
        return TROVE_PARAM_BOOL;
    }
    if (parse_int_text(s, i) == 0) {
        *d = (double)*i;
        return TROVE_PARAM_INT;
    }
    if (parse_double_text(s, d) == 0)
        return TROVE_PARAM_DOUBLE;
    return TROVE_PARAM_STRING;
}

static int want_scalar(parse_ctx *x, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SCALAR_NODE)
        return node_fail(x, n, "'%s' must be a scalar, not %s", key, trove__yaml_kind(n));
    return TROVE_OK;
}

static int get_int(parse_ctx *x, const yaml_node_t *n, const char *key,
                   int64_t min, int64_t max, int64_t *out)
{
    int64_t i = 0;
    double d = 0;
    int rc = want_scalar(x, n, key);
    if (rc != TROVE_OK)
        return rc;
    if (scalar_type(n, &i, &d) != TROVE_PARAM_INT)
        return node_fail(x, n, "'%s' must be an integer, not '%s'", key, scalar(n));
    if (i < min || i > max)
        return node_fail(x, n, "'%s' is %lld, must be in [%lld, %lld]", key,
                         (long long)i, (long long)min, (long long)max);
    *out = i;
    return TROVE_OK;
}

static int get_number(parse_ctx *x, const yaml_node_t *n, const char *key,
                      double *out)
{
    int64_t i = 0;
    double d = 0;
    int t, rc = want_scalar(x, n, key);
    if (rc != TROVE_OK)
        return rc;
    t = scalar_type(n, &i, &d);
    if (t != TROVE_PARAM_INT && t != TROVE_PARAM_DOUBLE)
        return node_fail(x, n, "'%s' must be a number, not '%s'", key, scalar(n));
    *out = d;
    return TROVE_OK;
}

static int get_bool(parse_ctx *x, const yaml_node_t *n, const char *key,
                    int *out)
{
    int64_t i = 0;
    double d = 0;
    int rc = want_scalar(x, n, key);
    if (rc != TROVE_OK)
        return rc;
    if (scalar_type(n, &i, &d) != TROVE_PARAM_BOOL)
        return node_fail(x, n, "'%s' must be true or false, not '%s'", key,
                         scalar(n));
    *out = (int)i;
    return TROVE_OK;
}

/* A non-empty string of at most 255 bytes without control characters. */
static int get_string(parse_ctx *x, const yaml_node_t *n, const char *key,
                      char **out)
{
    const char *s;
    char *copy;
    int rc = want_scalar(x, n, key);
    if (rc != TROVE_OK)
        return rc;
    s = scalar(n);
    if (s[0] == '\0' || (is_plain(n) && strcmp(s, "~") == 0) ||
        (is_plain(n) && strcmp(s, "null") == 0))
        return node_fail(x, n, "'%s' must not be empty", key);
    if (strlen(s) > 255)
        return node_fail(x, n, "'%s' is longer than 255 bytes", key);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return node_fail(x, n, "'%s' contains a control character", key);
    copy = trove_strdup(s);
    if (copy == NULL)
        return nomem(x);
    trove_free(*out);
    *out = copy;
    return TROVE_OK;
}

/* ------------------------------------------------------ "did you mean" */

/* Optimal string alignment distance (Levenshtein plus transposition of
 * adjacent characters, so "wrap" is one edit from "warp"). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[64][64];
    if (la >= 64 || lb >= 64)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

static const char *suggest(const char *key, const char *const *known)
{
    const char *best = NULL;
    size_t best_d = 3;   /* at most 2 edits, and less than half the key */
    for (size_t k = 0; known[k] != NULL; k++) {
        size_t d = edit_distance(key, known[k]);
        if (d < best_d && 2 * d < strlen(known[k])) {
            best_d = d;
            best = known[k];
        }
    }
    return best;
}

static int unknown_key(parse_ctx *x, const yaml_node_t *k, const char *where,
                       const char *const *known)
{
    const char *s = suggest(scalar(k), known);
    if (s != NULL)
        return node_fail(x, k, "unknown key '%s'%s%s (did you mean '%s'?)",
                         scalar(k), where[0] ? " in " : "", where, s);
    return node_fail(x, k, "unknown key '%s'%s%s", scalar(k),
                     where[0] ? " in " : "", where);
}

/* ---------------------------------------------------------- mapping walk */

typedef int (*pair_fn)(parse_ctx *x, const char *key, const yaml_node_t *k,
                       const yaml_node_t *v);

/* Walk mapping `m` (named `where` in messages): keys must be plain
 * non-empty scalars, each at most once; fn handles each pair. */
static int walk_mapping(parse_ctx *x, const yaml_node_t *m, const char *where,
                        pair_fn fn)
{
    yaml_node_pair_t *p, *q;
    if (m->type != YAML_MAPPING_NODE)
        return node_fail(x, m, "'%s' must be a mapping, not %s", where,
                         trove__yaml_kind(m));
    for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        int rc;
        if (k == NULL || v == NULL)
            return trove_error_set(x->err, TROVE_EFORMAT, "%s: damaged document",
                                   x->file);
        if (k->type != YAML_SCALAR_NODE || scalar(k)[0] == '\0')
            return node_fail(x, k, "keys must be plain names");
        for (q = m->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE &&
                strcmp(scalar(k2), scalar(k)) == 0)
                return node_fail(x, k, "duplicate key '%s' (first at line %zu)",
                                 scalar(k), k2->start_mark.line + 1);
        }
        if ((rc = fn(x, scalar(k), k, v)) != TROVE_OK)
            return rc;
    }
    return TROVE_OK;
}

/* A list of feature field names, each once. */
static int get_name_list(parse_ctx *x, const yaml_node_t *n, const char *key,
                         char ***out, size_t *n_out)
{
    yaml_node_item_t *it;
    size_t count, k = 0;
    char **list;
    int rc = TROVE_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return node_fail(x, n, "'%s' must be a list, not %s", key, trove__yaml_kind(n));
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count > MAX_LIST)
        return node_fail(x, n, "'%s' has more than %d entries", key, MAX_LIST);
    list = trove_calloc(count ? count : 1, sizeof *list);
    if (list == NULL)
        return nomem(x);
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, k++) {
        const yaml_node_t *e = yaml_document_get_node(x->doc, *it);
        if (e == NULL) {
            rc = trove_error_set(x->err, TROVE_EFORMAT, "%s: damaged document",
                                 x->file);
            goto fail;
        }
        if ((rc = get_string(x, e, key, &list[k])) != TROVE_OK)
            goto fail;
        for (size_t j = 0; j < k; j++)
            if (strcmp(list[j], list[k]) == 0) {
                rc = node_fail(x, e, "'%s' lists '%s' twice", key, list[k]);
                goto fail;
            }
    }
    for (size_t j = 0; j < *n_out; j++)
        trove_free((*out)[j]);
    trove_free(*out);
    *out = list;
    *n_out = count;
    return TROVE_OK;
fail:
    for (size_t j = 0; j < count; j++)
        trove_free(list[j]);
    trove_free(list);
    return rc;
}

/* ---------------------------------------------------------------- market */

static const char *const market_keys[] = {"code", "name", "timezone", NULL};

static int check_timezone(parse_ctx *x, const yaml_node_t *v)
{
    const char *s = scalar(v);
    if (strcmp(s, "UTC") == 0)
        return TROVE_OK;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '/' || *p == '_' ||
              *p == '-' || *p == '+'))
            return node_fail(x, v, "'timezone' '%s' is not an IANA time zone "
                             "name (e.g. Europe/Berlin)", s);
    if (strchr(s, '/') == NULL || s[0] == '/' || s[strlen(s) - 1] == '/')
        return node_fail(x, v, "'timezone' '%s' is not an IANA time zone name "
                         "(e.g. Europe/Berlin)", s);
    return TROVE_OK;
}

static int market_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                       const yaml_node_t *v)
{
    trove_market_config *c = x->c;
    int rc;
    if (strcmp(key, "code") == 0) {
        if ((rc = get_string(x, v, "code", &c->code)) != TROVE_OK)
            return rc;
        if (strlen(c->code) > 63)
            return node_fail(x, v, "'code' is longer than 63 bytes");
        return TROVE_OK;
    }
    if (strcmp(key, "name") == 0)
        return get_string(x, v, "name", &c->name);
    if (strcmp(key, "timezone") == 0) {
        if ((rc = want_scalar(x, v, "timezone")) != TROVE_OK ||
            (rc = check_timezone(x, v)) != TROVE_OK)
            return rc;
        return get_string(x, v, "timezone", &c->timezone);
    }
    return unknown_key(x, k, "market", market_keys);
}

/* ---------------------------------------------------------------- window */

static const char *const window_keys[] = {"start_date", "last_days", NULL};

/* Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int parse_date(const char *s, int64_t *ts)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, n = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
        n != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return -1;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    *ts = days_from_civil(y, m, d) * 86400;
    return 0;
}

static int window_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                       const yaml_node_t *v)
{
    trove_market_config *c = x->c;
    int64_t i;
    int rc;
    if (strcmp(key, "start_date") == 0) {
        if ((rc = get_string(x, v, "start_date", &c->window_start_date)) != TROVE_OK)
            return rc;
        if (parse_date(c->window_start_date, &c->window_start_ts) != 0)
            return node_fail(x, v, "'start_date' '%s' is not a date YYYY-MM-DD "
                             "(1970 or later)", c->window_start_date);
        return TROVE_OK;
    }
    if (strcmp(key, "last_days") == 0) {
        if ((rc = get_int(x, v, "last_days", 1, 36500, &i)) != TROVE_OK)
            return rc;
        c->window_last_days = (int)i;
        return TROVE_OK;
    }
    return unknown_key(x, k, "window", window_keys);
}

/* -------------------------------------------------------------- features */

static const char *const feature_keys[] = {"user", "item", NULL};

static int features_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                         const yaml_node_t *v)
{
    trove_market_config *c = x->c;
    if (strcmp(key, "user") == 0)
        return get_name_list(x, v, "user", &c->user_features, &c->n_user_features);
    if (strcmp(key, "item") == 0)
        return get_name_list(x, v, "item", &c->item_features, &c->n_item_features);
    return unknown_key(x, k, "features", feature_keys);
}

/* ----------------------------------------------------------------- model */

/* LightFM's names (the hybrid model's settings), with their types and
 * ranges; enforced for every family when the key appears, and the only
 * keys the "hybrid" family accepts. */
typedef struct param_spec {
    const char *key;
    int type;                    /* TROVE_PARAM_INT, _DOUBLE or _STRING */
    double min, max;             /* numbers: inclusive range */
    int open_min;                /* min itself excluded */
    const char *const *choices;  /* strings: allowed values */
} param_spec;

static const char *const losses[] = {"logistic", "bpr", "warp", "warp-kos", NULL};
static const char *const schedules[] = {"adagrad", "adagrad-rowwise", "adadelta", NULL};

static const param_spec hybrid_params[] = {
    {"no_components", TROVE_PARAM_INT, 1, 4096, 0, NULL},
    {"loss", TROVE_PARAM_STRING, 0, 0, 0, losses},
    {"learning_rate", TROVE_PARAM_DOUBLE, 0, 10, 1, NULL},
    {"item_alpha", TROVE_PARAM_DOUBLE, 0, 1e6, 0, NULL},
    {"user_alpha", TROVE_PARAM_DOUBLE, 0, 1e6, 0, NULL},
    {"epochs", TROVE_PARAM_INT, 1, 100000, 0, NULL},
    {"max_sampled", TROVE_PARAM_INT, 1, 100000, 0, NULL},
    {"learning_schedule", TROVE_PARAM_STRING, 0, 0, 0, schedules},
    {"rho", TROVE_PARAM_DOUBLE, 0, 1, 1, NULL},
    {"epsilon", TROVE_PARAM_DOUBLE, 0, 1, 1, NULL},
    {"k", TROVE_PARAM_INT, 1, 1000, 0, NULL},
    {"n", TROVE_PARAM_INT, 1, 1000, 0, NULL},
    {"random_state", TROVE_PARAM_INT, 0, 9007199254740991.0, 0, NULL},
    {"num_threads", TROVE_PARAM_INT, 1, 1024, 0, NULL},
};
#define N_HYBRID_PARAMS (sizeof hybrid_params / sizeof hybrid_params[0])

static const char *const hybrid_param_keys[] = {
    "no_components", "loss", "learning_rate", "item_alpha", "user_alpha",
    "epochs", "max_sampled", "learning_schedule", "rho", "epsilon", "k", "n",
    "random_state", "num_threads", NULL
};

static const param_spec *find_spec(const char *key)
{
    for (size_t i = 0; i < N_HYBRID_PARAMS; i++)
        if (strcmp(hybrid_params[i].key, key) == 0)
            return &hybrid_params[i];
    return NULL;
}

static int check_spec(parse_ctx *x, const param_spec *sp, const yaml_node_t *v,
                      const trove_param *p)
{
    if (sp->type == TROVE_PARAM_STRING) {
        if (p->type != TROVE_PARAM_STRING)
            return node_fail(x, v, "'%s' must be a name, not '%s'", sp->key, p->s);
        for (size_t i = 0; sp->choices[i]; i++)
            if (strcmp(sp->choices[i], p->s) == 0)
                return TROVE_OK;
        {
            const char *s = suggest(p->s, sp->choices);
            char list[128];
            size_t n = 0;
            list[0] = '\0';
            for (size_t i = 0; sp->choices[i] && n < sizeof list; i++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
                                      i ? ", " : "", sp->choices[i]);
            if (s != NULL)
                return node_fail(x, v, "'%s' is '%s', must be one of %s (did "
                                 "you mean '%s'?)", sp->key, p->s, list, s);
            return node_fail(x, v, "'%s' is '%s', must be one of %s", sp->key,
                             p->s, list);
        }
    }
    if (sp->type == TROVE_PARAM_INT && p->type != TROVE_PARAM_INT)
        return node_fail(x, v, "'%s' must be an integer, not '%s'", sp->key, p->s);
    if (sp->type == TROVE_PARAM_DOUBLE && p->type != TROVE_PARAM_INT &&
        p->type != TROVE_PARAM_DOUBLE)
        return node_fail(x, v, "'%s' must be a number, not '%s'", sp->key, p->s);
    if ((sp->open_min ? p->d <= sp->min : p->d < sp->min) || p->d > sp->max)
        return node_fail(x, v, "'%s' is %s, must be in %s%.17g, %.17g]", sp->key,
                         p->s, sp->open_min ? "(" : "[", sp->min, sp->max);
    return TROVE_OK;
}

static int params_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                       const yaml_node_t *v)
{
    trove_market_config *c = x->c;
    const param_spec *sp = find_spec(key);
    trove_param p, *grown;
    int rc, strict = c->model_family == NULL ||
                     strcmp(c->model_family, "hybrid") == 0;

    if (sp == NULL && strict)
        return unknown_key(x, k, "model.params (family hybrid)", hybrid_param_keys);
    if (v->type != YAML_SCALAR_NODE)
        return node_fail(x, v, "'%s' must be a scalar, not %s", key, trove__yaml_kind(v));
    if (c->n_model_params >= TROVE__CONFIG_MAX_PARAMS)
        return node_fail(x, k, "more than %d model parameters",
                         TROVE__CONFIG_MAX_PARAMS);
    memset(&p, 0, sizeof p);
    p.type = scalar_type(v, &p.i, &p.d);
    p.s = (char *)scalar(v);
    if (sp != NULL && (rc = check_spec(x, sp, v, &p)) != TROVE_OK)
        return rc;
    /* A whole number written for a real-valued setting stays an INT; the
     * double view `d` serves both. */
    p.line = (int)v->start_mark.line + 1;
    p.column = (int)v->start_mark.column + 1;
    grown = trove_realloc(c->model_params, (c->n_model_params + 1) * sizeof *grown);
    if (grown == NULL)
        return nomem(x);
    c->model_params = grown;
    p.key = trove_strdup(key);
    p.s = trove_strdup(scalar(v));
    if (p.key == NULL || p.s == NULL) {
        trove_free(p.key);
        trove_free(p.s);
        return nomem(x);
    }
    c->model_params[c->n_model_params++] = p;
    return TROVE_OK;
}

static const char *const model_keys[] = {"family", "params", NULL};

static int check_family(parse_ctx *x, const yaml_node_t *v, const char *s)
{
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
              *p == '-' || *p == '_'))
            return node_fail(x, v, "'family' '%s' must be a lower-case name "
                             "(hybrid, ials, ease, popularity, ...)", s);
    return TROVE_OK;
}

/* The family is read before the parameters whatever the key order, since
 * it decides how strict the parameters are. */
static int parse_model(parse_ctx *x, const yaml_node_t *m)
{
    yaml_node_pair_t *p;
    const yaml_node_t *params = NULL;
    int rc;
    if (m->type != YAML_MAPPING_NODE)
        return node_fail(x, m, "'model' must be a mapping, not %s", trove__yaml_kind(m));
    for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (k == NULL || v == NULL)
            return trove_error_set(x->err, TROVE_EFORMAT, "%s: damaged document",
                                   x->file);
        if (k->type != YAML_SCALAR_NODE)
            return node_fail(x, k, "keys must be plain names");
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE &&
                strcmp(scalar(k2), scalar(k)) == 0)
                return node_fail(x, k, "duplicate key '%s' (first at line %zu)",
                                 scalar(k), k2->start_mark.line + 1);
        }
        if (strcmp(scalar(k), "family") == 0) {
            if ((rc = get_string(x, v, "family", &x->c->model_family)) != TROVE_OK ||
                (rc = check_family(x, v, x->c->model_family)) != TROVE_OK)
                return rc;
        } else if (strcmp(scalar(k), "params") == 0) {
            params = v;
        } else {
            return unknown_key(x, k, "model", model_keys);
        }
    }
    if (params != NULL)
        return walk_mapping(x, params, "model.params", params_pair);
    return TROVE_OK;
}

/* ------------------------------------------------------------ assignment */

static const char *const assignment_keys[] = {"number_of_predictions",
                                              "new_offer_exposure", NULL};

static int assignment_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                           const yaml_node_t *v)
{
    trove_market_config *c = x->c;
    int64_t i;
    int rc;
    if (strcmp(key, "number_of_predictions") == 0) {
        if ((rc = get_int(x, v, key, 1, 1000, &i)) != TROVE_OK)
            return rc;
        c->number_of_predictions = (int)i;
        return TROVE_OK;
    }
    if (strcmp(key, "new_offer_exposure") == 0) {
        if ((rc = get_int(x, v, key, 0, 1000, &i)) != TROVE_OK)
            return rc;
        c->new_offer_exposure = (int)i;
        return TROVE_OK;
    }
    return unknown_key(x, k, "assignment", assignment_keys);
}

/* ------------------------------------------------------------ experiment */

static const char *const experiment_keys[] = {"test_share", "control_policy",
                                              "salt", NULL};
static const char *const policies[] = {"random", "popularity", NULL};

static int experiment_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                           const yaml_node_t *v)
{
    trove_market_config *c = x->c;
    int rc;
    if (strcmp(key, "test_share") == 0) {
        double d;
        if ((rc = get_number(x, v, key, &d)) != TROVE_OK)
            return rc;
        if (d < 0 || d > 1)
            return node_fail(x, v, "'test_share' is %s, must be in [0, 1]",
                             scalar(v));
        c->test_share = d;
        return TROVE_OK;
    }
    if (strcmp(key, "control_policy") == 0) {
        const char *s, *hint;
        if ((rc = want_scalar(x, v, key)) != TROVE_OK)
            return rc;
        s = scalar(v);
        if (strcmp(s, "random") == 0)
            c->control_policy = TROVE_CONTROL_RANDOM;
        else if (strcmp(s, "popularity") == 0)
            c->control_policy = TROVE_CONTROL_POPULARITY;
        else if ((hint = suggest(s, policies)) != NULL)
            return node_fail(x, v, "'control_policy' is '%s', must be random "
                             "or popularity (did you mean '%s'?)", s, hint);
        else
            return node_fail(x, v, "'control_policy' is '%s', must be random "
                             "or popularity", s);
        return TROVE_OK;
    }
    if (strcmp(key, "salt") == 0)
        return get_string(x, v, key, &c->salt);
    return unknown_key(x, k, "experiment", experiment_keys);
}

/* -------------------------------------------------------------- registry */

static const char *const registry_keys[] = {"keep_versions", NULL};

static int registry_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                         const yaml_node_t *v)
{
    int64_t i;
    int rc;
    if (strcmp(key, "keep_versions") == 0) {
        if ((rc = get_int(x, v, key, 1, 1000, &i)) != TROVE_OK)
            return rc;
        x->c->keep_versions = (int)i;
        return TROVE_OK;
    }
    return unknown_key(x, k, "registry", registry_keys);
}

/* ----------------------------------------------------------------- rules */

static const char *const eligibility_keys[] = {
    "require_active", "exclude_blocked", "respect_dates", "price_feature",
    "min_price", "max_price", NULL
};

static int eligibility_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                            const yaml_node_t *v)
{
    trove_market_rules *r = &x->c->rules;
    if (strcmp(key, "require_active") == 0)
        return get_bool(x, v, key, &r->require_active);
    if (strcmp(key, "exclude_blocked") == 0)
        return get_bool(x, v, key, &r->exclude_blocked);
    if (strcmp(key, "respect_dates") == 0)
        return get_bool(x, v, key, &r->respect_dates);
    if (strcmp(key, "price_feature") == 0)
        return get_string(x, v, key, &r->price_feature);
    if (strcmp(key, "min_price") == 0)
        return get_number(x, v, key, &r->min_price);
    if (strcmp(key, "max_price") == 0)
        return get_number(x, v, key, &r->max_price);
    return unknown_key(x, k, "rules.eligibility", eligibility_keys);
}

static const char *const rules_keys[] = {"eligibility", NULL};

static int rules_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                      const yaml_node_t *v)
{
    if (strcmp(key, "eligibility") == 0)
        return walk_mapping(x, v, "rules.eligibility", eligibility_pair);
    return unknown_key(x, k, "rules", rules_keys);
}

/* ------------------------------------------------------------- top level */

static const char *const top_keys[] = {"market", "window", "features", "model",
                                       "assignment", "experiment", "registry",
                                       "rules", NULL};

static int top_pair(parse_ctx *x, const char *key, const yaml_node_t *k,
                    const yaml_node_t *v)
{
    if (strcmp(key, "market") == 0)
        return walk_mapping(x, v, "market", market_pair);
    if (strcmp(key, "window") == 0) {
        int rc = walk_mapping(x, v, "window", window_pair);
        if (rc == TROVE_OK && x->c->window_start_date && x->c->window_last_days)
            return node_fail(x, v, "'window' takes start_date or last_days, "
                             "not both");
        return rc;
    }
    if (strcmp(key, "features") == 0)
        return walk_mapping(x, v, "features", features_pair);
    if (strcmp(key, "model") == 0)
        return parse_model(x, v);
    if (strcmp(key, "assignment") == 0)
        return walk_mapping(x, v, "assignment", assignment_pair);
    if (strcmp(key, "experiment") == 0)
        return walk_mapping(x, v, "experiment", experiment_pair);
    if (strcmp(key, "registry") == 0)
        return walk_mapping(x, v, "registry", registry_pair);
    if (strcmp(key, "rules") == 0)
        return walk_mapping(x, v, "rules", rules_pair);
    return unknown_key(x, k, "", top_keys);
}

/* Defaults for what the file left out, and checks across sections. */
static int finish(parse_ctx *x, const yaml_node_t *root)
{
    trove_market_config *c = x->c;
    if (c->code == NULL)
        return node_fail(x, root, "missing 'market.code'");
    if (c->name == NULL && (c->name = trove_strdup(c->code)) == NULL)
        return nomem(x);
    if (c->timezone == NULL && (c->timezone = trove_strdup("UTC")) == NULL)
        return nomem(x);
    if (c->model_family == NULL && (c->model_family = trove_strdup("hybrid")) == NULL)
        return nomem(x);
    if (c->salt == NULL && (c->salt = trove_strdup(c->code)) == NULL)
        return nomem(x);
    if (c->rules.price_feature == NULL &&
        (c->rules.price_feature = trove_strdup("price")) == NULL)
        return nomem(x);
    if (c->window_start_date == NULL && c->window_last_days == 0)
        c->window_last_days = 365;
    if (c->rules.min_price > c->rules.max_price)
        return node_fail(x, root, "rules.eligibility: min_price %.17g is above "
                         "max_price %.17g", c->rules.min_price, c->rules.max_price);
    if (c->new_offer_exposure > c->number_of_predictions)
        return node_fail(x, root, "assignment: new_offer_exposure %d is more "
                         "than number_of_predictions %d", c->new_offer_exposure,
                         c->number_of_predictions);
    trove_market_config_hash(c, c->hash);
    return TROVE_OK;
}

static void config_init(trove_market_config *c)
{
    memset(c, 0, sizeof *c);
    c->number_of_predictions = DEFAULT_PREDICTIONS;
    c->test_share = DEFAULT_TEST_SHARE;
    c->control_policy = TROVE_CONTROL_POPULARITY;
    c->keep_versions = DEFAULT_KEEP_VERSIONS;
    c->rules.require_active = 1;
    c->rules.exclude_blocked = 1;
    c->rules.respect_dates = 1;
    c->rules.min_price = -INFINITY;
    c->rules.max_price = INFINITY;
}

int trove_market_config_parse(const char *text, size_t len, const char *name,
                              trove_market_config **out, trove_error *err)
{
    yaml_document_t doc;
    trove_market_config *c = NULL;
    parse_ctx x;
    yaml_node_t *root;
    int status = TROVE_OK, have_doc = 0;

    if (text == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "market config: no text");
    if (name == NULL)
        name = "<string>";
    c = trove_calloc(1, sizeof *c);
    if (c == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
    config_init(c);
    if ((c->path = trove_strdup(name)) == NULL) {
        status = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    x.file = name;
    x.doc = &doc;
    x.c = c;
    x.err = err;

    if ((status = trove__yaml_load(text, len, name, &doc, err)) != TROVE_OK)
        goto done;
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        status = trove_error_set(err, TROVE_EFORMAT, "%s:1:1: empty file "
                                 "(a market needs at least market.code)", name);
        goto done;
    }
    if ((status = walk_mapping(&x, root, "the file", top_pair)) != TROVE_OK ||
        (status = finish(&x, root)) != TROVE_OK)
        goto done;
    *out = c;
    c = NULL;
done:
    if (have_doc)
        yaml_document_delete(&doc);
    trove_market_config_free(c);
    return status;
}

int trove_market_config_load(const char *path, trove_market_config **out,
                             trove_error *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    int status;

    if (path == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "market config: no path");
    status = trove__file_read_all(path, (size_t)64 << 20, &text, &len, err);
    if (status != TROVE_OK)
        return status;
    status = trove_market_config_parse((const char *)text, len, path, out, err);
    trove_free(text);
    return status;
}

void trove_market_config_free(trove_market_config *c)
{
    if (c == NULL)
        return;
    trove_free(c->path);
    trove_free(c->code);
    trove_free(c->name);
    trove_free(c->timezone);
    trove_free(c->window_start_date);
    for (size_t i = 0; i < c->n_user_features; i++)
        trove_free(c->user_features[i]);
    trove_free(c->user_features);
    for (size_t i = 0; i < c->n_item_features; i++)
        trove_free(c->item_features[i]);
    trove_free(c->item_features);
    trove_free(c->model_family);
    for (size_t i = 0; i < c->n_model_params; i++) {
        trove_free(c->model_params[i].key);
        trove_free(c->model_params[i].s);
    }
    trove_free(c->model_params);
    trove_free(c->salt);
    trove_free(c->rules.price_feature);
    trove_free(c);
}

void trove_market_configs_free(trove_market_config **cs, size_t n)
{
    if (cs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        trove_market_config_free(cs[i]);
    trove_free(cs);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_yaml_suffix(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

int trove_market_config_load_dir(const char *dir, trove_market_config ***out,
                                 size_t *n, trove_error *err)
{
    DIR *d = NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n_names = 0, n_loaded = 0;
    trove_market_config **cs = NULL;
    int status = TROVE_OK;

    if (dir == NULL || out == NULL || n == NULL)
        return trove_error_set(err, TROVE_EINVAL, "market configs: no directory");
    d = opendir(dir);
    if (d == NULL)
        return trove_error_set(err, errno == ENOENT ? TROVE_ENOTFOUND : TROVE_EIO,
                               "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char **grown;
        size_t len;
        if (de->d_name[0] == '.' || !has_yaml_suffix(de->d_name))
            continue;
        grown = trove_realloc(names, (n_names + 1) * sizeof *names);
        if (grown == NULL)
            goto oom;
        names = grown;
        len = strlen(dir) + strlen(de->d_name) + 2;
        if ((names[n_names] = trove_malloc(len)) == NULL)
            goto oom;
        snprintf(names[n_names], len, "%s%s%s", dir,
                 dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", de->d_name);
        n_names++;
    }
    if (n_names == 0) {
        status = trove_error_set(err, TROVE_EEMPTY, "%s: no market files "
                                 "(*.yaml)", dir);
        goto done;
    }
    qsort(names, n_names, sizeof *names, name_cmp);
    cs = trove_calloc(n_names, sizeof *cs);
    if (cs == NULL)
        goto oom;
    for (size_t i = 0; i < n_names; i++) {
        if ((status = trove_market_config_load(names[i], &cs[i], err)) != TROVE_OK)
            goto done;
        n_loaded++;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cs[j]->code, cs[i]->code) == 0) {
                status = trove_error_set(err, TROVE_EEXIST, "%s: market '%s' is "
                                         "already configured by %s", names[i],
                                         cs[i]->code, names[j]);
                goto done;
            }
    }
    *out = cs;
    *n = n_loaded;
    cs = NULL;
    goto done;
oom:
    status = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", dir);
done:
    if (cs != NULL)
        trove_market_configs_free(cs, n_loaded);
    for (size_t i = 0; i < n_names; i++)
        trove_free(names[i]);
    trove_free(names);
    closedir(d);
    return status;
}

const trove_param *trove_market_config_param(const trove_market_config *c,
                                             const char *key)
{
    if (c == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < c->n_model_params; i++)
        if (strcmp(c->model_params[i].key, key) == 0)
            return &c->model_params[i];
    return NULL;
}

/* ------------------------------------------------------------------ hash */

/* FNV-1a 64 (Fowler, Noll, Vo), fed piece by piece: the canonical text
 * never has to exist in one buffer, so hashing cannot fail. */
typedef struct hasher {
    uint64_t h;
} hasher;

static void feed(hasher *hs, const char *s)
{
    for (; *s; s++) {
        hs->h ^= (unsigned char)*s;
        hs->h *= UINT64_C(0x100000001b3);
    }
    hs->h ^= 0xff;   /* field separator: ("ab","c") != ("a","bc") */
    hs->h *= UINT64_C(0x100000001b3);
}

static void feed_num(hasher *hs, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    feed(hs, buf);
}

static int param_cmp(const void *a, const void *b)
{
    return strcmp((*(const trove_param *const *)a)->key,
                  (*(const trove_param *const *)b)->key);
}

void trove_market_config_hash(const trove_market_config *c, char out[17])
{
    hasher hs = {UINT64_C(0xcbf29ce484222325)};
    const trove_param *sorted[TROVE__CONFIG_MAX_PARAMS];
    size_t n = c->n_model_params < TROVE__CONFIG_MAX_PARAMS
               ? c->n_model_params : TROVE__CONFIG_MAX_PARAMS;

    feed(&hs, "trove-market-config-1");
    feed(&hs, c->code ? c->code : "");
    feed(&hs, c->name ? c->name : "");
    feed(&hs, c->timezone ? c->timezone : "");
    feed(&hs, c->window_start_date ? c->window_start_date : "");
    feed_num(&hs, c->window_last_days);
    feed_num(&hs, (double)c->n_user_features);
    for (size_t i = 0; i < c->n_user_features; i++)
        feed(&hs, c->user_features[i]);
    feed_num(&hs, (double)c->n_item_features);
    for (size_t i = 0; i < c->n_item_features; i++)
        feed(&hs, c->item_features[i]);
    feed(&hs, c->model_family ? c->model_family : "");
    for (size_t i = 0; i < n; i++)
        sorted[i] = &c->model_params[i];
    qsort(sorted, n, sizeof *sorted, param_cmp);
    feed_num(&hs, (double)c->n_model_params);
    for (size_t i = 0; i < n; i++) {
        feed(&hs, sorted[i]->key);
        feed_num(&hs, sorted[i]->type);
        if (sorted[i]->type == TROVE_PARAM_STRING)
            feed(&hs, sorted[i]->s);
        else
            feed_num(&hs, sorted[i]->d);
    }
    feed_num(&hs, c->number_of_predictions);
    feed_num(&hs, c->new_offer_exposure);
    feed_num(&hs, c->test_share);
    feed_num(&hs, c->control_policy);
    feed(&hs, c->salt ? c->salt : "");
    feed_num(&hs, c->keep_versions);
    feed_num(&hs, c->rules.require_active);
    feed_num(&hs, c->rules.exclude_blocked);
    feed_num(&hs, c->rules.respect_dates);
    feed(&hs, c->rules.price_feature ? c->rules.price_feature : "");
    feed_num(&hs, c->rules.min_price);
    feed_num(&hs, c->rules.max_price);
    snprintf(out, 17, "%016llx", (unsigned long long)hs.h);
}

/* ----------------------------------------------------------------- rules */

int trove_market_rules_eligible(const trove_market_rules *r,
                                const trove_item *it, double price,
                                int64_t now)
{
    int banded = isfinite(r->min_price) || isfinite(r->max_price);
    if (r->require_active && !it->active)
        return 0;
    if (r->exclude_blocked && it->blocked)
        return 0;
    if (r->respect_dates) {
        if (it->start_ts != 0 && now < it->start_ts)
            return 0;
        if (it->end_ts != 0 && now >= it->end_ts)
            return 0;
    }
    if (banded) {
        if (isnan(price))
            return 0;
        if (price < r->min_price || price > r->max_price)
            return 0;
    }
    return 1;
}

const char *trove_control_policy_name(int policy)
{
    switch (policy) {
    case TROVE_CONTROL_RANDOM:     return "random";
    case TROVE_CONTROL_POPULARITY: return "popularity";
    default:                       return "unknown";
    }
}
