#!/bin/sh
# The demo (`make demo`), in two parts.
#   1. Ingest: a generated sample of offers, users and events read into a
#      store of its own, showing rejected rows and idempotence.
#   2. The closed loop on a fresh store: the simulated world of
#      worlds/demo.yaml (DE and CH with different tastes) for 4 cycles of
#      train (per market, markets/*.yaml) -> cycle run (test/control arms,
#      new-offer slots) -> simulate (users react to what they were shown),
#      then the last DE cycle planned through rules/DE.yaml, the A/B report
#      per market, the per-market vs pooled model
#      comparison and the targets.
# usage: scripts/demo.sh [path/to/trove]   (TROVE_DEMO_DIR: output folder,
# default ./demo-out; TROVE_DEMO_CYCLES: number of cycles, default 4)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
trove="${1:-$root/build/trove}"
case "$trove" in /*) ;; *) trove="$(pwd)/$trove" ;; esac
out="${TROVE_DEMO_DIR:-demo-out}"
cycles="${TROVE_DEMO_CYCLES:-4}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
ingest_store="$out/ingest.db"
store="$out/demo.db"
world="$root/worlds/demo.yaml"
markets="$root/markets"
models="$out/models"
rm -rf "$models"
rm -f "$ingest_store" "$ingest_store-wal" "$ingest_store-shm" "$out"/*.rejects.tsv
rm -f "$store" "$store-wal" "$store-shm" "$out"/assignments-*.csv "$out/ab-report.html"

step() { printf '\n== %s\n' "$*"; }
started=$(date +%s)

# ------------------------------------------------------------ 1. ingest
step "1. ingest: generating a sample of offers, users and events in $out"
awk -v out="$out" -f "$here/gen-sample.awk"
wc -l "$out/offers.csv" "$out/users.csv" "$out/events.csv"

step "ingesting offers, users and events into $ingest_store (3 rows are broken on purpose)"
"$trove" ingest --store "$ingest_store" --kind items --map item=offer_id --title title \
    --features category,market --numeric price --rejects "$out/offers.rejects.tsv" "$out/offers.csv"
"$trove" ingest --store "$ingest_store" --kind users --map user=user_id,market=market \
    --features age_band,loyalty --rejects "$out/users.rejects.tsv" "$out/users.csv"
"$trove" ingest --store "$ingest_store" --kind events \
    --map event_id=event_id,user=user_id,item=offer_id,type=type,ts=timestamp,market=market \
    --rejects "$out/events.rejects.tsv" "$out/events.csv"

step "rejected rows (file, line, reason, raw row)"
cat "$out/events.rejects.tsv"

step "ingesting the same events again: nothing is added"
"$trove" ingest --store "$ingest_store" --kind events \
    --map event_id=event_id,user=user_id,item=offer_id,type=type,ts=timestamp,market=market \
    --no-rejects "$out/events.csv" 2>/dev/null | grep -Ei 'events|duplicate' || true

# ------------------------------------------------------- 2. closed loop
step "2. closed loop: writing the simulated world ($world) into $store"
"$trove" simulate --world "$world" --store "$store"
"$trove" stats --store "$store" | head -12

c=1
while [ "$c" -le "$cycles" ]; do
    now=$("$trove" simulate --world "$world" --store "$store" --clock)
    step "cycle c$c (starts $(date -u -d "@$now" +%Y-%m-%d)): train -> cycle run -> simulate"
    for m in DE CH; do
        "$trove" train --store "$store" --market "$m" --markets-dir "$markets" \
            --models-dir "$models" --threads 1
        "$trove" cycle run --store "$store" --market "$m" --cycle "c$c" --now "$now" \
            --markets-dir "$markets" --export "$out/assignments-$m-c$c.csv"
    done
    "$trove" simulate --world "$world" --store "$store" --cycles 1
    c=$((c + 1))
done
end=$("$trove" simulate --world "$world" --store "$store" --clock)

step "a re-run of the last cycle is refused (exit 1), --replace gives the same assignments"
last=$((cycles))
"$trove" cycle run --store "$store" --market DE --cycle "c$last" --now "$((end - 7 * 86400))" \
    --markets-dir "$markets" || true
"$trove" cycle run --store "$store" --market DE --cycle "c$last" --now "$((end - 7 * 86400))" \
    --markets-dir "$markets" --replace --export "$out/assignments-DE-c$last.rerun.csv" >/dev/null
if cmp -s "$out/assignments-DE-c$last.csv" "$out/assignments-DE-c$last.rerun.csv"; then
    echo "identical assignments: yes ($(($(wc -l < "$out/assignments-DE-c$last.csv") - 1)) rows)"
else
    echo "identical assignments: NO"
fi
head -4 "$out/assignments-DE-c$last.csv"

step "the last DE cycle through the market's rules (rules/DE.yaml; plan only, nothing stored)"
"$trove" cycle plan --store "$store" --market DE --cycle "c$last" --now "$((end - 7 * 86400))" \
    --markets-dir "$markets" --rules "$root/rules" 2>/dev/null

step "A/B report per market (window of the last cycle ends $(date -u -d "@$end" +%Y-%m-%d))"
for m in DE CH; do
    "$trove" ab report --store "$store" --market "$m" --now "$end"
done
"$trove" ab report --store "$store" --now "$end" --report "$out/ab-report.html" >/dev/null
echo "HTML report: $out/ab-report.html"

step "per-market models vs one pooled model (one holdout; each market's model on its users' train pairs)"
"$trove" train --store "$store" --market DE --pooled --markets-dir "$markets" \
    --models-dir "$models" --threads 1 --json > "$out/train-pooled.json"
jq -r '.metrics.markets | to_entries[] | "  \(.key): pooled precision@\(.value.k) \(.value.precision), per-market \(.value.market_model.precision); NDCG pooled \(.value.ndcg), per-market \(.value.market_model.ndcg) (\(.value.test_users) test users)"' \
    "$out/train-pooled.json"
"$trove" ab report --store "$store" --now "$end" --json > "$out/ab.json"

step "targets"
pass=0; fail=0
check() {  # check <ok 0/1> <message>
    if [ "$1" = 1 ]; then pass=$((pass + 1)); echo "  [met]     $2"; else fail=$((fail + 1)); echo "  [not met] $2"; fi
}
for m in DE CH; do
    line=$(jq -r --arg m "$m" '.markets[] | select(.market == $m) | .cumulative |
        "\(.arms.test.rate) \(.arms.control.rate) \(.abs_ci[0]) \(.abs_ci[1]) \(.rel_lift)"' "$out/ab.json")
    set -- $line
    ok=$(awk -v lo="$3" 'BEGIN { print (lo > 0) ? 1 : 0 }')
    check "$ok" "$(printf '%s: test beats control: redemption rate %.2f%% vs %.2f%%, lift %+.2f points, 95%% CI [%+.2f, %+.2f] excludes 0 (relative %+.1f%%)' \
        "$m" "$(awk -v x="$1" 'BEGIN{print x*100}')" "$(awk -v x="$2" 'BEGIN{print x*100}')" \
        "$(awk -v a="$1" -v b="$2" 'BEGIN{print (a-b)*100}')" "$(awk -v x="$3" 'BEGIN{print x*100}')" \
        "$(awk -v x="$4" 'BEGIN{print x*100}')" "$(awk -v x="$5" 'BEGIN{print x*100}')")"
done
for m in DE CH; do
    line=$(jq -r --arg m "$m" '.metrics.markets[$m] | "\(.market_model.precision) \(.precision) \(.k)"' \
        "$out/train-pooled.json")
    set -- $line
    ok=$(awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? 1 : 0 }')
    check "$ok" "$(printf '%s: per-market model beats the pooled model: holdout precision@%s %.4f vs %.4f' "$m" "$3" "$1" "$2")"
done
for m in DE CH; do
    line=$(jq -r --arg m "$m" '[.markets[] | select(.market == $m) | .cycles[] |
        select(.guardrails.new_offers > 0)] |
        "\(map(.guardrails.new_offers) | add // 0) \(map(.guardrails.new_offers_shown) | add // 0)"' "$out/ab.json")
    set -- $line
    ok=$([ "$1" -gt 0 ] && [ "$1" = "$2" ] && echo 1 || echo 0)
    check "$ok" "$m: new offers shown (and impressed) in their launch cycle: $2 of $1"
done
for m in DE CH; do
    t5=$(jq -r --arg m "$m" '.markets[] | select(.market == $m) | .cumulative.guardrails.top5_share' "$out/ab.json")
    check 1 "$(printf '%s: top-5 share of assignments reported: %.1f%%' "$m" "$(awk -v x="$t5" 'BEGIN{print x*100}')")"
done
echo "  $pass met, $fail not met; demo took $(( $(date +%s) - started )) s"

printf '\nstore: %s\n' "$store"
