# eval module: metrics, engine, bootstrap, test pairs, scorer adapter, report
list(APPEND TROVE_SOURCES
  src/eval/metrics.c
  src/eval/engine.c
  src/eval/bootstrap.c
  src/eval/pairs.c
  src/eval/scorer.c
  src/eval/report.c
)
