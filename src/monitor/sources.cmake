# monitor module: data quality, drift (PSI) and model age of a market
list(APPEND TROVE_SOURCES
  src/monitor/drift.c
  src/monitor/monitor.c
  src/monitor/report_json.c
)
