# data tests: CSR, datasets, files, splits
trove_add_test(test_dataset unit/test_dataset.c)
trove_add_test(test_split unit/test_split.c)
trove_add_test(test_dataset_data unit/test_dataset_data.c LABELS data)
trove_add_test(test_dataset_store unit/test_dataset_store.c)
trove_add_test(test_split_cli unit/test_split_cli.c LABELS cli)
