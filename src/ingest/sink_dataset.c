/*
 * sink_dataset.c - the in-memory destination of an ingest session: a
 * trove_dataset_builder owned by the caller.
 *
 * Only positive events become interactions: click, redemption, purchase and
 * rating, with the event's value as weight and its timestamp. Impressions
 * and returns are counted by the session but not added. User and item
 * features are added as given. Every user, item and event is new to a
 * builder (the session removes duplicates itself).
 */
#include "ingest/ingest_int.h"

#include <string.h>

typedef struct dataset_sink {
    trove_dataset_builder *b;
} dataset_sink;

static int d_feature(void *ud, int target, uint32_t index, const char *ext_id,
                     const char *name, int kind, double value, trove_error *err)
{
    dataset_sink *k = ud;
    (void)index;
    (void)kind;
    if (target == TROVE_FEATURE_USER)
        return trove_dataset_builder_add_user_feature(k->b, ext_id, strlen(ext_id), name,
                                                      strlen(name), (float)value, err);
    return trove_dataset_builder_add_item_feature(k->b, ext_id, strlen(ext_id), name,
                                                  strlen(name), (float)value, err);
}

static int d_event(void *ud, const trove_ingest_event *ev, int *inserted, trove_error *err)
{
    dataset_sink *k = ud;
    *inserted = 1;
    if (ev->type != TROVE_EVENT_CLICK && ev->type != TROVE_EVENT_REDEMPTION &&
        ev->type != TROVE_EVENT_PURCHASE && ev->type != TROVE_EVENT_RATING)
        return TROVE_OK;
    return trove_dataset_builder_add(k->b, ev->user_ext, strlen(ev->user_ext), ev->item_ext,
                                     strlen(ev->item_ext), (float)ev->value, ev->ts, err);
}

static void d_close(void *ud)
{
    trove_free(ud);
}

int trove_ingest_new_dataset(trove_dataset_builder *builder, const trove_ingest_options *opts,
                             trove_ingest **out, trove_error *err)
{
    dataset_sink *k;
    trove_ingest_sink sink;

    k = trove_calloc(1, sizeof *k);
    if (k == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    k->b = builder;
    memset(&sink, 0, sizeof sink);
    sink.ud = k;
    sink.feature = d_feature;
    sink.event = d_event;
    sink.close = d_close;
    return trove_ingest_new(&sink, opts, out, err);
}
