/*
 * store.c - backend-neutral front end of the store: URI dispatch, argument
 * checks, read-only enforcement and event type names. Every public
 * trove_store_* call lands here and is forwarded through s->ops to the
 * backend chosen at open (see store_int.h).
 *
 * Invariants:
 *   - A backend is only called with valid arguments (non-NULL strings, ids
 *     > 0, types and kinds inside their enums, finite values), so the checks
 *     live once, here, for every backend.
 *   - A handle opened with TROVE_STORE_READONLY never reaches a backend's
 *     write function.
 */
#include "store/store_int.h"

#include <math.h>
#include <string.h>

static const char *const event_type_names[TROVE_EVENT_TYPE_MAX + 1] = {
    NULL, "impression", "click", "redemption", "purchase", "rating", "return"
};

const char *trove_event_type_name(int type)
{
    if (type < 1 || type > TROVE_EVENT_TYPE_MAX)
        return "unknown";
    return event_type_names[type];
}

int trove_event_type_parse(const char *name, int *type)
{
    if (name == NULL || type == NULL)
        return TROVE_EINVAL;
    for (int t = 1; t <= TROVE_EVENT_TYPE_MAX; t++)
        if (strcmp(name, event_type_names[t]) == 0) {
            *type = t;
            return TROVE_OK;
        }
    return TROVE_EINVAL;
}

/* ------------------------------------------------------------ open/close */

int trove__store_open_at(const char *uri, int flags, int max_version,
                         trove_store **out, trove_error *err)
{
    const char *colon, *slash;

    if (uri == NULL || uri[0] == '\0' || out == NULL)
        return trove_error_set(err, TROVE_EINVAL, "open store: no store given");
    if ((flags & TROVE_STORE_READONLY) && (flags & TROVE_STORE_CREATE))
        return trove_error_set(err, TROVE_EINVAL,
                               "%s: cannot create a store opened read-only", uri);
    if (strncmp(uri, "sqlite:", 7) == 0)
        return trove__store_sqlite_open(uri + 7, flags, max_version, out, err);
    /* A scheme is letters/digits/+-. before "://" (RFC 3986); a plain path
     * may contain ':' elsewhere (e.g. "./a:b.db"). */
    colon = strstr(uri, "://");
    slash = strchr(uri, '/');
    if (colon != NULL && colon != uri && (slash == NULL || slash > colon))
        return trove_error_set(err, TROVE_EUNSUPPORTED,
                               "%s: unsupported store (only SQLite files, "
                               "'PATH' or 'sqlite:PATH', are supported)", uri);
    return trove__store_sqlite_open(uri, flags, max_version, out, err);
}

int trove_store_open(const char *uri, int flags, trove_store **out,
                     trove_error *err)
{
    return trove__store_open_at(uri, flags, trove__store_sqlite_latest(), out,
                                err);
}

void trove_store_close(trove_store *s)
{
    if (s == NULL)
        return;
    s->ops->close(s);
}

int trove_store_schema_version(trove_store *s)
{
    return s ? s->ops->schema_version(s) : 0;
}

int trove_store_schema_latest(void)
{
    return trove__store_sqlite_latest();
}

/* ------------------------------------------------------------- checks */

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            return trove_error_set(err, TROVE_EINVAL, __VA_ARGS__);          \
    } while (0)

static int check_writable(trove_store *s, const char *what, trove_error *err)
{
    if (s->flags & TROVE_STORE_READONLY)
        return trove_error_set(err, TROVE_EUNSUPPORTED,
                               "%s: %s: store is open read-only", s->name, what);
    return TROVE_OK;
}

static int check_text(trove_store *s, const char *what, const char *field,
                      const char *v, trove_error *err)
{
    CHECK(v != NULL && v[0] != '\0', "%s: %s: empty %s", s->name, what, field);
    return TROVE_OK;
}

/* ------------------------------------------------------------ transactions */

int trove_store_begin(trove_store *s, trove_error *err)
{
    CHECK(s != NULL, "begin: no store");
    return s->ops->begin(s, err);
}

int trove_store_commit(trove_store *s, trove_error *err)
{
    CHECK(s != NULL, "commit: no store");
    return s->ops->commit(s, err);
}

int trove_store_rollback(trove_store *s, trove_error *err)
{
    CHECK(s != NULL, "rollback: no store");
    return s->ops->rollback(s, err);
}

/* --------------------------------------------------------------- markets */

int trove_store_market_upsert(trove_store *s, const char *code,
                              const char *name, const char *timezone,
                              int64_t *id, int *created, trove_error *err)
{
    int rc;
    CHECK(s != NULL && id != NULL, "market upsert: no store or no id");
    if ((rc = check_writable(s, "market upsert", err)) != TROVE_OK ||
        (rc = check_text(s, "market upsert", "market code", code, err)) != TROVE_OK)
        return rc;
    CHECK(strlen(code) < TROVE__STORE_CODE_MAX,
          "%s: market upsert: market code '%.20s...' longer than %d bytes",
          s->name, code, TROVE__STORE_CODE_MAX - 1);
    CHECK(timezone == NULL || timezone[0] != '\0',
          "%s: market upsert: empty time zone for market '%s'", s->name, code);
    return s->ops->market_upsert(s, code, name, timezone, id, created, err);
}

int trove_store_market_find(trove_store *s, const char *code, int64_t *id,
                            trove_error *err)
{
    int rc;
    CHECK(s != NULL && id != NULL, "market find: no store or no id");
    if ((rc = check_text(s, "market find", "market code", code, err)) != TROVE_OK)
        return rc;
    return s->ops->market_find(s, code, id, err);
}

int trove_store_markets_foreach(trove_store *s, trove_market_fn fn, void *ud,
                                trove_error *err)
{
    CHECK(s != NULL && fn != NULL, "markets foreach: no store or no callback");
    return s->ops->markets_foreach(s, fn, ud, err);
}

/* ----------------------------------------------------------------- users */

int trove_store_user_upsert(trove_store *s, const char *ext_id,
                            int64_t market_id, int64_t *id, int *created,
                            trove_error *err)
{
    int rc;
    CHECK(s != NULL && id != NULL, "user upsert: no store or no id");
    if ((rc = check_writable(s, "user upsert", err)) != TROVE_OK ||
        (rc = check_text(s, "user upsert", "user id", ext_id, err)) != TROVE_OK)
        return rc;
    CHECK(market_id >= 0, "%s: user upsert: user '%s': bad market id %lld",
          s->name, ext_id, (long long)market_id);
    return s->ops->user_upsert(s, ext_id, market_id, id, created, err);
}

int trove_store_user_find(trove_store *s, const char *ext_id, int64_t *id,
                          trove_error *err)
{
    int rc;
    CHECK(s != NULL && id != NULL, "user find: no store or no id");
    if ((rc = check_text(s, "user find", "user id", ext_id, err)) != TROVE_OK)
        return rc;
    return s->ops->user_find(s, ext_id, id, err);
}

int trove_store_users_foreach(trove_store *s, trove_user_fn fn, void *ud,
                              trove_error *err)
{
    CHECK(s != NULL && fn != NULL, "users foreach: no store or no callback");
    return s->ops->users_foreach(s, fn, ud, err);
}

int trove_store_users_count(trove_store *s, int64_t market_id, uint64_t *n,
                            trove_error *err)
{
    CHECK(s != NULL && n != NULL, "users count: no store or no output");
    CHECK(market_id >= 0, "%s: users count: bad market id %lld", s->name,
          (long long)market_id);
    return s->ops->users_count(s, market_id, n, err);
}

/* ----------------------------------------------------------------- items */

int trove_store_item_upsert(trove_store *s, const char *ext_id,
                            const char *title, int64_t *id, int *created,
                            trove_error *err)
{
    int rc;
    CHECK(s != NULL && id != NULL, "item upsert: no store or no id");
    if ((rc = check_writable(s, "item upsert", err)) != TROVE_OK ||
        (rc = check_text(s, "item upsert", "item id", ext_id, err)) != TROVE_OK)
        return rc;
    return s->ops->item_upsert(s, ext_id, title, id, created, err);
}

int trove_store_item_find(trove_store *s, const char *ext_id, int64_t *id,
                          trove_error *err)
{
    int rc;
    CHECK(s != NULL && id != NULL, "item find: no store or no id");
    if ((rc = check_text(s, "item find", "item id", ext_id, err)) != TROVE_OK)
        return rc;
    return s->ops->item_find(s, ext_id, id, err);
}

int trove_store_item_set_flags(trove_store *s, int64_t item_id,
                               const trove_item *flags, unsigned mask,
                               trove_error *err)
{
    const unsigned all = TROVE_ITEM_ACTIVE | TROVE_ITEM_PINNED |
                         TROVE_ITEM_BLOCKED | TROVE_ITEM_START_TS |
                         TROVE_ITEM_END_TS;
    int rc;
    CHECK(s != NULL && flags != NULL, "item flags: no store or no flags");
    if ((rc = check_writable(s, "item flags", err)) != TROVE_OK)
        return rc;
    CHECK(item_id > 0, "%s: item flags: bad item id %lld", s->name,
          (long long)item_id);
    CHECK((mask & ~all) == 0, "%s: item flags: unknown flag bits 0x%x",
          s->name, mask & ~all);
    CHECK(!(mask & TROVE_ITEM_ACTIVE) || flags->active == 0 || flags->active == 1,
          "%s: item %lld: active must be 0 or 1", s->name, (long long)item_id);
    CHECK(!(mask & TROVE_ITEM_PINNED) || flags->pinned == 0 || flags->pinned == 1,
          "%s: item %lld: pinned must be 0 or 1", s->name, (long long)item_id);
    CHECK(!(mask & TROVE_ITEM_BLOCKED) || flags->blocked == 0 || flags->blocked == 1,
          "%s: item %lld: blocked must be 0 or 1", s->name, (long long)item_id);
    CHECK(!(mask & TROVE_ITEM_START_TS) || flags->start_ts >= 0,
          "%s: item %lld: negative start time", s->name, (long long)item_id);
    CHECK(!(mask & TROVE_ITEM_END_TS) || flags->end_ts >= 0,
          "%s: item %lld: negative end time", s->name, (long long)item_id);
    return s->ops->item_set_flags(s, item_id, flags, mask, err);
}

int trove_store_item_get(trove_store *s, int64_t item_id, trove_item *out,
                         trove_error *err)
{
    CHECK(s != NULL && out != NULL, "item get: no store or no output");
    CHECK(item_id > 0, "%s: item get: bad item id %lld", s->name,
          (long long)item_id);
    return s->ops->item_get(s, item_id, out, err);
}

int trove_store_items_foreach(trove_store *s, trove_item_fn fn, void *ud,
                              trove_error *err)
{
    CHECK(s != NULL && fn != NULL, "items foreach: no store or no callback");
    return s->ops->items_foreach(s, fn, ud, err);
}

/* -------------------------------------------------------------- features */

static int check_target(trove_store *s, const char *what, int target,
                        trove_error *err)
{
    CHECK(target == TROVE_FEATURE_USER || target == TROVE_FEATURE_ITEM,
          "%s: %s: bad feature target %d", s->name, what, target);
    return TROVE_OK;
}

int trove_store_feature_upsert(trove_store *s, int target, const char *name,
                               int kind, int64_t *id, trove_error *err)
{
    int rc;
    CHECK(s != NULL && id != NULL, "feature upsert: no store or no id");
    if ((rc = check_writable(s, "feature upsert", err)) != TROVE_OK ||
        (rc = check_target(s, "feature upsert", target, err)) != TROVE_OK ||
        (rc = check_text(s, "feature upsert", "feature name", name, err)) != TROVE_OK)
        return rc;
    CHECK(kind == TROVE_FEATURE_CATEGORICAL || kind == TROVE_FEATURE_NUMERIC,
          "%s: feature '%s': bad kind %d", s->name, name, kind);
    return s->ops->feature_upsert(s, target, name, kind, id, err);
}

static int feature_set(trove_store *s, int target, int64_t entity_id,
                       int64_t feature_id, double value, trove_error *err)
{
    const char *what = target == TROVE_FEATURE_USER ? "user" : "item";
    int rc;
    CHECK(s != NULL, "feature set: no store");
    if ((rc = check_writable(s, "feature set", err)) != TROVE_OK)
        return rc;
    CHECK(entity_id > 0 && feature_id > 0,
          "%s: feature set: bad %s id %lld or feature id %lld", s->name, what,
          (long long)entity_id, (long long)feature_id);
    CHECK(isfinite(value), "%s: %s %lld: feature %lld: value is not finite",
          s->name, what, (long long)entity_id, (long long)feature_id);
    return s->ops->feature_set(s, target, entity_id, feature_id, value, err);
}

int trove_store_user_feature_set(trove_store *s, int64_t user_id,
                                 int64_t feature_id, double value,
                                 trove_error *err)
{
    return feature_set(s, TROVE_FEATURE_USER, user_id, feature_id, value, err);
}

int trove_store_item_feature_set(trove_store *s, int64_t item_id,
                                 int64_t feature_id, double value,
                                 trove_error *err)
{
    return feature_set(s, TROVE_FEATURE_ITEM, item_id, feature_id, value, err);
}

int trove_store_features_foreach(trove_store *s, int target,
                                 trove_feature_fn fn, void *ud,
                                 trove_error *err)
{
    int rc;
    CHECK(s != NULL && fn != NULL, "features foreach: no store or no callback");
    if ((rc = check_target(s, "features foreach", target, err)) != TROVE_OK)
        return rc;
    return s->ops->features_foreach(s, target, fn, ud, err);
}

/* ---------------------------------------------------------------- events */

int trove_store_event_add(trove_store *s, const trove_event *ev,
                          int *inserted, trove_error *err)
{
    int rc;
    CHECK(s != NULL && ev != NULL, "event add: no store or no event");
    if ((rc = check_writable(s, "event add", err)) != TROVE_OK)
        return rc;
    CHECK(ev->user_id > 0 && ev->item_id > 0 && ev->market_id >= 0,
          "%s: event %llu: bad user %lld, item %lld or market %lld", s->name,
          (unsigned long long)ev->id, (long long)ev->user_id,
          (long long)ev->item_id, (long long)ev->market_id);
    CHECK(ev->type >= 1 && ev->type <= TROVE_EVENT_TYPE_MAX,
          "%s: event %llu: bad event type %d", s->name,
          (unsigned long long)ev->id, ev->type);
    CHECK(isfinite(ev->value), "%s: event %llu: value is not finite", s->name,
          (unsigned long long)ev->id);
    return s->ops->event_add(s, ev, inserted, err);
}

int trove_store_events_foreach(trove_store *s, const trove_event_filter *filter,
                               trove_event_fn fn, void *ud, trove_error *err)
{
    const unsigned all = ((1u << (TROVE_EVENT_TYPE_MAX + 1)) - 1) & ~1u;
    CHECK(s != NULL && fn != NULL, "events foreach: no store or no callback");
    if (filter != NULL) {
        CHECK(filter->market_id >= 0, "%s: events foreach: bad market id %lld",
              s->name, (long long)filter->market_id);
        CHECK((filter->type_mask & ~all) == 0,
              "%s: events foreach: bad type mask 0x%x", s->name,
              filter->type_mask);
    }
    return s->ops->events_foreach(s, filter, fn, ud, err);
}

int trove_store_events_count(trove_store *s, const trove_event_filter *filter,
                             uint64_t *count, trove_error *err)
{
    const unsigned all = ((1u << (TROVE_EVENT_TYPE_MAX + 1)) - 1) & ~1u;
    CHECK(s != NULL && count != NULL, "events count: no store or no output");
    if (filter != NULL) {
        CHECK(filter->market_id >= 0, "%s: events count: bad market id %lld",
              s->name, (long long)filter->market_id);
        CHECK((filter->type_mask & ~all) == 0,
              "%s: events count: bad type mask 0x%x", s->name, filter->type_mask);
    }
    return s->ops->events_count(s, filter, count, err);
}

/* ----------------------------------------------------------------- stats */

int trove_store_stats_get(trove_store *s, trove_store_stats *out,
                          trove_error *err)
{
    CHECK(s != NULL && out != NULL, "stats: no store or no output");
    return s->ops->stats_get(s, out, err);
}

/* --------------------------------------------------- registry and cycles */

static const char *const source_names[TROVE_SOURCE_MAX + 1] = {
    NULL, "model", "popularity", "random", "new-offer", "rule"
};

const char *trove_assignment_source_name(int source)
{
    if (source < 1 || source > TROVE_SOURCE_MAX)
        return "unknown";
    return source_names[source];
}

int trove_store_model_register(trove_store *s, const trove_model_version *mv,
                               int *version, int64_t *id, trove_error *err)
{
    int rc;
    CHECK(s != NULL && mv != NULL && version != NULL,
          "model register: no store, version or output");
    if ((rc = check_writable(s, "model register", err)) != TROVE_OK ||
        (rc = check_text(s, "model register", "family", mv->family, err)) != TROVE_OK ||
        (rc = check_text(s, "model register", "path", mv->path, err)) != TROVE_OK ||
        (rc = check_text(s, "model register", "config hash", mv->config_hash,
                         err)) != TROVE_OK ||
        (rc = check_text(s, "model register", "data fingerprint",
                         mv->data_fingerprint, err)) != TROVE_OK)
        return rc;
    CHECK(mv->market_id >= 0 && mv->created_ts >= 0,
          "%s: model register: bad market id %lld or time %lld", s->name,
          (long long)mv->market_id, (long long)mv->created_ts);
    return s->ops->model_register(s, mv, version, id, err);
}

int trove_store_models_foreach(trove_store *s, int64_t market_id,
                               trove_model_version_fn fn, void *ud,
                               trove_error *err)
{
    CHECK(s != NULL && fn != NULL, "models foreach: no store or no callback");
    CHECK(market_id >= 0, "%s: models foreach: bad market id %lld", s->name,
          (long long)market_id);
    return s->ops->models_foreach(s, market_id, fn, ud, err);
}

int trove_store_model_activate(trove_store *s, int64_t market_id, int version,
                               trove_error *err)
{
    int rc;
    CHECK(s != NULL, "model activate: no store");
    if ((rc = check_writable(s, "model activate", err)) != TROVE_OK)
        return rc;
    CHECK(market_id >= 0 && version > 0,
          "%s: model activate: bad market id %lld or version %d", s->name,
          (long long)market_id, version);
    return s->ops->model_activate(s, market_id, version, err);
}

int trove_store_model_active(trove_store *s, int64_t market_id, int *version,
                             trove_error *err)
{
    CHECK(s != NULL && version != NULL, "model active: no store or no output");
    CHECK(market_id >= 0, "%s: model active: bad market id %lld", s->name,
          (long long)market_id);
    return s->ops->model_active(s, market_id, version, err);
}

int trove_store_model_rollback(trove_store *s, int64_t market_id, int *version,
                               trove_error *err)
{
    int rc;
    CHECK(s != NULL, "model rollback: no store");
    if ((rc = check_writable(s, "model rollback", err)) != TROVE_OK)
        return rc;
    CHECK(market_id >= 0, "%s: model rollback: bad market id %lld", s->name,
          (long long)market_id);
    return s->ops->model_rollback(s, market_id, version, err);
}

int trove_store_models_prune(trove_store *s, int64_t market_id, int keep,
                             char ***paths, size_t *n_paths, trove_error *err)
{
    int rc;
    CHECK(s != NULL && paths != NULL && n_paths != NULL,
          "models prune: no store or no output");
    if ((rc = check_writable(s, "models prune", err)) != TROVE_OK)
        return rc;
    CHECK(market_id >= 0 && keep >= 1,
          "%s: models prune: bad market id %lld or keep %d (must be >= 1)",
          s->name, (long long)market_id, keep);
    return s->ops->models_prune(s, market_id, keep, paths, n_paths, err);
}

void trove_store_strings_free(char **strings, size_t n)
{
    if (strings == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        trove_free(strings[i]);
    trove_free(strings);
}

int trove_store_cycle_create(trove_store *s, const trove_cycle *c, int replace,
                             int64_t *id, trove_error *err)
{
    int rc;
    CHECK(s != NULL && c != NULL && id != NULL,
          "cycle create: no store, cycle or output");
    if ((rc = check_writable(s, "cycle create", err)) != TROVE_OK ||
        (rc = check_text(s, "cycle create", "cycle key", c->key, err)) != TROVE_OK ||
        (rc = check_text(s, "cycle create", "salt", c->salt, err)) != TROVE_OK)
        return rc;
    CHECK(strlen(c->key) < TROVE__STORE_CODE_MAX,
          "%s: cycle create: cycle key '%.20s...' longer than %d bytes",
          s->name, c->key, TROVE__STORE_CODE_MAX - 1);
    CHECK(c->market_id > 0 && c->model_version_id >= 0 && c->created_ts >= 0 &&
          c->eligible_items >= 0,
          "%s: cycle '%s': bad market %lld, model version %lld, time %lld or "
          "eligible count %lld", s->name, c->key, (long long)c->market_id,
          (long long)c->model_version_id, (long long)c->created_ts,
          (long long)c->eligible_items);
    CHECK(c->test_share >= 0 && c->test_share <= 1,
          "%s: cycle '%s': test share %g outside [0, 1]", s->name, c->key,
          c->test_share);
    CHECK(replace == 0 || replace == 1, "%s: cycle '%s': replace must be 0 or 1",
          s->name, c->key);
    return s->ops->cycle_create(s, c, replace, id, err);
}

int trove_store_cycle_find(trove_store *s, int64_t market_id, const char *key,
                           trove_cycle *out, trove_error *err)
{
    int rc;
    CHECK(s != NULL && out != NULL, "cycle find: no store or no output");
    if ((rc = check_text(s, "cycle find", "cycle key", key, err)) != TROVE_OK)
        return rc;
    CHECK(market_id > 0, "%s: cycle find: bad market id %lld", s->name,
          (long long)market_id);
    return s->ops->cycle_find(s, market_id, key, out, err);
}

int trove_store_cycles_foreach(trove_store *s, int64_t market_id,
                               trove_cycle_fn fn, void *ud, trove_error *err)
{
    CHECK(s != NULL && fn != NULL, "cycles foreach: no store or no callback");
    CHECK(market_id >= 0, "%s: cycles foreach: bad market id %lld", s->name,
          (long long)market_id);
    return s->ops->cycles_foreach(s, market_id, fn, ud, err);
}

int trove_store_assignments_add(trove_store *s, const trove_assignment *rows,
                                size_t n, trove_error *err)
{
    int rc;
    CHECK(s != NULL && (rows != NULL || n == 0), "assignments add: no store or rows");
    if ((rc = check_writable(s, "assignments add", err)) != TROVE_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const trove_assignment *a = &rows[i];
        CHECK(a->cycle_id > 0 && a->user_id > 0 && a->item_id > 0 && a->rank >= 0,
              "%s: assignment %zu: bad cycle %lld, user %lld, item %lld or rank %d",
              s->name, i, (long long)a->cycle_id, (long long)a->user_id,
              (long long)a->item_id, a->rank);
        CHECK(a->arm == 0 || a->arm == 1, "%s: assignment %zu: bad arm %d",
              s->name, i, a->arm);
        CHECK(a->source >= 1 && a->source <= TROVE_SOURCE_MAX,
              "%s: assignment %zu: bad source %d", s->name, i, a->source);
        CHECK(!isinf(a->score), "%s: assignment %zu: infinite score", s->name, i);
    }
    if (n == 0)
        return TROVE_OK;
    return s->ops->assignments_add(s, rows, n, err);
}

int trove_store_assignments_foreach(trove_store *s, int64_t cycle_id,
                                    trove_assignment_fn fn, void *ud,
                                    trove_error *err)
{
    CHECK(s != NULL && fn != NULL, "assignments foreach: no store or no callback");
    CHECK(cycle_id > 0, "%s: assignments foreach: bad cycle id %lld", s->name,
          (long long)cycle_id);
    return s->ops->assignments_foreach(s, cycle_id, fn, ud, err);
}

int trove_store_ab_counts(trove_store *s, int64_t cycle_id, int64_t now,
                          trove_ab_cycle_counts *out, trove_error *err)
{
    CHECK(s != NULL && out != NULL, "ab counts: no store or no output");
    CHECK(cycle_id > 0 && now >= 0, "%s: ab counts: bad cycle id %lld or time %lld",
          s->name, (long long)cycle_id, (long long)now);
    return s->ops->ab_counts(s, cycle_id, now, out, err);
}
