/*
 * trove/hunt.h - treasure hunts: a personalised chain of steps (discover an
 * item of a category, buy a bundle of two complementary items, redeem an
 * offer) that ends in a reward, generated once per user, market and local
 * day from the model's candidates and the market's rules.
 *
 * Pieces and lifetimes:
 *   1. A template (hunts/<market>.yaml, or the built-in default) is parsed
 *      and validated into a plain trove_hunt_template (errors are
 *      "file:line:column: message").
 *   2. trove_hunt_generate() is a pure function of (template, catalog,
 *      request): the same inputs give the same hunt, byte for byte. It does
 *      not allocate; the caller owns every array it reads.
 *   3. trove_hunt_advance() replays a user's events over a hunt, completes
 *      its steps in order and unlocks the reward when the last one is done.
 *   4. trove_hunt_encode()/trove_hunt_decode() turn a hunt (with its
 *      progress) into the text the store keeps (trove_store_hunt_*), so a
 *      repeat on the same day returns the stored hunt even after the model
 *      or the catalog changed.
 * docs/hunts.md describes the template keys, the generation and the
 * progress rules.
 *
 * Thread safety: templates, catalogs and clocks are immutable once built and
 * may be shared by any number of threads; a trove_hunt belongs to one
 * thread at a time.
 */
#ifndef TROVE_HUNT_H
#define TROVE_HUNT_H

#include "trove/core.h"
#include "trove/rules.h"
#include "trove/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TROVE_HUNT_MAX_STEPS 8          /* steps of one hunt */
#define TROVE_HUNT_MAX_CANDIDATES 1024  /* candidates one generation reads */
#define TROVE_HUNT_ID_MAX 256           /* user and item ids, NUL included:
                                           longer item ids are never chosen,
                                           longer user ids are refused */
#define TROVE_HUNT_NAME_MAX 64          /* market, category, reward ids */
#define TROVE_HUNT_NONE 0xFFFFFFFFu     /* "no category" */

enum trove_hunt_step_kind {
    TROVE_HUNT_DISCOVER = 1,   /* click (or buy) any item of a category */
    TROVE_HUNT_BUNDLE   = 2,   /* buy both items of a pair */
    TROVE_HUNT_REDEEM   = 3    /* redeem one offer */
};
/* "discover", "bundle", "redeem"; "unknown" outside the enum. */
const char *trove_hunt_step_kind_name(int kind);

/* Where a bundle's partner comes from. */
enum trove_hunt_pair_source {
    TROVE_HUNT_PAIR_RULE       = 1,   /* a bundle rule of the market */
    TROVE_HUNT_PAIR_COPURCHASE = 2,   /* the catalog's co-purchase lists */
    TROVE_HUNT_PAIR_COMPLEMENT = 3    /* the best candidate of another
                                         category (feature complement) */
};
/* "rule", "copurchase", "complement"; "unknown" outside the enum. */
const char *trove_hunt_pair_source_name(int source);

/* ------------------------------------------------------------------------
 * Templates (plain data; every pointer is owned by the template and lives
 * until trove_hunt_template_free()).
 * ---------------------------------------------------------------------- */
typedef struct trove_hunt_step_spec {
    int   kind;        /* enum trove_hunt_step_kind */
    char *category;    /* discover/redeem: only this category, or NULL */
    char *offer;       /* redeem: this offer (item id), or NULL = chosen */
    int   line;        /* 1-based place in the file, 0 = from a count */
} trove_hunt_step_spec;

typedef struct trove_hunt_reward_spec {
    char   *id;        /* reward (promotion) id, <= 63 bytes */
    char   *title;     /* shown to the user, may be NULL */
    double  weight;    /* > 0: chance relative to the other valid rewards */
    int32_t from_day;  /* first local day it may be given (days since
                          1970-01-01), INT32_MIN = open */
    int32_t to_day;    /* last local day (inclusive), INT32_MAX = open */
    int     line;
} trove_hunt_reward_spec;

typedef struct trove_hunt_template {
    char   *path;               /* file name ("<default>" for the built-in) */
    char   *name;               /* template name, <= 63 bytes */
    uint32_t candidates;        /* model top-K read (default 200, <= 1024) */
    uint32_t pool;              /* a step picks among its best `pool`
                                   fitting options (default 5) */
    trove_hunt_step_spec *steps;
    size_t  n_steps;            /* 1 .. TROVE_HUNT_MAX_STEPS */
    char   *category_field;     /* categorical item field ("category") */
    int     distinct_categories;/* 1 (default): no two hunt items share a
                                   category */
    char   *price_field;        /* numeric item feature of the price band,
                                   NULL = no band */
    double  price_min, price_max;
    double  novelty_min_share;  /* share of hunt items the user never
                                   interacted with (default 1 = all) */
    int     history_days;       /* history window read for novelty
                                   (default 90) */
    int     validity_days;      /* the hunt expires at the end of its local
                                   day + validity_days - 1 (default 1) */
    trove_hunt_reward_spec *rewards;
    size_t  n_rewards;          /* >= 1 */
    uint64_t hash;              /* of the template's text: part of the seed */
} trove_hunt_template;

/* Parse and validate a template (implemented by the config module, the one
 * that reads YAML). Returns TROVE_OK, TROVE_ENOTFOUND / TROVE_EIO (cannot
 * read), TROVE_EFORMAT (bad YAML, unknown key, wrong type, bad value:
 * "file:line:col: ..."), TROVE_EINVAL (NULL argument), TROVE_ENOMEM. *out
 * (written on success only) is freed with trove_hunt_template_free(). */
int trove_hunt_template_load(const char *path, trove_hunt_template **out,
                             trove_error *err);
/* The same from a buffer; name (NULL = "<string>") stands for the file. */
int trove_hunt_template_parse(const char *text, size_t len, const char *name,
                              trove_hunt_template **out, trove_error *err);
/* The built-in template used for markets without a file (its text is
 * trove_hunt_default_template_text(), also shipped as hunts/default.yaml). */
int trove_hunt_template_default(trove_hunt_template **out, trove_error *err);
const char *trove_hunt_default_template_text(void);
void trove_hunt_template_free(trove_hunt_template *t);

/* ------------------------------------------------------------------------
 * Local days. A clock converts between UTC seconds and the local days of one
 * time zone (the market's), from the TZ database.
 * ---------------------------------------------------------------------- */
typedef struct trove_hunt_clock trove_hunt_clock;

/* tz: IANA name ("Europe/Berlin"; NULL or "" = UTC). Returns TROVE_OK,
 * TROVE_ENOTFOUND (unknown zone), TROVE_EFORMAT, TROVE_ENOMEM. */
int  trove_hunt_clock_new(const char *tz, trove_hunt_clock **out,
                          trove_error *err);
void trove_hunt_clock_free(trove_hunt_clock *c);
/* Local day (days since 1970-01-01 on the local calendar) of UTC time t. */
int32_t trove_hunt_clock_day(const trove_hunt_clock *c, int64_t t);
/* UTC time of local midnight starting `day`. */
int64_t trove_hunt_clock_midnight(const trove_hunt_clock *c, int32_t day);
/* "YYYY-MM-DD" <-> day number; parse returns TROVE_OK or TROVE_EINVAL. */
int  trove_hunt_day_parse(const char *s, int32_t *day);
void trove_hunt_day_format(int32_t day, char out[11]);

/* ------------------------------------------------------------------------
 * Generation.
 * ---------------------------------------------------------------------- */
typedef struct trove_hunt_item {
    const char *ext_id;     /* external item id */
    uint32_t    category;   /* index into catalog.categories, or
                               TROVE_HUNT_NONE */
    double      price;      /* value of the price field, NAN if none */
    int         active, blocked;
    int64_t     start_ts, end_ts;   /* UTC seconds, 0 = open */
} trove_hunt_item;

typedef struct trove_hunt_catalog {
    const trove_hunt_item *items;   /* dense index order (the rules' and
                                       candidates' indices) */
    size_t                 n_items;
    const char *const     *categories;   /* category values ("burger") */
    size_t                 n_categories;
    /* Optional co-purchase lists (CSR, strongest first), as in
     * trove_rules_catalog; both NULL = none. */
    const uint32_t *copurchase_offsets;
    const uint32_t *copurchase_items;
} trove_hunt_catalog;

enum trove_hunt_source {
    TROVE_HUNT_FROM_MODEL   = 1,   /* the market's model (cold start included) */
    TROVE_HUNT_FROM_POPULAR = 2,   /* popularity: no model or unknown user */
    TROVE_HUNT_FROM_CATALOG = 3    /* neither: catalog order */
};
/* "model", "popular", "catalog"; "unknown" outside the enum. */
const char *trove_hunt_source_name(int source);

typedef struct trove_hunt_request {
    const char *user;          /* external user id (< TROVE_HUNT_ID_MAX) */
    const char *market;        /* market code (< TROVE_HUNT_NAME_MAX) */
    int32_t     day;           /* local day of the hunt */
    int64_t     now;           /* UTC seconds: flags, dates and rules are
                                  checked at this time; created_ts */
    int64_t     expires_ts;    /* UTC seconds, > now */
    /* Candidates best first (catalog indices; duplicates ignored), at most
     * TROVE_HUNT_MAX_CANDIDATES are read. scores may be NULL. */
    const uint32_t *candidates;
    const float    *scores;
    size_t          n_candidates;
    int             source;    /* enum trove_hunt_source, reported */
    /* Catalog items the user interacted with, ascending (for novelty).
     * trove_hunt_store_obtain reads them from the store when history is
     * NULL; any non-NULL pointer with n_history 0 means "no history". */
    const uint32_t *history;
    size_t          n_history;
    /* Optional: the market's rules compiled against this catalog, the
     * user as the rules see it, and trove_rules_scratch_size(rules) bytes
     * of 8-byte aligned scratch. rules NULL = flags and dates only. */
    const trove_rules      *rules;
    const trove_rules_user *rules_user;
    void                   *rules_scratch;
} trove_hunt_request;

typedef struct trove_hunt_step {
    int   kind;                              /* enum trove_hunt_step_kind */
    char  item[TROVE_HUNT_ID_MAX];           /* suggested item / the offer /
                                                the bundle's anchor */
    char  category[TROVE_HUNT_NAME_MAX];     /* its category, "" if none */
    char  partner[TROVE_HUNT_ID_MAX];        /* bundle: the second item */
    char  partner_category[TROVE_HUNT_NAME_MAX];
    int   pair_source;                       /* bundle: enum
                                                trove_hunt_pair_source */
    float score;                             /* candidate score, NAN if none */
    int64_t done_ts;                         /* completion time, 0 = open */
} trove_hunt_step;

enum trove_hunt_reward_state {
    TROVE_HUNT_REWARD_LOCKED      = 0,   /* steps still open */
    TROVE_HUNT_REWARD_UNLOCKED    = 1,   /* every step done: reward_id */
    TROVE_HUNT_REWARD_UNAVAILABLE = 2    /* done, but no reward of the pool
                                            was valid on the day */
};
/* "locked", "unlocked", "unavailable"; "unknown" outside the enum. */
const char *trove_hunt_reward_state_name(int state);

typedef struct trove_hunt {
    char     id[17];                    /* 16 hex digits: hash of user,
                                           market and day */
    char     user[TROVE_HUNT_ID_MAX];
    char     market[TROVE_HUNT_NAME_MAX];
    char     template_name[TROVE_HUNT_NAME_MAX];
    int32_t  day;
    int64_t  created_ts, expires_ts;    /* window [created, expires) */
    int      source;                    /* enum trove_hunt_source */
    size_t   n_steps;
    trove_hunt_step steps[TROVE_HUNT_MAX_STEPS];
    size_t   n_done;                    /* steps completed, in order */
    int      reward_state;              /* enum trove_hunt_reward_state */
    char     reward_id[TROVE_HUNT_NAME_MAX];
    char     reward_title[TROVE_HUNT_NAME_MAX * 4];
    int64_t  reward_ts;                 /* unlock time, 0 = locked */
} trove_hunt;

/* The hunt id of (user, market, day) into id (17 bytes). */
void trove_hunt_id(const char *user, const char *market, int32_t day,
                   char id[17]);

/* Generate the hunt of req from t and cat into *out. The choice is seeded
 * by hash(user, market, day, t->hash): a pure function of its inputs.
 * Candidates pass the catalog flags and dates at req->now, the rules (when
 * given: eligibility, schedules, caps, boosts, bundles; see trove/rules.h),
 * the price band and the category field; each step then takes one of its
 * best `pool` options at random, keeping categories distinct and the
 * novelty share. Never allocates.
 * Returns TROVE_OK, TROVE_EINVAL (NULL argument, a user or market id too
 * long, a candidate out of range, expires_ts <= now), TROVE_EEMPTY (no
 * candidate fits a step: the message names the step and why), or a status
 * of trove_rules_apply. *out is written on success only. */
int trove_hunt_generate(const trove_hunt_template *t,
                        const trove_hunt_catalog *cat,
                        const trove_hunt_request *req, trove_hunt *out,
                        trove_error *err);

/* ------------------------------------------------------------------------
 * Progress.
 * ---------------------------------------------------------------------- */
typedef struct trove_hunt_event {
    int         type;       /* enum trove_event_type (trove/store.h) */
    int64_t     ts;         /* UTC seconds */
    const char *item;       /* external item id */
    const char *category;   /* the item's category value, NULL if none */
} trove_hunt_event;

/* Replay events (ascending ts) over h: events outside [created_ts,
 * expires_ts) or before the previous step's completion do not count. A
 * discover step is done by a click, purchase or redemption of an item of
 * its category (of its item when it has no category); a bundle by
 * purchases of both items; a redeem step by a redemption of its offer.
 * When the last step is done, the reward is chosen among t's rewards valid
 * on the local day of completion (clock), weighted, seeded by the hunt id,
 * so the same events always unlock the same reward. Steps already done
 * stay done. *changed (may be NULL) is set to 1 when h changed.
 * Returns TROVE_OK or TROVE_EINVAL. */
int trove_hunt_advance(trove_hunt *h, const trove_hunt_template *t,
                       const trove_hunt_clock *clock,
                       const trove_hunt_event *events, size_t n,
                       int *changed);

/* ------------------------------------------------------------------------
 * Stored form: a line-oriented text ("trove-hunt 1" then one key and value
 * per line, ids percent-escaped), stable across versions.
 * ---------------------------------------------------------------------- */
/* *text (NUL-terminated, trove_malloc'd, caller frees) and *len. Returns
 * TROVE_OK, TROVE_EINVAL or TROVE_ENOMEM. */
int trove_hunt_encode(const trove_hunt *h, char **text, size_t *len);
/* Parse text into *out. Returns TROVE_OK, TROVE_EINVAL, or TROVE_EFORMAT
 * (not a hunt, unknown version, bad value: the message names the line). */
int trove_hunt_decode(const char *text, trove_hunt *out, trove_error *err);

/* ------------------------------------------------------------------------
 * Hunts kept in a store (trove/store.h): the catalog's attributes read from
 * the store's items and features, the user's history, and the whole "today's
 * hunt" step (find the stored hunt or generate and store it, then bring its
 * progress up to date). The server and `trove hunt` share these.
 * A store handle is used by one thread at a time (trove/store.h).
 * ---------------------------------------------------------------------- */
typedef struct trove_hunt_store_catalog trove_hunt_store_catalog;

/* Every item of s in store id order with its flags, its category (the
 * categorical feature "<category_field>=<value>") and its price (the numeric
 * feature price_field, NULL = none). Returns TROVE_OK, TROVE_EINVAL or a
 * store status. Free with trove_hunt_store_catalog_free(). */
int trove_hunt_store_catalog_load(trove_store *s, const char *category_field,
                                  const char *price_field,
                                  trove_hunt_store_catalog **out,
                                  trove_error *err);
void trove_hunt_store_catalog_free(trove_hunt_store_catalog *c);
/* The catalog to generate from (borrowed from c). */
const trove_hunt_catalog *trove_hunt_store_catalog_view(
    const trove_hunt_store_catalog *c);
/* Store item id of catalog index i (0 if out of range), and the index of a
 * store item id (-1 if absent). */
int64_t trove_hunt_store_catalog_item_id(const trove_hunt_store_catalog *c,
                                         uint32_t i);
int64_t trove_hunt_store_catalog_index(const trove_hunt_store_catalog *c,
                                       int64_t item_id);
/* The fields c was loaded with (borrowed; price NULL when none). */
const char *trove_hunt_store_catalog_category_field(
    const trove_hunt_store_catalog *c);
const char *trove_hunt_store_catalog_price_field(
    const trove_hunt_store_catalog *c);

/* Catalog items `user` clicked, bought, redeemed or rated in [from, to),
 * ascending without duplicates, into *items (trove_malloc'd, caller frees;
 * NULL when *n is 0). An unknown user has no history. */
int trove_hunt_store_history(trove_store *s, const trove_hunt_store_catalog *c,
                             const char *user, int64_t from, int64_t to,
                             uint32_t **items, size_t *n, trove_error *err);

/* Today's hunt of req->user in market market_id (> 0): a stored hunt of
 * an earlier day still valid at req->now (templates with validity_days >
 * 1), else the stored hunt of req->day if there is one (whatever the
 * candidates say now),
 * else trove_hunt_generate() with the user's history of the template's
 * history_days when req->history is NULL, stored at once (when another
 * writer stored it first, theirs is returned). Then its progress is
 * replayed from the user's events in the store up to req->now and stored
 * when it changed. *created (may be NULL) is 1 when this call generated
 * it. Returns TROVE_OK, TROVE_EEMPTY (no hunt fits, see generate), or a
 * status of the store, the codec or generate. */
int trove_hunt_store_obtain(trove_store *s, int64_t market_id,
                            const trove_hunt_template *t,
                            const trove_hunt_clock *clock,
                            const trove_hunt_store_catalog *c,
                            const trove_hunt_request *req, trove_hunt *out,
                            int *created, trove_error *err);

/* The stored hunt `id` (as stored, progress not replayed) into *out.
 * TROVE_ENOTFOUND when there is no such hunt; TROVE_EFORMAT for a damaged
 * record. */
int trove_hunt_store_find(trove_store *s, const char *id, trove_hunt *out,
                          trove_error *err);

/* Replay the events of h's user in the store over h (trove_hunt_advance,
 * events of [h->created_ts, min(now + 1, h->expires_ts))) and store h when
 * it changed. t is the template of h's market (for the reward pool). */
int trove_hunt_store_refresh(trove_store *s, const trove_hunt_template *t,
                             const trove_hunt_clock *clock,
                             const trove_hunt_store_catalog *c, int64_t now,
                             trove_hunt *h, trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_HUNT_H */
