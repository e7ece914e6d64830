# hunt tests: templates, generation, constraints, progress, stored hunts,
# out of memory; the endpoints through the real server
trove_add_test(test_hunt unit/test_hunt.c)
trove_add_test(test_hunt_serve integration/test_hunt_serve.c LABELS cli)
