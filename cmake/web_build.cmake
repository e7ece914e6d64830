# Script mode (cmake -P): install the dashboard's npm packages when needed
# and run the bundler into OUT.
#   -DWEB_DIR=<source>/web -DOUT=<build>/web/dist -DSTAMP=<file> -DNPM=<npm>
#
# node_modules lives in the source tree and is shared by every build
# directory, so the whole step runs under a file lock, and `npm ci` runs only
# when package-lock.json differs from the one last installed (its SHA-256 is
# kept in node_modules/.trove-lock.sha256). `npm ci` installs exactly the
# locked versions; nothing here reads the clock, so the bundle depends only
# on the sources and the lockfile.
file(LOCK "${WEB_DIR}/.build.lock" GUARD PROCESS TIMEOUT 900 RESULT_VARIABLE lock_rc)
if(NOT lock_rc EQUAL 0)
  message(FATAL_ERROR "dashboard: could not lock ${WEB_DIR}/.build.lock: ${lock_rc}")
endif()

file(SHA256 "${WEB_DIR}/package-lock.json" want)
set(have "")
if(EXISTS "${WEB_DIR}/node_modules/.trove-lock.sha256")
  file(READ "${WEB_DIR}/node_modules/.trove-lock.sha256" have)
endif()
if(NOT have STREQUAL want OR NOT EXISTS "${WEB_DIR}/node_modules/.bin/esbuild")
  message(STATUS "dashboard: npm ci in ${WEB_DIR}")
  execute_process(COMMAND "${NPM}" ci --no-audit --no-fund --loglevel=error
                  WORKING_DIRECTORY "${WEB_DIR}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dashboard: npm ci failed (${rc}); the npm registry must be "
            "reachable once, or configure with -DTROVE_DASHBOARD=OFF")
  endif()
  file(WRITE "${WEB_DIR}/node_modules/.trove-lock.sha256" "${want}")
endif()

execute_process(COMMAND "${CMAKE_COMMAND}" -E env "TROVE_WEB_OUT=${OUT}"
                        "${NPM}" run --silent build
                WORKING_DIRECTORY "${WEB_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dashboard: the bundler failed (${rc})")
endif()
file(TOUCH "${STAMP}")
