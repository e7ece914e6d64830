# serve tests: the real HTTP server on 127.0.0.1, every endpoint and bad input
trove_add_test(test_serve integration/test_serve.c LABELS cli)
trove_add_test(test_dashboard integration/test_dashboard.c LABELS cli)
trove_add_test(test_serve_offers integration/test_serve_offers.c LABELS cli)
trove_add_test(test_serve_score unit/test_serve_score.c)
