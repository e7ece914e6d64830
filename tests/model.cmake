# model tests
trove_add_test(test_kernels unit/test_kernels.c)
