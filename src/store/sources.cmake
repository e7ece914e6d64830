# store module: backend-neutral front end, SQLite backend and its schema
list(APPEND TROVE_SOURCES
  src/store/store.c
  src/store/store_sqlite.c
  src/store/store_hunts.c
  src/store/schema_sqlite.c
)
