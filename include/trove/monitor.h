/*
 * trove/monitor.h - monitoring of one market: data quality of the latest
 * events, drift between the training window and the latest window (the
 * population stability index of every user and item feature and of the
 * model's score distribution), and model age.
 *
 * Windows (all half-open [from, to), Unix seconds, UTC):
 *   latest      the latest_days days before `now`;
 *   reference   with an active model version: the train_days days before
 *               the version's created_ts (its training window); without
 *               one: the latest_days days before the latest window;
 *   trailing    the volume_windows windows of latest_days days before the
 *               latest window, for the event volume check.
 *
 * Checks and their statuses are defined with formulas in docs/monitoring.md;
 * the JSON shape written by trove_monitor_report_json() is documented there
 * too and is what `trove monitor --json` prints and GET /v1/monitoring
 * answers (with an added "latency" member).
 *
 * Thread safety: trove_monitor_run uses the store handle (one thread at a
 * time, as every store call) and reads the model only; a report is a plain
 * value, safe to read from any thread once built.
 */
#ifndef TROVE_MONITOR_H
#define TROVE_MONITOR_H

#include "trove/core.h"
#include "trove/store.h"
#include "trove/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Status of one check, one drift figure or the whole report. NA: could not
 * be computed (no events, no model, no features); it never makes the
 * overall status worse. */
enum trove_monitor_status {
    TROVE_MONITOR_NA    = -1,
    TROVE_MONITOR_OK    = 0,
    TROVE_MONITOR_WARN  = 1,
    TROVE_MONITOR_ALERT = 2
};
/* "n/a", "ok", "warn", "alert" (static; "n/a" outside the enum). */
const char *trove_monitor_status_name(int status);

/* params.now: the end of the latest window is one second after the
 * market's last event (for stores on a simulated or historical clock). */
#define TROVE_MONITOR_NOW_LAST_EVENT (-1)

/* A pair of thresholds. For rates and PSI a value >= warn is WARN and
 * >= alert is ALERT; for the volume drop a ratio <= warn is WARN and
 * <= alert is ALERT. */
typedef struct trove_monitor_threshold {
    double warn;
    double alert;
} trove_monitor_threshold;

typedef struct trove_monitor_params {
    int64_t now;            /* end of the latest window: Unix seconds > 0,
                               0 = the current time, or
                               TROVE_MONITOR_NOW_LAST_EVENT; default 0 */
    int     latest_days;    /* length of the latest window; default 7 */
    int     train_days;     /* length of the training window; default 28 */
    int     volume_windows; /* trailing windows for the volume; default 4 */
    int     top_values;     /* categorical values kept per feature, the
                               rest pooled into "(other)"; default 10 */
    int     numeric_bins;   /* quantile bins of numeric features and
                               scores; default 10 (deciles) */
    double  psi_epsilon;    /* share used for an empty bin; default 1e-4 */
    unsigned drift_types;   /* events whose features and scores enter the
                               drift figures: OR of TROVE_EVENT_MASK(type);
                               0 = the positive types (click, redemption,
                               purchase, rating), the default. The quality
                               checks count every event */
    trove_monitor_threshold psi;          /* default 0.1, 0.25 */
    trove_monitor_threshold null_rate;    /* default 0.05, 0.20 */
    trove_monitor_threshold unknown_rate; /* default 0.10, 0.30 */
    trove_monitor_threshold item_no_features; /* default 0.05, 0.20 */
    trove_monitor_threshold duplicate_rate;   /* default 0.001, 0.01 */
    trove_monitor_threshold volume_drop;  /* ratio; default 0.7, 0.5 */
    trove_monitor_threshold volume_surge; /* ratio; default 1.5, 2.0 */
} trove_monitor_params;

trove_monitor_params trove_monitor_default_params(void);

/* TROVE_OK, or TROVE_EINVAL with a message naming the field (days and bins
 * >= 1, top_values >= 1, thresholds finite and ordered, epsilon in
 * (0, 0.01], now >= -1). */
int trove_monitor_check_params(const trove_monitor_params *p, trove_error *err);

/* The checks of data quality, in report order. */
enum trove_monitor_check_id {
    TROVE_MONITOR_NULL_RATE = 0,        /* events whose user has no features */
    TROVE_MONITOR_UNKNOWN_RATE,         /* events whose user or item the
                                           model does not know */
    TROVE_MONITOR_ITEM_NO_FEATURES,     /* latest items without features */
    TROVE_MONITOR_DUPLICATE_RATE,       /* same user, item, type, time under
                                           another event id */
    TROVE_MONITOR_VOLUME_RATIO,         /* events per day, latest / trailing */
    TROVE_MONITOR_N_CHECKS
};

typedef struct trove_monitor_check {
    const char *name;       /* "null_rate", ... (static) */
    double      value;      /* the rate or ratio; NAN when status is NA */
    uint64_t    numerator;  /* e.g. events without user features */
    uint64_t    denominator;/* e.g. events of the latest window */
    trove_monitor_threshold threshold;
    int         status;     /* enum trove_monitor_status */
    const char *note;       /* why NA, or NULL (static) */
} trove_monitor_check;

#define TROVE_MONITOR_LABEL_MAX 64
#define TROVE_MONITOR_NAME_MAX 128

typedef struct trove_monitor_bin {
    char     label[TROVE_MONITOR_LABEL_MAX]; /* "Comedy", "(other)",
                                                "(missing)", "<= 3.5",
                                                "3.5 .. 7", "> 7" */
    uint64_t ref_count, latest_count;
    double   ref_share, latest_share;        /* count / window total */
} trove_monitor_bin;

enum trove_monitor_drift_kind {
    TROVE_MONITOR_DRIFT_CATEGORICAL = 1,
    TROVE_MONITOR_DRIFT_NUMERIC     = 2,
    TROVE_MONITOR_DRIFT_SCORE       = 3
};

typedef struct trove_monitor_drift {
    char     name[TROVE_MONITOR_NAME_MAX];  /* field ("genre", "age") or
                                               "score" */
    int      target;   /* TROVE_FEATURE_USER / TROVE_FEATURE_ITEM, 0 for
                          the score */
    int      kind;     /* enum trove_monitor_drift_kind */
    double   psi;      /* NAN when status is NA */
    int      status;
    uint64_t ref_n, latest_n;    /* observations in each window */
    size_t   n_bins;
    trove_monitor_bin *bins;     /* owned by the report */
    const char *note;            /* why NA, or NULL (static) */
} trove_monitor_drift;

typedef struct trove_monitor_report {
    char     market[64];
    int64_t  now;
    int64_t  latest_from, latest_to;
    int64_t  ref_from, ref_to;
    int      ref_is_training;     /* 1: the model's training window */
    int      model_version;       /* 0 = no active version */
    char     model_family[32];    /* "" without a version */
    int64_t  model_created_ts;    /* 0 without a version */
    int64_t  model_age;           /* now - created_ts; -1 without one */
    int      model_scored;        /* 1: scores were computed */
    char     model_note[160];     /* why not scored, "" when scored */
    uint64_t ref_events, latest_events;
    double   latest_per_day;      /* events per day, latest window */
    double   trailing_per_day;    /* NAN without trailing events */
    uint32_t trailing_windows;    /* windows averaged */
    trove_monitor_check checks[TROVE_MONITOR_N_CHECKS];
    size_t   n_features;          /* user then item features, each group
                                     by PSI descending (NA last), name */
    trove_monitor_drift *features;
    trove_monitor_drift  score;
    int      quality_status;      /* worst check */
    int      drift_status;        /* worst PSI */
    int      status;              /* worst of both */
    trove_monitor_params params;  /* the parameters used */
} trove_monitor_report;

/* A model to score with, for callers that hold one already (the server).
 * The model must carry raw user and item ids (trove_model_set_ids) to be
 * used for scores and the unknown-id rate. */
typedef struct trove_monitor_model {
    const trove_model *model;   /* borrowed for the call; may be NULL (the
                                   version is then known but not scored) */
    int         version;        /* > 0 */
    int64_t     created_ts;
    const char *family;         /* "hybrid", "warp", ... */
} trove_monitor_model;

/* Compute the report of `market` (a market code) from store `s`.
 * model: NULL = look up the market's active version in the registry and
 * load its file (a hybrid model file or a recommender file of a hybrid
 * family; other families give the training window but no scores, with
 * model_note saying why). p: NULL = defaults.
 * Reads the market's events of the windows once, every user and item id
 * once and every feature once. *out is caller-owned
 * (trove_monitor_report_free).
 * Returns TROVE_OK or:
 *   TROVE_ENOTFOUND  no such market;
 *   TROVE_EEMPTY     the market has no event in any window;
 *   TROVE_EINVAL     bad params (see trove_monitor_check_params);
 *   TROVE_ENOMEM, or the store's errors. A model file that cannot be
 *   loaded is not an error: the report says so in model_note. */
int trove_monitor_run(trove_store *s, const char *market,
                      const trove_monitor_model *model,
                      const trove_monitor_params *p,
                      trove_monitor_report **out, trove_error *err);

void trove_monitor_report_free(trove_monitor_report *r);

/* The report as one JSON object (docs/monitoring.md) in a trove_malloc'd
 * NUL-terminated string *out (*len bytes without the NUL); indent 0 =
 * compact. Returns TROVE_OK or TROVE_ENOMEM. */
int trove_monitor_report_json(const trove_monitor_report *r, int indent,
                              char **out, size_t *len, trove_error *err);

/* Population stability index of two distributions over n bins given as
 * counts: PSI = sum_i (a_i - e_i) ln(a_i / e_i), a_i and e_i the shares
 * of bin i in `actual` and `expected`, a share of 0 replaced by epsilon.
 * Returns NAN when n is 0 or either total is 0. */
double trove_monitor_psi(const uint64_t *expected, const uint64_t *actual,
                         size_t n, double epsilon);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_MONITOR_H */
