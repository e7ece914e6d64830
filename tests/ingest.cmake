# ingest tests
trove_add_test(test_ingest_text unit/test_ingest_text.c)
trove_add_test(test_ingest unit/test_ingest.c LABELS cli)
trove_add_test(test_ingest_data unit/test_ingest_data.c LABELS data cli)
