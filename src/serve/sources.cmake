# serve: the HTTP server (libmicrohttpd + jansson)
list(APPEND TROVE_SOURCES
  src/serve/server.c
  src/serve/snapshot.c
  src/serve/score.c
  src/serve/metrics.c
  src/serve/hunts.c
  src/serve/monitoring.c
  src/serve/dashboard_api.c
  src/serve/dashboard_items.c
  src/serve/static.c
)
