# The dashboard (web/) built and embedded in libtrove.
#
# TROVE_DASHBOARD=ON (default): `npm ci` (once per lockfile, into
# web/node_modules) and the esbuild bundle into <build>/web/dist, then
# cmake/embed_assets.c turns dist/ into <build>/web/static_assets.c (bytes,
# gzip variants, content types), compiled into libtrove and served by
# src/serve/static.c. Needs node and npm at build time only.
# TROVE_DASHBOARD=OFF: the table is empty and `/` answers a 404 saying so.
option(TROVE_DASHBOARD "Build the web dashboard and embed it in trove serve" ON)

set(TROVE_WEB_DIR ${PROJECT_SOURCE_DIR}/web)
set(TROVE_WEB_OUT ${CMAKE_BINARY_DIR}/web)
set(TROVE_WEB_TABLE ${TROVE_WEB_OUT}/static_assets.c)

add_executable(trove_embed_assets ${PROJECT_SOURCE_DIR}/cmake/embed_assets.c)
target_compile_options(trove_embed_assets PRIVATE ${TROVE_WARNINGS})
target_link_libraries(trove_embed_assets PRIVATE PkgConfig::ZLIB)

if(TROVE_DASHBOARD)
  find_program(TROVE_NPM npm)
  find_program(TROVE_NODE node)
  if(NOT TROVE_NPM OR NOT TROVE_NODE)
    message(FATAL_ERROR "TROVE_DASHBOARD needs node and npm (scripts/install-deps.sh "
            "installs them); or configure with -DTROVE_DASHBOARD=OFF")
  endif()
  file(GLOB_RECURSE TROVE_WEB_SOURCES CONFIGURE_DEPENDS
       ${TROVE_WEB_DIR}/src/*.ts ${TROVE_WEB_DIR}/src/*.css)
  set(TROVE_WEB_STAMP ${TROVE_WEB_OUT}/dist.stamp)
  add_custom_command(
    OUTPUT ${TROVE_WEB_STAMP}
    COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${TROVE_WEB_DIR} -DOUT=${TROVE_WEB_OUT}/dist
            -DSTAMP=${TROVE_WEB_STAMP} -DNPM=${TROVE_NPM}
            -P ${PROJECT_SOURCE_DIR}/cmake/web_build.cmake
    DEPENDS ${TROVE_WEB_SOURCES} ${TROVE_WEB_DIR}/index.html
            ${TROVE_WEB_DIR}/build.mjs ${TROVE_WEB_DIR}/package.json
            ${TROVE_WEB_DIR}/package-lock.json ${PROJECT_SOURCE_DIR}/cmake/web_build.cmake
    COMMENT "Building the dashboard (npm ci when the lockfile changed, esbuild bundle)"
    VERBATIM)
  add_custom_command(
    OUTPUT ${TROVE_WEB_TABLE}
    COMMAND trove_embed_assets ${TROVE_WEB_TABLE} ${TROVE_WEB_OUT}/dist
    DEPENDS ${TROVE_WEB_STAMP} trove_embed_assets
    COMMENT "Embedding the dashboard's assets"
    VERBATIM)
else()
  add_custom_command(
    OUTPUT ${TROVE_WEB_TABLE}
    COMMAND trove_embed_assets ${TROVE_WEB_TABLE}
    DEPENDS trove_embed_assets
    COMMENT "Dashboard not built (TROVE_DASHBOARD=OFF): empty asset table"
    VERBATIM)
endif()
target_sources(trove PRIVATE ${TROVE_WEB_TABLE})
