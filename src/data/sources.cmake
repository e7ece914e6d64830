list(APPEND TROVE_SOURCES
  src/data/reader.c
)
