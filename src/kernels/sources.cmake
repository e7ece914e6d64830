# kernels module: scalar reference always; AVX2+FMA and AVX-512 variants
# (compiled with their own -m flags by the root CMakeLists, chosen at run time).
list(APPEND TROVE_SOURCES
  src/kernels/dispatch.c
  src/kernels/kernels_scalar.c
  src/kernels/topk.c
)
set(TROVE_KERNEL_SOURCES_AVX2)
set(TROVE_KERNEL_SOURCES_AVX512)
if(TROVE_SIMD AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  list(APPEND TROVE_SOURCES src/kernels/kernels_avx2.c src/kernels/kernels_avx512.c)
  list(APPEND TROVE_KERNEL_SOURCES_AVX2 src/kernels/kernels_avx2.c)
  list(APPEND TROVE_KERNEL_SOURCES_AVX512 src/kernels/kernels_avx512.c)
  set_source_files_properties(${PROJECT_SOURCE_DIR}/src/kernels/dispatch.c PROPERTIES
    COMPILE_DEFINITIONS "TROVE_HAVE_AVX2_KERNELS;TROVE_HAVE_AVX512_KERNELS")
endif()
