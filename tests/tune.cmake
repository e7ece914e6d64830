# hyperparameter search, tuned-settings files, rp3beta and blend
trove_add_test(test_tune unit/test_tune.c)
trove_add_test(test_tune_cli unit/test_tune_cli.c LABELS cli)
