/*
 * trove/experiment.h - deterministic experiment bucketing, bit-compatible
 * with GrowthBook's SDKs (packages/sdk-js/src/util.ts: hash,
 * getBucketRanges, chooseVariation), so that a user lands in the same arm
 * here as in any GrowthBook SDK given the same seed.
 *
 *   fnv1a32(s)   32-bit FNV-1a over the UTF-16 code units of s (what
 *                JavaScript's charCodeAt yields; for ASCII these are the
 *                bytes). UTF-8 input is decoded; a byte that is not part of
 *                valid UTF-8 counts as the code unit of the same value.
 *   hash v1      (fnv1a32(value + seed) % 1000) / 1000
 *   hash v2      (fnv1a32(decimal(fnv1a32(seed + value))) % 10000) / 10000
 *
 * trove's arms: a cycle hashes the user's external id with version 2 and
 * the market's salt as the seed, and splits [0, 1) with GrowthBook's ranges
 * for two variations [control, test] with weights [1 - test_share,
 * test_share] and full coverage: control when bucket < 1 - test_share, test
 * otherwise. The arm depends only on (salt, user id, test_share): it is the
 * same in every cycle until the salt or the share changes.
 *
 * Every function here is pure and thread-safe.
 */
#ifndef TROVE_EXPERIMENT_H
#define TROVE_EXPERIMENT_H

#include "trove/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Arms of a cycle (the values stored with assignments). */
enum trove_arm {
    TROVE_ARM_CONTROL = 0,
    TROVE_ARM_TEST    = 1
};
#define TROVE_N_ARMS 2

/* "control" / "test"; "unknown" otherwise. */
const char *trove_arm_name(int arm);

/* FNV-1a 32-bit of the UTF-16 code units of `len` bytes of UTF-8 text. */
uint32_t trove_fnv1a32(const char *s, size_t len);

/* GrowthBook's hash(seed, value, version) in [0, 1). seed and value are
 * NUL-terminated UTF-8 (any length; nothing is allocated). Returns
 * TROVE_OK, or TROVE_EINVAL for a version other than 1 and 2 (GrowthBook
 * answers null) or a NULL argument. *out is written only on success. */
int trove_experiment_hash(const char *seed, const char *value, int version,
                          double *out);

/* GrowthBook's getBucketRanges: ranges[i] = [start_i, start_i + coverage *
 * w_i) with start_i the sum of the earlier weights. coverage is clamped to
 * [0, 1]; weights NULL, or not summing to 1 within 0.01, fall back to equal
 * weights (as the SDK does). ranges must hold n pairs. */
void trove_experiment_bucket_ranges(size_t n, double coverage,
                                    const double *weights, double (*ranges)[2]);

/* GrowthBook's chooseVariation: the first i with ranges[i][0] <= bucket <
 * ranges[i][1], or -1. */
int trove_experiment_choose(double bucket, const double (*ranges)[2], size_t n);

/* The arm of user `user_ext_id` under `salt` with `test_share` of users in
 * test (0..1): TROVE_ARM_CONTROL or TROVE_ARM_TEST, or a negative status
 * (TROVE_EINVAL for NULL strings or a share outside [0, 1]). *bucket (may be
 * NULL) receives the v2 hash. */
int trove_experiment_arm(const char *salt, const char *user_ext_id,
                         double test_share, double *bucket);

#ifdef __cplusplus
}
#endif
#endif /* TROVE_EXPERIMENT_H */
