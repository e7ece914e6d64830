# baselines module: the recommender interface, the baseline families and the
# hybrid model adapter
list(APPEND TROVE_SOURCES
  src/baselines/recommender.c
  src/baselines/baselines.c
  src/baselines/hybrid.c
)
