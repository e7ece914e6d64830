/*
 * rules_yaml.c - rules/<market>.yaml into a trove_rule_set. Together with
 * config.c the only files of trove that include <yaml.h>; the rules engine
 * itself (src/rules/) only sees the plain struct.
 *
 * The file is loaded into libyaml's node tree and walked against fixed key
 * tables. Invariants:
 *   - Every key of every mapping is known; a rule's keys must be allowed for
 *     its kind (table `rule_keys`). Unknown kinds, unknown or duplicate
 *     keys, wrong types, out-of-range values, malformed dates and feature
 *     names, and duplicate rule names stop the load with TROVE_EFORMAT and
 *     "file:line:column: message" (1-based, the offending node).
 *   - Nothing is returned unless the whole file is valid; on failure every
 *     allocation is undone.
 * Our memory goes through trove_malloc; libyaml uses the C library's
 * allocator and frees everything in yaml_document_delete.
 */
#include "trove/rules.h"
#include "core/file.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/yaml_util.h"

#define MAX_RULES 4096
#define MAX_LIST 4096

typedef struct rparse {
    const char *file;
    yaml_document_t *doc;
    trove_rule_set *rs;
    trove_error *err;
} rparse;

static int node_fail(rparse *x, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int node_fail(rparse *x, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = trove__yaml_failv(x->err, x->file, node, fmt, ap);
    va_end(ap);
    return rc;
}

static int nomem(rparse *x)
{
    return trove_error_set(x->err, TROVE_ENOMEM, "%s: out of memory", x->file);
}

static int damaged(rparse *x)
{
    return trove_error_set(x->err, TROVE_EFORMAT, "%s: damaged document",
                           x->file);
}

static const char *scalar(const yaml_node_t *n)
{
    return trove__yaml_scalar(n);
}

static int want_scalar(rparse *x, const yaml_node_t *n, const char *key)
{
    return trove__yaml_want(x->err, x->file, n, YAML_SCALAR_NODE, key);
}

static int get_int(rparse *x, const yaml_node_t *n, const char *key,
                   long long min, long long max, int *out)
{
    long long v;
    int rc = trove__yaml_int(x->err, x->file, n, key, min, max, &v);
    if (rc == TROVE_OK)
        *out = (int)v;
    return rc;
}

static int get_number(rparse *x, const yaml_node_t *n, const char *key,
                      double *out)
{
    return trove__yaml_number(x->err, x->file, n, key, -HUGE_VAL, HUGE_VAL, out);
}

/* A non-empty string of at most 255 bytes without control characters. */
static int get_string(rparse *x, const yaml_node_t *n, const char *key,
                      char **out)
{
    const char *s;
    char *copy;
    int rc = want_scalar(x, n, key);
    if (rc != TROVE_OK)
        return rc;
    s = scalar(n);
    if (s[0] == '\0' || (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                         (strcmp(s, "~") == 0 || strcmp(s, "null") == 0)))
        return node_fail(x, n, "'%s' must not be empty", key);
    if (strlen(s) > 255)
        return node_fail(x, n, "'%s' is longer than 255 bytes", key);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return node_fail(x, n, "'%s' contains a control character", key);
    if ((copy = trove_strdup(s)) == NULL)
        return nomem(x);
    trove_free(*out);
    *out = copy;
    return TROVE_OK;
}

/* "field=value" with both parts non-empty. */
static int check_feature(rparse *x, const yaml_node_t *n, const char *key,
                         const char *s)
{
    const char *eq = strchr(s, '=');
    if (eq == NULL || eq == s || eq[1] == '\0')
        return node_fail(x, n, "'%s' entry '%s' is not a feature "
                         "'field=value' (e.g. category=burger)", key, s);
    return TROVE_OK;
}

static void strings_free(trove_rule_strings *l)
{
    for (size_t i = 0; i < l->n; i++)
        trove_free(l->v[i]);
    trove_free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* A list of distinct strings; a single scalar counts as a list of one.
 * features != 0: each entry must be "field=value". */
static int get_list(rparse *x, const yaml_node_t *n, const char *key,
                    int features, trove_rule_strings *out)
{
    trove_rule_strings l = {NULL, 0};
    size_t count;
    int rc = TROVE_OK;

    if (n->type == YAML_MAPPING_NODE)
        return node_fail(x, n, "'%s' must be a list, not a mapping", key);
    count = n->type == YAML_SCALAR_NODE ? 1 :
        (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0)
        return node_fail(x, n, "'%s' must not be empty", key);
    if (count > MAX_LIST)
        return node_fail(x, n, "'%s' has more than %d entries", key, MAX_LIST);
    if ((l.v = trove_calloc(count, sizeof *l.v)) == NULL)
        return nomem(x);
    for (size_t k = 0; k < count; k++) {
        const yaml_node_t *e = n;
        if (n->type == YAML_SEQUENCE_NODE &&
            (e = yaml_document_get_node(x->doc,
                                        n->data.sequence.items.start[k])) == NULL) {
            rc = damaged(x);
            goto fail;
        }
        if ((rc = get_string(x, e, key, &l.v[k])) != TROVE_OK)
            goto fail;
        l.n = k + 1;
        if (features && (rc = check_feature(x, e, key, l.v[k])) != TROVE_OK)
            goto fail;
        for (size_t j = 0; j < k; j++)
            if (strcmp(l.v[j], l.v[k]) == 0) {
                rc = node_fail(x, e, "'%s' lists '%s' twice", key, l.v[k]);
                goto fail;
            }
    }
    strings_free(out);
    *out = l;
    return TROVE_OK;
fail:
    strings_free(&l);
    return rc;
}

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

/* "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or with 'T': civil seconds. */
static int parse_local_time(const char *s, int64_t *out)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    size_t len = strlen(s);
    if (len < 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 ||
        s[4] != '-' || s[7] != '-' || !isdigit((unsigned char)s[0]))
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return -1;
    if (len > 10) {
        if ((s[10] != ' ' && s[10] != 'T') || (len != 16 && len != 19))
            return -1;
        for (size_t i = 11; i < len; i++)
            if ((i == 13 || i == 16) ? s[i] != ':' : !isdigit((unsigned char)s[i]))
                return -1;
        h = (s[11] - '0') * 10 + (s[12] - '0');
        mi = (s[14] - '0') * 10 + (s[15] - '0');
        if (len == 19)
            sec = (s[17] - '0') * 10 + (s[18] - '0');
        if (h > 23 || mi > 59 || sec > 59)
            return -1;
    }
    if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
        return -1;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

/* ------------------------------------------------------------ rule keys */

#define K(kind) (1u << (kind))
#define ALL_KINDS 0xFFFu
#define SELECTOR_KINDS (ALL_KINDS & ~K(TROVE_RULE_BUNDLE))

static const struct rule_key {
    const char *key;
    unsigned kinds;     /* bit k: allowed for kind k */
} rule_keys[] = {
    {"name", ALL_KINDS},
    {"kind", ALL_KINDS},
    {"items", SELECTOR_KINDS},
    {"item_ids", ALL_KINDS},
    {"require_segments", K(TROVE_RULE_ELIGIBILITY)},
    {"exclude_segments", K(TROVE_RULE_ELIGIBILITY)},
    {"require_features", K(TROVE_RULE_ELIGIBILITY)},
    {"exclude_features", K(TROVE_RULE_ELIGIBILITY)},
    {"start", K(TROVE_RULE_SCHEDULE)},
    {"end", K(TROVE_RULE_SCHEDULE)},
    {"max", K(TROVE_RULE_FREQUENCY_CAP) | K(TROVE_RULE_EXCLUSIVE) |
            K(TROVE_RULE_DIVERSITY) | K(TROVE_RULE_BUNDLE)},
    {"factor", K(TROVE_RULE_BOOST)},
    {"offset", K(TROVE_RULE_BOOST)},
    {"field", K(TROVE_RULE_DIVERSITY)},
    {"slots", K(TROVE_RULE_EXPLORE)},
    {"new_days", K(TROVE_RULE_EXPLORE)},
    {"when", K(TROVE_RULE_BUNDLE)},
    {"with", K(TROVE_RULE_BUNDLE)},
    {"source", K(TROVE_RULE_BUNDLE)},
    {NULL, 0}
};

static const char *const kind_names[] = {
    NULL, "eligibility", "schedule", "frequency_cap", "budget_cap", "pin",
    "boost", "bury", "exclusive", "diversity", "explore", "bundle"
};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

const char *trove_rule_kind_name(int kind)
{
    if (kind < 1 || kind >= N_KINDS)
        return "unknown";
    return kind_names[kind];
}

static int kind_from_name(const char *s)
{
    for (int k = 1; k < N_KINDS; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    return 0;
}

static const yaml_node_t *map_get(rparse *x, const yaml_node_t *m,
                                  const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp(scalar(k), key) == 0)
            return yaml_document_get_node(x->doc, p->value);
    }
    return NULL;
}

/* Keys are plain scalars, each at most once. */
static int check_keys(rparse *x, const yaml_node_t *m)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        if (k == NULL || yaml_document_get_node(x->doc, p->value) == NULL)
            return damaged(x);
        if (k->type != YAML_SCALAR_NODE || scalar(k)[0] == '\0')
            return node_fail(x, k, "keys must be plain names");
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);
            if (k2 != NULL && k2->type == YAML_SCALAR_NODE &&
                strcmp(scalar(k2), scalar(k)) == 0)
                return node_fail(x, k, "duplicate key '%s' (first at line %zu)",
                                 scalar(k), k2->start_mark.line + 1);
        }
    }
    return TROVE_OK;
}

static int rule_pair(rparse *x, trove_rule_spec *r, const yaml_node_t *k,
                     const yaml_node_t *v)
{
    const char *key = scalar(k);
    const struct rule_key *rk;
    int rc;

    for (rk = rule_keys; rk->key != NULL; rk++)
        if (strcmp(rk->key, key) == 0)
            break;
    if (rk->key == NULL)
        return node_fail(x, k, "unknown key '%s' in rule '%s'", key, r->name);
    if (!(rk->kinds & K(r->kind)))
        return node_fail(x, k, "key '%s' does not apply to a %s rule", key,
                         trove_rule_kind_name(r->kind));
    if (strcmp(key, "name") == 0 || strcmp(key, "kind") == 0)
        return TROVE_OK;
    if (strcmp(key, "items") == 0 || strcmp(key, "when") == 0)
        return get_list(x, v, key, 1, &r->items);
    if (strcmp(key, "item_ids") == 0)
        return get_list(x, v, key, 0, &r->item_ids);
    if (strcmp(key, "require_segments") == 0)
        return get_list(x, v, key, 0, &r->require_segments);
    if (strcmp(key, "exclude_segments") == 0)
        return get_list(x, v, key, 0, &r->exclude_segments);
    if (strcmp(key, "require_features") == 0)
        return get_list(x, v, key, 1, &r->require_features);
    if (strcmp(key, "exclude_features") == 0)
        return get_list(x, v, key, 1, &r->exclude_features);
    if (strcmp(key, "with") == 0)
        return get_list(x, v, key, 1, &r->with);
    if (strcmp(key, "start") == 0 || strcmp(key, "end") == 0) {
        int64_t t;
        if ((rc = want_scalar(x, v, key)) != TROVE_OK)
            return rc;
        if (parse_local_time(scalar(v), &t) != 0)
            return node_fail(x, v, "'%s' '%s' is not a local date or time "
                             "(YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS], year "
                             "1970..2200)", key, scalar(v));
        if (key[0] == 's')
            r->start_local = t;
        else
            r->end_local = t;
        return TROVE_OK;
    }
    if (strcmp(key, "max") == 0)
        return get_int(x, v, key, r->kind == TROVE_RULE_FREQUENCY_CAP ? 0 : 1,
                       1000000, &r->max);
    if (strcmp(key, "factor") == 0) {
        if ((rc = get_number(x, v, key, &r->factor)) != TROVE_OK)
            return rc;
        if (r->factor < 0)
            return node_fail(x, v, "'factor' must not be negative");
        return TROVE_OK;
    }
    if (strcmp(key, "offset") == 0)
        return get_number(x, v, key, &r->offset);
    if (strcmp(key, "field") == 0) {
        if ((rc = get_string(x, v, key, &r->field)) != TROVE_OK)
            return rc;
        if (strchr(r->field, '=') != NULL)
            return node_fail(x, v, "'field' is a field name such as 'category', "
                             "not '%s'", r->field);
        return TROVE_OK;
    }
    if (strcmp(key, "slots") == 0)
        return get_int(x, v, key, 1, 1000, &r->slots);
    if (strcmp(key, "new_days") == 0)
        return get_int(x, v, key, 1, 3650, &r->new_days);
    /* source */
    if ((rc = want_scalar(x, v, key)) != TROVE_OK)
        return rc;
    if (strcmp(scalar(v), "copurchase") == 0)
        r->copurchase = 1;
    else if (strcmp(scalar(v), "features") == 0)
        r->copurchase = 0;
    else
        return node_fail(x, v, "'source' must be 'features' or 'copurchase', "
                         "not '%s'", scalar(v));
    return TROVE_OK;
}

/* Requirements that involve several keys of one rule. */
static int rule_finish(rparse *x, trove_rule_spec *r, const yaml_node_t *m)
{
    int has_max = map_get(x, m, "max") != NULL;
    switch (r->kind) {
    case TROVE_RULE_ELIGIBILITY:
        if (r->require_segments.n + r->exclude_segments.n +
            r->require_features.n + r->exclude_features.n == 0)
            return node_fail(x, m, "eligibility rule '%s' needs one of "
                             "require_segments, exclude_segments, "
                             "require_features, exclude_features", r->name);
        break;
    case TROVE_RULE_SCHEDULE:
        if (r->start_local == 0 && r->end_local == 0)
            return node_fail(x, m, "schedule rule '%s' needs 'start' or 'end'",
                             r->name);
        if (r->start_local != 0 && r->end_local != 0 &&
            r->start_local >= r->end_local)
            return node_fail(x, m, "schedule rule '%s': 'start' is not before "
                             "'end'", r->name);
        break;
    case TROVE_RULE_FREQUENCY_CAP:
    case TROVE_RULE_DIVERSITY:
        if (!has_max)
            return node_fail(x, m, "%s rule '%s' needs 'max'",
                             trove_rule_kind_name(r->kind), r->name);
        if (r->kind == TROVE_RULE_DIVERSITY && r->field == NULL)
            return node_fail(x, m, "diversity rule '%s' needs 'field'", r->name);
        break;
    case TROVE_RULE_EXCLUSIVE:
        if (r->items.n + r->item_ids.n == 0)
            return node_fail(x, m, "exclusive rule '%s' needs 'items' or "
                             "'item_ids' (the group)", r->name);
        if (!has_max)
            r->max = 1;
        break;
    case TROVE_RULE_PIN:
    case TROVE_RULE_BOOST:
    case TROVE_RULE_BURY:
        if (r->items.n + r->item_ids.n == 0)
            return node_fail(x, m, "%s rule '%s' needs 'items' or 'item_ids'",
                             trove_rule_kind_name(r->kind), r->name);
        if (r->kind == TROVE_RULE_BOOST && map_get(x, m, "factor") == NULL &&
            map_get(x, m, "offset") == NULL)
            return node_fail(x, m, "boost rule '%s' needs 'factor' or 'offset'",
                             r->name);
        break;
    case TROVE_RULE_EXPLORE:
        if (r->slots == 0)
            return node_fail(x, m, "explore rule '%s' needs 'slots'", r->name);
        if (r->new_days == 0)
            r->new_days = 7;
        break;
    case TROVE_RULE_BUNDLE:
        if (!has_max)
            r->max = 1;
        if (r->copurchase && r->with.n > 0)
            return node_fail(x, m, "bundle rule '%s': 'with' and 'source: "
                             "copurchase' exclude each other", r->name);
        if (!r->copurchase && r->with.n == 0)
            return node_fail(x, m, "bundle rule '%s' needs 'with' (partner "
                             "features) or 'source: copurchase'", r->name);
        break;
    default:
        break;
    }
    return TROVE_OK;
}

static void rule_free(trove_rule_spec *r)
{
    trove_free(r->name);
    trove_free(r->field);
    strings_free(&r->items);
    strings_free(&r->item_ids);
    strings_free(&r->require_segments);
    strings_free(&r->exclude_segments);
    strings_free(&r->require_features);
    strings_free(&r->exclude_features);
    strings_free(&r->with);
}

static int parse_rule(rparse *x, const yaml_node_t *m, trove_rule_spec *r)
{
    const yaml_node_t *kn, *nn;
    int rc;

    if (m->type != YAML_MAPPING_NODE)
        return node_fail(x, m, "a rule must be a mapping, not %s", trove__yaml_kind(m));
    if ((rc = check_keys(x, m)) != TROVE_OK)
        return rc;
    r->line = (int)m->start_mark.line + 1;
    r->column = (int)m->start_mark.column + 1;
    r->factor = 1.0;
    if ((nn = map_get(x, m, "name")) == NULL)
        return node_fail(x, m, "rule without 'name'");
    if ((rc = get_string(x, nn, "name", &r->name)) != TROVE_OK)
        return rc;
    if ((kn = map_get(x, m, "kind")) == NULL)
        return node_fail(x, m, "rule '%s' without 'kind'", r->name);
    if ((rc = want_scalar(x, kn, "kind")) != TROVE_OK)
        return rc;
    if ((r->kind = kind_from_name(scalar(kn))) == 0)
        return node_fail(x, kn, "unknown rule kind '%s' (eligibility, schedule, "
                         "frequency_cap, budget_cap, pin, boost, bury, "
                         "exclusive, diversity, explore, bundle)", scalar(kn));
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++)
        if ((rc = rule_pair(x, r, yaml_document_get_node(x->doc, p->key),
                            yaml_document_get_node(x->doc, p->value))) != TROVE_OK)
            return rc;
    return rule_finish(x, r, m);
}

static int parse_rules(rparse *x, const yaml_node_t *seq)
{
    trove_rule_set *rs = x->rs;
    size_t count;
    int rc;

    if (seq->type != YAML_SEQUENCE_NODE)
        return node_fail(x, seq, "'rules' must be a list, not %s",
                         trove__yaml_kind(seq));
    count = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (count > MAX_RULES)
        return node_fail(x, seq, "more than %d rules", MAX_RULES);
    if (count == 0)
        return TROVE_OK;
    if ((rs->rules = trove_calloc(count, sizeof *rs->rules)) == NULL)
        return nomem(x);
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *m = yaml_document_get_node(
            x->doc, seq->data.sequence.items.start[i]);
        if (m == NULL)
            return damaged(x);
        rs->n_rules = i + 1;
        if ((rc = parse_rule(x, m, &rs->rules[i])) != TROVE_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(rs->rules[j].name, rs->rules[i].name) == 0)
                return node_fail(x, map_get(x, m, "name"), "duplicate rule name "
                                 "'%s' (first at line %d)", rs->rules[i].name,
                                 rs->rules[j].line);
    }
    return TROVE_OK;
}

static int parse_top(rparse *x, const yaml_node_t *root)
{
    int rc;
    if (root->type != YAML_MAPPING_NODE)
        return node_fail(x, root, "the file must be a mapping, not %s",
                         trove__yaml_kind(root));
    if ((rc = check_keys(x, root)) != TROVE_OK)
        return rc;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        const char *key = scalar(k);
        if (strcmp(key, "market") == 0)
            rc = get_string(x, v, key, &x->rs->market);
        else if (strcmp(key, "timezone") == 0) {
            if ((rc = get_string(x, v, key, &x->rs->timezone)) == TROVE_OK) {
                const char *s = x->rs->timezone;
                if (strstr(s, "..") != NULL || s[0] == '/')
                    rc = node_fail(x, v, "'timezone' '%s' is not an IANA time "
                                   "zone name (e.g. Europe/Berlin)", s);
                for (const char *c = s; rc == TROVE_OK && *c; c++)
                    if (!(isalnum((unsigned char)*c) || strchr("/_-+", *c)))
                        rc = node_fail(x, v, "'timezone' '%s' is not an IANA "
                                       "time zone name (e.g. Europe/Berlin)", s);
            }
        } else if (strcmp(key, "frequency_window_days") == 0)
            rc = get_int(x, v, key, 1, 3650, &x->rs->frequency_window_days);
        else if (strcmp(key, "rules") == 0)
            rc = parse_rules(x, v);
        else
            rc = node_fail(x, k, "unknown key '%s' (market, timezone, "
                           "frequency_window_days, rules)", key);
        if (rc != TROVE_OK)
            return rc;
    }
    return TROVE_OK;
}

int trove_rule_set_parse(const char *text, size_t len, const char *name,
                         trove_rule_set **out, trove_error *err)
{
    yaml_document_t doc;
    trove_rule_set *rs = NULL;
    yaml_node_t *root;
    rparse x;
    int status = TROVE_OK, have_doc = 0;

    if (text == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "rules: no text");
    if (name == NULL)
        name = "<string>";
    if ((rs = trove_calloc(1, sizeof *rs)) == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
    rs->frequency_window_days = 7;
    if ((rs->path = trove_strdup(name)) == NULL) {
        status = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    x.file = name;
    x.doc = &doc;
    x.rs = rs;
    x.err = err;
    if ((status = trove__yaml_load(text, len, name, &doc, err)) != TROVE_OK)
        goto done;
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && (status = parse_top(&x, root)) != TROVE_OK)
        goto done;
    *out = rs;
    rs = NULL;
done:
    if (have_doc)
        yaml_document_delete(&doc);
    trove_rule_set_free(rs);
    return status;
}

int trove_rule_set_load(const char *path, trove_rule_set **out,
                        trove_error *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    int status;

    if (path == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "rules: no path");
    status = trove__file_read_all(path, (size_t)64 << 20, &text, &len, err);
    if (status != TROVE_OK)
        return status;
    status = trove_rule_set_parse((const char *)text, len, path, out, err);
    trove_free(text);
    return status;
}

void trove_rule_set_free(trove_rule_set *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n_rules; i++)
        rule_free(&rs->rules[i]);
    trove_free(rs->rules);
    trove_free(rs->path);
    trove_free(rs->market);
    trove_free(rs->timezone);
    trove_free(rs);
}
