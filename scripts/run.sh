#!/usr/bin/env bash
# The main job (README's first command): build lienthong and run the national demo on the
# embedded default (SQLite, nothing to install). Extra arguments go to `lienthong demo`,
# e.g. `bash scripts/run.sh --citizens 100000 --fresh`. Ctrl-C stops; running again resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p lienthong
exec target/release/lienthong demo "$@"
