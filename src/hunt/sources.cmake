# hunt: treasure-hunt generation, progress and the stored form
list(APPEND TROVE_SOURCES
  src/hunt/generate.c
  src/hunt/progress.c
  src/hunt/clock.c
  src/hunt/codec.c
  src/hunt/store_side.c
)
