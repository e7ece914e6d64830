/*
 * cmd_hunt.c - `trove hunt --store S --market M --user U`: the user's
 * treasure hunt of the day in a market, generated and stored on first use
 * exactly as `trove serve` does (GET /v1/hunts), then printed with its
 * progress replayed from the store's events.
 *
 * Candidates: the market's active model (a hybrid family or iALS, loaded
 * as trove serve loads it) for a user it knows, else
 * the market's popularity (positive events per offer), else catalog order.
 * Catalog flags and dates apply; market rules apply when serving.
 */
#include "cli.h"
#include "trove/hunt.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "hunt"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove hunt --store S --market M --user U [--day YYYY-MM-DD]\n"
        "                  [--now SECONDS] [--template FILE] [--json]\n\n"
        "Print the user's treasure hunt of the day in the market: generated\n"
        "and stored the first time (a repeat prints the stored hunt), with\n"
        "its progress from the user's events. docs/hunts.md describes hunts\n"
        "and templates.\n\n"
        "  --store S        the store (written: the hunt and its progress)\n"
        "  --market M       market code\n"
        "  --user U         external user id\n"
        "  --day D          local day of the hunt (default: today in the\n"
        "                   market's time zone; another day is generated as\n"
        "                   of its start)\n"
        "  --now SECONDS    the current time (Unix seconds; default: now)\n"
        "  --template FILE  hunt template (default: the built-in one)\n"
        "  --json           one JSON object\n"
        "  -h, --help       this help\n");
}

typedef struct market_find {
    const char *code;
    int64_t     id;
    char        tz[64];
} market_find;

static int find_market(void *ud, const trove_market *m)
{
    market_find *f = ud;
    if (strcmp(m->code, f->code) != 0)
        return 0;
    f->id = m->id;
    snprintf(f->tz, sizeof f->tz, "%s", m->timezone ? m->timezone : "UTC");
    return 1;
}

typedef struct active_model {
    int  version;
    char path[4096];
} active_model;

static int find_version(void *ud, const trove_model_version *mv)
{
    active_model *a = ud;
    if (mv->version != a->version)
        return 0;
    snprintf(a->path, sizeof a->path, "%s", mv->path);
    return 1;
}

/* The model's top-k catalog items for a user it knows; 0 when it cannot. */
static size_t model_candidates(trove_store *st, int64_t market,
                               const trove_hunt_store_catalog *c,
                               const char *user, size_t k, uint32_t *cand,
                               float *cs)
{
    active_model a = { 0, "" };
    trove_model *m = NULL;
    trove_idmap *ext = NULL;
    float *scores = NULL;
    size_t n = 0;
    trove_error err;
    /* a family without a factor model (ease, ...) has no scores here */
    if (trove_store_model_active(st, market, &a.version, &err) != TROVE_OK ||
        trove_store_models_foreach(st, market, find_version, &a, &err) != 1 ||
        trove_recommender_load_model(a.path, &m, &err) != TROVE_OK)
        goto done;
    const trove_idmap *uids = trove_model_user_ids(m);
    const trove_idmap *iids = trove_model_item_ids(m);
    int64_t row = uids ? trove_idmap_find(uids, user, strlen(user)) : -1;
    uint32_t n_model = trove_model_n_items(m);
    if (row < 0 || iids == NULL ||
        (scores = malloc((size_t)n_model * sizeof *scores + 1)) == NULL ||
        trove_model_score_user(m, (uint32_t)row, scores, &err) != TROVE_OK ||
        (ext = trove_idmap_new()) == NULL)
        goto done;
    const trove_hunt_catalog *cat = trove_hunt_store_catalog_view(c);
    for (size_t i = 0; i < cat->n_items; i++) {
        uint32_t idx;
        if (trove_idmap_intern(ext, cat->items[i].ext_id,
                               strlen(cat->items[i].ext_id), &idx, NULL) != TROVE_OK)
            goto done;
    }
    for (uint32_t j = 0; j < n_model; j++) {
        size_t len;
        const char *name = trove_idmap_name(iids, j, &len);
        int64_t ci = name ? trove_idmap_find(ext, name, len) : -1;
        float sc = scores[j];
        if (ci < 0 || isnan(sc) || (n == k && !(sc > cs[n - 1])))
            continue;
        size_t at = n < k ? n++ : k - 1;
        while (at > 0 && cs[at - 1] < sc) {
            cs[at] = cs[at - 1];
            cand[at] = cand[at - 1];
            at--;
        }
        cs[at] = sc;
        cand[at] = (uint32_t)ci;
    }
done:
    trove_idmap_free(ext);
    free(scores);
    trove_model_free(m);
    return n;
}

typedef struct pop_ctx {
    const trove_hunt_store_catalog *c;
    uint32_t *count;
} pop_ctx;

static int count_event(void *ud, const trove_event *ev)
{
    pop_ctx *p = ud;
    int64_t i = trove_hunt_store_catalog_index(p->c, ev->item_id);
    if (i >= 0)
        p->count[i]++;
    return 0;
}

static const uint32_t *sort_counts;
static int by_count(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (sort_counts[x] != sort_counts[y])
        return sort_counts[x] < sort_counts[y] ? 1 : -1;
    return (x > y) - (x < y);
}

/* The market's most popular items (positive events), then catalog order. */
static int popular_candidates(trove_store *st, int64_t market,
                              const trove_hunt_store_catalog *c, size_t k,
                              uint32_t *cand, float *cs, size_t *n, int *source,
                              trove_error *err)
{
    const trove_hunt_catalog *cat = trove_hunt_store_catalog_view(c);
    size_t ni = cat->n_items;
    uint32_t *count = calloc(ni + 1, sizeof *count);
    uint32_t *order = malloc((ni + 1) * sizeof *order);
    int rc = TROVE_OK;
    if (count == NULL || order == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "out of memory");
        goto done;
    }
    pop_ctx p = { c, count };
    trove_event_filter f = { market, 0, 0,
                             TROVE_EVENT_MASK(TROVE_EVENT_CLICK) |
                             TROVE_EVENT_MASK(TROVE_EVENT_PURCHASE) |
                             TROVE_EVENT_MASK(TROVE_EVENT_REDEMPTION) };
    if ((rc = trove_store_events_foreach(st, &f, count_event, &p, err)) != TROVE_OK)
        goto done;
    for (uint32_t i = 0; i < ni; i++)
        order[i] = i;
    sort_counts = count;
    qsort(order, ni, sizeof *order, by_count);
    *n = ni < k ? ni : k;
    *source = ni > 0 && count[order[0]] > 0 ? TROVE_HUNT_FROM_POPULAR
                                            : TROVE_HUNT_FROM_CATALOG;
    for (size_t i = 0; i < *n; i++) {
        cand[i] = order[i];
        cs[i] = count[order[i]] > 0 ? (float)count[order[i]] : NAN;
    }
done:
    free(count);
    free(order);
    return rc;
}

static void print_time(const trove_hunt_clock *clock, int64_t t)
{
    char day[11];
    int32_t d = trove_hunt_clock_day(clock, t);
    int64_t secs = t - trove_hunt_clock_midnight(clock, d);
    trove_hunt_day_format(d, day);
    printf("%s %02d:%02d", day, (int)(secs / 3600), (int)(secs / 60 % 60));
}

static void print_text(const trove_hunt *h, const trove_hunt_clock *clock,
                       int created)
{
    char day[11];
    trove_hunt_day_format(h->day, day);
    printf("hunt %s of %s in %s on %s (template %s, candidates: %s, %s)\n", h->id,
           h->user, h->market, day, h->template_name,
           trove_hunt_source_name(h->source), created ? "new" : "stored");
    printf("  expires ");
    print_time(clock, h->expires_ts);
    printf(" local time\n");
    for (size_t k = 0; k < h->n_steps; k++) {
        const trove_hunt_step *st = &h->steps[k];
        printf("  %zu. %-9s", k + 1, trove_hunt_step_kind_name(st->kind));
        if (st->kind == TROVE_HUNT_DISCOVER)
            printf("any %s item (suggested: %s)", st->category, st->item);
        else if (st->kind == TROVE_HUNT_BUNDLE)
            printf("%s (%s) + %s (%s), %s", st->item, st->category, st->partner,
                   st->partner_category, trove_hunt_pair_source_name(st->pair_source));
        else
            printf("offer %s (%s)", st->item, st->category);
        if (k < h->n_done) {
            printf("  done ");
            print_time(clock, st->done_ts);
        }
        printf("\n");
    }
    printf("  progress %zu/%zu, reward %s", h->n_done, h->n_steps,
           trove_hunt_reward_state_name(h->reward_state));
    if (h->reward_state == TROVE_HUNT_REWARD_UNLOCKED)
        printf(": %s (%s)", h->reward_id, h->reward_title);
    printf("\n");
}

static void print_json(const trove_hunt *h, int created)
{
    char day[11];
    trove_hunt_day_format(h->day, day);
    printf("{\"id\":\"%s\",\"user\":", h->id);
    cli_json_string(stdout, h->user);
    printf(",\"market\":");
    cli_json_string(stdout, h->market);
    printf(",\"template\":");
    cli_json_string(stdout, h->template_name);
    printf(",\"day\":\"%s\",\"created_at\":%lld,\"expires_at\":%lld,"
           "\"source\":\"%s\",\"new\":%s,\"steps\":[", day,
           (long long)h->created_ts, (long long)h->expires_ts,
           trove_hunt_source_name(h->source), created ? "true" : "false");
    for (size_t k = 0; k < h->n_steps; k++) {
        const trove_hunt_step *st = &h->steps[k];
        printf("%s{\"step\":%zu,\"kind\":\"%s\",\"item\":", k ? "," : "", k + 1,
               trove_hunt_step_kind_name(st->kind));
        cli_json_string(stdout, st->item);
        printf(",\"category\":");
        cli_json_string(stdout, st->category);
        if (st->kind == TROVE_HUNT_BUNDLE) {
            printf(",\"partner\":");
            cli_json_string(stdout, st->partner);
            printf(",\"partner_category\":");
            cli_json_string(stdout, st->partner_category);
            printf(",\"pair_source\":\"%s\"",
                   trove_hunt_pair_source_name(st->pair_source));
        }
        if (isfinite(st->score))
            printf(",\"score\":%.6g", (double)st->score);
        else
            printf(",\"score\":null");
        if (k < h->n_done)
            printf(",\"done\":true,\"done_at\":%lld}", (long long)st->done_ts);
        else
            printf(",\"done\":false,\"done_at\":null}");
    }
    printf("],\"progress\":{\"done\":%zu,\"total\":%zu,\"completed\":%s},"
           "\"reward\":{\"state\":\"%s\",\"id\":", h->n_done, h->n_steps,
           h->n_done == h->n_steps ? "true" : "false",
           trove_hunt_reward_state_name(h->reward_state));
    if (h->reward_id[0]) {
        cli_json_string(stdout, h->reward_id);
        printf(",\"title\":");
        cli_json_string(stdout, h->reward_title);
    } else {
        printf("null,\"title\":null");
    }
    if (h->reward_ts != 0)
        printf(",\"unlocked_at\":%lld}}\n", (long long)h->reward_ts);
    else
        printf(",\"unlocked_at\":null}}\n");
}

int cmd_hunt(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},
        {"market", required_argument, NULL, 'm'},
        {"user", required_argument, NULL, 'u'},
        {"day", required_argument, NULL, 'd'},
        {"now", required_argument, NULL, 'n'},
        {"template", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *store = NULL, *market = NULL, *user = NULL, *day_s = NULL,
               *tpl_path = NULL;
    long now_arg = -1;
    int json = 0, c, rc, status = CLI_EXIT_FAIL, created = 0;
    trove_error err;
    trove_store *st = NULL;
    trove_hunt_template *t = NULL;
    trove_hunt_clock *clock = NULL;
    trove_hunt_store_catalog *cat = NULL;
    uint32_t *cand = NULL;
    float *cs = NULL;
    static trove_hunt h;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'm': market = optarg; break;
        case 'u': user = optarg; break;
        case 'd': day_s = optarg; break;
        case 't': tpl_path = optarg; break;
        case 'j': json = 1; break;
        case 'n':
            if (cli_parse_long(optarg, 0, 1L << 40, &now_arg) != 0)
                return cli_usage_error(CMD, "--now: Unix seconds expected, not '%s'",
                                       optarg);
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (store == NULL || market == NULL || user == NULL)
        return cli_usage_error(CMD, "--store, --market and --user are required");
    int32_t day = 0;
    if (day_s != NULL && trove_hunt_day_parse(day_s, &day) != TROVE_OK)
        return cli_usage_error(CMD, "--day: YYYY-MM-DD expected, not '%s'", day_s);
    if (strlen(user) == 0 || strlen(user) >= TROVE_HUNT_ID_MAX)
        return cli_usage_error(CMD, "--user: 1 to %d bytes", TROVE_HUNT_ID_MAX - 1);

    trove_error_clear(&err);
    cli_setup_log(0);
    if ((rc = trove_store_open(store, 0, &st, &err)) != TROVE_OK)
        goto fail;
    market_find mf = { market, 0, "UTC" };
    if ((rc = trove_store_markets_foreach(st, find_market, &mf, &err)) < 0)
        goto fail;
    if (mf.id == 0) {
        trove_error_set(&err, TROVE_ENOTFOUND, "%s: no market '%s'", store, market);
        goto fail;
    }
    rc = tpl_path ? trove_hunt_template_load(tpl_path, &t, &err)
                  : trove_hunt_template_default(&t, &err);
    if (rc != TROVE_OK || (rc = trove_hunt_clock_new(mf.tz, &clock, &err)) != TROVE_OK ||
        (rc = trove_hunt_store_catalog_load(st, t->category_field, t->price_field,
                                            &cat, &err)) != TROVE_OK)
        goto fail;

    int64_t now = now_arg >= 0 ? (int64_t)now_arg : (int64_t)time(NULL);
    if (day_s == NULL)
        day = trove_hunt_clock_day(clock, now);
    else if (day != trove_hunt_clock_day(clock, now))
        now = trove_hunt_clock_midnight(clock, day);

    trove_hunt_request rq;
    memset(&rq, 0, sizeof rq);
    cand = malloc(t->candidates * sizeof *cand);
    cs = malloc(t->candidates * sizeof *cs);
    if (cand == NULL || cs == NULL) {
        trove_error_set(&err, TROVE_ENOMEM, "out of memory");
        goto fail;
    }
    rq.n_candidates = model_candidates(st, mf.id, cat, user, t->candidates, cand, cs);
    rq.source = TROVE_HUNT_FROM_MODEL;
    if (rq.n_candidates == 0 &&
        popular_candidates(st, mf.id, cat, t->candidates, cand, cs,
                           &rq.n_candidates, &rq.source, &err) != TROVE_OK)
        goto fail;
    rq.user = user;
    rq.market = market;
    rq.day = day;
    rq.now = now;
    rq.expires_ts = trove_hunt_clock_midnight(clock, day + t->validity_days);
    rq.candidates = cand;
    rq.scores = cs;
    if (trove_hunt_store_obtain(st, mf.id, t, clock, cat, &rq, &h, &created, &err)
        != TROVE_OK)
        goto fail;
    if (json)
        print_json(&h, created);
    else
        print_text(&h, clock, created);
    status = CLI_EXIT_OK;
    goto done;
fail:
    status = cli_fail(CMD, &err);
done:
    free(cand);
    free(cs);
    trove_hunt_store_catalog_free(cat);
    trove_hunt_clock_free(clock);
    trove_hunt_template_free(t);
    trove_store_close(st);
    return status;
}
