# model module: the hybrid factorization model
list(APPEND TROVE_SOURCES
  src/model/hybrid.c
  src/model/train.c
  src/model/predict.c
  src/model/model_file.c
)
