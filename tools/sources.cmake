list(APPEND TROVE_TOOL_SOURCES
  tools/trove.c
  tools/cli.c
  tools/cmd_train.c
  tools/cmd_recommend.c
  tools/cmd_inspect.c
  tools/cmd_rules.c
  tools/cmd_version.c
  tools/cmd_ingest.c
  tools/cmd_stats.c
  tools/cmd_split.c
  tools/cmd_evaluate.c
  tools/cmd_tune.c
  tools/cmd_serve.c
  tools/cmd_models.c
  tools/cmd_ab.c
)
