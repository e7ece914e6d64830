# cycle tests: the planner, the store-backed cycle runner, the simulator and
# world files (library), and the closed loop through the CLI
trove_add_test(test_cycle unit/test_cycle.c)
trove_add_test(test_cycle_cli unit/test_cycle_cli.c LABELS cli)
trove_add_test(test_cycle_store unit/test_cycle_store.c)
trove_add_test(test_cycle_rules unit/test_cycle_rules.c)
