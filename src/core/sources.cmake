list(APPEND TROVE_SOURCES
  src/core/error.c
  src/core/alloc.c
  src/core/log.c
  src/core/rng.c
  src/core/idmap.c
  src/core/file.c
  src/core/threads.c
)
