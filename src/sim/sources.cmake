# sim module: the closed-loop offer world simulator
list(APPEND TROVE_SOURCES
  src/sim/sim.c
)
