# factor module tests: iALS and EASE
trove_add_test(test_ials unit/test_ials.c)
trove_add_test(test_ease unit/test_ease.c)
