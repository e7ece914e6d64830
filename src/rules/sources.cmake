# rules module: compiled business rules applied to scored item lists
list(APPEND TROVE_SOURCES
  src/rules/tz.c
  src/rules/compile.c
  src/rules/apply.c
)
