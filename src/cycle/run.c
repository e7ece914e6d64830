/*
 * run.c - trove_cycle_run: one assignment cycle of a market against a
 * store. Reads the market's users, the catalog with its flags and prices,
 * the previous cycle (for new offers), recent redemptions (popularity) and
 * the active model; plans with trove_cycle_plan(); writes the cycle row and
 * every assignment between one begin/commit, so a cycle is stored whole or
 * not at all. The CSV export is written to a temporary file before the
 * commit and renamed after it.
 *
 * Invariant: users and offers are processed in store id order, so the same
 * store contents and parameters give the same assignments.
 */
#include "cycle/cycle_int.h"
#include "trove/dataset.h"
#include "trove/experiment.h"
#include "trove/recommender.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define POPULARITY_DAYS 90
#define INSERT_BATCH 8192

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

trove_cycle_run_params trove_cycle_run_default_params(void)
{
    trove_cycle_run_params p;
    memset(&p, 0, sizeof p);
    p.threads = 2;
    return p;
}

/* Users of the market; ext ids in one growing arena (offsets until the
 * arena stops moving, then turned into pointers). */
typedef struct user_list {
    int64_t market_id;
    trove_cycle_user *v;
    size_t *off;
    size_t n, cap;
    char *arena;
    size_t used, arena_cap;
} user_list;

static int collect_user(void *ud, const trove_user *u)
{
    user_list *l = ud;
    size_t len;
    if (u->market_id != l->market_id)
        return 0;
    len = strlen(u->ext_id) + 1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        trove_cycle_user *v = trove_realloc(l->v, cap * sizeof *v);
        size_t *off;
        if (v == NULL)
            return TROVE_ENOMEM;
        l->v = v;
        off = trove_realloc(l->off, cap * sizeof *off);
        if (off == NULL)
            return TROVE_ENOMEM;
        l->off = off;
        l->cap = cap;
    }
    if (l->arena_cap - l->used < len) {
        size_t cap = l->arena_cap ? l->arena_cap * 2 : 65536;
        char *a;
        while (cap - l->used < len)
            cap *= 2;
        a = trove_realloc(l->arena, cap);
        if (a == NULL)
            return TROVE_ENOMEM;
        l->arena = a;
        l->arena_cap = cap;
    }
    memcpy(l->arena + l->used, u->ext_id, len);
    l->off[l->n] = l->used;
    l->v[l->n].user_id = u->id;
    l->v[l->n].model_index = TROVE_CYCLE_NO_INDEX;
    l->n++;
    l->used += len;
    return 0;
}

typedef struct item_row {
    int64_t id;
    char *ext_id;
    trove_item it;     /* flags; strings not kept */
    double price;
    uint64_t redemptions;
} item_row;

typedef struct item_list {
    item_row *v;
    size_t n, cap;
    const char *price_feature;
} item_list;

static int collect_item(void *ud, const trove_item *it)
{
    item_list *l = ud;
    item_row *r;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        item_row *v = trove_realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return TROVE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    r = &l->v[l->n];
    r->ext_id = trove_strdup(it->ext_id);
    if (r->ext_id == NULL)
        return TROVE_ENOMEM;
    r->id = it->id;
    r->it = *it;
    r->it.ext_id = r->ext_id;
    r->it.title = "";
    r->price = NAN;
    r->redemptions = 0;
    l->n++;
    return 0;
}

static item_row *find_item(item_list *l, int64_t id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->v[lo].id == id ? &l->v[lo] : NULL;
}

static int collect_price(void *ud, const trove_feature_value *fv)
{
    item_list *l = ud;
    item_row *r;
    if (l->price_feature == NULL || strcmp(fv->name, l->price_feature) != 0)
        return 0;
    r = find_item(l, fv->entity_id);
    if (r != NULL)
        r->price = fv->value;
    return 0;
}

static int count_event(void *ud, const trove_event *ev)
{
    item_row *r = find_item(ud, ev->item_id);
    if (r != NULL)
        r->redemptions++;
    return 0;
}

typedef struct prev_cycle {
    const char *key;
    int64_t now;
    int64_t prev_ts;
    int has_prev;
} prev_cycle;

static int find_prev(void *ud, const trove_cycle *c)
{
    prev_cycle *p = ud;
    if (strcmp(c->key, p->key) == 0 || c->created_ts > p->now)
        return 0;
    if (!p->has_prev || c->created_ts > p->prev_ts)
        p->prev_ts = c->created_ts;
    p->has_prev = 1;
    return 0;
}

typedef struct active_model {
    int version;
    int64_t id;
    char *path;
} active_model;

static int find_version(void *ud, const trove_model_version *mv)
{
    active_model *a = ud;
    if (mv->version != a->version)
        return 0;
    a->id = mv->id;
    a->path = trove_strdup(mv->path);
    return a->path == NULL ? TROVE_ENOMEM : 1;
}

static int load_ids(const char *model_path, const char *suffix,
                    trove_idmap **out, trove_error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s.%s", model_path, suffix) >= (int)sizeof path)
        return trove_error_set(err, TROVE_EINVAL, "%s: path too long", model_path);
    return trove_idmap_load(path, out, err);
}

static int write_csv(const char *path, const trove_cycle_plan_result *plan,
                     const user_list *ul, const item_list *il, const size_t *offer_row,
                     const trove_market_config *cfg, const char *key,
                     int model_version, trove_error *err)
{
    FILE *f = fopen(path, "w");
    int status = TROVE_OK;
    if (f == NULL)
        return trove_error_set(err, TROVE_EIO, "%s: cannot write", path);
    fprintf(f, "market,cycle,user,offer,rank,arm,score,source,model_version\n");
    for (size_t u = 0; u < plan->n_users; u++) {
        for (uint32_t j = 0; j < plan->n_rows[u]; j++) {
            size_t cell = u * plan->n_predictions + j;
            const item_row *it = &il->v[offer_row[plan->offer[cell]]];
            float sc = plan->score[cell];
            fprintf(f, "%s,%s,%s,%s,%u,%s,", cfg->code, key, ul->v[u].ext_id,
                    it->ext_id, j, trove_arm_name(plan->arm[u]));
            if (isnan(sc))
                fputs(",", f);
            else
                fprintf(f, "%.6g,", (double)sc);
            fprintf(f, "%s,%d\n",
                    trove_assignment_source_name(plan->source[cell]), model_version);
        }
    }
    if (ferror(f))
        status = trove_error_set(err, TROVE_EIO, "%s: write error", path);
    if (fclose(f) != 0 && status == TROVE_OK)
        status = trove_error_set(err, TROVE_EIO, "%s: write error", path);
    return status;
}

int trove_cycle_run(trove_store *s, const trove_market_config *cfg,
                    const trove_cycle_run_params *params,
                    trove_cycle_summary *out, trove_error *err)
{
    user_list ul;
    item_list il;
    prev_cycle pc;
    active_model am;
    trove_cycle existing;
    trove_cycle_offer *offers = NULL;
    size_t *offer_row = NULL, n_offers = 0, batch_cap;
    trove_recommender *reco = NULL;
    trove_idmap *mu = NULL, *mi = NULL;
    trove_scorer scorer;
    trove_cycle_plan_params pp;
    trove_cycle_plan_result *plan = NULL;
    trove_assignment *batch = NULL;
    trove_cycle_summary sum;
    trove_event_filter ef;
    trove__cycle_rules rc;
    trove_item *item_flags = NULL;
    int have_rules = 0;
    trove_cycle row;
    char tmp_csv[4200];
    int64_t market_id;
    double t_start, t_plan, t_write;
    int status, in_tx = 0, have_tmp = 0;

    memset(&ul, 0, sizeof ul);
    memset(&il, 0, sizeof il);
    memset(&am, 0, sizeof am);
    memset(&sum, 0, sizeof sum);
    memset(&rc, 0, sizeof rc);
    t_start = mono_now();
    if (s == NULL || cfg == NULL || params == NULL || params->cycle_key == NULL ||
        params->cycle_key[0] == '\0' || strlen(params->cycle_key) > 63 ||
        params->now <= 0) {
        status = trove_error_set(err, TROVE_EINVAL, "cycle run: invalid arguments");
        goto done;
    }
    if ((status = trove_store_market_find(s, cfg->code, &market_id, err)) != TROVE_OK) {
        if (status == TROVE_ENOTFOUND)
            trove_error_set(err, status, "market '%s' is not in the store", cfg->code);
        goto done;
    }
    status = trove_store_cycle_find(s, market_id, params->cycle_key, &existing, NULL);
    if (status == TROVE_OK) {
        if (!params->replace && !params->dry_run) {
            status = trove_error_set(err, TROVE_EEXIST,
                                     "market %s: cycle '%s' already exists "
                                     "(use --replace to redo it)",
                                     cfg->code, params->cycle_key);
            goto done;
        }
        sum.replaced = !params->dry_run;
    } else if (status != TROVE_ENOTFOUND) {
        trove_store_cycle_find(s, market_id, params->cycle_key, &existing, err);
        goto done;
    }

    /* Users of the market, in id order. */
    ul.market_id = market_id;
    if ((status = trove_store_users_foreach(s, collect_user, &ul, err)) != TROVE_OK) {
        if (status == TROVE_ENOMEM)
            trove_error_set(err, status, "cycle run: out of memory");
        goto done;
    }
    if (ul.n == 0) {
        status = trove_error_set(err, TROVE_EEMPTY, "market %s has no users",
                                 cfg->code);
        goto done;
    }
    for (size_t u = 0; u < ul.n; u++)
        ul.v[u].ext_id = ul.arena + ul.off[u];

    /* Catalog, prices, recent redemptions, previous cycle. */
    il.price_feature = cfg->rules.price_feature;
    if ((status = trove_store_items_foreach(s, collect_item, &il, err)) != TROVE_OK ||
        (status = trove_store_features_foreach(s, TROVE_FEATURE_ITEM, collect_price,
                                               &il, err)) != TROVE_OK) {
        if (status == TROVE_ENOMEM)
            trove_error_set(err, status, "cycle run: out of memory");
        goto done;
    }
    ef.market_id = market_id;
    ef.ts_from = params->now - (int64_t)POPULARITY_DAYS * 86400;
    ef.ts_to = params->now;
    ef.type_mask = TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) |
                   TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE);
    if ((status = trove_store_events_foreach(s, &ef, count_event, &il, err)) != TROVE_OK)
        goto done;
    pc.key = params->cycle_key;
    pc.now = params->now;
    pc.prev_ts = 0;
    pc.has_prev = 0;
    if ((status = trove_store_cycles_foreach(s, market_id, find_prev, &pc, err)) != TROVE_OK)
        goto done;

    /* Active model, when there is one. */
    status = trove_store_model_active(s, market_id, &am.version, NULL);
    if (status == TROVE_OK) {
        status = trove_store_models_foreach(s, market_id, find_version, &am, err);
        if (status == TROVE_ENOMEM)
            trove_error_set(err, status, "cycle run: out of memory");
        if (status < 0)
            goto done;
        if (am.path == NULL) {
            status = trove_error_set(err, TROVE_ENOTFOUND,
                                     "market %s: active version %d not listed",
                                     cfg->code, am.version);
            goto done;
        }
        if ((status = trove_recommender_load(am.path, &reco, err)) != TROVE_OK ||
            (status = load_ids(am.path, "users", &mu, err)) != TROVE_OK ||
            (status = load_ids(am.path, "items", &mi, err)) != TROVE_OK)
            goto done;
        sum.model_version_id = am.id;
        sum.model_version = am.version;
    } else {
        trove_log(TROVE_LOG_WARN, "market %s: no active model; the test arm "
                  "gets popular offers", cfg->code);
        am.version = 0;
    }

    /* Eligible offers. */
    offers = trove_calloc(il.n + 1, sizeof *offers);
    offer_row = trove_calloc(il.n + 1, sizeof *offer_row);
    if (offers == NULL || offer_row == NULL)
        goto nomem;
    for (size_t i = 0; i < il.n; i++) {
        item_row *r = &il.v[i];
        int ok = params->eligible != NULL
                 ? params->eligible(params->eligible_ud, &r->it, r->price, params->now)
                 : trove_market_rules_eligible(&cfg->rules, &r->it, r->price, params->now);
        int64_t launched = r->it.created_ts > r->it.start_ts ? r->it.created_ts
                                                             : r->it.start_ts;
        int64_t idx;
        if (!ok)
            continue;
        offers[n_offers].item_id = r->id;
        offers[n_offers].popularity = (double)r->redemptions;
        offers[n_offers].is_new = pc.has_prev && launched > pc.prev_ts &&
                                  launched <= params->now;
        idx = mi ? trove_idmap_find(mi, r->ext_id, strlen(r->ext_id)) : -1;
        offers[n_offers].model_index = idx < 0 ? TROVE_CYCLE_NO_INDEX : (uint32_t)idx;
        if (offers[n_offers].is_new)
            sum.new_offers++;
        offer_row[n_offers++] = i;
    }
    if (n_offers == 0) {
        status = trove_error_set(err, TROVE_EEMPTY,
                                 "market %s: no eligible offers at %lld",
                                 cfg->code, (long long)params->now);
        goto done;
    }
    if (mu != NULL) {
        for (size_t u = 0; u < ul.n; u++) {
            int64_t idx = trove_idmap_find(mu, ul.v[u].ext_id, strlen(ul.v[u].ext_id));
            ul.v[u].model_index = idx < 0 ? TROVE_CYCLE_NO_INDEX : (uint32_t)idx;
        }
    }

    memset(&pp, 0, sizeof pp);
    if (params->rules != NULL) {
        item_flags = trove_calloc(n_offers + 1, sizeof *item_flags);
        if (item_flags == NULL)
            goto nomem;
        for (size_t o = 0; o < n_offers; o++)
            item_flags[o] = il.v[offer_row[o]].it;
        if ((status = trove__cycle_rules_prepare(s, cfg, params->rules, market_id,
                                                 params->now, params->cycle_key,
                                                 ul.v, ul.n, offers, item_flags,
                                                 n_offers, &rc, err)) != TROVE_OK)
            goto done;
        have_rules = 1;
        pp.rules = rc.rules;
        pp.rules_user = trove__cycle_rules_user;
        pp.rules_user_ud = &rc;
        pp.now = params->now;
        pp.remaining_budget = rc.n_budgeted > 0 ? rc.budget : NULL;
        sum.rules_applied = 1;
        sum.budgeted_offers = rc.n_budgeted;
    }
    pp.n_predictions = (uint32_t)cfg->number_of_predictions;
    pp.new_slots = (uint32_t)cfg->new_offer_exposure;
    pp.control_policy = cfg->control_policy;
    pp.salt = cfg->salt;
    pp.test_share = cfg->test_share;
    pp.cycle_key = params->cycle_key;
    pp.threads = params->threads;
    if (reco != NULL)
        scorer = trove_scorer_from_recommender(reco);
    t_plan = mono_now();
    sum.read_seconds = t_plan - t_start;
    if ((status = trove_cycle_plan(ul.v, ul.n, offers, n_offers,
                                   reco ? &scorer : NULL, &pp, &plan, err)) != TROVE_OK)
        goto done;

    t_write = mono_now();
    sum.plan_seconds = t_write - t_plan;
    if (params->export_csv != NULL) {
        snprintf(tmp_csv, sizeof tmp_csv, "%s.tmp", params->export_csv);
        have_tmp = 1;
        if ((status = write_csv(tmp_csv, plan, &ul, &il, offer_row, cfg,
                                params->cycle_key, am.version, err)) != TROVE_OK)
            goto done;
    }

    /* One transaction: the cycle row and every assignment. */
    batch_cap = INSERT_BATCH + plan->n_predictions;
    batch = trove_malloc(batch_cap * sizeof *batch);
    if (batch == NULL)
        goto nomem;
    if (!params->dry_run) {
        if ((status = trove_store_begin(s, err)) != TROVE_OK)
            goto done;
        in_tx = 1;
    }
    memset(&row, 0, sizeof row);
    row.market_id = market_id;
    row.key = params->cycle_key;
    row.created_ts = params->now;
    row.model_version_id = sum.model_version_id;
    row.salt = cfg->salt;
    row.test_share = cfg->test_share;
    row.eligible_items = (int64_t)n_offers;
    if (!params->dry_run &&
        (status = trove_store_cycle_create(s, &row, params->replace,
                                           &sum.cycle_id, err)) != TROVE_OK)
        goto done;
    {
        size_t nb = 0;
        for (size_t u = 0; u < plan->n_users; u++) {
            /* A user's list goes to the store in one call (one packed row). */
            if (nb + plan->n_rows[u] > batch_cap) {
                if (!params->dry_run &&
                    (status = trove_store_assignments_add(s, batch, nb, err)) != TROVE_OK)
                    goto done;
                sum.assignments += nb;
                nb = 0;
            }
            for (uint32_t j = 0; j < plan->n_rows[u]; j++) {
                size_t cell = u * plan->n_predictions + j;
                trove_assignment *a = &batch[nb++];
                a->cycle_id = sum.cycle_id;
                a->user_id = ul.v[u].user_id;
                a->item_id = offers[plan->offer[cell]].item_id;
                a->rank = (int)j;
                a->arm = plan->arm[u];
                a->score = isnan(plan->score[cell]) ? NAN : (double)plan->score[cell];
                a->source = plan->source[cell];
                switch (a->source) {
                case TROVE_SOURCE_MODEL: sum.model_rows++; break;
                case TROVE_SOURCE_POPULARITY: sum.popularity_rows++; break;
                case TROVE_SOURCE_RANDOM: sum.random_rows++; break;
                case TROVE_SOURCE_RULE: sum.rule_rows++; break;
                default: sum.new_offer_rows++; break;
                }
            }
        }
        if (nb > 0) {
            if (!params->dry_run &&
                (status = trove_store_assignments_add(s, batch, nb, err)) != TROVE_OK)
                goto done;
            sum.assignments += nb;
        }
    }
    if (in_tx) {
        if ((status = trove_store_commit(s, err)) != TROVE_OK)
            goto done;
        in_tx = 0;
    }
    if (have_tmp) {
        if (rename(tmp_csv, params->export_csv) != 0) {
            status = trove_error_set(err, TROVE_EIO, "%s: cannot rename the export "
                                     "(the cycle is stored)", params->export_csv);
            goto done;
        }
        have_tmp = 0;
    }
    sum.write_seconds = mono_now() - t_write;
    sum.users = ul.n;
    sum.test_users = plan->n_test;
    sum.control_users = plan->n_control;
    sum.eligible_offers = n_offers;
    if (out != NULL)
        *out = sum;
    status = TROVE_OK;
    goto done;
nomem:
    status = trove_error_set(err, TROVE_ENOMEM, "cycle run: out of memory");
done:
    if (in_tx)
        trove_store_rollback(s, NULL);
    if (have_tmp)
        remove(tmp_csv);
    trove_free(batch);
    if (have_rules)
        trove__cycle_rules_release(&rc);
    trove_free(item_flags);
    trove_cycle_plan_free(plan);
    trove_recommender_free(reco);
    trove_idmap_free(mu);
    trove_idmap_free(mi);
    trove_free(am.path);
    trove_free(offers);
    trove_free(offer_row);
    for (size_t i = 0; i < il.n; i++)
        trove_free(il.v[i].ext_id);
    trove_free(il.v);
    trove_free(ul.v);
    trove_free(ul.off);
    trove_free(ul.arena);
    return status;
}
