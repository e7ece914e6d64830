/*
 * hunt_yaml.c - treasure-hunt templates (hunts/<market>.yaml) into a
 * trove_hunt_template, and the built-in default template. One of the
 * config files that include <yaml.h>; the hunt module (src/hunt/) only sees
 * the plain struct.
 *
 * Invariants:
 *   - Every key is known, at most once per mapping; wrong types, values out
 *     of range, malformed dates, unknown step kinds and duplicate reward ids
 *     stop the load with TROVE_EFORMAT and "file:line:column: message"
 *     (1-based, the offending node).
 *   - Nothing is returned unless the whole file is valid; on failure every
 *     allocation is undone.
 *   - t->hash is XXH3 of the file's bytes: a changed template gives other
 *     hunts (from the next day on; stored hunts stay as they are).
 */
#include "trove/hunt.h"
#include "core/file.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config/yaml_util.h"

#define MAX_REWARDS 256

static const char default_text[] =
    "# The built-in treasure hunt: used for every market without a file\n"
    "# hunts/<market>.yaml (docs/hunts.md).\n"
    "name: default\n"
    "candidates: 200\n"
    "pool: 5\n"
    "steps:\n"
    "  - kind: discover\n"
    "  - kind: discover\n"
    "  - kind: bundle\n"
    "  - kind: redeem\n"
    "constraints:\n"
    "  category_field: category\n"
    "  distinct_categories: true\n"
    "  novelty: {min_share: 0.5, history_days: 90}\n"
    "rewards:\n"
    "  - {id: hunt-reward-10, title: \"10% off your next order\", weight: 3}\n"
    "  - {id: hunt-reward-free-drink, title: \"A free drink\", weight: 1}\n"
    "validity_days: 1\n";

const char *trove_hunt_default_template_text(void)
{
    return default_text;
}

typedef struct hparse {
    const char *file;
    yaml_document_t *doc;
    trove_hunt_template *t;
    trove_error *err;
} hparse;

static int node_fail(hparse *x, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int node_fail(hparse *x, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = trove__yaml_failv(x->err, x->file, node, fmt, ap);
    va_end(ap);
    return rc;
}

static int nomem(hparse *x)
{
    return trove_error_set(x->err, TROVE_ENOMEM, "%s: out of memory", x->file);
}

static const char *scalar(const yaml_node_t *n)
{
    return trove__yaml_scalar(n);
}

static int want(hparse *x, const yaml_node_t *n, yaml_node_type_t type,
                const char *key)
{
    return trove__yaml_want(x->err, x->file, n, type, key);
}

static int get_int(hparse *x, const yaml_node_t *n, const char *key,
                   long long min, long long max, long long *out)
{
    return trove__yaml_int(x->err, x->file, n, key, min, max, out);
}

static int get_number(hparse *x, const yaml_node_t *n, const char *key,
                      double min, double max, double *out)
{
    return trove__yaml_number(x->err, x->file, n, key, min, max, out);
}

static int get_bool(hparse *x, const yaml_node_t *n, const char *key, int *out)
{
    int rc = want(x, n, YAML_SCALAR_NODE, key);
    if (rc != TROVE_OK)
        return rc;
    if (strcmp(scalar(n), "true") == 0)
        *out = 1;
    else if (strcmp(scalar(n), "false") == 0)
        *out = 0;
    else
        return node_fail(x, n, "'%s' must be true or false, not '%s'", key,
                         scalar(n));
    return TROVE_OK;
}

/* A non-empty string shorter than `max` bytes without control characters. */
static int get_string(hparse *x, const yaml_node_t *n, const char *key,
                      size_t max, char **out)
{
    const char *s;
    char *copy;
    int rc = want(x, n, YAML_SCALAR_NODE, key);
    if (rc != TROVE_OK)
        return rc;
    s = scalar(n);
    if (s[0] == '\0' || (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                         (strcmp(s, "~") == 0 || strcmp(s, "null") == 0)))
        return node_fail(x, n, "'%s' must not be empty", key);
    if (strlen(s) >= max)
        return node_fail(x, n, "'%s' is longer than %zu bytes", key, max - 1);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            return node_fail(x, n, "'%s' contains a control character", key);
    if ((copy = trove_strdup(s)) == NULL)
        return nomem(x);
    trove_free(*out);
    *out = copy;
    return TROVE_OK;
}

static int get_day(hparse *x, const yaml_node_t *n, const char *key,
                   int32_t *out)
{
    int rc = want(x, n, YAML_SCALAR_NODE, key);
    if (rc != TROVE_OK)
        return rc;
    if (trove_hunt_day_parse(scalar(n), out) != TROVE_OK)
        return node_fail(x, n, "'%s' must be a date YYYY-MM-DD, not '%s'", key,
                         scalar(n));
    return TROVE_OK;
}

/* Walk the pairs of mapping m (checked: plain keys, each once) calling fn. */
typedef int (*pair_fn)(hparse *x, void *ud, const char *key,
                       const yaml_node_t *k, const yaml_node_t *v);

static int each_pair(hparse *x, const yaml_node_t *m, const char *what,
                     pair_fn fn, void *ud)
{
    int rc;
    if ((rc = want(x, m, YAML_MAPPING_NODE, what)) != TROVE_OK)
        return rc;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
         p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (k == NULL || v == NULL)
            return trove_error_set(x->err, TROVE_EFORMAT, "%s: damaged document",
                                   x->file);
        if (k->type != YAML_SCALAR_NODE || scalar(k)[0] == '\0')
            return node_fail(x, k, "keys must be plain names");
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(x->doc, q->key);
            if (k2 != NULL && k2->type == YAML_SCALAR_NODE &&
                strcmp(scalar(k2), scalar(k)) == 0)
                return node_fail(x, k, "duplicate key '%s' (first at line %zu)",
                                 scalar(k), k2->start_mark.line + 1);
        }
        if ((rc = fn(x, ud, scalar(k), k, v)) != TROVE_OK)
            return rc;
    }
    return TROVE_OK;
}

/* ----------------------------------------------------------------- steps */
static int step_pair(hparse *x, void *ud, const char *key, const yaml_node_t *k,
                     const yaml_node_t *v)
{
    trove_hunt_step_spec *s = ud;
    if (strcmp(key, "kind") == 0) {
        int rc = want(x, v, YAML_SCALAR_NODE, key);
        if (rc != TROVE_OK)
            return rc;
        if (strcmp(scalar(v), "discover") == 0)
            s->kind = TROVE_HUNT_DISCOVER;
        else if (strcmp(scalar(v), "bundle") == 0)
            s->kind = TROVE_HUNT_BUNDLE;
        else if (strcmp(scalar(v), "redeem") == 0)
            s->kind = TROVE_HUNT_REDEEM;
        else
            return node_fail(x, v, "unknown step kind '%s' (discover, bundle, "
                             "redeem)", scalar(v));
        return TROVE_OK;
    }
    if (strcmp(key, "category") == 0)
        return get_string(x, v, key, TROVE_HUNT_NAME_MAX, &s->category);
    if (strcmp(key, "offer") == 0)
        return get_string(x, v, key, TROVE_HUNT_ID_MAX, &s->offer);
    return node_fail(x, k, "unknown step key '%s' (kind, category, offer)", key);
}

static int parse_steps(hparse *x, const yaml_node_t *v)
{
    trove_hunt_template *t = x->t;
    int rc;
    if (v->type == YAML_SCALAR_NODE) {
        long long n;
        if ((rc = get_int(x, v, "steps", 1, TROVE_HUNT_MAX_STEPS, &n)) != TROVE_OK)
            return rc;
        if ((t->steps = trove_calloc((size_t)n, sizeof *t->steps)) == NULL)
            return nomem(x);
        t->n_steps = (size_t)n;
        /* a count: discover steps, then a bundle (from 3 steps), then the
         * redeem step */
        for (size_t i = 0; i < t->n_steps; i++)
            t->steps[i].kind = TROVE_HUNT_DISCOVER;
        t->steps[t->n_steps - 1].kind = TROVE_HUNT_REDEEM;
        if (t->n_steps >= 3)
            t->steps[t->n_steps - 2].kind = TROVE_HUNT_BUNDLE;
        return TROVE_OK;
    }
    if ((rc = want(x, v, YAML_SEQUENCE_NODE, "steps")) != TROVE_OK)
        return rc;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0 || n > TROVE_HUNT_MAX_STEPS)
        return node_fail(x, v, "'steps' has %zu entries, must have 1 to %d", n,
                         TROVE_HUNT_MAX_STEPS);
    if ((t->steps = trove_calloc(n, sizeof *t->steps)) == NULL)
        return nomem(x);
    t->n_steps = n;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *e = yaml_document_get_node(x->doc,
                                                      v->data.sequence.items.start[i]);
        trove_hunt_step_spec *s = &t->steps[i];
        if (e == NULL)
            return trove_error_set(x->err, TROVE_EFORMAT, "%s: damaged document",
                                   x->file);
        s->line = (int)e->start_mark.line + 1;
        if ((rc = each_pair(x, e, "step", step_pair, s)) != TROVE_OK)
            return rc;
        if (s->kind == 0)
            return node_fail(x, e, "step %zu has no 'kind'", i + 1);
        if (s->offer != NULL && s->kind != TROVE_HUNT_REDEEM)
            return node_fail(x, e, "step %zu: 'offer' is for redeem steps", i + 1);
        if (s->category != NULL && s->kind == TROVE_HUNT_BUNDLE)
            return node_fail(x, e, "step %zu: a bundle step takes no 'category'",
                             i + 1);
    }
    return TROVE_OK;
}

/* ----------------------------------------------------------- constraints */
typedef struct price_ud {
    int have_min, have_max;
} price_ud;

static int price_pair(hparse *x, void *ud, const char *key, const yaml_node_t *k,
                      const yaml_node_t *v)
{
    price_ud *p = ud;
    if (strcmp(key, "field") == 0)
        return get_string(x, v, key, TROVE_HUNT_NAME_MAX, &x->t->price_field);
    if (strcmp(key, "min") == 0) {
        p->have_min = 1;
        return get_number(x, v, key, -1e300, 1e300, &x->t->price_min);
    }
    if (strcmp(key, "max") == 0) {
        p->have_max = 1;
        return get_number(x, v, key, -1e300, 1e300, &x->t->price_max);
    }
    return node_fail(x, k, "unknown price key '%s' (field, min, max)", key);
}

static int novelty_pair(hparse *x, void *ud, const char *key,
                        const yaml_node_t *k, const yaml_node_t *v)
{
    long long n;
    int rc;
    (void)ud;
    if (strcmp(key, "min_share") == 0)
        return get_number(x, v, key, 0, 1, &x->t->novelty_min_share);
    if (strcmp(key, "history_days") == 0) {
        if ((rc = get_int(x, v, key, 1, 3650, &n)) == TROVE_OK)
            x->t->history_days = (int)n;
        return rc;
    }
    return node_fail(x, k, "unknown novelty key '%s' (min_share, history_days)",
                     key);
}

static int constraint_pair(hparse *x, void *ud, const char *key,
                           const yaml_node_t *k, const yaml_node_t *v)
{
    int rc;
    (void)ud;
    if (strcmp(key, "category_field") == 0)
        return get_string(x, v, key, TROVE_HUNT_NAME_MAX, &x->t->category_field);
    if (strcmp(key, "distinct_categories") == 0)
        return get_bool(x, v, key, &x->t->distinct_categories);
    if (strcmp(key, "price") == 0) {
        price_ud p = { 0, 0 };
        if ((rc = each_pair(x, v, key, price_pair, &p)) != TROVE_OK)
            return rc;
        if (x->t->price_field == NULL)
            return node_fail(x, v, "'price' needs a 'field' (the numeric item "
                             "feature, e.g. price)");
        if (!p.have_min)
            x->t->price_min = -INFINITY;
        if (!p.have_max)
            x->t->price_max = INFINITY;
        if (x->t->price_min > x->t->price_max)
            return node_fail(x, v, "'price' min %g is above max %g",
                             x->t->price_min, x->t->price_max);
        return TROVE_OK;
    }
    if (strcmp(key, "novelty") == 0)
        return each_pair(x, v, key, novelty_pair, NULL);
    return node_fail(x, k, "unknown constraint '%s' (category_field, "
                     "distinct_categories, price, novelty)", key);
}

/* --------------------------------------------------------------- rewards */
typedef struct reward_ud {
    trove_hunt_reward_spec *r;
    const yaml_node_t *from, *to;
} reward_ud;

static int reward_pair(hparse *x, void *ud, const char *key,
                       const yaml_node_t *k, const yaml_node_t *v)
{
    reward_ud *u = ud;
    if (strcmp(key, "id") == 0)
        return get_string(x, v, key, TROVE_HUNT_NAME_MAX, &u->r->id);
    if (strcmp(key, "title") == 0)
        return get_string(x, v, key, TROVE_HUNT_NAME_MAX * 4, &u->r->title);
    if (strcmp(key, "weight") == 0)
        return get_number(x, v, key, 1e-9, 1e9, &u->r->weight);
    if (strcmp(key, "from") == 0) {
        u->from = v;
        return get_day(x, v, key, &u->r->from_day);
    }
    if (strcmp(key, "to") == 0) {
        u->to = v;
        return get_day(x, v, key, &u->r->to_day);
    }
    return node_fail(x, k, "unknown reward key '%s' (id, title, weight, from, "
                     "to)", key);
}

static int parse_rewards(hparse *x, const yaml_node_t *v)
{
    trove_hunt_template *t = x->t;
    int rc;
    if ((rc = want(x, v, YAML_SEQUENCE_NODE, "rewards")) != TROVE_OK)
        return rc;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0 || n > MAX_REWARDS)
        return node_fail(x, v, "'rewards' has %zu entries, must have 1 to %d", n,
                         MAX_REWARDS);
    if ((t->rewards = trove_calloc(n, sizeof *t->rewards)) == NULL)
        return nomem(x);
    t->n_rewards = n;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *e = yaml_document_get_node(x->doc,
                                                      v->data.sequence.items.start[i]);
        trove_hunt_reward_spec *r = &t->rewards[i];
        reward_ud u = { r, NULL, NULL };
        if (e == NULL)
            return trove_error_set(x->err, TROVE_EFORMAT, "%s: damaged document",
                                   x->file);
        r->weight = 1;
        r->from_day = INT32_MIN;
        r->to_day = INT32_MAX;
        r->line = (int)e->start_mark.line + 1;
        if ((rc = each_pair(x, e, "reward", reward_pair, &u)) != TROVE_OK)
            return rc;
        if (r->id == NULL)
            return node_fail(x, e, "reward %zu has no 'id'", i + 1);
        if (r->from_day > r->to_day)
            return node_fail(x, u.to, "reward '%s' ends before it starts", r->id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->rewards[j].id, r->id) == 0)
                return node_fail(x, e, "duplicate reward id '%s' (first at line "
                                 "%d)", r->id, t->rewards[j].line);
    }
    return TROVE_OK;
}

/* ------------------------------------------------------------------- top */
static int top_pair(hparse *x, void *ud, const char *key, const yaml_node_t *k,
                    const yaml_node_t *v)
{
    trove_hunt_template *t = x->t;
    long long n;
    int rc = TROVE_OK;
    (void)ud;
    if (strcmp(key, "name") == 0)
        return get_string(x, v, key, TROVE_HUNT_NAME_MAX, &t->name);
    if (strcmp(key, "candidates") == 0) {
        if ((rc = get_int(x, v, key, 1, TROVE_HUNT_MAX_CANDIDATES, &n)) == TROVE_OK)
            t->candidates = (uint32_t)n;
        return rc;
    }
    if (strcmp(key, "pool") == 0) {
        if ((rc = get_int(x, v, key, 1, TROVE_HUNT_MAX_CANDIDATES, &n)) == TROVE_OK)
            t->pool = (uint32_t)n;
        return rc;
    }
    if (strcmp(key, "validity_days") == 0) {
        if ((rc = get_int(x, v, key, 1, 366, &n)) == TROVE_OK)
            t->validity_days = (int)n;
        return rc;
    }
    if (strcmp(key, "steps") == 0)
        return parse_steps(x, v);
    if (strcmp(key, "constraints") == 0)
        return each_pair(x, v, key, constraint_pair, NULL);
    if (strcmp(key, "rewards") == 0)
        return parse_rewards(x, v);
    return node_fail(x, k, "unknown key '%s' (name, candidates, pool, steps, "
                     "constraints, rewards, validity_days)", key);
}

void trove_hunt_template_free(trove_hunt_template *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_steps; i++) {
        trove_free(t->steps[i].category);
        trove_free(t->steps[i].offer);
    }
    for (size_t i = 0; i < t->n_rewards; i++) {
        trove_free(t->rewards[i].id);
        trove_free(t->rewards[i].title);
    }
    trove_free(t->steps);
    trove_free(t->rewards);
    trove_free(t->path);
    trove_free(t->name);
    trove_free(t->category_field);
    trove_free(t->price_field);
    trove_free(t);
}

int trove_hunt_template_parse(const char *text, size_t len, const char *name,
                              trove_hunt_template **out, trove_error *err)
{
    yaml_document_t doc;
    trove_hunt_template *t = NULL;
    yaml_node_t *root;
    hparse x;
    int status = TROVE_OK, have_doc = 0;

    if (text == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt template: no text");
    if (name == NULL)
        name = "<string>";
    if ((t = trove_calloc(1, sizeof *t)) == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
    t->candidates = 200;
    t->pool = 5;
    t->distinct_categories = 1;
    t->novelty_min_share = 1;
    t->history_days = 90;
    t->validity_days = 1;
    t->hash = trove_hash64(text, len, 0);
    if ((t->path = trove_strdup(name)) == NULL) {
        status = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    x.file = name;
    x.doc = &doc;
    x.t = t;
    x.err = err;
    if ((status = trove__yaml_load(text, len, name, &doc, err)) != TROVE_OK)
        goto done;
    have_doc = 1;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        status = trove_error_set(err, TROVE_EFORMAT, "%s:1:1: empty template "
                                 "(needs at least steps and rewards)", name);
        goto done;
    }
    if ((status = each_pair(&x, root, "the file", top_pair, NULL)) != TROVE_OK)
        goto done;
    if (t->n_steps == 0) {
        status = node_fail(&x, root, "the template has no 'steps'");
        goto done;
    }
    if (t->n_rewards == 0) {
        status = node_fail(&x, root, "the template has no 'rewards'");
        goto done;
    }
    if (t->pool > t->candidates) {
        status = node_fail(&x, root, "'pool' (%u) is larger than 'candidates' "
                           "(%u)", t->pool, t->candidates);
        goto done;
    }
    if (t->category_field == NULL &&
        (t->category_field = trove_strdup("category")) == NULL) {
        status = nomem(&x);
        goto done;
    }
    if (t->name == NULL && (t->name = trove_strdup("hunt")) == NULL) {
        status = nomem(&x);
        goto done;
    }
    *out = t;
    t = NULL;
done:
    if (have_doc)
        yaml_document_delete(&doc);
    trove_hunt_template_free(t);
    return status;
}

int trove_hunt_template_load(const char *path, trove_hunt_template **out,
                             trove_error *err)
{
    unsigned char *text = NULL;
    size_t len = 0;
    int status;

    if (path == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "hunt template: no path");
    status = trove__file_read_all(path, (size_t)1 << 20, &text, &len, err);
    if (status != TROVE_OK)
        return status;
    status = trove_hunt_template_parse((const char *)text, len, path, out, err);
    trove_free(text);
    return status;
}

int trove_hunt_template_default(trove_hunt_template **out, trove_error *err)
{
    return trove_hunt_template_parse(default_text, sizeof default_text - 1,
                                     "<default>", out, err);
}
