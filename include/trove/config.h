/*
 * trove/config.h - market configurations: one YAML file per market
 * (markets/<code>.yaml) with the market's name and time zone, the training
 * window, the user and item features, the model family and its
 * hyperparameters, the number of predictions, the experiment split and salt,
 * the registry's retention and the eligibility rules. Adding a market is
 * adding a file. docs/config.md lists every key with its type and default.
 *
 * Loading is strict: an unknown key, a duplicate key, a value of the wrong
 * type or out of range is TROVE_EFORMAT with a message naming the place,
 * "markets/DE.yaml:12:5: unknown key 'learning_rat' (did you mean
 * 'learning_rate'?)" (1-based line and column of the offending node).
 *
 * A loaded configuration is a plain struct owned by the caller; every string
 * and array in it is owned by the struct and lives until
 * trove_market_config_free(). Loading has no global state: configurations
 * may be loaded from several threads at once.
 */
#ifndef TROVE_CONFIG_H
#define TROVE_CONFIG_H

#include "trove/core.h"
#include "trove/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Type of a model hyperparameter value. */
enum trove_param_type {
    TROVE_PARAM_INT    = 1,   /* a YAML integer: 32, -1 */
    TROVE_PARAM_DOUBLE = 2,   /* a YAML number with a fraction or exponent */
    TROVE_PARAM_BOOL   = 3,   /* true / false */
    TROVE_PARAM_STRING = 4    /* anything else, or any quoted scalar */
};

/* One model hyperparameter, in the order of the file. For a TROVE_PARAM_INT
 * value `d` holds the same number as a double, so a caller asking for a real
 * number can read `d` for both numeric types. */
typedef struct trove_param {
    char   *key;
    int     type;        /* enum trove_param_type */
    int64_t i;           /* INT and BOOL (0/1) */
    double  d;           /* DOUBLE, and INT converted */
    char   *s;           /* the scalar as written (every type) */
    int     line, column;/* 1-based place of the value in the file */
} trove_param;

/* How the control arm of a cycle gets its offers. */
enum trove_control_policy {
    TROVE_CONTROL_RANDOM     = 1,   /* uniformly random eligible offers */
    TROVE_CONTROL_POPULARITY = 2    /* the market's most popular offers */
};

/* The simple eligibility filter of the assignment loop. The full rules
 * engine comes with serving and replaces trove_market_rules_eligible()
 * without changing the loop that calls it. */
typedef struct trove_market_rules {
    int    require_active;   /* offer must be active (default 1) */
    int    exclude_blocked;  /* blocked offers are never assigned (default 1) */
    int    respect_dates;    /* now must lie in [start_ts, end_ts) when set
                                (default 1) */
    char  *price_feature;    /* numeric item feature holding the price
                                (default "price") */
    double min_price;        /* inclusive; -INFINITY = no lower bound */
    double max_price;        /* inclusive; +INFINITY = no upper bound */
} trove_market_rules;

typedef struct trove_market_config {
    char   *path;            /* the file it was loaded from ("<string>" when
                                parsed from memory) */
    char   *code;            /* market code, e.g. "DE" (required) */
    char   *name;            /* display name (default: the code) */
    char   *timezone;        /* IANA name (default "UTC") */

    /* Training window: either from a start date or the last N days before
     * the newest event. Exactly one of the two is set. */
    char   *window_start_date;   /* "YYYY-MM-DD" or NULL */
    int64_t window_start_ts;     /* that date at 00:00 UTC, 0 if unset */
    int     window_last_days;    /* > 0, or 0 when a start date is given */

    char  **user_features;   /* feature fields to use (may be empty) */
    size_t  n_user_features;
    char  **item_features;
    size_t  n_item_features;

    char        *model_family;   /* "hybrid" (LightFM-class), "ials", ... */
    trove_param *model_params;   /* in file order, at most 64 */
    size_t       n_model_params;

    int     number_of_predictions;  /* offers per user, 1..1000 (default 10) */
    double  test_share;             /* share of users in the test arm, [0, 1]
                                       (default 0.9) */
    int     control_policy;         /* enum trove_control_policy
                                       (default POPULARITY) */
    char   *salt;                   /* experiment salt: the GrowthBook seed
                                       of the arm hash (default: the code) */
    int     keep_versions;          /* model versions kept, 1..1000 (default 5) */
    int     new_offer_exposure;     /* slots per user reserved for offers
                                       launched since the previous cycle,
                                       0..number_of_predictions (default 0) */
    trove_market_rules rules;

    char    hash[17];               /* config hash, 16 lower-case hex digits */
} trove_market_config;

/* Load and validate one market file. On success *out receives a config the
 * caller frees with trove_market_config_free(). Returns TROVE_OK or
 * TROVE_EIO (cannot read the file), TROVE_EFORMAT (bad YAML, unknown key,
 * wrong type, bad value: the message has file:line:column), TROVE_EINVAL
 * (NULL argument), TROVE_ENOMEM. */
int trove_market_config_load(const char *path, trove_market_config **out,
                             trove_error *err);

/* The same from a buffer; `name` (may be NULL: "<string>") stands for the
 * file name in messages and in ->path. */
int trove_market_config_parse(const char *text, size_t len, const char *name,
                              trove_market_config **out, trove_error *err);

void trove_market_config_free(trove_market_config *c);

/* Load every "*.yaml" and "*.yml" file of `dir`, in file-name order. Two
 * files with the same market code are TROVE_EEXIST; an empty directory is
 * TROVE_EEMPTY; the first bad file stops the load (nothing is returned).
 * *out receives an array of *n configs freed with
 * trove_market_configs_free(). */
int trove_market_config_load_dir(const char *dir, trove_market_config ***out,
                                 size_t *n, trove_error *err);
void trove_market_configs_free(trove_market_config **cs, size_t n);

/* The hyperparameter `key`, or NULL. Borrowed from c. */
const trove_param *trove_market_config_param(const trove_market_config *c,
                                             const char *key);

/* The stable config hash of c (c->hash): FNV-1a 64 of the canonical text of
 * the parsed content (every field in a fixed order, hyperparameters sorted
 * by key, numbers printed with %.17g), so formatting, comments and key order
 * in the file do not change it while any value does. Written into out (17
 * bytes with the NUL). The loaders fill c->hash already; call this after
 * changing fields by hand. */
void trove_market_config_hash(const trove_market_config *c, char out[17]);

/* 1 if item `it` (with price `price`, NAN if unknown) may be assigned at
 * time `now` (Unix seconds) under `r`, else 0. An unknown price fails a
 * price band and passes when there is none. */
int trove_market_rules_eligible(const trove_market_rules *r,
                                const trove_item *it, double price,
                                int64_t now);

/* Lower-case names: "random", "popularity"; "unknown" outside the enum. */
const char *trove_control_policy_name(int policy);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_CONFIG_H */
