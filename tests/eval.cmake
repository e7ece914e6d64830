# eval and baselines tests
trove_add_test(test_metrics unit/test_metrics.c)
trove_add_test(test_eval_engine unit/test_eval_engine.c)
trove_add_test(test_baselines unit/test_baselines.c)
trove_add_test(test_eval_data unit/test_eval_data.c LABELS data)
trove_add_test(test_eval_cli unit/test_eval_cli.c LABELS cli)
