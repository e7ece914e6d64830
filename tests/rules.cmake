# rules tests: rule files, every rule kind, order, trace, time zones, faults
trove_add_test(test_rules unit/test_rules.c)
trove_add_test(test_rules_cli unit/test_rules_cli.c LABELS cli)
