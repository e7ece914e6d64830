# serve tests: the real HTTP server on 127.0.0.1, every endpoint and bad input
trove_add_test(test_serve integration/test_serve.c LABELS cli)
trove_add_test(test_dashboard integration/test_dashboard.c LABELS cli)
trove_add_test(test_serve_offers integration/test_serve_offers.c LABELS cli)
trove_add_test(test_serve_score unit/test_serve_score.c)
trove_add_test(test_serve_rank integration/test_serve_rank.c LABELS cli)
# the same rankings through the int16 (AVX-512, AVX2) and scalar scans
foreach(variant avx512 avx2 scalar)
  add_test(NAME test_serve_rank_${variant} COMMAND test_serve_rank)
  set_tests_properties(test_serve_rank_${variant} PROPERTIES
    SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS cli
    ENVIRONMENT "TROVE_KERNELS=${variant};CMOCKA_MESSAGE_OUTPUT=stdout")
endforeach()
# which families are served: iALS as a hybrid model, others refused by name
trove_add_test(test_serve_families integration/test_serve_families.c LABELS cli)
