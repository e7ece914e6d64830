list(APPEND TROVE_SOURCES
  src/data/reader.c
  src/data/csr.c
  src/data/dataset.c
  src/data/dataset_files.c
  src/data/split.c
  src/data/dataset_store.c
)
