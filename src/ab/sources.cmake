# ab module: experiment bucketing (GrowthBook hashing) and A/B statistics
list(APPEND TROVE_SOURCES
  src/ab/bucket.c
  src/ab/stats.c
)
