# ingest module: splitters, text parsing, session engine, generic mapping,
# presets and the store / dataset destinations
list(APPEND TROVE_SOURCES
  src/ingest/csv.c
  src/ingest/text.c
  src/ingest/ingest.c
  src/ingest/generic.c
  src/ingest/preset_movielens.c
  src/ingest/preset_retail.c
  src/ingest/sink_store.c
  src/ingest/sink_dataset.c
)
