# store tests
trove_add_test(test_store unit/test_store.c)
trove_add_test(test_store_cli unit/test_store_cli.c LABELS cli)
trove_add_test(test_store_registry unit/test_store_registry.c)
