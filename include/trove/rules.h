/*
 * trove/rules.h - the rules engine: the business rules of a market
 * (rules/<market>.yaml) applied to a scored list of items, the same code in
 * batch assignment cycles and online serving.
 *
 * Three steps, three lifetimes:
 *   1. trove_rule_set_load() parses and validates the YAML file into a plain
 *      trove_rule_set (errors are "file:line:column: message").
 *   2. trove_rules_compile() binds a rule set to a catalog (items in dense
 *      index order with their categorical features and flags) and a time
 *      zone, producing an immutable trove_rules: bitsets and flat arrays
 *      indexed by dense item index. Schedule windows written in local time
 *      are converted to UTC here, from the TZ database file of the zone
 *      (no TZ environment switch, so compiling is thread-safe).
 *   3. trove_rules_apply() takes one request (user context, now, the scores
 *      of all items or a candidate list, n wanted) and writes the final
 *      list. It never allocates: the caller passes scratch memory of
 *      trove_rules_scratch_size() bytes. It never fails on data: a request
 *      with no eligible item returns an empty list.
 *
 * Order of application (docs/rules.md has the details and the trace format):
 *   eligibility (catalog flags and dates, eligibility and schedule rules)
 *   -> caps (frequency, budget) -> pin / boost / bury -> exclusive groups
 *   -> diversity caps per category (greedy) -> exploration slots for new
 *   offers -> bundles.
 *
 * Thread safety: a trove_rule_set and a trove_rules are immutable once
 * built; any number of threads may apply the same trove_rules at once, each
 * with its own scratch buffer and result arrays. Same inputs -> same output.
 */
#ifndef TROVE_RULES_H
#define TROVE_RULES_H

#include "trove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * The parsed rule file (plain data; every pointer is owned by the set and
 * lives until trove_rule_set_free()).
 * ---------------------------------------------------------------------- */
enum trove_rule_kind {
    TROVE_RULE_ELIGIBILITY   = 1,   /* user conditions on items */
    TROVE_RULE_SCHEDULE      = 2,   /* local date window on items */
    TROVE_RULE_FREQUENCY_CAP = 3,   /* max exposures per user and offer */
    TROVE_RULE_BUDGET_CAP    = 4,   /* exhausted budget -> ineligible */
    TROVE_RULE_PIN           = 5,   /* forced to the top slots */
    TROVE_RULE_BOOST         = 6,   /* score * factor + offset */
    TROVE_RULE_BURY          = 7,   /* ranked after every other item */
    TROVE_RULE_EXCLUSIVE     = 8,   /* at most `max` items of the group */
    TROVE_RULE_DIVERSITY     = 9,   /* at most `max` items per field value */
    TROVE_RULE_EXPLORE       = 10,  /* slots for offers created recently */
    TROVE_RULE_BUNDLE        = 11   /* complementary item after an anchor */
};

/* A list of strings. */
typedef struct trove_rule_strings {
    char  **v;
    size_t  n;
} trove_rule_strings;

/* One rule. Which fields mean something depends on kind (docs/rules.md);
 * the others are zero / empty. */
typedef struct trove_rule_spec {
    char  *name;                 /* unique in the file */
    int    kind;                 /* enum trove_rule_kind */
    int    line, column;         /* 1-based place of the rule in the file */

    /* Item selector: an item is selected when its id is in item_ids or it
     * has any of the features in items ("category=burger"). Both empty =
     * every item. For bundles, `items` is the anchor side ("when"). */
    trove_rule_strings items;
    trove_rule_strings item_ids;

    /* eligibility: the user must have one of require_segments (when not
     * empty), one of require_features (when not empty), and none of
     * exclude_segments / exclude_features. */
    trove_rule_strings require_segments, exclude_segments;
    trove_rule_strings require_features, exclude_features;

    /* schedule: [start, end) in the market's local time, as seconds since
     * 1970-01-01 00:00 of that local clock ("civil seconds"); 0 = open. */
    int64_t start_local, end_local;

    int     max;       /* frequency_cap, exclusive, diversity, bundle */
    double  factor;    /* boost: multiplier (default 1) */
    double  offset;    /* boost: added after the factor (default 0) */
    char   *field;     /* diversity: categorical field, e.g. "category" */
    int     slots;     /* explore: slots per list */
    int     new_days;  /* explore: an item is new for this many days */
    trove_rule_strings with;   /* bundle: partner features */
    int     copurchase;        /* bundle: partners from the co-purchase
                                  lists of the catalog instead of `with` */
} trove_rule_spec;

typedef struct trove_rule_set {
    char   *path;          /* file name ("<string>" when parsed from memory) */
    char   *market;        /* market code, or NULL */
    char   *timezone;      /* IANA name, or NULL (= the caller's or UTC) */
    int     frequency_window_days;   /* window of the exposure counts the
                                        caller passes (default 7) */
    trove_rule_spec *rules;          /* in file order, at most 4096 */
    size_t  n_rules;
} trove_rule_set;

/* Load and validate rules/<market>.yaml. Returns TROVE_OK, TROVE_ENOTFOUND
 * or TROVE_EIO (cannot read), TROVE_EFORMAT (bad YAML, unknown rule kind or
 * key, wrong type, bad value, duplicate rule name: "file:line:col: ..."),
 * TROVE_EINVAL (NULL argument), TROVE_ENOMEM. *out (written on success
 * only) is freed with trove_rule_set_free(). */
int trove_rule_set_load(const char *path, trove_rule_set **out,
                        trove_error *err);
/* The same from a buffer; name (NULL = "<string>") stands for the file. */
int trove_rule_set_parse(const char *text, size_t len, const char *name,
                         trove_rule_set **out, trove_error *err);
void trove_rule_set_free(trove_rule_set *rs);

/* "eligibility", "frequency_cap", ...; "unknown" outside the enum. */
const char *trove_rule_kind_name(int kind);

/* ------------------------------------------------------------------------
 * Compiling against a catalog.
 * ---------------------------------------------------------------------- */
typedef struct trove_rules_item {
    const char         *ext_id;      /* external id (item_ids match it) */
    const char *const  *features;    /* categorical "field=value" names */
    size_t              n_features;
    int                 active;      /* 0 = never recommended */
    int                 pinned;      /* 1 = pinned by the catalog flag */
    int                 blocked;     /* 1 = never recommended */
    int64_t             start_ts;    /* UTC seconds; 0 = no start */
    int64_t             end_ts;      /* UTC seconds, exclusive; 0 = no end */
    int64_t             created_ts;  /* UTC seconds: when the offer appeared */
    int                 budgeted;    /* 1 = budget_cap rules check the
                                        remaining budget of this item */
} trove_rules_item;

typedef struct trove_rules_catalog {
    const trove_rules_item *items;   /* dense index order: item i of the
                                        scores array is items[i] */
    size_t                  n_items; /* < 2^31 */
    /* Optional co-purchase lists in CSR form: the partners of item i are
     * copurchase_items[copurchase_offsets[i] .. copurchase_offsets[i+1]),
     * strongest first. Both NULL = none. */
    const uint32_t *copurchase_offsets;
    const uint32_t *copurchase_items;
    /* IANA time zone of the market (e.g. "Europe/Berlin"); NULL = the rule
     * set's, else "UTC". Read from $TZDIR or /usr/share/zoneinfo. */
    const char     *timezone;
} trove_rules_catalog;

typedef struct trove_rules trove_rules;

/* Compile rs against cat. Nothing of rs or cat is borrowed: both may be
 * freed afterwards. A selector that names a feature or item id no catalog
 * item has is not an error (catalogs change) but is logged as a warning and
 * counted in trove_rules_info().n_warnings. Returns TROVE_OK, TROVE_EINVAL
 * (NULL argument, too many items, a copurchase bundle without co-purchase
 * lists, a co-purchase partner out of range), TROVE_ENOTFOUND (unknown time
 * zone), TROVE_EFORMAT (corrupt zone file), TROVE_ENOMEM. */
int  trove_rules_compile(const trove_rule_set *rs,
                         const trove_rules_catalog *cat,
                         trove_rules **out, trove_error *err);
void trove_rules_free(trove_rules *r);

typedef struct trove_rules_info {
    size_t n_items;
    size_t n_rules;
    size_t n_warnings;              /* selectors matching nothing */
    int    frequency_window_days;   /* from the rule set */
    size_t scratch_size;            /* == trove_rules_scratch_size() */
} trove_rules_info;
void trove_rules_info_get(const trove_rules *r, trove_rules_info *out);

/* Name of rule `rule` (index in the rule set), or "catalog" for
 * TROVE_RULE_CATALOG; NULL if out of range. Borrowed from r. */
const char *trove_rules_rule_name(const trove_rules *r, unsigned rule);
/* Kind of rule `rule`, 0 for TROVE_RULE_CATALOG or out of range. */
int trove_rules_rule_kind(const trove_rules *r, unsigned rule);

/* Bytes of scratch one trove_rules_apply() call needs (constant for r). */
size_t trove_rules_scratch_size(const trove_rules *r);

/* UTC offset in seconds of the compiled time zone at UTC time t. */
int32_t trove_rules_utc_offset(const trove_rules *r, int64_t t);

/* ------------------------------------------------------------------------
 * Applying to one request.
 * ---------------------------------------------------------------------- */
/* A user's segments, as cycles and serving read them from the store: the
 * user features named "segment=<tag>" (e.g. segment=vip: segment "vip"). */
#define TROVE_RULES_SEGMENT_PREFIX "segment="

typedef struct trove_rules_user {
    uint64_t            key;         /* stable hash of the user id, e.g.
                                        trove_hash64(id, strlen(id), 0):
                                        seeds the exploration choice */
    const char *const  *segments;    /* segment tags ("vip") */
    size_t              n_segments;
    const char *const  *features;    /* "field=value" user features */
    size_t              n_features;
    /* Exposures in the last frequency_window_days: exposed_items[k] (dense
     * index) was shown exposure_counts[k] times. May be NULL with 0. */
    const uint32_t     *exposed_items;
    const uint32_t     *exposure_counts;
    size_t              n_exposures;
} trove_rules_user;

/* Where an item of the result comes from. */
enum trove_rules_source {
    TROVE_RULES_SOURCE_MODEL   = 0,   /* ranked by the model's score */
    TROVE_RULES_SOURCE_PINNED  = 1,   /* pin rule or catalog pinned flag */
    TROVE_RULES_SOURCE_EXPLORE = 2,   /* exploration slot for a new offer */
    TROVE_RULES_SOURCE_BUNDLE  = 3,   /* bundled with the item before it */
    TROVE_RULES_SOURCE_POPULAR = 4    /* ranked by popularity scores (fallback) */
};

typedef struct trove_rules_request {
    const trove_rules_user *user;    /* NULL = anonymous (no segments,
                                        features or exposures, key 0) */
    int64_t      now;                /* UTC seconds */
    /* Either the scores of every catalog item (scores, n_items long) ...
     * (an item scored NaN or -inf is never ranked) */
    const float *scores;
    /* ... or, when scores is NULL, a candidate list with its scores. Items
     * outside it are never ranked (pins, exploration and bundles may still
     * add them, with score 0). Duplicates are ignored after the first. */
    const uint32_t *candidates;
    const float    *candidate_scores;
    size_t          n_candidates;
    /* Remaining budget per item (n_items long), or NULL = not checked. */
    const double *remaining_budget;
    int          ranked_source;      /* TROVE_RULES_SOURCE_MODEL or _POPULAR: the
                                        source given to ranked items */
    size_t       n;                  /* items wanted */
    int          explain;            /* 1 = write hits */
} trove_rules_request;

/* What a rule did (trace actions). */
enum trove_rules_action {
    TROVE_ACTION_PIN           = 1,  /* item pinned to a top slot */
    TROVE_ACTION_BOOST         = 2,  /* score changed by a boost */
    TROVE_ACTION_BURY          = 3,  /* item ranked after the others */
    TROVE_ACTION_EXPLORE       = 4,  /* item placed in an exploration slot */
    TROVE_ACTION_BUNDLE        = 5,  /* item attached to the one before */
    TROVE_ACTION_DROP_EXCLUSIVE = 6, /* ranked high enough but dropped:
                                        its exclusive group was full */
    TROVE_ACTION_DROP_DIVERSITY = 7, /* dropped: its category was full */
    /* Reasons an item is ineligible (trove_rules_check only). */
    TROVE_ACTION_INACTIVE      = 8,
    TROVE_ACTION_BLOCKED       = 9,
    TROVE_ACTION_OUT_OF_DATES  = 10, /* catalog start/end */
    TROVE_ACTION_NOT_ELIGIBLE  = 11, /* eligibility rule */
    TROVE_ACTION_OUT_OF_SCHEDULE = 12,
    TROVE_ACTION_FREQUENCY_CAPPED = 13,
    TROVE_ACTION_BUDGET_EXHAUSTED = 14
};

#define TROVE_RULE_CATALOG 0xFFFFu   /* hit from a catalog flag, no rule */

/* One trace entry: rule `rule` did `action` to item `item`. */
typedef struct trove_rule_hit {
    uint32_t item;       /* dense item index */
    uint16_t rule;       /* index in the rule set, or TROVE_RULE_CATALOG */
    uint8_t  action;     /* enum trove_rules_action */
    uint8_t  position;   /* slot in the result (255 = not in it / >= 255) */
} trove_rule_hit;

typedef struct trove_rules_result {
    /* Caller-provided arrays of at least request.n entries each
     * (scores/sources/hits may be NULL when not wanted). */
    uint32_t       *items;
    float          *scores;      /* final score (boosted) per item */
    uint8_t        *sources;     /* enum trove_rules_source */
    trove_rule_hit *hits;        /* with request.explain: trace entries */
    size_t          hits_cap;
    /* Written by trove_rules_apply. */
    size_t          n;           /* items written, <= request.n */
    size_t          n_hits;      /* entries written, <= hits_cap */
    int             hits_truncated;  /* 1 if more would have been written */
    size_t          n_eligible;  /* eligible items among those considered */
} trove_rules_result;

/* Apply r to one request. scratch: trove_rules_scratch_size(r) bytes,
 * 8-byte aligned, used by one call at a time (its content between calls
 * does not matter). Returns TROVE_OK, or TROVE_EINVAL (NULL argument, no
 * scores and no candidates, a candidate or exposure index out of range,
 * n > 0 with items NULL); *res is written only on TROVE_OK. Never allocates. */
int trove_rules_apply(const trove_rules *r, const trove_rules_request *req,
                      void *scratch, trove_rules_result *res);

/* Why item `item` is or is not recommendable in this request: writes every
 * rule that makes it ineligible (INACTIVE ... BUDGET_EXHAUSTED) and every
 * pin / boost / bury rule that selects it into hits (at most cap),
 * *n_hits receives the number written. Returns TROVE_OK or TROVE_EINVAL.
 * Neither allocates nor needs scratch. */
int trove_rules_check(const trove_rules *r, const trove_rules_request *req,
                      uint32_t item, trove_rule_hit *hits, size_t cap,
                      size_t *n_hits);

/* "pin", "drop_diversity", ...; "unknown" outside the enum. */
const char *trove_rules_action_name(int action);
/* "model", "pinned", "explore", "bundle", "popular"; "unknown" otherwise. */
const char *trove_rules_source_name(int source);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_RULES_H */
