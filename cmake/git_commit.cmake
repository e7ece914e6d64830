# Writes OUT: a C header defining TROVE_GIT_COMMIT as the short commit of
# the checkout at SRC, with "-dirty" when tracked files differ from it, or
# "unknown" outside git. Run at every build (a target without outputs), it
# rewrites OUT only when the text changes, so nothing rebuilds needlessly.
execute_process(COMMAND git describe --always --dirty --abbrev=7
                WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT commit)
  set(commit unknown)
endif()
set(text "#define TROVE_GIT_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
