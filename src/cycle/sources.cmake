# cycle module: assignment cycles (planning and the store-backed runner)
list(APPEND TROVE_SOURCES
  src/cycle/plan.c
  src/cycle/run.c
  src/cycle/rules_inputs.c
)
