# eval and baselines tests
trove_add_test(test_metrics unit/test_metrics.c)
