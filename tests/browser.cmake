# Browser tests of the dashboard (label "browser"): node drives Debian's
# Chromium through playwright-core (installed in web/node_modules by the
# dashboard build) against a real trove serve. Screenshots of every page go
# to <build>/browser-screenshots/. Skipped (exit 77) without /usr/bin/chromium.
if(TROVE_DASHBOARD)
  add_test(NAME browser_dashboard
           COMMAND ${TROVE_NODE}
                   ${PROJECT_SOURCE_DIR}/tests/browser/run.mjs)
  set_tests_properties(browser_dashboard PROPERTIES
    LABELS "browser"
    SKIP_RETURN_CODE 77
    TIMEOUT 600
    PROCESSORS 2
    ENVIRONMENT "TROVE_BIN=$<TARGET_FILE:trove_cli>;TROVE_SOURCE_DIR=${PROJECT_SOURCE_DIR};TROVE_BROWSER_OUT=${CMAKE_BINARY_DIR}/browser-screenshots")
endif()

# The HTTP side of the same files, in C (runs in every build, with or
# without the dashboard): bytes, gzip, headers, routes, out of memory.
trove_add_test(test_static integration/test_static.c LABELS cli)
