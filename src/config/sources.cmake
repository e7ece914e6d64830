# config module: market configuration files (the one adapter to libyaml)
list(APPEND TROVE_SOURCES
  src/config/config.c
  src/config/rules_yaml.c
  src/config/tuned.c
  src/config/yaml_util.c
)
list(APPEND TROVE_SOURCES
  src/config/world_yaml.c
  src/config/hunt_yaml.c
)
