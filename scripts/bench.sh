#!/bin/sh
# Run every benchmark of trove-bench (reads ../shared/data or $TROVE_DATA).
# usage: scripts/bench.sh [BUILD_DIR] [benchmark...]
set -eu
build="${1:-build}"
[ $# -gt 0 ] && shift
bin="$build/bench/trove-bench"
if [ ! -x "$bin" ]; then
    echo "bench: $bin not built (run 'make')" >&2
    exit 1
fi
# "pageload": page loads of the dashboard in headless Chromium (node; see
# bench/dashboard_load.mjs); run after the others when no benchmark is named.
[ $# -eq 0 ] && set -- all pageload
rc=0
for b in "$@"; do
    if [ "$b" = pageload ]; then
        node "$(dirname "$0")/../bench/dashboard_load.mjs" "$build" || rc=1
    else
        "$bin" "$b" || rc=1
    fi
done
exit $rc
