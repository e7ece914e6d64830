# kernels module: files are added here as the module grows
set(TROVE_KERNEL_SOURCES_AVX2)
set(TROVE_KERNEL_SOURCES_AVX512)
