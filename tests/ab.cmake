# ab tests: GrowthBook hash vectors and bucketing, A/B statistics, the
# registry/cycle store API, and the models / ab commands
trove_add_test(test_ab unit/test_ab.c)
trove_add_test(test_ab_cli unit/test_ab_cli.c LABELS cli)
