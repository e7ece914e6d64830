/*
 * scorer.c - the engine's scorer over a fitted recommender. The recommender
 * is immutable and its score_user thread-safe, which is what the engine
 * requires of a scorer.
 */
#include "eval_int.h"

static int reco_score(void *ctx, uint32_t user, float *scores, trove_error *err)
{
    return trove_recommender_score_user(ctx, user, scores, err);
}

trove_scorer trove_scorer_from_recommender(const trove_recommender *r)
{
    trove_scorer s;
    s.ctx = (void *)(uintptr_t)r;
    s.n_users = trove_recommender_n_users(r);
    s.n_items = trove_recommender_n_items(r);
    s.score_user = reco_score;
    return s;
}
