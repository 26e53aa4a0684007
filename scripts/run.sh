#!/usr/bin/env bash
# The main job (README's first command). Until the national demo lands: build lienthong,
# generate a synthetic country, and validate every dataset against the shared dictionary.
set -euo pipefail
cd "$(dirname "$0")/.."
CITIZENS="${CITIZENS:-100000}"
OUT="${OUT:-demo-data}"
cargo build --release -q -p lienthong
bin=target/release/lienthong
"$bin" synth --citizens "$CITIZENS" --seed 1 --out "$OUT"
for dataset in citizen civil_status_event social_insurance health_insurance land_parcel land_owner education_enrolment; do
  echo
  # Exit 1 means "some records are invalid", which is expected of dirty synthetic data.
  "$bin" dictionary validate --dataset "$dataset" --input "$OUT/$dataset.csv" \
    --reference "civil_status_event=$OUT/civil_status_event.csv" \
    --report "$OUT/$dataset.report.json" --normalized-out "$OUT/$dataset.normalized.csv" || [ $? -eq 1 ]
done
echo
echo "reports: $OUT/*.report.json; normalised data: $OUT/*.normalized.csv; injected defects: $OUT/truth.json"
