# benchmark sources (relative to bench/)
list(APPEND TROVE_BENCH_SOURCES
  bench_main.c
  bench_rules.c
  bench_hunt.c
  bench_tune.c
  bench_serve.c
  bench_train.c
  bench_ingest.c
  bench_dataset.c
  bench_store.c
  bench_factor.c
  bench_eval.c
  bench_ab.c
  bench_cycle.c
  bench_dashboard.c
  bench_monitor.c
)
