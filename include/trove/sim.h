/*
 * trove/sim.h - a simulated offer world for closed-loop runs: markets whose
 * users have different tastes over offer categories, users with features,
 * offers with features and a price, new offers launched every cycle, and
 * users who only react to what a cycle showed them.
 *
 * Ground truth (hidden from every model): user u of market m has a taste
 * t_u[c] = taste_m[c] + taste_noise * z (z standard normal, per user and
 * category); offer o has category c_o, quality q_o ~ N(0, quality_sd) and
 * a local appeal l_om ~ N(0, local_quality_sd) in each market m.
 * Shown offer o at 0-based position r, u redeems it with probability
 *   p = sigmoid(base_logit + t_u[c_o] + q_o + l_om + pair_noise * z_uo) * b(r),
 *   b(r) = 1 / log2(r + 2)
 * the position-based examination model (Craswell et al., "An experimental
 * comparison of click position-bias models", WSDM 2008), with the DCG
 * discount as the examination curve. Every shown offer gets an impression
 * event, every redemption a redemption event, at a time inside the cycle.
 * The history before the first cycle is "organic": each user redeems a few
 * offers drawn with probability proportional to exp(t_u[c_o] + q_o).
 *
 * Time: period p covers [start + p * cycle_days, start + (p + 1) *
 * cycle_days) (days of 86400 s). The simulator keeps no state outside the
 * store: the next period is told by how many offers have been launched
 * (initial + p * new_per_cycle), which is why new_per_cycle must be >= 1.
 * Everything random is derived from the world's seed and stable names
 * (user, offer, period), so the same world and the same cycles give the
 * same events.
 *
 * The world file (worlds/demo.yaml, docs/simulator.md) is parsed strictly:
 * unknown keys and bad values are TROVE_EFORMAT with "file:line:column".
 *
 * Thread safety: a trove_world is immutable after loading; the simulator
 * functions follow the store's rules (one thread per handle).
 */
#ifndef TROVE_SIM_H
#define TROVE_SIM_H

#include "trove/core.h"
#include "trove/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TROVE_WORLD_MAX_CATEGORIES 64
#define TROVE_WORLD_MAX_MARKETS 32

typedef struct trove_world_market {
    char    *code;          /* market code, e.g. "DE" */
    char    *name;          /* display name (default: the code) */
    char    *timezone;      /* IANA name (default "UTC") */
    uint32_t users;         /* number of users, >= 1 */
    double   taste[TROVE_WORLD_MAX_CATEGORIES]; /* per category, default 0 */
    char   **cities;        /* user feature "city" values (>= 1) */
    size_t   n_cities;
    char   **languages;     /* user feature "language" values (>= 1) */
    size_t   n_languages;
    /* Taste that depends on a user feature, differently in each market:
     * every value of the feature (enum trove_world_segment) adds its own
     * offset ~ N(0, segment_taste_sd) per category to its users' tastes,
     * drawn per market. 0 / TROVE_WORLD_SEGMENT_NONE = none. */
    int      segment_feature;
    double   segment_taste_sd;
} trove_world_market;

enum trove_world_segment {
    TROVE_WORLD_SEGMENT_NONE     = 0,
    TROVE_WORLD_SEGMENT_AGE_BAND = 1,
    TROVE_WORLD_SEGMENT_CITY     = 2,
    TROVE_WORLD_SEGMENT_LANGUAGE = 3
};

typedef struct trove_world {
    char    *path;            /* file name used in messages */
    uint64_t seed;            /* default 1 */
    int64_t  start_ts;        /* start of period 0, 00:00 UTC of start_date;
                                 0 = the next UTC midnight when the world is
                                 first written to a store */
    uint32_t cycle_days;      /* length of a period, default 7 */
    uint32_t history_days;    /* organic history before period 0, default 56 */
    uint32_t history_redemptions; /* organic redemptions per user, default 6 */
    char   **categories;      /* offer categories (>= 2) */
    size_t   n_categories;
    char   **brands;          /* offer feature "brand" values (>= 1) */
    size_t   n_brands;
    uint32_t initial_offers;  /* offers at the start, >= 1 */
    uint32_t new_per_cycle;   /* offers launched every period, >= 1 */
    double   price_min, price_max;   /* uniform prices, 0 < min <= max */
    double   base_logit;      /* default -2.5 */
    double   taste_noise;     /* per-user taste deviation sd, default 0.8 */
    double   quality_sd;      /* offer quality sd, default 0.5 */
    double   pair_noise;      /* per (user, offer) noise sd, default 0.3 */
    double   local_quality_sd;/* per (offer, market) appeal sd, default 0 */
    trove_world_market *markets;
    size_t   n_markets;       /* 1..TROVE_WORLD_MAX_MARKETS */
} trove_world;

/* Load a world file. On success *out receives a world freed with
 * trove_world_free(). Returns TROVE_OK, TROVE_ENOTFOUND (no such file),
 * TROVE_EIO (unreadable), TROVE_EFORMAT
 * ("file:line:column: message"), TROVE_EINVAL, TROVE_ENOMEM. */
int trove_world_load(const char *path, trove_world **out, trove_error *err);
/* The same from a buffer; name (NULL = "<string>") stands for the file. */
int trove_world_parse(const char *text, size_t len, const char *name,
                      trove_world **out, trove_error *err);
void trove_world_free(trove_world *w);

/* What trove_sim_step did in one period. */
typedef struct trove_sim_market_stats {
    char     code[64];
    int      had_cycle;        /* a cycle of this market started in the period */
    char     cycle_key[64];
    uint64_t users_shown;      /* users with at least one assignment */
    uint64_t impressions, redemptions;
} trove_sim_market_stats;

typedef struct trove_sim_stats {
    uint32_t period;           /* the simulated period */
    int64_t  from_ts, to_ts;   /* its window */
    uint64_t offers_launched;  /* for the next period */
    size_t   n_markets;
    trove_sim_market_stats markets[TROVE_WORLD_MAX_MARKETS];
} trove_sim_stats;

/* Write the world into s if it is not there yet (markets, users with their
 * features, the initial offers, the organic history), all in one
 * transaction; a store that already holds it is left alone. *created (may be
 * NULL) is set to 1 when it was written now. */
int trove_sim_init(trove_store *s, const trove_world *w, int *created,
                   trove_error *err);

/* Start of the next period to simulate (the "now" of its cycles).
 * TROVE_ENOTFOUND if the world is not in the store. */
int trove_sim_clock(trove_store *s, const trove_world *w, int64_t *now,
                    trove_error *err);

/* Simulate the next period: for every market, the cycle that starts inside
 * the period (if any) is shown to its users, who produce impression and
 * redemption events; then the next period's offers are launched. One
 * transaction. out (may be NULL) receives what happened. */
int trove_sim_step(trove_store *s, const trove_world *w, trove_sim_stats *out,
                   trove_error *err);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_SIM_H */
