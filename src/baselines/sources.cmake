# baselines module: the recommender interface, the baseline families and the
# adapters of the hybrid, iALS and EASE models
list(APPEND TROVE_SOURCES
  src/baselines/recommender.c
  src/baselines/baselines.c
  src/baselines/hybrid.c
  src/baselines/factor.c
  src/baselines/rp3beta.c
  src/baselines/blend.c
  src/baselines/edlae.c
)
