trove_add_test(test_core unit/test_core.c)
