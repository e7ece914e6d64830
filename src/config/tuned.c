/*
 * tuned.c - the tuned-settings file (trove/tuned.h): writing it as plain
 * YAML text and reading it back through libyaml (this file and config.c are
 * the only ones that include <yaml.h>).
 *
 * Reading loads the document tree (yaml_parser_load) and walks it against
 * fixed key sets; every problem is TROVE_EFORMAT with "file:line:column:"
 * of the offending node (1-based). Nothing is returned unless the whole
 * file is valid. Writing quotes every string (double quotes, with \" and \\
 * escapes) so that any setting value reads back unchanged; numbers are
 * written with %.17g so they round-trip exactly.
 */
#include "trove/tuned.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/yaml_util.h"
#include "core/file.h"

typedef struct tctx {
    const char *file;
    yaml_document_t *doc;
    trove_error *err;
} tctx;

static int fail_at(tctx *x, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(tctx *x, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = trove__yaml_failv(x->err, x->file, n, fmt, ap);
    va_end(ap);
    return rc;
}

trove_tuned_config *trove_tuned_config_new(void)
{
    trove_tuned_config *c = trove_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->models = trove_calloc(TROVE_TUNED_MAX_MODELS, sizeof *c->models);
    if (c->models == NULL) {
        trove_free(c);
        return NULL;
    }
    c->valid_fraction = 0.2;
    c->seed = 42;
    return c;
}

void trove_tuned_config_free(trove_tuned_config *c)
{
    if (c == NULL)
        return;
    trove_free(c->models);
    trove_free(c);
}

/* ---------------------------------------------------------------- reading */

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* A scalar copied into buf (n bytes); too long or not a scalar fails. */
static int get_text(tctx *x, const yaml_node_t *n, const char *key, char *buf, size_t sz)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(x, n, "'%s' must be a scalar", key);
    if (n->data.scalar.length == 0 || n->data.scalar.length >= sz)
        return fail_at(x, n, "'%s' must be 1 to %zu characters", key, sz - 1);
    memcpy(buf, sval(n), n->data.scalar.length + 1);
    return TROVE_OK;
}

static int get_double(tctx *x, const yaml_node_t *n, const char *key, double *out)
{
    char *end;
    double v;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail_at(x, n, "'%s' must be a number", key);
    errno = 0;
    v = strtod(sval(n), &end);
    if (errno != 0 || end == sval(n) || *end != '\0' || !isfinite(v) ||
        isalpha((unsigned char)sval(n)[0]))
        return fail_at(x, n, "'%s' must be a number, not '%s'", key, sval(n));
    *out = v;
    return TROVE_OK;
}

/* Mark key `i` of `keys` seen; fails on an unknown or repeated key. */
static int key_index(tctx *x, const yaml_node_t *k, const char *const *keys,
                     unsigned *seen, const char *where, int *idx)
{
    if (k->type != YAML_SCALAR_NODE)
        return fail_at(x, k, "%s: keys must be scalars", where);
    for (int i = 0; keys[i] != NULL; i++)
        if (strcmp(keys[i], sval(k)) == 0) {
            if (*seen & (1u << i))
                return fail_at(x, k, "%s: '%s' is given twice", where, sval(k));
            *seen |= 1u << i;
            *idx = i;
            return TROVE_OK;
        }
    {
        char list[256] = "";
        for (int i = 0; keys[i] != NULL; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, keys[i], sizeof list - strlen(list) - 1);
        }
        return fail_at(x, k, "%s: unknown key '%s' (valid: %s)", where, sval(k), list);
    }
}

static int has_key(const trove_reco_params *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->key[i], key) == 0)
            return 1;
    return 0;
}

static int parse_settings(tctx *x, const yaml_node_t *n, trove_reco_params *s)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(x, n, "'settings' must be a mapping of key: value");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        char kv[TROVE_RECO_KEY_MAX + TROVE_RECO_VALUE_MAX + 2];
        if (k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0 ||
            k->data.scalar.length >= TROVE_RECO_KEY_MAX || strchr(sval(k), '=') != NULL)
            return fail_at(x, k, "setting names are scalars of 1 to %d characters "
                           "without '='", TROVE_RECO_KEY_MAX - 1);
        if (has_key(s, sval(k)))
            return fail_at(x, k, "setting '%s' is given twice", sval(k));
        if (v->type != YAML_SCALAR_NODE || v->data.scalar.length >= TROVE_RECO_VALUE_MAX)
            return fail_at(x, v, "setting '%s' must be a scalar of at most %d characters",
                           sval(k), TROVE_RECO_VALUE_MAX - 1);
        if (s->n == TROVE_RECO_MAX_SETTINGS)
            return fail_at(x, k, "at most %d settings", TROVE_RECO_MAX_SETTINGS);
        snprintf(kv, sizeof kv, "%s=%s", sval(k), sval(v));
        if (trove_reco_params_set(s, kv, NULL) != TROVE_OK)
            return fail_at(x, k, "setting '%s' cannot be stored", sval(k));
    }
    return TROVE_OK;
}

static int parse_model(tctx *x, const yaml_node_t *n, trove_tuned_model *m)
{
    static const char *const keys[] = {"family", "validation", "settings", NULL};
    unsigned seen = 0;
    int rc;
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(x, n, "each entry of 'models' must be a mapping");
    memset(m, 0, sizeof *m);
    m->settings = trove_reco_default_params();
    m->valid_score = NAN;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        int idx = 0;
        if ((rc = key_index(x, k, keys, &seen, "model", &idx)) != TROVE_OK)
            return rc;
        if (idx == 0)
            rc = get_text(x, v, "family", m->family, sizeof m->family);
        else if (idx == 1)
            rc = get_double(x, v, "validation", &m->valid_score);
        else
            rc = parse_settings(x, v, &m->settings);
        if (rc != TROVE_OK)
            return rc;
    }
    if (!(seen & 1u))
        return fail_at(x, n, "model: 'family' is missing");
    return TROVE_OK;
}

static int parse_root(tctx *x, const yaml_node_t *root, trove_tuned_config *c)
{
    static const char *const keys[] = {"metric", "validation_fraction", "seed", "best",
                                       "models", NULL};
    const yaml_node_t *best_node = NULL;
    unsigned seen = 0;
    int rc = TROVE_OK;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(x, root, "the file must be a mapping (metric, "
                       "validation_fraction, seed, best, models)");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        int idx = 0;
        double d;
        if ((rc = key_index(x, k, keys, &seen, "top level", &idx)) != TROVE_OK)
            return rc;
        switch (idx) {
        case 0:
            rc = get_text(x, v, "metric", c->metric, sizeof c->metric);
            break;
        case 1:
            if ((rc = get_double(x, v, "validation_fraction", &d)) == TROVE_OK &&
                !(d > 0.0 && d < 1.0))
                rc = fail_at(x, v, "'validation_fraction' must be in (0, 1)");
            c->valid_fraction = d;
            break;
        case 2:
            if ((rc = get_double(x, v, "seed", &d)) == TROVE_OK &&
                !(d >= 0.0 && d <= 9007199254740992.0 && d == floor(d)))
                rc = fail_at(x, v, "'seed' must be a non-negative integer");
            c->seed = (uint64_t)d;
            break;
        case 3:
            best_node = v;
            rc = get_text(x, v, "best", c->best, sizeof c->best);
            break;
        default:
            if (v->type != YAML_SEQUENCE_NODE ||
                v->data.sequence.items.top == v->data.sequence.items.start)
                return fail_at(x, v, "'models' must be a non-empty list");
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top && rc == TROVE_OK; it++) {
                if (c->n_models == TROVE_TUNED_MAX_MODELS)
                    return fail_at(x, v, "at most %d models", TROVE_TUNED_MAX_MODELS);
                rc = parse_model(x, yaml_document_get_node(x->doc, *it),
                                 &c->models[c->n_models]);
                if (rc == TROVE_OK)
                    c->n_models++;
            }
            break;
        }
        if (rc != TROVE_OK)
            return rc;
    }
    for (int i = 0; keys[i] != NULL; i++)
        if (!(seen & (1u << i)))
            return fail_at(x, root, "'%s' is missing", keys[i]);
    for (size_t m = 0; m < c->n_models; m++)
        if (strcmp(c->models[m].family, c->best) == 0)
            return TROVE_OK;
    return fail_at(x, best_node, "best: '%s' is not one of the listed models", c->best);
}

int trove_tuned_config_load(const char *path, trove_tuned_config **out, trove_error *err)
{
    yaml_document_t doc;
    trove_tuned_config *c = NULL;
    const yaml_node_t *root;
    unsigned char *text = NULL;
    size_t len = 0;
    int doc_ok = 0, rc;
    tctx x;

    if (path == NULL || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "tuned config: missing argument");
    rc = trove__file_read_all(path, (size_t)64 << 20, &text, &len, err);
    if (rc != TROVE_OK)
        return rc;
    x.file = path;
    x.doc = &doc;
    x.err = err;
    if ((rc = trove__yaml_load((const char *)text, len, path, &doc, err)) != TROVE_OK)
        goto done;
    doc_ok = 1;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        rc = trove_error_set(err, TROVE_EFORMAT, "%s:1:1: the file is empty", path);
        goto done;
    }
    c = trove_tuned_config_new();
    if (c == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    rc = parse_root(&x, root, c);
    if (rc == TROVE_OK) {
        *out = c;
        c = NULL;
    }
done:
    trove_tuned_config_free(c);
    if (doc_ok)
        yaml_document_delete(&doc);
    trove_free(text);
    return rc;
}

/* ---------------------------------------------------------------- writing */

static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", f);
        else if (*s == '\t')
            fputs("\\t", f);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\x%02x", (unsigned char)*s);
        else {
            if (*s == '"' || *s == '\\')
                fputc('\\', f);
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

int trove_tuned_config_save(const trove_tuned_config *c, const char *path, trove_error *err)
{
    char tmp[4200];
    int found = 0, rc = TROVE_OK;
    FILE *f;
    if (c == NULL || path == NULL)
        return trove_error_set(err, TROVE_EINVAL, "tuned config: missing argument");
    for (size_t m = 0; m < c->n_models; m++)
        found |= strcmp(c->models[m].family, c->best) == 0;
    if (!found)
        return trove_error_set(err, TROVE_EINVAL, "tuned config: best '%s' is not one "
                               "of the %zu models", c->best, c->n_models);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return trove_error_set(err, TROVE_EIO, "%s: %s", tmp, strerror(errno));
    fprintf(f, "# trove tune: settings chosen on a validation split carved from the "
               "training data\nmetric: ");
    put_quoted(f, c->metric);
    fprintf(f, "\nvalidation_fraction: %.17g\nseed: %llu\nbest: ", c->valid_fraction,
            (unsigned long long)c->seed);
    put_quoted(f, c->best);
    fprintf(f, "\nmodels:\n");
    for (size_t m = 0; m < c->n_models; m++) {
        const trove_tuned_model *tm = &c->models[m];
        fprintf(f, "  - family: ");
        put_quoted(f, tm->family);
        fputc('\n', f);
        if (isfinite(tm->valid_score))
            fprintf(f, "    validation: %.17g\n", tm->valid_score);
        if (tm->settings.n > 0) {
            fprintf(f, "    settings:\n");
            for (size_t s = 0; s < tm->settings.n; s++) {
                fprintf(f, "      ");
                put_quoted(f, tm->settings.key[s]);
                fprintf(f, ": ");
                put_quoted(f, tm->settings.value[s]);
                fputc('\n', f);
            }
        }
    }
    if (ferror(f))
        rc = trove_error_set(err, TROVE_EIO, "%s: write failed", tmp);
    if (fclose(f) != 0 && rc == TROVE_OK)
        rc = trove_error_set(err, TROVE_EIO, "%s: write failed", tmp);
    if (rc == TROVE_OK && rename(tmp, path) != 0)
        rc = trove_error_set(err, TROVE_EIO, "%s: %s", path, strerror(errno));
    if (rc != TROVE_OK)
        unlink(tmp);
    return rc;
}
