# serve: the HTTP server (libmicrohttpd + jansson)
list(APPEND TROVE_SOURCES
  src/serve/server.c
  src/serve/snapshot.c
  src/serve/metrics.c
)
