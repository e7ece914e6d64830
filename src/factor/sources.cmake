# factor module: iALS and EASE (least-squares / closed-form models) and the
# one adapter to OpenBLAS + LAPACKE (linalg.c).
list(APPEND TROVE_SOURCES
  src/factor/common.c
  src/factor/linalg.c
  src/factor/ials.c
  src/factor/ease.c
)
# The per-row solvers multiply and add in the same expression on purpose:
# allow FMA contraction there (C11 mode turns it off by default).
set_source_files_properties(${PROJECT_SOURCE_DIR}/src/factor/ials.c
                            ${PROJECT_SOURCE_DIR}/src/factor/ease.c
                            PROPERTIES COMPILE_OPTIONS "-ffp-contract=fast")
