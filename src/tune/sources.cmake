# tune module: hyperparameter search over the recommender families
list(APPEND TROVE_SOURCES
  src/tune/tune.c
)
