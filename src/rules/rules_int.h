/*
 * rules_int.h - internals of the rules engine shared by compile.c (rule set
 * + catalog -> flat arrays) and apply.c (one request, no allocation).
 *
 * Invariants of a compiled trove_rules:
 *   - every bitset has n_words = ceil(n_items / 64) words, bits past n_items
 *     are zero;
 *   - rules[k] is rule k of the rule set (same index in traces);
 *   - pins are sorted by (pin rank: catalog flag first, then pin rules in
 *     file order), each item once;
 *   - by_created lists every item by created_ts descending (ties: index);
 *   - factor/offset/buried hold the combined boost and bury rules of each
 *     item (boosts compose in file order: s = s * f1 + o1, then * f2 + o2);
 *     `special` marks items that are boosted, buried or pinned;
 *   - the scratch offsets below partition trove_rules_scratch_size() bytes.
 */
#ifndef TROVE_RULES_INT_H
#define TROVE_RULES_INT_H

#include "trove/rules.h"

/* UTC offsets of one time zone: offset `initial` before trans[0], offsets[k]
 * from trans[k] on (the last one for ever after). */
typedef struct trove__tz {
    int64_t *trans;
    int32_t *offsets;
    size_t   n;
    int32_t  initial;
} trove__tz;

/* Load zone `name` ("UTC", "Europe/Berlin") from $TZDIR or
 * /usr/share/zoneinfo (TZif version 2+ 64-bit data, RFC 8536). */
int     trove__rules_tz_load(const char *name, trove__tz *tz, trove_error *err);
void    trove__rules_tz_free(trove__tz *tz);
int32_t trove__rules_tz_offset(const trove__tz *tz, int64_t t);
/* UTC time of local civil seconds `local`: the first occurrence when the
 * local time repeats (autumn), the instant after the jump when it does not
 * exist (spring). */
int64_t trove__rules_tz_to_utc(const trove__tz *tz, int64_t local);

#define TROVE__NONE 0xFFFFFFFFu

/* Per-item flag bits (trove_rules.flags). */
enum {
    TROVE__F_INACTIVE = 1,
    TROVE__F_BLOCKED  = 2,
    TROVE__F_PINNED   = 4,
    TROVE__F_BUDGETED = 8,
    TROVE__F_DATED    = 16,
    TROVE__F_PIN_ANY  = 32    /* pinned by the flag or a pin rule */
};

typedef struct trove__crule {
    int       kind;
    char     *name;
    uint64_t *members;      /* selector bitset; NULL = every item */
    uint32_t *list;         /* selected items ascending (NULL if every item) */
    uint32_t  n_list;
    /* eligibility: term ids of the user conditions */
    uint32_t *req_seg, *exc_seg, *req_feat, *exc_feat;
    uint32_t  n_req_seg, n_exc_seg, n_req_feat, n_exc_feat;
    int64_t   start_utc, end_utc;     /* schedule, INT64_MIN/MAX = open */
    uint32_t  max;
    uint32_t *value_of;     /* diversity: value id per item or NONE */
    uint32_t  count_off;    /* exclusive/diversity: first counter */
    uint64_t *with;         /* bundle partners (features) bitset */
    uint32_t *with_list;
    uint32_t  n_with;
    int       copurchase;
    uint32_t  slots;        /* explore */
    int64_t   new_secs;
} trove__crule;

/* A ranked candidate. key orders candidates with one integer compare
 * (higher = better): bit 63 = not buried, bits 31..62 = the score mapped to
 * an order-preserving unsigned integer, bits 0..30 = 2^31-1 - item (lower
 * index wins ties). Exploration picks keep their hash in key instead. */
typedef struct trove__cand {
    uint64_t key;
    float    score;
    uint32_t item;
} trove__cand;

struct trove_rules {
    size_t     n_items, n_words;
    uint8_t   *flags;               /* TROVE__F_* per item */
    uint64_t  *base_skip;           /* inactive or blocked */
    int64_t   *start_ts, *end_ts, *created_ts;
    uint32_t  *dated;               /* items with a start or end */
    size_t     n_dated;
    uint32_t  *budgeted;            /* items with the budgeted flag */
    size_t     n_budgeted;
    uint32_t  *pins;                /* pinned items in pin order */
    uint16_t  *pin_rule;            /* TROVE_RULE_CATALOG or rule index */
    size_t     n_pins;
    uint64_t  *special;             /* boosted, buried or pinned */
    uint32_t  *special_list;        /* boosted or buried, not pinned */
    size_t     n_special;
    float     *factor, *offset;     /* per item */
    uint8_t   *buried;              /* per item */
    uint32_t  *by_created;
    uint32_t  *co_off, *co_items;   /* co-purchase CSR copy, or NULL */
    trove__crule *rules;
    size_t     n_rules;
    uint32_t  *exclusive_rules, *diversity_rules;
    size_t     n_exclusive, n_diversity;
    trove_idmap *terms;             /* "s:<segment>", "f:<feature>" */
    size_t     term_words;
    size_t     n_counts;
    size_t     max_slots;
    trove__tz  tz;
    int        frequency_window_days;
    size_t     n_warnings;
    const char *src_path;           /* the rule file's name while compiling
                                       (borrowed), NULL afterwards */
    /* scratch layout (byte offsets) */
    size_t     off_skip, off_chosen, off_seen, off_terms, off_pool, off_counts,
               off_pick, off_items, off_scores, off_sources, off_by, scratch_size;
};

static inline int trove__bit(const uint64_t *b, size_t i)
{
    return (int)((b[i >> 6] >> (i & 63)) & 1u);
}

static inline void trove__bit_set(uint64_t *b, size_t i)
{
    b[i >> 6] |= (uint64_t)1 << (i & 63);
}

/* Item i selected by rule c. */
static inline int trove__member(const trove__crule *c, size_t i)
{
    return c->members == NULL || trove__bit(c->members, i);
}

#endif /* TROVE_RULES_INT_H */
