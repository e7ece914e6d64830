# monitor tests: PSI and quality figures on constructed stores, the CLI, and
# GET /v1/monitoring through the real server
trove_add_test(test_monitor unit/test_monitor.c LABELS cli)
trove_add_test(test_monitor_serve integration/test_monitor_serve.c LABELS cli)
