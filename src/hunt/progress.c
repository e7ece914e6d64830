/*
 * progress.c - a hunt's progress from the user's events
 * (trove_hunt_advance) and the reward chosen when the last step is done.
 *
 * Invariants: steps complete in order (step k only counts events at or
 * after step k-1's completion, and inside [created_ts, expires_ts)); a step
 * once done never reopens; the reward is chosen once, at unlock, by a
 * weighted draw seeded by the hunt id, so replaying the same events gives
 * the same reward.
 */
#include "trove/hunt.h"
#include "trove/store.h"

#include <stdio.h>
#include <string.h>

static int is_discovery(int type)
{
    return type == TROVE_EVENT_CLICK || type == TROVE_EVENT_PURCHASE ||
           type == TROVE_EVENT_REDEMPTION;
}

static int same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Completion time of step st from events at or after `from`, 0 if open. */
static int64_t step_done(const trove_hunt *h, const trove_hunt_step *st,
                         int64_t from, const trove_hunt_event *ev, size_t n)
{
    int64_t first = 0, second = 0;
    for (size_t i = 0; i < n; i++) {
        const trove_hunt_event *e = &ev[i];
        if (e->ts < from || e->ts < h->created_ts || e->ts >= h->expires_ts)
            continue;
        switch (st->kind) {
        case TROVE_HUNT_DISCOVER:
            if (is_discovery(e->type) &&
                (st->category[0] != '\0' ? same(e->category, st->category)
                                         : same(e->item, st->item)))
                return e->ts;
            break;
        case TROVE_HUNT_BUNDLE:
            if (e->type != TROVE_EVENT_PURCHASE)
                break;
            if (first == 0 && same(e->item, st->item))
                first = e->ts;
            else if (second == 0 && same(e->item, st->partner))
                second = e->ts;
            if (first != 0 && second != 0)
                return first > second ? first : second;
            break;
        case TROVE_HUNT_REDEEM:
            if (e->type == TROVE_EVENT_REDEMPTION && same(e->item, st->item))
                return e->ts;
            break;
        default:
            break;
        }
    }
    return 0;
}

static void unlock(trove_hunt *h, const trove_hunt_template *t,
                   const trove_hunt_clock *clock)
{
    int64_t at = h->steps[h->n_steps - 1].done_ts;
    int32_t day = trove_hunt_clock_day(clock, at);
    double total = 0, u;
    trove_rng rng;
    h->reward_ts = at;
    h->reward_state = TROVE_HUNT_REWARD_UNAVAILABLE;
    for (size_t r = 0; r < t->n_rewards; r++)
        if (t->rewards[r].from_day <= day && day <= t->rewards[r].to_day)
            total += t->rewards[r].weight;
    if (!(total > 0))
        return;
    trove_rng_seed(&rng, trove_hash64(h->id, strlen(h->id), 0x726577617264u));
    u = trove_rng_uniform(&rng) * total;
    for (size_t r = 0; r < t->n_rewards; r++) {
        const trove_hunt_reward_spec *rw = &t->rewards[r];
        if (!(rw->from_day <= day && day <= rw->to_day))
            continue;
        u -= rw->weight;
        if (u < 0 || r + 1 == t->n_rewards) {
            snprintf(h->reward_id, sizeof h->reward_id, "%s", rw->id);
            snprintf(h->reward_title, sizeof h->reward_title, "%s",
                     rw->title ? rw->title : "");
            h->reward_state = TROVE_HUNT_REWARD_UNLOCKED;
            return;
        }
    }
}

int trove_hunt_advance(trove_hunt *h, const trove_hunt_template *t,
                       const trove_hunt_clock *clock,
                       const trove_hunt_event *events, size_t n,
                       int *changed)
{
    int ch = 0;
    if (h == NULL || t == NULL || (n > 0 && events == NULL) ||
        h->n_steps == 0 || h->n_steps > TROVE_HUNT_MAX_STEPS ||
        h->n_done > h->n_steps)
        return TROVE_EINVAL;
    while (h->n_done < h->n_steps) {
        trove_hunt_step *st = &h->steps[h->n_done];
        int64_t from = h->n_done > 0 ? h->steps[h->n_done - 1].done_ts
                                     : h->created_ts;
        int64_t at = step_done(h, st, from, events, n);
        if (at == 0)
            break;
        st->done_ts = at;
        h->n_done++;
        ch = 1;
    }
    if (h->n_done == h->n_steps && h->reward_state == TROVE_HUNT_REWARD_LOCKED) {
        unlock(h, t, clock);
        ch = 1;
    }
    if (changed)
        *changed = ch;
    return TROVE_OK;
}
