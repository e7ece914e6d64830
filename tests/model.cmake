# model tests
trove_add_test(test_kernels unit/test_kernels.c)
trove_add_test(test_model unit/test_model.c)
trove_add_test(test_model_file unit/test_model_file.c)
trove_add_test(test_model_cli unit/test_model_cli.c LABELS cli)
trove_add_test(test_model_factors unit/test_model_factors.c)
