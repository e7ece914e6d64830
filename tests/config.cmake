# config tests: market files, errors with file:line:column, hash, rules
trove_add_test(test_config unit/test_config.c)
