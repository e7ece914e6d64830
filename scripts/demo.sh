#!/bin/sh
# The demo pipeline (`make demo`): generate a sample world, ingest it into a
# fresh SQLite store, show rejects and idempotence, print the store summary.
# usage: scripts/demo.sh [path/to/trove]   (TROVE_DEMO_DIR: output folder,
# default ./demo-out)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
trove="${1:-$here/../build/trove}"
out="${TROVE_DEMO_DIR:-demo-out}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
store="$out/demo.db"
rm -f "$store" "$store-wal" "$store-shm" "$out"/*.rejects.tsv

step() { printf '\n== %s\n' "$*"; }

step "generating the sample world in $out (2 markets, 240 offers, 1200 users)"
awk -v out="$out" -f "$here/gen-sample.awk"
wc -l "$out/offers.csv" "$out/users.csv" "$out/events.csv"

step "ingesting offers (category and price band as features)"
"$trove" ingest --store "$store" --kind items --map item=offer_id --title title \
    --features category,market --numeric price --rejects "$out/offers.rejects.tsv" "$out/offers.csv"

step "ingesting users (home market, age band and loyalty tier as features)"
"$trove" ingest --store "$store" --kind users --map user=user_id,market=market \
    --features age_band,loyalty --rejects "$out/users.rejects.tsv" "$out/users.csv"

step "ingesting events (3 rows are broken on purpose)"
"$trove" ingest --store "$store" --kind events \
    --map event_id=event_id,user=user_id,item=offer_id,type=type,ts=timestamp,market=market \
    --rejects "$out/events.rejects.tsv" "$out/events.csv"

step "rejected rows (file, line, reason, raw row)"
cat "$out/events.rejects.tsv"

step "ingesting the same events again: nothing is added"
"$trove" ingest --store "$store" --kind events \
    --map event_id=event_id,user=user_id,item=offer_id,type=type,ts=timestamp,market=market \
    --no-rejects "$out/events.csv" 2>/dev/null | grep -Ei 'events|duplicate' || true

step "store summary"
"$trove" stats --store "$store"

printf '\nstore: %s\n' "$store"
