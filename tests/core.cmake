trove_add_test(test_core unit/test_core.c)
trove_add_test(test_file unit/test_file.c)
trove_add_test(test_threads unit/test_threads.c)
