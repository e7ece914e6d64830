# rules tests: rule files, every rule kind, order, trace, time zones, faults
trove_add_test(test_rules unit/test_rules.c)
