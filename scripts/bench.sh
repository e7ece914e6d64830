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
if [ $# -eq 0 ]; then
    exec "$bin" all
fi
rc=0
for b in "$@"; do
    "$bin" "$b" || rc=1
done
exit $rc
